//! Stock softphones as agents: Debian's baresip and linphonec, with their default settings
//! but for the account, register with the real binary, are rung by a call from the carrier
//! trunk (sipp), answer by themselves, and carry audio both ways: the caller's tone is heard
//! on the phone and in the left channel of the centre's recording, the phone's tone in the
//! right channel. Also: numbers (unknown → 404, an agent's number rings the agent) and
//! bindings (un-REGISTER, RFC 5626 instance ids).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Hotline, available, free_port, http, login, next_event, open_events, rtp_pcap, sine, write_wav,
};

/// The caller's tone and the phone's.
const CALLER_HZ: f64 = 1000.0;
const PHONE_HZ: f64 = 600.0;

/// A WAV file's (sample rate, channels, samples interleaved); `None` while it is incomplete.
fn read_wav(path: &Path) -> Option<(u32, u16, Vec<i16>)> {
    let data = std::fs::read(path).ok()?;
    if data.len() < 12 || &data[0..4] != b"RIFF" || &data[8..12] != b"WAVE" {
        return None;
    }
    let (mut off, mut rate, mut channels, mut bits) = (12, 0, 0, 0);
    while off + 8 <= data.len() {
        let id = &data[off..off + 4];
        let len = u32::from_le_bytes(data[off + 4..off + 8].try_into().ok()?) as usize;
        let body = &data[off + 8..];
        if id == b"fmt " && body.len() >= 16 {
            channels = u16::from_le_bytes([body[2], body[3]]);
            rate = u32::from_le_bytes(body[4..8].try_into().ok()?);
            bits = u16::from_le_bytes([body[14], body[15]]);
        }
        if id == b"data" {
            if bits != 16 || channels == 0 {
                return None;
            }
            // A writer still open may leave the length at 0 or too big: take what is there.
            let end = if len == 0 {
                body.len()
            } else {
                len.min(body.len())
            };
            let samples = body[..end]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
            return Some((rate, channels, samples));
        }
        off += 8 + len + (len & 1);
    }
    None
}

/// How many 20 ms windows of `channel` carry mostly a tone of `hz` (Goertzel power over the
/// window's energy), loud enough to be more than noise.
fn tone_windows(rate: u32, channels: u16, samples: &[i16], channel: usize, hz: f64) -> usize {
    let ch: Vec<f64> = samples
        .iter()
        .skip(channel)
        .step_by(usize::from(channels))
        .map(|s| f64::from(*s))
        .collect();
    let n = (rate / 50) as usize;
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / f64::from(rate)).cos();
    ch.chunks_exact(n)
        .filter(|w| {
            let energy: f64 = w.iter().map(|x| x * x).sum();
            if energy / (n as f64) < 100.0 * 100.0 {
                return false;
            }
            let (mut s1, mut s2) = (0.0, 0.0);
            for x in *w {
                let s = x + coeff * s1 - s2;
                s2 = s1;
                s1 = s;
            }
            let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
            // A pure tone on the bin gives 1.0.
            power / (n as f64 * energy / 2.0) > 0.6
        })
        .count()
}

/// Polls `f` until it returns `Some`, for at most `secs` seconds.
fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A value of the metrics page, such as `hotline_sip_bindings`.
fn metric(h: &Hotline, line_start: &str) -> Option<f64> {
    let (_, body) = h.get("/metrics");
    body.lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
}

fn bindings(h: &Hotline) -> f64 {
    metric(h, "hotline_sip_bindings ").unwrap_or(-1.0)
}

/// The interaction records once at least `n` exist and all have ended.
fn settled(h: &Hotline, n: usize) -> Vec<serde_json::Value> {
    let sup = login(h, "supervisor", "supervisor");
    let mut stream = open_events(h, &sup).unwrap();
    loop {
        let (status, body) = http(h.http, "GET", "/api/v1/interactions", Some(&sup), None);
        assert_eq!(status, 200, "{body}");
        let all: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        if all.len() >= n && all.iter().all(|r| r["ended"].is_string()) {
            return all;
        }
        while next_event(&mut stream)["kind"]["type"] != "ended" {}
    }
}

