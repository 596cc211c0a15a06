use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::customer::Customer;
use crate::ids::{AgentId, CustomerId, EventId, InteractionId, QueueName, Seq};
use crate::timestamp::Timestamp;

/// Version of the JSON event format that this crate writes. Stores keep it beside each
/// event so that a later format can be read by upgrading older ones.
pub const EVENT_FORMAT_VERSION: u16 = 1;

/// The longest free text (notes, reasons, details, paths) an event may carry, in bytes.
pub const MAX_TEXT_LEN: usize = 64 * 1024;

/// How an interaction reached the centre.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Voice,
    Chat,
    Email,
    Sms,
    Callback,
    Voicemail,
}

impl Channel {
    /// All channels.
    pub const ALL: [Channel; 6] = [
        Channel::Voice,
        Channel::Chat,
        Channel::Email,
        Channel::Sms,
        Channel::Callback,
        Channel::Voicemail,
    ];

    /// The JSON name (`"voice"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Voice => "voice",
            Channel::Chat => "chat",
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Callback => "callback",
            Channel::Voicemail => "voicemail",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = InvalidEvent;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| InvalidEvent(format!("unknown channel {s:?}")))
    }
}

/// Who wrote a message of a written conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sender {
    Customer,
    Agent,
    /// hotline itself (the auto-acknowledgement, "an agent joined").
    System,
}

/// Most attachments one message may carry.
pub const MAX_ATTACHMENTS: usize = 10;

/// A file sent with a message, kept in the centre's data directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The file's name as sent (shown, never used as a path).
    pub name: String,
    pub content_type: String,
    pub size: u64,
    /// Where the centre keeps it, relative to its attachments directory.
    pub path: String,
}

/// One side of a call, for per-leg measurements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    Caller,
    Agent,
    /// A third party: a supervisor barging in, a conference member, an external transfer.
    Other,
}

/// Where an interaction was transferred or escalated to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Agent(AgentId),
    Queue(QueueName),
    /// A number outside the centre.
    External(String),
}

/// Why an interaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    CallerHangup,
    AgentHangup,
    /// The caller gave up while waiting.
    Abandoned,
    /// Refused before it was handled (no route, blocked number, failed authentication).
    Rejected,
    /// Refused because the centre was over capacity.
    Overloaded,
    /// Cut off by a restart or crash of the centre; appended on recovery.
    Interrupted,
    /// Handed off outside the centre.
    Transferred,
    /// Ended into a voicemail box.
    Voicemail,
    /// Ended with a callback request; the callback is a new interaction.
    Callback,
    /// No answer or no input in time.
    Timeout,
    Error,
    /// A leg sent no media (RTP) for the configured time: the phone or its network is gone.
    MediaTimeout,
    /// The SIP session was not refreshed in time (RFC 4028 session timer).
    SessionExpired,
    /// Ended by hotline at a planned shutdown, once the drain time was over.
    Shutdown,
    /// A reason written by a newer version.
    #[serde(other)]
    Other,
}

impl EndReason {
    const ALL: [EndReason; 15] = [
        EndReason::CallerHangup,
        EndReason::AgentHangup,
        EndReason::Abandoned,
        EndReason::Rejected,
        EndReason::Overloaded,
        EndReason::Interrupted,
        EndReason::Transferred,
        EndReason::Voicemail,
        EndReason::Callback,
        EndReason::Timeout,
        EndReason::Error,
        EndReason::MediaTimeout,
        EndReason::SessionExpired,
        EndReason::Shutdown,
        EndReason::Other,
    ];

    /// The JSON name (`"caller_hangup"`).
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::CallerHangup => "caller_hangup",
            EndReason::AgentHangup => "agent_hangup",
            EndReason::Abandoned => "abandoned",
            EndReason::Rejected => "rejected",
            EndReason::Overloaded => "overloaded",
            EndReason::Interrupted => "interrupted",
            EndReason::Transferred => "transferred",
            EndReason::Voicemail => "voicemail",
            EndReason::Callback => "callback",
            EndReason::Timeout => "timeout",
            EndReason::Error => "error",
            EndReason::MediaTimeout => "media_timeout",
            EndReason::SessionExpired => "session_expired",
            EndReason::Shutdown => "shutdown",
            EndReason::Other => "other",
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EndReason {
    type Err = InvalidEvent;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EndReason::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| InvalidEvent(format!("unknown end reason {s:?}")))
    }
}

/// How a supervisor monitors a call: `listen` (hears caller and agent, heard by nobody),
/// `whisper` (hears both, heard by the agent only), `barge` (everyone hears everyone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorMode {
    Listen,
    Whisper,
    Barge,
}

