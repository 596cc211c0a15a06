//! WebRTC load harness: N calls, each a plain RTP caller bridged to a browser leg
//! (ICE-lite, DTLS-SRTP, PCMU) whose browser is a `str0m` peer in a generator process.
//!
//! ```text
//! cargo run --release -p hotline-media --example webrtc_load -- \
//!     --calls 500 --secs 20 [--warmup 3] [--setup-concurrency 20] [--no-record] \
//!     [--no-analyse] [--poll-ms 10] [--shards 0] [--gen-threads 2] [--gen-nice 10]
//! ```
//!
//! The harness process runs hotline's media engine. For every call it binds two legs, adds
//! the caller's (plain RTP, in-band DTMF and voice analysis on, as the switch sets a SIP
//! leg), offers a browser leg, has the generator answer it, bridges the two and records the
//! call in stereo, then waits for the engine to report the browser connected (ICE and DTLS
//! done). Once every call is up, the generator's phones and browsers each send one PCMU
//! packet every 20 ms, tagged with call, side and index, and check every packet that comes
//! back through hotline.
//!
//! The same binary is the generator when started with `--generator` (the harness does that
//! itself, at a lower priority). Reported: setup time per leg, CPU of hotline's media
//! threads, of its recording writer and of the whole hotline process (from
//! /proc/self/task/*/stat, over the measuring window after a warm-up), the generator's CPU
//! (from its /proc/PID/stat, same window), how often the media threads slept between polls,
//! packets each way, loss, order, and each packet's delay through hotline (the generator's
//! send to its receipt, on one clock, so its own lateness in reading counts too).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hotline_media::call::LegParams;
use hotline_media::engine::{EngineConfig, MediaEngine};
use hotline_media::g711::Codec;
use hotline_media::rtp::{RtpHeader, RtpPacket, write_packet};
use hotline_media::{BrowserLeg, BrowserState, CallHandle, MediaEvent};
use str0m::change::SdpOffer;
use str0m::media::{Frequency, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

struct Args {
    calls: usize,
    secs: u64,
    warmup: u64,
    dir: std::path::PathBuf,
    record: bool,
    analyse: bool,
    poll_ms: u64,
    shards: usize,
    setup_concurrency: usize,
    gen_threads: usize,
    gen_nice: i32,
    generator: bool,
    keep: bool,
}

fn args() -> Args {
    let mut a = Args {
        calls: 100,
        secs: 20,
        warmup: 3,
        dir: std::env::temp_dir().join(format!("hotline-webrtc-load-{}", std::process::id())),
        record: true,
        analyse: true,
        poll_ms: 10,
        shards: 0,
        setup_concurrency: 20,
        gen_threads: 2,
        gen_nice: 10,
        generator: false,
        keep: false,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let next = |i: usize| v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--calls" => {
                a.calls = next(i).parse().expect("--calls N");
                i += 1;
            }
            "--secs" => {
                a.secs = next(i).parse().expect("--secs S");
                i += 1;
            }
            "--warmup" => {
                a.warmup = next(i).parse().expect("--warmup S");
                i += 1;
            }
            "--dir" => {
                a.dir = next(i).into();
                i += 1;
            }
            "--poll-ms" => {
                a.poll_ms = next(i).parse().expect("--poll-ms MS");
                i += 1;
            }
            "--shards" => {
                a.shards = next(i).parse().expect("--shards N");
                i += 1;
            }
            "--setup-concurrency" => {
                a.setup_concurrency = next(i).parse().expect("--setup-concurrency N");
                i += 1;
            }
            "--gen-threads" => {
                a.gen_threads = next(i).parse().expect("--gen-threads N");
                i += 1;
            }
            "--gen-nice" => {
                a.gen_nice = next(i).parse().expect("--gen-nice N");
                i += 1;
            }
            "--no-record" => a.record = false,
            "--no-analyse" => a.analyse = false,
            "--generator" => a.generator = true,
            "--keep" => a.keep = true,
            other => panic!("unknown argument {other}"),
        }
        i += 1;
    }
    a
}

fn main() {
    let a = args();
    if a.generator {
        generator(&a);
    } else {
        hotline(&a);
    }
}

// ---------------------------------------------------------------------------------------
// CPU accounting

