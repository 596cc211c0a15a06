//! Identifiers, virtual time, inputs and outputs of the engine.

use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use crate::config::MaxWaitAction;

/// A point in the engine's virtual time, in milliseconds from an origin the shell chooses.
/// The engine never reads a clock: the shell (or the simulator) passes `now` in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Instant(pub u64);

impl Instant {
    /// The origin.
    pub const ZERO: Instant = Instant(0);

    /// From milliseconds.
    pub fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    /// From seconds (rounded to the millisecond; negative and NaN give zero).
    pub fn from_secs_f64(s: f64) -> Self {
        Instant(secs_to_ms(s))
    }

    /// Milliseconds since the origin.
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// Seconds since the origin.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// This instant plus `s` seconds (saturating).
    pub fn add_secs(self, s: f64) -> Self {
        Instant(self.0.saturating_add(secs_to_ms(s)))
    }

    /// Milliseconds from `earlier` to `self` (zero if `earlier` is later).
    pub fn millis_since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

pub(crate) fn secs_to_ms(s: f64) -> u64 {
    if s.is_nan() || s <= 0.0 {
        0
    } else if s >= 1.0e15 {
        u64::MAX / 4
    } else {
        (s * 1000.0).round() as u64
    }
}

/// An agent, numbered by the engine in the order agents are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AgentId(pub u32);

/// A queue, numbered by the engine in the order queues are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QueueId(pub u32);

/// A contact (call, chat, e-mail), numbered by the shell; unique among live contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContactId(pub u64);

/// A new contact entering a queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arrival {
    /// The shell's id for it.
    pub contact: ContactId,
    /// The queue it enters.
    pub queue: QueueId,
    /// Caller priority (higher first), added to the queue's priority.
    pub priority: i32,
    /// VIP callers get the engine's `vip_boost` on top.
    pub vip: bool,
    /// The agent who served this caller last: the contact waits for that agent alone for
    /// `preferred_agent_seconds` before any other agent may take it.
    pub preferred_agent: Option<AgentId>,
    /// Announced as difficult (e.g. a repeated complaint, or agitation measured in the IVR).
    pub difficult: bool,
    /// Agitation measured before queueing (0..=1), if any.
    pub agitation: Option<f32>,
    /// Requires the senior skill.
    pub escalate: bool,
    /// Skills (minimum levels 1..=10) this contact needs beyond its queue's, e.g. a
    /// language chosen in the IVR. They apply at every overflow step. A skill no agent holds
    /// leaves the contact waiting until its queue's maximum wait.
    pub skills: Vec<(String, u8)>,
}

impl Arrival {
    /// A plain contact for `queue`.
    pub fn new(contact: ContactId, queue: QueueId) -> Self {
        Arrival {
            contact,
            queue,
            priority: 0,
            vip: false,
            preferred_agent: None,
            difficult: false,
            agitation: None,
            escalate: false,
            skills: Vec::new(),
        }
    }
}

