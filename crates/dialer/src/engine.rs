//! The campaign core: inputs and `now` in, decisions out.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::config::{CampaignConfig, Contact, MachineAction, Mode, Retry, check_phone};
use crate::estimate::Window;
use crate::zones::{local_day, until_next_local_day, zones_of_number};
use crate::{Error, Time};

const DAY_MS: i64 = 86_400_000;
const TSR_PERIOD_MS: i64 = 30 * DAY_MS;
/// Ring outcomes measured before predictive pacing trusts its figures.
const WARMUP_OUTCOMES: usize = 50;
/// Handle times measured before predictive pacing trusts its figures: at least this many,
/// and two per agent logged in (the first calls to end are the shortest of the first
/// wave; waiting for more keeps that bias out of the estimate).
const WARMUP_HANDLES: usize = 10;
/// How often predictive pacing looks again while agents are busy, ms.
const PREDICTIVE_TICK_MS: i64 = 1_000;
/// 9999-12-31 23:59:59 UTC: later times are taken as this one.
const MAX_TIME_MS: i64 = 253_402_300_799_000;

/// A call placed by the campaign, numbered by the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CallId(pub u64);

/// A campaign's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    /// Being prepared: contacts may be added, nothing is dialled.
    Draft,
    /// Dialling.
    Running,
    /// No new dials; calls in flight run to their end.
    Paused,
    /// Over: no new dials ever; calls in flight run to their end.
    Finished,
}

/// A supervisor's change of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// Draft -> running.
    Start,
    /// Running -> paused.
    Pause,
    /// Paused -> running.
    Resume,
    /// Draft, running or paused -> finished.
    Finish,
}

/// How a dial attempt ended, as the shell saw it (after answering-machine detection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A person answered.
    Live,
    /// An answering machine answered.
    Machine,
    /// Busy.
    Busy,
    /// The far end or the network gave up ringing (the core's own ring timeout is a
    /// [`Decision::CancelDial`] and counts as this outcome too).
    NoAnswer,
    /// The call could not be placed (bad number, network failure).
    Failed,
}

impl Outcome {
    /// The JSON name (`no_answer`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Live => "live",
            Outcome::Machine => "machine",
            Outcome::Busy => "busy",
            Outcome::NoAnswer => "no_answer",
            Outcome::Failed => "failed",
        }
    }
}

/// Something that happened, told to the core by its shell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// A supervisor changes the campaign's state.
    Control(Control),
    /// Adds contacts (refused as a whole, naming the first bad one, if any is bad).
    AddContacts(Vec<Contact>),
    /// The agents serving the campaign: how many are free to take a call now, and how many
    /// are logged in. Send after every change.
    Agents {
        /// Free now.
        free: u32,
        /// Logged in.
        staffed: u32,
    },
    /// A dialled call reached an outcome.
    Outcome {
        /// Call.
        call: CallId,
        /// Outcome.
        outcome: Outcome,
    },
    /// A connected call ended and its agent is free again (after wrap-up), or the flow of
    /// an answered agentless call ended, or the message or hang-up the core asked for is
    /// done.
    Ended {
        /// Call.
        call: CallId,
    },
    /// Preview: the agent chose to dial the contact offered.
    PreviewDial {
        /// Contact id.
        contact: u64,
    },
    /// Preview: the agent chose not to call the contact offered (the contact is done).
    PreviewSkip {
        /// Contact id.
        contact: u64,
    },
    /// A number joins the do-not-call list.
    DncAdd(String),
    /// A number leaves the do-not-call list.
    DncRemove(String),
    /// After a restart: an attempt made before it, as the log has it, so that the rules
    /// hold across the restart: the attempt counts against the day's cap and the retries of
    /// its outcome, the next attempt waits out the spacing from `at`, an abandoned call
    /// blocks predictive redials for 72 hours, and the abandon rates count it. Give a
    /// campaign's past attempts in time order, after its contacts and before anything new.
    Past {
        /// Contact id.
        contact: u64,
        /// When the attempt reached its outcome.
        at: Time,
        /// What became of it.
        outcome: PastOutcome,
    },
}

/// How an attempt made before a restart ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PastOutcome {
    /// A person answered and was connected (or ran the flow).
    Connected,
    /// A person answered and heard the abandon message.
    Abandoned,
    /// An answering machine (hung up on, to be tried again).
    Machine,
    /// Busy.
    Busy,
    /// No answer.
    NoAnswer,
    /// Not placed, or cut off by the restart before an outcome.
    Failed,
}

