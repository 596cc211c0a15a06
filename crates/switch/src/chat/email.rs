//! E-mail conversations: customers' mail, fetched from the centre's mailboxes, waits in a
//! queue of channel `email` and is answered from the same desk as a chat.
//!
//! A new message (one that answers nothing the centre knows) starts an interaction of
//! channel `email`: `arrived` (from the customer's address to the mailbox), `queued`, and a
//! `message` with the subject, the text, the files, the HTML made safe and the original
//! message (`client_id` is its Message-ID). The customer is acknowledged at once with the
//! conversation's reference (`[#HL-000123]`, the seq of its `arrived`). An agent's reply is
//! a `message` too (its `client_id` the reply's Message-ID), sent by SMTP with
//! `In-Reply-To` and `References`, so that the customer's answer joins the conversation by
//! its headers, or by the reference in its subject.
//!
//! The agent who has answered lets the conversation go: it waits for the customer
//! ([`Phase::Pending`]), the agent's capacity is given back, and the customer's next
//! message queues it again, first for the same agent. It ends when the agent closes it, or
//! after the mailbox's `close_after_days` without an answer. Open e-mail conversations
//! outlive a restart: they are read back from the log ([`Chats::restore_open`]).

use hotline_mail::{InboundMessage, Origin, Reference};
use time::OffsetDateTime;

use super::*;

/// The largest text kept of one e-mail in the log (the whole message is kept as a file).
const MAX_EMAIL_TEXT: usize = 60 * 1024;
/// Files kept from one e-mail besides its HTML and the original.
const MAX_EMAIL_FILES: usize = 8;

/// A mailbox as the conversations need it.
#[derive(Debug, Clone)]
pub(crate) struct MailboxInfo {
    pub address: String,
    pub name: String,
    pub queue: String,
    pub acknowledge: bool,
    pub close_after_days: u32,
    /// The queue's service-level target, promised in the acknowledgement.
    pub target_seconds: u32,
}

impl MailboxInfo {
    pub(crate) fn from_config(m: &hotline_config::Mailbox, cfg: &hotline_config::Config) -> Self {
        let queue = m.queue.get_ref().clone();
        let target_seconds = cfg
            .queues
            .iter()
            .find(|q| *q.name.get_ref() == queue)
            .map_or(0, |q| q.target_seconds);
        MailboxInfo {
            address: m.address.get_ref().trim().to_string(),
            name: m.name.clone(),
            queue,
            acknowledge: m.acknowledge,
            close_after_days: *m.close_after_days.get_ref(),
            target_seconds,
        }
    }

    fn from(&self) -> hotline_mail::Mailbox {
        let name = (!self.name.trim().is_empty()).then_some(self.name.trim());
        hotline_mail::Mailbox::new(self.address.clone(), name)
    }

    fn domain(&self) -> &str {
        self.address.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

/// The customer's side of an e-mail conversation.
#[derive(Debug)]
pub(crate) struct EmailSide {
    /// The centre's mailbox it came to (its address).
    pub mailbox: String,
    pub customer: hotline_mail::Mailbox,
    pub subject: String,
    pub reference: Reference,
    /// The customer's latest message (headers only): what a reply answers.
    pub parent: Option<InboundMessage>,
    /// The agent who answered last, offered the customer's next message first.
    pub last_agent: Option<String>,
    /// An agent has written since the customer's latest message.
    pub answered: bool,
}

impl EmailSide {
    pub(crate) fn json(&self) -> Value {
        json!({
            "mailbox": self.mailbox,
            "address": self.customer.address,
            "name": self.customer.name,
            "subject": self.subject,
            "reference": self.reference.to_string(),
        })
    }
}

/// Acknowledgements sent per sender: at most three an hour each.
pub(crate) struct Acks(hotline_mail::AckLimiter);

impl Default for Acks {
    fn default() -> Self {
        Acks(hotline_mail::AckLimiter::new(
            3,
            time::Duration::seconds(3600),
        ))
    }
}

impl Acks {
    pub(crate) fn prune(&mut self, now: Timestamp) {
        self.0.prune(odt(now));
    }
}

/// A composed e-mail for the mailbox's SMTP side to send.
#[derive(Debug, Clone)]
pub struct OutMail {
    /// The mailbox (its address) whose server sends it.
    pub mailbox: String,
    pub conversation: InteractionId,
    /// The seq of its `message`.
    pub seq: u64,
    pub message_id: String,
    /// Empty: the null sender (acknowledgements).
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub bytes: Vec<u8>,
}

/// What became of a fetched message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailArrival {
    /// It started a conversation.
    New(InteractionId),
    /// It joined an open conversation.
    Joined(InteractionId),
    /// It was taken already (fetched twice).
    Duplicate(InteractionId),
    /// Not a customer's message (an automatic one that answers nothing of ours): kept in
    /// the mailbox only.
    Ignored(String),
}

fn odt(t: Timestamp) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.unix_nanos()))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n[…]", &text[..end])
}

