//! Call sessions: the part of hotline that ties a caller's SIP leg, its media, the contact
//! flow, the routing engine, the agent's leg and the event log into one call.
//!
//! [`Centre::start`] takes the pieces (SIP server, media engine, prompts, flows, store) and
//! runs one task per call ([`session`]) plus the routing task that owns the ACD engine
//! ([`router`]). Every state change of a call is handed to the store, in order, before
//! anything is done about it outside hotline; nobody waits for the disk (see
//! `docs/durability.md`): [`Centre::log_health`] says how far the log is behind, and new
//! calls are refused with 503 while its backlog is over the bound.

pub mod apply;
pub mod browser;
pub mod campaign;
pub mod chat;
pub mod confdoc;
pub mod hashpool;
pub mod live;
pub mod liveconfig;
pub mod mailboxes;
pub mod numbers;
pub mod quality;
pub mod restart;
pub mod retention;
pub mod role;
pub mod router;
pub mod session;
pub mod texts;
pub mod trunk;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use hotline_flow::FlowSet;
use hotline_media::MediaEngine;
use hotline_media::player::PromptLibrary;
use hotline_sip::SipServer;
use hotline_sip::calls::IncomingCall;
use hotline_store::Store;
use tokio::sync::{mpsc, oneshot};

use hotline_model::Timestamp;
use restart::{futures_join_all, restore_agents, save_registrations};
pub use restart::{keep_registrations, restore_registrations, start_of_day};
pub use router::{AgentCommand, AgentView, Notice, QueueView, RouterCmd, Stress};
use session::Shared;
pub use session::TransferTarget;

/// Limits and places of a running centre.
#[derive(Debug, Clone)]
pub struct CentreOptions {
    pub media_ip: IpAddr,
    pub recordings: PathBuf,
    /// The trunk calls out go through, with its numbering, identity and credentials.
    pub trunk: Option<trunk::OutboundTrunk>,
    /// Events waiting for the disk at which new calls are refused (503, Retry-After); they
    /// are taken again once the backlog is below half of it.
    pub max_backlog_events: usize,
    /// The log is "behind" (an alert to supervisors) when its oldest uncommitted event is
    /// this old.
    pub behind_alert: Duration,
    /// Each agent's last state in the log (see [`hotline_store::Store::agent_states`]), put
    /// back into the routing engine before the first call (see [`restore_agents`]).
    pub restore_agents: Vec<hotline_model::AgentStatus>,
    /// The documents behind the configuration the centre starts with: the files as read,
    /// and the files with the log's live changes (see [`confdoc::restore`]), which the
    /// `cfg` given to [`Centre::start`] was checked from.
    pub docs: liveconfig::LiveDocs,
}

/// How the event log keeps up, as supervisors are told (see [`Centre::log_health`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LogHealth {
    /// The oldest event not yet committed is older than the alert age.
    pub behind: bool,
    /// New calls are refused while the backlog is over its bound.
    pub refusing_calls: bool,
    /// Age in seconds of the oldest event not yet committed, when this was last raised or
    /// cleared.
    pub oldest_seconds: f64,
    /// Events not yet committed then.
    pub backlog_events: usize,
}

/// How often the log's backlog is checked.
const LOG_WATCH: Duration = Duration::from_millis(200);

