//! Random small weeks: whatever the input, the schedule keeps every hard rule and reports the
//! coverage its segments give.

mod common;

use common::check;
use hotline_workforce::schedule::{
    Agent, BreakRule, Options, Problem, ScheduleError, ShiftPattern, StartPreference, StartTimes,
    TimeRange, solve,
};
use hotline_workforce::{Activity, INTERVALS_PER_WEEK, Minute};
use proptest::prelude::*;

const WEEK: Minute = 7 * 24 * 60;

/// A pattern of 4–10 h whose breaks lie in successive parts of the shift, each window
/// reaching `overlap` quarters into the next part so that windows may overlap.
fn pattern(name: String) -> impl Strategy<Value = ShiftPattern> {
    (
        16i64..=40,
        0usize..=3,
        prop::collection::vec((1i64..=2, 0i64..=3, 0i64..=6), 3),
        0i64..=4,
        prop::sample::select(vec![15i64, 30, 60, 120]),
        0i64..=8,
    )
        .prop_map(move |(len, n, shape, first, every, late)| {
            let part = len / (n as i64 + 1);
            let breaks = (0..n)
                .map(|k| {
                    let (blen, offset, overlap) = shape[k];
                    let from = part * (k as i64 + 1);
                    let earliest = (from + offset.min(part - blen)).max(0);
                    let latest_end = (from + part + overlap).min(len).max(earliest + blen);
                    BreakRule {
                        activity: if k == 1 {
                            Activity::Lunch
                        } else {
                            Activity::Break
                        },
                        minutes: blen * 15,
                        earliest_start: earliest * 15,
                        latest_end: latest_end * 15,
                    }
                })
                .collect();
            ShiftPattern {
                name: name.clone(),
                minutes: len * 15,
                starts: StartTimes {
                    first: first * 15,
                    last: 24 * 60 - 15 - late * 15,
                    every,
                },
                breaks,
            }
        })
}

fn range(max_len: Minute) -> impl Strategy<Value = TimeRange> {
    (0..WEEK, 60..=max_len).prop_map(|(start, len)| TimeRange {
        start,
        end: start + len,
    })
}

fn agent(i: usize, patterns: usize) -> impl Strategy<Value = Agent> {
    (
        prop::option::of(0..patterns),
        0u32..=3,
        prop::sample::select(vec![0i64, 8 * 60, 11 * 60, 12 * 60]),
        prop::option::of(-720i64..=300),
        prop::collection::vec(range(2 * 1440), 0..=2),
        prop::collection::vec((range(600), -5i64..=5), 0..=3),
        0i64..=3,
        0i64..=3,
    )
        .prop_map(
            move |(pattern, days_off, rest, previous, unavailable, prefs, shifts, extra)| Agent {
                queues: vec![],
                id: format!("a{i}"),
                skills: vec![format!("skill{}", i % 3)],
                patterns: pattern.map(|p| vec![format!("p{p}")]).unwrap_or_default(),
                // A window of at least 10 h holds a whole number of any pattern length, so most
                // random contracts are reachable.
                min_weekly_minutes: shifts * 4 * 60,
                max_weekly_minutes: shifts * 4 * 60 + (1 + extra) * 10 * 60,
                days_off,
                min_rest_minutes: rest,
                previous_shift_end: previous,
                unavailable,
                preferences: prefs
                    .into_iter()
                    .map(|(range, weight)| StartPreference { range, weight })
                    .collect(),
            },
        )
}

