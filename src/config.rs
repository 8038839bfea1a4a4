//! One typed configuration: built-in defaults, then a TOML file, then the environment.
//!
//! Every key can be overridden as `CARECALL_<SECTION>_<KEY>` (for example
//! `CARECALL_TRUNK_PASSWORD`), so secrets never have to live in the file and
//! scripts can change one setting without writing a file.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use crate::media::codec::Codec;
use crate::number::NumberFormat;

/// Errors while reading the configuration. Each names the file or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // The cause is part of the message and deliberately not a `source`: with both,
    // `anyhow`'s `{:#}` at the binary's edge printed it twice.
    #[error("cannot read config file {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {cause}")]
    Parse {
        path: PathBuf,
        cause: Box<toml::de::Error>,
    },
    #[error(
        "environment variable {var} does not name a config key (expected CARECALL_<SECTION>_<KEY>)"
    )]
    EnvKey { var: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub sip: SipConfig,
    pub trunk: TrunkConfig,
    pub media: MediaConfig,
    pub database: DatabaseConfig,
    pub recordings: RecordingsConfig,
    pub http: HttpConfig,
    pub ivr: IvrConfig,
    pub dialer: DialerConfig,
    pub registrar: RegistrarConfig,
    pub bridge: BridgeConfig,
    pub webrtc: WebRtcConfig,
    pub reports: ReportsConfig,
}

/// `[reports]`: how figures are published.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// A rate or mean resting on fewer responses than this is flagged as a
    /// small cell in pages and workbooks (shown, never hidden).
    pub min_responses: u64,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            min_responses: crate::report::estimate::DEFAULT_MIN_RESPONSES,
        }
    }
}

