//! The built-in registrar: operators' SIP phones REGISTER here with digest
//! authentication (RFC 3261 §10.3, §22), and OPTIONS pings are answered.
//!
//! [`Registrar`] is sans-IO: it takes the parts of a request, the source
//! address and the time, and returns the reply and the binding changes to
//! store. A request with credentials needs the operator's HA1 and current
//! bindings, which live in the database, so it takes two steps:
//! [`Registrar::on_request`] (flood check, parsing, challenge, nonce) returns
//! [`Step::Authenticate`], the driver reads the operator, then
//! [`Registrar::on_operator`] checks the digest and computes the bindings.
//! The driver, [`handler::RegistrarHandler`], moves requests between rsipstack
//! and the store.
//!
//! Unknown users get the same answers as a wrong password (401 challenge, then
//! 403): Asterisk does so (`alwaysauthreject=yes`, its default since 1.8) and
//! Kamailio's sample configuration re-challenges, so that a scanner cannot
//! learn which operator accounts exist.

pub mod bindings;
pub mod contact;
pub mod digest;
pub mod flood;
pub mod handler;
pub mod replay;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tracing::{info, warn};

use crate::config::RegistrarConfig;
use crate::sip::ingress::{IngressGuard, IngressPolicy};
use crate::sip::tcp_accept::{SharedIngress, lock};

use bindings::{Binding, BindingError, BindingRequest, Change, ExpiresPolicy};
use contact::{Contacts, TrunkAddrs, aor_user, parse_contacts, parse_delta_seconds};
use digest::{Algorithm, Credentials, CredentialsError, NonceCheck, Nonces};
use flood::{FloodGuard, FloodPolicy, Verdict};
use replay::{Count, NonceCounts};

pub use handler::RegistrarHandler;

/// Settings of one registrar (from `[registrar]`).
#[derive(Debug, Clone)]
pub struct RegistrarSettings {
    pub realm: String,
    /// HMAC key of the nonces; the same on every node of a cluster.
    pub nonce_secret: Vec<u8>,
    pub nonce_lifetime_secs: u64,
    pub expires: ExpiresPolicy,
    pub flood: FloodPolicy,
    /// Drop requests over the rate at the transport without an answer; else
    /// the transport drops only above four times the rate and the registrar
    /// answers 503 between the two.
    pub silent: bool,
    /// Bindings one operator may hold (0: no limit).
    pub max_contacts: usize,
    /// Contacts pointing here are refused (toll fraud).
    pub trunk: TrunkAddrs,
}

impl RegistrarSettings {
    /// From `[registrar]`; an empty `nonce_secret` becomes 32 random bytes, which
    /// is right for one node (nonces of a restarted process are merely invalid,
    /// and phones are challenged again). `trunk` is resolved by the caller.
    pub fn from_config(c: &RegistrarConfig, trunk: TrunkAddrs) -> RegistrarSettings {
        let nonce_secret = if c.nonce_secret.is_empty() {
            rand::random::<[u8; 32]>().to_vec()
        } else {
            c.nonce_secret.as_bytes().to_vec()
        };
        RegistrarSettings {
            realm: c.realm.clone(),
            nonce_secret,
            nonce_lifetime_secs: c.nonce_lifetime_secs,
            expires: ExpiresPolicy {
                min_secs: c.min_expires_secs,
                max_secs: c.max_expires_secs,
                default_secs: c.default_expires_secs,
            },
            flood: FloodPolicy {
                burst: c.flood_burst,
                per_sec: c.flood_per_sec,
                ban_after: c.ban_after_failures,
                window_ms: c.ban_window_secs.saturating_mul(1000),
                ban_ms: c.ban_secs.saturating_mul(1000),
            },
            silent: c.flood_silent,
            max_contacts: c.max_contacts as usize,
            trunk,
        }
    }

    /// The per-source bucket of the transport: the configured one when
    /// silent, four times it otherwise (so the registrar gets to answer 503).
    pub fn transport_flood(&self) -> FloodPolicy {
        if self.silent {
            self.flood
        } else {
            FloodPolicy {
                burst: self.flood.burst.saturating_mul(4),
                per_sec: self.flood.per_sec * 4.0,
                ..self.flood
            }
        }
    }
}

