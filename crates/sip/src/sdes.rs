//! SRTP keying by SDES (RFC 4568) and the per-leg SRTP policy.
//!
//! Each trunk and each agent has a policy (`srtp = "off" | "offered" | "required"`, default
//! `sip.srtp`):
//! - `off`: plain RTP; an `RTP/SAVP` offer is refused with 488.
//! - `offered`: SRTP when the peer wants it and the leg's signalling is TLS; plain RTP
//!   otherwise. Calls hotline places over TLS offer a key on `RTP/AVP` (best effort).
//! - `required`: the leg is SRTP or it does not happen: signalling must be TLS, an offer
//!   without a usable key is refused with 488, a phone not registered over TLS is not rung.
//!
//! SDES keys travel in the SDP in clear text, so hotline never sends or accepts an
//! `a=crypto` line on a leg whose signalling is not TLS.

use std::collections::HashMap;

use base64::Engine as _;

use crate::sdp::Session;

/// The only SRTP suite hotline speaks.
pub const SUITE: &str = "AES_CM_128_HMAC_SHA1_80";

/// How a leg's media must be protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SrtpPolicy {
    Off,
    #[default]
    Offered,
    Required,
}

impl SrtpPolicy {
    pub fn parse(s: &str) -> Option<SrtpPolicy> {
        match s {
            "off" => Some(SrtpPolicy::Off),
            "offered" => Some(SrtpPolicy::Offered),
            "required" => Some(SrtpPolicy::Required),
            _ => None,
        }
    }
}

/// The policies of the centre, its trunks and its agents.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    pub default: SrtpPolicy,
    pub trunks: HashMap<String, SrtpPolicy>,
    pub agents: HashMap<String, SrtpPolicy>,
}

impl Policies {
    pub fn from_config(cfg: &hotline_config::Config) -> Policies {
        let p = |s: &Option<String>| s.as_deref().and_then(SrtpPolicy::parse);
        let default = SrtpPolicy::parse(&cfg.sip.srtp).unwrap_or_default();
        Policies {
            default,
            trunks: cfg
                .trunks
                .iter()
                .filter_map(|t| Some((t.name.clone(), p(&t.srtp)?)))
                .collect(),
            agents: cfg
                .agents
                .iter()
                .filter_map(|a| Some((a.extension.get_ref().clone(), p(&a.srtp)?)))
                .collect(),
        }
    }

    pub fn for_caller(&self, caller: &crate::registrar::Caller) -> SrtpPolicy {
        match caller {
            crate::registrar::Caller::Trunk(t) => self.for_trunk(t),
            crate::registrar::Caller::Agent(a) => self.for_agent(a),
        }
    }

    pub fn for_trunk(&self, name: &str) -> SrtpPolicy {
        self.trunks.get(name).copied().unwrap_or(self.default)
    }

    pub fn for_agent(&self, ext: &str) -> SrtpPolicy {
        self.agents.get(ext).copied().unwrap_or(self.default)
    }
}

/// The far end's SRTP key for a leg: the crypto tag it chose and its master key and salt.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteKey {
    pub tag: u32,
    /// 16-byte master key then 14-byte master salt.
    pub key: [u8; 30],
}

impl std::fmt::Debug for RemoteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteKey(tag {})", self.tag)
    }
}

/// Why an offer is refused: 488 with this Warning text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: &'static str,
}

impl Refusal {
    fn new(reason: &'static str) -> Refusal {
        Refusal {
            status: 488,
            reason,
        }
    }

    /// The Warning header's value (RFC 3261 §20.43).
    pub fn warning(&self) -> String {
        format!("399 hotline \"{}\"", self.reason)
    }
}

/// The key of an `inline:` key-params, if hotline can use it (30 bytes, no MKI).
fn inline_key(params: &str) -> Option<[u8; 30]> {
    let info = params.split(';').next()?.strip_prefix("inline:")?;
    let mut parts = info.split('|');
    let b64 = parts.next()?;
    if parts.any(|p| p.contains(':')) {
        return None; // an MKI: hotline's packets carry none
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    bytes.try_into().ok()
}

/// The first crypto line of a session that hotline can use.
fn usable_key(s: &Session) -> Option<RemoteKey> {
    s.crypto.iter().filter(|c| c.suite == SUITE).find_map(|c| {
        Some(RemoteKey {
            tag: c.tag,
            key: inline_key(&c.key_params)?,
        })
    })
}

/// The key of an offer or answer that hotline would take (the first usable
/// AES_CM_128_HMAC_SHA1_80 inline key), with its crypto tag; `None` if there is none.
pub fn offered_key(s: &Session) -> Option<RemoteKey> {
    usable_key(s)
}

fn is_savp(s: &Session) -> bool {
    s.media
        .get(s.audio_index)
        .is_some_and(|m| m.proto.starts_with("RTP/SAVP"))
}

/// Judges an offer received on a leg with `policy`, whose signalling came over TLS or not:
/// the key to answer with SRTP, `None` for plain RTP, or why to refuse.
pub fn judge_offer(
    policy: SrtpPolicy,
    tls: bool,
    offer: &Session,
) -> Result<Option<RemoteKey>, Refusal> {
    let savp = is_savp(offer);
    let key = usable_key(offer);
    match policy {
        SrtpPolicy::Off if savp => Err(Refusal::new("SRTP is off for this leg")),
        SrtpPolicy::Off => Ok(None),
        SrtpPolicy::Required if !tls => Err(Refusal::new(
            "SRTP required: SDES keys are only exchanged over TLS",
        )),
        SrtpPolicy::Required => match key {
            Some(k) => Ok(Some(k)),
            None if offer.crypto.is_empty() => {
                Err(Refusal::new("SRTP required: plain RTP offered"))
            }
            None => Err(Refusal::new(
                "SRTP required: no AES_CM_128_HMAC_SHA1_80 inline key offered",
            )),
        },
        SrtpPolicy::Offered => match (key, tls) {
            (Some(k), true) => Ok(Some(k)),
            (Some(_), false) if savp => Err(Refusal::new("SDES keys are only exchanged over TLS")),
            (None, _) if savp => Err(Refusal::new(
                "no AES_CM_128_HMAC_SHA1_80 inline key offered",
            )),
            // Best-effort SRTP offered in clear: answered with plain RTP, no key sent back.
            _ => Ok(None),
        },
    }
}

/// For a call hotline places: `Ok(Some(savp))` to offer a key (on `RTP/SAVP` when `savp`),
/// `Ok(None)` for plain RTP, or why the leg cannot be placed at all.
pub fn outgoing(policy: SrtpPolicy, tls: bool) -> Result<Option<bool>, &'static str> {
    match (policy, tls) {
        (SrtpPolicy::Off, _) => Ok(None),
        (SrtpPolicy::Offered, true) => Ok(Some(false)),
        (SrtpPolicy::Offered, false) => Ok(None),
        (SrtpPolicy::Required, true) => Ok(Some(true)),
        (SrtpPolicy::Required, false) => Err("SRTP required but the phone's signalling is not TLS"),
    }
}