/// `[bridge]`: handing a citizen's call to a live operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BridgeConfig {
    /// How long an operator's phone may ring before it is cancelled and the
    /// next operator (or the dialplan's fallback) is tried.
    pub ring_timeout_secs: u64,
    /// How long a citizen waits (hearing the hold prompt) for an operator to
    /// free up when the bridge node does not set `wait_ms`.
    pub wait_secs: u64,
    /// Wrap-up after a bridged call (filling the form) before the operator is
    /// offered calls again.
    pub wrap_up_secs: u64,
    /// How often a waiting call looks for a free operator again.
    pub retry_ms: u64,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            ring_timeout_secs: 20,
            wait_secs: 60,
            wrap_up_secs: 30,
            retry_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Local address for SIP over UDP and TCP. Port 0 picks a free port.
    pub bind: String,
    /// Address written into Via/Contact/SDP when carecall sits behind NAT.
    pub public_addr: String,
    pub user_agent: String,
    /// SIP over TCP connections open at once, all sources (lowered at start
    /// to fit the open-files limit, two descriptors a connection).
    pub tcp_max_connections: u32,
    /// SIP over TCP connections one address may hold open.
    pub tcp_max_per_source: u32,
    /// A TCP connection that has not sent a complete request by then is closed.
    pub tcp_first_request_secs: u64,
    /// A TCP connection silent this long is closed.
    pub tcp_idle_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    Udp,
    Tcp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrunkConfig {
    /// The carrier's SIP trunk (outbound proxy); every call is sent there.
    pub uri: String,
    /// Digest credentials; empty means an IP-authenticated trunk.
    pub username: String,
    pub password: String,
    /// The hotline's number, presented in From and P-Asserted-Identity.
    pub caller_id: String,
    pub transport: TransportKind,
    pub register: bool,
    pub register_expires_secs: u32,
    /// How long a call may ring before it is cancelled as no_answer.
    pub ring_timeout_secs: u64,
    /// The form the trunk wants dialled numbers in.
    pub number_format: NumberFormat,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// RTP port range, "low-high"; even ports are used (RFC 3550 §11).
    pub rtp_ports: String,
    /// Codecs offered, in order of preference.
    pub codecs: Vec<String>,
    /// Payload type offered for RFC 4733 telephone-event.
    pub telephone_event_pt: u8,
    /// An answered call with no RTP at all for this long is hung up as no_media.
    pub no_media_timeout_secs: u64,
    /// Addresses or networks ("203.0.113.7", "203.0.113.0/24") besides the SDP's
    /// address that may send a call's RTP: the carrier's media gateways when they
    /// answer from elsewhere than their SDP says. Everything else is dropped
    /// (strict source, `media::latch`).
    pub trunk_sources: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub url: String,
    /// The audit chain's HMAC key (src/store/chain_key.rs), outside the
    /// database: created 0600 by the first `serve`/`call`, required by
    /// `audit verify`. The signed heads are appended to `<file>.heads`.
    pub audit_key_file: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingsConfig {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub bind: String,
    /// Mark the session cookie `Secure` (set when the pages are served over
    /// HTTPS, usually behind a reverse proxy).
    pub secure_cookies: bool,
    /// How long a login lasts.
    pub session_hours: u32,
    /// Failed logins per username or client address before a lockout.
    pub login_max_failures: u32,
    /// Length of the first lockout, and the window the failures are counted
    /// in; each further lockout of the same (user, address) pair doubles, up
    /// to 64 times this.
    pub login_lockout_s: u64,
    /// Failed logins from one client address (any usernames) before that
    /// address is locked out: a password-spraying client is stopped without
    /// locking its victims out of their own addresses.
    pub login_max_failures_per_addr: u32,
    /// Reverse proxies (`"127.0.0.1/32"`, `"10.0.0.0/8"`, `"::1/128"`) whose
    /// `X-Forwarded-For` is believed. From any other peer the header is
    /// ignored and the socket's address is the client's. Empty: no proxy.
    pub trusted_proxies: Vec<String>,
    /// A connection must send a whole request head within this many seconds
    /// of opening, or of finishing its previous request (the keep-alive idle
    /// limit); otherwise it is closed (slowloris).
    pub header_read_timeout_s: u64,
    /// A request (reading its body and computing the answer) must be done
    /// within this many seconds, or it is answered 408; streamed answers
    /// (recordings, live events, WebSockets) are not cut once they started.
    pub request_timeout_s: u64,
    /// Open HTTP connections at most, all clients together; more are closed
    /// on accept.
    pub max_connections: usize,
    /// Open HTTP connections at most from one client address (the socket's).
    pub max_connections_per_ip: usize,
}

impl HttpConfig {
    /// The trusted proxies as networks; a malformed entry is an error naming it.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                let p = p.trim();
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        ConfigError::Invalid(format!(
                            "http.trusted_proxies: {p:?} is not an address or a network like \"127.0.0.1/32\""
                        ))
                    })
            })
            .collect()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.trusted_proxy_nets()?;
        if self.header_read_timeout_s == 0
            || self.request_timeout_s == 0
            || self.max_connections == 0
            || self.max_connections_per_ip == 0
        {
            return Err(ConfigError::Invalid(
                "http.header_read_timeout_s, request_timeout_s, max_connections and \
                 max_connections_per_ip must be > 0"
                    .into(),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IvrConfig {
    pub dialplans_dir: PathBuf,
    /// The survey form (questions, options, labels) for the pages and operators.
    pub questionnaire: PathBuf,
    pub prompts_dir: PathBuf,
    pub default_dialplan: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialerConfig {
    /// This process's name in target claims; empty: hostname and process id.
    pub node: String,
    /// Calls in progress at once on this node, all campaigns together.
    pub max_concurrent: u32,
    /// Calls started per second on this node, all campaigns together.
    pub calls_per_second: f64,
    /// Administrative units loaded at start-up (code,name,level,parent).
    pub units_file: PathBuf,
    /// Campaign calls started per local day across the whole province: all
    /// campaigns, every node sharing the database (issue 15: the hotline's
    /// capacity and citizens' patience are shared). 0: no cap.
    pub daily_cap: u32,
}

/// The built-in registrar for operators' phones (`sip::registrar`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrarConfig {
    /// Accept REGISTER on the SIP port (`carecall serve`).
    pub enabled: bool,
    /// Digest realm; operators' stored HA1 depend on it.
    pub realm: String,
    /// HMAC key of the nonces, the same on every node; empty: random per process.
    pub nonce_secret: String,
    /// Older nonces are answered with `stale=true`.
    pub nonce_lifetime_secs: u64,
    /// Shorter registrations get 423 Interval Too Brief.
    pub min_expires_secs: u32,
    /// Longer registrations are shortened to this.
    pub max_expires_secs: u32,
    /// When the phone does not say.
    pub default_expires_secs: u32,
    /// Requests one source address may send at once...
    pub flood_burst: u32,
    /// ...and per second after that; more get 503 (or nothing).
    pub flood_per_sec: f64,
    /// Failed authentications within `ban_window_secs` that ban a source (0: never).
    pub ban_after_failures: u32,
    pub ban_window_secs: u64,
    pub ban_secs: u64,
    /// Drop requests over the rate without an answer (else 503 up to four
    /// times the rate, dropped above). Banned sources are always dropped.
    pub flood_silent: bool,
    /// Bindings (registered phones) one operator may hold; more get 503 (0: no limit).
    pub max_contacts: u32,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            enabled: false,
            realm: "carecall".into(),
            nonce_secret: String::new(),
            nonce_lifetime_secs: 300,
            min_expires_secs: 60,
            max_expires_secs: 3600,
            default_expires_secs: 3600,
            flood_burst: 20,
            flood_per_sec: 5.0,
            ban_after_failures: 10,
            ban_window_secs: 60,
            ban_secs: 600,
            flood_silent: true,
            max_contacts: 5,
        }
    }
}

impl RegistrarConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let r = self;
        let ok = r.min_expires_secs <= r.default_expires_secs
            && r.default_expires_secs <= r.max_expires_secs
            && r.max_expires_secs > 0;
        if !ok {
            return Err(ConfigError::Invalid(
                "registrar: need min_expires_secs <= default_expires_secs <= max_expires_secs, max > 0"
                    .into(),
            ));
        }
        if r.flood_burst == 0 || r.flood_per_sec.is_nan() || r.flood_per_sec <= 0.0 {
            return Err(ConfigError::Invalid(
                "registrar: flood_burst and flood_per_sec must be > 0".into(),
            ));
        }
        if r.realm.is_empty() || r.realm.contains('"') {
            return Err(ConfigError::Invalid(
                "registrar.realm must be non-empty and without quotes".into(),
            ));
        }
        Ok(())
    }
}

