//! The routing task: the one owner of the ACD engine. Call sessions and the API send it
//! commands; it tells each waiting contact's session about offers, positions and waits.
//! The engine keeps virtual milliseconds; this shell maps them to the monotonic clock.

use std::collections::HashMap;

use hotline_acd::{
    AgentConfig, AgentId, AgentState, AgentWellbeing, Arrival, ContactId, Engine, EngineConfig,
    Input, Instant, MaxWait, MaxWaitAction, Output, OverflowStep, QueueConfig, Strategy,
    WellbeingAlert, WellbeingRules,
};
use hotline_model::{AgentEvent, AuditEvent, Event, Timestamp};
use hotline_store::Store;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

/// What a waiting contact's session hears from the router.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// Ring this agent (for a callback kept in line: the agent's turn to call the customer).
    Offer { agent: String, callback: bool },
    /// The offer was taken back: it rang out (`rang_out`: the ring timeout, the engine's
    /// alone, passed; the session logs `offer_rejected` "no answer"), or it was withdrawn
    /// (another agent answered, the agent logged out, the contact moved on).
    Rescinded { agent: String, rang_out: bool },
    /// Place in line and estimated wait.
    Position { position: u32, eta_secs: u64 },
    /// The queue's maximum wait has passed.
    MaxWait(MaxWaitAction),
    /// The queue's maximum wait moved the contact to `queue` (its place kept by arrival).
    Overflowed { queue: String },
}

/// An agent's state as asked for by the agent or a supervisor.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentCommand {
    LogIn,
    Available,
    NotReady(String),
    Break(String),
    /// Wrap-up is done: ready for the next contact.
    EndWrapUp,
    /// More time for the current wrap-up, in seconds.
    ExtendWrapUp(f64),
    LogOut,
}

/// One queue's live figures.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueView {
    pub name: String,
    /// `voice`, `chat` or `email`.
    pub channel: &'static str,
    pub waiting: usize,
    pub longest_wait_secs: f64,
    /// Agents available now who have every skill the queue needs at its minimum level.
    pub agents_available: usize,
    /// Agents logged in (in any state) who have every skill the queue needs.
    pub agents_staffed: usize,
    /// Service-level target: answered within this many seconds.
    pub target_seconds: f64,
}

/// Each agent's skills, as configured, for the supervisors' views.
pub type AgentSkills = Vec<(AgentId, std::collections::BTreeMap<String, u8>)>;

/// Why an agent's phone did not take an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The phone declined it (busy, do-not-disturb, the reject button: 486, 600, 603): the
    /// agent's choice; counts towards `routing.max_declines`.
    Declined,
    /// It rang without answer, or the phone could not be reached: counts towards
    /// `routing.max_no_answer`.
    Missed,
    /// hotline could not ring the phone (no media port for the leg) or gave the offer up
    /// itself: counts against nobody (the caller is not offered to that agent for
    /// `routing.retry_seconds`, so that a fault does not loop).
    Failed,
}

/// Commands to the router.
pub enum RouterCmd {
    Arrive {
        contact: ContactId,
        queue: String,
        priority: i32,
        vip: bool,
        escalate: bool,
        /// Wait for this agent first (a transfer to a colleague).
        preferred_agent: Option<String>,
        /// Skills (minimum levels) this contact needs beyond its queue's (a flow's enqueue
        /// `skills`, a `set` skill).
        skills: Vec<(String, u8)>,
        notify: mpsc::UnboundedSender<Notice>,
        done: oneshot::Sender<Result<(), String>>,
    },
    Abandon(ContactId),
    /// The agent's phone did not take the offer, and why.
    Reject {
        contact: ContactId,
        agent: String,
        refusal: Refusal,
    },
    /// The agent's phone answered: taken (`Ok`) unless the offer was gone by then (rang
    /// out or withdrawn as the phone answered).
    Answer {
        contact: ContactId,
        agent: String,
        done: oneshot::Sender<Result<(), String>>,
    },
    End {
        contact: ContactId,
        agitation: Option<f32>,
        abusive: bool,
    },
    Agent {
        extension: String,
        command: AgentCommand,
        done: oneshot::Sender<Result<String, String>>,
    },
    Queues(oneshot::Sender<Vec<QueueView>>),
    Agents(oneshot::Sender<Vec<AgentView>>),
    /// The waiting caller asked to be called back, keeping its place in line.
    Callback(ContactId),
    /// After a restart: the agent has been in its (restored) pause state since `since`, so
    /// the wallboard's time in state runs on from there.
    PausedSince {
        extension: String,
        since: Timestamp,
    },
    /// Replaces the agent's skills and levels (a supervisor's live change, already logged):
    /// the next routing decision uses them, and the supervisors' views follow.
    SetSkills {
        extension: String,
        skills: std::collections::BTreeMap<String, u8>,
        done: oneshot::Sender<Result<(), String>>,
    },
    /// Adds an agent (an administrator's live change, already logged), logged out: it
    /// appears in the supervisors' views and may log in. Refused when the extension is an
    /// agent already, or for a bad skill or level.
    AddAgent {
        extension: String,
        name: String,
        skills: std::collections::BTreeMap<String, u8>,
        capacity: hotline_acd::Capacity,
        done: oneshot::Sender<Result<(), String>>,
    },
    /// Removes an agent for good: refused (`Err("busy: …")`) while it holds or is offered a
    /// contact; otherwise logged out, gone from routing and the views. The extension may be
    /// added again later.
    RemoveAgent {
        extension: String,
        done: oneshot::Sender<Result<(), String>>,
    },
    /// The agent's display name changes.
    RenameAgent {
        extension: String,
        name: String,
        done: oneshot::Sender<Result<(), String>>,
    },
    /// Adds the queue, or replaces the settings of the queue of that name: waiting callers
    /// keep their place and are routed by the new settings from the next decision; a call
    /// connected keeps the wrap-up it was answered under.
    UpsertQueue {
        queue: QueueConfig,
        done: oneshot::Sender<Result<(), String>>,
    },
    /// The queue was removed from the configuration: no flow sends callers to it any more.
    /// It leaves the supervisors' views once nobody waits in it (callers already waiting
    /// are still served); adding it again brings it back.
    RetireQueue {
        name: String,
        done: oneshot::Sender<Result<(), String>>,
    },
    /// Replaces the engine-wide rules (`[routing]`, `[wellbeing]`, the ring timeout); the
    /// senior skill keeps the value the centre started with.
    SetRules {
        rules: EngineConfig,
        done: oneshot::Sender<Result<(), String>>,
    },
}

/// How strained an agent looks, from the wellbeing figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stress {
    Low,
    Elevated,
    High,
}

/// One agent as supervisors (and the agent's own wellbeing panel) see it.
#[derive(Debug, Clone, Serialize)]
pub struct AgentView {
    pub extension: String,
    pub name: String,
    pub state: AgentState,
    /// When the agent entered the state.
    pub since: Timestamp,
    pub skills: std::collections::BTreeMap<String, u8>,
    pub wellbeing: AgentWellbeing,
    /// Occupied share of logged-in time (0..=1).
    pub occupancy: f64,
    /// When the agent last came back from a pause (break, not ready) or logged in.
    pub last_pause: Option<Timestamp>,
    /// The last wellbeing alert about this agent.
    pub alert: Option<AlertAt>,
    /// 0..=1, see [`stress`].
    pub stress_score: f64,
    pub stress: Stress,
    /// A break the agent should take now, in minutes.
    pub suggested_break_minutes: Option<u32>,
}