impl MonitorMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorMode::Listen => "listen",
            MonitorMode::Whisper => "whisper",
            MonitorMode::Barge => "barge",
        }
    }

    /// `listen`, `whisper` or `barge`.
    pub fn parse(s: &str) -> Option<MonitorMode> {
        match s {
            "listen" => Some(MonitorMode::Listen),
            "whisper" => Some(MonitorMode::Whisper),
            "barge" => Some(MonitorMode::Barge),
            _ => None,
        }
    }
}

/// What an agent flagged an interaction as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// The caller was abusive (feeds the wellbeing rules).
    Abusive,
    /// A flag written by a newer version.
    #[serde(other)]
    Other,
}

/// What happened to an interaction. JSON: an object with `"type"` naming the variant in
/// snake_case and the fields beside it, e.g. `{"type":"queued","queue":"cards","priority":0}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// It reached the centre. `from`/`to` are the caller's and the dialled address as
    /// received (a number, a SIP URI user part, an email address).
    Arrived {
        channel: Channel,
        from: String,
        to: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trunk: Option<String>,
    },
    /// The contact flow ran a step (`"menu"`, `"authenticate"`, ...).
    FlowStep {
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    CustomerIdentified {
        customer: CustomerId,
    },
    Queued {
        queue: QueueName,
        #[serde(default)]
        priority: i32,
    },
    Offered {
        agent: AgentId,
    },
    OfferRejected {
        agent: AgentId,
        reason: String,
    },
    Answered {
        agent: AgentId,
    },
    Held,
    Resumed,
    Transferred {
        to: Target,
    },
    Escalated {
        to: Target,
        reason: String,
    },
    RecordingStarted {
        path: String,
    },
    RecordingPaused,
    RecordingResumed,
    /// The recording could not be started or stopped being written (disk full, no
    /// permission): the call goes on unrecorded from here, and supervisors are told.
    RecordingFailed {
        path: String,
        error: String,
    },
    /// Media quality of one leg over the last interval.
    QualitySample {
        leg: Leg,
        /// Mean opinion score, 1 (bad) to 5 (excellent).
        mos: f64,
        /// Packet loss as a fraction, 0 to 1.
        loss: f64,
        jitter_ms: f64,
        /// Round-trip time from RTCP (or the browser's own figure), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rtt_ms: Option<f64>,
    },
    /// A leg's estimated MOS stayed below the alert line (3.5) for two samples in a row:
    /// the figures of the second.
    QualityAlert {
        leg: Leg,
        mos: f64,
        loss: f64,
        jitter_ms: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rtt_ms: Option<f64>,
    },
    /// After a [`EventKind::QualityAlert`], the leg's MOS was back above the line for two
    /// samples in a row.
    QualityRecovered {
        leg: Leg,
        mos: f64,
        loss: f64,
        jitter_ms: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rtt_ms: Option<f64>,
    },
    /// Agitation measured from one leg's audio, 0 (calm) to 1 (shouting).
    Agitation {
        score: f64,
        leg: Leg,
    },
    Flagged {
        by: AgentId,
        flag: Flag,
    },
    CallbackRequested {
        number: String,
        /// Whether the callback keeps the caller's place in the queue.
        keeps_place: bool,
    },
    VoicemailLeft {
        path: String,
    },
    Abandoned {
        wait_secs: f64,
    },
    Ended {
        reason: EndReason,
    },
    WrappedUp {
        disposition: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notes: Option<String>,
        /// The agent who wrapped it up.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<AgentId>,
    },
    /// Post-call survey result.
    Surveyed {
        score: u8,
    },
    /// An outbound campaign placed this call: the interaction's first event (in place of
    /// `arrived`). `to` is the number dialled, `caller_id` the number presented.
    Dialled {
        campaign: String,
        contact: u64,
        to: String,
        caller_id: String,
    },
    /// How a campaign's call attempt ended or was answered: `live`, `machine`, `busy`,
    /// `no_answer` or `failed`; `detail` says more (the SIP status, the detector's verdict).
    DialOutcome {
        outcome: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    NoteAdded {
        /// The user who wrote it (an agent's login, `supervisor`, ...).
        by: String,
        text: String,
    },
    /// A message of a written conversation (chat, e-mail, text message). Its id is the
    /// event's seq in the log.
    Message {
        sender: Sender,
        /// The agent who wrote it (`sender` = `agent`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<AgentId>,
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<Attachment>,
        /// The sending client's own id of the message, so that a message sent again after
        /// a lost connection is kept once.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// An e-mail's subject.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
    },
    /// `by` has read the conversation's messages up to the one with seq `upto`.
    MessagesRead {
        by: Sender,
        upto: u64,
    },
    /// What the network says of a message sent to the customer (the seq of its `message`):
    /// `submitted`, then a delivery receipt's `delivered`, `expired`, `undeliverable` ...
    MessageStatus {
        message: u64,
        status: String,
        /// The id an SMS provider reached over HTTP gave the message (with `submitted`):
        /// its status callbacks name it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_id: Option<String>,
    },
    /// A web chat's widget session: the SHA-256 (hex) of the token the customer's widget
    /// holds, so that the widget can take the conversation up again after the centre
    /// restarts; the name the customer gave and the widget's language.
    ChatSession {
        key: String,
        name: String,
        language: String,
    },
    /// A supervisor (`supervisor`: the user's login) asked to monitor the call in `mode`;
    /// `phone` is the extension rung for it.
    MonitorStarted {
        supervisor: String,
        mode: MonitorMode,
        phone: String,
    },
    /// The supervisor switched to another mode.
    MonitorModeChanged {
        supervisor: String,
        mode: MonitorMode,
    },
    /// The monitoring ended: `reason` is `stopped` (the supervisor asked), `hangup` (the
    /// supervisor's phone hung up), `not_answered`, or `call_ended`.
    MonitorStopped {
        supervisor: String,
        reason: String,
    },
    /// The supervisor took the call over from `agent`: the agent's leg was released and
    /// the caller talks to the supervisor (the recording's agent channel follows).
    TakenOver {
        supervisor: String,
        agent: AgentId,
    },
    /// A kind written by a newer version; kept in the log, ignored by projections.
    #[serde(other)]
    Unknown,
}

impl EventKind {
    /// The JSON `"type"` of this kind.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Arrived { .. } => "arrived",
            EventKind::FlowStep { .. } => "flow_step",
            EventKind::CustomerIdentified { .. } => "customer_identified",
            EventKind::Queued { .. } => "queued",
            EventKind::Offered { .. } => "offered",
            EventKind::OfferRejected { .. } => "offer_rejected",
            EventKind::Answered { .. } => "answered",
            EventKind::Held => "held",
            EventKind::Resumed => "resumed",
            EventKind::Transferred { .. } => "transferred",
            EventKind::Escalated { .. } => "escalated",
            EventKind::RecordingStarted { .. } => "recording_started",
            EventKind::RecordingPaused => "recording_paused",
            EventKind::RecordingResumed => "recording_resumed",
            EventKind::RecordingFailed { .. } => "recording_failed",
            EventKind::QualitySample { .. } => "quality_sample",
            EventKind::QualityAlert { .. } => "quality_alert",
            EventKind::QualityRecovered { .. } => "quality_recovered",
            EventKind::Agitation { .. } => "agitation",
            EventKind::Flagged { .. } => "flagged",
            EventKind::CallbackRequested { .. } => "callback_requested",
            EventKind::VoicemailLeft { .. } => "voicemail_left",
            EventKind::Abandoned { .. } => "abandoned",
            EventKind::Ended { .. } => "ended",
            EventKind::WrappedUp { .. } => "wrapped_up",
            EventKind::Surveyed { .. } => "surveyed",
            EventKind::Dialled { .. } => "dialled",
            EventKind::DialOutcome { .. } => "dial_outcome",
            EventKind::NoteAdded { .. } => "note_added",
            EventKind::Message { .. } => "message",
            EventKind::MessagesRead { .. } => "messages_read",
            EventKind::MessageStatus { .. } => "message_status",
            EventKind::ChatSession { .. } => "chat_session",
            EventKind::MonitorStarted { .. } => "monitor_started",
            EventKind::MonitorModeChanged { .. } => "monitor_mode_changed",
            EventKind::MonitorStopped { .. } => "monitor_stopped",
            EventKind::TakenOver { .. } => "taken_over",
            EventKind::Unknown => "unknown",
        }
    }
}

