//! Media load harness: N bridged calls, RTP both ways at 50 packets/s from a
//! generator process on loopback, every call recorded to disk.
//!
//! ```text
//! cargo run --release -p hotline-media --example media_load -- \
//!     --calls 2000 --secs 20 [--dir /tmp/hotline-media-load] [--analyse]
//! ```
//!
//! The same binary is the generator when started with `--generator` (the
//! harness does that itself). Reported: CPU of the hotline process (from
//! /proc/self/stat, over the measuring window after a warm-up), RSS per call,
//! and packets lost inside hotline (sent by the phones but never relayed).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hotline_media::call::{CallConfig, LegParams};
use hotline_media::engine::{EngineConfig, MediaEngine};
use hotline_media::g711::Codec;
use hotline_media::rtp::{RtpHeader, RtpPacket, write_packet};

struct Args {
    calls: usize,
    secs: u64,
    warmup: u64,
    dir: std::path::PathBuf,
    analyse: bool,
    generator: bool,
    keep: bool,
    poll_ms: u64,
    shards: usize,
    record: bool,
    bare: bool,
}

fn args() -> Args {
    let mut a = Args {
        calls: 200,
        secs: 10,
        warmup: 3,
        dir: std::env::temp_dir().join("hotline-media-load"),
        analyse: false,
        generator: false,
        keep: false,
        poll_ms: 10,
        shards: 0,
        record: true,
        bare: false,
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
            "--analyse" => a.analyse = true,
            "--no-record" => a.record = false,
            "--bare" => a.bare = true,
            "--generator" => a.generator = true,
            "--keep" => a.keep = true,
            other => panic!("unknown argument {other}"),
        }
        i += 1;
    }
    a
}

fn cpu_secs() -> f64 {
    // Fields 14 and 15 of /proc/self/stat: utime and stime in clock ticks (100 Hz).
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |k: usize| f.get(k).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|x| x.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let a = args();
    if a.generator {
        generator(&a);
    } else if a.bare {
        #[cfg(target_os = "linux")]
        bare(&a);
        #[cfg(not(target_os = "linux"))]
        panic!("--bare uses recvmmsg and sendmmsg: Linux only");
    } else {
        hotline(&a);
    }
}

