//! The whole call path with the real binary and sipp only: an agent phone registers and its
//! agent logs in through the API; a caller dials 95588, presses 1 by RFC 4733, waits in the
//! accounts queue, is put through to the agent, speaks, and hangs up. The interaction record
//! and the stereo recording must say exactly that.

mod common;

use common::{
    Hotline, Ws, available, free_port, http, login, next_event, open_events, register_all,
    wav_channels_rms,
};

#[test]
fn caller_presses_1_and_talks_to_an_accounts_agent() {
    let h = Hotline::demo();
    // The agent's phone registers from a fixed port, then answers calls on it.
    let port = free_port("127.0.0.1").to_string();
    let (ok, log) = h.sipp(
        "register.xml",
        &[
            "-p", &port, "-s", "1001", "-au", "1001", "-ap", "pass1001", "-m", "1",
        ],
    );
    assert!(ok, "{log}");
    let token = login(&h, "agent1001", "pass1001");
    let (status, body) = http(
        h.http,
        "POST",
        "/api/v1/agents/1001/state",
        Some(&token),
        Some(r#"{"state":"available"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let queue = |name: &str| -> serde_json::Value {
        let (status, body) = http(h.http, "GET", "/api/v1/queues", Some(&token), None);
        assert_eq!(status, 200, "{body}");
        let all: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        all.into_iter().find(|q| q["name"] == name).unwrap()
    };
    // 1001 has accounts and general, not cards.
    assert_eq!(queue("accounts")["agents_available"], 1);
    assert_eq!(queue("general")["agents_available"], 1);
    assert_eq!(queue("cards")["agents_available"], 0);

    let phone = phone(&h, "agent-answers.xml", &port);
    let (ok, log) = h.sipp("caller-key-talk.xml", &["-m", "1"]);
    assert!(ok, "caller: {log}");
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "agent phone: {log}");

    let sup = login(&h, "supervisor", "supervisor");
    let records = settled(&h, 1);
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["channel"], "voice");
    assert_eq!(r["from"], "13800138000");
    assert_eq!(r["to"], "95588");
    assert_eq!(r["queue"], "accounts");
    assert_eq!(r["agent"], "1001");
    assert!(r["answered"].is_string(), "{r}");
    assert!(r["ended"].is_string(), "{r}");
    assert_eq!(r["end_reason"], "caller_hangup");
    let recording = r["recording"].as_str().expect("a recording");
    let (channels, left, right) = wav_channels_rms(recording);
    assert_eq!(channels, 2);
    assert!(
        left > 100.0,
        "the caller is audible on the left: rms {left}"
    );
    assert!(
        right > 100.0,
        "the agent is audible on the right: rms {right}"
    );

    // The agent downloads the recording; the download is audited; others may not.
    let id = r["id"].as_str().unwrap();
    let (status, body) = http(
        h.http,
        "GET",
        &format!("/api/v1/interactions/{id}/recording"),
        Some(&token),
        None,
    );
    assert_eq!(status, 200);
    assert!(body.starts_with("RIFF"), "a WAV file");
    let other = login(&h, "agent1002", "pass1002");
    let (status, _) = http(
        h.http,
        "GET",
        &format!("/api/v1/interactions/{id}/recording"),
        Some(&other),
        None,
    );
    assert_eq!(status, 403);
    let (status, body) = http(h.http, "GET", "/api/v1/audit", Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    let audit: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert!(
        audit.iter().any(|a| a["user"] == "agent1001"
            && a["action"] == "recording_download"
            && a["target"] == id),
        "{body}"
    );
    let (status, _) = http(h.http, "GET", "/api/v1/audit", Some(&token), None);
    assert_eq!(status, 403);

    // An agent sees only its own records; another agent's state is not theirs to change.
    let (status, _) = http(
        h.http,
        "POST",
        "/api/v1/agents/1002/state",
        Some(&token),
        Some(r#"{"state":"available"}"#),
    );
    assert_eq!(status, 403);
}

#[test]
fn api_refuses_bad_logins_tokens_and_bodies_with_json_errors() {
    let h = Hotline::demo();
    let (status, body) = http(
        h.http,
        "POST",
        "/api/v1/login",
        None,
        Some(r#"{"user":"supervisor","password":"nope"}"#),
    );
    assert_eq!(status, 401);
    assert!(body.contains("\"invalid_credentials\""), "{body}");
    let (status, body) = http(h.http, "GET", "/api/v1/queues", Some("forged"), None);
    assert_eq!(status, 401);
    assert!(body.contains("\"unauthorized\""), "{body}");
    let sup = login(&h, "supervisor", "supervisor");
    let (status, body) = http(
        h.http,
        "POST",
        "/api/v1/agents/1001/state",
        Some(&sup),
        Some("{"),
    );
    assert_eq!(status, 400);
    assert!(body.contains("\"bad_request\""), "{body}");
    let (status, body) = http(
        h.http,
        "POST",
        "/api/v1/agents/9999/state",
        Some(&sup),
        Some(r#"{"state":"available"}"#),
    );
    assert_eq!(status, 404, "{body}");
    let (status, body) = http(h.http, "GET", "/api/v1/queues", Some(&sup), None);
    assert_eq!(status, 200);
    let queues: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = queues.iter().filter_map(|q| q["name"].as_str()).collect();
    assert_eq!(
        names,
        vec!["accounts", "cards", "complaints", "general", "chat"]
    );
}

/// Imports `csv` (text) into the data directory `data` with `hotline import-customers`.
fn import_customers(data: &std::path::Path, csv: &str) -> std::process::Output {
    let file = data.with_extension("csv");
    std::fs::write(&file, csv).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args([
            "import-customers",
            file.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

/// The interaction records once at least `n` interactions exist and all have ended: reads,
/// and while that is not so, waits for the next `ended` event (subscribed before reading,
/// so none is missed).
fn settled(h: &Hotline, n: usize) -> Vec<serde_json::Value> {
    let sup = login(h, "supervisor", "supervisor");
    let mut stream = open_events(h, &sup).unwrap();
    loop {
        let all = records(h);
        if all.len() >= n && all.iter().all(|r| r["ended"].is_string()) {
            return all;
        }
        while next_event(&mut stream)["kind"]["type"] != "ended" {}
    }
}

fn records(h: &Hotline) -> Vec<serde_json::Value> {
    let sup = login(h, "supervisor", "supervisor");
    let (status, body) = http(h.http, "GET", "/api/v1/interactions", Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// An agent's phone (a sipp scenario from tests/sipp) on the port it registered from,
/// echoing the audio it gets; runs until its scenario ends.
fn phone(
    h: &Hotline,
    scenario: &'static str,
    port: &str,
) -> std::thread::JoinHandle<(bool, String)> {
    let (sip, port) = (h.sip, port.to_string());
    std::thread::spawn(move || {
        common::sipp_at(
            sip,
            scenario,
            &["-p", &port, "-i", "127.0.0.1", "-rtp_echo", "-m", "1"],
        )
    })
}

fn register_phone(h: &Hotline, ext: &str) -> String {
    let port = free_port("127.0.0.1").to_string();
    let pw = format!("pass{ext}");
    let (ok, log) = h.sipp(
        "register.xml",
        &["-p", &port, "-s", ext, "-au", ext, "-ap", &pw, "-m", "1"],
    );
    assert!(ok, "{log}");
    port
}

#[test]
fn caller_who_hangs_up_in_the_queue_is_an_abandon() {
    let h = Hotline::demo();
    // Nobody is logged in: the caller waits in accounts and gives up.
    let (ok, log) = h.sipp("caller-key-talk.xml", &["-m", "1"]);
    assert!(ok, "{log}");
    let r = &settled(&h, 1)[0];
    assert_eq!(r["queue"], "accounts");
    assert!(r["answered"].is_null(), "{r}");
    assert!(r["agent"].is_null(), "{r}");
    assert_eq!(r["end_reason"], "abandoned");
    assert!(
        r["abandoned_after_secs"].as_f64().unwrap_or(0.0) > 1.0,
        "{r}"
    );
}

#[test]
fn an_agent_who_does_not_answer_is_skipped_and_the_next_takes_the_call() {
    let h = Hotline::serve_with(|t| {
        t.replace(
            "service_numbers = [\"95588\"]",
            "service_numbers = [\"95588\"]\nring_timeout_seconds = 2",
        )
    });
    // 1001 becomes available first, so it is the longest idle and is rung first.
    let silent_port = register_phone(&h, "1001");
    let answering_port = register_phone(&h, "1002");
    available(&h, "1001");
    available(&h, "1002");
    let silent = phone(&h, "agent-no-answer.xml", &silent_port);
    let answering = phone(&h, "agent-answers.xml", &answering_port);
    let caller = h.dir.path().join("caller-long.xml");
    let scenario = std::fs::read_to_string(common::repo().join("tests/sipp/caller-key-talk.xml"))
        .unwrap()
        .replace(
            "<pause milliseconds=\"4000\"/>",
            "<pause milliseconds=\"7000\"/>",
        );
    std::fs::write(&caller, scenario).unwrap();
    let (ok, log) = h.sipp(caller.to_str().unwrap(), &["-m", "1"]);
    assert!(ok, "caller: {log}");
    let (ok, log) = silent.join().unwrap();
    assert!(ok, "silent phone: {log}");
    let (ok, log) = answering.join().unwrap();
    assert!(ok, "answering phone: {log}");
    let r = &settled(&h, 1)[0];
    assert_eq!(r["agent"], "1002", "{r}");
    assert!(r["answered"].is_string(), "{r}");
    assert_eq!(r["end_reason"], "caller_hangup");
}

#[test]
fn a_phone_on_do_not_disturb_is_rung_less_and_less_then_its_agent_goes_not_ready() {
    // A 1 s retry so that the back-off (1 s, then 2 s) fits in a short call.
    let h = Hotline::serve_with(|t| format!("{t}\n[routing]\nretry_seconds = 1\n"));
    let feed = common::Feed::open(&h);
    let port = register_phone(&h, "1001");
    available(&h, "1001");
    // The phone answers every INVITE with 486 Busy Here (do-not-disturb); three of them.
    let (sip, p) = (h.sip, port.clone());
    let phone = std::thread::spawn(move || {
        common::sipp_at(
            sip,
            "agent-busy.xml",
            &["-p", &p, "-i", "127.0.0.1", "-m", "3"],
        )
    });
    let caller = scenario_with(
        &h,
        "caller-key-talk.xml",
        &[(
            "<pause milliseconds=\"4000\"/>",
            "<pause milliseconds=\"8000\"/>",
        )],
    );
    let (ok, log) = h.sipp(&caller, &["-m", "1"]);
    assert!(ok, "caller: {log}");
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "the phone was rung three times: {log}");
    let all = feed.wait(
        std::time::Duration::from_secs(20),
        "the call's end",
        |all| common::count(all, "ended") == 1,
    );
    let at = |e: &serde_json::Value| {
        hotline_model::Timestamp::parse_rfc3339(e["at"].as_str().unwrap_or_default())
            .map(|t| t.unix_nanos() as f64 / 1e9)
            .unwrap_or(0.0)
    };
    let rejected: Vec<&serde_json::Value> = all
        .iter()
        .filter(|e| common::kind(e) == "offer_rejected")
        .collect();
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    for r in &rejected {
        assert!(
            r.to_string().contains("rejected 486"),
            "the phone's answer is the reason: {r}"
        );
    }
    // Each refusal of the same caller waits twice as long as the one before.
    let offered: Vec<f64> = all
        .iter()
        .filter(|e| common::kind(e) == "offered")
        .map(at)
        .collect();
    assert_eq!(offered.len(), 3, "rung no more once not ready");
    let (first, second) = (offered[1] - offered[0], offered[2] - offered[1]);
    assert!(
        first >= 0.9 && second >= 1.9 && second > first * 1.5,
        "waits between offers: {first:.2} s, {second:.2} s"
    );
    // The third decline in a row: the agent is not ready, by the routing engine.
    let nr = all
        .iter()
        .find(|e| e["state"]["state"] == "not_ready")
        .unwrap_or_else(|| panic!("no not_ready in {all:?}"));
    assert_eq!(nr["agent"], "1001", "{nr}");
    assert_eq!(nr["state"]["reason"], "declined", "{nr}");
    assert_eq!(nr["by"], "routing", "{nr}");
    let r = &settled(&h, 1)[0];
    assert_eq!(r["end_reason"], "abandoned", "{r}");
}

/// A minimal WebSocket client: the opening handshake, then server frames (unmasked).
#[test]
fn event_stream_shows_supervisors_everything_and_agents_their_own() {
    let h = Hotline::demo();
    let sup = login(&h, "supervisor", "supervisor");
    let mut all = open_events(&h, &sup).unwrap();
    let other = login(&h, "agent1002", "pass1002");
    let mut agent = open_events(&h, &other).unwrap();
    // A forged token is refused before the upgrade.
    let refused = open_events(&h, "nope").err().unwrap_or_default();
    assert!(refused.contains(" 401 "), "{refused}");

    available(&h, "1001");
    let first = next_event(&mut all);
    assert_eq!(first["stream"], "agent", "{first}");
    assert_eq!(first["agent"], "1001", "{first}");

    // A caller waits in accounts (1001 has no phone registered, so the offer fails) and gives up.
    let (ok, log) = h.sipp("caller-key-talk.xml", &["-m", "1"]);
    assert!(ok, "{log}");
    let mut kinds = Vec::new();
    loop {
        let e = next_event(&mut all);
        let kind = e["kind"]["type"].as_str().unwrap_or("").to_string();
        kinds.push(kind.clone());
        if kind == "ended" {
            break;
        }
    }
    for k in [
        "arrived",
        "flow_step",
        "queued",
        "offered",
        "offer_rejected",
        "abandoned",
        "ended",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }

    // Agent 1002 saw none of that: the first thing it hears of is its own state change.
    let (status, body) = http(
        h.http,
        "POST",
        "/api/v1/agents/1002/state",
        Some(&other),
        Some(r#"{"state":"not_ready","reason":"training"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let mine = next_event(&mut agent);
    assert_eq!(mine["stream"], "agent", "{mine}");
    assert_eq!(mine["agent"], "1002", "{mine}");
    assert_eq!(mine["state"]["state"], "not_ready", "{mine}");
}

#[test]
fn imported_customers_are_recognised_by_their_number_when_they_call() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = import_customers(
        &data,
        "id,name,phone,accounts,vip,language\nC1,张三,13800138000,6222001,true,zh\n,No Id,13700137000,,,\nC3,李四,13900139000;01088886666,,false,en\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // One bad row: reported by line, the others imported, exit 2 to say not everything went in.
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stdout.contains("2 customers imported, 1 rows rejected"),
        "{stdout}"
    );
    assert!(stderr.contains("data.csv:3:"), "{stderr}");

    let h = Hotline::demo_in(&data);
    let (ok, log) = h.sipp("caller-key-talk.xml", &["-m", "1"]);
    assert!(ok, "{log}");
    let r = &settled(&h, 1)[0];
    assert_eq!(r["from"], "13800138000");
    assert_eq!(r["customer"], "C1", "{r}");
}

#[test]
fn kill_9_loses_nothing_acknowledged_and_closes_cut_off_calls_as_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut h = Hotline::demo_in(&data);
    // Five calls that end (callers give up in the queue), all at once.
    let (ok, log) = h.sipp("caller-key-talk.xml", &["-m", "5", "-r", "10", "-l", "5"]);
    assert!(ok, "{log}");
    let before = settled(&h, 5);
    assert_eq!(before.len(), 5);
    assert!(
        before.iter().all(|r| r["end_reason"] == "abandoned"),
        "{before:?}"
    );

    // Three more callers wait in the queue when the process is killed.
    let sup = login(&h, "supervisor", "supervisor");
    let mut stream = open_events(&h, &sup).unwrap();
    let long = h.dir.path().join("caller-waits.xml");
    let scenario = std::fs::read_to_string(common::repo().join("tests/sipp/caller-key-talk.xml"))
        .unwrap()
        .replace(
            "<pause milliseconds=\"4000\"/>",
            "<pause milliseconds=\"60000\"/>",
        );
    std::fs::write(&long, scenario).unwrap();
    let sip = h.sip;
    let long_path = long.to_str().unwrap().to_string();
    let callers = std::thread::spawn(move || {
        common::sipp_at(sip, &long_path, &["-m", "3", "-r", "10", "-l", "3"])
    });
    let mut queued = 0;
    while queued < 3 {
        if next_event(&mut stream)["kind"]["type"] == "queued" {
            queued += 1;
        }
    }
    h.kill9();
    let _ = callers.join(); // those callers fail: the server is gone

    let h = Hotline::demo_in(&data);
    let after = records(&h);
    assert_eq!(after.len(), 8, "{after:?}");
    for r in &before {
        let same = after
            .iter()
            .find(|a| a["id"] == r["id"])
            .expect("acknowledged record kept");
        assert_eq!(same["end_reason"], "abandoned");
        assert_eq!(same["ended"], r["ended"]);
    }
    let interrupted: Vec<_> = after
        .iter()
        .filter(|r| r["end_reason"] == "interrupted")
        .collect();
    assert_eq!(interrupted.len(), 3, "{after:?}");
    assert!(
        interrupted
            .iter()
            .all(|r| r["queue"] == "accounts" && r["ended"].is_string())
    );
}

/// A pcap of A-law RTP (payload type 8) from 127.0.0.1:6000 carrying the in-band DTMF tone of
/// `key` for 200 ms, framed by silence, at 20 ms a packet, as sipp's `play_pcap_audio` plays.
fn inband_pcap(key: char, path: &std::path::Path) {
    const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    let pos = "123A456B789C*0#D".find(key).unwrap();
    let (low, high) = (ROWS[pos / 4], COLS[pos % 4]);
    // Packets 5..15 carry the tone (200 ms), the rest silence.
    let pcm: Vec<i16> = (0..25 * 160u32)
        .map(|i| {
            if (5 * 160..15 * 160).contains(&i) {
                let t = f64::from(i) / 8000.0;
                let v = 8000.0
                    * ((2.0 * std::f64::consts::PI * low * t).sin()
                        + (2.0 * std::f64::consts::PI * high * t).sin());
                v as i16
            } else {
                0
            }
        })
        .collect();
    common::rtp_pcap(path, hotline_media::Codec::Pcma, &pcm);
}

#[test]
fn every_menu_key_reaches_its_queue_by_rfc_4733_and_in_band() {
    let h = Hotline::demo();
    let base =
        std::fs::read_to_string(common::repo().join("tests/sipp/caller-key-talk.xml")).unwrap();
    // (key, how it is sent, the caller's number, the queue it must reach)
    let cases = [
        ('2', "rfc4733", "13800000002", "cards"),
        ('9', "rfc4733", "13800000009", "complaints"),
        ('0', "rfc4733", "13800000000", "general"),
        ('1', "inband", "13900000001", "accounts"),
        ('9', "inband", "13900000009", "complaints"),
    ];
    let mut runs = Vec::new();
    for (key, how, number, _) in cases {
        let pcap = match how {
            "rfc4733" => format!("/usr/share/sip-tester/dtmf_2833_{key}.pcap"),
            _ => {
                let p = h.dir.path().join(format!("inband_{key}.pcap"));
                inband_pcap(key, &p);
                p.display().to_string()
            }
        };
        let scenario = base
            .replace("/usr/share/sip-tester/dtmf_2833_1.pcap", &pcap)
            .replace("13800138000", number);
        let file = h.dir.path().join(format!("caller-{how}-{key}.xml"));
        std::fs::write(&file, scenario).unwrap();
        let sip = h.sip;
        runs.push(std::thread::spawn(move || {
            common::sipp_at(sip, file.to_str().unwrap(), &["-m", "1"])
        }));
    }
    for r in runs {
        let (ok, log) = r.join().unwrap();
        assert!(ok, "{log}");
    }
    let all = settled(&h, cases.len());
    for (key, how, number, queue) in cases {
        let r = all
            .iter()
            .find(|r| r["from"] == number)
            .expect("a record per caller");
        assert_eq!(r["queue"], queue, "key {key} sent {how}: {r}");
    }
}

#[test]
fn after_the_agent_hangs_up_the_survey_score_lands_on_the_record() {
    let h = Hotline::demo();
    let port = register_phone(&h, "1001");
    available(&h, "1001");
    let phone = phone(&h, "agent-hangs-up.xml", &port);
    let (ok, log) = h.sipp("caller-survey.xml", &["-m", "1"]);
    assert!(ok, "caller: {log}");
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "agent phone: {log}");
    let r = &settled(&h, 1)[0];
    assert_eq!(r["agent"], "1001", "{r}");
    assert_eq!(r["survey"], 4, "{r}");
    assert_eq!(r["end_reason"], "agent_hangup", "{r}");
}

#[test]
fn caller_hanging_up_while_the_agent_rings_cancels_the_agent_leg() {
    let h = Hotline::demo();
    let port = register_phone(&h, "1001");
    available(&h, "1001");
    // The phone rings and is never picked up; it expects hotline's CANCEL.
    let phone = phone(&h, "agent-no-answer.xml", &port);
    // The caller gives up after a few seconds, well inside the 20 s ring timeout.
    let (ok, log) = h.sipp("caller-key-talk.xml", &["-m", "1"]);
    assert!(ok, "caller: {log}");
    let (ok, log) = phone.join().unwrap();
    assert!(
        ok,
        "the phone got CANCEL, answered 487 and got the ACK: {log}"
    );
    let r = &settled(&h, 1)[0];
    assert!(r["answered"].is_null(), "{r}");
    assert_eq!(r["end_reason"], "abandoned", "{r}");
}

#[test]
fn wrap_up_and_notes_show_in_the_customers_history() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = import_customers(&data, "id,name,phone,vip\nC1,张三,13800138000,true\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let h = Hotline::demo_in(&data);
    let port = register_phone(&h, "1001");
    available(&h, "1001");
    let phone = phone(&h, "agent-hangs-up.xml", &port);
    let (ok, log) = h.sipp("caller-survey.xml", &["-m", "1"]);
    assert!(ok, "caller: {log}");
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "agent phone: {log}");
    let r = settled(&h, 1).remove(0);
    assert_eq!(r["customer"], "C1", "{r}");
    let id = r["id"].as_str().unwrap().to_string();

    let agent = login(&h, "agent1001", "pass1001");
    let post = |token: &str, path: &str, body: &str| {
        http(
            h.http,
            "POST",
            &format!("/api/v1/interactions/{id}/{path}"),
            Some(token),
            Some(body),
        )
    };
    let (status, body) = post(&agent, "notes", r#"{"text":"asked about card fees"}"#);
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(
        &agent,
        "wrapup",
        r#"{"disposition":"resolved","notes":"explained the fees"}"#,
    );
    assert_eq!(status, 200, "{body}");
    // Another agent may not touch this interaction.
    let other = login(&h, "agent1002", "pass1002");
    let (status, _) = post(&other, "wrapup", r#"{"disposition":"resolved"}"#);
    assert_eq!(status, 403);
    let (status, body) = post(&agent, "wrapup", r#"{"disposition":""}"#);
    assert_eq!(status, 400, "{body}");

    // What the next agent's screen shows when this customer calls again.
    let (status, body) = http(
        h.http,
        "GET",
        "/api/v1/customers?phone=13800138000",
        Some(&other),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["customer"]["id"], "C1");
    assert_eq!(v["customer"]["vip"], true);
    let last = &v["history"][0];
    assert_eq!(last["interaction"]["id"], id.as_str(), "{v}");
    assert_eq!(last["interaction"]["disposition"], "resolved", "{v}");
    assert_eq!(last["interaction"]["survey"], 4, "{v}");
    let notes: Vec<&str> = last["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["text"].as_str())
        .collect();
    assert!(notes.contains(&"asked about card fees"), "{notes:?}");
    let (status, body) = http(h.http, "GET", "/api/v1/customers/C9", Some(&other), None);
    assert_eq!(status, 404);
    assert!(body.contains("unknown_customer"), "{body}");
}

#[test]
fn every_route_in_the_openapi_document_is_served() {
    let h = Hotline::demo();
    let (status, body) = http(h.http, "GET", "/api/v1/openapi.json", None, None);
    assert_eq!(status, 200);
    let spec: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() >= 12, "{}", paths.len());
    for (path, methods) in paths {
        let concrete = path
            .replace("{ext}", "1001")
            .replace("{id}", "01M84SXX3ZBDRG27282N9ZRAPW");
        for method in methods.as_object().unwrap().keys() {
            if path == "/api/v1/events" {
                continue; // a WebSocket upgrade; tested on its own
            }
            let (status, body) = http(h.http, &method.to_uppercase(), &concrete, None, Some("{}"));
            // Unauthenticated calls may be refused, but the route must exist.
            assert!(
                !(status == 404 && body.contains("\"not_found\"")) && status != 405,
                "{method} {path}: {status} {body}"
            );
        }
    }
}

#[test]
fn a_repeat_complainer_goes_to_a_senior_first() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = import_customers(&data, "id,name,phone\nC7,王五,13800138000\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let h = Hotline::demo_in(&data);
    let complaint = h.dir.path().join("caller-complains.xml");
    std::fs::write(
        &complaint,
        std::fs::read_to_string(common::repo().join("tests/sipp/caller-key-talk.xml"))
            .unwrap()
            .replace("dtmf_2833_1.pcap", "dtmf_2833_9.pcap"),
    )
    .unwrap();
    let complaint = complaint.to_str().unwrap().to_string();
    // Two complaints nobody resolved (nobody was there to answer them).
    let (ok, log) = h.sipp(&complaint, &["-m", "2", "-r", "10", "-l", "2"]);
    assert!(ok, "{log}");
    let (status, body) = http(
        h.http,
        "GET",
        "/api/v1/customers/C7",
        Some(&login(&h, "supervisor", "supervisor")),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"repeat_complaint\":true"), "{body}");

    // 1005 handles complaints and has been free longest; 1009 is a senior.
    let _plain = register_phone(&h, "1005");
    let senior = register_phone(&h, "1009");
    available(&h, "1005");
    available(&h, "1009");
    let phone = phone(&h, "agent-answers.xml", &senior);
    let (ok, log) = h.sipp(&complaint, &["-m", "1"]);
    assert!(ok, "{log}");
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "senior's phone: {log}");
    let all = settled(&h, 3);
    let third = all
        .iter()
        .find(|r| r["answered"].is_string())
        .expect("the third call answered");
    assert_eq!(third["agent"], "1009", "{third}");
    assert_eq!(third["queue"], "complaints", "{third}");
}

#[test]
fn an_agent_escalates_a_call_to_a_senior_through_the_api() {
    let h = Hotline::demo();
    let first = register_phone(&h, "1001");
    let senior = register_phone(&h, "1009");
    available(&h, "1001"); // free longest: the call goes here first
    available(&h, "1009");
    let sup = login(&h, "supervisor", "supervisor");
    let mut stream = open_events(&h, &sup).unwrap();
    let sip = h.sip;
    let phones: Vec<_> = [first, senior]
        .into_iter()
        .map(|port| phone(&h, "agent-answers.xml", &port))
        .collect();
    let caller = h.dir.path().join("caller-long.xml");
    std::fs::write(
        &caller,
        std::fs::read_to_string(common::repo().join("tests/sipp/caller-key-talk.xml"))
            .unwrap()
            .replace(
                "<pause milliseconds=\"4000\"/>",
                "<pause milliseconds=\"9000\"/>",
            ),
    )
    .unwrap();
    let caller = caller.to_str().unwrap().to_string();
    let call = std::thread::spawn(move || common::sipp_at(sip, &caller, &["-m", "1"]));

    let answered_by = |stream: &mut Ws| loop {
        let e = next_event(stream);
        if e["kind"]["type"] == "answered" {
            return (
                e["interaction"].as_str().unwrap().to_string(),
                e["kind"]["agent"].as_str().unwrap().to_string(),
            );
        }
    };
    let (id, agent) = answered_by(&mut stream);
    assert_eq!(agent, "1001");
    let token = login(&h, "agent1001", "pass1001");
    let (status, body) = http(
        h.http,
        "POST",
        &format!("/api/v1/interactions/{id}/escalate"),
        Some(&token),
        Some(r#"{"reason":"asks for a manager"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let (again, agent) = answered_by(&mut stream);
    assert_eq!((again.as_str(), agent.as_str()), (id.as_str(), "1009"));

    let (ok, log) = call.join().unwrap();
    assert!(ok, "caller: {log}");
    for p in phones {
        let (ok, log) = p.join().unwrap();
        assert!(ok, "phone: {log}");
    }
    let r = settled(&h, 1)
        .into_iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap();
    assert_eq!(r["agent"], "1009", "{r}");
    assert_eq!(r["escalated"], true, "{r}");
    assert_eq!(r["end_reason"], "caller_hangup", "{r}");
    // Once it is over, there is nothing left to escalate.
    let (status, body) = http(
        h.http,
        "POST",
        &format!("/api/v1/interactions/{id}/escalate"),
        Some(&login(&h, "supervisor", "supervisor")),
        None,
    );
    assert_eq!(status, 409, "{body}");
}

#[test]
fn an_agent_ends_the_call_from_the_api_and_the_survey_follows() {
    let h = Hotline::demo();
    let port = register_phone(&h, "1001");
    available(&h, "1001");
    let sup = login(&h, "supervisor", "supervisor");
    let mut stream = open_events(&h, &sup).unwrap();
    let sip = h.sip;
    // This phone answers and then expects hotline's BYE.
    let phone = phone(&h, "agent-answers.xml", &port);
    let call = std::thread::spawn(move || common::sipp_at(sip, "caller-survey.xml", &["-m", "1"]));
    let id = loop {
        let e = next_event(&mut stream);
        if e["kind"]["type"] == "answered" {
            break e["interaction"].as_str().unwrap().to_string();
        }
    };
    let token = login(&h, "agent1001", "pass1001");
    let (status, body) = http(
        h.http,
        "POST",
        &format!("/api/v1/interactions/{id}/hangup"),
        Some(&token),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "phone: {log}");
    let (ok, log) = call.join().unwrap();
    assert!(ok, "caller: {log}");
    let r = settled(&h, 1).remove(0);
    assert_eq!(r["survey"], 4, "{r}");
    assert_eq!(r["end_reason"], "agent_hangup", "{r}");
}

#[test]
fn an_administrator_switches_on_the_outage_announcement_for_every_caller() {
    let h = Hotline::demo();
    let sup = login(&h, "supervisor", "supervisor");
    let (status, _) = http(
        h.http,
        "POST",
        "/api/v1/fault-notice",
        Some(&sup),
        Some(r#"{"on":true}"#),
    );
    assert_eq!(status, 403, "only an administrator may");
    let admin = login(&h, "admin", "admin");
    let (status, body) = http(
        h.http,
        "POST",
        "/api/v1/fault-notice",
        Some(&admin),
        Some(r#"{"on":true}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"fault_notice\":true"), "{body}");

    let mut stream = open_events(&h, &sup).unwrap();
    let (ok, log) = h.sipp("caller-key-talk.xml", &["-m", "1"]);
    assert!(ok, "{log}");
    let mut heard = false;
    loop {
        let e = next_event(&mut stream);
        let kind = &e["kind"];
        if kind["type"] == "flow_step"
            && kind["detail"]
                .as_str()
                .is_some_and(|d| d.contains("fault notice"))
        {
            heard = true;
        }
        if kind["type"] == "ended" {
            break;
        }
    }
    assert!(heard, "the caller heard the outage announcement");
    let (status, body) = http(h.http, "GET", "/api/v1/audit", Some(&admin), None);
    assert_eq!(status, 200);
    assert!(body.contains("fault_notice_on"), "{body}");
}

/// A copy of a scenario from tests/sipp with some text replaced, in the test's directory.
fn scenario_with(h: &Hotline, name: &str, edits: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(common::repo().join("tests/sipp").join(name)).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{name} has no {from}");
        text = text.replace(from, to);
    }
    let path = h.dir.path().join(format!("edited-{name}"));
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// The next event of one of `types`, skipping the others.
fn next_of(ws: &mut Ws, types: &[&str]) -> serde_json::Value {
    loop {
        let e = next_event(ws);
        if types.iter().any(|t| e["kind"]["type"] == *t) {
            return e;
        }
    }
}

#[test]
fn a_callback_keeps_the_callers_place_and_rings_the_agent_then_the_customer() {
    let carrier = free_port("127.0.0.1");
    let h = Hotline::serve_with(|t| {
        t.replace(
            "sources = [\"127.0.0.1/32\"]",
            &format!("sources = [\"127.0.0.1/32\"]\noutbound = \"127.0.0.1:{carrier}\""),
        )
    });
    let agent_port = register_phone(&h, "1001");
    let sup = login(&h, "supervisor", "supervisor");
    let mut stream = open_events(&h, &sup).unwrap();
    let sip = h.sip;

    // A waits for accounts, presses 1 to be called back, and is released.
    let a = std::thread::spawn(move || common::sipp_at(sip, "caller-callback.xml", &["-m", "1"]));
    let asked = next_of(&mut stream, &["callback_requested"]);
    let first_call = asked["interaction"].as_str().unwrap().to_string();
    assert_eq!(asked["kind"]["keeps_place"], true, "{asked}");
    let arrived = loop {
        let e = next_of(&mut stream, &["arrived"]);
        if e["kind"]["channel"] == "callback" {
            break e;
        }
    };
    let callback = arrived["interaction"].as_str().unwrap().to_string();
    assert_eq!(arrived["kind"]["from"], "13800138000", "{arrived}");
    let (ok, log) = a.join().unwrap();
    assert!(ok, "caller A: {log}");

    // B calls later and waits on the line.
    let b_scenario = scenario_with(
        &h,
        "caller-key-talk.xml",
        &[(
            "<pause milliseconds=\"4000\"/>",
            "<pause milliseconds=\"8000\"/>",
        )],
    );
    let b = std::thread::spawn(move || common::sipp_at(sip, &b_scenario, &["-m", "1"]));
    let b_call = loop {
        let e = next_of(&mut stream, &["queued"]);
        if e["interaction"] != callback.as_str() && e["interaction"] != first_call.as_str() {
            break e["interaction"].as_str().unwrap().to_string();
        }
    };

    // The customer's phone behind the carrier answers and hangs up after a while.
    let customer = std::thread::spawn(move || {
        common::sipp_at(
            sip,
            "agent-hangs-up.xml",
            &[
                "-p",
                &carrier.to_string(),
                "-i",
                "127.0.0.1",
                "-rtp_echo",
                "-m",
                "1",
            ],
        )
    });
    let agent = phone(&h, "agent-answers.xml", &agent_port);
    available(&h, "1001");
    // The callback was booked first, so it comes first although B is on the line.
    let offered = next_of(&mut stream, &["offered"]);
    assert_eq!(
        offered["interaction"],
        callback.as_str(),
        "{offered}; B is {b_call}"
    );
    let answered = next_of(&mut stream, &["answered"]);
    assert_eq!(answered["interaction"], callback.as_str(), "{answered}");
    let (ok, log) = customer.join().unwrap();
    assert!(ok, "customer: {log}");
    let (ok, log) = agent.join().unwrap();
    assert!(ok, "agent: {log}");
    let (ok, log) = b.join().unwrap();
    assert!(ok, "caller B: {log}");

    let all = settled(&h, 3);
    let find = |id: &str| all.iter().find(|r| r["id"] == id).unwrap().clone();
    let first = find(&first_call);
    assert_eq!(first["end_reason"], "callback", "{first}");
    assert_eq!(first["callback_number"], "13800138000", "{first}");
    let cb = find(&callback);
    assert_eq!(cb["channel"], "callback", "{cb}");
    assert_eq!(cb["agent"], "1001", "{cb}");
    assert_eq!(cb["queue"], "accounts", "{cb}");
    assert_eq!(cb["end_reason"], "caller_hangup", "{cb}");
    let path = cb["recording"].as_str().expect("the callback is recorded");
    let (channels, _, _) = wav_channels_rms(path);
    assert_eq!(channels, 2, "{cb}");
    let b_rec = find(&b_call);
    assert!(
        b_rec["answered"].is_null(),
        "B was not served before the callback: {b_rec}"
    );
}

#[test]
fn a_callback_goes_out_through_the_trunk_answering_its_challenge_with_caller_id_and_e164() {
    let carrier = free_port("127.0.0.1");
    let h = Hotline::serve_with_env(
        |t| {
            t.replace(
                "sources = [\"127.0.0.1/32\"]",
                &format!(
                    "sources = [\"127.0.0.1/32\"]\noutbound = \"127.0.0.1:{carrier}\"\n\
                     outbound_username = \"centre\"\noutbound_password_env = \"HOTLINE_TEST_CARRIER_PW\"\n\
                     caller_id = \"+861095588\"\nasserted_identity = \"+861095588\"\ncountry_code = \"86\""
                ),
            )
        },
        &[("HOTLINE_TEST_CARRIER_PW", std::path::Path::new("s3cret"))],
    );
    let agent_port = register_phone(&h, "1001");
    let sup = login(&h, "supervisor", "supervisor");
    let mut stream = open_events(&h, &sup).unwrap();
    let sip = h.sip;
    // The caller (13800138000) books a callback and is released.
    let (ok, log) = common::sipp_at(sip, "caller-callback.xml", &["-m", "1"]);
    assert!(ok, "caller: {log}");
    let arrived = loop {
        let e = next_of(&mut stream, &["arrived"]);
        if e["kind"]["channel"] == "callback" {
            break e;
        }
    };
    let callback = arrived["interaction"].as_str().unwrap().to_string();
    // The carrier challenges the call out and checks what it is given (see the scenario).
    let customer = std::thread::spawn(move || {
        common::sipp_at(
            sip,
            "carrier-challenges.xml",
            &[
                "-p",
                &carrier.to_string(),
                "-i",
                "127.0.0.1",
                "-rtp_echo",
                "-m",
                "1",
            ],
        )
    });
    let agent = phone(&h, "agent-answers.xml", &agent_port);
    available(&h, "1001");
    let (ok, log) = customer.join().unwrap();
    assert!(ok, "carrier: {log}");
    let (ok, log) = agent.join().unwrap();
    assert!(ok, "agent: {log}");
    let all = settled(&h, 2);
    let cb = all.iter().find(|r| r["id"] == callback.as_str()).unwrap();
    assert_eq!(cb["agent"], "1001", "{cb}");
    assert_eq!(cb["end_reason"], "caller_hangup", "{cb}");
}

#[test]
fn a_callback_through_a_trunk_that_requires_srtp_is_not_placed_over_udp() {
    // Calls out go over UDP: a trunk with `srtp = "required"` cannot be called securely, so
    // the callback fails with that reason and nothing is sent to the carrier. (Callers come
    // in through the demo trunk; the secure trunk only takes calls out.)
    let carrier = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let carrier_port = carrier.local_addr().unwrap().port();
    let h = Hotline::serve_with(|t| {
        t.replace(
            "sources = [\"127.0.0.1/32\"]",
            &format!(
                "sources = [\"127.0.0.1/32\"]\n\n[[trunks]]\nname = \"secure\"\n\
                 sources = [\"192.0.2.0/24\"]\noutbound = \"127.0.0.1:{carrier_port}\"\n\
                 srtp = \"required\""
            ),
        )
    });
    let agent_port = register_phone(&h, "1001");
    let sup = login(&h, "supervisor", "supervisor");
    let mut stream = open_events(&h, &sup).unwrap();
    let sip = h.sip;
    let (ok, log) = common::sipp_at(sip, "caller-callback.xml", &["-m", "1"]);
    assert!(ok, "caller: {log}");
    let arrived = loop {
        let e = next_of(&mut stream, &["arrived"]);
        if e["kind"]["channel"] == "callback" {
            break e;
        }
    };
    let callback = arrived["interaction"].as_str().unwrap().to_string();
    // The agent answers; hotline does not dial the customer and hangs up on the agent.
    let agent = phone(&h, "agent-answers.xml", &agent_port);
    available(&h, "1001");
    let failed = loop {
        let e = next_of(&mut stream, &["flow_step"]);
        if e["interaction"] != callback.as_str() {
            continue;
        }
        assert_ne!(e["kind"]["step"], "callback.dial", "dialled anyway: {e}");
        if e["kind"]["step"] == "callback.failed" {
            break e;
        }
    };
    let why = failed["kind"]["detail"].as_str().unwrap_or_default();
    assert!(why.contains("SRTP required by the trunk"), "{failed}");
    let (ok, log) = agent.join().unwrap();
    assert!(ok, "agent (released with a BYE): {log}");
    // Nothing reached the carrier.
    carrier
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 2048];
    assert!(
        carrier.recv(&mut buf).is_err(),
        "the carrier was sent: {}",
        String::from_utf8_lossy(&buf)
    );
    let all = settled(&h, 2);
    let cb = all.iter().find(|r| r["id"] == callback.as_str()).unwrap();
    assert_eq!(cb["agent"], "1001", "{cb}");
}

#[test]
fn an_agent_transfers_the_caller_to_a_colleague_by_refer() {
    let h = Hotline::demo();
    let first = register_phone(&h, "1001");
    let colleague = register_phone(&h, "1002");
    available(&h, "1001"); // free longest: the call goes here first
    available(&h, "1002");
    let sup = login(&h, "supervisor", "supervisor");
    let mut stream = open_events(&h, &sup).unwrap();
    let sip = h.sip;
    let transferring = std::thread::spawn(move || {
        common::sipp_at(
            sip,
            "agent-transfers.xml",
            &[
                "-p",
                &first,
                "-i",
                "127.0.0.1",
                "-rtp_echo",
                "-m",
                "1",
                "-key",
                "target",
                "1002",
            ],
        )
    });
    let receiving = phone(&h, "agent-answers.xml", &colleague);
    let caller = scenario_with(
        &h,
        "caller-key-talk.xml",
        &[(
            "<pause milliseconds=\"4000\"/>",
            "<pause milliseconds=\"9000\"/>",
        )],
    );
    let call = std::thread::spawn(move || common::sipp_at(sip, &caller, &["-m", "1"]));

    let e = next_of(&mut stream, &["answered"]);
    let id = e["interaction"].as_str().unwrap().to_string();
    assert_eq!(e["kind"]["agent"], "1001", "{e}");
    // The transferring phone is done once hotline has taken its REFER and hung it up.
    let (ok, log) = transferring.join().unwrap();
    assert!(ok, "transferring phone: {log}");
    let e = next_of(&mut stream, &["transferred"]);
    assert_eq!(e["interaction"], id.as_str(), "{e}");
    assert_eq!(e["kind"]["to"]["agent"], "1002", "{e}");
    let e = next_of(&mut stream, &["answered"]);
    assert_eq!(
        (e["interaction"].as_str(), e["kind"]["agent"].as_str()),
        (Some(id.as_str()), Some("1002")),
        "{e}"
    );
    let (ok, log) = call.join().unwrap();
    assert!(ok, "caller: {log}");
    let (ok, log) = receiving.join().unwrap();
    assert!(ok, "receiving phone: {log}");
    let r = settled(&h, 1).remove(0);
    assert_eq!(r["agent"], "1002", "{r}");
    assert_eq!(r["transfers"], 1, "{r}");
    assert_eq!(r["end_reason"], "caller_hangup", "{r}");

    // Through the API: an unknown target is refused; a finished call cannot be moved.
    let token = login(&h, "agent1002", "pass1002");
    let (status, body) = http(
        h.http,
        "POST",
        &format!("/api/v1/interactions/{id}/transfer"),
        Some(&token),
        Some(r#"{"to":"nobody"}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unknown_target"), "{body}");
    let (status, body) = http(
        h.http,
        "POST",
        &format!("/api/v1/interactions/{id}/transfer"),
        Some(&token),
        Some(r#"{"to":"cards"}"#),
    );
    assert_eq!(status, 409, "{body}");
}

fn agent_view(h: &Hotline, token: &str, ext: &str) -> serde_json::Value {
    let (status, body) = http(
        h.http,
        "GET",
        &format!("/api/v1/agents/{ext}"),
        Some(token),
        None,
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn the_abusive_caller_button_ends_the_call_politely_and_grants_a_recovery_break() {
    let h = Hotline::demo();
    let port = register_phone(&h, "1001");
    available(&h, "1001");
    let sup = login(&h, "supervisor", "supervisor");
    let mut stream = open_events(&h, &sup).unwrap();
    let sip = h.sip;
    let phone = phone(&h, "agent-answers.xml", &port);
    // The caller presses 1, then only listens until hotline hangs up.
    let caller = scenario_with(
        &h,
        "caller-survey.xml",
        &[(
            "<pause milliseconds=\"5000\"/>\n  <nop>\n    <action>\n      <exec play_pcap_audio=\"/usr/share/sip-tester/dtmf_2833_4.pcap\"/>\n    </action>\n  </nop>\n",
            "",
        )],
    );
    let call = std::thread::spawn(move || common::sipp_at(sip, &caller, &["-m", "1"]));
    let id = next_of(&mut stream, &["answered"])["interaction"]
        .as_str()
        .unwrap()
        .to_string();
    let token = login(&h, "agent1001", "pass1001");
    let (status, body) = http(
        h.http,
        "POST",
        &format!("/api/v1/interactions/{id}/abusive"),
        Some(&token),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let e = next_of(&mut stream, &["flagged"]);
    assert_eq!(e["kind"]["flag"], "abusive", "{e}");
    let ended = next_of(&mut stream, &["ended"]);
    assert_eq!(ended["interaction"], id.as_str());
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "phone: {log}");
    let (ok, log) = call.join().unwrap();
    assert!(ok, "caller (hears the message, then hotline's BYE): {log}");
    let r = settled(&h, 1).remove(0);
    assert_eq!(r["flagged"], true, "{r}");
    assert!(
        r["survey"].is_null(),
        "no survey after an abusive call: {r}"
    );

    // The agent's own view shows the alert; the wrap-up ends in a recovery break.
    let me = agent_view(&h, &token, "1001");
    assert_eq!(me["state"]["state"], "wrap_up", "{me}");
    assert_eq!(me["alert"]["kind"], "abusive_caller", "{me}");
    assert_eq!(me["wellbeing"]["difficult"], 1, "{me}");
    assert_eq!(me["stress"], "high", "{me}");
    let (status, body) = http(
        h.http,
        "POST",
        "/api/v1/agents/1001/wrap-up",
        Some(&token),
        Some(r#"{"extend_seconds":30}"#),
    );
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        answer["state"], "wrap_up",
        "the contract's state name: {body}"
    );
    let (status, body) = http(
        h.http,
        "POST",
        "/api/v1/agents/1001/wrap-up",
        Some(&token),
        Some(r#"{"done":true}"#),
    );
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(answer["state"], "break", "a recovery break follows: {body}");
    let me = agent_view(&h, &token, "1001");
    assert_eq!(me["state"]["state"], "break", "{me}");
    assert_eq!(me["state"]["recovery"], true, "{me}");
    let (status, body) = http(
        h.http,
        "POST",
        "/api/v1/agents/1001/wrap-up",
        Some(&token),
        Some(r#"{"extend_seconds":30}"#),
    );
    assert_eq!(status, 409, "not in wrap-up any more: {body}");
    // The break the engine started is in the log, by the routing engine.
    let e = loop {
        let e = next_event(&mut stream);
        if e["stream"] == "agent" && e["state"]["state"] == "break" {
            break e;
        }
    };
    assert_eq!(e["by"], "routing", "{e}");
    assert_eq!(e["state"]["reason"], "recovery", "{e}");

    // An agent sees only itself; a supervisor sees everyone.
    let (status, body) = http(h.http, "GET", "/api/v1/agents", Some(&token), None);
    assert_eq!(status, 403, "{body}");
    let (status, body) = http(h.http, "GET", "/api/v1/agents/1002", Some(&token), None);
    assert_eq!(status, 403, "{body}");
    let (status, body) = http(h.http, "GET", "/api/v1/agents", Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    let all: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(all.len(), 10, "{body}");
    assert!(all.iter().all(|a| a["stress"].is_string()), "{body}");
}

#[test]
fn a_caller_who_waits_too_long_leaves_a_voicemail_that_agents_see() {
    let h = Hotline::serve_with(|t| t.replace("max_wait_seconds = 600", "max_wait_seconds = 2"));
    let sup = login(&h, "supervisor", "supervisor");
    let mut stream = open_events(&h, &sup).unwrap();
    let sip = h.sip;
    // Speech comes after the mailbox has started recording.
    let caller = scenario_with(
        &h,
        "caller-key-talk.xml",
        &[
            (
                "<pause milliseconds=\"1500\"/>",
                "<pause milliseconds=\"6000\"/>",
            ),
            (
                "<pause milliseconds=\"4000\"/>",
                "<pause milliseconds=\"5000\"/>",
            ),
        ],
    );
    let call = std::thread::spawn(move || common::sipp_at(sip, &caller, &["-m", "1"]));
    let e = next_of(&mut stream, &["voicemail_left"]);
    let id = e["interaction"].as_str().unwrap().to_string();
    let (ok, log) = call.join().unwrap();
    assert!(ok, "caller: {log}");
    let r = settled(&h, 1).remove(0);
    assert_eq!(r["end_reason"], "voicemail", "{r}");
    let path = r["voicemail"].as_str().expect("a voicemail path");
    let (_, caller_rms, _) = wav_channels_rms(path);
    assert!(
        caller_rms > 100.0,
        "the message holds the caller's speech: {caller_rms}"
    );
    let token = login(&h, "agent1003", "pass1003");
    let (status, body) = http(h.http, "GET", "/api/v1/callbacks", Some(&token), None);
    assert_eq!(status, 200, "{body}");
    let work: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(work["voicemails"][0]["id"], id.as_str(), "{work}");
    // Any agent may take it and wrap it up; then it leaves the list.
    let (status, body) = http(
        h.http,
        "POST",
        &format!("/api/v1/interactions/{id}/wrapup"),
        Some(&token),
        Some(r#"{"disposition":"called back","notes":"customer reached"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let (_, body) = http(h.http, "GET", "/api/v1/callbacks", Some(&token), None);
    let work: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        work["voicemails"].as_array().map(Vec::len),
        Some(0),
        "{work}"
    );
}

#[test]
fn kill_9_under_load_keeps_every_acknowledged_event_and_closes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut h = Hotline::demo_in(&data);
    let exts = [
        "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009", "1010",
    ];
    let port = register_all(&h, &exts);
    for ext in exts {
        available(&h, ext);
    }
    let sup = login(&h, "supervisor", "supervisor");
    let mut stream = open_events(&h, &sup).unwrap();
    let sip = h.sip;
    // Every agent's phone: one sipp answering many calls.
    let phones = std::thread::spawn(move || {
        common::sipp_at(
            sip,
            "agent-answers.xml",
            &["-p", &port, "-i", "127.0.0.1", "-rtp_echo", "-m", "100000"],
        )
    });
    // 20 calls a second, more than ten agents can take: some talk, some give up waiting.
    let caller = scenario_with(
        &h,
        "caller-key-talk.xml",
        &[(
            "<pause milliseconds=\"4000\"/>",
            "<pause milliseconds=\"1000\"/>",
        )],
    );
    let callers = std::thread::spawn(move || {
        common::sipp_at(sip, &caller, &["-m", "1000", "-r", "20", "-l", "500"])
    });

    // What the stream delivered was committed first: that is what was acknowledged.
    let mut ended: std::collections::HashMap<String, String> = Default::default();
    let mut answered: std::collections::HashMap<String, String> = Default::default();
    let mut arrived = std::collections::HashSet::new();
    while ended.len() < 40 {
        let e = next_event(&mut stream);
        let id = e["interaction"].as_str().unwrap_or_default().to_string();
        match e["kind"]["type"].as_str() {
            Some("arrived") => {
                arrived.insert(id);
            }
            Some("answered") => {
                answered.insert(id, e["kind"]["agent"].as_str().unwrap().to_string());
            }
            Some("ended") => {
                ended.insert(id, e["kind"]["reason"].as_str().unwrap().to_string());
            }
            _ => {}
        }
    }
    assert!(!answered.is_empty(), "agents took calls before the kill");
    h.kill9();
    let _ = callers.join(); // the callers in progress fail: the server is gone
    let _ = phones.join();

    let h = Hotline::demo_in(&data);
    let after = records(&h);
    let by_id: std::collections::HashMap<&str, &serde_json::Value> = after
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    for id in &arrived {
        assert!(by_id.contains_key(id.as_str()), "arrival {id} lost");
    }
    for (id, reason) in &ended {
        let r = by_id.get(id.as_str()).expect("acknowledged record kept");
        assert_eq!(r["end_reason"], reason.as_str(), "{r}");
    }
    for (id, agent) in &answered {
        let r = by_id[id.as_str()];
        assert_eq!(r["agent"], agent.as_str(), "{r}");
        assert!(r["answered"].is_string(), "{r}");
    }
    assert!(
        after.iter().all(|r| r["ended"].is_string()),
        "nothing is left open after recovery"
    );
    let cut_off = after
        .iter()
        .filter(|r| r["end_reason"] == "interrupted")
        .count();
    assert!(
        cut_off >= 1,
        "calls in progress at the kill are closed as interrupted"
    );
    assert!(
        after
            .iter()
            .filter(|r| r["end_reason"] == "interrupted")
            .all(|r| !ended.contains_key(r["id"].as_str().unwrap())),
        "an acknowledged end is never overwritten"
    );
}

#[test]
fn an_agent_holds_the_caller_by_re_invite_and_takes_the_call_back() {
    let h = Hotline::demo();
    let port = register_phone(&h, "1001");
    available(&h, "1001");
    let sup = login(&h, "supervisor", "supervisor");
    let mut stream = open_events(&h, &sup).unwrap();
    let sip = h.sip;
    let phone = phone(&h, "agent-holds.xml", &port);
    // The caller stays on the line until after the agent hung up, then hangs up during the
    // survey.
    let caller = scenario_with(
        &h,
        "caller-key-talk.xml",
        &[(
            "<pause milliseconds=\"4000\"/>",
            "<pause milliseconds=\"6000\"/>",
        )],
    );
    let call = std::thread::spawn(move || common::sipp_at(sip, &caller, &["-m", "1"]));
    let id = next_of(&mut stream, &["answered"])["interaction"]
        .as_str()
        .unwrap()
        .to_string();
    let held = next_of(&mut stream, &["held", "resumed"]);
    assert_eq!(held["kind"]["type"], "held", "{held}");
    assert_eq!(held["interaction"], id.as_str());
    let resumed = next_of(&mut stream, &["held", "resumed"]);
    assert_eq!(resumed["kind"]["type"], "resumed", "{resumed}");
    let (ok, log) = phone.join().unwrap();
    assert!(
        ok,
        "phone (hold answered with recvonly, resume with sendrecv): {log}"
    );
    let (ok, log) = call.join().unwrap();
    assert!(ok, "caller: {log}");
    let r = settled(&h, 1).remove(0);
    assert_eq!(r["agent"], "1001", "{r}");
    assert!(r["recording"].is_string(), "{r}");
}

#[test]
fn the_centre_runs_the_contact_flows_of_its_configuration() {
    let flows_dir = tempfile::tempdir().unwrap();
    let flows = flows_dir.path().join("flows.toml");
    // Straight to the cards queue: no menu.
    std::fs::write(
        &flows,
        "[flows.main]\nstart = \"queue\"\n\n[flows.main.steps.queue]\ntype = \"enqueue\"\nqueue = \"cards\"\n",
    )
    .unwrap();
    let flows_path = flows.to_str().unwrap().to_string();
    let h = Hotline::serve_with(|t| {
        t.replace(
            "service_numbers = [\"95588\"]",
            &format!("service_numbers = [\"95588\"]\nflows = \"{flows_path}\""),
        )
    });
    let port = register_phone(&h, "1003"); // cards
    available(&h, "1003");
    let phone = phone(&h, "agent-answers.xml", &port);
    let (ok, log) = h.sipp("caller-key-talk.xml", &["-m", "1"]);
    assert!(ok, "{log}");
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "{log}");
    let r = settled(&h, 1).remove(0);
    assert_eq!(
        (r["queue"].as_str(), r["agent"].as_str()),
        (Some("cards"), Some("1003")),
        "{r}"
    );

    // A flow that sends callers to a queue the centre does not have is refused, by file,
    // line and key, before anything starts.
    std::fs::write(
        &flows,
        "[flows.main]\nstart = \"queue\"\n\n[flows.main.steps.queue]\ntype = \"enqueue\"\nqueue = \"loans\"\n",
    )
    .unwrap();
    let cfg = h.dir.path().join("centre.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["check-config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{flows_path}:4:")) && err.contains("flows.main.steps.queue.queue"),
        "{err}"
    );
    // A flow asking for a skill no agent holds (at that level) is refused too: its callers
    // would wait for nobody.
    std::fs::write(
        &flows,
        "[flows.main]\nstart = \"need\"\n\n[flows.main.steps.need]\ntype = \"set\"\nskills = { mortgage = 3 }\nnext = \"queue\"\n\n[flows.main.steps.queue]\ntype = \"enqueue\"\nqueue = \"accounts\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["check-config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{flows_path}:4:"))
            && err.contains("flows.main.steps.need.skills.mortgage"),
        "{err}"
    );
    // A syntax error names its line and column.
    std::fs::write(&flows, "[flows.main]\nstart = \n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["check-config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{flows_path}:2:")), "{err}");
}

/// A caller scenario that keys `digits` by SIP INFO after the answer, then either hangs up
/// after `talk_ms` or, when `talk_ms` is `None`, waits for hotline's BYE.
fn info_caller(h: &Hotline, name: &str, digits: &str, talk_ms: Option<u32>) -> String {
    let base =
        std::fs::read_to_string(common::repo().join("tests/sipp/caller-callback.xml")).unwrap();
    let start = base.find("  <pause milliseconds=\"1000\"/>").unwrap();
    let info_at = base.find("  <!-- The second key by SIP INFO").unwrap();
    let info_end = base[info_at..].find("<recv response=\"200\"/>").unwrap() + info_at + 24;
    let info = &base[info_at..info_end];
    let mut body = String::from("  <pause milliseconds=\"1000\"/>\n");
    for (i, d) in digits.chars().enumerate() {
        body.push_str(
            &info
                .replace("CSeq: 2 INFO", &format!("CSeq: {} INFO", i + 2))
                .replace("Signal=1", &format!("Signal={d}")),
        );
        body.push_str("\n  <pause milliseconds=\"150\"/>\n");
    }
    let end = match talk_ms {
        Some(ms) => {
            let key_talk =
                std::fs::read_to_string(common::repo().join("tests/sipp/caller-key-talk.xml"))
                    .unwrap();
            let bye = key_talk
                .find("  <send retrans=\"500\">\n    <![CDATA[\n      BYE")
                .unwrap();
            format!(
                "  <pause milliseconds=\"{ms}\"/>\n{}",
                key_talk[bye..].replace("CSeq: 2 BYE", &format!("CSeq: {} BYE", digits.len() + 2))
            )
        }
        None => base[base.find("  <recv request=\"BYE\"/>").unwrap()..].to_string(),
    };
    let text = format!("{}{body}{end}", &base[..start]);
    let path = h.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn a_caller_authenticates_with_the_pin_on_file_and_a_wrong_pin_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let hashed = std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"123456\n")?;
            c.wait_with_output()
        })
        .unwrap();
    // It prints `password_hash = "<PHC>"`, ready for a configuration file.
    let printed = String::from_utf8_lossy(&hashed.stdout);
    let phc = printed.split('"').nth(1).unwrap_or_default().to_string();
    assert!(phc.starts_with("$argon2"), "{phc}");
    let out = import_customers(
        &data,
        &format!("id,name,phone,pin_hash\nC1,张三,13800138000,\"{phc}\"\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let flows_dir = tempfile::tempdir().unwrap();
    let flows = flows_dir.path().join("flows.toml");
    std::fs::write(
        &flows,
        r#"[flows.main]
start = "find"

[flows.main.steps.find]
type = "lookup"
next = "pin"
not_found = "bye"

[flows.main.steps.pin]
type = "authenticate"
prompts = ["menu"]
skip_if_caller_on_file = false
max_attempts = 2
next = "queue"
on_failure = "bye"

[flows.main.steps.queue]
type = "enqueue"
queue = "accounts"

[flows.main.steps.bye]
type = "hangup"
prompts = ["goodbye"]
"#,
    )
    .unwrap();
    let flows_path = flows.to_str().unwrap().to_string();
    let h = Hotline::serve_with_in(&data, |t| {
        t.replace(
            "service_numbers = [\"95588\"]",
            &format!("service_numbers = [\"95588\"]\nflows = \"{flows_path}\""),
        )
    });
    // The right PIN: the caller is queued for accounts (nobody is available; the caller
    // then gives up).
    let right = info_caller(&h, "right-pin.xml", "123456", Some(1500));
    let (ok, log) = h.sipp(&right, &["-m", "1"]);
    assert!(ok, "{log}");
    // A wrong PIN twice: hotline says goodbye and hangs up.
    let wrong = info_caller(&h, "wrong-pin.xml", "654321654321", None);
    let (ok, log) = h.sipp(&wrong, &["-m", "1"]);
    assert!(ok, "{log}");

    let all = settled(&h, 2);
    assert_eq!(all.len(), 2, "{all:?}");
    let queued: Vec<_> = all.iter().filter(|r| r["queue"] == "accounts").collect();
    assert_eq!(
        queued.len(),
        1,
        "only the right PIN reaches the queue: {all:?}"
    );
    assert_eq!(queued[0]["end_reason"], "abandoned", "{all:?}");
    let refused: Vec<_> = all.iter().filter(|r| r["queue"].is_null()).collect();
    assert_eq!(refused.len(), 1, "{all:?}");
    assert_eq!(refused[0]["customer"], "C1", "{all:?}");
    // The PIN hash never leaves hotline.
    let sup = login(&h, "supervisor", "supervisor");
    let (status, body) = http(h.http, "GET", "/api/v1/customers/C1", Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    assert!(
        !body.contains("argon2") && !body.contains("pin_hash"),
        "{body}"
    );
}

/// A centre whose service number runs `flows` (a flows file written for the test).
fn with_flows(flows: &str) -> (tempfile::TempDir, impl Fn(String) -> String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.toml");
    std::fs::write(&path, flows).unwrap();
    let path = path.to_str().unwrap().to_string();
    (dir, move |t: String| {
        t.replace(
            "service_numbers = [\"95588\"]",
            &format!("service_numbers = [\"95588\"]\nflows = \"{path}\""),
        )
    })
}

#[test]
fn a_flows_transfer_step_dials_the_outside_number_and_bridges_the_caller() {
    // The flow hands every caller to an outside number (another bank's line, a branch):
    // hotline dials it through the trunk, bridges and records the two, and the record
    // closes as `transferred` when they are done.
    let carrier = free_port("127.0.0.1");
    let (_flows, flows) = with_flows(
        r#"[flows.main]
start = "out"

[flows.main.steps.out]
type = "transfer"
to = "+8613912345678"
"#,
    );
    let h = Hotline::serve_with(|t| {
        flows(t).replace(
            "sources = [\"127.0.0.1/32\"]",
            &format!("sources = [\"127.0.0.1/32\"]\noutbound = \"127.0.0.1:{carrier}\""),
        )
    });
    let sup = login(&h, "supervisor", "supervisor");
    let mut stream = open_events(&h, &sup).unwrap();
    let sip = h.sip;
    // The outside party answers and hangs up after two seconds.
    let outside = std::thread::spawn(move || {
        common::sipp_at(
            sip,
            "agent-hangs-up.xml",
            &[
                "-p",
                &carrier.to_string(),
                "-i",
                "127.0.0.1",
                "-rtp_echo",
                "-m",
                "1",
            ],
        )
    });
    let (ok, log) = h.sipp("caller-stays.xml", &["-m", "1"]);
    assert!(ok, "caller: {log}");
    let (ok, log) = outside.join().unwrap();
    assert!(ok, "outside party: {log}");
    let all = settled(&h, 1);
    let r = &all[0];
    assert_eq!(r["end_reason"], "transferred", "{r}");
    assert!(
        r["recording"].is_string(),
        "the conversation is recorded: {r}"
    );
    let t = next_of(&mut stream, &["transferred"]);
    assert_eq!(t["kind"]["to"]["external"], "+8613912345678", "{t}");
    assert_eq!(t["interaction"], r["id"], "{t}");
}

#[test]
fn a_recording_that_cannot_be_written_is_logged_and_the_call_goes_on() {
    // Today's recordings directory cannot be created (a file is in its way, as a full or
    // broken disk would refuse it): the agent and the caller still talk, and the log says
    // the call was not recorded and why.
    // No survey after the agent: hotline hangs the caller up when the agent leaves.
    let (_flows, flows) = with_flows(
        r#"[flows.main]
start = "q"

[flows.main.steps.q]
type = "enqueue"
queue = "accounts"
"#,
    );
    let h = Hotline::serve_with(flows);
    let sup = login(&h, "supervisor", "supervisor");
    let mut stream = open_events(&h, &sup).unwrap();
    let day = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .unwrap();
    let day = String::from_utf8_lossy(&day.stdout).trim().to_string();
    let recordings = h.dir.path().join("data").join("recordings");
    std::fs::create_dir_all(&recordings).unwrap();
    std::fs::write(recordings.join(&day), b"not a directory").unwrap();
    let agent_port = register_phone(&h, "1001");
    available(&h, "1001");
    let agent = phone(&h, "agent-hangs-up.xml", &agent_port);
    let (ok, log) = h.sipp("caller-stays.xml", &["-m", "1"]);
    assert!(ok, "caller: {log}");
    let (ok, log) = agent.join().unwrap();
    assert!(ok, "agent: {log}");
    let all = settled(&h, 1);
    let r = &all[0];
    assert_eq!(r["agent"], "1001", "{r}");
    assert!(r["recording"].is_null(), "{r}");
    let failed = next_of(&mut stream, &["recording_failed"]);
    assert_eq!(failed["interaction"], r["id"], "{failed}");
    assert!(
        failed["kind"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{failed}"
    );
}
