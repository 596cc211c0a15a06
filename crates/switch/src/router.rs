//! The routing task: the one owner of the ACD engine. Call sessions and the API send it
//! commands; it tells each waiting contact's session about offers, positions and waits.
//! The engine keeps virtual milliseconds; this shell maps them to the monotonic clock.

use std::collections::HashMap;

use hotline_acd::{
    AgentConfig, AgentId, AgentState, Arrival, ContactId, Engine, EngineConfig, Input, Instant,
    MaxWait, MaxWaitAction, Output, QueueConfig, Strategy,
};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

/// What a waiting contact's session hears from the router.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// Ring this agent.
    Offer { agent: String },
    /// The offer was taken back (the agent logged out, the contact moved on).
    Rescinded { agent: String },
    /// Place in line and estimated wait.
    Position { position: u32, eta_secs: u64 },
    /// The queue's maximum wait has passed.
    MaxWait(MaxWaitAction),
}

/// An agent's state as asked for by the agent or a supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentCommand {
    LogIn,
    Available,
    NotReady(String),
    Break(String),
    /// Wrap-up is done: ready for the next contact.
    EndWrapUp,
    LogOut,
}

/// One queue's live figures.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueView {
    pub name: String,
    pub waiting: usize,
    pub longest_wait_secs: f64,
    /// Agents available now who have every skill the queue needs at its minimum level.
    pub agents_available: usize,
    /// Service-level target: answered within this many seconds.
    pub target_seconds: f64,
}

/// Each agent's skills, as configured, for the supervisors' views.
pub type AgentSkills = Vec<(AgentId, std::collections::BTreeMap<String, u8>)>;

