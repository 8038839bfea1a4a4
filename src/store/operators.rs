//! The `operators` and `registrations` repositories: call-centre operators
//! (điện thoại viên), their SIP credentials and state, and the contacts their
//! phones registered.
//!
//! Registrations live in the database, not in one process, so that every node
//! of a cluster can reach an operator registered through another node. A row
//! whose `expires_at` has passed is treated as absent by every read, so an
//! expired binding disappears at once even before [`Store::expire_registrations`]
//! deletes it.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

use super::error::classify;
use super::types::{text_id, to_ms};
use super::{Store, StoreError, col, ts};

text_id!(
    /// Id of a row in `operators`.
    OperatorId
);

/// Where an operator stands; supervisors see it, the bridge picks `Available`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorState {
    Offline,
    Available,
    OnCall,
    /// After a call, filling the form; limited in time by the caller.
    WrapUp,
    Paused,
}

impl OperatorState {
    pub const ALL: &'static [OperatorState] = &[
        OperatorState::Offline,
        OperatorState::Available,
        OperatorState::OnCall,
        OperatorState::WrapUp,
        OperatorState::Paused,
    ];

    /// The stored form (the `operators.state` CHECK).
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorState::Offline => "offline",
            OperatorState::Available => "available",
            OperatorState::OnCall => "on_call",
            OperatorState::WrapUp => "wrap_up",
            OperatorState::Paused => "paused",
        }
    }

    pub fn parse(s: &str) -> Option<OperatorState> {
        Self::ALL.iter().copied().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for OperatorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A new operator account. `sip_ha1` is the MD5 HA1 for the registrar's realm
/// (`sip::registrar::digest::ha1`): the password itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOperator {
    pub username: String,
    pub display_name: String,
    pub sip_user: String,
    pub sip_ha1: String,
    pub unit_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorRecord {
    pub id: OperatorId,
    pub username: String,
    pub display_name: String,
    pub sip_user: String,
    /// Hex HA1; kept out of JSON listings.
    #[serde(skip)]
    pub sip_ha1: String,
    pub unit_code: Option<String>,
    pub state: OperatorState,
    pub state_since: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// One contact bound to an operator (RFC 3261 §10.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistrationRecord {
    pub operator_id: OperatorId,
    /// The Contact URI, as registered.
    pub contact: String,
    /// Where the REGISTER came from ("ip:port"): the address to reach a phone
    /// behind NAT.
    pub source: String,
    /// "udp" or "tcp".
    pub transport: String,
    pub user_agent: Option<String>,
    pub call_id: String,
    pub cseq: u32,
    pub expires_at: DateTime<Utc>,
}

/// The columns of `operators` in a literal, so queries stay `&'static str`.
macro_rules! operator_cols {
    () => {
        "id, username, display_name, sip_user, sip_ha1, unit_code, state, state_since, created_at"
    };
}

/// The columns of `registrations`.
macro_rules! registration_cols {
    () => {
        "operator_id, contact, source, transport, user_agent, call_id, cseq, expires_at"
    };
}

impl Store {
    /// Creates an operator, `Offline` since `now`. A username or SIP user that
    /// is taken gives [`StoreError::Constraint`].
    pub async fn create_operator(
        &self,
        new: &NewOperator,
        now: DateTime<Utc>,
    ) -> Result<OperatorRecord, StoreError> {
        const OP: &str = "create_operator";
        let rec = OperatorRecord {
            id: OperatorId::new_v4(),
            username: new.username.clone(),
            display_name: new.display_name.clone(),
            sip_user: new.sip_user.clone(),
            sip_ha1: new.sip_ha1.clone(),
            unit_code: new.unit_code.clone(),
            state: OperatorState::Offline,
            state_since: now,
            created_at: now,
        };
        sqlx::query(concat!(
            "INSERT INTO operators (",
            operator_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(rec.id.as_str())
        .bind(&rec.username)
        .bind(&rec.display_name)
        .bind(&rec.sip_user)
        .bind(&rec.sip_ha1)
        .bind(rec.unit_code.as_deref())
        .bind(rec.state.as_str())
        .bind(to_ms(now))
        .bind(to_ms(now))
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(rec)
    }

    /// The operator whose SIP user (the AOR user part of a REGISTER) is `sip_user`.
    pub async fn operator_by_sip_user(
        &self,
        sip_user: &str,
    ) -> Result<Option<OperatorRecord>, StoreError> {
        const OP: &str = "operator_by_sip_user";
        let row = sqlx::query(concat!(
            "SELECT ",
            operator_cols!(),
            " FROM operators WHERE sip_user = $1"
        ))
        .bind(sip_user)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        row.map(|r| operator_from_row(&r, OP)).transpose()
    }

    /// Every operator with its state, by username.
    pub async fn operators(&self) -> Result<Vec<OperatorRecord>, StoreError> {
        const OP: &str = "operators";
        let rows = sqlx::query(concat!(
            "SELECT ",
            operator_cols!(),
            " FROM operators ORDER BY username"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| operator_from_row(r, OP)).collect()
    }

    /// Sets the operator's state; `state_since` moves only when the state changes,
    /// so a repeated "available" does not reset the idle time the bridge ranks by.
    pub async fn set_operator_state(
        &self,
        id: &OperatorId,
        state: OperatorState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const OP: &str = "set_operator_state";
        let done = sqlx::query(
            "UPDATE operators SET state = $1, \
             state_since = CASE WHEN state = $1 THEN state_since ELSE $2 END WHERE id = $3",
        )
        .bind(state.as_str())
        .bind(to_ms(now))
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                op: OP,
                what: "operator",
                id: id.to_string(),
            });
        }
        Ok(())
    }

    /// Takes an `Available` operator for a call: `on_call` since `now`. The
    /// conditional UPDATE is the lock: of two calls claiming the same operator
    /// at once, exactly one sees a row changed, on either backend.
    pub async fn claim_operator(
        &self,
        id: &OperatorId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.move_operator(id, OperatorState::Available, OperatorState::OnCall, now)
            .await
    }

    /// Moves the operator from `from` to `to` only if still in `from` (a
    /// supervisor may have paused them meanwhile); true if it did.
    pub async fn move_operator(
        &self,
        id: &OperatorId,
        from: OperatorState,
        to: OperatorState,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const OP: &str = "move_operator";
        let done = sqlx::query(
            "UPDATE operators SET state = $1, state_since = $2 WHERE id = $3 AND state = $4",
        )
        .bind(to.as_str())
        .bind(to_ms(now))
        .bind(id.as_str())
        .bind(from.as_str())
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(done.rows_affected() == 1)
    }

    /// Operators in `Available`, longest idle first (the fairest pick).
    pub async fn available_operators(&self) -> Result<Vec<OperatorRecord>, StoreError> {
        const OP: &str = "available_operators";
        let rows = sqlx::query(concat!(
            "SELECT ",
            operator_cols!(),
            " FROM operators WHERE state = 'available' ORDER BY state_since, username"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| operator_from_row(r, OP)).collect()
    }

    /// Records on the call which operator took it.
    pub async fn set_call_operator(
        &self,
        call: &super::CallId,
        operator: &OperatorId,
    ) -> Result<(), StoreError> {
        const OP: &str = "set_call_operator";
        sqlx::query("UPDATE calls SET operator_id = $1 WHERE id = $2")
            .bind(operator.as_str())
            .bind(call.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    /// The operator recorded on a call, if any.
    pub async fn call_operator(
        &self,
        call: &super::CallId,
    ) -> Result<Option<OperatorId>, StoreError> {
        const OP: &str = "call_operator";
        let row = sqlx::query("SELECT operator_id FROM calls WHERE id = $1")
            .bind(call.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        let Some(row) = row else { return Ok(None) };
        let id: Option<String> = col(&row, OP, "operator_id")?;
        Ok(id.map(OperatorId))
    }

    /// Adds the binding or replaces the one with the same operator and contact.
    pub async fn upsert_registration(&self, r: &RegistrationRecord) -> Result<(), StoreError> {
        const OP: &str = "upsert_registration";
        sqlx::query(concat!(
            "INSERT INTO registrations (",
            registration_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (operator_id, contact) DO UPDATE SET source = excluded.source, \
             transport = excluded.transport, user_agent = excluded.user_agent, \
             call_id = excluded.call_id, cseq = excluded.cseq, expires_at = excluded.expires_at"
        ))
        .bind(r.operator_id.as_str())
        .bind(&r.contact)
        .bind(&r.source)
        .bind(&r.transport)
        .bind(r.user_agent.as_deref())
        .bind(&r.call_id)
        .bind(i64::from(r.cseq))
        .bind(to_ms(r.expires_at))
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    /// Removes one binding (a Contact with expires=0); true if it existed.
    pub async fn remove_registration(
        &self,
        operator: &OperatorId,
        contact: &str,
    ) -> Result<bool, StoreError> {
        const OP: &str = "remove_registration";
        let done = sqlx::query("DELETE FROM registrations WHERE operator_id = $1 AND contact = $2")
            .bind(operator.as_str())
            .bind(contact)
            .execute(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes every binding of the operator (`Contact: *`); returns how many.
    pub async fn remove_registrations(&self, operator: &OperatorId) -> Result<u64, StoreError> {
        const OP: &str = "remove_registrations";
        let done = sqlx::query("DELETE FROM registrations WHERE operator_id = $1")
            .bind(operator.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(done.rows_affected())
    }

    /// Deletes bindings expired at `now`; returns how many.
    pub async fn expire_registrations(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        const OP: &str = "expire_registrations";
        let done = sqlx::query("DELETE FROM registrations WHERE expires_at <= $1")
            .bind(to_ms(now))
            .execute(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(done.rows_affected())
    }

    /// The operator's bindings still valid at `now`, soonest to expire last.
    pub async fn contacts_of(
        &self,
        operator: &OperatorId,
        now: DateTime<Utc>,
    ) -> Result<Vec<RegistrationRecord>, StoreError> {
        const OP: &str = "contacts_of";
        let rows = sqlx::query(concat!(
            "SELECT ",
            registration_cols!(),
            " FROM registrations WHERE operator_id = $1 AND expires_at > $2 ORDER BY expires_at DESC, contact"
        ))
        .bind(operator.as_str())
        .bind(to_ms(now))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| registration_from_row(r, OP)).collect()
    }
}

fn operator_from_row(r: &AnyRow, op: &'static str) -> Result<OperatorRecord, StoreError> {
    let state: String = col(r, op, "state")?;
    Ok(OperatorRecord {
        id: OperatorId(col(r, op, "id")?),
        username: col(r, op, "username")?,
        display_name: col(r, op, "display_name")?,
        sip_user: col(r, op, "sip_user")?,
        sip_ha1: col(r, op, "sip_ha1")?,
        unit_code: col(r, op, "unit_code")?,
        state: OperatorState::parse(&state).ok_or(StoreError::Corrupt {
            op,
            column: "state",
        })?,
        state_since: ts(r, op, "state_since")?,
        created_at: ts(r, op, "created_at")?,
    })
}

fn registration_from_row(r: &AnyRow, op: &'static str) -> Result<RegistrationRecord, StoreError> {
    let cseq: i64 = col(r, op, "cseq")?;
    Ok(RegistrationRecord {
        operator_id: OperatorId(col(r, op, "operator_id")?),
        contact: col(r, op, "contact")?,
        source: col(r, op, "source")?,
        transport: col(r, op, "transport")?,
        user_agent: col(r, op, "user_agent")?,
        call_id: col(r, op, "call_id")?,
        cseq: u32::try_from(cseq).map_err(|_| StoreError::Corrupt { op, column: "cseq" })?,
        expires_at: ts(r, op, "expires_at")?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_735_000_000 + secs, 0).unwrap()
    }

    async fn store() -> Store {
        Store::connect("sqlite::memory:").await.unwrap()
    }

    fn lan(user: &str) -> NewOperator {
        NewOperator {
            username: format!("{user}.login"),
            display_name: "Trần Thị Lan".into(),
            sip_user: user.into(),
            sip_ha1: "0123456789abcdef0123456789abcdef".into(),
            unit_code: Some("DT".into()),
        }
    }

    fn binding(op: &OperatorId, contact: &str, expires: i64) -> RegistrationRecord {
        RegistrationRecord {
            operator_id: op.clone(),
            contact: contact.into(),
            source: "127.0.0.1:5086".into(),
            transport: "udp".into(),
            user_agent: Some("baresip".into()),
            call_id: "c1".into(),
            cseq: 1,
            expires_at: at(expires),
        }
    }

    #[tokio::test]
    async fn operators_are_created_found_and_unique() {
        let s = store().await;
        let op = s.create_operator(&lan("lan"), at(0)).await.unwrap();
        assert_eq!(op.state, OperatorState::Offline);
        let found = s.operator_by_sip_user("lan").await.unwrap().unwrap();
        assert_eq!(found, op);
        assert!(s.operator_by_sip_user("mai").await.unwrap().is_none());
        let dup = s.create_operator(&lan("lan"), at(1)).await.unwrap_err();
        assert!(matches!(dup, StoreError::Constraint { .. }), "{dup}");
        assert_eq!(s.operators().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn state_since_moves_only_on_change() {
        let s = store().await;
        let op = s.create_operator(&lan("lan"), at(0)).await.unwrap();
        s.set_operator_state(&op.id, OperatorState::Available, at(10))
            .await
            .unwrap();
        s.set_operator_state(&op.id, OperatorState::Available, at(20))
            .await
            .unwrap();
        let now = &s.operators().await.unwrap()[0];
        assert_eq!(
            (now.state, now.state_since),
            (OperatorState::Available, at(10))
        );
        let missing = OperatorId("nobody".into());
        assert!(matches!(
            s.set_operator_state(&missing, OperatorState::Paused, at(30))
                .await,
            Err(StoreError::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn claims_are_exclusive_and_paused_is_never_available() {
        let s = store().await;
        let mai = s.create_operator(&lan("mai"), at(0)).await.unwrap();
        let lan = s.create_operator(&lan("lan"), at(0)).await.unwrap();
        assert!(!s.claim_operator(&lan.id, at(1)).await.unwrap(), "offline");
        s.set_operator_state(&mai.id, OperatorState::Available, at(5))
            .await
            .unwrap();
        s.set_operator_state(&lan.id, OperatorState::Available, at(2))
            .await
            .unwrap();
        let free = s.available_operators().await.unwrap();
        assert_eq!(
            free.iter().map(|o| &o.id).collect::<Vec<_>>(),
            [&lan.id, &mai.id]
        );
        assert!(s.claim_operator(&lan.id, at(10)).await.unwrap());
        assert!(
            !s.claim_operator(&lan.id, at(10)).await.unwrap(),
            "taken once"
        );
        s.set_operator_state(&mai.id, OperatorState::Paused, at(11))
            .await
            .unwrap();
        assert!(s.available_operators().await.unwrap().is_empty());
        assert!(!s.claim_operator(&mai.id, at(12)).await.unwrap());
        let moved = s
            .move_operator(
                &lan.id,
                OperatorState::OnCall,
                OperatorState::WrapUp,
                at(20),
            )
            .await
            .unwrap();
        assert!(moved);
        let now = s.operators().await.unwrap();
        let l = now.iter().find(|o| o.id == lan.id).unwrap();
        assert_eq!((l.state, l.state_since), (OperatorState::WrapUp, at(20)));
    }

    #[tokio::test]
    async fn bindings_upsert_expire_and_remove() {
        let s = store().await;
        let op = s.create_operator(&lan("lan"), at(0)).await.unwrap();
        s.upsert_registration(&binding(&op.id, "sip:lan@10.0.0.1", 60))
            .await
            .unwrap();
        s.upsert_registration(&binding(&op.id, "sip:lan@10.0.0.2", 30))
            .await
            .unwrap();
        let mut refreshed = binding(&op.id, "sip:lan@10.0.0.2", 120);
        refreshed.cseq = 2;
        s.upsert_registration(&refreshed).await.unwrap();
        let now = s.contacts_of(&op.id, at(1)).await.unwrap();
        assert_eq!(now.len(), 2);
        assert_eq!(now[0], refreshed);

        // Expired rows vanish from reads at once, and from the table on purge.
        assert_eq!(s.contacts_of(&op.id, at(60)).await.unwrap().len(), 1);
        assert_eq!(s.expire_registrations(at(60)).await.unwrap(), 1);
        assert!(
            s.remove_registration(&op.id, "sip:lan@10.0.0.2")
                .await
                .unwrap()
        );
        assert!(s.contacts_of(&op.id, at(1)).await.unwrap().is_empty());

        s.upsert_registration(&binding(&op.id, "sip:a@x", 60))
            .await
            .unwrap();
        s.upsert_registration(&binding(&op.id, "sip:b@x", 60))
            .await
            .unwrap();
        assert_eq!(s.remove_registrations(&op.id).await.unwrap(), 2);
    }
}
