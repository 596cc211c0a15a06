//! Bridge under a loopback load: many calls, RTP both ways at 50 packets/s;
//! every packet reaches the other phone once and in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hotline_media::call::LegParams;
use hotline_media::engine::{EngineConfig, MediaEngine};
use hotline_media::g711::Codec;
use hotline_media::rtp::{RtpHeader, RtpPacket, write_packet};
use tokio::net::UdpSocket;

const CALLS: usize = 40;
const PACKETS: u16 = 100;

fn payload(call: usize, side: u8, i: u16) -> [u8; 160] {
    let mut p = [0x2au8; 160];
    p[0..2].copy_from_slice(&i.to_be_bytes());
    p[2] = side;
    p[3..5].copy_from_slice(&(call as u16).to_be_bytes());
    p
}

/// Sends PACKETS packets to `dest`, 20 ms apart, and returns the payload
/// indices received (in arrival order) of packets relayed from the other side.
async fn phone(sock: Arc<UdpSocket>, dest: SocketAddr, call: usize, side: u8) -> Vec<(u16, u16)> {
    let s2 = sock.clone();
    let sender = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut buf = [0u8; 200];
        for i in 0..PACKETS {
            tick.tick().await;
            let h = RtpHeader {
                marker: i == 0,
                payload_type: 0,
                sequence: 30000u16
                    .wrapping_add(i)
                    .wrapping_add(1000 * u16::from(side)),
                timestamp: 160 * u32::from(i),
                ssrc: 0x1000 + call as u32 * 2 + u32::from(side),
            };
            let n = write_packet(&h, &payload(call, side, i), &mut buf).unwrap();
            s2.send_to(&buf[..n], dest).await.unwrap();
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 1500];
    while got.len() < usize::from(PACKETS) {
        let (n, _) = tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf))
            .await
            .expect("packets keep arriving")
            .unwrap();
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        if p.payload.len() == 160 && p.payload[2] == 1 - side && p.payload[5..] == [0x2a; 155] {
            let idx = u16::from_be_bytes([p.payload[0], p.payload[1]]);
            assert_eq!(
                usize::from(u16::from_be_bytes([p.payload[3], p.payload[4]])),
                call
            );
            got.push((idx, p.header.sequence));
        }
    }
    sender.await.unwrap();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_packet_lost_or_reordered_under_load() {
    // Below the kernel's ephemeral ports (32768–60999), where the phones' sockets are, so
    // that no phone's port + 1 (where a leg sends its RTCP) is one of the engine's ports.
    let eng = MediaEngine::new(EngineConfig {
        port_min: 20000,
        port_max: 21998,
        ..EngineConfig::default()
    });
    let mut phones = Vec::new();
    let mut calls = Vec::new();
    for c in 0..CALLS {
        let pa = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let pb = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let la = eng.bind_leg().await.unwrap();
        let lb = eng.bind_leg().await.unwrap();
        let (da, db) = (la.local_addr(), lb.local_addr());
        let (call, events) = eng.spawn_call();
        let a = call
            .add_leg(
                la,
                LegParams::new(Some(pa.local_addr().unwrap()), Codec::Pcmu),
            )
            .await
            .unwrap();
        let b = call
            .add_leg(
                lb,
                LegParams::new(Some(pb.local_addr().unwrap()), Codec::Pcmu),
            )
            .await
            .unwrap();
        call.bridge(a, b).unwrap();
        calls.push((call, events));
        phones.push(tokio::spawn(phone(pa, da, c, 0)));
        phones.push(tokio::spawn(phone(pb, db, c, 1)));
    }
    for (k, p) in phones.into_iter().enumerate() {
        let got = p.await.unwrap();
        let idx: Vec<u16> = got.iter().map(|g| g.0).collect();
        let want: Vec<u16> = (0..PACKETS).collect();
        assert_eq!(idx, want, "phone {k}: lost or reordered");
        for w in got.windows(2) {
            assert_eq!(w[1].1, w[0].1.wrapping_add(1), "phone {k}: sequence gap");
        }
    }
    for (call, _) in &calls {
        call.close().unwrap();
    }
}
