//! The I/O shell: RTP ports from a range, and a few media threads
//! ("shards", one per core by default) that each drive many calls.
//!
//! A shard wakes every poll interval (10 ms by default), drains every socket
//! of its calls with non-blocking receives, hands each datagram to the
//! call's [`CallMedia`] core (which relays it at once), runs the 20 ms ticks
//! that are due (prompts, recording, analysis, timers), and sleeps again. Per
//! packet that is one receive, the core's work and one send: no allocation,
//! no lock, no channel, no task wake-up, and no readiness notification: at
//! thousands of calls, batching the polling per interval costs less than
//! being woken for every packet, at the price of up to one poll interval of
//! added relay delay.
//!
//! The session layer talks to a call through a [`CallHandle`] (commands on a
//! channel the shard checks every interval) and receives [`MediaEvent`]s on
//! a tokio channel, so it can stay async while the media threads never block
//! on it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::amd::AmdConfig;
use crate::call::{CallConfig, CallMedia, LegId, LegParams, MediaEvent, Transmit};
use crate::dtmf::Digit;
use crate::mixer::MixMatrix;
use crate::player::Prompt;
use crate::srtp::{SrtpKeys, SrtpReceiver, SrtpSender, TAG_LEN};
use crate::stats::QualityReport;
use crate::webrtc::BrowserLeg;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Address RTP sockets bind to.
    pub bind_ip: IpAddr,
    /// Inclusive RTP port range; only even ports are used (RFC 3550 §11).
    pub port_min: u16,
    pub port_max: u16,
    pub call: CallConfig,
    /// Media threads (0: one per available core).
    pub shards: usize,
    /// How often a shard drains its sockets (1–20 ms).
    pub poll_interval: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port_min: 20000,
            port_max: 39998,
            call: CallConfig::default(),
            shards: 0,
            poll_interval: Duration::from_millis(10),
        }
    }
}

/// A bound local RTP port, ready to be advertised in SDP and handed to a call.
#[derive(Debug)]
pub struct BoundLeg {
    socket: UdpSocket,
    addr: SocketAddr,
    /// The RTCP socket on the odd port beside it (RFC 3550 §11), when it could be bound.
    rtcp: Option<UdpSocket>,
}

impl BoundLeg {
    /// Local address (for SDP `c=`/`m=`).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Creates RTP sockets and calls. Cheap to clone; the media threads stop
/// when the last clone is dropped and their calls have ended.
#[derive(Debug, Clone)]
pub struct MediaEngine {
    cfg: Arc<EngineConfig>,
    cursor: Arc<AtomicU64>,
    seeds: Arc<AtomicU64>,
    shards: Arc<Vec<Shard>>,
    next_shard: Arc<AtomicUsize>,
}

struct Shard {
    /// New calls for this shard (taken once per poll interval, not per packet).
    inbox: Arc<Mutex<Vec<Slot>>>,
    thread: std::thread::Thread,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("thread", &self.thread.name())
            .finish()
    }
}

