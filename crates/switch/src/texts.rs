//! The text messages' I/O, by one of two transports (`[sms.smpp]` or `[sms.http]`).
//! Customers' messages go into the conversations ([`crate::chat::Chats::sms_in`]), agents'
//! replies go out, and what the network says of them is logged against the reply.
//!
//! - **SMPP**: one link to the carrier's SMSC. It binds as a transceiver, reconnects by
//!   itself with a growing pause, keeps the carrier's rate and backs off when throttled (see
//!   `hotline_smpp::link`). Each segment's acceptance and delivery receipt count towards the
//!   reply's status.
//! - **HTTP** ([`http`]): a provider posts customers' texts and delivery statuses to the
//!   centre's webhooks, and takes replies by a POST to its `send_url`.
//!
//! A change of `[sms]` while the centre runs takes effect at once: a new SMPP link is
//! opened and the old one unbound (what it still says of earlier replies is followed to its
//! end), or the HTTP transport takes the new settings.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hotline_model::InteractionId;
use hotline_smpp::link::{Link, LinkConfig, LinkEvent};
use hotline_smpp::{Address, MessageState, SubmitHandle, SubmitRequest};
use tokio::sync::{mpsc, watch};

use crate::chat::{ChatError, Chats, OutSms};

mod http;
pub use http::Received;

#[derive(Clone, PartialEq)]
struct SmppSetup {
    address: String,
    system_id: String,
    password: String,
    system_type: String,
    per_second: u32,
}

#[derive(Clone, PartialEq)]
enum Setup {
    Smpp(SmppSetup),
    Http(http::Setup),
}

/// A reply's submit on one link: handles are numbered per link, so the link's generation
/// is part of the key.
type Key = (u64, SubmitHandle);

/// A reply on its way: its segments' message ids and what their receipts said.
struct Sent {
    conversation: InteractionId,
    seq: u64,
    ids: Vec<String>,
    states: HashMap<String, MessageState>,
    since: Instant,
}

/// How long a reply waits for all its receipts before it is forgotten (an SMSC keeps a
/// message for at most a few days; some never send receipts).
const RECEIPTS_KEPT: Duration = Duration::from_secs(72 * 3600);
/// How long a receipt that names no reply (yet) is kept for its acceptance to come.
const EARLY_KEPT: Duration = Duration::from_secs(600);
/// How long the link's word on a handle waits for the sender to record the handle.
const UNCLAIMED_KEPT: Duration = Duration::from_secs(60);
/// Most receipts held for replies not known (yet); more are dropped.
const MAX_EARLY: usize = 10_000;
/// How often the tracking is swept of what has grown old.
const PRUNE_EVERY: Duration = Duration::from_secs(10);
/// How long an incoming text is offered again to a log that refuses it.
const LOG_RETRY_FOR: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Tracking {
    by_key: HashMap<Key, Sent>,
    /// The SMSC's message id of each segment → its reply. The ids are the SMSC's own: a
    /// receipt for a reply sent before a change of link still finds it.
    by_id: HashMap<String, Key>,
    /// Receipts that came before the acceptance naming their id (the SMSC may send them
    /// in either order).
    early: HashMap<String, (MessageState, Instant)>,
    /// What the link said of a handle before the sender recorded it.
    unclaimed: HashMap<Key, (Outcome, Instant)>,
    last_prune: Option<Instant>,
}

impl Tracking {
    /// Forgets what has waited too long: replies whose receipts never all came, receipts
    /// no reply claimed, outcomes no sender claimed.
    fn prune(&mut self, now: Instant) {
        if self
            .last_prune
            .is_some_and(|t| now.saturating_duration_since(t) < PRUNE_EVERY)
        {
            return;
        }
        self.last_prune = Some(now);
        let old = |since: Instant, kept: Duration| now.saturating_duration_since(since) > kept;
        let stale: Vec<Key> = self
            .by_key
            .iter()
            .filter(|(_, s)| old(s.since, RECEIPTS_KEPT))
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            if let Some(s) = self.by_key.remove(&k) {
                for id in &s.ids {
                    self.by_id.remove(id);
                }
            }
        }
        self.early.retain(|_, (_, at)| !old(*at, EARLY_KEPT));
        self.unclaimed
            .retain(|_, (_, at)| !old(*at, UNCLAIMED_KEPT));
    }

    /// The replies of link `generation` the SMSC never answered for.
    fn unanswered(&mut self, generation: u64) -> Vec<(InteractionId, u64)> {
        let keys: Vec<Key> = self
            .by_key
            .iter()
            .filter(|((g, _), s)| *g == generation && s.ids.is_empty())
            .map(|(k, _)| *k)
            .collect();
        keys.iter()
            .filter_map(|k| self.by_key.remove(k))
            .map(|s| (s.conversation, s.seq))
            .collect()
    }
}

