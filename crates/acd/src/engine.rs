//! The routing engine.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::config::{
    AgentConfig, Blend, Capacity, Channel, EngineConfig, MAX_LEVEL, MaxWaitAction, QueueConfig,
    Strategy,
};
use crate::types::{
    AgentId, AgentState, AgentWellbeing, Arrival, ContactId, Error, IdMap, Input, Instant, Output,
    QueueId, WaitEstimate, WellbeingAlert, secs_to_ms,
};

/// Number of ordering keys the agent index keeps.
const KINDS: usize = 4;
const K_IDLE: usize = 0;
const K_FEWEST: usize = 1;
const K_OCCUPANCY: usize = 2;
const K_ROUND_ROBIN: usize = 3;
/// Free agents compared by the fair-spread rule for one difficult contact.
const FAIR_WINDOW: usize = 16;
const LEVELS: usize = MAX_LEVEL as usize;
const SETS_PER_SKILL: usize = 3 * LEVELS * KINDS;
/// Name of the pseudo-skill every agent holds (reserved).
const ANY_SKILL: &str = "*";

type SkillId = u16;
/// A conjunction of (skill, minimum level).
type Req = Vec<(SkillId, u8)>;
/// A queue's requirements: base, alternatives per step, when each step applies (ms).
type Plan = (Req, Vec<Vec<Req>>, Vec<u64>);
/// Entry of the agent index: (key, tie-break, agent index).
type AgentEntry = (u64, u64, u32);
/// Entry of a waiting line: (negated priority, arrival sequence, contact id).
type WaitKey = (i64, u64, u64);
type TimerKey = (u64, u64);
/// A ring-out deadline: (at, contact, agent, offer number).
type RingOut = (u64, u64, u32, u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    WrapUp(u32),
    Break(u32),
    Step(u64),
    MaxWait(u64),
    Preferred(u64),
    /// An agent's exclusion from a contact (after a ring-out or a decline) ends.
    Retry(u64),
}

/// How an offer ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unoffer {
    /// The agent declined it.
    Declined,
    /// The phone rang without answer or could not be reached (told by the shell).
    Missed,
    /// The engine's offer timeout passed.
    RangOut,
    /// The engine took it back (the agent logged out).
    Withdrawn,
    /// The shell could not put it to the agent (nobody's doing).
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Presence {
    LoggedOut,
    Ready,
    NotReady(String),
    Break {
        reason: String,
        recovery: bool,
        pause: bool,
    },
}

#[derive(Debug)]
struct Agent {
    name: String,
    capacity: Capacity,
    skills: Vec<(SkillId, u8)>,
    presence: Presence,
    active: [u8; 3],
    offers: Vec<u64>,
    wrap_until: Option<u64>,
    wrap_timer: Option<TimerKey>,
    break_timer: Option<TimerKey>,
    break_started: u64,
    pending_recovery: bool,
    idle_since: u64,
    last_offer_seq: u64,
    no_answer: u32,
    /// Offers declined in a row (busy, do-not-disturb, rejected): towards `max_declines`.
    declines: u32,
    /// Bumped each time the agent comes back to available from not-ready, a break or a
    /// logout: exclusions made before end then.
    epoch: u32,
    logged_in_since: Option<u64>,
    logged_in_ms: u64,
    busy_since: Option<u64>,
    busy_ms: u64,
    busy_log: VecDeque<(u64, u64)>,
    stats: AgentWellbeing,
    streak: u32,
    index: Vec<(u32, AgentEntry)>,
    eligible: Vec<u32>,
    preferred: BTreeSet<WaitKey>,
    shown: AgentState,
    /// Removed for good ([`Input::RemoveAgent`]): logged out, in no line, index or count.
    removed: bool,
}

impl Agent {
    fn level(&self, skill: SkillId) -> u8 {
        match self.skills.binary_search_by_key(&skill, |s| s.0) {
            Ok(i) => self.skills[i].1,
            Err(_) => 0,
        }
    }

    fn meets(&self, req: &[(SkillId, u8)]) -> bool {
        req.iter().all(|&(s, l)| self.level(s) >= l)
    }

    fn active_total(&self) -> u32 {
        self.active.iter().map(|&a| u32::from(a)).sum()
    }

    fn occupied(&self) -> bool {
        self.active_total() > 0 || self.wrap_until.is_some()
    }

    fn can_take(&self, ch: Channel, blend: Blend) -> bool {
        if self.presence != Presence::Ready || !self.offers.is_empty() || self.wrap_until.is_some()
        {
            return false;
        }
        let cap = self.capacity.of(ch);
        let [voice, chat, email] = self.active;
        match ch {
            Channel::Voice => {
                cap > 0 && voice == 0 && (blend.call_during_written || chat == 0 && email == 0)
            }
            Channel::Chat => {
                chat < cap
                    && (voice == 0 || blend.written_during_call)
                    && (email == 0 || blend.chat_with_email)
            }
            Channel::Email => {
                email < cap
                    && (voice == 0 || blend.written_during_call)
                    && (chat == 0 || blend.chat_with_email)
            }
        }
    }

    fn state(&self) -> AgentState {
        match &self.presence {
            Presence::LoggedOut => AgentState::LoggedOut,
            _ if !self.offers.is_empty() => AgentState::Offered,
            _ if self.active_total() > 0 => AgentState::Busy,
            _ if self.wrap_until.is_some() => AgentState::WrapUp,
            Presence::Ready => AgentState::Available,
            Presence::NotReady(r) => AgentState::NotReady { reason: r.clone() },
            Presence::Break {
                reason, recovery, ..
            } => AgentState::Break {
                reason: reason.clone(),
                recovery: *recovery,
            },
        }
    }
}

#[derive(Debug)]
struct Group {
    channel: Channel,
    alts: Vec<Req>,
    waiting: BTreeSet<WaitKey>,
    staffed: u32,
    /// Known: no free agent meets this group's requirements (cleared whenever an agent
    /// who does enters the index of free agents). Saves fruitless searches while all
    /// qualified agents are busy.
    no_free: bool,
}

