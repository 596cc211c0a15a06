//! Supervisors monitoring live calls, end to end with real peers on loopback: a caller from
//! the trunk sends tone A, the agent's phone tone B, the supervisor's phone tone C (each a
//! small SIP + RTP peer that tells which tones it hears). Listen, whisper and barge each let
//! exactly the right parties hear each other; the mode switches during the call; a takeover
//! sends the agent a BYE, lets caller and supervisor talk, and puts the supervisor in the
//! recording's right channel. Every step is in the log, the event stream, the audit trail
//! and the interaction's record; refusals are JSON errors with stable codes.

mod common;

use std::time::Duration;

use common::tonepeer::{Span, TONES, TonePeer};
use common::{Feed, Hotline, available, count, free_port, http, login, wait_for};

const A: usize = 0; // the caller's tone
const B: usize = 1; // the agent's
const C: usize = 2; // the supervisor's

/// A phone registered as `ext` from a port of its own (sipp), which the peer then takes.
fn register(h: &Hotline, ext: &str) -> u16 {
    let port = free_port("127.0.0.1");
    let p = port.to_string();
    let pw = format!("pass{ext}");
    let (ok, log) = h.sipp(
        "register.xml",
        &["-p", &p, "-s", ext, "-au", ext, "-ap", &pw, "-m", "1"],
    );
    assert!(ok, "{log}");
    port
}

