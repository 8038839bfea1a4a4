//! Reading a Via header field value by RFC 3261's grammar (§20.42, §25.1):
//!
//! ```text
//! Via        = ( "Via" / "v" ) HCOLON via-parm *(COMMA via-parm)
//! via-parm   = sent-protocol LWS sent-by *( SEMI via-params )
//! sent-by    = host [ COLON port ]
//! via-params = via-ttl / via-maddr / via-received / via-branch / via-extension
//! via-extension = generic-param ; gen-value = token / host / quoted-string
//! ```
//!
//! A quoted-string may hold `,` and `;`: splitting the value on commas first
//! (what carecall once did) let `;x="a,b"` cut the top Via in two and an
//! attacker choose the rest. carecall takes a request's source from the socket,
//! never from Via; this parser serves diagnostics (the address a phone *thinks*
//! it has, which differs behind NAT) and must not be fooled either.

use std::net::IpAddr;

use crate::sip::registrar::contact::{split_host_port, split_top_level};

/// One via-parm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `UDP`, `TCP`, `TLS`, `WS`… (upper case).
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    /// Parameters in order; values unquoted.
    pub params: Vec<(String, Option<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViaError {
    #[error("empty Via")]
    Empty,
    #[error("unbalanced quotes in Via")]
    Unbalanced,
    #[error("Via sent-protocol is not SIP/2.0/<transport>")]
    Protocol,
    #[error("Via sent-by is not host[:port]")]
    SentBy,
}

impl Via {
    /// The value of parameter `name` (case-insensitive), if present.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    /// `received` as an address (RFC 3261 §18.2.1), if present and valid.
    pub fn received(&self) -> Option<IpAddr> {
        self.param("received")??.parse().ok()
    }
}

/// Every via-parm of one header field value, in order.
pub fn parse(value: &str) -> Result<Vec<Via>, ViaError> {
    let parts = split_top_level(value, ',').map_err(|_| ViaError::Unbalanced)?;
    let vias: Vec<Via> = parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(parse_one)
        .collect::<Result<_, _>>()?;
    if vias.is_empty() {
        return Err(ViaError::Empty);
    }
    Ok(vias)
}

/// The first (topmost) via-parm.
pub fn top(value: &str) -> Result<Via, ViaError> {
    parse(value)?.into_iter().next().ok_or(ViaError::Empty)
}

fn parse_one(parm: &str) -> Result<Via, ViaError> {
    let mut pieces = split_top_level(parm, ';')
        .map_err(|_| ViaError::Unbalanced)?
        .into_iter();
    let head = pieces.next().ok_or(ViaError::Empty)?.trim();
    let (protocol, sent_by) = head
        .split_once(char::is_whitespace)
        .ok_or(ViaError::Protocol)?;
    let mut proto = protocol.split('/').map(str::trim);
    let (Some(name), Some(version), Some(transport), None) =
        (proto.next(), proto.next(), proto.next(), proto.next())
    else {
        return Err(ViaError::Protocol);
    };
    if !name.eq_ignore_ascii_case("SIP") || version != "2.0" || transport.is_empty() {
        return Err(ViaError::Protocol);
    }
    let (host, port) = sent_by_parts(sent_by.trim())?;
    let mut params = Vec::new();
    for p in pieces.map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = match p.split_once('=') {
            Some((k, v)) => (k.trim(), Some(unquote(v.trim()))),
            None => (p, None),
        };
        params.push((k.to_string(), v));
    }
    Ok(Via {
        transport: transport.to_ascii_uppercase(),
        host,
        port,
        params,
    })
}

/// `host [":" port]`: an IPv6 reference in brackets, an IPv4 address or a name.
fn sent_by_parts(s: &str) -> Result<(String, Option<u16>), ViaError> {
    let (host, port) = split_host_port(s).ok_or(ViaError::SentBy)?;
    let host_ok = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    if !host_ok {
        return Err(ViaError::SentBy);
    }
    Ok((host.to_string(), port))
}

/// A gen-value without its quotes and `\` escapes.
fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return v.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_comma_does_not_split_the_top_via() {
        let v = "SIP/2.0/UDP 10.0.0.5:5086;x=\"a, SIP/2.0/UDP 6.6.6.6:1;received=6.6.6.6\";branch=z9hG4bK1";
        let vias = parse(v).unwrap();
        assert_eq!(vias.len(), 1, "{vias:?}");
        let top = &vias[0];
        assert_eq!((top.host.as_str(), top.port), ("10.0.0.5", Some(5086)));
        assert_eq!(top.received(), None);
        assert_eq!(
            top.param("x"),
            Some(Some("a, SIP/2.0/UDP 6.6.6.6:1;received=6.6.6.6"))
        );
        assert_eq!(top.param("branch"), Some(Some("z9hG4bK1")));
    }

    #[test]
    fn lists_ipv6_received_rport_and_case() {
        let vias = parse(
            "sip/2.0/tcp [2001:db8::1]:5070;rport=40000;received=203.0.113.7 , SIP/2.0/UDP proxy.example;branch=z9hG4bKx",
        )
        .unwrap();
        assert_eq!(vias.len(), 2);
        assert_eq!(vias[0].transport, "TCP");
        assert_eq!(
            (vias[0].host.as_str(), vias[0].port),
            ("2001:db8::1", Some(5070))
        );
        assert_eq!(vias[0].param("rport"), Some(Some("40000")));
        assert_eq!(vias[0].received(), Some("203.0.113.7".parse().unwrap()));
        assert_eq!(
            (vias[1].host.as_str(), vias[1].port),
            ("proxy.example", None)
        );
        assert_eq!(
            top("SIP/2.0/UDP 127.0.0.2;rport;branch=x")
                .unwrap()
                .param("rport"),
            Some(None)
        );
    }

    #[test]
    fn malformed_vias_are_errors() {
        for bad in [
            "",
            "garbage",
            "SIP/2.0/UDP",
            "HTTP/1.1/TCP 10.0.0.1",
            "SIP/3.0/UDP 10.0.0.1",
            "SIP/2.0/UDP 10.0.0.1:notaport",
            "SIP/2.0/UDP 10.0.0.1;x=\"unterminated",
            "SIP/2.0/UDP [::1",
            "SIP/2.0/UDP evil\"host",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            unquote(r#""a\"b""#),
            "a\"b",
            "escapes inside quoted strings"
        );
    }
}
