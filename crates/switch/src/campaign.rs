//! The dialler: the shell that runs each outbound campaign's core ([`hotline_dialer::Dialer`])
//! against the world. It feeds the core the campaign's free and logged-in agents (from the
//! routing engine), the outcomes of its calls and the do-not-call list; it carries out the
//! core's decisions (place a call, connect an answered call to the agents' queue, play the
//! message, run the flow) and logs every change as a campaign event.
//!
//! A campaign's settings, contacts, state and finished contacts, and the do-not-call list,
//! are events in the log: at start the dialler rebuilds its campaigns from them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use hotline_dialer::{
    CallId, CampaignConfig, CampaignState, Contact, Control, Decision, Dialer, Input, Mode, Stats,
    Time,
};
use hotline_media::player::Lang;
use hotline_model::{CampaignChange, CampaignContact, CampaignEvent, InteractionId, Timestamp};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::router::RouterCmd;
use crate::session::Shared;
use crate::session::outbound::{Attempt, Instruction, Report, run_attempt};

/// The campaign of do-not-call events.
pub const DNC: &str = "dnc";
/// How often the dialler looks at the agents and the cores' timers.
const TICK: Duration = Duration::from_millis(200);

/// What a campaign is, beyond its core's settings: who takes its calls and what they hear.
/// JSON: the core's settings ([`CampaignConfig`]) and these keys side by side in one object.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignSpec {
    pub dialer: CampaignConfig,
    /// The queue whose agents take the answered calls (every mode but agentless).
    pub queue: Option<String>,
    /// The flow the answered call runs (agentless).
    pub flow: Option<String>,
    /// Played to a person who answers when no agent is free.
    pub abandon_message: String,
    /// Left on an answering machine (`machine_action = "leave_message"`).
    pub machine_message: String,
    /// `zh` or `en`: the language of the messages.
    pub language: String,
    /// Answering-machine detection on the answer (default on).
    pub amd: bool,
}

fn abandon_prompt() -> String {
    "outbound_abandoned".into()
}
fn machine_prompt() -> String {
    "outbound_message".into()
}
fn zh() -> String {
    "zh".into()
}
fn yes() -> bool {
    true
}

/// Keys of a campaign's JSON that are the shell's, not the core's.
const SPEC_KEYS: &[&str] = &[
    "queue",
    "flow",
    "abandon_message",
    "machine_message",
    "language",
    "amd",
];

impl CampaignSpec {
    /// Reads a campaign from JSON, naming the key at fault, and checks it against the
    /// centre's queues, flows and prompts.
    pub fn parse(v: &serde_json::Value, shared: &Shared) -> Result<CampaignSpec, CampaignError> {
        let spec = CampaignSpec::from_json(v)?;
        spec.check(shared)?;
        Ok(spec)
    }

    /// The campaign as one JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.dialer).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            if let Some(q) = &self.queue {
                o.insert("queue".into(), q.clone().into());
            }
            if let Some(f) = &self.flow {
                o.insert("flow".into(), f.clone().into());
            }
            o.insert(
                "abandon_message".into(),
                self.abandon_message.clone().into(),
            );
            o.insert(
                "machine_message".into(),
                self.machine_message.clone().into(),
            );
            o.insert("language".into(), self.language.clone().into());
            o.insert("amd".into(), self.amd.into());
        }
        v
    }

    /// Reads a campaign from JSON, naming the key at fault (no check against the centre).
    pub fn from_json(v: &serde_json::Value) -> Result<CampaignSpec, CampaignError> {
        let obj = v
            .as_object()
            .ok_or_else(|| CampaignError::Invalid("a campaign is a JSON object".into()))?;
        // The core's settings refuse unknown keys, so the shell's are taken out first.
        let mut core = obj.clone();
        let mut shell = serde_json::Map::new();
        for k in SPEC_KEYS {
            if let Some(v) = core.remove(*k) {
                shell.insert(k.to_string(), v);
            }
        }
        let dialer: CampaignConfig = serde_json::from_value(serde_json::Value::Object(core))
            .map_err(|e| CampaignError::Invalid(e.to_string()))?;
        dialer.validate().map_err(CampaignError::Invalid)?;
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Shell {
            queue: Option<String>,
            flow: Option<String>,
            #[serde(default = "abandon_prompt")]
            abandon_message: String,
            #[serde(default = "machine_prompt")]
            machine_message: String,
            #[serde(default = "zh")]
            language: String,
            #[serde(default = "yes")]
            amd: bool,
        }
        let s: Shell = serde_json::from_value(serde_json::Value::Object(shell))
            .map_err(|e| CampaignError::Invalid(e.to_string()))?;
        Ok(CampaignSpec {
            dialer,
            queue: s.queue,
            flow: s.flow,
            abandon_message: s.abandon_message,
            machine_message: s.machine_message,
            language: s.language,
            amd: s.amd,
        })
    }

    fn check(&self, shared: &Shared) -> Result<(), CampaignError> {
        let routes = shared.routes();
        let bad = |m: String| Err(CampaignError::Invalid(m));
        match (self.dialer.mode, &self.queue, &self.flow) {
            (Mode::Agentless, _, None) => {
                return bad("`flow`: an agentless campaign needs a flow".into());
            }
            (Mode::Agentless, _, Some(_)) => {}
            (_, None, _) => {
                return bad(
                    "`queue`: the queue whose agents take the answered calls is required".into(),
                );
            }
            (_, Some(q), _) if !routes.queue_names.contains(q) => {
                return bad(format!("`queue`: no queue `{q}`"));
            }
            _ => {}
        }
        if let Some(f) = &self.flow
            && routes.flows.flow(f).is_none()
        {
            return bad(format!("`flow`: no flow `{f}`"));
        }
        let lang = match self.language.as_str() {
            "zh" => Lang::Zh,
            "en" => Lang::En,
            other => return bad(format!("`language`: `{other}` is not zh or en")),
        };
        for (key, p) in [
            ("abandon_message", &self.abandon_message),
            ("machine_message", &self.machine_message),
        ] {
            if shared.prompts.get(lang, p).is_err() {
                return bad(format!("`{key}`: no prompt `{p}` in `{}`", self.language));
            }
        }
        Ok(())
    }

    fn lang(&self) -> Lang {
        if self.language == "en" {
            Lang::En
        } else {
            Lang::Zh
        }
    }
}