/// Why a contact is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum ContactResult {
    /// A person was reached (connected to an agent or ran the flow).
    Reached,
    /// The machine got the campaign's message.
    MessageLeft,
    /// Retries for this outcome are used up.
    Exhausted {
        /// The outcome whose retries ran out (`live` for abandoned calls).
        outcome: Outcome,
    },
    /// The number is on the do-not-call list.
    DoNotCall,
    /// The agent skipped it in preview.
    Skipped,
    /// The calling hours never hold for this number (e.g. a country whose zones never share
    /// an open hour).
    NoCallingHours,
}

/// What the core asks its shell to do, or tells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Place a call.
    Dial {
        /// The core's id for it.
        call: CallId,
        /// Contact id.
        contact: u64,
        /// Number to call.
        phone: String,
        /// Number to present (one that can be called back).
        caller_id: String,
        /// The core cancels the call after this many seconds of ringing.
        ring_seconds: f64,
    },
    /// The call rang out: stop ringing (counted as no answer).
    CancelDial {
        /// Call.
        call: CallId,
    },
    /// A person answered and an agent is free: hand the call to the agents' queue.
    Connect {
        /// Call.
        call: CallId,
        /// Contact id.
        contact: u64,
        /// The campaign's priority against inbound work.
        priority: i32,
    },
    /// A person answered and no agent can take the call: play the recorded message now
    /// (within 2 s of the answer) and hang up. Counted as abandoned.
    PlayAbandonMessage {
        /// Call.
        call: CallId,
        /// Contact id.
        contact: u64,
    },
    /// Agentless: a person answered; run the campaign's flow.
    RunFlow {
        /// Call.
        call: CallId,
        /// Contact id.
        contact: u64,
    },
    /// A machine answered: leave the campaign's message.
    LeaveMessage {
        /// Call.
        call: CallId,
    },
    /// A machine answered: hang up.
    HangUp {
        /// Call.
        call: CallId,
    },
    /// Preview: show this contact to a free agent, who dials or skips it.
    OfferPreview {
        /// Contact id.
        contact: u64,
        /// Number.
        phone: String,
    },
    /// Preview: the contact offered may not be dialled now (the reason says why); the agent's
    /// card should close.
    PreviewWithdrawn {
        /// Contact id.
        contact: u64,
        /// Why.
        reason: String,
    },
    /// A contact is done.
    ContactDone {
        /// Contact id.
        contact: u64,
        /// Why.
        result: ContactResult,
    },
    /// The campaign's state changed.
    State(CampaignState),
}

/// Campaign counters and each regime's abandon rate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Calls placed.
    pub dials: u64,
    /// Answered by a person.
    pub live: u64,
    /// Connected to an agent (or to the flow, agentless).
    pub connected: u64,
    /// Answered by a person with no agent free (message played).
    pub abandoned: u64,
    /// Answered by a machine.
    pub machine: u64,
    /// Busy.
    pub busy: u64,
    /// No answer (rang out).
    pub no_answer: u64,
    /// Failed.
    pub failed: u64,
    /// Dials refused at dial time because the number is on the do-not-call list.
    pub dnc_blocked: u64,
    /// Contacts done.
    pub contacts_done: u64,
    /// Ofcom: abandoned calls (plus the AMD false-positive estimate) over live calls (plus
    /// that estimate) over the last 24 hours.
    pub ofcom_rate_24h: f64,
    /// TSR: abandoned calls over calls answered by a person, over the current 30-day period
    /// of the campaign.
    pub tsr_rate_30d: f64,
    /// Whether the last pacing decision dialled ahead of free agents (predictive) or not.
    pub pacing_predictive: bool,
    /// The predictive controller's gain (expected live answers per agent expected free).
    pub predictive_gain: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CState {
    Waiting,
    Offered,
    InCall,
    Done,
}

#[derive(Debug, Clone)]
struct Rec {
    contact: Contact,
    zones: Vec<Tz>,
    day_zone: Tz,
    state: CState,
    due: i64,
    day: i64,
    today: u32,
    /// Attempts ended per outcome: no answer, busy, machine, failed, abandoned.
    ended: [u32; 5],
    last_abandon: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Ringing,
    Connected,
    Flow,
    Closing,
}

#[derive(Debug, Clone)]
struct Call {
    contact: usize,
    dialled: i64,
    deadline: i64,
    stage: Stage,
    connected: i64,
    preview: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Connected,
    Abandoned,
    Machine,
}