fn hotline(a: &Args) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        std::fs::create_dir_all(&a.dir).expect("record dir");
        let call_cfg = CallConfig {
            inactivity_timeout: Duration::from_secs(3600),
            ..CallConfig::default()
        };
        let eng = MediaEngine::new(EngineConfig {
            port_min: 20000,
            port_max: 39998,
            call: call_cfg,
            poll_interval: Duration::from_millis(a.poll_ms),
            shards: a.shards,
            ..EngineConfig::default()
        });
        let rss0 = rss_kib();
        let mut calls = Vec::new();
        let mut ports = Vec::new();
        for c in 0..a.calls {
            let la = eng.bind_leg().await.expect("bind");
            let lb = eng.bind_leg().await.expect("bind");
            ports.push((c, la.local_addr().port(), lb.local_addr().port()));
            let (h, events) = eng.spawn_call();
            let mut pa = LegParams::new(None, Codec::Pcmu);
            pa.analyse = a.analyse;
            let pb = LegParams::new(None, Codec::Pcmu);
            let x = h.add_leg(la, pa).await.expect("leg");
            let y = h.add_leg(lb, pb).await.expect("leg");
            h.bridge(x, y).expect("bridge");
            if a.record {
                h.start_recording(a.dir.join(format!("call-{c}.wav")), x, Some(y))
                    .await
                    .expect("record");
            }
            calls.push((h, events, x, y));
        }
        // Let the call tasks settle (first ticks, header writes).
        tokio::time::sleep(Duration::from_millis(200)).await;
        let rss1 = rss_kib();

        let (mut child, mut stdin, mut line_rx) = start_generator(a, &ports);
        // The phones' addresses, as SDP would give them.
        loop {
            match line_rx.recv().await {
                Some(l) if l == "ready" => break,
                Some(l) => {
                    if let Some((c, side, remote)) = phone_addr(&l) {
                        let (h, _, x, y) = &calls[c];
                        let leg = if side == 0 { *x } else { *y };
                        let mut p = LegParams::new(Some(remote), Codec::Pcmu);
                        p.analyse = a.analyse && side == 0;
                        h.update_leg(leg, p).expect("update");
                    }
                }
                None => panic!("generator died"),
            }
        }
        // Let the shards apply the updates (they poll commands every interval).
        tokio::time::sleep(Duration::from_millis(100)).await;
        writeln!(stdin, "go").expect("write go");
        stdin.flush().expect("flush");
        // Wait for the generator to report that it is sending.
        loop {
            match line_rx.recv().await {
                Some(l) if l == "sending" => break,
                Some(_) => {}
                None => panic!("generator died"),
            }
        }
        tokio::time::sleep(Duration::from_secs(a.warmup)).await;
        let q0 = totals(&calls).await.0;
        let (c0, t0) = (cpu_secs(), Instant::now());
        tokio::time::sleep(Duration::from_secs(a.secs)).await;
        let (c1, t1) = (cpu_secs(), Instant::now());
        let q1 = totals(&calls).await.0;
        let rx_pps = (q1 - q0) as f64 / (t1 - t0).as_secs_f64();
        let rss2 = rss_kib();
        let mut report = String::new();
        while let Some(l) = line_rx.recv().await {
            if l.starts_with("generator") {
                report = l;
                break;
            }
        }
        let _ = child.wait();
        assert!(!report.is_empty(), "the phones gave no report");
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
        let (rx, tx, send_err) = last;
        let our_ports: std::collections::HashSet<u16> =
            ports.iter().flat_map(|(_, p, q)| [*p, *q]).collect();
        let kernel_drops = socket_drops(&our_ports);
        let mut rec_secs = 0f64;
        for (h, _, _, _) in &calls {
            h.close().expect("close");
        }
        for (_, ev, _, _) in &mut calls {
            while let Some(e) = ev.recv().await {
                if let hotline_media::MediaEvent::RecordingStopped { seconds, .. } = e {
                    rec_secs += seconds;
                }
            }
        }
        let gen_sent = field(&report, "sent");
        let gen_recv = field(&report, "received");
        let gen_reord = field(&report, "reordered");
        let cores = (c1 - c0) / (t1 - t0).as_secs_f64();
        println!(
            "calls={} secs={} mode=engine analyse={} poll_ms={} rx_pps={:.0} nominal_rx_pps={} cpu_cores={:.3} \
             cores_at_nominal={:.3} pps_per_core={:.0} rss_per_call_kib={:.1} rss_total_mib={:.1} \
             phones_sent={} hotline_received={} hotline_relayed={} phones_received={} reordered={} \
             send_errors={} kernel_drops_on_hotline_sockets={} lost_inside_hotline={} recorded_secs={:.0}",
            a.calls,
            a.secs,
            a.analyse,
            a.poll_ms,
            rx_pps,
            a.calls * 100,
            cores,
            cores * (a.calls * 100) as f64 / rx_pps.max(1.0),
            rx_pps / cores.max(1e-9),
            (rss2.max(rss1) - rss0) as f64 / a.calls as f64,
            rss2 as f64 / 1024.0,
            gen_sent,
            rx,
            tx,
            gen_recv,
            gen_reord,
            send_err,
            kernel_drops,
            gen_sent.saturating_sub(tx),
            rec_secs,
        );
        if !a.keep {
            let _ = std::fs::remove_dir_all(&a.dir);
        }
    });
}

/// A phone's address as the generator reports it: `addr CALL SIDE IP:PORT`.
fn phone_addr(line: &str) -> Option<(usize, usize, SocketAddr)> {
    let v: Vec<&str> = line.split_whitespace().collect();
    let ["addr", c, side, addr] = v[..] else {
        return None;
    };
    Some((
        c.parse().expect("call"),
        side.parse().expect("side"),
        addr.parse().expect("addr"),
    ))
}