/// Why the dialler refused a request. The API maps each to a status and a stable code.
#[derive(Debug, Clone, PartialEq)]
pub enum CampaignError {
    NotFound(String),
    Invalid(String),
    /// The campaign's state does not allow it.
    Conflict(String),
    /// The log refused it (the centre is behind or fenced).
    Unavailable(String),
}

impl std::fmt::Display for CampaignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CampaignError::NotFound(m)
            | CampaignError::Invalid(m)
            | CampaignError::Conflict(m)
            | CampaignError::Unavailable(m) => f.write_str(m),
        }
    }
}

/// A campaign as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignView {
    pub id: String,
    pub state: CampaignState,
    pub spec: serde_json::Value,
    pub contacts: usize,
    pub contacts_done: usize,
    pub in_flight: u32,
    pub stats: Stats,
    /// People who answered just after the dialler gave up ringing (no agent was waiting):
    /// they heard the message. Counted here, outside the core's rates.
    pub late_abandoned: u64,
    /// Contacts offered to agents in preview, waiting for their choice.
    pub previews: Vec<PreviewView>,
}

/// A contact shown to an agent to dial or skip.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewView {
    pub contact: u64,
    pub phone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One contact's line in a campaign's results.
#[derive(Debug, Clone, Serialize)]
pub struct ContactResultView {
    pub contact: u64,
    pub phone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub attempts: u32,
    /// `""` while the contact is still to be called.
    pub result: String,
    /// The outcome of each attempt, in order.
    pub outcomes: Vec<String>,
    /// The interactions of its attempts.
    pub interactions: Vec<InteractionId>,
}

/// Where the dialler answers a request that may be refused.
pub type Reply<T> = oneshot::Sender<Result<T, CampaignError>>;

/// Requests to the dialler.
pub enum DiallerCmd {
    Create {
        spec: Box<CampaignSpec>,
        by: String,
        reply: Reply<CampaignView>,
    },
    AddContacts {
        campaign: String,
        contacts: Vec<CampaignContact>,
        by: String,
        reply: Reply<usize>,
    },
    Control {
        campaign: String,
        control: Control,
        by: String,
        reply: Reply<CampaignView>,
    },
    List(oneshot::Sender<Vec<CampaignView>>),
    Get {
        campaign: String,
        reply: Reply<CampaignView>,
    },
    Results {
        campaign: String,
        reply: Reply<Vec<ContactResultView>>,
    },
    Preview {
        campaign: String,
        contact: u64,
        dial: bool,
        by: String,
        /// The agent who chose to dial: the answered call rings this agent first.
        agent: Option<String>,
        reply: Reply<()>,
    },
    DncAdd {
        phones: Vec<String>,
        source: String,
        by: String,
        reply: Reply<usize>,
    },
    DncRemove {
        phone: String,
        by: String,
        reply: Reply<bool>,
    },
    DncList(oneshot::Sender<Vec<String>>),
}

/// The dialler's handle.
#[derive(Clone)]
pub struct Dialler {
    tx: mpsc::UnboundedSender<DiallerCmd>,
}

impl Dialler {
    /// Starts the dialler: it rebuilds the campaigns from the log, then takes requests
    /// (those sent meanwhile wait).
    pub fn start(shared: Arc<Shared>) -> Dialler {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            // Subscribed before reading, so that no do-not-call change falls in between.
            let log = shared.store.subscribe();
            let (events, calls) = loop {
                let read = async {
                    let events = shared.store.campaign_events().await?;
                    let calls = shared.store.campaign_call_events().await?;
                    Ok::<_, hotline_store::Error>((events, calls))
                };
                match read.await {
                    Ok(both) => break both,
                    Err(e) => {
                        warn!(error = %e, "cannot read the campaigns; trying again");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            };
            let mut state = State::new(shared);
            state.restore(events, past_attempts(&calls));
            state.run(rx, log).await;
        });
        Dialler { tx }
    }