/// A wellbeing alert and when it was raised.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AlertAt {
    #[serde(flatten)]
    pub alert: WellbeingAlert,
    pub at: Timestamp,
}

/// The stress estimate: the worst of the run of difficult contacts against the cap, the
/// occupancy above a sustainable 60 %, the time without a pause against two hours, and a
/// wellbeing alert in the last quarter of an hour. Returns the score, its level and a
/// suggested break.
pub fn stress(
    w: &AgentWellbeing,
    max_in_row: u32,
    minutes_since_pause: Option<f64>,
    minutes_since_alert: Option<f64>,
) -> (f64, Stress, Option<u32>) {
    let run = if max_in_row > 0 {
        f64::from(w.difficult_in_row) / f64::from(max_in_row)
    } else {
        0.0
    };
    let occupancy = if w.logged_in_seconds >= 600.0 {
        ((w.occupied_seconds / w.logged_in_seconds - 0.6) / 0.35).max(0.0)
    } else {
        0.0
    };
    let unbroken = minutes_since_pause.map_or(0.0, |m| m / 120.0);
    let alerted = match minutes_since_alert {
        Some(m) if m < 15.0 => 1.0,
        _ => 0.0,
    };
    let score = run
        .max(occupancy)
        .max(unbroken)
        .max(alerted)
        .clamp(0.0, 1.0);
    let level = if score >= 0.8 {
        Stress::High
    } else if score >= 0.5 {
        Stress::Elevated
    } else {
        Stress::Low
    };
    let suggested = match level {
        Stress::High => Some(15),
        Stress::Elevated => Some(5),
        Stress::Low if minutes_since_pause.is_some_and(|m| m >= 90.0) => Some(10),
        Stress::Low => None,
    };
    (score, level, suggested)
}

/// The engine's settings from `[routing]`, `[wellbeing]` and `centre.ring_timeout_seconds`
/// (the one ring timeout: the engine rescinds an offer that rang this long).
pub fn engine_config(cfg: &hotline_config::Config) -> EngineConfig {
    let r = &cfg.routing;
    let w = &cfg.wellbeing;
    let d = WellbeingRules::default();
    let unit = |v: Option<f64>, default: f64| v.unwrap_or(default);
    EngineConfig {
        offer_timeout_seconds: f64::from(cfg.centre.ring_timeout_seconds),
        max_no_answer: r.max_no_answer(),
        retry_seconds: f64::from(r.retry_seconds()),
        retry_max_seconds: f64::from(r.retry_max_seconds()),
        max_declines: r.max_declines(),
        vip_boost: r.vip_boost(),
        preferred_agent_seconds: f64::from(r.preferred_agent_seconds()),
        senior_skill: r.senior_skill().to_string(),
        ring_all_limit: r.ring_all_limit() as usize,
        wellbeing: WellbeingRules {
            enabled: w.enabled.unwrap_or(d.enabled),
            agitation_threshold: unit(
                w.agitation_threshold.as_ref().map(|v| *v.get_ref()),
                f64::from(d.agitation_threshold),
            ) as f32,
            recovery_break_seconds: w
                .recovery_break_seconds
                .map_or(d.recovery_break_seconds, f64::from),
            max_difficult_in_row: w.max_difficult_in_row.unwrap_or(d.max_difficult_in_row),
            fair_spread: w.fair_spread.unwrap_or(d.fair_spread),
            occupancy_ceiling: unit(
                w.occupancy_ceiling.as_ref().map(|v| *v.get_ref()),
                d.occupancy_ceiling,
            ),
            occupancy_window_minutes: w
                .occupancy_window_minutes
                .as_ref()
                .map_or(d.occupancy_window_minutes, |v| f64::from(*v.get_ref())),
            max_pause_seconds: w.max_pause_seconds.map_or(d.max_pause_seconds, f64::from),
            escalate_agitation: unit(
                w.escalate_agitation.as_ref().map(|v| *v.get_ref()),
                f64::from(d.escalate_agitation),
            ) as f32,
        },
        blend: hotline_acd::Blend {
            written_during_call: r.blend.written_during_call(),
            call_during_written: r.blend.call_during_written(),
            chat_with_email: r.blend.chat_with_email(),
        },
        ..EngineConfig::default()
    }
}

/// The engine's settings of one `[[queues]]` item of `cfg`. Queues it names (its maximum
/// wait's overflow queue, its overflow steps' `add_queues`) must be queues of `cfg`.
pub fn queue_config(
    q: &hotline_config::Queue,
    cfg: &hotline_config::Config,
) -> Result<QueueConfig, String> {
    let name = q.name.get_ref();
    let known = |other: &str| other == name || cfg.queues.iter().any(|x| x.name.get_ref() == other);
    let skills: Vec<(String, u8)> = q
        .skills
        .iter()
        .map(|(s, l)| (s.clone(), *l.get_ref()))
        .collect();
    let refs: Vec<(&str, u8)> = skills.iter().map(|(s, l)| (s.as_str(), *l)).collect();
    let mut qc = QueueConfig::new(name.clone(), &refs);
    qc.channel = match q.channel {
        hotline_config::QueueChannel::Voice => hotline_acd::Channel::Voice,
        hotline_config::QueueChannel::Chat => hotline_acd::Channel::Chat,
        hotline_config::QueueChannel::Email => hotline_acd::Channel::Email,
    };
    qc.priority = q.priority;
    qc.target_seconds = f64::from(q.target_seconds);
    qc.wrap_up_seconds = f64::from(q.wrap_up_seconds);
    qc.strategy = match q.strategy {
        hotline_config::Strategy::LongestIdle => Strategy::LongestIdle,
        hotline_config::Strategy::FewestContacts => Strategy::FewestContacts,
        hotline_config::Strategy::LeastOccupied => Strategy::LeastOccupied,
        hotline_config::Strategy::RoundRobin => Strategy::RoundRobin,
        hotline_config::Strategy::RingAll => Strategy::RingAll,
        hotline_config::Strategy::BestSkill => Strategy::BestFit,
    };
    qc.offer_timeout_seconds = q
        .ring_timeout_seconds
        .as_ref()
        .map(|s| f64::from(*s.get_ref()));
    let action = match q.max_wait_action.as_ref().map(|a| *a.get_ref()) {
        None | Some(hotline_config::MaxWaitAction::Voicemail) => MaxWaitAction::Voicemail,
        Some(hotline_config::MaxWaitAction::Disconnect) => MaxWaitAction::Disconnect,
        Some(hotline_config::MaxWaitAction::Overflow) => {
            let to = q
                .overflow_queue
                .as_ref()
                .map(|t| t.get_ref().clone())
                .ok_or_else(|| format!("queue {name}: overflow without a queue"))?;
            if !known(&to) {
                return Err(format!("queue {name}: overflow_queue {to} is not a queue"));
            }
            MaxWaitAction::Overflow { queue: to }
        }
    };
    qc.max_wait = q.max_wait_seconds.map(|s| MaxWait {
        seconds: f64::from(s),
        action,
    });
    qc.overflow = q
        .overflow
        .iter()
        .map(|s| OverflowStep {
            after_seconds: f64::from(*s.after_seconds.get_ref()),
            lower_levels_by: s.lower_levels_by.as_ref().map_or(0, |l| *l.get_ref()),
            add_skills: s
                .add_skills
                .iter()
                .map(|(k, l)| (k.clone(), *l.get_ref()))
                .collect(),
            add_queues: s.add_queues.iter().map(|t| t.get_ref().clone()).collect(),
        })
        .collect();
    if let Some(other) = qc
        .overflow
        .iter()
        .flat_map(|s| &s.add_queues)
        .find(|o| !known(o))
    {
        return Err(format!(
            "queue {name}: add_queues names {other}, not a queue"
        ));
    }
    Ok(qc)
}

