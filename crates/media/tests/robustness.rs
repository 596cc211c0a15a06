//! Random input must never panic: RTP parsing, telephone-events, a whole call
//! leg, the playout buffer, the in-band detector and WAV repair.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::Captured;
use hotline_media::call::{CallConfig, CallMedia, LegParams};
use hotline_media::dtmf::{Rfc4733Receiver, TelephoneEvent};
use hotline_media::g711::Codec;
use hotline_media::inband::InbandDetector;
use hotline_media::playout::{FRAME, Playout};
use hotline_media::recorder::repair;
use hotline_media::rtp::{RtpHeader, RtpPacket, write_packet};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn rtp_parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(p) = RtpPacket::parse(&data) {
            prop_assert!(p.payload.len() <= data.len() - 12);
        }
    }

    #[test]
    fn rtp_header_roundtrips(m in any::<bool>(), pt in 0u8..72, seq in any::<u16>(),
                             ts in any::<u32>(), ssrc in any::<u32>(),
                             payload in proptest::collection::vec(any::<u8>(), 0..200)) {
        let h = RtpHeader { marker: m, payload_type: pt, sequence: seq, timestamp: ts, ssrc };
        let mut buf = [0u8; 256];
        let n = write_packet(&h, &payload, &mut buf).unwrap();
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        prop_assert_eq!(p.header, h);
        prop_assert_eq!(p.payload, &payload[..]);
    }

    #[test]
    fn dtmf_decoder_never_panics(pkts in proptest::collection::vec(
        (any::<u32>(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..8)), 0..60)) {
        let mut r = Rfc4733Receiver::new();
        for (ts, ssrc, payload) in &pkts {
            let p = RtpPacket {
                header: RtpHeader { marker: false, payload_type: 101, sequence: 0, timestamp: *ts % 4096, ssrc: *ssrc % 3 },
                payload,
            };
            let _ = r.on_packet(&p);
            let _ = TelephoneEvent::parse(payload);
        }
        let _ = r.flush_stale();
    }

    #[test]
    fn call_leg_never_panics(dgrams in proptest::collection::vec(
        (proptest::collection::vec(any::<u8>(), 0..400), any::<bool>(), 0u8..4, any::<u16>()), 0..80)) {
        let t0 = Instant::now();
        let peer: SocketAddr = "127.0.0.1:40100".parse().unwrap();
        let other: SocketAddr = "127.0.0.1:40102".parse().unwrap();
        let mut call = CallMedia::new(CallConfig::default(), t0, 5);
        let mut p = LegParams::new(Some(peer), Codec::Pcmu);
        p.inband_dtmf = true;
        p.analyse = true;
        let a = call.add_leg(p, t0);
        let b = call.add_leg(LegParams::new(Some(other), Codec::Pcma), t0);
        call.bridge(a, b);
        let mut out = Captured::default();
        let mut t = t0;
        for (i, (mut d, valid, pt, seq)) in dgrams.into_iter().enumerate() {
            if valid && d.len() >= 12 {
                // Mostly-valid headers reach deeper into the code.
                d[0] = 0x80;
                d[1] = [0, 8, 101, 13][usize::from(pt)];
                d[2..4].copy_from_slice(&seq.to_be_bytes());
            }
            t += Duration::from_millis(7 * (i as u64 % 5));
            call.handle_datagram(if i % 3 == 0 { b } else { a }, peer, &d, t, &mut out);
            call.tick(t, &mut out);
        }
        while call.poll_event().is_some() {}
    }

    #[test]
    fn playout_never_panics(pushes in proptest::collection::vec((any::<u32>(), 0usize..1500), 0..50)) {
        let mut p = Playout::new(3);
        let mut f = [0i16; FRAME];
        for (ts, len) in pushes {
            p.push(ts, &vec![1i16; len]);
            p.pull(&mut f);
        }
    }

    #[test]
    fn inband_never_panics(samples in proptest::collection::vec(any::<i16>(), 0..3000)) {
        let mut d = InbandDetector::default();
        d.feed(&samples, |_| {});
    }

    #[test]
    fn repair_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), riff in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        let mut bytes = data;
        if riff && bytes.len() >= 12 {
            bytes[0..4].copy_from_slice(b"RIFF");
            bytes[8..12].copy_from_slice(b"WAVE");
        }
        std::fs::write(&path, &bytes).unwrap();
        let _ = repair(&path);
    }
}
