//! The outbound pacing figures of BENCHMARKS.md §9, on
//! crates/sim/scenarios/outbound-predictive.toml: progressive and predictive at 20 and 50
//! agents, and predictive below its minimum of agents, seeds 1-5 each. Prints the median and
//! the range of each figure.
//!
//! `cargo run --release -p hotline-sim --example outbound`

use std::path::Path;

use hotline_dialer::Mode;
use hotline_sim::{OutboundReport, parse_scenario, simulate};

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/outbound-predictive.toml");
    let base = parse_scenario(&std::fs::read_to_string(&path)?, &path)?;
    println!(
        "| | agents | occupancy | abandoned (Ofcom, worst 24 h) | abandoned (TSR, worst 30 days) | dials/h | connects/h | agent idle s per connect | rule violations |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (mode, agents) in [
        (Mode::Progressive, 20),
        (Mode::Predictive, 20),
        (Mode::Progressive, 50),
        (Mode::Predictive, 50),
        (Mode::Predictive, 8),
    ] {
        let mut runs: Vec<OutboundReport> = Vec::new();
        for seed in 1..=5 {
            let mut sc = base.clone();
            sc.seed = seed;
            let spec = sc.outbound.as_mut().ok_or("not an outbound scenario")?;
            spec.mode = mode;
            spec.agents = agents;
            runs.push(simulate(&sc)?.outbound.ok_or("no outbound report")?);
        }
        let fig = |f: fn(&OutboundReport) -> f64| median(runs.iter().map(f).collect());
        let (occ, occ_lo, occ_hi) = fig(|r| r.occupancy);
        let (ofcom, ofcom_lo, ofcom_hi) = fig(|r| r.abandon_rate_ofcom);
        let (tsr, ..) = fig(|r| r.abandon_rate_tsr);
        let (dials, ..) = fig(|r| r.dials_per_hour);
        let (connects, ..) = fig(|r| r.connects_per_hour);
        let (idle, ..) = fig(|r| r.idle_seconds_per_connect);
        let violations: u64 = runs.iter().map(|r| r.rule_violations).sum();
        println!(
            "| {mode:?} | {agents} | {:.1} % ({:.2}–{:.2}) | {:.2} % ({:.2}–{:.2}) | {:.2} % | {dials:.0} | {connects:.0} | {idle:.1} | {violations} |",
            occ * 100.0,
            occ_lo * 100.0,
            occ_hi * 100.0,
            ofcom * 100.0,
            ofcom_lo * 100.0,
            ofcom_hi * 100.0,
            tsr * 100.0,
        );
    }
    Ok(())
}
