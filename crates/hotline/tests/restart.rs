//! End to end, with the real binary, sipp callers and sipp agent phones: a graceful stop
//! (SIGTERM) drains the calls in progress and closes every record, and a restart (graceful
//! or `kill -9`) keeps the phones' registrations, the agents' states and today's figures.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use serde_json::Value;

fn set_state(h: &Hotline, ext: &str, body: &str) {
    let token = login(h, &format!("agent{ext}"), &format!("pass{ext}"));
    let (status, answer) = http(
        h.http,
        "POST",
        &format!("/api/v1/agents/{ext}/state"),
        Some(&token),
        Some(body),
    );
    assert_eq!(status, 200, "{answer}");
}

fn available(h: &Hotline, ext: &str) {
    set_state(h, ext, r#"{"state":"available"}"#);
}

fn supervisor_get(h: &Hotline, path: &str) -> Value {
    let sup = login(h, "supervisor", "supervisor");
    let (status, body) = http(h.http, "GET", path, Some(&sup), None);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn ms(rfc3339: &str) -> f64 {
    hotline_model::Timestamp::parse_rfc3339(rfc3339)
        .unwrap()
        .unix_nanos() as f64
        / 1e6
}

/// A WAV file whose RIFF and data chunk sizes match its length: finished, not cut off.
fn assert_finished_wav(path: &str) {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(data.len() > 44, "{path}: {} bytes", data.len());
    assert_eq!(&data[0..4], b"RIFF", "{path}");
    assert_eq!(&data[8..12], b"WAVE", "{path}");
    let riff = u32::from_le_bytes(data[4..8].try_into().unwrap()) as usize;
    assert_eq!(riff, data.len() - 8, "{path}: RIFF size");
    let mut at = 12;
    let mut found = false;
    while at + 8 <= data.len() {
        let id = &data[at..at + 4];
        let size = u32::from_le_bytes(data[at + 4..at + 8].try_into().unwrap()) as usize;
        if id == b"data" {
            assert_eq!(size, data.len() - at - 8, "{path}: data chunk size");
            assert!(size > 0, "{path}: no audio");
            found = true;
            break;
        }
        at += 8 + size + (size & 1);
    }
    assert!(found, "{path}: no data chunk");
}

fn records(h: &Hotline) -> Vec<Value> {
    serde_json::from_value(supervisor_get(h, "/api/v1/interactions")).unwrap()
}

fn agent_phone(sip: std::net::SocketAddr, port: String) -> std::thread::JoinHandle<(bool, String)> {
    phone_answers_once(sip, "agent-answers.xml", &port, "90s")
}

const DRAIN: u64 = 12;

#[test]
fn sigterm_drains_calls_ends_the_rest_with_bye_and_closes_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Wrap-up outlasts the drain: an agent whose call ends is not offered a waiting caller.
    let config = |t: String| {
        all_take_accounts(t)
            .replace("wrap_up_seconds = 0", "wrap_up_seconds = 60")
            .replace("[centre]", &format!("[centre]\ndrain_seconds = {DRAIN}"))
    };
    let mut h = Hotline::serve_with_in(&data, config);
    let port1 = register_all(&h, &["1001"]);
    let port2 = register_all(&h, &["1002"]);
    available(&h, "1001");
    available(&h, "1002");
    let feed = Feed::open(&h);
    let sip = h.sip;
    let phone1 = agent_phone(sip, port1);
    let phone2 = agent_phone(sip, port2);
    // A caller who stays on the line until hotline hangs up...
    let stays = std::thread::spawn(move || {
        sipp_at(sip, "caller-stays.xml", &["-m", "1", "-timeout", "90s"])
    });
    feed.wait(Duration::from_secs(45), "the first call answered", |e| {
        count(e, "answered") >= 1
    });
    // ...and one who talks for a few seconds and hangs up.
    let talks = std::thread::spawn(move || {
        sipp_at(sip, "caller-key-talk.xml", &["-m", "1", "-timeout", "90s"])
    });
    feed.wait(Duration::from_secs(45), "the second call answered", |e| {
        count(e, "answered") >= 2
    });
    // Three more callers wait in the queue: nobody is free.
    let waiting = std::thread::spawn(move || {
        sipp_at(
            sip,
            "caller-stays.xml",
            &["-m", "3", "-l", "3", "-r", "10", "-timeout", "90s"],
        )
    });
    feed.wait(Duration::from_secs(45), "five callers queued", |e| {
        count(e, "queued") >= 5
    });
    let sigterm_ms = hotline_model::Timestamp::now().unix_nanos() as f64 / 1e6;
    h.signal("TERM");
    // The health check says so, and new calls are refused with 503 and Retry-After.
    wait_for(Duration::from_secs(10), "/healthz to say draining", || {
        let (status, body) = h.get("/healthz");
        (status == 503 && body.contains("draining")).then_some(())
    });
    let (ok, log) = h.sipp("invite-full.xml", &["-m", "1"]);
    assert!(
        ok,
        "a new call while draining is refused with 503 + Retry-After: {log}"
    );
    // OPTIONS says so too (a proxy in front sends new calls elsewhere): 503, Retry-After.
    let (ok, log) = h.sipp("options-draining.xml", &["-m", "1"]);
    assert!(ok, "OPTIONS while draining: {log}");

    let (ok, log) = talks.join().unwrap();
    assert!(
        ok,
        "the call that finishes within the drain ends normally: {log}"
    );
    let (ok, log) = stays.join().unwrap();
    assert!(ok, "the call left at the drain deadline gets a BYE: {log}");
    let (ok, log) = waiting.join().unwrap();
    assert!(
        ok,
        "the callers still waiting at the drain deadline get a BYE: {log}"
    );
    for phone in [phone1, phone2] {
        let (ok, log) = phone.join().unwrap();
        assert!(ok, "each agent's phone gets its BYE: {log}");
    }
    let status = h
        .wait_exit(Duration::from_secs(60))
        .expect("hotline exits after the drain");
    assert!(status.success(), "exit status {status:?}");
    drop(h);

    // A restart finds nothing left open: no record is closed as interrupted.
    let h = Hotline::serve_with_in(&data, config);
    let recs = records(&h);
    assert_eq!(recs.len(), 5, "{recs:#?}");
    let (first, second) = (&recs[0], &recs[1]);
    assert_eq!(first["end_reason"], "shutdown", "{first}");
    assert_eq!(second["end_reason"], "caller_hangup", "{second}");
    for r in &recs[2..] {
        assert_eq!(r["end_reason"], "shutdown", "{r}");
        assert!(r["answered"].is_null(), "{r}");
    }
    for r in &recs {
        assert!(r["ended"].is_string(), "{r}");
    }
    let ended_after = ms(first["ended"].as_str().unwrap()) - sigterm_ms;
    assert!(
        ended_after >= (DRAIN as f64 - 1.0) * 1000.0,
        "the remaining call was ended at the drain deadline, {ended_after:.0} ms after SIGTERM"
    );
    assert!(
        ms(second["ended"].as_str().unwrap()) - sigterm_ms < DRAIN as f64 * 1000.0,
        "{second}"
    );
    for r in &recs[..2] {
        assert!(r["answered"].is_string(), "{r}");
        assert_finished_wav(r["recording"].as_str().expect("a recording"));
    }
    let events = feed.snapshot();
    assert_eq!(
        count(&events, "arrived"),
        5,
        "the refused call left no record"
    );
}

/// Live figures that must not change across a restart: each agent's handled today, each
/// queue's offered, answered and abandoned.
fn figures(h: &Hotline) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for a in supervisor_get(h, "/api/v1/agents").as_array().unwrap() {
        out.insert(
            format!("agent {}", a["extension"].as_str().unwrap()),
            a["wellbeing"]["handled"].clone(),
        );
    }
    for q in supervisor_get(h, "/api/v1/queues").as_array().unwrap() {
        let name = q["name"].as_str().unwrap();
        for f in ["offered", "answered", "abandoned"] {
            out.insert(format!("queue {name} {f}"), q[f].clone());
        }
    }
    out
}

