//! What the agent desktop and the supervisor wallboard read besides the core API: the
//! knowledge base and the day's reports.
//!
//! - `GET /api/v1/kb?q=&lang=`: articles whose title or text hold every word of `q`
//!   (case-insensitive substrings, so Chinese needs no word splitting), best first.
//! - `GET /api/v1/kb/{slug}?lang=`: one article, as Markdown.
//! - `GET /api/v1/reports/intervals?date=YYYY-MM-DD`: offered, answered, abandoned and
//!   service level per 15 minutes of a UTC day (supervisors and administrators).
//! - `GET /api/v1/reports/daily.csv?date=YYYY-MM-DD`: the same day as CSV, per interval and
//!   queue, with a total row per queue.
//!
//! Articles are Markdown files named `SLUG.LANG.md` (`card-loss.zh.md`); the first `# `
//! line is the title. The built-in ones ship with the binary; a centre run from a
//! configuration file also reads the `kb/` directory beside that file, whose articles
//! replace built-in ones with the same slug and language.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::Json;
use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hotline_config::Role;
use hotline_model::{EndReason, InteractionRecord, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ApiError;
use crate::v1::{V1, store_error};

/// The knowledge-base articles built into the binary (the demo's).
const BUILT_IN: &[(&str, &str)] = &[
    ("card-loss.zh.md", include_str!("../kb/card-loss.zh.md")),
    ("card-loss.en.md", include_str!("../kb/card-loss.en.md")),
    (
        "transfer-limits.zh.md",
        include_str!("../kb/transfer-limits.zh.md"),
    ),
    (
        "transfer-limits.en.md",
        include_str!("../kb/transfer-limits.en.md"),
    ),
    ("complaints.zh.md", include_str!("../kb/complaints.zh.md")),
    ("complaints.en.md", include_str!("../kb/complaints.en.md")),
    (
        "abusive-callers.zh.md",
        include_str!("../kb/abusive-callers.zh.md"),
    ),
    (
        "abusive-callers.en.md",
        include_str!("../kb/abusive-callers.en.md"),
    ),
];

/// Largest article read from the knowledge directory.
const MAX_ARTICLE_BYTES: u64 = 256 * 1024;

/// What the desk routes need from the configuration.
#[derive(Debug, Default)]
pub struct Desk {
    /// Each queue's wrap-up time, shown as the countdown after a call (replaced when the
    /// queues change live).
    wrap_up_seconds: parking_lot::RwLock<BTreeMap<String, u32>>,
    /// The directory whose `*.md` articles join the built-in ones.
    knowledge: Option<PathBuf>,
}

impl Desk {
    pub fn from_config(cfg: &hotline_config::Config) -> Desk {
        Desk {
            wrap_up_seconds: parking_lot::RwLock::new(wrap_ups(cfg)),
            knowledge: cfg.centre.knowledge.as_ref().map(PathBuf::from),
        }
    }

    /// Takes the queues' wrap-up times of `cfg` (a live change).
    pub fn set_config(&self, cfg: &hotline_config::Config) {
        *self.wrap_up_seconds.write() = wrap_ups(cfg);
    }
}

fn wrap_ups(cfg: &hotline_config::Config) -> BTreeMap<String, u32> {
    cfg.queues
        .iter()
        .map(|q| (q.name.get_ref().clone(), q.wrap_up_seconds))
        .collect()
}

pub fn routes() -> Router<V1> {
    Router::new()
        .route("/api/v1/kb", get(kb_search))
        .route("/api/v1/kb/{slug}", get(kb_article))
        .route("/api/v1/reports/intervals", get(report_intervals))
        .route("/api/v1/reports/daily.csv", get(report_csv))
        .route("/api/v1/me", get(me))
        .route("/api/v1/interactions/{id}/screen-pop", get(screen_pop))
}

/// The query string, or a JSON error saying what is wrong with it.
fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("invalid query string: {}", e.body_text()),
        )
    })
}

/// The path parameter, or a JSON error (e.g. for bytes that are not UTF-8).
fn path(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(p)| p).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_path",
            format!("invalid path: {}", e.body_text()),
        )
    })
}

