//! G.711 (ITU-T G.711) µ-law and A-law, written in-house.
//!
//! Why in-house: G.711 is a handful of table lookups, and every call's audio passes through
//! it 50 times a second in each direction, so it must not allocate and must be exact. All
//! tables are built at compile time by `const fn`s that follow the ITU-T reference
//! algorithm (the same one as the widely used Sun `g711.c`), so there is nothing to
//! initialise at run time.
//!
//! Linear samples are 16-bit; A-law quantises the top 13 bits and µ-law the top 14 bits,
//! as the standard specifies.

/// G.711 sampling rate (Hz). RFC 3551 §4.5.14: PCMU/PCMA are 8000 Hz.
pub const SAMPLE_RATE: u32 = 8000;

/// Samples in one 20 ms packet, the packetisation we send (RFC 3551 §4.2 default `ptime`).
pub const FRAME_SAMPLES: usize = 160;

/// The two G.711 variants with static RTP payload types (RFC 3551 §6, Table 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// µ-law, payload type 0.
    Pcmu,
    /// A-law, payload type 8 (the usual choice on Vietnamese/European trunks).
    Pcma,
}

impl Codec {
    /// Static RTP payload type (RFC 3551 Table 4).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// Encoding name as written in SDP `a=rtpmap` (RFC 4566 §6).
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// Parse an `a=rtpmap` encoding name; SDP encoding names are case-insensitive
    /// (RFC 4855 §3).
    pub fn from_name(name: &str) -> Option<Codec> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }

    /// Map a static payload type to its codec.
    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// Encode linear PCM into G.711. Encodes `min(pcm.len(), out.len())` samples.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) {
        match self {
            Codec::Pcmu => {
                for (o, &s) in out.iter_mut().zip(pcm) {
                    *o = ulaw_encode(s);
                }
            }
            Codec::Pcma => {
                for (o, &s) in out.iter_mut().zip(pcm) {
                    *o = alaw_encode(s);
                }
            }
        }
    }

    /// Decode G.711 into linear PCM. Decodes `min(g711.len(), out.len())` samples.
    pub fn decode(self, g711: &[u8], out: &mut [i16]) {
        let table = match self {
            Codec::Pcmu => &ULAW_DECODE,
            Codec::Pcma => &ALAW_DECODE,
        };
        for (o, &b) in out.iter_mut().zip(g711) {
            *o = table[b as usize];
        }
    }
}

/// Convert between A-law and µ-law without going through a caller buffer (used when
/// bridging a PCMA trunk leg to a PCMU leg). Converts `min(input.len(), out.len())` bytes;
/// `from == to` copies.
pub fn transcode(from: Codec, to: Codec, input: &[u8], out: &mut [u8]) {
    let table = match (from, to) {
        (Codec::Pcma, Codec::Pcmu) => &ALAW_TO_ULAW,
        (Codec::Pcmu, Codec::Pcma) => &ULAW_TO_ALAW,
        _ => {
            let n = input.len().min(out.len());
            out[..n].copy_from_slice(&input[..n]);
            return;
        }
    };
    for (o, &b) in out.iter_mut().zip(input) {
        *o = table[b as usize];
    }
}

/// Encode one sample to A-law.
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    // Index by the 13-bit value G.711 A-law quantises (arithmetic shift keeps the sign).
    ALAW_ENCODE[((sample >> 3) as u16 & 0x1FFF) as usize]
}

/// Encode one sample to µ-law.
#[inline]
pub fn ulaw_encode(sample: i16) -> u8 {
    // Index by the 14-bit value G.711 µ-law quantises.
    ULAW_ENCODE[((sample >> 2) as u16 & 0x3FFF) as usize]
}

/// Decode one A-law byte.
#[inline]
pub fn alaw_decode(byte: u8) -> i16 {
    ALAW_DECODE[byte as usize]
}

/// Decode one µ-law byte.
#[inline]
pub fn ulaw_decode(byte: u8) -> i16 {
    ULAW_DECODE[byte as usize]
}

// ---------------------------------------------------------------------------------------
// Reference algorithm (ITU-T G.711 §2/§3), evaluated at compile time.

