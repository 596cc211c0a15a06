//! Outbound pacing in the simulator: the real campaign core and the real routing engine, in
//! virtual time, against the targets of predictive dialling.

use std::path::{Path, PathBuf};

use hotline_dialer::Mode;
use hotline_sim::{OutboundReport, Scenario, parse_scenario, simulate};

fn scenario() -> Scenario {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join("outbound-predictive.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    parse_scenario(&text, &path).unwrap()
}

fn run(mode: Mode, agents: u32, seed: u64, limit: f64) -> OutboundReport {
    let mut sc = scenario();
    sc.seed = seed;
    let spec = sc.outbound.as_mut().unwrap();
    spec.mode = mode;
    spec.agents = agents;
    spec.max_abandon_rate = hotline_sim::Fraction(limit);
    let r = simulate(&sc).unwrap().outbound.unwrap();
    println!(
        "{mode:?} {agents} agents seed {seed}: occupancy {:.3}, abandon ofcom {:.4} tsr {:.4}, \
         dials/h {:.0}, connects/h {:.0}, idle s/connect {:.1}, predictive share {:.2}, gain {:.2}, \
         live {} abandoned {} max in flight {}",
        r.occupancy,
        r.abandon_rate_ofcom,
        r.abandon_rate_tsr,
        r.dials_per_hour,
        r.connects_per_hour,
        r.idle_seconds_per_connect,
        r.predictive_share,
        r.core.predictive_gain,
        r.core.live,
        r.core.abandoned,
        r.max_in_flight,
    );
    // The core never connected a call the routing engine could not give an agent at once.
    assert_eq!(r.queued_after_connect, 0);
    // Every dial kept the rules (checked by the run, independently of the core), and the
    // do-not-call list was met.
    assert_eq!(r.rule_violations, 0);
    assert!(r.core.dnc_blocked > 0);
    r
}

#[test]
fn predictive_20_agents_reaches_83_percent_within_3_percent_abandoned() {
    let r = run(Mode::Predictive, 20, 1, 0.03);
    assert!(r.occupancy >= 0.83, "occupancy {}", r.occupancy);
    assert!(
        r.abandon_rate_ofcom <= 0.03,
        "Ofcom {}",
        r.abandon_rate_ofcom
    );
    assert!(r.abandon_rate_tsr <= 0.03, "TSR {}", r.abandon_rate_tsr);
    assert!(
        r.predictive_share > 0.9,
        "predictive share {}",
        r.predictive_share
    );
}

#[test]
fn predictive_50_agents_reaches_90_percent_within_2_percent_abandoned() {
    let r = run(Mode::Predictive, 50, 1, 0.03);
    assert!(r.occupancy >= 0.90, "occupancy {}", r.occupancy);
    assert!(
        r.abandon_rate_ofcom <= 0.02,
        "Ofcom {}",
        r.abandon_rate_ofcom
    );
    assert!(r.abandon_rate_tsr <= 0.02, "TSR {}", r.abandon_rate_tsr);
}

#[test]
fn predictive_below_10_agents_falls_back_to_progressive() {
    let p = run(Mode::Predictive, 8, 1, 0.03);
    let q = run(Mode::Progressive, 8, 1, 0.03);
    assert_eq!(p.predictive_share, 0.0);
    assert_eq!(
        p.core.abandoned, 0,
        "progressive pacing never dials ahead of free agents"
    );
    assert!(p.max_in_flight <= 8);
    // Same seed, same pacing: the same run.
    assert_eq!(
        (p.core.dials, p.core.connected),
        (q.core.dials, q.core.connected)
    );
}

#[test]
fn progressive_baseline_about_73_percent() {
    let r = run(Mode::Progressive, 20, 1, 0.03);
    assert!(
        (0.70..=0.76).contains(&r.occupancy),
        "occupancy {}",
        r.occupancy
    );
    assert_eq!(r.core.abandoned, 0);
    assert!(r.max_in_flight <= 20);
}

#[test]
fn agentless_keeps_its_concurrency_and_never_abandons() {
    let mut sc = scenario();
    let spec = sc.outbound.as_mut().unwrap();
    spec.mode = Mode::Agentless;
    spec.agents = 0;
    spec.agentless_concurrency = 12;
    let r = simulate(&sc).unwrap().outbound.unwrap();
    assert!(r.max_in_flight <= 12);
    assert_eq!(r.core.abandoned, 0);
    assert!(r.core.connected > 0 && r.core.connected == r.core.live);
}

#[test]
fn preview_dials_only_what_agents_chose() {
    let mut sc = scenario();
    let spec = sc.outbound.as_mut().unwrap();
    spec.mode = Mode::Preview;
    spec.agents = 5;
    let r = simulate(&sc).unwrap().outbound.unwrap();
    assert_eq!(r.core.abandoned, 0);
    assert!(r.max_in_flight <= 5);
    assert!(r.core.connected > 0);
}

#[test]
fn outbound_scenario_errors_name_the_key() {
    let bad = r#"
seed = 1
duration_hours = 1
[outbound]
mode = "predictive"
agents = 10
live_answer_rate = 0.7
machine_rate = 0.4
handle_time = { dist = "fixed", value = 60 }
"#;
    let e = parse_scenario(bad, Path::new("bad.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("above 1"), "{e}");
    let short_ring = bad
        .replace("0.7", "0.3")
        .replace("agents = 10", "agents = 10\nring_seconds = 10");
    let e = parse_scenario(&short_ring, Path::new("bad.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("ring_seconds"), "{e}");
}

#[test]
fn calls_stop_at_the_end_of_the_calling_hours() {
    // From 17:00 UTC (London) for 16 hours: the hours close at 21:00 and open at 08:00.
    let mut sc = scenario();
    sc.duration_hours = hotline_sim::NonNeg(16.0);
    let spec = sc.outbound.as_mut().unwrap();
    spec.mode = Mode::Predictive;
    spec.agents = 20;
    spec.start_unix_seconds = 1_764_608_400;
    let r = simulate(&sc).unwrap().outbound.unwrap();
    assert_eq!(r.rule_violations, 0);
    // Four hours of dialling (17:00-21:00) and none overnight: far fewer dials than 16 hours'
    // worth at the daytime rate.
    assert!(r.core.dials > 1_000, "{}", r.core.dials);
    assert!(
        r.dials_per_hour < 1_438.0 * 4.0 / 16.0 * 1.3,
        "{}",
        r.dials_per_hour
    );
}

#[test]
fn hotline_sim_runs_the_outbound_scenario_file() {
    // What `hotline sim FILE` does: read, check, run, one JSON report.
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join("outbound-predictive.toml");
    let report = hotline_sim::run_scenario_file(&path).unwrap();
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    let ob = &json["outbound"];
    assert_eq!(ob["mode"], "predictive");
    assert_eq!(ob["agents"], 20);
    assert!(ob["occupancy"].as_f64().unwrap() > 0.8);
    assert!(ob["abandon_rate_ofcom"].as_f64().unwrap() <= 0.03);
    assert_eq!(ob["rule_violations"], 0);
    assert_eq!(json["agents"].as_array().unwrap().len(), 20);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        /// Random campaigns, started at any hour of the week, through the real core and the
        /// real routing engine: no dial ever breaks a rule (do-not-call, calling hours, the
        /// daily cap, 72 h after an abandoned call in predictive), progressive never has
        /// more calls in flight than agents, and no connected call waits for an agent.
        #[test]
        fn every_dial_keeps_the_rules(
            seed in any::<u64>(),
            mode in prop_oneof![Just(Mode::Predictive), Just(Mode::Progressive), Just(Mode::Agentless)],
            agents in 1u32..40,
            live in 0.05f64..0.6,
            machine in 0.0f64..0.3,
            dnc in 0.0f64..0.3,
            start_hour in 0i64..168,
            hours in 2.0f64..12.0,
        ) {
            let mut sc = scenario();
            sc.seed = seed;
            sc.duration_hours = hotline_sim::NonNeg(hours);
            let spec = sc.outbound.as_mut().unwrap();
            spec.mode = mode;
            spec.agents = agents;
            spec.contacts = 5_000;
            spec.live_answer_rate = hotline_sim::Fraction(live);
            spec.machine_rate = hotline_sim::Fraction(machine);
            spec.do_not_call_share = hotline_sim::Fraction(dnc);
            spec.start_unix_seconds = 1_764_547_200 + start_hour * 3600;
            let r = simulate(&sc).unwrap().outbound.unwrap();
            prop_assert_eq!(r.rule_violations, 0);
            prop_assert_eq!(r.queued_after_connect, 0);
            if mode == Mode::Progressive {
                prop_assert!(r.max_in_flight <= agents);
                prop_assert_eq!(r.core.abandoned, 0);
            }
        }
    }
}
