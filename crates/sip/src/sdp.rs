//! SDP offer/answer for audio calls (RFC 4566, RFC 3264): what the call-session layer needs to
//! connect a caller's or an agent's phone to hotline's media engine.
//!
//! Only what a contact centre's voice legs use: one audio stream, G.711 (PCMU 0, PCMA 8), RFC
//! 4733 telephone-events, and the direction attributes phones use for hold. Everything else in
//! an offer is tolerated and declined (port 0) in the answer, as RFC 3264 §6 requires.

use std::fmt::Write;
use std::net::IpAddr;

/// Audio codecs hotline speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    fn from_rtpmap(name: &str, pt: u8) -> Option<Codec> {
        match (name.to_ascii_uppercase().as_str(), pt) {
            ("PCMU/8000" | "PCMU/8000/1", _) => Some(Codec::Pcmu),
            ("PCMA/8000" | "PCMA/8000/1", _) => Some(Codec::Pcma),
            _ => None,
        }
    }

    fn from_static(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }
}

/// Media direction (RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an answer takes to an offer with this one.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// A phone putting the call on hold offers sendonly or inactive (or, per RFC 2543, a
    /// 0.0.0.0 connection address).
    pub fn is_hold(self) -> bool {
        matches!(self, Direction::SendOnly | Direction::Inactive)
    }
}

/// One m= line of an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLine {
    pub media: String,
    pub port: u16,
    pub proto: String,
    pub formats: Vec<String>,
}

/// What hotline needs from a remote session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Where the remote wants audio (the connection address of the audio stream).
    pub address: Option<IpAddr>,
    /// The audio port; 0 when audio is declined.
    pub port: u16,
    /// Codecs in the remote's order of preference.
    pub codecs: Vec<Codec>,
    /// The payload type the remote uses for telephone-events, if any.
    pub telephone_event: Option<u8>,
    pub direction: Direction,
    pub ptime: Option<u32>,
    /// Index of the audio stream among the m= lines.
    pub audio_index: usize,
    pub media: Vec<MediaLine>,
    /// `o=` session id and version, to tell a changed offer from a repeated one.
    pub origin: (String, String),
    /// The audio stream's SDES `a=crypto` lines (RFC 4568), in the remote's order.
    pub crypto: Vec<CryptoLine>,
    /// The audio stream offers or takes RTCP on its RTP port (`a=rtcp-mux`, RFC 5761).
    pub rtcp_mux: bool,
    /// The audio stream's RTCP port when not RTP + 1 (`a=rtcp:`, RFC 3605).
    pub rtcp_port: Option<u16>,
}

/// One `a=crypto:<tag> <suite> <key-params> [<session-params>]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoLine {
    pub tag: u32,
    pub suite: String,
    /// `inline:<key||salt base64>[|lifetime][|MKI:len]`, as written.
    pub key_params: String,
}

impl CryptoLine {
    fn parse(arg: &str) -> Option<CryptoLine> {
        let mut f = arg.split_whitespace();
        let tag = f.next()?.parse().ok()?;
        let suite = f.next()?.to_string();
        let key_params = f.next()?.to_string();
        Some(CryptoLine {
            tag,
            suite,
            key_params,
        })
    }
}

/// hotline's own SDES key for a stream: written as `a=crypto` in its offer or answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCrypto {
    pub tag: u32,
    /// The base64 key and salt (`inline:` is added when written).
    pub inline: String,
    /// Offer with the `RTP/SAVP` profile (SRTP required); otherwise `RTP/AVP` with the crypto
    /// line (best-effort SRTP, for phones that would refuse `RTP/SAVP`). Answers follow the
    /// offer's profile.
    pub savp: bool,
}

impl Session {
    /// The remote's audio address and port, unless on hold by a null address or declined.
    pub fn remote(&self) -> Option<std::net::SocketAddr> {
        match self.address {
            Some(ip) if !ip.is_unspecified() && self.port != 0 => {
                Some(std::net::SocketAddr::new(ip, self.port))
            }
            _ => None,
        }
    }

    pub fn is_hold(&self) -> bool {
        self.direction.is_hold() || self.address.is_some_and(|a| a.is_unspecified())
    }
}

