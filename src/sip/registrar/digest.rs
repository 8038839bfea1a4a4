//! HTTP Digest authentication, server side (RFC 7616, RFC 2617; RFC 3261 §22.4).
//!
//! Nonces are stateless: `hex(seconds) "." hex(salt) "." hex(HMAC-SHA256(secret,
//! hex(seconds) "." hex(salt) ":" realm ":" client-ip))`, the salt 8 random bytes so
//! that two challenges in one second (two phones behind one NAT) differ. Any node holding the same secret can check a nonce
//! another node issued, and a nonce older than its lifetime is answered with
//! `stale=true` (RFC 7616 §3.3), so the phone retries with a fresh one without
//! asking its user for a password.
//!
//! The nonce names the address it was issued to (RFC 7616 §5.5 suggests the
//! client IP in the nonce): the digest does not cover Contact, so a captured
//! Authorization header replayed *from another address* would otherwise bind
//! the attacker's Contact. Replays from the same address inside the lifetime are
//! caught by the nonce-count table (`replay.rs`, RFC 7616 §3.4.5).

use std::fmt::Write as _;
use std::net::IpAddr;

use hmac::{KeyInit, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

/// The hash of a digest exchange (RFC 7616 §3.2; `-sess` variants of §3.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    /// RFC 7616 §3.3: a missing `algorithm` means MD5.
    pub fn parse(s: Option<&str>) -> Option<Algorithm> {
        let s = s.unwrap_or("MD5");
        [
            ("MD5", Algorithm::Md5),
            ("MD5-sess", Algorithm::Md5Sess),
            ("SHA-256", Algorithm::Sha256),
            ("SHA-256-sess", Algorithm::Sha256Sess),
        ]
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
        .map(|(_, a)| a)
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    fn sha256(self) -> bool {
        matches!(self, Algorithm::Sha256 | Algorithm::Sha256Sess)
    }

    fn sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// Lower-case hex of the hash of `parts` joined by ':'.
    fn hash(self, parts: &[&str]) -> String {
        fn run<D: Digest>(parts: &[&str]) -> String {
            let mut d = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p.as_bytes());
            }
            hex::encode(d.finalize())
        }
        if self.sha256() {
            run::<Sha256>(parts)
        } else {
            run::<Md5>(parts)
        }
    }
}

/// HA1 = H(user ":" realm ":" password) (RFC 7616 §3.4.2): what an operator
/// account stores instead of the password.
pub fn ha1(algorithm: Algorithm, user: &str, realm: &str, password: &str) -> String {
    algorithm.hash(&[user, realm, password])
}

/// The parameters of an `Authorization: Digest ...` header (RFC 7616 §3.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
}

/// Why an Authorization header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("authorization scheme is not Digest")]
    NotDigest,
    #[error("digest credentials lack {0}")]
    Missing(&'static str),
    #[error("digest credentials are malformed")]
    Malformed,
}

