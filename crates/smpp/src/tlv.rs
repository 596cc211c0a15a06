//! Optional parameters (TLVs): tag, length, value.
//!
//! PDUs keep their TLVs as a list in wire order, unknown tags included, so nothing an SMSC
//! sends is lost. The helpers below read and build the tags this crate uses.

/// `receipted_message_id` (C-Octet string, at most 65 octets): the id a receipt is about.
pub const RECEIPTED_MESSAGE_ID: u16 = 0x001E;
/// `user_message_reference` (u16).
pub const USER_MESSAGE_REFERENCE: u16 = 0x0204;
/// `sar_msg_ref_num` (u16): reference shared by the segments of one long message.
pub const SAR_MSG_REF_NUM: u16 = 0x020C;
/// `sar_total_segments` (u8).
pub const SAR_TOTAL_SEGMENTS: u16 = 0x020E;
/// `sar_segment_seqnum` (u8), 1-based.
pub const SAR_SEGMENT_SEQNUM: u16 = 0x020F;
/// `sc_interface_version` (u8), in bind responses.
pub const SC_INTERFACE_VERSION: u16 = 0x0210;
/// `message_payload` (octets): user data too long for `short_message`.
pub const MESSAGE_PAYLOAD: u16 = 0x0424;
/// `message_state` (u8), in receipts; see [`crate::MessageState`].
pub const MESSAGE_STATE: u16 = 0x0427;
/// `network_error_code` (3 octets), in receipts.
pub const NETWORK_ERROR_CODE: u16 = 0x0423;

/// One optional parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// The tag.
    pub tag: u16,
    /// The value octets (the length is their count).
    pub value: Vec<u8>,
}

impl Tlv {
    /// A one-octet value.
    pub fn u8(tag: u16, v: u8) -> Tlv {
        Tlv {
            tag,
            value: vec![v],
        }
    }

    /// A two-octet big-endian value.
    pub fn u16(tag: u16, v: u16) -> Tlv {
        Tlv {
            tag,
            value: v.to_be_bytes().to_vec(),
        }
    }

    /// A C-Octet string value (NUL appended).
    pub fn cstring(tag: u16, s: &str) -> Tlv {
        let mut value: Vec<u8> = s.bytes().collect();
        value.push(0);
        Tlv { tag, value }
    }
}

/// The first TLV with `tag`.
pub fn find(tlvs: &[Tlv], tag: u16) -> Option<&Tlv> {
    tlvs.iter().find(|t| t.tag == tag)
}

/// The one-octet value of `tag`, if present with exactly one octet.
pub fn get_u8(tlvs: &[Tlv], tag: u16) -> Option<u8> {
    match find(tlvs, tag)?.value.as_slice() {
        [v] => Some(*v),
        _ => None,
    }
}

/// The two-octet value of `tag`, if present with exactly two octets.
pub fn get_u16(tlvs: &[Tlv], tag: u16) -> Option<u16> {
    match find(tlvs, tag)?.value.as_slice() {
        [a, b] => Some(u16::from_be_bytes([*a, *b])),
        _ => None,
    }
}

/// The C-Octet string value of `tag` (up to the first NUL, ISO-8859-1), if present.
/// A missing NUL is tolerated, as some SMSCs leave it out.
pub fn get_cstring(tlvs: &[Tlv], tag: u16) -> Option<String> {
    let v = &find(tlvs, tag)?.value;
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    Some(v[..end].iter().map(|&b| char::from(b)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_getters_check_lengths() {
        let tlvs = vec![
            Tlv::u16(SAR_MSG_REF_NUM, 0x1234),
            Tlv::u8(SAR_TOTAL_SEGMENTS, 3),
            Tlv {
                tag: MESSAGE_STATE,
                value: vec![1, 2],
            },
            Tlv::cstring(RECEIPTED_MESSAGE_ID, "abc"),
            Tlv {
                tag: USER_MESSAGE_REFERENCE,
                value: b"no-nul".to_vec(),
            },
        ];
        assert_eq!(get_u16(&tlvs, SAR_MSG_REF_NUM), Some(0x1234));
        assert_eq!(get_u8(&tlvs, SAR_TOTAL_SEGMENTS), Some(3));
        assert_eq!(get_u8(&tlvs, MESSAGE_STATE), None);
        assert_eq!(get_u8(&tlvs, SAR_SEGMENT_SEQNUM), None);
        assert_eq!(
            get_cstring(&tlvs, RECEIPTED_MESSAGE_ID).as_deref(),
            Some("abc")
        );
        assert_eq!(
            get_cstring(&tlvs, USER_MESSAGE_REFERENCE).as_deref(),
            Some("no-nul")
        );
    }
}
