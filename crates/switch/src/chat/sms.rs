//! Text messages: what customers send to the centre's number waits in a queue of channel
//! `chat` and is answered from the same desk.
//!
//! A customer's message starts an interaction of channel `sms` (`arrived` from their
//! number to the centre's, `customer_identified` by the number, `queued`, `message`), or
//! joins the conversation open with that number. An agent's reply is a `message`, sent
//! through the SMSC; what the network says of it (`submitted`, then the delivery receipt's
//! `delivered`, `expired` ...) is logged as `message_status`. As with e-mail, the agent who
//! has answered lets the conversation go and it waits for the customer
//! ([`Phase::Pending`]) for `sms.close_after_hours`; open text conversations are read back
//! from the log after a restart.

use super::*;

/// The centre's number as the conversations need it.
#[derive(Debug, Clone)]
pub(crate) struct SmsInfo {
    pub number: String,
    pub queue: String,
    pub close_after_hours: u32,
}

impl SmsInfo {
    pub(crate) fn from_config(s: &hotline_config::Sms) -> SmsInfo {
        SmsInfo {
            number: s.number.get_ref().clone(),
            queue: s.queue.get_ref().clone(),
            close_after_hours: *s.close_after_hours.get_ref(),
        }
    }
}

/// The customer's side of a text conversation.
#[derive(Debug)]
pub(crate) struct SmsSide {
    /// The customer's number (E.164, `+86…`).
    pub number: String,
    /// The agent who answered last, offered the customer's next message first.
    pub last_agent: Option<String>,
    /// An agent has written since the customer's latest message.
    pub answered: bool,
}

impl SmsSide {
    pub(crate) fn json(&self) -> Value {
        json!({ "number": self.number })
    }
}

/// See [`Chats::sms_provider_ids`].
#[derive(Debug, Default)]
pub(crate) struct ProviderIds {
    /// (provider's id, conversation, seq, when)
    pub received: Vec<(String, InteractionId, u64, Timestamp)>,
    /// (provider's id, conversation, seq)
    pub sent: Vec<(String, InteractionId, u64)>,
}

/// A reply for the SMSC link to send.
#[derive(Debug, Clone)]
pub struct OutSms {
    pub conversation: InteractionId,
    /// The seq of its `message`.
    pub seq: u64,
    /// The centre's number.
    pub from: String,
    /// The customer's number.
    pub to: String,
    pub text: String,
}

impl Chats {
    fn sms_info(&self) -> Result<SmsInfo, ChatError> {
        self.inner
            .sms
            .read()
            .clone()
            .ok_or_else(|| ChatError::new("sms_off", "this centre takes no text messages"))
    }

    /// A text message from `from` (the customer) to the centre: it joins the conversation
    /// open with that number or starts one. `Ok` (the conversation and the message's seq)
    /// once durable in the log. `provider_id` is an SMS provider's own id of the message,
    /// kept as its `client_id`.
    pub async fn sms_in(
        &self,
        from: &str,
        text: &str,
        provider_id: Option<String>,
    ) -> Result<(InteractionId, u64), ChatError> {
        let info = self.sms_info()?;
        let number = hotline_model::normalize_phone(from)
            .ok_or_else(|| ChatError::new("bad_number", format!("`{from}` is no number")))?;
        let text = cut_text(text);
        let open = {
            let st = self.inner.state.lock();
            st.sms_open.get(&number).copied().filter(|id| {
                st.convs
                    .get(id)
                    .is_some_and(|c| !matches!(c.phase, Phase::Ended { .. } | Phase::Left))
            })
        };
        match open {
            Some(id) => Ok((id, self.sms_joins(id, text, provider_id).await?)),
            None => self.sms_starts(&info, number, text, provider_id).await,
        }
    }

