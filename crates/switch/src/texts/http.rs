//! Texts through an SMS provider's HTTP API (`[sms.http]`).
//!
//! - A customer's text comes as a webhook (the API's `POST /api/v1/sms/inbound`, signed by
//!   the provider) with the provider's id of the message. It is taken once per id: the id
//!   is kept as the message's `client_id`, and the ids of the last [`RECEIVED_KEPT`] are
//!   remembered (read back from the log at start), so a webhook the provider posts again
//!   answers with the message already kept.
//! - A reply is posted as JSON to `send_url` with the bearer token: `from`, `to`, `text`
//!   (whole: the provider splits it) and `reference` (`<conversation>-<seq>`, the same on
//!   every attempt). A 2xx answer with `{"id"}` logs `submitted` with that id. Connection
//!   failures, 408, 429 and 5xx are tried again with a growing pause (429's `Retry-After`
//!   is honoured) for [`RETRY_FOR`]; any other answer, or no success by then, fails the
//!   reply and puts the conversation back in line.
//! - A delivery status comes as a webhook (`POST /api/v1/sms/status`) naming the provider's
//!   id; it is logged against the reply. A status for an id not known yet (the webhook
//!   outran the answer to the POST) is held a while for it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hotline_config::HttpUrl;
use hotline_model::{InteractionId, Timestamp};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::chat::{ChatError, Chats, OutSms};

/// How long the ids of customers' texts are remembered against a webhook posted again.
pub(super) const RECEIVED_KEPT: Duration = Duration::from_secs(72 * 3600);
/// How long a reply waits for its final status before its id is forgotten.
const SENT_KEPT: Duration = Duration::from_secs(72 * 3600);
/// How long a status for an id not known yet waits for it.
const EARLY_KEPT: Duration = Duration::from_secs(600);
/// Most ids of each kind remembered; the oldest go first past this.
const MAX_IDS: usize = 200_000;
/// Most statuses held for ids not known yet.
const MAX_EARLY: usize = 10_000;
/// How long a reply is tried again while the provider cannot take it.
pub(super) const RETRY_FOR: Duration = Duration::from_secs(600);
/// The first pause before trying again, doubled each time up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one POST may take, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read from the provider.
const MAX_ANSWER: usize = 64 * 1024;
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// The settings of `[sms.http]`, with the token and secret read.
#[derive(Clone, PartialEq)]
pub(crate) struct Setup {
    url: HttpUrl,
    token: String,
    pub(super) secret: Arc<[u8]>,
    per_second: u32,
}

impl Setup {
    /// `None` (logged) when the token or the secret is missing from the environment.
    pub(super) fn from_config(h: &hotline_config::SmsHttp) -> Option<Setup> {
        let url = match h.url() {
            Ok(u) => u,
            Err(e) => {
                tracing::error!(error = %e, "`sms.http.send_url` is not usable: text messages are off");
                return None;
            }
        };
        let Some(token) = h.token() else {
            tracing::error!(
                "no token for the SMS provider (is `sms.http.token_env` set?): text messages are off"
            );
            return None;
        };
        let Some(secret) = h.secret() else {
            tracing::error!(
                "no webhook secret for the SMS provider (is `sms.http.secret_env` set?): text messages are off"
            );
            return None;
        };
        if secret.len() < hotline_config::MIN_SMS_SECRET {
            tracing::error!(
                "the SMS provider's webhook secret is shorter than {} bytes: text messages are off",
                hotline_config::MIN_SMS_SECRET
            );
            return None;
        }
        Some(Setup {
            url,
            token,
            secret: Arc::from(secret.into_bytes()),
            per_second: *h.per_second.get_ref(),
        })
    }
}

/// A customer's text as the centre took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub conversation: InteractionId,
    /// The seq of its `message`.
    pub seq: u64,
    /// The provider had posted it before: nothing new was logged.
    pub duplicate: bool,
}

/// A status after which nothing more is expected of a reply.
fn is_final(status: &str) -> bool {
    matches!(
        status,
        "delivered"
            | "undelivered"
            | "undeliverable"
            | "failed"
            | "expired"
            | "rejected"
            | "deleted"
            | "canceled"
            | "cancelled"
    ) || status.starts_with("failed:")
}

#[derive(Default)]
struct Maps {
    /// Customers' texts by the provider's id.
    received: HashMap<String, (InteractionId, u64, Instant)>,
    /// Replies the provider took, by its id, until their final status.
    sent: HashMap<String, (InteractionId, u64, Instant)>,
    /// Statuses for ids not known yet.
    early: HashMap<String, (String, Instant)>,
    last_prune: Option<Instant>,
}

