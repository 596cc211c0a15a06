//! What e-mail and text conversations share: the customer writes from elsewhere than the
//! widget, the conversation waits for the customer once answered ([`Phase::Pending`]), the
//! customer's next message queues it again, and open conversations are read back from the
//! log after a restart.

use super::*;

/// A conversation from elsewhere than the widget, as it starts or is read back.
pub(super) struct RemoteConv {
    pub(super) queue: String,
    pub(super) name: String,
    pub(super) from: String,
    pub(super) customer: Option<CustomerId>,
    pub(super) vip: bool,
    pub(super) started: Timestamp,
    pub(super) phase: Phase,
    pub(super) agent: Option<String>,
    pub(super) messages: Vec<Msg>,
    /// How far the customer and the agent have read.
    pub(super) reads: (u64, u64),
}

/// An open conversation read back from the log.
pub(super) struct ReadBack {
    pub(super) conv: RemoteConv,
    /// The seq of its `arrived`.
    pub(super) arrived_seq: u64,
    /// Where it came to (`arrived`'s `to`: the mailbox, the centre's number).
    pub(super) to: String,
    pub(super) last_agent: Option<String>,
    /// When an agent last wrote after the customer's latest message (and the network took
    /// it).
    pub(super) answered_at: Option<Timestamp>,
    /// Replies after the customer's latest message with no word from the network.
    pub(super) unconfirmed: Vec<u64>,
}

