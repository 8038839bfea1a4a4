//! Random secrets for session cookies, CSRF and API tokens. Only their SHA-256
//! is stored: a leaked database copy holds no usable credential.

use sha2::{Digest, Sha256};

/// A fresh random secret (256 bits) with a readable prefix naming its use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// `prefix` tells a token from a cookie in logs and leaks (`cc_tok`, `cc_ses`).
    pub fn new(prefix: &str) -> Secret {
        Secret(format!(
            "{prefix}_{}",
            hex::encode(rand::random::<[u8; 32]>())
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form stored in the database.
    pub fn hash(&self) -> String {
        hash_secret(&self.0)
    }
}

/// SHA-256 hex of a presented secret, to look it up.
pub fn hash_secret(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_and_hash_stably() {
        let a = Secret::new("cc_tok");
        let b = Secret::new("cc_tok");
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("cc_tok_") && a.as_str().len() == 7 + 64);
        assert_eq!(a.hash(), hash_secret(a.as_str()));
        assert_ne!(a.hash(), b.hash());
    }
}