/// `GET /api/v1/me`: who the token belongs to (the desktop learns its extension here).
async fn me(State(v1): State<V1>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    let role = match who.role {
        Role::Agent => "agent",
        Role::Supervisor => "supervisor",
        Role::Admin => "admin",
    };
    Ok(Json(
        json!({ "user": who.user, "role": role, "agent": who.agent }),
    ))
}

/// `GET /api/v1/interactions/{id}/screen-pop`: what the agent's screen shows while the
/// call rings: the record, the customer (identified, or found by the caller's number),
/// the repeat-complaint flag and the customer's last contacts with their notes. An agent
/// may read it for a contact offered to it; supervisors and administrators for any.
async fn screen_pop(
    State(v1): State<V1>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    let id = path(id)?;
    let record = crate::v1::interaction_record(&v1, &id).await?;
    let store = v1.centre.store();
    if who.role == Role::Agent {
        let events = store
            .interaction_events(record.id)
            .await
            .map_err(store_error)?;
        let offered_to_me = events.iter().any(|e| {
            matches!(e, hotline_model::Event::Interaction(i)
                if matches!(&i.kind, hotline_model::EventKind::Offered { agent }
                    if who.agent.as_deref() == Some(agent.as_str())))
        });
        if !offered_to_me {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "an agent sees only the contacts offered to it",
            ));
        }
    }
    let customer = match (&record.customer, &record.from) {
        (Some(c), _) => store.customer(c).await.map_err(store_error)?,
        (None, Some(from)) => store.customer_by_phone(from).await.map_err(store_error)?,
        (None, None) => None,
    };
    let (history, complaints) = match &customer {
        Some(c) => {
            let mut history = store
                .customer_history(&c.id, 6)
                .await
                .map_err(store_error)?;
            history.retain(|h| h.interaction.id != record.id);
            history.truncate(5);
            let since = Timestamp::from_unix_nanos(Timestamp::now().unix_nanos() - 30 * DAY_NANOS);
            let n = store
                .repeat_complaints(&c.id, since)
                .await
                .map_err(store_error)?;
            // Earlier complaints only: this contact counts once it is in the complaints
            // queue, but it is what the agent is about to hear, not history.
            let this_one = hotline_model::is_complaint(
                record.queue.as_ref().map(|q| q.as_str()),
                record.disposition.as_deref(),
            ) && !record
                .disposition
                .as_deref()
                .is_some_and(hotline_model::is_resolved_disposition);
            (history, n.saturating_sub(u32::from(this_one)))
        }
        None => (Vec::new(), 0),
    };
    let wrap_up_seconds = record
        .queue
        .as_ref()
        .and_then(|q| v1.desk.wrap_up_seconds.read().get(q.as_str()).copied());
    Ok(Json(json!({
        "interaction": record,
        "wrap_up_seconds": wrap_up_seconds,
        "customer": customer.map(hotline_model::Customer::redacted),
        "repeat_complaint": complaints >= 2,
        "open_complaints_30d": complaints,
        "history": history,
    })))
}

/// One knowledge-base article.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    pub slug: String,
    pub lang: String,
    pub title: String,
    pub body: String,
}