enum Outcome {
    Accepted(Vec<String>),
    Failed(String),
}

enum Running {
    Smpp { generation: u64, link: Link },
    Http(Arc<http::Sender>),
}

struct Current {
    setup: Setup,
    running: Running,
}

struct Inner {
    chats: Chats,
    restored: watch::Receiver<bool>,
    current: parking_lot::Mutex<Option<Current>>,
    /// Numbers the SMPP links, so that one link's handles never match another's.
    generation: AtomicU64,
    tracking: Arc<parking_lot::Mutex<Tracking>>,
    /// The HTTP transport's ids (kept across changes of its settings).
    http: Arc<http::State>,
}

/// The centre's text messages.
#[derive(Clone)]
pub struct Texts {
    inner: Arc<Inner>,
}

fn address_of(number: &str) -> Address {
    match number.strip_prefix('+') {
        Some(digits) => Address::international(digits),
        None => Address::new(0, 1, number),
    }
}

fn number_of(a: &Address) -> String {
    if a.ton == 1 && !a.addr.starts_with('+') {
        format!("+{}", a.addr)
    } else {
        a.addr.clone()
    }
}

fn state_name(s: MessageState) -> &'static str {
    match s {
        MessageState::Enroute => "enroute",
        MessageState::Delivered => "delivered",
        MessageState::Expired => "expired",
        MessageState::Deleted => "deleted",
        MessageState::Undeliverable => "undeliverable",
        MessageState::Accepted => "accepted",
        MessageState::Unknown => "unknown",
        MessageState::Rejected => "rejected",
    }
}

impl Texts {
    pub(crate) fn start(
        chats: Chats,
        cfg: &hotline_config::Config,
        outgoing: mpsc::UnboundedReceiver<OutSms>,
        restored: watch::Receiver<bool>,
    ) -> Texts {
        let texts = Texts {
            inner: Arc::new(Inner {
                chats,
                restored,
                current: Default::default(),
                generation: AtomicU64::new(0),
                tracking: Default::default(),
                http: Default::default(),
            }),
        };
        texts.configure(cfg);
        tokio::spawn(send_all(Arc::downgrade(&texts.inner), outgoing));
        texts
    }

