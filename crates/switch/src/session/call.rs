//! The call session's core: one call's state machine, sans IO.
//!
//! Inputs (what the caller's and agents' phones did, what the media engine heard, what the
//! router decided, what the API asked, the answers to its own requests) go in with the time
//! they happened; commands come out (log this, ring that agent, bridge, record, tell the
//! router, hang up). No sockets, clocks or tasks inside: the shell ([`super::shell`]) turns
//! SIP, media and channels into [`Input`]s and carries out each [`Command`]; the tests drive
//! it in virtual time.
//!
//! What the core owns, and nobody else: the call's phase, its contact flow, its place in
//! line, the agent legs being rung (several at once for a ring-all queue), who is holding,
//! which legs went silent, and the call's end. What it does not own: the ring timeout (the
//! routing engine's, per queue: an offer that rings out comes back as
//! [`Notice::Rescinded`] with `rang_out`), SDP and SRTP (the shell's), file names (the
//! shell's).

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hotline_flow::{
    CallContext, FlowAction, FlowInput, FlowRun, FlowSet, Instant, Outcome, PlayId, PromptItem,
};
use hotline_model::{
    AgentId, EndReason, EventKind, Leg as ModelLeg, MonitorMode, QueueName, Target,
};

use super::TransferTarget;
use crate::quality::{AlertChange, AlertState, LOGGED_SAMPLE_EVERY_MS, LegSample};
use crate::router::{Notice, Refusal};

/// Longest voicemail message, in milliseconds.
const VOICEMAIL_MAX_MS: u64 = 120_000;

/// Most flows one call may be handed between by `transfer` steps: numbers that transfer to
/// each other end the call instead of looping.
const MAX_FLOW_TRANSFERS: u32 = 8;
/// How long a far end's own figures of a leg (a browser reports every 5 s) wait for the
/// engine's next sample of it; each report is used once.
const REPORT_FRESH_MS: u64 = 8_000;

/// An agent leg of this call: each offer gets its own number.
pub type Ring = u32;

/// One of the call's media legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegRef {
    /// The caller (after a callback is answered: the customer called back).
    Caller,
    /// An agent's phone.
    Agent(Ring),
    /// A call hotline places: the customer of a callback while it rings, or the outside
    /// party of a flow's transfer.
    Dial,
    /// A supervisor's phone monitoring the call (after a takeover: the caller's party).
    Monitor,
}

/// The phone a supervisor monitors a call on, rung by the centre as an agent's phone is (a
/// browser phone registered for the extension first, else its SIP phone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupervisorPhone {
    /// A SIP phone registered under this extension, rung as an agent's phone is.
    Sip { extension: String },
    /// The browser phone open in the supervisor's own page (the wallboard), registered
    /// under `browser::user_phone(user)`.
    Browser { user: String },
}

impl SupervisorPhone {
    /// How the phone is named in the log and the API (`phone` of `monitor_started`).
    pub fn name(&self) -> String {
        match self {
            SupervisorPhone::Sip { extension } => extension.clone(),
            // Not an extension (those never hold a `:`).
            SupervisorPhone::Browser { user } => crate::browser::user_phone(user),
        }
    }
}

/// Where a flow's `transfer` step (or a number) leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// An agent: offered the call first, then anyone of `queue`.
    Agent { extension: String, queue: String },
    /// A queue of this centre.
    Queue(String),
    /// Another service number's flow.
    Flow(String),
    /// A number outside the centre, dialled through the trunk.
    External(String),
}

/// Resolves a transfer target's text (an extension, a queue, a service number, an outside
/// number) for the core.
pub type Resolver = Arc<dyn Fn(&str) -> Option<Destination> + Send + Sync>;

/// A customer found by a lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub id: hotline_model::CustomerId,
    pub vip: bool,
    pub flow: hotline_flow::Customer,
}

/// What the API asks of a call in progress (see [`super::SessionCmd`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Hangup,
    Escalate {
        reason: String,
    },
    Transfer(TransferTarget),
    Abusive,
    Shutdown,
    /// Pause (`true`) or resume the conversation's recording (card data read out): silence
    /// is recorded meanwhile, so the file keeps the call's timeline.
    PauseRecording(bool),
    /// A supervisor starts monitoring the connected call on `phone` in `mode`. Answered
    /// once the phone is rung (or could not be).
    Monitor {
        supervisor: String,
        phone: SupervisorPhone,
        mode: MonitorMode,
    },
    /// The monitoring supervisor switches mode.
    MonitorMode {
        supervisor: String,
        mode: MonitorMode,
    },
    /// The monitoring supervisor stops: the phone is hung up.
    MonitorStop {
        supervisor: String,
    },
    /// The monitoring supervisor takes the call over from the agent.
    TakeOver {
        supervisor: String,
    },
}

/// Something that happened to the call.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A key from the caller (RFC 4733, in-band or SIP INFO).
    CallerDigit(char),
    /// The caller's phone put the call on hold or took it back.
    CallerHold(bool),
    /// The caller hung up (BYE, CANCEL) or its leg is gone.
    CallerGone,
    /// The caller's session timer ran out.
    CallerExpired,
    /// An agent's leg ended: before answering, the phone could not be rung, declined or did
    /// not answer (`refusal` says which); after, the agent left.
    AgentFailed {
        ring: Ring,
        reason: String,
        refusal: Refusal,
    },
    /// An agent's phone answered (its answer accepted: SDP, SRTP).
    AgentAnswered {
        ring: Ring,
    },
    /// An agent who answered hung up, or its leg is gone.
    AgentGone {
        ring: Ring,
    },
    AgentHold {
        ring: Ring,
        on: bool,
    },
    /// The agent pressed a key on its phone's keypad (a browser phone, or SIP INFO).
    AgentDigit {
        ring: Ring,
        digit: char,
    },
    AgentExpired {
        ring: Ring,
    },
    /// The agent's phone asked for a blind transfer (REFER) to `target` (`None`: unknown).
    AgentRefer {
        ring: Ring,
        target: Option<TransferTarget>,
    },
    /// The call asked for ([`Command::Dial`]) is placed and rings.
    DialPlaced {
        number: String,
    },
    /// The call hotline placed ([`Command::Dial`]) answered.
    DialAnswered,
    /// It could not be placed, was not answered, or its answer was refused.
    DialFailed {
        reason: String,
    },
    /// The outside party of a transfer hung up.
    DialGone,
    /// What the caller was played ended (played out or cut by a key).
    PlaybackFinished,
    /// A voice-analysis window of the caller's audio.
    Agitation {
        score: f32,
        crossed: bool,
    },
    /// A leg's media quality, from the media engine.
    Quality {
        leg: LegRef,
        sample: LegSample,
    },
    /// A leg's quality measured elsewhere (a browser's WebRTC leg), named by its side: the
    /// caller, the agent who answered, or the outside party. See [`Input::LegReport`].
    ReportedQuality {
        leg: ModelLeg,
        sample: LegSample,
    },
    /// A leg's quality as its far end measures what it receives (a browser's own
    /// `getStats()`). It is folded into the media engine's next sample of the leg, the worse
    /// of the two directions, rather than shown on its own: one sample a leg each interval,
    /// so that an alert still takes two intervals.
    LegReport {
        leg: LegRef,
        sample: LegSample,
    },
    /// A leg sent no RTP for the inactivity time.
    Silent {
        leg: LegRef,
    },
    /// It sends again.
    Active {
        leg: LegRef,
    },
    /// The recording asked for ([`Command::Record`]) runs, into `path`.
    RecordingStarted {
        path: String,
    },
    /// A recording could not be started, or stopped being written.
    RecordingFailed {
        path: String,
        error: String,
    },
    /// From the router.
    Notice(Notice),
    /// The router's answer to [`Command::Arrive`].
    Queued(Result<(), String>),
    /// The router's answer to [`Command::Answer`] for leg `ring`: refused when the offer was
    /// gone by then (it rang out, or was withdrawn, as the phone answered).
    AnswerTaken {
        ring: Ring,
        result: Result<(), String>,
    },
    /// The media engine's events stopped: the call cannot go on.
    MediaLost,
    /// The outside party of a transfer out put the call on hold or took it back.
    DialHold(bool),
    /// The outside party's session timer ran out.
    DialExpired,
    /// The answer to [`Command::Lookup`].
    LookedUp(Option<Found>),
    /// The answer to [`Command::VerifyPin`].
    PinChecked(bool),
    /// A request from the API, to be answered by [`Command::Reply`] with the same `id`.
    Api {
        id: u64,
        request: Request,
    },
    /// The answer to [`Command::RingMonitor`]: the supervisor's phone rings, or why not.
    MonitorRung(Result<(), String>),
    /// The supervisor's phone answered.
    MonitorAnswered,
    /// The supervisor's leg ended (not answered, declined, hung up, lost).
    MonitorGone,
}

