//! Dossier intake end to end: fixture files → validation → the store, on SQLite
//! (and once on PostgreSQL).

mod common;

use std::path::{Path, PathBuf};

use carecall::intake::{self, Format, ImportReport, IntakeError};
use carecall::store::{Dossier, Store, UnitRecord};
use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Đồng Tháp units as `data/units.csv` lists them (code, name).
const UNITS: [(&str, &str); 5] = [
    (
        "tinh-dong-thap",
        "Trung tâm Phục vụ hành chính công tỉnh Đồng Tháp",
    ),
    ("tp-cao-lanh", "Thành phố Cao Lãnh"),
    ("tp-sa-dec", "Thành phố Sa Đéc"),
    ("h-lap-vo", "Huyện Lấp Vò"),
    ("h-thap-muoi", "Huyện Tháp Mười"),
];

fn unit(code_or_name: &str) -> Option<String> {
    UNITS
        .iter()
        .find(|(code, name)| *code == code_or_name || *name == code_or_name)
        .map(|(code, _)| (*code).to_owned())
}

async fn sqlite() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let store = Store::connect(&url).await.unwrap();
    (dir, store)
}

const GOOD: [&str; 5] = [
    "000.00.21.H19-240304-0001",
    "000.00.24.H19-240215-0012",
    "000.00.00.H19-240301-0003",
    "000.00.24.H19-240312-0009",
    "000.00.22.H19-240311-0010",
];

/// (line, code, kind) of every refused row of `dossiers.csv`.
const BAD: [(usize, Option<&str>, &str); 5] = [
    (4, Some("000.00.21.H19-240305-0007"), "bad_phone"),
    (6, Some("000.00.22.H19-240306-0004"), "bad_date"),
    (
        8,
        Some("000.00.23.H19-240310-0006"),
        "returned_before_received",
    ),
    (9, None, "missing_value"),
    (10, Some("000.00.21.H19-240304-0001"), "duplicate_code"),
];

/// The row of `dossiers.csv` whose unit ("Huyện Phú Quốc") is in no list.
const WAITING: &str = "000.00.99.H19-240307-0005";

fn vn(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    intake::vietnam()
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .unwrap()
        .to_utc()
}

