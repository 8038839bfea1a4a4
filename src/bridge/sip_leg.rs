//! The operator's SIP phone as a leg: an INVITE to the contact the phone
//! registered with the built-in registrar, and a task that relays between the
//! phone's RTP and the [`LegPeer`] until either side hangs up.
//!
//! The task only moves bytes and fires timers; the RTP decisions are the
//! [`Relay`]'s and the offer/answer is `sip::sdp`'s, as for the trunk leg.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use rsipstack::dialog::dialog::{DialogState, TerminatedReason, TransactionHandle};
use rsipstack::dialog::invitation::{InviteAsyncResult, InviteOption};
use rsipstack::sip::{Header, Method, Request, Response, StatusCode, StatusCodeKind, Transport};
use rsipstack::transport::SipAddr;
use tokio::net::UdpSocket;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument, debug, info, warn};

use super::leg::{LegCommand, LegEvent, LegHandle, LegKind, LegPeer, leg_channel};
use super::queue::{DialContext, OperatorReach};
use super::relay::Relay;
use crate::call::ports::RtpPorts;
use crate::media::codec::Codec;
use crate::media::rtp::MediaSources;
use crate::sip::agent::{SipAgent, SipError};
use crate::sip::sdp::{self, SessionDescription};
use crate::sip::uac::{OutboundLeg, parse_uri};
use crate::store::{OperatorRecord, RegistrationRecord, Store};

/// Largest RTP datagram we accept.
const MAX_DATAGRAM: usize = 2048;
/// How long a BYE or CANCEL may take before the leg gives up on it.
const TEARDOWN: Duration = Duration::from_secs(5);

/// Reaches operators on the SIP phones they registered.
pub struct SipReach {
    pub agent: Arc<SipAgent>,
    pub ports: Arc<RtpPorts>,
    pub store: Store,
    pub codecs: Vec<Codec>,
    pub telephone_event_pt: u8,
    pub ring_timeout: Duration,
    /// The hotline's number: the user part of From and Contact.
    pub hotline: String,
    /// The trunk's addresses ([`crate::sip::uac::TrunkRoute::addrs`]): never dialled here.
    pub trunk: Arc<[SocketAddr]>,
}

impl SipReach {
    /// The operator's first registered contact that is a phone, not the trunk.
    async fn contact(&self, op: &OperatorRecord) -> Option<RegistrationRecord> {
        match self.store.contacts_of(&op.id, Utc::now()).await {
            Ok(contacts) => contacts.into_iter().find(|c| {
                let refused = points_at_trunk(c, &self.trunk);
                if refused {
                    // Toll fraud (issue 9): a binding aimed at our own IP-authenticated
                    // trunk would make us INVITE any number through it. The registrar
                    // refuses such bindings; this is the second fence.
                    warn!(operator = %op.username, "binding points at the trunk: not dialled");
                }
                !refused
            }),
            Err(e) => {
                warn!(error = %e, "cannot read the operator's contacts");
                None
            }
        }
    }