/// A file's extension fit for a stored name: short and plain, else `bin`.
fn extension(name: &str, content_type: &str) -> String {
    let from_name = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| (1..=8).contains(&e.len()) && e.chars().all(|c| c.is_ascii_alphanumeric()));
    from_name.unwrap_or_else(|| {
        match content_type {
            "text/plain" => "txt",
            "text/html" => "html",
            "application/pdf" => "pdf",
            "image/png" => "png",
            "image/jpeg" => "jpg",
            "message/rfc822" => "eml",
            _ => "bin",
        }
        .to_string()
    })
}

/// The names of the files the centre writes itself beside an e-mail's own attachments; a
/// customer's attachment of the same name is renamed, so these always mean the centre's.
const ORIGINAL: &str = "original.eml";
const SAFE_HTML: &str = "message.html";
/// The centre's own reply as composed (on an agent's message): sent again if the centre
/// stopped before the server took it.
const SENT: &str = "sent.eml";

/// A message's Message-ID, if it is of a sane length (it is kept as the message's id).
fn message_id(msg: &InboundMessage) -> Option<String> {
    msg.message_id
        .clone()
        .filter(|m| !m.is_empty() && m.len() <= 250)
}

/// Headers only: what a reply needs of the customer's message.
fn headers_of(mut m: InboundMessage) -> InboundMessage {
    m.text.clear();
    m.html = None;
    m.attachments.clear();
    m
}

impl Chats {
    /// Whether `msg` comes from the conversation's customer.
    fn same_customer(&self, id: InteractionId, msg: &InboundMessage) -> bool {
        let st = self.inner.state.lock();
        let Some(e) = st.convs.get(&id).and_then(|c| c.email.as_ref()) else {
            return false;
        };
        msg.reply_recipients()
            .iter()
            .chain(msg.from.iter())
            .any(|m| m.address.trim().eq_ignore_ascii_case(&e.customer.address))
    }

    fn mailbox(&self, address: &str) -> Option<MailboxInfo> {
        self.inner
            .mailboxes
            .read()
            .get(&address.trim().to_ascii_lowercase())
            .cloned()
    }

