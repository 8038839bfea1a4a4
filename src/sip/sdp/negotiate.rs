//! RFC 3264 offer/answer: reading the carrier's answer and answering re-offers.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::write::{LocalAudio, write_header, write_rejected};
use super::{Direction, MediaDescription, SdpError, SessionDescription};
use crate::media::codec::Codec;

/// The media plan both sides agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// Where we send RTP. `0.0.0.0`/`::` under RFC 2543 hold.
    pub remote: SocketAddr,
    pub codec: Codec,
    /// Payload type to put in the RTP we send: the peer's number for `codec`, which
    /// may be a dynamic one (RFC 3264 §6.1).
    pub payload_type: u8,
    /// The peer's RFC 4733 telephone-event payload type, if it accepts DTMF events.
    pub telephone_event: Option<u8>,
    /// The *peer's* direction, with RFC 2543 hold folded in: `SendOnly` means the
    /// peer put us on hold and only sends.
    pub direction: Direction,
}

impl Negotiated {
    /// Whether we may send RTP: the peer wants to receive and has an address.
    pub fn local_sends(&self) -> bool {
        self.direction.receives()
    }

    /// Whether the peer will send us RTP.
    pub fn local_receives(&self) -> bool {
        self.direction.sends()
    }

    /// Hold in any form (sendonly, recvonly, inactive, RFC 2543 `c=0.0.0.0`).
    pub fn is_held(&self) -> bool {
        self.direction != Direction::SendRecv
    }
}

/// Reads the carrier's answer to our offer.
///
/// Uses the first audio stream with a non-zero port, and in it the first payload
/// type (the answerer's preference, RFC 3264 §6.1) that maps to a codec in
/// `offered`. Encoding names compare case-insensitively; static 0/8 need no rtpmap.
/// [`SdpError::NoCommonCodec`] means the call must be ended as failed (488-like).
pub fn negotiate(answer: &SessionDescription, offered: &[Codec]) -> Result<Negotiated, SdpError> {
    let (index, media) = answer.active_audio()?;
    let codec = pick_codec(media, |c| offered.contains(&c));
    plan(answer, index, media, codec)
}

/// Our answer to a re-INVITE and the media plan it sets up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReofferAnswer {
    /// SDP body for the 200 OK.
    pub sdp: String,
    /// The `o=` version it carries: remember it for the next SDP we send.
    pub version: u64,
    pub negotiated: Negotiated,
}

/// Answers a re-offer (hold, unhold, session refresh, media move; RFC 3264 §8).
///
/// Keeps our address and RTP port, keeps `current.codec` if the re-offer still lists
/// it (else falls back to the first G.711 it lists), mirrors the direction
/// (sendonly → recvonly, inactive → inactive, sendrecv → sendrecv; RFC 3264 §6.1),
/// rejects every other stream with port 0 in the offer's order, and writes
/// `last_version + 1` into `o=` (RFC 3264 §8). An error means "answer 488".
pub fn answer_for_reoffer(
    reoffer: &SessionDescription,
    current: &Negotiated,
    local: IpAddr,
    rtp_port: u16,
    session_id: u64,
    last_version: u64,
) -> Result<ReofferAnswer, SdpError> {
    let (index, media) = reoffer.active_audio()?;
    let codec = pick_codec(media, |c| c == current.codec).or_else(|| pick_codec(media, |_| true));
    let negotiated = plan(reoffer, index, media, codec)?;
    let version = last_version.wrapping_add(1);
    let body = AnswerBody {
        reoffer,
        audio_index: index,
        negotiated: &negotiated,
        local,
        rtp_port,
        session_id,
        version,
    };
    Ok(ReofferAnswer {
        sdp: body.to_string(),
        version,
        negotiated,
    })
}

/// The plan for one chosen audio stream, given the codec picked in it.
fn plan(
    sdp: &SessionDescription,
    index: usize,
    media: &MediaDescription,
    codec: Option<(u8, Codec)>,
) -> Result<Negotiated, SdpError> {
    // RTP/AVPF only adds feedback messages; SAVP would need SRTP keys we lack.
    if !["RTP/AVP", "RTP/AVPF"]
        .iter()
        .any(|p| media.proto.eq_ignore_ascii_case(p))
    {
        return Err(SdpError::UnsupportedTransport {
            proto: media.proto.clone(),
        });
    }
    let ip = sdp
        .connection_for(media)
        .ok_or(SdpError::MissingConnection { index })?;
    let (payload_type, codec) = codec.ok_or_else(|| SdpError::NoCommonCodec {
        answered: media.formats.clone(),
    })?;
    // RFC 3264 §8.4: the old way to hold was c=0.0.0.0, meaning "send nothing here".
    let direction = if ip.is_unspecified() {
        media.direction.without_receive()
    } else {
        media.direction
    };
    Ok(Negotiated {
        remote: SocketAddr::new(ip, media.port),
        codec,
        payload_type,
        telephone_event: telephone_event(media),
        direction,
    })
}

