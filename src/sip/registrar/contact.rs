//! Reading the address headers of a REGISTER: Contact (RFC 3261 §20.10, with
//! `*` and the `expires` parameter) and the address-of-record in To (§10.2).
//!
//! The registrar works on header *values* (what any SIP stack hands over), so
//! this parser is independent of the transport library and easy to feed garbage.

/// The Contact header fields of one REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacts {
    /// `Contact: *`: remove every binding (RFC 3261 §10.2.2).
    Star,
    /// Zero or more contacts; none means a query (§10.2.3).
    List(Vec<ContactEntry>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactEntry {
    /// The URI without angle brackets or header parameters.
    pub uri: String,
    /// The `expires` header parameter, if given (clamped to u32).
    pub expires: Option<u32>,
}

/// Why an address header could not be read (answered with 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("empty address")]
    Empty,
    #[error("unbalanced quotes or angle brackets")]
    Unbalanced,
    #[error("not a SIP URI: {0:?}")]
    NotSip(String),
    #[error("'*' must be the only Contact")]
    StarNotAlone,
    #[error("expires parameter {0:?} is not a number of seconds")]
    BadExpires(String),
    #[error("the address-of-record has no user part")]
    NoUser,
}

/// Parses every Contact header value of a request (each may list several).
pub fn parse_contacts<S: AsRef<str>>(values: &[S]) -> Result<Contacts, AddressError> {
    let mut entries = Vec::new();
    let mut star = false;
    for value in values {
        for item in split_top_level(value.as_ref(), ',')? {
            let item = item.trim();
            if item == "*" {
                star = true;
                continue;
            }
            let (uri, params) = name_addr(item)?;
            let mut expires = None;
            for p in split_top_level(params, ';')?
                .into_iter()
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                if k.trim().eq_ignore_ascii_case("expires") {
                    expires = Some(parse_delta_seconds(v.trim())?);
                }
            }
            entries.push(ContactEntry {
                uri: uri.to_string(),
                expires,
            });
        }
    }
    match (star, entries.is_empty()) {
        (true, true) => Ok(Contacts::Star),
        (true, false) => Err(AddressError::StarNotAlone),
        (false, _) => Ok(Contacts::List(entries)),
    }
}

/// RFC 3261 §20.19 / §25.1 delta-seconds; larger than 2^32-1 counts as 2^32-1.
pub fn parse_delta_seconds(s: &str) -> Result<u32, AddressError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddressError::BadExpires(s.to_string()));
    }
    Ok(s.parse::<u64>()
        .map_or(u32::MAX, |v| u32::try_from(v).unwrap_or(u32::MAX)))
}

/// The user part of the address-of-record in a To value (`"Lan" <sip:lan@x>;tag=1`).
pub fn aor_user(to: &str) -> Result<String, AddressError> {
    let (uri, _) = name_addr(to.trim())?;
    let rest = uri.split_once(':').map(|(_, r)| r).unwrap_or("");
    let (userinfo, _) = rest.split_once('@').ok_or(AddressError::NoUser)?;
    // user[:password] (RFC 3261 §19.1.1); the password form is deprecated.
    let user = userinfo.split(':').next().unwrap_or("");
    if user.is_empty() {
        return Err(AddressError::NoUser);
    }
    Ok(unescape(user))
}

/// Where a contact would send requests: the host and port of a SIP URI
/// (`sip:user@host:port;params`), port defaulted by scheme (RFC 3263 §4.2:
/// 5060, 5061 for sips). None if the URI has no host.
pub fn uri_host_port(uri: &str) -> Option<(String, u16)> {
    let (scheme, rest) = uri.split_once(':')?;
    let default = if scheme.eq_ignore_ascii_case("sips") {
        5061
    } else {
        5060
    };
    let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hostport = hostport.split([';', '?']).next().unwrap_or("");
    let (host, port) = split_host_port(hostport)?;
    Some((host.to_ascii_lowercase(), port.unwrap_or(default)))
}

/// `host [":" port]` with an IPv6 reference in brackets (RFC 3261 §25.1
/// hostport); the host without brackets. None if empty or the port is bad.
pub(crate) fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        match after {
            "" => (h, None),
            _ => (h, Some(after.strip_prefix(':')?)),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.trim().parse::<u16>().ok()?),
        None => None,
    };
    Some((host, port))
}

/// The carrier trunk's addresses, resolved once at start: a binding pointing
/// there would let an operator's account dial out through our trunk (toll
/// fraud), so the registrar refuses it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrunkAddrs {
    /// Resolved socket addresses of the trunk.
    pub addrs: Vec<std::net::SocketAddr>,
    /// The host name and port of `trunk.uri`, lower case, when it is a name.
    pub name: Option<(String, u16)>,
}

impl TrunkAddrs {
    /// Whether `uri` (a contact) points at the trunk: same address and port,
    /// or the trunk's own host name and port. Other names are resolved only
    /// when dialled (the operator leg checks there).
    pub fn contains(&self, uri: &str) -> bool {
        let Some((host, port)) = uri_host_port(uri) else {
            return false;
        };
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            let ip = ip.to_canonical();
            return self
                .addrs
                .iter()
                .any(|a| a.ip().to_canonical() == ip && a.port() == port);
        }
        self.name
            .as_ref()
            .is_some_and(|(n, p)| *n == host.trim_end_matches('.') && *p == port)
    }
}

