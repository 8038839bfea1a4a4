//! Finding an operator for a citizen who asked for one.
//!
//! The pick itself is pure ([`candidates`]): operators in `available`, not yet
//! tried for this call, longest idle first (`state_since` ascending), so the
//! work spreads evenly. The [`OperatorQueue`] around it claims the operator in
//! the database (a conditional UPDATE: of two calls racing for one operator,
//! exactly one wins, whichever node they run on), rings them through the first
//! [`OperatorReach`] that can reach them, and moves on to the next operator
//! when the phone is not answered. After the call the operator gets a
//! `wrap_up` period (filling the form) before new calls are offered.
//!
//! A hunt runs in its own task so the citizen's call loop keeps ticking (the
//! hold prompt plays meanwhile); dropping the [`Hunt`] (the citizen hung up)
//! stops the ringing and gives the operator back.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{info, warn};

use super::leg::{LegCommand, LegEvent, LegHandle, LegKind};
use crate::config::BridgeConfig;
use crate::store::{CallId, OperatorId, OperatorRecord, OperatorState, Store};

/// What the operator's phone or screen is told about the call.
#[derive(Debug, Clone)]
pub struct DialContext {
    /// The citizen's call row.
    pub call: CallId,
    /// The queue the dialplan named.
    pub queue: String,
    /// One line for a phone's display: the hotline and the dossier, never the
    /// citizen's number in full.
    pub display: String,
    /// An operator claimed before the citizen was dialled: only they are rung,
    /// once, without another claim.
    pub reserved: Option<OperatorId>,
}

/// One way to reach an operator: a SIP phone registered with the built-in
/// registrar, or the browser softphone. Boxed futures keep the trait usable
/// as `dyn` (a list of ways, tried in order).
pub trait OperatorReach: Send + Sync + 'static {
    fn kind(&self) -> LegKind;

    /// Whether `op` can be rung this way now (a live contact, an open page).
    fn reachable<'a>(&'a self, op: &'a OperatorRecord) -> BoxFuture<'a, bool>;

    /// Starts ringing `op`. The handle's first event is `Answered` or
    /// `Failed`; `None` when nothing could even be sent.
    fn dial<'a>(
        &'a self,
        op: &'a OperatorRecord,
        ctx: &'a DialContext,
    ) -> BoxFuture<'a, Option<LegHandle>>;
}

/// Timings of the queue, from `[bridge]`.
#[derive(Debug, Clone, Copy)]
pub struct QueueSettings {
    pub wait: Duration,
    pub wrap_up: Duration,
    pub retry: Duration,
}

impl QueueSettings {
    pub fn from_config(c: &BridgeConfig) -> QueueSettings {
        QueueSettings {
            wait: Duration::from_secs(c.wait_secs),
            wrap_up: Duration::from_secs(c.wrap_up_secs),
            retry: Duration::from_millis(c.retry_ms),
        }
    }
}

/// The operators to try, best first: `available`, not in `tried`, longest
/// idle first (ties by username, so the order is stable).
pub fn candidates(ops: Vec<OperatorRecord>, tried: &[OperatorId]) -> Vec<OperatorRecord> {
    let mut free: Vec<OperatorRecord> = ops
        .into_iter()
        .filter(|o| o.state == OperatorState::Available && !tried.contains(&o.id))
        .collect();
    free.sort_by(|a, b| (a.state_since, &a.username).cmp(&(b.state_since, &b.username)));
    free
}

/// An operator who answered, and the leg to them.
#[derive(Debug)]
pub struct Connected {
    pub operator: OperatorRecord,
    pub leg: LegHandle,
}

/// A hunt in progress; resolves to the operator who answered, or `None` when
/// the wait ran out. Dropping it abandons the hunt.
pub type Hunt = oneshot::Receiver<Option<Connected>>;

pub struct OperatorQueue {
    store: Store,
    settings: QueueSettings,
    reaches: RwLock<Vec<Arc<dyn OperatorReach>>>,
}

