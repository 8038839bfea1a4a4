//! One call's media and IVR state, driven by a 20 ms tick and received packets.
//!
//! Nothing here touches a socket or a timer: the driver in [`super`] hands in
//! datagrams and ticks with the current time and sends what comes back. Only
//! the recorder writes to disk, frame by frame, so a crash loses at most the
//! recorder's flush interval.
//!
//! Bridged to an operator, the same session keeps running: the operator's
//! frames replace the prompts on the right channel of the one recording (no
//! gap at the hand-over), the citizen's frames are handed to the operator leg
//! via [`MediaSession::heard`], and the citizen's keys are passed on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bridge::Frame;
use crate::ivr::{Action, Answer, EndReason, Engine, Event};
use crate::media::codec::{Codec, FRAME_SAMPLES};
use crate::media::dtmf::inband::Detector;
use crate::media::dtmf::rfc4733::EventReceiver;
use crate::media::dtmf::stream::{DigitStream, DtmfSource};
use crate::media::player::Player;
use crate::media::prompt::PromptStore;
use crate::media::recorder::{ClipWriter, Recorder, RecordingError, RecordingInfo};
use crate::media::rtp::{Latch, MediaSources, RtpPacket, RtpSender, RtpStats};
use crate::media::vad::Vad;
use crate::sip::sdp::Negotiated;

/// Received audio kept ahead of the tick before the oldest is dropped: bounds
/// latency when the peer sends in bursts.
const MAX_BUFFERED: usize = FRAME_SAMPLES * 6;

/// Operator frames kept ahead of the tick (80 ms): absorbs the jitter between
/// the operator leg's packets and our tick without adding much delay.
const OPERATOR_AHEAD: usize = 4;

/// What the session asks the driver to do or record.
#[derive(Debug)]
pub enum SessionEvent {
    /// An answer to store now, with its offset into the recording.
    Answer {
        key: String,
        answer: Answer,
        offset: Duration,
        clip: Option<RecordingInfo>,
    },
    /// The dialplan ended the call.
    Hangup(EndReason),
    /// The dialplan asked for an operator of `queue`, trying for `wait` (the
    /// configured default when `None`).
    Bridge {
        queue: String,
        wait: Option<Duration>,
    },
    /// A key the citizen pressed while talking to an operator: pass it on.
    Digit(char),
    /// Nothing was received for the no-media timeout.
    NoMedia,
    /// Writing the recording failed (disk full, I/O error): recording stopped, the
    /// survey goes on so the citizen's answers are still taken. Reported once.
    RecordingFailed(String),
    /// A prompt or clip could not be used; the call goes on.
    Warning(String),
}

pub struct MediaSession {
    remote: Negotiated,
    sender: RtpSender,
    latch: Latch,
    pub stats: RtpStats,
    events4733: EventReceiver,
    inband: Detector,
    digits: DigitStream,
    vad: Vad,
    player: Player,
    prompts: Arc<PromptStore>,
    recorder: Recorder,
    /// Set once a write failed: nothing more is written (see `RecordingFailed`).
    recording_failed: bool,
    clip: Option<(String, ClipWriter)>,
    done_clips: Vec<(String, RecordingInfo)>,
    rx: std::collections::VecDeque<i16>,
    engine: Option<Engine>,
    started: Instant,
    last_rtp: Option<Instant>,
    no_media_after: Duration,
    talkspurt: bool,
    on_hold: bool,
    decoded: [i16; FRAME_SAMPLES],
    out: Vec<SessionEvent>,
    /// Talking with an operator: `said` comes from `from_operator`.
    bridged: bool,
    from_operator: std::collections::VecDeque<Frame>,
    heard: Frame,
}

