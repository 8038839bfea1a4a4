//! What an import did, for the CLI to print and the API to return.

use serde::Serialize;

use super::row::RowError;

/// The outcome of one import: counts, and every refused row with its reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Data rows read (blank rows are skipped and not counted).
    pub total: usize,
    /// New dossiers.
    pub inserted: usize,
    /// Known dossiers whose fields changed.
    pub updated: usize,
    /// Known dossiers already stored exactly so: nothing written.
    pub unchanged: usize,
    /// Refused rows, in file order.
    pub errors: Vec<RowIssue>,
    /// Rows whose unit is unknown: kept in the mapping list, not refused,
    /// until an administrator maps the unit's name.
    pub waiting: Vec<WaitingRow>,
}

/// A row that waits for its unit to be mapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaitingRow {
    pub line: usize,
    pub code: String,
    /// The unit as the row wrote it.
    pub unit: String,
}

impl WaitingRow {
    pub fn new(line: usize, row: &super::RawRow) -> WaitingRow {
        WaitingRow {
            line,
            code: row.code.trim().to_owned(),
            unit: row.unit.trim().to_owned(),
        }
    }
}

/// One refused row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowIssue {
    /// 1-based line (CSV) or row (XLSX) number; the header is line 1. For a JSON
    /// batch, the 1-based position in the array.
    pub line: usize,
    /// The row's dossier code, if it had one.
    pub code: Option<String>,
    /// Stable machine-readable reason (see [`RowError::kind`]).
    pub kind: &'static str,
    /// What is wrong and how to fix it, in words.
    pub reason: String,
}

impl RowIssue {
    pub fn new(line: usize, code: &str, error: &RowError) -> RowIssue {
        let code = code.trim();
        RowIssue {
            line,
            code: (!code.is_empty()).then(|| code.to_owned()),
            kind: error.kind(),
            reason: error.to_string(),
        }
    }
}

/// What happened to one good row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Inserted,
    Updated,
    Unchanged,
}

impl ImportReport {
    /// Counts a stored row.
    pub fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Inserted => self.inserted += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
        }
    }

    /// Rows refused.
    pub fn rejected(&self) -> usize {
        self.errors.len()
    }

    /// Whether every row was accepted.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }
}
