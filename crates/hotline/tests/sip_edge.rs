//! The SIP edge end to end: the real binary on loopback, driven by sipp and by raw sockets.

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

use common::Hotline;

fn assert_sipp(h: &Hotline, scenario: &str, args: &[&str]) {
    let (ok, errors) = h.sipp(scenario, args);
    assert!(ok, "sipp {scenario} {args:?} failed:\n{errors}");
}

fn metric(h: &Hotline, line_start: &str) -> f64 {
    let (status, body) = h.get("/metrics");
    assert_eq!(status, 200);
    body.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn agents_register_with_digest_over_udp_and_tcp() {
    let h = Hotline::demo();
    assert_sipp(
        &h,
        "register.xml",
        &["-s", "1001", "-au", "1001", "-ap", "pass1001", "-m", "1"],
    );
    assert_sipp(
        &h,
        "register.xml",
        &[
            "-s", "1002", "-au", "1002", "-ap", "pass1002", "-m", "1", "-t", "t1",
        ],
    );
    assert_eq!(
        metric(&h, "hotline_sip_registrations_total{outcome=\"ok\"}"),
        2.0
    );
    // The UDP exchange's two transactions (the challenge and the 200) are finished but kept
    // for their timers, to answer a retransmitted REGISTER; the page shows them.
    assert!(
        metric(&h, "hotline_sip_transactions_finished ") >= 2.0,
        "{}",
        h.get("/metrics").1
    );
}

#[test]
fn wrong_password_and_unknown_extension_are_refused_alike() {
    let h = Hotline::demo();
    assert_sipp(
        &h,
        "register-refused.xml",
        &["-s", "1001", "-au", "1001", "-ap", "nope", "-m", "1"],
    );
    assert_sipp(
        &h,
        "register-refused.xml",
        &["-s", "7777", "-au", "7777", "-ap", "pass7777", "-m", "1"],
    );
    // Credentials for another extension do not register this one.
    assert_sipp(
        &h,
        "register-refused.xml",
        &["-s", "1001", "-au", "1002", "-ap", "pass1002", "-m", "1"],
    );
    assert_eq!(
        metric(&h, "hotline_sip_registrations_total{outcome=\"failed\"}"),
        3.0
    );
}

#[test]
fn options_and_unregister() {
    let h = Hotline::demo();
    assert_sipp(&h, "options.xml", &["-m", "1"]);
    assert_sipp(&h, "options.xml", &["-m", "1", "-t", "t1"]);
    assert_sipp(
        &h,
        "unregister.xml",
        &["-s", "1003", "-au", "1003", "-ap", "pass1003", "-m", "1"],
    );
    assert_sipp(
        &h,
        "unregister.xml",
        &[
            "-s", "1004", "-au", "1004", "-ap", "pass1004", "-m", "1", "-t", "t1",
        ],
    );
}

#[test]
fn repeated_failures_lock_the_source_out() {
    let h = Hotline::demo();
    // Five failures in a minute from 127.0.0.2 (the demo trusts only 127.0.0.1 as a trunk).
    for _ in 0..5 {
        assert_sipp(
            &h,
            "register-refused.xml",
            &[
                "-i",
                "127.0.0.2",
                "-s",
                "1005",
                "-au",
                "1005",
                "-ap",
                "guess",
                "-m",
                "1",
            ],
        );
    }
    // Now even the right password from that source is refused before any challenge...
    assert_sipp(
        &h,
        "register-locked.xml",
        &[
            "-i",
            "127.0.0.2",
            "-s",
            "1005",
            "-au",
            "1005",
            "-ap",
            "pass1005",
            "-m",
            "1",
        ],
    );
    // ...while another source registers normally.
    assert_sipp(
        &h,
        "register.xml",
        &[
            "-i",
            "127.0.0.3",
            "-s",
            "1005",
            "-au",
            "1005",
            "-ap",
            "pass1005",
            "-m",
            "1",
        ],
    );
    assert!(metric(&h, "hotline_sip_rejections_total{reason=\"locked_out\"}") >= 1.0);
}

fn options(call_id: &str) -> String {
    format!(
        "OPTIONS sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.3:9;branch=z9hG4bK{call_id}\r\nFrom: <sip:probe@127.0.0.3>;tag=1\r\nTo: <sip:hotline@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Sends `n` OPTIONS from `ip` and collects the status of every answer.
fn blast(h: &Hotline, ip: &str, n: usize) -> Vec<u16> {
    let sock = UdpSocket::bind(format!("{ip}:0")).unwrap();
    sock.connect(h.sip).unwrap();
    for i in 0..n {
        sock.send(options(&format!("rl{ip}-{i}")).as_bytes())
            .unwrap();
    }
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut codes = Vec::new();
    let mut buf = [0u8; 4096];
    while codes.len() < n {
        let Ok(len) = sock.recv(&mut buf) else { break };
        let text = String::from_utf8_lossy(&buf[..len]);
        codes.push(text[8..11].parse().unwrap());
    }
    codes
}

#[test]
fn per_source_rate_limit_answers_503_and_trunks_are_exempt() {
    let h = Hotline::serve_with(|t| {
        t.replace("rate_per_second = 100", "rate_per_second = 20")
            .replace("burst = 200", "burst = 20")
    });
    let codes = blast(&h, "127.0.0.3", 150);
    assert_eq!(codes.len(), 150, "every request is answered, none dropped");
    let limited = codes.iter().filter(|c| **c == 503).count();
    let ok = codes.iter().filter(|c| **c == 200).count();
    assert!(ok >= 20, "the burst passes: {ok}");
    assert!(limited >= 50, "the excess is refused: {limited}");
    assert_eq!(ok + limited, 150);
    // The carrier trunk's address is not limited.
    let trunk = blast(&h, "127.0.0.1", 150);
    assert!(trunk.iter().all(|c| *c == 200), "{trunk:?}");
}

#[test]
fn malformed_input_gets_the_rfc_answer_from_the_binary() {
    let h = Hotline::demo();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(h.sip).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 65_536];
    let mut ask = |msg: &str| -> String {
        sock.send(msg.as_bytes()).unwrap();
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let base = options("malformed");
    assert!(ask(&base.replace("SIP/2.0\r\nVia", "SIP/3.0\r\nVia")).starts_with("SIP/2.0 505"));
    assert!(
        ask(&base
            .replacen("OPTIONS sip", "FROBNICATE sip", 1)
            .replace("1 OPTIONS", "1 FROBNICATE"))
        .starts_with("SIP/2.0 501")
    );
    assert!(ask(&base.replace("Call-ID: malformed\r\n", "")).starts_with("SIP/2.0 400"));
    assert!(
        ask(&base.replace("Content-Length: 0", "Content-Length: 20")).starts_with("SIP/2.0 400")
    );
    let big = base.replace(
        "Max-Forwards: 70\r\n",
        &format!("Max-Forwards: 70\r\nX-Pad: {}\r\n", "p".repeat(20_000)),
    );
    assert!(ask(&big).starts_with("SIP/2.0 513"));
    // Still serving.
    assert!(ask(&base).starts_with("SIP/2.0 200"));
}

#[test]
fn tcp_slow_and_oversized_peers_are_cut_off() {
    let h = Hotline::serve_with(|t| {
        t.replace(
            "[sip.guard]\n",
            "[sip.guard]\ntcp_message_timeout_seconds = 1\n",
        )
    });
    // A peer that starts a message and never finishes it is closed after the message timeout.
    let mut slow = TcpStream::connect(h.sip).unwrap();
    slow.write_all(b"OPTIONS sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 1024];
    assert_eq!(
        slow.read(&mut buf).unwrap(),
        0,
        "the server closes the slow connection"
    );

    // A message announcing a body beyond the limit gets 513 and the connection is closed.
    let mut big = TcpStream::connect(h.sip).unwrap();
    big.write_all(
        options("big-tcp")
            .replace("Via: SIP/2.0/UDP", "Via: SIP/2.0/TCP")
            .replace("Content-Length: 0", "Content-Length: 1000000")
            .as_bytes(),
    )
    .unwrap();
    big.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    big.read_to_end(&mut got).unwrap();
    assert!(
        String::from_utf8_lossy(&got).starts_with("SIP/2.0 513"),
        "{}",
        String::from_utf8_lossy(&got)
    );

    // A peer that vanishes mid-message harms nobody: the next one is served.
    let mut gone = TcpStream::connect(h.sip).unwrap();
    gone.write_all(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h")
        .unwrap();
    drop(gone);
    let mut ok = TcpStream::connect(h.sip).unwrap();
    ok.write_all(
        options("after")
            .replace("SIP/2.0/UDP", "SIP/2.0/TCP")
            .as_bytes(),
    )
    .unwrap();
    ok.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let n = ok.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200"));
    assert!(metric(&h, "hotline_sip_rejections_total{reason=\"tcp_slow\"}") >= 1.0);
}

#[test]
fn health_metrics_and_json_errors() {
    let h = Hotline::demo();
    let (status, body) = h.get("/healthz");
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, body) = h.get("/metrics");
    assert_eq!(status, 200);
    assert!(body.contains("hotline_sip_bindings"), "{body}");
    let (status, body) = h.get("/no/such/thing");
    assert_eq!(status, 404);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "not_found");
}

#[test]
fn check_config_names_file_line_key_and_reason() {
    let exe = env!("CARGO_BIN_EXE_hotline");
    let demo = common::repo().join("examples/demo.toml");
    let ok = Command::new(exe)
        .arg("check-config")
        .arg(&demo)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let text = common::demo_toml().replace(
        "realm = \"hotline\"",
        "realm = \"hotline\"\nrelam = \"typo\"",
    );
    std::fs::write(&bad, &text).unwrap();
    let line = text.lines().position(|l| l.starts_with("relam")).unwrap() + 1;
    let out = Command::new(exe)
        .arg("check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("bad.toml:{line}:1: key `sip.relam`"))
            && err.contains("unknown field"),
        "{err}"
    );

    let missing = Command::new(exe)
        .arg("check-config")
        .arg(dir.path().join("none.toml"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn calls_are_identified_by_trunk_address_or_digest_credentials() {
    use hotline_sip::digest::{Algorithm, ha1};
    // At a call limit of 0 every identified call is refused with 503 and Retry-After, so the
    // answer shows whether the caller was identified (503) or not (401/403).
    let h = Hotline::serve_with(|t| {
        let t = t.replace(
            "service_numbers = [\"95588\"]",
            "service_numbers = [\"95588\"]\nmax_calls = 0",
        );
        format!(
            "{t}\n[[trunks]]\nname = \"backup-carrier\"\nusername = \"carrier2\"\nha1_md5 = \"{}\"\nha1_sha256 = \"{}\"\n",
            ha1(Algorithm::Md5, "carrier2", "hotline", "trunk-secret"),
            ha1(Algorithm::Sha256, "carrier2", "hotline", "trunk-secret"),
        )
    });
    // The trusted carrier address needs no credentials (UDP and TCP).
    assert_sipp(&h, "invite-full.xml", &["-m", "1"]);
    assert_sipp(&h, "invite-full.xml", &["-m", "1", "-t", "t1"]);
    // From elsewhere: the digest trunk, and an agent phone, authenticate...
    assert_sipp(
        &h,
        "invite-auth.xml",
        &[
            "-i",
            "127.0.0.2",
            "-au",
            "carrier2",
            "-ap",
            "trunk-secret",
            "-m",
            "1",
        ],
    );
    assert_sipp(
        &h,
        "invite-auth.xml",
        &[
            "-i",
            "127.0.0.2",
            "-au",
            "1006",
            "-ap",
            "pass1006",
            "-m",
            "1",
        ],
    );
    // ...and wrong or unknown credentials are refused alike.
    assert_sipp(
        &h,
        "invite-refused.xml",
        &[
            "-i",
            "127.0.0.3",
            "-au",
            "carrier2",
            "-ap",
            "guess",
            "-m",
            "1",
        ],
    );
    assert_sipp(
        &h,
        "invite-refused.xml",
        &[
            "-i",
            "127.0.0.3",
            "-au",
            "nobody",
            "-ap",
            "guess",
            "-m",
            "1",
        ],
    );
    assert_eq!(
        metric(
            &h,
            "hotline_sip_responses_total{method=\"INVITE\",status=\"503\"}"
        ),
        4.0
    );
    assert_eq!(
        metric(&h, "hotline_sip_rejections_total{reason=\"call_limit\"}"),
        4.0
    );
}

#[test]
fn sha256_digest_registration_and_replayed_answer() {
    use hotline_sip::digest::{Algorithm, ha1};
    // MD5 alone is offered by default; agent 1007 is offered SHA-256 first.
    let h = Hotline::serve_with(|t| {
        t.replace(
            "extension = \"1007\"",
            "extension = \"1007\"\ndigest_algorithms = [\"SHA-256\", \"MD5\"]",
        )
    });
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(h.sip).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let me = sock.local_addr().unwrap();
    let mut buf = vec![0u8; 65_536];
    let mut ask = |cseq: u32, auth: &str| -> String {
        let msg = format!(
            "REGISTER sip:hotline SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKsha{cseq}\r\nFrom: <sip:1007@hotline>;tag=s1\r\nTo: <sip:1007@hotline>\r\nCall-ID: sha256-reg\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:1007@{me}>\r\nMax-Forwards: 70\r\nExpires: 600\r\n{auth}Content-Length: 0\r\n\r\n"
        );
        sock.send(msg.as_bytes()).unwrap();
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let challenge = ask(1, "");
    assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
    let offered: Vec<&str> = challenge
        .lines()
        .filter(|l| l.starts_with("WWW-Authenticate"))
        .collect();
    assert_eq!(offered.len(), 2, "{challenge}");
    assert!(offered[0].contains("algorithm=SHA-256"), "{challenge}");
    let line = challenge
        .lines()
        .find(|l| l.starts_with("WWW-Authenticate") && l.contains("SHA-256"))
        .expect("a SHA-256 challenge");
    let nonce = line
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let alg = Algorithm::Sha256;
    let h1 = ha1(alg, "1007", "hotline", "pass1007");
    let h2 = alg.hash("REGISTER:sip:hotline");
    let response = alg.hash(&format!("{h1}:{nonce}:00000001:cn0:auth:{h2}"));
    let auth = format!(
        "Authorization: Digest username=\"1007\", realm=\"hotline\", nonce=\"{nonce}\", uri=\"sip:hotline\", response=\"{response}\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"cn0\"\r\n"
    );
    let ok = ask(2, &auth);
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    assert!(ok.contains(&format!("<sip:1007@{me}>;expires=600")), "{ok}");
    // The same answer again (a replay, same nonce count) earns only a fresh challenge.
    let replay = ask(3, &auth);
    assert!(
        replay.starts_with("SIP/2.0 401") && replay.contains("stale=true"),
        "{replay}"
    );
}

#[test]
fn an_offer_without_a_common_codec_gets_488_with_a_warning() {
    let h = Hotline::demo();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(h.sip).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let me = sock.local_addr().unwrap();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
    let msg = format!(
        "INVITE sip:95588@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK488\r\nFrom: <sip:13800138000@{me}>;tag=c1\r\nTo: <sip:95588@{sip}>\r\nCall-ID: codec-488\r\nCSeq: 1 INVITE\r\nContact: <sip:13800138000@{me}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        sip = h.sip,
    );
    sock.send(msg.as_bytes()).unwrap();
    let mut buf = vec![0u8; 65_536];
    // Skip a 100 Trying, if any.
    let answer = loop {
        let n = sock.recv(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !text.starts_with("SIP/2.0 100") {
            break text;
        }
    };
    assert!(answer.starts_with("SIP/2.0 488"), "{answer}");
    let warning = answer
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("warning:"))
        .unwrap_or_else(|| panic!("a Warning header: {answer}"));
    assert!(
        warning.contains("305 hotline \"Incompatible media format"),
        "{warning}"
    );
}

#[test]
fn the_centre_registers_with_its_carrier_answering_the_challenge() {
    let carrier = common::free_port("127.0.0.1");
    // The carrier's registrar is up first; the centre registers as it starts.
    let registrar = std::thread::spawn(move || {
        common::sipp_at(
            "127.0.0.1:9".parse().unwrap(),
            "carrier-registrar.xml",
            &["-p", &carrier.to_string(), "-i", "127.0.0.1", "-m", "1"],
        )
    });
    let _h = Hotline::serve_with_env(
        |t| {
            t.replace(
                "sources = [\"127.0.0.1/32\"]",
                &format!(
                    "sources = [\"127.0.0.1/32\"]\noutbound = \"127.0.0.1:{carrier}\"\n\
                     outbound_username = \"centre\"\noutbound_password_env = \"HOTLINE_TEST_CARRIER_PW\"\n\
                     register = true"
                ),
            )
        },
        &[("HOTLINE_TEST_CARRIER_PW", std::path::Path::new("s3cret"))],
    );
    let (ok, log) = registrar.join().unwrap();
    assert!(ok, "carrier registrar: {log}");
}
