//! Message text: GSM 03.38 7-bit and UCS-2 encodings, long-message splitting with a user
//! data header (UDH), and reading the UDH of incoming messages.
//!
//! GSM 7-bit text goes out as `data_coding` 0 with one septet per octet (unpacked), which is
//! what most SMSCs expect over SMPP; [`pack_septets`] and [`unpack_septets`] are offered for
//! SMSCs that want packed septets. UCS-2 is `data_coding` 8, UTF-16BE: characters outside the
//! Basic Multilingual Plane travel as surrogate pairs, and a split never cuts one.

/// Septet that switches to the GSM 03.38 extension table for the next septet.
pub const GSM_ESCAPE: u8 = 0x1B;
/// `data_coding` for GSM 7-bit default alphabet (SMSC default).
pub const DCS_GSM7: u8 = 0x00;
/// `data_coding` for UCS-2.
pub const DCS_UCS2: u8 = 0x08;
/// Septets in a single GSM message.
pub const GSM_SINGLE: usize = 160;
/// Septets in one segment of a concatenated GSM message (6-octet UDH taken off).
pub const GSM_SEGMENT: usize = 153;
/// UTF-16 units in a single UCS-2 message.
pub const UCS2_SINGLE: usize = 70;
/// UTF-16 units in one segment of a concatenated UCS-2 message.
pub const UCS2_SEGMENT: usize = 67;
/// Most segments a concatenated message can have.
pub const MAX_SEGMENTS: usize = 255;

/// The GSM 03.38 default alphabet; index = septet. 0x1B (escape) maps to itself here and is
/// never produced by the encoder from text.
const GSM_BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The basic extension table: (septet after escape, char).
const GSM_EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// The septets for `c` in GSM 03.38 (one, or escape plus one), or `None` if it has none.
pub fn gsm7_char(c: char) -> Option<&'static [u8]> {
    const SEPTETS: [u8; 128] = {
        let mut t = [0u8; 128];
        let mut i = 0;
        while i < 128 {
            t[i] = i as u8;
            i += 1;
        }
        t
    };
    const EXT: [[u8; 2]; 10] = [
        [GSM_ESCAPE, 0x0A],
        [GSM_ESCAPE, 0x14],
        [GSM_ESCAPE, 0x28],
        [GSM_ESCAPE, 0x29],
        [GSM_ESCAPE, 0x2F],
        [GSM_ESCAPE, 0x3C],
        [GSM_ESCAPE, 0x3D],
        [GSM_ESCAPE, 0x3E],
        [GSM_ESCAPE, 0x40],
        [GSM_ESCAPE, 0x65],
    ];
    if c == '\u{1B}' {
        return None;
    }
    if let Some(i) = GSM_BASIC.iter().position(|&b| b == c) {
        return Some(&SEPTETS[i..i + 1]);
    }
    GSM_EXTENSION
        .iter()
        .position(|&(_, e)| e == c)
        .map(|i| &EXT[i][..])
}

/// Whether every char of `text` is in the GSM 03.38 default alphabet or its extension table.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm7_char(c).is_some())
}

/// Encodes `text` as unpacked septets (one per octet), or `None` if a char does not fit.
pub fn encode_gsm7(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        out.extend_from_slice(gsm7_char(c)?);
    }
    Some(out)
}

/// Decodes unpacked septets. An unknown extension septet reads as its basic-table char (as
/// GSM 03.38 says); a trailing escape is dropped; octets above 0x7F become U+FFFD.
pub fn decode_gsm7(septets: &[u8]) -> String {
    let mut out = String::with_capacity(septets.len());
    let mut it = septets.iter().copied();
    while let Some(s) = it.next() {
        if s == GSM_ESCAPE {
            let Some(next) = it.next() else { break };
            let c = match GSM_EXTENSION.iter().find(|&&(e, _)| e == next) {
                Some(&(_, c)) => c,
                None if next == GSM_ESCAPE => ' ',
                None => basic(next),
            };
            out.push(c);
        } else {
            out.push(basic(s));
        }
    }
    out
}

