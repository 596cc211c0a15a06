//! A browser's leg through the engine: a WebRTC peer (a second `str0m`, full ICE, as a
//! browser is) answers hotline's offer, connects over loopback with DTLS-SRTP, and is
//! bridged to a plain RTP phone. Each side's tone reaches the other; the engine reports the
//! connection; the leg can be removed while the peer still sends.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{sine, tone_power};
use hotline_media::call::{LegParams, MediaEvent};
use hotline_media::engine::{EngineConfig, MediaEngine};
use hotline_media::g711::Codec;
use hotline_media::rtp::{RtpHeader, RtpPacket, write_packet};
use hotline_media::{BrowserLeg, BrowserState};
use str0m::change::SdpOffer;
use str0m::media::{Frequency, MediaTime, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

fn ulaw_frame(samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| Codec::Pcmu.encode(s)).collect()
}

fn decode(payload: &[u8]) -> Vec<i16> {
    payload.iter().map(|&b| Codec::Pcmu.decode(b)).collect()
}

/// What the browser peer heard (µ-law payloads), and whether it connected.
#[derive(Default)]
struct Heard {
    frames: Vec<Vec<u8>>,
    connected: bool,
}

/// A browser: answers `offer`, then runs on its own thread, sending a 700 Hz tone every
/// 20 ms once connected, until `stop`.
fn browser(offer: &str, stop: Arc<AtomicBool>, heard: Arc<Mutex<Heard>>) -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let local = sock.local_addr().unwrap();
    let mut rtc = Rtc::builder()
        .clear_codecs()
        .enable_pcmu(true, false)
        .enable_opus(true, false)
        .build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
    let offer = SdpOffer::from_sdp_string(offer).unwrap();
    let answer = rtc.sdp_api().accept_offer(offer).unwrap();
    let sdp = answer.to_sdp_string();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 2000];
        let mut n = 0usize;
        let mut next_frame = Instant::now();
        let mut mid = None;
        while !stop.load(Ordering::Relaxed) {
            // Outputs first, until str0m wants a timeout.
            let wake = loop {
                match rtc.poll_output() {
                    Ok(Output::Timeout(t)) => break t,
                    Ok(Output::Transmit(t)) => {
                        let _ = sock.send_to(&t.contents, t.destination);
                    }
                    Ok(Output::Event(e)) => match e {
                        Event::Connected => heard.lock().unwrap().connected = true,
                        Event::MediaAdded(m) => mid = Some(m.mid),
                        Event::MediaData(d) => heard.lock().unwrap().frames.push(d.data.to_vec()),
                        _ => {}
                    },
                    Err(e) => panic!("browser peer: {e}"),
                }
            };
            let now = Instant::now();
            if now >= next_frame {
                next_frame += Duration::from_millis(20);
                if let Some(m) = mid
                    && let Some(w) = rtc.writer(m)
                {
                    let pcm = sine(700.0, 0.3, 160, n * 160);
                    let time = MediaTime::new((n * 160) as u64, Frequency::EIGHT_KHZ);
                    let _ = w.write(Pt::new_with_value(0), now, time, ulaw_frame(&pcm));
                    n += 1;
                }
            }
            match sock.recv_from(&mut buf) {
                Ok((len, from)) => {
                    if let Ok(r) = Receive::new(Protocol::Udp, from, local, &buf[..len]) {
                        let _ = rtc.handle_input(Input::Receive(Instant::now(), r));
                    }
                }
                Err(_) => {
                    let now = Instant::now();
                    let _ = rtc.handle_input(Input::Timeout(now.max(wake.min(now))));
                }
            }
        }
    });
    sdp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_and_a_phone_hear_each_other_through_dtls_srtp() {
    talk("127.0.0.1", 34000).await;
}

