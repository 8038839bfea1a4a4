//! Survey reports: satisfaction rate (Q1 "satisfied" / Q1 answered), the Q4
//! score's average and distribution, Q2 reasons, complaints (Q3) and
//! suggestions (Q5), and the response rate (answered / dialled calls), grouped
//! by unit, level, field, month, day or campaign; exported as CSV and XLSX, and the
//! plan's monthly report as one workbook (Plan 362/KH-UBND: results are
//! reported monthly per unit, level and field).
//!
//! Answers are append-only with revisions; every figure uses the latest
//! revision of each (response, question), so a correction counts once, as
//! corrected. The SQL lives in `store/reports.rs`; this module names the
//! groups and shapes the tables.

mod coverage;
mod coverage_export;
pub mod estimate;
mod export;
mod filter;
mod monthly;
mod stats;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::{Store, StoreError};
pub use coverage::{
    CoverageCell, CoverageReport, CoverageRow, CoverageSettings, DossierCounts, coverage, row_level,
};
pub use coverage_export::{SMALL_CELL, csv_coverage, xlsx_coverage};
pub use estimate::{Estimate, Interval, Stratum};
pub use export::{csv_feedback, csv_table, xlsx_feedback, xlsx_table};
pub use filter::{Dimension, FilterError, Month, ReportFilter, with_descendants};
pub use monthly::{MonthlyReport, SHEETS, monthly_report, monthly_workbook};
pub use stats::{Q1_LABELS, Q2_LABELS, Rates, Stats};

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("invalid report filter: {0}")]
    Filter(#[from] FilterError),
    #[error("reading the report data: {0}")]
    Store(#[from] StoreError),
    #[error("writing the XLSX file: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("writing the CSV file: {0}")]
    Csv(#[from] csv::Error),
}

/// One row of a report table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRow {
    /// The group's code (unit code, level, field, `YYYY-MM`, campaign id);
    /// `None` for calls that have none (no dossier, no campaign).
    pub key: Option<String>,
    /// What a reader sees: the unit's or campaign's name, the level in Vietnamese.
    pub label: String,
    pub stats: Stats,
    pub rates: Rates,
}

impl ReportRow {
    fn new(key: Option<String>, label: String, stats: Stats) -> ReportRow {
        ReportRow {
            key,
            label,
            rates: stats.rates(),
            stats,
        }
    }
}

/// A report grouped one way, with the total of its rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportTable {
    pub by: Dimension,
    pub rows: Vec<ReportRow>,
    pub total: ReportRow,
}

/// A complaint (Q3) or a suggestion (Q5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedbackKind {
    Complaint,
    Suggestion,
}

impl FeedbackKind {
    pub fn label(self) -> &'static str {
        match self {
            FeedbackKind::Complaint => "Phản ánh (câu 3)",
            FeedbackKind::Suggestion => "Góp ý (câu 5)",
        }
    }
}

/// One complaint or suggestion: spoken (clip) or typed by an operator (text).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Feedback {
    pub kind: FeedbackKind,
    pub call_id: String,
    pub response_id: String,
    pub dossier_code: Option<String>,
    pub unit_code: Option<String>,
    /// When the call started.
    pub at: DateTime<Utc>,
    pub text: Option<String>,
    pub clip_path: Option<String>,
    pub clip_ms: Option<i64>,
}

/// The report of `filter`'s calls grouped `by`.
pub async fn table(
    store: &Store,
    filter: &ReportFilter,
    by: Dimension,
) -> Result<ReportTable, ReportError> {
    filter.validate()?;
    let groups = store.report_stats(filter, by).await?;
    let labels = Labels::load(store, by).await?;
    Ok(assemble(by, groups, &labels))
}

/// The complaints and suggestions of `filter`'s calls, oldest first.
pub async fn feedback(
    store: &Store,
    filter: &ReportFilter,
    limit: Option<u64>,
) -> Result<Vec<Feedback>, ReportError> {
    filter.validate()?;
    Ok(store.report_feedback(filter, limit).await?)
}

