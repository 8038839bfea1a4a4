//! Min/max peaks of a recording, for the waveform drawn on the review page.
//!
//! The page needs a few hundred columns per channel, not 8,000 samples a
//! second, so the file is read once, sample by sample (hound buffers the
//! reads), and folded into `buckets` (min, max) pairs per channel. Memory is
//! the peaks only, whatever the length of the call. The output follows the
//! layout of BBC audiowaveform's JSON (`data` interleaves min and max), which
//! most waveform widgets read.

use std::io::Read;
use std::path::Path;

use serde::Serialize;

/// Columns drawn by the review page when the caller does not say.
pub const DEFAULT_BUCKETS: usize = 800;
/// Upper bound on `buckets`, so a query parameter cannot ask for a huge allocation.
pub const MAX_BUCKETS: usize = 10_000;

/// Why a waveform could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum WaveformError {
    #[error("cannot read WAV: {0}")]
    Wav(#[from] hound::Error),
    #[error(
        "unsupported WAV format: {channels} channel(s), {bits}-bit {kind}; expected 16-bit PCM mono or stereo"
    )]
    Format {
        channels: u16,
        bits: u16,
        kind: &'static str,
    },
}

/// Peaks of one channel: `data` is `[min0, max0, min1, max1, ...]`, one pair per bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelPeaks {
    pub data: Vec<i16>,
}

/// The waveform of a file. In a call recording channel 0 is the citizen and
/// channel 1 the prompts (see media/recorder).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Waveform {
    pub sample_rate: u32,
    pub channels: u16,
    /// Frames (samples per channel) in the file.
    pub frames: u64,
    pub seconds: f64,
    /// Buckets per channel; fewer than asked when the file has fewer frames.
    pub buckets: usize,
    /// Frames summarised by one bucket (the last may hold fewer), as a float
    /// because buckets need not divide the length exactly.
    pub frames_per_bucket: f64,
    /// Always 16: the only sample size accepted.
    pub bits: u16,
    pub peaks: Vec<ChannelPeaks>,
}

/// Reads the WAV at `path` (blocking I/O: call it from `spawn_blocking`).
pub fn from_path(path: &Path, buckets: usize) -> Result<Waveform, WaveformError> {
    let reader = hound::WavReader::open(path)?;
    compute(reader, buckets)
}

/// Folds the samples of `reader` into at most `buckets` (clamped to
/// 1..=[`MAX_BUCKETS`]) min/max pairs per channel.
pub fn compute<R: Read>(
    mut reader: hound::WavReader<R>,
    buckets: usize,
) -> Result<Waveform, WaveformError> {
    let spec = reader.spec();
    check_format(spec)?;
    let channels = spec.channels;
    let frames = u64::from(reader.duration());
    let n = bucket_count(buckets, frames);
    let mut peaks = Peaks::new(usize::from(channels), n);
    let ch = u64::from(channels);
    for (i, sample) in (0u64..).zip(reader.samples::<i16>()) {
        let (frame, channel) = (i / ch, (i % ch) as usize);
        peaks.add(channel, bucket_of(frame, frames, n), sample?);
    }
    Ok(Waveform {
        sample_rate: spec.sample_rate,
        channels,
        frames,
        seconds: frames as f64 / f64::from(spec.sample_rate.max(1)),
        buckets: n,
        frames_per_bucket: if n == 0 {
            0.0
        } else {
            frames as f64 / n as f64
        },
        bits: 16,
        peaks: peaks.finish(),
    })
}

fn check_format(spec: hound::WavSpec) -> Result<(), WaveformError> {
    let int = spec.sample_format == hound::SampleFormat::Int;
    if int && spec.bits_per_sample == 16 && matches!(spec.channels, 1 | 2) {
        return Ok(());
    }
    Err(WaveformError::Format {
        channels: spec.channels,
        bits: spec.bits_per_sample,
        kind: if int { "integer" } else { "float" },
    })
}

/// No more buckets than frames: an empty bucket would have no min or max.
fn bucket_count(asked: usize, frames: u64) -> usize {
    let asked = asked.clamp(1, MAX_BUCKETS);
    usize::try_from(frames).map_or(asked, |f| asked.min(f))
}

/// Frame `frame` of `frames` falls in bucket `floor(frame * n / frames)`, so
/// every bucket gets `frames / n` frames give or take one.
fn bucket_of(frame: u64, frames: u64, n: usize) -> usize {
    if frames == 0 {
        return 0;
    }
    let b = u128::from(frame) * n as u128 / u128::from(frames);
    (b as usize).min(n.saturating_sub(1))
}

/// Running (min, max) per channel and bucket.
struct Peaks {
    /// `mins[ch][b]`, `maxs[ch][b]`; a bucket no sample reached stays (MAX, MIN).
    mins: Vec<Vec<i16>>,
    maxs: Vec<Vec<i16>>,
}

