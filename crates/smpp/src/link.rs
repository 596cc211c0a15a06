//! The tokio shell (feature `io`): one task owns the TCP connection to the SMSC and the
//! [`Session`], and the application talks to it through a [`Link`] handle and a channel of
//! [`LinkEvent`]s.
//!
//! The task wakes on bytes from the SMSC, on a command from a [`Link`], and at
//! [`Session::poll_timeout`]; after every wake-up it writes what [`Session::poll_transmit`]
//! gives and turns [`Session::poll_event`] into [`LinkEvent`]s. All protocol decisions stay in
//! the session, timers included: when the connection breaks (or a connect attempt fails) the
//! task calls [`Session::disconnected`] and simply sleeps until the session's reconnect
//! backoff is over ([`Event::Reconnect`]).
//!
//! ```no_run
//! use hotline_smpp::link::{Link, LinkConfig, LinkEvent};
//! use hotline_smpp::{Address, Config, SubmitRequest};
//!
//! # async fn run() {
//! let (link, mut events) = Link::spawn(LinkConfig::new(
//!     "smsc.example.net:2775",
//!     Config::new("hotline", "secret"),
//! ));
//! // Accepted at once, sent when bound, again after a reconnect if its response was lost.
//! let handle = link
//!     .submit(SubmitRequest::new(
//!         Address::alphanumeric("Hotline"),
//!         Address::international("447700900123"),
//!         "Thanks, we got your message",
//!     ))
//!     .await;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         LinkEvent::Message(m) => println!("from {}: {}", m.from.addr, m.text),
//!         LinkEvent::Submitted { handle, message_ids } => println!("{handle:?}: {message_ids:?}"),
//!         other => println!("{other:?}"),
//!     }
//! }
//! # let _ = handle;
//! link.shutdown().await;
//! # }
//! ```
//!
//! The task stops after [`Link::shutdown`], when every [`Link`] clone is dropped, or when the
//! event receiver is dropped (incoming messages are acknowledged to the SMSC before they
//! are handed on, so nobody listening would lose them). In each case it unbinds first if
//! bound, waiting at most the session's `response_timeout` for the SMSC's answer. Messages
//! still queued or awaiting a response then are dropped without an event: a handle with
//! neither [`LinkEvent::Submitted`] nor [`LinkEvent::SubmitFailed`] before the channel ends
//! was not (known to be) accepted. Events the application has not taken by then are still
//! delivered if the channel takes them within a second.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::pdu::CommandStatus;
use crate::receipt::Receipt;
use crate::session::{
    Address, Config, Event, IncomingMessage, Session, SubmitError, SubmitHandle, SubmitRequest,
};

/// Where the SMSC is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// `host:port`; a host name is resolved again on every connect attempt.
    pub address: String,
    /// The session settings (bind, timers, window, throttle, reconnect backoff).
    pub session: Config,
    /// How long one TCP connect attempt (name lookup included) may take.
    pub connect_timeout: Duration,
}