/// One step in an interaction's life.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InteractionEvent {
    pub id: EventId,
    pub interaction: InteractionId,
    pub at: Timestamp,
    /// Assigned by the store on append; [`Seq::UNASSIGNED`] before.
    #[serde(default, skip_serializing_if = "Seq::is_unassigned")]
    pub seq: Seq,
    pub kind: EventKind,
}

impl InteractionEvent {
    /// A new, not yet appended event with a fresh id.
    pub fn new(interaction: InteractionId, at: Timestamp, kind: EventKind) -> Self {
        InteractionEvent {
            id: EventId::new(),
            interaction,
            at,
            seq: Seq::UNASSIGNED,
            kind,
        }
    }
}

/// An agent's presence, as wallboards show it. Whether the agent is on a call is derived
/// from interaction events, not stored here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AgentState {
    LoggedIn,
    Available,
    NotReady {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Break {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    LoggedOut,
    /// A state written by a newer version.
    #[serde(other)]
    Unknown,
}

impl AgentState {
    /// The JSON `"state"` name.
    pub fn name(&self) -> &'static str {
        match self {
            AgentState::LoggedIn => "logged_in",
            AgentState::Available => "available",
            AgentState::NotReady { .. } => "not_ready",
            AgentState::Break { .. } => "break",
            AgentState::LoggedOut => "logged_out",
            AgentState::Unknown => "unknown",
        }
    }

    /// The reason given for `not_ready` or `break`.
    pub fn reason(&self) -> Option<&str> {
        match self {
            AgentState::NotReady { reason } | AgentState::Break { reason } => reason.as_deref(),
            _ => None,
        }
    }
}

