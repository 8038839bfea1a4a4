//! The report queries over a year of surveys: 1,000,000 survey responses (with
//! their answers, calls and dossiers) across the 49 units of data/units.csv and
//! 12 months, plus 250,000 calls nobody answered, on SQLite (a file in a temp
//! dir) and PostgreSQL (a throwaway cluster, as tests/common/pg.rs starts it).
//!
//! `cargo bench --bench reports` loads the full million and times each query
//! once; without `--bench` (as `cargo test --all-targets` runs it) a small load
//! checks that everything runs. `--list` only prints the names.
//! `CARECALL_BENCH_RESPONSES=N` changes the size.

#[path = "../tests/common/pg.rs"]
mod pg;

use std::time::{Duration, Instant};

use carecall::dialer::units::UnitTree;
use carecall::report::{self, Dimension, Month, ReportFilter};
use carecall::store::{CampaignMode, NewCampaign, Store, UnitRecord};
use chrono::{TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sqlx::{AnyConnection, Connection};

const FIELDS: [&str; 6] = [
    "dat-dai",
    "ho-tich",
    "xay-dung",
    "kinh-doanh",
    "tu-phap",
    "giao-duc",
];

const QUERIES: [&str; 11] = [
    "total",
    "total (again, warm)",
    "per unit",
    "per level",
    "per field",
    "per month",
    "per campaign",
    "feedback list (all)",
    "monthly workbook (2025-06)",
    "dossier coverage per unit (rolled up, weighted)",
    "dossier coverage per month",
];

/// Calls per multi-row INSERT and per transaction.
const ROWS_PER_INSERT: usize = 500;
const CALLS_PER_TX: usize = 50_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        for backend in ["sqlite", "postgres"] {
            for q in QUERIES {
                println!("reports/{backend}/{q}: benchmark");
            }
        }
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let responses: usize = std::env::var("CARECALL_BENCH_RESPONSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 1_000_000 } else { 2_000 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("reports.db").display());
        run("sqlite", &url, responses).await;

        match std::panic::catch_unwind(pg::PgServer::start) {
            Ok(Some(server)) => {
                let url = server.fresh_database().await;
                run("postgres", &url, responses).await;
            }
            Ok(None) => println!("postgres: skipped (CARECALL_SKIP_PG=1)"),
            Err(_) => println!("postgres: skipped (no PostgreSQL binaries or server)"),
        }
    });
}

async fn run(backend: &str, url: &str, responses: usize) {
    let store = Store::connect(url).await.expect("connect and migrate");
    let t = Instant::now();
    let (calls, answers) = load(&store, url, responses).await;
    eprintln!(
        "{backend}: loaded {responses} responses, {calls} calls, {answers} answers in {:.1?}",
        t.elapsed()
    );
    let all = ReportFilter::default();
    for (name, by) in [
        (QUERIES[0], Dimension::Total),
        (QUERIES[1], Dimension::Total),
        (QUERIES[2], Dimension::Unit),
        (QUERIES[3], Dimension::Level),
        (QUERIES[4], Dimension::Field),
        (QUERIES[5], Dimension::Month),
        (QUERIES[6], Dimension::Campaign),
    ] {
        let t = Instant::now();
        let table = report::table(&store, &all, by).await.expect(name);
        report_time(backend, name, t.elapsed(), table.rows.len());
        assert_eq!(table.total.stats.surveyed, responses as u64);
    }
    let t = Instant::now();
    let list = report::feedback(&store, &all, None)
        .await
        .expect("feedback");
    report_time(backend, QUERIES[7], t.elapsed(), list.len());
    let t = Instant::now();
    let month = Month::parse("2025-06").unwrap();
    let settings =
        report::CoverageSettings::new(&carecall::questionnaire::Questionnaire::shipped(), 30);
    let m = report::monthly_report(&store, month, &all, &settings)
        .await
        .expect("monthly");
    let bytes = report::monthly_workbook(&m).expect("workbook");
    report_time(backend, QUERIES[8], t.elapsed(), bytes.len());
    for (name, by) in [
        (QUERIES[9], Dimension::Unit),
        (QUERIES[10], Dimension::Month),
    ] {
        let t = Instant::now();
        let c = report::coverage(&store, &all, by, &settings)
            .await
            .expect(name);
        report_time(backend, name, t.elapsed(), c.rows.len());
    }
    store.close().await;
}

