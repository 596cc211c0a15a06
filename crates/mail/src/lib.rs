//! hotline's e-mail channel core, without I/O.
//!
//! - [`parse`]: inbound RFC 5322/MIME bytes to an [`InboundMessage`].
//! - [`html`]: sanitised HTML for the agent's browser, and plain text.
//! - [`thread`]: the [`Threads`] index from Message-IDs and subject
//!   reference tags to conversations.
//! - [`auto`]: auto-reply, bounce and list detection, and the per-sender
//!   acknowledgement limit.
//! - [`compose`]: replies and acknowledgements as bytes ready for SMTP.
//!
//! Nothing here opens a socket, reads the clock or draws a random number:
//! times and ids come from the caller, so the same inputs give the same
//! bytes. The IMAP/SMTP shell is in `shell`, behind the `io` feature.

pub mod auto;
pub mod compose;
pub mod html;
pub mod parse;
pub mod thread;

#[cfg(feature = "io")]
pub mod shell;

pub use auto::{AckDecision, AckLimiter, Automatic, automatic, should_acknowledge};
pub use compose::{ComposeError, Draft, Origin, Outgoing};
pub use html::{Policy, SafeHtml};
pub use parse::{Attachment, InboundMessage, Limits, LoopHeaders, Mailbox, ParseError};
pub use thread::{Match, Placement, Reference, Threads};
