//! Checks a schedule against its problem from the output alone: the hard rules, the segment
//! structure, and the reported coverage recomputed minute by minute from the segments.

use hotline_workforce::schedule::{Problem, Schedule};
use hotline_workforce::{Activity, INTERVALS_PER_WEEK, Minute};

const DAY: Minute = 24 * 60;
const WEEK: Minute = 7 * DAY;

/// Agents on a work segment per 15-minute interval, counted minute by minute: an interval
/// counts an agent only if all 15 of its minutes are work. Minutes past the week's end wrap.
pub fn recompute_working(schedule: &Schedule) -> Vec<u32> {
    let mut minutes = vec![0u32; WEEK as usize];
    let mut agents_per_minute = vec![0u32; INTERVALS_PER_WEEK];
    for shift in schedule.agents.iter().flat_map(|a| &a.shifts) {
        for seg in &shift.segments {
            if seg.activity == Activity::Work {
                for m in seg.start..seg.end {
                    minutes[m.rem_euclid(WEEK) as usize] += 1;
                }
            }
        }
    }
    for (i, slot) in agents_per_minute.iter_mut().enumerate() {
        *slot = minutes[i * 15..i * 15 + 15]
            .iter()
            .copied()
            .min()
            .unwrap_or(0);
    }
    agents_per_minute
}

/// Every hard rule and every reported figure; the first violation as text.
pub fn check(problem: &Problem, schedule: &Schedule) -> Result<(), String> {
    if schedule.agents.len() != problem.agents.len() {
        return Err(format!(
            "{} agent schedules for {} agents",
            schedule.agents.len(),
            problem.agents.len()
        ));
    }
    for (agent, plan) in problem.agents.iter().zip(&schedule.agents) {
        let who = &agent.id;
        if &plan.id != who || plan.skills != agent.skills {
            return Err(format!("agent {who}: id or skills not carried through"));
        }
        let mut days = Vec::new();
        let mut total = 0;
        for (k, shift) in plan.shifts.iter().enumerate() {
            let pattern = problem
                .patterns
                .iter()
                .find(|p| p.name == shift.pattern)
                .ok_or(format!("agent {who}: unknown pattern {}", shift.pattern))?;
            if !agent.patterns.is_empty() && !agent.patterns.contains(&shift.pattern) {
                return Err(format!(
                    "agent {who}: pattern {} not allowed",
                    shift.pattern
                ));
            }
            if shift.end - shift.start != pattern.minutes {
                return Err(format!("agent {who}: shift {k} has the wrong length"));
            }
            if !(0..WEEK).contains(&shift.start) {
                return Err(format!("agent {who}: shift {k} starts outside the week"));
            }
            let sod = shift.start % DAY;
            let st = &pattern.starts;
            if sod < st.first || sod > st.last || (sod - st.first) % st.every != 0 {
                return Err(format!(
                    "agent {who}: shift {k} starts at a time its pattern does not allow"
                ));
            }
            // Segments: contiguous from start to end, non-empty, breaks as the rules say.
            let segs = &shift.segments;
            if segs.first().map(|s| s.start) != Some(shift.start)
                || segs.last().map(|s| s.end) != Some(shift.end)
            {
                return Err(format!(
                    "agent {who}: shift {k} segments do not span the shift"
                ));
            }
            for w in segs.windows(2) {
                if w[0].end != w[1].start {
                    return Err(format!("agent {who}: shift {k} segments not contiguous"));
                }
            }
            if segs.iter().any(|s| s.start >= s.end) {
                return Err(format!("agent {who}: shift {k} has an empty segment"));
            }
            let breaks: Vec<_> = segs
                .iter()
                .filter(|s| s.activity != Activity::Work)
                .collect();
            if breaks.len() != pattern.breaks.len() {
                return Err(format!(
                    "agent {who}: shift {k} has {} breaks",
                    breaks.len()
                ));
            }
            for (b, rule) in breaks.iter().zip(&pattern.breaks) {
                if b.activity != rule.activity
                    || b.end - b.start != rule.minutes
                    || b.start - shift.start < rule.earliest_start
                    || b.end - shift.start > rule.latest_end
                {
                    return Err(format!(
                        "agent {who}: shift {k} break {b:?} breaks its rule {rule:?}"
                    ));
                }
            }
            // Rest, including from last week.
            let before = if k == 0 {
                agent.previous_shift_end
            } else {
                Some(plan.shifts[k - 1].end)
            };
            if let Some(end) = before
                && shift.start - end < agent.min_rest_minutes
            {
                return Err(format!(
                    "agent {who}: shift {k} rests {} min",
                    shift.start - end
                ));
            }
            for u in &agent.unavailable {
                if u.start < shift.end && shift.start < u.end {
                    return Err(format!("agent {who}: shift {k} overlaps unavailable {u:?}"));
                }
            }
            let day = shift.start / DAY;
            if days.contains(&day) {
                return Err(format!("agent {who}: two shifts start on day {day}"));
            }
            days.push(day);
            total += shift.end - shift.start;
        }
        if 7 - days.len() < agent.days_off as usize {
            return Err(format!("agent {who}: {} days worked", days.len()));
        }
        if total < agent.min_weekly_minutes || total > agent.max_weekly_minutes {
            return Err(format!("agent {who}: {total} min outside the contract"));
        }
    }
    // Coverage, recomputed.
    let working = recompute_working(schedule);
    if schedule.coverage.len() != INTERVALS_PER_WEEK {
        return Err("coverage is not one week long".into());
    }
    let covered = recompute_covered(problem, schedule);
    let (mut short, mut over, mut short_list) = (0u64, 0u64, Vec::new());
    for (i, (c, &w)) in schedule.coverage.iter().zip(&working).enumerate() {
        let r = required(problem, i);
        if c.working != w || c.required != r || c.start != i as Minute * 15 {
            return Err(format!(
                "interval {i}: reported {c:?}, recomputed working {w}, required {r}"
            ));
        }
        if c.covered != covered[i] {
            return Err(format!(
                "interval {i}: reported {c:?}, recomputed covered {}",
                covered[i]
            ));
        }
        if c.under() != r - covered[i] || c.over() != w - covered[i] {
            return Err(format!("interval {i}: under/over wrong"));
        }
        short += u64::from(r - covered[i]);
        over += u64::from(w - covered[i]);
        if covered[i] < r {
            short_list.push(i);
        }
    }
    if short != schedule.total_shortfall || over != schedule.total_overstaffing {
        return Err(format!(
            "totals reported {} short {} over, recomputed {short} {over}",
            schedule.total_shortfall, schedule.total_overstaffing
        ));
    }
    if short_list != schedule.short_intervals {
        return Err("short intervals list differs".into());
    }
    if schedule.total_shortfall < schedule.bounds.shortfall
        || schedule.total_overstaffing < schedule.bounds.overstaffing
    {
        return Err(format!("result beats its own bounds {:?}", schedule.bounds));
    }
    Ok(())
}

