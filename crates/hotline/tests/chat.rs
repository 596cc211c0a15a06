//! Web chat end to end, with the real binary: a customer's widget (a WebSocket client here;
//! the widget itself runs in headless Chromium in tests/browser) is queued with its place in
//! line, offered to an agent with chat capacity, answered from the desktop's API, rated; the
//! transcript is in the log and the customer's history. And the routing rules: no chat while
//! on a call, three chats at once.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn customer(h: &Hotline, start: &Value) -> (WsClient, String, String) {
    let mut ws = WsClient::open(h.http, "/chat/v1/ws").unwrap();
    ws.send(start);
    let (started, _) = ws.until("started", |v| v["type"] == "started");
    let id = started["conversation"].as_str().unwrap().to_string();
    let token = started["token"].as_str().unwrap().to_string();
    (ws, id, token)
}

/// Waits for the customer's "in line" state with a position (the routing engine decided
/// not to offer the chat, or not yet).
fn queued(ws: &mut WsClient) -> Value {
    ws.until("a place in line", |v| {
        v["type"] == "state" && v["phase"] == "queued" && v["position"].as_u64() >= Some(1)
    })
    .0
}

fn agent_feed(h: &Hotline, token: &str) -> WsClient {
    WsClient::open(
        h.http,
        &format!("/api/v1/conversations/live?access_token={token}"),
    )
    .unwrap()
}