/// Drops entries older than `kept`, then the oldest past `max`.
fn trim<V>(
    map: &mut HashMap<String, V>,
    now: Instant,
    kept: Duration,
    max: usize,
    at: fn(&V) -> Instant,
) {
    map.retain(|_, v| now.saturating_duration_since(at(v)) <= kept);
    if map.len() > max {
        let mut ages: Vec<Instant> = map.values().map(at).collect();
        ages.sort_unstable();
        let cut = ages[map.len() - max - 1];
        map.retain(|_, v| at(v) > cut);
    }
}

impl Maps {
    fn prune(&mut self, now: Instant) {
        if self
            .last_prune
            .is_some_and(|t| now.saturating_duration_since(t) < PRUNE_EVERY)
        {
            return;
        }
        self.last_prune = Some(now);
        trim(&mut self.received, now, RECEIVED_KEPT, MAX_IDS, |v| v.2);
        trim(&mut self.sent, now, SENT_KEPT, MAX_IDS, |v| v.2);
        trim(&mut self.early, now, EARLY_KEPT, MAX_EARLY, |v| v.1);
    }
}

/// The HTTP transport's memory of ids, kept across changes of its settings.
#[derive(Default)]
pub(super) struct State {
    /// Customers' texts are taken one at a time, as from an SMSC link: two texts from one
    /// number never start two conversations, and a webhook posted twice at once waits for
    /// the first to be kept.
    inbound: tokio::sync::Mutex<()>,
    maps: parking_lot::Mutex<Maps>,
    /// The ids were read back from the log (once, at the first `[sms.http]`).
    rebuilding: AtomicBool,
    ready: AtomicBool,
}

impl State {
    /// Reads the ids of the last [`RECEIVED_KEPT`] back from the log, once: until then the
    /// webhooks are answered "starting" (the provider posts them again).
    pub(super) fn rebuild(self: &Arc<Self>, chats: Chats, mut restored: watch::Receiver<bool>) {
        if self.rebuilding.swap(true, Ordering::AcqRel) {
            return;
        }
        let state = self.clone();
        tokio::spawn(async move {
            if restored.wait_for(|done| *done).await.is_err() {
                return;
            }
            let ids = loop {
                let since = Timestamp::from_unix_nanos(
                    Timestamp::now()
                        .unix_nanos()
                        .saturating_sub(RECEIVED_KEPT.as_nanos() as i64),
                );
                match chats.sms_provider_ids(since, is_final).await {
                    Ok(ids) => break ids,
                    Err(e) => {
                        tracing::warn!(error = %e.message, "the SMS provider's ids could not be read back from the log; trying again");
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                }
            };
            let now = Instant::now();
            let now_ns = Timestamp::now().unix_nanos();
            let mut m = state.maps.lock();
            for (id, conv, seq, at) in ids.received {
                let age =
                    Duration::from_nanos(now_ns.saturating_sub(at.unix_nanos()).max(0) as u64);
                let at = now.checked_sub(age).unwrap_or(now);
                m.received.entry(id).or_insert((conv, seq, at));
            }
            for (id, conv, seq) in ids.sent {
                m.sent.entry(id).or_insert((conv, seq, now));
            }
            m.last_prune = None;
            m.prune(now);
            drop(m);
            state.ready.store(true, Ordering::Release);
        });
    }

    fn check_ready(&self) -> Result<(), ChatError> {
        if self.ready.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(ChatError::new(
                "starting",
                "the centre is reading its text messages back from the log: post it again shortly",
            ))
        }
    }

    pub(super) async fn received(
        &self,
        chats: &Chats,
        id: &str,
        from: &str,
        text: &str,
    ) -> Result<Received, ChatError> {
        self.check_ready()?;
        let _one = self.inbound.lock().await;
        if let Some((conversation, seq, _)) = self.maps.lock().received.get(id).copied() {
            return Ok(Received {
                conversation,
                seq,
                duplicate: true,
            });
        }
        let (conversation, seq) = chats.sms_in(from, text, Some(id.to_string())).await?;
        let mut m = self.maps.lock();
        let now = Instant::now();
        m.prune(now);
        m.received.insert(id.to_string(), (conversation, seq, now));
        Ok(Received {
            conversation,
            seq,
            duplicate: false,
        })
    }

