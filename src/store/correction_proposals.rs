//! Proposed corrections waiting for a second user (`correction_proposals`,
//! migration 16; the rule is `crate::corrections`). A proposal changes no
//! answer; its approval appends the revision through the ordinary revision
//! API, so the hash chain is the one every answer is in.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;

use super::error::classify;
use super::types::{ResponseId, to_ms};
use super::{Store, StoreError, col, ts};

/// A proposal's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProposalState {
    Pending,
    Approved,
    Refused,
}

impl ProposalState {
    fn from_db(decision: Option<&str>) -> Option<ProposalState> {
        match decision {
            None => Some(ProposalState::Pending),
            Some("approved") => Some(ProposalState::Approved),
            Some("refused") => Some(ProposalState::Refused),
            Some(_) => None,
        }
    }

    fn as_db(self) -> Option<&'static str> {
        match self {
            ProposalState::Pending => None,
            ProposalState::Approved => Some("approved"),
            ProposalState::Refused => Some("refused"),
        }
    }
}

/// A correction someone asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CorrectionProposal {
    pub id: String,
    pub response_id: ResponseId,
    pub key: String,
    pub value: String,
    pub reason: String,
    pub proposed_by: String,
    /// The proposer's unit when proposing (`None`: the whole province).
    pub proposer_unit: Option<String>,
    pub proposed_at: DateTime<Utc>,
    pub state: ProposalState,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The revision the approval appended.
    pub answer_id: Option<String>,
}

/// What a proposal holds when it is made.
#[derive(Debug, Clone)]
pub struct NewProposal<'a> {
    pub response_id: &'a ResponseId,
    pub key: &'a str,
    pub value: &'a str,
    pub reason: &'a str,
    pub proposed_by: &'a str,
    pub proposer_unit: Option<&'a str>,
    pub at: DateTime<Utc>,
}

const COLUMNS: &str = "id, response_id, key, value, reason, proposed_by, proposer_unit, \
                       proposed_at, decision, decided_by, decided_at, answer_id";

impl Store {
    /// Records a proposal; returns its id.
    pub async fn propose_correction(&self, p: &NewProposal<'_>) -> Result<String, StoreError> {
        const OP: &str = "propose_correction";
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO correction_proposals (id, response_id, key, value, reason, \
             proposed_by, proposer_unit, proposed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(p.response_id.as_str())
        .bind(p.key)
        .bind(p.value)
        .bind(p.reason)
        .bind(p.proposed_by)
        .bind(p.proposer_unit)
        .bind(to_ms(p.at))
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(id)
    }

    /// One proposal, or [`StoreError::NotFound`].
    pub async fn correction_proposal(&self, id: &str) -> Result<CorrectionProposal, StoreError> {
        const OP: &str = "correction_proposal";
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM correction_proposals WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        match row {
            Some(r) => proposal_from_row(&r, OP),
            None => Err(StoreError::NotFound {
                op: OP,
                what: "correction proposal",
                id: id.to_owned(),
            }),
        }
    }

    /// Proposals not yet decided, oldest first.
    pub async fn pending_corrections(&self) -> Result<Vec<CorrectionProposal>, StoreError> {
        const OP: &str = "pending_corrections";
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM correction_proposals WHERE decision IS NULL \
             ORDER BY proposed_at, id"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        rows.iter().map(|r| proposal_from_row(r, OP)).collect()
    }

    /// Marks a pending proposal decided. `false` when it was decided already:
    /// of two approvers at once only the first counts, so a correction is
    /// applied once.
    pub async fn decide_correction(
        &self,
        id: &str,
        state: ProposalState,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const OP: &str = "decide_correction";
        let done = sqlx::query(
            "UPDATE correction_proposals SET decision = $1, decided_by = $2, decided_at = $3 \
             WHERE id = $4 AND decision IS NULL",
        )
        .bind(state.as_db())
        .bind(by)
        .bind(to_ms(at))
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(done.rows_affected() == 1)
    }

    /// Links an approved proposal to the revision its approval appended.
    pub async fn link_correction_answer(
        &self,
        id: &str,
        answer_id: &str,
    ) -> Result<(), StoreError> {
        const OP: &str = "link_correction_answer";
        sqlx::query(
            "UPDATE correction_proposals SET answer_id = $1 WHERE id = $2 AND answer_id IS NULL",
        )
        .bind(answer_id)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| classify(OP, e))?;
        Ok(())
    }
}

fn proposal_from_row(r: &AnyRow, op: &'static str) -> Result<CorrectionProposal, StoreError> {
    let decision: Option<String> = col(r, op, "decision")?;
    let decided_at: Option<i64> = col(r, op, "decided_at")?;
    Ok(CorrectionProposal {
        id: col(r, op, "id")?,
        response_id: ResponseId(col(r, op, "response_id")?),
        key: col(r, op, "key")?,
        value: col(r, op, "value")?,
        reason: col(r, op, "reason")?,
        proposed_by: col(r, op, "proposed_by")?,
        proposer_unit: col(r, op, "proposer_unit")?,
        proposed_at: ts(r, op, "proposed_at")?,
        state: ProposalState::from_db(decision.as_deref()).ok_or(StoreError::Corrupt {
            op,
            column: "decision",
        })?,
        decided_by: col(r, op, "decided_by")?,
        decided_at: decided_at.and_then(super::types::from_ms),
        answer_id: col(r, op, "answer_id")?,
    })
}
