//! Load generator for hotline's web chat (see `bench/chat/run.sh` and `bench/chat/RESULTS.md`).
//!
//! `chatload config` writes a centre: the demo's plus many agents who take chats, each with
//! an API user. `chatload run` then plays both sides over the real protocols:
//!
//! - each agent logs in (`POST /api/v1/login`), opens the desk's WebSocket
//!   (`/api/v1/conversations/live`), goes available, accepts every chat offered on it
//!   (`POST …/accept`) and writes into each of its conversations (`POST …/messages`), as the
//!   agent desktop does;
//! - each customer opens the widget's WebSocket (`/chat/v1/ws`) from a loopback address of
//!   its own (a chat start is limited per source address), starts a chat, and once an agent
//!   has joined writes `message`s on it.
//!
//! Every message's text is `bench <µs>`, the time it was sent on this process's clock; the
//! receiving socket (the agent's desk feed, or the customer's widget) takes the difference
//! when it reads the message. The customer's receipt (the message is durable in the log)
//! is timed the same way through the message's client id. Chats are opened in steps; once
//! all of a step's are answered, one measuring window reports latencies, messages per
//! second, hotline's CPU (from `/proc/<pid>/stat`) and memory, as one JSON line each.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::Method;
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
#[command(about = "Concurrent web chats against a running hotline")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Writes a centre: `demo` (examples/demo.toml) plus `agents` agents 2001.. with the
    /// skill the chat queue needs, each with an API user `agent<ext>`.
    Config {
        #[arg(long)]
        demo: PathBuf,
        #[arg(long)]
        agents: usize,
        /// The users' password as an argon2 PHC string (`hotline hash-password`).
        #[arg(long)]
        password_hash: String,
        /// Chats each agent holds at once.
        #[arg(long, default_value_t = 3)]
        chat_capacity: u32,
        #[arg(long)]
        out: PathBuf,
    },
    /// Opens chats in steps and measures each step with messages flowing both ways.
    Run(RunArgs),
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// hotline's HTTP address.
    #[arg(long)]
    http: SocketAddr,
    /// hotline's process id, for its CPU time and memory.
    #[arg(long)]
    pid: Option<u32>,
    #[arg(long, default_value_t = 3334)]
    agents: usize,
    #[arg(long, default_value = "bench")]
    password: String,
    /// Concurrent chats at each step (cumulative).
    #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000")]
    steps: Vec<usize>,
    /// Seconds measured at each step, once all of its chats are answered.
    #[arg(long, default_value_t = 60)]
    window: u64,
    /// Seconds between two messages of one side of a conversation: uniform in [min, max].
    #[arg(long, default_value_t = 10.0)]
    min_gap: f64,
    #[arg(long, default_value_t = 20.0)]
    max_gap: f64,
    /// Kept-alive HTTP connections the agents' requests share.
    #[arg(long, default_value_t = 32)]
    http_conns: usize,
    /// Chats being opened (started, not yet answered) at once.
    #[arg(long, default_value_t = 200)]
    opening: usize,
    /// Records hotline with `perf record -g` into this file during the last step's window.
    #[arg(long)]
    perf: Option<PathBuf>,
}

// ---- time and figures ------------------------------------------------------------------

static EPOCH: OnceLock<Instant> = OnceLock::new();

fn now_us() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// The latency of a `bench <µs>` text (or a `…-<µs>` client id), in µs.
fn since_stamp(stamp: &str) -> Option<u64> {
    let sent: u64 = stamp.parse().ok()?;
    Some(now_us().saturating_sub(sent))
}

#[derive(Default)]
struct Samples {
    c2a: Vec<u32>,
    a2c: Vec<u32>,
    receipt: Vec<u32>,
    join: Vec<u32>,
}

