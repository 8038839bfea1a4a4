//! The registrar's driver: a [`RequestHandler`] that takes REGISTER and OPTIONS
//! out of rsipstack, runs them through the sans-IO [`Registrar`] with the
//! operator's record and bindings from the [`Store`], stores the changes and
//! sends the reply. Every other request goes to the handler it wraps.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rsipstack::sip::headers::make_header;
use rsipstack::sip::{Header, Method, StatusCode, Transport};
use rsipstack::transaction::transaction::Transaction;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::bindings::{Binding, Change};
use super::{OperatorAuth, Pending, Registrar, Reply, RequestParts, Step};
use crate::sip::agent::{RequestHandler, SipAgent};
use crate::store::{
    OperatorId, OperatorRecord, OperatorState, RegistrationRecord, Store, StoreError,
};

/// Routes REGISTER and OPTIONS to the registrar, the rest to `fallback`.
pub struct RegistrarHandler {
    inner: Arc<Inner>,
    fallback: Arc<dyn RequestHandler>,
}

struct Inner {
    /// Held only for the pure steps, never across an await.
    registrar: Mutex<Registrar>,
    store: Store,
}

impl RegistrarHandler {
    pub fn new(
        registrar: Registrar,
        store: Store,
        fallback: Arc<dyn RequestHandler>,
    ) -> RegistrarHandler {
        RegistrarHandler {
            inner: Arc::new(Inner {
                registrar: Mutex::new(registrar),
                store,
            }),
            fallback,
        }
    }
}

impl RequestHandler for RegistrarHandler {
    fn handle(&self, agent: Arc<SipAgent>, tx: Transaction) {
        match tx.original.method {
            Method::Register | Method::Options => {
                let inner = self.inner.clone();
                tokio::spawn(async move { inner.serve(tx).await });
            }
            _ => self.fallback.handle(agent, tx),
        }
    }
}

fn now_ms() -> u64 {
    u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0)
}

fn at(ms: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX)).unwrap_or_default()
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registrar> {
        self.registrar.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn serve(&self, mut tx: Transaction) {
        let Some((parts, source)) = request_parts(&tx) else {
            // Every transport rsipstack serves knows its peer; never expected.
            debug!("registrar: request without a peer address dropped");
            return;
        };
        let now = now_ms();
        let step = self.lock().on_request(&parts, source, now);
        let reply = match step {
            Step::Reply(r) => Some(r),
            Step::Authenticate(pending) => {
                let user = pending.user.clone();
                match self.authenticate(*pending, now).await {
                    Ok(r) => r,
                    Err(e) => {
                        warn!(error = %e, %user, "registrar: database error");
                        Some(Reply {
                            code: 500,
                            reason: "Server Internal Error",
                            headers: vec![("Retry-After", "5".into())],
                        })
                    }
                }
            }
        };
        let Some(reply) = reply else {
            return;
        };
        let headers: Vec<Header> = reply
            .headers
            .iter()
            .map(|(n, v)| make_header(n, v.clone()))
            .collect();
        if let Err(e) = tx
            .reply_with(StatusCode::from(reply.code), headers, None)
            .await
        {
            debug!(error = %e, code = reply.code, "registrar: could not send the reply");
        }
    }

    /// Reads the operator, checks the digest, then reads its bindings and
    /// stores the changes before the 200 goes out (RFC 3261 §10.3 step 8).
    /// An unknown user and a wrong password cost the same: one read, one
    /// digest; the bindings are read only once the digest matched.
    async fn authenticate(&self, pending: Pending, now: u64) -> Result<Option<Reply>, StoreError> {
        let operator = self.store.operator_by_sip_user(&pending.user).await?;
        let auth = operator.as_ref().map(|op| OperatorAuth {
            sip_user: &op.sip_user,
            ha1: &op.sip_ha1,
        });
        let verified = match self.lock().authenticate(pending, auth, now) {
            Ok(v) => v,
            Err(refused) => return Ok(refused.reply),
        };
        let Some(op) = &operator else {
            return Ok(None); // unreachable: only a known operator verifies
        };
        let current: Vec<Binding> = self
            .store
            .contacts_of(&op.id, at(now))
            .await?
            .into_iter()
            .map(binding_of)
            .collect();
        let outcome = self.lock().bind(&verified, &current, now);
        for change in &outcome.changes {
            self.store_change(&op.id, change).await?;
        }
        if !outcome.changes.is_empty() {
            info!(user = %op.sip_user, source = %verified.pending().source(), changes = outcome.changes.len(), "registrar: bindings updated");
            self.follow_reachability(op).await?;
        }
        Ok(outcome.reply)
    }

    /// A phone that registers makes an offline operator available; removing
    /// the last binding makes an available one offline. Paused operators,
    /// and those on a call or in wrap-up, keep their state.
    async fn follow_reachability(&self, op: &OperatorRecord) -> Result<(), StoreError> {
        let now = Utc::now();
        let reachable = !self.store.contacts_of(&op.id, now).await?.is_empty();
        let (from, to) = if reachable {
            (OperatorState::Offline, OperatorState::Available)
        } else {
            (OperatorState::Available, OperatorState::Offline)
        };
        if self.store.move_operator(&op.id, from, to, now).await? {
            info!(user = %op.sip_user, state = to.as_str(), "registrar: operator state follows the phone");
        }
        Ok(())
    }

    async fn store_change(&self, op: &OperatorId, change: &Change) -> Result<(), StoreError> {
        match change {
            Change::Upsert(b) => {
                self.store
                    .upsert_registration(&RegistrationRecord {
                        operator_id: op.clone(),
                        contact: b.contact.clone(),
                        source: b.source.clone(),
                        transport: b.transport.clone(),
                        user_agent: b.user_agent.clone(),
                        call_id: b.call_id.clone(),
                        cseq: b.cseq,
                        expires_at: at(u64::try_from(b.expires_at_ms).unwrap_or(0)),
                    })
                    .await
            }
            Change::Remove { contact } => self
                .store
                .remove_registration(op, contact)
                .await
                .map(|_| ()),
            Change::RemoveAll => self.store.remove_registrations(op).await.map(|_| ()),
        }
    }
}