/// A caller from the trunk dialling `number`, sending the caller's tone for `talk_ms`.
fn tone_caller(
    h: &Hotline,
    work: &Path,
    number: &str,
    talk_ms: u32,
) -> std::thread::JoinHandle<(bool, String)> {
    let pcap = work.join("caller-tone.pcap");
    rtp_pcap(
        &pcap,
        hotline_media::Codec::Pcmu,
        &sine(CALLER_HZ, f64::from(talk_ms / 1000)),
    );
    let text = std::fs::read_to_string(common::repo().join("tests/sipp/caller-tone.xml"))
        .unwrap()
        .replace("TONE_PCAP", pcap.to_str().unwrap())
        .replace("TALK_MS", &talk_ms.to_string());
    let scenario = work.join("caller-tone.xml");
    std::fs::write(&scenario, text).unwrap();
    let (sip, number) = (h.sip, number.to_string());
    let media_port = free_port("127.0.0.1").to_string();
    std::thread::spawn(move || {
        common::sipp_at(
            sip,
            scenario.to_str().unwrap(),
            &["-s", &number, "-m", "1", "-mp", &media_port],
        )
    })
}

/// A softphone process, killed when dropped (and its output kept for failure messages).
struct Phone {
    child: Child,
    log: PathBuf,
}

