//! `/api/v1`: log in, agent state, queues, interaction records.
//!
//! Users log in with the argon2-hashed passwords of the configuration and get a bearer token
//! that expires. Roles are enforced on every route: an agent may change only its own state;
//! supervisors and administrators may change anyone's and see every queue and record.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use hotline_config::Role;
use hotline_model::{AgentEvent, AgentId, AgentState as ModelAgentState, Event, Timestamp};
use hotline_switch::{AgentCommand, Centre};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ApiError;

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: String,
    pub role: Role,
    /// For agents: the extension they work as.
    pub agent: Option<String>,
}

struct UserEntry {
    hash: String,
    role: Role,
    agent: Option<String>,
}

/// Users from the configuration, and the tokens they log in for.
///
/// A token is the user's name, an expiry and a fingerprint of the user's entry (password
/// hash, role, agent), signed with HMAC-SHA-256 under a key the event log keeps
/// (`api_tokens`, made once with the database). Nothing is kept per token, so a token is
/// honoured by any node on the same log (the standby after a failover, the same node after
/// a restart) until it expires, and it stops being honoured at once when its user is
/// removed or their password, role or agent changes (the fingerprint no longer matches).
pub struct Auth {
    /// Replaced as a whole when the users change live ([`Auth::set_users`]).
    users: parking_lot::RwLock<HashMap<String, UserEntry>>,
    key: ring::hmac::Key,
    ttl: Duration,
    /// Failed logins per user name and per source, with back-off.
    throttle: Mutex<crate::throttle::Throttle>,
    /// The process's bounded argon2 pool (shared with callers' PIN checks).
    pool: Arc<hotline_switch::hashpool::HashPool>,
    /// Load balancers whose `X-Forwarded-For` is believed (`http.proxies`).
    proxies: Vec<ipnet::IpNet>,
}

/// Why a login was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefused {
    /// Unknown user or wrong password.
    Invalid,
    /// Too many failed logins for this user or from this source: retry after this long.
    Throttled(Duration),
    /// Every password-check worker is busy and the queue is full.
    Busy,
}

impl Auth {
    /// The users of `cfg`; tokens signed with `key` (the log's `api_tokens` secret) last
    /// `ttl`.
    pub fn from_config(cfg: &hotline_config::Config, key: &[u8], ttl: Duration) -> Self {
        let users = users_of(cfg);
        Auth {
            users: parking_lot::RwLock::new(users),
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key),
            ttl,
            proxies: cfg.http.proxies.clone(),
            throttle: Mutex::new(crate::throttle::Throttle::new(
                crate::throttle::ThrottleConfig::from_config(cfg),
            )),
            pool: hotline_switch::hashpool::HashPool::configure(
                cfg.http.hash_workers,
                cfg.http.hash_queue,
            ),
        }
    }

    /// Takes the users of `cfg` (a live change): from now on logins check them, and the
    /// tokens of a user who was removed or whose password, role or agent changed are
    /// refused at once (their fingerprint no longer matches: that user logs in again).
    pub fn set_users(&self, cfg: &hotline_config::Config) {
        *self.users.write() = users_of(cfg);
    }

    /// An argon2 hash of a new password, on the process's bounded pool.
    pub async fn hash_password(&self, password: &str) -> Result<String, ApiError> {
        self.pool
            .hash(password.as_bytes().to_vec())
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "busy",
                    "every password worker is busy; try again",
                )
            })
    }

    /// Checks a password (argon2, on the bounded pool); a token on success. `source` is the
    /// client's address, for the per-source limit.
    async fn login(
        &self,
        user: &str,
        password: &str,
        source: Option<std::net::IpAddr>,
    ) -> Result<String, LoginRefused> {
        // Unknown users cost the same verification as known ones.
        const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0nGG3pQ1sM7b3m2x3w0Q5V3k2m9H2o1uV4c8y0n9m3s";
        self.throttle
            .lock()
            .check(user, source, Instant::now())
            .map_err(LoginRefused::Throttled)?;
        let (hash, entry) = match self.users.read().get(user) {
            // The token is for the entry whose password is checked, even if it changes
            // meanwhile (then the token is refused at once).
            Some(e) => (e.hash.clone(), Some(e.fingerprint())),
            None => (DECOY.to_string(), None),
        };
        let ok = self
            .pool
            .verify(hash, password.as_bytes().to_vec())
            .await
            .map_err(|_| LoginRefused::Busy)?;
        let Some(fingerprint) = entry.filter(|_| ok) else {
            if self.throttle.lock().failed(user, source, Instant::now()) {
                tracing::warn!(
                    user = %user.chars().take(64).collect::<String>(),
                    source = ?source,
                    "API logins throttled after repeated failures"
                );
            }
            return Err(LoginRefused::Invalid);
        };
        self.throttle.lock().succeeded(user, source, Instant::now());
        let claims = Claims {
            u: user.to_string(),
            e: unix_now().saturating_add(self.ttl.as_secs()),
            f: fingerprint,
        };
        Ok(self.sign(&claims))
    }

    /// The client a request came from: `peer`, or, when `peer` is a load balancer of
    /// `http.proxies`, the address it appended to `X-Forwarded-For` (the last entry: the
    /// ones before it are the client's own say).
    pub fn client_of(
        &self,
        peer: Option<std::net::IpAddr>,
        headers: &HeaderMap,
    ) -> Option<std::net::IpAddr> {
        let peer = peer?;
        if !self.proxies.iter().any(|n| n.contains(&peer)) {
            return Some(peer);
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|a| a.trim().parse().ok());
        Some(forwarded.unwrap_or(peer))
    }

    /// `claims` as a token: the claims and their HMAC, each base64url, joined by a dot.
    fn sign(&self, claims: &Claims) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let body = b64.encode(serde_json::to_vec(claims).unwrap_or_default());
        let tag = ring::hmac::sign(&self.key, body.as_bytes());
        format!("{body}.{}", b64.encode(tag.as_ref()))
    }

    /// Who `token` was issued to, if this centre signed it, it has not expired, and its user
    /// is unchanged.
    pub(crate) fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        use base64::Engine;
        let unknown = || ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "unknown token");
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (body, tag) = token.split_once('.').ok_or_else(unknown)?;
        let tag = b64.decode(tag).map_err(|_| unknown())?;
        ring::hmac::verify(&self.key, body.as_bytes(), &tag).map_err(|_| unknown())?;
        let claims: Claims = b64
            .decode(body)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(unknown)?;
        if claims.e <= unix_now() {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "token_expired",
                "log in again",
            ));
        }
        let users = self.users.read();
        match users.get(&claims.u) {
            Some(e) if e.fingerprint() == claims.f => Ok(Principal {
                user: claims.u,
                role: e.role,
                agent: e.agent.clone(),
            }),
            // Removed, or their password, role or agent changed since.
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "token_withdrawn",
                "the user changed since this token was issued: log in again",
            )),
        }
    }

    pub(crate) fn principal(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        self.verify(bearer(headers)?)
    }
}