impl MediaEngine {
    /// Starts the media threads (and a recording writer thread unless the
    /// configuration brings its own).
    pub fn new(mut cfg: EngineConfig) -> Self {
        if cfg.call.record_writer.is_none() {
            match crate::recorder::RecordWriter::start() {
                Ok(w) => cfg.call.record_writer = Some(w),
                Err(e) => tracing::warn!("recording writes stay on the media threads: {e}"),
            }
        }
        let n = if cfg.shards == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            cfg.shards
        };
        let interval = cfg
            .poll_interval
            .clamp(Duration::from_millis(1), Duration::from_millis(20));
        let cursor = Arc::new(AtomicU64::new(0));
        let mut shards = Vec::with_capacity(n);
        for i in 0..n {
            let inbox: Arc<Mutex<Vec<Slot>>> = Arc::new(Mutex::new(Vec::new()));
            let weak = Arc::downgrade(&inbox);
            let t = std::thread::Builder::new()
                .name(format!("hotline-media-{i}"))
                .spawn(move || run_shard(weak, interval));
            match t {
                Ok(h) => shards.push(Shard {
                    inbox,
                    thread: h.thread().clone(),
                }),
                Err(e) => tracing::error!("cannot start media thread: {e}"),
            }
        }
        MediaEngine {
            cfg: Arc::new(cfg),
            cursor,
            seeds: Arc::new(AtomicU64::new(1)),
            shards: Arc::new(shards),
            next_shard: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Binds the next free even port of the range, and the odd port above it for RTCP (a
    /// pair whose odd port is taken is passed over while others are free; the last resort
    /// is an even port alone, whose leg then sends RTCP only multiplexed).
    pub async fn bind_leg(&self) -> io::Result<BoundLeg> {
        let mut alone = None;
        for _ in 0..4 {
            let leg = self.bind_even()?;
            let odd = SocketAddr::new(leg.addr.ip(), leg.addr.port().wrapping_add(1));
            match UdpSocket::bind(odd) {
                Ok(s) if leg.addr.port() < u16::MAX => {
                    s.set_nonblocking(true)?;
                    return Ok(BoundLeg {
                        rtcp: Some(s),
                        ..leg
                    });
                }
                _ => alone = Some(leg),
            }
        }
        alone.ok_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no free RTP port"))
    }

    fn bind_even(&self) -> io::Result<BoundLeg> {
        let lo = u32::from(self.cfg.port_min).div_ceil(2) * 2;
        let hi = u32::from(self.cfg.port_max);
        if lo > hi || lo == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "empty RTP port range",
            ));
        }
        let slots = u64::from((hi - lo) / 2 + 1);
        for _ in 0..slots {
            let k = self.cursor.fetch_add(1, Ordering::Relaxed) % slots;
            // lo + 2k <= hi <= 65535, so it fits in u16.
            let port = (lo + (k as u32) * 2) as u16;
            match std::net::UdpSocket::bind(SocketAddr::new(self.cfg.bind_ip, port)) {
                Ok(socket) => {
                    socket.set_nonblocking(true)?;
                    let addr = socket.local_addr()?;
                    return Ok(BoundLeg {
                        socket,
                        addr,
                        rtcp: None,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "no free RTP port in range",
        ))
    }

    /// Starts a call on the next media thread.
    pub fn spawn_call(&self) -> (CallHandle, mpsc::UnboundedReceiver<MediaEvent>) {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let seed = self.seeds.fetch_add(0x9e37_79b9, Ordering::Relaxed)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
            ^ std::process::id() as u64;
        let mut core = CallMedia::new(self.cfg.call.clone(), Instant::now(), seed);
        core.set_ntp_epoch(ntp_now());
        let slot = Slot {
            core,
            cmds: cmd_rx,
            events: ev_tx,
            io: Sockets {
                socks: Vec::new(),
                send_errors: 0,
                crypto: Vec::new(),
                browsers: Vec::new(),
                scratch: Box::new([0; 2048]),
                rtcp: Vec::new(),
            },
            frames: Vec::new(),
        };
        let k = self.next_shard.fetch_add(1, Ordering::Relaxed);
        let mut thread = None;
        if self.shards.is_empty() {
            // No media thread could be started: the handle reports the call as gone.
            drop(slot);
        } else {
            let sh = &self.shards[k % self.shards.len()];
            // The lock is taken once per new call and once per poll interval by the shard.
            if let Ok(mut v) = sh.inbox.lock() {
                v.push(slot);
            }
            sh.thread.unpark();
            thread = Some(sh.thread.clone());
        }
        (CallHandle { tx: cmd_tx, thread }, ev_rx)
    }
}

enum Command {
    AddLeg(Box<BoundLeg>, LegParams, oneshot::Sender<LegId>),
    AddBrowserLeg(
        Box<BoundLeg>,
        Box<BrowserLeg>,
        LegParams,
        oneshot::Sender<LegId>,
    ),
    BrowserAnswer(LegId, String, oneshot::Sender<Result<(), String>>),
    UpdateLeg(LegId, LegParams),
    PlainRtp(LegId),
    RemoveLeg(LegId),
    Play(LegId, Vec<Prompt>, bool, bool),
    StopPlayback(LegId),
    Bridge(LegId, LegId),
    Unbridge(LegId, LegId),
    Conference(Vec<LegId>, MixMatrix),
    SendDtmf(LegId, Digit, u32),
    StartAmd(LegId, AmdConfig),
    StopAmd(LegId),
    StartRecording(
        PathBuf,
        LegId,
        Option<LegId>,
        oneshot::Sender<io::Result<()>>,
    ),
    SetRecordingRight(Option<LegId>),
    PauseRecording(bool),
    StopRecording,
    Quality(LegId, oneshot::Sender<Option<QualityReport>>),
    Close,
}

/// Controls one call's media. Dropping every handle ends the call.
#[derive(Debug, Clone)]
pub struct CallHandle {
    tx: mpsc::UnboundedSender<Command>,
    /// The media thread serving the call, woken on each command so commands
    /// take effect at once rather than at the next poll interval.
    thread: Option<std::thread::Thread>,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "call media task has ended")
}

impl CallHandle {
    fn send(&self, c: Command) -> io::Result<()> {
        self.tx.send(c).map_err(|_| gone())?;
        if let Some(t) = &self.thread {
            t.unpark();
        }
        Ok(())
    }