#[derive(Default)]
struct Stats {
    recording: AtomicBool,
    stop: AtomicBool,
    samples: Mutex<Samples>,
    sent_c: AtomicU64,
    sent_a: AtomicU64,
    got_c2a: AtomicU64,
    got_a2c: AtomicU64,
    active: AtomicUsize,
    accepted: AtomicUsize,
    agents_ready: AtomicUsize,
    dropped: AtomicUsize,
    reloads: AtomicUsize,
    errors: AtomicU64,
}

enum Kind {
    C2a,
    A2c,
    Receipt,
    Join,
}

impl Stats {
    fn sample(&self, kind: Kind, us: u64) {
        let us = us.min(u32::MAX as u64) as u32;
        if matches!(kind, Kind::Join) {
            self.samples.lock().unwrap().join.push(us);
            return;
        }
        if !self.recording.load(Ordering::Relaxed) {
            return;
        }
        let mut s = self.samples.lock().unwrap();
        match kind {
            Kind::C2a => s.c2a.push(us),
            Kind::A2c => s.a2c.push(us),
            Kind::Receipt => s.receipt.push(us),
            Kind::Join => {}
        }
    }

    fn error(&self, what: String) {
        let n = self.errors.fetch_add(1, Ordering::Relaxed);
        if n < 20 {
            eprintln!("error: {what}");
        }
    }
}

/// p50, p99, max in milliseconds.
fn summary(v: &mut [u32]) -> Value {
    if v.is_empty() {
        return json!(null);
    }
    v.sort_unstable();
    let at = |p: f64| {
        let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        (v[i] as f64 / 1000.0 * 100.0).round() / 100.0
    };
    json!({"n": v.len(), "p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": at(1.0)})
}

