//! A two-queue centre, planned with skills, through the real routing engine: each queue
//! meets the service level its staffing promised, while the same agents scheduled as one
//! pool (blind to who takes what) leave a queue far short.
//!
//! Retail follows a bank's day; cards have the same shape six hours later, into the evening.
//! Two agents in five take only retail, two only cards, one both. Each queue is staffed by
//! Erlang C on its own (80% within 20 s, no shrinkage: the simulator puts every working agent
//! on the phones), so the flexible agents' pooling is a margin the check does not need.

mod support;

use hotline_workforce::INTERVALS_PER_WEEK;
use hotline_workforce::schedule::{Agent, Options, Problem, QueueDemand, Schedule, solve};
use hotline_workforce::simulate::{SimQueue, simulate_week_queues};
use hotline_workforce::staffing::staff_intervals;
use support::centre::{TARGET_SL, eight_hour_shifts, queue_plan, sim_queue};
use support::synthetic;

const SEED: u64 = 20_261_203;
/// Each queue has about half the contacts of the one-queue check, so its weekly figure
/// scatters a little more.
const WEEK_MARGIN: f64 = 0.03;

struct Centre {
    volumes: Vec<(SimQueue, Vec<f64>)>,
    problem: Problem,
}

fn centre() -> Centre {
    let retail = synthetic::synthetic(1, 3_000.0, SEED).mean;
    let day = synthetic::synthetic(1, 2_000.0, SEED).mean;
    let cards: Vec<f64> = (0..INTERVALS_PER_WEEK)
        .map(|i| day[(i + INTERVALS_PER_WEEK - 24) % INTERVALS_PER_WEEK])
        .collect();
    let mut queues = Vec::new();
    let mut hours = 0.0;
    for (name, v) in [("retail", &retail), ("cards", &cards)] {
        let staffing = staff_intervals(v, &queue_plan(name)).expect("valid plan");
        let requirement: Vec<u32> = staffing.intervals.iter().map(|i| i.on_phones).collect();
        hours += requirement.iter().map(|&r| f64::from(r) / 4.0).sum::<f64>();
        queues.push(QueueDemand {
            name: name.into(),
            requirement,
        });
    }
    // Enough agents for the hours over 35 working hours a week, plus 15% for the shape of
    // the week and the split of skills.
    let n = (hours / 35.0 * 1.15).ceil() as usize;
    let agents = (0..n)
        .map(|i| {
            let takes: Vec<String> = match i % 5 {
                0 | 1 => vec!["retail".into()],
                2 | 3 => vec!["cards".into()],
                _ => vec!["retail".into(), "cards".into()],
            };
            Agent {
                id: format!("agent-{i:03}"),
                skills: takes.clone(),
                queues: takes,
                patterns: Vec::new(),
                min_weekly_minutes: 32 * 60,
                max_weekly_minutes: 40 * 60,
                days_off: 2,
                min_rest_minutes: 11 * 60,
                previous_shift_end: None,
                unavailable: Vec::new(),
                preferences: Vec::new(),
            }
        })
        .collect();
    Centre {
        volumes: vec![(sim_queue("retail"), retail), (sim_queue("cards"), cards)],
        problem: Problem {
            requirement: Vec::new(),
            queues,
            patterns: eight_hour_shifts(),
            agents,
            options: Options::default(),
        },
    }
}

/// Each queue's simulated service level over the week.
fn simulate(schedule: &Schedule, c: &Centre, label: &str) -> Vec<f64> {
    let report = simulate_week_queues(schedule, &c.volumes, SEED).expect("the scenario runs");
    report
        .queues
        .iter()
        .map(|q| {
            println!(
                "{label}: {} {} offered, {} answered, SL {:.3}, ASA {:.1} s",
                q.name, q.offered, q.answered, q.service_level, q.asa
            );
            q.service_level
        })
        .collect()
}

#[test]
fn each_queue_meets_its_target_only_when_skills_are_planned() {
    let c = centre();
    let schedule = solve(&c.problem).expect("valid input");
    println!(
        "{} agents, {} shifts, shortfall {}",
        c.problem.agents.len(),
        schedule.shift_count(),
        schedule.total_shortfall
    );
    let aware = simulate(&schedule, &c, "skill-aware");
    for (sl, (q, _)) in aware.iter().zip(&c.volumes) {
        assert!(
            *sl >= TARGET_SL - WEEK_MARGIN,
            "{}: {sl:.3} below {TARGET_SL} - {WEEK_MARGIN}",
            q.name
        );
    }
    // The same agents as one pool against the summed requirement.
    let mut blind = c.problem.clone();
    blind.requirement = (0..INTERVALS_PER_WEEK)
        .map(|i| blind.queues.iter().map(|q| q.requirement[i]).sum())
        .collect();
    blind.queues.clear();
    for a in &mut blind.agents {
        a.queues.clear();
    }
    let pooled = solve(&blind).expect("valid input");
    let blind_sl = simulate(&pooled, &c, "skill-blind");
    let worst = blind_sl.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        worst < TARGET_SL - 0.1,
        "the skill-blind plan should leave a queue well short: {blind_sl:?}"
    );
}
