//! The sans-IO media core of one call: its legs (caller, agent, supervisor…),
//! what each leg is sent (silence, prompts and music, the other leg's audio
//! relayed, or a mix), DTMF in and out, recording, quality, inactivity and
//! voice analysis.
//!
//! The core never touches a socket or a clock: the shell hands it datagrams
//! with the time they arrived ([`CallMedia::handle_datagram`]), calls
//! [`CallMedia::tick`] when [`CallMedia::poll_timeout`] says, and sends what
//! the core writes through [`Transmit`]. Events queue up for
//! [`CallMedia::poll_event`].
//!
//! # Outgoing stream continuity
//! Each leg owns one outgoing stream: one SSRC for the leg's life, sequence
//! numbers that go up by one per packet sent, and timestamps that follow
//! wall time. Whatever feeds it (a prompt, hold music, the other leg) is
//! re-stamped: relayed packets get a sequence and timestamp offset fixed when
//! relaying begins (and again when the far end changes SSRC or jumps), so
//! the far end's own spacing is kept and the receiving phone sees a single
//! uninterrupted stream. The marker bit is set at each re-anchoring.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::amd::{AmdConfig, AmdDecision, AmdDetector};
use crate::analysis::{AnalysisConfig, CallVoiceSummary, VoiceAnalyzer, WindowScore};
use crate::dtmf::{Digit, Rfc4733Receiver, Rfc4733Sender};
use crate::g711::Codec;
use crate::inband::InbandDetector;
use crate::mixer::{MixMatrix, mix};
use crate::player::{Player, Prompt};
use crate::playout::{FRAME, Playout};
use crate::recorder::Recorder;
use crate::rtcp;
use crate::rtp::{RtpHeader, RtpPacket, seq_diff, write_packet};
use crate::stats::{Arrival, IntervalLoss, QualityReport, RxTracker, estimate_mos_rtt};

/// Index of a leg within its call.
pub type LegId = usize;

const FRAME_DUR: Duration = Duration::from_millis(20);
const MAX_PAYLOAD: usize = 1200;
/// How long after latching the address named in SDP may still take the latch over.
const LATCH_LEARNING: Duration = Duration::from_secs(3);

/// Where a leg's packets go out: implemented by the I/O shell.
pub trait Transmit {
    /// Sends `data` from `leg`'s local socket to `to`.
    fn send(&mut self, leg: LegId, to: SocketAddr, data: &[u8]);

    /// Sends an RTCP datagram from `leg`'s RTCP socket (the RTP port + 1) to `to`. Only
    /// called for legs with [`RtcpMode::Port`]; with `rtcp-mux` RTCP goes through
    /// [`Transmit::send`].
    fn send_rtcp(&mut self, leg: LegId, to: SocketAddr, data: &[u8]) {
        self.send(leg, to, data);
    }
}

/// Whether and where a leg speaks RTCP (RFC 3550 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RtcpMode {
    /// No RTCP sent; reports received are still read.
    #[default]
    Off,
    /// On the RTP port itself (`a=rtcp-mux`, RFC 5761).
    Mux,
    /// On a port of its own: the far end's `a=rtcp:` port (RFC 3605), or its RTP port + 1.
    Port(Option<u16>),
}

/// Media parameters of a leg, from SDP offer/answer.
#[derive(Debug, Clone)]
pub struct LegParams {
    /// The far end's RTP address from SDP (`c=` and `m=` port). `None` until
    /// known; the leg then latches onto the first valid packet from anyone.
    pub remote: Option<SocketAddr>,
    /// Negotiated audio codec and its payload type.
    pub codec: Codec,
    pub payload_type: u8,
    /// Negotiated telephone-event payload type, if any.
    pub telephone_event_pt: Option<u8>,
    /// Listen for DTMF tones in the audio too.
    pub inband_dtmf: bool,
    /// Run voice analysis (level, VAD, pitch, agitation) on what this leg says.
    pub analyse: bool,
    /// Accept the first packet from any address when `remote` is known but
    /// media arrives from elsewhere (some carriers send from another host).
    pub latch_any_source: bool,
    /// `remote` is the address the far end's SDP named, not one hotline made up (a NATed
    /// phone's: its NAT's address with the port it declared). Only such an address may take
    /// the latch over from a stray source in the first seconds.
    pub remote_is_declared: bool,
    /// SRTP keys when the leg is encrypted (the I/O shell protects and checks its packets;
    /// the core sees plain RTP).
    pub srtp: Option<crate::srtp::SrtpKeys>,
    /// RTCP reports to and from the far end (never on an SRTP leg: SRTCP is not
    /// implemented, so an encrypted leg sends none).
    pub rtcp: RtcpMode,
}

impl LegParams {
    /// Plain parameters for a codec with its static payload type and
    /// telephone-events on 101.
    pub fn new(remote: Option<SocketAddr>, codec: Codec) -> Self {
        LegParams {
            remote,
            codec,
            payload_type: codec.static_payload_type(),
            telephone_event_pt: Some(101),
            inband_dtmf: false,
            analyse: false,
            latch_any_source: false,
            remote_is_declared: true,
            srtp: None,
            rtcp: RtcpMode::Off,
        }
    }
}