fn basic(s: u8) -> char {
    GSM_BASIC
        .get(usize::from(s))
        .copied()
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// Packs septets (values 0..=127) into octets, 8 septets per 7 octets, LSB first.
pub fn pack_septets(septets: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(septets.len() * 7 / 8 + 1);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &s in septets {
        acc |= u32::from(s & 0x7F) << bits;
        bits += 7;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push(acc as u8);
    }
    out
}

/// Unpacks `count` septets from packed octets (fewer if the octets run out).
pub fn unpack_septets(octets: &[u8], count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(count);
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut it = octets.iter();
    while out.len() < count {
        if bits < 7 {
            match it.next() {
                Some(&o) => {
                    acc |= u32::from(o) << bits;
                    bits += 8;
                }
                None => break,
            }
        }
        out.push((acc & 0x7F) as u8);
        acc >>= 7;
        bits -= 7;
    }
    out
}

/// Encodes `text` as UCS-2 (UTF-16BE, surrogate pairs for chars outside the BMP).
pub fn encode_ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
}

/// Decodes UTF-16BE; unpaired surrogates and an odd trailing octet become U+FFFD.
pub fn decode_ucs2(bytes: &[u8]) -> String {
    let units = bytes
        .chunks(2)
        .map(|c| match c {
            [a, b] => u16::from_be_bytes([*a, *b]),
            _ => 0xFFFD,
        })
        .collect::<Vec<_>>();
    String::from_utf16_lossy(&units)
}

/// Decodes user data (UDH already removed) by `data_coding`: 0 and the 0xF0 message-class
/// group as GSM 7-bit unpacked, 8 as UCS-2, 1 as ASCII, and everything else octet by octet
/// as ISO-8859-1.
pub fn decode_text(data_coding: u8, bytes: &[u8]) -> String {
    match data_coding {
        DCS_GSM7 | 0xF0..=0xF3 => decode_gsm7(bytes),
        DCS_UCS2 => decode_ucs2(bytes),
        0x01 => bytes
            .iter()
            .map(|&b| {
                if b.is_ascii() {
                    char::from(b)
                } else {
                    char::REPLACEMENT_CHARACTER
                }
            })
            .collect(),
        _ => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// How a text goes on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GSM 03.38 default alphabet, unpacked, `data_coding` 0.
    Gsm7,
    /// UCS-2 / UTF-16BE, `data_coding` 8.
    Ucs2,
}

impl Encoding {
    /// The `data_coding` value.
    pub fn data_coding(self) -> u8 {
        match self {
            Encoding::Gsm7 => DCS_GSM7,
            Encoding::Ucs2 => DCS_UCS2,
        }
    }
}

/// GSM 7-bit when every char fits, else UCS-2.
pub fn choose_encoding(text: &str) -> Encoding {
    if is_gsm7(text) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// A text ready for `submit_sm`: one `short_message` per segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedText {
    /// The encoding chosen.
    pub encoding: Encoding,
    /// `data_coding` for every segment.
    pub data_coding: u8,
    /// `esm_class` for every segment: 0x40 (UDH present) when there is more than one.
    pub esm_class: u8,
    /// Each segment's `short_message`, UDH included when concatenated.
    pub segments: Vec<Vec<u8>>,
}

/// Why a text cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// The text needs more than 255 segments.
    #[error("text needs {0} segments; at most 255 are possible")]
    TooManySegments(usize),
}

/// How GSM 7-bit septets are laid into octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gsm7Packing {
    /// One septet per octet: what most SMSCs expect over SMPP.
    #[default]
    Unpacked,
    /// Eight septets in seven octets, as on the air interface; after a UDH the septets
    /// start on the next septet boundary (fill bits are zero).
    Packed,
}

