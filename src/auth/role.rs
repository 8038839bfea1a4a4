//! Roles, the permissions each carries, and the unit scope of a user.
//!
//! One table ([`Role::can`]) decides every permission, so that the pages, the
//! API and the tests agree; scopes are a second, independent check: a district
//! supervisor may read results, but only of their district and its communes.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::dialer::units::UnitTree;

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages users, units, dossier data and everything a supervisor does.
    Admin,
    /// Runs campaigns, reviews recordings, corrects answers with a reason,
    /// follows complaints up; scoped to a unit when one is set.
    Supervisor,
    /// Talks to citizens (live operator issue); reads what their calls need.
    Operator,
    /// Reads results and reports; changes nothing.
    Viewer,
}

/// Something a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Calls, responses, recordings, reports, complaints, campaigns, units.
    ReadResults,
    /// Correct an answer (a new revision with a reason).
    ReviseAnswers,
    /// Create, start, pause and stop campaigns.
    ManageCampaigns,
    /// Add numbers to the do-not-call list.
    ManageDoNotCall,
    /// Forward, annotate and resolve complaints.
    FollowComplaints,
    /// Import dossiers, edit units.
    ManageData,
    /// Add and change users and operators; read the audit log.
    Administer,
    /// Calls in progress and operator states.
    ReadLive,
    /// The operator's screen: take calls, set one's own state, enter the
    /// answers of one's own calls, click-to-call.
    OperateCalls,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "supervisor" => Some(Role::Supervisor),
            "operator" => Some(Role::Operator),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    /// Vietnamese name, for the pages.
    pub fn label_vi(self) -> &'static str {
        match self {
            Role::Admin => "Quản trị",
            Role::Supervisor => "Giám sát",
            Role::Operator => "Điện thoại viên",
            Role::Viewer => "Xem báo cáo",
        }
    }

    /// The permission table.
    pub fn can(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Supervisor => !matches!(p, ManageData | Administer | OperateCalls),
            Role::Viewer => matches!(p, ReadResults | ReadLive),
            Role::Operator => matches!(p, OperateCalls),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The units whose data a user may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole province, and records not tied to a unit (CLI calls).
    Province,
    /// A unit and the units under it.
    Units(BTreeSet<String>),
}

impl Scope {
    /// The scope of a user attached to `unit` (`None`: the whole province).
    /// A unit missing from the tree scopes to itself only: failing closed.
    pub fn for_unit(unit: Option<&str>, tree: &UnitTree) -> Scope {
        let Some(code) = unit else {
            return Scope::Province;
        };
        let mut set: BTreeSet<String> = tree
            .descendants(code)
            .into_iter()
            .map(|u| u.code.clone())
            .collect();
        set.insert(code.to_string());
        Scope::Units(set)
    }

    /// Whether a record of `unit` is visible (`None`: not tied to a unit).
    pub fn allows(&self, unit: Option<&str>) -> bool {
        match self {
            Scope::Province => true,
            Scope::Units(set) => unit.is_some_and(|u| set.contains(u)),
        }
    }

    /// The unit codes to filter queries with; `None` means no filter.
    pub fn unit_codes(&self) -> Option<Vec<String>> {
        match self {
            Scope::Province => None,
            Scope::Units(set) => Some(set.iter().cloned().collect()),
        }
    }

    /// Narrows a requested unit filter to the scope: the request's codes that
    /// are in scope, or the scope itself when the request names none.
    pub fn narrow(&self, requested: Option<Vec<String>>) -> Option<Vec<String>> {
        match (self, requested) {
            (Scope::Province, r) => r,
            (Scope::Units(set), None) => Some(set.iter().cloned().collect()),
            (Scope::Units(set), Some(r)) => {
                Some(r.into_iter().filter(|c| set.contains(c)).collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_gives_each_role_what_the_issue_says() {
        use Permission::*;
        let all = [
            ReadResults,
            ReviseAnswers,
            ManageCampaigns,
            ManageDoNotCall,
            FollowComplaints,
            ManageData,
            Administer,
            ReadLive,
            OperateCalls,
        ];
        assert!(all.iter().all(|p| Role::Admin.can(*p)));
        assert!(Role::Supervisor.can(ReviseAnswers) && Role::Supervisor.can(ManageCampaigns));
        assert!(!Role::Supervisor.can(Administer) && !Role::Supervisor.can(ManageData));
        assert_eq!(
            all.iter().filter(|p| Role::Viewer.can(**p)).count(),
            2,
            "viewer only reads"
        );
        assert!(!Role::Supervisor.can(OperateCalls) && !Role::Viewer.can(OperateCalls));
        assert_eq!(
            all.iter()
                .filter(|p| Role::Operator.can(**p))
                .collect::<Vec<_>>(),
            [&OperateCalls],
            "an operator only works their own calls"
        );
        for r in [Role::Admin, Role::Supervisor, Role::Operator, Role::Viewer] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn district_scope_covers_its_communes_only() {
        let tree = UnitTree::shipped().unwrap();
        let district = tree
            .units()
            .iter()
            .find(|u| u.level == crate::dialer::units::Level::District)
            .unwrap();
        let scope = Scope::for_unit(Some(&district.code), &tree);
        assert!(scope.allows(Some(&district.code)));
        for c in tree.descendants(&district.code) {
            assert!(scope.allows(Some(&c.code)));
        }
        let other = tree
            .units()
            .iter()
            .find(|u| !tree.is_within(&u.code, &district.code) && u.code != district.code)
            .unwrap();
        assert!(!scope.allows(Some(&other.code)));
        assert!(!scope.allows(None), "unit-less records are province-only");
        assert!(Scope::Province.allows(None));
        let narrowed = scope.narrow(Some(vec![other.code.clone(), district.code.clone()]));
        assert_eq!(narrowed, Some(vec![district.code.clone()]));
    }
}