    pub(super) async fn status(
        &self,
        chats: &Chats,
        id: &str,
        status: &str,
    ) -> Result<bool, ChatError> {
        self.check_ready()?;
        let target = {
            let mut m = self.maps.lock();
            let now = Instant::now();
            m.prune(now);
            let target = m.sent.get(id).map(|(c, s, _)| (*c, *s));
            if target.is_none() && m.early.len() < MAX_EARLY {
                m.early.insert(id.to_string(), (status.to_string(), now));
            }
            target
        };
        let Some((conversation, seq)) = target else {
            return Ok(false);
        };
        chats.record_status(conversation, seq, status, None).await?;
        if is_final(status) {
            self.maps.lock().sent.remove(id);
        }
        Ok(true)
    }

    /// The provider took a reply and named it `id`: statuses that came first are logged
    /// after `submitted`.
    async fn taken(&self, chats: &Chats, id: String, conversation: InteractionId, seq: u64) {
        let _ = chats
            .record_status(conversation, seq, "submitted", Some(id.clone()))
            .await;
        // From here on its statuses find it; one that came before is taken now (after
        // `submitted`, never before it).
        let early = {
            let mut m = self.maps.lock();
            m.sent
                .insert(id.clone(), (conversation, seq, Instant::now()));
            m.early.remove(&id)
        };
        if let Some((status, _)) = early {
            let _ = chats.record_status(conversation, seq, &status, None).await;
            if is_final(&status) {
                self.maps.lock().sent.remove(&id);
            }
        }
    }
}

/// Posts replies to the provider, at most `per_second` of them a second.
pub(super) struct Sender {
    setup: Setup,
    next: parking_lot::Mutex<Instant>,
    /// `None` for `http://`, or when TLS could not be set up.
    tls: Option<tokio_rustls::TlsConnector>,
}

/// The system's trusted certificate authorities (Debian's `ca-certificates`).
fn tls_connector() -> Option<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) =
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if added == 0 {
        tracing::error!(
            "no trusted CA certificates on this system (install ca-certificates): the SMS provider cannot be reached by https"
        );
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| tracing::error!(error = %e, "no TLS for the SMS provider"))
    .ok()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Some(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// What the provider made of one POST.
#[derive(Debug, PartialEq)]
enum Answer {
    /// Taken, with its id when the answer gave one.
    Taken(Option<String>),
    /// Refused for good.
    Refused(String),
    /// Not now: try again (after this long, when the provider said).
    Later(String, Option<Duration>),
}

impl Sender {
    pub(super) fn new(setup: Setup) -> Sender {
        let tls = if setup.url.tls { tls_connector() } else { None };
        Sender {
            setup,
            next: parking_lot::Mutex::new(Instant::now()),
            tls,
        }
    }

    /// Waits for this reply's turn under `per_second`.
    async fn turn(&self) {
        let at = {
            let mut next = self.next.lock();
            let now = Instant::now();
            let at = (*next).max(now);
            *next = at + Duration::from_secs(1) / self.setup.per_second.max(1);
            at
        };
        tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
    }

    async fn post(&self, body: Bytes) -> Answer {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(body)).await {
            Ok(Ok(a)) => a,
            Ok(Err(why)) => Answer::Later(why, None),
            Err(_) => Answer::Later(format!("no answer in {REQUEST_TIMEOUT:?}"), None),
        }
    }

    async fn exchange(&self, body: Bytes) -> Result<Answer, String> {
        let u = &self.setup.url;
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((u.host.as_str(), u.port)),
        )
        .await
        .map_err(|_| format!("connect to {}:{}: no answer", u.host, u.port))?
        .map_err(|e| format!("connect to {}:{}: {e}", u.host, u.port))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None if u.tls => Err("TLS could not be set up on this machine".into()),
            None => self.request(tcp, body).await,
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from(u.host.clone())
                    .map_err(|e| format!("{}: {e}", u.host))?;
                let stream = tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS with {}: {e}", u.host))?;
                self.request(stream, body).await
            }
        }
    }

    async fn request<S>(&self, io: S, body: Bytes) -> Result<Answer, String>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let u = &self.setup.url;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP with {}: {e}", u.host))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let default_port = if u.tls { 443 } else { 80 };
        let host = match (u.host.contains(':'), u.port == default_port) {
            (true, true) => format!("[{}]", u.host),
            (true, false) => format!("[{}]:{}", u.host, u.port),
            (false, true) => u.host.clone(),
            (false, false) => format!("{}:{}", u.host, u.port),
        };
        let req = hyper::Request::post(u.path.as_str())
            .header(hyper::header::HOST, host)
            .header(
                hyper::header::AUTHORIZATION,
                format!("Bearer {}", self.setup.token),
            )
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "hotline")
            .body(Full::new(body))
            .map_err(|e| format!("the request: {e}"))?;
        let resp = send
            .send_request(req)
            .await
            .map_err(|e| format!("HTTP with {}: {e}", u.host))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok(judge(status.as_u16(), retry_after, &body))
    }
}

