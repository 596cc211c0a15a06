//! `hotline erlang` and `hotline sim`, run as the real binary.

use std::path::PathBuf;
use std::process::{Command, Output};

fn hotline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(args)
        .output()
        .expect("run hotline")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.trim().lines().count(), 1, "one JSON object: {text}");
    serde_json::from_str(text.trim()).expect("JSON")
}

fn scenario(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, text).expect("write scenario");
    path
}

#[test]
fn erlang_c_and_erlang_a() {
    // 100 calls in 30 minutes, 3 minutes each, 14 agents: 88.8% within 20 s.
    let v = json(&hotline(&[
        "erlang", "--rate", "200", "--aht", "180", "--agents", "14", "--target", "20",
    ]));
    let sl = v["service_level"].as_f64().unwrap();
    assert!((sl - 0.8884).abs() < 1e-3, "{v}");
    for k in ["asa", "p_wait", "occupancy"] {
        assert!(v[k].is_number(), "{k} in {v}");
    }
    assert!(v.get("abandon_rate").is_none());

    let v = json(&hotline(&[
        "erlang",
        "--rate",
        "440",
        "--aht",
        "180",
        "--agents",
        "22",
        "--target",
        "20",
        "--patience",
        "120",
    ]));
    let ab = v["abandon_rate"].as_f64().unwrap();
    assert!((ab - 0.0932).abs() < 1e-3, "{v}");
}

#[test]
fn erlang_bad_input_exits_2() {
    for args in [
        &[
            "erlang",
            "--rate=-5",
            "--aht",
            "180",
            "--agents",
            "10",
            "--target",
            "20",
        ][..],
        &[
            "erlang", "--rate", "100", "--aht", "0", "--agents", "10", "--target", "20",
        ][..],
        &[
            "erlang", "--rate", "100", "--aht", "180", "--agents", "0", "--target", "20",
        ][..],
        &[
            "erlang", "--rate", "lots", "--aht", "180", "--agents", "10", "--target", "20",
        ][..],
    ] {
        let out = hotline(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn sim_runs_the_contract_scenario() {
    let path = scenario(
        "contract.toml",
        r#"seed = 7
duration_hours = 10
[[queue]]
name = "general"
skills = { general = 1 }            # required skill -> minimum level
target_seconds = 20
arrivals_per_hour = 440             # Poisson
handle_time = { dist = "exponential", mean = 180 }
patience = { dist = "exponential", mean = 120 }   # optional; absent = callers never hang up
[[agents]]
count = 25
skills = { general = 5 }
"#,
    );
    let v = json(&hotline(&["sim", path.to_str().unwrap()]));
    let q = &v["queues"][0];
    assert_eq!(q["name"], "general");
    for k in [
        "offered",
        "answered",
        "abandoned",
        "service_level",
        "asa",
        "aht",
    ] {
        assert!(q[k].is_number(), "{k} in {q}");
    }
    assert!(q["offered"].as_u64().unwrap() > 3_000);
    assert_eq!(v["agents"].as_array().unwrap().len(), 25);
    assert!(v["agents"][0]["occupancy"].is_number());
    assert!(v["agents"][0]["handled"].is_number());
    assert!(v["events_per_second"].as_f64().unwrap() > 0.0);
}

#[test]
fn sim_bad_scenario_exits_2_naming_file_line_and_key() {
    let path = scenario(
        "bad.toml",
        "seed = 7\nduration_hours = 1\nspeed = 3\n[[queue]]\nname = \"q\"\narrivals_per_hour = 1\nhandle_time = { dist = \"fixed\", value = 1 }\n",
    );
    let out = hotline(&["sim", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:3:1"), "{err}");
    assert!(err.contains("`speed`"), "{err}");
    let out = hotline(&["sim", "/nonexistent.toml"]);
    assert_eq!(out.status.code(), Some(2));
}
