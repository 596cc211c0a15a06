//! The whole pair on a network of its own: every host a Linux network namespace with its own
//! address on one segment (a bridge), as on a site.
//!
//! ```text
//!   carrier .2 (sipp callers, 5 calls/s)   phones .3 (sipp, ten agents)   proxy .4 (Kamailio)
//!   node a .11 (hotline)   node b .12 (hotline)   db1 .21 (PostgreSQL primary)
//!   db2 .22 (PostgreSQL synchronous standby)   this test .1        198.18.5.0/24
//! ```
//!
//! Callers come in at a steady 5 calls/s through the proxy for the whole test while:
//! 1. the active node is killed (`kill -9`): the standby answers new calls within 5 s, every
//!    event the dead node's event stream acknowledged is in the log, its calls in progress are
//!    closed `interrupted`, and the agents are rung again without registering again;
//! 2. the killed node comes back and rejoins as the standby;
//! 3. the active node (now b) is cut off (`ip link set eth0 down`): a takes over; when the
//!    cable is back, b finds its lease gone and exits (75) without having written a thing
//!    after a's epoch began (fencing), and started again it rejoins as the standby;
//! 4. the PostgreSQL primary is killed (`kill -9`) and its synchronous standby promoted:
//!    the centre carries on within 15 s and nothing committed is lost.
//!
//! Needs root, PostgreSQL's server binaries and Kamailio (scripts/test.sh installs both);
//! skipped, saying why, without them.

mod common;

#[path = "../../store/tests/common/cluster.rs"]
#[allow(dead_code)]
mod cluster;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::netns::{Lan, may_make_namespaces};
use common::sipproxy::{Kamailio, kamailio_installed, scenario};
use common::*;

/// The exit status of a node that lost the lease (EX_TEMPFAIL).
const STEPPED_DOWN: i32 = 75;

const SUBNET: &str = "198.18.5";
const AGENTS: [&str; 10] = [
    "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009", "1010",
];

fn ip(host: u8) -> String {
    format!("{SUBNET}.{host}")
}

