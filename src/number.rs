//! Vietnamese telephone numbers: cleaning what operators and dossier systems type
//! into what the carrier trunk expects.
//!
//! Numbering follows the national plan since the Ministry of Information and
//! Communications' 2017 area-code change and 2018 mobile renumbering: mobile numbers
//! are 10 digits nationally (0 + 9, prefixes 03, 05, 07, 08, 09), fixed lines are 11
//! digits (0 + area code 2xx + 7 or 8 digits, e.g. Đồng Tháp 0277), and the old
//! 11-digit 01x mobile numbers are gone.
//!
//! Errors never quote the number itself (it is a citizen's personal data), only its
//! length or prefix.

use serde::{Deserialize, Serialize};

/// How the trunk wants the called number written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberFormat {
    /// `0912345678`: what VNPT trunks usually take.
    #[default]
    National,
    /// `+84912345678` (ITU-T E.164).
    E164,
    /// `84912345678`: country code, no `+`.
    International,
}

/// Why a string is not a number we can dial.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("the phone number is empty")]
    Empty,
    #[error(
        "the phone number contains {ch:?}: only digits, spaces, '.', '-', '(', ')' and a leading '+' are allowed"
    )]
    InvalidCharacter { ch: char },
    #[error("'+' may only start the number (as in +84…)")]
    MisplacedPlus,
    #[error(
        "the number starts +{leading_digits}…, not with Vietnam's country code +84: only Vietnamese numbers are called"
    )]
    ForeignNumber { leading_digits: String },
    #[error(
        "a Vietnamese {kind} number has {expected} digits written nationally, this one has {digits}"
    )]
    WrongLength {
        kind: &'static str,
        digits: usize,
        expected: &'static str,
    },
    #[error(
        "{digits} digits is not a phone number: expected a 10-digit mobile, an 11-digit landline or a 3–5 digit service number starting with 1"
    )]
    UnrecognisedLength { digits: usize },
    #[error(
        "no Vietnamese number starts with 0{first_digit}: mobiles start 03, 05, 07, 08, 09 and landlines 02"
    )]
    UnknownPrefix { first_digit: char },
    #[error(
        "0{old_prefix}… is an old 11-digit mobile number; those were retired in 2018{}; \
         ask the citizen for the current number and fix the record",
        renumber_hint(.new_prefix)
    )]
    RetiredMobilePrefix {
        old_prefix: String,
        new_prefix: Option<&'static str>,
    },
}

/// Service numbers (113, 1022, 18001…): 3–5 digits starting with 1, dialled as typed.
const SERVICE_DIGITS: std::ops::RangeInclusive<usize> = 3..=5;

fn renumber_hint(new_prefix: &Option<&'static str>) -> String {
    match new_prefix {
        Some(p) => format!(" (this prefix became 0{p}, keeping the last 7 digits)"),
        None => String::new(),
    }
}

/// Normalises a Vietnamese number to `format`.
///
/// Accepts `0912 345 678`, `0912.345.678`, `+84912345678`, `84912345678`,
/// `(+84) 912-345-678`, `0084…`, a bare 9-digit national significant number
/// (`912345678`) and a 10-digit landline one (`2773123456`). Service numbers of 3–5
/// digits starting with 1 (`1022`) are returned as bare digits whatever `format` says.
pub fn normalize(input: &str, format: NumberFormat) -> Result<String, NumberError> {
    let (plus, digits) = clean(input)?;
    if !plus && digits.starts_with('1') && SERVICE_DIGITS.contains(&digits.len()) {
        return Ok(digits);
    }
    let nsn = national_significant(plus, &digits)?;
    validate(nsn)?;
    Ok(match format {
        NumberFormat::National => format!("0{nsn}"),
        NumberFormat::E164 => format!("+84{nsn}"),
        NumberFormat::International => format!("84{nsn}"),
    })
}

