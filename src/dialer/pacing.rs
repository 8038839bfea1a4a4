//! How many calls run at once and how fast new ones start, per campaign and for the
//! whole service (issue 3: "maximum concurrent calls, calls started per second, per
//! campaign and globally"). The trunk has a channel count and usually a CPS limit;
//! exceeding either gets calls refused (503) and the hotline's number flagged.
//!
//! Starts per second is a token bucket with room for one token: with a burst of one,
//! the bucket is empty right after each start and full again one interval later, so
//! it reduces to "the next start is allowed one interval after the last", kept as an
//! `Instant` rather than a float of tokens (no rounding drift).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One limit: concurrent calls and starts per second.
#[derive(Debug, Clone)]
pub struct Pacer {
    max_concurrent: usize,
    /// `None`: starts are never allowed (a rate that is zero, negative or NaN).
    interval: Option<Duration>,
    next_allowed: Option<Instant>,
    active: usize,
}

impl Pacer {
    /// `calls_per_second` may be fractional (0.5 = one start every 2 s) or infinite
    /// (no rate limit). Zero, negative or NaN means no call starts at all: a
    /// mistyped limit stops the dialer rather than flooding the trunk.
    pub fn new(max_concurrent: usize, calls_per_second: f64) -> Self {
        let interval = if calls_per_second.is_nan() || calls_per_second <= 0.0 {
            None
        } else {
            Some(Duration::try_from_secs_f64(1.0 / calls_per_second).unwrap_or(Duration::MAX))
        };
        Pacer {
            max_concurrent,
            interval,
            next_allowed: None,
            active: 0,
        }
    }

    /// Starts a call if both limits allow it at `now`; the caller must call
    /// [`Pacer::finished`] when a started call ends.
    pub fn try_start(&mut self, now: Instant) -> bool {
        if !self.can_start(now) {
            return false;
        }
        self.commit(now);
        true
    }

    /// A started call ended (whatever its outcome).
    pub fn finished(&mut self) {
        self.active = self.active.saturating_sub(1);
    }

    /// Calls started and not yet finished.
    pub fn active(&self) -> usize {
        self.active
    }

    /// When a start could next be allowed (`now` or later); `None` while every
    /// concurrent slot is taken (wait for [`Pacer::finished`]) or if starts are
    /// disabled.
    pub fn next_start(&self, now: Instant) -> Option<Instant> {
        if self.active >= self.max_concurrent || self.interval.is_none() {
            return None;
        }
        Some(self.next_allowed.map_or(now, |t| t.max(now)))
    }

    fn can_start(&self, now: Instant) -> bool {
        self.next_start(now).is_some_and(|t| t <= now)
    }

    fn commit(&mut self, now: Instant) {
        self.active += 1;
        if let Some(interval) = self.interval {
            self.next_allowed = now.checked_add(interval);
            if self.next_allowed.is_none() {
                // An interval too long to represent: never start again.
                self.interval = None;
            }
        }
    }
}

/// The global limit and each campaign's own; a call starts only if both allow it.
#[derive(Debug, Clone)]
pub struct Limits {
    global: Pacer,
    per_campaign: HashMap<String, Pacer>,
}

impl Limits {
    pub fn new(global: Pacer) -> Self {
        Limits {
            global,
            per_campaign: HashMap::new(),
        }
    }

    /// Sets (or replaces) a campaign's limit. A replaced pacer keeps counting the
    /// calls already running under the old one.
    pub fn set_campaign(&mut self, campaign: impl Into<String>, mut pacer: Pacer) {
        let campaign = campaign.into();
        if let Some(old) = self.per_campaign.get(&campaign) {
            pacer.active = old.active;
            pacer.next_allowed = old.next_allowed;
        }
        self.per_campaign.insert(campaign, pacer);
    }

    /// Sets a campaign's limit unless it has one with the same settings (called
    /// every dialer tick; a changed setting replaces the pacer, keeping its counts).
    pub fn ensure_campaign(&mut self, campaign: &str, pacer: Pacer) {
        let same = self.per_campaign.get(campaign).is_some_and(|p| {
            p.max_concurrent == pacer.max_concurrent && p.interval == pacer.interval
        });
        if !same {
            self.set_campaign(campaign, pacer);
        }
    }

    /// Forgets a campaign's limit (once its last call has finished).
    pub fn remove_campaign(&mut self, campaign: &str) {
        self.per_campaign.remove(campaign);
    }

    /// Starts a call for `campaign` if its own limit and the global one both allow
    /// it; a refusal consumes nothing. A campaign without a limit of its own is
    /// bounded by the global one only.
    pub fn try_start(&mut self, campaign: &str, now: Instant) -> bool {
        let own = self.per_campaign.get_mut(campaign);
        if !self.global.can_start(now) || own.as_ref().is_some_and(|p| !p.can_start(now)) {
            return false;
        }
        self.global.commit(now);
        if let Some(p) = own {
            p.commit(now);
        }
        true
    }

