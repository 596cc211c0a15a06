use hotline_mail::compose::{
    ComposeError, MAX_REFERENCES, Origin, acknowledgement, message_id, references_for, reply,
    reply_subject,
};
use hotline_mail::parse::{Mailbox, parse};
use hotline_mail::thread::{Reference, Threads};
use time::OffsetDateTime;

const CUSTOMER: &str = "From: =?UTF-8?B?5byg5LiJ?= <zhang@example.com>\r\n\
To: Support <help@shop.example>\r\n\
Subject: =?UTF-8?B?5oiR55qE6K6i5Y2V?=\r\n\
Message-ID: <m2@example.com>\r\n\
References: <root@example.com>\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
你好\r\n";

fn origin(seq: u64) -> Origin<'static> {
    Origin {
        from: Mailbox::new("help@shop.example", Some("Shop Support 客服")),
        conversation: "01HZCONV",
        seq,
        domain: "shop.example",
        reference: Reference(42),
        now: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
    }
}

#[test]
fn subjects() {
    let r = Reference(42);
    assert_eq!(reply_subject("Order", r), "Re: Order [#HL-000042]");
    assert_eq!(reply_subject("Re: Order", r), "Re: Order [#HL-000042]");
    assert_eq!(
        reply_subject("RE: re: Aw: Order", r),
        "Re: Order [#HL-000042]"
    );
    assert_eq!(reply_subject("Re[3]: Order", r), "Re: Order [#HL-000042]");
    assert_eq!(reply_subject("回复：订单", r), "Re: 订单 [#HL-000042]");
    assert_eq!(
        reply_subject("Re: Order [#HL-000042]", r),
        "Re: Order [#HL-000042]"
    );
    assert_eq!(reply_subject("Re: Order [#hl-42]", r), "Re: Order [#hl-42]");
    assert_eq!(reply_subject("", r), "Re: [#HL-000042]");
    assert_eq!(reply_subject("Recipe", r), "Re: Recipe [#HL-000042]");
    assert_eq!(
        reply_subject("Hi\r\nBcc: x@y", r),
        "Re: Hi  Bcc: x@y [#HL-000042]"
    );
}

#[test]
fn message_ids() {
    assert_eq!(
        message_id("c1", 3, "shop.example").unwrap(),
        "c1.3@shop.example"
    );
    assert_eq!(
        message_id("a b<c>@d", 1, "x.example").unwrap(),
        "a-b-c--d.1@x.example"
    );
    assert!(matches!(
        message_id("c", 1, "bad domain>"),
        Err(ComposeError::BadDomain(_))
    ));
    assert!(matches!(
        message_id("c", 1, ""),
        Err(ComposeError::BadDomain(_))
    ));
}

#[test]
fn references_are_trimmed_keeping_root_and_latest() {
    let mut raw = String::from("From: a@x\r\nMessage-ID: <last@x>\r\nReferences:");
    for i in 0..40 {
        raw.push_str(&format!(" <r{i}@x>"));
    }
    raw.push_str("\r\n\r\nb");
    let parent = parse(raw.as_bytes()).unwrap();
    let refs = references_for(&parent);
    assert_eq!(refs.len(), MAX_REFERENCES);
    assert_eq!(refs[0], "r0@x");
    assert_eq!(refs[MAX_REFERENCES - 1], "last@x");
    assert_eq!(refs[MAX_REFERENCES - 2], "r39@x");

    // No References: the parent's In-Reply-To then its id.
    let p = parse(b"From: a@x\r\nMessage-ID: <p@x>\r\nIn-Reply-To: <q@x>\r\n\r\nb").unwrap();
    assert_eq!(references_for(&p), vec!["q@x", "p@x"]);
}