/// The browser softphone's media (`webrtc`): one UDP socket for every
/// browser's ICE, DTLS and SRTP, and the ring of a call offered to the page.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebRtcConfig {
    /// The UDP socket of every browser session (ICE-lite host candidate).
    /// Port 0 picks a free port; a fixed port is easier to open in a firewall.
    pub bind: String,
    /// The address browsers are told to send to ("ip" or "ip:port") when the
    /// bind address is not reachable as is (NAT, 0.0.0.0); empty: the bind address.
    pub public_addr: String,
    /// How long a call offered to the page rings before it counts as not answered.
    pub ring_timeout_secs: u64,
}

impl Default for WebRtcConfig {
    fn default() -> Self {
        WebRtcConfig {
            bind: "127.0.0.1:0".into(),
            public_addr: String::new(),
            ring_timeout_secs: 20,
        }
    }
}

impl WebRtcConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bind: SocketAddr = self.bind.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "webrtc.bind {:?} is not an address:port",
                self.bind
            ))
        })?;
        if !self.public_addr.is_empty() && self.candidate_addr(bind.port()).is_none() {
            return Err(ConfigError::Invalid(format!(
                "webrtc.public_addr {:?} is not an ip or ip:port",
                self.public_addr
            )));
        }
        if bind.ip().is_unspecified() && self.public_addr.is_empty() {
            return Err(ConfigError::Invalid(
                "webrtc.bind on 0.0.0.0 needs webrtc.public_addr: browsers cannot send to 0.0.0.0"
                    .into(),
            ));
        }
        if self.ring_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "webrtc.ring_timeout_secs must be > 0".into(),
            ));
        }
        Ok(())
    }

    /// The address announced as the host candidate, given the port the socket
    /// got: `public_addr` (its port, or the bound one), else the bind address.
    pub fn candidate_addr(&self, bound_port: u16) -> Option<SocketAddr> {
        let text = if self.public_addr.is_empty() {
            &self.bind
        } else {
            &self.public_addr
        };
        if let Ok(a) = text.parse::<SocketAddr>() {
            let port = if a.port() == 0 { bound_port } else { a.port() };
            return Some(SocketAddr::new(a.ip(), port));
        }
        let ip: std::net::IpAddr = text.parse().ok()?;
        Some(SocketAddr::new(ip, bound_port))
    }
}

