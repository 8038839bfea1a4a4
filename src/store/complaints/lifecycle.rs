//! The complaint life cycle, without I/O: which action is allowed in which
//! state. The store replays a complaint's events through [`next_state`] to
//! derive its state, and checks a new action the same way before writing it.

use serde::{Deserialize, Serialize};

/// What a supervisor did (the `action` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ComplaintAction {
    /// Follow-up started; written automatically before the first other event.
    Opened,
    /// Sent to a unit to deal with.
    Forwarded,
    /// A remark; changes nothing.
    Note,
    Resolved,
    Reopened,
}

impl ComplaintAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ComplaintAction::Opened => "opened",
            ComplaintAction::Forwarded => "forwarded",
            ComplaintAction::Note => "note",
            ComplaintAction::Resolved => "resolved",
            ComplaintAction::Reopened => "reopened",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ComplaintAction::Opened,
            ComplaintAction::Forwarded,
            ComplaintAction::Note,
            ComplaintAction::Resolved,
            ComplaintAction::Reopened,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// Where a complaint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ComplaintState {
    Open,
    Forwarded,
    Resolved,
}

impl ComplaintState {
    pub fn as_str(self) -> &'static str {
        match self {
            ComplaintState::Open => "open",
            ComplaintState::Forwarded => "forwarded",
            ComplaintState::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ComplaintState::Open,
            ComplaintState::Forwarded,
            ComplaintState::Resolved,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// An action the life cycle does not allow from the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the complaint is already open")]
    AlreadyOpened,
    #[error("the complaint is already resolved")]
    AlreadyResolved,
    #[error("the complaint is resolved: reopen it before forwarding it")]
    ResolvedMustReopen,
    #[error("only a resolved complaint can be reopened")]
    NotResolved,
}

/// The life cycle: `current` is `None` before the first event (a complaint
/// nobody has touched yet, shown as open).
pub fn next_state(
    current: Option<ComplaintState>,
    action: ComplaintAction,
) -> Result<ComplaintState, TransitionError> {
    use ComplaintAction as A;
    use ComplaintState as S;
    match (current, action) {
        (None, A::Opened) => Ok(S::Open),
        (Some(_), A::Opened) => Err(TransitionError::AlreadyOpened),
        (s, A::Note) => Ok(s.unwrap_or(S::Open)),
        (Some(S::Resolved), A::Forwarded) => Err(TransitionError::ResolvedMustReopen),
        (_, A::Forwarded) => Ok(S::Forwarded),
        (Some(S::Resolved), A::Resolved) => Err(TransitionError::AlreadyResolved),
        (_, A::Resolved) => Ok(S::Resolved),
        (Some(S::Resolved), A::Reopened) => Ok(S::Open),
        (_, A::Reopened) => Err(TransitionError::NotResolved),
    }
}

/// The state after `actions`, oldest first; `Open` if there are none. A stored
/// history always replays (writes go through [`next_state`]); one that does not
/// was edited behind carecall's back.
pub fn replay(
    actions: impl IntoIterator<Item = ComplaintAction>,
) -> Result<ComplaintState, TransitionError> {
    let mut state = None;
    for a in actions {
        state = Some(next_state(state, a)?);
    }
    Ok(state.unwrap_or(ComplaintState::Open))
}

#[cfg(test)]
mod tests {
    use super::ComplaintAction as A;
    use super::ComplaintState as S;
    use super::*;

    #[test]
    fn life_cycle() {
        assert_eq!(next_state(None, A::Opened), Ok(S::Open));
        assert_eq!(next_state(Some(S::Open), A::Forwarded), Ok(S::Forwarded));
        assert_eq!(
            next_state(Some(S::Forwarded), A::Forwarded),
            Ok(S::Forwarded)
        );
        assert_eq!(next_state(Some(S::Forwarded), A::Note), Ok(S::Forwarded));
        assert_eq!(next_state(Some(S::Forwarded), A::Resolved), Ok(S::Resolved));
        assert_eq!(next_state(Some(S::Open), A::Resolved), Ok(S::Resolved));
        assert_eq!(next_state(Some(S::Resolved), A::Reopened), Ok(S::Open));
        assert_eq!(next_state(Some(S::Resolved), A::Note), Ok(S::Resolved));
    }

    #[test]
    fn refused_transitions() {
        assert_eq!(
            next_state(Some(S::Resolved), A::Resolved),
            Err(TransitionError::AlreadyResolved)
        );
        assert_eq!(
            next_state(Some(S::Resolved), A::Forwarded),
            Err(TransitionError::ResolvedMustReopen)
        );
        assert_eq!(
            next_state(Some(S::Open), A::Reopened),
            Err(TransitionError::NotResolved)
        );
        assert_eq!(
            next_state(Some(S::Forwarded), A::Reopened),
            Err(TransitionError::NotResolved)
        );
        assert_eq!(
            next_state(Some(S::Open), A::Opened),
            Err(TransitionError::AlreadyOpened)
        );
    }

    #[test]
    fn replay_derives_the_state() {
        assert_eq!(replay([]), Ok(S::Open));
        assert_eq!(
            replay([A::Opened, A::Forwarded, A::Resolved, A::Reopened]),
            Ok(S::Open)
        );
        assert_eq!(replay([A::Opened, A::Forwarded, A::Note]), Ok(S::Forwarded));
        assert_eq!(
            replay([A::Opened, A::Resolved, A::Resolved]),
            Err(TransitionError::AlreadyResolved)
        );
    }

    #[test]
    fn names_round_trip() {
        for a in [A::Opened, A::Forwarded, A::Note, A::Resolved, A::Reopened] {
            assert_eq!(ComplaintAction::parse(a.as_str()), Some(a));
        }
        for s in [S::Open, S::Forwarded, S::Resolved] {
            assert_eq!(ComplaintState::parse(s.as_str()), Some(s));
        }
        assert_eq!(ComplaintAction::parse("closed"), None);
    }
}
