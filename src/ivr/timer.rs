//! The engine's timers, after quinn-proto's `connection/timer.rs`: a fixed table of
//! deadlines, one slot per kind, so arming and polling never allocate and the driver
//! only ever needs the earliest deadline (`poll_timeout`).

use std::time::Instant;

/// A timer kind; at most one of each is armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Gather: no first key after the question played.
    FirstDigit = 0,
    /// Gather: no further key; the answer is complete.
    InterDigit = 1,
    /// Record: no speech at all since the beep.
    NoSpeech = 2,
    /// Record: silence after speech; the answer is complete.
    Silence = 3,
    /// Record: the clip reached its maximum length.
    MaxLength = 4,
    /// Whole call: safety net against a driver that never reports playback.
    CallLimit = 5,
}

impl Timer {
    const ALL: [Timer; 6] = [
        Timer::FirstDigit,
        Timer::InterDigit,
        Timer::NoSpeech,
        Timer::Silence,
        Timer::MaxLength,
        Timer::CallLimit,
    ];
}

/// One deadline per [`Timer`].
#[derive(Debug, Default)]
pub struct TimerTable {
    deadlines: [Option<Instant>; 6],
}

impl TimerTable {
    /// Arms (or re-arms) `timer`.
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer as usize] = Some(at);
    }

    /// Disarms `timer`.
    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = None;
    }

    /// Disarms everything that belongs to a node (all but the call limit).
    pub fn stop_node_timers(&mut self) {
        for t in Timer::ALL {
            if t != Timer::CallLimit {
                self.stop(t);
            }
        }
    }

    /// Disarms everything.
    pub fn stop_all(&mut self) {
        self.deadlines = [None; 6];
    }

    /// The earliest armed deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarms and returns the earliest timer due at `now`, if any.
    pub fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let (timer, _) = Timer::ALL
            .iter()
            .filter_map(|&t| self.deadlines[t as usize].map(|at| (t, at)))
            .filter(|&(_, at)| at <= now)
            .min_by_key(|&(_, at)| at)?;
        self.stop(timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_due_timers_earliest_first() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut table = TimerTable::default();
        table.set(Timer::MaxLength, ms(300));
        table.set(Timer::Silence, ms(100));
        table.set(Timer::CallLimit, ms(10_000));
        assert_eq!(table.next_deadline(), Some(ms(100)));
        assert_eq!(table.pop_expired(ms(50)), None);
        assert_eq!(table.pop_expired(ms(400)), Some(Timer::Silence));
        assert_eq!(table.pop_expired(ms(400)), Some(Timer::MaxLength));
        assert_eq!(table.pop_expired(ms(400)), None);
        table.set(Timer::FirstDigit, ms(500));
        table.stop_node_timers();
        assert_eq!(table.next_deadline(), Some(ms(10_000)));
        table.stop_all();
        assert_eq!(table.next_deadline(), None);
    }
}
