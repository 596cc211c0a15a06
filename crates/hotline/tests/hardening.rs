//! Attacks from outside on the real binary (see docs/security.md): the carrier cannot be
//! locked out, logins cannot exhaust memory, password guessing is throttled per account,
//! multi-byte text never panics, and slow HTTP clients are cut off.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::{Hotline, http, login};
use hotline_sip::digest::{Algorithm, ha1};

fn metric(h: &Hotline, line_start: &str) -> f64 {
    let (status, body) = h.get("/metrics");
    assert_eq!(status, 200);
    body.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// A SIP client on UDP from `ip`.
struct Phone {
    sock: UdpSocket,
    me: SocketAddr,
    buf: Vec<u8>,
    /// Requests sent (for unique branches) and registration attempts (for Call-IDs).
    n: u32,
    calls: u32,
}

impl Phone {
    fn new(ip: &str, server: SocketAddr) -> Phone {
        let sock = UdpSocket::bind(format!("{ip}:0")).unwrap();
        sock.connect(server).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let me = sock.local_addr().unwrap();
        Phone {
            sock,
            me,
            buf: vec![0u8; 65_536],
            n: 0,
            calls: 0,
        }
    }

    fn send(&self, msg: &str) {
        self.sock.send(msg.as_bytes()).unwrap();
    }

    /// The next message received; `None` on timeout.
    fn recv(&mut self) -> Option<String> {
        let n = self.sock.recv(&mut self.buf).ok()?;
        Some(String::from_utf8_lossy(&self.buf[..n]).into_owned())
    }

    /// Sends `msg` and returns the final response whose CSeq is `cseq`, retransmitting as
    /// a UDP client does (every 500 ms) until it comes; provisional responses and requests
    /// from the server are skipped.
    fn transact(&mut self, msg: &str, cseq: &str) -> String {
        self.send(msg);
        self.sock
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let want = format!("CSeq: {cseq}");
        while Instant::now() < deadline {
            let Some(m) = self.recv() else {
                self.send(msg);
                continue;
            };
            if !m.starts_with("SIP/2.0 ") || m.starts_with("SIP/2.0 1") {
                continue;
            }
            if m.lines().any(|l| l.trim() == want) {
                return m;
            }
        }
        panic!("no final response to {cseq}");
    }

    fn register(&mut self, user: &str, cseq: u32, auth: &str) -> String {
        let me = self.me;
        self.n += 1;
        let msg = format!(
            "REGISTER sip:hotline SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKreg{user}x{n}x{port}\r\nFrom: <sip:{user}@hotline>;tag=r{cseq}\r\nTo: <sip:{user}@hotline>\r\nCall-ID: reg-{user}-{port}-{call}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{me}>\r\nMax-Forwards: 70\r\nExpires: 600\r\n{auth}Content-Length: 0\r\n\r\n",
            n = self.n,
            call = self.calls,
            port = me.port()
        );
        self.transact(&msg, &format!("{cseq} REGISTER"))
    }

    /// REGISTER as `user` with `password`: asks for a challenge and answers it.
    fn register_with(&mut self, user: &str, password: &str) -> String {
        self.calls += 1;
        let challenge = self.register(user, 1, "");
        if !challenge.starts_with("SIP/2.0 401") {
            return challenge;
        }
        let line = challenge
            .lines()
            .find(|l| l.starts_with("WWW-Authenticate"))
            .expect("a challenge");
        let nonce = param(line, "nonce");
        let alg = if line.contains("SHA-256") {
            Algorithm::Sha256
        } else {
            Algorithm::Md5
        };
        let h1 = ha1(alg, user, "hotline", password);
        let h2 = alg.hash("REGISTER:sip:hotline");
        let response = alg.hash(&format!("{h1}:{nonce}:00000001:cn0:auth:{h2}"));
        let auth = format!(
            "Authorization: Digest username=\"{user}\", realm=\"hotline\", nonce=\"{nonce}\", uri=\"sip:hotline\", response=\"{response}\", algorithm={}, qop=auth, nc=00000001, cnonce=\"cn0\"\r\n",
            alg.name()
        );
        self.register(user, 2, &auth)
    }
}

fn param(line: &str, name: &str) -> String {
    line.split(&format!("{name}=\""))
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("")
        .to_string()
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn blind_registers_with_made_up_nonces_from_the_trunk_address_do_not_lock_out_the_carrier() {
    let h = Hotline::demo();
    // Forged REGISTERs "from the carrier" (127.0.0.1 is the demo's trunk), answering
    // challenges nobody saw: no replies are needed, so a spoofed UDP source would do the same.
    let mut p = Phone::new("127.0.0.1", h.sip);
    for i in 0..12u32 {
        let nonce = format!("{:056x}", u128::from(i) * 7919 + 1);
        let auth = format!(
            "Authorization: Digest username=\"1001\", realm=\"hotline\", nonce=\"{nonce}\", uri=\"sip:hotline\", response=\"{}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"x\"\r\n",
            "0".repeat(32)
        );
        let r = p.register("1001", 10 + i, &auth);
        assert!(r.starts_with("SIP/2.0 403"), "{r}");
    }
    // And wrong passwords against real challenges from that address, too.
    for _ in 0..6 {
        let r = p.register_with("1002", "guess");
        assert!(r.starts_with("SIP/2.0 403"), "{r}");
    }
    // The same from another address with made-up nonces: not counted either.
    let mut q = Phone::new("127.0.0.7", h.sip);
    for i in 0..12u32 {
        let auth = format!(
            "Authorization: Digest username=\"1003\", realm=\"hotline\", nonce=\"{:056x}\", uri=\"sip:hotline\", response=\"{}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"x\"\r\n",
            u128::from(i) + 99,
            "0".repeat(32)
        );
        assert!(q.register("1003", 10 + i, &auth).starts_with("SIP/2.0 403"));
    }
    let ok = q.register_with("1003", "pass1003");
    assert!(ok.starts_with("SIP/2.0 200"), "not locked out: {ok}");
    // The carrier's call to the service number is answered.
    let (ok, errors) = h.sipp("call-caller-hangs-up.xml", &["-m", "1"]);
    assert!(ok, "the carrier's call was not answered:\n{errors}");
    assert_eq!(
        metric(&h, "hotline_sip_rejections_total{reason=\"locked_out\"}"),
        0.0
    );
    assert!(
        metric(
            &h,
            "hotline_sip_rejections_total{reason=\"unissued_nonce\"}"
        ) >= 24.0
    );
}

#[test]
fn sip_guessing_from_rotating_sources_is_stopped_per_account() {
    let h = Hotline::demo();
    // A new source every four tries stays under the per-source limit (5)...
    let mut refused_with_retry = None;
    for i in 0..16u32 {
        let ip = format!("127.0.0.{}", 20 + i / 4);
        let mut p = Phone::new(&ip, h.sip);
        let r = p.register_with("1001", &format!("guess{i}"));
        assert!(r.starts_with("SIP/2.0 403"), "{r}");
        if let Some(wait) = header(&r, "Retry-After") {
            refused_with_retry = Some((i, wait.to_string()));
            break;
        }
    }
    // ...but the account's limit (10 failures) locks 1001 out with a Retry-After.
    let (at, wait) = refused_with_retry.expect("the account was never locked out");
    assert!(at >= 10, "locked after {at} tries");
    assert!(wait.parse::<u64>().unwrap() >= 1, "{wait}");
    // Now even the right password from a fresh source is refused without being checked.
    let mut fresh = Phone::new("127.0.0.60", h.sip);
    let r = fresh.register_with("1001", "pass1001");
    assert!(r.starts_with("SIP/2.0 403"), "{r}");
    assert!(header(&r, "Retry-After").is_some(), "{r}");
    // Other extensions are untouched.
    let mut other = Phone::new("127.0.0.61", h.sip);
    let r = other.register_with("1002", "pass1002");
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    assert!(
        metric(
            &h,
            "hotline_sip_rejections_total{reason=\"account_locked_out\"}"
        ) >= 1.0
    );
}

/// RSS of a process in kB.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A POST of a JSON body from a chosen loopback address; (status, head, body).
fn post_from(src: IpAddr, addr: SocketAddr, path: &str, body: &str) -> (u16, String, String) {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::new(src, 0).into()).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_string(), body.to_string())
}

