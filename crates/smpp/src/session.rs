//! The ESME (client) side of an SMPP 3.4 session, as a state machine without I/O.
//!
//! The caller owns the TCP connection and the clock:
//!
//! 1. Open a connection, then call [`Session::connected`]; the bind PDU is queued.
//! 2. Feed every received chunk to [`Session::handle_input`].
//! 3. After every call, drain [`Session::poll_transmit`] to the socket and
//!    [`Session::poll_event`] to the application.
//! 4. Wake up at [`Session::poll_timeout`] and call [`Session::handle_timeout`].
//! 5. On [`Event::ConnectionLost`] close the socket; whenever the socket closes (for that
//!    reason or any other, a failed connect included) call [`Session::disconnected`].
//! 6. On [`Event::Reconnect`] (emitted once the reconnect backoff has passed) open a new
//!    connection and go to 1.
//!
//! # Delivery guarantees
//!
//! Submits queue while the session is not bound and go out after the (re)bind, in order,
//! limited by the window (outstanding `submit_sm` without a response) and by the throttle
//! (a token bucket of `max_submits_per_second`, burst of one second). A `submit_sm` whose
//! response did not arrive before the connection was lost is **sent again** after the
//! reconnect: delivery to the SMSC is at-least-once, and a message can reach a handset twice
//! if the SMSC had accepted it but its response was lost. `ESME_RTHROTTLED` (and
//! `ESME_RMSGQFUL`) put the segment back at the head of the queue and pause submitting for
//! `throttle_backoff`. Any other error fails the whole message.
//!
//! Incoming `deliver_sm` is answered with `deliver_sm_resp` at once, before the application
//! has seen the event; segments of long messages are joined first. `enquire_link` and
//! `unbind` from the SMSC are answered too.
//!
//! A missing response to `bind_*`, `submit_sm` or our `enquire_link` within
//! `response_timeout` means the connection is dead: the session emits
//! [`Event::ConnectionLost`].

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::frame::FrameSplitter;
use crate::pdu::{Bind, Body, CommandStatus, ESM_CLASS_UDHI, EncodeError, Header, Pdu, Sm, SmResp};
use crate::reassembly::Reassembler;
use crate::receipt::{Receipt, parse_receipt};
use crate::text::{
    Concat, DCS_GSM7, Gsm7Packing, TextError, decode_text, encode_text_with, parse_udh,
    unpack_user_data,
};
use crate::tlv;

/// A phone number or sender name with its type of number and numbering plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Address {
    /// Type of number (1 = international, 5 = alphanumeric, 0 = unknown).
    pub ton: u8,
    /// Numbering plan indicator (1 = E.164, 0 = unknown).
    pub npi: u8,
    /// The digits or name, at most 20 chars.
    pub addr: String,
}

impl Address {
    /// An address with explicit TON and NPI.
    pub fn new(ton: u8, npi: u8, addr: impl Into<String>) -> Address {
        Address {
            ton,
            npi,
            addr: addr.into(),
        }
    }

    /// An international E.164 number (TON 1, NPI 1), digits without `+`.
    pub fn international(digits: impl Into<String>) -> Address {
        Address::new(1, 1, digits)
    }

    /// An alphanumeric sender id (TON 5, NPI 0).
    pub fn alphanumeric(name: impl Into<String>) -> Address {
        Address::new(5, 0, name)
    }
}

/// Which bind to request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindMode {
    /// Send only.
    Transmitter,
    /// Receive only.
    Receiver,
    /// Send and receive on one connection.
    #[default]
    Transceiver,
}

/// Exponential reconnect backoff: `initial`, doubled after each failed attempt, at most
/// `max`; back to `initial` after a successful bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Wait before the first reconnect.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
}