    /// Adds a leg on a bound socket with the SDP-negotiated parameters.
    pub async fn add_leg(&self, leg: BoundLeg, params: LegParams) -> io::Result<LegId> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::AddLeg(Box::new(leg), params, tx))?;
        rx.await.map_err(|_| gone())
    }

    /// Adds a browser's leg (WebRTC, set up with [`BrowserLeg::offer`] on `leg`'s socket):
    /// the core sees it as a plain RTP leg with `codec`.
    pub async fn add_browser_leg(
        &self,
        leg: BoundLeg,
        browser: BrowserLeg,
        codec: crate::Codec,
    ) -> io::Result<LegId> {
        let mut params = LegParams::new(Some(leg.addr), codec);
        params.telephone_event_pt = None;
        params.analyse = true;
        let (tx, rx) = oneshot::channel();
        self.send(Command::AddBrowserLeg(
            Box::new(leg),
            Box::new(browser),
            params,
            tx,
        ))?;
        rx.await.map_err(|_| gone())
    }

    /// The browser's SDP answer for a browser leg; `Err` says why it is refused.
    pub async fn browser_answer(&self, leg: LegId, sdp: String) -> io::Result<Result<(), String>> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::BrowserAnswer(leg, sdp, tx))?;
        rx.await.map_err(|_| gone())
    }

    /// New parameters for a leg (answer, re-INVITE).
    pub fn update_leg(&self, leg: LegId, params: LegParams) -> io::Result<()> {
        self.send(Command::UpdateLeg(leg, params))
    }

    /// Ends SRTP on a leg: it sends and receives plain RTP from now on. (Parameters without
    /// SRTP keys leave an encrypted leg encrypted: a leg never falls back to plain RTP
    /// unless asked here.)
    pub fn plain_rtp(&self, leg: LegId) -> io::Result<()> {
        self.send(Command::PlainRtp(leg))
    }

    /// Removes a leg (its port is released); emits `LegClosed`.
    pub fn remove_leg(&self, leg: LegId) -> io::Result<()> {
        self.send(Command::RemoveLeg(leg))
    }

    /// Plays a prompt sequence (or loops it: hold music).
    pub fn play(
        &self,
        leg: LegId,
        prompts: Vec<Prompt>,
        looping: bool,
        barge_in: bool,
    ) -> io::Result<()> {
        self.send(Command::Play(leg, prompts, looping, barge_in))
    }

    pub fn stop_playback(&self, leg: LegId) -> io::Result<()> {
        self.send(Command::StopPlayback(leg))
    }

    pub fn bridge(&self, a: LegId, b: LegId) -> io::Result<()> {
        self.send(Command::Bridge(a, b))
    }

    pub fn unbridge(&self, a: LegId, b: LegId) -> io::Result<()> {
        self.send(Command::Unbridge(a, b))
    }

    pub fn conference(&self, legs: Vec<LegId>, matrix: MixMatrix) -> io::Result<()> {
        self.send(Command::Conference(legs, matrix))
    }

    pub fn send_dtmf(&self, leg: LegId, digit: Digit, duration_ms: u32) -> io::Result<()> {
        self.send(Command::SendDtmf(leg, digit, duration_ms))
    }

    /// Starts answering-machine detection on what `leg` says (an outbound call's called
    /// party, from the answer on); the decision arrives once as [`MediaEvent::Amd`].
    pub fn start_amd(&self, leg: LegId, cfg: AmdConfig) -> io::Result<()> {
        self.send(Command::StartAmd(leg, cfg))
    }

    /// Stops answering-machine detection on `leg` without a decision.
    pub fn stop_amd(&self, leg: LegId) -> io::Result<()> {
        self.send(Command::StopAmd(leg))
    }

    /// Starts recording `caller` (left) and `agent` (right).
    pub async fn start_recording(
        &self,
        path: PathBuf,
        caller: LegId,
        agent: Option<LegId>,
    ) -> io::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::StartRecording(path, caller, agent, tx))?;
        rx.await.map_err(|_| gone())?
    }

    pub fn set_recording_agent(&self, agent: Option<LegId>) -> io::Result<()> {
        self.send(Command::SetRecordingRight(agent))
    }

    pub fn pause_recording(&self, paused: bool) -> io::Result<()> {
        self.send(Command::PauseRecording(paused))
    }

    pub fn stop_recording(&self) -> io::Result<()> {
        self.send(Command::StopRecording)
    }

    pub async fn quality(&self, leg: LegId) -> io::Result<Option<QualityReport>> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Quality(leg, tx))?;
        rx.await.map_err(|_| gone())
    }

    /// Ends the call: recordings are finished and every leg closed.
    pub fn close(&self) -> io::Result<()> {
        self.send(Command::Close)
    }
}

