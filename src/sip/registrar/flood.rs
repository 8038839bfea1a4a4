//! REGISTER flood and password-guessing protection, per source IP address.
//!
//! Scanners (SIPVicious and friends) send REGISTERs as fast as the network
//! allows and walk through passwords. Each source gets a token bucket of
//! requests (the rate a real phone never reaches) and a count of failed
//! authentications in a window; past that count it is banned for a while, as
//! fail2ban does in front of Asterisk. Keyed by IP only: a scanner is free to
//! change its port.
//!
//! The guard runs in the transport's per-datagram hook (`sip::ingress`), before
//! rsipstack parses a message or creates a transaction, like Kamailio's `pike`
//! module in front of its transaction layer: a flood costs a table lookup, not
//! a transaction kept for 32 s (RFC 3261 §17.2.2 Timer J). The table is bounded
//! ([`MAX_SOURCES`]): spoofed source addresses cannot grow it without end.

use std::collections::HashMap;
use std::net::IpAddr;

/// Limits; see `[registrar]` in the configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloodPolicy {
    /// Requests a source may send at once.
    pub burst: u32,
    /// Sustained requests per second per source.
    pub per_sec: f64,
    /// Failed authentications within `window_ms` that ban the source.
    pub ban_after: u32,
    pub window_ms: u64,
    pub ban_ms: u64,
}

/// What to do with a request from a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Over its rate: 503 (or drop).
    Limited,
    /// Too many failed authentications: 403 (or drop) until `until_ms`.
    Banned {
        until_ms: u64,
    },
}

#[derive(Debug, Clone)]
struct Source {
    tokens: f64,
    last_ms: u64,
    window_start_ms: u64,
    failures: u32,
    banned_until_ms: u64,
}

/// The state of every source seen recently.
#[derive(Debug)]
pub struct FloodGuard {
    policy: FloodPolicy,
    sources: HashMap<IpAddr, Source>,
    last_prune_ms: u64,
    max_sources: usize,
}

/// Above this many sources, idle ones are forgotten (at most once a second),
/// so a spoofed-address flood cannot grow the table without bound.
const PRUNE_ABOVE: usize = 4096;

/// Hard bound of the table (~100 bytes a source, so a few MB). When it is full
/// of sources that are all still draining their bucket, a *new* source is
/// limited until pruning frees room: fail closed, memory bounded.
pub const MAX_SOURCES: usize = 65_536;

impl FloodGuard {
    pub fn new(policy: FloodPolicy) -> FloodGuard {
        FloodGuard::with_capacity(policy, MAX_SOURCES)
    }

    /// A guard tracking at most `max_sources` addresses.
    pub fn with_capacity(policy: FloodPolicy, max_sources: usize) -> FloodGuard {
        FloodGuard {
            policy,
            sources: HashMap::new(),
            last_prune_ms: 0,
            max_sources: max_sources.max(1),
        }
    }

    /// Counts one request from `ip` at `now_ms` and says whether to serve it.
    pub fn admit(&mut self, ip: IpAddr, now_ms: u64) -> Verdict {
        let crowded = self.sources.len() > PRUNE_ABOVE.min(self.max_sources / 2);
        if crowded && now_ms >= self.last_prune_ms + 1000 {
            self.prune(now_ms);
        }
        if self.sources.len() >= self.max_sources && !self.sources.contains_key(&ip) {
            return Verdict::Limited;
        }
        let p = self.policy;
        let s = self.sources.entry(ip).or_insert(Source {
            tokens: f64::from(p.burst),
            last_ms: now_ms,
            window_start_ms: now_ms,
            failures: 0,
            banned_until_ms: 0,
        });
        if now_ms < s.banned_until_ms {
            return Verdict::Banned {
                until_ms: s.banned_until_ms,
            };
        }
        let elapsed = now_ms.saturating_sub(s.last_ms) as f64 / 1000.0;
        s.tokens = (s.tokens + elapsed * p.per_sec).min(f64::from(p.burst));
        s.last_ms = s.last_ms.max(now_ms);
        if s.tokens < 1.0 {
            return Verdict::Limited;
        }
        s.tokens -= 1.0;
        Verdict::Allow
    }

    /// Records a failed authentication (wrong password, unknown user, forged
    /// nonce); returns true if this failure banned the source.
    pub fn failed_auth(&mut self, ip: IpAddr, now_ms: u64) -> bool {
        let p = self.policy;
        if self.sources.len() >= self.max_sources && !self.sources.contains_key(&ip) {
            return false;
        }
        // Usually tracked already (the transport admitted the request first).
        let s = self.sources.entry(ip).or_insert(Source {
            tokens: f64::from(p.burst),
            last_ms: now_ms,
            window_start_ms: now_ms,
            failures: 0,
            banned_until_ms: 0,
        });
        if now_ms >= s.window_start_ms + p.window_ms {
            s.window_start_ms = now_ms;
            s.failures = 0;
        }
        s.failures += 1;
        if p.ban_after > 0 && s.failures >= p.ban_after {
            s.banned_until_ms = now_ms + p.ban_ms;
            s.failures = 0;
            return true;
        }
        false
    }