impl Article {
    /// From a file name `SLUG.LANG.md` (or `SLUG.md`, taken as Chinese) and its text.
    pub fn parse(file: &str, text: &str) -> Option<Article> {
        let stem = file.strip_suffix(".md")?;
        let (slug, lang) = match stem.rsplit_once('.') {
            Some((s, l)) => (s, l),
            None => (stem, "zh"),
        };
        let valid = |s: &str| {
            !s.is_empty()
                && s.len() <= 80
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !valid(slug) || !valid(lang) {
            return None;
        }
        let title = text
            .lines()
            .find_map(|l| l.strip_prefix("# "))
            .map(|t| t.trim().to_string())
            .unwrap_or_else(|| slug.to_string());
        Some(Article {
            slug: slug.to_string(),
            lang: lang.to_ascii_lowercase(),
            title,
            body: text.to_string(),
        })
    }

    /// How well the article matches every term (0 = not at all): title hits count thrice.
    fn score(&self, terms: &[String]) -> usize {
        if terms.is_empty() {
            return 1;
        }
        let title = self.title.to_lowercase();
        let body = self.body.to_lowercase();
        let mut total = 0;
        for t in terms {
            let n = 3 * title.matches(t.as_str()).count() + body.matches(t.as_str()).count();
            if n == 0 {
                return 0;
            }
            total += n;
        }
        total
    }

    /// The first lines of text after the title, as plain text, for a result list.
    fn excerpt(&self) -> String {
        let text: String = self
            .body
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with('|') && !l.trim().is_empty())
            .map(|l| {
                l.trim_start_matches(|c: char| {
                    c.is_ascii_digit() || matches!(c, '.' | ')' | '-' | '*' | '>' | ' ')
                })
            })
            .collect::<Vec<_>>()
            .join(" ")
            .replace(['*', '`'], "");
        let mut out: String = text.chars().take(120).collect();
        if text.chars().count() > 120 {
            out.push('…');
        }
        out
    }
}

/// Every article: the built-in ones, replaced or joined by the knowledge directory's.
async fn articles(desk: &Desk) -> Vec<Article> {
    let mut all: BTreeMap<(String, String), Article> = BUILT_IN
        .iter()
        .filter_map(|(f, t)| Article::parse(f, t))
        .map(|a| ((a.slug.clone(), a.lang.clone()), a))
        .collect();
    if let Some(dir) = &desk.knowledge
        && let Ok(mut entries) = tokio::fs::read_dir(dir).await
    {
        while let Ok(Some(entry)) = entries.next_entry().await {
            let name = entry.file_name().to_string_lossy().into_owned();
            let small = entry
                .metadata()
                .await
                .is_ok_and(|m| m.is_file() && m.len() <= MAX_ARTICLE_BYTES);
            if !small {
                continue;
            }
            let Ok(text) = tokio::fs::read_to_string(entry.path()).await else {
                continue;
            };
            if let Some(a) = Article::parse(&name, &text) {
                all.insert((a.slug.clone(), a.lang.clone()), a);
            }
        }
    }
    all.into_values().collect()
}

/// The articles matching `q`, best first, preferring `lang` on equal scores.
pub fn search(all: &[Article], q: &str, lang: Option<&str>) -> Vec<Article> {
    let terms: Vec<String> = q.split_whitespace().map(str::to_lowercase).collect();
    let mut hits: Vec<(usize, &Article)> = all
        .iter()
        .map(|a| (a.score(&terms), a))
        .filter(|(s, _)| *s > 0)
        .collect();
    hits.sort_by(|(sa, a), (sb, b)| {
        let pref = |x: &Article| Some(x.lang.as_str()) != lang;
        sb.cmp(sa)
            .then(pref(a).cmp(&pref(b)))
            .then(a.slug.cmp(&b.slug))
    });
    hits.into_iter().map(|(_, a)| a.clone()).collect()
}

#[derive(Deserialize)]
struct KbQuery {
    q: Option<String>,
    lang: Option<String>,
}

async fn kb_search(
    State(v1): State<V1>,
    headers: HeaderMap,
    q: Result<Query<KbQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    v1.auth.principal(&headers)?;
    let q = query(q)?;
    let query = q.q.unwrap_or_default();
    if query.chars().count() > 200 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "`q` is longer than 200 characters",
        ));
    }
    let all = articles(&v1.desk).await;
    let out: Vec<Value> = search(&all, &query, q.lang.as_deref())
        .iter()
        .map(
            |a| json!({ "slug": a.slug, "lang": a.lang, "title": a.title, "excerpt": a.excerpt() }),
        )
        .collect();
    Ok(Json(json!(out)))
}

