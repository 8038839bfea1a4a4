//! The registrar's driver: a [`RequestHandler`] that takes REGISTER and OPTIONS
//! out of rsipstack, runs them through the sans-IO [`Registrar`] with the
//! operator's record and bindings from the [`Store`], stores the changes and
//! sends the reply. Every other request goes to the handler it wraps.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rsipstack::sip::headers::make_header;
use rsipstack::sip::{Header, Method, StatusCode};
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
        let (parts, source) = request_parts(&tx);
        let now = now_ms();
        let step = self.lock().on_request(&parts, source, now);
        let reply = match step {
            Step::Reply(r) => Some(r),
            Step::Drop => None,
            Step::Authenticate(pending) => match self.authenticate(&pending, now).await {
                Ok(r) => r,
                Err(e) => {
                    warn!(error = %e, user = %pending.user, "registrar: database error");
                    Some(Reply {
                        code: 500,
                        reason: "Server Internal Error",
                        headers: vec![("Retry-After", "5".into())],
                    })
                }
            },
        };
        let Some(reply) = reply else {
            debug!(%source, "registrar: request dropped");
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

    /// Reads the operator and its bindings, runs the second step and stores
    /// the changes before the 200 goes out (RFC 3261 §10.3 step 8).
    async fn authenticate(&self, pending: &Pending, now: u64) -> Result<Option<Reply>, StoreError> {
        let operator = self.store.operator_by_sip_user(&pending.user).await?;
        let current: Vec<Binding> = match &operator {
            Some(op) => self
                .store
                .contacts_of(&op.id, at(now))
                .await?
                .into_iter()
                .map(binding_of)
                .collect(),
            None => Vec::new(),
        };
        let auth = operator.as_ref().map(|op| OperatorAuth {
            sip_user: &op.sip_user,
            ha1: &op.sip_ha1,
        });
        let outcome = self.lock().on_operator(pending, auth, &current, now);
        if let Some(op) = &operator {
            for change in &outcome.changes {
                self.store_change(&op.id, change).await?;
            }
            if !outcome.changes.is_empty() {
                info!(user = %op.sip_user, source = %pending.source, changes = outcome.changes.len(), "registrar: bindings updated");
                self.follow_reachability(op).await?;
            }
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

/// The registrar's view of an rsipstack request, and where it came from.
fn request_parts(tx: &Transaction) -> (RequestParts, SocketAddr) {
    let req = &tx.original;
    let mut parts = RequestParts {
        method: req.method.to_string(),
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
    let from_via = via.as_deref().and_then(source_of_via);
    let source = from_via.map(|(a, _)| a).unwrap_or_else(|| {
        tx.connection
            .as_ref()
            .and_then(|c| c.get_remote_addr())
            .and_then(|a| a.get_socketaddr().ok())
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
    });
    parts.transport = from_via.map_or("udp", |(_, t)| t).to_string();
    (parts, source)
}

/// The sender of a request from its top Via after the transport layer marked
/// it (RFC 3261 §18.2.1 `received`, RFC 3581 `rport`), and its transport.
pub(crate) fn source_of_via(via: &str) -> Option<(SocketAddr, &'static str)> {
    let first = via.split(',').next()?.trim();
    let (proto, rest) = first.split_once(char::is_whitespace)?;
    let transport = match proto.rsplit('/').next()?.to_ascii_lowercase().as_str() {
        "udp" => "udp",
        "tcp" => "tcp",
        "tls" => "tls",
        "ws" | "wss" => "ws",
        _ => "udp",
    };
    let mut params = rest.split(';');
    let sent_by = params.next()?.trim();
    let (mut host, mut port) = split_host_port(sent_by)?;
    for p in params {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "received" => host = v.trim().trim_matches(['[', ']']).to_string(),
            "rport" => {
                if let Ok(p) = v.trim().parse() {
                    port = p;
                }
            }
            _ => {}
        }
    }
    let ip: IpAddr = host.parse().ok()?;
    Some((SocketAddr::new(ip, port), transport))
}

fn split_host_port(s: &str) -> Option<(String, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        let port = after
            .strip_prefix(':')
            .map_or(Some(5060), |p| p.parse().ok())?;
        return Some((h.to_string(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((s.to_string(), 5060)),
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
    fn source_from_via_uses_received_and_rport() {
        assert_eq!(
            source_of_via(
                "SIP/2.0/UDP 10.0.0.5:5086;branch=z9hG4bK1;received=203.0.113.7;rport=40000"
            ),
            Some(("203.0.113.7:40000".parse().unwrap(), "udp"))
        );
        assert_eq!(
            source_of_via("SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1"),
            Some(("127.0.0.1:5070".parse().unwrap(), "tcp"))
        );
        assert_eq!(
            source_of_via("SIP/2.0/UDP [::1]:5062;rport=5062, SIP/2.0/UDP 10.0.0.1"),
            Some(("[::1]:5062".parse().unwrap(), "udp"))
        );
        assert_eq!(
            source_of_via("SIP/2.0/UDP 127.0.0.2;branch=x"),
            Some(("127.0.0.2:5060".parse().unwrap(), "udp"))
        );
        // A hostname that the transport did not replace with `received`.
        assert_eq!(source_of_via("SIP/2.0/UDP phone.example:5060"), None);
        assert_eq!(source_of_via("garbage"), None);
    }
}