/// `%HH` escapes of a user part, decoded (RFC 3261 §19.1.2).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(hi), Some(lo)) = (hex_val(b[i + 1]), hex_val(b[i + 2]))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Splits at `sep` outside quoted strings (with `\\` escapes) and angle
/// brackets (RFC 3261 §25.1: a quoted-string may hold `,` and `;`).
pub(crate) fn split_top_level(s: &str, sep: char) -> Result<Vec<&str>, AddressError> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' if !angle => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            c if c == sep && !quoted && !angle => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if quoted || angle {
        return Err(AddressError::Unbalanced);
    }
    out.push(&s[start..]);
    Ok(out)
}

/// Splits `[display] <uri> params` or `uri params` into the URI and its header
/// parameters (§20.10: without brackets, every `;param` is a header parameter).
fn name_addr(item: &str) -> Result<(&str, &str), AddressError> {
    if item.is_empty() {
        return Err(AddressError::Empty);
    }
    let (uri, params) = if let Some(open) = find_unquoted(item, '<') {
        let close = item[open..].find('>').ok_or(AddressError::Unbalanced)? + open;
        (&item[open + 1..close], &item[close + 1..])
    } else {
        if item.contains('"') || item.contains('>') {
            return Err(AddressError::Unbalanced);
        }
        item.split_once(';').unwrap_or((item, ""))
    };
    let uri = uri.trim();
    let (scheme, rest) = uri.split_once(':').unwrap_or(("", ""));
    let sip = scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips");
    let host = rest.rsplit('@').next().unwrap_or("");
    if !sip || host.is_empty() || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AddressError::NotSip(uri.to_string()));
    }
    Ok((uri, params))
}

fn find_unquoted(s: &str, needle: char) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == needle && !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(uri: &str, expires: Option<u32>) -> ContactEntry {
        ContactEntry {
            uri: uri.into(),
            expires,
        }
    }

    #[test]
    fn contacts_in_every_form() {
        let got = parse_contacts(&[
            "\"Lan, ca 1\" <sip:lan@10.0.0.5:5086;transport=udp>;expires=60;q=0.5",
            "sip:lan@10.0.0.6;expires=0, <sips:lan@h.example>",
        ])
        .unwrap();
        assert_eq!(
            got,
            Contacts::List(vec![
                entry("sip:lan@10.0.0.5:5086;transport=udp", Some(60)),
                entry("sip:lan@10.0.0.6", Some(0)),
                entry("sips:lan@h.example", None),
            ])
        );
        assert_eq!(parse_contacts::<&str>(&[]).unwrap(), Contacts::List(vec![]));
        assert_eq!(parse_contacts(&[" * "]).unwrap(), Contacts::Star);
    }

    #[test]
    fn garbage_contacts_are_errors() {
        for bad in [
            "garbage",
            "<sip:lan@x",
            "\"unterminated <sip:a@b>",
            "<http://x/>",
            "<sip:>",
            "sip:a@b;expires=soon",
            "sip:a@b;expires=-1",
            "",
            "<sip:a b@c>",
        ] {
            assert!(parse_contacts(&[bad]).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_contacts(&["*, <sip:a@b>"]),
            Err(AddressError::StarNotAlone)
        );
    }

    #[test]
    fn huge_expires_saturates() {
        assert_eq!(parse_delta_seconds("99999999999999"), Ok(u32::MAX));
        assert_eq!(parse_delta_seconds("3600"), Ok(3600));
        assert!(parse_delta_seconds("1e3").is_err());
    }

    #[test]
    fn contact_host_and_port() {
        assert_eq!(
            uri_host_port("sip:lan@10.0.0.5:5086;transport=udp"),
            Some(("10.0.0.5".into(), 5086))
        );
        assert_eq!(
            uri_host_port("sips:lan@H.Example"),
            Some(("h.example".into(), 5061))
        );
        assert_eq!(
            uri_host_port("sip:[2001:db8::1]:5070"),
            Some(("2001:db8::1".into(), 5070))
        );
        assert_eq!(uri_host_port("sip:a@b:x"), None);
        assert_eq!(uri_host_port("nonsense"), None);
    }

    #[test]
    fn trunk_addresses_match_by_address_and_port_or_by_name() {
        let trunk = TrunkAddrs {
            addrs: vec!["203.0.113.5:5060".parse().unwrap()],
            name: Some(("trunk.vnpt.example".into(), 5060)),
        };
        assert!(trunk.contains("sip:0912345678@203.0.113.5"));
        assert!(trunk.contains("sip:x@203.0.113.5:5060;transport=udp"));
        assert!(trunk.contains("sip:x@[::ffff:203.0.113.5]:5060"));
        assert!(trunk.contains("sip:x@TRUNK.vnpt.example"));
        assert!(!trunk.contains("sip:x@203.0.113.5:5070"));
        assert!(!trunk.contains("sip:lan@10.0.0.5:5060"));
        assert!(!trunk.contains("sip:lan@phone.example"));
    }

    #[test]
    fn aor_user_of_to() {
        assert_eq!(aor_user("\"Lan\" <sip:lan@carecall>;tag=9").unwrap(), "lan");
        assert_eq!(aor_user("sip:op%2D7@10.0.0.1;tag=x").unwrap(), "op-7");
        assert_eq!(aor_user("<sip:carecall>"), Err(AddressError::NoUser));
        assert!(aor_user("nonsense").is_err());
    }
}
