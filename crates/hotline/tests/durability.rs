//! End to end, with the real binary, sipp callers and sipp agent phones: a slow disk never
//! reaches a caller (the store's slow-commit test hook delays every COMMIT by 15 s), and
//! dead calls (no RTP, no BYE) are ended and their agents freed.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn at_ms(e: &Value) -> f64 {
    let t = hotline_model::Timestamp::parse_rfc3339(e["at"].as_str().unwrap()).unwrap();
    t.unix_nanos() as f64 / 1e6
}

/// INVITE → agent rung per call (arrived → first offered, by the times the session gave
/// its events, which are taken when it acts, not when the disk commits), over the calls
/// whose arrival is in `events`.
fn setup_ms(events: &[Value]) -> Vec<f64> {
    let mut arrived: HashMap<&str, f64> = HashMap::new();
    let mut offered: HashMap<&str, f64> = HashMap::new();
    for e in events {
        let id = e["interaction"].as_str().unwrap_or_default();
        match kind(e) {
            "arrived" => {
                arrived.insert(id, at_ms(e));
            }
            "offered" => {
                offered.entry(id).or_insert(at_ms(e));
            }
            _ => {}
        }
    }
    let mut out: Vec<f64> = arrived
        .iter()
        .map(|(id, a)| offered.get(id).expect("every caller reached an agent") - a)
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

fn p99(sorted: &[f64]) -> f64 {
    let rank = ((sorted.len() as f64) * 0.99).ceil() as usize;
    sorted[rank.max(1) - 1]
}

const AGENTS: [&str; 10] = [
    "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009", "1010",
];

#[test]
fn a_slow_disk_never_reaches_a_caller_and_the_records_complete_when_it_recovers() {
    const CALLS: usize = 10;
    let hook = tempfile::tempdir().unwrap();
    let slow = hook.path().join("slow-commit-ms");
    let h = Hotline::serve_with_env(
        |t| {
            all_take_accounts(t).replace(
                "[storage]",
                "[storage]\nbehind_alert_seconds = 2\nmax_backlog_events = 100000",
            )
        },
        &[("HOTLINE_TEST_SLOW_COMMIT_FILE", slow.as_path())],
    );
    // Agents log in and become available while the disk is fast: the API acknowledges only
    // what is durable, so it would wait for a slow disk.
    let port = register_all(&h, &AGENTS);
    for ext in AGENTS {
        available(&h, ext);
    }
    let feed = Feed::open(&h);
    let sip = h.sip;
    let phones = std::thread::spawn(move || {
        sipp_at(
            sip,
            "agent-answers.xml",
            &[
                "-p",
                &port,
                "-i",
                "127.0.0.1",
                "-rtp_echo",
                "-m",
                &(2 * CALLS).to_string(),
                "-timeout",
                "300s",
            ],
        )
    });
    // Each caller presses 1, is queued for accounts, an agent answers at once, the caller
    // hangs up a second later.
    let caller = scenario_with(
        &h,
        "caller-key-talk.xml",
        &[(
            "<pause milliseconds=\"4000\"/>",
            "<pause milliseconds=\"1000\"/>",
        )],
    );
    let run = |caller: &str| {
        let n = CALLS.to_string();
        let (ok, log) = sipp_at(sip, caller, &["-m", &n, "-r", "2", "-l", &n]);
        assert!(ok, "callers: {log}");
    };

    // Without the fault.
    run(&caller);
    let before = feed.wait(Duration::from_secs(60), "the first calls' ends", |e| {
        count(e, "ended") >= CALLS
    });
    let fast = setup_ms(&before);
    assert_eq!(fast.len(), CALLS);

    // With every commit taking 15 s.
    std::fs::write(&slow, "15000").unwrap();
    let started = Instant::now();
    run(&caller);
    let during = started.elapsed();
    assert!(
        during < Duration::from_secs(15),
        "the callers were done before the first slow commit ({during:?})"
    );
    // Nothing of the second run is acknowledged yet, and the log says it is behind.
    assert_eq!(count(&feed.snapshot(), "arrived"), CALLS);
    let backlog = metric(&h, "hotline_log_backlog_events");
    assert!(backlog >= (CALLS * 5) as f64, "backlog {backlog}");
    let age = metric(&h, "hotline_log_backlog_age_seconds");
    assert!(age >= 2.0, "backlog age {age}");
    feed.wait(Duration::from_secs(10), "the log-behind alert", |e| {
        e.iter().any(|e| {
            e["stream"] == "system"
                && e["alert"]["kind"] == "event_log_behind"
                && e["alert"]["raised"] == true
        })
    });

    // The disk recovers: the records complete, in order.
    std::fs::remove_file(&slow).unwrap();
    let all = feed.wait(Duration::from_secs(90), "every call's end", |e| {
        count(e, "ended") >= 2 * CALLS
    });
    let (ok, log) = phones.join().unwrap();
    assert!(ok, "phones: {log}");
    let second: Vec<Value> = {
        let first_ids: std::collections::HashSet<&str> = before
            .iter()
            .filter_map(|e| e["interaction"].as_str())
            .collect();
        all.iter()
            .filter(|e| {
                e["interaction"]
                    .as_str()
                    .is_some_and(|i| !first_ids.contains(i))
            })
            .cloned()
            .collect()
    };
    let slow_setup = setup_ms(&second);
    assert_eq!(slow_setup.len(), CALLS);
    let (p_fast, p_slow) = (p99(&fast), p99(&slow_setup));
    eprintln!("setup p99: {p_fast:.0} ms without the fault, {p_slow:.0} ms with 15 s commits");
    assert!(
        p_slow <= 2.0 * p_fast,
        "setup p99 {p_slow:.0} ms with the slow disk, {p_fast:.0} ms without"
    );
    feed.wait(Duration::from_secs(10), "the alert cleared", |e| {
        e.iter()
            .any(|e| e["stream"] == "system" && e["alert"]["raised"] == false)
    });

    // Every event in seq order; per call: arrived first, ended last, times never going back.
    let events: Vec<&Value> = all.iter().filter(|e| e["seq"].is_u64()).collect();
    for w in events.windows(2) {
        assert!(
            w[0]["seq"].as_u64() < w[1]["seq"].as_u64(),
            "{} {}",
            w[0],
            w[1]
        );
    }
    let mut per_call: HashMap<&str, Vec<&Value>> = HashMap::new();
    for e in &events {
        if let Some(i) = e["interaction"].as_str() {
            per_call.entry(i).or_default().push(e);
        }
    }
    assert_eq!(per_call.len(), 2 * CALLS);
    for (id, evs) in &per_call {
        assert_eq!(kind(evs[0]), "arrived", "{id}");
        assert_eq!(kind(evs[evs.len() - 1]), "ended", "{id}");
        for w in evs.windows(2) {
            assert!(at_ms(w[0]) <= at_ms(w[1]), "{id}: {} then {}", w[0], w[1]);
        }
        let order: Vec<&str> = evs
            .iter()
            .map(|e| kind(e))
            .filter(|k| ["queued", "offered", "answered"].contains(k))
            .collect();
        assert_eq!(order, ["queued", "offered", "answered"], "{id}");
    }
    // And the records (the API's projection) are complete.
    let sup = login(&h, "supervisor", "supervisor");
    let (status, body) = http(h.http, "GET", "/api/v1/interactions", Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    let records: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(records.len(), 2 * CALLS);
    for r in &records {
        assert_eq!(r["end_reason"], "caller_hangup", "{r}");
        assert!(r["answered"].is_string() && r["agent"].is_string(), "{r}");
    }
    assert_eq!(metric(&h, "hotline_log_backlog_events"), 0.0);
}

/// A centre whose calls are dead after `secs` without RTP.
fn with_inactivity(secs: u32) -> impl Fn(String) -> String {
    move |t| {
        all_take_accounts(t).replace(
            "[centre]",
            &format!("[centre]\nmedia_inactivity_seconds = {secs}"),
        )
    }
}

#[test]
fn a_queued_caller_whose_media_stops_leaves_the_queue_as_an_abandon() {
    let h = Hotline::serve_with(with_inactivity(3));
    let feed = Feed::open(&h);
    // Nobody is available: the caller presses 1, waits in accounts, and its phone goes
    // silent without a BYE. hotline ends the call (the scenario needs hotline's BYE).
    let started = Instant::now();
    let (ok, log) = h.sipp("caller-stays.xml", &["-m", "1"]);
    assert!(ok, "{log}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "ended after {took:?}");
    let all = feed.wait(Duration::from_secs(10), "the end", |e| {
        count(e, "ended") == 1
    });
    assert_eq!(count(&all, "abandoned"), 1, "{all:?}");
    let ended = all.iter().find(|e| kind(e) == "ended").unwrap();
    assert_eq!(ended["kind"]["reason"], "abandoned");
    assert!(
        all.iter()
            .any(|e| kind(e) == "flow_step" && e["kind"]["step"] == "media_timeout"),
        "the reason is logged: {all:?}"
    );
    // The queue is empty: nobody will be offered a dead line.
    let sup = login(&h, "supervisor", "supervisor");
    let (status, body) = http(h.http, "GET", "/api/v1/queues", Some(&sup), None);
    assert_eq!(status, 200);
    let queues: Value = serde_json::from_str(&body).unwrap();
    let accounts = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "accounts")
        .unwrap();
    assert_eq!(accounts["waiting"], 0, "{accounts}");
}

#[test]
fn a_call_whose_media_stops_ends_with_media_timeout_and_frees_the_agent() {
    let h = Hotline::serve_with(with_inactivity(3));
    let port = register_all(&h, &["1001"]);
    available(&h, "1001");
    let feed = Feed::open(&h);
    let sip = h.sip;
    let phone = std::thread::spawn(move || {
        sipp_at(
            sip,
            "agent-answers.xml",
            &["-p", &port, "-i", "127.0.0.1", "-m", "1"],
        )
    });
    // The caller is put through, then sends nothing and never hangs up.
    let (ok, log) = h.sipp("caller-stays.xml", &["-m", "1"]);
    assert!(ok, "caller: {log}");
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "the agent's phone got its BYE: {log}");
    let all = feed.wait(Duration::from_secs(10), "the end", |e| {
        count(e, "ended") == 1
    });
    let ended = all.iter().find(|e| kind(e) == "ended").unwrap();
    assert_eq!(ended["kind"]["reason"], "media_timeout", "{all:?}");
    let answered = all.iter().find(|e| kind(e) == "answered").unwrap();
    let secs = (at_ms(ended) - at_ms(answered)) / 1000.0;
    assert!(secs < 3.0 + 3.0, "ended {secs:.1} s after the answer");
    // The agent is free again (no wrap-up configured).
    let sup = login(&h, "supervisor", "supervisor");
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = http(h.http, "GET", "/api/v1/agents/1001", Some(&sup), None);
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        if v["state"]["state"] == "available" {
            break;
        }
        assert!(Instant::now() < end, "agent not freed: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_phone_on_hold_is_not_taken_for_dead_when_the_other_side_resumes() {
    // The agent's phone sends no RTP at all and holds the call from half a second after it
    // answers until 6.5 s later; the caller holds at 3 s and resumes at 5 s (after dialling),
    // echoing what it hears. The agent's leg is silent past the 4 s inactivity time while
    // only the agent holds: it must not be taken for dead.
    let h = Hotline::serve_with(with_inactivity(4));
    let port = register_all(&h, &["1001"]);
    available(&h, "1001");
    let feed = Feed::open(&h);
    let agent = scenario_with(
        &h,
        "agent-holds.xml",
        &[
            (
                "<pause milliseconds=\"1500\"/>",
                "<pause milliseconds=\"500\"/>",
            ),
            (
                "<pause milliseconds=\"1000\"/>",
                "<pause milliseconds=\"6000\"/>",
            ),
        ],
    );
    let sip = h.sip;
    let phone = std::thread::spawn(move || {
        sipp_at(sip, &agent, &["-p", &port, "-i", "127.0.0.1", "-m", "1"])
    });
    let (ok, log) = h.sipp("caller-holds.xml", &["-rtp_echo", "-m", "1"]);
    assert!(ok, "caller (no BYE from hotline while on the line): {log}");
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "the agent's phone held, resumed and hung up: {log}");
    let all = feed.wait(Duration::from_secs(10), "the end", |e| {
        count(e, "ended") == 1
    });
    assert!(
        !all.iter()
            .any(|e| kind(e) == "flow_step" && e["kind"]["step"] == "media_timeout"),
        "{all:?}"
    );
    let ended = all.iter().find(|e| kind(e) == "ended").unwrap();
    assert_ne!(ended["kind"]["reason"], "media_timeout", "{all:?}");
    assert_eq!(count(&all, "held"), 2, "{all:?}");
    assert_eq!(count(&all, "resumed"), 2, "{all:?}");
    // The caller resumed while the agent still held.
    let order: Vec<&str> = all
        .iter()
        .map(kind)
        .filter(|k| *k == "held" || *k == "resumed")
        .collect();
    assert_eq!(order, ["held", "held", "resumed", "resumed"], "{all:?}");
}

#[test]
fn a_session_that_is_no_longer_refreshed_ends_with_session_expired() {
    // No media timeout: only the session timer can end this call. The scenario's 6 s
    // interval is below RFC 4028's 90 s floor, so the test centre lowers its minimum.
    let h = Hotline::serve_with(|t| {
        with_inactivity(0)(t).replace("[sip]\n", "[sip]\nmin_session_expires = 5\n")
    });
    let port = register_all(&h, &["1001"]);
    available(&h, "1001");
    let feed = Feed::open(&h);
    let sip = h.sip;
    let phone = std::thread::spawn(move || {
        sipp_at(
            sip,
            "agent-answers.xml",
            &["-p", &port, "-i", "127.0.0.1", "-m", "1"],
        )
    });
    // Session-Expires: 6 (refresher: the caller), one refresh by UPDATE 2.5 s in, then none.
    let (ok, log) = h.sipp("caller-session-timer.xml", &["-m", "1"]);
    assert!(ok, "caller: {log}");
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "the agent's phone got its BYE: {log}");
    let all = feed.wait(Duration::from_secs(10), "the end", |e| {
        count(e, "ended") == 1
    });
    let ended = all.iter().find(|e| kind(e) == "ended").unwrap();
    assert_eq!(ended["kind"]["reason"], "session_expired", "{all:?}");
    assert!(
        all.iter()
            .any(|e| kind(e) == "flow_step" && e["kind"]["step"] == "session_expired"),
        "the reason is logged: {all:?}"
    );
    assert!(all.iter().any(|e| kind(e) == "answered"), "{all:?}");
    let arrived = all.iter().find(|e| kind(e) == "arrived").unwrap();
    let secs = (at_ms(ended) - at_ms(arrived)) / 1000.0;
    // Without the refresh the session would have ended 4 s in; with it, 2.5 + 4 s in.
    assert!(
        (5.5..10.0).contains(&secs),
        "ended {secs:.1} s after the INVITE"
    );
    let sup = login(&h, "supervisor", "supervisor");
    let (status, body) = http(h.http, "GET", "/api/v1/agents/1001", Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["state"]["state"], "available", "agent freed: {v}");
}

