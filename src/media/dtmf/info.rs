//! DTMF carried in SIP INFO bodies (the pre-RFC 4733 habit of some gateways).
//!
//! Two de-facto formats exist, neither standardised: `application/dtmf-relay`
//! (`Signal=5\r\nDuration=160`, from Cisco) and `application/dtmf` (the body is the key).

use thiserror::Error;

/// Why an INFO body did not yield a key.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DtmfInfoError {
    /// Content type is neither `application/dtmf-relay` nor `application/dtmf`; the INFO
    /// is for something else and should be answered 415 by the caller.
    #[error("INFO content type {0:?} is not application/dtmf-relay or application/dtmf")]
    UnsupportedContentType(String),
    /// A dtmf-relay body without a `Signal=` line.
    #[error("dtmf-relay body has no Signal= line")]
    MissingSignal,
    /// The signal is not a DTMF key.
    #[error("DTMF signal {0:?} is not one of 0-9 * # A-D")]
    InvalidSignal(String),
}

/// Extract the key from a SIP INFO request's Content-Type and body.
pub fn parse_info(content_type: &str, body: &str) -> Result<char, DtmfInfoError> {
    // Media type is case-insensitive and may carry parameters (RFC 3261 §20.15).
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if media_type.eq_ignore_ascii_case("application/dtmf-relay") {
        let signal = body
            .lines()
            .filter_map(|line| line.split_once('='))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case("signal"))
            .map(|(_, value)| value)
            .ok_or(DtmfInfoError::MissingSignal)?;
        parse_signal(signal)
    } else if media_type.eq_ignore_ascii_case("application/dtmf") {
        parse_signal(body)
    } else {
        Err(DtmfInfoError::UnsupportedContentType(
            content_type.to_owned(),
        ))
    }
}

/// A key written as itself or as its RFC 4733 event number (`10` = `*`, `11` = `#`).
fn parse_signal(raw: &str) -> Result<char, DtmfInfoError> {
    let s = raw.trim();
    let invalid = || DtmfInfoError::InvalidSignal(s.to_owned());
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c @ ('0'..='9' | '*' | '#')), None) => Ok(c),
        (Some(c @ ('A'..='D' | 'a'..='d')), None) => Ok(c.to_ascii_uppercase()),
        _ => {
            let code: u8 = s.parse().map_err(|_| invalid())?;
            super::event_to_digit(code).ok_or_else(invalid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_relay_bodies() {
        let ct = "application/dtmf-relay";
        assert_eq!(parse_info(ct, "Signal=5\r\nDuration=160\r\n"), Ok('5'));
        assert_eq!(parse_info(ct, "Signal= *\r\nDuration=250"), Ok('*'));
        assert_eq!(parse_info(ct, "signal=#\n"), Ok('#'));
        assert_eq!(parse_info(ct, "Signal=10\r\nDuration=160"), Ok('*'));
        assert_eq!(parse_info(ct, "Signal=11"), Ok('#'));
        assert_eq!(parse_info(ct, "Signal=d"), Ok('D'));
        assert_eq!(
            parse_info(
                "Application/DTMF-Relay; charset=utf-8",
                "Duration=100\r\nSignal=0"
            ),
            Ok('0')
        );
        assert_eq!(
            parse_info(ct, "Duration=160"),
            Err(DtmfInfoError::MissingSignal)
        );
        assert_eq!(
            parse_info(ct, "Signal=16"),
            Err(DtmfInfoError::InvalidSignal("16".into()))
        );
        assert_eq!(
            parse_info(ct, "Signal=55"),
            Err(DtmfInfoError::InvalidSignal("55".into()))
        );
    }

    #[test]
    fn plain_dtmf_bodies() {
        assert_eq!(parse_info("application/dtmf", "5"), Ok('5'));
        assert_eq!(parse_info("application/dtmf", " #\r\n"), Ok('#'));
        assert_eq!(parse_info("application/dtmf", "11"), Ok('#'));
        assert_eq!(
            parse_info("application/dtmf", ""),
            Err(DtmfInfoError::InvalidSignal(String::new()))
        );
    }

    #[test]
    fn other_content_types_are_refused() {
        assert!(matches!(
            parse_info("application/media_control+xml", "<x/>"),
            Err(DtmfInfoError::UnsupportedContentType(_))
        ));
    }
}
