//! The media hub: one UDP socket and one task for every browser's `Rtc`.
//!
//! Datagrams are demultiplexed the way str0m suggests for a server: each
//! session is asked whether it [`accepts`](super::media::MediaSession::accepts)
//! the datagram (its nominated pair's address, or a STUN request carrying its
//! ICE ufrag, RFC 8445 §7.3). One 20 ms tick paces the citizen's frames to
//! every connected page. Sessions are opened, attached to a call's audio and
//! closed over a command channel; the task ends when every handle is gone.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::Input;
use str0m::net::{Protocol, Receive};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

use super::WebRtcError;
use super::media::{MediaSession, MediaSink};
use crate::bridge::Frame;
use crate::config::WebRtcConfig;
use crate::media::codec::FRAME_SAMPLES;

/// A session's id in the hub (one per page connection).
pub type SessionId = u64;

enum HubCmd {
    Open {
        id: SessionId,
        sdp: String,
        /// ICE/DTLS up (true) or down (false).
        events: mpsc::Sender<bool>,
        reply: oneshot::Sender<Result<String, WebRtcError>>,
    },
    Attach {
        id: SessionId,
        to_citizen: mpsc::Sender<Frame>,
        from_citizen: mpsc::Receiver<Frame>,
    },
    Detach {
        id: SessionId,
    },
    Mute {
        id: SessionId,
        on: bool,
    },
    Close {
        id: SessionId,
    },
}

/// A handle on the hub task.
#[derive(Debug, Clone)]
pub struct HubHandle {
    tx: mpsc::Sender<HubCmd>,
    /// The address announced to browsers.
    pub candidate: SocketAddr,
}

impl HubHandle {
    /// Binds `webrtc.bind` and starts the hub task.
    pub async fn start(config: &WebRtcConfig) -> Result<HubHandle, WebRtcError> {
        let err = |source| WebRtcError::Bind {
            addr: config.bind.clone(),
            source,
        };
        let socket = UdpSocket::bind(&config.bind).await.map_err(err)?;
        let local = socket.local_addr().map_err(err)?;
        let candidate = config
            .candidate_addr(local.port())
            .ok_or(WebRtcError::NoCandidate)?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(run(socket, rx, candidate));
        tracing::info!(%local, %candidate, "WebRTC media socket ready");
        Ok(HubHandle { tx, candidate })
    }

    async fn send(&self, cmd: HubCmd) -> Result<(), WebRtcError> {
        self.tx.send(cmd).await.map_err(|_| WebRtcError::HubGone)
    }

    /// Opens (or replaces) session `id` with the page's offer; returns the answer.
    pub async fn open(
        &self,
        id: SessionId,
        sdp: String,
        events: mpsc::Sender<bool>,
    ) -> Result<String, WebRtcError> {
        let (reply, answer) = oneshot::channel();
        self.send(HubCmd::Open {
            id,
            sdp,
            events,
            reply,
        })
        .await?;
        answer.await.map_err(|_| WebRtcError::HubGone)?
    }

    /// Starts relaying the session's audio to and from a call.
    pub async fn attach(
        &self,
        id: SessionId,
        to_citizen: mpsc::Sender<Frame>,
        from_citizen: mpsc::Receiver<Frame>,
    ) -> Result<(), WebRtcError> {
        self.send(HubCmd::Attach {
            id,
            to_citizen,
            from_citizen,
        })
        .await
    }

    /// Stops relaying (the call ended); the peer connection stays up.
    pub async fn detach(&self, id: SessionId) -> Result<(), WebRtcError> {
        self.send(HubCmd::Detach { id }).await
    }

    /// Hold: while `on`, the operator's microphone is not passed on.
    pub async fn mute(&self, id: SessionId, on: bool) -> Result<(), WebRtcError> {
        self.send(HubCmd::Mute { id, on }).await
    }

    /// Ends the session (the page closed).
    pub async fn close(&self, id: SessionId) {
        let _ = self.send(HubCmd::Close { id }).await;
    }
}

struct Relay {
    to_citizen: mpsc::Sender<Frame>,
    from_citizen: mpsc::Receiver<Frame>,
    muted: bool,
}

struct Slot {
    id: SessionId,
    media: MediaSession,
    events: mpsc::Sender<bool>,
    relay: Option<Relay>,
}

/// Where one slot's output goes while its `Rtc` is drained.
struct SlotSink<'a> {
    socket: &'a UdpSocket,
    to_citizen: Option<&'a mpsc::Sender<Frame>>,
    events: &'a mpsc::Sender<bool>,
}

impl MediaSink for SlotSink<'_> {
    fn transmit(&mut self, to: SocketAddr, bytes: &[u8]) {
        // UDP: a full send buffer drops the datagram, as the network would.
        if let Err(e) = self.socket.try_send_to(bytes, to)
            && e.kind() != std::io::ErrorKind::WouldBlock
        {
            tracing::debug!(%to, error = %e, "WebRTC send failed");
        }
    }

    fn frame(&mut self, frame: &Frame) {
        if let Some(tx) = self.to_citizen {
            let _ = tx.try_send(*frame);
        }
    }

    fn connected(&mut self, up: bool) {
        let _ = self.events.try_send(up);
    }
}

