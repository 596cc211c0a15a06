//! Shift scheduling: a week of named agents' shifts, with breaks, against the required
//! agents per 15-minute interval.
//!
//! The problem is the set-covering formulation of shift scheduling (Dantzig) with breaks
//! placed inside windows relative to the shift start (Aykin's implicit breaks), plus the
//! rules that make a plan legal for a person: rest between shifts, weekly contract hours,
//! days off, unavailability. It is solved heuristically and deterministically, in four steps:
//!
//! 1. **Shift demand.** Greedy covering: repeatedly add the (group, pattern, start) whose
//!    working intervals, with each break put in the slot of its window where coverage is
//!    least needed, lower the cost the most, up to what the contracts of the group's agents
//!    can supply of each pattern. The cost is `over_weight` per agent-interval beyond what
//!    the agents cover, and per agent-interval short `under_weight`, more where a larger
//!    share of the interval is short (see `Engine::revalue`), so a shortage is spread out.
//!    Agents are grouped by the queues they may take; with [`Problem::queues`], what they
//!    cover in an interval is a maximum flow to the queues ([`crate::matching`]), else
//!    `min(working, required)`.
//! 2. **Assignment.** The chosen shifts, in time order, each go to the feasible agent with the
//!    least slack (days still open minus shifts still needed for the contract minimum), then
//!    the one who prefers that start. Shifts no agent can legally take are dropped.
//! 3. **Contract top-up.** An agent still under the contract minimum gets the most useful
//!    legal shifts added; if none fits, the agent's week is rebuilt by an exhaustive search
//!    over days (which the input check has already shown to succeed).
//! 4. **Local search.** Each shift in turn is taken out and put back at its best legal place:
//!    another start, another free day, another allowed pattern that keeps the contract, breaks
//!    re-placed in their windows; agents with slack between minimum and maximum hours gain or
//!    lose whole shifts where that lowers the cost. Repeats until a pass changes nothing.
//!
//! Every move keeps every hard rule, so the result is legal whatever the pass count.
//!
//! Conventions: the plan's epoch is Monday 00:00 of the planned week; shift starts lie in
//! `[0, 7 days)`. The week is treated as repeating for coverage: the part of a Sunday-night
//! shift after the week's end covers the same week's Monday morning (the next week's plan
//! in a steady state). A shift's day is the day it starts on; an agent works at most one
//! shift per day. Contract hours count the whole shift, breaks included.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::matching::Matching;
use crate::{Activity, INTERVAL_MINUTES, INTERVALS_PER_DAY, INTERVALS_PER_WEEK, Minute, Segment};

const DAY: i64 = INTERVALS_PER_DAY as i64;
const WEEK: i64 = INTERVALS_PER_WEEK as i64;
const MINUTES_PER_DAY: Minute = 24 * 60;
/// Preference weights beyond this are clamped so that sums of them cannot overflow.
const MAX_WEIGHT: i64 = 1_000_000;

/// Start times a pattern allows each day, in minutes after midnight: `first`, `first + every`,
/// … up to `last`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartTimes {
    pub first: Minute,
    pub last: Minute,
    pub every: Minute,
}

/// A break or lunch of a pattern: `minutes` long, starting no earlier than `earliest_start`
/// and ending no later than `latest_end`, both in minutes after the shift start.
/// A pattern's breaks are listed in the order they are taken and do not overlap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakRule {
    pub activity: Activity,
    pub minutes: Minute,
    pub earliest_start: Minute,
    pub latest_end: Minute,
}

/// A kind of shift agents may work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftPattern {
    /// Unique name, referred to by [`Agent::patterns`].
    pub name: String,
    /// Length of the shift, breaks included.
    pub minutes: Minute,
    pub starts: StartTimes,
    pub breaks: Vec<BreakRule>,
}

/// `[start, end)` in minutes from the plan's epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    pub start: Minute,
    pub end: Minute,
}

impl TimeRange {
    fn overlaps(&self, start: Minute, end: Minute) -> bool {
        self.start < end && start < self.end
    }
}

/// A soft wish about when shifts start: a shift starting inside `range` earns `weight`
/// points (negative for a start the agent would rather avoid). One point weighs as much as
/// one agent-interval of overstaffing; weights are clamped to ±1,000,000.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartPreference {
    pub range: TimeRange,
    pub weight: i64,
}

/// A named agent and the rules their week must keep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub id: String,
    /// Carried through to the output for routing; not used by the scheduler.
    pub skills: Vec<String>,
    /// Names of the [`Problem::queues`] this agent's skills let them take; empty means all.
    #[serde(default)]
    pub queues: Vec<String>,
    /// Names of the patterns this agent may work; empty means any.
    pub patterns: Vec<String>,
    /// Contract minimum per week, in minutes of shift time.
    pub min_weekly_minutes: Minute,
    /// Contract maximum per week, in minutes of shift time.
    pub max_weekly_minutes: Minute,
    /// Days of the week without a shift start, at least.
    pub days_off: u32,
    /// Minimum rest between the end of one shift and the start of the next.
    pub min_rest_minutes: Minute,
    /// End of the agent's last shift of the previous week (usually ≤ 0), for the rest rule.
    pub previous_shift_end: Option<Minute>,
    /// No shift may overlap any of these (hard).
    pub unavailable: Vec<TimeRange>,
    /// Soft wishes about start times.
    pub preferences: Vec<StartPreference>,
}

/// Weights and limits of the search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    /// Cost of one agent-interval short of the requirement, when little of the interval is
    /// short; up to twice it as the share short grows (a shortage is spread out).
    pub under_weight: u32,
    /// Cost of one agent-interval above the requirement.
    pub over_weight: u32,
    /// Upper limit on local-search passes; the search stops earlier when a pass changes nothing.
    pub max_passes: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            under_weight: 5,
            over_weight: 1,
            max_passes: 12,
        }
    }
}

/// One queue's requirement, for a centre whose agents do not all take every queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueDemand {
    pub name: String,
    /// Agents required on this queue per interval, [`INTERVALS_PER_WEEK`] values.
    pub requirement: Vec<u32>,
}

