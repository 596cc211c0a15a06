//! Never answer a machine: auto-reply, bounce and list detection, and a
//! per-sender limit on acknowledgements.

use std::collections::{HashMap, VecDeque};

use time::{Duration, OffsetDateTime};

use crate::parse::InboundMessage;

/// Why a message is treated as automatic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Automatic {
    /// `Auto-Submitted` with a value other than `no` (RFC 3834).
    AutoSubmitted(String),
    /// `Precedence: bulk`, `junk` or `list`.
    Precedence(String),
    /// `X-Autoreply` or `X-Autorespond`.
    XAutoreply,
    /// Sent through a mailing list (`List-Id`).
    List(String),
    /// The null sender `<>` in `Return-Path`: a bounce or notification.
    NullSender,
    /// From a mailer daemon, postmaster or no-reply address.
    DaemonSender(String),
    /// A delivery or disposition report (`multipart/report`).
    Report,
}

/// Whether a message was sent by a machine, and why. Such messages are
/// still routed to agents, but never acknowledged automatically.
pub fn automatic(message: &InboundMessage) -> Option<Automatic> {
    let h = &message.loop_headers;
    if let Some(value) = &h.auto_submitted {
        let v = value.trim().to_ascii_lowercase();
        if !v.is_empty() && v != "no" && !v.starts_with("no;") && !v.starts_with("no ") {
            return Some(Automatic::AutoSubmitted(value.clone()));
        }
    }
    if let Some(value) = &h.precedence {
        let v = value.trim().to_ascii_lowercase();
        if ["bulk", "junk", "list", "auto_reply"].contains(&v.as_str()) {
            return Some(Automatic::Precedence(value.clone()));
        }
    }
    if h.x_autoreply {
        return Some(Automatic::XAutoreply);
    }
    if let Some(list) = &h.list_id {
        return Some(Automatic::List(list.clone()));
    }
    if h.return_path.as_deref().is_some_and(str::is_empty) {
        return Some(Automatic::NullSender);
    }
    if let Some(from) = &message.from
        && is_daemon_address(&from.address)
    {
        return Some(Automatic::DaemonSender(from.address.clone()));
    }
    if h.content_type.as_deref() == Some("multipart/report") {
        return Some(Automatic::Report);
    }
    None
}

/// True for addresses that machines send from: `mailer-daemon`,
/// `postmaster`, `no-reply` and the like (local part, any case).
pub fn is_daemon_address(address: &str) -> bool {
    let local = address
        .rsplit_once('@')
        .map_or(address, |(local, _)| local)
        .to_ascii_lowercase();
    let local = local.split('+').next().unwrap_or_default();
    matches!(
        local,
        "mailer-daemon"
            | "mailerdaemon"
            | "postmaster"
            | "no-reply"
            | "noreply"
            | "do-not-reply"
            | "donotreply"
            | "bounce"
            | "bounces"
    ) || local.starts_with("owner-")
        || local.ends_with("-request")
        || local.ends_with("-bounces")
}

/// Limits acknowledgements per sender: at most `max` in any `window`,
/// driven by the times passed in. Rebuildable from the log by calling
/// [`AckLimiter::record`] for each acknowledgement sent.
#[derive(Debug, Clone)]
pub struct AckLimiter {
    max: usize,
    window: Duration,
    sent: HashMap<String, VecDeque<OffsetDateTime>>,
}

impl AckLimiter {
    /// At most `max` acknowledgements to one sender in `window`.
    pub fn new(max: usize, window: Duration) -> Self {
        AckLimiter {
            max,
            window,
            sent: HashMap::new(),
        }
    }

    /// Whether an acknowledgement to `sender` may go out at `now`; if so,
    /// records it. Addresses compare case-insensitively.
    pub fn allow(&mut self, sender: &str, now: OffsetDateTime) -> bool {
        let key = sender.trim().to_ascii_lowercase();
        let window = self.window;
        let times = self.sent.entry(key).or_default();
        while times.front().is_some_and(|t| *t + window <= now) {
            times.pop_front();
        }
        if times.len() >= self.max {
            return false;
        }
        times.push_back(now);
        true
    }

    /// Records an acknowledgement sent at `at` (for rebuilding).
    pub fn record(&mut self, sender: &str, at: OffsetDateTime) {
        let key = sender.trim().to_ascii_lowercase();
        let times = self.sent.entry(key).or_default();
        let pos = times.partition_point(|t| *t <= at);
        times.insert(pos, at);
    }

    /// Forgets what is older than the window at `now`, to bound memory.
    pub fn prune(&mut self, now: OffsetDateTime) {
        let window = self.window;
        self.sent.retain(|_, times| {
            while times.front().is_some_and(|t| *t + window <= now) {
                times.pop_front();
            }
            !times.is_empty()
        });
    }
}

/// What to do about acknowledging a new message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckDecision {
    /// Send the acknowledgement (the limiter has counted it).
    Send,
    /// The message is automatic; never answer it.
    Automatic(Automatic),
    /// It comes from one of the centre's own addresses.
    FromOurselves,
    /// There is no address to answer.
    NoSender,
    /// The sender had too many acknowledgements recently.
    RateLimited,
}

/// Decides whether to acknowledge a message that started a conversation.
/// `own_addresses` are the centre's mailbox addresses (compared without
/// case).
pub fn should_acknowledge(
    message: &InboundMessage,
    own_addresses: &[&str],
    limiter: &mut AckLimiter,
    now: OffsetDateTime,
) -> AckDecision {
    if let Some(why) = automatic(message) {
        return AckDecision::Automatic(why);
    }
    let Some(recipient) = message.reply_recipients().into_iter().next() else {
        return AckDecision::NoSender;
    };
    let is_own = |address: &str| {
        own_addresses
            .iter()
            .any(|own| own.eq_ignore_ascii_case(address.trim()))
    };
    if message.from.as_ref().is_some_and(|f| is_own(&f.address)) || is_own(&recipient.address) {
        return AckDecision::FromOurselves;
    }
    if is_daemon_address(&recipient.address) {
        return AckDecision::Automatic(Automatic::DaemonSender(recipient.address));
    }
    if !limiter.allow(&recipient.address, now) {
        return AckDecision::RateLimited;
    }
    AckDecision::Send
}
