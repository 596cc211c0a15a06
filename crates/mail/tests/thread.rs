use hotline_mail::auto::{
    AckDecision, AckLimiter, Automatic, automatic, is_daemon_address, should_acknowledge,
};
use hotline_mail::parse::parse;
use hotline_mail::thread::{Match, Placement, Reference, Threads};
use time::{Duration, OffsetDateTime};

fn msg(headers: &str) -> hotline_mail::InboundMessage {
    parse(format!("{headers}\r\n\r\nbody\r\n").as_bytes()).unwrap()
}

#[test]
fn reference_tags() {
    assert_eq!(Reference(123).to_string(), "HL-000123");
    assert_eq!(Reference(123).tag(), "[#HL-000123]");
    assert_eq!(Reference(12_345_678).tag(), "[#HL-12345678]");
    assert_eq!(
        Reference::find_in("Re: help [#HL-000123]"),
        Some(Reference(123))
    );
    assert_eq!(
        Reference::find_in("[#hl-7] and later [#HL-000009]"),
        Some(Reference(9))
    );
    assert_eq!(
        Reference::find_in("[#HL-] [#HL-12x] [#XX-000001] [HL-000001]"),
        None
    );
    assert_eq!(Reference::find_in("[#HL-1234567890123456789]"), None);
    assert_eq!(Reference::find_in("订单 [#HL-000042]"), Some(Reference(42)));
    assert_eq!(Reference::find_in("[#"), None);
    assert_eq!(Reference::find_in("[#H"), None);
}

#[test]
fn threading_order() {
    let mut threads: Threads<&str> = Threads::new();
    threads.remember("<a@x>", "conv-a");
    threads.remember("b@x", "conv-b");
    threads.remember_reference(Reference(7), "conv-tag");

    let by_reply = msg(
        "Message-ID: <n1@y>\r\nIn-Reply-To: <a@x>\r\nReferences: <b@x>\r\nSubject: [#HL-000007]",
    );
    assert_eq!(
        threads.find(&by_reply),
        Placement::Existing {
            conversation: "conv-a",
            by: Match::InReplyTo
        }
    );

    // References are tried from the last (the parent) to the first.
    let by_refs =
        msg("Message-ID: <n2@y>\r\nIn-Reply-To: <unknown@y>\r\nReferences: <a@x> <b@x> <zzz@y>");
    assert_eq!(
        threads.find(&by_refs),
        Placement::Existing {
            conversation: "conv-b",
            by: Match::References
        }
    );

    let by_tag = msg("Message-ID: <n3@y>\r\nSubject: Re: my order [#HL-000007]");
    assert_eq!(
        threads.find(&by_tag),
        Placement::Existing {
            conversation: "conv-tag",
            by: Match::SubjectTag(Reference(7))
        }
    );

    let unknown_tag = msg("Message-ID: <n4@y>\r\nSubject: Re: [#HL-000008]");
    assert_eq!(threads.find(&unknown_tag), Placement::New);

    let same = msg("Message-ID: <a@x>\r\nSubject: again");
    assert_eq!(
        threads.find(&same),
        Placement::Existing {
            conversation: "conv-a",
            by: Match::SameMessage
        }
    );
}

#[test]
fn place_creates_and_remembers() {
    let mut threads: Threads<String> = Threads::new();
    let first = msg("Message-ID: <first@customer>\r\nSubject: Help");
    let (conv, by) = threads.place(&first, || ("c1".to_owned(), Reference(1)));
    assert_eq!((conv.as_str(), by), ("c1", None));
    assert_eq!(
        threads
            .conversation_of("first@customer")
            .map(String::as_str),
        Some("c1")
    );
    assert_eq!(
        threads.conversation_with(Reference(1)).map(String::as_str),
        Some("c1")
    );

    // Our reply, remembered by the shell when sent.
    threads.remember("<c1.2@shop.example>", "c1".to_owned());
    let answer = msg(
        "Message-ID: <second@customer>\r\nIn-Reply-To: <c1.2@shop.example>\r\nSubject: Re: Help [#HL-000001]",
    );
    let (conv, by) = threads.place(&answer, || panic!("must not create"));
    assert_eq!((conv.as_str(), by), ("c1", Some(Match::InReplyTo)));

    // A client that drops the headers still joins by the tag.
    let headerless = msg("Message-ID: <third@customer>\r\nSubject: RE: Help [#HL-000001]");
    let (conv, by) = threads.place(&headerless, || panic!("must not create"));
    assert_eq!(
        (conv.as_str(), by),
        ("c1", Some(Match::SubjectTag(Reference(1))))
    );

    // Another customer's new mail starts a new conversation.
    let other = msg("Message-ID: <x@other>\r\nSubject: Hello");
    let (conv, _) = threads.place(&other, || ("c2".to_owned(), Reference(2)));
    assert_eq!(conv, "c2");
    assert_eq!(threads.len(), 5);
}

