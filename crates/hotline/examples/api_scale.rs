//! The API at a bank's scale: a day of N calls (default 70,000) in a real SQLite store, then
//! `GET /api/v1/queues` and pages of `GET /api/v1/interactions` timed against the real binary.
//!
//! `cargo run -p hotline --example api_scale -- [--binary target/debug/hotline] [--calls N]
//!  [--requests N] [--clients N] [--page N] [--dir DIR [--reuse]]`
//!
//! 1. Writes the day through the store's own API (`Store::append`, the events a call session
//!    appends: arrived, queued, offered, answered or abandoned, ended), dated from today's UTC
//!    midnight to ten minutes ago, over the demo's four queues and ten agents.
//!    With `--reuse`, the day already in DIR (from an earlier run with `--dir DIR`) is
//!    used as it is: the same data for two builds.
//! 2. Starts `hotline demo --data DIR` on free loopback ports on that data and logs in as the
//!    demo's supervisor.
//! 3. Times `--requests` calls of `/queues` one after another on one keep-alive connection,
//!    then the same from `--clients` connections at once (supervisors' wallboards), then
//!    walks the whole day through `/interactions?since=<midnight>&limit=<page>` following the
//!    next cursor, and counts hotline's CPU time and context switches per page (from
//!    `/proc`). A server without paging answers the whole day at once: that is timed
//!    instead (and said).
//!
//!    The day's report (`/reports/intervals`) and `/agents` (with each agent's contacts
//!    handled today) are timed on the same connection, `--requests`/10 times each.
//!
//! 4. Opens `--clients` supervisors' event streams and adds a note to a call 100 times,
//!    100 ms apart (each an event in the log): the time from sending the note to each
//!    stream's next `{"stream":"queues"}` message is what a wallboard waits for fresh
//!    figures. A server that does not push them says so.
//!
//! Prints each figure as p50/p99 in milliseconds, client side over loopback (so the handler's
//! cost plus one HTTP round trip), and checks that the figures and pages account for every
//! call.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hotline_model::{
    AgentId, Channel, EndReason, Event, EventKind, InteractionEvent, InteractionId, QueueName,
    Timestamp,
};
use hotline_store::{Durability, Store, StoreOptions};

