//! The shipped scenarios, and the scenario file format.

use std::path::{Path, PathBuf};

use hotline_acd::WellbeingRules;
use hotline_sim::{Error, parse_scenario, run_scenario_file, simulate};

fn scenario_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

/// The wellbeing rules, on and off, on the same calls (same seed).
#[test]
fn wellbeing_rules_cost_and_benefit() {
    let path = scenario_path("wellbeing.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let on_sc = parse_scenario(&text, &path).unwrap();
    let mut off_sc = on_sc.clone();
    off_sc.wellbeing = Some(WellbeingRules::off());
    let on = simulate(&on_sc).unwrap();
    let off = simulate(&off_sc).unwrap();
    for (label, r) in [("rules off", &off), ("rules on", &on)] {
        let w = &r.wellbeing;
        println!(
            "{label}: SL {} | abandon {} | difficult/agent mean {:.1} sd {:.2} min {} max {} | \
             longest run {} | agents with 3+ in a row {} | recovery h {:.1} | pause h {:.1} | max occupancy {:.3}",
            r.queues
                .iter()
                .map(|q| format!("{} {:.3}", q.name, q.service_level))
                .collect::<Vec<_>>()
                .join(", "),
            r.queues
                .iter()
                .map(|q| format!("{:.3}", q.abandon_rate))
                .collect::<Vec<_>>()
                .join("/"),
            w.difficult_per_agent_mean,
            w.difficult_per_agent_sd,
            w.difficult_per_agent_min,
            w.difficult_per_agent_max,
            w.max_difficult_in_row,
            w.agents_with_3_in_row,
            w.recovery_hours,
            w.pause_hours,
            w.max_occupancy,
        );
    }
    let sl = |r: &hotline_sim::Report| {
        let (ans_in, off): (f64, f64) = r
            .queues
            .iter()
            .map(|q| (q.service_level * q.offered as f64, q.offered as f64))
            .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
        ans_in / off
    };
    // The rules cost service level (agents spend time recovering)...
    assert!(
        sl(&on) < sl(&off),
        "rules on {} vs off {}",
        sl(&on),
        sl(&off)
    );
    // ...and in exchange stress is spread: no long runs of difficult calls, a narrower spread
    // of difficult calls across agents, recovery time granted.
    assert!(
        on.wellbeing.max_difficult_in_row <= 2,
        "{}",
        on.wellbeing.max_difficult_in_row
    );
    assert!(off.wellbeing.max_difficult_in_row >= 3);
    assert!(on.wellbeing.difficult_per_agent_sd < off.wellbeing.difficult_per_agent_sd);
    assert!(on.wellbeing.recovery_hours > 0.0 && off.wellbeing.recovery_hours == 0.0);
    assert_eq!(on.wellbeing.agents_with_3_in_row, 0);
}

const CONTRACT: &str = r#"seed = 7
duration_hours = 100
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
"#;

/// The scenario of the external contract is accepted as written, and the report has the
/// contract's keys.
#[test]
fn contract_scenario_runs_and_reports_the_contract_keys() {
    let sc = parse_scenario(CONTRACT, Path::new("contract.toml")).unwrap();
    let r = simulate(&sc).unwrap();
    let v = serde_json::to_value(&r).unwrap();
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
        assert!(q[k].is_number(), "queue key {k} in {q}");
    }
    assert_eq!(v["agents"].as_array().unwrap().len(), 25);
    for k in [
        "occupancy",
        "handled",
        "difficult",
        "max_difficult_in_row",
        "recovery_seconds",
    ] {
        assert!(v["agents"][0][k].is_number(), "agent key {k}");
    }
    assert!(v["events_per_second"].as_f64().unwrap() > 0.0);
    assert!(v["estimated_wait_mae"].is_number());
    // 100 hours at 440 an hour.
    let offered = q["offered"].as_u64().unwrap();
    assert!((42_000..46_000).contains(&offered), "{offered}");
    let answered = q["answered"].as_u64().unwrap();
    let abandoned = q["abandoned"].as_u64().unwrap();
    assert!(answered + abandoned <= offered && answered + abandoned + 30 >= offered);
    // Same seed, same figures.
    let again = simulate(&sc).unwrap();
    assert_eq!(again.queues, r.queues);
    assert_eq!(again.agents, r.agents);
}

