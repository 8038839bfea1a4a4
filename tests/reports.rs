//! Survey reports on SQLite and PostgreSQL: six known calls in four units, two
//! months and one campaign give exact rates and distributions; corrections
//! count as corrected (latest revision); filters and unit scope leave other
//! units out; the CSV parses back and the monthly XLSX opens with its sheets.

#[path = "common/pg.rs"]
mod pg;
#[path = "common/both_backends.rs"]
#[macro_use]
mod both_backends;
#[path = "common/survey_calls.rs"]
mod survey_calls;

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use carecall::report::{
    self, Dimension, FeedbackKind, Month, ReportFilter, ReportTable, SHEETS, Stats,
};
use carecall::store::{CallId, Store};
use chrono::{DateTime, TimeZone, Utc};
use survey_calls::{A, call, campaign_with_targets, dossier, unit};

/// 2026-10-10 09:00 in Đồng Tháp (UTC+7) plus `minutes`.
fn oct(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 10, 2, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

/// 2026-11-01 00:30 in Đồng Tháp: still October 31 in UTC.
fn nov_first_local() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 31, 17, 30, 0).unwrap()
}

/// The fixture's calls, by letter.
struct Calls {
    a: CallId,
    b: CallId,
    c: CallId,
}

/// Units: province P ⊃ district D1 ⊃ commune C1, and district D2.
/// A (C1, đất đai, campaign): satisfied, Q2 staff, Q3 spoken, Q4 9 corrected to 7.
/// B (D1, hộ tịch, campaign): not satisfied, Q2 fast, Q4 4, Q5 typed by an operator.
/// C (D2, đất đai): Q1 2 corrected to 1, Q3 typed, Q4 "10".
/// D (D2, đất đai): no answer. F (C1, đất đai): declined (consent only).
/// E (P, hộ tịch): 00:30 on 1 November local time; Q1 other (spoken), Q4 8.
async fn fixture(store: &Store) -> Calls {
    for u in [
        unit("P", "province", None),
        unit("D1", "district", Some("P")),
        unit("C1", "commune", Some("D1")),
        unit("D2", "district", Some("P")),
    ] {
        store.upsert_unit(&u).await.unwrap();
    }
    for (code, u, field) in [
        ("HS-1", "C1", "dat-dai"),
        ("HS-2", "D1", "ho-tich"),
        ("HS-3", "D2", "dat-dai"),
        ("HS-4", "P", "ho-tich"),
    ] {
        store
            .upsert_dossier(&dossier(code, u, field))
            .await
            .unwrap();
    }
    use A::*;
    let a = call(
        store,
        "HS-1",
        oct(0),
        "completed",
        &[
            V("consent", "1"),
            V("q1", "1"),
            V("q2", "2"),
            Clip("q3"),
            V("q4", "9"),
            Skip("q5"),
            V("q4", "7"),
        ],
    )
    .await;
    let b = call(
        store,
        "HS-2",
        oct(10),
        "completed",
        &[
            V("consent", "1"),
            V("q1", "2"),
            V("q2", "4"),
            Skip("q3"),
            V("q4", "4"),
            V("q5", "Cần thêm chỗ ngồi"),
        ],
    )
    .await;
    let c = call(
        store,
        "HS-3",
        oct(20),
        "completed",
        &[
            V("consent", "1"),
            V("q1", "2"),
            V("q3", "Chờ lâu"),
            V("q4", "10"),
            V("q1", "1"),
        ],
    )
    .await;
    call(store, "HS-3", oct(30), "no_answer", &[]).await;
    call(store, "HS-1", oct(40), "declined", &[V("consent", "2")]).await;
    call(
        store,
        "HS-4",
        nov_first_local(),
        "completed",
        &[V("q1", "3"), Clip("q1_other"), V("q4", "8")],
    )
    .await;

    let campaign = campaign_with_targets(store, &[("HS-1", "C1"), ("HS-2", "D1")]).await;
    for t in store.campaign_targets(&campaign).await.unwrap() {
        let call = if t.dossier_code == "HS-1" { &a } else { &b };
        store.link_call(call, &campaign, &t.id).await.unwrap();
    }
    Calls { a, b, c }
}

