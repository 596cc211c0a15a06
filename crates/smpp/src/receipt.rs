//! SMSC delivery receipts.
//!
//! A receipt is a `deliver_sm` with `esm_class & 0x04`. Its text follows the de-facto format
//! from SMPP 3.4 Appendix B:
//!
//! ```text
//! id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text: ...
//! ```
//!
//! Fields are found by key, case-insensitively and in any order; missing ones are `None`.
//! The `receipted_message_id` and `message_state` TLVs, when present, win over the text.

use crate::pdu::Sm;
use crate::tlv;

/// The final (or intermediate) state of a submitted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageState {
    /// In transit (`ENROUTE`, state 1).
    Enroute,
    /// Delivered to the handset (`DELIVRD`, 2).
    Delivered,
    /// Validity period expired (`EXPIRED`, 3).
    Expired,
    /// Deleted (`DELETED`, 4).
    Deleted,
    /// Undeliverable (`UNDELIV`, 5).
    Undeliverable,
    /// Accepted, e.g. read by a customer service operator (`ACCEPTD`, 6).
    Accepted,
    /// Unknown or invalid state (`UNKNOWN`, 7), also used for unrecognised stat values.
    Unknown,
    /// Rejected (`REJECTD`, 8).
    Rejected,
}

impl MessageState {
    /// From the `message_state` TLV value.
    pub fn from_tlv(v: u8) -> Option<MessageState> {
        Some(match v {
            1 => MessageState::Enroute,
            2 => MessageState::Delivered,
            3 => MessageState::Expired,
            4 => MessageState::Deleted,
            5 => MessageState::Undeliverable,
            6 => MessageState::Accepted,
            7 => MessageState::Unknown,
            8 => MessageState::Rejected,
            _ => return None,
        })
    }

    /// From the receipt text's `stat:` value (case-insensitive; a few long spellings that
    /// SMSCs use are accepted too).
    pub fn from_stat(s: &str) -> Option<MessageState> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "ENROUTE" => MessageState::Enroute,
            "DELIVRD" | "DELIVERED" => MessageState::Delivered,
            "EXPIRED" => MessageState::Expired,
            "DELETED" => MessageState::Deleted,
            "UNDELIV" | "UNDELIVERABLE" => MessageState::Undeliverable,
            "ACCEPTD" | "ACCEPTED" => MessageState::Accepted,
            "UNKNOWN" => MessageState::Unknown,
            "REJECTD" | "REJECTED" => MessageState::Rejected,
            _ => return None,
        })
    }

    /// Whether this state is final (everything but `Enroute` and `Accepted`).
    pub fn is_final(self) -> bool {
        !matches!(self, MessageState::Enroute | MessageState::Accepted)
    }
}

/// The fields of a receipt text; every one is optional because SMSCs differ.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiptText {
    /// `id:` — the message id from submit_sm_resp.
    pub id: Option<String>,
    /// `sub:` — number submitted.
    pub sub: Option<String>,
    /// `dlvrd:` — number delivered.
    pub dlvrd: Option<String>,
    /// `submit date:` — YYMMDDhhmm(ss).
    pub submit_date: Option<String>,
    /// `done date:` — YYMMDDhhmm(ss).
    pub done_date: Option<String>,
    /// `stat:` as written.
    pub stat: Option<String>,
    /// `err:` as written.
    pub err: Option<String>,
    /// `text:` — the start of the original message; runs to the end.
    pub text: Option<String>,
}

const KEYS: [&str; 8] = [
    "id:",
    "sub:",
    "dlvrd:",
    "submit date:",
    "done date:",
    "stat:",
    "err:",
    "text:",
];

/// Parses a receipt text. Returns `None` if no known key is present at all.
pub fn parse_receipt_text(s: &str) -> Option<ReceiptText> {
    // ASCII lowercasing keeps byte offsets, so positions found in `lower` index `s`.
    let lower = s.to_ascii_lowercase();
    // `text:` runs to the end, so keys are only looked for before it.
    let text_at = find_key(&lower, "text:", lower.len());
    let limit = text_at.unwrap_or(lower.len());
    let mut found: Vec<(usize, usize)> = Vec::new(); // (key start, key index)
    for (i, key) in KEYS.iter().enumerate().take(7) {
        if let Some(at) = find_key(&lower, key, limit) {
            found.push((at, i));
        }
    }
    if let Some(at) = text_at {
        found.push((at, 7));
    }
    if found.is_empty() {
        return None;
    }
    found.sort_unstable();
    let mut r = ReceiptText::default();
    for (n, &(at, i)) in found.iter().enumerate() {
        let start = at + KEYS[i].len();
        let end = found.get(n + 1).map_or(s.len(), |&(next, _)| next);
        let value = s.get(start..end.max(start)).unwrap_or("");
        let value = if i == 7 {
            value.trim_start_matches(' ').to_owned()
        } else {
            value.trim().to_owned()
        };
        let slot = match i {
            0 => &mut r.id,
            1 => &mut r.sub,
            2 => &mut r.dlvrd,
            3 => &mut r.submit_date,
            4 => &mut r.done_date,
            5 => &mut r.stat,
            6 => &mut r.err,
            _ => &mut r.text,
        };
        *slot = Some(value);
    }
    Some(r)
}

