//! The outcome of each call attempt, as the dialer and the reports need it.
//!
//! A constant catalog maps final SIP statuses to dispositions (after rustpbx's
//! error catalog) so the mapping is data that can be read and tested in one place.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Answered and the dialplan ran to its end.
    Completed,
    /// Answered, then ended early (the citizen hung up mid-way, media lost…).
    Answered,
    /// Answered but nobody ever pressed a key or spoke: an announcement,
    /// voicemail or silent line. Retried like a no-answer.
    NoInput,
    /// The citizen declined the survey (final, never retried).
    Declined,
    /// The citizen asked never to be called again (final; number listed).
    DoNotCall,
    Busy,
    NoAnswer,
    Rejected,
    Failed,
    /// The process stopped during the call; partial answers are kept.
    Interrupted,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Completed => "completed",
            Disposition::Answered => "answered",
            Disposition::NoInput => "no_input",
            Disposition::Declined => "declined",
            Disposition::DoNotCall => "do_not_call",
            Disposition::Busy => "busy",
            Disposition::NoAnswer => "no_answer",
            Disposition::Rejected => "rejected",
            Disposition::Failed => "failed",
            Disposition::Interrupted => "interrupted",
        }
    }

    /// Whether the call was answered by someone (the survey ran at least partly).
    pub fn was_answered(self) -> bool {
        matches!(
            self,
            Disposition::Completed
                | Disposition::Answered
                | Disposition::NoInput
                | Disposition::Declined
                | Disposition::DoNotCall
        )
    }
}

/// One row of the catalog: which final statuses give which disposition.
pub struct CatalogEntry {
    pub codes: std::ops::RangeInclusive<u16>,
    pub disposition: Disposition,
    pub cause: &'static str,
}

/// First match wins; ranges go from specific to general.
pub const CATALOG: &[CatalogEntry] = &[
    CatalogEntry {
        codes: 486..=486,
        disposition: Disposition::Busy,
        cause: "busy here",
    },
    CatalogEntry {
        codes: 600..=600,
        disposition: Disposition::Busy,
        cause: "busy everywhere",
    },
    CatalogEntry {
        codes: 487..=487,
        disposition: Disposition::NoAnswer,
        cause: "ring timeout, cancelled",
    },
    CatalogEntry {
        codes: 408..=408,
        disposition: Disposition::NoAnswer,
        cause: "request timeout at the callee",
    },
    CatalogEntry {
        codes: 480..=480,
        disposition: Disposition::NoAnswer,
        cause: "temporarily unavailable",
    },
    CatalogEntry {
        codes: 401..=401,
        disposition: Disposition::Failed,
        cause: "trunk authentication failed (check trunk.username/password)",
    },
    CatalogEntry {
        codes: 403..=403,
        disposition: Disposition::Failed,
        cause: "forbidden by the trunk (credentials or caller ID refused)",
    },
    CatalogEntry {
        codes: 407..=407,
        disposition: Disposition::Failed,
        cause: "proxy authentication failed (check trunk.username/password)",
    },
    CatalogEntry {
        codes: 488..=488,
        disposition: Disposition::Failed,
        cause: "no common codec",
    },
    CatalogEntry {
        codes: 606..=606,
        disposition: Disposition::Failed,
        cause: "not acceptable (no common codec)",
    },
    CatalogEntry {
        codes: 603..=603,
        disposition: Disposition::Rejected,
        cause: "declined by the callee",
    },
    CatalogEntry {
        codes: 400..=499,
        disposition: Disposition::Rejected,
        cause: "rejected",
    },
    CatalogEntry {
        codes: 500..=599,
        disposition: Disposition::Failed,
        cause: "trunk or network failure",
    },
    CatalogEntry {
        codes: 600..=699,
        disposition: Disposition::Rejected,
        cause: "rejected everywhere",
    },
];

/// Disposition and cause for a final non-2xx status of the INVITE.
pub fn for_status(code: u16) -> (Disposition, &'static str) {
    CATALOG
        .iter()
        .find(|e| e.codes.contains(&code))
        .map(|e| (e.disposition, e.cause))
        .unwrap_or((Disposition::Failed, "unexpected final response"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_as_the_dialer_expects() {
        assert_eq!(for_status(486).0, Disposition::Busy);
        assert_eq!(for_status(600).0, Disposition::Busy);
        assert_eq!(for_status(487).0, Disposition::NoAnswer);
        assert_eq!(for_status(603).0, Disposition::Rejected);
        assert_eq!(for_status(404).0, Disposition::Rejected);
        assert_eq!(for_status(488).0, Disposition::Failed);
        assert_eq!(for_status(407).0, Disposition::Failed);
        assert_eq!(for_status(503).0, Disposition::Failed);
        assert_eq!(for_status(302).0, Disposition::Failed);
        assert_eq!(
            serde_json::to_string(&Disposition::NoInput).unwrap(),
            "\"no_input\""
        );
    }
}