/// Everything the scheduler needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Agents required working per 15-minute interval of the week, [`INTERVALS_PER_WEEK`] values.
    /// With [`Problem::queues`] it is their sum, or empty.
    pub requirement: Vec<u32>,
    /// The requirement per queue (at most 64), when agents' skills differ: an interval is
    /// covered when its working agents can be spread over the queues they may take so that
    /// every queue gets its requirement. Empty: one pool, every agent takes everything.
    #[serde(default)]
    pub queues: Vec<QueueDemand>,
    pub patterns: Vec<ShiftPattern>,
    pub agents: Vec<Agent>,
    pub options: Options,
}

/// Why a problem cannot be scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScheduleError {
    #[error("the requirement has {got} intervals, a week has {INTERVALS_PER_WEEK}")]
    RequirementLength { got: usize },
    #[error("no agents to schedule")]
    NoAgents,
    #[error("no shift patterns given")]
    NoPatterns,
    #[error("shift pattern `{pattern}`: {reason}")]
    InvalidPattern { pattern: String, reason: String },
    #[error(
        "shift pattern `{pattern}`: break {index} ({window}) lies outside the {minutes}-minute shift"
    )]
    BreakOutsideShift {
        pattern: String,
        index: usize,
        window: String,
        minutes: Minute,
    },
    #[error("agent `{agent}`: {reason}")]
    InvalidAgent { agent: String, reason: String },
    #[error("agent `{agent}` refers to unknown shift pattern `{pattern}`")]
    UnknownPattern { agent: String, pattern: String },
    #[error("agent `{agent}` refers to unknown queue `{queue}`")]
    UnknownQueue { agent: String, queue: String },
    #[error("queues: {reason}")]
    InvalidQueues { reason: String },
    #[error("agent `{agent}`: contract hours cannot be met: {reason}")]
    ContractImpossible { agent: String, reason: String },
}

/// One shift of an agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedShift {
    pub pattern: String,
    pub start: Minute,
    pub end: Minute,
    /// Contiguous, in time order, from `start` to `end`: work, breaks and lunch.
    pub segments: Vec<Segment>,
}

/// An agent's week, shifts in time order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSchedule {
    pub id: String,
    pub skills: Vec<String>,
    pub shifts: Vec<PlannedShift>,
}

impl AgentSchedule {
    /// Shift time of the week, breaks included (what the contract counts).
    pub fn minutes(&self) -> Minute {
        self.shifts.iter().map(|s| s.end - s.start).sum()
    }
}

/// Requirement and scheduled agents working in one interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntervalCoverage {
    pub start: Minute,
    pub required: u32,
    /// Agents on a work segment for the whole interval (not on break or lunch).
    pub working: u32,
    /// Of the requirement, what the working agents cover: with one pool
    /// `min(working, required)`; with queues, the most the agents can cover spread over the
    /// queues their skills allow.
    pub covered: u32,
}

impl IntervalCoverage {
    pub fn under(&self) -> u32 {
        self.required.saturating_sub(self.covered)
    }
    /// Agents working beyond what they cover (with queues: also those whose skills no
    /// short queue needs).
    pub fn over(&self) -> u32 {
        self.working.saturating_sub(self.covered)
    }
}

/// One queue's requirement and the agents the plan gives it, per interval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCoverage {
    pub name: String,
    pub required: Vec<u32>,
    /// Agents covering the queue when the working agents are spread to cover the most.
    pub covered: Vec<u32>,
}

/// Simple bounds to judge the result by. They come from totals only: the contracts'
/// greatest possible working time against the total requirement (for shortfall), their
/// least possible working time (for overstaffing), and the requirement over the most working
/// time one shift can give (for the number of shifts). No schedule can beat them. When every
/// contract fixes the hours and all patterns have the same share of working time, total
/// working time is fixed, so `overstaffing - overstaffing_bound` equals the shortfall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounds {
    pub shortfall: u64,
    pub overstaffing: u64,
    pub shifts: u64,
}

/// The result: every agent's week and the coverage it gives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// In the order of [`Problem::agents`].
    pub agents: Vec<AgentSchedule>,
    /// One entry per interval of the week.
    pub coverage: Vec<IntervalCoverage>,
    /// Per queue, when the problem had queues.
    pub queues: Vec<QueueCoverage>,
    /// Sum of understaffing over the week, in agent-intervals.
    pub total_shortfall: u64,
    /// Sum of overstaffing over the week, in agent-intervals.
    pub total_overstaffing: u64,
    /// Indices of the intervals with fewer agents working than required.
    pub short_intervals: Vec<usize>,
    pub bounds: Bounds,
    /// Local-search passes run.
    pub passes: u32,
}

impl Schedule {
    /// Number of shifts in the plan.
    pub fn shift_count(&self) -> usize {
        self.agents.iter().map(|a| a.shifts.len()).sum()
    }
}

/// A shift in hours of the day it starts on, the shape of the simulator's daily agent shift
/// (`hotline-sim`'s `Shift`): `end_hour` is taken modulo 24, so a night shift reads
/// `start_hour = 22, end_hour = 6`. Breaks are not carried.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DayShift {
    pub agent: String,
    pub skills: Vec<String>,
    pub start_hour: f64,
    pub end_hour: f64,
}

impl Schedule {
    /// The shifts starting on `day` (0 = Monday), in agent order, for a one-day simulation.
    pub fn day_shifts(&self, day: u32) -> Vec<DayShift> {
        let day = Minute::from(day);
        self.agents
            .iter()
            .flat_map(|a| a.shifts.iter().map(move |s| (a, s)))
            .filter(|(_, s)| s.start.div_euclid(MINUTES_PER_DAY) == day)
            .map(|(a, s)| DayShift {
                agent: a.id.clone(),
                skills: a.skills.clone(),
                start_hour: s.start.rem_euclid(MINUTES_PER_DAY) as f64 / 60.0,
                end_hour: s.end.rem_euclid(MINUTES_PER_DAY) as f64 / 60.0,
            })
            .collect()
    }
}