/// Checks a first import of the fixture's content: counts, refused rows and
/// what was stored.
async fn assert_first_import(store: &Store, report: &ImportReport) {
    assert_eq!(report.total, 11, "{report:#?}");
    assert_eq!(
        (report.inserted, report.updated, report.unchanged),
        (5, 0, 0),
        "{report:#?}"
    );
    let got: Vec<(usize, Option<&str>, &str)> = report
        .errors
        .iter()
        .map(|e| (e.line, e.code.as_deref(), e.kind))
        .collect();
    assert_eq!(got, BAD, "{report:#?}");
    let reasons: Vec<&str> = report.errors.iter().map(|e| e.reason.as_str()).collect();
    assert!(reasons[0].starts_with("phone: "), "{}", reasons[0]);
    assert!(
        !reasons[0].contains("456"),
        "quotes the phone: {}",
        reasons[0]
    );
    assert!(reasons[1].contains("received_at") && reasons[1].contains("30/02/2024"));
    assert_eq!(
        reasons[2],
        "returned_at (05/03/2024 00:00) is before received_at (10/03/2024 00:00)"
    );
    assert_eq!(reasons[3], "code is empty");
    assert!(reasons[4].contains("line 2"), "{}", reasons[4]);
    // An unknown unit is not a refusal: the row waits for its unit's mapping.
    let waiting: Vec<(usize, &str, &str)> = report
        .waiting
        .iter()
        .map(|w| (w.line, w.code.as_str(), w.unit.as_str()))
        .collect();
    assert_eq!(
        waiting,
        [(7, "000.00.99.H19-240307-0005", "Huyện Phú Quốc")],
        "{report:#?}"
    );

    for code in GOOD {
        assert!(store.dossier(code).await.unwrap().is_some(), "{code}");
    }
    for (_, code, _) in &BAD[..3] {
        assert_eq!(store.dossier(code.unwrap()).await.unwrap(), None);
    }
    assert_eq!(store.dossier(WAITING).await.unwrap(), None);

    let birth = store.dossier(GOOD[0]).await.unwrap().unwrap();
    assert_eq!(birth.procedure, "Đăng ký khai sinh");
    assert_eq!(birth.field, "Hộ tịch");
    assert_eq!(birth.unit_code, "tp-cao-lanh");
    assert_eq!(birth.applicant_kind, "person");
    assert_eq!(birth.applicant_name, "Nguyễn Văn An");
    assert_eq!(birth.phone, "0912345678");
    assert_eq!(birth.received_at, Some(vn(2024, 3, 4, 0, 0)));
    assert_eq!(birth.returned_at, Some(vn(2024, 3, 6, 0, 0)));

    let land = store.dossier(GOOD[1]).await.unwrap().unwrap();
    assert_eq!(land.unit_code, "h-lap-vo");
    assert_eq!(land.phone, "0387654321");
    assert_eq!(land.received_at, Some(vn(2024, 2, 15, 0, 0)));
    assert_eq!(land.returned_at, Some(vn(2024, 3, 14, 15, 20)));

    let company = store.dossier(GOOD[2]).await.unwrap().unwrap();
    assert_eq!(company.unit_code, "tinh-dong-thap");
    assert_eq!(company.applicant_kind, "organisation");
    assert_eq!(company.phone, "02773851234");
    assert_eq!(company.received_at, Some(vn(2024, 3, 1, 8, 15)));
    assert_eq!(company.returned_at, Some(vn(2024, 3, 7, 16, 45)));

    let pending = store.dossier(GOOD[3]).await.unwrap().unwrap();
    assert_eq!(pending.phone, "0939111222");
    assert_eq!(pending.received_at, Some(vn(2024, 3, 12, 0, 0)));
    assert_eq!(pending.returned_at, None);

    let copy = store.dossier(GOOD[4]).await.unwrap().unwrap();
    assert_eq!(copy.procedure, "Chứng thực bản sao từ bản chính, chữ ký");
    assert_eq!(copy.unit_code, "tp-sa-dec");
}

async fn stored(store: &Store) -> Vec<Dossier> {
    let mut all = Vec::new();
    for code in GOOD {
        all.push(store.dossier(code).await.unwrap().unwrap());
    }
    all
}

#[tokio::test]
async fn csv_import_keeps_good_rows_and_reports_bad_ones() {
    let (_dir, store) = sqlite().await;
    let report = intake::import_file(&store, &fixture("dossiers.csv"), &unit, None)
        .await
        .unwrap();
    assert_first_import(&store, &report).await;
}

#[tokio::test]
async fn reimport_changes_nothing() {
    let (_dir, store) = sqlite().await;
    let path = fixture("dossiers.csv");
    intake::import_file(&store, &path, &unit, None)
        .await
        .unwrap();
    let before = stored(&store).await;
    let again = intake::import_file(&store, &path, &unit, None)
        .await
        .unwrap();
    assert_eq!(
        (again.total, again.inserted, again.updated, again.unchanged),
        (11, 0, 0, 5),
        "{again:#?}"
    );
    assert_eq!(again.errors.len(), 5);
    // The row with an unknown unit waits again, still once.
    assert_eq!(again.waiting.len(), 1);
    assert_eq!(store.pending_units().await.unwrap()[0].rows, 1);
    assert_eq!(stored(&store).await, before, "created_at and fields kept");
}

#[tokio::test]
async fn a_changed_row_is_an_update_that_keeps_created_at() {
    let (_dir, store) = sqlite().await;
    intake::import_file(&store, &fixture("dossiers.csv"), &unit, None)
        .await
        .unwrap();
    let before = store.dossier(GOOD[3]).await.unwrap().unwrap();
    let row: intake::RawRow = serde_json::from_value(serde_json::json!({
        "code": GOOD[3],
        "procedure": "Đăng ký thường trú",
        "field": "Cư trú",
        "unit": "h-lap-vo",
        "applicant_kind": "person",
        "applicant_name": "Lê Hoàng Phúc",
        "phone": 939111222,
        "received_at": "2024-03-12",
        "returned_at": "15/03/2024 10:00"
    }))
    .unwrap();
    let report = intake::import_rows(&store, vec![(1, row)], &unit)
        .await
        .unwrap();
    assert_eq!(
        (report.inserted, report.updated, report.unchanged),
        (0, 1, 0)
    );
    let after = store.dossier(GOOD[3]).await.unwrap().unwrap();
    assert_eq!(after.returned_at, Some(vn(2024, 3, 15, 10, 0)));
    assert_eq!(after.created_at, before.created_at);
}