/// First listed payload type whose codec passes `accept`.
fn pick_codec(media: &MediaDescription, accept: impl Fn(Codec) -> bool) -> Option<(u8, Codec)> {
    media
        .formats
        .iter()
        .find_map(|&pt| codec_of(media, pt).filter(|&c| accept(c)).map(|c| (pt, c)))
}

/// The codec a payload type stands for: its rtpmap if written (G.711 is 8 kHz mono,
/// RFC 3551 §4.5.14), else the static assignment (RFC 3551 Table 4).
fn codec_of(media: &MediaDescription, pt: u8) -> Option<Codec> {
    match media.rtpmap_for(pt) {
        Some(map) if map.clock_rate == 8000 && map.channels == 1 => Codec::from_name(&map.encoding),
        Some(_) => None,
        None => Codec::from_payload_type(pt),
    }
}

/// The listed `telephone-event/8000` payload type (RFC 4733 §7.1.1), any number.
fn telephone_event(media: &MediaDescription) -> Option<u8> {
    media.formats.iter().copied().find(|&pt| {
        media.rtpmap_for(pt).is_some_and(|map| {
            map.clock_rate == 8000 && map.encoding.eq_ignore_ascii_case("telephone-event")
        })
    })
}

/// Our answer body: one section per offered stream, in order (RFC 3264 §6).
struct AnswerBody<'a> {
    reoffer: &'a SessionDescription,
    audio_index: usize,
    negotiated: &'a Negotiated,
    local: IpAddr,
    rtp_port: u16,
    session_id: u64,
    version: u64,
}

