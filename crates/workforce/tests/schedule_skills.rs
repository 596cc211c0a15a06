//! Scheduling a centre whose agents do not all take every queue: each queue's requirement is
//! met by agents whose skills let them take it, checked by an independent matching of the
//! working agents to the queues in every interval.

mod common;

use common::{bank_week, check};
use hotline_workforce::INTERVALS_PER_WEEK;
use hotline_workforce::schedule::{Problem, ScheduleError, solve};

fn shortfall(problem: &Problem, covered: &[u32]) -> u64 {
    (0..INTERVALS_PER_WEEK)
        .map(|i| u64::from(check::required(problem, i) - covered[i]))
        .sum()
}

#[test]
fn each_queue_is_covered_by_agents_who_can_take_it() {
    let problem = bank_week::two_queues(150);
    let demand: u64 = (0..INTERVALS_PER_WEEK)
        .map(|i| u64::from(check::required(&problem, i)))
        .sum();
    let schedule = solve(&problem).expect("valid input");
    check::check(&problem, &schedule).unwrap();
    assert_eq!(schedule.queues.len(), 2);
    for q in &schedule.queues {
        assert!(q.covered.iter().zip(&q.required).all(|(c, r)| c <= r));
    }
    // The same agents scheduled as one pool, blind to who takes what, and then matched to
    // the queues they can take.
    let mut blind = problem.clone();
    blind.requirement = (0..INTERVALS_PER_WEEK)
        .map(|i| check::required(&problem, i))
        .collect();
    blind.queues.clear();
    let pooled = solve(&blind).expect("valid input");
    let pooled_short = shortfall(&problem, &check::recompute_covered(&problem, &pooled));
    println!(
        "demand {demand}: skill-aware shortfall {}, skill-blind {pooled_short} (as one pool it thought {})",
        schedule.total_shortfall, pooled.total_shortfall
    );
    assert!(
        schedule.total_shortfall * 100 < demand,
        "shortfall {} is not under 1% of {demand}",
        schedule.total_shortfall
    );
    assert!(
        pooled_short > 3 * schedule.total_shortfall.max(1),
        "skill-blind {pooled_short} against skill-aware {}",
        schedule.total_shortfall
    );
}

#[test]
fn queue_input_errors_are_named() {
    let mut p = bank_week::two_queues(10);
    p.agents[0].queues = vec!["mortgages".into()];
    assert!(matches!(
        solve(&p),
        Err(ScheduleError::UnknownQueue { queue, .. }) if queue == "mortgages"
    ));
    let mut p = bank_week::two_queues(10);
    p.queues[1].name = "retail".into();
    assert!(matches!(
        solve(&p),
        Err(ScheduleError::InvalidQueues { .. })
    ));
    let mut p = bank_week::two_queues(10);
    p.queues[0].requirement.pop();
    assert!(matches!(
        solve(&p),
        Err(ScheduleError::InvalidQueues { .. })
    ));
    let mut p = bank_week::two_queues(10);
    p.requirement = vec![1; INTERVALS_PER_WEEK];
    assert!(matches!(
        solve(&p),
        Err(ScheduleError::InvalidQueues { .. })
    ));
}

/// Each day's share of its requirement covered.
fn day_shares(problem: &Problem, covered: &[u32]) -> Vec<f64> {
    (0..7)
        .map(|d| {
            let r = d * 96..(d + 1) * 96;
            let need: u32 = r.clone().map(|i| check::required(problem, i)).sum();
            let got: u32 = covered[r].iter().sum();
            f64::from(got) / f64::from(need)
        })
        .collect()
}

#[test]
fn too_few_agents_share_the_shortage_across_the_week() {
    // The bank week's requirement for 600 agents, with 300 of them: half the staff.
    let mut problem = bank_week::problem(600);
    problem.agents.truncate(300);
    let schedule = solve(&problem).expect("valid input");
    check::check(&problem, &schedule).unwrap();
    let covered: Vec<u32> = schedule.coverage.iter().map(|c| c.covered).collect();
    let shares = day_shares(&problem, &covered);
    println!(
        "covered share per day: {shares:.2?}, shortfall {}",
        schedule.total_shortfall
    );
    // Weekends need far less than weekdays; no day may be left to go under while another
    // is covered well.
    let (lo, hi) = shares
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), &s| (lo.min(s), hi.max(s)));
    assert!(lo > 0.5, "a day is mostly uncovered: {shares:.2?}");
    assert!(hi - lo < 0.2, "days covered unevenly: {shares:.2?}");
    // Within a day too: the busiest hours are not abandoned for the quiet ones.
    let hours: Vec<f64> = (0..7 * 24)
        .map(|h| {
            let r = h * 4..h * 4 + 4;
            let need: u32 = r.clone().map(|i| check::required(&problem, i)).sum();
            f64::from(covered[r].iter().sum::<u32>()) / f64::from(need.max(1))
        })
        .collect();
    let worst = hours.iter().copied().fold(f64::MAX, f64::min);
    println!("worst hour covered {worst:.2}");
    assert!(worst > 0.2, "an hour is left almost empty: {worst:.2}");
}
