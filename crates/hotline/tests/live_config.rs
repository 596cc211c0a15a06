//! End to end, with the real binary, sipp callers and sipp agent phones: the configuration
//! changed while the centre runs, through the API and by reading the file again (SIGHUP),
//! without a restart and without dropping a call; every change audited and kept across a
//! restart.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn get(h: &Hotline, token: &str, path: &str) -> Value {
    let (status, body) = http(h.http, "GET", path, Some(token), None);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn call(h: &Hotline, token: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let text = body.map(|b| b.to_string());
    let (status, answer) = http(h.http, method, path, Some(token), text.as_deref());
    (status, serde_json::from_str(&answer).unwrap_or(Value::Null))
}

fn state_of(h: &Hotline, token: &str, ext: &str) -> String {
    get(h, token, &format!("/api/v1/agents/{ext}"))["state"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn phone(h: &Hotline, port: &str, calls: usize) -> std::thread::JoinHandle<(bool, String)> {
    phone_answers(h.sip, "agent-answers.xml", port, calls, "90s")
}

/// `hotline ha1` for an agent of the demo's realm: the two lines of the file.
fn ha1_lines(ext: &str, password: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["ha1", "--user", ext, "--realm", "hotline"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// Agent 1011's phone registers from `port` with the password the tests give it.
fn register_1011(h: &Hotline, port: &str) -> (bool, String) {
    h.sipp(
        "register.xml",
        &[
            "-p", port, "-s", "1011", "-au", "1011", "-ap", "pass1011", "-m", "1",
        ],
    )
}

fn audit_config(h: &Hotline, token: &str) -> Vec<Value> {
    get(h, token, "/api/v1/audit")
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "config")
        .cloned()
        .collect()
}

#[test]
fn an_administrator_adds_an_agent_and_a_user_who_take_a_call_and_both_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let h = Hotline::serve_with_in(&data, |t| t);
    let admin = login(&h, "admin", "admin");
    let sup = login(&h, "supervisor", "supervisor");
    let agent = login(&h, "agent1001", "pass1001");
    let new_agent = json!({
        "extension": "1011", "name": "赵敏 Zhao Min", "password": "pass1011",
        "skills": { "accounts": 9 }
    });

    // Agents change nothing; supervisors change skills only (their own endpoint).
    for token in [&agent, &sup] {
        let (status, body) = call(
            &h,
            token,
            "PUT",
            "/api/v1/config/agents/1011",
            Some(&new_agent),
        );
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let (status, _) = call(&h, &agent, "GET", "/api/v1/config", None);
    assert_eq!(status, 403);
    // A bad value names the field and changes nothing.
    let mut bad = new_agent.clone();
    bad["skills"]["accounts"] = json!(11);
    let (status, body) = call(&h, &admin, "PUT", "/api/v1/config/agents/1011", Some(&bad));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["field"]
            .as_str()
            .unwrap_or_default()
            .contains("skills"),
        "{body}"
    );
    let mut no_secret = new_agent.clone();
    no_secret.as_object_mut().unwrap().remove("password");
    let (status, body) = call(
        &h,
        &admin,
        "PUT",
        "/api/v1/config/agents/1011",
        Some(&no_secret),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "password", "{body}");
    let (status, body) = call(
        &h,
        &admin,
        "PUT",
        "/api/v1/config/agents/1012",
        Some(&new_agent),
    );
    assert_eq!(
        status, 400,
        "the key in the path and the body agree: {body}"
    );
    assert!(
        audit_config(&h, &admin).is_empty(),
        "refused changes are not logged"
    );

    // The administrator adds agent 1011 and the user who works as it.
    let (status, body) = call(
        &h,
        &admin,
        "PUT",
        "/api/v1/config/agents/1011",
        Some(&new_agent),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["previous"], Value::Null);
    assert!(
        body["item"].get("ha1_md5").is_none(),
        "secrets are not shown: {body}"
    );
    let user =
        json!({ "name": "agent1011", "password": "pass1011", "role": "agent", "agent": "1011" });
    let (status, body) = call(
        &h,
        &admin,
        "PUT",
        "/api/v1/config/users/agent1011",
        Some(&user),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body["item"].get("password_hash").is_none(), "{body}");
    let view = get(&h, &sup, "/api/v1/config");
    assert!(
        view["agents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["extension"] == "1011"),
        "{view}"
    );
    let audit = audit_config(&h, &sup);
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(audit.iter().all(|a| a["user"] == "admin"), "{audit:?}");
    assert!(
        audit.iter().any(|a| a["target"] == "agents/1011"),
        "{audit:?}"
    );
    let detail: Value = serde_json::from_str(
        audit.iter().find(|a| a["target"] == "agents/1011").unwrap()["detail"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        detail["new"]["skills"],
        json!({ "accounts": 9 }),
        "{detail}"
    );
    assert!(
        !detail.to_string().contains("pass1011") && detail["new"].get("ha1_md5").is_none(),
        "no password and no digest in the audit trail: {detail}"
    );
    // The export is what `check-config` takes (digests included): not cached, and audited.
    let (status, text) = http(h.http, "GET", "/api/v1/config/export", Some(&sup), None);
    assert_eq!(status, 403, "{text}");
    let (status, text) = http(h.http, "GET", "/api/v1/config/export", Some(&admin), None);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("extension = \"1011\""), "{text}");
    let exports: Vec<Value> = get(&h, &sup, "/api/v1/audit")
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "config_export")
        .cloned()
        .collect();
    assert_eq!(exports.len(), 1, "{exports:?}");
    assert_eq!(exports[0]["user"], "admin");

    // 1011's phone registers with the new password and takes an accounts call; nobody else
    // is logged in.
    let port = free_port("127.0.0.1").to_string();
    let (ok, log) = register_1011(&h, &port);
    assert!(ok, "1011 registers: {log}");
    available_as(&h, "1011", "pass1011");
    let answers = phone(&h, &port, 1);
    let (ok, log) = h.sipp("caller-key-talk.xml", &["-m", "1", "-timeout", "60s"]);
    assert!(ok, "the caller: {log}");
    let (ok, log) = answers.join().unwrap();
    assert!(ok, "1011's phone answered: {log}");
    let rec = wait_for(Duration::from_secs(30), "the call's record closed", || {
        let all = get(&h, &sup, "/api/v1/interactions");
        all.as_array()?
            .iter()
            .find(|r| r["ended"].is_string())
            .cloned()
    });
    assert_eq!(rec["agent"], "1011", "{rec}");

    // A restart with the same file keeps both.
    stop(h);
    let h = Hotline::serve_with_in(&data, |t| t);
    let sup = login(&h, "supervisor", "supervisor");
    assert_eq!(
        get(&h, &sup, "/api/v1/agents/1011")["name"],
        "赵敏 Zhao Min"
    );
    let _ = login(&h, "agent1011", "pass1011");
    let (ok, log) = register_1011(&h, &port);
    assert!(ok, "1011 still registers after the restart: {log}");

    // Removing the agent: its user must go first (a user works as it).
    let admin = login(&h, "admin", "admin");
    let (status, body) = call(&h, &admin, "DELETE", "/api/v1/config/agents/1011", None);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "in_use", "{body}");
    let (status, body) = call(&h, &admin, "DELETE", "/api/v1/config/users/agent1011", None);
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&h, &admin, "DELETE", "/api/v1/config/agents/1011", None);
    assert_eq!(status, 200, "{body}");
    let (status, _) = http(h.http, "GET", "/api/v1/agents/1011", Some(&sup), None);
    assert_eq!(status, 404);
    let (ok, _) = register_1011(&h, &port);
    assert!(!ok, "a removed agent's phone may not register");
}

