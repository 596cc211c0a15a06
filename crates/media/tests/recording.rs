//! Recording: the right signals on the right channels, wall-time alignment
//! across gaps and pauses, and a file cut by SIGKILL made readable by repair.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use hotline_media::call::{CallConfig, CallMedia, LegId, LegParams, MediaEvent};
use hotline_media::g711::Codec;
use hotline_media::recorder::repair;
use hotline_media::rtp::{RtpHeader, write_packet};

struct Phone {
    addr: SocketAddr,
    codec: Codec,
    pt: u8,
    ssrc: u32,
    seq: u16,
    ts: u32,
    freq: f32,
    phase: usize,
}

impl Phone {
    fn new(port: u16, codec: Codec, freq: f32) -> Self {
        Phone {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            codec,
            pt: codec.static_payload_type(),
            ssrc: u32::from(port),
            seq: 1,
            ts: 0,
            freq,
            phase: 0,
        }
    }

    /// The next 20 ms packet of its tone.
    fn packet(&mut self) -> Vec<u8> {
        let pcm = sine(self.freq, 0.3, 160, self.phase);
        self.phase += 160;
        let mut payload = [0u8; 160];
        self.codec.encode_slice(&pcm, &mut payload);
        let h = RtpHeader {
            marker: false,
            payload_type: self.pt,
            sequence: self.seq,
            timestamp: self.ts,
            ssrc: self.ssrc,
        };
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(160);
        let mut buf = [0u8; 200];
        let n = write_packet(&h, &payload, &mut buf).unwrap();
        buf[..n].to_vec()
    }

    /// Skips 20 ms (a lost packet or a silent period).
    fn skip(&mut self) {
        self.phase += 160;
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(160);
    }
}

fn stereo(path: &Path) -> (Vec<i16>, Vec<i16>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let s = r.spec();
    assert_eq!(
        (s.channels, s.sample_rate, s.bits_per_sample),
        (2, 8000, 16)
    );
    let all: Vec<i16> = r.samples::<i16>().map(|x| x.unwrap()).collect();
    let l = all.iter().step_by(2).copied().collect();
    let rt = all.iter().skip(1).step_by(2).copied().collect();
    (l, rt)
}

fn setup(t0: Instant) -> (CallMedia, LegId, LegId, Phone, Phone) {
    let mut call = CallMedia::new(CallConfig::default(), t0, 9);
    let caller = Phone::new(40010, Codec::Pcmu, 440.0);
    let agent = Phone::new(40012, Codec::Pcma, 1000.0);
    let c = call.add_leg(LegParams::new(Some(caller.addr), Codec::Pcmu), t0);
    let a = call.add_leg(LegParams::new(Some(agent.addr), Codec::Pcma), t0);
    call.bridge(c, a);
    (call, c, a, caller, agent)
}

#[test]
fn caller_left_agent_right() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("call.wav");
    let t0 = Instant::now();
    let (mut call, c, a, mut cp, mut ap) = setup(t0);
    let mut out = Captured::default();
    call.start_recording(&path, c, Some(a)).unwrap();
    for i in 1..=100u32 {
        let t = t0 + Duration::from_millis(20 * u64::from(i));
        call.handle_datagram(c, cp.addr, &cp.packet(), t, &mut out);
        call.handle_datagram(a, ap.addr, &ap.packet(), t, &mut out);
        call.tick(t, &mut out);
    }
    call.stop_recording();
    assert!(matches!(
        call.poll_event(),
        Some(MediaEvent::RecordingStopped { .. })
    ));
    let (l, r) = stereo(&path);
    assert_eq!(l.len(), 100 * 160, "one frame per 20 ms");
    let mid = 4000..12000;
    let (l440, l1k) = (
        tone_power(&l[mid.clone()], 440.0),
        tone_power(&l[mid.clone()], 1000.0),
    );
    let (r440, r1k) = (
        tone_power(&r[mid.clone()], 440.0),
        tone_power(&r[mid], 1000.0),
    );
    assert!(l440 > 0.05 && l440 > 1000.0 * l1k, "left {l440} {l1k}");
    assert!(r1k > 0.05 && r1k > 1000.0 * r440, "right {r440} {r1k}");
    // The relay toward each phone carried the other's audio, transcoded.
    assert!(out.sent.iter().any(|(leg, _, _)| *leg == a));
}

fn first_loud(x: &[i16], from: usize) -> Option<usize> {
    x[from..]
        .iter()
        .position(|s| s.unsigned_abs() > 3000)
        .map(|p| p + from)
}

