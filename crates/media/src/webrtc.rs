//! A browser's leg: WebRTC (ICE-lite, DTLS-SRTP, SDP offer/answer) on one RTP port, carried
//! into the call's media core as plain G.711 RTP.
//!
//! hotline offers, the browser answers. The offer holds one audio section with exactly one
//! codec, the caller's G.711 law (every browser implements PCMU and PCMA), so audio is relayed
//! between the caller and the browser without transcoding. hotline is ICE-lite: it has one
//! host candidate (the address the browser can reach) and answers the browser's checks; it
//! needs no candidates from the browser.
//!
//! [`BrowserLeg`] wraps a sans-IO [`str0m::Rtc`]. The engine's media thread feeds it the
//! datagrams of its socket and its timeouts; it sends what `str0m` transmits, and turns each
//! audio frame the browser sends into one RTP packet for the core (same payload type, the
//! browser's RTP time and sequence number). What the core sends to the leg is written back
//! as media frames, encrypted by `str0m`.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::OnceLock;
use std::time::Instant;

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::Extension;
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

use crate::g711::Codec;
use crate::rtp::{RtpHeader, RtpPacket, write_packet};

/// What happened to a browser leg's connection, for the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserState {
    /// ICE and DTLS are up: media flows.
    Connected,
    /// The browser is gone (ICE timed out or the connection was closed).
    Disconnected,
}

/// One browser's WebRTC session, driven by the media thread that owns its socket.
pub struct BrowserLeg {
    rtc: Rtc,
    mid: Mid,
    pending: Option<SdpPendingOffer>,
    /// The address the browser reaches (the host candidate): what ICE checks arrive for,
    /// whatever the socket is bound to (a wildcard address, behind a NAT).
    local: SocketAddr,
    /// The socket's own address: where the core is told the browser's packets come from.
    bound: SocketAddr,
    /// Since when ICE has been disconnected (it may come back by itself).
    lost_since: Option<Instant>,
    /// Answered and not connected yet: the media must connect by this time (set at the
    /// first timer after the answer), or the leg is dead.
    connect_by: Option<Instant>,
    answered: bool,
    connected: bool,
    pt: Pt,
    /// When `str0m` wants its next timeout.
    wake: Instant,
    /// Plain RTP packets from the browser, waiting for the core.
    inbox: Vec<Vec<u8>>,
    ssrc: u32,
    /// Connection changes not yet reported.
    changes: Vec<BrowserState>,
    dead: bool,
}

impl std::fmt::Debug for BrowserLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserLeg")
            .field("local", &self.local)
            .field("pt", &self.pt)
            .field("dead", &self.dead)
            .finish()
    }
}

/// The RTP header extension id offered for the media section's id (`sdes:mid`).
const MID_EXT: u8 = 4;

/// How long ICE may stay disconnected (the browser's network gone) before the leg is dead.
const LOST_FOR: std::time::Duration = std::time::Duration::from_secs(15);

/// How long an answered leg has to connect (ICE and DTLS take well under a second on any
/// network a browser phone can work on): after it, the leg is dead and the page is told.
pub const CONNECT_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a browser leg could not be set up or answered.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("cannot offer on {0}: {1}")]
    Candidate(SocketAddr, String),
    #[error("no offer could be made")]
    NoOffer,
    #[error("the answer is not valid SDP: {0}")]
    BadAnswer(String),
    #[error("the answer was not accepted: {0}")]
    Refused(String),
    #[error("no answer is awaited")]
    NotWaiting,
}

/// The process's DTLS certificate, made once: every browser leg presents it. The browser
/// trusts the certificate only by the fingerprint in the SDP it was given over the
/// authenticated signalling, so sharing it across legs gives nothing away, and every leg's
/// keys are its own (each handshake is ephemeral ECDHE). Measured (release, this engine's
/// crypto): a certificate costs 0.06 ms of an offer's 1.2 ms, most of which is the DTLS
/// layer's fresh ephemeral key pairs; so this keeps the fingerprint stable more than it
/// saves time. The certificate's validity (a year from the start) is not checked by
/// browsers for WebRTC, which pin the fingerprint. `None` if the crypto provider cannot make
/// one, and then `str0m` makes one per leg.
fn dtls_cert() -> Option<&'static str0m::config::DtlsCert> {
    static CERT: OnceLock<Option<str0m::config::DtlsCert>> = OnceLock::new();
    CERT.get_or_init(|| {
        str0m::crypto::from_feature_flags()
            .dtls_provider
            .generate_certificate()
    })
    .as_ref()
}