fn at(host: u8, port: u16) -> SocketAddr {
    format!("{SUBNET}.{host}:{port}").parse().unwrap()
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// A node's configuration: the demo centre on the shared PostgreSQL log, behind the proxy
/// (its only carrier), as `node` of a pair with a 3 s lease.
fn node_config(url: &str, node: &str) -> String {
    let proxy = ip(4);
    let t = all_take_accounts(demo_toml())
        .replacen(
            "[storage]\n",
            &format!("[storage]\ndatabase = \"{url}\"\n"),
            1,
        )
        .replacen(
            "[sip]\n",
            &format!("[sip]\nproxies = [\"{proxy}/32\"]\n"),
            1,
        )
        .replacen(
            "[http]\n",
            &format!("[http]\nproxies = [\"{proxy}/32\"]\n"),
            1,
        )
        .replace(
            "sources = [\"127.0.0.1/32\"]",
            &format!("sources = [\"{proxy}/32\"]"),
        );
    format!(
        "{t}\n[cluster]\nnode = \"{node}\"\nlease_seconds = 3\nrenew_seconds = 1\nmargin_seconds = 1\n"
    )
}

/// sipp inside namespace `ns`, from `local` (address and port), run until it ends or is
/// dropped; its messages and errors in `work`.
struct Sipp {
    child: Child,
    work: tempfile::TempDir,
}

impl Sipp {
    fn start(
        ns: &str,
        scenario: &str,
        local: SocketAddr,
        target: SocketAddr,
        args: &[&str],
    ) -> Sipp {
        let work = tempfile::tempdir().unwrap();
        // Its screen goes nowhere (a pipe nobody reads would fill and stop it); the last
        // one is written to a file when it quits (-trace_screen), errors to another.
        let stderr = std::fs::File::create(work.path().join("stderr.errors.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "sipp", "-sf", scenario])
            .args([
                "-i",
                &local.ip().to_string(),
                "-p",
                &local.port().to_string(),
            ])
            .args([
                "-nostdin",
                "-trace_err",
                "-trace_screen",
                "-max_recv_loops",
                "1000",
            ])
            .args(args)
            .arg(target.to_string())
            .current_dir(work.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("sipp must be installed (Debian package sip-tester)");
        Sipp { child, work }
    }

    /// Waits for it to end (killed after `limit`): whether it succeeded, and its last
    /// screen and errors.
    fn finish(mut self, limit: Duration) -> (bool, String) {
        let end = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break Some(s);
            }
            if Instant::now() >= end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let mut text = String::new();
        for e in std::fs::read_dir(self.work.path()).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with("screen.log") || name.ends_with("errors.log") {
                text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        (status.is_some_and(|s| s.success()), text)
    }

    /// Stops placing calls and ends once those under way are over (SIGUSR1).
    fn wind_down(&self) {
        let _ = Command::new("kill")
            .args(["-USR1", &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// HAProxy (deploy/haproxy) in namespace `ns` on `listen`, in front of the nodes' HTTP
/// listeners; stopped when dropped.
struct Pages {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Pages {
    fn start(ns: &str, listen: SocketAddr, nodes: [SocketAddr; 2]) -> Pages {
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns, HAPROXY, "-db", "-f"])
            .arg(repo().join("deploy/haproxy/haproxy.cfg"))
            .env("LISTEN", listen.to_string())
            .env("NODE_A", nodes[0].to_string())
            .env("NODE_B", nodes[1].to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("haproxy starts");
        Pages {
            child,
            addr: listen,
            _dir: dir,
        }
    }

    /// Waits until a node behind answers `/healthz` with 200 through HAProxy.
    fn wait_leader(&self, limit: Duration) -> Duration {
        let start = Instant::now();
        wait_for(limit, "the pages through HAProxy", || {
            let up = std::net::TcpStream::connect_timeout(&self.addr, Duration::from_secs(1))
                .is_ok()
                && http(self.addr, "GET", "/healthz", None, None).0 == 200;
            up.then_some(())
        });
        start.elapsed()
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const HAPROXY: &str = "/usr/sbin/haproxy";

/// One row of `sql` on the database at `url`.
fn sql(pg: &cluster::Cluster, url: &str, query: &str) -> String {
    cluster::psql(pg, url, query).trim().to_string()
}

fn number(pg: &cluster::Cluster, url: &str, query: &str) -> i64 {
    let text = sql(pg, url, query);
    text.parse()
        .unwrap_or_else(|_| panic!("{query}: not a number: {text:?}"))
}

/// Namespaces a run of this test left behind when it was killed (its process is gone).
fn clear_stale(prefix: &str) {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !pid.is_empty() && !Path::new("/proc").join(&pid).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}

/// Whether a node leads (`hotline_cluster_leader` on its /metrics), sampled every 50 ms
/// until dropped: when it first stopped leading, and when it led again after that.
struct LeaderWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    seen: std::sync::Arc<std::sync::Mutex<(Option<i64>, Option<i64>)>>,
}

impl LeaderWatch {
    fn start(http_addr: SocketAddr) -> LeaderWatch {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = std::sync::Arc::new(std::sync::Mutex::new((None, None)));
        let (s, out) = (stop.clone(), seen.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Acquire) {
                let (status, text) = http(http_addr, "GET", "/metrics", None, None);
                if status == 200 {
                    let leads = text.lines().any(|l| l == "hotline_cluster_leader 1");
                    let now = now_ns();
                    let mut seen = out.lock().unwrap();
                    match (leads, *seen) {
                        (false, (None, _)) => seen.0 = Some(now),
                        (true, (Some(_), None)) => seen.1 = Some(now),
                        _ => {}
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        LeaderWatch { stop, seen }
    }

    /// When the node stopped leading, if it did.
    fn suspended(&self) -> Option<i64> {
        self.seen.lock().unwrap().0
    }

    /// `Some(when it led again)` once it has, `Some(None)` if it never stopped leading
    /// (seen leading now), `None` while it does not lead.
    fn resumed(&self) -> Option<Option<i64>> {
        match *self.seen.lock().unwrap() {
            (Some(_), Some(t)) => Some(Some(t)),
            (Some(_), None) => None,
            (None, _) => Some(None),
        }
    }
}

impl Drop for LeaderWatch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// When an agent first answered a call that started after `after` (unix ns), waited for.
fn first_taken(pg: &cluster::Cluster, url: &str, after: i64) -> i64 {
    wait_for(Duration::from_secs(60), "an agent takes a new call", || {
        let n = number(
            pg,
            url,
            &format!(
                "SELECT COALESCE(min(answered_ns), 0) FROM interactions \
                 WHERE started_ns > {after} AND agent IS NOT NULL"
            ),
        );
        (n > 0).then_some(n)
    })
}

/// The ids of the events `feed` delivered: committed, so acknowledged.
fn acknowledged_ids(feed: &Feed) -> Vec<String> {
    feed.snapshot()
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect()
}

/// How many of the events `ids` the log at `url` holds.
fn held(pg: &cluster::Cluster, url: &str, ids: &[String]) -> i64 {
    let list = ids
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(",");
    number(
        pg,
        url,
        &format!("SELECT count(*) FROM events WHERE id IN ({list})"),
    )
}

#[test]
fn a_pair_on_its_own_network_survives_a_killed_node_a_partition_and_a_database_failover() {
    let test = "a_pair_on_its_own_network";
    if !may_make_namespaces(test) || !kamailio_installed() {
        return;
    }
    if !Path::new(HAPROXY).exists() {
        eprintln!("{test}: SKIPPED: no {HAPROXY} (Debian package `haproxy`)");
        return;
    }
    if cluster::pg_bin().is_none() {
        eprintln!("{test}: SKIPPED: no PostgreSQL server binaries (Debian package `postgresql`)");
        return;
    }
    clear_stale("hp");
    let tag = format!("hp{}", std::process::id());
    let hosts = [
        ("car", format!("{}/24", ip(2))),
        ("ph", format!("{}/24", ip(3))),
        ("px", format!("{}/24", ip(4))),
        ("a", format!("{}/24", ip(11))),
        ("b", format!("{}/24", ip(12))),
        ("db1", format!("{}/24", ip(21))),
        ("db2", format!("{}/24", ip(22))),
    ];
    let hosts: Vec<(&str, &str)> = hosts.iter().map(|(n, a)| (*n, a.as_str())).collect();
    let this_host = format!("{}/24", ip(1));
    let lan = match Lan::new(&tag, &hosts, Some(&this_host)) {
        Ok(lan) => lan,
        // A machine that refuses namespaces (a container without the privilege) skips;
        // anything failing after the first is a failure.
        Err(e)
            if e.contains("netns add")
                && !Path::new("/run/netns").join(format!("{tag}sw")).exists() =>
        {
            eprintln!("{test}: SKIPPED: cannot make network namespaces: {e}");
            return;
        }
        Err(e) => panic!("the network: {e}"),
    };

    // PostgreSQL: a primary that commits only once its standby has the change.
    let primary =
        cluster::Cluster::start_in(&lan.ns("db1"), &ip(21), "synchronous_standby_names = '*'\n")
            .expect("PostgreSQL");
    // Once promoted it has no standby of its own to wait for.
    let standby = primary.standby_in(&lan.ns("db2"), &ip(22), "synchronous_standby_names = ''\n");
    let single = cluster::create_database(&primary);
    let name = single.rsplit('/').next().unwrap().to_string();
    let url = format!(
        "postgres://hotline@{},{}/{name}",
        primary.address(),
        standby.address()
    );
    let on_primary = primary.url(&name);
    let on_standby = standby.url(&name);

    // The nodes; a starts first and leads.
    let data = tempfile::tempdir().unwrap();
    let (data_a, data_b) = (data.path().join("a"), data.path().join("b"));
    let node = |name: &str, host: u8, dir: &Path| {
        Hotline::serve_in_ns(
            &lan.ns(name),
            &node_config(&url, name),
            dir,
            at(host, 5060),
            at(host, 8080),
        )
    };
    let mut a = node("a", 11, &data_a);
    assert!(!a.standby, "the first node takes the free lease");
    let mut b = node("b", 12, &data_b);
    assert!(b.standby, "the second node waits as the standby");

    // Not 5060: the proxy's Via and Record-Route then carry the port the phones check for.
    let proxy = at(4, 5090);
    let k = Kamailio::start_in(&lan.ns("px"), proxy, [a.sip, b.sip], &ip(2));
    // The pages and the API at one address too: HAProxy sends them to the leader.
    let pages = Pages::start(&lan.ns("px"), at(4, 8080), [a.http, b.http]);
    pages.wait_leader(Duration::from_secs(30));
    let scenarios = tempfile::tempdir().unwrap();
    let via_proxy = ("127\\.0\\.0\\.1:5090", "198\\.18\\.5\\.4:5090");

    // Ten agents' phones register once, through the proxy, from one address and port; one
    // sipp answers for all of them from then on. Nobody registers again in this test.
    let register = scenario(
        scenarios.path(),
        "register.xml",
        proxy,
        &[
            ("Expires: 300", "Expires: 3600"),
            ("expires=300", "expires=3600"),
        ],
    );
    let phone_at = at(3, 5070);
    for ext in AGENTS {
        let pw = format!("pass{ext}");
        let (ok, log) = Sipp::start(
            &lan.ns("ph"),
            &register,
            phone_at,
            proxy,
            &[
                "-s", ext, "-au", ext, "-ap", &pw, "-m", "1", "-timeout", "20s",
            ],
        )
        .finish(Duration::from_secs(30));
        assert!(ok, "{ext} registers through the proxy: {log}\n{}", k.log());
        available(&a, ext);
    }
    let answers = scenario(
        scenarios.path(),
        "proxy-agent-answers.xml",
        proxy,
        &[via_proxy],
    );
    let _phones = Sipp::start(&lan.ns("ph"), &answers, phone_at, proxy, &["-rtp_echo"]);

    // Callers: 5 calls/s from the carrier, each pressing 1 and talking half a second.
    let caller = scenario(
        scenarios.path(),
        "proxy-caller-talks.xml",
        proxy,
        &[
            via_proxy,
            (
                "<pause milliseconds=\"4000\"/>",
                "<pause milliseconds=\"500\"/>",
            ),
        ],
    );
    let callers = Sipp::start(
        &lan.ns("car"),
        &caller,
        at(2, 5080),
        proxy,
        &["-r", "5", "-l", "200", "-recv_timeout", "30000"],
    );

    // 1. kill -9 of the active node under load. The supervisors' event stream, through
    // HAProxy, comes from a.
    let feed = Feed::open_at(pages.addr);
    feed.wait(Duration::from_secs(60), "calls completed on a", |e| {
        count(e, "ended") >= 10
    });
    // An agent logged in through HAProxy (on a).
    let agent_token = login_at(pages.addr, "agent1001", "pass1001");
    a.kill9();
    let killed = now_ns();
    let acknowledged = acknowledged_ids(&feed);
    assert!(
        b.wait_ready(Duration::from_secs(30)),
        "b takes over from the killed a"
    );
    let pages_back = Duration::from_nanos((now_ns() - killed).max(0) as u64)
        + pages.wait_leader(Duration::from_secs(30));
    // The first call b answered (the caller heard the IVR), and the first an agent took.
    let first = wait_for(Duration::from_secs(30), "b answers a new call", || {
        let n = number(
            &primary,
            &on_primary,
            &format!(
                "SELECT COALESCE(min(started_ns), 0) FROM interactions WHERE started_ns > {killed}"
            ),
        );
        (n > 0).then_some(n)
    });
    let took = first_taken(&primary, &on_primary, killed);
    let answered_in = Duration::from_nanos((first - killed).max(0) as u64);
    let agent_in = Duration::from_nanos((took - killed).max(0) as u64);
    eprintln!(
        "kill -9 of node a: node b answered the first new call {} ms after the kill, an agent \
         took one {} ms after it",
        answered_in.as_millis(),
        agent_in.as_millis()
    );
    eprintln!(
        "kill -9 of node a: the pages answered again through HAProxy {} ms after the kill",
        pages_back.as_millis()
    );
    // Still logged in, on b now: the token is signed with the log's key.
    let (status, me) = http(pages.addr, "GET", "/api/v1/me", Some(&agent_token), None);
    assert_eq!(status, 200, "the agent's token after the failover: {me}");
    assert!(
        open_events_at(pages.addr, &agent_token).is_ok(),
        "and its event stream"
    );
    assert!(
        answered_in < Duration::from_secs(5),
        "the standby answers new calls within 5 s of the kill: {answered_in:?}"
    );
    // Nothing a's stream acknowledged is missing.
    assert!(acknowledged.len() > 30, "{}", acknowledged.len());
    assert_eq!(
        held(&primary, &on_primary, &acknowledged),
        acknowledged.len() as i64,
        "every event acknowledged before the kill is in the log"
    );
    // a's calls in progress are closed as interrupted, by b; nothing of a's is left open.
    let open_of_a = format!(
        "SELECT count(*) FROM interactions WHERE started_ns < {killed} AND ended_ns IS NULL"
    );
    wait_for(Duration::from_secs(30), "a's calls closed", || {
        (number(&primary, &on_primary, &open_of_a) == 0).then_some(())
    });
    let interrupted = number(
        &primary,
        &on_primary,
        "SELECT count(*) FROM interactions WHERE end_reason = 'interrupted'",
    );
    assert!(
        interrupted >= 1,
        "a had calls in progress when it was killed"
    );
    assert_eq!(
        number(
            &primary,
            &on_primary,
            &format!(
                "SELECT count(*) FROM interactions WHERE end_reason = 'interrupted' AND started_ns > {killed}"
            ),
        ),
        0,
        "only a's calls are interrupted"
    );

    // 2. a comes back: the standby now.
    let mut a = node("a", 11, &data_a);
    assert!(a.standby, "a rejoins as the standby while b leads");

    // 3. b is cut off from everything; a takes over. The event stream through HAProxy now
    // comes from b.
    let feed = Feed::open_at(pages.addr);
    feed.wait(Duration::from_secs(60), "calls completed on b", |e| {
        count(e, "ended") >= 10
    });
    let cut = now_ns();
    lan.cable("b", false).unwrap();
    assert!(
        a.wait_ready(Duration::from_secs(30)),
        "a takes over from the cut-off b"
    );
    let first = first_taken(&primary, &on_primary, cut);
    eprintln!(
        "partition of node b: an agent took a new call on node a {} ms after the cut",
        (first - cut) / 1_000_000
    );
    let epochs = sql(
        &primary,
        &on_primary,
        "SELECT string_agg(target || ' ' || split_part(detail, ';', 1), ', ' ORDER BY seq) \
         FROM audit WHERE action = 'node_leads'",
    );
    assert_eq!(epochs, "a epoch 1, b epoch 2, a epoch 3", "{epochs}");
    // The cable back: b finds its lease gone and stops for its service manager to start it.
    lan.cable("b", true).unwrap();
    let status = b
        .wait_exit(Duration::from_secs(30))
        .expect("b stops once it is back without its lease");
    assert_eq!(status.code(), Some(STEPPED_DOWN), "{status:?}");
    // Fenced: nothing of b's epoch was written once a's began.
    let first_of_a = number(
        &primary,
        &on_primary,
        "SELECT min(seq) FROM events WHERE epoch = 3",
    );
    assert_eq!(
        number(
            &primary,
            &on_primary,
            &format!("SELECT count(*) FROM events WHERE epoch < 3 AND seq > {first_of_a}"),
        ),
        0,
        "no write of b's epoch after a's began"
    );
    let b = node("b", 12, &data_b);
    assert!(b.standby, "b rejoins as the standby while a leads");

    // 4. The database primary dies; its synchronous standby is promoted.
    pages.wait_leader(Duration::from_secs(30));
    let feed = Feed::open_at(pages.addr);
    feed.wait(Duration::from_secs(60), "calls completed on a", |e| {
        count(e, "ended") >= 10
    });
    let interrupted_before = number(
        &primary,
        &on_primary,
        "SELECT count(*) FROM interactions WHERE end_reason = 'interrupted'",
    );
    // Whether a leads, as its /metrics says, from just before the kill on.
    let watch = LeaderWatch::start(a.http);
    primary.kill9();
    let db_killed = now_ns();
    let acknowledged = acknowledged_ids(&feed);
    standby.promote();
    let promoted = Duration::from_nanos((now_ns() - db_killed) as u64);
    // The leader suspends new calls while it cannot renew its lease and takes them again
    // once the promoted standby answers; the first call an agent takes after that.
    // (That it never stopped leading is known once it had time to notice: its lease is 3 s.)
    let resumed = wait_for(Duration::from_secs(60), "a leads again", || {
        watch
            .resumed()
            .filter(|r| r.is_some() || now_ns() - db_killed > 5_000_000_000)
    });
    let suspended = watch.suspended();
    drop(watch);
    let took = first_taken(&standby, &on_standby, resumed.unwrap_or(db_killed));
    let carried_on = Duration::from_nanos((took - db_killed).max(0) as u64);
    let ms = |t: Option<i64>| {
        t.map_or("never".to_string(), |t| {
            format!("{} ms", (t - db_killed) / 1_000_000)
        })
    };
    eprintln!(
        "kill -9 of the database primary: standby promoted {} ms after it; the leader \
         suspended new calls {} and took them again {} after it; an agent took a new call \
         {} ms after it",
        promoted.as_millis(),
        ms(suspended),
        ms(resumed),
        carried_on.as_millis()
    );
    assert!(
        carried_on < Duration::from_secs(15),
        "the centre carries on within 15 s: {carried_on:?}"
    );
    assert_eq!(
        held(&standby, &on_standby, &acknowledged),
        acknowledged.len() as i64,
        "every event acknowledged before the database died is on its standby"
    );

    // The callers stop; every record of the day is closed, each for a reason a caller,
    // the queue or a failover gives.
    callers.wind_down();
    let (_, screen) = callers.finish(Duration::from_secs(120));
    let summary: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains("Successful call") || l.contains("Failed call"))
        .collect();
    eprintln!("callers: {}", summary.join("; "));
    wait_for(Duration::from_secs(60), "every record closed", || {
        (number(
            &standby,
            &on_standby,
            "SELECT count(*) FROM interactions WHERE ended_ns IS NULL",
        ) == 0)
            .then_some(())
    });
    let reasons = sql(
        &standby,
        &on_standby,
        "SELECT string_agg(end_reason || ' ' || n, ', ') FROM \
         (SELECT end_reason, count(*) AS n FROM interactions GROUP BY 1 ORDER BY 1) r",
    );
    eprintln!("records: {reasons}");
    assert_eq!(
        number(
            &standby,
            &on_standby,
            "SELECT count(*) FROM interactions WHERE end_reason = 'interrupted'",
        ),
        interrupted_before,
        "the database failover cut no call in progress"
    );
    for part in reasons.split(", ") {
        let reason = part.split(' ').next().unwrap_or_default();
        assert!(
            ["caller_hangup", "abandoned", "interrupted"].contains(&reason),
            "{reasons}"
        );
    }
    drop(k);
    stop(a);
    stop(b);
}