/// The whole requirement of interval `i`.
pub fn required(problem: &Problem, i: usize) -> u32 {
    if problem.queues.is_empty() {
        problem.requirement[i]
    } else {
        problem.queues.iter().map(|q| q.requirement[i]).sum()
    }
}

/// Per interval, who is working (agent indices), minute by minute as [`recompute_working`].
/// Shift by shift: the part of a Sunday-night shift past the week's end stands for last
/// week's, so an agent who also starts early on Monday counts twice there.
pub fn working_agents(schedule: &Schedule) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); INTERVALS_PER_WEEK];
    for (a, shift) in schedule
        .agents
        .iter()
        .enumerate()
        .flat_map(|(a, agent)| agent.shifts.iter().map(move |s| (a, s)))
    {
        let mut minutes = vec![false; WEEK as usize];
        for seg in &shift.segments {
            if seg.activity == Activity::Work {
                for m in seg.start..seg.end {
                    minutes[m.rem_euclid(WEEK) as usize] = true;
                }
            }
        }
        for (i, slot) in out.iter_mut().enumerate() {
            if minutes[i * 15..i * 15 + 15].iter().all(|&m| m) {
                slot.push(a);
            }
        }
    }
    out
}

/// Per interval, the most requirement the working agents can cover, each agent on one queue
/// their `queues` allow: a bipartite matching of agents to the queues' places, by augmenting
/// paths agent by agent (Kuhn), independent of the scheduler's own bookkeeping.
pub fn recompute_covered(problem: &Problem, schedule: &Schedule) -> Vec<u32> {
    let working = working_agents(schedule);
    (0..INTERVALS_PER_WEEK)
        .map(|i| {
            if problem.queues.is_empty() {
                return (working[i].len() as u32).min(problem.requirement[i]);
            }
            // Places: one per required agent of each queue.
            let mut place_queue = Vec::new();
            for (q, d) in problem.queues.iter().enumerate() {
                place_queue.extend(std::iter::repeat_n(q, d.requirement[i] as usize));
            }
            let takes = |a: usize, q: usize| {
                let agent = &problem.agents[a];
                agent.queues.is_empty() || agent.queues.contains(&problem.queues[q].name)
            };
            let mut owner: Vec<Option<usize>> = vec![None; place_queue.len()];
            fn try_place(
                a: usize,
                seen: &mut Vec<bool>,
                owner: &mut Vec<Option<usize>>,
                place_queue: &[usize],
                takes: &dyn Fn(usize, usize) -> bool,
            ) -> bool {
                for p in 0..place_queue.len() {
                    if seen[p] || !takes(a, place_queue[p]) {
                        continue;
                    }
                    seen[p] = true;
                    let free = match owner[p] {
                        None => true,
                        Some(b) => try_place(b, seen, owner, place_queue, takes),
                    };
                    if free {
                        owner[p] = Some(a);
                        return true;
                    }
                }
                false
            }
            let mut n = 0;
            for &a in &working[i] {
                let mut seen = vec![false; place_queue.len()];
                if try_place(a, &mut seen, &mut owner, &place_queue, &takes) {
                    n += 1;
                }
            }
            n
        })
        .collect()
}