    async fn start(&self, op: &OperatorRecord, ctx: &DialContext) -> Option<LegHandle> {
        let contact = self.contact(op).await?;
        let socket = match self.ports.bind(self.agent.local_addr().ip()).await {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "no RTP port for the operator leg");
                return None;
            }
        };
        let port = socket.local_addr().ok()?.port();
        let session = u64::from(rand::random::<u32>());
        let offer = sdp::build_offer(
            self.agent.advertised_ip(),
            port,
            &self.codecs,
            self.telephone_event_pt,
            session,
            1,
        );
        let option = match self.invite_option(&contact, ctx, offer) {
            Ok(o) => o,
            Err(e) => {
                warn!(error = %e, contact = %contact.contact, "cannot INVITE the operator");
                return None;
            }
        };
        // The phone's registered source may send in-dialog requests and media (it
        // may be behind NAT, its Contact and SDP naming a private address).
        let phone_ip = registered_ip(&contact);
        let call_id = option.call_id.clone().unwrap_or_default();
        let peers = self.agent.peers().allow(&call_id, phone_ip);
        let dialogs = self.agent.dialogs();
        let (state_tx, states) = dialogs.new_dialog_state_channel();
        let (dialog, result) = match dialogs.do_invite_async(option, state_tx) {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "cannot send the INVITE to the operator");
                return None;
            }
        };
        let (handle, peer) = leg_channel(op.id.clone(), LegKind::Sip);
        let task = LegTask {
            agent: self.agent.clone(),
            codecs: self.codecs.clone(),
            peer,
            socket,
            relay: None,
            media_sources: MediaSources::from_ips(phone_ip),
            answered: false,
            held: false,
            sdp_session: session,
            sdp_version: 1,
        };
        let leg = OutboundLeg {
            dialog,
            states,
            result,
            peers,
        };
        let span = tracing::info_span!("operator_leg", operator = %op.username);
        tokio::spawn(task.run(leg, self.ring_timeout).instrument(span));
        Some(handle)
    }

    /// RFC 3261 §8.1.1: the Request-URI is the registered contact; the request
    /// goes to where the REGISTER came from (the phone may be behind NAT).
    fn invite_option(
        &self,
        contact: &RegistrationRecord,
        ctx: &DialContext,
        offer: String,
    ) -> Result<InviteOption, SipError> {
        let callee = parse_uri(&contact.contact)?;
        let source: SocketAddr = contact.source.parse().map_err(|_| SipError::Uri {
            uri: contact.source.clone(),
            reason: "the registration's source is not ip:port".into(),
        })?;
        let mut destination = SipAddr::from(source);
        destination.r#type = Some(if contact.transport.eq_ignore_ascii_case("tcp") {
            Transport::Tcp
        } else {
            Transport::Udp
        });
        let us = SocketAddr::new(self.agent.advertised_ip(), self.agent.local_addr().port());
        let caller = parse_uri(&format!("sip:{}@{us}", self.hotline))?;
        // RFC 3261 §20.36: Subject names the call on phones that show it.
        let subject = Header::Other("Subject".into(), ctx.display.clone());
        Ok(InviteOption {
            caller_display_name: Some(ctx.display.clone()),
            contact: caller.clone(),
            caller,
            callee,
            destination: Some(destination),
            content_type: Some("application/sdp".into()),
            offer: Some(offer.into_bytes()),
            headers: Some(vec![subject]),
            call_id: Some(format!("{}@carecall-op", uuid::Uuid::new_v4())),
            ..Default::default()
        })
    }
}

/// The IP the phone registered from, if the record holds one.
fn registered_ip(contact: &RegistrationRecord) -> Option<IpAddr> {
    contact
        .source
        .parse::<SocketAddr>()
        .ok()
        .map(|a| a.ip().to_canonical())
}

/// Whether a binding would send our INVITE to the trunk: its source (where the INVITE
/// goes) or its Contact (the Request-URI a proxy would route on) is the trunk's.
/// Compared by IP alone, since a trunk takes requests on any of its ports, except on
/// loopback, where a trunk is a local SBC sharing its IP with every local service
/// and only the port tells it apart.
fn points_at_trunk(contact: &RegistrationRecord, trunk: &[SocketAddr]) -> bool {
    let source = contact.source.parse::<SocketAddr>().ok();
    let target = parse_uri(&contact.contact)
        .ok()
        .and_then(|u| SipAddr::try_from(&u).ok())
        .and_then(|a| a.get_socketaddr().ok());
    [source, target].into_iter().flatten().any(|a| {
        let ip = a.ip().to_canonical();
        trunk
            .iter()
            .any(|t| t.ip() == ip && (!ip.is_loopback() || t.port() == a.port()))
    })
}

impl OperatorReach for SipReach {
    fn kind(&self) -> LegKind {
        LegKind::Sip
    }

    fn reachable<'a>(&'a self, op: &'a OperatorRecord) -> BoxFuture<'a, bool> {
        Box::pin(async move { self.contact(op).await.is_some() })
    }

    fn dial<'a>(
        &'a self,
        op: &'a OperatorRecord,
        ctx: &'a DialContext,
    ) -> BoxFuture<'a, Option<LegHandle>> {
        Box::pin(self.start(op, ctx))
    }
}

