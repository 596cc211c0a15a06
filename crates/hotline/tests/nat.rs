//! Hosts with their own addresses, in Linux network namespaces this test creates: a carrier,
//! an agent's phone behind a NAT (masquerade with nftables, or iptables), and the centre
//! listening on `0.0.0.0` with an interface towards each. A call from the carrier reaches the
//! NATed agent with audio both ways, and nothing hotline sends names `0.0.0.0`: each peer is
//! given the address of the interface it is reached through.
//!
//! ```text
//!  carrier 198.51.100.2 ── 198.51.100.1 centre 203.0.113.1 ── 203.0.113.2 NAT 10.77.0.1 ── 10.77.0.2 phone
//! ```
//!
//! Needs root (network namespaces); without it the test says why and skips.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::{Net, in_ns, run};
use common::{Hotline, demo_toml, http, login_at, repo, wav_channels_rms};

/// Masquerade everything leaving `ns` through `dev`: nftables, or iptables without it.
fn masquerade(ns: &str, dev: &str) -> Result<(), String> {
    run(&[
        "ip",
        "netns",
        "exec",
        ns,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ])?;
    let rules = format!(
        "table ip nat {{ chain post {{ type nat hook postrouting priority 100; oifname \"{dev}\" masquerade; }}; }}"
    );
    let nft = run(&["ip", "netns", "exec", ns, "nft", &rules]);
    match nft {
        Ok(_) => Ok(()),
        Err(e) => run(&[
            "ip",
            "netns",
            "exec",
            ns,
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            dev,
            "-j",
            "MASQUERADE",
        ])
        .map(|_| ())
        .map_err(|e2| format!("no masquerade: {e}; {e2}")),
    }
}

/// A sipp scenario run inside `ns`, messages traced in `work`; (success, errors).
fn sipp_in(ns: &str, work: &Path, scenario: &str, target: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "sipp", "-sf"])
        .arg(repo().join("tests/sipp").join(scenario))
        .args(["-nostdin", "-trace_err", "-trace_msg", "-timeout", "60s"])
        .args(["-timeout_error", "-max_recv_loops", "1000"])
        .args(args)
        .arg(target)
        .current_dir(work)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("sipp must be installed (Debian package sip-tester)");
    let mut errors = String::from_utf8_lossy(&out.stderr).into_owned();
    errors.push_str(&logs(work, "errors.log"));
    (out.status.success(), errors)
}

/// Everything in `dir`'s files whose names end with `suffix`.
fn logs(dir: &Path, suffix: &str) -> String {
    let mut text = String::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_name().to_string_lossy().ends_with(suffix) {
            text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    text
}

/// The network, or why this machine cannot make one (then the test is skipped).
fn network(tag: &str) -> Result<Net, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("network namespaces need root".into());
    }
    let mut net = Net::new();
    net.add(&format!("{tag}c"))
        .map_err(|e| format!("cannot create a network namespace: {e}"))?;
    Ok(net)
}

