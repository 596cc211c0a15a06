//! Live call quality end to end: a caller (SIP over UDP and an RTP/RTCP peer written here, on
//! loopback) whose audio loses every 5th packet with a known jitter, and whose RTCP answers
//! hotline's sender reports with a known delay and a DLSR that hides part of it. The figures
//! live on the event stream and `GET /api/v1/quality` must be near the truth; the MOS alert
//! is logged and shown; `quality_recovered` follows when the loss stops; RTCP garbage changes
//! nothing; the record keeps each leg's figures.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::*;
use hotline_media::rtcp::{self, Report, ReportBlock};
use serde_json::Value;

/// What the far end holds an SR before answering, and the DLSR it claims: the round trip
/// hotline measures is the difference plus the loopback's few milliseconds.
const HOLD_MS: u64 = 200;
const CLAIMED_DLSR_MS: u64 = 50;

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The SDP answer's audio address.
fn answer_media(msg: &str) -> SocketAddr {
    let body = msg.split("\r\n\r\n").nth(1).unwrap();
    let ip = body
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .unwrap()
        .trim();
    let port = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap();
    assert!(
        body.contains("a=rtcp-mux"),
        "rtcp-mux offered, so answered: {body}"
    );
    format!("{ip}:{port}").parse().unwrap()
}

struct Caller {
    sip: UdpSocket,
    rtp: Arc<UdpSocket>,
    me: SocketAddr,
    call_id: String,
    to_header: String,
    remote_media: SocketAddr,
}

fn call_in(h: &Hotline) -> Caller {
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    sip.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = sip.local_addr().unwrap();
    let rtp_port = rtp.local_addr().unwrap().port();
    let call_id = format!("quality-{}@test", std::process::id());
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=rtcp-mux\r\n"
    );
    let invite = format!(
        "INVITE sip:95588@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-q1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:13800138000@{me}>;tag=q1\r\nTo: <sip:95588@{sip}>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:13800138000@{me}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
        sip = h.sip,
        len = sdp.len(),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let ok = loop {
        assert!(Instant::now() < deadline, "no 200 to the INVITE");
        sip.send_to(invite.as_bytes(), h.sip).unwrap();
        let mut buf = [0u8; 8192];
        let mut got = None;
        while let Ok((n, _)) = sip.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with("SIP/2.0 200") {
                got = Some(text);
                break;
            }
            assert!(
                text.starts_with("SIP/2.0 1"),
                "the INVITE is not refused: {text}"
            );
        }
        if let Some(t) = got {
            break t;
        }
    };
    let to_header = header(&ok, "To").unwrap().to_string();
    let remote_media = answer_media(&ok);
    let c = Caller {
        sip,
        rtp: Arc::new(rtp),
        me,
        call_id,
        to_header,
        remote_media,
    };
    c.send_in_dialog(h, "ACK", 1);
    c
}

impl Caller {
    fn send_in_dialog(&self, h: &Hotline, method: &str, cseq: u32) {
        let msg = format!(
            "{method} sip:95588@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-q{method}{cseq}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:13800138000@{me}>;tag=q1\r\nTo: {to}\r\n\
             Call-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            sip = h.sip,
            me = self.me,
            to = self.to_header,
            cid = self.call_id,
        );
        self.sip.send_to(msg.as_bytes(), h.sip).unwrap();
    }
}