fn row<'t>(t: &'t ReportTable, key: Option<&str>) -> &'t Stats {
    &t.rows
        .iter()
        .find(|r| r.key.as_deref() == key)
        .unwrap_or_else(|| panic!("no row {key:?} in {:?}", t.rows))
        .stats
}

async fn total(store: &Store, f: ReportFilter) -> Stats {
    let t = report::table(store, &f, Dimension::Total).await.unwrap();
    assert_eq!(t.rows.len(), 1);
    t.total.stats
}

mod cases {
    use super::*;

    pub async fn totals_are_exact(store: &Store, _url: &str) {
        fixture(store).await;
        let t = report::table(store, &ReportFilter::default(), Dimension::Total)
            .await
            .unwrap();
        let s = t.total.stats;
        assert_eq!((s.dialled, s.answered, s.surveyed), (6, 5, 4));
        // C's Q1 was corrected from 2 to 1: the correction counts.
        assert_eq!(s.q1, [2, 1, 1]);
        assert_eq!(s.q2, [0, 1, 0, 1, 0]);
        // A's Q4 was corrected from 9 to 7.
        assert_eq!(s.q4, [0, 0, 0, 1, 0, 0, 1, 1, 0, 1]);
        assert_eq!((s.complaints, s.suggestions), (2, 1));
        assert_eq!(t.total.rates.satisfaction, Some(0.5));
        assert_eq!(t.total.rates.response, Some(5.0 / 6.0));
        assert_eq!(t.total.rates.score_average, Some(7.25));
        assert_eq!(t.rows[0].stats, s);
    }

    pub async fn groups_split_the_calls(store: &Store, _url: &str) {
        fixture(store).await;
        let all = ReportFilter::default();
        let by_unit = report::table(store, &all, Dimension::Unit).await.unwrap();
        let keys: Vec<_> = by_unit.rows.iter().map(|r| r.key.as_deref()).collect();
        assert_eq!(keys, [Some("C1"), Some("D1"), Some("D2"), Some("P")]);
        assert_eq!(by_unit.rows[0].label, "Đơn vị C1");
        assert_eq!(row(&by_unit, Some("D2")).dialled, 2);
        assert_eq!(row(&by_unit, Some("D2")).answered, 1);
        assert_eq!(by_unit.total.stats.dialled, 6);

        let by_level = report::table(store, &all, Dimension::Level).await.unwrap();
        assert_eq!(row(&by_level, Some("commune")).dialled, 2);
        assert_eq!(row(&by_level, Some("district")).dialled, 3);
        assert_eq!(row(&by_level, Some("province")).q1, [0, 0, 1]);

        let by_field = report::table(store, &all, Dimension::Field).await.unwrap();
        assert_eq!(row(&by_field, Some("dat-dai")).q1, [2, 0, 0]);
        assert_eq!(row(&by_field, Some("ho-tich")).q1, [0, 1, 1]);

        // E started at 00:30 on 1 November in Đồng Tháp (still 31 October UTC).
        let by_month = report::table(store, &all, Dimension::Month).await.unwrap();
        let keys: Vec<_> = by_month.rows.iter().map(|r| r.key.as_deref()).collect();
        assert_eq!(keys, [Some("2026-10"), Some("2026-11")]);
        assert_eq!(row(&by_month, Some("2026-11")).dialled, 1);
        assert_eq!(by_month.rows[1].label, "Tháng 11/2026");

        let by_campaign = report::table(store, &all, Dimension::Campaign)
            .await
            .unwrap();
        assert_eq!(row(&by_campaign, None).dialled, 4);
        let camp = by_campaign.rows.iter().find(|r| r.key.is_some()).unwrap();
        assert_eq!(camp.label, "Khảo sát tháng 10");
        assert_eq!(camp.stats.q1, [1, 1, 0]);
    }

