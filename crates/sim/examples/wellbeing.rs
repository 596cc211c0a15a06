//! What each wellbeing rule costs and buys, on crates/sim/scenarios/wellbeing.toml: the same
//! calls (same seed) with every rule off, each rule alone, and all on. Prints a table.
//!
//! `cargo run --release -p hotline-sim --example wellbeing`

use std::path::Path;

use hotline_acd::WellbeingRules;
use hotline_sim::{Report, parse_scenario, simulate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/wellbeing.toml");
    let base = parse_scenario(&std::fs::read_to_string(&path)?, &path)?;
    let on = base.wellbeing.clone().unwrap_or_default();
    let none = WellbeingRules {
        enabled: true,
        recovery_break_seconds: 0.0,
        max_difficult_in_row: 0,
        fair_spread: false,
        occupancy_ceiling: 0.0,
        ..on.clone()
    };
    let variants = [
        ("all rules off", WellbeingRules::off()),
        (
            "recovery break only",
            WellbeingRules {
                recovery_break_seconds: on.recovery_break_seconds,
                ..none.clone()
            },
        ),
        (
            "cap in a row only",
            WellbeingRules {
                max_difficult_in_row: on.max_difficult_in_row,
                ..none.clone()
            },
        ),
        (
            "fair spread only",
            WellbeingRules {
                fair_spread: true,
                ..none.clone()
            },
        ),
        (
            "occupancy ceiling only",
            WellbeingRules {
                occupancy_ceiling: on.occupancy_ceiling,
                ..none.clone()
            },
        ),
        ("all rules on", on.clone()),
    ];
    println!(
        "| rules | service level | abandoned | difficult per agent: mean / sd / min–max | longest run | agents with 3+ in a row | recovery h | pause h | max occupancy |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, rules) in variants {
        let mut sc = base.clone();
        sc.wellbeing = Some(rules);
        let r = simulate(&sc)?;
        let (sl, ab) = totals(&r);
        let w = &r.wellbeing;
        println!(
            "| {name} | {:.1}% | {:.1}% | {:.1} / {:.1} / {}–{} | {} | {} | {:.0} | {:.0} | {:.1}% |",
            sl * 100.0,
            ab * 100.0,
            w.difficult_per_agent_mean,
            w.difficult_per_agent_sd,
            w.difficult_per_agent_min,
            w.difficult_per_agent_max,
            w.max_difficult_in_row,
            w.agents_with_3_in_row,
            w.recovery_hours,
            w.pause_hours,
            w.max_occupancy * 100.0,
        );
    }
    Ok(())
}

fn totals(r: &Report) -> (f64, f64) {
    let offered: f64 = r.queues.iter().map(|q| q.offered as f64).sum();
    let within: f64 = r
        .queues
        .iter()
        .map(|q| q.service_level * q.offered as f64)
        .sum();
    let abandoned: f64 = r.queues.iter().map(|q| q.abandoned as f64).sum();
    (within / offered, abandoned / offered)
}
