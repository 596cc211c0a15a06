//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;

use hotline_media::call::{LegId, Transmit};

/// UDP payloads of a classic pcap capture (Ethernet, IPv4, UDP).
/// Panics (failing the test) if the file is missing or malformed.
pub fn pcap_udp_payloads(path: &Path) -> Vec<Vec<u8>> {
    let d = std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (install Debian package sip-tester: apt-get install -y sip-tester)",
            path.display()
        )
    });
    assert!(d.len() >= 24, "short pcap");
    let magic = u32::from_le_bytes(d[0..4].try_into().unwrap());
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        m => panic!("not a pcap file: magic {m:#x}"),
    };
    let rd32 = |b: &[u8]| {
        let a: [u8; 4] = b.try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let link = rd32(&d[20..24]);
    assert_eq!(link, 1, "only Ethernet captures are supported");
    let mut off = 24;
    let mut out = Vec::new();
    while off + 16 <= d.len() {
        let incl = rd32(&d[off + 8..off + 12]) as usize;
        let pkt = &d[off + 16..(off + 16 + incl).min(d.len())];
        off += 16 + incl;
        if pkt.len() < 14 + 20 + 8 {
            continue;
        }
        let mut p = 12;
        let mut ethertype = u16::from_be_bytes([pkt[p], pkt[p + 1]]);
        if ethertype == 0x8100 {
            p += 4;
            ethertype = u16::from_be_bytes([pkt[p], pkt[p + 1]]);
        }
        if ethertype != 0x0800 {
            continue;
        }
        let ip = &pkt[p + 2..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        if ip[9] != 17 || ip.len() < ihl + 8 {
            continue;
        }
        let udp = &ip[ihl..];
        let ulen = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        let end = ulen.clamp(8, udp.len());
        out.push(udp[8..end].to_vec());
    }
    out
}

/// Collects what a sans-IO core sends.
#[derive(Default)]
pub struct Captured {
    pub sent: Vec<(LegId, SocketAddr, Vec<u8>)>,
}

impl Transmit for Captured {
    fn send(&mut self, leg: LegId, to: SocketAddr, data: &[u8]) {
        self.sent.push((leg, to, data.to_vec()));
    }
}

/// Reads a fixture WAV (8 kHz mono 16-bit) into samples.
pub fn read_wav(path: &Path) -> Vec<i16> {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let s = r.spec();
    assert_eq!(
        (s.sample_rate, s.channels, s.bits_per_sample),
        (8000, 1, 16)
    );
    r.samples::<i16>().map(|x| x.unwrap()).collect()
}

pub fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Deterministic noise generator (xorshift), uniform in -amp..amp.
pub struct Noise(pub u64);

impl Noise {
    pub fn next(&mut self, amp: f32) -> i16 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let u = (self.0 >> 11) as f64 / (1u64 << 53) as f64;
        ((u as f32 * 2.0 - 1.0) * amp * 32767.0) as i16
    }
}

/// Power of `x` at frequency `f` (Goertzel), normalised to amplitude².
pub fn tone_power(x: &[i16], f: f32) -> f32 {
    let c = 2.0 * (2.0 * std::f32::consts::PI * f / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &v in x {
        let s0 = f32::from(v) / 32768.0 + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - c * s1 * s2) * 4.0 / (x.len() as f32).powi(2)
}

pub fn sine(f: f32, amp: f32, n: usize, start: usize) -> Vec<i16> {
    (start..start + n)
        .map(|i| {
            (amp * 32767.0 * (2.0 * std::f32::consts::PI * f * i as f32 / 8000.0).sin()) as i16
        })
        .collect()
}