impl LinkConfig {
    /// A connect timeout of 10 s.
    pub fn new(address: impl Into<String>, session: Config) -> LinkConfig {
        LinkConfig {
            address: address.into(),
            session,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// What the link tells the application, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// The bind succeeded (again, after a reconnect); queued submits start to flow.
    Bound {
        /// The SMSC's system id.
        system_id: String,
    },
    /// A connection ended or a connect attempt failed; the next attempt comes after the
    /// session's reconnect backoff (unless the link is stopping).
    Disconnected {
        /// Why, for people: an I/O error, the SMSC closing, a refused bind, a timeout.
        reason: String,
    },
    /// Every segment of a message was accepted by the SMSC.
    Submitted {
        /// The handle from [`Link::submit`].
        handle: SubmitHandle,
        /// The SMSC's message id for each segment, in order; receipts name these.
        message_ids: Vec<String>,
    },
    /// The SMSC refused a segment; the message is given up.
    SubmitFailed {
        /// The handle from [`Link::submit`].
        handle: SubmitHandle,
        /// The SMSC's status.
        status: CommandStatus,
    },
    /// The SMSC throttled us; the refused segment is sent again from `until`.
    Throttled {
        /// When submitting resumes.
        until: Instant,
    },
    /// A mobile-originated message, joined if it came in segments.
    Message(IncomingMessage),
    /// A delivery receipt, one per segment sent.
    Receipt {
        /// The receipt.
        receipt: Box<Receipt>,
        /// The handset the message went to.
        from: Address,
        /// Our sender address.
        to: Address,
    },
    /// A deliver_sm flagged as a receipt that names no message id.
    UnreadableReceipt {
        /// Its decoded text.
        text: String,
    },
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

/// A cheap, cloneable handle to a running link task.
#[derive(Debug, Clone)]
pub struct Link {
    commands: mpsc::Sender<Command>,
    bound: Arc<AtomicBool>,
}

#[derive(Debug)]
enum Command {
    Submit(
        Box<SubmitRequest>,
        oneshot::Sender<Result<SubmitHandle, SubmitError>>,
    ),
    /// Answered (by dropping the sender) when the task has stopped.
    Shutdown(oneshot::Sender<()>),
}

/// Events the application has not taken yet and the task still holds. Past this the task
/// stops reading from the SMSC, so a stalled application slows the SMSC down rather than
/// growing memory; commands and timers are still served.
const MAX_HELD_EVENTS: usize = 1024;
/// The event channel's capacity.
const EVENT_CHANNEL: usize = 256;
/// The command channel's capacity.
const COMMAND_CHANNEL: usize = 64;
const READ_BUFFER: usize = 16 * 1024;
/// How long the last bytes (an `unbind_resp`, a `generic_nack`) and the last events may
/// take to leave when the task closes a connection or stops.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

impl Link {
    /// Starts the link task: it connects at once and binds. Returns the handle and the
    /// receiver of [`LinkEvent`]s, which the application should keep reading.
    ///
    /// # Panics
    ///
    /// Like [`tokio::spawn`], when called outside a tokio runtime; the runtime also needs
    /// its I/O and time drivers enabled.
    pub fn spawn(cfg: LinkConfig) -> (Link, mpsc::Receiver<LinkEvent>) {
        let (command_tx, commands) = mpsc::channel(COMMAND_CHANNEL);
        let (events, event_rx) = mpsc::channel(EVENT_CHANNEL);
        let bound = Arc::new(AtomicBool::new(false));
        let task = Task {
            address: cfg.address,
            connect_timeout: cfg.connect_timeout,
            session: Session::new(cfg.session),
            conn: Conn::Idle,
            commands,
            commands_open: true,
            events,
            listener_open: true,
            held: VecDeque::new(),
            bound: Arc::clone(&bound),
            stopping: false,
            waiters: Vec::new(),
        };
        tokio::spawn(task.run());
        (
            Link {
                commands: command_tx,
                bound,
            },
            event_rx,
        )
    }

    /// Queues a message in the session, bound or not: it goes out when bound, window and
    /// throttle allow. Fails at once if the text or an address cannot be encoded, if the
    /// session binds as a receiver, or with [`SubmitError::ShutDown`] once the link is
    /// stopping. The outcome comes later as [`LinkEvent::Submitted`] or
    /// [`LinkEvent::SubmitFailed`].
    ///
    /// Dropping this future before it is ready usually means the message is not queued; in
    /// a narrow window the task has already queued it, and its events then name a handle
    /// the caller never saw.
    pub async fn submit(&self, req: SubmitRequest) -> Result<SubmitHandle, SubmitError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Submit(Box::new(req), reply))
            .await
            .map_err(|_| SubmitError::ShutDown)?;
        answer.await.unwrap_or(Err(SubmitError::ShutDown))
    }

    /// Unbinds politely (if bound) and stops the task; returns when it has stopped. Other
    /// clones of this handle then fail to submit.
    pub async fn shutdown(self) {
        let (done, stopped) = oneshot::channel();
        if self.commands.send(Command::Shutdown(done)).await.is_ok() {
            // The task drops `done` when it ends; an error here is that signal.
            let _ = stopped.await;
        }
    }

    /// Whether the session is bound right now.
    pub fn is_bound(&self) -> bool {
        self.bound.load(Ordering::Acquire)
    }
}

type Connecting = Pin<Box<dyn Future<Output = Result<TcpStream, String>> + Send>>;

enum Conn {
    /// No connection: waiting for the session's reconnect, or stopping.
    Idle,
    Connecting(Connecting),
    Open {
        stream: TcpStream,
        /// Bytes from the session not yet written.
        out: Vec<u8>,
    },
}

enum Io {
    Connected(Result<TcpStream, String>),
    Read(std::io::Result<usize>),
    Wrote(std::io::Result<usize>),
}

impl Conn {
    /// The next thing that happens on the connection. Cancel-safe: the connect future lives
    /// in `self`, and a cancelled read or write has moved no bytes.
    async fn next(&mut self, buf: &mut [u8], can_read: bool) -> Io {
        match self {
            Conn::Idle => std::future::pending().await,
            Conn::Connecting(connecting) => Io::Connected(connecting.await),
            Conn::Open { stream, out } => {
                let (mut reader, mut writer) = stream.split();
                tokio::select! {
                    n = reader.read(buf), if can_read => Io::Read(n),
                    n = writer.write(out), if !out.is_empty() => Io::Wrote(n),
                    else => std::future::pending().await,
                }
            }
        }
    }
}

enum Wake {
    Command(Option<Command>),
    Io(Io),
    Timer,
    Delivered,
    ListenerGone,
}

struct Task {
    address: String,
    connect_timeout: Duration,
    session: Session,
    conn: Conn,
    commands: mpsc::Receiver<Command>,
    /// False once every [`Link`] is dropped.
    commands_open: bool,
    events: mpsc::Sender<LinkEvent>,
    /// False once the event receiver is dropped.
    listener_open: bool,
    held: VecDeque<LinkEvent>,
    bound: Arc<AtomicBool>,
    stopping: bool,
    /// [`Link::shutdown`] calls waiting for the end.
    waiters: Vec<oneshot::Sender<()>>,
}

impl Task {
    async fn run(mut self) {
        self.connect();
        let mut buf = vec![0u8; READ_BUFFER];
        loop {
            self.drain().await;
            self.bound.store(self.session.is_bound(), Ordering::Release);
            if self.stopping && !matches!(self.conn, Conn::Open { .. }) {
                break;
            }
            let wake_at = self.session.poll_timeout();
            let can_read = self.held.len() < MAX_HELD_EVENTS;
            let deliver = self.listener_open && !self.held.is_empty();
            let watch_listener = self.listener_open && self.held.is_empty();
            let wake = tokio::select! {
                cmd = self.commands.recv(), if self.commands_open => Wake::Command(cmd),
                io = self.conn.next(&mut buf, can_read) => Wake::Io(io),
                () = sleep_until(wake_at) => Wake::Timer,
                permit = self.events.reserve(), if deliver => match permit {
                    Ok(permit) => {
                        if let Some(event) = self.held.pop_front() {
                            permit.send(event);
                        }
                        Wake::Delivered
                    }
                    Err(_) => Wake::ListenerGone,
                },
                () = self.events.closed(), if watch_listener => Wake::ListenerGone,
            };
            let now = Instant::now();
            match wake {
                Wake::Command(Some(Command::Submit(req, reply))) => {
                    // A caller that gave up waiting never learns the handle: do not send
                    // a message it may well submit again.
                    if !reply.is_closed() {
                        let _ = reply.send(self.session.submit(now, *req));
                    }
                }
                Wake::Command(Some(Command::Shutdown(done))) => {
                    self.waiters.push(done);
                    self.stop(now);
                }
                Wake::Command(None) => {
                    self.commands_open = false;
                    self.stop(now);
                }
                Wake::Io(io) => self.handle_io(now, io, &buf).await,
                Wake::Timer => self.session.handle_timeout(now),
                Wake::Delivered => {}
                Wake::ListenerGone => {
                    self.listener_open = false;
                    self.held.clear();
                    self.stop(now);
                }
            }
        }
        self.bound.store(false, Ordering::Release);
        if self.listener_open {
            let events = &self.events;
            let held = std::mem::take(&mut self.held);
            let _ = tokio::time::timeout(FLUSH_TIMEOUT, async move {
                for event in held {
                    if events.send(event).await.is_err() {
                        break;
                    }
                }
            })
            .await;
        }
        // Dropping `self` drops the waiters' senders: that tells `shutdown` we are done.
    }

