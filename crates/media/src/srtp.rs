//! SRTP (RFC 3711) with the AES_CM_128_HMAC_SHA1_80 suite, keyed by SDES (RFC 4568).
//!
//! Sans-IO: [`SrtpSender::protect`] turns an RTP packet into an SRTP one in place (payload
//! encrypted with AES in counter mode, a 10-byte HMAC-SHA1 tag appended over the header, the
//! encrypted payload and the rollover counter); [`SrtpReceiver::unprotect`] checks the tag
//! first, refuses replays (a 64-packet window per stream), then decrypts. The rollover counter
//! (ROC) is kept per SSRC on both sides, so a stream keeps working across the 16-bit sequence
//! wrap; the receiver estimates the index of each packet as RFC 3711 §3.3.1 says.
//!
//! Only RTP is covered: SRTCP is not implemented, so encrypted legs send no RTCP and RTCP
//! they receive is not used (plain legs do speak RTCP, see [`crate::rtcp`]).

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit, KeyIvInit, StreamCipher};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Bytes of the authentication tag appended to each packet (80 bits).
pub const TAG_LEN: usize = 10;
/// Packets back a receiver still accepts once (the replay window).
pub const REPLAY_WINDOW: u64 = 64;
/// The suite name in SDP `a=crypto` lines.
pub const SUITE: &str = "AES_CM_128_HMAC_SHA1_80";

type HmacSha1 = Hmac<Sha1>;
type Ctr = ctr::Ctr128BE<Aes128>;

/// Why a packet was not protected or not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    #[error("not an RTP packet")]
    Malformed,
    #[error("authentication tag does not match")]
    Auth,
    #[error("replayed or too old")]
    Replay,
    #[error("no room for the tag")]
    NoRoom,
}

/// A master key and salt (30 bytes), as carried by SDES `inline:`.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    pub key: [u8; 16],
    pub salt: [u8; 14],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A fresh key from the operating system's random source.
    pub fn random() -> Result<MasterKey, String> {
        let mut b = [0u8; 30];
        getrandom::fill(&mut b).map_err(|e| format!("no random source: {e}"))?;
        Ok(MasterKey::from_bytes(&b).unwrap_or_else(|| unreachable!("30 bytes")))
    }

    /// 30 bytes: the 16-byte key then the 14-byte salt.
    pub fn from_bytes(b: &[u8]) -> Option<MasterKey> {
        if b.len() != 30 {
            return None;
        }
        let mut key = [0u8; 16];
        let mut salt = [0u8; 14];
        key.copy_from_slice(&b[..16]);
        salt.copy_from_slice(&b[16..]);
        Some(MasterKey { key, salt })
    }

    /// The SDES key-info: base64 of key and salt.
    pub fn to_inline(&self) -> String {
        let mut b = [0u8; 30];
        b[..16].copy_from_slice(&self.key);
        b[16..].copy_from_slice(&self.salt);
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    /// Parses SDES key-params: `inline:<base64>[|lifetime][|MKI:length]`. A lifetime is
    /// accepted (hotline's calls never come near 2^31 packets); an MKI is refused, since
    /// hotline does not put one in its packets.
    pub fn from_inline(params: &str) -> Result<MasterKey, &'static str> {
        let first = params.split(';').next().unwrap_or("");
        let info = first
            .strip_prefix("inline:")
            .ok_or("key method is not inline")?;
        let mut parts = info.split('|');
        let b64 = parts.next().unwrap_or("");
        for p in parts {
            if p.contains(':') {
                return Err("MKI is not supported");
            }
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| "key is not base64")?;
        MasterKey::from_bytes(&bytes).ok_or("key and salt are not 30 bytes")
    }
}

/// A leg's SRTP keys: hotline's own (what it sends with, announced in its SDP) and the far
/// end's (what it receives with; unknown until the far end's SDP arrives: until then
/// nothing received is accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    pub local: MasterKey,
    pub remote: Option<MasterKey>,
}

