//! Shared pieces of the end-to-end tests: the real `hotline` binary on free loopback ports,
//! sipp runs against it, and a plain HTTP/1.1 client.
#![allow(dead_code)]

pub mod netns;
pub mod sipproxy;
pub mod tonepeer;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct Hotline {
    child: Child,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    pub dir: tempfile::TempDir,
    /// Started as the standby of a pair (it said `hotline standby`, not `hotline ready`).
    pub standby: bool,
    /// The `hotline ready` / `hotline standby` lines said after the first.
    lines: mpsc::Receiver<String>,
}

impl Hotline {
    /// `hotline demo` on free ports, returned once it has said it is ready.
    pub fn demo() -> Hotline {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        Hotline::spawn(
            &[
                "demo",
                "--data",
                data.to_str().unwrap(),
                "--sip",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
            ],
            dir,
        )
    }

    /// `hotline demo` on free ports with its data in `data`.
    pub fn demo_in(data: &Path) -> Hotline {
        let dir = tempfile::tempdir().unwrap();
        Hotline::spawn(
            &[
                "demo",
                "--data",
                data.to_str().unwrap(),
                "--sip",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
            ],
            dir,
        )
    }

    /// `hotline serve` with the demo configuration changed by `edit`.
    pub fn serve_with(edit: impl Fn(String) -> String) -> Hotline {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        Hotline::serve_in(dir, &data, edit)
    }

    /// [`Hotline::serve_with`] with its data in `data` (e.g. customers imported before).
    pub fn serve_with_in(data: &Path, edit: impl Fn(String) -> String) -> Hotline {
        Hotline::serve_in(tempfile::tempdir().unwrap(), data, edit)
    }

    fn serve_in(dir: tempfile::TempDir, data: &Path, edit: impl Fn(String) -> String) -> Hotline {
        Hotline::serve_env(dir, data, edit, &[])
    }

    /// [`Hotline::serve_with`] with extra environment variables (test hooks).
    pub fn serve_with_env(edit: impl Fn(String) -> String, env: &[(&str, &Path)]) -> Hotline {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        Hotline::serve_env(dir, &data, edit, env)
    }

    /// [`Hotline::serve_with_in`] with SIP on `sip` (a node started again where a proxy in
    /// front expects it).
    pub fn serve_with_in_at(
        data: &Path,
        sip: SocketAddr,
        edit: impl Fn(String) -> String,
    ) -> Hotline {
        Hotline::serve_on(tempfile::tempdir().unwrap(), data, edit, &[], sip)
    }

    fn serve_env(
        dir: tempfile::TempDir,
        data: &Path,
        edit: impl Fn(String) -> String,
        env: &[(&str, &Path)],
    ) -> Hotline {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        Hotline::serve_on(dir, data, edit, env, any)
    }

    fn serve_on(
        dir: tempfile::TempDir,
        data: &Path,
        edit: impl Fn(String) -> String,
        env: &[(&str, &Path)],
        sip: SocketAddr,
    ) -> Hotline {
        let cfg = dir.path().join("centre.toml");
        std::fs::write(&cfg, edit(demo_toml())).unwrap();
        let sip = sip.to_string();
        Hotline::spawn_env(
            &[
                "serve",
                "--config",
                cfg.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
                "--sip",
                &sip,
                "--http",
                "127.0.0.1:0",
            ],
            dir,
            env,
        )
    }

    fn spawn(args: &[&str], dir: tempfile::TempDir) -> Hotline {
        Hotline::spawn_env(args, dir, &[])
    }

    fn spawn_env(args: &[&str], dir: tempfile::TempDir, env: &[(&str, &Path)]) -> Hotline {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotline"));
        cmd.args(args).envs(env.iter().map(|(k, v)| (*k, *v)));
        Hotline::spawn_cmd(cmd, dir)
    }

    /// `hotline serve` of the configuration `centre` with its data in `data`, inside network
    /// namespace `netns`, SIP on `sip` and HTTP on `http` (addresses of that namespace).
    pub fn serve_in_ns(
        netns: &str,
        centre: &str,
        data: &Path,
        sip: SocketAddr,
        http: SocketAddr,
    ) -> Hotline {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("centre.toml");
        std::fs::write(&cfg, centre).unwrap();
        let mut cmd = Command::new("ip");
        // `ip netns exec` execs hotline itself: the child is hotline.
        cmd.args([
            "netns",
            "exec",
            netns,
            env!("CARGO_BIN_EXE_hotline"),
            "serve",
        ])
        .arg("--config")
        .arg(&cfg)
        .arg("--data")
        .arg(data)
        .args(["--sip", &sip.to_string(), "--http", &http.to_string()]);
        Hotline::spawn_cmd(cmd, dir)
    }

