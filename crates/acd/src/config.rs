//! Configuration types: queues, agents, routing and wellbeing rules.
//!
//! Every type here is serde-serializable so that the configuration file of a centre can embed
//! it directly. Unknown keys are rejected.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Highest skill level an agent can hold.
pub const MAX_LEVEL: u8 = 10;

/// Most distinct skills the engine keeps (a live skill change naming more new skills is
/// refused): each skill costs the engine a fixed set of indexes.
pub const MAX_SKILLS: usize = 1024;

/// Media channel of a contact. Voice is exclusive (one at a time, nothing else beside it);
/// chat and e-mail can be handled several at once up to the agent's capacity.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Telephone call.
    #[default]
    Voice,
    /// Web or messaging chat.
    Chat,
    /// E-mail or other deferred written contact.
    Email,
}

impl Channel {
    pub(crate) const ALL: [Channel; 3] = [Channel::Voice, Channel::Chat, Channel::Email];

    pub(crate) fn index(self) -> usize {
        match self {
            Channel::Voice => 0,
            Channel::Chat => 1,
            Channel::Email => 2,
        }
    }
}

/// How a queue chooses among several agents able to take a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The agent who has been free the longest.
    #[default]
    LongestIdle,
    /// The agent who has handled the fewest contacts since logging in.
    FewestContacts,
    /// The agent with the lowest occupancy since logging in (measured when the agent became free).
    LeastOccupied,
    /// The agent who was offered a contact least recently.
    RoundRobin,
    /// Offer to every eligible free agent at once (bounded by `ring_all_limit`); the first to
    /// answer takes it. Meant for small teams.
    RingAll,
    /// The agent with the highest level in the queue's most demanding skill; ties go to the
    /// longest idle.
    BestFit,
}

/// What happens to a contact that has waited the queue's maximum wait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MaxWaitAction {
    /// Move the contact to another queue (by name); it keeps its original arrival order there.
    Overflow {
        /// Target queue name.
        queue: String,
    },
    /// Hand the caller to voicemail: the contact leaves the engine.
    Voicemail,
    /// Disconnect the caller (after a message): the contact leaves the engine.
    Disconnect,
}

/// Maximum wait of a queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxWait {
    /// Seconds after entering the queue.
    pub seconds: f64,
    /// What to do then.
    pub action: MaxWaitAction,
}

/// A timed step that widens who may take a waiting contact ("bullseye" routing). Steps are
/// cumulative: at step *k*, every change of steps `0..=k` applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct OverflowStep {
    /// Seconds after entering the queue when this step applies.
    pub after_seconds: f64,
    /// Lower every minimum level of the queue's own requirement by this much (never below 1).
    pub lower_levels_by: u8,
    /// Also accept agents who hold all of these skills at these levels (an alternative
    /// requirement), e.g. `{ general = 3 }`.
    pub add_skills: BTreeMap<String, u8>,
    /// Also accept agents who meet the base requirement of these queues.
    pub add_queues: Vec<String>,
}

/// Definition of a queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Unique name.
    pub name: String,
    /// Required skills and their minimum level (1..=10). Empty means any agent.
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    /// Channel of the contacts in this queue.
    #[serde(default)]
    pub channel: Channel,
    /// Queue priority: added to every contact's priority; higher is served first.
    #[serde(default)]
    pub priority: i32,
    /// Service-level target: answer within this many seconds.
    #[serde(default = "default_target")]
    pub target_seconds: f64,
    /// Agent selection strategy.
    #[serde(default)]
    pub strategy: Strategy,
    /// Maximum wait and what happens at it.
    #[serde(default)]
    pub max_wait: Option<MaxWait>,
    /// Timed overflow steps, in increasing `after_seconds`.
    #[serde(default)]
    pub overflow: Vec<OverflowStep>,
    /// Wrap-up seconds after each contact (the agent may extend it).
    #[serde(default)]
    pub wrap_up_seconds: f64,
    /// Expected handle time in seconds, the starting point of the wait estimate before
    /// handle times have been observed.
    #[serde(default = "default_aht")]
    pub expected_handle_seconds: f64,
    /// Seconds an offer of this queue's contacts rings before it counts as not answered;
    /// the engine's `offer_timeout_seconds` when `None` (0 = never times out).
    #[serde(default)]
    pub offer_timeout_seconds: Option<f64>,
}

fn default_target() -> f64 {
    20.0
}
fn default_aht() -> f64 {
    180.0
}

impl QueueConfig {
    /// A voice queue with the given name and required skills, other settings default.
    pub fn new(name: impl Into<String>, skills: &[(&str, u8)]) -> Self {
        QueueConfig {
            name: name.into(),
            skills: skills.iter().map(|(s, l)| ((*s).to_string(), *l)).collect(),
            channel: Channel::Voice,
            priority: 0,
            target_seconds: default_target(),
            strategy: Strategy::LongestIdle,
            max_wait: None,
            overflow: Vec::new(),
            wrap_up_seconds: 0.0,
            expected_handle_seconds: default_aht(),
            offer_timeout_seconds: None,
        }
    }
}

/// How many contacts of each channel an agent can hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Capacity {
    /// Voice calls (0 or 1).
    pub voice: u8,
    /// Concurrent chats.
    pub chat: u8,
    /// Concurrent e-mails.
    pub email: u8,
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity {
            voice: 1,
            chat: 3,
            email: 5,
        }
    }
}

