use chrono::{DateTime, TimeZone, Utc};

use super::*;

fn units(s: &str) -> Option<String> {
    match s {
        "tp-cao-lanh" | "Thành phố Cao Lãnh" => Some("tp-cao-lanh".into()),
        _ => None,
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap()
}

fn good() -> RawRow {
    RawRow {
        code: " 000.00.21.H19-240304-0001 ".into(),
        procedure: "Cấp giấy chứng nhận đăng ký hộ kinh doanh".into(),
        field: "Thành lập và hoạt động của hộ kinh doanh".into(),
        unit: "Thành phố Cao Lãnh".into(),
        applicant_kind: "Cá nhân".into(),
        applicant_name: "Nguyễn Thị Mỹ Linh".into(),
        phone: "0912 345 678".into(),
        received_at: "04/03/2024".into(),
        returned_at: "2024-03-08 14:30".into(),
    }
}

fn check(row: &RawRow) -> Result<Dossier, RowError> {
    validate(row, &units, now())
}

#[test]
fn a_good_row_becomes_a_dossier() {
    let d = check(&good()).unwrap();
    assert_eq!(d.code, "000.00.21.H19-240304-0001");
    assert_eq!(d.unit_code, "tp-cao-lanh");
    assert_eq!(d.applicant_kind, "person");
    assert_eq!(d.applicant_name, "Nguyễn Thị Mỹ Linh");
    assert_eq!(d.phone, "0912345678");
    assert_eq!(
        d.received_at,
        Some(Utc.with_ymd_and_hms(2024, 3, 3, 17, 0, 0).unwrap())
    );
    assert_eq!(
        d.returned_at,
        Some(Utc.with_ymd_and_hms(2024, 3, 8, 7, 30, 0).unwrap())
    );
    assert_eq!(d.created_at, now());
}

#[test]
fn empty_returned_at_is_not_yet_returned() {
    let d = check(&RawRow {
        returned_at: "  ".into(),
        ..good()
    })
    .unwrap();
    assert_eq!(d.returned_at, None);
}

#[test]
fn each_required_value_is_checked() {
    let blank = |f: fn(&mut RawRow)| {
        let mut r = good();
        f(&mut r);
        check(&r).unwrap_err()
    };
    type Blank = fn(&mut RawRow);
    let cases: [(Blank, Column); 8] = [
        (|r| r.code.clear(), Column::Code),
        (|r| r.procedure = " ".into(), Column::Procedure),
        (|r| r.field.clear(), Column::Field),
        (|r| r.unit.clear(), Column::Unit),
        (|r| r.applicant_kind.clear(), Column::ApplicantKind),
        (|r| r.applicant_name.clear(), Column::ApplicantName),
        (|r| r.phone.clear(), Column::Phone),
        (|r| r.received_at.clear(), Column::ReceivedAt),
    ];
    for (f, column) in cases {
        assert_eq!(blank(f), RowError::MissingValue { column });
    }
}

#[test]
fn bad_values_have_typed_reasons() {
    let err = check(&RawRow {
        phone: "0123 456 789".into(),
        ..good()
    })
    .unwrap_err();
    assert!(matches!(err, RowError::BadPhone(_)), "{err:?}");
    assert_eq!(err.kind(), "bad_phone");
    assert!(!err.to_string().contains("456"), "quotes the number: {err}");

    let err = check(&RawRow {
        phone: "1022".into(),
        ..good()
    })
    .unwrap_err();
    assert_eq!(err, RowError::ServiceNumber { digits: 4 });

    let err = check(&RawRow {
        received_at: "31/02/2024".into(),
        ..good()
    })
    .unwrap_err();
    assert_eq!(
        err,
        RowError::BadDate {
            column: Column::ReceivedAt,
            value: "31/02/2024".into()
        }
    );

    let err = check(&RawRow {
        returned_at: "01/03/2024".into(),
        ..good()
    })
    .unwrap_err();
    assert!(
        matches!(err, RowError::ReturnedBeforeReceived { .. }),
        "{err:?}"
    );

    let err = check(&RawRow {
        applicant_kind: "hộ gia đình".into(),
        ..good()
    })
    .unwrap_err();
    assert_eq!(err.kind(), "unknown_applicant_kind");

    let err = check(&RawRow {
        unit: "Huyện Không Có".into(),
        ..good()
    })
    .unwrap_err();
    assert_eq!(
        err,
        RowError::UnknownUnit {
            value: "Huyện Không Có".into()
        }
    );
}

#[test]
fn unit_by_code_and_organisation() {
    let d = check(&RawRow {
        unit: "tp-cao-lanh".into(),
        applicant_kind: "tổ chức".into(),
        ..good()
    })
    .unwrap();
    assert_eq!(d.unit_code, "tp-cao-lanh");
    assert_eq!(d.applicant_kind, "organisation");
}

#[test]
fn same_day_return_is_fine() {
    let d = check(&RawRow {
        returned_at: "04/03/2024".into(),
        ..good()
    })
    .unwrap();
    assert_eq!(d.returned_at, d.received_at);
}

#[test]
fn header_is_case_insensitive_in_any_order() {
    let h = Header::parse([
        "\u{feff}Phone",
        "extra",
        "CODE",
        "procedure",
        "field",
        " Unit ",
        "applicant kind",
        "Applicant-Name",
        "received_at",
    ])
    .unwrap();
    let cells = ["0912345678", "x", "HS-1", "p", "f", "u", "k", "n", "r"];
    let row = h.row(|i| cells.get(i).copied());
    assert_eq!(row.phone, "0912345678");
    assert_eq!(row.code, "HS-1");
    assert_eq!(row.unit, "u");
    assert_eq!(row.applicant_kind, "k");
    assert_eq!(row.applicant_name, "n");
    assert_eq!(row.returned_at, "");
}

#[test]
fn header_names_missing_required_columns() {
    let missing = Header::parse(["code", "procedure", "field", "unit", "received_at"]).unwrap_err();
    assert_eq!(
        missing,
        vec![Column::ApplicantKind, Column::ApplicantName, Column::Phone]
    );
}

#[test]
fn raw_row_from_json() {
    let row: RawRow = serde_json::from_str(
        r#"{"code":"HS-1","phone":912345678,"unit":"tp-cao-lanh","returned_at":null,"other":1}"#,
    )
    .unwrap();
    assert_eq!(row.code, "HS-1");
    assert_eq!(row.phone, "912345678");
    assert_eq!(row.returned_at, "");
    assert_eq!(row.procedure, "");
}

#[test]
fn debug_hides_name_and_phone() {
    let shown = format!("{:?}", good());
    assert!(!shown.contains("Linh") && !shown.contains("345"), "{shown}");
}

/// Issue 10: the one-stop system exports Vietnamese headers; they are read
/// with or without diacritics, in any case, precomposed or decomposed.
#[test]
fn header_accepts_the_one_stop_systems_vietnamese_names() {
    let h = Header::parse([
        "STT",
        "Mã hồ sơ",
        "Tên thủ tục",
        "LĨNH VỰC",
        "Đơn vị",
        "Đối tượng",
        "Chủ hồ sơ",
        "So dien thoai",
        "Nga\u{300}y tie\u{302}\u{301}p nha\u{323}\u{302}n", // decomposed (NFD)
        "Ngày trả kết quả",
    ])
    .unwrap();
    let cells = ["1", "HS-1", "p", "f", "u", "k", "n", "0912", "r", "t"];
    let row = h.row(|i| cells.get(i).copied());
    assert_eq!(row.code, "HS-1");
    assert_eq!(row.procedure, "p");
    assert_eq!(row.field, "f");
    assert_eq!(row.unit, "u");
    assert_eq!(row.applicant_kind, "k");
    assert_eq!(row.applicant_name, "n");
    assert_eq!(row.phone, "0912");
    assert_eq!(row.received_at, "r");
    assert_eq!(row.returned_at, "t");
}

#[test]
fn a_vietnamese_header_that_names_no_column_is_ignored() {
    let missing = Header::parse(["Mã", "Ghi chú", "Ngày trả kết quả"]).unwrap_err();
    assert_eq!(missing.len(), 8, "{missing:?}");
}
