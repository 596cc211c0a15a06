//! A week's schedule as a simulator scenario, so the plan can be checked against the real
//! routing engine ([`hotline_sim::simulate`]) instead of only against the Erlang formulas
//! it was staffed with.
//!
//! The scenario runs one week from the plan's epoch (Monday 00:00) in virtual time:
//!
//! - **Traffic.** One queue or several, each with its volumes; `arrivals_per_hour = 1` and a
//!   672-step, 15-minute `curve` whose factors are the contacts per hour of each interval
//!   (the interval's volume × 4), so the arrival rate follows the volumes given step by step.
//! - **Agents.** One simulated agent per scheduled agent, on duty during their `Work`
//!   segments only: breaks, lunch and offline time are gaps, as are days off. A shift that
//!   runs past the week's end is cut there, and its part past the end is put at the start of
//!   the week as a separate agent (`<id>@previous-week`): the scheduler counts it as covering
//!   Monday morning (last week's Sunday night shift, in a steady state), and the same person
//!   may also start a shift of this week before it ends.
//!   Agents without a shift this week are left out.
//! - **Skills.** Each of an agent's skills at level 1; the queue asks for its skill at
//!   level 1, so only agents carrying it take its contacts.

use std::collections::BTreeMap;

use hotline_sim::{AgentSpec, Dist, NonNeg, QueueSpec, Report, Scenario, Window};

use crate::schedule::Schedule;
use crate::{Activity, INTERVAL_MINUTES, INTERVALS_PER_WEEK, Minute};

const WEEK_MINUTES: Minute = INTERVALS_PER_WEEK as Minute * INTERVAL_MINUTES;

/// The queue the schedule is run against.
#[derive(Clone, Debug, PartialEq)]
pub struct SimQueue {
    /// Queue name in the report.
    pub name: String,
    /// Skill an agent needs to take its contacts (level 1).
    pub skill: String,
    /// Handle time distribution (exponential with the plan's mean matches Erlang).
    pub handle: Dist,
    /// Wrap-up after each contact, seconds.
    pub wrap_up_seconds: f64,
    /// Service-level threshold, seconds.
    pub target_seconds: f64,
    /// Callers' patience; `None` = they wait until answered (as Erlang C assumes).
    pub patience: Option<Dist>,
}

/// Why a schedule cannot be turned into a scenario.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimulationError {
    /// The volumes do not cover a week of intervals.
    #[error("{got} volumes given, a week has {INTERVALS_PER_WEEK} intervals")]
    VolumesLength {
        /// Number of volumes given.
        got: usize,
    },
    /// A volume is not a finite non-negative number.
    #[error("interval {interval}: volume {value} is not a finite non-negative number")]
    Volume {
        /// Index of the interval.
        interval: usize,
        /// The value.
        value: f64,
    },
    /// A queue setting is out of range.
    #[error("invalid `{name}` = {value}: must be a finite non-negative number")]
    Invalid {
        /// Setting.
        name: &'static str,
        /// Value given.
        value: f64,
    },
    /// A planned segment lies outside the week (the scheduler's shifts start inside it).
    #[error("agent `{agent}`: segment {start}..{end} lies outside the week")]
    OutsideWeek {
        /// Agent id.
        agent: String,
        /// Segment start, minutes from the epoch.
        start: Minute,
        /// Segment end.
        end: Minute,
    },
    /// The simulator refused the scenario.
    #[error("simulation: {0}")]
    Sim(String),
}

/// The one-week scenario that runs `schedule` against `volumes` (contacts per 15-minute
/// interval, [`INTERVALS_PER_WEEK`] of them, Monday 00:00 first) on `queue`.
pub fn week_scenario(
    schedule: &Schedule,
    queue: &SimQueue,
    volumes: &[f64],
    seed: u64,
) -> Result<Scenario, SimulationError> {
    week_scenario_queues(schedule, &[(queue.clone(), volumes.to_vec())], seed)
}

/// [`week_scenario`] for several queues, each with its volumes: an agent takes the contacts
/// of every queue whose skill they carry, as routing decides.
pub fn week_scenario_queues(
    schedule: &Schedule,
    queues: &[(SimQueue, Vec<f64>)],
    seed: u64,
) -> Result<Scenario, SimulationError> {
    let queue_specs = queues
        .iter()
        .map(|(q, v)| queue_spec(q, v))
        .collect::<Result<Vec<_>, _>>()?;
    let agents = agent_specs(schedule)?;
    Ok(Scenario {
        seed,
        duration_hours: NonNeg(WEEK_MINUTES as f64 / 60.0),
        warmup_hours: NonNeg(0.0),
        queues: queue_specs,
        agents,
        wellbeing: None,
        outbound: None,
    })
}