    pub fn finished(&mut self, campaign: &str) {
        self.global.finished();
        if let Some(p) = self.per_campaign.get_mut(campaign) {
            p.finished();
        }
    }

    /// The later of the two limits' next start; `None` if either is blocked.
    pub fn next_start(&self, campaign: &str, now: Instant) -> Option<Instant> {
        let global = self.global.next_start(now)?;
        match self.per_campaign.get(campaign) {
            Some(p) => Some(global.max(p.next_start(now)?)),
            None => Some(global),
        }
    }

    pub fn global(&self) -> &Pacer {
        &self.global
    }

    pub fn campaign(&self, campaign: &str) -> Option<&Pacer> {
        self.per_campaign.get(campaign)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn starts_are_spaced_by_the_rate() {
        let t0 = Instant::now();
        let mut p = Pacer::new(10, 2.0);
        assert!(p.try_start(t0));
        assert!(!p.try_start(t0), "burst of one");
        assert!(!p.try_start(t0 + ms(499)));
        assert_eq!(p.next_start(t0 + ms(100)), Some(t0 + ms(500)));
        assert!(p.try_start(t0 + ms(500)));
        // Idle time does not bank tokens: after a long pause, still one at a time.
        assert!(p.try_start(t0 + ms(10_000)));
        assert!(!p.try_start(t0 + ms(10_001)));
        assert_eq!(p.active(), 3);
    }

    #[test]
    fn concurrency_is_capped() {
        let t0 = Instant::now();
        let mut p = Pacer::new(2, f64::INFINITY);
        assert!(p.try_start(t0));
        assert!(p.try_start(t0));
        assert!(!p.try_start(t0));
        assert_eq!(p.next_start(t0), None, "blocked until a call finishes");
        p.finished();
        assert_eq!(p.active(), 1);
        assert_eq!(p.next_start(t0), Some(t0));
        assert!(p.try_start(t0));
        p.finished();
        p.finished();
        p.finished();
        assert_eq!(p.active(), 0, "never below zero");
    }

    #[test]
    fn fractional_and_disabled_rates() {
        let t0 = Instant::now();
        let mut slow = Pacer::new(5, 0.25);
        assert!(slow.try_start(t0));
        assert_eq!(slow.next_start(t0), Some(t0 + Duration::from_secs(4)));
        for rate in [0.0, -1.0, f64::NAN] {
            let mut off = Pacer::new(5, rate);
            assert!(!off.try_start(t0), "{rate}");
            assert_eq!(off.next_start(t0), None);
        }
        let mut none = Pacer::new(0, 10.0);
        assert!(!none.try_start(t0));
    }

    #[test]
    fn both_limits_must_allow_a_start() {
        let t0 = Instant::now();
        let mut l = Limits::new(Pacer::new(3, 10.0)); // 100 ms apart, 3 at once
        l.set_campaign("a", Pacer::new(1, 10.0));
        l.set_campaign("b", Pacer::new(5, 1.0)); // 1 s apart
        assert!(l.try_start("a", t0));
        assert!(!l.try_start("b", t0), "global rate");
        assert!(l.try_start("b", t0 + ms(100)));
        assert!(!l.try_start("a", t0 + ms(200)), "a's own concurrency");
        assert!(!l.try_start("b", t0 + ms(200)), "b's own rate");
        assert_eq!(l.next_start("b", t0 + ms(200)), Some(t0 + ms(1_100)));
        assert_eq!(l.next_start("a", t0 + ms(200)), None);
        // A refusal consumed nothing: "c" (no own limit) starts at once.
        assert!(l.try_start("c", t0 + ms(200)));
        assert_eq!(l.global().active(), 3);
        assert!(!l.try_start("c", t0 + ms(5_000)), "global concurrency");
        assert_eq!(l.next_start("c", t0 + ms(5_000)), None);
        l.finished("a");
        assert_eq!(l.campaign("a").unwrap().active(), 0);
        assert!(l.try_start("a", t0 + ms(5_000)));
    }

    #[test]
    fn replacing_a_campaign_limit_keeps_its_running_calls() {
        let t0 = Instant::now();
        let mut l = Limits::new(Pacer::new(10, f64::INFINITY));
        l.set_campaign("a", Pacer::new(2, f64::INFINITY));
        assert!(l.try_start("a", t0));
        assert!(l.try_start("a", t0));
        l.set_campaign("a", Pacer::new(2, 1.0));
        assert_eq!(l.campaign("a").unwrap().active(), 2);
        assert!(!l.try_start("a", t0));
    }
}
