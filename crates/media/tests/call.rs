//! The per-call core without sockets: latching, inactivity, barge-in, DTMF
//! out and through the bridge, the conference mix and quality figures.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use hotline_media::call::{CallConfig, CallMedia, DtmfSource, LegParams, MediaEvent};
use hotline_media::dtmf::{Digit, Rfc4733Receiver, TelephoneEvent};
use hotline_media::g711::Codec;
use hotline_media::mixer::MixMatrix;
use hotline_media::player::Prompt;
use hotline_media::rtp::{RtpHeader, RtpPacket, write_packet};

fn pkt(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let h = RtpHeader {
        marker: false,
        payload_type: pt,
        sequence: seq,
        timestamp: ts,
        ssrc,
    };
    let mut buf = vec![0u8; 12 + payload.len()];
    let n = write_packet(&h, payload, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn events(call: &mut CallMedia) -> Vec<MediaEvent> {
    std::iter::from_fn(|| call.poll_event()).collect()
}

#[test]
fn symmetric_rtp_latches_on_the_real_source_port() {
    let t0 = Instant::now();
    let mut call = CallMedia::new(CallConfig::default(), t0, 1);
    // SDP said port 5000, but the phone (behind NAT) sends from 6000.
    let leg = call.add_leg(LegParams::new(Some(addr(5000)), Codec::Pcmu), t0);
    let mut out = Captured::default();
    call.tick(t0 + Duration::from_millis(20), &mut out);
    assert_eq!(
        out.sent.last().unwrap().1,
        addr(5000),
        "before latching: SDP address"
    );
    call.handle_datagram(
        leg,
        addr(6000),
        &pkt(0, 1, 0, 9, &[0xff; 160]),
        t0,
        &mut out,
    );
    out.sent.clear();
    call.tick(t0 + Duration::from_millis(40), &mut out);
    assert_eq!(
        out.sent.last().unwrap().1,
        addr(6000),
        "after latching: real source"
    );
    // Another host cannot hijack the stream.
    let other = SocketAddr::from(([10, 9, 9, 9], 6000));
    call.handle_datagram(leg, other, &pkt(0, 2, 160, 9, &[0xff; 160]), t0, &mut out);
    call.handle_datagram(
        leg,
        addr(7000),
        &pkt(0, 2, 160, 9, &[0xff; 160]),
        t0,
        &mut out,
    );
    assert_eq!(call.rejected(leg), Some((0, 2)));
    // Garbage is counted, not fatal.
    call.handle_datagram(leg, addr(6000), b"not rtp", t0, &mut out);
    assert_eq!(call.rejected(leg), Some((1, 2)));
}

#[test]
fn inactivity_raises_an_event_and_recovers() {
    let t0 = Instant::now();
    let cfg = CallConfig {
        inactivity_timeout: Duration::from_millis(500),
        ..CallConfig::default()
    };
    let mut call = CallMedia::new(cfg, t0, 2);
    let leg = call.add_leg(LegParams::new(Some(addr(5000)), Codec::Pcmu), t0);
    let mut out = Captured::default();
    for i in 0..10u16 {
        let t = t0 + Duration::from_millis(20 * u64::from(i));
        call.handle_datagram(
            leg,
            addr(5000),
            &pkt(0, i, 160 * u32::from(i), 3, &[0xff; 160]),
            t,
            &mut out,
        );
        call.tick(t, &mut out);
    }
    assert!(events(&mut call).is_empty());
    call.tick(t0 + Duration::from_millis(600), &mut out);
    assert!(
        events(&mut call).is_empty(),
        "400 ms of silence is not yet dead"
    );
    call.tick(t0 + Duration::from_millis(700), &mut out);
    assert_eq!(events(&mut call), vec![MediaEvent::Inactive { leg }]);
    call.tick(t0 + Duration::from_millis(2000), &mut out);
    assert!(events(&mut call).is_empty(), "raised once");
    let t = t0 + Duration::from_millis(2010);
    call.handle_datagram(
        leg,
        addr(5000),
        &pkt(0, 10, 1600, 3, &[0xff; 160]),
        t,
        &mut out,
    );
    assert_eq!(events(&mut call), vec![MediaEvent::Active { leg }]);
}

#[test]
fn a_key_press_stops_a_barge_in_prompt() {
    let t0 = Instant::now();
    let mut call = CallMedia::new(CallConfig::default(), t0, 3);
    let leg = call.add_leg(LegParams::new(Some(addr(5000)), Codec::Pcmu), t0);
    let mut out = Captured::default();
    call.play(
        leg,
        vec![Prompt::from_samples("long", sine(440.0, 0.3, 80000, 0))],
        false,
        true,
    );
    let mut r = hotline_media::dtmf::Rfc4733Sender::new(Digit::from_char('9').unwrap(), 60, 10);
    let mut seq = 1;
    let mut t = t0;
    while let Some(p) = r.next_packet() {
        t += Duration::from_millis(20);
        call.handle_datagram(
            leg,
            addr(5000),
            &pkt(101, seq, 8000, 4, &p.payload),
            t,
            &mut out,
        );
        call.tick(t, &mut out);
        seq += 1;
    }
    let ev = events(&mut call);
    assert_eq!(
        ev,
        vec![
            MediaEvent::Dtmf {
                leg,
                digit: Digit::from_char('9').unwrap(),
                source: DtmfSource::Rfc4733
            },
            MediaEvent::PlaybackFinished {
                leg,
                interrupted: true
            },
        ]
    );
    // After barge-in the leg is sent silence.
    out.sent.clear();
    call.tick(t + Duration::from_millis(20), &mut out);
    let last = RtpPacket::parse(&out.sent.last().unwrap().2).unwrap();
    assert!(last.payload.iter().all(|b| *b == 0xff));
}

#[test]
fn dtmf_sent_on_the_continuous_stream_with_three_end_packets() {
    let t0 = Instant::now();
    let mut call = CallMedia::new(CallConfig::default(), t0, 4);
    let leg = call.add_leg(LegParams::new(Some(addr(5000)), Codec::Pcma), t0);
    let mut out = Captured::default();
    let mut t = t0;
    for _ in 0..5 {
        t += Duration::from_millis(20);
        call.tick(t, &mut out);
    }
    call.send_dtmf(leg, Digit::from_char('#').unwrap(), 100, t);
    for _ in 0..15 {
        t += Duration::from_millis(20);
        call.tick(t, &mut out);
    }
    let pkts: Vec<RtpPacket<'_>> = out
        .sent
        .iter()
        .map(|s| RtpPacket::parse(&s.2).unwrap())
        .collect();
    for w in pkts.windows(2) {
        assert_eq!(w[1].header.sequence, w[0].header.sequence.wrapping_add(1));
        assert_eq!(w[1].header.ssrc, w[0].header.ssrc);
    }
    let ev: Vec<_> = pkts
        .iter()
        .filter(|p| p.header.payload_type == 101)
        .collect();
    assert_eq!(
        ev.len(),
        5 + 2,
        "100 ms in 20 ms steps plus two more end packets"
    );
    assert!(ev[0].header.marker);
    assert!(
        ev.iter()
            .all(|p| p.header.timestamp == ev[0].header.timestamp)
    );
    let ends = ev
        .iter()
        .filter(|p| TelephoneEvent::parse(p.payload).unwrap().end)
        .count();
    assert_eq!(ends, 3);
    let mut r = Rfc4733Receiver::new();
    let got: Vec<char> = ev
        .iter()
        .filter_map(|p| r.on_packet(p))
        .map(|d| d.digit.as_char())
        .collect();
    assert_eq!(got, vec!['#']);
    // Audio after the event resumes later in time than the event began.
    let after = pkts
        .iter()
        .rev()
        .find(|p| p.header.payload_type == 8)
        .unwrap();
    assert!(after.header.timestamp.wrapping_sub(ev[0].header.timestamp) as i32 >= 800);
}

#[test]
fn telephone_events_pass_through_the_bridge_restamped() {
    let t0 = Instant::now();
    let mut call = CallMedia::new(CallConfig::default(), t0, 5);
    let a = call.add_leg(LegParams::new(Some(addr(5000)), Codec::Pcmu), t0);
    let mut pb = LegParams::new(Some(addr(5002)), Codec::Pcmu);
    pb.telephone_event_pt = Some(96);
    let b = call.add_leg(pb, t0);
    call.bridge(a, b);
    let mut out = Captured::default();
    let mut t = t0;
    for i in 0..5u16 {
        t += Duration::from_millis(20);
        call.handle_datagram(
            a,
            addr(5000),
            &pkt(0, 100 + i, 1000 + 160 * u32::from(i), 7, &[0x11; 160]),
            t,
            &mut out,
        );
    }
    let mut s = hotline_media::dtmf::Rfc4733Sender::new(Digit::from_char('4').unwrap(), 60, 10);
    let mut seq = 105;
    while let Some(p) = s.next_packet() {
        t += Duration::from_millis(20);
        call.handle_datagram(
            a,
            addr(5000),
            &pkt(101, seq, 1800, 7, &p.payload),
            t,
            &mut out,
        );
        seq += 1;
    }
    let to_b: Vec<RtpPacket<'_>> = out
        .sent
        .iter()
        .filter(|s| s.0 == b)
        .map(|s| RtpPacket::parse(&s.2).unwrap())
        .collect();
    assert_eq!(to_b.len(), 5 + 3 + 2);
    let ssrc = to_b[0].header.ssrc;
    assert_ne!(ssrc, 7, "re-stamped with hotline's SSRC");
    for w in to_b.windows(2) {
        assert_eq!(w[1].header.ssrc, ssrc);
        assert_eq!(w[1].header.sequence, w[0].header.sequence.wrapping_add(1));
    }
    let ev: Vec<_> = to_b
        .iter()
        .filter(|p| p.header.payload_type == 96)
        .collect();
    assert_eq!(ev.len(), 5, "carried on b's telephone-event payload type");
    // Same spacing as the source: the event sits 800 samples after the first audio packet.
    assert_eq!(
        ev[0]
            .header
            .timestamp
            .wrapping_sub(to_b[0].header.timestamp),
        800
    );
    let mut r = Rfc4733Receiver::new();
    let got: Vec<char> = ev
        .iter()
        .filter_map(|p| r.on_packet(p))
        .map(|d| d.digit.as_char())
        .collect();
    assert_eq!(got, vec!['4']);
    // And hotline reported the digit from a.
    assert!(
        events(&mut call)
            .iter()
            .any(|e| matches!(e, MediaEvent::Dtmf { leg, .. } if *leg == a))
    );
}

#[test]
fn conference_sends_each_party_the_others() {
    let t0 = Instant::now();
    let mut call = CallMedia::new(CallConfig::default(), t0, 6);
    let tones = [440.0f32, 1000.0, 1700.0];
    let legs: Vec<_> = (0..3)
        .map(|i| call.add_leg(LegParams::new(Some(addr(5000 + 2 * i)), Codec::Pcmu), t0))
        .collect();
    call.conference(legs.clone(), MixMatrix::conference(3));
    let mut out = Captured::default();
    let mut t = t0;
    for k in 0..50u16 {
        t += Duration::from_millis(20);
        for (i, &leg) in legs.iter().enumerate() {
            let pcm = sine(tones[i], 0.2, 160, 160 * usize::from(k));
            let mut payload = [0u8; 160];
            Codec::Pcmu.encode_slice(&pcm, &mut payload);
            call.handle_datagram(
                leg,
                addr(5000 + 2 * i as u16),
                &pkt(0, k, 160 * u32::from(k), i as u32, &payload),
                t,
                &mut out,
            );
        }
        call.tick(t, &mut out);
    }
    for (i, &leg) in legs.iter().enumerate() {
        let mut heard = Vec::new();
        for s in out.sent.iter().filter(|s| s.0 == leg).skip(10) {
            let p = RtpPacket::parse(&s.2).unwrap();
            let mut pcm = vec![0i16; p.payload.len()];
            Codec::Pcmu.decode_slice(p.payload, &mut pcm);
            heard.extend(pcm);
        }
        for (j, f) in tones.iter().enumerate() {
            let p = tone_power(&heard, *f);
            if i == j {
                assert!(p < 0.001, "party {i} hears itself: {p}");
            } else {
                assert!(p > 0.01, "party {i} does not hear {j}: {p}");
            }
        }
    }
}

#[test]
fn quality_figures_from_a_lossy_jittery_stream() {
    let t0 = Instant::now();
    let cfg = CallConfig {
        quality_interval: Some(Duration::from_secs(1)),
        ..CallConfig::default()
    };
    let mut call = CallMedia::new(cfg, t0, 7);
    let leg = call.add_leg(LegParams::new(Some(addr(5000)), Codec::Pcmu), t0);
    let mut out = Captured::default();
    let mut noise = Noise(99);
    for i in 0..500u16 {
        if i % 20 == 7 {
            continue; // 5 % loss
        }
        let jitter = i64::from(noise.next(1.0)) * 15_000 / 32767; // ±15 ms
        let at = t0 + Duration::from_micros((20_000 * i64::from(i) + 20_000 + jitter) as u64);
        call.handle_datagram(
            leg,
            addr(5000),
            &pkt(0, i, 160 * u32::from(i), 1, &[0xff; 160]),
            at,
            &mut out,
        );
        // A duplicate now and then.
        if i % 50 == 0 {
            call.handle_datagram(
                leg,
                addr(5000),
                &pkt(0, i, 160 * u32::from(i), 1, &[0xff; 160]),
                at,
                &mut out,
            );
        }
        call.tick(at, &mut out);
    }
    let q = call.quality(leg).unwrap();
    assert_eq!(q.packets_expected, 500);
    assert_eq!(q.packets_lost, 25);
    assert_eq!(q.duplicates, 10);
    assert!((q.loss_fraction - 0.05).abs() < 1e-9);
    assert!(
        q.jitter_ms > 3.0 && q.jitter_ms < 15.0,
        "jitter {}",
        q.jitter_ms
    );
    assert!(q.mos > 2.5 && q.mos < 4.0, "mos {}", q.mos);
    assert!(
        events(&mut call)
            .iter()
            .any(|e| matches!(e, MediaEvent::Quality { .. }))
    );
    call.remove_leg(leg);
    assert!(matches!(
        events(&mut call).last(),
        Some(MediaEvent::LegClosed { .. })
    ));
}

#[test]
fn a_nated_phone_is_latched_at_its_nat_and_a_stray_packet_cannot_take_over() {
    let t0 = Instant::now();
    let mut call = CallMedia::new(CallConfig::default(), t0, 7);
    // The phone's SDP said 10.77.0.2:6000; the session expects it at its NAT's address
    // (where its signalling comes from) with that port.
    let nat: SocketAddr = "203.0.113.2:6000".parse().unwrap();
    let leg = call.add_leg(LegParams::new(Some(nat), Codec::Pcmu), t0);
    let mut out = Captured::default();
    // A packet from the private address itself (it cannot really come from there) is foreign.
    let private: SocketAddr = "10.77.0.2:6000".parse().unwrap();
    call.handle_datagram(leg, private, &pkt(0, 1, 0, 5, &[0xff; 160]), t0, &mut out);
    assert_eq!(call.rejected(leg), Some((0, 1)));
    // The NAT gave the phone's media another port: the first packet from the NAT latches.
    let mapped: SocketAddr = "203.0.113.2:1024".parse().unwrap();
    call.handle_datagram(leg, mapped, &pkt(0, 2, 160, 5, &[0xff; 160]), t0, &mut out);
    out.sent.clear();
    call.tick(t0 + Duration::from_millis(20), &mut out);
    assert_eq!(
        out.sent.last().unwrap().1,
        mapped,
        "sent where media comes from"
    );
    // Established: neither another port of the NAT nor another host takes the stream over.
    for stray in ["203.0.113.2:1026", "198.51.100.66:6000"] {
        let stray: SocketAddr = stray.parse().unwrap();
        call.handle_datagram(leg, stray, &pkt(0, 3, 320, 5, &[0xff; 160]), t0, &mut out);
    }
    assert_eq!(call.rejected(leg), Some((0, 3)));
    out.sent.clear();
    call.tick(t0 + Duration::from_millis(40), &mut out);
    assert_eq!(out.sent.last().unwrap().1, mapped);
}

#[test]
fn the_sdp_address_takes_the_latch_from_a_stray_packet_that_came_first_but_only_while_learning() {
    let t0 = Instant::now();
    let mut call = CallMedia::new(CallConfig::default(), t0, 3);
    let sdp = addr(5000);
    let leg = call.add_leg(LegParams::new(Some(sdp), Codec::Pcmu), t0);
    let mut out = Captured::default();
    // A late packet for the port's previous call, from the same host, comes first.
    let stray = addr(7000);
    call.handle_datagram(leg, stray, &pkt(0, 900, 0, 77, &[0xff; 160]), t0, &mut out);
    call.tick(t0 + Duration::from_millis(20), &mut out);
    assert_eq!(out.sent.last().unwrap().1, stray, "latched on the stray");
    // The phone the SDP named starts sending: it takes the latch, and the stray is refused.
    let t1 = t0 + Duration::from_millis(30);
    call.handle_datagram(leg, sdp, &pkt(0, 1, 0, 9, &[0xff; 160]), t1, &mut out);
    call.handle_datagram(
        leg,
        stray,
        &pkt(0, 901, 160, 77, &[0xff; 160]),
        t1,
        &mut out,
    );
    assert_eq!(call.rejected(leg), Some((0, 1)));
    out.sent.clear();
    call.tick(t0 + Duration::from_millis(40), &mut out);
    assert_eq!(
        out.sent.last().unwrap().1,
        sdp,
        "media goes where the SDP said"
    );

    // Once learnt, the latch holds, even against the SDP address.
    let mut call = CallMedia::new(CallConfig::default(), t0, 4);
    let leg = call.add_leg(LegParams::new(Some(sdp), Codec::Pcmu), t0);
    let nat_port = addr(6000);
    call.handle_datagram(leg, nat_port, &pkt(0, 1, 0, 9, &[0xff; 160]), t0, &mut out);
    let later = t0 + Duration::from_secs(4);
    call.handle_datagram(leg, sdp, &pkt(0, 2, 160, 9, &[0xff; 160]), later, &mut out);
    assert_eq!(call.rejected(leg), Some((0, 1)));
    out.sent.clear();
    call.tick(later + Duration::from_millis(20), &mut out);
    assert_eq!(out.sent.last().unwrap().1, nat_port);
}

#[test]
fn a_nated_phones_guessed_address_takes_no_latch_over() {
    let t0 = Instant::now();
    let mut call = CallMedia::new(CallConfig::default(), t0, 5);
    // The NAT's address with the port the phone declared: hotline's guess, not its word.
    let guess: SocketAddr = "203.0.113.2:6000".parse().unwrap();
    let mut p = LegParams::new(Some(guess), Codec::Pcmu);
    p.remote_is_declared = false;
    let leg = call.add_leg(p, t0);
    let mut out = Captured::default();
    let mapped: SocketAddr = "203.0.113.2:1024".parse().unwrap();
    call.handle_datagram(leg, mapped, &pkt(0, 1, 0, 5, &[0xff; 160]), t0, &mut out);
    // Within the first seconds, a packet from the guessed address (another phone behind the
    // same NAT, or a forger) is refused.
    let soon = t0 + Duration::from_millis(100);
    call.handle_datagram(leg, guess, &pkt(0, 9, 0, 77, &[0xff; 160]), soon, &mut out);
    assert_eq!(call.rejected(leg), Some((0, 1)));
    out.sent.clear();
    call.tick(soon + Duration::from_millis(20), &mut out);
    assert_eq!(out.sent.last().unwrap().1, mapped);
}