impl OperatorQueue {
    pub fn new(store: Store, settings: QueueSettings) -> OperatorQueue {
        OperatorQueue {
            store,
            settings,
            reaches: RwLock::new(Vec::new()),
        }
    }

    /// Adds a way to reach operators (tried in the order added).
    pub fn add_reach(&self, reach: Arc<dyn OperatorReach>) {
        self.reaches.write().expect("reaches lock").push(reach);
    }

    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    /// Starts hunting for an operator for up to `wait` (the configured wait
    /// when `None`).
    pub fn hunt(self: &Arc<Self>, ctx: DialContext, wait: Option<Duration>) -> Hunt {
        let (tx, rx) = oneshot::channel();
        let queue = self.clone();
        let deadline = Instant::now() + wait.unwrap_or(self.settings.wait);
        tokio::spawn(async move { queue.run_hunt(ctx, deadline, tx).await });
        rx
    }

    async fn run_hunt(
        &self,
        ctx: DialContext,
        deadline: Instant,
        mut tx: oneshot::Sender<Option<Connected>>,
    ) {
        if let Some(op) = ctx.reserved.clone() {
            let conn = self.ring_reserved(&ctx, &op, deadline, &mut tx).await;
            if let Err(Some(conn)) = tx.send(conn) {
                let _ = conn.leg.commands.try_send(LegCommand::Hangup);
                self.release(&conn.operator.id, OperatorState::Available)
                    .await;
            }
            return;
        }
        let mut tried = Vec::new();
        loop {
            if let Some(conn) = self
                .try_operators(&ctx, deadline, &mut tried, &mut tx)
                .await
            {
                if let Err(Some(conn)) = tx.send(Some(conn)) {
                    // The citizen left just as the operator picked up.
                    let _ = conn.leg.commands.try_send(LegCommand::Hangup);
                    self.release(&conn.operator.id, OperatorState::Available)
                        .await;
                }
                return;
            }
            if tx.is_closed() || Instant::now() >= deadline {
                break;
            }
            // Everyone tried is busy or did not answer: try them all again.
            tried.clear();
            tokio::select! {
                _ = tokio::time::sleep(self.settings.retry) => {}
                _ = tokio::time::sleep_until(deadline) => {}
                _ = tx.closed() => break,
            }
        }
        info!(call = %ctx.call, "no operator answered in time");
        let _ = tx.send(None);
    }

    /// Rings the operator reserved for this call; `None` (and the operator
    /// released) when they cannot be reached or do not pick up.
    async fn ring_reserved(
        &self,
        ctx: &DialContext,
        id: &OperatorId,
        deadline: Instant,
        tx: &mut oneshot::Sender<Option<Connected>>,
    ) -> Option<Connected> {
        let op = match self.store.operators().await {
            Ok(ops) => ops.into_iter().find(|o| &o.id == id)?,
            Err(e) => {
                warn!(error = %e, "cannot read the reserved operator");
                return None;
            }
        };
        let connected = match self.reach_for(&op).await {
            Some(reach) => match reach.dial(&op, ctx).await {
                Some(leg) => ring(leg, deadline, tx).await.ok(),
                None => None,
            },
            None => None,
        };
        match connected {
            Some(leg) => Some(Connected { operator: op, leg }),
            None => {
                info!(operator = %op.username, "the reserved operator did not take the call");
                self.release(&op.id, OperatorState::Available).await;
                None
            }
        }
    }

    /// Gives back an operator reserved for a call that never reached them
    /// (the citizen did not answer, or hung up first).
    pub async fn release_reserved(&self, op: &OperatorId) {
        self.release(op, OperatorState::Available).await;
    }

