//! The tokio shell: RTP ports from a range, one task per call driving the
//! call's sockets and its [`CallMedia`] core on 20 ms ticks.
//!
//! Per packet the task does one non-blocking receive, the core's work, and
//! non-blocking sends: no allocation, no lock, no channel. Commands from
//! the session layer arrive on a channel; events go back on another.

use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::call::{CallConfig, CallMedia, LegId, LegParams, MediaEvent, Transmit};
use crate::dtmf::Digit;
use crate::mixer::MixMatrix;
use crate::player::Prompt;
use crate::stats::QualityReport;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Address RTP sockets bind to.
    pub bind_ip: IpAddr,
    /// Inclusive RTP port range; only even ports are used (RFC 3550 §11).
    pub port_min: u16,
    pub port_max: u16,
    pub call: CallConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port_min: 20000,
            port_max: 39998,
            call: CallConfig::default(),
        }
    }
}

/// A bound local RTP port, ready to be advertised in SDP and handed to a call.
#[derive(Debug)]
pub struct BoundLeg {
    socket: UdpSocket,
    addr: SocketAddr,
}

impl BoundLeg {
    /// Local address (for SDP `c=`/`m=`).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Creates RTP sockets and call tasks. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MediaEngine {
    cfg: Arc<EngineConfig>,
    cursor: Arc<AtomicU64>,
}