impl BrowserLeg {
    /// A leg on the socket bound at `local`, reachable by the browser at `advertise` (the
    /// same port), offering `codec`. Returns the leg and the SDP offer to send the browser.
    pub fn offer(
        local: SocketAddr,
        advertise: IpAddr,
        codec: Codec,
        now: Instant,
    ) -> Result<(BrowserLeg, String), BrowserError> {
        // Of the RTP header extensions, only the media section's id: hotline does no
        // bandwidth estimation on a fixed-rate G.711 stream, so transport-wide sequence
        // numbers (and the browser's feedback on them every 100 ms), send times and audio
        // levels would only cost work on every packet.
        let cfg = RtcConfig::new()
            .set_ice_lite(true)
            .clear_codecs()
            .clear_extension_map()
            .set_extension(MID_EXT, Extension::RtpMid);
        let cfg = match codec {
            Codec::Pcmu => cfg.enable_pcmu(true, false),
            Codec::Pcma => cfg.enable_pcma(true, false),
        };
        let cfg = match dtls_cert() {
            Some(cert) => cfg.set_dtls_cert(cert.clone()),
            None => cfg,
        };
        let mut rtc = cfg.build(now);
        let there = SocketAddr::new(advertise, local.port());
        let cand = Candidate::host(there, "udp")
            .map_err(|e| BrowserError::Candidate(there, e.to_string()))?;
        rtc.add_local_candidate(cand);
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = api.apply().ok_or(BrowserError::NoOffer)?;
        let mut seed = [0u8; 4];
        let _ = getrandom::fill(&mut seed);
        let seed = u32::from_be_bytes(seed) ^ u32::from(local.port());
        let leg = BrowserLeg {
            rtc,
            mid,
            pending: Some(pending),
            local: there,
            bound: local,
            lost_since: None,
            connect_by: None,
            answered: false,
            connected: false,
            pt: Pt::new_with_value(codec.static_payload_type()),
            wake: now,
            inbox: Vec::new(),
            ssrc: seed ^ 0x6877_6562,
            changes: Vec::new(),
            dead: false,
        };
        Ok((leg, offer.to_sdp_string()))
    }

