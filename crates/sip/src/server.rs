//! The SIP server: sockets guarded by [`Guard`], the rsipstack endpoint behind them, and the
//! request handlers (registrar, OPTIONS, and INVITE until the call path takes it over).
//!
//! UDP: our socket type implements rsipstack's platform socket, so every datagram is judged
//! before the stack reads it. TCP: we accept and frame connections ourselves (limits on size,
//! per-source connections, slow and idle peers) and hand each framed, judged message to the
//! stack through an in-memory channel connection; the stack's answers come back the same way.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, BytesMut};
use parking_lot::Mutex;
use rsipstack::sip::{Header, StatusCode, headers as h};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::channel::ChannelConnection;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipAddr, SipConnection, TransportEvent, TransportLayer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

type EndpointRef = Arc<rsipstack::transaction::endpoint::EndpointInner>;
use tracing::{debug, info, warn};

use crate::advertise::{Advertiser, fix_via, fix_via_with, set_via_sent_by};
use crate::calls::{CallLimit, Calls, IncomingCall};
use crate::guard::{ALLOWED, Guard, GuardConfig, Verdict, build_response};
use crate::message::{self, find_header_end};
use crate::metrics::SipMetrics;
use crate::registrar::{Caller, Identified, Registrar};
use crate::sdp;
use rsipstack::dialog::dialog::Dialog;
use rsipstack::dialog::dialog_layer::DialogLayer;

/// A running SIP server.
pub struct SipServer {
    pub udp_addr: SocketAddr,
    pub tcp_addr: SocketAddr,
    /// The TLS listener's address, when `sip.tls_listen` is set.
    pub tls_addr: Option<SocketAddr>,
    /// The TLS server certificate in use (reloadable), when TLS is on.
    pub tls_certs: Option<Arc<crate::tls::CertStore>>,
    pub registrar: Arc<Registrar>,
    pub guard: Arc<Guard>,
    /// Places calls to agents' phones.
    pub calls: Calls,
    /// The addresses advertised to each peer (Via, Contact, SDP).
    pub advertiser: Arc<Advertiser>,
    cancel: CancellationToken,
}

impl SipServer {
    /// The stack's transaction counts on `/metrics`.
    pub fn transaction_gauges(&self) -> crate::metrics::TransactionGauges {
        crate::metrics::TransactionGauges(self.calls.dialog_layer.endpoint.clone())
    }

    /// Binds UDP and TCP on `listen` (port 0 picks one free port for both) and starts serving.
    /// Without a taker for calls, identified INVITEs are answered 480.
    pub async fn start(
        cfg: &hotline_config::Config,
        listen: SocketAddr,
        metrics: SipMetrics,
    ) -> io::Result<SipServer> {
        SipServer::start_with_calls(cfg, listen, metrics, None).await
    }