/// Session keys derived from a master key (RFC 3711 §4.3, key derivation rate 0).
#[derive(Clone)]
struct SessionKeys {
    cipher: [u8; 16],
    auth: [u8; 20],
    salt: [u8; 14],
}

impl SessionKeys {
    /// SRTP labels: 0 cipher key, 1 authentication key, 2 salt.
    fn derive(master: &MasterKey) -> SessionKeys {
        let aes = Aes128::new(&master.key.into());
        let mut cipher = [0u8; 16];
        let mut auth = [0u8; 20];
        let mut salt = [0u8; 14];
        prf(&aes, &master.salt, 0, &mut cipher);
        prf(&aes, &master.salt, 1, &mut auth);
        prf(&aes, &master.salt, 2, &mut salt);
        SessionKeys { cipher, auth, salt }
    }
}

/// AES-CM PRF: x = label at byte 7 XOR master salt (index DIV kdr is 0), keystream from
/// IV = x * 2^16.
fn prf(aes: &Aes128, master_salt: &[u8; 14], label: u8, out: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(master_salt);
    iv[7] ^= label;
    for (i, chunk) in out.chunks_mut(16).enumerate() {
        let mut block = iv;
        block[14..].copy_from_slice(&(i as u16).to_be_bytes());
        let mut b = block.into();
        aes.encrypt_block(&mut b);
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
}

/// The per-packet counter-mode IV: (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16).
fn packet_iv(salt: &[u8; 14], ssrc: u32, index: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    for (d, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
        *d ^= s;
    }
    for (d, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
        *d ^= s;
    }
    iv
}

/// Header length of an RTP packet (fixed part, CSRCs, extension), its sequence number and
/// SSRC.
fn rtp_header(p: &[u8]) -> Result<(usize, u16, u32), SrtpError> {
    if p.len() < 12 || p[0] >> 6 != 2 {
        return Err(SrtpError::Malformed);
    }
    let cc = usize::from(p[0] & 0x0f);
    let mut len = 12 + 4 * cc;
    if p[0] & 0x10 != 0 {
        if p.len() < len + 4 {
            return Err(SrtpError::Malformed);
        }
        len += 4 + 4 * usize::from(u16::from_be_bytes([p[len + 2], p[len + 3]]));
    }
    if p.len() < len {
        return Err(SrtpError::Malformed);
    }
    let seq = u16::from_be_bytes([p[2], p[3]]);
    let ssrc = u32::from_be_bytes([p[8], p[9], p[10], p[11]]);
    Ok((len, seq, ssrc))
}

struct Crypto {
    keys: SessionKeys,
    mac: HmacSha1,
}

impl Crypto {
    fn new(master: &MasterKey) -> Crypto {
        let keys = SessionKeys::derive(master);
        let mac = <HmacSha1 as hmac::KeyInit>::new_from_slice(&keys.auth)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        Crypto { keys, mac }
    }

    fn keystream_xor(&self, ssrc: u32, index: u64, data: &mut [u8]) {
        let iv = packet_iv(&self.keys.salt, ssrc, index);
        let mut c = Ctr::new(&self.keys.cipher.into(), &iv.into());
        c.apply_keystream(data);
    }

    fn tag(&self, authenticated: &[u8], roc: u32) -> [u8; TAG_LEN] {
        let mut m = self.mac.clone();
        m.update(authenticated);
        m.update(&roc.to_be_bytes());
        let full = m.finalize().into_bytes();
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(&full[..TAG_LEN]);
        t
    }
}

/// How many streams (SSRCs) a context remembers; the oldest is forgotten beyond.
const MAX_STREAMS: usize = 8;

/// Protects one leg's outgoing RTP.
pub struct SrtpSender {
    crypto: Crypto,
    /// Per SSRC: rollover counter and the last sequence number sent.
    streams: Vec<(u32, u32, u16)>,
    pub protected: u64,
}

impl std::fmt::Debug for SrtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpSender")
            .field("protected", &self.protected)
            .finish()
    }
}

impl SrtpSender {
    pub fn new(master: &MasterKey) -> SrtpSender {
        SrtpSender {
            crypto: Crypto::new(master),
            streams: Vec::new(),
            protected: 0,
        }
    }