/// Agents on a work segment per interval of the week, counted from the segments; the part
/// of a shift past the week's end counts at the start of the week.
pub fn working_per_interval(agents: &[AgentSchedule]) -> Vec<u32> {
    let mut working = vec![0u32; INTERVALS_PER_WEEK];
    for seg in agents
        .iter()
        .flat_map(|a| &a.shifts)
        .flat_map(|s| &s.segments)
        .filter(|s| s.activity == Activity::Work)
    {
        let mut t = seg.start.div_euclid(INTERVAL_MINUTES);
        while t * INTERVAL_MINUTES < seg.end {
            working[t.rem_euclid(WEEK) as usize] += 1;
            t += 1;
        }
    }
    working
}

/// Schedule the week.
pub fn solve(problem: &Problem) -> Result<Schedule, ScheduleError> {
    let (pats, ags) = compile(problem)?;
    let demand = compile_demand(problem, &ags)?;
    let mut engine = Engine::new(problem, &pats, &ags, demand);
    let demand = engine.cover_demand();
    engine.assign(&demand);
    engine.top_up();
    let passes = engine.improve(problem.options.max_passes);
    Ok(engine.finish(problem, passes))
}

// ---------------------------------------------------------------------------------------
// Input check and compiled form (intervals instead of minutes where the grid applies).

struct Pat {
    len: i64,
    minutes: Minute,
    work: i64,
    /// Start interval within a day.
    starts: Vec<i64>,
    breaks: Vec<Brk>,
}

struct Brk {
    activity: Activity,
    len: i64,
    earliest: i64,
    latest_start: i64,
}

struct Ag {
    allowed: Vec<usize>,
    /// Bits of the queues the agent may take (bit 0 alone without queues).
    queues: u64,
    min: Minute,
    max: Minute,
    max_days: usize,
    rest: Minute,
    prev_end: Option<Minute>,
    unavailable: Vec<TimeRange>,
    prefs: Vec<StartPreference>,
    /// Days on which some allowed shift avoids the unavailable ranges.
    open_day: [bool; 7],
}

#[derive(Clone, Debug)]
struct Sh {
    pat: usize,
    start: i64,
    /// Start interval of each break, in the pattern's order.
    breaks: Vec<i64>,
}

/// `x / y` rounded up, for `x >= 0`, `y > 0`.
fn ceil_div(x: i64, y: i64) -> i64 {
    (x + y - 1) / y
}

fn on_grid(m: Minute) -> bool {
    m.rem_euclid(INTERVAL_MINUTES) == 0
}

/// The requirement per queue and the agents' classes (agents who may take the same queues).
struct Demand {
    names: Vec<String>,
    /// `[q][t]`.
    per_queue: Vec<Vec<u32>>,
    /// Summed over the queues.
    total: Vec<u32>,
    /// For each class, the bits of the queues it may take.
    classes: Vec<u64>,
    /// Each agent's class.
    class_of: Vec<usize>,
}

fn compile_demand(problem: &Problem, ags: &[Ag]) -> Result<Demand, ScheduleError> {
    let (names, per_queue) = if problem.queues.is_empty() {
        (Vec::new(), vec![problem.requirement.clone()])
    } else {
        (
            problem.queues.iter().map(|q| q.name.clone()).collect(),
            problem
                .queues
                .iter()
                .map(|q| q.requirement.clone())
                .collect(),
        )
    };
    let mut total = vec![0u32; INTERVALS_PER_WEEK];
    for r in &per_queue {
        for (t, v) in total.iter_mut().zip(r) {
            *t = t.saturating_add(*v);
        }
    }
    if !problem.queues.is_empty() && !problem.requirement.is_empty() && problem.requirement != total
    {
        return Err(ScheduleError::InvalidQueues {
            reason: "`requirement` is not the sum of the queues' requirements".into(),
        });
    }
    let mut classes: Vec<u64> = Vec::new();
    let mut class_of = Vec::with_capacity(ags.len());
    for ag in ags {
        let k = match classes.iter().position(|&m| m == ag.queues) {
            Some(k) => k,
            None => {
                classes.push(ag.queues);
                classes.len() - 1
            }
        };
        class_of.push(k);
    }
    Ok(Demand {
        names,
        per_queue,
        total,
        classes,
        class_of,
    })
}

fn compile(problem: &Problem) -> Result<(Vec<Pat>, Vec<Ag>), ScheduleError> {
    if !problem.queues.is_empty() {
        if problem.queues.len() > 64 {
            return Err(ScheduleError::InvalidQueues {
                reason: format!("{} queues, at most 64", problem.queues.len()),
            });
        }
        let mut seen = HashSet::new();
        for q in &problem.queues {
            if !seen.insert(q.name.as_str()) {
                return Err(ScheduleError::InvalidQueues {
                    reason: format!("`{}` is named twice", q.name),
                });
            }
            if q.requirement.len() != INTERVALS_PER_WEEK {
                return Err(ScheduleError::InvalidQueues {
                    reason: format!(
                        "`{}` has {} intervals, a week has {INTERVALS_PER_WEEK}",
                        q.name,
                        q.requirement.len()
                    ),
                });
            }
        }
    }
    // With queues, the total requirement may be left out.
    let total_left_out = problem.requirement.is_empty() && !problem.queues.is_empty();
    if problem.requirement.len() != INTERVALS_PER_WEEK && !total_left_out {
        return Err(ScheduleError::RequirementLength {
            got: problem.requirement.len(),
        });
    }
    if problem.patterns.is_empty() {
        return Err(ScheduleError::NoPatterns);
    }
    if problem.agents.is_empty() {
        return Err(ScheduleError::NoAgents);
    }
    let mut names = HashSet::new();
    let mut pats = Vec::with_capacity(problem.patterns.len());
    for p in &problem.patterns {
        if !names.insert(p.name.as_str()) {
            return Err(invalid_pattern(p, "the name is used twice"));
        }
        pats.push(compile_pattern(p)?);
    }
    let mut ids = HashSet::new();
    let mut ags = Vec::with_capacity(problem.agents.len());
    for a in &problem.agents {
        if !ids.insert(a.id.as_str()) {
            return Err(invalid_agent(a, "the id is used twice"));
        }
        ags.push(compile_agent(a, problem, &pats)?);
    }
    Ok((pats, ags))
}

fn invalid_pattern(p: &ShiftPattern, reason: &str) -> ScheduleError {
    ScheduleError::InvalidPattern {
        pattern: p.name.clone(),
        reason: reason.to_string(),
    }
}

