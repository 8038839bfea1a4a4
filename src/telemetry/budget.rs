//! A budget of log lines per callsite per second.
//!
//! One unauthenticated source could make carecall write 28 MB/s of WARN lines
//! (one per dropped packet or refused connection), filling the disk and
//! burying everything else. Each `tracing` callsite (one `warn!` in the code)
//! may write `per_sec` lines in a one-second window; the rest are counted and
//! reported as "suppressed K similar lines" with the first line of a later
//! window. Bounded: there are as many entries as callsites in the binary.
//! Sans-IO: the caller passes the time.

use std::collections::HashMap;
use std::hash::Hash;

/// What to do with one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Write it, after a note of `suppressed` lines dropped before it (if > 0).
    Pass {
        suppressed: u64,
    },
    Drop,
}

#[derive(Debug, Clone, Copy)]
struct Site {
    window_start_ms: u64,
    passed: u32,
    suppressed: u64,
}

#[derive(Debug)]
pub struct LineBudget<K> {
    per_sec: u32,
    sites: HashMap<K, Site>,
}

impl<K: Hash + Eq> LineBudget<K> {
    pub fn new(per_sec: u32) -> LineBudget<K> {
        LineBudget {
            per_sec: per_sec.max(1),
            sites: HashMap::new(),
        }
    }

    /// One line from callsite `key` at `now_ms` (any monotonic milliseconds).
    pub fn admit(&mut self, key: K, now_ms: u64) -> Admit {
        let site = self.sites.entry(key).or_insert(Site {
            window_start_ms: now_ms,
            passed: 0,
            suppressed: 0,
        });
        if now_ms >= site.window_start_ms.saturating_add(1000) {
            site.window_start_ms = now_ms;
            site.passed = 0;
        }
        if site.passed >= self.per_sec {
            site.suppressed += 1;
            return Admit::Drop;
        }
        site.passed += 1;
        Admit::Pass {
            suppressed: std::mem::take(&mut site.suppressed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_lines_per_second_per_callsite_then_a_count() {
        let mut b = LineBudget::new(3);
        let verdicts: Vec<Admit> = (0..10).map(|i| b.admit("accept", i)).collect();
        assert_eq!(
            verdicts.iter().filter(|v| **v != Admit::Drop).count(),
            3,
            "{verdicts:?}"
        );
        // Another callsite has its own budget.
        assert_eq!(b.admit("other", 5), Admit::Pass { suppressed: 0 });
        // Next window: the first line carries the count of the dropped ones.
        assert_eq!(b.admit("accept", 1000), Admit::Pass { suppressed: 7 });
        assert_eq!(b.admit("accept", 1001), Admit::Pass { suppressed: 0 });
    }

    #[test]
    fn a_flood_of_a_million_lines_writes_a_few_per_second() {
        let mut b = LineBudget::new(20);
        // 1,000,000 lines over 10 s from one callsite.
        let written = (0..1_000_000u64)
            .filter(|i| b.admit(1u8, i / 100_000 * 1000 + (i % 100_000) / 100) != Admit::Drop)
            .count();
        assert_eq!(written, 200);
    }
}