/// Whether `input` is a number [`normalize`] accepts.
/// The form numbers are stored and compared in (do-not-call list, dossiers,
/// surveyed numbers): national `0xxxxxxxxx`; anything that is not a Vietnamese
/// number (a SIP URI) is kept as given. The trunk's format is only for dialling.
pub fn canonical(number: &str) -> String {
    normalize(number, NumberFormat::National).unwrap_or_else(|_| number.to_string())
}

pub fn is_valid(input: &str) -> bool {
    normalize(input, NumberFormat::National).is_ok()
}

/// The Request-URI for calling `input` through the trunk: a `sip:`/`sips:` URI is
/// used as given (an operator may dial a desk phone directly), anything else is
/// normalised into `sip:<number>@<trunk_host>`.
pub fn target_uri(
    input: &str,
    format: NumberFormat,
    trunk_host: &str,
) -> Result<String, NumberError> {
    let trimmed = input.trim();
    let scheme = trimmed.get(..5).unwrap_or(trimmed).to_ascii_lowercase();
    if scheme.starts_with("sip:") || scheme.starts_with("sips:") {
        return Ok(trimmed.to_owned());
    }
    // '+' is allowed unescaped in the user part (RFC 3261 §25.1, user-unreserved).
    Ok(format!("sip:{}@{trunk_host}", normalize(input, format)?))
}

/// Strips separators; returns whether a leading `+` was present, and the digits.
fn clean(input: &str) -> Result<(bool, String), NumberError> {
    let mut plus = false;
    let mut digits = String::with_capacity(input.len());
    for ch in input.chars() {
        match ch {
            '0'..='9' => digits.push(ch),
            '+' if digits.is_empty() && !plus => plus = true,
            '+' => return Err(NumberError::MisplacedPlus),
            ' ' | '.' | '-' | '(' | ')' | '\u{a0}' => {}
            _ => return Err(NumberError::InvalidCharacter { ch }),
        }
    }
    if digits.is_empty() {
        return Err(NumberError::Empty);
    }
    Ok((plus, digits))
}

/// The national significant number: the digits after the trunk prefix `0` or the
/// country code `84`.
fn national_significant(plus: bool, digits: &str) -> Result<&str, NumberError> {
    // `00` is Vietnam's international prefix: 0084… is +84….
    let international = if plus {
        Some(digits)
    } else {
        digits.strip_prefix("00")
    };
    if let Some(rest) = international {
        let nsn = rest
            .strip_prefix("84")
            .ok_or_else(|| NumberError::ForeignNumber {
                leading_digits: rest.chars().take(3).collect(),
            })?;
        // "+84 (0) 912…": the trunk prefix written after the country code.
        return Ok(nsn.strip_prefix('0').unwrap_or(nsn));
    }
    if let Some(nsn) = digits.strip_prefix('0') {
        return Ok(nsn);
    }
    // 84 + 9-digit mobile or 84 + 9/10-digit landline. A national significant number
    // never has 11 or 12 digits, so this cannot swallow a bare one like 84x xxx xxx.
    if let Some(nsn) = digits.strip_prefix("84")
        && matches!(digits.len(), 11 | 12)
    {
        return Ok(nsn);
    }
    match (digits.len(), digits.as_bytes()[0]) {
        (9, _) | (10, b'2') => Ok(digits),
        (len, _) => Err(NumberError::UnrecognisedLength { digits: len }),
    }
}

