//! Strict-source symmetric-RTP latching: who may send us media, and where ours goes.
//!
//! Plain "comedia" latching (send to whoever sent the first packet) lets any host that
//! can reach our RTP port win the latch: its RFC 4733 events are taken as the citizen's
//! keys and our prompts, which name the dossier, go to it (the "RTP Bleed" class of
//! attack, CVE-2017-14099 in Asterisk). So, as rtpengine does with its `strict-source`
//! flag and Asterisk with `strictrtp`:
//!
//! * a packet is considered only when its source **IP** is the one in the peer's SDP
//!   (`c=` line, RFC 4566 §5.7) or one of the configured trunk media networks
//!   ([`MediaSources`], `media.trunk_sources`), whatever its port;
//! * the first such packet latches its address and port (symmetric RTP, RFC 4961 §3):
//!   our media goes there from then on, never to an address nobody vouched for;
//! * the latch moves only to another allowed source (a NAT rebinding changes the port,
//!   RFC 4787 §4.3), and only after [`PROBATION`] packets in sequence from it with no
//!   packet from the latched address in between, the way Asterisk's strict-RTP
//!   learning waits for `learning_min_sequential` packets. A spoofed packet or two
//!   from the right IP cannot steal a live stream.
//!
//! Sans-IO and allocation-free per packet: the driver asks [`Latch::accept`] about each
//! parsed packet and [`Latch::send_to`] where to send.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use ipnet::IpNet;
use thiserror::Error;

/// Packets in sequence a new source must send, with the latched one silent, before the
/// latch moves to it (Asterisk's `learning_min_sequential` default is 4; 3 × 20 ms is
/// short enough that a rebinding loses no key press, RFC 4733 §2.5.1.4 repeats the end).
pub const PROBATION: u8 = 3;

/// A `media.trunk_sources` entry that is neither an IP address nor a network.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("media source {0:?} is not an IP address or network (write 203.0.113.7 or 203.0.113.0/24)")]
pub struct SourceError(pub String);

/// Networks besides the SDP address that may send media: the carrier's media gateways,
/// which often answer from an address other than the one in their SDP. Cheap to clone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MediaSources(Arc<[IpNet]>);

impl MediaSources {
    /// No extra sources: only the SDP address may send.
    pub fn none() -> MediaSources {
        MediaSources::default()
    }

    /// Parses addresses (`198.51.100.7`, `2001:db8::1`) and networks (`203.0.113.0/24`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<MediaSources, SourceError> {
        entries
            .iter()
            .map(|e| {
                let s = e.as_ref().trim();
                IpNet::from_str(s)
                    .or_else(|_| IpAddr::from_str(s).map(IpNet::from))
                    .map_err(|_| SourceError(s.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| MediaSources(v.into()))
    }

    /// Single addresses (an operator phone's registered source, say).
    pub fn from_ips(ips: impl IntoIterator<Item = IpAddr>) -> MediaSources {
        MediaSources(
            ips.into_iter()
                .map(|ip| IpNet::from(ip.to_canonical()))
                .collect(),
        )
    }

    /// Whether `ip` is in one of the networks (IPv4-mapped IPv6 compared as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// What the [`Latch`] decided about a received packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LatchVerdict {
    /// First packet from an allowed source: we now send to this address (it may differ
    /// from SDP behind NAT, but only in its port unless a trunk network allows more).
    Latched(SocketAddr),
    /// From the latched address: media to use.
    Accepted,
    /// An allowed source passed probation and replaced the latched one (NAT rebinding).
    Moved(SocketAddr),
    /// From an allowed source still on probation: not used yet.
    Probation,
    /// From an address nobody vouched for: dropped (stray or injected media).
    Rejected,
}

impl LatchVerdict {
    /// Whether the packet's media is to be used.
    pub fn is_media(self) -> bool {
        matches!(
            self,
            LatchVerdict::Latched(_) | LatchVerdict::Accepted | LatchVerdict::Moved(_)
        )
    }
}

/// A source on probation: where it sends from, the sequence number it must send
/// next, and how many in-sequence packets it has sent.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    from: SocketAddr,
    next_seq: u16,
    count: u8,
}

/// Strict-source symmetric RTP for one stream (see the module doc).
#[derive(Clone, Debug)]
pub struct Latch {
    expected: Option<SocketAddr>,
    sources: MediaSources,
    latched: Option<(SocketAddr, u32)>,
    candidate: Option<Candidate>,
}

impl Latch {
    /// Start unlatched with the address from the SDP, if any, and the extra sources.
    pub fn new(expected: Option<SocketAddr>, sources: MediaSources) -> Self {
        Latch {
            expected,
            sources,
            latched: None,
            candidate: None,
        }
    }