    fn spawn_cmd(mut cmd: Command, dir: tempfile::TempDir) -> Hotline {
        let mut child = cmd
            .env("HOTLINE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("hotline ready") || line.starts_with("hotline standby") {
                    let _ = tx.send(line);
                }
            }
        });
        // The ready line is the event we wait for; the timeout only bounds a broken start.
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("hotline did not become ready");
        let field = |k: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .unwrap()
                .parse()
                .unwrap()
        };
        Hotline {
            sip: field("sip="),
            http: field("http="),
            child,
            dir,
            standby: line.starts_with("hotline standby"),
            lines: rx,
        }
    }

    /// A standby's `hotline ready` line, once it has taken over (within `limit`): `true` if it
    /// said it.
    pub fn wait_ready(&mut self, limit: Duration) -> bool {
        match self.lines.recv_timeout(limit) {
            Ok(line) if line.starts_with("hotline ready") => {
                self.standby = false;
                true
            }
            _ => false,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as `kill -9`: no chance to flush or close anything.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends a signal (`TERM`, `INT`) to the server.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// Waits up to `limit` for the server to exit: its exit status, or `None` if it still runs.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if std::time::Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs a sipp scenario from tests/sipp against this server; returns (success, errors).
    pub fn sipp(&self, scenario: &str, args: &[&str]) -> (bool, String) {
        sipp_at(self.sip, scenario, args)
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http(self.http, "GET", path, None, None)
    }
}

impl Drop for Hotline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn demo_toml() -> String {
    std::fs::read_to_string(repo().join("examples/demo.toml")).unwrap()
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A port free for both UDP and TCP on `ip` (sipp binds both for `-t t1`), outside the
/// kernel's ephemeral range so no other socket is given it before the test's peer binds it.
pub fn free_port(ip: &str) -> u16 {
    hotline_testports::port(ip)
}

pub fn sipp_at(target: SocketAddr, scenario: &str, args: &[&str]) -> (bool, String) {
    sipp_at_env(target, scenario, args, &[])
}

/// [`sipp_at`] with environment variables for sipp (`TZ=UTC` for its message trace).
pub fn sipp_at_env(
    target: SocketAddr,
    scenario: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (bool, String) {
    let work = tempfile::tempdir().unwrap();
    let local_ip = args
        .windows(2)
        .find(|w| w[0] == "-i")
        .map_or("127.0.0.1", |w| w[1]);
    let port = free_port(local_ip).to_string();
    let scenario_path = repo().join("tests/sipp").join(scenario);
    let mut cmd = Command::new("sipp");
    cmd.current_dir(work.path())
        .envs(env.iter().copied())
        .arg("-sf")
        .arg(&scenario_path)
        .args([
            "-p",
            &port,
            "-nostdin",
            "-trace_err",
            "-timeout",
            "20s",
            "-timeout_error",
        ])
        .args(["-max_recv_loops", "1000"])
        .args(args)
        .arg(target.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out = cmd
        .output()
        .expect("sipp must be installed (Debian package sip-tester)");
    let mut errors = String::from_utf8_lossy(&out.stderr).into_owned();
    for entry in std::fs::read_dir(work.path()).unwrap().flatten() {
        if entry.file_name().to_string_lossy().ends_with("errors.log") {
            errors.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    (out.status.success(), errors)
}

/// A sipp phone at 127.0.0.1:`port` that answers one call sent to `target` with `scenario`
/// (a file of tests/sipp or a path), echoing its audio, on a thread of its own: whether it
/// succeeded, and its errors.
pub fn phone_answers_once(
    target: SocketAddr,
    scenario: &str,
    port: &str,
    timeout: &str,
) -> std::thread::JoinHandle<(bool, String)> {
    phone_answers(target, scenario, port, 1, timeout)
}

/// [`phone_answers_once`] for `calls` calls.
pub fn phone_answers(
    target: SocketAddr,
    scenario: &str,
    port: &str,
    calls: usize,
    timeout: &str,
) -> std::thread::JoinHandle<(bool, String)> {
    let (scenario, port, timeout) = (scenario.to_string(), port.to_string(), timeout.to_string());
    std::thread::spawn(move || {
        sipp_at(
            target,
            &scenario,
            &[
                "-p",
                &port,
                "-i",
                "127.0.0.1",
                "-rtp_echo",
                "-m",
                &calls.to_string(),
                "-timeout",
                &timeout,
            ],
        )
    })
}

/// One HTTP/1.1 request; returns status and body.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    http_typed(addr, method, path, token, "application/json", body)
}

/// [`http`] with a body of type `content_type` (a CSV file, ...).
pub fn http_typed(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        req.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    // Chunked bodies: good enough to search in; JSON bodies from axum carry Content-Length.
    (status, body)
}

/// Logs in through the API; the bearer token.
pub fn login(h: &Hotline, user: &str, password: &str) -> String {
    login_at(h.http, user, password)
}

/// [`login`] at the HTTP address `addr`.
pub fn login_at(addr: SocketAddr, user: &str, password: &str) -> String {
    let (status, body) = http(
        addr,
        "POST",
        "/api/v1/login",
        None,
        Some(&format!(
            "{{\"user\":\"{user}\",\"password\":\"{password}\"}}"
        )),
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["token"].as_str().unwrap().to_string()
}

/// The event stream (`/api/v1/events`) read as a raw WebSocket client.
pub struct Ws {
    stream: std::io::BufReader<std::net::TcpStream>,
}

/// Opens the event stream as `token`; `Err` holds the status line when it is refused.
pub fn open_events(h: &Hotline, token: &str) -> Result<Ws, String> {
    open_events_at(h.http, token)
}

/// [`open_events`] at the HTTP address `addr` (a node's, or a load balancer's in front).
pub fn open_events_at(addr: SocketAddr, token: &str) -> Result<Ws, String> {
    WsClient::open(addr, &format!("/api/v1/events?access_token={token}")).map(|c| c.ws)
}

/// The next event (text frame) of the stream, waiting for it.
pub fn next_event(ws: &mut Ws) -> serde_json::Value {
    try_next_event(ws).expect("an event")
}

/// [`next_event`], or `None` once the stream is closed or silent for the read timeout.
pub fn try_next_event(ws: &mut Ws) -> Option<serde_json::Value> {
    use std::io::Read;
    loop {
        let mut head = [0u8; 2];
        ws.stream.read_exact(&mut head).ok()?;
        let mut len = u64::from(head[1] & 0x7f);
        if len == 126 {
            let mut b = [0u8; 2];
            ws.stream.read_exact(&mut b).ok()?;
            len = u64::from(u16::from_be_bytes(b));
        } else if len == 127 {
            let mut b = [0u8; 8];
            ws.stream.read_exact(&mut b).ok()?;
            len = u64::from_be_bytes(b);
        }
        let mut payload = vec![0u8; len as usize];
        ws.stream.read_exact(&mut payload).ok()?;
        if head[0] & 0x0f == 1 {
            return Some(serde_json::from_slice(&payload).unwrap());
        }
    }
}

/// 8 kHz mono 16-bit PCM of a sine tone (amplitude 8000) lasting `secs`.
pub fn sine(hz: f64, secs: f64) -> Vec<i16> {
    (0..(8000.0 * secs) as usize)
        .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin()) as i16)
        .collect()
}

/// A stereo recording's channel count and the RMS level of its left (caller) and right
/// (agent) channels.
pub fn wav_channels_rms(path: &str) -> (u16, f64, f64) {
    let data = std::fs::read(path).unwrap();
    assert_eq!(&data[0..4], b"RIFF");
    let channels = u16::from_le_bytes([data[22], data[23]]);
    let mut off = 12;
    let mut pcm: &[u8] = &[];
    while off + 8 <= data.len() {
        let len = u32::from_le_bytes([data[off + 4], data[off + 5], data[off + 6], data[off + 7]])
            as usize;
        if &data[off..off + 4] == b"data" {
            pcm = &data[off + 8..(off + 8 + len).min(data.len())];
            break;
        }
        off += 8 + len;
    }
    let samples: Vec<f64> = pcm
        .chunks_exact(2)
        .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])))
        .collect();
    let rms = |ch: usize| {
        let v: Vec<f64> = samples.iter().skip(ch).step_by(2).copied().collect();
        (v.iter().map(|x| x * x).sum::<f64>() / v.len().max(1) as f64).sqrt()
    };
    (channels, rms(0), rms(1))
}