/// The outbound campaign core. See the crate documentation for the loop that drives it.
#[derive(Debug, Clone)]
pub struct Dialer {
    cfg: CampaignConfig,
    centre: Tz,
    state: CampaignState,
    recs: Vec<Rec>,
    by_id: HashMap<u64, usize>,
    schedule: BTreeSet<(i64, usize)>,
    calls: BTreeMap<CallId, Call>,
    deadlines: BTreeSet<(i64, CallId)>,
    next_call: u64,
    dnc: HashSet<String>,
    free: u32,
    staffed: u32,
    offered: u32,
    preview_ringing: u32,
    ringing: u32,
    flows: u32,
    out: VecDeque<Decision>,
    stats: Stats,
    ring: Window,
    handle: Window,
    gain: f64,
    window_24h: VecDeque<(i64, Kind)>,
    w24: [u64; 3],
    tsr_start: Option<i64>,
    tsr: [u64; 2],
    last_now: i64,
}

impl Dialer {
    /// A campaign in draft. Refused with the field at fault if the settings are not valid.
    pub fn new(cfg: CampaignConfig) -> Result<Self, Error> {
        cfg.validate().map_err(Error::Config)?;
        let centre: Tz = cfg
            .centre_time_zone
            .parse()
            .map_err(|_| Error::Config("`centre_time_zone` is not an IANA zone".into()))?;
        Ok(Dialer {
            cfg,
            centre,
            state: CampaignState::Draft,
            recs: Vec::new(),
            by_id: HashMap::new(),
            schedule: BTreeSet::new(),
            calls: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            next_call: 1,
            dnc: HashSet::new(),
            free: 0,
            staffed: 0,
            offered: 0,
            preview_ringing: 0,
            ringing: 0,
            flows: 0,
            out: VecDeque::new(),
            stats: Stats {
                predictive_gain: START_GAIN,
                ..Stats::default()
            },
            ring: Window::new(1_000),
            handle: Window::new(500),
            gain: START_GAIN,
            window_24h: VecDeque::new(),
            w24: [0; 3],
            tsr_start: None,
            tsr: [0; 2],
            last_now: i64::MIN,
        })
    }

    /// The settings.
    pub fn config(&self) -> &CampaignConfig {
        &self.cfg
    }

    /// The campaign's state.
    pub fn state(&self) -> CampaignState {
        self.state
    }

    /// Calls dialled and not yet answered or given up.
    pub fn in_flight(&self) -> u32 {
        self.ringing
    }

    /// Free agents as the core counts them (the last `Agents` figure, less calls it has
    /// connected since).
    pub fn free_agents(&self) -> u32 {
        self.free
    }

    /// Counters and abandon rates as of `now`.
    pub fn stats(&mut self, now: Time) -> Stats {
        self.prune(now.0);
        let mut s = self.stats.clone();
        s.ofcom_rate_24h = self.ofcom_rate();
        s.tsr_rate_30d = self.tsr_rate();
        s.predictive_gain = self.gain;
        s
    }

    /// The next decision, if any.
    pub fn poll_decision(&mut self) -> Option<Decision> {
        self.out.pop_front()
    }

    /// When the core next needs [`Dialer::handle_timeout`]: a ring timeout, a contact
    /// becoming due, or (predictive) the next look at agents about to be free.
    pub fn poll_timeout(&self) -> Option<Time> {
        let mut t = self.deadlines.first().map(|(d, _)| *d);
        if self.state == CampaignState::Running {
            let due = self
                .schedule
                .range((self.last_now.saturating_add(1), 0)..)
                .next()
                .map(|(d, _)| *d);
            t = min_opt(t, due);
            if self.cfg.mode == Mode::Predictive
                && self.calls.values().any(|c| c.stage == Stage::Connected)
            {
                t = min_opt(t, Some(self.last_now.saturating_add(PREDICTIVE_TICK_MS)));
            }
        }
        t.map(Time)
    }

    /// Acts on the time passing: ring timeouts, contacts due, pacing.
    pub fn handle_timeout(&mut self, now: Time) {
        let now = self.clock(now);
        while let Some(&(d, call)) = self.deadlines.first() {
            if d > now {
                break;
            }
            self.deadlines.pop_first();
            if self
                .calls
                .get(&call)
                .is_some_and(|c| c.stage == Stage::Ringing)
            {
                self.out.push_back(Decision::CancelDial { call });
                self.outcome(now, call, Outcome::NoAnswer);
            }
        }
        self.pace(now);
        self.maybe_finish();
    }