/// Session settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// ESME system id (at most 15 chars).
    pub system_id: String,
    /// Password (at most 8 chars).
    pub password: String,
    /// System type (at most 12 chars; often empty).
    pub system_type: String,
    /// Bind mode.
    pub bind_mode: BindMode,
    /// `address_range` TON/NPI/range in the bind (usually 0/0/empty).
    pub address_range: Address,
    /// `service_type` for submits (at most 5 chars; usually empty).
    pub service_type: String,
    /// Idle time after which we send `enquire_link`.
    pub enquire_link_interval: Duration,
    /// How long to wait for any response before declaring the connection dead.
    pub response_timeout: Duration,
    /// Most `submit_sm` awaiting a response at once (at least 1).
    pub window_size: usize,
    /// Most `submit_sm` per second; 0 means unlimited.
    pub max_submits_per_second: u32,
    /// Pause after `ESME_RTHROTTLED` before submitting again.
    pub throttle_backoff: Duration,
    /// Reconnect backoff.
    pub reconnect_backoff: Backoff,
    /// How long an incomplete incoming long message is kept.
    pub reassembly_timeout: Duration,
    /// Most incomplete incoming long messages kept at once.
    pub max_pending_reassembly: usize,
    /// How GSM 7-bit text (`data_coding` 0) is laid out, both ways. Most SMSCs want
    /// [`Gsm7Packing::Unpacked`] (the default); set `Packed` only for one that says so.
    pub gsm7_packing: Gsm7Packing,
}

impl Config {
    /// Defaults: transceiver, enquire_link every 30 s, 10 s response timeout, window 10,
    /// 10 submits per second, 1 s throttle pause, reconnect 1 s doubling to 60 s, incomplete
    /// long messages kept 3 minutes (at most 256).
    pub fn new(system_id: impl Into<String>, password: impl Into<String>) -> Config {
        Config {
            system_id: system_id.into(),
            password: password.into(),
            system_type: String::new(),
            bind_mode: BindMode::Transceiver,
            address_range: Address::default(),
            service_type: String::new(),
            enquire_link_interval: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            window_size: 10,
            max_submits_per_second: 10,
            throttle_backoff: Duration::from_secs(1),
            reconnect_backoff: Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(60),
            },
            reassembly_timeout: Duration::from_secs(180),
            max_pending_reassembly: 256,
            gsm7_packing: Gsm7Packing::Unpacked,
        }
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitRequest {
    /// Sender.
    pub from: Address,
    /// Recipient.
    pub to: Address,
    /// The text; GSM 7-bit when it fits, else UCS-2; split when long.
    pub text: String,
    /// Ask for a delivery receipt (`registered_delivery` 1).
    pub request_receipt: bool,
}

impl SubmitRequest {
    /// A request asking for a delivery receipt.
    pub fn new(from: Address, to: Address, text: impl Into<String>) -> SubmitRequest {
        SubmitRequest {
            from,
            to,
            text: text.into(),
            request_receipt: true,
        }
    }
}

/// Names one submitted message in later events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubmitHandle(pub u64);

/// Why a message cannot be submitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The text cannot be encoded (too long).
    #[error(transparent)]
    Text(#[from] TextError),
    /// A field does not fit its PDU field (e.g. an address over 20 chars).
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The session binds as a receiver and cannot submit.
    #[error("a receiver bind cannot submit messages")]
    ReceiverOnly,
    /// [`Session::unbind`] was called.
    #[error("the session is shut down")]
    ShutDown,
}

/// Why the session asks for the connection to be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// Our `enquire_link` got no response in time.
    KeepaliveTimeout,
    /// A bind or submit got no response in time.
    ResponseTimeout,
    /// The SMSC refused the bind.
    BindFailed(CommandStatus),
    /// The session was unbound, by the SMSC or by [`Session::unbind`].
    Unbound {
        /// Whether the SMSC asked for it.
        by_peer: bool,
    },
    /// The byte stream cannot be parsed any further.
    ProtocolError(String),
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DisconnectReason::KeepaliveTimeout => f.write_str("enquire_link got no response"),
            DisconnectReason::ResponseTimeout => f.write_str("a request got no response in time"),
            DisconnectReason::BindFailed(status) => {
                write!(f, "the SMSC refused the bind ({status})")
            }
            DisconnectReason::Unbound { by_peer: true } => f.write_str("unbound by the SMSC"),
            DisconnectReason::Unbound { by_peer: false } => f.write_str("unbound"),
            DisconnectReason::ProtocolError(e) => write!(f, "protocol error: {e}"),
        }
    }
}