#[test]
fn a_queue_wrap_up_changed_live_applies_from_the_next_call() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let h = Hotline::serve_with_in(&data, |t| t);
    let admin = login(&h, "admin", "admin");
    let sup = login(&h, "supervisor", "supervisor");
    let port = register_all(&h, &["1001"]);
    available(&h, "1001");
    let agent = login(&h, "agent1001", "pass1001");

    // Call 1 under the file's 30 s wrap-up: 1001 is in wrap-up after it.
    let answers = phone(&h, &port, 1);
    let (ok, log) = h.sipp("caller-key-talk.xml", &["-m", "1", "-timeout", "60s"]);
    assert!(ok, "{log}");
    assert!(answers.join().unwrap().0);
    wait_for(Duration::from_secs(10), "1001 in wrap-up", || {
        (state_of(&h, &sup, "1001") == "wrap_up").then_some(())
    });
    let (status, body) = http(
        h.http,
        "POST",
        "/api/v1/agents/1001/wrap-up",
        Some(&agent),
        Some(r#"{"done":true}"#),
    );
    assert_eq!(status, 200, "{body}");

    // The administrator sets the accounts queue's wrap-up to none.
    let view = get(&h, &admin, "/api/v1/config");
    let mut accounts = view["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "accounts")
        .cloned()
        .unwrap();
    assert_eq!(accounts["wrap_up_seconds"], 30);
    accounts["wrap_up_seconds"] = json!(0);
    let (status, body) = call(
        &h,
        &admin,
        "PUT",
        "/api/v1/config/queues/accounts",
        Some(&accounts),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["previous"]["wrap_up_seconds"], 30);
    let mut bad = accounts.clone();
    bad["target_seconds"] = json!("soon");
    let (status, body) = call(
        &h,
        &admin,
        "PUT",
        "/api/v1/config/queues/accounts",
        Some(&bad),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["field"]
            .as_str()
            .unwrap_or_default()
            .contains("target_seconds"),
        "{body}"
    );

    // Call 2: 1001 is available again as soon as it ends.
    wait_for(Duration::from_secs(10), "1001 available", || {
        (state_of(&h, &sup, "1001") == "available").then_some(())
    });
    let answers = phone(&h, &port, 1);
    let (ok, log) = h.sipp("caller-key-talk.xml", &["-m", "1", "-timeout", "60s"]);
    assert!(ok, "{log}");
    assert!(answers.join().unwrap().0);
    wait_for(
        Duration::from_secs(10),
        "1001 available after call 2",
        || {
            let all = get(&h, &sup, "/api/v1/interactions");
            let closed = all
                .as_array()?
                .iter()
                .filter(|r| r["ended"].is_string())
                .count();
            (closed == 2 && state_of(&h, &sup, "1001") == "available").then_some(())
        },
    );
    let audit = audit_config(&h, &sup);
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["target"], "queues/accounts");

    // A queue added shows on the wallboard's queues with the agents who may take it; removed,
    // it leaves them.
    let loans = json!({ "name": "loans", "skills": { "accounts": 3 }, "target_seconds": 30 });
    let (status, body) = call(
        &h,
        &admin,
        "PUT",
        "/api/v1/config/queues/loans",
        Some(&loans),
    );
    assert_eq!(status, 200, "{body}");
    let shown = |h: &Hotline| {
        get(h, &sup, "/api/v1/queues")
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == "loans")
            .cloned()
    };
    let q = shown(&h).expect("the new queue is shown");
    assert_eq!(q["agents_available"], 1, "1001 holds accounts 8: {q}");
    let (status, body) = call(&h, &admin, "DELETE", "/api/v1/config/queues/loans", None);
    assert_eq!(status, 200, "{body}");
    assert!(shown(&h).is_none(), "a removed queue is no longer shown");
    let (status, body) = call(&h, &admin, "DELETE", "/api/v1/config/queues/accounts", None);
    assert_eq!(
        status, 409,
        "a queue the flows send callers to stays: {body}"
    );
    assert_eq!(body["error"]["code"], "in_use", "{body}");

    // A restart with the same file keeps the queue's new wrap-up.
    stop(h);
    let h = Hotline::serve_with_in(&data, |t| t);
    let admin = login(&h, "admin", "admin");
    let view = get(&h, &admin, "/api/v1/config");
    let accounts = view["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "accounts")
        .cloned()
        .unwrap();
    assert_eq!(accounts["wrap_up_seconds"], 0, "{accounts}");
}

