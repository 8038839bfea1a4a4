//! The API addresses the pages point the browser at (audio, waveform,
//! clips, exports). They live here, in one place, because the handlers
//! behind them belong to the recordings and reports modules: when a route
//! moves, only this file changes, and the tests check what the pages link to.

use serde::Serialize;

use crate::report::Dimension;

/// The links of one call's review page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Links {
    /// The call's recording as `audio/wav`, with Range support for seeking.
    pub audio: String,
    /// The same file as an attachment.
    pub download: String,
    /// Min/max peaks per channel, JSON, for the waveform.
    pub waveform: String,
}

impl Links {
    pub fn for_call(call_id: &str) -> Links {
        let id = super::filters::url_encode(call_id);
        Links {
            audio: format!("/api/v1/calls/{id}/recording"),
            download: format!("/api/v1/calls/{id}/recording?download=1"),
            waveform: format!("/api/v1/calls/{id}/waveform"),
        }
    }

    /// A spoken-answer clip of the call (answer `key`).
    pub fn clip(call_id: &str, key: &str) -> String {
        format!(
            "/api/v1/calls/{}/clips/{}",
            super::filters::url_encode(call_id),
            super::filters::url_encode(key)
        )
    }
}

/// The report tables offered for download, in the dashboard's order.
const EXPORTED: [Dimension; 6] = [
    Dimension::Unit,
    Dimension::Level,
    Dimension::Field,
    Dimension::Month,
    Dimension::Day,
    Dimension::Campaign,
];

/// One report table's downloads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableExport {
    /// The grouping's Vietnamese name ("Đơn vị", "Tháng", …).
    pub label: &'static str,
    pub csv: String,
    pub xlsx: String,
}

/// The downloads of the reports API for the filters a page shows: each
/// report table and the complaints and suggestions list as CSV and XLSX, and
/// where the monthly workbook's form posts (its month comes from the form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exports {
    pub tables: Vec<TableExport>,
    pub feedback_csv: String,
    pub feedback_xlsx: String,
    pub monthly: &'static str,
    /// The filters as (name, value), for the monthly form's hidden fields.
    pub hidden: Vec<(String, String)>,
}

impl Exports {
    /// `filters` are API query parameters (`from`, `to`, `unit`, …); blank
    /// values are left out, as the API reads `unit=` as a unit named "".
    pub fn new<'a>(filters: impl IntoIterator<Item = (&'a str, &'a str)>) -> Exports {
        let hidden: Vec<(String, String)> = filters
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let link = |path: &str, extra: &[(&str, &str)]| {
            let pairs: Vec<(&str, &str)> = extra
                .iter()
                .copied()
                .chain(hidden.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .collect();
            format!(
                "{path}?{}",
                serde_urlencoded::to_string(pairs).unwrap_or_default()
            )
        };
        let tables = EXPORTED
            .iter()
            .map(|by| TableExport {
                label: by.heading(),
                csv: link(REPORTS, &[("by", by.as_str()), ("format", "csv")]),
                xlsx: link(REPORTS, &[("by", by.as_str()), ("format", "xlsx")]),
            })
            .collect();
        Exports {
            tables,
            feedback_csv: link(FEEDBACK, &[("format", "csv")]),
            feedback_xlsx: link(FEEDBACK, &[("format", "xlsx")]),
            monthly: MONTHLY,
            hidden,
        }
    }
}

const REPORTS: &str = "/api/v1/reports";
const FEEDBACK: &str = "/api/v1/reports/feedback";
const MONTHLY: &str = "/api/v1/reports/monthly";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_carry_the_filters() {
        let e = Exports::new([("from", "2026-10-01"), ("to", "2026-11-01"), ("unit", " ")]);
        assert_eq!(e.tables.len(), 6);
        assert_eq!(e.tables[0].label, "Đơn vị");
        assert_eq!(
            e.tables[0].xlsx,
            "/api/v1/reports?by=unit&format=xlsx&from=2026-10-01&to=2026-11-01"
        );
        assert_eq!(
            e.feedback_csv,
            "/api/v1/reports/feedback?format=csv&from=2026-10-01&to=2026-11-01"
        );
        assert_eq!(e.hidden.len(), 2, "a blank unit is no filter");
        let e = Exports::new([("unit", "Đ&T")]);
        assert_eq!(
            e.tables[3].csv,
            "/api/v1/reports?by=month&format=csv&unit=%C4%90%26T"
        );
    }

    #[test]
    fn ids_are_encoded_in_paths() {
        let l = Links::for_call("a/b");
        assert_eq!(l.audio, "/api/v1/calls/a%2Fb/recording");
        assert_eq!(Links::clip("c1", "q3"), "/api/v1/calls/c1/clips/q3");
    }
}
