//! Rows of the projections, as queries return them and the HTTP API serves them.

use serde::{Deserialize, Serialize};

use crate::event::{AgentState, Channel, EndReason};
use crate::ids::{AgentId, CustomerId, InteractionId, QueueName, Seq};
use crate::timestamp::Timestamp;

/// The CDR of one interaction, derived from its events. Absent facts are `null` in JSON
/// (e.g. `recording` when nothing was recorded).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InteractionRecord {
    pub id: InteractionId,
    /// `None` only if the log holds no `arrived` event for it.
    pub channel: Option<Channel>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub trunk: Option<String>,
    /// The last queue it was queued or transferred to.
    pub queue: Option<QueueName>,
    /// The last agent who answered it.
    pub agent: Option<AgentId>,
    pub customer: Option<CustomerId>,
    /// Time of `arrived` (or of its first event if there is none).
    pub started: Timestamp,
    /// First `answered`.
    pub answered: Option<Timestamp>,
    /// First `ended`; `None` while it is going on.
    pub ended: Option<Timestamp>,
    pub end_reason: Option<EndReason>,
    /// Path of the first recording.
    pub recording: Option<String>,
    /// Worst MOS over all quality samples of all legs.
    pub mos: Option<f64>,
    /// The latest (at the end: final) quality figures of the caller's and the agent's leg,
    /// and how many quality alerts the call raised.
    #[serde(default)]
    pub quality: CallQuality,
    /// Highest agitation score of any leg.
    pub agitation: Option<f64>,
    pub survey: Option<u8>,
    pub disposition: Option<String>,
    /// Flagged abusive by an agent.
    pub flagged: bool,
    pub escalated: bool,
    pub transfers: u32,
    pub callback_number: Option<String>,
    pub voicemail: Option<String>,
    /// Wait reported by `abandoned`.
    pub abandoned_after_secs: Option<f64>,
    /// Time of its latest event.
    pub last_event_at: Timestamp,
    /// Seq of its latest event.
    pub last_seq: Seq,
    /// Supervisors' monitoring of the call, oldest first: each start, mode change, stop
    /// and takeover.
    #[serde(default)]
    pub monitoring: Vec<MonitorEntry>,
}

/// One step of a supervisor's monitoring of a call: `action` is `started`,
/// `mode_changed`, `stopped` or `taken_over`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorEntry {
    pub at: Timestamp,
    pub supervisor: String,
    pub action: String,
    /// The mode from then on (`listen`, `whisper`, `barge`); `null` for a stop or takeover.
    #[serde(default)]
    pub mode: Option<crate::event::MonitorMode>,
    /// Why it stopped (`stopped`, `hangup`, `not_answered`, `call_ended`), or the agent taken
    /// over from.
    #[serde(default)]
    pub detail: Option<String>,
}

/// One leg's quality figures: estimated MOS (1–4.5), interarrival jitter, packet loss
/// (fraction, 0–1) and round-trip time when known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LegQuality {
    pub mos: f64,
    pub jitter_ms: f64,
    pub loss: f64,
    pub rtt_ms: Option<f64>,
}

/// The quality of a call, leg by leg.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CallQuality {
    pub caller: Option<LegQuality>,
    pub agent: Option<LegQuality>,
    /// `quality_alert` events of the call.
    pub alerts: u32,
}

/// A note on an interaction (written in wrap-up or added later).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub seq: Seq,
    pub interaction: InteractionId,
    pub at: Timestamp,
    pub by: String,
    pub text: String,
}

/// One line of a customer's contact history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub interaction: InteractionRecord,
    pub notes: Vec<Note>,
}

/// Who did what, when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: Seq,
    pub at: Timestamp,
    pub user: String,
    pub action: String,
    pub target: String,
    pub detail: Option<String>,
}

/// A recording or voicemail file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingEntry {
    pub path: String,
    pub interaction: InteractionId,
    /// `"recording"` or `"voicemail"`.
    pub kind: String,
    pub at: Timestamp,
}

/// An agent's latest state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentStatus {
    pub agent: AgentId,
    #[serde(flatten)]
    pub state: AgentState,
    pub since: Timestamp,
    pub seq: Seq,
}
