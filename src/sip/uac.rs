//! The outbound leg toward the trunk: builds the INVITE with the hotline's caller
//! ID and hands it to rsipstack, which runs the INVITE transaction (RFC 3261
//! §17.1.1 timers, digest retry on 401/407 once, CANCEL/2xx races).

use std::net::SocketAddr;
use std::sync::Arc;

use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::DialogStateReceiver;
use rsipstack::dialog::invitation::{InviteAsyncResult, InviteOption};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Header, Transport, Uri};
use rsipstack::transport::SipAddr;
use tokio::task::JoinHandle;

use super::agent::{SipAgent, SipError};
use super::peers::PeerGuard;
use crate::config::{TransportKind, TrunkConfig};

/// Where and how calls leave: the trunk's address, our identity and credentials.
#[derive(Clone)]
pub struct TrunkRoute {
    /// host[:port] of the trunk, used as the domain of From/To/Request-URI.
    pub domain: String,
    pub destination: SipAddr,
    pub transport: Transport,
    pub caller_id: String,
    pub credential: Option<Credential>,
    /// The trunk's addresses, resolved once at start ([`TrunkRoute::resolve`]):
    /// in-dialog requests of trunk calls may come from their IPs (and the dialog's
    /// own addresses), and operator legs are never sent there (toll fraud, issue 9).
    pub addrs: Arc<[SocketAddr]>,
}

impl TrunkRoute {
    pub fn from_config(cfg: &TrunkConfig) -> Result<TrunkRoute, SipError> {
        let uri = parse_uri(&cfg.uri)?;
        let transport = match cfg.transport {
            TransportKind::Udp => Transport::Udp,
            TransportKind::Tcp => Transport::Tcp,
        };
        let mut destination = SipAddr::try_from(&uri).map_err(|e| SipError::Uri {
            uri: cfg.uri.clone(),
            reason: e.to_string(),
        })?;
        destination.r#type = Some(transport);
        let credential = (!cfg.username.is_empty()).then(|| Credential {
            username: cfg.username.clone(),
            password: cfg.password.clone(),
            realm: None,
            auth_username: None,
        });
        let addrs: Arc<[SocketAddr]> = match destination.get_socketaddr() {
            Ok(a) => Arc::new([canonical(a)]),
            Err(_) => Arc::new([]),
        };
        Ok(TrunkRoute {
            addrs,
            domain: uri.host_with_port.to_string(),
            destination,
            transport,
            caller_id: cfg.caller_id.clone(),
            credential,
        })
    }

    /// Resolves a trunk named by host name (an IP literal is already known). A name
    /// that does not resolve leaves the list empty: calls then fail on their own, and
    /// only the dialog's own addresses may send in-dialog requests.
    pub async fn resolve(mut self) -> TrunkRoute {
        if !self.addrs.is_empty() {
            return self.addrs_logged();
        }
        let target = if self.domain.contains(':') && !self.domain.starts_with('[') {
            self.domain.clone()
        } else {
            format!("{}:5060", self.domain)
        };
        match tokio::net::lookup_host(target.as_str()).await {
            Ok(addrs) => {
                let mut addrs: Vec<SocketAddr> = addrs.map(canonical).collect();
                addrs.sort();
                addrs.dedup();
                self.addrs = addrs.into();
            }
            Err(e) => tracing::warn!(trunk = %self.domain, error = %e, "cannot resolve the trunk"),
        }
        self.addrs_logged()
    }

    fn addrs_logged(self) -> TrunkRoute {
        tracing::info!(trunk = %self.domain, addrs = ?self.addrs, "trunk addresses");
        self
    }

    /// The Request-URI for a dialled number (`sip:<number>@<trunk>`), or the
    /// URI itself when the target already is one.
    pub fn request_uri(&self, target: &str) -> Result<Uri, SipError> {
        if target.starts_with("sip:") || target.starts_with("sips:") {
            parse_uri(target)
        } else {
            parse_uri(&format!("sip:{target}@{}", self.domain))
        }
    }
}

/// IPv4-mapped IPv6 written as IPv4, so comparisons see one address one way.
fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

pub fn parse_uri(s: &str) -> Result<Uri, SipError> {
    Uri::try_from(s).map_err(|e| SipError::Uri {
        uri: s.to_string(),
        reason: e.to_string(),
    })
}

/// A dialled leg: the dialog, the stream of its state changes (provisional
/// responses, confirmation, in-dialog requests, termination) and the task that
/// resolves to the final response of the INVITE.
pub struct OutboundLeg {
    pub dialog: InviteDialog,
    pub states: DialogStateReceiver,
    pub result: JoinHandle<InviteAsyncResult>,
    /// Lets the INVITE's destination send in-dialog requests while the leg lives.
    pub peers: PeerGuard,
}

/// Sends the INVITE. `call_id` is chosen by the caller so the call's tracing
/// span and database row carry it from the first packet.
pub fn invite(
    agent: &SipAgent,
    route: &TrunkRoute,
    target: &str,
    sdp_offer: String,
    call_id: String,
) -> Result<OutboundLeg, SipError> {
    let callee = route.request_uri(target)?;
    let caller = parse_uri(&format!("sip:{}@{}", route.caller_id, route.domain))?;
    let transport_param = match route.transport {
        Transport::Tcp => ";transport=tcp",
        _ => "",
    };
    let local = agent.local_addr();
    let contact = parse_uri(&format!(
        "sip:{}@{}{transport_param}",
        route.caller_id,
        std::net::SocketAddr::new(agent.advertised_ip(), local.port())
    ))?;
    // The carrier shows the hotline's number only when it is asserted (RFC 3325);
    // citizens refuse calls from unknown numbers.
    let pai = Header::Other(
        "P-Asserted-Identity".into(),
        format!("<sip:{}@{}>", route.caller_id, route.domain),
    );
    let option = InviteOption {
        caller_display_name: Some(route.caller_id.clone()),
        caller,
        callee,
        destination: Some(route.destination.clone()),
        content_type: Some("application/sdp".into()),
        offer: Some(sdp_offer.into_bytes()),
        contact,
        credential: route.credential.clone(),
        headers: Some(vec![pai]),
        call_id: Some(call_id.clone()),
        ..Default::default()
    };
    let peers = agent
        .peers()
        .allow(&call_id, route.addrs.iter().map(|a| a.ip()));
    let dialogs: &Arc<_> = agent.dialogs();
    let (state_tx, states) = dialogs.new_dialog_state_channel();
    let (dialog, result) = dialogs.do_invite_async(option, state_tx)?;
    Ok(OutboundLeg {
        dialog,
        states,
        result,
        peers,
    })
}
