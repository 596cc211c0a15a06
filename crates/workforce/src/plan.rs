//! A week's plan in one step: each queue's history → forecast → agents required per queue →
//! shifts for the named agents, each counted only on the queues their skills let them take.
//!
//! Queues are staffed each on its own: agents shared between queues pool their capacity, so
//! the requirement is on the safe side (a multi-skill centre checks the plan in the
//! simulator, which routes over the real skills).

use serde::Serialize;
use thiserror::Error;

use crate::forecast::{Forecast, ForecastConfig, ForecastError, SpecialDay, forecast};
use crate::schedule::{self, Schedule, ScheduleError};
use crate::staffing::{QueuePlan, StaffingError, StaffingPlan, staff_intervals};
use crate::{INTERVALS_PER_DAY, INTERVALS_PER_WEEK};

/// One queue: its targets and its history.
#[derive(Clone, Debug)]
pub struct QueueInput {
    pub plan: QueuePlan,
    /// Contacts offered per 15-minute interval, from Monday 00:00 of the queue's first
    /// week, whole days.
    pub history: Vec<f64>,
    /// Days from the shared epoch to the queue's first day (a multiple of 7): a queue
    /// opened later than the others starts its history later, rather than with weeks of
    /// zeros.
    pub offset_days: usize,
}

/// Everything a week's plan needs.
#[derive(Clone, Debug)]
pub struct WeekInput {
    pub queues: Vec<QueueInput>,
    /// Holidays and special days, as days from the history's epoch (past ones teach the
    /// forecast their effect; ones in the planned week apply it).
    pub special_days: Vec<SpecialDay>,
    pub forecast: ForecastConfig,
    /// The planned week starts this many days after the history's epoch (a multiple of 7,
    /// at or after the history's end).
    pub week_day: usize,
    pub patterns: Vec<schedule::ShiftPattern>,
    pub agents: Vec<schedule::Agent>,
    pub options: schedule::Options,
}

/// What was planned for one queue.
#[derive(Clone, Debug, Serialize)]
pub struct QueueOutcome {
    pub queue: String,
    /// The forecast; `volumes` and `daily_totals` cover the planned week only.
    pub forecast: Forecast,
    pub staffing: StaffingPlan,
}

/// The week's plan.
#[derive(Clone, Debug, Serialize)]
pub struct WeekPlan {
    pub queues: Vec<QueueOutcome>,
    /// Agents required at work per interval: the queues' `scheduled` figures added (the
    /// schedule's `queues` has them per queue).
    pub requirement: Vec<u32>,
    pub schedule: Schedule,
}

/// Why a week cannot be planned.
#[derive(Debug, Error)]
pub enum PlanError {
    #[error("no queue to plan for")]
    NoQueues,
    #[error(
        "the planned week must start on a Monday at or after the history's end (day {week_day}, history {history_days} days)"
    )]
    Week {
        week_day: usize,
        history_days: usize,
    },
    #[error("queue {queue}: {source}")]
    Forecast {
        queue: String,
        source: ForecastError,
    },
    #[error("queue {queue}: {source}")]
    Staffing {
        queue: String,
        source: StaffingError,
    },
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
}

/// Plans the week starting `input.week_day`.
pub fn plan_week(input: &WeekInput) -> Result<WeekPlan, PlanError> {
    if input.queues.is_empty() {
        return Err(PlanError::NoQueues);
    }
    let mut requirement = vec![0u32; INTERVALS_PER_WEEK];
    let mut queues = Vec::with_capacity(input.queues.len());
    let mut demand = Vec::with_capacity(input.queues.len());
    for q in &input.queues {
        let queue = q.plan.name.clone();
        let history_days = q.offset_days + q.history.len() / INTERVALS_PER_DAY;
        if !input.week_day.is_multiple_of(7)
            || !q.offset_days.is_multiple_of(7)
            || input.week_day < history_days
        {
            return Err(PlanError::Week {
                week_day: input.week_day,
                history_days,
            });
        }
        let horizon = input.week_day - history_days + 7;
        // Special days counted from the queue's own first day.
        let special: Vec<SpecialDay> = input
            .special_days
            .iter()
            .filter(|d| d.day >= q.offset_days)
            .map(|d| SpecialDay {
                day: d.day - q.offset_days,
                label: d.label.clone(),
            })
            .collect();
        let mut f = forecast(&q.history, &special, horizon, &input.forecast).map_err(|source| {
            PlanError::Forecast {
                queue: queue.clone(),
                source,
            }
        })?;
        let skip = (horizon - 7) * INTERVALS_PER_DAY;
        f.volumes.drain(..skip);
        f.daily_totals.drain(..horizon - 7);
        f.start_interval += skip;
        let staffing =
            staff_intervals(&f.volumes, &q.plan).map_err(|source| PlanError::Staffing {
                queue: queue.clone(),
                source,
            })?;
        for (r, i) in requirement.iter_mut().zip(&staffing.intervals) {
            *r = r.saturating_add(i.scheduled);
        }
        demand.push(schedule::QueueDemand {
            name: queue.clone(),
            requirement: staffing.intervals.iter().map(|i| i.scheduled).collect(),
        });
        queues.push(QueueOutcome {
            queue,
            forecast: f,
            staffing,
        });
    }
    // An agent naming a queue the week does not plan would take nothing, and an empty list
    // means every queue: refuse it as the scheduler would.
    for a in &input.agents {
        if let Some(q) = a
            .queues
            .iter()
            .find(|q| !demand.iter().any(|d| &&d.name == q))
        {
            return Err(PlanError::Schedule(ScheduleError::UnknownQueue {
                agent: a.id.clone(),
                queue: q.clone(),
            }));
        }
    }
    let (groups, agents) = group_queues(&demand, &input.agents);
    let mut schedule = schedule::solve(&schedule::Problem {
        requirement: requirement.clone(),
        queues: groups
            .iter()
            .map(|g| schedule::QueueDemand {
                name: g.name.clone(),
                requirement: (0..INTERVALS_PER_WEEK)
                    .map(|t| g.members.iter().map(|&q| demand[q].requirement[t]).sum())
                    .collect(),
            })
            .collect(),
        patterns: input.patterns.clone(),
        agents,
        options: input.options.clone(),
    })?;
    schedule.queues = split_groups(&groups, &demand, &schedule.queues);
    Ok(WeekPlan {
        queues,
        requirement,
        schedule,
    })
}

