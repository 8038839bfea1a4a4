//! DTMF from RFC 4733 events, SIP INFO and in-band tones, merged into one digit stream.
//!
//! Peers differ: most trunks send RFC 4733 telephone-events, some older gateways send SIP
//! INFO, and a few only pass the tones as audio. Each source has its own decoder that
//! yields `char` digits (`0-9 * # A-D`); [`stream::DigitStream`] merges them so a peer
//! sending two at once still gives one key press to the IVR.

pub mod inband;
pub mod info;
pub mod rfc4733;
pub mod stream;

pub use inband::Detector;
pub use info::{DtmfInfoError, parse_info};
pub use rfc4733::EventReceiver;
pub use stream::{DigitStream, DtmfSource};

/// Map an RFC 4733 §3.2 DTMF event code (0–15) to its key.
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// Inverse of [`event_to_digit`], for tests and for senders.
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        'a'..='d' => Some(digit as u8 - b'a' + 12),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_codes_map_both_ways() {
        let keys = "0123456789*#ABCD";
        for (code, key) in keys.chars().enumerate() {
            assert_eq!(event_to_digit(code as u8), Some(key));
            assert_eq!(digit_to_event(key), Some(code as u8));
        }
        assert_eq!(event_to_digit(16), None); // flash
        assert_eq!(digit_to_event('x'), None);
    }
}
