//! The per-call driver loop: one task that relays the dialog's SIP events, the
//! RTP socket and the 20 ms media tick to the [`MediaSession`], and writes what
//! happened to the store as it happens.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::dialog::dialog::{DialogState, TerminatedReason, TransactionHandle};
use rsipstack::sip::{Header, Method, Request, Response, StatusCode, StatusCodeKind};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};

use super::disposition::{self, Disposition};
use super::operator::{OperatorSide, OperatorUpdate};
use super::report::{AnswerRecord, CallReport, Outcome};
use super::session::{MediaSession, SessionEvent};
use super::{CallError, CallRequest, CallServices, TEARDOWN_TIMEOUT};
use crate::bridge::{DialContext, LegEvent};
use crate::ivr::dialplan::Dialplan;
use crate::ivr::{Answer, Engine};
use crate::media::recorder::Recorder;
use crate::questionnaire::Completeness;
use crate::sip::sdp::{self, Negotiated, SessionDescription};
use crate::sip::uac::{self, OutboundLeg};
use crate::store::{AnswerKind, CallId, Dossier, NewCall};

/// Largest RTP datagram we accept; bigger ones are truncated and fail to parse.
const MAX_DATAGRAM: usize = 2048;
/// The alarm raised when a recording cannot be written (disk full, I/O error).
const RECORDING_ALARM: &str = "recording_failed";

/// Runs one call from INVITE to the stored result.
pub(super) async fn run(
    svc: &CallServices,
    plan: Arc<Dialplan>,
    req: &CallRequest,
    target: String,
    call_id: String,
    vars: HashMap<String, String>,
    dossier: Option<Dossier>,
) -> Result<CallReport, CallError> {
    // Bound where SIP is bound (0.0.0.0 behind NAT); the SDP carries the
    // advertised address instead.
    let socket = svc.ports.bind(svc.agent.local_addr().ip()).await?;
    let rtp_port = socket.local_addr().map_err(|e| {
        CallError::Recording(crate::media::recorder::RecordingError::Io {
            path: "rtp socket".into(),
            source: e,
        })
    })?;
    let sdp_session = rand::random::<u32>() as u64;
    let offer = sdp::build_offer(
        svc.agent.advertised_ip(),
        rtp_port.port(),
        &svc.codecs,
        svc.config.media.telephone_event_pt,
        sdp_session,
        1,
    );
    let row = svc
        .store
        .start_call(&NewCall {
            id: req.row_id.clone(),
            dossier_code: dossier.as_ref().map(|d| d.code.clone()),
            sip_call_id: Some(call_id.clone()),
            destination: target.clone(),
            caller_id: svc.route.caller_id.clone(),
            dialplan: req.dialplan.clone(),
            started_at: chrono::Utc::now(),
        })
        .await?;
    if let Some((campaign, target)) = &req.campaign {
        svc.store.link_call(&row, campaign, target).await?;
    }
    let code = dossier.as_ref().map(|d| d.code.as_str());
    // A sampled dossier has one response whatever the number of calls: a
    // retry resumes it, and the questions it already answered are skipped.
    let (response, given) = match &req.campaign {
        Some((_, target)) => {
            let (id, earlier) = svc
                .store
                .open_target_response(&row, target, code, &req.dialplan)
                .await?;
            (id, resumable(&svc.questionnaire, earlier))
        }
        None => (
            svc.store.start_response(&row, code, &req.dialplan).await?,
            Vec::new(),
        ),
    };
    info!(target = %crate::pii::mask_phone(&target), rtp = %rtp_port, "dialling");

    let (writes, writer) = super::report::spawn_writer(svc.store.clone(), row.clone(), response);
    let display = operator_display(&svc.route.caller_id, &target, dossier.as_ref());
    let mut call = Call {
        row: row.clone(),
        display,
        reserved: req.operator.clone(),
        operator: OperatorSide::default(),
        svc,
        plan,
        vars,
        socket,
        session: None,
        answered: false,
        dialog_saved: false,
        outcome: Outcome::default(),
        writes,
        call_id: call_id.clone(),
        sdp_session,
        sdp_version: 1,
        given,
    };
    let leg = match uac::invite(&svc.agent, &svc.route, &target, offer, call_id.clone()) {
        Ok(leg) => leg,
        Err(e) => {
            call.outcome.fail(None, format!("cannot send INVITE: {e}"));
            return call.finish(None, writer, row).await;
        }
    };
    let leg = call.drive(leg).await;
    call.finish(Some(leg), writer, row).await
}