    pub async fn filters_and_scope(store: &Store, _url: &str) {
        fixture(store).await;
        let f = |g: fn(&mut ReportFilter)| {
            let mut f = ReportFilter::default();
            g(&mut f);
            f
        };
        // A district supervisor of D2 sees only D2's calls.
        let d2 = total(store, ReportFilter::default().restrict_to(&["D2".into()])).await;
        assert_eq!((d2.dialled, d2.q1), (2, [1, 0, 0]));
        // D1 with its commune.
        let units = store.units().await.unwrap();
        let scope = report::with_descendants(&units, "D1");
        let d1 = total(store, ReportFilter::default().restrict_to(&scope)).await;
        assert_eq!((d1.dialled, d1.q1), (3, [1, 1, 0]));
        // Asking for a unit outside the scope gives nothing.
        let outside = f(|f| f.units = Some(vec!["P".into()])).restrict_to(&scope);
        assert_eq!(total(store, outside).await, Stats::default());

        assert_eq!(
            total(store, f(|f| f.level = Some("district".into())))
                .await
                .dialled,
            3
        );
        assert_eq!(
            total(store, f(|f| f.field = Some("ho-tich".into())))
                .await
                .dialled,
            2
        );
        let no_answer = total(store, f(|f| f.disposition = Some("no_answer".into()))).await;
        assert_eq!((no_answer.dialled, no_answer.answered), (1, 0));
        let sat = total(store, f(|f| f.satisfied = Some(true))).await;
        assert_eq!((sat.dialled, sat.q1), (2, [2, 0, 0]));
        let unsat = total(store, f(|f| f.satisfied = Some(false))).await;
        assert_eq!(unsat.q1, [0, 1, 1]);
        let high = total(store, f(|f| f.score_min = Some(8))).await;
        assert_eq!(high.q4, [0, 0, 0, 0, 0, 0, 0, 1, 0, 1]);
        let low = total(store, f(|f| f.score_max = Some(7))).await;
        assert_eq!(low.q4, [0, 0, 0, 1, 0, 0, 1, 0, 0, 0]);
        assert_eq!(
            total(store, f(|f| f.has_complaint = Some(true)))
                .await
                .dialled,
            2
        );
        assert_eq!(
            total(store, f(|f| f.has_complaint = Some(false)))
                .await
                .dialled,
            4
        );
        let (from, to) = Month::parse("2026-11").unwrap().period();
        let nov = total(
            store,
            ReportFilter {
                from: Some(from),
                to: Some(to),
                ..Default::default()
            },
        )
        .await;
        assert_eq!((nov.dialled, nov.q1), (1, [0, 0, 1]));
        let bad = f(|f| f.score_min = Some(11));
        assert!(report::table(store, &bad, Dimension::Total).await.is_err());
    }

    pub async fn feedback_lists_complaints_and_suggestions(store: &Store, _url: &str) {
        let calls = fixture(store).await;
        let all = report::feedback(store, &ReportFilter::default(), None)
            .await
            .unwrap();
        let got: Vec<_> = all.iter().map(|f| (&f.call_id, f.kind)).collect();
        assert_eq!(
            got,
            [
                (&calls.a.0, FeedbackKind::Complaint),
                (&calls.b.0, FeedbackKind::Suggestion),
                (&calls.c.0, FeedbackKind::Complaint),
            ]
        );
        assert_eq!(all[0].clip_ms, Some(4500));
        assert!(all[0].clip_path.as_deref().unwrap().ends_with("-q3.wav"));
        assert_eq!(all[0].text, None);
        assert_eq!(all[0].unit_code.as_deref(), Some("C1"));
        assert_eq!(all[1].text.as_deref(), Some("Cần thêm chỗ ngồi"));
        assert_eq!(all[2].dossier_code.as_deref(), Some("HS-3"));

        let d2 = ReportFilter::default().restrict_to(&["D2".into()]);
        let only_c = report::feedback(store, &d2, None).await.unwrap();
        assert_eq!(only_c.len(), 1);
        assert_eq!(only_c[0].text.as_deref(), Some("Chờ lâu"));
        let unhappy = ReportFilter {
            satisfied: Some(false),
            ..Default::default()
        };
        let only_b = report::feedback(store, &unhappy, None).await.unwrap();
        assert_eq!(only_b.len(), 1);
        assert_eq!(only_b[0].call_id, calls.b.0);
        assert_eq!(
            report::feedback(store, &ReportFilter::default(), Some(2))
                .await
                .unwrap()
                .len(),
            2
        );
    }