struct Sockets {
    socks: Vec<Option<UdpSocket>>,
    send_errors: u64,
    /// Per leg: its SRTP contexts when it is encrypted.
    crypto: Vec<Option<LegCrypto>>,
    /// Per leg: its WebRTC session when it is a browser's.
    browsers: Vec<Option<Box<BrowserLeg>>>,
    /// Where outgoing packets are protected.
    scratch: Box<[u8; 2048]>,
    /// Per leg: its RTCP socket (the RTP port + 1), if any.
    rtcp: Vec<Option<UdpSocket>>,
}

/// The wall clock as a 64-bit NTP timestamp (seconds since 1900 in 32.32 fixed point).
fn ntp_now() -> u64 {
    const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ((d.as_secs() + NTP_UNIX_OFFSET) << 32) | ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
}

/// An encrypted leg's SRTP state.
struct LegCrypto {
    keys: SrtpKeys,
    tx: SrtpSender,
    /// `None` until the far end's key is known: nothing is accepted before.
    rx: Option<SrtpReceiver>,
}

impl Sockets {
    /// Sets a leg's SRTP state from its parameters, keeping the rollover and replay state
    /// of keys that did not change.
    fn set_crypto(&mut self, leg: LegId, keys: Option<&SrtpKeys>) {
        if self.crypto.len() <= leg {
            self.crypto.resize_with(leg + 1, || None);
        }
        let slot = &mut self.crypto[leg];
        match (keys, slot.as_mut()) {
            (None, _) => *slot = None,
            (Some(k), Some(c)) if c.keys == *k => {}
            (Some(k), Some(c)) if c.keys.local == k.local => {
                c.rx = k.remote.as_ref().map(SrtpReceiver::new);
                c.keys = k.clone();
            }
            (Some(k), _) => {
                *slot = Some(LegCrypto {
                    keys: k.clone(),
                    tx: SrtpSender::new(&k.local),
                    rx: k.remote.as_ref().map(SrtpReceiver::new),
                });
            }
        }
    }

    /// Checks and decrypts a packet received on an encrypted leg in place: its plain length,
    /// or `None` to drop it. Packets of plain legs pass as they are.
    fn open(&mut self, leg: LegId, packet: &mut [u8]) -> Option<usize> {
        match self.crypto.get_mut(leg) {
            Some(Some(c)) => c.rx.as_mut()?.unprotect(packet).ok(),
            _ => Some(packet.len()),
        }
    }
}

impl Sockets {
    fn is_browser(&self, leg: LegId) -> bool {
        matches!(self.browsers.get(leg), Some(Some(_)))
    }
}