/// utime + stime (seconds) of a /proc/.../stat line, and the thread's name.
fn stat_cpu(s: &str) -> Option<(String, f64)> {
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let name = s.get(open + 1..close)?.to_string();
    let f: Vec<&str> = s.get(close + 1..)?.split_whitespace().collect();
    let t = |k: usize| f.get(k).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    Some((name, (t(11) + t(12)) / 100.0))
}

fn proc_cpu(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| stat_cpu(&s))
        .map_or(0.0, |x| x.1)
}

/// CPU seconds of this process so far: (media threads, recording writer, whole process).
/// Threads that have ended are counted in the process total only.
#[derive(Clone, Copy, Default)]
struct Cpu {
    media: f64,
    writer: f64,
    process: f64,
    /// Times the media threads went to sleep (voluntary context switches): about one per
    /// poll interval and thread when they keep up, fewer when a round takes longer.
    media_sleeps: u64,
}

fn self_cpu() -> Cpu {
    let mut c = Cpu {
        process: proc_cpu(std::process::id()),
        ..Cpu::default()
    };
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for e in dir.flatten() {
            let Ok(s) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            if let Some((name, secs)) = stat_cpu(&s) {
                if name.starts_with("hotline-media") {
                    c.media += secs;
                    c.media_sleeps += std::fs::read_to_string(e.path().join("status"))
                        .ok()
                        .and_then(|st| {
                            st.lines()
                                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                                .and_then(|v| v.trim().parse::<u64>().ok())
                        })
                        .unwrap_or(0);
                } else if name.starts_with("hotline-record") {
                    c.writer += secs;
                }
            }
        }
    }
    c
}

/// Datagrams the kernel dropped on sockets bound to `ports` (the `drops` column of
/// /proc/net/udp).
fn socket_drops(ports: &std::collections::HashSet<u16>) -> u64 {
    let s = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    s.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
            let drops: u64 = f.last()?.parse().ok()?;
            ports.contains(&port).then_some(drops)
        })
        .sum()
}

fn field(report: &str, name: &str) -> u64 {
    report
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let k = ((v.len() - 1) as f64 * p).round() as usize;
    v[k.min(v.len() - 1)]
}

// ---------------------------------------------------------------------------------------
// hotline: the media engine and the calls

struct Call {
    h: CallHandle,
    events: tokio::sync::mpsc::UnboundedReceiver<MediaEvent>,
    caller: usize,
    browser: usize,
    ports: [u16; 2],
    /// Offer made → engine reports the browser connected.
    setup: Duration,
    /// Answer given to the engine → connected (ICE + DTLS only).
    handshake: Duration,
}

type Waiting = Arc<Mutex<HashMap<usize, tokio::sync::oneshot::Sender<String>>>>;

fn hotline(a: &Args) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(a));
}

