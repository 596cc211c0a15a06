//! Where and how an agent's phone is rung, and what SDP and SRTP make of a leg: pure
//! functions the session's shell uses.

use std::net::IpAddr;

use hotline_media::LegParams;
use hotline_media::srtp::{MasterKey, SrtpKeys};
use hotline_sip::registrar::Binding;
use hotline_sip::sdes::{self, SrtpPolicy};
use hotline_sip::sdp;

pub(super) fn sip_to_media_codec(c: sdp::Codec) -> hotline_media::Codec {
    match c {
        sdp::Codec::Pcmu => hotline_media::Codec::Pcmu,
        sdp::Codec::Pcma => hotline_media::Codec::Pcma,
    }
}

pub(super) fn params(n: &sdp::Session, codec: sdp::Codec) -> LegParams {
    let mut p = LegParams::new(n.remote(), sip_to_media_codec(codec));
    p.payload_type = codec.payload_type();
    p.telephone_event_pt = n.telephone_event;
    p.inband_dtmf = true;
    p.analyse = true;
    p.rtcp = rtcp_mode(n);
    p
}

/// How a SIP leg speaks RTCP: on the RTP port when its SDP says `a=rtcp-mux` (hotline's
/// answer then says so too; its offers always propose it), else on the far end's `a=rtcp:`
/// port or its RTP port + 1. (An SRTP leg sends none: the media core sees to it.)
pub(super) fn rtcp_mode(n: &sdp::Session) -> hotline_media::RtcpMode {
    if n.rtcp_mux {
        hotline_media::RtcpMode::Mux
    } else {
        hotline_media::RtcpMode::Port(n.rtcp_port)
    }
}

/// [`params`] for a leg whose signalling comes from `peer`: a peer behind a NAT (its SDP
/// names a private address) is sent media at the NAT's address and latched from there.
pub(super) fn params_from(n: &sdp::Session, codec: sdp::Codec, peer: IpAddr) -> LegParams {
    let mut p = params(n, codec);
    if let Some(r) = p.remote {
        p.remote = Some(hotline_sip::advertise::media_target(r, peer));
        p.remote_is_declared = p.remote == Some(r);
    }
    p
}

/// Where and how an agent's phone is rung.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Phone {
    pub binding: Binding,
    pub destination: std::net::SocketAddr,
    pub transport: &'static str,
    /// [`sdes::outgoing`] for the transport used: `Some(savp)` to offer a key.
    pub srtp: Option<bool>,
}

/// The phone to ring for an agent whose SRTP policy is `policy`, among its live bindings
/// (oldest first, as the registrar keeps them): the newest binding whose route lets the policy
/// be met. SRTP is decided by the transport the INVITE really goes over (a TLS-registered
/// phone with a public third-party Contact is reached over that Contact's transport), so an
/// SDES key is never sent in clear. No binding: "not registered"; none that fits: why the
/// newest does not.
pub(super) fn choose_phone(
    bindings: Vec<Binding>,
    policy: SrtpPolicy,
) -> Result<Phone, &'static str> {
    let mut refusal = "not registered";
    for binding in bindings.into_iter().rev() {
        let (destination, transport) = binding.destination();
        match sdes::outgoing(policy, transport == "tls") {
            Ok(srtp) => {
                return Ok(Phone {
                    binding,
                    destination,
                    transport,
                    srtp,
                });
            }
            Err(why) if refusal == "not registered" => refusal = why,
            Err(_) => {}
        }
    }
    Err(refusal)
}

/// SRTP for a callback through a trunk whose policy is `policy`, signalled over `transport`:
/// `Ok(Some(savp))` to offer a key, `Ok(None)` for plain RTP (keys are only offered over
/// TLS), or why the call cannot be placed securely (`required` without TLS).
pub(super) fn callback_srtp(
    policy: SrtpPolicy,
    transport: &str,
) -> Result<Option<bool>, &'static str> {
    sdes::outgoing(policy, transport == "tls").map_err(|_| {
        "SRTP required by the trunk, but calls out to it are not signalled over TLS (SDES keys would travel in clear)"
    })
}

