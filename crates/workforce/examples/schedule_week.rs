//! Benchmark: schedule the generated 600-agent bank week and print the solve time and the
//! quality figures. Run with `cargo run --release -p hotline-workforce --example schedule_week`
//! (`-- 1200` for another number of agents, `-- 600 skills` for the two-queue week whose
//! agents take retail, cards or both).

#[path = "../tests/common/bank_week.rs"]
mod bank_week;

use std::time::Instant;

use hotline_workforce::INTERVAL_MINUTES;
use hotline_workforce::schedule::solve;

fn main() {
    let agents = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(600);
    let skills = std::env::args().nth(2).as_deref() == Some("skills");
    let mut problem = if skills {
        bank_week::two_queues(agents)
    } else {
        bank_week::problem(agents)
    };
    if skills {
        problem.requirement = (0..hotline_workforce::INTERVALS_PER_WEEK)
            .map(|i| problem.queues.iter().map(|q| q.requirement[i]).sum())
            .collect();
    }
    let demand: u64 = problem.requirement.iter().map(|&r| u64::from(r)).sum();
    let peak = problem.requirement.iter().copied().max().unwrap_or(0);
    let started = Instant::now();
    let schedule = match solve(&problem) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot schedule: {e}");
            std::process::exit(1);
        }
    };
    let elapsed = started.elapsed();
    let b = schedule.bounds;
    println!("agents                 {agents}");
    println!("peak requirement       {peak}");
    println!("required               {demand} agent-intervals");
    println!(
        "solve time             {:.1} ms",
        elapsed.as_secs_f64() * 1e3
    );
    println!("local-search passes    {}", schedule.passes);
    println!(
        "shifts                 {} (lower bound {})",
        schedule.shift_count(),
        b.shifts
    );
    println!(
        "total shortfall        {} agent-intervals ({:.3}% of required; lower bound {})",
        schedule.total_shortfall,
        100.0 * schedule.total_shortfall as f64 / demand.max(1) as f64,
        b.shortfall
    );
    println!(
        "total overstaffing     {} agent-intervals (lower bound {}, gap {})",
        schedule.total_overstaffing,
        b.overstaffing,
        schedule.total_overstaffing - b.overstaffing.min(schedule.total_overstaffing)
    );
    let short: Vec<String> = schedule
        .short_intervals
        .iter()
        .map(|&i| {
            let c = schedule.coverage[i];
            let m = i as i64 * INTERVAL_MINUTES;
            format!(
                "day {} {:02}:{:02} {}/{}",
                m / 1440,
                m % 1440 / 60,
                m % 60,
                c.working,
                c.required
            )
        })
        .collect();
    println!(
        "short intervals        {} [{}]",
        short.len(),
        short.join(", ")
    );
}
