//! The text messages' I/O: one SMPP link to the carrier's SMSC. Customers' messages go
//! into the conversations ([`crate::chat::Chats::sms_in`]), agents' replies go out through
//! the link, and what the network says of them (accepted, then each segment's delivery
//! receipt) is logged against the reply.
//!
//! The link binds as a transceiver, reconnects by itself with a growing pause, keeps the
//! carrier's rate and backs off when throttled (see `hotline_smpp::link`). A change of
//! `[sms]` while the centre runs opens a new link and unbinds the old one.

use std::collections::HashMap;
use std::sync::Arc;

use hotline_model::InteractionId;
use hotline_smpp::link::{Link, LinkConfig, LinkEvent};
use hotline_smpp::{Address, MessageState, SubmitHandle, SubmitRequest};
use tokio::sync::{mpsc, watch};

use crate::chat::{Chats, OutSms};

#[derive(Clone, PartialEq)]
struct Setup {
    address: String,
    system_id: String,
    password: String,
    system_type: String,
    per_second: u32,
}

/// A reply on its way: its segments' message ids and what their receipts said.
struct Sent {
    conversation: InteractionId,
    seq: u64,
    ids: Vec<String>,
    states: HashMap<String, MessageState>,
}

#[derive(Default)]
struct Tracking {
    by_handle: HashMap<SubmitHandle, Sent>,
    /// The SMSC's message id of each segment → its handle.
    by_id: HashMap<String, SubmitHandle>,
    /// Receipts that came before the acceptance naming their id (the SMSC may send them
    /// in either order).
    early: HashMap<String, MessageState>,
    /// What the link said of a handle before the sender recorded it.
    unclaimed: HashMap<SubmitHandle, Outcome>,
}

enum Outcome {
    Accepted(Vec<String>),
    Failed(String),
}

struct Current {
    setup: Setup,
    link: Link,
    task: tokio::task::JoinHandle<()>,
}

struct Inner {
    chats: Chats,
    restored: watch::Receiver<bool>,
    current: parking_lot::Mutex<Option<Current>>,
    tracking: Arc<parking_lot::Mutex<Tracking>>,
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
                tracking: Default::default(),
            }),
        };
        texts.configure(cfg);
        tokio::spawn(send_all(Arc::downgrade(&texts.inner), outgoing));
        texts
    }

    /// Takes `[sms]` of `cfg` (at start and on a live change).
    pub(crate) fn configure(&self, cfg: &hotline_config::Config) {
        let wanted = cfg.sms.as_ref().and_then(|s| {
            let Some(password) = s.smpp.password() else {
                tracing::error!("no password for the SMSC (is `sms.smpp.password_env` set?): text messages are off");
                return None;
            };
            Some(Setup {
                address: s.smpp.address.get_ref().clone(),
                system_id: s.smpp.system_id.clone(),
                password,
                system_type: s.smpp.system_type.clone(),
                per_second: *s.smpp.per_second.get_ref(),
            })
        });
        let mut current = self.inner.current.lock();
        if current.as_ref().map(|c| &c.setup) == wanted.as_ref() {
            return;
        }
        if let Some(old) = current.take() {
            old.task.abort();
            tokio::spawn(old.link.shutdown());
        }
        let Some(setup) = wanted else { return };
        let mut session =
            hotline_smpp::Config::new(setup.system_id.clone(), setup.password.clone());
        session.system_type = setup.system_type.clone();
        session.max_submits_per_second = setup.per_second;
        let (link, events) = Link::spawn(LinkConfig::new(setup.address.clone(), session));
        let task = tokio::spawn(follow(
            self.inner.chats.clone(),
            self.inner.restored.clone(),
            self.inner.tracking.clone(),
            setup.address.clone(),
            events,
        ));
        *current = Some(Current { setup, link, task });
    }

    /// Whether the link to the SMSC is bound now.
    pub fn is_bound(&self) -> bool {
        self.inner
            .current
            .lock()
            .as_ref()
            .is_some_and(|c| c.link.is_bound())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(c) = self.current.get_mut().take() {
            c.task.abort();
        }
    }
}