impl Credentials {
    /// Parses `Digest k=v, k="v", ...` (quoted strings may hold commas and `\"`).
    pub fn parse(header: &str) -> Result<Credentials, CredentialsError> {
        let header = header.trim();
        let (scheme, rest) = header
            .split_once(char::is_whitespace)
            .unwrap_or((header, ""));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(CredentialsError::NotDigest);
        }
        let mut c = Credentials::default();
        let (mut username, mut realm, mut nonce, mut uri, mut response) =
            (None, None, None, None, None);
        for (key, value) in params(rest)? {
            let slot = match key.to_ascii_lowercase().as_str() {
                "username" => &mut username,
                "realm" => &mut realm,
                "nonce" => &mut nonce,
                "uri" => &mut uri,
                "response" => &mut response,
                "algorithm" => &mut c.algorithm,
                "qop" => &mut c.qop,
                "nc" => &mut c.nc,
                "cnonce" => &mut c.cnonce,
                _ => continue,
            };
            *slot = Some(value);
        }
        c.username = username.ok_or(CredentialsError::Missing("username"))?;
        c.realm = realm.ok_or(CredentialsError::Missing("realm"))?;
        c.nonce = nonce.ok_or(CredentialsError::Missing("nonce"))?;
        c.uri = uri.ok_or(CredentialsError::Missing("uri"))?;
        c.response = response.ok_or(CredentialsError::Missing("response"))?;
        Ok(c)
    }

    /// Whether `response` matches for this `method` and the account's `ha1`
    /// (hex, of this algorithm). The comparison takes constant time.
    pub fn verify(&self, method: &str, ha1: &str) -> bool {
        let Some(alg) = Algorithm::parse(self.algorithm.as_deref()) else {
            return false;
        };
        let cnonce = self.cnonce.as_deref().unwrap_or("");
        let ha1 = if alg.sess() {
            alg.hash(&[ha1, &self.nonce, cnonce])
        } else {
            ha1.to_ascii_lowercase()
        };
        let ha2 = alg.hash(&[method, &self.uri]);
        let expected = match self.qop.as_deref() {
            // RFC 2617 §3.2.2.1 (RFC 2069 compatibility): no qop, no nc/cnonce.
            None => alg.hash(&[&ha1, &self.nonce, &ha2]),
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let (Some(nc), Some(cnonce)) = (self.nc.as_deref(), self.cnonce.as_deref()) else {
                    return false;
                };
                alg.hash(&[&ha1, &self.nonce, nc, cnonce, "auth", &ha2])
            }
            // auth-int would need the body hash; we never offer it.
            Some(_) => return false,
        };
        constant_time_eq(
            expected.as_bytes(),
            self.response.to_ascii_lowercase().as_bytes(),
        )
    }
}

/// `key=value` pairs separated by commas; values may be quoted.
fn params(mut s: &str) -> Result<Vec<(String, String)>, CredentialsError> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if s.is_empty() {
            return Ok(out);
        }
        let eq = s.find('=').ok_or(CredentialsError::Malformed)?;
        let key = s[..eq].trim().to_string();
        s = s[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = s.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => v.push(chars.next().ok_or(CredentialsError::Malformed)?.1),
                    Some((_, c)) => v.push(c),
                    None => return Err(CredentialsError::Malformed),
                }
            };
            value = v;
            s = &quoted[end + 1..];
        } else {
            let end = s.find(',').unwrap_or(s.len());
            value = s[..end].trim().to_string();
            s = &s[end..];
        }
        if key.is_empty() {
            return Err(CredentialsError::Malformed);
        }
        out.push((key, value));
    }
}

/// Compares without stopping at the first difference (no timing oracle).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a nonce says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Ours, for this client, issued at `issued_secs` (unix seconds).
    Fresh { issued_secs: u64 },
    /// Ours, but older than the lifetime: challenge again with `stale=true`.
    Stale,
    /// Not made with our secret and realm for this client address (forged,
    /// from another deployment, or replayed from elsewhere).
    Invalid,
}

/// Issues and checks stateless nonces for one realm.
#[derive(Clone)]
pub struct Nonces {
    secret: Vec<u8>,
    realm: String,
    lifetime_secs: u64,
}

/// Nonces from a node whose clock runs this far ahead are still accepted.
pub const CLOCK_SKEW_SECS: u64 = 30;

impl Nonces {
    pub fn new(secret: &[u8], realm: &str, lifetime_secs: u64) -> Nonces {
        Nonces {
            secret: secret.to_vec(),
            realm: realm.to_string(),
            lifetime_secs,
        }
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn mac(&self, stamp: &str, client: IpAddr) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(stamp.as_bytes());
        mac.update(b":");
        mac.update(self.realm.as_bytes());
        mac.update(b":");
        // IPv4-mapped IPv6 and IPv4 are one client.
        mac.update(client.to_canonical().to_string().as_bytes());
        mac
    }