/// The answers of an earlier call of the dossier that a retry keeps: the
/// form's questions with a value or a clip (consent is asked on every call).
fn resumable(
    form: &crate::questionnaire::Questionnaire,
    earlier: Vec<crate::store::AnswerRecord>,
) -> Vec<(String, Answer)> {
    earlier
        .into_iter()
        .filter(|a| form.asks(&a.key))
        .filter_map(|a| {
            let answer = match a.kind {
                AnswerKind::Value => Answer::Value(a.value?),
                AnswerKind::Clip => Answer::Clip,
                AnswerKind::Unanswered => return None,
            };
            Some((a.key, answer))
        })
        .collect()
}

/// What an operator's phone shows: the hotline, the citizen's number masked
/// (RFC-free privacy: operators see the dossier, not who the citizen is, until
/// the form loads) and the dossier.
fn operator_display(hotline: &str, target: &str, dossier: Option<&Dossier>) -> String {
    let who = crate::pii::mask_phone(target);
    match dossier {
        Some(d) => format!("{hotline} {who} hồ sơ {}", d.code),
        None => format!("{hotline} {who}"),
    }
}

struct Call<'a> {
    row: CallId,
    /// An operator claimed for this call before dialling, until a bridge rings them.
    reserved: Option<crate::store::OperatorId>,
    /// The operator's phone display for a bridge.
    display: String,
    operator: OperatorSide,
    svc: &'a CallServices,
    plan: Arc<Dialplan>,
    vars: HashMap<String, String>,
    socket: UdpSocket,
    session: Option<MediaSession>,
    answered: bool,
    /// The answered dialog is in `live_dialogs` (issue 9 item 18b).
    dialog_saved: bool,
    outcome: Outcome,
    writes: mpsc::UnboundedSender<super::report::Write>,
    call_id: String,
    sdp_session: u64,
    sdp_version: u64,
    /// Answers earlier calls of the dossier hold (resumed, not asked again).
    given: Vec<(String, Answer)>,
}

enum Step {
    Continue,
    /// The call is over on the SIP side (final failure, BYE received).
    Ended,
    /// We must hang up (dialplan end, no media, fatal recording error).
    HangUp,
}

