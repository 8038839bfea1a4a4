//! The audit chain's secret key, kept outside the database.
//!
//! An attacker with database access can recompute a plain SHA-256 chain from
//! a forged row to the head; with HMAC-SHA256 (RFC 2104) under a key that is
//! not in the database they cannot. The key is 32 random bytes, stored hex
//! in one file (`database.audit_key_file`) that carecall's writers create with
//! mode 0600 on first use (`carecall serve`, `call`, `demo`), and that
//! `carecall audit verify` needs but never creates: a verifier that made up a
//! new key would call every link forged. Keep the file on another disk or
//! under another owner than the database, and back it up with it: without
//! the key the chain cannot be checked.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Bytes of key material.
const KEY_LEN: usize = 32;

/// Why the key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ChainKeyError {
    #[error(
        "audit key file {path} does not exist: it is created by the first `carecall serve` or \
         `carecall call` with this configuration (database.audit_key_file); restore it from the \
         backup made with the database, or point database.audit_key_file at it"
    )]
    Missing { path: PathBuf },
    #[error("audit key file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "audit key file {path} does not hold a key (64 hex digits expected); restore it from \
         the backup"
    )]
    Malformed { path: PathBuf },
}

/// The HMAC key of the chain. `Debug` never shows it.
#[derive(Clone)]
pub struct ChainKey {
    bytes: [u8; KEY_LEN],
    /// Where the signed heads are appended (see `head_log.rs`); `None` for a
    /// key made in memory.
    head_log: Option<PathBuf>,
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainKey")
            .field("bytes", &"{REDACTED}")
            .field("head_log", &self.head_log)
            .finish()
    }
}

impl ChainKey {
    /// Reads the key at `path`; a missing file is [`ChainKeyError::Missing`].
    pub fn load(path: &Path) -> Result<ChainKey, ChainKeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ChainKeyError::Missing {
                    path: path.to_owned(),
                }
            } else {
                ChainKeyError::Io {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
        let bytes = parse(&text).ok_or_else(|| ChainKeyError::Malformed {
            path: path.to_owned(),
        })?;
        Ok(ChainKey {
            bytes,
            head_log: Some(head_log_path(path)),
        })
    }

    /// Reads the key at `path`, creating it (mode 0600, random) if missing.
    /// Two processes starting at once agree: the loser of `create_new` reads
    /// the winner's file.
    pub fn load_or_create(path: &Path) -> Result<ChainKey, ChainKeyError> {
        match ChainKey::load(path) {
            Err(ChainKeyError::Missing { .. }) => {}
            other => return other,
        }
        let io = |source| ChainKeyError::Io {
            path: path.to_owned(),
            source,
        };
        let bytes: [u8; KEY_LEN] = rand::random();
        let mut file = match create_private(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return ChainKey::load(path);
            }
            Err(e) => return Err(io(e)),
        };
        file.write_all(format!("{}\n", hex::encode(bytes)).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io)?;
        tracing::info!(path = %path.display(), "created the audit chain key; back it up with the database");
        Ok(ChainKey {
            bytes,
            head_log: Some(head_log_path(path)),
        })
    }

    /// A key held in memory only, without a head log (tests and tools).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> ChainKey {
        ChainKey {
            bytes,
            head_log: None,
        }
    }

    /// The file the signed heads are appended to, next to the key file.
    pub fn head_log(&self) -> Option<&Path> {
        self.head_log.as_deref()
    }

    /// Hex HMAC-SHA256 of `parts`, each preceded by its length so that no
    /// two different part lists give the same input.
    pub fn mac(&self, parts: &[&[u8]]) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.bytes).expect("HMAC takes any key length");
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        hex::encode(mac.finalize().into_bytes())
    }
}

/// `<key file>.heads`.
fn head_log_path(key: &Path) -> PathBuf {
    let mut name = key.as_os_str().to_owned();
    name.push(".heads");
    PathBuf::from(name)
}

fn parse(text: &str) -> Option<[u8; KEY_LEN]> {
    hex::decode(text.trim()).ok()?.try_into().ok()
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        assert!(matches!(
            ChainKey::load(&path),
            Err(ChainKeyError::Missing { .. })
        ));
        let made = ChainKey::load_or_create(&path).unwrap();
        let again = ChainKey::load_or_create(&path).unwrap();
        assert_eq!(made.bytes, again.bytes, "an existing key is never replaced");
        assert_eq!(
            made.mac(&[b"x"]),
            ChainKey::load(&path).unwrap().mac(&[b"x"])
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(made.head_log().unwrap(), dir.path().join("audit.key.heads"));
        assert!(!format!("{made:?}").contains(&hex::encode(made.bytes)));
    }

    #[test]
    fn a_damaged_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        std::fs::write(&path, "not a key\n").unwrap();
        assert!(matches!(
            ChainKey::load_or_create(&path),
            Err(ChainKeyError::Malformed { .. })
        ));
    }

    #[test]
    fn mac_depends_on_key_and_part_boundaries() {
        let a = ChainKey::from_bytes([1; KEY_LEN]);
        let b = ChainKey::from_bytes([2; KEY_LEN]);
        assert_ne!(a.mac(&[b"x"]), b.mac(&[b"x"]));
        assert_ne!(a.mac(&[b"ab", b"c"]), a.mac(&[b"a", b"bc"]));
        assert_eq!(a.mac(&[b"x"]).len(), 64);
    }
}
