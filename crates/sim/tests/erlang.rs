//! Erlang C / Erlang A numerics: published values, an independent brute-force computation,
//! stability at 10,000 agents, and monotonicity.

use hotline_sim::erlang::{
    erlang_a_metrics, erlang_b, erlang_c, erlang_c_metrics, staff_erlang_a, staff_erlang_c,
};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

/// The classic example: 100 calls in 30 minutes (200 an hour), 3-minute handle time,
/// 20-second target. 10 Erlangs. The values below were computed independently with exact
/// rational arithmetic (sum of A^k/k!) and agree with the published tables (14 agents give
/// 88.8% answered within 20 s).
#[test]
fn erlang_c_classic_example() {
    let expected = [
        (11, 0.682118, 0.389614, 122.7813),
        (12, 0.449388, 0.640158, 40.4449),
        (13, 0.285270, 0.795595, 17.1162),
        (14, 0.174132, 0.888350, 7.8359),
        (15, 0.102042, 0.941453, 3.6735),
    ];
    for (n, pw, sl, asa) in expected {
        let r = erlang_c_metrics(200.0, 180.0, n, 20.0).unwrap();
        assert!(close(r.p_wait, pw, 1e-5), "n={n} p_wait {}", r.p_wait);
        assert!(
            close(r.service_level, sl, 1e-5),
            "n={n} sl {}",
            r.service_level
        );
        assert!(close(r.asa.unwrap(), asa, 1e-3), "n={n} asa {:?}", r.asa);
        assert!(close(r.occupancy, 10.0 / f64::from(n), 1e-12));
    }
    assert_eq!(staff_erlang_c(200.0, 180.0, 20.0, 0.8).unwrap(), 14);
}

#[test]
fn erlang_b_known_values() {
    // B(1, A) = A / (1 + A); B(2, 1) = 0.2.
    assert!(close(erlang_b(1, 3.0), 0.75, 1e-12));
    assert!(close(erlang_b(2, 1.0), 0.2, 1e-12));
    // Erlang C with one server is the load.
    assert!(close(erlang_c(1, 0.6), 0.6, 1e-12));
}

#[test]
fn unstable_erlang_c_is_reported_not_infinite() {
    let r = erlang_c_metrics(400.0, 180.0, 20, 20.0).unwrap();
    assert!(!r.stable);
    assert_eq!(r.p_wait, 1.0);
    assert_eq!(r.service_level, 0.0);
    assert_eq!(r.asa, None);
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["asa"].is_null());
}

/// Independent reference: the truncated birth–death chain of M/M/N+M solved by brute force
/// (normalising π(n) directly, in Python, 3000 queue places). λ = 440/h, AHT 180 s,
/// patience 120 s.
#[test]
fn erlang_a_matches_brute_force_chain() {
    let expected = [
        (20, 0.6350826775743221, 0.14541314890746396),
        (22, 0.4811866706008028, 0.09320784279697643),
        (25, 0.2645734088398496, 0.04069163214490211),
    ];
    for (n, pw, pab) in expected {
        let r = erlang_a_metrics(440.0, 180.0, n, 20.0, 120.0).unwrap();
        assert!(close(r.p_wait, pw, 1e-9), "n={n} p_wait {}", r.p_wait);
        assert!(
            close(r.abandon_rate.unwrap(), pab, 1e-9),
            "n={n} p_ab {:?}",
            r.abandon_rate
        );
        // Flow balance: answered load equals occupied agents.
        let served = 440.0 / 3600.0 * (1.0 - pab) * 180.0;
        assert!(close(r.occupancy * f64::from(n), served, 1e-9));
    }
}

/// With very patient callers Erlang A tends to Erlang C.
#[test]
fn erlang_a_tends_to_erlang_c() {
    let c = erlang_c_metrics(200.0, 180.0, 13, 20.0).unwrap();
    let a = erlang_a_metrics(200.0, 180.0, 13, 20.0, 1.0e7).unwrap();
    assert!(
        close(a.p_wait, c.p_wait, 1e-3),
        "{} vs {}",
        a.p_wait,
        c.p_wait
    );
    assert!(
        close(a.service_level, c.service_level, 1e-3),
        "{} vs {}",
        a.service_level,
        c.service_level
    );
    assert!(
        close(a.asa.unwrap(), c.asa.unwrap(), 0.05),
        "{:?} vs {:?}",
        a.asa,
        c.asa
    );
    assert!(a.abandon_rate.unwrap() < 1e-3);
}