    fn stop(&mut self, now: Instant) {
        if !self.stopping {
            self.stopping = true;
            self.session.unbind(now);
        }
    }

    fn connect(&mut self) {
        let address = self.address.clone();
        let limit = self.connect_timeout;
        self.conn = Conn::Connecting(Box::pin(async move {
            match tokio::time::timeout(limit, TcpStream::connect(address.as_str())).await {
                Ok(Ok(stream)) => {
                    // PDUs are small and each one is awaited: do not hold them back.
                    let _ = stream.set_nodelay(true);
                    Ok(stream)
                }
                Ok(Err(e)) => Err(format!("connect to {address}: {e}")),
                Err(_) => Err(format!("connect to {address}: no answer in {limit:?}")),
            }
        }));
    }

    async fn handle_io(&mut self, now: Instant, io: Io, buf: &[u8]) {
        match io {
            Io::Connected(Ok(stream)) => {
                self.conn = Conn::Open {
                    stream,
                    out: Vec::new(),
                };
                self.session.connected(now);
            }
            Io::Connected(Err(reason)) => {
                self.conn = Conn::Idle;
                self.session.disconnected(now);
                self.hold(LinkEvent::Disconnected { reason });
            }
            Io::Read(Ok(0)) => self.close("the SMSC closed the connection", false).await,
            Io::Read(Ok(n)) => match buf.get(..n) {
                Some(bytes) => self.session.handle_input(now, bytes),
                None => {
                    self.close("read more bytes than the buffer holds", false)
                        .await
                }
            },
            Io::Read(Err(e)) => self.close(&format!("read: {e}"), false).await,
            Io::Wrote(Ok(0)) => self.close("write: the connection is closed", false).await,
            Io::Wrote(Ok(n)) => {
                if let Conn::Open { out, .. } = &mut self.conn {
                    out.drain(..n.min(out.len()));
                }
            }
            Io::Wrote(Err(e)) => self.close(&format!("write: {e}"), false).await,
        }
    }