impl Phone {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a command line to the phone's console.
    fn command(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the process to end by itself.
    fn wait_exit(&mut self, secs: u64) {
        wait_for(secs, "the phone to quit", || {
            self.child.try_wait().ok().flatten().map(|_| ())
        });
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// baresip as Debian installs it: its own default configuration (written by baresip on
/// first start in `dir`), changed only where a test must: no sound card (the `aufile`
/// module sends `tone`, `sndfile` records what the phone hears, `aubridge` stands in for
/// the loudspeaker) and a loopback port of its own.
fn baresip(dir: &Path, ext: &str, hotline: std::net::SocketAddr, tone: &Path) -> Phone {
    std::fs::create_dir_all(dir).unwrap();
    // First start: baresip writes its default config, accounts and contacts templates.
    let status = Command::new("baresip")
        .args(["-f", dir.to_str().unwrap(), "-t", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("baresip must be installed (Debian package baresip)");
    let _ = status;
    let config = std::fs::read_to_string(dir.join("config")).expect("baresip's default config");
    let port = free_port("127.0.0.1");
    let mut out = String::new();
    for line in config.lines() {
        let key = line.split_whitespace().next().unwrap_or("");
        match key {
            "audio_player" | "audio_alert" => out.push_str(&format!("{key}\taubridge,nil\n")),
            "audio_source" => out.push_str(&format!("{key}\taufile,{}\n", tone.display())),
            "module" if line.contains("alsa.so") => {
                out.push_str("module\taufile.so\nmodule\taubridge.so\nmodule\tsndfile.so\n")
            }
            "sip_listen" | "#sip_listen" | "snd_path" => {}
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out.push_str(&format!(
        "sip_listen\t127.0.0.1:{port}\nsnd_path\t{}\n",
        dir.display()
    ));
    std::fs::write(dir.join("config"), out).unwrap();
    std::fs::write(
        dir.join("accounts"),
        format!("<sip:{ext}@{hotline}>;auth_pass=pass{ext};answermode=auto\n"),
    )
    .unwrap();
    let log = dir.join("baresip.log");
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new("baresip")
        // Its address is the loopback one (SDP, Contact), not the host's.
        .args(["-f", dir.to_str().unwrap(), "-n", "127.0.0.1"])
        .stdin(Stdio::piped())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    Phone { child, log }
}

/// linphonec (Debian's linphone-cli) with a configuration holding only the account and a
/// loopback port of its own, its sound in files: it plays `tone` and records what it hears
/// to `record`, and answers calls by itself (`-a`).
fn linphonec(
    dir: &Path,
    ext: &str,
    hotline: std::net::SocketAddr,
    tone: &Path,
    record: &Path,
) -> Phone {
    // linphone keeps a database under $HOME; the directory must exist.
    let home = dir.join("home");
    std::fs::create_dir_all(home.join(".local/share/linphone")).unwrap();
    let port = free_port("127.0.0.1");
    let rc = dir.join("linphonerc");
    std::fs::write(
        &rc,
        format!(
            "[sip]\nsip_port={port}\nsip_tcp_port=-1\nsip_tls_port=-1\ndefault_proxy=0\n\n\
             [auth_info_0]\nusername={ext}\npasswd=pass{ext}\nrealm=hotline\n\n\
             [proxy_0]\nreg_proxy=<sip:{hotline}>\nreg_identity=sip:{ext}@{ip}\n\
             reg_expires=3600\nreg_sendregister=1\n",
            ip = hotline.ip()
        ),
    )
    .unwrap();
    let log = dir.join("linphonec.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut phone = Phone {
        child: Command::new("linphonec")
            .args(["-c", rc.to_str().unwrap(), "-a"])
            .env("HOME", &home)
            .stdin(Stdio::piped())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("linphonec must be installed (Debian package linphone-cli)"),
        log,
    };
    phone.command("soundcard use files");
    phone.command(&format!("play {}", tone.display()));
    phone.command(&format!("record {}", record.display()));
    phone
}

/// The end-to-end check shared by both phones: `ext`'s phone is registered; a caller dials
/// `ext` from the trunk; the phone answers; both tones are in the centre's recording and
/// the caller's tone in `phone_recording()`.
fn call_with_tones(
    h: &Hotline,
    work: &Path,
    ext: &str,
    phone: &Phone,
    phone_recording: impl Fn() -> Option<PathBuf>,
) {
    wait_for(30, "the phone's registration", || {
        (bindings(h) >= 1.0).then_some(())
    });
    available(h, ext);
    let caller = tone_caller(h, work, ext, 8000);
    let (ok, log) = caller.join().unwrap();
    assert!(ok, "caller: {log}\nphone: {}", phone.log());
    let records = settled(h, 1);
    let r = &records[0];
    assert_eq!(r["to"], ext, "{r}");
    assert_eq!(
        r["agent"],
        ext,
        "the agent answered: {r}\nphone: {}",
        phone.log()
    );
    let recording = PathBuf::from(r["recording"].as_str().expect("a recording"));
    let (rate, channels, samples) = read_wav(&recording).expect("the centre's recording");
    assert_eq!(channels, 2);
    let caller_left = tone_windows(rate, channels, &samples, 0, CALLER_HZ);
    let phone_right = tone_windows(rate, channels, &samples, 1, PHONE_HZ);
    assert!(
        caller_left >= 50,
        "the caller's {CALLER_HZ} Hz tone is in the left channel: {caller_left} windows"
    );
    assert!(
        phone_right >= 50,
        "the phone's {PHONE_HZ} Hz tone is in the right channel: {phone_right} windows\nphone: {}",
        phone.log()
    );
    // What the phone heard: the caller's tone.
    let heard = wait_for(20, "the phone's recording of the caller", || {
        let path = phone_recording()?;
        let (rate, channels, samples) = read_wav(&path)?;
        let n = tone_windows(rate, channels, &samples, 0, CALLER_HZ);
        (n >= 50).then_some(n)
    });
    assert!(heard >= 50);
}

#[test]
fn stock_baresip_registers_answers_and_carries_a_tone_each_way() {
    let h = Hotline::demo();
    let work = tempfile::tempdir().unwrap();
    let tone = work.path().join("phone-tone.wav");
    write_wav(&tone, &sine(PHONE_HZ, 60.0));
    let dir = work.path().join("baresip");
    let mut phone = baresip(&dir, "1001", h.sip, &tone);
    call_with_tones(&h, work.path(), "1001", &phone, || {
        // sndfile writes `dump-<time>-dec.wav`: what the phone decoded from hotline.
        std::fs::read_dir(&dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
    });
    // Quitting, baresip removes its registration (un-REGISTER, Expires 0).
    phone.command("/quit");
    phone.wait_exit(30);
    wait_for(10, "the un-REGISTER", || {
        (bindings(&h) == 0.0).then_some(())
    });
}

#[test]
fn stock_linphonec_registers_answers_and_carries_a_tone_each_way() {
    let h = Hotline::demo();
    let work = tempfile::tempdir().unwrap();
    let tone = work.path().join("phone-tone.wav");
    write_wav(&tone, &sine(PHONE_HZ, 60.0));
    let record = work.path().join("linphone-heard.wav");
    let phone = linphonec(&work.path().join("linphone"), "1002", h.sip, &tone, &record);
    call_with_tones(&h, work.path(), "1002", &phone, || {
        record.exists().then(|| record.clone())
    });
}

#[test]
fn a_number_the_centre_does_not_have_gets_404_and_no_record() {
    let h = Hotline::demo();
    let (ok, log) = h.sipp("caller-unknown-number.xml", &["-s", "12345", "-m", "1"]);
    assert!(ok, "{log}");
    // The service number still reaches the flow (and is recorded).
    let sup = login(&h, "supervisor", "supervisor");
    let (status, body) = http(h.http, "GET", "/api/v1/interactions", Some(&sup), None);
    assert_eq!(status, 200);
    assert_eq!(body.trim(), "[]", "no interaction for a refused number");
}

#[test]
fn an_agents_direct_number_rings_that_agent() {
    let h = Hotline::serve_with(|t| {
        t.replace(
            "extension = \"1003\"",
            "extension = \"1003\"\ndirect_number = \"80001003\"",
        )
    });
    // 1003 and 1001 are both available; the direct number must ring 1003 (cards, general),
    // not the longest idle agent.
    let port = free_port("127.0.0.1").to_string();
    let (ok, log) = h.sipp(
        "register.xml",
        &[
            "-p", &port, "-s", "1003", "-au", "1003", "-ap", "pass1003", "-m", "1",
        ],
    );
    assert!(ok, "{log}");
    let other = free_port("127.0.0.1").to_string();
    let (ok, log) = h.sipp(
        "register.xml",
        &[
            "-p", &other, "-s", "1001", "-au", "1001", "-ap", "pass1001", "-m", "1",
        ],
    );
    assert!(ok, "{log}");
    available(&h, "1001");
    available(&h, "1003");
    let (sip, p) = (h.sip, port.clone());
    let agent = std::thread::spawn(move || {
        common::sipp_at(
            sip,
            "agent-answers.xml",
            &["-p", &p, "-i", "127.0.0.1", "-rtp_echo", "-m", "1"],
        )
    });
    let work = tempfile::tempdir().unwrap();
    let caller = tone_caller(&h, work.path(), "80001003", 3000);
    let (ok, log) = caller.join().unwrap();
    assert!(ok, "caller: {log}");
    let (ok, log) = agent.join().unwrap();
    assert!(ok, "agent 1003: {log}");
    let records = settled(&h, 1);
    assert_eq!(records[0]["to"], "80001003");
    assert_eq!(records[0]["agent"], "1003", "{:?}", records[0]);
}

#[test]
fn un_register_removes_the_binding_and_an_instance_id_replaces_it() {
    let h = Hotline::demo();
    let sipp = |scenario: &str, port: &str| {
        let (ok, log) = h.sipp(
            scenario,
            &[
                "-p", port, "-s", "1001", "-au", "1001", "-ap", "pass1001", "-m", "1",
            ],
        );
        assert!(ok, "{scenario}: {log}");
    };
    let port = free_port("127.0.0.1").to_string();
    sipp("register.xml", &port);
    assert_eq!(bindings(&h), 1.0);
    // Registers the same contact again, then removes it (Expires: 0): nothing is left.
    sipp("unregister.xml", &port);
    assert_eq!(bindings(&h), 0.0);
    // A phone without an instance id.
    sipp("register.xml", &free_port("127.0.0.1").to_string());
    assert_eq!(bindings(&h), 1.0);
    for _ in 0..2 {
        // Each run from a new port, as a phone restarted: one binding for that phone.
        sipp("register-instance.xml", &free_port("127.0.0.1").to_string());
        assert_eq!(bindings(&h), 2.0);
    }
}