#[test]
fn a_call_cut_off_by_kill_9_keeps_its_talk_time_up_to_its_last_media() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut h = Hotline::serve_with_in(&data, all_take_accounts);
    let port = register_all(&h, &["1001"]);
    available(&h, "1001");
    let feed = Feed::open(&h);
    let sip = h.sip;
    let phone = phone_answers_once(sip, "agent-answers.xml", &port, "60s");
    let caller = std::thread::spawn(move || {
        sipp_at(sip, "caller-stays.xml", &["-m", "1", "-timeout", "60s"])
    });
    // The call is answered; its legs' quality samples (one logged per leg every 15 s while
    // media flows) are its proof of life in the log: waited for until one comes more than
    // 10 s after the answer.
    let all = feed.wait(
        Duration::from_secs(45),
        "a quality sample 10 s after the answer",
        |e| {
            e.iter()
                .position(|e| kind(e) == "answered")
                .is_some_and(|a| {
                    e[a..]
                        .iter()
                        .any(|s| kind(s) == "quality_sample" && at_ms(s) - at_ms(&e[a]) > 10_000.0)
                })
        },
    );
    let answered = all.iter().find(|e| kind(e) == "answered").unwrap().clone();
    let last = all
        .iter()
        .rev()
        .find(|e| e["interaction"] == answered["interaction"])
        .unwrap()
        .clone();
    assert_eq!(kind(&last), "quality_sample", "{all:?}");
    h.kill9();
    let _ = caller.join(); // both phones lose the server
    let _ = phone.join();

    let h = Hotline::serve_with_in(&data, all_take_accounts);
    let sup = login(&h, "supervisor", "supervisor");
    let (status, body) = http(h.http, "GET", "/api/v1/interactions", Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    let records: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["end_reason"], "interrupted", "{r}");
    let ended = hotline_model::Timestamp::parse_rfc3339(r["ended"].as_str().unwrap()).unwrap();
    let ended_ms = ended.unix_nanos() as f64 / 1e6;
    assert!(
        (ended_ms - at_ms(&last)).abs() < 1.0,
        "closed at the last media sample: {r} {last}"
    );
    let talk = (ended_ms - at_ms(&answered)) / 1000.0;
    assert!(talk > 10.0, "talk time kept: {talk:.1} s");
}