/// Call-wide settings.
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// A leg that receives nothing for this long raises [`MediaEvent::Inactive`].
    pub inactivity_timeout: Duration,
    /// Emit [`MediaEvent::Quality`] for every leg this often (`None`: only at removal).
    pub quality_interval: Option<Duration>,
    pub analysis: AnalysisConfig,
    /// Playout depth in 20 ms frames for recording/mixing/analysis.
    pub playout_frames: u32,
    /// Recorder flush period.
    pub record_flush_ms: u32,
    /// Emit [`MediaEvent::Agitation`] for every scored window (for live
    /// dashboards); by default only for windows that cross the threshold.
    pub report_every_window: bool,
    /// Where recordings' disk writes happen (`None`: on the calling thread).
    pub record_writer: Option<crate::recorder::RecordWriter>,
    /// The mean RTCP report interval of legs that send reports (randomised 0.5–1.5×).
    pub rtcp_interval: Duration,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            inactivity_timeout: Duration::from_secs(30),
            quality_interval: None,
            analysis: AnalysisConfig::default(),
            playout_frames: 3,
            record_flush_ms: 1000,
            report_every_window: false,
            record_writer: None,
            rtcp_interval: Duration::from_secs(5),
        }
    }
}

/// How a key press was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfSource {
    Rfc4733,
    Inband,
}

/// Something the session layer should know.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    Dtmf {
        leg: LegId,
        digit: Digit,
        source: DtmfSource,
    },
    /// A prompt sequence ended (or was cut by a key press: `interrupted`).
    PlaybackFinished {
        leg: LegId,
        interrupted: bool,
    },
    /// No RTP from the leg for the configured timeout.
    Inactive {
        leg: LegId,
    },
    /// RTP flows again after [`MediaEvent::Inactive`].
    Active {
        leg: LegId,
    },
    Quality {
        leg: LegId,
        report: QualityReport,
    },
    /// A voice-analysis window was scored; `window.crossed` marks threshold crossings.
    Agitation {
        leg: LegId,
        window: WindowScore,
    },
    /// Final figures of a removed leg.
    LegClosed {
        leg: LegId,
        report: QualityReport,
        voice: Option<CallVoiceSummary>,
    },
    RecordingStopped {
        path: PathBuf,
        seconds: f64,
    },
    RecordingFailed {
        path: PathBuf,
        error: String,
    },
    /// Answering-machine detection on the leg (started with [`CallMedia::start_amd`])
    /// reached its decision; detection then stops.
    Amd {
        leg: LegId,
        decision: AmdDecision,
    },
    /// A browser leg's WebRTC connection came up or went away (from the engine's shell).
    Browser {
        leg: LegId,
        state: crate::webrtc::BrowserState,
    },
}

/// What a leg is being sent.
#[derive(Debug)]
enum Source {
    /// Nothing to say: silence frames (keeps NATs and far-end timers happy).
    Silence,
    Player(Player),
    /// The audio received on another leg, relayed packet by packet.
    Relay(LegId),
    /// Part of the conference mix.
    Mix,
}

#[derive(Debug)]
struct TxStream {
    ssrc: u32,
    next_seq: u16,
    last_ts: u32,
    last_sent_at: Option<Instant>,
    /// (far-end SSRC, sequence offset, timestamp offset) while relaying.
    relay: Option<(u32, u16, u32)>,
    sent: u64,
}

impl TxStream {
    /// The timestamp a packet sent at `now` should carry to keep wall-time
    /// spacing from the last packet sent (at least one frame later).
    fn ts_for(&self, now: Instant) -> u32 {
        match self.last_sent_at {
            Some(t) => {
                let el = now.saturating_duration_since(t);
                let frames = ((el.as_micros() + 10_000) / 20_000).max(1);
                // Frames since the last packet: a u32 wrap is harmless on RTP timestamps.
                self.last_ts
                    .wrapping_add((frames as u32).wrapping_mul(FRAME as u32))
            }
            None => self.last_ts,
        }
    }

    fn stamp(&mut self, now: Instant, ts: u32) -> u16 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.last_ts = ts;
        self.last_sent_at = Some(now);
        self.sent += 1;
        seq
    }
}

#[derive(Debug)]
struct Leg {
    p: LegParams,
    latched: Option<SocketAddr>,
    /// Until when a packet from exactly `p.remote` takes the latch over.
    learning_until: Instant,
    rx: RxTracker,
    dtmf_rx: Rfc4733Receiver,
    last_event_at: Option<Instant>,
    inband: Option<InbandDetector>,
    playout: Playout,
    analyzer: Option<VoiceAnalyzer>,
    /// Answering-machine detection on what the leg says, with the media time (ms since
    /// detection started) of the next frame.
    amd: Option<(AmdDetector, u64)>,
    /// This tick's received audio.
    frame: [i16; FRAME],
    /// This tick's audio sent to the leg.
    heard: [i16; FRAME],
    last_rx: Instant,
    inactive: bool,
    tx: TxStream,
    source: Source,
    dtmf_tx: Option<(Rfc4733Sender, u32)>,
    malformed: u64,
    foreign: u64,
    rtcp: RtcpLeg,
    /// Loss over the quality intervals.
    recent: IntervalLoss,
    recent_loss: Option<f64>,
}

/// A leg's RTCP state.
#[derive(Debug, Default)]
struct RtcpLeg {
    /// When the next report goes out.
    next_at: Option<Instant>,
    /// The far end's last SR: its compact NTP time and when it arrived.
    last_sr: Option<(u32, Instant)>,
    /// Loss between our reports.
    interval: IntervalLoss,
    /// Packets sent when the last report went out.
    sent_at_report: u64,
    /// Where the far end's RTCP comes from (port mode).
    latched: Option<SocketAddr>,
    rtt_ms: Option<f64>,
    remote_loss: Option<f64>,
    remote_jitter_ms: Option<f64>,
    /// Reports taken and datagrams refused.
    received: u64,
    malformed: u64,
}