#[derive(Debug)]
struct Queue {
    cfg: QueueConfig,
    groups: Vec<u32>,
    step_ms: Vec<u64>,
    base: Req,
    kind: usize,
    aht_ms: f64,
    /// Index of the ring-out FIFO of this queue's offer timeout.
    fifo: usize,
    /// Contacts in this queue not yet connected (waiting, ringing, or waiting for a
    /// preferred agent), by when they entered it: the longest wait is the first.
    entered: BTreeSet<(u64, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CState {
    Waiting,
    Preferred(u32),
    Offered,
    Connected(u32),
}

#[derive(Debug)]
struct Contact {
    queue: u32,
    step: usize,
    prio: i64,
    seq: u64,
    entered: u64,
    answered_at: u64,
    /// Wrap-up after it, fixed when it is answered (a queue's wrap-up changed later applies
    /// from the next contact).
    wrap_ms: u64,
    /// A VIP caller (its priority holds the engine's VIP boost).
    vip: bool,
    difficult: bool,
    /// Skills this contact needs beyond its queue's (the arrival's own skills, the senior
    /// skill once escalated), sorted, one entry per skill.
    needs: Req,
    /// Some skill it needs is unknown to the engine: no agent can take it.
    unservable: bool,
    callback: bool,
    state: CState,
    /// Agents who did not take an offer of it, kept after the wait ends so that a second
    /// refusal waits longer.
    excluded: Vec<Exclusion>,
    /// Outstanding offers: agent and offer number (0 when offers never ring out).
    offers: Vec<(u32, u64)>,
    step_timer: Option<TimerKey>,
    max_wait_timer: Option<TimerKey>,
    pref_timer: Option<TimerKey>,
    retry_timer: Option<TimerKey>,
}

/// An agent who did not take an offer of a contact: not offered it again before `until`,
/// unless the agent came back to available since (`epoch`).
#[derive(Debug, Clone, Copy)]
struct Exclusion {
    agent: u32,
    until: u64,
    /// The agent's epoch when it was made.
    epoch: u32,
    /// Offers of this contact the agent did not take in that epoch: each doubles the wait.
    times: u32,
}

impl Contact {
    fn key(&self, id: u64) -> WaitKey {
        (-self.prio, self.seq, id)
    }

    /// Adds a needed skill (the higher level wins when it is already needed).
    fn need(&mut self, skill: SkillId, level: u8) {
        match self.needs.binary_search_by_key(&skill, |n| n.0) {
            Ok(i) => self.needs[i].1 = self.needs[i].1.max(level),
            Err(i) => self.needs.insert(i, (skill, level)),
        }
    }
}

/// The routing engine: agents, queues and waiting contacts, in virtual time.
///
/// Feed it [`Input`]s with [`Engine::handle`], fire its timers with
/// [`Engine::handle_timeout`] when [`Engine::poll_timeout`] says, and carry out what
/// [`Engine::poll_output`] returns. It never blocks, reads no clock, and is deterministic:
/// the same inputs at the same instants give the same outputs.
#[derive(Debug)]
pub struct Engine {
    cfg: EngineConfig,
    now: u64,
    skills: HashMap<String, SkillId>,
    sets: Vec<BTreeSet<AgentEntry>>,
    kinds_in_use: [bool; KINDS],
    /// Channels some queue uses (agents are indexed only for those).
    channels_in_use: [bool; 3],
    /// Whether some queue requires no skill (then the pseudo-skill is indexed).
    any_in_use: bool,
    want_scratch: Vec<(u32, AgentEntry)>,
    agents: Vec<Agent>,
    agent_names: HashMap<String, u32>,
    queues: Vec<Queue>,
    queue_names: HashMap<String, u32>,
    groups: Vec<Group>,
    contacts: IdMap<u64, Contact>,
    timers: BTreeMap<TimerKey, Timer>,
    timer_seq: u64,
    seq: u64,
    out: VecDeque<Output>,
    scratch: Vec<(u64, u64, u64, u32)>,
    any_skill: SkillId,
    /// While timers due at one instant fire, routing waits until all have fired, so that
    /// contacts whose steps widen at the same instant are served in order.
    deferring: bool,
    /// Ring-out deadlines of offers, one FIFO per distinct offer timeout (the engine's and
    /// the queues' own): (timeout, FIFO of (at, contact, agent, offer number) in time order).
    offer_fifos: Vec<(u64, VecDeque<RingOut>)>,
    offer_seq: u64,
    pending_contacts: Vec<u64>,
    pending_agents: Vec<u32>,
}

impl Engine {
    /// A new engine with no queues and no agents.
    pub fn new(cfg: EngineConfig) -> Self {
        let mut kinds_in_use = [false; KINDS];
        kinds_in_use[K_IDLE] = true;
        let mut e = Engine {
            cfg,
            now: 0,
            skills: HashMap::new(),
            sets: Vec::new(),
            kinds_in_use,
            channels_in_use: [false; 3],
            any_in_use: false,
            want_scratch: Vec::new(),
            agents: Vec::new(),
            agent_names: HashMap::new(),
            queues: Vec::new(),
            queue_names: HashMap::new(),
            groups: Vec::new(),
            contacts: IdMap::default(),
            timers: BTreeMap::new(),
            timer_seq: 0,
            seq: 0,
            out: VecDeque::new(),
            scratch: Vec::new(),
            any_skill: 0,
            deferring: false,
            offer_fifos: Vec::new(),
            offer_seq: 0,
            pending_contacts: Vec::new(),
            pending_agents: Vec::new(),
        };
        // Every agent holds this pseudo-skill, so queues without required skills are indexed.
        e.any_skill = e.skill(ANY_SKILL);
        e
    }

    /// The engine settings.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    // ----- configuration -------------------------------------------------------------------

    fn skill(&mut self, name: &str) -> SkillId {
        if let Some(&s) = self.skills.get(name) {
            return s;
        }
        let id = self.skills.len() as SkillId;
        self.skills.insert(name.to_string(), id);
        self.sets
            .resize_with(self.sets.len() + SETS_PER_SKILL, BTreeSet::new);
        id
    }

    fn req_of(&mut self, skills: &BTreeMap<String, u8>, lower: u8) -> Result<Req, Error> {
        let mut req = Vec::with_capacity(skills.len());
        for (name, &level) in skills {
            if level == 0 || level > MAX_LEVEL {
                return Err(Error::BadLevel {
                    skill: name.clone(),
                    level,
                });
            }
            let s = self.skill(name);
            req.push((s, level.saturating_sub(lower).max(1)));
        }
        req.sort_unstable();
        Ok(req)
    }

    fn queue_req(&mut self, skills: &BTreeMap<String, u8>, lower: u8) -> Result<Req, Error> {
        let r = self.req_of(skills, lower)?;
        Ok(if r.is_empty() {
            vec![(self.any_skill, 1)]
        } else {
            r
        })
    }

    /// Checks skill names and levels before anything changes: names neither empty nor the
    /// reserved `*`, levels 1..=10, and no more than [`crate::MAX_SKILLS`] distinct skills.
    fn check_skills<'a>(
        &self,
        maps: impl IntoIterator<Item = &'a BTreeMap<String, u8>>,
    ) -> Result<(), Error> {
        let mut new_names: BTreeSet<&str> = BTreeSet::new();
        for (name, &level) in maps.into_iter().flatten() {
            if name.is_empty() || name == ANY_SKILL {
                return Err(Error::BadSkill(name.clone()));
            }
            if level == 0 || level > MAX_LEVEL {
                return Err(Error::BadLevel {
                    skill: name.clone(),
                    level,
                });
            }
            if !self.skills.contains_key(name) {
                new_names.insert(name);
            }
            if self.skills.len() + new_names.len() > crate::MAX_SKILLS {
                return Err(Error::BadSkill(name.clone()));
            }
        }
        Ok(())
    }

    /// Checks a queue's settings before anything changes: its skills, and the queues its
    /// overflow steps name (which must exist; `own` is the queue's own name when it is
    /// being changed).
    fn check_queue(&self, cfg: &QueueConfig, own: Option<&str>) -> Result<(), Error> {
        self.check_skills(
            std::iter::once(&cfg.skills).chain(cfg.overflow.iter().map(|s| &s.add_skills)),
        )?;
        for q in cfg.overflow.iter().flat_map(|s| &s.add_queues) {
            if !self.queue_names.contains_key(q) && own != Some(q.as_str()) {
                return Err(Error::UnknownQueueName(q.clone()));
            }
        }
        Ok(())
    }

    /// A queue's requirements: its base requirement, the alternatives accepted at each step
    /// (step 0 is the base), and when each step applies (ms after entering).
    fn plan_queue(&mut self, cfg: &QueueConfig) -> Result<Plan, Error> {
        let base = self.queue_req(&cfg.skills, 0)?;
        let mut alts_per_step: Vec<Vec<Req>> = vec![vec![base.clone()]];
        let mut step_ms = vec![0];
        let mut lower = 0u8;
        let mut extra: Vec<Req> = Vec::new();
        for step in &cfg.overflow {
            lower = lower.saturating_add(step.lower_levels_by);
            if !step.add_skills.is_empty() {
                let r = self.queue_req(&step.add_skills, 0)?;
                extra.push(r);
            }
            for q in &step.add_queues {
                if *q == cfg.name {
                    // Its own base requirement (already accepted).
                    extra.push(base.clone());
                    continue;
                }
                let qi = *self
                    .queue_names
                    .get(q)
                    .ok_or_else(|| Error::UnknownQueueName(q.clone()))?;
                extra.push(self.queues[qi as usize].base.clone());
            }
            let mut alts = vec![self.queue_req(&cfg.skills, lower)?];
            for r in &extra {
                if !alts.contains(r) {
                    alts.push(r.clone());
                }
            }
            let prev = step_ms.last().copied().unwrap_or(0);
            step_ms.push(secs_to_ms(step.after_seconds).max(prev));
            alts_per_step.push(alts);
        }
        Ok((base, alts_per_step, step_ms))
    }

    /// The ring-out FIFO of an offer timeout (made when new).
    fn fifo_for(&mut self, timeout: u64) -> usize {
        match self.offer_fifos.iter().position(|f| f.0 == timeout) {
            Some(i) => i,
            None => {
                self.offer_fifos.push((timeout, VecDeque::new()));
                self.offer_fifos.len() - 1
            }
        }
    }

    fn queue_timeout(&self, cfg: &QueueConfig) -> u64 {
        secs_to_ms(
            cfg.offer_timeout_seconds
                .unwrap_or(self.cfg.offer_timeout_seconds),
        )
    }

    /// Adds a queue. Queues named in its overflow steps must already exist (a maximum-wait
    /// overflow target may come later).
    pub fn add_queue(&mut self, cfg: QueueConfig) -> Result<QueueId, Error> {
        if self.queue_names.contains_key(&cfg.name) {
            return Err(Error::DuplicateName(cfg.name.clone()));
        }
        self.check_queue(&cfg, None)?;
        let (base, alts_per_step, step_ms) = self.plan_queue(&cfg)?;
        let qi = self.queues.len() as u32;
        let kind = kind_of(cfg.strategy);
        let mut groups = Vec::new();
        for alts in alts_per_step {
            let g = self.groups.len() as u32;
            let mut staffed = 0;
            for a in self.agents.iter_mut().filter(|a| !a.removed) {
                if alts.iter().any(|r| a.meets(r)) {
                    a.eligible.push(g);
                    if a.presence != Presence::LoggedOut {
                        staffed += 1;
                    }
                }
            }
            self.groups.push(Group {
                channel: cfg.channel,
                alts,
                waiting: BTreeSet::new(),
                staffed,
                no_free: false,
            });
            groups.push(g);
        }
        let aht_ms = secs_to_ms(cfg.expected_handle_seconds).max(1) as f64;
        let timeout = self.queue_timeout(&cfg);
        let fifo = self.fifo_for(timeout);
        self.queue_names.insert(cfg.name.clone(), qi);
        self.queues.push(Queue {
            cfg,
            groups,
            step_ms,
            base,
            kind,
            aht_ms,
            fifo,
            entered: BTreeSet::new(),
        });
        self.note_in_use(qi);
        Ok(QueueId(qi))
    }

    /// Indexes agents for the strategy, channel and pseudo-skill queue `qi` uses, when no
    /// queue used them before.
    fn note_in_use(&mut self, qi: u32) {
        let any_skill = self.any_skill;
        let q = &self.queues[qi as usize];
        let kind = q.kind;
        let any = q.groups.iter().any(|&g| {
            self.groups[g as usize]
                .alts
                .iter()
                .flatten()
                .any(|&(s, _)| s == any_skill)
        });
        let ch = q.cfg.channel.index();
        if !self.kinds_in_use[kind] || !self.channels_in_use[ch] || (any && !self.any_in_use) {
            self.kinds_in_use[kind] = true;
            self.channels_in_use[ch] = true;
            self.any_in_use |= any;
            for a in 0..self.agents.len() as u32 {
                self.reindex(a);
            }
        }
    }

    /// Replaces the settings of a queue (see [`Input::SetQueue`]), validated first.
    fn set_queue(&mut self, cfg: QueueConfig) -> Result<(), Error> {
        let Some(&qi) = self.queue_names.get(&cfg.name) else {
            return Err(Error::UnknownQueueName(cfg.name.clone()));
        };
        if cfg.channel != self.queues[qi as usize].cfg.channel {
            return Err(Error::InvalidState("a queue's channel cannot change"));
        }
        self.check_queue(&cfg, Some(&cfg.name))?;
        if self.queues[qi as usize].cfg == cfg {
            return Ok(());
        }
        // Contacts not yet connected, in a fixed order.
        let mut members: Vec<u64> = self
            .contacts
            .iter()
            .filter(|(_, c)| c.queue == qi && !matches!(c.state, CState::Connected(_)))
            .map(|(&id, _)| id)
            .collect();
        members.sort_unstable();
        // The queue's priority is part of every contact's: they move in line accordingly.
        let delta = i64::from(cfg.priority) - i64::from(self.queues[qi as usize].cfg.priority);
        if delta != 0 {
            for &cid in &members {
                self.reprioritise(cid, delta);
            }
        }
        let old_base = self.queues[qi as usize].base.clone();
        let q = &mut self.queues[qi as usize];
        if q.cfg.expected_handle_seconds != cfg.expected_handle_seconds {
            q.aht_ms = secs_to_ms(cfg.expected_handle_seconds).max(1) as f64;
        }
        q.kind = kind_of(cfg.strategy);
        let max_wait = cfg.max_wait.as_ref().map(|m| secs_to_ms(m.seconds));
        q.cfg = cfg;
        let timeout = self.queue_timeout(&self.queues[qi as usize].cfg);
        self.queues[qi as usize].fifo = self.fifo_for(timeout);
        self.rebuild(qi)?;
        let mut touched = vec![qi];
        // Queues whose overflow steps accept agents meeting this queue's base requirement.
        if self.queues[qi as usize].base != old_base {
            let name = self.queues[qi as usize].cfg.name.clone();
            for other in 0..self.queues.len() as u32 {
                if other != qi
                    && self.queues[other as usize]
                        .cfg
                        .overflow
                        .iter()
                        .any(|s| s.add_queues.contains(&name))
                {
                    self.rebuild(other)?;
                    touched.push(other);
                }
            }
        }
        self.note_in_use(qi);
        // The maximum wait follows the new setting, from when each contact entered.
        for &cid in &members {
            let Some(c) = self.contacts.get_mut(&cid) else {
                continue;
            };
            let old = c.max_wait_timer.take();
            let at = match (max_wait, c.callback) {
                (Some(ms), false) => Some(c.entered.saturating_add(ms)),
                _ => None,
            };
            self.cancel(old);
            if let Some(at) = at {
                let t = self.add_timer(at, Timer::MaxWait(cid));
                if let Some(c) = self.contacts.get_mut(&cid) {
                    c.max_wait_timer = Some(t);
                }
            }
        }
        self.route_waiting(&touched);
        // A maximum wait the new setting says has passed is reached now.
        if self
            .timers
            .first_key_value()
            .is_some_and(|(k, _)| k.0 <= self.now)
        {
            self.handle_timeout(Instant(self.now));
        }
        Ok(())
    }

    /// Offers the contacts waiting in these queues, best first, to agents free now.
    fn route_waiting(&mut self, queues: &[u32]) {
        let mut waiting: Vec<(WaitKey, u64)> = self
            .contacts
            .iter()
            .filter(|(_, c)| queues.contains(&c.queue) && c.state == CState::Waiting)
            .map(|(&id, c)| (c.key(id), id))
            .collect();
        waiting.sort_unstable();
        for (_, cid) in waiting {
            self.route_contact(cid);
        }
    }

    /// Moves a contact not yet connected in line by `delta` of priority.
    fn reprioritise(&mut self, cid: u64, delta: i64) {
        let Some(c) = self.contacts.get_mut(&cid) else {
            return;
        };
        let old = c.key(cid);
        c.prio += delta;
        let new = c.key(cid);
        match c.state {
            CState::Waiting => {
                let g = self.queues[c.queue as usize].groups[c.step] as usize;
                self.groups[g].waiting.remove(&old);
                self.groups[g].waiting.insert(new);
            }
            CState::Preferred(a) => {
                let p = &mut self.agents[a as usize].preferred;
                p.remove(&old);
                p.insert(new);
            }
            CState::Offered | CState::Connected(_) => {}
        }
    }

    /// Rebuilds queue `qi`'s lines from its settings: its groups (slots reused, extra ones
    /// made, surplus ones emptied), who is eligible for each and how many are staffed, and
    /// each contact's step by how long it has waited (its place in line kept).
    fn rebuild(&mut self, qi: u32) -> Result<(), Error> {
        let cfg = self.queues[qi as usize].cfg.clone();
        let (base, alts_per_step, step_ms) = self.plan_queue(&cfg)?;
        let old_groups = self.queues[qi as usize].groups.clone();
        let mut members: Vec<u64> = self
            .contacts
            .iter()
            .filter(|(_, c)| c.queue == qi && !matches!(c.state, CState::Connected(_)))
            .map(|(&id, _)| id)
            .collect();
        members.sort_unstable();
        for &cid in &members {
            if let Some(c) = self.contacts.get(&cid)
                && c.state == CState::Waiting
            {
                let key = c.key(cid);
                self.groups[old_groups[c.step] as usize]
                    .waiting
                    .remove(&key);
            }
        }
        let mut groups = Vec::with_capacity(alts_per_step.len());
        for (k, alts) in alts_per_step.into_iter().enumerate() {
            let g = match old_groups.get(k) {
                Some(&g) => g,
                None => {
                    self.groups.push(Group {
                        channel: cfg.channel,
                        alts: Vec::new(),
                        waiting: BTreeSet::new(),
                        staffed: 0,
                        no_free: false,
                    });
                    (self.groups.len() - 1) as u32
                }
            };
            let group = &mut self.groups[g as usize];
            group.alts = alts;
            group.staffed = 0;
            group.no_free = false;
            groups.push(g);
        }
        for &g in old_groups.iter().skip(groups.len()) {
            // No requirement left: nobody is eligible, nothing waits there.
            let group = &mut self.groups[g as usize];
            group.alts.clear();
            group.staffed = 0;
            group.no_free = true;
        }
        for a in 0..self.agents.len() {
            if self.agents[a].removed {
                continue;
            }
            let logged_in = self.agents[a].presence != Presence::LoggedOut;
            let mut eligible = std::mem::take(&mut self.agents[a].eligible);
            eligible.retain(|g| !old_groups.contains(g) && !groups.contains(g));
            for &g in &groups {
                if self.groups[g as usize]
                    .alts
                    .iter()
                    .any(|r| self.agents[a].meets(r))
                {
                    eligible.push(g);
                    if logged_in {
                        self.groups[g as usize].staffed += 1;
                    }
                }
            }
            eligible.sort_unstable();
            self.agents[a].eligible = eligible;
        }
        let last = groups.len() - 1;
        let q = &mut self.queues[qi as usize];
        q.groups = groups;
        q.step_ms = step_ms;
        q.base = base;
        // Connected contacts are in no line; their step stays within the queue's.
        for c in self.contacts.values_mut() {
            if c.queue == qi && matches!(c.state, CState::Connected(_)) {
                c.step = c.step.min(last);
            }
        }
        for cid in members {
            let Some(c) = self.contacts.get_mut(&cid) else {
                continue;
            };
            let q = &self.queues[qi as usize];
            let waited = self.now.saturating_sub(c.entered);
            let step = q.step_ms.iter().rposition(|&ms| ms <= waited).unwrap_or(0);
            let next_at = q
                .step_ms
                .get(step + 1)
                .map(|&ms| c.entered.saturating_add(ms));
            c.step = step;
            let old = c.step_timer.take();
            if c.state == CState::Waiting {
                let key = c.key(cid);
                self.groups[q.groups[step] as usize].waiting.insert(key);
            }
            self.cancel(old);
            if let Some(at) = next_at {
                let t = self.add_timer(at, Timer::Step(cid));
                if let Some(c) = self.contacts.get_mut(&cid) {
                    c.step_timer = Some(t);
                }
            }
        }
        Ok(())
    }

    /// Replaces the engine-wide rules (see [`Input::SetRules`]).
    fn set_rules(&mut self, mut rules: EngineConfig) -> Result<(), Error> {
        rules.senior_skill = self.cfg.senior_skill.clone();
        rules.scan_limit = self.cfg.scan_limit;
        if rules == self.cfg {
            return Ok(());
        }
        let delta = i64::from(rules.vip_boost) - i64::from(self.cfg.vip_boost);
        self.cfg = rules;
        if delta != 0 {
            let mut vips: Vec<u64> = self
                .contacts
                .iter()
                .filter(|(_, c)| c.vip && !matches!(c.state, CState::Connected(_)))
                .map(|(&id, _)| id)
                .collect();
            vips.sort_unstable();
            for cid in vips {
                self.reprioritise(cid, delta);
            }
        }
        // Queues without a ring timeout of their own follow the engine's.
        for qi in 0..self.queues.len() {
            let timeout = self.queue_timeout(&self.queues[qi].cfg);
            self.queues[qi].fifo = self.fifo_for(timeout);
        }
        // Rules that kept an agent from a contact may no longer.
        for a in 0..self.agents.len() as u32 {
            if !self.agents[a as usize].removed {
                self.route_agent(a);
            }
        }
        Ok(())
    }

    /// Removes an agent for good (see [`Input::RemoveAgent`]).
    fn remove_agent(&mut self, a: u32) -> Result<(), Error> {
        let ag = &self.agents[a as usize];
        if ag.active_total() > 0 || !ag.offers.is_empty() {
            return Err(Error::AgentBusy(AgentId(a)));
        }
        if ag.presence != Presence::LoggedOut {
            self.logout(a)?;
        }
        let ag = &mut self.agents[a as usize];
        ag.removed = true;
        ag.eligible.clear();
        ag.pending_recovery = false;
        let t = [ag.wrap_timer.take(), ag.break_timer.take()];
        ag.wrap_until = None;
        let name = ag.name.clone();
        for t in t {
            self.cancel(t);
        }
        if self.agent_names.get(&name) == Some(&a) {
            self.agent_names.remove(&name);
        }
        self.reindex(a);
        Ok(())
    }

    /// Adds an agent (logged out).
    pub fn add_agent(&mut self, cfg: AgentConfig) -> Result<AgentId, Error> {
        if self.agent_names.contains_key(&cfg.name) {
            return Err(Error::DuplicateName(cfg.name.clone()));
        }
        self.check_skills([&cfg.skills])?;
        let mut skills = self.req_of(&cfg.skills, 0)?;
        if !skills.iter().any(|s| s.0 == self.any_skill) {
            skills.push((self.any_skill, 1));
            skills.sort_unstable();
        }
        let mut agent = Agent {
            name: cfg.name.clone(),
            capacity: cfg.capacity,
            skills,
            presence: Presence::LoggedOut,
            active: [0; 3],
            offers: Vec::new(),
            wrap_until: None,
            wrap_timer: None,
            break_timer: None,
            break_started: 0,
            pending_recovery: false,
            idle_since: 0,
            last_offer_seq: 0,
            no_answer: 0,
            declines: 0,
            epoch: 0,
            logged_in_since: None,
            logged_in_ms: 0,
            busy_since: None,
            busy_ms: 0,
            busy_log: VecDeque::new(),
            stats: AgentWellbeing::default(),
            streak: 0,
            index: Vec::new(),
            eligible: Vec::new(),
            preferred: BTreeSet::new(),
            shown: AgentState::LoggedOut,
            removed: false,
        };
        for (g, group) in self.groups.iter().enumerate() {
            if group.alts.iter().any(|r| agent.meets(r)) {
                agent.eligible.push(g as u32);
            }
        }
        let id = self.agents.len() as u32;
        self.agent_names.insert(cfg.name, id);
        self.agents.push(agent);
        Ok(AgentId(id))
    }

    /// Replaces agent `a`'s skills (see [`Input::SetSkills`]): validated first, so that a
    /// refused change leaves the engine as it was; then the agent's lines, staffing and
    /// index entries follow, and a free agent looks for a contact it may now serve.
    fn set_skills(&mut self, a: u32, skills: &BTreeMap<String, u8>) -> Result<(), Error> {
        self.check_skills([skills])?;
        let mut held = self.req_of(skills, 0)?;
        held.push((self.any_skill, 1));
        held.sort_unstable();
        let ag = &mut self.agents[a as usize];
        if ag.skills == held {
            return Ok(());
        }
        ag.skills = held;
        let logged_in = ag.presence != Presence::LoggedOut;
        let old = std::mem::take(&mut ag.eligible);
        let mut eligible = Vec::with_capacity(old.len());
        for (g, group) in self.groups.iter().enumerate() {
            if group.alts.iter().any(|r| self.agents[a as usize].meets(r)) {
                eligible.push(g as u32);
            }
        }
        if logged_in {
            for &g in &old {
                let s = &mut self.groups[g as usize].staffed;
                *s = s.saturating_sub(1);
            }
            for &g in &eligible {
                self.groups[g as usize].staffed += 1;
            }
        }
        self.agents[a as usize].eligible = eligible;
        // A free agent takes the best contact it may now serve; otherwise it waits in the
        // index under its new skills (which tells the lines it may serve that someone is
        // free again).
        self.route_agent(a);
        self.reindex(a);
        Ok(())
    }

    // ----- queries -------------------------------------------------------------------------

    /// The queue of that name.
    pub fn queue_id(&self, name: &str) -> Option<QueueId> {
        self.queue_names.get(name).map(|&q| QueueId(q))
    }

    /// The agent of that name.
    pub fn agent_id(&self, name: &str) -> Option<AgentId> {
        self.agent_names.get(name).map(|&a| AgentId(a))
    }

    /// Name of an agent (of a removed agent too: the name it had, for outputs about it).
    pub fn agent_name(&self, agent: AgentId) -> Option<&str> {
        self.agents.get(agent.0 as usize).map(|a| a.name.as_str())
    }

    /// Configuration of a queue.
    pub fn queue_config(&self, queue: QueueId) -> Option<&QueueConfig> {
        self.queues.get(queue.0 as usize).map(|q| &q.cfg)
    }

    /// Number of agents (removed agents not counted; their ids are not reused, so ids of the
    /// agents present may have gaps: see [`Engine::agent_ids`]).
    pub fn agent_count(&self) -> usize {
        self.agents.iter().filter(|a| !a.removed).count()
    }

    /// The agents present (not removed), in the order they were added.
    pub fn agent_ids(&self) -> impl Iterator<Item = AgentId> + '_ {
        self.agents
            .iter()
            .enumerate()
            .filter(|(_, a)| !a.removed)
            .map(|(i, _)| AgentId(i as u32))
    }