fn records(h: &Hotline, token: &str) -> Vec<serde_json::Value> {
    let (status, body) = http(h.http, "GET", "/api/v1/interactions", Some(token), None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn post(h: &Hotline, token: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let (status, text) = http(h.http, "POST", path, Some(token), Some(body));
    let v = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (status, v)
}

fn refused(h: &Hotline, token: &str, path: &str, body: &str, status: u16, code: &str) {
    let (s, v) = post(h, token, path, body);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (status, Some(code)),
        "{path} {body}: {v}"
    );
}

/// Waits until every `(peer, tone, heard)` holds: the tone heard in the last 200 ms, or not
/// heard for the last 400 ms; then what every peer hears is counted afresh.
fn settle(what: &str, conds: &[(&TonePeer, usize, bool)], peers: &[&TonePeer]) {
    wait_for(Duration::from_secs(10), what, || {
        conds
            .iter()
            .all(|(p, t, on)| {
                if *on {
                    p.hears(*t, Duration::from_millis(200))
                } else {
                    !p.hears(*t, Duration::from_millis(400))
                }
            })
            .then_some(())
    });
    for p in peers {
        p.take();
    }
}

/// What each peer hears over a measuring span of two seconds.
fn measure(peers: &[&TonePeer]) -> Vec<Span> {
    std::thread::sleep(Duration::from_secs(2));
    peers.iter().map(|p| p.take()).collect()
}

fn assert_hears(name: &str, span: &Span, yes: &[usize], no: &[usize]) {
    assert!(span.frames >= 50, "{name} received {} frames", span.frames);
    for t in yes {
        assert!(
            span.share(*t) > 0.8,
            "{name} should hear {} Hz: {:.2} of {} frames",
            TONES[*t],
            span.share(*t),
            span.frames
        );
    }
    for t in no {
        assert!(
            span.share(*t) < 0.03,
            "{name} should not hear {} Hz: {:.2} of {} frames",
            TONES[*t],
            span.share(*t),
            span.frames
        );
    }
}

/// Per 20 ms window of a stereo recording's `channel`: whether tone `t` is in it.
fn recorded_windows(path: &str, channel: usize, t: usize) -> usize {
    let data = std::fs::read(path).unwrap();
    let mut off = 12;
    let mut pcm: &[u8] = &[];
    while off + 8 <= data.len() {
        let len = u32::from_le_bytes(data[off + 4..off + 8].try_into().unwrap()) as usize;
        if &data[off..off + 4] == b"data" {
            pcm = &data[off + 8..(off + 8 + len).min(data.len())];
            break;
        }
        off += 8 + len + (len & 1);
    }
    let samples: Vec<i16> = pcm
        .chunks_exact(4)
        .map(|f| i16::from_le_bytes([f[2 * channel], f[2 * channel + 1]]))
        .collect();
    let hz = TONES[t];
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
    samples
        .chunks_exact(160)
        .filter(|w| {
            let (mut s1, mut s2) = (0.0, 0.0);
            for x in *w {
                let s = f64::from(*x) + coeff * s1 - s2;
                s2 = s1;
                s1 = s;
            }
            let power = (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0);
            2.0 * power.sqrt() / 160.0 > 1500.0
        })
        .count()
}

#[test]
fn a_supervisor_listens_whispers_barges_and_takes_the_call_over() {
    let h = Hotline::demo();
    let feed = Feed::open(&h);
    let agent_port = register(&h, "1001");
    // The supervisor's phone: a SIP phone registered as an extension of the centre (1010,
    // logged out, so never offered calls).
    let sup_port = register(&h, "1010");
    let mut agent = TonePeer::new("agent", agent_port, B);
    agent.answer_calls();
    let mut sup = TonePeer::new("supervisor", sup_port, C);
    sup.answer_calls();
    available(&h, "1001");
    let supervisor = login(&h, "supervisor", "supervisor");
    let admin = login(&h, "admin", "admin");
    let agent_token = login(&h, "agent1001", "pass1001");

    // A caller still in the menu is not connected: nothing to monitor.
    let mut ivr = TonePeer::new("ivr caller", 0, A);
    ivr.call(h.sip, "95588");
    let waiting = wait_for(Duration::from_secs(10), "the menu caller's record", || {
        records(&h, &supervisor)
            .into_iter()
            .find(|r| r["ended"].is_null())
    });
    let waiting_id = waiting["id"].as_str().unwrap().to_string();
    refused(
        &h,
        &supervisor,
        &format!("/api/v1/interactions/{waiting_id}/monitor"),
        r#"{"mode":"listen","phone":"1010"}"#,
        409,
        "not_connected",
    );
    ivr.hang_up(h.sip);
    wait_for(Duration::from_secs(10), "the menu caller's end", || {
        records(&h, &supervisor)
            .into_iter()
            .find(|r| r["id"] == waiting_id.as_str() && r["ended"].is_string())
    });

    // The caller dials the agent's extension; caller and agent hear each other.
    let mut caller = TonePeer::new("caller", 0, A);
    caller.call(h.sip, "1001");
    let peers = [&caller, &agent, &sup];
    settle(
        "caller and agent to hear each other",
        &[(&caller, B, true), (&agent, A, true)],
        &peers,
    );
    let record = wait_for(Duration::from_secs(10), "the answered record", || {
        records(&h, &supervisor)
            .into_iter()
            .find(|r| r["ended"].is_null() && r["answered"].is_string())
    });
    let id = record["id"].as_str().unwrap().to_string();
    let monitor = format!("/api/v1/interactions/{id}/monitor");
    let mode = format!("/api/v1/interactions/{id}/monitor/mode");

    // Refusals, each with its code.
    refused(
        &h,
        &agent_token,
        &monitor,
        r#"{"mode":"listen","phone":"1010"}"#,
        403,
        "forbidden",
    );
    refused(
        &h,
        &supervisor,
        &monitor,
        r#"{"mode":"spy","phone":"1010"}"#,
        400,
        "bad_mode",
    );
    refused(
        &h,
        &supervisor,
        &monitor,
        r#"{"mode":"listen"}"#,
        400,
        "no_phone",
    );
    refused(
        &h,
        &supervisor,
        &monitor,
        r#"{"mode":"listen","phone":"1005"}"#,
        409,
        "phone_unavailable",
    );
    refused(
        &h,
        &supervisor,
        "/api/v1/interactions/01M84SXX3ZBDRG27282N9ZRAPW/monitor",
        r#"{"mode":"listen","phone":"1010"}"#,
        404,
        "unknown_interaction",
    );
    refused(
        &h,
        &supervisor,
        &mode,
        r#"{"mode":"barge"}"#,
        409,
        "not_monitored",
    );

    // Listen: the supervisor hears caller and agent; nobody hears the supervisor.
    let (s, v) = post(
        &h,
        &supervisor,
        &monitor,
        r#"{"mode":"listen","phone":"1010"}"#,
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["mode"], "listen");
    refused(
        &h,
        &supervisor,
        &monitor,
        r#"{"mode":"listen","phone":"1010"}"#,
        409,
        "already_monitoring",
    );
    refused(
        &h,
        &admin,
        &monitor,
        r#"{"mode":"listen","phone":"1005"}"#,
        409,
        "already_monitored",
    );
    refused(
        &h,
        &admin,
        &mode,
        r#"{"mode":"barge"}"#,
        409,
        "not_monitored",
    );
    settle(
        "the supervisor to hear both",
        &[(&sup, A, true), (&sup, B, true)],
        &peers,
    );
    let m = measure(&peers);
    assert_hears("caller (listen)", &m[0], &[B], &[C]);
    assert_hears("agent (listen)", &m[1], &[A], &[C]);
    assert_hears("supervisor (listen)", &m[2], &[A, B], &[]);

    // Whisper: the agent hears the supervisor, the caller does not.
    let (s, v) = post(&h, &supervisor, &mode, r#"{"mode":"whisper"}"#);
    assert_eq!(s, 200, "{v}");
    settle(
        "the agent to hear the whisper",
        &[(&agent, C, true)],
        &peers,
    );
    let m = measure(&peers);
    assert_hears("caller (whisper)", &m[0], &[B], &[C]);
    assert_hears("agent (whisper)", &m[1], &[A, C], &[]);
    assert_hears("supervisor (whisper)", &m[2], &[A, B], &[]);

    // Barge: everyone hears everyone.
    let (s, v) = post(&h, &supervisor, &mode, r#"{"mode":"barge"}"#);
    assert_eq!(s, 200, "{v}");
    settle(
        "the caller to hear the supervisor",
        &[(&caller, C, true)],
        &peers,
    );
    let m = measure(&peers);
    assert_hears("caller (barge)", &m[0], &[B, C], &[]);
    assert_hears("agent (barge)", &m[1], &[A, C], &[]);
    assert_hears("supervisor (barge)", &m[2], &[A, B], &[]);

    // Back to listening, mid-call: the supervisor is silent again.
    let (s, v) = post(&h, &supervisor, &mode, r#"{"mode":"listen"}"#);
    assert_eq!(s, 200, "{v}");
    settle(
        "the supervisor to fall silent",
        &[(&caller, C, false), (&agent, C, false)],
        &peers,
    );
    let m = measure(&peers);
    assert_hears("caller (listen again)", &m[0], &[B], &[C]);
    assert_hears("agent (listen again)", &m[1], &[A], &[C]);
    assert_hears("supervisor (listen again)", &m[2], &[A, B], &[]);

    // Take over: the agent's phone gets a BYE; caller and supervisor talk.
    let (s, v) = post(
        &h,
        &supervisor,
        &format!("/api/v1/interactions/{id}/takeover"),
        "{}",
    );
    assert_eq!(s, 200, "{v}");
    wait_for(Duration::from_secs(10), "the agent's BYE", || {
        agent.got_bye().then_some(())
    });
    settle(
        "caller and supervisor to hear each other",
        &[
            (&caller, C, true),
            (&caller, B, false),
            (&sup, A, true),
            (&sup, B, false),
        ],
        &peers,
    );
    let m = measure(&peers);
    assert_hears("caller (taken over)", &m[0], &[C], &[B]);
    assert_hears("supervisor (taken over)", &m[2], &[A], &[B]);
    assert!(!sup.got_bye(), "the supervisor's phone stays on the call");
    refused(
        &h,
        &supervisor,
        &mode,
        r#"{"mode":"barge"}"#,
        409,
        "not_monitored",
    );

    // The caller hangs up: the supervisor's leg ends with the call.
    caller.hang_up(h.sip);
    wait_for(Duration::from_secs(10), "the supervisor's BYE", || {
        sup.got_bye().then_some(())
    });
    let r = wait_for(Duration::from_secs(10), "the ended record", || {
        records(&h, &supervisor)
            .into_iter()
            .find(|r| r["id"] == id.as_str() && r["ended"].is_string())
    });
    refused(
        &h,
        &supervisor,
        &format!("/api/v1/interactions/{id}/monitor/stop"),
        "{}",
        409,
        "not_in_progress",
    );

    // The record says who monitored the call, in which modes, when.
    let steps: Vec<(String, String, String)> = r["monitoring"]
        .as_array()
        .unwrap_or_else(|| panic!("monitoring in {r}"))
        .iter()
        .map(|e| {
            assert!(e["at"].is_string(), "{e}");
            assert_eq!(e["supervisor"], "supervisor", "{e}");
            (
                e["action"].as_str().unwrap_or("").to_string(),
                e["mode"].as_str().unwrap_or("").to_string(),
                e["detail"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("started", "listen", ""),
        ("mode_changed", "whisper", ""),
        ("mode_changed", "barge", ""),
        ("mode_changed", "listen", ""),
        ("taken_over", "", "1001"),
        ("stopped", "", "call_ended"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(steps, expected, "{r}");

    // The events in the log, as the stream delivers them.
    let events = feed.wait(Duration::from_secs(10), "the monitoring events", |all| {
        count(all, "monitor_stopped") >= 1 && count(all, "taken_over") >= 1
    });
    let ours: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["interaction"] == id.as_str())
        .collect();
    let started = ours
        .iter()
        .find(|e| e["kind"]["type"] == "monitor_started")
        .expect("monitor_started");
    assert_eq!(started["kind"]["supervisor"], "supervisor", "{started}");
    assert_eq!(started["kind"]["mode"], "listen", "{started}");
    assert_eq!(started["kind"]["phone"], "1010", "{started}");
    let modes: Vec<&str> = ours
        .iter()
        .filter(|e| e["kind"]["type"] == "monitor_mode_changed")
        .map(|e| e["kind"]["mode"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(modes, ["whisper", "barge", "listen"]);
    let taken = ours
        .iter()
        .find(|e| e["kind"]["type"] == "taken_over")
        .expect("taken_over");
    assert_eq!(taken["kind"]["agent"], "1001", "{taken}");

    // The audit trail has every step.
    let (status, body) = http(h.http, "GET", "/api/v1/audit", Some(&supervisor), None);
    assert_eq!(status, 200, "{body}");
    let audit: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let monitored = audit
        .iter()
        .filter(|e| e["action"] == "interaction.monitor" && e["target"] == id.as_str())
        .count();
    assert_eq!(monitored, 6, "{body}");

    // The recording: the agent's tone in the right channel before the takeover, the
    // supervisor's after it.
    let path = r["recording"].as_str().expect("a recording").to_string();
    let agent_windows = recorded_windows(&path, 1, B);
    let sup_windows = recorded_windows(&path, 1, C);
    assert!(
        agent_windows >= 250,
        "the agent in the right channel: {agent_windows}"
    );
    assert!(
        sup_windows >= 75,
        "the supervisor in the right channel: {sup_windows}"
    );
    assert!(
        recorded_windows(&path, 0, A) >= 300,
        "the caller in the left channel"
    );
}