impl Leg {
    fn dest(&self) -> Option<SocketAddr> {
        self.latched.or(self.p.remote)
    }

    /// Where the leg's RTCP goes, if it sends any.
    fn rtcp_dest(&self) -> Option<SocketAddr> {
        if self.p.srtp.is_some() {
            return None;
        }
        match self.p.rtcp {
            RtcpMode::Off => None,
            RtcpMode::Mux => self.dest(),
            RtcpMode::Port(port) => self.rtcp.latched.or_else(|| {
                let d = self.dest()?;
                let p = port.unwrap_or(d.port().checked_add(1)?);
                Some(SocketAddr::new(d.ip(), p))
            }),
        }
    }

    fn report(&self) -> QualityReport {
        let mut r = self.rx.report();
        r.packets_sent = self.tx.sent;
        r.rtt_ms = self.rtcp.rtt_ms;
        r.remote_loss = self.rtcp.remote_loss;
        r.remote_jitter_ms = self.rtcp.remote_jitter_ms;
        r.mos = estimate_mos_rtt(r.loss_fraction, r.jitter_ms, r.rtt_ms);
        r.recent_loss = self.recent_loss.unwrap_or(r.loss_fraction);
        r.recent_mos = estimate_mos_rtt(r.recent_loss, r.jitter_ms, r.rtt_ms);
        r
    }
}

#[derive(Debug)]
struct RecState {
    rec: Recorder,
    left: LegId,
    right: Option<LegId>,
}

/// Pseudo-random SSRC/sequence/timestamp starts (RFC 3550 asks for random
/// initial values); a per-call counter mixed with a splitmix step.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The media of one call.
#[derive(Debug)]
pub struct CallMedia {
    cfg: CallConfig,
    legs: Vec<Option<Leg>>,
    events: VecDeque<MediaEvent>,
    rec: Option<RecState>,
    mix: Option<(Vec<LegId>, MixMatrix)>,
    epoch: Instant,
    next_tick: Instant,
    next_quality: Option<Instant>,
    seed: u64,
    /// The 64-bit NTP time (wall clock) at `epoch`, for RTCP sender reports.
    ntp_epoch: u64,
    /// Draws for the RTCP intervals.
    draws: u64,
    scratch_pcm: Box<[i16; MAX_PAYLOAD]>,
    out: Box<[u8; MAX_PAYLOAD + 12]>,
}

impl CallMedia {
    /// A call starting at `now`; `seed` varies the random stream identifiers.
    pub fn new(cfg: CallConfig, now: Instant, seed: u64) -> Self {
        let next_quality = cfg.quality_interval.map(|d| now + d);
        CallMedia {
            cfg,
            legs: Vec::new(),
            events: VecDeque::new(),
            rec: None,
            mix: None,
            epoch: now,
            next_tick: now + FRAME_DUR,
            next_quality,
            seed,
            ntp_epoch: 0,
            draws: 0,
            scratch_pcm: Box::new([0; MAX_PAYLOAD]),
            out: Box::new([0; MAX_PAYLOAD + 12]),
        }
    }

    /// Adds a leg; it starts sending silence once its remote address is known.
    pub fn add_leg(&mut self, p: LegParams, now: Instant) -> LegId {
        let id = self.legs.len();
        let r = mix64(self.seed ^ ((id as u64) << 48) ^ 0x5eed);
        let tx = TxStream {
            ssrc: r as u32,
            next_seq: (r >> 32) as u16 & 0x7fff,
            last_ts: (r >> 40) as u32,
            last_sent_at: None,
            relay: None,
            sent: 0,
        };
        let leg = Leg {
            inband: p.inband_dtmf.then(InbandDetector::default),
            analyzer: p.analyse.then(|| VoiceAnalyzer::new(self.cfg.analysis)),
            amd: None,
            p,
            latched: None,
            learning_until: now,
            rx: RxTracker::new(),
            dtmf_rx: Rfc4733Receiver::new(),
            last_event_at: None,
            playout: Playout::new(self.cfg.playout_frames),
            frame: [0; FRAME],
            heard: [0; FRAME],
            last_rx: now,
            inactive: false,
            tx,
            source: Source::Silence,
            dtmf_tx: None,
            malformed: 0,
            foreign: 0,
            rtcp: RtcpLeg::default(),
            recent: IntervalLoss::default(),
            recent_loss: None,
        };
        self.legs.push(Some(leg));
        id
    }

    /// Updates a leg's parameters (SDP answer or re-INVITE). A new remote
    /// address drops the latch.
    pub fn update_leg(&mut self, id: LegId, p: LegParams) {
        if let Some(l) = self.leg_mut(id) {
            if l.p.remote != p.remote {
                l.latched = None;
            }
            if p.inband_dtmf && l.inband.is_none() {
                l.inband = Some(InbandDetector::default());
            } else if !p.inband_dtmf {
                l.inband = None;
            }
            l.p = p;
        }
    }

