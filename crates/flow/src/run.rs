//! The interpreter: one [`FlowRun`] per call.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};

use crate::def::{
    EnqueueStep, FlowSet, HangupReason, PromptDef, PromptValue, Rule, Schedule, SetStep, Step,
};
use crate::types::{
    CallContext, Customer, FlowAction, FlowInput, Instant, LookupBy, Outcome, Pin, PlayId,
    PromptItem,
};

/// Steps run back to back without waiting before the run gives up (a loop of `branch` and
/// `set` steps in a flow that was not validated).
const MAX_HOPS: usize = 256;
/// Keys kept from a cut prompt for the next menu or collect step.
const MAX_TYPEAHEAD: usize = 32;
/// Longest digit entry kept.
const MAX_DIGITS: usize = 64;

/// Why a run cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// No flow of that name in the set.
    #[error("no flow named `{0}`")]
    UnknownFlow(String),
}

/// A contact flow running for one call: a deterministic state machine.
///
/// The shell creates it with [`FlowRun::new`], then loops: take every action with
/// [`FlowRun::poll_action`] and carry it out; feed what happens with [`FlowRun::handle`];
/// arm a timer for [`FlowRun::poll_timeout`] and call [`FlowRun::handle_timeout`] when it
/// fires. The run never reads a clock and never blocks. It ends with exactly one
/// [`FlowAction::Finished`]; nothing follows it.
#[derive(Debug, Clone)]
pub struct FlowRun {
    flows: Arc<FlowSet>,
    flow: String,
    step: String,
    start: Instant,
    last_now: Instant,
    ctx: CallContext,
    vars: BTreeMap<String, String>,
    language: String,
    customer: Option<Customer>,
    priority: i32,
    skills: BTreeMap<String, u32>,
    preferred: Vec<String>,
    position: Option<(u32, u64)>,
    typeahead: VecDeque<char>,
    actions: VecDeque<FlowAction>,
    timer: Option<Instant>,
    next_play: u32,
    state: State,
}

#[derive(Debug, Clone)]
enum State {
    FaultNotice { play: PlayId },
    Playing { play: PlayId, barge_in: bool },
    Gather(Gather),
    AwaitLookup,
    AwaitAuth(Gather),
    Queued(Queued),
    AwaitCallback,
    Ending { play: PlayId, end: End },
    Done,
}

#[derive(Debug, Clone)]
struct Gather {
    attempts: u32,
    digits: String,
    /// Some while the prompt plays.
    play: Option<PlayId>,
    barge_in: bool,
}

#[derive(Debug, Clone)]
struct Queued {
    queue: String,
    phase: QPhase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QPhase {
    Intro(PlayId),
    Hold,
    Announce(PlayId),
    AwaitCallback,
    Confirming(PlayId),
}

#[derive(Debug, Clone)]
enum End {
    Hangup(HangupReason),
    Voicemail(String),
    Transfer(String),
    Callback(String),
}

/// What a digit-gathering step asks for.
struct Spec<'a> {
    kind: Kind,
    prompts: &'a [PromptDef],
    barge_in: bool,
    min_len: usize,
    max_len: usize,
    terminator: Option<char>,
    first_ms: u64,
    inter_ms: u64,
    invalid_prompts: &'a [PromptDef],
    timeout_prompts: &'a [PromptDef],
    max_failures: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Menu,
    Collect,
    Auth,
    Survey,
}

fn spec_of(step: &Step) -> Option<Spec<'_>> {
    Some(match step {
        Step::Menu(m) => Spec {
            kind: Kind::Menu,
            prompts: &m.prompts,
            barge_in: m.barge_in,
            min_len: 1,
            max_len: 1,
            terminator: None,
            first_ms: secs(m.timeout_secs),
            inter_ms: secs(m.timeout_secs),
            invalid_prompts: &m.invalid_prompts,
            timeout_prompts: &m.timeout_prompts,
            max_failures: m.retries.saturating_add(1),
        },
        Step::Collect(c) => Spec {
            kind: Kind::Collect,
            prompts: &c.prompts,
            barge_in: c.barge_in,
            min_len: c.min_len,
            max_len: c.max_len.clamp(1, MAX_DIGITS),
            terminator: c.terminator,
            first_ms: secs(c.first_digit_timeout_secs),
            inter_ms: secs(c.inter_digit_timeout_secs),
            invalid_prompts: &c.invalid_prompts,
            timeout_prompts: &c.invalid_prompts,
            max_failures: c.retries.saturating_add(1),
        },
        Step::Authenticate(a) => Spec {
            kind: Kind::Auth,
            prompts: &a.prompts,
            barge_in: true,
            min_len: a.pin_min_len,
            max_len: a.pin_max_len.clamp(1, MAX_DIGITS),
            terminator: Some('#'),
            first_ms: secs(a.first_digit_timeout_secs),
            inter_ms: secs(a.inter_digit_timeout_secs),
            invalid_prompts: &a.invalid_prompts,
            timeout_prompts: &a.invalid_prompts,
            max_failures: a.max_attempts.max(1),
        },
        Step::Survey(s) => Spec {
            kind: Kind::Survey,
            prompts: &s.prompts,
            barge_in: true,
            min_len: 1,
            max_len: 1,
            terminator: None,
            first_ms: secs(s.timeout_secs),
            inter_ms: secs(s.timeout_secs),
            invalid_prompts: &s.invalid_prompts,
            timeout_prompts: &s.invalid_prompts,
            max_failures: s.retries.saturating_add(1),
        },
        _ => return None,
    })
}

