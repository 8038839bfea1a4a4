//! Corrections under four eyes. Survey results may never be silently edited
//! (seed 004 forbids tampering), and a unit's own supervisor must not change
//! its own results: a correction is *proposed*, and takes effect (as a new
//! answer revision, in the hash chain and the audit log) only when a second
//! user at a higher level approves it.
//!
//! The rule is a pure function of who proposed, who approves and whose
//! result it is; the HTTP layer looks the users' levels up and the store
//! makes the decision atomic.

use serde::Serialize;

/// Where a user sits: their unit and its depth (0 for the province or a
/// user without a unit, 1 for a district, 2 for a commune). Depth comes from
/// the unit list, so a province → commune tree (the 2025 reform) works by
/// data alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reviewer {
    pub user: String,
    pub unit: Option<String>,
    pub depth: u8,
}

/// Why an approval is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FourEyesError {
    #[error(
        "{0} proposed this correction and cannot also approve it: ask a user at a higher level"
    )]
    SelfApproval(String),
    #[error(
        "{user} belongs to unit {unit}, whose results these are (or whose supervisor proposed \
         the correction): ask a user at a higher level"
    )]
    SameUnit { user: String, unit: String },
    #[error(
        "{user} is not above the proposer's level: a correction needs the approval of a higher \
         level (a district's correction: the province)"
    )]
    NotHigher { user: String },
    #[error("this correction was already {0}")]
    Decided(&'static str),
}

/// Whether `approver` may approve `proposer`'s correction of a result of
/// `result_unit`:
/// * a second person (never the proposer);
/// * not of the unit whose result it is, nor of the proposer's unit;
/// * at a strictly higher level than the proposer — except that a
///   province-level proposal, having no level above it, needs a second
///   province-level user.
pub fn may_approve(
    proposer: &Reviewer,
    approver: &Reviewer,
    result_unit: Option<&str>,
) -> Result<(), FourEyesError> {
    if approver.user == proposer.user {
        return Err(FourEyesError::SelfApproval(approver.user.clone()));
    }
    if let Some(unit) = &approver.unit
        && (Some(unit.as_str()) == result_unit || Some(unit) == proposer.unit.as_ref())
    {
        return Err(FourEyesError::SameUnit {
            user: approver.user.clone(),
            unit: unit.clone(),
        });
    }
    let higher = approver.depth < proposer.depth || (proposer.depth == 0 && approver.depth == 0);
    if !higher {
        return Err(FourEyesError::NotHigher {
            user: approver.user.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(user: &str, unit: Option<&str>, depth: u8) -> Reviewer {
        Reviewer {
            user: user.into(),
            unit: unit.map(Into::into),
            depth,
        }
    }

    #[test]
    fn a_district_correction_needs_the_province() {
        let district = who("gs.caolanh", Some("tp-cao-lanh"), 1);
        let unit = Some("tp-cao-lanh");
        assert!(matches!(
            may_approve(&district, &district, unit),
            Err(FourEyesError::SelfApproval(_))
        ));
        // A second supervisor of the same district: same unit.
        let colleague = who("gs2.caolanh", Some("tp-cao-lanh"), 1);
        assert!(matches!(
            may_approve(&district, &colleague, unit),
            Err(FourEyesError::SameUnit { .. })
        ));
        // Another district's supervisor: same level.
        let peer = who("gs.sadec", Some("tp-sa-dec"), 1);
        assert!(matches!(
            may_approve(&district, &peer, unit),
            Err(FourEyesError::NotHigher { .. })
        ));
        // A commune below: lower.
        let commune = who("gs.xa", Some("xa-my-tra"), 2);
        assert!(may_approve(&district, &commune, unit).is_err());
        // The province approves.
        let admin = who("admin", None, 0);
        assert_eq!(may_approve(&district, &admin, unit), Ok(()));
        let centre = who("gs.tinh", Some("tinh-dong-thap"), 0);
        assert_eq!(may_approve(&district, &centre, unit), Ok(()));
    }

    #[test]
    fn a_unit_never_approves_its_own_results() {
        // The province proposes a change to the province centre's result: a
        // province-level colleague approves, but not one of the centre itself.
        let admin = who("admin", None, 0);
        let centre = who("gs.tinh", Some("tinh-dong-thap"), 0);
        let unit = Some("tinh-dong-thap");
        assert!(matches!(
            may_approve(&admin, &centre, unit),
            Err(FourEyesError::SameUnit { .. })
        ));
        assert_eq!(may_approve(&admin, &who("admin2", None, 0), unit), Ok(()));
        // A commune's result proposed at the district: the province approves.
        let district = who("gs.caolanh", Some("tp-cao-lanh"), 1);
        assert_eq!(may_approve(&district, &admin, Some("xa-my-tra")), Ok(()));
    }
}