/// Builds the engine from a centre's configuration.
pub fn engine_from_config(cfg: &hotline_config::Config) -> Result<(Engine, AgentSkills), String> {
    let mut skills_of = Vec::new();
    let mut engine = Engine::new(engine_config(cfg));
    for q in &cfg.queues {
        engine
            .add_queue(queue_config(q, cfg)?)
            .map_err(|e| e.to_string())?;
    }
    for a in &cfg.agents {
        let skills: Vec<(String, u8)> = a
            .skills
            .iter()
            .map(|(s, l)| (s.clone(), *l.get_ref()))
            .collect();
        let refs: Vec<(&str, u8)> = skills.iter().map(|(s, l)| (s.as_str(), *l)).collect();
        let mut ac = AgentConfig::new(a.extension.get_ref().clone(), &refs);
        ac.capacity = agent_capacity(a.capacity.as_ref(), cfg);
        let id = engine.add_agent(ac).map_err(|e| e.to_string())?;
        skills_of.push((id, skills.into_iter().collect()));
    }
    Ok((engine, skills_of))
}

/// An agent's capacity per channel: its own `capacity`, then `[routing.capacity]`.
pub fn agent_capacity(
    own: Option<&hotline_config::Capacity>,
    cfg: &hotline_config::Config,
) -> hotline_acd::Capacity {
    let (voice, chat, email) = own
        .cloned()
        .unwrap_or_default()
        .resolve(&cfg.routing.capacity);
    hotline_acd::Capacity { voice, chat, email }
}

/// The highest level any agent holds of each skill.
fn top_levels(skills: &AgentSkills) -> HashMap<String, u8> {
    let mut top_levels: HashMap<String, u8> = HashMap::new();
    for (skill, level) in skills.iter().flat_map(|(_, s)| s.iter()) {
        let top = top_levels.entry(skill.clone()).or_default();
        *top = (*top).max(*level);
    }
    top_levels
}

/// What the router remembers about an agent beyond the engine.
#[derive(Debug, Clone)]
struct Track {
    name: String,
    since: Timestamp,
    last_pause: Option<Timestamp>,
    alert: Option<AlertAt>,
}

/// The router's state besides the engine.
struct Shell {
    skills: AgentSkills,
    /// The highest level any agent holds of each skill.
    top_levels: HashMap<String, u8>,
    waiting: HashMap<ContactId, mpsc::UnboundedSender<Notice>>,
    tracks: HashMap<AgentId, Track>,
    store: Option<Store>,
    /// Contacts offered to an agent with no session left to ring the phone.
    orphans: Vec<ContactId>,
    /// Queues removed from the configuration (see [`RouterCmd::RetireQueue`]).
    retired: std::collections::HashSet<String>,
}

/// The router without its task: the engine and what the router keeps beside it, driven by
/// commands and `now` (the engine's virtual milliseconds). The async [`run`] loop feeds it;
/// the session tests drive it in virtual time together with call sessions.
pub struct RouterCore {
    engine: Engine,
    shell: Shell,
}

impl RouterCore {
    /// A router for `engine`. Agent state changes the engine makes by itself (a recovery
    /// break, not-ready after missed offers, the end of a timed break) and wellbeing alerts
    /// are appended to `store`.
    pub fn new(
        engine: Engine,
        skills: AgentSkills,
        names: &HashMap<String, String>,
        store: Option<Store>,
    ) -> RouterCore {
        let started = Timestamp::now();
        let tracks = skills
            .iter()
            .map(|(id, _)| {
                let ext = engine.agent_name(*id).unwrap_or("?").to_string();
                let name = names.get(&ext).cloned().unwrap_or_default();
                (
                    *id,
                    Track {
                        name,
                        since: started,
                        last_pause: None,
                        alert: None,
                    },
                )
            })
            .collect();
        let top_levels = top_levels(&skills);
        RouterCore {
            engine,
            shell: Shell {
                skills,
                top_levels,
                waiting: HashMap::new(),
                tracks,
                store,
                orphans: Vec::new(),
                retired: Default::default(),
            },
        }
    }

    /// Carries out one command at `now` and tells the waiting contacts what follows.
    pub fn handle(&mut self, now: Instant, cmd: RouterCmd) {
        // State changes asked for through the API are logged there, with who asked; what
        // follows the end of a wrap-up (available, or a recovery break) is the engine's.
        let by_engine = !matches!(
            cmd,
            RouterCmd::Agent {
                command: AgentCommand::LogIn
                    | AgentCommand::Available
                    | AgentCommand::NotReady(_)
                    | AgentCommand::Break(_)
                    | AgentCommand::LogOut,
                ..
            }
        );
        let removal = matches!(cmd, RouterCmd::RemoveAgent { .. });
        handle(&mut self.engine, &mut self.shell, now, cmd);
        self.flush(now, by_engine);
        if removal {
            // Kept until its logging out was told; a removed agent is gone from the views.
            let engine = &self.engine;
            self.shell
                .tracks
                .retain(|id, _| engine.agent_state(*id).is_some());
        }
    }

    /// Fires the engine's timers due at `now` (ring-outs, wrap-ups, maximum waits).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.engine.handle_timeout(now);
        self.flush(now, true);
    }

    /// When [`RouterCore::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.engine.poll_timeout()
    }

    /// The engine, to look at.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn flush(&mut self, now: Instant, by_engine: bool) {
        loop {
            while let Some(out) = self.engine.poll_output() {
                dispatch(&self.engine, &mut self.shell, out, by_engine);
            }
            let orphans = std::mem::take(&mut self.shell.orphans);
            if orphans.is_empty() {
                return;
            }
            for contact in orphans {
                warn!(
                    ?contact,
                    "an offer for a contact whose session is gone; it leaves the queue"
                );
                let _ = self.engine.handle(now, Input::Abandon(contact));
            }
        }
    }
}