/// A WAV file of 8 kHz mono 16-bit PCM.
pub fn write_wav(path: &Path, pcm: &[i16]) {
    let len = (pcm.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + pcm.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&len.to_le_bytes());
    for s in pcm {
        out.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, out).unwrap();
}

/// A pcap of G.711 RTP (payload type 0 for µ-law, 8 for A-law) carrying `pcm` at 20 ms a
/// packet, as sipp's `play_pcap_audio` plays it.
pub fn rtp_pcap(path: &Path, codec: hotline_media::Codec, pcm: &[i16]) {
    let pt = match codec {
        hotline_media::Codec::Pcma => 8,
        _ => 0,
    };
    let mut out = Vec::new();
    // Global header: magic, v2.4, zone, sigfigs, snaplen, Ethernet.
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (n, frame_pcm) in pcm.chunks_exact(160).enumerate() {
        let n = n as u32;
        let mut payload = vec![0u8; 160];
        codec.encode_slice(frame_pcm, &mut payload);
        let mut rtp = vec![0x80, pt];
        rtp.extend_from_slice(&(n as u16).to_be_bytes());
        rtp.extend_from_slice(&(n * 160).to_be_bytes());
        rtp.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        rtp.extend_from_slice(&payload);
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&[0x45, 0, (ip_len >> 8) as u8, ip_len as u8]);
        frame.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
        frame.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        frame.extend_from_slice(&6000u16.to_be_bytes());
        frame.extend_from_slice(&6002u16.to_be_bytes());
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&rtp);
        let usec = n * 20_000;
        out.extend_from_slice(&(usec / 1_000_000).to_le_bytes());
        out.extend_from_slice(&(usec % 1_000_000).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).unwrap();
}

