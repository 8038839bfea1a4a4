//! Reading dossier XLSX workbooks.
//!
//! The first sheet holds the same columns as the CSV, header in its first used
//! row. Cells are turned into the text a CSV export would hold: date cells (Excel
//! serial numbers with a date format, ECMA-376 Part 1 §18.17.4) become ISO 8601
//! local date-times, which the row parser reads as Asia/Ho_Chi_Minh time since
//! Excel stores no time zone; whole numbers lose the `.0` that a number-typed phone
//! or code column would otherwise get (a phone typed as a number has also lost its
//! leading 0, which [`crate::number::normalize`] accepts back as a 9-digit
//! national number).

use std::path::Path;

use calamine::{Data, ExcelDateTime, Reader, Xlsx};

use super::IntakeError;
use super::row::{Header, RawRow};

/// Reads the first sheet of `path` into data rows with their sheet row numbers.
pub fn read_path(path: &Path) -> Result<Vec<(usize, RawRow)>, IntakeError> {
    let xlsx_error = |source| IntakeError::Xlsx {
        path: path.to_owned(),
        source,
    };
    let mut book: Xlsx<_> = calamine::open_workbook(path).map_err(xlsx_error)?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| IntakeError::Empty(path.to_owned()))?
        .map_err(xlsx_error)?;
    let Some((first_row, _)) = range.start() else {
        return Err(IntakeError::Empty(path.to_owned()));
    };
    let mut sheet_rows = range.rows();
    let header: Vec<String> = sheet_rows
        .next()
        .ok_or_else(|| IntakeError::Empty(path.to_owned()))?
        .iter()
        .map(cell_text)
        .collect();
    let header = Header::parse(header.iter().map(String::as_str)).map_err(|missing| {
        IntakeError::MissingColumns {
            path: path.to_owned(),
            missing,
        }
    })?;
    let mut rows = Vec::new();
    for (i, cells) in sheet_rows.enumerate() {
        // Sheet rows are 0-based in calamine and 1-based on screen; +1 for the header.
        let line = first_row as usize + i + 2;
        let texts: Vec<String> = cells.iter().map(cell_text).collect();
        let row = header.row(|i| texts.get(i).map(String::as_str));
        if !row.is_blank() {
            rows.push((line, row));
        }
    }
    Ok(rows)
}

/// The text a CSV export would hold for `cell`.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(n) => n.to_string(),
        Data::Float(f) => number_text(*f),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => date_text(dt),
        Data::Error(e) => e.to_string(),
    }
}

/// `912345678` rather than `912345678.0` for whole numbers.
fn number_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

/// `2024-03-04` for a whole day, `2024-03-04T08:30:00.000` otherwise.
fn date_text(dt: &ExcelDateTime) -> String {
    if !dt.is_datetime() {
        // A duration ("[h]:mm") is no date: pass the number on to be refused.
        return number_text(dt.as_f64());
    }
    let (y, mo, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
    if (h, mi, s, ms) == (0, 0, 0, 0) {
        format!("{y:04}-{mo:02}-{d:02}")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}")
    }
}

#[cfg(test)]
mod tests {
    use calamine::ExcelDateTimeType;

    use super::*;

    #[test]
    fn cells_as_text() {
        assert_eq!(cell_text(&Data::Float(912345678.0)), "912345678");
        assert_eq!(cell_text(&Data::Float(1.5)), "1.5");
        assert_eq!(cell_text(&Data::Int(42)), "42");
        assert_eq!(cell_text(&Data::Empty), "");
        let day = ExcelDateTime::new(45355.0, ExcelDateTimeType::DateTime, false);
        assert_eq!(cell_text(&Data::DateTime(day)), "2024-03-04");
        let morning = ExcelDateTime::new(45355.3125, ExcelDateTimeType::DateTime, false);
        assert_eq!(
            cell_text(&Data::DateTime(morning)),
            "2024-03-04T07:30:00.000"
        );
        let in_1904 = ExcelDateTime::new(43893.0, ExcelDateTimeType::DateTime, true);
        assert_eq!(cell_text(&Data::DateTime(in_1904)), "2024-03-04");
    }
}
