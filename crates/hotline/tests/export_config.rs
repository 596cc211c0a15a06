//! End to end, with the real binary: a live change made through the API is written back
//! by `hotline export-config` as TOML that `hotline check-config` accepts, and the
//! configuration files win over a change made on an older version of them.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use hotline_switch::confdoc::{Docs, Kind};
use serde_json::json;

fn hotline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn skills(docs: &Docs, ext: &str) -> serde_json::Value {
    docs.item(Kind::Agents, ext).unwrap()["skills"].clone()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn export_config_writes_the_live_configuration_that_check_config_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut h = Hotline::demo_in(&data);

    // A supervisor gives 1003 accounts while the centre runs.
    let sup = login(&h, "supervisor", "supervisor");
    let (status, body) = http(
        h.http,
        "PUT",
        "/api/v1/agents/1003/skills",
        Some(&sup),
        Some(r#"{"skills":{"accounts":5,"cards":8,"general":5}}"#),
    );
    assert_eq!(status, 200, "{body}");

    // The log is the centre's while it runs: an export is refused, and says why.
    let out = hotline(&["export-config", "--data", path(&data)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("cannot open the data"),
        "{}",
        text(&out.stderr)
    );

    h.signal("TERM");
    let status = h.wait_exit(Duration::from_secs(60)).expect("hotline exits");
    assert!(status.success(), "exit status {status:?}");

    // Exported into a directory: both documents, valid, with the change.
    let exported = dir.path().join("exported");
    let out = hotline(&[
        "export-config",
        "--data",
        path(&data),
        "--out",
        path(&exported),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let centre = exported.join("hotline.toml");
    let check = hotline(&["check-config", path(&centre)]);
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(text(&check.stdout).contains("valid (10 agents"));
    let docs = Docs::read(&centre).unwrap();
    assert_eq!(
        skills(&docs, "1003"),
        json!({"accounts": 5, "cards": 8, "general": 5})
    );
    // Everything else is the demo's.
    let demo = Docs::demo();
    assert_eq!(skills(&docs, "1001"), skills(&demo, "1001"));
    let mut expected = demo.clone();
    let mut agent = demo.item(Kind::Agents, "1003").unwrap();
    agent["skills"] = json!({"accounts": 5, "cards": 8, "general": 5});
    expected
        .set_item(Kind::Agents, "1003", Some(agent))
        .unwrap();
    assert_eq!(docs.items(), expected.items());

    // A file that gave 1003 other skills since the change: the file's win.
    let edited = dir.path().join("centre.toml");
    std::fs::write(
        &edited,
        demo_toml().replace(
            "skills = { cards = 8, general = 5 }",
            "skills = { cards = 9, general = 5 }",
        ),
    )
    .unwrap();
    let out = hotline(&[
        "export-config",
        "--config",
        path(&edited),
        "--data",
        path(&data),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let docs = Docs::from_texts("stdout", &stdout, "flows", hotline_flow::DEMO_FLOWS).unwrap();
    docs.check().unwrap();
    assert_eq!(skills(&docs, "1003"), json!({"cards": 9, "general": 5}));
    assert!(
        text(&out.stderr).contains("1003: not exported"),
        "{}",
        text(&out.stderr)
    );
}