/// Registers every extension in `exts` from the same port, so that one sipp phone there
/// answers for all of them.
pub fn register_all(h: &Hotline, exts: &[&str]) -> String {
    let port = free_port("127.0.0.1").to_string();
    for ext in exts {
        let pw = format!("pass{ext}");
        let (ok, log) = h.sipp(
            "register.xml",
            &["-p", &port, "-s", ext, "-au", ext, "-ap", &pw, "-m", "1"],
        );
        assert!(ok, "{log}");
    }
    port
}

/// Everything the supervisors' event stream delivers, collected by a thread.
pub struct Feed(std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>);

impl Feed {
    pub fn open(h: &Hotline) -> Feed {
        Feed::open_at(h.http)
    }

    /// [`Feed::open`] at the HTTP address `addr`.
    pub fn open_at(addr: SocketAddr) -> Feed {
        let sup = login_at(addr, "supervisor", "supervisor");
        let mut ws = open_events_at(addr, &sup).unwrap();
        let all = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = all.clone();
        // Ends when the server is gone or silent for the stream's read timeout.
        std::thread::spawn(move || {
            while let Some(e) = try_next_event(&mut ws) {
                sink.lock().unwrap().push(e);
            }
        });
        Feed(all)
    }

    pub fn snapshot(&self) -> Vec<serde_json::Value> {
        self.0.lock().unwrap().clone()
    }