fn login_body(user: &str, password: &str) -> String {
    format!("{{\"user\":\"{user}\",\"password\":\"{password}\"}}")
}

#[test]
fn a_hundred_concurrent_bogus_logins_keep_memory_bounded_and_later_logins_work() {
    let h = Hotline::demo();
    let pid = h.pid();
    // Warm up: one real login, so what is measured is the flood, not the first use.
    login(&h, "supervisor", "supervisor");
    let before = rss_kb(pid);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_kb(pid));
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };
    let addr = h.http;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(100));
    let clients: Vec<_> = (0..100u8)
        .map(|i| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                // From fifty addresses, as from a botnet; every user name made up.
                let src = IpAddr::from([127, 0, 1, 10 + i % 50]);
                barrier.wait();
                post_from(
                    src,
                    addr,
                    "/api/v1/login",
                    &login_body(&format!("nobody{i}"), "guess"),
                )
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for c in clients {
        let (status, head, body) = c.join().unwrap();
        if status == 429 {
            assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
            assert!(body.contains("\"code\":\"busy\""), "{body}");
        }
        statuses.push(status);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    assert!(statuses.contains(&401), "some were checked: {statuses:?}");
    let growth_mb = peak.saturating_sub(before) / 1024;
    eprintln!("RSS before {before} kB, peak {peak} kB, growth {growth_mb} MB");
    assert!(growth_mb < 256, "RSS grew by {growth_mb} MB");
    // A real user still gets in (retrying while the pool drains).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _, body) = post_from(
            IpAddr::from([127, 0, 0, 1]),
            addr,
            "/api/v1/login",
            &login_body("agent1001", "pass1001"),
        );
        if status == 200 {
            assert!(body.contains("token"));
            break;
        }
        assert_eq!(status, 429, "{body}");
        assert!(Instant::now() < deadline, "logins never recovered");
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = rss_kb(pid);
    eprintln!("RSS after {after} kB");
    assert!(
        after.saturating_sub(before) / 1024 < 256,
        "memory kept: before {before} kB, after {after} kB"
    );
}

