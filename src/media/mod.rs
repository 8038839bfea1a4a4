//! Media: RTP, G.711, DTMF, prompts, recording.

pub mod codec;
pub mod dtmf;
pub mod latch;
pub mod player;
pub mod prompt;
pub mod recorder;
pub mod rtp;
pub mod vad;
pub mod waveform;
