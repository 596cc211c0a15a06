//! `GET /api/v1/phone` (WebSocket): the agent's browser phone.
//!
//! While the socket is open, the agent's browser is its phone: calls for the agent ring here
//! instead of on a desk phone (as a SIP REGISTER would make them). A second page that opens
//! the socket replaces the first, which is told `replaced`. A supervisor's wallboard opens it
//! too, with `?for=monitor`: it is then the phone of the user (not of an extension the user
//! may also have), and the supervisor's monitoring calls ring there (`monitor: true`).
//!
//! hotline → page, one JSON object a message:
//! - `{"type":"registered","agent":"1001","user":"agent1001"}` once open (`agent` is null
//!   for a supervisor);
//! - `{"type":"ring","call":N,"interaction":"…","from":"…","sdp":"<offer>","monitor":false}`:
//!   a call, with hotline's SDP offer (ICE-lite, DTLS-SRTP, G.711); `monitor` is true for a
//!   supervisor's monitoring call, which the supervisor asked for and the page may answer;
//! - `{"type":"hangup","call":N}`: the call is over or the offer withdrawn;
//! - `{"type":"replaced"}`: another page took the phone over (the socket then closes);
//! - `{"type":"error","code":"…","message":"…"}` for a message that could not be used.
//!
//! page → hotline: `{"type":"answer","call":N,"sdp":"<answer>"}`, `{"type":"decline","call":N}`,
//! `{"type":"hangup","call":N}`, `{"type":"hold","call":N,"on":true}`,
//! `{"type":"dtmf","call":N,"digit":"5"}`, and every 5 s while talking the browser's own
//! figures of the audio it receives, `{"type":"stats","call":N,"loss":0.01,"jitter_ms":4,
//! "rtt_ms":35}` (loss a fraction over the interval; `rtt_ms` may be absent). Hold, keys and
//! statistics are limited to bursts of 40 and 10 a second after (`too_fast`).
//!
//! Signalling rides on the desk's own WebSocket rather than SIP over WebSocket (RFC 7118):
//! the desk already holds the agent's login, and ringing, answering and the screen pop are
//! one thing here, with no SIP stack to load into the page or registration to keep.

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use hotline_switch::browser::{BrowserEvent, BrowserPhones, PhoneMsg};
use hotline_switch::quality::LegSample;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::ApiError;
use crate::v1::V1;

/// Largest message from the page (an SDP answer is a few kilobytes).
const MAX_MESSAGE: usize = 64 * 1024;
/// How often the page is pinged; one that answers nothing for three pings is gone.
const PING: Duration = Duration::from_secs(10);
/// How often the login behind an open phone is checked again.
const RECHECK: Duration = Duration::from_secs(60);

pub fn routes() -> Router<V1> {
    Router::new().route("/api/v1/phone", get(phone))
}

#[derive(Deserialize)]
struct PhoneQuery {
    access_token: Option<String>,
    /// `monitor`: the wallboard's phone, for the supervisor's monitoring calls, registered
    /// for the user whatever extension it also has.
    #[serde(rename = "for")]
    purpose: Option<String>,
}

async fn phone(
    State(v1): State<V1>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
    Query(q): Query<PhoneQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let headers = crate::v1::with_query_token(headers, q.access_token);
    let who = v1.auth.principal(&headers)?;
    // An agent's phone is its extension's; a supervisor's (monitoring from the wallboard)
    // is the user's own.
    let supervisor = matches!(
        who.role,
        hotline_config::Role::Supervisor | hotline_config::Role::Admin
    );
    let phone_key = match (q.purpose.as_deref(), &who.agent) {
        (Some("monitor"), _) if supervisor => hotline_switch::browser::user_phone(&who.user),
        (Some("monitor"), _) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "monitoring calls is for supervisors and administrators",
            ));
        }
        (Some(other), _) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("`for` is `monitor` or absent, not `{other}`"),
            ));
        }
        (None, Some(ext)) => ext.clone(),
        (None, None) if supervisor => hotline_switch::browser::user_phone(&who.user),
        (None, None) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this user has no phone: it is neither an agent nor a supervisor",
            ));
        }
    };
    // The browser's own address (behind the load balancers of `http.proxies`, from
    // X-Forwarded-For): the media address offered is the one it can reach.
    let peer = ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let ip = v1
        .auth
        .client_of(peer, &headers)
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let auth = v1.auth.clone();
    let still_valid = move || auth.verify(&token).is_ok();
    let phones = v1.centre.browser_phones().clone();
    let hello = json!({"type": "registered", "agent": who.agent, "user": who.user});
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .read_buffer_size(4 * 1024)
        .on_upgrade(move |socket| serve(socket, phones, phone_key, hello, ip, still_valid)))
}

async fn send(socket: &mut WebSocket, v: &Value) -> bool {
    socket
        .send(Message::Text(v.to_string().into()))
        .await
        .is_ok()
}