/// Commands to the router.
pub enum RouterCmd {
    Arrive {
        contact: ContactId,
        queue: String,
        priority: i32,
        vip: bool,
        escalate: bool,
        notify: mpsc::UnboundedSender<Notice>,
        done: oneshot::Sender<Result<(), String>>,
    },
    Abandon(ContactId),
    Reject {
        contact: ContactId,
        agent: String,
    },
    Answer {
        contact: ContactId,
        agent: String,
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
}

/// Builds the engine from a centre's configuration.
pub fn engine_from_config(cfg: &hotline_config::Config) -> Result<(Engine, AgentSkills), String> {
    let mut skills_of = Vec::new();
    let mut engine = Engine::new(EngineConfig::default());
    for q in &cfg.queues {
        let skills: Vec<(String, u8)> = q
            .skills
            .iter()
            .map(|(s, l)| (s.clone(), *l.get_ref()))
            .collect();
        let refs: Vec<(&str, u8)> = skills.iter().map(|(s, l)| (s.as_str(), *l)).collect();
        let mut qc = QueueConfig::new(q.name.get_ref().clone(), &refs);
        qc.priority = q.priority;
        qc.target_seconds = f64::from(q.target_seconds);
        qc.strategy = match q.strategy {
            hotline_config::Strategy::LongestIdle => Strategy::LongestIdle,
            hotline_config::Strategy::FewestContacts => Strategy::FewestContacts,
            hotline_config::Strategy::LeastOccupied => Strategy::LeastOccupied,
            hotline_config::Strategy::RoundRobin => Strategy::RoundRobin,
            hotline_config::Strategy::RingAll => Strategy::RingAll,
            hotline_config::Strategy::BestSkill => Strategy::BestFit,
        };
        qc.max_wait = q.max_wait_seconds.map(|s| MaxWait {
            seconds: f64::from(s),
            action: MaxWaitAction::Voicemail,
        });
        engine.add_queue(qc).map_err(|e| e.to_string())?;
    }
    for a in &cfg.agents {
        let skills: Vec<(String, u8)> = a
            .skills
            .iter()
            .map(|(s, l)| (s.clone(), *l.get_ref()))
            .collect();
        let refs: Vec<(&str, u8)> = skills.iter().map(|(s, l)| (s.as_str(), *l)).collect();
        let id = engine
            .add_agent(AgentConfig::new(a.extension.get_ref().clone(), &refs))
            .map_err(|e| e.to_string())?;
        skills_of.push((id, skills.into_iter().collect()));
    }
    Ok((engine, skills_of))
}

/// Runs the router until every sender is gone.
pub async fn run(
    mut engine: Engine,
    skills: AgentSkills,
    mut commands: mpsc::UnboundedReceiver<RouterCmd>,
) {
    let start = tokio::time::Instant::now();
    let now = || Instant::from_millis(start.elapsed().as_millis() as u64);
    let mut waiting: HashMap<ContactId, mpsc::UnboundedSender<Notice>> = HashMap::new();
    loop {
        let deadline = engine
            .poll_timeout()
            .map(|t| start + std::time::Duration::from_millis(t.as_millis()));
        let cmd = tokio::select! {
            c = commands.recv() => match c { Some(c) => Some(c), None => return },
            _ = sleep_until(deadline) => None,
        };
        match cmd {
            None => engine.handle_timeout(now()),
            Some(cmd) => handle(&mut engine, &skills, now(), cmd, &mut waiting),
        }
        while let Some(out) = engine.poll_output() {
            dispatch(&engine, out, &mut waiting);
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

fn handle(
    engine: &mut Engine,
    skills: &AgentSkills,
    now: Instant,
    cmd: RouterCmd,
    waiting: &mut HashMap<ContactId, mpsc::UnboundedSender<Notice>>,
) {
    let result = match cmd {
        RouterCmd::Arrive {
            contact,
            queue,
            priority,
            vip,
            escalate,
            notify,
            done,
        } => {
            let r = match engine.queue_id(&queue) {
                Some(q) => {
                    let mut a = Arrival::new(contact, q);
                    a.priority = priority;
                    a.vip = vip;
                    a.escalate = escalate;
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
        } => match engine.agent_id(&ext) {
            Some(agent) => engine.handle(now, Input::Reject { contact, agent }),
            None => Ok(()),
        },
        RouterCmd::Answer {
            contact,
            agent: ext,
        } => match engine.agent_id(&ext) {
            Some(agent) => {
                waiting.remove(&contact);
                engine.handle(now, Input::Answer { contact, agent })
            }
            None => Ok(()),
        },
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
                    AgentCommand::LogOut => vec![Input::Logout(a)],
                };
                for i in inputs {
                    engine.handle(now, i).map_err(|e| e.to_string())?;
                }
                Ok(format!("{:?}", engine.agent_state(a)))
            });
            let _ = done.send(r);
            Ok(())
        }
        RouterCmd::Queues(reply) => {
            let _ = reply.send(queue_views(engine, skills));
            Ok(())
        }
    };
    if let Err(e) = result {
        // A command about a contact or agent the engine no longer knows: nothing to undo.
        debug!(error = %e, "router command refused");
    }
}

/// A supervisor's view; it looks at every agent, which is fine for a view and is never done
/// per routing decision.
fn queue_views(engine: &Engine, skills: &AgentSkills) -> Vec<QueueView> {
    let mut views = Vec::new();
    for i in 0..engine.queue_count() {
        let q = hotline_acd::QueueId(i as u32);
        let Some(cfg) = engine.queue_config(q) else {
            continue;
        };
        let positions = engine.queue_positions(q);
        let agents_available = skills
            .iter()
            .filter(|(id, have)| {
                engine.agent_state(*id) == Some(AgentState::Available)
                    && cfg
                        .skills
                        .iter()
                        .all(|(skill, min)| have.get(skill).is_some_and(|l| l >= min))
            })
            .count();
        views.push(QueueView {
            name: cfg.name.clone(),
            waiting: engine.waiting(q),
            longest_wait_secs: positions
                .first()
                .map_or(0.0, |(_, w)| w.estimated_wait_seconds.max(0.0)),
            agents_available,
            target_seconds: cfg.target_seconds,
        });
    }
    views
}

fn dispatch(
    engine: &Engine,
    out: Output,
    waiting: &mut HashMap<ContactId, mpsc::UnboundedSender<Notice>>,
) {
    let name = |a: AgentId| engine.agent_name(a).unwrap_or("?").to_string();
    let (contact, notice) = match out {
        Output::Offer { contact, agent, .. } => (contact, Notice::Offer { agent: name(agent) }),
        Output::OfferRescinded { contact, agent } => {
            (contact, Notice::Rescinded { agent: name(agent) })
        }
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
        Output::Overflowed { .. } | Output::WellbeingAlert { .. } | Output::AgentState { .. } => {
            return;
        }
    };
    if let Some(tx) = waiting.get(&contact)
        && tx.send(notice).is_err()
    {
        warn!(?contact, "a waiting contact's session is gone");
        waiting.remove(&contact);
    }
}
