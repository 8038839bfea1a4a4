//! Tolerant reading of an SDP body (RFC 4566 §5).
//!
//! Carriers, SBCs and softphones all bend the grammar a little (LF instead of CRLF,
//! trailing blanks, private attributes), so only the lines that decide where media
//! goes and how it is encoded are checked strictly; everything else is skipped.

use std::net::IpAddr;

use super::{Direction, MediaDescription, RtpMap, SdpError, SessionDescription};

/// Errors quote at most this many characters of the offending line: bodies can be
/// arbitrary garbage and must not flood the log.
const EXCERPT_CHARS: usize = 80;

impl SessionDescription {
    /// Parses an SDP body.
    ///
    /// Accepts CRLF or bare LF line ends (RFC 4566 §5 asks for CRLF but tells parsers
    /// to accept LF) and ignores unknown line types and attributes. Fails with a typed
    /// [`SdpError`] when `v=`, `o=`, `c=`, `m=` or `a=rtpmap` are missing or garbled.
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let first = lines.next().ok_or(SdpError::Empty)?;
        if first != "v=0" {
            return Err(SdpError::NotSdp {
                line: excerpt(first),
            });
        }

        let mut origin = None;
        let mut connection = None;
        let mut session_direction = None;
        // Each section with its own direction attribute, resolved once all is read.
        let mut media: Vec<(MediaDescription, Option<Direction>)> = Vec::new();

        for line in lines {
            // RFC 4566 §5: `<type>=<value>`; anything else is tolerated noise.
            let Some((kind, value)) = split_line(line) else {
                continue;
            };
            match (kind, media.last_mut()) {
                (b'o', None) => origin = Some(parse_origin(line, value)?),
                (b'c', None) => connection = Some(parse_connection(line, value)?),
                (b'c', Some((m, _))) => m.connection = Some(parse_connection(line, value)?),
                (b'm', _) => media.push((parse_media(line, value)?, None)),
                (b'a', None) => {
                    if let Some(d) = Direction::from_attribute(value) {
                        session_direction = Some(d);
                    }
                }
                (b'a', Some((m, direction))) => parse_media_attribute(m, direction, line, value)?,
                _ => {}
            }
        }

        let (origin_session_id, origin_version) = origin.ok_or(SdpError::MissingOrigin)?;
        if media.is_empty() {
            return Err(SdpError::MissingMedia);
        }
        let media = media
            .into_iter()
            .enumerate()
            .map(|(index, (mut m, direction))| {
                // RFC 3264 §5.1: a media-level direction overrides the session's,
                // and sendrecv is the default.
                m.direction = direction.or(session_direction).unwrap_or_default();
                // RFC 4566 §5.7: c= at session level or in every section. A rejected
                // stream (port 0) carries no media, so it is let off.
                if m.port != 0 && m.connection.is_none() && connection.is_none() {
                    return Err(SdpError::MissingConnection { index });
                }
                Ok(m)
            })
            .collect::<Result<Vec<_>, _>>()?;

        Ok(SessionDescription {
            origin_session_id,
            origin_version,
            connection,
            media,
        })
    }
}

