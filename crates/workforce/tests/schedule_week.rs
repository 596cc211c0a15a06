//! The scheduler on a generated bank week, its input errors and its determinism.

mod common;

use std::time::Instant;

use common::{bank_week, check};
use hotline_workforce::INTERVALS_PER_WEEK;
use hotline_workforce::schedule::{ScheduleError, StartPreference, TimeRange, solve};

/// Solves the bank week for `n` agents and asserts the rules, the reported coverage and a
/// shortfall under 0.5% of the required agent-intervals (the staff suffices: the contracts
/// supply about 18% more working time than required).
fn bank_week_holds(n: usize) {
    let problem = bank_week::problem(n);
    let demand: u64 = problem.requirement.iter().map(|&r| u64::from(r)).sum();
    let started = Instant::now();
    let schedule = solve(&problem).expect("the bank week is valid input");
    let elapsed = started.elapsed();
    println!(
        "{n} agents: {} shifts, solve {elapsed:?}, {} passes, shortfall {} / {demand} agent-intervals in {} intervals, overstaffing {}, bounds {:?}",
        schedule.shift_count(),
        schedule.passes,
        schedule.total_shortfall,
        schedule.short_intervals.len(),
        schedule.total_overstaffing,
        schedule.bounds,
    );
    check::check(&problem, &schedule).unwrap();
    assert_eq!(
        schedule.bounds.shortfall, 0,
        "staff should suffice for this week"
    );
    assert!(
        schedule.total_shortfall * 200 < demand,
        "shortfall {} is not under 0.5% of {demand}",
        schedule.total_shortfall
    );
}

#[test]
fn bank_week_150_agents() {
    bank_week_holds(150);
}

#[test]
fn bank_week_600_agents() {
    bank_week_holds(600);
}

#[test]
fn same_input_same_schedule() {
    let problem = bank_week::problem(40);
    assert_eq!(solve(&problem).unwrap(), solve(&problem).unwrap());
}

#[test]
fn free_shifts_follow_preferences() {
    // Nothing is required, so only the preference decides where the shifts go.
    let mut problem = bank_week::problem(3);
    problem.requirement = vec![0; INTERVALS_PER_WEEK];
    for agent in &mut problem.agents {
        agent.preferences = (0..7)
            .map(|d| StartPreference {
                range: TimeRange {
                    start: d * 1440 + 13 * 60,
                    end: d * 1440 + 14 * 60,
                },
                weight: 50,
            })
            .collect();
    }
    let schedule = solve(&problem).unwrap();
    check::check(&problem, &schedule).unwrap();
    for shift in schedule.agents.iter().flat_map(|a| &a.shifts) {
        let sod = shift.start % 1440;
        assert!(
            (13 * 60..14 * 60).contains(&sod),
            "start {} not preferred",
            shift.start
        );
    }
}

#[test]
fn short_staff_is_reported_not_hidden() {
    // 20 agents for a week sized for 600.
    let mut problem = bank_week::problem(600);
    problem.agents.truncate(20);
    let schedule = solve(&problem).unwrap();
    check::check(&problem, &schedule).unwrap();
    assert!(schedule.bounds.shortfall > 0);
    assert!(schedule.total_shortfall >= schedule.bounds.shortfall);
    assert!(!schedule.short_intervals.is_empty());
}

#[test]
fn bad_input_is_an_error() {
    let good = bank_week::problem(5);

    let mut p = good.clone();
    p.requirement.pop();
    assert_eq!(
        solve(&p),
        Err(ScheduleError::RequirementLength { got: 671 })
    );

    let mut p = good.clone();
    p.agents.clear();
    assert_eq!(solve(&p), Err(ScheduleError::NoAgents));

    let mut p = good.clone();
    p.patterns[0].breaks[2].latest_end = 8 * 60 + 15;
    let err = solve(&p).unwrap_err();
    assert!(
        matches!(err, ScheduleError::BreakOutsideShift { index: 2, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("outside the 480-minute shift"),
        "{err}"
    );

    // A window start so large that adding the break's length would overflow: an error.
    let mut p = good.clone();
    p.patterns[1].breaks[1].earliest_start = i64::MAX / 15 * 15;
    assert!(matches!(
        solve(&p),
        Err(ScheduleError::BreakOutsideShift { .. }) | Err(ScheduleError::InvalidPattern { .. })
    ));

    let mut p = good.clone();
    p.patterns[1].breaks[1].earliest_start = 600;
    assert!(matches!(
        solve(&p),
        Err(ScheduleError::BreakOutsideShift { .. }) | Err(ScheduleError::InvalidPattern { .. })
    ));

    let mut p = good.clone();
    p.patterns[0].minutes = 470;
    assert!(matches!(
        solve(&p),
        Err(ScheduleError::InvalidPattern { .. })
    ));

    // 48 h of 8-hour shifts with 2 days off cannot be worked.
    let mut p = good.clone();
    p.agents[0].min_weekly_minutes = 48 * 60;
    p.agents[0].max_weekly_minutes = 48 * 60;
    let err = solve(&p).unwrap_err();
    assert!(
        matches!(err, ScheduleError::ContractImpossible { .. }),
        "{err}"
    );

    let mut p = good.clone();
    p.agents[0].min_weekly_minutes = 41 * 60;
    assert!(matches!(
        solve(&p),
        Err(ScheduleError::ContractImpossible { .. })
    ));

    // 40 h with four of seven days unavailable leaves three days: impossible.
    let mut p = good.clone();
    p.agents[0].unavailable = vec![TimeRange {
        start: 0,
        end: 4 * 1440,
    }];
    assert!(matches!(
        solve(&p),
        Err(ScheduleError::ContractImpossible { .. })
    ));

    let mut p = good.clone();
    p.agents[1].patterns = vec!["12h".into()];
    assert!(matches!(
        solve(&p),
        Err(ScheduleError::UnknownPattern { .. })
    ));

    let mut p = good;
    p.agents[1].id = p.agents[0].id.clone();
    assert!(matches!(solve(&p), Err(ScheduleError::InvalidAgent { .. })));
}

#[test]
fn day_shifts_are_the_shifts_starting_that_day() {
    let problem = bank_week::problem(40);
    let schedule = solve(&problem).unwrap();
    let mut seen = 0;
    for day in 0..7u32 {
        for d in schedule.day_shifts(day) {
            let agent = schedule.agents.iter().find(|a| a.id == d.agent).unwrap();
            let shift = agent
                .shifts
                .iter()
                .find(|s| s.start / 1440 == i64::from(day))
                .unwrap();
            assert_eq!(d.start_hour * 60.0, (shift.start % 1440) as f64);
            assert_eq!(d.end_hour * 60.0, (shift.end % 1440) as f64);
            assert!((0.0..24.0).contains(&d.end_hour));
            assert_eq!(d.skills, agent.skills);
            seen += 1;
        }
    }
    assert_eq!(seen, schedule.shift_count());
}
