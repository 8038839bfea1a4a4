//! The contract between a citizen's call and an operator leg.
//!
//! The citizen's call task holds a [`LegHandle`]; the operator leg's task (SIP
//! UAC to a registered phone, or a WebRTC peer connection) holds the matching
//! [`LegPeer`]. Audio channels are small and lossy on purpose: a frame that
//! cannot be queued is dropped (a late frame is worse than a missing one in a
//! conversation), and neither side ever waits on the other's audio.

use tokio::sync::mpsc;

use crate::media::codec::FRAME_SAMPLES;
use crate::store::OperatorId;

/// 20 ms of 8 kHz, 16-bit linear PCM.
pub type Frame = [i16; FRAME_SAMPLES];

/// Frames queued before the oldest are dropped: 100 ms.
pub const AUDIO_QUEUE: usize = 5;

/// How the operator is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LegKind {
    /// A SIP phone registered with the built-in registrar.
    Sip,
    /// The browser softphone (WebRTC).
    WebRtc,
}

/// What the operator leg reports to the citizen's call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    /// The operator picked up: start relaying audio.
    Answered,
    /// The operator could not be reached or declined (the reason is logged
    /// and recorded; the citizen's dialplan takes its fallback).
    Failed { reason: String },
    /// A digit the operator pressed, to pass on to the citizen's side.
    Digit(char),
    /// The operator put the citizen on hold (true) or resumed (false).
    Hold(bool),
    /// The operator hung up (or the leg died).
    Hangup { reason: String },
}

/// What the citizen's side (or the operator's screen) asks of the leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegCommand {
    /// The citizen hung up, or the call is over: end the operator's leg.
    Hangup,
    /// A digit the citizen pressed, to pass on to the operator.
    Digit(char),
}

/// The citizen's call's end of the leg.
#[derive(Debug)]
pub struct LegHandle {
    pub operator: OperatorId,
    pub kind: LegKind,
    /// Audio from the operator.
    pub from_operator: mpsc::Receiver<Frame>,
    /// Audio to the operator.
    pub to_operator: mpsc::Sender<Frame>,
    pub events: mpsc::Receiver<LegEvent>,
    pub commands: mpsc::Sender<LegCommand>,
}

/// The operator leg's end.
#[derive(Debug)]
pub struct LegPeer {
    pub operator: OperatorId,
    pub kind: LegKind,
    /// Audio to the citizen.
    pub to_citizen: mpsc::Sender<Frame>,
    /// Audio from the citizen.
    pub from_citizen: mpsc::Receiver<Frame>,
    pub events: mpsc::Sender<LegEvent>,
    pub commands: mpsc::Receiver<LegCommand>,
}

/// A connected pair of ends.
pub fn leg_channel(operator: OperatorId, kind: LegKind) -> (LegHandle, LegPeer) {
    let (to_op_tx, to_op_rx) = mpsc::channel(AUDIO_QUEUE);
    let (from_op_tx, from_op_rx) = mpsc::channel(AUDIO_QUEUE);
    let (ev_tx, ev_rx) = mpsc::channel(32);
    let (cmd_tx, cmd_rx) = mpsc::channel(32);
    (
        LegHandle {
            operator: operator.clone(),
            kind,
            from_operator: from_op_rx,
            to_operator: to_op_tx,
            events: ev_rx,
            commands: cmd_tx,
        },
        LegPeer {
            operator,
            kind,
            to_citizen: from_op_tx,
            from_citizen: to_op_rx,
            events: ev_tx,
            commands: cmd_rx,
        },
    )
}

impl LegHandle {
    /// Sends a frame to the operator, dropping it if the leg is behind.
    pub fn send_audio(&self, frame: &Frame) {
        let _ = self.to_operator.try_send(*frame);
    }
}

impl LegPeer {
    /// Sends a frame to the citizen, dropping it if the call is behind.
    pub fn send_audio(&self, frame: &Frame) {
        let _ = self.to_citizen.try_send(*frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_flow_both_ways_and_overflow_drops() {
        let (mut h, mut p) = leg_channel(OperatorId("op".into()), LegKind::Sip);
        let a = [1i16; FRAME_SAMPLES];
        let b = [2i16; FRAME_SAMPLES];
        h.send_audio(&a);
        p.send_audio(&b);
        assert_eq!(p.from_citizen.recv().await.unwrap()[0], 1);
        assert_eq!(h.from_operator.recv().await.unwrap()[0], 2);
        for _ in 0..AUDIO_QUEUE + 3 {
            h.send_audio(&a);
        }
        let mut n = 0;
        while p.from_citizen.try_recv().is_ok() {
            n += 1;
        }
        assert_eq!(n, AUDIO_QUEUE, "never blocks, keeps at most the queue");
        p.events.send(LegEvent::Answered).await.unwrap();
        assert_eq!(h.events.recv().await, Some(LegEvent::Answered));
        h.commands.send(LegCommand::Digit('5')).await.unwrap();
        assert_eq!(p.commands.recv().await, Some(LegCommand::Digit('5')));
    }
}