fn agent<'a>(agents: &'a Value, ext: &str) -> &'a Value {
    agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["extension"] == ext)
        .unwrap()
}

/// A call through the IVR to the one available agent, whose phone (a sipp UAS on `port`)
/// must be rung and answer.
fn call_reaches_phone(h: &Hotline, port: &str) {
    let phone = agent_phone(h.sip, port.to_string());
    let (ok, log) = h.sipp("caller-key-talk.xml", &["-m", "1", "-timeout", "60s"]);
    assert!(ok, "the caller: {log}");
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "the agent's phone was rung and answered: {log}");
}

/// After a restart: 1001 is available and its phone registered before the restart is rung
/// without registering again; 1002 is still not ready for the same reason.
fn check_restored(h: &Hotline, port: &str) {
    let agents = supervisor_get(h, "/api/v1/agents");
    assert_eq!(
        agent(&agents, "1001")["state"]["state"],
        "available",
        "{agents}"
    );
    let nr = &agent(&agents, "1002")["state"];
    assert_eq!(nr["state"], "not_ready", "{agents}");
    assert_eq!(nr["reason"], "training", "{agents}");
    let before = records(h).len();
    call_reaches_phone(h, port);
    let recs = wait_for(Duration::from_secs(30), "the call's record closed", || {
        let r = records(h);
        (r.len() == before + 1 && r.last().is_some_and(|r| r["ended"].is_string())).then_some(r)
    });
    let last = recs.last().unwrap();
    assert_eq!(last["agent"], "1001", "{last}");
    assert!(last["answered"].is_string(), "{last}");
}