    async fn sms_starts(
        &self,
        info: &SmsInfo,
        number: String,
        text: String,
        provider_id: Option<String>,
    ) -> Result<(InteractionId, u64), ChatError> {
        let customer = self.store().customer_by_phone(&number).await.ok().flatten();
        let id = InteractionId::new();
        let now = Timestamp::now();
        self.log_arrival(
            id,
            now,
            Channel::Sms,
            &number,
            &info.number,
            customer.as_ref(),
            &info.queue,
        )
        .await?;
        let name = customer
            .as_ref()
            .map(|c| c.name.clone())
            .unwrap_or_else(|| number.clone());
        self.insert_remote(
            id,
            remote::RemoteConv {
                queue: info.queue.clone(),
                name,
                from: number.clone(),
                customer: customer.as_ref().map(|c| c.id.clone()),
                vip: customer.as_ref().is_some_and(|c| c.vip),
                started: now,
                phase: Phase::Queued {
                    position: 0,
                    eta_secs: 0,
                },
                agent: None,
                messages: Vec::new(),
                reads: (0, 0),
            },
            None,
            Some(Box::new(SmsSide {
                number: number.clone(),
                last_agent: None,
                answered: false,
            })),
        );
        let seq = match self
            .post(
                id,
                Sender::Customer,
                None,
                text,
                Vec::new(),
                provider_id,
                None,
            )
            .await
        {
            Ok(seq) => seq,
            Err(e) => {
                self.close(id, EndReason::Error, "error").await;
                return Err(e);
            }
        };
        if let Err(e) = self.enqueue(id, info.queue.clone(), None, 0).await {
            self.close(id, EndReason::Error, "error").await;
            return Err(e);
        }
        Ok((id, seq))
    }

    async fn sms_joins(
        &self,
        id: InteractionId,
        text: String,
        provider_id: Option<String>,
    ) -> Result<u64, ChatError> {
        let seq = self
            .post(
                id,
                Sender::Customer,
                None,
                text,
                Vec::new(),
                provider_id,
                None,
            )
            .await?;
        if let Some(s) = self
            .inner
            .state
            .lock()
            .convs
            .get_mut(&id)
            .and_then(|c| c.sms.as_mut())
        {
            s.answered = false;
        }
        // The message is kept whatever comes of the queueing: taking it again would make
        // it twice.
        if let Err(e) = self.requeue_pending(id).await {
            tracing::error!(conversation = %id, code = e.code, error = %e.message, "a text conversation was not put back in line");
        }
        Ok(seq)
    }

    /// The agent's reply: logged, then handed to the SMSC link. `Ok(seq)` once durable.
    pub(super) async fn sms_reply(
        &self,
        id: InteractionId,
        agent: &str,
        text: String,
    ) -> Result<u64, ChatError> {
        let info = self.sms_info()?;
        let to = {
            let st = self.inner.state.lock();
            st.convs
                .get(&id)
                .and_then(|c| c.sms.as_ref())
                .map(|s| s.number.clone())
                .ok_or_else(gone)?
        };
        let seq = self
            .post(
                id,
                Sender::Agent,
                Some(agent.to_string()),
                text.clone(),
                Vec::new(),
                None,
                None,
            )
            .await?;
        if let Some(s) = self
            .inner
            .state
            .lock()
            .convs
            .get_mut(&id)
            .and_then(|c| c.sms.as_mut())
        {
            s.answered = true;
            s.last_agent = Some(agent.to_string());
        }
        let _ = self.inner.sms_outbox.send(OutSms {
            conversation: id,
            seq,
            from: info.number,
            to,
            text,
        });
        Ok(seq)
    }

    /// What the network said of the message `seq` sent to the customer (an e-mail: `sent`;
    /// a text: `submitted`, `delivered` …; either: `failed: …`): logged, and shown on the
    /// desk of the agent who has the conversation.
    pub async fn message_status(&self, id: InteractionId, seq: u64, status: &str) {
        let _ = self.record_status(id, seq, status, None).await;
    }

    /// [`Chats::message_status`], with the id an SMS provider gave the message; `Ok` once
    /// durable in the log.
    pub async fn record_status(
        &self,
        id: InteractionId,
        seq: u64,
        status: &str,
        provider_id: Option<String>,
    ) -> Result<(), ChatError> {
        let logged = self
            .log(
                id,
                EventKind::MessageStatus {
                    message: seq,
                    status: status.to_string(),
                    provider_id,
                },
            )
            .await;
        if let Err(e) = logged {
            tracing::error!(conversation = %id, seq, status, error = %e.message, "a text's status was not logged");
            return Err(e);
        }
        let mut st = self.inner.state.lock();
        // To the agent who has the conversation, else to the one who wrote the message (a
        // reply's status often comes after the agent let the conversation wait).
        let agent = st.convs.get_mut(&id).and_then(|c| {
            let author = c
                .messages
                .iter_mut()
                .rev()
                .find(|m| m.seq == seq)
                .and_then(|m| {
                    m.status = Some(status.to_string());
                    m.agent.clone()
                });
            match &c.phase {
                Phase::Active { agent } => Some(agent.clone()),
                _ => author,
            }
        });
        if let Some(a) = agent {
            st.push_agent(
                &a,
                json!({"type": "status", "conversation": id, "seq": seq, "status": status}),
            );
        }
        Ok(())
    }

