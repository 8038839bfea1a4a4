//! Start-up: turns a [`Config`] into the running services a call needs, and
//! repairs what a crash may have left (recordings without a final header,
//! calls still marked in progress).

use std::sync::Arc;

use tracing::{info, warn};

use crate::bridge::{OperatorQueue, QueueSettings, SipReach};
use crate::call::{CallServices, ports::RtpPorts};
use crate::config::{Config, ConfigError};
use crate::media::prompt::{PromptError, PromptStore};
use crate::sip::agent::{OutboundOnly, RequestHandler, SipAgent, SipError};
use crate::sip::registrar::{Registrar, RegistrarHandler, RegistrarSettings};
use crate::sip::registration::{self, RegistrationState};
use crate::sip::uac::TrunkRoute;
use crate::store::{Store, StoreError};
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("prompts: {0}")]
    Prompts(#[from] PromptError),
    #[error("SIP: {0}")]
    Sip(#[from] SipError),
    #[error("sip.public_addr {0:?} is not an IP address")]
    PublicAddr(String),
}

pub async fn services(config: Config) -> Result<CallServices, SetupError> {
    let store = Store::connect(&config.database.url).await?;
    let interrupted = store.mark_interrupted().await?;
    if interrupted > 0 {
        warn!(
            interrupted,
            "calls left in progress by a stopped process marked interrupted"
        );
    }
    if let Err(e) = std::fs::create_dir_all(&config.recordings.dir) {
        warn!(error = %e, dir = %config.recordings.dir.display(), "cannot create the recordings directory");
    }
    match crate::media::recorder::repair_dir(&config.recordings.dir) {
        Ok(fixed) if !fixed.is_empty() => {
            warn!(count = fixed.len(), "repaired recordings left by a crash")
        }
        Ok(_) => {}
        Err(e) => warn!(error = %e, "could not scan recordings for repair"),
    }
    // Issue 9 item 18a: the page can play what an interrupted call recorded.
    match crate::call::recovery::link_recordings(&store, &config.recordings.dir).await {
        Ok(0) => {}
        Ok(n) => warn!(count = n, "recordings of interrupted calls linked"),
        Err(e) => warn!(error = %e, "could not link the recordings of interrupted calls"),
    }
    let prompts = Arc::new(PromptStore::open(&config.ivr.prompts_dir)?);
    // Resolved once: the dialing side compares operator contacts with it.
    let route = TrunkRoute::from_config(&config.trunk)?.resolve().await;
    let bind = config.sip_bind()?;
    let public_ip = match config.sip.public_addr.trim() {
        "" if bind.ip().is_unspecified() => outbound_ip(&route.domain).await,
        "" => None,
        s => Some(
            s.parse()
                .map_err(|_| SetupError::PublicAddr(s.to_string()))?,
        ),
    };
    let agent = SipAgent::start(
        bind,
        public_ip,
        &config.sip.user_agent,
        request_handler(&config, &store),
    )
    .await?;
    // Issue 9 item 18b: end at the trunk the calls a stopped process left up.
    match crate::call::recovery::bye_dead_dialogs(&store, &agent).await {
        Ok(0) => {}
        Ok(n) => warn!(count = n, "BYE sent for calls left up by a stopped process"),
        Err(e) => warn!(error = %e, "could not end the calls left up by a stopped process"),
    }
    let registration = if config.trunk.register {
        Some(register(&agent, &route, config.trunk.register_expires_secs).await)
    } else {
        None
    };
    info!(trunk = %config.trunk.uri, caller_id = %config.trunk.caller_id, "ready");
    let codecs = config.offered_codecs()?;
    let ports = Arc::new(RtpPorts::new(config.rtp_port_range()?));
    let operators = Arc::new(OperatorQueue::new(
        store.clone(),
        QueueSettings::from_config(&config.bridge),
    ));
    // An operator with the softphone page open is rung there first.
    let webphones = crate::webrtc::WebPhones::new(config.webrtc.clone(), store.clone());
    operators.add_reach(Arc::new(webphones.clone()));
    operators.add_reach(Arc::new(SipReach {
        agent: agent.clone(),
        ports: ports.clone(),
        store: store.clone(),
        codecs: codecs.clone(),
        telephone_event_pt: config.media.telephone_event_pt,
        ring_timeout: std::time::Duration::from_secs(config.bridge.ring_timeout_secs),
        hotline: config.trunk.caller_id.clone(),
        trunk: route.addrs.clone(),
    }));
    Ok(CallServices {
        media_sources: config.media_sources()?,
        codecs,
        ports,
        operators,
        webphones,
        config: Arc::new(config),
        agent,
        route,
        store,
        prompts,
        registration,
    })
}

/// Who answers out-of-dialog requests: the registrar (REGISTER, OPTIONS) in
/// front of [`OutboundOnly`] when `registrar.enabled`, else `OutboundOnly` alone.
fn request_handler(config: &Config, store: &Store) -> Arc<dyn RequestHandler> {
    if !config.registrar.enabled {
        return Arc::new(OutboundOnly);
    }
    let settings = RegistrarSettings::from_config(&config.registrar);
    info!(realm = %settings.realm, "registrar enabled for operators' phones");
    Arc::new(RegistrarHandler::new(
        Registrar::new(&settings),
        store.clone(),
        Arc::new(OutboundOnly),
    ))
}

/// The local address the kernel would use toward the trunk: what Contact and SDP
/// must carry when bound to 0.0.0.0 without `sip.public_addr` (no packet is sent).
async fn outbound_ip(trunk: &str) -> Option<std::net::IpAddr> {
    let target = if trunk.contains(':') && !trunk.starts_with('[') {
        trunk.to_string()
    } else {
        format!("{trunk}:5060")
    };
    let addr = tokio::net::lookup_host(target).await.ok()?.next()?;
    let any: std::net::SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().ok()?
    } else {
        "[::]:0".parse().ok()?
    };
    let sock = tokio::net::UdpSocket::bind(any).await.ok()?;
    sock.connect(addr).await.ok()?;
    let ip = sock.local_addr().ok()?.ip();
    info!(%ip, "advertising the address that routes to the trunk");
    Some(ip)
}

/// Starts the trunk registration and waits (briefly) for its first result, so
/// the first call does not race it; a failure is logged and calls still go out.
async fn register(
    agent: &Arc<SipAgent>,
    route: &TrunkRoute,
    expires: u32,
) -> watch::Receiver<RegistrationState> {
    let mut rx = registration::spawn(agent.clone(), route.clone(), expires);
    let answered = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        rx.wait_for(|s| *s != RegistrationState::Pending),
    )
    .await
    .is_ok();
    if !answered {
        warn!("trunk registration: no answer yet, dialling anyway");
    }
    rx
}