    /// Applies an input. A refused input changes nothing.
    pub fn handle(&mut self, now: Time, input: Input) -> Result<(), Error> {
        let now = self.clock(now);
        match input {
            Input::Control(c) => self.control(now, c)?,
            Input::AddContacts(list) => self.add_contacts(now, list)?,
            Input::Agents { free, staffed } => {
                self.free = free;
                self.staffed = staffed.max(free);
            }
            Input::Outcome { call, outcome } => {
                let c = self.calls.get(&call).ok_or(Error::UnknownCall(call))?;
                if c.stage != Stage::Ringing {
                    return Err(Error::InvalidState("the call already has an outcome"));
                }
                self.deadlines.remove(&(c.deadline, call));
                self.outcome(now, call, outcome);
            }
            Input::Ended { call } => {
                let c = self.calls.remove(&call).ok_or(Error::UnknownCall(call))?;
                match c.stage {
                    Stage::Ringing => {
                        self.calls.insert(call, c);
                        return Err(Error::InvalidState("the call has not been answered"));
                    }
                    Stage::Connected => self.handle.push((now - c.connected).max(0) as u64, false),
                    Stage::Flow => self.flows = self.flows.saturating_sub(1),
                    Stage::Closing => {}
                }
            }
            Input::PreviewDial { contact } => self.preview_dial(now, contact)?,
            Input::PreviewSkip { contact } => {
                let idx = self.offered_idx(contact)?;
                self.offered -= 1;
                self.done(idx, ContactResult::Skipped);
            }
            Input::DncAdd(phone) => {
                check_phone(&phone).map_err(Error::BadNumber)?;
                self.dnc.insert(phone);
            }
            Input::DncRemove(phone) => {
                self.dnc.remove(&phone);
            }
            Input::Past {
                contact,
                at,
                outcome,
            } => {
                // In the past: not through the clock, which never runs backwards.
                let at = at.0.clamp(0, MAX_TIME_MS).min(now);
                self.past(at, contact, outcome)?;
            }
        }
        self.pace(now);
        self.maybe_finish();
        Ok(())
    }

    fn clock(&mut self, now: Time) -> i64 {
        // Time never runs backwards for the core, and stays within 1970..=9999 so that no
        // sum of a time and a duration can overflow.
        self.last_now = self.last_now.max(now.0.clamp(0, MAX_TIME_MS));
        self.last_now
    }

    fn control(&mut self, now: i64, c: Control) -> Result<(), Error> {
        use CampaignState::*;
        let next = match (self.state, c) {
            (Draft, Control::Start) => Running,
            (Running, Control::Pause) => Paused,
            (Paused, Control::Resume) => Running,
            (Draft | Running | Paused, Control::Finish) => Finished,
            (from, c) => return Err(Error::Transition { from, control: c }),
        };
        if self.tsr_start.is_none() && next == Running {
            self.tsr_start = Some(now);
        }
        self.set_state(next);
        if next == Finished {
            // Withdraw preview cards; calls in flight run to their end.
            let offered: Vec<usize> = (0..self.recs.len())
                .filter(|&i| self.recs[i].state == CState::Offered)
                .collect();
            for i in offered {
                self.out.push_back(Decision::PreviewWithdrawn {
                    contact: self.recs[i].contact.id,
                    reason: "the campaign is finished".into(),
                });
                self.recs[i].state = CState::Waiting;
            }
            self.offered = 0;
        }
        Ok(())
    }

    fn set_state(&mut self, s: CampaignState) {
        if self.state != s {
            self.state = s;
            self.out.push_back(Decision::State(s));
        }
    }

    fn add_contacts(&mut self, now: i64, list: Vec<Contact>) -> Result<(), Error> {
        if self.state == CampaignState::Finished {
            return Err(Error::InvalidState("the campaign is finished"));
        }
        let mut seen = HashSet::new();
        let mut checked = Vec::with_capacity(list.len());
        for c in list {
            let bad = |reason: String| Error::BadContact { id: c.id, reason };
            if self.by_id.contains_key(&c.id) || !seen.insert(c.id) {
                return Err(bad("the id is already in the campaign".into()));
            }
            check_phone(&c.phone).map_err(bad)?;
            let zones = match &c.time_zone {
                Some(z) => vec![
                    z.parse::<Tz>()
                        .map_err(|_| bad(format!("`{z}` is not an IANA time zone")))?,
                ],
                None => zones_of_number(&c.phone).unwrap_or_else(|| vec![self.centre]),
            };
            checked.push((c, zones));
        }
        for (c, zones) in checked {
            let idx = self.recs.len();
            self.by_id.insert(c.id, idx);
            let day_zone = zones.first().copied().unwrap_or(self.centre);
            self.recs.push(Rec {
                contact: c,
                zones,
                day_zone,
                state: CState::Waiting,
                due: now,
                day: i64::MIN,
                today: 0,
                ended: [0; 5],
                last_abandon: None,
            });
            self.schedule.insert((now, idx));
        }
        Ok(())
    }