#[test]
fn rebuilt_from_facts_gives_the_same_answers() {
    let facts = [("a@x", 1u32), ("b@x", 1), ("c@x", 2)];
    let build = || {
        let mut t = Threads::new();
        for (id, conv) in facts {
            t.remember(id, conv);
        }
        t.remember_reference(Reference(5), 2);
        t
    };
    let (one, two) = (build(), build());
    for headers in [
        "In-Reply-To: <b@x>",
        "References: <c@x> <a@x>",
        "Subject: [#HL-5]",
        "Subject: new",
    ] {
        let m = msg(headers);
        assert_eq!(one.find(&m), two.find(&m));
    }
    assert!(!one.is_empty());
}

#[test]
fn automatic_messages_are_recognised() {
    let cases = [
        ("From: a@x\r\nAuto-Submitted: auto-replied", true),
        ("From: a@x\r\nAuto-Submitted: Auto-Generated", true),
        ("From: a@x\r\nAuto-Submitted: no", false),
        ("From: a@x\r\nPrecedence: bulk", true),
        ("From: a@x\r\nPrecedence: junk", true),
        ("From: a@x\r\nPrecedence: list", true),
        ("From: a@x\r\nPrecedence: first-class", false),
        ("From: a@x\r\nX-Autoreply: yes", true),
        ("From: a@x\r\nX-Autorespond: vacation", true),
        ("From: a@x\r\nList-Id: News <news.x>", true),
        ("From: a@x\r\nReturn-Path: <>", true),
        ("From: a@x\r\nReturn-Path: <a@x>", false),
        ("From: Mail Delivery System <MAILER-DAEMON@x.example>", true),
        ("From: postmaster@x.example", true),
        ("From: no-reply@x.example", true),
        (
            "From: a@x\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=q",
            true,
        ),
        ("From: person@x.example", false),
    ];
    for (headers, expected) in cases {
        assert_eq!(automatic(&msg(headers)).is_some(), expected, "{headers}");
    }
    assert!(matches!(
        automatic(&msg("From: a@x\r\nAuto-Submitted: auto-replied")),
        Some(Automatic::AutoSubmitted(_))
    ));
    assert!(is_daemon_address("list-request@x"));
    assert!(is_daemon_address("owner-list@x"));
    assert!(!is_daemon_address("maileruser@x"));
}

#[test]
fn acknowledgement_decisions_and_rate_limit() {
    let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let mut limiter = AckLimiter::new(2, Duration::hours(1));
    let own = ["help@shop.example"];
    let person = msg("From: Jane <jane@example.com>");
    assert_eq!(
        should_acknowledge(&person, &own, &mut limiter, t0),
        AckDecision::Send
    );
    assert_eq!(
        should_acknowledge(&person, &own, &mut limiter, t0 + Duration::minutes(1)),
        AckDecision::Send
    );
    // Third within the hour, whatever the case of the address.
    let shouting = msg("From: JANE@EXAMPLE.COM");
    assert_eq!(
        should_acknowledge(&shouting, &own, &mut limiter, t0 + Duration::minutes(2)),
        AckDecision::RateLimited
    );
    assert_eq!(
        should_acknowledge(&person, &own, &mut limiter, t0 + Duration::minutes(61)),
        AckDecision::Send
    );
    let bot = msg("From: jane@example.com\r\nAuto-Submitted: auto-replied");
    assert!(matches!(
        should_acknowledge(&bot, &own, &mut limiter, t0),
        AckDecision::Automatic(_)
    ));
    let ours = msg("From: Help@Shop.Example");
    assert_eq!(
        should_acknowledge(&ours, &own, &mut limiter, t0),
        AckDecision::FromOurselves
    );
    let nobody = msg("Subject: x");
    assert_eq!(
        should_acknowledge(&nobody, &own, &mut limiter, t0),
        AckDecision::NoSender
    );
    let to_daemon = msg("From: jane@example.com\r\nReply-To: mailer-daemon@example.com");
    assert!(matches!(
        should_acknowledge(&to_daemon, &own, &mut limiter, t0),
        AckDecision::Automatic(Automatic::DaemonSender(_))
    ));
}

#[test]
fn limiter_rebuilds_and_prunes() {
    let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let mut limiter = AckLimiter::new(1, Duration::minutes(10));
    limiter.record("a@x", t0);
    assert!(!limiter.allow("a@x", t0 + Duration::minutes(9)));
    assert!(limiter.allow("a@x", t0 + Duration::minutes(10)));
    limiter.prune(t0 + Duration::hours(1));
    assert!(limiter.allow("a@x", t0 + Duration::hours(1)));
}

#[test]
fn a_forgotten_conversation_no_longer_threads() {
    let mut threads: Threads<&str> = Threads::new();
    threads.remember("<a@x>", "done");
    threads.remember_reference(Reference(7), "done");
    threads.remember("<b@x>", "open");
    threads.retain(|c| *c != "done");
    assert_eq!(threads.len(), 1);
    assert_eq!(threads.conversation_of("<a@x>"), None);
    assert_eq!(threads.conversation_with(Reference(7)), None);
    assert_eq!(threads.conversation_of("b@x"), Some(&"open"));
    let reply = msg("Message-ID: <n@y>\r\nIn-Reply-To: <a@x>\r\nSubject: Re: x [#HL-000007]");
    assert_eq!(threads.find(&reply), Placement::New);
}