async fn kb_article(
    State(v1): State<V1>,
    slug: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    q: Result<Query<KbQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    v1.auth.principal(&headers)?;
    let (slug, q) = (path(slug)?, query(q)?);
    let all = articles(&v1.desk).await;
    let lang = q.lang.as_deref().unwrap_or("zh");
    let mut same: Vec<&Article> = all.iter().filter(|a| a.slug == slug).collect();
    same.sort_by_key(|a| a.lang != lang);
    let a = same.first().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_article",
            format!("no article `{slug}`"),
        )
    })?;
    let langs: Vec<&str> = same.iter().map(|a| a.lang.as_str()).collect();
    Ok(Json(json!({
        "slug": a.slug,
        "lang": a.lang,
        "languages": langs,
        "title": a.title,
        "markdown": a.body,
    })))
}

/// The share of contacts to answer within the queue's threshold: the usual 80/20 goal.
pub const SERVICE_LEVEL_GOAL: f64 = 0.8;
/// Minutes in a report interval (the store keeps its projection at the same grain).
pub const INTERVAL_MINUTES: i64 = hotline_store::INTERVAL_MINUTES;
/// The service-level threshold of a queue the configuration no longer names, seconds.
const DEFAULT_TARGET_SECS: f64 = 20.0;
const NANOS_PER_SEC: i64 = 1_000_000_000;
const DAY_NANOS: i64 = 86_400 * NANOS_PER_SEC;

/// The figures of one interval (or of a whole day) for one queue or all of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    pub offered: u64,
    pub answered: u64,
    pub answered_in_target: u64,
    pub abandoned: u64,
    /// Answered within the target over answered plus abandoned; `None` with neither.
    pub service_level: Option<f64>,
    /// Mean wait of the answered, seconds.
    pub mean_wait_secs: Option<f64>,
    /// Mean time from answer to end, seconds.
    pub mean_talk_secs: Option<f64>,
    #[serde(skip)]
    wait_sum: f64,
    #[serde(skip)]
    talk_sum: f64,
    #[serde(skip)]
    talked: u64,
}

impl Figures {
    fn add(&mut self, r: &InteractionRecord, target_secs: f64) {
        self.offered += 1;
        if let Some(a) = r.answered {
            self.answered += 1;
            let wait = (a.unix_nanos() - r.started.unix_nanos()) as f64 / 1e9;
            self.wait_sum += wait;
            if wait <= target_secs {
                self.answered_in_target += 1;
            }
            if let Some(e) = r.ended {
                self.talk_sum += (e.unix_nanos() - a.unix_nanos()) as f64 / 1e9;
                self.talked += 1;
            }
        } else if r.ended.is_some()
            && matches!(
                r.end_reason,
                Some(EndReason::Abandoned) | Some(EndReason::CallerHangup)
            )
        {
            self.abandoned += 1;
        }
    }

    /// One projected interval's figures (see [`hotline_store::QueueInterval`]).
    fn of_interval(r: &hotline_store::QueueInterval) -> Figures {
        Figures {
            offered: r.offered,
            answered: r.answered,
            answered_in_target: r.answered_in_target,
            abandoned: r.abandoned,
            wait_sum: r.wait_ns as f64 / 1e9,
            talk_sum: r.talk_ns as f64 / 1e9,
            talked: r.talked,
            ..Figures::default()
        }
    }

    fn absorb(&mut self, o: &Figures) {
        self.offered += o.offered;
        self.answered += o.answered;
        self.answered_in_target += o.answered_in_target;
        self.abandoned += o.abandoned;
        self.wait_sum += o.wait_sum;
        self.talk_sum += o.talk_sum;
        self.talked += o.talked;
    }

    fn finish(&mut self) {
        let handled = self.answered + self.abandoned;
        self.service_level = (handled > 0).then(|| self.answered_in_target as f64 / handled as f64);
        self.mean_wait_secs = (self.answered > 0).then(|| self.wait_sum / self.answered as f64);
        self.mean_talk_secs = (self.talked > 0).then(|| self.talk_sum / self.talked as f64);
    }
}

/// One interval of the day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interval {
    pub start: Timestamp,
    #[serde(flatten)]
    pub all: Figures,
    pub queues: BTreeMap<String, Figures>,
}