/// Segment end points, A-law (13-bit magnitude) and µ-law (14-bit biased magnitude).
const SEG_AEND: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
const SEG_UEND: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
/// µ-law bias (G.711 Table 2), in 16-bit units.
const ULAW_BIAS: i32 = 0x84;
/// µ-law clip level of the 14-bit magnitude.
const ULAW_CLIP: i32 = 8159;

const fn segment(val: i32, ends: &[i32; 8]) -> usize {
    let mut i = 0;
    while i < 8 {
        if val <= ends[i] {
            return i;
        }
        i += 1;
    }
    8
}

/// A-law from a 16-bit sample. Even bits are inverted (XOR 0x55) per G.711 §3.
const fn alaw_from_linear(pcm: i32) -> u8 {
    let mut v = pcm >> 3;
    let mask: u8 = if v >= 0 {
        0xD5
    } else {
        v = -v - 1;
        0x55
    };
    let seg = segment(v, &SEG_AEND);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let quant = if seg < 2 {
        (v >> 1) & 0x0F
    } else {
        (v >> seg) & 0x0F
    };
    (((seg as i32) << 4) as u8 | quant as u8) ^ mask
}

/// µ-law from a 16-bit sample. All bits are inverted per G.711 §2. Negative samples
/// take the one's complement, as the ITU-T G.191 reference `ulaw_compress` does (so −1
/// encodes as negative zero, 0x7F).
const fn ulaw_from_linear(pcm: i32) -> u8 {
    let mut v = pcm >> 2;
    let mask: u8 = if v < 0 {
        v = !v;
        0x7F
    } else {
        0xFF
    };
    if v > ULAW_CLIP {
        v = ULAW_CLIP;
    }
    v += ULAW_BIAS >> 2;
    let seg = segment(v, &SEG_UEND);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    (((seg as i32) << 4) as u8 | ((v >> (seg + 1)) & 0x0F) as u8) ^ mask
}

const fn linear_from_alaw(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

const fn linear_from_ulaw(byte: u8) -> i16 {
    let u = !byte;
    let mut t = (((u & 0x0F) as i32) << 3) + ULAW_BIAS;
    t <<= ((u & 0x70) >> 4) as i32;
    (if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    }) as i16
}

/// Sign-extend a `bits`-wide table index back to the value it stands for.
const fn sign_extend(index: usize, bits: u32) -> i32 {
    ((index as i32) << (32 - bits)) >> (32 - bits)
}

static ALAW_ENCODE: [u8; 8192] = {
    let mut t = [0u8; 8192];
    let mut i = 0;
    while i < 8192 {
        t[i] = alaw_from_linear(sign_extend(i, 13) << 3);
        i += 1;
    }
    t
};

static ULAW_ENCODE: [u8; 16384] = {
    let mut t = [0u8; 16384];
    let mut i = 0;
    while i < 16384 {
        t[i] = ulaw_from_linear(sign_extend(i, 14) << 2);
        i += 1;
    }
    t
};

static ALAW_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = linear_from_alaw(i as u8);
        i += 1;
    }
    t
};

static ULAW_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = linear_from_ulaw(i as u8);
        i += 1;
    }
    t
};

static ALAW_TO_ULAW: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_from_linear(linear_from_alaw(i as u8) as i32);
        i += 1;
    }
    t
};