    /// Takes `[sms]` of `cfg` (at start and on a live change).
    pub(crate) fn configure(&self, cfg: &hotline_config::Config) {
        let wanted = cfg.sms.as_ref().and_then(|s| {
            if let Some(smpp) = &s.smpp {
                let Some(password) = smpp.password() else {
                    tracing::error!("no password for the SMSC (is `sms.smpp.password_env` set?): text messages are off");
                    return None;
                };
                return Some(Setup::Smpp(SmppSetup {
                    address: smpp.address.get_ref().clone(),
                    system_id: smpp.system_id.clone(),
                    password,
                    system_type: smpp.system_type.clone(),
                    per_second: *smpp.per_second.get_ref(),
                }));
            }
            s.http
                .as_ref()
                .and_then(http::Setup::from_config)
                .map(Setup::Http)
        });
        let mut current = self.inner.current.lock();
        if current.as_ref().map(|c| &c.setup) == wanted.as_ref() {
            return;
        }
        if let Some(old) = current.take()
            && let Running::Smpp { link, .. } = old.running
        {
            // Its follower reads on until the link has stopped: nothing the SMSC was
            // told is lost.
            tokio::spawn(link.shutdown());
        }
        let Some(setup) = wanted else { return };
        let running = match &setup {
            Setup::Smpp(s) => {
                let mut session =
                    hotline_smpp::Config::new(s.system_id.clone(), s.password.clone());
                session.system_type = s.system_type.clone();
                session.max_submits_per_second = s.per_second;
                let (link, events) = Link::spawn(LinkConfig::new(s.address.clone(), session));
                let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed) + 1;
                tokio::spawn(follow(
                    self.inner.chats.clone(),
                    self.inner.restored.clone(),
                    self.inner.tracking.clone(),
                    generation,
                    s.address.clone(),
                    events,
                ));
                Running::Smpp { generation, link }
            }
            Setup::Http(h) => {
                self.inner
                    .http
                    .rebuild(self.inner.chats.clone(), self.inner.restored.clone());
                Running::Http(Arc::new(http::Sender::new(h.clone())))
            }
        };
        *current = Some(Current { setup, running });
    }

    /// Whether the link to the SMSC is bound now.
    pub fn is_bound(&self) -> bool {
        self.inner
            .current
            .lock()
            .as_ref()
            .is_some_and(|c| match &c.running {
                Running::Smpp { link, .. } => link.is_bound(),
                Running::Http(_) => false,
            })
    }

    /// The secret the SMS provider signs its webhooks with; `None` unless texts go by
    /// HTTP.
    pub fn webhook_secret(&self) -> Option<Arc<[u8]>> {
        match &self.inner.current.lock().as_ref()?.setup {
            Setup::Http(h) => Some(h.secret.clone()),
            Setup::Smpp(_) => None,
        }
    }

    fn http_on(&self) -> Result<(), ChatError> {
        match self.inner.current.lock().as_ref().map(|c| &c.setup) {
            Some(Setup::Http(_)) => Ok(()),
            _ => Err(ChatError::new(
                "sms_http_off",
                "this centre takes no text messages by HTTP",
            )),
        }
    }

    /// A customer's text, posted by the SMS provider with its id: it joins or starts a
    /// conversation ([`Chats::sms_in`]) once, however often the provider posts it.
    /// `Ok` once it is durable in the log.
    pub async fn provider_text(
        &self,
        id: &str,
        from: &str,
        text: &str,
    ) -> Result<Received, ChatError> {
        self.http_on()?;
        self.inner
            .http
            .received(&self.inner.chats, id, from, text)
            .await
    }

    /// What the SMS provider says of the reply it gave the id `id`: logged against that
    /// reply (`Ok(true)`), or kept a while for the reply it names to be known
    /// (`Ok(false)`).
    pub async fn provider_status(&self, id: &str, status: &str) -> Result<bool, ChatError> {
        self.http_on()?;
        self.inner.http.status(&self.inner.chats, id, status).await
    }
}

/// Follows one SMPP link's events until it has stopped.
async fn follow(
    chats: Chats,
    mut restored: watch::Receiver<bool>,
    tracking: Arc<parking_lot::Mutex<Tracking>>,
    generation: u64,
    smsc: String,
    mut events: mpsc::Receiver<LinkEvent>,
) {
    // Open conversations come back from the log first: a message may answer one.
    if restored.wait_for(|done| *done).await.is_err() {
        return;
    }
    while let Some(ev) = events.recv().await {
        tracking.lock().prune(Instant::now());
        match ev {
            LinkEvent::Bound { system_id } => {
                tracing::info!(smsc = %smsc, system_id = %system_id, "bound to the SMSC")
            }
            LinkEvent::Disconnected { reason } => {
                tracing::warn!(smsc = %smsc, reason = %reason, "the SMSC link is down")
            }
            LinkEvent::Message(m) => take_in(&chats, &number_of(&m.from), &m.text).await,
            LinkEvent::Submitted {
                handle,
                message_ids,
            } => accepted(&chats, &tracking, (generation, handle), message_ids).await,
            LinkEvent::SubmitFailed { handle, status } => {
                failed(
                    &chats,
                    &tracking,
                    (generation, handle),
                    format!("the SMSC refused it ({status:?})"),
                )
                .await
            }
            LinkEvent::Receipt { receipt: r, .. } => {
                receipt(&chats, &tracking, &r.message_id, r.state).await;
            }
            LinkEvent::Throttled { until } => {
                tracing::info!(smsc = %smsc, pause = ?until.saturating_duration_since(Instant::now()), "the SMSC asks to slow down")
            }
            LinkEvent::UnreadableReceipt { text } => {
                tracing::warn!(smsc = %smsc, text = %text, "a delivery receipt names no message")
            }
            LinkEvent::IncompleteMessageDropped { source, total, .. } => {
                tracing::warn!(smsc = %smsc, from = %source, segments = total, "a long text message never came whole")
            }
        }
    }
    // The link has stopped (replaced or removed): replies it never had an answer for
    // are not known to have left.
    let unanswered = tracking.lock().unanswered(generation);
    for (conversation, seq) in unanswered {
        chats
            .sms_not_sent(
                conversation,
                seq,
                "the SMSC had not confirmed it when its link was closed",
            )
            .await;
    }
}

