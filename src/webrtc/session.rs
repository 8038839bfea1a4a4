//! The driver of one softphone page: its WebSocket, its media session in the
//! hub, the [`Phone`] state machine and the leg of the call it is on.
//!
//! It only moves messages: page frames and leg commands become [`Phone`]
//! inputs, and the returned actions become WebSocket frames, leg events and
//! hub commands.

use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::hub::{HubHandle, SessionId};
use super::phone::{Action, Phone};
use super::protocol::{ClientMsg, ServerMsg, parse_client, to_text};
use super::registry::{RingRequest, WebPhones};
use crate::bridge::{Frame, LegCommand, LegEvent};
use crate::store::OperatorId;

/// The call the page is on: the leg's control ends, and its audio ends until
/// they are handed to the hub.
struct Call {
    events: mpsc::Sender<LegEvent>,
    commands: mpsc::Receiver<LegCommand>,
    audio: Option<(mpsc::Sender<Frame>, mpsc::Receiver<Frame>)>,
}

struct Driver {
    id: SessionId,
    hub: HubHandle,
    phone: Phone,
    call: Option<Call>,
    out: Vec<String>,
}

/// Serves one page until it closes (or a newer page of the same operator
/// replaces it).
pub async fn run(socket: WebSocket, phones: WebPhones, op: OperatorId) {
    let (mut tx, mut rx) = socket.split();
    let hub = match phones.hub().await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "softphone unavailable");
            let msg = to_text(&ServerMsg::Error {
                message: e.to_string(),
            });
            let _ = tx.send(Message::Text(msg.into())).await;
            return;
        }
    };
    let (id, mut rings) = phones.register(&op).await;
    tracing::info!(operator = %op, session = id, "softphone page connected");
    let ring_timeout = Duration::from_secs(phones.config().ring_timeout_secs);
    let (media_tx, mut media_rx) = mpsc::channel(8);
    let mut d = Driver {
        id,
        hub,
        phone: Phone::new(ring_timeout),
        call: None,
        out: Vec::new(),
    };
    d.out.push(to_text(&d.phone.status()));
    loop {
        for text in d.out.drain(..) {
            if tx.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
        let wake = d.phone.poll_timeout();
        tokio::select! {
            msg = rx.next() => match msg {
                Some(Ok(Message::Text(t))) => d.on_text(&t, &media_tx).await,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            ring = rings.recv() => match ring {
                Some(r) => d.on_ring(r).await,
                None => {
                    d.out.push(to_text(&ServerMsg::Error {
                        message: "the softphone was opened in another window".into(),
                    }));
                    break;
                }
            },
            cmd = next_command(&mut d.call) => {
                let actions = match cmd {
                    Some(c) => d.phone.on_leg(c),
                    None => d.phone.on_leg_gone(),
                };
                d.apply(actions).await;
            }
            up = media_rx.recv() => {
                if let Some(up) = up {
                    let actions = d.phone.on_media(up);
                    d.apply(actions).await;
                }
            }
            _ = sleep_until(wake) => {
                let actions = d.phone.on_timeout(Instant::now());
                d.apply(actions).await;
            }
        }
    }
    let actions = d.phone.on_closed();
    d.apply(actions).await;
    for text in d.out.drain(..) {
        let _ = tx.send(Message::Text(text.into())).await;
    }
    d.hub.close(id).await;
    phones.unregister(&op, id).await;
    tracing::info!(operator = %op, session = id, "softphone page closed");
}

async fn next_command(call: &mut Option<Call>) -> Option<LegCommand> {
    match call {
        Some(c) => c.commands.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(when: Option<Instant>) {
    match when {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

impl Driver {
    async fn on_text(&mut self, text: &str, media_tx: &mpsc::Sender<bool>) {
        match parse_client(text) {
            Ok(ClientMsg::Offer { sdp }) => {
                let msg = match self.hub.open(self.id, sdp, media_tx.clone()).await {
                    Ok(sdp) => ServerMsg::Answer { sdp },
                    Err(e) => ServerMsg::Error {
                        message: e.to_string(),
                    },
                };
                self.out.push(to_text(&msg));
            }
            Ok(msg) => {
                let actions = self.phone.on_page(msg);
                self.apply(actions).await;
            }
            Err(e) => self.out.push(to_text(&ServerMsg::Error {
                message: format!("unreadable message: {e}"),
            })),
        }
    }

    async fn on_ring(&mut self, r: RingRequest) {
        let RingRequest { info, peer, reply } = r;
        match self.phone.ring(info, Instant::now()) {
            Some(actions) => {
                self.call = Some(Call {
                    events: peer.events,
                    commands: peer.commands,
                    audio: Some((peer.to_citizen, peer.from_citizen)),
                });
                let _ = reply.send(true);
                self.apply(actions).await;
            }
            None => {
                let _ = reply.send(false);
            }
        }
    }

    async fn apply(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send(m) => self.out.push(to_text(&m)),
                Action::Report(e) => {
                    if let Some(c) = &self.call {
                        let _ = c.events.send(e).await;
                    }
                }
                Action::Relay(true) => {
                    if let Some((to, from)) = self.call.as_mut().and_then(|c| c.audio.take()) {
                        let _ = self.hub.attach(self.id, to, from).await;
                    }
                }
                Action::Relay(false) => {
                    let _ = self.hub.detach(self.id).await;
                }
                Action::Mute(on) => {
                    let _ = self.hub.mute(self.id, on).await;
                }
                Action::EndLeg => self.call = None,
            }
        }
    }
}
