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
    let (mut short, mut over, mut short_list) = (0u64, 0u64, Vec::new());
    for (i, (c, &w)) in schedule.coverage.iter().zip(&working).enumerate() {
        let r = problem.requirement[i];
        if c.working != w || c.required != r || c.start != i as Minute * 15 {
            return Err(format!(
                "interval {i}: reported {c:?}, recomputed working {w}, required {r}"
            ));
        }
        if c.under() != r.saturating_sub(w) || c.over() != w.saturating_sub(r) {
            return Err(format!("interval {i}: under/over wrong"));
        }
        short += u64::from(r.saturating_sub(w));
        over += u64::from(w.saturating_sub(r));
        if w < r {
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