#[test]
fn new_calls_get_503_while_the_backlog_is_over_its_bound_and_calls_in_progress_go_on() {
    let hook = tempfile::tempdir().unwrap();
    let slow = hook.path().join("slow-commit-ms");
    let h = Hotline::serve_with_env(
        |t| {
            all_take_accounts(t).replace(
                "[storage]",
                "[storage]\nmax_backlog_events = 6\nbehind_alert_seconds = 60",
            )
        },
        &[("HOTLINE_TEST_SLOW_COMMIT_FILE", slow.as_path())],
    );
    let port = register_all(&h, &["1001"]);
    available(&h, "1001");
    let feed = Feed::open(&h);
    std::fs::write(&slow, "20000").unwrap();
    let sip = h.sip;
    let phone = std::thread::spawn(move || {
        sipp_at(
            sip,
            "agent-answers.xml",
            &["-p", &port, "-i", "127.0.0.1", "-m", "1", "-timeout", "60s"],
        )
    });
    // A call in progress while the disk is stuck: put through, talks, hangs up.
    let caller = std::thread::spawn(move || {
        sipp_at(sip, "caller-key-talk.xml", &["-m", "1", "-timeout", "60s"])
    });
    // Supervisors are told when new calls start being refused.
    feed.wait(Duration::from_secs(20), "new calls refused", |e| {
        e.iter()
            .any(|e| e["stream"] == "system" && e["alert"]["refusing_calls"] == true)
    });
    assert!(metric(&h, "hotline_log_backlog_events") >= 6.0);
    // A new call is refused with 503 and Retry-After.
    let (ok, log) = h.sipp("invite-full.xml", &["-m", "1"]);
    assert!(ok, "no 503 while the log is behind: {log}");
    let (ok, log) = caller.join().unwrap();
    assert!(ok, "the call in progress went on: {log}");
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "{log}");
    // The disk recovers: the call's record is complete; the refused call left none.
    std::fs::remove_file(&slow).unwrap();
    let all = feed.wait(Duration::from_secs(40), "the call's end", |e| {
        count(e, "ended") == 1
    });
    assert_eq!(count(&all, "arrived"), 1, "the refused call left no record");
    let sup = login(&h, "supervisor", "supervisor");
    let (status, body) = http(h.http, "GET", "/api/v1/interactions", Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    let records: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["end_reason"], "caller_hangup", "{}", records[0]);
    assert_eq!(records[0]["agent"], "1001");
}

#[test]
fn a_session_timer_shorter_than_the_minimum_gets_422_with_min_se() {
    let h = Hotline::demo();
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let me = sock.local_addr().unwrap();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let invite = format!(
        "INVITE sip:95588@{sip} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bK-se-{n}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:13800138000@{me}>;tag=se1\r\n\
         To: <sip:95588@{sip}>\r\n\
         Call-ID: se-{n}@test\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:13800138000@{me}>\r\n\
         Supported: timer\r\n\
         Session-Expires: 30;refresher=uac\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\r\n{sdp}",
        sip = h.sip,
        n = std::process::id(),
        len = sdp.len(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut answer = String::new();
    // Sent again until answered, as UDP clients do.
    while std::time::Instant::now() < deadline && !answer.starts_with("SIP/2.0 422") {
        sock.send_to(invite.as_bytes(), h.sip).unwrap();
        let mut buf = [0u8; 4096];
        while let Ok((n, _)) = sock.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !text.starts_with("SIP/2.0 100") {
                answer = text;
                break;
            }
        }
    }
    assert!(answer.starts_with("SIP/2.0 422"), "{answer}");
    assert!(answer.contains("Min-SE: 90"), "{answer}");
}
