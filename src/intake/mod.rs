//! Dossier intake: importing the one-stop system's dossiers (hồ sơ) from CSV and
//! XLSX files and JSON batches.
//!
//! ## Dossier files
//!
//! `carecall import dossiers FILE` reads a CSV (`.csv`, `.txt`) or an Excel
//! workbook (`.xlsx`, first sheet). Row 1 is the header:
//!
//! ```text
//! code,procedure,field,unit,applicant_kind,applicant_name,phone,received_at,returned_at
//! ```
//!
//! | column | content | example |
//! | --- | --- | --- |
//! | `code` | dossier code (mã hồ sơ), unique | `000.00.21.H19-240304-0001` |
//! | `procedure` | procedure name (thủ tục hành chính) | `Đăng ký khai sinh` |
//! | `field` | field (lĩnh vực) | `Hộ tịch` |
//! | `unit` | unit that handled it: its code or its exact name | `tp-cao-lanh` or `Thành phố Cao Lãnh` |
//! | `applicant_kind` | `person` or `organisation` (also `cá nhân` / `tổ chức`, with or without diacritics, `individual`, `organization`) | `Cá nhân` |
//! | `applicant_name` | person's or organisation's name | `Nguyễn Văn An` |
//! | `phone` | Vietnamese mobile or landline, any usual spelling; stored as `0xxxxxxxxx` | `0912 345 678`, `+84 912 345 678` |
//! | `received_at` | date received | `04/03/2024` |
//! | `returned_at` | date the result was returned; empty if not yet | `08/03/2024 14:30` |
//!
//! - Header names are case-insensitive, columns may come in any order, other
//!   columns are ignored. Every column but `returned_at` must be present (a file
//!   without one is refused as a whole, naming it); every value but `returned_at`
//!   must be filled.
//! - Dates: `dd/mm/yyyy` or `d/m/yyyy`, optionally with `HH:MM` or `HH:MM:SS`, as
//!   one-stop systems export them; or ISO 8601 (`2024-03-04`,
//!   `2024-03-04T14:30:00`, `2024-03-04T07:30:00Z`, `…+07:00`). Times without an
//!   offset are Vietnam time (UTC+7); a date alone is midnight Vietnam time. In
//!   XLSX, date-formatted cells work too.
//! - CSV: UTF-8, with or without BOM ("CSV UTF-8" in Excel), separated by commas
//!   or semicolons (detected from the header), fields quoted as RFC 4180.
//! - Importing is idempotent on `code`: a known dossier is updated if a field
//!   changed and left alone otherwise, so the same export can be imported again.
//! - Bad rows are reported with their line number and reason and skipped; the
//!   good rows are stored. A code that appears twice in one file is refused on
//!   its second line.
//!
//! `POST /api/v1/dossiers` takes a JSON array of objects with the same keys.

mod csv;
mod date;
mod kind;
mod report;
mod row;
mod units;
mod xlsx;

pub use self::csv::read_bytes as read_csv_bytes;
pub use date::{parse as parse_date, vietnam};
pub use kind::ApplicantKind;
pub use report::{ImportReport, Outcome, RowIssue, WaitingRow};
pub use row::{Column, Header, RawRow, RowError, UnitResolver, validate};
pub use units::{UnitMatcher, unit_key};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::store::{Dossier, PendingDossier, Store, StoreError};

/// The file formats [`import_file`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    /// The format a file name's extension names, if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "txt" => Some(Format::Csv),
            "xlsx" | "xlsm" => Some(Format::Xlsx),
            _ => None,
        }
    }
}

/// Why a whole file (or batch) could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: unknown file type; give a .csv or .xlsx file (an old .xls workbook must be saved as .xlsx or CSV UTF-8 first)",
        path.display()
    )]
    UnknownFormat { path: PathBuf },
    #[error(
        "{} is not UTF-8 text (line {line}): save it from Excel as \"CSV UTF-8\"",
        path.display()
    )]
    NotUtf8 { path: PathBuf, line: usize },
    #[error("{} is not valid CSV: {source}", path.display())]
    Csv { path: PathBuf, source: ::csv::Error },
    #[error("{} is not a readable XLSX workbook: {source}", path.display())]
    Xlsx {
        path: PathBuf,
        source: calamine::XlsxError,
    },
    #[error("{} is empty: the first row must be the header", .0.display())]
    Empty(PathBuf),
    #[error(
        "{} lacks the column{} {}: the header must hold code,procedure,field,unit,applicant_kind,applicant_name,phone,received_at[,returned_at]",
        path.display(),
        if missing.len() == 1 { "" } else { "s" },
        column_list(missing)
    )]
    MissingColumns { path: PathBuf, missing: Vec<Column> },
    #[error("storing dossiers: {0}")]
    Store(#[from] StoreError),
}

