//! E-mail end to end, with the real binary and a real mail server (Dovecot for IMAP and
//! submission, with local delivery, started by `tests/mail/start-mailserver.sh`): a
//! customer's mail is fetched from the centre's mailbox, acknowledged with a reference,
//! offered to an agent with e-mail capacity and answered from the desk's API; the reply
//! reaches the customer's mailbox threaded under their message; the customer's answer,
//! after a restart of the centre, joins the same conversation and comes back to the same
//! agent. The record, the transcript, the history and the queue's service level show it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use hotline_mail::parse::{InboundMessage, parse};
use hotline_mail::shell::{Account, Imap, Security, submit};
use serde_json::json;

struct MailServer {
    dir: PathBuf,
    scripts: PathBuf,
    imap: u16,
    submission: u16,
}

impl MailServer {
    /// Starts Dovecot for `users` ("address:password ..."), or says why it cannot.
    fn start(users: &str) -> Option<MailServer> {
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/mail");
        let dir = tempfile::tempdir().unwrap().keep();
        let out = Command::new("bash")
            .arg(scripts.join("start-mailserver.sh"))
            .arg(&dir)
            .env("MAIL_USERS", users)
            .output()
            .expect("run start-mailserver.sh");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        if out.status.code() == Some(3) {
            // The test script installs the server: there, a missing one is a failure.
            assert!(
                std::env::var_os("HOTLINE_EXPECT_MAIL_SERVER").is_none(),
                "{}",
                stderr.trim()
            );
            eprintln!("skipped: {}", stderr.trim());
            return None;
        }
        assert!(out.status.success(), "start-mailserver.sh failed: {stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let port = |name: &str| -> u16 {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name}: {stdout} {stderr}"))
        };
        Some(MailServer {
            imap: port("IMAP_PORT"),
            submission: port("SUBMISSION_PORT"),
            dir,
            scripts,
        })
    }

    fn account(&self, user: &str, port: u16) -> Account {
        Account {
            host: "127.0.0.1".into(),
            port,
            user: user.into(),
            password: "secret".into(),
            security: Security::Plain,
            ca_file: None,
        }
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(self.scripts.join("stop-mailserver.sh"))
            .arg(&self.dir)
            .status();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Sends `raw` as the customer, through the server's submission service.
fn send_as(server: &MailServer, user: &str, to: &str, raw: &str) {
    let account = server.account(user, server.submission);
    runtime()
        .block_on(submit(&account, user, &[to.to_string()], raw.as_bytes()))
        .expect("submit");
}

/// The `count`-th message (1-based) in `user`'s INBOX, once delivered.
fn nth_in_inbox(server: &MailServer, user: &str, count: usize) -> InboundMessage {
    let account = server.account(user, server.imap);
    runtime().block_on(async {
        for _ in 0..200 {
            let mut imap = Imap::login(&account).await.expect("imap login");
            let fetched = imap.fetch_from("INBOX", 1).await.expect("fetch");
            let _ = imap.logout().await;
            if fetched.len() >= count {
                return parse(&fetched[count - 1].raw).expect("parse");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{user} did not get {count} messages");
    })
}

fn with_mailbox(server_imap: u16, server_submission: u16) -> impl Fn(String) -> String {
    move |t| {
        format!(
            "{t}\n\
             [[queues]]\n\
             name = \"email\"\n\
             channel = \"email\"\n\
             skills = {{ general = 1 }}\n\
             target_seconds = 14400\n\
             service_level_percent = 80\n\
             \n\
             [[mailboxes]]\n\
             address = \"service@bank.test\"\n\
             name = \"Bank Service\"\n\
             queue = \"email\"\n\
             imap = \"127.0.0.1:{server_imap}\"\n\
             smtp = \"127.0.0.1:{server_submission}\"\n\
             user = \"service@bank.test\"\n\
             password = \"secret\"\n\
             security = \"plain\"\n\
             poll_seconds = 1\n"
        )
    }
}

const FIRST: &str = "From: Li Wei <customer@example.test>\r\n\
To: Bank Service <service@bank.test>\r\n\
Subject: =?UTF-8?B?5L+h55So5Y2h5bm06LS5?= annual fee\r\n\
Date: Tue, 01 Dec 2026 10:00:00 +0800\r\n\
Message-ID: <q1@example.test>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
为什么我的信用卡被收了年费？ Why was I charged an annual fee?\r\n\
--b1\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>Why was I charged an <b>annual fee</b>?</p><script>alert(1)</script>\r\n\
--b1--\r\n";

#[test]
fn an_email_is_answered_and_the_customers_reply_joins_the_conversation_after_a_restart() {
    let Some(mail) = MailServer::start("service@bank.test:secret customer@example.test:secret")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    import_customers_into(
        &data,
        "id,name,phone,email\nC7,Li Wei,+8613800138000,customer@example.test\n",
    );
    let config = with_mailbox(mail.imap, mail.submission);
    let h = Hotline::serve_with_in(&data, &config);
    let agent = login(&h, "agent1007", "pass1007");
    let mut feed = WsClient::open(
        h.http,
        &format!("/api/v1/conversations/live?access_token={agent}"),
    )
    .unwrap();
    available(&h, "1007");

    // The customer writes; the centre fetches it and offers it to the agent.
    send_as(&mail, "customer@example.test", "service@bank.test", FIRST);
    let (offer, _) = feed.until("the e-mail's offer", |v| v["type"] == "offer");
    let c = &offer["conversation"];
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["channel"], "email", "{c}");
    assert_eq!(c["queue"], "email", "{c}");
    assert_eq!(c["email"]["subject"], "信用卡年费 annual fee", "{c}");
    let reference = c["email"]["reference"].as_str().unwrap().to_string();
    assert!(reference.starts_with("HL-"), "{reference}");
    let first = &c["messages"][0];
    assert_eq!(first["sender"], "customer");
    assert!(
        first["text"].as_str().unwrap().contains("annual fee"),
        "{first}"
    );
    let files: Vec<&str> = first["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["message.html", "original.eml"], "{first}");
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/accept"),
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{body}");

    // The HTML is shown made safe: no script left.
    let html = first["attachments"][0]["path"].as_str().unwrap();
    let file = html.rsplit('/').next().unwrap();
    let (status, shown) = http(
        h.http,
        "GET",
        &format!("/api/v1/conversations/{id}/attachments/{file}"),
        Some(&agent),
        None,
    );
    assert_eq!(status, 200);
    assert!(shown.contains("<b>annual fee</b>"), "{shown}");
    assert!(!shown.contains("script"), "{shown}");

    // The customer is known by the address, in the screen pop.
    let (status, pop) = api(
        &h,
        &agent,
        "GET",
        &format!("/api/v1/interactions/{id}/screen-pop"),
        None,
    );
    assert_eq!(status, 200, "{pop}");
    assert_eq!(pop["customer"]["id"], "C7", "{pop}");
    assert_eq!(pop["interaction"]["channel"], "email", "{pop}");

    // The acknowledgement reached the customer at once, with the reference, marked
    // automatic and threaded under the message.
    let ack = nth_in_inbox(&mail, "customer@example.test", 1);
    assert!(
        ack.subject.contains(&format!("[#{reference}]")),
        "{}",
        ack.subject
    );
    assert_eq!(
        ack.loop_headers.auto_submitted.as_deref(),
        Some("auto-replied")
    );
    assert_eq!(ack.in_reply_to, ["q1@example.test"]);
    assert!(ack.text.contains(&reference), "{}", ack.text);

    // The agent answers: the reply is in the customer's mailbox, threaded.
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(&json!({"text": "您好，年费已为您退还。 The fee has been refunded."})),
    );
    assert_eq!(status, 200, "{body}");
    let reply = nth_in_inbox(&mail, "customer@example.test", 2);
    assert_eq!(
        reply.from.as_ref().map(|f| f.address.as_str()),
        Some("service@bank.test")
    );
    assert_eq!(reply.in_reply_to, ["q1@example.test"]);
    assert_eq!(reply.references, ["q1@example.test"]);
    assert_eq!(
        reply.subject,
        format!("Re: 信用卡年费 annual fee [#{reference}]")
    );
    assert!(reply.text.contains("refunded"), "{}", reply.text);
    let reply_id = reply.message_id.clone().expect("the reply's Message-ID");

    // The agent lets it go: it waits for the customer, and the agent wraps it up.
    let (status, _) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/end"),
        Some(&json!({})),
    );
    assert_eq!(status, 200);
    let (ended, _) = feed.until("the agent's end", |v| v["type"] == "ended");
    assert_eq!(ended["pending"], true, "{ended}");
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/interactions/{id}/wrapup"),
        Some(&json!({"disposition": "info"})),
    );
    assert_eq!(status, 200, "{body}");

    // The centre restarts; the conversation is not cut off.
    drop(feed);
    stop(h);
    let h = Hotline::serve_with_in(&data, &config);
    let agent = login(&h, "agent1007", "pass1007");
    let (status, pop) = api(
        &h,
        &agent,
        "GET",
        &format!("/api/v1/interactions/{id}/screen-pop"),
        None,
    );
    let rec = &pop["interaction"];
    assert_eq!(status, 200, "{rec}");
    assert!(
        rec["ended"].is_null(),
        "an e-mail outlives a restart: {rec}"
    );

    // The customer answers the reply: it joins the same conversation, which comes back to
    // the same agent with the whole thread.
    let mut feed = WsClient::open(
        h.http,
        &format!("/api/v1/conversations/live?access_token={agent}"),
    )
    .unwrap();
    available(&h, "1007");
    let answer = format!(
        "From: Li Wei <customer@example.test>\r\n\
         To: Bank Service <service@bank.test>\r\n\
         Subject: Re: Re: annual fee [#{reference}]\r\n\
         Message-ID: <q2@example.test>\r\n\
         In-Reply-To: <{reply_id}>\r\n\
         References: <q1@example.test> <{reply_id}>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Thank you! 谢谢！\r\n"
    );
    send_as(&mail, "customer@example.test", "service@bank.test", &answer);
    let (offer, _) = feed.until("the reply's offer", |v| v["type"] == "offer");
    let c = &offer["conversation"];
    assert_eq!(c["id"], id.as_str(), "the same conversation: {c}");
    let senders: Vec<&str> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sender"].as_str().unwrap())
        .collect();
    assert_eq!(senders, ["customer", "system", "agent", "customer"], "{c}");
    assert_eq!(c["messages"][3]["text"], "Thank you! 谢谢！");
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/accept"),
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{body}");

    // Someone else writing with the conversation's reference in the subject does not join
    // it (a reference is easy to guess): theirs is a conversation of its own.
    let sup = login(&h, "supervisor", "supervisor");
    let mut events = open_events(&h, &sup).unwrap();
    let spoof = format!(
        "From: Mallory <mallory@example.test>\r\n\
         To: Bank Service <service@bank.test>\r\n\
         Subject: Re: [#{reference}]\r\n\
         Message-ID: <m1@example.test>\r\n\
         \r\n\
         Please send the new card to my address instead.\r\n"
    );
    send_as(&mail, "customer@example.test", "service@bank.test", &spoof);
    let arrived = loop {
        let e = next_event(&mut events);
        if kind(&e) == "arrived" {
            break e;
        }
    };
    assert_eq!(arrived["kind"]["from"], "mallory@example.test", "{arrived}");
    assert_ne!(arrived["interaction"], id.as_str());

    // A reply after the restart still threads (the customer's latest message is read back
    // from the log): then the agent closes the case.
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(&json!({"text": "You are welcome."})),
    );
    assert_eq!(status, 200, "{body}");
    let last = nth_in_inbox(&mail, "customer@example.test", 3);
    assert_eq!(last.in_reply_to, ["q2@example.test"]);
    assert_eq!(
        last.references,
        ["q1@example.test", reply_id.as_str(), "q2@example.test"]
    );
    let (status, _) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/end"),
        Some(&json!({"close": true})),
    );
    assert_eq!(status, 200);
    let (ended, _) = feed.until("the close", |v| v["type"] == "ended");
    assert!(
        ended["pending"].is_null() || ended["pending"] == false,
        "{ended}"
    );

    // The record, the transcript, the customer's history and the queue's service level.
    let (_, pop) = api(
        &h,
        &agent,
        "GET",
        &format!("/api/v1/interactions/{id}/screen-pop"),
        None,
    );
    let rec = &pop["interaction"];
    assert_eq!(rec["channel"], "email", "{rec}");
    assert_eq!(rec["customer"], "C7", "{rec}");
    assert!(
        !rec["answered"].is_null() && !rec["ended"].is_null(),
        "{rec}"
    );
    let (_, transcript) = api(
        &h,
        &agent,
        "GET",
        &format!("/api/v1/interactions/{id}/transcript"),
        None,
    );
    let texts: Vec<&str> = transcript["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 5, "{transcript}");
    assert_eq!(texts[4], "You are welcome.");
    let (_, history) = api(&h, &agent, "GET", "/api/v1/customers/C7", None);
    assert!(history.to_string().contains(&id), "{history}");
    let (_, queues) = api(&h, &agent, "GET", "/api/v1/queues", None);
    let q = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "email")
        .unwrap();
    assert_eq!(q["channel"], "email");
    assert_eq!(q["target_seconds"], 14400.0);
    assert_eq!(q["service_level_goal"], 0.8);
    assert_eq!(q["answered"], 1, "{q}");
    assert_eq!(q["service_level"], 1.0, "{q}");
    stop(h);
}

