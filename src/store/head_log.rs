//! The signed chain head, in the database and in a log file next to the key.
//!
//! The head (last seq, its hash, the upgrade point and the frozen count of
//! pre-chain answers) is what catches links removed from the end of the
//! chain. In the database alone it can be "fixed" along with the rows; its
//! HMAC stops someone without the key from writing a new one, but not from
//! putting back an older head they copied earlier (together with the rows
//! behind it). So every keyed append also adds the signed head as one line
//! to `<key file>.heads`, outside the database: verification takes the
//! highest seq logged and requires the chain to hold that link with that
//! hash. The log is read before the database head, so a writer committing
//! meanwhile is never taken for a truncation.
//!
//! Lines are one `write` with `O_APPEND`, so processes on one host do not
//! interleave them. Several nodes on one PostgreSQL each log the heads they
//! wrote; each node's log guards its own writes. The file grows by about
//! 200 bytes per link; it may be rotated by keeping its last line.

use std::io::{BufRead, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::chain_key::ChainKey;

/// One signed head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
    /// The first seq hashed with the keyed rule (the upgrade point).
    pub keyed_from: i64,
    /// Answers from before the chain existed (frozen by migration 5).
    pub unchained: i64,
}

impl Head {
    /// The head's HMAC (domain-separated from the links').
    pub fn mac(&self, key: &ChainKey) -> String {
        key.mac(&[
            b"carecall head v2",
            self.seq.to_string().as_bytes(),
            self.hash.as_bytes(),
            self.keyed_from.to_string().as_bytes(),
            self.unchained.to_string().as_bytes(),
        ])
    }
}

/// One line of the head log.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    #[serde(flatten)]
    head: Head,
    mac: String,
}

/// What the head log says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logged {
    /// No log file (nothing was ever appended with this key).
    Absent,
    /// The highest head logged.
    Highest(Head),
    /// A line that is not a head signed with the key, at this line number.
    Forged { line: u64 },
}

/// Appends `head` to the key's head log. Blocking: call from
/// `spawn_blocking`.
pub fn append(key: &ChainKey, head: &Head) -> std::io::Result<()> {
    let Some(path) = key.head_log() else {
        return Ok(());
    };
    let line = Line {
        head: head.clone(),
        mac: head.mac(key),
    };
    let mut text = serde_json::to_string(&line).map_err(std::io::Error::other)?;
    text.push('\n');
    let mut file = open_append(path)?;
    file.write_all(text.as_bytes())
}

/// Reads the log line by line (memory bounded by one line) and returns the
/// highest head, or the first line that does not verify. Blocking.
pub fn highest(key: &ChainKey) -> std::io::Result<Logged> {
    let Some(path) = key.head_log() else {
        return Ok(Logged::Absent);
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Logged::Absent),
        Err(e) => return Err(e),
    };
    let mut best: Option<Head> = None;
    let mut reader = std::io::BufReader::new(file);
    let mut buf = String::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        // A line longer than this is not ours; stop reading it whole.
        let read = (&mut reader).take(4096).read_line(&mut buf)?;
        if read == 0 {
            break;
        }
        n += 1;
        match check_line(key, &buf) {
            Some(h) if best.as_ref().is_none_or(|b| h.seq > b.seq) => best = Some(h),
            Some(_) => {}
            None => return Ok(Logged::Forged { line: n }),
        }
    }
    Ok(best.map_or(Logged::Absent, Logged::Highest))
}

/// The head on `line` if its MAC verifies.
fn check_line(key: &ChainKey, line: &str) -> Option<Head> {
    if !line.ends_with('\n') {
        return None;
    }
    let l: Line = serde_json::from_str(line.trim_end()).ok()?;
    (l.head.mac(key) == l.mac).then_some(l.head)
}

#[cfg(unix)]
fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(seq: i64) -> Head {
        Head {
            seq,
            hash: format!("{seq:064}"),
            keyed_from: 1,
            unchained: 0,
        }
    }

    #[test]
    fn highest_signed_head_wins_whatever_the_order() {
        let dir = tempfile::tempdir().unwrap();
        let key = ChainKey::load_or_create(&dir.path().join("k")).unwrap();
        assert_eq!(highest(&key).unwrap(), Logged::Absent);
        for s in [1, 3, 2] {
            append(&key, &head(s)).unwrap();
        }
        assert_eq!(highest(&key).unwrap(), Logged::Highest(head(3)));
    }

    #[test]
    fn a_line_not_signed_with_the_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let key = ChainKey::load_or_create(&dir.path().join("k")).unwrap();
        append(&key, &head(1)).unwrap();
        let other = ChainKey::from_bytes([7; 32]);
        let forged = Line {
            head: head(9),
            mac: head(9).mac(&other),
        };
        let mut f = open_append(key.head_log().unwrap()).unwrap();
        writeln!(f, "{}", serde_json::to_string(&forged).unwrap()).unwrap();
        assert_eq!(highest(&key).unwrap(), Logged::Forged { line: 2 });
    }

    #[test]
    fn mac_covers_every_field() {
        let key = ChainKey::from_bytes([1; 32]);
        let base = head(5).mac(&key);
        for change in [
            |h: &mut Head| h.seq += 1,
            |h: &mut Head| h.hash = "0".repeat(64),
            |h: &mut Head| h.keyed_from += 1,
            |h: &mut Head| h.unchained += 1,
        ] {
            let mut h = head(5);
            change(&mut h);
            assert_ne!(h.mac(&key), base);
        }
    }
}
