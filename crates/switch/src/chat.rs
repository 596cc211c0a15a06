//! Web chat: written conversations routed by the same engine, queues and log as calls.
//!
//! A customer's chat is an interaction of channel `chat`: `arrived`, `queued`, `offered`,
//! `answered`, one `message` per message (its id is the event's seq), `messages_read`,
//! `ended`, `surveyed` (the 1–5 rating), `wrapped_up`. A conversation waits in a queue of
//! channel `chat`; the routing engine offers it to an agent with chat capacity left, and the
//! agent accepts it on the desktop. Typing indicators are not logged: they are pushed to the
//! other side only.
//!
//! Each side follows a conversation through a stream of pushes (JSON objects with a
//! `"type"`): the customer's widget through [`Chats::follow`], the agent's desktop through
//! [`Chats::agent_pushes`]. A message is acknowledged to its sender once it is durable in
//! the log.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hotline_acd::ContactId;
use hotline_model::{
    AgentId, Attachment, Channel, CustomerId, EndReason, Event, EventKind, InteractionEvent,
    InteractionId, QueueName, Sender, Target, Timestamp,
};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::router::{Notice, Refusal, RouterCmd};
use crate::session::Shared;

pub(crate) mod email;
mod remote;
pub(crate) mod sms;
pub use email::{EmailArrival, OutMail};
pub use sms::OutSms;

/// What the conversations hand to the shells that carry them to customers.
pub struct Outboxes {
    pub mail: mpsc::UnboundedReceiver<OutMail>,
    pub sms: mpsc::UnboundedReceiver<OutSms>,
}

/// Longest message text, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// Most conversations open at once (queued, offered, active or ended awaiting a rating).
pub const MAX_CONVERSATIONS: usize = 20_000;
/// A queued customer whose widget is gone this long has abandoned the chat.
const QUEUED_GONE: Duration = Duration::from_secs(120);
/// A customer gone this long from a conversation with an agent ends it.
const ACTIVE_GONE: Duration = Duration::from_secs(600);
/// An ended conversation stays this long for the rating and a reload of the widget.
const ENDED_KEPT: Duration = Duration::from_secs(600);
/// How long a widget coming back waits for the open conversations to be read back.
const RESTORE_WAIT: Duration = Duration::from_secs(10);
/// Messages a customer may send per ten seconds.
const CUSTOMER_BURST: usize = 20;
/// Most messages one conversation keeps (then the customer is asked to start another).
pub const MAX_MESSAGES: usize = 1000;
/// Most files a customer may send in one conversation, and their total size.
pub const MAX_FILES: usize = 20;
pub const MAX_FILE_BYTES_TOTAL: u64 = 50 * 1024 * 1024;

/// Why a chat request was refused; `code` is the API's stable error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatError {
    pub code: &'static str,
    pub message: String,
}

impl ChatError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> ChatError {
        ChatError {
            code,
            message: message.into(),
        }
    }
}

fn gone() -> ChatError {
    ChatError::new("not_found", "no such conversation")
}

/// What a customer gives when starting a chat.
#[derive(Debug, Clone, Default)]
pub struct StartChat {
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// `zh` or `en`.
    pub language: Option<String>,
    /// A queue of channel `chat`; the first such queue when `None`.
    pub queue: Option<String>,
    /// The page the widget runs on, kept as the interaction's `to`.
    pub page: Option<String>,
}

/// A conversation as the widget sees it when it starts or comes back.
#[derive(Debug)]
pub struct Joined {
    pub conversation: InteractionId,
    pub token: String,
    /// Everything to replay: the state, then the messages after the asked seq.
    pub replay: Vec<Value>,
    pub pushes: broadcast::Receiver<Value>,
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Queued {
        position: u32,
        eta_secs: u64,
    },
    Offered {
        agent: String,
    },
    Active {
        agent: String,
    },
    /// The customer left a message or asked for a callback after waiting too long.
    Left,
    /// An e-mail the agent has answered and let go: it waits for the customer's reply
    /// (which queues it again) until the mailbox's `close_after_days`.
    Pending {
        since: Timestamp,
    },
    Ended {
        by: &'static str,
    },
}

#[derive(Debug, Clone)]
struct Msg {
    seq: u64,
    sender: Sender,
    agent: Option<String>,
    text: String,
    attachments: Vec<Attachment>,
    client_id: Option<String>,
    subject: Option<String>,
    at: Timestamp,
    /// What the network said of a text message sent to the customer.
    status: Option<String>,
}

struct Conv {
    contact: ContactId,
    queue: String,
    name: String,
    from: String,
    customer: Option<CustomerId>,
    vip: bool,
    language: String,
    /// The digest of the widget's token (see `key_of`); empty for e-mails and texts.
    token: String,
    phase: Phase,
    /// The agent who answered (kept after the end, for wrap-up and the rating).
    agent: Option<String>,
    started: Timestamp,
    queued_at: Instant,
    messages: Vec<Msg>,
    client_ids: HashSet<String>,
    customer_read: u64,
    agent_read: u64,
    pushes: broadcast::Sender<Value>,
    /// Widgets connected now, and since when none is.
    watchers: usize,
    unwatched_since: Option<Instant>,
    ended_at: Option<Instant>,
    rated: bool,
    recent: std::collections::VecDeque<Instant>,
    /// Files the customer uploaded, by their path: what a message may name, as the centre
    /// saw them (name, type and size are the centre's, not the message's).
    uploads: HashMap<String, Attachment>,
    /// The customer's side by e-mail (none: the web widget).
    email: Option<Box<email::EmailSide>>,
    /// The customer's side by text message.
    sms: Option<Box<sms::SmsSide>>,
    /// The disposition the agent wrapped this round up with (cleared when it is offered
    /// again), so that a desk opened again does not ask for it twice.
    wrapped: Option<String>,
    /// A web chat read back after a restart: the agent it goes to first once its widget
    /// is back.
    prefer: Option<String>,
}

impl Conv {
    /// A conversation waiting in `queue`, with nothing read, rated or uploaded yet: what a
    /// start and a read-back share (they set the rest).
    fn queued(queue: String, name: String, from: String, started: Timestamp) -> Conv {
        Conv {
            contact: ContactId(0),
            queue,
            name,
            from,
            customer: None,
            vip: false,
            language: "zh".into(),
            token: String::new(),
            phase: Phase::Queued {
                position: 0,
                eta_secs: 0,
            },
            agent: None,
            started,
            queued_at: Instant::now(),
            messages: Vec::new(),
            client_ids: HashSet::new(),
            customer_read: 0,
            agent_read: 0,
            pushes: broadcast::channel(256).0,
            watchers: 0,
            unwatched_since: None,
            ended_at: None,
            rated: false,
            recent: Default::default(),
            uploads: HashMap::new(),
            email: None,
            sms: None,
            wrapped: None,
            prefer: None,
        }
    }

