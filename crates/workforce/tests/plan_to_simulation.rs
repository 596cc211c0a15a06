//! The simulator runs the schedule through the real routing engine and the service level it
//! reports meets the targets the staffing promised (within simulation noise).
//!
//! The whole chain on a synthetic centre: twelve weeks of history → forecast of the next
//! week → agents required per interval (Erlang C, 80% within 20 s) → a schedule of named
//! agents on 8-hour shifts with breaks and lunch → one simulated week through the routing
//! engine with the forecast volumes as the arrival rate (and again with the week that
//! "actually" happened).
//!
//! Shrinkage is 0: the simulator does not model absence, training or the rest of shrinkage,
//! and breaks and lunch are already gaps in the agents' on-duty stretches, so the agents the
//! requirement asks for are exactly the ones that must be working. (With shrinkage the
//! schedule would carry `scheduled` agents, of whom the simulator would put all on the
//! phones, and the check would pass on the surplus, not on the plan.)
//! Callers never hang up, as Erlang C assumes: abandonment would only raise the service
//! level the simulator reports and hide a shortfall.

mod support;

use std::sync::OnceLock;
use std::time::Instant;

use hotline_sim::erlang::erlang_c_metrics;
use hotline_workforce::forecast::{ForecastConfig, forecast};
use hotline_workforce::schedule::{Agent, Options, Problem, Schedule, solve};
use hotline_workforce::simulate::{SimulationError, simulate_week, week_scenario};
use hotline_workforce::staffing::staff_intervals;
use hotline_workforce::{Activity, INTERVALS_PER_DAY, INTERVALS_PER_WEEK, Minute};
use support::centre::{AHT, TARGET_SECONDS, TARGET_SL, eight_hour_shifts, queue_plan, sim_queue};
use support::synthetic;

/// Contacts on an average day at the start of the history.
const PER_DAY: f64 = 5_000.0;
const HISTORY_WEEKS: usize = 12;
const SEED: u64 = 20_261_202;
/// How far below the target the week's simulated service level may fall: one simulated
/// week of ~36,000 Poisson arrivals scatters the weekly figure by about a point.
const WEEK_MARGIN: f64 = 0.02;
/// The same for one day: fewer contacts, and waits are correlated within a busy hour (one
/// unlucky peak sinks many calls at once), so a day's figure scatters by several points.
const DAY_MARGIN: f64 = 0.05;
/// Against the "actual" week the forecast error (a few percent of volume per interval, more
/// than the scheduled surplus in some intervals) adds to the noise.
const ACTUAL_WEEK_MARGIN: f64 = 0.05;
const ACTUAL_DAY_MARGIN: f64 = 0.10;

/// Enough agents for `requirement`: its agent-hours over the 35 working hours of five
/// shifts, plus 10% for the shape of the week; 32 to 40 hours a week, 11 hours' rest,
/// 2 days off.
fn agents_for(requirement: &[u32]) -> Vec<Agent> {
    let hours: f64 = requirement.iter().map(|&r| f64::from(r) / 4.0).sum();
    let n = (hours / 35.0 * 1.1).ceil() as usize;
    (0..n)
        .map(|i| Agent {
            queues: vec![],
            id: format!("agent-{i:03}"),
            skills: vec!["general".into()],
            patterns: Vec::new(),
            min_weekly_minutes: 32 * 60,
            max_weekly_minutes: 40 * 60,
            days_off: 2,
            min_rest_minutes: 11 * 60,
            previous_shift_end: None,
            unavailable: Vec::new(),
            preferences: Vec::new(),
        })
        .collect()
}

fn schedule_for(requirement: Vec<u32>) -> Schedule {
    let problem = Problem {
        queues: vec![],
        agents: agents_for(&requirement),
        requirement,
        patterns: eight_hour_shifts(),
        options: Options::default(),
    };
    solve(&problem).expect("the week is valid input")
}