    /// Whether `from` may send media at all: the SDP's IP or a trunk network. An
    /// unspecified SDP address (`c=0.0.0.0`, RFC 3264 §8.4 hold) vouches for nobody.
    pub fn allowed(&self, from: SocketAddr) -> bool {
        let ip = from.ip().to_canonical();
        let sdp = self
            .expected
            .map(|e| e.ip().to_canonical())
            .filter(|e| !e.is_unspecified());
        sdp == Some(ip) || self.sources.contains(ip)
    }

    /// Judge a packet from `from` carrying `ssrc` and `sequence`. The SSRC is kept for
    /// diagnostics only: a peer may legitimately change SSRC (RFC 3550 §8.2).
    pub fn accept(&mut self, from: SocketAddr, ssrc: u32, sequence: u16) -> LatchVerdict {
        if !self.allowed(from) {
            return LatchVerdict::Rejected;
        }
        match self.latched {
            None => {
                self.latched = Some((from, ssrc));
                self.candidate = None;
                LatchVerdict::Latched(from)
            }
            Some((addr, _)) if addr == from => {
                self.latched = Some((addr, ssrc));
                // The latched source is alive: whoever else sends is not a rebinding.
                self.candidate = None;
                LatchVerdict::Accepted
            }
            Some(_) => self.probation(from, ssrc, sequence),
        }
    }

    /// RFC 3550 §A.1's idea of a valid new source: consecutive sequence numbers.
    fn probation(&mut self, from: SocketAddr, ssrc: u32, sequence: u16) -> LatchVerdict {
        let count = match self.candidate {
            Some(c) if c.from == from && c.next_seq == sequence => c.count + 1,
            _ => 1,
        };
        if count >= PROBATION {
            self.latched = Some((from, ssrc));
            self.candidate = None;
            return LatchVerdict::Moved(from);
        }
        self.candidate = Some(Candidate {
            from,
            next_seq: sequence.wrapping_add(1),
            count,
        });
        LatchVerdict::Probation
    }

    /// Where to send our media: the latched address, else the SDP one.
    pub fn send_to(&self) -> Option<SocketAddr> {
        self.latched.map(|(a, _)| a).or(self.expected)
    }

    /// The latched address and the last SSRC seen from it.
    pub fn latched(&self) -> Option<(SocketAddr, u32)> {
        self.latched
    }

