//! Runs a scenario file and prints the JSON report, like `hotline sim FILE`.
//!
//! `cargo run --release -p hotline-sim --example sim -- crates/sim/scenarios/bank-day.toml`

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: sim FILE");
        return ExitCode::from(2);
    };
    match hotline_sim::run_scenario_file(std::path::Path::new(&path)) {
        Ok(report) => match serde_json::to_string(&report) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sim: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("sim: {e}");
            ExitCode::from(2)
        }
    }
}