    /// Takes the browser's SDP answer.
    pub fn accept_answer(&mut self, sdp: &str) -> Result<(), BrowserError> {
        let answer =
            SdpAnswer::from_sdp_string(sdp).map_err(|e| BrowserError::BadAnswer(e.to_string()))?;
        let pending = self.pending.take().ok_or(BrowserError::NotWaiting)?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| BrowserError::Refused(e.to_string()))?;
        self.answered = true;
        Ok(())
    }

    /// The leg's socket address (the address its RTP is said to come from in the core).
    pub fn bound(&self) -> SocketAddr {
        self.bound
    }

    /// The browser left or the connection failed: nothing more is sent or received.
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// When [`BrowserLeg::timeout`] is due.
    pub fn wake(&self) -> Instant {
        self.wake
    }

    /// A datagram from the browser (STUN, DTLS or SRTP).
    pub fn receive(&mut self, from: SocketAddr, data: &[u8], now: Instant, socket: &UdpSocket) {
        if self.dead {
            return;
        }
        let Ok(input) = Receive::new(Protocol::Udp, from, self.local, data) else {
            return;
        };
        if self.rtc.handle_input(Input::Receive(now, input)).is_err() {
            return;
        }
        self.drain(now, socket);
    }

    /// Runs `str0m`'s timers (ICE consent, DTLS retransmits, RTCP reports).
    pub fn timeout(&mut self, now: Instant, socket: &UdpSocket) {
        if self.answered && !self.connected && self.connect_by.is_none() {
            self.connect_by = Some(now + CONNECT_WITHIN);
        }
        if self.dead || now < self.wake {
            return;
        }
        if self
            .lost_since
            .is_some_and(|t| now.duration_since(t) >= LOST_FOR)
            || self.connect_by.is_some_and(|t| now >= t)
            || self.rtc.handle_input(Input::Timeout(now)).is_err()
        {
            self.rtc.disconnect();
            self.die();
            return;
        }
        self.drain(now, socket);
    }

    /// Sends one RTP packet from the core to the browser as a media frame of the negotiated
    /// codec. Other payloads (telephone-events, comfort noise) are not sent.
    pub fn send(&mut self, data: &[u8], now: Instant, socket: &UdpSocket) -> bool {
        if self.dead {
            return false;
        }
        let Ok(p) = RtpPacket::parse(data) else {
            return false;
        };
        if *self.pt != p.header.payload_type {
            return true;
        }
        if !self.rtc.is_connected() {
            // Not connected yet (or for now): nothing can be sent, and nothing that matters
            // is lost.
            return true;
        }
        let Some(w) = self.rtc.writer(self.mid) else {
            return true;
        };
        let time = MediaTime::new(u64::from(p.header.timestamp), Frequency::EIGHT_KHZ);
        if w.write(self.pt, now, time, p.payload.to_vec()).is_err() {
            return false;
        }
        self.drain(now, socket);
        true
    }

    /// Plain RTP packets received from the browser since the last call.
    pub fn take_packets(&mut self, into: &mut Vec<Vec<u8>>) {
        into.append(&mut self.inbox);
    }

    /// Connection changes since the last call.
    pub fn take_changes(&mut self) -> Vec<BrowserState> {
        std::mem::take(&mut self.changes)
    }

    fn drain(&mut self, now: Instant, socket: &UdpSocket) {
        // Bounded: str0m always ends with a timeout, but a fault must not spin the thread.
        for _ in 0..256 {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.wake = self.connect_by.map_or(t, |c| t.min(c));
                    return;
                }
                Ok(Output::Transmit(t)) => {
                    let _ = socket.send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(e)) => self.event(e, now),
                Err(e) => {
                    tracing::debug!(error = %e, "browser leg failed");
                    self.die();
                    return;
                }
            }
        }
    }

    fn die(&mut self) {
        if !self.dead {
            self.dead = true;
            self.changes.push(BrowserState::Disconnected);
        }
    }

    fn event(&mut self, e: Event, now: Instant) {
        match e {
            Event::Connected => {
                self.connected = true;
                self.connect_by = None;
                self.changes.push(BrowserState::Connected);
            }
            // A network blip: ICE may come back (the browser checks again); only a loss that
            // lasts kills the leg (see `timeout`).
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.lost_since.get_or_insert(now);
            }
            Event::IceConnectionStateChange(_) => self.lost_since = None,
            Event::MediaData(d) if d.mid == self.mid && d.pt == self.pt => {
                let h = RtpHeader {
                    marker: false,
                    payload_type: *d.pt,
                    sequence: (*d.seq_range.end()).as_u16(),
                    timestamp: d.time.numer() as u32,
                    ssrc: self.ssrc,
                };
                let mut buf = vec![0u8; 12 + d.data.len()];
                if let Some(n) = write_packet(&h, &d.data, &mut buf) {
                    buf.truncate(n);
                    self.inbox.push(buf);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(sdp: &'a str, prefix: &str) -> &'a str {
        sdp.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {sdp}"))
    }

    #[test]
    fn offers_share_the_certificate_but_not_the_ice_credentials() {
        let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let (_, a) = BrowserLeg::offer(at(40000), at(0).ip(), Codec::Pcmu, Instant::now()).unwrap();
        let (_, b) = BrowserLeg::offer(at(40002), at(0).ip(), Codec::Pcma, Instant::now()).unwrap();
        assert_eq!(line(&a, "a=fingerprint:"), line(&b, "a=fingerprint:"));
        assert_ne!(line(&a, "a=ice-ufrag:"), line(&b, "a=ice-ufrag:"));
        assert_ne!(line(&a, "a=ice-pwd:"), line(&b, "a=ice-pwd:"));
    }
}
