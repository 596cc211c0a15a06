//! G.711 PCMU (µ-law) and PCMA (A-law), table-exact with the ITU-T reference
//! algorithms (G.711 / G.191 `g711.c`), implemented as lookup tables computed
//! at compile time: 256-entry decode tables and 16384/4096-entry encode tables
//! indexed by the linear sample shifted down to the law's resolution.

/// An audio codec hotline speaks on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
}

impl Codec {
    /// Static RTP payload type (RFC 3551).
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// Codec for a static payload type, if it is one of ours.
    pub fn from_static_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// Codec from an SDP rtpmap encoding name (`PCMU`, `PCMA`, any case).
    pub fn from_sdp_name(name: &str) -> Option<Codec> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }

    /// Encodes one linear sample.
    #[inline]
    pub fn encode(self, s: i16) -> u8 {
        match self {
            Codec::Pcmu => ulaw_encode(s),
            Codec::Pcma => alaw_encode(s),
        }
    }

    /// Decodes one code word.
    #[inline]
    pub fn decode(self, c: u8) -> i16 {
        match self {
            Codec::Pcmu => ulaw_decode(c),
            Codec::Pcma => alaw_decode(c),
        }
    }

    /// Encodes `pcm` into `out` (lengths must match; extra is ignored).
    pub fn encode_slice(self, pcm: &[i16], out: &mut [u8]) {
        match self {
            Codec::Pcmu => pcm.iter().zip(out).for_each(|(s, o)| *o = ulaw_encode(*s)),
            Codec::Pcma => pcm.iter().zip(out).for_each(|(s, o)| *o = alaw_encode(*s)),
        }
    }

    /// Decodes `data` into `out` (lengths must match; extra is ignored).
    pub fn decode_slice(self, data: &[u8], out: &mut [i16]) {
        let table = match self {
            Codec::Pcmu => &ULAW_DECODE,
            Codec::Pcma => &ALAW_DECODE,
        };
        data.iter()
            .zip(out)
            .for_each(|(c, o)| *o = table[usize::from(*c)]);
    }

    /// Code word for digital silence.
    pub fn silence(self) -> u8 {
        self.encode(0)
    }
}

/// Rewrites a payload from one law to the other in place (via linear).
pub fn transcode_in_place(from: Codec, to: Codec, data: &mut [u8]) {
    match (from, to) {
        (Codec::Pcmu, Codec::Pcma) => data.iter_mut().for_each(|c| *c = U2A[usize::from(*c)]),
        (Codec::Pcma, Codec::Pcmu) => data.iter_mut().for_each(|c| *c = A2U[usize::from(*c)]),
        _ => {}
    }
}

const fn ulaw_decode_ref(code: u8) -> i16 {
    let negative = code < 0x80;
    let m = !code;
    let exponent = ((m >> 4) & 0x07) as i32;
    let segment = exponent + 1;
    let mantissa = (m & 0x0f) as i32;
    let step = 4 << segment;
    let v = (0x80 << exponent) + step * mantissa + step / 2 - 4 * 33;
    if negative { -v as i16 } else { v as i16 }
}

const fn ulaw_encode_ref(x: i16) -> u8 {
    let mut absno: i32 = if x < 0 {
        ((!x as i32) >> 2) + 33
    } else {
        ((x as i32) >> 2) + 33
    };
    if absno > 0x1fff {
        absno = 0x1fff;
    }
    let mut i = absno >> 6;
    let mut segno = 1;
    while i != 0 {
        segno += 1;
        i >>= 1;
    }
    let high = 0x08 - segno;
    let low = 0x0f - ((absno >> segno) & 0x0f);
    let mut code = (high << 4) | low;
    if x >= 0 {
        code |= 0x80;
    }
    code as u8
}

const fn alaw_decode_ref(code: u8) -> i16 {
    let ix = ((code ^ 0x55) & 0x7f) as i32;
    let exponent = ix >> 4;
    let mut mant = ix & 0x0f;
    if exponent > 0 {
        mant += 16;
    }
    mant = (mant << 4) + 0x08;
    if exponent > 1 {
        mant <<= exponent - 1;
    }
    if code > 127 {
        mant as i16
    } else {
        -mant as i16
    }
}

const fn alaw_encode_ref(x: i16) -> u8 {
    let mut ix: i32 = if x < 0 {
        (!x as i32) >> 4
    } else {
        (x as i32) >> 4
    };
    if ix > 15 {
        let mut exp = 1;
        while ix > 16 + 15 {
            ix >>= 1;
            exp += 1;
        }
        ix -= 16;
        ix += exp << 4;
    }
    if x >= 0 {
        ix |= 0x80;
    }
    (ix ^ 0x55) as u8
}