/// What the recording is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recording {
    /// The conversation (both sides).
    Call,
    /// A message left for `queue`.
    Voicemail { queue: String },
}

/// What the core asks its shell to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Keep an event for the next [`Command::Log`] (flow steps, samples nobody acts on).
    Note(EventKind),
    /// Hand an event (with the notes kept) to the log, without waiting for the disk.
    Log(EventKind),
    /// The caller asked never to be called again: the number joins the do-not-call list.
    DoNotCall {
        number: String,
    },
    /// The caller's record is closed (a callback booked): the events that follow belong to
    /// a new interaction.
    NewInteraction,
    /// Put the contact in line (a new contact each time). Answer: [`Input::Queued`].
    Arrive {
        queue: String,
        priority: i32,
        vip: bool,
        escalate: bool,
        preferred_agent: Option<String>,
        skills: Vec<(String, u8)>,
    },
    /// The contact leaves the line.
    Abandon,
    /// Tell the router that an agent's phone did not take the offer.
    Reject {
        agent: String,
        refusal: Refusal,
    },
    /// Tell the router the agent of leg `ring` answered. Answer: [`Input::AnswerTaken`].
    Answer {
        ring: Ring,
        agent: String,
    },
    /// Tell the router the agent's part of the contact is over (to wrap-up).
    End {
        agitation: f32,
        abusive: bool,
    },
    /// The waiting contact becomes a callback that keeps its place.
    KeepPlace,
    /// Ring `agent`'s phone as leg `ring`, showing `caller_id`. On failure:
    /// [`Input::AgentFailed`].
    RingAgent {
        ring: Ring,
        agent: String,
        caller_id: String,
    },
    /// Hang up (CANCEL or BYE) agent leg `ring` and drop its media.
    HangupAgent {
        ring: Ring,
    },
    /// Answer the agent's REFER with a NOTIFY of this status.
    NotifyRefer {
        ring: Ring,
        status: u16,
    },
    /// Hang the caller up (BYE).
    HangupCaller,
    /// Drop the caller's media (its leg is over: a callback was booked).
    DropCallerMedia,
    /// Call `number` out through the trunk. For a callback, the answered leg becomes the
    /// caller's. Answer: [`Input::DialAnswered`] or [`Input::DialFailed`].
    Dial {
        number: String,
        callback: bool,
        /// The centre's number the call comes from (the one the caller dialled).
        caller_id: String,
    },
    HangupDial,
    /// Play prompts to the caller (answer: [`Input::PlaybackFinished`]).
    Play {
        prompts: Vec<PromptItem>,
        language: String,
        barge_in: bool,
    },
    /// Loop hold music to the caller.
    HoldMusic,
    /// Send a key press (RFC 4733) to `leg`.
    SendDigit {
        leg: LegRef,
        digit: char,
    },
    StopPlayback,
    /// Bridge the caller with another leg.
    Bridge(LegRef),
    /// Record the caller (and `with`). Answer: [`Input::RecordingStarted`] or
    /// [`Input::RecordingFailed`].
    Record {
        what: Recording,
        with: Option<LegRef>,
    },
    StopRecording,
    /// Pause (silence recorded, `true`) or resume the running recording.
    PauseRecording(bool),
    Lookup(hotline_flow::LookupBy),
    VerifyPin {
        customer: String,
        pin: String,
    },
    /// Answer the API's request `id`.
    Reply {
        id: u64,
        result: Result<(), String>,
    },
    /// Ring the supervisor's phone for monitoring, showing `caller_id`. Answer:
    /// [`Input::MonitorRung`]; then [`Input::MonitorAnswered`] or [`Input::MonitorGone`].
    RingMonitor {
        supervisor: String,
        phone: SupervisorPhone,
        caller_id: String,
    },
    /// Mix the caller, `agent` and the supervisor's leg as `mode` says.
    Mix {
        agent: LegRef,
        mode: MonitorMode,
    },
    /// Hang the supervisor's phone up and drop its media.
    HangupMonitor,
    /// The recording's right channel follows `leg` from now on (a takeover).
    RecordWith(LegRef),
    /// A leg's latest quality, for the live views (not the log): `alert` while the leg is
    /// in alert; `change` when this sample raised or cleared it.
    LiveQuality {
        leg: ModelLeg,
        sample: LegSample,
        alert: bool,
        change: Option<AlertChange>,
    },
}

/// A leg's quality as the call follows it.
#[derive(Debug, Clone)]
struct LegQualityState {
    leg: LegRef,
    alert: AlertState,
    latest: LegSample,
    /// When a sample of the leg was last logged, and whether the latest was.
    logged_at: Option<Instant>,
    latest_logged: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The flow runs (IVR, queue).
    Flow,
    /// Caller and agent are bridged.
    Talking,
    /// The agent left: the after-call flow (survey, the abusive caller's message) runs.
    AfterCall,
    /// The caller booked a callback and hung up: the contact keeps its place; then an
    /// agent is rung, then the customer called.
    Callback,
    /// The caller leaves a message.
    Voicemail,
    /// The caller talks to an outside party (a flow's transfer out).
    Outside,
}

/// An agent leg.
#[derive(Debug, Clone)]
struct AgentLeg {
    ring: Ring,
    ext: String,
    answered: bool,
    /// The phone answered; the router is asked whether the offer still stands.
    answering: bool,
}

/// A supervisor monitoring the call.
#[derive(Debug, Clone)]
struct Monitor {
    supervisor: String,
    phone: SupervisorPhone,
    mode: MonitorMode,
    /// The phone answered (the mix applies from then on).
    answered: bool,
    /// The API request waiting for the phone to be rung.
    reply: Option<u64>,
    /// The supervisor took the call over: the caller talks to the supervisor.
    taken_over: bool,
}

/// How the call starts.
pub struct Setup {
    pub from: String,
    pub to: String,
    /// The flow that answers, or the agent of a direct number.
    pub route: crate::numbers::Route,
    pub flows: Arc<FlowSet>,
    pub resolve: Resolver,
    /// The skill escalated contacts need (the routing engine's senior skill).
    pub senior_skill: String,
    /// A trunk to call out through exists (callbacks, transfers out).
    pub can_call_out: bool,
    pub fault_notice: bool,
    /// Wall-clock time at `now` (business hours).
    pub wall_clock: DateTime<Utc>,
}

/// One call.
pub struct Call {
    from: String,
    to: String,
    flows: Arc<FlowSet>,
    resolve: Resolver,
    senior_skill: String,
    can_call_out: bool,
    started: Instant,
    wall_clock: DateTime<Utc>,
    out: VecDeque<Command>,
    phase: Phase,
    run: Option<FlowRun>,
    language: String,
    playing: Option<PlayId>,
    /// In line since.
    queued: Option<Instant>,
    last_queue: Option<String>,
    /// The contact's priority in line.
    priority: i32,
    agents: Vec<AgentLeg>,
    next_ring: Ring,
    after_call: Option<String>,
    max_agitation: f32,
    vip: bool,
    customer: Option<hotline_model::CustomerId>,
    callback_number: Option<String>,
    /// The caller's leg is up (not after a callback was booked, until the customer answers).
    caller_live: bool,
    /// A call out rings or, for a transfer out, talks.
    dialing: bool,
    /// Legs whose phone holds the call (they may send no RTP then).
    holding: Vec<LegRef>,
    /// Legs that went silent.
    silent: Vec<LegRef>,
    /// Each measured leg's quality.
    quality: Vec<LegQualityState>,
    /// The far ends' own latest figures of legs (a browser's), with when they came.
    reported: Vec<(LegRef, Instant, LegSample)>,
    recording: Option<Recording>,
    /// The conversation's recording is paused (silence written).
    recording_paused: bool,
    voicemail_until: Option<Instant>,
    /// Flows started by transfer steps so far (a loop of numbers ends, never recurses).
    transfers: u32,
    /// A supervisor monitoring the call (or who took it over).
    monitor: Option<Monitor>,
    ended: bool,
}