/// Why an offer cannot be answered: the call is refused with 488 Not Acceptable Here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("not a session description: {0}")]
    Syntax(&'static str),
    #[error("no audio stream offered")]
    NoAudio,
    #[error("no common codec (hotline speaks PCMU and PCMA)")]
    NoCodec,
    #[error("no connection address for audio")]
    NoAddress,
}

/// Parses a remote offer or answer.
pub fn parse(body: &str) -> Result<Session, SdpError> {
    let mut version = false;
    let mut session_addr: Option<IpAddr> = None;
    let mut session_dir = Direction::SendRecv;
    let mut origin = (String::new(), String::new());
    let mut media: Vec<MediaLine> = Vec::new();
    // Per m= line: (address, direction, rtpmaps, ptime)
    struct Per {
        addr: Option<IpAddr>,
        dir: Option<Direction>,
        rtpmap: Vec<(u8, String)>,
        ptime: Option<u32>,
        crypto: Vec<CryptoLine>,
        rtcp_mux: bool,
        rtcp_port: Option<u16>,
    }
    let mut per: Vec<Per> = Vec::new();
    for raw in body.lines() {
        let line = raw.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let (kind, value) = line
            .split_once('=')
            .filter(|(k, _)| k.len() == 1)
            .ok_or(SdpError::Syntax("line is not `x=value`"))?;
        match kind {
            "v" => {
                if value.trim() != "0" {
                    return Err(SdpError::Syntax("version is not 0"));
                }
                version = true;
            }
            "o" => {
                let f: Vec<&str> = value.split_whitespace().collect();
                if f.len() < 6 {
                    return Err(SdpError::Syntax("o= needs six fields"));
                }
                origin = (f[1].to_string(), f[2].to_string());
            }
            "c" => {
                let f: Vec<&str> = value.split_whitespace().collect();
                if f.len() < 3 || f[0] != "IN" {
                    return Err(SdpError::Syntax("c= is not `IN IP4|IP6 address`"));
                }
                let host = f[2].split('/').next().unwrap_or("");
                let addr = host.parse::<IpAddr>().ok();
                match per.last_mut() {
                    Some(p) => p.addr = addr,
                    None => session_addr = addr,
                }
            }
            "m" => {
                let f: Vec<&str> = value.split_whitespace().collect();
                if f.len() < 4 {
                    return Err(SdpError::Syntax("m= needs media, port, proto, formats"));
                }
                let port = f[1]
                    .split('/')
                    .next()
                    .and_then(|p| p.parse::<u16>().ok())
                    .ok_or(SdpError::Syntax("m= port is not a number"))?;
                media.push(MediaLine {
                    media: f[0].to_string(),
                    port,
                    proto: f[2].to_string(),
                    formats: f[3..].iter().map(|s| s.to_string()).collect(),
                });
                per.push(Per {
                    addr: None,
                    dir: None,
                    rtpmap: Vec::new(),
                    ptime: None,
                    crypto: Vec::new(),
                    rtcp_mux: false,
                    rtcp_port: None,
                });
            }
            "a" => {
                let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                let dir = match name {
                    "sendrecv" => Some(Direction::SendRecv),
                    "sendonly" => Some(Direction::SendOnly),
                    "recvonly" => Some(Direction::RecvOnly),
                    "inactive" => Some(Direction::Inactive),
                    _ => None,
                };
                match (dir, per.last_mut()) {
                    (Some(d), Some(p)) => p.dir = Some(d),
                    (Some(d), None) => session_dir = d,
                    (None, Some(p)) => match name {
                        "rtpmap" => {
                            if let Some((pt, enc)) = arg.split_once(' ')
                                && let Ok(pt) = pt.trim().parse::<u8>()
                            {
                                p.rtpmap.push((pt, enc.trim().to_string()));
                            }
                        }
                        "ptime" => p.ptime = arg.trim().parse().ok(),
                        "crypto" => p.crypto.extend(CryptoLine::parse(arg)),
                        "rtcp-mux" => p.rtcp_mux = true,
                        "rtcp" => {
                            p.rtcp_port = arg
                                .split_whitespace()
                                .next()
                                .and_then(|x| x.parse::<u16>().ok())
                                .filter(|x| *x != 0)
                        }
                        _ => {}
                    },
                    (None, None) => {}
                }
            }
            _ => {}
        }
    }
    if !version {
        return Err(SdpError::Syntax("no v= line"));
    }
    let audio_index = media
        .iter()
        .position(|m| {
            m.media == "audio"
                && m.port != 0
                && (m.proto.starts_with("RTP/AVP") || m.proto.starts_with("RTP/SAVP"))
        })
        .ok_or(SdpError::NoAudio)?;
    let m = &media[audio_index];
    let p = &per[audio_index];
    let mut codecs = Vec::new();
    let mut telephone_event = None;
    for f in &m.formats {
        let Ok(pt) = f.parse::<u8>() else { continue };
        let mapped = p
            .rtpmap
            .iter()
            .find(|(x, _)| *x == pt)
            .map(|(_, e)| e.as_str());
        match mapped {
            Some(enc) if enc.to_ascii_lowercase().starts_with("telephone-event/8000") => {
                telephone_event.get_or_insert(pt);
            }
            Some(enc) => {
                if let Some(c) = Codec::from_rtpmap(enc, pt) {
                    codecs.push(c);
                }
            }
            None => {
                if let Some(c) = Codec::from_static(pt) {
                    codecs.push(c);
                }
            }
        }
    }
    let address = p.addr.or(session_addr);
    if address.is_none() {
        return Err(SdpError::NoAddress);
    }
    Ok(Session {
        address,
        port: m.port,
        codecs,
        telephone_event,
        direction: p.dir.unwrap_or(session_dir),
        ptime: p.ptime,
        audio_index,
        crypto: p.crypto.clone(),
        rtcp_mux: p.rtcp_mux,
        rtcp_port: p.rtcp_port,
        media,
        origin,
    })
}