const fn build_decode(alaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if alaw {
            alaw_decode_ref(i as u8)
        } else {
            ulaw_decode_ref(i as u8)
        };
        i += 1;
    }
    t
}

// µ-law depends only on x >> 2 (14 bits); the table is indexed by that value
// offset to be non-negative.
const fn build_ulaw_encode() -> [u8; 16384] {
    let mut t = [0u8; 16384];
    let mut i = 0;
    while i < 16384 {
        let x = ((i as i32 - 8192) << 2) as i16;
        t[i] = ulaw_encode_ref(x);
        i += 1;
    }
    t
}

// A-law depends only on x >> 4 (12 bits).
const fn build_alaw_encode() -> [u8; 4096] {
    let mut t = [0u8; 4096];
    let mut i = 0;
    while i < 4096 {
        let x = ((i as i32 - 2048) << 4) as i16;
        t[i] = alaw_encode_ref(x);
        i += 1;
    }
    t
}

const fn build_cross(u2a: bool) -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if u2a {
            alaw_encode_ref(ulaw_decode_ref(i as u8))
        } else {
            ulaw_encode_ref(alaw_decode_ref(i as u8))
        };
        i += 1;
    }
    t
}

static ULAW_DECODE: [i16; 256] = build_decode(false);
static ALAW_DECODE: [i16; 256] = build_decode(true);
static ULAW_ENCODE: [u8; 16384] = build_ulaw_encode();
static ALAW_ENCODE: [u8; 4096] = build_alaw_encode();
static U2A: [u8; 256] = build_cross(true);
static A2U: [u8; 256] = build_cross(false);

/// µ-law decode.
#[inline]
pub fn ulaw_decode(c: u8) -> i16 {
    ULAW_DECODE[usize::from(c)]
}

/// A-law decode.
#[inline]
pub fn alaw_decode(c: u8) -> i16 {
    ALAW_DECODE[usize::from(c)]
}

/// µ-law encode.
#[inline]
pub fn ulaw_encode(s: i16) -> u8 {
    // (s >> 2) is in -8192..=8191, so the index is in 0..16384.
    ULAW_ENCODE[((i32::from(s) >> 2) + 8192) as usize]
}

/// A-law encode.
#[inline]
pub fn alaw_encode(s: i16) -> u8 {
    // (s >> 4) is in -2048..=2047, so the index is in 0..4096.
    ALAW_ENCODE[((i32::from(s) >> 4) + 2048) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // Reference points from the G.711 tables.
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_decode(0x7f), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0xfe), 8);
        assert_eq!(ulaw_decode(0xef), 132);
        assert_eq!(alaw_decode(0xd5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xaa), 32256);
        assert_eq!(alaw_decode(0x2a), -32256);
        assert_eq!(alaw_decode(0xc5), 264);
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(alaw_encode(0), 0xd5);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_encode(i16::MAX), 0xaa);
        assert_eq!(alaw_encode(i16::MIN), 0x2a);
    }

    #[test]
    fn tables_match_reference_for_every_sample() {
        for x in i16::MIN..=i16::MAX {
            assert_eq!(ulaw_encode(x), ulaw_encode_ref(x), "ulaw {x}");
            assert_eq!(alaw_encode(x), alaw_encode_ref(x), "alaw {x}");
        }
    }

    #[test]
    fn decode_encode_roundtrip() {
        for c in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(c)), c);
            if c != 0x7f {
                assert_eq!(ulaw_encode(ulaw_decode(c)), c);
            }
        }
    }

    #[test]
    fn monotone_and_symmetric() {
        let mut prev = i16::MIN;
        for x in (i16::MIN..=i16::MAX).step_by(7) {
            let d = ulaw_decode(ulaw_encode(x));
            assert!(d >= prev);
            prev = d;
            assert!((i32::from(d) - i32::from(x)).abs() <= 1100);
        }
        for x in [100i16, 1000, 10000] {
            assert_eq!(
                alaw_decode(alaw_encode(x)),
                -alaw_decode(alaw_encode(-x - 1))
            );
        }
    }

    #[test]
    fn transcode_tables() {
        let mut d: Vec<u8> = (0..=255).collect();
        transcode_in_place(Codec::Pcmu, Codec::Pcma, &mut d);
        for (i, c) in d.iter().enumerate() {
            assert_eq!(*c, alaw_encode(ulaw_decode(i as u8)));
        }
    }
}