/// A day in intervals, and its totals per queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayReport {
    pub date: String,
    pub interval_minutes: i64,
    /// Each queue's service-level threshold, seconds.
    pub target_seconds: BTreeMap<String, f64>,
    /// The share of contacts to answer within the threshold (the wallboard's alarm line).
    pub service_level_goal: f64,
    pub intervals: Vec<Interval>,
    pub totals: BTreeMap<String, Figures>,
    pub total: Figures,
}

/// The report of the day starting at `day_start` from its contacts (those that reached a
/// queue count; the service-level clock starts at arrival, as on `GET /queues`).
pub fn day_report(
    date: &str,
    day_start: Timestamp,
    records: &[InteractionRecord],
    targets: &BTreeMap<String, f64>,
) -> DayReport {
    let step = INTERVAL_MINUTES * 60 * NANOS_PER_SEC;
    let figures = records.iter().filter_map(|r| {
        let queue = r.queue.as_ref()?.as_str();
        let start = r.started.unix_nanos();
        let interval =
            Timestamp::from_unix_nanos(start - (start - day_start.unix_nanos()).rem_euclid(step));
        let mut f = Figures::default();
        f.add(
            r,
            targets.get(queue).copied().unwrap_or(DEFAULT_TARGET_SECS),
        );
        Some((interval, queue.to_string(), f))
    });
    assemble(date, day_start, figures, targets)
}

/// The same report from the day's projected intervals
/// ([`hotline_store::Store::queue_intervals`], read with the same targets).
pub fn day_report_of_intervals(
    date: &str,
    day_start: Timestamp,
    rows: &[hotline_store::QueueInterval],
    targets: &BTreeMap<String, f64>,
) -> DayReport {
    let figures = rows
        .iter()
        .map(|r| (r.start, r.queue.clone(), Figures::of_interval(r)));
    assemble(date, day_start, figures, targets)
}

/// Sums figures, each of one interval (by its start) and queue, into the day's report.
fn assemble(
    date: &str,
    day_start: Timestamp,
    figures: impl Iterator<Item = (Timestamp, String, Figures)>,
    targets: &BTreeMap<String, f64>,
) -> DayReport {
    let step = INTERVAL_MINUTES * 60 * NANOS_PER_SEC;
    let mut intervals: Vec<Interval> = (0..DAY_NANOS / step)
        .map(|i| Interval {
            start: Timestamp::from_unix_nanos(day_start.unix_nanos() + i * step),
            all: Figures::default(),
            queues: BTreeMap::new(),
        })
        .collect();
    let mut totals: BTreeMap<String, Figures> = BTreeMap::new();
    let mut total = Figures::default();
    for (start, queue, f) in figures {
        let offset = start.unix_nanos() - day_start.unix_nanos();
        if !(0..DAY_NANOS).contains(&offset) {
            continue;
        }
        let Some(slot) = usize::try_from(offset / step)
            .ok()
            .and_then(|i| intervals.get_mut(i))
        else {
            continue;
        };
        slot.all.absorb(&f);
        slot.queues.entry(queue.clone()).or_default().absorb(&f);
        totals.entry(queue).or_default().absorb(&f);
        total.absorb(&f);
    }
    for i in &mut intervals {
        i.all.finish();
        i.queues.values_mut().for_each(Figures::finish);
    }
    totals.values_mut().for_each(Figures::finish);
    total.finish();
    DayReport {
        date: date.to_string(),
        interval_minutes: INTERVAL_MINUTES,
        target_seconds: targets.clone(),
        service_level_goal: SERVICE_LEVEL_GOAL,
        intervals,
        totals,
        total,
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}")).unwrap_or_default()
}

/// The day as CSV: one row per interval and queue with contacts, then one total row per
/// queue (`interval_start` = `total`) and one for the whole centre (`queue` = `all`).
pub fn day_csv(report: &DayReport) -> String {
    let mut out = String::from(
        "interval_start,queue,offered,answered,answered_in_target,abandoned,service_level,mean_wait_secs,mean_talk_secs\n",
    );
    let mut row = |start: &str, queue: &str, f: &Figures| {
        out.push_str(&format!(
            "{start},{queue},{},{},{},{},{},{},{}\n",
            f.offered,
            f.answered,
            f.answered_in_target,
            f.abandoned,
            opt(f.service_level, 4),
            opt(f.mean_wait_secs, 1),
            opt(f.mean_talk_secs, 1),
        ));
    };
    for i in &report.intervals {
        let start = i.start.to_rfc3339();
        for (q, f) in &i.queues {
            row(&start, &csv_field(q), f);
        }
    }
    for (q, f) in &report.totals {
        row("total", &csv_field(q), f);
    }
    row("total", "all", &report.total);
    out
}

