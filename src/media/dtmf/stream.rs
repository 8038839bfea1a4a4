//! One digit stream from several DTMF sources.
//!
//! Some peers send a key both as RFC 4733 events and as in-band tones (or as INFO too).
//! The IVR must see one press, so a digit equal to the last accepted one but from a
//! *different* source within [`DUPLICATE_WINDOW`] is dropped. Repeats from the *same*
//! source are genuine presses: each decoder already collapses its own repeats.

use std::time::{Duration, Instant};

/// How close two reports of the same key from different sources must be to count as
/// one press. In-band detection lags RFC 4733 by a tone's minimum duration (~40 ms) plus
/// jitter; a human cannot press the same key twice within 300 ms on two channels.
pub const DUPLICATE_WINDOW: Duration = Duration::from_millis(300);

/// Where a digit came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DtmfSource {
    /// RTP telephone-event (RFC 4733).
    Rfc4733,
    /// SIP INFO body.
    Info,
    /// Tones detected in the audio.
    Inband,
}

/// Merges digits from all sources of one call leg.
#[derive(Clone, Debug, Default)]
pub struct DigitStream {
    last: Option<(char, DtmfSource, Instant)>,
}

impl DigitStream {
    /// An empty stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offer a digit; returns it unless it duplicates the last accepted one.
    pub fn push(&mut self, digit: char, source: DtmfSource, now: Instant) -> Option<char> {
        if let Some((d, s, at)) = self.last
            && d == digit
            && s != source
            && now.saturating_duration_since(at) < DUPLICATE_WINDOW
        {
            return None;
        }
        self.last = Some((digit, source, now));
        Some(digit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_source_duplicates_are_merged() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut s = DigitStream::new();
        assert_eq!(s.push('5', DtmfSource::Rfc4733, t0), Some('5'));
        assert_eq!(s.push('5', DtmfSource::Inband, ms(60)), None);
        assert_eq!(s.push('5', DtmfSource::Info, ms(120)), None);
        // Same source again is a new press, even quickly.
        assert_eq!(s.push('5', DtmfSource::Rfc4733, ms(200)), Some('5'));
        // A different digit always passes.
        assert_eq!(s.push('6', DtmfSource::Inband, ms(210)), Some('6'));
        // Same digit, other source, but outside the window: a new press.
        assert_eq!(s.push('6', DtmfSource::Rfc4733, ms(510)), Some('6'));
    }

    #[test]
    fn inband_first_then_rfc4733_is_one_press() {
        let t0 = Instant::now();
        let mut s = DigitStream::new();
        assert_eq!(s.push('#', DtmfSource::Inband, t0), Some('#'));
        assert_eq!(
            s.push('#', DtmfSource::Rfc4733, t0 + Duration::from_millis(299)),
            None
        );
    }
}