impl Slot {
    fn sink<'a>(
        socket: &'a UdpSocket,
        relay: &'a Option<Relay>,
        events: &'a mpsc::Sender<bool>,
    ) -> SlotSink<'a> {
        SlotSink {
            socket,
            to_citizen: relay.as_ref().filter(|r| !r.muted).map(|r| &r.to_citizen),
            events,
        }
    }
}

/// The hub's state: the sessions and the address they are reached on.
struct Hub {
    socket: UdpSocket,
    candidate: SocketAddr,
    slots: Vec<Slot>,
}

async fn run(socket: UdpSocket, mut rx: mpsc::Receiver<HubCmd>, candidate: SocketAddr) {
    let mut hub = Hub {
        socket,
        candidate,
        slots: Vec::new(),
    };
    let mut buf = vec![0u8; 2048];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        let wake = hub
            .slots
            .iter()
            .map(|s| s.media.timeout())
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        tokio::select! {
            r = hub.socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => hub.receive(from, &buf[..n]),
                Err(e) => tracing::debug!(error = %e, "WebRTC socket receive"),
            },
            cmd = rx.recv() => match cmd {
                Some(cmd) => hub.command(cmd),
                None => break,
            },
            _ = tick.tick() => hub.pace(),
            _ = tokio::time::sleep_until(wake.into()) => hub.timeouts(),
        }
    }
    for s in &mut hub.slots {
        let Slot {
            media,
            relay,
            events,
            ..
        } = s;
        media.close(&mut Slot::sink(&hub.socket, relay, events));
    }
}

impl Hub {
    fn receive(&mut self, from: SocketAddr, bytes: &[u8]) {
        let Ok(recv) = Receive::new(Protocol::Udp, from, self.candidate, bytes) else {
            return;
        };
        let input = Input::Receive(Instant::now(), recv);
        let Some(slot) = self.slots.iter_mut().find(|s| s.media.accepts(&input)) else {
            return;
        };
        let Slot {
            id,
            media,
            relay,
            events,
        } = slot;
        if let Err(e) = media.handle(input, &mut Slot::sink(&self.socket, relay, events)) {
            tracing::debug!(session = *id, error = %e, "WebRTC input refused");
        }
    }

    fn timeouts(&mut self) {
        let now = Instant::now();
        for s in &mut self.slots {
            let Slot {
                media,
                relay,
                events,
                ..
            } = s;
            let _ = media.poll_timeout(now, &mut Slot::sink(&self.socket, relay, events));
        }
        self.slots.retain(|s| s.media.is_alive());
    }

    /// One 20 ms tick: each attached, connected page gets the citizen's next
    /// frame, or silence when none is queued (the page's jitter buffer keeps
    /// its pace either way).
    fn pace(&mut self) {
        const SILENCE: Frame = [0; FRAME_SAMPLES];
        let now = Instant::now();
        for s in &mut self.slots {
            let Slot {
                media,
                relay,
                events,
                ..
            } = s;
            let Some(r) = relay.as_mut() else { continue };
            if !media.is_connected() {
                continue;
            }
            let frame = match r.from_citizen.try_recv() {
                Ok(f) => f,
                Err(mpsc::error::TryRecvError::Empty) => SILENCE,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    *relay = None;
                    continue;
                }
            };
            let _ = media.send_frame(now, &frame, &mut Slot::sink(&self.socket, relay, events));
        }
    }

    fn command(&mut self, cmd: HubCmd) {
        match cmd {
            HubCmd::Open {
                id,
                sdp,
                events,
                reply,
            } => {
                self.close(id);
                let _ = reply.send(self.open(id, &sdp, events));
            }
            HubCmd::Attach {
                id,
                to_citizen,
                from_citizen,
            } => {
                if let Some(s) = self.slots.iter_mut().find(|s| s.id == id) {
                    s.relay = Some(Relay {
                        to_citizen,
                        from_citizen,
                        muted: false,
                    });
                }
            }
            HubCmd::Detach { id } => {
                if let Some(s) = self.slots.iter_mut().find(|s| s.id == id) {
                    s.relay = None;
                }
            }
            HubCmd::Mute { id, on } => {
                if let Some(r) = self
                    .slots
                    .iter_mut()
                    .find(|s| s.id == id)
                    .and_then(|s| s.relay.as_mut())
                {
                    r.muted = on;
                }
            }
            HubCmd::Close { id } => self.close(id),
        }
    }

    fn open(
        &mut self,
        id: SessionId,
        sdp: &str,
        events: mpsc::Sender<bool>,
    ) -> Result<String, WebRtcError> {
        let mut media = MediaSession::new(self.candidate, Instant::now())?;
        let answer = media.accept_offer(sdp, &mut Slot::sink(&self.socket, &None, &events))?;
        self.slots.push(Slot {
            id,
            media,
            events,
            relay: None,
        });
        Ok(answer)
    }

    fn close(&mut self, id: SessionId) {
        if let Some(i) = self.slots.iter().position(|s| s.id == id) {
            let mut s = self.slots.swap_remove(i);
            s.media
                .close(&mut Slot::sink(&self.socket, &None, &s.events));
        }
    }
}