/// Something that happened, told to the engine by its shell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// The agent logs in and becomes available.
    Login(AgentId),
    /// The agent logs out (refused while the agent holds a contact).
    Logout(AgentId),
    /// The agent becomes available (from not-ready, a break, or ends a break early).
    Ready(AgentId),
    /// The agent goes not-ready with a reason code (takes effect after current contacts).
    NotReady {
        /// Agent.
        agent: AgentId,
        /// Reason code.
        reason: String,
    },
    /// The agent takes a break, timed or until `Ready`.
    Break {
        /// Agent.
        agent: AgentId,
        /// Reason code.
        reason: String,
        /// Length, if timed.
        seconds: Option<f64>,
    },
    /// The agent extends the current wrap-up.
    ExtendWrapUp {
        /// Agent.
        agent: AgentId,
        /// Extra seconds.
        seconds: f64,
    },
    /// The agent ends wrap-up early.
    EndWrapUp(AgentId),
    /// A contact arrives in a queue.
    Arrive(Arrival),
    /// The agent answered an offer.
    Answer {
        /// Contact.
        contact: ContactId,
        /// Agent.
        agent: AgentId,
    },
    /// The agent did not take an offer: declined it (`no_answer = false`), or the phone rang
    /// without answer or could not be reached (`no_answer = true`, counts towards
    /// `max_no_answer` like a ring-out).
    Reject {
        /// Contact.
        contact: ContactId,
        /// Agent.
        agent: AgentId,
        /// Missed rather than declined.
        no_answer: bool,
    },
    /// The offer could not be put to the agent for a reason that is nobody's doing (the
    /// shell had no media for the leg): counts towards no limit and does not lengthen later
    /// waits, but the contact is not offered to that agent again for `retry_seconds`.
    RingFailed {
        /// Contact.
        contact: ContactId,
        /// Agent.
        agent: AgentId,
    },
    /// The caller hung up (or the chat was closed) before being answered.
    Abandon(ContactId),
    /// A connected contact ended.
    End {
        /// Contact.
        contact: ContactId,
        /// Agitation measured over the contact (0..=1), if any.
        agitation: Option<f32>,
        /// The agent flagged the caller as abusive.
        abusive: bool,
    },
    /// The waiting caller asked to be called back: the contact leaves the line but keeps its
    /// place; its turn comes as an offer with `callback = true`.
    Callback(ContactId),
    /// Escalate a waiting contact: it now requires the senior skill.
    Escalate(ContactId),
    /// Replace the agent's skills and levels (1..=10), e.g. a supervisor's change during
    /// the day. The next routing decision uses them: a free agent given a queue's skill is
    /// offered a contact waiting there at once; an agent who lost a skill is offered no more
    /// contacts that need it. An offer already ringing and a contact already connected stay.
    /// A contact that arrived needing a skill nobody had then stays unservable.
    SetSkills {
        /// Agent.
        agent: AgentId,
        /// Every skill the agent holds from now on, with its level.
        skills: std::collections::BTreeMap<String, u8>,
    },
    /// Adds an agent, logged out (as [`crate::Engine::add_agent`]). Refused when an agent of
    /// that name exists, or for a bad skill or level.
    AddAgent(crate::AgentConfig),
    /// Removes an agent for good: refused ([`Error::AgentBusy`]) while it holds or is
    /// offered a contact; otherwise it is logged out (its wrap-up or break ends) and takes
    /// no part in routing, views or counts again. Its id is never reused; its name may be
    /// added again (a new agent, a new id).
    RemoveAgent(AgentId),
    /// Adds a queue (as [`crate::Engine::add_queue`]).
    AddQueue(crate::QueueConfig),
    /// Replaces the settings of the queue of that name (skills, priority, target, strategy,
    /// maximum wait and its action, overflow steps, wrap-up, expected handle, ring timeout;
    /// not its channel). Contacts waiting keep their place in line and their wait, and are
    /// routed by the new settings from the next decision (at once: a free agent the new
    /// settings make eligible is offered a contact now); their overflow step and maximum wait
    /// follow the new timings from when they entered the queue. An offer ringing stays. A
    /// contact already connected keeps the wrap-up of the settings it was answered under.
    SetQueue(crate::QueueConfig),
    /// Replaces the engine-wide rules that may change while the centre runs: offer timeout,
    /// `max_no_answer`, retry seconds, VIP boost (waiting VIP contacts move accordingly),
    /// preferred-agent seconds, ring-all limit and the wellbeing rules. The senior skill and
    /// the scan limit given are ignored (they keep the values the engine was built with).
    /// Offers ringing keep their deadline; contacts waiting for their preferred agent keep
    /// theirs.
    SetRules(crate::EngineConfig),
}

/// The state of an agent, as shown to supervisors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum AgentState {
    /// Not logged in.
    LoggedOut,
    /// Free to take contacts.
    Available,
    /// A contact is ringing at the agent.
    Offered,
    /// Holding at least one contact.
    Busy,
    /// After-contact work.
    WrapUp,
    /// Not ready, with a reason code.
    NotReady {
        /// Reason code (`no-answer` when set by the engine after missed offers).
        reason: String,
    },
    /// On a break.
    Break {
        /// Reason code (`recovery` and `occupancy` are set by the wellbeing rules).
        reason: String,
        /// A recovery break granted by the wellbeing rules (not counted against the agent).
        recovery: bool,
    },
}

