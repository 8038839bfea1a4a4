//! Keeping citizens' personal data (phone numbers, names) out of logs.
//!
//! After str0m's `pii.rs`: wrap the value in [`Pii`] and its `Debug`/`Display` print
//! `{REDACTED}`, so a stray `?call` in a `tracing` macro cannot leak it. Setting
//! `CARECALL_LOG_PII=1` before start shows the values (debugging on a test trunk);
//! it is read once, so it cannot be flipped on a running service.
//!
//! Serialisation is *not* redacted: the store and the API need the real value.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// Environment variable that, set to `1`, lets [`Pii`] values into logs.
pub const LOG_PII_ENV: &str = "CARECALL_LOG_PII";

const REDACTED: &str = "{REDACTED}";

/// Whether personal data may be logged (read from [`LOG_PII_ENV`] on first use).
pub fn log_pii() -> bool {
    static LOG_PII: OnceLock<bool> = OnceLock::new();
    *LOG_PII.get_or_init(|| std::env::var(LOG_PII_ENV).is_ok_and(|v| v == "1"))
}

/// Personal data: formats as `{REDACTED}` unless [`log_pii`], serialises as `T`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pii<T>(pub T);

impl<T> Pii<T> {
    pub fn new(value: T) -> Self {
        Pii(value)
    }

    pub fn into_inner(self) -> T {
        self.0
    }

    /// Formats as `inner` when `reveal`, else `{REDACTED}`; split out so both
    /// branches are testable whatever the test process's environment.
    fn write(
        &self,
        f: &mut fmt::Formatter<'_>,
        reveal: bool,
        inner: impl FnOnce(&T, &mut fmt::Formatter<'_>) -> fmt::Result,
    ) -> fmt::Result {
        if reveal {
            inner(&self.0, f)
        } else {
            f.write_str(REDACTED)
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, log_pii(), fmt::Debug::fmt)
    }
}

impl<T: fmt::Display> fmt::Display for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, log_pii(), fmt::Display::fmt)
    }
}

impl<T> From<T> for Pii<T> {
    fn from(value: T) -> Self {
        Pii(value)
    }
}

impl<T> Deref for Pii<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Pii<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T> AsRef<T> for Pii<T> {
    fn as_ref(&self) -> &T {
        &self.0
    }
}

/// A phone number for logs that need to tell calls apart: every digit but the last
/// three becomes `*` (`0912345678` → `*******678`); separators are dropped. For a
/// SIP URI only the user part counts. Three digits or fewer are masked entirely.
/// Independent of [`log_pii`].
pub fn mask_phone(number: &str) -> String {
    let user = number
        .split_once(':')
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")
        })
        .map_or(number, |(_, rest)| rest);
    let user = user.split('@').next().unwrap_or(user);
    let digits: Vec<char> = user.chars().filter(char::is_ascii_digit).collect();
    let shown = if digits.len() > 3 { 3 } else { 0 };
    let hidden = digits.len() - shown;
    std::iter::repeat_n('*', hidden)
        .chain(digits[hidden..].iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders through the private path with an explicit switch.
    struct Shown<'a>(&'a Pii<&'static str>, bool);

    impl fmt::Display for Shown<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.write(f, self.1, fmt::Debug::fmt)
        }
    }

    #[test]
    fn redacts_unless_revealed() {
        let name = Pii::new("Nguyễn Văn A");
        assert_eq!(Shown(&name, false).to_string(), "{REDACTED}");
        assert_eq!(Shown(&name, true).to_string(), "\"Nguyễn Văn A\"");
    }

    #[test]
    fn formatting_follows_the_environment_switch() {
        let phone = Pii::new(String::from("0912345678"));
        let (debug, display) = (format!("{phone:?}"), phone.to_string());
        if log_pii() {
            assert_eq!(
                (debug.as_str(), display.as_str()),
                ("\"0912345678\"", "0912345678")
            );
        } else {
            assert_eq!((debug.as_str(), display.as_str()), (REDACTED, REDACTED));
        }
        // Nested in a derived Debug, as it will be in call records.
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Call {
            id: u32,
            callee: Pii<String>,
        }
        let call = format!(
            "{:?}",
            Call {
                id: 7,
                callee: phone
            }
        );
        assert!(call.contains("id: 7"));
        assert_eq!(call.contains("0912345678"), log_pii());
    }

    #[test]
    fn serde_is_transparent_and_unredacted() {
        let phone = Pii::new(String::from("0912345678"));
        let json = serde_json::to_string(&phone).unwrap();
        assert_eq!(json, "\"0912345678\"");
        let back: Pii<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, phone);
    }

    #[test]
    fn accessors() {
        let mut phone = Pii::from(String::from("0912"));
        phone.push_str("345678");
        assert_eq!(phone.len(), 10);
        assert_eq!(phone.as_ref(), "0912345678");
        assert_eq!(phone.into_inner(), "0912345678");
    }

    #[test]
    fn masks_all_but_last_three_digits() {
        assert_eq!(mask_phone("0912345678"), "*******678");
        assert_eq!(mask_phone("0912 345 678"), "*******678");
        assert_eq!(mask_phone("+84912345678"), "********678");
        assert_eq!(mask_phone("sip:0912345678@10.0.0.1:5060"), "*******678");
        assert_eq!(mask_phone("1022"), "*022");
        assert_eq!(mask_phone("113"), "***");
        assert_eq!(mask_phone(""), "");
    }
}
