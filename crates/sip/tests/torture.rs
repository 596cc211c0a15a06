//! RFC 4475 torture messages against a running SIP server on loopback UDP and TCP: valid
//! ones are accepted, invalid ones get the answer the RFC names, and the server keeps
//! answering afterwards.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use hotline_sip::{SipMetrics, SipServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rfc4475")
}

struct Case {
    name: String,
    kind: String,
    expect: String,
    bytes: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let manifest = std::fs::read_to_string(fixtures().join("MANIFEST.tsv")).unwrap();
    let cases: Vec<Case> = manifest
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let name = cols[0].to_string();
            let bytes = std::fs::read(fixtures().join(format!("{name}.dat"))).unwrap();
            Case {
                name,
                kind: cols[2].to_string(),
                expect: cols[3].to_string(),
                bytes,
            }
        })
        .collect();
    assert!(cases.len() >= 45, "manifest lists {} messages", cases.len());
    cases
}

async fn server() -> SipServer {
    let cfg = hotline_config::Config::from_toml("demo.toml", hotline_config::DEMO_TOML).unwrap();
    SipServer::start(&cfg, "127.0.0.1:0".parse().unwrap(), SipMetrics::default())
        .await
        .unwrap()
}

/// The final status of the answer to what was sent, or None if nothing came within `wait`.
async fn final_status(sock: &UdpSocket, wait: Duration) -> Option<u16> {
    let mut buf = vec![0u8; 65_536];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => return None,
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        let code: u16 = text.get(8..11).and_then(|c| c.parse().ok()).unwrap_or(0);
        if code >= 200 {
            return Some(code);
        }
    }
}

fn satisfied(expect: &str, status: Option<u16>) -> bool {
    let one = |e: &str| match (e, status) {
        ("accept", Some(s)) => s != 400,
        ("discard", None) => true,
        (code, Some(s)) => code.parse::<u16>().ok() == Some(s),
        _ => false,
    };
    match expect.strip_prefix("either:") {
        Some(alts) => alts.split('|').any(one),
        None => one(expect),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc4475_messages_over_udp() {
    let srv = server().await;
    let mut failures = Vec::new();
    for case in cases() {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sock.connect(srv.udp_addr).await.unwrap();
        sock.send(&case.bytes).await.unwrap();
        // Responses and broken messages get no answer; give them a short window to prove it.
        let wait = if case.kind == "response" {
            Duration::from_millis(300)
        } else {
            Duration::from_secs(3)
        };
        let got = final_status(&sock, wait).await;
        let expect = if case.kind == "response" {
            "discard"
        } else {
            case.expect.as_str()
        };
        if !satisfied(expect, got) {
            failures.push(format!("{}: expected {expect}, got {got:?}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_alive(srv.udp_addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc4475_requests_over_tcp_get_the_same_answers() {
    let srv = server().await;
    let mut failures = Vec::new();
    // Over TCP, Content-Length frames the stream, so the messages whose point is a wrong
    // Content-Length or a datagram's extra bytes are UDP-only cases.
    let udp_only = ["clerr", "ncl", "dblreq", "mcl01", "baddn", "invut", "sdp01"];
    for case in cases()
        .into_iter()
        .filter(|c| c.kind != "response" && !udp_only.contains(&c.name.as_str()))
    {
        let mut s = TcpStream::connect(srv.tcp_addr).await.unwrap();
        s.write_all(&case.bytes).await.unwrap();
        let mut buf = vec![0u8; 65_536];
        let mut got = None;
        let mut have = Vec::new();
        while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            have.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&have);
            if let Some(code) = text
                .split("SIP/2.0 ")
                .filter_map(|r| r.get(..3).and_then(|c| c.parse::<u16>().ok()))
                .find(|c| *c >= 200)
            {
                got = Some(code);
                break;
            }
        }
        // RFC 3261 §18.3: over a stream Content-Length is mandatory; the RFC 2543 message
        // carries none, so over TCP it cannot be framed and 400 is the answer.
        let expect = if case.name == "inv2543" {
            "400"
        } else {
            case.expect.as_str()
        };
        if !satisfied(expect, got) {
            failures.push(format!("{}: expected {expect}, got {got:?}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_alive(srv.udp_addr).await;
}

async fn assert_alive(addr: SocketAddr) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(addr).await.unwrap();
    let options = "OPTIONS sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKalive\r\nFrom: <sip:t@h>;tag=1\r\nTo: <sip:hotline@h>\r\nCall-ID: alive\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    sock.send(options.as_bytes()).await.unwrap();
    assert_eq!(final_status(&sock, Duration::from_secs(3)).await, Some(200));
}
