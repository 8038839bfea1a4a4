//! Nonce-count tracking: a captured Authorization header must not work twice.
//!
//! RFC 7616 §3.4 (nc): the client counts the requests it sends with one nonce,
//! and "the server can detect request replays by maintaining its own copy of
//! this count — if the same nc-value is seen twice, then the request is a
//! replay". So for every nonce that authenticated a request this table keeps
//! the highest nc seen, and a request must raise it. Without qop (RFC 2069
//! style) there is no nc: the nonce is then good for one request.
//!
//! Only verified requests reach [`NonceCounts::record`] (as Apache's
//! `AuthDigestNcCheck` learned, a failed request must not move a client's
//! count), so filling the table takes valid credentials.
//!
//! The table is per node and bounded: entries leave when their nonce expires;
//! when it is full the oldest entry is evicted and every nonce issued up to
//! that one is refused from then on (its count was forgotten, so it could be
//! replayed). A refused phone is challenged again and carries on.
//!
//! Several nodes: each keeps its own table, so one captured (nonce, nc) can be
//! accepted once by each *other* node within the nonce lifetime. Nonces are
//! bound to the client's address (`digest.rs`), so that replay has to come from
//! the victim's address: a blind, spoofed UDP request, whose 200 goes to the
//! victim. Shorter `nonce_lifetime_secs`, TCP phones, or sending each phone to
//! one node (DNS SRV) close that window.

use std::collections::HashMap;

/// Default bound of the table: far more nonces than operators' phones use in
/// one nonce lifetime (one per registration refresh).
pub const DEFAULT_CAPACITY: usize = 16_384;

/// Whether a verified request may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Accepted,
    /// Same or lower nc than already seen for this nonce, or a nonce whose
    /// count was evicted: challenge again.
    Replayed,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    nc: u64,
    issued_secs: u64,
}

#[derive(Debug)]
pub struct NonceCounts {
    seen: HashMap<String, Seen>,
    capacity: usize,
    /// How long after issue an entry must be kept (the nonce lifetime plus
    /// the skew allowed between nodes).
    keep_secs: u64,
    /// Nonces issued at or before this second are refused.
    floor_secs: Option<u64>,
}

impl NonceCounts {
    pub fn new(capacity: usize, keep_secs: u64) -> NonceCounts {
        NonceCounts {
            seen: HashMap::new(),
            capacity: capacity.max(1),
            keep_secs,
            floor_secs: None,
        }
    }

    /// Records a verified request with `nonce` (issued at `issued_secs`) and
    /// its `nc` (hex, None without qop) at `now_secs`.
    pub fn record(
        &mut self,
        nonce: &str,
        issued_secs: u64,
        nc: Option<&str>,
        now_secs: u64,
    ) -> Count {
        // RFC 7616 §3.4: nc is 8 hex digits; the first request sends 00000001.
        let nc = match nc {
            Some(hex) => match u64::from_str_radix(hex.trim(), 16) {
                Ok(n) if n > 0 => n,
                _ => return Count::Replayed,
            },
            None => 1,
        };
        if self.floor_secs.is_some_and(|f| issued_secs <= f) {
            return Count::Replayed;
        }
        if let Some(s) = self.seen.get_mut(nonce) {
            if nc <= s.nc {
                return Count::Replayed;
            }
            s.nc = nc;
            return Count::Accepted;
        }
        if self.seen.len() >= self.capacity {
            self.expire(now_secs);
        }
        if self.seen.len() >= self.capacity {
            self.evict_oldest();
            if self.floor_secs.is_some_and(|f| issued_secs <= f) {
                return Count::Replayed;
            }
        }
        self.seen
            .insert(nonce.to_string(), Seen { nc, issued_secs });
        Count::Accepted
    }

    /// Drops entries whose nonce can no longer be fresh.
    pub fn expire(&mut self, now_secs: u64) {
        let keep = self.keep_secs;
        self.seen
            .retain(|_, s| s.issued_secs.saturating_add(keep) >= now_secs);
    }