fn secs(s: u64) -> u64 {
    s.saturating_mul(1000).max(1)
}

fn is_dtmf(d: char) -> bool {
    matches!(d, '0'..='9' | '*' | '#' | 'A'..='D')
}

impl FlowRun {
    /// Starts `flow` of `flows` for a call at `now`. The first actions are ready at once.
    ///
    /// When `ctx.fault_notice` is set and the set has a `fault_notice`, it is played first.
    pub fn new(
        flows: Arc<FlowSet>,
        flow: &str,
        ctx: CallContext,
        now: Instant,
    ) -> Result<FlowRun, RunError> {
        if !flows.flows.contains_key(flow) {
            return Err(RunError::UnknownFlow(flow.to_string()));
        }
        let language = ctx.language.clone().unwrap_or_else(|| "zh".to_string());
        let vars = ctx.vars.clone();
        let mut run = FlowRun {
            flows: Arc::clone(&flows),
            flow: flow.to_string(),
            step: String::new(),
            start: now,
            last_now: now,
            ctx,
            vars,
            language,
            customer: None,
            priority: 0,
            skills: BTreeMap::new(),
            preferred: Vec::new(),
            position: None,
            typeahead: VecDeque::new(),
            actions: VecDeque::new(),
            timer: None,
            next_play: 0,
            state: State::Done,
        };
        match (&flows.fault_notice, run.ctx.fault_notice) {
            (Some(notice), true) => {
                run.step = "fault_notice".to_string();
                run.log("fault notice played at entry");
                let play = run.play(&notice.prompts, &[], false);
                run.state = State::FaultNotice { play };
            }
            _ => run.goto_start(now),
        }
        Ok(run)
    }

    /// The next action for the shell, in order.
    pub fn poll_action(&mut self) -> Option<FlowAction> {
        self.actions.pop_front()
    }