/// A customer's text from the SMSC. The link has acknowledged it to the SMSC already (an
/// SMPP link answers `deliver_sm` before the message is handed on), so a log that refuses
/// it is asked again for a while, holding the link's later events back (past the link's
/// buffer it stops reading, and the SMSC holds on to what it has not had answered); a text
/// still refused then is written to the error log whole, so that it is not lost unseen.
async fn take_in(chats: &Chats, from: &str, text: &str) {
    let start = Instant::now();
    let mut pause = Duration::from_millis(500);
    loop {
        match chats.sms_in(from, text, None).await {
            Ok(_) => return,
            Err(e)
                if matches!(e.code, "log_unavailable" | "busy")
                    && start.elapsed() + pause < LOG_RETRY_FOR =>
            {
                tracing::warn!(from = %from, error = %e.message, "a text message waits for the event log");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(10));
            }
            Err(e) => {
                tracing::error!(from = %from, code = e.code, error = %e.message, text = %text, "a text message from the SMSC was not taken: it is not in any conversation");
                return;
            }
        }
    }
}

/// The SMSC took every segment of a reply.
async fn accepted(
    chats: &Chats,
    tracking: &parking_lot::Mutex<Tracking>,
    key: Key,
    message_ids: Vec<String>,
) {
    let (done, early) = {
        let mut t = tracking.lock();
        if !t.by_key.contains_key(&key) {
            t.unclaimed
                .insert(key, (Outcome::Accepted(message_ids), Instant::now()));
            return;
        }
        let early: Vec<(String, MessageState)> = message_ids
            .iter()
            .filter_map(|id| t.early.remove(id).map(|(s, _)| (id.clone(), s)))
            .collect();
        for id in &message_ids {
            t.by_id.insert(id.clone(), key);
        }
        let done = t.by_key.get_mut(&key).map(|s| {
            s.ids = message_ids;
            (s.conversation, s.seq)
        });
        (done, early)
    };
    if let Some((conversation, seq)) = done {
        chats.message_status(conversation, seq, "submitted").await;
    }
    for (id, state) in early {
        receipt(chats, tracking, &id, state).await;
    }
}

/// The SMSC refused a reply (or a segment of it).
async fn failed(chats: &Chats, tracking: &parking_lot::Mutex<Tracking>, key: Key, why: String) {
    let sent = {
        let mut t = tracking.lock();
        match t.by_key.remove(&key) {
            Some(s) => {
                for id in &s.ids {
                    t.by_id.remove(id);
                }
                s
            }
            None => {
                t.unclaimed
                    .insert(key, (Outcome::Failed(why), Instant::now()));
                return;
            }
        }
    };
    chats.sms_not_sent(sent.conversation, sent.seq, &why).await;
}

/// A segment's delivery receipt: once every segment of a reply has a final state, the
/// reply's status is logged (`delivered` when all were) and the reply forgotten.
async fn receipt(
    chats: &Chats,
    tracking: &parking_lot::Mutex<Tracking>,
    id: &str,
    state: MessageState,
) {
    let done = {
        let mut t = tracking.lock();
        let Some(key) = t.by_id.get(id).copied() else {
            if t.early.len() < MAX_EARLY {
                t.early.insert(id.to_string(), (state, Instant::now()));
            }
            return;
        };
        let Some(s) = t.by_key.get_mut(&key) else {
            t.by_id.remove(id);
            return;
        };
        if matches!(state, MessageState::Enroute | MessageState::Accepted) {
            return;
        }
        s.states.insert(id.to_string(), state);
        if s.states.len() < s.ids.len() {
            return;
        }
        let overall = s
            .states
            .values()
            .copied()
            .find(|st| *st != MessageState::Delivered)
            .unwrap_or(MessageState::Delivered);
        let s = t.by_key.remove(&key);
        for i in s.iter().flat_map(|s| s.ids.iter()) {
            t.by_id.remove(i);
        }
        s.map(|s| (s.conversation, s.seq, overall))
    };
    if let Some((conversation, seq, overall)) = done {
        chats
            .message_status(conversation, seq, state_name(overall))
            .await;
    }
}