/// Starts the phones (this binary with `--generator`), tells them hotline's ports and returns
/// the child, its stdin and its stdout lines.
fn start_generator(
    a: &Args,
    ports: &[(usize, u16, u16)],
) -> (
    std::process::Child,
    std::process::ChildStdin,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let exe = std::env::current_exe().expect("exe");
    // The phones stand in for the network: they run at a lower priority than hotline so
    // that, on a small machine, the generator's own CPU hunger does not starve the system
    // under test.
    let gen_args = [
        "--generator".to_string(),
        "--secs".to_string(),
        (a.warmup + a.secs).to_string(),
    ];
    let mut child = Command::new("nice")
        .arg("-n")
        .arg("10")
        .arg(&exe)
        .args(&gen_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .or_else(|_| {
            Command::new(&exe)
                .args(&gen_args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
        })
        .expect("generator");
    let mut stdin = child.stdin.take().expect("stdin");
    for (c, p, q) in ports {
        writeln!(stdin, "{c} {p} {q}").expect("write ports");
    }
    writeln!(stdin, "ports-done").expect("write");
    stdin.flush().expect("flush");
    let stdout = child.stdout.take().expect("stdout");
    let (line_tx, line_rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line_tx.send(l).is_err() {
                break;
            }
        }
    });
    (child, stdin, line_rx)
}

