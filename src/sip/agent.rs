//! The SIP endpoint: rsipstack's transport, transaction and dialog layers bound
//! to our configured address, plus the loop that routes incoming requests.
//!
//! carecall is a UAC toward the trunk, so most traffic is responses to our own
//! INVITEs. Incoming requests are either in-dialog (BYE, re-INVITE, INFO, OPTIONS,
//! matched to the dialog and handed to rsipstack's dialog, which reports them to
//! the call on its state channel) or out-of-dialog, which a [`RequestHandler`]
//! decides (the outbound service answers OPTIONS keep-alives and refuses calls;
//! the simulated phone accepts INVITEs).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rsipstack::EndpointBuilder;
use rsipstack::dialog::dialog::Dialog;
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::sip::{Method, StatusCode};
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipAddr, TcpListenerConnection, TransportLayer};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::tcp_accept::{self, FirstRequests, SharedIngress};

/// Errors of the SIP layer. Each says what failed so the operator can act.
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    #[error("cannot bind SIP {transport} on {addr}: {source} (is another process using the port?)")]
    Bind {
        transport: &'static str,
        addr: SocketAddr,
        source: Box<rsipstack::Error>,
    },
    #[error("invalid SIP URI {uri:?}: {reason}")]
    Uri { uri: String, reason: String },
    #[error("SIP stack error: {0}")]
    Stack(Box<rsipstack::Error>),
}

impl From<rsipstack::Error> for SipError {
    fn from(e: rsipstack::Error) -> Self {
        SipError::Stack(Box::new(e))
    }
}

/// Decides out-of-dialog requests (INVITE, OPTIONS, MESSAGE…).
pub trait RequestHandler: Send + Sync + 'static {
    /// Takes the transaction; the handler must answer it.
    fn handle(&self, agent: Arc<SipAgent>, tx: Transaction);
}

/// Refuses new sessions (carecall only dials out) and answers OPTIONS pings.
pub struct OutboundOnly;

impl RequestHandler for OutboundOnly {
    fn handle(&self, _agent: Arc<SipAgent>, mut tx: Transaction) {
        tokio::spawn(async move {
            let status = match tx.original.method {
                Method::Options => StatusCode::OK,
                // RFC 3261 §21.4.18: we do not take incoming calls on this service.
                Method::Invite => StatusCode::TemporarilyUnavailable,
                Method::Ack => return,
                Method::Bye | Method::Cancel | Method::Info => {
                    StatusCode::CallTransactionDoesNotExist
                }
                _ => StatusCode::MethodNotAllowed,
            };
            if let Err(e) = tx.reply(status.clone()).await {
                debug!(error = %e, ?status, "could not answer out-of-dialog request");
            }
        });
    }
}

/// Limits of the SIP port for a service exposed to the network (`serve`,
/// `call`): what [`super::ingress`] decides, and TCP timeouts.
pub struct PortGuard {
    pub ingress: SharedIngress,
    /// A TCP connection without a complete request by then is closed.
    pub first_request: Duration,
    /// A TCP connection silent this long is closed (rsipstack's idle timeout).
    pub idle: Duration,
}

pub struct SipAgent {
    endpoint: EndpointInnerRef,
    dialogs: Arc<DialogLayer>,
    cancel: CancellationToken,
    local: SocketAddr,
    advertised: IpAddr,
    user_agent: String,
    /// TCP connections accepted by [`tcp_accept`] waiting for their first request.
    first: Arc<FirstRequests>,
    /// Where each live dialog's requests may come from (item 10 of issue 9).
    peers: Arc<super::peers::DialogPeers>,
}