/// Queues that exactly the same agents may take, as one demand for the scheduler.
struct Group {
    /// Unique among the groups: the first member's name.
    name: String,
    /// Indices into the queues.
    members: Vec<usize>,
}

/// Groups the queues by who may take them, and names each agent's groups. Exact for the
/// coverage (agents who may take one queue of a group may take all), and it keeps a centre
/// with many queues but few kinds of agent within the scheduler's 64 queues.
fn group_queues(
    demand: &[schedule::QueueDemand],
    agents: &[schedule::Agent],
) -> (Vec<Group>, Vec<schedule::Agent>) {
    let takes =
        |a: &schedule::Agent, q: &str| a.queues.is_empty() || a.queues.iter().any(|x| x == q);
    let mut keys: Vec<Vec<bool>> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    for (q, d) in demand.iter().enumerate() {
        let key: Vec<bool> = agents.iter().map(|a| takes(a, &d.name)).collect();
        match keys.iter().position(|k| *k == key) {
            Some(g) => groups[g].members.push(q),
            None => {
                keys.push(key);
                groups.push(Group {
                    name: d.name.clone(),
                    members: vec![q],
                });
            }
        }
    }
    let agents = agents
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut a = a.clone();
            if !a.queues.is_empty() {
                a.queues = groups
                    .iter()
                    .zip(&keys)
                    .filter(|(_, k)| k[i])
                    .map(|(g, _)| g.name.clone())
                    .collect();
            }
            a
        })
        .collect();
    (groups, agents)
}

