//! End to end against a real Dovecot (IMAP, submission, LMTP) that
//! `tests/mail/start-mailserver.sh` starts on 127.0.0.1 for each test,
//! in plain text or with TLS required. Skipped, with the reason printed,
//! when the server is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration as StdDuration, Instant, SystemTime, UNIX_EPOCH};

use hotline_mail::auto::{AckDecision, AckLimiter, should_acknowledge};
use hotline_mail::compose::{Draft, Origin, acknowledgement, compose, reply};
use hotline_mail::parse::{InboundMessage, Mailbox, parse};
use hotline_mail::shell::{Account, Imap, Security, ShellError, submit};
use hotline_mail::thread::{Match, Reference, Threads};
use time::{Duration, OffsetDateTime};

struct Server {
    dir: PathBuf,
    scripts: PathBuf,
    imap: u16,
    submission: u16,
    /// With TLS required (`MAIL_TLS=1`).
    tls: Option<TlsPorts>,
}

struct TlsPorts {
    imaps: u16,
    submissions: u16,
    /// The server's self-signed certificate, the CA to trust.
    cert: PathBuf,
}

impl Server {
    /// Starts the server, with the script's settings in `env`
    /// (`MAIL_TLS=1`: TLS required), or says why it cannot (None: skip).
    fn start(env: &[(&str, &str)]) -> Option<Server> {
        let tls = env.contains(&("MAIL_TLS", "1"));
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
            .envs(env.iter().copied())
            .output()
            .expect("run start-mailserver.sh");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(3) {
            eprintln!("skipped: {}", stderr.trim());
            let _ = std::fs::remove_dir_all(&dir);
            return None;
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let value = |name: &str| -> String {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|| panic!("no {name} from the script: {stdout} {stderr}"))
        };
        let port = |name: &str| -> u16 { value(name).parse().expect("a port") };
        assert!(out.status.success(), "start-mailserver.sh failed: {stderr}");
        Some(Server {
            imap: port("IMAP_PORT"),
            submission: port("SUBMISSION_PORT"),
            tls: tls.then(|| TlsPorts {
                imaps: port("IMAPS_PORT"),
                submissions: port("SUBMISSIONS_PORT"),
                cert: value("TLS_CERT").into(),
            }),
            dir,
            scripts,
        })
    }

    /// Dovecot's log once `done` holds for it (it is written by another
    /// process, a moment after the event).
    fn log_until(&self, done: impl Fn(&str) -> bool) -> String {
        for _ in 0..200 {
            let log = std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default();
            if done(&log) {
                return log;
            }
            std::thread::sleep(StdDuration::from_millis(50));
        }
        panic!("dovecot.log never showed what the test waited for");
    }

    /// A plain-text account at 127.0.0.1.
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