    /// Writes an e-mail's files under the conversation's directory: the original message,
    /// its HTML made safe, and its attachments (names, types and sizes as found).
    async fn keep_email_files(
        &self,
        id: InteractionId,
        raw: &[u8],
        msg: &InboundMessage,
    ) -> Result<Vec<Attachment>, ChatError> {
        let mut files: Vec<(Attachment, Vec<u8>)> = Vec::new();
        let mut add = |name: String, content_type: String, data: Vec<u8>| {
            let file = format!(
                "{}.{}",
                hotline_model::EventId::new(),
                extension(&name, &content_type)
            );
            files.push((
                Attachment {
                    name: name.chars().take(120).collect(),
                    content_type,
                    size: data.len() as u64,
                    path: format!("{id}/{file}"),
                },
                data,
            ));
        };
        for a in msg.attachments.iter().take(MAX_EMAIL_FILES) {
            let name = a
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| format!("part.{}", extension("", &a.content_type)));
            let reserved =
                [ORIGINAL, SAFE_HTML, SENT].contains(&name.trim().to_ascii_lowercase().as_str());
            let name = if reserved {
                format!("attached-{}", name.trim())
            } else {
                name
            };
            let content_type: String = a.content_type.chars().take(100).collect();
            add(name, content_type, a.data.clone());
        }
        if let Some(html) = &msg.html {
            let safe = hotline_mail::html::sanitize(html, hotline_mail::Policy::default());
            add(SAFE_HTML.into(), "text/html".into(), safe.html.into_bytes());
        }
        add(ORIGINAL.into(), "message/rfc822".into(), raw.to_vec());
        let dir = self.attachments_dir();
        let list: Vec<Attachment> = files.iter().map(|(a, _)| a.clone()).collect();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            for (a, data) in files {
                let path = dir.join(&a.path);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&path, data)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| ChatError::new("unavailable", e.to_string()))?
        .map_err(|e| ChatError::new("io", format!("keeping the e-mail's files: {e}")))?;
        Ok(list)
    }

    /// Keeps a composed reply beside the conversation's files, on disk for good before its
    /// `message` is logged: what is sent again if the centre stops before the server took
    /// it.
    async fn keep_sent(&self, id: InteractionId, bytes: &[u8]) -> Result<Attachment, ChatError> {
        let a = Attachment {
            name: SENT.into(),
            content_type: "message/rfc822".into(),
            size: bytes.len() as u64,
            path: format!("{id}/{}.eml", hotline_model::EventId::new()),
        };
        let path = self.attachments_dir().join(&a.path);
        let data = bytes.to_vec();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut f = std::fs::File::create(&path)?;
            f.write_all(&data)?;
            f.sync_all()
        })
        .await
        .map_err(|e| ChatError::new("unavailable", e.to_string()))?
        .map_err(|e| ChatError::new("io", format!("keeping the reply: {e}")))?;
        Ok(a)
    }

    /// A message fetched from the mailbox `mailbox` (its address): it starts a conversation
    /// or joins one. `Ok` once it is durable in the log: the caller may then mark it seen.
    pub async fn email_in(&self, mailbox: &str, raw: &[u8]) -> Result<EmailArrival, ChatError> {
        let info = self
            .mailbox(mailbox)
            .ok_or_else(|| ChatError::new("unknown_mailbox", format!("no mailbox {mailbox}")))?;
        let msg = hotline_mail::parse::parse(raw)
            .map_err(|e| ChatError::new("bad_message", e.to_string()))?;
        let _placing = self.inner.email_intake.lock().await;
        let placement = {
            let st = self.inner.state.lock();
            st.threads.find(&msg)
        };
        let open = |id: InteractionId| {
            self.inner.state.lock().convs.get(&id).is_some_and(|c| {
                c.email.is_some() && !matches!(c.phase, Phase::Ended { .. } | Phase::Left)
            })
        };
        match placement {
            hotline_mail::Placement::Existing {
                conversation,
                by: hotline_mail::Match::SameMessage,
            } => Ok(EmailArrival::Duplicate(conversation)),
            // A reference in the subject is easy to guess: it joins a conversation only
            // from the customer's own address (headers name the centre's Message-IDs,
            // which are not guessable).
            hotline_mail::Placement::Existing { conversation, by }
                if open(conversation)
                    && (!matches!(by, hotline_mail::Match::SubjectTag(_))
                        || self.same_customer(conversation, &msg)) =>
            {
                self.email_joins(conversation, raw, msg).await?;
                Ok(EmailArrival::Joined(conversation))
            }
            _ => {
                if let Some(why) = hotline_mail::automatic(&msg) {
                    return Ok(EmailArrival::Ignored(format!("{why:?}")));
                }
                // A copy of the centre's own mail (a Bcc, a forwarding loop) is no customer.
                if msg
                    .from
                    .as_ref()
                    .is_some_and(|f| self.mailbox(&f.address).is_some())
                {
                    return Ok(EmailArrival::Ignored(
                        "from the centre's own address".into(),
                    ));
                }
                self.email_starts(&info, raw, msg)
                    .await
                    .map(EmailArrival::New)
            }
        }
    }

    async fn email_starts(
        &self,
        info: &MailboxInfo,
        raw: &[u8],
        msg: InboundMessage,
    ) -> Result<InteractionId, ChatError> {
        let sender = msg
            .reply_recipients()
            .into_iter()
            .next()
            .or_else(|| msg.from.clone())
            .ok_or_else(|| ChatError::new("bad_message", "the message has no sender"))?;
        let address = hotline_model::normalize_email(&sender.address)
            .unwrap_or_else(|| sender.address.trim().to_string());
        let customer = self
            .store()
            .customer_by_email(&address)
            .await
            .ok()
            .flatten();
        let id = InteractionId::new();
        let now = Timestamp::now();
        let reference = self
            .log_arrival(
                id,
                now,
                Channel::Email,
                &address,
                &info.address,
                customer.as_ref(),
                &info.queue,
            )
            .await?;
        let reference = Reference(reference);
        let name = sender
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .or_else(|| customer.as_ref().map(|c| c.name.clone()))
            .unwrap_or_else(|| address.clone());
        self.inner
            .state
            .lock()
            .threads
            .remember_reference(reference, id);
        self.insert_remote(
            id,
            remote::RemoteConv {
                queue: info.queue.clone(),
                name,
                from: address.clone(),
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
            Some(Box::new(EmailSide {
                mailbox: info.address.clone(),
                customer: hotline_mail::Mailbox::new(address.clone(), sender.name.as_deref()),
                subject: msg.subject.clone(),
                reference,
                parent: None,
                last_agent: None,
                answered: false,
            })),
            None,
        );
        if let Err(e) = self.email_message(id, raw, &msg).await {
            self.close(id, EndReason::Error, "error").await;
            return Err(e);
        }
        if info.acknowledge {
            self.acknowledge(id, info, &msg, reference).await;
        }
        if let Err(e) = self.enqueue(id, info.queue.clone(), None, 0).await {
            self.close(id, EndReason::Error, "error").await;
            return Err(e);
        }
        Ok(id)
    }

    /// Logs the customer's message with its files, and makes it the one a reply answers.
    async fn email_message(
        &self,
        id: InteractionId,
        raw: &[u8],
        msg: &InboundMessage,
    ) -> Result<u64, ChatError> {
        let files = self.keep_email_files(id, raw, msg).await?;
        let text = cut(msg.text.trim(), MAX_EMAIL_TEXT);
        let subject = (!msg.subject.is_empty()).then(|| msg.subject.chars().take(500).collect());
        let seq = self
            .post(
                id,
                Sender::Customer,
                None,
                text,
                files,
                message_id(msg),
                subject,
            )
            .await?;
        let mut st = self.inner.state.lock();
        if let Some(mid) = message_id(msg) {
            st.threads.remember(&mid, id);
        }
        if let Some(e) = st.convs.get_mut(&id).and_then(|c| c.email.as_mut()) {
            e.parent = Some(headers_of(msg.clone()));
            e.answered = false;
        }
        Ok(seq)
    }

    /// The customer's reply to an open conversation: kept, and queued again if the agent
    /// had let it go.
    async fn email_joins(
        &self,
        id: InteractionId,
        raw: &[u8],
        msg: InboundMessage,
    ) -> Result<(), ChatError> {
        let automatic = hotline_mail::automatic(&msg).is_some();
        if automatic {
            // A bounce or an out-of-office answer to the centre's mail: the agent sees it,
            // the conversation does not wait in line for it.
            let files = self.keep_email_files(id, raw, &msg).await?;
            let text = cut(msg.text.trim(), MAX_EMAIL_TEXT);
            self.post(
                id,
                Sender::System,
                None,
                text,
                files,
                message_id(&msg),
                Some(msg.subject.chars().take(500).collect()),
            )
            .await?;
            if let Some(mid) = message_id(&msg) {
                self.inner.state.lock().threads.remember(&mid, id);
            }
            return Ok(());
        }
        self.email_message(id, raw, &msg).await?;
        self.requeue_pending(id).await
    }

    /// The acknowledgement of a new conversation with its reference, unless the message is
    /// automatic, from the centre itself, or the sender had enough of them lately.
    async fn acknowledge(
        &self,
        id: InteractionId,
        info: &MailboxInfo,
        msg: &InboundMessage,
        reference: Reference,
    ) {
        let now = Timestamp::now();
        let own: Vec<String> = self
            .inner
            .mailboxes
            .read()
            .values()
            .map(|m| m.address.clone())
            .collect();
        let own: Vec<&str> = own.iter().map(String::as_str).collect();
        let decision = {
            let mut st = self.inner.state.lock();
            hotline_mail::should_acknowledge(msg, &own, &mut st.acks.0, odt(now))
        };
        if decision != hotline_mail::AckDecision::Send {
            tracing::info!(conversation = %id, ?decision, "no acknowledgement");
            return;
        }
        let within = match info.target_seconds {
            0 => String::new(),
            s if s >= 3600 && s % 3600 == 0 => format!("{} h", s / 3600),
            s => format!("{} min", s.div_ceil(60)),
        };
        let text = if within.is_empty() {
            format!(
                "您好，我们已收到您的邮件，编号 {reference}。我们会尽快答复；直接回复本邮件即可补充信息。\n\n\
                 Hello, we have received your message; its reference is {reference}. We will \
                 answer soon. Reply to this e-mail to add anything.\n"
            )
        } else {
            format!(
                "您好，我们已收到您的邮件，编号 {reference}。我们通常在 {within} 内答复；直接回复本邮件即可补充信息。\n\n\
                 Hello, we have received your message; its reference is {reference}. We \
                 usually answer within {within}. Reply to this e-mail to add anything.\n"
            )
        };
        let text = if info.name.trim().is_empty() {
            text
        } else {
            format!("{text}\n— {}\n", info.name.trim())
        };
        if let Err(e) = self
            .answer_by_mail(id, info, msg, reference, text, None)
            .await
        {
            tracing::warn!(conversation = %id, error = %e.message, "no acknowledgement");
        }
    }

    /// Composes an answer to `parent` (an acknowledgement without `agent`, else the
    /// agent's reply), logs it as a `message` whose id is its Message-ID, remembers that
    /// for threading, and hands it to the mailbox's SMTP side. `Ok(seq)` once durable.
    async fn answer_by_mail(
        &self,
        id: InteractionId,
        info: &MailboxInfo,
        parent: &InboundMessage,
        reference: Reference,
        text: String,
        agent: Option<&str>,
    ) -> Result<u64, ChatError> {
        let now = Timestamp::now();
        let conversation = id.to_string();
        let origin = Origin {
            from: info.from(),
            conversation: &conversation,
            seq: now.unix_nanos().max(0) as u64,
            domain: info.domain(),
            reference,
            now: odt(now),
        };
        let out = match agent {
            None => hotline_mail::compose::acknowledgement(parent, &origin, &text),
            Some(_) => hotline_mail::compose::reply(parent, &origin, &text),
        }
        .map_err(|e| ChatError::new("bad_message", e.to_string()))?;
        let subject = hotline_mail::compose::reply_subject(&parent.subject, reference);
        let (sender, kept) = match agent {
            Some(_) => (Sender::Agent, vec![self.keep_sent(id, &out.bytes).await?]),
            None => (Sender::System, Vec::new()),
        };
        let seq = self
            .post(
                id,
                sender,
                agent.map(str::to_string),
                text,
                kept,
                Some(out.message_id.clone()),
                Some(subject),
            )
            .await?;
        self.inner
            .state
            .lock()
            .threads
            .remember(&out.message_id, id);
        let _ = self.inner.outbox.send(OutMail {
            mailbox: info.address.clone(),
            conversation: id,
            seq,
            message_id: out.message_id,
            envelope_from: out.envelope_from,
            recipients: out.recipients,
            bytes: out.bytes,
        });
        Ok(seq)
    }

    /// The agent's reply by e-mail: composed to answer the customer's latest message,
    /// logged, then handed to the mailbox's SMTP side. `Ok(seq)` once durable.
    pub(super) async fn email_reply(
        &self,
        id: InteractionId,
        agent: &str,
        text: String,
    ) -> Result<u64, ChatError> {
        let (mailbox, parent, reference) = {
            let st = self.inner.state.lock();
            let e = st
                .convs
                .get(&id)
                .and_then(|c| c.email.as_ref())
                .ok_or_else(gone)?;
            let parent = e.parent.clone().ok_or_else(|| {
                ChatError::new("no_message", "there is no customer's message to answer")
            })?;
            (e.mailbox.clone(), parent, e.reference)
        };
        // Looked up after the state lock is let go: never one lock under the other.
        let info = self.mailbox(&mailbox).ok_or_else(|| {
            ChatError::new(
                "unknown_mailbox",
                format!("the mailbox {mailbox} is no longer configured"),
            )
        })?;
        let seq = self
            .answer_by_mail(id, &info, &parent, reference, text, Some(agent))
            .await?;
        if let Some(e) = self
            .inner
            .state
            .lock()
            .convs
            .get_mut(&id)
            .and_then(|c| c.email.as_mut())
        {
            e.answered = true;
            e.last_agent = Some(agent.to_string());
        }
        Ok(seq)
    }

    /// An answered e-mail or text conversation the agent lets go waits for the customer:
    /// the agent's capacity is given back and the desk wraps it up. False when it is a web
    /// chat or is not answered (then the agent's end closes it).
    pub(super) fn awaits_reply(&self, id: InteractionId, agent: &str) -> bool {
        let mut st = self.inner.state.lock();
        let Some(c) = st.convs.get_mut(&id) else {
            return false;
        };
        if !c.answered() || !matches!(&c.phase, Phase::Active { agent: a } if a == agent) {
            return false;
        }
        c.phase = Phase::Pending {
            since: Timestamp::now(),
        };
        if let Some(e) = c.email.as_mut() {
            e.last_agent = Some(agent.to_string());
        }
        if let Some(s) = c.sms.as_mut() {
            s.last_agent = Some(agent.to_string());
        }
        let _ = self.inner.shared.router.send(RouterCmd::End {
            contact: c.contact,
            agitation: None,
            abusive: false,
        });
        st.push_agent(
            agent,
            json!({"type": "ended", "conversation": id, "by": "agent", "pending": true}),
        );
        true
    }

    /// A composed e-mail could not be sent: its status says so, the transcript tells the
    /// agent, and a conversation that waited for the customer waits in line again, first
    /// for the agent who wrote it, since the customer has had no answer.
    pub(crate) async fn email_not_sent(&self, id: InteractionId, seq: u64, why: &str) {
        self.message_status(id, seq, &format!("failed: {why}"))
            .await;
        let text = format!("The e-mail above could not be sent: {why}");
        let _ = self
            .post(id, Sender::System, None, text, Vec::new(), None, None)
            .await;
        if let Some(e) = self
            .inner
            .state
            .lock()
            .convs
            .get_mut(&id)
            .and_then(|c| c.email.as_mut())
        {
            e.answered = false;
        }
        let _ = self.requeue_pending(id).await;
    }

    /// Reads open e-mail conversations back from the log after a restart.
    pub(super) async fn restore_email(&self, open: &[InteractionId]) {
        for id in open {
            if let Err(e) = self.restore_email_one(*id).await {
                tracing::error!(conversation = %id, error = %e.message, "an open e-mail was not read back");
            }
        }
    }

    /// A reply as it was composed, read back from its kept copy, to be sent again.
    async fn composed_again(
        &self,
        id: InteractionId,
        mailbox: &str,
        seq: u64,
        m: &Msg,
    ) -> Option<OutMail> {
        let kept = m
            .attachments
            .iter()
            .find(|a| a.name == SENT && a.content_type == "message/rfc822")?;
        let bytes = tokio::fs::read(self.attachments_dir().join(&kept.path))
            .await
            .ok()?;
        let head = hotline_mail::parse::parse(&bytes).ok()?;
        let recipients: Vec<String> = head
            .to
            .iter()
            .chain(&head.cc)
            .map(|a| a.address.clone())
            .collect();
        if recipients.is_empty() {
            return None;
        }
        Some(OutMail {
            mailbox: mailbox.to_string(),
            conversation: id,
            seq,
            message_id: head.message_id.or_else(|| m.client_id.clone())?,
            envelope_from: mailbox.to_string(),
            recipients,
            bytes,
        })
    }

    async fn restore_email_one(&self, id: InteractionId) -> Result<(), ChatError> {
        let mut r = self.read_back(id).await?;
        let reference = Reference(r.arrived_seq);
        // The customer's latest message, read from its original: what a reply answers.
        let latest = r
            .conv
            .messages
            .iter()
            .rev()
            .find(|m| m.sender == Sender::Customer);
        let original = latest
            .and_then(|m| {
                m.attachments
                    .iter()
                    .rev()
                    .find(|a| a.name == ORIGINAL && a.content_type == "message/rfc822")
            })
            .map(|a| self.attachments_dir().join(&a.path));
        let mut parent = None;
        if let Some(path) = original
            && let Ok(raw) = tokio::fs::read(&path).await
            && let Ok(m) = hotline_mail::parse::parse(&raw)
        {
            parent = Some(headers_of(m));
        }
        // Without the original (removed, unreadable), the log still knows enough to answer:
        // the customer's address, the subject and the Message-ID.
        if parent.is_none()
            && let Some(m) = latest
        {
            let clean = |t: &str| -> String { t.chars().filter(|c| !c.is_control()).collect() };
            let mut head = format!("From: <{}>\r\n", clean(&r.conv.from));
            if let Some(subject) = &m.subject {
                head.push_str(&format!("Subject: {}\r\n", clean(subject)));
            }
            if let Some(mid) = &m.client_id {
                head.push_str(&format!("Message-ID: <{}>\r\n", clean(mid)));
            }
            head.push_str("\r\n");
            parent = hotline_mail::parse::parse(head.as_bytes())
                .ok()
                .map(headers_of);
        }
        let subject = r
            .conv
            .messages
            .iter()
            .find_map(|m| m.subject.clone())
            .unwrap_or_default();
        let sender_name = parent
            .as_ref()
            .and_then(|p| p.from.as_ref())
            .and_then(|f| f.name.clone());
        if let Some(n) = &sender_name {
            r.conv.name = n.clone();
        }
        {
            let mut st = self.inner.state.lock();
            st.threads.remember_reference(reference, id);
            for m in &r.conv.messages {
                if let Some(mid) = &m.client_id {
                    st.threads.remember(mid, id);
                }
            }
        }
        // Replies the server may not have taken before the stop go again, as composed (the
        // same Message-ID: a customer who got one already sees one). The conversation then
        // waits for the customer as if they had been confirmed.
        let mut again = Vec::new();
        for &seq in &r.unconfirmed {
            if let Some(m) = r.conv.messages.iter().find(|m| m.seq == seq)
                && let Some(out) = self.composed_again(id, &r.to, seq, m).await
            {
                again.push(out);
            }
        }
        if !r.unconfirmed.is_empty() && again.len() == r.unconfirmed.len() {
            let last = r
                .conv
                .messages
                .iter()
                .rfind(|m| m.seq == r.unconfirmed[r.unconfirmed.len() - 1]);
            r.answered_at = last.map(|m| m.at);
            r.conv.phase = Phase::Pending {
                since: r.answered_at.unwrap_or_else(Timestamp::now),
            };
            r.conv.agent = r.last_agent.clone();
            r.unconfirmed.clear();
        }
        let answered = r.answered_at.is_some();
        // The queue it waited in, else its mailbox's (a queue renamed since).
        let queue = Some(r.conv.queue.clone())
            .filter(|q| self.inner.email_queues.read().contains(q))
            .or_else(|| self.mailbox(&r.to).map(|m| m.queue))
            .unwrap_or_default();
        r.conv.queue = queue.clone();
        let customer = hotline_mail::Mailbox::new(r.conv.from.clone(), sender_name.as_deref());
        // The agent is asked to check only the replies that are not sent again here.
        let mut unconfirmed = std::mem::take(&mut r.unconfirmed);
        unconfirmed.retain(|seq| !again.iter().any(|out| out.seq == *seq));
        self.insert_remote(
            id,
            r.conv,
            Some(Box::new(EmailSide {
                mailbox: r.to,
                customer,
                subject,
                reference,
                parent,
                last_agent: r.last_agent.clone(),
                answered,
            })),
            None,
        );
        self.warn_unconfirmed(id, &unconfirmed).await;
        for out in again {
            let text = format!(
                "The centre stopped before message {} was confirmed sent: it is sent again.",
                out.seq
            );
            let _ = self
                .post(id, Sender::System, None, text, Vec::new(), None, None)
                .await;
            let _ = self.inner.outbox.send(out);
        }
        if !answered && let Err(e) = self.enqueue(id, queue, r.last_agent, 0).await {
            self.close(id, EndReason::Error, "error").await;
            return Err(e);
        }
        Ok(())
    }
}
