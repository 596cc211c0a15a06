//! Read queries over the projections and the log, on the read pool.

use std::collections::HashMap;

use crate::db::{Backend, Row, q, q_owned};
use crate::{Error, Result, Store, decode, get};
use hotline_model::{
    AgentId, AgentState, AgentStatus, AuditEntry, CallQuality, Customer, CustomerId, Event,
    HistoryEntry, InteractionId, InteractionRecord, LegQuality, Note, RecordingEntry, Seq,
    Timestamp, is_complaint, is_resolved_disposition, normalize_email, normalize_phone,
};

macro_rules! interactions_where {
    ($rest:literal) => {
        concat!(
            "SELECT id, channel, from_addr, to_addr, trunk, queue, agent, customer,
                started_ns, answered_ns, ended_ns, end_reason, recording, mos, agitation, survey,
                disposition, flagged, escalated, transfers, callback_number, voicemail,
                abandoned_after_secs, last_at_ns, last_seq, monitoring, caller_mos, caller_jitter_ms,
                caller_loss, caller_rtt_ms, agent_mos, agent_jitter_ms, agent_loss, agent_rtt_ms,
                quality_alerts FROM interactions ",
            $rest
        )
    };
}

fn decode_row(row: &Row) -> Result<Event> {
    decode(row.at(0)?, &row.at::<String>(1)?)
}

fn corrupt(key: &str, why: impl ToString) -> Error {
    Error::Corrupt {
        key: key.to_owned(),
        why: why.to_string(),
    }
}

fn seq_of(v: i64) -> Seq {
    Seq(u64::try_from(v).unwrap_or(0))
}

fn interaction_from_row(row: &Row) -> Result<InteractionRecord> {
    let id: String = get(row, "id")?;
    let parse_id = id.parse::<InteractionId>().map_err(|e| corrupt(&id, e))?;
    let channel = get::<Option<String>>(row, "channel")?
        .map(|c| c.parse().map_err(|e| corrupt(&id, e)))
        .transpose()?;
    let end_reason = get::<Option<String>>(row, "end_reason")?
        .map(|c| c.parse().map_err(|e| corrupt(&id, e)))
        .transpose()?;
    let ts = |col: &str| -> Result<Option<Timestamp>> {
        Ok(get::<Option<i64>>(row, col)?.map(Timestamp::from_unix_nanos))
    };
    let survey = get::<Option<i64>>(row, "survey")?
        .map(|s| u8::try_from(s).map_err(|e| corrupt(&id, e)))
        .transpose()?;
    Ok(InteractionRecord {
        id: parse_id,
        channel,
        from: get(row, "from_addr")?,
        to: get(row, "to_addr")?,
        trunk: get(row, "trunk")?,
        queue: get::<Option<String>>(row, "queue")?.map(Into::into),
        agent: get::<Option<String>>(row, "agent")?.map(Into::into),
        customer: get::<Option<String>>(row, "customer")?.map(Into::into),
        started: Timestamp::from_unix_nanos(get(row, "started_ns")?),
        answered: ts("answered_ns")?,
        ended: ts("ended_ns")?,
        end_reason,
        recording: get(row, "recording")?,
        mos: get(row, "mos")?,
        quality: CallQuality {
            caller: leg_quality(row, Leg::Caller)?,
            agent: leg_quality(row, Leg::Agent)?,
            alerts: u32::try_from(get::<i64>(row, "quality_alerts")?).unwrap_or(u32::MAX),
        },
        agitation: get(row, "agitation")?,
        survey,
        disposition: get(row, "disposition")?,
        flagged: get::<i64>(row, "flagged")? != 0,
        escalated: get::<i64>(row, "escalated")? != 0,
        transfers: u32::try_from(get::<i64>(row, "transfers")?).unwrap_or(u32::MAX),
        callback_number: get(row, "callback_number")?,
        voicemail: get(row, "voicemail")?,
        abandoned_after_secs: get(row, "abandoned_after_secs")?,
        last_event_at: Timestamp::from_unix_nanos(get(row, "last_at_ns")?),
        last_seq: seq_of(get(row, "last_seq")?),
        monitoring: serde_json::from_str(&get::<String>(row, "monitoring")?)
            .map_err(|e| corrupt(&id, e))?,
    })
}