    /// The customer writes from elsewhere than the widget (e-mail, text message).
    fn is_remote(&self) -> bool {
        self.email.is_some() || self.sms.is_some()
    }

    /// An agent has written since the customer's latest message (e-mail, text message).
    fn answered(&self) -> bool {
        self.email.as_ref().is_some_and(|e| e.answered)
            || self.sms.as_ref().is_some_and(|s| s.answered)
    }

    fn channel(&self) -> &'static str {
        if self.email.is_some() {
            "email"
        } else if self.sms.is_some() {
            "sms"
        } else {
            "chat"
        }
    }

    fn state_push(&self, names: &HashMap<String, String>) -> Value {
        match &self.phase {
            Phase::Queued { position, eta_secs } => json!({
                "type": "state", "phase": "queued", "position": position, "eta_secs": eta_secs,
            }),
            Phase::Offered { .. } => {
                json!({"type": "state", "phase": "queued", "position": 1, "eta_secs": 0})
            }
            Phase::Active { agent } => json!({
                "type": "state", "phase": "active",
                "agent": names.get(agent).cloned().unwrap_or_else(|| agent.clone()),
            }),
            Phase::Left => json!({"type": "state", "phase": "left"}),
            Phase::Pending { .. } => json!({"type": "state", "phase": "pending"}),
            Phase::Ended { by } => json!({
                "type": "state", "phase": "ended", "by": by, "rated": self.rated,
                "answered": self.agent.is_some(),
            }),
        }
    }
}

fn msg_json(id: InteractionId, m: &Msg, names: &HashMap<String, String>) -> Value {
    json!({
        "type": "message",
        "conversation": id,
        "seq": m.seq,
        "sender": m.sender,
        "agent": m.agent,
        "name": m.agent.as_ref().map(|a| names.get(a).cloned().unwrap_or_else(|| a.clone())),
        "text": m.text,
        "attachments": m.attachments,
        "client_id": m.client_id,
        "subject": m.subject,
        "status": m.status,
        "at": m.at,
    })
}

#[derive(Default)]
struct State {
    convs: HashMap<InteractionId, Conv>,
    by_token: HashMap<String, InteractionId>,
    agents: HashMap<String, broadcast::Sender<Value>>,
    /// E-mail threads: Message-IDs and reference numbers to conversations.
    threads: hotline_mail::Threads<InteractionId>,
    /// Acknowledgements sent per sender, so that a flood gets few.
    acks: email::Acks,
    /// Open text conversations by the customer's number.
    sms_open: HashMap<String, InteractionId>,
}

impl State {
    fn agent_tx(&mut self, agent: &str) -> broadcast::Sender<Value> {
        self.agents
            .entry(agent.to_string())
            .or_insert_with(|| broadcast::channel(256).0)
            .clone()
    }

    fn push_agent(&mut self, agent: &str, v: Value) {
        let _ = self.agent_tx(agent).send(v);
    }
}

struct Inner {
    shared: Arc<Shared>,
    state: parking_lot::Mutex<State>,
    /// Chat queues by name (channel `chat` in the configuration), in configuration order.
    queues: parking_lot::RwLock<Vec<String>>,
    /// E-mail queues by name (channel `email`).
    email_queues: parking_lot::RwLock<Vec<String>>,
    /// The centre's mailboxes, by address in lower case.
    mailboxes: parking_lot::RwLock<HashMap<String, email::MailboxInfo>>,
    /// Where composed e-mails go to be sent (the mailboxes' SMTP side).
    outbox: mpsc::UnboundedSender<OutMail>,
    /// Held while a fetched e-mail is placed: two mailboxes that see one message (or one
    /// mailbox's old and new task across a live change) place it once.
    email_intake: tokio::sync::Mutex<()>,
    /// The centre's number for text messages, and where replies go to be sent.
    sms: parking_lot::RwLock<Option<sms::SmsInfo>>,
    sms_outbox: mpsc::UnboundedSender<OutSms>,
    /// Agents' display names. Shared, not copied: every message takes them, and a copy of
    /// a large centre's (thousands of agents) cost more than the rest of the message.
    names: parking_lot::RwLock<Arc<HashMap<String, String>>>,
    /// True once the open conversations are read back from the log after a start.
    restored: tokio::sync::watch::Sender<bool>,
}

/// The centre's web chats.
#[derive(Clone)]
pub struct Chats {
    inner: Arc<Inner>,
}