#[test]
fn forty_guesses_on_one_api_user_are_throttled_before_the_right_password() {
    let h = Hotline::serve_with(|t| {
        t.replace(
            "[http]\nlisten = \"127.0.0.1:8080\"",
            "[http]\nlisten = \"127.0.0.1:8080\"\nlogin_backoff_max_seconds = 3",
        )
    });
    let me = IpAddr::from([127, 0, 0, 1]);
    let mut codes = Vec::new();
    for i in 0..40 {
        let (status, head, body) = post_from(
            me,
            h.http,
            "/api/v1/login",
            &login_body("agent1010", &format!("guess{i}")),
        );
        if status == 429 {
            assert!(body.contains("\"code\":\"too_many_attempts\""), "{body}");
            assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
        }
        codes.push(status);
    }
    assert_eq!(&codes[..5], &[401; 5], "{codes:?}");
    assert!(
        codes.iter().filter(|c| **c == 429).count() >= 20,
        "{codes:?}"
    );
    // The right password now: throttled, from here and from elsewhere.
    let (status, head, _) = post_from(
        me,
        h.http,
        "/api/v1/login",
        &login_body("agent1010", "pass1010"),
    );
    assert_eq!(status, 429, "the guessing was not throttled");
    let (status, _, _) = post_from(
        IpAddr::from([127, 0, 0, 9]),
        h.http,
        "/api/v1/login",
        &login_body("agent1010", "pass1010"),
    );
    assert_eq!(status, 429, "the limit is per account, not only per source");
    // The back-off is a window, not a lock: after it the user gets in.
    let wait: u64 = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!((1..=3).contains(&wait), "{wait}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, body) = post_from(
            IpAddr::from([127, 0, 0, 9]),
            h.http,
            "/api/v1/login",
            &login_body("agent1010", "pass1010"),
        );
        if status == 200 {
            break;
        }
        assert_eq!(status, 429, "{body}");
        assert!(Instant::now() < deadline, "the user stayed locked out");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A call from the trunk with `caller` as the From user; hangs up after the answer.
/// Returns the final status of the INVITE.
fn call_from(h: &Hotline, caller: &str, n: u32) -> u16 {
    let mut p = Phone::new("127.0.0.1", h.sip);
    let me = p.me;
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media = rtp.local_addr().unwrap().port();
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {media} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    );
    let call_id = format!("utf8-{n}-{}", me.port());
    let from = format!("<sip:{caller}@127.0.0.1>;tag=f{n}");
    let invite = format!(
        "INVITE sip:95588@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKinv{n}x{port}\r\nFrom: {from}\r\nTo: <sip:95588@{sip}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@{me}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
        sip = h.sip,
        port = me.port(),
        len = sdp.len()
    );
    let answer = p.transact(&invite, "1 INVITE");
    let status: u16 = answer[8..11].parse().unwrap();
    let to = header(&answer, "To").unwrap_or("").to_string();
    let ack = |branch: &str| {
        format!(
            "ACK sip:95588@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch}\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            sip = h.sip
        )
    };
    if status != 200 {
        p.send(&ack(&format!("z9hG4bKinv{n}x{}", me.port())));
        return status;
    }
    let target = header(&answer, "Contact")
        .map(|c| {
            c.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_else(|| format!("sip:95588@{}", h.sip));
    p.send(&ack(&format!("z9hG4bKack{n}x{}", me.port())));
    let bye = format!(
        "BYE {target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKbye{n}x{port}\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        port = me.port()
    );
    let r = p.transact(&bye, "2 BYE");
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    status
}

/// Waits until every interaction record has ended; returns how many there are.
fn all_records_close(h: &Hotline, token: &str, at_least: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = http(h.http, "GET", "/api/v1/interactions", Some(token), None);
        assert_eq!(status, 200, "{body}");
        let records: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        let open: Vec<_> = records.iter().filter(|r| r["ended"].is_null()).collect();
        if records.len() >= at_least && open.is_empty() {
            return records.len();
        }
        assert!(
            Instant::now() < deadline,
            "records never closed: {open:?} ({} of at least {at_least})",
            records.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn multi_byte_caller_numbers_and_lookups_never_panic_and_every_record_closes() {
    let h = Hotline::demo();
    let token = login(&h, "supervisor", "supervisor");
    for (i, phone) in [
        "0%F0%90%80%80",
        "12%E4%B8%AD%E6%96%87",
        "%E4%B8%AD",
        "+%F0%9F%98%80123",
    ]
    .iter()
    .enumerate()
    {
        let (status, body) = http(
            h.http,
            "GET",
            &format!("/api/v1/customers?phone={phone}"),
            Some(&token),
            None,
        );
        assert!(status == 404 || status == 400, "{i}: {status} {body}");
        assert!(body.contains("\"code\""), "{body}");
    }
    let mut answered = 0;
    for (n, caller) in ["0𐀀", "12中文", "中文", "+８６１３８", "😀"]
        .iter()
        .enumerate()
    {
        let status = call_from(&h, caller, n as u32);
        assert!(
            status == 200 || (400..500).contains(&status),
            "{caller}: {status}"
        );
        if status == 200 {
            answered += 1;
        }
    }
    assert!(answered >= 2, "the trunk's calls were answered: {answered}");
    all_records_close(&h, &token, answered);
    assert_eq!(h.get("/healthz").0, 200);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    fn encode(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    /// Any text in the API's query parameters and path segments gets an answer below 500.
    #[test]
    fn api_query_parameters() {
        let h = Hotline::demo();
        let token = login(&h, "supervisor", "supervisor");
        let mut runner = TestRunner::new(Config::with_cases(48));
        let strategy = ("\\PC{0,24}", proptest::collection::vec(any::<u8>(), 0..12));
        runner
            .run(&strategy, |(s, raw)| {
                let raw: String = raw.iter().map(|b| format!("%{b:02X}")).collect();
                for path in [
                    format!("/api/v1/customers?phone={}", encode(&s)),
                    format!("/api/v1/customers?phone={raw}"),
                    format!("/api/v1/interactions?since={}", encode(&s)),
                    format!("/api/v1/audit?since={raw}"),
                    format!("/api/v1/customers/{}", encode(&s)),
                    format!("/api/v1/agents/{raw}"),
                ] {
                    let (status, body) = http(h.http, "GET", &path, Some(&token), None);
                    prop_assert!(status > 0 && status < 500, "{path}: {status} {body}");
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(h.get("/healthz").0, 200);
    }

    /// Caller numbers of any characters through the trunk and the flow: the call is answered
    /// or refused, nothing crashes, and every record closes.
    #[test]
    fn caller_numbers_through_the_flow() {
        let h = Hotline::demo();
        let token = login(&h, "supervisor", "supervisor");
        // Found by this test: a user part the SIP stack cannot read was dropped unanswered.
        assert_eq!(call_from(&h, "?", 99), 400);
        let mut runner = TestRunner::new(Config::with_cases(6));
        let strategy = "[0-9+]{0,4}[^\\s<>@;:,\"\\\\\\p{Cc}]{1,6}[0-9]{0,4}";
        let n = std::sync::atomic::AtomicU32::new(100);
        runner
            .run(&strategy, |caller| {
                let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let status = call_from(&h, &caller, i);
                prop_assert!(
                    status == 200 || (400..500).contains(&status),
                    "{caller}: {status}"
                );
                all_records_close(&h, &token, 0);
                prop_assert_eq!(h.get("/healthz").0, 200);
                Ok(())
            })
            .unwrap();
    }
}

/// Reads until the peer closes; how long that took (None: still open at `limit`).
fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<(Duration, String)> {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some((start.elapsed(), String::from_utf8_lossy(&got).into_owned())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some((start.elapsed(), String::from_utf8_lossy(&got).into_owned())),
        }
    }
    None
}

#[test]
fn half_sent_and_idle_http_connections_are_closed_within_the_configured_timeouts() {
    let h = Hotline::serve_with(|t| {
        t.replace(
            "[http]\nlisten = \"127.0.0.1:8080\"",
            "[http]\nlisten = \"127.0.0.1:8080\"\nheader_timeout_seconds = 2\nbody_timeout_seconds = 2\nidle_timeout_seconds = 3",
        )
    });
    // Headers never finished.
    let mut s = TcpStream::connect(h.http).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    let (took, _) =
        closed_within(&mut s, Duration::from_secs(20)).expect("half-sent headers kept open");
    assert!(took < Duration::from_secs(8), "{took:?}");
    // A silent connection.
    let mut s = TcpStream::connect(h.http).unwrap();
    let (took, _) =
        closed_within(&mut s, Duration::from_secs(20)).expect("silent connection kept open");
    assert!(took < Duration::from_secs(8), "{took:?}");
    // A body that never arrives: 408 with a JSON error, then closed.
    let mut s = TcpStream::connect(h.http).unwrap();
    s.write_all(b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user\":").unwrap();
    let (took, text) =
        closed_within(&mut s, Duration::from_secs(20)).expect("half-sent body kept open");
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"code\":\"body_timeout\""), "{text}");
    // An idle keep-alive after a whole request and answer.
    let mut s = TcpStream::connect(h.http).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (took, text) =
        closed_within(&mut s, Duration::from_secs(20)).expect("idle keep-alive kept open");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(took < Duration::from_secs(9), "{took:?}");
    // The server is fine afterwards.
    assert_eq!(h.get("/healthz").0, 200);
}

#[test]
fn json_answers_say_nosniff_and_metrics_can_need_a_token() {
    let h = Hotline::serve_with(|t| {
        t.replace(
            "[http]\nlisten = \"127.0.0.1:8080\"",
            "[http]\nlisten = \"127.0.0.1:8080\"\nmetrics_token = \"s3cret-metrics\"",
        )
    });
    let raw = |path: &str, extra: &str| {
        let mut s = TcpStream::connect(h.http).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n")
                .as_bytes(),
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let r = raw("/api/v1/nothing-here", "");
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    assert!(
        r.to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{r}"
    );
    let r = raw("/metrics", "");
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    let r = raw("/metrics", "Authorization: Bearer wrong\r\n");
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    let r = raw("/metrics", "Authorization: Bearer s3cret-metrics\r\n");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.contains("hotline_sip"), "{r}");
}

#[test]
fn sip_answers_name_no_version_and_tcp_connections_are_capped_overall() {
    let h = Hotline::serve_with(|t| {
        t.replace(
            "lockout_seconds = 300",
            "lockout_seconds = 300\ntcp_connections_total = 4",
        )
    });
    let mut p = Phone::new("127.0.0.5", h.sip);
    let me = p.me;
    let options = format!(
        "OPTIONS sip:hotline@{} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKopt1\r\nFrom: <sip:probe@127.0.0.5>;tag=1\r\nTo: <sip:hotline@127.0.0.1>\r\nCall-ID: opt-ver\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        h.sip
    );
    let r = p.transact(&options, "1 OPTIONS");
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    for name in ["Server", "User-Agent"] {
        if let Some(v) = header(&r, name) {
            assert_eq!(v, "hotline", "{r}");
        }
    }
    assert!(!r.contains(env!("CARGO_PKG_VERSION")), "{r}");
    // Four connections from four sources are held; a fifth, from a fifth source, is closed.
    let held: Vec<TcpStream> = (0..4)
        .map(|i| {
            let sock =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            sock.bind(&SocketAddr::from(([127, 0, 2, 1 + i], 0)).into())
                .unwrap();
            sock.connect(&h.sip.into()).unwrap();
            sock.into()
        })
        .collect();
    // Each held one is served (a keep-alive ping gets its pong), so all four are counted.
    for s in &held {
        let mut s = s.try_clone().unwrap();
        s.write_all(b"\r\n\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = [0u8; 2];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"\r\n");
    }
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from(([127, 0, 2, 9], 0)).into())
        .unwrap();
    sock.connect(&h.sip.into()).unwrap();
    let mut fifth: TcpStream = sock.into();
    let _ = fifth.write_all(b"\r\n\r\n");
    assert!(
        closed_within(&mut fifth, Duration::from_secs(10)).is_some(),
        "a fifth connection was kept"
    );
    assert!(
        metric(
            &h,
            "hotline_sip_rejections_total{reason=\"tcp_connection_limit\"}"
        ) >= 1.0
    );
    drop(held);
}