#[test]
fn a_supervisors_skill_change_after_a_reload_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let h = Hotline::serve_with_in(&data, |t| t);
    let sup = login(&h, "supervisor", "supervisor");
    let file = h.dir.path().join("centre.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    // The file gives 1003 cards 9 and is read again.
    let edited = text.replacen(
        "skills = { cards = 8, general = 5 }",
        "skills = { cards = 9, general = 5 }",
        1,
    );
    assert_ne!(edited, text);
    std::fs::write(&file, &edited).unwrap();
    h.signal("HUP");
    wait_for(Duration::from_secs(20), "the reload", || {
        (get(&h, &sup, "/api/v1/agents/1003")["skills"]["cards"] == 9).then_some(())
    });
    // Then a supervisor sets 1003's skills; a restart on the same (edited) file keeps them.
    let (status, body) = http(
        h.http,
        "PUT",
        "/api/v1/agents/1003/skills",
        Some(&sup),
        Some(r#"{"skills":{"cards":5,"accounts":4}}"#),
    );
    assert_eq!(status, 200, "{body}");
    let hosted = h.dir.path().to_path_buf();
    let kept = std::fs::read_to_string(hosted.join("centre.toml")).unwrap();
    stop(h);
    let h = Hotline::serve_with_in(&data, move |_| kept.clone());
    let sup = login(&h, "supervisor", "supervisor");
    assert_eq!(
        get(&h, &sup, "/api/v1/agents/1003")["skills"],
        json!({ "cards": 5, "accounts": 4 })
    );
}

#[test]
fn sighup_reads_the_file_again_without_dropping_a_call_and_new_calls_take_the_new_settings() {
    let h = Hotline::serve_with(all_take_accounts);
    let sup = login(&h, "supervisor", "supervisor");
    let exts = ["1001", "1002", "1003", "1004"];
    let port = register_all(&h, &exts);
    for e in exts {
        available(&h, e);
    }
    let feed = Feed::open(&h);
    let file = h.dir.path().join("centre.toml");

    // Four callers talk to four agents (about 7 s each).
    let phones = phone(&h, &port, 4);
    let sip = h.sip;
    let callers = std::thread::spawn(move || {
        sipp_at(
            sip,
            "caller-key-talk.xml",
            &["-m", "4", "-l", "4", "-r", "4", "-timeout", "60s"],
        )
    });
    feed.wait(Duration::from_secs(30), "four calls answered", |e| {
        count(e, "answered") >= 4
    });

    // While they talk: the file gives the accounts queue 20 s of wrap-up, adds agent 1011
    // and its user, and the centre is told to read it again.
    let text = std::fs::read_to_string(&file).unwrap();
    let mut edited = text.replacen("wrap_up_seconds = 0", "wrap_up_seconds = 20", 1);
    edited.push_str(&format!(
        "\n[[agents]]\nextension = \"1011\"\nname = \"赵敏\"\n{}skills = {{ accounts = 9 }}\n",
        ha1_lines("1011", "pass1011")
    ));
    std::fs::write(&file, edited).unwrap();
    h.signal("HUP");
    let audit = wait_for(
        Duration::from_secs(20),
        "the reload in the audit trail",
        || {
            let a = audit_config(&h, &sup);
            (a.len() >= 2).then_some(a)
        },
    );
    assert!(audit.iter().all(|a| a["user"] == "file"), "{audit:?}");
    let targets: Vec<&str> = audit.iter().filter_map(|a| a["target"].as_str()).collect();
    assert!(targets.contains(&"agents/1011"), "{targets:?}");
    assert!(targets.contains(&"queues/accounts"), "{targets:?}");

    // No call dropped: every caller finished its talk and hung up itself.
    let (ok, log) = callers.join().unwrap();
    assert!(ok, "the callers: {log}");
    let (ok, log) = phones.join().unwrap();
    assert!(ok, "the phones: {log}");
    let records = wait_for(Duration::from_secs(30), "four records closed", || {
        let all = get(&h, &sup, "/api/v1/interactions");
        let all = all.as_array()?.clone();
        (all.len() == 4 && all.iter().all(|r| r["ended"].is_string())).then_some(all)
    });
    for r in &records {
        assert!(r["answered"].is_string(), "{r}");
        assert_eq!(r["end_reason"], "caller_hangup", "{r}");
    }
    // The calls answered before the reload keep the wrap-up they started with (none).
    wait_for(
        Duration::from_secs(10),
        "the four agents free again",
        || {
            exts.iter()
                .all(|e| state_of(&h, &sup, e) == "available")
                .then_some(())
        },
    );

    // New settings for new calls: 1011 registers and logs in; the next call leaves its
    // agent in the new 20 s wrap-up.
    let p1011 = free_port("127.0.0.1").to_string();
    let (ok, log) = register_1011(&h, &p1011);
    assert!(ok, "1011 registers after the reload: {log}");
    let answers = phone(&h, &port, 1);
    let (ok, log) = h.sipp("caller-key-talk.xml", &["-m", "1", "-timeout", "60s"]);
    assert!(ok, "{log}");
    assert!(answers.join().unwrap().0);
    let fifth = wait_for(Duration::from_secs(30), "the fifth record closed", || {
        let all = get(&h, &sup, "/api/v1/interactions");
        let all = all.as_array()?.clone();
        (all.len() == 5 && all.iter().all(|r| r["ended"].is_string())).then(|| all[4].clone())
    });
    let who = fifth["agent"].as_str().unwrap().to_string();
    assert_eq!(state_of(&h, &sup, &who), "wrap_up", "{fifth}");

    // A file that does not check is refused as a whole: nothing changes, calls go on.
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replacen("wrap_up_seconds = 20", "wrap_up_seconds = -1", 1),
    )
    .unwrap();
    let admin = login(&h, "admin", "admin");
    let (status, body) = call(&h, &admin, "POST", "/api/v1/config/reload", None);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("wrap_up_seconds")
            || body["error"]["field"]
                .as_str()
                .unwrap_or_default()
                .contains("wrap_up_seconds"),
        "{body}"
    );
    assert_eq!(audit_config(&h, &sup).len(), audit.len());
}