/// The caller's side of the media: RTP every 20 ms, each odd packet 15 ms late (jitter
/// of 15 ms by RFC 3550's estimator), every 5th dropped while `lossy`; RTCP garbage now and
/// then while `garbage`; and hotline's SRs answered `HOLD_MS` later with an RR claiming
/// `CLAIMED_DLSR_MS`.
fn media_peer(
    c: &Caller,
    lossy: Arc<AtomicBool>,
    garbage: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> Arc<AtomicU32> {
    let srs = Arc::new(AtomicU32::new(0));
    let to = c.remote_media;
    let tx = c.rtp.clone();
    let stop_tx = stop.clone();
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut garbage_n: u64 = 1;
        for i in 0u32.. {
            if stop_tx.load(Ordering::Relaxed) {
                return;
            }
            // Every other packet 15 ms late: more than the media threads' 10 ms poll, whose
            // arrival times would otherwise hide it (a lateness below the poll interval can
            // fall in step with it and measure as none).
            let late = if i % 2 == 1 { 15 } else { 0 };
            let due = start + Duration::from_millis(20 * u64::from(i) + late);
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                // Pacing the stream (what is measured), not waiting for anything.
                std::thread::sleep(d);
            }
            if lossy.load(Ordering::Relaxed) && i % 5 == 4 {
                continue;
            }
            let mut p = vec![0x80, 0];
            p.extend_from_slice(&(i as u16).to_be_bytes());
            p.extend_from_slice(&(160 * i).to_be_bytes());
            p.extend_from_slice(&0x5157_4c54u32.to_be_bytes());
            p.extend_from_slice(&[0xff; 160]);
            let _ = tx.send_to(&p, to);
            if garbage.load(Ordering::Relaxed) && i % 10 == 0 {
                // RTCP-looking garbage, and an RR whose block is cut short.
                garbage_n = garbage_n.wrapping_mul(6364136223846793005).wrapping_add(1);
                let mut g = vec![0x81, 201];
                g.extend((0..40).map(|k| (garbage_n >> (k % 56)) as u8));
                let _ = tx.send_to(&g, to);
                let _ = tx.send_to(&[0x81, 201, 0, 7, 0, 0, 0, 1, 2, 3], to);
            }
        }
    });
    let rx = c.rtp.clone();
    rx.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let count = srs.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut pending: Vec<(Instant, Report)> = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, _)) = rx.recv_from(&mut buf)
                && rtcp::looks_like_rtcp(&buf[..n])
                && let Ok(reports) = rtcp::parse(&buf[..n])
            {
                for r in reports {
                    if let Some(s) = r.sender {
                        count.fetch_add(1, Ordering::Relaxed);
                        pending.push((
                            Instant::now() + Duration::from_millis(HOLD_MS),
                            Report {
                                ssrc: 0x5157_4c54,
                                sender: None,
                                blocks: vec![ReportBlock {
                                    ssrc: r.ssrc,
                                    lsr: rtcp::ntp_middle(s.ntp),
                                    dlsr: (CLAIMED_DLSR_MS * 65536 / 1000) as u32,
                                    ..ReportBlock::default()
                                }],
                            },
                        ));
                    }
                }
            }
            let now = Instant::now();
            for (_, r) in pending.iter().filter(|(at, _)| *at <= now) {
                let mut out = [0u8; 256];
                if let Some(n) = rtcp::write(r, "peer@test", &mut out) {
                    let _ = rx.send_to(&out[..n], to);
                }
            }
            pending.retain(|(at, _)| *at > now);
        }
    });
    srs
}

fn caller_samples(all: &[Value]) -> Vec<Value> {
    all.iter()
        .filter(|e| e["stream"] == "quality" && e["leg"] == "caller")
        .cloned()
        .collect()
}