static ULAW_TO_ALAW: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_from_linear(linear_from_ulaw(i as u8) as i32);
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_payload_types() {
        assert_eq!(Codec::Pcmu.payload_type(), 0);
        assert_eq!(Codec::Pcma.payload_type(), 8);
        assert_eq!(Codec::from_name("pcma"), Some(Codec::Pcma));
        assert_eq!(Codec::from_name("PcMu"), Some(Codec::Pcmu));
        assert_eq!(Codec::from_name("G722"), None);
        assert_eq!(Codec::from_payload_type(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_payload_type(101), None);
        for c in [Codec::Pcmu, Codec::Pcma] {
            assert_eq!(Codec::from_name(c.name()), Some(c));
            assert_eq!(Codec::from_payload_type(c.payload_type()), Some(c));
        }
    }

    #[test]
    fn known_code_points() {
        // Silence: A-law 0xD5 (+0) / 0x55 (-0), µ-law 0xFF (+0) / 0x7F (-0).
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(-1), 0x7F);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        // Full scale: A-law 0xAA/0x2A = ±32256, µ-law 0x80/0x00 = ±32124.
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
    }

    #[test]
    fn decode_then_encode_is_identity_on_code_words() {
        for b in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(b)), b, "A-law {b:#04x}");
            // µ-law has two zeros (0xFF, 0x7F); both decode to 0, which encodes as 0xFF.
            let expect = if b == 0x7F { 0xFF } else { b };
            assert_eq!(ulaw_encode(ulaw_decode(b)), expect, "µ-law {b:#04x}");
        }
    }

    #[test]
    fn round_trip_error_is_within_half_a_step() {
        // Quantisation error is at most half the segment step, i.e. relative error
        // ~3% for large samples and a few LSBs near zero.
        for s in (i16::MIN as i32..=i16::MAX as i32).step_by(7) {
            let s = s as i16;
            for (enc, dec, floor) in [
                (
                    alaw_encode as fn(i16) -> u8,
                    alaw_decode as fn(u8) -> i16,
                    16,
                ),
                (ulaw_encode, ulaw_decode, 8),
            ] {
                let back = dec(enc(s)) as i32;
                let err = (back - s as i32).abs();
                let limit = floor.max((s as i32).abs() / 30 + 8);
                assert!(err <= limit, "{s} -> {back} (err {err} > {limit})");
            }
        }
    }

    #[test]
    fn encoding_is_monotonic() {
        let mut prev_a = i16::MIN;
        let mut prev_u = i16::MIN;
        for s in i16::MIN..=i16::MAX {
            let a = alaw_decode(alaw_encode(s));
            let u = ulaw_decode(ulaw_encode(s));
            assert!(a >= prev_a && u >= prev_u, "not monotonic at {s}");
            prev_a = a;
            prev_u = u;
        }
    }

    #[test]
    fn slice_encode_decode_and_transcode() {
        let pcm: Vec<i16> = (0..FRAME_SAMPLES)
            .map(|i| ((i as f64 * 0.3).sin() * 12000.0) as i16)
            .collect();
        let mut a = [0u8; FRAME_SAMPLES];
        let mut u = [0u8; FRAME_SAMPLES];
        Codec::Pcma.encode(&pcm, &mut a);
        Codec::Pcmu.encode(&pcm, &mut u);
        let mut back = [0i16; FRAME_SAMPLES];
        Codec::Pcma.decode(&a, &mut back);
        for (x, y) in pcm.iter().zip(back) {
            assert!((*x as i32 - y as i32).abs() <= 400);
        }
        // Transcoding must land within about one step of encoding the original directly.
        let mut t = [0u8; FRAME_SAMPLES];
        transcode(Codec::Pcma, Codec::Pcmu, &a, &mut t);
        for (x, y) in t.iter().zip(u) {
            let (dx, dy) = (ulaw_decode(*x) as i32, ulaw_decode(y) as i32);
            assert!((dx - dy).abs() <= 8 + dy.abs() / 16, "{dx} vs {dy}");
        }
        let mut t2 = [0u8; FRAME_SAMPLES];
        transcode(Codec::Pcmu, Codec::Pcma, &u, &mut t2);
        for (x, y) in t2.iter().zip(a) {
            let (dx, dy) = (alaw_decode(*x) as i32, alaw_decode(y) as i32);
            assert!((dx - dy).abs() <= 16 + dy.abs() / 16, "{dx} vs {dy}");
        }
        transcode(Codec::Pcma, Codec::Pcma, &a, &mut t);
        assert_eq!(t, a);
        assert_eq!(ULAW_TO_ALAW[0xFF], 0xD5);
        // A-law +8 is one µ-law step above zero (G.711 Table 3).
        assert_eq!(ALAW_TO_ULAW[0xD5], 0xFE);
    }
}
