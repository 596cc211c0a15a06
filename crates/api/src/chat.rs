//! Web chat over HTTP: the customer's widget and the agent's conversations.
//!
//! Customers (no login):
//! - `GET /chat/v1/ws` (WebSocket): the widget's conversation. The first message is
//!   `{"type":"start","name","phone"?,"email"?,"language"?,"queue"?,"page"?}` or
//!   `{"type":"resume","token","since"}`; then `message` (`id`, `text`, `attachments`?),
//!   `typing` (`on`), `read` (`upto`), `end`, `rate` (`score`), `leave_message` (`text`,
//!   `phone`?). The server sends `started` (`conversation`, `token`), `state` (`phase`:
//!   `queued` with `position` and `eta_secs`, `active` with `agent`, `ended`, `left`),
//!   `message`, `receipt` (`id`, `seq`: the message is kept), `typing`, `read`, `max_wait`
//!   and `error` (`code`, `message`).
//! - `POST /chat/v1/attachments?name=&token=`: a file (at most 5 MiB; images, PDF, text)
//!   for the next message; answers the attachment to send with it.
//! - `GET /chat/v1/attachments/{conversation}/{file}?token=`: a file of the conversation.
//!
//! Agents (bearer token): `GET /api/v1/conversations` (the agent's own, each with its
//! transcript), `GET /api/v1/conversations/live` (WebSocket of offers, messages, typing,
//! read receipts and ends), `GET /api/v1/conversations/{id}`, and `POST` to
//! `/api/v1/conversations/{id}/` `accept`, `decline`, `messages` (`text`), `typing` (`on`),
//! `read` (`upto`), `end`, `transfer` (`to`: a chat queue or a colleague's extension).

use std::path::PathBuf;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hotline_config::Role;
use hotline_model::{Attachment, InteractionId, Sender};
use hotline_switch::chat::{ChatError, Chats, StartChat};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiError;
use crate::v1::{Principal, V1, parse_json};

/// Largest attachment a customer may send.
pub const MAX_ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;
/// Largest WebSocket message from a widget.
const MAX_WS_MESSAGE: usize = 64 * 1024;
/// What a chat socket reads at a time. The library's default (128 KiB) is zeroed before
/// every read and kept per socket: with ten thousand chats open that was most of their
/// memory and a tenth of the CPU, for messages of a few hundred bytes.
const WS_READ_BUFFER: usize = 4 * 1024;

pub fn routes() -> Router<V1> {
    // The widget runs on the bank's own pages: its files are fetched across origins. The
    // conversation's token (not a cookie) is what authorises them, so any origin may ask.
    let customer = Router::new()
        .route(
            "/chat/v1/attachments",
            post(upload)
                .options(preflight)
                .layer(axum::extract::DefaultBodyLimit::max(
                    MAX_ATTACHMENT_BYTES + 1024,
                )),
        )
        .route("/chat/v1/attachments/{conv}/{file}", get(customer_file))
        .layer(axum::middleware::map_response(cors));
    Router::new()
        .merge(customer)
        .route("/chat/v1/ws", get(customer_ws))
        .route("/api/v1/conversations", get(mine))
        .route("/api/v1/interactions/{id}/transcript", get(transcript))
        .route("/api/v1/conversations/live", get(agent_ws))
        .route("/api/v1/conversations/{id}", get(one))
        .route("/api/v1/conversations/{id}/accept", post(accept))
        .route("/api/v1/conversations/{id}/decline", post(decline))
        .route("/api/v1/conversations/{id}/messages", post(say))
        .route("/api/v1/conversations/{id}/typing", post(typing))
        .route("/api/v1/conversations/{id}/read", post(read))
        .route("/api/v1/conversations/{id}/end", post(end))
        .route("/api/v1/conversations/{id}/transfer", post(transfer))
        .route(
            "/api/v1/conversations/{id}/attachments/{file}",
            get(agent_file),
        )
}

async fn cors(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    resp
}

async fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type"),
            (header::ACCESS_CONTROL_MAX_AGE, "600"),
        ],
    )
        .into_response()
}