    /// Like [`SipServer::start`], handing every identified incoming call to `calls`.
    pub async fn start_with_calls(
        cfg: &hotline_config::Config,
        listen: SocketAddr,
        metrics: SipMetrics,
        incoming_calls: Option<mpsc::UnboundedSender<IncomingCall>>,
    ) -> io::Result<SipServer> {
        let limit = CallLimit::new(cfg.centre.max_calls);
        let (udp, tcp) = bind_pair(listen).await?;
        let tls = crate::tls::TlsListener::bind(cfg).await?;
        let tls_addr = match &tls {
            Some(t) => Some(t.listener.local_addr()?),
            None => None,
        };
        let tls_certs = tls.as_ref().map(|t| t.certs.clone());
        let tls_peers = tls.as_ref().map(|t| t.peers.clone());
        let udp_addr = udp.local_addr()?;
        let tcp_addr = tcp.local_addr()?;
        let cancel = CancellationToken::new();
        let guard = Arc::new(Guard::new(GuardConfig::from_config(cfg)));
        let registrar = Arc::new(Registrar::from_config(cfg));

        let advertiser = Arc::new(Advertiser::from_config(cfg, udp_addr.ip()));
        let nat_flows = Arc::new(crate::nat::NatFlows::default());
        let transport_layer = TransportLayer::new(cancel.child_token());
        let udp = Arc::new(udp);
        let guarded = Arc::new(GuardedUdp {
            sock: udp.clone(),
            guard: guard.clone(),
            metrics: metrics.clone(),
            scratch: tokio::sync::Mutex::new(vec![0u8; 65_536]),
            // A wildcard address in Via is replaced per destination as the datagram leaves.
            via_for: udp_addr.ip().is_unspecified().then(|| advertiser.clone()),
            nat_flows: nat_flows.clone(),
        });
        // A specific listen address with a centre-wide advertised one: the stack writes the
        // advertised address into Via itself.
        let external = match (udp_addr.ip().is_unspecified(), cfg.sip.advertise) {
            (false, Some(ip)) if cfg.sip.interfaces.is_empty() => {
                Some(SocketAddr::new(ip, udp_addr.port()))
            }
            _ => None,
        };
        let udp_conn = UdpConnection::from_socket(guarded, external, Some(cancel.child_token()))
            .await
            .map_err(io::Error::other)?;
        transport_layer.add_transport(udp_conn.into());

        let endpoint = rsipstack::EndpointBuilder::new()
            .with_cancel_token(cancel.child_token())
            .with_transport_layer(transport_layer)
            .with_user_agent(&cfg.sip.server_header)
            .build();
        let incoming = endpoint.incoming_transactions().map_err(io::Error::other)?;

        let tcp_limits = TcpLimits {
            max_message: cfg.sip.max_message_bytes,
            per_source: cfg.sip.guard.tcp_connections_per_source,
            total: cfg.sip.guard.tcp_connections_total.max(1),
            message_timeout: Duration::from_secs(cfg.sip.guard.tcp_message_timeout_seconds),
            idle_timeout: Duration::from_secs(cfg.sip.guard.tcp_idle_seconds),
        };
        // TCP and TLS connections share one account: per source and in all.
        let slots = ConnectionSlots::new(tcp_limits.per_source, tcp_limits.total);
        tokio::spawn(accept_tcp(
            tcp,
            endpoint.inner.clone(),
            guard.clone(),
            metrics.clone(),
            tcp_limits,
            slots.clone(),
            udp_addr.ip().is_unspecified().then(|| advertiser.clone()),
            cancel.child_token(),
        ));
        // TLS advertises like UDP and TCP, from its own listen address, with its own port.
        let tls_advertiser = tls_addr.map(|a| Arc::new(Advertiser::from_config(cfg, a.ip())));
        if let (Some(tls), Some(adv), Some(addr)) = (tls, &tls_advertiser, tls_addr) {
            let serve = StreamServer {
                endpoint: endpoint.inner.clone(),
                guard: guard.clone(),
                metrics: metrics.clone(),
                limits: tcp_limits,
                slots: slots.clone(),
                via: Some((adv.clone(), addr.port())),
            };
            tokio::spawn(crate::tls::accept_tls(tls, serve, cancel.child_token()));
        }
        let dialog_layer = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        let contact = rsipstack::sip::Uri::try_from(format!("sip:hotline@{udp_addr}").as_str())
            .map_err(io::Error::other)?;
        let calls = Calls {
            dialog_layer,
            contact,
            advertiser: advertiser.clone(),
            port: udp_addr.port(),
            nat_flows,
            refusing: Default::default(),
            standby: Default::default(),
            ended: Default::default(),
            tls: tls_advertiser.zip(tls_addr.map(|a| a.port())),
            srtp: Arc::new(parking_lot::RwLock::new(
                crate::sdes::Policies::from_config(cfg),
            )),
        };
        // A node of a pair starts as a standby: nothing is taken before it leads.
        calls.set_standby(cfg.cluster.is_some());
        let ep_cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = endpoint.serve() => {}
                _ = ep_cancel.cancelled() => {}
            }
        });
        let handler = Handler {
            registrar: registrar.clone(),
            guard: guard.clone(),
            metrics: metrics.clone(),
            calls: calls.clone(),
            incoming_calls,
            limit,
            tls_peers,
            min_se: cfg.sip.min_session_expires,
        };
        tokio::spawn(handler.run(incoming, cancel.child_token()));
        let purge_registrar = registrar.clone();
        let purge_guard = guard.clone();
        let purge_metrics = metrics.clone();
        let purge_cancel = cancel.child_token();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = purge_cancel.cancelled() => return,
                }
                let now = Instant::now();
                purge_registrar.purge(now);
                purge_guard.purge(now);
                purge_metrics
                    .bindings
                    .set(purge_registrar.binding_count(now) as i64);
            }
        });
        if cfg.sip.nat_keepalive_seconds > 0 {
            tokio::spawn(crate::nat::run_keepalives(
                registrar.clone(),
                udp,
                Duration::from_secs(u64::from(cfg.sip.nat_keepalive_seconds)),
                cancel.child_token(),
            ));
        }
        info!(%udp_addr, %tcp_addr, ?tls_addr, "SIP listening");
        Ok(SipServer {
            udp_addr,
            tcp_addr,
            tls_addr,
            tls_certs,
            registrar,
            guard,
            calls,
            advertiser,
            cancel,
        })
    }

    /// Registers with a carrier as long as the server runs (see
    /// [`Calls::register_with_carrier`]).
    pub fn register_with_carrier(
        &self,
        server: SocketAddr,
        user: String,
        password: String,
        expires: u32,
    ) {
        self.calls.register_with_carrier(
            server,
            user,
            password,
            expires,
            self.cancel.child_token(),
        );
    }

    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}

