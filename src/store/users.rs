//! The `users`, `sessions` and `api_tokens` repositories.
//!
//! The store keeps roles as text and secrets only as hashes: password hashing
//! and token minting belong to `crate::auth`, which hands this module the
//! argon2 PHC string and the SHA-256 of each token.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;

use super::error::classify;
use super::types::{text_id, to_ms};
use super::{Store, StoreError, col, ts, ts_opt};
use serde::Deserialize;
use std::fmt;

text_id!(
    /// Id of a row in `users`.
    UserId
);

/// A user as stored (without the password hash).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserRecord {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub unit_code: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// What it takes to add a user; `password_hash` is an argon2 PHC string.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub unit_code: Option<&'a str>,
}

/// A user found by a session cookie or a bearer token, with the session's CSRF token.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: UserRecord,
    pub csrf: Option<String>,
}

/// An API token as listed (never the token itself).
#[derive(Debug, Clone, Serialize)]
pub struct TokenRecord {
    pub id: String,
    pub user_id: UserId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The columns of [`UserRecord`], for `concat!` (sqlx only takes static SQL).
macro_rules! user_cols {
    () => {
        "u.id, u.username, u.display_name, u.role, u.unit_code, u.disabled, u.created_at"
    };
}

impl Store {
    /// Adds a user. A taken username gives [`StoreError::Constraint`].
    pub async fn create_user(&self, u: &NewUser<'_>) -> Result<UserId, StoreError> {
        const OP: &str = "create_user";
        let id = UserId::new_v4();
        let now = to_ms(Utc::now());
        sqlx::query(
            "INSERT INTO users (id, username, display_name, password_hash, role, unit_code, \
             disabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7)",
        )
        .bind(id.as_str())
        .bind(u.username)
        .bind(u.display_name)
        .bind(u.password_hash)
        .bind(u.role)
        .bind(u.unit_code)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(id)
    }

    /// Every user, by username.
    pub async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        const OP: &str = "users";
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users u ORDER BY u.username"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| user_from_row(r, OP)).collect()
    }

    /// A user and their password hash, for a login attempt.
    pub async fn user_for_login(
        &self,
        username: &str,
    ) -> Result<Option<(UserRecord, String)>, StoreError> {
        const OP: &str = "user_for_login";
        let row = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            ", u.password_hash FROM users u WHERE u.username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        row.map(|r| Ok((user_from_row(&r, OP)?, col(&r, OP, "password_hash")?)))
            .transpose()
    }

    /// Changes a user's role, scope, name, password hash or disabled flag
    /// (each `None` keeps the current value). Disabling also ends their sessions.
    pub async fn update_user(&self, id: &UserId, ch: &UserChange<'_>) -> Result<(), StoreError> {
        const OP: &str = "update_user";
        let done = sqlx::query(
            "UPDATE users SET display_name = COALESCE($1, display_name), \
             role = COALESCE($2, role), password_hash = COALESCE($3, password_hash), \
             disabled = COALESCE($4, disabled), \
             unit_code = CASE WHEN $5 = 1 THEN $6 ELSE unit_code END, updated_at = $7 \
             WHERE id = $8",
        )
        .bind(ch.display_name)
        .bind(ch.role)
        .bind(ch.password_hash)
        .bind(ch.disabled.map(i64::from))
        .bind(i64::from(ch.unit_code.is_some()))
        .bind(ch.unit_code.flatten())
        .bind(to_ms(Utc::now()))
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        if done.rows_affected() == 0 {
            return Err(not_found(OP, "user", id.as_str()));
        }
        if ch.disabled == Some(true) || ch.password_hash.is_some() {
            self.end_sessions(id).await?;
        }
        Ok(())
    }