/// The bearer token of a request.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a bearer token is required",
            )
        })
}

/// What a token says: user, expiry (unix seconds), and the fingerprint of the user's entry.
#[derive(Serialize, Deserialize)]
struct Claims {
    u: String,
    e: u64,
    f: String,
}

impl UserEntry {
    /// A digest of what a token depends on: any change withdraws the user's tokens.
    fn fingerprint(&self) -> String {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(self.hash.as_bytes());
        ctx.update(&[0]);
        ctx.update(format!("{:?}", self.role).as_bytes());
        ctx.update(&[0]);
        ctx.update(self.agent.as_deref().unwrap_or_default().as_bytes());
        ctx.finish().as_ref()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn users_of(cfg: &hotline_config::Config) -> HashMap<String, UserEntry> {
    cfg.users
        .iter()
        .map(|u| {
            (
                u.name.get_ref().clone(),
                UserEntry {
                    hash: u.password_hash.get_ref().clone(),
                    role: u.role,
                    agent: u.agent.as_ref().map(|a| a.get_ref().clone()),
                },
            )
        })
        .collect()
}

/// What the v1 routes share.
#[derive(Clone)]
pub struct V1 {
    pub auth: Arc<Auth>,
    pub centre: Arc<Centre>,
    /// What the agent desktop's and the wallboard's routes need from the configuration.
    pub desk: Arc<crate::desk::Desk>,
    /// Today's queue figures pushed on supervisors' event streams.
    pub queue_feed: Arc<crate::queue_feed::QueueFeed>,
    /// The published workforce plan, built from the log.
    pub workforce: Arc<crate::workforce::Plans>,
}

impl V1 {
    /// After a live change of the configuration: the API's own copies (users and their
    /// roles, queues' wrap-up times) follow it.
    fn take_config(&self, cfg: &hotline_config::Config) {
        self.auth.set_users(cfg);
        self.desk.set_config(cfg);
    }

    /// One live change of the configuration (see [`Centre::change_item`]), in a task of its
    /// own: a client that goes away (or a connection timed out) does not cut it half-way;
    /// the API's own copies follow in the same step.
    pub async fn change_item(
        &self,
        by: String,
        kind: hotline_switch::confdoc::Kind,
        key: String,
        value: Option<Value>,
    ) -> Result<hotline_switch::liveconfig::Changed, hotline_switch::liveconfig::ChangeError> {
        let v1 = self.clone();
        tokio::spawn(async move {
            let r = v1.centre.change_item(&by, kind, &key, value).await;
            if r.is_ok() {
                v1.take_config(&v1.centre.config());
            }
            r
        })
        .await
        .unwrap_or_else(|e| {
            Err(hotline_switch::liveconfig::ChangeError::Router(
                e.to_string(),
            ))
        })
    }

    /// Reads the configuration file again (see [`Centre::reload`]; the API's reload and
    /// SIGHUP), in a task of its own, the API's own copies following.
    pub async fn reload(
        &self,
    ) -> Result<hotline_switch::liveconfig::Reloaded, hotline_switch::liveconfig::ChangeError> {
        let v1 = self.clone();
        tokio::spawn(async move {
            let r = v1.centre.reload().await;
            if r.is_ok() {
                v1.take_config(&v1.centre.config());
            }
            r
        })
        .await
        .unwrap_or_else(|e| {
            Err(hotline_switch::liveconfig::ChangeError::Router(
                e.to_string(),
            ))
        })
    }
}

pub fn routes(v1: V1) -> Router {
    Router::new()
        .route("/api/v1/login", post(login))
        .route("/api/v1/agents", get(agents))
        .route("/api/v1/agents/{ext}", get(one_agent))
        .route("/api/v1/agents/{ext}/state", post(agent_state))
        .route("/api/v1/agents/{ext}/wrap-up", post(wrap_up))
        .route(
            "/api/v1/agents/{ext}/skills",
            axum::routing::put(crate::skills::put_skills),
        )
        .route("/api/v1/queues", get(queues))
        .route("/api/v1/quality", get(live_quality))
        .route("/api/v1/interactions", get(interactions))
        .route("/api/v1/events", get(events))
        .route("/api/v1/interactions/{id}/wrapup", post(wrapup))
        .route("/api/v1/interactions/{id}/notes", post(add_note))
        .route("/api/v1/interactions/{id}/recording", get(recording))
        .route(
            "/api/v1/interactions/{id}/recording/pause",
            post(crate::recording::pause),
        )
        .route(
            "/api/v1/interactions/{id}/recording/resume",
            post(crate::recording::resume),
        )
        .route(
            "/api/v1/interactions/{id}/export",
            get(crate::recording::export),
        )
        .route("/api/v1/interactions/{id}/hangup", post(hangup))
        .route("/api/v1/interactions/{id}/escalate", post(escalate))
        .route("/api/v1/interactions/{id}/transfer", post(transfer))
        .route("/api/v1/interactions/{id}/abusive", post(abusive))
        .route("/api/v1/callbacks", get(callbacks))
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/fault-notice", post(fault_notice))
        .route("/api/v1/customers", get(find_customer))
        .route("/api/v1/customers/{id}", get(customer))
        .merge(crate::desk::routes())
        .merge(crate::campaigns::routes())
        .merge(crate::flows::routes())
        .merge(crate::config::routes())
        .merge(crate::chat::routes())
        .merge(crate::sms::routes())
        .merge(crate::phone::routes())
        .merge(crate::monitor::routes())
        .merge(crate::workforce::routes())
        .with_state(v1)
}

pub(crate) fn parse_json<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("invalid JSON body: {e}"),
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    user: String,
    password: String,
}

async fn login(
    State(v1): State<V1>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: LoginBody = parse_json(&body)?;
    let peer = ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let source = v1.auth.client_of(peer, &headers);
    match v1.auth.login(&b.user, &b.password, source).await {
        Ok(token) => Ok(Json(json!({ "token": token }))),
        Err(LoginRefused::Invalid) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "unknown user or wrong password",
        )),
        Err(LoginRefused::Throttled(wait)) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many failed logins; try again in {} s", wait.as_secs()),
        )
        .retry_after(wait.as_secs())),
        Err(LoginRefused::Busy) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            "too many logins at once; try again shortly",
        )
        .retry_after(1)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateBody {
    state: String,
    #[serde(default)]
    reason: Option<String>,
}

