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
    /// open with that number or starts one. `Ok` once durable in the log.
    pub async fn sms_in(&self, from: &str, text: &str) -> Result<InteractionId, ChatError> {
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
            Some(id) => {
                self.sms_joins(id, text).await?;
                Ok(id)
            }
            None => self.sms_starts(&info, number, text).await,
        }
    }

    async fn sms_starts(
        &self,
        info: &SmsInfo,
        number: String,
        text: String,
    ) -> Result<InteractionId, ChatError> {
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
        if let Err(e) = self
            .post(id, Sender::Customer, None, text, Vec::new(), None, None)
            .await
        {
            self.close(id, EndReason::Error, "error").await;
            return Err(e);
        }
        if let Err(e) = self.enqueue(id, info.queue.clone(), None, 0).await {
            self.close(id, EndReason::Error, "error").await;
            return Err(e);
        }
        Ok(id)
    }

    async fn sms_joins(&self, id: InteractionId, text: String) -> Result<(), ChatError> {
        self.post(id, Sender::Customer, None, text, Vec::new(), None, None)
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
        self.requeue_pending(id).await
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
        let _ = self
            .log(
                id,
                EventKind::MessageStatus {
                    message: seq,
                    status: status.to_string(),
                },
            )
            .await;
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
