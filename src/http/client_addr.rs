//! Whose request is this: the client address for the login limiter, the
//! audit log and the connection caps.
//!
//! The socket's peer address is the truth. `X-Forwarded-For` is written by
//! whoever sends the request, so it is believed only when the peer is one of
//! `http.trusted_proxies`; then the header is read from the right (the hop
//! nearest to us) and the first address that is not itself a trusted proxy is
//! the client (MDN X-Forwarded-For, "Selecting an IP address": the leftmost
//! entries are the client's to invent).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use super::AppState;

/// The client address of a request: the peer, or what a trusted proxy says.
/// `None` only when the request did not come through a socket (tests that
/// call the router directly).
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?;
    if !is_trusted(peer, trusted) {
        return Some(peer);
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return Some(peer);
        };
        for hop in text.split(',') {
            match parse_hop(hop) {
                Some(ip) => hops.push(ip),
                // A malformed list proves nothing: fall back on the proxy.
                None => return Some(peer),
            }
        }
    }
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        client = hop;
        if !is_trusted(hop, trusted) {
            break;
        }
    }
    Some(client)
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|n| n.contains(&ip))
}

/// One entry of the list: an address, optionally `[v6]:port` or `v4:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The request's peer, as the server put it in the extensions.
pub fn peer(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())
}

/// Extractor: the client address of the request (see [`client_ip`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_ip(
            peer(parts),
            &parts.headers,
            &s.auth.trusted_proxies,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_cannot_choose_their_address() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let h = headers(&["203.0.113.9"]);
        assert_eq!(
            client_ip(Some(ip("127.0.0.2")), &h, &trusted),
            Some(ip("127.0.0.2"))
        );
        assert_eq!(
            client_ip(Some(ip("127.0.0.2")), &h, &[]),
            Some(ip("127.0.0.2"))
        );
        assert_eq!(client_ip(None, &h, &trusted), None);
    }

    #[test]
    fn a_trusted_proxy_is_read_from_the_right() {
        let trusted: Vec<IpNet> = vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        let proxy = Some(ip("127.0.0.1"));
        // The client prepended a lie; the proxy appended the real address.
        let h = headers(&["1.2.3.4, 203.0.113.9"]);
        assert_eq!(client_ip(proxy, &h, &trusted), Some(ip("203.0.113.9")));
        // Two proxies in a row, across two header lines.
        let h = headers(&["1.2.3.4, 203.0.113.9", "10.1.2.3"]);
        assert_eq!(client_ip(proxy, &h, &trusted), Some(ip("203.0.113.9")));
        assert_eq!(
            client_ip(proxy, &headers(&["[2001:db8::1]:4711"]), &trusted),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(client_ip(proxy, &headers(&[]), &trusted), proxy);
        assert_eq!(
            client_ip(proxy, &headers(&["1.2.3.4, nonsense"]), &trusted),
            proxy,
            "a malformed list falls back on the proxy"
        );
        assert_eq!(
            client_ip(
                Some(ip("::ffff:127.0.0.1")),
                &headers(&["203.0.113.9"]),
                &trusted
            ),
            Some(ip("203.0.113.9")),
            "IPv4-mapped peers match IPv4 networks"
        );
    }
}
