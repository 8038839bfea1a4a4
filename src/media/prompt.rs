//! Prompt audio: a directory of WAVs described by `manifest.toml`.
//!
//! The manifest is the script of the questionnaire (the form "may change with
//! circumstances", so it is data): each entry names a prompt and gives the words
//! it says. `scripts/make-prompts.sh` synthesises a WAV per entry; a studio
//! recording can replace any file (and be marked `studio = true` so it is kept).
//!
//! ```toml
//! language = "vi"
//! [[prompt]]
//! name = "greeting_intro"        # file greeting_intro.wav; "field/dat-dai" → field/dat-dai.wav
//! text = "Xin chào quý ông bà, …" # what the prompt says (transcript, TTS input)
//! tts = "…"                      # optional: spelling for the synthesiser only
//! studio = true                  # optional: a studio recording; the script keeps it
//! tone_hz = 1000                 # optional: a tone instead of speech (with tone_ms)
//! tone_ms = 400
//! ```
//!
//! Prompts are decoded to 8 kHz mono once and cached as `Arc<[i16]>`, shared by
//! every call playing them.

mod decode;
mod resample;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Deserialize;

/// The manifest's file name inside a prompt directory.
pub const MANIFEST: &str = "manifest.toml";

/// Why a prompt (or the manifest) could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("cannot read prompt manifest {}: {source}", path.display())]
    ManifestRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("prompt manifest {} is invalid: {source}", path.display())]
    ManifestParse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error(
        "prompt name {name:?} is invalid: use ASCII letters, digits, '-', '_' and '/' between parts, no extension"
    )]
    InvalidName { name: String },
    #[error("prompt {name:?} is listed twice in the manifest")]
    DuplicateName { name: String },
    #[error("prompt {name:?} has no audio file {}; run scripts/make-prompts.sh", path.display())]
    Missing { name: String, path: PathBuf },
    #[error("cannot decode prompt {}: {source}", path.display())]
    Decode {
        path: PathBuf,
        #[source]
        source: hound::Error,
    },
    #[error("prompt {} is unusable: {reason}", path.display())]
    Unsupported { path: PathBuf, reason: &'static str },
}

/// One `[[prompt]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptEntry {
    pub name: String,
    /// What the prompt says, as a supervisor would read it.
    pub text: String,
    /// Spelling for the synthesiser when it differs from `text` (used by the script).
    #[serde(default)]
    pub tts: Option<String>,
    /// A studio recording: the generator script leaves it alone.
    #[serde(default)]
    pub studio: bool,
    /// A synthetic tone instead of speech (used by the script).
    #[serde(default)]
    pub tone_hz: Option<u32>,
    #[serde(default)]
    pub tone_ms: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    language: String,
    #[serde(default, rename = "prompt")]
    prompts: Vec<PromptEntry>,
}

/// A prompt name is a relative path without extension: `greeting_intro`,
/// `field/dat-dai`. Restricting it to ASCII slugs keeps it safe to join onto the
/// directory (no `..`, no absolute paths) and portable across file systems.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The prompts of one language, decoded on demand and cached.
#[derive(Debug)]
pub struct PromptStore {
    dir: PathBuf,
    language: String,
    entries: Vec<PromptEntry>,
    cache: RwLock<HashMap<String, Arc<[i16]>>>,
}

impl PromptStore {
    /// Reads `dir/manifest.toml` and checks its names (valid, unique). Audio is
    /// decoded lazily by [`load`](Self::load); [`verify`](Self::verify) checks it all.
    pub fn open(dir: &Path) -> Result<Self, PromptError> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|source| PromptError::ManifestRead {
            path: path.clone(),
            source,
        })?;
        let manifest: Manifest =
            toml::from_str(&text).map_err(|source| PromptError::ManifestParse { path, source })?;
        let mut seen = HashSet::new();
        for e in &manifest.prompts {
            if !valid_name(&e.name) {
                return Err(PromptError::InvalidName {
                    name: e.name.clone(),
                });
            }
            if !seen.insert(e.name.as_str()) {
                return Err(PromptError::DuplicateName {
                    name: e.name.clone(),
                });
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            language: manifest.language,
            entries: manifest.prompts,
            cache: RwLock::new(HashMap::new()),
        })
    }

    /// The manifest's language tag (`vi`).
    pub fn language(&self) -> &str {
        &self.language
    }

    /// The manifest entries, in manifest order.
    pub fn entries(&self) -> &[PromptEntry] {
        &self.entries
    }

    /// Names listed in the manifest, in manifest order.
    pub fn names(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.name.clone()).collect()
    }

    /// The manifest text of a prompt (what it says), for transcripts and review.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.text.as_str())
    }

    /// Where prompt `name`'s audio lives, if the name is valid.
    pub fn path_of(&self, name: &str) -> Option<PathBuf> {
        valid_name(name).then(|| self.dir.join(format!("{name}.wav")))
    }

    /// Whether prompt `name` can be played: a valid name whose WAV is present
    /// (listed in the manifest or not: a dialplan may use an extra studio file).
    pub fn exists(&self, name: &str) -> bool {
        self.path_of(name).is_some_and(|p| p.is_file())
    }

    /// Prompt `name` as 8 kHz mono samples; decoded on first use, then the cached
    /// `Arc` is returned (cloning it copies no audio).
    pub fn load(&self, name: &str) -> Result<Arc<[i16]>, PromptError> {
        if let Some(hit) = self.read_cache().get(name) {
            return Ok(Arc::clone(hit));
        }
        let path = self.path_of(name).ok_or_else(|| PromptError::InvalidName {
            name: name.to_owned(),
        })?;
        if !path.is_file() {
            return Err(PromptError::Missing {
                name: name.to_owned(),
                path,
            });
        }
        let audio: Arc<[i16]> = decode::decode(&path)?.into();
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        // Two callers may race to decode the same prompt: the first one cached wins,
        // so every caller gets the same `Arc`.
        Ok(Arc::clone(cache.entry(name.to_owned()).or_insert(audio)))
    }

    /// Loads every manifest entry and returns what failed (empty = all good): the
    /// startup check that a deployment has all the audio its dialplan may play.
    pub fn verify(&self) -> Vec<PromptError> {
        self.entries
            .iter()
            .filter_map(|e| self.load(&e.name).err())
            .collect()
    }

    fn read_cache(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<[i16]>>> {
        // A panic elsewhere while holding the lock cannot leave the map half-built
        // (inserts are single calls), so a poisoned cache is still good.
        self.cache.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests;