/// The physical limit, for comparison only: the same phones, the same per-leg sockets and
/// the same interval, relayed by the least a relay can do. Each interval one thread asks
/// epoll which sockets have data, takes all of a socket's datagrams with one `recvmmsg` and
/// sends them on from the other leg's socket to that leg's phone with one `sendmmsg`. No
/// parsing, no jitter or loss accounting, no recording, no commands, no RTCP sockets, and
/// one thread (`--shards` does not apply).
#[cfg(target_os = "linux")]
fn bare(a: &Args) {
    use std::os::fd::AsRawFd;
    let rss0 = rss_kib();
    let mut socks = Vec::new();
    let mut ports = Vec::new();
    for c in 0..a.calls {
        let pair: Vec<std::net::UdpSocket> = (0..2)
            .map(|_| {
                let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
                s.set_nonblocking(true).expect("nonblocking");
                s
            })
            .collect();
        let port = |s: &std::net::UdpSocket| s.local_addr().expect("addr").port();
        ports.push((c, port(&pair[0]), port(&pair[1])));
        socks.extend(pair);
    }
    let rss1 = rss_kib();
    let (mut child, mut stdin, mut line_rx) = start_generator(a, &ports);
    // The phones' addresses, by socket: leg `2c + side`.
    let mut remote: Vec<Option<SocketAddr>> = vec![None; socks.len()];
    loop {
        match line_rx.blocking_recv() {
            Some(l) if l == "ready" => break,
            Some(l) => {
                if let Some((c, side, addr)) = phone_addr(&l) {
                    remote[2 * c + side] = Some(addr);
                }
            }
            None => panic!("generator died"),
        }
    }
    let remote: Vec<libc::sockaddr_in> = remote
        .iter()
        .map(|r| {
            let Some(SocketAddr::V4(v4)) = r else {
                panic!("a phone without an IPv4 address")
            };
            libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*v4.ip()).to_be(),
                },
                sin_zero: [0; 8],
            }
        })
        .collect();
    let running = Arc::new(AtomicBool::new(true));
    let relayed = Arc::new(AtomicU64::new(0));
    let received = Arc::new(AtomicU64::new(0));
    let send_errors = Arc::new(AtomicU64::new(0));
    let relay = {
        let (running, relayed, received, send_errors) = (
            running.clone(),
            relayed.clone(),
            received.clone(),
            send_errors.clone(),
        );
        // As the engine: 1 to 20 ms.
        let interval = Duration::from_millis(a.poll_ms.clamp(1, 20));
        // The thread owns the sockets, so their descriptors stay open while it uses them.
        let socks = std::mem::take(&mut socks);
        std::thread::spawn(move || {
            let fds: Vec<i32> = socks.iter().map(|s| s.as_raw_fd()).collect();
            // SAFETY: plain system calls on descriptors of `socks`, which this thread owns
            // and drops after the loop; every buffer handed to the kernel (`bufs`, the
            // `iovec`s, the `mmsghdr`s, `remote`) lives in this frame and is not moved or
            // reallocated while the kernel uses it.
            unsafe {
                let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
                assert!(ep >= 0, "epoll_create1");
                for (i, fd) in fds.iter().enumerate() {
                    let mut ev = libc::epoll_event {
                        events: libc::EPOLLIN as u32,
                        u64: i as u64,
                    };
                    assert_eq!(libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, *fd, &mut ev), 0);
                }
                const BATCH: usize = 32;
                let mut bufs = vec![[0u8; 2048]; BATCH];
                let mut iov: Vec<libc::iovec> = bufs
                    .iter_mut()
                    .map(|b| libc::iovec {
                        iov_base: b.as_mut_ptr().cast(),
                        iov_len: b.len(),
                    })
                    .collect();
                let mut msgs: Vec<libc::mmsghdr> = vec![std::mem::zeroed(); BATCH];
                let mut out_iov = iov.clone();
                let mut out: Vec<libc::mmsghdr> = vec![std::mem::zeroed(); BATCH];
                let mut ready: Vec<libc::epoll_event> = vec![std::mem::zeroed(); 4096];
                let mut next = Instant::now();
                while running.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        let n = libc::epoll_wait(ep, ready.as_mut_ptr(), ready.len() as i32, 0);
                        if n <= 0 {
                            break;
                        }
                        for ev in &ready[..n as usize] {
                            let i = ev.u64 as usize;
                            for (m, v) in msgs.iter_mut().zip(iov.iter_mut()) {
                                m.msg_hdr = std::mem::zeroed();
                                m.msg_hdr.msg_iov = v;
                                m.msg_hdr.msg_iovlen = 1;
                            }
                            let got = libc::recvmmsg(
                                fds[i],
                                msgs.as_mut_ptr(),
                                BATCH as u32,
                                libc::MSG_DONTWAIT,
                                std::ptr::null_mut(),
                            );
                            if got <= 0 {
                                continue;
                            }
                            let got = got as usize;
                            received.fetch_add(got as u64, Ordering::Relaxed);
                            let peer = i ^ 1;
                            let to = &remote[peer] as *const libc::sockaddr_in;
                            for k in 0..got {
                                out_iov[k].iov_base = iov[k].iov_base;
                                out_iov[k].iov_len = msgs[k].msg_len as usize;
                                out[k].msg_hdr = std::mem::zeroed();
                                out[k].msg_hdr.msg_iov = &mut out_iov[k];
                                out[k].msg_hdr.msg_iovlen = 1;
                                out[k].msg_hdr.msg_name = to as *mut libc::c_void;
                                out[k].msg_hdr.msg_namelen =
                                    std::mem::size_of::<libc::sockaddr_in>() as u32;
                            }
                            let sent = libc::sendmmsg(fds[peer], out.as_mut_ptr(), got as u32, 0);
                            if sent > 0 {
                                relayed.fetch_add(sent as u64, Ordering::Relaxed);
                            }
                            let lost = got as i64 - i64::from(sent.max(0));
                            if lost > 0 {
                                send_errors.fetch_add(lost as u64, Ordering::Relaxed);
                            }
                        }
                    }
                    next += interval;
                    match next.checked_duration_since(Instant::now()) {
                        Some(d) => std::thread::sleep(d),
                        None => next = Instant::now(),
                    }
                }
                libc::close(ep);
            }
            drop(socks);
        })
    };
    writeln!(stdin, "go").expect("write go");
    stdin.flush().expect("flush");
    loop {
        match line_rx.blocking_recv() {
            Some(l) if l == "sending" => break,
            Some(_) => {}
            None => panic!("generator died"),
        }
    }
    std::thread::sleep(Duration::from_secs(a.warmup));
    let q0 = received.load(Ordering::Relaxed);
    let (c0, t0) = (cpu_secs(), Instant::now());
    std::thread::sleep(Duration::from_secs(a.secs));
    let (c1, t1) = (cpu_secs(), Instant::now());
    let q1 = received.load(Ordering::Relaxed);
    let rx_pps = (q1 - q0) as f64 / (t1 - t0).as_secs_f64();
    let rss2 = rss_kib();
    let mut report = String::new();
    while let Some(l) = line_rx.blocking_recv() {
        if l.starts_with("generator") {
            report = l;
            break;
        }
    }
    let _ = child.wait();
    running.store(false, Ordering::Relaxed);
    relay.join().expect("relay thread");
    assert!(!report.is_empty(), "the phones gave no report");
    assert!(
        received.load(Ordering::Relaxed) > 0,
        "the relay received nothing"
    );
    let our_ports: std::collections::HashSet<u16> =
        ports.iter().flat_map(|(_, p, q)| [*p, *q]).collect();
    let kernel_drops = socket_drops(&our_ports);
    let (rx, tx) = (
        received.load(Ordering::Relaxed),
        relayed.load(Ordering::Relaxed),
    );
    let gen_sent = field(&report, "sent");
    let cores = (c1 - c0) / (t1 - t0).as_secs_f64();
    println!(
        "calls={} secs={} mode=bare poll_ms={} rx_pps={:.0} nominal_rx_pps={} cpu_cores={:.3} \
         cores_at_nominal={:.3} pps_per_core={:.0} rss_per_call_kib={:.1} rss_total_mib={:.1} \
         phones_sent={} hotline_received={} hotline_relayed={} phones_received={} reordered={} \
         send_errors={} kernel_drops_on_hotline_sockets={} lost_inside_hotline={}",
        a.calls,
        a.secs,
        a.poll_ms,
        rx_pps,
        a.calls * 100,
        cores,
        cores * (a.calls * 100) as f64 / rx_pps.max(1.0),
        rx_pps / cores.max(1e-9),
        (rss2.max(rss1) - rss0) as f64 / a.calls as f64,
        rss2 as f64 / 1024.0,
        gen_sent,
        rx,
        tx,
        field(&report, "received"),
        field(&report, "reordered"),
        send_errors.load(Ordering::Relaxed),
        kernel_drops,
        gen_sent.saturating_sub(tx),
    );
}