/// The provider's answer (`status`, `Retry-After`, body) as an [`Answer`].
fn judge(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Answer {
    let said = || {
        let text = String::from_utf8_lossy(body);
        let text: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
        if text.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {text}")
        }
    };
    match status {
        200..=299 => {
            let id = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| match &v["id"] {
                    serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .filter(|id| id.len() <= 256);
            Answer::Taken(id)
        }
        408 | 425 | 429 | 500..=599 => Answer::Later(said(), retry_after),
        _ => Answer::Refused(said()),
    }
}

/// Sends one reply, trying again while the provider cannot take it, for [`RETRY_FOR`] at
/// most.
pub(super) async fn send(chats: Chats, state: Arc<State>, sender: Arc<Sender>, m: OutSms) {
    let reference = format!("{}-{}", m.conversation, m.seq);
    let body = Bytes::from(
        serde_json::json!({
            "from": m.from,
            "to": m.to,
            "text": m.text,
            "reference": reference,
        })
        .to_string(),
    );
    let deadline = Instant::now() + RETRY_FOR;
    let mut pause = FIRST_PAUSE;
    loop {
        sender.turn().await;
        match sender.post(body.clone()).await {
            Answer::Taken(Some(id)) => {
                state.taken(&chats, id, m.conversation, m.seq).await;
                return;
            }
            Answer::Taken(None) => {
                tracing::warn!(reference = %reference, "the SMS provider took a reply but gave no id: its statuses cannot be matched");
                chats
                    .message_status(m.conversation, m.seq, "submitted")
                    .await;
                return;
            }
            Answer::Refused(why) => {
                tracing::warn!(reference = %reference, why = %why, "the SMS provider refused a reply");
                chats
                    .sms_not_sent(
                        m.conversation,
                        m.seq,
                        &format!("the provider refused it ({why})"),
                    )
                    .await;
                return;
            }
            Answer::Later(why, after) => {
                let wait = after.unwrap_or(pause).min(MAX_PAUSE);
                if Instant::now() + wait > deadline {
                    chats
                        .sms_not_sent(
                            m.conversation,
                            m.seq,
                            &format!(
                                "the provider did not take it in {} minutes ({why})",
                                RETRY_FOR.as_secs() / 60
                            ),
                        )
                        .await;
                    return;
                }
                tracing::warn!(reference = %reference, why = %why, pause = ?wait, "the SMS provider cannot take a reply now; trying again");
                tokio::time::sleep(wait).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_taken_retried_or_refused() {
        assert_eq!(
            judge(200, None, br#"{"id":"SM123"}"#),
            Answer::Taken(Some("SM123".into()))
        );
        assert_eq!(
            judge(201, None, br#"{"id":42}"#),
            Answer::Taken(Some("42".into()))
        );
        assert_eq!(judge(202, None, b"ok"), Answer::Taken(None));
        assert_eq!(
            judge(429, Some(Duration::from_secs(3)), b""),
            Answer::Later("HTTP 429".into(), Some(Duration::from_secs(3)))
        );
        assert!(
            matches!(judge(503, None, b"down"), Answer::Later(w, None) if w == "HTTP 503: down")
        );
        assert!(
            matches!(judge(400, None, b"bad number"), Answer::Refused(w) if w.contains("bad number"))
        );
        assert!(matches!(judge(401, None, b""), Answer::Refused(_)));
        assert!(matches!(judge(301, None, b""), Answer::Refused(_)));
    }

    #[test]
    fn ids_are_forgotten_when_old_or_too_many() {
        let mut m: HashMap<String, Instant> = HashMap::new();
        let t0 = Instant::now();
        for i in 0..10u64 {
            m.insert(format!("{i}"), t0 + Duration::from_secs(i));
        }
        trim(
            &mut m,
            t0 + Duration::from_secs(9),
            Duration::from_secs(100),
            4,
            |v| *v,
        );
        let mut left: Vec<&String> = m.keys().collect();
        left.sort();
        assert_eq!(left, ["6", "7", "8", "9"], "the newest four");
        trim(
            &mut m,
            t0 + Duration::from_secs(108),
            Duration::from_secs(100),
            4,
            |v| *v,
        );
        assert_eq!(m.len(), 2, "older than 100 s: {m:?}");
    }

    #[test]
    fn final_statuses_end_the_wait() {
        for s in ["delivered", "failed", "expired", "undelivered", "failed: x"] {
            assert!(is_final(s), "{s}");
        }
        for s in ["submitted", "queued", "sent", "accepted", "enroute"] {
            assert!(!is_final(s), "{s}");
        }
    }
}