/// A leg's quality columns (`caller_mos`, `caller_jitter_ms`, ...), if it had a sample.
fn leg_quality(row: &Row, leg: Leg) -> Result<Option<LegQuality>> {
    let [mos, jitter, loss, rtt] = match leg {
        Leg::Caller => [
            "caller_mos",
            "caller_jitter_ms",
            "caller_loss",
            "caller_rtt_ms",
        ],
        Leg::Agent => ["agent_mos", "agent_jitter_ms", "agent_loss", "agent_rtt_ms"],
    };
    let Some(mos) = get::<Option<f64>>(row, mos)? else {
        return Ok(None);
    };
    Ok(Some(LegQuality {
        mos,
        jitter_ms: get::<Option<f64>>(row, jitter)?.unwrap_or(0.0),
        loss: get::<Option<f64>>(row, loss)?.unwrap_or(0.0),
        rtt_ms: get(row, rtt)?,
    }))
}

/// The two legs of a call whose quality an interaction record keeps.
#[derive(Clone, Copy)]
enum Leg {
    Caller,
    Agent,
}

fn customer_from_row(row: &Row) -> Result<Customer> {
    let id: String = get(row, "id")?;
    let phones: String = get(row, "phones")?;
    let accounts: String = get(row, "accounts")?;
    Ok(Customer {
        name: get(row, "name")?,
        phones: serde_json::from_str(&phones).map_err(|e| corrupt(&id, e))?,
        accounts: serde_json::from_str(&accounts).map_err(|e| corrupt(&id, e))?,
        emails: serde_json::from_str(&get::<String>(row, "emails")?)
            .map_err(|e| corrupt(&id, e))?,
        vip: get::<i64>(row, "vip")? != 0,
        language: get(row, "language")?,
        pin_hash: get(row, "pin_hash")?,
        id: CustomerId::new(id),
    })
}

fn note_from_row(row: &Row) -> Result<Note> {
    let interaction: String = get(row, "interaction")?;
    Ok(Note {
        seq: seq_of(get(row, "seq")?),
        interaction: interaction.parse().map_err(|e| corrupt(&interaction, e))?,
        at: Timestamp::from_unix_nanos(get(row, "at_ns")?),
        by: get(row, "by_user")?,
        text: get(row, "text")?,
    })
}