impl fmt::Display for AnswerBody<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_header(f, self.local, self.session_id, self.version)?;
        let n = self.negotiated;
        for (index, media) in self.reoffer.media.iter().enumerate() {
            if index != self.audio_index {
                write_rejected(f, media)?;
                continue;
            }
            LocalAudio {
                port: self.rtp_port,
                codec_pts: std::iter::once((n.payload_type, n.codec)),
                telephone_event: n.telephone_event,
                direction: n.direction.mirrored(),
            }
            .write(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    const OFFERED: [Codec; 2] = [Codec::Pcma, Codec::Pcmu];

    fn answer(text: &str) -> Result<Negotiated, SdpError> {
        negotiate(&SessionDescription::parse(text).unwrap(), &OFFERED)
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn baresip_answer_takes_its_first_listed_codec() {
        let n = answer(BARESIP).unwrap();
        assert_eq!(
            n,
            Negotiated {
                remote: addr("192.168.1.50:10000"),
                codec: Codec::Pcmu,
                payload_type: 0,
                telephone_event: Some(101),
                direction: Direction::SendRecv,
            }
        );
        assert!(n.local_sends() && n.local_receives() && !n.is_held());
    }

    #[test]
    fn only_offered_codecs_are_taken() {
        let sdp = SessionDescription::parse(BARESIP).unwrap();
        let n = negotiate(&sdp, &[Codec::Pcma]).unwrap();
        assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 8));
    }

    #[test]
    fn sipp_pcmu_with_events() {
        let n = answer(SIPP).unwrap();
        assert_eq!(n.remote, addr("127.0.0.1:6000"));
        assert_eq!((n.codec, n.telephone_event), (Codec::Pcmu, Some(101)));
    }

    #[test]
    fn asterisk_pcma() {
        let n = answer(ASTERISK).unwrap();
        assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 8));
        assert_eq!(n.telephone_event, Some(101));
    }

    #[test]
    fn cisco_media_level_connection_wins_and_g729_is_skipped() {
        let n = answer(CISCO_VNPT).unwrap();
        assert_eq!(n.remote, addr("113.160.1.20:19530"));
        assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 8));
        assert_eq!(n.telephone_event, Some(96));
    }

    #[test]
    fn ipv6_with_event_at_126() {
        let n = answer(IPV6).unwrap();
        assert_eq!(n.remote, addr("[2001:db8::10]:40000"));
        assert_eq!(n.telephone_event, Some(126));
    }

    #[test]
    fn dynamic_pt_and_lowercase_names() {
        let text = "v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n\
                    m=audio 7000 RTP/AVP 97 98\r\na=rtpmap:97 pcma/8000\r\n\
                    a=rtpmap:98 Telephone-Event/8000\r\n";
        let n = answer(text).unwrap();
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event),
            (Codec::Pcma, 97, Some(98))
        );
    }

    #[test]
    fn rtpmap_overrides_static_meaning_and_wrong_clock_is_refused() {
        let text = "v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n\
                    m=audio 7000 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/16000\r\n";
        assert_eq!(answer(text).unwrap().codec, Codec::Pcmu);
    }

    #[test]
    fn hold_forms_are_detected() {
        let sendonly = answer(HOLD_SENDONLY).unwrap();
        assert_eq!(sendonly.direction, Direction::SendOnly);
        assert!(sendonly.is_held() && !sendonly.local_sends() && sendonly.local_receives());

        let inactive = answer(HOLD_INACTIVE).unwrap();
        assert_eq!(inactive.direction, Direction::Inactive);
        assert!(!inactive.local_sends() && !inactive.local_receives());

        let old_style = answer(HOLD_RFC2543).unwrap();
        assert_eq!(old_style.direction, Direction::SendOnly);
        assert!(old_style.remote.ip().is_unspecified() && !old_style.local_sends());
    }

    #[test]
    fn first_usable_audio_among_several_streams() {
        let n = answer(VIDEO_THEN_AUDIO).unwrap();
        assert_eq!(n.remote, addr("10.1.1.1:30000"));
        assert_eq!(n.codec, Codec::Pcma);
    }

    #[test]
    fn unusable_answers_are_typed_errors() {
        assert_eq!(
            answer(AUDIO_REJECTED),
            Err(SdpError::AudioRejected { index: 0 })
        );
        assert_eq!(answer(VIDEO_ONLY), Err(SdpError::NoAudio));
        assert_eq!(
            answer(NO_G711),
            Err(SdpError::NoCommonCodec {
                answered: vec![18, 9, 101]
            })
        );
        let srtp = BARESIP.replace("RTP/AVP", "RTP/SAVP");
        assert!(matches!(
            answer(&srtp),
            Err(SdpError::UnsupportedTransport { .. })
        ));
        let pcmu_only = SessionDescription::parse(SIPP).unwrap();
        assert!(matches!(
            negotiate(&pcmu_only, &[Codec::Pcma]),
            Err(SdpError::NoCommonCodec { .. })
        ));
    }

    fn reanswer(reoffer: &str, current: &Negotiated) -> ReofferAnswer {
        let sdp = SessionDescription::parse(reoffer).unwrap();
        answer_for_reoffer(&sdp, current, "203.0.113.7".parse().unwrap(), 20000, 42, 3)
            .expect("re-offer is acceptable")
    }

    #[test]
    fn reoffer_hold_is_answered_recvonly_with_our_port_and_codec() {
        let current = answer(ASTERISK).unwrap();
        let reply = reanswer(HOLD_SENDONLY, &current);
        assert_eq!(reply.version, 4);
        assert_eq!(
            reply.sdp,
            "v=0\r\n\
             o=carecall 42 4 IN IP4 203.0.113.7\r\n\
             s=carecall\r\n\
             c=IN IP4 203.0.113.7\r\n\
             t=0 0\r\n\
             m=audio 20000 RTP/AVP 8 101\r\n\
             a=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-15\r\n\
             a=ptime:20\r\n\
             a=recvonly\r\n"
        );
        assert!(reply.negotiated.is_held());
    }

    #[test]
    fn reoffer_directions_are_mirrored() {
        let current = answer(ASTERISK).unwrap();
        for (text, ours) in [
            (ASTERISK, Direction::SendRecv),
            (HOLD_SENDONLY, Direction::RecvOnly),
            (HOLD_INACTIVE, Direction::Inactive),
            (HOLD_RFC2543, Direction::RecvOnly),
        ] {
            let reply = reanswer(text, &current);
            let parsed = SessionDescription::parse(&reply.sdp).unwrap();
            assert_eq!(parsed.media[0].direction, ours, "answer to {text:?}");
            assert_eq!(parsed.media[0].port, 20000);
        }
    }

    #[test]
    fn reoffer_keeps_current_codec_even_if_not_listed_first() {
        let current = answer(ASTERISK).unwrap(); // PCMA
        let reply = reanswer(BARESIP, &current); // lists 0 8 101
        assert_eq!(reply.negotiated.codec, Codec::Pcma);
        assert!(reply.sdp.contains("m=audio 20000 RTP/AVP 8 101\r\n"));
    }

    #[test]
    fn reoffer_without_current_codec_falls_back_to_other_g711() {
        let current = answer(ASTERISK).unwrap(); // PCMA
        let reply = reanswer(SIPP, &current); // PCMU only
        assert_eq!(reply.negotiated.codec, Codec::Pcmu);
        assert!(reply.sdp.contains("m=audio 20000 RTP/AVP 0 101\r\n"));
    }

    #[test]
    fn reoffer_with_extra_streams_rejects_them_in_order() {
        let current = answer(ASTERISK).unwrap();
        let reply = reanswer(VIDEO_THEN_AUDIO, &current);
        let parsed = SessionDescription::parse(&reply.sdp).unwrap();
        let ports: Vec<_> = parsed
            .media
            .iter()
            .map(|m| (m.kind.as_str(), m.port))
            .collect();
        assert_eq!(ports, [("video", 0), ("audio", 0), ("audio", 20000)]);
        assert_eq!(reply.negotiated.remote, addr("10.1.1.1:30000"));
        // The audio-only offer had no telephone-event, so neither has the answer.
        assert_eq!(parsed.media[2].formats, [8]);
    }

    #[test]
    fn reoffer_with_nothing_usable_is_refused() {
        let current = answer(ASTERISK).unwrap();
        let sdp = SessionDescription::parse(NO_G711).unwrap();
        let local = "203.0.113.7".parse().unwrap();
        assert!(matches!(
            answer_for_reoffer(&sdp, &current, local, 20000, 42, 3),
            Err(SdpError::NoCommonCodec { .. })
        ));
    }
}