impl MediaSession {
    pub fn new(
        remote: Negotiated,
        sources: MediaSources,
        recorder: Recorder,
        prompts: Arc<PromptStore>,
        no_media_after: Duration,
        now: Instant,
    ) -> MediaSession {
        let sender = RtpSender::new(rand::random(), rand::random(), rand::random());
        MediaSession {
            latch: Latch::new(Some(remote.remote), sources),
            remote,
            sender,
            stats: RtpStats::default(),
            events4733: EventReceiver::default(),
            inband: Detector::default(),
            digits: DigitStream::default(),
            vad: Vad::new(),
            player: Player::new(),
            prompts,
            recorder,
            recording_failed: false,
            clip: None,
            done_clips: Vec::new(),
            rx: std::collections::VecDeque::with_capacity(MAX_BUFFERED + FRAME_SAMPLES),
            engine: None,
            started: now,
            last_rtp: None,
            no_media_after,
            talkspurt: true,
            on_hold: false,
            decoded: [0; FRAME_SAMPLES],
            out: Vec::new(),
            bridged: false,
            from_operator: std::collections::VecDeque::with_capacity(OPERATOR_AHEAD),
            heard: [0; FRAME_SAMPLES],
        }
    }

    /// The dialog was answered: the IVR starts now (early media before this
    /// only went to the recording).
    pub fn start_ivr(&mut self, mut engine: Engine, now: Instant) {
        let actions = engine.start(now);
        self.engine = Some(engine);
        self.started = now;
        // The no-media clock starts at the answer, not at early media.
        self.last_rtp = None;
        self.apply(actions);
    }

    /// A re-INVITE or the 200 OK changed the remote side (address, codec, hold).
    pub fn update_remote(&mut self, remote: Negotiated) {
        if remote.remote != self.remote.remote {
            self.latch.reset(Some(remote.remote));
        }
        // RFC 3264 §8.4: a held peer (sendonly/inactive/c=0.0.0.0) receives nothing.
        self.on_hold = !remote.local_sends();
        self.remote = remote;
    }

    pub fn remote(&self) -> &Negotiated {
        &self.remote
    }

    /// The citizen hung up: the engine closes an open spoken answer and keeps
    /// the reason of a closing prompt that was playing.
    pub fn peer_hung_up(&mut self, now: Instant) {
        self.event(Event::PeerHangup, now);
    }

    /// How the dialplan ended, if it did (a plain hang-up mid-survey is not an end).
    pub fn end_reason(&self) -> Option<EndReason> {
        self.engine
            .as_ref()
            .and_then(|e| e.finished().cloned())
            .filter(|r| *r != EndReason::PeerHangup)
    }

    pub fn had_input(&self) -> bool {
        self.engine.as_ref().is_some_and(|e| e.had_input())
    }

    pub fn answers(&self) -> Vec<(String, Answer)> {
        self.engine
            .as_ref()
            .map(|e| e.answers().to_vec())
            .unwrap_or_default()
    }

    /// An operator answered: their audio replaces the prompts from the next tick.
    pub fn bridge_answered(&mut self, now: Instant) {
        self.bridged = true;
        self.from_operator.clear();
        self.event(Event::BridgeAnswered, now);
    }

    /// No operator could be reached: the dialplan's fallback runs.
    pub fn bridge_failed(&mut self, now: Instant) {
        self.event(Event::BridgeFailed, now);
    }

    /// The operator hung up: the engine ends the call.
    pub fn bridge_ended(&mut self, now: Instant) {
        self.bridged = false;
        self.from_operator.clear();
        self.event(Event::BridgeEnded, now);
    }

    pub fn is_bridged(&self) -> bool {
        self.bridged
    }

    /// 20 ms of the operator's voice, played at the next free tick; the oldest
    /// is dropped when the operator leg runs ahead. Allocates nothing.
    pub fn operator_audio(&mut self, frame: &Frame) {
        if !self.bridged {
            return;
        }
        if self.from_operator.len() == OPERATOR_AHEAD {
            self.from_operator.pop_front();
        }
        self.from_operator.push_back(*frame);
    }

    /// The citizen's audio of the last tick (silence when nothing arrived):
    /// what the driver sends to the operator leg.
    pub fn heard(&self) -> &Frame {
        &self.heard
    }

