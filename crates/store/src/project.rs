//! Projections: how each event changes the derived tables. Called by the writer in the
//! same transaction as the event's insert into the log, and by the rebuild, which replays
//! the log through the same function. Everything here depends only on the event (never
//! on the clock or on anything outside the log), so a rebuild gives identical rows.

use crate::db::{Conn, q};
use crate::queue_days;
use hotline_model::{
    AgentEvent, AuditEvent, CustomerChange, CustomerEvent, EndReason, Event, EventKind,
    InteractionEvent, Leg, Target, normalize_email, normalize_phone,
};

/// The version of the projection logic below. Bump it when a projection changes meaning:
/// on open, a database whose projections were built by another version is rebuilt.
/// 2: the day's queue figures (`queue_days`, `queue_day_waits`).
/// (The same per 15-minute interval, `queue_intervals` and `queue_interval_waits`, and each
/// agent's contacts handled per day, `agent_days`, came with schema 13, whose migration
/// fills them from the interaction records instead of a rebuild from the log.)
pub const PROJECTION_VERSION: i64 = 2;

/// The tables that are projections (cleared by a rebuild).
pub(crate) const PROJECTION_TABLES: &[&str] = &[
    "interactions",
    "customers",
    "customer_phones",
    "customer_emails",
    "notes",
    "audit",
    "recordings",
    "agent_states",
    "queue_days",
    "queue_day_waits",
    "queue_intervals",
    "queue_interval_waits",
    "agent_days",
];

pub(crate) fn seq_i64(e: &Event) -> i64 {
    i64::try_from(e.seq().0).unwrap_or(i64::MAX)
}

/// Applies one event (with its seq assigned) to every projection. The SQL is the same on
/// both engines (no `max`/`min` of two values, which PostgreSQL spells differently).
pub(crate) async fn apply(conn: &mut Conn, event: &Event) -> Result<(), sqlx::Error> {
    let seq = seq_i64(event);
    match event {
        Event::Interaction(e) => interaction(conn, seq, e).await,
        Event::Agent(e) => agent(conn, seq, e).await,
        Event::Customer(e) => customer(conn, seq, e).await,
        Event::Audit(e) => audit_event(conn, seq, e).await,
        // Campaigns are rebuilt from their events by the dialler (`Store::campaign_events`).
        Event::Campaign(_) => Ok(()),
        // The plan is rebuilt from its events by the API (`Store::workforce_events`).
        Event::Workforce(_) => Ok(()),
    }
}