async fn agent_state(
    State(v1): State<V1>,
    Path(ext): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    if who.role == Role::Agent && who.agent.as_deref() != Some(ext.as_str()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "an agent may change only its own state",
        ));
    }
    let b: StateBody = parse_json(&body)?;
    let reason = b.reason.unwrap_or_else(|| "unspecified".to_string());
    let logged = match b.state.as_str() {
        "available" => Some(ModelAgentState::Available),
        "not_ready" => Some(ModelAgentState::NotReady {
            reason: Some(reason.clone()),
        }),
        "break" => Some(ModelAgentState::Break {
            reason: Some(reason.clone()),
        }),
        "logged_out" => Some(ModelAgentState::LoggedOut),
        _ => None,
    };
    let command = match b.state.as_str() {
        "available" => AgentCommand::Available,
        "not_ready" => AgentCommand::NotReady(reason),
        "break" => AgentCommand::Break(reason),
        "logged_out" => AgentCommand::LogOut,
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_state",
                format!("unknown state `{other}` (available, not_ready, break, logged_out)"),
            ));
        }
    };
    match v1.centre.agent(&ext, command).await {
        Ok(_) => {
            if let Some(state) = logged {
                let mut ev = AgentEvent::new(AgentId::new(ext.clone()), Timestamp::now(), state);
                if who.agent.as_deref() != Some(ext.as_str()) {
                    ev.by = Some(who.user.clone());
                }
                append(&v1, Event::Agent(ev)).await?;
            }
            Ok(Json(json!({ "agent": ext, "state": b.state })))
        }
        Err(e) if e.starts_with("no agent") => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_agent",
            format!("no agent has extension {ext}"),
        )),
        Err(e) => Err(ApiError::new(StatusCode::CONFLICT, "state_refused", e)),
    }
}

fn forbidden(why: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", why.to_string())
}

/// `GET /api/v1/agents` (supervisors, administrators): every agent's state, time in state,
/// figures and stress estimate.
async fn agents(State(v1): State<V1>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    if who.role == Role::Agent {
        return Err(forbidden("only supervisors see every agent"));
    }
    Ok(Json(json!(v1.centre.agents().await)))
}

/// `GET /api/v1/quality` (supervisors and administrators): every connected call's legs'
/// latest quality (`calls`: `interaction`, `leg`, `mos`, `loss`, `jitter_ms`, `rtt_ms`,
/// `alert`, `at`) and the latest alerts and recoveries (`alerts`, oldest first: the same
/// with `kind`).
async fn live_quality(State(v1): State<V1>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    if who.role == Role::Agent {
        return Err(forbidden("only supervisors see the calls' quality"));
    }
    let q = v1.centre.live_quality();
    Ok(Json(json!({
        "alert_mos": hotline_switch::quality::ALERT_MOS,
        "calls": q.snapshot(),
        "alerts": q.recent_alerts(),
    })))
}

/// A live quality sample as the event stream carries it to supervisors: not an event of the
/// log (samples are not logged; alerts are, and come as `quality_alert` events).
fn quality_message(l: &hotline_switch::quality::LiveLeg) -> Value {
    let mut v = json!({ "stream": "quality" });
    if let (Some(o), Ok(Value::Object(m))) = (v.as_object_mut(), serde_json::to_value(l)) {
        o.extend(m);
    }
    v
}

/// `GET /api/v1/agents/{ext}`: one agent (an agent may look only at itself: the wellbeing
/// panel).
async fn one_agent(
    State(v1): State<V1>,
    Path(ext): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    if who.role == Role::Agent && who.agent.as_deref() != Some(ext.as_str()) {
        return Err(forbidden("an agent may look only at itself"));
    }
    v1.centre
        .agents()
        .await
        .into_iter()
        .find(|a| a.extension == ext)
        .map(|a| Json(json!(a)))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_agent",
                format!("no agent has extension {ext}"),
            )
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentWrapUpBody {
    #[serde(default)]
    extend_seconds: Option<f64>,
    #[serde(default)]
    done: bool,
}

/// `POST /api/v1/agents/{ext}/wrap-up` `{"extend_seconds": n}` or `{"done": true}`: more time
/// for after-call work, or ready for the next contact.
async fn wrap_up(
    State(v1): State<V1>,
    Path(ext): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    if who.role == Role::Agent && who.agent.as_deref() != Some(ext.as_str()) {
        return Err(forbidden("an agent may change only its own wrap-up"));
    }
    let b: AgentWrapUpBody = parse_json(&body)?;
    let command = match (b.extend_seconds, b.done) {
        (Some(s), false) if s > 0.0 && s <= 3600.0 => AgentCommand::ExtendWrapUp(s),
        (None, true) => AgentCommand::EndWrapUp,
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "give either `extend_seconds` (1..=3600) or `\"done\": true`",
            ));
        }
    };
    match v1.centre.agent(&ext, command).await {
        Ok(state) => Ok(Json(json!({ "agent": ext, "state": state }))),
        Err(e) if e.starts_with("no agent") => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_agent",
            format!("no agent has extension {ext}"),
        )),
        Err(e) => Err(ApiError::new(StatusCode::CONFLICT, "state_refused", e)),
    }
}