/// Encodes `text`, choosing GSM 7-bit (unpacked) or UCS-2, and splits it into concatenated
/// segments (UDH IEI 0x00, 8-bit `reference`) when it does not fit one message.
pub fn encode_text(text: &str, reference: u8) -> Result<EncodedText, TextError> {
    encode_text_with(text, reference, Gsm7Packing::Unpacked)
}

/// [`encode_text`] with a choice of GSM 7-bit packing. Segment limits are the same in
/// septets (160 single, 153 per segment), which packed is 140 octets with the UDH.
pub fn encode_text_with(
    text: &str,
    reference: u8,
    packing: Gsm7Packing,
) -> Result<EncodedText, TextError> {
    let mut t = encode_unpacked(text, reference)?;
    if packing == Gsm7Packing::Packed && t.encoding == Encoding::Gsm7 {
        let udh = if t.esm_class & crate::pdu::ESM_CLASS_UDHI != 0 {
            6
        } else {
            0
        };
        for seg in &mut t.segments {
            *seg = pack_after_udh(seg, udh);
        }
    }
    Ok(t)
}

/// Packs the septets after the first `udh` octets of `sm`, starting on the septet boundary
/// after the header, and keeps the header octets in front. When seven spare bits would be
/// left at the end they hold CR, as GSM 03.38 asks, so they do not read as `@`.
fn pack_after_udh(sm: &[u8], udh: usize) -> Vec<u8> {
    let udh = udh.min(sm.len());
    let fill = (udh * 8).div_ceil(7);
    let mut septets = vec![0u8; fill];
    septets.extend_from_slice(&sm[udh..]);
    if septets.len() % 8 == 7 {
        septets.push(0x0D);
    }
    let mut out = pack_septets(&septets);
    out[..udh].copy_from_slice(&sm[..udh]);
    out
}

/// Unpacks the packed GSM 7-bit user data of a whole `short_message` whose first `udh`
/// octets are a user data header (0 if none), returning one septet per octet. A CR in the
/// last seven bits of a whole number of septets is padding (GSM 03.38) and is dropped; a
/// sender that pads with zero bits instead shows a trailing `@`.
pub fn unpack_user_data(short_message: &[u8], udh: usize) -> Vec<u8> {
    let udh = udh.min(short_message.len());
    let total = short_message.len() * 8 / 7;
    let skip = (udh * 8).div_ceil(7);
    let mut septets = unpack_septets(short_message, total);
    if (short_message.len() * 8).is_multiple_of(7) && septets.last() == Some(&0x0D) {
        septets.pop();
    }
    septets.into_iter().skip(skip).collect()
}

fn encode_unpacked(text: &str, reference: u8) -> Result<EncodedText, TextError> {
    let encoding = choose_encoding(text);
    // Each char's encoded units: septets for GSM, UTF-16 units (as octet pairs) for UCS-2.
    let (units, single, segment, width): (Vec<Vec<u8>>, usize, usize, usize) = match encoding {
        Encoding::Gsm7 => (
            text.chars()
                .filter_map(|c| gsm7_char(c).map(<[u8]>::to_vec))
                .collect(),
            GSM_SINGLE,
            GSM_SEGMENT,
            1,
        ),
        Encoding::Ucs2 => (
            text.chars()
                .map(|c| {
                    let mut buf = [0u16; 2];
                    c.encode_utf16(&mut buf)
                        .iter()
                        .flat_map(|u| u.to_be_bytes())
                        .collect()
                })
                .collect(),
            UCS2_SINGLE,
            UCS2_SEGMENT,
            2,
        ),
    };
    let total: usize = units.iter().map(Vec::len).sum::<usize>() / width;
    let data_coding = encoding.data_coding();
    if total <= single {
        return Ok(EncodedText {
            encoding,
            data_coding,
            esm_class: 0,
            segments: vec![units.concat()],
        });
    }
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    for u in units {
        if (cur.len() + u.len()) / width > segment {
            chunks.push(std::mem::take(&mut cur));
        }
        cur.extend_from_slice(&u);
    }
    if !cur.is_empty() {
        chunks.push(cur);
    }
    if chunks.len() > MAX_SEGMENTS {
        return Err(TextError::TooManySegments(chunks.len()));
    }
    let n = chunks.len() as u8;
    let segments = chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let mut sm = vec![0x05, 0x00, 0x03, reference, n, i as u8 + 1];
            sm.extend_from_slice(&c);
            sm
        })
        .collect();
    Ok(EncodedText {
        encoding,
        data_coding,
        esm_class: crate::pdu::ESM_CLASS_UDHI,
        segments,
    })
}