/// The header fields of a request the registrar reads, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestParts {
    pub method: String,
    pub to: Option<String>,
    pub call_id: Option<String>,
    /// "1 REGISTER".
    pub cseq: Option<String>,
    /// Every Contact header value, in order.
    pub contacts: Vec<String>,
    pub expires: Option<String>,
    pub authorization: Option<String>,
    pub user_agent: Option<String>,
    /// "udp" or "tcp".
    pub transport: String,
}

/// A response to send: status, reason phrase and extra header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub reason: &'static str,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn new(code: u16, reason: &'static str) -> Reply {
        Reply {
            code,
            reason,
            headers: Vec::new(),
        }
    }

    fn with(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    /// The value of the first header field `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What to do after [`Registrar::on_request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Reply(Reply),
    /// Read the operator whose SIP user is `pending.user`, then call
    /// [`Registrar::authenticate`] (and, if verified, [`Registrar::bind`]).
    Authenticate(Box<Pending>),
}

/// A REGISTER with a fresh nonce, waiting for its operator's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The address-of-record's user part: the operator's SIP user.
    pub user: String,
    credentials: Credentials,
    /// When the nonce was issued (for the nonce-count table).
    nonce_issued_secs: u64,
    binding: BindingRequest,
    source: SocketAddr,
}

/// A REGISTER whose digest was verified and whose nonce-count was new: the
/// only way to [`Registrar::bind`].
#[derive(Debug)]
pub struct Verified(Box<Pending>);

impl Verified {
    pub fn pending(&self) -> &Pending {
        &self.0
    }
}

impl Pending {
    /// Where the request came from (the socket's peer, never a header).
    pub fn source(&self) -> SocketAddr {
        self.source
    }
}

/// The account data the digest check needs.
#[derive(Debug, Clone, Copy)]
pub struct OperatorAuth<'a> {
    pub sip_user: &'a str,
    /// Hex MD5 HA1 for our realm.
    pub ha1: &'a str,
}

/// The reply (none: drop) and the binding changes to store before sending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub reply: Option<Reply>,
    pub changes: Vec<Change>,
}

/// RFC 3261 §20.5 / §20.1: what carecall's endpoint handles.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REGISTER";
pub const ACCEPT: &str = "application/sdp";

pub struct Registrar {
    nonces: Nonces,
    counts: NonceCounts,
    expires: ExpiresPolicy,
    /// Answers 503 to sources over the rate (not silent); the transport
    /// drops what is above its own, wider bucket before this runs.
    limiter: Option<FloodGuard>,
    /// The transport's guard: failed authentications ban there.
    ingress: SharedIngress,
    max_contacts: usize,
    trunk: TrunkAddrs,
    /// Checked instead of an unknown user's (which has none), so that unknown
    /// and known users cost the same (timing would tell them apart).
    dummy_ha1: String,
    digests: u64,
    dummy_digests: u64,
}

impl Registrar {
    /// A registrar with its own ingress guard (tests, tools).
    pub fn new(s: &RegistrarSettings) -> Registrar {
        let ingress = IngressGuard::new(
            IngressPolicy {
                flood: s.transport_flood(),
                tcp_per_source: u32::MAX,
                tcp_total: u32::MAX,
            },
            Vec::new(),
        );
        Registrar::with_ingress(s, Arc::new(Mutex::new(ingress)))
    }

    /// A registrar whose failed authentications ban at `ingress`, the guard
    /// in front of the SIP port.
    pub fn with_ingress(s: &RegistrarSettings, ingress: SharedIngress) -> Registrar {
        let secret: [u8; 16] = rand::random();
        Registrar {
            nonces: Nonces::new(&s.nonce_secret, &s.realm, s.nonce_lifetime_secs),
            counts: NonceCounts::new(
                replay::DEFAULT_CAPACITY,
                s.nonce_lifetime_secs + digest::CLOCK_SKEW_SECS,
            ),
            expires: s.expires,
            limiter: (!s.silent).then(|| {
                FloodGuard::new(FloodPolicy {
                    ban_after: 0,
                    ..s.flood
                })
            }),
            ingress,
            max_contacts: s.max_contacts,
            trunk: s.trunk.clone(),
            dummy_ha1: digest::ha1(Algorithm::Md5, "", &s.realm, &hex::encode(secret)),
            digests: 0,
            dummy_digests: 0,
        }
    }