impl Default for DialerConfig {
    fn default() -> Self {
        DialerConfig {
            node: String::new(),
            max_concurrent: 30,
            calls_per_second: 2.0,
            units_file: "data/units.csv".into(),
            daily_cap: 0,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sip: SipConfig::default(),
            trunk: TrunkConfig::default(),
            media: MediaConfig::default(),
            database: DatabaseConfig {
                url: "sqlite://carecall.db".into(),
                audit_key_file: "audit.key".into(),
            },
            recordings: RecordingsConfig {
                dir: "recordings".into(),
            },
            http: HttpConfig {
                bind: "127.0.0.1:8080".into(),
                secure_cookies: false,
                session_hours: 12,
                login_max_failures: 5,
                login_lockout_s: 900,
                login_max_failures_per_addr: 50,
                trusted_proxies: Vec::new(),
                header_read_timeout_s: 10,
                request_timeout_s: 120,
                max_connections: 4096,
                max_connections_per_ip: 256,
            },
            ivr: IvrConfig::default(),
            dialer: DialerConfig::default(),
            registrar: RegistrarConfig::default(),
            bridge: BridgeConfig::default(),
            webrtc: WebRtcConfig::default(),
            reports: ReportsConfig::default(),
        }
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            bind: "0.0.0.0:5060".into(),
            public_addr: String::new(),
            user_agent: concat!("carecall/", env!("CARGO_PKG_VERSION")).into(),
            tcp_max_connections: 2000,
            tcp_max_per_source: 16,
            tcp_first_request_secs: 10,
            tcp_idle_secs: 300,
        }
    }
}

impl Default for TrunkConfig {
    fn default() -> Self {
        TrunkConfig {
            uri: "sip:trunk.example:5060".into(),
            username: String::new(),
            password: String::new(),
            caller_id: "1022".into(),
            transport: TransportKind::Udp,
            register: false,
            register_expires_secs: 3600,
            ring_timeout_secs: 45,
            number_format: NumberFormat::National,
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            rtp_ports: "20000-30000".into(),
            codecs: vec!["PCMA".into(), "PCMU".into()],
            telephone_event_pt: 101,
            no_media_timeout_secs: 15,
            trunk_sources: Vec::new(),
        }
    }
}

impl Default for IvrConfig {
    fn default() -> Self {
        IvrConfig {
            dialplans_dir: "dialplans".into(),
            questionnaire: "data/questionnaire-1022.toml".into(),
            prompts_dir: "prompts/vi".into(),
            default_dialplan: "survey-1022".into(),
        }
    }
}

const ENV_PREFIX: &str = "CARECALL_";

