//! WAV file → 8 kHz mono `i16`, whatever the file's rate, depth or channel count.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use hound::{SampleFormat, WavReader};

use super::PromptError;
use super::resample::resample;

/// The rate every prompt is played at (G.711 narrowband).
const TARGET_RATE: u32 = 8_000;

/// Decodes `path` to 8 kHz mono 16-bit samples.
pub(crate) fn decode(path: &Path) -> Result<Vec<i16>, PromptError> {
    let decode_err = |source| PromptError::Decode {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = WavReader::open(path).map_err(decode_err)?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(PromptError::Unsupported {
            path: path.to_path_buf(),
            reason: "zero channels or zero sample rate",
        });
    }
    // The shipped prompts are already what we play: skip the float round trip.
    if spec.channels == 1
        && spec.sample_rate == TARGET_RATE
        && spec.bits_per_sample == 16
        && spec.sample_format == SampleFormat::Int
    {
        return reader
            .samples::<i16>()
            .collect::<Result<_, _>>()
            .map_err(decode_err);
    }
    let interleaved = read_normalised(&mut reader).map_err(decode_err)?;
    let mono = downmix(&interleaved, usize::from(spec.channels));
    let resampled = resample(&mono, spec.sample_rate, TARGET_RATE);
    Ok(resampled.iter().map(|&x| to_i16(x)).collect())
}

/// Reads every sample as `f32` in [-1, 1).
fn read_normalised(reader: &mut WavReader<BufReader<File>>) -> Result<Vec<f32>, hound::Error> {
    let spec = reader.spec();
    match spec.sample_format {
        SampleFormat::Float => reader.samples::<f32>().collect(),
        SampleFormat::Int => {
            // hound hands 8-bit (unsigned on disk) back as signed, centred on 0.
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect()
        }
    }
}

/// Averages interleaved channels into one.
fn downmix(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels == 1 {
        return interleaved.to_vec();
    }
    interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect()
}

fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use hound::{WavSpec, WavWriter};

    fn write<S: hound::Sample + Copy>(path: &Path, spec: WavSpec, samples: &[S]) {
        let mut w = WavWriter::create(path, spec).unwrap();
        for &s in samples {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
    }

    fn spec(channels: u16, rate: u32, bits: u16, format: SampleFormat) -> WavSpec {
        WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: format,
        }
    }

    #[test]
    fn native_format_is_read_verbatim() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.wav");
        let samples: Vec<i16> = (-500..500).map(|i| i * 30).collect();
        write(&p, spec(1, 8000, 16, SampleFormat::Int), &samples);
        assert_eq!(decode(&p).unwrap(), samples);
    }

    #[test]
    fn depths_and_float_scale_to_the_same_level() {
        let dir = tempfile::tempdir().unwrap();
        // A constant half-scale signal at 8 kHz in every format (no resampling).
        let int = SampleFormat::Int;
        let at = |name: &str| dir.path().join(format!("{name}.wav"));
        write(&at("i8"), spec(1, 8000, 8, int), &[64i8; 100]);
        write(&at("i24"), spec(1, 8000, 24, int), &[1i32 << 22; 100]);
        write(&at("i32"), spec(1, 8000, 32, int), &[1i32 << 30; 100]);
        write(
            &at("f32"),
            spec(1, 8000, 32, SampleFormat::Float),
            &[0.5f32; 100],
        );
        for name in ["i8", "i24", "i32", "f32"] {
            let p = at(name);
            let got = decode(&p).unwrap();
            assert_eq!(got.len(), 100, "{name}");
            assert!(got.iter().all(|&v| v == 16384), "{name}: {:?}", &got[..4]);
        }
    }

    #[test]
    fn stereo_is_downmixed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("st.wav");
        let frames: Vec<i16> = [1000i16, 3000].repeat(50);
        write(&p, spec(2, 8000, 16, SampleFormat::Int), &frames);
        assert_eq!(decode(&p).unwrap(), vec![2000; 50]);
    }

    #[test]
    fn garbage_is_a_decode_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.wav");
        std::fs::write(&p, b"not a wav").unwrap();
        match decode(&p) {
            Err(PromptError::Decode { path, .. }) => assert_eq!(path, p),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn clipping_is_clamped() {
        assert_eq!(to_i16(1.5), 32767);
        assert_eq!(to_i16(-1.0), -32768);
        assert_eq!(to_i16(0.0), 0);
    }
}
