use hotline_mail::parse::{Limits, ParseError, parse, parse_with};
use proptest::prelude::*;

const PLAIN: &str = "From: =?UTF-8?B?5byg5LiJ?= <zhang@example.com>\r\n\
To: Support <help@shop.example>, other@shop.example\r\n\
Cc: boss@example.com\r\n\
Reply-To: Zhang Replies <replies@example.com>\r\n\
Subject: =?UTF-8?B?5oiR55qE6K6i5Y2V?= [#HL-000042]\r\n\
Date: Tue, 01 Dec 2026 10:00:00 +0100\r\n\
Message-ID: <m2@example.com>\r\n\
In-Reply-To: <m1@shop.example>\r\n\
References: <root@example.com>\r\n <m1@shop.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
你好，我的订单还没有到。\r\n";

#[test]
fn plain_message_headers_and_body() {
    let m = parse(PLAIN.as_bytes()).unwrap();
    assert_eq!(m.message_id.as_deref(), Some("m2@example.com"));
    assert_eq!(m.in_reply_to, vec!["m1@shop.example"]);
    assert_eq!(m.references, vec!["root@example.com", "m1@shop.example"]);
    let from = m.from.clone().unwrap();
    assert_eq!(from.address, "zhang@example.com");
    assert_eq!(from.name.as_deref(), Some("张三"));
    assert_eq!(m.to.len(), 2);
    assert_eq!(m.to[0].name.as_deref(), Some("Support"));
    assert_eq!(m.to[1].address, "other@shop.example");
    assert_eq!(m.cc[0].address, "boss@example.com");
    assert_eq!(m.reply_to[0].address, "replies@example.com");
    assert_eq!(m.reply_recipients()[0].address, "replies@example.com");
    assert_eq!(m.subject, "我的订单 [#HL-000042]");
    let date = m.date.unwrap();
    assert_eq!(date.unix_timestamp(), 1_796_115_600);
    assert_eq!(date.offset().whole_hours(), 1);
    assert_eq!(m.text.trim(), "你好，我的订单还没有到。");
    assert!(m.html.is_none());
    assert!(m.attachments.is_empty());
}

const MULTIPART: &str = "From: jane@example.com\r\n\
To: help@shop.example\r\n\
Subject: Broken item\r\n\
Message-ID: <mp@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
--outer\r\n\
Content-Type: multipart/alternative; boundary=\"inner\"\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
The cup arrived broken.\r\n\
--inner\r\n\
Content-Type: text/html; charset=us-ascii\r\n\
\r\n\
<p>The cup arrived <b>broken</b>.<img src=\"cid:pic1@x\"></p>\r\n\
--inner--\r\n\
--outer\r\n\
Content-Type: image/png; name=\"cup.png\"\r\n\
Content-Disposition: attachment; filename=\"cup.png\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-ID: <pic1@x>\r\n\
\r\n\
iVBORw0KGgo=\r\n\
--outer--\r\n";

#[test]
fn multipart_with_attachment() {
    let m = parse(MULTIPART.as_bytes()).unwrap();
    assert_eq!(m.text.trim(), "The cup arrived broken.");
    assert!(m.html.as_deref().unwrap().contains("<b>broken</b>"));
    assert_eq!(m.attachments.len(), 1);
    let a = &m.attachments[0];
    assert_eq!(a.name.as_deref(), Some("cup.png"));
    assert_eq!(a.content_type, "image/png");
    assert_eq!(a.size, 8);
    assert_eq!(a.data, b"\x89PNG\r\n\x1a\n");
    assert_eq!(a.content_id.as_deref(), Some("pic1@x"));
    assert!(!a.inline);
}

#[test]
fn html_only_message_gets_a_text_rendering() {
    let raw = "From: a@example.com\r\nSubject: hi\r\nContent-Type: text/html\r\n\r\n\
<html><head><style>p{color:red}</style><script>alert(1)</script></head>\
<body><p>Hello <b>there</b></p><p>Second</p></body></html>\r\n";
    let m = parse(raw.as_bytes()).unwrap();
    assert!(m.html.is_some());
    assert!(m.text.contains("Hello there"), "{:?}", m.text);
    assert!(m.text.contains("Second"));
    assert!(!m.text.contains("alert"));
    assert!(!m.text.contains("color"));
}

#[test]
fn loop_headers_are_read() {
    let raw = "From: MAILER-DAEMON@example.com\r\nReturn-Path: <>\r\nAuto-Submitted: auto-replied\r\n\
Precedence: bulk\r\nX-Autoreply: yes\r\nList-Id: <news.example.com>\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b--\r\n";
    let m = parse(raw.as_bytes()).unwrap();
    let h = &m.loop_headers;
    assert_eq!(h.auto_submitted.as_deref(), Some("auto-replied"));
    assert_eq!(h.precedence.as_deref(), Some("bulk"));
    assert!(h.x_autoreply);
    assert_eq!(h.list_id.as_deref(), Some("<news.example.com>"));
    assert_eq!(h.return_path.as_deref(), Some(""));
    assert_eq!(h.content_type.as_deref(), Some("multipart/report"));
}

#[test]
fn limits_give_clear_errors() {
    let limits = Limits {
        max_bytes: 100,
        max_attachments: 0,
    };
    let big = vec![b'a'; 101];
    assert_eq!(
        parse_with(&big, limits),
        Err(ParseError::TooLarge {
            size: 101,
            limit: 100
        })
    );
    let limits = Limits {
        max_bytes: 1 << 20,
        max_attachments: 0,
    };
    assert_eq!(
        parse_with(MULTIPART.as_bytes(), limits),
        Err(ParseError::TooManyAttachments { count: 1, limit: 0 })
    );
    assert!(matches!(parse(b""), Err(ParseError::NotAMessage(_))));
    assert!(matches!(parse(b" \r\n\t"), Err(ParseError::NotAMessage(_))));
}

#[test]
fn missing_headers_are_empty_not_errors() {
    let m = parse(b"Subject: only a subject\r\n\r\nbody").unwrap();
    assert!(m.from.is_none());
    assert!(m.message_id.is_none());
    assert!(m.date.is_none());
    assert!(m.reply_recipients().is_empty());
    assert_eq!(m.text.trim(), "body");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn never_panics_on_mangled_mail(
        cut in 0usize..MULTIPART.len(),
        noise in proptest::collection::vec(any::<u8>(), 0..256),
        at in 0usize..MULTIPART.len(),
    ) {
        let mut bytes = MULTIPART.as_bytes()[..cut].to_vec();
        let at = at.min(bytes.len());
        bytes.splice(at..at, noise);
        let _ = parse(&bytes);
        let mut plain = PLAIN.as_bytes().to_vec();
        plain.truncate(cut.min(plain.len()));
        let _ = parse(&plain);
    }

    #[test]
    fn never_panics_on_header_soup(lines in proptest::collection::vec(
        ("(From|To|Cc|Subject|Date|Message-ID|References|In-Reply-To|Content-Type|Return-Path|Auto-Submitted)",
         "[ -~\\u{80}-\\u{10ffff}]{0,60}"), 0..12),
        body in "[ -~\\r\\n]{0,200}")
    {
        let mut raw = String::new();
        for (name, value) in lines {
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
        raw.push_str("\r\n");
        raw.push_str(&body);
        let _ = parse(raw.as_bytes());
    }
}