    /// Forget the latch after a re-INVITE changed the peer's SDP: the next packet from
    /// the new address (or a trunk network) latches.
    pub fn reset(&mut self, expected: Option<SocketAddr>) {
        self.expected = expected;
        self.latched = None;
        self.candidate = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Feeds `n` in-sequence packets from `from` starting at `seq`, returning the verdicts.
    fn feed(l: &mut Latch, from: SocketAddr, seq: u16, n: u16) -> Vec<LatchVerdict> {
        (0..n)
            .map(|i| l.accept(from, 7, seq.wrapping_add(i)))
            .collect()
    }

    #[test]
    fn off_path_sender_never_latches_nor_receives() {
        let sdp = addr("127.0.0.1:4000");
        let attacker = addr("127.0.0.2:4000");
        let mut l = Latch::new(Some(sdp), MediaSources::none());
        // The attacker talks first, and a lot, in perfect sequence.
        for v in feed(&mut l, attacker, 100, 500) {
            assert_eq!(v, LatchVerdict::Rejected);
        }
        assert_eq!(l.latched(), None);
        assert_eq!(
            l.send_to(),
            Some(sdp),
            "our media still goes to the SDP address"
        );
        assert_eq!(l.accept(sdp, 1, 1), LatchVerdict::Latched(sdp));
        for v in feed(&mut l, attacker, 600, 50) {
            assert_eq!(v, LatchVerdict::Rejected);
        }
        assert_eq!(l.send_to(), Some(sdp));
    }

    #[test]
    fn nat_rebinding_from_the_sdp_ip_moves_after_probation() {
        let sdp = addr("198.51.100.1:4000");
        let rebound = addr("198.51.100.1:61000");
        let mut l = Latch::new(Some(sdp), MediaSources::none());
        // Behind NAT the first packet already comes from another port of the same IP.
        assert_eq!(l.accept(rebound, 1, 10), LatchVerdict::Latched(rebound));
        // The binding changes again: the old port falls silent, the new one sends.
        let moved = addr("198.51.100.1:62000");
        assert_eq!(
            feed(&mut l, moved, 11, 3),
            [
                LatchVerdict::Probation,
                LatchVerdict::Probation,
                LatchVerdict::Moved(moved)
            ]
        );
        assert_eq!(l.send_to(), Some(moved));
        assert_eq!(l.accept(moved, 1, 14), LatchVerdict::Accepted);
        assert_eq!(l.accept(rebound, 1, 15), LatchVerdict::Probation);
    }

    #[test]
    fn spoofed_packets_from_the_right_ip_cannot_steal_a_live_stream() {
        let sdp = addr("198.51.100.1:4000");
        let spoof = addr("198.51.100.1:5000");
        let mut l = Latch::new(Some(sdp), MediaSources::none());
        assert_eq!(l.accept(sdp, 1, 0), LatchVerdict::Latched(sdp));
        // Interleaved with the real stream, the spoofer never completes probation.
        for i in 0..100u16 {
            assert_eq!(l.accept(spoof, 9, 1000 + i * 2), LatchVerdict::Probation);
            assert_eq!(l.accept(spoof, 9, 1001 + i * 2), LatchVerdict::Probation);
            assert_eq!(l.accept(sdp, 1, 1 + i), LatchVerdict::Accepted);
        }
        // Out-of-sequence bursts restart probation too.
        l.accept(sdp, 1, 200);
        for seq in [5u16, 900, 5, 900, 5, 900] {
            assert_eq!(l.accept(spoof, 9, seq), LatchVerdict::Probation);
        }
        assert_eq!(l.send_to(), Some(sdp));
    }

    #[test]
    fn trunk_networks_are_allowed_and_everything_else_is_not() {
        let sources = MediaSources::parse(&["203.0.113.0/24", "192.0.2.9", "2001:db8::/32"])
            .expect("valid sources");
        assert!(sources.contains("203.0.113.77".parse().unwrap()));
        assert!(sources.contains("::ffff:192.0.2.9".parse().unwrap()));
        assert!(sources.contains("2001:db8::5".parse().unwrap()));
        assert!(!sources.contains("192.0.2.10".parse().unwrap()));
        // The SDP names a private pre-NAT address; the gateway answers from its network.
        let sdp = addr("10.0.0.5:4000");
        let gw = addr("203.0.113.77:31000");
        let mut l = Latch::new(Some(sdp), sources);
        assert_eq!(
            l.accept(addr("192.0.2.10:31000"), 1, 1),
            LatchVerdict::Rejected
        );
        assert_eq!(l.accept(gw, 1, 1), LatchVerdict::Latched(gw));
        assert_eq!(l.send_to(), Some(gw));
        assert_eq!(
            MediaSources::parse(&["203.0.113.0/33"]),
            Err(SourceError("203.0.113.0/33".into()))
        );
        assert_eq!(
            MediaSources::parse(&["trunk.example"]),
            Err(SourceError("trunk.example".into()))
        );
    }

    #[test]
    fn reset_retargets_and_hold_address_vouches_for_nobody() {
        let first = addr("127.0.0.1:4000");
        let mut l = Latch::new(Some(first), MediaSources::none());
        assert_eq!(l.accept(first, 1, 1), LatchVerdict::Latched(first));
        let moved = addr("198.51.100.1:5000");
        l.reset(Some(moved));
        assert_eq!(l.send_to(), Some(moved));
        assert_eq!(
            l.accept(first, 1, 2),
            LatchVerdict::Rejected,
            "old IP is out"
        );
        assert_eq!(l.accept(moved, 3, 1), LatchVerdict::Latched(moved));
        l.reset(Some(addr("0.0.0.0:5000")));
        assert_eq!(l.accept(addr("0.0.0.0:5000"), 1, 1), LatchVerdict::Rejected);
        assert_eq!(l.accept(moved, 1, 2), LatchVerdict::Rejected);
        assert_eq!(Latch::new(None, MediaSources::none()).send_to(), None);
    }
}