#[derive(Serialize)]
pub(crate) struct QueueOut {
    name: String,
    channel: &'static str,
    waiting: usize,
    longest_wait: f64,
    agents_available: usize,
    offered: u64,
    answered: u64,
    abandoned: u64,
    service_level: Option<f64>,
    /// Answer within this many seconds ...
    target_seconds: f64,
    /// ... this share of the contacts (0 to 1).
    service_level_goal: f64,
}

async fn queues(State(v1): State<V1>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    v1.auth.principal(&headers)?;
    Ok(Json(json!(queue_figures(&v1.centre).await?)))
}

/// Targets up to this many seconds are answered from the day's projection; a queue with a
/// longer one (or one that is not whole seconds) is counted from its records.
const WAIT_BOUND: u32 = 86_400;

/// Every queue now (live: waiting, longest wait, agents available) with today's figures
/// (UTC day: offered, answered, abandoned, service level) from the `queue_days`
/// projection, which the log keeps as events are appended: the same figures as counting
/// today's interaction records ([`figures_from_records`]) at the cost of a few rows.
pub(crate) async fn queue_figures(centre: &Centre) -> Result<Vec<QueueOut>, ApiError> {
    let live = centre.queues().await;
    let config = centre.config();
    let goal_of = |name: &str| {
        config
            .queues
            .iter()
            .find(|q| q.name.get_ref() == name)
            .map_or(0.8, |q| {
                f64::from(*q.service_level_percent.get_ref()) / 100.0
            })
    };
    let since = hotline_store::day_of(Timestamp::now());
    let days = centre
        .store()
        .queue_days_since(since, WAIT_BOUND)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string()))?;
    let mut records = None;
    let mut out = Vec::with_capacity(live.len());
    for q in live {
        let day = days.get(&q.name).cloned().unwrap_or_default();
        let counted = match day.answered_within(q.target_seconds, WAIT_BOUND) {
            Some(in_target) => (day.offered, day.answered, day.abandoned, in_target),
            None => {
                if records.is_none() {
                    records = Some(centre.store().interactions_since(since).await.map_err(
                        |e| {
                            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string())
                        },
                    )?);
                }
                figures_from_records(
                    records.as_deref().unwrap_or_default(),
                    &q.name,
                    q.target_seconds,
                )
            }
        };
        let (offered, answered, abandoned, in_target) = counted;
        out.push(QueueOut {
            service_level_goal: goal_of(&q.name),
            target_seconds: q.target_seconds,
            name: q.name,
            channel: q.channel,
            waiting: q.waiting,
            longest_wait: q.longest_wait_secs,
            agents_available: q.agents_available,
            offered,
            answered,
            abandoned,
            // Answered within the target, over the calls that were answered or given up;
            // the clock starts at arrival (the caller's whole wait, menu included).
            service_level: (answered + abandoned > 0)
                .then(|| in_target as f64 / (answered + abandoned) as f64),
        });
    }
    Ok(out)
}

/// A queue's (offered, answered, abandoned, answered within `target_seconds`) counted from
/// interaction records: what the projection keeps, for a target it cannot answer.
pub fn figures_from_records(
    records: &[hotline_model::InteractionRecord],
    queue: &str,
    target_seconds: f64,
) -> (u64, u64, u64, u64) {
    let mine: Vec<_> = records
        .iter()
        .filter(|r| r.queue.as_ref().is_some_and(|n| n.as_str() == queue))
        .collect();
    let answered = mine.iter().filter(|r| r.answered.is_some()).count() as u64;
    let target_nanos = (target_seconds * 1e9) as i64;
    let in_target = mine
        .iter()
        .filter(|r| {
            r.answered
                .is_some_and(|a| a.unix_nanos() - r.started.unix_nanos() <= target_nanos)
        })
        .count() as u64;
    let abandoned = mine
        .iter()
        .filter(|r| {
            r.answered.is_none()
                && r.ended.is_some()
                && matches!(
                    r.end_reason,
                    Some(hotline_model::EndReason::Abandoned)
                        | Some(hotline_model::EndReason::CallerHangup)
                )
        })
        .count() as u64;
    (mine.len() as u64, answered, abandoned, in_target)
}

/// `?since=` as RFC 3339; the beginning of time when absent.
fn parse_since(since: Option<&str>) -> Result<Timestamp, ApiError> {
    match since {
        Some(s) => Timestamp::parse_rfc3339(s).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_since",
                format!("`since` is not RFC 3339: {e}"),
            )
        }),
        None => Ok(Timestamp::from_unix_nanos(0)),
    }
}

#[derive(Deserialize)]
struct Since {
    since: Option<String>,
}

/// `GET /api/v1/interactions` with a `cursor` and without `limit`: this many records a page
/// (without either, every record: the original contract).
pub const DEFAULT_PAGE: u32 = 1_000;
/// The most `limit` may ask for.
pub const MAX_PAGE: u32 = 10_000;

#[derive(Deserialize)]
struct InteractionsQuery {
    since: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    order: Option<String>,
}

/// A page cursor as the API writes it: `<started, unix nanoseconds>.<interaction id>`.
/// Clients take it as an opaque string.
fn write_cursor(c: &hotline_store::PageCursor) -> String {
    format!("{}.{}", c.started.unix_nanos(), c.id)
}

fn parse_cursor(s: &str) -> Result<hotline_store::PageCursor, ApiError> {
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_cursor",
            "`cursor` is not one this API gave: take it from the previous page's X-Next-Cursor or Link header",
        )
    };
    let (started, id) = s.split_once('.').ok_or_else(bad)?;
    Ok(hotline_store::PageCursor {
        started: Timestamp::from_unix_nanos(started.parse().map_err(|_| bad())?),
        id: id.parse().map_err(|_| bad())?,
    })
}

fn parse_limit(limit: Option<&str>, paging: bool) -> Result<u32, ApiError> {
    let Some(l) = limit else {
        // A client of the original contract (no `limit`, no `cursor`) gets every record.
        return Ok(if paging { DEFAULT_PAGE } else { u32::MAX - 1 });
    };
    match l.parse::<u32>() {
        Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_limit",
            format!("`limit` is a whole number from 1 to {MAX_PAGE}"),
        )),
    }
}