/// An agent changed state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentEvent {
    pub id: EventId,
    pub agent: AgentId,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Seq::is_unassigned")]
    pub seq: Seq,
    pub state: AgentState,
    /// Who made the change when it was not the agent (a supervisor, the system).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl AgentEvent {
    /// A new, not yet appended event with a fresh id.
    pub fn new(agent: AgentId, at: Timestamp, state: AgentState) -> Self {
        AgentEvent {
            id: EventId::new(),
            agent,
            at,
            seq: Seq::UNASSIGNED,
            state,
            by: None,
        }
    }
}

/// A change to customer master data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CustomerChange {
    /// Create or replace the customer with this id.
    Upserted(Customer),
}

/// Customer master data changed (an import, an edit in the desktop).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerEvent {
    pub id: EventId,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Seq::is_unassigned")]
    pub seq: Seq,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    pub change: CustomerChange,
}

impl CustomerEvent {
    /// A new, not yet appended event with a fresh id.
    pub fn new(at: Timestamp, by: Option<String>, change: CustomerChange) -> Self {
        CustomerEvent {
            id: EventId::new(),
            at,
            seq: Seq::UNASSIGNED,
            by,
            change,
        }
    }
}

/// Something a user did that is not an interaction or agent state change (logins, exports,
/// configuration changes, imports).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: EventId,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Seq::is_unassigned")]
    pub seq: Seq,
    pub user: String,
    pub action: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AuditEvent {
    /// A new, not yet appended event with a fresh id.
    pub fn new(
        at: Timestamp,
        user: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
    ) -> Self {
        AuditEvent {
            id: EventId::new(),
            at,
            seq: Seq::UNASSIGNED,
            user: user.into(),
            action: action.into(),
            target: target.into(),
            detail: None,
        }
    }
}

/// One entry of the log. JSON: `"stream"` names the variant, the event's fields sit beside
/// it, e.g. `{"stream":"interaction","id":"01J...","interaction":"01J...","at":"...",
/// "seq":7,"kind":{"type":"answered","agent":"1001"}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stream", rename_all = "snake_case")]
pub enum Event {
    Interaction(InteractionEvent),
    Agent(AgentEvent),
    Customer(CustomerEvent),
    Audit(AuditEvent),
    Campaign(CampaignEvent),
    Workforce(WorkforceEvent),
}

/// An event that may not be appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event: {0}")]
pub struct InvalidEvent(pub String);

fn check_text(what: &str, s: &str) -> Result<(), InvalidEvent> {
    if s.len() > MAX_TEXT_LEN {
        return Err(InvalidEvent(format!(
            "{what} is {} bytes, over {MAX_TEXT_LEN}",
            s.len()
        )));
    }
    Ok(())
}

fn check_number(what: &str, v: f64, min: f64, max: f64) -> Result<(), InvalidEvent> {
    if !v.is_finite() || v < min || v > max {
        return Err(InvalidEvent(format!(
            "{what} is {v}, not within {min}..={max}"
        )));
    }
    Ok(())
}

impl Event {
    /// The event's unique id.
    pub fn id(&self) -> EventId {
        match self {
            Event::Interaction(e) => e.id,
            Event::Agent(e) => e.id,
            Event::Customer(e) => e.id,
            Event::Audit(e) => e.id,
            Event::Campaign(e) => e.id,
            Event::Workforce(e) => e.id,
        }
    }

    /// When it happened.
    pub fn at(&self) -> Timestamp {
        match self {
            Event::Interaction(e) => e.at,
            Event::Agent(e) => e.at,
            Event::Customer(e) => e.at,
            Event::Audit(e) => e.at,
            Event::Campaign(e) => e.at,
            Event::Workforce(e) => e.at,
        }
    }

    /// Its position in the log ([`Seq::UNASSIGNED`] before append).
    pub fn seq(&self) -> Seq {
        match self {
            Event::Interaction(e) => e.seq,
            Event::Agent(e) => e.seq,
            Event::Customer(e) => e.seq,
            Event::Audit(e) => e.seq,
            Event::Campaign(e) => e.seq,
            Event::Workforce(e) => e.seq,
        }
    }

