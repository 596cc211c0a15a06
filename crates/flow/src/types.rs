//! Time, context, inputs and actions of a flow run.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::def::HangupReason;

/// A point in the run's virtual time, in milliseconds from an origin the shell chooses.
/// The interpreter never reads a clock: the shell passes `now` in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Instant(pub u64);

impl Instant {
    /// The origin.
    pub const ZERO: Instant = Instant(0);

    /// From milliseconds.
    pub fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    /// From seconds.
    pub fn from_secs(s: u64) -> Self {
        Instant(s.saturating_mul(1000))
    }

    /// Milliseconds since the origin.
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// This instant plus `ms` milliseconds (saturating).
    pub fn plus_millis(self, ms: u64) -> Self {
        Instant(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self` (zero if `earlier` is later).
    pub fn millis_since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// Identifies one [`FlowAction::Play`]; the shell echoes it in
/// [`FlowInput::PlaybackFinished`]. Reports for plays that were stopped or replaced are
/// ignored, so a late report is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlayId(pub u32);

/// Latest figures of a queue, supplied by the shell (from the routing engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueueStats {
    /// Callers waiting.
    pub waiting: u32,
    /// Estimated wait of a new caller, seconds.
    pub estimated_wait_secs: u64,
}

/// What the shell knows about the call when the run starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallContext {
    /// The caller's number (From / P-Asserted-Identity user part).
    pub caller: String,
    /// The number dialled (e.g. `95588`).
    pub called: String,
    /// Wall-clock time at the run's start instant. Business hours are evaluated at
    /// `wall_clock + (now - start)` in each schedule's own time zone, so a test passes a
    /// fixed value and gets the same answer on any machine.
    pub wall_clock: DateTime<Utc>,
    /// Prompt language to start with (`zh` when `None`); a customer's language found by a
    /// lookup replaces it.
    pub language: Option<String>,
    /// An administrator switched the fault notice on: it is played before the flow starts.
    pub fault_notice: bool,
    /// Initial variables (e.g. from SIP headers).
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Queue figures for `branch` rules; [`FlowInput::QueueStats`] updates them.
    #[serde(default)]
    pub queue_stats: BTreeMap<String, QueueStats>,
}

impl CallContext {
    /// A context with no variables, no queue figures, default language and no fault notice.
    pub fn new(
        caller: impl Into<String>,
        called: impl Into<String>,
        wall_clock: DateTime<Utc>,
    ) -> Self {
        CallContext {
            caller: caller.into(),
            called: called.into(),
            wall_clock,
            language: None,
            fault_notice: false,
            vars: BTreeMap::new(),
            queue_stats: BTreeMap::new(),
        }
    }
}

/// A customer as found by the shell's lookup.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Customer {
    /// Customer id.
    pub id: String,
    /// Name, for agents' screens.
    pub name: String,
    /// A VIP.
    pub vip: bool,
    /// Preferred prompt language (`zh`, `en`).
    pub language: Option<String>,
    /// Complained recently (repeat complaint): routed to complaints with a senior preferred.
    pub repeat_complaint: bool,
    /// Account numbers.
    pub accounts: Vec<String>,
    /// Phone numbers on file; a call from one of them skips the PIN.
    pub phones: Vec<String>,
}

/// How a lookup finds the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupBy {
    /// By the caller's number.
    CallerNumber(String),
    /// By an account number.
    Account(String),
}

/// Digits keyed as a PIN. Neither `Debug` nor serialization (event logs) shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(pub String);

impl Serialize for Pin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for Pin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Pin)
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(***)")
    }
}

/// Something that happened, fed to [`crate::FlowRun::handle`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowInput {
    /// A key (`0`-`9`, `*`, `#`, `A`-`D`), from RFC 4733, in-band detection or SIP INFO.
    Digit(char),
    /// A [`FlowAction::Play`] ended (played out or cut by a key press).
    PlaybackFinished(PlayId),
    /// Answer to [`FlowAction::Lookup`].
    LookupResult(Option<Customer>),
    /// Answer to [`FlowAction::VerifyPin`].
    AuthResult(bool),
    /// The caller's place in its queue.
    QueueUpdate {
        /// Position, 1 = next.
        position: u32,
        /// Estimated wait, seconds.
        estimated_wait_secs: u64,
    },
    /// Figures of a queue for `branch` rules.
    QueueStats {
        /// Queue name.
        queue: String,
        /// The figures.
        stats: QueueStats,
    },
    /// The callback asked by [`FlowAction::OfferCallback`] is booked.
    CallbackAccepted,
    /// The callback could not be booked.
    CallbackDeclined,
    /// An agent answered the queued call.
    Answered {
        /// The agent (extension or id).
        agent: String,
    },
    /// The caller hung up.
    CallerHangup,
}

/// An item of a prompt sequence as the player receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptItem {
    /// A recorded prompt by name (looked up in the play's language).
    Prompt(String),
    /// A number, spoken by the player.
    Number(i64),
    /// Digits, one by one.
    Digits(String),
    /// A duration, spoken by the player.
    DurationSecs(u64),
}

impl PromptItem {
    /// A recorded prompt.
    pub fn prompt(name: &str) -> Self {
        PromptItem::Prompt(name.to_string())
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    /// An agent answered; the shell bridges. Run `after_call` (e.g. `survey`) with the caller
    /// when the agent hangs up first.
    Connected {
        /// The agent.
        agent: String,
        /// The queue.
        queue: String,
        /// Flow to run after the agent leaves.
        after_call: Option<String>,
    },
    /// A callback keeping the caller's place was booked and the call hung up.
    Callback {
        /// The queue that will call back.
        queue: String,
    },
    /// The caller is leaving a message: record until they hang up.
    Voicemail {
        /// The mailbox.
        queue: String,
    },
    /// The call was transferred.
    Transferred {
        /// Where to.
        to: String,
    },
    /// The flow hung up.
    HungUp {
        /// Why.
        reason: HangupReason,
    },
    /// The caller hung up during the flow.
    CallerHangup {
        /// The flow running then.
        flow: String,
        /// The step running then.
        step: String,
    },
}

/// Something the shell must do, taken with [`crate::FlowRun::poll_action`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowAction {
    /// The run entered a step (for the event log).
    StepEntered {
        /// Flow name.
        flow: String,
        /// Step id.
        step: String,
    },
    /// Play prompts (replacing whatever plays), then report
    /// [`FlowInput::PlaybackFinished`] with `id`.
    Play {
        /// Echoed back when done.
        id: PlayId,
        /// What to say.
        prompts: Vec<PromptItem>,
        /// Prompt language.
        language: String,
        /// A key press may cut it.
        barge_in: bool,
    },
    /// Stop what plays (prompt or hold music). No report is expected.
    StopPlayback,
    /// Loop hold music until the next play or stop. No report is expected.
    StartHoldMusic,
    /// Look the customer up; answer with [`FlowInput::LookupResult`].
    Lookup {
        /// By what.
        by: LookupBy,
    },
    /// Check a PIN against the customer's hash on file; answer with
    /// [`FlowInput::AuthResult`].
    VerifyPin {
        /// The customer.
        customer: String,
        /// The account being accessed, if any.
        account: Option<String>,
        /// The keyed PIN.
        pin: Pin,
    },
    /// Put the call in a queue; report [`FlowInput::QueueUpdate`]s and
    /// [`FlowInput::Answered`].
    Enqueue {
        /// Queue name.
        queue: String,
        /// Caller priority (higher first).
        priority: i32,
        /// Required skills (minimum levels) added to or overriding the queue's.
        skills: BTreeMap<String, u32>,
        /// Preferred skills.
        preferred_skills: Vec<String>,
        /// How often position and wait are announced (so the shell can send updates).
        announce_every_secs: Option<u64>,
    },
    /// Take the call out of its queue (the caller hung up while waiting).
    Dequeue {
        /// Queue name.
        queue: String,
    },
    /// Book a callback to `number` keeping the call's place in `queue`; answer with
    /// [`FlowInput::CallbackAccepted`] or [`FlowInput::CallbackDeclined`].
    OfferCallback {
        /// Queue name.
        queue: String,
        /// Number to call back.
        number: String,
    },
    /// Record a message for `queue` until the caller hangs up.
    Voicemail {
        /// Mailbox.
        queue: String,
    },
    /// The caller priority changed.
    SetPriority(i32),
    /// A skill requirement or preference was set.
    SetSkill {
        /// Skill name.
        skill: String,
        /// Minimum level (0 for a preference).
        level: u32,
        /// Preferred rather than required.
        preferred: bool,
    },
    /// A variable was set.
    SetVariable {
        /// Name.
        name: String,
        /// Value.
        value: String,
    },
    /// The prompt language changed.
    SetLanguage(String),
    /// Store a survey score.
    Survey {
        /// 1 to the step's `max_score`.
        score: u8,
    },
    /// The caller's number joins the do-not-call list.
    DoNotCall {
        /// The caller's number.
        number: String,
    },
    /// Transfer the call.
    Transfer {
        /// Where to.
        to: String,
    },
    /// Hang the call up. Only [`FlowAction::Finished`] follows.
    Hangup {
        /// Why.
        reason: HangupReason,
    },
    /// Something worth recording that needs no action.
    Log {
        /// What.
        message: String,
    },
    /// The run is over; nothing follows.
    Finished {
        /// How it ended.
        outcome: Outcome,
    },
}