fn queue_spec(queue: &SimQueue, volumes: &[f64]) -> Result<QueueSpec, SimulationError> {
    if volumes.len() != INTERVALS_PER_WEEK {
        return Err(SimulationError::VolumesLength { got: volumes.len() });
    }
    let non_neg = |name, value: f64| {
        NonNeg::try_from(value).map_err(|_| SimulationError::Invalid { name, value })
    };
    let per_hour = 60.0 / INTERVAL_MINUTES as f64;
    let curve = volumes
        .iter()
        .enumerate()
        .map(|(interval, &v)| {
            NonNeg::try_from(v * per_hour)
                .map_err(|_| SimulationError::Volume { interval, value: v })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(QueueSpec {
        name: queue.name.clone(),
        skills: BTreeMap::from([(queue.skill.clone(), 1)]),
        target_seconds: non_neg("target_seconds", queue.target_seconds)?,
        arrivals_per_hour: NonNeg(1.0),
        curve,
        curve_minutes: INTERVAL_MINUTES as u32,
        handle_time: queue.handle.clone(),
        patience: queue.patience.clone(),
        channel: Default::default(),
        priority: 0,
        strategy: Default::default(),
        max_wait: None,
        overflow: Vec::new(),
        wrap_up_seconds: non_neg("wrap_up_seconds", queue.wrap_up_seconds)?,
        difficult_fraction: Default::default(),
        difficult_known_fraction: hotline_sim::Fraction(1.0),
        difficult_handle_factor: NonNeg(1.0),
        vip_fraction: Default::default(),
    })
}

/// One simulated agent per scheduled agent, on duty in their work segments.
fn agent_specs(schedule: &Schedule) -> Result<Vec<AgentSpec>, SimulationError> {
    let mut agents = Vec::with_capacity(schedule.agents.len());
    let mut carried = Vec::new();
    for a in &schedule.agents {
        let skills: BTreeMap<String, u8> = a.skills.iter().map(|s| (s.clone(), 1)).collect();
        let mut this_week = Vec::new();
        let mut wrapped = Vec::new();
        for seg in a
            .shifts
            .iter()
            .flat_map(|s| &s.segments)
            .filter(|s| s.activity == Activity::Work)
        {
            if seg.start < 0 || seg.end > 2 * WEEK_MINUTES || seg.end <= seg.start {
                return Err(SimulationError::OutsideWeek {
                    agent: a.id.clone(),
                    start: seg.start,
                    end: seg.end,
                });
            }
            if seg.start < WEEK_MINUTES {
                push_window(&mut this_week, seg.start, seg.end.min(WEEK_MINUTES));
            }
            if seg.end > WEEK_MINUTES {
                let from = seg.start.max(WEEK_MINUTES) - WEEK_MINUTES;
                push_window(&mut wrapped, from, seg.end - WEEK_MINUTES);
            }
        }
        let spec = |name: String, on_duty: Vec<Window>| AgentSpec {
            count: 1,
            name: Some(name),
            skills: skills.clone(),
            shift: None,
            on_duty,
        };
        // An agent without a shift this week is left out: an empty `on_duty` would mean
        // "on duty the whole run".
        if !this_week.is_empty() {
            agents.push(spec(a.id.clone(), this_week));
        }
        if !wrapped.is_empty() {
            carried.push(spec(format!("{}@previous-week", a.id), wrapped));
        }
    }
    agents.extend(carried);
    Ok(agents)
}

/// Runs [`week_scenario`] through the simulator.
pub fn simulate_week(
    schedule: &Schedule,
    queue: &SimQueue,
    volumes: &[f64],
    seed: u64,
) -> Result<Report, SimulationError> {
    simulate_week_queues(schedule, &[(queue.clone(), volumes.to_vec())], seed)
}

/// Runs [`week_scenario_queues`] through the simulator.
pub fn simulate_week_queues(
    schedule: &Schedule,
    queues: &[(SimQueue, Vec<f64>)],
    seed: u64,
) -> Result<Report, SimulationError> {
    let scenario = week_scenario_queues(schedule, queues, seed)?;
    hotline_sim::simulate(&scenario).map_err(|e| SimulationError::Sim(e.to_string()))
}

fn window(start: Minute, end: Minute) -> Window {
    Window {
        start: NonNeg(start as f64 / 60.0),
        end: NonNeg(end as f64 / 60.0),
    }
}

/// Appends `[start, end)` in minutes, merging it into the last window when they touch, so
/// the windows stay in order and apart as the simulator requires.
fn push_window(windows: &mut Vec<Window>, start: Minute, end: Minute) {
    let w = window(start, end);
    match windows.last_mut() {
        Some(last) if last.end.0 >= w.start.0 => last.end = NonNeg(last.end.0.max(w.end.0)),
        _ => windows.push(w),
    }
}