fn report_time(backend: &str, name: &str, took: Duration, size: usize) {
    println!("reports/{backend}/{name}: {took:.2?} ({size} rows/bytes)");
}

/// Units through the store (as an import would), two campaigns, then the
/// calls, dossiers, responses and answers as multi-row INSERTs in large
/// transactions on one raw connection. Returns (calls, answers) written.
async fn load(store: &Store, url: &str, responses: usize) -> (usize, usize) {
    let units = UnitTree::shipped().expect("data/units.csv parses");
    for u in units.units() {
        store
            .upsert_unit(&UnitRecord {
                code: u.code.clone(),
                name: u.name.clone(),
                level: u.level.as_str().to_owned(),
                parent: u.parent.clone(),
            })
            .await
            .expect("unit");
    }
    let year_start = Utc.with_ymd_and_hms(2024, 12, 31, 17, 0, 0).unwrap();
    let year_ms = 365 * 86_400_000i64;
    let mut campaigns = Vec::new();
    for half in 0..2 {
        let id = store
            .create_campaign(&NewCampaign {
                name: format!("Khảo sát 2025 đợt {}", half + 1),
                mode: CampaignMode::Ivr,
                dialplan: "survey-1022".into(),
                period_from: year_start,
                period_to: year_start + chrono::Duration::milliseconds(year_ms),
                daily_target: 25,
                max_concurrent: 4,
                calls_per_second: 1.0,
                rule_json: "{}".into(),
                windows_json: "{}".into(),
                retry_json: "{}".into(),
                quotas_json: "[]".into(),
                sample_seed: half,
            })
            .await
            .expect("campaign");
        campaigns.push(id.0);
    }

    let mut db = AnyConnection::connect(url).await.expect("raw connection");
    if url.starts_with("sqlite:") {
        exec(&mut db, "PRAGMA synchronous = OFF".into()).await;
    }
    let unit_codes: Vec<&str> = units.units().iter().map(|u| u.code.as_str()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(1022);
    let total_calls = responses + responses / 4;
    let mut rows = Gen::default();
    let mut in_tx = 0;
    exec(&mut db, "BEGIN".into()).await;
    for i in 0..total_calls {
        let at = year_start.timestamp_millis() + rng.random_range(0..year_ms);
        let unit = unit_codes[rng.random_range(0..unit_codes.len())];
        let field = FIELDS[rng.random_range(0..FIELDS.len())];
        let campaign = &campaigns[if at < year_start.timestamp_millis() + year_ms / 2 {
            0
        } else {
            1
        }];
        rows.call(&mut rng, i, i < responses, at, unit, field, campaign);
        if rows.calls.len() == ROWS_PER_INSERT {
            rows.flush(&mut db).await;
        }
        in_tx += 1;
        if in_tx == CALLS_PER_TX {
            rows.flush(&mut db).await;
            exec(&mut db, "COMMIT".into()).await;
            exec(&mut db, "BEGIN".into()).await;
            in_tx = 0;
        }
    }
    rows.flush(&mut db).await;
    exec(&mut db, "COMMIT".into()).await;
    // carecall writes answer_latest with each answer; a raw bulk load fills it
    // once, as migration 9 does for answers written before it.
    exec(
        &mut db,
        "INSERT INTO answer_latest (response_id, key, revision, answer_id, kind, value) \
         SELECT a.response_id, a.key, a.revision, a.id, a.kind, a.value FROM answers a \
         WHERE NOT EXISTS (SELECT 1 FROM answers n WHERE n.response_id = a.response_id \
         AND n.key = a.key AND n.revision > a.revision)"
            .into(),
    )
    .await;
    exec(&mut db, "ANALYZE".into()).await;
    let _ = db.close().await;
    (total_calls, rows.answers_written)
}

async fn exec(db: &mut AnyConnection, sql: String) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *db)
        .await
        .unwrap_or_else(|e| panic!("bulk load: {e}"));
}

/// Rows waiting for the next multi-row INSERT (SQL literals; every value is
/// generated here, none contains a quote).
#[derive(Default)]
struct Gen {
    dossiers: Vec<String>,
    calls: Vec<String>,
    responses: Vec<String>,
    answers: Vec<String>,
    answers_written: usize,
}

