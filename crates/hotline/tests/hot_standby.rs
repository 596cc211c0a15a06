//! Two hotline nodes on one PostgreSQL log behind the real Kamailio: one active, one hot
//! standby (`[cluster]`). The node holding the routing lease answers calls; the other
//! answers OPTIONS, INVITE and REGISTER with 503 and the API with 503 `standby`, so the
//! proxy sends it nothing. When the active node dies, the standby takes the lease once it
//! lapses, closes the dead node's calls as interrupted, and rings the same phones without a
//! new REGISTER. A node that was paused past its lease (a partition) is fenced: it writes
//! nothing more, hangs up its calls and exits for its service manager to start it again.
//!
//! Skipped, with a line saying so, when Kamailio or PostgreSQL is not installed
//! (scripts/test.sh installs both).

mod common;

#[path = "../../store/tests/common/cluster.rs"]
#[allow(dead_code)]
mod cluster;

use std::time::{Duration, Instant};

use common::sipproxy::*;
use common::*;

/// The exit status of a node that lost the lease (EX_TEMPFAIL).
const STEPPED_DOWN: i32 = 75;

/// The demo centre on PostgreSQL `url` as node `node` of a pair with a 3 s lease.
fn node_config(url: &str, node: &str) -> impl Fn(String) -> String {
    let (url, node) = (url.to_string(), node.to_string());
    move |t: String| {
        let t = all_take_accounts(t).replacen(
            "[storage]\n",
            &format!("[storage]\ndatabase = \"{url}\"\n"),
            1,
        );
        format!(
            "{t}\n[cluster]\nnode = \"{node}\"\nlease_seconds = 3\nrenew_seconds = 1\nmargin_seconds = 1\n"
        )
    }
}

/// PostgreSQL and Kamailio, or why the test cannot run.
fn peers(test: &str) -> Option<&'static cluster::Cluster> {
    if !kamailio_installed() {
        return None;
    }
    let pg = cluster::cluster();
    if pg.is_none() {
        eprintln!(
            "{test}: SKIPPED: no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb); \
             install the Debian package `postgresql`"
        );
    }
    pg
}

/// Ends the sipp run on local port `port` (a caller or a phone whose call died with its
/// node) and waits for it.
fn hang_up(port: &str, run: std::thread::JoinHandle<(bool, String)>) {
    let _ = std::process::Command::new("pkill")
        .args(["-f", &format!("sipp .*-p {port} ")])
        .status();
    let _ = run.join();
}

fn sql(pg: &cluster::Cluster, url: &str, query: &str) -> String {
    cluster::psql(pg, url, query).trim().to_string()
}

/// Starts node A (it leads: the lease is free) and then node B (a standby).
fn pair(url: &str) -> (Hotline, Hotline) {
    let a = Hotline::serve_with(node_config(url, "a"));
    assert!(!a.standby, "the first node takes the free lease");
    let b = Hotline::serve_with(node_config(url, "b"));
    assert!(b.standby, "the second node waits as a standby");
    (a, b)
}

/// The phone 1001 registered through the proxy and made available on the leader `a`, and a
/// caller through the proxy talking to it for `talk_ms`, under way.
struct CallOnA {
    scenarios: tempfile::TempDir,
    /// The phone's port (its registered contact).
    port: String,
    phone: std::thread::JoinHandle<(bool, String)>,
    caller: std::thread::JoinHandle<(bool, String)>,
}

fn call_on(a: &Hotline, k: &Kamailio, talk_ms: u32) -> CallOnA {
    let scenarios = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1").to_string();
    register_through(k, "1001", &port);
    available(a, "1001");
    let phone = phone_through(k, scenarios.path(), &port);
    let caller = caller_through(k, scenarios.path(), talk_ms);
    CallOnA {
        scenarios,
        port,
        phone,
        caller,
    }
}

/// Polls `h`'s records until `f` finds what it looks for in one of them.
fn record_on<T>(h: &Hotline, what: &str, f: impl Fn(serde_json::Value) -> Option<T>) -> T {
    let sup = login(h, "supervisor", "supervisor");
    wait_for(Duration::from_secs(60), what, || {
        let (_, body) = http(h.http, "GET", "/api/v1/interactions", Some(&sup), None);
        let recs: Vec<serde_json::Value> = serde_json::from_str(&body).ok()?;
        recs.into_iter().find_map(&f)
    })
}