fn invalid_agent(a: &Agent, reason: &str) -> ScheduleError {
    ScheduleError::InvalidAgent {
        agent: a.id.clone(),
        reason: reason.to_string(),
    }
}

fn compile_pattern(p: &ShiftPattern) -> Result<Pat, ScheduleError> {
    if p.minutes <= 0 || p.minutes > MINUTES_PER_DAY || !on_grid(p.minutes) {
        return Err(invalid_pattern(
            p,
            "the length must be a positive multiple of 15 minutes, at most 24 h",
        ));
    }
    let st = &p.starts;
    if st.every <= 0
        || !on_grid(st.every)
        || !on_grid(st.first)
        || !on_grid(st.last)
        || st.first < 0
        || st.last >= MINUTES_PER_DAY
        || st.first > st.last
    {
        return Err(invalid_pattern(
            p,
            "start times need 0 <= first <= last < 24 h and every > 0, all multiples of 15 minutes",
        ));
    }
    let starts: Vec<i64> = (st.first..=st.last)
        .step_by(st.every as usize)
        .map(|m| m / INTERVAL_MINUTES)
        .collect();
    let mut breaks = Vec::with_capacity(p.breaks.len());
    for (index, b) in p.breaks.iter().enumerate() {
        if b.activity == Activity::Work {
            return Err(invalid_pattern(
                p,
                &format!("break {index} has activity work"),
            ));
        }
        if b.minutes <= 0
            || !on_grid(b.minutes)
            || !on_grid(b.earliest_start)
            || !on_grid(b.latest_end)
        {
            return Err(invalid_pattern(
                p,
                &format!(
                    "break {index}: length and window must be multiples of 15 minutes, length > 0"
                ),
            ));
        }
        if b.earliest_start < 0 || b.latest_end > p.minutes {
            return Err(ScheduleError::BreakOutsideShift {
                pattern: p.name.clone(),
                index,
                window: format!("{}..{} min", b.earliest_start, b.latest_end),
                minutes: p.minutes,
            });
        }
        if b.earliest_start
            .checked_add(b.minutes)
            .is_none_or(|end| end > b.latest_end)
        {
            return Err(invalid_pattern(
                p,
                &format!("break {index}: its window is shorter than the break"),
            ));
        }
        breaks.push(Brk {
            activity: b.activity,
            len: b.minutes / INTERVAL_MINUTES,
            earliest: b.earliest_start / INTERVAL_MINUTES,
            latest_start: (b.latest_end - b.minutes) / INTERVAL_MINUTES,
        });
    }
    // Tighten the latest starts so that any choice inside [earliest after the previous
    // break, latest_start] leaves room for the breaks after it.
    for k in (0..breaks.len().saturating_sub(1)).rev() {
        let bound = breaks[k + 1].latest_start - breaks[k].len;
        breaks[k].latest_start = breaks[k].latest_start.min(bound);
    }
    let mut earliest = 0;
    for b in &breaks {
        if b.earliest.max(earliest) > b.latest_start {
            return Err(invalid_pattern(
                p,
                "the breaks do not fit their windows one after another",
            ));
        }
        earliest = b.earliest.max(earliest) + b.len;
    }
    let len = p.minutes / INTERVAL_MINUTES;
    let work = len - breaks.iter().map(|b| b.len).sum::<i64>();
    Ok(Pat {
        len,
        minutes: p.minutes,
        work,
        starts,
        breaks,
    })
}

fn compile_agent(a: &Agent, problem: &Problem, pats: &[Pat]) -> Result<Ag, ScheduleError> {
    let allowed: Vec<usize> = if a.patterns.is_empty() {
        (0..pats.len()).collect()
    } else {
        let mut v = Vec::with_capacity(a.patterns.len());
        for name in &a.patterns {
            match problem.patterns.iter().position(|p| &p.name == name) {
                Some(i) if !v.contains(&i) => v.push(i),
                Some(_) => {}
                None => {
                    return Err(ScheduleError::UnknownPattern {
                        agent: a.id.clone(),
                        pattern: name.clone(),
                    });
                }
            }
        }
        v
    };
    if a.min_rest_minutes < 0 {
        return Err(invalid_agent(a, "the minimum rest is negative"));
    }
    let queues = if problem.queues.is_empty() {
        1
    } else if a.queues.is_empty() {
        u64::MAX >> (64 - problem.queues.len())
    } else {
        let mut m = 0u64;
        for name in &a.queues {
            let Some(q) = problem.queues.iter().position(|q| &q.name == name) else {
                return Err(ScheduleError::UnknownQueue {
                    agent: a.id.clone(),
                    queue: name.clone(),
                });
            };
            m |= 1 << q;
        }
        m
    };
    if a.unavailable.iter().any(|r| r.start >= r.end)
        || a.preferences.iter().any(|p| p.range.start >= p.range.end)
    {
        return Err(invalid_agent(
            a,
            "a time range does not end after it starts",
        ));
    }
    let contract = |reason: String| ScheduleError::ContractImpossible {
        agent: a.id.clone(),
        reason,
    };
    if a.min_weekly_minutes < 0 || a.min_weekly_minutes > a.max_weekly_minutes {
        return Err(contract(format!(
            "minimum {} min is negative or above the maximum {} min",
            a.min_weekly_minutes, a.max_weekly_minutes
        )));
    }
    if a.days_off > 7 {
        return Err(contract(format!("{} days off in a 7-day week", a.days_off)));
    }
    let mut ag = Ag {
        allowed,
        queues,
        min: a.min_weekly_minutes,
        // No week holds more shift time than its own length; the cap keeps sums small.
        max: a.max_weekly_minutes.min(7 * MINUTES_PER_DAY),
        max_days: 7 - a.days_off as usize,
        rest: a.min_rest_minutes,
        prev_end: a.previous_shift_end,
        unavailable: a.unavailable.clone(),
        prefs: a
            .preferences
            .iter()
            .map(|p| StartPreference {
                range: p.range,
                weight: p.weight.clamp(-MAX_WEIGHT, MAX_WEIGHT),
            })
            .collect(),
        open_day: [false; 7],
    };
    for d in 0..7 {
        ag.open_day[d as usize] = ag.allowed.iter().any(|&p| {
            pats[p].starts.iter().any(|&sod| {
                let s = (d * DAY + sod) * INTERVAL_MINUTES;
                !ag.unavailable
                    .iter()
                    .any(|u| u.overlaps(s, s + pats[p].minutes))
            })
        });
    }
    if feasible_week(&ag, pats).is_none() {
        return Err(contract(format!(
            "no week of allowed shifts totals {}..{} min with {} days off, {} min rest and the unavailable times",
            a.min_weekly_minutes, a.max_weekly_minutes, a.days_off, a.min_rest_minutes
        )));
    }
    Ok(ag)
}