/// Names for group keys: units' and campaigns' names from the database.
#[derive(Debug, Default)]
struct Labels {
    names: HashMap<String, String>,
}

impl Labels {
    async fn load(store: &Store, by: Dimension) -> Result<Labels, StoreError> {
        let names = match by {
            Dimension::Unit => store
                .units()
                .await?
                .into_iter()
                .map(|u| (u.code, u.name))
                .collect(),
            Dimension::Campaign => store
                .campaigns()
                .await?
                .into_iter()
                .map(|c| (c.id.0, c.name))
                .collect(),
            _ => HashMap::new(),
        };
        Ok(Labels { names })
    }

    fn label(&self, by: Dimension, key: Option<&str>) -> String {
        let Some(key) = key else {
            return "(không xác định)".to_owned();
        };
        match by {
            Dimension::Total => "Tổng cộng".to_owned(),
            Dimension::Level => level_name(key).to_owned(),
            Dimension::Month => match Month::parse(key) {
                Ok(m) => format!("Tháng {:02}/{}", m.month, m.year),
                Err(_) => key.to_owned(),
            },
            Dimension::Day => match chrono::NaiveDate::parse_from_str(key, "%Y-%m-%d") {
                Ok(d) => d.format("%d/%m/%Y").to_string(),
                Err(_) => key.to_owned(),
            },
            _ => self
                .names
                .get(key)
                .cloned()
                .unwrap_or_else(|| key.to_owned()),
        }
    }
}

/// Vietnamese name of a unit level.
pub fn level_name(level: &str) -> &str {
    match level {
        "province" => "Cấp tỉnh",
        "district" => "Cấp huyện",
        "commune" => "Cấp xã",
        other => other,
    }
}

fn assemble(by: Dimension, groups: Vec<(Option<String>, Stats)>, labels: &Labels) -> ReportTable {
    let mut total = Stats::default();
    let rows: Vec<ReportRow> = groups
        .into_iter()
        .map(|(key, stats)| {
            total.add(&stats);
            let label = labels.label(by, key.as_deref());
            ReportRow::new(key, label, stats)
        })
        .collect();
    let total = ReportRow::new(None, "Tổng cộng".to_owned(), total);
    let rows = if by == Dimension::Total {
        vec![ReportRow {
            key: Some(String::new()),
            ..total.clone()
        }]
    } else {
        rows
    };
    ReportTable { by, rows, total }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(dialled: u64, satisfied: u64) -> Stats {
        Stats {
            dialled,
            answered: dialled,
            q1: [satisfied, dialled - satisfied, 0],
            ..Stats::default()
        }
    }

    #[test]
    fn rows_are_labelled_and_totalled() {
        let labels = Labels {
            names: HashMap::from([("tp-sa-dec".to_owned(), "Thành phố Sa Đéc".to_owned())]),
        };
        let t = assemble(
            Dimension::Unit,
            vec![
                (None, stats(2, 0)),
                (Some("tp-sa-dec".into()), stats(4, 3)),
                (Some("xa-moi".into()), stats(4, 4)),
            ],
            &labels,
        );
        let names: Vec<&str> = t.rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(names, ["(không xác định)", "Thành phố Sa Đéc", "xa-moi"]);
        assert_eq!(t.total.stats.dialled, 10);
        assert_eq!(t.total.rates.satisfaction, Some(0.7));
    }

    #[test]
    fn total_table_has_one_row_even_when_empty() {
        let t = assemble(Dimension::Total, vec![], &Labels::default());
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.rows[0].stats, Stats::default());
        assert_eq!(t.rows[0].label, "Tổng cộng");
    }

    #[test]
    fn months_and_levels_read_in_vietnamese() {
        let l = Labels::default();
        assert_eq!(l.label(Dimension::Month, Some("2026-10")), "Tháng 10/2026");
        assert_eq!(l.label(Dimension::Level, Some("commune")), "Cấp xã");
        assert_eq!(l.label(Dimension::Day, Some("2026-10-05")), "05/10/2026");
    }
}