/// A CSV field, quoted when it must be; a leading formula character is neutralised so a
/// spreadsheet does not run it.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[derive(Deserialize)]
struct DateQuery {
    date: Option<String>,
}

/// The UTC day `date` (`YYYY-MM-DD`), today when absent: its name and first instant.
fn parse_day(date: Option<&str>) -> Result<(String, Timestamp), ApiError> {
    match date {
        None => {
            let now = Timestamp::now().unix_nanos();
            let start = Timestamp::from_unix_nanos(now - now.rem_euclid(DAY_NANOS));
            let name = start.to_rfc3339().chars().take(10).collect();
            Ok((name, start))
        }
        Some(d) => {
            let bad = || {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_date",
                    format!("`date` must be YYYY-MM-DD, not `{d}`"),
                )
            };
            let shaped = d.len() == 10
                && d.bytes().enumerate().all(|(i, b)| {
                    if i == 4 || i == 7 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                });
            if !shaped {
                return Err(bad());
            }
            let start = Timestamp::parse_rfc3339(&format!("{d}T00:00:00Z")).map_err(|_| bad())?;
            Ok((d.to_string(), start))
        }
    }
}

async fn build_report(
    v1: &V1,
    headers: &HeaderMap,
    date: Option<&str>,
) -> Result<DayReport, ApiError> {
    let who = v1.auth.principal(headers)?;
    if who.role == Role::Agent {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "reports are for supervisors and administrators",
        ));
    }
    let (name, start) = parse_day(date)?;
    let end = Timestamp::from_unix_nanos(start.unix_nanos().saturating_add(DAY_NANOS));
    let targets: BTreeMap<String, f64> = v1
        .centre
        .queues()
        .await
        .into_iter()
        .map(|q| (q.name, q.target_seconds))
        .collect();
    let unavailable = |e: hotline_store::Error| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string())
    };
    // Whole-second targets (the usual case) are read from the projected intervals; any
    // other is counted from the day's records, to the nanosecond.
    let whole =
        |t: f64| (t.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&t)).then_some(t as u32);
    let whole_targets: Option<Vec<(String, u32)>> = targets
        .iter()
        .map(|(q, t)| whole(*t).map(|t| (q.clone(), t)))
        .collect();
    if let (Some(whole_targets), Some(default)) = (whole_targets, whole(DEFAULT_TARGET_SECS)) {
        let rows = v1
            .centre
            .store()
            .queue_intervals(start, end, &whole_targets, default)
            .await
            .map_err(unavailable)?;
        return Ok(day_report_of_intervals(&name, start, &rows, &targets));
    }
    let records = v1
        .centre
        .store()
        .interactions_between(start, end)
        .await
        .map_err(unavailable)?;
    Ok(day_report(&name, start, &records, &targets))
}

async fn report_intervals(
    State(v1): State<V1>,
    headers: HeaderMap,
    q: Result<Query<DateQuery>, QueryRejection>,
) -> Result<Json<DayReport>, ApiError> {
    let q = query(q)?;
    Ok(Json(build_report(&v1, &headers, q.date.as_deref()).await?))
}

