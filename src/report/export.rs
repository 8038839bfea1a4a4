//! Report tables and the feedback list as CSV and XLSX, with Vietnamese headings.
//!
//! CSV starts with a UTF-8 byte-order mark: without it Excel reads the file as
//! the machine's ANSI code page and garbles every Vietnamese letter. In XLSX,
//! numbers stay numbers (rates as fractions with a percent format), so a
//! supervisor can sum and chart them.
//!
//! Text comes from citizens (spoken complaints typed up, dossier data) and
//! from unit names anyone with data rights can edit, so a cell may begin
//! with `=`, `+`, `-`, `@`, a tab, a carriage return or a line feed, which a spreadsheet
//! opening the CSV runs as a formula (`=HYPERLINK(...)`, DDE). Per the OWASP
//! CSV Injection guidance such text cells are prefixed with `'`, which the
//! spreadsheet shows as text; quoting is the csv crate's (RFC 4180). In XLSX a
//! text cell is written with `write_string`, a string record that is never
//! evaluated, so it needs no prefix.

use chrono_tz::Asia::Ho_Chi_Minh;
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use super::stats::{Q1_LABELS, Q2_LABELS};
use super::{Feedback, ReportError, ReportRow, ReportTable};

const BOM: &[u8] = "\u{feff}".as_bytes();

/// One cell, typed so that each format can render it its own way.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cell {
    Text(String),
    Count(u64),
    /// A fraction 0..=1, shown as a percentage; empty when undefined.
    Percent(Option<f64>),
    /// A plain number with two decimals; empty when undefined.
    Decimal(Option<f64>),
}

impl Cell {
    fn csv(&self) -> String {
        match self {
            Cell::Text(s) => csv_text(s),
            Cell::Count(n) => n.to_string(),
            Cell::Percent(p) => p.map_or_else(String::new, |p| format!("{:.2}", p * 100.0)),
            Cell::Decimal(d) => d.map_or_else(String::new, |d| format!("{d:.2}")),
        }
    }

    fn write(&self, ws: &mut Worksheet, row: u32, col: u16, f: &Formats) -> Result<(), XlsxError> {
        match self {
            Cell::Text(s) => ws.write_string(row, col, s)?,
            Cell::Count(n) => ws.write_number(row, col, *n as f64)?,
            Cell::Percent(Some(p)) => ws.write_number_with_format(row, col, *p, &f.percent)?,
            Cell::Decimal(Some(d)) => ws.write_number_with_format(row, col, *d, &f.decimal)?,
            Cell::Percent(None) | Cell::Decimal(None) => ws,
        };
        Ok(())
    }
}

/// Characters that make a spreadsheet read a cell as a formula (OWASP CSV
/// Injection: `=`, `+`, `-`, `@`, tab, CR; line feed since its 2025 edit).
const FORMULA_STARTS: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\n'];