fn chat_error(e: ChatError) -> ApiError {
    let status = match e.code {
        "not_found" => StatusCode::NOT_FOUND,
        "not_yours" | "not_offered" => StatusCode::CONFLICT,
        "busy" | "unavailable" | "log_unavailable" | "chat_closed" => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        "too_many_messages" => StatusCode::TOO_MANY_REQUESTS,
        "ended" | "not_ended" | "rated" | "not_waiting" => StatusCode::CONFLICT,
        "too_many_files" => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.code, e.message)
}

fn conv_id(id: &str) -> Result<InteractionId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such conversation"))
}

/// The agent asking (by its token) and the conversation its path names.
fn agent_and(v1: &V1, headers: &HeaderMap, id: &str) -> Result<(String, InteractionId), ApiError> {
    let who = v1.auth.principal(headers)?;
    Ok((the_agent(&who)?.to_string(), conv_id(id)?))
}

fn the_agent(who: &Principal) -> Result<&str, ApiError> {
    who.agent.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only an agent works on conversations",
        )
    })
}

fn attachments_dir(v1: &V1) -> PathBuf {
    v1.centre.chats().attachments_dir()
}

// ---- the customer's side ---------------------------------------------------------------

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FromWidget {
    Start {
        name: String,
        #[serde(default)]
        phone: Option<String>,
        #[serde(default)]
        email: Option<String>,
        #[serde(default)]
        language: Option<String>,
        #[serde(default)]
        queue: Option<String>,
        #[serde(default)]
        page: Option<String>,
    },
    Resume {
        token: String,
        #[serde(default)]
        since: u64,
    },
    Message {
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        text: String,
        #[serde(default)]
        attachments: Vec<Attachment>,
    },
    Typing {
        on: bool,
    },
    Read {
        upto: u64,
    },
    End,
    Rate {
        score: u8,
    },
    LeaveMessage {
        text: String,
        #[serde(default)]
        phone: Option<String>,
    },
}

/// Chats one address may start: a burst of [`START_BURST`], then one per
/// [`START_EVERY`] (a page reload resumes its chat and costs nothing).
const START_BURST: f64 = 5.0;
const START_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Per-address token buckets for starting chats.
fn may_start(source: Option<std::net::IpAddr>) -> bool {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    use std::time::Instant;
    static BUCKETS: OnceLock<parking_lot::Mutex<HashMap<std::net::IpAddr, (f64, Instant)>>> =
        OnceLock::new();
    let Some(ip) = source else { return true };
    let now = Instant::now();
    let refill = |(tokens, at): (f64, Instant)| {
        (tokens + now.duration_since(at).as_secs_f64() / START_EVERY.as_secs_f64()).min(START_BURST)
    };
    let mut map = BUCKETS.get_or_init(Default::default).lock();
    if map.len() > 100_000 {
        // Full buckets say nothing: forget them.
        map.retain(|_, b| refill(*b) < START_BURST);
    }
    let tokens = map.get(&ip).map_or(START_BURST, |b| refill(*b));
    if tokens < 1.0 {
        return false;
    }
    map.insert(ip, (tokens - 1.0, now));
    true
}

async fn customer_ws(
    State(v1): State<V1>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let chats = v1.centre.chats().clone();
    let peer = ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let source = v1.auth.client_of(peer, &headers);
    ws.max_message_size(MAX_WS_MESSAGE)
        .read_buffer_size(WS_READ_BUFFER)
        .on_upgrade(move |socket| widget(socket, chats, source))
}

fn err_msg(code: &str, message: &str) -> Message {
    Message::Text(
        json!({"type": "error", "code": code, "message": message})
            .to_string()
            .into(),
    )
}

async fn send(socket: &mut WebSocket, v: &Value) -> bool {
    socket
        .send(Message::Text(v.to_string().into()))
        .await
        .is_ok()
}