    fn offered_idx(&self, contact: u64) -> Result<usize, Error> {
        let idx = *self
            .by_id
            .get(&contact)
            .ok_or(Error::UnknownContact(contact))?;
        if self.recs[idx].state != CState::Offered {
            return Err(Error::InvalidState(
                "the contact is not offered for preview",
            ));
        }
        Ok(idx)
    }

    fn preview_dial(&mut self, now: i64, contact: u64) -> Result<(), Error> {
        let idx = self.offered_idx(contact)?;
        self.offered -= 1;
        self.recs[idx].state = CState::Waiting;
        match self.check(now, idx) {
            Ok(()) => {
                self.dial(now, idx, true);
            }
            Err(reason) => {
                self.out
                    .push_back(Decision::PreviewWithdrawn { contact, reason });
            }
        }
        Ok(())
    }

    /// The rules checked at dial time. On refusal the contact is rescheduled or done and the
    /// reason returned.
    fn check(&mut self, now: i64, idx: usize) -> Result<(), String> {
        let r = &self.recs[idx];
        if self.dnc.contains(&r.contact.phone) {
            self.stats.dnc_blocked += 1;
            self.done(idx, ContactResult::DoNotCall);
            return Err("the number is on the do-not-call list".into());
        }
        let hours = self.cfg.calling_hours;
        if !hours.holds_in_all(&r.zones, Time(now)) {
            match hours.next_open(&r.zones, Time(now)) {
                Some(t) if t.0 > now => self.reschedule(idx, t.0),
                _ => self.done(idx, ContactResult::NoCallingHours),
            }
            return Err("outside the calling hours of the called person".into());
        }
        let day = local_day(r.day_zone, Time(now));
        if r.day == day && r.today >= self.cfg.rules.max_attempts_per_day {
            let next = now + until_next_local_day(r.day_zone, Time(now));
            self.reschedule(idx, next);
            return Err("the attempts for today are used up".into());
        }
        if self.cfg.mode == Mode::Predictive
            && let Some(a) = r.last_abandon
        {
            let until = a + (self.cfg.rules.abandoned_redial_block_hours * 3_600_000.0) as i64;
            if now < until {
                self.reschedule(idx, until);
                return Err("an abandoned call reached this number less than 72 h ago".into());
            }
        }
        Ok(())
    }

    fn reschedule(&mut self, idx: usize, due: i64) {
        let r = &mut self.recs[idx];
        self.schedule.remove(&(r.due, idx));
        r.due = due;
        r.state = CState::Waiting;
        self.schedule.insert((due, idx));
    }

    fn done(&mut self, idx: usize, result: ContactResult) {
        let r = &mut self.recs[idx];
        if r.state == CState::Done {
            return;
        }
        self.schedule.remove(&(r.due, idx));
        r.state = CState::Done;
        self.stats.contacts_done += 1;
        self.out.push_back(Decision::ContactDone {
            contact: r.contact.id,
            result,
        });
    }

    /// The next contact that may be dialled now, all rules checked.
    fn next_contact(&mut self, now: i64) -> Option<usize> {
        while let Some(&(due, idx)) = self.schedule.first() {
            if due > now {
                return None;
            }
            if self.check(now, idx).is_ok() {
                self.schedule.remove(&(due, idx));
                return Some(idx);
            }
        }
        None
    }