struct Args {
    binary: PathBuf,
    calls: usize,
    requests: usize,
    clients: usize,
    page: usize,
    dir: Option<PathBuf>,
    reuse: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        binary: PathBuf::from("target/debug/hotline"),
        calls: 70_000,
        requests: 300,
        clients: 20,
        page: 500,
        dir: None,
        reuse: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| v.parse::<usize>().map_err(|e| format!("{v}: {e}"));
        match flag.as_str() {
            "--binary" => a.binary = value()?.into(),
            "--calls" => a.calls = num(value()?)?.max(1),
            "--requests" => a.requests = num(value()?)?.max(1),
            "--clients" => a.clients = num(value()?)?.max(1),
            "--page" => a.page = num(value()?)?.max(1),
            "--dir" => a.dir = Some(value()?.into()),
            "--reuse" => a.reuse = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// A small deterministic generator (xorshift64*), so every run writes the same day.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const QUEUES: [&str; 4] = ["accounts", "cards", "complaints", "general"];
const SECOND: i64 = 1_000_000_000;
const DAY: i64 = 86_400 * SECOND;

/// The events of one call started at `start` (unix nanoseconds).
fn call(rng: &mut Rng, n: usize, start: i64) -> Vec<Event> {
    let id = InteractionId::from_parts(
        u64::try_from(start / 1_000_000).unwrap_or(0),
        u128::from(rng.next()) << 16 | n as u128,
    );
    let at = |ns: i64| Timestamp::from_unix_nanos(ns);
    let ev = |ns: i64, kind| Event::from(InteractionEvent::new(id, at(ns), kind));
    let queue = QueueName::new(QUEUES[rng.below(4) as usize]);
    let agent = AgentId::new(format!("{}", 1001 + rng.below(10)));
    let queued = start + (5 + rng.below(20) as i64) * SECOND;
    let wait = rng.below(60_000) as i64 * 1_000_000;
    let mut out = vec![
        ev(
            start,
            EventKind::Arrived {
                channel: Channel::Voice,
                from: format!("sip:+4420794{:05}@10.0.0.1", n % 100_000),
                to: "95588".into(),
                trunk: None,
            },
        ),
        ev(queued, EventKind::Queued { queue, priority: 0 }),
    ];
    if rng.below(100) < 88 {
        out.push(ev(
            queued + wait - SECOND,
            EventKind::Offered {
                agent: agent.clone(),
            },
        ));
        out.push(ev(queued + wait, EventKind::Answered { agent }));
        let reason = if rng.below(2) == 0 {
            EndReason::AgentHangup
        } else {
            EndReason::CallerHangup
        };
        let talk = (30 + rng.below(300) as i64) * SECOND;
        out.push(ev(queued + wait + talk, EventKind::Ended { reason }));
    } else {
        out.push(ev(
            queued + wait,
            EventKind::Abandoned {
                wait_secs: wait as f64 / 1e9,
            },
        ));
        out.push(ev(
            queued + wait,
            EventKind::Ended {
                reason: EndReason::Abandoned,
            },
        ));
    }
    out
}

async fn write_day(db: &std::path::Path, calls: usize) -> Result<(i64, usize), String> {
    let store = Store::open_with(
        db,
        StoreOptions {
            durability: Durability::Normal,
            ..StoreOptions::default()
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let now = Timestamp::now().unix_nanos();
    let midnight = now - now.rem_euclid(DAY);
    // From midnight to ten minutes ago (the last calls have ended by now).
    let span = (now - 600 * SECOND - midnight).max(60 * SECOND);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut batch = Vec::new();
    let mut events = 0;
    let mut pending = Vec::new();
    for n in 0..calls {
        let start = midnight + span / calls as i64 * n as i64;
        batch.extend(call(&mut rng, n, start));
        if batch.len() >= 2_000 {
            events += batch.len();
            pending.push(store.append(std::mem::take(&mut batch)));
        }
        if pending.len() >= 16 {
            for p in pending.drain(..) {
                p.await.map_err(|e| e.to_string())?;
            }
        }
    }
    events += batch.len();
    pending.push(store.append(batch));
    for p in pending {
        p.await.map_err(|e| e.to_string())?;
    }
    store.close().await;
    Ok((midnight, events))
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    r: BufReader<TcpStream>,
    addr: SocketAddr,
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Conn {
    fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Conn {
            r: BufReader::new(s),
            addr,
        })
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> std::io::Result<Response> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        if let Some(t) = token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if !body.is_empty() {
            req.push_str("Content-Type: application/json\r\n");
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        self.r.get_mut().write_all(req.as_bytes())?;
        let mut line = String::new();
        self.r.read_line(&mut line)?;
        let status = line.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.r.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok());
        let body = match len {
            Some(len) => {
                let mut body = vec![0; len];
                self.r.read_exact(&mut body)?;
                body
            }
            // Chunked (a large answer).
            None => {
                let mut body = Vec::new();
                loop {
                    line.clear();
                    self.r.read_line(&mut line)?;
                    let size =
                        usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                            .map_err(|e| {
                                std::io::Error::other(format!("chunk size {line:?}: {e}"))
                            })?;
                    let mut chunk = vec![0; size + 2];
                    self.r.read_exact(&mut chunk)?;
                    if size == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[..size]);
                }
                body
            }
        };
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(what: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{what}: n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(f64::NAN)
    );
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn run(args: Args) -> Result<(), String> {
    let tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::Builder::new()
                .prefix("api-scale-")
                .tempdir_in(".")
                .map_err(|e| e.to_string())?;
            tmp.path().to_path_buf()
        }
    };
    let data = dir.join("data");
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let db = data.join("hotline.db");
    let midnight = if args.reuse && db.exists() {
        let now = Timestamp::now().unix_nanos();
        println!("reusing the day in {}", db.display());
        now - now.rem_euclid(DAY)
    } else {
        let t0 = Instant::now();
        let (midnight, events) = rt.block_on(write_day(&db, args.calls))?;
        println!(
            "wrote {} calls ({events} events) in {:.1} s",
            args.calls,
            t0.elapsed().as_secs_f64()
        );
        midnight
    };

    let mut child = Command::new(&args.binary)
        .args(["demo", "--data"])
        .arg(&data)
        .args(["--sip", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", args.binary.display()))?;
    let result = (|| {
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr: SocketAddr = loop {
            let line = lines
                .next()
                .ok_or("hotline exited before it was ready")?
                .map_err(|e| e.to_string())?;
            if let Some(a) = line
                .strip_prefix("hotline ready ")
                .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("http=")))
            {
                break a.parse().map_err(|e| format!("{a}: {e}"))?;
            }
        };
        // Keep draining the child's stdout so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        measure(&args, addr, midnight, child.id())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn measure(args: &Args, addr: SocketAddr, midnight: i64, pid: u32) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    let mut c = Conn::open(addr).map_err(io)?;
    let login = c
        .request(
            "POST",
            "/api/v1/login",
            None,
            r#"{"user":"supervisor","password":"supervisor"}"#,
        )
        .map_err(io)?;
    let v: serde_json::Value = serde_json::from_slice(&login.body).map_err(|e| e.to_string())?;
    let token = v["token"].as_str().ok_or("no token")?.to_owned();

    // A request that costs next to nothing (the token, a tiny answer): the round trip the
    // figures below include.
    let mut ms = Vec::new();
    for _ in 0..args.requests {
        let t = Instant::now();
        c.request("GET", "/api/v1/me", Some(&token), "")
            .map_err(io)?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    summary("/me (the round trip alone), 1 client", ms);

    // /queues, one client.
    let mut ms = Vec::new();
    let mut offered = 0;
    for i in 0..args.requests + 5 {
        let t = Instant::now();
        let r = c
            .request("GET", "/api/v1/queues", Some(&token), "")
            .map_err(io)?;
        let took = t.elapsed().as_secs_f64() * 1e3;
        if r.status != 200 {
            return Err(format!("/queues: {}", r.status));
        }
        if i >= 5 {
            ms.push(took);
        }
        let v: serde_json::Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
        offered = v
            .as_array()
            .map_or(0, |a| a.iter().filter_map(|q| q["offered"].as_u64()).sum());
    }
    summary("/queues, 1 client", ms);
    println!(
        "  offered today over the queues: {offered} (calls written: {})",
        args.calls
    );

    // The wallboard's other two loads: the day's report in intervals, and every agent with
    // its contacts handled today.
    let few = (args.requests / 10).max(5);
    for path in ["/api/v1/reports/intervals", "/api/v1/agents"] {
        let mut ms = Vec::new();
        let mut body = Vec::new();
        for i in 0..few + 2 {
            let t = Instant::now();
            let r = c.request("GET", path, Some(&token), "").map_err(io)?;
            let took = t.elapsed().as_secs_f64() * 1e3;
            if r.status != 200 {
                return Err(format!("{path}: {}", r.status));
            }
            if i >= 2 {
                ms.push(took);
            }
            body = r.body;
        }
        summary(&format!("{path}, 1 client"), ms);
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let counted = if path.ends_with("intervals") {
            v["total"]["offered"].as_u64().unwrap_or(0)
        } else {
            v.as_array().map_or(0, |a| {
                a.iter()
                    .filter_map(|g| g["wellbeing"]["handled"].as_u64())
                    .sum()
            })
        };
        println!(
            "  {path}: {counted} counted today (calls written: {})",
            args.calls
        );
    }

    // /queues, `clients` at once (each wallboard refetching after an event).
    let per = (args.requests / args.clients).max(10);
    let handles: Vec<_> = (0..args.clients)
        .map(|_| {
            let token = token.clone();
            std::thread::spawn(move || -> Result<(Vec<f64>, Vec<String>), String> {
                let mut c = Conn::open(addr).map_err(|e| e.to_string())?;
                let mut ms = Vec::new();
                let mut failed = Vec::new();
                for _ in 0..per {
                    let t = Instant::now();
                    let r = c
                        .request("GET", "/api/v1/queues", Some(&token), "")
                        .map_err(|e| e.to_string())?;
                    ms.push(t.elapsed().as_secs_f64() * 1e3);
                    if r.status != 200 {
                        failed.push(format!("{} {}", r.status, String::from_utf8_lossy(&r.body)));
                    }
                }
                Ok((ms, failed))
            })
        })
        .collect();
    let t = Instant::now();
    let mut all = Vec::new();
    let mut failed = Vec::new();
    for h in handles {
        let (ms, f) = h.join().map_err(|_| "a client panicked")??;
        all.extend(ms);
        failed.extend(f);
    }
    let wall = t.elapsed().as_secs_f64();
    let n = all.len();
    summary(&format!("/queues, {} clients at once", args.clients), all);
    println!(
        "  {:.0} requests/s, {} failed",
        n as f64 / wall,
        failed.len()
    );
    if let Some(f) = failed.first() {
        println!("  first failure: {f}");
    }

    // /interactions, the whole day in pages.
    let since = encode(&Timestamp::from_unix_nanos(midnight).to_rfc3339());
    let mut path = format!("/api/v1/interactions?since={since}&limit={}", args.page);
    let mut ms = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut last: Option<(Timestamp, String)> = None;
    let mut in_order = true;
    let used_before = usage(pid);
    loop {
        let t = Instant::now();
        let r = c.request("GET", &path, Some(&token), "").map_err(io)?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        if r.status != 200 {
            return Err(format!(
                "{path}: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        let v: serde_json::Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
        let recs = v.as_array().ok_or("not an array")?;
        for rec in recs {
            let started = rec["started"].as_str().unwrap_or_default();
            let key = (
                Timestamp::parse_rfc3339(started).map_err(|e| format!("{started}: {e}"))?,
                rec["id"].as_str().unwrap_or_default().to_owned(),
            );
            if last.as_ref().is_some_and(|l| *l >= key) {
                in_order = false;
            }
            seen.insert(key.1.clone());
            last = Some(key);
        }
        if recs.len() > args.page {
            println!(
                "  the server does not page: one response held {} records",
                recs.len()
            );
            // Time a few more of the whole day, the only way this server gives it.
            for _ in 0..4 {
                let t = Instant::now();
                c.request("GET", &path, Some(&token), "").map_err(io)?;
                ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
            summary("/interactions, the whole day in one response", ms);
            return Ok(());
        }
        match r
            .header("x-next-cursor")
            .filter(|_| r.header("link").is_some())
        {
            Some(cursor) => {
                path = format!(
                    "/api/v1/interactions?since={since}&limit={}&cursor={}",
                    args.page,
                    encode(cursor)
                )
            }
            None => break,
        }
    }
    let pages = ms.len() as f64;
    if let (Some(a), Some(b)) = (used_before, usage(pid)) {
        println!(
            "  hotline per page: {:.2} ms of CPU, {:.0} context switches",
            (b.0 - a.0) * 1e3 / pages,
            b.1.saturating_sub(a.1) as f64 / pages
        );
    }
    summary(&format!("/interactions, pages of {}", args.page), ms);
    println!(
        "  {} distinct records, in order: {in_order} (calls written: {})",
        seen.len(),
        args.calls
    );
    let Some(id) = seen.iter().next().cloned() else {
        return Ok(());
    };
    push_latency(args, addr, &token, &id, &mut c)
}

/// A process's CPU time so far (user and system, seconds) and its threads' context switches
/// (voluntary and not), from `/proc`; `None` where there is no `/proc`.
fn usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let mut switches = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        switches += status
            .lines()
            .filter(|l| l.contains("ctxt_switches"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    Some((ticks as f64 / hz.max(1) as f64, switches))
}

/// Reads one WebSocket text frame (the server does not mask).
fn ws_text(r: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    loop {
        let mut head = [0u8; 2];
        r.read_exact(&mut head)?;
        let mut len = u64::from(head[1] & 0x7f);
        if len == 126 {
            let mut b = [0u8; 2];
            r.read_exact(&mut b)?;
            len = u64::from(u16::from_be_bytes(b));
        } else if len == 127 {
            let mut b = [0u8; 8];
            r.read_exact(&mut b)?;
            len = u64::from_be_bytes(b);
        }
        let mut payload = vec![0u8; usize::try_from(len).unwrap_or(0)];
        r.read_exact(&mut payload)?;
        if head[0] & 0x0f == 1 {
            return Ok(payload);
        }
    }
}

fn push_latency(
    args: &Args,
    addr: SocketAddr,
    token: &str,
    id: &str,
    c: &mut Conn,
) -> Result<(), String> {
    use std::sync::{Arc, Mutex};
    let arrivals: Arc<Mutex<Vec<Vec<Instant>>>> =
        Arc::new(Mutex::new(vec![Vec::new(); args.clients]));
    for n in 0..args.clients {
        let s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut r = BufReader::new(s);
        write!(
            r.get_mut(),
            "GET /api/v1/events?access_token={token} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut line = String::new();
        loop {
            line.clear();
            r.read_line(&mut line).map_err(|e| e.to_string())?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        let arrivals = arrivals.clone();
        std::thread::spawn(move || {
            while let Ok(text) = ws_text(&mut r) {
                let at = Instant::now();
                let queues = serde_json::from_slice::<serde_json::Value>(&text)
                    .is_ok_and(|v| v["stream"] == "queues");
                if queues && let Ok(mut a) = arrivals.lock() {
                    a[n].push(at);
                }
            }
        });
    }
    std::thread::sleep(Duration::from_millis(300));
    let path = format!("/api/v1/interactions/{id}/notes");
    let mut sent = Vec::new();
    for k in 0..100 {
        let t = Instant::now();
        let r = c
            .request(
                "POST",
                &path,
                Some(token),
                &format!(r#"{{"text":"bench note {k}"}}"#),
            )
            .map_err(|e| e.to_string())?;
        if r.status != 200 {
            return Err(format!(
                "{path}: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        sent.push(t);
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let arrivals = arrivals.lock().map_err(|_| "poisoned")?.clone();
    let mut ms = Vec::new();
    let mut missed = 0;
    for conn in &arrivals {
        for t in &sent {
            match conn.iter().find(|a| *a >= t) {
                Some(a) => ms.push(a.duration_since(*t).as_secs_f64() * 1e3),
                None => missed += 1,
            }
        }
    }
    if ms.is_empty() {
        println!("  the server pushes no queue figures on the event stream");
        return Ok(());
    }
    summary(
        &format!(
            "event (a note, sent) -> queue figures on each of {} streams",
            args.clients
        ),
        ms,
    );
    println!("  {missed} events with no figures after them");
    Ok(())
}

fn main() {
    match parse().and_then(run) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("api_scale: {e}");
            std::process::exit(2);
        }
    }
}
