//! End to end, with the real binary on PostgreSQL: `storage.database` names a throwaway
//! cluster the test starts itself (after a host that is down, so the host list is tried in
//! order); a sipp caller is answered by a sipp agent phone, the record is in PostgreSQL (read
//! with psql, no SQLite file is made), and a restart after `kill -9` keeps it.

mod common;

#[path = "../../store/tests/common/cluster.rs"]
#[allow(dead_code)]
mod cluster;

use std::time::Duration;

use common::*;

fn records(h: &Hotline) -> Vec<serde_json::Value> {
    let sup = login(h, "supervisor", "supervisor");
    let (status, body) = http(h.http, "GET", "/api/v1/interactions", Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn a_call_is_recorded_in_postgresql_and_kept_across_a_kill_9() {
    let Some(pg) = cluster::cluster() else {
        eprintln!(
            "a_call_is_recorded_in_postgresql_and_kept_across_a_kill_9: SKIPPED: no PostgreSQL \
             server binaries (/usr/lib/postgresql/*/bin/initdb); install the Debian package \
             `postgresql`"
        );
        return;
    };
    let url = cluster::create_database(pg);
    let db = url.rsplit('/').next().unwrap().to_string();
    // The first host is down: hotline goes on to the next and keeps the primary there.
    let down = free_port("127.0.0.1");
    let database = format!(
        "postgres://hotline@127.0.0.1:{down},127.0.0.1:{}/{db}",
        pg.port
    );
    let config = move |t: String| {
        t.replacen(
            "[storage]\n",
            &format!("[storage]\ndatabase = \"{database}\"\n"),
            1,
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut h = Hotline::serve_with_in(&data, &config);

    let port = register_all(&h, &["1001"]);
    available(&h, "1001");
    let (sip, phone_port) = (h.sip, port.clone());
    let phone = std::thread::spawn(move || {
        sipp_at(
            sip,
            "agent-answers.xml",
            &["-p", &phone_port, "-i", "127.0.0.1", "-rtp_echo", "-m", "1"],
        )
    });
    let feed = Feed::open(&h);
    let (ok, log) = h.sipp("caller-key-talk.xml", &["-m", "1", "-timeout", "90s"]);
    assert!(ok, "caller: {log}");
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "agent phone: {log}");
    feed.wait(Duration::from_secs(30), "the call's end", |e| {
        count(e, "ended") >= 1
    });
    let recs = records(&h);
    assert_eq!(recs.len(), 1, "{recs:#?}");
    let id = recs[0]["id"].as_str().unwrap().to_string();
    assert_eq!(recs[0]["agent"], "1001", "{}", recs[0]);
    assert_eq!(recs[0]["end_reason"], "caller_hangup", "{}", recs[0]);

    // The record is in PostgreSQL, with the events it was built from; no SQLite file.
    let row = cluster::psql(
        pg,
        &url,
        &format!("SELECT agent, end_reason FROM interactions WHERE id = '{id}'"),
    );
    assert_eq!(row, "1001|caller_hangup");
    let events: u64 = cluster::psql(
        pg,
        &url,
        &format!("SELECT count(*) FROM events WHERE interaction = '{id}'"),
    )
    .parse()
    .unwrap();
    assert!(events >= 5, "{events} events of the call");
    assert!(
        !data.join("hotline.db").exists(),
        "nothing was written to SQLite"
    );

    // kill -9 and start again on the same database: the record is still there, unchanged.
    h.kill9();
    drop(h);
    let h = Hotline::serve_with_in(&data, &config);
    let after = records(&h);
    assert_eq!(after.len(), 1, "{after:#?}");
    assert_eq!(after[0]["id"], id.as_str());
    assert_eq!(after[0]["end_reason"], "caller_hangup", "{}", after[0]);
    assert_eq!(after[0]["answered"], recs[0]["answered"]);
    stop(h);
}