impl Chats {
    pub(crate) fn start(shared: Arc<Shared>, cfg: &hotline_config::Config) -> (Chats, Outboxes) {
        let (outbox, mail) = mpsc::unbounded_channel();
        let (sms_outbox, sms) = mpsc::unbounded_channel();
        let chats = Chats {
            inner: Arc::new(Inner {
                shared,
                state: Default::default(),
                queues: Default::default(),
                email_queues: Default::default(),
                mailboxes: Default::default(),
                outbox,
                email_intake: tokio::sync::Mutex::new(()),
                sms: Default::default(),
                sms_outbox,
                names: Default::default(),
                restored: tokio::sync::watch::Sender::new(false),
            }),
        };
        chats.configure(cfg);
        let weak = Arc::downgrade(&chats.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                Chats { inner }.sweep(Instant::now()).await;
            }
        });
        (chats, Outboxes { mail, sms })
    }

    /// Takes the chat queues and the agents' names of `cfg` (at start and on a live change).
    pub(crate) fn configure(&self, cfg: &hotline_config::Config) {
        *self.inner.queues.write() = cfg
            .queues
            .iter()
            .filter(|q| q.channel == hotline_config::QueueChannel::Chat)
            .map(|q| q.name.get_ref().clone())
            .collect();
        *self.inner.email_queues.write() = cfg
            .queues
            .iter()
            .filter(|q| q.channel == hotline_config::QueueChannel::Email)
            .map(|q| q.name.get_ref().clone())
            .collect();
        *self.inner.mailboxes.write() = cfg
            .mailboxes
            .iter()
            .map(|m| {
                let info = email::MailboxInfo::from_config(m, cfg);
                (info.address.to_ascii_lowercase(), info)
            })
            .collect();
        *self.inner.sms.write() = cfg.sms.as_ref().map(sms::SmsInfo::from_config);
        *self.inner.names.write() = Arc::new(
            cfg.agents
                .iter()
                .map(|a| {
                    let n = if a.name.is_empty() {
                        a.extension.get_ref().clone()
                    } else {
                        a.name.clone()
                    };
                    (a.extension.get_ref().clone(), n)
                })
                .collect(),
        );
    }

    /// Where customers' files are kept: one directory per conversation.
    pub fn attachments_dir(&self) -> std::path::PathBuf {
        let rec = &self.inner.shared.recordings;
        rec.parent().unwrap_or(rec).join("attachments")
    }

    /// The queues a widget may ask for.
    pub fn queues(&self) -> Vec<String> {
        self.inner.queues.read().clone()
    }

    fn store(&self) -> &hotline_store::Store {
        &self.inner.shared.store
    }

    async fn log(&self, id: InteractionId, kind: EventKind) -> Result<u64, ChatError> {
        let ev = InteractionEvent::new(id, Timestamp::now(), kind);
        self.store()
            .append_one(Event::Interaction(ev))
            .await
            .map(|s| s.0)
            .map_err(log_error)
    }

    /// Starts a conversation: logged and queued before it returns.
    pub async fn begin(&self, req: StartChat) -> Result<Joined, ChatError> {
        let name: String = req.name.trim().chars().take(100).collect();
        if name.is_empty() {
            return Err(ChatError::new("bad_request", "a name is needed"));
        }
        let queue = {
            let queues = self.inner.queues.read();
            match req.queue.as_deref() {
                None | Some("") => queues.first().cloned(),
                Some(q) => queues.iter().find(|x| *x == q).cloned(),
            }
        }
        .ok_or_else(|| match &req.queue {
            Some(q) if !q.is_empty() => {
                ChatError::new("unknown_queue", format!("`{q}` is not a chat queue"))
            }
            _ => ChatError::new("chat_closed", "this centre has no chat queue"),
        })?;
        if self.open_count() >= MAX_CONVERSATIONS {
            return Err(ChatError::new(
                "busy",
                "too many conversations are open; try again later",
            ));
        }
        let phone = req
            .phone
            .as_deref()
            .and_then(hotline_model::normalize_phone);
        let email = req
            .email
            .as_deref()
            .and_then(hotline_model::normalize_email);
        // The customer, by the number given, else by the address.
        let mut customer = match &phone {
            Some(p) => self.store().customer_by_phone(p).await.ok().flatten(),
            None => None,
        };
        if customer.is_none()
            && let Some(e) = &email
        {
            customer = self.store().customer_by_email(e).await.ok().flatten();
        }
        let token = new_token().ok_or_else(|| {
            ChatError::new(
                "unavailable",
                "no system randomness for the conversation's token",
            )
        })?;
        let id = InteractionId::new();
        let from = email
            .clone()
            .or(phone.clone())
            .unwrap_or_else(|| name.clone());
        let page: String = req.page.unwrap_or_default().chars().take(500).collect();
        let language = match req.language.as_deref() {
            Some("en") => "en",
            _ => "zh",
        }
        .to_string();
        let key = key_of(&token);
        let mut events = vec![
            EventKind::Arrived {
                channel: Channel::Chat,
                from: from.clone(),
                to: if page.is_empty() { "web".into() } else { page },
                trunk: None,
            },
            // So that the widget can take it up again after a restart (only the token's
            // digest is kept).
            EventKind::ChatSession {
                key: key.clone(),
                name: name.clone(),
                language: language.clone(),
            },
        ];
        if let Some(c) = &customer {
            events.push(EventKind::CustomerIdentified {
                customer: c.id.clone(),
            });
        }
        events.push(EventKind::Queued {
            queue: QueueName::new(queue.clone()),
            priority: 0,
        });
        let now = Timestamp::now();
        let batch: Vec<Event> = events
            .into_iter()
            .map(|k| Event::Interaction(InteractionEvent::new(id, now, k)))
            .collect();
        self.store()
            .append(batch)
            .await
            .map_err(|e| ChatError::new("log_unavailable", format!("the event log: {e}")))?;
        let (pushes, rx) = broadcast::channel(256);
        {
            let mut st = self.inner.state.lock();
            st.by_token.insert(key.clone(), id);
            st.convs.insert(
                id,
                Conv {
                    customer: customer.as_ref().map(|c| c.id.clone()),
                    vip: customer.as_ref().is_some_and(|c| c.vip),
                    language,
                    token: key,
                    pushes,
                    watchers: 1,
                    ..Conv::queued(queue.clone(), name.clone(), from, now)
                },
            );
        }
        if let Err(e) = self.enqueue(id, queue, None, 0).await {
            self.close(id, EndReason::Error, "error").await;
            return Err(e);
        }
        let names = self.inner.names.read().clone();
        let st = self.inner.state.lock();
        let conv = st.convs.get(&id).ok_or_else(gone)?;
        Ok(Joined {
            conversation: id,
            token,
            replay: vec![conv.state_push(&names)],
            pushes: rx,
        })
    }

    /// A widget comes back (a reconnection, a reload) with its token: the state and the
    /// messages after `since`.
    pub async fn resume(&self, token: &str, since: u64) -> Result<Joined, ChatError> {
        // After a start, the conversation may not be read back yet: wait for that, rather
        // than tell the widget that its conversation is over.
        let mut restored = self.inner.restored.subscribe();
        // (The watch's guard is let go at once: it may not be held across an await.)
        let ready = matches!(
            tokio::time::timeout(RESTORE_WAIT, restored.wait_for(|done| *done)).await,
            Ok(Ok(_))
        );
        if !ready {
            return Err(ChatError::new(
                "unavailable",
                "the centre is starting; try again in a moment",
            ));
        }
        // A chat read back after a restart waits for its widget: now it is back, in line.
        let waiting = {
            let st = self.inner.state.lock();
            st.by_token.get(&key_of(token)).copied().filter(|id| {
                st.convs
                    .get(id)
                    .is_some_and(|c| !c.is_remote() && matches!(c.phase, Phase::Pending { .. }))
            })
        };
        if let Some(id) = waiting {
            self.requeue_pending(id).await?;
        }
        let names = self.inner.names.read().clone();
        let mut st = self.inner.state.lock();
        let id = *st.by_token.get(&key_of(token)).ok_or_else(|| {
            ChatError::new(
                "not_found",
                "this conversation is over; start a new one to write to us",
            )
        })?;
        let conv = st.convs.get_mut(&id).ok_or_else(gone)?;
        conv.watchers += 1;
        conv.unwatched_since = None;
        let mut replay = vec![conv.state_push(&names)];
        replay.extend(
            conv.messages
                .iter()
                .filter(|m| m.seq > since)
                .map(|m| msg_json(id, m, &names)),
        );
        if conv.agent_read > 0 {
            replay.push(json!({"type": "read", "by": "agent", "upto": conv.agent_read}));
        }
        Ok(Joined {
            conversation: id,
            token: token.to_string(),
            replay,
            pushes: conv.pushes.subscribe(),
        })
    }

    /// The conversation a token opens, without counting a watcher (a file's download).
    pub fn by_token(&self, token: &str) -> Option<InteractionId> {
        self.inner
            .state
            .lock()
            .by_token
            .get(&key_of(token))
            .copied()
    }

    /// Room for one more file of `size` bytes from the customer of `token`: refused once the
    /// conversation is over or its files reach [`MAX_FILES`] or [`MAX_FILE_BYTES_TOTAL`].
    pub fn may_upload(&self, token: &str, size: u64) -> Result<InteractionId, ChatError> {
        let st = self.inner.state.lock();
        let id = *st.by_token.get(&key_of(token)).ok_or_else(gone)?;
        let c = st.convs.get(&id).ok_or_else(gone)?;
        if matches!(
            c.phase,
            Phase::Ended { .. } | Phase::Left | Phase::Pending { .. }
        ) || c.is_remote()
        {
            return Err(ChatError::new("ended", "this conversation is over"));
        }
        let total: u64 = c.uploads.values().map(|a| a.size).sum();
        if c.uploads.len() >= MAX_FILES || total + size > MAX_FILE_BYTES_TOTAL {
            return Err(ChatError::new(
                "too_many_files",
                format!(
                    "a conversation takes at most {MAX_FILES} files and {} MiB",
                    MAX_FILE_BYTES_TOTAL / (1024 * 1024)
                ),
            ));
        }
        Ok(id)
    }

    /// A file the customer uploaded (stored by the caller): a message may then name it.
    pub fn uploaded(&self, id: InteractionId, a: Attachment) {
        if let Some(c) = self.inner.state.lock().convs.get_mut(&id) {
            c.uploads.insert(a.path.clone(), a);
        }
    }

    /// The widget's connection closed.
    pub fn unwatch(&self, id: InteractionId) {
        let mut st = self.inner.state.lock();
        if let Some(c) = st.convs.get_mut(&id) {
            c.watchers = c.watchers.saturating_sub(1);
            if c.watchers == 0 {
                c.unwatched_since = Some(Instant::now());
            }
        }
    }

    fn check_text(text: &str, attachments: &[Attachment]) -> Result<String, ChatError> {
        let text = text.trim();
        if text.is_empty() && attachments.is_empty() {
            return Err(ChatError::new("bad_request", "the message is empty"));
        }
        if text.chars().count() > MAX_MESSAGE_CHARS {
            return Err(ChatError::new(
                "too_long",
                format!("a message holds at most {MAX_MESSAGE_CHARS} characters"),
            ));
        }
        Ok(text.to_string())
    }

    /// A customer's message; `Ok(seq)` once durable (the same seq again for a `client_id`
    /// already kept).
    pub async fn customer_says(
        &self,
        id: InteractionId,
        client_id: Option<String>,
        text: &str,
        mut attachments: Vec<Attachment>,
    ) -> Result<u64, ChatError> {
        let text = Self::check_text(text, &attachments)?;
        if attachments.len() > hotline_model::MAX_ATTACHMENTS {
            return Err(ChatError::new(
                "bad_request",
                format!("at most {} files a message", hotline_model::MAX_ATTACHMENTS),
            ));
        }
        let client_id: Option<String> = client_id.map(|c| c.chars().take(64).collect());
        {
            let mut st = self.inner.state.lock();
            let conv = st.convs.get_mut(&id).ok_or_else(gone)?;
            if matches!(conv.phase, Phase::Ended { .. } | Phase::Left) || conv.is_remote() {
                return Err(ChatError::new("ended", "this conversation is over"));
            }
            if conv.messages.len() >= MAX_MESSAGES {
                return Err(ChatError::new(
                    "too_many_messages",
                    "this conversation is full; please start a new one",
                ));
            }
            // Only files uploaded to this conversation, described as the centre saw them.
            for a in attachments.iter_mut() {
                let Some(known) = conv.uploads.get(&a.path) else {
                    return Err(ChatError::new(
                        "bad_attachment",
                        format!("`{}` was not uploaded to this conversation", a.name),
                    ));
                };
                *a = known.clone();
            }
            if let Some(c) = &client_id
                && conv.client_ids.contains(c)
            {
                if let Some(m) = conv
                    .messages
                    .iter()
                    .find(|m| m.client_id.as_ref() == Some(c))
                {
                    return Ok(m.seq);
                }
                return Err(ChatError::new("pending", "this message is being kept"));
            }
            let now = Instant::now();
            while conv
                .recent
                .front()
                .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(10))
            {
                conv.recent.pop_front();
            }
            if conv.recent.len() >= CUSTOMER_BURST {
                return Err(ChatError::new(
                    "too_many_messages",
                    "please wait a moment before sending more",
                ));
            }
            conv.recent.push_back(now);
            if let Some(c) = &client_id {
                conv.client_ids.insert(c.clone());
            }
        }
        self.post(
            id,
            Sender::Customer,
            None,
            text,
            attachments,
            client_id,
            None,
        )
        .await
    }

    /// Logs a message and pushes it to both sides.
    #[allow(clippy::too_many_arguments)]
    async fn post(
        &self,
        id: InteractionId,
        sender: Sender,
        agent: Option<String>,
        text: String,
        attachments: Vec<Attachment>,
        client_id: Option<String>,
        subject: Option<String>,
    ) -> Result<u64, ChatError> {
        let at = Timestamp::now();
        let seq = self
            .log(
                id,
                EventKind::Message {
                    sender,
                    agent: agent.clone().map(AgentId::new),
                    text: text.clone(),
                    attachments: attachments.clone(),
                    client_id: client_id.clone(),
                    subject: subject.clone(),
                },
            )
            .await;
        let seq = match seq {
            Ok(s) => s,
            Err(e) => {
                if let Some(c) = &client_id
                    && let Some(conv) = self.inner.state.lock().convs.get_mut(&id)
                {
                    conv.client_ids.remove(c);
                }
                return Err(e);
            }
        };
        let names = self.inner.names.read().clone();
        let mut st = self.inner.state.lock();
        let Some(conv) = st.convs.get_mut(&id) else {
            return Ok(seq);
        };
        let m = Msg {
            seq,
            sender,
            agent,
            text,
            attachments,
            client_id,
            subject,
            at,
            status: None,
        };
        let v = msg_json(id, &m, &names);
        // Appends commit in order, but two posts may reach this lock out of order.
        let pos = conv.messages.partition_point(|x| x.seq < seq);
        conv.messages.insert(pos, m);
        let _ = conv.pushes.send(v.clone());
        let to = match &conv.phase {
            Phase::Active { agent } => Some(agent.clone()),
            _ => None,
        };
        if let Some(a) = to {
            st.push_agent(&a, v);
        }
        Ok(seq)
    }

    /// A typing indicator from one side to the other.
    pub fn typing(&self, id: InteractionId, from: Sender, agent: Option<&str>, on: bool) {
        let mut st = self.inner.state.lock();
        let Some(conv) = st.convs.get(&id) else {
            return;
        };
        match (from, &conv.phase) {
            (Sender::Customer, Phase::Active { agent }) => {
                let agent = agent.clone();
                st.push_agent(
                    &agent,
                    json!({"type": "typing", "conversation": id, "on": on}),
                );
            }
            (Sender::Agent, Phase::Active { agent: a }) if Some(a.as_str()) == agent => {
                let _ = conv.pushes.send(json!({"type": "typing", "on": on}));
            }
            _ => {}
        }
    }

    /// One side has read the messages up to `upto`: logged when it moves forward, and
    /// shown to the other side as a read receipt.
    pub async fn read(
        &self,
        id: InteractionId,
        by: Sender,
        agent: Option<&str>,
        upto: u64,
    ) -> Result<(), ChatError> {
        {
            let mut st = self.inner.state.lock();
            let conv = st.convs.get_mut(&id).ok_or_else(gone)?;
            let last = conv.messages.last().map_or(0, |m| m.seq);
            let upto = upto.min(last);
            let mark = match by {
                Sender::Customer => &mut conv.customer_read,
                _ => {
                    if conv.agent.as_deref() != agent {
                        return Err(ChatError::new("not_yours", "not your conversation"));
                    }
                    &mut conv.agent_read
                }
            };
            if upto <= *mark {
                return Ok(());
            }
            *mark = upto;
            let v = json!({"type": "read", "conversation": id, "by": by, "upto": upto});
            match by {
                Sender::Customer => {
                    if let Some(a) = conv.agent.clone() {
                        st.push_agent(&a, v);
                    }
                }
                _ => {
                    let _ = conv.pushes.send(v);
                }
            }
        }
        self.log(id, EventKind::MessagesRead { by, upto })
            .await
            .map(|_| ())
    }

    /// The customer ends the chat (or leaves the line).
    pub async fn customer_ends(&self, id: InteractionId) -> Result<(), ChatError> {
        let phase = self
            .inner
            .state
            .lock()
            .convs
            .get(&id)
            .map(|c| c.phase.clone())
            .ok_or_else(gone)?;
        match phase {
            Phase::Queued { .. } | Phase::Offered { .. } => {
                self.abandon(id).await;
            }
            Phase::Active { .. } => self.close(id, EndReason::CallerHangup, "customer").await,
            Phase::Left | Phase::Ended { .. } | Phase::Pending { .. } => {}
        }
        Ok(())
    }

    async fn abandon(&self, id: InteractionId) {
        let waiting = {
            let st = self.inner.state.lock();
            let Some(c) = st.convs.get(&id) else { return };
            matches!(c.phase, Phase::Queued { .. } | Phase::Offered { .. })
                .then(|| c.queued_at.elapsed().as_secs_f64())
        };
        let Some(waited) = waiting else {
            return self.close(id, EndReason::CallerHangup, "customer").await;
        };
        let _ = self
            .log(id, EventKind::Abandoned { wait_secs: waited })
            .await;
        self.close(id, EndReason::Abandoned, "customer").await;
    }

    /// Ends the conversation once: the routing engine lets go of it (an answered chat
    /// gives the agent's capacity back, a waiting one leaves the line; sent under the lock,
    /// so that no re-queue can slip in between), both sides are told, and `ended` is logged.
    async fn close(&self, id: InteractionId, reason: EndReason, by: &'static str) {
        {
            let mut st = self.inner.state.lock();
            let Some(c) = st.convs.get_mut(&id) else {
                return;
            };
            let was = std::mem::replace(&mut c.phase, Phase::Ended { by });
            if matches!(was, Phase::Ended { .. }) {
                c.phase = was;
                return;
            }
            c.ended_at = Some(Instant::now());
            let contact = c.contact;
            let router = &self.inner.shared.router;
            match &was {
                Phase::Active { .. } => {
                    let _ = router.send(RouterCmd::End {
                        contact,
                        agitation: None,
                        abusive: false,
                    });
                }
                Phase::Queued { .. } | Phase::Offered { .. } => {
                    let _ = router.send(RouterCmd::Abandon(contact));
                }
                Phase::Left | Phase::Ended { .. } | Phase::Pending { .. } => {}
            }
            let _ = c.pushes.send(if matches!(was, Phase::Left) {
                json!({"type": "state", "phase": "left"})
            } else {
                json!({
                    "type": "state", "phase": "ended", "by": by, "rated": c.rated,
                    "answered": c.agent.is_some(),
                })
            });
            let agent = c.agent.clone();
            if matches!(was, Phase::Pending { .. }) {
                // The agent let go of it already (and wrapped it up then).
            } else if let Some(a) = &agent {
                st.push_agent(a, json!({"type": "ended", "conversation": id, "by": by}));
            } else if let Phase::Offered { agent: a } = &was {
                st.push_agent(a, json!({"type": "rescinded", "conversation": id}));
            }
        }
        let _ = self.log(id, EventKind::Ended { reason }).await;
    }

    /// Ends a conversation that waited for the customer too long, unless the customer
    /// wrote meanwhile (checked and ended under one lock, so a reply is never ended).
    async fn expire(&self, id: InteractionId) {
        {
            let mut st = self.inner.state.lock();
            let Some(c) = st.convs.get_mut(&id) else {
                return;
            };
            if !matches!(c.phase, Phase::Pending { .. }) {
                return;
            }
            c.phase = Phase::Ended { by: "timeout" };
            c.ended_at = Some(Instant::now());
        }
        let _ = self
            .log(
                id,
                EventKind::Ended {
                    reason: EndReason::Timeout,
                },
            )
            .await;
    }

    /// The customer's rating, 1 to 5, once the chat is over.
    pub async fn rate(&self, id: InteractionId, score: u8) -> Result<(), ChatError> {
        if !(1..=5).contains(&score) {
            return Err(ChatError::new("bad_request", "a rating is 1 to 5"));
        }
        {
            let mut st = self.inner.state.lock();
            let c = st.convs.get_mut(&id).ok_or_else(gone)?;
            if !matches!(c.phase, Phase::Ended { .. }) || c.agent.is_none() {
                return Err(ChatError::new(
                    "not_ended",
                    "a conversation with an agent is rated once it is over",
                ));
            }
            if c.rated {
                return Err(ChatError::new(
                    "rated",
                    "this conversation is rated already",
                ));
            }
            c.rated = true;
        }
        self.log(id, EventKind::Surveyed { score })
            .await
            .map(|_| ())
    }

    /// A customer who waited too long leaves a message (and a number to call back): the
    /// chat leaves the queue, and the message is kept for the agents' callbacks list.
    pub async fn leave_message(
        &self,
        id: InteractionId,
        text: &str,
        phone: Option<&str>,
    ) -> Result<(), ChatError> {
        let text = Self::check_text(text, &[])?;
        let number = phone.and_then(hotline_model::normalize_phone);
        {
            let mut st = self.inner.state.lock();
            let c = st.convs.get_mut(&id).ok_or_else(gone)?;
            if !matches!(c.phase, Phase::Queued { .. }) {
                return Err(ChatError::new(
                    "not_waiting",
                    "a message is left while waiting in line",
                ));
            }
            c.phase = Phase::Left;
            // Out of the line at once (under the lock: nothing re-queues it meanwhile).
            let _ = self.inner.shared.router.send(RouterCmd::Abandon(c.contact));
        }
        let posted = self
            .post(id, Sender::Customer, None, text, Vec::new(), None, None)
            .await;
        let asked = match (&posted, number) {
            (Ok(_), Some(n)) => self
                .log(
                    id,
                    EventKind::CallbackRequested {
                        number: n,
                        keeps_place: false,
                    },
                )
                .await
                .map(|_| ()),
            _ => Ok(()),
        };
        // Whatever was kept, the conversation is over.
        self.close(id, EndReason::Voicemail, "customer").await;
        posted.and(asked)
    }

    // ---- the agent's side ------------------------------------------------------------

    /// The pushes for one agent's desktop: offers, messages, typing, read receipts, ends.
    pub fn agent_pushes(&self, agent: &str) -> broadcast::Receiver<Value> {
        self.inner.state.lock().agent_tx(agent).subscribe()
    }

    /// The agent's conversations (offered, active, and ended ones not yet gone), each with
    /// its transcript.
    pub fn agent_conversations(&self, agent: &str) -> Vec<Value> {
        let st = self.inner.state.lock();
        let mut out: Vec<(Timestamp, Value)> = st
            .convs
            .iter()
            .filter(|(_, c)| {
                (c.agent.as_deref() == Some(agent) && !matches!(c.phase, Phase::Pending { .. }))
                    || matches!(&c.phase, Phase::Offered { agent: a } if a == agent)
            })
            .map(|(id, c)| (c.started, self.conversation_json(*id, c)))
            .collect();
        out.sort_by_key(|(t, _)| *t);
        out.into_iter().map(|(_, v)| v).collect()
    }

    /// One conversation, if `agent` may see it (`None`: a supervisor, any).
    pub fn conversation(&self, id: InteractionId, agent: Option<&str>) -> Option<Value> {
        let st = self.inner.state.lock();
        let c = st.convs.get(&id)?;
        if let Some(a) = agent {
            let offered = matches!(&c.phase, Phase::Offered { agent: x } if x == a);
            if c.agent.as_deref() != Some(a) && !offered {
                return None;
            }
        }
        Some(self.conversation_json(id, c))
    }

    fn conversation_json(&self, id: InteractionId, c: &Conv) -> Value {
        let names = self.inner.names.read();
        let (phase, agent) = match &c.phase {
            Phase::Queued { .. } => ("queued", None),
            Phase::Offered { agent } => ("offered", Some(agent.clone())),
            Phase::Active { agent } => ("active", Some(agent.clone())),
            Phase::Left => ("left", None),
            Phase::Pending { .. } => ("pending", c.agent.clone()),
            Phase::Ended { .. } => ("ended", c.agent.clone()),
        };
        let mut v = json!({
            "id": id,
            "channel": c.channel(),
            "phase": phase,
            "agent": agent,
            "queue": c.queue,
            "name": c.name,
            "from": c.from,
            "customer": c.customer,
            "language": c.language,
            "started": c.started,
            "customer_read": c.customer_read,
            "agent_read": c.agent_read,
            "messages": c.messages.iter().map(|m| msg_json(id, m, &names)).collect::<Vec<_>>(),
        });
        if let Some(e) = &c.email {
            v["email"] = e.json();
        }
        if let Some(s) = &c.sms {
            v["sms"] = s.json();
        }
        if let Some(d) = &c.wrapped {
            v["wrapped"] = json!(d);
        }
        v
    }

    /// The agent wrapped up the conversation's latest round.
    pub fn wrapped_up(&self, id: InteractionId, disposition: &str) {
        if let Some(c) = self.inner.state.lock().convs.get_mut(&id) {
            c.wrapped = Some(disposition.to_string());
        }
    }

    /// The agent takes the conversation offered to it.
    pub async fn accept(&self, id: InteractionId, agent: &str) -> Result<(), ChatError> {
        let contact = {
            let st = self.inner.state.lock();
            let c = st.convs.get(&id).ok_or_else(gone)?;
            match &c.phase {
                Phase::Offered { agent: a } if a == agent => c.contact,
                _ => {
                    return Err(ChatError::new(
                        "not_offered",
                        "this conversation is not offered to you (any more)",
                    ));
                }
            }
        };
        let (done, result) = oneshot::channel();
        let _ = self.inner.shared.router.send(RouterCmd::Answer {
            contact,
            agent: agent.to_string(),
            done,
        });
        result
            .await
            .unwrap_or_else(|_| Err("the router has stopped".into()))
            .map_err(|e| ChatError::new("not_offered", e))?;
        {
            // The customer may have left while the engine connected it: then the engine
            // has let go of it again (the abandon came after the answer), and it stays over.
            let mut st = self.inner.state.lock();
            let c = st.convs.get_mut(&id).ok_or_else(gone)?;
            if !matches!(&c.phase, Phase::Offered { agent: a } if a == agent) {
                return Err(ChatError::new("ended", "the customer has left"));
            }
            c.phase = Phase::Active {
                agent: agent.to_string(),
            };
            c.agent = Some(agent.to_string());
        }
        if let Err(e) = self
            .log(
                id,
                EventKind::Answered {
                    agent: AgentId::new(agent),
                },
            )
            .await
        {
            tracing::warn!(conversation = %id, error = %e.message, "an answered chat is not in the log");
        }
        let names = self.inner.names.read().clone();
        let mut st = self.inner.state.lock();
        let Some(c) = st.convs.get_mut(&id) else {
            return Err(gone());
        };
        if !matches!(c.phase, Phase::Active { .. }) {
            return Err(ChatError::new("ended", "the customer has left"));
        }
        let _ = c.pushes.send(c.state_push(&names));
        let v = self.conversation_json(id, c);
        st.push_agent(agent, json!({"type": "accepted", "conversation": v}));
        Ok(())
    }

    /// The agent turns the offer down: the conversation waits for another agent (not this
    /// one, for the routing engine's retry time).
    pub async fn decline(&self, id: InteractionId, agent: &str) -> Result<(), ChatError> {
        {
            let mut st = self.inner.state.lock();
            let c = st.convs.get_mut(&id).ok_or_else(gone)?;
            if !matches!(&c.phase, Phase::Offered { agent: a } if a == agent) {
                return Err(ChatError::new(
                    "not_offered",
                    "this conversation is not offered to you",
                ));
            }
            c.phase = Phase::Queued {
                position: 1,
                eta_secs: 0,
            };
            let _ = self.inner.shared.router.send(RouterCmd::Reject {
                contact: c.contact,
                agent: agent.to_string(),
                refusal: Refusal::Declined,
            });
            st.push_agent(agent, json!({"type": "rescinded", "conversation": id}));
        }
        let _ = self
            .log(
                id,
                EventKind::OfferRejected {
                    agent: AgentId::new(agent),
                    reason: "declined".into(),
                },
            )
            .await;
        Ok(())
    }

    fn own_active(&self, id: InteractionId, agent: &str) -> Result<ContactId, ChatError> {
        let st = self.inner.state.lock();
        let c = st.convs.get(&id).ok_or_else(gone)?;
        match &c.phase {
            Phase::Active { agent: a } if a == agent => Ok(c.contact),
            _ => Err(ChatError::new(
                "not_yours",
                "this conversation is not open with you",
            )),
        }
    }

    /// The agent's message; `Ok(seq)` once durable.
    pub async fn agent_says(
        &self,
        id: InteractionId,
        agent: &str,
        text: &str,
    ) -> Result<u64, ChatError> {
        let text = Self::check_text(text, &[])?;
        self.own_active(id, agent)?;
        match self.channel_of(id) {
            Some("email") => return self.email_reply(id, agent, text).await,
            Some("sms") => return self.sms_reply(id, agent, text).await,
            _ => {}
        }
        self.post(
            id,
            Sender::Agent,
            Some(agent.to_string()),
            text,
            Vec::new(),
            None,
            None,
        )
        .await
    }

    fn channel_of(&self, id: InteractionId) -> Option<&'static str> {
        self.inner.state.lock().convs.get(&id).map(Conv::channel)
    }

    /// The agent ends the conversation. An e-mail the agent has answered waits for the
    /// customer's reply instead (unless `close`): the agent's capacity is given back, and
    /// the reply queues it again.
    pub async fn agent_ends(
        &self,
        id: InteractionId,
        agent: &str,
        close: bool,
    ) -> Result<(), ChatError> {
        self.own_active(id, agent)?;
        if !close {
            if self.awaits_reply(id, agent) {
                return Ok(());
            }
            if matches!(self.channel_of(id), Some("email" | "sms")) {
                return Err(ChatError::new(
                    "not_answered",
                    "answer the customer's latest message first, or close the case",
                ));
            }
        }
        self.close(id, EndReason::AgentHangup, "agent").await;
        Ok(())
    }

    /// The agent hands the conversation to a queue (of channel `chat`) or a colleague: it
    /// waits there with its transcript, and the agent's capacity is given back.
    pub async fn transfer(
        &self,
        id: InteractionId,
        agent: &str,
        to: &str,
    ) -> Result<(), ChatError> {
        let old = self.own_active(id, agent)?;
        let queues = if self.channel_of(id) == Some("email") {
            self.inner.email_queues.read().clone()
        } else {
            self.queues()
        };
        let names = self.inner.names.read().clone();
        let (queue, preferred, target) = if queues.iter().any(|q| q == to) {
            (to.to_string(), None, Target::Queue(QueueName::new(to)))
        } else if names.contains_key(to) && to != agent {
            let q = self
                .inner
                .state
                .lock()
                .convs
                .get(&id)
                .map(|c| c.queue.clone())
                .ok_or_else(gone)?;
            (q, Some(to.to_string()), Target::Agent(AgentId::new(to)))
        } else {
            return Err(ChatError::new(
                "bad_target",
                format!("`{to}` is neither a queue of this channel nor a colleague"),
            ));
        };
        {
            // Handed on at once, under the lock: the agent's capacity is given back, and an
            // end coming meanwhile finds the chat waiting, not with this agent.
            let mut st = self.inner.state.lock();
            let c = st.convs.get_mut(&id).ok_or_else(gone)?;
            if !matches!(&c.phase, Phase::Active { agent: a } if a == agent) {
                return Err(ChatError::new(
                    "not_yours",
                    "this conversation is not open with you",
                ));
            }
            let _ = self.inner.shared.router.send(RouterCmd::End {
                contact: old,
                agitation: None,
                abusive: false,
            });
            c.agent = None;
            c.agent_read = 0;
            c.phase = Phase::Queued {
                position: 0,
                eta_secs: 0,
            };
            c.queued_at = Instant::now();
            let _ = c.pushes.send(c.state_push(&names));
            st.push_agent(
                agent,
                json!({"type": "ended", "conversation": id, "by": "transfer"}),
            );
        }
        let logged = self
            .log(id, EventKind::Transferred { to: target })
            .await
            .and(
                self.log(
                    id,
                    EventKind::Queued {
                        queue: QueueName::new(queue.clone()),
                        priority: 0,
                    },
                )
                .await,
            );
        if let Err(e) = logged {
            tracing::warn!(conversation = %id, error = %e.message, "a chat's transfer is not in the log");
        }
        if let Err(e) = self.enqueue(id, queue, preferred, 0).await {
            self.close(id, EndReason::Error, "error").await;
            return Err(e);
        }
        Ok(())
    }

    /// Puts the conversation in line in `queue` under a new routing contact (its first
    /// time, a transfer, or again after the queue's maximum wait), and follows the
    /// router's notices for it.
    fn enqueue(
        &self,
        id: InteractionId,
        queue: String,
        preferred_agent: Option<String>,
        priority: i32,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), ChatError>> + Send + '_>> {
        Box::pin(async move {
            let contact = ContactId(
                self.inner
                    .shared
                    .next_contact
                    .fetch_add(1, Ordering::Relaxed),
            );
            let (notify, notices) = mpsc::unbounded_channel();
            let (done, result) = oneshot::channel();
            {
                // Sent under the lock: an end that comes later finds this contact and
                // takes it out of the line; one that came first leaves nothing to queue.
                let mut st = self.inner.state.lock();
                let c = st.convs.get_mut(&id).ok_or_else(gone)?;
                if !matches!(c.phase, Phase::Queued { .. }) {
                    return Err(ChatError::new("ended", "this conversation is over"));
                }
                c.contact = contact;
                c.queue = queue.clone();
                let _ = self.inner.shared.router.send(RouterCmd::Arrive {
                    contact,
                    queue,
                    priority,
                    vip: c.vip,
                    escalate: false,
                    preferred_agent,
                    skills: Vec::new(),
                    notify,
                    done,
                });
            }
            result
                .await
                .unwrap_or_else(|_| Err("the router has stopped".into()))
                .map_err(|e| ChatError::new("unavailable", e))?;
            let this = self.clone();
            tokio::spawn(async move { this.follow_router(id, contact, notices).await });
            Ok(())
        })
    }

    // ---- the router's notices --------------------------------------------------------

    async fn follow_router(
        &self,
        id: InteractionId,
        mine: ContactId,
        mut notices: mpsc::UnboundedReceiver<Notice>,
    ) {
        while let Some(n) = notices.recv().await {
            // A transfer re-queues under a new contact: this follower's is over.
            let now_contact = self.inner.state.lock().convs.get(&id).map(|c| c.contact);
            if now_contact != Some(mine) {
                return;
            }
            match n {
                Notice::Position { position, eta_secs } => {
                    // The engine counts those ahead; the customer is told their place.
                    let position = position.saturating_add(1);
                    let mut st = self.inner.state.lock();
                    if let Some(c) = st.convs.get_mut(&id)
                        && matches!(c.phase, Phase::Queued { .. })
                    {
                        c.phase = Phase::Queued { position, eta_secs };
                        let _ = c.pushes.send(json!({
                            "type": "state", "phase": "queued",
                            "position": position, "eta_secs": eta_secs,
                        }));
                    }
                }
                Notice::Offer { agent, .. } => {
                    {
                        let mut st = self.inner.state.lock();
                        let Some(c) = st.convs.get_mut(&id) else {
                            return;
                        };
                        if !matches!(c.phase, Phase::Queued { .. }) {
                            // Offered elsewhere already, or over: hand it back without a
                            // strike against the agent.
                            let _ = self.inner.shared.router.send(RouterCmd::Reject {
                                contact: mine,
                                agent,
                                refusal: Refusal::Failed,
                            });
                            continue;
                        }
                        c.phase = Phase::Offered {
                            agent: agent.clone(),
                        };
                        c.wrapped = None;
                        // The desk hears of it before the log's `offered` reaches its event
                        // stream, so that it never takes the chat for a ringing call.
                        let v = self.conversation_json(id, c);
                        st.push_agent(&agent, json!({"type": "offer", "conversation": v}));
                    }
                    let _ = self
                        .log(
                            id,
                            EventKind::Offered {
                                agent: AgentId::new(agent),
                            },
                        )
                        .await;
                }
                Notice::Rescinded { agent, rang_out } => {
                    if rang_out {
                        let _ = self
                            .log(
                                id,
                                EventKind::OfferRejected {
                                    agent: AgentId::new(agent.clone()),
                                    reason: "no answer".into(),
                                },
                            )
                            .await;
                    }
                    let mut st = self.inner.state.lock();
                    let Some(c) = st.convs.get_mut(&id) else {
                        return;
                    };
                    if matches!(&c.phase, Phase::Offered { agent: a } if *a == agent) {
                        c.phase = Phase::Queued {
                            position: 1,
                            eta_secs: 0,
                        };
                        st.push_agent(&agent, json!({"type": "rescinded", "conversation": id}));
                    }
                }
                Notice::MaxWait(_) => {
                    // The customer may leave a message now; until then the chat keeps
                    // waiting (the engine let go of it: it goes in line again, ahead of
                    // those who came later).
                    let queue = {
                        let st = self.inner.state.lock();
                        let Some(c) = st.convs.get(&id) else { return };
                        if !matches!(c.phase, Phase::Queued { .. }) {
                            return;
                        }
                        let _ = c.pushes.send(json!({"type": "max_wait"}));
                        c.queue.clone()
                    };
                    if self.enqueue(id, queue, None, 1).await.is_err() {
                        self.close(id, EndReason::Error, "error").await;
                    }
                    return;
                }
                Notice::Overflowed { queue } => {
                    if let Some(c) = self.inner.state.lock().convs.get_mut(&id) {
                        c.queue = queue.clone();
                    }
                    let _ = self
                        .log(
                            id,
                            EventKind::Queued {
                                queue: QueueName::new(queue),
                                priority: 0,
                            },
                        )
                        .await;
                }
            }
        }
    }

    /// Drops customers who are gone and ended conversations past their rating time.
    async fn sweep(&self, now: Instant) {
        let mut abandon = Vec::new();
        let mut timeout = Vec::new();
        let mut expired = Vec::new();
        let mut unclaimed = Vec::new();
        let wall = Timestamp::now();
        {
            // Copied first: the state lock is never taken under another lock.
            let mailboxes: HashMap<String, u32> = self
                .inner
                .mailboxes
                .read()
                .iter()
                .map(|(k, m)| (k.clone(), m.close_after_days))
                .collect();
            let sms_hours = self
                .inner
                .sms
                .read()
                .as_ref()
                .map_or(24, |s| s.close_after_hours);
            let mut st = self.inner.state.lock();
            let mut drop = Vec::new();
            for (id, c) in &st.convs {
                let gone_for = c.unwatched_since.map(|t| now.duration_since(t));
                match &c.phase {
                    Phase::Queued { .. } | Phase::Offered { .. }
                        if gone_for.is_some_and(|d| d >= QUEUED_GONE) =>
                    {
                        abandon.push(*id)
                    }
                    Phase::Active { .. } if gone_for.is_some_and(|d| d >= ACTIVE_GONE) => {
                        timeout.push(*id)
                    }
                    // A web chat read back after a restart whose widget is not back.
                    Phase::Pending { .. } if !c.is_remote() => {
                        unclaimed.extend(gone_for.filter(|d| *d >= QUEUED_GONE).map(|_| *id))
                    }
                    Phase::Pending { since } => {
                        let hours = match &c.email {
                            Some(e) => mailboxes
                                .get(&e.mailbox.to_ascii_lowercase())
                                .map_or(7 * 24, |days| days * 24),
                            None => sms_hours,
                        };
                        let waited = wall.duration_since(*since).unwrap_or_default();
                        if waited >= Duration::from_secs(u64::from(hours) * 3600) {
                            expired.push(*id)
                        }
                    }
                    Phase::Ended { .. }
                        if c.ended_at
                            .is_some_and(|t| now.duration_since(t) >= ENDED_KEPT) =>
                    {
                        drop.push((*id, c.token.clone()))
                    }
                    _ => {}
                }
            }
            if !drop.is_empty() {
                let gone: std::collections::HashSet<InteractionId> =
                    drop.iter().map(|(id, _)| *id).collect();
                st.threads.retain(|c| !gone.contains(c));
            }
            for (id, token) in drop {
                if let Some(c) = st.convs.remove(&id)
                    && let Some(s) = &c.sms
                    && st.sms_open.get(&s.number) == Some(&id)
                {
                    st.sms_open.remove(&s.number);
                }
                st.by_token.remove(&token);
            }
            st.acks.prune(wall);
        }
        for id in abandon {
            self.abandon(id).await;
        }
        for id in timeout {
            self.close(id, EndReason::Timeout, "timeout").await;
        }
        for id in expired {
            self.expire(id).await;
        }
        for id in unclaimed {
            self.close(id, EndReason::Interrupted, "timeout").await;
        }
    }

    /// Conversations open now (for `/metrics` and the wallboard).
    pub fn open_count(&self) -> usize {
        self.inner
            .state
            .lock()
            .convs
            .values()
            .filter(|c| !matches!(c.phase, Phase::Ended { .. }))
            .count()
    }
}

/// A refused append: the event's own fault (`bad_message`: a field too long) or the log's.
fn log_error(e: hotline_store::Error) -> ChatError {
    match e {
        hotline_store::Error::Invalid(why) => ChatError::new("bad_message", why.to_string()),
        e => ChatError::new("log_unavailable", format!("the event log: {e}")),
    }
}

/// What the centre keeps of a widget's token: its SHA-256, in hex. The token itself is
/// only ever in the customer's browser.
fn key_of(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn new_token() -> Option<String> {
    let mut b = [0u8; 24];
    getrandom::fill(&mut b).ok()?;
    Some(b.iter().map(|x| format!("{x:02x}")).collect())
}