/// A text cell for CSV: prefixed with `'` when it would start a formula.
pub fn csv_text(s: &str) -> String {
    if s.starts_with(FORMULA_STARTS) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

pub(super) struct Formats {
    pub header: Format,
    percent: Format,
    decimal: Format,
}

impl Formats {
    pub(super) fn new() -> Formats {
        Formats {
            header: Format::new().set_bold().set_text_wrap(),
            percent: Format::new().set_num_format("0.00%"),
            decimal: Format::new().set_num_format("0.00"),
        }
    }
}

/// The headings of a report table, after its two grouping columns.
pub(super) fn table_headings(group: &str) -> Vec<String> {
    let mut h: Vec<String> = vec![
        "Mã".into(),
        group.into(),
        "Số cuộc gọi".into(),
        "Số cuộc nghe máy".into(),
        "Tỉ lệ phản hồi (%)".into(),
        "Số phiếu có trả lời".into(),
        "Số trả lời câu 1".into(),
    ];
    h.extend(Q1_LABELS.iter().map(|l| format!("Câu 1: {l}")));
    h.push("Tỉ lệ hài lòng (%)".into());
    h.push("Điểm trung bình (câu 4)".into());
    h.extend((1..=10).map(|s| format!("Điểm {s}")));
    h.extend(Q2_LABELS.iter().map(|l| format!("Câu 2: {l}")));
    h.push("Số phản ánh (câu 3)".into());
    h.push("Số góp ý (câu 5)".into());
    h
}

pub(super) fn table_cells(r: &ReportRow) -> Vec<Cell> {
    let s = &r.stats;
    let mut c = vec![
        Cell::Text(r.key.clone().unwrap_or_default()),
        Cell::Text(r.label.clone()),
        Cell::Count(s.dialled),
        Cell::Count(s.answered),
        Cell::Percent(r.rates.response),
        Cell::Count(s.surveyed),
        Cell::Count(s.q1_answered()),
    ];
    c.extend(s.q1.iter().map(|&n| Cell::Count(n)));
    c.push(Cell::Percent(r.rates.satisfaction));
    c.push(Cell::Decimal(r.rates.score_average));
    c.extend(s.q4.iter().map(|&n| Cell::Count(n)));
    c.extend(s.q2.iter().map(|&n| Cell::Count(n)));
    c.push(Cell::Count(s.complaints));
    c.push(Cell::Count(s.suggestions));
    c
}

/// The table's rows, then its total (unless the table is the total).
fn table_rows(t: &ReportTable) -> impl Iterator<Item = &ReportRow> {
    let total = (t.by != super::Dimension::Total).then_some(&t.total);
    t.rows.iter().chain(total)
}

pub(super) fn feedback_headings() -> Vec<String> {
    [
        "Loại",
        "Mã cuộc gọi",
        "Mã phiếu",
        "Mã hồ sơ",
        "Đơn vị",
        "Thời điểm gọi",
        "Nội dung (ghi bằng chữ)",
        "Tệp ghi âm",
        "Thời lượng (giây)",
    ]
    .map(String::from)
    .to_vec()
}

pub(super) fn feedback_cells(f: &Feedback) -> Vec<Cell> {
    let local = f.at.with_timezone(&Ho_Chi_Minh);
    vec![
        Cell::Text(f.kind.label().into()),
        Cell::Text(f.call_id.clone()),
        Cell::Text(f.response_id.clone()),
        Cell::Text(f.dossier_code.clone().unwrap_or_default()),
        Cell::Text(f.unit_code.clone().unwrap_or_default()),
        Cell::Text(local.format("%Y-%m-%d %H:%M").to_string()),
        Cell::Text(f.text.clone().unwrap_or_default()),
        Cell::Text(f.clip_path.clone().unwrap_or_default()),
        Cell::Decimal(f.clip_ms.map(|ms| ms as f64 / 1000.0)),
    ]
}

pub(super) fn csv_bytes(
    headings: Vec<String>,
    rows: impl Iterator<Item = Vec<Cell>>,
) -> Result<Vec<u8>, ReportError> {
    let mut w = csv::Writer::from_writer(BOM.to_vec());
    w.write_record(&headings)?;
    for r in rows {
        w.write_record(r.iter().map(Cell::csv))?;
    }
    w.into_inner()
        .map_err(|e| ReportError::Csv(e.into_error().into()))
}

/// Writes headings in row 0 and `rows` below, on `ws`.
pub(super) fn fill_sheet(
    ws: &mut Worksheet,
    headings: &[String],
    rows: impl Iterator<Item = Vec<Cell>>,
    f: &Formats,
) -> Result<(), XlsxError> {
    for (c, h) in (0u16..).zip(headings) {
        ws.write_string_with_format(0, c, h, &f.header)?;
    }
    for (r, cells) in (1u32..).zip(rows) {
        for (c, cell) in (0u16..).zip(&cells) {
            cell.write(ws, r, c, f)?;
        }
    }
    ws.set_freeze_panes(1, 0)?;
    ws.set_column_width(1, 36)?;
    Ok(())
}

/// The table as CSV (UTF-8 with BOM), its total as the last row.
pub fn csv_table(t: &ReportTable) -> Result<Vec<u8>, ReportError> {
    csv_bytes(
        table_headings(t.by.heading()),
        table_rows(t).map(table_cells),
    )
}

/// The table as a one-sheet XLSX workbook.
pub fn xlsx_table(t: &ReportTable) -> Result<Vec<u8>, ReportError> {
    let mut wb = Workbook::new();
    let f = Formats::new();
    let ws = wb.add_worksheet().set_name(t.by.heading())?;
    fill_sheet(
        ws,
        &table_headings(t.by.heading()),
        table_rows(t).map(table_cells),
        &f,
    )?;
    Ok(wb.save_to_buffer()?)
}

/// Complaints and suggestions as CSV (UTF-8 with BOM).
pub fn csv_feedback(list: &[Feedback]) -> Result<Vec<u8>, ReportError> {
    csv_bytes(feedback_headings(), list.iter().map(feedback_cells))
}

/// Complaints and suggestions as a one-sheet XLSX workbook.
pub fn xlsx_feedback(list: &[Feedback]) -> Result<Vec<u8>, ReportError> {
    let mut wb = Workbook::new();
    let f = Formats::new();
    let ws = wb.add_worksheet().set_name("Góp ý")?;
    fill_sheet(
        ws,
        &feedback_headings(),
        list.iter().map(feedback_cells),
        &f,
    )?;
    Ok(wb.save_to_buffer()?)
}

#[cfg(test)]
mod tests {
    use super::super::{Dimension, ReportRow, Stats};
    use super::*;

    fn table() -> ReportTable {
        let stats = Stats {
            dialled: 4,
            answered: 3,
            surveyed: 3,
            q1: [2, 1, 0],
            q4: [0, 0, 0, 0, 0, 0, 0, 0, 1, 1],
            ..Stats::default()
        };
        let row = ReportRow::new(Some("tp-sa-dec".into()), "Thành phố Sa Đéc".into(), stats);
        ReportTable {
            by: Dimension::Unit,
            total: ReportRow::new(None, "Tổng cộng".into(), stats),
            rows: vec![row],
        }
    }

    #[test]
    fn csv_has_bom_vietnamese_headings_and_a_total() {
        let bytes = csv_table(&table()).unwrap();
        assert!(bytes.starts_with(BOM));
        let text = std::str::from_utf8(&bytes[BOM.len()..]).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let h = r.headers().unwrap().clone();
        assert_eq!(&h[1], "Đơn vị");
        assert_eq!(h.len(), table_headings("x").len());
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][1], "Thành phố Sa Đéc");
        let col = |name: &str| h.iter().position(|x| x == name).unwrap();
        assert_eq!(&rows[0][col("Tỉ lệ hài lòng (%)")], "66.67");
        assert_eq!(&rows[0][col("Tỉ lệ phản hồi (%)")], "75.00");
        assert_eq!(&rows[0][col("Điểm trung bình (câu 4)")], "9.50");
        assert_eq!(&rows[1][1], "Tổng cộng");
    }

    #[test]
    fn undefined_rates_are_empty_cells() {
        assert_eq!(Cell::Percent(None).csv(), "");
        assert_eq!(Cell::Decimal(Some(7.0)).csv(), "7.00");
    }

    fn feedback() -> Feedback {
        Feedback {
            kind: super::super::FeedbackKind::Complaint,
            call_id: "c1".into(),
            response_id: "r1".into(),
            dossier_code: Some("HS-1".into()),
            unit_code: Some("tp-sa-dec".into()),
            at: chrono::Utc::now(),
            text: None,
            clip_path: None,
            clip_ms: None,
        }
    }

    #[test]
    fn csv_text_that_would_run_as_a_formula_is_escaped() {
        for evil in [
            "=HYPERLINK(\"http://evil.example\",\"Xem\")",
            "+1+1",
            "-2+3",
            "@SUM(A1:A9)",
            "\t=1",
            "\r=1",
            "\n=1",
        ] {
            assert_eq!(csv_text(evil), format!("'{evil}"), "{evil:?}");
        }
        for fine in ["Thành phố Sa Đéc", "1022", "", " =x", "a=b", "'quoted"] {
            assert_eq!(csv_text(fine), fine);
        }
        let list = [Feedback {
            text: Some("=cmd|' /C calc'!A0".into()),
            ..feedback()
        }];
        let bytes = csv_feedback(&list).unwrap();
        let mut r = csv::Reader::from_reader(&bytes[BOM.len()..]);
        let row = r.records().next().unwrap().unwrap();
        assert_eq!(&row[6], "'=cmd|' /C calc'!A0");
    }

    #[test]
    fn xlsx_writes_formula_like_text_as_text() {
        use calamine::{Data, Reader, Xlsx};
        let list = [Feedback {
            text: Some("=1+1".into()),
            ..feedback()
        }];
        let bytes = xlsx_feedback(&list).unwrap();
        let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
        let sheet = wb.sheet_names()[0].clone();
        let cells = wb.worksheet_range(&sheet).unwrap();
        assert_eq!(
            cells.get_value((1, 6)),
            Some(&Data::String("=1+1".into())),
            "the text itself, not a formula's value"
        );
        let formulas = wb.worksheet_formula(&sheet).unwrap();
        assert!(
            formulas.used_cells().all(|(_, _, f)| f.is_empty()),
            "no formula in the sheet"
        );
    }

    #[test]
    fn xlsx_is_a_zip_workbook() {
        let bytes = xlsx_table(&table()).unwrap();
        assert!(bytes.starts_with(b"PK"));
    }
}