#[test]
fn a_chat_waits_in_line_is_answered_rated_and_its_transcript_is_in_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    import_customers_into(&data, "id,name,phone\nC42,Mei Lin,+8613900139000\n");
    let h = Hotline::serve_with_in(&data, |t| t);
    let agent = login(&h, "agent1007", "pass1007");

    // Nobody is available: the chat waits, and the customer sees a place in line.
    let (mut cust, id, token) = customer(
        &h,
        &json!({"type": "start", "name": "Mei Lin", "phone": "+86 139 0013 9000",
                "language": "en", "page": "https://bank.example/help"}),
    );
    let place = queued(&mut cust);
    assert_eq!(place["position"], 1, "{place}");
    assert!(place["eta_secs"].as_u64().is_some(), "{place}");

    // A message written while waiting is kept (its receipt carries the log's seq), and a
    // resend of the same message after a lost connection is kept once.
    cust.send(&json!({"type": "message", "id": "m1", "text": "My card was swallowed"}));
    let (receipt, _) = cust.until("the receipt", |v| v["type"] == "receipt");
    let first_seq = receipt["seq"].as_u64().unwrap();
    assert_eq!(receipt["id"], "m1");
    drop(cust);
    let mut cust = WsClient::open(h.http, "/chat/v1/ws").unwrap();
    cust.send(&json!({"type": "resume", "token": token, "since": 0}));
    let (_, replay) = cust.until("the replayed message", |v| v["type"] == "message");
    assert!(
        replay
            .iter()
            .any(|v| v["type"] == "state" && v["phase"] == "queued")
    );
    cust.send(&json!({"type": "message", "id": "m1", "text": "My card was swallowed"}));
    let (again, _) = cust.until("the receipt again", |v| v["type"] == "receipt");
    assert_eq!(again["seq"].as_u64(), Some(first_seq), "kept once");

    // The agent comes: the chat is offered on the desktop's feed and accepted there.
    let mut feed = agent_feed(&h, &agent);
    available(&h, "1007");
    let (offer, _) = feed.until("the offer", |v| v["type"] == "offer");
    assert_eq!(offer["conversation"]["id"], id.as_str());
    assert_eq!(offer["conversation"]["name"], "Mei Lin");
    assert_eq!(
        offer["conversation"]["messages"][0]["text"],
        "My card was swallowed"
    );
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/accept"),
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{body}");
    let (joined, _) = cust.until("the agent joining", |v| v["phase"] == "active");
    assert_eq!(joined["agent"], "赵敏 Zhao Min");

    // The screen pop knows the customer by the number given.
    let (status, pop) = api(
        &h,
        &agent,
        "GET",
        &format!("/api/v1/interactions/{id}/screen-pop"),
        None,
    );
    assert_eq!(status, 200, "{pop}");
    assert_eq!(pop["customer"]["id"], "C42", "{pop}");
    assert_eq!(pop["interaction"]["channel"], "chat", "{pop}");

    // Typing and messages both ways, with read receipts.
    cust.send(&json!({"type": "typing", "on": true}));
    let (typing, _) = feed.until("the customer typing", |v| v["type"] == "typing");
    assert_eq!(typing["on"], true);
    cust.send(&json!({"type": "message", "id": "m2", "text": "At the Wangfujing branch"}));
    let (m2, _) = feed.until("the customer's message", |v| {
        v["type"] == "message" && v["text"] == "At the Wangfujing branch"
    });
    let m2_seq = m2["seq"].as_u64().unwrap();
    let (status, _) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/read"),
        Some(&json!({"upto": m2_seq})),
    );
    assert_eq!(status, 204);
    let (read, _) = cust.until("the agent's read receipt", |v| v["type"] == "read");
    assert_eq!(read["upto"].as_u64(), Some(m2_seq));
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(&json!({"text": "I have blocked the card; a new one is on its way."})),
    );
    assert_eq!(status, 200, "{body}");
    let (reply, _) = cust.until("the agent's reply", |v| {
        v["type"] == "message" && v["sender"] == "agent"
    });
    assert_eq!(reply["name"], "赵敏 Zhao Min");
    assert!(reply["seq"].as_u64() > Some(m2_seq));

    // Another agent may not write into it.
    let other = login(&h, "agent1008", "pass1008");
    let (status, body) = api(
        &h,
        &other,
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(&json!({"text": "hi"})),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "not_yours");

    // A rating before the end is refused; the agent ends it, the customer rates it.
    cust.send(&json!({"type": "rate", "score": 5}));
    let (err, _) = cust.until("the refusal", |v| v["type"] == "error");
    assert_eq!(err["code"], "not_ended");
    let (status, _) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/end"),
        Some(&json!({})),
    );
    assert_eq!(status, 200);
    let (ended, _) = cust.until("the end", |v| v["phase"] == "ended");
    assert_eq!(ended["by"], "agent");
    assert_eq!(ended["answered"], true);
    cust.send(&json!({"type": "rate", "score": 5}));
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/interactions/{id}/wrapup"),
        Some(&json!({"disposition": "resolved", "notes": "card blocked"})),
    );
    assert_eq!(status, 200, "{body}");
    // A desk opened again knows it is wrapped up.
    let (status, mine) = api(
        &h,
        &agent,
        "GET",
        &format!("/api/v1/conversations/{id}"),
        None,
    );
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["wrapped"], "resolved", "{mine}");

    // The record, the rating and the transcript come from the log.
    let sup = login(&h, "supervisor", "supervisor");
    let record = wait_for(Duration::from_secs(10), "the rated record", || {
        let (_, v) = api(
            &h,
            &sup,
            "GET",
            "/api/v1/interactions?since=2000-01-01T00:00:00Z",
            None,
        );
        v.as_array()?
            .iter()
            .find(|r| r["id"] == id.as_str() && r["survey"] == 5 && r["disposition"] == "resolved")
            .cloned()
    });
    assert_eq!(record["channel"], "chat", "{record}");
    assert_eq!(record["queue"], "chat", "{record}");
    assert_eq!(record["agent"], "1007", "{record}");
    assert_eq!(record["from"], "+8613900139000", "{record}");
    assert_eq!(record["end_reason"], "agent_hangup", "{record}");
    let (status, t) = api(
        &h,
        &agent,
        "GET",
        &format!("/api/v1/interactions/{id}/transcript"),
        None,
    );
    assert_eq!(status, 200, "{t}");
    let texts: Vec<&str> = t["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "My card was swallowed",
            "At the Wangfujing branch",
            "I have blocked the card; a new one is on its way."
        ]
    );
    assert_eq!(t["agent_read"].as_u64(), Some(m2_seq));
    let (status, c) = api(&h, &sup, "GET", "/api/v1/customers/C42", None);
    assert_eq!(status, 200, "{c}");
    let history = c["history"].as_array().unwrap();
    assert!(
        history
            .iter()
            .any(|e| e["interaction"]["id"] == id.as_str()
                && e["interaction"]["channel"] == "chat"),
        "{c}"
    );
}

