//! Password hashing with argon2id (RFC 9106), stored as PHC strings so that
//! the parameters travel with each hash and can be raised later.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Why a password could not be hashed or was refused before hashing.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be at least {min} characters long")]
    TooShort { min: usize },
    #[error("the password is longer than {max} bytes")]
    TooLong { max: usize },
    #[error("hashing the password failed: {0}")]
    Hash(argon2::password_hash::Error),
}

const MIN_CHARS: usize = 8;
/// Long inputs cost argon2 nothing much, but a limit keeps request bodies sane.
const MAX_BYTES: usize = 1024;

/// argon2id with OWASP's second recommended setting (19 MiB, 2 passes):
/// ~30 ms on one core here, cheap enough for logins, dear for guessing.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A PHC string for `password`, with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_CHARS {
        return Err(PasswordError::TooShort { min: MIN_CHARS });
    }
    if password.len() > MAX_BYTES {
        return Err(PasswordError::TooLong { max: MAX_BYTES });
    }
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(PasswordError::Hash)?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(PasswordError::Hash)
}

/// Whether `password` matches `phc`. `None` (unknown user) still spends the
/// time of one verification, so that response times do not reveal which
/// usernames exist.
pub fn verify_password(phc: Option<&str>, password: &str) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        hash_password("not-a-real-password").expect("hashing a constant password works")
    });
    let known = phc.is_some();
    let Ok(parsed) = PasswordHash::new(phc.unwrap_or(dummy)) else {
        return false;
    };
    let ok = password.len() <= MAX_BYTES
        && hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
    ok && known
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_password_verifies_and_wrong_does_not() {
        let h = hash_password("mật khẩu dài 1022").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password(Some(&h), "mật khẩu dài 1022"));
        assert!(!verify_password(Some(&h), "mật khẩu dài 1023"));
        assert!(!verify_password(None, "mật khẩu dài 1022"));
        assert!(!verify_password(Some("garbage"), "x"));
        let again = hash_password("mật khẩu dài 1022").unwrap();
        assert_ne!(h, again, "salted");
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        assert!(matches!(
            hash_password("short"),
            Err(PasswordError::TooShort { .. })
        ));
        assert!(matches!(
            hash_password(&"x".repeat(2000)),
            Err(PasswordError::TooLong { .. })
        ));
    }
}
