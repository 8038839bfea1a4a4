//! Fixing WAVs left behind by a crash.
//!
//! A recorder that died mid-call leaves a header whose sizes are stale (refreshed up
//! to a second earlier, or still 0 if it died in the first second) and possibly a
//! partial sample frame at the end (the process died mid-`write`, or the disk
//! filled). The samples on disk are good, so the fix is to trust the file length:
//! cut it to whole frames and rewrite the RIFF and `data` sizes.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::wav::{file_info, io_err};
use super::{RecordingError, RecordingInfo};

/// How far into a file we look for the `data` chunk (ours is at 36; other tools may
/// put `LIST` or `fact` chunks first).
const SCAN_LIMIT: usize = 64 * 1024;

/// Where the samples are and what the header claims about them.
#[derive(Debug)]
struct Layout {
    riff_size: u32,
    /// Offset of the `data` chunk's size field.
    data_size_at: u64,
    data_size: u32,
    data_start: u64,
    block_align: u16,
    sample_rate: u32,
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Walks the RIFF chunks (RIFF/WAVE, `fmt `, then up to `data`).
fn parse(head: &[u8]) -> Result<Layout, &'static str> {
    if head.len() < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err("not a RIFF/WAVE file");
    }
    let mut fmt = None;
    let mut at = 12usize;
    while at + 8 <= head.len() {
        let id = &head[at..at + 4];
        let size = le32(head, at + 4);
        if id == b"data" {
            let (block_align, sample_rate) = fmt.ok_or("no fmt chunk before the data chunk")?;
            return Ok(Layout {
                riff_size: le32(head, 4),
                data_size_at: at as u64 + 4,
                data_size: size,
                data_start: at as u64 + 8,
                block_align,
                sample_rate,
            });
        }
        if id == b"fmt " {
            if size < 16 || at + 8 + 16 > head.len() {
                return Err("fmt chunk too short");
            }
            let rate = le32(head, at + 12);
            let align = le16(head, at + 20);
            if align == 0 || rate == 0 {
                return Err("fmt chunk has a zero block align or sample rate");
            }
            fmt = Some((align, rate));
        }
        // RIFF chunks are padded to an even length.
        at += 8 + size as usize + (size as usize & 1);
    }
    Err("no data chunk in the first 64 KiB")
}

/// The data length a file of `len` bytes can really hold: whole frames that fit,
/// within the 32-bit RIFF limit.
fn whole_frames_bytes(layout: &Layout, len: u64) -> u64 {
    let align = u64::from(layout.block_align);
    let limit = u64::from(u32::MAX) - layout.data_start;
    let available = len.saturating_sub(layout.data_start).min(limit);
    available - available % align
}

fn is_consistent(layout: &Layout, len: u64) -> bool {
    let data = u64::from(layout.data_size);
    u64::from(layout.riff_size) + 8 == len
        && layout.data_start + data <= len
        && data % u64::from(layout.block_align) == 0
}

/// Repairs a crash-damaged WAV in place; `None` if it was already consistent.
///
/// Run it before any recorder is writing to `path`: a file being written has a
/// stale header by design.
pub fn repair(path: &Path) -> Result<Option<RecordingInfo>, RecordingError> {
    let (mut file, layout, len) = open_layout(path)?;
    if is_consistent(&layout, len) {
        return Ok(None);
    }
    let data = whole_frames_bytes(&layout, len);
    let new_len = layout.data_start + data;
    rewrite_sizes(&mut file, path, &layout, new_len)?;
    let frames = data / u64::from(layout.block_align);
    let info = file_info(path, frames as f64 / f64::from(layout.sample_rate))?;
    tracing::info!(path = %path.display(), seconds = info.seconds, "repaired recording");
    Ok(Some(info))
}

/// Repairs `path` if it needs it and describes it either way: what the start-up pass
/// links to a call that a crash interrupted (its header may have been refreshed just
/// before the crash, so "consistent" does not mean "already linked").
pub fn recover(path: &Path) -> Result<RecordingInfo, RecordingError> {
    if let Some(info) = repair(path)? {
        return Ok(info);
    }
    let (_, layout, _) = open_layout(path)?;
    let frames = u64::from(layout.data_size) / u64::from(layout.block_align);
    file_info(path, frames as f64 / f64::from(layout.sample_rate))
}

/// Opens a WAV for repair and reads where its samples are.
fn open_layout(path: &Path) -> Result<(File, Layout, u64), RecordingError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    let mut head = Vec::with_capacity(SCAN_LIMIT);
    (&mut file)
        .take(SCAN_LIMIT as u64)
        .read_to_end(&mut head)
        .map_err(io_err(path))?;
    let layout = parse(&head).map_err(|reason| RecordingError::NotRepairable {
        path: path.to_path_buf(),
        reason,
    })?;
    Ok((file, layout, len))
}

fn rewrite_sizes(
    file: &mut File,
    path: &Path,
    layout: &Layout,
    new_len: u64,
) -> Result<(), RecordingError> {
    // Both fit in u32: `whole_frames_bytes` capped the data at the RIFF limit.
    let riff = (new_len - 8) as u32;
    let data = (new_len - layout.data_start) as u32;
    file.set_len(new_len).map_err(io_err(path))?;
    file.seek(SeekFrom::Start(4)).map_err(io_err(path))?;
    file.write_all(&riff.to_le_bytes()).map_err(io_err(path))?;
    file.seek(SeekFrom::Start(layout.data_size_at))
        .map_err(io_err(path))?;
    file.write_all(&data.to_le_bytes()).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// Repairs every `.wav` under `dir` (recursively) that needs it, returning what was
/// repaired. Meant for startup, before any call records.
///
/// Files that are not WAVs we can fix (empty, foreign formats) are logged and left
/// untouched rather than failing the whole walk; I/O errors do fail it.
pub fn repair_dir(dir: &Path) -> Result<Vec<RecordingInfo>, RecordingError> {
    let mut repaired = Vec::new();
    walk(dir, &mut repaired)?;
    Ok(repaired)
}

fn walk(dir: &Path, repaired: &mut Vec<RecordingInfo>) -> Result<(), RecordingError> {
    let entries = fs::read_dir(dir).map_err(io_err(dir))?;
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io_err(&path))?;
        if kind.is_dir() {
            walk(&path, repaired)?;
        } else if kind.is_file() && is_wav(&path) {
            match repair(&path) {
                Ok(Some(info)) => repaired.push(info),
                Ok(None) => {}
                Err(e @ RecordingError::NotRepairable { .. }) => {
                    tracing::warn!(error = %e, "left unrepaired");
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

fn is_wav(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
}
