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
    /// A web chat's widget session: its key, the customer's name and the language.
    pub(super) session: Option<(String, String, String)>,
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
                customer: r.customer,
                vip: r.vip,
                phase: r.phase,
                agent: r.agent,
                messages: r.messages,
                customer_read: r.reads.0,
                agent_read: r.reads.1,
                pushes,
                email,
                sms,
                ..Conv::queued(r.queue, r.name, r.from, r.started)
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
                .or_else(|| c.sms.as_ref().and_then(|s| s.last_agent.clone()))
                .or_else(|| c.prefer.take());
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

    /// Reads the open conversations back from the log after a start, then says so
    /// ([`Chats::restored`]). An e-mail or a text waits in line again (first for the agent
    /// who had it) unless an agent had answered the customer's latest message; then it
    /// waits for the customer. A web chat waits in line again for its widget.
    pub(crate) async fn restore_open(&self) {
        self.restore_all().await;
        self.inner.restored.send_replace(true);
    }

    /// A receiver that turns true once [`Chats::restore_open`] is done.
    pub(crate) fn restored(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.restored.subscribe()
    }

    async fn restore_all(&self) {
        // Tried until the log answers: a widget coming back meanwhile is told to try again
        // (never that its chat is over), and no mail or text is taken before.
        let open = loop {
            match self.store().open_interactions().await {
                Ok(o) => break o,
                Err(e) => {
                    tracing::error!(error = %e, "the open conversations cannot be read back yet; trying again in 5 s");
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
            }
        };
        let of = |ch: Channel| -> Vec<InteractionId> {
            open.iter()
                .filter(|r| r.channel == Some(ch))
                .map(|r| r.id)
                .collect()
        };
        let (mail, texts, web) = (of(Channel::Email), of(Channel::Sms), of(Channel::Chat));
        self.restore_email(&mail).await;
        self.restore_sms(&texts).await;
        self.restore_web(&web).await;
        if !mail.is_empty() || !texts.is_empty() || !web.is_empty() {
            tracing::info!(
                emails = mail.len(),
                texts = texts.len(),
                chats = web.len(),
                "open conversations read back"
            );
        }
    }

    /// Reads the open web chats back after a restart. Each waits for its customer's widget
    /// to come back with its token, then waits in line again, first for the agent who had
    /// it; one whose widget does not come back within [`QUEUED_GONE`] is closed as
    /// `interrupted`, never offered to an agent.
    async fn restore_web(&self, open: &[InteractionId]) {
        for &id in open {
            if let Err(e) = self.restore_web_one(id).await {
                tracing::warn!(conversation = %id, error = %e.message, "an open web chat is not read back: it is closed as interrupted");
                let _ = self
                    .log(
                        id,
                        EventKind::Ended {
                            reason: EndReason::Interrupted,
                        },
                    )
                    .await;
            }
        }
    }

    async fn restore_web_one(&self, id: InteractionId) -> Result<(), ChatError> {
        let r = self.read_back(id).await?;
        let (key, name, language) = r
            .session
            .ok_or_else(|| ChatError::new("no_session", "its widget's session was not kept"))?;
        // The queue it waited in, else the first chat queue (a queue renamed since).
        let queue = {
            let queues = self.inner.queues.read();
            Some(r.conv.queue.clone())
                .filter(|q| queues.contains(q))
                .or_else(|| queues.first().cloned())
        }
        .ok_or_else(|| ChatError::new("chat_closed", "this centre has no chat queue"))?;
        let client_ids = r
            .conv
            .messages
            .iter()
            .filter(|m| m.sender == Sender::Customer)
            .filter_map(|m| m.client_id.clone())
            .collect();
        {
            let mut st = self.inner.state.lock();
            st.by_token.insert(key.clone(), id);
            st.convs.insert(
                id,
                Conv {
                    customer: r.conv.customer,
                    vip: r.conv.vip,
                    language: language.clone(),
                    token: key,
                    messages: r.conv.messages,
                    client_ids,
                    customer_read: r.conv.reads.0,
                    // It waits for its widget (as a conversation waits for its customer):
                    // in line again only once the widget comes back, closed if it does not
                    // within the time a queued customer may be gone.
                    phase: Phase::Pending {
                        since: Timestamp::now(),
                    },
                    prefer: r.last_agent,
                    unwatched_since: Some(Instant::now()),
                    ..Conv::queued(queue.clone(), name, r.conv.from, r.conv.started)
                },
            );
        }
        let text = if language == "en" {
            "The service was restarted: you are back in line, first for the same agent."
        } else {
            "服务已重新启动：您已重新排队，将优先由同一位客服为您服务。"
        };
        let _ = self
            .post(
                id,
                Sender::System,
                None,
                text.into(),
                Vec::new(),
                None,
                None,
            )
            .await;
        Ok(())
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
        let mut session = None;
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
                EventKind::ChatSession {
                    key,
                    name,
                    language,
                } => session = Some((key.clone(), name.clone(), language.clone())),
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
            session,
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