    /// Sends a request and waits for its answer.
    pub async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> DiallerCmd,
    ) -> Result<T, CampaignError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .map_err(|_| CampaignError::Unavailable("the dialler has stopped".into()))?;
        rx.await
            .map_err(|_| CampaignError::Unavailable("the dialler has stopped".into()))
    }
}

struct ContactInfo {
    phone: String,
    name: Option<String>,
    attempts: u32,
    result: String,
    outcomes: Vec<String>,
    interactions: Vec<InteractionId>,
}

struct Campaign {
    id: String,
    spec: CampaignSpec,
    core: Dialer,
    contacts: BTreeMap<u64, ContactInfo>,
    /// Calls ringing: the way to cancel them.
    ringing: HashMap<CallId, oneshot::Sender<()>>,
    /// Calls answered, waiting for the core's word.
    answered: HashMap<CallId, oneshot::Sender<Instruction>>,
    /// Which contact each call is for.
    calls: HashMap<CallId, u64>,
    previews: BTreeMap<u64, String>,
    /// Preview: the agent who chose to dial each contact, then each call, waiting for it.
    preview_agents: HashMap<u64, String>,
    call_agents: HashMap<CallId, String>,
    agents: (u32, u32),
    /// People who answered after the core had given up ringing, and heard the message.
    late_abandoned: u64,
    /// Its finish is in the log already.
    finish_logged: bool,
}

impl ContactInfo {
    fn new(phone: String, name: Option<String>, result: String) -> ContactInfo {
        ContactInfo {
            phone,
            name,
            attempts: 0,
            result,
            outcomes: Vec::new(),
            interactions: Vec::new(),
        }
    }
}

impl Campaign {
    fn new(id: String, spec: CampaignSpec, core: Dialer) -> Campaign {
        Campaign {
            id,
            spec,
            core,
            contacts: BTreeMap::new(),
            ringing: HashMap::new(),
            answered: HashMap::new(),
            calls: HashMap::new(),
            previews: BTreeMap::new(),
            preview_agents: HashMap::new(),
            call_agents: HashMap::new(),
            agents: (0, 0),
            late_abandoned: 0,
            finish_logged: false,
        }
    }

    /// A contact is done: its result kept, its preview gone, and the event to log.
    fn contact_done(
        &mut self,
        contact: u64,
        result: &hotline_dialer::ContactResult,
    ) -> CampaignEvent {
        let result = result_name(result);
        if let Some(info) = self.contacts.get_mut(&contact) {
            info.result = result.clone();
        }
        self.previews.remove(&contact);
        CampaignEvent::new(
            Timestamp::now(),
            self.id.clone(),
            CampaignChange::ContactDone { contact, result },
        )
    }

    /// The campaign as the API shows it (the core's rates as of now).
    fn view(&mut self) -> CampaignView {
        CampaignView {
            id: self.id.clone(),
            state: self.core.state(),
            spec: self.spec.to_json(),
            contacts: self.contacts.len(),
            contacts_done: self
                .contacts
                .values()
                .filter(|i| !i.result.is_empty())
                .count(),
            in_flight: self.core.in_flight(),
            stats: self.core.stats(now()),
            late_abandoned: self.late_abandoned,
            previews: self
                .previews
                .iter()
                .map(|(id, phone)| PreviewView {
                    contact: *id,
                    phone: phone.clone(),
                    name: self.contacts.get(id).and_then(|i| i.name.clone()),
                })
                .collect(),
        }
    }
}

struct State {
    shared: Arc<Shared>,
    campaigns: BTreeMap<String, Campaign>,
    dnc: BTreeSet<String>,
    reports_tx: mpsc::UnboundedSender<Report>,
    reports: Option<mpsc::UnboundedReceiver<Report>>,
    next_id: u64,
    /// Events to log once the dialler runs (found while restoring).
    pending: Vec<CampaignEvent>,
}

/// An attempt made before a restart, from the log.
struct PastAttempt {
    contact: u64,
    interaction: InteractionId,
    at: Time,
    outcome: hotline_dialer::PastOutcome,
    outcome_name: String,
}