/// A mobile-originated message, joined if it came in segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingMessage {
    /// The sender (the customer).
    pub from: Address,
    /// The recipient (our number).
    pub to: Address,
    /// The decoded text.
    pub text: String,
    /// The `data_coding` it came with.
    pub data_coding: u8,
    /// The user data octets (UDH removed), joined over segments.
    pub data: Vec<u8>,
    /// Number of segments it came in.
    pub segments: u8,
}

/// What the session tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The bind succeeded; queued submits start to flow.
    Bound {
        /// The SMSC's system id.
        system_id: String,
    },
    /// The SMSC refused the bind. [`Event::ConnectionLost`] follows.
    BindFailed {
        /// The SMSC's status.
        status: CommandStatus,
    },
    /// A mobile-originated message (already acknowledged to the SMSC).
    Delivered(IncomingMessage),
    /// A delivery receipt (already acknowledged to the SMSC).
    Receipt {
        /// The receipt.
        receipt: Box<Receipt>,
        /// The receipt's source (the handset the message went to).
        from: Address,
        /// The receipt's destination (our sender address).
        to: Address,
    },
    /// A deliver_sm flagged as a receipt whose text and TLVs name no message id.
    UnreadableReceipt {
        /// Its decoded text.
        text: String,
    },
    /// Every segment of a message was accepted.
    SubmitAccepted {
        /// The handle from [`Session::submit`].
        handle: SubmitHandle,
        /// The SMSC's message id for each segment, in order.
        message_ids: Vec<String>,
    },
    /// The SMSC refused a segment; the message is given up.
    SubmitFailed {
        /// The handle from [`Session::submit`].
        handle: SubmitHandle,
        /// The SMSC's status.
        status: CommandStatus,
    },
    /// The SMSC throttled us; submitting pauses until `until`.
    Throttled {
        /// When submitting resumes.
        until: Instant,
    },
    /// Close the connection, then call [`Session::disconnected`].
    ConnectionLost {
        /// Why.
        reason: DisconnectReason,
    },
    /// The reconnect backoff is over: open a connection and call [`Session::connected`].
    Reconnect,
    /// An incoming long message was dropped incomplete after the reassembly timeout.
    IncompleteMessageDropped {
        /// The sender.
        source: String,
        /// The concatenation reference.
        reference: u16,
        /// Number of segments expected.
        total: u8,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No connection; `Some` = emit `Reconnect` at that time.
    Disconnected {
        reconnect_at: Option<Instant>,
    },
    Binding {
        seq: u32,
        deadline: Instant,
    },
    Bound,
    Unbinding {
        seq: u32,
        deadline: Instant,
    },
    /// `ConnectionLost` emitted; waiting for `disconnected`.
    Closing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SegmentRef {
    handle: SubmitHandle,
    index: usize,
}

#[derive(Debug)]
struct Job {
    segments: Vec<Sm>,
    message_ids: Vec<Option<String>>,
}

#[derive(Debug)]
struct InFlight {
    seg: SegmentRef,
    deadline: Instant,
    order: u64,
}

const TOKEN: u128 = 1_000_000_000;

/// An SMPP client session. See the [module docs](self) for how to drive it.
#[derive(Debug)]
pub struct Session {
    config: Config,
    state: State,
    shut_down: bool,
    splitter: FrameSplitter,
    next_seq: u32,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    jobs: HashMap<SubmitHandle, Job>,
    next_handle: u64,
    next_reference: u8,
    queue: VecDeque<SegmentRef>,
    outstanding: HashMap<u32, InFlight>,
    sent_count: u64,
    tokens: u128,
    last_refill: Option<Instant>,
    throttled_until: Option<Instant>,
    enquire_at: Option<Instant>,
    enquire_pending: Option<(u32, Instant)>,
    failures: u32,
    reassembler: Reassembler,
}

impl Session {
    /// A new session, not connected. Open the first connection whenever ready and call
    /// [`Session::connected`].
    pub fn new(config: Config) -> Session {
        let reassembler =
            Reassembler::new(config.reassembly_timeout, config.max_pending_reassembly);
        let tokens = u128::from(config.max_submits_per_second) * TOKEN;
        Session {
            config,
            state: State::Disconnected { reconnect_at: None },
            shut_down: false,
            splitter: FrameSplitter::default(),
            next_seq: 1,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            jobs: HashMap::new(),
            next_handle: 1,
            next_reference: 0,
            queue: VecDeque::new(),
            outstanding: HashMap::new(),
            sent_count: 0,
            tokens,
            last_refill: None,
            throttled_until: None,
            enquire_at: None,
            enquire_pending: None,
            failures: 0,
            reassembler,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the session is bound.
    pub fn is_bound(&self) -> bool {
        self.state == State::Bound
    }

    /// Segments waiting to be sent (not yet handed to [`Session::poll_transmit`]).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// `submit_sm` sent and awaiting a response.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// A connection is open: queues the bind.
    pub fn connected(&mut self, now: Instant) {
        self.splitter.reset();
        self.requeue_outstanding();
        self.enquire_at = None;
        self.enquire_pending = None;
        let bind = Bind {
            system_id: self.config.system_id.clone(),
            password: self.config.password.clone(),
            system_type: self.config.system_type.clone(),
            interface_version: 0x34,
            addr_ton: self.config.address_range.ton,
            addr_npi: self.config.address_range.npi,
            address_range: self.config.address_range.addr.clone(),
        };
        let body = match self.config.bind_mode {
            BindMode::Transmitter => Body::BindTransmitter(bind),
            BindMode::Receiver => Body::BindReceiver(bind),
            BindMode::Transceiver => Body::BindTransceiver(bind),
        };
        let seq = self.seq();
        if let Err(e) = self.send(Pdu::new(seq, body)) {
            self.lose(DisconnectReason::ProtocolError(format!("bind: {e}")));
            return;
        }
        self.state = State::Binding {
            seq,
            deadline: now + self.config.response_timeout,
        };
    }

    /// The connection closed (or a connect attempt failed). Outstanding submits go back to
    /// the head of the queue; a reconnect is scheduled unless the session was shut down.
    pub fn disconnected(&mut self, now: Instant) {
        self.requeue_outstanding();
        self.splitter.reset();
        self.enquire_at = None;
        self.enquire_pending = None;
        self.transmit.clear();
        let reconnect_at = if self.shut_down {
            None
        } else {
            let b = self.config.reconnect_backoff;
            let factor = 1u32 << self.failures.min(16);
            self.failures = self.failures.saturating_add(1);
            Some(now + b.initial.saturating_mul(factor).min(b.max))
        };
        self.state = State::Disconnected { reconnect_at };
    }

    /// Gracefully ends the session: sends `unbind` if bound, and never reconnects.
    pub fn unbind(&mut self, now: Instant) {
        self.shut_down = true;
        match self.state {
            State::Bound => {
                let seq = self.seq();
                let _ = self.send(Pdu::new(seq, Body::Unbind));
                self.state = State::Unbinding {
                    seq,
                    deadline: now + self.config.response_timeout,
                };
            }
            State::Binding { .. } => self.lose(DisconnectReason::Unbound { by_peer: false }),
            State::Disconnected { .. } => self.state = State::Disconnected { reconnect_at: None },
            State::Unbinding { .. } | State::Closing => {}
        }
    }

    /// Queues a message. It is sent when bound, window and throttle allow.
    pub fn submit(
        &mut self,
        now: Instant,
        req: SubmitRequest,
    ) -> Result<SubmitHandle, SubmitError> {
        if self.shut_down {
            return Err(SubmitError::ShutDown);
        }
        if self.config.bind_mode == BindMode::Receiver {
            return Err(SubmitError::ReceiverOnly);
        }
        let encoded = encode_text_with(&req.text, self.next_reference, self.config.gsm7_packing)?;
        let mut segments = Vec::with_capacity(encoded.segments.len());
        for short_message in encoded.segments {
            let sm = Sm {
                service_type: self.config.service_type.clone(),
                source_addr_ton: req.from.ton,
                source_addr_npi: req.from.npi,
                source_addr: req.from.addr.clone(),
                dest_addr_ton: req.to.ton,
                dest_addr_npi: req.to.npi,
                destination_addr: req.to.addr.clone(),
                esm_class: encoded.esm_class,
                registered_delivery: u8::from(req.request_receipt),
                data_coding: encoded.data_coding,
                short_message,
                ..Sm::default()
            };
            // Check every field once here, so sending later cannot fail.
            Pdu::new(0, Body::SubmitSm(Box::new(sm.clone()))).encode()?;
            segments.push(sm);
        }
        if segments.len() > 1 {
            self.next_reference = self.next_reference.wrapping_add(1);
        }
        let handle = SubmitHandle(self.next_handle);
        self.next_handle += 1;
        for index in 0..segments.len() {
            self.queue.push_back(SegmentRef { handle, index });
        }
        self.jobs.insert(
            handle,
            Job {
                message_ids: vec![None; segments.len()],
                segments,
            },
        );
        self.pump(now);
        Ok(handle)
    }

    /// Bytes received from the SMSC, in any chunking.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if matches!(self.state, State::Disconnected { .. } | State::Closing) {
            return;
        }
        self.splitter.push(bytes);
        loop {
            match self.splitter.next_frame() {
                Ok(Some(frame)) => {
                    self.handle_frame(now, &frame);
                    if matches!(self.state, State::Disconnected { .. } | State::Closing) {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let nack = Pdu::generic_nack(
                        e.sequence_number.unwrap_or(0),
                        CommandStatus::ESME_RINVCMDLEN,
                    );
                    let _ = self.send(nack);
                    self.lose(DisconnectReason::ProtocolError(e.to_string()));
                    break;
                }
            }
        }
        self.pump(now);
    }

    /// The next PDU to write to the socket.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut at = |i: Option<Instant>| {
            if let Some(i) = i {
                t = Some(t.map_or(i, |t| t.min(i)));
            }
        };
        match self.state {
            State::Disconnected { reconnect_at } => at(reconnect_at),
            State::Binding { deadline, .. } | State::Unbinding { deadline, .. } => {
                at(Some(deadline))
            }
            State::Bound => {
                at(self.enquire_at);
                at(self.enquire_pending.map(|(_, d)| d));
                at(self.outstanding.values().map(|f| f.deadline).min());
                if !self.queue.is_empty() && self.outstanding.len() < self.window() {
                    at(self.throttled_until);
                    at(self.next_token_at());
                }
            }
            State::Closing => {}
        }
        at(self.reassembler.poll_timeout());
        t
    }

    /// Timers: keepalive, response timeouts, reconnect, throttle, reassembly.
    pub fn handle_timeout(&mut self, now: Instant) {
        for k in self.reassembler.handle_timeout(now) {
            self.events.push_back(Event::IncompleteMessageDropped {
                source: k.source,
                reference: k.reference,
                total: k.total,
            });
        }
        match self.state {
            State::Disconnected {
                reconnect_at: Some(t),
            } if now >= t => {
                self.state = State::Disconnected { reconnect_at: None };
                self.events.push_back(Event::Reconnect);
            }
            State::Binding { deadline, .. } if now >= deadline => {
                self.lose(DisconnectReason::ResponseTimeout)
            }
            State::Unbinding { deadline, .. } if now >= deadline => {
                self.lose(DisconnectReason::Unbound { by_peer: false })
            }
            State::Bound => {
                if self.enquire_pending.is_some_and(|(_, d)| now >= d) {
                    self.lose(DisconnectReason::KeepaliveTimeout);
                    return;
                }
                if self.outstanding.values().any(|f| now >= f.deadline) {
                    self.lose(DisconnectReason::ResponseTimeout);
                    return;
                }
                if self.enquire_at.is_some_and(|t| now >= t) {
                    self.enquire_at = Some(now + self.config.enquire_link_interval);
                    if self.enquire_pending.is_none() {
                        let seq = self.seq();
                        let _ = self.send(Pdu::new(seq, Body::EnquireLink));
                        self.enquire_pending = Some((seq, now + self.config.response_timeout));
                    }
                }
                self.pump(now);
            }
            _ => {}
        }
    }

    fn window(&self) -> usize {
        self.config.window_size.max(1)
    }

    fn seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = if s >= 0x7FFF_FFFF { 1 } else { s + 1 };
        s
    }

    fn send(&mut self, pdu: Pdu) -> Result<(), EncodeError> {
        let bytes = pdu.encode()?;
        self.transmit.push_back(bytes);
        Ok(())
    }

    fn lose(&mut self, reason: DisconnectReason) {
        self.state = State::Closing;
        self.enquire_at = None;
        self.enquire_pending = None;
        self.events.push_back(Event::ConnectionLost { reason });
    }

    fn requeue_outstanding(&mut self) {
        let mut inflight: Vec<InFlight> = self.outstanding.drain().map(|(_, f)| f).collect();
        inflight.sort_by_key(|f| std::cmp::Reverse(f.order));
        for f in inflight {
            self.queue.push_front(f.seg);
        }
    }

    fn refill(&mut self, now: Instant) {
        let rate = u128::from(self.config.max_submits_per_second);
        if let Some(last) = self.last_refill {
            let elapsed = now.saturating_duration_since(last).as_nanos();
            self.tokens = (self.tokens + elapsed * rate).min(rate * TOKEN);
        }
        self.last_refill = Some(now);
    }

    fn next_token_at(&self) -> Option<Instant> {
        let rate = u128::from(self.config.max_submits_per_second);
        if rate == 0 || self.tokens >= TOKEN {
            return None;
        }
        let last = self.last_refill?;
        let nanos = (TOKEN - self.tokens).div_ceil(rate);
        Some(last + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)))
    }

    /// Sends queued segments as far as state, window and throttle allow.
    fn pump(&mut self, now: Instant) {
        if self.state != State::Bound {
            return;
        }
        if self.throttled_until.is_some_and(|t| now < t) {
            return;
        }
        self.throttled_until = None;
        let limited = self.config.max_submits_per_second > 0;
        if limited {
            self.refill(now);
        }
        while self.outstanding.len() < self.window() {
            if limited && self.tokens < TOKEN {
                break;
            }
            let Some(seg) = self.queue.pop_front() else {
                break;
            };
            let Some(sm) = self
                .jobs
                .get(&seg.handle)
                .and_then(|j| j.segments.get(seg.index))
                .cloned()
            else {
                continue;
            };
            let seq = self.seq();
            if self
                .send(Pdu::new(seq, Body::SubmitSm(Box::new(sm))))
                .is_err()
            {
                self.fail(seg.handle, CommandStatus::ESME_RSYSERR);
                continue;
            }
            if limited {
                self.tokens -= TOKEN;
            }
            self.sent_count += 1;
            self.outstanding.insert(
                seq,
                InFlight {
                    seg,
                    deadline: now + self.config.response_timeout,
                    order: self.sent_count,
                },
            );
        }
    }

    fn fail(&mut self, handle: SubmitHandle, status: CommandStatus) {
        if self.jobs.remove(&handle).is_some() {
            self.queue.retain(|s| s.handle != handle);
            self.events
                .push_back(Event::SubmitFailed { handle, status });
        }
    }

    fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        if self.state == State::Bound {
            self.enquire_at = Some(now + self.config.enquire_link_interval);
        }
        let pdu = match Pdu::decode(frame) {
            Ok(pdu) => pdu,
            Err(e) => {
                // The splitter guarantees a whole header.
                let Some(h) = Header::parse(frame) else {
                    return;
                };
                self.reject(h, e.status());
                return;
            }
        };
        let seq = pdu.sequence_number;
        let status = pdu.command_status;
        match pdu.body {
            Body::BindTransmitterResp(r)
            | Body::BindReceiverResp(r)
            | Body::BindTransceiverResp(r) => {
                if matches!(self.state, State::Binding { seq: s, .. } if s == seq) {
                    self.bind_result(now, status, r.system_id);
                }
            }
            Body::GenericNack => {
                if matches!(self.state, State::Binding { seq: s, .. } if s == seq) {
                    let status = if status.is_ok() {
                        CommandStatus::ESME_RUNKNOWNERR
                    } else {
                        status
                    };
                    self.bind_result(now, status, String::new());
                } else if self.enquire_pending.is_some_and(|(s, _)| s == seq) {
                    self.enquire_pending = None;
                } else if let Some(f) = self.outstanding.remove(&seq) {
                    let status = if status.is_ok() {
                        CommandStatus::ESME_RUNKNOWNERR
                    } else {
                        status
                    };
                    self.submit_result(now, f.seg, status, String::new());
                }
            }
            Body::SubmitSmResp(r) => {
                if let Some(f) = self.outstanding.remove(&seq) {
                    self.submit_result(now, f.seg, status, r.message_id);
                }
            }
            Body::EnquireLinkResp => {
                if self.enquire_pending.is_some_and(|(s, _)| s == seq) {
                    self.enquire_pending = None;
                }
            }
            Body::UnbindResp => {
                if matches!(self.state, State::Unbinding { seq: s, .. } if s == seq) {
                    self.lose(DisconnectReason::Unbound { by_peer: false });
                }
            }
            Body::EnquireLink => {
                let _ = self.send(Pdu::new(seq, Body::EnquireLinkResp));
            }
            Body::Unbind => {
                let _ = self.send(Pdu::new(seq, Body::UnbindResp));
                self.lose(DisconnectReason::Unbound { by_peer: true });
            }
            Body::DeliverSm(sm) => {
                if matches!(self.state, State::Bound | State::Unbinding { .. }) {
                    let _ = self.send(Pdu::new(seq, Body::DeliverSmResp(SmResp::default())));
                    self.deliver(now, &sm);
                } else {
                    let _ = self.send(Pdu {
                        command_status: CommandStatus::ESME_RINVBNDSTS,
                        sequence_number: seq,
                        body: Body::DeliverSmResp(SmResp::default()),
                    });
                }
            }
            Body::DeliverSmResp(_) | Body::Unknown { .. } if pdu_is_response(frame) => {
                // A response to nothing we sent: ignore.
            }
            _ => {
                let _ = self.send(Pdu::generic_nack(seq, CommandStatus::ESME_RINVCMDID));
            }
        }
    }

    /// Answers a PDU whose body could not be decoded.
    fn reject(&mut self, h: Header, status: CommandStatus) {
        if h.command_id.is_response() {
            // A garbled response: leave its request to time out (and be retried).
            return;
        }
        let pdu = if h.command_id == crate::pdu::CommandId::DELIVER_SM {
            Pdu {
                command_status: status,
                sequence_number: h.sequence_number,
                body: Body::DeliverSmResp(SmResp::default()),
            }
        } else {
            Pdu::generic_nack(h.sequence_number, status)
        };
        let _ = self.send(pdu);
    }

    fn bind_result(&mut self, now: Instant, status: CommandStatus, system_id: String) {
        if status.is_ok() {
            self.state = State::Bound;
            self.failures = 0;
            self.enquire_at = Some(now + self.config.enquire_link_interval);
            self.events.push_back(Event::Bound { system_id });
            self.pump(now);
        } else {
            self.events.push_back(Event::BindFailed { status });
            self.lose(DisconnectReason::BindFailed(status));
        }
    }

    fn submit_result(
        &mut self,
        now: Instant,
        seg: SegmentRef,
        status: CommandStatus,
        message_id: String,
    ) {
        if status.is_throttle() {
            if self.jobs.contains_key(&seg.handle) {
                self.queue.push_front(seg);
            }
            let until = now + self.config.throttle_backoff;
            self.throttled_until = Some(until);
            self.events.push_back(Event::Throttled { until });
            return;
        }
        if !status.is_ok() {
            self.fail(seg.handle, status);
            return;
        }
        let Some(job) = self.jobs.get_mut(&seg.handle) else {
            return;
        };
        if let Some(slot) = job.message_ids.get_mut(seg.index) {
            *slot = Some(message_id);
        }
        if job.message_ids.iter().all(Option::is_some)
            && let Some(job) = self.jobs.remove(&seg.handle)
        {
            self.events.push_back(Event::SubmitAccepted {
                handle: seg.handle,
                message_ids: job.message_ids.into_iter().flatten().collect(),
            });
        }
    }

    fn deliver(&mut self, now: Instant, sm: &Sm) {
        let from = Address::new(
            sm.source_addr_ton,
            sm.source_addr_npi,
            sm.source_addr.clone(),
        );
        let to = Address::new(
            sm.dest_addr_ton,
            sm.dest_addr_npi,
            sm.destination_addr.clone(),
        );
        let raw: &[u8] = match tlv::find(&sm.tlvs, tlv::MESSAGE_PAYLOAD) {
            Some(t) if sm.short_message.is_empty() => &t.value,
            _ => &sm.short_message,
        };
        let message_type = sm.esm_class & 0x3C;
        if message_type == 0x04 || message_type == 0x20 {
            let text = decode_text(sm.data_coding, raw);
            match parse_receipt(sm, &text) {
                Some(receipt) => self.events.push_back(Event::Receipt {
                    receipt: Box::new(receipt),
                    from,
                    to,
                }),
                None => self.events.push_back(Event::UnreadableReceipt { text }),
            }
            return;
        }
        let udhi = sm.esm_class & ESM_CLASS_UDHI != 0;
        let (concat, payload) = if udhi {
            parse_udh(raw).unwrap_or((None, raw))
        } else {
            (sar(sm), raw)
        };
        // Packed septets are unpacked per segment: each has its own bit alignment.
        let unpacked;
        let gsm = matches!(sm.data_coding, DCS_GSM7 | 0xF0..=0xF3);
        let payload = if gsm && self.config.gsm7_packing == Gsm7Packing::Packed {
            let udh = raw.len() - payload.len();
            unpacked = unpack_user_data(raw, udh);
            &unpacked[..]
        } else {
            payload
        };
        let (data, segments) = match concat {
            Some(c) => match self.reassembler.push(now, &from.addr, c, payload) {
                Some(data) => (data, c.total),
                None => return,
            },
            None => (payload.to_vec(), 1),
        };
        self.events.push_back(Event::Delivered(IncomingMessage {
            text: decode_text(sm.data_coding, &data),
            from,
            to,
            data_coding: sm.data_coding,
            data,
            segments,
        }));
    }
}

fn pdu_is_response(frame: &[u8]) -> bool {
    Header::parse(frame).is_some_and(|h| h.command_id.is_response())
}

/// The concatenation info from SAR TLVs, if all three are present and sane.
fn sar(sm: &Sm) -> Option<Concat> {
    let c = Concat {
        reference: tlv::get_u16(&sm.tlvs, tlv::SAR_MSG_REF_NUM)?,
        total: tlv::get_u8(&sm.tlvs, tlv::SAR_TOTAL_SEGMENTS)?,
        seq: tlv::get_u8(&sm.tlvs, tlv::SAR_SEGMENT_SEQNUM)?,
    };
    (c.total >= 1 && c.seq >= 1 && c.seq <= c.total).then_some(c)
}
