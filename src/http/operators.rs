//! Adding an operator account (điện thoại viên), shared by
//! `carecall operator add` and the administrators' page, so that both check
//! the same things and store the same credential.
//!
//! Only the digest HA1 for the registrar's realm is stored (RFC 7616 §3.4.2:
//! `H(username:realm:password)`), never the password: the registrar can check
//! a REGISTER with it, and a leaked row does not give the password away for
//! other realms.

use chrono::{DateTime, Utc};

use crate::sip::registrar::digest::{Algorithm, ha1};
use crate::store::{NewOperator, OperatorRecord, Store, StoreError};

/// What an administrator types to add an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperatorSignup<'a> {
    /// The operator's login name.
    pub username: &'a str,
    /// Shown to supervisors; blank means the username.
    pub display_name: Option<&'a str>,
    /// The user part of the phone's SIP address (the digest username).
    pub sip_user: &'a str,
    /// The SIP password the phone will use.
    pub password: &'a str,
    /// The administrative unit the operator belongs to.
    pub unit_code: Option<&'a str>,
}

/// Why an operator was not added.
#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    #[error("the {0} is empty")]
    Missing(&'static str),
    /// RFC 3261 §25.1 `user`: unreserved and user-unreserved characters
    /// (percent-escapes are not accepted: the phone would have to type them).
    #[error("SIP user {0:?} may only hold letters, digits and - _ . ! ~ * ' ( ) & = + $ , ; ? /")]
    SipUser(String),
    /// The username or SIP user is taken ([`StoreError::Constraint`]), or
    /// the database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OperatorSignup<'_> {
    /// The row to store, with the HA1 for `realm` (`config.registrar.realm`).
    pub fn to_new(&self, realm: &str) -> Result<NewOperator, SignupError> {
        let username = self.username.trim();
        let sip_user = self.sip_user.trim();
        if username.is_empty() {
            return Err(SignupError::Missing("username"));
        }
        if sip_user.is_empty() {
            return Err(SignupError::Missing("SIP user"));
        }
        if self.password.is_empty() {
            return Err(SignupError::Missing("password"));
        }
        if !sip_user.chars().all(sip_user_char) {
            return Err(SignupError::SipUser(sip_user.to_string()));
        }
        let display_name = self
            .display_name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(username);
        Ok(NewOperator {
            username: username.to_string(),
            display_name: display_name.to_string(),
            sip_user: sip_user.to_string(),
            sip_ha1: ha1(Algorithm::Md5, sip_user, realm, self.password),
            unit_code: self
                .unit_code
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_string),
        })
    }
}

/// RFC 3261 §25.1: `unreserved / user-unreserved`.
fn sip_user_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()&=+$,;?/".contains(c)
}

/// Checks `signup` and stores the operator, `Offline` since `now`.
pub async fn add_operator(
    store: &Store,
    signup: &OperatorSignup<'_>,
    realm: &str,
    now: DateTime<Utc>,
) -> Result<OperatorRecord, SignupError> {
    let new = signup.to_new(realm)?;
    Ok(store.create_operator(&new, now).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signup<'a>(sip_user: &'a str, password: &'a str) -> OperatorSignup<'a> {
        OperatorSignup {
            username: " lan ",
            display_name: Some(""),
            sip_user,
            password,
            unit_code: Some(" "),
        }
    }

    #[test]
    fn the_ha1_is_for_the_realm_and_blanks_are_defaults() {
        let n = signup("lan", "mật-khẩu").to_new("carecall").unwrap();
        assert_eq!(n.username, "lan");
        assert_eq!(n.display_name, "lan");
        assert_eq!(n.unit_code, None);
        assert_eq!(
            n.sip_ha1,
            ha1(Algorithm::Md5, "lan", "carecall", "mật-khẩu")
        );
        assert_ne!(
            n.sip_ha1,
            signup("lan", "mật-khẩu").to_new("other").unwrap().sip_ha1
        );
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(matches!(
            signup("", "x").to_new("r"),
            Err(SignupError::Missing("SIP user"))
        ));
        assert!(matches!(
            signup("lan", "").to_new("r"),
            Err(SignupError::Missing("password"))
        ));
        assert!(matches!(
            signup("lan@evil", "x").to_new("r"),
            Err(SignupError::SipUser(_))
        ));
        assert!(signup("op.7-a", "x").to_new("r").is_ok());
    }

    #[tokio::test]
    async fn a_taken_sip_user_is_a_constraint() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("op.db").display());
        let store = Store::connect(&url).await.unwrap();
        let now = Utc::now();
        let op = add_operator(&store, &signup("lan", "pw"), "r", now)
            .await
            .unwrap();
        assert_eq!(op.sip_user, "lan");
        let again = OperatorSignup {
            username: "lan2",
            ..signup("lan", "pw")
        };
        assert!(matches!(
            add_operator(&store, &again, "r", now).await,
            Err(SignupError::Store(StoreError::Constraint { .. }))
        ));
    }
}
