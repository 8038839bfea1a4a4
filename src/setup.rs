//! Start-up: turns a [`Config`] into the running services a call needs, and
//! repairs what a crash may have left (recordings without a final header,
//! calls still marked in progress).

use std::sync::Arc;

use tracing::{info, warn};

use crate::bridge::{OperatorQueue, QueueSettings, SipReach};
use crate::call::{CallServices, ports::RtpPorts};
use crate::config::{Config, ConfigError};
use crate::media::prompt::{PromptError, PromptStore};
use crate::sip::agent::{OutboundOnly, PortGuard, RequestHandler, SipAgent, SipError};
use crate::sip::ingress::{IngressGuard, IngressPolicy};
use crate::sip::registrar::contact::{TrunkAddrs, split_host_port};
use crate::sip::registrar::{Registrar, RegistrarHandler, RegistrarSettings};
use crate::sip::registration::{self, RegistrationState};
use crate::sip::tcp_accept::{self, SharedIngress};
use crate::sip::uac::TrunkRoute;
use crate::store::{ChainKey, ChainKeyError, Instance, Liveness, Store, StoreError};
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    ChainKey(#[from] ChainKeyError),
    #[error("prompts: {0}")]
    Prompts(#[from] PromptError),
    #[error("SIP: {0}")]
    Sip(#[from] SipError),
    #[error("sip.public_addr {0:?} is not an IP address")]
    PublicAddr(String),
    #[error("ivr.questionnaire: {0}")]
    Questionnaire(#[from] crate::questionnaire::QuestionnaireError),
}

/// How often a process tells the database it is alive.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(10);
/// A process silent this long is gone (a crashed node elsewhere): six missed
/// heartbeats, so a slow database does not end another node's live calls.
const GONE_AFTER_SECS: i64 = 60;

/// Marks interrupted the calls left in progress by processes that are gone
/// (never a live node's); returns how many.
async fn mark_gone_calls(store: &Store, host: &str) -> Result<u64, StoreError> {
    let live = Liveness {
        now: chrono::Utc::now(),
        stale_after: chrono::Duration::seconds(GONE_AFTER_SECS),
        host,
        pid_alive: &crate::store::pid_alive,
    };
    let interrupted = store.mark_interrupted(&live).await?;
    if interrupted > 0 {
        warn!(
            interrupted,
            "calls left in progress by a stopped process marked interrupted"
        );
    }
    Ok(interrupted)
}

/// Keeps this process's instance alive and, on the way, ends the calls of
/// nodes that died since (their dialogs are gone with them), until the store
/// is closed.
async fn heartbeat_loop(store: Store, instance: Instance) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if store.is_closed() {
            return;
        }
        if let Err(e) = store.heartbeat(&instance, chrono::Utc::now()).await {
            warn!(error = %e, "instance heartbeat failed");
            continue;
        }
        if let Err(e) = mark_gone_calls(&store, &instance.host).await {
            warn!(error = %e, "could not end the calls of stopped processes");
        }
    }
}

pub async fn services(config: Config) -> Result<CallServices, SetupError> {
    // Read before anything starts: it says when a response is complete.
    let questionnaire = Arc::new(crate::questionnaire::Questionnaire::load(
        &config.ivr.questionnaire,
    )?);
    // Every answer and call is chained under the audit key (store/audit.rs).
    let key = ChainKey::load_or_create(&config.database.audit_key_file)?;
    let store = Store::connect(&config.database.url)
        .await?
        .with_chain_key(key);
    let instance = Instance::this_process(&crate::serve::node_name(&config.dialer.node));
    store
        .register_instance(&instance, chrono::Utc::now())
        .await?;
    mark_gone_calls(&store, &instance.host).await?;
    tokio::spawn(heartbeat_loop(store.clone(), instance.clone()));
    let store = store.for_instance(&instance);
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
    let trunk = trunk_addrs(&route.domain).await;
    let settings = RegistrarSettings::from_config(&config.registrar, trunk.clone());
    let ingress = ingress_guard(&config, &settings, &trunk);
    let agent = SipAgent::start_guarded(
        bind,
        public_ip,
        &config.sip.user_agent,
        request_handler(&config, settings, &store, &ingress),
        Some(PortGuard {
            ingress,
            first_request: std::time::Duration::from_secs(config.sip.tcp_first_request_secs),
            idle: std::time::Duration::from_secs(config.sip.tcp_idle_secs),
        }),
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
        questionnaire,
    })
}

/// Who answers out-of-dialog requests: the registrar (REGISTER, OPTIONS) in
/// front of [`OutboundOnly`] when `registrar.enabled`, else `OutboundOnly` alone.
fn request_handler(
    config: &Config,
    settings: RegistrarSettings,
    store: &Store,
    ingress: &SharedIngress,
) -> Arc<dyn RequestHandler> {
    if !config.registrar.enabled {
        return Arc::new(OutboundOnly);
    }
    info!(realm = %settings.realm, "registrar enabled for operators' phones");
    Arc::new(RegistrarHandler::new(
        Registrar::with_ingress(&settings, ingress.clone()),
        store.clone(),
        Arc::new(OutboundOnly),
    ))
}

/// Descriptors kept free for everything but SIP/TCP (database, HTTP, RTP, files).
const FD_RESERVE: u64 = 1024;

/// The guard in front of the SIP port: the registrar's flood policy for every
/// source but the trunk, and the TCP caps of `[sip]` (the total lowered to fit
/// the open-files limit, raised to its hard limit first).
fn ingress_guard(
    config: &Config,
    settings: &RegistrarSettings,
    trunk: &TrunkAddrs,
) -> SharedIngress {
    let nofile = tcp_accept::raise_nofile_limit();
    let total = tcp_accept::effective_total(config.sip.tcp_max_connections, nofile, FD_RESERVE);
    if total < config.sip.tcp_max_connections {
        warn!(
            configured = config.sip.tcp_max_connections,
            total, "sip.tcp_max_connections lowered to fit the open-files limit"
        );
    }
    let policy = IngressPolicy {
        flood: settings.transport_flood(),
        tcp_per_source: config.sip.tcp_max_per_source,
        tcp_total: total,
    };
    let exempt = trunk.addrs.iter().map(|a| a.ip().to_canonical()).collect();
    Arc::new(std::sync::Mutex::new(IngressGuard::new(policy, exempt)))
}

/// The trunk's addresses (`host[:port]` of `trunk.uri`), resolved once.
async fn trunk_addrs(domain: &str) -> TrunkAddrs {
    let Some((host, port)) = split_host_port(domain) else {
        return TrunkAddrs::default();
    };
    let port = port.unwrap_or(5060);
    let name = host
        .parse::<std::net::IpAddr>()
        .is_err()
        .then(|| (host.to_ascii_lowercase(), port));
    let addrs = match tokio::net::lookup_host((host, port)).await {
        Ok(a) => a.collect(),
        Err(e) => {
            warn!(error = %e, trunk = %domain, "cannot resolve the trunk; its address is not protected from bindings");
            Vec::new()
        }
    };
    TrunkAddrs { addrs, name }
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