#[test]
fn a_flow_changed_live_applies_to_new_calls_while_a_caller_in_it_keeps_the_old_one() {
    let h = Hotline::serve_with(|t| t);
    let admin = login(&h, "admin", "admin");
    let sup = login(&h, "supervisor", "supervisor");
    let feed = Feed::open(&h);
    // Caller A waits 8 s in the menu before pressing 1; caller B presses at once.
    let slow = h.dir.path().join("caller-presses-late.xml");
    std::fs::write(
        &slow,
        std::fs::read_to_string(repo().join("tests/sipp/caller-key-waits.xml"))
            .unwrap()
            .replacen(
                "<pause milliseconds=\"1000\"/>",
                "<pause milliseconds=\"8000\"/>",
                1,
            ),
    )
    .unwrap();
    let slow = slow.to_str().unwrap().to_string();
    let sip = h.sip;
    let a = std::thread::spawn(move || sipp_at(sip, &slow, &["-m", "1", "-timeout", "60s"]));
    let events = feed.wait(Duration::from_secs(20), "caller A in the flow", |e| {
        count(e, "arrived") >= 1
    });
    let first = events.iter().find(|e| kind(e) == "arrived").unwrap()["interaction"].clone();

    // While A is in the menu, the administrator sends key 1 to cards and 2 to accounts.
    let view = get(&h, &admin, "/api/v1/config");
    let mut main = view["flows"]["main"].clone();
    assert_eq!(main["steps"]["menu"]["options"]["1"], "accounts", "{main}");
    // A step that does not exist is refused, naming the field, and changes nothing.
    main["steps"]["menu"]["options"]["1"] = json!("nowhere");
    let (status, body) = call(&h, &admin, "PUT", "/api/v1/config/flows/main", Some(&main));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["field"]
            .as_str()
            .unwrap_or_default()
            .contains("options"),
        "{body}"
    );
    // Keys 1 and 2 swapped (a step nothing leads to would be refused too).
    main["steps"]["menu"]["options"]["1"] = json!("cards");
    main["steps"]["menu"]["options"]["2"] = json!("accounts");
    let (status, body) = call(&h, &admin, "PUT", "/api/v1/config/flows/main", Some(&main));
    assert_eq!(status, 200, "{body}");
    let graphs = get(&h, &sup, "/api/v1/flows");
    let drawn = graphs["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "main")
        .cloned()
        .unwrap();
    assert!(
        drawn["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["from"] == "menu" && e["to"] == "cards" && e["label"] == "1"),
        "the diagram follows: {drawn}"
    );

    // Caller B, after the change, presses 1 at once and goes to cards; A, who was in the
    // flow before it, goes to accounts.
    let (ok, log) = h.sipp("caller-key-waits.xml", &["-m", "1", "-timeout", "60s"]);
    assert!(ok, "caller B: {log}");
    let (ok, log) = a.join().unwrap();
    assert!(ok, "caller A: {log}");
    let events = feed.wait(Duration::from_secs(20), "both callers queued", |e| {
        count(e, "queued") >= 2
    });
    let queue_of = |id: &Value| {
        events
            .iter()
            .find(|e| kind(e) == "queued" && &e["interaction"] == id)
            .map(|e| e["kind"]["queue"].clone())
    };
    let second = events
        .iter()
        .filter(|e| kind(e) == "arrived")
        .map(|e| e["interaction"].clone())
        .find(|i| *i != first)
        .unwrap();
    assert_eq!(
        queue_of(&first),
        Some(json!("accounts")),
        "A keeps the old flow"
    );
    assert_eq!(
        queue_of(&second),
        Some(json!("cards")),
        "B takes the new one"
    );

    // The last administrator may not be removed or demoted.
    let (status, body) = call(&h, &admin, "DELETE", "/api/v1/config/users/admin", None);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["field"], "role", "{body}");
}