    /// Removes a leg, emitting its final figures. Anything relaying from it
    /// falls back to silence.
    pub fn remove_leg(&mut self, id: LegId) {
        let Some(leg) = self.legs.get_mut(id).and_then(Option::take) else {
            return;
        };
        let report = leg.report();
        self.events.push_back(MediaEvent::LegClosed {
            leg: id,
            report,
            voice: leg.analyzer.as_ref().map(VoiceAnalyzer::summary),
        });
        for l in self.legs.iter_mut().flatten() {
            if matches!(l.source, Source::Relay(f) if f == id) {
                l.source = Source::Silence;
                l.tx.relay = None;
            }
        }
        if let Some((members, _)) = &self.mix
            && members.contains(&id)
        {
            self.mix = None;
            for l in self.legs.iter_mut().flatten() {
                if matches!(l.source, Source::Mix) {
                    l.source = Source::Silence;
                }
            }
        }
    }

    fn leg_mut(&mut self, id: LegId) -> Option<&mut Leg> {
        self.legs.get_mut(id).and_then(Option::as_mut)
    }

    fn leg(&self, id: LegId) -> Option<&Leg> {
        self.legs.get(id).and_then(Option::as_ref)
    }

    /// Number of live legs.
    pub fn leg_count(&self) -> usize {
        self.legs.iter().flatten().count()
    }

    /// Plays prompts to a leg, replacing what it was sent.
    pub fn play(&mut self, id: LegId, prompts: Vec<Prompt>, looping: bool, barge_in: bool) {
        self.detach_from_mix(id);
        if let Some(l) = self.leg_mut(id) {
            l.source = Source::Player(Player::new(prompts, looping, barge_in));
            l.tx.relay = None;
        }
    }

    /// Stops playback on a leg (it is then sent silence).
    pub fn stop_playback(&mut self, id: LegId) {
        if let Some(l) = self.leg_mut(id)
            && matches!(l.source, Source::Player(_))
        {
            l.source = Source::Silence;
        }
    }

    /// Bridges two legs: each is sent what the other says.
    pub fn bridge(&mut self, a: LegId, b: LegId) {
        if a == b || self.leg(a).is_none() || self.leg(b).is_none() {
            return;
        }
        self.detach_from_mix(a);
        self.detach_from_mix(b);
        for (x, y) in [(a, b), (b, a)] {
            if let Some(l) = self.leg_mut(x) {
                l.source = Source::Relay(y);
                l.tx.relay = None;
            }
        }
    }

    /// Stops relaying between two legs; both get silence.
    pub fn unbridge(&mut self, a: LegId, b: LegId) {
        for (x, y) in [(a, b), (b, a)] {
            if let Some(l) = self.leg_mut(x)
                && matches!(l.source, Source::Relay(f) if f == y)
            {
                l.source = Source::Silence;
                l.tx.relay = None;
            }
        }
    }

    /// Puts `legs` into a mix with the given matrix (indices into `legs`).
    pub fn conference(&mut self, legs: Vec<LegId>, matrix: MixMatrix) {
        for &id in &legs {
            if let Some(l) = self.leg_mut(id) {
                l.source = Source::Mix;
                l.tx.relay = None;
            }
        }
        self.mix = Some((legs, matrix));
    }

    fn detach_from_mix(&mut self, id: LegId) {
        if let Some((members, _)) = &self.mix
            && members.contains(&id)
        {
            let members = members.clone();
            self.mix = None;
            for m in members {
                if let Some(l) = self.leg_mut(m)
                    && matches!(l.source, Source::Mix)
                {
                    l.source = Source::Silence;
                }
            }
        }
    }

    /// Sends a key press to a leg as RFC 4733 events (if negotiated).
    pub fn send_dtmf(&mut self, id: LegId, digit: Digit, duration_ms: u32, now: Instant) {
        if let Some(l) = self.leg_mut(id)
            && l.p.telephone_event_pt.is_some()
        {
            let ts = l.tx.ts_for(now);
            l.dtmf_tx = Some((Rfc4733Sender::new(digit, duration_ms, 10), ts));
        }
    }

    /// Starts answering-machine detection on what `id` says from the next 20 ms frame on
    /// (restarting it if it was running). The decision comes once as [`MediaEvent::Amd`].
    pub fn start_amd(&mut self, id: LegId, cfg: AmdConfig) {
        if let Some(l) = self.leg_mut(id) {
            l.amd = Some((AmdDetector::new(cfg), 0));
        }
    }

    /// Stops answering-machine detection on a leg without a decision.
    pub fn stop_amd(&mut self, id: LegId) {
        if let Some(l) = self.leg_mut(id) {
            l.amd = None;
        }
    }

    /// Starts recording: `left` is the caller; `right` the agent (when `None`,
    /// the right channel has what hotline plays to the caller).
    pub fn start_recording(
        &mut self,
        path: &Path,
        left: LegId,
        right: Option<LegId>,
    ) -> io::Result<()> {
        if let Some(old) = self.rec.take() {
            self.finish_recording(old);
        }
        let rec = Recorder::create_with(
            path,
            self.cfg.record_flush_ms,
            self.cfg.record_writer.clone(),
        )?;
        self.rec = Some(RecState { rec, left, right });
        Ok(())
    }

    /// Points the recording's right channel at another leg (agent answered).
    pub fn set_recording_right(&mut self, right: Option<LegId>) {
        if let Some(r) = &mut self.rec {
            r.right = right;
        }
    }