/// What hotline sends: its own address and port, the chosen codec, telephone-events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    pub address: IpAddr,
    pub port: u16,
    pub session_id: u64,
    pub version: u64,
    /// hotline's SRTP key for this stream, when the leg is encrypted.
    pub crypto: Option<LocalCrypto>,
}

/// The outcome of answering an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    /// Payload type for telephone-events, as the offerer numbered it.
    pub telephone_event: Option<u8>,
    pub remote: Option<std::net::SocketAddr>,
    pub direction: Direction,
    pub sdp: String,
}

/// Answers `offer` (RFC 3264 §6): the first codec in the offerer's order that hotline speaks,
/// telephone-events if offered, the mirrored direction, and every other stream declined.
pub fn answer(offer: &Session, local: &LocalMedia) -> Result<Negotiated, SdpError> {
    let codec = *offer.codecs.first().ok_or(SdpError::NoCodec)?;
    let direction = offer.direction.answer();
    let mut sdp = header(local);
    for (i, m) in offer.media.iter().enumerate() {
        if i == offer.audio_index {
            let proto = match &local.crypto {
                Some(_) if m.proto.starts_with("RTP/SAVP") => "RTP/SAVP",
                _ => "RTP/AVP",
            };
            // hotline's key answers the offered key it takes, under that key's tag (a
            // re-offer may number its crypto lines differently from the first offer).
            let crypto = local.crypto.as_ref().map(|c| LocalCrypto {
                tag: crate::sdes::offered_key(offer).map_or(c.tag, |k| k.tag),
                ..c.clone()
            });
            audio_section(
                &mut sdp,
                local.port,
                &[codec],
                offer.telephone_event,
                direction,
                (proto, crypto.as_ref()),
            );
            // RFC 5761 §5.1.1: RTCP on the RTP port, taken when offered.
            if offer.rtcp_mux {
                sdp.push_str("a=rtcp-mux\r\n");
            }
        } else {
            // Declined: same media and protocol, port 0, the first format (RFC 3264 §6).
            let first = m.formats.first().map_or("0", String::as_str);
            let _ = write!(sdp, "m={} 0 {} {}\r\n", m.media, m.proto, first);
        }
    }
    Ok(Negotiated {
        codec,
        telephone_event: offer.telephone_event,
        remote: offer.remote(),
        direction,
        sdp,
    })
}