#[test]
fn a_service_number_added_live_is_answered_by_its_flow_and_refused_again_once_removed() {
    let h = Hotline::serve_with(|t| t);
    let admin = login(&h, "admin", "admin");
    let sup = login(&h, "supervisor", "supervisor");
    let (ok, log) = h.sipp("caller-unknown-number.xml", &["-s", "95599", "-m", "1"]);
    assert!(ok, "95599 is no number of the centre yet: {log}");

    // A number naming a flow that does not exist is refused, naming the field.
    let bad = json!({ "number": "95599", "flow": "nowhere" });
    let (status, body) = call(
        &h,
        &admin,
        "PUT",
        "/api/v1/config/numbers/95599",
        Some(&bad),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "flow", "{body}");
    let number = json!({ "number": "95599", "flow": "main" });
    let (status, body) = call(
        &h,
        &admin,
        "PUT",
        "/api/v1/config/numbers/95599",
        Some(&number),
    );
    assert_eq!(status, 200, "{body}");

    // A caller to 95599 is answered by the main flow and queues for accounts.
    let caller = h.dir.path().join("caller-95599.xml");
    std::fs::write(
        &caller,
        std::fs::read_to_string(repo().join("tests/sipp/caller-key-waits.xml"))
            .unwrap()
            .replace("95588", "95599"),
    )
    .unwrap();
    let (ok, log) = h.sipp(caller.to_str().unwrap(), &["-m", "1", "-timeout", "60s"]);
    assert!(ok, "the caller to 95599: {log}");
    let record = wait_for(Duration::from_secs(20), "the call's record", || {
        let all = get(&h, &sup, "/api/v1/interactions");
        all.as_array()?
            .iter()
            .find(|r| r["ended"].is_string())
            .cloned()
    });
    assert_eq!(record["to"], "95599", "{record}");
    assert_eq!(record["queue"], "accounts", "{record}");
    let flows = get(&h, &sup, "/api/v1/flows");
    let main = flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "main")
        .cloned()
        .unwrap();
    assert!(
        main["numbers"]
            .as_array()
            .unwrap()
            .contains(&json!("95599")),
        "the page shows the number beside its flow: {main}"
    );

    // Removed: refused again.
    let (status, body) = call(&h, &admin, "DELETE", "/api/v1/config/numbers/95599", None);
    assert_eq!(status, 200, "{body}");
    let (ok, log) = h.sipp("caller-unknown-number.xml", &["-s", "95599", "-m", "1"]);
    assert!(ok, "95599 is refused again: {log}");
}
