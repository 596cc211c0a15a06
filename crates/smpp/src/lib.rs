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

pub mod frame;
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
pub use text::{Concat, EncodedText, Encoding, TextError};
pub use tlv::Tlv;