impl MediaEngine {
    pub fn new(cfg: EngineConfig) -> Self {
        MediaEngine {
            cfg: Arc::new(cfg),
            cursor: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Binds the next free even port of the range.
    pub async fn bind_leg(&self) -> io::Result<BoundLeg> {
        let lo = self.cfg.port_min.div_ceil(2) * 2;
        let hi = self.cfg.port_max;
        if lo > hi {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "empty RTP port range",
            ));
        }
        let slots = u64::from((hi - lo) / 2 + 1);
        for _ in 0..slots {
            let k = self.cursor.fetch_add(1, Ordering::Relaxed) % slots;
            // k < slots, so lo + 2k <= hi fits in u16.
            let port = lo + (k as u16) * 2;
            match std::net::UdpSocket::bind(SocketAddr::new(self.cfg.bind_ip, port)) {
                Ok(s) => {
                    s.set_nonblocking(true)?;
                    let socket = UdpSocket::from_std(s)?;
                    let addr = socket.local_addr()?;
                    return Ok(BoundLeg { socket, addr });
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

    /// Starts a call task. Must be called within a tokio runtime.
    pub fn spawn_call(&self) -> (CallHandle, mpsc::UnboundedReceiver<MediaEvent>) {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let seed = self.cursor.fetch_add(0x1_0000_0000, Ordering::Relaxed)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
            ^ std::process::id() as u64;
        let core = CallMedia::new(self.cfg.call.clone(), Instant::now(), seed);
        tokio::spawn(run_call(core, cmd_rx, ev_tx));
        (CallHandle { tx: cmd_tx }, ev_rx)
    }
}

enum Command {
    AddLeg(Box<BoundLeg>, LegParams, oneshot::Sender<LegId>),
    UpdateLeg(LegId, LegParams),
    RemoveLeg(LegId),
    Play(LegId, Vec<Prompt>, bool, bool),
    StopPlayback(LegId),
    Bridge(LegId, LegId),
    Unbridge(LegId, LegId),
    Conference(Vec<LegId>, MixMatrix),
    SendDtmf(LegId, Digit, u32),
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

/// Controls one call's media. Dropping every handle ends the call task.
#[derive(Debug, Clone)]
pub struct CallHandle {
    tx: mpsc::UnboundedSender<Command>,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "call media task has ended")
}

impl CallHandle {
    fn send(&self, c: Command) -> io::Result<()> {
        self.tx.send(c).map_err(|_| gone())
    }

    /// Adds a leg on a bound socket with the SDP-negotiated parameters.
    pub async fn add_leg(&self, leg: BoundLeg, params: LegParams) -> io::Result<LegId> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::AddLeg(Box::new(leg), params, tx))?;
        rx.await.map_err(|_| gone())
    }

    /// New parameters for a leg (answer, re-INVITE).
    pub fn update_leg(&self, leg: LegId, params: LegParams) -> io::Result<()> {
        self.send(Command::UpdateLeg(leg, params))
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
}

impl Transmit for Sockets {
    fn send(&mut self, leg: LegId, to: SocketAddr, data: &[u8]) {
        if let Some(Some(s)) = self.socks.get(leg)
            && s.try_send_to(data, to).is_err()
        {
            self.send_errors += 1;
        }
    }
}

async fn run_call(
    mut core: CallMedia,
    mut cmds: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<MediaEvent>,
) {
    let mut io = Sockets {
        socks: Vec::new(),
        send_errors: 0,
    };
    let mut buf = vec![0u8; 2048];
    let sleep = tokio::time::sleep_until(core.poll_timeout().into());
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            biased;
            cmd = cmds.recv() => {
                let Some(cmd) = cmd else { break };
                if !apply(&mut core, &mut io, cmd) {
                    break;
                }
            }
            () = &mut sleep => {
                core.tick(Instant::now(), &mut io);
                sleep.as_mut().reset(core.poll_timeout().into());
            }
            i = poll_fn(|cx| {
                for (i, s) in io.socks.iter().enumerate() {
                    if let Some(s) = s
                        && s.poll_recv_ready(cx).is_ready()
                    {
                        return Poll::Ready(i);
                    }
                }
                Poll::Pending
            }) => {
                drain(&mut core, &mut io, i, &mut buf);
            }
        }
        while let Some(ev) = core.poll_event() {
            if events.send(ev).is_err() {
                // Nobody listens any more; keep running until the handle is dropped.
                break;
            }
        }
    }
    core.stop_recording();
    for id in 0..io.socks.len() {
        core.remove_leg(id);
    }
    while let Some(ev) = core.poll_event() {
        let _ = events.send(ev);
    }
}

fn drain(core: &mut CallMedia, io: &mut Sockets, i: LegId, buf: &mut [u8]) {
    for _ in 0..64 {
        let r = match io.socks.get(i) {
            Some(Some(s)) => s.try_recv_from(buf),
            _ => return,
        };
        match r {
            Ok((n, from)) => core.handle_datagram(i, from, &buf[..n], Instant::now(), io),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            // ICMP port unreachable and the like: ignore and move on.
            Err(_) => continue,
        }
    }
}

fn apply(core: &mut CallMedia, io: &mut Sockets, cmd: Command) -> bool {
    let now = Instant::now();
    match cmd {
        Command::AddLeg(bound, params, reply) => {
            let id = core.add_leg(params, now);
            if io.socks.len() <= id {
                io.socks.resize_with(id + 1, || None);
            }
            io.socks[id] = Some(bound.socket);
            let _ = reply.send(id);
        }
        Command::UpdateLeg(id, p) => core.update_leg(id, p),
        Command::RemoveLeg(id) => {
            core.remove_leg(id);
            if let Some(s) = io.socks.get_mut(id) {
                *s = None;
            }
        }
        Command::Play(id, prompts, looping, barge) => core.play(id, prompts, looping, barge),
        Command::StopPlayback(id) => core.stop_playback(id),
        Command::Bridge(a, b) => core.bridge(a, b),
        Command::Unbridge(a, b) => core.unbridge(a, b),
        Command::Conference(legs, m) => core.conference(legs, m),
        Command::SendDtmf(id, d, ms) => core.send_dtmf(id, d, ms, now),
        Command::StartRecording(path, l, r, reply) => {
            let _ = reply.send(core.start_recording(&path, l, r));
        }
        Command::SetRecordingRight(r) => core.set_recording_right(r),
        Command::PauseRecording(p) => core.pause_recording(p),
        Command::StopRecording => core.stop_recording(),
        Command::Quality(id, reply) => {
            let _ = reply.send(core.quality(id));
        }
        Command::Close => return false,
    }
    true
}