/// What the engine asks its shell to do, or tells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// Ring the contact at the agent (for a callback: the agent's turn to call the customer).
    Offer {
        /// Contact.
        contact: ContactId,
        /// Agent.
        agent: AgentId,
        /// The contact is a callback kept in line.
        callback: bool,
    },
    /// Stop ringing (another agent answered, the caller left, or the offer rang out).
    OfferRescinded {
        /// Contact.
        contact: ContactId,
        /// Agent.
        agent: AgentId,
        /// The offer rang out: its ring timeout (the engine's offer timeout) passed without
        /// an answer. It counts towards `max_no_answer`. Otherwise it was withdrawn.
        rang_out: bool,
    },
    /// The contact waits in the queue.
    Queued {
        /// Contact.
        contact: ContactId,
        /// Queue.
        queue: QueueId,
        /// Contacts ahead of it.
        position: u32,
        /// Estimated wait in seconds.
        estimated_wait_seconds: f64,
    },
    /// The contact reached the queue's maximum wait and moved to another queue.
    Overflowed {
        /// Contact.
        contact: ContactId,
        /// Queue it left.
        from: QueueId,
        /// Queue it entered.
        to: QueueId,
    },
    /// The contact reached the queue's maximum wait and left the engine: the shell carries
    /// out the action (voicemail, disconnect, or an overflow to a queue the engine does not
    /// know).
    MaxWaitReached {
        /// Contact.
        contact: ContactId,
        /// Queue.
        queue: QueueId,
        /// What to do.
        action: MaxWaitAction,
    },
    /// A wellbeing rule noticed something a supervisor should know.
    WellbeingAlert {
        /// Agent.
        agent: AgentId,
        /// What.
        alert: WellbeingAlert,
    },
    /// The agent's state changed.
    AgentState {
        /// Agent.
        agent: AgentId,
        /// New state.
        state: AgentState,
    },
}

/// Why a supervisor is alerted about an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum WellbeingAlert {
    /// The agent flagged the caller as abusive.
    AbusiveCaller,
    /// The agent has had this many difficult contacts in a row (the cap was reached).
    DifficultInRow {
        /// Difficult contacts in a row.
        count: u32,
    },
    /// The agent's occupancy over the sliding window went above the ceiling (per mille).
    Occupancy {
        /// Occupancy, per mille.
        permille: u32,
    },
}

/// Position and estimated wait of a waiting contact.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WaitEstimate {
    /// Contacts ahead of it in its queue.
    pub position: u32,
    /// Estimated wait from now, in seconds.
    pub estimated_wait_seconds: f64,
}

/// Wellbeing figures of one agent.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct AgentWellbeing {
    /// Contacts handled (answered).
    pub handled: u64,
    /// Difficult contacts handled (flagged, or agitation above the threshold).
    pub difficult: u64,
    /// Longest run of difficult contacts in a row.
    pub max_difficult_in_row: u32,
    /// Difficult contacts in a row up to now (0 after an ordinary contact or a recovery).
    pub difficult_in_row: u32,
    /// Seconds of recovery break granted.
    pub recovery_seconds: f64,
    /// Seconds of pause imposed by the occupancy ceiling.
    pub pause_seconds: f64,
    /// Seconds logged in.
    pub logged_in_seconds: f64,
    /// Seconds occupied (holding contacts or in wrap-up).
    pub occupied_seconds: f64,
}

/// Errors from the engine. The engine is left unchanged by an input that fails.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// No such agent.
    #[error("unknown agent {0:?}")]
    UnknownAgent(AgentId),
    /// No such queue.
    #[error("unknown queue {0:?}")]
    UnknownQueue(QueueId),
    /// No queue of that name.
    #[error("unknown queue `{0}`")]
    UnknownQueueName(String),
    /// No such live contact.
    #[error("unknown contact {0:?}")]
    UnknownContact(ContactId),
    /// A live contact already has this id.
    #[error("contact {0:?} already exists")]
    DuplicateContact(ContactId),
    /// A queue or agent of that name already exists.
    #[error("`{0}` is defined twice")]
    DuplicateName(String),
    /// A skill level outside 1..=10.
    #[error("skill `{skill}` has level {level}, expected 1..=10")]
    BadLevel {
        /// Skill.
        skill: String,
        /// Level given.
        level: u8,
    },
    /// The input does not fit the current state.
    #[error("{0}")]
    InvalidState(&'static str),
    /// A skill name the engine does not accept (empty, the reserved `*`), or one skill too
    /// many (the engine keeps at most [`crate::MAX_SKILLS`] distinct skills).
    #[error("skill `{0}` is not accepted")]
    BadSkill(String),
    /// The agent holds or is offered a contact (it cannot be removed now).
    #[error("agent {0:?} holds or is offered a contact")]
    AgentBusy(AgentId),
}

/// A fast hasher for the engine's numeric ids (not exposed to untrusted keys' worst cases
/// beyond what the shell chooses as contact ids).
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}

pub(crate) type IdMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<IdHasher>>;
