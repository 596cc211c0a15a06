//! `GET /api/v1/flows` against the real binary: the demo's flows as graphs with the numbers
//! that lead to them, for supervisors and administrators only.

mod common;

use common::{Hotline, http, login};
use serde_json::Value;

fn flows(h: &Hotline, token: &str) -> Vec<Value> {
    let (status, body) = http(h.http, "GET", "/api/v1/flows", Some(token), None);
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["flows"].as_array().unwrap().clone()
}

fn flow<'a>(all: &'a [Value], name: &str) -> &'a Value {
    all.iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no flow {name} in {all:?}"))
}

#[test]
fn the_demo_flows_are_graphs_with_their_numbers_for_supervisors_only() {
    let h = Hotline::demo();
    let sup = login(&h, "supervisor", "supervisor");
    let all = flows(&h, &sup);
    let mut names: Vec<&str> = all.iter().map(|f| f["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "abusive_end",
            "main",
            "outbound_survey",
            "survey",
            "voicemail"
        ]
    );

    let main = flow(&all, "main");
    assert_eq!(main["start"], "lookup");
    assert_eq!(main["numbers"], serde_json::json!(["95588"]));
    assert_eq!(main["any_number"], false);
    let nodes = main["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 14);
    assert_eq!(nodes[0]["id"], "lookup");
    let ids: Vec<&str> = nodes.iter().map(|n| n["id"].as_str().unwrap()).collect();
    let edges = main["edges"].as_array().unwrap();
    for e in edges {
        assert!(ids.contains(&e["to"].as_str().unwrap()), "{e}");
        assert!(ids.contains(&e["from"].as_str().unwrap()), "{e}");
    }
    let keys: Vec<(&str, &str)> = edges
        .iter()
        .filter(|e| e["from"] == "menu" && e["kind"] == "key")
        .map(|e| (e["label"].as_str().unwrap(), e["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        keys,
        [
            ("0", "general"),
            ("1", "accounts"),
            ("2", "cards"),
            ("9", "complaints")
        ]
    );
    let cards = nodes.iter().find(|n| n["id"] == "cards").unwrap();
    assert_eq!(cards["type"], "enqueue");
    assert_eq!(cards["detail"]["queue"], "cards");
    assert!(
        edges
            .iter()
            .any(|e| e["from"] == "hours" && e["kind"] == "rule" && e["label"] == "open office"),
        "{edges:?}"
    );
    // Flows entered otherwise than by a number list none.
    assert_eq!(flow(&all, "survey")["numbers"], serde_json::json!([]));

    // An administrator sees the same.
    let admin = login(&h, "admin", "admin");
    assert_eq!(flows(&h, &admin).len(), 5);

    // An agent does not; nor does nobody.
    let agent = login(&h, "agent1001", "pass1001");
    let (status, body) = http(h.http, "GET", "/api/v1/flows", Some(&agent), None);
    assert_eq!(status, 403, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "forbidden");
    let (status, body) = http(h.http, "GET", "/api/v1/flows", None, None);
    assert_eq!(status, 401, "{body}");

    // The administration page is served.
    let (status, page) = h.get("/admin");
    assert_eq!(status, 200);
    assert!(page.contains("/static/admin.js"), "{page}");
}

#[test]
fn numbers_of_the_configuration_lead_to_their_flows() {
    let h = Hotline::serve_with(|t| {
        t + "\n[[numbers]]\nnumber = \"95566\"\nflow = \"survey\"\n\n[[numbers]]\nnumber = \"4008\"\n"
    });
    let all = flows(&h, &login(&h, "supervisor", "supervisor"));
    assert_eq!(
        flow(&all, "main")["numbers"],
        serde_json::json!(["4008", "95588"])
    );
    assert_eq!(
        flow(&all, "survey")["numbers"],
        serde_json::json!(["95566"])
    );
}