fn error(code: &str, message: &str) -> Value {
    json!({"type": "error", "code": code, "message": message})
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FromPage {
    Answer {
        call: u64,
        sdp: String,
    },
    Decline {
        call: u64,
    },
    Hangup {
        call: u64,
    },
    Hold {
        call: u64,
        on: bool,
    },
    Dtmf {
        call: u64,
        digit: String,
    },
    Stats {
        call: u64,
        loss: f64,
        jitter_ms: f64,
        #[serde(default)]
        rtt_ms: Option<f64>,
    },
}

/// Hold, key and statistics messages a page may send: [`BURST`] at once, then
/// [`PER_SECOND`]. A page past it is told `too_fast` and the message is dropped; answering
/// and hanging up are never limited.
const BURST: f64 = 40.0;
const PER_SECOND: f64 = 10.0;

struct Budget {
    left: f64,
    at: tokio::time::Instant,
}

impl Budget {
    fn new(now: tokio::time::Instant) -> Budget {
        Budget {
            left: BURST,
            at: now,
        }
    }

    fn take(&mut self, now: tokio::time::Instant) -> bool {
        let refill = now.duration_since(self.at).as_secs_f64() * PER_SECOND;
        self.left = (self.left + refill).min(BURST);
        self.at = now;
        if self.left >= 1.0 {
            self.left -= 1.0;
            true
        } else {
            false
        }
    }
}

async fn serve(
    mut socket: WebSocket,
    phones: std::sync::Arc<BrowserPhones>,
    agent: String,
    hello: Value,
    ip: std::net::IpAddr,
    still_valid: impl Fn() -> bool + Send,
) {
    let (id, mut rx) = phones.register(&agent, ip);
    tracing::info!(%agent, "browser phone registered");
    let mut calls: HashMap<u64, mpsc::UnboundedSender<BrowserEvent>> = HashMap::new();
    let mut ping = tokio::time::interval(PING);
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
    let mut heard = tokio::time::Instant::now();
    // Another page took the phone over: this one keeps only its calls in progress.
    let mut replaced = false;
    let mut budget = Budget::new(tokio::time::Instant::now());
    if send(&mut socket, &hello).await {
        loop {
            tokio::select! {
                msg = rx.recv(), if !replaced => match msg {
                    Some(PhoneMsg::Ring { token, interaction, from, sdp, monitor, events }) => {
                        calls.insert(token, events);
                        let v = json!({"type": "ring", "call": token,
                            "interaction": interaction.to_string(), "from": from, "sdp": sdp,
                            "monitor": monitor});
                        if !send(&mut socket, &v).await { break }
                    }
                    Some(PhoneMsg::Hangup { token }) => {
                        if calls.remove(&token).is_some()
                            && !send(&mut socket, &json!({"type": "hangup", "call": token})).await
                        {
                            break;
                        }
                    }
                    // Every sender is gone: the registry's (another page took the phone over)
                    // and those of the calls rung here. Calls still open here stay until the
                    // page ends them.
                    None => {
                        if !send(&mut socket, &json!({"type": "replaced"})).await
                            || calls.is_empty()
                        {
                            break;
                        }
                        replaced = true;
                    }
                },
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Text(t))) => {
                        heard = tokio::time::Instant::now();
                        if let Some(reply) = from_page(&t, &mut calls, &mut budget, heard)
                            && !send(&mut socket, &reply).await
                        {
                            break;
                        }
                        if replaced && calls.is_empty() {
                            break;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => heard = tokio::time::Instant::now(),
                },
                _ = ping.tick() => {
                    if heard.elapsed() > PING * 3 {
                        tracing::info!(%agent, "browser phone stopped answering");
                        break;
                    }
                    if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                        break;
                    }
                }
                _ = recheck.tick() => {
                    if replaced && calls.is_empty() {
                        break;
                    }
                    if !still_valid() {
                        let close = axum::extract::ws::CloseFrame {
                            code: 4401,
                            reason: "the token is no longer valid: log in again".into(),
                        };
                        let _ = socket.send(Message::Close(Some(close))).await;
                        break;
                    }
                }
            }
        }
    }
    phones.unregister(&agent, id);
    for (_, tx) in calls {
        let _ = tx.send(BrowserEvent::Gone);
    }
    tracing::info!(%agent, "browser phone unregistered");
}