    /// First step for REGISTER and OPTIONS from `source` (the socket's peer)
    /// at `now_ms` (unix ms).
    pub fn on_request(&mut self, req: &RequestParts, source: SocketAddr, now_ms: u64) -> Step {
        if let Some(limiter) = &mut self.limiter
            && limiter.admit(source.ip(), now_ms) != Verdict::Allow
        {
            // RFC 3261 §21.5.4 with Retry-After (§20.33): come back later.
            return Step::Reply(
                Reply::new(503, "Service Unavailable").with("Retry-After", "5".into()),
            );
        }
        match req.method.as_str() {
            "OPTIONS" => Step::Reply(
                Reply::new(200, "OK")
                    .with("Allow", ALLOW.into())
                    .with("Accept", ACCEPT.into()),
            ),
            "REGISTER" => self.on_register(req, source, now_ms),
            _ => Step::Reply(Reply::new(405, "Method Not Allowed").with("Allow", ALLOW.into())),
        }
    }

    fn on_register(&mut self, req: &RequestParts, source: SocketAddr, now_ms: u64) -> Step {
        let (user, binding) = match parse_register(req, source) {
            Ok(parsed) => parsed,
            Err(reason) => return Step::Reply(Reply::new(400, reason)),
        };
        let now_secs = now_ms / 1000;
        let Some(header) = req.authorization.as_deref() else {
            return Step::Reply(self.challenge(now_secs, source, false));
        };
        let credentials = match Credentials::parse(header) {
            Ok(c) => c,
            Err(CredentialsError::NotDigest) => {
                return Step::Reply(self.challenge(now_secs, source, false));
            }
            Err(_) => return Step::Reply(Reply::new(400, "Malformed Authorization")),
        };
        // Credentials for another realm or an algorithm we did not offer: ask again.
        if credentials.realm != self.nonces.realm()
            || Algorithm::parse(credentials.algorithm.as_deref()).is_none()
        {
            return Step::Reply(self.challenge(now_secs, source, false));
        }
        match self.nonces.check(&credentials.nonce, now_secs, source.ip()) {
            NonceCheck::Fresh { issued_secs } => Step::Authenticate(Box::new(Pending {
                user,
                credentials,
                nonce_issued_secs: issued_secs,
                binding,
                source,
            })),
            // RFC 7616 §3.3: the password was fine, only the nonce is old.
            NonceCheck::Stale => Step::Reply(self.challenge(now_secs, source, true)),
            // Forged, or issued to another address (a captured header replayed).
            NonceCheck::Invalid => {
                self.failed(source, now_ms);
                Step::Reply(self.challenge(now_secs, source, false))
            }
        }
    }

    /// Second step: `operator` is the account of `pending.user` (None: no such
    /// operator). Checks the digest (against a dummy HA1 for an unknown user,
    /// at the same cost) and the nonce-count; the error is the reply to send.
    pub fn authenticate(
        &mut self,
        pending: Pending,
        operator: Option<OperatorAuth<'_>>,
        now_ms: u64,
    ) -> Result<Verified, Outcome> {
        let c = &pending.credentials;
        // RFC 3261 §10.3 step 6: the authenticated user must own the AOR.
        let owner = operator.filter(|op| op.sip_user == pending.user && c.username == pending.user);
        let ha1 = match owner {
            Some(op) => op.ha1,
            None => {
                self.dummy_digests += 1;
                &self.dummy_ha1
            }
        };
        self.digests += 1;
        let matches = c.verify("REGISTER", ha1);
        if !(matches && owner.is_some()) {
            self.failed(pending.source, now_ms);
            return Err(Outcome::reply(Reply::new(403, "Forbidden")));
        }
        let count = self.counts.record(
            &c.nonce,
            pending.nonce_issued_secs,
            c.nc.as_deref(),
            now_ms / 1000,
        );
        if count == Count::Replayed {
            // RFC 7616 §3.4: a repeated nc is a replay. The real phone, if it
            // was one, retries with the fresh nonce (stale: no password prompt).
            info!(source = %pending.source, user = %pending.user, "registrar: replayed nonce-count refused");
            return Err(Outcome::reply(self.challenge(
                now_ms / 1000,
                pending.source,
                true,
            )));
        }
        Ok(Verified(Box::new(pending)))
    }