    /// A nonce stamped `now_secs` (unix seconds) for `client`.
    pub fn issue(&self, now_secs: u64, client: IpAddr) -> String {
        let salt: [u8; 8] = rand::random();
        let stamp = format!("{now_secs:x}.{}", hex::encode(salt));
        let tag = self.mac(&stamp, client).finalize().into_bytes();
        let mut nonce = stamp;
        nonce.push('.');
        for b in tag.iter() {
            let _ = write!(nonce, "{b:02x}");
        }
        nonce
    }

    pub fn check(&self, nonce: &str, now_secs: u64, client: IpAddr) -> NonceCheck {
        let Some((stamp, tag_hex)) = nonce.rsplit_once('.') else {
            return NonceCheck::Invalid;
        };
        let seconds = stamp.split('.').next().unwrap_or("");
        let (Ok(issued), Ok(tag)) = (u64::from_str_radix(seconds, 16), hex::decode(tag_hex)) else {
            return NonceCheck::Invalid;
        };
        // verify_slice compares in constant time.
        if self.mac(stamp, client).verify_slice(&tag).is_err() {
            return NonceCheck::Invalid;
        }
        if issued > now_secs + CLOCK_SKEW_SECS {
            NonceCheck::Invalid
        } else if now_secs.saturating_sub(issued) > self.lifetime_secs {
            NonceCheck::Stale
        } else {
            NonceCheck::Fresh {
                issued_secs: issued,
            }
        }
    }

    pub fn lifetime_secs(&self) -> u64 {
        self.lifetime_secs
    }

