//! One dossier row: the columns, the raw text of a row, and its validation into a
//! [`Dossier`].
//!
//! Validation is pure (no I/O): the unit lookup is a function the caller supplies,
//! so the same code serves file imports and the JSON API, and tests need no
//! database.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

use super::date;
use super::kind::ApplicantKind;
use crate::number::{self, NumberError, NumberFormat};
use crate::store::Dossier;

/// Looks a unit up by its code or its exact name and returns its code.
pub type UnitResolver<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The columns of a dossier file, in their documented order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Code,
    Procedure,
    Field,
    Unit,
    ApplicantKind,
    ApplicantName,
    Phone,
    ReceivedAt,
    ReturnedAt,
}

impl Column {
    pub const ALL: [Column; 9] = [
        Column::Code,
        Column::Procedure,
        Column::Field,
        Column::Unit,
        Column::ApplicantKind,
        Column::ApplicantName,
        Column::Phone,
        Column::ReceivedAt,
        Column::ReturnedAt,
    ];

    /// The header name.
    pub fn name(self) -> &'static str {
        match self {
            Column::Code => "code",
            Column::Procedure => "procedure",
            Column::Field => "field",
            Column::Unit => "unit",
            Column::ApplicantKind => "applicant_kind",
            Column::ApplicantName => "applicant_name",
            Column::Phone => "phone",
            Column::ReceivedAt => "received_at",
            Column::ReturnedAt => "returned_at",
        }
    }

    /// The one-stop information system's Vietnamese headers for this column,
    /// folded (lower case, no diacritics, single spaces; see `kind::fold`).
    /// Its exports name the columns in Vietnamese ("Mã hồ sơ", "Ngày trả kết
    /// quả"…), and issue 10 asked that such a file import as it comes.
    fn vietnamese(self) -> &'static [&'static str] {
        match self {
            Column::Code => &["ma ho so", "so ho so", "ma so ho so"],
            Column::Procedure => &["ten thu tuc", "thu tuc", "thu tuc hanh chinh", "ten tthc"],
            Column::Field => &["linh vuc", "ten linh vuc"],
            Column::Unit => &[
                "don vi",
                "ten don vi",
                "co quan",
                "co quan giai quyet",
                "don vi tiep nhan",
                "noi tiep nhan",
            ],
            Column::ApplicantKind => &["doi tuong", "loai doi tuong", "loai chu ho so"],
            Column::ApplicantName => &[
                "chu ho so",
                "ten chu ho so",
                "ho ten",
                "ho va ten",
                "nguoi nop",
                "ten nguoi nop",
                "to chuc, ca nhan",
            ],
            Column::Phone => &["so dien thoai", "dien thoai", "sdt", "so dt"],
            Column::ReceivedAt => &["ngay tiep nhan", "ngay nhan"],
            Column::ReturnedAt => &["ngay tra ket qua", "ngay tra", "ngay tra kq"],
        }
    }

    /// Whether `header` (as written in a file) names this column: the English
    /// name (`-` or a space for `_`) or one of the Vietnamese headers, in any
    /// case, with or without diacritics.
    fn matches(self, header: &str) -> bool {
        let folded = super::kind::fold(header);
        let words = folded.split_whitespace().collect::<Vec<_>>().join(" ");
        words == self.name().replace('_', " ") || self.vietnamese().contains(&words.as_str())
    }

    /// Whether a file without this column is refused. `returned_at` may be left
    /// out: an export of dossiers still in progress has no return dates yet.
    pub fn required(self) -> bool {
        self != Column::ReturnedAt
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where each column sits in a file's header row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    index: [Option<usize>; Column::ALL.len()],
}