/// The demo's blending rule: no chat while on a call. Its capacity: three chats at once.
#[test]
fn an_agent_on_a_call_gets_no_chat_and_takes_three_chats_at_once() {
    let h = Hotline::serve_with(all_take_accounts);
    let agent = login(&h, "agent1007", "pass1007");
    let port = register_all(&h, &["1007"]);
    let phone = phone_answers(h.sip, "agent-answers.xml", &port, 1, "60s");
    let mut feed = agent_feed(&h, &agent);
    let sup = login(&h, "supervisor", "supervisor");
    let mut events = open_events(&h, &sup).unwrap();
    available(&h, "1007");

    // A caller presses 1 and is put through to 1007, who is on the call...
    let caller = {
        let target = h.sip;
        std::thread::spawn(move || sipp_at(target, "caller-stays.xml", &["-m", "1"]))
    };
    let call_id = loop {
        let e = next_event(&mut events);
        if kind(&e) == "answered" {
            break e["interaction"].as_str().unwrap().to_string();
        }
    };
    // ...when a chat comes: it waits in line rather than being offered.
    let (mut c1, id1, _) = customer(&h, &json!({"type": "start", "name": "One"}));
    let place = queued(&mut c1);
    assert_eq!(place["position"], 1, "{place}");
    let (_, mine) = api(&h, &agent, "GET", "/api/v1/conversations", None);
    assert_eq!(
        mine["conversations"],
        json!([]),
        "nothing offered during the call"
    );

    // The call ends: the chat is offered at once.
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/interactions/{call_id}/hangup"),
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{body}");
    let (offer, _) = feed.until("the first chat", |v| v["type"] == "offer");
    assert_eq!(offer["conversation"]["id"], id1.as_str());
    let accept = |id: &str| {
        let (status, body) = api(
            &h,
            &agent,
            "POST",
            &format!("/api/v1/conversations/{id}/accept"),
            Some(&json!({})),
        );
        assert_eq!(status, 200, "{body}");
    };
    accept(&id1);
    // (The caller goes on to the demo's survey; the agent's phone was hung up on.)
    drop(caller);
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "{log}");

    // Two more chats are offered beside the first; a fourth waits for a free place.
    let (_c2, id2, _) = customer(&h, &json!({"type": "start", "name": "Two"}));
    let (offer, _) = feed.until("the second chat", |v| v["type"] == "offer");
    assert_eq!(offer["conversation"]["id"], id2.as_str());
    accept(&id2);
    let (_c3, id3, _) = customer(&h, &json!({"type": "start", "name": "Three"}));
    let (offer, _) = feed.until("the third chat", |v| v["type"] == "offer");
    assert_eq!(offer["conversation"]["id"], id3.as_str());
    accept(&id3);
    let (mut c4, id4, _) = customer(&h, &json!({"type": "start", "name": "Four"}));
    queued(&mut c4);
    let (_, mine) = api(&h, &agent, "GET", "/api/v1/conversations", None);
    let phases: Vec<(&str, &str)> = mine["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["phase"].as_str().unwrap()))
        .collect();
    assert_eq!(
        phases,
        [("One", "active"), ("Two", "active"), ("Three", "active")]
    );

    // The first chat ends: the fourth takes its place.
    let (status, _) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id1}/end"),
        Some(&json!({})),
    );
    assert_eq!(status, 200);
    let (offer, _) = feed.until("the fourth chat", |v| v["type"] == "offer");
    assert_eq!(offer["conversation"]["id"], id4.as_str());
}

#[test]
fn bad_chat_requests_get_clear_errors() {
    let h = Hotline::serve_with(|t| t);
    // No name; an unknown queue; something else before start.
    for (start, code) in [
        (json!({"type": "start", "name": "  "}), "bad_request"),
        (
            json!({"type": "start", "name": "A", "queue": "cards"}),
            "unknown_queue",
        ),
        (json!({"type": "message", "text": "hi"}), "bad_request"),
        (json!({"type": "resume", "token": "nope"}), "not_found"),
    ] {
        let mut ws = WsClient::open(h.http, "/chat/v1/ws").unwrap();
        ws.send(&start);
        let (err, _) = ws.until("the error", |v| v["type"] == "error");
        assert_eq!(err["code"], code, "{start}: {err}");
    }
    // A message too long, and an attachment that was never uploaded.
    let (mut ws, _, token) = customer(&h, &json!({"type": "start", "name": "A"}));
    ws.send(&json!({"type": "message", "id": "x", "text": "长".repeat(4001)}));
    let (err, _) = ws.until("the error", |v| v["type"] == "error");
    assert_eq!(err["code"], "too_long");
    ws.send(&json!({"type": "message", "id": "y", "text": "see",
        "attachments": [{"name": "a.png", "content_type": "image/png", "size": 1, "path": "../../etc/passwd"}]}));
    let (err, _) = ws.until("the error", |v| v["type"] == "error");
    assert_eq!(err["code"], "bad_attachment");
    // An upload of a type not allowed, then one allowed and sent.
    let (status, body) = http_typed(
        h.http,
        "POST",
        &format!("/chat/v1/attachments?name=run.exe&token={token}"),
        None,
        "application/octet-stream",
        Some("MZ"),
    );
    assert_eq!(status, 415, "{body}");
    let (status, body) = http_typed(
        h.http,
        "POST",
        &format!("/chat/v1/attachments?name=receipt.txt&token={token}"),
        None,
        "text/plain",
        Some("paid 100"),
    );
    assert_eq!(status, 200, "{body}");
    let a: Value = serde_json::from_str(&body).unwrap();
    ws.send(&json!({"type": "message", "id": "z", "text": "", "attachments": [a]}));
    let (r, _) = ws.until("the receipt", |v| v["type"] == "receipt");
    assert_eq!(r["id"], "z");
    // The agents' routes need a login.
    let (status, body) = http(h.http, "GET", "/api/v1/conversations", None, None);
    assert_eq!(status, 401, "{body}");
}

