//! RTP port allocation within the configured range.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU16, Ordering};

use tokio::net::UdpSocket;

#[derive(Debug, thiserror::Error)]
#[error("no free even RTP port in {lo}-{hi} on {ip}: all in use or not bindable ({last})")]
pub struct PortsExhausted {
    pub ip: IpAddr,
    pub lo: u16,
    pub hi: u16,
    pub last: String,
}

/// Hands out even ports round-robin (RFC 3550 §11: RTP on even ports, RTCP on
/// the next odd one), skipping ports another process holds.
pub struct RtpPorts {
    range: RangeInclusive<u16>,
    next: AtomicU16,
}

impl RtpPorts {
    pub fn new(range: RangeInclusive<u16>) -> RtpPorts {
        let start = *range.start() + (rand::random::<u16>() % 64) * 2;
        RtpPorts {
            next: AtomicU16::new(start.min(*range.end())),
            range,
        }
    }

    fn candidate(&self) -> u16 {
        let (lo, hi) = (*self.range.start(), *self.range.end());
        let span = (hi - lo) / 2 + 1;
        let raw = self.next.fetch_add(2, Ordering::Relaxed);
        let offset = (raw.wrapping_sub(lo) / 2) % span;
        (lo + lo % 2) + offset * 2
    }

    pub async fn bind(&self, ip: IpAddr) -> Result<UdpSocket, PortsExhausted> {
        let (lo, hi) = (*self.range.start(), *self.range.end());
        let tries = ((hi - lo) / 2 + 1).min(512);
        let mut last = String::from("no attempt");
        for _ in 0..tries {
            let port = self.candidate();
            if port > hi {
                continue;
            }
            match UdpSocket::bind(SocketAddr::new(ip, port)).await {
                Ok(sock) => return Ok(sock),
                Err(e) => last = e.to_string(),
            }
        }
        Err(PortsExhausted { ip, lo, hi, last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_even_ports_in_range_and_skips_taken_ones() {
        let ports = RtpPorts::new(40000..=40010);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let mut held = Vec::new();
        for _ in 0..6 {
            let s = ports.bind(ip).await.unwrap();
            let p = s.local_addr().unwrap().port();
            assert!((40000..=40010).contains(&p) && p % 2 == 0, "{p}");
            held.push(s);
        }
        let err = ports.bind(ip).await.unwrap_err();
        assert!(err.to_string().contains("40000-40010"));
    }
}