    /// Pauses (silence recorded) or resumes the recording.
    pub fn pause_recording(&mut self, paused: bool) {
        if let Some(r) = &mut self.rec {
            r.rec.set_paused(paused);
        }
    }

    /// Stops the recording and emits [`MediaEvent::RecordingStopped`].
    pub fn stop_recording(&mut self) {
        if let Some(r) = self.rec.take() {
            self.finish_recording(r);
        }
    }

    fn finish_recording(&mut self, r: RecState) {
        let path = r.rec.path().to_owned();
        let seconds = r.rec.duration_secs();
        match r.rec.finish() {
            Ok(path) => self
                .events
                .push_back(MediaEvent::RecordingStopped { path, seconds }),
            Err(e) => self.events.push_back(MediaEvent::RecordingFailed {
                path,
                error: e.to_string(),
            }),
        }
    }

    /// Quality figures of a leg so far.
    pub fn quality(&self, id: LegId) -> Option<QualityReport> {
        self.leg(id).map(Leg::report)
    }

    /// Sets the wall clock: the 64-bit NTP time at the instant the call was created with.
    /// RTCP sender reports carry it; without it they count from zero (round trips are
    /// measured all the same, on this clock).
    pub fn set_ntp_epoch(&mut self, ntp: u64) {
        self.ntp_epoch = ntp;
    }

    /// RTCP reports taken and RTCP datagrams refused, per leg.
    pub fn rtcp_counts(&self, id: LegId) -> Option<(u64, u64)> {
        self.leg(id).map(|l| (l.rtcp.received, l.rtcp.malformed))
    }