    /// An account at `localhost` (the name in the server's certificate)
    /// that trusts `ca_file` besides the system's CAs.
    fn secure(&self, user: &str, port: u16, security: Security, ca_file: Option<&Path>) -> Account {
        Account {
            host: "localhost".into(),
            security,
            ca_file: ca_file.map(Path::to_path_buf),
            ..self.account(user, port)
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
    let Some(server) = Server::start(&[]) else {
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

/// A short plain-text message from the customer to the centre.
fn short_mail(id: &str) -> String {
    format!(
        "From: customer@example.test\r\nTo: agent@example.test\r\nSubject: {id}\r\n\
         Message-ID: <{id}@example.test>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0100\r\n\
         \r\nmessage {id}\r\n"
    )
}

/// A self-signed certificate that did not sign the server's: a wrong CA.
fn wrong_ca(dir: &Path) -> PathBuf {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args([
            "-nodes",
            "-keyout",
            "wrong.key",
            "-out",
            "wrong.pem",
            "-days",
            "2",
        ])
        .args(["-subj", "/CN=another test CA"])
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("wrong.pem")
}

fn tls_reason<T>(result: Result<T, ShellError>) -> String {
    match result {
        Err(ShellError::Tls(_, why)) => why,
        Err(e) => panic!("not a TLS error: {e}"),
        Ok(_) => panic!("a certificate that must not be trusted was"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn tls_is_used_and_certificates_are_checked() {
    let Some(server) = Server::start(&[("MAIL_TLS", "1")]) else {
        return;
    };
    let tls = server.tls.as_ref().expect("TLS ports");
    let ca = Some(tls.cert.as_path());
    let agent = "agent@example.test";
    let customer = "customer@example.test";

    // Implicit TLS and STARTTLS both log in, to the same mailbox.
    let mut imaps = Imap::login(&server.secure(agent, tls.imaps, Security::Tls, ca))
        .await
        .expect("IMAPS login");
    imaps
        .append("INBOX", short_mail("over-tls").as_bytes())
        .await
        .expect("append over IMAPS");
    imaps.logout().await.expect("logout");
    let starttls = server.secure(agent, server.imap, Security::StartTls, ca);
    let got = wait_for(&starttls, 1, 1).await;
    assert_eq!(got[0].1.subject, "over-tls");

    // Plain text on the same port still logs in: Dovecot trusts a client
    // whose address is its own (loopback) as "secured". Its log tells
    // that login from the encrypted ones, checked below.
    Imap::login(&server.account(agent, server.imap))
        .await
        .expect("plain login from loopback")
        .logout()
        .await
        .expect("logout");

    // SMTP: STARTTLS on submission, implicit TLS on submissions.
    let sent = compose(&Draft {
        from: &Mailbox::new(agent, None),
        to: &[Mailbox::new(customer, None)],
        subject: "by STARTTLS",
        message_id: "starttls@example.test",
        in_reply_to: None,
        references: &[],
        date: OffsetDateTime::from_unix_timestamp(1_796_115_700).expect("time"),
        text: "hello",
        auto_submitted: None,
    })
    .expect("compose");
    let smtp_starttls = server.secure(agent, server.submission, Security::StartTls, ca);
    submit(
        &smtp_starttls,
        &sent.envelope_from,
        &sent.recipients,
        &sent.bytes,
    )
    .await
    .expect("submit with STARTTLS");
    let smtps = server.secure(agent, tls.submissions, Security::Tls, ca);
    submit(&smtps, &sent.envelope_from, &sent.recipients, &sent.bytes)
        .await
        .expect("submit over SMTPS");
    let delivered = wait_for(&server.secure(customer, tls.imaps, Security::Tls, ca), 1, 2).await;
    assert!(delivered.iter().all(|(_, m)| m.subject == "by STARTTLS"));

    // Dovecot logged every login but the plain one as over TLS.
    let logins = server.log_until(|log| {
        let count = |service: &str| {
            log.lines()
                .filter(|l| l.contains(&format!("{service}: Info: Login: ")))
                .count()
        };
        count("imap-login") >= 4 && count("submission-login") >= 2
    });
    let logins: Vec<&str> = logins
        .lines()
        .filter(|l| l.contains("Login: user="))
        .collect();
    let plain: Vec<_> = logins.iter().filter(|l| !l.contains(", TLS,")).collect();
    assert_eq!(plain.len(), 1, "{logins:#?}");
    assert!(plain[0].contains("imap-login") && plain[0].contains(", secured,"));

    // A certificate that no trusted CA signed: a wrong CA file, or the
    // system's CAs alone. Each is a TLS error that says so.
    let wrong = wrong_ca(&server.dir);
    for ca_file in [Some(wrong.as_path()), None] {
        for security in [Security::Tls, Security::StartTls] {
            let port = if security == Security::Tls {
                tls.imaps
            } else {
                server.imap
            };
            let why = tls_reason(Imap::login(&server.secure(agent, port, security, ca_file)).await);
            assert!(why.contains("UnknownIssuer"), "{why}");
            assert!(why.contains("ca_file"), "{why}");
            let port = if security == Security::Tls {
                tls.submissions
            } else {
                server.submission
            };
            let account = server.secure(agent, port, security, ca_file);
            let why = tls_reason(
                submit(&account, &sent.envelope_from, &sent.recipients, &sent.bytes).await,
            );
            assert!(why.contains("UnknownIssuer"), "{why}");
        }
    }

    // The right CA, but not the name in the certificate (localhost).
    let by_address = Account {
        host: "127.0.0.1".into(),
        ..server.secure(agent, tls.imaps, Security::Tls, ca)
    };
    let why = tls_reason(Imap::login(&by_address).await);
    assert!(why.contains("not valid for name"), "{why}");
    let by_address = Account {
        port: tls.submissions,
        ..by_address
    };
    let why = tls_reason(
        submit(
            &by_address,
            &sent.envelope_from,
            &sent.recipients,
            &sent.bytes,
        )
        .await,
    );
    assert!(why.contains("not valid for name"), "{why}");

    // A CA file that holds no certificate is named.
    let empty = server.dir.join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").expect("write");
    let why = tls_reason(
        Imap::login(&server.secure(agent, tls.imaps, Security::Tls, Some(&empty))).await,
    );
    assert!(why.contains("no certificate"), "{why}");
}

fn subjects(fetched: &[hotline_mail::shell::Fetched]) -> Vec<String> {
    fetched
        .iter()
        .map(|f| parse(&f.raw).expect("parse").subject)
        .collect()
}

fn uids(fetched: &[hotline_mail::shell::Fetched]) -> Vec<u32> {
    fetched.iter().map(|f| f.uid).collect()
}

/// The agent's account and a session on its INBOX, still empty.
async fn agent_inbox(server: &Server) -> (Account, Imap) {
    let agent = server.account("agent@example.test", server.imap);
    let mut imap = Imap::login(&agent).await.expect("login");
    assert!(imap.unseen("INBOX").await.expect("unseen").is_empty());
    (agent, imap)
}

/// Appends a [`short_mail`] for each id to INBOX, in order.
async fn append_all(imap: &mut Imap, ids: impl IntoIterator<Item = String>) {
    for id in ids {
        imap.append("INBOX", short_mail(&id).as_bytes())
            .await
            .expect("append");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn unseen_comes_back_until_marked_seen() {
    let Some(server) = Server::start(&[]) else {
        return;
    };
    let (agent, mut imap) = agent_inbox(&server).await;
    append_all(&mut imap, ["one", "two", "three"].map(String::from)).await;

    // Oldest first; fetching does not mark them seen.
    let first = imap.unseen("INBOX").await.expect("unseen");
    assert_eq!(subjects(&first), ["one", "two", "three"]);
    assert!(first.windows(2).all(|w| w[0].uid < w[1].uid));
    let again = imap.unseen("INBOX").await.expect("unseen again");
    assert_eq!(uids(&again), uids(&first));

    imap.mark_seen(&[first[0].uid]).await.expect("mark one");
    let rest = imap.unseen("INBOX").await.expect("unseen");
    assert_eq!(subjects(&rest), ["two", "three"]);
    imap.mark_seen(&uids(&rest)).await.expect("mark the rest");
    imap.mark_seen(&[]).await.expect("nothing to mark");
    assert!(imap.unseen("INBOX").await.expect("unseen").is_empty());

    // The flags are on the server: another session sees them, and only
    // what arrives afterwards is unseen.
    let mut other = Imap::login(&agent).await.expect("second login");
    assert!(other.unseen("INBOX").await.expect("unseen").is_empty());
    other
        .append("INBOX", short_mail("four").as_bytes())
        .await
        .expect("append");
    let four = imap.unseen("INBOX").await.expect("unseen");
    assert_eq!(subjects(&four), ["four"]);
    assert!(four[0].uid > first[2].uid);
    imap.mark_seen(&uids(&four)).await.expect("mark");

    // A pile larger than one batch comes oldest first, in bounded steps.
    let pile = hotline_mail::shell::UNSEEN_BATCH + 5;
    append_all(&mut other, (0..pile).map(|n| format!("pile-{n:03}"))).await;
    let batch = imap.unseen("INBOX").await.expect("first batch");
    assert_eq!(batch.len(), hotline_mail::shell::UNSEEN_BATCH);
    let expected: Vec<String> = (0..batch.len()).map(|n| format!("pile-{n:03}")).collect();
    assert_eq!(subjects(&batch), expected);
    imap.mark_seen(&uids(&batch)).await.expect("mark batch");
    let last = imap.unseen("INBOX").await.expect("second batch");
    let expected: Vec<String> = (batch.len()..pile)
        .map(|n| format!("pile-{n:03}"))
        .collect();
    assert_eq!(subjects(&last), expected);
    imap.mark_seen(&uids(&last)).await.expect("mark the last");

    // A message over the limit is named with its size but not downloaded; those around it
    // come as usual.
    let big = format!("{}{}\r\n", short_mail("big"), "x".repeat(20_000));
    other
        .append("INBOX", short_mail("before").as_bytes())
        .await
        .expect("append");
    other.append("INBOX", big.as_bytes()).await.expect("append");
    other
        .append("INBOX", short_mail("after").as_bytes())
        .await
        .expect("append");
    imap.set_max_bytes(10_000);
    let mixed = imap.unseen("INBOX").await.expect("unseen with a large one");
    assert_eq!(mixed.len(), 3);
    assert!(mixed.windows(2).all(|w| w[0].uid < w[1].uid));
    assert_eq!(mixed[0].oversize, None);
    assert!(
        mixed[1]
            .oversize
            .is_some_and(|n| n as usize >= big.len() - 2)
            && mixed[1].raw.is_empty(),
        "{:?}",
        mixed[1].oversize
    );
    assert_eq!(mixed[2].oversize, None);
    assert!(String::from_utf8_lossy(&mixed[2].raw).contains("Subject: after"));
    other.logout().await.expect("logout");
    imap.logout().await.expect("logout");
}

#[tokio::test(flavor = "current_thread")]
async fn wait_wakes_when_mail_arrives() {
    let Some(server) = Server::start(&[]) else {
        return;
    };
    let (agent, mut imap) = agent_inbox(&server).await;

    // Nothing arrives: false once the short time is up, and the session
    // goes on (IDLE was ended).
    let started = Instant::now();
    let woke = imap
        .wait(StdDuration::from_millis(300))
        .await
        .expect("wait");
    assert!(!woke, "woke with nothing new");
    assert!(started.elapsed() >= StdDuration::from_millis(300));
    assert!(imap.unseen("INBOX").await.expect("unseen").is_empty());

    // Another session appends while this one waits: it wakes long
    // before its own limit (a minute).
    let waiting = tokio::spawn(async move {
        let woke = imap.wait(StdDuration::from_secs(60)).await;
        (imap, woke)
    });
    let mut other = Imap::login(&agent).await.expect("second login");
    other
        .append("INBOX", short_mail("while-waiting").as_bytes())
        .await
        .expect("append");
    let (mut imap, woke) = tokio::time::timeout(StdDuration::from_secs(10), waiting)
        .await
        .expect("wait did not wake on new mail")
        .expect("wait task");
    assert!(woke.expect("wait"), "timed out instead of waking");
    let new = imap.unseen("INBOX").await.expect("unseen");
    assert_eq!(subjects(&new), ["while-waiting"]);

    // A message that arrives while this session is busy between unseen
    // and wait (the server reports it with the reply to mark_seen, and
    // would not again in IDLE) is not waited past.
    other
        .append("INBOX", short_mail("between").as_bytes())
        .await
        .expect("append");
    imap.mark_seen(&uids(&new)).await.expect("mark");
    let started = Instant::now();
    assert!(imap.wait(StdDuration::from_secs(60)).await.expect("wait"));
    assert!(started.elapsed() < StdDuration::from_secs(10));
    assert_eq!(
        subjects(&imap.unseen("INBOX").await.expect("unseen")),
        ["between"]
    );

    // A batch left over: wait says true at once.
    let pile = hotline_mail::shell::UNSEEN_BATCH + 1;
    append_all(&mut other, (0..pile).map(|n| format!("pile-{n:03}"))).await;
    let batch = imap.unseen("INBOX").await.expect("unseen");
    assert_eq!(batch.len(), hotline_mail::shell::UNSEEN_BATCH);
    let started = Instant::now();
    assert!(imap.wait(StdDuration::from_secs(60)).await.expect("wait"));
    assert!(started.elapsed() < StdDuration::from_secs(10));
    other.logout().await.expect("logout");
    imap.logout().await.expect("logout");
}

#[tokio::test(flavor = "current_thread")]
async fn wait_polls_a_server_without_idle() {
    let Some(server) = Server::start(&[("MAIL_IMAP_CAPABILITY", "IMAP4rev1 LITERAL+")]) else {
        return;
    };
    let (_, mut imap) = agent_inbox(&server).await;
    // It cannot know: it sleeps the whole time and has the caller look.
    let started = Instant::now();
    assert!(
        imap.wait(StdDuration::from_millis(300))
            .await
            .expect("wait")
    );
    assert!(started.elapsed() >= StdDuration::from_millis(300));
    assert!(imap.unseen("INBOX").await.expect("unseen").is_empty());
    imap.logout().await.expect("logout");
}