    /// When [`FlowRun::handle_timeout`] must be called next, if at all. Always later than
    /// the last `now` the run was given.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Done => None,
            _ => self.timer,
        }
    }

    /// The timer fired (or `now` is past it). Early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        if self.timer.is_some_and(|t| t <= now) {
            self.fire_timer(now);
        }
    }

    /// Feeds what happened at `now`. A timer that is already due fires first.
    pub fn handle(&mut self, now: Instant, input: FlowInput) {
        let now = self.advance(now);
        if self.is_finished() {
            return;
        }
        if self.timer.is_some_and(|t| t <= now) {
            self.fire_timer(now);
            if self.is_finished() {
                return;
            }
        }
        match input {
            FlowInput::Digit(d) => {
                if is_dtmf(d) {
                    self.on_digit(now, d);
                }
            }
            FlowInput::PlaybackFinished(id) => self.on_played(now, id),
            FlowInput::LookupResult(c) => {
                if matches!(self.state, State::AwaitLookup) {
                    self.on_lookup(now, c);
                }
            }
            FlowInput::AuthResult(ok) => match std::mem::replace(&mut self.state, State::Done) {
                State::AwaitAuth(g) => self.on_auth(now, g, ok),
                other => self.state = other,
            },
            FlowInput::QueueUpdate {
                position,
                estimated_wait_secs,
            } => self.position = Some((position, estimated_wait_secs)),
            FlowInput::QueueStats { queue, stats } => {
                self.ctx.queue_stats.insert(queue, stats);
            }
            FlowInput::CallbackAccepted => self.on_callback_reply(now, true),
            FlowInput::CallbackDeclined => self.on_callback_reply(now, false),
            FlowInput::Answered { agent } => self.on_answered(agent),
            FlowInput::CallerHangup => self.on_caller_hangup(),
        }
    }

    /// Whether the run has ended (its [`FlowAction::Finished`] was queued).
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The flow running.
    pub fn flow_name(&self) -> &str {
        &self.flow
    }

    /// The current step id.
    pub fn current_step(&self) -> &str {
        &self.step
    }

    /// The variables.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    /// The customer found by a lookup.
    pub fn customer(&self) -> Option<&Customer> {
        self.customer.as_ref()
    }

    /// The prompt language.
    pub fn language(&self) -> &str {
        &self.language
    }

    /// The caller priority so far.
    pub fn priority(&self) -> i32 {
        self.priority
    }

    // ---- internals -------------------------------------------------------------------

    fn advance(&mut self, now: Instant) -> Instant {
        let now = now.max(self.last_now);
        self.last_now = now;
        now
    }

    fn arm(&mut self, now: Instant, ms: u64) {
        self.timer = Some(now.plus_millis(ms.max(1)));
    }

    fn log(&mut self, message: impl Into<String>) {
        self.actions.push_back(FlowAction::Log {
            message: message.into(),
        });
    }

    fn set_var(&mut self, name: &str, value: String, announce: bool) {
        if announce {
            self.actions.push_back(FlowAction::SetVariable {
                name: name.to_string(),
                value: value.clone(),
            });
        }
        self.vars.insert(name.to_string(), value);
    }

    fn resolve(&self, defs: &[PromptDef]) -> Vec<PromptItem> {
        let mut out = Vec::with_capacity(defs.len());
        for d in defs {
            match d {
                PromptDef::Name(n) => out.push(PromptItem::Prompt(n.clone())),
                PromptDef::Value(PromptValue::Number(n)) => out.push(PromptItem::Number(*n)),
                PromptDef::Value(PromptValue::Digits(s)) => out.push(PromptItem::Digits(s.clone())),
                PromptDef::Value(PromptValue::DurationSecs(s)) => {
                    out.push(PromptItem::DurationSecs(*s))
                }
                PromptDef::Value(PromptValue::NumberVar(v)) => {
                    if let Some(n) = self.vars.get(v).and_then(|s| s.trim().parse::<i64>().ok()) {
                        out.push(PromptItem::Number(n));
                    }
                }
                PromptDef::Value(PromptValue::DigitsVar(v)) => {
                    if let Some(s) = self.vars.get(v) {
                        out.push(PromptItem::Digits(s.clone()));
                    }
                }
            }
        }
        out
    }

    fn play_items(&mut self, prompts: Vec<PromptItem>, barge_in: bool) -> PlayId {
        self.next_play = self.next_play.wrapping_add(1);
        let id = PlayId(self.next_play);
        self.actions.push_back(FlowAction::Play {
            id,
            prompts,
            language: self.language.clone(),
            barge_in,
        });
        id
    }

    fn play(&mut self, lead: &[PromptDef], prompts: &[PromptDef], barge_in: bool) -> PlayId {
        let mut items = self.resolve(lead);
        items.extend(self.resolve(prompts));
        self.play_items(items, barge_in)
    }

    fn finish(&mut self, outcome: Outcome) {
        self.actions.push_back(FlowAction::Finished { outcome });
        self.state = State::Done;
        self.timer = None;
        self.typeahead.clear();
    }

    fn hangup(&mut self, reason: HangupReason) {
        self.actions.push_back(FlowAction::Hangup { reason });
        self.finish(Outcome::HungUp { reason });
    }

    fn fail(&mut self, why: String) {
        self.log(format!("flow error in {}.{}: {why}", self.flow, self.step));
        self.hangup(HangupReason::Error);
    }

    fn end(&mut self, end: End) {
        match end {
            End::Hangup(reason) => self.hangup(reason),
            End::Voicemail(queue) => {
                self.actions.push_back(FlowAction::Voicemail {
                    queue: queue.clone(),
                });
                self.finish(Outcome::Voicemail { queue });
            }
            End::Transfer(to) => {
                self.actions
                    .push_back(FlowAction::Transfer { to: to.clone() });
                self.finish(Outcome::Transferred { to });
            }
            End::Callback(queue) => {
                self.actions.push_back(FlowAction::Hangup {
                    reason: HangupReason::Callback,
                });
                self.finish(Outcome::Callback { queue });
            }
        }
    }

    /// Plays `prompts` then ends, or ends at once when there is nothing to play.
    fn end_after(&mut self, prompts: &[PromptDef], end: End) {
        if prompts.is_empty() {
            self.end(end);
        } else {
            let play = self.play(prompts, &[], false);
            self.state = State::Ending { play, end };
        }
    }

    fn goto_start(&mut self, now: Instant) {
        let flows = Arc::clone(&self.flows);
        match flows.flows.get(&self.flow) {
            Some(f) => self.goto(now, &f.start),
            None => self.fail(format!("no flow named `{}`", self.flow)),
        }
    }

    /// Goes to step `target`, running steps that do not wait (`branch`, `set`) at once.
    fn goto(&mut self, now: Instant, target: &str) {
        let flows = Arc::clone(&self.flows);
        let Some(flow) = flows.flows.get(&self.flow) else {
            self.fail(format!("no flow named `{}`", self.flow));
            return;
        };
        let mut id = target.to_string();
        for _ in 0..MAX_HOPS {
            let Some(step) = flow.steps.get(&id) else {
                self.fail(format!("no step named `{id}`"));
                return;
            };
            self.step = id.clone();
            self.timer = None;
            self.actions.push_back(FlowAction::StepEntered {
                flow: self.flow.clone(),
                step: id.clone(),
            });
            match step {
                Step::Branch(b) => {
                    let wall = self.wall_clock(now);
                    let hit = b.rules.iter().find(|r| self.rule_holds(r, wall));
                    id = hit.map_or(&b.otherwise, |r| &r.goto).clone();
                }
                Step::Set(s) => {
                    self.apply_set(s);
                    id = s.next.clone();
                }
                Step::Play(p) if p.prompts.is_empty() => id = p.next.clone(),
                _ => {
                    self.enter(now, step);
                    return;
                }
            }
        }
        self.fail(format!(
            "more than {MAX_HOPS} steps in a row without waiting (a loop)"
        ));
    }

    fn enter(&mut self, now: Instant, step: &Step) {
        match step {
            Step::Play(p) => {
                let play = self.play(&p.prompts, &[], p.barge_in);
                self.state = State::Playing {
                    play,
                    barge_in: p.barge_in,
                };
            }
            Step::Menu(_) | Step::Collect(_) | Step::Survey(_) => {
                self.start_gather(now, step, 0, &[]);
            }
            Step::Authenticate(a) => {
                let Some(c) = self.customer.clone() else {
                    self.log("authenticate: no customer found, cannot check a PIN");
                    self.goto(now, &a.on_failure);
                    return;
                };
                if let Some(v) = &a.account_var {
                    let owned = self
                        .vars
                        .get(v)
                        .is_some_and(|acct| c.accounts.iter().any(|x| x == acct));
                    if !owned {
                        self.log("authenticate: the account is not the customer's");
                        self.goto(now, &a.on_failure);
                        return;
                    }
                }
                if a.skip_if_caller_on_file && c.phones.contains(&self.ctx.caller) {
                    self.log("authenticate: caller number on file, PIN skipped");
                    self.set_var("authenticated", "true".into(), true);
                    self.goto(now, &a.next);
                    return;
                }
                self.start_gather(now, step, 0, &[]);
            }
            Step::Lookup(l) => {
                let by = match &l.account_var {
                    None => LookupBy::CallerNumber(self.ctx.caller.clone()),
                    Some(v) => match self.vars.get(v) {
                        Some(acct) => LookupBy::Account(acct.clone()),
                        None => {
                            self.log(format!("lookup: variable `{v}` is not set"));
                            let t = l.not_found.as_ref().unwrap_or(&l.next);
                            self.goto(now, t);
                            return;
                        }
                    },
                };
                self.actions.push_back(FlowAction::Lookup { by });
                self.state = State::AwaitLookup;
                self.arm(now, secs(l.timeout_secs));
            }
            Step::Enqueue(q) => self.enter_queue(now, q),
            Step::Callback(c) => {
                self.actions.push_back(FlowAction::OfferCallback {
                    queue: c.queue.clone(),
                    number: self.ctx.caller.clone(),
                });
                self.state = State::AwaitCallback;
                self.arm(now, secs(c.timeout_secs));
            }
            Step::Voicemail(v) => self.end_after(&v.prompts, End::Voicemail(v.queue.clone())),
            Step::Hangup(h) => self.end_after(&h.prompts, End::Hangup(h.reason)),
            Step::DoNotCall(d) => {
                self.actions.push_back(FlowAction::DoNotCall {
                    number: self.ctx.caller.clone(),
                });
                self.end_after(&d.prompts, End::Hangup(HangupReason::Normal))
            }
            Step::Transfer(t) => self.end_after(&t.prompts, End::Transfer(t.to.clone())),
            Step::Branch(_) | Step::Set(_) => {
                // `goto` runs these itself; reaching here is a bug in this module, but a
                // call must not be dropped for it.
                self.fail("internal: instant step entered as a waiting one".into());
            }
        }
    }

    /// Plays the step's prompt (after `lead`) and gathers digits; keys held from a cut
    /// prompt are used first.
    fn start_gather(&mut self, now: Instant, step: &Step, attempts: u32, lead: &[PromptDef]) {
        let Some(spec) = spec_of(step) else {
            self.fail("internal: not a digit-gathering step".into());
            return;
        };
        self.timer = None;
        let mut g = Gather {
            attempts,
            digits: String::new(),
            play: None,
            barge_in: spec.barge_in,
        };
        if !self.typeahead.is_empty() {
            let keys: Vec<char> = self.typeahead.drain(..).collect();
            self.state = State::Gather(g);
            for d in keys {
                if !matches!(self.state, State::Gather(_)) {
                    break;
                }
                self.gather_digit(now, d);
            }
            return;
        }
        g.play = Some(self.play(lead, spec.prompts, spec.barge_in));
        self.state = State::Gather(g);
    }

    fn with_step<R>(&self, f: impl FnOnce(&Step) -> R) -> Option<R> {
        let s = self.flows.flows.get(&self.flow)?.steps.get(&self.step)?;
        Some(f(s))
    }

    fn gather_digit(&mut self, now: Instant, d: char) {
        let State::Gather(mut g) = std::mem::replace(&mut self.state, State::Done) else {
            return;
        };
        let flows = Arc::clone(&self.flows);
        let Some(step) = flows
            .flows
            .get(&self.flow)
            .and_then(|f| f.steps.get(&self.step))
        else {
            self.fail("current step vanished".into());
            return;
        };
        let Some(spec) = spec_of(step) else {
            self.fail("internal: not a digit-gathering step".into());
            return;
        };
        if g.play.is_some() {
            if !g.barge_in {
                self.state = State::Gather(g);
                return;
            }
            g.play = None;
            self.actions.push_back(FlowAction::StopPlayback);
        }
        if spec.terminator == Some(d) {
            if g.digits.len() >= spec.min_len {
                self.complete(now, step, &spec, g);
            } else {
                self.failed_attempt(now, step, &spec, g, false);
            }
            return;
        }
        g.digits.push(d);
        if g.digits.len() >= spec.max_len {
            self.complete(now, step, &spec, g);
        } else {
            self.state = State::Gather(g);
            self.arm(now, spec.inter_ms);
        }
    }

    fn gather_timeout(&mut self, now: Instant, g: Gather) {
        let flows = Arc::clone(&self.flows);
        let Some(step) = flows
            .flows
            .get(&self.flow)
            .and_then(|f| f.steps.get(&self.step))
        else {
            self.fail("current step vanished".into());
            return;
        };
        let Some(spec) = spec_of(step) else {
            self.fail("internal: not a digit-gathering step".into());
            return;
        };
        if !g.digits.is_empty() {
            if g.digits.len() >= spec.min_len && spec.kind != Kind::Menu {
                self.complete(now, step, &spec, g);
            } else {
                self.failed_attempt(now, step, &spec, g, false);
            }
            return;
        }
        if let Step::Menu(m) = step
            && let Some(t) = &m.on_timeout
        {
            self.goto(now, t);
            return;
        }
        self.failed_attempt(now, step, &spec, g, true);
    }

    fn complete(&mut self, now: Instant, step: &Step, spec: &Spec<'_>, g: Gather) {
        match step {
            Step::Menu(m) => match m.options.get(&g.digits) {
                Some(t) => {
                    self.set_var("menu", g.digits.clone(), false);
                    self.goto(now, t);
                }
                None => self.failed_attempt(now, step, spec, g, false),
            },
            Step::Collect(c) => {
                self.set_var(&c.into, g.digits, true);
                self.goto(now, &c.next);
            }
            Step::Survey(s) if s.options.contains_key(&g.digits) => {
                if let Some(t) = s.options.get(&g.digits) {
                    self.goto(now, t);
                }
            }
            Step::Survey(s) => {
                let score = g
                    .digits
                    .parse::<u8>()
                    .ok()
                    .filter(|n| (1..=s.max_score).contains(n));
                match score {
                    Some(score) => {
                        self.actions.push_back(FlowAction::Survey { score });
                        if let Some(v) = &s.into {
                            self.set_var(v, score.to_string(), true);
                        }
                        self.goto(now, &s.next);
                    }
                    None => self.failed_attempt(now, step, spec, g, false),
                }
            }
            Step::Authenticate(a) => {
                let Some(c) = &self.customer else {
                    self.goto(now, &a.on_failure);
                    return;
                };
                let account = a
                    .account_var
                    .as_ref()
                    .and_then(|v| self.vars.get(v).cloned());
                self.actions.push_back(FlowAction::VerifyPin {
                    customer: c.id.clone(),
                    account,
                    pin: Pin(g.digits.clone()),
                });
                self.state = State::AwaitAuth(Gather {
                    digits: String::new(),
                    play: None,
                    ..g
                });
                self.arm(now, secs(a.verify_timeout_secs));
            }
            _ => self.fail("internal: not a digit-gathering step".into()),
        }
    }

    /// One more failure: ask again after the invalid (or timeout) prompt, or give up.
    fn failed_attempt(
        &mut self,
        now: Instant,
        step: &Step,
        spec: &Spec<'_>,
        g: Gather,
        timeout: bool,
    ) {
        let attempts = g.attempts.saturating_add(1);
        if attempts >= spec.max_failures {
            match step {
                Step::Menu(m) => self.goto(now, &m.default),
                Step::Collect(c) => self.goto(now, &c.on_failure),
                Step::Survey(s) => {
                    self.log("survey: no score given");
                    self.goto(now, &s.next);
                }
                Step::Authenticate(a) => {
                    self.log(format!(
                        "authenticate: locked out after {attempts} failures"
                    ));
                    self.set_var("authenticated", "false".into(), true);
                    self.goto(now, &a.on_failure);
                }
                _ => self.fail("internal: not a digit-gathering step".into()),
            }
            return;
        }
        let lead = if timeout {
            spec.timeout_prompts
        } else {
            spec.invalid_prompts
        };
        self.start_gather(now, step, attempts, lead);
    }

    fn on_auth(&mut self, now: Instant, g: Gather, ok: bool) {
        let flows = Arc::clone(&self.flows);
        let Some(step) = flows
            .flows
            .get(&self.flow)
            .and_then(|f| f.steps.get(&self.step))
        else {
            self.fail("current step vanished".into());
            return;
        };
        let (Step::Authenticate(a), Some(spec)) = (step, spec_of(step)) else {
            self.fail("internal: not an authenticate step".into());
            return;
        };
        self.timer = None;
        if ok {
            self.set_var("authenticated", "true".into(), true);
            self.goto(now, &a.next);
        } else {
            self.log("authenticate: wrong PIN");
            self.failed_attempt(now, step, &spec, g, false);
        }
    }

    fn on_digit(&mut self, now: Instant, d: char) {
        match &self.state {
            State::Playing { barge_in: true, .. } => {
                self.actions.push_back(FlowAction::StopPlayback);
                if self.typeahead.len() < MAX_TYPEAHEAD {
                    self.typeahead.push_back(d);
                }
                let next = self.with_step(|s| match s {
                    Step::Play(p) => Some(p.next.clone()),
                    _ => None,
                });
                match next.flatten() {
                    Some(t) => self.goto(now, &t),
                    None => self.fail("current step vanished".into()),
                }
            }
            State::Gather(_) => self.gather_digit(now, d),
            State::Queued(_) => self.queue_digit(now, d),
            _ => {}
        }
    }

    /// A key while queued: the callback key books a callback keeping the caller's place.
    fn queue_digit(&mut self, now: Instant, d: char) {
        let (digit, wait) = self
            .with_step(|s| match s {
                Step::Enqueue(e) => (e.callback_digit, e.callback_reply_timeout_secs),
                _ => (None, 10),
            })
            .unwrap_or((None, 10));
        if digit != Some(d) {
            return;
        }
        let State::Queued(q) = &mut self.state else {
            return;
        };
        let phase = q.phase;
        if !matches!(phase, QPhase::Intro(_) | QPhase::Hold | QPhase::Announce(_)) {
            return;
        }
        q.phase = QPhase::AwaitCallback;
        let queue = q.queue.clone();
        if !matches!(phase, QPhase::Hold) {
            self.actions.push_back(FlowAction::StopPlayback);
        }
        self.actions.push_back(FlowAction::OfferCallback {
            queue,
            number: self.ctx.caller.clone(),
        });
        self.arm(now, secs(wait));
    }

    fn on_played(&mut self, now: Instant, id: PlayId) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::FaultNotice { play } if play == id => {
                let hang = self.flows.fault_notice.as_ref().is_some_and(|f| f.hangup);
                if hang {
                    self.hangup(HangupReason::Fault);
                } else {
                    self.goto_start(now);
                }
            }
            State::Playing { play, .. } if play == id => {
                let next = self.with_step(|s| match s {
                    Step::Play(p) => Some(p.next.clone()),
                    _ => None,
                });
                match next.flatten() {
                    Some(t) => self.goto(now, &t),
                    None => self.fail("current step vanished".into()),
                }
            }
            State::Gather(mut g) if g.play == Some(id) => {
                g.play = None;
                let ms = self
                    .with_step(|s| spec_of(s).map(|sp| sp.first_ms))
                    .flatten()
                    .unwrap_or(5000);
                self.state = State::Gather(g);
                self.arm(now, ms);
            }
            State::Queued(mut q) => {
                match q.phase {
                    QPhase::Intro(p) | QPhase::Announce(p) if p == id => {
                        q.phase = QPhase::Hold;
                        if self.hold_music() {
                            self.actions.push_back(FlowAction::StartHoldMusic);
                        }
                    }
                    QPhase::Confirming(p) if p == id => {
                        self.end(End::Callback(q.queue));
                        return;
                    }
                    _ => {}
                }
                self.state = State::Queued(q);
            }
            State::Ending { play, end } if play == id => self.end(end),
            other => self.state = other,
        }
    }

    fn hold_music(&self) -> bool {
        self.with_step(|s| match s {
            Step::Enqueue(e) => e.hold_music,
            _ => false,
        })
        .unwrap_or(false)
    }

    fn on_lookup(&mut self, now: Instant, c: Option<Customer>) {
        let flows = Arc::clone(&self.flows);
        let Some(Step::Lookup(l)) = flows
            .flows
            .get(&self.flow)
            .and_then(|f| f.steps.get(&self.step))
        else {
            self.fail("current step vanished".into());
            return;
        };
        self.timer = None;
        match c {
            Some(c) => {
                self.set_var("customer.id", c.id.clone(), false);
                self.set_var("customer.name", c.name.clone(), false);
                self.set_var("customer.vip", c.vip.to_string(), false);
                self.set_var(
                    "customer.repeat_complaint",
                    c.repeat_complaint.to_string(),
                    false,
                );
                if let Some(lang) = c.language.clone().filter(|l| !l.is_empty())
                    && lang != self.language
                {
                    self.language = lang.clone();
                    self.actions.push_back(FlowAction::SetLanguage(lang));
                }
                self.customer = Some(c);
                self.goto(now, &l.next);
            }
            None => {
                let t = l.not_found.as_ref().unwrap_or(&l.next);
                self.goto(now, t);
            }
        }
    }

    fn enter_queue(&mut self, now: Instant, q: &EnqueueStep) {
        self.typeahead.clear();
        let priority = self.priority.saturating_add(q.priority.unwrap_or(0));
        self.actions.push_back(FlowAction::Enqueue {
            queue: q.queue.clone(),
            priority,
            skills: self.skills.clone(),
            preferred_skills: self.preferred.clone(),
            announce_every_secs: q.announce_every_secs,
        });
        let phase = if q.prompts.is_empty() {
            if q.hold_music {
                self.actions.push_back(FlowAction::StartHoldMusic);
            }
            QPhase::Hold
        } else {
            QPhase::Intro(self.play(&q.prompts, &[], false))
        };
        self.state = State::Queued(Queued {
            queue: q.queue.clone(),
            phase,
        });
        if let Some(every) = q.announce_every_secs {
            self.arm(now, secs(every));
        }
    }

    fn announcement(&self, q: &EnqueueStep) -> Vec<PromptItem> {
        let words = &q.announce_prompts;
        let mut items = Vec::new();
        if let Some((position, wait)) = self.position {
            if q.announce_position && position > 0 {
                items.extend(self.resolve(&words.position));
                items.push(PromptItem::Number(i64::from(position)));
                items.extend(self.resolve(&words.position_after));
            }
            if q.announce_wait {
                items.extend(self.resolve(&words.wait));
                if wait < 60 {
                    let secs = (wait.div_ceil(10) * 10).max(10);
                    items.push(PromptItem::Number(i64::try_from(secs).unwrap_or(60)));
                    items.push(PromptItem::Prompt(words.seconds.clone()));
                } else {
                    let minutes = (wait.saturating_add(30) / 60).max(1);
                    items.push(PromptItem::Number(
                        i64::try_from(minutes).unwrap_or(i64::MAX),
                    ));
                    let unit = if minutes == 1 {
                        &words.minute
                    } else {
                        &words.minutes
                    };
                    items.push(PromptItem::Prompt(unit.clone()));
                }
            }
        }
        if q.callback_digit.is_some() {
            items.extend(self.resolve(&q.callback_offer_prompts));
        }
        items
    }

    fn queue_timer(&mut self, now: Instant, mut qd: Queued) {
        let flows = Arc::clone(&self.flows);
        let Some(Step::Enqueue(q)) = flows
            .flows
            .get(&self.flow)
            .and_then(|f| f.steps.get(&self.step))
        else {
            self.fail("current step vanished".into());
            return;
        };
        match qd.phase {
            QPhase::AwaitCallback => {
                self.log("callback: no answer, back to the queue");
                qd.phase = QPhase::Hold;
                if q.hold_music {
                    self.actions.push_back(FlowAction::StartHoldMusic);
                }
            }
            QPhase::Hold => {
                let items = self.announcement(q);
                if !items.is_empty() {
                    let barge = q.callback_digit.is_some();
                    qd.phase = QPhase::Announce(self.play_items(items, barge));
                }
            }
            // Still playing the previous prompt: skip this round.
            QPhase::Intro(_) | QPhase::Announce(_) | QPhase::Confirming(_) => {}
        }
        let confirming = matches!(qd.phase, QPhase::Confirming(_));
        self.state = State::Queued(qd);
        if let (Some(every), false) = (q.announce_every_secs, confirming) {
            self.arm(now, secs(every));
        }
    }

    fn on_callback_reply(&mut self, now: Instant, accepted: bool) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Queued(mut q) if q.phase == QPhase::AwaitCallback => {
                self.timer = None;
                let flows = Arc::clone(&self.flows);
                let Some(Step::Enqueue(e)) = flows
                    .flows
                    .get(&self.flow)
                    .and_then(|f| f.steps.get(&self.step))
                else {
                    self.fail("current step vanished".into());
                    return;
                };
                if accepted {
                    if e.callback_confirmed_prompts.is_empty() {
                        self.end(End::Callback(q.queue));
                        return;
                    }
                    q.phase =
                        QPhase::Confirming(self.play(&e.callback_confirmed_prompts, &[], false));
                    self.state = State::Queued(q);
                } else {
                    self.log("callback declined, back to the queue");
                    q.phase = QPhase::Hold;
                    if e.hold_music {
                        self.actions.push_back(FlowAction::StartHoldMusic);
                    }
                    self.state = State::Queued(q);
                    if let Some(every) = e.announce_every_secs {
                        self.arm(now, secs(every));
                    }
                }
            }
            State::AwaitCallback => {
                self.timer = None;
                let flows = Arc::clone(&self.flows);
                let Some(Step::Callback(c)) = flows
                    .flows
                    .get(&self.flow)
                    .and_then(|f| f.steps.get(&self.step))
                else {
                    self.fail("current step vanished".into());
                    return;
                };
                if accepted {
                    self.end_after(&c.prompts, End::Callback(c.queue.clone()));
                } else {
                    self.goto(now, &c.on_declined);
                }
            }
            other => self.state = other,
        }
    }

    fn on_answered(&mut self, agent: String) {
        match std::mem::replace(&mut self.state, State::Done) {
            // Also while a callback is being confirmed: the contact kept its place, an agent
            // took it, and the caller talks instead of being called back.
            State::Queued(q) => {
                let after_call = self
                    .with_step(|s| match s {
                        Step::Enqueue(e) => e.after_call.clone(),
                        _ => None,
                    })
                    .flatten();
                self.actions.push_back(FlowAction::StopPlayback);
                self.finish(Outcome::Connected {
                    agent,
                    queue: q.queue,
                    after_call,
                });
            }
            other => self.state = other,
        }
    }

    fn on_caller_hangup(&mut self) {
        if let State::Queued(q) = &self.state
            && !matches!(q.phase, QPhase::Confirming(_))
        {
            let queue = q.queue.clone();
            self.actions.push_back(FlowAction::Dequeue { queue });
        }
        self.finish(Outcome::CallerHangup {
            flow: self.flow.clone(),
            step: self.step.clone(),
        });
    }

    fn fire_timer(&mut self, now: Instant) {
        self.timer = None;
        match std::mem::replace(&mut self.state, State::Done) {
            State::Gather(g) if g.play.is_none() => self.gather_timeout(now, g),
            State::AwaitAuth(g) => {
                self.log("authenticate: no answer from the PIN check");
                self.on_auth(now, g, false);
            }
            State::AwaitLookup => {
                self.log("lookup: no answer, treated as not found");
                self.state = State::AwaitLookup;
                self.on_lookup(now, None);
            }
            State::Queued(q) => self.queue_timer(now, q),
            State::AwaitCallback => {
                self.state = State::AwaitCallback;
                self.on_callback_reply(now, false);
            }
            other => self.state = other,
        }
    }

    // ---- branch rules ----------------------------------------------------------------

    fn wall_clock(&self, now: Instant) -> DateTime<Utc> {
        let ms = i64::try_from(now.millis_since(self.start)).unwrap_or(i64::MAX);
        TimeDelta::try_milliseconds(ms)
            .and_then(|d| self.ctx.wall_clock.checked_add_signed(d))
            .unwrap_or(self.ctx.wall_clock)
    }

    fn schedule(&self, name: &str) -> Option<&Schedule> {
        self.flows.schedules.get(name)
    }

    fn rule_holds(&self, r: &Rule, wall: DateTime<Utc>) -> bool {
        let c = self.customer.as_ref();
        if let Some(name) = &r.open {
            match self.schedule(name) {
                Some(s) if is_open(s, wall) => {}
                _ => return false,
            }
        }
        if let Some(name) = &r.holiday {
            match self.schedule(name) {
                Some(s) if is_holiday(s, wall) => {}
                _ => return false,
            }
        }
        if r.vip.is_some_and(|v| v != c.is_some_and(|c| c.vip)) {
            return false;
        }
        if r.repeat_complaint
            .is_some_and(|v| v != c.is_some_and(|c| c.repeat_complaint))
        {
            return false;
        }
        if r.known_customer.is_some_and(|v| v != c.is_some()) {
            return false;
        }
        if r.fault_notice.is_some_and(|v| v != self.ctx.fault_notice) {
            return false;
        }
        if r.language.as_ref().is_some_and(|l| *l != self.language) {
            return false;
        }
        if r.wait_over_secs.is_some() || r.waiting_over.is_some() {
            let stats = r.queue.as_ref().and_then(|q| self.ctx.queue_stats.get(q));
            let Some(stats) = stats else {
                return false;
            };
            if r.wait_over_secs
                .is_some_and(|w| stats.estimated_wait_secs <= w)
            {
                return false;
            }
            if r.waiting_over.is_some_and(|n| stats.waiting <= n) {
                return false;
            }
        }
        if let Some(v) = &r.var {
            match (self.vars.get(v), &r.equals) {
                (None, _) => return false,
                (Some(have), Some(want)) if have != want => return false,
                _ => {}
            }
        }
        true
    }

    fn apply_set(&mut self, s: &SetStep) {
        if let Some(p) = s.priority {
            self.priority = p;
        }
        if let Some(p) = s.priority_add {
            self.priority = self.priority.saturating_add(p);
        }
        if s.priority.is_some() || s.priority_add.is_some() {
            self.actions
                .push_back(FlowAction::SetPriority(self.priority));
        }
        for (skill, level) in &s.skills {
            self.skills.insert(skill.clone(), *level);
            self.actions.push_back(FlowAction::SetSkill {
                skill: skill.clone(),
                level: *level,
                preferred: false,
            });
        }
        for skill in &s.preferred_skills {
            if !self.preferred.contains(skill) {
                self.preferred.push(skill.clone());
            }
            self.actions.push_back(FlowAction::SetSkill {
                skill: skill.clone(),
                level: 0,
                preferred: true,
            });
        }
        for (k, v) in &s.vars {
            self.set_var(k, v.clone(), true);
        }
        if let Some(l) = &s.language {
            self.language = l.clone();
            self.actions.push_back(FlowAction::SetLanguage(l.clone()));
        }
    }
}