#[tokio::test]
async fn semicolons_and_bom_read_the_same() {
    let (_dir, store) = sqlite().await;
    let report = intake::import_file(&store, &fixture("dossiers_semicolon_bom.csv"), &unit, None)
        .await
        .unwrap();
    assert_first_import(&store, &report).await;
}

/// Issue 10: the one-stop system's own export, Vietnamese headers in its
/// column order, imports like the English one.
#[tokio::test]
async fn vietnamese_headers_read_the_same() {
    let (dir, store) = sqlite().await;
    let english = std::fs::read_to_string(fixture("dossiers.csv")).unwrap();
    let (header, body) = english.split_once('\n').unwrap();
    assert_eq!(
        header.trim_end(),
        "code,procedure,field,unit,applicant_kind,applicant_name,phone,received_at,returned_at"
    );
    let vietnamese = "Mã hồ sơ,Tên thủ tục,Lĩnh vực,Đơn vị,Đối tượng,Chủ hồ sơ,\
                      Số điện thoại,Ngày tiếp nhận,Ngày trả kết quả";
    let path = dir.path().join("mot-cua.csv");
    std::fs::write(&path, format!("{vietnamese}\n{body}")).unwrap();
    let report = intake::import_file(&store, &path, &unit, None)
        .await
        .unwrap();
    assert_first_import(&store, &report).await;
}

#[tokio::test]
async fn xlsx_with_excel_dates_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("hồ sơ tháng 3.xlsx");
    write_xlsx_like_csv(&fixture("dossiers.csv"), &xlsx);
    let (_db, store) = sqlite().await;
    let report = intake::import_file(&store, &xlsx, &unit, None)
        .await
        .unwrap();
    assert_first_import(&store, &report).await;

    let (_db2, from_csv) = sqlite().await;
    intake::import_file(&from_csv, &fixture("dossiers.csv"), &unit, None)
        .await
        .unwrap();
    let strip = |v: Vec<Dossier>| {
        v.into_iter()
            .map(|d| Dossier {
                created_at: DateTime::UNIX_EPOCH,
                ..d
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(stored(&store).await), strip(stored(&from_csv).await));
}

/// Writes the CSV's rows to an XLSX sheet the way Excel would hold them: dates
/// as date-formatted serial numbers, the first phone as a number (leading zero
/// lost), the rest as text.
fn write_xlsx_like_csv(csv: &Path, xlsx: &Path) {
    use rust_xlsxwriter::{ExcelDateTime, Format as CellFormat, Workbook};
    let mut reader = csv::Reader::from_path(csv).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let date_format = CellFormat::new().set_num_format("dd/mm/yyyy hh:mm");
    for (c, name) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, name).unwrap();
    }
    let mut phone_as_number = true;
    for (r, record) in reader.records().enumerate() {
        let row = r as u32 + 1;
        for (c, text) in record.unwrap().iter().enumerate() {
            let col = c as u16;
            let name = header[c].as_str();
            let date = (name.ends_with("_at"))
                .then(|| carecall_date(text))
                .flatten();
            if let Some(local) = date {
                let cell = ExcelDateTime::from_ymd(
                    local.year() as u16,
                    local.month() as u8,
                    local.day() as u8,
                )
                .unwrap()
                .and_hms(local.hour() as u16, local.minute() as u8, 0)
                .unwrap();
                sheet
                    .write_datetime_with_format(row, col, &cell, &date_format)
                    .unwrap();
            } else if name == "phone" && phone_as_number {
                phone_as_number = false;
                let digits: String = text.chars().filter(char::is_ascii_digit).collect();
                sheet
                    .write_number(row, col, digits.parse::<f64>().unwrap())
                    .unwrap();
            } else if !text.is_empty() {
                sheet.write_string(row, col, text).unwrap();
            }
        }
    }
    book.save(xlsx).unwrap();
}