struct Week {
    /// Forecast contacts per interval of the planned week.
    forecast: Vec<f64>,
    /// What the synthetic centre "actually" received that week.
    actual: Vec<f64>,
    /// Agents required per interval.
    requirement: Vec<u32>,
    /// Erlang C service level of each interval with the required agents.
    promised: Vec<f64>,
    schedule: Schedule,
    /// Wall time of forecast, staffing and scheduling.
    plan_seconds: f64,
}

/// The planned week, built once for all tests of this file.
fn week() -> &'static Week {
    static WEEK: OnceLock<Week> = OnceLock::new();
    WEEK.get_or_init(|| {
        let started = Instant::now();
        let s = synthetic::synthetic(HISTORY_WEEKS + 1, PER_DAY, SEED);
        let split = HISTORY_WEEKS * INTERVALS_PER_WEEK;
        let special: Vec<_> = s
            .special
            .iter()
            .filter(|d| d.day < HISTORY_WEEKS * 7)
            .cloned()
            .collect();
        let f = forecast(&s.actual[..split], &special, 7, &ForecastConfig::default())
            .expect("the history is valid");
        let staffing =
            staff_intervals(&f.volumes, &queue_plan("general")).expect("the plan is valid");
        let requirement: Vec<u32> = staffing.intervals.iter().map(|i| i.on_phones).collect();
        let promised = staffing.intervals.iter().map(|i| i.service_level).collect();
        let schedule = schedule_for(requirement.clone());
        Week {
            forecast: f.volumes,
            actual: s.actual[split..].to_vec(),
            requirement,
            promised,
            schedule,
            plan_seconds: started.elapsed().as_secs_f64(),
        }
    })
}

/// `values` per day, weighted by `volumes`.
fn daily_weighted(values: &[f64], volumes: &[f64]) -> Vec<f64> {
    (0..7)
        .map(|d| {
            let r = d * INTERVALS_PER_DAY..(d + 1) * INTERVALS_PER_DAY;
            let total: f64 = volumes[r.clone()].iter().sum();
            r.map(|i| values[i] * volumes[i]).sum::<f64>() / total
        })
        .collect()
}

/// Erlang C service level of each interval with the agents the schedule has working.
fn planned(schedule: &Schedule, volumes: &[f64]) -> Vec<f64> {
    schedule
        .coverage
        .iter()
        .zip(volumes)
        .map(|(c, &v)| {
            erlang_c_metrics(v * 4.0, AHT, c.working, TARGET_SECONDS)
                .map(|r| r.service_level)
                .unwrap_or(0.0)
        })
        .collect()
}

struct Simulated {
    service_level: f64,
    days: Vec<f64>,
    offered: u64,
    wall_seconds: f64,
}

fn run(schedule: &Schedule, volumes: &[f64], label: &str) -> Simulated {
    let report =
        simulate_week(schedule, &sim_queue("general"), volumes, SEED).expect("the scenario runs");
    let q = &report.queues[0];
    assert_eq!(q.days.len(), 7);
    let promised = daily_weighted(&week().promised, volumes);
    let planned = daily_weighted(&planned(schedule, volumes), volumes);
    println!(
        "{label}: {} offered, {} answered, SL {:.3}, ASA {:.1} s, {:.1} s wall",
        q.offered, q.answered, q.service_level, q.asa, report.wall_seconds
    );
    println!("  day  offered  promised  planned  simulated");
    for (d, day) in q.days.iter().enumerate() {
        println!(
            "  {d}    {:>6}    {:.3}     {:.3}    {:.3}",
            day.offered, promised[d], planned[d], day.service_level
        );
    }
    Simulated {
        service_level: q.service_level,
        days: q.days.iter().map(|d| d.service_level).collect(),
        offered: q.offered,
        wall_seconds: report.wall_seconds,
    }
}