/// Splits `x=value` into its one-letter type and value.
fn split_line(line: &str) -> Option<(u8, &str)> {
    match line.as_bytes() {
        [kind, b'=', ..] if kind.is_ascii_alphabetic() => Some((*kind, line[2..].trim())),
        _ => None,
    }
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`
/// (RFC 4566 §5.2). Only id and version matter to us.
fn parse_origin(line: &str, value: &str) -> Result<(u64, u64), SdpError> {
    let mut fields = value.split_ascii_whitespace().skip(1);
    let mut number = || fields.next().and_then(|f| f.parse::<u64>().ok());
    match (number(), number()) {
        (Some(id), Some(version)) => Ok((id, version)),
        _ => Err(SdpError::MalformedOrigin {
            line: excerpt(line),
        }),
    }
}

/// `c=IN IP4|IP6 <address>[/<ttl>][/<count>]` (RFC 4566 §5.7). Host names are
/// allowed by the grammar but no carrier sends them, and we would have to resolve
/// them, so they are rejected like any other garbled address.
fn parse_connection(line: &str, value: &str) -> Result<IpAddr, SdpError> {
    let malformed = || SdpError::MalformedConnection {
        line: excerpt(line),
    };
    let mut fields = value.split_ascii_whitespace();
    let (Some("IN"), Some(addr_type), Some(address)) =
        (fields.next(), fields.next(), fields.next())
    else {
        return Err(malformed());
    };
    let address = address.split('/').next().unwrap_or(address);
    let ip: IpAddr = address.parse().map_err(|_| malformed())?;
    match (addr_type, ip) {
        ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Ok(ip),
        _ => Err(malformed()),
    }
}

/// `m=<media> <port>[/<number of ports>] <proto> <fmt> ...` (RFC 4566 §5.14).
fn parse_media(line: &str, value: &str) -> Result<MediaDescription, SdpError> {
    let malformed = || SdpError::MalformedMedia {
        line: excerpt(line),
    };
    let mut fields = value.split_ascii_whitespace();
    let (Some(kind), Some(port), Some(proto)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(malformed());
    };
    let port = port.split('/').next().unwrap_or(port);
    let port: u16 = port.parse().map_err(|_| malformed())?;
    // RTP formats are payload types 0–127 (RFC 3551 §3); other transports
    // (udptl t38, BFCP `*`) use names we have no use for.
    let is_rtp = proto.to_ascii_uppercase().starts_with("RTP/");
    let mut formats = Vec::new();
    for fmt in fields {
        match fmt.parse::<u8>() {
            Ok(pt) if pt <= 127 => formats.push(pt),
            _ if is_rtp => return Err(malformed()),
            _ => {}
        }
    }
    Ok(MediaDescription {
        kind: kind.to_owned(),
        port,
        proto: proto.to_owned(),
        formats,
        connection: None,
        rtpmap: Vec::new(),
        fmtp: Vec::new(),
        direction: Direction::default(),
        ptime: None,
    })
}

/// Media-level `a=` lines we use; everything else (`a=rtcp`, `a=ssrc`, `a=label`,
/// `a=maxptime`…) is skipped.
fn parse_media_attribute(
    media: &mut MediaDescription,
    direction: &mut Option<Direction>,
    line: &str,
    value: &str,
) -> Result<(), SdpError> {
    let (name, arg) = value.split_once(':').unwrap_or((value, ""));
    match name {
        "rtpmap" => media.rtpmap.push(parse_rtpmap(line, arg)?),
        // fmtp and ptime are advisory: a garbled one is dropped, not fatal.
        "fmtp" => {
            if let Some((pt, params)) = arg.split_once(' ')
                && let Ok(pt) = pt.parse::<u8>()
            {
                media.fmtp.push((pt, params.trim().to_owned()));
            }
        }
        "ptime" => media.ptime = arg.trim().parse().ok().or(media.ptime),
        _ => {
            if let Some(d) = Direction::from_attribute(name) {
                *direction = Some(d);
            }
        }
    }
    Ok(())
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]`
/// (RFC 4566 §6); for audio the parameter is the channel count, default 1.
fn parse_rtpmap(line: &str, arg: &str) -> Result<RtpMap, SdpError> {
    let malformed = || SdpError::MalformedRtpmap {
        line: excerpt(line),
    };
    let (pt, spec) = arg.trim().split_once(' ').ok_or_else(malformed)?;
    let pt: u8 = pt.parse().map_err(|_| malformed())?;
    let mut parts = spec.trim().split('/');
    let encoding = parts
        .next()
        .filter(|e| !e.is_empty())
        .ok_or_else(malformed)?;
    let clock_rate: u32 = parts
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(malformed)?;
    let channels = match parts.next() {
        Some(c) => c.parse().map_err(|_| malformed())?,
        None => 1,
    };
    Ok(RtpMap {
        pt,
        encoding: encoding.to_owned(),
        clock_rate,
        channels,
    })
}

fn excerpt(line: &str) -> String {
    line.chars().take(EXCERPT_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    fn parse(text: &str) -> SessionDescription {
        SessionDescription::parse(text).expect("fixture parses")
    }

    #[test]
    fn baresip_answer() {
        let sdp = parse(BARESIP);
        assert_eq!(sdp.origin_session_id, 1656563213);
        assert_eq!(sdp.origin_version, 2134564537);
        assert_eq!(sdp.connection, Some("192.168.1.50".parse().unwrap()));
        let [audio] = sdp.media.as_slice() else {
            panic!("one m= line expected");
        };
        assert_eq!(audio.kind, "audio");
        assert_eq!(audio.port, 10000);
        assert_eq!(audio.proto, "RTP/AVP");
        assert_eq!(audio.formats, [0, 8, 101]);
        assert_eq!(audio.rtpmap.len(), 3);
        assert_eq!(
            audio.rtpmap_for(101),
            Some(&RtpMap {
                pt: 101,
                encoding: "telephone-event".into(),
                clock_rate: 8000,
                channels: 1,
            })
        );
        assert_eq!(audio.fmtp_for(101), Some("0-15"));
        assert_eq!(audio.direction, Direction::SendRecv);
        assert_eq!(audio.ptime, Some(20));
    }

    #[test]
    fn sipp_answer_with_lf_only() {
        assert!(!SIPP.contains('\r'));
        let sdp = parse(SIPP);
        assert_eq!(sdp.media[0].formats, [0, 101]);
        assert_eq!(sdp.media[0].port, 6000);
        assert_eq!(sdp.media[0].ptime, None);
    }

    #[test]
    fn media_level_connection_and_maxptime() {
        let sdp = parse(CISCO_VNPT);
        let audio = &sdp.media[0];
        assert_eq!(audio.connection, Some("113.160.1.20".parse().unwrap()));
        assert_eq!(sdp.connection_for(audio), audio.connection);
        assert_eq!(audio.formats, [18, 8, 0, 96]);
        assert_eq!(audio.fmtp_for(18), Some("annexb=no"));
        assert_eq!(audio.ptime, Some(20));
    }

    #[test]
    fn ipv6_connection() {
        let sdp = parse(IPV6);
        assert_eq!(sdp.connection, Some("2001:db8::10".parse().unwrap()));
        let loopback = "v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert_eq!(parse(loopback).connection, Some("::1".parse().unwrap()));
    }

    #[test]
    fn session_direction_applies_unless_media_overrides() {
        let text = "v=0\no=- 1 2 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\na=sendonly\n\
                    m=audio 4000 RTP/AVP 0\nm=audio 4002 RTP/AVP 0\na=inactive\n";
        let sdp = parse(text);
        assert_eq!(sdp.media[0].direction, Direction::SendOnly);
        assert_eq!(sdp.media[1].direction, Direction::Inactive);
    }

    #[test]
    fn connection_ttl_suffix_and_port_count_are_stripped() {
        let text = "v=0\no=- 1 2 IN IP4 10.0.0.1\ns=-\nc=IN IP4 224.2.1.1/127\nt=0 0\nm=audio 4000/2 RTP/AVP 8\n";
        let sdp = parse(text);
        assert_eq!(sdp.connection, Some("224.2.1.1".parse().unwrap()));
        assert_eq!(sdp.media[0].port, 4000);
    }

    #[test]
    fn rejected_non_rtp_stream_without_connection_is_kept() {
        let sdp = parse(AUDIO_AND_T38_REJECTED);
        assert_eq!(sdp.media.len(), 2);
        assert_eq!(sdp.media[1].kind, "image");
        assert_eq!(sdp.media[1].port, 0);
        assert!(sdp.media[1].formats.is_empty());
    }

    #[test]
    fn rtpmap_channels() {
        let text = "v=0\no=- 1 2 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n\
                    m=audio 4000 RTP/AVP 111\na=rtpmap:111 opus/48000/2\n";
        assert_eq!(parse(text).media[0].rtpmap[0].channels, 2);
    }

    #[test]
    fn empty_and_garbage_are_typed_errors() {
        assert_eq!(SessionDescription::parse(""), Err(SdpError::Empty));
        assert_eq!(SessionDescription::parse("\r\n \r\n"), Err(SdpError::Empty));
        assert!(matches!(
            SessionDescription::parse("SIP/2.0 200 OK\r\n"),
            Err(SdpError::NotSdp { .. })
        ));
        let long_garbage = "x".repeat(10_000);
        match SessionDescription::parse(&long_garbage) {
            Err(SdpError::NotSdp { line }) => assert_eq!(line.len(), EXCERPT_CHARS),
            other => panic!("expected NotSdp, got {other:?}"),
        }
    }

    type ErrorCheck = fn(&SdpError) -> bool;

    #[test]
    fn missing_or_garbled_lines_are_typed_errors() {
        let head = "v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\n";
        let cases: [(&str, ErrorCheck); 9] = [
            (
                "v=0\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n",
                |e| matches!(e, SdpError::MissingOrigin),
            ),
            (
                "v=0\r\no=- abc 2 IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n",
                |e| matches!(e, SdpError::MalformedOrigin { .. }),
            ),
            ("c=IN IP4 10.0.0.1\r\nt=0 0\r\n", |e| {
                matches!(e, SdpError::MissingMedia)
            }),
            ("c=IN IP4 10.0.0.1\r\nm=audio abc RTP/AVP 0\r\n", |e| {
                matches!(e, SdpError::MalformedMedia { .. })
            }),
            ("c=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP PCMU\r\n", |e| {
                matches!(e, SdpError::MalformedMedia { .. })
            }),
            ("c=IN IP4 10.0.0.1\r\nm=audio\r\n", |e| {
                matches!(e, SdpError::MalformedMedia { .. })
            }),
            (
                "c=IN IP4 not.an.address\r\nm=audio 4000 RTP/AVP 0\r\n",
                |e| matches!(e, SdpError::MalformedConnection { .. }),
            ),
            ("m=audio 4000 RTP/AVP 0\r\n", |e| {
                matches!(e, SdpError::MissingConnection { index: 0 })
            }),
            (
                "c=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 96\r\na=rtpmap:96 PCMU\r\n",
                |e| matches!(e, SdpError::MalformedRtpmap { .. }),
            ),
        ];
        for (body, expected) in cases {
            let text = if body.starts_with("v=0") {
                body.to_owned()
            } else {
                format!("{head}{body}")
            };
            let err = SessionDescription::parse(&text).expect_err(&text);
            assert!(expected(&err), "{text:?} gave {err:?}");
        }
    }

    #[test]
    fn address_family_must_match_addrtype() {
        let text =
            "v=0\no=- 1 2 IN IP4 10.0.0.1\ns=-\nc=IN IP4 ::1\nt=0 0\nm=audio 4000 RTP/AVP 0\n";
        assert!(matches!(
            SessionDescription::parse(text),
            Err(SdpError::MalformedConnection { .. })
        ));
    }

    #[test]
    fn unknown_lines_and_noise_are_ignored() {
        let text = "v=0\no=- 1 2 IN IP4 10.0.0.1\ns=-\nz=0 0\nk=prompt\nthis is not a line\n\
                    c=IN IP4 10.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP 0\na=x-private:stuff\n\
                    a=fmtp:bogus\na=ptime:twenty\n";
        let sdp = parse(text);
        assert!(sdp.media[0].fmtp.is_empty());
        assert_eq!(sdp.media[0].ptime, None);
    }
}