/// An offer for an outgoing leg (an INVITE to an agent's phone): both G.711 laws, PCMU first,
/// and telephone-events as payload type 101.
pub fn offer(local: &LocalMedia, direction: Direction) -> String {
    let mut sdp = header(local);
    let proto = match &local.crypto {
        Some(c) if c.savp => "RTP/SAVP",
        _ => "RTP/AVP",
    };
    audio_section(
        &mut sdp,
        local.port,
        &[Codec::Pcmu, Codec::Pcma],
        Some(101),
        direction,
        (proto, local.crypto.as_ref()),
    );
    // RTCP on the RTP port if the phone takes it (else on the port + 1, bound as well).
    sdp.push_str("a=rtcp-mux\r\n");
    sdp
}

fn header(local: &LocalMedia) -> String {
    let ipv = if local.address.is_ipv6() {
        "IP6"
    } else {
        "IP4"
    };
    format!(
        "v=0\r\no=hotline {} {} IN {ipv} {}\r\ns=hotline\r\nc=IN {ipv} {}\r\nt=0 0\r\n",
        local.session_id, local.version, local.address, local.address
    )
}

fn audio_section(
    sdp: &mut String,
    port: u16,
    codecs: &[Codec],
    telephone_event: Option<u8>,
    direction: Direction,
    (proto, crypto): (&str, Option<&LocalCrypto>),
) {
    let _ = write!(sdp, "m=audio {port} {proto}");
    for c in codecs {
        let _ = write!(sdp, " {}", c.payload_type());
    }
    if let Some(te) = telephone_event {
        let _ = write!(sdp, " {te}");
    }
    sdp.push_str("\r\n");
    for c in codecs {
        let _ = write!(sdp, "a=rtpmap:{} {}/8000\r\n", c.payload_type(), c.name());
    }
    if let Some(te) = telephone_event {
        let _ = write!(
            sdp,
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\n"
        );
    }
    let _ = write!(sdp, "a=ptime:20\r\na={}\r\n", direction.attr());
    if let Some(c) = crypto {
        let _ = write!(
            sdp,
            "a=crypto:{} AES_CM_128_HMAC_SHA1_80 inline:{}\r\n",
            c.tag, c.inline
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

    fn local() -> LocalMedia {
        LocalMedia {
            address: "127.0.0.1".parse().unwrap(),
            port: 20000,
            session_id: 7,
            version: 1,
            crypto: None,
        }
    }

    #[test]
    fn rtcp_mux_and_port_are_read_and_mux_answered() {
        let s = parse(SIPP_OFFER).unwrap();
        assert!(!s.rtcp_mux);
        assert_eq!(s.rtcp_port, None);
        let local = LocalMedia {
            address: "127.0.0.1".parse().unwrap(),
            port: 20000,
            session_id: 1,
            version: 1,
            crypto: None,
        };
        assert!(!answer(&s, &local).unwrap().sdp.contains("rtcp-mux"));
        let muxed = format!("{SIPP_OFFER}a=rtcp-mux\r\na=rtcp:6009 IN IP4 127.0.0.1\r\n");
        let s = parse(&muxed).unwrap();
        assert!(s.rtcp_mux);
        assert_eq!(s.rtcp_port, Some(6009));
        assert!(answer(&s, &local).unwrap().sdp.contains("a=rtcp-mux\r\n"));
        // A session-level rtcp-mux (before any m=) is not the audio stream's.
        let early = SIPP_OFFER.replace("t=0 0\r\n", "t=0 0\r\na=rtcp-mux\r\n");
        assert!(!parse(&early).unwrap().rtcp_mux);
        assert!(offer(&local, Direction::SendRecv).contains("a=rtcp-mux\r\n"));
    }

    #[test]
    fn answers_a_phone_offer_with_its_first_codec_and_dtmf() {
        let o = parse(SIPP_OFFER).unwrap();
        assert_eq!(o.codecs, vec![Codec::Pcma, Codec::Pcmu]);
        assert_eq!(o.telephone_event, Some(101));
        assert_eq!(o.remote(), Some("127.0.0.1:6000".parse().unwrap()));
        let a = answer(&o, &local()).unwrap();
        assert_eq!(a.codec, Codec::Pcma);
        assert!(
            a.sdp.contains("m=audio 20000 RTP/AVP 8 101\r\n"),
            "{}",
            a.sdp
        );
        assert!(a.sdp.contains("a=rtpmap:101 telephone-event/8000\r\n"));
        assert!(a.sdp.contains("a=sendrecv\r\n"));
        // Our answer is itself a valid description.
        let back = parse(&a.sdp).unwrap();
        assert_eq!(back.codecs, vec![Codec::Pcma]);
        assert_eq!(back.port, 20000);
    }

    #[test]
    fn hold_offers_and_declined_streams() {
        let held = SIPP_OFFER.replace("a=fmtp:101 0-15\r\n", "a=fmtp:101 0-15\r\na=sendonly\r\n");
        let o = parse(&held).unwrap();
        assert!(o.is_hold());
        assert_eq!(answer(&o, &local()).unwrap().direction, Direction::RecvOnly);
        let old_hold = SIPP_OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        let o = parse(&old_hold).unwrap();
        assert!(o.is_hold() && o.remote().is_none());

        let video = format!("{SIPP_OFFER}m=video 6002 RTP/AVP 31\r\na=rtpmap:31 H261/90000\r\n");
        let a = answer(&parse(&video).unwrap(), &local()).unwrap();
        assert!(a.sdp.ends_with("m=video 0 RTP/AVP 31\r\n"), "{}", a.sdp);
    }

    #[test]
    fn static_payloads_without_rtpmap_and_refusals() {
        let bare = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\n";
        let o = parse(bare).unwrap();
        assert_eq!(o.codecs, vec![Codec::Pcmu]);
        assert_eq!(o.address, Some("10.0.0.2".parse().unwrap()));
        let g729 = SIPP_OFFER
            .replace("RTP/AVP 8 0 101", "RTP/AVP 18 101")
            .replace(
                "a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n",
                "a=rtpmap:18 G729/8000\r\n",
            );
        assert_eq!(
            answer(&parse(&g729).unwrap(), &local()),
            Err(SdpError::NoCodec)
        );
        assert_eq!(
            parse("v=0\r\nm=video 1 RTP/AVP 31\r\n"),
            Err(SdpError::NoAudio)
        );
        assert!(matches!(parse("hello"), Err(SdpError::Syntax(_))));
        assert_eq!(
            parse("v=0\r\nm=audio 1 RTP/AVP 0\r\n"),
            Err(SdpError::NoAddress)
        );
    }

    #[test]
    fn our_offer_parses() {
        let o = parse(&offer(&local(), Direction::SendRecv)).unwrap();
        assert_eq!(o.codecs, vec![Codec::Pcmu, Codec::Pcma]);
        assert_eq!(o.telephone_event, Some(101));
    }

    #[test]
    fn a_re_offer_is_answered_under_the_tag_of_the_key_it_offers() {
        let key = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
        let mut l = local();
        l.crypto = Some(LocalCrypto {
            tag: 1,
            inline: "aG90bGluZWtleWhvdGxpbmVrZXlob3RsaW5la2V5".into(),
            savp: true,
        });
        // A phone's hold re-offer numbers its one usable key 3 (an unusable suite is 2).
        let reoffer = format!(
            "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 4000 RTP/SAVP 0\r\na=sendonly\r\n\
             a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{key}\r\n\
             a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{key}\r\n"
        );
        let a = answer(&parse(&reoffer).unwrap(), &l).unwrap();
        assert!(a.sdp.contains("m=audio 20000 RTP/SAVP 0"), "{}", a.sdp);
        assert!(
            a.sdp.contains(
                "a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:aG90bGluZWtleWhvdGxpbmVrZXlob3RsaW5la2V5"
            ),
            "{}",
            a.sdp
        );
        assert!(a.sdp.contains("a=recvonly"), "{}", a.sdp);
        // An offer without a usable key keeps the leg's own tag.
        let a = answer(&parse(SIPP_OFFER).unwrap(), &l).unwrap();
        assert!(a.sdp.contains("a=crypto:1 "), "{}", a.sdp);
    }
}
