//! One call session: the caller's leg, its media, the contact flow, its place in a queue, the
//! agent's leg when one answers, and every state change handed to the event log, in order,
//! before it is acted on. The session does not wait for the disk: the log commits in the
//! background and only committed events are shown to anyone (event stream, API, reports).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hotline_acd::ContactId;
use hotline_flow::{
    CallContext, FlowAction, FlowInput, FlowRun, FlowSet, Outcome, PlayId, PromptItem,
};
use hotline_media::player::{Lang, Prompt, PromptLibrary, estimated_wait_names, number_names};
use hotline_media::srtp::{MasterKey, SrtpKeys};
use hotline_media::{CallHandle, LegId, LegParams, MediaEngine, MediaEvent};
use hotline_model::{
    AgentId, Channel, EndReason, EventKind, InteractionEvent, InteractionId, Leg as ModelLeg,
    QueueName, Timestamp,
};
use hotline_sip::calls::{Calls, EndReason as SipEnd, IncomingCall, Leg, LegEvent};
use hotline_sip::registrar::{Binding, Caller, Registrar};
use hotline_sip::sdes::{self, SrtpPolicy};
use hotline_sip::sdp::{self, LocalCrypto, LocalMedia};
use hotline_store::Store;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::router::{Notice, RouterCmd};

/// What every session shares.
pub struct Shared {
    pub store: Store,
    pub media: MediaEngine,
    pub prompts: Arc<PromptLibrary>,
    pub flows: Arc<FlowSet>,
    pub router: mpsc::UnboundedSender<RouterCmd>,
    pub calls: Calls,
    pub registrar: Arc<Registrar>,
    /// The address put in SDP for hotline's media.
    pub media_ip: IpAddr,
    pub recordings: PathBuf,
    /// How long an agent's phone may ring before the call goes to the next agent.
    pub ring_timeout: Duration,
    pub next_contact: std::sync::atomic::AtomicU64,
    /// Played to every caller at entry while an outage is announced.
    pub fault_notice: std::sync::atomic::AtomicBool,
    /// Where calls out (callbacks) are sent: the carrier's address.
    pub outbound: Option<std::net::SocketAddr>,
    /// The trunk calls out go through (numbering, caller id, credentials).
    pub trunk: Option<crate::trunk::OutboundTrunk>,
    /// Agent extensions and queue names, to resolve transfer targets.
    pub agent_extensions: std::collections::HashSet<String>,
    pub queue_names: std::collections::HashSet<String>,
    /// Where each dialled number leads.
    pub numbers: crate::numbers::Numbers,
    /// The command channel of each call in progress.
    pub sessions: parking_lot::Mutex<
        std::collections::HashMap<InteractionId, mpsc::UnboundedSender<SessionCmd>>,
    >,
}