/// One widget's connection: the first message starts or resumes a conversation, then
/// messages flow both ways until either side closes.
async fn widget(mut socket: WebSocket, chats: Chats, source: Option<std::net::IpAddr>) {
    // A socket that says nothing is closed.
    let first = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            match socket.recv().await {
                Some(Ok(Message::Text(t))) => return Some(t),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => return None,
            }
        }
    })
    .await;
    let Ok(Some(first)) = first else { return };
    let joined = match serde_json::from_str::<FromWidget>(&first) {
        Ok(FromWidget::Start { .. }) if !may_start(source) => Err(ChatError {
            code: "too_many_chats",
            message: "too many chats started from here; please wait a moment".into(),
        }),
        Ok(FromWidget::Start {
            name,
            phone,
            email,
            language,
            queue,
            page,
        }) => {
            chats
                .begin(StartChat {
                    name,
                    phone,
                    email,
                    language,
                    queue,
                    page,
                })
                .await
        }
        Ok(FromWidget::Resume { token, since }) => chats.resume(&token, since).await,
        Ok(_) => {
            let _ = socket
                .send(err_msg(
                    "bad_request",
                    "start or resume a conversation first",
                ))
                .await;
            return;
        }
        Err(e) => {
            let _ = socket.send(err_msg("bad_request", &e.to_string())).await;
            return;
        }
    };
    let mut joined = match joined {
        Ok(j) => j,
        Err(e) => {
            let _ = socket.send(err_msg(e.code, &e.message)).await;
            return;
        }
    };
    let id = joined.conversation;
    let hello = json!({"type": "started", "conversation": id, "token": joined.token});
    let mut ok = send(&mut socket, &hello).await;
    for v in &joined.replay {
        ok = ok && send(&mut socket, v).await;
    }
    while ok {
        tokio::select! {
            push = joined.pushes.recv() => match push {
                Ok(v) => ok = send(&mut socket, &v).await,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    // The widget reloads what it missed by resuming.
                    let _ = socket.send(err_msg("lagged", "reconnect to catch up")).await;
                    break;
                }
                Err(_) => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(t))) => {
                    ok = from_widget(&mut socket, &chats, id, &t).await;
                }
                Some(Ok(Message::Binary(_))) => {
                    ok = socket.send(err_msg("bad_request", "messages are JSON text")).await.is_ok();
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            },
        }
    }
    chats.unwatch(id);
}

async fn from_widget(socket: &mut WebSocket, chats: &Chats, id: InteractionId, text: &str) -> bool {
    let msg = match serde_json::from_str::<FromWidget>(text) {
        Ok(m) => m,
        Err(e) => {
            return socket
                .send(err_msg("bad_request", &e.to_string()))
                .await
                .is_ok();
        }
    };
    let result = match msg {
        FromWidget::Start { .. } | FromWidget::Resume { .. } => Err(ChatError {
            code: "bad_request",
            message: "this connection has its conversation already".into(),
        }),
        FromWidget::Message {
            id: client,
            text,
            attachments,
        } => {
            match chats
                .customer_says(id, client.clone(), &text, attachments)
                .await
            {
                Ok(seq) => {
                    return send(
                        socket,
                        &json!({"type": "receipt", "id": client, "seq": seq}),
                    )
                    .await;
                }
                Err(e) => {
                    let v = json!({"type": "error", "code": e.code, "message": e.message, "id": client});
                    return send(socket, &v).await;
                }
            }
        }
        FromWidget::Typing { on } => {
            chats.typing(id, Sender::Customer, None, on);
            Ok(())
        }
        FromWidget::Read { upto } => chats.read(id, Sender::Customer, None, upto).await,
        FromWidget::End => chats.customer_ends(id).await,
        FromWidget::Rate { score } => chats.rate(id, score).await,
        FromWidget::LeaveMessage { text, phone } => {
            chats.leave_message(id, &text, phone.as_deref()).await
        }
    };
    match result {
        Ok(()) => true,
        Err(e) => socket.send(err_msg(e.code, &e.message)).await.is_ok(),
    }
}

fn safe_file_name(f: &str) -> bool {
    !f.is_empty()
        && f.len() <= 80
        && f.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !f.starts_with('.')
}

/// The content types a customer may send, by the file's extension.
fn content_type_of(name: &str) -> Option<&'static str> {
    let ext = name.rsplit('.').next()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

#[derive(Deserialize)]
struct UploadQuery {
    name: String,
    token: String,
}