async fn run(a: &Args) {
    if a.record {
        std::fs::create_dir_all(&a.dir).expect("record dir");
    }
    let call_cfg = hotline_media::call::CallConfig {
        inactivity_timeout: Duration::from_secs(3600),
        ..Default::default()
    };
    let eng = MediaEngine::new(EngineConfig {
        port_min: 40000,
        port_max: 59998,
        call: call_cfg,
        poll_interval: Duration::from_millis(a.poll_ms),
        shards: a.shards,
        ..EngineConfig::default()
    });

    // The generator: a process of its own, at a lower priority (it stands in for the
    // browsers and the network).
    let exe = std::env::current_exe().expect("exe");
    let gen_args = [
        "--generator".to_string(),
        "--calls".to_string(),
        a.calls.to_string(),
        "--secs".to_string(),
        (a.warmup + a.secs).to_string(),
        "--gen-threads".to_string(),
        a.gen_threads.to_string(),
    ];
    let mut child = Command::new("nice")
        .arg("-n")
        .arg(a.gen_nice.to_string())
        .arg(&exe)
        .args(&gen_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("generator");
    let gen_pid = child.id();
    let stdin = Arc::new(Mutex::new(child.stdin.take().expect("stdin")));
    let stdout = child.stdout.take().expect("stdout");
    let (line_tx, mut line_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line_tx.send(l).is_err() {
                break;
            }
        }
    });
    // The phones' addresses (as a caller's SDP would give them) and the generator's ports.
    let mut phones: HashMap<usize, SocketAddr> = HashMap::new();
    let mut gen_ports = std::collections::HashSet::new();
    loop {
        match line_rx.recv().await {
            Some(l) if l == "ready" => break,
            Some(l) => {
                let v: Vec<&str> = l.split_whitespace().collect();
                match v[..] {
                    ["phone", c, addr] => {
                        let c: usize = c.parse().expect("call");
                        phones.insert(c, addr.parse().expect("addr"));
                    }
                    ["port", p] => {
                        gen_ports.insert(p.parse::<u16>().expect("port"));
                    }
                    _ => {}
                }
            }
            None => panic!("generator died"),
        }
    }
    // Lines from the generator: answers go to the call waiting for them.
    let waiting: Waiting = Arc::new(Mutex::new(HashMap::new()));
    let (report_tx, report_rx) = tokio::sync::oneshot::channel::<String>();
    {
        let waiting = waiting.clone();
        tokio::spawn(async move {
            let mut report_tx = Some(report_tx);
            while let Some(l) = line_rx.recv().await {
                let v: Vec<&str> = l.split_whitespace().collect();
                match v[..] {
                    ["answer", c, sdp] => {
                        let Ok(c) = c.parse::<usize>() else { continue };
                        let sdp = B64
                            .decode(sdp)
                            .ok()
                            .and_then(|b| String::from_utf8(b).ok())
                            .unwrap_or_default();
                        let tx = waiting.lock().ok().and_then(|mut w| w.remove(&c));
                        if let Some(tx) = tx {
                            let _ = tx.send(sdp);
                        }
                    }
                    ["generator", ..] => {
                        if let Some(tx) = report_tx.take() {
                            let _ = tx.send(l.clone());
                        }
                    }
                    _ => eprintln!("generator: {l}"),
                }
            }
        });
    }

    // Set-up: `setup_concurrency` calls at a time, as agents answering.
    let cpu_s0 = self_cpu();
    let gen_s0 = proc_cpu(gen_pid);
    let t_setup = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(a.setup_concurrency.max(1)));
    let mut tasks = Vec::new();
    for c in 0..a.calls {
        let phone = *phones.get(&c).expect("a phone for every call");
        let (eng, sem, waiting, stdin) = (eng.clone(), sem.clone(), waiting.clone(), stdin.clone());
        let dir = a.record.then(|| a.dir.join(format!("call-{c}.wav")));
        let analyse = a.analyse;
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.ok()?;
            setup_call(c, phone, &eng, &waiting, &stdin, dir, analyse).await
        }));
    }
    let mut calls: Vec<Call> = Vec::new();
    let mut failed = 0;
    for t in tasks {
        match t.await {
            Ok(Some(c)) => calls.push(c),
            _ => failed += 1,
        }
    }
    let setup_wall = t_setup.elapsed();
    let cpu_s1 = self_cpu();
    let gen_s1 = proc_cpu(gen_pid);
    let connected = calls.len();

    // Media: the generator starts sending.
    if let Ok(mut s) = stdin.lock() {
        let _ = writeln!(s, "go");
        let _ = s.flush();
    }
    tokio::time::sleep(Duration::from_secs(a.warmup)).await;
    let q0 = totals(&calls).await;
    let (c0, g0, t0) = (self_cpu(), proc_cpu(gen_pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(a.secs)).await;
    let (c1, g1, t1) = (self_cpu(), proc_cpu(gen_pid), Instant::now());
    let q1 = totals(&calls).await;
    let window = (t1 - t0).as_secs_f64();

    let report = report_rx.await.unwrap_or_default();
    let _ = child.wait();
    // Let hotline finish what is queued: wait until its counters stop moving.
    let mut last = totals(&calls).await;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let t = totals(&calls).await;
        if t == last {
            break;
        }
        last = t;
    }
    let our_ports: std::collections::HashSet<u16> = calls.iter().flat_map(|c| c.ports).collect();
    let hotline_drops = socket_drops(&our_ports);
    let mut setup: Vec<f64> = calls.iter().map(|c| c.setup.as_secs_f64() * 1e3).collect();
    let mut handshake: Vec<f64> = calls
        .iter()
        .map(|c| c.handshake.as_secs_f64() * 1e3)
        .collect();
    let mut rec_secs = 0f64;
    let mut disconnected = 0;
    for c in &calls {
        let _ = c.h.close();
    }
    for c in &mut calls {
        while let Some(e) = c.events.recv().await {
            match e {
                MediaEvent::RecordingStopped { seconds, .. } => rec_secs += seconds,
                MediaEvent::Browser {
                    state: BrowserState::Disconnected,
                    ..
                } => disconnected += 1,
                _ => {}
            }
        }
    }

    let n = a.calls as f64;
    let media = (c1.media - c0.media) / window;
    let writer = (c1.writer - c0.writer) / window;
    let process = (c1.process - c0.process) / window;
    let gen_cores = (g1 - g0) / window;
    let (phone_sent, phone_recv) = (field(&report, "phone_sent"), field(&report, "phone_recv"));
    let (br_sent, br_recv) = (
        field(&report, "browser_sent"),
        field(&report, "browser_recv"),
    );
    // Packets per second into hotline over the window, both directions.
    let rx_pps = ((q1.caller_rx + q1.browser_rx) - (q0.caller_rx + q0.browser_rx)) as f64 / window;
    println!(
        "calls={} connected={} failed={} disconnected_during_run={} record={} analyse={} poll_ms={} \
         setup_wall_s={:.2} setup_p50_ms={:.1} setup_p99_ms={:.1} setup_max_ms={:.1} \
         handshake_p50_ms={:.1} handshake_p99_ms={:.1} \
         setup_cpu_ms_per_leg={:.2} setup_media_cpu_ms_per_leg={:.2} gen_setup_cpu_ms_per_leg={:.2} \
         rx_pps={:.0} nominal_rx_pps={} media_cores={:.3} writer_cores={:.3} process_cores={:.3} \
         media_us_per_leg_s={:.0} process_us_per_leg_s={:.0} media_sleeps_per_s={:.0} gen_cores={:.3} \
         phone_sent={} browser_recv={} lost_to_browser={} browser_sent={} phone_recv={} lost_to_phone={} \
         reordered={} delay_p50_ms={} delay_p99_ms={} delay_max_ms={} hotline_from_caller={} hotline_to_browser={} hotline_from_browser={} \
         hotline_to_caller={} kernel_drops_hotline={} kernel_drops_generator={} recorded_secs={:.0}",
        a.calls,
        connected,
        failed,
        disconnected,
        a.record,
        a.analyse,
        a.poll_ms,
        setup_wall.as_secs_f64(),
        pct(&mut setup, 0.5),
        pct(&mut setup, 0.99),
        pct(&mut setup, 1.0),
        pct(&mut handshake, 0.5),
        pct(&mut handshake, 0.99),
        (cpu_s1.process - cpu_s0.process) * 1e3 / n,
        (cpu_s1.media - cpu_s0.media) * 1e3 / n,
        (gen_s1 - gen_s0) * 1e3 / n,
        rx_pps,
        a.calls * 100,
        media,
        writer,
        process,
        media * 1e6 / n,
        process * 1e6 / n,
        (c1.media_sleeps - c0.media_sleeps) as f64 / window,
        gen_cores,
        phone_sent,
        br_recv,
        phone_sent.saturating_sub(br_recv),
        br_sent,
        phone_recv,
        br_sent.saturating_sub(phone_recv),
        field(&report, "reordered"),
        field(&report, "delay_p50_ms"),
        field(&report, "delay_p99_ms"),
        field(&report, "delay_max_ms"),
        last.caller_rx,
        last.browser_tx,
        last.browser_rx,
        last.caller_tx,
        hotline_drops,
        field(&report, "kernel_drops"),
        rec_secs,
    );
    if !a.keep && a.record {
        let _ = std::fs::remove_dir_all(&a.dir);
    }
}