impl Call {
    /// A call answered at `now`; for a direct number, the agent is offered the call first.
    pub fn new(setup: Setup, now: Instant) -> Result<Call, String> {
        let mut call = Call {
            from: setup.from,
            to: setup.to,
            flows: setup.flows,
            resolve: setup.resolve,
            senior_skill: setup.senior_skill,
            can_call_out: setup.can_call_out,
            started: now,
            wall_clock: setup.wall_clock,
            out: VecDeque::new(),
            phase: Phase::Flow,
            run: None,
            language: "zh".to_string(),
            playing: None,
            queued: None,
            last_queue: None,
            priority: 0,
            agents: Vec::new(),
            next_ring: 0,
            after_call: None,
            max_agitation: 0.0,
            vip: false,
            customer: None,
            callback_number: None,
            caller_live: true,
            dialing: false,
            holding: Vec::new(),
            silent: Vec::new(),
            quality: Vec::new(),
            reported: Vec::new(),
            recording: None,
            recording_paused: false,
            voicemail_until: None,
            transfers: 0,
            monitor: None,
            ended: false,
        };
        match setup.route {
            crate::numbers::Route::Flow(flow) => {
                let mut ctx = CallContext::new(&call.from, &call.to, call.wall_clock);
                ctx.fault_notice = setup.fault_notice;
                let run =
                    FlowRun::new(call.flows.clone(), &flow, ctx, now).map_err(|e| e.to_string())?;
                call.run = Some(run);
                call.pump(now);
            }
            crate::numbers::Route::Agent { extension, queue } => {
                // A direct number: the agent is offered the call first, then anyone of the
                // queue.
                call.requeue(now, queue, false, Some(extension));
            }
            crate::numbers::Route::Queue { queue, priority } => {
                call.push(Command::HoldMusic);
                call.arrive(now, queue, priority, false, None, Vec::new());
            }
        }
        Ok(call)
    }