impl Transmit for Sockets {
    fn send(&mut self, leg: LegId, to: SocketAddr, data: &[u8]) {
        let Some(Some(s)) = self.socks.get(leg) else {
            return;
        };
        if let Some(Some(b)) = self.browsers.get_mut(leg) {
            if !b.send(data, Instant::now(), s) {
                self.send_errors += 1;
            }
            return;
        }
        let out = match self.crypto.get_mut(leg) {
            Some(Some(c)) => {
                let Some(buf) = self.scratch.get_mut(..data.len() + TAG_LEN) else {
                    self.send_errors += 1;
                    return;
                };
                buf[..data.len()].copy_from_slice(data);
                match c.tx.protect(buf, data.len()) {
                    Ok(n) => &self.scratch[..n],
                    // Never sent in clear.
                    Err(_) => {
                        self.send_errors += 1;
                        return;
                    }
                }
            }
            _ => data,
        };
        if s.send_to(out, to).is_err() {
            self.send_errors += 1;
        }
    }

    fn send_rtcp(&mut self, leg: LegId, to: SocketAddr, data: &[u8]) {
        // The core sends no RTCP on encrypted legs; plain only.
        if let Some(Some(s)) = self.rtcp.get(leg)
            && s.send_to(data, to).is_err()
        {
            self.send_errors += 1;
        }
    }
}

struct Slot {
    core: CallMedia,
    cmds: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<MediaEvent>,
    io: Sockets,
    /// Browser legs' packets on their way to the core.
    frames: Vec<Vec<u8>>,
}