/// The repeat-complaint rule counts every channel: a complaint by phone, then one by
/// e-mail, flags the customer.
#[test]
fn a_complaint_by_phone_then_by_email_flags_a_repeat_complainer() {
    let Some(mail) = MailServer::start("service@bank.test:secret customer@example.test:secret")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    import_customers_into(
        &data,
        "id,name,phone,email\nC1,Zhang San,13800138000,customer@example.test\n",
    );
    let mailbox = with_mailbox(mail.imap, mail.submission);
    let h = Hotline::serve_with_in(&data, |t| mailbox(all_take_accounts(t)));
    let agent = login(&h, "agent1007", "pass1007");
    let port = register_all(&h, &["1007"]);
    let phone = phone_answers(h.sip, "agent-answers.xml", &port, 1, "60s");
    let sup = login(&h, "supervisor", "supervisor");
    let mut events = open_events(&h, &sup).unwrap();
    let mut feed = WsClient::open(
        h.http,
        &format!("/api/v1/conversations/live?access_token={agent}"),
    )
    .unwrap();
    available(&h, "1007");

    // The customer calls (from 13800138000) and complains; the agent wraps it up so.
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
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/interactions/{call_id}/hangup"),
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/interactions/{call_id}/wrapup"),
        Some(&json!({"disposition": "complaint"})),
    );
    assert_eq!(status, 200, "{body}");
    drop(caller);
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "{log}");

    // Then by e-mail: one complaint so far, so no flag yet.
    send_as(&mail, "customer@example.test", "service@bank.test", FIRST);
    let (offer, _) = feed.until("the e-mail's offer", |v| v["type"] == "offer");
    let id = offer["conversation"]["id"].as_str().unwrap().to_string();
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/accept"),
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{body}");
    let pop = |h: &Hotline| {
        api(
            h,
            &agent,
            "GET",
            &format!("/api/v1/interactions/{id}/screen-pop"),
            None,
        )
        .1
    };
    let before = pop(&h);
    assert_eq!(before["customer"]["id"], "C1", "{before}");
    assert_eq!(before["repeat_complaint"], false, "{before}");
    let channels: Vec<&str> = before["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["interaction"]["channel"].as_str().unwrap())
        .collect();
    assert!(
        channels.contains(&"voice"),
        "the call is in the history: {before}"
    );

    // The e-mail is a complaint too, and the agent closes it. The customer's next contact
    // (a new e-mail) finds two open complaints, by phone and by e-mail: a repeat
    // complainer.
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/interactions/{id}/wrapup"),
        Some(&json!({"disposition": "complaint"})),
    );
    assert_eq!(status, 200, "{body}");
    let (status, _) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/end"),
        Some(&json!({"close": true})),
    );
    assert_eq!(status, 200);
    let again = FIRST
        .replace("q1@example.test", "q9@example.test")
        .replace("annual fee", "still no answer");
    send_as(&mail, "customer@example.test", "service@bank.test", &again);
    let (offer, _) = feed.until("the next e-mail's offer", |v| {
        v["type"] == "offer" && v["conversation"]["id"] != id.as_str()
    });
    let next = offer["conversation"]["id"].as_str().unwrap().to_string();
    let (_, after) = api(
        &h,
        &sup,
        "GET",
        &format!("/api/v1/interactions/{next}/screen-pop"),
        None,
    );
    assert_eq!(after["open_complaints_30d"], 2, "{after}");
    assert_eq!(after["repeat_complaint"], true, "{after}");
    stop(h);
}