    /// Polls until `cond` holds on what arrived, or panics after `limit`.
    pub fn wait(
        &self,
        limit: Duration,
        what: &str,
        cond: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let end = std::time::Instant::now() + limit;
        loop {
            let all = self.snapshot();
            if cond(&all) {
                return all;
            }
            assert!(
                std::time::Instant::now() < end,
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// An event's `kind.type`.
pub fn kind(e: &serde_json::Value) -> &str {
    e["kind"]["type"].as_str().unwrap_or_default()
}

/// How many of `events` are of type `k`.
pub fn count(events: &[serde_json::Value], k: &str) -> usize {
    events.iter().filter(|e| kind(e) == k).count()
}

/// Every agent of the demo takes accounts calls, nobody has wrap-up time (a configuration
/// edit for [`Hotline::serve_with`]).
pub fn all_take_accounts(t: String) -> String {
    t.lines()
        .map(|l| {
            if l.starts_with("skills = {") && l.contains("general = ") && !l.contains("accounts") {
                l.replacen("skills = {", "skills = { accounts = 5,", 1)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace("wrap_up_seconds = 30", "wrap_up_seconds = 0")
}

/// Polls `f` until it returns `Some`, or panics after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The demo agent `ext` (password `pass{ext}`) logs in and goes available.
pub fn available(h: &Hotline, ext: &str) {
    available_as(h, ext, &format!("pass{ext}"));
}

/// Agent `ext` logs in as the user `agent{ext}` with `password` and goes available.
pub fn available_as(h: &Hotline, ext: &str, password: &str) {
    let token = login(h, &format!("agent{ext}"), password);
    let (status, body) = http(
        h.http,
        "POST",
        &format!("/api/v1/agents/{ext}/state"),
        Some(&token),
        Some(r#"{"state":"available"}"#),
    );
    assert_eq!(status, 200, "{body}");
}

/// A graceful stop (SIGTERM) that must end with success within a minute.
pub fn stop(mut h: Hotline) {
    h.signal("TERM");
    let status = h.wait_exit(Duration::from_secs(60)).expect("hotline exits");
    assert!(status.success(), "exit status {status:?}");
}

/// What a node's store keeps of `ext`'s registration (read-only, beside the running node):
/// `None` while it has no row, else the row's Path (`Some(None)` without one).
pub fn kept_registration(db: &Path, ext: &str) -> Option<Option<String>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::ConnectOptions;
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .read_only(true);
        let mut conn = opts.connect().await.ok()?;
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT path FROM registrations WHERE extension = ?",
        )
        .bind(ext)
        .fetch_optional(&mut conn)
        .await
        .ok()
        .flatten()
    })
}

/// A scenario from tests/sipp with text replaced, written beside the server's files.
pub fn scenario_with(h: &Hotline, name: &str, edits: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(repo().join("tests/sipp").join(name)).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{name} has no {from}");
        text = text.replace(from, to);
    }
    let path = h.dir.path().join(format!("edited-{name}"));
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// A figure of `/metrics` (a line `NAME VALUE`).
pub fn metric(h: &Hotline, name: &str) -> f64 {
    let (status, text) = h.get("/metrics");
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// A WebSocket client that sends as well as reads (a chat widget, an agent's live feed).
pub struct WsClient {
    ws: Ws,
}

impl WsClient {
    /// Opens `path` (with its query) at `addr`; `Err` holds the status line when refused.
    pub fn open(addr: SocketAddr, path: &str) -> Result<WsClient, String> {
        use std::io::{BufRead, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
        let mut stream = std::io::BufReader::new(s);
        let mut status = String::new();
        stream.read_line(&mut status).unwrap();
        loop {
            let mut line = String::new();
            stream.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        if status.contains(" 101 ") {
            Ok(WsClient { ws: Ws { stream } })
        } else {
            Err(status)
        }
    }

    /// Sends one JSON text frame (masked, as a client must).
    pub fn send(&mut self, v: &serde_json::Value) {
        use std::io::Write;
        let payload = v.to_string().into_bytes();
        let mask = [0x1f, 0x2e, 0x3d, 0x4c];
        let mut frame = vec![0x81u8];
        let n = payload.len();
        if n < 126 {
            frame.push(0x80 | n as u8);
        } else if n < 65536 {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.ws.stream.get_mut().write_all(&frame).unwrap();
    }

    /// The next JSON message, or `None` once the socket is closed or silent for 30 s.
    pub fn recv(&mut self) -> Option<serde_json::Value> {
        try_next_event(&mut self.ws)
    }

    /// Reads until a message `pick` takes (panics if the socket closes first); the
    /// messages passed over are returned beside it.
    pub fn until(
        &mut self,
        what: &str,
        pick: impl Fn(&serde_json::Value) -> bool,
    ) -> (serde_json::Value, Vec<serde_json::Value>) {
        let mut passed = Vec::new();
        loop {
            let v = self
                .recv()
                .unwrap_or_else(|| panic!("closed before {what}; got {passed:?}"));
            if pick(&v) {
                return (v, passed);
            }
            passed.push(v);
        }
    }
}

/// An API call as `token` with an optional JSON body: the status and the JSON answer (null
/// when it is none).
pub fn api(
    h: &Hotline,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let text = body.map(|b| b.to_string());
    let (status, answer) = http(h.http, method, path, Some(token), text.as_deref());
    (
        status,
        serde_json::from_str(&answer).unwrap_or(serde_json::Value::Null),
    )
}

/// Imports customers from `csv` into the data directory `data` with the binary's
/// `import-customers`, which must succeed.
pub fn import_customers_into(data: &Path, csv: &str) {
    std::fs::create_dir_all(data).unwrap();
    let file = data.with_extension("csv");
    std::fs::write(&file, csv).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["import-customers", file.to_str().unwrap(), "--data"])
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}
