//! Reading dossier CSV files.
//!
//! What one-stop systems and Excel produce: UTF-8 with or without a BOM (Excel's
//! "CSV UTF-8" writes one), comma-separated, or semicolon-separated where the
//! locale's decimal mark is a comma (Excel in `vi-VN` saves "CSV" that way). The
//! delimiter is taken from the header line, which holds no data to confuse it.
//! Quoted fields follow RFC 4180 (§2: fields may hold delimiters, quotes doubled,
//! and line breaks, so a record's line number is where it starts).

use std::path::Path;

use super::IntakeError;
use super::row::{Header, RawRow};

/// Reads `path` into data rows with their line numbers (the header is line 1).
pub fn read_path(path: &Path) -> Result<Vec<(usize, RawRow)>, IntakeError> {
    let bytes = std::fs::read(path).map_err(|source| IntakeError::Read {
        path: path.to_owned(),
        source,
    })?;
    read_bytes(&bytes, path)
}

/// Reads CSV `bytes`; `origin` names the file in errors.
pub fn read_bytes(bytes: &[u8], origin: &Path) -> Result<Vec<(usize, RawRow)>, IntakeError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if let Err(e) = std::str::from_utf8(bytes) {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        return Err(IntakeError::NotUtf8 {
            path: origin.to_owned(),
            line,
        });
    }
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(sniff_delimiter(bytes))
        .from_reader(bytes);
    let csv_error = |source| IntakeError::Csv {
        path: origin.to_owned(),
        source,
    };
    let mut records = reader.records();
    let header = match records.next() {
        Some(record) => record.map_err(csv_error)?,
        None => return Err(IntakeError::Empty(origin.to_owned())),
    };
    let header = Header::parse(header.iter()).map_err(|missing| IntakeError::MissingColumns {
        path: origin.to_owned(),
        missing,
    })?;
    let mut rows = Vec::new();
    let mut lines = LineCounter::default();
    for record in records {
        let record = record.map_err(csv_error)?;
        let start = record.position().map_or(0, |p| p.byte() as usize);
        let line = lines.line_at(bytes, start);
        let row = header.row(|i| record.get(i));
        if !row.is_blank() {
            rows.push((line, row));
        }
    }
    Ok(rows)
}

/// Line numbers from byte offsets.
///
/// The csv crate's own line count lags by one after a CRLF (the `\n` of the
/// previous record is consumed as part of the next), so lines are counted here:
/// a record starts after any line breaks at its reported offset.
#[derive(Default)]
struct LineCounter {
    byte: usize,
    newlines: usize,
}

impl LineCounter {
    /// The 1-based line of the record reported at `start`; offsets must grow.
    fn line_at(&mut self, bytes: &[u8], start: usize) -> usize {
        let skip = bytes[start..]
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        let start = start + skip;
        self.newlines += bytes[self.byte..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.byte = start;
        self.newlines + 1
    }
}

/// The most frequent of `,`, `;` and tab outside quotes on the first line;
/// comma when none appears.
fn sniff_delimiter(bytes: &[u8]) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for &b in bytes {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            _ if quoted => {}
            _ => {
                if let Some((_, n)) = counts.iter_mut().find(|(d, _)| *d == b) {
                    *n += 1;
                }
            }
        }
    }
    // max_by_key keeps the last maximum: reverse so that a tie picks the comma.
    counts
        .iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .filter(|(_, n)| *n > 0)
        .map_or(b',', |(d, _)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "code,procedure,field,unit,applicant_kind,applicant_name,phone,received_at,returned_at";

    fn read(text: &str) -> Result<Vec<(usize, RawRow)>, IntakeError> {
        read_bytes(text.as_bytes(), Path::new("t.csv"))
    }

    #[test]
    fn sniffs_the_delimiter_from_the_header() {
        assert_eq!(sniff_delimiter(b"a,b,c\n1;2;3;4;5"), b',');
        assert_eq!(sniff_delimiter(b"a;b;c\r\n1,2"), b';');
        assert_eq!(sniff_delimiter(b"\"a,b\";c;d\n"), b';');
        assert_eq!(sniff_delimiter(b"a\tb\n"), b'\t');
        assert_eq!(sniff_delimiter(b"a;b,c\n"), b',');
        assert_eq!(sniff_delimiter(b"abc"), b',');
    }

    #[test]
    fn line_numbers_count_from_the_header_and_skip_blank_rows() {
        let text = format!(
            "{HEADER}\nHS-1,p,f,u,k,n,1,r,\n\n,,,,,,,,\n\"HS-2\",\"thủ tục\nhai dòng\",f,u,k,n,1,r,\nHS-3,p,f,u,k,n,1,r,"
        );
        let rows = read(&text).unwrap();
        let lines: Vec<(usize, &str)> = rows.iter().map(|(l, r)| (*l, r.code.as_str())).collect();
        assert_eq!(lines, [(2, "HS-1"), (5, "HS-2"), (7, "HS-3")]);
        assert_eq!(rows[1].1.procedure, "thủ tục\nhai dòng");
    }

    #[test]
    fn semicolons_with_bom_and_crlf() {
        let text = format!(
            "\u{feff}{}\r\nHS-1;p;f;u;k;n;1;r;\r\n\r\nHS-2;\"a\r\nb\";f\r\nHS-3;p\r\n",
            HEADER.replace(',', ";")
        );
        let rows = read(&text).unwrap();
        let lines: Vec<(usize, &str)> = rows.iter().map(|(l, r)| (*l, r.code.as_str())).collect();
        assert_eq!(lines, [(2, "HS-1"), (4, "HS-2"), (6, "HS-3")]);
    }

    #[test]
    fn short_rows_leave_missing_cells_empty() {
        let rows = read(&format!("{HEADER}\nHS-1,p\n")).unwrap();
        assert_eq!(rows[0].1.procedure, "p");
        assert_eq!(rows[0].1.phone, "");
    }

    #[test]
    fn file_level_errors() {
        let e = read("code,procedure\nx,y\n").unwrap_err();
        assert!(
            matches!(&e, IntakeError::MissingColumns { missing, .. } if missing.len() == 6),
            "{e:?}"
        );
        assert!(matches!(read("").unwrap_err(), IntakeError::Empty(_)));
        let e = read_bytes(b"code\nM\xe1y\n", Path::new("t.csv")).unwrap_err();
        assert!(matches!(e, IntakeError::NotUtf8 { line: 2, .. }), "{e:?}");
    }
}
