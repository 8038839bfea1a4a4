//! Re-hashing the files the database vouches for: every recording (its
//! stored size and SHA-256) and every spoken-answer clip (its SHA-256 in the
//! answer, which is itself a link of the chain). A file replaced on disk,
//! truncated or deleted is named; the database rows alone cannot show it.
//!
//! Relative paths resolve against the working directory, as the recorder
//! wrote them and as `carecall serve` reads them: run `carecall audit verify`
//! from the directory `serve` runs in. Files are hashed one at a time on the
//! blocking pool, streamed in 64 KiB reads.

use std::io::Read;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::classify;
use super::types::{AnswerId, CallId};
use super::{Store, StoreError, col};

/// Rows read per page.
const PAGE: i64 = 200;
/// Findings kept (the count of all of them is still returned).
pub const MAX_FINDINGS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Recording,
    Clip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileProblem {
    /// No file at the stored path.
    Missing,
    /// The file's size or SHA-256 differs from the stored one.
    Changed,
    /// The file exists but cannot be read (permissions, I/O error).
    Unreadable,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Recording => "recording",
            FileKind::Clip => "clip",
        }
    }
}

impl FileProblem {
    pub fn as_str(self) -> &'static str {
        match self {
            FileProblem::Missing => "missing",
            FileProblem::Changed => "changed (size or SHA-256 differs)",
            FileProblem::Unreadable => "unreadable",
        }
    }
}

/// One file that does not match the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileFinding {
    pub kind: FileKind,
    pub path: String,
    pub problem: FileProblem,
    /// The recording's call.
    pub call_id: Option<CallId>,
    /// The clip's answer.
    pub answer_id: Option<AnswerId>,
}

/// What the files check found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FilesReport {
    pub checked: u64,
    /// All problems found; `findings` keeps the first [`MAX_FINDINGS`].
    pub problems: u64,
    pub findings: Vec<FileFinding>,
}

impl FilesReport {
    fn add(&mut self, f: Option<FileFinding>) {
        self.checked += 1;
        if let Some(f) = f {
            self.problems += 1;
            if self.findings.len() < MAX_FINDINGS {
                self.findings.push(f);
            }
        }
    }
}

impl Store {
    /// Re-hashes every recording and clip file and names those missing or
    /// changed.
    pub async fn verify_files(&self) -> Result<FilesReport, StoreError> {
        const OP: &str = "verify_files";
        let e = |e| classify(OP, e);
        let mut report = FilesReport::default();
        let mut after = String::new();
        loop {
            let page = sqlx::query(
                "SELECT id, call_id, path, sha256, bytes FROM recordings WHERE id > $1 \
                 ORDER BY id LIMIT $2",
            )
            .bind(&after)
            .bind(PAGE)
            .fetch_all(&self.pool)
            .await
            .map_err(e)?;
            for r in &page {
                let path: String = col(r, OP, "path")?;
                let bytes: i64 = col(r, OP, "bytes")?;
                let problem = check(&path, col(r, OP, "sha256")?, Some(bytes)).await;
                report.add(problem.map(|problem| FileFinding {
                    kind: FileKind::Recording,
                    path,
                    problem,
                    call_id: col(r, OP, "call_id").ok().map(CallId),
                    answer_id: None,
                }));
                after = col(r, OP, "id")?;
            }
            if page.len() < PAGE as usize {
                break;
            }
        }
        let mut after = String::new();
        loop {
            let page = sqlx::query(
                "SELECT id, clip_path, clip_sha256 FROM answers WHERE id > $1 \
                 AND clip_path IS NOT NULL AND clip_sha256 IS NOT NULL ORDER BY id LIMIT $2",
            )
            .bind(&after)
            .bind(PAGE)
            .fetch_all(&self.pool)
            .await
            .map_err(e)?;
            for r in &page {
                let path: String = col(r, OP, "clip_path")?;
                let problem = check(&path, col(r, OP, "clip_sha256")?, None).await;
                let id: String = col(r, OP, "id")?;
                report.add(problem.map(|problem| FileFinding {
                    kind: FileKind::Clip,
                    path,
                    problem,
                    call_id: None,
                    answer_id: Some(AnswerId(id.clone())),
                }));
                after = id;
            }
            if page.len() < PAGE as usize {
                break;
            }
        }
        Ok(report)
    }
}

/// What is wrong with the file at `path`, if anything.
async fn check(path: &str, sha256: String, bytes: Option<i64>) -> Option<FileProblem> {
    let owned = path.to_owned();
    let hashed = tokio::task::spawn_blocking(move || sha256_file(Path::new(&owned)))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    match hashed {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(FileProblem::Missing),
        Err(_) => Some(FileProblem::Unreadable),
        Ok((hash, len)) => {
            let size_ok = bytes.is_none_or(|b| u64::try_from(b).ok() == Some(len));
            (!size_ok || !hash.eq_ignore_ascii_case(&sha256)).then_some(FileProblem::Changed)
        }
    }
}

/// Hex SHA-256 and length of a file, streamed.
fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_changed_and_intact_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.wav");
        std::fs::write(&p, b"RIFF....").unwrap();
        let path = p.to_str().unwrap();
        let (hash, len) = sha256_file(&p).unwrap();
        assert_eq!(len, 8);
        assert_eq!(check(path, hash.clone(), Some(8)).await, None);
        assert_eq!(check(path, hash.to_uppercase(), None).await, None);
        assert_eq!(
            check(path, hash.clone(), Some(9)).await,
            Some(FileProblem::Changed),
            "size alone differs"
        );
        std::fs::write(&p, b"RIFF....x").unwrap();
        assert_eq!(
            check(path, hash.clone(), None).await,
            Some(FileProblem::Changed)
        );
        std::fs::remove_file(&p).unwrap();
        assert_eq!(check(path, hash, None).await, Some(FileProblem::Missing));
    }

    #[test]
    fn findings_are_counted_beyond_the_cap() {
        let mut r = FilesReport::default();
        for _ in 0..MAX_FINDINGS + 5 {
            r.add(Some(FileFinding {
                kind: FileKind::Clip,
                path: "x".into(),
                problem: FileProblem::Missing,
                call_id: None,
                answer_id: None,
            }));
        }
        r.add(None);
        assert_eq!(
            (r.checked, r.problems),
            (MAX_FINDINGS as u64 + 6, MAX_FINDINGS as u64 + 5)
        );
        assert_eq!(r.findings.len(), MAX_FINDINGS);
    }
}