/// Why the leg's loop stopped.
enum Stop {
    /// The SIP side is over (final failure, BYE from the phone).
    Ended,
    /// We must end it: BYE when answered, CANCEL while ringing.
    HangUp,
}

struct LegTask {
    agent: Arc<SipAgent>,
    codecs: Vec<Codec>,
    peer: LegPeer,
    socket: UdpSocket,
    relay: Option<Relay>,
    /// Besides the SDP's address, who may send the phone's RTP: its registered source.
    media_sources: MediaSources,
    answered: bool,
    held: bool,
    sdp_session: u64,
    sdp_version: u64,
}

impl LegTask {
    async fn run(mut self, mut leg: OutboundLeg, ring_timeout: Duration) {
        let ring_deadline = Instant::now() + ring_timeout;
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let mut buf = [0u8; MAX_DATAGRAM];
        let mut packet = [0u8; MAX_DATAGRAM];
        let mut result_done = false;
        let stop = loop {
            let step = tokio::select! {
                state = leg.states.recv() => match state {
                    Some(state) => self.on_state(state).await,
                    None => Some(Stop::Ended),
                },
                res = &mut leg.result, if !result_done => {
                    result_done = true;
                    self.on_final(res)
                }
                _ = tokio::time::sleep_until(ring_deadline), if !self.answered => {
                    info!(secs = ring_timeout.as_secs(), "the operator did not answer: cancelling");
                    self.fail(format!("no answer within {} s", ring_timeout.as_secs()));
                    Some(Stop::HangUp)
                }
                r = self.socket.recv_from(&mut buf) => {
                    if let Ok((n, from)) = r {
                        self.on_datagram(from, &buf[..n]);
                    }
                    None
                }
                _ = ticker.tick(), if self.answered => {
                    self.on_tick(&mut packet).await;
                    None
                }
                cmd = self.peer.commands.recv() => match cmd {
                    Some(LegCommand::Digit(d)) => {
                        if let Some(r) = self.relay.as_mut() && !r.press(d) {
                            debug!(digit = %d, "the phone takes no RFC 4733 events: key dropped");
                        }
                        None
                    }
                    Some(LegCommand::Hangup) | None => Some(Stop::HangUp),
                },
            };
            if let Some(stop) = step {
                break stop;
            }
        };
        if let Stop::HangUp = stop {
            self.hang_up(&leg).await;
        }
        if !result_done {
            // After a CANCEL the INVITE still ends with 487 (RFC 3261 §9.1).
            let _ = tokio::time::timeout(TEARDOWN, &mut leg.result).await;
        }
        self.agent.dialogs().remove_dialog(&leg.dialog.id());
        leg.result.abort();
        if let Some(r) = &self.relay {
            debug!(stats = ?r.stats, "operator leg rtp");
        }
    }

    fn fail(&self, reason: String) {
        let _ = self.peer.events.try_send(LegEvent::Failed { reason });
    }

    fn on_datagram(&mut self, from: SocketAddr, data: &[u8]) {
        let Some(relay) = self.relay.as_mut() else {
            return; // early media from a phone is not the operator's voice yet
        };
        let peer = &self.peer;
        let now = Instant::now().into_std();
        if let Some(d) = relay.on_datagram(from, data, now, |f| peer.send_audio(f)) {
            info!(digit = %d, "the operator pressed a key");
            let _ = peer.events.try_send(LegEvent::Digit(d));
        }
    }

    async fn on_tick(&mut self, packet: &mut [u8]) {
        let frame = self.peer.from_citizen.try_recv().ok();
        let Some(relay) = self.relay.as_mut() else {
            return;
        };
        if let Some((len, to)) = relay.tick(frame.as_ref(), packet)
            && let Err(e) = self.socket.send_to(&packet[..len], to).await
        {
            debug!(error = %e, %to, "RTP send to the operator failed");
        }
    }

    async fn on_state(&mut self, state: DialogState) -> Option<Stop> {
        match state {
            DialogState::Confirmed(_, resp) if !self.answered => self.on_answer(&resp),
            DialogState::Updated(_, req, handle) => {
                self.on_reinvite(&req, handle).await;
                None
            }
            DialogState::Info(_, req, handle) => {
                self.on_info(&req, handle).await;
                None
            }
            DialogState::Options(_, _, handle) => {
                handle.reply(StatusCode::OK).await.ok();
                None
            }
            DialogState::Terminated(_, reason) => self.on_terminated(reason),
            _ => None,
        }
    }