/// Local date and minutes since midnight of `wall` in the schedule's zone.
fn local(s: &Schedule, wall: DateTime<Utc>) -> Option<(chrono::NaiveDate, chrono::Weekday, u16)> {
    let tz: chrono_tz::Tz = s.timezone.parse().ok()?;
    let t = wall.with_timezone(&tz);
    let minutes = u16::try_from(t.hour() * 60 + t.minute()).ok()?;
    Some((t.date_naive(), t.weekday(), minutes))
}

/// Whether `wall` falls on one of the schedule's holidays, in its time zone.
pub fn is_holiday(s: &Schedule, wall: DateTime<Utc>) -> bool {
    local(s, wall).is_some_and(|(date, _, _)| s.holidays.contains(&date))
}

/// Whether the schedule is open at `wall`: not a holiday and inside an open period, in the
/// schedule's time zone. An unknown time zone is never open.
pub fn is_open(s: &Schedule, wall: DateTime<Utc>) -> bool {
    let Some((date, weekday, minutes)) = local(s, wall) else {
        return false;
    };
    if s.holidays.contains(&date) {
        return false;
    }
    s.open.iter().any(|p| {
        (p.days.is_empty() || p.days.iter().any(|d| d.weekday() == weekday))
            && p.from.0 <= minutes
            && minutes < p.to.0
    })
}