impl Config {
    /// Loads `path` if given, else `carecall.toml` when present, else the defaults;
    /// then applies `CARECALL_*` environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let default_path = Path::new("carecall.toml");
        let path = path.or_else(|| default_path.exists().then_some(default_path));
        let file = match path {
            Some(p) => read_table(p)?,
            None => toml::Table::new(),
        };
        let mut table = defaults_with(file)?;
        apply_env(&mut table, std::env::vars())?;
        Self::from_table(table)
    }

    /// Builds a config from a TOML table layered over the defaults.
    pub fn from_table(table: toml::Table) -> Result<Config, ConfigError> {
        let merged = defaults_with(table)?;
        let config: Config = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.rtp_port_range()?;
        self.media_sources()?;
        self.offered_codecs()?;
        self.sip_bind()?;
        self.registrar.validate()?;
        self.webrtc.validate()?;
        let s = &self.sip;
        if s.tcp_max_connections == 0
            || s.tcp_max_per_source == 0
            || s.tcp_first_request_secs == 0
            || s.tcp_idle_secs == 0
        {
            return Err(ConfigError::Invalid(
                "sip.tcp_max_connections, tcp_max_per_source, tcp_first_request_secs and tcp_idle_secs must be > 0".into(),
            ));
        }
        self.http.validate()?;
        if self.trunk.ring_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "trunk.ring_timeout_secs must be > 0".into(),
            ));
        }
        if self.bridge.ring_timeout_secs == 0 || self.bridge.retry_ms == 0 {
            return Err(ConfigError::Invalid(
                "bridge.ring_timeout_secs and bridge.retry_ms must be > 0".into(),
            ));
        }
        Ok(())
    }

    pub fn sip_bind(&self) -> Result<SocketAddr, ConfigError> {
        self.sip.bind.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "sip.bind {:?} is not an address:port",
                self.sip.bind
            ))
        })
    }

    /// `media.trunk_sources`, parsed.
    pub fn media_sources(&self) -> Result<crate::media::rtp::MediaSources, ConfigError> {
        crate::media::rtp::MediaSources::parse(&self.media.trunk_sources)
            .map_err(|e| ConfigError::Invalid(format!("media.trunk_sources: {e}")))
    }

    /// The RTP port range; rejects empty, inverted or privileged ranges.
    pub fn rtp_port_range(&self) -> Result<RangeInclusive<u16>, ConfigError> {
        let bad = || {
            ConfigError::Invalid(format!(
                "media.rtp_ports {:?} must be \"low-high\" with 1024 <= low < high",
                self.media.rtp_ports
            ))
        };
        let (lo, hi) = self.media.rtp_ports.split_once('-').ok_or_else(bad)?;
        let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
        let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
        if lo < 1024 || lo >= hi {
            return Err(bad());
        }
        Ok(lo..=hi)
    }

    pub fn offered_codecs(&self) -> Result<Vec<Codec>, ConfigError> {
        let codecs: Vec<Codec> = self
            .media
            .codecs
            .iter()
            .map(|name| {
                Codec::from_name(name).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "media.codecs: unknown codec {name:?} (PCMA, PCMU)"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        if codecs.is_empty() {
            return Err(ConfigError::Invalid("media.codecs is empty".into()));
        }
        Ok(codecs)
    }
}

fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    text.parse().map_err(|cause| ConfigError::Parse {
        path: path.to_path_buf(),
        cause: Box::new(cause),
    })
}

/// The defaults as a TOML table with `over` laid on top.
fn defaults_with(over: toml::Table) -> Result<toml::Table, ConfigError> {
    let mut merged = toml::Table::try_from(Config::default())
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    merge(&mut merged, over);
    Ok(merged)
}

/// Recursively overlays `over` onto `base`.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

/// Applies `CARECALL_<SECTION>_<KEY>=value` onto a table that already holds every
/// key (the defaults), converting the text to the type the key has there: so
/// `CARECALL_TRUNK_CALLER_ID=1022` stays a string and `..._REGISTER=true` a bool.
fn apply_env(
    table: &mut toml::Table,
    vars: impl Iterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    const SECTIONS: [&str; 12] = [
        "sip",
        "trunk",
        "media",
        "database",
        "recordings",
        "http",
        "ivr",
        "dialer",
        "registrar",
        "bridge",
        "webrtc",
        "reports",
    ];
    for (var, raw) in vars {
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let rest = rest.to_ascii_lowercase();
        let Some((section, key)) = rest.split_once('_') else {
            continue;
        };
        if !SECTIONS.contains(&section) {
            // Other CARECALL_* variables (CARECALL_LOG_PII, test switches) are not config.
            continue;
        }
        if key.is_empty() {
            return Err(ConfigError::EnvKey { var });
        }
        let current = table
            .get(section)
            .and_then(|t| t.get(key))
            .ok_or_else(|| ConfigError::EnvKey { var: var.clone() })?;
        let value = parse_env_value(&raw, current).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "{var}={raw:?} is not a valid {}",
                current.type_str()
            ))
        })?;
        let entry = table
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry {
            toml::Value::Table(t) => {
                t.insert(key.to_string(), value);
            }
            _ => return Err(ConfigError::EnvKey { var }),
        }
    }
    Ok(())
}

