//! The canonical 44-byte PCM WAV header and a streaming writer that keeps it current.
//!
//! We write the header ourselves rather than through `hound::WavWriter` because the
//! recorder, the clip writer and [`super::repair`] must agree on one fixed layout
//! (RIFF, `fmt ` with 16 bytes of PCMWAVEFORMAT, `data` at offset 36, samples from
//! offset 44): repair can then fix a file by rewriting two `u32`s.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{RecordingError, RecordingInfo};

/// Sample rate of everything carecall records (G.711 narrowband).
pub(crate) const SAMPLE_RATE: u32 = 8_000;
/// Bytes before the first sample in the canonical layout.
pub(crate) const HEADER_LEN: u64 = 44;
/// Offset of the RIFF chunk size (`file length - 8`).
pub(crate) const RIFF_SIZE_AT: u64 = 4;
/// Offset of the `data` chunk size (bytes of samples).
pub(crate) const DATA_SIZE_AT: u64 = 40;
/// How many sample frames may be written between header refreshes: one second, so a
/// crash loses at most ~1 s from the header's point of view (and nothing from the
/// file's, since [`super::repair`] trusts the file length).
const REFRESH_EVERY_FRAMES: u64 = SAMPLE_RATE as u64;

/// Builds the 44-byte header for 16-bit PCM at [`SAMPLE_RATE`].
pub(crate) fn header(channels: u16, data_bytes: u32) -> [u8; HEADER_LEN as usize] {
    let block_align = channels * 2;
    let byte_rate = SAMPLE_RATE * u32::from(block_align);
    let mut h = [0u8; HEADER_LEN as usize];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data_bytes.saturating_add(36).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // WAVE_FORMAT_PCM
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&SAMPLE_RATE.to_le_bytes());
    h[28..32].copy_from_slice(&byte_rate.to_le_bytes());
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_bytes.to_le_bytes());
    h
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RecordingError + '_ {
    move |source| RecordingError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A 16-bit PCM WAV being written sample frame by sample frame, straight to disk.
pub(crate) struct WavStream {
    path: PathBuf,
    pub(super) out: BufWriter<File>,
    channels: u16,
    frames: u64,
    frames_in_header: u64,
    /// Set once the header is final, so `Drop` leaves the file alone.
    closed: bool,
}

impl WavStream {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn create(path: &Path, channels: u16) -> Result<Self, RecordingError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let file = File::create(path).map_err(io_err(path))?;
        let mut out = BufWriter::with_capacity(32 * 1024, file);
        out.write_all(&header(channels, 0)).map_err(io_err(path))?;
        // The header reaches the OS at once: even a call that crashes in its first
        // second leaves a file that `repair` recognises.
        out.flush().map_err(io_err(path))?;
        Ok(Self {
            path: path.to_path_buf(),
            out,
            channels,
            frames: 0,
            frames_in_header: 0,
            closed: false,
        })
    }

    pub(crate) fn frames(&self) -> u64 {
        self.frames
    }

    /// Appends one sample (of the current frame) to the buffer.
    pub(crate) fn push(&mut self, sample: i16) -> Result<(), RecordingError> {
        self.out
            .write_all(&sample.to_le_bytes())
            .map_err(io_err(&self.path))
    }

    /// Counts `n` complete frames pushed and refreshes the header once a second.
    pub(crate) fn frames_done(&mut self, n: u64) -> Result<(), RecordingError> {
        self.frames += n;
        if self.frames - self.frames_in_header >= REFRESH_EVERY_FRAMES {
            self.refresh_header()?;
        }
        Ok(())
    }

    fn data_bytes(&self) -> Result<u32, RecordingError> {
        let bytes = self.frames * u64::from(self.channels) * 2;
        // RIFF sizes are u32: 4 GiB is ~37 h of stereo 8 kHz, far beyond any call.
        u32::try_from(bytes)
            .ok()
            .filter(|b| b.checked_add(36).is_some())
            .ok_or_else(|| RecordingError::TooLong {
                path: self.path.clone(),
            })
    }

    /// Flushes buffered samples and rewrites the RIFF and data sizes for them.
    fn refresh_header(&mut self) -> Result<(), RecordingError> {
        let data = self.data_bytes()?;
        let path = &self.path;
        // `BufWriter::seek` flushes the buffer before moving.
        self.out
            .seek(SeekFrom::Start(RIFF_SIZE_AT))
            .map_err(io_err(path))?;
        self.out
            .write_all(&(data + 36).to_le_bytes())
            .map_err(io_err(path))?;
        self.out
            .seek(SeekFrom::Start(DATA_SIZE_AT))
            .map_err(io_err(path))?;
        self.out
            .write_all(&data.to_le_bytes())
            .map_err(io_err(path))?;
        self.out.seek(SeekFrom::End(0)).map_err(io_err(path))?;
        self.out.flush().map_err(io_err(path))?;
        self.frames_in_header = self.frames;
        Ok(())
    }

    /// Writes the final header, fsyncs, and hashes the file as it now is on disk.
    pub(crate) fn finalize(mut self) -> Result<RecordingInfo, RecordingError> {
        self.refresh_header()?;
        self.closed = true;
        self.out.get_ref().sync_all().map_err(io_err(&self.path))?;
        file_info(&self.path, self.frames as f64 / f64::from(SAMPLE_RATE))
    }
}

impl Drop for WavStream {
    /// A recorder dropped without `finalize` (the call task was cancelled or
    /// panicked) still leaves a playable file; errors here have nowhere to go,
    /// and `repair` at the next start covers what this misses.
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.refresh_header();
        }
    }
}

/// Path, duration, SHA-256 and length of a finished WAV.
pub(crate) fn file_info(path: &Path, seconds: f64) -> Result<RecordingInfo, RecordingError> {
    let (sha256, bytes) = sha256_file(path)?;
    Ok(RecordingInfo {
        path: path.to_path_buf(),
        seconds,
        sha256,
        bytes,
    })
}

/// Hashes a file by streaming it (a long call is tens of MB: never read it whole).
pub(crate) fn sha256_file(path: &Path) -> Result<(String, u64), RecordingError> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(path)(e)),
        };
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}