/// Watches the log's backlog: refuses new calls over the bound (until it is below half), and
/// raises or clears the "log behind" alert. Ends when the centre is dropped.
async fn watch_log(
    shared: std::sync::Weak<Shared>,
    options: CentreOptions,
    health: tokio::sync::watch::Sender<LogHealth>,
    draining: Arc<AtomicU32>,
) {
    let mut tick = tokio::time::interval(LOG_WATCH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let max = options.max_backlog_events.max(1);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let calls = &shared.calls;
        let b = shared.store.backlog();
        let was = *health.borrow();
        let refusing = if was.refusing_calls {
            b.events >= max / 2
        } else {
            b.events >= max
        };
        let behind = b.oldest >= options.behind_alert;
        if refusing != was.refusing_calls {
            // Retry after roughly the time the backlog has been building up.
            let retry = u32::try_from(b.oldest.as_secs().clamp(5, 300)).unwrap_or(300);
            // While the centre drains, new calls stay refused whatever the log does.
            let drain_retry = draining.load(Ordering::Acquire);
            calls.refuse_new_calls(if refusing {
                Some(retry.max(drain_retry))
            } else {
                (drain_retry > 0).then_some(drain_retry)
            });
            if refusing {
                tracing::error!(
                    backlog = b.events,
                    max,
                    "event log backlog over its bound: new calls refused (503) until it drains"
                );
            } else {
                tracing::warn!(
                    backlog = b.events,
                    "event log backlog drained: taking new calls"
                );
            }
        }
        if behind != was.behind {
            if behind {
                tracing::error!(
                    oldest_secs = b.oldest.as_secs_f64(),
                    backlog = b.events,
                    "the event log is behind: the disk is slow"
                );
            } else {
                tracing::warn!("the event log has caught up");
            }
        }
        if refusing != was.refusing_calls || behind != was.behind {
            health.send_replace(LogHealth {
                behind,
                refusing_calls: refusing,
                oldest_seconds: b.oldest.as_secs_f64(),
                backlog_events: b.events,
            });
        }
    }
}

/// A running centre.
pub struct Centre {
    shared: Arc<Shared>,
    log_health: tokio::sync::watch::Sender<LogHealth>,
    /// Non-zero once the centre drains: the Retry-After new calls are refused with.
    draining: Arc<AtomicU32>,
    /// The configuration the centre runs now (see [`Centre::config`]).
    config: parking_lot::RwLock<Arc<hotline_config::Config>>,
    /// The documents behind it; changes are made one at a time.
    docs: tokio::sync::Mutex<liveconfig::LiveDocs>,
    /// Outbound campaigns.
    dialler: campaign::Dialler,
    /// Web chats and e-mail conversations.
    chats: chat::Chats,
    /// The mailboxes' IMAP and SMTP side.
    mailboxes: mailboxes::Mailboxes,
    /// The SMSC link or the SMS provider's HTTP API.
    texts: texts::Texts,
}