/// What the API may ask of a call in progress.
pub enum SessionCmd {
    /// The agent ends the call (as if from the phone).
    Hangup {
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The agent hands the caller on to a senior: the caller waits on hold, first in line,
    /// for an agent with the senior skill.
    Escalate {
        reason: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Blind transfer: the agent leaves; the caller waits on hold for the target.
    Transfer {
        to: TransferTarget,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The agent flags the caller as abusive: the caller hears a polite recorded message and
    /// the call ends; the agent gets a recovery break after wrap-up.
    Abusive {
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The centre shuts down and the drain time is over: the call ends with BYE to every
    /// phone, its recording finalised, its record closed as `shutdown`.
    Shutdown {
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// Where a transfer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    /// A colleague: the caller waits for that agent first, then for anyone in the queue.
    Agent(String),
    /// A queue: the caller goes to the front of its line.
    Queue(String),
}

impl TransferTarget {
    /// Resolves an extension or queue name (a REFER's user part, an API body).
    pub fn resolve(shared: &Shared, name: &str) -> Option<TransferTarget> {
        if shared.agent_extensions.contains(name) {
            Some(TransferTarget::Agent(name.to_string()))
        } else if shared.queue_names.contains(name) {
            Some(TransferTarget::Queue(name.to_string()))
        } else {
            None
        }
    }
}

/// The user part of a Refer-To value such as `<sip:1002@host;transport=udp>`.
pub fn refer_user(refer_to: &str) -> Option<&str> {
    let s = refer_to.trim().trim_start_matches('<');
    let s = s
        .strip_prefix("sip:")
        .or_else(|| s.strip_prefix("sips:"))
        .or_else(|| s.strip_prefix("tel:"))?;
    let end = s.find(['@', ';', '>', '?']).unwrap_or(s.len());
    let user = &s[..end];
    (!user.is_empty()).then_some(user)
}

/// Longest voicemail message.
const VOICEMAIL_MAX: Duration = Duration::from_secs(120);

fn sip_to_media_codec(c: sdp::Codec) -> hotline_media::Codec {
    match c {
        sdp::Codec::Pcmu => hotline_media::Codec::Pcmu,
        sdp::Codec::Pcma => hotline_media::Codec::Pcma,
    }
}

fn params(n: &sdp::Session, codec: sdp::Codec) -> LegParams {
    let mut p = LegParams::new(n.remote(), sip_to_media_codec(codec));
    p.payload_type = codec.payload_type();
    p.telephone_event_pt = n.telephone_event;
    p.inband_dtmf = true;
    p.analyse = true;
    p
}

/// [`params`] for a leg whose signalling comes from `peer`: a peer behind a NAT (its SDP
/// names a private address) is sent media at the NAT's address and latched from there.
fn params_from(n: &sdp::Session, codec: sdp::Codec, peer: IpAddr) -> LegParams {
    let mut p = params(n, codec);
    p.remote = p
        .remote
        .map(|r| hotline_sip::advertise::media_target(r, peer));
    p
}

/// Which phone of the call a media leg belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Caller,
    Agent,
}

/// Who holds the call, each side's phone on its own (hold by re-INVITE, RFC 3264 §8.4). A
/// phone that put the call on hold (`sendonly`, `inactive`) may send no RTP until it resumes:
/// its leg is spared the media-inactivity check meanwhile. The other phone is not re-INVITEd,
/// keeps sending, and is still checked: one side resuming does not end the other's hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Holds {
    caller: bool,
    agent: bool,
}

impl Holds {
    /// `side`'s phone put the call on hold (`on`) or took it back.
    fn set(&mut self, side: Side, on: bool) {
        match side {
            Side::Caller => self.caller = on,
            Side::Agent => self.agent = on,
        }
    }

    /// `side`'s leg may be silent without its phone being gone.
    fn may_be_silent(&self, side: Side) -> bool {
        match side {
            Side::Caller => self.caller,
            Side::Agent => self.agent,
        }
    }
}

/// Where and how an agent's phone is rung.
#[derive(Debug, Clone, PartialEq)]
struct Ring {
    binding: Binding,
    destination: std::net::SocketAddr,
    transport: &'static str,
    /// [`sdes::outgoing`] for the transport used: `Some(savp)` to offer a key.
    srtp: Option<bool>,
}

/// The phone to ring for an agent whose SRTP policy is `policy`, among its live bindings
/// (oldest first, as the registrar keeps them): the newest binding whose route lets the policy
/// be met. SRTP is decided by the transport the INVITE really goes over (a TLS-registered
/// phone with a public third-party Contact is reached over that Contact's transport), so an
/// SDES key is never sent in clear. No binding: "not registered"; none that fits: why the
/// newest does not.
fn choose_phone(bindings: Vec<Binding>, policy: SrtpPolicy) -> Result<Ring, &'static str> {
    let mut refusal = "not registered";
    for binding in bindings.into_iter().rev() {
        let (destination, transport) = binding.destination();
        match sdes::outgoing(policy, transport == "tls") {
            Ok(srtp) => {
                return Ok(Ring {
                    binding,
                    destination,
                    transport,
                    srtp,
                });
            }
            Err(why) if refusal == "not registered" => refusal = why,
            Err(_) => {}
        }
    }
    Err(refusal)
}

/// SRTP for a callback through a trunk whose policy is `policy`, signalled over `transport`:
/// `Ok(Some(savp))` to offer a key, `Ok(None)` for plain RTP (keys are only offered over
/// TLS), or why the call cannot be placed securely (`required` without TLS).
fn callback_srtp(policy: SrtpPolicy, transport: &str) -> Result<Option<bool>, &'static str> {
    sdes::outgoing(policy, transport == "tls").map_err(|_| {
        "SRTP required by the trunk, but calls out to it are not signalled over TLS (SDES keys would travel in clear)"
    })
}

/// A leg's SRTP keys after a re-INVITE or UPDATE carrying `offer` (hold, resume): hotline's
/// key stays (the answer repeats it, under the tag of the offered key); the far end's is the
/// offer's usable key when it has one (a phone may re-key), else the one it had. A plain leg
/// stays plain.
fn rekey(keys: Option<&SrtpKeys>, offer: &sdp::Session) -> Option<SrtpKeys> {
    let k = keys?;
    let offered = sdes::offered_key(offer).and_then(|r| MasterKey::from_bytes(&r.key));
    Some(SrtpKeys {
        local: k.local.clone(),
        remote: offered.or_else(|| k.remote.clone()),
    })
}

/// The agent side of a session while an agent is being rung or talks.
struct AgentSide {
    ext: String,
    /// Where the agent's signalling goes: its phone (or the NAT in front of it).
    peer: IpAddr,
    leg: Leg,
    media: LegId,
    answered: bool,
    ring_deadline: tokio::time::Instant,
    /// The phone's SRTP policy, and hotline's key offered to it (tag 1), if any.
    srtp: (SrtpPolicy, Option<MasterKey>),
    /// The leg's SRTP keys once answered (kept across re-INVITEs), if it is encrypted.
    keys: Option<SrtpKeys>,
}

enum Phase {
    /// The flow is running (IVR, queue).
    Flow,
    /// Caller and agent are bridged.
    Talking,
    /// After the agent hung up: the after-call flow (survey) runs.
    AfterCall,
    /// The caller asked to be called back and hung up; the contact keeps its place in line,
    /// then an agent is rung, then the customer is called.
    Callback,
    /// The caller is leaving a message.
    Voicemail,
}

struct Session {
    shared: Arc<Shared>,
    id: InteractionId,
    contact: ContactId,
    caller: Leg,
    /// Where the caller's signalling comes from (a trunk, a phone, its NAT).
    caller_peer: IpAddr,
    media: CallHandle,
    caller_media: LegId,
    run: Option<FlowRun>,
    lang: Lang,
    playing: Option<PlayId>,
    queued: Option<(String, tokio::time::Instant)>,
    notices_tx: mpsc::UnboundedSender<Notice>,
    agent: Option<AgentSide>,
    phase: Phase,
    after_call: Option<String>,
    max_agitation: f32,
    /// The caller is a VIP customer (from the lookup).
    vip: bool,
    customer: Option<hotline_model::CustomerId>,
    /// The number to call back, once the caller asked for it.
    callback_number: Option<String>,
    /// The queue the call last waited in (for escalation).
    last_queue: Option<String>,
    from: String,
    to: String,
    ended: bool,
    /// The caller's leg is up (it is not after a callback was booked, until the customer
    /// answers the call back).
    caller_live: bool,
    /// The call out to the customer for a callback, while it rings.
    dialing: Option<(Leg, LegId)>,
    /// The trunk's SRTP policy for the call out, and hotline's key offered (tag 1), if any.
    dial_srtp: (SrtpPolicy, Option<MasterKey>),
    /// The caller's SRTP keys (kept across re-INVITEs), if the leg is encrypted.
    caller_srtp: Option<SrtpKeys>,
    /// Recordings made so far (the first is `<id>.wav`).
    recordings: u32,
    /// Events kept for the next append (see [`Session::note`]).
    pending: Vec<hotline_model::Event>,
    /// Media legs that sent no RTP for the inactivity time (and have not since).
    silent: std::collections::HashSet<LegId>,
    /// Which phones put the call on hold: they may send no RTP then.
    holds: Holds,
    voicemail_until: Option<tokio::time::Instant>,
}

/// Runs one incoming call to its end.
pub async fn run_call(shared: Arc<Shared>, call: IncomingCall) {
    let Some(route) = shared.numbers.route(&call.to) else {
        info!(from = %call.from, to = %call.to, source = %call.source, caller = ?call.caller, "call refused: 404, the number dialled is no service number, extension or direct number of this centre");
        let _ = call.leg.reject(404);
        return;
    };
    let id = InteractionId::new();
    let trunk = match &call.caller {
        Caller::Trunk(t) => Some(t.clone()),
        Caller::Agent(a) => Some(format!("agent:{a}")),
    };
    let arrived = EventKind::Arrived {
        channel: Channel::Voice,
        from: call.from.clone(),
        to: call.to.clone(),
        trunk,
    };
    // Handed to the log before the caller hears anything (not waiting for the disk).
    if let Err(e) = log(&shared.store, id, arrived).await {
        warn!(error = %e, "cannot log an arrival; refusing the call");
        let _ = call.leg.reject(503);
        return;
    }
    let result = setup_and_run(shared.clone(), id, call, route).await;
    if let Err(e) = result {
        warn!(interaction = %id, error = %e, "call failed");
        let _ = log(
            &shared.store,
            id,
            EventKind::Ended {
                reason: EndReason::Error,
            },
        )
        .await;
    }
}

/// Hands one event to the log, in order, without waiting for it to be durable.
async fn log(store: &Store, id: InteractionId, kind: EventKind) -> Result<(), String> {
    store
        .submit(vec![
            InteractionEvent::new(id, Timestamp::now(), kind).into(),
        ])
        .await
        .map_err(|e| e.to_string())
}

async fn setup_and_run(
    shared: Arc<Shared>,
    id: InteractionId,
    call: IncomingCall,
    route: crate::numbers::Route,
) -> Result<(), String> {
    let IncomingCall {
        from,
        to,
        offer,
        leg,
        srtp,
        source,
        admission: _admission,
        ..
    } = call;
    let offer = match offer {
        Ok(o) => o,
        Err(e) => {
            debug!(error = %e, "unacceptable offer");
            let _ = leg.reject(488);
            log(
                &shared.store,
                id,
                EventKind::Ended {
                    reason: EndReason::Rejected,
                },
            )
            .await?;
            return Ok(());
        }
    };
    let port = shared.media.bind_leg().await.map_err(|e| e.to_string())?;
    // An encrypted leg: hotline answers with a key of its own under the caller's tag.
    let keys = match srtp {
        Some(remote) => Some((MasterKey::random()?, remote)),
        None => None,
    };
    let local = LocalMedia {
        address: shared.calls.media_address(source.ip()),
        port: port.local_addr().port(),
        session_id: rand_id(),
        version: 1,
        crypto: keys.as_ref().map(|(k, r)| LocalCrypto {
            tag: r.tag,
            inline: k.to_inline(),
            savp: true,
        }),
    };
    let negotiated = match sdp::answer(&offer, &local) {
        Ok(n) => n,
        Err(_) => {
            let _ = leg.reject(488);
            log(
                &shared.store,
                id,
                EventKind::Ended {
                    reason: EndReason::Rejected,
                },
            )
            .await?;
            return Ok(());
        }
    };
    let (media, media_events) = shared.media.spawn_call();
    let mut caller_params = params_from(&offer, negotiated.codec, source.ip());
    caller_params.srtp = keys.map(|(local, remote)| SrtpKeys {
        local,
        remote: MasterKey::from_bytes(&remote.key),
    });
    let caller_srtp = caller_params.srtp.clone();
    let caller_media = media
        .add_leg(port, caller_params)
        .await
        .map_err(|e| e.to_string())?;
    leg.answer(local, negotiated.sdp)?;

    let mut ctx = CallContext::new(&from, &to, chrono::Utc::now());
    ctx.fault_notice = shared.fault_notice.load(Ordering::Relaxed);
    let (run, direct) = match route {
        crate::numbers::Route::Flow(flow) => (
            Some(
                FlowRun::new(
                    shared.flows.clone(),
                    &flow,
                    ctx,
                    flow_now(tokio::time::Instant::now()),
                )
                .map_err(|e| e.to_string())?,
            ),
            None,
        ),
        crate::numbers::Route::Agent { extension, queue } => (None, Some((extension, queue))),
    };
    let (notices_tx, notices) = mpsc::unbounded_channel();
    let contact = ContactId(shared.next_contact.fetch_add(1, Ordering::Relaxed));
    let mut s = Session {
        shared,
        id,
        contact,
        caller: leg,
        caller_peer: source.ip(),
        media,
        caller_media,
        run,
        lang: Lang::Zh,
        playing: None,
        queued: None,
        notices_tx,
        agent: None,
        phase: Phase::Flow,
        after_call: None,
        max_agitation: 0.0,
        vip: false,
        customer: None,
        callback_number: None,
        last_queue: None,
        from,
        to,
        ended: false,
        caller_live: true,
        dialing: None,
        dial_srtp: (SrtpPolicy::Off, None),
        caller_srtp,
        recordings: 0,
        pending: Vec::new(),
        silent: Default::default(),
        holds: Holds::default(),
        voicemail_until: None,
    };
    info!(interaction = %id, from = %s.from, to = %s.to, "call answered");
    let (cmd_tx, commands) = mpsc::unbounded_channel();
    s.shared.sessions.lock().insert(id, cmd_tx);
    if let Some((extension, queue)) = direct {
        // A direct number: the agent is offered the call first, then anyone of the queue.
        info!(interaction = %id, agent = %extension, %queue, "direct call to an agent");
        if let Err(e) = s.requeue(queue, false, Some(extension)).await {
            warn!(interaction = %id, error = %e, "direct call");
        }
    }
    s.drive(media_events, notices, commands).await;
    // The id may have changed (a callback is an interaction of its own).
    s.shared.sessions.lock().remove(&s.id);
    let _ = s.media.close();
    Ok(())
}

fn rand_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x686f746c696e65);
    h.finish() >> 1
}

