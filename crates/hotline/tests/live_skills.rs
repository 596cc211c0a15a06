//! End to end, with the real binary, sipp callers and sipp agent phones: a supervisor
//! changes an agent's skills while the centre runs; the change is audited before it takes
//! effect, routes the caller already waiting, and survives a restart.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

fn no_wrap_up(t: String) -> String {
    t.replace("wrap_up_seconds = 30", "wrap_up_seconds = 0")
}

fn get(h: &Hotline, token: &str, path: &str) -> Value {
    let (status, body) = http(h.http, "GET", path, Some(token), None);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn put_skills(h: &Hotline, token: &str, ext: &str, body: &str) -> (u16, Value) {
    let (status, answer) = http(
        h.http,
        "PUT",
        &format!("/api/v1/agents/{ext}/skills"),
        Some(token),
        Some(body),
    );
    (status, serde_json::from_str(&answer).unwrap_or(Value::Null))
}

fn skills_of(h: &Hotline, token: &str, ext: &str) -> Value {
    get(h, token, &format!("/api/v1/agents/{ext}"))["skills"].clone()
}

fn queue(h: &Hotline, token: &str, name: &str) -> Value {
    get(h, token, "/api/v1/queues")
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == name)
        .cloned()
        .unwrap()
}

fn phone(
    h: &Hotline,
    scenario: &'static str,
    port: &str,
) -> std::thread::JoinHandle<(bool, String)> {
    phone_answers_once(h.sip, scenario, port, "90s")
}