    /// Forgets sources with a full bucket, no ban and no recent failure.
    pub fn prune(&mut self, now_ms: u64) {
        let p = self.policy;
        self.last_prune_ms = now_ms;
        self.sources.retain(|_, s| {
            let refilled = s.tokens + now_ms.saturating_sub(s.last_ms) as f64 / 1000.0 * p.per_sec
                >= f64::from(p.burst);
            let failing = s.failures > 0 && now_ms < s.window_start_ms + p.window_ms;
            now_ms < s.banned_until_ms || failing || !refilled
        });
    }

    /// Sources currently tracked (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: FloodPolicy = FloodPolicy {
        burst: 5,
        per_sec: 2.0,
        ban_after: 3,
        window_ms: 60_000,
        ban_ms: 600_000,
    };
    const T0: u64 = 1_735_000_000_000;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn burst_then_rate() {
        let mut g = FloodGuard::new(POLICY);
        for _ in 0..5 {
            assert_eq!(g.admit(ip(1), T0), Verdict::Allow);
        }
        assert_eq!(g.admit(ip(1), T0), Verdict::Limited);
        // Another source is not affected.
        assert_eq!(g.admit(ip(2), T0), Verdict::Allow);
        // 2/s: one token back after 500 ms, not before.
        assert_eq!(g.admit(ip(1), T0 + 400), Verdict::Limited);
        assert_eq!(g.admit(ip(1), T0 + 500), Verdict::Allow);
        assert_eq!(g.admit(ip(1), T0 + 500), Verdict::Limited);
        // The bucket refills to the burst, no further.
        for _ in 0..5 {
            assert_eq!(g.admit(ip(1), T0 + 60_000), Verdict::Allow);
        }
        assert_eq!(g.admit(ip(1), T0 + 60_000), Verdict::Limited);
    }

    #[test]
    fn failed_auths_in_a_window_ban() {
        let mut g = FloodGuard::new(POLICY);
        g.admit(ip(1), T0);
        assert!(!g.failed_auth(ip(1), T0));
        assert!(!g.failed_auth(ip(1), T0 + 1000));
        // The window restarts: the two old failures no longer count.
        assert!(!g.failed_auth(ip(1), T0 + 61_000));
        assert!(!g.failed_auth(ip(1), T0 + 62_000));
        assert!(g.failed_auth(ip(1), T0 + 63_000));
        let until = T0 + 63_000 + 600_000;
        assert_eq!(
            g.admit(ip(1), T0 + 64_000),
            Verdict::Banned { until_ms: until }
        );
        assert_eq!(g.admit(ip(2), T0 + 64_000), Verdict::Allow);
        assert_eq!(g.admit(ip(1), until), Verdict::Allow);
    }

    #[test]
    fn zero_ban_after_never_bans() {
        let mut g = FloodGuard::new(FloodPolicy {
            ban_after: 0,
            ..POLICY
        });
        g.admit(ip(1), T0);
        for i in 0..10 {
            assert!(!g.failed_auth(ip(1), T0 + i));
        }
    }

    #[test]
    fn prune_keeps_only_sources_that_matter() {
        let mut g = FloodGuard::new(POLICY);
        g.admit(ip(1), T0); // idle: refilled after 500 ms
        for _ in 0..5 {
            g.admit(ip(2), T0 + 9_000); // drained just now
        }
        g.admit(ip(3), T0);
        for _ in 0..3 {
            g.failed_auth(ip(3), T0); // banned
        }
        g.admit(ip(4), T0);
        g.failed_auth(ip(4), T0 + 5_000); // failing within the window
        g.prune(T0 + 10_000);
        assert_eq!(g.tracked(), 3);
        assert!(!g.sources.contains_key(&ip(1)));
    }

    #[test]
    fn a_spoofed_source_flood_stays_within_the_table_bound() {
        let mut g = FloodGuard::with_capacity(POLICY, 100);
        // 10,000 distinct sources within one millisecond: nothing can be pruned.
        let mut limited = 0;
        for i in 0..10_000u32 {
            let ip = IpAddr::from((0xC633_0000u32 + i).to_be_bytes());
            if g.admit(ip, T0) == Verdict::Limited {
                limited += 1;
            }
        }
        assert_eq!(g.tracked(), 100);
        assert_eq!(limited, 9_900);
        // A known source keeps its bucket meanwhile.
        assert_eq!(g.admit(IpAddr::from([198, 51, 0, 0]), T0), Verdict::Allow);
        // Once their buckets refilled (burst 5 at 2/s: 2.5 s), room is made again.
        assert_eq!(g.admit(ip(7), T0 + 3_000), Verdict::Allow);
        assert!(g.tracked() <= 100);
    }
}