    fn evict_oldest(&mut self) {
        let Some((nonce, issued)) = self
            .seen
            .iter()
            .min_by_key(|(_, s)| s.issued_secs)
            .map(|(n, s)| (n.clone(), s.issued_secs))
        else {
            return;
        };
        self.seen.remove(&nonce);
        self.floor_secs = Some(self.floor_secs.map_or(issued, |f| f.max(issued)));
    }

    pub fn tracked(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_735_000_000;

    #[test]
    fn nc_must_increase_per_nonce() {
        let mut t = NonceCounts::new(16, 330);
        assert_eq!(t.record("n1", NOW, Some("00000001"), NOW), Count::Accepted);
        // The same (nonce, nc) again: a replay.
        assert_eq!(
            t.record("n1", NOW, Some("00000001"), NOW + 1),
            Count::Replayed
        );
        assert_eq!(
            t.record("n1", NOW, Some("00000002"), NOW + 2),
            Count::Accepted
        );
        // Lower than seen: a replay of an older request.
        assert_eq!(
            t.record("n1", NOW, Some("00000001"), NOW + 3),
            Count::Replayed
        );
        // A gap is fine (the client may have used the nonce elsewhere), §3.4.
        assert_eq!(
            t.record("n1", NOW, Some("0000000a"), NOW + 4),
            Count::Accepted
        );
        // Another nonce has its own count.
        assert_eq!(
            t.record("n2", NOW, Some("00000001"), NOW + 4),
            Count::Accepted
        );
        // Malformed or zero counts are refused.
        assert_eq!(t.record("n3", NOW, Some("zz"), NOW), Count::Replayed);
        assert_eq!(t.record("n3", NOW, Some("00000000"), NOW), Count::Replayed);
        assert_eq!(t.tracked(), 2);
    }

    #[test]
    fn without_qop_a_nonce_is_single_use() {
        let mut t = NonceCounts::new(16, 330);
        assert_eq!(t.record("n1", NOW, None, NOW), Count::Accepted);
        assert_eq!(t.record("n1", NOW, None, NOW), Count::Replayed);
    }

    #[test]
    fn entries_expire_with_their_nonce() {
        let mut t = NonceCounts::new(2, 330);
        t.record("old", NOW, Some("1"), NOW);
        t.record("mid", NOW + 100, Some("1"), NOW + 100);
        // Full: the expired one makes room, nothing is evicted, no floor.
        assert_eq!(
            t.record("new", NOW + 400, Some("1"), NOW + 400),
            Count::Accepted
        );
        assert_eq!(t.tracked(), 2);
        assert_eq!(t.floor_secs, None);
        // The expired nonce would be stale at the digest check anyway; here
        // only the table is checked: forgetting it is what made room.
        assert!(!t.seen.contains_key("old"));
    }

    #[test]
    fn a_full_table_evicts_the_oldest_and_refuses_nonces_up_to_it() {
        let mut t = NonceCounts::new(2, 330);
        t.record("a", NOW, Some("1"), NOW);
        t.record("b", NOW + 10, Some("1"), NOW + 10);
        assert_eq!(
            t.record("c", NOW + 20, Some("1"), NOW + 20),
            Count::Accepted
        );
        assert_eq!(t.tracked(), 2);
        // "a" was forgotten: replaying it must not pass as new.
        assert_eq!(t.record("a", NOW, Some("1"), NOW + 21), Count::Replayed);
        // Nor any nonce issued no later than it.
        assert_eq!(t.record("z", NOW - 5, Some("1"), NOW + 21), Count::Replayed);
        // Younger ones still work.
        assert_eq!(
            t.record("b", NOW + 10, Some("2"), NOW + 22),
            Count::Accepted
        );
        // The table never grows past its bound, whatever arrives.
        for i in 0..1000u64 {
            t.record(&format!("n{i}"), NOW + 30 + i, Some("1"), NOW + 30 + i / 10);
        }
        assert_eq!(t.tracked(), 2);
    }
}