#[test]
fn simulated_week_meets_the_promised_service_level() {
    let w = week();
    let s = &w.schedule;
    let demand: u64 = w.requirement.iter().map(|&r| u64::from(r)).sum();
    println!(
        "plan: {:.0} contacts forecast, {} agents, {} shifts, shortfall {} / {demand} agent-intervals, overstaffing {}, {:.1} s to plan",
        w.forecast.iter().sum::<f64>(),
        s.agents.len(),
        s.shift_count(),
        s.total_shortfall,
        s.total_overstaffing,
        w.plan_seconds
    );
    // The staffing promised the target in every interval with contacts.
    let promised_week = daily_weighted(&w.promised, &w.forecast);
    assert!(
        promised_week.iter().all(|&p| p >= TARGET_SL),
        "{promised_week:?}"
    );
    let sim = run(s, &w.forecast, "forecast week");
    let expected = w.forecast.iter().sum::<f64>();
    assert!(
        (sim.offered as f64 - expected).abs() < 4.0 * expected.sqrt(),
        "offered {} against {expected:.0} forecast",
        sim.offered
    );
    assert!(
        sim.service_level >= TARGET_SL - WEEK_MARGIN,
        "week SL {:.3} below {TARGET_SL} - {WEEK_MARGIN}",
        sim.service_level
    );
    for (d, &sl) in sim.days.iter().enumerate() {
        assert!(
            sl >= TARGET_SL - DAY_MARGIN,
            "day {d}: SL {sl:.3} below {TARGET_SL} - {DAY_MARGIN}"
        );
    }
    assert!(sim.wall_seconds > 0.0);
}

#[test]
fn simulated_actual_week_stays_near_the_target() {
    let w = week();
    let sim = run(&w.schedule, &w.actual, "actual week");
    assert!(
        sim.service_level >= TARGET_SL - ACTUAL_WEEK_MARGIN,
        "week SL {:.3} below {TARGET_SL} - {ACTUAL_WEEK_MARGIN}",
        sim.service_level
    );
    for (d, &sl) in sim.days.iter().enumerate() {
        assert!(
            sl >= TARGET_SL - ACTUAL_DAY_MARGIN,
            "day {d}: SL {sl:.3} below {TARGET_SL} - {ACTUAL_DAY_MARGIN}"
        );
    }
}

/// The check can fail: a schedule built for 80% of the requirement misses the target by
/// more than the noise margin, on the week and on most days.
#[test]
fn understaffed_schedule_misses_the_target() {
    let w = week();
    let short: Vec<u32> = w
        .requirement
        .iter()
        .map(|&r| (f64::from(r) * 0.8).round() as u32)
        .collect();
    let schedule = schedule_for(short);
    println!(
        "understaffed plan: {} agents, {} shifts (full plan: {}, {})",
        schedule.agents.len(),
        schedule.shift_count(),
        w.schedule.agents.len(),
        w.schedule.shift_count()
    );
    let sim = run(&schedule, &w.forecast, "understaffed (requirement x 0.8)");
    assert!(
        sim.service_level < TARGET_SL - WEEK_MARGIN,
        "week SL {:.3} meets the target with 80% of the agents",
        sim.service_level
    );
    let missed = sim
        .days
        .iter()
        .filter(|&&sl| sl < TARGET_SL - DAY_MARGIN)
        .count();
    assert!(missed >= 4, "only {missed} days missed: {:?}", sim.days);
}