impl Peaks {
    fn new(channels: usize, n: usize) -> Peaks {
        Peaks {
            mins: vec![vec![i16::MAX; n]; channels],
            maxs: vec![vec![i16::MIN; n]; channels],
        }
    }

    fn add(&mut self, channel: usize, bucket: usize, s: i16) {
        // A truncated file may hold more samples than its header says; those
        // are beyond the last bucket and have nowhere to go.
        if let Some(m) = self.mins[channel].get_mut(bucket) {
            *m = (*m).min(s);
        }
        if let Some(m) = self.maxs[channel].get_mut(bucket) {
            *m = (*m).max(s);
        }
    }

    fn finish(self) -> Vec<ChannelPeaks> {
        self.mins
            .into_iter()
            .zip(self.maxs)
            .map(|(mins, maxs)| {
                let mut data = Vec::with_capacity(mins.len() * 2);
                for (lo, hi) in mins.into_iter().zip(maxs) {
                    // Unreached (only if the header overstates the length): silence.
                    let (lo, hi) = if lo > hi { (0, 0) } else { (lo, hi) };
                    data.push(lo);
                    data.push(hi);
                }
                ChannelPeaks { data }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn wav(channels: u16, frames: &[(i16, i16)]) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        for &(l, r) in frames {
            w.write_sample(l).unwrap();
            if channels == 2 {
                w.write_sample(r).unwrap();
            }
        }
        w.finalize().unwrap();
        out.into_inner()
    }

    fn peaks_of(bytes: Vec<u8>, buckets: usize) -> Waveform {
        compute(hound::WavReader::new(Cursor::new(bytes)).unwrap(), buckets).unwrap()
    }

    #[test]
    fn stereo_peaks_per_channel_and_bucket() {
        // 8 frames in 2 buckets of 4: left ramps up, right is a spike then silence.
        let frames: Vec<(i16, i16)> = (0..8).map(|i| (i * 100 - 300, 0)).collect();
        let mut frames = frames;
        frames[1].1 = -20_000;
        frames[6].1 = 12_345;
        let w = peaks_of(wav(2, &frames), 2);
        assert_eq!(w.channels, 2);
        assert_eq!(w.frames, 8);
        assert_eq!(w.buckets, 2);
        assert_eq!(w.frames_per_bucket, 4.0);
        assert_eq!(w.seconds, 8.0 / 8000.0);
        assert_eq!(w.peaks[0].data, vec![-300, 0, 100, 400]);
        assert_eq!(w.peaks[1].data, vec![-20_000, 0, 0, 12_345]);
    }

    #[test]
    fn mono_is_one_channel() {
        let frames: Vec<(i16, i16)> = (0..10).map(|i| (i, 0)).collect();
        let w = peaks_of(wav(1, &frames), 5);
        assert_eq!(w.channels, 1);
        assert_eq!(w.peaks.len(), 1);
        assert_eq!(w.peaks[0].data, vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn uneven_buckets_cover_every_frame() {
        // 10 frames in 3 buckets: 0..=3, 4..=6, 7..=9 by floor(f * 3 / 10).
        let frames: Vec<(i16, i16)> = (0..10).map(|i| (i, -i)).collect();
        let w = peaks_of(wav(2, &frames), 3);
        assert_eq!(w.peaks[0].data, vec![0, 3, 4, 6, 7, 9]);
        assert_eq!(w.peaks[1].data, vec![-3, 0, -6, -4, -9, -7]);
    }

    #[test]
    fn fewer_frames_than_buckets_gives_one_bucket_per_frame() {
        let w = peaks_of(wav(2, &[(1, 2), (3, 4)]), DEFAULT_BUCKETS);
        assert_eq!(w.buckets, 2);
        assert_eq!(w.peaks[0].data, vec![1, 1, 3, 3]);
    }

    #[test]
    fn empty_file_and_absurd_bucket_counts() {
        let w = peaks_of(wav(2, &[]), 800);
        assert_eq!((w.frames, w.buckets), (0, 0));
        assert!(w.peaks.iter().all(|p| p.data.is_empty()));
        let frames: Vec<(i16, i16)> = (0..20_000).map(|i| (i as i16, 0)).collect();
        assert_eq!(peaks_of(wav(1, &frames), usize::MAX).buckets, MAX_BUCKETS);
        assert_eq!(peaks_of(wav(1, &frames), 0).buckets, 1);
    }

    #[test]
    fn other_formats_are_refused() {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 8,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        w.write_sample(1i8).unwrap();
        w.finalize().unwrap();
        let r = hound::WavReader::new(Cursor::new(out.into_inner())).unwrap();
        assert!(matches!(
            compute(r, 10),
            Err(WaveformError::Format { bits: 8, .. })
        ));
    }

    #[test]
    fn reads_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        std::fs::write(&path, wav(2, &[(5, -5), (7, -7)])).unwrap();
        let w = from_path(&path, 1).unwrap();
        assert_eq!(w.peaks[0].data, vec![5, 7]);
        assert_eq!(w.peaks[1].data, vec![-7, -5]);
    }
}