#[test]
fn unknown_keys_are_errors_with_line_and_column() {
    let text = CONTRACT.replace(
        "target_seconds = 20",
        "target_seconds = 20\ncolour = \"blue\"",
    );
    let err = parse_scenario(&text, Path::new("bad.toml")).unwrap_err();
    match &err {
        Error::Parse {
            path,
            line,
            column,
            key,
            ..
        } => {
            assert_eq!(path, "bad.toml");
            assert_eq!(*line, 7);
            assert_eq!(*column, 1);
            assert_eq!(key.as_deref(), Some("colour"));
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.starts_with("bad.toml:7:1: key `colour`"), "{msg}");

    let text = CONTRACT.replace("seed = 7", "seed = 7\nrandom = true");
    let err = parse_scenario(&text, Path::new("x.toml")).unwrap_err();
    assert!(err.to_string().contains("x.toml:2:"), "{err}");
}

#[test]
fn bad_values_name_the_key() {
    let cases = [
        (CONTRACT.replace("mean = 180", "mean = -5"), "handle_time"),
        (
            CONTRACT.replace("\"exponential\", mean = 180", "\"gamma\", mean = 180"),
            "handle_time",
        ),
        (
            CONTRACT.replace("arrivals_per_hour = 440", "arrivals_per_hour = -1"),
            "arrivals_per_hour",
        ),
        (CONTRACT.replace("count = 25", "count = \"many\""), "count"),
    ];
    for (text, key) in cases {
        let err = parse_scenario(&text, Path::new("v.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&format!("`{key}`")), "{msg}");
        assert!(msg.starts_with("v.toml:"), "{msg}");
    }
    let err = run_scenario_file(Path::new("/nonexistent/scenario.toml")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/scenario.toml"));
    // Skills above level 10 are refused by the engine, naming the queue.
    let text = CONTRACT.replace("general = 1 }", "general = 11 }");
    let err = simulate(&parse_scenario(&text, Path::new("l.toml")).unwrap()).unwrap_err();
    assert!(err.to_string().contains("queue `general`"), "{err}");
}

#[test]
fn extras_shifts_curves_and_distributions() {
    let text = r#"
seed = 3
duration_hours = 48
[[queue]]
name = "day"
skills = { general = 1 }
arrivals_per_hour = 100
curve = [0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0]
handle_time = { dist = "lognormal", mean = 200, sd = 100 }
patience = { dist = "fixed", value = 300 }
wrap_up_seconds = 10
[[agents]]
count = 14
name = "day"
skills = { general = 3 }
shift = { start = 8, end = 16 }
"#;
    let r = simulate(&parse_scenario(text, Path::new("e.toml")).unwrap()).unwrap();
    let q = &r.queues[0];
    // 2 days × 8 hours × 200 an hour.
    assert!((2_900..3_500).contains(&q.offered), "{}", q.offered);
    assert!(q.aht > 170.0 && q.aht < 230.0, "{}", q.aht);
    for a in &r.agents {
        assert!(
            a.logged_in_hours > 15.9 && a.logged_in_hours < 16.6,
            "{}",
            a.logged_in_hours
        );
    }
    assert!(q.service_level > 0.5);
}

/// A schedule's form: a 15-minute curve over a week and agents on duty for given stretches.
#[test]
fn quarter_hour_curves_and_planned_stretches() {
    // Calls only from 09:00 to 09:15 each day, 400 an hour then: 100 a day, 700 a week.
    let mut curve = vec!["0"; 96];
    curve[36] = "1";
    let text = format!(
        r#"
seed = 11
duration_hours = 168
[[queue]]
name = "q"
arrivals_per_hour = 400
curve_minutes = 15
curve = [{}]
handle_time = {{ dist = "fixed", value = 30 }}
[[agents]]
name = "early"
on_duty = [{{ start = 9, end = 9.1 }}]
[[agents]]
name = "late"
on_duty = [{{ start = 9.1, end = 10 }}, {{ start = 33, end = 34 }}]
"#,
        curve.join(", ")
    );
    let r = simulate(&parse_scenario(&text, Path::new("p.toml")).unwrap()).unwrap();
    let q = &r.queues[0];
    assert!((610..790).contains(&q.offered), "{}", q.offered);
    let hours = |name: &str| {
        r.agents
            .iter()
            .find(|a| a.name == name)
            .map(|a| (a.handled, a.logged_in_hours))
            .unwrap()
    };
    let (early, early_h) = hours("early");
    let (late, late_h) = hours("late");
    // Day 1's calls go to "early" for 6 minutes (at most 12 calls of 30 s), then to
    // "late"; day 2's to "late"; on the other days nobody is on duty and nothing is
    // answered (these callers never hang up: they wait to the end of the run).
    assert!((8..=12).contains(&early), "early {early}");
    assert_eq!(q.answered, early + late);
    assert!((150..260).contains(&q.answered), "{}", q.answered);
    // Logged-in time follows the stretches (a call in progress may hold an agent on).
    assert!((0.1..0.12).contains(&early_h), "{early_h}");
    assert!((1.9..1.92).contains(&late_h), "{late_h}");
    // Per day: seven 24-hour buckets adding up to the totals; answers only on the two days
    // someone was on duty.
    assert_eq!(q.days.len(), 7);
    assert_eq!(q.days.iter().map(|d| d.offered).sum::<u64>(), q.offered);
    assert_eq!(q.days.iter().map(|d| d.answered).sum::<u64>(), q.answered);
    for d in &q.days {
        assert!((60..140).contains(&d.offered), "{d:?}");
        assert!(d.answered_within_target <= d.answered && d.answered <= d.offered);
        assert_eq!(d.answered > 0, d.day < 2, "{d:?}");
        let sl = d.answered_within_target as f64 / d.offered as f64;
        assert_eq!(d.service_level, sl);
    }
    // Overlapping stretches, and a plan together with a daily shift, are refused.
    let bad = text.replace("start = 33", "start = 9.5");
    assert!(parse_scenario(&bad, Path::new("p.toml")).is_err());
    let bad = text.replace(
        "name = \"early\"",
        "name = \"early\"\nshift = { start = 8, end = 16 }",
    );
    let err = parse_scenario(&bad, Path::new("p.toml")).unwrap_err();
    assert!(err.to_string().contains("on_duty"), "{err}");
}

#[test]
fn bank_day_scenario_parses_and_has_its_size() {
    let path = scenario_path("bank-day.toml");
    let sc = parse_scenario(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
    let agents: u32 = sc.agents.iter().map(|a| a.count).sum();
    assert_eq!(agents, 600);
    assert_eq!(sc.duration_hours.0, 24.0);
}

#[test]
fn runaway_scenarios_are_refused() {
    for (from, to) in [
        ("duration_hours = 100", "duration_hours = 1e9"),
        ("count = 25", "count = 4000000000"),
        ("arrivals_per_hour = 440", "arrivals_per_hour = 1e8"),
    ] {
        let text = CONTRACT.replace(from, to);
        assert!(parse_scenario(&text, Path::new("r.toml")).is_err(), "{to}");
    }
}

/// Every optional key of the documented format, together.
#[test]
fn the_documented_format_is_accepted() {
    let text = r#"
seed = 7
duration_hours = 20
warmup_hours = 2

[wellbeing]
enabled = true
agitation_threshold = 0.7
recovery_break_seconds = 120
max_difficult_in_row = 2
fair_spread = true
occupancy_ceiling = 0.92
occupancy_window_minutes = 60
max_pause_seconds = 180
escalate_agitation = 0.0

[[queue]]
name = "other"
skills = { other = 1 }
arrivals_per_hour = 20
handle_time = { dist = "fixed", value = 100 }
strategy = "round_robin"

[[queue]]
name = "general"
skills = { general = 1 }
target_seconds = 20
arrivals_per_hour = 300
curve = [0.5, 1.5]
handle_time = { dist = "lognormal", mean = 180, sd = 90 }
patience = { dist = "exponential", mean = 120 }
channel = "voice"
priority = 1
strategy = "best_fit"
max_wait = { seconds = 300, action = { overflow = { queue = "other" } } }
overflow = [{ after_seconds = 60, lower_levels_by = 2 }, { after_seconds = 120, add_skills = { general = 3 }, add_queues = ["other"] }]
wrap_up_seconds = 5
difficult_fraction = 0.1
difficult_known_fraction = 0.5
difficult_handle_factor = 1.5
vip_fraction = 0.05

[[queue]]
name = "chat"
skills = { chat = 2 }
arrivals_per_hour = 30
handle_time = { dist = "exponential", mean = 300 }
channel = "chat"
strategy = "fewest_contacts"
max_wait = { seconds = 600, action = "disconnect" }

[[agents]]
count = 20
name = "day"
skills = { general = 5, other = 2, chat = 3 }
shift = { start = 22, end = 20 }
"#;
    let r = simulate(&parse_scenario(text, Path::new("doc.toml")).unwrap()).unwrap();
    assert_eq!(r.queues.len(), 3);
    assert!(
        r.queues.iter().all(|q| q.offered > 0 && q.answered > 0),
        "{:?}",
        r.queues
    );
    assert_eq!(r.agents[0].name, "day-1");
}