impl Centre {
    /// Starts the router and takes every incoming call from `incoming`.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        cfg: &hotline_config::Config,
        sip: &SipServer,
        mut incoming: mpsc::UnboundedReceiver<IncomingCall>,
        media: MediaEngine,
        prompts: Arc<PromptLibrary>,
        flows: Arc<FlowSet>,
        store: Store,
        options: CentreOptions,
    ) -> Result<Centre, String> {
        let (engine, skills) = router::engine_from_config(cfg)?;
        let docs = options.docs.clone();
        let senior_skill = engine.config().senior_skill.clone();
        let (router_tx, router_rx) = mpsc::unbounded_channel();
        let names = cfg
            .agents
            .iter()
            .map(|a| (a.extension.get_ref().clone(), a.name.clone()))
            .collect();
        tokio::spawn(router::run(
            engine,
            skills,
            names,
            Some(store.clone()),
            router_rx,
        ));
        // Before any call: the router takes commands in order.
        restore_agents(cfg, &router_tx, &store, &options.restore_agents);
        std::fs::create_dir_all(&options.recordings)
            .map_err(|e| format!("cannot create {}: {e}", options.recordings.display()))?;
        let retention = retention::Retention::from_config(cfg);
        if retention.is_active() {
            tokio::spawn(retention::run(
                store.clone(),
                retention,
                options.recordings.clone(),
                std::time::Duration::from_secs(3600),
            ));
        }
        let (log_health, _) = tokio::sync::watch::channel(LogHealth::default());
        let draining = Arc::new(AtomicU32::new(0));
        let watch_options = options.clone();
        let shared = Arc::new(Shared {
            store,
            media,
            prompts,
            router: router_tx,
            calls: sip.calls.clone(),
            registrar: sip.registrar.clone(),
            guard: sip.guard.clone(),
            media_ip: options.media_ip,
            recordings: options.recordings,
            senior_skill,
            routes: parking_lot::RwLock::new(Arc::new(session::Routes::new(
                cfg,
                flows,
                options.trunk,
            ))),
            next_contact: AtomicU64::new(1),
            fault_notice: AtomicBool::new(false),
            sessions: Default::default(),
            browser_phones: Default::default(),
            monitors: Default::default(),
            quality: Default::default(),
        });
        tokio::spawn(watch_log(
            Arc::downgrade(&shared),
            watch_options,
            log_health.clone(),
            draining.clone(),
        ));
        if shared.routes().numbers.is_open() {
            tracing::warn!(
                "no service number is configured: calls to any number go to the flow `main`"
            );
        }
        let for_calls = shared.clone();
        tokio::spawn(async move {
            while let Some(call) = incoming.recv().await {
                tokio::spawn(session::run_call(for_calls.clone(), call));
            }
        });
        let dialler = campaign::Dialler::start(shared.clone());
        let (chats, outboxes) = chat::Chats::start(shared.clone(), cfg);
        // Open conversations come back from the log before new messages are taken (one
        // may answer them) and before a widget may take its chat up again.
        let restored = chats.restored();
        let restoring = chats.clone();
        tokio::spawn(async move { restoring.restore_open().await });
        let mailboxes =
            mailboxes::Mailboxes::start(chats.clone(), cfg, outboxes.mail, restored.clone());
        let texts = texts::Texts::start(chats.clone(), cfg, outboxes.sms, restored);
        Ok(Centre {
            shared,
            dialler,
            chats,
            mailboxes,
            texts,
            log_health,
            draining,
            config: parking_lot::RwLock::new(Arc::new(cfg.clone())),
            docs: tokio::sync::Mutex::new(docs),
        })
    }

    /// The web chats.
    pub fn chats(&self) -> &chat::Chats {
        &self.chats
    }

    /// The text messages' transport (the SMSC link or the SMS provider's HTTP API).
    pub fn texts(&self) -> &texts::Texts {
        &self.texts
    }

    /// The outbound campaigns' dialler.
    pub fn dialler(&self) -> &campaign::Dialler {
        &self.dialler
    }

    /// Reads a campaign's settings (JSON) and checks them against the centre.
    pub fn campaign_spec(
        &self,
        v: &serde_json::Value,
    ) -> Result<campaign::CampaignSpec, campaign::CampaignError> {
        campaign::CampaignSpec::parse(v, &self.shared)
    }

    /// Sets an agent's state (log in, available, not ready, break, log out).
    pub async fn agent(&self, extension: &str, command: AgentCommand) -> Result<String, String> {
        let (done, rx) = oneshot::channel();
        self.shared
            .router
            .send(RouterCmd::Agent {
                extension: extension.to_string(),
                command,
                done,
            })
            .map_err(|_| "the router has stopped".to_string())?;
        rx.await.map_err(|_| "the router has stopped".to_string())?
    }

    /// Replaces an agent's skills and levels while the centre runs (validated by the
    /// caller, see [`live::skill_name_problem`] and [`live::level_problem`]): the change is
    /// appended to the log as an audit event by `by` (`agent_skills`, with the skills before
    /// and after) and, once durable, applied: the next routing decision uses the new skills.
    pub async fn change_skills(
        &self,
        by: &str,
        extension: &str,
        skills: std::collections::BTreeMap<String, u8>,
    ) -> Result<live::SkillsChange, live::ChangeError> {
        self.change_skills_live(by, extension, skills).await
    }

    /// Reports a leg's live quality measured outside the media engine: a browser's WebRTC
    /// leg sends its `getStats()` figures through the agent desk, and they go here (build
    /// the sample with [`quality::LegSample::from_figures`]: loss over the last interval,
    /// jitter and round trip in milliseconds). The call treats it as it treats the engine's
    /// samples of SIP legs: live to supervisors, an alert below MOS 3.5, the record's
    /// figures. `leg` is the side: `Agent` is the agent who answered. Errors when the call
    /// is not in progress.
    pub fn report_leg_quality(
        &self,
        interaction: hotline_model::InteractionId,
        leg: hotline_model::Leg,
        sample: quality::LegSample,
    ) -> Result<(), String> {
        let tx = self.shared.sessions.lock().get(&interaction).cloned();
        match tx {
            Some(tx) => tx
                .send(session::SessionCmd::Quality { leg, sample })
                .map_err(|_| "the call is over".to_string()),
            None => Err("no such call in progress".to_string()),
        }
    }

    /// Connected calls' live quality (see [`quality`]).
    pub fn live_quality(&self) -> &quality::LiveQuality {
        &self.shared.quality
    }

    /// Ends a call in progress as its agent would.
    pub async fn hangup(&self, interaction: hotline_model::InteractionId) -> Result<(), String> {
        self.command(interaction, |reply| session::SessionCmd::Hangup { reply })
            .await
    }

    /// Hands a call in progress on to a senior.
    pub async fn escalate(
        &self,
        interaction: hotline_model::InteractionId,
        reason: String,
    ) -> Result<(), String> {
        self.command(interaction, |reply| session::SessionCmd::Escalate {
            reason,
            reply,
        })
        .await
    }

    /// Blind transfer of a call in progress to an agent extension or a queue name.
    pub async fn transfer(
        &self,
        interaction: hotline_model::InteractionId,
        to: &str,
    ) -> Result<(), String> {
        let to = TransferTarget::resolve(&self.shared, to)
            .ok_or_else(|| format!("no agent or queue is called `{to}`"))?;
        self.command(interaction, |reply| session::SessionCmd::Transfer {
            to,
            reply,
        })
        .await
    }

    /// Whether `name` is an agent extension or a queue (a transfer target).
    pub fn is_transfer_target(&self, name: &str) -> bool {
        TransferTarget::resolve(&self.shared, name).is_some()
    }

    /// The agent flags the caller as abusive: a polite recorded message ends the call and
    /// the agent gets a recovery break after wrap-up.
    pub async fn abusive(&self, interaction: hotline_model::InteractionId) -> Result<(), String> {
        self.command(interaction, |reply| session::SessionCmd::Abusive { reply })
            .await
    }

    /// Pauses (`true`) or resumes the recording of a call in progress (card data read out).
    /// Refused: a stable code (`not_in_progress`, `no_recording`, `already_paused`,
    /// `not_paused`) and why.
    pub async fn pause_recording(
        &self,
        interaction: hotline_model::InteractionId,
        pause: bool,
    ) -> Result<(), (&'static str, String)> {
        self.command(interaction, |reply| session::SessionCmd::PauseRecording {
            pause,
            reply,
        })
        .await
        .map_err(|e| {
            for code in ["no_recording", "already_paused", "not_paused"] {
                if let Some(why) = e.strip_prefix(code).and_then(|r| r.strip_prefix(": ")) {
                    return (code, why.to_string());
                }
            }
            ("not_in_progress", e)
        })
    }

    /// A supervisor starts monitoring a connected call in `mode` on `phone` (rung by the
    /// centre). Refused: a stable code (`not_in_progress`, `not_connected`,
    /// `already_monitored`, `already_monitoring`, `phone_unavailable`) and why.
    pub async fn monitor(
        &self,
        interaction: hotline_model::InteractionId,
        supervisor: &str,
        phone: session::call::SupervisorPhone,
        mode: hotline_model::MonitorMode,
    ) -> Result<(), (&'static str, String)> {
        {
            let mut monitors = self.shared.monitors.lock();
            if let Some(other) = monitors.get(supervisor) {
                return Err((
                    "already_monitoring",
                    format!("{supervisor} already monitors the call {other}: stop it first"),
                ));
            }
            monitors.insert(supervisor.to_string(), interaction);
        }
        let supervisor_name = supervisor.to_string();
        let result = self
            .command(interaction, |reply| session::SessionCmd::Monitor {
                supervisor: supervisor_name,
                phone,
                mode,
                reply,
            })
            .await
            .map_err(monitor_error);
        if result.is_err() {
            let mut monitors = self.shared.monitors.lock();
            if monitors.get(supervisor) == Some(&interaction) {
                monitors.remove(supervisor);
            }
        }
        result
    }

    /// The monitoring supervisor switches mode (refusals as [`Centre::monitor`], and
    /// `not_monitored`).
    pub async fn monitor_mode(
        &self,
        interaction: hotline_model::InteractionId,
        supervisor: &str,
        mode: hotline_model::MonitorMode,
    ) -> Result<(), (&'static str, String)> {
        let supervisor = supervisor.to_string();
        self.command(interaction, |reply| session::SessionCmd::MonitorMode {
            supervisor,
            mode,
            reply,
        })
        .await
        .map_err(monitor_error)
    }

    /// The monitoring supervisor stops: the phone is hung up.
    pub async fn monitor_stop(
        &self,
        interaction: hotline_model::InteractionId,
        supervisor: &str,
    ) -> Result<(), (&'static str, String)> {
        let supervisor = supervisor.to_string();
        self.command(interaction, |reply| session::SessionCmd::MonitorStop {
            supervisor,
            reply,
        })
        .await
        .map_err(monitor_error)
    }

    /// The monitoring supervisor takes the call over: the agent's leg is released, the
    /// caller talks to the supervisor (refusals as [`Centre::monitor_mode`], and
    /// `not_answered`).
    pub async fn take_over(
        &self,
        interaction: hotline_model::InteractionId,
        supervisor: &str,
    ) -> Result<(), (&'static str, String)> {
        let supervisor = supervisor.to_string();
        self.command(interaction, |reply| session::SessionCmd::TakeOver {
            supervisor,
            reply,
        })
        .await
        .map_err(monitor_error)
    }

    /// The calls supervisors monitor now: supervisor → interaction.
    pub fn monitors(&self) -> Vec<(String, hotline_model::InteractionId)> {
        let mut v: Vec<_> = self
            .shared
            .monitors
            .lock()
            .iter()
            .map(|(s, i)| (s.clone(), *i))
            .collect();
        v.sort();
        v
    }

    async fn command(
        &self,
        interaction: hotline_model::InteractionId,
        make: impl FnOnce(oneshot::Sender<Result<(), String>>) -> session::SessionCmd,
    ) -> Result<(), String> {
        let tx = self
            .shared
            .sessions
            .lock()
            .get(&interaction)
            .cloned()
            .ok_or_else(|| "the call is not in progress".to_string())?;
        let (reply, rx) = oneshot::channel();
        tx.send(make(reply))
            .map_err(|_| "the call is not in progress".to_string())?;
        rx.await
            .map_err(|_| "the call ended meanwhile".to_string())?
    }

    /// Live figures per queue.
    pub async fn queues(&self) -> Vec<QueueView> {
        let (tx, rx) = oneshot::channel();
        if self.shared.router.send(RouterCmd::Queues(tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Every agent's state, figures and stress estimate. `wellbeing.handled` is the
    /// contacts the agent answered today (UTC), from the interaction records in the log (the
    /// `agent_days` projection of them), as the queues' figures are: the one source of truth
    /// for per-day figures, which a restart does not reset.
    pub async fn agents(&self) -> Vec<AgentView> {
        let (tx, rx) = oneshot::channel();
        if self.shared.router.send(RouterCmd::Agents(tx)).is_err() {
            return Vec::new();
        }
        let mut views = rx.await.unwrap_or_default();
        match self
            .shared
            .store
            .handled_since(start_of_day(Timestamp::now()))
            .await
        {
            Ok(handled) => {
                let handled: std::collections::HashMap<_, _> = handled.into_iter().collect();
                for v in &mut views {
                    v.wellbeing.handled = handled
                        .get(&hotline_model::AgentId::new(v.extension.clone()))
                        .copied()
                        .unwrap_or(0);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read today's handled contacts"),
        }
        views
    }

    /// Switches the outage announcement played to every new caller.
    pub fn set_fault_notice(&self, on: bool) {
        self.shared
            .fault_notice
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the outage announcement is on.
    pub fn fault_notice(&self) -> bool {
        self.shared
            .fault_notice
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The browsers registered as agents' phones.
    pub fn browser_phones(&self) -> &Arc<browser::BrowserPhones> {
        &self.shared.browser_phones
    }

    /// The contact flows the centre runs now (new calls take them).
    pub fn flows(&self) -> Arc<FlowSet> {
        self.shared.routes().flows.clone()
    }

    /// The routes new calls take now: numbers, flows, transfer targets, the trunk out.
    pub fn routes(&self) -> Arc<session::Routes> {
        self.shared.routes()
    }

    /// The first step of a graceful stop (and what a node that is not to route, such as a
    /// standby, does): new calls are refused from now on with `503` and
    /// `Retry-After: retry_after`, and OPTIONS is answered the same way, so that a proxy in
    /// front sends new calls elsewhere; registrations are still answered and calls in
    /// progress go on.
    pub fn stop_taking_calls(&self, retry_after: u32) {
        let retry = retry_after.max(1);
        self.draining.store(retry, Ordering::Release);
        let refusing = self.shared.calls.refusing_new_calls().unwrap_or(0);
        self.shared
            .calls
            .refuse_new_calls(Some(retry.max(refusing)));
    }

    /// Whether [`Centre::stop_taking_calls`] was called.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire) > 0
    }

    /// Calls in progress (answered by hotline and not yet ended).
    pub fn calls_in_progress(&self) -> usize {
        self.shared.sessions.lock().len()
    }

    /// Waits until no call is in progress, checking every `every`. For draining: race it
    /// against the drain time.
    pub async fn until_idle(&self, every: Duration) {
        while self.calls_in_progress() > 0 {
            tokio::time::sleep(every).await;
        }
    }

    /// The end of a drain: ends every call still in progress (BYE to every phone, the
    /// recording finished, the record closed as `shutdown`) and waits, up to `limit`, for
    /// each call to be over. A call answered meanwhile is ended too. Returns how many calls
    /// were ended and how many were still in progress at `limit`.
    pub async fn end_calls(&self, limit: Duration) -> (usize, usize) {
        let deadline = tokio::time::Instant::now() + limit;
        let mut told = std::collections::HashSet::new();
        let mut replies = Vec::new();
        loop {
            let now_in: Vec<_> = self
                .shared
                .sessions
                .lock()
                .iter()
                .map(|(id, tx)| (*id, tx.clone()))
                .collect();
            if now_in.is_empty() {
                break;
            }
            for (id, tx) in now_in {
                if told.insert(id) {
                    let (reply, rx) = oneshot::channel();
                    if tx.send(session::SessionCmd::Shutdown { reply }).is_ok() {
                        replies.push(rx);
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = tokio::time::timeout_at(deadline, futures_join_all(replies)).await;
        (told.len(), self.calls_in_progress())
    }

    /// Writes every phone registration that changed since the last call to the store: what
    /// lets a restarted centre ring the same phones at once.
    pub async fn save_registrations(&self) -> Result<usize, String> {
        save_registrations(&self.shared.registrar, &self.shared.store)
            .await
            .map_err(|e| e.to_string())
    }

    /// How the event log keeps up: changes when the "log behind" alert is raised or cleared
    /// and when new calls start or stop being refused. For supervisors' event streams.
    pub fn log_health(&self) -> tokio::sync::watch::Receiver<LogHealth> {
        self.log_health.subscribe()
    }
}

/// A session's refusal of a monitoring request as its stable code and why.
fn monitor_error(e: String) -> (&'static str, String) {
    for code in [
        "not_connected",
        "already_monitored",
        "not_monitored",
        "not_answered",
        "phone_unavailable",
    ] {
        if let Some(why) = e.strip_prefix(code).and_then(|r| r.strip_prefix(": ")) {
            return (code, why.to_string());
        }
    }
    ("not_in_progress", e)
}
