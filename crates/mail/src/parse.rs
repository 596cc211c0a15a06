//! Inbound RFC 5322 / MIME messages, parsed into [`InboundMessage`].

use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};
use time::{OffsetDateTime, UtcOffset};

use crate::html;

/// Bounds on what [`parse`] accepts, so one huge or odd message cannot
/// exhaust the shell's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest raw message accepted, in bytes.
    pub max_bytes: usize,
    /// Most attachments (including inline parts such as images) accepted.
    pub max_attachments: usize,
}

impl Default for Limits {
    /// 25 MiB and 100 attachments, in line with what common providers accept.
    fn default() -> Self {
        Limits {
            max_bytes: 25 * 1024 * 1024,
            max_attachments: 100,
        }
    }
}

/// Why a message could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The raw message is larger than [`Limits::max_bytes`].
    #[error("message is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Size of the raw message.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The message has more attachments than [`Limits::max_attachments`].
    #[error("message has {count} attachments, more than the limit of {limit}")]
    TooManyAttachments {
        /// Number of attachments found.
        count: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The bytes do not look like a message at all (empty, or no headers).
    #[error("not an e-mail message: {0}")]
    NotAMessage(&'static str),
}

/// One address with its optional display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// The addr-spec, e.g. `jane@example.com`.
    pub address: String,
    /// The display name, decoded, e.g. `Jane Doe`.
    pub name: Option<String>,
}

impl Mailbox {
    /// A mailbox with an address and an optional display name.
    pub fn new(address: impl Into<String>, name: Option<&str>) -> Self {
        Mailbox {
            address: address.into(),
            name: name.map(str::to_owned),
        }
    }
}

/// One attachment or inline part that is not the message's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// File name from Content-Disposition or Content-Type, if any.
    pub name: Option<String>,
    /// `type/subtype`, lower case, e.g. `image/png`.
    pub content_type: String,
    /// Size of the decoded contents in bytes.
    pub size: usize,
    /// Content-ID without angle brackets, for `cid:` references from HTML.
    pub content_id: Option<String>,
    /// True when the part was marked inline rather than as an attachment.
    pub inline: bool,
    /// The decoded contents.
    pub data: Vec<u8>,
}

/// Headers that tell an automatic message (auto-reply, bounce, list mail)
/// from a person's. See [`crate::auto`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopHeaders {
    /// `Auto-Submitted` (RFC 3834), e.g. `auto-replied`.
    pub auto_submitted: Option<String>,
    /// `Precedence`, e.g. `bulk`, `junk`, `list`.
    pub precedence: Option<String>,
    /// `X-Autoreply` or `X-Autorespond` present (any value).
    pub x_autoreply: bool,
    /// `List-Id` (RFC 2919).
    pub list_id: Option<String>,
    /// `Return-Path`, without angle brackets; `Some("")` for the null
    /// sender `<>` that bounces carry.
    pub return_path: Option<String>,
    /// The top-level `type/subtype`, e.g. `multipart/report` for a
    /// delivery status notification.
    pub content_type: Option<String>,
}

/// A parsed inbound message: what the contact centre needs to route,
/// thread, show and answer it.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    /// In-Reply-To ids without angle brackets (normally one).
    pub in_reply_to: Vec<String>,
    /// References ids without angle brackets, oldest first.
    pub references: Vec<String>,
    /// The author (`From`; the first one if there are several).
    pub from: Option<Mailbox>,
    /// `To` recipients.
    pub to: Vec<Mailbox>,
    /// `Cc` recipients.
    pub cc: Vec<Mailbox>,
    /// `Reply-To` addresses.
    pub reply_to: Vec<Mailbox>,
    /// Subject, decoded (RFC 2047); empty when absent.
    pub subject: String,
    /// `Date`, if present and valid.
    pub date: Option<OffsetDateTime>,
    /// Plain-text body: the text parts, or a rendering of the HTML when
    /// the message has only HTML.
    pub text: String,
    /// The HTML body as sent (unsafe to show as is: see [`crate::html`]).
    pub html: Option<String>,
    /// Attachments and inline parts.
    pub attachments: Vec<Attachment>,
    /// Headers for auto-reply and loop detection.
    pub loop_headers: LoopHeaders,
    /// Size of the raw message in bytes.
    pub size: usize,
}

impl InboundMessage {
    /// Where an answer goes: the `Reply-To` addresses if any, else `From`.
    pub fn reply_recipients(&self) -> Vec<Mailbox> {
        if !self.reply_to.is_empty() {
            self.reply_to.clone()
        } else {
            self.from.iter().cloned().collect()
        }
    }
}

/// Parses a raw message with the [default limits](Limits::default).
pub fn parse(raw: &[u8]) -> Result<InboundMessage, ParseError> {
    parse_with(raw, Limits::default())
}