/// A fixture date as Vietnam wall-clock time, if it is one.
fn carecall_date(text: &str) -> Option<chrono::NaiveDateTime> {
    let utc = intake::parse_date(text)?;
    Some(utc.with_timezone(&intake::vietnam()).naive_local())
}

#[tokio::test]
async fn a_file_without_the_phone_column_is_refused_naming_it() {
    let (_dir, store) = sqlite().await;
    let path = fixture("dossiers_missing_phone.csv");
    let err = intake::import_file(&store, &path, &unit, None)
        .await
        .unwrap_err();
    assert!(matches!(err, IntakeError::MissingColumns { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("dossiers_missing_phone.csv"), "{msg}");
    assert!(msg.contains("lacks the column phone:"), "{msg}");
    assert_eq!(store.dossier(GOOD[0]).await.unwrap(), None);
}

#[tokio::test]
async fn file_level_errors_name_the_file() {
    let (dir, store) = sqlite().await;
    let missing = dir.path().join("không-có.csv");
    let err = intake::import_file(&store, &missing, &unit, None)
        .await
        .unwrap_err();
    assert!(matches!(err, IntakeError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("không-có.csv"), "{err}");

    let odd = dir.path().join("dossiers.ods");
    std::fs::write(&odd, b"x").unwrap();
    let err = intake::import_file(&store, &odd, &unit, None)
        .await
        .unwrap_err();
    assert!(matches!(err, IntakeError::UnknownFormat { .. }), "{err:?}");
    assert!(err.to_string().contains("dossiers.ods"), "{err}");

    // A CSV named .xlsx is not a workbook.
    let fake = dir.path().join("fake.xlsx");
    std::fs::copy(fixture("dossiers.csv"), &fake).unwrap();
    let err = intake::import_file(&store, &fake, &unit, None)
        .await
        .unwrap_err();
    assert!(matches!(err, IntakeError::Xlsx { .. }), "{err:?}");
    assert!(err.to_string().contains("fake.xlsx"), "{err}");

    // ...but can be read as CSV when the caller says so.
    let report = intake::import_file(&store, &fake, &unit, Some(Format::Csv))
        .await
        .unwrap();
    assert_eq!(report.inserted, 5);
}

/// The units of [`UNITS`] in the store (the province above four districts).
async fn store_units(store: &Store) {
    for (i, (code, name)) in UNITS.iter().enumerate() {
        let (level, parent) = if i == 0 {
            ("province", None)
        } else {
            ("district", Some(UNITS[0].0.to_owned()))
        };
        let u = UnitRecord {
            code: (*code).into(),
            name: (*name).into(),
            level: level.into(),
            parent,
        };
        store.upsert_unit(&u).await.unwrap();
    }
}

/// Rows naming an unknown unit in three spellings wait (nothing refused,
/// nothing stored as a dossier); one alias releases all of them and every
/// later row with that name. A row whose unit is unknown *and* whose phone is
/// bad is refused, not parked.
async fn unknown_units_wait_for_one_alias(store: &Store) {
    store_units(store).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("waiting.csv");
    std::fs::write(
        &path,
        "Mã hồ sơ,Tên thủ tục,Lĩnh vực,Đơn vị,Đối tượng,Chủ hồ sơ,Số điện thoại,Ngày tiếp nhận,Ngày trả kết quả\n\
         W-1,Đăng ký khai sinh,Hộ tịch,UBND huyện Phú Quốc,Cá nhân,Nguyễn Văn An,0912345678,04/03/2024,06/03/2024\n\
         W-2,Đăng ký kết hôn,Hộ tịch,HUYỆN PHÚ QUỐC,Cá nhân,Võ Minh Tâm,0912345679,04/03/2024,06/03/2024\n\
         W-3,Đăng ký kết hôn,Hộ tịch,huyen phu quoc,Cá nhân,Lê Văn C,0912345670,04/03/2024,06/03/2024\n\
         W-4,Đăng ký kết hôn,Hộ tịch,Huyện Phú Quốc,Cá nhân,Lê Văn D,0123,04/03/2024,06/03/2024\n\
         W-5,Đăng ký kết hôn,Hộ tịch,UBND Thành phố Sa Đéc,Cá nhân,Lê Văn E,0912345671,04/03/2024,06/03/2024\n",
    )
    .unwrap();
    let matcher = intake::unit_matcher(store).await.unwrap();
    let resolve = move |u: &str| matcher.resolve(u);
    let report = intake::import_file(store, &path, &resolve, None)
        .await
        .unwrap();
    assert_eq!(report.inserted, 1, "{report:#?}");
    let waiting: Vec<&str> = report.waiting.iter().map(|w| w.code.as_str()).collect();
    assert_eq!(waiting, ["W-1", "W-2", "W-3"]);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].code.as_deref(), Some("W-4"));
    // "UBND Thành phố Sa Đéc" matched tp-sa-dec by its name's key.
    let w5 = store.dossier("W-5").await.unwrap().unwrap();
    assert_eq!(w5.unit_code, "tp-sa-dec");
    for code in ["W-1", "W-2", "W-3", "W-4"] {
        assert_eq!(store.dossier(code).await.unwrap(), None, "{code}");
    }
    let pending = store.pending_units().await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(
        (pending[0].name_key.as_str(), pending[0].rows),
        ("huyen phu quoc", 3)
    );

    // One alias: the admin says the export's "Huyện Phú Quốc" is Lấp Vò.
    let now = Utc::now();
    let key = intake::unit_key("Huyện Phú Quốc");
    store
        .set_unit_alias(&key, "Huyện Phú Quốc", "h-lap-vo", "admin", now)
        .await
        .unwrap();
    let matcher = intake::unit_matcher(store).await.unwrap();
    let resolve = move |u: &str| matcher.resolve(u);
    let released = intake::release_waiting(store, &resolve, now).await.unwrap();
    assert_eq!((released.total, released.inserted), (3, 3), "{released:#?}");
    assert!(store.pending_units().await.unwrap().is_empty());
    for code in ["W-1", "W-2", "W-3"] {
        let d = store.dossier(code).await.unwrap().unwrap();
        assert_eq!(d.unit_code, "h-lap-vo", "{code}");
        assert_eq!(d.received_at, Some(vn(2024, 3, 4, 0, 0)));
    }
    // A later row with the name follows the alias at once.
    std::fs::write(
        &path,
        "code,procedure,field,unit,applicant_kind,applicant_name,phone,received_at,returned_at\n\
         W-6,Đăng ký khai sinh,Hộ tịch,Ủy ban nhân dân huyện Phú Quốc,Cá nhân,X,0912345672,04/03/2024,\n",
    )
    .unwrap();
    let later = intake::import_file(store, &path, &resolve, None)
        .await
        .unwrap();
    assert_eq!((later.inserted, later.waiting.len()), (1, 0), "{later:#?}");
    assert_eq!(
        store.dossier("W-6").await.unwrap().unwrap().unit_code,
        "h-lap-vo"
    );
}

#[tokio::test]
async fn unknown_units_wait_for_one_alias_sqlite() {
    let (_dir, store) = sqlite().await;
    unknown_units_wait_for_one_alias(&store).await;
}

#[tokio::test]
async fn unknown_units_wait_for_one_alias_postgres() {
    let Some(server) = common::pg::PgServer::start() else {
        return;
    };
    let url = server.fresh_database().await;
    let store = Store::connect(&url).await.unwrap();
    unknown_units_wait_for_one_alias(&store).await;
    store.close().await;
}

#[tokio::test]
async fn postgres_import_is_idempotent() {
    let Some(server) = common::pg::PgServer::start() else {
        return;
    };
    let url = server.fresh_database().await;
    let store = Store::connect(&url).await.unwrap();
    let path = fixture("dossiers.csv");
    let report = intake::import_file(&store, &path, &unit, None)
        .await
        .unwrap();
    assert_first_import(&store, &report).await;
    let again = intake::import_file(&store, &path, &unit, None)
        .await
        .unwrap();
    assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, 5));
    store.close().await;
}