    /// Sets its position in the log (the store does this on append).
    pub fn set_seq(&mut self, seq: Seq) {
        match self {
            Event::Interaction(e) => e.seq = seq,
            Event::Agent(e) => e.seq = seq,
            Event::Customer(e) => e.seq = seq,
            Event::Audit(e) => e.seq = seq,
            Event::Campaign(e) => e.seq = seq,
            Event::Workforce(e) => e.seq = seq,
        }
    }

    /// The JSON `"stream"` name.
    pub fn stream(&self) -> &'static str {
        match self {
            Event::Interaction(_) => "interaction",
            Event::Agent(_) => "agent",
            Event::Customer(_) => "customer",
            Event::Audit(_) => "audit",
            Event::Campaign(_) => "campaign",
            Event::Workforce(_) => "workforce",
        }
    }

    /// The interaction it belongs to, if any.
    pub fn interaction(&self) -> Option<InteractionId> {
        match self {
            Event::Interaction(e) => Some(e.interaction),
            _ => None,
        }
    }

    /// Checks what JSON cannot carry or a store should not keep: numbers that are not
    /// finite or out of range, and text longer than [`MAX_TEXT_LEN`].
    pub fn validate(&self) -> Result<(), InvalidEvent> {
        match self {
            Event::Interaction(e) => match &e.kind {
                EventKind::Arrived {
                    from, to, trunk, ..
                } => {
                    check_text("from", from)?;
                    check_text("to", to)?;
                    check_text("trunk", trunk.as_deref().unwrap_or(""))
                }
                EventKind::FlowStep { step, detail } => {
                    check_text("step", step)?;
                    check_text("detail", detail.as_deref().unwrap_or(""))
                }
                EventKind::CustomerIdentified { customer } => {
                    check_text("customer", customer.as_str())
                }
                EventKind::Queued { queue, .. } => check_text("queue", queue.as_str()),
                EventKind::Offered { agent } | EventKind::Answered { agent } => {
                    check_text("agent", agent.as_str())
                }
                EventKind::OfferRejected { agent, reason } => {
                    check_text("agent", agent.as_str())?;
                    check_text("reason", reason)
                }
                EventKind::Transferred { to } => check_target(to),
                EventKind::Escalated { to, reason } => {
                    check_target(to)?;
                    check_text("reason", reason)
                }
                EventKind::RecordingStarted { path } | EventKind::VoicemailLeft { path } => {
                    check_text("path", path)
                }
                EventKind::QualitySample {
                    mos,
                    loss,
                    jitter_ms,
                    rtt_ms,
                    ..
                }
                | EventKind::QualityAlert {
                    mos,
                    loss,
                    jitter_ms,
                    rtt_ms,
                    ..
                }
                | EventKind::QualityRecovered {
                    mos,
                    loss,
                    jitter_ms,
                    rtt_ms,
                    ..
                } => {
                    check_number("mos", *mos, 0.0, 5.0)?;
                    check_number("loss", *loss, 0.0, 1.0)?;
                    check_number("jitter_ms", *jitter_ms, 0.0, 1e9)?;
                    check_number("rtt_ms", rtt_ms.unwrap_or(0.0), 0.0, 1e9)
                }
                EventKind::Agitation { score, .. } => check_number("agitation", *score, 0.0, 1.0),
                EventKind::Flagged { by, .. } => check_text("by", by.as_str()),
                EventKind::CallbackRequested { number, .. } => check_text("number", number),
                EventKind::Abandoned { wait_secs } => {
                    check_number("wait_secs", *wait_secs, 0.0, 1e9)
                }
                EventKind::WrappedUp {
                    disposition,
                    notes,
                    by,
                } => {
                    check_text("disposition", disposition)?;
                    check_text("notes", notes.as_deref().unwrap_or(""))?;
                    check_text("by", by.as_ref().map(AgentId::as_str).unwrap_or(""))
                }
                EventKind::NoteAdded { by, text } => {
                    check_text("by", by)?;
                    check_text("text", text)
                }
                EventKind::Message {
                    agent,
                    text,
                    attachments,
                    client_id,
                    subject,
                    ..
                } => {
                    check_text("agent", agent.as_ref().map(AgentId::as_str).unwrap_or(""))?;
                    check_text("text", text)?;
                    check_text("client_id", client_id.as_deref().unwrap_or(""))?;
                    check_text("subject", subject.as_deref().unwrap_or(""))?;
                    if attachments.len() > MAX_ATTACHMENTS {
                        return Err(InvalidEvent(format!(
                            "{} attachments, over {MAX_ATTACHMENTS}",
                            attachments.len()
                        )));
                    }
                    attachments.iter().try_for_each(|a| {
                        check_text("attachment name", &a.name)?;
                        check_text("attachment type", &a.content_type)?;
                        check_text("attachment path", &a.path)
                    })
                }
                EventKind::RecordingFailed { path, error } => {
                    check_text("path", path)?;
                    check_text("error", error)
                }
                EventKind::Dialled {
                    campaign,
                    to,
                    caller_id,
                    ..
                } => {
                    check_text("campaign", campaign)?;
                    check_text("to", to)?;
                    check_text("caller_id", caller_id)
                }
                EventKind::DialOutcome { outcome, detail } => {
                    check_text("outcome", outcome)?;
                    check_text("detail", detail.as_deref().unwrap_or(""))
                }
                EventKind::MessageStatus {
                    status,
                    provider_id,
                    ..
                } => {
                    check_text("status", status)?;
                    check_text("provider_id", provider_id.as_deref().unwrap_or(""))
                }
                EventKind::ChatSession {
                    key,
                    name,
                    language,
                } => {
                    check_text("key", key)?;
                    check_text("name", name)?;
                    check_text("language", language)
                }
                EventKind::MonitorStarted {
                    supervisor, phone, ..
                } => {
                    check_text("supervisor", supervisor)?;
                    check_text("phone", phone)
                }
                EventKind::MonitorModeChanged { supervisor, .. } => {
                    check_text("supervisor", supervisor)
                }
                EventKind::MonitorStopped { supervisor, reason } => {
                    check_text("supervisor", supervisor)?;
                    check_text("reason", reason)
                }
                EventKind::TakenOver { supervisor, agent } => {
                    check_text("supervisor", supervisor)?;
                    check_text("agent", agent.as_str())
                }
                EventKind::MessagesRead { .. }
                | EventKind::Held
                | EventKind::Resumed
                | EventKind::RecordingPaused
                | EventKind::RecordingResumed
                | EventKind::Ended { .. }
                | EventKind::Surveyed { .. }
                | EventKind::Unknown => Ok(()),
            },
            Event::Agent(e) => {
                check_text("agent", e.agent.as_str())?;
                check_text("reason", e.state.reason().unwrap_or(""))?;
                check_text("by", e.by.as_deref().unwrap_or(""))
            }
            Event::Customer(e) => {
                check_text("by", e.by.as_deref().unwrap_or(""))?;
                match &e.change {
                    CustomerChange::Upserted(c) => {
                        check_text("customer id", c.id.as_str())?;
                        check_text("name", &c.name)?;
                        check_text("language", c.language.as_deref().unwrap_or(""))?;
                        let all: usize = c.phones.iter().chain(&c.accounts).map(String::len).sum();
                        if all > MAX_TEXT_LEN {
                            return Err(InvalidEvent(format!(
                                "phones and accounts are {all} bytes, over {MAX_TEXT_LEN}"
                            )));
                        }
                        Ok(())
                    }
                }
            }
            Event::Audit(e) => {
                check_text("user", &e.user)?;
                check_text("action", &e.action)?;
                check_text("target", &e.target)?;
                check_text("detail", e.detail.as_deref().unwrap_or(""))
            }
            Event::Campaign(e) => {
                check_text("campaign", &e.campaign)?;
                check_text("by", e.by.as_deref().unwrap_or(""))?;
                match &e.change {
                    CampaignChange::Defined { definition } => check_text("definition", definition),
                    CampaignChange::ContactsAdded { contacts } => {
                        if contacts.len() > MAX_CONTACTS_PER_EVENT {
                            return Err(InvalidEvent(format!(
                                "{} contacts in one event, over {MAX_CONTACTS_PER_EVENT}",
                                contacts.len()
                            )));
                        }
                        for c in contacts {
                            check_text("phone", &c.phone)?;
                            check_text("name", c.name.as_deref().unwrap_or(""))?;
                            check_text("time_zone", c.time_zone.as_deref().unwrap_or(""))?;
                        }
                        Ok(())
                    }
                    CampaignChange::Control { control } => check_text("control", control),
                    CampaignChange::ContactDone { result, .. } => check_text("result", result),
                    CampaignChange::DncAdded { phone, source } => {
                        check_text("phone", phone)?;
                        check_text("source", source)
                    }
                    CampaignChange::DncRemoved { phone } => check_text("phone", phone),
                    CampaignChange::Unknown => Ok(()),
                }
            }
            Event::Workforce(e) => {
                check_text("by", e.by.as_deref().unwrap_or(""))?;
                match &e.change {
                    WorkforceChange::SchedulePublished {
                        week,
                        agent,
                        segments,
                    } => {
                        check_text("week", week)?;
                        check_text("agent", agent)?;
                        if segments.len() > MAX_SEGMENTS_PER_EVENT {
                            return Err(InvalidEvent(format!(
                                "{} segments in one event, over {MAX_SEGMENTS_PER_EVENT}",
                                segments.len()
                            )));
                        }
                        for s in segments {
                            check_text("activity", &s.activity)?;
                        }
                        Ok(())
                    }
                    WorkforceChange::HistoryImported {
                        queue,
                        channel,
                        week,
                        offered,
                    } => {
                        check_text("queue", queue)?;
                        check_text("channel", channel)?;
                        check_text("week", week)?;
                        if offered.len() > 7 * 96 {
                            return Err(InvalidEvent(format!(
                                "{} intervals in one week's history, over {}",
                                offered.len(),
                                7 * 96
                            )));
                        }
                        for v in offered {
                            check_number("offered", *v, 0.0, 1e9)?;
                        }
                        Ok(())
                    }
                    WorkforceChange::PreferencesSet {
                        agent,
                        prefer_starts,
                        avoid_starts,
                    } => {
                        check_text("agent", agent)?;
                        if prefer_starts.len() + avoid_starts.len() > 64 {
                            return Err(InvalidEvent("over 64 start-time wishes".into()));
                        }
                        for r in prefer_starts.iter().chain(avoid_starts) {
                            check_text("preference", r)?;
                        }
                        Ok(())
                    }
                    WorkforceChange::SpecialDays { days } => {
                        if days.len() > 10_000 {
                            return Err(InvalidEvent(format!(
                                "{} special days, over 10000",
                                days.len()
                            )));
                        }
                        for d in days {
                            check_text("date", &d.date)?;
                            check_text("label", &d.label)?;
                        }
                        Ok(())
                    }
                    WorkforceChange::RequestMade {
                        request,
                        agent,
                        kind,
                        with_agent,
                        note,
                        ..
                    } => {
                        check_text("request", request)?;
                        check_text("agent", agent)?;
                        check_text("kind", kind)?;
                        check_text("with_agent", with_agent.as_deref().unwrap_or(""))?;
                        check_text("note", note.as_deref().unwrap_or(""))
                    }
                    WorkforceChange::RequestDecided { request, note, .. } => {
                        check_text("request", request)?;
                        check_text("note", note.as_deref().unwrap_or(""))
                    }
                    WorkforceChange::Unknown => Ok(()),
                }
            }
        }
    }
}

