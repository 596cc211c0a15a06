//! hotline's shared domain types.
//!
//! A plain data crate: ids, channels, the event log format and the record types that the
//! projections expose. It does no I/O and reads no clock unless asked to
//! ([`Timestamp::now`], [`InteractionId::new`]), so sans-IO cores can use it freely.
//!
//! # The event log format
//!
//! Every state change is an [`Event`]: an [`InteractionEvent`] (an interaction's life from
//! `arrived` to `surveyed`), an [`AgentEvent`] (agent state for wallboards), a
//! [`CustomerEvent`] (customer master data) or an [`AuditEvent`] (who did what). Events are
//! JSON, internally tagged (`"stream"` on the outside, `"type"` on an interaction's `kind`),
//! with timestamps as RFC 3339 UTC strings and ids as strings. The format is versioned by
//! [`EVENT_FORMAT_VERSION`]: a store keeps the version next to each event; a reader meets
//! kinds it does not know as [`EventKind::Unknown`] instead of failing, and new optional
//! fields are added with defaults, so an old binary can still read a newer log.

mod customer;
mod event;
mod ids;
mod records;
mod timestamp;

pub use customer::{
    Customer, is_complaint, is_resolved_disposition, normalize_email, normalize_phone,
};
pub use event::{
    AgentEvent, AgentState, Attachment, AuditEvent, CampaignChange, CampaignContact, CampaignEvent,
    Channel, CustomerChange, CustomerEvent, EVENT_FORMAT_VERSION, EndReason, Event, EventKind,
    Flag, InteractionEvent, InvalidEvent, Leg, MAX_ATTACHMENTS, MAX_CONTACTS_PER_EVENT,
    MAX_SEGMENTS_PER_EVENT, MAX_TEXT_LEN, MonitorMode, PlannedSegment, Sender, SpecialDayEntry,
    Target, WorkforceChange, WorkforceEvent,
};
pub use ids::{AgentId, CustomerId, EventId, InteractionId, ParseIdError, QueueName, Seq};
pub use records::{
    AgentStatus, AuditEntry, CallQuality, HistoryEntry, InteractionRecord, LegQuality,
    MonitorEntry, Note, RecordingEntry,
};
pub use timestamp::{ParseTimestampError, Timestamp};
