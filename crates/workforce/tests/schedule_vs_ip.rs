//! The scheduler against the integer program it approximates.
//!
//! The shift-scheduling set covering (Dantzig), with the lunch placed explicitly: one integer
//! variable per (start, lunch placement), and per interval the agents short and the agents
//! over, costed as the scheduler's options cost them (5 per agent-interval short, 1 over). Its
//! only agent rules are the supply: at most one shift per agent a day and five a week. Any
//! legal schedule of named agents (no overlapping shifts, rest, days off, contract hours on
//! top) is a solution of it, so its optimum bounds the scheduler's cost from below; solved
//! to proven optimality by branch and bound (microlp, pure Rust), the gap says how far at
//! most the heuristic is from the best.

mod common;

use std::time::Instant;

use common::bank_week;
use hotline_workforce::schedule::{
    Agent, BreakRule, Options, Problem, ShiftPattern, StartTimes, solve,
};
use hotline_workforce::{Activity, INTERVALS_PER_DAY, INTERVALS_PER_WEEK};
use microlp::{ComparisonOp, OptimizationDirection, Problem as Ip};

const AGENTS: usize = 60;
const SHIFT: usize = 32; // 8 h in quarter hours
const LUNCH: usize = 2; // 30 minutes
/// The lunch starts 3 h to 5 h 30 min into the shift (minus its length): 9 places.
const LUNCH_FIRST: usize = 12;
const LUNCH_LAST: usize = 20;

fn pattern() -> ShiftPattern {
    ShiftPattern {
        name: "8h".into(),
        minutes: 480,
        starts: StartTimes {
            first: 0,
            last: 23 * 60,
            every: 60,
        },
        breaks: vec![BreakRule {
            activity: Activity::Lunch,
            minutes: 30,
            earliest_start: 180,
            latest_end: 330,
        }],
    }
}

fn problem(rest_minutes: i64) -> Problem {
    Problem {
        requirement: bank_week::requirement(35),
        queues: Vec::new(),
        patterns: vec![pattern()],
        agents: (0..AGENTS)
            .map(|i| Agent {
                id: format!("a{i}"),
                skills: Vec::new(),
                queues: Vec::new(),
                patterns: Vec::new(),
                min_weekly_minutes: 0,
                max_weekly_minutes: 40 * 60,
                days_off: 2,
                min_rest_minutes: rest_minutes,
                previous_shift_end: None,
                unavailable: Vec::new(),
                preferences: Vec::new(),
            })
            .collect(),
        options: Options::default(),
    }
}

/// The integer program's optimum cost.
fn ip_optimum(req: &[u32], wu: f64, wo: f64) -> f64 {
    let mut ip = Ip::new(OptimizationDirection::Minimize);
    // cover[t]: the shift variables working in interval t.
    let mut cover: Vec<Vec<microlp::Variable>> = vec![Vec::new(); INTERVALS_PER_WEEK];
    let mut per_day: Vec<Vec<microlp::Variable>> = vec![Vec::new(); 7];
    for start in (0..INTERVALS_PER_WEEK).step_by(4) {
        for lunch in LUNCH_FIRST..=LUNCH_LAST {
            let x = ip.add_integer_var(0.0, (0, AGENTS as i32));
            for k in (0..SHIFT).filter(|k| !(lunch..lunch + LUNCH).contains(k)) {
                cover[(start + k) % INTERVALS_PER_WEEK].push(x);
            }
            per_day[start / INTERVALS_PER_DAY].push(x);
        }
    }
    let mut unders = Vec::new();
    for (t, vars) in cover.iter().enumerate() {
        let under = ip.add_var(wu, (0.0, f64::INFINITY));
        unders.push(under);
        let over = ip.add_var(wo, (0.0, f64::INFINITY));
        let mut expr: Vec<(microlp::Variable, f64)> = vars.iter().map(|&v| (v, 1.0)).collect();
        expr.push((under, 1.0));
        expr.push((over, -1.0));
        ip.add_constraint(expr.as_slice(), ComparisonOp::Eq, f64::from(req[t]));
    }
    let mut all = Vec::new();
    for vars in &per_day {
        let expr: Vec<(microlp::Variable, f64)> = vars.iter().map(|&v| (v, 1.0)).collect();
        ip.add_constraint(expr.as_slice(), ComparisonOp::Le, AGENTS as f64);
        all.extend(expr);
    }
    ip.add_constraint(all.as_slice(), ComparisonOp::Le, (AGENTS * 5) as f64);
    let solution = ip
        .solve()
        .expect("the program solves")
        .into_solution()
        .expect("it has an optimum");
    assert_eq!(
        solution.status(),
        microlp::SolutionStatus::Optimal,
        "optimality proved"
    );
    let short: f64 = unders.iter().map(|&v| solution.var_value(v)).sum();
    println!(
        "integer program: shortfall {short:.0}, overstaffing {:.0}",
        solution.objective() - wu * short
    );
    solution.objective()
}

/// The scheduler's cost and the program's optimum for agents resting `rest_minutes`.
fn costs(rest_minutes: i64) -> (f64, f64) {
    let p = problem(rest_minutes);
    let (wu, wo) = (
        f64::from(p.options.under_weight),
        f64::from(p.options.over_weight),
    );
    let started = Instant::now();
    let schedule = solve(&p).expect("valid input");
    let heuristic_s = started.elapsed().as_secs_f64();
    let cost = wu * schedule.total_shortfall as f64 + wo * schedule.total_overstaffing as f64;
    let started = Instant::now();
    let optimum = ip_optimum(&p.requirement, wu, wo);
    let ip_s = started.elapsed().as_secs_f64();
    println!(
        "rest {rest_minutes} min: heuristic shortfall {}, overstaffing {}, cost {cost} in {heuristic_s:.2} s; optimum {optimum:.0} in {ip_s:.2} s; gap {:.2}%",
        schedule.total_shortfall,
        schedule.total_overstaffing,
        100.0 * (cost - optimum) / optimum
    );
    assert!(cost >= optimum - 1e-6, "the optimum bounds every schedule");
    (cost, optimum)
}

#[test]
fn without_the_rest_rule_the_heuristic_is_within_5_percent_of_the_bound() {
    // Without the rest rule the program is nearly the same problem: its shift counts can be
    // split among the agents (at most one a day each, five a week) except where a late shift
    // would overlap the same agent's next-day early one.
    let (cost, optimum) = costs(0);
    assert!(cost <= optimum * 1.05, "{cost} against {optimum}");
}

#[test]
fn with_eleven_hours_rest_the_heuristic_stays_within_6_percent_of_the_bound() {
    let (cost, optimum) = costs(11 * 60);
    assert!(cost <= optimum * 1.06, "{cost} against {optimum}");
}