/// The first answered record on `h`.
fn answered_on(h: &Hotline) -> serde_json::Value {
    record_on(h, "a call is answered", |r| {
        r["answered"].is_string().then_some(r)
    })
}

#[test]
fn the_standby_takes_over_from_a_killed_leader_and_rings_the_same_phone_without_a_new_register() {
    let test = "the_standby_takes_over_from_a_killed_leader";
    let Some(pg) = peers(test) else { return };
    let url = cluster::create_database(pg);
    let (mut a, mut b) = pair(&url);

    // The standby is up (OPTIONS 200: a proxy keeps it in its set) but refuses calls and
    // registrations, and the API, saying why.
    let (status, answer) = options(b.sip).expect("the standby answers OPTIONS");
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = request_for(
        b.sip,
        "REGISTER",
        &format!("sip:{}", b.sip),
        "To: <sip:1001@hotline.test>\r\n",
    )
    .expect("the standby answers REGISTER");
    assert_eq!(status, 503, "a standby keeps no registrations: {answer}");
    assert!(answer.contains("Retry-After: 2"), "{answer}");
    let (status, body) = b.get("/healthz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"standby\""), "{body}");
    let (status, body) = http(
        b.http,
        "POST",
        "/api/v1/login",
        None,
        Some(r#"{"user":"supervisor","password":"supervisor"}"#),
    );
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"standby\""), "{body}");
    let (status, metrics) = b.get("/metrics");
    assert_eq!(status, 200, "{metrics}");
    assert!(metrics.contains("hotline_cluster_leader 0"), "{metrics}");
    // The standby's SIP stack is up, and says what it holds.
    assert!(
        metrics.contains("hotline_sip_transactions_running "),
        "{metrics}"
    );
    let (_, metrics) = a.get("/metrics");
    assert!(metrics.contains("hotline_cluster_leader 1"), "{metrics}");
    assert!(metrics.contains("hotline_cluster_epoch 1"), "{metrics}");

    let k = Kamailio::start([a.sip, b.sip]);
    // Every event A's event stream acknowledges (committed) must be in the log after A dies.
    let feed = Feed::open(&a);
    // A call in progress on A when A dies.
    let CallOnA {
        scenarios,
        port,
        phone,
        caller,
    } = call_on(&a, &k, 60_000);
    let kept = sql(
        pg,
        &url,
        "SELECT count(*) FROM registrations WHERE extension = '1001'",
    );
    assert_eq!(
        kept, "1",
        "the leader keeps the registration in the shared log"
    );
    // Killed once its recording has a second of the conversation on disk.
    let (first, recorded) = record_on(&a, "A's call is answered and recorded", |r| {
        let answered = r["answered"].is_string();
        let size = std::fs::metadata(r["recording"].as_str()?).ok()?.len();
        (answered && size > 32_044).then_some((r, size))
    });
    let first_id = first["id"].as_str().unwrap().to_string();
    // A supervisor logged in on A.
    let sup = login(&a, "supervisor", "supervisor");
    a.kill9();
    let acknowledged: Vec<String> = feed
        .snapshot()
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect();
    let killed = Instant::now();
    let killed_at = hotline_model::Timestamp::now();
    // The caller and the phone of the dead node's call hear nothing more (media went
    // through A): they hang up, as people would. The phone waits for its next call.
    hang_up(&port, phone);
    hang_up(&k.carriers[0].to_string(), caller);
    let phone = phone_through(&k, scenarios.path(), &port);
    // New callers from the kill on, one after the other, as a carrier sends them: refused
    // (503) until B leads, then answered by B, which rings the same phone without a new
    // REGISTER. The proxy never took B out (a standby answers OPTIONS 200).
    let mut refused = 0;
    loop {
        let (ok, log) = caller_through_from(&k, scenarios.path(), 2000, 1)
            .join()
            .unwrap();
        if ok {
            break;
        }
        refused += 1;
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "no caller answered since the kill: {log}\n{}",
            k.log()
        );
    }
    assert!(
        !b.standby || b.wait_ready(Duration::from_secs(5)),
        "B leads"
    );
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "the same phone is rung by B: {log}\n{}", k.log());
    // Nothing A's stream acknowledged is missing from the log.
    assert!(acknowledged.len() >= 5, "{acknowledged:?}");
    let ids = acknowledged
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(",");
    let found = sql(
        pg,
        &url,
        &format!("SELECT count(*) FROM events WHERE id IN ({ids})"),
    );
    assert_eq!(
        found,
        acknowledged.len().to_string(),
        "every event acknowledged before the kill is in the log"
    );

    // A's call is closed as interrupted, at its last event, by B; the supervisor's token
    // from A is good on B (tokens are signed with the log's key), for the API and the
    // event stream.
    let (status, body) = http(b.http, "GET", "/api/v1/me", Some(&sup), None);
    assert_eq!(status, 200, "A's token on B: {body}");
    assert!(
        open_events(&b, &sup).is_ok(),
        "A's token opens B's event stream"
    );
    let (status, body) = http(b.http, "GET", "/api/v1/interactions", Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    let recs: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let cut = recs
        .iter()
        .find(|r| r["id"] == first_id.as_str())
        .expect("A's call is in the shared log");
    assert_eq!(cut["end_reason"], "interrupted", "{cut}");
    assert_eq!(cut["agent"], "1001", "{cut}");
    let recording = cut["recording"].as_str().expect("A's recording is named");
    let size = std::fs::metadata(recording).map_or(0, |m| m.len());
    assert!(
        size >= recorded,
        "A's recording is kept up to the cut: {size} bytes, {recorded} before the kill"
    );
    let audit = sql(
        pg,
        &url,
        "SELECT target || ' ' || detail FROM audit WHERE action = 'node_leads' ORDER BY seq",
    );
    let leads: Vec<&str> = audit.lines().collect();
    assert_eq!(leads.len(), 2, "{audit}");
    assert!(leads[0].starts_with("a epoch 1;"), "{audit}");
    assert!(
        leads[1].starts_with("b epoch 2; 1 interactions of the node before closed as interrupted"),
        "{audit}"
    );

    let second = wait_for(Duration::from_secs(30), "B's call is closed", || {
        let (_, body) = http(b.http, "GET", "/api/v1/interactions", Some(&sup), None);
        let recs: Vec<serde_json::Value> = serde_json::from_str(&body).ok()?;
        recs.into_iter()
            .find(|r| r["id"] != first_id.as_str() && r["ended"].is_string())
    });
    assert_eq!(second["agent"], "1001", "{second}");
    let answered = hotline_model::Timestamp::parse_rfc3339(second["answered"].as_str().unwrap())
        .expect("a time");
    let gap = Duration::from_nanos(
        u64::try_from(answered.unix_nanos() - killed_at.unix_nanos()).unwrap_or(0),
    );
    eprintln!(
        "kill -9 of the leader: the first new call was answered by the standby {} ms after the kill ({refused} refused before)",
        gap.as_millis()
    );
    // The lease (3 s) lapses, B's next ask (every second) takes it, and it answers at once.
    assert!(
        gap < Duration::from_secs(15),
        "answered {gap:?} after the kill"
    );
    assert_eq!(second["end_reason"], "caller_hangup", "{second}");
    let (_, metrics) = b.get("/metrics");
    assert!(metrics.contains("hotline_cluster_epoch 2"), "{metrics}");
    stop(b);
}