/// Breaks at the earliest places their windows allow.
fn earliest_breaks(pat: &Pat, start: i64) -> Vec<i64> {
    let mut t = start;
    pat.breaks
        .iter()
        .map(|b| {
            let x = (start + b.earliest).max(t);
            t = x + b.len;
            x
        })
        .collect()
}

/// Some legal week reaching the contract minimum, found by depth-first search over the days.
/// On each day it tries each allowed pattern at its earliest legal start (the earliest end
/// leaves the most room for the next day), then no shift. Complete for these rules; states
/// already known to fail are remembered, so many patterns cannot make it exponential.
fn feasible_week(ag: &Ag, pats: &[Pat]) -> Option<Vec<Sh>> {
    fn go(
        ag: &Ag,
        pats: &[Pat],
        day: i64,
        last_end: Option<Minute>,
        minutes: Minute,
        acc: &mut Vec<Sh>,
        failed: &mut HashMap<(i64, usize, Minute), Minute>,
    ) -> bool {
        if minutes >= ag.min && acc.len() <= ag.max_days && (day == 7 || ag.min == minutes) {
            return true;
        }
        if day == 7 {
            return false;
        }
        // A state that failed with an earlier (or no) last end fails now too: the last end
        // only bounds the next start from below.
        let key = (day, acc.len(), minutes);
        let end_or_min = last_end.unwrap_or(Minute::MIN);
        if failed.get(&key).is_some_and(|&f| f <= end_or_min) {
            return false;
        }
        let longest = ag
            .allowed
            .iter()
            .map(|&p| pats[p].minutes)
            .max()
            .unwrap_or(0);
        let days_left = ((7 - day) as usize).min(ag.max_days.saturating_sub(acc.len())) as i64;
        if minutes + days_left * longest < ag.min {
            return false;
        }
        if acc.len() < ag.max_days {
            let not_before = [last_end, ag.prev_end]
                .into_iter()
                .flatten()
                .map(|e| e.saturating_add(ag.rest))
                .max();
            for &p in &ag.allowed {
                let pat = &pats[p];
                if minutes + pat.minutes > ag.max {
                    continue;
                }
                let found = pat.starts.iter().map(|&sod| day * DAY + sod).find(|&s| {
                    let sm = s * INTERVAL_MINUTES;
                    not_before.is_none_or(|nb| sm >= nb)
                        && !ag
                            .unavailable
                            .iter()
                            .any(|u| u.overlaps(sm, sm + pat.minutes))
                });
                if let Some(s) = found {
                    acc.push(Sh {
                        pat: p,
                        start: s,
                        breaks: earliest_breaks(pat, s),
                    });
                    let end = s * INTERVAL_MINUTES + pat.minutes;
                    if go(
                        ag,
                        pats,
                        day + 1,
                        Some(end),
                        minutes + pat.minutes,
                        acc,
                        failed,
                    ) {
                        return true;
                    }
                    acc.pop();
                }
            }
        }
        if go(ag, pats, day + 1, last_end, minutes, acc, failed) {
            return true;
        }
        let f = failed.entry(key).or_insert(end_or_min);
        *f = (*f).min(end_or_min);
        false
    }
    let mut acc = Vec::new();
    go(ag, pats, 0, None, 0, &mut acc, &mut HashMap::new()).then_some(acc)
}

// ---------------------------------------------------------------------------------------
// The search.

struct Engine<'a> {
    pats: &'a [Pat],
    ags: &'a [Ag],
    /// The total requirement per interval.
    req: Vec<i64>,
    demand: Demand,
    /// Who covers what, interval by interval.
    cover: Matching,
    classes: usize,
    /// `[k][t]`: cost change of one more agent of class `k` working in interval `t`.
    val: Vec<i64>,
    /// `[k][j]`: prefix sums of `val` over two weeks.
    pre: Vec<i64>,
    useful: Vec<bool>,
    wu: i64,
    wo: i64,
    plan: Vec<Vec<Sh>>,
}

/// A candidate placement and its cost change.
struct Cand {
    cost: i64,
    pat: usize,
    start: i64,
    breaks: Vec<i64>,
}

const SPAN: usize = 2 * INTERVALS_PER_WEEK + 1;

impl<'a> Engine<'a> {
    fn new(problem: &Problem, pats: &'a [Pat], ags: &'a [Ag], demand: Demand) -> Self {
        let classes = demand.classes.len();
        let mut e = Engine {
            pats,
            ags,
            req: demand.total.iter().map(|&r| i64::from(r)).collect(),
            cover: Matching::new(&demand.per_queue, demand.classes.clone()),
            demand,
            classes,
            val: vec![0; classes * INTERVALS_PER_WEEK],
            pre: vec![0; classes * SPAN],
            useful: vec![false; classes],
            wu: i64::from(problem.options.under_weight),
            wo: i64::from(problem.options.over_weight),
            plan: vec![Vec::new(); ags.len()],
        };
        for t in 0..INTERVALS_PER_WEEK {
            e.revalue(t);
        }
        e.rebuild();
        e
    }

