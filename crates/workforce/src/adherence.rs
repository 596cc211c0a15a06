//! Schedule adherence: did the agent do what the plan said, when it said?
//!
//! The plan is an agent's [`Segment`]s (minutes from the epoch); what happened is the agent's
//! state changes from the event log, each with the second it took effect (seconds from the
//! same epoch). Both are classified into two kinds of time:
//!
//! - planned [`Activity::Work`] is in adherence while the agent is [`Actual::Ready`]
//!   (available, on a contact, in wrap-up);
//! - planned [`Activity::Break`], [`Activity::Lunch`] and [`Activity::Offline`] are in
//!   adherence while the agent is *not* taking contacts (on a break, not ready, logged out).
//!   Taking calls during a planned break is out of adherence: the plan counted on the break
//!   being taken then, and the colleague whose break was placed after it is short.
//!
//! Adherence % = seconds in adherence / scheduled seconds, over the scheduled time only.
//! Time worked outside the plan is reported separately (`unscheduled_ready`), as is
//! conformance (seconds ready / seconds planned as work), so that a supervisor sees both
//! "on time" and "enough".
//!
//! The percentage counts every second. A *grace* applies to what is shown as an exception
//! and to "out of adherence now": an agent two minutes late back from a break, within a
//! grace of three, is not flagged; the two minutes still count against the percentage.

use serde::{Deserialize, Serialize};

use crate::{Activity, Segment};

/// Seconds from the epoch the plan's minutes count from.
pub type Second = i64;

/// What an agent was doing, classified from its state and contacts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actual {
    /// Taking contacts: available, on a contact, or in wrap-up.
    Ready,
    /// Logged in, not taking contacts.
    NotReady,
    /// On a break.
    Break,
    /// Logged out.
    LoggedOut,
}

impl Actual {
    /// The name in JSON and in the API.
    pub fn name(self) -> &'static str {
        match self {
            Actual::Ready => "ready",
            Actual::NotReady => "not_ready",
            Actual::Break => "break",
            Actual::LoggedOut => "logged_out",
        }
    }

    fn ready(self) -> bool {
        self == Actual::Ready
    }
}

/// From `at` on, the agent was `state` (until the next change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    pub at: Second,
    pub state: Actual,
}

/// The planned activity, or none outside the agent's shifts.
fn in_adherence(planned: Option<Activity>, actual: Actual) -> bool {
    match planned {
        None => true,
        Some(Activity::Work) => actual.ready(),
        Some(Activity::Break | Activity::Lunch | Activity::Offline) => !actual.ready(),
    }
}

/// A stretch out of adherence longer than the grace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exception {
    pub start: Second,
    pub end: Second,
    pub planned: Activity,
    pub actual: Actual,
}

/// Adherence over a window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Adherence {
    /// Seconds the plan covers within the window.
    pub scheduled: i64,
    /// Of those, seconds in adherence.
    pub in_adherence: i64,
    /// `in_adherence / scheduled`, none when nothing was scheduled.
    pub percent: Option<f64>,
    /// Seconds planned as work.
    pub planned_work: i64,
    /// Seconds ready while work was planned.
    pub ready_when_planned: i64,
    /// Seconds ready outside any planned segment (overtime, an early start).
    pub unscheduled_ready: i64,
    /// `ready_when_planned / planned_work`, none when no work was planned.
    pub conformance: Option<f64>,
    /// Stretches out of adherence longer than the grace, in time order. The grace applies to
    /// the whole stretch; one that changes planned activity or actual state part-way is
    /// listed in parts, split there.
    pub exceptions: Vec<Exception>,
}

/// The agent's standing at one instant, for a live view.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Now {
    pub planned: Option<Activity>,
    pub actual: Actual,
    /// Out of adherence for longer than the grace.
    pub out_of_adherence: bool,
    /// When the current mismatch began (also within the grace).
    pub out_since: Option<Second>,
}

/// Checks the plan and the state changes are usable: segments in order and not
/// overlapping, each with a positive length; state changes in time order.
fn check(plan: &[Segment], actual: &[StateChange]) -> Result<(), AdherenceError> {
    for s in plan {
        if s.end <= s.start {
            return Err(AdherenceError::EmptySegment {
                start: s.start,
                end: s.end,
            });
        }
    }
    for w in plan.windows(2) {
        if w[1].start < w[0].end {
            return Err(AdherenceError::Overlap { at: w[1].start });
        }
    }
    for w in actual.windows(2) {
        if w[1].at < w[0].at {
            return Err(AdherenceError::Unordered { at: w[1].at });
        }
    }
    Ok(())
}