#[test]
fn a_carrier_call_reaches_a_nated_agent_with_audio_both_ways_and_no_wildcard_address() {
    let tag = format!("hlnat{}", std::process::id());
    let mut net = match network(&tag) {
        Ok(n) => n,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let (centre, carrier, nat, phone) = (
        format!("{tag}c"),
        format!("{tag}k"),
        format!("{tag}n"),
        format!("{tag}p"),
    );
    for ns in [&carrier, &nat, &phone] {
        net.add(ns).unwrap();
    }
    net.link(
        (&centre, "car", "198.51.100.1/24"),
        (&carrier, "uplink", "198.51.100.2/24"),
    )
    .unwrap();
    net.link(
        (&centre, "wan", "203.0.113.1/24"),
        (&nat, "wan", "203.0.113.2/24"),
    )
    .unwrap();
    net.link(
        (&nat, "lan", "10.77.0.1/24"),
        (&phone, "eth0", "10.77.0.2/24"),
    )
    .unwrap();
    run(&[
        "ip",
        "-n",
        &phone,
        "route",
        "add",
        "default",
        "via",
        "10.77.0.1",
    ])
    .unwrap();
    masquerade(&nat, "wan").unwrap();

    let dir = tempfile::tempdir().unwrap();
    let toml = demo_toml()
        .replace(
            "sources = [\"127.0.0.1/32\"]",
            "sources = [\"198.51.100.2/32\"]",
        )
        .replace(
            "realm = \"hotline\"\n",
            "realm = \"hotline\"\nnat_keepalive_seconds = 5\n",
        )
        + "\n[media]\nrtp_ports = \"31000-31099\"\n";
    assert!(toml.contains("198.51.100.2/32"));
    let data = dir.path().join("data");
    let hotline = Hotline::serve_in_ns(
        &centre,
        &toml,
        &data,
        "0.0.0.0:5060".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    );
    let api = hotline.http;

    // The agent's phone registers from behind the NAT.
    let phone_dir = tempfile::tempdir().unwrap();
    let (ok, log) = sipp_in(
        &phone,
        phone_dir.path(),
        "register.xml",
        "203.0.113.1:5060",
        &[
            "-i",
            "10.77.0.2",
            "-p",
            "5062",
            "-s",
            "1001",
            "-au",
            "1001",
            "-ap",
            "pass1001",
            "-m",
            "1",
        ],
    );
    assert!(ok, "register: {log}");
    in_ns(&centre, move || {
        let token = login_at(api, "agent1001", "pass1001");
        let (status, body) = http(
            api,
            "POST",
            "/api/v1/agents/1001/state",
            Some(&token),
            Some(r#"{"state":"available"}"#),
        );
        assert_eq!(status, 200, "{body}");
    });

    let answer_dir = tempfile::tempdir().unwrap();
    let answer_path = answer_dir.path().to_path_buf();
    let phone_ns = phone.clone();
    let agent = std::thread::spawn(move || {
        sipp_in(
            &phone_ns,
            &answer_path,
            "agent-answers-nat.xml",
            "203.0.113.1:5060",
            &[
                "-i",
                "10.77.0.2",
                "-p",
                "5062",
                "-mp",
                "6000",
                "-rtp_echo",
                "-m",
                "1",
            ],
        )
    });
    let carrier_dir = tempfile::tempdir().unwrap();
    let (ok, log) = sipp_in(
        &carrier,
        carrier_dir.path(),
        "caller-key-talk.xml",
        "198.51.100.1:5060",
        &["-i", "198.51.100.2", "-p", "5070", "-m", "1"],
    );
    assert!(ok, "carrier: {log}");
    let (ok, log) = agent.join().unwrap();
    assert!(ok, "agent phone: {log}");

    // The record closes with a stereo recording: the caller on the left, and on the right
    // the agent's phone echoing what hotline sent it through the NAT.
    let record = in_ns(&centre, move || {
        let sup = login_at(api, "supervisor", "supervisor");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = http(api, "GET", "/api/v1/interactions", Some(&sup), None);
            assert_eq!(status, 200, "{body}");
            let all: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
            if let Some(r) = all.iter().find(|r| r["ended"].is_string()) {
                return r.clone();
            }
            assert!(Instant::now() < deadline, "no record closed: {body}");
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    assert_eq!(record["agent"], "1001", "{record}");
    let recording = record["recording"].as_str().expect("a recording");
    let (channels, left, right) = wav_channels_rms(recording);
    assert_eq!(channels, 2);
    assert!(left > 100.0, "the caller is audible: rms {left}");
    assert!(
        right > 100.0,
        "hotline's audio reached the NATed phone and came back: rms {right}"
    );

    // What the peers received: each is given the address it reaches hotline at, never a
    // wildcard, in Contact and in SDP.
    let carrier_log = logs(carrier_dir.path(), "_messages.log");
    let phone_log =
        logs(answer_dir.path(), "_messages.log") + &logs(phone_dir.path(), "_messages.log");
    for (who, log) in [("carrier", &carrier_log), ("phone", &phone_log)] {
        assert!(!log.is_empty(), "{who}: no message trace");
        assert!(
            !log.contains("0.0.0.0") && !log.contains("[::]"),
            "{who} was sent a wildcard address:\n{log}"
        );
    }
    assert!(
        carrier_log.contains("c=IN IP4 198.51.100.1")
            && carrier_log.contains("<sip:hotline@198.51.100.1:5060>"),
        "the carrier is given the carrier-side address:\n{carrier_log}"
    );
    assert!(
        phone_log.contains("c=IN IP4 203.0.113.1")
            && phone_log.contains("<sip:hotline@203.0.113.1:5060>"),
        "the phone is given the address it reaches:\n{phone_log}"
    );
    // The media came from the configured range.
    let m_port = |log: &str, ip: &str| -> Vec<u16> {
        let mut ports = Vec::new();
        let mut in_ours = false;
        for line in log.lines() {
            let line = line.trim();
            if line.starts_with("c=IN IP4 ") {
                in_ours = line.ends_with(ip);
            }
            if in_ours && let Some(rest) = line.strip_prefix("m=audio ") {
                ports.extend(rest.split(' ').next().and_then(|p| p.parse::<u16>().ok()));
            }
        }
        ports
    };
    let ports: Vec<u16> = m_port(&carrier_log, "198.51.100.1")
        .into_iter()
        .chain(m_port(&phone_log, "203.0.113.1"))
        .collect();
    assert!(ports.len() >= 2, "{ports:?}");
    assert!(
        ports
            .iter()
            .all(|p| (31000..=31099).contains(p) && p % 2 == 0),
        "RTP ports from media.rtp_ports, even: {ports:?}"
    );
    drop(hotline);
    drop(net);
}