    /// Each class's cost change of one more agent in interval `t`, after `t` changed.
    ///
    /// Understaffing costs more the larger the share of the interval's requirement it
    /// leaves uncovered: the `d`-th missing agent of an interval requiring `r` costs
    /// `under_weight + ⌊under_weight × d / r⌋` (from `under_weight` up to twice it), so one
    /// more agent where half the requirement is missing is worth more than where a tenth is.
    /// With too few agents for the week, the shortage is spread over the days and hours
    /// instead of leaving some empty; with enough agents the shortages are small and it
    /// changes little. The cost stays a sum over intervals of a convex function of the
    /// shortage, so every move the search takes lowers it.
    fn revalue(&mut self, t: usize) {
        self.cover.useful(t, &mut self.useful);
        let missing: i64 = (0..self.demand.per_queue.len())
            .map(|q| i64::from(self.cover.deficit(t, q)))
            .sum();
        let required = self.req[t].max(1);
        let gain = self.wu + self.wu.saturating_mul(missing) / required;
        for k in 0..self.classes {
            self.val[k * INTERVALS_PER_WEEK + t] = if self.useful[k] { -gain } else { self.wo };
        }
    }

    fn rebuild(&mut self) {
        for k in 0..self.classes {
            let val = &self.val[k * INTERVALS_PER_WEEK..(k + 1) * INTERVALS_PER_WEEK];
            let pre = &mut self.pre[k * SPAN..(k + 1) * SPAN];
            for j in 0..2 * INTERVALS_PER_WEEK {
                pre[j + 1] = pre[j] + val[j % INTERVALS_PER_WEEK];
            }
        }
    }

    /// Cost change of one more agent of class `k` working in intervals `[a, b)`,
    /// `0 <= a <= b <= 2 weeks`.
    fn sum(&self, k: usize, a: i64, b: i64) -> i64 {
        self.pre[k * SPAN + b as usize] - self.pre[k * SPAN + a as usize]
    }

    /// Adds (`sign` 1) or takes away (-1) a shift of an agent of class `k`.
    fn apply(&mut self, k: usize, sh: &Sh, sign: i64) {
        let pat = &self.pats[sh.pat];
        let mut work = Vec::with_capacity(pat.len as usize);
        let mut t = sh.start;
        for (b, rule) in sh.breaks.iter().zip(&pat.breaks) {
            work.extend(t..*b);
            t = b + rule.len;
        }
        work.extend(t..sh.start + pat.len);
        for &i in &work {
            let t = (i % WEEK) as usize;
            if sign > 0 {
                self.cover.add(t, k);
            } else {
                self.cover.remove(t, k);
            }
        }
        for &i in &work {
            self.revalue((i % WEEK) as usize);
        }
    }

    /// Cost change of adding a shift of pattern `p` at `start` for an agent of class `k`,
    /// with its breaks placed where an agent working is least useful.
    fn eval(&self, k: usize, p: usize, start: i64) -> (i64, Vec<i64>) {
        let pat = &self.pats[p];
        let mut cost = self.sum(k, start, start + pat.len);
        let mut t = start;
        let mut breaks = Vec::with_capacity(pat.breaks.len());
        for b in &pat.breaks {
            let lo = (start + b.earliest).max(t);
            let hi = start + b.latest_start;
            let mut best = (i64::MIN, lo);
            for x in lo..=hi {
                let v = self.sum(k, x, x + b.len);
                if v > best.0 {
                    best = (v, x);
                }
            }
            cost -= best.0;
            breaks.push(best.1);
            t = best.1 + b.len;
        }
        (cost, breaks)
    }

    /// Cost change of a shift as placed, breaks included, for an agent of class `k`.
    fn placed_cost(&self, k: usize, sh: &Sh) -> i64 {
        let pat = &self.pats[sh.pat];
        let mut cost = self.sum(k, sh.start, sh.start + pat.len);
        for (b, rule) in sh.breaks.iter().zip(&pat.breaks) {
            cost -= self.sum(k, *b, b + rule.len);
        }
        cost
    }

    fn pref_cost(&self, a: usize, start: i64) -> i64 {
        let m = start * INTERVAL_MINUTES;
        -self.ags[a]
            .prefs
            .iter()
            .filter(|p| p.range.start <= m && m < p.range.end)
            .map(|p| p.weight)
            .sum::<i64>()
    }

    fn minutes(&self, a: usize) -> Minute {
        self.plan[a].iter().map(|s| self.pats[s.pat].minutes).sum()
    }

    /// Whether agent `a` may work pattern `p` at `start`, besides their shifts other than
    /// `skip`: one shift a day, days off, rest both ways, maximum hours, unavailability.
    fn fits(&self, a: usize, p: usize, start: i64, skip: Option<usize>) -> bool {
        let ag = &self.ags[a];
        let pat = &self.pats[p];
        let s = start * INTERVAL_MINUTES;
        let e = s + pat.minutes;
        let day = start / DAY;
        let mut minutes = pat.minutes;
        let mut days = 1;
        for (i, o) in self.plan[a].iter().enumerate() {
            if Some(i) == skip {
                continue;
            }
            if o.start / DAY == day {
                return false;
            }
            let op = &self.pats[o.pat];
            minutes += op.minutes;
            days += 1;
            let os = o.start * INTERVAL_MINUTES;
            let oe = os + op.minutes;
            let ok = if os < s {
                oe.saturating_add(ag.rest) <= s
            } else {
                e.saturating_add(ag.rest) <= os
            };
            if !ok {
                return false;
            }
        }
        if minutes > ag.max || days > ag.max_days {
            return false;
        }
        if ag.prev_end.is_some_and(|pe| pe.saturating_add(ag.rest) > s) {
            return false;
        }
        !ag.unavailable.iter().any(|u| u.overlaps(s, e))
    }