/// Each campaign's attempts, in time order, from its calls' events.
fn past_attempts(events: &[hotline_model::Event]) -> HashMap<String, Vec<PastAttempt>> {
    use hotline_dialer::PastOutcome as P;
    use hotline_model::EventKind as K;
    struct Seen {
        campaign: String,
        contact: u64,
        at: Time,
        outcome: Option<(String, Time)>,
        abandoned: bool,
    }
    let ms = |t: Timestamp| Time(t.unix_nanos() / 1_000_000);
    let mut calls: Vec<(InteractionId, Seen)> = Vec::new();
    let mut index: HashMap<InteractionId, usize> = HashMap::new();
    for e in events {
        let hotline_model::Event::Interaction(e) = e else {
            continue;
        };
        match &e.kind {
            K::Dialled {
                campaign, contact, ..
            } => {
                index.insert(e.interaction, calls.len());
                calls.push((
                    e.interaction,
                    Seen {
                        campaign: campaign.clone(),
                        contact: *contact,
                        at: ms(e.at),
                        outcome: None,
                        abandoned: false,
                    },
                ));
            }
            K::DialOutcome { outcome, .. } => {
                if let Some(&i) = index.get(&e.interaction) {
                    calls[i].1.outcome = Some((outcome.clone(), ms(e.at)));
                }
            }
            K::FlowStep { step, .. } if step == "campaign.abandon_message" => {
                if let Some(&i) = index.get(&e.interaction) {
                    calls[i].1.abandoned = true;
                }
            }
            _ => {}
        }
    }
    let mut out: HashMap<String, Vec<PastAttempt>> = HashMap::new();
    for (interaction, s) in calls {
        let (name, at) = s.outcome.unwrap_or_else(|| ("failed".into(), s.at));
        let outcome = match name.as_str() {
            "busy" => P::Busy,
            "no_answer" => P::NoAnswer,
            "machine" => P::Machine,
            "live" if s.abandoned => P::Abandoned,
            "live" => P::Connected,
            // Failed, or cut off by the stop before an outcome: the attempt counts.
            _ => P::Failed,
        };
        out.entry(s.campaign).or_default().push(PastAttempt {
            contact: s.contact,
            interaction,
            at,
            outcome,
            outcome_name: name,
        });
    }
    for list in out.values_mut() {
        list.sort_by_key(|p| p.at);
    }
    out
}

fn now() -> Time {
    Time(chrono::Utc::now().timestamp_millis())
}

fn control_name(c: Control) -> &'static str {
    match c {
        Control::Start => "start",
        Control::Pause => "pause",
        Control::Resume => "resume",
        Control::Finish => "finish",
    }
}

fn control_of(name: &str) -> Option<Control> {
    Some(match name {
        "start" => Control::Start,
        "pause" => Control::Pause,
        "resume" => Control::Resume,
        "finish" => Control::Finish,
        _ => return None,
    })
}

fn result_name(r: &hotline_dialer::ContactResult) -> String {
    use hotline_dialer::ContactResult as R;
    match r {
        R::Reached => "reached".into(),
        R::MessageLeft => "message_left".into(),
        R::Exhausted { outcome } => format!("exhausted:{}", outcome.as_str()),
        R::DoNotCall => "do_not_call".into(),
        R::Skipped => "skipped".into(),
        R::NoCallingHours => "no_calling_hours".into(),
    }
}

impl State {
    fn new(shared: Arc<Shared>) -> State {
        let (reports_tx, reports) = mpsc::unbounded_channel();
        State {
            shared,
            campaigns: BTreeMap::new(),
            dnc: BTreeSet::new(),
            reports_tx,
            reports: Some(reports),
            next_id: 1,
            pending: Vec::new(),
        }
    }