/// Carries out one message from the page; what to tell it back, if anything.
fn from_page(
    text: &str,
    calls: &mut HashMap<u64, mpsc::UnboundedSender<BrowserEvent>>,
    budget: &mut Budget,
    now: tokio::time::Instant,
) -> Option<Value> {
    let msg: FromPage = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => return Some(error("bad_message", &e.to_string())),
    };
    if matches!(
        msg,
        FromPage::Hold { .. } | FromPage::Dtmf { .. } | FromPage::Stats { .. }
    ) && !budget.take(now)
    {
        return Some(error(
            "too_fast",
            "too many hold, key or statistics messages: this one was dropped",
        ));
    }
    let (call, ev, over) = match msg {
        FromPage::Answer { call, sdp } => (call, BrowserEvent::Answer(sdp), false),
        FromPage::Decline { call } => (call, BrowserEvent::Decline, true),
        FromPage::Hangup { call } => (call, BrowserEvent::Hangup, true),
        FromPage::Hold { call, on } => (call, BrowserEvent::Hold(on), false),
        FromPage::Stats {
            call,
            loss,
            jitter_ms,
            rtt_ms,
        } => (
            call,
            BrowserEvent::Stats(LegSample::from_figures(loss, jitter_ms, rtt_ms)),
            false,
        ),
        FromPage::Dtmf { call, digit } => {
            let mut chars = digit.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if matches!(c, '0'..='9' | '*' | '#' | 'A'..='D') => {
                    (call, BrowserEvent::Dtmf(c), false)
                }
                _ => {
                    return Some(error("bad_digit", "a digit is one of 0-9, *, # and A-D"));
                }
            }
        }
    };
    let Some(tx) = calls.get(&call) else {
        return Some(error("no_call", "no such call on this phone"));
    };
    if tx.send(ev).is_err() || over {
        calls.remove(&call);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_and_statistics_are_limited_but_hanging_up_never_is() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut calls = HashMap::from([(7, tx)]);
        let now = tokio::time::Instant::now();
        let mut budget = Budget::new(now);
        let key = r#"{"type":"dtmf","call":7,"digit":"5"}"#;
        for _ in 0..BURST as usize {
            assert_eq!(from_page(key, &mut calls, &mut budget, now), None);
        }
        let refused = from_page(key, &mut calls, &mut budget, now).expect("an error");
        assert_eq!(refused["code"], "too_fast");
        let stats = r#"{"type":"stats","call":7,"loss":0.5,"jitter_ms":30,"rtt_ms":80}"#;
        assert_eq!(
            from_page(stats, &mut calls, &mut budget, now).expect("an error")["code"],
            "too_fast"
        );
        let keys = std::iter::from_fn(|| rx.try_recv().ok()).count();
        assert_eq!(
            keys, BURST as usize,
            "only the keys within the budget went on"
        );
        // A second later, ten more.
        let later = now + Duration::from_secs(1);
        for _ in 0..PER_SECOND as usize {
            assert_eq!(from_page(key, &mut calls, &mut budget, later), None);
        }
        assert!(from_page(key, &mut calls, &mut budget, later).is_some());
        assert_eq!(
            std::iter::from_fn(|| rx.try_recv().ok()).count(),
            PER_SECOND as usize
        );
        // Hanging up goes through whatever the budget.
        assert_eq!(
            from_page(
                r#"{"type":"hangup","call":7}"#,
                &mut calls,
                &mut budget,
                now
            ),
            None
        );
        assert_eq!(rx.try_recv(), Ok(BrowserEvent::Hangup));
        assert!(calls.is_empty());
    }

    #[tokio::test]
    async fn the_browsers_statistics_become_a_sample_and_nonsense_is_refused() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut calls = HashMap::from([(3, tx)]);
        let now = tokio::time::Instant::now();
        let mut budget = Budget::new(now);
        let stats = r#"{"type":"stats","call":3,"loss":0.2,"jitter_ms":30,"rtt_ms":80}"#;
        assert_eq!(from_page(stats, &mut calls, &mut budget, now), None);
        match rx.try_recv() {
            Ok(BrowserEvent::Stats(s)) => {
                assert_eq!(s.loss, 0.2);
                assert_eq!(s.rtt_ms, Some(80.0));
                assert!(s.mos < 3.5, "{s:?}");
            }
            other => panic!("{other:?}"),
        }
        // Out-of-range figures are clamped, not trusted.
        let wild = r#"{"type":"stats","call":3,"loss":7,"jitter_ms":-4}"#;
        assert_eq!(from_page(wild, &mut calls, &mut budget, now), None);
        match rx.try_recv() {
            Ok(BrowserEvent::Stats(s)) => {
                assert_eq!((s.loss, s.jitter_ms, s.rtt_ms), (1.0, 0.0, None));
            }
            other => panic!("{other:?}"),
        }
        let bad = r#"{"type":"stats","call":3,"loss":"x"}"#;
        assert_eq!(
            from_page(bad, &mut calls, &mut budget, now).expect("an error")["code"],
            "bad_message"
        );
        let other = r#"{"type":"stats","call":4,"loss":0,"jitter_ms":0}"#;
        assert_eq!(
            from_page(other, &mut calls, &mut budget, now).expect("an error")["code"],
            "no_call"
        );
    }
}
