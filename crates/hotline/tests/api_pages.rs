//! `GET /api/v1/interactions` a page at a time, against the real binary on a real SQLite
//! file: walking the pages gives every record exactly once and in order, calls that arrive
//! between two pages included; a client that knows nothing of pages gets the first page and
//! the way on; the latest calls newest first; an agent pages through its own; bad
//! parameters are JSON errors with stable codes. And today's queue figures come pushed on a
//! supervisor's event stream.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use hotline_model::{
    AgentId, Channel, EndReason, Event, EventKind, InteractionEvent, InteractionId, Timestamp,
};
use serde_json::Value;

const RECORDS: u64 = 1_234;

/// One GET with its headers: (status, headers in lower case, JSON body).
fn get_with_headers(
    addr: SocketAddr,
    path: &str,
    token: &str,
) -> (u16, Vec<(String, String)>, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (
        status,
        headers,
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The next page's path from a `Link: <path>; rel="next"` header.
fn next_link(headers: &[(String, String)]) -> Option<String> {
    let link = header(headers, "link")?;
    assert!(link.ends_with("; rel=\"next\""), "{link}");
    Some(link.strip_prefix('<')?.split_once('>')?.0.to_owned())
}

fn key(r: &Value) -> (Timestamp, String) {
    (
        Timestamp::parse_rfc3339(r["started"].as_str().unwrap()).unwrap(),
        r["id"].as_str().unwrap().to_owned(),
    )
}

/// `RECORDS` ended calls from `base` on, three at a time with the same start (the id
/// breaks the tie), every fourth answered by agent 1001.
fn write_records(db: &std::path::Path, base: i64) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = hotline_store::Store::open(db).await.unwrap();
        let mut events = Vec::new();
        for n in 0..RECORDS {
            let start = base + (n / 3) as i64 * 1_000_000_000;
            let id =
                InteractionId::from_parts(u64::try_from(start / 1_000_000).unwrap(), u128::from(n));
            let at = |off: i64| Timestamp::from_unix_nanos(start + off * 1_000_000_000);
            let ev = |off, kind| Event::from(InteractionEvent::new(id, at(off), kind));
            events.push(ev(
                0,
                EventKind::Arrived {
                    channel: Channel::Voice,
                    from: format!("sip:+44207946{n:04}@127.0.0.1"),
                    to: "95588".into(),
                    trunk: None,
                },
            ));
            events.push(ev(
                1,
                EventKind::Queued {
                    queue: "general".into(),
                    priority: 0,
                },
            ));
            if n % 4 == 0 {
                events.push(ev(
                    5,
                    EventKind::Answered {
                        agent: AgentId::new("1001"),
                    },
                ));
            }
            events.push(ev(
                60,
                EventKind::Ended {
                    reason: EndReason::CallerHangup,
                },
            ));
        }
        store.append(events).await.unwrap();
        store.close().await;
    });
}