fn check_target(t: &Target) -> Result<(), InvalidEvent> {
    match t {
        Target::Agent(a) => check_text("target", a.as_str()),
        Target::Queue(q) => check_text("target", q.as_str()),
        Target::External(n) => check_text("target", n),
    }
}

impl From<InteractionEvent> for Event {
    fn from(e: InteractionEvent) -> Self {
        Event::Interaction(e)
    }
}

impl From<AgentEvent> for Event {
    fn from(e: AgentEvent) -> Self {
        Event::Agent(e)
    }
}

impl From<CustomerEvent> for Event {
    fn from(e: CustomerEvent) -> Self {
        Event::Customer(e)
    }
}

/// Most contacts one `contacts_added` event carries (an import is split into several).
pub const MAX_CONTACTS_PER_EVENT: usize = 500;

/// A contact of an outbound campaign, as imported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignContact {
    /// Unique within the campaign.
    pub id: u64,
    /// E.164 number.
    pub phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The called person's IANA time zone, when known (else taken from the number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// What changed in an outbound campaign, or in the do-not-call list (`campaign` is then
/// `"dnc"`). JSON: `"type"` names the variant in snake_case, its fields beside it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CampaignChange {
    /// Created or its settings replaced (while a draft or paused): the definition as JSON.
    Defined { definition: String },
    /// Contacts joined the list.
    ContactsAdded { contacts: Vec<CampaignContact> },
    /// A supervisor's change of state: `start`, `pause`, `resume` or `finish`.
    Control { control: String },
    /// A contact is done (`reached`, `message_left`, `exhausted:busy`, `do_not_call`, ...).
    ContactDone { contact: u64, result: String },
    /// A number joins the do-not-call list (`source`: `import`, `api`, `flow`).
    DncAdded { phone: String, source: String },
    /// A number leaves the do-not-call list.
    DncRemoved { phone: String },
    /// A change written by a newer version.
    #[serde(other)]
    Unknown,
}