    /// Encrypts the RTP packet in `buf[..len]` in place and appends the tag; returns the
    /// SRTP length (`len + TAG_LEN`).
    pub fn protect(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        if buf.len() < len + TAG_LEN {
            return Err(SrtpError::NoRoom);
        }
        let (hdr, seq, ssrc) = rtp_header(&buf[..len])?;
        let roc = match self.streams.iter_mut().find(|s| s.0 == ssrc) {
            Some(s) => {
                // The sequence wrapped (it went backwards by more than half the space).
                if seq < s.2 && s.2 - seq > 0x8000 {
                    s.1 = s.1.wrapping_add(1);
                }
                s.2 = seq;
                s.1
            }
            None => {
                if self.streams.len() >= MAX_STREAMS {
                    self.streams.remove(0);
                }
                self.streams.push((ssrc, 0, seq));
                0
            }
        };
        let index = (u64::from(roc) << 16) | u64::from(seq);
        self.crypto.keystream_xor(ssrc, index, &mut buf[hdr..len]);
        let tag = self.crypto.tag(&buf[..len], roc);
        buf[len..len + TAG_LEN].copy_from_slice(&tag);
        self.protected += 1;
        Ok(len + TAG_LEN)
    }
}

/// One received stream's state.
struct Inbound {
    ssrc: u32,
    /// Highest index accepted so far.
    newest: u64,
    /// Bit i set: index `newest - i` was accepted.
    seen: u64,
}

/// Checks and decrypts one leg's incoming SRTP.
pub struct SrtpReceiver {
    crypto: Crypto,
    streams: Vec<Inbound>,
    pub accepted: u64,
    pub rejected: u64,
}

impl std::fmt::Debug for SrtpReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpReceiver")
            .field("accepted", &self.accepted)
            .field("rejected", &self.rejected)
            .finish()
    }
}

/// RFC 3711 §3.3.1: the index of a packet with sequence `seq`, given the highest index
/// accepted so far.
fn estimate_index(newest: u64, seq: u16) -> u64 {
    let s_l = (newest & 0xffff) as i64;
    let roc = (newest >> 16) as i64;
    let seq = i64::from(seq);
    let v = if s_l < 0x8000 {
        if seq - s_l > 0x8000 { roc - 1 } else { roc }
    } else if s_l - 0x8000 > seq {
        roc + 1
    } else {
        roc
    };
    // Before the first wrap, a "previous" ROC does not exist.
    (v.max(0) as u64) << 16 | seq as u64
}

impl SrtpReceiver {
    pub fn new(master: &MasterKey) -> SrtpReceiver {
        SrtpReceiver {
            crypto: Crypto::new(master),
            streams: Vec::new(),
            accepted: 0,
            rejected: 0,
        }
    }

    /// Checks `packet` (SRTP) and decrypts it in place; returns the RTP length.
    pub fn unprotect(&mut self, packet: &mut [u8]) -> Result<usize, SrtpError> {
        let r = self.unprotect_inner(packet);
        match r {
            Ok(_) => self.accepted += 1,
            Err(_) => self.rejected += 1,
        }
        r
    }