#[test]
fn pages_give_every_record_once_in_order_and_bad_parameters_are_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Yesterday, from 08:00 UTC.
    let now = Timestamp::now().unix_nanos();
    let day = 86_400 * 1_000_000_000i64;
    let base = now - now.rem_euclid(day) - day + 8 * 3_600 * 1_000_000_000;
    write_records(&data.join("hotline.db"), base);
    let h = Hotline::demo_in(&data);
    let sup = login(&h, "supervisor", "supervisor");
    let since = Timestamp::from_unix_nanos(base - day).to_rfc3339();
    let since_q = since.replace(':', "%3A").replace('+', "%2B");

    // Walk the pages; after the second, a call comes in.
    let mut path = format!("/api/v1/interactions?since={since_q}&limit=100");
    let mut seen: Vec<(Timestamp, String)> = Vec::new();
    let mut pages = 0;
    let mut called = false;
    loop {
        let (status, headers, body) = get_with_headers(h.http, &path, &sup);
        assert_eq!(status, 200, "{path}: {body}");
        let recs = body.as_array().unwrap();
        assert!(recs.len() <= 100, "{}", recs.len());
        // The cursor after the last record, on every page that has one.
        assert_eq!(
            header(&headers, "x-next-cursor").is_some(),
            !recs.is_empty(),
            "{headers:?}"
        );
        seen.extend(recs.iter().map(key));
        pages += 1;
        if pages == 2 && !called {
            called = true;
            let (ok, log) = h.sipp("call-caller-hangs-up.xml", &["-m", "1"]);
            assert!(ok, "{log}");
            // The call's record is committed (it sorts after every written one).
            wait_for(Duration::from_secs(10), "the new call's record", || {
                let (_, _, b) = get_with_headers(
                    h.http,
                    &format!("/api/v1/interactions?since={since_q}&order=desc&limit=1"),
                    &sup,
                );
                let r = b.as_array()?.first()?.clone();
                (key(&r).0.unix_nanos() > base + day / 2).then_some(())
            });
        }
        match next_link(&headers) {
            Some(next) => {
                assert_eq!(recs.len(), 100, "only the last page is short");
                path = next;
            }
            None => break,
        }
    }
    let ids: HashSet<&String> = seen.iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), seen.len(), "a record came twice");
    assert_eq!(
        seen.len() as u64,
        RECORDS + 1,
        "every record and the new call"
    );
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "out of order");
    assert!(pages >= 13, "{pages}");

    // A client that knows nothing of pages (written against the original contract): every
    // record in one answer, as before, and no next page.
    let (status, headers, body) = get_with_headers(h.http, "/api/v1/interactions", &sup);
    assert_eq!(status, 200);
    assert_eq!(body.as_array().unwrap().len() as u64, RECORDS + 1);
    assert!(next_link(&headers).is_none());
    // A cursor without a limit: pages of the default size.
    let (status, headers, first) = get_with_headers(h.http, "/api/v1/interactions?limit=1", &sup);
    assert_eq!((status, first.as_array().unwrap().len()), (200, 1));
    let after_first = header(&headers, "x-next-cursor").unwrap().to_owned();
    let (status, headers, page) = get_with_headers(
        h.http,
        &format!("/api/v1/interactions?cursor={after_first}"),
        &sup,
    );
    assert_eq!(status, 200);
    assert_eq!(page.as_array().unwrap().len(), 1_000);
    let next = next_link(&headers).expect("a next page");
    let (status, headers, rest) = get_with_headers(h.http, &next, &sup);
    assert_eq!(status, 200);
    assert_eq!(rest.as_array().unwrap().len() as u64, RECORDS + 1 - 1_001);
    assert!(next_link(&headers).is_none());
    // The last page's cursor polls for what comes later: nothing yet.
    let cursor = header(&headers, "x-next-cursor").unwrap().to_owned();
    let (status, headers, empty) = get_with_headers(
        h.http,
        &format!("/api/v1/interactions?cursor={cursor}"),
        &sup,
    );
    assert_eq!((status, empty.as_array().unwrap().len()), (200, 0));
    assert!(header(&headers, "x-next-cursor").is_none() && header(&headers, "link").is_none());

    // The latest calls, newest first.
    let (status, _, latest) =
        get_with_headers(h.http, "/api/v1/interactions?order=desc&limit=8", &sup);
    assert_eq!(status, 200);
    let latest: Vec<_> = latest.as_array().unwrap().iter().map(key).collect();
    let mut newest = seen.clone();
    newest.reverse();
    assert_eq!(latest, newest[..8].to_vec());

    // An agent pages through its own.
    let agent = login(&h, "agent1001", "pass1001");
    let mut path = "/api/v1/interactions?limit=50".to_owned();
    let mut mine = Vec::new();
    loop {
        let (status, headers, body) = get_with_headers(h.http, &path, &agent);
        assert_eq!(status, 200, "{body}");
        for r in body.as_array().unwrap() {
            assert_eq!(r["agent"], "1001", "{r}");
            mine.push(key(r));
        }
        match next_link(&headers) {
            Some(n) => path = n,
            None => break,
        }
    }
    assert_eq!(mine.len() as u64, RECORDS.div_ceil(4));
    assert!(mine.windows(2).all(|w| w[0] < w[1]));

    // Bad parameters.
    for (query, code) in [
        ("limit=0", "bad_limit"),
        ("limit=10001", "bad_limit"),
        ("limit=ten", "bad_limit"),
        ("limit=-1", "bad_limit"),
        ("cursor=garbage", "bad_cursor"),
        ("cursor=12.not-an-id", "bad_cursor"),
        ("cursor=x.01KB5Z3J8QY3M7V2W9X0C4D6E8", "bad_cursor"),
        ("order=sideways", "bad_order"),
        ("since=yesterday", "bad_since"),
    ] {
        let (status, _, body) =
            get_with_headers(h.http, &format!("/api/v1/interactions?{query}"), &sup);
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}

#[test]
fn supervisors_get_todays_queue_figures_pushed_after_events() {
    let h = Hotline::demo();
    let sup = login(&h, "supervisor", "supervisor");
    let mut ws = open_events(&h, &sup).unwrap();
    // An event: the agent logs in and goes available.
    available(&h, "1001");
    let pushed = wait_for(
        Duration::from_secs(10),
        "queue figures on the stream",
        || {
            let e = try_next_event(&mut ws)?;
            (e["stream"] == "queues").then_some(e)
        },
    );
    let queues = pushed["queues"].as_array().unwrap();
    let (status, body) = http(h.http, "GET", "/api/v1/queues", Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    let fetched: Value = serde_json::from_str(&body).unwrap();
    let names = |v: &[Value]| v.iter().map(|q| q["name"].clone()).collect::<Vec<_>>();
    assert_eq!(names(queues), names(fetched.as_array().unwrap()));
    for q in queues {
        for f in [
            "waiting",
            "longest_wait",
            "agents_available",
            "offered",
            "answered",
            "abandoned",
            "service_level",
        ] {
            assert!(q.get(f).is_some(), "{f} in {q}");
        }
    }
    // An agent's stream carries none.
    let agent = login(&h, "agent1002", "pass1002");
    let mut aws = open_events(&h, &agent).unwrap();
    available(&h, "1002");
    loop {
        let e = try_next_event(&mut aws).expect("the agent's own state");
        assert_ne!(e["stream"], "queues", "{e}");
        if e["agent"] == "1002" {
            break;
        }
    }
}