impl CampaignChange {
    /// The JSON `"type"` name.
    pub fn name(&self) -> &'static str {
        match self {
            CampaignChange::Defined { .. } => "defined",
            CampaignChange::ContactsAdded { .. } => "contacts_added",
            CampaignChange::Control { .. } => "control",
            CampaignChange::ContactDone { .. } => "contact_done",
            CampaignChange::DncAdded { .. } => "dnc_added",
            CampaignChange::DncRemoved { .. } => "dnc_removed",
            CampaignChange::Unknown => "unknown",
        }
    }
}

/// Something that happened to an outbound campaign or to the do-not-call list. A
/// campaign's state is rebuilt from these; its dial attempts are interactions
/// (`dialled`, `dial_outcome`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignEvent {
    pub id: EventId,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Seq::is_unassigned")]
    pub seq: Seq,
    pub campaign: String,
    /// The user who made the change, if a user did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    pub change: CampaignChange,
}

impl CampaignEvent {
    /// A new, not yet appended event with a fresh id.
    pub fn new(at: Timestamp, campaign: impl Into<String>, change: CampaignChange) -> Self {
        CampaignEvent {
            id: EventId::new(),
            at,
            seq: Seq::UNASSIGNED,
            campaign: campaign.into(),
            by: None,
            change,
        }
    }
}