fn column_list(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads the rows of a dossier file; `format` defaults to the one its
/// extension names.
pub fn read_file(path: &Path, format: Option<Format>) -> Result<Vec<(usize, RawRow)>, IntakeError> {
    let format =
        format
            .or_else(|| Format::from_path(path))
            .ok_or_else(|| IntakeError::UnknownFormat {
                path: path.to_owned(),
            })?;
    match format {
        Format::Csv => self::csv::read_path(path),
        Format::Xlsx => xlsx::read_path(path),
    }
}

/// Imports a dossier file (see the module doc for its columns): the good rows
/// are stored, the bad ones reported.
pub async fn import_file(
    store: &Store,
    path: &Path,
    resolve_unit: UnitResolver<'_>,
    format: Option<Format>,
) -> Result<ImportReport, IntakeError> {
    let rows = read_file(path, format)?;
    import_rows(store, rows, resolve_unit).await
}

/// Validates and stores `rows` (line number, row) one by one, stamping new
/// dossiers with the current time.
///
/// A dossier already stored with the same fields is not written again, so a
/// re-import counts every row unchanged. Only a database failure stops the
/// import (the rows before it stay stored; importing again completes it).
pub async fn import_rows(
    store: &Store,
    rows: Vec<(usize, RawRow)>,
    resolve_unit: UnitResolver<'_>,
) -> Result<ImportReport, IntakeError> {
    import_rows_at(store, rows, resolve_unit, Utc::now()).await
}

/// [`import_rows`] with the clock given.
pub async fn import_rows_at(
    store: &Store,
    rows: Vec<(usize, RawRow)>,
    resolve_unit: UnitResolver<'_>,
    now: DateTime<Utc>,
) -> Result<ImportReport, IntakeError> {
    let mut report = ImportReport {
        total: rows.len(),
        ..ImportReport::default()
    };
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    for (line, row) in rows {
        match check(&row, line, &mut first_seen, resolve_unit, now) {
            Ok(dossier) => report.count(store_one(store, &dossier).await?),
            Err(RowError::UnknownUnit { .. }) if waits_for_unit(&row, now) => {
                park(store, &row, now).await?;
                report.waiting.push(WaitingRow::new(line, &row));
            }
            Err(e) => report.errors.push(RowIssue::new(line, &row.code, &e)),
        }
    }
    Ok(report)
}

/// The unit matcher over the stored units and aliases.
pub async fn unit_matcher(store: &Store) -> Result<UnitMatcher, StoreError> {
    Ok(UnitMatcher::new(
        &store.units().await?,
        store.unit_aliases().await?,
    ))
}

/// Whether the unit is all that is wrong with `row`: such a row waits for
/// its unit to be mapped instead of being refused.
fn waits_for_unit(row: &RawRow, now: DateTime<Utc>) -> bool {
    validate(row, &|_: &str| Some(String::new()), now).is_ok()
}

/// Keeps `row` in the mapping list under its unit name's key.
async fn park(store: &Store, row: &RawRow, now: DateTime<Utc>) -> Result<(), StoreError> {
    let row_json = serde_json::to_string(row).expect("a row of strings serialises");
    store
        .park_dossier(&PendingDossier {
            code: row.code.trim().to_owned(),
            unit_name: row.unit.trim().to_owned(),
            name_key: unit_key(&row.unit),
            row_json,
            created_at: now,
        })
        .await
}

/// Stores the waiting rows whose unit `resolve_unit` now knows (after an
/// alias or a new unit) and takes them off the mapping list; the others keep
/// waiting. The report counts what was stored.
pub async fn release_waiting(
    store: &Store,
    resolve_unit: UnitResolver<'_>,
    now: DateTime<Utc>,
) -> Result<ImportReport, IntakeError> {
    let mut report = ImportReport::default();
    for (i, pending) in store.pending_dossiers().await?.into_iter().enumerate() {
        let Ok(row) = serde_json::from_str::<RawRow>(&pending.row_json) else {
            continue;
        };
        if resolve_unit(&row.unit).is_none() {
            continue;
        }
        report.total += 1;
        match validate(&row, resolve_unit, pending.created_at.min(now)) {
            Ok(dossier) => {
                report.count(store_one(store, &dossier).await?);
                store.unpark_dossier(&pending.code).await?;
            }
            Err(e) => report.errors.push(RowIssue::new(i + 1, &row.code, &e)),
        }
    }
    Ok(report)
}

/// Refuses a second row with an already-seen code, then validates.
fn check(
    row: &RawRow,
    line: usize,
    first_seen: &mut HashMap<String, usize>,
    resolve_unit: UnitResolver<'_>,
    now: DateTime<Utc>,
) -> Result<Dossier, RowError> {
    let code = row.code.trim();
    if !code.is_empty() {
        if let Some(&first_line) = first_seen.get(code) {
            return Err(RowError::DuplicateCode {
                code: code.to_owned(),
                first_line,
            });
        }
        first_seen.insert(code.to_owned(), line);
    }
    validate(row, resolve_unit, now)
}

/// Writes `dossier` unless it is stored exactly so already.
async fn store_one(store: &Store, dossier: &Dossier) -> Result<Outcome, StoreError> {
    let outcome = match store.dossier(&dossier.code).await? {
        None => Outcome::Inserted,
        Some(known) if same_content(&known, dossier) => return Ok(Outcome::Unchanged),
        Some(_) => Outcome::Updated,
    };
    store.upsert_dossier(dossier).await?;
    Ok(outcome)
}

/// Equal in every field but `created_at`, which the store keeps from the first
/// import.
fn same_content(a: &Dossier, b: &Dossier) -> bool {
    Dossier {
        created_at: b.created_at,
        ..a.clone()
    } == *b
}