/// Judges the answer to an offer hotline made with a key tagged `tag` (or none): the far end's
/// key, `None` for plain RTP, or why the leg must end.
pub fn judge_answer(
    policy: SrtpPolicy,
    offered: Option<u32>,
    answer: &Session,
) -> Result<Option<RemoteKey>, &'static str> {
    let Some(tag) = offered else {
        return if answer.crypto.is_empty() {
            Ok(None)
        } else {
            Err("the answer has a key hotline did not offer")
        };
    };
    match usable_key(answer) {
        Some(k) if k.tag == tag => Ok(Some(k)),
        Some(_) => Err("the answer's crypto tag is not the one offered"),
        None if policy == SrtpPolicy::Required => Err("SRTP required: the answer has no key"),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::parse;

    const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    fn sdp(proto: &str, crypto: &str) -> Session {
        parse(&format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 4000 {proto} 0\r\n{crypto}"
        ))
        .unwrap()
    }

    #[test]
    fn required_refuses_plain_and_clear_signalling() {
        let plain = sdp("RTP/AVP", "");
        let e = judge_offer(SrtpPolicy::Required, true, &plain).unwrap_err();
        assert_eq!(e.status, 488);
        assert!(e.warning().starts_with("399 hotline \"SRTP required"));
        let keyed = sdp(
            "RTP/SAVP",
            &format!("a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^31\r\n"),
        );
        assert!(judge_offer(SrtpPolicy::Required, false, &keyed).is_err());
        let k = judge_offer(SrtpPolicy::Required, true, &keyed)
            .unwrap()
            .unwrap();
        assert_eq!(k.tag, 3);
        let other_suite = sdp(
            "RTP/SAVP",
            &format!("a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:{KEY}\r\n"),
        );
        assert!(judge_offer(SrtpPolicy::Required, true, &other_suite).is_err());
        let mki = sdp(
            "RTP/SAVP",
            &format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20|1:4\r\n"),
        );
        assert!(judge_offer(SrtpPolicy::Required, true, &mki).is_err());
    }

    #[test]
    fn offered_and_off() {
        let keyed_avp = sdp(
            "RTP/AVP",
            &format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}\r\n"),
        );
        let keyed_savp = sdp(
            "RTP/SAVP",
            &format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}\r\n"),
        );
        assert!(
            judge_offer(SrtpPolicy::Offered, true, &keyed_avp)
                .unwrap()
                .is_some()
        );
        assert_eq!(
            judge_offer(SrtpPolicy::Offered, false, &keyed_avp),
            Ok(None)
        );
        assert!(judge_offer(SrtpPolicy::Offered, false, &keyed_savp).is_err());
        assert_eq!(judge_offer(SrtpPolicy::Off, true, &keyed_avp), Ok(None));
        assert!(judge_offer(SrtpPolicy::Off, true, &keyed_savp).is_err());
        assert_eq!(
            judge_offer(SrtpPolicy::Offered, true, &sdp("RTP/AVP", "")),
            Ok(None)
        );
    }

    #[test]
    fn outgoing_and_answers() {
        assert_eq!(outgoing(SrtpPolicy::Required, true), Ok(Some(true)));
        assert!(outgoing(SrtpPolicy::Required, false).is_err());
        assert_eq!(outgoing(SrtpPolicy::Offered, false), Ok(None));
        let keyed = sdp(
            "RTP/SAVP",
            &format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}\r\n"),
        );
        assert!(
            judge_answer(SrtpPolicy::Required, Some(1), &keyed)
                .unwrap()
                .is_some()
        );
        assert!(judge_answer(SrtpPolicy::Required, Some(2), &keyed).is_err());
        assert!(judge_answer(SrtpPolicy::Required, Some(1), &sdp("RTP/AVP", "")).is_err());
        assert_eq!(
            judge_answer(SrtpPolicy::Offered, Some(1), &sdp("RTP/AVP", "")),
            Ok(None)
        );
        assert!(judge_answer(SrtpPolicy::Off, None, &keyed).is_err());
    }
}