    /// Step 1: the shifts to staff, per class of agents, by greedy covering, capped by what
    /// the class's contracts can supply.
    fn cover_demand(&mut self) -> Vec<(usize, i64, usize)> {
        let np = self.pats.len();
        let mut cap: Vec<i64> = vec![0; self.classes * np];
        let mut minutes_left: Vec<Minute> = vec![0; self.classes];
        for (a, ag) in self.ags.iter().enumerate() {
            let k = self.demand.class_of[a];
            for &p in &ag.allowed {
                cap[k * np + p] += (ag.max / self.pats[p].minutes).min(ag.max_days as i64);
            }
            minutes_left[k] += ag.max;
        }
        let mut chosen = Vec::new();
        loop {
            let mut best: Option<(Cand, usize)> = None;
            for k in 0..self.classes {
                for (p, pat) in self.pats.iter().enumerate() {
                    if cap[k * np + p] == 0 || pat.minutes > minutes_left[k] {
                        continue;
                    }
                    for d in 0..7 {
                        for &sod in &pat.starts {
                            let start = d * DAY + sod;
                            let (cost, breaks) = self.eval(k, p, start);
                            if best.as_ref().is_none_or(|b| cost < b.0.cost) {
                                best = Some((
                                    Cand {
                                        cost,
                                        pat: p,
                                        start,
                                        breaks,
                                    },
                                    k,
                                ));
                            }
                        }
                    }
                }
            }
            let Some((c, k)) = best.filter(|c| c.0.cost < 0) else {
                break;
            };
            cap[k * np + c.pat] -= 1;
            minutes_left[k] -= self.pats[c.pat].minutes;
            let sh = Sh {
                pat: c.pat,
                start: c.start,
                breaks: c.breaks,
            };
            self.apply(k, &sh, 1);
            self.rebuild();
            chosen.push((c.pat, c.start, k, sh));
        }
        // The assignment rebuilds coverage from the agents' shifts.
        for (_, _, k, sh) in &chosen {
            self.apply(*k, sh, -1);
        }
        self.rebuild();
        let mut chosen: Vec<(usize, i64, usize)> =
            chosen.into_iter().map(|(p, s, k, _)| (p, s, k)).collect();
        chosen.sort_by_key(|&(p, s, k)| (s, p, k));
        chosen
    }

    /// Step 2: each shift, in time order, to the feasible agent with the least slack.
    fn assign(&mut self, demand: &[(usize, i64, usize)]) {
        for &(p, start, k) in demand {
            let day = (start / DAY) as usize;
            let len = self.pats[p].minutes;
            let mut best: Option<((i64, i64, Minute, usize), usize)> = None;
            for a in 0..self.ags.len() {
                let ag = &self.ags[a];
                if self.demand.class_of[a] != k
                    || !ag.allowed.contains(&p)
                    || !self.fits(a, p, start, None)
                {
                    continue;
                }
                let minutes = self.minutes(a);
                let needed = ceil_div((ag.min - minutes).max(0), len);
                let open = (day..7)
                    .filter(|&d| ag.open_day[d])
                    .filter(|&d| self.plan[a].iter().all(|s| (s.start / DAY) as usize != d))
                    .count() as i64;
                let key = (open - needed, self.pref_cost(a, start), minutes, a);
                if best.as_ref().is_none_or(|b| key < b.0) {
                    best = Some((key, a));
                }
            }
            if let Some((_, a)) = best {
                let (_, breaks) = self.eval(k, p, start);
                let sh = Sh {
                    pat: p,
                    start,
                    breaks,
                };
                self.apply(k, &sh, 1);
                self.rebuild();
                self.plan[a].push(sh);
            }
        }
    }

    /// The best legal shift to add to agent `a`'s week, if any.
    fn best_addition(&self, a: usize) -> Option<Cand> {
        let k = self.demand.class_of[a];
        let mut best: Option<Cand> = None;
        for &p in &self.ags[a].allowed {
            for d in 0..7 {
                if self.plan[a].iter().any(|s| s.start / DAY == d) {
                    continue;
                }
                for &sod in &self.pats[p].starts {
                    let start = d * DAY + sod;
                    if !self.fits(a, p, start, None) {
                        continue;
                    }
                    let (c, breaks) = self.eval(k, p, start);
                    let cost = c + self.pref_cost(a, start);
                    if best.as_ref().is_none_or(|b| cost < b.cost) {
                        best = Some(Cand {
                            cost,
                            pat: p,
                            start,
                            breaks,
                        });
                    }
                }
            }
        }
        best
    }

    /// Step 3: every agent up to the contract minimum.
    fn top_up(&mut self) {
        for a in 0..self.ags.len() {
            let k = self.demand.class_of[a];
            while self.minutes(a) < self.ags[a].min {
                if let Some(c) = self.best_addition(a) {
                    let sh = Sh {
                        pat: c.pat,
                        start: c.start,
                        breaks: c.breaks,
                    };
                    self.apply(k, &sh, 1);
                    self.rebuild();
                    self.plan[a].push(sh);
                    continue;
                }
                // Greedy choices blocked the week: take a week the exhaustive search finds
                // (it exists, the input check ran it) and let the local search place it.
                for sh in std::mem::take(&mut self.plan[a]) {
                    self.apply(k, &sh, -1);
                }
                let week = feasible_week(&self.ags[a], self.pats).unwrap_or_default();
                for sh in &week {
                    self.apply(k, sh, 1);
                }
                self.rebuild();
                self.plan[a] = week;
                break;
            }
        }
    }

    /// Step 4: local search; returns the number of passes run.
    fn improve(&mut self, max_passes: u32) -> u32 {
        let mut passes = 0;
        while passes < max_passes {
            passes += 1;
            let mut improved = false;
            for a in 0..self.ags.len() {
                for k in 0..self.plan[a].len() {
                    improved |= self.move_shift(a, k);
                }
                improved |= self.add_or_remove(a);
            }
            if !improved {
                break;
            }
        }
        passes
    }

    /// Put agent `a`'s shift `k` at its best legal place; true if that lowered the cost.
    fn move_shift(&mut self, a: usize, k: usize) -> bool {
        let class = self.demand.class_of[a];
        let old = self.plan[a][k].clone();
        self.apply(class, &old, -1);
        self.rebuild();
        let old_cost = self.placed_cost(class, &old) + self.pref_cost(a, old.start);
        let (c, breaks) = self.eval(class, old.pat, old.start);
        let mut best = Cand {
            cost: c + self.pref_cost(a, old.start),
            pat: old.pat,
            start: old.start,
            breaks,
        };
        let others = self.minutes(a) - self.pats[old.pat].minutes;
        let ag = &self.ags[a];
        for &p in &ag.allowed {
            let total = others + self.pats[p].minutes;
            if total < ag.min || total > ag.max {
                continue;
            }
            for d in 0..7 {
                if self.plan[a]
                    .iter()
                    .enumerate()
                    .any(|(i, s)| i != k && s.start / DAY == d)
                {
                    continue;
                }
                for &sod in &self.pats[p].starts {
                    let start = d * DAY + sod;
                    if (p, start) == (old.pat, old.start) || !self.fits(a, p, start, Some(k)) {
                        continue;
                    }
                    let (c, breaks) = self.eval(class, p, start);
                    let cost = c + self.pref_cost(a, start);
                    if cost < best.cost {
                        best = Cand {
                            cost,
                            pat: p,
                            start,
                            breaks,
                        };
                    }
                }
            }
        }
        let improved = best.cost < old_cost;
        let sh = if improved {
            Sh {
                pat: best.pat,
                start: best.start,
                breaks: best.breaks,
            }
        } else {
            old
        };
        self.apply(class, &sh, 1);
        self.rebuild();
        self.plan[a][k] = sh;
        improved
    }