fn binding_of(r: RegistrationRecord) -> Binding {
    Binding {
        contact: r.contact,
        source: r.source,
        transport: r.transport,
        user_agent: r.user_agent,
        call_id: r.call_id,
        cseq: r.cseq,
        expires_at_ms: r.expires_at.timestamp_millis(),
    }
}

/// The registrar's view of an rsipstack request, and where it came from: the
/// connection's peer (for UDP the datagram's source), never a header a client
/// writes. The top Via is read only to log a phone behind NAT.
fn request_parts(tx: &Transaction) -> Option<(RequestParts, SocketAddr)> {
    let req = &tx.original;
    let peer = tx.connection.as_ref()?.get_remote_addr()?;
    let source = peer.get_socketaddr().ok()?;
    let mut parts = RequestParts {
        method: req.method.to_string(),
        transport: transport_name(peer.r#type).to_string(),
        ..RequestParts::default()
    };
    let mut via = None;
    for h in req.headers.iter() {
        match h {
            Header::To(v) => parts.to = Some(v.value().to_string()),
            Header::CallId(v) => parts.call_id = Some(v.value().to_string()),
            Header::CSeq(v) => parts.cseq = Some(v.value().to_string()),
            Header::Contact(v) => parts.contacts.push(v.value().to_string()),
            Header::Expires(v) => parts.expires = Some(v.value().to_string()),
            Header::Authorization(v) => parts.authorization = Some(v.value().to_string()),
            Header::UserAgent(v) => parts.user_agent = Some(v.value().to_string()),
            Header::Via(v) if via.is_none() => via = Some(v.value().to_string()),
            _ => {}
        }
    }
    if let Some(top) = via.as_deref().and_then(|v| crate::sip::via::top(v).ok())
        && top.host != source.ip().to_string()
    {
        debug!(%source, sent_by = %top.host, "registrar: Via sent-by differs from the source (NAT)");
    }
    Some((parts, source))
}

/// The name stored with a binding for a transport.
fn transport_name(t: Option<Transport>) -> &'static str {
    match t {
        Some(Transport::Tcp) => "tcp",
        Some(Transport::Tls) => "tls",
        Some(Transport::Ws) | Some(Transport::Wss) => "ws",
        _ => "udp",
    }
}

/// Deletes expired bindings every `every` until `stop` (any node may do it;
/// reads already ignore expired rows, so this only keeps the table small).
pub async fn expire_loop(store: Store, every: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match store.expire_registrations(Utc::now()).await {
            Ok(0) => {}
            Ok(n) => debug!(expired = n, "registrar: expired bindings removed"),
            Err(e) => warn!(error = %e, "registrar: could not remove expired bindings"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_are_named_for_storage() {
        assert_eq!(transport_name(Some(Transport::Tcp)), "tcp");
        assert_eq!(transport_name(Some(Transport::Udp)), "udp");
        assert_eq!(transport_name(None), "udp");
        assert_eq!(transport_name(Some(Transport::Wss)), "ws");
    }
}