    /// The next command, in order.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.out.pop_front()
    }

    /// The call is over: its record is closed and every phone told.
    pub fn is_over(&self) -> bool {
        self.ended && self.out.is_empty()
    }

    /// When [`Call::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.ended {
            return None;
        }
        let flow = self.run.as_ref().and_then(|r| r.poll_timeout());
        match (flow, self.voicemail_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.ended {
            return;
        }
        if self.voicemail_until.is_some_and(|t| t <= now) {
            self.voicemail_until = None;
            self.push(Command::StopRecording);
            self.finish(EndReason::Voicemail);
            return;
        }
        if let Some(run) = self.run.as_mut()
            && run.poll_timeout().is_some_and(|t| t <= now)
        {
            run.handle_timeout(now);
            self.pump(now);
        }
    }

    /// Handles one input at `now`.
    pub fn handle(&mut self, now: Instant, input: Input) {
        if self.ended {
            self.after_end(input);
            return;
        }
        match input {
            Input::CallerDigit(d) => self.feed(now, FlowInput::Digit(d)),
            Input::CallerHold(on) => {
                self.hold(LegRef::Caller, on);
                self.log(if on {
                    EventKind::Held
                } else {
                    EventKind::Resumed
                });
            }
            Input::CallerGone => self.caller_gone(now, EndReason::CallerHangup),
            Input::CallerExpired => {
                self.dead_call(now, "session_expired", "the caller's session timer ran out")
            }
            Input::AgentFailed {
                ring,
                reason,
                refusal,
            } => match self.agent(ring) {
                // The leg of an agent who answered ends: the agent left.
                Some(a) if a.answered => {
                    self.final_quality(Some(LegRef::Agent(ring)));
                    self.agents.retain(|a| a.ring != ring);
                    self.agent_left(now);
                }
                _ => self.agent_failed(ring, &reason, refusal),
            },
            Input::AgentAnswered { ring } => self.agent_answered(ring),
            Input::AnswerTaken { ring, result } => self.answer_taken(now, ring, result),
            Input::MediaLost => {
                self.note(EventKind::FlowStep {
                    step: "media_lost".to_string(),
                    detail: Some("the media engine stopped".to_string()),
                });
                self.finish(EndReason::Error);
            }
            Input::DialHold(on) => {
                if self.is_live(LegRef::Dial) {
                    self.hold(LegRef::Dial, on);
                    self.log(if on {
                        EventKind::Held
                    } else {
                        EventKind::Resumed
                    });
                }
            }
            Input::DialExpired => {
                if self.is_live(LegRef::Dial) {
                    self.dead_call(
                        now,
                        "session_expired",
                        "the outside party's session timer ran out",
                    );
                }
            }
            Input::AgentGone { ring } => match self.agent(ring) {
                Some(a) if a.answered => {
                    self.final_quality(Some(LegRef::Agent(ring)));
                    self.agents.retain(|a| a.ring != ring);
                    self.agent_left(now);
                }
                Some(_) => self.agent_failed(ring, "lost", Refusal::Missed),
                None => {}
            },
            Input::AgentHold { ring, on } => self.agent_hold(ring, on),
            Input::AgentDigit { ring, digit } => {
                // Only an agent who answered and is talking (not holding) reaches the party
                // it talks to: the caller, or the outside party of a transfer out.
                let talking = self.agent(ring).is_some_and(|a| a.answered)
                    && !self.holding.contains(&LegRef::Agent(ring));
                let to = match self.phase {
                    Phase::Talking => Some(LegRef::Caller),
                    Phase::Outside => Some(LegRef::Dial),
                    _ => None,
                };
                if let (true, Some(leg)) = (talking, to) {
                    self.push(Command::SendDigit { leg, digit });
                }
            }
            Input::AgentExpired { ring } => {
                if self.agent(ring).is_some_and(|a| a.answered) {
                    self.dead_call(now, "session_expired", "the agent's session timer ran out");
                }
            }
            Input::AgentRefer { ring, target } => {
                let Some(to) = target else {
                    self.push(Command::NotifyRefer { ring, status: 404 });
                    return;
                };
                if !self.talking() {
                    self.push(Command::NotifyRefer { ring, status: 481 });
                    return;
                }
                // The phone hears how it went before it is hung up.
                self.push(Command::NotifyRefer { ring, status: 200 });
                let _ = self.transfer(now, to);
            }
            Input::DialPlaced { number } => {
                if self.dialing {
                    let step = if self.phase == Phase::Callback {
                        "callback.dial"
                    } else {
                        "transfer.dial"
                    };
                    self.log(EventKind::FlowStep {
                        step: step.to_string(),
                        detail: Some(number),
                    });
                }
            }
            Input::DialAnswered => self.dial_answered(),
            // The outside party of a transfer hung up, or its leg is gone.
            Input::DialFailed { .. } | Input::DialGone
                if self.dialing && self.phase == Phase::Outside =>
            {
                self.dialing = false;
                self.finish(EndReason::Transferred);
            }
            Input::DialFailed { reason } => {
                if self.dialing {
                    self.dialing = false;
                    self.dial_failed(now, &reason);
                }
            }
            Input::DialGone => {}
            Input::PlaybackFinished => {
                if let Some(id) = self.playing.take() {
                    self.feed(now, FlowInput::PlaybackFinished(id));
                }
            }
            Input::Agitation { score, crossed } => {
                self.max_agitation = self.max_agitation.max(score);
                if crossed {
                    self.log(EventKind::Agitation {
                        score: f64::from(score),
                        leg: ModelLeg::Caller,
                    });
                }
            }
            Input::Quality { leg, sample } => self.quality(now, leg, sample),
            Input::ReportedQuality { leg, sample } => {
                let leg = match leg {
                    ModelLeg::Caller => Some(LegRef::Caller),
                    ModelLeg::Agent => self.talking_agent().map(|a| LegRef::Agent(a.ring)),
                    ModelLeg::Other => Some(LegRef::Dial),
                };
                if let Some(leg) = leg {
                    self.leg_report(now, leg, sample);
                }
            }
            Input::LegReport { leg, sample } => self.leg_report(now, leg, sample),
            Input::Silent { leg } => {
                if !self.silent.contains(&leg) {
                    self.silent.push(leg);
                }
                if self.is_live(leg) && !self.holding.contains(&leg) {
                    let who = match leg {
                        LegRef::Agent(_) => "agent",
                        LegRef::Monitor => "supervisor",
                        LegRef::Caller | LegRef::Dial => "caller",
                    };
                    self.dead_call(now, "media_timeout", &format!("no RTP from the {who}"));
                }
            }
            Input::Active { leg } => self.silent.retain(|l| *l != leg),
            Input::RecordingStarted { path } => match self.recording.take() {
                Some(Recording::Voicemail { .. }) => {
                    self.log(EventKind::VoicemailLeft { path });
                    self.recording = None;
                }
                Some(Recording::Call) => {
                    self.log(EventKind::RecordingStarted { path });
                    self.recording = Some(Recording::Call);
                }
                None => {}
            },
            Input::RecordingFailed { path, error } => {
                let voicemail = matches!(self.recording, Some(Recording::Voicemail { .. }));
                self.recording = None;
                self.log(EventKind::RecordingFailed { path, error });
                if voicemail {
                    // Nothing to leave the message on: the caller is not kept talking to
                    // nobody.
                    self.finish(EndReason::Error);
                }
            }
            Input::Notice(n) => self.notice(now, n),
            Input::Queued(Ok(())) => {}
            Input::Queued(Err(e)) => {
                self.queued = None;
                self.note(EventKind::FlowStep {
                    step: "queue.refused".to_string(),
                    detail: Some(e),
                });
                self.finish(EndReason::Error);
            }
            Input::LookedUp(found) => {
                let customer = found.map(|f| {
                    self.vip = f.vip;
                    self.customer = Some(f.id.clone());
                    self.log(EventKind::CustomerIdentified { customer: f.id });
                    f.flow
                });
                self.feed(now, FlowInput::LookupResult(customer));
            }
            Input::PinChecked(ok) => {
                self.note(EventKind::FlowStep {
                    step: "authenticate".to_string(),
                    detail: Some(if ok { "pin accepted" } else { "pin refused" }.to_string()),
                });
                self.feed(now, FlowInput::AuthResult(ok));
            }
            Input::Api {
                id,
                request:
                    Request::Monitor {
                        supervisor,
                        phone,
                        mode,
                    },
            } => {
                // Answered once the phone is rung (see `Input::MonitorRung`).
                if let Err(e) = self.start_monitor(id, supervisor, phone, mode) {
                    self.push(Command::Reply { id, result: Err(e) });
                }
            }
            Input::Api { id, request } => {
                let result = self.request(now, request);
                self.push(Command::Reply { id, result });
            }
            Input::MonitorRung(result) => self.monitor_rung(result),
            Input::MonitorAnswered => self.monitor_answered(),
            Input::MonitorGone => self.monitor_gone(),
        }
    }

    /// After the end, only what still needs an answer: a phone that answered too late is hung
    /// up, the API is told the call is over.
    fn after_end(&mut self, input: Input) {
        match input {
            Input::AgentAnswered { ring } => self.push(Command::HangupAgent { ring }),
            Input::AnswerTaken { ring, result } => {
                self.push(Command::HangupAgent { ring });
                if result.is_ok() {
                    self.push(Command::End {
                        agitation: self.max_agitation,
                        abusive: false,
                    });
                }
            }
            Input::DialAnswered => self.push(Command::HangupDial),
            Input::MonitorAnswered => self.push(Command::HangupMonitor),
            Input::MonitorRung(_) => self.push(Command::HangupMonitor),
            Input::Api { id, .. } => self.push(Command::Reply {
                id,
                result: Err("the call is over".to_string()),
            }),
            Input::Notice(Notice::Offer { agent, .. }) => self.push(Command::Reject {
                agent,
                refusal: Refusal::Failed,
            }),
            _ => {}
        }
    }

    fn push(&mut self, c: Command) {
        self.out.push_back(c);
    }

    fn log(&mut self, kind: EventKind) {
        self.push(Command::Log(kind));
    }

    fn note(&mut self, kind: EventKind) {
        self.push(Command::Note(kind));
    }

    fn agent(&self, ring: Ring) -> Option<&AgentLeg> {
        self.agents.iter().find(|a| a.ring == ring)
    }

    fn talking_agent(&self) -> Option<&AgentLeg> {
        self.agents.iter().find(|a| a.answered)
    }

    fn talking(&self) -> bool {
        self.phase == Phase::Talking && self.talking_agent().is_some()
    }

    fn model_leg(&self, leg: LegRef) -> ModelLeg {
        match leg {
            LegRef::Agent(_) => ModelLeg::Agent,
            // A supervisor who took the call over is its agent now.
            LegRef::Monitor if self.monitor.as_ref().is_some_and(|m| m.taken_over) => {
                ModelLeg::Agent
            }
            LegRef::Monitor => ModelLeg::Other,
            LegRef::Dial if self.phase == Phase::Outside => ModelLeg::Other,
            LegRef::Caller | LegRef::Dial => ModelLeg::Caller,
        }
    }

    /// Keeps a far end's own figures of a leg for the engine's next sample of it.
    fn leg_report(&mut self, now: Instant, leg: LegRef, sample: LegSample) {
        if !self.is_live(leg) {
            return;
        }
        self.reported.retain(|(l, _, _)| *l != leg);
        self.reported.push((leg, now, sample));
    }

    /// A leg's quality sample: live to the views; an alert or recovery to the log; and now
    /// and then (and at the end) the sample itself to the log, for the record. A fresh
    /// report of the far end's own figures makes it the worse of the two directions.
    fn quality(&mut self, now: Instant, leg: LegRef, sample: LegSample) {
        if !self.is_live(leg) {
            // A phone still ringing, or a leg already gone: nothing to show.
            return;
        }
        // Each report counts in one sample only, so that one bad interval of the browser's
        // is one bad sample, as one of the engine's is.
        let far = self
            .reported
            .iter()
            .position(|(l, _, _)| *l == leg)
            .map(|i| self.reported.swap_remove(i));
        let sample = match far {
            Some((_, at, far)) if now.millis_since(at) <= REPORT_FRESH_MS => sample.worse_of(&far),
            _ => sample,
        };
        let model_leg = self.model_leg(leg);
        let i = match self.quality.iter().position(|q| q.leg == leg) {
            Some(i) => i,
            None => {
                self.quality.push(LegQualityState {
                    leg,
                    alert: AlertState::default(),
                    latest: sample,
                    logged_at: None,
                    latest_logged: false,
                });
                self.quality.len() - 1
            }
        };
        let silent = self.silent.contains(&leg);
        let q = &mut self.quality[i];
        q.latest = sample;
        q.latest_logged = false;
        // A silent leg's figures say nothing of the line (it is on hold or gone).
        let change = if silent {
            None
        } else {
            q.alert.sample(sample.mos)
        };
        let alert = q.alert.raised;
        // A sample of a leg whose media flows is the call's proof of life: logged now and
        // then, so that a call cut off by a crash is closed near its last media time (its
        // talk time kept), not at the time of its last state change.
        let log_sample = !silent
            && q.logged_at
                .is_none_or(|t| now.millis_since(t) >= LOGGED_SAMPLE_EVERY_MS);
        if log_sample {
            q.logged_at = Some(now);
            q.latest_logged = true;
        }
        self.push(Command::LiveQuality {
            leg: model_leg,
            sample,
            alert,
            change,
        });
        let (mos, loss) = sample.for_record();
        if log_sample {
            self.log(EventKind::QualitySample {
                leg: model_leg,
                mos,
                loss,
                jitter_ms: sample.jitter_ms,
                rtt_ms: sample.rtt_ms,
            });
        }
        let (mos, loss, jitter_ms, rtt_ms) =
            (sample.mos, sample.loss, sample.jitter_ms, sample.rtt_ms);
        match change {
            Some(AlertChange::Raised) => self.log(EventKind::QualityAlert {
                leg: model_leg,
                mos,
                loss,
                jitter_ms,
                rtt_ms,
            }),
            Some(AlertChange::Cleared) => self.log(EventKind::QualityRecovered {
                leg: model_leg,
                mos,
                loss,
                jitter_ms,
                rtt_ms,
            }),
            None => {}
        }
    }

    /// Logs the latest quality of `leg` (every leg: `None`) if it was not logged yet: the
    /// record's final figures for a leg that leaves.
    fn final_quality(&mut self, leg: Option<LegRef>) {
        let mut finals = Vec::new();
        for q in &mut self.quality {
            if leg.is_some_and(|l| l != q.leg) || q.latest_logged {
                continue;
            }
            q.latest_logged = true;
            finals.push((q.leg, q.latest));
        }
        for (l, sample) in finals {
            let (mos, loss) = sample.for_record();
            let leg = self.model_leg(l);
            self.note(EventKind::QualitySample {
                leg,
                mos,
                loss,
                jitter_ms: sample.jitter_ms,
                rtt_ms: sample.rtt_ms,
            });
        }
    }

    /// The caller's leg, the leg of an agent who answered, or the outside party.
    fn is_live(&self, leg: LegRef) -> bool {
        match leg {
            LegRef::Caller => self.caller_live,
            LegRef::Agent(r) => self.agent(r).is_some_and(|a| a.answered),
            LegRef::Dial => self.dialing && self.phase == Phase::Outside,
            LegRef::Monitor => self.monitor.as_ref().is_some_and(|m| m.taken_over),
        }
    }

    fn hold(&mut self, leg: LegRef, on: bool) {
        self.holding.retain(|l| *l != leg);
        if on {
            self.holding.push(leg);
        }
    }

    fn feed(&mut self, now: Instant, input: FlowInput) {
        if let Some(run) = self.run.as_mut() {
            run.handle(now, input);
        }
        self.pump(now);
    }

    fn wall(&self, now: Instant) -> DateTime<Utc> {
        self.wall_clock
            + chrono::Duration::milliseconds(
                now.millis_since(self.started).min(i64::MAX as u64) as i64
            )
    }

    fn notice(&mut self, now: Instant, n: Notice) {
        match n {
            Notice::Offer { agent, .. } => {
                let ring = self.next_ring;
                self.next_ring += 1;
                self.log(EventKind::Offered {
                    agent: AgentId::new(agent.clone()),
                });
                self.agents.push(AgentLeg {
                    ring,
                    ext: agent.clone(),
                    answered: false,
                    answering: false,
                });
                self.hold(LegRef::Agent(ring), false);
                self.push(Command::RingAgent {
                    ring,
                    agent,
                    caller_id: self.from.clone(),
                });
            }
            Notice::Rescinded { agent, rang_out } => {
                let Some(ring) = self
                    .agents
                    .iter()
                    .find(|a| a.ext == agent && !a.answered && !a.answering)
                    .map(|a| a.ring)
                else {
                    return;
                };
                self.agents.retain(|a| a.ring != ring);
                if rang_out {
                    // The ring timeout is the routing engine's: it has counted the missed
                    // offer already; the log says why the phone stopped ringing.
                    self.log(EventKind::OfferRejected {
                        agent: AgentId::new(agent),
                        reason: "no answer".to_string(),
                    });
                }
                self.push(Command::HangupAgent { ring });
            }
            Notice::Position { position, eta_secs } => self.feed(
                now,
                FlowInput::QueueUpdate {
                    position,
                    estimated_wait_secs: eta_secs,
                },
            ),
            Notice::Overflowed { queue } => {
                // The engine moved the contact at the queue's maximum wait: the record
                // follows it.
                if self.queued.is_some() {
                    self.last_queue = Some(queue.clone());
                    self.log(EventKind::Queued {
                        queue: QueueName::new(queue),
                        priority: self.priority,
                    });
                }
            }
            Notice::MaxWait(action) => {
                // The engine has let the contact go.
                self.queued = None;
                self.ring_off_all();
                match action {
                    hotline_acd::MaxWaitAction::Voicemail
                        if self.caller_live && self.flows.flows.contains_key("voicemail") =>
                    {
                        self.run = None;
                        self.playing = None;
                        self.push(Command::StopPlayback);
                        self.start_flow(now, "voicemail", EndReason::Timeout);
                    }
                    _ => self.finish(EndReason::Timeout),
                }
            }
        }
    }

    /// Stops ringing every agent not yet answered (the router is told by the caller).
    fn ring_off_all(&mut self) {
        let ringing: Vec<Ring> = self
            .agents
            .iter()
            .filter(|a| !a.answered)
            .map(|a| a.ring)
            .collect();
        for ring in ringing {
            self.push(Command::HangupAgent { ring });
        }
        self.agents.retain(|a| a.answered);
    }

    fn agent_failed(&mut self, ring: Ring, reason: &str, refusal: Refusal) {
        let Some(a) = self.agent(ring).filter(|a| !a.answered).cloned() else {
            return;
        };
        self.agents.retain(|a| a.ring != ring);
        self.push(Command::HangupAgent { ring });
        self.log(EventKind::OfferRejected {
            agent: AgentId::new(a.ext.clone()),
            reason: reason.to_string(),
        });
        self.push(Command::Reject {
            agent: a.ext,
            refusal,
        });
    }

    fn agent_answered(&mut self, ring: Ring) {
        let Some(a) = self.agent(ring).cloned() else {
            // Rescinded meanwhile (rang out, answered elsewhere): too late.
            self.push(Command::HangupAgent { ring });
            return;
        };
        if a.answered || a.answering {
            return;
        }
        if self.talking_agent().is_some() || self.agents.iter().any(|x| x.answering) {
            // Ring-all: another phone answered first.
            self.agents.retain(|x| x.ring != ring);
            self.push(Command::HangupAgent { ring });
            return;
        }
        if let Some(x) = self.agents.iter_mut().find(|x| x.ring == ring) {
            x.answering = true;
        }
        // The router decides whether the offer still stands (its ring timeout may have
        // fired as the phone answered): the call is connected only if it does.
        self.push(Command::Answer { ring, agent: a.ext });
    }

    /// The router took (or refused) the answer of leg `ring`.
    fn answer_taken(&mut self, now: Instant, ring: Ring, result: Result<(), String>) {
        let Some(a) = self.agent(ring).filter(|a| a.answering).cloned() else {
            return;
        };
        if let Err(why) = result {
            // The offer was gone as the phone answered: the phone is hung up and the caller
            // waits on, as the engine has it.
            self.agents.retain(|x| x.ring != ring);
            self.log(EventKind::OfferRejected {
                agent: AgentId::new(a.ext.clone()),
                reason: "answered too late".to_string(),
            });
            self.push(Command::HangupAgent { ring });
            tracing::info!(agent = %a.ext, %why, "an answer came after the offer was gone");
            return;
        }
        if let Some(x) = self.agents.iter_mut().find(|x| x.ring == ring) {
            x.answering = false;
            x.answered = true;
        }
        self.queued = None;
        self.log(EventKind::Answered {
            agent: AgentId::new(a.ext.clone()),
        });
        // Ring-all: the other phones stop ringing at once (the engine has rescinded their
        // offers too; those notices then find nothing).
        self.ring_off_all();
        if self.phase == Phase::Callback {
            // The agent is on the line: now call the customer back.
            match self.callback_number.clone() {
                Some(number) => self.dial(now, number, true),
                None => self.callback_failed("no number to call back"),
            }
            return;
        }
        // A callback confirmed but not yet booked is not needed any more: the caller talks.
        self.callback_number = None;
        self.connect(LegRef::Agent(ring));
        self.feed(now, FlowInput::Answered { agent: a.ext });
    }

    /// Bridges the caller with `other` and records both.
    fn connect(&mut self, other: LegRef) {
        self.push(Command::StopPlayback);
        self.push(Command::Bridge(other));
        self.recording = Some(Recording::Call);
        self.recording_paused = false;
        self.push(Command::Record {
            what: Recording::Call,
            with: Some(other),
        });
        self.phase = if other == LegRef::Dial {
            Phase::Outside
        } else {
            Phase::Talking
        };
    }

    fn agent_hold(&mut self, ring: Ring, on: bool) {
        if !self.agent(ring).is_some_and(|a| a.answered) {
            return;
        }
        self.hold(LegRef::Agent(ring), on);
        self.log(if on {
            EventKind::Held
        } else {
            EventKind::Resumed
        });
        // The agent holds the caller: the caller hears hold music until taken back.
        if self.phase == Phase::Talking {
            if on {
                self.push(Command::HoldMusic);
            } else {
                self.connect_agent_media(ring);
            }
        }
    }

    fn dial(&mut self, now: Instant, number: String, callback: bool) {
        if !self.can_call_out {
            self.dial_failed_now(now, callback, "no outbound trunk");
            return;
        }
        self.dialing = true;
        self.push(Command::Dial {
            number,
            callback,
            caller_id: self.to.clone(),
        });
    }

    fn dial_failed_now(&mut self, now: Instant, callback: bool, why: &str) {
        if callback {
            self.callback_failed(why);
        } else {
            self.transfer_out_failed(now, why);
        }
    }

    fn dial_failed(&mut self, now: Instant, why: &str) {
        let callback = self.phase == Phase::Callback;
        self.dial_failed_now(now, callback, why);
    }

    fn dial_answered(&mut self) {
        if !self.dialing {
            self.push(Command::HangupDial);
            return;
        }
        if self.phase == Phase::Callback {
            // The customer's leg is now the caller's.
            self.dialing = false;
            self.caller_live = true;
            self.hold(LegRef::Caller, false);
            self.silent.retain(|l| *l != LegRef::Caller);
            match self.talking_agent().map(|a| a.ring) {
                Some(ring) => self.connect(LegRef::Agent(ring)),
                None => self.finish(EndReason::AgentHangup),
            }
            return;
        }
        // A transfer out: the caller talks to the outside party through hotline.
        self.connect(LegRef::Dial);
    }

    /// The callback could not be made: the agent is released and the record closed.
    fn callback_failed(&mut self, why: &str) {
        self.dialing = false;
        self.log(EventKind::FlowStep {
            step: "callback.failed".to_string(),
            detail: Some(why.to_string()),
        });
        self.release_agents(false);
        self.finish(EndReason::Timeout);
    }

    fn transfer_out_failed(&mut self, now: Instant, why: &str) {
        self.dialing = false;
        self.log(EventKind::FlowStep {
            step: "transfer.failed".to_string(),
            detail: Some(why.to_string()),
        });
        // The caller is not left in silence: back to the line it came from, or goodbye.
        match self.last_queue.clone() {
            Some(q) if self.caller_live => self.requeue(now, q, false, None),
            _ => self.finish(EndReason::Error),
        }
    }

    /// Every agent leg ends: one who answered goes to wrap-up (`abusive`: flagged), one
    /// still ringing is taken back.
    fn release_agents(&mut self, abusive: bool) {
        self.stop_monitor("agent_left", false);
        for a in std::mem::take(&mut self.agents) {
            self.push(Command::HangupAgent { ring: a.ring });
            if a.answered {
                self.push(Command::End {
                    agitation: self.max_agitation,
                    abusive,
                });
            } else {
                self.push(Command::Reject {
                    agent: a.ext,
                    refusal: Refusal::Failed,
                });
            }
        }
        self.holding.retain(|l| !matches!(l, LegRef::Agent(_)));
        self.push(Command::StopRecording);
        self.recording = None;
    }

    /// Puts the contact in line.
    fn arrive(
        &mut self,
        now: Instant,
        queue: String,
        priority: i32,
        escalate: bool,
        preferred_agent: Option<String>,
        skills: Vec<(String, u8)>,
    ) {
        self.phase = Phase::Flow;
        self.queued = Some(now);
        self.last_queue = Some(queue.clone());
        self.priority = priority;
        self.push(Command::Arrive {
            queue: queue.clone(),
            priority,
            vip: self.vip,
            escalate,
            preferred_agent,
            skills,
        });
        self.log(EventKind::Queued {
            queue: QueueName::new(queue),
            priority,
        });
    }

    /// The caller goes back in line as a new contact: on hold, first in line.
    fn requeue(&mut self, now: Instant, queue: String, escalate: bool, preferred: Option<String>) {
        self.push(Command::HoldMusic);
        self.arrive(now, queue, 100, escalate, preferred, Vec::new());
    }

    /// Blind transfer: the agent leaves; the caller waits on hold for the target.
    fn transfer(&mut self, now: Instant, to: TransferTarget) -> Result<(), String> {
        if !self.talking() {
            return Err("nobody is talking to the caller".into());
        }
        let (queue, preferred, target) = match &to {
            TransferTarget::Queue(q) => (q.clone(), None, Target::Queue(QueueName::new(q.clone()))),
            TransferTarget::Agent(ext) => (
                self.last_queue
                    .clone()
                    .unwrap_or_else(|| "general".to_string()),
                Some(ext.clone()),
                Target::Agent(AgentId::new(ext.clone())),
            ),
        };
        // Logged before the agent's phone is told.
        self.log(EventKind::Transferred { to: target });
        self.release_agents(false);
        self.requeue(now, queue, false, preferred);
        Ok(())
    }

    fn request(&mut self, now: Instant, request: Request) -> Result<(), String> {
        match request {
            Request::Hangup => {
                if self.talking_agent().is_some() {
                    let agents = std::mem::take(&mut self.agents);
                    for a in agents {
                        self.push(Command::HangupAgent { ring: a.ring });
                        if !a.answered {
                            self.push(Command::Reject {
                                agent: a.ext,
                                refusal: Refusal::Failed,
                            });
                        }
                    }
                    self.agent_left(now);
                } else {
                    self.finish(EndReason::AgentHangup);
                }
                Ok(())
            }
            Request::Escalate { reason } => {
                let Some(queue) = self.last_queue.clone() else {
                    return Err("the call was never queued".into());
                };
                if !self.talking() {
                    return Err("nobody is talking to the caller".into());
                }
                // The agent leaves (to wrap-up); the caller waits on hold for a senior.
                self.log(EventKind::Escalated {
                    to: Target::Queue(QueueName::new(queue.clone())),
                    reason,
                });
                self.release_agents(false);
                self.requeue(now, queue, true, None);
                Ok(())
            }
            Request::Transfer(to) => self.transfer(now, to),
            Request::Abusive => {
                let Some(ext) = self
                    .talking_agent()
                    .filter(|_| self.phase == Phase::Talking)
                    .map(|a| a.ext.clone())
                else {
                    return Err("nobody is talking to the caller".into());
                };
                self.log(EventKind::Flagged {
                    by: AgentId::new(ext),
                    flag: hotline_model::Flag::Abusive,
                });
                self.release_agents(true);
                // The caller hears the polite closing message; no survey.
                self.after_call = None;
                self.phase = Phase::AfterCall;
                self.start_flow(now, "abusive_end", EndReason::AgentHangup);
                Ok(())
            }
            Request::Shutdown => {
                self.finish(EndReason::Shutdown);
                Ok(())
            }
            Request::PauseRecording(pause) => self.pause_recording(pause),
            // Answered when rung (see `handle`).
            Request::Monitor { .. } => Err("not_connected: the call is not connected".into()),
            Request::MonitorMode { supervisor, mode } => self.monitor_mode(supervisor, mode),
            Request::MonitorStop { supervisor } => {
                self.monitoring(&supervisor)?;
                self.stop_monitor("stopped", true);
                Ok(())
            }
            Request::TakeOver { supervisor } => self.take_over(supervisor),
        }
    }

    /// Caller and agent `ring` hear each other: bridged, or mixed with the supervisor
    /// monitoring the call.
    fn connect_agent_media(&mut self, ring: Ring) {
        match self.monitor.as_ref() {
            Some(m) if m.answered && !m.taken_over => {
                let mode = m.mode;
                self.push(Command::Mix {
                    agent: LegRef::Agent(ring),
                    mode,
                });
            }
            _ => self.push(Command::Bridge(LegRef::Agent(ring))),
        }
    }

    /// The monitor of `supervisor`, or why there is none. Refusals start with a stable
    /// code: `not_monitored`.
    fn monitoring(&self, supervisor: &str) -> Result<&Monitor, String> {
        match self.monitor.as_ref() {
            Some(m) if m.taken_over => {
                Err("not_monitored: the call was taken over; it is no longer monitored".into())
            }
            Some(m) if m.supervisor == supervisor => Ok(m),
            Some(m) => Err(format!(
                "not_monitored: the call is monitored by {}, not by {supervisor}",
                m.supervisor
            )),
            None => Err("not_monitored: nobody monitors the call".into()),
        }
    }

    /// A supervisor asks to monitor the call: only a connected call (caller and agent
    /// talking), and one supervisor at a time. Refusals: `not_connected`,
    /// `already_monitored`.
    fn start_monitor(
        &mut self,
        id: u64,
        supervisor: String,
        phone: SupervisorPhone,
        mode: MonitorMode,
    ) -> Result<(), String> {
        if let Some(m) = &self.monitor {
            return Err(format!(
                "already_monitored: {} {} this call",
                m.supervisor,
                if m.taken_over {
                    "took over"
                } else {
                    "already monitors"
                }
            ));
        }
        if !self.talking() || !self.caller_live {
            return Err("not_connected: the call is not connected to an agent".into());
        }
        self.monitor = Some(Monitor {
            supervisor: supervisor.clone(),
            phone: phone.clone(),
            mode,
            answered: false,
            reply: Some(id),
            taken_over: false,
        });
        self.push(Command::RingMonitor {
            supervisor,
            phone,
            caller_id: self.from.clone(),
        });
        Ok(())
    }

    fn monitor_rung(&mut self, result: Result<(), String>) {
        let Some(m) = self.monitor.as_mut() else {
            return;
        };
        let reply = m.reply.take();
        match result {
            Ok(()) => {
                let (supervisor, mode, phone) = (m.supervisor.clone(), m.mode, m.phone.name());
                self.log(EventKind::MonitorStarted {
                    supervisor,
                    mode,
                    phone,
                });
                if let Some(id) = reply {
                    self.push(Command::Reply { id, result: Ok(()) });
                }
            }
            Err(why) => {
                self.monitor = None;
                if let Some(id) = reply {
                    self.push(Command::Reply {
                        id,
                        result: Err(format!("phone_unavailable: {why}")),
                    });
                }
            }
        }
    }

    fn monitor_answered(&mut self) {
        let Some(m) = self.monitor.as_mut() else {
            self.push(Command::HangupMonitor);
            return;
        };
        if m.answered {
            return;
        }
        m.answered = true;
        let mode = m.mode;
        let agent = self
            .talking_agent()
            .filter(|_| self.phase == Phase::Talking)
            .map(|a| a.ring);
        match agent {
            Some(ring) if !self.holding.contains(&LegRef::Agent(ring)) => self.push(Command::Mix {
                agent: LegRef::Agent(ring),
                mode,
            }),
            Some(_) => {}
            None => self.stop_monitor("agent_left", false),
        }
    }

    /// The supervisor's leg ended: before a takeover the call goes on between caller and
    /// agent; after, the supervisor was the caller's party and the call ends.
    fn monitor_gone(&mut self) {
        let Some(m) = self.monitor.as_ref() else {
            return;
        };
        if m.taken_over {
            let supervisor = m.supervisor.clone();
            self.log(EventKind::MonitorStopped {
                supervisor,
                reason: "hangup".into(),
            });
            self.monitor = None;
            self.push(Command::HangupMonitor);
            self.finish(EndReason::AgentHangup);
            return;
        }
        let reason = if m.answered { "hangup" } else { "not_answered" };
        self.stop_monitor(reason, true);
    }

    /// Ends the monitoring (`reason` for the log): the supervisor's phone is hung up and,
    /// with `rebridge`, caller and agent are bridged again.
    fn stop_monitor(&mut self, reason: &str, rebridge: bool) {
        let Some(m) = self.monitor.take() else {
            return;
        };
        if let Some(id) = m.reply {
            // Still being rung when the call changed.
            self.push(Command::Reply {
                id,
                result: Err("not_connected: the call is no longer connected".into()),
            });
        } else {
            self.log(EventKind::MonitorStopped {
                supervisor: m.supervisor,
                reason: reason.to_string(),
            });
        }
        self.push(Command::HangupMonitor);
        if rebridge
            && m.answered
            && !m.taken_over
            && self.phase == Phase::Talking
            && let Some(ring) = self.talking_agent().map(|a| a.ring)
            && !self.holding.contains(&LegRef::Agent(ring))
        {
            self.push(Command::Bridge(LegRef::Agent(ring)));
        }
    }

    fn monitor_mode(&mut self, supervisor: String, mode: MonitorMode) -> Result<(), String> {
        let m = self.monitoring(&supervisor)?;
        if m.mode == mode {
            return Ok(());
        }
        let answered = m.answered;
        if let Some(m) = self.monitor.as_mut() {
            m.mode = mode;
        }
        self.log(EventKind::MonitorModeChanged { supervisor, mode });
        if answered
            && let Some(ring) = self.talking_agent().map(|a| a.ring)
            && !self.holding.contains(&LegRef::Agent(ring))
        {
            self.push(Command::Mix {
                agent: LegRef::Agent(ring),
                mode,
            });
        }
        Ok(())
    }

    /// The supervisor takes the call over: the agent's leg is released (to wrap-up), the
    /// caller is bridged with the supervisor, and the recording's right channel follows
    /// the supervisor. Refusals: `not_monitored`, `not_answered` (the supervisor's phone
    /// has not answered yet), `not_connected`.
    fn take_over(&mut self, supervisor: String) -> Result<(), String> {
        let m = self.monitoring(&supervisor)?;
        if !m.answered {
            return Err("not_answered: the supervisor's phone has not answered yet".into());
        }
        let Some(agent) = self.talking_agent().cloned() else {
            return Err("not_connected: no agent talks to the caller".into());
        };
        self.log(EventKind::TakenOver {
            supervisor,
            agent: AgentId::new(agent.ext.clone()),
        });
        if let Some(m) = self.monitor.as_mut() {
            m.taken_over = true;
        }
        self.agents.retain(|a| a.ring != agent.ring);
        self.holding.retain(|l| *l != LegRef::Agent(agent.ring));
        self.push(Command::HangupAgent { ring: agent.ring });
        self.push(Command::End {
            agitation: self.max_agitation,
            abusive: false,
        });
        self.push(Command::Bridge(LegRef::Monitor));
        self.push(Command::RecordWith(LegRef::Monitor));
        Ok(())
    }

    /// Pauses or resumes the conversation's recording. Refusals start with a stable code
    /// (`no_recording`, `already_paused`, `not_paused`), then `: ` and the reason.
    fn pause_recording(&mut self, pause: bool) -> Result<(), String> {
        if self.recording != Some(Recording::Call) || !matches!(self.phase, Phase::Talking) {
            return Err("no_recording: the call is not being recorded".into());
        }
        match (pause, self.recording_paused) {
            (true, true) => Err("already_paused: the recording is already paused".into()),
            (false, false) => Err("not_paused: the recording is not paused".into()),
            _ => {
                self.recording_paused = pause;
                self.push(Command::PauseRecording(pause));
                self.log(if pause {
                    EventKind::RecordingPaused
                } else {
                    EventKind::RecordingResumed
                });
                Ok(())
            }
        }
    }

    /// The agent's part is over (the agent hung up, by phone or through the API): the caller
    /// goes on to the after-call flow (the survey), or is released.
    fn agent_left(&mut self, now: Instant) {
        self.stop_monitor("agent_left", false);
        self.push(Command::End {
            agitation: self.max_agitation,
            abusive: false,
        });
        self.holding.retain(|l| !matches!(l, LegRef::Agent(_)));
        self.push(Command::StopRecording);
        self.recording = None;
        match self.after_call.take() {
            Some(flow) if self.caller_live && self.phase == Phase::Talking => {
                self.phase = Phase::AfterCall;
                self.start_flow(now, &flow, EndReason::AgentHangup);
            }
            _ => self.finish(EndReason::AgentHangup),
        }
    }

    /// Starts another flow for the caller (survey, voicemail, the abusive caller's message).
    fn start_flow(&mut self, now: Instant, flow: &str, fallback: EndReason) {
        let mut ctx = CallContext::new(&self.from, &self.to, self.wall(now));
        ctx.language = Some(self.language.clone());
        match FlowRun::new(self.flows.clone(), flow, ctx, now) {
            Ok(run) => {
                self.run = Some(run);
                self.pump(now);
            }
            Err(_) => self.finish(fallback),
        }
    }

    /// The call is dead (`why`: `media_timeout`, `session_expired`): the reason is logged,
    /// the agent freed (or the queue place given up: an abandon), the record closed, and the
    /// phones get a BYE.
    fn dead_call(&mut self, now: Instant, why: &str, detail: &str) {
        self.note(EventKind::FlowStep {
            step: why.to_string(),
            detail: Some(detail.to_string()),
        });
        let reason = if why == "session_expired" {
            EndReason::SessionExpired
        } else {
            EndReason::MediaTimeout
        };
        self.push(Command::StopPlayback);
        let live = self.caller_live;
        self.caller_gone(now, reason);
        if live {
            self.push(Command::HangupCaller);
        }
    }

    /// The caller is gone (hung up, cancelled, or dead).
    fn caller_gone(&mut self, now: Instant, reason: EndReason) {
        if self.ended {
            return;
        }
        if reason == EndReason::CallerHangup
            && self.callback_number.is_some()
            && self.phase == Phase::Flow
        {
            // The callback is confirmed and the caller hangs up during "we will call you
            // back", as most do: the callback keeps the place in line.
            self.caller_live = false;
            self.book_callback();
            return;
        }
        if let Some(run) = self.run.as_mut() {
            run.handle(now, FlowInput::CallerHangup);
        }
        let mut reason = reason;
        if let Some(since) = self.queued.take() {
            self.push(Command::Abandon);
            self.log(EventKind::Abandoned {
                wait_secs: now.millis_since(since) as f64 / 1000.0,
            });
            reason = EndReason::Abandoned;
        }
        match self.phase {
            Phase::Voicemail => reason = EndReason::Voicemail,
            Phase::Outside if reason == EndReason::CallerHangup => {
                reason = EndReason::Transferred;
            }
            _ => {}
        }
        self.caller_live = false;
        self.end(reason);
    }

    /// hotline ends the call.
    fn finish(&mut self, reason: EndReason) {
        if self.ended {
            return;
        }
        if self.queued.take().is_some() {
            self.push(Command::Abandon);
        }
        self.end(reason);
    }

    /// Closes the record (handed to the log before any phone is told, so the log has the
    /// end of the call in order), then frees the agents and hangs every phone up.
    fn end(&mut self, reason: EndReason) {
        self.ended = true;
        self.run = None;
        self.voicemail_until = None;
        self.stop_monitor("call_ended", false);
        self.final_quality(None);
        self.log(EventKind::Ended { reason });
        for a in std::mem::take(&mut self.agents) {
            self.push(Command::HangupAgent { ring: a.ring });
            if a.answered {
                self.push(Command::End {
                    agitation: self.max_agitation,
                    abusive: false,
                });
            } else if !a.answering {
                // (An answering leg's fate comes with the router's answer: see `after_end`.)
                self.push(Command::Reject {
                    agent: a.ext,
                    refusal: Refusal::Failed,
                });
            }
        }
        if self.dialing {
            self.dialing = false;
            self.push(Command::HangupDial);
        }
        self.push(Command::StopRecording);
        if self.caller_live {
            self.caller_live = false;
            self.push(Command::HangupCaller);
        }
    }

    /// The caller booked a callback and is released. The inbound call's record closes with
    /// the reason `callback`; the callback is an interaction of its own that keeps the
    /// caller's place in line (the engine's contact stays where it was).
    fn book_callback(&mut self) {
        let Some(number) = self.callback_number.clone() else {
            return;
        };
        self.log(EventKind::Ended {
            reason: EndReason::Callback,
        });
        self.push(Command::StopPlayback);
        if self.caller_live {
            self.caller_live = false;
            self.push(Command::HangupCaller);
        }
        self.push(Command::DropCallerMedia);
        self.push(Command::NewInteraction);
        self.log(EventKind::Arrived {
            channel: hotline_model::Channel::Callback,
            from: number.clone(),
            to: self.to.clone(),
            trunk: None,
        });
        if let Some(c) = self.customer.clone() {
            self.log(EventKind::CustomerIdentified { customer: c });
        }
        if let Some(q) = self.last_queue.clone() {
            self.log(EventKind::Queued {
                queue: QueueName::new(q),
                priority: 0,
            });
        }
        self.from = number;
        self.after_call = None;
        self.run = None;
        self.playing = None;
        self.phase = Phase::Callback;
    }

    /// The flow's `transfer` step: an agent or queue of this centre puts the caller in line
    /// (the agent first); another service number runs its flow; anything else is dialled
    /// out through the trunk and bridged.
    fn flow_transfer(&mut self, now: Instant, to: &str) {
        let destination = (self.resolve)(to);
        match destination {
            Some(Destination::Agent { extension, queue }) => {
                self.log(EventKind::Transferred {
                    to: Target::Agent(AgentId::new(extension.clone())),
                });
                self.requeue(now, queue, false, Some(extension));
            }
            Some(Destination::Queue(queue)) => {
                self.log(EventKind::Transferred {
                    to: Target::Queue(QueueName::new(queue.clone())),
                });
                self.requeue(now, queue, false, None);
            }
            Some(Destination::Flow(flow)) => {
                self.transfers += 1;
                if self.transfers > MAX_FLOW_TRANSFERS {
                    self.log(EventKind::FlowStep {
                        step: "transfer.loop".to_string(),
                        detail: Some(format!(
                            "more than {MAX_FLOW_TRANSFERS} transfers between flows (last to {to})"
                        )),
                    });
                    self.finish(EndReason::Error);
                    return;
                }
                self.note(EventKind::FlowStep {
                    step: "transfer.flow".to_string(),
                    detail: Some(flow.clone()),
                });
                self.start_flow(now, &flow, EndReason::Error);
            }
            Some(Destination::External(number)) => {
                self.log(EventKind::Transferred {
                    to: Target::External(number.clone()),
                });
                self.push(Command::HoldMusic);
                self.dial(now, number, false);
            }
            None => {
                self.log(EventKind::FlowStep {
                    step: "transfer.failed".to_string(),
                    detail: Some(format!("no such destination: {to}")),
                });
                self.finish(EndReason::Error);
            }
        }
    }

    /// Carries out every action the flow has queued.
    fn pump(&mut self, now: Instant) {
        loop {
            if self.ended {
                return;
            }
            let Some(action) = self.run.as_mut().and_then(|r| r.poll_action()) else {
                return;
            };
            match action {
                FlowAction::StepEntered { flow, step } => self.note(EventKind::FlowStep {
                    step: format!("{flow}.{step}"),
                    detail: None,
                }),
                FlowAction::Play {
                    id,
                    prompts,
                    language,
                    barge_in,
                } => {
                    self.language = language.clone();
                    self.playing = Some(id);
                    self.push(Command::Play {
                        prompts,
                        language,
                        barge_in,
                    });
                }
                FlowAction::StopPlayback => {
                    self.playing = None;
                    self.push(Command::StopPlayback);
                }
                FlowAction::StartHoldMusic => {
                    self.playing = None;
                    self.push(Command::HoldMusic);
                }
                FlowAction::Lookup { by } => self.push(Command::Lookup(by)),
                FlowAction::VerifyPin { customer, pin, .. } => self.push(Command::VerifyPin {
                    customer,
                    pin: pin.0,
                }),
                FlowAction::Enqueue {
                    queue,
                    priority,
                    skills,
                    preferred_skills,
                    ..
                } => {
                    // A contact that needs or prefers the senior skill (a repeat complainer,
                    // an agitated caller) is escalated: the engine offers it to seniors.
                    let senior = &self.senior_skill;
                    let escalate =
                        preferred_skills.iter().any(|s| s == senior) || skills.contains_key(senior);
                    let skills: Vec<(String, u8)> = skills
                        .into_iter()
                        .filter(|(s, _)| s != senior)
                        .map(|(s, l)| (s, l.clamp(1, u32::from(hotline_acd::MAX_LEVEL)) as u8))
                        .collect();
                    self.arrive(now, queue, priority, escalate, None, skills);
                }
                FlowAction::Dequeue { .. } => {
                    if self.queued.take().is_some() {
                        self.push(Command::Abandon);
                    }
                }
                FlowAction::OfferCallback { queue: _, number } => {
                    if self.queued.is_some() && self.can_call_out {
                        self.log(EventKind::CallbackRequested {
                            number: number.clone(),
                            keeps_place: true,
                        });
                        self.push(Command::KeepPlace);
                        self.callback_number = Some(number);
                        if let Some(run) = self.run.as_mut() {
                            run.handle(now, FlowInput::CallbackAccepted);
                        }
                    } else if let Some(run) = self.run.as_mut() {
                        // Nothing to call out through: the caller stays in line.
                        run.handle(now, FlowInput::CallbackDeclined);
                    }
                }
                FlowAction::Voicemail { queue } => {
                    self.phase = Phase::Voicemail;
                    self.voicemail_until = Some(now.plus_millis(VOICEMAIL_MAX_MS));
                    self.recording = Some(Recording::Voicemail {
                        queue: queue.clone(),
                    });
                    self.push(Command::Record {
                        what: Recording::Voicemail { queue },
                        with: None,
                    });
                }
                FlowAction::Survey { score } => self.log(EventKind::Surveyed { score }),
                FlowAction::DoNotCall { number } => self.push(Command::DoNotCall { number }),
                FlowAction::Hangup {
                    reason: hotline_flow::HangupReason::Callback,
                } if self.callback_number.is_some() => self.book_callback(),
                FlowAction::Hangup { .. } => {
                    let reason = match self.phase {
                        Phase::AfterCall => EndReason::AgentHangup,
                        _ => EndReason::Rejected,
                    };
                    self.finish(reason);
                    return;
                }
                FlowAction::Transfer { to } => {
                    self.run = None;
                    self.playing = None;
                    self.flow_transfer(now, &to);
                    return;
                }
                FlowAction::Log { message } => self.log(EventKind::FlowStep {
                    step: "note".to_string(),
                    detail: Some(message),
                }),
                // Skills and priority reach the engine with the enqueue that follows.
                FlowAction::SetPriority(_)
                | FlowAction::SetSkill { .. }
                | FlowAction::SetVariable { .. } => {}
                FlowAction::SetLanguage(l) => self.language = l,
                FlowAction::Finished { outcome } => {
                    self.run = None;
                    match outcome {
                        Outcome::Connected { after_call, .. } => self.after_call = after_call,
                        _ => {
                            if self.phase == Phase::AfterCall {
                                self.finish(EndReason::AgentHangup);
                            }
                        }
                    }
                    return;
                }
            }
        }
    }
}