    /// Replays the log: settings, contacts, finished contacts, states, the do-not-call list.
    /// Calls in progress when the centre stopped were closed as interrupted; their contacts
    /// are called again.
    fn restore(&mut self, events: Vec<CampaignEvent>, mut past: HashMap<String, Vec<PastAttempt>>) {
        struct Acc {
            spec: Option<CampaignSpec>,
            contacts: Vec<CampaignContact>,
            done: HashMap<u64, String>,
            controls: Vec<Control>,
        }
        let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
        for e in events {
            if e.campaign == DNC {
                match e.change {
                    CampaignChange::DncAdded { phone, .. } => {
                        self.dnc.insert(phone);
                    }
                    CampaignChange::DncRemoved { phone } => {
                        self.dnc.remove(&phone);
                    }
                    _ => {}
                }
                continue;
            }
            let a = acc.entry(e.campaign.clone()).or_insert(Acc {
                spec: None,
                contacts: Vec::new(),
                done: HashMap::new(),
                controls: Vec::new(),
            });
            match e.change {
                CampaignChange::Defined { definition } => {
                    let spec = serde_json::from_str(&definition)
                        .map_err(|e| CampaignError::Invalid(e.to_string()))
                        .and_then(|v| CampaignSpec::from_json(&v));
                    match spec {
                        Ok(s) => a.spec = Some(s),
                        Err(err) => {
                            warn!(campaign = %e.campaign, error = %err, "campaign settings unreadable; campaign skipped")
                        }
                    }
                }
                CampaignChange::ContactsAdded { contacts } => a.contacts.extend(contacts),
                CampaignChange::ContactDone { contact, result } => {
                    a.done.insert(contact, result);
                }
                CampaignChange::Control { control } => {
                    if let Some(c) = control_of(&control) {
                        a.controls.push(c);
                    }
                }
                _ => {}
            }
        }
        let t = now();
        // Ids are never given again, not even those of campaigns that cannot be read.
        for id in acc.keys() {
            if let Some(n) = id.strip_prefix('c').and_then(|n| n.parse::<u64>().ok()) {
                self.next_id = self.next_id.max(n.saturating_add(1));
            }
        }
        for (id, a) in acc {
            let Some(spec) = a.spec else { continue };
            let Ok(mut core) = Dialer::new(spec.dialer.clone()) else {
                continue;
            };
            for phone in &self.dnc {
                let _ = core.handle(t, Input::DncAdd(phone.clone()));
            }
            let mut contacts = BTreeMap::new();
            let mut todo = Vec::new();
            for c in a.contacts {
                let result = a.done.get(&c.id).cloned().unwrap_or_default();
                if result.is_empty() {
                    todo.push(Contact {
                        id: c.id,
                        phone: c.phone.clone(),
                        time_zone: c.time_zone.clone(),
                    });
                }
                contacts.insert(c.id, ContactInfo::new(c.phone, c.name, result));
            }
            // The contacts still to do, then every attempt made so far, in time order (the
            // day's cap, the retries' spacing, the 72-hour block and the abandon rates hold
            // across the restart), then the state, so that nothing is dialled on the way (a
            // campaign started and then paused must not dial); a running campaign goes on
            // from there, its decisions carried out as usual.
            if !todo.is_empty()
                && let Err(e) = core.handle(t, Input::AddContacts(todo))
            {
                warn!(campaign = %id, error = %e, "contacts not restored");
            }
            for p in past.remove(&id).unwrap_or_default() {
                if let Some(info) = contacts.get_mut(&p.contact) {
                    info.attempts += 1;
                    info.outcomes.push(p.outcome_name.clone());
                    info.interactions.push(p.interaction);
                }
                let input = Input::Past {
                    contact: p.contact,
                    at: p.at,
                    outcome: p.outcome,
                };
                if let Err(e) = core.handle(t, input) {
                    warn!(campaign = %id, error = %e, "a past attempt not counted");
                }
            }
            let mut c = Campaign::new(id.clone(), spec, core);
            c.contacts = contacts;
            // Contacts whose retries ran out as the attempts were counted, if the stop came
            // before that was logged: logged now.
            while let Some(d) = c.core.poll_decision() {
                if let Decision::ContactDone { contact, result } = d {
                    self.pending.push(c.contact_done(contact, &result));
                }
            }
            c.finish_logged = a.controls.contains(&Control::Finish);
            for control in a.controls {
                let _ = c.core.handle(t, Input::Control(control));
            }
            info!(campaign = %id, state = ?c.core.state(), contacts = c.contacts.len(), "campaign restored");
            self.campaigns.insert(id, c);
        }
    }

    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<DiallerCmd>,
        mut log: tokio::sync::broadcast::Receiver<hotline_model::Event>,
    ) {
        let Some(mut reports) = self.reports.take() else {
            return;
        };
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // What the restored campaigns decided (a running campaign goes on).
        let pending = std::mem::take(&mut self.pending);
        if !pending.is_empty() {
            let events: Vec<hotline_model::Event> = pending.into_iter().map(Into::into).collect();
            if let Err(e) = self.shared.store.submit(events).await {
                warn!(error = %e, "campaign events not logged");
            }
        }
        self.decide().await;
        // Numbers callers put on the do-not-call list in a flow reach the dialler by the log.
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd).await,
                    None => return,
                },
                Some(r) = reports.recv() => self.report(r),
                ev = log.recv() => match ev {
                    Ok(hotline_model::Event::Campaign(e)) if e.campaign == DNC => self.dnc_event(e),
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        warn!(missed = n, "the dialler fell behind the log; reading the do-not-call list again");
                        if let Ok(events) = self.shared.store.campaign_events().await {
                            for e in events.into_iter().filter(|e| e.campaign == DNC) {
                                self.dnc_event(e);
                            }
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        log = self.shared.store.subscribe();
                    }
                },
                _ = tick.tick() => self.tick().await,
            }
            self.decide().await;
        }
    }

    /// A do-not-call change from the log (a caller's, or one this dialler made).
    fn dnc_event(&mut self, e: CampaignEvent) {
        let t = now();
        match e.change {
            CampaignChange::DncAdded { phone, source } if self.dnc.insert(phone.clone()) => {
                info!(%phone, %source, "number added to the do-not-call list");
                for c in self.campaigns.values_mut() {
                    let _ = c.core.handle(t, Input::DncAdd(phone.clone()));
                }
            }
            CampaignChange::DncRemoved { phone } if self.dnc.remove(&phone) => {
                for c in self.campaigns.values_mut() {
                    let _ = c.core.handle(t, Input::DncRemove(phone.clone()));
                }
            }
            _ => {}
        }
    }

    /// Feeds each active campaign its agents and its timers.
    async fn tick(&mut self) {
        let active = self.campaigns.values().any(|c| {
            matches!(
                c.core.state(),
                CampaignState::Running | CampaignState::Paused
            ) || c.core.in_flight() > 0
        });
        if !active {
            return;
        }
        let (tx, rx) = oneshot::channel();
        if self.shared.router.send(RouterCmd::Queues(tx)).is_err() {
            return;
        }
        let Ok(queues) = rx.await else { return };
        let t = now();
        for c in self.campaigns.values_mut() {
            if let Some(q) = &c.spec.queue
                && let Some(v) = queues.iter().find(|v| &v.name == q)
            {
                let agents = (v.agents_available as u32, v.agents_staffed as u32);
                // Also when the core's count of free agents went its own way (a call it
                // connected that never reached an agent).
                if agents != c.agents || c.core.free_agents() != agents.0 {
                    c.agents = agents;
                    let _ = c.core.handle(
                        t,
                        Input::Agents {
                            free: agents.0,
                            staffed: agents.1,
                        },
                    );
                }
            }
            if c.core.poll_timeout().is_some_and(|d| d <= t) {
                c.core.handle_timeout(t);
            }
        }
    }

    fn report(&mut self, r: Report) {
        let t = now();
        match r {
            Report::Outcome {
                campaign,
                call,
                interaction,
                outcome,
                reply,
            } => {
                let Some(c) = self.campaigns.get_mut(&campaign) else {
                    return;
                };
                let rang_out = c.ringing.remove(&call).is_none();
                if let Some(info) = c.calls.get(&call).and_then(|k| c.contacts.get_mut(k)) {
                    info.outcomes.push(outcome.as_str().to_string());
                    info.interactions.push(interaction);
                }
                // A call the core gave up ringing is already counted as unanswered.
                if rang_out && outcome == hotline_dialer::Outcome::NoAnswer {
                    return;
                }
                match c.core.handle(t, Input::Outcome { call, outcome }) {
                    Ok(()) => {
                        if matches!(
                            outcome,
                            hotline_dialer::Outcome::Live | hotline_dialer::Outcome::Machine
                        ) {
                            c.answered.insert(call, reply);
                        }
                    }
                    Err(e) => {
                        // Answered just as the core gave up ringing: a person is on the line
                        // whom no agent waits for. They hear the message rather than silence.
                        warn!(campaign = %campaign, error = %e, ?outcome, "outcome after the core gave up on the call");
                        if outcome == hotline_dialer::Outcome::Live {
                            c.late_abandoned += 1;
                            let _ =
                                reply.send(Instruction::Abandon(c.spec.abandon_message.clone()));
                        } else {
                            let _ = reply.send(Instruction::HangUp);
                        }
                    }
                }
            }
            Report::Ended { campaign, call } => {
                if let Some(c) = self.campaigns.get_mut(&campaign) {
                    c.call_agents.remove(&call);
                    c.ringing.remove(&call);
                    c.answered.remove(&call);
                    c.calls.remove(&call);
                    let _ = c.core.handle(t, Input::Ended { call });
                }
            }
        }
    }

    /// Carries out every campaign's decisions.
    async fn decide(&mut self) {
        let mut log = Vec::new();
        for c in self.campaigns.values_mut() {
            while let Some(d) = c.core.poll_decision() {
                match d {
                    Decision::Dial {
                        call,
                        contact,
                        phone,
                        caller_id,
                        ring_seconds,
                    } => {
                        // Checked again at dial time: a number added to the list since.
                        let (cancel_tx, cancel_rx) = oneshot::channel();
                        c.ringing.insert(call, cancel_tx);
                        c.calls.insert(call, contact);
                        c.previews.remove(&contact);
                        if let Some(agent) = c.preview_agents.remove(&contact) {
                            c.call_agents.insert(call, agent);
                        }
                        if let Some(info) = c.contacts.get_mut(&contact) {
                            info.attempts += 1;
                        }
                        let attempt = Attempt {
                            campaign: c.id.clone(),
                            call,
                            contact,
                            phone,
                            caller_id,
                            ring: Duration::from_secs_f64(ring_seconds.clamp(1.0, 600.0)),
                            amd: c.spec.amd,
                            lang: c.spec.lang(),
                            abandon_message: c.spec.abandon_message.clone(),
                        };
                        tokio::spawn(run_attempt(
                            self.shared.clone(),
                            attempt,
                            cancel_rx,
                            self.reports_tx.clone(),
                        ));
                    }
                    Decision::CancelDial { call } => {
                        if let Some(cancel) = c.ringing.remove(&call) {
                            let _ = cancel.send(());
                        }
                    }
                    Decision::Connect { call, priority, .. } => {
                        let queue = c.spec.queue.clone().unwrap_or_default();
                        let agent = c.call_agents.remove(&call);
                        if let Some(r) = c.answered.remove(&call) {
                            let _ = r.send(Instruction::Connect {
                                queue,
                                priority,
                                agent,
                            });
                        }
                    }
                    Decision::RunFlow { call, .. } => {
                        let flow = c.spec.flow.clone().unwrap_or_default();
                        if let Some(r) = c.answered.remove(&call) {
                            let _ = r.send(Instruction::RunFlow(flow));
                        }
                    }
                    Decision::PlayAbandonMessage { call, .. } => {
                        if let Some(r) = c.answered.remove(&call) {
                            let _ = r.send(Instruction::Abandon(c.spec.abandon_message.clone()));
                        }
                    }
                    Decision::LeaveMessage { call } => {
                        if let Some(r) = c.answered.remove(&call) {
                            let _ =
                                r.send(Instruction::LeaveMessage(c.spec.machine_message.clone()));
                        }
                    }
                    Decision::HangUp { call } => {
                        if let Some(r) = c.answered.remove(&call) {
                            let _ = r.send(Instruction::HangUp);
                        }
                    }
                    Decision::OfferPreview { contact, phone } => {
                        c.previews.insert(contact, phone);
                    }
                    Decision::PreviewWithdrawn { contact, reason } => {
                        info!(campaign = %c.id, contact, reason, "preview withdrawn");
                        c.previews.remove(&contact);
                    }
                    Decision::ContactDone { contact, result } => {
                        log.push(c.contact_done(contact, &result));
                    }
                    Decision::State(s) => {
                        info!(campaign = %c.id, state = ?s, "campaign state");
                        // The core finished by itself (every contact done): logged so that a
                        // restart does not start it again.
                        if s == CampaignState::Finished && !c.finish_logged {
                            c.finish_logged = true;
                            log.push(CampaignEvent::new(
                                Timestamp::now(),
                                c.id.clone(),
                                CampaignChange::Control {
                                    control: "finish".into(),
                                },
                            ));
                        }
                    }
                }
            }
        }
        if !log.is_empty() {
            let events: Vec<hotline_model::Event> = log.into_iter().map(Into::into).collect();
            if let Err(e) = self.shared.store.submit(events).await {
                warn!(error = %e, "campaign events not logged");
            }
        }
    }

    /// Logs a supervisor's change and waits until it is durable: the change is acted on
    /// (and acknowledged) only once a restart would find it. These are rare (a campaign
    /// made, a list imported, a state changed, the do-not-call list), so the dialler may
    /// wait for a commit; the calls' own events never wait.
    async fn append(&self, events: Vec<CampaignEvent>) -> Result<(), CampaignError> {
        let events: Vec<hotline_model::Event> = events.into_iter().map(Into::into).collect();
        match self.shared.store.append(events).await {
            Ok(_) => Ok(()),
            Err(hotline_store::Error::Invalid(e)) => Err(CampaignError::Invalid(e.to_string())),
            Err(e) => Err(CampaignError::Unavailable(format!("not logged: {e}"))),
        }
    }

    fn get_mut(&mut self, id: &str) -> Result<&mut Campaign, CampaignError> {
        self.campaigns
            .get_mut(id)
            .ok_or_else(|| CampaignError::NotFound(format!("no campaign `{id}`")))
    }

    fn get(&self, id: &str) -> Result<&Campaign, CampaignError> {
        self.campaigns
            .get(id)
            .ok_or_else(|| CampaignError::NotFound(format!("no campaign `{id}`")))
    }

    async fn command(&mut self, cmd: DiallerCmd) {
        let t = now();
        match cmd {
            DiallerCmd::Create { spec, by, reply } => {
                let r = async {
                    let spec = *spec;
                    let core = Dialer::new(spec.dialer.clone())
                        .map_err(|e| CampaignError::Invalid(e.to_string()))?;
                    let id = format!("c{}", self.next_id);
                    let definition = spec.to_json().to_string();
                    let mut e = CampaignEvent::new(
                        Timestamp::now(),
                        id.clone(),
                        CampaignChange::Defined { definition },
                    );
                    e.by = Some(by);
                    self.append(vec![e]).await?;
                    self.next_id += 1;
                    let mut core = core;
                    for phone in &self.dnc {
                        let _ = core.handle(t, Input::DncAdd(phone.clone()));
                    }
                    let mut c = Campaign::new(id.clone(), spec, core);
                    let v = c.view();
                    self.campaigns.insert(id, c);
                    Ok(v)
                }
                .await;
                let _ = reply.send(r);
            }
            DiallerCmd::AddContacts {
                campaign,
                contacts,
                by,
                reply,
            } => {
                let r = async {
                    let c = self.get(&campaign)?;
                    if c.core.state() == CampaignState::Finished {
                        return Err(CampaignError::Conflict(format!(
                            "campaign `{campaign}` is finished"
                        )));
                    }
                    if let Some(dup) = contacts.iter().find(|k| c.contacts.contains_key(&k.id)) {
                        return Err(CampaignError::Invalid(format!(
                            "contact {} is in the campaign already",
                            dup.id
                        )));
                    }
                    // The core checks every contact before anything is logged.
                    let mut trial = c.core.clone();
                    let core_contacts: Vec<Contact> = contacts
                        .iter()
                        .map(|k| Contact {
                            id: k.id,
                            phone: k.phone.clone(),
                            time_zone: k.time_zone.clone(),
                        })
                        .collect();
                    trial
                        .handle(t, Input::AddContacts(core_contacts.clone()))
                        .map_err(|e| CampaignError::Invalid(e.to_string()))?;
                    let events = contacts
                        .chunks(hotline_model::MAX_CONTACTS_PER_EVENT)
                        .map(|chunk| {
                            let mut e = CampaignEvent::new(
                                Timestamp::now(),
                                campaign.clone(),
                                CampaignChange::ContactsAdded {
                                    contacts: chunk.to_vec(),
                                },
                            );
                            e.by = Some(by.clone());
                            e
                        })
                        .collect();
                    self.append(events).await?;
                    let n = contacts.len();
                    let Some(c) = self.campaigns.get_mut(&campaign) else {
                        return Err(CampaignError::NotFound(campaign.clone()));
                    };
                    c.core
                        .handle(t, Input::AddContacts(core_contacts))
                        .map_err(|e| CampaignError::Invalid(e.to_string()))?;
                    for k in contacts {
                        c.contacts
                            .insert(k.id, ContactInfo::new(k.phone, k.name, String::new()));
                    }
                    Ok(n)
                }
                .await;
                let _ = reply.send(r);
            }
            DiallerCmd::Control {
                campaign,
                control,
                by,
                reply,
            } => {
                let r = async {
                    let c = self.get(&campaign)?;
                    let mut trial = c.core.clone();
                    trial
                        .handle(t, Input::Control(control))
                        .map_err(|e| CampaignError::Conflict(e.to_string()))?;
                    let mut e = CampaignEvent::new(
                        Timestamp::now(),
                        campaign.clone(),
                        CampaignChange::Control {
                            control: control_name(control).into(),
                        },
                    );
                    e.by = Some(by);
                    self.append(vec![e]).await?;
                    let Some(c) = self.campaigns.get_mut(&campaign) else {
                        return Err(CampaignError::NotFound(campaign.clone()));
                    };
                    c.core
                        .handle(t, Input::Control(control))
                        .map_err(|e| CampaignError::Conflict(e.to_string()))?;
                    if control == Control::Finish {
                        c.finish_logged = true;
                    }
                    info!(campaign = %campaign, control = control_name(control), "campaign control");
                    // Agents are told afresh, so that a started campaign dials at once.
                    c.agents = (u32::MAX, u32::MAX);
                    Ok(())
                }
                .await;
                let r = match r {
                    Ok(()) => {
                        self.tick().await;
                        self.decide().await;
                        self.get_mut(&campaign).map(Campaign::view)
                    }
                    Err(e) => Err(e),
                };
                let _ = reply.send(r);
            }
            DiallerCmd::List(reply) => {
                let _ = reply.send(self.campaigns.values_mut().map(Campaign::view).collect());
            }
            DiallerCmd::Get { campaign, reply } => {
                let _ = reply.send(self.get_mut(&campaign).map(Campaign::view));
            }
            DiallerCmd::Results { campaign, reply } => {
                let _ = reply.send(self.get(&campaign).map(|c| {
                    c.contacts
                        .iter()
                        .map(|(id, i)| ContactResultView {
                            contact: *id,
                            phone: i.phone.clone(),
                            name: i.name.clone(),
                            attempts: i.attempts,
                            result: i.result.clone(),
                            outcomes: i.outcomes.clone(),
                            interactions: i.interactions.clone(),
                        })
                        .collect()
                }));
            }
            DiallerCmd::Preview {
                campaign,
                contact,
                dial,
                by,
                agent,
                reply,
            } => {
                let r = match self.campaigns.get_mut(&campaign) {
                    None => Err(CampaignError::NotFound(format!("no campaign `{campaign}`"))),
                    Some(c) if !c.previews.contains_key(&contact) => Err(CampaignError::Conflict(
                        format!("contact {contact} is not offered for preview"),
                    )),
                    Some(c) => {
                        let input = if dial {
                            Input::PreviewDial { contact }
                        } else {
                            Input::PreviewSkip { contact }
                        };
                        info!(campaign = %campaign, contact, dial, by, "preview choice");
                        if dial && let Some(a) = agent {
                            c.preview_agents.insert(contact, a);
                        }
                        c.core
                            .handle(t, input)
                            .map_err(|e| CampaignError::Conflict(e.to_string()))
                    }
                };
                let _ = reply.send(r);
            }
            DiallerCmd::DncAdd {
                phones,
                source,
                by,
                reply,
            } => {
                let r = async {
                    for p in &phones {
                        hotline_dialer::check_phone(p).map_err(CampaignError::Invalid)?;
                    }
                    let new: Vec<String> = phones
                        .into_iter()
                        .filter(|p| !self.dnc.contains(p))
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    let events = new
                        .iter()
                        .map(|p| {
                            let mut e = CampaignEvent::new(
                                Timestamp::now(),
                                DNC,
                                CampaignChange::DncAdded {
                                    phone: p.clone(),
                                    source: source.clone(),
                                },
                            );
                            e.by = Some(by.clone());
                            e
                        })
                        .collect::<Vec<_>>();
                    if !events.is_empty() {
                        self.append(events).await?;
                    }
                    for p in &new {
                        self.dnc.insert(p.clone());
                        for c in self.campaigns.values_mut() {
                            let _ = c.core.handle(t, Input::DncAdd(p.clone()));
                        }
                    }
                    Ok(new.len())
                }
                .await;
                let _ = reply.send(r);
            }
            DiallerCmd::DncRemove { phone, by, reply } => {
                let r = async {
                    if !self.dnc.contains(&phone) {
                        return Ok(false);
                    }
                    let mut e = CampaignEvent::new(
                        Timestamp::now(),
                        DNC,
                        CampaignChange::DncRemoved {
                            phone: phone.clone(),
                        },
                    );
                    e.by = Some(by);
                    self.append(vec![e]).await?;
                    self.dnc.remove(&phone);
                    for c in self.campaigns.values_mut() {
                        let _ = c.core.handle(t, Input::DncRemove(phone.clone()));
                    }
                    Ok(true)
                }
                .await;
                let _ = reply.send(r);
            }
            DiallerCmd::DncList(reply) => {
                let _ = reply.send(self.dnc.iter().cloned().collect());
            }
        }
    }
}