#[test]
fn a_supervisor_gives_an_agent_a_skill_live_and_it_routes_audits_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let h = Hotline::serve_with_in(&data, no_wrap_up);
    // 1003 has cards and general only; nobody else is logged in.
    let port = register_all(&h, &["1003"]);
    available(&h, "1003");
    let sup = login(&h, "supervisor", "supervisor");
    let feed = Feed::open(&h);
    assert_eq!(
        skills_of(&h, &sup, "1003"),
        json!({ "cards": 8, "general": 5 })
    );
    assert_eq!(queue(&h, &sup, "accounts")["agents_available"], 0);

    // A caller presses 1 for accounts and waits: nobody may take it.
    let ringing = phone(&h, "agent-hangs-up.xml", &port);
    let sip = h.sip;
    let caller = std::thread::spawn(move || {
        sipp_at(sip, "caller-stays.xml", &["-m", "1", "-timeout", "90s"])
    });
    feed.wait(
        Duration::from_secs(45),
        "the caller queued for accounts",
        |e| {
            e.iter()
                .any(|e| kind(e) == "queued" && e["kind"]["queue"] == "accounts")
        },
    );
    wait_for(
        Duration::from_secs(10),
        "the wallboard to count the caller",
        || (queue(&h, &sup, "accounts")["waiting"] == 1).then_some(()),
    );

    // Refused changes change nothing: an agent may not, a bad level names the field, an
    // unknown agent is not found.
    let agent = login(&h, "agent1003", "pass1003");
    let (status, body) = put_skills(&h, &agent, "1003", r#"{"skills":{"accounts":10}}"#);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    let (status, body) = put_skills(&h, &sup, "1003", r#"{"skills":{"accounts":11}}"#);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "bad_level", "{body}");
    assert_eq!(body["error"]["field"], "skills.accounts", "{body}");
    let (status, body) = put_skills(&h, &sup, "1003", r#"{"skill":{"accounts":5}}"#);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "skill", "{body}");
    let (status, body) = put_skills(&h, &sup, "4242", r#"{"skills":{"accounts":5}}"#);
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "unknown_agent", "{body}");
    assert_eq!(count(&feed.snapshot(), "offered"), 0);
    assert_eq!(
        skills_of(&h, &sup, "1003"),
        json!({ "cards": 8, "general": 5 })
    );

    // The supervisor gives 1003 accounts: the waiting caller is offered to 1003 at once.
    let changed_at = Instant::now();
    let (status, body) = put_skills(
        &h,
        &sup,
        "1003",
        r#"{"skills":{"accounts":5,"cards":8,"general":5}}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["previous"], json!({ "cards": 8, "general": 5 }));
    assert_eq!(
        body["skills"],
        json!({ "accounts": 5, "cards": 8, "general": 5 })
    );
    let events = feed.wait(Duration::from_secs(30), "the caller offered to 1003", |e| {
        e.iter()
            .any(|e| kind(e) == "offered" && e["kind"]["agent"] == "1003")
    });
    let offered_after = changed_at.elapsed();
    let events = if count(&events, "answered") > 0 {
        events
    } else {
        feed.wait(Duration::from_secs(30), "1003 answers", |e| {
            count(e, "answered") >= 1
        })
    };
    let answered = events.iter().find(|e| kind(e) == "answered").unwrap();
    assert_eq!(answered["kind"]["agent"], "1003", "{answered}");
    eprintln!(
        "offered {} ms after the change was made",
        offered_after.as_millis()
    );
    let (ok, log) = ringing.join().unwrap();
    assert!(ok, "1003's phone rang and answered: {log}");
    let (ok, log) = caller.join().unwrap();
    assert!(ok, "the caller: {log}");

    // The audit trail has the change, with who and what, logged before the offer.
    let audit = get(&h, &sup, "/api/v1/audit");
    let changes: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "agent_skills")
        .collect();
    assert_eq!(changes.len(), 1, "refused changes are not logged: {audit}");
    let change = changes[0];
    assert_eq!(change["user"], "supervisor", "{change}");
    assert_eq!(change["target"], "1003", "{change}");
    let detail: Value = serde_json::from_str(change["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["old"], json!({ "cards": 8, "general": 5 }));
    assert_eq!(
        detail["new"],
        json!({ "accounts": 5, "cards": 8, "general": 5 })
    );
    let offered = events
        .iter()
        .find(|e| kind(e) == "offered" && e["kind"]["agent"] == "1003")
        .unwrap();
    assert!(
        change["seq"].as_u64().unwrap() < offered["seq"].as_u64().unwrap(),
        "the change is in the log before the offer it led to: {change} {offered}"
    );
    // The wallboard counts 1003 for accounts once free again.
    wait_for(
        Duration::from_secs(30),
        "1003 available for accounts",
        || (queue(&h, &sup, "accounts")["agents_available"] == 1).then_some(()),
    );

    // A graceful restart keeps the change: a new accounts call reaches 1003.
    stop(h);
    let h = Hotline::serve_with_in(&data, no_wrap_up);
    let sup = login(&h, "supervisor", "supervisor");
    assert_eq!(
        skills_of(&h, &sup, "1003"),
        json!({ "accounts": 5, "cards": 8, "general": 5 })
    );
    wait_for(
        Duration::from_secs(10),
        "1003 restored as available",
        || (get(&h, &sup, "/api/v1/agents/1003")["state"]["state"] == "available").then_some(()),
    );
    assert_eq!(queue(&h, &sup, "accounts")["agents_available"], 1);
    let answers = phone(&h, "agent-answers.xml", &port);
    let (ok, log) = h.sipp("caller-key-talk.xml", &["-m", "1", "-timeout", "60s"]);
    assert!(ok, "the caller: {log}");
    let (ok, log) = answers.join().unwrap();
    assert!(ok, "1003's phone was rung and answered: {log}");
    let records = wait_for(Duration::from_secs(30), "the second call closed", || {
        let r = get(&h, &sup, "/api/v1/interactions");
        let all = r.as_array().cloned().unwrap_or_default();
        (all.len() == 2 && all.iter().all(|r| r["ended"].is_string())).then_some(all)
    });
    let last = &records[1];
    assert_eq!(last["queue"], "accounts", "{last}");
    assert_eq!(last["agent"], "1003", "{last}");
    assert!(last["answered"].is_string(), "{last}");

    // The file is the starting point: once it gives 1003 other skills, the file's win.
    stop(h);
    let edited = |t: String| {
        no_wrap_up(t).replace(
            "skills = { cards = 8, general = 5 }",
            "skills = { cards = 7, general = 5 }",
        )
    };
    let h = Hotline::serve_with_in(&data, edited);
    let sup = login(&h, "supervisor", "supervisor");
    assert_eq!(
        skills_of(&h, &sup, "1003"),
        json!({ "cards": 7, "general": 5 })
    );
}
