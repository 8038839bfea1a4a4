//! One softphone page's call state, without I/O: a call rings, is accepted,
//! held, ended from either side or times out. Inputs come with the time; the
//! returned [`Action`]s are carried out by the driver ([`super::session`]).

use std::time::{Duration, Instant};

use super::protocol::{ClientMsg, PhoneStatus, RingInfo, ServerMsg};
use crate::bridge::{LegCommand, LegEvent};

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A message for the page.
    Send(ServerMsg),
    /// An event for the citizen's side of the leg.
    Report(LegEvent),
    /// Start (true) or stop (false) relaying the call's audio.
    Relay(bool),
    /// Stop (true) or resume (false) passing the operator's voice on.
    Mute(bool),
    /// The leg is over: drop it (after the reports above).
    EndLeg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Ringing { call: u64, until: Instant },
    Connected { call: u64, held: bool },
}

/// The page's call state.
#[derive(Debug)]
pub struct Phone {
    state: State,
    media_up: bool,
    next_call: u64,
    ring_timeout: Duration,
}

/// Keys a page may send: RFC 4733 §3.2 events 0–15.
fn is_dtmf(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')
}

impl Phone {
    pub fn new(ring_timeout: Duration) -> Phone {
        Phone {
            state: State::Idle,
            media_up: false,
            next_call: 1,
            ring_timeout,
        }
    }

    /// The state message for the page.
    pub fn status(&self) -> ServerMsg {
        let phone = match self.state {
            State::Idle => PhoneStatus::Idle,
            State::Ringing { .. } => PhoneStatus::Ringing,
            State::Connected { held: false, .. } => PhoneStatus::Connected,
            State::Connected { held: true, .. } => PhoneStatus::Held,
        };
        ServerMsg::State {
            phone,
            media: self.media_up,
        }
    }

    /// Whether a call may ring now: idle, with the audio path up.
    pub fn can_ring(&self) -> bool {
        self.state == State::Idle && self.media_up
    }