/// Percent-encodes a query parameter's value.
fn query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `GET /api/v1/interactions?since=RFC3339[&limit=N][&cursor=C][&order=desc]`: the
/// interaction records started at or after `since`, oldest first (`order=desc`: newest
/// first), a page at a time: `limit` records (at most [`MAX_PAGE`]; without `limit`, every
/// record, or [`DEFAULT_PAGE`] when a `cursor` is given). When more records follow, the answer has `Link: <...>; rel="next"` with
/// the next page's URL; a non-empty page always has `X-Next-Cursor`, the `cursor` that
/// continues after its last record (to poll for what arrives later). Agents get their own
/// records only.
async fn interactions(
    State(v1): State<V1>,
    headers: HeaderMap,
    Query(q): Query<InteractionsQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let who = v1.auth.principal(&headers)?;
    let since = parse_since(q.since.as_deref())?;
    let limit = parse_limit(q.limit.as_deref(), q.cursor.is_some())?;
    let after = q.cursor.as_deref().map(parse_cursor).transpose()?;
    let newest_first = match q.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_order",
                "`order` is `asc` (oldest first, the default) or `desc`",
            ));
        }
    };
    let agent = match who.role {
        Role::Agent => Some(who.agent.clone().unwrap_or_default()),
        _ => None,
    };
    // One more than asked for tells whether another page follows.
    let mut records = v1
        .centre
        .store()
        .interactions_page(
            since,
            after.as_ref(),
            agent.as_deref(),
            newest_first,
            limit.saturating_add(1),
        )
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string()))?;
    let more = records.len() > limit as usize;
    records.truncate(limit as usize);
    let last = records.last().map(hotline_store::PageCursor::after);
    // Serialized straight from the records (not through a `Value` tree): most of a page's
    // cost is here.
    let mut out = Json(records).into_response();
    if let Some(last) = last {
        let cursor = write_cursor(&last);
        let h = out.headers_mut();
        if let Ok(v) = axum::http::HeaderValue::from_str(&cursor) {
            h.insert("x-next-cursor", v);
        }
        if more {
            let mut next = format!(
                "/api/v1/interactions?limit={limit}&cursor={}",
                query_value(&cursor)
            );
            if let Some(s) = &q.since {
                next.push_str(&format!("&since={}", query_value(s)));
            }
            if newest_first {
                next.push_str("&order=desc");
            }
            if let Ok(v) = axum::http::HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
                h.insert(axum::http::header::LINK, v);
            }
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct EventsQuery {
    /// Browsers cannot set headers on a WebSocket, so the token may come as a parameter.
    access_token: Option<String>,
}

/// `GET /api/v1/events`: committed events as they are committed, one JSON object a message.
/// Supervisors and administrators see everything; an agent sees its own state changes and
/// the interactions offered to it from then on.
async fn events(
    State(v1): State<V1>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
    ws: axum::extract::ws::WebSocketUpgrade,
) -> Result<axum::response::Response, ApiError> {
    let headers = with_query_token(headers, q.access_token);
    let who = v1.auth.principal(&headers)?;
    // The token is checked again while the stream is open: a user removed or changed (or a
    // token that expired) stops receiving events within a minute, as their requests stop.
    let token = bearer(&headers)?.to_string();
    let auth = v1.auth.clone();
    let still_valid = move || auth.verify(&token).is_ok();
    let rx = v1.centre.store().subscribe();
    let health = v1.centre.log_health();
    let quality = v1.centre.live_quality().subscribe();
    let queues = matches!(who.role, Role::Supervisor | Role::Admin)
        .then(|| v1.queue_feed.subscribe(&v1.centre));
    Ok(ws.on_upgrade(move |socket| {
        stream_events(socket, (rx, quality, queues), health, who, still_valid)
    }))
}

/// A browser's WebSocket cannot send headers: its token comes as `?access_token=` and is
/// taken as the bearer token.
pub(crate) fn with_query_token(mut headers: HeaderMap, token: Option<String>) -> HeaderMap {
    if let Some(t) = token
        && let Ok(v) = axum::http::HeaderValue::from_str(&format!("Bearer {t}"))
    {
        headers.insert(axum::http::header::AUTHORIZATION, v);
    }
    headers
}

/// How often an open event stream checks its token again.
const STREAM_RECHECK: std::time::Duration = std::time::Duration::from_secs(60);

/// The "event log behind" alert as the event stream carries it to supervisors: it does not
/// go through the log (which is what is behind).
fn log_alert(h: &hotline_switch::LogHealth) -> Value {
    json!({
        "stream": "system",
        "alert": {
            "kind": "event_log_behind",
            "raised": h.behind || h.refusing_calls,
            "behind": h.behind,
            "refusing_calls": h.refusing_calls,
            "oldest_seconds": h.oldest_seconds,
            "backlog_events": h.backlog_events,
        }
    })
}

async fn stream_events(
    mut socket: axum::extract::ws::WebSocket,
    (mut rx, mut quality, queues): (
        tokio::sync::broadcast::Receiver<Event>,
        tokio::sync::broadcast::Receiver<hotline_switch::quality::LiveLeg>,
        Option<tokio::sync::watch::Receiver<crate::queue_feed::Figures>>,
    ),
    mut health: tokio::sync::watch::Receiver<hotline_switch::LogHealth>,
    who: Principal,
    still_valid: impl Fn() -> bool + Send,
) {
    use axum::extract::ws::Message;
    let mut recheck =
        tokio::time::interval_at(tokio::time::Instant::now() + STREAM_RECHECK, STREAM_RECHECK);
    use hotline_model::EventKind;
    let mut mine: std::collections::HashSet<hotline_model::InteractionId> = Default::default();
    let supervises = matches!(who.role, Role::Supervisor | Role::Admin);
    // A supervisor connecting while the log is behind is told at once.
    let now = *health.borrow_and_update();
    if supervises && (now.behind || now.refusing_calls) {
        let msg = log_alert(&now).to_string();
        if socket.send(Message::Text(msg.into())).await.is_err() {
            return;
        }
    }
    let mut watching = supervises;
    let mut sampling = supervises;
    // Today's queue figures, pushed after events (supervisors only).
    let mut feeding = queues.is_some();
    let (_keep, mut queues) = match queues {
        Some(q) => (None, q),
        None => {
            let (tx, rx) = tokio::sync::watch::channel(None);
            (Some(tx), rx)
        }
    };
    queues.mark_unchanged();
    loop {
        let event = tokio::select! {
            changed = queues.changed(), if feeding => {
                if changed.is_err() {
                    feeding = false;
                    continue;
                }
                let text = queues.borrow_and_update().clone();
                if let Some(text) = text
                    && socket.send(Message::Text(text.to_string().into())).await.is_err()
                {
                    return;
                }
                continue;
            }
            e = rx.recv() => e,
            // Live quality samples, to supervisors only (a lagging page skips some).
            l = quality.recv(), if sampling => {
                match l {
                    Ok(l) => {
                        let msg = quality_message(&l).to_string();
                        if socket.send(Message::Text(msg.into())).await.is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => sampling = false,
                }
                continue;
            }
            changed = health.changed(), if watching => {
                if changed.is_err() {
                    watching = false;
                    continue;
                }
                let msg = log_alert(&health.borrow_and_update()).to_string();
                if socket.send(Message::Text(msg.into())).await.is_err() {
                    return;
                }
                continue;
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
            _ = recheck.tick() => {
                if still_valid() {
                    continue;
                }
                // 4401: the page logs in again (an application close code, RFC 6455 7.4.2).
                let close = axum::extract::ws::CloseFrame {
                    code: 4401,
                    reason: "the token is no longer valid: log in again".into(),
                };
                let _ = socket.send(Message::Close(Some(close))).await;
                return;
            }
        };
        let event = match event {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                let msg = json!({ "error": { "code": "lagged", "message": format!("{n} events were skipped; reload with GET /api/v1/interactions") } });
                if socket
                    .send(Message::Text(msg.to_string().into()))
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            Err(_) => return,
        };
        let visible = match (&who.role, &event) {
            (Role::Supervisor | Role::Admin, _) => true,
            (Role::Agent, Event::Agent(a)) => who.agent.as_deref() == Some(a.agent.as_str()),
            (Role::Agent, Event::Interaction(i)) => {
                if let EventKind::Offered { agent } = &i.kind
                    && who.agent.as_deref() == Some(agent.as_str())
                {
                    mine.insert(i.interaction);
                }
                mine.contains(&i.interaction)
            }
            (Role::Agent, _) => false,
        };
        if !visible {
            continue;
        }
        // PIN hashes stay in the log; nobody watching the stream sees them.
        let event = match event {
            Event::Customer(mut c) => {
                let hotline_model::CustomerChange::Upserted(cust) = &mut c.change;
                cust.pin_hash = None;
                Event::Customer(c)
            }
            // Nor the digests and hashes of a live configuration change.
            Event::Audit(mut a) if a.action == hotline_switch::confdoc::CONFIG_ACTION => {
                a.detail = a.detail.as_deref().map(redact_change);
                Event::Audit(a)
            }
            other => other,
        };
        let Ok(text) = serde_json::to_string(&event) else {
            continue;
        };
        if socket.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
}

/// Appends one event and waits until it is durable.
async fn append(v1: &V1, event: impl Into<Event>) -> Result<(), ApiError> {
    v1.centre
        .store()
        .append_one(event)
        .await
        .map(|_| ())
        .map_err(store_error)
}

pub(crate) fn store_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string())
}

/// The interaction record with this id, or `404 unknown_interaction`.
pub(crate) async fn interaction_record(
    v1: &V1,
    id: &str,
) -> Result<hotline_model::InteractionRecord, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_interaction",
            format!("no interaction {id}"),
        )
    };
    let iid: hotline_model::InteractionId = id.parse().map_err(|_| not_found())?;
    v1.centre
        .store()
        .interaction(iid)
        .await
        .map_err(store_error)?
        .ok_or_else(not_found)
}

