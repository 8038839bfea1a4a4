//! Coverage reports (dossiers, RR1, weighted estimates with n, 95 % interval
//! and small-cell flag) as CSV and XLSX, through the cells and sheet filler
//! of `export`.

use rust_xlsxwriter::Workbook;

use super::coverage::{CoverageReport, CoverageRow, row_level};
use super::estimate::Estimate;
use super::export::{Cell, Formats, csv_bytes, fill_sheet};
use super::{Dimension, ReportError};

/// What a flagged cell says: the figure is shown, with a warning.
pub const SMALL_CELL: &str = "Ít mẫu, thận trọng khi sử dụng";

/// The headings of a coverage sheet, `group` naming the grouping column.
pub(super) fn coverage_headings(group: &str, min_n: u64) -> Vec<String> {
    let mut h: Vec<String> = [
        "Mã",
        group,
        "Cấp",
        "Hồ sơ đã trả kết quả",
        "Hồ sơ được chọn khảo sát",
        "Số cuộc gọi",
        "Hồ sơ liên lạc được",
        "Hồ sơ có trả lời",
        "Phiếu hoàn thành",
    ]
    .map(String::from)
    .to_vec();
    for what in [
        "Tỉ lệ phản hồi RR1 (%)",
        "Tỉ lệ hài lòng (%)",
        "Điểm trung bình",
    ] {
        h.push(what.into());
        h.push(format!("{what}: n"));
        h.push(format!("{what}: KTC 95% dưới"));
        h.push(format!("{what}: KTC 95% trên"));
        h.push(format!("{what}: cảnh báo (n < {min_n})"));
    }
    h.push("Số đơn vị (tầng)".into());
    h
}

fn estimate_cells(e: &Estimate, percent: bool, out: &mut Vec<Cell>) {
    let num = |v: Option<f64>| {
        if percent {
            Cell::Percent(v)
        } else {
            Cell::Decimal(v)
        }
    };
    out.push(num(e.value));
    out.push(Cell::Count(e.n));
    out.push(num(e.ci95.map(|c| c.low)));
    out.push(num(e.ci95.map(|c| c.high)));
    out.push(Cell::Text(if e.small { SMALL_CELL } else { "" }.into()));
}

pub(super) fn coverage_cells(r: &CoverageRow) -> Vec<Cell> {
    let c = &r.counts;
    let mut out = vec![
        Cell::Text(r.key.clone().unwrap_or_default()),
        Cell::Text(r.label.clone()),
        Cell::Text(row_level(r).to_owned()),
        Cell::Count(c.frame),
        Cell::Count(c.sampled),
        Cell::Count(c.attempts),
        Cell::Count(c.reached),
        Cell::Count(c.responded),
        Cell::Count(c.complete),
    ];
    estimate_cells(&r.response_rate, true, &mut out);
    estimate_cells(&r.satisfaction, true, &mut out);
    estimate_cells(&r.score, false, &mut out);
    out.push(Cell::Count(r.strata as u64));
    out
}

/// The report's rows, then its total (unless the report is the total).
fn rows(r: &CoverageReport) -> impl Iterator<Item = &CoverageRow> {
    let total = (r.by != Dimension::Total).then_some(&r.total);
    r.rows.iter().chain(total)
}

/// Writes `r` on a new sheet `name` of `wb`.
pub(super) fn coverage_sheet(
    wb: &mut Workbook,
    name: &str,
    r: &CoverageReport,
    f: &Formats,
) -> Result<(), ReportError> {
    let ws = wb.add_worksheet().set_name(name)?;
    fill_sheet(
        ws,
        &coverage_headings(r.by.heading(), r.min_responses),
        rows(r).map(coverage_cells),
        f,
    )?;
    Ok(())
}

/// The coverage report as CSV (UTF-8 with BOM), its total as the last row.
pub fn csv_coverage(r: &CoverageReport) -> Result<Vec<u8>, ReportError> {
    csv_bytes(
        coverage_headings(r.by.heading(), r.min_responses),
        rows(r).map(coverage_cells),
    )
}

/// The coverage report as a one-sheet XLSX workbook.
pub fn xlsx_coverage(r: &CoverageReport) -> Result<Vec<u8>, ReportError> {
    let mut wb = Workbook::new();
    coverage_sheet(&mut wb, r.by.heading(), r, &Formats::new())?;
    Ok(wb.save_to_buffer()?)
}