    /// Moves the session's bytes to the connection and its events to the application,
    /// acting on the ones meant for the shell.
    async fn drain(&mut self) {
        loop {
            // Bytes first: an `unbind_resp` queued together with `ConnectionLost` must go out
            // before the connection closes.
            while let Some(bytes) = self.session.poll_transmit() {
                if let Conn::Open { out, .. } = &mut self.conn {
                    out.extend_from_slice(&bytes);
                }
            }
            let Some(event) = self.session.poll_event() else {
                return;
            };
            let event = match event {
                Event::ConnectionLost { reason } => {
                    self.close(&reason.to_string(), true).await;
                    continue;
                }
                Event::Reconnect => {
                    if !self.stopping {
                        self.connect();
                    }
                    continue;
                }
                // `ConnectionLost` follows with the status.
                Event::BindFailed { .. } => continue,
                Event::Bound { system_id } => LinkEvent::Bound { system_id },
                Event::Delivered(message) => LinkEvent::Message(message),
                Event::Receipt { receipt, from, to } => LinkEvent::Receipt { receipt, from, to },
                Event::UnreadableReceipt { text } => LinkEvent::UnreadableReceipt { text },
                Event::SubmitAccepted {
                    handle,
                    message_ids,
                } => LinkEvent::Submitted {
                    handle,
                    message_ids,
                },
                Event::SubmitFailed { handle, status } => {
                    LinkEvent::SubmitFailed { handle, status }
                }
                Event::Throttled { until } => LinkEvent::Throttled { until },
                Event::IncompleteMessageDropped {
                    source,
                    reference,
                    total,
                } => LinkEvent::IncompleteMessageDropped {
                    source,
                    reference,
                    total,
                },
            };
            self.hold(event);
        }
    }

    /// Closes the connection (after writing what is left when `flush`) and tells the session.
    async fn close(&mut self, reason: &str, flush: bool) {
        if let Conn::Open { mut stream, out } = std::mem::replace(&mut self.conn, Conn::Idle)
            && flush
        {
            let _ = tokio::time::timeout(FLUSH_TIMEOUT, async {
                stream.write_all(&out).await?;
                stream.shutdown().await
            })
            .await;
        }
        self.session.disconnected(Instant::now());
        self.hold(LinkEvent::Disconnected {
            reason: reason.to_owned(),
        });
    }

    fn hold(&mut self, event: LinkEvent) {
        if self.listener_open {
            self.held.push_back(event);
        }
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}
