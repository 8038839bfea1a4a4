//! The citizen's call's side of a bridge: the hunt for an operator in
//! progress, then the leg to the one who answered. The call's select loop
//! waits on [`OperatorSide::next`] beside its SIP, RTP and tick branches, so
//! looking for an operator never stalls the media (the hold prompt plays).

use std::future::pending;

use tokio::sync::mpsc;
use tracing::{debug, info};

use crate::bridge::{Connected, Frame, Hunt, LegCommand, LegEvent};
use crate::store::OperatorId;

/// What happened on the operator side.
#[derive(Debug)]
pub(super) enum OperatorUpdate {
    /// The hunt ended: an operator answered, or nobody did in time.
    Found(Option<Connected>),
    /// The leg reported something; `None` when the leg task is gone.
    Leg(Option<LegEvent>),
    /// 20 ms of the operator's voice.
    Audio(Frame),
}

/// The sending half of a connected leg.
#[derive(Debug)]
struct Link {
    operator: OperatorId,
    to_operator: mpsc::Sender<Frame>,
    commands: mpsc::Sender<LegCommand>,
}

#[derive(Debug, Default)]
pub(super) struct OperatorSide {
    hunt: Option<Hunt>,
    events: Option<mpsc::Receiver<LegEvent>>,
    audio: Option<mpsc::Receiver<Frame>>,
    link: Option<Link>,
}

impl OperatorSide {
    pub fn start_hunt(&mut self, hunt: Hunt) {
        self.hunt = Some(hunt);
    }

    /// Takes over the leg of the operator who answered.
    pub fn connect(&mut self, conn: Connected) {
        let leg = conn.leg;
        self.events = Some(leg.events);
        self.audio = Some(leg.from_operator);
        self.link = Some(Link {
            operator: leg.operator,
            to_operator: leg.to_operator,
            commands: leg.commands,
        });
    }

    /// The next update; pending forever when there is nothing to wait for.
    /// Cancel-safe (oneshot and mpsc receivers), as `select!` needs.
    pub async fn next(&mut self) -> OperatorUpdate {
        tokio::select! {
            found = async {
                match self.hunt.as_mut() {
                    Some(h) => h.await,
                    None => pending().await,
                }
            } => {
                self.hunt = None;
                OperatorUpdate::Found(found.ok().flatten())
            }
            ev = async {
                match self.events.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => pending().await,
                }
            } => {
                if ev.is_none() {
                    self.events = None;
                    self.audio = None;
                }
                OperatorUpdate::Leg(ev)
            }
            Some(frame) = async {
                match self.audio.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => pending().await,
                }
            } => OperatorUpdate::Audio(frame),
        }
    }

    /// The citizen's audio of this tick, to the operator. Never waits.
    pub fn send_audio(&self, frame: &Frame) {
        if let Some(l) = &self.link {
            let _ = l.to_operator.try_send(*frame);
        }
    }

    /// A key the citizen pressed, passed on to the operator.
    pub fn send_digit(&self, digit: char) {
        if let Some(l) = &self.link {
            debug!(%digit, "citizen key to the operator");
            let _ = l.commands.try_send(LegCommand::Digit(digit));
        }
    }

    /// Ends the operator's leg (BYE, or CANCEL while ringing) and stops
    /// listening to it; a hunt in progress is abandoned. Returns the
    /// operator who was connected, for their wrap-up.
    pub fn hang_up(&mut self) -> Option<OperatorId> {
        self.hunt = None;
        self.events = None;
        self.audio = None;
        let link = self.link.take()?;
        if link.commands.try_send(LegCommand::Hangup).is_ok() {
            info!("ending the operator's leg");
        }
        Some(link.operator)
    }
}
