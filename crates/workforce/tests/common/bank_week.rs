//! A generated bank week: the requirement curve, 8-hour and 10-hour patterns, and agents with
//! 40-hour contracts, shared by the schedule tests and the benchmark example.

use hotline_workforce::schedule::{
    Agent, BreakRule, Options, Problem, QueueDemand, ShiftPattern, StartPreference, StartTimes,
    TimeRange,
};
use hotline_workforce::{Activity, INTERVALS_PER_DAY, INTERVALS_PER_WEEK, Minute};

/// Share of the peak needed at each full hour of a weekday: a few agents at night, a ramp
/// from 06:00, peaks 09:00–11:00 and 14:00–16:00, a dip at lunch, a long evening tail.
const HOURLY: [f64; 25] = [
    0.03, 0.02, 0.02, 0.02, 0.02, 0.04, 0.10, 0.30, 0.65, 0.95, 1.00, 0.90, 0.70, 0.75, 0.92, 0.95,
    0.80, 0.55, 0.35, 0.22, 0.15, 0.10, 0.06, 0.04, 0.03,
];

/// Monday is the busiest day, weekends are quiet.
const DAILY: [f64; 7] = [1.0, 0.9, 0.9, 0.9, 0.9, 0.45, 0.3];

/// Agents required per 15-minute interval, Monday 00:00 first; Monday's peak is `peak`.
pub fn requirement(peak: u32) -> Vec<u32> {
    let mut req = Vec::with_capacity(7 * INTERVALS_PER_DAY);
    for day in DAILY {
        for i in 0..INTERVALS_PER_DAY {
            let (h, q) = (i / 4, (i % 4) as f64 / 4.0);
            let share = HOURLY[h] + (HOURLY[h + 1] - HOURLY[h]) * q;
            req.push(((f64::from(peak) * day * share).ceil() as u32).max(2));
        }
    }
    req
}

fn rule(
    activity: Activity,
    minutes: Minute,
    earliest_start: Minute,
    latest_end: Minute,
) -> BreakRule {
    BreakRule {
        activity,
        minutes,
        earliest_start,
        latest_end,
    }
}

/// 8 h and 10 h shifts starting every 30 minutes around the clock, each with a 15-minute
/// break, a 30-minute lunch and another 15-minute break in windows.
pub fn patterns() -> Vec<ShiftPattern> {
    let every_half_hour = StartTimes {
        first: 0,
        last: 23 * 60 + 30,
        every: 30,
    };
    vec![
        ShiftPattern {
            name: "8h".into(),
            minutes: 8 * 60,
            starts: every_half_hour.clone(),
            breaks: vec![
                rule(Activity::Break, 15, 60, 180),
                rule(Activity::Lunch, 30, 180, 330),
                rule(Activity::Break, 15, 330, 450),
            ],
        },
        ShiftPattern {
            name: "10h".into(),
            minutes: 10 * 60,
            starts: every_half_hour,
            breaks: vec![
                rule(Activity::Break, 15, 60, 210),
                rule(Activity::Lunch, 30, 210, 390),
                rule(Activity::Break, 15, 390, 570),
            ],
        },
    ]
}

/// `n` agents on 40-hour contracts: two thirds work 5 × 8 h, one third 4 × 10 h, all with
/// at least 2 days off and 11 h rest. Some cannot work Wednesdays, some prefer early starts,
/// some dislike nights, some ended last week late on Sunday.
pub fn agents(n: usize) -> Vec<Agent> {
    const DAY: Minute = 24 * 60;
    (0..n)
        .map(|i| {
            let ten = i % 3 == 2;
            let mut unavailable = Vec::new();
            if i % 10 == 3 {
                unavailable.push(TimeRange {
                    start: 2 * DAY,
                    end: 3 * DAY,
                });
            }
            let mut preferences = Vec::new();
            if i % 7 == 1 {
                for d in 0..7 {
                    preferences.push(StartPreference {
                        range: TimeRange {
                            start: d * DAY + 6 * 60,
                            end: d * DAY + 9 * 60,
                        },
                        weight: 2,
                    });
                }
            }
            if i % 5 == 4 {
                for d in 0..7 {
                    preferences.push(StartPreference {
                        range: TimeRange {
                            start: d * DAY,
                            end: d * DAY + 5 * 60,
                        },
                        weight: -3,
                    });
                }
            }
            Agent {
                queues: vec![],
                id: format!("agent-{i:03}"),
                skills: vec![if i % 2 == 0 { "retail" } else { "cards" }.into()],
                patterns: vec![if ten { "10h" } else { "8h" }.into()],
                min_weekly_minutes: 40 * 60,
                max_weekly_minutes: 40 * 60,
                days_off: 2,
                min_rest_minutes: 11 * 60,
                previous_shift_end: (i % 11 == 5).then_some(-60),
                unavailable,
                preferences,
            }
        })
        .collect()
}

/// The week for `n` agents, the requirement scaled so that a peak of 350 goes with 600 agents.
pub fn problem(n: usize) -> Problem {
    let peak = (350 * n).div_ceil(600) as u32;
    Problem {
        queues: vec![],
        requirement: requirement(peak),
        patterns: patterns(),
        agents: agents(n),
        options: Options::default(),
    }
}

/// The week for `n` agents on two queues. Retail follows the bank's day; cards peaks six hours later, into the evening. Of the
/// agents, two in five take only retail, two in five only cards, one in five both.
pub fn two_queues(n: usize) -> Problem {
    let peak = (350 * n).div_ceil(600) as u32;
    let retail = requirement(peak * 3 / 5);
    let day_shape = requirement(peak * 2 / 5);
    let cards: Vec<u32> = (0..INTERVALS_PER_WEEK)
        .map(|i| day_shape[(i + INTERVALS_PER_WEEK - 24) % INTERVALS_PER_WEEK])
        .collect();
    let mut agents = agents(n);
    for (i, a) in agents.iter_mut().enumerate() {
        a.queues = match i % 5 {
            0 | 1 => vec!["retail".into()],
            2 | 3 => vec!["cards".into()],
            _ => vec![],
        };
    }
    Problem {
        requirement: Vec::new(),
        queues: vec![
            QueueDemand {
                name: "retail".into(),
                requirement: retail,
            },
            QueueDemand {
                name: "cards".into(),
                requirement: cards,
            },
        ],
        patterns: patterns(),
        agents,
        options: Default::default(),
    }
}