/// A customer who gives only an e-mail address is known by it (any case).
#[test]
fn a_chat_customer_is_recognised_by_the_email_address_given() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    import_customers_into(
        &data,
        "id,name,phone,email\nC43,Jo Chen,+447700900123,jo.chen@example.com\n",
    );
    let h = Hotline::serve_with_in(&data, |t| t);
    let (mut ws, id, _) = customer(
        &h,
        &json!({"type": "start", "name": "Jo", "email": "Jo.Chen@Example.com"}),
    );
    queued(&mut ws);
    let sup = login(&h, "supervisor", "supervisor");
    let record = wait_for(Duration::from_secs(10), "the chat's record", || {
        let (_, v) = api(
            &h,
            &sup,
            "GET",
            "/api/v1/interactions?since=2000-01-01T00:00:00Z",
            None,
        );
        v.as_array()?
            .iter()
            .find(|r| r["id"] == id.as_str())
            .cloned()
    });
    assert_eq!(record["customer"], "C43", "{record}");
    assert_eq!(record["from"], "jo.chen@example.com", "{record}");
    let (_, c) = api(&h, &sup, "GET", "/api/v1/customers/C43", None);
    assert_eq!(
        c["customer"]["emails"],
        json!(["jo.chen@example.com"]),
        "{c}"
    );
}

