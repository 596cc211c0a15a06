//! hotline's SMPP 3.4 client, without I/O.
//!
//! The centre takes SMS from a carrier's SMSC over SMPP 3.4 and replies to customers. This
//! crate decides everything about that conversation but touches no socket, reads no clock
//! and draws no random number: a thin shell owns the TCP connection and passes in bytes and
//! `now`; bytes to send, [`Event`]s and the next wake-up time ([`Session::poll_timeout`])
//! come out. The same inputs always give the same outputs, so every path can be tested with
//! hand-built PDUs.
//!
//! The pieces, usable on their own:
//!
//! - [`pdu`]: the PDU codec (header, bind/unbind/enquire_link/generic_nack/submit_sm/
//!   deliver_sm and responses, TLVs). Decoding never panics.
//! - [`frame`]: splits a byte stream into whole PDUs, refusing insane `command_length`s.
//! - [`text`]: GSM 03.38 7-bit and UCS-2 encodings and long-message splitting with a UDH.
//! - [`reassembly`]: joins incoming segments (UDH 8/16-bit reference or SAR TLVs).
//! - [`receipt`]: delivery receipts, from TLVs or the `id:… stat:…` text.
//! - [`session`]: the ESME state machine tying them together.
//!
//! With the `io` feature, `link` is the tokio shell around a session: one task owning the
//! TCP connection to the SMSC, reconnecting after the session's backoff, driven through a
//! cloneable `Link` handle and a channel of `LinkEvent`s.
//!
//! # Driving a session
//!
//! ```
//! use std::time::Instant;
//! use hotline_smpp::{Address, BindResp, Body, Config, Event, Pdu, Session, SubmitRequest};
//!
//! let now = Instant::now();
//! let mut session = Session::new(Config::new("hotline", "secret"));
//! // Messages may be queued before the connection exists.
//! let handle = session
//!     .submit(now, SubmitRequest::new(
//!         Address::alphanumeric("Hotline"),
//!         Address::international("447700900123"),
//!         "Thanks, we got your message",
//!     ))
//!     .unwrap();
//!
//! // The shell opened a TCP connection:
//! session.connected(now);
//! let bind = session.poll_transmit().unwrap(); // write these bytes to the socket
//! let bind = Pdu::decode(&bind).unwrap();
//!
//! // ...and read the SMSC's answer from it:
//! let resp = Pdu::new(bind.sequence_number, Body::BindTransceiverResp(BindResp::default()));
//! session.handle_input(now, &resp.encode().unwrap());
//! assert!(matches!(session.poll_event(), Some(Event::Bound { .. })));
//!
//! // Now bound, the queued message goes out.
//! let submit = Pdu::decode(&session.poll_transmit().unwrap()).unwrap();
//! assert!(matches!(submit.body, Body::SubmitSm(_)));
//! # let _ = handle;
//! // Sleep until `session.poll_timeout()`, then call `session.handle_timeout(now)`.
//! assert!(session.poll_timeout().is_some());
//! ```

pub mod frame;
#[cfg(feature = "io")]
pub mod link;
pub mod pdu;
pub mod reassembly;
pub mod receipt;
pub mod session;
pub mod text;
pub mod tlv;

pub use frame::{FrameError, FrameSplitter};
pub use pdu::{
    Bind, BindResp, Body, CommandId, CommandStatus, DecodeError, EncodeError, Header, Pdu, Sm,
    SmResp,
};
pub use reassembly::{Reassembler, ReassemblyKey};
pub use receipt::{MessageState, Receipt, ReceiptText};
pub use session::{
    Address, Backoff, BindMode, Config, DisconnectReason, Event, IncomingMessage, Session,
    SubmitError, SubmitHandle, SubmitRequest,
};
pub use text::{Concat, EncodedText, Encoding, Gsm7Packing, TextError};
pub use tlv::Tlv;
