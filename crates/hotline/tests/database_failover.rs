//! End to end, with the real binary on a real PostgreSQL pair: the database fails over
//! under live calls. `scripts/ha-database.sh` starts a pg_auto_failover monitor and two
//! PostgreSQL nodes (synchronous replication) on loopback; hotline is given both hosts; ten
//! agents answer on one sipp phone and sipp callers come in at 5 calls/s through the IVR to
//! the agents. The primary's server is killed (`kill -9`) while calls go on; pg_auto_failover
//! promotes the standby and hotline's writer finds it.
//!
//! Checked: every call completes (none is cut, none refused), hotline keeps running, every
//! event committed before the kill is still there under the same seq, seqs have no gap,
//! every call has its `ended` event in the new primary, and a call after the failover is
//! answered and logged. Printed: the promotion time, how long appends were held (the
//! backlog's age on `/metrics`), the calls refused.

mod common;

#[path = "../../store/tests/common/cluster.rs"]
#[allow(dead_code)]
mod cluster;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const AGENTS: [&str; 10] = [
    "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009", "1010",
];

/// Calls placed at [`RATE`] while the database fails over (25 s of traffic).
const CALLS: usize = 125;
const RATE: &str = "5";

/// A pg_auto_failover formation (monitor, primary, synchronous standby) run by
/// `scripts/ha-database.sh` in a directory of its own, on free ports; stopped on drop.
struct Formation {
    dir: tempfile::TempDir,
    /// Monitor, node1, node2.
    ports: [u16; 3],
    /// What hotline's `storage.database` is set to.
    url: String,
    psql: PathBuf,
}

