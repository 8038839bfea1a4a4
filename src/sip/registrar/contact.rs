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
        for item in split_top_level(value.as_ref())? {
            let item = item.trim();
            if item == "*" {
                star = true;
                continue;
            }
            let (uri, params) = name_addr(item)?;
            let mut expires = None;
            for p in params.split(';').map(str::trim).filter(|p| !p.is_empty()) {
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

/// Splits an address list at commas outside quotes and angle brackets.
fn split_top_level(s: &str) -> Result<Vec<&str>, AddressError> {
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
            ',' if !quoted && !angle => {
                out.push(&s[start..i]);
                start = i + 1;
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
    fn aor_user_of_to() {
        assert_eq!(aor_user("\"Lan\" <sip:lan@carecall>;tag=9").unwrap(), "lan");
        assert_eq!(aor_user("sip:op%2D7@10.0.0.1;tag=x").unwrap(), "op-7");
        assert_eq!(aor_user("<sip:carecall>"), Err(AddressError::NoUser));
        assert!(aor_user("nonsense").is_err());
    }
}
