//! Failed-login limiter, two counters per failure:
//!
//! * per **(username, client address)** pair: after `max_failures` failures
//!   within `window` that pair is refused for `lockout`, and every further
//!   lockout of the same pair doubles (up to `max_lockout`), so a guesser at
//!   one address slows down exponentially while the same user logging in from
//!   their own desk is never affected (OWASP Authentication Cheat Sheet: lock
//!   the attempt, not the account, or anyone can lock anyone out);
//! * per **client address**: after `max_failures_per_addr` failures (any
//!   usernames) within `window` the address is refused for `lockout`, which
//!   stops password spraying (one password tried on many users).
//!
//! The address must be the socket's peer, or what a *trusted* proxy says
//! (`crate::http::client_addr`): a header the client writes itself would
//! let it pick a fresh key for every attempt.
//!
//! Sans-IO: the caller passes the time. Memory is bounded: at most `max_keys`
//! entries per counter (entries no longer locked are forgotten first, then the
//! oldest) and usernames are cut to [`MAX_USER_KEY`] bytes.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Usernames longer than this share a key (no user name is this long; a
/// megabyte-long "username" must not cost a megabyte of memory).
pub const MAX_USER_KEY: usize = 128;

/// Tuning of the limiter.
#[derive(Debug, Clone, Copy)]
pub struct LimiterSettings {
    /// Failures of one (user, address) pair before it is locked.
    pub max_failures: u32,
    /// Failures from one address, whatever the usernames, before it is locked.
    pub max_failures_per_addr: u32,
    /// Failures older than this no longer count.
    pub window: Duration,
    /// The first lockout; each further lockout of a pair doubles it.
    pub lockout: Duration,
    /// The longest lockout.
    pub max_lockout: Duration,
    /// Entries kept per counter.
    pub max_keys: usize,
}

impl Default for LimiterSettings {
    fn default() -> Self {
        LimiterSettings {
            max_failures: 5,
            max_failures_per_addr: 50,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
            max_lockout: Duration::from_secs(16 * 3600),
            max_keys: 100_000,
        }
    }
}

/// How long until the attempt may be made again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

#[derive(Debug, Clone, Copy)]
struct Entry {
    first_failure: Instant,
    last_failure: Instant,
    failures: u32,
    locked_until: Option<Instant>,
    /// Lockouts so far: the next one lasts `lockout * 2^strikes`.
    strikes: u32,
}

/// One bounded table of failure counts.
#[derive(Debug)]
struct Counter<K> {
    max_failures: u32,
    /// Whether repeated lockouts double (pairs) or stay at `lockout` (addresses).
    backoff: bool,
    keys: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Counter<K> {
    fn new(max_failures: u32, backoff: bool) -> Counter<K> {
        Counter {
            max_failures: max_failures.max(1),
            backoff,
            keys: HashMap::new(),
        }
    }

    fn check(&self, key: &K, now: Instant) -> Result<(), RetryAfter> {
        match self.keys.get(key).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(RetryAfter(until - now)),
            _ => Ok(()),
        }
    }

    fn failed(&mut self, key: K, now: Instant, s: &LimiterSettings) -> Option<RetryAfter> {
        if !self.keys.contains_key(&key) && self.keys.len() >= s.max_keys {
            self.make_room(now, s);
        }
        let e = self.keys.entry(key).or_insert(Entry {
            first_failure: now,
            last_failure: now,
            failures: 0,
            locked_until: None,
            strikes: 0,
        });
        let lock_over = e.locked_until.is_some_and(|u| u <= now);
        if lock_over || now.duration_since(e.first_failure) > s.window {
            // A new round of counting; the strikes are remembered.
            e.first_failure = now;
            e.failures = 0;
            e.locked_until = None;
        }
        e.last_failure = now;
        e.failures += 1;
        if e.failures < self.max_failures || e.locked_until.is_some() {
            return None;
        }
        let lockout = if self.backoff {
            s.lockout
                .saturating_mul(1u32 << e.strikes.min(20))
                .min(s.max_lockout.max(s.lockout))
        } else {
            s.lockout
        };
        e.strikes = e.strikes.saturating_add(1);
        e.locked_until = Some(now + lockout);
        Some(RetryAfter(lockout))
    }

    fn forget(&mut self, key: &K) {
        self.keys.remove(key);
    }

    /// Drops entries that no longer matter; if none, the oldest unlocked one;
    /// if every entry is locked, the oldest.
    fn make_room(&mut self, now: Instant, s: &LimiterSettings) {
        let memory = s.max_lockout.max(s.window);
        self.keys.retain(|_, e| {
            e.locked_until.is_some_and(|u| u > now) || now.duration_since(e.last_failure) <= memory
        });
        if self.keys.len() < s.max_keys {
            return;
        }
        let unlocked = |e: &Entry| e.locked_until.is_none_or(|u| u <= now);
        let victim = self
            .keys
            .iter()
            .filter(|(_, e)| unlocked(e))
            .min_by_key(|(_, e)| e.last_failure)
            .or_else(|| self.keys.iter().min_by_key(|(_, e)| e.last_failure))
            .map(|(k, _)| k.clone());
        if let Some(k) = victim {
            self.keys.remove(&k);
        }
    }
}

/// The limiter's state.
#[derive(Debug)]
pub struct LoginLimiter {
    settings: LimiterSettings,
    pairs: Counter<(String, IpAddr)>,
    addrs: Counter<IpAddr>,
}

