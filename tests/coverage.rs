//! Reports that count dossiers, on SQLite and PostgreSQL: the frame (returned
//! in the period) → sampled → reached → complete, RR1, a dossier with two
//! calls' responses counted once, and a non-proportional sample whose
//! district and province figures are weighted by commune, with hand-computed
//! expected values and Wilson intervals.

#[path = "common/pg.rs"]
mod pg;
#[path = "common/both_backends.rs"]
#[macro_use]
mod both_backends;
#[path = "common/survey_calls.rs"]
mod survey_calls;

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use carecall::questionnaire::Questionnaire;
use carecall::report::{
    self, CoverageReport, CoverageRow, CoverageSettings, Dimension, Month, ReportFilter,
};
use carecall::store::{Dossier, Store, response_status};
use chrono::{DateTime, TimeZone, Utc};
use survey_calls::{A, call, campaign_with_targets, dossier, respond, unit};

/// 2026-10-05 09:00 in Đồng Tháp plus `minutes`.
fn oct(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 5, 2, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

fn returned(code: &str, unit: &str, at: DateTime<Utc>) -> Dossier {
    Dossier {
        returned_at: Some(at),
        ..dossier(code, unit, if unit == "C1" { "ho-tich" } else { "dat-dai" })
    }
}

/// A completed call on `code` with a complete response: Q1 `q1`, Q4 `q4`.
async fn complete(store: &Store, code: &str, minute: i64, q1: &'static str, q4: &'static str) {
    use A::V;
    let id = call(store, code, oct(minute), "completed", &[]).await;
    let r = respond(store, &id, code, oct(minute), &[V("q1", q1), V("q4", q4)]).await;
    store
        .set_response_status(&r, response_status::COMPLETED)
        .await
        .unwrap();
}

/// Province P ⊃ district D ⊃ communes C1 (20 dossiers returned in October)
/// and C2 (5). Quotas over-sample C2: 4 complete interviews in each.
///
/// C1: C1-00 answered twice — a partial response ("not satisfied", hung up)
/// and then a complete one ("satisfied", 9) — C1-01..03 satisfied 8,
/// satisfied 10, not satisfied 5; C1-04 no answer; C1-05 drawn, never called.
/// Sample: C1-00..05; attempts 2 + 3 + 1 = 6; reached 4; complete 4; 3/4
/// satisfied; mean score (9 + 8 + 10 + 5) / 4 = 8.
///
/// C2: C2-0..3 satisfied 6, then not satisfied 4, 5, 5; C2-4 not drawn;
/// C2-9 returned in November, called and satisfied, outside the frame.
/// Sample 4, attempts 4, complete 4, 1/4 satisfied, mean 5.
async fn fixture(store: &Store) {
    for u in [
        unit("P", "province", None),
        unit("D", "district", Some("P")),
        unit("C1", "commune", Some("D")),
        unit("C2", "commune", Some("D")),
    ] {
        store.upsert_unit(&u).await.unwrap();
    }
    for i in 0..20 {
        let d = returned(&format!("C1-{i:02}"), "C1", oct(-60 * 24));
        store.upsert_dossier(&d).await.unwrap();
    }
    for i in 0..5 {
        let d = returned(&format!("C2-{i}"), "C2", oct(-60 * 24));
        store.upsert_dossier(&d).await.unwrap();
    }
    let november = Utc.with_ymd_and_hms(2026, 11, 2, 2, 0, 0).unwrap();
    store
        .upsert_dossier(&returned("C2-9", "C2", november))
        .await
        .unwrap();
    let drawn: Vec<(String, &str)> = (0..6)
        .map(|i| (format!("C1-{i:02}"), "C1"))
        .chain((0..4).map(|i| (format!("C2-{i}"), "C2")))
        .collect();
    let drawn: Vec<(&str, &str)> = drawn.iter().map(|(d, u)| (d.as_str(), *u)).collect();
    campaign_with_targets(store, &drawn).await;

    // C1-00: a partial response, then a complete one on a second call.
    let first = call(store, "C1-00", oct(0), "answered", &[]).await;
    let r = respond(store, &first, "C1-00", oct(0), &[A::V("q1", "2")]).await;
    store
        .set_response_status(&r, response_status::PARTIAL)
        .await
        .unwrap();
    complete(store, "C1-00", 60, "1", "9").await;
    complete(store, "C1-01", 70, "1", "8").await;
    complete(store, "C1-02", 80, "1", "10").await;
    complete(store, "C1-03", 90, "2", "5").await;
    call(store, "C1-04", oct(100), "no_answer", &[]).await;
    for (i, (q1, q4)) in [("1", "6"), ("2", "4"), ("2", "5"), ("2", "5")]
        .into_iter()
        .enumerate()
    {
        complete(store, &format!("C2-{i}"), 200 + i as i64, q1, q4).await;
    }
    complete(store, "C2-9", 300, "1", "10").await;
}

fn october() -> ReportFilter {
    let (from, to) = Month::parse("2026-10").unwrap().period();
    ReportFilter {
        from: Some(from),
        to: Some(to),
        ..Default::default()
    }
}

fn settings(min_responses: u64) -> CoverageSettings {
    CoverageSettings::new(&Questionnaire::shipped(), min_responses)
}

fn row<'r>(r: &'r CoverageReport, key: &str) -> &'r CoverageRow {
    r.rows
        .iter()
        .find(|x| x.key.as_deref() == Some(key))
        .unwrap_or_else(|| panic!("no row {key} in {:?}", r.rows))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-4
}

mod cases {
    use super::*;