/// Checks a national significant number against the numbering plan.
fn validate(nsn: &str) -> Result<(), NumberError> {
    let national_len = nsn.len() + 1;
    let first = nsn.chars().next().ok_or(NumberError::Empty)?;
    match first {
        '3' | '5' | '7' | '8' | '9' if national_len == 10 => Ok(()),
        '3' | '5' | '7' | '8' | '9' => Err(NumberError::WrongLength {
            kind: "mobile",
            digits: national_len,
            expected: "10",
        }),
        '2' if matches!(national_len, 10 | 11) => Ok(()),
        '2' => Err(NumberError::WrongLength {
            kind: "landline",
            digits: national_len,
            expected: "10 or 11",
        }),
        '1' if national_len == 11 => {
            let old_prefix = &nsn[..3];
            Err(NumberError::RetiredMobilePrefix {
                old_prefix: old_prefix.to_owned(),
                new_prefix: renumbered_mobile_prefix(old_prefix),
            })
        }
        _ => Err(NumberError::UnknownPrefix { first_digit: first }),
    }
}

/// The 2018 mobile renumbering: old 01xy prefix (without
/// the 0) to its new 0xy prefix (without the 0). Only used to word the error: a
/// record with an old number is fixed at the source, never dialled by guess.
fn renumbered_mobile_prefix(old: &str) -> Option<&'static str> {
    const TABLE: [(&str, &str); 21] = [
        ("162", "32"),
        ("163", "33"),
        ("164", "34"),
        ("165", "35"),
        ("166", "36"),
        ("167", "37"),
        ("168", "38"),
        ("169", "39"),
        ("120", "70"),
        ("121", "79"),
        ("122", "77"),
        ("126", "76"),
        ("128", "78"),
        ("123", "83"),
        ("124", "84"),
        ("125", "85"),
        ("127", "81"),
        ("129", "82"),
        ("186", "56"),
        ("188", "58"),
        ("199", "59"),
    ];
    TABLE.iter().find(|(o, _)| *o == old).map(|(_, new)| *new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use NumberFormat::*;

    #[test]
    fn every_written_form_of_a_mobile_normalises() {
        for input in [
            "0912 345 678",
            "0912.345.678",
            "0912-345-678",
            "+84912345678",
            "84912345678",
            "(+84) 912-345-678",
            "+84 (0) 912 345 678",
            "0084 912 345 678",
            "912345678",
            "  0912345678\u{a0}",
        ] {
            assert_eq!(
                normalize(input, National).as_deref(),
                Ok("0912345678"),
                "{input:?}"
            );
            assert_eq!(
                normalize(input, E164).as_deref(),
                Ok("+84912345678"),
                "{input:?}"
            );
            assert_eq!(
                normalize(input, International).as_deref(),
                Ok("84912345678"),
                "{input:?}"
            );
        }
    }

    #[test]
    fn all_mobile_ranges() {
        for input in [
            "0321234567",
            "0561234567",
            "0701234567",
            "0841234567",
            "0981234567",
        ] {
            assert!(is_valid(input), "{input}");
        }
        // A bare NSN in the 084 range is not mistaken for "84 + 7 digits".
        assert_eq!(
            normalize("845123456", National).as_deref(),
            Ok("0845123456")
        );
    }

    #[test]
    fn landlines() {
        // Đồng Tháp, 11 digits nationally.
        assert_eq!(
            normalize("0277 3851 234", E164).as_deref(),
            Ok("+842773851234")
        );
        assert_eq!(
            normalize("+84 277 3851234", National).as_deref(),
            Ok("02773851234")
        );
        assert_eq!(
            normalize("842773851234", National).as_deref(),
            Ok("02773851234")
        );
        assert_eq!(
            normalize("2773851234", National).as_deref(),
            Ok("02773851234")
        );
        // Hà Nội 024 + 8 digits, and a 10-digit national form.
        assert!(is_valid("024 3825 1234"));
        assert!(is_valid("0283812345"));
    }

    #[test]
    fn service_numbers_pass_through() {
        assert_eq!(normalize("1022", E164).as_deref(), Ok("1022"));
        assert_eq!(normalize("113", National).as_deref(), Ok("113"));
        assert_eq!(normalize("1 0 2 2", International).as_deref(), Ok("1022"));
        assert_eq!(normalize("18001", National).as_deref(), Ok("18001"));
        // A truncated mobile is not a service number.
        assert!(matches!(
            normalize("0912", National),
            Err(NumberError::WrongLength {
                kind: "mobile",
                digits: 4,
                ..
            })
        ));
    }

    #[test]
    fn retired_01x_mobiles_name_their_new_prefix() {
        let err = normalize("01689 123 456", National).unwrap_err();
        assert_eq!(
            err,
            NumberError::RetiredMobilePrefix {
                old_prefix: "168".into(),
                new_prefix: Some("38"),
            }
        );
        let message = err.to_string();
        assert!(
            message.contains("retired in 2018") && message.contains("038"),
            "{message}"
        );
        assert!(!message.contains("123456"), "no PII in errors: {message}");
        assert!(matches!(
            normalize("+84 1991 234 567", E164),
            Err(NumberError::RetiredMobilePrefix {
                new_prefix: Some("59"),
                ..
            })
        ));
        assert!(matches!(
            normalize("01101234567", E164),
            Err(NumberError::RetiredMobilePrefix {
                new_prefix: None,
                ..
            })
        ));
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert_eq!(normalize("", National), Err(NumberError::Empty));
        assert_eq!(normalize(" - ", National), Err(NumberError::Empty));
        assert_eq!(
            normalize("0912abc678", National),
            Err(NumberError::InvalidCharacter { ch: 'a' })
        );
        assert_eq!(
            normalize("0912+345678", National),
            Err(NumberError::MisplacedPlus)
        );
        assert!(matches!(
            normalize("+1 415 555 0100", E164),
            Err(NumberError::ForeignNumber { .. })
        ));
        assert_eq!(
            normalize("12", National),
            Err(NumberError::UnrecognisedLength { digits: 2 })
        );
        assert_eq!(
            normalize("9123456", National),
            Err(NumberError::UnrecognisedLength { digits: 7 })
        );
        assert_eq!(
            normalize("091234567", National),
            Err(NumberError::WrongLength {
                kind: "mobile",
                digits: 9,
                expected: "10"
            })
        );
        assert!(matches!(
            normalize("09123456789", National),
            Err(NumberError::WrongLength { kind: "mobile", .. })
        ));
        assert!(matches!(
            normalize("027738512345", National),
            Err(NumberError::WrongLength {
                kind: "landline",
                ..
            })
        ));
        assert_eq!(
            normalize("0612345678", National),
            Err(NumberError::UnknownPrefix { first_digit: '6' })
        );
        assert!(!is_valid("0412345678"));
        assert!(!is_valid("not a number"));
    }

    #[test]
    fn target_uris() {
        let host = "trunk.vnpt.example";
        assert_eq!(
            target_uri("0912 345 678", E164, host).as_deref(),
            Ok("sip:+84912345678@trunk.vnpt.example")
        );
        assert_eq!(
            target_uri("+84912345678", National, host).as_deref(),
            Ok("sip:0912345678@trunk.vnpt.example")
        );
        assert_eq!(
            target_uri("1022", E164, host).as_deref(),
            Ok("sip:1022@trunk.vnpt.example")
        );
        assert_eq!(
            target_uri(" sip:desk1@10.0.0.2:5060 ", National, host).as_deref(),
            Ok("sip:desk1@10.0.0.2:5060")
        );
        assert_eq!(
            target_uri("SIPS:op@pbx", National, host).as_deref(),
            Ok("SIPS:op@pbx")
        );
        assert!(target_uri("sipx", National, host).is_err());
    }

    #[test]
    fn format_serde_names() {
        let names: Vec<String> = [National, E164, International]
            .iter()
            .map(|f| serde_json::to_string(f).unwrap())
            .collect();
        assert_eq!(names, ["\"national\"", "\"e164\"", "\"international\""]);
        assert_eq!(
            serde_json::from_str::<NumberFormat>("\"e164\"").unwrap(),
            E164
        );
    }
}