async fn audit(
    conn: &mut Conn,
    seq: i64,
    at_ns: i64,
    user: &str,
    action: &str,
    target: &str,
    detail: Option<&str>,
) -> Result<(), sqlx::Error> {
    q("INSERT INTO audit (seq, at_ns, \"user\", action, target, detail) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(seq)
        .bind(at_ns)
        .bind(user.to_owned())
        .bind(action.to_owned())
        .bind(target.to_owned())
        .bind(detail.map(str::to_owned))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn note(
    conn: &mut Conn,
    seq: i64,
    e: &InteractionEvent,
    by: &str,
    text: &str,
) -> Result<(), sqlx::Error> {
    q("INSERT INTO notes (seq, interaction, at_ns, by_user, text) VALUES (?, ?, ?, ?, ?)")
        .bind(seq)
        .bind(e.interaction.to_string())
        .bind(e.at.unix_nanos())
        .bind(by.to_owned())
        .bind(text.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn recording(
    conn: &mut Conn,
    seq: i64,
    e: &InteractionEvent,
    path: &str,
    kind: &str,
) -> Result<(), sqlx::Error> {
    q(
        "INSERT INTO recordings (path, interaction, kind, at_ns, seq) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (path) DO NOTHING",
    )
    .bind(path.to_owned())
    .bind(e.interaction.to_string())
    .bind(kind.to_owned())
    .bind(e.at.unix_nanos())
    .bind(seq)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// `UPDATE interactions SET <set> WHERE id = ?last` with the given binds before the id.
macro_rules! update {
    ($conn:expr, $id:expr, $sql:literal $(, $bind:expr)* $(,)?) => {
        q(concat!("UPDATE interactions SET ", $sql, " WHERE id = ?"))
            $(.bind($bind))*
            .bind($id.clone())
            .execute(&mut *$conn)
            .await
            .map(|_| ())
    };
}

/// An interaction's event: its record, and when the event can change what the record
/// counts for, the figures kept from records (`queue_days`, `queue_intervals`,
/// `agent_days`).
async fn interaction(conn: &mut Conn, seq: i64, e: &InteractionEvent) -> Result<(), sqlx::Error> {
    if !queue_days::matters(&e.kind) {
        return interaction_record(conn, seq, e).await;
    }
    let id = e.interaction.to_string();
    let before = queue_days::counted(conn, &id).await?;
    interaction_record(conn, seq, e).await?;
    let after = queue_days::counted(conn, &id).await?;
    queue_days::change(conn, before, after).await
}

async fn interaction_record(
    conn: &mut Conn,
    seq: i64,
    e: &InteractionEvent,
) -> Result<(), sqlx::Error> {
    let id = e.interaction.to_string();
    let at = e.at.unix_nanos();
    q(
        "INSERT INTO interactions (id, started_ns, last_at_ns, last_seq) VALUES (?1, ?2, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET
             last_at_ns = CASE WHEN excluded.last_at_ns > interactions.last_at_ns
                 THEN excluded.last_at_ns ELSE interactions.last_at_ns END,
             last_seq = excluded.last_seq",
    )
    .bind(id.clone())
    .bind(at)
    .bind(seq)
    .execute(&mut *conn)
    .await?;
    match &e.kind {
        EventKind::Arrived {
            channel,
            from,
            to,
            trunk,
        } => update!(
            conn,
            id,
            "channel = ?, from_addr = ?, to_addr = ?, trunk = ?, started_ns = ?",
            channel.as_str(),
            from.clone(),
            to.clone(),
            trunk.clone(),
            at
        ),
        // A campaign's call: the record reads like an arrival from the number presented to
        // the number dialled, and its trunk names the campaign.
        EventKind::Dialled {
            campaign,
            to,
            caller_id,
            ..
        } => update!(
            conn,
            id,
            "channel = ?, from_addr = ?, to_addr = ?, trunk = ?, started_ns = ?",
            hotline_model::Channel::Voice.as_str(),
            caller_id.clone(),
            to.clone(),
            format!("campaign:{campaign}"),
            at
        ),
        EventKind::CustomerIdentified { customer } => {
            update!(conn, id, "customer = ?", customer.as_str().to_owned())
        }
        EventKind::Queued { queue, .. } => {
            update!(conn, id, "queue = ?", queue.as_str().to_owned())
        }
        EventKind::Answered { agent } => update!(
            conn,
            id,
            "agent = ?, answered_ns = COALESCE(answered_ns, ?)",
            agent.as_str().to_owned(),
            at
        ),
        EventKind::Transferred { to } => match to {
            Target::Queue(q) => update!(
                conn,
                id,
                "transfers = transfers + 1, queue = ?",
                q.as_str().to_owned()
            ),
            Target::Agent(_) | Target::External(_) => {
                update!(conn, id, "transfers = transfers + 1")
            }
        },
        EventKind::Escalated { to, .. } => match to {
            Target::Queue(q) => {
                update!(conn, id, "escalated = 1, queue = ?", q.as_str().to_owned())
            }
            Target::Agent(_) | Target::External(_) => update!(conn, id, "escalated = 1"),
        },
        EventKind::RecordingStarted { path } => {
            update!(conn, id, "recording = COALESCE(recording, ?)", path.clone())?;
            recording(conn, seq, e, path, "recording").await
        }
        EventKind::VoicemailLeft { path } => {
            update!(conn, id, "voicemail = COALESCE(voicemail, ?)", path.clone())?;
            recording(conn, seq, e, path, "voicemail").await
        }
        EventKind::QualitySample {
            leg,
            mos,
            loss,
            jitter_ms,
            rtt_ms,
        } => {
            update!(
                conn,
                id,
                "mos = CASE WHEN mos IS NULL OR mos > ? THEN ? ELSE mos END",
                *mos,
                *mos
            )?;
            match leg {
                Leg::Caller => update!(
                    conn,
                    id,
                    "caller_mos = ?, caller_jitter_ms = ?, caller_loss = ?,
                     caller_rtt_ms = COALESCE(?, caller_rtt_ms)",
                    *mos,
                    *jitter_ms,
                    *loss,
                    *rtt_ms
                ),
                Leg::Agent => update!(
                    conn,
                    id,
                    "agent_mos = ?, agent_jitter_ms = ?, agent_loss = ?,
                     agent_rtt_ms = COALESCE(?, agent_rtt_ms)",
                    *mos,
                    *jitter_ms,
                    *loss,
                    *rtt_ms
                ),
                Leg::Other => Ok(()),
            }
        }
        EventKind::QualityAlert { mos, .. } => update!(
            conn,
            id,
            "quality_alerts = quality_alerts + 1,
             mos = CASE WHEN mos IS NULL OR mos > ? THEN ? ELSE mos END",
            *mos,
            *mos
        ),
        EventKind::Agitation { score, .. } => {
            update!(
                conn,
                id,
                "agitation = CASE WHEN agitation IS NULL OR agitation < ? THEN ? ELSE agitation END",
                *score,
                *score
            )
        }
        EventKind::Flagged { by, flag } => {
            update!(conn, id, "flagged = 1")?;
            let flag = serde_json::to_value(flag)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            audit(
                conn,
                seq,
                at,
                by.as_str(),
                "interaction.flag",
                &id,
                Some(&flag),
            )
            .await
        }
        EventKind::CallbackRequested { number, .. } => {
            update!(conn, id, "callback_number = ?", number.clone())
        }
        EventKind::Abandoned { wait_secs } => {
            update!(conn, id, "abandoned_after_secs = ?", *wait_secs)
        }
        EventKind::Ended { reason } => {
            update!(
                conn,
                id,
                "ended_ns = COALESCE(ended_ns, ?), end_reason = COALESCE(end_reason, ?)",
                at,
                reason.as_str()
            )?;
            if *reason == EndReason::Interrupted {
                audit(
                    conn,
                    seq,
                    at,
                    "system",
                    "interaction.interrupted",
                    &id,
                    None,
                )
                .await?;
            }
            Ok(())
        }
        EventKind::WrappedUp {
            disposition,
            notes,
            by,
        } => {
            update!(conn, id, "disposition = ?", disposition.clone())?;
            let user = by.as_ref().map(|a| a.as_str()).unwrap_or("agent");
            if let Some(text) = notes.as_deref().filter(|t| !t.trim().is_empty()) {
                note(conn, seq, e, user, text).await?;
            }
            audit(
                conn,
                seq,
                at,
                user,
                "interaction.wrap_up",
                &id,
                Some(disposition),
            )
            .await
        }
        EventKind::Surveyed { score } => update!(conn, id, "survey = ?", i64::from(*score)),
        EventKind::NoteAdded { by, text } => {
            note(conn, seq, e, by, text).await?;
            audit(conn, seq, at, by, "interaction.note", &id, None).await
        }
        EventKind::MonitorStarted {
            supervisor, mode, ..
        } => monitor(conn, seq, e, supervisor, "started", Some(*mode), None).await,
        EventKind::MonitorModeChanged { supervisor, mode } => {
            monitor(conn, seq, e, supervisor, "mode_changed", Some(*mode), None).await
        }
        EventKind::MonitorStopped { supervisor, reason } => {
            monitor(conn, seq, e, supervisor, "stopped", None, Some(reason)).await
        }
        EventKind::TakenOver { supervisor, agent } => {
            monitor(
                conn,
                seq,
                e,
                supervisor,
                "taken_over",
                None,
                Some(agent.as_str()),
            )
            .await
        }
        EventKind::FlowStep { .. }
        | EventKind::Message { .. }
        | EventKind::MessagesRead { .. }
        | EventKind::MessageStatus { .. }
        | EventKind::ChatSession { .. }
        | EventKind::DialOutcome { .. }
        | EventKind::Offered { .. }
        | EventKind::OfferRejected { .. }
        | EventKind::Held
        | EventKind::Resumed
        | EventKind::RecordingPaused
        | EventKind::RecordingResumed
        | EventKind::RecordingFailed { .. }
        | EventKind::QualityRecovered { .. }
        | EventKind::Unknown => Ok(()),
    }
}

/// A step of a supervisor's monitoring: one more entry in the record's `monitoring` and a
/// line in the audit trail (`interaction.monitor`).
async fn monitor(
    conn: &mut Conn,
    seq: i64,
    e: &InteractionEvent,
    supervisor: &str,
    action: &str,
    mode: Option<hotline_model::MonitorMode>,
    detail: Option<&str>,
) -> Result<(), sqlx::Error> {
    let id = e.interaction.to_string();
    let row = q("SELECT monitoring FROM interactions WHERE id = ?")
        .bind(id.clone())
        .fetch_optional(&mut *conn)
        .await?;
    let mut entries: Vec<hotline_model::MonitorEntry> = match row {
        Some(r) => serde_json::from_str(&r.get::<String>("monitoring")?).unwrap_or_default(),
        None => Vec::new(),
    };
    entries.push(hotline_model::MonitorEntry {
        at: e.at,
        supervisor: supervisor.to_owned(),
        action: action.to_owned(),
        mode,
        detail: detail.map(str::to_owned),
    });
    let json = serde_json::to_string(&entries).unwrap_or_else(|_| "[]".into());
    update!(conn, id, "monitoring = ?", json)?;
    let what = match (mode, detail) {
        (Some(m), _) => format!("{action} {}", m.as_str()),
        (None, Some(d)) => format!("{action} {d}"),
        (None, None) => action.to_owned(),
    };
    audit(
        conn,
        seq,
        e.at.unix_nanos(),
        supervisor,
        "interaction.monitor",
        &id,
        Some(&what),
    )
    .await
}

async fn agent(conn: &mut Conn, seq: i64, e: &AgentEvent) -> Result<(), sqlx::Error> {
    let state = serde_json::to_string(&e.state).unwrap_or_default();
    let at = e.at.unix_nanos();
    q(
        "INSERT INTO agent_states (agent, state, since_ns, seq) VALUES (?, ?, ?, ?)
         ON CONFLICT (agent) DO UPDATE SET
             state = excluded.state, since_ns = excluded.since_ns, seq = excluded.seq",
    )
    .bind(e.agent.as_str().to_owned())
    .bind(state)
    .bind(at)
    .bind(seq)
    .execute(&mut *conn)
    .await?;
    let detail = match e.state.reason() {
        Some(r) => format!("{}: {r}", e.state.name()),
        None => e.state.name().to_owned(),
    };
    let user = e.by.as_deref().unwrap_or(e.agent.as_str());
    audit(
        conn,
        seq,
        at,
        user,
        "agent.state",
        e.agent.as_str(),
        Some(&detail),
    )
    .await
}

async fn customer(conn: &mut Conn, seq: i64, e: &CustomerEvent) -> Result<(), sqlx::Error> {
    match &e.change {
        CustomerChange::Upserted(c) => {
            let id = c.id.as_str().to_owned();
            q("INSERT INTO customers
                     (id, name, phones, accounts, vip, language, updated_seq, pin_hash, emails)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET
                     name = excluded.name, phones = excluded.phones, accounts = excluded.accounts,
                     vip = excluded.vip, language = excluded.language,
                     updated_seq = excluded.updated_seq, pin_hash = excluded.pin_hash,
                     emails = excluded.emails")
            .bind(id.clone())
            .bind(c.name.clone())
            .bind(serde_json::to_string(&c.phones).unwrap_or_else(|_| "[]".into()))
            .bind(serde_json::to_string(&c.accounts).unwrap_or_else(|_| "[]".into()))
            .bind(i64::from(c.vip))
            .bind(c.language.clone())
            .bind(seq)
            .bind(c.pin_hash.clone())
            .bind(serde_json::to_string(&c.emails).unwrap_or_else(|_| "[]".into()))
            .execute(&mut *conn)
            .await?;
            q("DELETE FROM customer_emails WHERE customer = ?")
                .bind(id.clone())
                .execute(&mut *conn)
                .await?;
            for email in &c.emails {
                q("INSERT INTO customer_emails (email, customer) VALUES (?, ?)
                     ON CONFLICT DO NOTHING")
                .bind(normalize_email(email).unwrap_or_else(|| email.to_lowercase()))
                .bind(id.clone())
                .execute(&mut *conn)
                .await?;
            }
            q("DELETE FROM customer_phones WHERE customer = ?")
                .bind(id.clone())
                .execute(&mut *conn)
                .await?;
            for phone in &c.phones {
                q("INSERT INTO customer_phones (phone, customer) VALUES (?, ?)
                     ON CONFLICT DO NOTHING")
                .bind(normalize_phone(phone).unwrap_or_else(|| phone.clone()))
                .bind(id.clone())
                .execute(&mut *conn)
                .await?;
            }
            let user = e.by.as_deref().unwrap_or("system");
            audit(
                conn,
                seq,
                e.at.unix_nanos(),
                user,
                "customer.upsert",
                &id,
                None,
            )
            .await
        }
    }
}

async fn audit_event(conn: &mut Conn, seq: i64, e: &AuditEvent) -> Result<(), sqlx::Error> {
    audit(
        conn,
        seq,
        e.at.unix_nanos(),
        &e.user,
        &e.action,
        &e.target,
        e.detail.as_deref(),
    )
    .await
}