/// Most planned segments one `schedule_published` event carries: an agent's week.
pub const MAX_SEGMENTS_PER_EVENT: usize = 2000;

/// A stretch of an agent's plan: `[start, end)`, doing `activity` (`work`, `break`,
/// `lunch`, `offline`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedSegment {
    pub start: Timestamp,
    pub end: Timestamp,
    pub activity: String,
}

/// A change to the workforce plan. JSON: `"type"` names the variant in snake_case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkforceChange {
    /// An agent's plan for the week starting `week` (a Monday, `YYYY-MM-DD`, in the centre's
    /// time zone) replaced by `segments` (empty: nothing planned that week).
    SchedulePublished {
        week: String,
        agent: String,
        segments: Vec<PlannedSegment>,
    },
    /// Contacts offered per 15-minute interval of one week (`week`: its Monday,
    /// `YYYY-MM-DD`, local time) to one queue and channel, imported from another system: a
    /// new centre's forecast learns from it. Replaces an earlier import of the same week.
    HistoryImported {
        queue: String,
        channel: String,
        week: String,
        offered: Vec<f64>,
    },
    /// The centre's list of holidays and special days, replaced.
    SpecialDays { days: Vec<SpecialDayEntry> },
    /// An agent asks for time off (`kind` `time_off`: no work in `[from, to)`) or to swap
    /// with `with_agent` what each is planned in `[from, to)` (`kind` `swap`).
    RequestMade {
        request: String,
        agent: String,
        kind: String,
        from: Timestamp,
        to: Timestamp,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with_agent: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// A supervisor's answer to a request; an approval comes with the plans it changes
    /// (`schedule_published` events appended with it).
    RequestDecided {
        request: String,
        approved: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// An agent's wishes about when shifts start (`HH:MM-HH:MM` local, every day), replacing
    /// the ones set before; the plan weighs them, the configuration's for an agent who set
    /// none.
    PreferencesSet {
        agent: String,
        prefer_starts: Vec<String>,
        avoid_starts: Vec<String>,
    },
    /// A change written by a newer version.
    #[serde(other)]
    Unknown,
}

/// A holiday or special day: `date` (`YYYY-MM-DD`) and a label shared by its occurrences
/// over the years (`new-year`, `salary-day`), from which the forecast learns its effect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialDayEntry {
    pub date: String,
    pub label: String,
}

impl WorkforceChange {
    /// The JSON `"type"` name.
    pub fn name(&self) -> &'static str {
        match self {
            WorkforceChange::SchedulePublished { .. } => "schedule_published",
            WorkforceChange::HistoryImported { .. } => "history_imported",
            WorkforceChange::SpecialDays { .. } => "special_days",
            WorkforceChange::RequestMade { .. } => "request_made",
            WorkforceChange::RequestDecided { .. } => "request_decided",
            WorkforceChange::PreferencesSet { .. } => "preferences_set",
            WorkforceChange::Unknown => "unknown",
        }
    }
}

/// A change to the workforce plan; the plan is rebuilt from these.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkforceEvent {
    pub id: EventId,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Seq::is_unassigned")]
    pub seq: Seq,
    /// The user who made the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    pub change: WorkforceChange,
}

impl WorkforceEvent {
    /// A new, not yet appended event with a fresh id.
    pub fn new(at: Timestamp, change: WorkforceChange) -> Self {
        WorkforceEvent {
            id: EventId::new(),
            at,
            seq: Seq::UNASSIGNED,
            by: None,
            change,
        }
    }
}

impl From<WorkforceEvent> for Event {
    fn from(e: WorkforceEvent) -> Self {
        Event::Workforce(e)
    }
}

impl From<CampaignEvent> for Event {
    fn from(e: CampaignEvent) -> Self {
        Event::Campaign(e)
    }
}

impl From<AuditEvent> for Event {
    fn from(e: AuditEvent) -> Self {
        Event::Audit(e)
    }
}
