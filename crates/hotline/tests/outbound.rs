//! Outbound campaigns end to end: hotline dials through its trunk to sipp playing the
//! carrier's far ends (people who answer and say hello, busy lines, phones nobody picks up,
//! answering machines with a long greeting, people who press keys), and agents' sipp phones
//! take the answered calls.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// hotline with a trunk to the far ends at 127.0.0.1:`carrier`; every agent takes accounts
/// calls with no wrap-up.
fn centre(carrier: u16, data: Option<&std::path::Path>) -> Hotline {
    let edit = move |t: String| {
        all_take_accounts(t).replace(
            "sources = [\"127.0.0.1/32\"]",
            &format!("sources = [\"127.0.0.1/32\"]\noutbound = \"127.0.0.1:{carrier}\""),
        )
    };
    match data {
        Some(d) => Hotline::serve_with_in(d, edit),
        None => Hotline::serve_with(edit),
    }
}

fn json_of(
    h: &Hotline,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let text = body.map(|b| b.to_string());
    let (status, out) = http(h.http, method, path, Some(token), text.as_deref());
    (status, serde_json::from_str(&out).unwrap_or(Value::Null))
}

fn create(h: &Hotline, token: &str, spec: Value) -> String {
    let (status, v) = json_of(h, "POST", "/api/v1/campaigns", token, Some(&spec));
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["state"], "draft", "{v}");
    v["id"].as_str().unwrap().to_string()
}