    /// Third step: applies a verified REGISTER to `current`, the operator's
    /// stored bindings.
    pub fn bind(&mut self, verified: &Verified, current: &[Binding], now_ms: u64) -> Outcome {
        let pending = &verified.0;
        if let Contacts::List(entries) = &pending.binding.contacts
            && let Some(e) = entries.iter().find(|e| self.trunk.contains(&e.uri))
        {
            warn!(source = %pending.source, user = %pending.user, contact = %crate::pii::mask_phone(&e.uri), "registrar: binding to the trunk refused");
            return Outcome::reply(Reply::new(403, "Contact Points At The Trunk"));
        }
        let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
        match bindings::apply(
            &pending.binding,
            current,
            &self.expires,
            self.max_contacts,
            now,
        ) {
            Ok(update) => {
                let mut reply = Reply::new(200, "OK");
                for (uri, secs) in &update.current {
                    reply = reply.with("Contact", format!("<{uri}>;expires={secs}"));
                }
                Outcome {
                    reply: Some(reply),
                    changes: update.changes,
                }
            }
            Err(e) => Outcome::reply(binding_error_reply(&e)),
        }
    }

    /// [`Registrar::authenticate`] then [`Registrar::bind`], when the bindings
    /// are already at hand.
    pub fn on_operator(
        &mut self,
        pending: &Pending,
        operator: Option<OperatorAuth<'_>>,
        current: &[Binding],
        now_ms: u64,
    ) -> Outcome {
        match self.authenticate(pending.clone(), operator, now_ms) {
            Ok(v) => self.bind(&v, current, now_ms),
            Err(refused) => refused,
        }
    }

    fn failed(&mut self, source: SocketAddr, now_ms: u64) {
        if lock(&self.ingress).failed_auth(source.ip(), now_ms) {
            warn!(%source, "registrar: source banned after failed authentications");
        }
    }

    /// 401 with a fresh nonce for `client` (RFC 3261 §22.1, RFC 7616 §3.3).
    fn challenge(&self, now_secs: u64, client: SocketAddr, stale: bool) -> Reply {
        Reply::new(401, "Unauthorized").with(
            "WWW-Authenticate",
            self.nonces.challenge(now_secs, client.ip(), stale),
        )
    }

    /// Forgets idle flood-tracking state and expired nonce counts.
    pub fn prune(&mut self, now_ms: u64) {
        if let Some(l) = &mut self.limiter {
            l.prune(now_ms);
        }
        self.counts.expire(now_ms / 1000);
    }

    /// Digests computed, and how many of them against the dummy HA1.
    pub fn digests_checked(&self) -> (u64, u64) {
        (self.digests, self.dummy_digests)
    }

    pub fn ingress(&self) -> &SharedIngress {
        &self.ingress
    }
}

impl Outcome {
    fn reply(reply: Reply) -> Outcome {
        Outcome {
            reply: Some(reply),
            changes: Vec::new(),
        }
    }
}

fn binding_error_reply(e: &BindingError) -> Reply {
    match e {
        // RFC 3261 §10.3 step 7 / §20.23.
        BindingError::TooBrief { min_secs } => {
            Reply::new(423, "Interval Too Brief").with("Min-Expires", min_secs.to_string())
        }
        BindingError::StarNeedsExpiresZero => Reply::new(400, "Contact * Requires Expires 0"),
        BindingError::OutOfOrder => Reply::new(500, "Out Of Order CSeq"),
        // Kamailio's registrar: 503 "Too many registered contacts".
        BindingError::TooMany { .. } => Reply::new(503, "Too Many Registered Contacts"),
    }
}

/// The AOR user and the binding request of a REGISTER, or a 400 reason.
fn parse_register(
    req: &RequestParts,
    source: SocketAddr,
) -> Result<(String, BindingRequest), &'static str> {
    let to = req.to.as_deref().ok_or("Missing To")?;
    let user = aor_user(to).map_err(|_| "Bad To Address")?;
    let call_id = req.call_id.as_deref().map(str::trim).unwrap_or("");
    if call_id.is_empty() {
        return Err("Missing Call-ID");
    }
    let cseq = req
        .cseq
        .as_deref()
        .and_then(|c| c.split_whitespace().next())
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or("Bad CSeq")?;
    let contacts = parse_contacts(&req.contacts).map_err(|_| "Bad Contact")?;
    let expires = req
        .expires
        .as_deref()
        .map(|e| parse_delta_seconds(e.trim()))
        .transpose()
        .map_err(|_| "Bad Expires")?;
    Ok((
        user,
        BindingRequest {
            contacts,
            expires,
            call_id: call_id.to_string(),
            cseq,
            source: source.to_string(),
            transport: req.transport.clone(),
            user_agent: req.user_agent.clone(),
        },
    ))
}

#[cfg(test)]
mod tests;
