//! Call recording, streamed to disk as the call runs.
//!
//! A recording is linked to a survey record by its SHA-256, so it must be complete,
//! playable and unchanged after the call. Two properties follow:
//!
//! * nothing is kept in memory: samples go through a `BufWriter` straight to the
//!   file, and the WAV header's sizes are rewritten every second of audio, so a
//!   crashed process leaves a playable file missing at most the last second of
//!   header bookkeeping ([`repair`] recovers even that from the file length);
//! * [`Recorder::finalize`] fixes the header, fsyncs, and only then hashes the bytes
//!   on disk, so the hash stored in the survey record is the hash of the file.
//!
//! Layout: 8 kHz, 16-bit PCM, the canonical 44-byte header (see `wav`). Call
//! recordings are stereo with the citizen (what we received) on the left and what
//! carecall sent on the right, so a supervisor can hear either side alone; spoken
//! answers are mono clips ([`ClipWriter`]).

mod repair;
mod wav;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use repair::{recover, repair, repair_dir};
use wav::WavStream;

/// What a finished (or repaired) recording is: where, how long, and its fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingInfo {
    pub path: PathBuf,
    /// Audio length in seconds (sample frames / sample rate).
    pub seconds: f64,
    /// SHA-256 of the whole file as it is on disk, lowercase hex.
    pub sha256: String,
    /// File length in bytes, header included.
    pub bytes: u64,
}

/// Why a recording could not be written, finished or repaired.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The file system refused (disk full, permissions, missing mount...).
    #[error("recording {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// RIFF sizes are 32-bit; a WAV cannot hold more than 4 GiB of samples.
    #[error("recording {} exceeds the 4 GiB WAV limit; end the call or split it", path.display())]
    TooLong { path: PathBuf },
    /// `repair` found something that is not a PCM WAV it can fix in place.
    #[error("cannot repair {}: {reason}", path.display())]
    NotRepairable { path: PathBuf, reason: &'static str },
}

/// Converts sample frames at 8 kHz to a duration (one frame = 125 µs exactly).
fn frames_to_duration(frames: u64) -> Duration {
    Duration::from_nanos(frames * 125_000)
}

/// A stereo call recording being written: left = citizen, right = carecall.
pub struct Recorder {
    stream: WavStream,
}

impl Recorder {
    /// Creates `path` (and its parent directories) with a header for an empty
    /// stereo 8 kHz 16-bit WAV; an existing file is replaced.
    pub fn create(path: &Path) -> Result<Recorder, RecordingError> {
        Ok(Recorder {
            stream: WavStream::create(path, 2)?,
        })
    }

    /// Appends one tick of audio, interleaving the two legs.
    ///
    /// The legs normally have the same length (160 samples per 20 ms). If one is
    /// shorter (a leg sent nothing this tick), it is padded with silence so the two
    /// channels stay aligned in time.
    pub fn write_frame(&mut self, left: &[i16], right: &[i16]) -> Result<(), RecordingError> {
        let n = left.len().max(right.len());
        for i in 0..n {
            self.stream.push(left.get(i).copied().unwrap_or(0))?;
            self.stream.push(right.get(i).copied().unwrap_or(0))?;
        }
        self.stream.frames_done(n as u64)
    }

    /// Audio written so far.
    pub fn elapsed(&self) -> Duration {
        frames_to_duration(self.stream.frames())
    }

    /// Where the recording is being written (clips are named after it).
    pub fn path(&self) -> &Path {
        self.stream.path()
    }

    /// Position in the recording of the next sample: what an answer mark stores so
    /// a supervisor can jump to where the citizen answered.
    pub fn offset(&self) -> Duration {
        self.elapsed()
    }

    /// Writes the final header, fsyncs and hashes the file.
    pub fn finalize(self) -> Result<RecordingInfo, RecordingError> {
        self.stream.finalize()
    }
}

/// A mono 8 kHz clip (a spoken answer), written the same streaming way.
pub struct ClipWriter {
    stream: WavStream,
}

impl ClipWriter {
    /// Creates `path` (and its parent directories) for a mono 8 kHz 16-bit WAV.
    pub fn create(path: &Path) -> Result<ClipWriter, RecordingError> {
        Ok(ClipWriter {
            stream: WavStream::create(path, 1)?,
        })
    }

    /// Appends samples.
    pub fn write(&mut self, samples: &[i16]) -> Result<(), RecordingError> {
        for &s in samples {
            self.stream.push(s)?;
        }
        self.stream.frames_done(samples.len() as u64)
    }

    /// Audio written so far.
    pub fn elapsed(&self) -> Duration {
        frames_to_duration(self.stream.frames())
    }

    /// Writes the final header, fsyncs and hashes the file.
    pub fn finalize(self) -> Result<RecordingInfo, RecordingError> {
        self.stream.finalize()
    }
}

#[cfg(test)]
mod tests;
