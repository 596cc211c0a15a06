//! End to end against a real Dovecot (IMAP, submission, LMTP) that
//! `tests/mail/start-mailserver.sh` starts on 127.0.0.1 for this test.
//! Skipped, with the reason printed, when the server is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use hotline_mail::auto::{AckDecision, AckLimiter, should_acknowledge};
use hotline_mail::compose::{Draft, Origin, acknowledgement, compose, reply};
use hotline_mail::parse::{InboundMessage, Mailbox, parse};
use hotline_mail::shell::{Account, Imap, submit};
use hotline_mail::thread::{Match, Reference, Threads};
use time::{Duration, OffsetDateTime};

struct Server {
    dir: PathBuf,
    scripts: PathBuf,
    imap: u16,
    submission: u16,
}

impl Server {
    /// Starts the server, or says why it cannot (None: skip).
    fn start() -> Option<Server> {
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/mail");
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("hotline-mail-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let out = Command::new("bash")
            .arg(scripts.join("start-mailserver.sh"))
            .arg(&dir)
            .output()
            .expect("run start-mailserver.sh");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(3) {
            eprintln!("skipped: {}", stderr.trim());
            let _ = std::fs::remove_dir_all(&dir);
            return None;
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let port = |name: &str| -> u16 {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} from the script: {stdout} {stderr}"))
        };
        assert!(out.status.success(), "start-mailserver.sh failed: {stderr}");
        Some(Server {
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
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(self.scripts.join("stop-mailserver.sh"))
            .arg(&self.dir)
            .status();
        if std::thread::panicking() {
            eprintln!("mail server files kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Fetches from `uid` on until `count` messages are there (delivery
/// through submission and LMTP takes a moment).
async fn wait_for(account: &Account, uid: u32, count: usize) -> Vec<(u32, InboundMessage)> {
    for _ in 0..100 {
        let mut imap = Imap::login(account).await.expect("imap login");
        let fetched = imap.fetch_from("INBOX", uid).await.expect("fetch");
        let _ = imap.logout().await;
        if fetched.len() >= count {
            return fetched
                .into_iter()
                .map(|f| (f.uid, parse(&f.raw).expect("parse fetched mail")))
                .collect();
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    panic!("{count} messages did not arrive for {}", account.user);
}

const CUSTOMER_MAIL: &str = "From: =?UTF-8?B?5byg5LiJ?= <customer@example.test>\r\n\
To: Support <agent@example.test>\r\n\
Subject: =?UTF-8?B?5oiR55qE6K6i5Y2V?=\r\n\
Date: Tue, 01 Dec 2026 10:00:00 +0100\r\n\
Message-ID: <first@example.test>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
你好，我的订单还没有到。\r\n";

#[tokio::test(flavor = "current_thread")]
async fn a_reply_reaches_the_customer_threaded() {
    let Some(server) = Server::start() else {
        return;
    };
    let agent_imap = server.account("agent@example.test", server.imap);
    let agent_smtp = server.account("agent@example.test", server.submission);
    let customer_imap = server.account("customer@example.test", server.imap);
    let customer_smtp = server.account("customer@example.test", server.submission);
    let now = OffsetDateTime::from_unix_timestamp(1_796_115_700).expect("time");

    // The customer's mail lands in the centre's mailbox.
    let mut imap = Imap::login(&agent_imap).await.expect("login");
    imap.append("INBOX", CUSTOMER_MAIL.as_bytes())
        .await
        .expect("append");
    imap.logout().await.expect("logout");

    let inbox = wait_for(&agent_imap, 1, 1).await;
    let (uid, first) = &inbox[0];
    assert_eq!(first.message_id.as_deref(), Some("first@example.test"));
    assert_eq!(first.subject, "我的订单");
    assert_eq!(first.text.trim(), "你好，我的订单还没有到。");

    let mut threads: Threads<String> = Threads::new();
    let (conversation, by) = threads.place(first, || ("conv1".to_owned(), Reference(1)));
    assert_eq!(by, None);

    // Acknowledge, then reply, both by SMTP submission.
    let origin = |seq| Origin {
        from: Mailbox::new("agent@example.test", Some("Support 客服")),
        conversation: "conv1",
        seq,
        domain: "example.test",
        reference: Reference(1),
        now,
    };
    let mut limiter = AckLimiter::new(3, Duration::hours(1));
    assert_eq!(
        should_acknowledge(first, &["agent@example.test"], &mut limiter, now),
        AckDecision::Send
    );
    let ack = acknowledgement(first, &origin(1), "We have your message: HL-000001.").expect("ack");
    submit(&agent_smtp, &ack.envelope_from, &ack.recipients, &ack.bytes)
        .await
        .expect("submit ack");
    threads.remember(&ack.message_id, conversation.clone());

    let answer = reply(first, &origin(2), "您好，订单已发出。").expect("reply");
    submit(
        &agent_smtp,
        &answer.envelope_from,
        &answer.recipients,
        &answer.bytes,
    )
    .await
    .expect("submit reply");
    threads.remember(&answer.message_id, conversation.clone());

    // Both reach the customer's mailbox with the threading headers.
    let got = wait_for(&customer_imap, 1, 2).await;
    let find = |id: &str| {
        got.iter()
            .map(|(_, m)| m)
            .find(|m| m.message_id.as_deref() == Some(id))
            .unwrap_or_else(|| panic!("{id} not delivered"))
    };
    let ack_in = find("conv1.1@example.test");
    assert_eq!(
        ack_in.loop_headers.auto_submitted.as_deref(),
        Some("auto-replied")
    );
    assert_eq!(ack_in.in_reply_to, vec!["first@example.test"]);
    let reply_in = find("conv1.2@example.test");
    assert_eq!(reply_in.in_reply_to, vec!["first@example.test"]);
    assert_eq!(reply_in.references, vec!["first@example.test"]);
    assert_eq!(reply_in.subject, "Re: 我的订单 [#HL-000001]");
    assert!(reply_in.text.contains("您好，订单已发出。"));
    assert_eq!(reply_in.loop_headers.auto_submitted, None);
    assert_eq!(
        reply_in.from.as_ref().map(|f| f.address.as_str()),
        Some("agent@example.test")
    );

    // The customer answers the reply; it joins the same conversation.
    let refs = hotline_mail::compose::references_for(reply_in);
    let customer = Mailbox::new("customer@example.test", Some("张三"));
    let agent = [Mailbox::new("agent@example.test", None)];
    let again = compose(&Draft {
        from: &customer,
        to: &agent,
        subject: &hotline_mail::compose::reply_subject(&reply_in.subject, Reference(1)),
        message_id: "second@example.test",
        in_reply_to: reply_in.message_id.as_deref(),
        references: &refs,
        date: now + Duration::minutes(5),
        text: "谢谢！",
        auto_submitted: None,
    })
    .expect("customer mail");
    submit(
        &customer_smtp,
        &again.envelope_from,
        &again.recipients,
        &again.bytes,
    )
    .await
    .expect("customer submit");

    let newer = wait_for(&agent_imap, uid + 1, 1).await;
    let (_, second) = &newer[0];
    assert_eq!(second.message_id.as_deref(), Some("second@example.test"));
    assert_eq!(
        second.references,
        vec!["first@example.test", "conv1.2@example.test"]
    );
    let (joined, by) = threads.place(second, || panic!("must join the conversation"));
    assert_eq!(joined, conversation);
    assert_eq!(by, Some(Match::InReplyTo));
}