    pub async fn exports_read_back(store: &Store, _url: &str) {
        fixture(store).await;
        let t = report::table(store, &ReportFilter::default(), Dimension::Unit)
            .await
            .unwrap();
        let bytes = report::csv_table(&t).unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        let text = text
            .strip_prefix('\u{feff}')
            .expect("CSV starts with a BOM");
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let h = r.headers().unwrap().clone();
        let col = |name: &str| h.iter().position(|x| x == name).unwrap();
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 5, "four units and the total");
        let d1 = rows.iter().find(|r| &r[0] == "D1").unwrap();
        assert_eq!(&d1[1], "Đơn vị D1");
        assert_eq!(&d1[col("Tỉ lệ hài lòng (%)")], "0.00");
        assert_eq!(&d1[col("Điểm trung bình (câu 4)")], "4.00");
        let total = rows.last().unwrap();
        assert_eq!(&total[1], "Tổng cộng");
        assert_eq!(&total[col("Số cuộc gọi")], "6");
        assert_eq!(&total[col("Tỉ lệ hài lòng (%)")], "50.00");

        let settings =
            report::CoverageSettings::new(&carecall::questionnaire::Questionnaire::shipped(), 30);
        let month = report::monthly_report(
            store,
            Month::parse("2026-10").unwrap(),
            &ReportFilter::default(),
            &settings,
        )
        .await
        .unwrap();
        let bytes = report::monthly_workbook(&month).unwrap();
        let mut book = Xlsx::new(Cursor::new(bytes)).unwrap();
        assert_eq!(book.sheet_names(), SHEETS.map(String::from).to_vec());
        let sum = book.worksheet_range("Tổng hợp").unwrap();
        let heads: Vec<String> = sum
            .rows()
            .next()
            .unwrap()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let at = |name: &str| heads.iter().position(|h| h == name).unwrap();
        let first = sum.rows().nth(1).unwrap();
        // October only: E belongs to November on the local calendar.
        assert_eq!(first[at("Số cuộc gọi")], Data::Float(5.0));
        assert_eq!(first[at("Câu 1: Hài lòng")], Data::Float(2.0));
        assert_eq!(first[at("Tỉ lệ hài lòng (%)")], Data::Float(2.0 / 3.0));
        let units = book.worksheet_range("Theo đơn vị").unwrap();
        assert_eq!(units.height(), 1 + 3 + 1, "header, C1 D1 D2, total");
        let levels = book.worksheet_range("Theo cấp").unwrap();
        assert_eq!(levels.get((1, 1)), Some(&Data::String("Cấp xã".into())));
        let fb = book.worksheet_range("Góp ý").unwrap();
        assert_eq!(fb.height(), 1 + 3);
        assert_eq!(
            fb.get((2, 6)),
            Some(&Data::String("Cần thêm chỗ ngồi".into()))
        );
    }
}

both_backends!(
    totals_are_exact,
    groups_split_the_calls,
    filters_and_scope,
    feedback_lists_complaints_and_suggestions,
    exports_read_back,
);