impl Drop for SipServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// UDP and TCP on the same port. With port 0, UDP picks the port and TCP follows; if TCP
/// cannot have it, try again with another.
async fn bind_pair(listen: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let mut last_err = None;
    for _ in 0..20 {
        let udp = bind_udp(listen)?;
        let mut addr = listen;
        addr.set_port(udp.local_addr()?.port());
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if listen.port() == 0 => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no free port for UDP and TCP")))
}

fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let domain = if addr.is_ipv6() {
        socket2::Domain::IPV6
    } else {
        socket2::Domain::IPV4
    };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // A deep receive buffer absorbs bursts (a carrier's retransmissions, a shift logging in).
    let _ = s.set_recv_buffer_size(8 << 20);
    let _ = s.set_send_buffer_size(8 << 20);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

/// The request method at the start of a message (empty if it is not text); no allocation.
fn method_of(data: &[u8]) -> &str {
    let end = data
        .iter()
        .position(|b| *b == b' ' || *b == b'\r' || *b == b'\n')
        .unwrap_or(data.len())
        .min(32);
    std::str::from_utf8(&data[..end]).unwrap_or("")
}

/// The UDP socket the stack reads from: datagrams arrive here first and only those the guard
/// passes are handed over.
struct GuardedUdp {
    sock: Arc<UdpSocket>,
    guard: Arc<Guard>,
    metrics: SipMetrics,
    /// Receives whole 64 KiB datagrams, so an oversize message is seen whole and answered 513
    /// rather than truncated and misread.
    scratch: tokio::sync::Mutex<Vec<u8>>,
    /// Set when listening on a wildcard address: what to write into Via instead.
    via_for: Option<Arc<Advertiser>>,
    /// Calls with phones behind NATs: their requests go to the phones' public flows.
    nat_flows: Arc<crate::nat::NatFlows>,
}

#[async_trait::async_trait]
impl rsipstack::platform::net::UdpSocket for GuardedUdp {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        let mut scratch = self.scratch.lock().await;
        loop {
            let (n, src) = match self.sock.recv_from(&mut scratch).await {
                Ok(x) => x,
                // ICMP errors from earlier sends surface here on Linux; they concern a peer,
                // not this socket.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let data = &scratch[..n];
            match self.guard.inspect(data, src, false, Instant::now()) {
                Verdict::Pass { len } if len <= buf.len() => {
                    self.metrics.request(method_of(data));
                    buf[..len].copy_from_slice(&data[..len]);
                    return Ok((len, src));
                }
                Verdict::PassRewritten { bytes } if bytes.len() <= buf.len() => {
                    self.metrics.request(method_of(data));
                    buf[..bytes.len()].copy_from_slice(&bytes);
                    return Ok((bytes.len(), src));
                }
                Verdict::Pass { .. } | Verdict::PassRewritten { .. } => {
                    // Larger than the stack's read buffer: configured limits keep this from
                    // happening, but never hand over a cut message.
                    let msg = message::split(data);
                    let bytes = build_response(&msg, 513, &[], &self.guard.config().server_name);
                    let _ = self.sock.send_to(&bytes, src).await;
                    self.metrics.rejection("too_large");
                }
                Verdict::KeepAlive => {
                    if data == b"\r\n\r\n" {
                        let _ = self.sock.send_to(b"\r\n", src).await;
                    }
                }
                Verdict::Reply {
                    status,
                    reason,
                    bytes,
                } => {
                    debug!(%src, status, reason = reason.label(), "guard answered");
                    self.metrics.rejection(reason.label());
                    self.metrics.response(method_of(data), status);
                    let _ = self.sock.send_to(&bytes, src).await;
                }
                Verdict::Drop { reason } => {
                    debug!(%src, reason = reason.label(), "guard dropped");
                    self.metrics.rejection(reason.label());
                }
            }
        }
    }

    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> rsipstack::Result<usize> {
        let addr = self.nat_flows.redirect(buf, addr).unwrap_or(addr);
        if let Some(adv) = &self.via_for
            && let Some(fixed) = fix_via_with(buf, || adv.sip_for(addr.ip()))
        {
            self.sock.send_to(&fixed, addr).await?;
            return Ok(buf.len());
        }
        Ok(self.sock.send_to(buf, addr).await?)
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.sock.local_addr()?)
    }
}

#[derive(Clone, Copy)]
pub(crate) struct TcpLimits {
    max_message: usize,
    pub(crate) per_source: usize,
    /// Connections from all sources together.
    pub(crate) total: usize,
    pub(crate) message_timeout: Duration,
    idle_timeout: Duration,
}

/// Serves connection-oriented transports (TLS; TCP has its own accept loop below) with the
/// TCP framing and the guard in front of the stack.
#[derive(Clone)]
pub(crate) struct StreamServer {
    pub(crate) endpoint: EndpointRef,
    pub(crate) guard: Arc<Guard>,
    pub(crate) metrics: SipMetrics,
    pub(crate) limits: TcpLimits,
    /// The connection account shared with the TCP listener.
    pub(crate) slots: ConnectionSlots,
    /// What to advertise in the Via of requests sent over these connections, and the
    /// listener's port.
    pub(crate) via: Option<(Arc<Advertiser>, u16)>,
}

impl StreamServer {
    pub(crate) async fn serve<S>(
        &self,
        stream: S,
        remote: SocketAddr,
        transport: rsipstack::sip::transport::Transport,
        cancel: CancellationToken,
    ) where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let peer = TcpPeer {
            endpoint: self.endpoint.clone(),
            guard: self.guard.clone(),
            metrics: self.metrics.clone(),
            limits: self.limits,
            remote,
            transport,
            via_for: self.via.as_ref().map(|(a, _)| a.clone()),
            via_port: self.via.as_ref().map(|(_, p)| *p),
        };
        peer.serve(stream, cancel).await;
    }
}

/// Open stream connections (TCP and TLS together), per source and in all.
#[derive(Clone)]
pub(crate) struct ConnectionSlots {
    inner: Arc<Mutex<SlotCounts>>,
    per_source: usize,
    total: usize,
}

#[derive(Default)]
struct SlotCounts {
    per_source: HashMap<IpAddr, usize>,
    total: usize,
}

/// One connection's place in [`ConnectionSlots`], given back when dropped.
pub(crate) struct ConnectionSlot {
    slots: ConnectionSlots,
    ip: IpAddr,
}

impl ConnectionSlots {
    pub(crate) fn new(per_source: usize, total: usize) -> Self {
        ConnectionSlots {
            inner: Arc::default(),
            per_source,
            total,
        }
    }

    /// A place for a new connection from `ip`, or `None` when the source or all sources
    /// together are at their limit.
    pub(crate) fn acquire(&self, ip: IpAddr) -> Option<ConnectionSlot> {
        let mut c = self.inner.lock();
        if c.total >= self.total {
            return None;
        }
        let n = c.per_source.entry(ip).or_insert(0);
        if *n >= self.per_source {
            if *n == 0 {
                c.per_source.remove(&ip);
            }
            return None;
        }
        *n += 1;
        c.total += 1;
        Some(ConnectionSlot {
            slots: self.clone(),
            ip,
        })
    }

