//! `GET /api/v1/phone` (WebSocket): the agent's browser phone.
//!
//! While the socket is open, the agent's browser is its phone: calls for the agent ring here
//! instead of on a desk phone (as a SIP REGISTER would make them). A second page that opens
//! the socket replaces the first, which is told `replaced`.
//!
//! hotline → page, one JSON object a message:
//! - `{"type":"registered","agent":"1001"}` once open;
//! - `{"type":"ring","call":N,"interaction":"…","from":"…","sdp":"<offer>"}`: a call, with
//!   hotline's SDP offer (ICE-lite, DTLS-SRTP, G.711);
//! - `{"type":"hangup","call":N}`: the call is over or the offer withdrawn;
//! - `{"type":"replaced"}`: another page took the phone over (the socket then closes);
//! - `{"type":"error","code":"…","message":"…"}` for a message that could not be used.
//!
//! page → hotline: `{"type":"answer","call":N,"sdp":"<answer>"}`, `{"type":"decline","call":N}`,
//! `{"type":"hangup","call":N}`, `{"type":"hold","call":N,"on":true}`,
//! `{"type":"dtmf","call":N,"digit":"5"}`.
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
    let agent = who.agent.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only an agent has a phone",
        )
    })?;
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
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .read_buffer_size(4 * 1024)
        .on_upgrade(move |socket| serve(socket, phones, agent, ip, still_valid)))
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
    Answer { call: u64, sdp: String },
    Decline { call: u64 },
    Hangup { call: u64 },
    Hold { call: u64, on: bool },
    Dtmf { call: u64, digit: String },
}

async fn serve(
    mut socket: WebSocket,
    phones: std::sync::Arc<BrowserPhones>,
    agent: String,
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
    if send(&mut socket, &json!({"type": "registered", "agent": agent})).await {
        loop {
            tokio::select! {
                msg = rx.recv(), if !replaced => match msg {
                    Some(PhoneMsg::Ring { token, interaction, from, sdp, events }) => {
                        calls.insert(token, events);
                        let v = json!({"type": "ring", "call": token,
                            "interaction": interaction.to_string(), "from": from, "sdp": sdp});
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
                        if let Some(reply) = from_page(&t, &mut calls)
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
) -> Option<Value> {
    let msg: FromPage = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => return Some(error("bad_message", &e.to_string())),
    };
    let (call, ev, over) = match msg {
        FromPage::Answer { call, sdp } => (call, BrowserEvent::Answer(sdp), false),
        FromPage::Decline { call } => (call, BrowserEvent::Decline, true),
        FromPage::Hangup { call } => (call, BrowserEvent::Hangup, true),
        FromPage::Hold { call, on } => (call, BrowserEvent::Hold(on), false),
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
