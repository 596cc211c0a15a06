//! The simulator, driving the real engine, against queueing theory.
//!
//! Tolerances: each run simulates 1,000 hours, i.e. 200,000 to 1,200,000 calls. Waiting times of
//! successive callers are strongly correlated (a busy spell delays everyone in it), so the
//! number of effectively independent samples is far below the number of calls. Cutting the
//! run into 100 batches of 10 hours (each much longer than a busy spell at these loads)
//! shows a batch-to-batch standard deviation of about 0.03 for the service level and
//! the probability of waiting, so the standard error of the 1,000-hour mean is about
//! 0.03 / √100 = 0.003; we allow 0.02 (over six standard errors, as three load levels are checked per test). The mean wait is noisier
//! (its batch standard deviation is about 25% of its value, standard error ≈ 2.5%): we allow
//! 10% or 1 s, whichever is larger. Abandonment: standard error ≈ 0.0015; we allow 0.01.

use hotline_sim::erlang::{erlang_a_metrics, erlang_c_metrics};
use hotline_sim::{Report, parse_scenario, simulate};

fn run(rate: f64, aht: f64, agents: u32, patience: Option<f64>, hours: f64, seed: u64) -> Report {
    let patience = patience
        .map(|p| format!("patience = {{ dist = \"exponential\", mean = {p} }}"))
        .unwrap_or_default();
    let text = format!(
        r#"
seed = {seed}
duration_hours = {hours}
warmup_hours = 2
[[queue]]
name = "general"
skills = {{ general = 1 }}
target_seconds = 20
arrivals_per_hour = {rate}
handle_time = {{ dist = "exponential", mean = {aht} }}
{patience}
[[agents]]
count = {agents}
skills = {{ general = 5 }}
"#
    );
    let sc = parse_scenario(&text, std::path::Path::new("theory.toml")).unwrap();
    simulate(&sc).unwrap()
}

#[test]
fn mm_n_matches_erlang_c_at_several_loads() {
    // (calls/hour, AHT, agents): loads 0.83, 0.88, 0.93.
    for (i, (rate, aht, n)) in [
        (200.0, 180.0, 12u32),
        (440.0, 180.0, 25),
        (1200.0, 120.0, 43),
    ]
    .into_iter()
    .enumerate()
    {
        let r = run(rate, aht, n, None, 1000.0, 11 + i as u64);
        let q = &r.queues[0];
        let th = erlang_c_metrics(rate, aht, n, 20.0).unwrap();
        let asa = th.asa.unwrap();
        println!(
            "C load {:.2}: sim sl {:.4} pw {:.4} asa {:.2} | theory sl {:.4} pw {:.4} asa {:.2} | mae {:.2}",
            th.occupancy,
            q.service_level,
            q.p_wait,
            q.asa,
            th.service_level,
            th.p_wait,
            asa,
            q.estimated_wait_mae
        );
        assert!(
            (q.service_level - th.service_level).abs() < 0.02,
            "sl {} vs {}",
            q.service_level,
            th.service_level
        );
        assert!(
            (q.p_wait - th.p_wait).abs() < 0.02,
            "p_wait {} vs {}",
            q.p_wait,
            th.p_wait
        );
        assert!(
            (q.asa - asa).abs() < (0.10 * asa).max(1.0),
            "asa {} vs {}",
            q.asa,
            asa
        );
        assert_eq!(q.abandoned, 0);
        assert_eq!(q.answered, q.answered);
        // Occupancy of agents equals the load.
        let occ: f64 = r.agents.iter().map(|a| a.occupancy).sum::<f64>() / f64::from(n);
        assert!(
            (occ - th.occupancy).abs() < 0.02,
            "occupancy {occ} vs {}",
            th.occupancy
        );
    }
}

#[test]
fn mm_n_m_matches_erlang_a_at_several_loads() {
    // (calls/hour, AHT, agents, patience): loads 0.88, 1.02 (overloaded), 0.8.
    for (i, (rate, aht, n, p)) in [
        (440.0, 180.0, 25u32, 120.0),
        (440.0, 180.0, 21, 120.0),
        (600.0, 120.0, 25, 60.0),
    ]
    .into_iter()
    .enumerate()
    {
        let r = run(rate, aht, n, Some(p), 1000.0, 21 + i as u64);
        let q = &r.queues[0];
        let th = erlang_a_metrics(rate, aht, n, 20.0, p).unwrap();
        let pab = th.abandon_rate.unwrap();
        println!(
            "A: sim sl {:.4} pw {:.4} ab {:.4} asa {:.2} | theory sl {:.4} pw {:.4} ab {:.4} asa {:.2}",
            q.service_level,
            q.p_wait,
            q.abandon_rate,
            q.asa,
            th.service_level,
            th.p_wait,
            pab,
            th.asa.unwrap()
        );
        assert!(
            (q.abandon_rate - pab).abs() < 0.01,
            "abandon {} vs {pab}",
            q.abandon_rate
        );
        assert!(
            (q.p_wait - th.p_wait).abs() < 0.02,
            "p_wait {} vs {}",
            q.p_wait,
            th.p_wait
        );
        assert!(
            (q.service_level - th.service_level).abs() < 0.02,
            "sl {} vs {}",
            q.service_level,
            th.service_level
        );
        let asa = th.asa.unwrap();
        assert!(
            (q.asa - asa).abs() < (0.10 * asa).max(1.0),
            "asa {} vs {asa}",
            q.asa
        );
    }
}