/// The flow's clock: milliseconds of the monotonic clock since the process started.
fn flow_now(t: tokio::time::Instant) -> hotline_flow::Instant {
    static START: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(tokio::time::Instant::now);
    hotline_flow::Instant::from_millis(t.saturating_duration_since(start).as_millis() as u64)
}

fn flow_deadline(t: hotline_flow::Instant) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    let now_flow = flow_now(now).as_millis();
    now + Duration::from_millis(t.as_millis().saturating_sub(now_flow))
}

async fn sleep_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn next_dial_event(dialing: &mut Option<(Leg, LegId)>) -> Option<LegEvent> {
    match dialing {
        Some((leg, _)) => leg.next_event().await,
        None => std::future::pending().await,
    }
}

async fn next_agent_event(agent: &mut Option<AgentSide>) -> Option<LegEvent> {
    match agent {
        Some(a) => a.leg.next_event().await,
        None => std::future::pending().await,
    }
}

impl Session {
    async fn drive(
        &mut self,
        mut media_events: mpsc::UnboundedReceiver<MediaEvent>,
        mut notices: mpsc::UnboundedReceiver<Notice>,
        mut commands: mpsc::UnboundedReceiver<SessionCmd>,
    ) {
        self.pump_flow().await;
        while !self.ended {
            let flow_deadline = self
                .run
                .as_ref()
                .and_then(|r| r.poll_timeout())
                .map(flow_deadline);
            let ring_deadline = self
                .agent
                .as_ref()
                .filter(|a| !a.answered)
                .map(|a| a.ring_deadline);
            let caller_live = self.caller_live;
            tokio::select! {
                ev = self.caller.next_event(), if caller_live => match ev {
                    Some(ev) => self.on_caller(ev).await,
                    None => self.caller_gone(EndReason::CallerHangup).await,
                },
                ev = media_events.recv() => {
                    if let Some(ev) = ev { self.on_media(ev).await }
                },
                n = notices.recv() => {
                    if let Some(n) = n { self.on_notice(n).await }
                },
                c = commands.recv() => {
                    if let Some(c) = c { self.on_command(c).await }
                },
                ev = next_agent_event(&mut self.agent) => self.on_agent(ev).await,
                ev = next_dial_event(&mut self.dialing) => self.on_dialed(ev).await,
                _ = sleep_opt(self.voicemail_until) => {
                    self.voicemail_until = None;
                    let _ = self.media.stop_recording();
                    self.finish(EndReason::Voicemail).await;
                },
                _ = sleep_opt(flow_deadline) => {
                    if let Some(run) = self.run.as_mut() {
                        run.handle_timeout(flow_now(tokio::time::Instant::now()));
                    }
                    self.pump_flow().await;
                },
                _ = sleep_opt(ring_deadline) => self.agent_no_answer("no answer").await,
            }
        }
    }

    fn feed(&mut self, input: FlowInput) {
        if let Some(run) = self.run.as_mut() {
            run.handle(flow_now(tokio::time::Instant::now()), input);
        }
    }

    /// Hands `kind`, with the notes kept since the last append, to the log as one append, in
    /// order, and goes on: the session never waits for the disk (the log commits in the
    /// background; nothing is shown to anyone before it is committed). Only when the log's
    /// queue is full does this wait for room, so that no event is lost.
    async fn log(&mut self, kind: EventKind) {
        let mut batch = std::mem::take(&mut self.pending);
        batch.push(InteractionEvent::new(self.id, Timestamp::now(), kind).into());
        if let Err(e) = self.shared.store.submit(batch).await {
            warn!(interaction = %self.id, error = %e, "cannot log");
        }
    }

    /// Keeps an event that nothing outside hotline acts on (a flow step, a quality sample)
    /// for the next append, so that a call's IVR steps cost one write, not one each.
    fn note(&mut self, kind: EventKind) {
        self.pending
            .push(InteractionEvent::new(self.id, Timestamp::now(), kind).into());
    }

    async fn on_caller(&mut self, ev: LegEvent) {
        match ev {
            LegEvent::Dtmf(d) => {
                self.feed(FlowInput::Digit(d));
                self.pump_flow().await;
            }
            LegEvent::Hold(true) => {
                self.holds.set(Side::Caller, true);
                self.log(EventKind::Held).await
            }
            LegEvent::Hold(false) => {
                self.holds.set(Side::Caller, false);
                self.log(EventKind::Resumed).await
            }
            LegEvent::MediaChanged(s) => {
                if let Some(c) = s.codecs.first() {
                    let mut p = params_from(&s, *c, self.caller_peer);
                    self.caller_srtp = rekey(self.caller_srtp.as_ref(), &s);
                    p.srtp = self.caller_srtp.clone();
                    let _ = self.media.update_leg(self.caller_media, p);
                }
            }
            LegEvent::Ended(_) => self.caller_gone(EndReason::CallerHangup).await,
            LegEvent::SessionExpired => {
                self.dead_call("session_expired", "the caller's session timer ran out")
                    .await
            }
            LegEvent::Confirmed | LegEvent::Ringing | LegEvent::Answered { .. } => {}
            LegEvent::Refer(target) => debug!(%target, "caller asked for a transfer; ignored"),
        }
    }

    async fn on_media(&mut self, ev: MediaEvent) {
        match ev {
            MediaEvent::Dtmf { leg, digit, .. } if leg == self.caller_media => {
                self.feed(FlowInput::Digit(digit.as_char()));
                self.pump_flow().await;
            }
            MediaEvent::PlaybackFinished { leg, .. } if leg == self.caller_media => {
                if let Some(id) = self.playing.take() {
                    self.feed(FlowInput::PlaybackFinished(id));
                    self.pump_flow().await;
                }
            }
            MediaEvent::Agitation { leg, window } if leg == self.caller_media => {
                self.max_agitation = self.max_agitation.max(window.score);
                if window.crossed {
                    self.log(EventKind::Agitation {
                        score: f64::from(window.score),
                        leg: ModelLeg::Caller,
                    })
                    .await;
                }
            }
            MediaEvent::Quality { leg, report } => {
                let which = if leg == self.caller_media {
                    ModelLeg::Caller
                } else {
                    ModelLeg::Agent
                };
                let sample = EventKind::QualitySample {
                    leg: which,
                    mos: report.mos,
                    loss: report.loss_fraction,
                    jitter_ms: report.jitter_ms,
                };
                // A sample of a leg whose media flows is the call's proof of life: logged at
                // once, so that a call cut off by a crash is closed at its last media time
                // (its talk time kept), not at the time of its last state change.
                if self.silent.contains(&leg) || !self.leg_is_live(leg) {
                    self.note(sample);
                } else {
                    self.log(sample).await;
                }
            }
            MediaEvent::Inactive { leg } => {
                self.silent.insert(leg);
                self.media_inactive(leg).await;
            }
            MediaEvent::Active { leg } => {
                self.silent.remove(&leg);
            }
            _ => {}
        }
    }

    /// The caller's leg, or the leg of an agent who answered.
    fn leg_is_live(&self, leg: LegId) -> bool {
        (leg == self.caller_media && self.caller_live)
            || self
                .agent
                .as_ref()
                .is_some_and(|a| a.answered && a.media == leg)
    }

    /// A leg sent no RTP for the inactivity time: unless its phone put the call on hold (it
    /// may send nothing then), its phone or network is gone. A waiting caller leaves the queue as an
    /// abandon (never to be offered to an agent); a call in progress ends with
    /// `media_timeout`, the agent freed. Either way both phones get a BYE.
    async fn media_inactive(&mut self, leg: LegId) {
        let side = if leg == self.caller_media {
            Side::Caller
        } else {
            Side::Agent
        };
        if self.ended || self.holds.may_be_silent(side) || !self.leg_is_live(leg) {
            return;
        }
        let who = match side {
            Side::Caller => "caller",
            Side::Agent => "agent",
        };
        self.dead_call("media_timeout", &format!("no RTP from the {who}"))
            .await;
    }