impl Call<'_> {
    /// The select loop: ringing, then the answered call, until either side ends it.
    async fn drive(&mut self, mut leg: OutboundLeg) -> OutboundLeg {
        let ring_timeout = Duration::from_secs(self.svc.config.trunk.ring_timeout_secs);
        let ring_deadline = Instant::now() + ring_timeout;
        // RFC 3261 §9.1: after CANCEL the INVITE still ends with 487; allow
        // Timer B's 32 s on top before giving up on a silent trunk.
        let give_up = ring_deadline + Duration::from_secs(40);
        let mut cancelled = false;
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let mut buf = [0u8; MAX_DATAGRAM];
        let mut packet = [0u8; MAX_DATAGRAM];
        let mut result_done = false;
        loop {
            let step = tokio::select! {
                state = leg.states.recv() => match state {
                    Some(state) => {
                        let step = self.on_state(state).await;
                        self.save_dialog(&leg);
                        step
                    }
                    None => Step::Ended,
                },
                res = &mut leg.result, if !result_done => {
                    result_done = true;
                    self.on_final(res)
                }
                _ = tokio::time::sleep_until(ring_deadline), if !cancelled && !self.answered => {
                    cancelled = true;
                    info!(secs = ring_timeout.as_secs(), "ring timeout: cancelling");
                    self.outcome.ring_timeout = true;
                    if let Err(e) = leg.dialog.cancel().await {
                        warn!(error = %e, "CANCEL failed");
                    }
                    Step::Continue
                }
                _ = tokio::time::sleep_until(give_up), if !self.answered => {
                    self.outcome.fail(None, "no final response from the trunk".into());
                    Step::Ended
                }
                r = self.socket.recv_from(&mut buf) => {
                    if let (Ok((n, from)), Some(s)) = (r, self.session.as_mut()) {
                        s.on_datagram(from, &buf[..n], Instant::now().into_std());
                    }
                    Step::Continue
                }
                _ = ticker.tick() => self.on_tick(&mut packet).await,
                update = self.operator.next() => self.on_operator(update),
            };
            match step {
                Step::Continue => {}
                Step::Ended => break,
                Step::HangUp => {
                    self.hang_up(&leg).await;
                    break;
                }
            }
        }
        leg
    }

    async fn on_tick(&mut self, packet: &mut [u8]) -> Step {
        let Some(session) = self.session.as_mut() else {
            return Step::Continue;
        };
        let now = Instant::now().into_std();
        let result = session.tick(now, packet);
        if session.is_bridged() {
            self.operator.send_audio(session.heard());
        }
        if let Some((len, to)) = result
            && let Err(e) = self.socket.send_to(&packet[..len], to).await
        {
            debug!(error = %e, %to, "RTP send failed");
        }
        self.drain_session().unwrap_or(Step::Continue)
    }

    /// Handles what the media session asked for since the last call.
    fn drain_session(&mut self) -> Option<Step> {
        let events: Vec<SessionEvent> = self.session.as_mut()?.drain_events().collect();
        let mut step = None;
        for event in events {
            if let Some(s) = self.on_session_event(event) {
                step = Some(s);
            }
        }
        step
    }

    fn on_session_event(&mut self, event: SessionEvent) -> Option<Step> {
        match event {
            SessionEvent::Answer {
                key,
                answer,
                offset,
                clip,
            } => {
                info!(%key, ?answer, offset_ms = offset.as_millis() as u64, "answer");
                let record = AnswerRecord {
                    key,
                    answer,
                    offset,
                    clip,
                    given_at: chrono::Utc::now(),
                };
                self.outcome.answers.push(record.clone());
                self.writes.send(super::report::Write::Answer(record)).ok();
                None
            }
            SessionEvent::Hangup(reason) => {
                info!(?reason, "dialplan ended the call");
                self.outcome.end_reason = Some(reason);
                Some(Step::HangUp)
            }
            SessionEvent::Bridge { queue, wait } => {
                info!(%queue, "looking for an operator");
                let ctx = DialContext {
                    call: self.row.clone(),
                    queue,
                    display: self.display.clone(),
                    // Rung at most once: a second bridge node hunts the queue.
                    reserved: self.reserved.take(),
                };
                self.operator.start_hunt(self.svc.operators.hunt(ctx, wait));
                None
            }
            SessionEvent::Digit(d) => {
                self.operator.send_digit(d);
                None
            }
            SessionEvent::NoMedia => {
                warn!("no RTP received: hanging up as no_media");
                self.outcome.no_media = true;
                Some(Step::HangUp)
            }
            SessionEvent::RecordingFailed(e) => {
                // The survey goes on: its answers decide the disposition, the
                // reason says what went wrong, and supervisors get an alarm.
                warn!(error = %e, "recording failed: the survey goes on unrecorded");
                self.outcome.recording_failed = Some(e.clone());
                let store = self.svc.store.clone();
                tokio::spawn(async move {
                    let msg = format!("a call's recording could not be written: {e}");
                    if let Err(e) = store.raise_alarm(RECORDING_ALARM, &msg).await {
                        warn!(error = %e, "could not raise the recording alarm");
                    }
                });
                None
            }
            SessionEvent::Warning(w) => {
                warn!("{w}");
                None
            }
        }
    }

    /// The hunt's result and the operator leg's events and audio.
    fn on_operator(&mut self, update: OperatorUpdate) -> Step {
        let now = Instant::now().into_std();
        match update {
            OperatorUpdate::Found(Some(conn)) => {
                info!(operator = %conn.operator.username, "operator connected");
                let (store, row, id) = (
                    self.svc.store.clone(),
                    self.row.clone(),
                    conn.operator.id.clone(),
                );
                tokio::spawn(async move {
                    if let Err(e) = store.set_call_operator(&row, &id).await {
                        warn!(error = %e, "cannot record the call's operator");
                    }
                });
                self.operator.connect(conn);
                if let Some(s) = self.session.as_mut() {
                    s.bridge_answered(now);
                }
            }
            OperatorUpdate::Found(None) => {
                info!("no operator: the dialplan's fallback runs");
                if let Some(s) = self.session.as_mut() {
                    s.bridge_failed(now);
                }
            }
            OperatorUpdate::Leg(Some(LegEvent::Hangup { reason }))
            | OperatorUpdate::Leg(Some(LegEvent::Failed { reason })) => {
                info!(%reason, "the operator's leg ended");
                self.end_bridge(now);
            }
            OperatorUpdate::Leg(None) => self.end_bridge(now),
            OperatorUpdate::Leg(Some(LegEvent::Hold(held))) => {
                info!(held, "operator hold");
            }
            OperatorUpdate::Leg(Some(LegEvent::Digit(d))) => {
                // The citizen's trunk leg sends no RFC 4733 events yet.
                info!(digit = %d, "operator key not passed to the citizen");
            }
            OperatorUpdate::Leg(Some(LegEvent::Answered)) => {}
            OperatorUpdate::Audio(frame) => {
                if let Some(s) = self.session.as_mut() {
                    s.operator_audio(&frame);
                }
            }
        }
        self.drain_session().unwrap_or(Step::Continue)
    }

    /// The operator hung up: the engine ends the call (`operator_hangup`).
    fn end_bridge(&mut self, now: std::time::Instant) {
        if let Some(s) = self.session.as_mut()
            && s.is_bridged()
        {
            s.bridge_ended(now);
        }
    }

    async fn on_state(&mut self, state: DialogState) -> Step {
        match state {
            DialogState::Trying(_) => {
                self.outcome.heard_from_trunk = true;
                Step::Continue
            }
            DialogState::Early(_, resp) => {
                self.outcome.heard_from_trunk = true;
                debug!(status = %resp.status_code, "provisional response");
                self.outcome.sip_code = Some(resp.status_code.code());
                if !resp.body.is_empty() && self.session.is_none() {
                    // RFC 3960: early media goes to the recording, not the IVR.
                    self.open_media(&resp.body).ok();
                }
                Step::Continue
            }
            DialogState::Confirmed(_, resp) if !self.answered => self.on_answer(resp),
            DialogState::Info(_, req, handle) => {
                self.on_info(&req, handle).await;
                Step::Continue
            }
            DialogState::Options(_, _, handle) => {
                handle.reply(StatusCode::OK).await.ok();
                Step::Continue
            }
            DialogState::Updated(_, req, handle) => {
                self.on_update(&req, handle).await;
                Step::Continue
            }
            DialogState::Terminated(_, reason) => self.on_terminated(reason),
            _ => Step::Continue,
        }
    }

    /// Once answered, keeps the dialog in the database until the call ends, so a
    /// process killed mid-call can still BYE the trunk at its next start.
    fn save_dialog(&mut self, leg: &OutboundLeg) {
        if self.answered && !self.dialog_saved {
            self.dialog_saved = true;
            let live = super::recovery::live_dialog(&leg.dialog);
            self.writes.send(super::report::Write::Dialog(live)).ok();
        }
    }

    fn on_answer(&mut self, resp: Response) -> Step {
        self.answered = true;
        self.outcome.sip_code = Some(resp.status_code.code());
        let now = chrono::Utc::now();
        self.outcome.answered_at = Some(now);
        self.writes.send(super::report::Write::Answered(now)).ok();
        info!("answered");
        if let Err(e) = self.open_media(&resp.body) {
            warn!(error = %e, "unusable SDP answer: hanging up");
            self.outcome.fail(None, format!("unusable SDP answer: {e}"));
            return Step::HangUp;
        }
        let prompts = self.svc.prompts.clone();
        let mut engine = Engine::new(
            self.plan.clone(),
            self.vars.clone(),
            move |p: &str| prompts.exists(p),
            Instant::now().into_std(),
        );
        engine.resume(self.given.clone());
        if let Some(s) = self.session.as_mut() {
            s.start_ivr(engine, Instant::now().into_std());
        }
        Step::Continue
    }

    /// Creates the media session for an SDP answer, or retargets it.
    fn open_media(&mut self, body: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(body).map_err(|_| "SDP is not UTF-8".to_string())?;
        let answer = SessionDescription::parse(text).map_err(|e| e.to_string())?;
        let neg: Negotiated =
            sdp::negotiate(&answer, &self.svc.codecs).map_err(|e| e.to_string())?;
        info!(remote = %neg.remote, codec = neg.codec.name(), te = ?neg.telephone_event, "media negotiated");
        if let Some(s) = self.session.as_mut() {
            s.update_remote(neg);
            return Ok(());
        }
        let path = self.svc.recording_path(&self.call_id);
        let recorder = Recorder::create(&path).map_err(|e| e.to_string())?;
        self.session = Some(MediaSession::new(
            neg,
            self.svc.media_sources.clone(),
            recorder,
            self.svc.prompts.clone(),
            Duration::from_secs(self.svc.config.media.no_media_timeout_secs),
            Instant::now().into_std(),
        ));
        Ok(())
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
            Ok(digit) => {
                if let Some(s) = self.session.as_mut() {
                    s.on_info_digit(digit, Instant::now().into_std());
                }
                handle.reply(StatusCode::OK).await.ok();
            }
            Err(e) => {
                use crate::media::dtmf::info::DtmfInfoError;
                warn!(error = %e, %ctype, "INFO without a usable DTMF body");
                // RFC 6086 §4.2.2 (legacy INFO usage): an unsupported body type is
                // 415, a DTMF body we cannot read is 400. The call goes on.
                let status = match e {
                    DtmfInfoError::UnsupportedContentType(_) => StatusCode::UnsupportedMediaType,
                    _ => StatusCode::BadRequest,
                };
                handle.reply(status).await.ok();
            }
        }
    }

    /// Re-INVITE (hold, resume, session refresh) or UPDATE.
    async fn on_update(&mut self, req: &Request, handle: TransactionHandle) {
        if req.body.is_empty() {
            if req.method == Method::Invite
                && let Some(session) = self.session.as_ref()
            {
                // RFC 3261 §14.2: an offerless re-INVITE (session refresh) gets
                // our offer in the 200 OK: the current session, same version.
                let port = self.socket.local_addr().map(|a| a.port()).unwrap_or(0);
                let offer = sdp::build_offer(
                    self.svc.agent.advertised_ip(),
                    port,
                    &[session.remote().codec],
                    self.svc.config.media.telephone_event_pt,
                    self.sdp_session,
                    self.sdp_version,
                );
                let ct = Header::ContentType("application/sdp".into());
                handle
                    .respond(StatusCode::OK, Some(vec![ct]), Some(offer.into_bytes()))
                    .await
                    .ok();
                return;
            }
            // UPDATE without a body: a session-timer refresh (RFC 4028).
            handle.reply(StatusCode::OK).await.ok();
            return;
        }
        let text = String::from_utf8_lossy(&req.body);
        let offer = match SessionDescription::parse(&text) {
            Ok(o) => o,
            Err(e) => {
                warn!(error = %e, "re-INVITE with a bad SDP offer");
                handle.reply(StatusCode::NotAcceptableHere).await.ok();
                return;
            }
        };
        let Some(session) = self.session.as_mut() else {
            handle.reply(StatusCode::NotAcceptableHere).await.ok();
            return;
        };
        let local = self.socket.local_addr().map(|a| a.port()).unwrap_or(0);
        let current = *session.remote();
        match sdp::answer_for_reoffer(
            &offer,
            &current,
            self.svc.agent.advertised_ip(),
            local,
            self.sdp_session,
            self.sdp_version,
        ) {
            Ok(ans) => {
                let neg = ans.negotiated;
                info!(direction = ?neg.direction, remote = %neg.remote, "re-INVITE");
                self.sdp_version = ans.version;
                session.update_remote(neg);
                let ct = Header::ContentType("application/sdp".into());
                handle
                    .respond(StatusCode::OK, Some(vec![ct]), Some(ans.sdp.into_bytes()))
                    .await
                    .ok();
            }
            Err(e) => {
                warn!(error = %e, "re-INVITE offer not acceptable");
                handle.reply(StatusCode::NotAcceptableHere).await.ok();
            }
        }
    }

    fn on_terminated(&mut self, reason: TerminatedReason) -> Step {
        debug!(?reason, "dialog terminated");
        match reason {
            TerminatedReason::UasBye => {
                info!("the citizen hung up");
                self.outcome.peer_hung_up = true;
                if let Some(s) = self.session.as_mut() {
                    s.peer_hung_up(Instant::now().into_std());
                }
                self.drain_session();
                if self.outcome.end_reason.is_none() {
                    self.outcome.end_reason = self.session.as_ref().and_then(|s| s.end_reason());
                }
                Step::Ended
            }
            // Before the answer the final response (from the INVITE task) decides.
            _ if !self.answered => Step::Continue,
            _ => Step::Ended,
        }
    }

    fn on_final(
        &mut self,
        res: Result<rsipstack::dialog::invitation::InviteAsyncResult, tokio::task::JoinError>,
    ) -> Step {
        match res {
            Ok(Ok((_, Some(resp)))) if resp.status_code.kind() == StatusCodeKind::Successful => {
                if self.answered {
                    Step::Continue
                } else if self.outcome.ring_timeout {
                    // RFC 3261 §9.1: a 2xx crossed our CANCEL; rsipstack ACKs and
                    // BYEs it. The citizen answered too late: still no answer.
                    info!("200 OK crossed the CANCEL: ended, counted as no answer");
                    Step::Ended
                } else {
                    self.on_answer(resp)
                }
            }
            Ok(Ok((_, Some(resp))))
                if resp.status_code.code() == 408 && !self.outcome.heard_from_trunk =>
            {
                // rsipstack answers Timer B (RFC 3261 §17.1.1.2) with a local 408:
                // the trunk never replied, so this is a failure, not a no-answer.
                warn!("no response from the trunk: unreachable or down");
                self.outcome
                    .fail(None, "trunk unreachable: no response to the INVITE".into());
                Step::Ended
            }
            Ok(Ok((_, Some(resp)))) => {
                let code = resp.status_code.code();
                let (disp, cause) = disposition::for_status(code);
                info!(
                    code,
                    disposition = disp.as_str(),
                    "call not answered: {cause}"
                );
                self.outcome.final_failure(code, disp, cause);
                Step::Ended
            }
            Ok(Ok((_, None))) => {
                self.outcome
                    .fail(None, "the INVITE ended without a final response".into());
                Step::Ended
            }
            Ok(Err(e)) => {
                warn!(error = %e, "INVITE failed");
                self.outcome.fail(None, format!("INVITE failed: {e}"));
                Step::Ended
            }
            Err(e) => {
                self.outcome.fail(None, format!("INVITE task failed: {e}"));
                Step::Ended
            }
        }
    }

    async fn hang_up(&mut self, leg: &OutboundLeg) {
        let ended = if self.answered {
            tokio::time::timeout(TEARDOWN_TIMEOUT, leg.dialog.bye()).await
        } else {
            tokio::time::timeout(TEARDOWN_TIMEOUT, leg.dialog.cancel()).await
        };
        match ended {
            Ok(Ok(())) => debug!("hung up"),
            Ok(Err(e)) => warn!(error = %e, "hang-up request failed"),
            Err(_) => warn!("no answer to our BYE/CANCEL"),
        }
    }

    /// How complete the dossier's response is with this call's answers
    /// added to those earlier calls gave.
    fn completeness(&self) -> Completeness {
        let earlier = self.given.iter().map(|(k, _)| k.as_str());
        let now = self
            .outcome
            .answers
            .iter()
            .filter(|a| !matches!(a.answer, Answer::Unanswered { .. }))
            .map(|a| a.key.as_str());
        self.svc.questionnaire.completeness(earlier.chain(now))
    }

    async fn finish(
        mut self,
        leg: Option<OutboundLeg>,
        writer: tokio::task::JoinHandle<()>,
        row: crate::store::CallId,
    ) -> Result<CallReport, CallError> {
        if let Some(leg) = &leg {
            self.svc.agent.dialogs().remove_dialog(&leg.dialog.id());
            leg.result.abort();
        }
        // Either side's hang-up ends the other: BYE to the operator's phone.
        if let Some(op) = self.operator.hang_up() {
            self.svc.operators.call_ended(&op).await;
        }
        // Reserved but never rung (no answer, busy, hung up in the greeting).
        if let Some(op) = self.reserved.take() {
            self.svc.operators.release_reserved(&op).await;
        }
        // Answers the session produced in its last moments (a key just before BYE).
        self.drain_session();
        let had_input = self.session.as_ref().is_some_and(|s| s.had_input());
        let stats = self.session.as_ref().map(|s| s.stats.clone());
        let recording = match self.session.take() {
            Some(s) => match s.finish() {
                Ok(info) => Some(info),
                Err(e) => {
                    warn!(error = %e, "could not finalise the recording");
                    None
                }
            },
            None => None,
        };
        if let Some(stats) = &stats {
            info!(?stats, "rtp");
        }
        let completeness = self.completeness();
        self.outcome.complete = completeness == Completeness::Complete;
        let disposition = self.outcome.disposition(self.answered, had_input);
        if let Some(rec) = &recording {
            self.writes
                .send(super::report::Write::Recording(rec.clone()))
                .ok();
        }
        if disposition == Disposition::DoNotCall {
            self.writes.send(super::report::Write::DoNotCall).ok();
        }
        self.writes
            .send(super::report::Write::Finished {
                disposition,
                sip_code: self.outcome.sip_code,
                reason: self.outcome.reason(disposition),
                end_reason: self.outcome.end_reason_str(),
                ended_at: chrono::Utc::now(),
                response: completeness,
            })
            .ok();
        drop(self.writes);
        if writer.await.is_err() {
            warn!("the database writer stopped unexpectedly");
        }
        info!(disposition = disposition.as_str(), "call finished");
        Ok(CallReport::new(
            self.call_id,
            row,
            disposition,
            &self.outcome,
            recording,
            self.answered,
            stats.as_ref(),
        ))
    }
}