    /// A present (not removed) agent.
    fn present(&self, agent: AgentId) -> Option<&Agent> {
        self.agents.get(agent.0 as usize).filter(|a| !a.removed)
    }

    /// Number of queues.
    pub fn queue_count(&self) -> usize {
        self.queues.len()
    }

    /// Current state of an agent (`None`: no such agent, or removed).
    pub fn agent_state(&self, agent: AgentId) -> Option<AgentState> {
        self.present(agent).map(Agent::state)
    }

    /// Whether the agent holds or is being offered a contact (`None`: no such agent).
    pub fn agent_holds_contacts(&self, agent: AgentId) -> Option<bool> {
        self.present(agent)
            .map(|a| a.active_total() > 0 || !a.offers.is_empty())
    }

    /// Wellbeing figures of an agent, as of the last input (`None` once removed).
    pub fn agent_wellbeing(&self, agent: AgentId) -> Option<AgentWellbeing> {
        let a = self.present(agent)?;
        let mut s = a.stats;
        let logged = a.logged_in_ms + a.logged_in_since.map_or(0, |t| self.now.saturating_sub(t));
        let busy = a.busy_ms + a.busy_since.map_or(0, |t| self.now.saturating_sub(t));
        s.logged_in_seconds = logged as f64 / 1000.0;
        s.occupied_seconds = busy as f64 / 1000.0;
        s.difficult_in_row = a.streak;
        Some(s)
    }

