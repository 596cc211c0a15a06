//! Replies and acknowledgements as RFC 5322 bytes ready for SMTP.

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address as BuilderAddress;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;
use time::OffsetDateTime;

use crate::html;
use crate::parse::{InboundMessage, Mailbox};
use crate::thread::Reference;

/// Most ids kept in a composed References header: the thread's root and
/// the latest ones, as RFC 5322 suggests trimming long chains.
pub const MAX_REFERENCES: usize = 20;

/// Why a message could not be composed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    /// The parent has no address to answer (no `From`, no `Reply-To`).
    #[error("the message has no sender to answer")]
    NoRecipient,
    /// An address is not a plain `local@domain` (or has line breaks).
    #[error("not a usable address: {0:?}")]
    BadAddress(String),
    /// The Message-ID domain is not a plain host name.
    #[error("not a usable Message-ID domain: {0:?}")]
    BadDomain(String),
    /// Writing the message failed (should not happen in memory).
    #[error("could not write the message: {0}")]
    Write(String),
}

/// The centre's side of an answer: which mailbox answers, in which
/// conversation, and what makes its Message-ID unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin<'a> {
    /// The mailbox's address and display name, e.g. `Support <help@shop.example>`.
    pub from: Mailbox,
    /// The conversation id (used in the Message-ID).
    pub conversation: &'a str,
    /// A number unique within the conversation, e.g. the event sequence.
    pub seq: u64,
    /// The domain for the Message-ID, normally the mailbox's domain.
    pub domain: &'a str,
    /// The conversation's reference number, tagged into the subject.
    pub reference: Reference,
    /// The time to put in `Date`.
    pub now: OffsetDateTime,
}

/// A composed message with its SMTP envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The message, CRLF line endings, 7-bit clean.
    pub bytes: Vec<u8>,
    /// Its Message-ID without angle brackets (remember it in
    /// [`crate::Threads`]).
    pub message_id: String,
    /// Envelope sender (MAIL FROM).
    pub envelope_from: String,
    /// Envelope recipients (RCPT TO).
    pub recipients: Vec<String>,
}

/// The Message-ID for a message of a conversation:
/// `{conversation}.{seq}@{domain}` (without angle brackets). Characters
/// that may not appear in a Message-ID are replaced by `-`.
pub fn message_id(conversation: &str, seq: u64, domain: &str) -> Result<String, ComposeError> {
    let domain = domain.trim();
    let domain_ok = !domain.is_empty()
        && domain.len() <= 253
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !domain_ok {
        return Err(ComposeError::BadDomain(domain.to_owned()));
    }
    let local: String = conversation
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_+=.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let local = local.trim_matches('.');
    let local = if local.is_empty() {
        "conversation"
    } else {
        local
    };
    Ok(format!("{local}.{seq}@{domain}"))
}

/// The subject of an answer: reply prefixes (`Re:`, `RE:`, `Aw:`, `Sv:`,
/// `回复:` ...) stripped and a single `Re: ` put back, and the reference
/// tag kept if present or appended.
pub fn reply_subject(original: &str, reference: Reference) -> String {
    let one_line: String = original
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut rest = one_line.trim();
    loop {
        let stripped = strip_reply_prefix(rest);
        if stripped.len() == rest.len() {
            break;
        }
        rest = stripped.trim_start();
    }
    let mut subject = String::from("Re:");
    if !rest.is_empty() {
        subject.push(' ');
        subject.push_str(rest);
    }
    if Reference::find_in(rest) != Some(reference) {
        subject.push(' ');
        subject.push_str(&reference.tag());
    }
    subject
}

fn strip_reply_prefix(s: &str) -> &str {
    const PREFIXES: &[&str] = &[
        "re", "aw", "sv", "vs", "antw", "antwort", "odp", "res", "ref", "回复", "回覆", "答复",
        "答覆",
    ];
    for prefix in PREFIXES {
        let Some(head) = s.get(..prefix.len()) else {
            continue;
        };
        if !head.eq_ignore_ascii_case(prefix) {
            continue;
        }
        let mut tail = &s[prefix.len()..];
        // Counters such as "Re[2]:" or "Re(2):".
        if let Some(inner) = tail.strip_prefix('[').or_else(|| tail.strip_prefix('(')) {
            let digits = inner.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0
                && let Some(after) = inner[digits..]
                    .strip_prefix(']')
                    .or_else(|| inner[digits..].strip_prefix(')'))
            {
                tail = after;
            }
        }
        let tail = tail.trim_start_matches(' ');
        if let Some(after) = tail.strip_prefix(':').or_else(|| tail.strip_prefix('：')) {
            return after;
        }
    }
    s
}

/// The References for an answer to `parent`: the parent's References (or
/// its In-Reply-To when it has none) followed by its Message-ID, trimmed
/// to [`MAX_REFERENCES`] by keeping the first (the thread's root) and the
/// latest ones.
pub fn references_for(parent: &InboundMessage) -> Vec<String> {
    let mut refs: Vec<String> = if parent.references.is_empty() {
        parent.in_reply_to.iter().take(1).cloned().collect()
    } else {
        parent.references.clone()
    };
    if let Some(id) = &parent.message_id {
        refs.retain(|r| r != id);
        refs.push(id.clone());
    }
    let mut seen = std::collections::HashSet::new();
    refs.retain(|r| valid_id(r) && seen.insert(r.clone()));
    if refs.len() > MAX_REFERENCES {
        let tail = refs.split_off(refs.len() - (MAX_REFERENCES - 1));
        refs.truncate(1);
        refs.extend(tail);
    }
    refs
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 250
        && id.contains('@')
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
}

