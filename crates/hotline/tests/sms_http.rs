//! Text messages through an SMS provider's HTTP API, end to end with the real binary: a
//! provider peer (an HTTP server in the test) takes the centre's replies, and the test
//! posts signed webhooks to the centre as the provider would. A customer's text starts a
//! conversation (once, however often the webhook is posted), an agent answers it from the
//! desk's API, the reply reaches the provider with the bearer token (after a 500, tried
//! again), and the provider's status callback is logged against the reply; a bad
//! signature changes nothing.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use common::*;
use serde_json::{Value, json};

const CUSTOMER: &str = "+8613800138000";
const SECRET: &str = "a-shared-secret-for-the-webhooks";
const TOKEN: &str = "provider-token-123";

/// What the provider was sent: the `Authorization` header and the JSON body.
type Post = (String, Value);

/// An SMS provider's API on loopback: it records every POST to `/send`, answers the first
/// `fail_first` with `failure`, and takes the others with the id `prov-<n>`.
struct Provider {
    addr: SocketAddr,
    posts: mpsc::Receiver<Post>,
    _rt: tokio::runtime::Runtime,
}

impl Provider {
    fn start(fail_first: usize, failure: StatusCode) -> Provider {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, posts) = mpsc::channel::<Post>();
        let seen = Arc::new(AtomicUsize::new(0));
        let send = move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            let seen = seen.clone();
            async move {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let _ = tx.send((auth, body));
                if n < fail_first {
                    (failure, axum::Json(json!({"error": "not now"}))).into_response()
                } else {
                    axum::Json(json!({ "id": format!("prov-{n}"), "status": "queued" }))
                        .into_response()
                }
            }
        };
        let app = axum::Router::new().route("/send", axum::routing::post(send));
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let _ = axum::serve(listener, app).await;
        });
        Provider {
            addr,
            posts,
            _rt: rt,
        }
    }

    fn next_post(&self) -> Post {
        self.posts
            .recv_timeout(Duration::from_secs(20))
            .expect("a POST from the centre to the provider")
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The signature of `body` sent at `at` (Unix seconds) under `secret`.
fn sign_with(secret: &[u8], at: u64, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, format!("{at}.{body}").as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn sign(body: &str) -> String {
    sign_with(SECRET.as_bytes(), unix_now(), body)
}

/// A webhook POST as the provider makes it, stamped now (`signature` as given, none when
/// `None`).
fn webhook(addr: SocketAddr, path: &str, body: &str, signature: Option<&str>) -> (u16, Value) {
    webhook_at(addr, path, body, signature, unix_now())
}

fn webhook_at(
    addr: SocketAddr,
    path: &str,
    body: &str,
    signature: Option<&str>,
    at: u64,
) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n"
    );
    if let Some(sig) = signature {
        req.push_str(&format!(
            "X-Hotline-Signature: {sig}\r\nX-Hotline-Timestamp: {at}\r\n"
        ));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, body)
}

fn signed(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let text = body.to_string();
    webhook(addr, path, &text, Some(&sign(&text)))
}

/// The transcript's messages of conversation `id`.
fn transcript(h: &Hotline, token: &str, id: &str) -> Vec<Value> {
    let (status, t) = api(
        h,
        token,
        "GET",
        &format!("/api/v1/interactions/{id}/transcript"),
        None,
    );
    assert_eq!(status, 200, "{t}");
    t["messages"].as_array().cloned().unwrap_or_default()
}