async fn upload(
    State(v1): State<V1>,
    Query(q): Query<UploadQuery>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let chats = v1.centre.chats();
    let id = chats
        .may_upload(&q.token, body.len() as u64)
        .map_err(chat_error)?;
    if body.is_empty() || body.len() > MAX_ATTACHMENT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("a file is 1 byte to {MAX_ATTACHMENT_BYTES} bytes"),
        ));
    }
    let name: String = q.name.trim().chars().take(120).collect();
    let ty = content_type_of(&name).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_type",
            "images (png, jpg, gif, webp), PDF and text files may be sent",
        )
    })?;
    let ext = name
        .rsplit('.')
        .next()
        .unwrap_or("bin")
        .to_ascii_lowercase();
    let file = format!("{}.{ext}", hotline_model::EventId::new());
    let dir = attachments_dir(&v1).join(id.to_string());
    let path = dir.join(&file);
    let size = body.len() as u64;
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(&path, &body)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "io", e.to_string()))?
    .map_err(|e| ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "io", e.to_string()))?;
    let a = Attachment {
        name,
        content_type: ty.to_string(),
        size,
        path: format!("{id}/{file}"),
    };
    chats.uploaded(id, a.clone());
    Ok(Json(json!(a)))
}

#[derive(Deserialize)]
struct TokenQuery {
    token: String,
}

async fn serve_file(v1: &V1, id: InteractionId, file: &str) -> Result<Response, ApiError> {
    if !safe_file_name(file) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such file",
        ));
    }
    let path = attachments_dir(v1).join(id.to_string()).join(file);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such file"))?;
    let ty = content_type_of(file).unwrap_or("application/octet-stream");
    Ok((
        [
            (header::CONTENT_TYPE, ty),
            (header::CONTENT_DISPOSITION, "attachment"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        bytes,
    )
        .into_response())
}

async fn customer_file(
    State(v1): State<V1>,
    Path((conv, file)): Path<(String, String)>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, ApiError> {
    let id = conv_id(&conv)?;
    if v1.centre.chats().by_token(&q.token) != Some(id) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such file",
        ));
    }
    serve_file(&v1, id, &file).await
}

// ---- the agent's side ------------------------------------------------------------------

/// `GET /api/v1/interactions/{id}/transcript`: the messages of a written conversation, from
/// the log (also long after it ended), oldest first, with who read how far.
async fn transcript(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    let record = crate::v1::own_interaction(&v1, &who, &id).await?;
    let events = v1
        .centre
        .store()
        .interaction_events(record.id)
        .await
        .map_err(crate::v1::store_error)?;
    let mut messages = Vec::new();
    let (mut customer_read, mut agent_read) = (0u64, 0u64);
    for e in events {
        let hotline_model::Event::Interaction(e) = e else {
            continue;
        };
        match e.kind {
            hotline_model::EventKind::Message {
                sender,
                agent,
                text,
                attachments,
                subject,
                ..
            } => messages.push(json!({
                "seq": e.seq, "at": e.at, "sender": sender, "agent": agent,
                "text": text, "attachments": attachments, "subject": subject,
            })),
            hotline_model::EventKind::MessageStatus {
                message, status, ..
            } => {
                if let Some(m) = messages
                    .iter_mut()
                    .rev()
                    .find(|m| m["seq"].as_u64() == Some(message))
                {
                    m["status"] = json!(status);
                }
            }
            hotline_model::EventKind::MessagesRead { by, upto } => match by {
                Sender::Customer => customer_read = customer_read.max(upto),
                _ => agent_read = agent_read.max(upto),
            },
            _ => {}
        }
    }
    Ok(Json(json!({
        "interaction": record.id,
        "channel": record.channel,
        "messages": messages,
        "customer_read": customer_read,
        "agent_read": agent_read,
    })))
}

async fn mine(State(v1): State<V1>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    let agent = the_agent(&who)?;
    Ok(Json(
        json!({ "conversations": v1.centre.chats().agent_conversations(agent) }),
    ))
}

async fn one(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    let id = conv_id(&id)?;
    let agent = match who.role {
        Role::Agent => Some(the_agent(&who)?),
        _ => None,
    };
    v1.centre
        .chats()
        .conversation(id, agent)
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such conversation"))
}