impl Header {
    /// Maps header cells to columns: case-insensitive, surrounding spaces and a
    /// UTF-8 BOM ignored, `-` or a space accepted for `_`, the one-stop
    /// system's Vietnamese headers accepted with or without diacritics; unknown
    /// columns are ignored and the first of two same-named columns wins. Errs
    /// with the required columns that are missing.
    pub fn parse<'a>(cells: impl IntoIterator<Item = &'a str>) -> Result<Header, Vec<Column>> {
        let mut index = [None; Column::ALL.len()];
        for (i, cell) in cells.into_iter().enumerate() {
            let name = cell.trim_start_matches('\u{feff}');
            if let Some(c) = Column::ALL.iter().position(|c| c.matches(name)) {
                index[c].get_or_insert(i);
            }
        }
        let missing: Vec<Column> = Column::ALL
            .into_iter()
            .filter(|c| c.required() && index[*c as usize].is_none())
            .collect();
        if missing.is_empty() {
            Ok(Header { index })
        } else {
            Err(missing)
        }
    }

    /// Builds a row from the cell text at each position (`None` past the end).
    pub fn row<'a>(&self, cell: impl Fn(usize) -> Option<&'a str>) -> RawRow {
        let get = |c: Column| {
            self.index[c as usize]
                .and_then(&cell)
                .unwrap_or("")
                .to_owned()
        };
        RawRow {
            code: get(Column::Code),
            procedure: get(Column::Procedure),
            field: get(Column::Field),
            unit: get(Column::Unit),
            applicant_kind: get(Column::ApplicantKind),
            applicant_name: get(Column::ApplicantName),
            phone: get(Column::Phone),
            received_at: get(Column::ReceivedAt),
            returned_at: get(Column::ReturnedAt),
        }
    }
}

/// A row as read, every cell as text. Deserialises from a JSON object with the
/// column names as keys (for `POST /api/v1/dossiers`); a missing key is an empty
/// cell and numbers are taken as their decimal text, so `"phone": 912345678` works.
#[derive(Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct RawRow {
    #[serde(default, deserialize_with = "text")]
    pub code: String,
    #[serde(default, deserialize_with = "text")]
    pub procedure: String,
    #[serde(default, deserialize_with = "text")]
    pub field: String,
    /// The unit's code or exact name.
    #[serde(default, deserialize_with = "text")]
    pub unit: String,
    #[serde(default, deserialize_with = "text")]
    pub applicant_kind: String,
    #[serde(default, deserialize_with = "text")]
    pub applicant_name: String,
    #[serde(default, deserialize_with = "text")]
    pub phone: String,
    #[serde(default, deserialize_with = "text")]
    pub received_at: String,
    #[serde(default, deserialize_with = "text")]
    pub returned_at: String,
}

impl RawRow {
    /// Whether every cell is blank (spreadsheets leave such rows behind).
    pub fn is_blank(&self) -> bool {
        [
            &self.code,
            &self.procedure,
            &self.field,
            &self.unit,
            &self.applicant_kind,
            &self.applicant_name,
            &self.phone,
            &self.received_at,
            &self.returned_at,
        ]
        .iter()
        .all(|s| s.trim().is_empty())
    }
}

/// Names and phone numbers stay out of logs.
impl fmt::Debug for RawRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRow")
            .field("code", &self.code)
            .field("procedure", &self.procedure)
            .field("field", &self.field)
            .field("unit", &self.unit)
            .field("applicant_kind", &self.applicant_kind)
            .field("applicant_name", &"{REDACTED}")
            .field("phone", &"{REDACTED}")
            .field("received_at", &self.received_at)
            .field("returned_at", &self.returned_at)
            .finish()
    }
}

/// A string, a number or null as text.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        S(String),
        I(i64),
        U(u64),
        F(f64),
    }
    Ok(match Option::<Text>::deserialize(d)? {
        None => String::new(),
        Some(Text::S(s)) => s,
        Some(Text::I(n)) => n.to_string(),
        Some(Text::U(n)) => n.to_string(),
        Some(Text::F(n)) => n.to_string(),
    })
}