/// A reply by an agent to `parent`, to its Reply-To or From.
pub fn reply(
    parent: &InboundMessage,
    origin: &Origin<'_>,
    text: &str,
) -> Result<Outgoing, ComposeError> {
    answer(parent, origin, text, false)
}

/// An automatic acknowledgement of `parent` (RFC 3834: marked
/// `Auto-Submitted: auto-replied`, sent from the null envelope sender so
/// that a bounce of it cannot loop). Decide first with
/// [`crate::auto::should_acknowledge`].
pub fn acknowledgement(
    parent: &InboundMessage,
    origin: &Origin<'_>,
    text: &str,
) -> Result<Outgoing, ComposeError> {
    answer(parent, origin, text, true)
}

fn answer(
    parent: &InboundMessage,
    origin: &Origin<'_>,
    text: &str,
    automatic: bool,
) -> Result<Outgoing, ComposeError> {
    let to: Vec<Mailbox> = parent
        .reply_recipients()
        .into_iter()
        .filter(|m| valid_address(&m.address))
        .collect();
    if to.is_empty() {
        return Err(ComposeError::NoRecipient);
    }
    let id = message_id(origin.conversation, origin.seq, origin.domain)?;
    let subject = reply_subject(&parent.subject, origin.reference);
    let parent_id = parent.message_id.as_deref().filter(|id| valid_id(id));
    let references = references_for(parent);
    let mut outgoing = compose(&Draft {
        from: &origin.from,
        to: &to,
        subject: &subject,
        message_id: &id,
        in_reply_to: parent_id,
        references: &references,
        date: origin.now,
        text,
        auto_submitted: automatic.then_some("auto-replied"),
    })?;
    if automatic {
        // RFC 3834 section 3.3: auto-responses go from the null sender.
        outgoing.envelope_from = String::new();
    }
    Ok(outgoing)
}

/// Everything a composed message is made of; [`compose`] writes it.
#[derive(Debug, Clone, Copy)]
pub struct Draft<'a> {
    /// Author.
    pub from: &'a Mailbox,
    /// Recipients.
    pub to: &'a [Mailbox],
    /// Subject (line breaks are replaced by spaces).
    pub subject: &'a str,
    /// Message-ID without angle brackets.
    pub message_id: &'a str,
    /// The parent's Message-ID, without angle brackets.
    pub in_reply_to: Option<&'a str>,
    /// References, oldest first, without angle brackets.
    pub references: &'a [String],
    /// Date.
    pub date: OffsetDateTime,
    /// Plain-text body; the HTML alternative is made from it.
    pub text: &'a str,
    /// `Auto-Submitted` value, if any (e.g. `auto-replied`).
    pub auto_submitted: Option<&'a str>,
}

/// Writes a draft as a `multipart/alternative` (UTF-8 text and simple
/// HTML) message. Deterministic: the same draft gives the same bytes.
pub fn compose(draft: &Draft<'_>) -> Result<Outgoing, ComposeError> {
    for mailbox in std::iter::once(draft.from).chain(draft.to) {
        if !valid_address(&mailbox.address) {
            return Err(ComposeError::BadAddress(mailbox.address.clone()));
        }
    }
    if !valid_id(draft.message_id) {
        return Err(ComposeError::BadAddress(draft.message_id.to_owned()));
    }
    let one_line = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .trim()
            .to_owned()
    };
    let address = |m: &Mailbox| -> BuilderAddress<'static> {
        let name = m.name.as_deref().map(one_line).filter(|n| !n.is_empty());
        BuilderAddress::new_address(name, m.address.trim().to_owned())
    };
    let text = draft.text.replace("\r\n", "\n");
    let boundary = format!("=_hotline_{}", draft.message_id.replace(['@', '.'], "_"));
    let body = MimePart::new(
        ContentType::new("multipart/alternative").attribute("boundary", boundary),
        vec![
            MimePart::new("text/plain", text.clone()),
            MimePart::new("text/html", html::from_text(&text)),
        ],
    );
    let mut builder = MessageBuilder::new()
        .from(address(draft.from))
        .to(BuilderAddress::new_list(
            draft.to.iter().map(address).collect(),
        ))
        .subject(one_line(draft.subject))
        .message_id(draft.message_id.to_owned())
        .date(draft.date.unix_timestamp());
    if let Some(parent) = draft.in_reply_to {
        builder = builder.in_reply_to(parent.to_owned());
    }
    if !draft.references.is_empty() {
        builder = builder.references(MessageId::new_list(draft.references.iter().cloned()));
    }
    if let Some(value) = draft.auto_submitted {
        builder = builder.header("Auto-Submitted", Raw::new(one_line(value)));
    }
    let bytes = builder
        .body(body)
        .write_to_vec()
        .map_err(|e| ComposeError::Write(e.to_string()))?;
    Ok(Outgoing {
        bytes,
        message_id: draft.message_id.to_owned(),
        envelope_from: draft.from.address.trim().to_owned(),
        recipients: draft
            .to
            .iter()
            .map(|m| m.address.trim().to_owned())
            .collect(),
    })
}

fn valid_address(address: &str) -> bool {
    let address = address.trim();
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && address.len() <= 254
        && address
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !"<>,;\"\\()[]".contains(c))
}