impl Gen {
    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        rng: &mut ChaCha8Rng,
        i: usize,
        surveyed: bool,
        at: i64,
        unit: &str,
        field: &str,
        campaign: &str,
    ) {
        let dossier = format!("HS{i:07}");
        self.dossiers.push(format!(
            "('{dossier}', 'Thủ tục {field}', '{field}', '{unit}', 'person', 'Công dân', \
             '09{:08}', {at}, {at}, {at})",
            i % 100_000_000
        ));
        let call = format!("C{i:07}");
        if !surveyed {
            let disp = ["no_answer", "busy", "failed"][rng.random_range(0..3)];
            self.calls.push(format!(
                "('{call}', '{dossier}', '0900000000', '1022', 'survey-1022', {at}, NULL, {}, \
                 '{disp}', '{campaign}')",
                at + 30_000
            ));
            return;
        }
        self.calls.push(format!(
            "('{call}', '{dossier}', '0900000000', '1022', 'survey-1022', {at}, {}, {}, \
             'completed', '{campaign}')",
            at + 8_000,
            at + 180_000
        ));
        let resp = format!("R{i:07}");
        self.responses.push(format!(
            "('{resp}', '{call}', '{dossier}', 'survey-1022', {at}, 'completed')"
        ));
        let q1 = match rng.random_range(0..100) {
            0..85 => "1",
            85..95 => "2",
            _ => "3",
        };
        let q4 = [6, 7, 8, 8, 9, 9, 9, 10, 10, 10, 5, 4, 3, 2, 1][rng.random_range(0..15)];
        let mut n = 0;
        let mut answer = |key: &str, rev: u8, kind: &str, value: Option<String>, clip: bool| {
            n += 1;
            let value = value.map_or("NULL".into(), |v| format!("'{v}'"));
            let (path, ms) = if clip {
                (format!("'clips/{resp}-{key}.wav'"), "4200".to_owned())
            } else {
                ("NULL".to_owned(), "NULL".to_owned())
            };
            self.answers.push(format!(
                "('{resp}-{n}', '{resp}', '{key}', {rev}, '{kind}', {value}, {path}, {ms}, {})",
                at + n * 5_000
            ));
        };
        answer("consent", 1, "value", Some("1".into()), false);
        answer("q1", 1, "value", Some(q1.into()), false);
        if q1 == "3" {
            answer("q1_other", 1, "clip", None, true);
        }
        answer(
            "q2",
            1,
            "value",
            Some(rng.random_range(1..=5).to_string()),
            false,
        );
        match rng.random_range(0..100) {
            0..10 => answer("q3", 1, "clip", None, true),
            10..12 => answer("q3", 1, "value", Some("Chờ lâu".into()), false),
            _ => answer("q3", 1, "unanswered", None, false),
        }
        answer("q4", 1, "value", Some(q4.to_string()), false);
        if rng.random_range(0..100) < 8 {
            answer("q5", 1, "clip", None, true);
        } else {
            answer("q5", 1, "unanswered", None, false);
        }
        if rng.random_range(0..100) < 2 {
            // An operator's correction after listening to the recording.
            answer("q4", 2, "value", Some(((q4 % 10) + 1).to_string()), false);
        }
    }

    async fn flush(&mut self, db: &mut AnyConnection) {
        let batches: [(&str, &mut Vec<String>); 4] = [
            (
                "INSERT INTO dossiers (code, procedure, field, unit_code, applicant_kind, \
                 applicant_name, phone, received_at, returned_at, created_at) VALUES ",
                &mut self.dossiers,
            ),
            (
                "INSERT INTO calls (id, dossier_code, destination, caller_id, dialplan, \
                 started_at, answered_at, ended_at, disposition, campaign_id) VALUES ",
                &mut self.calls,
            ),
            (
                "INSERT INTO survey_responses (id, call_id, dossier_code, dialplan, created_at, \
                 status) VALUES ",
                &mut self.responses,
            ),
            (
                "INSERT INTO answers (id, response_id, key, revision, kind, value, clip_path, \
                 clip_ms, answered_at) VALUES ",
                &mut self.answers,
            ),
        ];
        for (head, rows) in batches {
            if rows.is_empty() {
                continue;
            }
            if head.contains("answers") {
                self.answers_written += rows.len();
            }
            // Answers come ~7 per call: keep each statement a few thousand rows.
            for chunk in rows.chunks(ROWS_PER_INSERT * 8) {
                exec(db, format!("{head}{}", chunk.join(", "))).await;
            }
            rows.clear();
        }
    }
}