/// The interaction, if the caller may work on it: its own agent, or a supervisor/admin.
pub(crate) async fn own_interaction(
    v1: &V1,
    who: &Principal,
    id: &str,
) -> Result<hotline_model::InteractionRecord, ApiError> {
    let record = interaction_record(v1, id).await?;
    // A voicemail nobody has taken yet is anyone's to work on.
    let unassigned_voicemail = record.agent.is_none() && record.voicemail.is_some();
    if who.role == Role::Agent
        && !unassigned_voicemail
        && record.agent.as_ref().map(|a| a.as_str()) != who.agent.as_deref()
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "an agent may work only on its own interactions",
        ));
    }
    Ok(record)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WrapUpBody {
    disposition: String,
    #[serde(default)]
    notes: Option<String>,
}

/// `POST /api/v1/interactions/{id}/wrapup`: the disposition (and notes) of a finished
/// contact; the agent is then ready for the next one.
async fn wrapup(
    State(v1): State<V1>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    let b: WrapUpBody = parse_json(&body)?;
    if b.disposition.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "`disposition` is empty",
        ));
    }
    let record = own_interaction(&v1, &who, &id).await?;
    let by = who.agent.clone().map(AgentId::new);
    let ev = hotline_model::InteractionEvent::new(
        record.id,
        Timestamp::now(),
        hotline_model::EventKind::WrappedUp {
            disposition: b.disposition.clone(),
            notes: b.notes.clone(),
            by,
        },
    );
    append(&v1, ev).await?;
    v1.centre.chats().wrapped_up(record.id, &b.disposition);
    if let Some(agent) = record.agent.as_ref()
        && who.agent.as_deref() == Some(agent.as_str())
    {
        let _ = v1
            .centre
            .agent(agent.as_str(), AgentCommand::EndWrapUp)
            .await;
    }
    Ok(Json(
        json!({ "interaction": record.id, "disposition": b.disposition }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    text: String,
}

/// `POST /api/v1/interactions/{id}/notes`: a note, during or after the contact.
async fn add_note(
    State(v1): State<V1>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    let b: NoteBody = parse_json(&body)?;
    if b.text.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "`text` is empty",
        ));
    }
    let record = own_interaction(&v1, &who, &id).await?;
    let ev = hotline_model::InteractionEvent::new(
        record.id,
        Timestamp::now(),
        hotline_model::EventKind::NoteAdded {
            by: who.user.clone(),
            text: b.text,
        },
    );
    append(&v1, ev).await?;
    Ok(Json(json!({ "interaction": record.id })))
}