async fn setup_call(
    c: usize,
    phone: SocketAddr,
    eng: &MediaEngine,
    waiting: &Waiting,
    stdin: &Mutex<std::process::ChildStdin>,
    record: Option<std::path::PathBuf>,
    analyse: bool,
) -> Option<Call> {
    let la = eng.bind_leg().await.ok()?;
    let lb = eng.bind_leg().await.ok()?;
    let ports = [la.local_addr().port(), lb.local_addr().port()];
    let (h, mut events) = eng.spawn_call();
    // The caller's leg as the switch sets up a SIP leg.
    let mut p = LegParams::new(Some(phone), Codec::Pcmu);
    p.inband_dtmf = true;
    p.analyse = analyse;
    let caller = h.add_leg(la, p).await.ok()?;
    let t0 = Instant::now();
    let (leg, offer) = BrowserLeg::offer(
        lb.local_addr(),
        "127.0.0.1".parse().ok()?,
        Codec::Pcmu,
        Instant::now(),
    )
    .ok()?;
    let browser = h.add_browser_leg(lb, leg, Codec::Pcmu).await.ok()?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    waiting.lock().ok()?.insert(c, tx);
    {
        let mut s = stdin.lock().ok()?;
        writeln!(
            s,
            "offer {c} {} {} {}",
            ports[1],
            ports[0],
            B64.encode(offer.as_bytes())
        )
        .ok()?;
        s.flush().ok()?;
    }
    let answer = tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .ok()?
        .ok()?;
    let t1 = Instant::now();
    if let Err(e) = h.browser_answer(browser, answer).await.ok()? {
        eprintln!("call {c}: answer refused: {e}");
        return None;
    }
    h.bridge(caller, browser).ok()?;
    if let Some(path) = record {
        h.start_recording(path, caller, Some(browser)).await.ok()?;
    }
    let up = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match events.recv().await {
                Some(MediaEvent::Browser { leg, state }) if leg == browser => return Some(state),
                Some(_) => continue,
                None => return None,
            }
        }
    })
    .await;
    if !matches!(up, Ok(Some(BrowserState::Connected))) {
        eprintln!("call {c}: the browser did not connect ({up:?})");
        return None;
    }
    let t2 = Instant::now();
    Some(Call {
        h,
        events,
        caller,
        browser,
        ports,
        setup: t2 - t0,
        handshake: t2 - t1,
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct Totals {
    caller_rx: u64,
    caller_tx: u64,
    browser_rx: u64,
    browser_tx: u64,
}

/// Packets each leg received and sent, asked of all calls at once.
async fn totals(calls: &[Call]) -> Totals {
    let mut asks = Vec::new();
    for c in calls {
        for (leg, caller) in [(c.caller, true), (c.browser, false)] {
            let h = c.h.clone();
            asks.push(tokio::spawn(async move { (h.quality(leg).await, caller) }));
        }
    }
    let mut t = Totals::default();
    for a in asks {
        if let Ok((Ok(Some(q)), caller)) = a.await {
            if caller {
                t.caller_rx += q.packets_received;
                t.caller_tx += q.packets_sent;
            } else {
                t.browser_rx += q.packets_received;
                t.browser_tx += q.packets_sent;
            }
        }
    }
    t
}

// ---------------------------------------------------------------------------------------
// The generator: phones and browsers

/// Phones and browsers on one socket each per this many calls.
const GROUP: usize = 25;

const TAG: u8 = 0xa5;

struct Stats {
    phone_sent: AtomicU64,
    phone_recv: AtomicU64,
    browser_sent: AtomicU64,
    browser_recv: AtomicU64,
    reordered: AtomicU64,
    /// Sent → received through hotline, both directions, in 1 ms buckets (the last one
    /// holds everything from 1 s up).
    delay_ms: Vec<AtomicU64>,
    peer_errors: AtomicU64,
}

/// One browser (a `str0m` peer with full ICE, as a browser is) and the caller's phone of
/// the same call.
struct Peer {
    call: u32,
    rtc: Rtc,
    /// Index of its socket among the worker's browser sockets.
    sock: usize,
    /// hotline's browser leg, where the browser's packets go and come from.
    hotline_browser: SocketAddr,
    /// hotline's caller leg, where the phone sends.
    hotline_caller: SocketAddr,
    phone_sock: usize,
    mid: Option<Mid>,
    wake: Instant,
    connected: bool,
    dead: bool,
    last_to_browser: Option<u32>,
    last_to_phone: Option<u32>,
}

struct NewPeer {
    peer: Peer,
}

fn tag(payload: &mut [u8], call: u32, side: u8, tick: u32) {
    payload[0..4].copy_from_slice(&call.to_be_bytes());
    payload[4] = side;
    payload[5..8].copy_from_slice(&tick.to_be_bytes()[1..4]);
    payload[8] = TAG;
}

fn untag(payload: &[u8]) -> Option<(u32, u8, u32)> {
    if payload.len() < 9 || payload[8] != TAG {
        return None;
    }
    let call = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
    let idx = u32::from_be_bytes([0, payload[5], payload[6], payload[7]]);
    Some((call, payload[4], idx))
}

fn generator(a: &Args) {
    let threads = a.gen_threads.max(1);
    let calls = a.calls;
    // Call c is served by worker c % threads, on socket (c / threads) / GROUP of it.
    let mut socks: Vec<(Vec<UdpSocket>, Vec<UdpSocket>)> = Vec::new();
    for w in 0..threads {
        let mine = (0..calls).filter(|c| c % threads == w).count();
        let groups = mine.div_ceil(GROUP);
        let mk = || {
            let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
            let _ = socket2::SockRef::from(&s).set_recv_buffer_size(4 << 20);
            let _ = socket2::SockRef::from(&s).set_send_buffer_size(4 << 20);
            s.set_nonblocking(true).expect("nonblocking");
            s
        };
        let browsers: Vec<UdpSocket> = (0..groups).map(|_| mk()).collect();
        let phones: Vec<UdpSocket> = (0..groups).map(|_| mk()).collect();
        socks.push((browsers, phones));
    }
    let addr = |s: &UdpSocket| s.local_addr().expect("addr");
    let mut ports = std::collections::HashSet::new();
    for (b, p) in &socks {
        for s in b.iter().chain(p) {
            ports.insert(addr(s).port());
            println!("port {}", addr(s).port());
        }
    }
    for c in 0..calls {
        let (_, p) = &socks[c % threads];
        println!("phone {c} {}", addr(&p[(c / threads) / GROUP]));
    }
    println!("ready");
    let _ = std::io::stdout().flush();

    let provider = str0m::crypto::from_feature_flags();
    let cert = provider
        .dtls_provider
        .generate_certificate()
        .expect("a DTLS certificate");
    let go: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let stats = Arc::new(Stats {
        phone_sent: AtomicU64::new(0),
        phone_recv: AtomicU64::new(0),
        browser_sent: AtomicU64::new(0),
        browser_recv: AtomicU64::new(0),
        reordered: AtomicU64::new(0),
        peer_errors: AtomicU64::new(0),
        delay_ms: (0..=1000).map(|_| AtomicU64::new(0)).collect(),
    });
    let total = Duration::from_secs(a.secs);
    let mut senders = Vec::new();
    let mut workers = Vec::new();
    let mut local_addrs: Vec<Vec<SocketAddr>> = Vec::new();
    for (browsers, phones) in socks {
        local_addrs.push(browsers.iter().map(addr).collect());
        let (tx, rx) = std_mpsc::channel::<NewPeer>();
        senders.push(tx);
        let (go, stats) = (go.clone(), stats.clone());
        workers.push(std::thread::spawn(move || {
            worker(browsers, phones, rx, go, total, stats)
        }));
    }

    let mut lines = std::io::stdin().lock().lines().map_while(Result::ok);
    for l in lines.by_ref() {
        let v: Vec<&str> = l.split_whitespace().collect();
        match v[..] {
            ["go"] => {
                let _ = go.set(Instant::now());
                break;
            }
            ["offer", c, browser_port, caller_port, sdp] => {
                let (Ok(c), Ok(bp), Ok(cp)) = (
                    c.parse::<usize>(),
                    browser_port.parse::<u16>(),
                    caller_port.parse::<u16>(),
                ) else {
                    continue;
                };
                let w = c % threads;
                let sock = (c / threads) / GROUP;
                let local = local_addrs[w][sock];
                let sdp = B64
                    .decode(sdp)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .unwrap_or_default();
                let now = Instant::now();
                let mut rtc = Rtc::builder()
                    .clear_codecs()
                    .enable_pcmu(true, false)
                    .set_dtls_cert(cert.clone())
                    .build(now);
                rtc.add_local_candidate(Candidate::host(local, "udp").expect("candidate"));
                let Ok(offer) = SdpOffer::from_sdp_string(&sdp) else {
                    eprintln!("call {c}: bad offer");
                    continue;
                };
                let Ok(answer) = rtc.sdp_api().accept_offer(offer) else {
                    eprintln!("call {c}: offer not accepted");
                    continue;
                };
                println!("answer {c} {}", B64.encode(answer.to_sdp_string()));
                let _ = std::io::stdout().flush();
                let peer = Peer {
                    call: c as u32,
                    rtc,
                    sock,
                    hotline_browser: SocketAddr::from(([127, 0, 0, 1], bp)),
                    hotline_caller: SocketAddr::from(([127, 0, 0, 1], cp)),
                    phone_sock: sock,
                    mid: None,
                    wake: now,
                    connected: false,
                    dead: false,
                    last_to_browser: None,
                    last_to_phone: None,
                };
                let _ = senders[w].send(NewPeer { peer });
            }
            _ => {}
        }
    }
    drop(senders);
    for w in workers {
        let _ = w.join();
    }
    let s = &stats;
    println!(
        "generator phone_sent={} phone_recv={} browser_sent={} browser_recv={} reordered={} \
         peer_errors={} kernel_drops={} delay_p50_ms={} delay_p99_ms={} delay_max_ms={}",
        s.phone_sent.load(Ordering::Relaxed),
        s.phone_recv.load(Ordering::Relaxed),
        s.browser_sent.load(Ordering::Relaxed),
        s.browser_recv.load(Ordering::Relaxed),
        s.reordered.load(Ordering::Relaxed),
        s.peer_errors.load(Ordering::Relaxed),
        socket_drops(&ports),
        delay_quantile(&s.delay_ms, 0.5),
        delay_quantile(&s.delay_ms, 0.99),
        delay_quantile(&s.delay_ms, 1.0),
    );
    let _ = std::io::stdout().flush();
}

/// Polls `str0m` until it wants a timeout: sends what it transmits, counts the audio the
/// browser hears.
/// The bucket (ms) below which fraction `q` of the delays fall.
fn delay_quantile(h: &[AtomicU64], q: f64) -> usize {
    let counts: Vec<u64> = h.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0;
    }
    let want = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut run = 0;
    for (ms, c) in counts.iter().enumerate() {
        run += c;
        if run >= want {
            return ms;
        }
    }
    counts.len() - 1
}

fn record_delay(stats: &Stats, sent_at: &[Instant], idx: u32) {
    if let Some(t) = sent_at.get(idx as usize) {
        let ms = (t.elapsed().as_millis() as usize).min(stats.delay_ms.len() - 1);
        stats.delay_ms[ms].fetch_add(1, Ordering::Relaxed);
    }
}

fn drain(p: &mut Peer, socks: &[UdpSocket], stats: &Stats, sent_at: &[Instant]) {
    for _ in 0..1000 {
        match p.rtc.poll_output() {
            Ok(Output::Timeout(t)) => {
                p.wake = t;
                return;
            }
            Ok(Output::Transmit(t)) => {
                let _ = socks[p.sock].send_to(&t.contents, t.destination);
            }
            Ok(Output::Event(e)) => match e {
                Event::Connected => p.connected = true,
                Event::MediaAdded(m) => p.mid = Some(m.mid),
                Event::MediaData(d) => {
                    if let Some((call, side, idx)) = untag(&d.data)
                        && call == p.call
                        && side == 0
                    {
                        stats.browser_recv.fetch_add(1, Ordering::Relaxed);
                        record_delay(stats, sent_at, idx);
                        if p.last_to_browser.is_some_and(|l| idx <= l) {
                            stats.reordered.fetch_add(1, Ordering::Relaxed);
                        }
                        p.last_to_browser = Some(idx);
                    }
                }
                _ => {}
            },
            Err(_) => {
                p.dead = true;
                stats.peer_errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

fn worker(
    browsers: Vec<UdpSocket>,
    phones: Vec<UdpSocket>,
    rx: std_mpsc::Receiver<NewPeer>,
    go: Arc<OnceLock<Instant>>,
    total: Duration,
    stats: Arc<Stats>,
) {
    let mut peers: Vec<Peer> = Vec::new();
    // Per browser socket: hotline's address → peer.
    let mut routes: Vec<HashMap<SocketAddr, usize>> = vec![HashMap::new(); browsers.len()];
    // Call → peer, for what the phones receive.
    let mut by_call: HashMap<u32, usize> = HashMap::new();
    let locals: Vec<SocketAddr> = browsers
        .iter()
        .map(|s| s.local_addr().expect("addr"))
        .collect();
    let mut buf = vec![0u8; 2048];
    let mut out = [0u8; 200];
    let mut payload = [0x55u8; 160];
    let mut tick: u32 = 0;
    // When each tick's packets were sent.
    let mut sent_at: Vec<Instant> = Vec::new();
    let mut stopped: Option<Instant> = None;
    let mut open = true;
    loop {
        // New browsers (during set-up).
        while open {
            match rx.try_recv() {
                Ok(NewPeer { mut peer }) => {
                    let k = peers.len();
                    routes[peer.sock].insert(peer.hotline_browser, k);
                    by_call.insert(peer.call, k);
                    drain(&mut peer, &browsers, &stats, &sent_at);
                    peers.push(peer);
                }
                Err(std_mpsc::TryRecvError::Empty) => break,
                Err(std_mpsc::TryRecvError::Disconnected) => open = false,
            }
        }
        // What hotline sent the browsers.
        for (si, s) in browsers.iter().enumerate() {
            while let Ok((n, from)) = s.recv_from(&mut buf) {
                let Some(&k) = routes[si].get(&from) else {
                    continue;
                };
                let p = &mut peers[k];
                if p.dead {
                    continue;
                }
                if let Ok(r) = Receive::new(Protocol::Udp, from, locals[si], &buf[..n]) {
                    let _ = p.rtc.handle_input(Input::Receive(Instant::now(), r));
                }
                drain(p, &browsers, &stats, &sent_at);
            }
        }
        // What hotline sent the phones.
        for s in &phones {
            while let Ok((n, _)) = s.recv_from(&mut buf) {
                let Ok(pkt) = RtpPacket::parse(&buf[..n]) else {
                    continue;
                };
                let Some((call, side, idx)) = untag(pkt.payload) else {
                    continue; // not the browser's audio (silence before the bridge)
                };
                if side != 1 {
                    continue;
                }
                let Some(&k) = by_call.get(&call) else {
                    continue;
                };
                stats.phone_recv.fetch_add(1, Ordering::Relaxed);
                record_delay(&stats, &sent_at, idx);
                let p = &mut peers[k];
                if p.last_to_phone.is_some_and(|l| idx <= l) {
                    stats.reordered.fetch_add(1, Ordering::Relaxed);
                }
                p.last_to_phone = Some(idx);
            }
        }
        let now = Instant::now();
        // One packet per phone and per browser every 20 ms, once told to go.
        let mut next_tick = None;
        if let Some(&start) = go.get()
            && stopped.is_none()
        {
            if now.duration_since(start) >= total {
                stopped = Some(now);
            } else {
                let due = start + Duration::from_millis(20) * tick;
                if now >= due {
                    sent_at.push(now);
                    for p in peers.iter_mut().filter(|p| p.connected && !p.dead) {
                        // The phone.
                        tag(&mut payload, p.call, 0, tick);
                        let h = RtpHeader {
                            marker: tick == 0,
                            payload_type: 0,
                            sequence: tick as u16,
                            timestamp: tick.wrapping_mul(160),
                            ssrc: p.call * 2 + 1,
                        };
                        if let Some(n) = write_packet(&h, &payload, &mut out)
                            && phones[p.phone_sock]
                                .send_to(&out[..n], p.hotline_caller)
                                .is_ok()
                        {
                            stats.phone_sent.fetch_add(1, Ordering::Relaxed);
                        }
                        // The browser.
                        tag(&mut payload, p.call, 1, tick);
                        if let Some(m) = p.mid
                            && let Some(w) = p.rtc.writer(m)
                        {
                            let time = MediaTime::new(u64::from(tick) * 160, Frequency::EIGHT_KHZ);
                            if w.write(Pt::new_with_value(0), now, time, payload.to_vec())
                                .is_ok()
                            {
                                stats.browser_sent.fetch_add(1, Ordering::Relaxed);
                            }
                            drain(p, &browsers, &stats, &sent_at);
                        }
                    }
                    tick += 1;
                }
                next_tick = Some(start + Duration::from_millis(20) * tick);
            }
        }
        // str0m's timers.
        let now = Instant::now();
        for p in peers.iter_mut().filter(|p| !p.dead && now >= p.wake) {
            let _ = p.rtc.handle_input(Input::Timeout(now));
            drain(p, &browsers, &stats, &sent_at);
        }
        // After sending stops, listen a little longer for what is still on its way.
        if stopped.is_some_and(|t| t.elapsed() > Duration::from_millis(1500)) {
            break;
        }
        let now = Instant::now();
        let mut sleep = Duration::from_millis(2);
        if let Some(t) = next_tick {
            sleep = sleep.min(t.saturating_duration_since(now));
        }
        std::thread::sleep(sleep);
    }
}