#[test]
fn a_leader_paused_past_its_lease_is_fenced_hangs_up_and_exits() {
    let test = "a_leader_paused_past_its_lease_is_fenced";
    let Some(pg) = peers(test) else { return };
    let url = cluster::create_database(pg);
    let (mut a, mut b) = pair(&url);
    let k = Kamailio::start([a.sip, b.sip]);
    // A call in progress on A; then A freezes (SIGSTOP) for longer than its lease.
    let call = call_on(&a, &k, 60_000);
    answered_on(&a);
    a.signal("STOP");
    assert!(
        b.wait_ready(Duration::from_secs(30)),
        "B takes over while A is frozen"
    );
    let epoch_b = sql(pg, &url, "SELECT epoch FROM leases WHERE name = 'routing'");
    assert_eq!(epoch_b, "2");
    let first_of_b = sql(pg, &url, "SELECT min(seq) FROM events WHERE epoch = 2");
    assert!(!first_of_b.is_empty(), "B wrote under epoch 2");

    // A wakes: it finds its lease gone, hangs up its call and exits for its service manager.
    a.signal("CONT");
    let status = a
        .wait_exit(Duration::from_secs(30))
        .expect("A stops once it wakes without its lease");
    assert_eq!(status.code(), Some(STEPPED_DOWN), "{status:?}");
    // The caller heard A hang up (a BYE it did not expect), not its own end of the call.
    let (ok, log) = call.caller.join().unwrap();
    assert!(!ok && log.contains("BYE"), "A hung up its call: {log}");
    hang_up(&call.port, call.phone);

    // Nothing A tried to write after B's epoch began is in the log.
    let late = sql(
        pg,
        &url,
        &format!("SELECT count(*) FROM events WHERE epoch < 2 AND seq > {first_of_b}"),
    );
    assert_eq!(
        late, "0",
        "no write of the old epoch after the new one began"
    );

    // Started again by its service manager, A rejoins as the standby.
    let again = Hotline::serve_with(node_config(&url, "a"));
    assert!(again.standby, "A comes back as the standby while B leads");
    let (status, body) = again.get("/healthz");
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        sql(pg, &url, "SELECT epoch FROM leases WHERE name = 'routing'"),
        "2",
        "B keeps the lease"
    );
    stop(again);
    stop(b);
}