/// Why a plan or a day of states cannot be scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdherenceError {
    #[error("planned segment {start}..{end} (minutes) has no length")]
    EmptySegment { start: i64, end: i64 },
    #[error("planned segments overlap at minute {at}")]
    Overlap { at: i64 },
    #[error("state changes out of time order at second {at}")]
    Unordered { at: i64 },
    #[error("window ends ({to}) before it starts ({from})")]
    Window { from: i64, to: i64 },
}

/// One stretch where both the plan and the state are constant.
#[derive(Clone, Copy)]
struct Piece {
    start: Second,
    end: Second,
    planned: Option<Activity>,
    actual: Actual,
}

/// Cuts `[from, to)` at every segment edge and state change. The state before the first
/// change is `before` (what the agent was when the window opened, e.g. logged out).
fn pieces(
    plan: &[Segment],
    actual: &[StateChange],
    before: Actual,
    from: Second,
    to: Second,
) -> Vec<Piece> {
    let mut cuts: Vec<Second> = vec![from, to];
    for s in plan {
        cuts.extend([s.start * 60, s.end * 60]);
    }
    cuts.extend(actual.iter().map(|c| c.at));
    cuts.retain(|&t| t >= from && t <= to);
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::with_capacity(cuts.len());
    let (mut si, mut ai) = (0usize, 0usize);
    let mut state = before;
    for w in cuts.windows(2) {
        let (start, end) = (w[0], w[1]);
        while ai < actual.len() && actual[ai].at <= start {
            state = actual[ai].state;
            ai += 1;
        }
        while si < plan.len() && plan[si].end * 60 <= start {
            si += 1;
        }
        let planned = plan
            .get(si)
            .filter(|s| s.start * 60 <= start)
            .map(|s| s.activity);
        out.push(Piece {
            start,
            end,
            planned,
            actual: state,
        });
    }
    out
}

/// Adherence of one agent over `[from, to)` (seconds). `before` is the agent's state when
/// the window opens, if no change in `actual` is at or before `from` (changes before `from`
/// are honoured: the last of them sets the state).
pub fn score(
    plan: &[Segment],
    actual: &[StateChange],
    before: Actual,
    from: Second,
    to: Second,
    grace: i64,
) -> Result<Adherence, AdherenceError> {
    check(plan, actual)?;
    if to < from {
        return Err(AdherenceError::Window { from, to });
    }
    let mut a = Adherence::default();
    // The current stretch out of adherence, as pieces of constant plan and state.
    let mut run: Vec<Exception> = Vec::new();
    let flush = |run: &mut Vec<Exception>, a: &mut Adherence| {
        let len: i64 = run.iter().map(|e| e.end - e.start).sum();
        if len > grace {
            a.exceptions.append(run);
        }
        run.clear();
    };
    for p in pieces(plan, actual, before, from, to) {
        let len = p.end - p.start;
        let ok = in_adherence(p.planned, p.actual);
        if let Some(planned) = p.planned {
            a.scheduled += len;
            if ok {
                a.in_adherence += len;
            }
            if planned == Activity::Work {
                a.planned_work += len;
                if p.actual.ready() {
                    a.ready_when_planned += len;
                }
            }
        } else if p.actual.ready() {
            a.unscheduled_ready += len;
        }
        match (ok, p.planned) {
            (false, Some(planned)) => match run.last_mut() {
                Some(e) if e.end == p.start && e.planned == planned && e.actual == p.actual => {
                    e.end = p.end
                }
                _ => run.push(Exception {
                    start: p.start,
                    end: p.end,
                    planned,
                    actual: p.actual,
                }),
            },
            _ => flush(&mut run, &mut a),
        }
    }
    flush(&mut run, &mut a);
    a.percent = (a.scheduled > 0).then(|| a.in_adherence as f64 / a.scheduled as f64);
    a.conformance =
        (a.planned_work > 0).then(|| a.ready_when_planned as f64 / a.planned_work as f64);
    Ok(a)
}