impl LoginLimiter {
    pub fn new(settings: LimiterSettings) -> LoginLimiter {
        LoginLimiter {
            settings,
            pairs: Counter::new(settings.max_failures, true),
            addrs: Counter::new(settings.max_failures_per_addr, false),
        }
    }

    /// `Err` while this user may not try from this address (the pair or the
    /// address is locked), with the longer of the two waits.
    pub fn check(&self, user: &str, addr: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        let pair = self.pairs.check(&pair_key(user, addr), now);
        let addr = self.addrs.check(&addr, now);
        match (pair, addr) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(a.max(b)),
            (Err(w), _) | (_, Err(w)) => Err(w),
        }
    }

    /// Counts a failure; returns the lockout when this one started one.
    pub fn failed(&mut self, user: &str, addr: IpAddr, now: Instant) -> Option<RetryAfter> {
        let s = self.settings;
        let pair = self.pairs.failed(pair_key(user, addr), now, &s);
        let addr = self.addrs.failed(addr, now, &s);
        pair.max(addr)
    }

    /// A successful login clears the pair's failures and strikes. The
    /// address's count stays: knowing one password must not reset the
    /// spraying limit for all the others.
    pub fn succeeded(&mut self, user: &str, addr: IpAddr) {
        self.pairs.forget(&pair_key(user, addr));
    }

    /// Entries held (pairs, addresses): for tests of the memory bound.
    pub fn entries(&self) -> (usize, usize) {
        (self.pairs.keys.len(), self.addrs.keys.len())
    }
}

impl PartialOrd for RetryAfter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RetryAfter {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

fn pair_key(user: &str, addr: IpAddr) -> (String, IpAddr) {
    let mut end = user.len().min(MAX_USER_KEY);
    while !user.is_char_boundary(end) {
        end -= 1;
    }
    (user[..end].to_string(), addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));

    fn limiter() -> LoginLimiter {
        LoginLimiter::new(LimiterSettings {
            max_failures: 3,
            max_failures_per_addr: 10,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(300),
            max_lockout: Duration::from_secs(1200),
            max_keys: 4,
        })
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_pair_locks_without_locking_the_user_elsewhere_or_other_users() {
        let t0 = Instant::now();
        let mut l = limiter();
        assert_eq!(l.failed("admin", A, t0), None);
        assert_eq!(l.failed("admin", A, t0 + secs(1)), None);
        assert_eq!(
            l.failed("admin", A, t0 + secs(2)),
            Some(RetryAfter(secs(300)))
        );
        assert_eq!(
            l.check("admin", A, t0 + secs(102)),
            Err(RetryAfter(secs(200)))
        );
        assert!(l.check("admin", B, t0 + secs(3)).is_ok(), "own desk");
        assert!(l.check("binh", A, t0 + secs(3)).is_ok(), "other users");
        assert!(l.check("admin", A, t0 + secs(303)).is_ok(), "lock over");
    }

    #[test]
    fn repeated_lockouts_of_a_pair_double_up_to_the_cap() {
        let t0 = Instant::now();
        let mut l = limiter();
        let mut now = t0;
        let mut locks = Vec::new();
        for _ in 0..4 {
            let mut got = None;
            for _ in 0..3 {
                got = l.failed("admin", A, now);
            }
            let wait = got.expect("locked").0;
            locks.push(wait.as_secs());
            now += wait + secs(1);
        }
        assert_eq!(locks, [300, 600, 1200, 1200]);
        l.succeeded("admin", A);
        assert!(l.check("admin", A, now).is_ok());
        for _ in 0..2 {
            assert_eq!(l.failed("admin", A, now), None);
        }
        assert_eq!(
            l.failed("admin", A, now),
            Some(RetryAfter(secs(300))),
            "a success forgives the strikes"
        );
    }

    #[test]
    fn spraying_from_one_address_locks_the_address() {
        let t0 = Instant::now();
        let mut l = limiter();
        for i in 0..9 {
            assert_eq!(l.failed(&format!("user{i}"), A, t0), None);
        }
        assert_eq!(l.failed("user9", A, t0), Some(RetryAfter(secs(300))));
        assert!(l.check("nobody-yet", A, t0 + secs(1)).is_err());
        assert!(l.check("nobody-yet", B, t0 + secs(1)).is_ok());
        l.succeeded("user1", A);
        assert!(
            l.check("user1", A, t0 + secs(1)).is_err(),
            "a success does not reset the address"
        );
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let t0 = Instant::now();
        let mut l = limiter();
        l.failed("an", A, t0);
        l.failed("an", A, t0 + secs(30));
        assert_eq!(l.failed("an", A, t0 + secs(61)), None);
        assert!(l.check("an", A, t0 + secs(62)).is_ok());
    }

    #[test]
    fn memory_is_bounded_and_locks_survive_a_flood_of_new_keys() {
        let t0 = Instant::now();
        let mut l = limiter();
        for _ in 0..3 {
            l.failed("admin", A, t0);
        }
        let long = "x".repeat(1 << 20);
        for i in 0..100u32 {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            l.failed(
                &format!("{long}{i}"),
                addr,
                t0 + Duration::from_millis(u64::from(i)),
            );
        }
        let (pairs, addrs) = l.entries();
        assert!(pairs <= 4 && addrs <= 4, "{pairs} {addrs}");
        assert!(
            l.pairs.keys.keys().all(|(u, _)| u.len() <= MAX_USER_KEY),
            "usernames are cut"
        );
        assert!(
            l.check("admin", A, t0 + secs(10)).is_err(),
            "unlocked entries go first"
        );
    }
}