async fn agent_file(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path((conv, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let who = v1.auth.principal(&headers)?;
    let id = conv_id(&conv)?;
    if who.role == Role::Agent {
        let agent = the_agent(&who)?;
        if v1.centre.chats().conversation(id, Some(agent)).is_none() {
            crate::v1::own_interaction(&v1, &who, &conv).await?;
        }
    }
    serve_file(&v1, id, &file).await
}

async fn accept(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (agent, id) = agent_and(&v1, &headers, &id)?;
    let agent = agent.as_str();
    v1.centre
        .chats()
        .accept(id, agent)
        .await
        .map_err(chat_error)?;
    Ok(Json(
        v1.centre
            .chats()
            .conversation(id, Some(agent))
            .unwrap_or(Value::Null),
    ))
}

async fn decline(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (agent, id) = agent_and(&v1, &headers, &id)?;
    let agent = agent.as_str();
    v1.centre
        .chats()
        .decline(id, agent)
        .await
        .map_err(chat_error)?;
    Ok(Json(json!({ "declined": id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SayBody {
    text: String,
}

async fn say(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (agent, id) = agent_and(&v1, &headers, &id)?;
    let agent = agent.as_str();
    let b: SayBody = parse_json(&body)?;
    let seq = v1
        .centre
        .chats()
        .agent_says(id, agent, &b.text)
        .await
        .map_err(chat_error)?;
    Ok(Json(json!({ "seq": seq })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypingBody {
    on: bool,
}

async fn typing(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let (agent, id) = agent_and(&v1, &headers, &id)?;
    let agent = agent.as_str();
    let b: TypingBody = parse_json(&body)?;
    v1.centre
        .chats()
        .typing(id, Sender::Agent, Some(agent), b.on);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadBody {
    upto: u64,
}

async fn read(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let (agent, id) = agent_and(&v1, &headers, &id)?;
    let agent = agent.as_str();
    let b: ReadBody = parse_json(&body)?;
    v1.centre
        .chats()
        .read(id, Sender::Agent, Some(agent), b.upto)
        .await
        .map_err(chat_error)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EndBody {
    /// An answered e-mail is closed for good, rather than waiting for the customer.
    #[serde(default)]
    close: bool,
}

async fn end(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (agent, id) = agent_and(&v1, &headers, &id)?;
    let agent = agent.as_str();
    let b: EndBody = if body.iter().all(u8::is_ascii_whitespace) {
        EndBody::default()
    } else {
        parse_json(&body)?
    };
    v1.centre
        .chats()
        .agent_ends(id, agent, b.close)
        .await
        .map_err(chat_error)?;
    Ok(Json(json!({ "ended": id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    to: String,
}

async fn transfer(
    State(v1): State<V1>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (agent, id) = agent_and(&v1, &headers, &id)?;
    let agent = agent.as_str();
    let b: TransferBody = parse_json(&body)?;
    v1.centre
        .chats()
        .transfer(id, agent, b.to.trim())
        .await
        .map_err(chat_error)?;
    Ok(Json(json!({ "transferred": id, "to": b.to.trim() })))
}

#[derive(Deserialize)]
struct LiveQuery {
    #[serde(default)]
    access_token: Option<String>,
}

async fn agent_ws(
    State(v1): State<V1>,
    headers: HeaderMap,
    Query(q): Query<LiveQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let headers = crate::v1::with_query_token(headers, q.access_token);
    let who = v1.auth.principal(&headers)?;
    let agent = the_agent(&who)?.to_string();
    let mut rx = v1.centre.chats().agent_pushes(&agent);
    Ok(ws
        .read_buffer_size(WS_READ_BUFFER)
        .on_upgrade(move |mut socket| async move {
            loop {
                tokio::select! {
                    push = rx.recv() => match push {
                        Ok(v) => if !send(&mut socket, &v).await { return },
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            // The desktop reloads its conversations.
                            if !send(&mut socket, &json!({"type": "reload"})).await { return }
                        }
                        Err(_) => return,
                    },
                    incoming = socket.recv() => match incoming {
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                        Some(Ok(_)) => {}
                    },
                }
            }
        }))
}