/// Where `key` starts at the beginning of `hay` or after whitespace, before `limit`.
fn find_key(hay: &str, key: &str, limit: usize) -> Option<usize> {
    let mut from = 0;
    while let Some(rel) = hay.get(from..)?.find(key) {
        let at = from + rel;
        if at >= limit {
            return None;
        }
        let boundary = at == 0
            || hay[..at]
                .chars()
                .next_back()
                .is_some_and(char::is_whitespace);
        if boundary {
            return Some(at);
        }
        from = at + key.len();
    }
    None
}

/// A delivery receipt, from TLVs where present and the text otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The SMSC message id the receipt is about.
    pub message_id: String,
    /// The state; `Unknown` if neither TLV nor text says.
    pub state: MessageState,
    /// The `err:` field, if any.
    pub error: Option<String>,
    /// `submit date:`, if any.
    pub submit_date: Option<String>,
    /// `done date:`, if any.
    pub done_date: Option<String>,
    /// The parsed text fields, if the text was in the usual format.
    pub fields: Option<ReceiptText>,
}

/// Reads a receipt from a deliver_sm's body and its decoded text. Returns `None` if no
/// message id can be found in either the TLVs or the text.
pub fn parse_receipt(sm: &Sm, text: &str) -> Option<Receipt> {
    let fields = parse_receipt_text(text);
    let message_id = tlv::get_cstring(&sm.tlvs, tlv::RECEIPTED_MESSAGE_ID)
        .filter(|s| !s.is_empty())
        .or_else(|| fields.as_ref().and_then(|f| f.id.clone()))?;
    let state = tlv::get_u8(&sm.tlvs, tlv::MESSAGE_STATE)
        .and_then(MessageState::from_tlv)
        .or_else(|| {
            fields
                .as_ref()
                .and_then(|f| f.stat.as_deref())
                .and_then(MessageState::from_stat)
        })
        .unwrap_or(MessageState::Unknown);
    Some(Receipt {
        message_id,
        state,
        error: fields.as_ref().and_then(|f| f.err.clone()),
        submit_date: fields.as_ref().and_then(|f| f.submit_date.clone()),
        done_date: fields.as_ref().and_then(|f| f.done_date.clone()),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlv::Tlv;
    use proptest::prelude::*;

    const TEXT: &str = "id:0123456789 sub:001 dlvrd:001 submit date:2401311200 \
                        done date:2401311201 stat:DELIVRD err:000 text:Hello id:fake";

    #[test]
    fn parses_the_usual_format() {
        let r = parse_receipt_text(TEXT).unwrap();
        assert_eq!(r.id.as_deref(), Some("0123456789"));
        assert_eq!(r.sub.as_deref(), Some("001"));
        assert_eq!(r.dlvrd.as_deref(), Some("001"));
        assert_eq!(r.submit_date.as_deref(), Some("2401311200"));
        assert_eq!(r.done_date.as_deref(), Some("2401311201"));
        assert_eq!(r.stat.as_deref(), Some("DELIVRD"));
        assert_eq!(r.err.as_deref(), Some("000"));
        assert_eq!(r.text.as_deref(), Some("Hello id:fake"));
    }

    #[test]
    fn tolerates_case_order_and_missing_fields() {
        let r = parse_receipt_text("Stat:UNDELIV ID:abc-1 Err:34").unwrap();
        assert_eq!(r.id.as_deref(), Some("abc-1"));
        assert_eq!(r.stat.as_deref(), Some("UNDELIV"));
        assert_eq!(r.err.as_deref(), Some("34"));
        assert_eq!(r.text, None);
        assert_eq!(parse_receipt_text("just a message"), None);
        // "msgid:" is not "id:".
        assert_eq!(parse_receipt_text("msgid:5").map(|r| r.id), None);
    }

    #[test]
    fn maps_every_stat() {
        for (s, st) in [
            ("DELIVRD", MessageState::Delivered),
            ("EXPIRED", MessageState::Expired),
            ("DELETED", MessageState::Deleted),
            ("UNDELIV", MessageState::Undeliverable),
            ("ACCEPTD", MessageState::Accepted),
            ("UNKNOWN", MessageState::Unknown),
            ("REJECTD", MessageState::Rejected),
            ("ENROUTE", MessageState::Enroute),
        ] {
            assert_eq!(MessageState::from_stat(s), Some(st));
        }
        assert_eq!(MessageState::from_stat("WHATEVER"), None);
        assert_eq!(MessageState::from_tlv(2), Some(MessageState::Delivered));
        assert_eq!(MessageState::from_tlv(9), None);
    }

    #[test]
    fn tlvs_win_over_the_text() {
        let sm = Sm {
            tlvs: vec![
                Tlv::cstring(tlv::RECEIPTED_MESSAGE_ID, "ABCDEF"),
                Tlv::u8(tlv::MESSAGE_STATE, 5),
            ],
            ..Sm::default()
        };
        let r = parse_receipt(&sm, TEXT).unwrap();
        assert_eq!(r.message_id, "ABCDEF");
        assert_eq!(r.state, MessageState::Undeliverable);
        assert_eq!(r.error.as_deref(), Some("000"));
        let r = parse_receipt(&Sm::default(), TEXT).unwrap();
        assert_eq!(r.message_id, "0123456789");
        assert_eq!(r.state, MessageState::Delivered);
        assert_eq!(parse_receipt(&Sm::default(), "no receipt here"), None);
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,120}") {
            let _ = parse_receipt_text(&s);
            let _ = parse_receipt_text(&format!("id:{s} stat:{s} text:{s}"));
        }
    }
}