/// Media bound to every address (the documented default): the browser's checks arrive for
/// the advertised address, which is not the socket's.
/// The engine's next report of `agent`'s browser connection, within `within`.
async fn next_state(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<MediaEvent>,
    agent: hotline_media::LegId,
    within: Duration,
) -> Result<BrowserState, tokio::time::error::Elapsed> {
    tokio::time::timeout(within, async {
        loop {
            match events.recv().await {
                Some(MediaEvent::Browser { leg, state }) if leg == agent => return state,
                Some(_) => continue,
                None => panic!("events ended"),
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_connects_to_media_bound_to_the_wildcard_address() {
    talk("0.0.0.0", 35000).await;
}

async fn talk(bind: &str, ports: u16) {
    let eng = MediaEngine::new(EngineConfig {
        bind_ip: bind.parse().unwrap(),
        port_min: ports,
        port_max: ports + 998,
        shards: 1,
        ..EngineConfig::default()
    });
    let (call, mut events) = eng.spawn_call();

    // The phone: plain RTP on loopback.
    let phone = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let phone_addr: SocketAddr = phone.local_addr().unwrap();
    let port = eng.bind_leg().await.unwrap();
    let phone_rtp = SocketAddr::new("127.0.0.1".parse().unwrap(), port.local_addr().port());
    let caller = call
        .add_leg(port, LegParams::new(Some(phone_addr), Codec::Pcmu))
        .await
        .unwrap();

    // The browser's leg, offered and answered.
    let port = eng.bind_leg().await.unwrap();
    let (leg, offer) = BrowserLeg::offer(
        port.local_addr(),
        "127.0.0.1".parse().unwrap(),
        Codec::Pcmu,
        Instant::now(),
    )
    .unwrap();
    assert!(offer.contains("a=ice-lite"), "{offer}");
    assert!(offer.contains("PCMU/8000"), "{offer}");
    assert!(!offer.contains("opus"), "one codec, the caller's: {offer}");
    assert!(
        !offer.contains("transport-wide-cc"),
        "no congestion-control feedback on a fixed-rate stream: {offer}"
    );
    let agent = call.add_browser_leg(port, leg, Codec::Pcmu).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let heard = Arc::new(Mutex::new(Heard::default()));
    let answer = browser(&offer, stop.clone(), heard.clone());
    assert!(
        call.browser_answer(agent, "v=0 not sdp".into())
            .await
            .unwrap()
            .is_err(),
        "garbage is refused"
    );
    // The garbage did not use up the offer: the real answer is still taken.
    call.browser_answer(agent, answer).await.unwrap().unwrap();
    call.bridge(caller, agent).unwrap();

    // The engine says when the browser is connected.
    let connected = next_state(&mut events, agent, Duration::from_secs(10))
        .await
        .expect("the browser connects");
    assert_eq!(connected, BrowserState::Connected);

    // The phone speaks 1 kHz for 2 s and keeps what it hears.
    let mut got = Vec::new();
    let mut buf = [0u8; 1500];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for i in 0..100u32 {
        tick.tick().await;
        let pcm = sine(1000.0, 0.3, 160, i as usize * 160);
        let h = RtpHeader {
            marker: i == 0,
            payload_type: 0,
            sequence: i as u16,
            timestamp: i * 160,
            ssrc: 0xabcd,
        };
        let mut out = [0u8; 200];
        let n = write_packet(&h, &ulaw_frame(&pcm), &mut out).unwrap();
        phone.send_to(&out[..n], phone_rtp).await.unwrap();
        while let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(1), phone.recv_from(&mut buf)).await
        {
            if let Ok(p) = RtpPacket::parse(&buf[..n]) {
                got.extend(decode(p.payload));
            }
        }
    }
    let phone_heard = got;
    let browser_heard: Vec<i16> = {
        let h = heard.lock().unwrap();
        assert!(h.connected);
        h.frames.iter().flat_map(|f| decode(f)).collect()
    };
    // Over the last second (the first may hold the connection's start).
    let tail = |v: &[i16]| v[v.len().saturating_sub(8000)..].to_vec();
    let ph = tail(&phone_heard);
    let br = tail(&browser_heard);
    assert!(ph.len() >= 6000, "the phone heard {} samples", ph.len());
    assert!(br.len() >= 6000, "the browser heard {} samples", br.len());
    let ratio = |x: &[i16], a: f32, b: f32| tone_power(x, a) / (tone_power(x, b) + 1e-6);
    assert!(
        ratio(&ph, 700.0, 1000.0) > 10.0,
        "the phone hears the browser"
    );
    assert!(
        ratio(&br, 1000.0, 700.0) > 10.0,
        "the browser hears the phone"
    );

    // The leg goes while the browser still sends: nothing breaks, the call goes on.
    call.remove_leg(agent).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    assert!(call.quality(caller).await.unwrap().is_some());
}

/// A browser that answers but whose media never arrives (its network blocks UDP): the leg is
/// dead within `CONNECT_WITHIN` of the answer, so the session can tell the page and move on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_leg_whose_media_never_connects_is_given_up() {
    let eng = MediaEngine::new(EngineConfig {
        bind_ip: "127.0.0.1".parse().unwrap(),
        port_min: 37000,
        port_max: 37998,
        shards: 1,
        ..EngineConfig::default()
    });
    let (call, mut events) = eng.spawn_call();
    let port = eng.bind_leg().await.unwrap();
    let (leg, offer) = BrowserLeg::offer(
        port.local_addr(),
        "127.0.0.1".parse().unwrap(),
        Codec::Pcmu,
        Instant::now(),
    )
    .unwrap();
    let agent = call.add_browser_leg(port, leg, Codec::Pcmu).await.unwrap();
    // A browser's answer from a peer that never sends a packet.
    let mut rtc = Rtc::builder()
        .clear_codecs()
        .enable_pcmu(true, false)
        .build(Instant::now());
    let nowhere: SocketAddr = "127.0.0.1:9".parse().unwrap();
    rtc.add_local_candidate(Candidate::host(nowhere, "udp").unwrap());
    let answer = rtc
        .sdp_api()
        .accept_offer(SdpOffer::from_sdp_string(&offer).unwrap())
        .unwrap()
        .to_sdp_string();
    let answered = Instant::now();
    call.browser_answer(agent, answer).await.unwrap().unwrap();
    let within = hotline_media::webrtc::CONNECT_WITHIN;
    let state = next_state(&mut events, agent, within + Duration::from_secs(5))
        .await
        .expect("the leg is given up");
    assert_eq!(state, BrowserState::Disconnected);
    assert!(
        answered.elapsed() >= within,
        "not before its time: {:?}",
        answered.elapsed()
    );
}
