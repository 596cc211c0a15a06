//! The hotline simulator: a discrete-event simulation in virtual time, with a seeded random
//! number generator, that drives the real routing engine ([`hotline_acd`]); and Erlang C /
//! Erlang A formulas with staffing ([`erlang`]).
//!
//! ```
//! let text = r#"
//! seed = 7
//! duration_hours = 2
//! [[queue]]
//! name = "general"
//! skills = { general = 1 }
//! target_seconds = 20
//! arrivals_per_hour = 100
//! handle_time = { dist = "exponential", mean = 180 }
//! [[agents]]
//! count = 8
//! skills = { general = 5 }
//! "#;
//! let scenario = hotline_sim::parse_scenario(text, std::path::Path::new("demo.toml")).unwrap();
//! let report = hotline_sim::simulate(&scenario).unwrap();
//! assert_eq!(report.queues[0].name, "general");
//! assert!(report.queues[0].offered > 100);
//! ```

#![warn(missing_docs)]

pub mod erlang;
mod outbound;
mod scenario;
mod sim;

use std::path::Path;

pub use erlang::{ErlangError, ErlangResult};
pub use outbound::{OutboundReport, OutboundSpec};
pub use scenario::{
    AgentSpec, Dist, Fraction, NonNeg, QueueSpec, Scenario, Shift, Window, parse_scenario,
};
pub use sim::{AgentReport, DayFigures, QueueReport, Report, WellbeingReport, simulate};

/// Errors of the simulator and of the Erlang calculator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scenario file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The scenario is not valid TOML or has a bad or unknown key.
    #[error("{path}:{line}:{column}: {}{message}", key.as_ref().map(|k| format!("key `{k}`: ")).unwrap_or_default())]
    Parse {
        /// File.
        path: String,
        /// Line (1-based; 0 if unknown).
        line: usize,
        /// Column (1-based).
        column: usize,
        /// Key at fault, when known.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The scenario is well-formed but inconsistent.
    #[error("{path}: {message}")]
    Invalid {
        /// File.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Bad Erlang inputs.
    #[error(transparent)]
    Erlang(#[from] ErlangError),
    /// The engine refused an input (a bug in the scenario wiring).
    #[error("engine: {0}")]
    Engine(hotline_acd::Error),
}

/// `hotline erlang`: Erlang C, or Erlang A when `patience` is given. `rate` calls per hour,
/// `aht`, `target` and `patience` in seconds.
pub fn run_erlang_cli(
    rate: f64,
    aht: f64,
    agents: u32,
    target: f64,
    patience: Option<f64>,
) -> Result<ErlangResult, Error> {
    Ok(match patience {
        Some(p) => erlang::erlang_a_metrics(rate, aht, agents, target, p)?,
        None => erlang::erlang_c_metrics(rate, aht, agents, target)?,
    })
}

/// `hotline sim FILE`: reads, checks and runs a scenario file.
pub fn run_scenario_file(path: &Path) -> Result<Report, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let scenario = parse_scenario(&text, path)?;
    simulate(&scenario).map_err(|e| match e {
        Error::Invalid { message, .. } => Error::Invalid {
            path: path.display().to_string(),
            message,
        },
        other => other,
    })
}