/// A small xorshift generator: spreads the senders' timers, seeded per conversation.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn gap(&mut self, min: f64, max: f64) -> Duration {
        Duration::from_secs_f64(min + (max - min) * self.unit())
    }
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn rss_mb(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((kb / 1024.0).round())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

// ---- HTTP: a few kept-alive connections the agents' requests share -----------------------

struct Req {
    method: Method,
    path: String,
    token: Option<Arc<str>>,
    body: String,
    reply: oneshot::Sender<Result<(u16, Bytes), String>>,
}

#[derive(Clone)]
struct Http {
    txs: Arc<Vec<mpsc::UnboundedSender<Req>>>,
    next: Arc<AtomicUsize>,
}

impl Http {
    fn new(server: SocketAddr, conns: usize) -> Http {
        let txs = (0..conns.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(http_worker(server, rx));
                tx
            })
            .collect();
        Http {
            txs: Arc::new(txs),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: String,
        token: Option<Arc<str>>,
        body: Value,
    ) -> Result<(u16, Bytes), String> {
        let (reply, rx) = oneshot::channel();
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.txs.len();
        self.txs[i]
            .send(Req {
                method,
                path,
                token,
                body: body.to_string(),
                reply,
            })
            .map_err(|_| "the HTTP worker stopped".to_string())?;
        rx.await
            .map_err(|_| "the HTTP worker dropped a request".to_string())?
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn http_connect(server: SocketAddr) -> Result<Sender, String> {
    let stream = TcpStream::connect(server)
        .await
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn http_worker(server: SocketAddr, mut rx: mpsc::UnboundedReceiver<Req>) {
    let mut sender: Option<Sender> = None;
    while let Some(req) = rx.recv().await {
        let mut result = Err(String::new());
        for _ in 0..3 {
            if sender.as_ref().is_none_or(|s| s.is_closed()) {
                match http_connect(server).await {
                    Ok(s) => sender = Some(s),
                    Err(e) => {
                        result = Err(e);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                }
            }
            let s = sender.as_mut().expect("connected");
            if s.ready().await.is_err() {
                sender = None;
                continue;
            }
            let mut b = hyper::Request::builder()
                .method(req.method.clone())
                .uri(&req.path)
                .header("host", server.to_string())
                .header("content-type", "application/json");
            if let Some(t) = &req.token {
                b = b.header("authorization", format!("Bearer {t}"));
            }
            let r = b
                .body(Full::new(Bytes::from(req.body.clone())))
                .expect("a request");
            match s.send_request(r).await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    result = match resp.into_body().collect().await {
                        Ok(body) => Ok((status, body.to_bytes())),
                        Err(e) => Err(e.to_string()),
                    };
                    break;
                }
                Err(e) => {
                    // A kept-alive connection the server closed: once more on a new one.
                    sender = None;
                    result = Err(e.to_string());
                }
            }
        }
        let _ = req.reply.send(result);
    }
}

// ---- WebSockets ------------------------------------------------------------------------

type Ws = WebSocketStream<TcpStream>;

async fn ws_connect(server: SocketAddr, local: Option<Ipv4Addr>, path: &str) -> Result<Ws, String> {
    let sock = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    if let Some(ip) = local {
        sock.bind(SocketAddr::new(ip.into(), 0))
            .map_err(|e| format!("bind {ip}: {e}"))?;
    }
    let stream = sock.connect(server).await.map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{server}{path}"), stream)
        .await
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

fn text_of(m: &Message) -> Option<Value> {
    match m {
        Message::Text(t) => serde_json::from_str(t.as_str()).ok(),
        _ => None,
    }
}

// ---- the customer ----------------------------------------------------------------------

async fn customer(
    i: usize,
    args: Arc<RunArgs>,
    stats: Arc<Stats>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    // 127.1.10.1, 127.1.10.2, …: one source address per customer.
    let ip = Ipv4Addr::new(127, 1, (10 + i / 250) as u8, (1 + i % 250) as u8);
    let mut permit = Some(permit);
    let mut ws = match ws_connect(args.http, Some(ip), "/chat/v1/ws").await {
        Ok(ws) => ws,
        Err(e) => return stats.error(format!("customer {i}: {e}")),
    };
    let begun = now_us();
    let start = json!({"type": "start", "name": format!("Customer {i}"), "language": "en",
                       "page": "https://bank.example/help"});
    if ws.send(Message::text(start.to_string())).await.is_err() {
        return stats.error(format!("customer {i}: start not sent"));
    }
    let mut rng = Rng::new(i as u64 + 1);
    let mut next: Option<tokio::time::Instant> = None;
    let mut n = 0u64;
    loop {
        let timer = async {
            match next {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            m = ws.next() => {
                let m = match m {
                    Some(Ok(m)) => m,
                    _ => {
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                        stats.error(format!("customer {i}: the widget's socket closed"));
                        return;
                    }
                };
                let Some(v) = text_of(&m) else { continue };
                match v["type"].as_str() {
                    Some("state") if v["phase"] == "active" && next.is_none() => {
                        stats.sample(Kind::Join, now_us() - begun);
                        stats.active.fetch_add(1, Ordering::Relaxed);
                        permit.take();
                        next = Some(tokio::time::Instant::now() + rng.gap(0.0, args.max_gap));
                    }
                    Some("state") if v["phase"] == "ended" => {
                        stats.error(format!("customer {i}: the chat ended"));
                        return;
                    }
                    Some("message") if v["sender"] == "agent" => {
                        if let Some(us) = v["text"].as_str().and_then(|t| t.strip_prefix("bench ")).and_then(since_stamp) {
                            stats.got_a2c.fetch_add(1, Ordering::Relaxed);
                            stats.sample(Kind::A2c, us);
                        }
                    }
                    Some("receipt") => {
                        if let Some(us) = v["id"].as_str().and_then(|t| t.rsplit('-').next()).and_then(since_stamp) {
                            stats.sample(Kind::Receipt, us);
                        }
                    }
                    Some("error") => stats.error(format!("customer {i}: {v}")),
                    _ => {}
                }
            }
            _ = timer => {
                if stats.stop.load(Ordering::Relaxed) {
                    next = None;
                    continue;
                }
                n += 1;
                let us = now_us();
                let msg = json!({"type": "message", "id": format!("{i}-{n}-{us}"), "text": format!("bench {us}")});
                if ws.send(Message::text(msg.to_string())).await.is_err() {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                stats.sent_c.fetch_add(1, Ordering::Relaxed);
                next = next.map(|t| t + rng.gap(args.min_gap, args.max_gap));
            }
        }
    }
}

// ---- the agent -------------------------------------------------------------------------

async fn login(http: &Http, user: &str, password: &str) -> Result<Arc<str>, String> {
    loop {
        let (status, body) = http
            .call(
                Method::POST,
                "/api/v1/login".into(),
                None,
                json!({"user": user, "password": password}),
            )
            .await?;
        match status {
            200 => {
                let v: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
                return v["token"]
                    .as_str()
                    .map(Arc::from)
                    .ok_or_else(|| format!("{user}: no token"));
            }
            // The password checks are queued: come back in a moment.
            429 | 503 => tokio::time::sleep(Duration::from_millis(500)).await,
            _ => {
                return Err(format!(
                    "{user}: {status} {}",
                    String::from_utf8_lossy(&body)
                ));
            }
        }
    }
}

async fn agent(ext: u32, token: Arc<str>, args: Arc<RunArgs>, http: Http, stats: Arc<Stats>) {
    let path = format!("/api/v1/conversations/live?access_token={token}");
    let mut ws = match ws_connect(args.http, None, &path).await {
        Ok(ws) => ws,
        Err(e) => return stats.error(format!("agent {ext}: {e}")),
    };
    match http
        .call(
            Method::POST,
            format!("/api/v1/agents/{ext}/state"),
            Some(token.clone()),
            json!({"state": "available"}),
        )
        .await
    {
        Ok((200, _)) => {}
        other => return stats.error(format!("agent {ext}: not available: {other:?}")),
    }
    stats.agents_ready.fetch_add(1, Ordering::Relaxed);
    let mut talks = 0u64;
    while let Some(m) = ws.next().await {
        let Ok(m) = m else { break };
        let Some(v) = text_of(&m) else { continue };
        match v["type"].as_str() {
            Some("offer") => {
                let Some(id) = v["conversation"]["id"].as_str() else {
                    continue;
                };
                talks += 1;
                tokio::spawn(talk(
                    id.to_string(),
                    token.clone(),
                    args.clone(),
                    http.clone(),
                    stats.clone(),
                    Rng::new(u64::from(ext) << 20 | talks),
                ));
            }
            Some("message") if v["sender"] == "customer" => {
                if let Some(us) = v["text"]
                    .as_str()
                    .and_then(|t| t.strip_prefix("bench "))
                    .and_then(since_stamp)
                {
                    stats.got_c2a.fetch_add(1, Ordering::Relaxed);
                    stats.sample(Kind::C2a, us);
                }
            }
            Some("reload") => {
                stats.reloads.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
    stats.dropped.fetch_add(1, Ordering::Relaxed);
    stats.error(format!("agent {ext}: the desk's socket closed"));
}

/// The agent accepts the offered chat and writes into it until it is over.
async fn talk(
    id: String,
    token: Arc<str>,
    args: Arc<RunArgs>,
    http: Http,
    stats: Arc<Stats>,
    mut rng: Rng,
) {
    let accept = http
        .call(
            Method::POST,
            format!("/api/v1/conversations/{id}/accept"),
            Some(token.clone()),
            json!({}),
        )
        .await;
    match accept {
        Ok((200, _)) => {}
        other => return stats.error(format!("accept {id}: {other:?}")),
    }
    stats.accepted.fetch_add(1, Ordering::Relaxed);
    let mut next = tokio::time::Instant::now() + rng.gap(0.0, args.max_gap);
    loop {
        tokio::time::sleep_until(next).await;
        if stats.stop.load(Ordering::Relaxed) {
            return;
        }
        let us = now_us();
        let r = http
            .call(
                Method::POST,
                format!("/api/v1/conversations/{id}/messages"),
                Some(token.clone()),
                json!({"text": format!("bench {us}")}),
            )
            .await;
        match r {
            Ok((200, _)) => {
                stats.sent_a.fetch_add(1, Ordering::Relaxed);
            }
            Ok((404 | 409, _)) => return stats.error(format!("conversation {id} is over")),
            other => stats.error(format!("message into {id}: {other:?}")),
        }
        next += rng.gap(args.min_gap, args.max_gap);
    }
}

// ---- the run ---------------------------------------------------------------------------

async fn run(args: RunArgs) {
    now_us();
    let args = Arc::new(args);
    let stats = Arc::new(Stats::default());
    let http = Http::new(args.http, args.http_conns);
    let pid = args.pid.map(|p| p.to_string());

    // Agents log in (argon2 checks, queued by hotline: a few at a time), open their desks
    // and go available.
    let t0 = Instant::now();
    let logins = Arc::new(Semaphore::new(8));
    let mut joins = Vec::new();
    for k in 0..args.agents {
        let ext = 2001 + k as u32;
        let (http, args, stats, logins) =
            (http.clone(), args.clone(), stats.clone(), logins.clone());
        joins.push(tokio::spawn(async move {
            let token = {
                let _p = logins.acquire().await;
                match login(&http, &format!("agent{ext}"), &args.password).await {
                    Ok(t) => t,
                    Err(e) => return stats.error(format!("login: {e}")),
                }
            };
            agent(ext, token, args, http, stats).await;
        }));
    }
    while stats.agents_ready.load(Ordering::Relaxed) < args.agents {
        if t0.elapsed() > Duration::from_secs(900) {
            eprintln!(
                "agents ready: only {}",
                stats.agents_ready.load(Ordering::Relaxed)
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "{} agents logged in, on their desks and available in {:.1} s",
        stats.agents_ready.load(Ordering::Relaxed),
        t0.elapsed().as_secs_f64()
    );

    let opening = Arc::new(Semaphore::new(args.opening));
    let mut opened = 0usize;
    for &target in &args.steps {
        let t1 = Instant::now();
        stats.samples.lock().unwrap().join.clear();
        while opened < target {
            let permit = opening.clone().acquire_owned().await.expect("open");
            tokio::spawn(customer(opened, args.clone(), stats.clone(), permit));
            opened += 1;
        }
        while stats.active.load(Ordering::Relaxed) < target {
            if t1.elapsed() > Duration::from_secs(600) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ramp = t1.elapsed().as_secs_f64();
        let active = stats.active.load(Ordering::Relaxed);
        let mut join = std::mem::take(&mut stats.samples.lock().unwrap().join);
        // Let the new conversations' senders spread out before measuring.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let load0 = loadavg();
        let cpu0 = pid.as_deref().and_then(cpu_seconds);
        let own0 = cpu_seconds("self");
        let got0 = stats.got_c2a.load(Ordering::Relaxed) + stats.got_a2c.load(Ordering::Relaxed);
        let err0 = stats.errors.load(Ordering::Relaxed);
        *stats.samples.lock().unwrap() = Samples::default();
        stats.recording.store(true, Ordering::Relaxed);
        let profiling = match (&args.perf, &pid) {
            (Some(file), Some(pid)) if Some(&target) == args.steps.last() => {
                std::process::Command::new("perf")
                    .args(["record", "-F", "499", "-g", "-p", pid, "-o"])
                    .arg(file)
                    .args(["--", "sleep", &args.window.to_string()])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .ok()
            }
            _ => None,
        };
        let w0 = Instant::now();
        let mut rss_peak = 0f64;
        while w0.elapsed() < Duration::from_secs(args.window) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Some(r) = pid.as_deref().and_then(rss_mb) {
                rss_peak = rss_peak.max(r);
            }
        }
        stats.recording.store(false, Ordering::Relaxed);
        let secs = w0.elapsed().as_secs_f64();
        if let Some(mut p) = profiling {
            let _ = p.wait();
        }
        let got =
            stats.got_c2a.load(Ordering::Relaxed) + stats.got_a2c.load(Ordering::Relaxed) - got0;
        let cpu = match (cpu0, pid.as_deref().and_then(cpu_seconds)) {
            (Some(a), Some(b)) => json!(((b - a) / secs * 100.0).round() / 100.0),
            _ => json!(null),
        };
        let own = match (own0, cpu_seconds("self")) {
            (Some(a), Some(b)) => json!(((b - a) / secs * 100.0).round() / 100.0),
            _ => json!(null),
        };
        let mut s = std::mem::take(&mut *stats.samples.lock().unwrap());
        let line = json!({
            "chats": target,
            "active": active,
            "agents": args.agents,
            "ramp_s": (ramp * 10.0).round() / 10.0,
            "start_to_answered": summary(&mut join),
            "window_s": secs.round(),
            "messages_per_s": (got as f64 / secs).round(),
            "customer_to_agent": summary(&mut s.c2a),
            "agent_to_customer": summary(&mut s.a2c),
            "customer_receipt": summary(&mut s.receipt),
            "hotline_cpu_cores": cpu,
            "hotline_rss_mb": rss_peak,
            "loadgen_cpu_cores": own,
            "errors": stats.errors.load(Ordering::Relaxed) - err0,
            "dropped_sockets": stats.dropped.load(Ordering::Relaxed),
            "reloads": stats.reloads.load(Ordering::Relaxed),
            "loadavg_before": load0,
            "loadavg_after": loadavg(),
        });
        println!("{line}");
    }

    // Stop writing, let what is on its way arrive, and count what never did.
    stats.stop.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let line = json!({
        "done": true,
        "customer_sent": stats.sent_c.load(Ordering::Relaxed),
        "agent_received": stats.got_c2a.load(Ordering::Relaxed),
        "agent_sent": stats.sent_a.load(Ordering::Relaxed),
        "customer_received": stats.got_a2c.load(Ordering::Relaxed),
        "accepted": stats.accepted.load(Ordering::Relaxed),
        "errors": stats.errors.load(Ordering::Relaxed),
    });
    println!("{line}");
    drop(joins);
}

fn config(
    demo: &std::path::Path,
    agents: usize,
    hash: &str,
    capacity: u32,
    out: &std::path::Path,
) -> std::io::Result<()> {
    let text = std::fs::read_to_string(demo)?;
    // Room for every desk's and widget's connection.
    let text = text.replacen("[http]\n", "[http]\nmax_connections = 30000\n", 1);
    let mut people = String::new();
    let mut users = String::new();
    for k in 0..agents {
        let ext = 2001 + k;
        // The agents never register a phone: their SIP digests are placeholders.
        people.push_str(&format!(
            "[[agents]]\nextension = \"{ext}\"\nname = \"Agent {ext}\"\n\
             ha1_md5 = \"{md5}\"\nha1_sha256 = \"{sha}\"\n\
             skills = {{ general = 5 }}\ncapacity = {{ chat = {capacity} }}\n\n",
            md5 = "0".repeat(32),
            sha = "0".repeat(64),
        ));
        users.push_str(&format!(
            "\n[[users]]\nname = \"agent{ext}\"\npassword_hash = \"{hash}\"\nrole = \"agent\"\nagent = \"{ext}\"\n"
        ));
    }
    let cut = text.find("[[queues]]").unwrap_or(text.len());
    let text = format!("{}{people}{}{users}", &text[..cut], &text[cut..]);
    std::fs::write(out, text)
}

fn main() {
    match Cli::parse().cmd {
        Cmd::Config {
            demo,
            agents,
            password_hash,
            chat_capacity,
            out,
        } => {
            if let Err(e) = config(&demo, agents, &password_hash, chat_capacity, &out) {
                eprintln!("{}: {e}", out.display());
                std::process::exit(1);
            }
        }
        Cmd::Run(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(run(args));
        }
    }
}
