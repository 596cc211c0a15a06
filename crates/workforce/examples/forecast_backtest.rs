//! Fit time and backtest error of the forecast on a synthetic year, and the time to staff
//! the forecast week.
//!
//! `cargo run --release -p hotline-workforce --example forecast_backtest`

#[path = "../tests/support/synthetic.rs"]
mod synthetic;

use std::time::{Duration, Instant};

use hotline_workforce::INTERVALS_PER_DAY;
use hotline_workforce::forecast::{ForecastConfig, forecast};
use hotline_workforce::staffing::{
    AbandonTarget, QueuePlan, ServiceTarget, Shrinkage, Wellbeing, staff_intervals,
};

const WEEKS: usize = 56;
const PER_DAY: f64 = 70_000.0;
const RUNS: usize = 21;

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let s = synthetic::synthetic(WEEKS, PER_DAY, 7);
    let config = ForecastConfig::default();
    let mut times = Vec::with_capacity(RUNS);
    let mut result = None;
    for _ in 0..RUNS {
        let t = Instant::now();
        let f = forecast(&s.actual, &s.special, 7, &config)?;
        times.push(t.elapsed());
        result = Some(f);
    }
    let f = result.ok_or("no run")?;
    let b = f.backtest.as_ref().ok_or("no backtest")?;
    let floor = synthetic::noise_floor(
        &s,
        b.first_day * INTERVALS_PER_DAY..WEEKS * 7 * INTERVALS_PER_DAY,
    );
    println!("history: {WEEKS} weeks x {INTERVALS_PER_DAY} intervals/day, {PER_DAY} contacts/day");
    println!(
        "fit + 7-day forecast + {}-week backtest: median {:.2} ms of {RUNS} runs",
        b.weeks,
        median(times).as_secs_f64() * 1e3
    );
    println!(
        "backtest WAPE {:.4} (noise floor {floor:.4}, ratio {:.3}), daily WAPE {:.4}, bias {:+.4}",
        b.wape.unwrap_or(f64::NAN),
        b.wape.unwrap_or(f64::NAN) / floor,
        b.daily_wape.unwrap_or(f64::NAN),
        b.bias.unwrap_or(f64::NAN),
    );

    let plan = QueuePlan {
        concurrency: 1,
        name: "all".into(),
        handle_seconds: 280.0,
        wrap_up_seconds: 20.0,
        target: ServiceTarget {
            service_level: 0.8,
            target_seconds: 20.0,
            abandon: None,
        },
        shrinkage: Shrinkage {
            breaks: 0.1,
            training: 0.05,
            absence: 0.08,
            other: 0.02,
        },
        wellbeing: Wellbeing {
            occupancy_ceiling: 0.85,
            difficult_fraction: 0.05,
            recovery_break_seconds: 120.0,
        },
        min_agents: 2,
    };
    let mut times = Vec::with_capacity(RUNS);
    let mut staffed = None;
    for _ in 0..RUNS {
        let t = Instant::now();
        let p = staff_intervals(&f.volumes, &plan)?;
        times.push(t.elapsed());
        staffed = Some(p);
    }
    let p = staffed.ok_or("no run")?;
    let peak = p.intervals.iter().map(|s| s.on_phones).max().unwrap_or(0);
    println!(
        "staffing {} intervals (Erlang C, 300 s, 80/20, ceiling 0.85): median {:.2} ms; peak {peak} on phones, {:.0} agent-hours scheduled",
        f.volumes.len(),
        median(times).as_secs_f64() * 1e3,
        p.scheduled_hours
    );

    // The same week with an abandonment target: Erlang A, a heavier computation per count.
    let mut plan_a = plan.clone();
    plan_a.target.abandon = Some(AbandonTarget {
        patience_seconds: 120.0,
        max_abandon: 0.03,
    });
    let t = Instant::now();
    let p = staff_intervals(&f.volumes, &plan_a)?;
    println!(
        "staffing {} intervals (Erlang A, patience 120 s, at most 3% abandon): {:.0} ms (one run); {:.0} agent-hours scheduled",
        f.volumes.len(),
        t.elapsed().as_secs_f64() * 1e3,
        p.scheduled_hours
    );
    Ok(())
}