#[test]
fn reply_parses_back_with_threading_headers() {
    let parent = parse(CUSTOMER.as_bytes()).unwrap();
    let out = reply(
        &parent,
        &origin(2),
        "您好，订单已发出。\nThanks & regards <Shop>",
    )
    .unwrap();
    assert_eq!(out.message_id, "01HZCONV.2@shop.example");
    assert_eq!(out.envelope_from, "help@shop.example");
    assert_eq!(out.recipients, vec!["zhang@example.com"]);
    assert!(out.bytes.is_ascii(), "7-bit clean");
    let text = String::from_utf8_lossy(&out.bytes);
    assert!(!text.contains("Auto-Submitted"));
    assert!(text.contains("multipart/alternative"));

    let back = parse(&out.bytes).unwrap();
    assert_eq!(back.message_id.as_deref(), Some("01HZCONV.2@shop.example"));
    assert_eq!(back.in_reply_to, vec!["m2@example.com"]);
    assert_eq!(back.references, vec!["root@example.com", "m2@example.com"]);
    assert_eq!(back.subject, "Re: 我的订单 [#HL-000042]");
    let from = back.from.unwrap();
    assert_eq!(from.address, "help@shop.example");
    assert_eq!(from.name.as_deref(), Some("Shop Support 客服"));
    assert_eq!(back.to[0].address, "zhang@example.com");
    assert_eq!(back.to[0].name.as_deref(), Some("张三"));
    assert_eq!(back.date.unwrap().unix_timestamp(), 1_800_000_000);
    assert!(back.text.contains("您好，订单已发出。"), "{}", back.text);
    let html = back.html.unwrap();
    assert!(html.contains("Thanks &amp; regards &lt;Shop&gt;"), "{html}");

    // The customer's next mail threads onto the reply.
    let mut threads = Threads::new();
    threads.remember(&out.message_id, "01HZCONV");
    let next = format!(
        "From: zhang@example.com\r\nMessage-ID: <m3@example.com>\r\nIn-Reply-To: <{}>\r\n\r\nok",
        out.message_id
    );
    let (conv, _) = threads.place(&parse(next.as_bytes()).unwrap(), || unreachable!());
    assert_eq!(conv, "01HZCONV");
}

#[test]
fn acknowledgement_is_marked_and_from_the_null_sender() {
    let parent = parse(CUSTOMER.as_bytes()).unwrap();
    let out = acknowledgement(
        &parent,
        &origin(1),
        "We received your message. Reference HL-000042.",
    )
    .unwrap();
    assert_eq!(out.envelope_from, "");
    let back = parse(&out.bytes).unwrap();
    assert_eq!(
        back.loop_headers.auto_submitted.as_deref(),
        Some("auto-replied")
    );
    // Our own acknowledgement would never be acknowledged.
    assert!(hotline_mail::automatic(&back).is_some());
    assert_eq!(back.in_reply_to, vec!["m2@example.com"]);
}

#[test]
fn composing_is_deterministic() {
    let parent = parse(CUSTOMER.as_bytes()).unwrap();
    let a = reply(&parent, &origin(5), "same").unwrap();
    let b = reply(&parent, &origin(5), "same").unwrap();
    assert_eq!(a, b);
}

#[test]
fn reply_to_is_preferred_and_bad_input_refused() {
    let parent = parse(
        b"From: a@example.com\r\nReply-To: b@example.com\r\nMessage-ID: <x@y>\r\nSubject: s\r\n\r\nb",
    )
    .unwrap();
    assert_eq!(
        reply(&parent, &origin(1), "t").unwrap().recipients,
        vec!["b@example.com"]
    );

    let nobody = parse(b"Subject: s\r\n\r\nb").unwrap();
    assert_eq!(
        reply(&nobody, &origin(1), "t"),
        Err(ComposeError::NoRecipient)
    );

    let mut bad = origin(1);
    bad.from = Mailbox::new("help@shop.example>\r\nBcc: x@y", None);
    assert!(matches!(
        reply(&parent, &bad, "t"),
        Err(ComposeError::BadAddress(_))
    ));

    let mut injected = origin(1);
    injected.from = Mailbox::new("help@shop.example", Some("Shop\r\nBcc: evil@x"));
    let out = reply(&parent, &injected, "t").unwrap();
    let back = parse(&out.bytes).unwrap();
    assert!(!String::from_utf8_lossy(&out.bytes).contains("\r\nBcc:"));
    assert_eq!(back.to.len(), 1);
}

mod fuzz {
    use hotline_mail::compose::reply_subject;
    use hotline_mail::thread::Reference;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn subject_is_stable_and_tagged(subject in "((Re|RE|Aw|回复)(\\[[0-9]\\])? ?[:：] ?){0,3}\\PC{0,40}", n in 0u64..1_000_000) {
            let r = Reference(n);
            let once = reply_subject(&subject, r);
            prop_assert!(once.starts_with("Re:"));
            prop_assert!(!once.starts_with("Re: Re:"));
            prop_assert_eq!(Reference::find_in(&once), Some(r));
            prop_assert_eq!(reply_subject(&once, r), once.clone());
            prop_assert!(!once.contains('\n') && !once.contains('\r'));
        }
    }
}