    /// Contacts waiting in a queue, callbacks keeping their place included. Contacts that
    /// wait for their preferred agent alone are not counted: they are in that agent's line.
    pub fn waiting(&self, queue: QueueId) -> usize {
        self.queues.get(queue.0 as usize).map_or(0, |q| {
            q.groups
                .iter()
                .map(|&g| self.groups[g as usize].waiting.len())
                .sum()
        })
    }

    /// The contact that has waited longest in a queue, and when it entered the queue (for
    /// wallboards: its wait is `now` minus that). Every contact of the queue not yet
    /// answered counts: waiting, ringing, waiting for its preferred agent, or a callback
    /// keeping its place. A contact that overflowed here counts from when it entered this
    /// queue. `None` when nobody waits.
    pub fn longest_waiting(&self, queue: QueueId) -> Option<(ContactId, Instant)> {
        let q = self.queues.get(queue.0 as usize)?;
        q.entered
            .first()
            .map(|&(at, cid)| (ContactId(cid), Instant(at)))
    }

    /// Total live contacts (waiting, ringing or connected).
    pub fn live_contacts(&self) -> usize {
        self.contacts.len()
    }

    /// The agent holding a connected contact.
    pub fn contact_agent(&self, contact: ContactId) -> Option<AgentId> {
        match self.contacts.get(&contact.0)?.state {
            CState::Connected(a) => Some(AgentId(a)),
            _ => None,
        }
    }

    /// The queue a live contact is in.
    pub fn contact_queue(&self, contact: ContactId) -> Option<QueueId> {
        self.contacts.get(&contact.0).map(|c| QueueId(c.queue))
    }

    /// Position and estimated wait of a waiting contact. Costs O(position).
    ///
    /// The estimate is `(position + 1) × AHT / N`: the expected time until `position + 1`
    /// agents free up when `N` agents (those logged in who may take the contact) each
    /// finish at rate `1 / AHT`, with AHT a moving average of observed handle times. When a
    /// later overflow step widens who may take it, the estimate is the soonest of waiting
    /// for that step and then being served by the wider group.
    pub fn wait_estimate(&self, contact: ContactId) -> Option<WaitEstimate> {
        let c = self.contacts.get(&contact.0)?;
        let key = c.key(contact.0);
        let q = &self.queues[c.queue as usize];
        let position = match c.state {
            CState::Waiting => q
                .groups
                .iter()
                .map(|&g| {
                    let w = &self.groups[g as usize].waiting;
                    // The usual case, a newcomer behind everyone, costs nothing.
                    match w.last() {
                        None => 0,
                        Some(l) if *l < key => w.len(),
                        Some(l) if *l == key => w.len() - 1,
                        Some(_) => w.range(..key).count(),
                    }
                })
                .sum::<usize>(),
            CState::Preferred(a) => self.agents[a as usize].preferred.range(..key).count(),
            _ => return None,
        } as u32;
        let est = self.estimate(q, c, position);
        Some(WaitEstimate {
            position,
            estimated_wait_seconds: est,
        })
    }

    fn estimate(&self, q: &Queue, c: &Contact, position: u32) -> f64 {
        let per_agent = f64::from(position + 1) * q.aht_ms / 1000.0;
        if let CState::Preferred(_) = c.state {
            return per_agent;
        }
        // The contact may be served at its current step, or at a later one that widens who
        // may take it: take the soonest.
        let waited = self.now.saturating_sub(c.entered) as f64 / 1000.0;
        let mut best = f64::INFINITY;
        for (k, &g) in q.groups.iter().enumerate().skip(c.step) {
            let staffed = self.groups[g as usize].staffed;
            if staffed == 0 {
                continue;
            }
            let until_step = (q.step_ms[k] as f64 / 1000.0 - waited).max(0.0);
            best = best.min(until_step + per_agent / f64::from(staffed));
        }
        if best.is_finite() { best } else { per_agent }
    }

    /// Position and estimated wait of every contact waiting in a queue, first in line first
    /// (for announcements and wallboards). One pass over the queue's lines.
    pub fn queue_positions(&self, queue: QueueId) -> Vec<(ContactId, WaitEstimate)> {
        let Some(q) = self.queues.get(queue.0 as usize) else {
            return Vec::new();
        };
        let mut keys: Vec<WaitKey> = q
            .groups
            .iter()
            .flat_map(|&g| self.groups[g as usize].waiting.iter().copied())
            .collect();
        keys.sort_unstable();
        keys.iter()
            .enumerate()
            .filter_map(|(i, k)| {
                let c = self.contacts.get(&k.2)?;
                let est = self.estimate(q, c, i as u32);
                Some((
                    ContactId(k.2),
                    WaitEstimate {
                        position: i as u32,
                        estimated_wait_seconds: est,
                    },
                ))
            })
            .collect()
    }

    /// Verifies the engine's bookkeeping against a recount from scratch (names, who is
    /// eligible for which line, staffing counts, the lines and the index of free agents).
    /// Costs a pass over everything: meant for tests. `Err` names the first mismatch.
    #[doc(hidden)]
    pub fn check_consistency(&self) -> Result<(), String> {
        let blend = self.cfg.blend;
        for (name, &a) in &self.agent_names {
            let ag = &self.agents[a as usize];
            if ag.removed || ag.name != *name {
                return Err(format!("name {name} maps to agent {a} ({})", ag.name));
            }
        }
        let mut staffed = vec![0u32; self.groups.len()];
        for (a, ag) in self.agents.iter().enumerate() {
            if ag.removed {
                if !ag.eligible.is_empty()
                    || !ag.index.is_empty()
                    || ag.presence != Presence::LoggedOut
                    || !ag.preferred.is_empty()
                    || self.agent_names.get(&ag.name) == Some(&(a as u32))
                {
                    return Err(format!("removed agent {a} still takes part"));
                }
                continue;
            }
            if self.agent_names.get(&ag.name) != Some(&(a as u32)) {
                return Err(format!("agent {a} ({}) is not found by name", ag.name));
            }
            let expected: Vec<u32> = self
                .queues
                .iter()
                .flat_map(|q| q.groups.iter().copied())
                .filter(|&g| self.groups[g as usize].alts.iter().any(|r| ag.meets(r)))
                .collect();
            let mut expected = expected;
            expected.sort_unstable();
            let mut have = ag.eligible.clone();
            have.sort_unstable();
            if have != expected {
                return Err(format!(
                    "agent {a} eligible for {have:?}, expected {expected:?}"
                ));
            }
            if ag.presence != Presence::LoggedOut {
                for &g in &expected {
                    staffed[g as usize] += 1;
                }
            }
            if !ag.index.is_empty() && !Channel::ALL.iter().any(|&ch| ag.can_take(ch, blend)) {
                return Err(format!(
                    "agent {a} is indexed as free but cannot take a contact"
                ));
            }
        }
        for q in &self.queues {
            for &g in &q.groups {
                if self.groups[g as usize].staffed != staffed[g as usize] {
                    return Err(format!(
                        "queue {} line {g} staffed {}, counted {}",
                        q.cfg.name, self.groups[g as usize].staffed, staffed[g as usize]
                    ));
                }
            }
        }
        let mut in_lines = 0;
        for (&cid, c) in &self.contacts {
            let q = &self.queues[c.queue as usize];
            if c.step >= q.groups.len() {
                return Err(format!(
                    "contact {cid} at step {} of {}",
                    c.step, q.cfg.name
                ));
            }
            if c.state == CState::Waiting {
                in_lines += 1;
                if !self.groups[q.groups[c.step] as usize]
                    .waiting
                    .contains(&c.key(cid))
                {
                    return Err(format!("contact {cid} waits outside its line"));
                }
            }
        }
        let lines: usize = self.groups.iter().map(|g| g.waiting.len()).sum();
        if lines != in_lines {
            return Err(format!("{lines} in the lines, {in_lines} waiting"));
        }
        Ok(())
    }

    // ----- the sans-IO interface -----------------------------------------------------------