    pub async fn a_dossier_with_two_responses_counts_once(store: &Store, _url: &str) {
        fixture(store).await;
        let r = report::coverage(store, &october(), Dimension::Unit, &settings(30))
            .await
            .unwrap();
        let c1 = row(&r, "C1");
        let counts = c1.counts;
        assert_eq!(
            (
                counts.frame,
                counts.sampled,
                counts.attempts,
                counts.reached
            ),
            (20, 6, 6, 4)
        );
        assert_eq!((counts.responded, counts.complete), (4, 4));
        // C1-00 counts once, with its complete response (satisfied, 9).
        assert_eq!(c1.satisfaction.n, 4);
        assert_eq!(c1.satisfaction.value, Some(0.75));
        assert_eq!(c1.score.n, 4);
        assert_eq!(c1.score.value, Some(8.0));
        // RR1 = 4 complete / 6 sampled.
        assert_eq!(c1.response_rate.value, Some(4.0 / 6.0));
        assert_eq!(c1.response_rate.n, 6);
        // C2-9 was returned in November: outside October's frame.
        let c2 = row(&r, "C2");
        assert_eq!(
            (c2.counts.frame, c2.counts.sampled, c2.counts.complete),
            (5, 4, 4)
        );
        assert_eq!(c2.satisfaction.value, Some(0.25));
        // The same holds grouped by level and in total.
        let by_level = report::coverage(store, &october(), Dimension::Level, &settings(30))
            .await
            .unwrap();
        let communes = row(&by_level, "commune");
        assert_eq!(communes.counts.complete, 8);
        assert_eq!(communes.satisfaction.n, 8);
        assert_eq!(by_level.total.counts.attempts, 10);
    }

    /// District and province = Σ W_h p_h with W = N_h / N: (20·0.75 +
    /// 5·0.25) / 25 = 0.65, not the pooled 4/8; Wilson on n_eff = 1 /
    /// (0.8²/4 + 0.2²/4) = 5.8824 gives [0.28515, 0.89633]. Scores: 0.8·8 +
    /// 0.2·5 = 7.4, not the pooled 6.5.
    pub async fn district_and_province_are_weighted_by_commune(store: &Store, _url: &str) {
        fixture(store).await;
        let r = report::coverage(store, &october(), Dimension::Unit, &settings(30))
            .await
            .unwrap();
        let keys: Vec<&str> = r.rows.iter().filter_map(|x| x.key.as_deref()).collect();
        assert_eq!(keys, ["P", "D", "C1", "C2"]);
        for key in ["P", "D"] {
            let d = row(&r, key);
            assert_eq!(
                (d.counts.frame, d.counts.sampled, d.counts.complete),
                (25, 10, 8)
            );
            assert_eq!(d.strata, 2);
            let s = d.satisfaction;
            assert!(close(s.value.unwrap(), 0.65), "{key}: {s:?}");
            assert_eq!(s.n, 8);
            assert!(close(s.n_effective, 5.882353), "{s:?}");
            let ci = s.ci95.unwrap();
            assert!(
                close(ci.low, 0.285149) && close(ci.high, 0.896334),
                "{ci:?}"
            );
            assert!(close(d.score.value.unwrap(), 7.4), "{:?}", d.score);
            assert_eq!(d.response_rate.value, Some(0.8));
        }
        assert_eq!(r.total.satisfaction, row(&r, "P").satisfaction);
    }

    /// Every estimate resting on fewer responses than the threshold is
    /// flagged, in the data and in the workbook; the threshold is a setting.
    pub async fn small_cells_are_flagged(store: &Store, _url: &str) {
        fixture(store).await;
        let strict = report::coverage(store, &october(), Dimension::Unit, &settings(30))
            .await
            .unwrap();
        assert!(row(&strict, "C1").satisfaction.small);
        assert!(row(&strict, "D").score.small);
        let lax = report::coverage(store, &october(), Dimension::Unit, &settings(4))
            .await
            .unwrap();
        assert!(!row(&lax, "C1").satisfaction.small);
        assert!(!row(&lax, "C1").response_rate.small);

        let month = report::monthly_report(
            store,
            Month::parse("2026-10").unwrap(),
            &ReportFilter::default(),
            &settings(5),
        )
        .await
        .unwrap();
        let bytes = report::monthly_workbook(&month).unwrap();
        let mut book = Xlsx::new(Cursor::new(bytes)).unwrap();
        let sheet = book.worksheet_range("Hồ sơ theo đơn vị").unwrap();
        let heads: Vec<String> = sheet
            .rows()
            .next()
            .unwrap()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let at = |name: &str| {
            heads
                .iter()
                .position(|h| h == name)
                .unwrap_or_else(|| panic!("no column {name}: {heads:?}"))
        };
        let line = |key: &str| {
            sheet
                .rows()
                .find(|r| r[0] == Data::String(key.into()))
                .unwrap_or_else(|| panic!("no row {key}"))
                .to_vec()
        };
        let flag = at("Tỉ lệ hài lòng (%): cảnh báo (n < 5)");
        assert_eq!(line("C1")[flag], Data::String(report::SMALL_CELL.into()));
        assert_ne!(line("D")[flag], Data::String(report::SMALL_CELL.into()));
        let d = line("D");
        let Data::Float(p) = d[at("Tỉ lệ hài lòng (%)")] else {
            panic!("{d:?}")
        };
        assert!(close(p, 0.65), "{p}");
        assert_eq!(d[at("Tỉ lệ hài lòng (%): n")], Data::Float(8.0));
        let Data::Float(low) = d[at("Tỉ lệ hài lòng (%): KTC 95% dưới")] else {
            panic!("{d:?}")
        };
        assert!(close(low, 0.285149), "{low}");
        assert_eq!(d[at("Hồ sơ đã trả kết quả")], Data::Float(25.0));
    }
}

both_backends!(
    a_dossier_with_two_responses_counts_once,
    district_and_province_are_weighted_by_commune,
    small_cells_are_flagged,
);