    /// One pass over the free operators; `Some` when one answered.
    async fn try_operators(
        &self,
        ctx: &DialContext,
        deadline: Instant,
        tried: &mut Vec<OperatorId>,
        tx: &mut oneshot::Sender<Option<Connected>>,
    ) -> Option<Connected> {
        let ops = match self.store.available_operators().await {
            Ok(ops) => ops,
            Err(e) => {
                warn!(error = %e, "cannot list operators");
                return None;
            }
        };
        for op in candidates(ops, tried) {
            tried.push(op.id.clone());
            let Some(reach) = self.reach_for(&op).await else {
                continue;
            };
            match self.store.claim_operator(&op.id, Utc::now()).await {
                Ok(true) => {}
                Ok(false) => continue, // another call took them first
                Err(e) => {
                    warn!(error = %e, "cannot claim an operator");
                    continue;
                }
            }
            info!(operator = %op.username, kind = ?reach.kind(), "ringing operator");
            let Some(leg) = reach.dial(&op, ctx).await else {
                self.release(&op.id, OperatorState::Available).await;
                continue;
            };
            match ring(leg, deadline, tx).await {
                Ok(leg) => return Some(Connected { operator: op, leg }),
                Err(why) => {
                    info!(operator = %op.username, %why, "operator did not take the call");
                    self.release(&op.id, OperatorState::Available).await;
                }
            }
            if tx.is_closed() || Instant::now() >= deadline {
                return None;
            }
        }
        None
    }

    /// Whether some way can ring `op` now (a live SIP binding, an open
    /// softphone page). Progressive dialling asks before claiming an operator,
    /// so a citizen is never dialled for an operator nobody could connect.
    pub async fn reachable(&self, op: &OperatorRecord) -> bool {
        self.reach_for(op).await.is_some()
    }

    async fn reach_for(&self, op: &OperatorRecord) -> Option<Arc<dyn OperatorReach>> {
        let reaches = self.reaches.read().expect("reaches lock").clone();
        for reach in reaches {
            if reach.reachable(op).await {
                return Some(reach);
            }
        }
        None
    }

    /// The bridged call is over: `wrap_up` now (awaited, so a one-shot
    /// process records it before exiting), `available` after the configured
    /// time unless a supervisor changed the state meanwhile (a timer task).
    pub async fn call_ended(self: &Arc<Self>, op: &OperatorId) {
        let moved = self
            .store
            .move_operator(op, OperatorState::OnCall, OperatorState::WrapUp, Utc::now())
            .await;
        match moved {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                warn!(error = %e, "cannot put the operator in wrap-up");
                return;
            }
        }
        let queue = self.clone();
        let op = op.clone();
        tokio::spawn(async move {
            tokio::time::sleep(queue.settings.wrap_up).await;
            let back = queue
                .store
                .move_operator(
                    &op,
                    OperatorState::WrapUp,
                    OperatorState::Available,
                    Utc::now(),
                )
                .await;
            if let Err(e) = back {
                warn!(error = %e, "cannot end the operator's wrap-up");
            }
        });
    }

    /// Gives a claimed operator back (only if still `on_call`).
    async fn release(&self, op: &OperatorId, to: OperatorState) {
        if let Err(e) = self
            .store
            .move_operator(op, OperatorState::OnCall, to, Utc::now())
            .await
        {
            warn!(error = %e, "cannot release the operator");
        }
    }
}

/// Waits for the leg's answer; `Err` with why it did not come. The leg is
/// hung up (CANCEL while ringing) when the wait ends or the citizen left.
async fn ring(
    mut leg: LegHandle,
    deadline: Instant,
    tx: &mut oneshot::Sender<Option<Connected>>,
) -> Result<LegHandle, String> {
    let outcome = tokio::select! {
        ev = leg.events.recv() => match ev {
            Some(LegEvent::Answered) => return Ok(leg),
            Some(LegEvent::Failed { reason }) => reason,
            Some(LegEvent::Hangup { reason }) => reason,
            Some(other) => format!("unexpected {other:?} before the answer"),
            None => "the leg ended".into(),
        },
        _ = tokio::time::sleep_until(deadline) => "the citizen's wait ran out".into(),
        _ = tx.closed() => "the citizen hung up".into(),
    };
    let _ = leg.commands.try_send(LegCommand::Hangup);
    Err(outcome)
}

#[cfg(test)]
mod tests;
