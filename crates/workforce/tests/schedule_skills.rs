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