async fn report_csv(
    State(v1): State<V1>,
    headers: HeaderMap,
    q: Result<Query<DateQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let report = build_report(&v1, &headers, q.date.as_deref()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"hotline-{}.csv\"", report.date),
            ),
        ],
        day_csv(&report),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_model::{InteractionId, Seq};

    fn record(
        queue: &str,
        start_s: i64,
        wait_s: Option<i64>,
        end_s: i64,
        reason: EndReason,
    ) -> InteractionRecord {
        let t = |s: i64| Timestamp::from_unix_nanos(s * NANOS_PER_SEC);
        InteractionRecord {
            id: InteractionId::new(),
            channel: None,
            from: Some("13800138000".into()),
            to: Some("95588".into()),
            trunk: None,
            queue: Some(queue.into()),
            agent: None,
            customer: None,
            started: t(start_s),
            answered: wait_s.map(|w| t(start_s + w)),
            ended: Some(t(end_s)),
            end_reason: Some(reason),
            recording: None,
            mos: None,
            quality: Default::default(),
            agitation: None,
            survey: None,
            disposition: None,
            flagged: false,
            escalated: false,
            transfers: 0,
            callback_number: None,
            voicemail: None,
            abandoned_after_secs: None,
            last_event_at: t(end_s),
            last_seq: Seq(1),
            monitoring: Vec::new(),
        }
    }

    /// The first half hour of day `day` (unix seconds, a UTC midnight), against targets of
    /// 20 s for cards and 10 s for general.
    fn half_hour(day: i64) -> (BTreeMap<String, f64>, Vec<InteractionRecord>) {
        let targets = BTreeMap::from([("cards".to_string(), 20.0), ("general".into(), 10.0)]);
        let records = vec![
            // 00:00–00:15: answered in 5 s (in target), answered in 30 s (late).
            record(
                "cards",
                day + 10,
                Some(5),
                day + 100,
                EndReason::CallerHangup,
            ),
            record(
                "cards",
                day + 20,
                Some(30),
                day + 200,
                EndReason::AgentHangup,
            ),
            // 00:15–00:30: abandoned; 15 s is within cards' target but late for general's.
            record("cards", day + 900, None, day + 940, EndReason::Abandoned),
            record(
                "general",
                day + 910,
                Some(15),
                day + 990,
                EndReason::CallerHangup,
            ),
        ];
        (targets, records)
    }

    #[test]
    fn the_day_is_cut_into_96_intervals_with_service_level_against_each_queues_target() {
        let day = 20_000 * 86_400;
        let (targets, mut records) = half_hour(day);
        records.extend([
            // The day before and the day after are not today.
            record("cards", day - 1, Some(1), day + 5, EndReason::CallerHangup),
            record(
                "cards",
                day + 86_400,
                Some(1),
                day + 86_500,
                EndReason::CallerHangup,
            ),
        ]);
        let start = Timestamp::from_unix_nanos(day * NANOS_PER_SEC);
        let r = day_report("2024-10-04", start, &records, &targets);
        assert_eq!(r.intervals.len(), 96);
        let first = &r.intervals[0].all;
        assert_eq!(
            (first.offered, first.answered, first.answered_in_target),
            (2, 2, 1)
        );
        assert_eq!(first.service_level, Some(0.5));
        assert_eq!(first.mean_wait_secs, Some(17.5));
        let second = &r.intervals[1];
        assert_eq!(second.all.offered, 2);
        assert_eq!(second.all.abandoned, 1);
        assert_eq!(second.queues["general"].service_level, Some(0.0));
        assert_eq!(second.queues["cards"].service_level, Some(0.0));
        assert!(r.intervals[2..].iter().all(|i| i.all.offered == 0));
        assert_eq!(r.intervals[2].all.service_level, None);
        assert_eq!(r.total.offered, 4);
        assert_eq!(r.totals["cards"].offered, 3);
        assert_eq!(r.totals["cards"].service_level, Some(1.0 / 3.0));

        let csv = day_csv(&r);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0].split(',').count(), 9);
        assert_eq!(lines.len(), 1 + 3 + 2 + 1, "{csv}");
        assert!(
            lines[1].ends_with(",cards,2,2,1,0,0.5000,17.5,117.5"),
            "{csv}"
        );
        assert_eq!(
            *lines.last().unwrap(),
            "total,all,4,3,1,1,0.2500,16.7,100.0"
        );
    }

    #[test]
    fn the_report_from_projected_intervals_equals_the_one_counted_from_records() {
        let day = 20_000 * 86_400;
        let (targets, records) = half_hour(day);
        let s = |x: i64| x * NANOS_PER_SEC;
        let row = |start: i64,
                   queue: &str,
                   [offered, answered, in_target, abandoned, talked]: [u64; 5],
                   wait: i64,
                   talk: i64| {
            hotline_store::QueueInterval {
                start: Timestamp::from_unix_nanos(s(start)),
                queue: queue.into(),
                offered,
                answered,
                answered_in_target: in_target,
                abandoned,
                wait_ns: s(wait),
                talked,
                talk_ns: s(talk),
            }
        };
        // As the store keeps them: what each interval's records add up to.
        let rows = vec![
            row(day, "cards", [2, 2, 1, 0, 2], 35, 85 + 150),
            row(day + 900, "cards", [1, 0, 0, 1, 0], 0, 0),
            row(day + 900, "general", [1, 1, 0, 0, 1], 15, 65),
        ];
        let start = Timestamp::from_unix_nanos(s(day));
        let counted = day_report("2024-10-04", start, &records, &targets);
        let projected = day_report_of_intervals("2024-10-04", start, &rows, &targets);
        assert_eq!(projected, counted);
        assert_eq!(day_csv(&projected), day_csv(&counted));
        assert_eq!(projected.totals["cards"].mean_talk_secs, Some(117.5));
    }

    #[test]
    fn articles_are_found_by_chinese_or_english_words_in_title_or_text() {
        let all: Vec<Article> = BUILT_IN
            .iter()
            .map(|(f, t)| Article::parse(f, t).unwrap())
            .collect();
        assert_eq!(all.len(), BUILT_IN.len());
        let slugs = |q: &str, lang: Option<&str>| -> Vec<(String, String)> {
            search(&all, q, lang)
                .into_iter()
                .map(|a| (a.slug, a.lang))
                .collect()
        };
        assert_eq!(slugs("挂失", None)[0], ("card-loss".into(), "zh".into()));
        assert_eq!(
            slugs("LOST card", None)[0],
            ("card-loss".into(), "en".into())
        );
        assert_eq!(slugs("限额", None)[0].0, "transfer-limits");
        assert!(slugs("no-such-word-anywhere", None).is_empty());
        // Every word must match.
        assert!(slugs("card 不存在的词", None).is_empty());
        // With no query, everything, the preferred language first on equal scores.
        let every = slugs("", Some("en"));
        assert_eq!(every.len(), all.len());
        assert_eq!(every[0].1, "en");
    }

    #[test]
    fn excerpts_are_plain_text() {
        let a = Article::parse(
            "x.en.md",
            "# T\n\n1. **Verify** the `id`\n- then block\n| a | b |\n> note",
        )
        .unwrap();
        assert_eq!(a.excerpt(), "Verify the id then block note");
    }

    #[test]
    fn article_files_need_a_plain_slug_and_language() {
        let a = Article::parse("card-loss.en.md", "intro\n# Lost cards\ntext").unwrap();
        assert_eq!((a.slug.as_str(), a.lang.as_str()), ("card-loss", "en"));
        assert_eq!(a.title, "Lost cards");
        assert_eq!(Article::parse("x.md", "no title").unwrap().lang, "zh");
        assert!(Article::parse("../etc.md", "").is_none());
        assert!(Article::parse("a b.en.md", "").is_none());
        assert!(Article::parse("notes.txt", "").is_none());
    }

    #[test]
    fn dates_are_checked_before_use() {
        assert!(parse_day(Some("2026-11-29")).is_ok());
        for bad in [
            "2026-13-01",
            "29-11-2026",
            "2026-11-29T00:00:00Z",
            "",
            "2026-1-29",
        ] {
            let e = parse_day(Some(bad)).unwrap_err();
            assert_eq!(e.code, "bad_date", "{bad}");
        }
        let (name, start) = parse_day(None).unwrap();
        assert_eq!(name.len(), 10);
        assert_eq!(start.unix_nanos() % DAY_NANOS, 0);
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_field("cards"), "cards");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=cmd"), "'=cmd");
    }
}
