//! The synthetic centre the simulator checks plan: every queue answers 80% of contacts within
//! 20 s, 180 s of handle time, exponential, callers who never hang up (as Erlang C assumes);
//! agents work 8-hour shifts with breaks.
#![allow(dead_code)]

use hotline_sim::Dist;
use hotline_workforce::Activity;
use hotline_workforce::schedule::{BreakRule, ShiftPattern, StartTimes};
use hotline_workforce::simulate::SimQueue;
use hotline_workforce::staffing::{QueuePlan, ServiceTarget};

pub const AHT: f64 = 180.0;
pub const TARGET_SL: f64 = 0.8;
pub const TARGET_SECONDS: f64 = 20.0;

/// The staffing targets of queue `name` (no shrinkage: the simulator puts every working
/// agent on the phones).
pub fn queue_plan(name: &str) -> QueuePlan {
    QueuePlan {
        name: name.into(),
        handle_seconds: AHT,
        wrap_up_seconds: 0.0,
        target: ServiceTarget {
            service_level: TARGET_SL,
            target_seconds: TARGET_SECONDS,
            abandon: None,
        },
        shrinkage: Default::default(),
        wellbeing: Default::default(),
        min_agents: 1,
        concurrency: 1,
    }
}

/// Queue `name` in the simulator: its contacts need the skill of the same name.
pub fn sim_queue(name: &str) -> SimQueue {
    SimQueue {
        name: name.into(),
        skill: name.into(),
        handle: Dist::Exponential { mean: AHT },
        wrap_up_seconds: 0.0,
        target_seconds: TARGET_SECONDS,
        patience: None,
    }
}

/// 8-hour shifts starting every 30 minutes around the clock: a 15-minute break, a 30-minute
/// lunch and another 15-minute break, each in a window (7 hours on the phones).
pub fn eight_hour_shifts() -> Vec<ShiftPattern> {
    let rule = |activity, minutes, earliest_start, latest_end| BreakRule {
        activity,
        minutes,
        earliest_start,
        latest_end,
    };
    vec![ShiftPattern {
        name: "8h".into(),
        minutes: 8 * 60,
        starts: StartTimes {
            first: 0,
            last: 23 * 60 + 30,
            every: 30,
        },
        breaks: vec![
            rule(Activity::Break, 15, 60, 180),
            rule(Activity::Lunch, 30, 180, 330),
            rule(Activity::Break, 15, 330, 450),
        ],
    }]
}
