//! A small SIP + RTP test peer on loopback: a phone that answers the INVITEs it gets (or a
//! caller that places one), sends a steady tone of its own as PCMU, and tells which tones it
//! hears in what it receives (a Goertzel filter per 20 ms frame). Tones on multiples of
//! 50 Hz sit on a filter bin of a 160-sample frame, so several mixed tones are told apart.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The tones the peers of a test send (Hz). Each peer counts every one of them.
pub const TONES: [f64; 3] = [500.0, 1000.0, 1500.0];

const FRAME: usize = 160;
const AMPLITUDE: f64 = 6000.0;

#[derive(Default)]
struct Heard {
    /// Frames received since the last [`TonePeer::take`].
    frames: u64,
    /// Per tone of [`TONES`]: frames it was heard in.
    with: [u64; 3],
    /// Per tone: when it was last heard.
    last: [Option<Instant>; 3],
}

/// What a peer heard over a span.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub frames: u64,
    pub with: [u64; 3],
}

impl Span {
    /// The fraction of frames in which tone `i` of [`TONES`] was heard.
    pub fn share(&self, i: usize) -> f64 {
        if self.frames == 0 {
            0.0
        } else {
            self.with[i] as f64 / self.frames as f64
        }
    }
}

/// One peer: its SIP socket, RTP socket, and the threads sending and analysing audio.
pub struct TonePeer {
    pub name: String,
    sip: UdpSocket,
    rtp: Arc<UdpSocket>,
    heard: Arc<Mutex<Heard>>,
    remote_rtp: Arc<Mutex<Option<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    /// Requests received (method names), in order.
    pub requests: Arc<Mutex<Vec<String>>>,
    /// The caller's dialog: (Call-ID, From header, To header with tag, request URI).
    dialog: Option<(String, String, String, String)>,
    sip_thread: Option<std::thread::JoinHandle<()>>,
}

/// The value of header `name` in `msg`.
fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The RTP address of an SDP body (`c=` and `m=audio`).
fn sdp_rtp(msg: &str) -> Option<SocketAddr> {
    let body = msg.split("\r\n\r\n").nth(1)?;
    let ip = body
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))?
        .trim()
        .to_string();
    let port = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))?
        .split_whitespace()
        .next()?
        .to_string();
    format!("{ip}:{port}").parse().ok()
}

fn sdp(rtp: SocketAddr) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
        rtp.port()
    )
}

/// A 200 OK to `req` (with our SDP for an INVITE).
fn ok(req: &str, tag: &str, rtp: SocketAddr, local: SocketAddr) -> String {
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for l in req.split("\r\n").skip(1) {
        if l.is_empty() {
            break;
        }
        let name = l
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" | "record-route" => {
                out.push_str(l);
                out.push_str("\r\n");
            }
            "to" | "t" => {
                out.push_str(l);
                if !l.contains(";tag=") {
                    out.push_str(&format!(";tag={tag}"));
                }
                out.push_str("\r\n");
            }
            _ => {}
        }
    }
    let body = if req.starts_with("INVITE ") {
        out.push_str(&format!("Contact: <sip:peer@{local}>\r\n"));
        out.push_str("Content-Type: application/sdp\r\n");
        sdp(rtp)
    } else {
        String::new()
    };
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out
}