impl Capacity {
    pub(crate) fn of(&self, ch: Channel) -> u8 {
        match ch {
            Channel::Voice => self.voice.min(1),
            Channel::Chat => self.chat,
            Channel::Email => self.email,
        }
    }
}

/// Definition of an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Unique name (extension or login).
    pub name: String,
    /// Skills and levels (1..=10).
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    /// Channel capacity.
    #[serde(default)]
    pub capacity: Capacity,
}

impl AgentConfig {
    /// An agent with the given skills and the default capacity.
    pub fn new(name: impl Into<String>, skills: &[(&str, u8)]) -> Self {
        AgentConfig {
            name: name.into(),
            skills: skills.iter().map(|(s, l)| ((*s).to_string(), *l)).collect(),
            capacity: Capacity::default(),
        }
    }
}

/// Agent wellbeing rules. Every rule can be switched off on its own; `enabled = false` switches
/// them all off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WellbeingRules {
    /// Master switch.
    pub enabled: bool,
    /// A contact whose reported agitation is at least this (0..=1), or that the agent flagged
    /// as abusive, counts as difficult.
    pub agitation_threshold: f32,
    /// Seconds of recovery break after a difficult contact (0 = off). The break is recorded
    /// apart from ordinary breaks and does not count against the agent. A break or
    /// not-ready the agent asked for during the contact takes its place.
    pub recovery_break_seconds: f64,
    /// At most this many difficult contacts in a row for one agent (0 = off): an agent who
    /// reached it is not offered contacts announced as difficult until a calm one or a break.
    pub max_difficult_in_row: u32,
    /// Offer contacts announced as difficult to the agent with the fewest difficult contacts
    /// so far, among the first 16 eligible free agents in the queue's order (ties: the
    /// queue's order).
    pub fair_spread: bool,
    /// Occupancy ceiling (0..1) over a sliding window (0 = off): an agent above it gets a
    /// short pause after the contact.
    pub occupancy_ceiling: f64,
    /// Length of the sliding window, in minutes.
    pub occupancy_window_minutes: f64,
    /// Longest pause the occupancy ceiling imposes, in seconds.
    pub max_pause_seconds: f64,
    /// Contacts announced with an agitation at least this (0..=1) are escalated to the senior
    /// skill (0 = off).
    pub escalate_agitation: f32,
}

impl Default for WellbeingRules {
    fn default() -> Self {
        WellbeingRules {
            enabled: true,
            agitation_threshold: 0.7,
            recovery_break_seconds: 120.0,
            max_difficult_in_row: 2,
            fair_spread: true,
            occupancy_ceiling: 0.0,
            occupancy_window_minutes: 60.0,
            max_pause_seconds: 300.0,
            escalate_agitation: 0.0,
        }
    }
}

impl WellbeingRules {
    /// All rules off.
    pub fn off() -> Self {
        WellbeingRules {
            enabled: false,
            ..WellbeingRules::default()
        }
    }
}

/// Engine-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Seconds an offer rings before it counts as not answered (0 = never times out); a
    /// queue may set its own.
    pub offer_timeout_seconds: f64,
    /// After this many offers in a row not answered (rang out, or refused with
    /// `no_answer`), the agent goes not-ready with the reason `no-answer` (0 = never).
    pub max_no_answer: u32,
    /// Seconds an agent who did not take an offer (rang out or declined) is not offered that
    /// contact again; the exclusion also ends when the agent comes back to available from
    /// not-ready, a break or a logout, and when the contact overflows to another queue.
    pub retry_seconds: f64,
    /// Longest such wait: each further refusal of the same contact by the same agent
    /// doubles it, up to this.
    pub retry_max_seconds: f64,
    /// After this many offers in a row declined (busy, do-not-disturb), the agent goes
    /// not-ready with the reason `declined` (0 = never).
    pub max_declines: u32,
    /// Priority added for VIP callers.
    pub vip_boost: i32,
    /// Seconds a contact with a preferred (last) agent waits for that agent alone.
    pub preferred_agent_seconds: f64,
    /// Skill required for escalated contacts.
    pub senior_skill: String,
    /// Most agents a ring-all queue rings at once.
    pub ring_all_limit: usize,
    /// Most candidates examined per decision when a contact needs several skills or rules
    /// exclude agents (keeps every decision bounded).
    pub scan_limit: usize,
    /// Wellbeing rules.
    pub wellbeing: WellbeingRules,
    /// Which channels may be offered beside contacts of another channel.
    pub blend: Blend,
}

/// What may interrupt what: which channels an agent already holding contacts may be offered.
/// A channel's own capacity ([`Capacity`]) always applies besides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Blend {
    /// Chats and e-mails may be offered to an agent on a call.
    pub written_during_call: bool,
    /// A call may be offered to an agent holding chats or e-mails (it takes the call beside
    /// them).
    pub call_during_written: bool,
    /// Chats may be offered to an agent holding e-mails, and e-mails beside chats.
    pub chat_with_email: bool,
}

impl Default for Blend {
    /// One call and nothing else; chats and e-mails together.
    fn default() -> Self {
        Blend {
            written_during_call: false,
            call_during_written: false,
            chat_with_email: true,
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            offer_timeout_seconds: 20.0,
            max_no_answer: 2,
            retry_seconds: 5.0,
            retry_max_seconds: 60.0,
            max_declines: 3,
            vip_boost: 100,
            preferred_agent_seconds: 30.0,
            senior_skill: "senior".to_string(),
            ring_all_limit: 16,
            scan_limit: 256,
            wellbeing: WellbeingRules::default(),
            blend: Blend::default(),
        }
    }
}