async fn send_all(inner: std::sync::Weak<Inner>, mut outgoing: mpsc::UnboundedReceiver<OutSms>) {
    while let Some(m) = outgoing.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        let route = inner.current.lock().as_ref().map(|c| match &c.running {
            Running::Smpp { generation, link } => Ok((*generation, link.clone())),
            Running::Http(sender) => Err(sender.clone()),
        });
        match route {
            None => {
                inner
                    .chats
                    .sms_not_sent(m.conversation, m.seq, "no way to send texts is configured")
                    .await;
            }
            // Each reply on its own: one that waits for a retry holds no other back.
            Some(Err(sender)) => {
                tokio::spawn(http::send(
                    inner.chats.clone(),
                    inner.http.clone(),
                    sender,
                    m,
                ));
            }
            Some(Ok((generation, link))) => submit(&inner, generation, &link, m).await,
        }
    }
}

/// Hands a reply to the SMSC link and records its handle.
async fn submit(inner: &Inner, generation: u64, link: &Link, m: OutSms) {
    let req = SubmitRequest::new(address_of(&m.from), address_of(&m.to), m.text.clone());
    match link.submit(req).await {
        Ok(handle) => {
            let key = (generation, handle);
            // The link's word on the handle may have come first: it is taken now.
            let outcome = {
                let mut t = inner.tracking.lock();
                t.by_key.insert(
                    key,
                    Sent {
                        conversation: m.conversation,
                        seq: m.seq,
                        ids: Vec::new(),
                        states: HashMap::new(),
                        since: Instant::now(),
                    },
                );
                t.unclaimed.remove(&key).map(|(o, _)| o)
            };
            match outcome {
                Some(Outcome::Accepted(ids)) => {
                    accepted(&inner.chats, &inner.tracking, key, ids).await
                }
                Some(Outcome::Failed(why)) => failed(&inner.chats, &inner.tracking, key, why).await,
                None => {}
            }
        }
        Err(e) => {
            inner
                .chats
                .sms_not_sent(m.conversation, m.seq, &e.to_string())
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(since: Instant) -> Sent {
        Sent {
            conversation: InteractionId::new(),
            seq: 1,
            ids: vec!["m1".into()],
            states: HashMap::new(),
            since,
        }
    }

    #[test]
    fn one_links_handles_never_match_anothers() {
        let mut t = Tracking::default();
        let now = Instant::now();
        t.by_key.insert((1, SubmitHandle(0)), sent(now));
        assert!(!t.by_key.contains_key(&(2, SubmitHandle(0))));
        // The old link stopped: only its replies without an answer are given up.
        t.by_key.insert(
            (1, SubmitHandle(1)),
            Sent {
                ids: Vec::new(),
                ..sent(now)
            },
        );
        t.by_key.insert(
            (2, SubmitHandle(1)),
            Sent {
                ids: Vec::new(),
                ..sent(now)
            },
        );
        assert_eq!(t.unanswered(1).len(), 1);
        assert!(
            t.by_key.contains_key(&(1, SubmitHandle(0))),
            "accepted: waits for receipts"
        );
        assert!(t.by_key.contains_key(&(2, SubmitHandle(1))));
    }

    #[test]
    fn what_waits_too_long_is_forgotten() {
        let mut t = Tracking::default();
        let then = Instant::now();
        t.by_key.insert((1, SubmitHandle(0)), sent(then));
        t.by_id.insert("m1".into(), (1, SubmitHandle(0)));
        t.early
            .insert("old".into(), (MessageState::Delivered, then));
        t.unclaimed
            .insert((1, SubmitHandle(9)), (Outcome::Failed("x".into()), then));
        // Within their times, all are kept.
        t.prune(then + EARLY_KEPT.min(UNCLAIMED_KEPT) / 2);
        assert_eq!(
            (t.by_key.len(), t.early.len(), t.unclaimed.len()),
            (1, 1, 1)
        );
        let later = then + EARLY_KEPT.max(UNCLAIMED_KEPT) + PRUNE_EVERY;
        t.by_key.insert((1, SubmitHandle(1)), sent(later));
        t.early
            .insert("new".into(), (MessageState::Delivered, later));
        t.prune(later);
        assert!(
            t.by_key.contains_key(&(1, SubmitHandle(0))),
            "a reply waits longer"
        );
        assert_eq!(t.early.keys().collect::<Vec<_>>(), vec!["new"]);
        assert!(t.unclaimed.is_empty());
        t.prune(then + RECEIPTS_KEPT + Duration::from_secs(1));
        assert!(!t.by_key.contains_key(&(1, SubmitHandle(0))));
        assert!(!t.by_id.contains_key("m1"));
        assert!(t.by_key.contains_key(&(1, SubmitHandle(1))));
    }
}