    fn on_answer(&mut self, resp: &Response) -> Option<Stop> {
        self.answered = true;
        let text = String::from_utf8_lossy(&resp.body);
        let neg = SessionDescription::parse(&text)
            .map_err(|e| e.to_string())
            .and_then(|a| sdp::negotiate(&a, &self.codecs).map_err(|e| e.to_string()));
        match neg {
            Ok(neg) => {
                info!(remote = %neg.remote, codec = neg.codec.name(), "the operator answered");
                self.relay = Some(Relay::new(neg, self.media_sources.clone()));
                let _ = self.peer.events.try_send(LegEvent::Answered);
                None
            }
            Err(e) => {
                warn!(error = %e, "unusable SDP answer from the operator's phone");
                self.fail(format!("unusable SDP answer: {e}"));
                Some(Stop::HangUp)
            }
        }
    }

    fn on_terminated(&mut self, reason: TerminatedReason) -> Option<Stop> {
        debug!(?reason, "operator dialog terminated");
        match reason {
            TerminatedReason::UasBye => {
                info!("the operator hung up");
                let _ = self.peer.events.try_send(LegEvent::Hangup {
                    reason: "operator_hangup".into(),
                });
                Some(Stop::Ended)
            }
            // Before the answer the INVITE's final response decides.
            _ if !self.answered => None,
            other => {
                let _ = self.peer.events.try_send(LegEvent::Hangup {
                    reason: format!("{other:?}"),
                });
                Some(Stop::Ended)
            }
        }
    }

    fn on_final(&mut self, res: Result<InviteAsyncResult, tokio::task::JoinError>) -> Option<Stop> {
        match res {
            Ok(Ok((_, Some(resp)))) if resp.status_code.kind() == StatusCodeKind::Successful => {
                if self.answered {
                    None
                } else {
                    self.on_answer(&resp)
                }
            }
            Ok(Ok((_, Some(resp)))) => {
                info!(
                    code = resp.status_code.code(),
                    "the operator's phone refused"
                );
                self.fail(format!("{}", resp.status_code));
                Some(Stop::Ended)
            }
            Ok(Ok((_, None))) => {
                self.fail("the INVITE ended without a final response".into());
                Some(Stop::Ended)
            }
            Ok(Err(e)) => {
                self.fail(format!("INVITE failed: {e}"));
                Some(Stop::Ended)
            }
            Err(e) => {
                self.fail(format!("INVITE task failed: {e}"));
                Some(Stop::Ended)
            }
        }
    }

    /// RFC 3264 §8.4: hold and resume come as re-INVITEs; answer them like
    /// the trunk's, and tell the citizen's side.
    async fn on_reinvite(&mut self, req: &Request, handle: TransactionHandle) {
        let Some(relay) = self.relay.as_mut() else {
            handle.reply(StatusCode::NotAcceptableHere).await.ok();
            return;
        };
        if req.body.is_empty() {
            let status = if req.method == Method::Invite {
                // An offerless re-INVITE gets the current session as our offer.
                let port = self.socket.local_addr().map(|a| a.port()).unwrap_or(0);
                let offer = sdp::build_offer(
                    self.agent.advertised_ip(),
                    port,
                    &[relay.remote().codec],
                    relay.remote().telephone_event.unwrap_or(101),
                    self.sdp_session,
                    self.sdp_version,
                );
                let ct = Header::ContentType("application/sdp".into());
                handle
                    .respond(StatusCode::OK, Some(vec![ct]), Some(offer.into_bytes()))
                    .await
                    .ok();
                return;
            } else {
                StatusCode::OK
            };
            handle.reply(status).await.ok();
            return;
        }
        let text = String::from_utf8_lossy(&req.body);
        let port = self.socket.local_addr().map(|a| a.port()).unwrap_or(0);
        let answer = SessionDescription::parse(&text)
            .map_err(|e| e.to_string())
            .and_then(|offer| {
                sdp::answer_for_reoffer(
                    &offer,
                    relay.remote(),
                    self.agent.advertised_ip(),
                    port,
                    self.sdp_session,
                    self.sdp_version,
                )
                .map_err(|e| e.to_string())
            });
        match answer {
            Ok(ans) => {
                let held = ans.negotiated.is_held();
                self.sdp_version = ans.version;
                relay.update_remote(ans.negotiated);
                let ct = Header::ContentType("application/sdp".into());
                handle
                    .respond(StatusCode::OK, Some(vec![ct]), Some(ans.sdp.into_bytes()))
                    .await
                    .ok();
                if held != self.held {
                    self.held = held;
                    info!(
                        held,
                        "the operator {}",
                        if held { "held the call" } else { "resumed" }
                    );
                    let _ = self.peer.events.try_send(LegEvent::Hold(held));
                }
            }
            Err(e) => {
                warn!(error = %e, "operator's re-INVITE not acceptable");
                handle.reply(StatusCode::NotAcceptableHere).await.ok();
            }
        }
    }