    pub fn drain_events(&mut self) -> std::vec::Drain<'_, SessionEvent> {
        self.out.drain(..)
    }

    /// A datagram arrived on the RTP socket.
    pub fn on_datagram(&mut self, from: SocketAddr, buf: &[u8], now: Instant) {
        let pkt = match RtpPacket::parse(buf) {
            Ok(p) => p,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        // Strict source (media::latch): an off-path sender's "9" must not become the
        // citizen's answer.
        if !self
            .stats
            .judge(self.latch.accept(from, pkt.ssrc, pkt.sequence))
        {
            return;
        }
        self.stats.received += 1;
        self.last_rtp = Some(now);
        if Some(pkt.payload_type) == self.remote.telephone_event {
            if let Some(d) = self.events4733.on_packet(&pkt, now) {
                self.digit(d, DtmfSource::Rfc4733, now);
            }
            return;
        }
        let Some(codec) = Codec::from_payload_type(pkt.payload_type) else {
            // Comfort noise (RFC 3389, PT 13) and unknown payloads are not audio.
            return;
        };
        for chunk in pkt.payload.chunks(FRAME_SAMPLES) {
            let out = &mut self.decoded[..chunk.len()];
            codec.decode(chunk, out);
            self.rx.extend(out.iter().copied());
        }
        while self.rx.len() > MAX_BUFFERED {
            self.rx.pop_front();
        }
    }

    /// A digit from SIP INFO.
    pub fn on_info_digit(&mut self, digit: char, now: Instant) {
        self.digit(digit, DtmfSource::Info, now);
    }

    fn digit(&mut self, digit: char, source: DtmfSource, now: Instant) {
        if let Some(d) = self.digits.push(digit, source, now) {
            tracing::info!(digit = %d, ?source, "dtmf");
            if self.bridged {
                self.out.push(SessionEvent::Digit(d));
            } else {
                self.event(Event::Digit(d), now);
            }
        }
    }

    fn event(&mut self, event: Event, now: Instant) {
        if let Some(engine) = self.engine.as_mut() {
            let actions = engine.on_event(event, now);
            self.apply(actions);
        }
    }

    /// The 20 ms tick: consume one frame of received audio, run the IVR's
    /// timers, write the recording, and return the RTP packet to send (its
    /// length in `packet`) and where to send it.
    pub fn tick(&mut self, now: Instant, packet: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let mut heard = [0i16; FRAME_SAMPLES];
        let got = self.rx.len().min(FRAME_SAMPLES);
        for (slot, s) in heard.iter_mut().zip(self.rx.drain(..got)) {
            *slot = s;
        }
        self.heard = heard;
        let voiced = got > 0 && self.vad.process(&heard);
        // Bridged, in-band tones reach the operator in the audio itself.
        if got > 0
            && !self.bridged
            && let Some(d) = self.inband.process(&heard)
        {
            self.digit(d, DtmfSource::Inband, now);
        }
        self.event(Event::Frame { voiced }, now);
        if let Some(engine) = self.engine.as_mut()
            && engine.poll_timeout().is_some_and(|t| t <= now)
        {
            let actions = engine.handle_timeout(now);
            self.apply(actions);
        }

        let mut said = [0i16; FRAME_SAMPLES];
        let playing = if self.bridged {
            match self.from_operator.pop_front() {
                Some(f) => {
                    said = f;
                    true
                }
                None => false,
            }
        } else {
            let playing = self.player.next_frame(&mut said);
            if self.player.take_finished() {
                self.event(Event::PlaybackFinished, now);
            }
            playing
        };
        self.record(&heard, &said);
        self.check_media(now);
        self.rtp_frame(playing, &said, packet)
    }

    /// Writes one frame to the recording and the open clip. A full disk must not
    /// end the survey or lose its answers (issue 9): the first error stops the
    /// recording and is reported once; a failing clip is closed with a warning.
    fn record(&mut self, heard: &Frame, said: &Frame) {
        if !self.recording_failed
            && let Err(e) = self.recorder.write_frame(heard, said)
        {
            self.recording_failed = true;
            self.out.push(SessionEvent::RecordingFailed(e.to_string()));
        }
        if let Some((key, clip)) = self.clip.as_mut()
            && let Err(e) = clip.write(heard)
        {
            let warning = format!("clip {key}: {e}");
            self.clip = None;
            self.out.push(SessionEvent::Warning(warning));
        }
    }

    fn check_media(&mut self, now: Instant) {
        let since = self.last_rtp.unwrap_or(self.started);
        // A peer that said it sends nothing (inactive hold) is not "no media".
        if !self.remote.local_receives() {
            self.last_rtp = Some(now);
            return;
        }
        if self.engine.is_some() && now.duration_since(since) >= self.no_media_after {
            // Reported once: the driver hangs up.
            self.last_rtp = Some(now);
            self.out.push(SessionEvent::NoMedia);
        }
    }

    /// Encodes one frame. Silence is sent too (not suppressed) so NAT bindings
    /// and the carrier's media timers stay alive; the marker bit flags the
    /// first packet of each prompt (RFC 3551 §4.1).
    fn rtp_frame(
        &mut self,
        playing: bool,
        said: &[i16; FRAME_SAMPLES],
        packet: &mut [u8],
    ) -> Option<(usize, SocketAddr)> {
        let to = self.latch.send_to()?;
        let mut payload = [0u8; FRAME_SAMPLES];
        self.remote.codec.encode(said, &mut payload);
        let marker = playing && self.talkspurt;
        self.talkspurt = !playing;
        let len = self
            .sender
            .write(self.remote.payload_type, marker, &payload, packet);
        self.sender.advance(FRAME_SAMPLES as u32);
        (!self.on_hold).then_some((len, to))
    }

    fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Play(names) => {
                    tracing::debug!(?names, "play");
                    for name in names {
                        match self.prompts.load(&name) {
                            Ok(audio) => self.player.enqueue(audio),
                            Err(e) => self
                                .out
                                .push(SessionEvent::Warning(format!("prompt {name}: {e}"))),
                        }
                    }
                }
                Action::StopPlayback => self.player.stop(),
                Action::StartClip { key } => self.start_clip(key),
                Action::StopClip { key } => self.stop_clip(&key),
                Action::Answer { key, answer } => {
                    let clip = self.finished_clip(&key, &answer);
                    self.out.push(SessionEvent::Answer {
                        key,
                        answer,
                        offset: self.recorder.offset(),
                        clip,
                    });
                }
                Action::Bridge { queue, wait_ms } => self.out.push(SessionEvent::Bridge {
                    queue,
                    wait: wait_ms.map(Duration::from_millis),
                }),
                Action::Hangup { reason } => self.out.push(SessionEvent::Hangup(reason)),
            }
        }
    }

    fn clip_path(&self, key: &str) -> std::path::PathBuf {
        let rec = self.recorder.path();
        let stem = rec.file_stem().and_then(|s| s.to_str()).unwrap_or("call");
        rec.with_file_name(format!("{stem}.{key}.wav"))
    }

    fn start_clip(&mut self, key: String) {
        let path = self.clip_path(&key);
        match ClipWriter::create(&path) {
            Ok(w) => self.clip = Some((key, w)),
            Err(e) => self
                .out
                .push(SessionEvent::Warning(format!("clip {key}: {e}"))),
        }
    }

    fn stop_clip(&mut self, key: &str) {
        if let Some((k, w)) = self.clip.take() {
            if k != key {
                self.clip = Some((k, w));
                return;
            }
            match w.finalize() {
                Ok(info) => self.done_clips.push((k, info)),
                Err(e) => self
                    .out
                    .push(SessionEvent::Warning(format!("clip {k}: {e}"))),
            }
        }
    }

    fn finished_clip(&mut self, key: &str, answer: &Answer) -> Option<RecordingInfo> {
        if !matches!(answer, Answer::Clip) {
            return None;
        }
        let idx = self.done_clips.iter().position(|(k, _)| k == key)?;
        Some(self.done_clips.swap_remove(idx).1)
    }

    /// Ends the session: closes an open clip and finalises the recording.
    pub fn finish(mut self) -> Result<RecordingInfo, RecordingError> {
        if let Some((_, w)) = self.clip.take() {
            w.finalize().ok();
        }
        self.recorder.finalize()
    }
}