/// A chat one agent declines goes to a colleague, who can take it; the decline is logged.
#[test]
fn a_declined_chat_goes_to_a_colleague() {
    let h = Hotline::serve_with(|t| t);
    let log = Feed::open(&h);
    let a = login(&h, "agent1007", "pass1007");
    let b = login(&h, "agent1008", "pass1008");
    let mut feed_a = agent_feed(&h, &a);
    let mut feed_b = agent_feed(&h, &b);
    available(&h, "1007");
    available(&h, "1008");
    let (mut cust, id, _) = customer(&h, &json!({"type": "start", "name": "Decline me"}));
    // Whoever is offered it first declines it.
    let first = wait_for(Duration::from_secs(10), "the first offer", || {
        let (_, va) = api(&h, &a, "GET", "/api/v1/conversations", None);
        let (_, vb) = api(&h, &b, "GET", "/api/v1/conversations", None);
        if va["conversations"][0]["phase"] == "offered" {
            Some(("1007", a.clone(), b.clone()))
        } else if vb["conversations"][0]["phase"] == "offered" {
            Some(("1008", b.clone(), a.clone()))
        } else {
            None
        }
    });
    let (who, first_token, other_token) = first;
    let (status, body) = api(
        &h,
        &first_token,
        "POST",
        &format!("/api/v1/conversations/{id}/decline"),
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{body}");
    let (other_feed, first_feed) = if who == "1007" {
        (&mut feed_b, &mut feed_a)
    } else {
        (&mut feed_a, &mut feed_b)
    };
    first_feed.until("the offer taken back", |v| v["type"] == "rescinded");
    let (offer, _) = other_feed.until("the colleague's offer", |v| {
        v["type"] == "offer" && v["conversation"]["id"] == id.as_str()
    });
    assert_eq!(offer["conversation"]["phase"], "offered");
    let (status, body) = api(
        &h,
        &other_token,
        "POST",
        &format!("/api/v1/conversations/{id}/accept"),
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{body}");
    cust.until("the colleague joining", |v| v["phase"] == "active");
    // The log says who declined.
    log.wait(Duration::from_secs(10), "the decline in the log", |all| {
        all.iter().any(|e| {
            kind(e) == "offer_rejected"
                && e["interaction"] == id.as_str()
                && e["kind"]["agent"] == who
                && e["kind"]["reason"] == "declined"
        })
    });
}

/// A crash of the centre does not end a web chat: its widget comes back with its token,
/// finds the whole conversation, and is back in line for the same agent, who takes it up
/// in the same interaction.
#[test]
fn a_web_chat_outlives_a_crash_of_the_centre() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut h = Hotline::serve_with_in(&data, |t| t);
    let agent = login(&h, "agent1007", "pass1007");
    let mut feed = agent_feed(&h, &agent);
    available(&h, "1007");
    let (mut cust, id, token) = customer(
        &h,
        &json!({"type": "start", "name": "Wang Fang", "language": "en"}),
    );
    feed.until("the offer", |v| v["type"] == "offer");
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/accept"),
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{body}");
    cust.until("the agent joining", |v| v["phase"] == "active");
    cust.send(&json!({"type": "message", "id": "m1", "text": "Is my transfer through?"}));
    cust.until("the receipt", |v| v["type"] == "receipt");
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(&json!({"text": "Let me check that for you."})),
    );
    assert_eq!(status, 200, "{body}");
    cust.until("the agent's reply", |v| {
        v["type"] == "message" && v["sender"] == "agent"
    });

    // The centre dies; no `ended` is written.
    drop((cust, feed));
    h.kill9();
    let h = Hotline::serve_with_in(&data, |t| t);

    // The widget comes back with its token: the conversation is there, whole, waiting in
    // line again, and the customer is told why.
    let mut cust = WsClient::open(h.http, "/chat/v1/ws").unwrap();
    cust.send(&json!({"type": "resume", "token": token, "since": 0}));
    let (note, replay) = cust.until("the notice of the restart", |v| {
        v["type"] == "message" && v["sender"] == "system"
    });
    assert!(
        note["text"].as_str().unwrap().contains("restarted"),
        "{note}"
    );
    let texts: Vec<&str> = replay
        .iter()
        .filter(|v| v["type"] == "message")
        .filter_map(|v| v["text"].as_str())
        .collect();
    assert_eq!(
        texts[..2],
        ["Is my transfer through?", "Let me check that for you."],
        "{replay:?}"
    );
    assert!(
        replay
            .iter()
            .any(|v| v["type"] == "state" && v["phase"] == "queued"),
        "{replay:?}"
    );
    // A message resent after the crash is kept once.
    cust.send(&json!({"type": "message", "id": "m1", "text": "Is my transfer through?"}));
    let (again, _) = cust.until("the receipt", |v| v["type"] == "receipt");
    assert_eq!(again["id"], "m1");

    // The same agent gets it again, in the same interaction, and the talk goes on.
    let agent = login(&h, "agent1007", "pass1007");
    let mut feed = agent_feed(&h, &agent);
    available(&h, "1007");
    let (offer, _) = feed.until("the offer again", |v| v["type"] == "offer");
    assert_eq!(offer["conversation"]["id"], id.as_str(), "{offer}");
    assert_eq!(offer["conversation"]["name"], "Wang Fang", "{offer}");
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/accept"),
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{body}");
    cust.until("the agent joining again", |v| v["phase"] == "active");
    cust.send(&json!({"type": "message", "id": "m2", "text": "Thank you"}));
    feed.until("the customer's message", |v| {
        v["type"] == "message" && v["text"] == "Thank you"
    });
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/end"),
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{body}");
    let (ended, _) = cust.until("the end", |v| v["phase"] == "ended");
    assert_eq!(ended["by"], "agent", "{ended}");
    let (status, t) = api(
        &h,
        &agent,
        "GET",
        &format!("/api/v1/interactions/{id}/transcript"),
        None,
    );
    assert_eq!(status, 200, "{t}");
    let customer_said: Vec<&str> = t["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["sender"] == "customer")
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        customer_said,
        ["Is my transfer through?", "Thank you"],
        "{t}"
    );

    // A token nobody was given finds nothing.
    let mut stranger = WsClient::open(h.http, "/chat/v1/ws").unwrap();
    stranger.send(&json!({"type": "resume", "token": "0".repeat(48), "since": 0}));
    let (err, _) = stranger.until("the refusal", |v| v["type"] == "error");
    assert_eq!(err["code"], "not_found", "{err}");
}