    /// Next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When the engine next needs [`Engine::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.timers.keys().next().map(|&(t, _)| t);
        let offer = self.next_ring_out().map(|(at, _)| at);
        match (timer, offer) {
            (Some(a), Some(b)) => Some(Instant(a.min(b))),
            (a, b) => a.or(b).map(Instant),
        }
    }

    /// Fires every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        self.deferring = true;
        loop {
            let timer_at = self.timers.keys().next().map(|k| k.0);
            let ring_out = self.next_ring_out();
            match (timer_at, ring_out) {
                (Some(t), o) if t <= self.now && o.is_none_or(|(o, _)| t <= o) => {
                    if let Some((key, timer)) = self.timers.pop_first() {
                        self.fire(key, timer);
                    }
                }
                (_, Some((o, f))) if o <= self.now => {
                    if let Some((_, cid, a, id)) = self.offer_fifos[f].1.pop_front()
                        && self.offer_live(cid, a, id)
                    {
                        let _ = self.unoffer(cid, a, Unoffer::RangOut);
                    }
                }
                _ => break,
            }
        }
        self.deferring = false;
        // Freed agents first: each takes the best contact it may serve. Then contacts whose
        // lines changed, best first, look for agents still free.
        let mut agents = std::mem::take(&mut self.pending_agents);
        agents.sort_unstable();
        agents.dedup();
        for a in agents.drain(..) {
            self.route_agent(a);
        }
        self.pending_agents = agents;
        let mut contacts = std::mem::take(&mut self.pending_contacts);
        contacts.sort_unstable_by_key(|cid| self.contacts.get(cid).map(|c| c.key(*cid)));
        contacts.dedup();
        for cid in contacts.drain(..) {
            self.route_contact(cid);
        }
        self.pending_contacts = contacts;
        self.trim_offer_fifo();
    }

    fn offer_live(&self, cid: u64, a: u32, id: u64) -> bool {
        self.contacts
            .get(&cid)
            .is_some_and(|c| c.offers.contains(&(a, id)))
    }

    /// The earliest ring-out deadline and its FIFO.
    fn next_ring_out(&self) -> Option<(u64, usize)> {
        self.offer_fifos
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.1.front().map(|o| (o.0, i)))
            .min()
    }

    /// Drops answered or withdrawn offers from the front of the ring-out FIFOs, so that
    /// [`Engine::poll_timeout`] names a deadline that matters.
    fn trim_offer_fifo(&mut self) {
        for f in 0..self.offer_fifos.len() {
            while let Some(&(_, cid, a, id)) = self.offer_fifos[f].1.front() {
                if self.offer_live(cid, a, id) {
                    break;
                }
                self.offer_fifos[f].1.pop_front();
            }
        }
    }

    fn advance(&mut self, now: Instant) {
        if now.0 > self.now {
            self.now = now.0;
        }
    }

    /// Handles one input at `now` (earlier instants than the last one are taken as the last).
    pub fn handle(&mut self, now: Instant, input: Input) -> Result<(), Error> {
        self.advance(now);
        let result = self.handle_input(input);
        self.trim_offer_fifo();
        result
    }

    fn handle_input(&mut self, input: Input) -> Result<(), Error> {
        match input {
            Input::Login(a) => self.login(self.agent(a)?),
            Input::Logout(a) => self.logout(self.agent(a)?),
            Input::Ready(a) => self.ready(self.agent(a)?),
            Input::NotReady { agent, reason } => {
                let a = self.agent(agent)?;
                self.set_presence(a, Presence::NotReady(reason))
            }
            Input::Break {
                agent,
                reason,
                seconds,
            } => {
                let a = self.agent(agent)?;
                self.set_presence(
                    a,
                    Presence::Break {
                        reason,
                        recovery: false,
                        pause: false,
                    },
                )?;
                if let Some(s) = seconds {
                    let at = self.now.saturating_add(secs_to_ms(s));
                    let t = self.add_timer(at, Timer::Break(a));
                    self.agents[a as usize].break_timer = Some(t);
                }
                Ok(())
            }
            Input::ExtendWrapUp { agent, seconds } => {
                let a = self.agent(agent)?;
                let ag = &self.agents[a as usize];
                let Some(until) = ag.wrap_until else {
                    return Err(Error::InvalidState("agent is not in wrap-up"));
                };
                let until = until.saturating_add(secs_to_ms(seconds));
                if let Some(t) = self.agents[a as usize].wrap_timer.take() {
                    self.timers.remove(&t);
                }
                let t = self.add_timer(until, Timer::WrapUp(a));
                let ag = &mut self.agents[a as usize];
                ag.wrap_until = Some(until);
                ag.wrap_timer = Some(t);
                Ok(())
            }
            Input::EndWrapUp(agent) => {
                let a = self.agent(agent)?;
                if self.agents[a as usize].wrap_until.is_none() {
                    return Err(Error::InvalidState("agent is not in wrap-up"));
                }
                self.end_wrap_up(a);
                Ok(())
            }
            Input::Arrive(arrival) => self.arrive(arrival),
            Input::Answer { contact, agent } => self.answer(contact.0, self.agent(agent)?),
            Input::Reject {
                contact,
                agent,
                no_answer,
            } => {
                let a = self.agent(agent)?;
                let how = if no_answer {
                    Unoffer::Missed
                } else {
                    Unoffer::Declined
                };
                self.unoffer(contact.0, a, how)
            }
            Input::RingFailed { contact, agent } => {
                self.unoffer(contact.0, self.agent(agent)?, Unoffer::Failed)
            }
            Input::Abandon(contact) => self.abandon(contact.0),
            Input::End {
                contact,
                agitation,
                abusive,
            } => self.end(contact.0, agitation, abusive),
            Input::Callback(contact) => {
                let c = self
                    .contacts
                    .get_mut(&contact.0)
                    .ok_or(Error::UnknownContact(contact))?;
                if matches!(c.state, CState::Connected(_)) {
                    return Err(Error::InvalidState("contact is already connected"));
                }
                c.callback = true;
                if let Some(t) = c.max_wait_timer.take() {
                    self.timers.remove(&t);
                }
                Ok(())
            }
            Input::SetSkills { agent, skills } => {
                let a = self.agent(agent)?;
                self.set_skills(a, &skills)
            }
            Input::AddAgent(cfg) => self.add_agent(cfg).map(|_| ()),
            Input::RemoveAgent(agent) => self.remove_agent(self.agent(agent)?),
            Input::AddQueue(cfg) => self.add_queue(cfg).map(|_| ()),
            Input::SetQueue(cfg) => self.set_queue(cfg),
            Input::SetRules(rules) => self.set_rules(rules),
            Input::Escalate(contact) => {
                let c = self
                    .contacts
                    .get_mut(&contact.0)
                    .ok_or(Error::UnknownContact(contact))?;
                if matches!(c.state, CState::Connected(_)) {
                    return Err(Error::InvalidState("contact is already connected"));
                }
                match self.skills.get(&self.cfg.senior_skill) {
                    Some(&s) => c.need(s, 1),
                    None => c.unservable = true,
                }
                if c.state == CState::Waiting {
                    self.route_contact(contact.0);
                }
                Ok(())
            }
        }
    }

    fn agent(&self, a: AgentId) -> Result<u32, Error> {
        if self.agents.get(a.0 as usize).is_some_and(|ag| !ag.removed) {
            Ok(a.0)
        } else {
            Err(Error::UnknownAgent(a))
        }
    }

    fn add_timer(&mut self, at: u64, t: Timer) -> TimerKey {
        self.timer_seq += 1;
        let key = (at, self.timer_seq);
        self.timers.insert(key, t);
        key
    }

    fn cancel(&mut self, t: Option<TimerKey>) {
        if let Some(t) = t {
            self.timers.remove(&t);
        }
    }

    fn fire(&mut self, _key: TimerKey, timer: Timer) {
        match timer {
            Timer::WrapUp(a) => {
                self.agents[a as usize].wrap_timer = None;
                self.end_wrap_up(a);
            }
            Timer::Break(a) => {
                self.agents[a as usize].break_timer = None;
                let _ = self.ready(a);
            }
            Timer::Step(cid) => {
                let Some(c) = self.contacts.get_mut(&cid) else {
                    return;
                };
                c.step_timer = None;
                let old_step = c.step;
                c.step += 1;
                let q = &self.queues[c.queue as usize];
                let old_group = q.groups[old_step];
                let new_group = q.groups[c.step];
                let next_at = q
                    .step_ms
                    .get(c.step + 1)
                    .map(|&ms| c.entered.saturating_add(ms));
                let key = c.key(cid);
                let waiting = c.state == CState::Waiting;
                if waiting {
                    self.groups[old_group as usize].waiting.remove(&key);
                    self.groups[new_group as usize].waiting.insert(key);
                }
                if let Some(at) = next_at {
                    let t = self.add_timer(at, Timer::Step(cid));
                    if let Some(c) = self.contacts.get_mut(&cid) {
                        c.step_timer = Some(t);
                    }
                }
                if waiting {
                    self.route_contact(cid);
                }
            }
            Timer::MaxWait(cid) => self.max_wait(cid),
            Timer::Retry(cid) => {
                let now = self.now;
                let Some(c) = self.contacts.get_mut(&cid) else {
                    return;
                };
                c.retry_timer = None;
                let next = c
                    .excluded
                    .iter()
                    .map(|e| e.until)
                    .filter(|&u| u > now)
                    .min();
                let waiting = c.state == CState::Waiting;
                if let Some(at) = next {
                    let t = self.add_timer(at, Timer::Retry(cid));
                    if let Some(c) = self.contacts.get_mut(&cid) {
                        c.retry_timer = Some(t);
                    }
                }
                if waiting {
                    self.route_contact(cid);
                }
            }
            Timer::Preferred(cid) => {
                let Some(c) = self.contacts.get_mut(&cid) else {
                    return;
                };
                c.pref_timer = None;
                if let CState::Preferred(a) = c.state {
                    let key = c.key(cid);
                    c.state = CState::Waiting;
                    let g = self.queues[c.queue as usize].groups[c.step];
                    self.agents[a as usize].preferred.remove(&key);
                    self.groups[g as usize].waiting.insert(key);
                    self.route_contact(cid);
                }
            }
        }
    }

    // ----- agents --------------------------------------------------------------------------

    fn login(&mut self, a: u32) -> Result<(), Error> {
        let now = self.now;
        let ag = &mut self.agents[a as usize];
        if ag.presence != Presence::LoggedOut {
            return Err(Error::InvalidState("agent is already logged in"));
        }
        ag.presence = Presence::Ready;
        ag.logged_in_since = Some(now);
        ag.idle_since = now;
        ag.no_answer = 0;
        ag.declines = 0;
        ag.epoch = ag.epoch.wrapping_add(1);
        for &g in &ag.eligible {
            self.groups[g as usize].staffed += 1;
        }
        self.sync(a);
        self.route_agent(a);
        self.reindex(a);
        Ok(())
    }

    fn logout(&mut self, a: u32) -> Result<(), Error> {
        let now = self.now;
        let ag = &self.agents[a as usize];
        if ag.presence == Presence::LoggedOut {
            return Err(Error::InvalidState("agent is not logged in"));
        }
        if ag.active_total() > 0 {
            return Err(Error::InvalidState("agent holds a contact"));
        }
        let offers = ag.offers.clone();
        // Logged out first, so that no other contact is offered while these are withdrawn.
        self.agents[a as usize].presence = Presence::LoggedOut;
        for cid in offers {
            // Withdrawn by the engine: the shell is told.
            let _ = self.unoffer(cid, a, Unoffer::Withdrawn);
        }
        let ag = &mut self.agents[a as usize];
        let wrap = ag.wrap_timer.take();
        let brk = ag.break_timer.take();
        ag.wrap_until = None;
        self.cancel(wrap);
        self.cancel(brk);
        let ag = &mut self.agents[a as usize];
        ag.presence = Presence::LoggedOut;
        if let Some(t) = ag.logged_in_since.take() {
            ag.logged_in_ms += now.saturating_sub(t);
        }
        for &g in &ag.eligible {
            let s = &mut self.groups[g as usize].staffed;
            *s = s.saturating_sub(1);
        }
        // Contacts waiting for this agent alone go to the queue.
        let pref: Vec<WaitKey> = std::mem::take(&mut self.agents[a as usize].preferred)
            .into_iter()
            .collect();
        self.refresh(a);
        for key in pref {
            self.release_preferred(key.2);
        }
        Ok(())
    }

    fn release_preferred(&mut self, cid: u64) {
        let Some(c) = self.contacts.get_mut(&cid) else {
            return;
        };
        let t = c.pref_timer.take();
        c.state = CState::Waiting;
        let key = c.key(cid);
        let g = self.queues[c.queue as usize].groups[c.step];
        self.groups[g as usize].waiting.insert(key);
        self.cancel(t);
        self.route_contact(cid);
    }

    fn ready(&mut self, a: u32) -> Result<(), Error> {
        let ag = &self.agents[a as usize];
        if ag.presence == Presence::LoggedOut {
            return Err(Error::InvalidState("agent is not logged in"));
        }
        if ag.presence == Presence::Ready {
            return Ok(());
        }
        self.leave_break(a);
        let now = self.now;
        let ag = &mut self.agents[a as usize];
        ag.presence = Presence::Ready;
        ag.no_answer = 0;
        ag.declines = 0;
        // Back from not-ready or a break: contacts it did not take may be offered again.
        ag.epoch = ag.epoch.wrapping_add(1);
        if !ag.occupied() {
            ag.idle_since = now;
        }
        self.sync(a);
        self.route_agent(a);
        self.reindex(a);
        Ok(())
    }

    fn leave_break(&mut self, a: u32) {
        let now = self.now;
        let ag = &mut self.agents[a as usize];
        if let Presence::Break {
            recovery, pause, ..
        } = ag.presence
        {
            let spent = now.saturating_sub(ag.break_started) as f64 / 1000.0;
            if recovery {
                ag.stats.recovery_seconds += spent;
            }
            if pause {
                ag.stats.pause_seconds += spent;
            }
            // A break asked for during a contact never began: it does not end a run.
            if !ag.occupied() {
                ag.streak = 0;
            }
            let t = ag.break_timer.take();
            self.cancel(t);
        }
    }

    fn set_presence(&mut self, a: u32, p: Presence) -> Result<(), Error> {
        if self.agents[a as usize].presence == Presence::LoggedOut {
            return Err(Error::InvalidState("agent is not logged in"));
        }
        self.leave_break(a);
        let now = self.now;
        let ag = &mut self.agents[a as usize];
        if matches!(p, Presence::Break { .. }) {
            ag.break_started = now;
        }
        ag.presence = p;
        self.refresh(a);
        Ok(())
    }

    fn end_wrap_up(&mut self, a: u32) {
        let ag = &mut self.agents[a as usize];
        ag.wrap_until = None;
        let t = ag.wrap_timer.take();
        self.cancel(t);
        self.agent_freed(a);
    }

    /// The agent has finished all contacts and wrap-up: apply the wellbeing rules, then route.
    fn agent_freed(&mut self, a: u32) {
        let now = self.now;
        let wb = &self.cfg.wellbeing;
        let ag = &mut self.agents[a as usize];
        ag.idle_since = now;
        if ag.presence == Presence::Ready && wb.enabled {
            let mut break_ms = 0;
            let mut recovery = false;
            if ag.pending_recovery && wb.recovery_break_seconds > 0.0 {
                break_ms = secs_to_ms(wb.recovery_break_seconds);
                recovery = true;
            } else if wb.occupancy_ceiling > 0.0 && wb.occupancy_window_minutes > 0.0 {
                let window = secs_to_ms(wb.occupancy_window_minutes * 60.0);
                let busy = busy_in_window(ag, now, window);
                let allowed = (wb.occupancy_ceiling.min(1.0) * window as f64) as u64;
                if busy > allowed {
                    break_ms = (busy - allowed).min(secs_to_ms(wb.max_pause_seconds));
                    self.out.push_back(Output::WellbeingAlert {
                        agent: AgentId(a),
                        alert: WellbeingAlert::Occupancy {
                            permille: (busy * 1000 / window.max(1)) as u32,
                        },
                    });
                }
            }
            ag.pending_recovery = false;
            if break_ms > 0 {
                ag.presence = Presence::Break {
                    reason: if recovery { "recovery" } else { "occupancy" }.to_string(),
                    recovery,
                    pause: !recovery,
                };
                ag.break_started = now;
                let t = self.add_timer(now.saturating_add(break_ms), Timer::Break(a));
                self.agents[a as usize].break_timer = Some(t);
            }
        } else {
            ag.pending_recovery = false;
        }
        // Route before indexing: a freed agent usually takes a waiting contact at once, and
        // then never needs to enter the index of free agents (nor be shown as available for
        // an instant).
        self.route_agent(a);
        self.refresh(a);
    }

    /// Brings the agent's bookkeeping, shown state and index entries up to date.
    fn refresh(&mut self, a: u32) {
        self.sync(a);
        self.reindex(a);
    }

    /// Bookkeeping and shown state, without the index (see [`Engine::reindex`]).
    fn sync(&mut self, a: u32) {
        let now = self.now;
        let window = secs_to_ms(self.cfg.wellbeing.occupancy_window_minutes * 60.0);
        let ag = &mut self.agents[a as usize];
        let occ = ag.occupied();
        match (occ, ag.busy_since) {
            (true, None) => ag.busy_since = Some(now),
            (false, Some(s)) => {
                ag.busy_ms += now.saturating_sub(s);
                ag.busy_since = None;
                ag.busy_log.push_back((s, now));
                while ag.busy_log.front().is_some_and(|&(_, e)| e + window < now) {
                    ag.busy_log.pop_front();
                }
            }
            _ => {}
        }
        let st = ag.state();
        if st != ag.shown {
            ag.shown = st.clone();
            self.out.push_back(Output::AgentState {
                agent: AgentId(a),
                state: st,
            });
        }
    }

    fn set_index(skill: SkillId, ch: usize, level: u8, kind: usize) -> usize {
        ((usize::from(skill) * 3 + ch) * LEVELS + usize::from(level - 1)) * KINDS + kind
    }

    fn reindex(&mut self, a: u32) {
        let ag = &self.agents[a as usize];
        let mut want = std::mem::take(&mut self.want_scratch);
        want.clear();
        let logged = ag.logged_in_ms + ag.logged_in_since.map_or(0, |t| self.now - t.min(self.now));
        let busy = ag.busy_ms + ag.busy_since.map_or(0, |t| self.now - t.min(self.now));
        let occ_permille = (busy * 1000).checked_div(logged).unwrap_or(0);
        let keys: [AgentEntry; KINDS] = [
            (ag.idle_since, u64::from(a), a),
            (ag.stats.handled, ag.idle_since, a),
            (occ_permille, ag.idle_since, a),
            (ag.last_offer_seq, u64::from(a), a),
        ];
        for ch in Channel::ALL {
            if !self.channels_in_use[ch.index()] || !ag.can_take(ch, self.cfg.blend) {
                continue;
            }
            for &(s, l) in &ag.skills {
                if s == self.any_skill && !self.any_in_use {
                    continue;
                }
                for (k, key) in keys.iter().enumerate() {
                    if self.kinds_in_use[k] {
                        want.push((Self::set_index(s, ch.index(), l, k) as u32, *key));
                    }
                }
            }
        }
        if want == ag.index {
            self.want_scratch = want;
            return;
        }
        let old = std::mem::take(&mut self.agents[a as usize].index);
        for (si, e) in &old {
            self.sets[*si as usize].remove(e);
        }
        for (si, e) in &want {
            self.sets[*si as usize].insert(*e);
        }
        if !want.is_empty() {
            for &g in &self.agents[a as usize].eligible {
                self.groups[g as usize].no_free = false;
            }
        }
        self.agents[a as usize].index = want;
        self.want_scratch = old;
    }

    // ----- contacts ------------------------------------------------------------------------

    fn arrive(&mut self, ar: Arrival) -> Result<(), Error> {
        let qi = ar.queue.0;
        let Some(q) = self.queues.get(qi as usize) else {
            return Err(Error::UnknownQueue(ar.queue));
        };
        if self.contacts.contains_key(&ar.contact.0) {
            return Err(Error::DuplicateContact(ar.contact));
        }
        if let Some(p) = ar.preferred_agent {
            self.agent(p)?;
        }
        // Skills beyond the queue's: only skills the engine knows (some agent or queue has
        // them) are looked up; an unknown one means nobody can take the contact, which then
        // waits for its queue's maximum wait, like a contact of a queue nobody staffs.
        let mut needs: Req = Vec::new();
        let mut unservable = false;
        for (name, level) in &ar.skills {
            if *level == 0 || *level > MAX_LEVEL {
                return Err(Error::BadLevel {
                    skill: name.clone(),
                    level: *level,
                });
            }
            match self.skills.get(name) {
                Some(&s) => needs.push((s, *level)),
                None => unservable = true,
            }
        }
        needs.sort_unstable();
        // One entry per skill, the highest level.
        needs.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = kept.1.max(later.1);
            }
            same
        });
        let wb = &self.cfg.wellbeing;
        let agitated = wb.enabled
            && wb.escalate_agitation > 0.0
            && ar.agitation.is_some_and(|x| x >= wb.escalate_agitation);
        let prio = i64::from(q.cfg.priority)
            + i64::from(ar.priority)
            + if ar.vip {
                i64::from(self.cfg.vip_boost)
            } else {
                0
            };
        let escalate = ar.escalate || agitated;
        self.seq += 1;
        let cid = ar.contact.0;
        let mut contact = Contact {
            queue: qi,
            step: 0,
            prio,
            seq: self.seq,
            entered: self.now,
            answered_at: 0,
            wrap_ms: 0,
            vip: ar.vip,
            difficult: ar.difficult
                || (wb.enabled && ar.agitation.is_some_and(|x| x >= wb.agitation_threshold)),
            needs,
            unservable,
            callback: false,
            state: CState::Waiting,
            excluded: Vec::new(),
            offers: Vec::new(),
            step_timer: None,
            max_wait_timer: None,
            pref_timer: None,
            retry_timer: None,
        };
        if escalate {
            match self.skills.get(&self.cfg.senior_skill) {
                Some(&s) => contact.need(s, 1),
                None => contact.unservable = true,
            }
        }
        self.contacts.insert(cid, contact);
        self.enter_queue(cid, qi, ar.preferred_agent.map(|a| a.0));
        Ok(())
    }

    /// Puts a contact (already in `contacts`) into queue `qi` from its first step, arms the
    /// queue's timers, routes it, and reports its place if it waits.
    fn enter_queue(&mut self, cid: u64, qi: u32, preferred: Option<u32>) {
        let now = self.now;
        let q = &self.queues[qi as usize];
        let step_at = q.step_ms.get(1).map(|&ms| now.saturating_add(ms));
        let max_at = q
            .cfg
            .max_wait
            .as_ref()
            .map(|m| now.saturating_add(secs_to_ms(m.seconds)));
        let g0 = q.groups[0];
        let pref_ms = secs_to_ms(self.cfg.preferred_agent_seconds);
        let st = step_at.map(|at| self.add_timer(at, Timer::Step(cid)));
        let Some(c) = self.contacts.get_mut(&cid) else {
            return;
        };
        c.queue = qi;
        c.step = 0;
        c.entered = now;
        c.step_timer = st;
        self.queues[qi as usize].entered.insert((now, cid));
        let callback = c.callback;
        let key = c.key(cid);
        let pref = preferred
            .filter(|&a| pref_ms > 0 && self.agents[a as usize].presence != Presence::LoggedOut);
        if let Some(a) = pref {
            c.state = CState::Preferred(a);
            self.agents[a as usize].preferred.insert(key);
            let t = self.add_timer(now.saturating_add(pref_ms), Timer::Preferred(cid));
            if let Some(c) = self.contacts.get_mut(&cid) {
                c.pref_timer = Some(t);
            }
            self.route_agent(a);
        } else {
            c.state = CState::Waiting;
            self.groups[g0 as usize].waiting.insert(key);
            self.route_contact(cid);
        }
        if let (Some(at), false) = (max_at, callback)
            && self
                .contacts
                .get(&cid)
                .is_some_and(|c| !matches!(c.state, CState::Connected(_)))
        {
            let t = self.add_timer(at, Timer::MaxWait(cid));
            if let Some(c) = self.contacts.get_mut(&cid) {
                c.max_wait_timer = Some(t);
            }
        }
        if let Some(est) = self.wait_estimate(ContactId(cid)) {
            self.out.push_back(Output::Queued {
                contact: ContactId(cid),
                queue: QueueId(qi),
                position: est.position,
                estimated_wait_seconds: est.estimated_wait_seconds,
            });
        }
    }

    /// Removes a contact from whatever line it waits in (not from `contacts`).
    fn unlink(&mut self, cid: u64) {
        let Some(c) = self.contacts.get(&cid) else {
            return;
        };
        let key = c.key(cid);
        match c.state {
            CState::Waiting => {
                let g = self.queues[c.queue as usize].groups[c.step];
                self.groups[g as usize].waiting.remove(&key);
            }
            CState::Preferred(a) => {
                self.agents[a as usize].preferred.remove(&key);
            }
            _ => {}
        }
    }

    /// The contact no longer waits in its queue (answered, gone, or moving on).
    fn left_queue(&mut self, cid: u64) {
        if let Some(c) = self.contacts.get(&cid) {
            self.queues[c.queue as usize]
                .entered
                .remove(&(c.entered, cid));
        }
    }

    fn drop_timers(&mut self, cid: u64) {
        let Some(c) = self.contacts.get_mut(&cid) else {
            return;
        };
        let ts = [
            c.step_timer.take(),
            c.max_wait_timer.take(),
            c.pref_timer.take(),
            c.retry_timer.take(),
        ];
        for t in ts {
            self.cancel(t);
        }
    }

    fn max_wait(&mut self, cid: u64) {
        let Some(c) = self.contacts.get_mut(&cid) else {
            return;
        };
        c.max_wait_timer = None;
        if matches!(c.state, CState::Connected(_)) {
            return;
        }
        let qi = c.queue;
        let Some(action) = self.queues[qi as usize]
            .cfg
            .max_wait
            .as_ref()
            .map(|m| m.action.clone())
        else {
            return;
        };
        let freed = self.withdraw_offers(cid);
        self.unlink(cid);
        self.drop_timers(cid);
        self.left_queue(cid);
        self.finish_max_wait(cid, qi, action);
        for a in freed {
            self.route_agent(a);
        }
    }

    fn finish_max_wait(&mut self, cid: u64, qi: u32, action: MaxWaitAction) {
        if let MaxWaitAction::Overflow { queue } = &action
            && let Some(&to) = self.queue_names.get(queue)
            && to != qi
        {
            self.out.push_back(Output::Overflowed {
                contact: ContactId(cid),
                from: QueueId(qi),
                to: QueueId(to),
            });
            // The contact keeps its arrival sequence: it keeps its order there too.
            if let Some(c) = self.contacts.get_mut(&cid) {
                let delta = i64::from(self.queues[to as usize].cfg.priority)
                    - i64::from(self.queues[qi as usize].cfg.priority);
                c.prio += delta;
                c.excluded.clear();
            }
            self.enter_queue(cid, to, None);
            return;
        }
        self.contacts.remove(&cid);
        self.out.push_back(Output::MaxWaitReached {
            contact: ContactId(cid),
            queue: QueueId(qi),
            action,
        });
    }

    /// Withdraws every outstanding offer of a contact (telling the agents), and routes the
    /// agents freed.
    fn withdraw_offers(&mut self, cid: u64) -> Vec<u32> {
        let Some(c) = self.contacts.get_mut(&cid) else {
            return Vec::new();
        };
        if c.state != CState::Offered {
            return Vec::new();
        }
        let offers = std::mem::take(&mut c.offers);
        c.state = CState::Waiting;
        let key = c.key(cid);
        let g = self.queues[c.queue as usize].groups[c.step];
        self.groups[g as usize].waiting.insert(key);
        let mut freed = Vec::with_capacity(offers.len());
        for (a, _) in offers {
            self.agents[a as usize].offers.retain(|&x| x != cid);
            self.out.push_back(Output::OfferRescinded {
                contact: ContactId(cid),
                agent: AgentId(a),
                rang_out: false,
            });
            self.refresh(a);
            freed.push(a);
        }
        freed
    }

    fn abandon(&mut self, cid: u64) -> Result<(), Error> {
        let Some(c) = self.contacts.get(&cid) else {
            return Err(Error::UnknownContact(ContactId(cid)));
        };
        if matches!(c.state, CState::Connected(_)) {
            return self.end(cid, None, false);
        }
        let agents = self.withdraw_offers(cid);
        self.unlink(cid);
        self.drop_timers(cid);
        self.left_queue(cid);
        self.contacts.remove(&cid);
        for a in agents {
            self.route_agent(a);
        }
        Ok(())
    }

    fn offer(&mut self, cid: u64, agents: &[u32]) {
        self.unlink(cid);
        let now = self.now;
        let Some(c) = self.contacts.get_mut(&cid) else {
            return;
        };
        let fifo = self.queues[c.queue as usize].fifo;
        let timeout = self.offer_fifos[fifo].0;
        c.state = CState::Offered;
        let callback = c.callback;
        let mut offers = Vec::with_capacity(agents.len());
        for &a in agents {
            // Offers all ring for the same time, so their deadlines come in the order they
            // are made: a FIFO holds them, and answered offers are skipped when they come up.
            let id = if timeout > 0 {
                self.offer_seq += 1;
                self.offer_fifos[fifo].1.push_back((
                    now.saturating_add(timeout),
                    cid,
                    a,
                    self.offer_seq,
                ));
                self.offer_seq
            } else {
                0
            };
            offers.push((a, id));
            self.seq += 1;
            let ag = &mut self.agents[a as usize];
            ag.offers.push(cid);
            ag.last_offer_seq = self.seq;
            self.out.push_back(Output::Offer {
                contact: ContactId(cid),
                agent: AgentId(a),
                callback,
            });
            self.refresh(a);
        }
        if let Some(c) = self.contacts.get_mut(&cid) {
            c.offers = offers;
        }
    }

    fn answer(&mut self, cid: u64, a: u32) -> Result<(), Error> {
        let Some(c) = self.contacts.get_mut(&cid) else {
            return Err(Error::UnknownContact(ContactId(cid)));
        };
        if c.state != CState::Offered || !c.offers.iter().any(|o| o.0 == a) {
            return Err(Error::InvalidState("contact is not offered to this agent"));
        }
        let offers = std::mem::take(&mut c.offers);
        c.state = CState::Connected(a);
        c.answered_at = self.now;
        c.wrap_ms = secs_to_ms(self.queues[c.queue as usize].cfg.wrap_up_seconds);
        self.queues[c.queue as usize]
            .entered
            .remove(&(c.entered, cid));
        let ch = self.queues[c.queue as usize].cfg.channel;
        let mut others = Vec::new();
        for (b, _) in offers {
            self.agents[b as usize].offers.retain(|&x| x != cid);
            if b != a {
                self.out.push_back(Output::OfferRescinded {
                    contact: ContactId(cid),
                    agent: AgentId(b),
                    rang_out: false,
                });
                self.refresh(b);
                others.push(b);
            }
        }
        self.drop_timers(cid);
        let ag = &mut self.agents[a as usize];
        ag.active[ch.index()] = ag.active[ch.index()].saturating_add(1);
        ag.no_answer = 0;
        ag.declines = 0;
        ag.stats.handled += 1;
        self.refresh(a);
        for b in others {
            self.route_agent(b);
        }
        self.route_agent(a);
        Ok(())
    }

    /// An offer ended without an answer.
    fn unoffer(&mut self, cid: u64, a: u32, how: Unoffer) -> Result<(), Error> {
        let now = self.now;
        let retry_ms = secs_to_ms(self.cfg.retry_seconds);
        let retry_max_ms = secs_to_ms(self.cfg.retry_max_seconds).max(retry_ms);
        let epoch = self.agents[a as usize].epoch;
        let Some(c) = self.contacts.get_mut(&cid) else {
            return Err(Error::UnknownContact(ContactId(cid)));
        };
        let Some(pos) = c.offers.iter().position(|o| o.0 == a) else {
            return Err(Error::InvalidState("contact is not offered to this agent"));
        };
        c.offers.swap_remove(pos);
        // Not offered to this agent again for a while (or until the agent comes back from
        // a pause), so that other agents get their turn; a timer routes it again then. Each
        // further refusal of the same contact doubles the wait (up to `retry_max_seconds`),
        // so a phone that keeps refusing is not rung for it every few seconds.
        let mut retry_at = None;
        if how != Unoffer::Withdrawn && retry_ms > 0 {
            let before = c
                .excluded
                .iter()
                .find(|e| e.agent == a && e.epoch == epoch)
                .map_or(0, |e| e.times);
            // A failure that is nobody's doing waits the shortest time and is not counted.
            let times = if how == Unoffer::Failed {
                before
            } else {
                before.saturating_add(1)
            };
            let wait = if how == Unoffer::Failed {
                retry_ms
            } else {
                retry_ms
                    .saturating_mul(1u64 << times.saturating_sub(1).min(20))
                    .min(retry_max_ms)
            };
            let until = now.saturating_add(wait);
            c.excluded.retain(|e| e.agent != a);
            c.excluded.push(Exclusion {
                agent: a,
                until,
                epoch,
                times,
            });
            // One timer, at the soonest end of an exclusion (the retry time may have been
            // shortened since the one armed).
            if c.retry_timer.is_none_or(|t| t.0 > until) {
                if let Some(t) = c.retry_timer.take() {
                    self.timers.remove(&t);
                }
                retry_at = Some(until);
            }
        }
        let requeue = c.offers.is_empty();
        if requeue {
            c.state = CState::Waiting;
            let key = c.key(cid);
            let g = self.queues[c.queue as usize].groups[c.step];
            self.groups[g as usize].waiting.insert(key);
        }
        if let Some(at) = retry_at {
            let t = self.add_timer(at, Timer::Retry(cid));
            if let Some(c) = self.contacts.get_mut(&cid) {
                c.retry_timer = Some(t);
            }
        }
        let max = self.cfg.max_no_answer;
        let max_declines = self.cfg.max_declines;
        if matches!(how, Unoffer::RangOut | Unoffer::Withdrawn) {
            self.out.push_back(Output::OfferRescinded {
                contact: ContactId(cid),
                agent: AgentId(a),
                rang_out: how == Unoffer::RangOut,
            });
        }
        let ag = &mut self.agents[a as usize];
        ag.offers.retain(|&x| x != cid);
        if matches!(how, Unoffer::RangOut | Unoffer::Missed) {
            ag.no_answer += 1;
            if max > 0 && ag.no_answer >= max && ag.presence == Presence::Ready {
                ag.presence = Presence::NotReady("no-answer".to_string());
            }
        }
        if how == Unoffer::Declined {
            ag.declines += 1;
            if max_declines > 0 && ag.declines >= max_declines && ag.presence == Presence::Ready {
                ag.presence = Presence::NotReady("declined".to_string());
            }
        }
        self.refresh(a);
        // The agent first: with no retry time it may take this contact again, but only if
        // nothing better waits for it.
        self.route_agent(a);
        if requeue {
            self.route_contact(cid);
        }
        Ok(())
    }

    fn end(&mut self, cid: u64, agitation: Option<f32>, abusive: bool) -> Result<(), Error> {
        let Some(c) = self.contacts.get(&cid) else {
            return Err(Error::UnknownContact(ContactId(cid)));
        };
        let CState::Connected(a) = c.state else {
            return Err(Error::InvalidState("contact is not connected"));
        };
        let handle_ms = self.now.saturating_sub(c.answered_at);
        let wrap_ms = c.wrap_ms;
        let qi = c.queue as usize;
        self.contacts.remove(&cid);
        let wb = &self.cfg.wellbeing;
        // Difficult contacts are counted whether or not the rules act on them, so that a
        // centre can see the spread of stress with the rules off too.
        let difficult = abusive || agitation.is_some_and(|x| x >= wb.agitation_threshold);
        let q = &mut self.queues[qi];
        // Moving average of handle time (talk + wrap-up) for the wait estimate.
        q.aht_ms += 0.02 * ((handle_ms + wrap_ms) as f64 - q.aht_ms);
        let ch = q.cfg.channel;
        let now = self.now;
        let ag = &mut self.agents[a as usize];
        ag.active[ch.index()] = ag.active[ch.index()].saturating_sub(1);
        let mut alerts: [Option<WellbeingAlert>; 2] = [None, None];
        if difficult {
            ag.stats.difficult += 1;
            ag.streak += 1;
            ag.stats.max_difficult_in_row = ag.stats.max_difficult_in_row.max(ag.streak);
            ag.pending_recovery = true;
            if wb.enabled {
                if abusive {
                    alerts[0] = Some(WellbeingAlert::AbusiveCaller);
                }
                if wb.max_difficult_in_row > 0 && ag.streak >= wb.max_difficult_in_row {
                    alerts[1] = Some(WellbeingAlert::DifficultInRow { count: ag.streak });
                }
            }
        } else {
            ag.streak = 0;
        }
        for alert in alerts.into_iter().flatten() {
            self.out.push_back(Output::WellbeingAlert {
                agent: AgentId(a),
                alert,
            });
        }
        let ag = &mut self.agents[a as usize];
        if ag.active_total() > 0 {
            self.refresh(a);
            self.route_agent(a);
        } else if wrap_ms > 0 {
            let until = now.saturating_add(wrap_ms);
            ag.wrap_until = Some(until);
            let t = self.add_timer(until, Timer::WrapUp(a));
            self.agents[a as usize].wrap_timer = Some(t);
            self.refresh(a);
        } else {
            self.agent_freed(a);
        }
        Ok(())
    }

    // ----- routing decisions ---------------------------------------------------------------

    /// May agent `a` take contact `c` now, as far as rules beyond skills go?
    fn allowed(&self, a: u32, c: &Contact) -> bool {
        let ag = &self.agents[a as usize];
        if c.excluded
            .iter()
            .any(|e| e.agent == a && e.until > self.now && e.epoch == ag.epoch)
        {
            return false;
        }
        let wb = &self.cfg.wellbeing;
        if c.difficult
            && wb.enabled
            && wb.max_difficult_in_row > 0
            && ag.streak >= wb.max_difficult_in_row
        {
            return false;
        }
        // Skills the contact needs beyond its queue's (the queue's are the lines' own).
        !c.unservable && ag.meets(&c.needs)
    }

    /// Finds agents for a waiting contact and offers it.
    fn route_contact(&mut self, cid: u64) {
        if self.deferring {
            self.pending_contacts.push(cid);
            return;
        }
        let Some(c) = self.contacts.get(&cid) else {
            return;
        };
        if c.state != CState::Waiting {
            return;
        }
        let q = &self.queues[c.queue as usize];
        let ch = q.cfg.channel;
        let wb = &self.cfg.wellbeing;
        let kind = q.kind;
        let ring_all = q.cfg.strategy == Strategy::RingAll;
        // Fair spread: of the first FAIR_WINDOW free agents in the queue's own order, the
        // one who has had the fewest difficult contacts (an exact order would need a second
        // index of every free agent, kept up at every state change).
        let fair = c.difficult && wb.enabled && wb.fair_spread && !ring_all;
        let best_fit = q.cfg.strategy == Strategy::BestFit && kind == K_IDLE;
        let want = if ring_all {
            self.cfg.ring_all_limit.max(1)
        } else if fair {
            FAIR_WINDOW
        } else {
            1
        };
        let gi = q.groups[c.step] as usize;
        let g = &self.groups[gi];
        if g.no_free {
            return;
        }
        let mut found = std::mem::take(&mut self.scratch);
        found.clear();
        // A contact with needs of its own finding nobody says nothing of the line.
        let mut nobody = c.needs.is_empty() && !c.unservable;
        for alt in &g.alts {
            nobody &= self.candidates(alt, ch, kind, best_fit, want, c, &mut found);
        }
        if found.is_empty() {
            self.scratch = found;
            if nobody {
                self.groups[gi].no_free = true;
            }
            return;
        }
        found.sort_unstable();
        if fair {
            // Stable on the queue's order: ties go to the agent it prefers.
            if let Some(pos) = (0..found.len())
                .min_by_key(|&i| (self.agents[found[i].3 as usize].stats.difficult, i))
            {
                found.swap(0, pos);
                found.truncate(1);
            }
        }
        let want = if fair { 1 } else { want };
        if want == 1 {
            let a = found[0].3;
            found.clear();
            self.scratch = found;
            self.offer(cid, &[a]);
            return;
        }
        let mut agents: Vec<u32> = Vec::with_capacity(want.min(found.len()));
        for &(_, _, _, a) in found.iter() {
            if !agents.contains(&a) {
                agents.push(a);
                if agents.len() == want {
                    break;
                }
            }
        }
        found.clear();
        self.scratch = found;
        self.offer(cid, &agents);
    }

    /// Collects up to `want` best agents meeting `alt` for contact `c` into `out`, as
    /// (fit, key, tie, agent). Walks the smallest candidate set (or, for best fit, the most
    /// demanding skill) in the strategy's order, examining at most `scan_limit` agents.
    /// Returns true when it examined every free agent of the anchor set and none had the
    /// skills.
    #[allow(clippy::too_many_arguments)]
    fn candidates(
        &self,
        alt: &[(SkillId, u8)],
        ch: Channel,
        kind: usize,
        best_fit: bool,
        want: usize,
        c: &Contact,
        out: &mut Vec<(u64, u64, u64, u32)>,
    ) -> bool {
        if c.unservable {
            return false;
        }
        // Choose the anchor requirement.
        let count = |s: SkillId, l: u8| -> usize {
            (l..=MAX_LEVEL)
                .map(|lv| self.sets[Self::set_index(s, ch.index(), lv, kind)].len())
                .sum()
        };
        let mut anchor: Option<(SkillId, u8, usize)> = None;
        let reqs = alt.iter().chain(c.needs.iter()).copied();
        if best_fit {
            for (s, l) in reqs {
                if anchor.is_none_or(|(_, al, _)| l > al) {
                    anchor = Some((s, l, 0));
                }
            }
        } else {
            for (s, l) in reqs {
                let n = count(s, l);
                if anchor.is_none_or(|(_, _, an)| n < an) {
                    anchor = Some((s, l, n));
                }
            }
        }
        // Every requirement has at least one skill (the pseudo-skill when none is required).
        let Some((skill, min_level, _)) = anchor else {
            return false;
        };
        let limit = self.cfg.scan_limit.max(1);
        let mut examined = 0;
        let mut taken = 0;
        let mut skills_met = false;
        let mut accept = |lvl: u8, e: &AgentEntry| -> bool {
            examined += 1;
            let a = e.2;
            let ag = &self.agents[a as usize];
            let meets = ag.meets(alt) && ag.meets(&c.needs);
            skills_met |= meets;
            if meets && self.allowed(a, c) {
                let fit = if best_fit {
                    u64::from(MAX_LEVEL - lvl)
                } else {
                    0
                };
                out.push((fit, e.0, e.1, a));
                taken += 1;
            }
            taken >= want || examined >= limit
        };
        if best_fit {
            for lvl in (min_level..=MAX_LEVEL).rev() {
                for e in &self.sets[Self::set_index(skill, ch.index(), lvl, kind)] {
                    if accept(lvl, e) {
                        return false;
                    }
                }
            }
            return !skills_met;
        }
        // k-way merge over the levels that qualify, smallest key first (at most ten
        // iterators, kept on the stack).
        type LevelIter<'a> = std::iter::Peekable<std::collections::btree_set::Iter<'a, AgentEntry>>;
        let mut iters: [Option<(u8, LevelIter<'_>)>; LEVELS] = std::array::from_fn(|_| None);
        let mut n = 0;
        for lvl in min_level..=MAX_LEVEL {
            let set = &self.sets[Self::set_index(skill, ch.index(), lvl, kind)];
            if !set.is_empty() {
                iters[n] = Some((lvl, set.iter().peekable()));
                n += 1;
            }
        }
        loop {
            let mut best: Option<(usize, AgentEntry)> = None;
            for (i, slot) in iters[..n].iter_mut().enumerate() {
                if let Some((_, it)) = slot
                    && let Some(&&e) = it.peek()
                    && best.is_none_or(|(_, b)| e < b)
                {
                    best = Some((i, e));
                }
            }
            let Some((i, e)) = best else {
                // Every candidate examined: true if none had the skills.
                return !skills_met;
            };
            let Some((lvl, it)) = iters[i].as_mut() else {
                return !skills_met;
            };
            let lvl = *lvl;
            it.next();
            if accept(lvl, &e) {
                return false;
            }
        }
    }

    /// Offers waiting contacts to a free agent while it has room.
    fn route_agent(&mut self, a: u32) {
        if self.deferring {
            self.pending_agents.push(a);
            return;
        }
        loop {
            let Some(cid) = self.best_contact_for(a) else {
                return;
            };
            self.offer(cid, &[a]);
            let blend = self.cfg.blend;
            let ag = &self.agents[a as usize];
            if !Channel::ALL.iter().any(|&ch| ag.can_take(ch, blend)) {
                return;
            }
        }
    }

    fn best_contact_for(&self, a: u32) -> Option<u64> {
        let ag = &self.agents[a as usize];
        if ag.presence != Presence::Ready || !ag.offers.is_empty() || ag.wrap_until.is_some() {
            return None;
        }
        let limit = self.cfg.scan_limit.max(1);
        // Contacts waiting for this agent alone come first.
        for key in ag.preferred.iter().take(limit) {
            if let Some(c) = self.contacts.get(&key.2)
                && ag.can_take(self.queues[c.queue as usize].cfg.channel, self.cfg.blend)
                && self.allowed(a, c)
            {
                return Some(key.2);
            }
        }
        let can = Channel::ALL.map(|ch| ag.can_take(ch, self.cfg.blend));
        let mut best: Option<WaitKey> = None;
        for &g in &ag.eligible {
            let group = &self.groups[g as usize];
            if !can[group.channel.index()] || group.waiting.is_empty() {
                continue;
            }
            for key in group.waiting.iter().take(limit) {
                if best.is_some_and(|b| b <= *key) {
                    break;
                }
                if let Some(c) = self.contacts.get(&key.2)
                    && self.allowed(a, c)
                {
                    best = Some(*key);
                    break;
                }
            }
        }
        best.map(|k| k.2)
    }
}

fn kind_of(s: Strategy) -> usize {
    match s {
        Strategy::LongestIdle | Strategy::RingAll | Strategy::BestFit => K_IDLE,
        Strategy::FewestContacts => K_FEWEST,
        Strategy::LeastOccupied => K_OCCUPANCY,
        Strategy::RoundRobin => K_ROUND_ROBIN,
    }
}

fn busy_in_window(ag: &Agent, now: u64, window: u64) -> u64 {
    let start = now.saturating_sub(window);
    let mut busy = 0;
    for &(s, e) in &ag.busy_log {
        if e > start {
            busy += e - s.max(start);
        }
    }
    if let Some(s) = ag.busy_since {
        busy += now.saturating_sub(s.max(start));
    }
    busy
}