    /// Use an agent's slack between contract minimum and maximum: drop a shift that costs
    /// more than it gives, or add one that lowers the cost.
    fn add_or_remove(&mut self, a: usize) -> bool {
        let class = self.demand.class_of[a];
        let mut changed = false;
        let mut k = 0;
        while k < self.plan[a].len() {
            let sh = &self.plan[a][k];
            let minutes = self.minutes(a);
            if minutes - self.pats[sh.pat].minutes >= self.ags[a].min {
                let sh = sh.clone();
                self.apply(class, &sh, -1);
                self.rebuild();
                if self.placed_cost(class, &sh) + self.pref_cost(a, sh.start) > 0 {
                    self.plan[a].remove(k);
                    changed = true;
                    continue;
                }
                self.apply(class, &sh, 1);
                self.rebuild();
            }
            k += 1;
        }
        if let Some(c) = self.best_addition(a).filter(|c| c.cost < 0) {
            let sh = Sh {
                pat: c.pat,
                start: c.start,
                breaks: c.breaks,
            };
            self.apply(class, &sh, 1);
            self.rebuild();
            self.plan[a].push(sh);
            changed = true;
        }
        changed
    }

    fn finish(mut self, problem: &Problem, passes: u32) -> Schedule {
        let mut agents = Vec::with_capacity(self.ags.len());
        for (a, input) in problem.agents.iter().enumerate() {
            let mut shifts = std::mem::take(&mut self.plan[a]);
            shifts.sort_by_key(|s| s.start);
            agents.push(AgentSchedule {
                id: input.id.clone(),
                skills: input.skills.clone(),
                shifts: shifts.iter().map(|sh| self.planned(problem, sh)).collect(),
            });
        }
        let working = working_per_interval(&agents);
        let nq = self.demand.per_queue.len();
        let coverage: Vec<IntervalCoverage> = working
            .iter()
            .zip(&self.demand.total)
            .enumerate()
            .map(|(i, (&w, &r))| IntervalCoverage {
                start: i as Minute * INTERVAL_MINUTES,
                required: r,
                working: w,
                covered: (0..nq).map(|q| self.cover.covered(i, q)).sum(),
            })
            .collect();
        let queues = self
            .demand
            .names
            .iter()
            .enumerate()
            .map(|(q, name)| QueueCoverage {
                name: name.clone(),
                required: self.demand.per_queue[q].clone(),
                covered: (0..INTERVALS_PER_WEEK)
                    .map(|t| self.cover.covered(t, q))
                    .collect(),
            })
            .collect();
        let total_shortfall = coverage.iter().map(|c| u64::from(c.under())).sum();
        let total_overstaffing = coverage.iter().map(|c| u64::from(c.over())).sum();
        let short_intervals = coverage
            .iter()
            .enumerate()
            .filter(|(_, c)| c.under() > 0)
            .map(|(i, _)| i)
            .collect();
        Schedule {
            agents,
            coverage,
            queues,
            total_shortfall,
            total_overstaffing,
            short_intervals,
            bounds: self.bounds(),
            passes,
        }
    }

    fn planned(&self, problem: &Problem, sh: &Sh) -> PlannedShift {
        let pat = &self.pats[sh.pat];
        let m = |i: i64| i * INTERVAL_MINUTES;
        let mut segments = Vec::with_capacity(2 * pat.breaks.len() + 1);
        let mut t = sh.start;
        for (b, rule) in sh.breaks.iter().zip(&pat.breaks) {
            if *b > t {
                segments.push(Segment {
                    start: m(t),
                    end: m(*b),
                    activity: Activity::Work,
                });
            }
            segments.push(Segment {
                start: m(*b),
                end: m(b + rule.len),
                activity: rule.activity,
            });
            t = b + rule.len;
        }
        if t < sh.start + pat.len {
            segments.push(Segment {
                start: m(t),
                end: m(sh.start + pat.len),
                activity: Activity::Work,
            });
        }
        PlannedShift {
            pattern: problem.patterns[sh.pat].name.clone(),
            start: m(sh.start),
            end: m(sh.start + pat.len),
            segments,
        }
    }

    fn bounds(&self) -> Bounds {
        let demand: i64 = self.req.iter().sum();
        // Working intervals per shift interval, best and worst over an agent's patterns.
        let mut most = 0i64;
        let mut least = 0i64;
        for ag in self.ags {
            let ratio = |p: &usize| (self.pats[*p].work, self.pats[*p].len);
            let best = ag
                .allowed
                .iter()
                .map(ratio)
                .max_by(|x, y| (x.0 * y.1).cmp(&(y.0 * x.1)));
            let worst = ag
                .allowed
                .iter()
                .map(ratio)
                .min_by(|x, y| (x.0 * y.1).cmp(&(y.0 * x.1)));
            if let (Some((bw, bl)), Some((ww, wl))) = (best, worst) {
                most += ag.max / INTERVAL_MINUTES * bw / bl;
                least += ceil_div(ag.min / INTERVAL_MINUTES * ww, wl);
            }
        }
        let per_shift = self.pats.iter().map(|p| p.work).max().unwrap_or(0);
        Bounds {
            shortfall: (demand - most).max(0) as u64,
            overstaffing: (least - demand).max(0) as u64,
            shifts: if per_shift > 0 {
                (demand.max(0) as u64).div_ceil(per_shift as u64)
            } else {
                0
            },
        }
    }
}
