//! Failed-login limiter: after `max_failures` failures within `window` for
//! one key (a username, or a client address), that key is refused for
//! `lockout`. Keys are counted separately so that guessing many passwords for
//! one user and one password for many users are both slowed down.
//!
//! Sans-IO: the caller passes the time. Memory is bounded: at most
//! `max_keys` keys are tracked, and the oldest are forgotten first.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Tuning of the limiter.
#[derive(Debug, Clone, Copy)]
pub struct LimiterSettings {
    pub max_failures: u32,
    pub window: Duration,
    pub lockout: Duration,
    pub max_keys: usize,
}

impl Default for LimiterSettings {
    fn default() -> Self {
        LimiterSettings {
            max_failures: 5,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
            max_keys: 100_000,
        }
    }
}

/// How long until the key may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

#[derive(Debug, Clone, Copy)]
struct Entry {
    first_failure: Instant,
    failures: u32,
    locked_until: Option<Instant>,
}

/// The limiter's state.
#[derive(Debug)]
pub struct LoginLimiter {
    settings: LimiterSettings,
    keys: HashMap<String, Entry>,
}

impl LoginLimiter {
    pub fn new(settings: LimiterSettings) -> LoginLimiter {
        LoginLimiter {
            settings,
            keys: HashMap::new(),
        }
    }

    /// `Err` while `key` is locked out.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), RetryAfter> {
        match self.keys.get(key).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(RetryAfter(until - now)),
            _ => Ok(()),
        }
    }

    /// Counts a failure; returns the lockout when this one started it.
    pub fn failed(&mut self, key: &str, now: Instant) -> Option<RetryAfter> {
        self.forget_expired(now);
        if !self.keys.contains_key(key) && self.keys.len() >= self.settings.max_keys {
            self.evict_oldest();
        }
        let s = self.settings;
        let e = self.keys.entry(key.to_string()).or_insert(Entry {
            first_failure: now,
            failures: 0,
            locked_until: None,
        });
        if now.duration_since(e.first_failure) > s.window || e.locked_until.is_some() {
            *e = Entry {
                first_failure: now,
                failures: 0,
                locked_until: None,
            };
        }
        e.failures += 1;
        if e.failures >= s.max_failures {
            e.locked_until = Some(now + s.lockout);
            return Some(RetryAfter(s.lockout));
        }
        None
    }

    /// A successful login clears the key's failures.
    pub fn succeeded(&mut self, key: &str) {
        self.keys.remove(key);
    }

    fn forget_expired(&mut self, now: Instant) {
        if self.keys.len() < self.settings.max_keys / 2 {
            return;
        }
        let s = self.settings;
        self.keys.retain(|_, e| match e.locked_until {
            Some(until) => until > now,
            None => now.duration_since(e.first_failure) <= s.window,
        });
    }

    fn evict_oldest(&mut self) {
        if let Some(oldest) = self
            .keys
            .iter()
            .min_by_key(|(_, e)| e.first_failure)
            .map(|(k, _)| k.clone())
        {
            self.keys.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> LoginLimiter {
        LoginLimiter::new(LimiterSettings {
            max_failures: 3,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(300),
            max_keys: 4,
        })
    }

    #[test]
    fn locks_after_the_limit_and_unlocks_after_the_lockout() {
        let t0 = Instant::now();
        let mut l = limiter();
        assert_eq!(l.failed("an", t0), None);
        assert_eq!(l.failed("an", t0 + Duration::from_secs(1)), None);
        assert!(l.check("an", t0 + Duration::from_secs(2)).is_ok());
        assert_eq!(
            l.failed("an", t0 + Duration::from_secs(2)),
            Some(RetryAfter(Duration::from_secs(300)))
        );
        assert_eq!(
            l.check("an", t0 + Duration::from_secs(102)),
            Err(RetryAfter(Duration::from_secs(200)))
        );
        assert!(l.check("binh", t0).is_ok(), "other keys unaffected");
        assert!(l.check("an", t0 + Duration::from_secs(303)).is_ok());
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let t0 = Instant::now();
        let mut l = limiter();
        l.failed("an", t0);
        l.failed("an", t0 + Duration::from_secs(30));
        assert_eq!(l.failed("an", t0 + Duration::from_secs(61)), None);
        assert!(l.check("an", t0 + Duration::from_secs(62)).is_ok());
    }

    #[test]
    fn success_clears_and_memory_is_bounded() {
        let t0 = Instant::now();
        let mut l = limiter();
        l.failed("an", t0);
        l.failed("an", t0);
        l.succeeded("an");
        assert_eq!(l.failed("an", t0), None, "count restarted");
        for i in 0..100 {
            l.failed(&format!("ip{i}"), t0 + Duration::from_millis(i));
        }
        assert!(l.keys.len() <= 4);
    }
}
