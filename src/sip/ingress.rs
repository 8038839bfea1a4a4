//! What may enter the SIP port, decided before rsipstack parses a byte.
//!
//! rsipstack calls its transport whitelist on every UDP datagram and every TCP
//! accept with the peer's IP address only; carecall's own TCP accept loop
//! (`sip::tcp_accept`) asks here too. [`IngressGuard`] answers from a per-source
//! token bucket with bans (the registrar's [`FloodGuard`], which records failed
//! authentications), and counts open TCP connections per source and in total.
//! It is sans-IO: the caller passes the time and applies the verdict.
//!
//! Kamailio's `pike` module does the same in front of its transaction layer:
//! requests over the rate are dropped without an answer, so a flood creates no
//! transaction state (RFC 3261 §17.2.2 keeps a non-INVITE server transaction
//! for Timer J, 32 s over UDP: 50,000 packets a second would be 1.6 million
//! live transactions).
//!
//! The trunk's addresses are exempt: the carrier answers every call we place
//! from the same address, at whatever rate the campaigns dial.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::sip::registrar::flood::{FloodGuard, FloodPolicy, Verdict};

/// Limits of the SIP port (from `[sip]` and `[registrar]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IngressPolicy {
    /// The per-source bucket every datagram and TCP accept draws from.
    pub flood: FloodPolicy,
    /// TCP connections one address may hold open.
    pub tcp_per_source: u32,
    /// TCP connections open at once, all sources together.
    pub tcp_total: u32,
}

/// Why a TCP connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("source over its rate or banned")]
    Flood,
    #[error("source already holds its share of TCP connections")]
    PerSource,
    #[error("the TCP connection limit is reached")]
    Total,
}

pub struct IngressGuard {
    policy: IngressPolicy,
    flood: FloodGuard,
    exempt: Vec<IpAddr>,
    tcp: HashMap<IpAddr, u32>,
    tcp_open: u32,
    dropped: u64,
}

impl IngressGuard {
    /// `exempt`: the trunk's addresses (resolved once at start).
    pub fn new(policy: IngressPolicy, exempt: Vec<IpAddr>) -> IngressGuard {
        IngressGuard {
            policy,
            flood: FloodGuard::new(policy.flood),
            exempt,
            tcp: HashMap::new(),
            tcp_open: 0,
            dropped: 0,
        }
    }

    fn exempt(&self, ip: IpAddr) -> bool {
        self.exempt.contains(&ip)
    }

    /// Whether a datagram from `ip` may be parsed at all.
    pub fn admit_datagram(&mut self, ip: IpAddr, now_ms: u64) -> bool {
        if self.exempt(ip) {
            return true;
        }
        let ok = self.flood.admit(ip, now_ms) == Verdict::Allow;
        if !ok {
            self.dropped += 1;
        }
        ok
    }

    /// Counts a TCP connection from `ip` as open, or says why not. Every
    /// `Ok` must be followed by one [`IngressGuard::close_connection`].
    pub fn open_connection(&mut self, ip: IpAddr, now_ms: u64) -> Result<(), Refusal> {
        // The total protects file descriptors, so it binds the trunk too.
        if self.tcp_open >= self.policy.tcp_total {
            self.dropped += 1;
            return Err(Refusal::Total);
        }
        if !self.exempt(ip) {
            if self.tcp.get(&ip).copied().unwrap_or(0) >= self.policy.tcp_per_source {
                self.dropped += 1;
                return Err(Refusal::PerSource);
            }
            if self.flood.admit(ip, now_ms) != Verdict::Allow {
                self.dropped += 1;
                return Err(Refusal::Flood);
            }
        }
        *self.tcp.entry(ip).or_insert(0) += 1;
        self.tcp_open += 1;
        Ok(())
    }

    pub fn close_connection(&mut self, ip: IpAddr) {
        if let Some(n) = self.tcp.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.tcp.remove(&ip);
            }
            self.tcp_open = self.tcp_open.saturating_sub(1);
        }
    }

    /// A failed authentication from `ip`; true if it banned the source.
    pub fn failed_auth(&mut self, ip: IpAddr, now_ms: u64) -> bool {
        !self.exempt(ip) && self.flood.failed_auth(ip, now_ms)
    }

    /// Open TCP connections (all sources).
    pub fn tcp_open(&self) -> u32 {
        self.tcp_open
    }

    /// Datagrams and connections refused since start.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Forgets idle sources; call now and then.
    pub fn prune(&mut self, now_ms: u64) {
        self.flood.prune(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_735_000_000_000;
    const POLICY: IngressPolicy = IngressPolicy {
        flood: FloodPolicy {
            burst: 4,
            per_sec: 1.0,
            ban_after: 2,
            window_ms: 60_000,
            ban_ms: 600_000,
        },
        tcp_per_source: 2,
        tcp_total: 3,
    };

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn trunk() -> IpAddr {
        IpAddr::from([203, 0, 113, 1])
    }

    #[test]
    fn datagrams_over_the_rate_are_dropped_but_not_the_trunks() {
        let mut g = IngressGuard::new(POLICY, vec![trunk()]);
        let passed = (0..100).filter(|_| g.admit_datagram(ip(1), T0)).count();
        assert_eq!(passed, 4);
        assert!(g.admit_datagram(ip(2), T0), "another source is served");
        assert!((0..1000).all(|_| g.admit_datagram(trunk(), T0)));
        assert_eq!(g.dropped(), 96);
        assert!(g.admit_datagram(ip(1), T0 + 1000), "one token a second");
    }

    #[test]
    fn banned_sources_are_dropped_at_the_door() {
        let mut g = IngressGuard::new(POLICY, vec![trunk()]);
        assert!(g.admit_datagram(ip(1), T0));
        assert!(!g.failed_auth(ip(1), T0));
        assert!(g.failed_auth(ip(1), T0 + 1));
        assert!(!g.admit_datagram(ip(1), T0 + 60_000));
        assert_eq!(g.open_connection(ip(1), T0 + 60_000), Err(Refusal::Flood));
        assert!(!g.failed_auth(trunk(), T0), "the trunk is never banned");
    }

    #[test]
    fn tcp_connections_are_capped_per_source_and_in_total() {
        let mut g = IngressGuard::new(POLICY, vec![trunk()]);
        assert_eq!(g.open_connection(ip(1), T0), Ok(()));
        assert_eq!(g.open_connection(ip(1), T0), Ok(()));
        assert_eq!(g.open_connection(ip(1), T0), Err(Refusal::PerSource));
        assert_eq!(g.open_connection(ip(2), T0), Ok(()));
        assert_eq!(g.open_connection(ip(3), T0), Err(Refusal::Total));
        assert_eq!(g.open_connection(trunk(), T0), Err(Refusal::Total));
        g.close_connection(ip(1));
        assert_eq!(g.tcp_open(), 2);
        assert_eq!(g.open_connection(ip(3), T0), Ok(()));
        // Closing what was never opened changes nothing.
        g.close_connection(ip(9));
        assert_eq!(g.tcp_open(), 3);
        for last in [1, 2, 3] {
            g.close_connection(ip(last));
        }
        assert_eq!(g.tcp_open(), 0);
        assert!(g.tcp.is_empty(), "closed sources leave the table");
    }
}
