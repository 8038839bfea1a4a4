//! SDP answers as real peers write them, shared by the parser and negotiation tests.

/// baresip 3.x answering our offer: RTCP port, label and ssrc attributes.
pub const BARESIP: &str = "v=0\r\n\
o=- 1656563213 2134564537 IN IP4 192.168.1.50\r\n\
s=-\r\n\
c=IN IP4 192.168.1.50\r\n\
t=0 0\r\n\
m=audio 10000 RTP/AVP 0 8 101\r\n\
b=AS:64\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=rtcp:10001\r\n\
a=sendrecv\r\n\
a=label:1\r\n\
a=ssrc:1404385453 cname:4f3d6c1b-5d34-4b2b-8f50-6a1e3c1c0c1a\r\n\
a=rtcp-rsize\r\n\
a=ptime:20\r\n";

/// sipp's uas scenario, as it leaves sipp: bare LF line ends.
pub const SIPP: &str = "v=0\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\n\
s=-\n\
c=IN IP4 127.0.0.1\n\
t=0 0\n\
m=audio 6000 RTP/AVP 0 101\n\
a=rtpmap:0 PCMU/8000\n\
a=rtpmap:101 telephone-event/8000\n\
a=fmtp:101 0-15\n";

/// Asterisk (chan_pjsip) keeping only A-law; note `0-16` (flash hook included).
pub const ASTERISK: &str = "v=0\r\n\
o=- 1722934420 1722934422 IN IP4 10.0.0.5\r\n\
s=Asterisk\r\n\
c=IN IP4 10.0.0.5\r\n\
t=0 0\r\n\
m=audio 18234 RTP/AVP 8 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=maxptime:150\r\n\
a=sendrecv\r\n";

/// A Cisco CUBE style answer as seen behind VNPT: media-level `c=` pointing at the
/// media gateway, G.729 listed, telephone-event at 96, static PTs without rtpmap
/// for PCMU, `a=maxptime`.
pub const CISCO_VNPT: &str = "v=0\r\n\
o=CiscoSystemsSIP-GW-UserAgent 4817 7236 IN IP4 113.160.1.10\r\n\
s=SIP Call\r\n\
c=IN IP4 113.160.1.10\r\n\
t=0 0\r\n\
m=audio 19530 RTP/AVP 18 8 0 96\r\n\
c=IN IP4 113.160.1.20\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:96 telephone-event/8000\r\n\
a=fmtp:96 0-16\r\n\
a=ptime:20\r\n\
a=maxptime:20\r\n";

/// Asterisk putting the call on hold (music on hold comes from its side).
pub const HOLD_SENDONLY: &str = "v=0\r\n\
o=- 1722934420 1722934423 IN IP4 10.0.0.5\r\n\
s=Asterisk\r\n\
c=IN IP4 10.0.0.5\r\n\
t=0 0\r\n\
m=audio 18234 RTP/AVP 8 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=sendonly\r\n";

/// Both directions paused.
pub const HOLD_INACTIVE: &str = "v=0\r\n\
o=- 77 78 IN IP4 10.0.0.5\r\n\
s=-\r\n\
c=IN IP4 10.0.0.5\r\n\
t=0 0\r\n\
m=audio 18234 RTP/AVP 0\r\n\
a=inactive\r\n";

/// RFC 2543 hold: connection address 0.0.0.0, no direction attribute.
pub const HOLD_RFC2543: &str = "v=0\r\n\
o=- 77 79 IN IP4 10.0.0.5\r\n\
s=-\r\n\
c=IN IP4 0.0.0.0\r\n\
t=0 0\r\n\
m=audio 18234 RTP/AVP 0 101\r\n\
a=rtpmap:101 telephone-event/8000\r\n";

/// An IPv6 peer with telephone-event at 126.
pub const IPV6: &str = "v=0\r\n\
o=- 1 1 IN IP6 2001:db8::10\r\n\
s=-\r\n\
c=IN IP6 2001:db8::10\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 8 126\r\n\
a=rtpmap:126 telephone-event/8000\r\n\
a=fmtp:126 0-15\r\n";

/// Video rejected, a rejected first audio line and the usable audio second.
pub const VIDEO_THEN_AUDIO: &str = "v=0\r\n\
o=- 5 5 IN IP4 10.1.1.1\r\n\
s=-\r\n\
c=IN IP4 10.1.1.1\r\n\
t=0 0\r\n\
m=video 0 RTP/AVP 96\r\n\
m=audio 0 RTP/AVP 0\r\n\
m=audio 30000 RTP/AVP 8\r\n";

/// Audio plus a rejected T.38 stream without a `c=` of its own.
pub const AUDIO_AND_T38_REJECTED: &str = "v=0\r\n\
o=- 9 9 IN IP4 10.1.1.1\r\n\
s=-\r\n\
t=0 0\r\n\
m=audio 30000 RTP/AVP 0\r\n\
c=IN IP4 10.1.1.1\r\n\
m=image 0 udptl t38\r\n";

/// The audio stream refused outright.
pub const AUDIO_REJECTED: &str = "v=0\r\n\
o=- 9 9 IN IP4 10.1.1.1\r\n\
s=-\r\n\
c=IN IP4 10.1.1.1\r\n\
t=0 0\r\n\
m=audio 0 RTP/AVP 0 8\r\n";

/// Only video: nothing for a voice survey.
pub const VIDEO_ONLY: &str = "v=0\r\n\
o=- 9 9 IN IP4 10.1.1.1\r\n\
s=-\r\n\
c=IN IP4 10.1.1.1\r\n\
t=0 0\r\n\
m=video 5000 RTP/AVP 96\r\n\
a=rtpmap:96 H264/90000\r\n";

/// G.729 and G.722 only: no G.711 in common.
pub const NO_G711: &str = "v=0\r\n\
o=- 9 9 IN IP4 10.1.1.1\r\n\
s=-\r\n\
c=IN IP4 10.1.1.1\r\n\
t=0 0\r\n\
m=audio 5000 RTP/AVP 18 9 101\r\n\
a=rtpmap:18 G729/8000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n";