    fn ntp_at(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.epoch).as_micros() as u64;
        self.ntp_epoch.wrapping_add(rtcp::ntp_from_micros(since))
    }

    /// Handles a datagram received on `id`'s RTCP socket (the RTP port + 1) from `from`.
    /// Anything that is not RTCP is counted and dropped.
    pub fn handle_rtcp(&mut self, id: LegId, from: SocketAddr, data: &[u8], now: Instant) {
        let arrival = rtcp::ntp_middle(self.ntp_at(now));
        let Some(leg) = self.leg_mut(id) else { return };
        let ok = match (leg.rtcp.latched, leg.latched.or(leg.p.remote)) {
            (Some(a), _) => a == from,
            (None, Some(r)) => r.ip() == from.ip() || leg.p.latch_any_source,
            (None, None) => true,
        };
        if !ok {
            leg.foreign += 1;
            return;
        }
        if Self::take_rtcp(leg, data, arrival, now) && leg.rtcp.latched.is_none() {
            leg.rtcp.latched = Some(from);
        }
    }

    /// Reads a (compound) RTCP datagram of `leg`'s far end; `true` if it was RTCP.
    fn take_rtcp(leg: &mut Leg, data: &[u8], arrival: u32, now: Instant) -> bool {
        let Ok(reports) = rtcp::parse(data) else {
            leg.rtcp.malformed += 1;
            return false;
        };
        leg.rtcp.received += 1;
        for r in reports {
            if let Some(s) = r.sender {
                leg.rtcp.last_sr = Some((rtcp::ntp_middle(s.ntp), now));
            }
            for b in r.blocks.iter().filter(|b| b.ssrc == leg.tx.ssrc) {
                leg.rtcp.remote_loss = Some(f64::from(b.fraction_lost) / 256.0);
                leg.rtcp.remote_jitter_ms = Some(f64::from(b.jitter.min(1 << 24)) / 8.0);
                if let Some(rtt) = rtcp::round_trip_ms(arrival, b.lsr, b.dlsr) {
                    leg.rtcp.rtt_ms = Some(rtt);
                }
            }
        }
        true
    }

    /// Sends the RTCP reports that are due.
    fn rtcp_reports(&mut self, now: Instant, tx: &mut impl Transmit) {
        let ntp = self.ntp_at(now);
        let base = self.cfg.rtcp_interval.as_micros() as u64;
        for id in 0..self.legs.len() {
            let Some(leg) = self.legs[id].as_mut() else {
                continue;
            };
            let Some(dest) = leg.rtcp_dest() else {
                continue;
            };
            let Some(at) = leg.rtcp.next_at else {
                // The first report goes out after half an interval, as §6.2 suggests.
                leg.rtcp.next_at = Some(now + Duration::from_micros(base / 2));
                continue;
            };
            if now < at {
                continue;
            }
            self.draws += 1;
            let r =
                (mix64(self.seed ^ self.draws ^ 0x7274_6370) >> 11) as f64 / (1u64 << 53) as f64;
            leg.rtcp.next_at = Some(now + Duration::from_micros(rtcp::interval_micros(base, r)));
            let mut blocks = Vec::new();
            if let Some(f) = leg.rx.rx_figures() {
                let lost = leg.rtcp.interval.step(f.expected, f.received);
                let (lsr, dlsr) = match leg.rtcp.last_sr {
                    Some((lsr, at)) => {
                        let d = now.saturating_duration_since(at).as_micros() as u64;
                        (lsr, (d * 65536 / 1_000_000).min(u64::from(u32::MAX)) as u32)
                    }
                    None => (0, 0),
                };
                blocks.push(rtcp::ReportBlock {
                    ssrc: f.ssrc,
                    fraction_lost: (lost * 256.0).min(255.0) as u8,
                    cumulative_lost: f.expected.saturating_sub(f.received).min(0x7f_ffff) as i32,
                    highest_seq: f.highest_seq,
                    jitter: f.jitter,
                    lsr,
                    dlsr,
                });
            }
            let sending = leg.tx.sent != leg.rtcp.sent_at_report;
            leg.rtcp.sent_at_report = leg.tx.sent;
            let report = rtcp::Report {
                ssrc: leg.tx.ssrc,
                sender: sending.then(|| rtcp::SenderInfo {
                    ntp,
                    rtp_ts: leg.tx.ts_for(now),
                    packets: leg.tx.sent as u32,
                    octets: (leg.tx.sent as u32).wrapping_mul(FRAME as u32),
                }),
                blocks,
            };
            let mut buf = [0u8; 128];
            let cname = format!("hotline-{:08x}", leg.tx.ssrc);
            if let Some(n) = rtcp::write(&report, &cname, &mut buf) {
                match leg.p.rtcp {
                    RtcpMode::Port(_) => tx.send_rtcp(id, dest, &buf[..n]),
                    _ => tx.send(id, dest, &buf[..n]),
                }
            }
        }
    }

    /// Voice-analysis summary of a leg so far.
    pub fn voice_summary(&self, id: LegId) -> Option<CallVoiceSummary> {
        self.leg(id)?.analyzer.as_ref().map(VoiceAnalyzer::summary)
    }

    /// Malformed datagrams and datagrams from unexpected sources, per leg.
    pub fn rejected(&self, id: LegId) -> Option<(u64, u64)> {
        self.leg(id).map(|l| (l.malformed, l.foreign))
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// When [`CallMedia::tick`] should next run.
    pub fn poll_timeout(&self) -> Instant {
        self.next_tick
    }

    /// Handles one datagram received on `id`'s socket from `from` at `now`.
    pub fn handle_datagram(
        &mut self,
        id: LegId,
        from: SocketAddr,
        data: &[u8],
        now: Instant,
        tx: &mut impl Transmit,
    ) {
        let epoch = self.epoch;
        let arrival_ntp = rtcp::ntp_middle(self.ntp_at(now));
        let Some(leg) = self.legs.get_mut(id).and_then(Option::as_mut) else {
            return;
        };
        if rtcp::looks_like_rtcp(data) {
            // RFC 5761: RTCP multiplexed on the RTP port. Taken from the far end only.
            let from_peer = match leg.latched.or(leg.p.remote) {
                Some(a) => a.ip() == from.ip() || leg.p.latch_any_source,
                None => false,
            };
            if from_peer {
                Self::take_rtcp(leg, data, arrival_ntp, now);
            } else {
                leg.foreign += 1;
            }
            return;
        }
        let pkt = match RtpPacket::parse(data) {
            Ok(p) => p,
            Err(_) => {
                leg.malformed += 1;
                return;
            }
        };
        // Symmetric RTP: latch onto the first valid packet from the expected peer. For a short
        // while after that, the exact address the peer's SDP named takes the latch over: a
        // stray packet that came first (a late one for the port's previous call, another
        // process on the same host) must not turn the call one-way for good. Media then goes
        // only where the SDP said, so a spoofer gains no listener; once learnt, the latch
        // holds. A NATed phone's address is hotline's guess, not its word: it takes nothing
        // over, or a late packet from another phone behind the same NAT could.
        match leg.latched {
            Some(a) if a == from => {}
            Some(_)
                if leg.p.remote_is_declared
                    && leg.p.remote == Some(from)
                    && now < leg.learning_until =>
            {
                leg.latched = Some(from);
            }
            Some(_) => {
                leg.foreign += 1;
                return;
            }
            None => {
                let ok = match leg.p.remote {
                    None => true,
                    Some(r) => r.ip() == from.ip() || leg.p.latch_any_source,
                };
                if !ok {
                    leg.foreign += 1;
                    return;
                }
                leg.latched = Some(from);
                leg.learning_until = now + LATCH_LEARNING;
            }
        }
        let h = pkt.header;
        let is_event = leg.p.telephone_event_pt == Some(h.payload_type);
        let codec = if h.payload_type == leg.p.payload_type {
            Some(leg.p.codec)
        } else {
            Codec::from_static_payload_type(h.payload_type)
        };
        if !is_event && codec.is_none() {
            // Comfort noise or an unknown payload: alive, but nothing to play.
            leg.last_rx = now;
            return;
        }
        let arrival = now.saturating_duration_since(epoch).as_micros() as i64 * 8 / 1000;
        let arr = leg.rx.on_packet(&h, arrival);
        if matches!(arr, Arrival::Duplicate | Arrival::Late) {
            return;
        }
        leg.last_rx = now;
        if leg.inactive {
            leg.inactive = false;
            self.events.push_back(MediaEvent::Active { leg: id });
        }
        if is_event {
            leg.last_event_at = Some(now);
            if let Some(d) = leg.dtmf_rx.on_packet(&pkt) {
                Self::digit(&mut self.events, leg, id, d.digit, DtmfSource::Rfc4733);
            }
        } else if let Some(codec) = codec {
            let n = pkt.payload.len().min(MAX_PAYLOAD);
            let pcm = &mut self.scratch_pcm[..n];
            codec.decode_slice(&pkt.payload[..n], pcm);
            leg.playout.push(h.timestamp, pcm);
        }
        let src_codec = codec;
        // Relay to every leg fed by this one.
        for (tid, t) in self.legs.iter_mut().enumerate() {
            let Some(t) = t else { continue };
            if tid == id || !matches!(t.source, Source::Relay(f) if f == id) {
                continue;
            }
            if t.dtmf_tx.is_some() {
                continue;
            }
            let Some(dest) = t.dest() else { continue };
            let out_pt = if is_event {
                match t.p.telephone_event_pt {
                    Some(pt) => pt,
                    None => continue,
                }
            } else {
                t.p.payload_type
            };
            let anchor = match t.tx.relay {
                Some((ssrc, _, _)) if ssrc == h.ssrc && arr != Arrival::NewStream => None,
                _ => {
                    let ts = t.tx.ts_for(now);
                    Some((
                        h.ssrc,
                        t.tx.next_seq.wrapping_sub(h.sequence),
                        ts.wrapping_sub(h.timestamp),
                    ))
                }
            };
            let marker = if let Some(a) = anchor {
                t.tx.relay = Some(a);
                true
            } else {
                h.marker
            };
            let Some((_, seq_off, ts_off)) = t.tx.relay else {
                continue;
            };
            let seq = h.sequence.wrapping_add(seq_off);
            let ts = h.timestamp.wrapping_add(ts_off);
            // Keep the stream's high-water marks for a later switch of source.
            if seq_diff(t.tx.next_seq, seq) >= 0 {
                t.tx.next_seq = seq.wrapping_add(1);
                t.tx.last_ts = ts;
                t.tx.last_sent_at = Some(now);
            }
            t.tx.sent += 1;
            let out_h = RtpHeader {
                marker,
                payload_type: out_pt,
                sequence: seq,
                timestamp: ts,
                ssrc: t.tx.ssrc,
            };
            let Some(len) = write_packet(&out_h, pkt.payload, &mut self.out[..]) else {
                continue;
            };
            if !is_event
                && let Some(sc) = src_codec
                && sc != t.p.codec
            {
                crate::g711::transcode_in_place(sc, t.p.codec, &mut self.out[12..len]);
            }
            tx.send(tid, dest, &self.out[..len]);
        }
    }

    fn digit(
        events: &mut VecDeque<MediaEvent>,
        leg: &mut Leg,
        id: LegId,
        digit: Digit,
        source: DtmfSource,
    ) {
        events.push_back(MediaEvent::Dtmf {
            leg: id,
            digit,
            source,
        });
        if let Source::Player(p) = &leg.source
            && p.barge_in()
        {
            leg.source = Source::Silence;
            events.push_back(MediaEvent::PlaybackFinished {
                leg: id,
                interrupted: true,
            });
        }
    }

    /// Runs the 20 ms work that is due at `now`: playout, detection,
    /// analysis, prompts, mixing, recording, DTMF sending, timers.
    pub fn tick(&mut self, now: Instant, tx: &mut impl Transmit) {
        let mut frames = 0;
        while self.next_tick <= now {
            let t = self.next_tick;
            self.next_tick += FRAME_DUR;
            frames += 1;
            if frames > 25 {
                // Far behind (process stalled): skip ahead rather than burst,
                // but keep the recording aligned to wall time with silence.
                let behind = now.saturating_duration_since(self.next_tick).as_millis() / 20;
                if let Some(r) = &mut self.rec
                    && let Err(e) = r.rec.write_silence(behind as usize + 1)
                {
                    self.recording_error(e);
                }
                self.next_tick = now + FRAME_DUR;
                break;
            }
            self.frame(t, tx);
        }
        self.rtcp_reports(now, tx);
        self.timers(now);
    }

    fn recording_error(&mut self, e: io::Error) {
        if let Some(r) = self.rec.take() {
            self.events.push_back(MediaEvent::RecordingFailed {
                path: r.rec.path().to_owned(),
                error: e.to_string(),
            });
        }
    }

    fn frame(&mut self, now: Instant, tx: &mut impl Transmit) {
        // 1. Received audio for this frame, in-band DTMF, voice activity.
        let n = self.legs.len();
        let mut active = [false; 8];
        for (i, l) in self.legs.iter().enumerate().take(8) {
            if let Some(l) = l {
                active[i] = l.analyzer.as_ref().is_some_and(|a| a.voice_active());
            }
        }
        for id in 0..n {
            let partner = self.partner_of(id);
            let Some(leg) = self.legs[id].as_mut() else {
                continue;
            };
            leg.playout.pull(&mut leg.frame);
            if let Some(det) = &mut leg.inband {
                let mut found = None;
                det.feed(&leg.frame, |d| found = Some(d));
                if let Some(d) = found {
                    Self::digit(&mut self.events, leg, id, d, DtmfSource::Inband);
                }
            }
            if let Some((det, at_ms)) = &mut leg.amd {
                let decided = det.feed(&leg.frame, *at_ms);
                *at_ms += FRAME_DUR.as_millis() as u64;
                if let Some(decision) = decided {
                    leg.amd = None;
                    self.events.push_back(MediaEvent::Amd { leg: id, decision });
                }
            }
            if let Some(a) = &mut leg.analyzer {
                let other = partner.is_some_and(|p| p < 8 && active[p]);
                if let Some(w) = a.frame(&leg.frame, other)
                    && (w.crossed || self.cfg.report_every_window)
                {
                    self.events
                        .push_back(MediaEvent::Agitation { leg: id, window: w });
                }
            }
        }
        // 2. Conference mix.
        if let Some((members, m)) = &self.mix {
            let k = members.len().min(8);
            let mut inputs = [[0i16; FRAME]; 8];
            let mut outputs = [[0i16; FRAME]; 8];
            for (slot, &id) in members.iter().enumerate().take(k) {
                if let Some(l) = self.legs.get(id).and_then(Option::as_ref) {
                    inputs[slot] = l.frame;
                }
            }
            mix(m, &inputs[..k], &mut outputs[..k]);
            for (slot, &id) in members.iter().enumerate().take(k) {
                if let Some(l) = self.legs.get_mut(id).and_then(Option::as_mut) {
                    l.heard = outputs[slot];
                }
            }
        }
        // 3. Generated audio (prompts, silence, mix) and DTMF out.
        for id in 0..n {
            let relay_frame = match self.legs[id].as_ref().map(|l| &l.source) {
                Some(Source::Relay(f)) => self.leg(*f).map(|s| s.frame),
                _ => None,
            };
            let Some(leg) = self.legs[id].as_mut() else {
                continue;
            };
            let Some(dest) = leg.dest() else { continue };
            if let Some(f) = relay_frame {
                leg.heard = f;
            }
            if let Some((sender, ev_ts)) = &mut leg.dtmf_tx {
                let (ev_ts, pt) = (*ev_ts, leg.p.telephone_event_pt.unwrap_or(101));
                match sender.next_packet() {
                    Some(p) => {
                        let seq = leg.tx.stamp(now, ev_ts);
                        let h = RtpHeader {
                            marker: p.marker,
                            payload_type: pt,
                            sequence: seq,
                            timestamp: ev_ts,
                            ssrc: leg.tx.ssrc,
                        };
                        // The event keeps its start timestamp; audio resumes on wall time.
                        leg.tx.last_ts = ev_ts.wrapping_add(u32::from(
                            crate::dtmf::TelephoneEvent::parse(&p.payload)
                                .map_or(0, |e| e.duration),
                        ));
                        if let Some(len) = write_packet(&h, &p.payload, &mut self.out[..]) {
                            tx.send(id, dest, &self.out[..len]);
                        }
                        leg.heard = [0; FRAME];
                        continue;
                    }
                    None => {
                        leg.dtmf_tx = None;
                        leg.tx.relay = None;
                    }
                }
            }
            let generated = match &mut leg.source {
                Source::Relay(_) => continue,
                Source::Silence => {
                    leg.heard = [0; FRAME];
                    true
                }
                Source::Mix => true,
                Source::Player(p) => {
                    let more = p.next_frame(&mut leg.heard);
                    if !more || p.finished() {
                        if !more {
                            leg.heard = [0; FRAME];
                        }
                        leg.source = Source::Silence;
                        self.events.push_back(MediaEvent::PlaybackFinished {
                            leg: id,
                            interrupted: false,
                        });
                    }
                    true
                }
            };
            if generated {
                let ts = leg.tx.ts_for(now);
                let seq = leg.tx.stamp(now, ts);
                let h = RtpHeader {
                    marker: false,
                    payload_type: leg.p.payload_type,
                    sequence: seq,
                    timestamp: ts,
                    ssrc: leg.tx.ssrc,
                };
                if h.write(&mut self.out[..]).is_some() {
                    leg.p
                        .codec
                        .encode_slice(&leg.heard, &mut self.out[12..12 + FRAME]);
                    tx.send(id, dest, &self.out[..12 + FRAME]);
                }
            }
        }
        // 4. Recording, one stereo frame per 20 ms of wall time.
        if let Some(r) = &mut self.rec {
            let left = self.legs.get(r.left).and_then(Option::as_ref);
            let l = left.map_or([0; FRAME], |l| l.frame);
            let rt = match r.right {
                Some(id) => self
                    .legs
                    .get(id)
                    .and_then(Option::as_ref)
                    .map_or([0; FRAME], |l| l.frame),
                None => left.map_or([0; FRAME], |l| l.heard),
            };
            if let Err(e) = r.rec.write_frame(&l, &rt) {
                self.recording_error(e);
            }
        }
    }

    fn partner_of(&self, id: LegId) -> Option<LegId> {
        match self.leg(id)?.source {
            Source::Relay(f) => Some(f),
            _ => None,
        }
    }

    fn timers(&mut self, now: Instant) {
        let timeout = self.cfg.inactivity_timeout;
        for (id, l) in self.legs.iter_mut().enumerate() {
            let Some(l) = l else { continue };
            if !l.inactive && now.saturating_duration_since(l.last_rx) >= timeout {
                l.inactive = true;
                self.events.push_back(MediaEvent::Inactive { leg: id });
            }
            if let Some(at) = l.last_event_at
                && l.dtmf_rx.in_progress()
                && now.saturating_duration_since(at) >= Duration::from_millis(300)
                && let Some(d) = l.dtmf_rx.flush_stale()
            {
                Self::digit(&mut self.events, l, id, d.digit, DtmfSource::Rfc4733);
            }
        }
        if let (Some(at), Some(every)) = (self.next_quality, self.cfg.quality_interval)
            && now >= at
        {
            self.next_quality = Some(now + every);
            for id in 0..self.legs.len() {
                let Some(l) = self.leg_mut(id) else { continue };
                let f = l.rx.report();
                l.recent_loss = Some(l.recent.step(f.packets_expected, f.packets_received));
                let report = l.report();
                self.events
                    .push_back(MediaEvent::Quality { leg: id, report });
            }
        }
    }
}