    #[cfg(test)]
    fn open(&self) -> usize {
        self.inner.lock().total
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut c = self.slots.inner.lock();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_source.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_source.remove(&self.ip);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn accept_tcp(
    listener: TcpListener,
    endpoint: EndpointRef,
    guard: Arc<Guard>,
    metrics: SipMetrics,
    limits: TcpLimits,
    slots: ConnectionSlots,
    via_for: Option<Arc<Advertiser>>,
    cancel: CancellationToken,
) {
    loop {
        let (stream, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    warn!(error = %e, "TCP accept failed");
                    // Out of descriptors and the like: give the system a moment.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => return,
        };
        let Some(slot) = slots.acquire(remote.ip()) else {
            metrics.rejection("tcp_connection_limit");
            continue; // dropping the stream closes it
        };
        let _ = stream.set_nodelay(true);
        let conn = TcpPeer {
            endpoint: endpoint.clone(),
            guard: guard.clone(),
            metrics: metrics.clone(),
            limits,
            remote,
            transport: rsipstack::sip::transport::Transport::Tcp,
            via_for: via_for.clone(),
            via_port: None,
        };
        let cancel = cancel.child_token();
        tokio::spawn(async move {
            conn.metrics.tcp_connections.inc();
            conn.serve(stream, cancel).await;
            conn.metrics.tcp_connections.dec();
            drop(slot);
        });
    }
}

struct TcpPeer {
    endpoint: EndpointRef,
    guard: Arc<Guard>,
    metrics: SipMetrics,
    limits: TcpLimits,
    remote: SocketAddr,
    transport: rsipstack::sip::transport::Transport,
    /// Set when listening on a wildcard address: what to write into Via instead.
    via_for: Option<Arc<Advertiser>>,
    /// Set for TLS: the whole sent-by of Via (advertised host and this port) is rewritten,
    /// since the stack writes its first listener's (UDP) address and port there.
    via_port: Option<u16>,
}

enum Frame {
    /// A whole message of this many bytes is at the front of the buffer.
    Message(usize),
    KeepAlive(usize),
    NeedMore,
    /// The stream cannot be framed any more: answer (if possible) and close.
    Fatal(u16, &'static str),
}

impl TcpPeer {
    async fn serve<S>(&self, stream: S, cancel: CancellationToken)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let remote_sip = SipAddr {
            r#type: Some(self.transport),
            addr: self.remote.into(),
        };
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<TransportEvent>();
        let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let Ok(chan) = ChannelConnection::create_connection(
            in_rx,
            out_tx,
            remote_sip.clone(),
            Some(cancel.clone()),
        )
        .await
        else {
            return;
        };
        let conn = SipConnection::Channel(chan);
        self.endpoint.transport_layer.add_connection(conn.clone());

        let writer_cancel = cancel.clone();
        let via_ip = self.via_for.as_ref().map(|a| a.sip_for(self.remote.ip()));
        let via_port = self.via_port;
        let writer = tokio::spawn(async move {
            loop {
                let bytes = tokio::select! {
                    biased;
                    raw = raw_rx.recv() => match raw { Some(b) => b, None => break },
                    ev = out_rx.recv() => match ev {
                        Some(TransportEvent::Incoming(msg, _, _)) => {
                            let bytes = msg.to_bytes();
                            let fixed = via_ip.and_then(|ip| match via_port {
                                Some(port) => set_via_sent_by(&bytes, ip, port),
                                None => fix_via(&bytes, ip),
                            });
                            match fixed {
                                Some(fixed) => fixed,
                                None => bytes.to_vec(),
                            }
                        }
                        Some(_) => continue,
                        None => break,
                    },
                    _ = writer_cancel.cancelled() => break,
                };
                if wr.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            // Whatever was queued before the connection ended (a last 400 or 513) still goes out.
            while let Ok(bytes) = raw_rx.try_recv() {
                if wr.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            let _ = wr.shutdown().await;
        });

        let mut buf = BytesMut::with_capacity(4096);
        let mut message_started: Option<Instant> = None;
        'conn: loop {
            // Hand over every whole message already buffered.
            loop {
                match self.frame(&buf) {
                    Frame::NeedMore => break,
                    Frame::KeepAlive(n) => {
                        buf.advance(n);
                        let _ = raw_tx.send(b"\r\n".to_vec());
                    }
                    Frame::Message(n) => {
                        let data = buf.split_to(n);
                        message_started = None;
                        self.deliver(&data, &conn, &remote_sip, &in_tx, &raw_tx);
                    }
                    Frame::Fatal(status, reason) => {
                        let msg = message::split(&buf);
                        if msg.start.is_some() && msg.count("via") > 0 {
                            let _ = raw_tx.send(build_response(
                                &msg,
                                status,
                                &[],
                                &self.guard.config().server_name,
                            ));
                        }
                        self.metrics.rejection(reason);
                        break 'conn;
                    }
                }
            }
            if !buf.is_empty() && message_started.is_none() {
                message_started = Some(Instant::now());
            }
            let deadline = match message_started {
                // Slow senders must finish a started message in time.
                Some(t) => t + self.limits.message_timeout,
                None => Instant::now() + self.limits.idle_timeout,
            };
            let read = tokio::select! {
                r = tokio::time::timeout_at(deadline.into(), rd.read_buf(&mut buf)) => r,
                _ = cancel.cancelled() => break,
            };
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => break, // closed or reset (half-open included)
                Ok(Ok(_)) => {}
                Err(_) => {
                    self.metrics.rejection(if message_started.is_some() {
                        "tcp_slow"
                    } else {
                        "tcp_idle"
                    });
                    break;
                }
            }
        }
        drop(raw_tx);
        self.endpoint.transport_layer.remove_connection(&conn);
        cancel.cancel();
        let _ = writer.await;
    }

    fn frame(&self, buf: &[u8]) -> Frame {
        if buf.is_empty() {
            return Frame::NeedMore;
        }
        if buf.starts_with(b"\r\n\r\n") {
            return Frame::KeepAlive(4);
        }
        if buf.starts_with(b"\r\n") {
            return Frame::KeepAlive(2);
        }
        let Some((_, body)) = find_header_end(buf) else {
            return if buf.len() > self.limits.max_message {
                Frame::Fatal(513, "too_large")
            } else {
                Frame::NeedMore
            };
        };
        let head = message::split(&buf[..body]);
        let cl = match head.first("content-length").map(|v| v.parse::<usize>()) {
            Some(Ok(cl)) => cl,
            Some(Err(_)) => return Frame::Fatal(400, "content_length"),
            None => return Frame::Fatal(400, "content_length"),
        };
        let total = body.saturating_add(cl);
        if total > self.limits.max_message {
            return Frame::Fatal(513, "too_large");
        }
        if buf.len() < total {
            return Frame::NeedMore;
        }
        Frame::Message(total)
    }

    fn deliver(
        &self,
        data: &[u8],
        conn: &SipConnection,
        remote_sip: &SipAddr,
        in_tx: &mpsc::UnboundedSender<TransportEvent>,
        raw_tx: &mpsc::UnboundedSender<Vec<u8>>,
    ) {
        let verdict = self.guard.inspect(data, self.remote, true, Instant::now());
        let passed = match &verdict {
            Verdict::Pass { len } => Some(&data[..*len]),
            Verdict::PassRewritten { bytes } => Some(bytes.as_slice()),
            _ => None,
        };
        match verdict {
            Verdict::Pass { .. } | Verdict::PassRewritten { .. } => {
                let bytes = passed.unwrap_or(data);
                let parsed = rsipstack::sip::SipMessage::try_from(bytes).and_then(|m| {
                    SipConnection::update_msg_received(m, self.remote, self.transport)
                        .map_err(|e| rsipstack::sip::Error::Unexpected(e.to_string()))
                });
                match parsed {
                    Ok(msg) => {
                        self.metrics.request(method_of(data));
                        let _ = in_tx.send(TransportEvent::Incoming(
                            msg,
                            conn.clone(),
                            remote_sip.clone(),
                        ));
                    }
                    Err(_) => {
                        let msg = message::split(data);
                        let _ = raw_tx.send(build_response(
                            &msg,
                            400,
                            &[],
                            &self.guard.config().server_name,
                        ));
                        self.metrics.rejection("unparsable");
                    }
                }
            }
            Verdict::Reply {
                status,
                reason,
                bytes,
            } => {
                self.metrics.rejection(reason.label());
                self.metrics.response(method_of(data), status);
                let _ = raw_tx.send(bytes);
            }
            Verdict::Drop { reason } => self.metrics.rejection(reason.label()),
            Verdict::KeepAlive => {}
        }
    }
}

/// Answers the requests the stack hands over.
struct Handler {
    registrar: Arc<Registrar>,
    guard: Arc<Guard>,
    metrics: SipMetrics,
    calls: Calls,
    incoming_calls: Option<mpsc::UnboundedSender<IncomingCall>>,
    limit: CallLimit,
    /// TLS connections and the trunks their client certificates identify.
    tls_peers: Option<Arc<crate::tls::TlsPeers>>,
    /// The shortest session interval (RFC 4028 `Min-SE`) hotline agrees to.
    min_se: u64,
}

impl Handler {
    async fn run(
        self,
        mut incoming: rsipstack::transaction::TransactionReceiver,
        cancel: CancellationToken,
    ) {
        let this = Arc::new(self);
        loop {
            let tx = tokio::select! {
                tx = incoming.recv() => match tx { Some(tx) => tx, None => return },
                _ = cancel.cancelled() => return,
            };
            let this = this.clone();
            tokio::spawn(async move { this.handle(tx).await });
        }
    }

    async fn handle(&self, mut tx: Transaction) {
        let method = tx.original.method.to_string();
        // Requests inside a call (BYE, INFO, re-INVITE, REFER, ...) belong to its dialog.
        if let Some(Dialog::Invite(mut dialog)) = self.calls.dialog_layer.match_dialog(&tx) {
            if method == "BYE" && dialog.state().is_terminated() {
                // Our BYE crossed theirs (glare): both sides want the call over.
                self.metrics.response(&method, 200);
                let _ = tx.reply(StatusCode::OK).await;
                return;
            }
            if let Err(e) = dialog.handle(&mut tx).await {
                debug!(error = %e, %method, "in-dialog request failed");
            }
            return;
        }
        let (status, headers) = match method.as_str() {
            "REGISTER" => match self.calls.refusing_new_calls() {
                // A standby keeps no registrations: the phone tries the active node.
                Some(secs) if self.calls.is_standby() => (
                    503,
                    vec![Header::RetryAfter(h::RetryAfter::new(secs.to_string()))],
                ),
                _ => self.register(&tx),
            },
            "OPTIONS" => {
                // A standby is up and takes over the moment it leads: a proxy keeps it in
                // its set (each new call it refuses goes on to the next node), so that it is
                // sent calls at once when it leads rather than after its next probes.
                let refusing = match self.calls.is_standby() {
                    true => None,
                    false => self.calls.refusing_new_calls(),
                };
                let (status, headers) = options_answer(refusing);
                (status, to_headers(headers))
            }
            "INVITE" => match self.invite(&tx) {
                Ok(caller) => return self.take_call(tx, caller).await,
                Err(answer) => answer,
            },
            "ACK" => return,
            // A BYE for a call that has just ended (ours crossed it): the call is over, as
            // the far end asks.
            "BYE" if self.calls.ended.contains(&call_id(&tx), Instant::now()) => (200, vec![]),
            // No dialog or transaction of ours matches these.
            _ => (481, vec![]),
        };
        self.metrics.response(&method, status);
        let code = StatusCode::from(status);
        if let Err(e) = tx.reply_with(code, headers, None).await {
            debug!(error = %e, %method, "reply failed");
        }
    }

    /// Identifies the caller (trunk or agent), or says how to refuse.
    fn invite(&self, tx: &Transaction) -> Result<Caller, (u16, Vec<Header>)> {
        let text = tx.original.to_bytes();
        let msg = message::split(&text);
        let Some(source) = source_of(tx) else {
            return Err((500, vec![]));
        };
        // A trunk's client certificate identifies it (mutual TLS).
        let over_tls = is_tls(tx);
        let cert_trunk = match (&self.tls_peers, over_tls) {
            (Some(p), true) => p.trunk_of(source).flatten(),
            _ => None,
        };
        if let Some(t) = cert_trunk {
            return Ok(Caller::Trunk(t));
        }
        let trunk_source = self.guard.is_trusted(source.ip());
        let client = self.guard.client_of(&msg, source);
        if !trunk_source && let Some(refusal) = self.account_locked(&msg, client) {
            return Err(refusal);
        }
        let wall = SystemTime::now();
        match self.registrar.identify(&msg, "INVITE", source, wall) {
            Identified::Known(Caller::Trunk(t))
                if self
                    .tls_peers
                    .as_ref()
                    .is_some_and(|p| p.requires_certificate(&t)) =>
            {
                info!(trunk = %t, %source, "call refused: the trunk must present its client certificate over TLS");
                Err((
                    403,
                    vec![Header::Warning(h::Warning::new(
                        "399 hotline \"client certificate required\"",
                    ))],
                ))
            }
            Identified::Known(caller) => {
                if let Some(user) = credentials_user(&msg) {
                    self.guard.auth_succeeded(&user, client, Instant::now());
                }
                Ok(caller)
            }
            Identified::Refused(answer) => {
                if answer.outcome == "failed" {
                    self.count_failure(&msg, source, client, wall);
                }
                Err((answer.status, to_headers(answer.headers)))
            }
        }
    }

    /// A 403 with `Retry-After` if the request's credentials are for an account locked out
    /// (for this source): the password is not even checked, so guessing learns nothing.
    fn account_locked(
        &self,
        msg: &message::RawMessage<'_>,
        client: std::net::IpAddr,
    ) -> Option<(u16, Vec<Header>)> {
        let user = credentials_user(msg)?;
        let left = self
            .guard
            .account_lockout_left(&user, client, Instant::now());
        if left.is_zero() {
            return None;
        }
        self.metrics.rejection("account_locked_out");
        let secs = left.as_secs().max(1).to_string();
        Some((403, vec![Header::RetryAfter(h::RetryAfter::new(secs))]))
    }

    /// Counts a failed authentication, against the client (the sender, or behind a proxy the
    /// address the proxy names) and the account, but only if the answer used a nonce
    /// hotline issued to this very sender and still valid: made-up nonces and forged
    /// sources (which never saw a challenge) count for nothing.
    fn count_failure(
        &self,
        msg: &message::RawMessage<'_>,
        source: SocketAddr,
        client: std::net::IpAddr,
        wall: SystemTime,
    ) {
        let Some(creds) = msg
            .all("authorization")
            .find_map(crate::digest::Credentials::parse)
        else {
            return;
        };
        if !self
            .registrar
            .authenticator()
            .issued(&creds.nonce, source.ip(), wall)
        {
            self.metrics.rejection("unissued_nonce");
            return;
        }
        let now = Instant::now();
        if self.guard.auth_failed(client, now) {
            warn!(source = %client, "SIP source locked out after repeated authentication failures");
        }
        if self.guard.account_failed(&creds.username, now) {
            warn!(
                account = %creds.username,
                "SIP account locked out after repeated authentication failures"
            );
        }
    }

    /// Hands an identified call to the call-session layer, or answers 480 when nobody takes
    /// calls.
    async fn take_call(&self, mut tx: Transaction, caller: Caller) {
        let taker = self.incoming_calls.as_ref().filter(|t| !t.is_closed());
        let (Some(taker), Some(source)) = (taker, source_of(&tx)) else {
            self.metrics.response("INVITE", 480);
            let _ = tx.reply(StatusCode::TemporarilyUnavailable).await;
            return;
        };
        if let Some(secs) = self.calls.refusing_new_calls() {
            // The call layer cannot take calls now (its event log is too far behind).
            self.metrics.response("INVITE", 503);
            self.metrics.rejection("backlog");
            let retry = vec![Header::RetryAfter(h::RetryAfter::new(secs.to_string()))];
            let _ = tx
                .reply_with(StatusCode::ServiceUnavailable, retry, None)
                .await;
            return;
        }
        // A session timer shorter than hotline's minimum: 422 with Min-SE (RFC 4028 §9), and
        // the caller may try again with a longer one.
        if crate::calls::session_timer(&tx.original.headers, self.min_se)
            == crate::calls::SessionTimer::TooShort
        {
            info!(%source, caller = ?caller, min_se = self.min_se, "call refused: 422, session interval too short");
            self.metrics.response("INVITE", 422);
            let min = vec![Header::Other("Min-SE".into(), self.min_se.to_string())];
            let _ = tx
                .reply_with(StatusCode::SessionIntervalTooSmall, min, None)
                .await;
            return;
        }
        // An offer hotline cannot answer: 488 with a Warning that says why (RFC 3261 §20.43).
        let body = String::from_utf8_lossy(&tx.original.body).into_owned();
        let offer = sdp::parse(&body).and_then(|o| {
            if o.codecs.is_empty() {
                Err(sdp::SdpError::NoCodec)
            } else {
                Ok(o)
            }
        });
        if let Err(e) = &offer {
            info!(%source, caller = ?caller, reason = %e, "call refused: 488");
            self.metrics.response("INVITE", 488);
            let warning = vec![Header::Warning(h::Warning::new(format!(
                "305 hotline \"Incompatible media format: {e}\""
            )))];
            let _ = tx
                .reply_with(StatusCode::NotAcceptableHere, warning, None)
                .await;
            return;
        }
        let Some(admission) = self.limit.admit() else {
            info!(%source, caller = ?caller, "call refused: 503, the centre is at its call limit");
            // Full: refuse new calls so that the accepted ones keep their quality.
            self.metrics.response("INVITE", 503);
            self.metrics.rejection("call_limit");
            let retry = vec![Header::RetryAfter(h::RetryAfter::new("5"))];
            let _ = tx
                .reply_with(StatusCode::ServiceUnavailable, retry, None)
                .await;
            return;
        };
        // The leg's SRTP policy, judged before anything is answered: a refusal says why.
        let offer = sdp::parse(&String::from_utf8_lossy(&tx.original.body));
        let secure = is_tls(&tx);
        let srtp = match &offer {
            Ok(o) => {
                let policy = self.calls.srtp.read().for_caller(&caller);
                match crate::sdes::judge_offer(policy, secure, o) {
                    Ok(k) => k,
                    Err(refusal) => {
                        info!(?caller, %source, reason = refusal.reason, "call refused by its SRTP policy");
                        self.metrics.response("INVITE", refusal.status);
                        let warning = vec![Header::Warning(h::Warning::new(refusal.warning()))];
                        let _ = tx
                            .reply_with(StatusCode::from(refusal.status), warning, None)
                            .await;
                        return;
                    }
                }
            }
            Err(_) => None,
        };
        let layer = &self.calls.dialog_layer;
        let (sender, state) = layer.new_dialog_state_channel();
        let contact = match self.calls.tls_contact_for(source.ip()) {
            Some(c) if is_tls(&tx) => c,
            _ => self.calls.contact_for(source.ip()),
        };
        let mut dialog = match layer.get_or_create_server_invite(&tx, sender, None, Some(contact)) {
            Ok(d) => d,
            Err(e) => {
                debug!(error = %e, "cannot create dialog");
                self.metrics.response("INVITE", 500);
                let _ = tx.reply(StatusCode::ServerInternalError).await;
                return;
            }
        };
        let text = tx.original.to_bytes();
        let msg = message::split(&text);
        // A caller behind a NAT: requests in its call go to where it really is.
        if let (Some(contact), Some(call_id)) = (msg.first("contact"), msg.first("call-id"))
            && crate::advertise::uri_ip(contact)
                .is_some_and(|ip| crate::advertise::behind_nat(ip, source.ip()))
        {
            self.calls.nat_flows.insert(call_id.trim(), source);
        }
        let user = |v: Option<&str>| v.and_then(crate::registrar::uri_user).unwrap_or_default();
        let to = crate::registrar::uri_user(&format!("<{}>", tx.original.uri)).unwrap_or_default();
        let call = IncomingCall {
            secure,
            srtp,
            caller,
            from: user(msg.first("from")),
            to,
            source,
            offer,
            leg: self.calls.inbound(dialog.clone(), state),
            admission,
        };
        if taker.send(call).is_err() {
            self.metrics.response("INVITE", 480);
            let _ = tx.reply(StatusCode::TemporarilyUnavailable).await;
            return;
        }
        if let Err(e) = dialog.handle(&mut tx).await {
            debug!(error = %e, "call dialog ended with an error");
        }
    }

    fn register(&self, tx: &Transaction) -> (u16, Vec<Header>) {
        let text = tx.original.to_bytes();
        let msg = message::split(&text);
        let Some(source) = source_of(tx) else {
            return (500, vec![]);
        };
        let transport = match tx.connection {
            Some(SipConnection::Udp(_)) => "udp",
            _ if is_tls(tx) => "tls",
            _ => "tcp",
        };
        // Behind a proxy of `sip.proxies`, the phone's own address.
        let client = self.guard.client_of(&msg, source);
        if let Some(refusal) = self.account_locked(&msg, client) {
            self.metrics
                .registrations
                .get_or_create(&crate::metrics::OutcomeLabel {
                    outcome: "locked_out",
                })
                .inc();
            return refusal;
        }
        let now = Instant::now();
        let wall = SystemTime::now();
        let answer = self.registrar.register(&msg, source, transport, now, wall);
        if answer.outcome == "failed" {
            self.count_failure(&msg, source, client, wall);
        } else if answer.outcome == "ok"
            && let Some(user) = credentials_user(&msg)
        {
            self.guard.auth_succeeded(&user, client, now);
        }
        self.metrics
            .bindings
            .set(i64::try_from(self.registrar.binding_count(now)).unwrap_or(i64::MAX));
        self.metrics
            .registrations
            .get_or_create(&crate::metrics::OutcomeLabel {
                outcome: answer.outcome,
            })
            .inc();
        (answer.status, to_headers(answer.headers))
    }
}

/// The answer to an OPTIONS sent to hotline, which is what a proxy in front (Kamailio's
/// dispatcher) probes to know where to send new calls: `200 OK` with what hotline serves
/// (`Allow`, `Accept`, `Supported`) while it takes new calls; `503 Service Unavailable` with
/// `Retry-After` while it refuses them (`refusing`: the Retry-After, as
/// [`Calls::refusing_new_calls`] says: draining after SIGTERM, an event log too far behind;
/// not a standby, which answers `200` and refuses each call), so that the proxy takes the node out until it answers 200 again.
pub fn options_answer(refusing: Option<u32>) -> (u16, Vec<(&'static str, String)>) {
    match refusing {
        Some(secs) => (503, vec![("Retry-After", secs.max(1).to_string())]),
        None => (
            200,
            vec![
                ("Allow", ALLOWED.join(", ")),
                ("Accept", "application/sdp".to_string()),
                ("Supported", crate::guard::SUPPORTED_EXTENSIONS.join(", ")),
            ],
        ),
    }
}

/// The user name of a request's digest credentials, if it has any.
fn credentials_user(msg: &message::RawMessage<'_>) -> Option<String> {
    msg.all("authorization")
        .find_map(crate::digest::Credentials::parse)
        .map(|c| c.username)
}

fn call_id(tx: &Transaction) -> String {
    use rsipstack::sip::HeadersExt;
    tx.original
        .call_id_header()
        .map(|c| c.value().to_string())
        .unwrap_or_default()
}

/// Whether the request came over a TLS connection.
fn is_tls(tx: &Transaction) -> bool {
    tx.connection
        .as_ref()
        .and_then(|c| c.get_remote_addr())
        .is_some_and(|a| a.r#type == Some(rsipstack::sip::transport::Transport::Tls))
}

fn source_of(tx: &Transaction) -> Option<SocketAddr> {
    tx.connection
        .as_ref()
        .and_then(|c| c.get_remote_addr())
        .and_then(|a| a.get_socketaddr().ok())
}

fn to_headers(headers: Vec<(&'static str, String)>) -> Vec<Header> {
    headers
        .into_iter()
        .map(|(k, v)| match k {
            "WWW-Authenticate" => Header::WwwAuthenticate(h::WwwAuthenticate::new(v)),
            "Contact" => Header::Contact(h::Contact::new(v)),
            "Min-Expires" => Header::MinExpires(h::MinExpires::new(v)),
            "Warning" => Header::Warning(h::Warning::new(v)),
            "Allow" => Header::Allow(h::Allow::new(v)),
            "Accept" => Header::Accept(h::Accept::new(v)),
            "Retry-After" => Header::RetryAfter(h::RetryAfter::new(v)),
            other => Header::Other(other.to_string(), v),
        })
        .collect()
}

#[cfg(test)]
mod slot_tests {
    use super::*;

    #[test]
    fn options_say_200_while_taking_calls_and_503_with_retry_after_while_not() {
        let (status, headers) = options_answer(None);
        assert_eq!(status, 200);
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        };
        assert!(get("Allow").is_some_and(|a| a.contains("INVITE") && a.contains("REGISTER")));
        assert_eq!(get("Accept").as_deref(), Some("application/sdp"));
        assert!(get("Supported").is_some_and(|s| s.split(", ").any(|t| t == "path")));
        assert_eq!(
            options_answer(Some(10)),
            (503, vec![("Retry-After", "10".to_string())])
        );
        // Never `Retry-After: 0`, which would invite an immediate retry.
        assert_eq!(options_answer(Some(0)).1[0].1, "1");
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn tcp_and_tls_share_one_account_per_source_and_in_all() {
        // TCP and TLS hold clones of the same account.
        let tcp = ConnectionSlots::new(2, 3);
        let tls = tcp.clone();
        let a1 = tcp.acquire(ip("192.0.2.1")).unwrap();
        let a2 = tls.acquire(ip("192.0.2.1")).unwrap();
        // The source is at its limit over both transports together.
        assert!(tls.acquire(ip("192.0.2.1")).is_none());
        assert!(tcp.acquire(ip("192.0.2.1")).is_none());
        let b1 = tls.acquire(ip("192.0.2.2")).unwrap();
        // Three open in all: a new source is refused too, on either listener.
        assert!(tls.acquire(ip("192.0.2.3")).is_none());
        assert!(tcp.acquire(ip("192.0.2.3")).is_none());
        assert_eq!(tcp.open(), 3);
        // A closed connection gives its place back.
        drop(a1);
        assert_eq!(tls.open(), 2);
        let c1 = tls.acquire(ip("192.0.2.3")).unwrap();
        assert!(tcp.acquire(ip("192.0.2.1")).is_none());
        drop((a2, b1, c1));
        assert_eq!(tcp.open(), 0);
        assert!(tcp.inner.lock().per_source.is_empty());
    }
}