fn parse_env_value(raw: &str, like: &toml::Value) -> Option<toml::Value> {
    if like.is_str() {
        return Some(toml::Value::String(raw.to_string()));
    }
    let mut t = format!("v = {raw}").parse::<toml::Table>().ok()?;
    let v = t.remove("v")?;
    (v.type_str() == like.type_str()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::from_table(toml::Table::new()).unwrap();
        assert_eq!(c.trunk.caller_id, "1022");
        assert_eq!(c.database.url, "sqlite://carecall.db");
        assert_eq!(c.rtp_port_range().unwrap(), 20000..=30000);
        assert_eq!(c.offered_codecs().unwrap(), vec![Codec::Pcma, Codec::Pcmu]);
    }

    #[test]
    fn file_then_env_override() {
        let file: toml::Table = "[trunk]\nuri = \"sip:a:5070\"\ncaller_id = \"02773\"\n"
            .parse()
            .unwrap();
        let mut t = defaults_with(file).unwrap();
        apply_env(
            &mut t,
            env(&[
                ("CARECALL_TRUNK_CALLER_ID", "1022"),
                ("CARECALL_TRUNK_REGISTER", "true"),
                ("CARECALL_MEDIA_CODECS", "[\"PCMU\"]"),
                ("CARECALL_TRUNK_PASSWORD", "s3cr#t x"),
                ("CARECALL_LOG_PII", "1"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        let c = Config::from_table(t).unwrap();
        assert_eq!(c.trunk.uri, "sip:a:5070");
        assert_eq!(c.trunk.caller_id, "1022");
        assert!(c.trunk.register);
        assert_eq!(c.trunk.password, "s3cr#t x");
        assert_eq!(c.offered_codecs().unwrap(), vec![Codec::Pcmu]);
    }

    #[test]
    fn env_values_take_the_type_of_their_key() {
        let mut t = defaults_with(toml::Table::new()).unwrap();
        let err = apply_env(&mut t, env(&[("CARECALL_TRUNK_REGISTER", "yes")])).unwrap_err();
        assert!(err.to_string().contains("CARECALL_TRUNK_REGISTER"), "{err}");
        let err = apply_env(&mut t, env(&[("CARECALL_TRUNK_NOPE", "1")])).unwrap_err();
        assert!(err.to_string().contains("CARECALL_TRUNK_NOPE"), "{err}");
        apply_env(&mut t, env(&[("CARECALL_TRUNK_RING_TIMEOUT_SECS", "7")])).unwrap();
        assert_eq!(Config::from_table(t).unwrap().trunk.ring_timeout_secs, 7);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let t: toml::Table = "[trunk]\nurl = \"x\"\n".parse().unwrap();
        assert!(Config::from_table(t).is_err());
        let t: toml::Table = "[media]\nrtp_ports = \"30000-20000\"\n".parse().unwrap();
        let err = Config::from_table(t).unwrap_err().to_string();
        assert!(err.contains("rtp_ports"), "{err}");
        let t: toml::Table = "[media]\ncodecs = [\"G729\"]\n".parse().unwrap();
        assert!(
            Config::from_table(t)
                .unwrap_err()
                .to_string()
                .contains("G729")
        );
    }

    #[test]
    fn registrar_section_from_file_and_env() {
        let c = Config::from_table(toml::Table::new()).unwrap();
        assert!(!c.registrar.enabled);
        let file: toml::Table = "[registrar]\nenabled = true\nmin_expires_secs = 30\n"
            .parse()
            .unwrap();
        let mut t = defaults_with(file).unwrap();
        apply_env(
            &mut t,
            env(&[
                ("CARECALL_REGISTRAR_REALM", "1022.example"),
                ("CARECALL_REGISTRAR_FLOOD_PER_SEC", "2.5"),
            ]),
        )
        .unwrap();
        let c = Config::from_table(t).unwrap();
        assert!(c.registrar.enabled);
        assert_eq!(c.registrar.min_expires_secs, 30);
        assert_eq!(c.registrar.realm, "1022.example");
        assert_eq!(c.registrar.flood_per_sec, 2.5);
        let t: toml::Table = "[registrar]\nmin_expires_secs = 7200\n".parse().unwrap();
        let err = Config::from_table(t).unwrap_err().to_string();
        assert!(err.contains("min_expires_secs"), "{err}");
    }

    #[test]
    fn sip_port_limits_have_safe_defaults_and_refuse_zero() {
        let c = Config::default();
        assert!(c.registrar.flood_silent, "drop floods silently by default");
        assert_eq!(c.registrar.max_contacts, 5);
        assert_eq!(
            (c.sip.tcp_max_connections, c.sip.tcp_max_per_source),
            (2000, 16)
        );
        let mut t = defaults_with(toml::Table::new()).unwrap();
        apply_env(&mut t, env(&[("CARECALL_SIP_TCP_MAX_PER_SOURCE", "3")])).unwrap();
        assert_eq!(Config::from_table(t).unwrap().sip.tcp_max_per_source, 3);
        let t: toml::Table = "[sip]\ntcp_first_request_secs = 0\n".parse().unwrap();
        let err = Config::from_table(t).unwrap_err().to_string();
        assert!(err.contains("tcp_first_request_secs"), "{err}");
    }

    #[test]
    fn bridge_section_has_defaults_and_env_overrides() {
        let mut t = defaults_with(toml::Table::new()).unwrap();
        apply_env(&mut t, env(&[("CARECALL_BRIDGE_WRAP_UP_SECS", "5")])).unwrap();
        let c = Config::from_table(t).unwrap();
        assert_eq!(c.bridge.wrap_up_secs, 5);
        assert_eq!(c.bridge.ring_timeout_secs, 20);
        let t: toml::Table = "[bridge]\nring_timeout_secs = 0\n".parse().unwrap();
        let err = Config::from_table(t).unwrap_err().to_string();
        assert!(err.contains("bridge.ring_timeout_secs"), "{err}");
    }

    #[test]
    fn webrtc_section_and_candidate_address() {
        let c = Config::from_table(toml::Table::new()).unwrap();
        assert_eq!(c.webrtc.bind, "127.0.0.1:0");
        assert_eq!(
            c.webrtc.candidate_addr(40000),
            Some("127.0.0.1:40000".parse().unwrap())
        );
        let mut t = defaults_with(
            "[webrtc]\nbind = \"0.0.0.0:3480\"\npublic_addr = \"203.0.113.7\"\n"
                .parse()
                .unwrap(),
        )
        .unwrap();
        apply_env(&mut t, env(&[("CARECALL_WEBRTC_RING_TIMEOUT_SECS", "9")])).unwrap();
        let c = Config::from_table(t).unwrap();
        assert_eq!(c.webrtc.ring_timeout_secs, 9);
        assert_eq!(
            c.webrtc.candidate_addr(3480),
            Some("203.0.113.7:3480".parse().unwrap())
        );
        let t: toml::Table = "[webrtc]\nbind = \"0.0.0.0:3480\"\n".parse().unwrap();
        let err = Config::from_table(t).unwrap_err().to_string();
        assert!(err.contains("public_addr"), "{err}");
    }

    #[test]
    fn shipped_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("carecall.example.toml");
        let t = read_table(&path).unwrap();
        Config::from_table(t).unwrap();
    }
}
