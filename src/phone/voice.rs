//! The citizen's voice for spoken answers: a recorded Vietnamese sentence from the
//! prompt set, or, when no prompts can be found, a synthetic voice-like signal
//! (so the phone runs anywhere, e.g. from an installed binary).

use std::f64::consts::TAU;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::media::codec::SAMPLE_RATE;
use crate::media::prompt::PromptStore;

/// The prompt the citizen "says". Any speech does: the IVR only records it.
const VOICE_PROMPT: &str = "greeting_intro";

/// A path inside the source tree: relative to the current directory when it
/// exists there (running from a checkout), else to the crate's own directory.
pub fn repo_path(relative: &str) -> PathBuf {
    let here = Path::new(relative);
    if here.exists() {
        return here.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// 8 kHz samples of speech.
pub fn load(prompts_dir: &Path) -> Arc<[i16]> {
    match PromptStore::open(prompts_dir).and_then(|p| p.load(VOICE_PROMPT)) {
        Ok(audio) if !audio.is_empty() => audio,
        Ok(_) => synthetic(),
        Err(e) => {
            tracing::info!(error = %e, "no recorded voice: the phone speaks a synthetic one");
            synthetic()
        }
    }
}

/// Three seconds of "syllables": a 140 Hz voice with formant-ish harmonics,
/// 200 ms on, 50 ms off, loud enough for any VAD and never clipping.
pub fn synthetic() -> Arc<[i16]> {
    let rate = f64::from(SAMPLE_RATE);
    (0..SAMPLE_RATE as usize * 3)
        .map(|i| {
            let t = i as f64 / rate;
            let in_syllable = (i % 2000) < 1600;
            if !in_syllable {
                return 0;
            }
            let f0 = 140.0;
            let s = (TAU * f0 * t).sin()
                + 0.6 * (TAU * 5.0 * f0 * t).sin()
                + 0.3 * (TAU * 17.0 * f0 * t).sin();
            (s * 5000.0) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::vad::Vad;

    fn voiced_share(audio: &[i16]) -> f64 {
        let mut vad = Vad::new();
        let frames: Vec<bool> = audio.chunks(160).map(|f| vad.process(f)).collect();
        frames.iter().filter(|&&v| v).count() as f64 / frames.len() as f64
    }

    #[test]
    fn the_recorded_voice_is_speech() {
        let audio = load(&repo_path("prompts/vi"));
        assert!(audio.len() > 8000 * 3, "at least 3 s of speech");
        assert!(voiced_share(&audio[..8000 * 3]) > 0.8);
    }

    #[test]
    fn the_synthetic_voice_is_speech_too() {
        let audio = load(Path::new("/nonexistent/prompts"));
        assert_eq!(audio.len(), 8000 * 3);
        assert!(voiced_share(&audio) > 0.9);
    }
}
