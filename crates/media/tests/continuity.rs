//! Real UDP on loopback: the stream hotline sends a caller stays one RTP
//! stream (one SSRC, consecutive sequence numbers, wall-time timestamps)
//! across prompt -> hold music -> bridge, even when the agent's phone changes
//! SSRC, and relayed audio is transcoded PCMU -> PCMA.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::sine;
use hotline_media::call::{LegParams, MediaEvent};
use hotline_media::engine::{EngineConfig, MediaEngine};
use hotline_media::g711::{Codec, transcode_in_place};
use hotline_media::player::Prompt;
use hotline_media::rtp::{RtpHeader, RtpPacket, write_packet};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

#[derive(Debug, Clone)]
struct Rx {
    at: Instant,
    h: RtpHeader,
    payload: Vec<u8>,
}

fn engine() -> MediaEngine {
    MediaEngine::new(EngineConfig {
        port_min: 31000,
        port_max: 31998,
        ..EngineConfig::default()
    })
}

fn agent_payload(i: u16) -> Vec<u8> {
    let mut p = vec![0x3c; 160];
    p[0..2].copy_from_slice(&i.to_be_bytes());
    p
}

async fn recv(rx: &mut mpsc::UnboundedReceiver<Rx>) -> Rx {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("hotline keeps sending")
        .expect("receiver alive")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_stream_is_continuous_across_prompt_hold_and_bridge() {
    let eng = engine();
    let caller_phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let agent_phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let caller_addr: SocketAddr = caller_phone.local_addr().unwrap();
    let agent_addr: SocketAddr = agent_phone.local_addr().unwrap();

    // Everything hotline sends to the caller's phone.
    let (rx_tx, mut rx) = mpsc::unbounded_channel::<Rx>();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, _)) = caller_phone.recv_from(&mut buf).await {
            let p = RtpPacket::parse(&buf[..n]).expect("hotline sends valid RTP");
            let r = Rx {
                at: Instant::now(),
                h: p.header,
                payload: p.payload.to_vec(),
            };
            if rx_tx.send(r).is_err() {
                break;
            }
        }
    });

    let (call, mut events) = eng.spawn_call();
    let caller_sock = eng.bind_leg().await.unwrap();
    assert_eq!(caller_sock.local_addr().port() % 2, 0, "RTP ports are even");
    let caller = call
        .add_leg(caller_sock, LegParams::new(Some(caller_addr), Codec::Pcma))
        .await
        .unwrap();

    // Phase 1: a 300 ms prompt.
    let prompt = Prompt::from_samples("p", sine(440.0, 0.3, 2400, 0));
    call.play(caller, vec![prompt], false, false).unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Some(MediaEvent::PlaybackFinished { leg, interrupted })) => {
                assert_eq!(leg, caller);
                assert!(!interrupted);
                break;
            }
            Ok(Some(_)) => {}
            other => panic!("no PlaybackFinished: {other:?}"),
        }
    }
    // Phase 2: hold music, looped (a 100 ms clip, so it loops several times).
    let music = Prompt::from_samples("m", sine(600.0, 0.2, 800, 0));
    call.play(caller, vec![music], true, false).unwrap();
    let mut got: Vec<Rx> = Vec::new();
    // Drain the prompt phase and the start of the music.
    for _ in 0..45 {
        got.push(recv(&mut rx).await);
    }
    // Music is not silence.
    assert!(
        got[got.len() - 10..]
            .iter()
            .any(|r| r.payload.iter().any(|b| *b != Codec::Pcma.silence()))
    );

    // Phase 3: the agent answers (PCMU) and is bridged.
    let agent_sock = eng.bind_leg().await.unwrap();
    let dest = agent_sock.local_addr();
    let agent = call
        .add_leg(agent_sock, LegParams::new(Some(agent_addr), Codec::Pcmu))
        .await
        .unwrap();
    call.bridge(caller, agent).unwrap();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut buf = [0u8; 200];
    for i in 0..120u16 {
        tick.tick().await;
        // First 60 packets on one SSRC, then the phone restarts with another.
        let (ssrc, seq, ts) = if i < 60 {
            (
                0xa1,
                65500u16.wrapping_add(i),
                1_000_000 + 160 * u32::from(i),
            )
        } else {
            (0xb2, 7u16 + i, 9_000 + 160 * u32::from(i))
        };
        let h = RtpHeader {
            marker: i == 0 || i == 60,
            payload_type: 0,
            sequence: seq,
            timestamp: ts,
            ssrc,
        };
        let n = write_packet(&h, &agent_payload(i), &mut buf).unwrap();
        agent_phone.send_to(&buf[..n], dest).await.unwrap();
    }
    // Collect until every relayed packet has arrived at the caller.
    let mut relayed = Vec::new();
    while relayed.len() < 120 {
        let r = recv(&mut rx).await;
        let mut want_tail = vec![0x3c; 158];
        transcode_in_place(Codec::Pcmu, Codec::Pcma, &mut want_tail);
        if r.payload.len() == 160 && r.payload[2..] == want_tail[..] {
            relayed.push(r.clone());
        }
        got.push(r);
    }
    call.close().unwrap();

    // One SSRC, consecutive sequence numbers, timestamps on wall time.
    let ssrc = got[0].h.ssrc;
    assert!(got.iter().all(|r| r.h.ssrc == ssrc), "SSRC changed");
    for w in got.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        assert_eq!(
            b.h.sequence,
            a.h.sequence.wrapping_add(1),
            "sequence gap/reorder at {a:?} -> {b:?}"
        );
        let dts = b.h.timestamp.wrapping_sub(a.h.timestamp);
        assert!(
            dts > 0 && dts % 160 == 0 && dts <= 160 * 10,
            "timestamp step {dts}"
        );
        // Timestamps track wall time within 60 ms at each step.
        let wall = b.at.duration_since(a.at).as_secs_f64() * 8000.0;
        assert!(
            (f64::from(dts) - wall).abs() < 480.0,
            "ts step {dts} vs wall {wall}"
        );
    }
    let total_ts = got
        .last()
        .unwrap()
        .h
        .timestamp
        .wrapping_sub(got[0].h.timestamp);
    let total_wall = got
        .last()
        .unwrap()
        .at
        .duration_since(got[0].at)
        .as_secs_f64()
        * 8000.0;
    assert!(
        (f64::from(total_ts) - total_wall).abs() < 800.0,
        "ts drifted: {total_ts} vs {total_wall}"
    );
    // Every agent packet relayed once, in order, transcoded to A-law.
    for (i, r) in relayed.iter().enumerate() {
        let mut want = agent_payload(i as u16);
        transcode_in_place(Codec::Pcmu, Codec::Pcma, &mut want);
        assert_eq!(r.payload, want, "relayed payload {i}");
        assert_eq!(r.h.payload_type, 8);
    }
}

#[tokio::test]
async fn ports_are_even_and_from_the_range() {
    let eng = MediaEngine::new(EngineConfig {
        port_min: 34001,
        port_max: 34004,
        ..EngineConfig::default()
    });
    let a = eng.bind_leg().await.unwrap();
    let b = eng.bind_leg().await.unwrap();
    let mut ports = [a.local_addr().port(), b.local_addr().port()];
    ports.sort();
    assert_eq!(ports, [34002, 34004]);
    let e = eng.bind_leg().await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    drop(a);
    assert_eq!(eng.bind_leg().await.unwrap().local_addr().port() % 2, 0);
}