/// The concatenation information element of one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Concat {
    /// Reference shared by all segments (8- or 16-bit).
    pub reference: u16,
    /// Number of segments.
    pub total: u8,
    /// This segment's 1-based number.
    pub seq: u8,
}

impl Concat {
    fn valid(self) -> Option<Concat> {
        (self.total >= 1 && self.seq >= 1 && self.seq <= self.total).then_some(self)
    }
}

/// Splits a `short_message` that starts with a UDH into its concatenation element (IEI 0x00
/// or 0x08, if present and valid) and the user data after the header. Returns `None` when
/// the header is malformed (its length runs past the data).
pub fn parse_udh(short_message: &[u8]) -> Option<(Option<Concat>, &[u8])> {
    let (&udhl, rest) = short_message.split_first()?;
    let udhl = usize::from(udhl);
    let header = rest.get(..udhl)?;
    let payload = rest.get(udhl..)?;
    let mut concat = None;
    let mut ies = header;
    while let [iei, len, tail @ ..] = ies {
        let data = tail.get(..usize::from(*len))?;
        match (*iei, data) {
            (0x00, [r, t, s]) => {
                concat = Concat {
                    reference: u16::from(*r),
                    total: *t,
                    seq: *s,
                }
                .valid();
            }
            (0x08, [r1, r2, t, s]) => {
                concat = Concat {
                    reference: u16::from_be_bytes([*r1, *r2]),
                    total: *t,
                    seq: *s,
                }
                .valid();
            }
            _ => {}
        }
        ies = &tail[usize::from(*len)..];
    }
    Some((concat, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn gsm_basic_and_extension_chars_round_trip() {
        let text = "Hello @£$¥ €[]{}|^~\\ ÄÖÑÜ§¿äöñüà Δ_ΦΓΛΩΠΨΣΘΞ\n";
        assert!(is_gsm7(text));
        let septets = encode_gsm7(text).unwrap();
        assert_eq!(decode_gsm7(&septets), text);
        assert_eq!(encode_gsm7("€").unwrap(), vec![0x1B, 0x65]);
        assert_eq!(encode_gsm7("@a").unwrap(), vec![0x00, 0x61]);
        assert_eq!(encode_gsm7("[]").unwrap(), vec![0x1B, 0x3C, 0x1B, 0x3E]);
        assert!(!is_gsm7("naïve"));
        assert!(!is_gsm7("\u{1B}"));
    }

    #[test]
    fn gsm_decode_is_lenient() {
        // Unknown extension septet reads as its basic char; trailing escape is dropped.
        assert_eq!(decode_gsm7(&[0x1B, 0x41, 0x42, 0x1B]), "AB");
        assert_eq!(decode_gsm7(&[0x80, 0x41]), "\u{FFFD}A");
    }

    #[test]
    fn packing_matches_the_classic_vector() {
        let septets = encode_gsm7("hellohello").unwrap();
        let packed = pack_septets(&septets);
        assert_eq!(
            packed,
            vec![0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37]
        );
        assert_eq!(unpack_septets(&packed, septets.len()), septets);
    }

    #[test]
    fn short_texts_are_single_messages() {
        let t = encode_text(&"a".repeat(160), 1).unwrap();
        assert_eq!(
            (t.encoding, t.segments.len(), t.esm_class),
            (Encoding::Gsm7, 1, 0)
        );
        let t = encode_text(&"中".repeat(70), 1).unwrap();
        assert_eq!((t.encoding, t.segments.len()), (Encoding::Ucs2, 1));
        assert_eq!(t.data_coding, 8);
        let t = encode_text("", 1).unwrap();
        assert_eq!(t.segments, vec![Vec::<u8>::new()]);
        // 80 euro signs are 160 septets: still one message.
        assert_eq!(encode_text(&"€".repeat(80), 1).unwrap().segments.len(), 1);
        assert_eq!(encode_text(&"€".repeat(81), 1).unwrap().segments.len(), 2);
    }

    fn join(t: &EncodedText) -> String {
        let mut data = Vec::new();
        for (i, s) in t.segments.iter().enumerate() {
            let (c, payload) = parse_udh(s).unwrap();
            let c = c.unwrap();
            assert_eq!(c.seq as usize, i + 1);
            assert_eq!(c.total as usize, t.segments.len());
            data.extend_from_slice(payload);
        }
        decode_text(t.data_coding, &data)
    }

    #[test]
    fn long_chinese_text_splits_into_three_ucs2_segments() {
        let text: String = (0..200)
            .map(|i| char::from_u32(0x4E00 + i).unwrap())
            .collect();
        let t = encode_text(&text, 42).unwrap();
        assert_eq!(t.encoding, Encoding::Ucs2);
        assert_eq!(t.esm_class, 0x40);
        assert_eq!(t.segments.len(), 3);
        assert_eq!(t.segments[0].len(), 6 + 134);
        assert_eq!(&t.segments[0][..6], &[5, 0, 3, 42, 3, 1]);
        assert_eq!(join(&t), text);
    }

    #[test]
    fn emoji_surrogate_pairs_are_never_cut() {
        // "aa" + 32 emoji = 66 UTF-16 units; a cut at 67 would land inside the next pair.
        let text = format!("aa{}", "😀".repeat(40));
        let t = encode_text(&text, 7).unwrap();
        assert_eq!(t.segments.len(), 2);
        assert_eq!(t.segments[0].len(), 6 + 66 * 2);
        for s in &t.segments {
            let (_, payload) = parse_udh(s).unwrap();
            // Each segment decodes on its own, without replacement chars.
            assert!(!decode_ucs2(payload).contains('\u{FFFD}'));
            assert!(payload.len() <= 134);
        }
        assert_eq!(join(&t), text);
    }

    #[test]
    fn gsm_escape_pairs_are_never_cut() {
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(20));
        let t = encode_text(&text, 1).unwrap();
        assert_eq!(t.segments.len(), 2);
        let (_, first) = parse_udh(&t.segments[0]).unwrap();
        assert_eq!(first.len(), 152);
        assert_eq!(join(&t), text);
        let long = "x{y}".repeat(100);
        let t = encode_text(&long, 9).unwrap();
        for s in &t.segments {
            let (_, p) = parse_udh(s).unwrap();
            assert!(p.len() <= 153);
            assert_ne!(p.last(), Some(&GSM_ESCAPE));
        }
        assert_eq!(join(&t), long);
    }

    #[test]
    fn udh_with_16_bit_reference_and_other_elements() {
        let sm = [
            0x0A, 0x01, 0x01, 0x00, 0x08, 0x04, 0x12, 0x34, 0x02, 0x01, 0x00, b'h', b'i',
        ];
        // Trailing 0x00 IE has no length byte: the walk stops without failing.
        let (c, payload) = parse_udh(&sm).unwrap();
        assert_eq!(
            c,
            Some(Concat {
                reference: 0x1234,
                total: 2,
                seq: 1
            })
        );
        assert_eq!(payload, b"hi");
        assert_eq!(parse_udh(&[0x09, 0x00]), None);
        // seq 0 is not a valid concatenation element.
        let (c, _) = parse_udh(&[5, 0, 3, 1, 2, 0]).unwrap();
        assert_eq!(c, None);
    }

    #[test]
    fn too_long_texts_are_refused() {
        let text = "中".repeat(67 * 256);
        assert_eq!(encode_text(&text, 1), Err(TextError::TooManySegments(256)));
    }

    #[test]
    fn packed_text_round_trips_with_and_without_udh() {
        let t = encode_text_with("hellohello", 1, Gsm7Packing::Packed).unwrap();
        assert_eq!(
            t.segments[0],
            vec![0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37]
        );
        assert_eq!(
            decode_gsm7(&unpack_user_data(&t.segments[0], 0)),
            "hellohello"
        );
        // Seven septets fill 49 bits; the 7 spare bits hold CR, not a stray '@'.
        let t = encode_text_with("abcdefg", 1, Gsm7Packing::Packed).unwrap();
        assert_eq!(t.segments[0].len(), 7);
        assert_eq!(t.segments[0][6] >> 1, 0x0D);
        assert_eq!(decode_gsm7(&unpack_user_data(&t.segments[0], 0)), "abcdefg");
        let t = encode_text_with("abcdef@", 1, Gsm7Packing::Packed).unwrap();
        assert_eq!(decode_gsm7(&unpack_user_data(&t.segments[0], 0)), "abcdef@");
        let long = format!("{}€{}", "x".repeat(300), "y".repeat(100));
        let t = encode_text_with(&long, 3, Gsm7Packing::Packed).unwrap();
        assert_eq!(t.segments.len(), 3);
        let mut joined = Vec::new();
        for s in &t.segments {
            assert!(s.len() <= 140);
            assert_eq!(&s[..3], &[5, 0, 3]);
            joined.extend(unpack_user_data(s, 6));
        }
        assert_eq!(decode_gsm7(&joined), long);
        // UCS-2 is untouched by the packing choice.
        let u = encode_text_with("中", 1, Gsm7Packing::Packed).unwrap();
        assert_eq!(u.segments[0], vec![0x4E, 0x2D]);
    }

    proptest! {
        #[test]
        fn packed_any_gsm_text_round_trips(chars in proptest::collection::vec(
            proptest::sample::select(
                GSM_BASIC
                    .iter()
                    .copied()
                    .filter(|&c| c != '\u{1B}' && c != '\r')
                    .chain(GSM_EXTENSION.iter().map(|&(_, c)| c))
                    .collect::<Vec<char>>(),
            ),
            0..400,
        )) {
            let text: String = chars.into_iter().collect();
            let t = encode_text_with(&text, 1, Gsm7Packing::Packed).unwrap();
            let udh = if t.segments.len() > 1 { 6 } else { 0 };
            let joined: Vec<u8> = t.segments.iter().flat_map(|s| unpack_user_data(s, udh)).collect();
            prop_assert_eq!(decode_gsm7(&joined), text);
        }

        #[test]
        fn any_text_round_trips(text in "\\PC{0,400}", reference in any::<u8>()) {
            let t = encode_text(&text, reference).unwrap();
            let back = if t.segments.len() == 1 {
                decode_text(t.data_coding, &t.segments[0])
            } else {
                join(&t)
            };
            prop_assert_eq!(back, text);
            for s in &t.segments {
                prop_assert!(s.len() <= 140 || t.encoding == Encoding::Gsm7);
                prop_assert!(s.len() <= 160);
            }
        }

        #[test]
        fn udh_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_udh(&bytes);
        }

        #[test]
        fn pack_unpack_round_trip(septets in proptest::collection::vec(0u8..128, 0..200)) {
            prop_assert_eq!(unpack_septets(&pack_septets(&septets), septets.len()), septets);
        }
    }
}