/// Which of [`TONES`] a frame carries: the amplitude on each tone's bin.
fn tones_in(frame: &[i16]) -> [bool; 3] {
    let mut out = [false; 3];
    for (i, hz) in TONES.iter().enumerate() {
        let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
        let (mut s1, mut s2) = (0.0, 0.0);
        for x in frame {
            let s = f64::from(*x) + coeff * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        let power = (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0);
        let amplitude = 2.0 * power.sqrt() / frame.len() as f64;
        out[i] = amplitude > AMPLITUDE / 4.0;
    }
    out
}

impl TonePeer {
    /// A peer on `sip_port` (a port a phone registered from, or 0), sending tone `tone`
    /// (an index into [`TONES`]) once it knows where to.
    pub fn new(name: &str, sip_port: u16, tone: usize) -> TonePeer {
        let sip = UdpSocket::bind(("127.0.0.1", sip_port)).expect("the peer's SIP port");
        sip.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let rtp = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        rtp.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let peer = TonePeer {
            name: name.to_string(),
            sip,
            rtp,
            heard: Arc::default(),
            remote_rtp: Arc::default(),
            stop: Arc::default(),
            requests: Arc::default(),
            dialog: None,
            sip_thread: None,
        };
        peer.start_media(tone);
        peer
    }

    fn start_media(&self, tone: usize) {
        // Sender: one PCMU frame of the tone every 20 ms to the far end's RTP address.
        let (rtp, remote, stop) = (self.rtp.clone(), self.remote_rtp.clone(), self.stop.clone());
        let hz = TONES[tone];
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut n: u32 = 0;
            while !stop.load(Ordering::Relaxed) {
                let due = start + Duration::from_millis(20 * u64::from(n));
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let pcm: Vec<i16> = (0..FRAME)
                    .map(|i| {
                        let t = (n as usize * FRAME + i) as f64 / 8000.0;
                        (AMPLITUDE * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
                    })
                    .collect();
                let mut pkt = vec![0x80, 0];
                pkt.extend_from_slice(&(n as u16).to_be_bytes());
                pkt.extend_from_slice(&(n.wrapping_mul(FRAME as u32)).to_be_bytes());
                pkt.extend_from_slice(&0x7e57_0000u32.wrapping_add(tone as u32).to_be_bytes());
                let mut payload = vec![0u8; FRAME];
                hotline_media::Codec::Pcmu.encode_slice(&pcm, &mut payload);
                pkt.extend_from_slice(&payload);
                if let Some(to) = *remote.lock().unwrap() {
                    let _ = rtp.send_to(&pkt, to);
                }
                n = n.wrapping_add(1);
            }
        });
        // Receiver: each frame's tones.
        let (rtp, heard, stop) = (self.rtp.clone(), self.heard.clone(), self.stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, _)) = rtp.recv_from(&mut buf) else {
                    continue;
                };
                if n < 12 + FRAME || buf[1] & 0x7f != 0 {
                    continue;
                }
                let mut pcm = [0i16; FRAME];
                hotline_media::Codec::Pcmu.decode_slice(&buf[12..12 + FRAME], &mut pcm);
                let found = tones_in(&pcm);
                let mut h = heard.lock().unwrap();
                h.frames += 1;
                let now = Instant::now();
                for (i, f) in found.iter().enumerate() {
                    if *f {
                        h.with[i] += 1;
                        h.last[i] = Some(now);
                    }
                }
            }
        });
    }

    /// Answers every request from now on (INVITE with our SDP, BYE, OPTIONS…: 200), in a
    /// thread of its own.
    pub fn answer_calls(&mut self) {
        let sip = self.sip.try_clone().unwrap();
        let (rtp, remote, stop, requests) = (
            self.rtp.local_addr().unwrap(),
            self.remote_rtp.clone(),
            self.stop.clone(),
            self.requests.clone(),
        );
        let local = sip.local_addr().unwrap();
        self.sip_thread = Some(std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            let mut tags: HashMap<String, String> = HashMap::new();
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, from)) = sip.recv_from(&mut buf) else {
                    continue;
                };
                let msg = String::from_utf8_lossy(&buf[..n]).to_string();
                if msg.starts_with("SIP/2.0") {
                    continue;
                }
                let method = msg.split(' ').next().unwrap_or("").to_string();
                requests.lock().unwrap().push(method.clone());
                if method == "ACK" {
                    continue;
                }
                let call_id = header(&msg, "call-id")
                    .or_else(|| header(&msg, "i"))
                    .unwrap_or("")
                    .to_string();
                let n_tags = tags.len();
                let tag = tags
                    .entry(call_id)
                    .or_insert_with(|| format!("peer{n_tags}"))
                    .clone();
                if method == "INVITE"
                    && let Some(r) = sdp_rtp(&msg)
                {
                    *remote.lock().unwrap() = Some(r);
                }
                if method == "BYE" || method == "CANCEL" {
                    *remote.lock().unwrap() = None;
                }
                let _ = sip.send_to(ok(&msg, &tag, rtp, local).as_bytes(), from);
            }
        }));
    }

    /// Calls `number` at `hotline` (from the trunk's address) and waits for the answer.
    pub fn call(&mut self, hotline: SocketAddr, number: &str) {
        let local = self.sip.local_addr().unwrap();
        let call_id = format!("tonepeer-{}-{}", std::process::id(), local.port());
        let from = format!("<sip:13800138000@{local}>;tag=caller1");
        let ruri = format!("sip:{number}@{hotline}");
        let body = sdp(self.rtp.local_addr().unwrap());
        let invite = format!(
            "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-tp-inv\r\n\
             From: {from}\r\nTo: <sip:{number}@{hotline}>\r\nCall-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\nContact: <sip:13800138000@{local}>\r\nMax-Forwards: 70\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.sip.send_to(invite.as_bytes(), hotline).unwrap();
        let mut buf = vec![0u8; 65536];
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut resent = Instant::now();
        loop {
            assert!(
                Instant::now() < deadline,
                "{}: no answer to the INVITE",
                self.name
            );
            let Ok((n, _)) = self.sip.recv_from(&mut buf) else {
                if resent.elapsed() > Duration::from_millis(500) {
                    self.sip.send_to(invite.as_bytes(), hotline).unwrap();
                    resent = Instant::now();
                }
                continue;
            };
            let msg = String::from_utf8_lossy(&buf[..n]).to_string();
            if !msg.starts_with("SIP/2.0 ") {
                continue;
            }
            let code: u16 = msg[8..11].parse().unwrap_or(0);
            if code < 200 {
                resent = Instant::now() + Duration::from_secs(3600);
                continue;
            }
            assert_eq!(code, 200, "{}: the INVITE was refused: {msg}", self.name);
            let to = header(&msg, "to")
                .or_else(|| header(&msg, "t"))
                .unwrap()
                .to_string();
            let target = header(&msg, "contact")
                .or_else(|| header(&msg, "m"))
                .and_then(|c| {
                    let c = c.trim_start_matches('<');
                    c.split(['>', ';']).next().map(str::to_string)
                })
                .unwrap_or_else(|| ruri.clone());
            *self.remote_rtp.lock().unwrap() = sdp_rtp(&msg);
            let ack = format!(
                "ACK {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-tp-ack\r\n\
                 From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\n\
                 Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            );
            self.sip.send_to(ack.as_bytes(), hotline).unwrap();
            self.dialog = Some((call_id, from, to, target));
            break;
        }
        // From now on requests from hotline (a BYE) are answered.
        self.answer_calls();
    }

    /// The caller hangs up (BYE).
    pub fn hang_up(&mut self, hotline: SocketAddr) {
        let Some((call_id, from, to, target)) = self.dialog.take() else {
            return;
        };
        let local = self.sip.local_addr().unwrap();
        let bye = format!(
            "BYE {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-tp-bye\r\n\
             From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 2 BYE\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        self.sip.send_to(bye.as_bytes(), hotline).unwrap();
        *self.remote_rtp.lock().unwrap() = None;
    }

    /// Whether the far end sent a BYE.
    pub fn got_bye(&self) -> bool {
        self.requests.lock().unwrap().iter().any(|m| m == "BYE")
    }

    /// Whether tone `i` was heard within the last `within`.
    pub fn hears(&self, i: usize, within: Duration) -> bool {
        self.heard.lock().unwrap().last[i].is_some_and(|t| t.elapsed() <= within)
    }

    /// What was heard since the last call, and starts counting again.
    pub fn take(&self) -> Span {
        let mut h = self.heard.lock().unwrap();
        let span = Span {
            frames: h.frames,
            with: h.with,
        };
        h.frames = 0;
        h.with = [0; 3];
        span
    }
}

impl Drop for TonePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.sip_thread.take() {
            let _ = t.join();
        }
    }
}