/// Parses a raw message (as fetched by IMAP `BODY[]` or `RFC822`).
///
/// Never panics; malformed parts are read as leniently as the underlying
/// parser allows, and only the cases in [`ParseError`] are refused.
pub fn parse_with(raw: &[u8], limits: Limits) -> Result<InboundMessage, ParseError> {
    if raw.len() > limits.max_bytes {
        return Err(ParseError::TooLarge {
            size: raw.len(),
            limit: limits.max_bytes,
        });
    }
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::NotAMessage("empty"));
    }
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(ParseError::NotAMessage("no headers"))?;
    if message.headers().is_empty() {
        return Err(ParseError::NotAMessage("no headers"));
    }

    let count = message.attachment_count();
    if count > limits.max_attachments {
        return Err(ParseError::TooManyAttachments {
            count,
            limit: limits.max_attachments,
        });
    }

    let html_parts: Vec<&str> = message
        .html_bodies()
        .filter_map(|part| match &part.body {
            PartType::Html(html) => Some(html.as_ref()),
            _ => None,
        })
        .collect();
    let html = (!html_parts.is_empty()).then(|| html_parts.join("\n<hr>\n"));

    let text_parts: Vec<&str> = message
        .text_bodies()
        .filter_map(|part| match &part.body {
            PartType::Text(text) => Some(text.as_ref()),
            _ => None,
        })
        .collect();
    let text = if !text_parts.is_empty() {
        text_parts.join("\n\n")
    } else if let Some(html) = &html {
        html::to_text(html)
    } else {
        String::new()
    };

    let attachments = message
        .attachments()
        .map(|part| {
            let content_type = part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".to_owned())
                .to_ascii_lowercase();
            let data: Vec<u8> = match &part.body {
                PartType::Message(inner) => inner.raw_message().to_vec(),
                _ => part.contents().to_vec(),
            };
            Attachment {
                name: part.attachment_name().map(str::to_owned),
                content_type,
                size: data.len(),
                content_id: part.content_id().map(|id| strip_brackets(id).to_owned()),
                inline: part.content_disposition().is_some_and(|cd| cd.is_inline())
                    || matches!(part.body, PartType::InlineBinary(_)),
                data,
            }
        })
        .collect();

    let loop_headers = LoopHeaders {
        auto_submitted: header_text(&message, "Auto-Submitted"),
        precedence: header_text(&message, "Precedence"),
        x_autoreply: message.header("X-Autoreply").is_some()
            || message.header("X-Autorespond").is_some(),
        list_id: header_text(&message, "List-Id"),
        return_path: message
            .header_raw("Return-Path")
            .map(|raw| strip_brackets(raw.trim()).to_owned()),
        content_type: message.root_part().content_type().map(|ct| {
            match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_owned(),
            }
            .to_ascii_lowercase()
        }),
    };

    Ok(InboundMessage {
        message_id: message
            .message_id()
            .map(|id| strip_brackets(id).to_owned())
            .filter(|id| !id.is_empty()),
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        from: message.from().and_then(|a| mailboxes(a).into_iter().next()),
        to: message.to().map(mailboxes).unwrap_or_default(),
        cc: message.cc().map(mailboxes).unwrap_or_default(),
        reply_to: message.reply_to().map(mailboxes).unwrap_or_default(),
        subject: message.subject().unwrap_or_default().trim().to_owned(),
        date: message.date().and_then(|d| {
            let offset_seconds = (i32::from(d.tz_hour) * 3600 + i32::from(d.tz_minute) * 60)
                * if d.tz_before_gmt { -1 } else { 1 };
            let offset = UtcOffset::from_whole_seconds(offset_seconds).ok()?;
            OffsetDateTime::from_unix_timestamp(d.to_timestamp())
                .ok()
                .map(|t| t.to_offset(offset))
        }),
        text,
        html,
        attachments,
        loop_headers,
        size: raw.len(),
    })
}

/// Strips one pair of surrounding angle brackets and whitespace.
pub(crate) fn strip_brackets(id: &str) -> &str {
    let id = id.trim();
    id.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(id)
        .trim()
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let list: Vec<&str> = match value {
        HeaderValue::Text(id) => vec![id.as_ref()],
        HeaderValue::TextList(ids) => ids.iter().map(|id| id.as_ref()).collect(),
        _ => Vec::new(),
    };
    list.into_iter()
        .map(|id| strip_brackets(id).to_owned())
        .filter(|id| !id.is_empty())
        .collect()
}

fn mailboxes(address: &Address<'_>) -> Vec<Mailbox> {
    address
        .iter()
        .filter_map(|addr| {
            let address = addr.address()?.trim();
            if address.is_empty() {
                return None;
            }
            Some(Mailbox {
                address: address.to_owned(),
                name: addr
                    .name()
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty()),
            })
        })
        .collect()
}

fn header_text(message: &mail_parser::Message<'_>, name: &str) -> Option<String> {
    let raw = message.header_raw(name)?;
    let text: String = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(text)
}
