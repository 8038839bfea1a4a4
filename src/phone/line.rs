//! One incoming call on the simulated phone: the SIP side (ring, answer or
//! refuse, hang up) and the thin media loop around [`Script`] and [`Mouth`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TerminatedReason};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Header, HeadersExt, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use tokio::net::UdpSocket;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument, debug, info, warn};

use super::Shared;
use super::behaviour::{Behaviour, MAX_RING, RING_BEFORE_ANSWER};
use super::mouth::{MAX_PACKET, Mouth, TICK};
use super::script::{Action, Script, Step};
use crate::media::codec::{Codec, FRAME_SAMPLES};
use crate::media::rtp::{Latch, MediaSources, RtpPacket, RtpSender};
use crate::sip::agent::SipAgent;
use crate::sip::sdp::{self, Negotiated, SdpError, SessionDescription};

/// The phone takes either G.711 law; it answers with the caller's first choice.
const CODECS: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

/// How long to wait for the caller to answer our BYE.
const BYE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an answering call could not set up media.
#[derive(Debug, thiserror::Error)]
enum LineError {
    #[error("the INVITE's SDP offer is unusable: {0}")]
    Offer(#[from] SdpError),
    #[error("the INVITE's SDP offer is not UTF-8")]
    OfferEncoding,
    #[error("cannot open an RTP socket: {0}")]
    Socket(#[from] std::io::Error),
    #[error("SIP: {0}")]
    Sip(#[from] rsipstack::Error),
}

/// Takes an out-of-dialog INVITE and runs the call to its end.
pub(super) async fn take_call(agent: Arc<SipAgent>, mut tx: Transaction, shared: Arc<Shared>) {
    let user = tx.original.uri.auth.as_ref().map(|a| a.user.clone());
    let behaviour = Behaviour::for_user(user.as_deref());
    let call_id = tx
        .original
        .call_id_header()
        .map(|h| h.value().to_string())
        .unwrap_or_default();
    let span = tracing::info_span!("phone", call_id = %call_id, behaviour = behaviour.name());
    shared.active.fetch_add(1, Ordering::SeqCst);
    async {
        let dialogs = agent.dialogs().clone();
        let (state_tx, states) = dialogs.new_dialog_state_channel();
        let contact = contact_uri(&agent);
        let dialog = match dialogs.get_or_create_server_invite(&tx, state_tx, None, contact) {
            Ok(d) => d,
            Err(e) => {
                warn!(error = %e, "cannot create the dialog");
                tx.reply(StatusCode::ServerInternalError).await.ok();
                return;
            }
        };
        let offer = tx.original.body.clone();
        let mut server = dialog.clone();
        // The INVITE server transaction: sends our responses, takes ACK and CANCEL.
        tokio::spawn(async move {
            if let Err(e) = server.handle(&mut tx).await {
                debug!(error = %e, "INVITE transaction ended with an error");
            }
        });
        let line = Line {
            agent: &agent,
            shared: &shared,
            dialog: &dialog,
            states,
        };
        line.run(behaviour, &offer).await;
        dialogs.remove_dialog(&dialog.id());
    }
    .instrument(span)
    .await;
    shared.active.fetch_sub(1, Ordering::SeqCst);
}

fn contact_uri(agent: &SipAgent) -> Option<rsipstack::sip::Uri> {
    let addr = SocketAddr::new(agent.advertised_ip(), agent.local_addr().port());
    rsipstack::sip::Uri::try_from(format!("sip:phone@{addr}").as_str()).ok()
}

struct Line<'a> {
    agent: &'a SipAgent,
    shared: &'a Shared,
    dialog: &'a InviteDialog,
    states: DialogStateReceiver,
}

impl Line<'_> {
    async fn run(mut self, behaviour: Behaviour, offer: &[u8]) {
        match behaviour {
            Behaviour::Busy => self.refuse(StatusCode::BusyHere),
            Behaviour::Reject => self.refuse(StatusCode::Decline),
            Behaviour::NoAnswer => {
                self.ring();
                if !self.rings_until_cancelled(MAX_RING).await {
                    // RFC 3261 §21.4.18: nobody picked up.
                    self.refuse(StatusCode::TemporarilyUnavailable);
                }
            }
            Behaviour::Answer { steps, .. } => {
                self.ring();
                if self.rings_until_cancelled(RING_BEFORE_ANSWER).await {
                    return;
                }
                if let Err(e) = self.answer(offer, steps).await {
                    warn!(error = %e, "cannot answer");
                    if let Err(e) = self
                        .dialog
                        .reject(Some(StatusCode::NotAcceptableHere), None)
                    {
                        debug!(error = %e, "reject failed");
                    }
                }
            }
        }
    }

    fn refuse(&self, status: StatusCode) {
        info!(%status, "refusing the call");
        if let Err(e) = self.dialog.reject(Some(status), None) {
            warn!(error = %e, "cannot send the final response");
        }
    }

    fn ring(&self) {
        if let Err(e) = self.dialog.ringing(None, None) {
            warn!(error = %e, "cannot send 180 Ringing");
        }
    }

    /// Rings for `length`; `true` if the caller cancelled (rsipstack has then
    /// answered the INVITE with 487, RFC 3261 §9.2) or the phone shut down.
    async fn rings_until_cancelled(&mut self, length: Duration) -> bool {
        let deadline = tokio::time::sleep(length);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return false,
                _ = self.shared.cancel.cancelled() => {
                    self.refuse(StatusCode::TemporarilyUnavailable);
                    return true;
                }
                state = self.states.recv() => match state {
                    Some(DialogState::Terminated(_, reason)) => {
                        info!(?reason, "the caller gave up while ringing");
                        return true;
                    }
                    None => return true,
                    Some(_) => {}
                },
            }
        }
    }

    /// Answers with SDP, then talks until either side hangs up.
    async fn answer(&mut self, offer: &[u8], steps: &'static [Step]) -> Result<(), LineError> {
        let offer = std::str::from_utf8(offer).map_err(|_| LineError::OfferEncoding)?;
        let offer = SessionDescription::parse(offer)?;
        // The first G.711 codec the caller listed (RFC 3264 §6.1: the answerer
        // may follow the offerer's preference).
        let chosen = sdp::negotiate(&offer, &CODECS)?;
        let ip = self.agent.advertised_ip();
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        let port = socket.local_addr()?.port();
        let answer =
            sdp::answer_for_reoffer(&offer, &chosen, ip, port, rand::random::<u32>().into(), 0)?;
        let content_type = Header::ContentType("application/sdp".into());
        self.dialog
            .accept(Some(vec![content_type]), Some(answer.sdp.into_bytes()))?;
        let neg = answer.negotiated;
        info!(codec = neg.codec.name(), te = ?neg.telephone_event, remote = %neg.remote, "answered");
        self.talk(socket, neg, steps).await;
        Ok(())
    }

    /// The media loop: received audio feeds the script, the 20 ms tick sends
    /// one packet and takes the script's next action.
    async fn talk(&mut self, socket: UdpSocket, neg: Negotiated, steps: &'static [Step]) {
        let now = Instant::now().into_std();
        let mut media = Media {
            latch: Latch::new(Some(neg.remote), MediaSources::none()),
            script: Script::new(steps, now),
            mouth: Mouth::new(
                neg.codec,
                neg.payload_type,
                neg.telephone_event,
                RtpSender::new(rand::random(), rand::random(), rand::random()),
                self.shared.voice.clone(),
            ),
            frame: [0; FRAME_SAMPLES],
        };
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let mut buf = [0u8; 2048];
        let mut packet = [0u8; MAX_PACKET];
        loop {
            tokio::select! {
                _ = self.shared.cancel.cancelled() => {
                    self.hang_up().await;
                    return;
                }
                state = self.states.recv() => match state {
                    Some(DialogState::Terminated(_, reason)) => {
                        log_end(&reason);
                        return;
                    }
                    None => return,
                    Some(other) => self.in_dialog(other).await,
                },
                r = socket.recv_from(&mut buf) => {
                    if let Ok((n, from)) = r {
                        media.on_datagram(from, &buf[..n], Instant::now().into_std());
                    }
                }
                _ = ticker.tick() => {
                    let now = Instant::now().into_std();
                    if let Some(action) = media.script.poll(now) {
                        info!(?action, "phone");
                        match action {
                            Action::Press(keys) => media.mouth.press(keys),
                            Action::Speak(length) => media.mouth.speak(length),
                            Action::HangUp => {
                                self.hang_up().await;
                                return;
                            }
                        }
                    }
                    let len = media.mouth.tick(&mut packet);
                    if let Some(to) = media.latch.send_to()
                        && let Err(e) = socket.send_to(&packet[..len], to).await
                    {
                        debug!(error = %e, %to, "RTP send failed");
                    }
                }
            }
        }
    }

    /// Requests inside the dialog other than BYE (rsipstack answers that).
    async fn in_dialog(&self, state: DialogState) {
        match state {
            DialogState::Options(_, _, handle) | DialogState::Info(_, _, handle) => {
                handle.reply(StatusCode::OK).await.ok();
            }
            // Hold and re-offers are beyond this simulated phone.
            DialogState::Updated(_, _, handle) => {
                handle.reply(StatusCode::NotAcceptableHere).await.ok();
            }
            _ => {}
        }
    }

    async fn hang_up(&self) {
        info!("hanging up");
        match tokio::time::timeout(BYE_TIMEOUT, self.dialog.bye()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "BYE failed"),
            Err(_) => warn!("no answer to our BYE"),
        }
    }
}

fn log_end(reason: &TerminatedReason) {
    match reason {
        TerminatedReason::UacBye => info!("the IVR hung up"),
        other => info!(reason = ?other, "call ended"),
    }
}

/// Per-call media state the loop owns.
struct Media {
    latch: Latch,
    script: Script,
    mouth: Mouth,
    frame: [i16; FRAME_SAMPLES],
}

impl Media {
    /// Decodes the IVR's audio into the script's ear; events and comfort noise
    /// are not audio.
    fn on_datagram(&mut self, from: SocketAddr, buf: &[u8], now: std::time::Instant) {
        let Ok(pkt) = RtpPacket::parse(buf) else {
            return;
        };
        if !self.latch.accept(from, pkt.ssrc, pkt.sequence).is_media() {
            return;
        }
        let Some(codec) = Codec::from_payload_type(pkt.payload_type) else {
            return;
        };
        for chunk in pkt.payload.chunks(FRAME_SAMPLES) {
            let frame = &mut self.frame[..chunk.len()];
            codec.decode(chunk, frame);
            self.script.hear(frame, now);
        }
    }
}