/// The agent's standing at `now`: what the plan says, what the agent is, and whether the
/// mismatch (if any) has lasted longer than `grace` seconds. A mismatch continues across a
/// change of plan or state as long as each stretch is a mismatch: an agent still on a break
/// when the plan went from break to work, then to lunch, has been out since the break ended.
pub fn now(
    plan: &[Segment],
    actual: &[StateChange],
    before: Actual,
    now: Second,
    grace: i64,
) -> Result<Now, AdherenceError> {
    check(plan, actual)?;
    let state = actual
        .iter()
        .take_while(|c| c.at <= now)
        .last()
        .map_or(before, |c| c.state);
    let planned = plan
        .iter()
        .find(|s| s.start * 60 <= now && now < s.end * 60)
        .map(|s| s.activity);
    if in_adherence(planned, state) {
        return Ok(Now {
            planned,
            actual: state,
            out_of_adherence: false,
            out_since: None,
        });
    }
    // Walk back over the pieces before `now` while they are mismatches too.
    let from = plan
        .first()
        .map_or(now, |s| s.start * 60)
        .min(actual.first().map_or(now, |c| c.at))
        .min(now);
    let ps = pieces(plan, actual, before, from, now);
    let mut since = now;
    for p in ps.iter().rev() {
        if in_adherence(p.planned, p.actual) {
            break;
        }
        since = p.start;
    }
    Ok(Now {
        planned,
        actual: state,
        out_of_adherence: now - since > grace,
        out_since: Some(since),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start_h: f64, end_h: f64, activity: Activity) -> Segment {
        Segment {
            start: (start_h * 60.0) as i64,
            end: (end_h * 60.0) as i64,
            activity,
        }
    }

    fn at(h: u32, m: u32, s: u32) -> Second {
        i64::from(h * 3600 + m * 60 + s)
    }

    /// 08:00–16:30: work, a break 10:00–10:15, lunch 12:00–12:30, training 14:00–15:00.
    fn plan() -> Vec<Segment> {
        use Activity::*;
        vec![
            seg(8.0, 10.0, Work),
            seg(10.0, 10.25, Break),
            seg(10.25, 12.0, Work),
            seg(12.0, 12.5, Lunch),
            seg(12.5, 14.0, Work),
            seg(14.0, 15.0, Offline),
            seg(15.0, 16.5, Work),
        ]
    }

    /// The agent logs in 4 minutes late, goes on the break on time and comes back 7 minutes
    /// late, takes a call through the first 2 minutes of lunch, goes to training on time,
    /// and leaves 10 minutes early.
    fn day() -> Vec<StateChange> {
        use Actual::*;
        vec![
            StateChange {
                at: at(8, 4, 0),
                state: Ready,
            },
            StateChange {
                at: at(10, 0, 0),
                state: Break,
            },
            StateChange {
                at: at(10, 22, 0),
                state: Ready,
            },
            StateChange {
                at: at(12, 2, 0),
                state: Break,
            },
            StateChange {
                at: at(12, 30, 0),
                state: Ready,
            },
            StateChange {
                at: at(14, 0, 0),
                state: NotReady,
            },
            StateChange {
                at: at(15, 0, 0),
                state: Ready,
            },
            StateChange {
                at: at(16, 20, 0),
                state: LoggedOut,
            },
        ]
    }

    #[test]
    fn a_scripted_day_scores_as_counted_by_hand() {
        let a = score(&plan(), &day(), Actual::LoggedOut, 0, at(24, 0, 0), 180).unwrap();
        // Scheduled 08:00–16:30 = 510 min. Out: 4 (late) + 7 (break overrun) + 2 (lunch
        // started late) + 10 (left early) = 23 min.
        assert_eq!(a.scheduled, 510 * 60);
        assert_eq!(a.in_adherence, (510 - 23) * 60);
        let pct = a.percent.unwrap();
        assert!((pct - 487.0 / 510.0).abs() < 1e-12, "{pct}");
        // Work planned: 510 − 15 − 30 − 60 = 405 min; ready during it: 405 − 4 − 7 − 10.
        assert_eq!(a.planned_work, 405 * 60);
        assert_eq!(a.ready_when_planned, (405 - 21) * 60);
        assert_eq!(a.unscheduled_ready, 0);
        // Grace 3 min: the 2-minute lunch overrun is not an exception.
        let ex: Vec<(Second, Second, Activity, Actual)> = a
            .exceptions
            .iter()
            .map(|e| (e.start, e.end, e.planned, e.actual))
            .collect();
        assert_eq!(
            ex,
            vec![
                (at(8, 0, 0), at(8, 4, 0), Activity::Work, Actual::LoggedOut),
                (at(10, 15, 0), at(10, 22, 0), Activity::Work, Actual::Break),
                (
                    at(16, 20, 0),
                    at(16, 30, 0),
                    Activity::Work,
                    Actual::LoggedOut
                ),
            ]
        );
    }

    #[test]
    fn the_grace_applies_to_a_whole_stretch_not_to_its_parts() {
        // Planned work from 08:00; logged out for 2 minutes, then not ready for 2 more:
        // 4 minutes out in all, over a 3-minute grace, though each part is under it.
        let p = vec![seg(8.0, 9.0, Activity::Work)];
        let actual = vec![
            StateChange {
                at: at(8, 2, 0),
                state: Actual::NotReady,
            },
            StateChange {
                at: at(8, 4, 0),
                state: Actual::Ready,
            },
        ];
        let a = score(&p, &actual, Actual::LoggedOut, 0, at(9, 0, 0), 180).unwrap();
        let ex: Vec<(Second, Second, Actual)> = a
            .exceptions
            .iter()
            .map(|e| (e.start, e.end, e.actual))
            .collect();
        assert_eq!(
            ex,
            vec![
                (at(8, 0, 0), at(8, 2, 0), Actual::LoggedOut),
                (at(8, 2, 0), at(8, 4, 0), Actual::NotReady),
            ]
        );
        let n = now(&p, &actual, Actual::LoggedOut, at(8, 3, 59), 180).unwrap();
        assert!(n.out_of_adherence);
        assert_eq!(n.out_since, Some(at(8, 0, 0)));
    }

    #[test]
    fn work_outside_the_plan_is_counted_apart() {
        // Ready 07:50, out at 16:45: 10 + 15 minutes unscheduled, not in the percentage.
        let actual = vec![
            StateChange {
                at: at(7, 50, 0),
                state: Actual::Ready,
            },
            StateChange {
                at: at(16, 45, 0),
                state: Actual::LoggedOut,
            },
        ];
        let a = score(&plan(), &actual, Actual::LoggedOut, 0, at(24, 0, 0), 0).unwrap();
        assert_eq!(a.unscheduled_ready, 25 * 60);
        // Ready through the break, lunch and training: 105 min out.
        assert_eq!(a.in_adherence, (510 - 105) * 60);
        assert_eq!(a.conformance, Some(1.0));
    }

    #[test]
    fn a_window_in_the_middle_of_the_day_takes_the_state_from_before_it() {
        // 10:00–11:00: on break until 10:22 (planned until 10:15).
        let a = score(
            &plan(),
            &day(),
            Actual::LoggedOut,
            at(10, 0, 0),
            at(11, 0, 0),
            0,
        )
        .unwrap();
        assert_eq!(a.scheduled, 3600);
        assert_eq!(a.in_adherence, 3600 - 7 * 60);
    }

    #[test]
    fn now_flags_only_after_the_grace_and_reports_since_when() {
        let p = plan();
        let d = day();
        // 10:17: back from the break 2 minutes late so far; grace 3 min.
        let n = now(&p, &d, Actual::LoggedOut, at(10, 17, 0), 180).unwrap();
        assert_eq!(n.planned, Some(Activity::Work));
        assert_eq!(n.actual, Actual::Break);
        assert!(!n.out_of_adherence);
        assert_eq!(n.out_since, Some(at(10, 15, 0)));
        // 10:19: 4 minutes: flagged.
        let n = now(&p, &d, Actual::LoggedOut, at(10, 19, 0), 180).unwrap();
        assert!(n.out_of_adherence);
        // 10:30: back; in adherence.
        let n = now(&p, &d, Actual::LoggedOut, at(10, 30, 0), 180).unwrap();
        assert!(!n.out_of_adherence);
        assert_eq!(n.out_since, None);
        // 07:00, before the shift, logged out: nothing planned, nothing to flag.
        let n = now(&p, &d, Actual::LoggedOut, at(7, 0, 0), 0).unwrap();
        assert_eq!(n.planned, None);
        assert!(!n.out_of_adherence);
    }

    #[test]
    fn a_mismatch_lasting_across_a_change_of_plan_counts_from_its_start() {
        // Never came back from the break: out since 10:15, through lunch (which matches a
        // break state: in adherence), then out again from 12:30.
        let actual = vec![
            StateChange {
                at: at(8, 0, 0),
                state: Actual::Ready,
            },
            StateChange {
                at: at(10, 0, 0),
                state: Actual::Break,
            },
        ];
        let n = now(&plan(), &actual, Actual::LoggedOut, at(11, 0, 0), 60).unwrap();
        assert_eq!(n.out_since, Some(at(10, 15, 0)));
        let n = now(&plan(), &actual, Actual::LoggedOut, at(12, 40, 0), 60).unwrap();
        assert_eq!(n.out_since, Some(at(12, 30, 0)));
        assert!(n.out_of_adherence);
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut p = plan();
        p.swap(0, 1);
        assert!(matches!(
            score(&p, &day(), Actual::LoggedOut, 0, 10, 0),
            Err(AdherenceError::Overlap { .. })
        ));
        let mut d = day();
        d.swap(0, 1);
        assert!(matches!(
            now(&plan(), &d, Actual::LoggedOut, 0, 0),
            Err(AdherenceError::Unordered { .. })
        ));
        assert!(matches!(
            score(&plan(), &day(), Actual::LoggedOut, 10, 0, 0),
            Err(AdherenceError::Window { .. })
        ));
    }
}
