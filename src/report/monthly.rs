//! The plan's monthly report as one workbook: first the cases (dossiers
//! returned in the month: coverage, RR1, weighted satisfaction and score with
//! n, 95 % interval and small-cell flag) per unit, field and level; then the
//! call attempts' totals, per unit, per field and per level; then the
//! complaints and suggestions of the month (Plan 362/KH-UBND: results are
//! reported monthly and reviewed at year end).

use rust_xlsxwriter::Workbook;
use serde::Serialize;

use super::coverage::{CoverageReport, CoverageSettings, coverage};
use super::coverage_export::coverage_sheet;
use super::export::{
    Formats, feedback_cells, feedback_headings, fill_sheet, table_cells, table_headings,
};
use super::{Dimension, Feedback, Month, ReportError, ReportFilter, ReportTable, feedback, table};
use crate::store::Store;

/// The sheets of the monthly workbook, in order: cases (dossiers) first,
/// then call attempts, then feedback.
pub const SHEETS: [&str; 8] = [
    "Hồ sơ theo đơn vị",
    "Hồ sơ theo lĩnh vực",
    "Hồ sơ theo cấp",
    "Tổng hợp",
    "Theo đơn vị",
    "Theo lĩnh vực",
    "Theo cấp",
    "Góp ý",
];

/// Everything the monthly workbook shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthlyReport {
    pub month: Month,
    /// Dossiers returned in the month, per unit (rolled up), field, level.
    pub cases_by_unit: CoverageReport,
    pub cases_by_field: CoverageReport,
    pub cases_by_level: CoverageReport,
    pub total: ReportTable,
    pub by_unit: ReportTable,
    pub by_field: ReportTable,
    pub by_level: ReportTable,
    pub feedback: Vec<Feedback>,
}

/// The report of `month` (Asia/Ho_Chi_Minh calendar) over `scope`'s other
/// filters; `scope`'s period is replaced by the month (calls started in it;
/// dossiers returned in it).
pub async fn monthly_report(
    store: &Store,
    month: Month,
    scope: &ReportFilter,
    settings: &CoverageSettings,
) -> Result<MonthlyReport, ReportError> {
    let (from, to) = month.period();
    let f = ReportFilter {
        from: Some(from),
        to: Some(to),
        ..scope.clone()
    };
    let cases = ReportFilter {
        disposition: None,
        operator: None,
        score_min: None,
        score_max: None,
        satisfied: None,
        has_complaint: None,
        ..f.clone()
    };
    Ok(MonthlyReport {
        month,
        cases_by_unit: coverage(store, &cases, Dimension::Unit, settings).await?,
        cases_by_field: coverage(store, &cases, Dimension::Field, settings).await?,
        cases_by_level: coverage(store, &cases, Dimension::Level, settings).await?,
        total: table(store, &f, Dimension::Total).await?,
        by_unit: table(store, &f, Dimension::Unit).await?,
        by_field: table(store, &f, Dimension::Field).await?,
        by_level: table(store, &f, Dimension::Level).await?,
        feedback: feedback(store, &f, None).await?,
    })
}

/// The workbook: one sheet per [`SHEETS`] entry, Vietnamese headings in row 1,
/// each grouped sheet ending with its total row.
pub fn monthly_workbook(r: &MonthlyReport) -> Result<Vec<u8>, ReportError> {
    let mut wb = Workbook::new();
    let f = Formats::new();
    let cases = [&r.cases_by_unit, &r.cases_by_field, &r.cases_by_level];
    for (name, c) in SHEETS.iter().zip(cases) {
        coverage_sheet(&mut wb, name, c, &f)?;
    }
    let tables = [&r.total, &r.by_unit, &r.by_field, &r.by_level];
    for (name, t) in SHEETS[3..].iter().zip(tables) {
        let ws = wb.add_worksheet().set_name(*name)?;
        let total = (t.by != Dimension::Total).then_some(&t.total);
        fill_sheet(
            ws,
            &table_headings(t.by.heading()),
            t.rows.iter().chain(total).map(table_cells),
            &f,
        )?;
    }
    let ws = wb.add_worksheet().set_name(SHEETS[7])?;
    fill_sheet(
        ws,
        &feedback_headings(),
        r.feedback.iter().map(feedback_cells),
        &f,
    )?;
    Ok(wb.save_to_buffer()?)
}