impl Chats {
    /// Logs a new conversation's start: `arrived` (its seq is returned: an e-mail's
    /// reference), then `customer_identified` when the customer is known, and `queued`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn log_arrival(
        &self,
        id: InteractionId,
        now: Timestamp,
        channel: Channel,
        from: &str,
        to: &str,
        customer: Option<&hotline_model::Customer>,
        queue: &str,
    ) -> Result<u64, ChatError> {
        let unavailable = log_error;
        let arrived = self
            .store()
            .append_one(Event::Interaction(InteractionEvent::new(
                id,
                now,
                EventKind::Arrived {
                    channel,
                    from: from.to_string(),
                    to: to.to_string(),
                    trunk: None,
                },
            )))
            .await
            .map_err(unavailable)?;
        let mut events = Vec::new();
        if let Some(c) = customer {
            events.push(EventKind::CustomerIdentified {
                customer: c.id.clone(),
            });
        }
        events.push(EventKind::Queued {
            queue: QueueName::new(queue),
            priority: 0,
        });
        let batch: Vec<Event> = events
            .into_iter()
            .map(|k| Event::Interaction(InteractionEvent::new(id, now, k)))
            .collect();
        self.store().append(batch).await.map_err(unavailable)?;
        Ok(arrived.0)
    }

    /// Puts a conversation from elsewhere than the widget in the table.
    pub(super) fn insert_remote(
        &self,
        id: InteractionId,
        r: RemoteConv,
        email: Option<Box<email::EmailSide>>,
        sms: Option<Box<sms::SmsSide>>,
    ) {
        let (pushes, _) = broadcast::channel(16);
        let mut st = self.inner.state.lock();
        if let Some(s) = &sms {
            st.sms_open.insert(s.number.clone(), id);
        }
        st.convs.insert(
            id,
            Conv {
                contact: ContactId(0),
                queue: r.queue,
                name: r.name,
                from: r.from,
                customer: r.customer,
                vip: r.vip,
                language: "zh".into(),
                token: String::new(),
                phase: r.phase,
                agent: r.agent,
                started: r.started,
                queued_at: Instant::now(),
                messages: r.messages,
                client_ids: HashSet::new(),
                customer_read: r.reads.0,
                agent_read: r.reads.1,
                pushes,
                watchers: 0,
                unwatched_since: None,
                ended_at: None,
                rated: false,
                recent: Default::default(),
                uploads: HashMap::new(),
                email,
                sms,
            },
        );
    }

    /// The customer wrote again: a conversation that waited for them waits in line again,
    /// first for the agent who answered.
    pub(super) async fn requeue_pending(&self, id: InteractionId) -> Result<(), ChatError> {
        let (queue, preferred) = {
            let mut st = self.inner.state.lock();
            let Some(c) = st.convs.get_mut(&id) else {
                return Ok(());
            };
            if !matches!(c.phase, Phase::Pending { .. }) {
                // Waiting or with an agent: the new message is there already.
                return Ok(());
            }
            c.phase = Phase::Queued {
                position: 0,
                eta_secs: 0,
            };
            c.agent = None;
            c.agent_read = 0;
            c.queued_at = Instant::now();
            let last = c
                .email
                .as_ref()
                .and_then(|e| e.last_agent.clone())
                .or_else(|| c.sms.as_ref().and_then(|s| s.last_agent.clone()));
            (c.queue.clone(), last)
        };
        let _ = self
            .log(
                id,
                EventKind::Queued {
                    queue: QueueName::new(queue.clone()),
                    priority: 0,
                },
            )
            .await;
        if let Err(e) = self.enqueue(id, queue, preferred, 0).await {
            self.close(id, EndReason::Error, "error").await;
            return Err(e);
        }
        Ok(())
    }

    /// Reads the open e-mail and text conversations back from the log after a restart:
    /// each waits in line again (first for the agent who had it) unless an agent had
    /// answered the customer's latest message; then it waits for the customer.
    pub(crate) async fn restore_remote(&self) {
        let open = match self.store().open_interactions().await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, "the open e-mails and text conversations cannot be read back");
                return;
            }
        };
        let of = |ch: Channel| -> Vec<InteractionId> {
            open.iter()
                .filter(|r| r.channel == Some(ch))
                .map(|r| r.id)
                .collect()
        };
        let (mail, texts) = (of(Channel::Email), of(Channel::Sms));
        self.restore_email(&mail).await;
        self.restore_sms(&texts).await;
        if !mail.is_empty() || !texts.is_empty() {
            tracing::info!(
                emails = mail.len(),
                texts = texts.len(),
                "open conversations read back"
            );
        }
    }

    /// One open conversation's state from its events.
    pub(super) async fn read_back(&self, id: InteractionId) -> Result<ReadBack, ChatError> {
        let events = self
            .store()
            .interaction_events(id)
            .await
            .map_err(|e| ChatError::new("log_unavailable", e.to_string()))?;
        let mut arrived = None;
        let (mut from, mut to, mut queue) = (String::new(), String::new(), String::new());
        let mut customer = None;
        let mut started = Timestamp::now();
        let mut messages = Vec::new();
        let mut last_agent = None;
        let (mut customer_read, mut agent_read) = (0, 0);
        for e in &events {
            let Event::Interaction(e) = e else { continue };
            match &e.kind {
                EventKind::Arrived { from: f, to: t, .. } => {
                    arrived = Some(e.seq.0);
                    from = f.clone();
                    to = t.clone();
                    started = e.at;
                }
                EventKind::CustomerIdentified { customer: c } => customer = Some(c.clone()),
                EventKind::Queued { queue: q, .. } => queue = q.as_str().to_string(),
                EventKind::Transferred {
                    to: Target::Queue(q),
                } => queue = q.as_str().to_string(),
                EventKind::Answered { agent } => last_agent = Some(agent.as_str().to_string()),
                EventKind::Message {
                    sender,
                    agent,
                    text,
                    attachments,
                    client_id,
                    subject,
                } => messages.push(Msg {
                    seq: e.seq.0,
                    sender: *sender,
                    agent: agent.as_ref().map(|a| a.as_str().to_string()),
                    text: text.clone(),
                    attachments: attachments.clone(),
                    client_id: client_id.clone(),
                    subject: subject.clone(),
                    at: e.at,
                    status: None,
                }),
                EventKind::MessageStatus {
                    message, status, ..
                } => {
                    // (A status comes after its message.)
                    if let Some(m) = messages.iter_mut().rev().find(|m| m.seq == *message) {
                        m.status = Some(status.clone());
                    }
                }
                EventKind::MessagesRead { by, upto } => match by {
                    Sender::Customer => customer_read = customer_read.max(*upto),
                    _ => agent_read = agent_read.max(*upto),
                },
                _ => {}
            }
        }
        let arrived_seq = arrived.ok_or_else(|| ChatError::new("corrupt", "no `arrived`"))?;
        let last_customer = messages.iter().rposition(|m| m.sender == Sender::Customer);
        // Answered: an agent's reply after the customer's latest message that the network
        // took. A reply with no word from the network may have been lost in the stop.
        let replies: Vec<&Msg> = messages
            .iter()
            .skip(last_customer.map_or(0, |i| i + 1))
            .filter(|m| m.sender == Sender::Agent)
            .collect();
        let answered_at = replies
            .iter()
            .filter(|m| {
                m.status
                    .as_deref()
                    .is_some_and(|s| !s.starts_with("failed"))
            })
            .map(|m| m.at)
            .next_back();
        let unconfirmed: Vec<u64> = replies
            .iter()
            .filter(|m| m.status.is_none())
            .map(|m| m.seq)
            .collect();
        let answered_at = answered_at.filter(|_| unconfirmed.is_empty());
        let vip = match &customer {
            Some(c) => self
                .store()
                .customer(c)
                .await
                .ok()
                .flatten()
                .is_some_and(|c| c.vip),
            None => false,
        };
        let phase = match answered_at {
            Some(since) => Phase::Pending { since },
            None => Phase::Queued {
                position: 0,
                eta_secs: 0,
            },
        };
        Ok(ReadBack {
            conv: RemoteConv {
                queue,
                name: from.clone(),
                from,
                customer,
                vip,
                started,
                agent: answered_at.and(last_agent.clone()),
                phase,
                messages,
                reads: (customer_read, agent_read),
            },
            arrived_seq,
            to,
            last_agent,
            answered_at,
            unconfirmed,
        })
    }

    /// After a read-back: tells the agent of replies that may not have left before the
    /// stop (the conversation waits in line again for them).
    pub(super) async fn warn_unconfirmed(&self, id: InteractionId, unconfirmed: &[u64]) {
        for seq in unconfirmed {
            let text = format!(
                "The centre stopped before message {seq} was confirmed sent: check it and send \
                 it again if needed."
            );
            let _ = self
                .post(id, Sender::System, None, text, Vec::new(), None, None)
                .await;
        }
    }
}