    /// The `WWW-Authenticate` value of a 401 (RFC 7616 §3.3): qop=auth, MD5.
    pub fn challenge(&self, now_secs: u64, client: IpAddr, stale: bool) -> String {
        let mut v = format!(
            "Digest realm=\"{}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"",
            self.realm,
            self.issue(now_secs, client)
        );
        if stale {
            v.push_str(", stale=true");
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_735_000_000;

    fn nonces() -> Nonces {
        Nonces::new(b"shared secret", "carecall", 300)
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn rfc2617_example_with_qop_auth() {
        // RFC 2617 §3.5.
        let c = Credentials::parse(
            "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
             qop=auth, nc=00000001, cnonce=\"0a4f113b\", \
             response=\"6629fae49393a05397450978507c4ef1\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        assert!(c.verify("GET", &ha1));
        assert!(!c.verify("POST", &ha1));
        let wrong = super::ha1(Algorithm::Md5, "Mufasa", "testrealm@host.com", "circle");
        assert!(!c.verify("GET", &wrong));
    }

    #[test]
    fn rfc7616_sha256_example() {
        // RFC 7616 §3.9.1.
        let c = Credentials::parse(
            "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", \
             uri=\"/dir/index.html\", algorithm=SHA-256, \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, \
             cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, \
             response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
        )
        .unwrap();
        let ha1 = ha1(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert!(c.verify("GET", &ha1));
    }

    #[test]
    fn qopless_digest_of_rfc2069() {
        let h1 = ha1(Algorithm::Md5, "lan", "carecall", "pw");
        let ha2 = Algorithm::Md5.hash(&["REGISTER", "sip:carecall"]);
        let response = Algorithm::Md5.hash(&[&h1, "n1", &ha2]);
        let c = Credentials::parse(&format!(
            "Digest username=\"lan\",realm=\"carecall\",nonce=\"n1\",uri=\"sip:carecall\",response=\"{response}\""
        ))
        .unwrap();
        assert!(c.verify("REGISTER", &h1));
        // qop=auth without nc/cnonce is refused, not computed as qop-less.
        let mut with_qop = c.clone();
        with_qop.qop = Some("auth".into());
        assert!(!with_qop.verify("REGISTER", &h1));
    }

    #[test]
    fn md5_sess_uses_the_session_key() {
        let h1 = ha1(Algorithm::Md5, "lan", "carecall", "pw");
        let sess = Algorithm::Md5.hash(&[&h1, "n1", "cn"]);
        let ha2 = Algorithm::Md5.hash(&["REGISTER", "sip:x"]);
        let response = Algorithm::Md5.hash(&[&sess, "n1", "00000001", "cn", "auth", &ha2]);
        let c = Credentials {
            username: "lan".into(),
            realm: "carecall".into(),
            nonce: "n1".into(),
            uri: "sip:x".into(),
            response,
            algorithm: Some("MD5-sess".into()),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("cn".into()),
        };
        assert!(c.verify("REGISTER", &h1));
    }

    #[test]
    fn credentials_parse_errors() {
        assert_eq!(
            Credentials::parse("Basic dXNlcjpwdw=="),
            Err(CredentialsError::NotDigest)
        );
        assert_eq!(
            Credentials::parse("Digest username=\"a\", realm=\"r\""),
            Err(CredentialsError::Missing("nonce"))
        );
        assert_eq!(
            Credentials::parse("Digest username=\"a"),
            Err(CredentialsError::Malformed)
        );
        let c = Credentials::parse(
            "digest username=\"a\\\"b,c\", realm=r, nonce=n, uri=\"sip:x\", response=00",
        )
        .unwrap();
        assert_eq!((c.username.as_str(), c.realm.as_str()), ("a\"b,c", "r"));
    }

    #[test]
    fn nonces_are_fresh_then_stale_and_forgeries_are_invalid() {
        let n = nonces();
        let ip = ip(1);
        let nonce = n.issue(NOW, ip);
        let fresh = NonceCheck::Fresh { issued_secs: NOW };
        assert_eq!(n.check(&nonce, NOW, ip), fresh);
        assert_eq!(n.check(&nonce, NOW + 300, ip), fresh);
        assert_eq!(n.check(&nonce, NOW + 301, ip), NonceCheck::Stale);
        // Another node with the same secret accepts it; another secret or realm does not.
        assert_eq!(
            Nonces::new(b"shared secret", "carecall", 300).check(&nonce, NOW, ip),
            fresh
        );
        assert_eq!(
            Nonces::new(b"other", "carecall", 300).check(&nonce, NOW, ip),
            NonceCheck::Invalid
        );
        assert_eq!(
            Nonces::new(b"shared secret", "other", 300).check(&nonce, NOW, ip),
            NonceCheck::Invalid
        );
        // A re-stamped nonce (to extend its life) fails the HMAC.
        let (_, salt_tag) = nonce.split_once('.').unwrap();
        let forged = format!("{:x}.{salt_tag}", NOW + 1000);
        assert_eq!(n.check(&forged, NOW + 1000, ip), NonceCheck::Invalid);
        assert_eq!(n.check("garbage", NOW, ip), NonceCheck::Invalid);
        assert_eq!(n.check("zz.zz", NOW, ip), NonceCheck::Invalid);
        // Too far in the future: not ours to trust.
        assert_eq!(
            n.check(&n.issue(NOW + 31, ip), NOW, ip),
            NonceCheck::Invalid
        );
    }

    #[test]
    fn two_nonces_in_one_second_differ() {
        let n = nonces();
        assert_ne!(n.issue(NOW, ip(1)), n.issue(NOW, ip(1)));
    }

    #[test]
    fn a_nonce_is_only_good_from_the_address_it_was_issued_to() {
        let n = nonces();
        let nonce = n.issue(NOW, ip(1));
        assert_eq!(n.check(&nonce, NOW, ip(2)), NonceCheck::Invalid);
        // The same client over IPv4-mapped IPv6 (a dual-stack socket) is one client.
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(
            n.check(&nonce, NOW, mapped),
            NonceCheck::Fresh { issued_secs: NOW }
        );
    }

    #[test]
    fn challenge_offers_qop_auth_and_stale() {
        let n = nonces();
        let c = n.challenge(NOW, ip(1), false);
        assert!(c.starts_with("Digest realm=\"carecall\", nonce=\""), "{c}");
        assert!(c.contains("qop=\"auth\"") && !c.contains("stale"), "{c}");
        assert!(n.challenge(NOW, ip(1), true).ends_with(", stale=true"));
    }
}
