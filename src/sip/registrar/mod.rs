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

use std::net::SocketAddr;

use tracing::warn;

use crate::config::RegistrarConfig;

use bindings::{Binding, BindingError, BindingRequest, Change, ExpiresPolicy};
use contact::{aor_user, parse_contacts, parse_delta_seconds};
use digest::{Algorithm, Credentials, CredentialsError, NonceCheck, Nonces};
use flood::{FloodGuard, FloodPolicy, Verdict};

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
    /// Drop flooding or banned sources without an answer (else 503 / 403).
    pub silent: bool,
}

impl RegistrarSettings {
    /// From `[registrar]`; an empty `nonce_secret` becomes 32 random bytes, which
    /// is right for one node (nonces of a restarted process are merely invalid,
    /// and phones are challenged again).
    pub fn from_config(c: &RegistrarConfig) -> RegistrarSettings {
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
    /// Send nothing (a flooding source, in silent mode).
    Drop,
    /// Read the operator whose SIP user is `pending.user`, then call
    /// [`Registrar::on_operator`].
    Authenticate(Box<Pending>),
}

/// A REGISTER with a fresh nonce, waiting for its operator's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The address-of-record's user part: the operator's SIP user.
    pub user: String,
    credentials: Credentials,
    binding: BindingRequest,
    source: SocketAddr,
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
    expires: ExpiresPolicy,
    flood: FloodGuard,
    silent: bool,
}

impl Registrar {
    pub fn new(s: &RegistrarSettings) -> Registrar {
        Registrar {
            nonces: Nonces::new(&s.nonce_secret, &s.realm, s.nonce_lifetime_secs),
            expires: s.expires,
            flood: FloodGuard::new(s.flood),
            silent: s.silent,
        }
    }

    /// First step for REGISTER and OPTIONS from `source` at `now_ms` (unix ms).
    pub fn on_request(&mut self, req: &RequestParts, source: SocketAddr, now_ms: u64) -> Step {
        match self.flood.admit(source.ip(), now_ms) {
            Verdict::Allow => {}
            _ if self.silent => return Step::Drop,
            // RFC 3261 §21.5.4 with Retry-After (§20.33): come back later.
            Verdict::Limited => {
                return Step::Reply(
                    Reply::new(503, "Service Unavailable").with("Retry-After", "5".into()),
                );
            }
            Verdict::Banned { .. } => return Step::Reply(Reply::new(403, "Forbidden")),
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
            return Step::Reply(self.challenge(now_secs, false));
        };
        let credentials = match Credentials::parse(header) {
            Ok(c) => c,
            Err(CredentialsError::NotDigest) => {
                return Step::Reply(self.challenge(now_secs, false));
            }
            Err(_) => return Step::Reply(Reply::new(400, "Malformed Authorization")),
        };
        // Credentials for another realm or an algorithm we did not offer: ask again.
        if credentials.realm != self.nonces.realm()
            || Algorithm::parse(credentials.algorithm.as_deref()).is_none()
        {
            return Step::Reply(self.challenge(now_secs, false));
        }
        match self.nonces.check(&credentials.nonce, now_secs) {
            NonceCheck::Fresh => Step::Authenticate(Box::new(Pending {
                user,
                credentials,
                binding,
                source,
            })),
            // RFC 7616 §3.3: the password was fine, only the nonce is old.
            NonceCheck::Stale => Step::Reply(self.challenge(now_secs, true)),
            NonceCheck::Invalid => {
                if self.flood.failed_auth(source.ip(), now_ms) {
                    warn!(%source, "registrar: source banned after failed authentications");
                }
                Step::Reply(self.challenge(now_secs, false))
            }
        }
    }

    /// Second step: `operator` is the account of `pending.user` (None: no such
    /// operator) and `current` its stored bindings.
    pub fn on_operator(
        &mut self,
        pending: &Pending,
        operator: Option<OperatorAuth<'_>>,
        current: &[Binding],
        now_ms: u64,
    ) -> Outcome {
        let c = &pending.credentials;
        // RFC 3261 §10.3 step 6: the authenticated user must own the AOR.
        let authentic = operator.is_some_and(|op| {
            op.sip_user == pending.user
                && c.username == pending.user
                && c.verify("REGISTER", op.ha1)
        });
        if !authentic {
            if self.flood.failed_auth(pending.source.ip(), now_ms) {
                warn!(source = %pending.source, "registrar: source banned after failed authentications");
            }
            return Outcome {
                reply: Some(Reply::new(403, "Forbidden")),
                changes: Vec::new(),
            };
        }
        let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
        match bindings::apply(&pending.binding, current, &self.expires, now) {
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
            Err(e) => Outcome {
                reply: Some(binding_error_reply(&e)),
                changes: Vec::new(),
            },
        }
    }

    /// 401 with a fresh nonce (RFC 3261 §22.1, RFC 7616 §3.3).
    fn challenge(&self, now_secs: u64, stale: bool) -> Reply {
        Reply::new(401, "Unauthorized")
            .with("WWW-Authenticate", self.nonces.challenge(now_secs, stale))
    }

    /// Forgets idle flood-tracking state; call now and then.
    pub fn prune(&mut self, now_ms: u64) {
        self.flood.prune(now_ms);
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