#[test]
fn texts_come_by_webhook_and_replies_go_to_the_providers_api() {
    let provider = Provider::start(1, StatusCode::INTERNAL_SERVER_ERROR);
    let send_url = format!("http://{}/send", provider.addr);
    let h = Hotline::serve_with(|t| {
        format!(
            "{t}\n[sms]\nnumber = \"95588\"\nqueue = \"chat\"\n\n[sms.http]\n\
             send_url = \"{send_url}\"\ntoken = \"{TOKEN}\"\nsecret = \"{SECRET}\"\n"
        )
    });
    let sup = login(&h, "supervisor", "supervisor");
    let since = "2000-01-01T00:00:00Z";
    let sms_count = || {
        let (status, list) = api(
            &h,
            &sup,
            "GET",
            &format!("/api/v1/interactions?since={since}"),
            None,
        );
        assert_eq!(status, 200, "{list}");
        list.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["channel"] == "sms")
            .count()
    };

    // A forged text (wrong secret, or none) is refused and leaves no trace.
    let forged =
        json!({"id": "in-0", "from": CUSTOMER, "to": "95588", "text": "forged"}).to_string();
    let wrong = sign_with(b"not-the-shared-secret", unix_now(), &forged);
    let (status, body) = webhook(h.http, "/api/v1/sms/inbound", &forged, Some(&wrong));
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "bad_signature", "{body}");
    let (status, body) = webhook(h.http, "/api/v1/sms/inbound", &forged, None);
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("bad_signature")),
        "{body}"
    );
    // A request signed with the right secret but replayed ten minutes later is refused, as
    // is one whose timestamp was changed after signing.
    let old = unix_now() - 600;
    let replayed = sign_with(SECRET.as_bytes(), old, &forged);
    let (status, body) = webhook_at(h.http, "/api/v1/sms/inbound", &forged, Some(&replayed), old);
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("bad_signature")),
        "{body}"
    );
    let (status, body) = webhook(h.http, "/api/v1/sms/inbound", &forged, Some(&replayed));
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("bad_signature")),
        "{body}"
    );
    // A signed body that is not the message's JSON.
    let (status, body) = signed(h.http, "/api/v1/sms/inbound", &json!({"id": "in-x"}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "bad_request", "{body}");
    let (status, body) = signed(
        h.http,
        "/api/v1/sms/inbound",
        &json!({"id": "in-x", "from": "not a number", "to": "95588", "text": "hi"}),
    );
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("bad_number")),
        "{body}"
    );
    assert_eq!(sms_count(), 0, "nothing logged for refused webhooks");

    // The customer's text, posted until the centre is ready for it (a provider retries).
    let text = json!({"id": "in-1", "from": CUSTOMER, "to": "95588", "text": "My card was swallowed by the ATM"});
    let first = wait_for(Duration::from_secs(20), "the inbound webhook taken", || {
        let (status, body) = signed(h.http, "/api/v1/sms/inbound", &text);
        match status {
            200 => Some(body),
            503 => {
                assert_eq!(body["error"]["code"], "starting", "{body}");
                None
            }
            _ => panic!("{status} {body}"),
        }
    });
    assert_eq!(first["duplicate"], false, "{first}");
    let id = first["conversation"]
        .as_str()
        .expect("a conversation")
        .to_string();
    // Posted again (the provider missed our answer): the same message, nothing new.
    let (status, again) = signed(h.http, "/api/v1/sms/inbound", &text);
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["conversation"], first["conversation"]);
    assert_eq!(again["seq"], first["seq"]);
    assert_eq!(sms_count(), 1, "one conversation");

    // An agent answers from the desk.
    let agent = login(&h, "agent1007", "pass1007");
    let mut feed = WsClient::open(
        h.http,
        &format!("/api/v1/conversations/live?access_token={agent}"),
    )
    .unwrap();
    available(&h, "1007");
    let (offer, _) = feed.until("the offer", |v| v["type"] == "offer");
    let c = &offer["conversation"];
    assert_eq!(c["id"], id.as_str(), "{c}");
    assert_eq!(c["channel"], "sms", "{c}");
    assert_eq!(c["sms"]["number"], CUSTOMER, "{c}");
    let texts: Vec<&str> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["My card was swallowed by the ATM"],
        "kept once: {c}"
    );
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/accept"),
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{body}");
    let reply = "您好，我们已为您冻结此卡，新卡将在五个工作日内寄出。".repeat(4);
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(&json!({ "text": reply })),
    );
    assert_eq!(status, 200, "{body}");
    let seq = body["seq"].as_u64().expect("the reply's seq");

    // The provider answers the first POST with 500; the centre tries again.
    let expected = json!({
        "from": "95588",
        "to": CUSTOMER,
        "text": reply,
        "reference": format!("{id}-{seq}"),
    });
    let started = Instant::now();
    let (auth, refused) = provider.next_post();
    assert_eq!(auth, format!("Bearer {TOKEN}"));
    assert_eq!(refused, expected, "the whole text in one request");
    let (auth, taken) = provider.next_post();
    assert_eq!(auth, format!("Bearer {TOKEN}"));
    assert_eq!(taken, expected, "the same request again");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "tried again after a pause"
    );
    let (submitted, passed) = feed.until("submitted", |v| v["type"] == "status");
    assert_eq!(
        submitted["status"], "submitted",
        "{submitted} after {passed:?}"
    );
    assert_eq!(submitted["seq"].as_u64(), Some(seq));
    assert!(
        provider.posts.try_recv().is_err(),
        "taken once: no third POST"
    );

    // A forged status changes nothing; the provider's own is logged against the reply.
    let forged = json!({"id": "prov-1", "status": "failed"}).to_string();
    let (status, body) = webhook(h.http, "/api/v1/sms/status", &forged, Some(&wrong));
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("bad_signature")),
        "{body}"
    );
    let status_of = |seq: u64| {
        transcript(&h, &agent, &id)
            .into_iter()
            .find(|m| m["seq"].as_u64() == Some(seq))
            .map(|m| m["status"].clone())
    };
    assert_eq!(status_of(seq), Some(json!("submitted")));
    let (status, body) = signed(
        h.http,
        "/api/v1/sms/status",
        &json!({"id": "prov-1", "status": "delivered"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recorded"], true, "{body}");
    let (delivered, _) = feed.until("delivered", |v| v["type"] == "status");
    assert_eq!(delivered["status"], "delivered", "{delivered}");
    assert_eq!(delivered["seq"].as_u64(), Some(seq));
    assert_eq!(
        status_of(seq),
        Some(json!("delivered")),
        "in the transcript"
    );
    let (status, body) = signed(
        h.http,
        "/api/v1/sms/status",
        &json!({"id": "prov-1", "status": "not a status!"}),
    );
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("bad_status")),
        "{body}"
    );

    // The customer's next text joins the same conversation.
    let (status, next) = signed(
        h.http,
        "/api/v1/sms/inbound",
        &json!({"id": "in-2", "from": CUSTOMER, "to": "95588", "text": "Thank you"}),
    );
    assert_eq!(status, 200, "{next}");
    assert_eq!(next["conversation"], id.as_str(), "{next}");
    assert_eq!(next["duplicate"], false, "{next}");
    let customer_texts: Vec<Value> = transcript(&h, &agent, &id)
        .into_iter()
        .filter(|m| m["sender"] == "customer")
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(
        customer_texts,
        [
            json!("My card was swallowed by the ATM"),
            json!("Thank you")
        ],
        "no forged text, none twice"
    );
    stop(h);
}

