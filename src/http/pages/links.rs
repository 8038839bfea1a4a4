//! The API addresses the pages point the browser at (audio, waveform,
//! clips, exports). They live here, in one place, because the handlers
//! behind them belong to the recordings module: when a route
//! moves, only this file changes, and the tests check what the pages link to.

use serde::Serialize;

/// The links of one call's review page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Links {
    /// The call's recording as `audio/wav`, with Range support for seeking.
    pub audio: String,
    /// The same file as an attachment.
    pub download: String,
    /// Min/max peaks per channel, JSON, for the waveform.
    pub waveform: String,
}

impl Links {
    pub fn for_call(call_id: &str) -> Links {
        let id = super::filters::url_encode(call_id);
        Links {
            audio: format!("/api/v1/calls/{id}/recording"),
            download: format!("/api/v1/calls/{id}/recording?download=1"),
            waveform: format!("/api/v1/calls/{id}/waveform"),
        }
    }

    /// A spoken-answer clip of the call (answer `key`).
    pub fn clip(call_id: &str, key: &str) -> String {
        format!(
            "/api/v1/calls/{}/clips/{}",
            super::filters::url_encode(call_id),
            super::filters::url_encode(key)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_encoded_in_paths() {
        let l = Links::for_call("a/b");
        assert_eq!(l.audio, "/api/v1/calls/a%2Fb/recording");
        assert_eq!(Links::clip("c1", "q3"), "/api/v1/calls/c1/clips/q3");
    }
}