/// A listening TCP socket with `SO_REUSEADDR`, as rsipstack's listener binds.
fn tcp_listener(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

impl SipAgent {
    /// Binds UDP and TCP on `bind` (the same port for both) and starts serving,
    /// without limits (the simulated phone, tests).
    /// `public_ip` overrides the address advertised in Contact and SDP.
    pub async fn start(
        bind: SocketAddr,
        public_ip: Option<IpAddr>,
        user_agent: &str,
        handler: Arc<dyn RequestHandler>,
    ) -> Result<Arc<SipAgent>, SipError> {
        Self::start_guarded(bind, public_ip, user_agent, handler, None).await
    }

    /// [`SipAgent::start`] with `guard` in front of the port: every datagram
    /// and TCP connection is admitted by it before rsipstack parses anything,
    /// and TCP is accepted by [`tcp_accept`] instead of rsipstack's listener.
    pub async fn start_guarded(
        bind: SocketAddr,
        public_ip: Option<IpAddr>,
        user_agent: &str,
        handler: Arc<dyn RequestHandler>,
        guard: Option<PortGuard>,
    ) -> Result<Arc<SipAgent>, SipError> {
        let cancel = CancellationToken::new();
        let transport = TransportLayer::new(cancel.child_token());
        if let Some(g) = &guard {
            let ingress = g.ingress.clone();
            transport.set_whitelist(move |ip: IpAddr| {
                let ok = tcp_accept::lock(&ingress).admit_datagram(ip, tcp_accept::now_ms());
                async move { ok }
            });
            transport.set_stream_idle_timeout(g.idle);
        }
        let udp = UdpConnection::create_connection(bind, None, Some(cancel.child_token()))
            .await
            .map_err(|source| SipError::Bind {
                transport: "UDP",
                addr: bind,
                source: Box::new(source),
            })?;
        let local = udp.get_addr().get_socketaddr()?;
        transport.add_transport(udp.into());
        // TCP on the same port as UDP (RFC 3261 §18: a UA SHOULD listen on both).
        let tcp_addr = local;
        let bind_err = |e: std::io::Error| SipError::Bind {
            transport: "TCP",
            addr: tcp_addr,
            source: Box::new(rsipstack::Error::from(e)),
        };
        let own_listener = match &guard {
            Some(_) => Some(tcp_listener(tcp_addr).map_err(bind_err)?),
            None => {
                let tcp = TcpListenerConnection::new(tcp_addr, None)
                    .await
                    .map_err(|source| SipError::Bind {
                        transport: "TCP",
                        addr: tcp_addr,
                        source: Box::new(source),
                    })?;
                transport.add_transport(tcp.into());
                None
            }
        };

        let endpoint = EndpointBuilder::new()
            .with_transport_layer(transport)
            .with_cancel_token(cancel.clone())
            .with_user_agent(user_agent)
            .build();
        let incoming = endpoint.incoming_transactions()?;
        let inner = endpoint.inner.clone();
        let dialogs = Arc::new(DialogLayer::new(inner.clone()));
        let advertised = public_ip.unwrap_or(if local.ip().is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            local.ip()
        });
        let first = Arc::new(FirstRequests::default());
        if let (Some(listener), Some(g)) = (own_listener, &guard) {
            tokio::spawn(tcp_accept::serve(
                listener,
                tcp_accept::Acceptor {
                    endpoint: inner.clone(),
                    local: SipAddr {
                        r#type: Some(rsipstack::sip::Transport::Tcp),
                        addr: tcp_addr.into(),
                    },
                    guard: g.ingress.clone(),
                    first: first.clone(),
                    first_request: g.first_request,
                    cancel: cancel.child_token(),
                },
            ));
        }
        let agent = Arc::new(SipAgent {
            endpoint: inner.clone(),
            dialogs,
            cancel: cancel.clone(),
            local,
            advertised,
            user_agent: user_agent.to_string(),
            first,
            peers: Arc::default(),
        });
        tokio::spawn(async move {
            if let Err(e) = inner.serve().await {
                warn!(error = %e, "SIP endpoint stopped");
            }
        });
        tokio::spawn(route_incoming(agent.clone(), incoming, handler));
        info!(%local, "SIP listening on UDP and TCP");
        Ok(agent)
    }

    pub fn endpoint(&self) -> &EndpointInnerRef {
        &self.endpoint
    }

    pub fn dialogs(&self) -> &Arc<DialogLayer> {
        &self.dialogs
    }

    /// The bound address (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The address to put in Contact and SDP.
    pub fn advertised_ip(&self) -> IpAddr {
        self.advertised
    }

    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// The table of addresses allowed to send requests in our dialogs.
    pub fn peers(&self) -> &Arc<super::peers::DialogPeers> {
        &self.peers
    }

    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}

impl Drop for SipAgent {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn route_incoming(
    agent: Arc<SipAgent>,
    mut incoming: rsipstack::transaction::TransactionReceiver,
    handler: Arc<dyn RequestHandler>,
) {
    while let Some(mut tx) = incoming.recv().await {
        if let Some(peer) = tx
            .connection
            .as_ref()
            .filter(|c| matches!(c, rsipstack::transport::SipConnection::Tcp(_)))
            .and_then(|c| c.get_remote_addr())
            .and_then(|a| a.get_socketaddr().ok())
        {
            agent.first.arrived(peer);
        }
        match agent.dialogs.match_dialog(&tx) {
            // BYE, INFO, re-INVITE, UPDATE from an address the dialog does not know:
            // refused before it can touch the call (sip::peers); an ACK, which has no
            // response, is dropped.
            Some(dialog) if !in_dialog_source_ok(&agent, &tx, &dialog) => {
                if tx.original.method != Method::Ack {
                    tokio::spawn(async move {
                        tx.reply(StatusCode::Forbidden).await.ok();
                    });
                }
            }
            Some(Dialog::Invite(mut dialog)) => {
                tokio::spawn(async move {
                    if let Err(e) = dialog.handle(&mut tx).await {
                        debug!(error = %e, method = %tx.original.method, "in-dialog request failed");
                    }
                });
            }
            Some(_) => {
                tokio::spawn(async move {
                    tx.reply(StatusCode::MethodNotAllowed).await.ok();
                });
            }
            None => handler.handle(agent.clone(), tx),
        }
    }
}

/// Whether an in-dialog request comes from an address the dialog knows; logs the
/// refusal with the method and source (no user parts: they may be phone numbers).
fn in_dialog_source_ok(agent: &SipAgent, tx: &Transaction, dialog: &Dialog) -> bool {
    let Some(source) = super::peers::request_source(tx) else {
        warn!(method = %tx.original.method, "in-dialog request of unknown source refused");
        return false;
    };
    let call_id = dialog.id().call_id;
    if agent.peers.permits(&call_id, source.ip(), dialog) {
        return true;
    }
    warn!(method = %tx.original.method, %source, "in-dialog request from a stranger refused with 403");
    false
}