#[test]
fn a_refused_reply_is_failed_and_the_dedupe_outlives_a_restart() {
    // Every POST refused for good (the provider's 4xx): the reply fails at once.
    let provider = Provider::start(usize::MAX, StatusCode::BAD_REQUEST);
    let send_url = format!("http://{}/send", provider.addr);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let edit = |t: String| {
        format!(
            "{t}\n[sms]\nnumber = \"95588\"\nqueue = \"chat\"\n\n[sms.http]\n\
             send_url = \"{send_url}\"\ntoken = \"{TOKEN}\"\nsecret = \"{SECRET}\"\n"
        )
    };
    let h = Hotline::serve_with_in(&data, edit);
    let text =
        json!({"id": "in-restart", "from": CUSTOMER, "to": "95588", "text": "Are you there?"});
    let post_until_taken = |h: &Hotline| {
        wait_for(Duration::from_secs(20), "the inbound webhook taken", || {
            let (status, body) = signed(h.http, "/api/v1/sms/inbound", &text);
            (status == 200).then_some(body)
        })
    };
    let first = post_until_taken(&h);
    assert_eq!(first["duplicate"], false, "{first}");
    let id = first["conversation"].as_str().unwrap().to_string();
    let agent = login(&h, "agent1007", "pass1007");
    let mut feed = WsClient::open(
        h.http,
        &format!("/api/v1/conversations/live?access_token={agent}"),
    )
    .unwrap();
    available(&h, "1007");
    feed.until("the offer", |v| v["type"] == "offer");
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
        Some(&json!({ "text": "Yes" })),
    );
    assert_eq!(status, 200, "{body}");
    let seq = body["seq"].as_u64().unwrap();
    let (_, body) = provider.next_post();
    assert_eq!(body["text"], "Yes");
    let (failed, _) = feed.until("the failure", |v| v["type"] == "status");
    assert_eq!(failed["seq"].as_u64(), Some(seq));
    let why = failed["status"].as_str().unwrap();
    assert!(why.starts_with("failed: ") && why.contains("400"), "{why}");
    assert!(
        provider.posts.try_recv().is_err(),
        "a 4xx is not tried again"
    );
    stop(h);

    // After a restart the same webhook is still known.
    let h = Hotline::serve_with_in(&data, edit);
    let again = post_until_taken(&h);
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["conversation"], first["conversation"]);
    assert_eq!(again["seq"], first["seq"]);
    stop(h);
}