/// Runs the router until every sender is gone.
pub async fn run(
    engine: Engine,
    skills: AgentSkills,
    names: HashMap<String, String>,
    store: Option<Store>,
    mut commands: mpsc::UnboundedReceiver<RouterCmd>,
) {
    let start = tokio::time::Instant::now();
    let now = || Instant::from_millis(start.elapsed().as_millis() as u64);
    let mut core = RouterCore::new(engine, skills, &names, store);
    loop {
        let deadline = core
            .poll_timeout()
            .map(|t| start + std::time::Duration::from_millis(t.as_millis()));
        tokio::select! {
            c = commands.recv() => match c {
                Some(cmd) => core.handle(now(), cmd),
                None => return,
            },
            _ = sleep_until(deadline) => core.handle_timeout(now()),
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn agent(engine: &Engine, ext: &str) -> Result<AgentId, String> {
    engine
        .agent_id(ext)
        .ok_or_else(|| format!("no agent {ext}"))
}

fn handle(engine: &mut Engine, shell: &mut Shell, now: Instant, cmd: RouterCmd) {
    let waiting = &mut shell.waiting;
    let result = match cmd {
        RouterCmd::Arrive {
            contact,
            queue,
            priority,
            vip,
            escalate,
            preferred_agent,
            skills,
            notify,
            done,
        } => {
            for (skill, level) in &skills {
                if shell.top_levels.get(skill).is_none_or(|top| top < level) {
                    // The engine lets it wait (its queue's maximum wait applies), as for a
                    // queue nobody staffs; the flow asks for something nobody has.
                    warn!(?contact, %queue, %skill, level, "no agent has this skill at this level: the caller waits for the maximum wait");
                }
            }
            let r = match engine.queue_id(&queue) {
                Some(q) => {
                    let mut a = Arrival::new(contact, q);
                    a.skills = skills;
                    a.priority = priority;
                    a.vip = vip;
                    a.escalate = escalate;
                    a.preferred_agent = preferred_agent.and_then(|p| engine.agent_id(&p));
                    waiting.insert(contact, notify);
                    engine
                        .handle(now, Input::Arrive(a))
                        .map_err(|e| e.to_string())
                }
                None => Err(format!("no queue {queue}")),
            };
            if r.is_err() {
                waiting.remove(&contact);
            }
            let _ = done.send(r);
            Ok(())
        }
        RouterCmd::Abandon(contact) => {
            waiting.remove(&contact);
            engine.handle(now, Input::Abandon(contact))
        }
        RouterCmd::Reject {
            contact,
            agent: ext,
            refusal,
        } => match engine.agent_id(&ext) {
            Some(agent) => engine.handle(
                now,
                match refusal {
                    Refusal::Declined | Refusal::Missed => Input::Reject {
                        contact,
                        agent,
                        no_answer: refusal == Refusal::Missed,
                    },
                    Refusal::Failed => Input::RingFailed { contact, agent },
                },
            ),
            None => Ok(()),
        },
        RouterCmd::Answer {
            contact,
            agent: ext,
            done,
        } => {
            let r = match engine.agent_id(&ext) {
                Some(agent) => engine
                    .handle(now, Input::Answer { contact, agent })
                    .map_err(|e| e.to_string()),
                None => Err(format!("no agent {ext}")),
            };
            // The contact hears no more from the router once connected; refused, it still
            // waits (its notices keep coming).
            if r.is_ok() {
                waiting.remove(&contact);
            }
            let _ = done.send(r);
            Ok(())
        }
        RouterCmd::End {
            contact,
            agitation,
            abusive,
        } => {
            waiting.remove(&contact);
            engine.handle(
                now,
                Input::End {
                    contact,
                    agitation,
                    abusive,
                },
            )
        }
        RouterCmd::Agent {
            extension,
            command,
            done,
        } => {
            let r = agent(engine, &extension).and_then(|a| {
                let state = engine.agent_state(a);
                let inputs: Vec<Input> = match command {
                    AgentCommand::LogIn => vec![Input::Login(a)],
                    AgentCommand::Available => {
                        if state == Some(AgentState::LoggedOut) {
                            vec![Input::Login(a), Input::Ready(a)]
                        } else {
                            vec![Input::Ready(a)]
                        }
                    }
                    AgentCommand::NotReady(reason) => {
                        if state == Some(AgentState::LoggedOut) {
                            vec![Input::Login(a), Input::NotReady { agent: a, reason }]
                        } else {
                            vec![Input::NotReady { agent: a, reason }]
                        }
                    }
                    AgentCommand::Break(reason) => vec![Input::Break {
                        agent: a,
                        reason,
                        seconds: None,
                    }],
                    AgentCommand::EndWrapUp => {
                        if state == Some(AgentState::WrapUp) {
                            vec![Input::EndWrapUp(a)]
                        } else {
                            vec![]
                        }
                    }
                    AgentCommand::ExtendWrapUp(seconds) => {
                        if state != Some(AgentState::WrapUp) {
                            return Err("the agent is not in wrap-up".to_string());
                        }
                        vec![Input::ExtendWrapUp { agent: a, seconds }]
                    }
                    AgentCommand::LogOut => vec![Input::Logout(a)],
                };
                for i in inputs {
                    engine.handle(now, i).map_err(|e| e.to_string())?;
                }
                Ok(engine
                    .agent_state(a)
                    .map_or_else(|| "unknown".to_string(), |s| state_name(&s).to_string()))
            });
            let _ = done.send(r);
            Ok(())
        }
        RouterCmd::Queues(reply) => {
            let mut views = queue_views(engine, &shell.skills, now);
            views.retain(|v| v.waiting > 0 || !shell.retired.contains(&v.name));
            let _ = reply.send(views);
            Ok(())
        }
        RouterCmd::Agents(reply) => {
            let _ = reply.send(agent_views(engine, shell));
            Ok(())
        }
        RouterCmd::Callback(contact) => engine.handle(now, Input::Callback(contact)),
        RouterCmd::SetSkills {
            extension,
            skills,
            done,
        } => {
            let r = agent(engine, &extension).and_then(|a| {
                engine
                    .handle(
                        now,
                        Input::SetSkills {
                            agent: a,
                            skills: skills.clone(),
                        },
                    )
                    .map_err(|e| e.to_string())?;
                if let Some(entry) = shell.skills.iter_mut().find(|(id, _)| *id == a) {
                    entry.1 = skills;
                }
                shell.top_levels = top_levels(&shell.skills);
                Ok(())
            });
            let _ = done.send(r);
            Ok(())
        }
        RouterCmd::AddAgent {
            extension,
            name,
            skills,
            capacity,
            done,
        } => {
            let r = if engine.agent_id(&extension).is_some() {
                Err(format!("agent {extension} exists"))
            } else {
                engine
                    .handle(
                        now,
                        Input::AddAgent(AgentConfig {
                            name: extension.clone(),
                            skills: skills.clone(),
                            capacity,
                        }),
                    )
                    .map_err(|e| e.to_string())
                    .and_then(|()| agent(engine, &extension))
                    .map(|id| {
                        shell.skills.push((id, skills));
                        shell.top_levels = top_levels(&shell.skills);
                        shell.tracks.insert(
                            id,
                            Track {
                                name,
                                since: Timestamp::now(),
                                last_pause: None,
                                alert: None,
                            },
                        );
                    })
            };
            let _ = done.send(r);
            Ok(())
        }
        RouterCmd::RemoveAgent { extension, done } => {
            let r = agent(engine, &extension).and_then(|a| {
                engine
                    .handle(now, Input::RemoveAgent(a))
                    .map_err(|e| match e {
                        hotline_acd::Error::AgentBusy(_) => {
                            format!("busy: agent {extension} holds or is offered a contact")
                        }
                        e => e.to_string(),
                    })?;
                shell.skills.retain(|(id, _)| *id != a);
                shell.top_levels = top_levels(&shell.skills);
                Ok(())
            });
            let _ = done.send(r);
            Ok(())
        }
        RouterCmd::RenameAgent {
            extension,
            name,
            done,
        } => {
            let r = agent(engine, &extension).and_then(|a| {
                let track = shell
                    .tracks
                    .get_mut(&a)
                    .ok_or_else(|| format!("no agent {extension}"))?;
                track.name = name;
                Ok(())
            });
            let _ = done.send(r);
            Ok(())
        }
        RouterCmd::RetireQueue { name, done } => {
            let r = if engine.queue_id(&name).is_some() {
                shell.retired.insert(name);
                Ok(())
            } else {
                Err(format!("no queue `{name}`"))
            };
            let _ = done.send(r);
            Ok(())
        }
        RouterCmd::UpsertQueue { queue, done } => {
            shell.retired.remove(&queue.name);
            let input = if engine.queue_id(&queue.name).is_some() {
                Input::SetQueue(queue)
            } else {
                Input::AddQueue(queue)
            };
            let _ = done.send(engine.handle(now, input).map_err(|e| e.to_string()));
            Ok(())
        }
        RouterCmd::SetRules { rules, done } => {
            if rules.senior_skill != engine.config().senior_skill {
                warn!(
                    from = %engine.config().senior_skill,
                    to = %rules.senior_skill,
                    "the senior skill changes at the next start"
                );
            }
            let _ = done.send(
                engine
                    .handle(now, Input::SetRules(rules))
                    .map_err(|e| e.to_string()),
            );
            Ok(())
        }
        RouterCmd::PausedSince { extension, since } => {
            if let Some(track) = engine
                .agent_id(&extension)
                .and_then(|a| shell.tracks.get_mut(&a))
            {
                track.since = since;
                track.last_pause = Some(since);
            }
            Ok(())
        }
    };
    if let Err(e) = result {
        // A command about a contact or agent the engine no longer knows: nothing to undo.
        debug!(error = %e, "router command refused");
    }
}

/// The contract's name of an agent state (`available`, `wrap_up`, …), as the API answers it.
pub fn state_name(state: &AgentState) -> &'static str {
    match state {
        AgentState::LoggedOut => "logged_out",
        AgentState::Available => "available",
        AgentState::Offered => "offered",
        AgentState::Busy => "busy",
        AgentState::WrapUp => "wrap_up",
        AgentState::NotReady { .. } => "not_ready",
        AgentState::Break { .. } => "break",
    }
}

/// A supervisor's view; it looks at every agent, which is fine for a view and is never done
/// per routing decision.
fn queue_views(engine: &Engine, skills: &AgentSkills, now: Instant) -> Vec<QueueView> {
    let mut views = Vec::new();
    for i in 0..engine.queue_count() {
        let q = hotline_acd::QueueId(i as u32);
        let Some(cfg) = engine.queue_config(q) else {
            continue;
        };
        let mut agents_available = 0;
        let mut agents_staffed = 0;
        for (id, have) in skills {
            let qualified = cfg
                .skills
                .iter()
                .all(|(skill, min)| have.get(skill).is_some_and(|l| l >= min));
            match engine.agent_state(*id) {
                Some(AgentState::Available) if qualified => {
                    agents_available += 1;
                    agents_staffed += 1;
                }
                Some(AgentState::LoggedOut) | None => {}
                Some(_) if qualified => agents_staffed += 1,
                Some(_) => {}
            }
        }
        views.push(QueueView {
            name: cfg.name.clone(),
            channel: match cfg.channel {
                hotline_acd::Channel::Voice => "voice",
                hotline_acd::Channel::Chat => "chat",
                hotline_acd::Channel::Email => "email",
            },
            waiting: engine.waiting(q),
            // How long the caller waiting longest has really waited (not an estimate).
            longest_wait_secs: engine
                .longest_waiting(q)
                .map_or(0.0, |(_, since)| now.millis_since(since) as f64 / 1000.0),
            agents_available,
            agents_staffed,
            target_seconds: cfg.target_seconds,
        });
    }
    views
}

fn agent_views(engine: &Engine, shell: &Shell) -> Vec<AgentView> {
    let now = Timestamp::now();
    let minutes = |t: Option<Timestamp>| {
        t.and_then(|t| now.duration_since(t))
            .map(|d| d.as_secs_f64() / 60.0)
    };
    let max_in_row = engine.config().wellbeing.max_difficult_in_row;
    shell
        .skills
        .iter()
        .filter_map(|(id, skills)| {
            let track = shell.tracks.get(id)?;
            let state = engine.agent_state(*id)?;
            let w = engine.agent_wellbeing(*id)?;
            let since_pause = match state {
                AgentState::LoggedOut | AgentState::Break { .. } | AgentState::NotReady { .. } => {
                    None
                }
                _ => minutes(track.last_pause.or(Some(track.since))),
            };
            let (stress_score, stress, suggested) = stress(
                &w,
                max_in_row,
                since_pause,
                minutes(track.alert.map(|a| a.at)),
            );
            Some(AgentView {
                extension: engine.agent_name(*id)?.to_string(),
                name: track.name.clone(),
                state,
                since: track.since,
                skills: skills.clone(),
                wellbeing: w,
                occupancy: if w.logged_in_seconds > 0.0 {
                    (w.occupied_seconds / w.logged_in_seconds).clamp(0.0, 1.0)
                } else {
                    0.0
                },
                last_pause: track.last_pause,
                alert: track.alert,
                stress_score,
                stress,
                suggested_break_minutes: suggested,
            })
        })
        .collect()
}

/// The log's form of an engine state, where it has one (offers, talk and wrap-up are in the
/// interactions' own events).
fn logged_state(state: &AgentState) -> Option<hotline_model::AgentState> {
    use hotline_model::AgentState as M;
    match state {
        AgentState::LoggedOut => Some(M::LoggedOut),
        AgentState::Available => Some(M::Available),
        AgentState::NotReady { reason } => Some(M::NotReady {
            reason: Some(reason.clone()),
        }),
        AgentState::Break { reason, .. } => Some(M::Break {
            reason: Some(reason.clone()),
        }),
        AgentState::Offered | AgentState::Busy | AgentState::WrapUp => None,
    }
}

fn track_agent(engine: &Engine, shell: &mut Shell, out: &Output, by_engine: bool) {
    let now = Timestamp::now();
    match out {
        Output::AgentState { agent, state } => {
            let Some(track) = shell.tracks.get_mut(agent) else {
                return;
            };
            if matches!(
                state,
                AgentState::Break { .. } | AgentState::NotReady { .. } | AgentState::LoggedOut
            ) {
                track.last_pause = Some(now);
            }
            track.since = now;
            if by_engine
                && let (Some(store), Some(logged), Some(ext)) = (
                    shell.store.as_ref(),
                    logged_state(state),
                    engine.agent_name(*agent),
                )
            {
                let mut ev = AgentEvent::new(hotline_model::AgentId::new(ext), now, logged);
                ev.by = Some("routing".to_string());
                // Queued in order at once; the router does not wait for the disk.
                drop(store.append_one(Event::Agent(ev)));
            }
        }
        Output::WellbeingAlert { agent, alert } => {
            if let Some(track) = shell.tracks.get_mut(agent) {
                track.alert = Some(AlertAt {
                    alert: *alert,
                    at: now,
                });
            }
            if let (Some(store), Some(ext)) = (shell.store.as_ref(), engine.agent_name(*agent)) {
                let action = match alert {
                    WellbeingAlert::AbusiveCaller => "wellbeing_abusive_caller".to_string(),
                    WellbeingAlert::DifficultInRow { count } => {
                        format!("wellbeing_difficult_in_row_{count}")
                    }
                    WellbeingAlert::Occupancy { permille } => {
                        format!("wellbeing_occupancy_{permille}")
                    }
                };
                drop(store.append_one(Event::Audit(AuditEvent::new(
                    now,
                    "wellbeing",
                    action,
                    ext,
                ))));
            }
        }
        _ => {}
    }
}

fn dispatch(engine: &Engine, shell: &mut Shell, out: Output, by_engine: bool) {
    track_agent(engine, shell, &out, by_engine);
    let name = |a: AgentId| engine.agent_name(a).unwrap_or("?").to_string();
    let (contact, notice) = match out {
        Output::Offer {
            contact,
            agent,
            callback,
        } => (
            contact,
            Notice::Offer {
                agent: name(agent),
                callback,
            },
        ),
        Output::OfferRescinded {
            contact,
            agent,
            rang_out,
        } => (
            contact,
            Notice::Rescinded {
                agent: name(agent),
                rang_out,
            },
        ),
        Output::Queued {
            contact,
            position,
            estimated_wait_seconds,
            ..
        } => (
            contact,
            Notice::Position {
                position,
                eta_secs: estimated_wait_seconds.max(0.0).round() as u64,
            },
        ),
        Output::MaxWaitReached {
            contact, action, ..
        } => (contact, Notice::MaxWait(action)),
        Output::Overflowed { contact, to, .. } => match engine.queue_config(to) {
            Some(q) => (
                contact,
                Notice::Overflowed {
                    queue: q.name.clone(),
                },
            ),
            None => return,
        },
        Output::WellbeingAlert { .. } | Output::AgentState { .. } => return,
    };
    let offer = matches!(notice, Notice::Offer { .. });
    let delivered = match shell.waiting.get(&contact) {
        Some(tx) if tx.send(notice).is_ok() => true,
        Some(_) => {
            warn!(?contact, "a waiting contact's session is gone");
            shell.waiting.remove(&contact);
            false
        }
        None => false,
    };
    if offer && !delivered {
        // An offer nobody can ring would ring out on the agent and count as missed: the
        // contact leaves the engine instead.
        shell.orphans.push(contact);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(in_row: u32, logged: f64, occupied: f64) -> AgentWellbeing {
        AgentWellbeing {
            difficult_in_row: in_row,
            logged_in_seconds: logged,
            occupied_seconds: occupied,
            ..AgentWellbeing::default()
        }
    }

    #[test]
    fn a_fresh_agent_is_calm_and_needs_no_break() {
        let (score, level, brk) = stress(&figures(0, 1800.0, 600.0), 2, Some(20.0), None);
        assert!(score < 0.5, "{score}");
        assert_eq!((level, brk), (Stress::Low, None));
    }

    #[test]
    fn difficult_calls_in_a_row_up_to_the_cap_are_high_stress() {
        let (_, level, brk) = stress(&figures(1, 1800.0, 600.0), 2, Some(20.0), None);
        assert_eq!((level, brk), (Stress::Elevated, Some(5)));
        let (_, level, brk) = stress(&figures(2, 1800.0, 600.0), 2, Some(20.0), None);
        assert_eq!((level, brk), (Stress::High, Some(15)));
    }

    #[test]
    fn sustained_occupancy_and_long_stretches_raise_stress() {
        // 95 % occupied over an hour.
        let (_, level, _) = stress(&figures(0, 3600.0, 3420.0), 2, Some(20.0), None);
        assert_eq!(level, Stress::High);
        // 95 % over five minutes says little yet.
        let (_, level, _) = stress(&figures(0, 300.0, 285.0), 2, Some(5.0), None);
        assert_eq!(level, Stress::Low);
        // An hour and a half without a pause: a short break is suggested.
        let (_, level, brk) = stress(&figures(0, 5400.0, 2700.0), 2, Some(95.0), None);
        assert_eq!((level, brk), (Stress::Elevated, Some(5)));
        let (_, level, brk) = stress(&figures(0, 5400.0, 2700.0), 2, Some(50.0), None);
        assert_eq!((level, brk), (Stress::Low, None));
    }

    fn demo_with(edit: impl Fn(String) -> String) -> hotline_config::Config {
        hotline_config::Config::from_toml("t.toml", &edit(hotline_config::DEMO_TOML.to_string()))
            .unwrap()
    }

    #[test]
    fn the_engine_takes_the_routing_settings_of_the_configuration() {
        // The demo's defaults are the engine's, with the centre's ring timeout.
        let (engine, _) = engine_from_config(&demo_with(|t| t)).unwrap();
        let d = EngineConfig::default();
        assert_eq!(engine.config(), &d);
        let cfg = demo_with(|t| {
            t.replace(
                "service_numbers = [\"95588\"]",
                "service_numbers = [\"95588\"]\nring_timeout_seconds = 25",
            )
            .replace(
                "name = \"cards\"\n",
                "name = \"cards\"\nring_timeout_seconds = 12\nmax_wait_action = \"overflow\"\n\
                 overflow_queue = \"general\"\n",
            )
            .replace(
                "name = \"complaints\"\n",
                "name = \"complaints\"\nmax_wait_action = \"disconnect\"\n",
            ) + "\n[routing]\nretry_seconds = 9\nmax_no_answer = 3\nsenior_skill = \"general\"\n\
                   \n[wellbeing]\nrecovery_break_seconds = 60\noccupancy_ceiling = 0.85\n\
                   \n[[queues.overflow]]\nafter_seconds = 45\nlower_levels_by = 2\n\
                   add_queues = [\"accounts\"]\n"
        });
        let (engine, _) = engine_from_config(&cfg).unwrap();
        let e = engine.config();
        assert_eq!(e.offer_timeout_seconds, 25.0);
        assert_eq!((e.retry_seconds, e.max_no_answer), (9.0, 3));
        assert_eq!(e.senior_skill, "general");
        assert_eq!(e.wellbeing.recovery_break_seconds, 60.0);
        assert_eq!(e.wellbeing.occupancy_ceiling, 0.85);
        assert_eq!(e.wellbeing.max_difficult_in_row, 2);
        let q = |name: &str| engine.queue_config(engine.queue_id(name).unwrap()).unwrap();
        assert_eq!(q("cards").offer_timeout_seconds, Some(12.0));
        assert_eq!(q("accounts").offer_timeout_seconds, None);
        assert_eq!(
            q("cards").max_wait.as_ref().map(|m| m.action.clone()),
            Some(MaxWaitAction::Overflow {
                queue: "general".into()
            })
        );
        assert_eq!(
            q("complaints").max_wait.as_ref().map(|m| m.action.clone()),
            Some(MaxWaitAction::Disconnect)
        );
        assert_eq!(
            q("accounts").max_wait.as_ref().map(|m| m.action.clone()),
            Some(MaxWaitAction::Voicemail)
        );
        // The overflow step belongs to the last queue of the file.
        assert_eq!(q("general").overflow.len(), 1);
        assert_eq!(q("general").overflow[0].after_seconds, 45.0);
        assert_eq!(q("general").overflow[0].lower_levels_by, 2);
        assert_eq!(q("general").overflow[0].add_queues, vec!["accounts"]);
    }

    #[test]
    fn the_wallboard_longest_wait_is_the_real_wait() {
        let (mut engine, skills) = engine_from_config(&demo_with(|t| t)).unwrap();
        let accounts = engine.queue_id("accounts").unwrap();
        for (id, at) in [(1, 1_000), (2, 50_000)] {
            engine
                .handle(
                    Instant::from_millis(at),
                    Input::Arrive(Arrival::new(ContactId(id), accounts)),
                )
                .unwrap();
        }
        let views = queue_views(&engine, &skills, Instant::from_millis(61_000));
        let v = views.iter().find(|v| v.name == "accounts").unwrap();
        assert_eq!(v.waiting, 2);
        assert_eq!(v.longest_wait_secs, 60.0);
        let cards = views.iter().find(|v| v.name == "cards").unwrap();
        assert_eq!(cards.longest_wait_secs, 0.0);
    }

    #[test]
    fn a_live_skill_change_routes_the_waiting_caller_and_the_views_follow() {
        let (engine, skills) = engine_from_config(&demo_with(|t| t)).unwrap();
        let mut core = RouterCore::new(engine, skills, &HashMap::new(), None);
        let at = Instant::from_millis;
        let (done, _) = oneshot::channel();
        core.handle(
            at(0),
            RouterCmd::Agent {
                extension: "1003".into(),
                command: AgentCommand::Available,
                done,
            },
        );
        let (notify, mut heard) = mpsc::unbounded_channel();
        let (done, mut arrived) = oneshot::channel();
        core.handle(
            at(1_000),
            RouterCmd::Arrive {
                contact: ContactId(1),
                queue: "accounts".into(),
                priority: 0,
                vip: false,
                escalate: false,
                preferred_agent: None,
                skills: vec![],
                notify,
                done,
            },
        );
        assert_eq!(arrived.try_recv(), Ok(Ok(())));
        let accounts = |core: &RouterCore| {
            queue_views(core.engine(), &core.shell.skills, at(2_000))
                .into_iter()
                .find(|q| q.name == "accounts")
                .map(|q| (q.waiting, q.agents_available))
        };
        assert_eq!(accounts(&core), Some((1, 0)));
        while let Ok(n) = heard.try_recv() {
            assert!(matches!(n, Notice::Position { .. }), "{n:?}");
        }
        let (done, mut set) = oneshot::channel();
        let new: std::collections::BTreeMap<String, u8> =
            [("accounts".to_string(), 5), ("cards".to_string(), 8)].into();
        core.handle(
            at(2_000),
            RouterCmd::SetSkills {
                extension: "1003".into(),
                skills: new.clone(),
                done,
            },
        );
        assert_eq!(set.try_recv(), Ok(Ok(())));
        assert_eq!(
            heard.try_recv(),
            Ok(Notice::Offer {
                agent: "1003".into(),
                callback: false
            })
        );
        assert_eq!(accounts(&core), Some((0, 0)), "1003 is ringing");
        let view = agent_views(core.engine(), &core.shell)
            .into_iter()
            .find(|v| v.extension == "1003")
            .unwrap();
        assert_eq!(view.skills, new);
        // Back to available (the caller left): counted for accounts now.
        core.handle(at(3_000), RouterCmd::Abandon(ContactId(1)));
        assert_eq!(accounts(&core), Some((0, 1)));
        // Unknown agents and bad levels are refused.
        let (done, mut set) = oneshot::channel();
        core.handle(
            at(4_000),
            RouterCmd::SetSkills {
                extension: "4242".into(),
                skills: new.clone(),
                done,
            },
        );
        assert!(matches!(set.try_recv(), Ok(Err(e)) if e.starts_with("no agent")));
        let (done, mut set) = oneshot::channel();
        core.handle(
            at(4_000),
            RouterCmd::SetSkills {
                extension: "1003".into(),
                skills: [("accounts".to_string(), 11)].into(),
                done,
            },
        );
        assert!(matches!(set.try_recv(), Ok(Err(_))));
        assert_eq!(accounts(&core), Some((0, 1)), "nothing changed");
    }

    fn send<T>(
        core: &mut RouterCore,
        at: u64,
        cmd: impl FnOnce(oneshot::Sender<T>) -> RouterCmd,
    ) -> T {
        let (done, mut rx) = oneshot::channel();
        core.handle(Instant::from_millis(at), cmd(done));
        rx.try_recv().expect("answered at once")
    }

    fn arrive(
        core: &mut RouterCore,
        at: u64,
        id: u64,
        queue: &str,
    ) -> mpsc::UnboundedReceiver<Notice> {
        let (notify, heard) = mpsc::unbounded_channel();
        let r = send(core, at, |done| RouterCmd::Arrive {
            contact: ContactId(id),
            queue: queue.into(),
            priority: 0,
            vip: false,
            escalate: false,
            preferred_agent: None,
            skills: vec![],
            notify,
            done,
        });
        assert_eq!(r, Ok(()));
        heard
    }

    fn offered(heard: &mut mpsc::UnboundedReceiver<Notice>) -> Vec<String> {
        std::iter::from_fn(|| heard.try_recv().ok())
            .filter_map(|n| match n {
                Notice::Offer { agent, .. } => Some(agent),
                _ => None,
            })
            .collect()
    }

    fn view(core: &RouterCore, ext: &str) -> Option<AgentView> {
        agent_views(core.engine(), &core.shell)
            .into_iter()
            .find(|v| v.extension == ext)
    }

    fn available(core: &mut RouterCore, at: u64, ext: &str) {
        let r = send(core, at, |done| RouterCmd::Agent {
            extension: ext.into(),
            command: AgentCommand::Available,
            done,
        });
        assert!(matches!(r.as_deref(), Ok("available" | "offered")), "{r:?}");
    }

    #[test]
    fn an_agent_added_live_appears_logged_out_then_takes_calls_and_a_removed_one_disappears() {
        let (engine, skills) = engine_from_config(&demo_with(|t| t)).unwrap();
        let mut core = RouterCore::new(engine, skills, &HashMap::new(), None);
        let loans: std::collections::BTreeMap<String, u8> = [("loans".to_string(), 4)].into();
        // A queue nobody serves yet, added live: it is in the queue views at once.
        let mut q = QueueConfig::new("loans", &[("loans", 2)]);
        q.wrap_up_seconds = 5.0;
        let r = send(&mut core, 0, |done| RouterCmd::UpsertQueue {
            queue: q,
            done,
        });
        assert_eq!(r, Ok(()));
        let views = queue_views(core.engine(), &core.shell.skills, Instant::from_millis(0));
        assert!(views.iter().any(|v| v.name == "loans" && v.waiting == 0));
        let mut heard = arrive(&mut core, 1_000, 1, "loans");
        let r = send(&mut core, 2_000, |done| RouterCmd::AddAgent {
            extension: "2001".into(),
            name: "周杰 Zhou Jie".into(),
            skills: loans.clone(),
            capacity: Default::default(),
            done,
        });
        assert_eq!(r, Ok(()));
        let v = view(&core, "2001").expect("a new agent is in the views");
        assert_eq!(
            (v.state, v.name.as_str()),
            (AgentState::LoggedOut, "周杰 Zhou Jie")
        );
        assert_eq!(v.skills, loans);
        assert_eq!(offered(&mut heard), Vec::<String>::new(), "logged out");
        // The extension is taken now.
        let r = send(&mut core, 2_000, |done| RouterCmd::AddAgent {
            extension: "2001".into(),
            name: "x".into(),
            skills: loans.clone(),
            capacity: Default::default(),
            done,
        });
        assert!(matches!(r, Err(e) if e.contains("exists")));
        available(&mut core, 3_000, "2001");
        assert_eq!(offered(&mut heard), vec!["2001".to_string()]);
        // Ringing, then on the call: removing it is refused.
        let remove = |core: &mut RouterCore, at| {
            send(core, at, |done| RouterCmd::RemoveAgent {
                extension: "2001".into(),
                done,
            })
        };
        assert!(matches!(remove(&mut core, 4_000), Err(e) if e.starts_with("busy")));
        let r = send(&mut core, 5_000, |done| RouterCmd::Answer {
            contact: ContactId(1),
            agent: "2001".into(),
            done,
        });
        assert_eq!(r, Ok(()));
        assert!(matches!(remove(&mut core, 6_000), Err(e) if e.starts_with("busy")));
        core.handle(
            Instant::from_millis(7_000),
            RouterCmd::End {
                contact: ContactId(1),
                agitation: None,
                abusive: false,
            },
        );
        // In wrap-up: removed, gone from the views; its calls go nowhere near it.
        assert_eq!(remove(&mut core, 8_000), Ok(()));
        assert!(view(&core, "2001").is_none());
        assert!(core.shell.tracks.len() == core.shell.skills.len());
        let mut heard = arrive(&mut core, 9_000, 2, "loans");
        core.handle_timeout(Instant::from_millis(20_000));
        assert_eq!(offered(&mut heard), Vec::<String>::new());
        let views = queue_views(
            core.engine(),
            &core.shell.skills,
            Instant::from_millis(20_000),
        );
        let v = views.iter().find(|v| v.name == "loans").unwrap();
        assert_eq!((v.waiting, v.agents_available), (1, 0));
        assert!(matches!(remove(&mut core, 21_000), Err(e) if e.starts_with("no agent")));
        // The same extension added again is a new agent, who takes the waiting caller.
        let r = send(&mut core, 22_000, |done| RouterCmd::AddAgent {
            extension: "2001".into(),
            name: "周杰".into(),
            skills: loans.clone(),
            capacity: Default::default(),
            done,
        });
        assert_eq!(r, Ok(()));
        assert_eq!(
            view(&core, "2001").map(|v| v.state),
            Some(AgentState::LoggedOut)
        );
        available(&mut core, 23_000, "2001");
        assert_eq!(offered(&mut heard), vec!["2001".to_string()]);
        // Renamed: the views follow.
        let r = send(&mut core, 24_000, |done| RouterCmd::RenameAgent {
            extension: "2001".into(),
            name: "Zhou Jie".into(),
            done,
        });
        assert_eq!(r, Ok(()));
        assert_eq!(
            view(&core, "2001").map(|v| v.name),
            Some("Zhou Jie".to_string())
        );
        let r = send(&mut core, 24_000, |done| RouterCmd::RenameAgent {
            extension: "4242".into(),
            name: "nobody".into(),
            done,
        });
        assert!(r.is_err());
    }

    #[test]
    fn a_queue_changed_live_applies_its_wrap_up_from_the_next_call_and_rules_change_too() {
        let cfg = demo_with(|t| t);
        let (engine, skills) = engine_from_config(&cfg).unwrap();
        let mut core = RouterCore::new(engine, skills, &HashMap::new(), None);
        available(&mut core, 0, "1003");
        let cards_cfg = cfg
            .queues
            .iter()
            .find(|q| q.name.get_ref() == "cards")
            .unwrap();
        let mut cards = queue_config(cards_cfg, &cfg).unwrap();
        assert_eq!(
            Some(&cards),
            core.engine()
                .queue_config(core.engine().queue_id("cards").unwrap()),
            "the same conversion as at start"
        );
        cards.wrap_up_seconds = 10.0;
        let set = cards.clone();
        assert_eq!(
            send(&mut core, 0, |done| RouterCmd::UpsertQueue {
                queue: set,
                done
            }),
            Ok(())
        );
        let mut heard = arrive(&mut core, 1_000, 1, "cards");
        let taker = offered(&mut heard).pop().expect("offered");
        let r = send(&mut core, 2_000, |done| RouterCmd::Answer {
            contact: ContactId(1),
            agent: taker.clone(),
            done,
        });
        assert_eq!(r, Ok(()));
        // Changed while the call is connected: that call keeps 10 s.
        cards.wrap_up_seconds = 100.0;
        let set = cards.clone();
        assert_eq!(
            send(&mut core, 3_000, |done| RouterCmd::UpsertQueue {
                queue: set,
                done
            }),
            Ok(())
        );
        core.handle(
            Instant::from_millis(4_000),
            RouterCmd::End {
                contact: ContactId(1),
                agitation: None,
                abusive: false,
            },
        );
        assert_eq!(
            view(&core, &taker).map(|v| v.state),
            Some(AgentState::WrapUp)
        );
        assert_eq!(core.poll_timeout(), Some(Instant::from_millis(14_000)));
        // A bad queue is refused.
        let mut bad = cards.clone();
        bad.skills.insert("cards".into(), 0);
        assert!(
            send(&mut core, 5_000, |done| RouterCmd::UpsertQueue {
                queue: bad,
                done
            })
            .is_err()
        );
        // Rules: a shorter ring timeout for the next offer; the senior skill stays.
        let rules = EngineConfig {
            offer_timeout_seconds: 7.0,
            senior_skill: "other".into(),
            ..engine_config(&cfg)
        };
        assert_eq!(
            send(&mut core, 5_000, |done| RouterCmd::SetRules { rules, done }),
            Ok(())
        );
        assert_eq!(core.engine().config().offer_timeout_seconds, 7.0);
        assert_eq!(core.engine().config().senior_skill, "senior");
    }

    #[test]
    fn queue_config_refuses_queues_that_name_no_queue() {
        let demo = demo_with(|t| t);
        let with_extra = demo_with(|t| {
            t.replace(
                "name = \"cards\"\n",
                "name = \"cards\"\nmax_wait_action = \"overflow\"\n\
                 overflow_queue = \"extra\"\n",
            ) + "\n[[queues]]\nname = \"extra\"\nskills = { general = 1 }\n"
        });
        let cards = with_extra
            .queues
            .iter()
            .find(|q| q.name.get_ref() == "cards")
            .unwrap();
        // Against the centre it comes from: fine; against one without `extra`: refused.
        let qc = queue_config(cards, &with_extra).unwrap();
        assert_eq!(
            qc.max_wait.map(|m| m.action),
            Some(MaxWaitAction::Overflow {
                queue: "extra".into()
            })
        );
        assert!(matches!(queue_config(cards, &demo), Err(e) if e.contains("extra")));
    }

    #[test]
    fn a_recent_alert_is_high_stress_for_a_quarter_of_an_hour() {
        let w = figures(0, 1800.0, 600.0);
        assert_eq!(stress(&w, 2, Some(1.0), Some(3.0)).1, Stress::High);
        assert_eq!(stress(&w, 2, Some(1.0), Some(20.0)).1, Stress::Low);
    }
}