    fn dial(&mut self, now: i64, idx: usize, preview: bool) {
        let call = CallId(self.next_call);
        self.next_call += 1;
        let ring_ms = (self.cfg.rules.ring_seconds * 1000.0) as i64;
        let r = &mut self.recs[idx];
        let day = local_day(r.day_zone, Time(now));
        if r.day != day {
            r.day = day;
            r.today = 0;
        }
        r.today += 1;
        r.state = CState::InCall;
        self.calls.insert(
            call,
            Call {
                contact: idx,
                dialled: now,
                deadline: now + ring_ms,
                stage: Stage::Ringing,
                connected: now,
                preview,
            },
        );
        self.deadlines.insert((now + ring_ms, call));
        self.ringing += 1;
        if preview {
            self.preview_ringing += 1;
        }
        self.stats.dials += 1;
        self.out.push_back(Decision::Dial {
            call,
            contact: r.contact.id,
            phone: r.contact.phone.clone(),
            caller_id: self.cfg.caller_id.clone(),
            ring_seconds: self.cfg.rules.ring_seconds,
        });
    }

    fn set_stage(&mut self, call: CallId, stage: Stage, now: i64) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.stage = stage;
            c.connected = now;
        }
    }

    fn connect(&mut self, now: i64, call: CallId, idx: usize) {
        self.set_stage(call, Stage::Connected, now);
        self.free = self.free.saturating_sub(1);
        self.out.push_back(Decision::Connect {
            call,
            contact: self.recs[idx].contact.id,
            priority: self.cfg.priority,
        });
        self.done(idx, ContactResult::Reached);
    }

    fn outcome(&mut self, now: i64, call: CallId, outcome: Outcome) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let (idx, preview, dialled) = (c.contact, c.preview, c.dialled);
        self.ringing -= 1;
        if preview {
            self.preview_ringing -= 1;
        }
        self.ring
            .push((now - dialled).max(0) as u64, outcome == Outcome::Live);
        let contact = self.recs[idx].contact.id;
        let predictive_campaign = self.cfg.mode == Mode::Predictive;
        match outcome {
            Outcome::Live => {
                self.stats.live += 1;
                if self.cfg.mode == Mode::Agentless {
                    self.set_stage(call, Stage::Flow, now);
                    self.flows += 1;
                    self.stats.connected += 1;
                    self.out.push_back(Decision::RunFlow { call, contact });
                    self.done(idx, ContactResult::Reached);
                } else if preview || self.free > 0 {
                    // In preview the agent who chose to dial waits for the call.
                    self.stats.connected += 1;
                    self.record(now, Kind::Connected);
                    self.connect(now, call, idx);
                    if predictive_campaign && self.stats.pacing_predictive {
                        let s = self.setpoint();
                        self.gain = (self.gain * (1.0 + GAIN_STEP * s / (1.0 - s))).min(MAX_GAIN);
                    }
                } else {
                    self.set_stage(call, Stage::Closing, now);
                    self.stats.abandoned += 1;
                    self.record(now, Kind::Abandoned);
                    self.out
                        .push_back(Decision::PlayAbandonMessage { call, contact });
                    self.recs[idx].last_abandon = Some(now);
                    if predictive_campaign && self.stats.pacing_predictive {
                        self.gain = (self.gain * (1.0 - GAIN_STEP)).max(MIN_GAIN);
                    }
                    let rule = self.cfg.retries.abandoned;
                    self.retry(now, idx, 4, rule, Outcome::Live);
                }
            }
            Outcome::Machine => {
                self.stats.machine += 1;
                self.record(now, Kind::Machine);
                match self.cfg.machine_action {
                    MachineAction::LeaveMessage => {
                        self.set_stage(call, Stage::Closing, now);
                        self.out.push_back(Decision::LeaveMessage { call });
                        self.done(idx, ContactResult::MessageLeft);
                    }
                    MachineAction::PassToAgent
                        if self.cfg.mode != Mode::Agentless && (preview || self.free > 0) =>
                    {
                        self.connect(now, call, idx);
                    }
                    _ => {
                        self.set_stage(call, Stage::Closing, now);
                        self.out.push_back(Decision::HangUp { call });
                        let rule = self.cfg.retries.machine;
                        self.retry(now, idx, 2, rule, Outcome::Machine);
                    }
                }
            }
            Outcome::Busy | Outcome::NoAnswer | Outcome::Failed => {
                self.calls.remove(&call);
                let (slot, rule) = match outcome {
                    Outcome::Busy => {
                        self.stats.busy += 1;
                        (1, self.cfg.retries.busy)
                    }
                    Outcome::NoAnswer => {
                        self.stats.no_answer += 1;
                        (0, self.cfg.retries.no_answer)
                    }
                    _ => {
                        self.stats.failed += 1;
                        (3, self.cfg.retries.failed)
                    }
                };
                self.retry(now, idx, slot, rule, outcome);
            }
        }
    }

    /// An attempt made before a restart (see [`Input::Past`]).
    /// A contact the shell did not add (done before the restart) counts in the figures only.
    fn past(&mut self, at: i64, contact: u64, outcome: PastOutcome) -> Result<(), Error> {
        self.stats.dials += 1;
        let Some(&idx) = self.by_id.get(&contact) else {
            match outcome {
                PastOutcome::Connected => {
                    self.stats.live += 1;
                    self.stats.connected += 1;
                    if self.cfg.mode != Mode::Agentless {
                        self.record(at, Kind::Connected);
                    }
                }
                PastOutcome::Abandoned => {
                    self.stats.live += 1;
                    self.stats.abandoned += 1;
                    self.record(at, Kind::Abandoned);
                }
                PastOutcome::Machine => {
                    self.stats.machine += 1;
                    self.record(at, Kind::Machine);
                }
                PastOutcome::Busy => self.stats.busy += 1,
                PastOutcome::NoAnswer => self.stats.no_answer += 1,
                PastOutcome::Failed => self.stats.failed += 1,
            }
            return Ok(());
        };
        let r = &mut self.recs[idx];
        let day = local_day(r.day_zone, Time(at));
        if r.day != day {
            r.day = day;
            r.today = 0;
        }
        r.today += 1;
        let done = r.state == CState::Done;
        // Out of the schedule: the outcome says when it is due again.
        if !done {
            self.schedule.remove(&(r.due, idx));
        }
        let (slot, rule, as_outcome) = match outcome {
            PastOutcome::Connected => {
                self.stats.live += 1;
                self.stats.connected += 1;
                if self.cfg.mode != Mode::Agentless {
                    self.record(at, Kind::Connected);
                }
                self.done(idx, ContactResult::Reached);
                return Ok(());
            }
            PastOutcome::Abandoned => {
                self.stats.live += 1;
                self.stats.abandoned += 1;
                self.record(at, Kind::Abandoned);
                self.recs[idx].last_abandon = Some(at);
                (4, self.cfg.retries.abandoned, Outcome::Live)
            }
            PastOutcome::Machine => {
                self.stats.machine += 1;
                self.record(at, Kind::Machine);
                (2, self.cfg.retries.machine, Outcome::Machine)
            }
            PastOutcome::Busy => {
                self.stats.busy += 1;
                (1, self.cfg.retries.busy, Outcome::Busy)
            }
            PastOutcome::NoAnswer => {
                self.stats.no_answer += 1;
                (0, self.cfg.retries.no_answer, Outcome::NoAnswer)
            }
            PastOutcome::Failed => {
                self.stats.failed += 1;
                (3, self.cfg.retries.failed, Outcome::Failed)
            }
        };
        if done {
            self.recs[idx].ended[slot] += 1;
        } else {
            self.retry(at, idx, slot, rule, as_outcome);
        }
        Ok(())
    }

    fn retry(&mut self, now: i64, idx: usize, slot: usize, rule: Retry, outcome: Outcome) {
        let r = &mut self.recs[idx];
        r.ended[slot] += 1;
        if r.ended[slot] >= rule.max_attempts {
            self.done(idx, ContactResult::Exhausted { outcome });
        } else {
            let due = now.saturating_add((rule.spacing_seconds as i64).saturating_mul(1000));
            r.state = CState::Waiting;
            r.due = due;
            self.schedule.insert((due, idx));
        }
    }

    fn record(&mut self, now: i64, kind: Kind) {
        self.prune(now);
        self.window_24h.push_back((now, kind));
        self.w24[kind as usize] += 1;
        if kind != Kind::Machine {
            self.tsr[kind as usize] += 1;
        }
    }

    fn prune(&mut self, now: i64) {
        while let Some(&(t, k)) = self.window_24h.front() {
            if t > now - DAY_MS {
                break;
            }
            self.window_24h.pop_front();
            self.w24[k as usize] -= 1;
        }
        if let Some(start) = self.tsr_start
            && now >= start + TSR_PERIOD_MS
        {
            let periods = (now - start) / TSR_PERIOD_MS;
            self.tsr_start = Some(start + periods * TSR_PERIOD_MS);
            self.tsr = [0; 2];
        }
    }

    fn ofcom_rate(&self) -> f64 {
        let fp = self.w24[Kind::Machine as usize] as f64 * self.cfg.rules.amd_false_positive_rate;
        let ab = self.w24[Kind::Abandoned as usize] as f64 + fp;
        let live = self.w24[Kind::Connected as usize] as f64 + ab;
        if live > 0.0 { ab / live } else { 0.0 }
    }

    fn tsr_rate(&self) -> f64 {
        let ab = self.tsr[Kind::Abandoned as usize] as f64;
        let live = self.tsr[Kind::Connected as usize] as f64 + ab;
        if live > 0.0 { ab / live } else { 0.0 }
    }

    fn setpoint(&self) -> f64 {
        self.cfg.rules.max_abandon_rate * (1.0 - self.cfg.rules.safety_margin)
    }

    /// Whether predictive pacing may dial ahead now: enough agents, enough measurements,
    /// and both regimes' measured rates below the limit with half the margin to spare.
    fn predictive_now(&mut self, now: i64) -> bool {
        if self.cfg.mode != Mode::Predictive
            || self.staffed < self.cfg.predictive_min_agents
            || self.ring.len() < WARMUP_OUTCOMES
            || self.handle.len() < WARMUP_HANDLES.max(2 * self.staffed as usize)
        {
            return false;
        }
        self.prune(now);
        let guard = self.cfg.rules.max_abandon_rate * (1.0 - self.cfg.rules.safety_margin / 2.0);
        let live_24h = self.w24[0] + self.w24[1];
        !(live_24h >= 30 && (self.ofcom_rate() >= guard || self.tsr_rate() >= guard))
    }

    /// How many calls to place now.
    fn wanted(&mut self, now: i64) -> u32 {
        match self.cfg.mode {
            Mode::Preview => 0,
            Mode::Agentless => self
                .cfg
                .agentless_concurrency
                .saturating_sub(self.ringing + self.flows),
            Mode::Progressive | Mode::Predictive => {
                let progressive = self.free.saturating_sub(self.ringing);
                let predictive = self.predictive_now(now);
                self.stats.pacing_predictive = predictive;
                if !predictive {
                    return progressive;
                }
                let p0 = self.ring.marked_share_after(0);
                if p0 <= 0.0 {
                    return progressive;
                }
                // Horizon: a call dialled now that a person answers does so after about the
                // mean ring time of live answers.
                let horizon = self.ring.marked_mean().unwrap_or(10_000.0) as u64;
                let mut expected_free = f64::from(self.free);
                let mut expected_live = 0.0;
                for c in self.calls.values() {
                    match c.stage {
                        Stage::Connected => {
                            expected_free += self
                                .handle
                                .ends_within((now - c.connected).max(0) as u64, horizon);
                        }
                        Stage::Ringing => {
                            expected_live += self
                                .ring
                                .marked_share_after((now - c.dialled).max(0) as u64);
                        }
                        Stage::Flow | Stage::Closing => {}
                    }
                }
                let want = ((self.gain * expected_free - expected_live) / p0).floor();
                let cap = (self.staffed * MAX_LINES_PER_AGENT).saturating_sub(self.ringing);
                let want = if want > 0.0 {
                    want.min(f64::from(cap)) as u32
                } else {
                    0
                };
                want.max(progressive)
            }
        }
    }

    fn pace(&mut self, now: i64) {
        if self.state != CampaignState::Running {
            return;
        }
        if self.cfg.mode == Mode::Preview {
            while self.free > self.offered + self.preview_ringing {
                let Some(idx) = self.next_contact(now) else {
                    break;
                };
                self.recs[idx].state = CState::Offered;
                self.offered += 1;
                self.out.push_back(Decision::OfferPreview {
                    contact: self.recs[idx].contact.id,
                    phone: self.recs[idx].contact.phone.clone(),
                });
            }
            return;
        }
        let n = self.wanted(now);
        for _ in 0..n {
            let Some(idx) = self.next_contact(now) else {
                break;
            };
            self.dial(now, idx, false);
        }
    }

    fn maybe_finish(&mut self) {
        if matches!(self.state, CampaignState::Running | CampaignState::Paused)
            && self.offered == 0
            && self.ringing == 0
            && !self.recs.is_empty()
            && self.stats.contacts_done == self.recs.len() as u64
        {
            self.set_state(CampaignState::Finished);
        }
    }
}

/// The controller's step: each abandoned call takes this share off the gain.
const GAIN_STEP: f64 = 0.05;
/// The gain's first value and bounds.
const START_GAIN: f64 = 0.25;
const MIN_GAIN: f64 = 0.05;
const MAX_GAIN: f64 = 4.0;
const MAX_LINES_PER_AGENT: u32 = 4;

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}