#[test]
fn a_leader_stopped_with_sigterm_finishes_its_calls_and_then_hands_over_at_once() {
    let test = "a_leader_stopped_with_sigterm_finishes_its_calls";
    let Some(pg) = peers(test) else { return };
    let url = cluster::create_database(pg);
    let (mut a, mut b) = pair(&url);
    let k = Kamailio::start([a.sip, b.sip]);
    let call = call_on(&a, &k, 9_000);
    let first = answered_on(&a);

    a.signal("TERM");
    // A drains its call and keeps its lease meanwhile: B, whose 3 s lease would have been
    // taken by now had A stopped renewing, stays a standby.
    assert!(
        !b.wait_ready(Duration::from_secs(5)),
        "B took over while A was still draining its call"
    );
    let (ok, log) = call.caller.join().unwrap();
    assert!(
        ok,
        "the caller's call ends normally on the draining node: {log}"
    );
    let (ok, log) = call.phone.join().unwrap();
    assert!(ok, "the phone's call ends normally: {log}");
    let status = a
        .wait_exit(Duration::from_secs(60))
        .expect("A exits once its call is over");
    assert!(status.success(), "{status:?}");
    let exited = Instant::now();
    // A gave its lease up on leaving: B need not wait for it to lapse.
    assert!(b.wait_ready(Duration::from_secs(30)), "B takes over");
    let handover = exited.elapsed();
    eprintln!(
        "SIGTERM of the leader: the standby led {} ms after it exited",
        handover.as_millis()
    );
    assert!(
        handover < Duration::from_secs(2),
        "handed over in {handover:?}"
    );

    let sup = login(&b, "supervisor", "supervisor");
    let (_, body) = http(b.http, "GET", "/api/v1/interactions", Some(&sup), None);
    let recs: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let r = recs
        .iter()
        .find(|r| r["id"] == first["id"])
        .expect("A's call is in the log");
    assert_eq!(r["end_reason"], "caller_hangup", "{r}");
    let audit = sql(
        pg,
        &url,
        "SELECT target || ' ' || detail FROM audit WHERE action = 'node_leads' ORDER BY seq",
    );
    assert!(
        audit.contains("b epoch 2; 0 interactions of the node before closed"),
        "{audit}"
    );
    stop(b);
}

#[test]
fn a_node_without_cluster_is_refused_on_the_log_of_a_running_pair() {
    let test = "a_node_without_cluster_is_refused";
    let Some(pg) = peers(test) else { return };
    let url = cluster::create_database(pg);
    let a = Hotline::serve_with(node_config(&url, "a"));
    assert!(!a.standby);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["serve", "--config"])
        .arg({
            let dir = a.dir.path().join("single.toml");
            let text = all_take_accounts(demo_toml()).replacen(
                "[storage]\n",
                &format!("[storage]\ndatabase = \"{url}\"\n"),
                1,
            );
            std::fs::write(&dir, text).unwrap();
            dir
        })
        .args(["--data"])
        .arg(a.dir.path().join("single-data"))
        .args(["--sip", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs [cluster]"), "{err}");
    stop(a);
}