impl Formation {
    fn start(psql: PathBuf) -> Formation {
        let dir = tempfile::Builder::new()
            .prefix("hotline-dbfail-")
            .tempdir()
            .unwrap();
        // The servers may run as `postgres` (when the test runs as root): they need to reach
        // the directory.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut ports = [0u16; 3];
        for i in 0..ports.len() {
            ports[i] = loop {
                let p = free_port("127.0.0.1");
                if !ports[..i].contains(&p) {
                    break p;
                }
            };
        }
        let mut formation = Formation {
            dir,
            ports,
            url: String::new(),
            psql,
        };
        let out = formation.script("start");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "ha-database.sh start failed:\n{stdout}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            formation.logs()
        );
        formation.url = stdout
            .lines()
            .find_map(|l| l.strip_prefix("storage.database = \""))
            .and_then(|l| l.strip_suffix('"'))
            .unwrap_or_else(|| panic!("no storage.database line in:\n{stdout}"))
            .to_string();
        formation
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("ha")
    }

    fn script(&self, cmd: &str) -> std::process::Output {
        Command::new("bash")
            .arg(repo().join("scripts/ha-database.sh"))
            .arg(cmd)
            .arg(self.home())
            .env("MONITOR_PORT", self.ports[0].to_string())
            .env("NODE1_PORT", self.ports[1].to_string())
            .env("NODE2_PORT", self.ports[2].to_string())
            .stdin(Stdio::null())
            .output()
            .expect("bash")
    }

    /// `pg_autoctl show state`, or the error.
    fn state(&self) -> Result<String, String> {
        let out = self.script("state");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The port of the node that the monitor both assigned and found writable (`primary`,
    /// or `wait_primary` while it has no standby), if there is one.
    fn writable(&self) -> Option<u16> {
        let state = self.state().ok()?;
        state.lines().find_map(|l| {
            let f: Vec<&str> = l.split('|').map(str::trim).collect();
            if f.len() != 7 || f[5] != f[6] || !["primary", "wait_primary"].contains(&f[5]) {
                return None;
            }
            f[2].rsplit(':').next()?.parse().ok()
        })
    }

    fn kill_primary(&self) {
        let out = self.script("kill-primary");
        assert!(
            out.status.success(),
            "kill-primary: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `sql` on the node at `port`: its rows, `|`-separated.
    fn sql(&self, port: u16, sql: &str) -> String {
        let out = Command::new(&self.psql)
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .args([
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-d",
                "hotline",
                "-c",
                sql,
            ])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql on {port}: {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Every event in the log of the node at `port`: seq → event id.
    fn events(&self, port: u16) -> Vec<(u64, String)> {
        self.sql(port, "SELECT seq, id FROM events ORDER BY seq")
            .lines()
            .map(|l| {
                let (seq, id) = l.split_once('|').unwrap();
                (seq.parse().unwrap(), id.to_string())
            })
            .collect()
    }

    /// The keepers' and servers' logs, for a failure message.
    fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["monitor", "node1", "node2"] {
            for suffix in ["-create.log", ".log"] {
                let path = self.home().join(format!("{name}{suffix}"));
                if let Ok(text) = std::fs::read_to_string(&path) {
                    let tail: Vec<&str> = text.lines().rev().take(30).collect();
                    out.push_str(&format!("--- {}\n", path.display()));
                    for l in tail.iter().rev() {
                        out.push_str(l);
                        out.push('\n');
                    }
                }
            }
        }
        out
    }
}

impl Drop for Formation {
    fn drop(&mut self) {
        // pg_autoctl's pid files are in the formation's directory too (XDG_RUNTIME_DIR).
        let _ = self.script("stop");
    }
}

/// A sipp agent phone that answers every call it is rung with until dropped.
struct Phone {
    sipp: Child,
    /// sipp's working directory (its error log).
    _work: tempfile::TempDir,
}

impl Phone {
    fn answer(h: &Hotline, port: &str) -> Phone {
        let work = tempfile::tempdir().unwrap();
        let child = Command::new("sipp")
            .current_dir(work.path())
            .arg("-sf")
            .arg(repo().join("tests/sipp/agent-answers.xml"))
            .args(["-p", port, "-i", "127.0.0.1", "-rtp_echo", "-nostdin"])
            .args(["-trace_err", "-max_recv_loops", "1000"])
            .arg(h.sip.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp must be installed (Debian package sip-tester)");
        Phone {
            sipp: child,
            _work: work,
        }
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.sipp.kill();
        let _ = self.sipp.wait();
    }
}

/// The log's backlog as `/metrics` shows it, sampled by a thread until dropped: the most
/// events waiting and the oldest age seen.
struct Sampler {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<(f64, f64)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(h: &Hotline) -> Sampler {
        let addr = h.http;
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new((0.0f64, 0.0f64)));
        let (s, out) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let figure = |text: &str, name: &str| -> Option<f64> {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name} ")))?
                    .trim()
                    .parse()
                    .ok()
            };
            while !s.load(Ordering::Acquire) {
                let (status, text) = http(addr, "GET", "/metrics", None, None);
                if status == 200 {
                    let events = figure(&text, "hotline_log_backlog_events").unwrap_or(0.0);
                    let age = figure(&text, "hotline_log_backlog_age_seconds").unwrap_or(0.0);
                    let mut seen = out.lock().unwrap();
                    seen.0 = seen.0.max(events);
                    seen.1 = seen.1.max(age);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Sampler {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// (most events waiting, oldest age in seconds)
    fn finish(mut self) -> (f64, f64) {
        self.end();
        *self.seen.lock().unwrap()
    }

    fn end(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.end();
    }
}

/// pg_auto_failover's command, if installed.
fn has_pg_autoctl() -> bool {
    Command::new("pg_autoctl")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_database_fails_over_under_live_calls_and_nothing_committed_is_lost() {
    let psql = cluster::pg_bin().map(|b| b.join("psql"));
    let (true, Some(psql)) = (has_pg_autoctl(), psql) else {
        eprintln!(
            "the_database_fails_over_under_live_calls: SKIPPED: no pg_autoctl or PostgreSQL \
             server binaries; install the Debian packages `postgresql`, \
             `postgresql-15-auto-failover` and `pg-auto-failover-cli` (scripts/test.sh does)"
        );
        return;
    };
    let db = Formation::start(psql);
    let url = db.url.clone();
    let mut h = Hotline::serve_with(move |t| {
        all_take_accounts(t).replacen(
            "[storage]\n",
            &format!("[storage]\ndatabase = \"{url}\"\n"),
            1,
        )
    });
    let first = db.writable().expect("a primary");
    let port = register_all(&h, &AGENTS);
    for ext in AGENTS {
        available(&h, ext);
    }
    let _phone = Phone::answer(&h, &port);
    let feed = Feed::open(&h);

    // Each caller presses 1, is put through to an agent (or waits in the queue when all ten
    // are busy), and hangs up a second later: about 4 s a call. A call that got a BYE from
    // hotline, an error or no answer fails the run.
    let caller = scenario_with(
        &h,
        "caller-key-talk.xml",
        &[(
            "<pause milliseconds=\"4000\"/>",
            "<pause milliseconds=\"1000\"/>",
        )],
    );
    let sip = h.sip;
    let callers = {
        let caller = caller.clone();
        std::thread::spawn(move || {
            let n = CALLS.to_string();
            let started = Instant::now();
            let r = sipp_at(
                sip,
                &caller,
                &["-m", &n, "-r", RATE, "-l", "100", "-timeout", "150s"],
            );
            (r, started.elapsed())
        })
    };

    // Some calls are over and committed: the log's head as the primary has it.
    feed.wait(Duration::from_secs(60), "the first calls' ends", |e| {
        count(e, "ended") >= 5
    });
    let sampler = Sampler::start(&h);
    let before = db.events(first);
    let acked_before: HashMap<u64, String> = acknowledged(&feed.snapshot());
    assert!(!before.is_empty());
    let head = before.last().unwrap().0;
    eprintln!(
        "before the kill: {} events, head seq {head}, on the primary at port {first}",
        before.len()
    );

    let killed = Instant::now();
    db.kill_primary();
    let promoted_on = wait_for(
        Duration::from_secs(90),
        "pg_auto_failover to promote the standby",
        || db.writable().filter(|p| *p != first),
    );
    let promotion = killed.elapsed();
    eprintln!("promoted: port {promoted_on} takes writes {promotion:.1?} after the kill");

    // Every call completed: none was cut by the failover, none refused (a refusal, 503 or
    // another error, fails sipp's run).
    let ((ok, log), took) = callers.join().unwrap();
    assert!(
        ok,
        "callers (some call failed or was refused):\n{log}\n{}",
        db.logs()
    );
    assert!(
        h.wait_exit(Duration::ZERO).is_none(),
        "hotline exited during the failover"
    );
    eprintln!("{CALLS} calls at {RATE}/s over {took:.1?}: all completed, 0 refused");

    // Every call's record completes in the new primary.
    let all = feed.wait(Duration::from_secs(90), "every call's end", |e| {
        count(e, "ended") >= CALLS
    });
    wait_for(Duration::from_secs(60), "the backlog to drain", || {
        (metric(&h, "hotline_log_backlog_events") == 0.0).then_some(())
    });
    let (most, held) = sampler.finish();
    eprintln!(
        "appends held up to {held:.1} s (backlog age on /metrics), at most {most} events \
         waiting"
    );
    assert!(
        held > 0.0 || most > 0.0,
        "the failover was not seen by the writer at all"
    );

    // A new call after the failover: answered by an agent, logged.
    let (ok, log) = sipp_at(sip, &caller, &["-m", "1", "-timeout", "60s"]);
    assert!(ok, "the call after the failover: {log}");
    let all_after = feed.wait(Duration::from_secs(60), "the last call's end", |e| {
        count(e, "ended") > CALLS
    });
    let last = all_after
        .iter()
        .rev()
        .find(|e| kind(e) == "ended")
        .and_then(|e| e["interaction"].as_str())
        .unwrap()
        .to_string();
    let row = db.sql(
        promoted_on,
        &format!("SELECT agent IS NOT NULL, end_reason FROM interactions WHERE id = '{last}'"),
    );
    assert_eq!(
        row, "t|caller_hangup",
        "the call after the failover: {last}"
    );

    // Nothing committed was lost: every event seen before the kill (on the primary, and
    // acknowledged on the event stream) is still there with its seq; no seq is missing.
    let after = db.events(promoted_on);
    let by_seq: HashMap<u64, &str> = after.iter().map(|(s, i)| (*s, i.as_str())).collect();
    for (seq, id) in &before {
        assert_eq!(by_seq.get(seq), Some(&id.as_str()), "seq {seq} ({id}) lost");
    }
    for (seq, id) in acknowledged(&all_after) {
        assert_eq!(
            by_seq.get(&seq),
            Some(&id.as_str()),
            "acknowledged seq {seq} ({id}) lost"
        );
    }
    assert!(acked_before.len() > 5);
    for (i, (seq, _)) in after.iter().enumerate() {
        assert_eq!(*seq, i as u64 + 1, "seqs without gaps");
    }
    // Every call has its whole record: arrived and ended events, a closed CDR row, and no
    // call closed as interrupted (the sessions never waited on the database).
    let calls: Vec<&str> = all
        .iter()
        .filter(|e| kind(e) == "arrived")
        .filter_map(|e| e["interaction"].as_str())
        .collect();
    assert_eq!(calls.len(), CALLS, "every call arrived once");
    let ended = db.sql(
        promoted_on,
        "SELECT count(DISTINCT interaction) FROM events WHERE kind = 'ended'",
    );
    assert_eq!(ended, (CALLS + 1).to_string(), "an ended event per call");
    let reasons = db.sql(
        promoted_on,
        "SELECT COALESCE(end_reason, 'open'), count(*) FROM interactions GROUP BY 1 ORDER BY 1",
    );
    for l in reasons.lines() {
        let (reason, _) = l.split_once('|').unwrap();
        assert!(
            ["caller_hangup", "abandoned"].contains(&reason),
            "records closed {reason}: {reasons}"
        );
    }
    let answered: usize = db
        .sql(
            promoted_on,
            "SELECT count(*) FROM interactions WHERE agent IS NOT NULL AND answered_ns IS NOT NULL",
        )
        .parse()
        .unwrap();
    let queued: usize = db
        .sql(
            promoted_on,
            "SELECT count(DISTINCT interaction) FROM events WHERE kind = 'queued'",
        )
        .parse()
        .unwrap();
    eprintln!(
        "{} calls recorded: {queued} reached the queue, {answered} answered by an agent; \
         closed: {}; {} events in the log",
        CALLS + 1,
        reasons.replace('\n', ", "),
        after.len()
    );
    // Every caller's key was heard and the call queued: no call waited in the IVR on the
    // database (its customer lookup fails fast while there is no primary).
    assert_eq!(queued, CALLS + 1, "every call reached the queue: {reasons}");
    assert!(
        answered > CALLS / 2,
        "most calls reached an agent: {reasons}"
    );
    let events_before = before.len();
    assert!(after.len() > events_before);
    stop(h);
}

/// The events (seq → id) that the event stream delivered, that is, committed.
fn acknowledged(events: &[serde_json::Value]) -> HashMap<u64, String> {
    events
        .iter()
        .filter_map(|e| Some((e["seq"].as_u64()?, e["id"].as_str()?.to_string())))
        .collect()
}

/// The same failover under a pair of nodes (`[cluster]`, 3 s lease): the leader cannot
/// renew its lease while there is no primary, so it stops taking new calls but keeps the
/// calls it has (suspended); the standby, cut off too, leaves the lease to its holder once
/// the database answers again; the leader takes it back under the same epoch and takes
/// calls again. Checked: every call in progress at the kill completes, the leader's role
/// goes to suspended and back, the standby never leads, a call after the failover is
/// answered by the same leader, nothing committed is lost.
#[test]
fn a_pair_keeps_its_calls_through_a_database_failover() {
    let psql = cluster::pg_bin().map(|b| b.join("psql"));
    let (true, Some(psql)) = (has_pg_autoctl(), psql) else {
        eprintln!(
            "a_pair_keeps_its_calls_through_a_database_failover: SKIPPED: no pg_autoctl or \
             PostgreSQL server binaries (scripts/test.sh installs them)"
        );
        return;
    };
    let db = Formation::start(psql);
    let node = |name: &'static str| {
        let url = db.url.clone();
        move |t: String| {
            let t = all_take_accounts(t).replacen(
                "[storage]\n",
                &format!("[storage]\ndatabase = \"{url}\"\n"),
                1,
            );
            format!(
                "{t}\n[cluster]\nnode = \"{name}\"\nlease_seconds = 3\nrenew_seconds = 1\nmargin_seconds = 1\n"
            )
        }
    };
    let a = Hotline::serve_with(node("a"));
    assert!(!a.standby, "A takes the free lease");
    let mut b = Hotline::serve_with(node("b"));
    assert!(b.standby, "B waits as the standby");
    let first = db.writable().expect("a primary");
    let port = register_all(&a, &AGENTS);
    for ext in AGENTS {
        available(&a, ext);
    }
    let _phone = Phone::answer(&a, &port);
    let feed = Feed::open(&a);

    // Ten callers put through to agents, each talking 30 s: longer than the failover.
    let caller = scenario_with(
        &a,
        "caller-key-talk.xml",
        &[(
            "<pause milliseconds=\"4000\"/>",
            "<pause milliseconds=\"30000\"/>",
        )],
    );
    let sip = a.sip;
    let callers = {
        let caller = caller.clone();
        std::thread::spawn(move || {
            sipp_at(
                sip,
                &caller,
                &["-m", "10", "-r", "5", "-l", "10", "-timeout", "120s"],
            )
        })
    };
    feed.wait(Duration::from_secs(60), "ten calls answered", |e| {
        count(e, "answered") >= 10
    });
    let before = db.events(first);
    let killed = Instant::now();
    db.kill_primary();
    // A cannot renew: it stops taking new calls, and keeps its calls.
    wait_for(Duration::from_secs(30), "A to suspend", || {
        (metric(&a, "hotline_cluster_leader") == 0.0).then_some(())
    });
    let suspended = killed.elapsed();
    let promoted_on = wait_for(
        Duration::from_secs(90),
        "pg_auto_failover to promote the standby",
        || db.writable().filter(|p| *p != first),
    );
    let promotion = killed.elapsed();
    // A takes its lease back, same epoch, and new calls again.
    wait_for(Duration::from_secs(60), "A to lead again", || {
        (metric(&a, "hotline_cluster_leader") == 1.0).then_some(())
    });
    let resumed = killed.elapsed();
    assert_eq!(metric(&a, "hotline_cluster_epoch"), 1.0, "the same epoch");
    eprintln!(
        "database failover under a pair: A suspended {suspended:.1?} after the kill, the \
         standby promoted at {promotion:.1?}, A took calls again at {resumed:.1?}"
    );

    // Every call in progress at the kill completed on A.
    let (ok, log) = callers.join().unwrap();
    assert!(ok, "the calls in progress through the failover: {log}");
    assert!(!b.wait_ready(Duration::ZERO) && b.standby, "B never led");
    // A new call after the failover: answered on A.
    let (ok, log) = sipp_at(
        sip,
        &scenario_with(
            &a,
            "caller-key-talk.xml",
            &[(
                "<pause milliseconds=\"4000\"/>",
                "<pause milliseconds=\"1000\"/>",
            )],
        ),
        &["-m", "1", "-timeout", "60s"],
    );
    assert!(ok, "the call after the failover: {log}");
    let all = feed.wait(Duration::from_secs(60), "every call's end", |e| {
        count(e, "ended") >= 11
    });
    // Nothing committed was lost; every call closed as the caller hung up.
    let after = db.events(promoted_on);
    let by_seq: HashMap<u64, &str> = after.iter().map(|(s, i)| (*s, i.as_str())).collect();
    for (seq, id) in &before {
        assert_eq!(by_seq.get(seq), Some(&id.as_str()), "seq {seq} ({id}) lost");
    }
    // What the stream showed was committed: in the log read after it.
    let acked = acknowledged(&all);
    assert!(
        acked.len() > before.len(),
        "events acknowledged since the kill"
    );
    for (seq, id) in &acked {
        assert_eq!(
            by_seq.get(seq),
            Some(&id.as_str()),
            "acknowledged seq {seq} ({id}) lost"
        );
    }
    let reasons = db.sql(
        promoted_on,
        "SELECT COALESCE(end_reason, 'open'), count(*) FROM interactions GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(reasons, "caller_hangup|11", "{reasons}");
    stop(a);
    stop(b);
}