/// A reply the mail server has not taken when the centre dies is sent again, as composed,
/// once the centre is back: the customer gets it, with its Message-ID, and the conversation
/// waits for the customer rather than in line.
#[test]
fn a_reply_not_yet_sent_when_the_centre_dies_is_sent_after_the_restart() {
    let Some(mail) = MailServer::start("service@bank.test:secret customer@example.test:secret")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The mail server's submission port is wrong at first: nothing can be sent.
    let nowhere = free_port("127.0.0.1");
    let mut h = Hotline::serve_with_in(&data, with_mailbox(mail.imap, nowhere));
    let agent = login(&h, "agent1007", "pass1007");
    let mut feed = WsClient::open(
        h.http,
        &format!("/api/v1/conversations/live?access_token={agent}"),
    )
    .unwrap();
    available(&h, "1007");
    send_as(&mail, "customer@example.test", "service@bank.test", FIRST);
    let (offer, _) = feed.until("the e-mail's offer", |v| v["type"] == "offer");
    let id = offer["conversation"]["id"].as_str().unwrap().to_string();
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/accept"),
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(&json!({"text": "The fee is waived this year."})),
    );
    assert_eq!(status, 200, "{body}");
    let seq = body["seq"].as_u64().expect("the reply's seq");

    // The centre dies while the reply waits to be sent.
    drop(feed);
    h.kill9();
    let h = Hotline::serve_with_in(&data, with_mailbox(mail.imap, mail.submission));
    let agent = login(&h, "agent1007", "pass1007");

    // The customer gets the reply (the acknowledgement, never kept, is not sent again).
    let got = nth_in_inbox(&mail, "customer@example.test", 1);
    assert!(got.text.contains("The fee is waived this year."), "{got:?}");
    assert_eq!(got.in_reply_to, ["q1@example.test"], "{got:?}");
    assert!(got.subject.starts_with("Re: "), "{}", got.subject);
    let transcript = wait_for(Duration::from_secs(20), "the reply sent", || {
        let (_, t) = api(
            &h,
            &agent,
            "GET",
            &format!("/api/v1/interactions/{id}/transcript"),
            None,
        );
        let reply = t["messages"]
            .as_array()?
            .iter()
            .find(|m| m["seq"].as_u64() == Some(seq))?
            .clone();
        (reply["status"] == "sent").then_some(t)
    });
    let messages = transcript["messages"].as_array().unwrap();
    let reply = messages
        .iter()
        .find(|m| m["sender"] == "agent")
        .expect("the reply");
    assert_eq!(
        reply["attachments"][0]["name"], "sent.eml",
        "kept as composed: {reply}"
    );
    // Once, not twice.
    let account = mail.account("customer@example.test", mail.imap);
    let inbox = runtime().block_on(async {
        let mut imap = Imap::login(&account).await.expect("imap login");
        imap.fetch_from("INBOX", 1).await.expect("fetch")
    });
    assert_eq!(inbox.len(), 1, "one reply in the customer's mailbox");
    assert!(
        messages.iter().any(|m| m["sender"] == "system"
            && m["text"].as_str().is_some_and(|t| t.contains("sent again"))),
        "{transcript}"
    );

    // It waits for the customer: not offered again, not closed.
    let (status, conv) = api(
        &h,
        &agent,
        "GET",
        &format!("/api/v1/conversations/{id}"),
        None,
    );
    assert_eq!(status, 200, "{conv}");
    assert_eq!(conv["phase"], "pending", "{conv}");
}