fn import(h: &Hotline, token: &str, id: &str, csv: &str) -> Value {
    let (status, body) = http_typed(
        h.http,
        "POST",
        &format!("/api/v1/campaigns/{id}/contacts"),
        Some(token),
        "text/csv",
        Some(csv),
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn control(h: &Hotline, token: &str, id: &str, action: &str) -> Value {
    let (status, v) = json_of(
        h,
        "POST",
        &format!("/api/v1/campaigns/{id}/state"),
        token,
        Some(&json!({ "action": action })),
    );
    assert_eq!(status, 200, "{v}");
    v
}

fn results(h: &Hotline, token: &str, id: &str) -> Vec<Value> {
    let (status, v) = json_of(
        h,
        "GET",
        &format!("/api/v1/campaigns/{id}/results"),
        token,
        None,
    );
    assert_eq!(status, 200, "{v}");
    v["contacts"].as_array().unwrap().clone()
}

fn contact(all: &[Value], id: u64) -> Value {
    all.iter()
        .find(|c| c["contact"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Open all day on every day.
fn all_day(window: &str) -> Value {
    let w = json!(window);
    json!({"mon": w, "tue": w, "wed": w, "thu": w, "fri": w, "sat": w, "sun": w})
}

/// A fixed-offset zone where the local hour is now about `hour` (Etc/GMT-N is UTC+N).
fn zone_at_local_hour(hour: i64) -> String {
    let utc_hour = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        / 3600)
        % 24;
    let offset = ((hour - utc_hour) + 36) % 24 - 12;
    match offset {
        0 => "Etc/GMT".to_string(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

/// Speech-like bursts: `words` bursts of `word_ms` with `gap_ms` of silence between.
fn bursts(words: usize, word_ms: usize, gap_ms: usize) -> Vec<i16> {
    let mut out = Vec::new();
    for w in 0..words {
        let n = word_ms * 8;
        for i in 0..n {
            let t = i as f64 / 8000.0;
            // A voiced sound: 180 Hz with harmonics, rising and falling.
            let env = (std::f64::consts::PI * i as f64 / n as f64).sin();
            let f0 = 180.0 + 20.0 * w as f64;
            let s = (2.0 * std::f64::consts::PI * f0 * t).sin()
                + 0.5 * (4.0 * std::f64::consts::PI * f0 * t).sin()
                + 0.25 * (6.0 * std::f64::consts::PI * f0 * t).sin();
            out.push((s * env * 6000.0) as i16);
        }
        out.extend(std::iter::repeat_n(0i16, gap_ms * 8));
    }
    out
}

/// The far ends' scenario, with greetings written beside the server's files.
fn far_ends_scenario(h: &Hotline, slow_ring_ms: u32) -> String {
    let human = h.dir.path().join("hello.pcap");
    // "Hello?": half a second, then silence.
    rtp_pcap(&human, hotline_media::Codec::Pcmu, &bursts(1, 500, 100));
    let machine = h.dir.path().join("greeting.pcap");
    // "You have reached ... please leave a message after the tone": 5 s of words.
    rtp_pcap(&machine, hotline_media::Codec::Pcmu, &bursts(12, 300, 120));
    scenario_with(
        h,
        "carrier-far-ends.xml",
        &[
            ("HUMAN_PCAP", human.to_str().unwrap()),
            ("MACHINE_PCAP", machine.to_str().unwrap()),
            ("RING_MS_SLOW", &slow_ring_ms.to_string()),
        ],
    )
}

/// sipp as the far ends at 127.0.0.1:`port`, taking `calls` calls, tracing its messages to
/// `trace` (times in UTC).
fn far_ends(
    h: &Hotline,
    scenario: String,
    port: u16,
    calls: usize,
    trace: &std::path::Path,
) -> std::thread::JoinHandle<(bool, String)> {
    let target = h.sip;
    let trace = trace.to_str().unwrap().to_string();
    std::thread::spawn(move || {
        let (port, calls) = (port.to_string(), calls.to_string());
        sipp_at_env(
            target,
            &scenario,
            &[
                "-p",
                &port,
                "-i",
                "127.0.0.1",
                "-m",
                &calls,
                "-timeout",
                "180s",
                "-trace_msg",
                "-message_file",
                &trace,
            ],
            &[("TZ", "UTC")],
        )
    })
}

/// An agent's sipp phone on `port` that answers `calls` calls, talks two seconds and hangs up.
fn agent_phone(h: &Hotline, port: &str, calls: usize) -> std::thread::JoinHandle<(bool, String)> {
    phone_answers(h.sip, "agent-hangs-up.xml", port, calls, "120s")
}

/// Seconds since the Unix epoch of `YYYY-MM-DD?HH:MM:SS.fff` (UTC).
fn epoch_secs(s: &str) -> f64 {
    let (date, time) = (&s[..10], &s[11..]);
    let mut d = date.split('-').map(|x| x.parse::<i64>().unwrap());
    let (y, m, day) = (d.next().unwrap(), d.next().unwrap(), d.next().unwrap());
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let time = time.trim_end_matches('Z');
    let mut t = time.split(':');
    let (hh, mm, ss) = (
        t.next().unwrap().parse::<f64>().unwrap(),
        t.next().unwrap().parse::<f64>().unwrap(),
        t.next().unwrap().parse::<f64>().unwrap(),
    );
    days as f64 * 86_400.0 + hh * 3600.0 + mm * 60.0 + ss
}

/// When the far ends sent their 200 OK (with SDP) to a call to a number ending in `tail`.
fn answered_at(trace: &std::path::Path, tail: &str) -> Option<f64> {
    traced(trace, tail, |b| {
        b.contains("message sent") && b.contains("SIP/2.0 200 OK") && b.contains("application/sdp")
    })
}

/// When the far ends received `method` for a number ending in `tail`.
fn received_at(trace: &std::path::Path, tail: &str, method: &str) -> Option<f64> {
    traced(trace, tail, |b| {
        b.contains("message received") && b.lines().any(|l| l.starts_with(&format!("{method} ")))
    })
}

/// The time of the first traced message about a number ending in `tail` that `pick` takes.
fn traced(trace: &std::path::Path, tail: &str, pick: impl Fn(&str) -> bool) -> Option<f64> {
    let text = std::fs::read_to_string(trace).ok()?;
    text.split("----------------------------------------------- ")
        .filter(|b| pick(b))
        .find(|b| {
            b.lines()
                .any(|l| l.starts_with("To:") && l.contains(&format!("{tail}@")))
        })
        .map(|b| epoch_secs(b.lines().next().unwrap_or("").trim()))
}

/// The campaign's interactions by contact, from the event feed: (dialled at, ended at).
fn timeline(events: &[Value], campaign: &str) -> Vec<(String, f64, Option<f64>)> {
    let mut out: Vec<(String, f64, Option<f64>)> = Vec::new();
    for e in events {
        let id = e["interaction"].as_str().unwrap_or("").to_string();
        let at = e["at"].as_str().map(epoch_secs).unwrap_or(0.0);
        match kind(e) {
            "dialled" if e["kind"]["campaign"] == campaign => out.push((id, at, None)),
            "ended" => {
                if let Some(x) = out.iter_mut().find(|x| x.0 == id) {
                    x.2 = Some(at);
                }
            }
            _ => {}
        }
    }
    out
}

fn dialled_to(events: &[Value], campaign: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| kind(e) == "dialled" && e["kind"]["campaign"] == campaign)
        .map(|e| e["kind"]["to"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_progressive_campaign_dials_only_for_free_agents_and_never_a_blocked_or_closed_number() {
    let carrier = free_port("127.0.0.1");
    let h = centre(carrier, None);
    let feed = Feed::open(&h);
    let sup = login(&h, "supervisor", "supervisor");
    let agent_port = register_all(&h, &["1001"]);
    let open = zone_at_local_hour(12);
    let closed = zone_at_local_hour(0);
    let id = create(
        &h,
        &sup,
        json!({
            "name": "complaint follow-up",
            "mode": "progressive",
            "caller_id": "+442079460000",
            "queue": "accounts",
            "calling_hours": all_day("06:00-18:00"),
            "amd": true,
        }),
    );
    // A supervisor's number for the do-not-call list, written as people write numbers.
    let (status, v) = json_of(
        &h,
        "POST",
        "/api/v1/dnc",
        &sup,
        Some(&json!({"numbers": ["+44 7700 900131"]})),
    );
    assert_eq!((status, v["added"].as_u64()), (200, Some(1)), "{v}");
    let report = import(
        &h,
        &sup,
        &id,
        &format!(
            "id,phone,name,time_zone\n\
             1,+447700900101,Ann,{open}\n\
             2,+44 7700 900111,Bob,{open}\n\
             3,+447700900121,\"Carter, Cy\",{open}\n\
             4,+447700900131,Dee,{open}\n\
             5,+447700900141,Eve,{closed}\n\
             6,12345,Bad,{open}\n"
        ),
    );
    assert_eq!(report["imported"], 5, "{report}");
    assert_eq!(report["errors"][0]["line"], 7, "{report}");

    let far = far_ends(
        &h,
        far_ends_scenario(&h, 3000),
        carrier,
        3,
        &h.dir.path().join("far.log"),
    );
    let agent = agent_phone(&h, &agent_port, 3);
    // Nobody is free yet: started, the campaign dials nothing.
    let v = control(&h, &sup, &id, "start");
    assert_eq!(v["state"], "running", "{v}");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        dialled_to(&feed.snapshot(), &id).is_empty(),
        "dialled with no agent free"
    );

    available(&h, "1001");
    let all = feed.wait(
        Duration::from_secs(90),
        "three campaign calls answered and ended",
        |all| {
            let t = timeline(all, &id);
            t.len() >= 3 && t.iter().all(|x| x.2.is_some())
        },
    );
    let (ok, log) = agent.join().unwrap();
    assert!(ok, "agent: {log}");
    let (ok, log) = far.join().unwrap();
    assert!(ok, "far ends: {log}");

    // One agent: never a second call before the first is over.
    let t = timeline(&all, &id);
    for pair in t.windows(2) {
        let (ended, next) = (pair[0].2.unwrap(), pair[1].1);
        assert!(
            next >= ended,
            "a call dialled while the only agent was busy: {t:?}"
        );
    }
    // Each was answered by a person, and taken by the agent.
    for (call, ..) in &t {
        let of = |k: &str| {
            all.iter()
                .filter(|e| e["interaction"] == call.as_str() && kind(e) == k)
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(
            of("dial_outcome")[0]["kind"]["outcome"],
            "live",
            "{:?}",
            of("dial_outcome")
        );
        assert_eq!(of("answered")[0]["kind"]["agent"], "1001", "{call}");
    }
    let dialled = dialled_to(&all, &id);
    assert!(
        !dialled.contains(&"+447700900131".to_string()),
        "dialled a number on the do-not-call list"
    );
    assert!(
        !dialled.contains(&"+447700900141".to_string()),
        "dialled outside the calling hours"
    );

    // The agent is free again: the next contact is found on the list at dial time.
    let r = wait_for(Duration::from_secs(10), "the blocked contact done", || {
        let r = results(&h, &sup, &id);
        (contact(&r, 4)["result"] != "").then_some(r)
    });
    for c in [1, 2, 3] {
        assert_eq!(contact(&r, c)["result"], "reached", "{r:?}");
    }
    assert_eq!(contact(&r, 4)["result"], "do_not_call", "{r:?}");
    assert_eq!(contact(&r, 5)["attempts"], 0, "{r:?}");
    assert_eq!(contact(&r, 5)["result"], "", "{r:?}");
    // The report as CSV, for a spreadsheet.
    let (status, csv) = http(
        h.http,
        "GET",
        &format!("/api/v1/campaigns/{id}/results.csv"),
        Some(&sup),
        None,
    );
    assert_eq!(status, 200);
    assert!(
        csv.starts_with("contact,phone,name,attempts,result"),
        "{csv}"
    );
    assert!(
        csv.contains("3,+447700900121,\"Carter, Cy\",1,reached,live"),
        "{csv}"
    );
    // Paused, and finished by hand: a refusal for what the state does not allow.
    assert_eq!(control(&h, &sup, &id, "pause")["state"], "paused");
    assert_eq!(control(&h, &sup, &id, "finish")["state"], "finished");
    let (status, v) = json_of(
        &h,
        "POST",
        &format!("/api/v1/campaigns/{id}/state"),
        &sup,
        Some(&json!({"action": "resume"})),
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{v}"
    );
}

#[test]
fn an_agentless_survey_scores_the_customers_history_and_nine_means_never_again() {
    let carrier = free_port("127.0.0.1");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let file = dir.path().join("customers.csv");
    std::fs::write(&file, "id,name,phone\nC7,Grace,+447700900106\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args([
            "import-customers",
            file.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let h = centre(carrier, Some(&data));
    let feed = Feed::open(&h);
    let sup = login(&h, "supervisor", "supervisor");
    let id = create(
        &h,
        &sup,
        json!({
            "name": "after the complaint",
            "mode": "agentless",
            "caller_id": "+442079460000",
            "flow": "outbound_survey",
            "calling_hours": all_day("00:00-24:00"),
            "amd": false,
            "language": "en",
        }),
    );
    let report = import(&h, &sup, &id, "phone\n+447700900106\n+447700900107\n");
    assert_eq!(report["imported"], 2, "{report}");
    let far = far_ends(
        &h,
        far_ends_scenario(&h, 3000),
        carrier,
        2,
        &h.dir.path().join("far.log"),
    );
    control(&h, &sup, &id, "start");
    let all = feed.wait(Duration::from_secs(60), "both survey calls over", |all| {
        let t = timeline(all, &id);
        t.len() == 2 && t.iter().all(|x| x.2.is_some())
    });
    let (ok, log) = far.join().unwrap();
    assert!(ok, "far ends: {log}");
    let t = timeline(&all, &id);
    let call_to = |n: &str| {
        all.iter()
            .find(|e| kind(e) == "dialled" && e["kind"]["to"] == n)
            .map(|e| e["interaction"].as_str().unwrap().to_string())
            .unwrap()
    };
    let scored = call_to("+447700900106");
    let survey: Vec<&Value> = all
        .iter()
        .filter(|e| e["interaction"] == scored.as_str() && kind(e) == "surveyed")
        .collect();
    assert_eq!(survey.len(), 1, "{t:?}");
    assert_eq!(survey[0]["kind"]["score"], 4);
    // On the customer's history, with the score.
    let (status, v) = json_of(&h, "GET", "/api/v1/customers/C7", &sup, None);
    assert_eq!(status, 200, "{v}");
    let history = v["history"].as_array().unwrap();
    let entry = history
        .iter()
        .find(|e| e["interaction"]["id"] == scored.as_str() || e["id"] == scored.as_str());
    let entry = entry.unwrap_or_else(|| panic!("the survey call is not on the history: {v}"));
    let survey_of = |e: &Value| e["interaction"]["survey"].as_u64().or(e["survey"].as_u64());
    assert_eq!(survey_of(entry), Some(4), "{entry}");
    // The other pressed 9: on the do-not-call list, by the log.
    let numbers = wait_for(
        Duration::from_secs(10),
        "the number on the do-not-call list",
        || {
            let (_, v) = json_of(&h, "GET", "/api/v1/dnc", &sup, None);
            let n = v["numbers"].as_array().cloned().unwrap_or_default();
            n.iter().any(|x| x == "+447700900107").then_some(n)
        },
    );
    assert_eq!(numbers.len(), 1, "{numbers:?}");
    let r = results(&h, &sup, &id);
    assert_eq!(contact(&r, 1)["result"], "reached", "{r:?}");
    assert_eq!(contact(&r, 2)["result"], "reached", "{r:?}");
    // Every contact done: the campaign finished by itself.
    let v = wait_for(Duration::from_secs(5), "the campaign finished", || {
        let (_, v) = json_of(&h, "GET", &format!("/api/v1/campaigns/{id}"), &sup, None);
        (v["state"] == "finished").then_some(v)
    });
    assert_eq!(v["stats"]["connected"], 2, "{v}");
}

#[test]
fn busy_no_answer_and_machines_are_retried_by_the_rules_and_an_unattended_answer_hears_the_message()
{
    let carrier = free_port("127.0.0.1");
    let h = centre(carrier, None);
    let feed = Feed::open(&h);
    let sup = login(&h, "supervisor", "supervisor");
    let _agent_port = register_all(&h, &["1001"]);
    let id = create(
        &h,
        &sup,
        json!({
            "name": "reminders",
            "mode": "progressive",
            "caller_id": "+442079460000",
            "queue": "accounts",
            "calling_hours": all_day("00:00-24:00"),
            "machine_action": "hang_up",
            "retries": {
                "busy": {"max_attempts": 2, "spacing_seconds": 3},
                "no_answer": {"max_attempts": 1, "spacing_seconds": 60},
                "machine": {"max_attempts": 1, "spacing_seconds": 60},
            },
            "rules": {"ring_seconds": 15},
        }),
    );
    let report = import(
        &h,
        &sup,
        &id,
        "id,phone\n1,+447700900102\n2,+447700900104\n3,+447700900103\n4,+447700900105\n",
    );
    assert_eq!(report["imported"], 4, "{report}");
    // Busy twice, the machine, the unanswered one, and the slow answerer.
    let trace = h.dir.path().join("far.log");
    let far = far_ends(&h, far_ends_scenario(&h, 2500), carrier, 5, &trace);
    available(&h, "1001");
    let token = login(&h, "agent1001", "pass1001");
    control(&h, &sup, &id, "start");

    // The slow answerer: the only agent goes on a break while it rings, so nobody is free
    // when the person answers: the message, within 2 s of the answer.
    feed.wait(
        Duration::from_secs(60),
        "the slow answerer dialled",
        |all| dialled_to(all, &id).contains(&"+447700900105".to_string()),
    );
    let (status, body) = http(
        h.http,
        "POST",
        "/api/v1/agents/1001/state",
        Some(&token),
        Some(r#"{"state":"break","reason":"coffee"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let all = feed.wait(Duration::from_secs(20), "the abandon message", |all| {
        all.iter()
            .any(|e| kind(e) == "flow_step" && e["kind"]["step"] == "campaign.abandon_message")
    });
    let message = all
        .iter()
        .find(|e| kind(e) == "flow_step" && e["kind"]["step"] == "campaign.abandon_message")
        .unwrap();
    let answered = answered_at(&trace, "900105").expect("the far end's answer in its trace");
    let after = epoch_secs(message["at"].as_str().unwrap()) - answered;
    eprintln!("the abandon message began {after:.3} s after the answer");
    assert!(
        (0.0..2.0).contains(&after),
        "the message began {after:.2} s after the answer"
    );
    // Back from the break: the rest of the list.
    available(&h, "1001");
    let r = wait_for(
        Duration::from_secs(90),
        "busy, machine and unanswered contacts done",
        || {
            let r = results(&h, &sup, &id);
            [1, 2, 3]
                .iter()
                .all(|c| contact(&r, *c)["result"] != "")
                .then_some(r)
        },
    );
    let (ok, log) = far.join().unwrap();
    assert!(ok, "far ends: {log}");
    assert_eq!(contact(&r, 1)["result"], "exhausted:busy", "{r:?}");
    assert_eq!(contact(&r, 1)["attempts"], 2, "{r:?}");
    assert_eq!(contact(&r, 2)["result"], "exhausted:machine", "{r:?}");
    assert_eq!(contact(&r, 2)["outcomes"], json!(["machine"]), "{r:?}");
    assert_eq!(contact(&r, 3)["result"], "exhausted:no_answer", "{r:?}");
    // Abandoned: not called again for 72 hours.
    assert_eq!(contact(&r, 4)["result"], "", "{r:?}");
    assert_eq!(contact(&r, 4)["attempts"], 1, "{r:?}");
    let all = feed.snapshot();
    // The busy number's second attempt waited out the spacing after the first outcome.
    let busy: Vec<&Value> = all
        .iter()
        .filter(|e| kind(e) == "dialled" && e["kind"]["to"] == "+447700900102")
        .collect();
    assert_eq!(busy.len(), 2);
    let first = busy[0]["interaction"].as_str().unwrap();
    let first_outcome = all
        .iter()
        .find(|e| e["interaction"] == first && kind(e) == "dial_outcome")
        .unwrap();
    assert_eq!(first_outcome["kind"]["outcome"], "busy");
    let gap = epoch_secs(busy[1]["at"].as_str().unwrap())
        - epoch_secs(first_outcome["at"].as_str().unwrap());
    assert!(gap >= 3.0, "retried {gap:.2} s after busy, spacing 3 s");
    // The unanswered number rang for at least 15 s before hotline gave up.
    let unanswered = all
        .iter()
        .find(|e| kind(e) == "dialled" && e["kind"]["to"] == "+447700900103")
        .unwrap();
    let gave_up = all
        .iter()
        .find(|e| e["interaction"] == unanswered["interaction"] && kind(e) == "dial_outcome")
        .unwrap();
    let rang = epoch_secs(gave_up["at"].as_str().unwrap())
        - epoch_secs(unanswered["at"].as_str().unwrap());
    assert!((15.0..30.0).contains(&rang), "rang {rang:.1} s");
    // As the far end saw it: from the INVITE to the CANCEL.
    let invite = received_at(&trace, "900103", "INVITE").expect("the INVITE in the trace");
    let cancel = received_at(&trace, "900103", "CANCEL").expect("the CANCEL in the trace");
    assert!(
        cancel - invite >= 15.0,
        "the phone rang {:.2} s",
        cancel - invite
    );
    assert_eq!(gave_up["kind"]["outcome"], "no_answer");
    let v = wait_for(
        Duration::from_secs(10),
        "the abandoned call counted",
        || {
            let (_, v) = json_of(&h, "GET", &format!("/api/v1/campaigns/{id}"), &sup, None);
            (v["stats"]["abandoned"] == 1).then_some(v)
        },
    );
    assert!(v["stats"]["ofcom_rate_24h"].as_f64().unwrap() > 0.0, "{v}");
}

#[test]
fn a_preview_call_waits_for_the_agent_and_rings_the_agent_who_dialled() {
    let carrier = free_port("127.0.0.1");
    let h = centre(carrier, None);
    let feed = Feed::open(&h);
    let sup = login(&h, "supervisor", "supervisor");
    let ports = register_all(&h, &["1001", "1002"]);
    let id = create(
        &h,
        &sup,
        json!({
            "name": "follow-up by hand",
            "mode": "preview",
            "caller_id": "+442079460000",
            "queue": "accounts",
            "calling_hours": all_day("00:00-24:00"),
        }),
    );
    let report = import(&h, &sup, &id, "phone,name\n+447700900151,Fay\n");
    assert_eq!(report["imported"], 1, "{report}");
    let far = far_ends(
        &h,
        far_ends_scenario(&h, 2500),
        carrier,
        1,
        &h.dir.path().join("far.log"),
    );
    let phones = agent_phone(&h, &ports, 1);
    available(&h, "1001");
    available(&h, "1002");
    control(&h, &sup, &id, "start");
    // Offered to the free agents, with the customer's name; nothing is dialled yet.
    let offered = wait_for(
        Duration::from_secs(10),
        "the contact offered for preview",
        || {
            let (_, v) = json_of(&h, "GET", &format!("/api/v1/campaigns/{id}"), &sup, None);
            let p = v["previews"].as_array().cloned().unwrap_or_default();
            (!p.is_empty()).then_some(p)
        },
    );
    assert_eq!(offered[0]["name"], "Fay", "{offered:?}");
    assert!(
        dialled_to(&feed.snapshot(), &id).is_empty(),
        "dialled before the agent chose"
    );
    // A supervisor may not pick for an unknown contact; agent 1002 dials it.
    let token = login(&h, "agent1002", "pass1002");
    let (status, v) = json_of(
        &h,
        "POST",
        &format!("/api/v1/campaigns/{id}/previews/99"),
        &token,
        Some(&json!({"dial": true})),
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{v}"
    );
    let (status, v) = json_of(
        &h,
        "POST",
        &format!("/api/v1/campaigns/{id}/previews/1"),
        &token,
        Some(&json!({"dial": true})),
    );
    assert_eq!(status, 200, "{v}");
    let all = feed.wait(
        Duration::from_secs(30),
        "the preview call answered by an agent",
        |all| all.iter().any(|e| kind(e) == "answered"),
    );
    let call = all.iter().find(|e| kind(e) == "dialled").unwrap()["interaction"].clone();
    let offered_to: Vec<&Value> = all
        .iter()
        .filter(|e| e["interaction"] == call && kind(e) == "offered")
        .collect();
    assert_eq!(
        offered_to[0]["kind"]["agent"], "1002",
        "the agent who dialled is rung first"
    );
    let answered = all.iter().find(|e| kind(e) == "answered").unwrap();
    assert_eq!(answered["interaction"], call);
    assert_eq!(answered["kind"]["agent"], "1002");
    let (ok, log) = phones.join().unwrap();
    assert!(ok, "agents' phone: {log}");
    let (ok, log) = far.join().unwrap();
    assert!(ok, "far ends: {log}");
}

#[test]
fn a_restart_keeps_the_campaign_running_and_its_retry_spacing() {
    let carrier = free_port("127.0.0.1");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let h = centre(carrier, Some(&data));
    let feed = Feed::open(&h);
    let sup = login(&h, "supervisor", "supervisor");
    let port = register_all(&h, &["1001"]);
    let id = create(
        &h,
        &sup,
        json!({
            "name": "busy lines",
            "mode": "progressive",
            "caller_id": "+442079460000",
            "queue": "accounts",
            "calling_hours": all_day("00:00-24:00"),
            "retries": {"busy": {"max_attempts": 3, "spacing_seconds": 3600}},
        }),
    );
    import(&h, &sup, &id, "id,phone\n1,+447700900102\n");
    let far = far_ends(
        &h,
        far_ends_scenario(&h, 2500),
        carrier,
        1,
        &h.dir.path().join("far.log"),
    );
    available(&h, "1001");
    control(&h, &sup, &id, "start");
    feed.wait(Duration::from_secs(20), "the busy signal", |all| {
        all.iter()
            .any(|e| kind(e) == "dial_outcome" && e["kind"]["outcome"] == "busy")
    });
    let (ok, log) = far.join().unwrap();
    assert!(ok, "far ends: {log}");
    stop(h);

    // Again, on the same data: the campaign runs on; the busy number waits out its hour.
    let h = centre(carrier, Some(&data));
    let feed = Feed::open(&h);
    let sup = login(&h, "supervisor", "supervisor");
    // The phone registers again from where it was (its registration was kept, too).
    let (ok, log) = h.sipp(
        "register.xml",
        &[
            "-p", &port, "-s", "1001", "-au", "1001", "-ap", "pass1001", "-m", "1",
        ],
    );
    assert!(ok, "{log}");
    let (_, v) = json_of(&h, "GET", &format!("/api/v1/campaigns/{id}"), &sup, None);
    assert_eq!(v["state"], "running", "{v}");
    assert_eq!(
        (v["stats"]["dials"].as_u64(), v["stats"]["busy"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    let far = far_ends(
        &h,
        far_ends_scenario(&h, 2500),
        carrier,
        1,
        &h.dir.path().join("far.log"),
    );
    let phone = agent_phone(&h, &port, 1);
    available(&h, "1001");
    import(&h, &sup, &id, "id,phone\n2,+447700900161\n");
    let all = feed.wait(
        Duration::from_secs(30),
        "the new contact's call over",
        |all| {
            let t = timeline(all, &id);
            !t.is_empty() && t.iter().all(|x| x.2.is_some())
        },
    );
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "agent: {log}");
    let (ok, log) = far.join().unwrap();
    assert!(ok, "far ends: {log}");
    assert_eq!(
        dialled_to(&all, &id),
        vec!["+447700900161".to_string()],
        "the busy number redialled within its hour"
    );
    let r = results(&h, &sup, &id);
    assert_eq!(contact(&r, 1)["attempts"], 1, "{r:?}");
    assert_eq!(contact(&r, 1)["outcomes"], json!(["busy"]), "{r:?}");
    assert_eq!(contact(&r, 2)["result"], "reached", "{r:?}");
}

#[test]
fn every_caller_whose_disposition_was_callback_becomes_a_contact() {
    let carrier = free_port("127.0.0.1");
    let h = centre(carrier, None);
    let feed = Feed::open(&h);
    let sup = login(&h, "supervisor", "supervisor");
    let port = register_all(&h, &["1001"]);
    available(&h, "1001");
    // A caller (13800138000) is answered by 1001, who wraps up with `callback`.
    let phone = agent_phone(&h, &port, 1);
    let (ok, log) = h.sipp("caller-survey.xml", &["-m", "1"]);
    assert!(ok, "caller: {log}");
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "agent phone: {log}");
    let all = feed.wait(Duration::from_secs(20), "the call over", |all| {
        all.iter().any(|e| kind(e) == "ended")
    });
    let call = all.iter().find(|e| kind(e) == "answered").unwrap()["interaction"]
        .as_str()
        .unwrap()
        .to_string();
    let agent = login(&h, "agent1001", "pass1001");
    let (status, body) = http(
        h.http,
        "POST",
        &format!("/api/v1/interactions/{call}/wrapup"),
        Some(&agent),
        Some(r#"{"disposition":"callback"}"#),
    );
    assert_eq!(status, 200, "{body}");
    feed.wait(Duration::from_secs(10), "the wrap-up", |all| {
        all.iter().any(|e| kind(e) == "wrapped_up")
    });

    let id = create(
        &h,
        &sup,
        json!({"name": "call them back", "mode": "progressive", "caller_id": "+862195588000",
               "queue": "accounts"}),
    );
    let day = |d: i64| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + d * 86_400;
        let days = secs / 86_400;
        // Civil date of a day number (the inverse of epoch_secs' day count).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let dd = doy - (153 * mp + 2) / 5 + 1;
        let mm = if mp < 10 { mp + 3 } else { mp - 9 };
        let yy = yoe + era * 400 + i64::from(mm <= 2);
        format!("{yy:04}-{mm:02}-{dd:02}T00:00:00Z")
    };
    let ask = |body: Value| {
        json_of(
            &h,
            "POST",
            &format!("/api/v1/campaigns/{id}/contacts/from-interactions"),
            &sup,
            Some(&body),
        )
    };
    // Without a country code the national number cannot be dialled: reported, not taken.
    let (status, v) = ask(json!({"since": day(-1), "until": day(1), "disposition": "callback"}));
    assert_eq!((status, v["imported"].as_u64()), (200, Some(0)), "{v}");
    assert_eq!(v["errors"][0]["interaction"], call.as_str(), "{v}");
    // Resolved complaints: none.
    let (_, v) = ask(
        json!({"since": day(-1), "until": day(1), "complaints": "resolved", "country_code": "86"}),
    );
    assert_eq!(v["imported"], 0, "{v}");
    let (_, v) = ask(
        json!({"since": day(-1), "until": day(1), "disposition": "CALLBACK", "country_code": "86"}),
    );
    assert_eq!(v["imported"], 1, "{v}");
    // Asked again: the number is in the campaign already.
    let (_, v) = ask(
        json!({"since": day(-1), "until": day(1), "disposition": "callback", "country_code": "86"}),
    );
    assert_eq!(v["imported"], 0, "{v}");
    let r = results(&h, &sup, &id);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["phone"], "+8613800138000");
    let (status, v) = ask(json!({"since": "yesterday", "until": day(1)}));
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{v}"
    );
}

#[test]
fn a_message_is_left_on_a_machine_after_its_greeting() {
    let carrier = free_port("127.0.0.1");
    let h = centre(carrier, None);
    let feed = Feed::open(&h);
    let sup = login(&h, "supervisor", "supervisor");
    let _ = register_all(&h, &["1001"]);
    let id = create(
        &h,
        &sup,
        json!({
            "name": "reminder",
            "mode": "progressive",
            "caller_id": "+442079460000",
            "queue": "accounts",
            "calling_hours": all_day("00:00-24:00"),
            "machine_action": "leave_message",
            "language": "en",
        }),
    );
    import(&h, &sup, &id, "phone\n+447700900104\n");
    let trace = h.dir.path().join("far.log");
    let far = far_ends(&h, far_ends_scenario(&h, 2500), carrier, 1, &trace);
    available(&h, "1001");
    control(&h, &sup, &id, "start");
    let all = feed.wait(Duration::from_secs(40), "the call over", |all| {
        all.iter().any(|e| kind(e) == "ended")
    });
    let (ok, log) = far.join().unwrap();
    assert!(ok, "far ends: {log}");
    let of = |k: &str| {
        all.iter()
            .find(|e| kind(e) == k)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(of("dial_outcome")["kind"]["outcome"], "machine", "{all:?}");
    let left = all
        .iter()
        .find(|e| kind(e) == "flow_step" && e["kind"]["step"] == "campaign.message_left")
        .expect("the message left");
    // The greeting is 12 words over 5 s: the message waits for its end, not only for the
    // detector's verdict (which comes after about four words).
    let answered = answered_at(&trace, "900104").expect("the answer in the trace");
    let after = epoch_secs(left["at"].as_str().unwrap()) - answered;
    assert!(
        after >= 5.0,
        "the message began {after:.2} s after the answer, in the greeting"
    );
    assert_eq!(of("ended")["kind"]["reason"], "voicemail", "{all:?}");
    let r = results(&h, &sup, &id);
    assert_eq!(contact(&r, 1)["result"], "message_left", "{r:?}");
}