    /// The call is dead (`why`: `media_timeout`, `session_expired`): the reason is logged,
    /// the agent freed (or the queue place given up: an abandon), the record closed, and the
    /// phones get a BYE.
    async fn dead_call(&mut self, why: &str, detail: &str) {
        if self.ended {
            return;
        }
        warn!(interaction = %self.id, reason = why, detail, "ending a dead call");
        self.note(EventKind::FlowStep {
            step: why.to_string(),
            detail: Some(detail.to_string()),
        });
        let reason = if why == "session_expired" {
            EndReason::SessionExpired
        } else {
            EndReason::MediaTimeout
        };
        let _ = self.media.stop_playback(self.caller_media);
        // `caller_gone` frees the agent (or the queue place) and closes the record; then the
        // phones are told.
        self.caller_gone(reason).await;
        if self.caller_live {
            let _ = self.caller.hangup().await;
        }
    }

    async fn on_notice(&mut self, n: Notice) {
        match n {
            Notice::Offer { agent, .. } => self.offer_to(agent).await,
            Notice::Rescinded { agent, .. } => {
                if self
                    .agent
                    .as_ref()
                    .is_some_and(|a| a.ext == agent && !a.answered)
                    && let Some(a) = self.agent.take()
                {
                    let _ = a.leg.hangup().await;
                    let _ = self.media.remove_leg(a.media);
                }
            }
            Notice::Position { position, eta_secs } => {
                self.feed(FlowInput::QueueUpdate {
                    position,
                    estimated_wait_secs: eta_secs,
                });
                self.pump_flow().await;
            }
            Notice::MaxWait(action) => {
                debug!(interaction = %self.id, ?action, "maximum wait reached");
                let _ = self.shared.router.send(RouterCmd::Abandon(self.contact));
                self.queued = None;
                match action {
                    hotline_acd::MaxWaitAction::Voicemail
                        if self.caller_live
                            && self.shared.flows.flows.contains_key("voicemail") =>
                    {
                        self.run = None;
                        self.playing = None;
                        let _ = self.media.stop_playback(self.caller_media);
                        self.start_flow("voicemail", EndReason::Timeout).await;
                    }
                    _ => self.finish(EndReason::Timeout).await,
                }
            }
        }
    }

