//! RTCP in the per-call core, in virtual time: reports go out at about the interval (to the
//! RTP port with rtcp-mux, through the RTCP socket otherwise), the far end's reports give
//! the round trip and what it receives of us, and garbage changes nothing.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use hotline_media::call::{CallConfig, CallMedia, LegParams, MediaEvent, RtcpMode, Transmit};
use hotline_media::g711::Codec;
use hotline_media::rtcp::{self, Report, ReportBlock};
use hotline_media::rtp::{RtpHeader, write_packet};

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn pkt(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let h = RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: seq,
        timestamp: ts,
        ssrc,
    };
    let mut buf = vec![0u8; 12 + 160];
    let n = write_packet(&h, &[0xff; 160], &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// What the core sent, RTP and RTCP socket apart.
#[derive(Default)]
struct Wire {
    rtp: Vec<(SocketAddr, Vec<u8>)>,
    rtcp_port: Vec<(SocketAddr, Vec<u8>)>,
}

impl Transmit for Wire {
    fn send(&mut self, _leg: usize, to: SocketAddr, data: &[u8]) {
        self.rtp.push((to, data.to_vec()));
    }
    fn send_rtcp(&mut self, _leg: usize, to: SocketAddr, data: &[u8]) {
        self.rtcp_port.push((to, data.to_vec()));
    }
}

impl Wire {
    fn rtcp_on_rtp_port(&self) -> Vec<Report> {
        self.rtp
            .iter()
            .filter(|(_, d)| rtcp::looks_like_rtcp(d))
            .flat_map(|(_, d)| rtcp::parse(d).unwrap())
            .collect()
    }
}

/// Runs packets `from..to` of a far end that sends one every 20 ms (dropping every 5th when
/// `lossy`), ticking the core at each.
fn run(
    call: &mut CallMedia,
    leg: usize,
    t0: Instant,
    from: u32,
    to: u32,
    lossy: bool,
    w: &mut Wire,
) {
    for i in from..to {
        let at = t0 + Duration::from_millis(20 * u64::from(i));
        if !(lossy && i % 5 == 4) {
            call.handle_datagram(leg, addr(5000), &pkt(i as u16, 160 * i, 77), at, w);
        }
        call.tick(at, w);
    }
}

#[test]
fn muxed_reports_give_rtt_and_the_far_ends_view() {
    let t0 = Instant::now();
    let cfg = CallConfig {
        quality_interval: Some(Duration::from_secs(5)),
        ..CallConfig::default()
    };
    let mut call = CallMedia::new(cfg, t0, 3);
    call.set_ntp_epoch(0xe000_0000_0000_0000);
    let mut p = LegParams::new(Some(addr(5000)), Codec::Pcmu);
    p.rtcp = RtcpMode::Mux;
    let leg = call.add_leg(p, t0);
    let mut w = Wire::default();
    // 12 s of a stream losing every 5th packet.
    run(&mut call, leg, t0, 0, 600, true, &mut w);
    let reports = w.rtcp_on_rtp_port();
    // First after 2.5 s, then every 2.5–7.5 s: between 2 and 4 in 12 s.
    assert!((2..=4).contains(&reports.len()), "{reports:?}");
    assert!(w.rtcp_port.is_empty(), "muxed: nothing on the RTCP port");
    let last = reports.last().unwrap();
    let sr = last.sender.expect("we send audio: a sender report");
    let b = last.blocks[0];
    assert_eq!(b.ssrc, 77);
    // About 20 % lost in the interval (1/256 steps).
    let frac = f64::from(b.fraction_lost) / 256.0;
    assert!((0.15..0.25).contains(&frac), "{frac}");
    assert!(b.cumulative_lost > 80, "{b:?}");
    assert_eq!(b.lsr, 0, "no SR from the far end yet");

    // The far end answers our latest SR with an RR that says it held it 0.5 s (DLSR); the RR
    // arrives 540 ms after the SR went out, so the round trip is 40 ms.
    let our_ssrc = last.ssrc;
    let lsr = rtcp::ntp_middle(sr.ntp);
    // The SR went out at one of the ticks: find its time from its NTP stamp.
    let sent_micros = ((sr.ntp - 0xe000_0000_0000_0000) >> 32) * 1_000_000
        + (((sr.ntp & 0xffff_ffff) * 1_000_000) >> 32);
    let arrives = t0 + Duration::from_micros(sent_micros) + Duration::from_millis(540);
    let rr = Report {
        ssrc: 77,
        sender: None,
        blocks: vec![ReportBlock {
            ssrc: our_ssrc,
            fraction_lost: 64,
            cumulative_lost: 5,
            highest_seq: 1,
            jitter: 240,
            lsr,
            dlsr: 65536 / 2,
        }],
    };
    let mut buf = [0u8; 200];
    let n = rtcp::write(&rr, "peer", &mut buf).unwrap();
    call.handle_datagram(leg, addr(5000), &buf[..n], arrives, &mut w);
    let q = call.quality(leg).unwrap();
    let rtt = q.rtt_ms.expect("a round trip");
    assert!((rtt - 40.0).abs() < 1.0, "{rtt}");
    assert_eq!(q.remote_loss, Some(0.25));
    assert_eq!(q.remote_jitter_ms, Some(30.0));
    // Not counted as bad RTP.
    assert_eq!(call.rejected(leg), Some((0, 0)));
    assert_eq!(call.rtcp_counts(leg), Some((1, 0)));

    // The loss stops: the next quality sample's recent figures recover, the whole-call
    // ones do not.
    let mut samples = Vec::new();
    run(&mut call, leg, t0, 600, 1100, false, &mut w);
    while let Some(e) = call.poll_event() {
        if let MediaEvent::Quality { report, .. } = e {
            samples.push(report);
        }
    }
    let first = samples.first().unwrap();
    assert!(first.recent_mos < 3.5, "{first:?}");
    let latest = samples.last().unwrap();
    assert!(
        latest.recent_loss < 0.01 && latest.recent_mos > 4.0,
        "{latest:?}"
    );
    assert!(latest.loss_fraction > 0.08, "{latest:?}");
    assert_eq!(latest.rtt_ms, Some(rtt));
}

#[test]
fn separate_port_reports_and_the_far_ends_sr_comes_back_in_lsr() {
    let t0 = Instant::now();
    let mut call = CallMedia::new(CallConfig::default(), t0, 4);
    call.set_ntp_epoch(1 << 40);
    let mut p = LegParams::new(Some(addr(5000)), Codec::Pcmu);
    p.rtcp = RtcpMode::Port(None);
    let leg = call.add_leg(p, t0);
    let mut w = Wire::default();
    run(&mut call, leg, t0, 0, 100, false, &mut w);
    // The far end's SR arrives on the RTCP socket at 2 s.
    let sr = Report {
        ssrc: 77,
        sender: Some(rtcp::SenderInfo {
            ntp: 0x0000_1234_5678_0000,
            rtp_ts: 1,
            packets: 100,
            octets: 16000,
        }),
        blocks: vec![],
    };
    let mut buf = [0u8; 200];
    let n = rtcp::write(&sr, "peer", &mut buf).unwrap();
    call.handle_rtcp(leg, addr(5001), &buf[..n], t0 + Duration::from_secs(2));
    run(&mut call, leg, t0, 100, 500, false, &mut w);
    assert!(w.rtcp_on_rtp_port().is_empty(), "not muxed");
    let ours: Vec<Report> = w
        .rtcp_port
        .iter()
        .inspect(|(to, _)| assert_eq!(*to, addr(5001), "RTP port + 1 (then the latched source)"))
        .flat_map(|(_, d)| rtcp::parse(d).unwrap())
        .collect();
    assert!(!ours.is_empty());
    let b = ours.last().unwrap().blocks[0];
    assert_eq!(b.lsr, 0x1234_5678);
    // Held from 2 s to the report's tick: DLSR says so (1/65536 s).
    assert!(b.dlsr > 0 && b.dlsr < 9 * 65536, "{b:?}");
}

#[test]
fn garbage_rtcp_changes_nothing() {
    let t0 = Instant::now();
    let mut call = CallMedia::new(CallConfig::default(), t0, 5);
    let mut p = LegParams::new(Some(addr(5000)), Codec::Pcmu);
    p.rtcp = RtcpMode::Port(None);
    let leg = call.add_leg(p, t0);
    let mut w = Wire::default();
    run(&mut call, leg, t0, 0, 50, false, &mut w);
    let mut noise = Noise(5);
    let mut bad = 0;
    for i in 0..5000u32 {
        let len = (i % 97) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| noise.next(1.0) as u8).collect();
        if let (true, Some(b)) = (i % 2 == 0, d.get_mut(1)) {
            *b = 200 + (i % 5) as u8;
            d[0] = 0x80 | (d[0] & 0x1f);
        }
        call.handle_rtcp(leg, addr(5001), &d, t0 + Duration::from_secs(1));
        // And, when it looks like RTCP, on the RTP port as if muxed (other random bytes
        // there may well be RTP).
        if rtcp::looks_like_rtcp(&d) {
            call.handle_datagram(leg, addr(5000), &d, t0 + Duration::from_secs(1), &mut w);
        }
        bad += 1;
    }
    let q = call.quality(leg).unwrap();
    assert_eq!(q.rtt_ms, None);
    assert_eq!(q.packets_received, 50, "no garbage counted as media");
    let (taken, refused) = call.rtcp_counts(leg).unwrap();
    assert!(
        refused > 0 && taken + refused <= 2 * bad,
        "{taken} {refused}"
    );
    // The call goes on.
    run(&mut call, leg, t0, 50, 100, false, &mut w);
    assert_eq!(call.quality(leg).unwrap().packets_received, 100);
}

#[test]
fn an_srtp_leg_sends_no_rtcp() {
    let t0 = Instant::now();
    let mut call = CallMedia::new(CallConfig::default(), t0, 6);
    let mut p = LegParams::new(Some(addr(5000)), Codec::Pcmu);
    p.rtcp = RtcpMode::Mux;
    p.srtp = Some(hotline_media::srtp::SrtpKeys {
        local: hotline_media::srtp::MasterKey::random().unwrap(),
        remote: None,
    });
    let leg = call.add_leg(p, t0);
    let mut w = Wire::default();
    run(&mut call, leg, t0, 0, 500, false, &mut w);
    assert!(w.rtcp_on_rtp_port().is_empty() && w.rtcp_port.is_empty());
}