impl Slot {
    /// Applies pending commands; `false` when the call has ended.
    fn commands(&mut self) -> bool {
        loop {
            match self.cmds.try_recv() {
                Ok(cmd) => {
                    if !apply(&mut self.core, &mut self.io, cmd) {
                        return false;
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn poll(&mut self, buf: &mut [u8]) {
        for i in 0..self.io.socks.len() {
            // Bounded per interval so one flooded leg cannot starve the others.
            for _ in 0..64 {
                let r = match self.io.socks.get(i) {
                    Some(Some(s)) => s.recv_from(buf),
                    _ => break,
                };
                match r {
                    Ok((n, from)) if self.io.is_browser(i) => {
                        if let (Some(Some(b)), Some(Some(s))) =
                            (self.io.browsers.get_mut(i), self.io.socks.get(i))
                        {
                            b.receive(from, &buf[..n], Instant::now(), s);
                        }
                    }
                    Ok((n, from)) => {
                        let Some(n) = self.io.open(i, &mut buf[..n]) else {
                            continue;
                        };
                        let now = Instant::now();
                        self.core
                            .handle_datagram(i, from, &buf[..n], now, &mut self.io);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // ICMP port unreachable and the like: ignore and move on.
                    Err(_) => continue,
                }
            }
        }
        for i in 0..self.io.rtcp.len() {
            for _ in 0..16 {
                let r = match self.io.rtcp.get(i) {
                    Some(Some(s)) => s.recv_from(buf),
                    _ => break,
                };
                match r {
                    Ok((n, from)) => {
                        // Plain RTCP only: an encrypted leg's (SRTCP) is not read.
                        if matches!(self.io.crypto.get(i), Some(Some(_))) {
                            continue;
                        }
                        self.core.handle_rtcp(i, from, &buf[..n], Instant::now());
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => continue,
                }
            }
        }
    }

    /// Runs the browser legs' timers and hands the audio they received to the core.
    fn pump_browsers(&mut self, now: Instant) {
        for i in 0..self.io.browsers.len() {
            let (Some(Some(b)), Some(Some(s))) =
                (self.io.browsers.get_mut(i), self.io.socks.get(i))
            else {
                continue;
            };
            b.timeout(now, s);
            b.take_packets(&mut self.frames);
            for state in b.take_changes() {
                let _ = self.events.send(MediaEvent::Browser { leg: i, state });
            }
            // The address the leg was added with (no system call per leg and interval).
            let from = b.bound();
            let mut frames = std::mem::take(&mut self.frames);
            for f in frames.drain(..) {
                self.core.handle_datagram(i, from, &f, now, &mut self.io);
            }
            self.frames = frames;
        }
    }

    fn flush_events(&mut self) {
        while let Some(ev) = self.core.poll_event() {
            // A session that stopped listening is not the media thread's problem.
            let _ = self.events.send(ev);
        }
    }

    fn finish(mut self) {
        self.core.stop_recording();
        for id in 0..self.io.socks.len() {
            self.core.remove_leg(id);
        }
        self.flush_events();
    }
}

fn run_shard(inbox: std::sync::Weak<Mutex<Vec<Slot>>>, interval: Duration) {
    let mut calls: Vec<Slot> = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut next = Instant::now();
    loop {
        match inbox.upgrade() {
            Some(ib) => {
                if let Ok(mut v) = ib.lock() {
                    calls.append(&mut v);
                }
            }
            None if calls.is_empty() => return,
            None => {}
        }
        let mut i = 0;
        while i < calls.len() {
            if calls[i].commands() {
                i += 1;
            } else {
                calls.swap_remove(i).finish();
            }
        }
        for c in &mut calls {
            c.poll(&mut buf);
        }
        let now = Instant::now();
        for c in &mut calls {
            if !c.io.browsers.is_empty() {
                c.pump_browsers(now);
            }
            if c.core.poll_timeout() <= now {
                c.core.tick(now, &mut c.io);
            }
            c.flush_events();
        }
        let now = Instant::now();
        if now >= next {
            next += interval;
            if next <= now {
                // Overloaded: run again soon, without trying to catch up in bursts.
                next = now + interval;
            }
        }
        // Woken early by a new call or a command: the schedule stays.
        std::thread::park_timeout(next.saturating_duration_since(now));
    }
}

fn apply(core: &mut CallMedia, io: &mut Sockets, cmd: Command) -> bool {
    let now = Instant::now();
    match cmd {
        Command::AddLeg(bound, params, reply) => {
            let keys = params.srtp.clone();
            let id = core.add_leg(params, now);
            io.set_crypto(id, keys.as_ref());
            if io.socks.len() <= id {
                io.socks.resize_with(id + 1, || None);
            }
            io.socks[id] = Some(bound.socket);
            if io.rtcp.len() <= id {
                io.rtcp.resize_with(id + 1, || None);
            }
            io.rtcp[id] = bound.rtcp;
            let _ = reply.send(id);
        }
        Command::AddBrowserLeg(bound, browser, params, reply) => {
            let id = core.add_leg(params, now);
            io.set_crypto(id, None);
            if io.socks.len() <= id {
                io.socks.resize_with(id + 1, || None);
            }
            if io.browsers.len() <= id {
                io.browsers.resize_with(id + 1, || None);
            }
            io.socks[id] = Some(bound.socket);
            io.browsers[id] = Some(browser);
            let _ = reply.send(id);
        }
        Command::BrowserAnswer(id, sdp, reply) => {
            let r = match io.browsers.get_mut(id) {
                Some(Some(b)) => b.accept_answer(&sdp).map_err(|e| e.to_string()),
                _ => Err("no such browser leg".to_string()),
            };
            let _ = reply.send(r);
        }
        Command::UpdateLeg(id, p) => {
            if p.srtp.is_some() {
                io.set_crypto(id, p.srtp.as_ref());
            }
            core.update_leg(id, p);
        }
        Command::PlainRtp(id) => io.set_crypto(id, None),
        Command::RemoveLeg(id) => {
            core.remove_leg(id);
            io.set_crypto(id, None);
            if let Some(b) = io.browsers.get_mut(id) {
                *b = None;
            }
            if let Some(s) = io.socks.get_mut(id) {
                *s = None;
            }
            if let Some(s) = io.rtcp.get_mut(id) {
                *s = None;
            }
        }
        Command::Play(id, prompts, looping, barge) => core.play(id, prompts, looping, barge),
        Command::StopPlayback(id) => core.stop_playback(id),
        Command::Bridge(a, b) => core.bridge(a, b),
        Command::Unbridge(a, b) => core.unbridge(a, b),
        Command::Conference(legs, m) => core.conference(legs, m),
        Command::SendDtmf(id, d, ms) => core.send_dtmf(id, d, ms, now),
        Command::StartAmd(id, cfg) => core.start_amd(id, cfg),
        Command::StopAmd(id) => core.stop_amd(id),
        Command::StartRecording(path, l, r, reply) => {
            let _ = reply.send(core.start_recording(&path, l, r));
        }
        Command::SetRecordingRight(r) => core.set_recording_right(r),
        Command::PauseRecording(p) => core.pause_recording(p),
        Command::StopRecording => core.stop_recording(),
        Command::Quality(id, reply) => {
            let q = core.quality(id).map(|mut q| {
                q.send_errors = io.send_errors;
                q
            });
            let _ = reply.send(q);
        }
        Command::Close => return false,
    }
    true
}