#[test]
fn a_lossy_jittery_caller_is_measured_alerted_and_recovers_and_rtcp_gives_the_round_trip() {
    let h = Hotline::demo();
    let feed = Feed::open(&h);
    let caller = call_in(&h);
    let lossy = Arc::new(AtomicBool::new(true));
    let garbage = Arc::new(AtomicBool::new(true));
    let stop = Arc::new(AtomicBool::new(false));
    let srs = media_peer(&caller, lossy.clone(), garbage.clone(), stop.clone());

    // The alert: logged (an event of the stream) after two samples below 3.5.
    let all = feed.wait(Duration::from_secs(40), "quality_alert", |all| {
        count(all, "quality_alert") >= 1
    });
    let alert = all.iter().find(|e| kind(e) == "quality_alert").unwrap();
    assert_eq!(alert["kind"]["leg"], "caller", "{alert}");
    let mos = alert["kind"]["mos"].as_f64().unwrap();
    let loss = alert["kind"]["loss"].as_f64().unwrap();
    let jitter = alert["kind"]["jitter_ms"].as_f64().unwrap();
    // Truth: 20 % lost in each 5 s interval (an interval's edges may shift a packet or
    // three), jitter 15 ms (give or take the 10 ms poll the arrival times are taken at).
    assert!((0.15..=0.25).contains(&loss), "loss {loss}: {alert}");
    assert!((4.0..=30.0).contains(&jitter), "jitter {jitter}: {alert}");
    assert!(mos < 3.5 && mos > 1.5, "mos {mos}: {alert}");
    // Live samples before it, on the stream (not the log) with the same figures.
    let live = caller_samples(&all);
    assert!(live.len() >= 2, "{live:?}");
    assert!(live.iter().any(|s| s["alert"] == true), "{live:?}");

    // The API shows the call in alert, with an RTT once hotline's SRs were answered.
    let sup = login(&h, "supervisor", "supervisor");
    let q: Value = wait_for(Duration::from_secs(30), "an RTT on the API", || {
        let (status, body) = http(h.http, "GET", "/api/v1/quality", Some(&sup), None);
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let call = v["calls"]
            .as_array()?
            .iter()
            .find(|c| c["leg"] == "caller")?
            .clone();
        call["rtt_ms"]
            .as_f64()
            .map(|_| (v, call))
            .map(|(v, c)| json_pair(v, c))
    });
    let call = &q["call"];
    assert_eq!(call["alert"], true, "{q}");
    assert!(call["mos"].as_f64().unwrap() < 3.5, "{q}");
    let rtt = call["rtt_ms"].as_f64().unwrap();
    let truth = (HOLD_MS - CLAIMED_DLSR_MS) as f64;
    // Plus up to a poll interval each way (10 ms) and the loopback.
    assert!(
        rtt >= truth - 5.0 && rtt <= truth + 40.0,
        "rtt {rtt} ms, truth {truth}: {q}"
    );
    assert!(
        srs.load(Ordering::Relaxed) >= 1,
        "hotline sent sender reports"
    );
    let alerts = q["all"]["alerts"].as_array().unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a["kind"] == "quality_alert" && a["leg"] == "caller"),
        "{q}"
    );
    // Agents do not see it.
    let agent = login(&h, "agent1001", "pass1001");
    let (status, _) = http(h.http, "GET", "/api/v1/quality", Some(&agent), None);
    assert_eq!(status, 403);

    // The loss stops (garbage stops too): back above 3.5 for two samples.
    lossy.store(false, Ordering::Relaxed);
    garbage.store(false, Ordering::Relaxed);
    let all = feed.wait(Duration::from_secs(40), "quality_recovered", |all| {
        count(all, "quality_recovered") >= 1
    });
    let rec = all.iter().find(|e| kind(e) == "quality_recovered").unwrap();
    assert_eq!(rec["kind"]["leg"], "caller");
    assert!(rec["kind"]["mos"].as_f64().unwrap() >= 3.5, "{rec}");
    assert!(rec["kind"]["loss"].as_f64().unwrap() < 0.02, "{rec}");
    assert_eq!(count(&all, "quality_alert"), 1, "one alert, no flapping");
    // Live samples are not events of the log: the log has few quality samples.
    let logged = count(&all, "quality_sample");
    assert!(logged <= 4, "a sample logged every 15 s at most: {logged}");

    // The caller hangs up; the record keeps the caller leg's figures and the alert count.
    stop.store(true, Ordering::Relaxed);
    caller.send_in_dialog(&h, "BYE", 2);
    feed.wait(Duration::from_secs(15), "ended", |all| {
        count(all, "ended") >= 1
    });
    let (status, body) = http(h.http, "GET", "/api/v1/interactions", Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    let records: Vec<Value> = serde_json::from_str(&body).unwrap();
    let r = &records[0];
    let cq = &r["quality"]["caller"];
    assert!(cq["mos"].as_f64().is_some(), "{r}");
    // Over the whole call: some loss, less than the lossy part's 20 %.
    let whole = cq["loss"].as_f64().unwrap();
    assert!(whole > 0.01 && whole < 0.2, "{r}");
    assert!(cq["rtt_ms"].as_f64().is_some(), "{r}");
    assert_eq!(r["quality"]["alerts"], 1, "{r}");
    // The call is gone from the live view.
    let (_, body) = http(h.http, "GET", "/api/v1/quality", Some(&sup), None);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["calls"].as_array().map(Vec::len), Some(0), "{v}");
}

fn json_pair(all: Value, call: Value) -> Value {
    serde_json::json!({ "all": all, "call": call })
}
