//! `WebPhones`: which operators have the softphone page open, and how to ring them.
//!
//! One live page per operator: a newer page replaces the older one (the older
//! is told and closes). Opening the page makes the operator `available`,
//! closing it `offline`; the bridge's queue moves them through `on_call` and
//! `wrap_up` in between.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{OnceCell, mpsc, oneshot};

use super::WebRtcError;
use super::hub::{HubHandle, SessionId};
use super::protocol::RingInfo;
use crate::bridge::{LegHandle, LegKind, LegPeer, leg_channel};
use crate::config::WebRtcConfig;
use crate::store::{OperatorId, OperatorState, Store};

/// A call offered to a page's session task.
#[derive(Debug)]
pub struct RingRequest {
    pub info: RingInfo,
    pub peer: LegPeer,
    /// Whether the page rings (false: busy, or its audio is not up).
    pub reply: oneshot::Sender<bool>,
}

#[derive(Debug)]
struct Link {
    session: SessionId,
    ring: mpsc::Sender<RingRequest>,
}

#[derive(Debug)]
struct Inner {
    config: WebRtcConfig,
    store: Store,
    hub: OnceCell<HubHandle>,
    phones: Mutex<HashMap<OperatorId, Link>>,
    next_session: AtomicU64,
}

/// The live softphone pages, by operator. Cheap to clone.
#[derive(Debug, Clone)]
pub struct WebPhones {
    inner: Arc<Inner>,
}

impl WebPhones {
    /// The registry; the media socket is bound when the first page connects.
    pub fn new(config: WebRtcConfig, store: Store) -> WebPhones {
        WebPhones {
            inner: Arc::new(Inner {
                config,
                store,
                hub: OnceCell::new(),
                phones: Mutex::new(HashMap::new()),
                next_session: AtomicU64::new(1),
            }),
        }
    }

    pub fn config(&self) -> &WebRtcConfig {
        &self.inner.config
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The media hub, started on first use.
    pub async fn hub(&self) -> Result<HubHandle, WebRtcError> {
        self.inner
            .hub
            .get_or_try_init(|| HubHandle::start(&self.inner.config))
            .await
            .cloned()
    }

    /// Whether `op` has a page open.
    pub fn is_connected(&self, op: &OperatorId) -> bool {
        self.lock().contains_key(op)
    }

    /// Operators with a page open.
    pub fn connected(&self) -> Vec<OperatorId> {
        self.lock().keys().cloned().collect()
    }

    /// Rings `op`'s page. `None` when there is no page, it is busy or its
    /// audio is not up; otherwise the leg, which reports `Answered` when the
    /// operator accepts and `Failed` on decline or ring timeout.
    pub async fn dial(&self, op: &OperatorId, info: RingInfo) -> Option<LegHandle> {
        let ring = self.lock().get(op).map(|l| l.ring.clone())?;
        let (handle, peer) = leg_channel(op.clone(), LegKind::WebRtc);
        let (reply, rung) = oneshot::channel();
        ring.send(RingRequest { info, peer, reply }).await.ok()?;
        match tokio::time::timeout(Duration::from_secs(2), rung).await {
            Ok(Ok(true)) => Some(handle),
            _ => None,
        }
    }

    /// Registers a new page for `op`; the previous page's ring channel is
    /// dropped, which tells it that it was replaced.
    pub(crate) async fn register(
        &self,
        op: &OperatorId,
    ) -> (SessionId, mpsc::Receiver<RingRequest>) {
        let session = self.inner.next_session.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(4);
        self.lock().insert(op.clone(), Link { session, ring: tx });
        self.set_state(op, OperatorState::Available).await;
        (session, rx)
    }

    /// Forgets the page, unless a newer one replaced it.
    pub(crate) async fn unregister(&self, op: &OperatorId, session: SessionId) {
        let removed = {
            let mut phones = self.lock();
            let mine = phones.get(op).is_some_and(|l| l.session == session);
            if mine {
                phones.remove(op);
            }
            mine
        };
        if removed {
            self.set_state(op, OperatorState::Offline).await;
        }
    }

    async fn set_state(&self, op: &OperatorId, state: OperatorState) {
        if let Err(e) = self
            .inner
            .store
            .set_operator_state(op, state, Utc::now())
            .await
        {
            tracing::warn!(operator = %op, %state, error = %e, "operator state not saved");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OperatorId, Link>> {
        // A panic while holding this lock leaves the map consistent.
        self.inner.phones.lock().unwrap_or_else(|p| p.into_inner())
    }
}