/// Follows the link's events.
async fn follow(
    chats: Chats,
    mut restored: watch::Receiver<bool>,
    tracking: Arc<parking_lot::Mutex<Tracking>>,
    smsc: String,
    mut events: mpsc::Receiver<LinkEvent>,
) {
    // Open conversations come back from the log first: a message may answer one.
    if restored.wait_for(|done| *done).await.is_err() {
        return;
    }
    while let Some(ev) = events.recv().await {
        match ev {
            LinkEvent::Bound { system_id } => {
                tracing::info!(smsc = %smsc, system_id = %system_id, "bound to the SMSC")
            }
            LinkEvent::Disconnected { reason } => {
                tracing::warn!(smsc = %smsc, reason = %reason, "the SMSC link is down")
            }
            LinkEvent::Message(m) => {
                let from = number_of(&m.from);
                // Acknowledged to the SMSC already: kept if the log takes it.
                if let Err(e) = chats.sms_in(&from, &m.text).await {
                    tracing::error!(from = %from, code = e.code, error = %e.message, "a text message was not taken");
                }
            }
            LinkEvent::Submitted {
                handle,
                message_ids,
            } => accepted(&chats, &tracking, handle, message_ids).await,
            LinkEvent::SubmitFailed { handle, status } => {
                failed(&chats, &tracking, handle, format!("failed: {status:?}")).await
            }
            LinkEvent::Receipt { receipt: r, .. } => {
                receipt(&chats, &tracking, &r.message_id, r.state).await;
            }
            LinkEvent::Throttled { until } => {
                tracing::info!(smsc = %smsc, pause = ?until.saturating_duration_since(std::time::Instant::now()), "the SMSC asks to slow down")
            }
            LinkEvent::UnreadableReceipt { text } => {
                tracing::warn!(smsc = %smsc, text = %text, "a delivery receipt names no message")
            }
            LinkEvent::IncompleteMessageDropped { source, total, .. } => {
                tracing::warn!(smsc = %smsc, from = %source, segments = total, "a long text message never came whole")
            }
        }
    }
}

/// The SMSC took every segment of a reply.
async fn accepted(
    chats: &Chats,
    tracking: &parking_lot::Mutex<Tracking>,
    handle: SubmitHandle,
    message_ids: Vec<String>,
) {
    let (done, early) = {
        let mut t = tracking.lock();
        if !t.by_handle.contains_key(&handle) {
            t.unclaimed.insert(handle, Outcome::Accepted(message_ids));
            return;
        }
        let early: Vec<(String, MessageState)> = message_ids
            .iter()
            .filter_map(|id| t.early.remove(id).map(|s| (id.clone(), s)))
            .collect();
        for id in &message_ids {
            t.by_id.insert(id.clone(), handle);
        }
        let done = t.by_handle.get_mut(&handle).map(|s| {
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
async fn failed(
    chats: &Chats,
    tracking: &parking_lot::Mutex<Tracking>,
    handle: SubmitHandle,
    why: String,
) {
    let sent = {
        let mut t = tracking.lock();
        match t.by_handle.remove(&handle) {
            Some(s) => s,
            None => {
                t.unclaimed.insert(handle, Outcome::Failed(why));
                return;
            }
        }
    };
    chats
        .message_status(sent.conversation, sent.seq, &why)
        .await;
}

/// A segment's delivery receipt: once every segment of a reply has a final state, the
/// reply's status is logged (`delivered` when all were).
async fn receipt(
    chats: &Chats,
    tracking: &parking_lot::Mutex<Tracking>,
    id: &str,
    state: MessageState,
) {
    let done = {
        let mut t = tracking.lock();
        let Some(handle) = t.by_id.get(id).copied() else {
            t.early.insert(id.to_string(), state);
            return;
        };
        let Some(s) = t.by_handle.get_mut(&handle) else {
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
        let s = t.by_handle.remove(&handle);
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
        let link = inner.current.lock().as_ref().map(|c| c.link.clone());
        let Some(link) = link else {
            inner
                .chats
                .message_status(m.conversation, m.seq, "failed: no SMSC is configured")
                .await;
            continue;
        };
        let req = SubmitRequest::new(address_of(&m.from), address_of(&m.to), m.text.clone());
        match link.submit(req).await {
            Ok(handle) => {
                // The link's word on the handle may have come first: it is taken now.
                let outcome = {
                    let mut t = inner.tracking.lock();
                    t.by_handle.insert(
                        handle,
                        Sent {
                            conversation: m.conversation,
                            seq: m.seq,
                            ids: Vec::new(),
                            states: HashMap::new(),
                        },
                    );
                    t.unclaimed.remove(&handle)
                };
                match outcome {
                    Some(Outcome::Accepted(ids)) => {
                        accepted(&inner.chats, &inner.tracking, handle, ids).await
                    }
                    Some(Outcome::Failed(why)) => {
                        failed(&inner.chats, &inner.tracking, handle, why).await
                    }
                    None => {}
                }
            }
            Err(e) => {
                inner
                    .chats
                    .message_status(m.conversation, m.seq, &format!("failed: {e}"))
                    .await;
            }
        }
    }
}
