//! The softphone's signalling messages over the WebSocket, as JSON objects
//! tagged by `type`.
//!
//! The page offers once, when it opens (it owns the microphone track), and the
//! server answers: the media path is up before any call rings, so accepting a
//! call is instant. Calls then ring, connect and end on this channel alone.

use serde::{Deserialize, Serialize};

/// What the page sends.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// The page's SDP offer (RFC 8829 §5.2): one audio m-line with PCMU/PCMA.
    Offer { sdp: String },
    /// Pick up the ringing call.
    Accept,
    /// Decline the ringing call.
    Reject,
    /// Hang up the connected call (or decline a ringing one).
    Hangup,
    /// A key pressed on the page's keypad, passed to the citizen's side.
    Digit { digit: char },
    /// The hold button: `on` puts the citizen on hold, `false` resumes.
    Hold { on: bool },
}

/// The dossier behind a call, for the operator's screen while it rings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingInfo {
    /// The call's id in the store, when there is one.
    pub call_id: Option<String>,
    pub dossier_code: Option<String>,
    pub procedure: Option<String>,
    pub field: Option<String>,
    /// The unit (commune, district) that handled the dossier.
    pub place: Option<String>,
    pub received_at: Option<String>,
    pub returned_at: Option<String>,
    /// The citizen's name or number, already masked for the screen.
    pub citizen: Option<String>,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The answer to the page's offer.
    Answer { sdp: String },
    /// Where the page stands: `media` is true once ICE and DTLS are up.
    State { phone: PhoneStatus, media: bool },
    /// A call is offered; `call` names it in the messages that follow.
    Ring { call: u64, dossier: RingInfo },
    /// The call is connected: audio flows both ways.
    Connected { call: u64 },
    /// The call is over (or the ring was withdrawn).
    Ended { call: u64, reason: String },
    /// A digit the citizen pressed.
    Digit { digit: char },
    /// Something the page asked for could not be done.
    Error { message: String },
}

/// The softphone's own state, shown on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneStatus {
    Idle,
    Ringing,
    Connected,
    Held,
}

/// Parses one text frame from the page.
pub fn parse_client(text: &str) -> Result<ClientMsg, serde_json::Error> {
    serde_json::from_str(text)
}

/// One text frame for the page.
pub fn to_text(msg: &ServerMsg) -> String {
    // Serialising these plain enums cannot fail.
    serde_json::to_string(msg).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_by_type() {
        assert_eq!(
            parse_client(r#"{"type":"offer","sdp":"v=0"}"#).unwrap(),
            ClientMsg::Offer { sdp: "v=0".into() }
        );
        assert_eq!(
            parse_client(r#"{"type":"accept"}"#).unwrap(),
            ClientMsg::Accept
        );
        assert_eq!(
            parse_client(r##"{"type":"digit","digit":"#"}"##).unwrap(),
            ClientMsg::Digit { digit: '#' }
        );
        assert_eq!(
            parse_client(r#"{"type":"hold","on":true}"#).unwrap(),
            ClientMsg::Hold { on: true }
        );
        assert!(parse_client(r#"{"type":"dance"}"#).is_err());
        assert!(parse_client(r#"{"type":"digit","digit":"12"}"#).is_err());
    }

    #[test]
    fn server_messages_are_tagged_json() {
        let ring = ServerMsg::Ring {
            call: 7,
            dossier: RingInfo {
                dossier_code: Some("HS-001".into()),
                ..RingInfo::default()
            },
        };
        let v: serde_json::Value = serde_json::from_str(&to_text(&ring)).unwrap();
        assert_eq!(v["type"], "ring");
        assert_eq!(v["call"], 7);
        assert_eq!(v["dossier"]["dossier_code"], "HS-001");
        let st = to_text(&ServerMsg::State {
            phone: PhoneStatus::Held,
            media: true,
        });
        assert_eq!(st, r#"{"type":"state","phone":"held","media":true}"#);
    }
}