#[test]
fn stable_at_ten_thousand_agents() {
    // 9,700 Erlangs on 10,000 agents (97% load), and a nearly idle centre.
    for (rate, n) in [
        (194_000.0, 10_000u32),
        (1_000.0, 10_000),
        (200_000.0, 10_000),
    ] {
        let c = erlang_c_metrics(rate, 180.0, n, 20.0).unwrap();
        for v in [c.service_level, c.p_wait, c.occupancy] {
            assert!(v.is_finite() && (0.0..=1.0).contains(&v), "{c:?}");
        }
        let a = erlang_a_metrics(rate, 180.0, n, 20.0, 120.0).unwrap();
        for v in [
            a.service_level,
            a.p_wait,
            a.occupancy,
            a.abandon_rate.unwrap(),
            a.asa.unwrap(),
        ] {
            assert!(v.is_finite() && v >= 0.0, "{a:?}");
        }
        assert!(a.service_level <= 1.0 && a.p_wait <= 1.0);
    }
    // Overloaded Erlang A (110% load) stays finite and loses roughly the excess.
    let a = erlang_a_metrics(220_000.0, 180.0, 10_000, 20.0, 120.0).unwrap();
    let pab = a.abandon_rate.unwrap();
    assert!(pab > 0.08 && pab < 0.12, "{pab}");
    let n = staff_erlang_c(194_000.0, 180.0, 20.0, 0.8).unwrap();
    assert!(n > 9_700 && n < 10_000, "{n}");
}

#[test]
fn monotone_in_agents() {
    let mut last_c = (0.0, 2.0);
    let mut last_a = (0.0, 2.0, 2.0);
    for n in 26..60 {
        let c = erlang_c_metrics(800.0, 120.0, n, 15.0).unwrap();
        assert!(c.service_level >= last_c.0 && c.p_wait <= last_c.1, "n={n}");
        last_c = (c.service_level, c.p_wait);
        let a = erlang_a_metrics(800.0, 120.0, n, 15.0, 90.0).unwrap();
        let pab = a.abandon_rate.unwrap();
        assert!(
            a.service_level >= last_a.0 - 1e-12,
            "n={n} {} < {}",
            a.service_level,
            last_a.0
        );
        assert!(
            a.p_wait <= last_a.1 + 1e-12 && pab <= last_a.2 + 1e-12,
            "n={n}"
        );
        last_a = (a.service_level, a.p_wait, pab);
    }
    // More patience, fewer abandons; more traffic, lower service level.
    let a1 = erlang_a_metrics(800.0, 120.0, 28, 15.0, 60.0).unwrap();
    let a2 = erlang_a_metrics(800.0, 120.0, 28, 15.0, 300.0).unwrap();
    assert!(a2.abandon_rate.unwrap() < a1.abandon_rate.unwrap());
    let c1 = erlang_c_metrics(800.0, 120.0, 30, 15.0).unwrap();
    let c2 = erlang_c_metrics(850.0, 120.0, 30, 15.0).unwrap();
    assert!(c2.service_level < c1.service_level);
}

#[test]
fn staffing_meets_targets_and_is_minimal() {
    let n = staff_erlang_a(440.0, 180.0, 20.0, 120.0, 0.8, 0.05).unwrap();
    let r = erlang_a_metrics(440.0, 180.0, n, 20.0, 120.0).unwrap();
    assert!(r.service_level >= 0.8 && r.abandon_rate.unwrap() <= 0.05);
    let r1 = erlang_a_metrics(440.0, 180.0, n - 1, 20.0, 120.0).unwrap();
    assert!(r1.service_level < 0.8 || r1.abandon_rate.unwrap() > 0.05);
}

#[test]
fn bad_inputs_are_errors() {
    assert!(erlang_c_metrics(-1.0, 180.0, 10, 20.0).is_err());
    assert!(erlang_c_metrics(100.0, 0.0, 10, 20.0).is_err());
    assert!(erlang_c_metrics(f64::NAN, 180.0, 10, 20.0).is_err());
    assert!(erlang_c_metrics(100.0, 180.0, 0, 20.0).is_err());
    assert!(erlang_c_metrics(100.0, 180.0, 2_000_000, 20.0).is_err());
    assert!(staff_erlang_c(1.0e12, 180.0, 20.0, 0.8).is_err());
    assert!(erlang_a_metrics(100.0, 180.0, 10, 20.0, 0.0).is_err());
    assert!(staff_erlang_c(100.0, 180.0, 20.0, 1.0).is_err());
    let v = serde_json::to_value(
        hotline_sim::run_erlang_cli(440.0, 180.0, 25, 20.0, Some(120.0)).unwrap(),
    )
    .unwrap();
    for k in [
        "service_level",
        "asa",
        "p_wait",
        "occupancy",
        "abandon_rate",
    ] {
        assert!(v[k].is_number(), "{k} missing in {v}");
    }
    let v =
        serde_json::to_value(hotline_sim::run_erlang_cli(440.0, 180.0, 25, 20.0, None).unwrap())
            .unwrap();
    assert!(v.get("abandon_rate").is_none());
}