#[derive(Deserialize)]
struct PhoneQuery {
    phone: Option<String>,
}

/// `GET /api/v1/customers?phone=N`: the customer with this number and their history.
async fn find_customer(
    State(v1): State<V1>,
    headers: HeaderMap,
    Query(q): Query<PhoneQuery>,
) -> Result<Json<Value>, ApiError> {
    v1.auth.principal(&headers)?;
    let phone = q
        .phone
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "give `phone`"))?;
    let c = v1
        .centre
        .store()
        .customer_by_phone(&phone)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_customer",
                format!("no customer has the number {phone}"),
            )
        })?;
    customer_with_history(&v1, c).await
}

/// `GET /api/v1/customers/{id}`: the customer and their last contacts with notes.
async fn customer(
    State(v1): State<V1>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    v1.auth.principal(&headers)?;
    let c = v1
        .centre
        .store()
        .customer(&hotline_model::CustomerId::new(id.clone()))
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_customer",
                format!("no customer {id}"),
            )
        })?;
    customer_with_history(&v1, c).await
}

async fn customer_with_history(
    v1: &V1,
    c: hotline_model::Customer,
) -> Result<Json<Value>, ApiError> {
    let store = v1.centre.store();
    let history = store
        .customer_history(&c.id, 20)
        .await
        .map_err(store_error)?;
    let since =
        Timestamp::from_unix_nanos(Timestamp::now().unix_nanos() - 30 * 86_400 * 1_000_000_000);
    let complaints = store
        .repeat_complaints(&c.id, since)
        .await
        .map_err(store_error)?;
    Ok(Json(json!({
        "customer": c.redacted(),
        "repeat_complaint": complaints >= 2,
        "open_complaints_30d": complaints,
        "history": history,
    })))
}

/// `GET /api/v1/interactions/{id}/recording`: the stereo WAV (caller left, agent right).
/// Every download is written to the audit log before a byte is sent.
async fn recording(
    State(v1): State<V1>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let who = v1.auth.principal(&headers)?;
    let record = own_interaction(&v1, &who, &id).await?;
    let path = record.recording.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_recording",
            "this interaction was not recorded",
        )
    })?;
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_recording",
            format!("the recording is not readable: {e}"),
        )
    })?;
    let audit = hotline_model::AuditEvent::new(
        Timestamp::now(),
        who.user.clone(),
        "recording_download",
        record.id.to_string(),
    );
    append(&v1, Event::Audit(audit)).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "audio/wav".to_string()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.wav\"", record.id),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /api/v1/audit?since=RFC3339`: who did what (administrators and supervisors).
async fn audit(
    State(v1): State<V1>,
    headers: HeaderMap,
    Query(q): Query<Since>,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    if who.role == Role::Agent {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the audit log is for supervisors and administrators",
        ));
    }
    let since = parse_since(q.since.as_deref())?;
    let mut entries = v1.centre.store().audit(since).await.map_err(store_error)?;
    // Live configuration changes keep the items whole in the log (a restart needs their
    // digests); what is shown leaves the secrets out.
    for e in entries
        .iter_mut()
        .filter(|e| e.action == hotline_switch::confdoc::CONFIG_ACTION)
    {
        e.detail = e.detail.as_deref().map(redact_change);
    }
    Ok(Json(json!(entries)))
}

/// A `config` audit entry's detail with the secrets of its items left out (an unreadable
/// one is not shown at all).
fn redact_change(detail: &str) -> String {
    use hotline_switch::confdoc::{Kind, redact};
    let Ok(mut v) = serde_json::from_str::<Value>(detail) else {
        return "{}".to_string();
    };
    let Some(kind) = v["kind"].as_str().and_then(Kind::from_segment) else {
        return "{}".to_string();
    };
    for part in ["old", "new", "file"] {
        if let Some(item) = v.get_mut(part).filter(|i| !i.is_null()) {
            redact(kind, item);
        }
    }
    v.to_string()
}

fn in_progress_error(e: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "not_in_progress", e)
}

/// `POST /api/v1/interactions/{id}/hangup`: the agent ends the call from the desktop.
async fn hangup(
    State(v1): State<V1>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    let record = own_interaction(&v1, &who, &id).await?;
    v1.centre
        .hangup(record.id)
        .await
        .map_err(in_progress_error)?;
    Ok(Json(json!({ "interaction": record.id })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EscalateBody {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/v1/interactions/{id}/escalate` `{"reason"?}`: hand the caller on to a senior;