/// A leg's SRTP keys after a re-INVITE or UPDATE carrying `offer` (hold, resume): hotline's
/// key stays (the answer repeats it, under the tag of the offered key); the far end's is the
/// offer's usable key when it has one (a phone may re-key), else the one it had. A plain leg
/// stays plain.
pub(super) fn rekey(keys: Option<&SrtpKeys>, offer: &sdp::Session) -> Option<SrtpKeys> {
    let k = keys?;
    let offered = sdes::offered_key(offer).and_then(|r| MasterKey::from_bytes(&r.key));
    Some(SrtpKeys {
        local: k.local.clone(),
        remote: offered.or_else(|| k.remote.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn binding(uri: &str, source: &str, transport: &'static str, age: u32) -> Binding {
        Binding {
            uri: uri.to_string(),
            expires_at: std::time::Instant::now() + Duration::from_secs(3600),
            call_id: format!("reg-{age}"),
            cseq: 1,
            source: source.parse().unwrap(),
            transport,
            instance: None,
            reg_id: None,
            path: Vec::new(),
        }
    }

    #[test]
    fn an_agent_with_srtp_required_is_rung_on_its_newest_tls_phone() {
        let udp_old = binding("sip:1001@10.0.0.5:5060", "10.0.0.5:5060", "udp", 1);
        let tls = binding(
            "sip:1001@10.0.0.6:5061;transport=tls",
            "10.0.0.6:40000",
            "tls",
            2,
        );
        let udp_new = binding("sip:1001@10.0.0.7:5060", "10.0.0.7:5060", "udp", 3);
        let all = vec![udp_old.clone(), tls.clone(), udp_new.clone()];
        // Required: the TLS phone, although a plain phone registered after it.
        let r = choose_phone(all.clone(), SrtpPolicy::Required).unwrap();
        assert_eq!(r.binding, tls);
        assert_eq!(r.transport, "tls");
        assert_eq!(r.destination, "10.0.0.6:40000".parse().unwrap());
        assert_eq!(r.srtp, Some(true));
        // The TLS phone registered last or first: the same.
        let r = choose_phone(vec![tls.clone(), udp_new.clone()], SrtpPolicy::Required).unwrap();
        assert_eq!(r.binding, tls);
        // Offered and off: the newest phone, whatever its transport, plain over UDP.
        let r = choose_phone(all.clone(), SrtpPolicy::Offered).unwrap();
        assert_eq!((r.binding, r.srtp), (udp_new.clone(), None));
        let r = choose_phone(vec![udp_new, tls.clone()], SrtpPolicy::Offered).unwrap();
        assert_eq!((r.binding, r.srtp), (tls.clone(), Some(false)));
        let r = choose_phone(vec![tls], SrtpPolicy::Off).unwrap();
        assert_eq!(r.srtp, None);
        // No TLS phone: not rung, with the reason; nobody registered: said so.
        let e = choose_phone(vec![udp_old], SrtpPolicy::Required).unwrap_err();
        assert!(e.contains("not TLS"), "{e}");
        assert_eq!(
            choose_phone(Vec::new(), SrtpPolicy::Offered).unwrap_err(),
            "not registered"
        );
    }

    #[test]
    fn srtp_is_decided_by_the_transport_the_invite_really_uses() {
        // Registered over TLS, but its Contact is another public address over UDP: the
        // INVITE goes there over UDP, so no key is offered in clear, and `required` cannot
        // be met on that phone.
        let third_party = binding("sip:1001@198.51.100.9:5060", "203.0.113.4:40000", "tls", 1);
        let r = choose_phone(vec![third_party.clone()], SrtpPolicy::Offered).unwrap();
        assert_eq!(r.destination, "198.51.100.9:5060".parse().unwrap());
        assert_eq!(r.transport, "udp");
        assert_eq!(r.srtp, None);
        assert!(choose_phone(vec![third_party.clone()], SrtpPolicy::Required).is_err());
        // A TLS phone behind a NAT is reached over its TLS connection: keyed.
        let natted = binding(
            "sip:1001@192.168.1.20:5061;transport=tls",
            "203.0.113.4:40001",
            "tls",
            2,
        );
        let r = choose_phone(vec![natted.clone(), third_party], SrtpPolicy::Required).unwrap();
        assert_eq!(r.binding, natted);
        assert_eq!(
            (r.destination, r.transport, r.srtp),
            ("203.0.113.4:40001".parse().unwrap(), "tls", Some(true))
        );
    }

    #[test]
    fn a_callback_follows_the_trunks_srtp_policy() {
        let e = callback_srtp(SrtpPolicy::Required, "udp").unwrap_err();
        assert!(e.contains("SRTP required by the trunk"), "{e}");
        assert_eq!(callback_srtp(SrtpPolicy::Offered, "udp"), Ok(None));
        assert_eq!(callback_srtp(SrtpPolicy::Off, "udp"), Ok(None));
        assert_eq!(callback_srtp(SrtpPolicy::Offered, "tls"), Ok(Some(false)));
        assert_eq!(callback_srtp(SrtpPolicy::Required, "tls"), Ok(Some(true)));
        assert_eq!(callback_srtp(SrtpPolicy::Off, "tls"), Ok(None));
    }

    fn reoffer(crypto: &str) -> sdp::Session {
        sdp::parse(&format!(
            "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 4000 RTP/SAVP 0\r\na=sendonly\r\n{crypto}"
        ))
        .unwrap()
    }

    #[test]
    fn a_re_invite_keeps_the_legs_keys_and_takes_a_new_remote_key() {
        let local = MasterKey::random().unwrap();
        let old = MasterKey::random().unwrap();
        let keys = SrtpKeys {
            local: local.clone(),
            remote: Some(old.clone()),
        };
        // Hold without a key line: the keys stay as they were.
        assert_eq!(rekey(Some(&keys), &reoffer("")), Some(keys.clone()));
        // The phone re-keys (tag 2 this time): hotline's key stays, the phone's is new.
        let new = MasterKey::random().unwrap();
        let line = format!(
            "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{}\r\n",
            new.to_inline()
        );
        let k = rekey(Some(&keys), &reoffer(&line)).unwrap();
        assert_eq!(k.local, local);
        assert_eq!(k.remote, Some(new));
        assert_ne!(k.remote, Some(old));
        // A plain leg stays plain.
        assert_eq!(rekey(None, &reoffer(&line)), None);
    }
}