    /// A reply the network would not take (`why`): its status says so, the transcript
    /// tells the agent, and a conversation that waited for the customer waits in line
    /// again, first for the agent who wrote it, since the customer has had no answer.
    pub(crate) async fn sms_not_sent(&self, id: InteractionId, seq: u64, why: &str) {
        self.message_status(id, seq, &format!("failed: {why}"))
            .await;
        let text = format!("The text above could not be sent: {why}");
        let _ = self
            .post(id, Sender::System, None, text, Vec::new(), None, None)
            .await;
        if let Some(s) = self
            .inner
            .state
            .lock()
            .convs
            .get_mut(&id)
            .and_then(|c| c.sms.as_mut())
        {
            s.answered = false;
        }
        let _ = self.requeue_pending(id).await;
    }

    /// What the log says of texts through an SMS provider since `since` (and in the
    /// conversations still open): the customers' messages by the provider's id, and the
    /// replies the provider took whose final status has not come, by the provider's id.
    pub(crate) async fn sms_provider_ids(
        &self,
        since: Timestamp,
        is_final: impl Fn(&str) -> bool,
    ) -> Result<ProviderIds, ChatError> {
        let unavailable =
            |e: hotline_store::Error| ChatError::new("log_unavailable", e.to_string());
        let mut seen = HashSet::new();
        let ids: Vec<InteractionId> = self
            .store()
            .interactions_since(since)
            .await
            .map_err(unavailable)?
            .into_iter()
            .chain(
                self.store()
                    .open_interactions()
                    .await
                    .map_err(unavailable)?,
            )
            .filter(|r| r.channel == Some(Channel::Sms))
            .map(|r| r.id)
            .filter(|id| seen.insert(*id))
            .collect();
        let mut out = ProviderIds::default();
        for id in ids {
            let events = self
                .store()
                .interaction_events(id)
                .await
                .map_err(unavailable)?;
            let mut replies: HashMap<u64, String> = HashMap::new();
            for e in &events {
                let Event::Interaction(ie) = e else { continue };
                match &ie.kind {
                    EventKind::Message {
                        sender: Sender::Customer,
                        client_id: Some(c),
                        ..
                    } => out.received.push((c.clone(), id, ie.seq.0, ie.at)),
                    EventKind::MessageStatus {
                        message,
                        status,
                        provider_id,
                    } => {
                        if let Some(p) = provider_id {
                            replies.insert(*message, p.clone());
                        } else if is_final(status) {
                            replies.remove(message);
                        }
                    }
                    _ => {}
                }
            }
            out.sent
                .extend(replies.into_iter().map(|(seq, p)| (p, id, seq)));
        }
        Ok(out)
    }

    /// Reads the open text conversations back from the log after a restart.
    pub(crate) async fn restore_sms(&self, open: &[InteractionId]) {
        for id in open {
            if let Err(e) = self.restore_sms_one(*id).await {
                tracing::error!(conversation = %id, error = %e.message, "an open text conversation was not read back");
            }
        }
    }

    async fn restore_sms_one(&self, id: InteractionId) -> Result<(), ChatError> {
        let mut r = self.read_back(id).await?;
        let answered = r.answered_at.is_some();
        let number = r.conv.from.clone();
        let last_agent = r.last_agent.clone();
        // The queue it waited in, else today's `[sms]` queue (a queue renamed since).
        let queue = Some(r.conv.queue.clone())
            .filter(|q| self.queues().contains(q))
            .or_else(|| self.sms_info().ok().map(|i| i.queue))
            .unwrap_or_default();
        r.conv.queue = queue.clone();
        let unconfirmed = std::mem::take(&mut r.unconfirmed);
        self.insert_remote(
            id,
            r.conv,
            None,
            Some(Box::new(SmsSide {
                number,
                last_agent: last_agent.clone(),
                answered,
            })),
        );
        self.warn_unconfirmed(id, &unconfirmed).await;
        if !answered && let Err(e) = self.enqueue(id, queue, last_agent, 0).await {
            self.close(id, EndReason::Error, "error").await;
            return Err(e);
        }
        Ok(())
    }
}

/// A text message's text, kept to the chat's limit.
fn cut_text(text: &str) -> String {
    let t = text.trim();
    if t.chars().count() <= MAX_MESSAGE_CHARS {
        t.to_string()
    } else {
        t.chars().take(MAX_MESSAGE_CHARS).collect()
    }
}