/// the caller waits on hold, first in line, and the agent goes to wrap-up.
async fn escalate(
    State(v1): State<V1>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    let b: EscalateBody = if body.is_empty() {
        EscalateBody::default()
    } else {
        parse_json(&body)?
    };
    let record = own_interaction(&v1, &who, &id).await?;
    let reason = b
        .reason
        .unwrap_or_else(|| format!("escalated by {}", who.user));
    v1.centre
        .escalate(record.id, reason)
        .await
        .map_err(in_progress_error)?;
    Ok(Json(json!({ "interaction": record.id, "escalated": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    to: String,
}

/// `POST /api/v1/interactions/{id}/transfer` `{"to": "<extension or queue>"}`: blind
/// transfer; the agent goes to wrap-up, the caller waits on hold, first in line, for the
/// colleague (then anyone in the queue) or the queue.
async fn transfer(
    State(v1): State<V1>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    let b: TransferBody = parse_json(&body)?;
    let record = own_interaction(&v1, &who, &id).await?;
    if !v1.centre.is_transfer_target(&b.to) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "unknown_target",
            format!("no agent or queue is called `{}`", b.to),
        ));
    }
    v1.centre
        .transfer(record.id, &b.to)
        .await
        .map_err(in_progress_error)?;
    Ok(Json(
        json!({ "interaction": record.id, "transferred_to": b.to }),
    ))
}

/// `POST /api/v1/interactions/{id}/abusive`: the agent flags the caller as abusive; the
/// caller hears a polite recorded message, the call ends, and the agent gets a recovery
/// break after wrap-up.
async fn abusive(
    State(v1): State<V1>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    let record = own_interaction(&v1, &who, &id).await?;
    v1.centre
        .abusive(record.id)
        .await
        .map_err(in_progress_error)?;
    Ok(Json(
        json!({ "interaction": record.id, "flagged": "abusive" }),
    ))
}

/// `GET /api/v1/callbacks`: work waiting for agents besides calls: callbacks keeping their
/// place in line, and voicemails of the last 7 days not yet wrapped up.
async fn callbacks(State(v1): State<V1>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    v1.auth.principal(&headers)?;
    let store = v1.centre.store();
    let open = store.open_interactions().await.map_err(store_error)?;
    let pending: Vec<_> = open
        .into_iter()
        .filter(|r| r.channel == Some(hotline_model::Channel::Callback))
        .collect();
    let week =
        Timestamp::from_unix_nanos(Timestamp::now().unix_nanos() - 7 * 86_400 * 1_000_000_000);
    let voicemails: Vec<_> = store
        .interactions_since(week)
        .await
        .map_err(store_error)?
        .into_iter()
        .filter(|r| r.voicemail.is_some() && r.disposition.is_none())
        .collect();
    Ok(Json(
        json!({ "callbacks": pending, "voicemails": voicemails }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultBody {
    on: bool,
}

/// `POST /api/v1/fault-notice` `{"on": bool}` (administrators): while on, every caller hears
/// the outage announcement at entry, so customers are told what is going on during a fault.
async fn fault_notice(
    State(v1): State<V1>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    if who.role != Role::Admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only an administrator switches the outage announcement",
        ));
    }
    let b: FaultBody = parse_json(&body)?;
    let audit = hotline_model::AuditEvent::new(
        Timestamp::now(),
        who.user.clone(),
        if b.on {
            "fault_notice_on"
        } else {
            "fault_notice_off"
        },
        "centre",
    );
    append(&v1, Event::Audit(audit)).await?;
    v1.centre.set_fault_notice(b.on);
    Ok(Json(json!({ "fault_notice": v1.centre.fault_notice() })))
}

#[cfg(test)]
mod token_tests {
    use super::*;

    fn demo() -> hotline_config::Config {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo.toml");
        hotline_config::Config::load(std::path::Path::new(path)).expect("the demo loads")
    }

    fn auth(cfg: &hotline_config::Config, key: &[u8]) -> Auth {
        Auth::from_config(cfg, key, Duration::from_secs(3600))
    }

    fn claims(a: &Auth, user: &str, e: u64) -> Claims {
        Claims {
            u: user.to_string(),
            e,
            f: a.users.read()[user].fingerprint(),
        }
    }

    #[test]
    fn a_token_is_honoured_by_any_auth_with_the_same_key() {
        let cfg = demo();
        let a = auth(&cfg, b"0123456789abcdef0123456789abcdef");
        let token = a.sign(&claims(&a, "agent1001", unix_now() + 60));
        let other_node = auth(&cfg, b"0123456789abcdef0123456789abcdef");
        let p = other_node.verify(&token).expect("honoured");
        assert_eq!(p.user, "agent1001");
        assert_eq!(p.role, Role::Agent);
        assert_eq!(p.agent.as_deref(), Some("1001"));
        // Another centre's key: refused.
        let stranger = auth(&cfg, b"another key of thirty-two bytes!");
        assert_eq!(stranger.verify(&token).unwrap_err().code, "unauthorized");
    }

    #[test]
    fn a_tampered_expired_or_garbled_token_is_refused() {
        let cfg = demo();
        let a = auth(&cfg, b"0123456789abcdef0123456789abcdef");
        let token = a.sign(&claims(&a, "agent1001", unix_now() + 60));
        // The same signature over claims naming the supervisor.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (_, tag) = token.split_once('.').unwrap();
        let forged =
            b64.encode(serde_json::to_vec(&claims(&a, "supervisor", unix_now() + 60)).unwrap());
        assert_eq!(
            a.verify(&format!("{forged}.{tag}")).unwrap_err().code,
            "unauthorized"
        );
        for garbage in ["", ".", "abc", "abc.def", &token[..token.len() - 2]] {
            assert_eq!(
                a.verify(garbage).unwrap_err().code,
                "unauthorized",
                "{garbage}"
            );
        }
        let old = a.sign(&claims(&a, "agent1001", unix_now() - 1));
        assert_eq!(a.verify(&old).unwrap_err().code, "token_expired");
    }

    #[test]
    fn the_client_behind_a_listed_load_balancer_is_the_last_forwarded_address() {
        let mut cfg = demo();
        cfg.http.proxies = vec!["192.0.2.10/32".parse().unwrap()];
        let a = auth(&cfg, b"0123456789abcdef0123456789abcdef");
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7".parse().unwrap(),
        );
        let lb: std::net::IpAddr = "192.0.2.10".parse().unwrap();
        let stranger: std::net::IpAddr = "192.0.2.11".parse().unwrap();
        assert_eq!(
            a.client_of(Some(lb), &h),
            Some("198.51.100.7".parse().unwrap()),
            "the address the load balancer saw, not what the client wrote before it"
        );
        assert_eq!(
            a.client_of(Some(stranger), &h),
            Some(stranger),
            "not believed"
        );
        assert_eq!(a.client_of(Some(lb), &HeaderMap::new()), Some(lb));
        h.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(a.client_of(Some(lb), &h), Some(lb));
    }

    #[test]
    fn a_users_tokens_are_withdrawn_when_the_user_changes() {
        let cfg = demo();
        let a = auth(&cfg, b"0123456789abcdef0123456789abcdef");
        let t1001 = a.sign(&claims(&a, "agent1001", unix_now() + 60));
        let t1002 = a.sign(&claims(&a, "agent1002", unix_now() + 60));
        let mut changed = cfg.clone();
        for u in &mut changed.users {
            if u.name.get_ref() == "agent1001" {
                u.role = Role::Supervisor;
            }
        }
        a.set_users(&changed);
        assert_eq!(a.verify(&t1001).unwrap_err().code, "token_withdrawn");
        assert!(a.verify(&t1002).is_ok(), "other users keep theirs");
        changed.users.retain(|u| u.name.get_ref() != "agent1002");
        a.set_users(&changed);
        assert_eq!(a.verify(&t1002).unwrap_err().code, "token_withdrawn");
    }
}