fn problem() -> impl Strategy<Value = Problem> {
    (1usize..=3, 1usize..=8)
        .prop_flat_map(|(np, na)| {
            let patterns: Vec<_> = (0..np).map(|i| pattern(format!("p{i}"))).collect();
            let agents: Vec<_> = (0..na).map(|i| agent(i, np)).collect();
            (
                prop::collection::vec(0u32..=4, INTERVALS_PER_WEEK),
                patterns,
                agents,
                1u32..=6,
                0u32..=2,
            )
        })
        .prop_map(|(requirement, patterns, agents, under, over)| Problem {
            queues: vec![],
            requirement,
            patterns,
            agents,
            options: Options {
                under_weight: under,
                over_weight: over,
                max_passes: 6,
            },
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn hard_rules_hold_and_coverage_is_reported_exactly(problem in problem()) {
        match solve(&problem) {
            Ok(schedule) => {
                if let Err(e) = check::check(&problem, &schedule) {
                    return Err(TestCaseError::fail(e));
                }
            }
            // Some random contracts cannot be met under the random unavailability; the
            // error cases have their own tests.
            Err(ScheduleError::ContractImpossible { .. }) => prop_assume!(false),
            Err(e) => return Err(TestCaseError::fail(format!("valid input refused: {e}"))),
        }
    }
}

/// Any numbers at all, valid or not.
fn wild_problem() -> impl Strategy<Value = Problem> {
    let minute = prop_oneof![
        -20_000i64..=20_000,
        Just(i64::MIN),
        Just(i64::MAX),
        (0i64..=100).prop_map(|q| q * 15),
    ];
    let pattern = (
        0usize..4,
        minute.clone(),
        (minute.clone(), minute.clone(), minute.clone()),
        prop::collection::vec(
            (minute.clone(), minute.clone(), minute.clone(), 0usize..4),
            0..=3,
        ),
    )
        .prop_map(|(n, minutes, (first, last, every), breaks)| ShiftPattern {
            name: format!("p{n}"),
            minutes,
            starts: StartTimes { first, last, every },
            breaks: breaks
                .into_iter()
                .map(|(m, e, l, a)| BreakRule {
                    activity: [
                        Activity::Work,
                        Activity::Break,
                        Activity::Lunch,
                        Activity::Offline,
                    ][a],
                    minutes: m,
                    earliest_start: e,
                    latest_end: l,
                })
                .collect(),
        });
    let agent = (
        0usize..6,
        prop::collection::vec(0usize..4, 0..=2),
        (minute.clone(), minute.clone(), 0u32..=9, minute.clone()),
        prop::option::of(minute.clone()),
        prop::collection::vec((minute.clone(), minute.clone()), 0..=2),
        prop::collection::vec((minute.clone(), minute.clone(), any::<i64>()), 0..=2),
    )
        .prop_map(
            |(id, pats, (min, max, days_off, rest), previous, unavailable, prefs)| Agent {
                queues: vec![],
                id: format!("a{id}"),
                skills: vec![],
                patterns: pats.into_iter().map(|p| format!("p{p}")).collect(),
                min_weekly_minutes: min,
                max_weekly_minutes: max,
                days_off,
                min_rest_minutes: rest,
                previous_shift_end: previous,
                unavailable: unavailable
                    .into_iter()
                    .map(|(start, end)| TimeRange { start, end })
                    .collect(),
                preferences: prefs
                    .into_iter()
                    .map(|(start, end, weight)| StartPreference {
                        range: TimeRange { start, end },
                        weight,
                    })
                    .collect(),
            },
        );
    (
        prop_oneof![
            prop::collection::vec(any::<u32>(), INTERVALS_PER_WEEK),
            prop::collection::vec(0u32..=3, 0..=700),
        ],
        prop::collection::vec(pattern, 0..=3),
        prop::collection::vec(agent, 0..=4),
        any::<u32>(),
        any::<u32>(),
        0u32..=4,
    )
        .prop_map(
            |(requirement, patterns, agents, under, over, max_passes)| Problem {
                queues: vec![],
                requirement,
                patterns,
                agents,
                options: Options {
                    under_weight: under,
                    over_weight: over,
                    max_passes,
                },
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Bad input is an error, never a panic; whatever is accepted keeps the rules.
    #[test]
    fn any_input_gives_a_legal_schedule_or_an_error(problem in wild_problem()) {
        if let Ok(schedule) = solve(&problem)
            && let Err(e) = check::check(&problem, &schedule)
        {
            return Err(TestCaseError::fail(e));
        }
    }
}