/// The scenario carries the plan: the traffic curve is the volumes per hour, and each
/// agent is on duty exactly during their work segments (a Sunday night shift's part past
/// the week's end opens the week as a separate agent).
#[test]
fn scenario_follows_the_schedule() {
    let w = week();
    let sc = week_scenario(&w.schedule, &sim_queue("general"), &w.forecast, 1).unwrap();
    assert_eq!(sc.duration_hours.0, 168.0);
    let q = &sc.queues[0];
    assert_eq!((q.arrivals_per_hour.0, q.curve_minutes), (1.0, 15));
    assert_eq!(q.curve.len(), INTERVALS_PER_WEEK);
    for (c, v) in q.curve.iter().zip(&w.forecast) {
        assert_eq!(c.0, v * 4.0);
    }
    let duty_minutes: f64 = sc
        .agents
        .iter()
        .flat_map(|a| &a.on_duty)
        .map(|d| (d.end.0 - d.start.0) * 60.0)
        .sum();
    let work_minutes: Minute = w
        .schedule
        .agents
        .iter()
        .flat_map(|a| &a.shifts)
        .flat_map(|s| &s.segments)
        .filter(|s| s.activity == Activity::Work)
        .map(|s| s.minutes())
        .sum();
    assert!((duty_minutes - work_minutes as f64).abs() < 1e-6);
    // On duty per interval, counted from the windows, is the schedule's coverage.
    let mut on = vec![0u32; INTERVALS_PER_WEEK];
    for d in sc.agents.iter().flat_map(|a| &a.on_duty) {
        let (s, e) = (
            (d.start.0 * 4.0).round() as usize,
            (d.end.0 * 4.0).round() as usize,
        );
        for c in &mut on[s..e] {
            *c += 1;
        }
    }
    let coverage: Vec<u32> = w.schedule.coverage.iter().map(|c| c.working).collect();
    assert_eq!(on, coverage);
    for a in &sc.agents {
        assert!(a.on_duty.windows(2).all(|p| p[0].end.0 < p[1].start.0));
        assert_eq!(a.skills.get("general"), Some(&1));
        assert!(a.shift.is_none() && a.count == 1);
    }
    let carried = sc
        .agents
        .iter()
        .filter(|a| {
            a.name
                .as_deref()
                .is_some_and(|n| n.ends_with("@previous-week"))
        })
        .count();
    let wrapping = w
        .schedule
        .agents
        .iter()
        .filter(|a| a.shifts.iter().any(|s| s.end > 7 * 1440))
        .count();
    assert_eq!(carried, wrapping);
    assert!(
        wrapping > 0,
        "a 24/7 line has Sunday night shifts running into Monday"
    );

    let mut bad = w.forecast.clone();
    bad.pop();
    assert_eq!(
        week_scenario(&w.schedule, &sim_queue("general"), &bad, 1).unwrap_err(),
        SimulationError::VolumesLength { got: 671 }
    );
    bad.push(f64::NAN);
    assert!(matches!(
        week_scenario(&w.schedule, &sim_queue("general"), &bad, 1),
        Err(SimulationError::Volume { interval: 671, .. })
    ));
}

/// The margins are not tuned to one lucky draw: ten more simulated weeks (other seeds for
/// arrivals and handle times, the same plan) meet the same bounds.
#[test]
fn service_level_holds_over_ten_seeds() {
    let w = week();
    let mut weeks = Vec::new();
    let mut worst_day: f64 = 1.0;
    for seed in 1..=10 {
        let r = simulate_week(&w.schedule, &sim_queue("general"), &w.forecast, seed)
            .expect("the scenario runs");
        let q = &r.queues[0];
        let days: Vec<String> = q
            .days
            .iter()
            .map(|d| format!("{:.3}", d.service_level))
            .collect();
        println!(
            "seed {seed:>2}: week {:.3}, days {}",
            q.service_level,
            days.join(" ")
        );
        assert!(
            q.service_level >= TARGET_SL - WEEK_MARGIN,
            "seed {seed}: week SL {:.3}",
            q.service_level
        );
        for d in &q.days {
            assert!(
                d.service_level >= TARGET_SL - DAY_MARGIN,
                "seed {seed}, day {}: SL {:.3}",
                d.day,
                d.service_level
            );
            worst_day = worst_day.min(d.service_level);
        }
        weeks.push(q.service_level);
    }
    let lo = weeks.iter().copied().fold(1.0, f64::min);
    let hi = weeks.iter().copied().fold(0.0, f64::max);
    println!("ten seeds: week SL {lo:.3}..{hi:.3}, worst day {worst_day:.3}");
}