/// Each queue's cover from its group's: a group's agents go, one at a time, to the member
/// queue missing the largest share of its requirement.
fn split_groups(
    groups: &[Group],
    demand: &[schedule::QueueDemand],
    covered: &[schedule::QueueCoverage],
) -> Vec<schedule::QueueCoverage> {
    let mut out: Vec<schedule::QueueCoverage> = demand
        .iter()
        .map(|d| schedule::QueueCoverage {
            name: d.name.clone(),
            required: d.requirement.clone(),
            covered: vec![0; d.requirement.len()],
        })
        .collect();
    for (g, c) in groups.iter().zip(covered) {
        for (t, &n) in c.covered.iter().enumerate() {
            for _ in 0..n {
                let best = g
                    .members
                    .iter()
                    .copied()
                    .filter(|&q| out[q].covered[t] < out[q].required[t])
                    .max_by(|&a, &b| {
                        let missing =
                            |q: usize| (out[q].required[t] - out[q].covered[t], out[q].required[t]);
                        crate::matching::cmp_share_missing(missing(a), missing(b))
                    });
                match best {
                    Some(q) => out[q].covered[t] += 1,
                    None => break,
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Activity;
    use crate::schedule::{Agent, BreakRule, ShiftPattern, StartTimes};
    use crate::staffing::{ServiceTarget, Shrinkage, Wellbeing};

    /// Four weeks of a day curve: nothing at night, a plateau from 08:00 to 20:00.
    fn history() -> Vec<f64> {
        (0..28 * INTERVALS_PER_DAY)
            .map(|i| {
                let q = i % INTERVALS_PER_DAY;
                if (32..80).contains(&q) { 20.0 } else { 0.0 }
            })
            .collect()
    }

    fn input(agents: usize) -> WeekInput {
        WeekInput {
            queues: vec![QueueInput {
                plan: QueuePlan {
                    concurrency: 1,
                    name: "general".into(),
                    handle_seconds: 180.0,
                    wrap_up_seconds: 0.0,
                    target: ServiceTarget {
                        service_level: 0.8,
                        target_seconds: 20.0,
                        abandon: None,
                    },
                    shrinkage: Shrinkage::default(),
                    wellbeing: Wellbeing::default(),
                    min_agents: 0,
                },
                history: history(),
                offset_days: 0,
            }],
            special_days: vec![],
            forecast: ForecastConfig::default(),
            week_day: 35,
            patterns: vec![ShiftPattern {
                name: "8h".into(),
                minutes: 480,
                starts: StartTimes {
                    first: 6 * 60,
                    last: 14 * 60,
                    every: 60,
                },
                breaks: vec![BreakRule {
                    activity: Activity::Lunch,
                    minutes: 30,
                    earliest_start: 180,
                    latest_end: 330,
                }],
            }],
            agents: (0..agents)
                .map(|i| Agent {
                    id: format!("{}", 1001 + i),
                    skills: vec![],
                    queues: vec![],
                    patterns: vec![],
                    min_weekly_minutes: 0,
                    max_weekly_minutes: 5 * 480,
                    days_off: 2,
                    min_rest_minutes: 11 * 60,
                    previous_shift_end: None,
                    unavailable: vec![],
                    preferences: vec![],
                })
                .collect(),
            options: schedule::Options::default(),
        }
    }

    #[test]
    fn a_week_after_a_gap_is_forecast_staffed_and_scheduled() {
        let p = plan_week(&input(40)).unwrap();
        let q = &p.queues[0];
        // The planned week (day 35) is a week after the history's end (day 28).
        assert_eq!(q.forecast.start_interval, 35 * INTERVALS_PER_DAY);
        assert_eq!(q.forecast.volumes.len(), INTERVALS_PER_WEEK);
        // 20 calls a quarter hour at 180 s: 4 Erlangs, 7 agents for 80/20; none at night.
        let at = |day: usize, q: usize| p.requirement[day * INTERVALS_PER_DAY + q];
        assert!((6..=8).contains(&at(2, 48)), "{}", at(2, 48));
        assert_eq!(at(2, 4), 0);
        assert_eq!(p.schedule.coverage.len(), INTERVALS_PER_WEEK);
        let short: u64 = p
            .schedule
            .coverage
            .iter()
            .map(|c| u64::from(c.required.saturating_sub(c.working)))
            .sum();
        assert_eq!(short, p.schedule.total_shortfall);
    }

    #[test]
    fn many_queues_taken_by_few_kinds_of_agent_are_planned_and_split_back() {
        // 70 queues (more than the scheduler's 64): the first 35 taken by half the agents,
        // all of them by the other half.
        let mut i = input(60);
        let q = i.queues[0].clone();
        i.queues = (0..70)
            .map(|n| {
                let mut q = q.clone();
                q.plan.name = format!("q{n}");
                q.history.iter_mut().for_each(|v| *v /= 10.0);
                q
            })
            .collect();
        for (n, a) in i.agents.iter_mut().enumerate() {
            if n % 2 == 0 {
                a.queues = (0..35).map(|k| format!("q{k}")).collect();
            }
        }
        let p = plan_week(&i).unwrap();
        assert_eq!(p.schedule.queues.len(), 70);
        for t in 0..INTERVALS_PER_WEEK {
            let split: u32 = p.schedule.queues.iter().map(|q| q.covered[t]).sum();
            assert_eq!(split, p.schedule.coverage[t].covered, "interval {t}");
            for q in &p.schedule.queues {
                assert!(q.covered[t] <= q.required[t]);
            }
        }
    }

    #[test]
    fn an_agent_naming_a_queue_not_planned_is_refused() {
        let mut i = input(5);
        i.agents[2].queues = vec!["mortgages".into()];
        assert!(matches!(
            plan_week(&i),
            Err(PlanError::Schedule(ScheduleError::UnknownQueue { queue, .. })) if queue == "mortgages"
        ));
    }

    #[test]
    fn a_week_inside_the_history_or_off_monday_is_refused() {
        let mut i = input(5);
        i.week_day = 21;
        assert!(matches!(plan_week(&i), Err(PlanError::Week { .. })));
        i.week_day = 30;
        assert!(matches!(plan_week(&i), Err(PlanError::Week { .. })));
        i.week_day = 35;
        i.queues[0].offset_days = 3;
        assert!(matches!(plan_week(&i), Err(PlanError::Week { .. })));
        i.queues[0].offset_days = 0;
        i.week_day = 28;
        i.queues[0].history.truncate(5 * INTERVALS_PER_DAY);
        assert!(matches!(plan_week(&i), Err(PlanError::Forecast { .. })));
        i.queues.clear();
        assert!(matches!(plan_week(&i), Err(PlanError::NoQueues)));
    }
}