    async fn on_info(&mut self, req: &Request, handle: TransactionHandle) {
        let ctype = req
            .headers
            .iter()
            .find_map(|h| match h {
                Header::ContentType(v) => Some(v.value().to_string()),
                _ => None,
            })
            .unwrap_or_default();
        let body = String::from_utf8_lossy(&req.body);
        match crate::media::dtmf::info::parse_info(&ctype, &body) {
            Ok(d) => {
                let _ = self.peer.events.try_send(LegEvent::Digit(d));
                handle.reply(StatusCode::OK).await.ok();
            }
            Err(_) => {
                handle.reply(StatusCode::UnsupportedMediaType).await.ok();
            }
        }
    }

    async fn hang_up(&self, leg: &OutboundLeg) {
        let ended = if self.answered {
            tokio::time::timeout(TEARDOWN, leg.dialog.bye()).await
        } else {
            tokio::time::timeout(TEARDOWN, leg.dialog.cancel()).await
        };
        match ended {
            Ok(Ok(())) => debug!("operator leg hung up"),
            Ok(Err(e)) => warn!(error = %e, "hang-up toward the operator failed"),
            Err(_) => warn!("no answer to our BYE/CANCEL from the operator's phone"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OperatorId;

    fn binding(contact: &str, source: &str) -> RegistrationRecord {
        RegistrationRecord {
            operator_id: OperatorId::new_v4(),
            contact: contact.into(),
            source: source.into(),
            transport: "udp".into(),
            user_agent: None,
            call_id: "reg@phone".into(),
            cseq: 1,
            expires_at: Utc::now(),
        }
    }

    #[test]
    fn bindings_aimed_at_the_trunk_are_refused() {
        let trunk: Vec<SocketAddr> = vec![
            "203.0.113.10:5060".parse().unwrap(),
            "127.0.0.1:5080".parse().unwrap(),
        ];
        let phone = binding("sip:op1@192.0.2.5:5062", "192.0.2.5:5062");
        assert!(!points_at_trunk(&phone, &trunk), "a real phone is dialled");
        // Source or Contact at the trunk's IP, any port: refused.
        for (contact, source) in [
            ("sip:0912345678@203.0.113.10", "192.0.2.5:5062"),
            ("sip:op1@192.0.2.5:5062", "203.0.113.10:5999"),
            (
                "sip:0912345678@[::ffff:203.0.113.10]:5060",
                "192.0.2.5:5062",
            ),
        ] {
            assert!(
                points_at_trunk(&binding(contact, source), &trunk),
                "{contact} {source}"
            );
        }
        // On loopback only the trunk's own port is the trunk.
        assert!(points_at_trunk(
            &binding("sip:x@127.0.0.1:5080", "127.0.0.1:5080"),
            &trunk
        ));
        assert!(!points_at_trunk(
            &binding("sip:op@127.0.0.1:5062", "127.0.0.1:5062"),
            &trunk
        ));
        // Garbage in the row is not the trunk, and is not dialled either (parse fails later).
        assert!(!points_at_trunk(&binding("not a uri", "nowhere"), &trunk));
    }
}