    async fn offer_to(&mut self, ext: String) {
        let now = std::time::Instant::now();
        let bindings = self.shared.registrar.lookup(&ext, now);
        self.log(EventKind::Offered {
            agent: AgentId::new(ext.clone()),
        })
        .await;
        if bindings.is_empty() {
            info!(interaction = %self.id, agent = %ext, "agent offered a call but no phone is registered");
            self.reject_offer(&ext, "not registered").await;
            return;
        }
        let policy = self.shared.calls.srtp.for_agent(&ext);
        let Ring {
            binding: b,
            destination,
            transport,
            srtp,
        } = match choose_phone(bindings, policy) {
            Ok(r) => r,
            Err(why) => {
                info!(agent = %ext, why, "agent not rung");
                self.reject_offer(&ext, why).await;
                return;
            }
        };
        let (local, media, key) = match self.outbound_media(b.source.ip(), srtp).await {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "no media for the agent leg");
                self.reject_offer(&ext, "media").await;
                return;
            }
        };
        match self
            .shared
            .calls
            .dial_via(&b.uri, destination, transport, &self.from, local)
        {
            Ok(leg) => {
                self.agent = Some(AgentSide {
                    ext,
                    peer: b.source.ip(),
                    leg,
                    media,
                    answered: false,
                    ring_deadline: tokio::time::Instant::now() + self.shared.ring_timeout,
                    srtp: (policy, key),
                    keys: None,
                });
                self.holds.set(Side::Agent, false);
            }
            Err(e) => {
                warn!(error = %e, "cannot call the agent");
                let _ = self.media.remove_leg(media);
                self.reject_offer(&ext, "dial failed").await;
            }
        }
    }

    /// Checks a keyed PIN against the customer's argon2 hash on file (on the bounded hashing
    /// pool, off the async threads: argon2 is slow on purpose). No hash on file: refused.
    async fn verify_pin(&self, customer: &str, pin: String) -> bool {
        let id = hotline_model::CustomerId::new(customer.to_string());
        let hash = match self.shared.store.customer(&id).await {
            Ok(Some(c)) => c.pin_hash,
            _ => None,
        };
        let Some(hash) = hash else {
            return false;
        };
        // The process's bounded hashing pool, shared with the API's logins.
        crate::hashpool::HashPool::global()
            .verify_waiting(hash, pin.into_bytes())
            .await
    }

    /// Today's directory of recordings (`recordings/YYYY-MM-DD/`, UTC): one directory a day
    /// keeps directories small and makes retention a matter of removing old days.
    fn recording_dir(&self) -> PathBuf {
        let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let dir = self.shared.recordings.join(day);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            warn!(error = %e, dir = %dir.display(), "cannot create the day's recordings directory");
        }
        dir
    }

    /// A media leg for a call hotline places; its remote end is learnt from the answer.
    /// With `srtp` (`Some(savp)`), the leg is encrypted from its first packet and hotline's
    /// key is offered (tag 1) and returned.
    async fn outbound_media(
        &self,
        peer: IpAddr,
        srtp: Option<bool>,
    ) -> Result<(LocalMedia, LegId, Option<MasterKey>), String> {
        let port = self
            .shared
            .media
            .bind_leg()
            .await
            .map_err(|e| e.to_string())?;
        let key = match srtp {
            Some(_) => Some(MasterKey::random()?),
            None => None,
        };
        let local = LocalMedia {
            address: self.shared.calls.media_address(peer),
            port: port.local_addr().port(),
            session_id: rand_id(),
            version: 1,
            crypto: key.as_ref().map(|k| LocalCrypto {
                tag: 1,
                inline: k.to_inline(),
                savp: srtp == Some(true),
            }),
        };
        let mut p = LegParams::new(None, hotline_media::Codec::Pcmu);
        p.srtp = key.clone().map(|local| SrtpKeys {
            local,
            remote: None,
        });
        let media = self
            .media
            .add_leg(port, p)
            .await
            .map_err(|e| e.to_string())?;
        Ok((local, media, key))
    }

    async fn reject_offer(&mut self, ext: &str, reason: &str) {
        self.log(EventKind::OfferRejected {
            agent: AgentId::new(ext.to_string()),
            reason: reason.to_string(),
        })
        .await;
        let _ = self.shared.router.send(RouterCmd::Reject {
            contact: self.contact,
            agent: ext.to_string(),
            // A phone that declined (486, 603) is the agent's choice; anything else (rang
            // out, unreachable, not registered) counts as a missed offer.
            no_answer: !reason.starts_with("rejected"),
        });
    }

    async fn agent_no_answer(&mut self, reason: &str) {
        if let Some(a) = self.agent.take() {
            info!(interaction = %self.id, agent = %a.ext, %reason, "the agent's phone did not answer");
            let _ = a.leg.hangup().await;
            let _ = self.media.remove_leg(a.media);
            self.reject_offer(&a.ext, reason).await;
        }
    }

    async fn on_agent(&mut self, ev: Option<LegEvent>) {
        let Some(ev) = ev else {
            // The leg is gone without an end event: treat as a failure to reach the agent.
            if self.agent.as_ref().is_some_and(|a| !a.answered) {
                self.agent_no_answer("lost").await;
            }
            return;
        };
        match ev {
            LegEvent::Answered { sdp } => {
                let Some(a) = self.agent.as_mut() else { return };
                a.answered = true;
                let ext = a.ext.clone();
                let agent_media = a.media;
                let peer = a.peer;
                let (policy, key) = a.srtp.clone();
                // The phone's key, if hotline offered one: a leg whose policy it breaks ends.
                let srtp = match &sdp {
                    Some(s) => sdes::judge_answer(policy, key.as_ref().map(|_| 1), s),
                    None if policy == SrtpPolicy::Required => {
                        Err("SRTP required: the answer has no SDP")
                    }
                    None => Ok(None),
                };
                let remote = match srtp {
                    Ok(r) => r,
                    Err(why) => {
                        warn!(agent = %ext, why, "agent's answer refused");
                        self.agent_no_answer(why).await;
                        return;
                    }
                };
                if let Some(s) = sdp
                    && let Some(c) = s.codecs.first()
                {
                    let mut p = params_from(&s, *c, peer);
                    if let (Some(local), Some(r)) = (key.clone(), &remote) {
                        p.srtp = Some(SrtpKeys {
                            local,
                            remote: MasterKey::from_bytes(&r.key),
                        });
                    }
                    if let Some(a) = self.agent.as_mut() {
                        a.keys = p.srtp.clone();
                    }
                    let _ = self.media.update_leg(agent_media, p);
                }
                if key.is_some() && remote.is_none() {
                    // Offered, declined: plain RTP (never with `required`, refused above).
                    let _ = self.media.plain_rtp(agent_media);
                }
                let _ = self.shared.router.send(RouterCmd::Answer {
                    contact: self.contact,
                    agent: ext.clone(),
                });
                self.queued = None;
                self.log(EventKind::Answered {
                    agent: AgentId::new(ext.clone()),
                })
                .await;
                if matches!(self.phase, Phase::Callback) {
                    // The agent is on the line: now call the customer back.
                    self.call_customer().await;
                    return;
                }
                self.connect(agent_media).await;
                self.feed(FlowInput::Answered { agent: ext });
                self.pump_flow().await;
            }
            LegEvent::Ended(reason) => {
                let Some(a) = self.agent.take() else { return };
                let _ = self.media.remove_leg(a.media);
                if !a.answered {
                    let why = match reason {
                        SipEnd::Rejected(code) => format!("rejected {code}"),
                        SipEnd::Timeout => "no answer".into(),
                        other => format!("{other:?}"),
                    };
                    info!(interaction = %self.id, agent = %a.ext, reason = %why, "the agent's phone did not take the call");
                    self.reject_offer(&a.ext, &why).await;
                    return;
                }
                self.agent_left().await;
            }
            LegEvent::Refer(target) => {
                let to = refer_user(&target).and_then(|u| TransferTarget::resolve(&self.shared, u));
                let Some(to) = to else {
                    debug!(%target, "transfer to an unknown target");
                    if let Some(a) = &self.agent {
                        let _ = a.leg.notify_refer(404).await;
                    }
                    return;
                };
                if let Some(a) = &self.agent
                    && let Err(e) = a.leg.notify_refer(200).await
                {
                    debug!(error = %e, "transfer NOTIFY");
                }
                if let Err(e) = self.transfer(to).await {
                    warn!(interaction = %self.id, error = %e, "transfer failed");
                }
            }
            LegEvent::Hold(on) => {
                self.holds.set(Side::Agent, on);
                self.log(if on {
                    EventKind::Held
                } else {
                    EventKind::Resumed
                })
                .await;
                // The agent holds the caller: the caller hears hold music until taken back.
                if self.talking()
                    && let Some(agent_media) = self.agent.as_ref().map(|a| a.media)
                {
                    if on {
                        if let Ok(m) = self.shared.prompts.music("hold") {
                            let _ = self.media.play(self.caller_media, vec![m], true, false);
                        }
                    } else {
                        let _ = self.media.bridge(self.caller_media, agent_media);
                    }
                }
            }
            LegEvent::MediaChanged(s) => {
                if let Some(a) = self.agent.as_mut()
                    && let Some(c) = s.codecs.first()
                {
                    let mut p = params_from(&s, *c, a.peer);
                    a.keys = rekey(a.keys.as_ref(), &s);
                    p.srtp = a.keys.clone();
                    let _ = self.media.update_leg(a.media, p);
                }
            }
            LegEvent::SessionExpired => {
                self.dead_call("session_expired", "the agent's session timer ran out")
                    .await
            }
            LegEvent::Dtmf(_) | LegEvent::Ringing | LegEvent::Confirmed => {}
        }
    }

    /// Bridges the caller with the agent's media and records both.
    async fn connect(&mut self, agent_media: LegId) {
        let _ = self.media.stop_playback(self.caller_media);
        let _ = self.media.bridge(self.caller_media, agent_media);
        let name = match self.recordings {
            0 => format!("{}.wav", self.id),
            n => format!("{}-{n}.wav", self.id),
        };
        self.recordings += 1;
        let path = self.recording_dir().join(name);
        let recording = self
            .media
            .start_recording(path.clone(), self.caller_media, Some(agent_media))
            .await;
        self.phase = Phase::Talking;
        if recording.is_ok() {
            self.log(EventKind::RecordingStarted {
                path: path.display().to_string(),
            })
            .await;
        }
    }

    /// The agent of a callback answered: ring the customer through the carrier.
    async fn call_customer(&mut self) {
        let number = self.from.clone();
        let Some(dest) = self.shared.outbound else {
            warn!(interaction = %self.id, "no trunk to call out through; callback dropped");
            self.callback_failed("no outbound trunk").await;
            return;
        };
        // Through the configured trunk: the number in E.164, the trunk's caller id, and its
        // credentials for the carrier's challenges.
        let (target, options) = match &self.shared.trunk {
            Some(t) => match t.target(&number) {
                Ok(target) => (target, t.dial_options(&self.to)),
                Err(e) => {
                    warn!(interaction = %self.id, error = %e, "cannot call the customer back");
                    self.callback_failed("bad number").await;
                    return;
                }
            },
            None => (
                format!("sip:{number}@{dest}"),
                hotline_sip::calls::DialOptions {
                    from_user: self.to.clone(),
                    ..Default::default()
                },
            ),
        };
        // The trunk's SRTP policy, judged by the transport calls out use (UDP).
        let transport = "udp";
        let policy = match &self.shared.trunk {
            Some(t) => self.shared.calls.srtp.for_trunk(&t.name),
            None => self.shared.calls.srtp.default,
        };
        let srtp = match callback_srtp(policy, transport) {
            Ok(s) => s,
            Err(why) => {
                warn!(interaction = %self.id, why, "the customer is not called back");
                self.callback_failed(why).await;
                return;
            }
        };
        let (local, media, key) = match self.outbound_media(dest.ip(), srtp).await {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "no media for the callback");
                self.callback_failed("media").await;
                return;
            }
        };
        self.log(EventKind::FlowStep {
            step: "callback.dial".to_string(),
            detail: Some(number.clone()),
        })
        .await;
        match self
            .shared
            .calls
            .dial_with(&target, dest, transport, &options, local)
        {
            Ok(leg) => {
                self.caller_peer = dest.ip();
                self.dialing = Some((leg, media));
                self.dial_srtp = (policy, key);
            }
            Err(e) => {
                warn!(error = %e, "cannot call the customer back");
                let _ = self.media.remove_leg(media);
                self.callback_failed("dial failed").await;
            }
        }
    }

    /// The call out to the customer: answered (the callback becomes a talk) or not.
    async fn on_dialed(&mut self, ev: Option<LegEvent>) {
        match ev {
            Some(LegEvent::Answered { sdp }) => {
                let Some((leg, media)) = self.dialing.take() else {
                    return;
                };
                // The carrier's key, if hotline offered one: an answer that breaks the
                // trunk's policy ends the call out.
                let (policy, key) = std::mem::replace(&mut self.dial_srtp, (SrtpPolicy::Off, None));
                let remote = match &sdp {
                    Some(s) => sdes::judge_answer(policy, key.as_ref().map(|_| 1), s),
                    None if key.is_some() && policy == SrtpPolicy::Required => {
                        Err("SRTP required: the answer has no SDP")
                    }
                    None => Ok(None),
                };
                let remote = match remote {
                    Ok(r) => r,
                    Err(why) => {
                        warn!(interaction = %self.id, why, "the customer's answer refused");
                        let _ = leg.hangup().await;
                        let _ = self.media.remove_leg(media);
                        self.callback_failed(why).await;
                        return;
                    }
                };
                let keys = match (key, &remote) {
                    (Some(local), Some(r)) => Some(SrtpKeys {
                        local,
                        remote: MasterKey::from_bytes(&r.key),
                    }),
                    (Some(_), None) => {
                        // Offered, declined: plain RTP (never with `required`, refused above).
                        let _ = self.media.plain_rtp(media);
                        None
                    }
                    (None, _) => None,
                };
                if let Some(s) = sdp
                    && let Some(c) = s.codecs.first()
                {
                    let mut p = params_from(&s, *c, self.caller_peer);
                    p.srtp = keys.clone();
                    let _ = self.media.update_leg(media, p);
                }
                self.caller = leg;
                self.caller_media = media;
                self.caller_srtp = keys;
                self.holds.set(Side::Caller, false);
                self.caller_live = true;
                match self.agent.as_ref().filter(|a| a.answered).map(|a| a.media) {
                    Some(agent_media) => self.connect(agent_media).await,
                    None => self.finish(EndReason::AgentHangup).await,
                }
            }
            Some(LegEvent::Ended(_)) => {
                if let Some((_, media)) = self.dialing.take() {
                    let _ = self.media.remove_leg(media);
                }
                self.callback_failed("the customer did not answer").await;
            }
            None => {
                if let Some((_, media)) = self.dialing.take() {
                    let _ = self.media.remove_leg(media);
                    self.callback_failed("the call out was lost").await;
                }
            }
            Some(_) => {}
        }
    }

    /// The callback could not be made: the agent is released and the record closed.
    async fn callback_failed(&mut self, why: &str) {
        self.log(EventKind::FlowStep {
            step: "callback.failed".to_string(),
            detail: Some(why.to_string()),
        })
        .await;
        self.release_agent(false).await;
        self.finish(EndReason::Timeout).await;
    }

    /// The agent leaves the call (to wrap-up): its leg is hung up and the engine told.
    async fn release_agent(&mut self, abusive: bool) {
        if let Some(a) = self.agent.take() {
            let _ = a.leg.hangup().await;
            let _ = self.media.remove_leg(a.media);
            if a.answered {
                let _ = self.shared.router.send(RouterCmd::End {
                    contact: self.contact,
                    agitation: Some(self.max_agitation),
                    abusive,
                });
            } else {
                let _ = self.shared.router.send(RouterCmd::Reject {
                    contact: self.contact,
                    agent: a.ext,
                    no_answer: false,
                });
            }
        }
        let _ = self.media.stop_recording();
    }

    /// Puts the caller back in line as a new contact: on hold, first in line.
    async fn requeue(
        &mut self,
        queue: String,
        escalate: bool,
        preferred_agent: Option<String>,
    ) -> Result<(), String> {
        if let Ok(m) = self.shared.prompts.music("hold") {
            let _ = self.media.play(self.caller_media, vec![m], true, false);
        }
        self.contact = ContactId(self.shared.next_contact.fetch_add(1, Ordering::Relaxed));
        let (done, result) = oneshot::channel();
        let priority = 100;
        let _ = self.shared.router.send(RouterCmd::Arrive {
            contact: self.contact,
            queue: queue.clone(),
            priority,
            vip: self.vip,
            escalate,
            preferred_agent,
            skills: Vec::new(),
            notify: self.notices_tx.clone(),
            done,
        });
        match result.await {
            Ok(Ok(())) => {
                self.phase = Phase::Flow;
                self.queued = Some((queue.clone(), tokio::time::Instant::now()));
                self.last_queue = Some(queue.clone());
                self.log(EventKind::Queued {
                    queue: QueueName::new(queue),
                    priority,
                })
                .await;
                Ok(())
            }
            other => {
                self.finish(EndReason::Error).await;
                Err(format!("cannot requeue: {other:?}"))
            }
        }
    }

    fn talking(&self) -> bool {
        self.agent.as_ref().is_some_and(|a| a.answered) && matches!(self.phase, Phase::Talking)
    }

    /// Blind transfer: the agent leaves; the caller waits on hold for the target.
    async fn transfer(&mut self, to: TransferTarget) -> Result<(), String> {
        if !self.talking() {
            return Err("nobody is talking to the caller".into());
        }
        let (queue, preferred, target) = match &to {
            TransferTarget::Queue(q) => (
                q.clone(),
                None,
                hotline_model::Target::Queue(QueueName::new(q.clone())),
            ),
            TransferTarget::Agent(ext) => (
                self.last_queue
                    .clone()
                    .unwrap_or_else(|| "general".to_string()),
                Some(ext.clone()),
                hotline_model::Target::Agent(AgentId::new(ext.clone())),
            ),
        };
        self.release_agent(false).await;
        self.log(EventKind::Transferred { to: target }).await;
        self.requeue(queue, false, preferred).await
    }

    /// Starts another flow for the caller (survey, voicemail, the abusive-caller message).
    async fn start_flow(&mut self, flow: &str, fallback: EndReason) {
        let mut ctx = CallContext::new(&self.from, &self.to, chrono::Utc::now());
        ctx.language = Some(self.lang.code().to_string());
        match FlowRun::new(
            self.shared.flows.clone(),
            flow,
            ctx,
            flow_now(tokio::time::Instant::now()),
        ) {
            Ok(run) => {
                self.run = Some(run);
                self.pump_flow().await;
            }
            Err(_) => self.finish(fallback).await,
        }
    }

    /// The agent's part is over (the agent hung up, by phone or through the API): the caller
    /// goes on to the after-call flow (the survey), or is released.
    async fn agent_left(&mut self) {
        let _ = self.shared.router.send(RouterCmd::End {
            contact: self.contact,
            agitation: Some(self.max_agitation),
            abusive: false,
        });
        let _ = self.media.stop_recording();
        match self.after_call.take() {
            Some(flow) if self.caller_live => {
                self.phase = Phase::AfterCall;
                self.start_flow(&flow, EndReason::AgentHangup).await;
            }
            _ => self.finish(EndReason::AgentHangup).await,
        }
    }

    /// A command from the API about this call.
    async fn on_command(&mut self, cmd: SessionCmd) {
        match cmd {
            SessionCmd::Hangup { reply } => {
                let talking = self.agent.as_ref().is_some_and(|a| a.answered);
                if talking && let Some(a) = self.agent.take() {
                    let _ = a.leg.hangup().await;
                    let _ = self.media.remove_leg(a.media);
                    self.agent_left().await;
                } else {
                    self.finish(EndReason::AgentHangup).await;
                }
                let _ = reply.send(Ok(()));
            }
            SessionCmd::Escalate { reason, reply } => {
                let Some(queue) = self.last_queue.clone() else {
                    let _ = reply.send(Err("the call was never queued".into()));
                    return;
                };
                if !self.talking() {
                    let _ = reply.send(Err("nobody is talking to the caller".into()));
                    return;
                }
                // The agent leaves (to wrap-up); the caller waits on hold for a senior.
                self.release_agent(false).await;
                self.log(EventKind::Escalated {
                    to: hotline_model::Target::Queue(QueueName::new(queue.clone())),
                    reason,
                })
                .await;
                let _ = reply.send(self.requeue(queue, true, None).await);
            }
            SessionCmd::Transfer { to, reply } => {
                let _ = reply.send(self.transfer(to).await);
            }
            SessionCmd::Shutdown { reply } => {
                self.finish(EndReason::Shutdown).await;
                let _ = reply.send(Ok(()));
            }
            SessionCmd::Abusive { reply } => {
                let Some(ext) = self
                    .agent
                    .as_ref()
                    .filter(|_| self.talking())
                    .map(|a| a.ext.clone())
                else {
                    let _ = reply.send(Err("nobody is talking to the caller".into()));
                    return;
                };
                self.log(EventKind::Flagged {
                    by: AgentId::new(ext),
                    flag: hotline_model::Flag::Abusive,
                })
                .await;
                self.release_agent(true).await;
                let _ = reply.send(Ok(()));
                // The caller hears the polite closing message; no survey.
                self.after_call = None;
                self.phase = Phase::AfterCall;
                self.start_flow("abusive_end", EndReason::AgentHangup).await;
            }
        }
    }

    /// The caller is gone (hung up or cancelled).
    async fn caller_gone(&mut self, reason: EndReason) {
        if self.ended {
            return;
        }
        self.feed(FlowInput::CallerHangup);
        let mut reason = reason;
        if let Some((_, since)) = self.queued.take() {
            let _ = self.shared.router.send(RouterCmd::Abandon(self.contact));
            self.log(EventKind::Abandoned {
                wait_secs: since.elapsed().as_secs_f64(),
            })
            .await;
            reason = EndReason::Abandoned;
        }
        if matches!(self.phase, Phase::Voicemail) {
            reason = EndReason::Voicemail;
        }
        self.ended = true;
        // Handed to the log before the agent's phone is told.
        self.log(EventKind::Ended { reason }).await;
        if let Some(a) = self.agent.take() {
            let _ = a.leg.hangup().await;
            if a.answered {
                let _ = self.shared.router.send(RouterCmd::End {
                    contact: self.contact,
                    agitation: Some(self.max_agitation),
                    abusive: false,
                });
            } else {
                let _ = self.shared.router.send(RouterCmd::Reject {
                    contact: self.contact,
                    agent: a.ext,
                    no_answer: false,
                });
            }
        }
        let _ = self.media.stop_recording();
    }

    /// hotline ends the call.
    async fn finish(&mut self, reason: EndReason) {
        if self.ended {
            return;
        }
        self.ended = true;
        // Handed to the log before anyone is told: the log has the end of the call in order.
        self.log(EventKind::Ended { reason }).await;
        if let Some(a) = self.agent.take() {
            let _ = a.leg.hangup().await;
        }
        if let Some((leg, _)) = self.dialing.take() {
            let _ = leg.hangup().await;
        }
        let _ = self.media.stop_recording();
        if self.caller_live {
            let _ = self.caller.hangup().await;
        }
    }

    /// The caller booked a callback and is released. The inbound call's record closes with
    /// the reason `callback`; the callback is an interaction of its own that keeps the
    /// caller's place in line (the engine's contact stays where it was).
    async fn book_callback(&mut self) {
        let Some(number) = self.callback_number.take() else {
            return;
        };
        self.log(EventKind::Ended {
            reason: EndReason::Callback,
        })
        .await;
        self.caller_live = false;
        let _ = self.media.stop_playback(self.caller_media);
        let _ = self.caller.hangup().await;
        let _ = self.media.remove_leg(self.caller_media);
        let old = self.id;
        self.id = InteractionId::new();
        {
            let mut sessions = self.shared.sessions.lock();
            if let Some(tx) = sessions.remove(&old) {
                sessions.insert(self.id, tx);
            }
        }
        self.log(EventKind::Arrived {
            channel: Channel::Callback,
            from: number.clone(),
            to: self.to.clone(),
            trunk: None,
        })
        .await;
        if let Some(c) = self.customer.clone() {
            self.log(EventKind::CustomerIdentified { customer: c })
                .await;
        }
        if let Some(q) = self.last_queue.clone() {
            self.log(EventKind::Queued {
                queue: QueueName::new(q),
                priority: 0,
            })
            .await;
        }
        self.from = number;
        self.after_call = None;
        self.phase = Phase::Callback;
    }

    fn resolve(&self, items: &[PromptItem]) -> Vec<Prompt> {
        let lib = &self.shared.prompts;
        let mut names: Vec<String> = Vec::new();
        for item in items {
            match item {
                // The flows' names for the media library's recordings.
                PromptItem::Prompt(n) => names.push(match n.as_str() {
                    "estimated_wait" => "wait_about".to_string(),
                    "fault_notice" => "fault".to_string(),
                    other => other.to_string(),
                }),
                PromptItem::Number(n) => {
                    names.extend(number_names(self.lang, (*n).clamp(0, 999_999) as u32))
                }
                PromptItem::Digits(d) => {
                    for c in d.chars().filter_map(|c| c.to_digit(10)) {
                        names.extend(number_names(self.lang, c));
                    }
                }
                PromptItem::DurationSecs(s) => names.extend(
                    estimated_wait_names(self.lang, (*s).min(86_400) as u32)
                        .into_iter()
                        .skip(1),
                ),
            }
        }
        names
            .iter()
            .filter_map(|n| match lib.get(self.lang, n) {
                Ok(p) => Some(p),
                Err(e) => {
                    warn!(prompt = %n, error = %e, "prompt missing; skipped");
                    None
                }
            })
            .collect()
    }

    /// Carries out every action the flow has queued.
    async fn pump_flow(&mut self) {
        loop {
            let Some(action) = self.run.as_mut().and_then(|r| r.poll_action()) else {
                return;
            };
            match action {
                FlowAction::StepEntered { flow, step } => {
                    self.note(EventKind::FlowStep {
                        step: format!("{flow}.{step}"),
                        detail: None,
                    });
                }
                FlowAction::Play {
                    id,
                    prompts,
                    language,
                    barge_in,
                } => {
                    self.lang = if language == "en" { Lang::En } else { Lang::Zh };
                    let resolved = self.resolve(&prompts);
                    if resolved.is_empty() {
                        self.feed(FlowInput::PlaybackFinished(id));
                        continue;
                    }
                    self.playing = Some(id);
                    let _ = self
                        .media
                        .play(self.caller_media, resolved, false, barge_in);
                }
                FlowAction::StopPlayback => {
                    self.playing = None;
                    let _ = self.media.stop_playback(self.caller_media);
                }
                FlowAction::StartHoldMusic => {
                    self.playing = None;
                    if let Ok(m) = self.shared.prompts.music("hold") {
                        let _ = self.media.play(self.caller_media, vec![m], true, false);
                    }
                }
                FlowAction::Lookup { by } => {
                    let number = match &by {
                        hotline_flow::LookupBy::CallerNumber(n) => n.clone(),
                        hotline_flow::LookupBy::Account(a) => a.clone(),
                    };
                    let found = self
                        .shared
                        .store
                        .customer_by_phone(&number)
                        .await
                        .ok()
                        .flatten();
                    let customer = match found {
                        Some(c) => {
                            self.vip = c.vip;
                            self.customer = Some(c.id.clone());
                            self.log(EventKind::CustomerIdentified {
                                customer: c.id.clone(),
                            })
                            .await;
                            let since = Timestamp::from_unix_nanos(
                                Timestamp::now().unix_nanos() - 30 * 86_400 * 1_000_000_000,
                            );
                            let repeat = self
                                .shared
                                .store
                                .repeat_complaints(&c.id, since)
                                .await
                                .unwrap_or(0)
                                >= 2;
                            Some(hotline_flow::Customer {
                                id: c.id.to_string(),
                                name: c.name,
                                vip: c.vip,
                                language: c.language,
                                repeat_complaint: repeat,
                                accounts: c.accounts,
                                phones: c.phones,
                            })
                        }
                        None => None,
                    };
                    self.feed(FlowInput::LookupResult(customer));
                }
                FlowAction::VerifyPin { customer, pin, .. } => {
                    let ok = self.verify_pin(&customer, pin.0).await;
                    self.note(EventKind::FlowStep {
                        step: "authenticate".to_string(),
                        detail: Some(if ok { "pin accepted" } else { "pin refused" }.to_string()),
                    });
                    self.feed(FlowInput::AuthResult(ok));
                }
                FlowAction::Enqueue {
                    queue,
                    priority,
                    preferred_skills,
                    ..
                } => {
                    // A flow that prefers a senior (a repeat complainer, an agitated caller)
                    // escalates: the engine offers the call to agents with the senior skill.
                    let escalate = preferred_skills.iter().any(|s| s == "senior");
                    let (done, result) = oneshot::channel();
                    let _ = self.shared.router.send(RouterCmd::Arrive {
                        contact: self.contact,
                        queue: queue.clone(),
                        priority,
                        vip: self.vip,
                        escalate,
                        preferred_agent: None,
                        skills: Vec::new(),
                        notify: self.notices_tx.clone(),
                        done,
                    });
                    match result.await {
                        Ok(Ok(())) => {
                            self.queued = Some((queue.clone(), tokio::time::Instant::now()));
                            self.last_queue = Some(queue.clone());
                            self.log(EventKind::Queued {
                                queue: QueueName::new(queue),
                                priority,
                            })
                            .await;
                        }
                        other => {
                            warn!(?other, %queue, "cannot queue the call");
                            self.finish(EndReason::Error).await;
                            return;
                        }
                    }
                }
                FlowAction::Dequeue { .. } => {
                    if self.queued.take().is_some() {
                        let _ = self.shared.router.send(RouterCmd::Abandon(self.contact));
                    }
                }
                FlowAction::OfferCallback { queue: _, number } => {
                    if self.queued.is_some() && self.shared.outbound.is_some() {
                        self.log(EventKind::CallbackRequested {
                            number: number.clone(),
                            keeps_place: true,
                        })
                        .await;
                        let _ = self.shared.router.send(RouterCmd::Callback(self.contact));
                        self.callback_number = Some(number);
                        self.feed(FlowInput::CallbackAccepted);
                    } else {
                        // Nothing to call out through: the caller stays in line.
                        self.feed(FlowInput::CallbackDeclined);
                    }
                }
                FlowAction::Voicemail { queue } => {
                    let path = self
                        .recording_dir()
                        .join(format!("{}-voicemail-{queue}.wav", self.id));
                    match self
                        .media
                        .start_recording(path.clone(), self.caller_media, None)
                        .await
                    {
                        Ok(_) => {
                            self.phase = Phase::Voicemail;
                            self.voicemail_until =
                                Some(tokio::time::Instant::now() + VOICEMAIL_MAX);
                            self.log(EventKind::VoicemailLeft {
                                path: path.display().to_string(),
                            })
                            .await;
                        }
                        Err(e) => {
                            warn!(error = %e, "cannot record a voicemail");
                            self.finish(EndReason::Error).await;
                            return;
                        }
                    }
                }
                FlowAction::Survey { score } => {
                    self.log(EventKind::Surveyed { score }).await;
                }
                FlowAction::Hangup {
                    reason: hotline_flow::HangupReason::Callback,
                } if self.callback_number.is_some() => {
                    self.book_callback().await;
                }
                FlowAction::Hangup { .. } => {
                    let reason = match self.phase {
                        Phase::AfterCall => EndReason::AgentHangup,
                        _ => EndReason::Rejected,
                    };
                    self.finish(reason).await;
                    return;
                }
                FlowAction::Transfer { to } => {
                    debug!(%to, "transfers from a flow are not wired yet");
                }
                FlowAction::Log { message } => {
                    self.log(EventKind::FlowStep {
                        step: "note".to_string(),
                        detail: Some(message),
                    })
                    .await;
                }
                FlowAction::SetPriority(_)
                | FlowAction::SetSkill { .. }
                | FlowAction::SetVariable { .. } => {}
                FlowAction::SetLanguage(l) => {
                    self.lang = if l == "en" { Lang::En } else { Lang::Zh };
                }
                FlowAction::Finished { outcome } => {
                    self.run = None;
                    match outcome {
                        Outcome::Connected { after_call, .. } => self.after_call = after_call,
                        _ => {
                            if matches!(self.phase, Phase::AfterCall) {
                                self.finish(EndReason::AgentHangup).await;
                            }
                        }
                    }
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(uri: &str, source: &str, transport: &'static str, age: u32) -> Binding {
        Binding {
            uri: uri.to_string(),
            expires_at: std::time::Instant::now() + Duration::from_secs(3600),
            call_id: format!("reg-{age}"),
            cseq: 1,
            source: source.parse().unwrap(),
            transport,
            instance: None,
            reg_id: None,
        }
    }

    #[test]
    fn an_agent_with_srtp_required_is_rung_on_its_newest_tls_phone() {
        let udp_old = binding("sip:1001@10.0.0.5:5060", "10.0.0.5:5060", "udp", 1);
        let tls = binding(
            "sip:1001@10.0.0.6:5061;transport=tls",
            "10.0.0.6:40000",
            "tls",
            2,
        );
        let udp_new = binding("sip:1001@10.0.0.7:5060", "10.0.0.7:5060", "udp", 3);
        let all = vec![udp_old.clone(), tls.clone(), udp_new.clone()];
        // Required: the TLS phone, although a plain phone registered after it.
        let r = choose_phone(all.clone(), SrtpPolicy::Required).unwrap();
        assert_eq!(r.binding, tls);
        assert_eq!(r.transport, "tls");
        assert_eq!(r.destination, "10.0.0.6:40000".parse().unwrap());
        assert_eq!(r.srtp, Some(true));
        // The TLS phone registered last or first: the same.
        let r = choose_phone(vec![tls.clone(), udp_new.clone()], SrtpPolicy::Required).unwrap();
        assert_eq!(r.binding, tls);
        // Offered and off: the newest phone, whatever its transport, plain over UDP.
        let r = choose_phone(all.clone(), SrtpPolicy::Offered).unwrap();
        assert_eq!((r.binding, r.srtp), (udp_new.clone(), None));
        let r = choose_phone(vec![udp_new, tls.clone()], SrtpPolicy::Offered).unwrap();
        assert_eq!((r.binding, r.srtp), (tls.clone(), Some(false)));
        let r = choose_phone(vec![tls], SrtpPolicy::Off).unwrap();
        assert_eq!(r.srtp, None);
        // No TLS phone: not rung, with the reason; nobody registered: said so.
        let e = choose_phone(vec![udp_old], SrtpPolicy::Required).unwrap_err();
        assert!(e.contains("not TLS"), "{e}");
        assert_eq!(
            choose_phone(Vec::new(), SrtpPolicy::Offered).unwrap_err(),
            "not registered"
        );
    }

    #[test]
    fn srtp_is_decided_by_the_transport_the_invite_really_uses() {
        // Registered over TLS, but its Contact is another public address over UDP: the
        // INVITE goes there over UDP, so no key is offered in clear, and `required` cannot
        // be met on that phone.
        let third_party = binding("sip:1001@198.51.100.9:5060", "203.0.113.4:40000", "tls", 1);
        let r = choose_phone(vec![third_party.clone()], SrtpPolicy::Offered).unwrap();
        assert_eq!(r.destination, "198.51.100.9:5060".parse().unwrap());
        assert_eq!(r.transport, "udp");
        assert_eq!(r.srtp, None);
        assert!(choose_phone(vec![third_party.clone()], SrtpPolicy::Required).is_err());
        // A TLS phone behind a NAT is reached over its TLS connection: keyed.
        let natted = binding(
            "sip:1001@192.168.1.20:5061;transport=tls",
            "203.0.113.4:40001",
            "tls",
            2,
        );
        let r = choose_phone(vec![natted.clone(), third_party], SrtpPolicy::Required).unwrap();
        assert_eq!(r.binding, natted);
        assert_eq!(
            (r.destination, r.transport, r.srtp),
            ("203.0.113.4:40001".parse().unwrap(), "tls", Some(true))
        );
    }

    #[test]
    fn a_callback_follows_the_trunks_srtp_policy() {
        let e = callback_srtp(SrtpPolicy::Required, "udp").unwrap_err();
        assert!(e.contains("SRTP required by the trunk"), "{e}");
        assert_eq!(callback_srtp(SrtpPolicy::Offered, "udp"), Ok(None));
        assert_eq!(callback_srtp(SrtpPolicy::Off, "udp"), Ok(None));
        assert_eq!(callback_srtp(SrtpPolicy::Offered, "tls"), Ok(Some(false)));
        assert_eq!(callback_srtp(SrtpPolicy::Required, "tls"), Ok(Some(true)));
        assert_eq!(callback_srtp(SrtpPolicy::Off, "tls"), Ok(None));
    }

    #[test]
    fn each_phone_holding_is_spared_the_inactivity_check_until_it_resumes() {
        let mut h = Holds::default();
        assert!(!h.may_be_silent(Side::Caller) && !h.may_be_silent(Side::Agent));
        // The caller holds, the agent holds, the caller resumes: the agent's phone is still
        // on hold and may stay silent; the caller's must send again.
        h.set(Side::Caller, true);
        assert!(h.may_be_silent(Side::Caller));
        assert!(
            !h.may_be_silent(Side::Agent),
            "the agent's phone still sends"
        );
        h.set(Side::Agent, true);
        h.set(Side::Caller, false);
        assert!(h.may_be_silent(Side::Agent));
        assert!(!h.may_be_silent(Side::Caller));
        h.set(Side::Agent, false);
        assert_eq!(h, Holds::default());
    }

    fn reoffer(crypto: &str) -> sdp::Session {
        sdp::parse(&format!(
            "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 4000 RTP/SAVP 0\r\na=sendonly\r\n{crypto}"
        ))
        .unwrap()
    }

    #[test]
    fn a_re_invite_keeps_the_legs_keys_and_takes_a_new_remote_key() {
        let local = MasterKey::random().unwrap();
        let old = MasterKey::random().unwrap();
        let keys = SrtpKeys {
            local: local.clone(),
            remote: Some(old.clone()),
        };
        // Hold without a key line: the keys stay as they were.
        assert_eq!(rekey(Some(&keys), &reoffer("")), Some(keys.clone()));
        // The phone re-keys (tag 2 this time): hotline's key stays, the phone's is new.
        let new = MasterKey::random().unwrap();
        let line = format!(
            "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{}\r\n",
            new.to_inline()
        );
        let k = rekey(Some(&keys), &reoffer(&line)).unwrap();
        assert_eq!(k.local, local);
        assert_eq!(k.remote, Some(new));
        assert_ne!(k.remote, Some(old));
        // A plain leg stays plain.
        assert_eq!(rekey(None, &reoffer(&line)), None);
    }

    #[test]
    fn refer_to_values_give_their_user_part() {
        assert_eq!(refer_user("<sip:1002@10.0.0.1:5060>"), Some("1002"));
        assert_eq!(refer_user("sip:cards@hotline;transport=udp"), Some("cards"));
        assert_eq!(refer_user("<sips:1009@h?Replaces=x>"), Some("1009"));
        assert_eq!(refer_user("<tel:1003>"), Some("1003"));
        assert_eq!(refer_user("<sip:@host>"), None);
        assert_eq!(refer_user("mailto:x@y"), None);
    }
}