#[test]
fn aligned_to_wall_time_across_gaps_and_pauses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gaps.wav");
    let t0 = Instant::now();
    let (mut call, c, a, mut cp, mut ap) = setup(t0);
    let mut out = Captured::default();
    call.start_recording(&path, c, Some(a)).unwrap();
    // 0–1 s both talk; 1–2 s the caller is silent (no packets: hold, mute, loss);
    // 2–3 s both talk; 3–3.5 s paused; 3.5–4 s both talk.
    for i in 1..=200u32 {
        let t = t0 + Duration::from_millis(20 * u64::from(i));
        if (50..100).contains(&i) {
            cp.skip();
        } else {
            call.handle_datagram(c, cp.addr, &cp.packet(), t, &mut out);
        }
        call.handle_datagram(a, ap.addr, &ap.packet(), t, &mut out);
        if i == 150 {
            call.pause_recording(true);
        }
        if i == 175 {
            call.pause_recording(false);
        }
        call.tick(t, &mut out);
    }
    call.stop_recording();
    let (l, r) = stereo(&path);
    assert_eq!(l.len(), 200 * 160);
    // Caller silence in the gap, a little after 1 s (playout depth) until about 2 s.
    let gap = &l[8800..16000];
    assert!(
        gap.iter().all(|s| *s == 0),
        "caller gap recorded as silence"
    );
    // The caller's audio resumes where wall time says: the packet sent at
    // 2.0 s (timestamp 15840, the recording starting at the first 20 ms tick)
    // lands 3 playout frames (480 samples) later, give or take a frame.
    let resume = first_loud(&l, 9000).unwrap();
    assert!(
        (16320 - 160..=16320 + 160).contains(&resume),
        "resumes at {resume}"
    );
    // Agent unaffected by the caller's gap.
    assert!(tone_power(&r[9000..15000], 1000.0) > 0.05);
    // Paused: both channels silent for 0.5 s (ticks 150..175 write frames 149..174).
    assert!(l[149 * 160..174 * 160].iter().all(|s| *s == 0));
    assert!(r[149 * 160..174 * 160].iter().all(|s| *s == 0));
    assert!(
        tone_power(&r[176 * 160..199 * 160], 1000.0) > 0.05,
        "resumed"
    );
}

const CHILD_ENV: &str = "HOTLINE_MEDIA_RECORDER_CHILD";

/// Entry point of the child process in `survives_sigkill`: records in real
/// time until killed. Does nothing in a normal test run.
#[test]
fn recorder_child_process() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let t0 = Instant::now();
    let cfg = CallConfig {
        record_flush_ms: 200,
        ..CallConfig::default()
    };
    let mut call = CallMedia::new(cfg, t0, 3);
    let mut cp = Phone::new(40020, Codec::Pcmu, 440.0);
    let mut ap = Phone::new(40022, Codec::Pcma, 1000.0);
    let c = call.add_leg(LegParams::new(Some(cp.addr), Codec::Pcmu), t0);
    let a = call.add_leg(LegParams::new(Some(ap.addr), Codec::Pcma), t0);
    call.bridge(c, a);
    call.start_recording(Path::new(&path), c, Some(a)).unwrap();
    let mut out = Captured::default();
    let mut told = false;
    loop {
        let now = Instant::now();
        while call.poll_timeout() <= now {
            call.handle_datagram(c, cp.addr, &cp.packet(), now, &mut out);
            call.handle_datagram(a, ap.addr, &ap.packet(), now, &mut out);
            call.tick(call.poll_timeout(), &mut out);
        }
        out.sent.clear();
        if !told && now.duration_since(t0) > Duration::from_millis(1500) {
            println!("\nCHILD-RECORDING-STARTED");
            told = true;
        }
        // Pace the child like a live call (this is the workload, not a wait on the parent).
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.wav");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "recorder_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines.next().expect("child said nothing").unwrap();
        if line.trim_end().ends_with("CHILD-RECORDING-STARTED") {
            break;
        }
    }
    // Child::kill sends SIGKILL on Unix: no destructor, no flush runs.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    let bytes = repair(&path).unwrap();
    assert!(
        bytes >= 4 * 8000,
        "at least a second of audio survived: {bytes}"
    );
    let (l, r) = stereo(&path);
    assert_eq!(l.len() as u64, bytes / 4);
    let n = l.len();
    assert!(tone_power(&l[4000..n - 100], 440.0) > 0.05);
    assert!(tone_power(&r[4000..n - 100], 1000.0) > 0.05);
    // Repair is idempotent.
    assert_eq!(repair(&path).unwrap(), bytes);
}