impl Store {
    /// Interactions per queue and 15-minute slot (Unix time / 900 s) started in
    /// `[from, to)`, with the talk time of the answered ones: the history a forecast
    /// learns from, a few rows per queue and slot whatever the volume.
    pub async fn queue_slots(&self, from: Timestamp, to: Timestamp) -> Result<Vec<QueueSlot>> {
        // SUM of BIGINT is NUMERIC on PostgreSQL: cast back.
        let rows = q("SELECT queue, started_ns / 900000000000 AS slot, COUNT(*),
                    CAST(SUM(CASE WHEN answered_ns IS NOT NULL AND ended_ns IS NOT NULL
                             THEN 1 ELSE 0 END) AS BIGINT),
                    CAST(SUM(CASE WHEN answered_ns IS NOT NULL AND ended_ns IS NOT NULL
                             THEN (ended_ns - answered_ns) / 1000000 ELSE 0 END) AS BIGINT)
             FROM interactions
             WHERE started_ns >= ? AND started_ns < ? AND queue IS NOT NULL
             GROUP BY queue, started_ns / 900000000000")
        .bind(from.unix_nanos())
        .bind(to.unix_nanos())
        .fetch_all(self.read_pool())
        .await?;
        rows.iter()
            .map(|r| {
                let n = |v: i64| u64::try_from(v).unwrap_or(0);
                Ok(QueueSlot {
                    queue: r.at(0)?,
                    slot: r.at(1)?,
                    offered: n(r.at(2)?),
                    answered: n(r.at(3)?),
                    talk_ms: n(r.at(4)?),
                })
            })
            .collect()
    }

    /// CDRs of the interactions that started at or after `since`, oldest first.
    pub async fn interactions_since(&self, since: Timestamp) -> Result<Vec<InteractionRecord>> {
        let rows = q(interactions_where!(
            "WHERE started_ns >= ? ORDER BY started_ns, id"
        ))
        .bind(since.unix_nanos())
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(interaction_from_row).collect()
    }

    /// One page of the CDRs of the interactions that started at or after `since`, in the
    /// order (`started`, `id`) (oldest first, or newest first with `newest_first`), taking up
    /// to `limit` records after `after` (the last record of the previous page), and only
    /// `agent`'s when given. Records that arrive between pages come in their place in the
    /// order: a page never repeats or skips a record that was there when the walk passed
    /// its place.
    pub async fn interactions_page(
        &self,
        since: Timestamp,
        after: Option<&PageCursor>,
        agent: Option<&str>,
        newest_first: bool,
        limit: u32,
    ) -> Result<Vec<InteractionRecord>> {
        let mut sql = String::from(interactions_where!("WHERE started_ns >= ?"));
        if agent.is_some() {
            sql.push_str(" AND agent = ?");
        }
        if after.is_some() {
            sql.push_str(if newest_first {
                " AND (started_ns, id) < (?, ?)"
            } else {
                " AND (started_ns, id) > (?, ?)"
            });
        }
        sql.push_str(if newest_first {
            " ORDER BY started_ns DESC, id DESC LIMIT ?"
        } else {
            " ORDER BY started_ns, id LIMIT ?"
        });
        let mut query = q_owned(sql).bind(since.unix_nanos());
        if let Some(a) = agent {
            query = query.bind(a.to_owned());
        }
        if let Some(c) = after {
            query = query.bind(c.started.unix_nanos()).bind(c.id.to_string());
        }
        let rows = query
            .bind(i64::from(limit))
            .fetch_all(self.read_pool())
            .await?;
        rows.iter().map(interaction_from_row).collect()
    }

    /// CDRs of the interactions that started in `[from, until)`, oldest first: one day's
    /// (or one interval's) contacts for the reports.
    pub async fn interactions_between(
        &self,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<InteractionRecord>> {
        let rows = q(interactions_where!(
            "WHERE started_ns >= ? AND started_ns < ? ORDER BY started_ns, id"
        ))
        .bind(from.unix_nanos())
        .bind(until.unix_nanos())
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(interaction_from_row).collect()
    }

    /// The CDR of one interaction.
    pub async fn interaction(&self, id: InteractionId) -> Result<Option<InteractionRecord>> {
        let row = q(interactions_where!("WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(self.read_pool())
            .await?;
        row.as_ref().map(interaction_from_row).transpose()
    }

    /// Interactions that have not ended yet, oldest first.
    pub async fn open_interactions(&self) -> Result<Vec<InteractionRecord>> {
        let rows = q(interactions_where!(
            "WHERE ended_ns IS NULL ORDER BY started_ns, id"
        ))
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(interaction_from_row).collect()
    }

    /// All events of one interaction, in order.
    pub async fn interaction_events(&self, id: InteractionId) -> Result<Vec<Event>> {
        let rows = q("SELECT seq, body FROM events WHERE interaction = ? ORDER BY seq")
            .bind(id.to_string())
            .fetch_all(self.read_pool())
            .await?;
        rows.iter().map(decode_row).collect()
    }

    /// Every campaign event (campaigns, their contacts and states, the do-not-call list), in
    /// order: the dialler rebuilds its campaigns from them at start.
    pub async fn campaign_events(&self) -> Result<Vec<hotline_model::CampaignEvent>> {
        let rows = q("SELECT seq, body FROM events WHERE stream = 'campaign' ORDER BY seq")
            .fetch_all(self.read_pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Event::Campaign(e) = decode_row(row)? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// The workforce events (published schedules) after `after`, in order: the API builds
    /// the plan from them and catches up with what was appended since (also by another node).
    pub async fn workforce_events(&self, after: Seq) -> Result<Vec<hotline_model::WorkforceEvent>> {
        let rows =
            q("SELECT seq, body FROM events WHERE stream = 'workforce' AND seq > ? ORDER BY seq")
                .bind(i64::try_from(after.0).unwrap_or(i64::MAX))
                .fetch_all(self.read_pool())
                .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Event::Workforce(e) = decode_row(row)? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// The agents' state changes from `from - lookback` (inclusive) to `to` (exclusive), in
    /// log order: the window's changes and those before it, from which each agent's state
    /// when the window opened is known (an agent with no change in the lookback counts as
    /// logged out). For scoring adherence over a day.
    pub async fn agent_events_between(
        &self,
        from: Timestamp,
        to: Timestamp,
        lookback: std::time::Duration,
    ) -> Result<Vec<hotline_model::AgentEvent>> {
        let start = from
            .unix_nanos()
            .saturating_sub(i64::try_from(lookback.as_nanos()).unwrap_or(i64::MAX));
        let rows = q("SELECT seq, body FROM events
             WHERE stream = 'agent' AND at_ns >= ? AND at_ns < ? ORDER BY seq")
        .bind(start)
        .bind(to.unix_nanos())
        .fetch_all(self.read_pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Event::Agent(e) = decode_row(row)? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// The events that tell what became of the campaigns' calls (`dialled`, `dial_outcome`,
    /// `flow_step`), in log order: the dialler counts the attempts made before a restart.
    pub async fn campaign_call_events(&self) -> Result<Vec<Event>> {
        let rows = q(
            "SELECT e.seq, e.body FROM interactions i JOIN events e ON e.interaction = i.id
             WHERE i.trunk LIKE 'campaign:%'
               AND e.kind IN ('dialled', 'dial_outcome', 'flow_step')
             ORDER BY e.seq",
        )
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(decode_row).collect()
    }

    /// Up to `limit` events with seq greater than `after`, in order: for catching up a
    /// subscriber, exports, and replicas.
    pub async fn events_after(&self, after: Seq, limit: u32) -> Result<Vec<Event>> {
        let rows = q("SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?")
            .bind(i64::try_from(after.0).unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(self.read_pool())
            .await?;
        rows.iter().map(decode_row).collect()
    }

    /// One customer.
    pub async fn customer(&self, id: &CustomerId) -> Result<Option<Customer>> {
        let row = q("SELECT * FROM customers WHERE id = ?")
            .bind(id.as_str().to_owned())
            .fetch_optional(self.read_pool())
            .await?;
        row.as_ref().map(customer_from_row).transpose()
    }

    /// The customer with this phone number (any format [`normalize_phone`] accepts, e.g. a
    /// SIP URI). If several customers share the number, the one with the smallest id.
    pub async fn customer_by_phone(&self, number: &str) -> Result<Option<Customer>> {
        let Some(phone) = normalize_phone(number) else {
            return Ok(None);
        };
        let row = q(
            "SELECT c.* FROM customer_phones p JOIN customers c ON c.id = p.customer
             WHERE p.phone = ? ORDER BY c.id LIMIT 1",
        )
        .bind(phone)
        .fetch_optional(self.read_pool())
        .await?;
        row.as_ref().map(customer_from_row).transpose()
    }

    /// The customer with this e-mail address (any case, with or without a display name).
    /// If several customers share it, the one with the smallest id.
    pub async fn customer_by_email(&self, address: &str) -> Result<Option<Customer>> {
        let Some(email) = normalize_email(address) else {
            return Ok(None);
        };
        let row = q(
            "SELECT c.* FROM customer_emails e JOIN customers c ON c.id = e.customer
             WHERE e.email = ? ORDER BY c.id LIMIT 1",
        )
        .bind(email)
        .fetch_optional(self.read_pool())
        .await?;
        row.as_ref().map(customer_from_row).transpose()
    }

    /// The customer holding this account number (exact match, surrounding spaces ignored).
    /// If several customers share it, the one with the smallest id.
    pub async fn customer_by_account(&self, account: &str) -> Result<Option<Customer>> {
        let account = account.trim();
        if account.is_empty() {
            return Ok(None);
        }
        let row = q(match self.read_pool().backend() {
            Backend::Sqlite => {
                "SELECT c.* FROM customers c
                 WHERE EXISTS (SELECT 1 FROM json_each(c.accounts) a WHERE a.value = ?)
                 ORDER BY c.id LIMIT 1"
            }
            Backend::Postgres => {
                "SELECT c.* FROM customers c
                 WHERE EXISTS (SELECT 1 FROM jsonb_array_elements_text(c.accounts::jsonb) a
                               WHERE a = ?)
                 ORDER BY c.id LIMIT 1"
            }
        })
        .bind(account.to_owned())
        .fetch_optional(self.read_pool())
        .await?;
        row.as_ref().map(customer_from_row).transpose()
    }

    /// Number of customers.
    pub async fn customer_count(&self) -> Result<u64> {
        let n: i64 = q("SELECT COUNT(*) FROM customers")
            .fetch_one(self.read_pool())
            .await?
            .at(0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// A customer's last `limit` interactions, newest first, each with its notes.
    pub async fn customer_history(
        &self,
        customer: &CustomerId,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>> {
        let rows = q(interactions_where!(
            "WHERE customer = ? ORDER BY started_ns DESC, id DESC LIMIT ?"
        ))
        .bind(customer.as_str().to_owned())
        .bind(i64::from(limit))
        .fetch_all(self.read_pool())
        .await?;
        let records = rows
            .iter()
            .map(interaction_from_row)
            .collect::<Result<Vec<_>>>()?;
        let note_rows = q("SELECT n.* FROM notes n JOIN (
                 SELECT id FROM interactions WHERE customer = ?
                 ORDER BY started_ns DESC, id DESC LIMIT ?
             ) i ON n.interaction = i.id ORDER BY n.seq")
        .bind(customer.as_str().to_owned())
        .bind(i64::from(limit))
        .fetch_all(self.read_pool())
        .await?;
        let mut notes: HashMap<InteractionId, Vec<Note>> = HashMap::new();
        for row in &note_rows {
            let n = note_from_row(row)?;
            notes.entry(n.interaction).or_default().push(n);
        }
        Ok(records
            .into_iter()
            .map(|r| HistoryEntry {
                notes: notes.remove(&r.id).unwrap_or_default(),
                interaction: r,
            })
            .collect())
    }

    /// Notes on one interaction, oldest first.
    pub async fn notes(&self, interaction: InteractionId) -> Result<Vec<Note>> {
        let rows = q("SELECT * FROM notes WHERE interaction = ? ORDER BY seq")
            .bind(interaction.to_string())
            .fetch_all(self.read_pool())
            .await?;
        rows.iter().map(note_from_row).collect()
    }

    /// How many of the customer's interactions since `since` (pass now minus 30 days) were
    /// complaints ([`is_complaint`]: queued to `complaints` or a disposition starting with
    /// `complaint`) that are not resolved (no disposition yet, or one that
    /// [`is_resolved_disposition`] does not accept).
    pub async fn repeat_complaints(&self, customer: &CustomerId, since: Timestamp) -> Result<u32> {
        let rows =
            q("SELECT queue, disposition FROM interactions WHERE customer = ? AND started_ns >= ?")
                .bind(customer.as_str().to_owned())
                .bind(since.unix_nanos())
                .fetch_all(self.read_pool())
                .await?;
        let rows = rows
            .iter()
            .map(|r| Ok((r.at::<Option<String>>(0)?, r.at::<Option<String>>(1)?)))
            .collect::<Result<Vec<_>>>()?;
        let n = rows
            .iter()
            .filter(|(q, d)| is_complaint(q.as_deref(), d.as_deref()))
            .filter(|(_, d)| !d.as_deref().is_some_and(is_resolved_disposition))
            .count();
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Audit entries at or after `since`, in log order.
    pub async fn audit(&self, since: Timestamp) -> Result<Vec<AuditEntry>> {
        let rows = q("SELECT * FROM audit WHERE at_ns >= ? ORDER BY seq")
            .bind(since.unix_nanos())
            .fetch_all(self.read_pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    seq: seq_of(get(row, "seq")?),
                    at: Timestamp::from_unix_nanos(get(row, "at_ns")?),
                    user: get(row, "user")?,
                    action: get(row, "action")?,
                    target: get(row, "target")?,
                    detail: get(row, "detail")?,
                })
            })
            .collect()
    }

    /// The latest audit entry of `action` for each target (e.g. each agent's last live skill
    /// change), in log order.
    pub async fn latest_audit(&self, action: &str) -> Result<Vec<AuditEntry>> {
        let rows = q("SELECT * FROM audit WHERE seq IN \
             (SELECT MAX(seq) FROM audit WHERE action = ? GROUP BY target) ORDER BY seq")
        .bind(action.to_owned())
        .fetch_all(self.read_pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    seq: seq_of(get(row, "seq")?),
                    at: Timestamp::from_unix_nanos(get(row, "at_ns")?),
                    user: get(row, "user")?,
                    action: get(row, "action")?,
                    target: get(row, "target")?,
                    detail: get(row, "detail")?,
                })
            })
            .collect()
    }

    /// Recordings and voicemails of one interaction.
    pub async fn recordings(&self, interaction: InteractionId) -> Result<Vec<RecordingEntry>> {
        let rows = q("SELECT * FROM recordings WHERE interaction = ? ORDER BY seq")
            .bind(interaction.to_string())
            .fetch_all(self.read_pool())
            .await?;
        rows.iter()
            .map(|row| {
                let i: String = get(row, "interaction")?;
                Ok(RecordingEntry {
                    path: get(row, "path")?,
                    interaction: i.parse().map_err(|e| corrupt(&i, e))?,
                    kind: get(row, "kind")?,
                    at: Timestamp::from_unix_nanos(get(row, "at_ns")?),
                })
            })
            .collect()
    }

    /// Every agent's latest state, by agent.
    pub async fn agent_states(&self) -> Result<Vec<AgentStatus>> {
        let rows = q("SELECT * FROM agent_states ORDER BY agent")
            .fetch_all(self.read_pool())
            .await?;
        rows.iter()
            .map(|row| {
                let agent: String = get(row, "agent")?;
                let state: String = get(row, "state")?;
                Ok(AgentStatus {
                    state: serde_json::from_str::<AgentState>(&state)
                        .map_err(|e| corrupt(&agent, e))?,
                    agent: AgentId::new(agent),
                    since: Timestamp::from_unix_nanos(get(row, "since_ns")?),
                    seq: seq_of(get(row, "seq")?),
                })
            })
            .collect()
    }

    /// Every projection row as text, table by table in key order: for comparing a rebuild
    /// with the incrementally maintained state, and for support.
    pub async fn dump_projections(&self) -> Result<String> {
        const DUMPS: &[(&str, &str)] = &[
            (
                "interactions",
                "SELECT quote(id)||'|'||quote(channel)||'|'||quote(from_addr)||'|'||quote(to_addr)||'|'||
                 quote(trunk)||'|'||quote(queue)||'|'||quote(agent)||'|'||quote(customer)||'|'||
                 quote(started_ns)||'|'||quote(answered_ns)||'|'||quote(ended_ns)||'|'||
                 quote(end_reason)||'|'||quote(recording)||'|'||quote(mos)||'|'||quote(agitation)||'|'||
                 quote(survey)||'|'||quote(disposition)||'|'||quote(flagged)||'|'||quote(escalated)||'|'||
                 quote(transfers)||'|'||quote(callback_number)||'|'||quote(voicemail)||'|'||
                 quote(abandoned_after_secs)||'|'||quote(last_at_ns)||'|'||quote(last_seq)||'|'||quote(monitoring)||'|'||
                 quote(caller_mos)||'|'||quote(caller_jitter_ms)||'|'||quote(caller_loss)||'|'||
                 quote(caller_rtt_ms)||'|'||quote(agent_mos)||'|'||quote(agent_jitter_ms)||'|'||
                 quote(agent_loss)||'|'||quote(agent_rtt_ms)||'|'||quote(quality_alerts)
                 FROM interactions ORDER BY id",
            ),
            (
                "customers",
                "SELECT quote(id)||'|'||quote(name)||'|'||quote(phones)||'|'||quote(accounts)||'|'||
                 quote(vip)||'|'||quote(language)||'|'||quote(updated_seq)||'|'||quote(emails) FROM customers ORDER BY id",
            ),
            (
                "customer_phones",
                "SELECT quote(phone)||'|'||quote(customer) FROM customer_phones ORDER BY phone, customer",
            ),
            (
                "customer_emails",
                "SELECT quote(email)||'|'||quote(customer) FROM customer_emails ORDER BY email, customer",
            ),
            (
                "notes",
                "SELECT quote(seq)||'|'||quote(interaction)||'|'||quote(at_ns)||'|'||quote(by_user)||'|'||
                 quote(text) FROM notes ORDER BY seq",
            ),
            (
                "audit",
                "SELECT quote(seq)||'|'||quote(at_ns)||'|'||quote(\"user\")||'|'||quote(action)||'|'||
                 quote(target)||'|'||quote(detail) FROM audit ORDER BY seq",
            ),
            (
                "recordings",
                "SELECT quote(path)||'|'||quote(interaction)||'|'||quote(kind)||'|'||quote(at_ns)||'|'||
                 quote(seq) FROM recordings ORDER BY path",
            ),
            (
                "agent_states",
                "SELECT quote(agent)||'|'||quote(state)||'|'||quote(since_ns)||'|'||quote(seq)
                 FROM agent_states ORDER BY agent",
            ),
            (
                "queue_days",
                "SELECT quote(day_ns)||'|'||quote(queue)||'|'||quote(offered)||'|'||quote(answered)||'|'||
                 quote(abandoned) FROM queue_days ORDER BY day_ns, queue",
            ),
            (
                "queue_day_waits",
                "SELECT quote(day_ns)||'|'||quote(queue)||'|'||quote(wait_s)||'|'||quote(answered)
                 FROM queue_day_waits ORDER BY day_ns, queue, wait_s",
            ),
            (
                "queue_intervals",
                "SELECT quote(start_ns)||'|'||quote(queue)||'|'||quote(offered)||'|'||quote(answered)||'|'||
                 quote(abandoned)||'|'||quote(wait_ns)||'|'||quote(talked)||'|'||quote(talk_ns)
                 FROM queue_intervals ORDER BY start_ns, queue",
            ),
            (
                "queue_interval_waits",
                "SELECT quote(start_ns)||'|'||quote(queue)||'|'||quote(wait_s)||'|'||quote(answered)
                 FROM queue_interval_waits ORDER BY start_ns, queue, wait_s",
            ),
            (
                "agent_days",
                "SELECT quote(day_ns)||'|'||quote(agent)||'|'||quote(handled)
                 FROM agent_days ORDER BY day_ns, agent",
            ),
        ];
        let mut out = String::new();
        for (table, sql) in DUMPS {
            let sql = match self.read_pool().backend() {
                Backend::Sqlite => sql.to_string(),
                Backend::Postgres => sql.replace("quote(", "quote_nullable("),
            };
            let lines = q_owned(sql)
                .fetch_all(self.read_pool())
                .await?
                .iter()
                .map(|r| r.at::<String>(0))
                .collect::<Result<Vec<_>, _>>()?;
            out.push_str(&format!("## {table} ({} rows)\n", lines.len()));
            for line in lines {
                out.push_str(&line);
                out.push('\n');
            }
        }
        Ok(out)
    }
}

/// Where a page of interactions ends: the (`started`, `id`) of its last record. The next
/// page starts after it ([`Store::interactions_page`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageCursor {
    pub started: Timestamp,
    pub id: InteractionId,
}

impl PageCursor {
    /// The cursor after `record`.
    pub fn after(record: &InteractionRecord) -> PageCursor {
        PageCursor {
            started: record.started,
            id: record.id,
        }
    }
}

/// A call recording with what the retention policy needs: its interaction's queue and end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgedRecording {
    pub recording: RecordingEntry,
    /// The queue of the interaction (its last), if it was queued.
    pub queue: Option<String>,
    /// When the interaction ended (`None`: still in progress, or its record is missing).
    pub ended: Option<Timestamp>,
}

impl Store {
    /// Call recordings (not voicemails) started before `before`, oldest first, with their
    /// interaction's queue and end: the candidates of the retention policy.
    pub async fn recordings_before(&self, before: Timestamp) -> Result<Vec<AgedRecording>> {
        let rows = q(
            "SELECT r.path, r.interaction, r.kind, r.at_ns, i.queue, i.ended_ns
             FROM recordings r LEFT JOIN interactions i ON i.id = r.interaction
             WHERE r.kind = 'recording' AND r.at_ns < ? ORDER BY r.at_ns, r.seq",
        )
        .bind(before.unix_nanos())
        .fetch_all(self.read_pool())
        .await?;
        rows.iter()
            .map(|row| {
                let i: String = get(row, "interaction")?;
                Ok(AgedRecording {
                    recording: RecordingEntry {
                        path: get(row, "path")?,
                        interaction: i.parse().map_err(|e| corrupt(&i, e))?,
                        kind: get(row, "kind")?,
                        at: Timestamp::from_unix_nanos(get(row, "at_ns")?),
                    },
                    queue: get(row, "queue")?,
                    ended: get::<Option<i64>>(row, "ended_ns")?.map(Timestamp::from_unix_nanos),
                })
            })
            .collect()
    }
}

/// One queue's interactions in one 15-minute slot ([`Store::queue_slots`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSlot {
    pub queue: String,
    /// Unix seconds / 900.
    pub slot: i64,
    pub offered: u64,
    /// Of them, answered and ended.
    pub answered: u64,
    /// Their talk time, milliseconds.
    pub talk_ms: u64,
}