    fn unprotect_inner(&mut self, packet: &mut [u8]) -> Result<usize, SrtpError> {
        if packet.len() < 12 + TAG_LEN {
            return Err(SrtpError::Malformed);
        }
        let len = packet.len() - TAG_LEN;
        let (hdr, seq, ssrc) = rtp_header(&packet[..len])?;
        let known = self.streams.iter().position(|s| s.ssrc == ssrc);
        let index = match known {
            Some(i) => estimate_index(self.streams[i].newest, seq),
            // A new stream starts with ROC 0 (RFC 3711 §3.3.1).
            None => u64::from(seq),
        };
        if let Some(i) = known {
            let s = &self.streams[i];
            if index <= s.newest {
                let behind = s.newest - index;
                if behind >= REPLAY_WINDOW || s.seen & (1 << behind) != 0 {
                    return Err(SrtpError::Replay);
                }
            }
        }
        let roc = (index >> 16) as u32;
        let want = self.crypto.tag(&packet[..len], roc);
        if !constant_time_eq(&want, &packet[len..]) {
            return Err(SrtpError::Auth);
        }
        self.crypto
            .keystream_xor(ssrc, index, &mut packet[hdr..len]);
        // Only authenticated packets move the window.
        let i = match known {
            Some(i) => i,
            None => {
                if self.streams.len() >= MAX_STREAMS {
                    self.streams.remove(0);
                }
                self.streams.push(Inbound {
                    ssrc,
                    newest: index,
                    seen: 0,
                });
                self.streams.len() - 1
            }
        };
        let s = &mut self.streams[i];
        if index > s.newest {
            let ahead = index - s.newest;
            s.seen = if ahead >= 64 { 0 } else { s.seen << ahead };
            s.newest = index;
            s.seen |= 1;
        } else {
            s.seen |= 1 << (s.newest - index);
        }
        Ok(len)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn rfc_master() -> MasterKey {
        MasterKey::from_bytes(&hex(
            "E1F97A0D3E018BE0D64FA32C06DE4139 0EC675AD498AFEEBB6960B3AABE6",
        ))
        .unwrap()
    }

    /// RFC 3711 Appendix B.3: key derivation.
    #[test]
    fn key_derivation_matches_rfc3711_b3() {
        let k = SessionKeys::derive(&rfc_master());
        assert_eq!(k.cipher.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        assert_eq!(k.salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        assert_eq!(
            k.auth.to_vec(),
            hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
        );
    }

    /// RFC 3711 Appendix B.2: the AES-CM keystream for SSRC 0, index 0.
    #[test]
    fn keystream_matches_rfc3711_b2() {
        let salt: [u8; 14] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD").try_into().unwrap();
        let iv = packet_iv(&salt, 0, 0);
        assert_eq!(iv.to_vec(), hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000"));
        let crypto = Crypto {
            keys: SessionKeys {
                cipher: hex("2B7E151628AED2A6ABF7158809CF4F3C").try_into().unwrap(),
                auth: [0; 20],
                salt,
            },
            mac: <HmacSha1 as hmac::KeyInit>::new_from_slice(&[0; 20]).unwrap(),
        };
        let mut stream = [0u8; 48];
        crypto.keystream_xor(0, 0, &mut stream);
        assert_eq!(
            stream.to_vec(),
            hex(
                "E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB \
                 41E95B3BB0A2E8DD477901E4FCA894C0"
            )
        );
    }

    #[test]
    fn iv_places_ssrc_and_index() {
        let iv = packet_iv(&[0; 14], 0x0102_0304, 0x0000_0a0b_0c0d_0e0f);
        assert_eq!(iv.to_vec(), hex("00000000 01020304 0a0b0c0d0e0f 0000"));
    }

    fn rtp(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 160, 0, 0, 0, 0];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p[8..12].copy_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn protect(tx: &mut SrtpSender, plain: &[u8]) -> Vec<u8> {
        let mut buf = plain.to_vec();
        buf.resize(plain.len() + TAG_LEN, 0);
        let n = tx.protect(&mut buf, plain.len()).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn round_trip_hides_payload_and_keeps_header() {
        let master = rfc_master();
        let mut tx = SrtpSender::new(&master);
        let mut rx = SrtpReceiver::new(&master);
        let plain = rtp(1000, 0xdead_beef, &[0x55; 160]);
        let mut wire = protect(&mut tx, &plain);
        assert_eq!(wire.len(), plain.len() + TAG_LEN);
        assert_eq!(wire[..12], plain[..12]);
        assert_ne!(wire[12..172], plain[12..]);
        let n = rx.unprotect(&mut wire).unwrap();
        assert_eq!(wire[..n], plain[..]);
    }

    #[test]
    fn tampering_wrong_key_and_replay_are_refused() {
        let master = rfc_master();
        let mut tx = SrtpSender::new(&master);
        let mut rx = SrtpReceiver::new(&master);
        let wire = protect(&mut tx, &rtp(7, 1, &[1; 40]));
        let mut bad = wire.clone();
        bad[20] ^= 1;
        assert_eq!(rx.unprotect(&mut bad), Err(SrtpError::Auth));
        let mut other = SrtpReceiver::new(&MasterKey::random().unwrap());
        assert_eq!(other.unprotect(&mut wire.clone()), Err(SrtpError::Auth));
        assert!(rx.unprotect(&mut wire.clone()).is_ok());
        assert_eq!(rx.unprotect(&mut wire.clone()), Err(SrtpError::Replay));
        // Out of order but inside the window: accepted once.
        let later: Vec<Vec<u8>> = (8..80)
            .map(|s| protect(&mut tx, &rtp(s, 1, &[2; 40])))
            .collect();
        assert!(rx.unprotect(&mut later[5].clone()).is_ok());
        assert!(rx.unprotect(&mut later[2].clone()).is_ok());
        assert_eq!(rx.unprotect(&mut later[2].clone()), Err(SrtpError::Replay));
        assert!(rx.unprotect(&mut later[71].clone()).is_ok());
        // Now more than 64 behind the newest.
        assert_eq!(rx.unprotect(&mut later[3].clone()), Err(SrtpError::Replay));
        assert_eq!(rx.rejected, 4);
    }

    #[test]
    fn rollover_counter_follows_the_sequence_wrap() {
        let master = rfc_master();
        let mut tx = SrtpSender::new(&master);
        let mut rx = SrtpReceiver::new(&master);
        let mut seq: u16 = 65_500;
        for i in 0..200u32 {
            let plain = rtp(seq, 42, &i.to_be_bytes());
            let mut wire = protect(&mut tx, &plain);
            let n = rx
                .unprotect(&mut wire)
                .unwrap_or_else(|e| panic!("packet {i} (seq {seq}): {e}"));
            assert_eq!(wire[..n], plain[..]);
            seq = seq.wrapping_add(1);
        }
        assert_eq!(tx.streams[0].1, 1, "sender's ROC after one wrap");
        assert_eq!(
            rx.streams[0].newest >> 16,
            1,
            "receiver's ROC after one wrap"
        );
        // A packet from before the wrap, arriving after it, is placed in the old ROC.
        let mut tx2 = SrtpSender::new(&master);
        let mut rx2 = SrtpReceiver::new(&master);
        let wires: Vec<Vec<u8>> = [65_533u16, 65_534, 65_535, 0, 1]
            .iter()
            .map(|s| protect(&mut tx2, &rtp(*s, 9, &s.to_be_bytes())))
            .collect();
        for i in [0, 2, 3, 4, 1] {
            let mut w = wires[i].clone();
            assert!(rx2.unprotect(&mut w).is_ok(), "packet {i}");
        }
        assert_eq!(rx2.streams[0].newest, 0x1_0001);
    }

    #[test]
    fn estimate_index_cases() {
        assert_eq!(estimate_index(5, 6), 6);
        assert_eq!(estimate_index(0xffff, 0), 0x1_0000);
        assert_eq!(estimate_index(0x1_0002, 0xfffe), 0xfffe);
        assert_eq!(estimate_index(0x1_8001, 2), 0x1_0002);
        assert_eq!(estimate_index(0x1_fff0, 2), 0x2_0002);
    }

    #[test]
    fn sdes_inline_round_trip_and_refusals() {
        let k = MasterKey::random().unwrap();
        let s = format!("inline:{}", k.to_inline());
        assert_eq!(MasterKey::from_inline(&s).unwrap(), k);
        assert_eq!(
            MasterKey::from_inline(&format!("{s}|2^31")).unwrap(),
            k,
            "lifetime accepted"
        );
        assert!(MasterKey::from_inline(&format!("{s}|2^31|1:1")).is_err());
        assert!(MasterKey::from_inline("inline:AAAA").is_err());
        assert!(MasterKey::from_inline("uri:x").is_err());
        assert_eq!(format!("{k:?}"), "MasterKey(..)");
    }
}
