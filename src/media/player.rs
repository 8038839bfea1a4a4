//! Prompt playback as 20 ms frames, without I/O.
//!
//! The media tick asks for one frame of 160 samples (8 kHz × 20 ms) per call leg;
//! the player answers from a queue of decoded prompts. Queued prompts play back to
//! back with no gap, even inside one frame, so a sentence assembled from pieces
//! ("…gọi về hồ sơ" + "thuộc lĩnh vực" + "đất đai") sounds continuous. The queue
//! holds `Arc`s shared with the prompt cache: enqueueing copies no audio and
//! `next_frame` allocates nothing.

use std::collections::VecDeque;
use std::sync::Arc;

/// Samples per 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

/// Plays queued prompts frame by frame.
#[derive(Debug)]
pub struct Player {
    queue: VecDeque<Arc<[i16]>>,
    /// Samples of `queue[0]` already played.
    pos: usize,
    /// Something was enqueued since the last drain (or stop).
    pending: bool,
    /// The queue drained and nobody has taken the news yet.
    finished: bool,
}

impl Default for Player {
    fn default() -> Self {
        Self::new()
    }
}

impl Player {
    pub fn new() -> Self {
        Self {
            // Room for a greeting assembled from several pieces without growing.
            queue: VecDeque::with_capacity(8),
            pos: 0,
            pending: false,
            finished: false,
        }
    }

    /// Queues `audio` (8 kHz mono) after whatever is already queued.
    pub fn enqueue(&mut self, audio: Arc<[i16]>) {
        self.queue.push_back(audio);
        self.pending = true;
        self.finished = false;
    }

    /// Barge-in: drops everything queued, including the prompt mid-way. A stopped
    /// playback does not count as finished (the IVR stopped it, it knows).
    pub fn stop(&mut self) {
        self.queue.clear();
        self.pos = 0;
        self.pending = false;
        self.finished = false;
    }

    /// Fills `out` with the next 20 ms. Returns `false` (and writes silence) when
    /// there is nothing to play; when the last prompt ends mid-frame, the rest of
    /// the frame is silence and the call still returns `true`.
    pub fn next_frame(&mut self, out: &mut [i16; FRAME_SAMPLES]) -> bool {
        let mut filled = 0;
        while filled < FRAME_SAMPLES {
            let Some(current) = self.queue.front() else {
                break;
            };
            let left = &current[self.pos..];
            let n = left.len().min(FRAME_SAMPLES - filled);
            out[filled..filled + n].copy_from_slice(&left[..n]);
            filled += n;
            self.pos += n;
            if self.pos == current.len() {
                self.queue.pop_front();
                self.pos = 0;
            }
        }
        out[filled..].fill(0);
        if self.queue.is_empty() && self.pending {
            self.pending = false;
            self.finished = true;
        }
        filled > 0
    }

    /// Whether audio remains to be played.
    pub fn is_playing(&self) -> bool {
        !self.queue.is_empty()
    }

    /// `true` exactly once after the queue drained, so the IVR gets one
    /// `PlaybackFinished` per run of prompts.
    pub fn take_finished(&mut self) -> bool {
        std::mem::take(&mut self.finished)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(start: i16, len: usize) -> Arc<[i16]> {
        (0..len).map(|i| start + i as i16).collect()
    }

    #[test]
    fn idle_player_writes_silence_and_reports_idle() {
        let mut p = Player::new();
        let mut out = [7i16; FRAME_SAMPLES];
        assert!(!p.next_frame(&mut out));
        assert_eq!(out, [0; FRAME_SAMPLES]);
        assert!(!p.is_playing());
        assert!(!p.take_finished());
    }

    #[test]
    fn prompts_play_back_to_back_then_pad_with_silence() {
        let mut p = Player::new();
        p.enqueue(ramp(1, 100));
        p.enqueue(ramp(1000, 150));
        let mut out = [0i16; FRAME_SAMPLES];

        assert!(p.next_frame(&mut out));
        assert_eq!(out[..100], *ramp(1, 100));
        assert_eq!(out[100..], ramp(1000, 60)[..]);
        assert!(p.is_playing());
        assert!(!p.take_finished());

        out.fill(9);
        assert!(p.next_frame(&mut out));
        assert_eq!(out[..90], ramp(1060, 90)[..]);
        assert!(out[90..].iter().all(|&s| s == 0));
        assert!(!p.is_playing());
        assert!(p.take_finished());
        assert!(!p.take_finished(), "reported once");

        assert!(!p.next_frame(&mut out));
        assert!(!p.take_finished());
    }

    #[test]
    fn prompt_of_exact_frames_finishes_on_its_last_frame() {
        let mut p = Player::new();
        p.enqueue(ramp(0, 2 * FRAME_SAMPLES));
        let mut out = [0i16; FRAME_SAMPLES];
        assert!(p.next_frame(&mut out));
        assert!(!p.take_finished());
        assert!(p.next_frame(&mut out));
        assert!(p.take_finished());
        assert!(!p.next_frame(&mut out));
    }

    #[test]
    fn stop_clears_the_queue_without_a_finished_event() {
        let mut p = Player::new();
        p.enqueue(ramp(1, 1000));
        p.enqueue(ramp(1, 1000));
        let mut out = [0i16; FRAME_SAMPLES];
        p.next_frame(&mut out);
        p.stop();
        assert!(!p.is_playing());
        assert!(!p.next_frame(&mut out));
        assert_eq!(out, [0; FRAME_SAMPLES]);
        assert!(!p.take_finished());

        // A new prompt after barge-in starts from its beginning.
        p.enqueue(ramp(500, 10));
        assert!(p.next_frame(&mut out));
        assert_eq!(out[..10], *ramp(500, 10));
        assert!(p.take_finished());
    }

    #[test]
    fn empty_prompts_are_skipped() {
        let mut p = Player::new();
        p.enqueue(Arc::from(Vec::new()));
        p.enqueue(ramp(3, 5));
        let mut out = [0i16; FRAME_SAMPLES];
        assert!(p.next_frame(&mut out));
        assert_eq!(out[..5], *ramp(3, 5));
        assert!(p.take_finished());

        p.enqueue(Arc::from(Vec::new()));
        assert!(!p.next_frame(&mut out), "nothing audible");
        assert!(p.take_finished(), "but the IVR still hears it finished");
    }

    #[test]
    fn steady_state_does_not_reallocate_the_queue() {
        let mut p = Player::new();
        let cap = p.queue.capacity();
        let prompt = ramp(0, 480);
        let mut out = [0i16; FRAME_SAMPLES];
        for _ in 0..100 {
            p.enqueue(prompt.clone());
            while p.next_frame(&mut out) {}
        }
        assert_eq!(p.queue.capacity(), cap);
    }
}