#[test]
fn a_graceful_restart_keeps_registrations_agent_states_and_todays_figures() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut h = Hotline::serve_with_in(&data, all_take_accounts);
    // The phone registers once, for the whole test.
    let port = register_all(&h, &["1001"]);
    available(&h, "1001");
    set_state(&h, "1002", r#"{"state":"not_ready","reason":"training"}"#);
    call_reaches_phone(&h, &port);
    let before = wait_for(Duration::from_secs(30), "the call counted", || {
        let f = figures(&h);
        (f["agent 1001"] == 1).then_some(f)
    });
    let paused_since = agent(&supervisor_get(&h, "/api/v1/agents"), "1002")["since"].clone();
    assert!(paused_since.is_string(), "{paused_since}");
    let agent_token = login(&h, "agent1001", "pass1001");

    h.signal("TERM");
    let status = h.wait_exit(Duration::from_secs(60)).expect("hotline exits");
    assert!(status.success(), "exit status {status:?}");
    drop(h);

    let h = Hotline::serve_with_in(&data, all_take_accounts);
    assert_eq!(figures(&h), before, "today's figures survive the restart");
    // The agent stays logged in: the token from before the restart is still good.
    let (status, body) = http(h.http, "GET", "/api/v1/me", Some(&agent_token), None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"1001\""), "{body}");
    // (The view's time is the router's, the log's a moment later: the same to the second.)
    let restored = agent(&supervisor_get(&h, "/api/v1/agents"), "1002")["since"].clone();
    assert!(
        {
            let d = (seconds_of_day(&restored) - seconds_of_day(&paused_since)).abs();
            d.min(86_400.0 - d) < 1.0
        },
        "a pause's time in state runs on from when it began: {paused_since} then {restored}"
    );
    check_restored(&h, &port);
    let after = figures(&h);
    assert_eq!(after["agent 1001"], 2, "{after:?}");
}

/// `2026-11-30T22:06:32.869202778Z` → seconds since midnight.
fn seconds_of_day(t: &serde_json::Value) -> f64 {
    let t = t.as_str().unwrap_or_default();
    let clock = t
        .split('T')
        .nth(1)
        .unwrap_or_default()
        .trim_end_matches('Z');
    clock
        .split(':')
        .map(|p| p.parse::<f64>().unwrap_or(f64::NAN))
        .fold(0.0, |acc, p| acc * 60.0 + p)
}

#[test]
fn registrations_and_agent_states_written_before_kill_9_are_restored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut h = Hotline::serve_with_in(&data, all_take_accounts);
    let port = register_all(&h, &["1001"]);
    available(&h, "1001");
    set_state(&h, "1002", r#"{"state":"not_ready","reason":"training"}"#);
    let db = data.join("hotline.db");
    wait_for(
        Duration::from_secs(30),
        "the registration written down",
        || common::kept_registration(&db, "1001").map(|_| ()),
    );
    h.kill9();
    drop(h);

    let h = Hotline::serve_with_in(&data, all_take_accounts);
    check_restored(&h, &port);
}

#[test]
fn a_second_sigterm_ends_the_calls_without_waiting_for_the_drain_time() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config =
        |t: String| all_take_accounts(t).replace("[centre]", "[centre]\ndrain_seconds = 600");
    let mut h = Hotline::serve_with_in(&data, config);
    let port = register_all(&h, &["1001"]);
    available(&h, "1001");
    let feed = Feed::open(&h);
    let phone = agent_phone(h.sip, port);
    let sip = h.sip;
    let caller = std::thread::spawn(move || {
        sipp_at(sip, "caller-stays.xml", &["-m", "1", "-timeout", "90s"])
    });
    feed.wait(Duration::from_secs(45), "the call answered", |e| {
        count(e, "answered") >= 1
    });
    h.signal("TERM");
    wait_for(Duration::from_secs(10), "/healthz to say draining", || {
        let (status, body) = h.get("/healthz");
        (status == 503 && body.contains("draining")).then_some(())
    });
    h.signal("TERM");
    // Well before the 600 s drain time.
    let status = h
        .wait_exit(Duration::from_secs(60))
        .expect("hotline exits soon after the second signal");
    assert!(status.success(), "exit status {status:?}");
    let (ok, log) = caller.join().unwrap();
    assert!(ok, "the caller gets a BYE: {log}");
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "the agent's phone gets a BYE: {log}");
    drop(h);
    let h = Hotline::serve_with_in(&data, config);
    let recs = records(&h);
    assert_eq!(recs.len(), 1, "{recs:#?}");
    assert_eq!(recs[0]["end_reason"], "shutdown", "{}", recs[0]);
}