/// Why a row was refused. Messages never quote the phone number or the name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("{column} is empty")]
    MissingValue { column: Column },
    #[error("phone: {0}")]
    BadPhone(#[source] NumberError),
    #[error(
        "phone: a {digits}-digit service number is not a citizen's phone; give a mobile or landline"
    )]
    ServiceNumber { digits: usize },
    #[error(
        "{column}: {value:?} is not a date; write dd/mm/yyyy (optionally HH:MM[:SS]) or ISO 8601 (2024-03-04, 2024-03-04T08:30:00+07:00)"
    )]
    BadDate { column: Column, value: String },
    #[error(
        "returned_at ({}) is before received_at ({})",
        date::display(*returned),
        date::display(*received)
    )]
    ReturnedBeforeReceived {
        received: DateTime<Utc>,
        returned: DateTime<Utc>,
    },
    #[error(
        "applicant_kind {value:?} is unknown; write person (cá nhân) or organisation (tổ chức)"
    )]
    UnknownApplicantKind { value: String },
    #[error("unit {value:?} is unknown: give a unit's code or its exact name as in the unit list")]
    UnknownUnit { value: String },
    /// Found by the import, not by [`validate`]: a file must not hold two rows
    /// for one dossier, since only one of them could win.
    #[error("code {code} already appears on line {first_line}")]
    DuplicateCode { code: String, first_line: usize },
}

impl RowError {
    /// A stable machine-readable name for the reason.
    pub fn kind(&self) -> &'static str {
        match self {
            RowError::MissingValue { .. } => "missing_value",
            RowError::BadPhone(_) | RowError::ServiceNumber { .. } => "bad_phone",
            RowError::BadDate { .. } => "bad_date",
            RowError::ReturnedBeforeReceived { .. } => "returned_before_received",
            RowError::UnknownApplicantKind { .. } => "unknown_applicant_kind",
            RowError::UnknownUnit { .. } => "unknown_unit",
            RowError::DuplicateCode { .. } => "duplicate_code",
        }
    }
}

/// Checks `row` and builds its dossier, stamped `created_at = now` (the store keeps
/// the first stamp on later upserts). Checks run in column order and the first
/// failure is returned.
pub fn validate(
    row: &RawRow,
    resolve_unit: UnitResolver<'_>,
    now: DateTime<Utc>,
) -> Result<Dossier, RowError> {
    let code = required(&row.code, Column::Code)?;
    let procedure = required(&row.procedure, Column::Procedure)?;
    let field = required(&row.field, Column::Field)?;
    let unit = required(&row.unit, Column::Unit)?;
    let unit_code = resolve_unit(unit).ok_or_else(|| RowError::UnknownUnit {
        value: unit.to_owned(),
    })?;
    let kind = required(&row.applicant_kind, Column::ApplicantKind)?;
    let kind = ApplicantKind::parse(kind).ok_or_else(|| RowError::UnknownApplicantKind {
        value: kind.to_owned(),
    })?;
    let applicant_name = required(&row.applicant_name, Column::ApplicantName)?;
    let phone = phone(required(&row.phone, Column::Phone)?)?;
    let received = required(&row.received_at, Column::ReceivedAt)?;
    let received = date_in(received, Column::ReceivedAt)?;
    let returned = match row.returned_at.trim() {
        "" => None,
        s => Some(date_in(s, Column::ReturnedAt)?),
    };
    if let Some(returned) = returned
        && returned < received
    {
        return Err(RowError::ReturnedBeforeReceived { received, returned });
    }
    Ok(Dossier {
        code: code.to_owned(),
        procedure: procedure.to_owned(),
        field: field.to_owned(),
        unit_code,
        applicant_kind: kind.as_str().to_owned(),
        applicant_name: applicant_name.to_owned(),
        phone,
        received_at: Some(received),
        returned_at: returned,
        created_at: now,
    })
}

fn required(value: &str, column: Column) -> Result<&str, RowError> {
    match value.trim() {
        "" => Err(RowError::MissingValue { column }),
        v => Ok(v),
    }
}

/// The national form (`0xxxxxxxxx`) of a citizen's mobile or landline.
fn phone(input: &str) -> Result<String, RowError> {
    let national = number::normalize(input, NumberFormat::National).map_err(RowError::BadPhone)?;
    if !national.starts_with('0') {
        return Err(RowError::ServiceNumber {
            digits: national.len(),
        });
    }
    Ok(national)
}

fn date_in(value: &str, column: Column) -> Result<DateTime<Utc>, RowError> {
    date::parse(value).ok_or_else(|| RowError::BadDate {
        column,
        value: value.to_owned(),
    })
}

#[cfg(test)]
#[path = "row_tests.rs"]
mod tests;