    /// When [`Self::on_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Ringing { until, .. } => Some(until),
            _ => None,
        }
    }

    /// Offers a call; `None` when the page cannot take it (busy, no audio).
    pub fn ring(&mut self, info: RingInfo, now: Instant) -> Option<Vec<Action>> {
        if !self.can_ring() {
            return None;
        }
        let call = self.next_call;
        self.next_call += 1;
        self.state = State::Ringing {
            call,
            until: now + self.ring_timeout,
        };
        Some(vec![
            Action::Send(ServerMsg::Ring {
                call,
                dossier: info,
            }),
            Action::Send(self.status()),
        ])
    }

    /// A message from the page (not the offer, which the driver handles).
    pub fn on_page(&mut self, msg: ClientMsg) -> Vec<Action> {
        match (msg, self.state) {
            (ClientMsg::Accept, State::Ringing { call, .. }) => {
                self.state = State::Connected { call, held: false };
                vec![
                    Action::Relay(true),
                    Action::Report(LegEvent::Answered),
                    Action::Send(ServerMsg::Connected { call }),
                    Action::Send(self.status()),
                ]
            }
            (ClientMsg::Reject | ClientMsg::Hangup, State::Ringing { call, .. }) => {
                self.fail(call, "declined", "the operator declined the call")
            }
            (ClientMsg::Hangup, State::Connected { call, .. }) => {
                self.end(call, "operator_hangup", true)
            }
            (ClientMsg::Digit { digit }, State::Connected { .. }) if is_dtmf(digit) => {
                vec![Action::Report(LegEvent::Digit(digit))]
            }
            (ClientMsg::Hold { on }, State::Connected { call, held }) if on != held => {
                self.state = State::Connected { call, held: on };
                vec![
                    Action::Mute(on),
                    Action::Report(LegEvent::Hold(on)),
                    Action::Send(self.status()),
                ]
            }
            (ClientMsg::Hold { .. }, State::Connected { .. }) => vec![],
            (msg, _) => vec![Action::Send(ServerMsg::Error {
                message: format!("{msg:?} is not possible now"),
            })],
        }
    }

    /// A command from the citizen's side.
    pub fn on_leg(&mut self, cmd: LegCommand) -> Vec<Action> {
        match (cmd, self.state) {
            (LegCommand::Hangup, State::Ringing { call, .. }) => {
                self.state = State::Idle;
                vec![
                    Action::EndLeg,
                    Action::Send(ServerMsg::Ended {
                        call,
                        reason: "cancelled".into(),
                    }),
                    Action::Send(self.status()),
                ]
            }
            (LegCommand::Hangup, State::Connected { call, .. }) => {
                self.end(call, "citizen_hangup", false)
            }
            (LegCommand::Digit(digit), State::Connected { .. }) => {
                vec![Action::Send(ServerMsg::Digit { digit })]
            }
            _ => vec![],
        }
    }

    /// The leg's command channel closed: the citizen's side is gone.
    pub fn on_leg_gone(&mut self) -> Vec<Action> {
        self.on_leg(LegCommand::Hangup)
    }

    /// Time passed: a ring not answered in time fails.
    pub fn on_timeout(&mut self, now: Instant) -> Vec<Action> {
        match self.state {
            State::Ringing { call, until } if now >= until => {
                let why = format!("not answered in {} s", self.ring_timeout.as_secs());
                self.fail(call, "no_answer", &why)
            }
            _ => vec![],
        }
    }

    /// The audio path came up or went down.
    pub fn on_media(&mut self, up: bool) -> Vec<Action> {
        self.media_up = up;
        let mut out = match (up, self.state) {
            (false, State::Ringing { call, .. }) => {
                self.fail(call, "media_lost", "the page's audio connection was lost")
            }
            (false, State::Connected { call, .. }) => self.end(call, "media_lost", true),
            _ => vec![],
        };
        out.push(Action::Send(self.status()));
        out
    }

    /// The page went away; what is left of a call ends.
    pub fn on_closed(&mut self) -> Vec<Action> {
        match self.state {
            State::Ringing { call, .. } => self.fail(call, "page_closed", "the page was closed"),
            State::Connected { call, .. } => self.end(call, "page_closed", true),
            State::Idle => vec![],
        }
    }

    fn fail(&mut self, call: u64, reason: &str, why: &str) -> Vec<Action> {
        self.state = State::Idle;
        vec![
            Action::Report(LegEvent::Failed {
                reason: why.to_string(),
            }),
            Action::EndLeg,
            Action::Send(ServerMsg::Ended {
                call,
                reason: reason.into(),
            }),
            Action::Send(self.status()),
        ]
    }

    /// Ends a connected call; `report` when the citizen's side must be told.
    fn end(&mut self, call: u64, reason: &str, report: bool) -> Vec<Action> {
        self.state = State::Idle;
        let mut out = vec![Action::Relay(false)];
        if report {
            out.push(Action::Report(LegEvent::Hangup {
                reason: reason.into(),
            }));
        }
        out.extend([
            Action::EndLeg,
            Action::Send(ServerMsg::Ended {
                call,
                reason: reason.into(),
            }),
            Action::Send(self.status()),
        ]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(now: Instant) -> Phone {
        let mut p = Phone::new(Duration::from_secs(20));
        assert!(p.ring(RingInfo::default(), now).is_none(), "no audio yet");
        p.on_media(true);
        p
    }

    fn reports(a: &[Action]) -> Vec<LegEvent> {
        a.iter()
            .filter_map(|a| match a {
                Action::Report(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn ring_accept_hold_digit_hangup() {
        let t0 = Instant::now();
        let mut p = ready(t0);
        let a = p.ring(RingInfo::default(), t0).unwrap();
        assert!(matches!(
            a[0],
            Action::Send(ServerMsg::Ring { call: 1, .. })
        ));
        assert!(
            p.ring(RingInfo::default(), t0).is_none(),
            "busy while ringing"
        );
        let a = p.on_page(ClientMsg::Accept);
        assert_eq!(a[0], Action::Relay(true));
        assert_eq!(reports(&a), vec![LegEvent::Answered]);
        assert_eq!(p.poll_timeout(), None, "no ring timer once connected");
        let a = p.on_page(ClientMsg::Hold { on: true });
        assert_eq!(a[0], Action::Mute(true));
        assert_eq!(reports(&a), vec![LegEvent::Hold(true)]);
        assert!(p.on_page(ClientMsg::Hold { on: true }).is_empty());
        assert_eq!(
            reports(&p.on_page(ClientMsg::Digit { digit: '7' })),
            vec![LegEvent::Digit('7')]
        );
        assert!(matches!(
            p.on_page(ClientMsg::Digit { digit: 'x' })[0],
            Action::Send(ServerMsg::Error { .. })
        ));
        assert_eq!(
            p.on_leg(LegCommand::Digit('3')),
            vec![Action::Send(ServerMsg::Digit { digit: '3' })]
        );
        let a = p.on_page(ClientMsg::Hangup);
        assert_eq!(
            reports(&a),
            vec![LegEvent::Hangup {
                reason: "operator_hangup".into()
            }]
        );
        assert!(a.contains(&Action::EndLeg));
        assert!(p.can_ring());
        let a = p.ring(RingInfo::default(), t0).unwrap();
        assert!(matches!(
            a[0],
            Action::Send(ServerMsg::Ring { call: 2, .. })
        ));
    }

    #[test]
    fn unanswered_ring_fails_at_the_timeout_and_not_before() {
        let t0 = Instant::now();
        let mut p = ready(t0);
        p.ring(RingInfo::default(), t0).unwrap();
        assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_secs(20)));
        assert!(p.on_timeout(t0 + Duration::from_secs(19)).is_empty());
        let a = p.on_timeout(t0 + Duration::from_secs(20));
        assert!(
            matches!(&reports(&a)[..], [LegEvent::Failed { reason }] if reason.contains("20 s"))
        );
        assert!(a.contains(&Action::EndLeg));
        assert!(p.can_ring());
    }

    #[test]
    fn citizen_hangup_and_page_loss_end_the_call() {
        let t0 = Instant::now();
        let mut p = ready(t0);
        p.ring(RingInfo::default(), t0).unwrap();
        let a = p.on_leg(LegCommand::Hangup);
        assert!(reports(&a).is_empty(), "the citizen's side already knows");
        assert!(a.contains(&Action::Send(ServerMsg::Ended {
            call: 1,
            reason: "cancelled".into()
        })));
        p.ring(RingInfo::default(), t0).unwrap();
        p.on_page(ClientMsg::Accept);
        let a = p.on_leg(LegCommand::Hangup);
        assert_eq!(a[0], Action::Relay(false));
        assert!(reports(&a).is_empty());
        p.ring(RingInfo::default(), t0).unwrap();
        p.on_page(ClientMsg::Accept);
        let a = p.on_media(false);
        assert_eq!(
            reports(&a),
            vec![LegEvent::Hangup {
                reason: "media_lost".into()
            }]
        );
        assert!(!p.can_ring(), "no audio, no ring");
        p.on_media(true);
        p.ring(RingInfo::default(), t0).unwrap();
        assert!(matches!(
            &reports(&p.on_closed())[..],
            [LegEvent::Failed { .. }]
        ));
        assert!(matches!(
            p.on_page(ClientMsg::Accept)[0],
            Action::Send(ServerMsg::Error { .. })
        ));
    }
}