    /// Opens a session for `token_hash` (SHA-256 of the cookie's token).
    pub async fn create_session(
        &self,
        token_hash: &str,
        user: &UserId,
        csrf: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const OP: &str = "create_session";
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(user.as_str())
        .bind(csrf)
        .bind(to_ms(Utc::now()))
        .bind(to_ms(expires_at))
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    /// The enabled user of a live session.
    pub async fn session_user(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Authenticated>, StoreError> {
        const OP: &str = "session_user";
        let row = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            ", s.csrf FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = 0"
        ))
        .bind(token_hash)
        .bind(to_ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        row.map(|r| {
            Ok(Authenticated {
                user: user_from_row(&r, OP)?,
                csrf: Some(col(&r, OP, "csrf")?),
            })
        })
        .transpose()
    }

    /// Ends one session (logout).
    pub async fn end_session(&self, token_hash: &str) -> Result<(), StoreError> {
        const OP: &str = "end_session";
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    async fn end_sessions(&self, user: &UserId) -> Result<(), StoreError> {
        const OP: &str = "end_sessions";
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    /// Stores a bearer token's hash for `user`.
    pub async fn create_token(
        &self,
        token_hash: &str,
        user: &UserId,
        name: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<String, StoreError> {
        const OP: &str = "create_token";
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO api_tokens (id, token_hash, user_id, name, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(token_hash)
        .bind(user.as_str())
        .bind(name)
        .bind(to_ms(Utc::now()))
        .bind(expires_at.map(to_ms))
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(id)
    }

    /// The enabled user of a live, unrevoked bearer token.
    pub async fn token_user(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Authenticated>, StoreError> {
        const OP: &str = "token_user";
        let row = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
             AND (t.expires_at IS NULL OR t.expires_at > $2) AND u.disabled = 0"
        ))
        .bind(token_hash)
        .bind(to_ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        row.map(|r| {
            Ok(Authenticated {
                user: user_from_row(&r, OP)?,
                csrf: None,
            })
        })
        .transpose()
    }

    /// A user's tokens, newest first.
    pub async fn tokens(&self, user: &UserId) -> Result<Vec<TokenRecord>, StoreError> {
        const OP: &str = "tokens";
        let rows = sqlx::query(
            "SELECT id, user_id, name, created_at, expires_at, revoked_at FROM api_tokens \
             WHERE user_id = $1 ORDER BY created_at DESC",
        )
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        rows.iter()
            .map(|r| {
                Ok(TokenRecord {
                    id: col(r, OP, "id")?,
                    user_id: UserId(col(r, OP, "user_id")?),
                    name: col(r, OP, "name")?,
                    created_at: ts(r, OP, "created_at")?,
                    expires_at: ts_opt(r, OP, "expires_at")?,
                    revoked_at: ts_opt(r, OP, "revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes a token of `user`; false if there was no such live token.
    pub async fn revoke_token(&self, user: &UserId, id: &str) -> Result<bool, StoreError> {
        const OP: &str = "revoke_token";
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 \
             WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(to_ms(Utc::now()))
        .bind(id)
        .bind(user.as_str())
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(done.rows_affected() == 1)
    }
}

/// A change to a user; `None` keeps the field. `unit_code: Some(None)` clears the scope.
#[derive(Debug, Clone, Default)]
pub struct UserChange<'a> {
    pub display_name: Option<&'a str>,
    pub role: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub disabled: Option<bool>,
    pub unit_code: Option<Option<&'a str>>,
}

fn not_found(op: &'static str, what: &'static str, id: &str) -> StoreError {
    StoreError::NotFound {
        op,
        what,
        id: id.to_string(),
    }
}

fn user_from_row(r: &AnyRow, op: &'static str) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: UserId(col(r, op, "id")?),
        username: col(r, op, "username")?,
        display_name: col(r, op, "display_name")?,
        role: col(r, op, "role")?,
        unit_code: col(r, op, "unit_code")?,
        disabled: col::<i64>(r, op, "disabled")? != 0,
        created_at: ts(r, op, "created_at")?,
    })
}
