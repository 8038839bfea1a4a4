//! DTMF from RFC 4733 events, SIP INFO and in-band tones, merged into one digit stream.
