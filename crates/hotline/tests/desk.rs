//! The routes behind the agent desktop and the wallboard, against the real binary: who am I,
//! the knowledge base (built-in and from `kb/` beside the configuration), the day's reports
//! and who may read a screen pop; and the pages themselves.

mod common;

use common::{Hotline, http, login};

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn knowledge_base_is_searched_in_chinese_and_english_and_read_from_the_config_directory() {
    let h = Hotline::serve_with(|t| t);
    let agent = login(&h, "agent1001", "pass1001");

    let (status, body) = http(h.http, "GET", "/api/v1/me", Some(&agent), None);
    assert_eq!(status, 200, "{body}");
    let me = json(&body);
    assert_eq!(
        (me["role"].as_str(), me["agent"].as_str()),
        (Some("agent"), Some("1001"))
    );

    // 挂失 (report a card lost), URL-encoded.
    let (status, body) = http(
        h.http,
        "GET",
        "/api/v1/kb?q=%E6%8C%82%E5%A4%B1",
        Some(&agent),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let hits = json(&body);
    assert_eq!(hits[0]["slug"], "card-loss", "{hits}");
    assert_eq!(hits[0]["lang"], "zh", "{hits}");
    let (status, body) = http(
        h.http,
        "GET",
        "/api/v1/kb?q=transfer+limit&lang=en",
        Some(&agent),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)[0]["slug"], "transfer-limits", "{body}");

    let (status, body) = http(
        h.http,
        "GET",
        "/api/v1/kb/card-loss?lang=en",
        Some(&agent),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let a = json(&body);
    assert_eq!(a["title"], "Lost or stolen card");
    assert!(a["markdown"].as_str().unwrap().contains("temporary block"));
    let (status, body) = http(
        h.http,
        "GET",
        "/api/v1/kb/no-such-article",
        Some(&agent),
        None,
    );
    assert_eq!(status, 404);
    assert_eq!(json(&body)["error"]["code"], "unknown_article");
    let (status, _) = http(h.http, "GET", "/api/v1/kb", None, None);
    assert_eq!(status, 401);
    let long = format!("/api/v1/kb?q={}", "a".repeat(201));
    let (status, body) = http(h.http, "GET", &long, Some(&agent), None);
    assert_eq!(status, 400);
    assert_eq!(json(&body)["error"]["code"], "bad_query");
    // A query string that does not parse, and a path that is not UTF-8: JSON errors.
    let (status, body) = http(h.http, "GET", "/api/v1/kb?q=a&q=b", Some(&agent), None);
    assert_eq!(status, 400, "{body}");
    assert_eq!(json(&body)["error"]["code"], "bad_query");
    let (status, body) = http(h.http, "GET", "/api/v1/kb/%FF", Some(&agent), None);
    assert_eq!(status, 400, "{body}");
    assert_eq!(json(&body)["error"]["code"], "bad_path");

    // An article the centre adds in kb/ beside its configuration, found at once.
    let kb = h.dir.path().join("kb");
    std::fs::create_dir_all(&kb).unwrap();
    std::fs::write(
        kb.join("mortgage-rates.en.md"),
        "# Mortgage rates\n\nThe five-year fixed rate is 3.1 %.\n",
    )
    .unwrap();
    std::fs::write(kb.join("not an article.txt"), "ignored").unwrap();
    let (status, body) = http(h.http, "GET", "/api/v1/kb?q=mortgage", Some(&agent), None);
    assert_eq!(status, 200, "{body}");
    let hits = json(&body);
    assert_eq!(hits.as_array().unwrap().len(), 1, "{hits}");
    assert_eq!(hits[0]["title"], "Mortgage rates");
}

#[test]
fn reports_are_for_supervisors_and_screen_pops_for_the_agent_offered_the_call() {
    let h = Hotline::demo();
    let agent = login(&h, "agent1001", "pass1001");
    let sup = login(&h, "supervisor", "supervisor");

    let (status, body) = http(
        h.http,
        "GET",
        "/api/v1/reports/intervals",
        Some(&agent),
        None,
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(json(&body)["error"]["code"], "forbidden");
    let (status, body) = http(
        h.http,
        "GET",
        "/api/v1/reports/daily.csv",
        Some(&agent),
        None,
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = http(
        h.http,
        "GET",
        "/api/v1/reports/intervals?date=2026-02-30",
        Some(&sup),
        None,
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(json(&body)["error"]["code"], "bad_date");

    // A caller who gives up in the queue (nobody is available): an abandon in today's report.
    let mut events = common::open_events(&h, &sup).unwrap();
    let (ok, log) = h.sipp("caller-key-talk.xml", &["-m", "1"]);
    assert!(ok, "{log}");
    while common::next_event(&mut events)["kind"]["type"] != "ended" {}
    let (status, body) = http(h.http, "GET", "/api/v1/interactions", Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    let records = json(&body);
    let id = records[0]["id"].as_str().unwrap().to_string();
    assert!(records[0]["ended"].is_string(), "{records}");

    let (status, body) = http(h.http, "GET", "/api/v1/reports/intervals", Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    let day = json(&body);
    assert_eq!(day["intervals"].as_array().unwrap().len(), 96);
    assert_eq!(day["total"]["offered"], 1, "{}", day["total"]);
    assert_eq!(day["total"]["abandoned"], 1, "{}", day["total"]);
    assert_eq!(day["total"]["service_level"], 0.0, "{}", day["total"]);
    assert_eq!(day["target_seconds"]["accounts"], 20.0);
    let (status, csv) = http(h.http, "GET", "/api/v1/reports/daily.csv", Some(&sup), None);
    assert_eq!(status, 200);
    assert!(csv.starts_with("interval_start,queue,offered,"), "{csv}");
    assert!(csv.contains("\ntotal,accounts,1,0,0,1,0.0000,,"), "{csv}");

    // The call was never offered to 1001, so 1001 may not see its pop; a supervisor may.
    let pop = format!("/api/v1/interactions/{id}/screen-pop");
    let (status, body) = http(h.http, "GET", &pop, Some(&agent), None);
    assert_eq!(status, 403, "{body}");
    assert_eq!(json(&body)["error"]["code"], "forbidden");
    let (status, body) = http(h.http, "GET", &pop, Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    let p = json(&body);
    assert_eq!(p["interaction"]["from"], "13800138000");
    assert!(p["customer"].is_null(), "{p}");
    assert_eq!(
        p["wrap_up_seconds"], 30,
        "the accounts queue's wrap-up: {p}"
    );
    let (status, body) = http(
        h.http,
        "GET",
        "/api/v1/interactions/nonsense/screen-pop",
        Some(&sup),
        None,
    );
    assert_eq!(status, 404);
    assert_eq!(json(&body)["error"]["code"], "unknown_interaction");
}

#[test]
fn the_pages_are_served_from_the_binary() {
    let h = Hotline::demo();
    for (path, needle) in [
        ("/", "/wallboard"),
        ("/agent", "/static/agent.js"),
        ("/wallboard", "/static/wallboard.js"),
        ("/static/i18n.js", "export function t("),
        ("/static/app.css", ":root"),
    ] {
        let (status, body) = h.get(path);
        assert_eq!(status, 200, "{path}");
        assert!(body.contains(needle), "{path}: {body}");
    }
    let (status, body) = h.get("/static/../Cargo.toml");
    assert_eq!(status, 404, "{body}");
    let (status, body) = h.get("/static/secret.js");
    assert_eq!(status, 404);
    assert_eq!(json(&body)["error"]["code"], "not_found");
}
