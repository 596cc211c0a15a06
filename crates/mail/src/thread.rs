//! Which conversation a message belongs to, and the reference numbers
//! that the centre puts in every subject.

use std::collections::HashMap;
use std::fmt;

use crate::parse::{InboundMessage, strip_brackets};

/// A reference number shown to customers, written `HL-000123` and tagged
/// in subjects as `[#HL-000123]` so that a reply from a client that drops
/// the threading headers still joins its conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference(pub u64);

impl Reference {
    /// The prefix before the number.
    pub const PREFIX: &'static str = "HL-";

    /// The subject tag, e.g. `[#HL-000123]`.
    pub fn tag(self) -> String {
        format!("[#{self}]")
    }

    /// Finds the last reference tag in a subject (the centre appends its
    /// tag, and a customer may quote an older one before it). Accepts
    /// any case and 1 to 18 digits.
    pub fn find_in(subject: &str) -> Option<Reference> {
        let bytes = subject.as_bytes();
        let mut found = None;
        let mut i = 0;
        while let Some(pos) = subject.get(i..).and_then(|s| s.find("[#")) {
            let start = i + pos + 2;
            i = start;
            let prefix_end = start + Self::PREFIX.len();
            let Some(prefix) = subject.get(start..prefix_end) else {
                break;
            };
            if !prefix.eq_ignore_ascii_case(Self::PREFIX) {
                continue;
            }
            let digits = bytes[prefix_end..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits == 0 || digits > 18 || bytes.get(prefix_end + digits) != Some(&b']') {
                continue;
            }
            if let Some(n) = subject
                .get(prefix_end..prefix_end + digits)
                .and_then(|d| d.parse().ok())
            {
                found = Some(Reference(n));
            }
        }
        found
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:06}", Self::PREFIX, self.0)
    }
}

/// How a message was matched to its conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Its own Message-ID was already known: the same message again
    /// (fetched twice, or delivered to two of the centre's mailboxes).
    SameMessage,
    /// By In-Reply-To.
    InReplyTo,
    /// By one of its References (the latest known one).
    References,
    /// By the reference tag in its subject.
    SubjectTag(Reference),
}

/// Where [`Threads::find`] places a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement<C> {
    /// It joins an existing conversation.
    Existing {
        /// The conversation.
        conversation: C,
        /// How it was matched.
        by: Match,
    },
    /// It starts a new conversation.
    New,
}

/// A sans-IO index from Message-IDs and reference numbers to
/// conversations.
///
/// It holds only facts given to it ([`Threads::remember`],
/// [`Threads::remember_reference`]), so the shell rebuilds it after a
/// restart by replaying the same calls from its event log. Remember every
/// message of a conversation, inbound and outbound: a customer's reply
/// normally points at the centre's last reply.
#[derive(Debug, Clone)]
pub struct Threads<C> {
    by_message_id: HashMap<String, C>,
    by_reference: HashMap<Reference, C>,
}

impl<C> Default for Threads<C> {
    fn default() -> Self {
        Threads {
            by_message_id: HashMap::new(),
            by_reference: HashMap::new(),
        }
    }
}

impl<C: Clone> Threads<C> {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the message with this Message-ID (with or without
    /// angle brackets) belongs to a conversation. Empty ids are ignored.
    pub fn remember(&mut self, message_id: &str, conversation: C) {
        let id = strip_brackets(message_id);
        if !id.is_empty() {
            self.by_message_id.insert(id.to_owned(), conversation);
        }
    }

    /// Records a conversation's reference number.
    pub fn remember_reference(&mut self, reference: Reference, conversation: C) {
        self.by_reference.insert(reference, conversation);
    }

    /// The conversation that a Message-ID was remembered in.
    pub fn conversation_of(&self, message_id: &str) -> Option<&C> {
        self.by_message_id.get(strip_brackets(message_id))
    }

    /// The conversation that has a reference number.
    pub fn conversation_with(&self, reference: Reference) -> Option<&C> {
        self.by_reference.get(&reference)
    }

    /// Keeps only the entries whose conversation `keep` says yes to: how
    /// the index forgets conversations that are over, so it stays as large
    /// as the open work.
    pub fn retain(&mut self, mut keep: impl FnMut(&C) -> bool) {
        self.by_message_id.retain(|_, c| keep(c));
        self.by_reference.retain(|_, c| keep(c));
    }

    /// How many Message-IDs are known.
    pub fn len(&self) -> usize {
        self.by_message_id.len()
    }

    /// True when no Message-ID is known.
    pub fn is_empty(&self) -> bool {
        self.by_message_id.is_empty()
    }

    /// Finds the conversation a message belongs to, without changing the
    /// index: its own Message-ID, then In-Reply-To, then References from
    /// the last (its parent) to the first (the thread's root), then the
    /// reference tag in its subject; else a new conversation.
    pub fn find(&self, message: &InboundMessage) -> Placement<C> {
        let found = |id: &String| self.by_message_id.get(id.as_str()).cloned();
        if let Some(conversation) = message.message_id.as_ref().and_then(found) {
            return Placement::Existing {
                conversation,
                by: Match::SameMessage,
            };
        }
        if let Some(conversation) = message.in_reply_to.iter().find_map(found) {
            return Placement::Existing {
                conversation,
                by: Match::InReplyTo,
            };
        }
        if let Some(conversation) = message.references.iter().rev().find_map(found) {
            return Placement::Existing {
                conversation,
                by: Match::References,
            };
        }
        if let Some(reference) = Reference::find_in(&message.subject)
            && let Some(conversation) = self.by_reference.get(&reference)
        {
            return Placement::Existing {
                conversation: conversation.clone(),
                by: Match::SubjectTag(reference),
            };
        }
        Placement::New
    }

    /// Finds the message's conversation, or starts one with
    /// `new_conversation` (which gives the caller's id and reference
    /// number), and remembers the message's Message-ID in it. Returns the
    /// conversation and how it was matched (`None` for a new one).
    pub fn place(
        &mut self,
        message: &InboundMessage,
        new_conversation: impl FnOnce() -> (C, Reference),
    ) -> (C, Option<Match>) {
        let (conversation, by) = match self.find(message) {
            Placement::Existing { conversation, by } => (conversation, Some(by)),
            Placement::New => {
                let (conversation, reference) = new_conversation();
                self.remember_reference(reference, conversation.clone());
                (conversation, None)
            }
        };
        if let Some(id) = &message.message_id {
            self.remember(id, conversation.clone());
        }
        (conversation, by)
    }
}