type Calls = Vec<(
    hotline_media::CallHandle,
    tokio::sync::mpsc::UnboundedReceiver<hotline_media::MediaEvent>,
    usize,
    usize,
)>;

/// Quality of every leg, asked of all calls at once: (received, sent, send errors).
async fn totals(calls: &Calls) -> (u64, u64, u64) {
    let mut asks = Vec::new();
    for (h, _, x, y) in calls {
        for leg in [*x, *y] {
            let h = h.clone();
            let first = leg == *x;
            asks.push(tokio::spawn(async move { (h.quality(leg).await, first) }));
        }
    }
    let (mut rx, mut tx, mut err) = (0, 0, 0);
    for a in asks {
        if let Ok((Ok(Some(q)), first)) = a.await {
            rx += q.packets_received;
            tx += q.packets_sent;
            if first {
                err += q.send_errors;
            }
        }
    }
    (rx, tx, err)
}

/// Datagrams the kernel dropped on our sockets because their receive
/// buffers were full (the `drops` column of /proc/net/udp).
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

/// The phones: one socket per 25 phones, one packet per phone every 20 ms,
/// one thread sending and one thread polling the sockets (so the hotline
/// side never pays for waking a blocked reader).
fn generator(a: &Args) {
    let mut legs: Vec<(u32, u8, u16)> = Vec::new();
    let mut lines = std::io::stdin().lock().lines().map_while(Result::ok);
    for l in lines.by_ref() {
        if l == "ports-done" {
            break;
        }
        let v: Vec<u32> = l
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if let [c, p, q] = v[..] {
            legs.push((c, 0, p as u16));
            legs.push((c, 1, q as u16));
        }
    }
    const GROUP: usize = 25;
    let mut sockets = Vec::new();
    for group in legs.chunks(GROUP) {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let _ = socket2::SockRef::from(&s).set_recv_buffer_size(4 << 20);
        let _ = socket2::SockRef::from(&s).set_send_buffer_size(4 << 20);
        s.set_nonblocking(true).expect("nonblocking");
        let addr = s.local_addr().expect("addr");
        for (c, side, _) in group {
            println!("addr {c} {side} {addr}");
        }
        sockets.push((s, group.to_vec()));
    }
    println!("ready");
    let _ = std::io::stdout().flush();
    for l in lines.by_ref() {
        if l == "go" {
            break;
        }
    }
    let running = Arc::new(AtomicBool::new(true));
    let sent = Arc::new(AtomicU64::new(0));
    let received = Arc::new(AtomicU64::new(0));
    let reordered = Arc::new(AtomicU64::new(0));
    let readers: Vec<std::net::UdpSocket> = sockets
        .iter()
        .map(|(s, _)| s.try_clone().expect("clone"))
        .collect();
    let receiver = {
        let (running, received, reordered) = (running.clone(), received.clone(), reordered.clone());
        std::thread::spawn(move || {
            let mut last: HashMap<(u32, u8), u32> = HashMap::new();
            let mut buf = [0u8; 1500];
            let mut idle_rounds = 0;
            loop {
                let mut got_any = false;
                for r in &readers {
                    while let Ok((n, _)) = r.recv_from(&mut buf) {
                        got_any = true;
                        let Ok(p) = RtpPacket::parse(&buf[..n]) else {
                            continue;
                        };
                        if p.payload.len() < 9 || p.payload[8] != 0xa5 {
                            continue; // silence before the bridge, not ours
                        }
                        let call = u32::from_be_bytes([
                            p.payload[0],
                            p.payload[1],
                            p.payload[2],
                            p.payload[3],
                        ]);
                        let side = p.payload[4];
                        let idx = u32::from_be_bytes([0, p.payload[5], p.payload[6], p.payload[7]]);
                        received.fetch_add(1, Ordering::Relaxed);
                        let e = last.entry((call, side)).or_insert(0);
                        if idx < *e {
                            reordered.fetch_add(1, Ordering::Relaxed);
                        }
                        *e = idx;
                    }
                }
                if !running.load(Ordering::Relaxed) && !got_any {
                    idle_rounds += 1;
                    if idle_rounds > 500 {
                        break;
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    println!("sending");
    let _ = std::io::stdout().flush();
    let total = Duration::from_secs(a.secs);
    let start = Instant::now();
    // Two sender threads, each driving half the sockets on the same 20 ms grid.
    let half = sockets.len().div_ceil(2);
    let mut rest = sockets;
    let second = rest.split_off(half.min(rest.len()));
    let mut threads = Vec::new();
    for part in [rest, second] {
        let sent = sent.clone();
        threads.push(std::thread::spawn(move || {
            let mut buf = [0u8; 200];
            let mut payload = [0x55u8; 160];
            let mut tick: u32 = 0;
            while start.elapsed() < total {
                for (s, group) in &part {
                    for &(call, side, port) in group {
                        payload[0..4].copy_from_slice(&call.to_be_bytes());
                        payload[4] = side;
                        payload[5..8].copy_from_slice(&tick.to_be_bytes()[1..4]);
                        payload[8] = 0xa5;
                        let h = RtpHeader {
                            marker: tick == 0,
                            payload_type: 0,
                            sequence: tick as u16,
                            timestamp: tick.wrapping_mul(160),
                            ssrc: call * 2 + u32::from(side) + 1,
                        };
                        if let Some(n) = write_packet(&h, &payload, &mut buf) {
                            let to = SocketAddr::from(([127, 0, 0, 1], port));
                            if s.send_to(&buf[..n], to).is_ok() {
                                sent.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                tick += 1;
                let next = start + Duration::from_millis(20) * tick;
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    running.store(false, Ordering::Relaxed);
    let _ = receiver.join();
    println!(
        "generator sent={} received={} reordered={}",
        sent.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed),
        reordered.load(Ordering::Relaxed)
    );
}
