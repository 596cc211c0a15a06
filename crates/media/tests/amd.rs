//! Answering-machine detection on spoken greetings: a corpus of people answering and of
//! answering machines, generated with espeak-ng (several voices and speeds) and sox (8 kHz,
//! lead-in silence, beeps, white noise at several levels), some through a G.711 round trip.
//! The detector runs over every file; the test prints the confusion table and holds the
//! accuracy and both error rates to stated bounds. A second test sends a person's and a
//! machine's greeting as RTP over UDP to the media engine and waits for its `Amd` events; a
//! third starts and stops detection on the sans-IO call core.
//!
//! Run with `cargo test -p hotline-media --test amd -- --nocapture` to see the table.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::read_wav;
use hotline_media::amd::{AmdCause, AmdConfig, AmdDecision, AmdDetector, AmdVerdict};
use hotline_media::call::{LegParams, MediaEvent};
use hotline_media::engine::{EngineConfig, MediaEngine};
use hotline_media::g711::Codec;
use hotline_media::rtp::{RtpHeader, write_packet};
use tokio::net::UdpSocket;

/// Who really answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Truth {
    Human,
    Machine,
}

struct Sample {
    name: String,
    truth: Truth,
    noise: &'static str,
    codec: &'static str,
    pcm: Vec<i16>,
}

/// What people say when they pick up.
const HUMAN: &[&str] = &[
    "Hello?",
    "Hello.",
    "Yes, speaking.",
    "Hello, who is this?",
    "Hi.",
    "Yeah?",
    "Good morning.",
    "Hello, Anna speaking.",
];

/// What answering machines say (3 to 8 s depending on voice and speed).
const MACHINE: &[&str] = &[
    "Hi, you have reached John Smith. I can't take your call right now. Please leave a message after the tone.",
    "Hello, this is Maria. Sorry I missed you, leave a message.",
    "The person you are calling is not available. Please leave your name, number and a short message after the beep.",
    "Thank you for calling Green Valley Dental. Our office is now closed. Please leave a message after the tone.",
    "You have reached the voicemail of 0 2 0 7 9 4 6 0 1 2 3. Please leave a message.",
];

/// espeak-ng voices (with a variant) and speeds in words per minute.
const VOICES: &[(&str, u32)] = &[("en-us", 165), ("en+f3", 140), ("en-gb-scotland+m3", 200)];

/// White-noise levels mixed in (label, sox `vol` for `whitenoise`, whose RMS at vol 1 is
/// -4.8 dBFS): none, -50, -40 and -32 dBFS. espeak-ng speaks at about -20 dBFS RMS.
const NOISES: &[(&str, Option<f32>)] = &[
    ("none", None),
    ("-50 dBFS", Some(0.0055)),
    ("-40 dBFS", Some(0.0174)),
    ("-32 dBFS", Some(0.0437)),
];

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn tools_present() -> bool {
    if have("espeak-ng") && have("sox") {
        return true;
    }
    println!(
        "SKIPPED: espeak-ng or sox is not installed (Debian packages espeak-ng and sox; \
         scripts/test.sh installs them)"
    );
    false
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// sox in repeatable mode (fixed seeds for noise and dither), warnings (clipping of a
/// sample or two in the loudest mixes) not printed.
fn sox(args: &[&str]) {
    run(Command::new("sox").args(["-R", "-V1"]).args(args));
}

fn p(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Speaks `text` into an 8 kHz mono 16-bit file.
fn speak(dir: &Path, name: &str, voice: &str, speed: u32, text: &str) -> PathBuf {
    let raw = dir.join(format!("{name}-raw.wav"));
    run(Command::new("espeak-ng").args([
        "-v",
        voice,
        "-s",
        &speed.to_string(),
        "-w",
        p(&raw),
        text,
    ]));
    let out = dir.join(format!("{name}.wav"));
    sox(&[p(&raw), "-r", "8000", "-c", "1", "-b", "16", p(&out)]);
    out
}

/// `lead` s of silence, the speech (then a beep if given), `tail` s of silence, and noise
/// under all of it.
fn compose(
    dir: &Path,
    name: &str,
    speech: &Path,
    beep: Option<&Path>,
    lead: f32,
    tail: f32,
    noise: Option<f32>,
) -> PathBuf {
    let clean = dir.join(format!("{name}-clean.wav"));
    let mut args: Vec<&str> = vec![p(speech)];
    if let Some(b) = beep {
        args.push(p(b));
    }
    let (lead, tail) = (lead.to_string(), tail.to_string());
    args.extend([p(&clean), "pad", &lead, &tail]);
    sox(&args);
    let Some(vol) = noise else {
        return clean;
    };
    let hiss = dir.join(format!("{name}-noise.wav"));
    let vol = vol.to_string();
    sox(&[p(&clean), p(&hiss), "synth", "whitenoise", "vol", &vol]);
    let out = dir.join(format!("{name}-noisy.wav"));
    sox(&["-m", "-v", "1", p(&clean), "-v", "1", p(&hiss), p(&out)]);
    out
}

/// Through a G.711 encoder and decoder, as the media engine hears a phone.
fn g711(pcm: &[i16], codec: Codec) -> Vec<i16> {
    let mut enc = vec![0u8; pcm.len()];
    codec.encode_slice(pcm, &mut enc);
    let mut out = vec![0i16; pcm.len()];
    codec.decode_slice(&enc, &mut out);
    out
}

fn corpus(dir: &Path) -> Vec<Sample> {
    let beep = dir.join("beep.wav");
    sox(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        "-b",
        "16",
        p(&beep),
        "synth",
        "0.4",
        "sine",
        "1000",
        "vol",
        "0.3",
    ]);
    let mut out = Vec::new();
    let mut k = 0usize;
    let mut add = |name: String, truth, noise: &'static str, path: &Path| {
        let pcm = read_wav(path);
        let (codec, pcm) = match k % 3 {
            0 => ("linear", pcm),
            1 => ("PCMU", g711(&pcm, Codec::Pcmu)),
            _ => ("PCMA", g711(&pcm, Codec::Pcma)),
        };
        k += 1;
        out.push(Sample {
            name,
            truth,
            noise,
            codec,
            pcm,
        });
    };
    for (t, text) in HUMAN.iter().enumerate() {
        for (v, &(voice, speed)) in VOICES.iter().enumerate() {
            let base = format!("h{t}v{v}");
            let speech = speak(dir, &base, voice, speed, text);
            for (n, &(label, vol)) in NOISES.iter().enumerate() {
                // A person picks up, says their line after 0.3-1.05 s, and waits.
                let lead = 0.3 + ((t + v + n) % 4) as f32 * 0.25;
                let name = format!("{base}n{n}");
                let f = compose(dir, &name, &speech, None, lead, 5.0, vol);
                add(
                    format!("human {text:?} {voice} {speed}"),
                    Truth::Human,
                    label,
                    &f,
                );
            }
        }
    }
    for (t, text) in MACHINE.iter().enumerate() {
        for (v, &(voice, speed)) in VOICES.iter().enumerate() {
            let base = format!("m{t}v{v}");
            let speech = speak(dir, &base, voice, speed, text);
            for with_beep in [false, true] {
                for (n, &(label, vol)) in NOISES.iter().enumerate() {
                    let lead = 0.4 + ((t + v + n) % 3) as f32 * 0.4;
                    let name = format!("{base}b{}n{n}", u8::from(with_beep));
                    let b = with_beep.then_some(beep.as_path());
                    let f = compose(dir, &name, &speech, b, lead, 3.0, vol);
                    add(
                        format!("machine #{t} {voice} {speed}"),
                        Truth::Machine,
                        label,
                        &f,
                    );
                }
            }
        }
    }
    out
}

/// The detector over a whole file in 20 ms frames; `None` if the file ends undecided.
fn detect(pcm: &[i16]) -> Option<AmdDecision> {
    let mut d = AmdDetector::new(AmdConfig::default());
    pcm.chunks(160)
        .enumerate()
        .find_map(|(i, f)| d.feed(f, i as u64 * 20))
}

fn pct(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        100.0 * a as f64 / b as f64
    }
}

#[test]
fn amd_accuracy_on_generated_greetings() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("hotline-amd-corpus-")
        .tempdir()
        .expect("temp dir");
    let t = Instant::now();
    let samples = corpus(dir.path());
    let gen_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    // (truth, verdict) counts; causes; per-noise right/total; decision times.
    let mut table: BTreeMap<(Truth, &str), usize> = BTreeMap::new();
    let mut causes: BTreeMap<(Truth, &str), usize> = BTreeMap::new();
    let mut by_noise: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut by_codec: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut times: BTreeMap<Truth, Vec<u64>> = BTreeMap::new();
    let mut wrong = Vec::new();
    let mut audio_s = 0.0;
    for s in &samples {
        audio_s += s.pcm.len() as f64 / 8000.0;
        let d = detect(&s.pcm);
        let verdict = d.map_or("undecided", |d| d.verdict.as_str());
        let cause = d.map_or("none", |d| d.cause.as_str());
        *table.entry((s.truth, verdict)).or_default() += 1;
        *causes.entry((s.truth, cause)).or_default() += 1;
        let right = matches!(
            (s.truth, d.map(|d| d.verdict)),
            (Truth::Human, Some(AmdVerdict::Human)) | (Truth::Machine, Some(AmdVerdict::Machine))
        );
        for (m, key) in [(&mut by_noise, s.noise), (&mut by_codec, s.codec)] {
            let e = m.entry(key).or_default();
            e.0 += usize::from(right);
            e.1 += 1;
        }
        if let Some(d) = d {
            times.entry(s.truth).or_default().push(d.at_ms);
        }
        if !right {
            wrong.push(format!(
                "  {} [{} noise, {}]: {verdict} ({cause}, {} words, {} ms voice, at {} ms)",
                s.name,
                s.noise,
                s.codec,
                d.map_or(0, |d| d.words),
                d.map_or(0, |d| d.voice_ms),
                d.map_or(0, |d| d.at_ms),
            ));
        }
    }
    let detect_s = t.elapsed().as_secs_f64();
    let count = |truth, v: &str| table.get(&(truth, v)).copied().unwrap_or(0);
    let humans = samples.iter().filter(|s| s.truth == Truth::Human).count();
    let machines = samples.len() - humans;
    let right = count(Truth::Human, "human") + count(Truth::Machine, "machine");
    let human_as_machine = count(Truth::Human, "machine");
    let machine_as_human = count(Truth::Machine, "human");

    println!(
        "\n{} files ({humans} human, {machines} machine), {audio_s:.0} s of audio; generated in \
         {gen_s:.1} s, analysed in {detect_s:.2} s",
        samples.len()
    );
    println!("\n| answered by | decided human | decided machine | unsure | undecided |");
    println!("|---|--:|--:|--:|--:|");
    for truth in [Truth::Human, Truth::Machine] {
        println!(
            "| {truth:?} | {} | {} | {} | {} |",
            count(truth, "human"),
            count(truth, "machine"),
            count(truth, "unsure"),
            count(truth, "undecided")
        );
    }
    println!(
        "\naccuracy {right}/{} = {:.1} %; humans called machines {human_as_machine}/{humans} = \
         {:.1} %; machines called humans {machine_as_human}/{machines} = {:.1} %",
        samples.len(),
        pct(right, samples.len()),
        pct(human_as_machine, humans),
        pct(machine_as_human, machines)
    );
    println!("\ncauses:");
    for ((truth, cause), n) in &causes {
        println!("  {truth:?}: {cause} {n}");
    }
    println!("\naccuracy by noise and by codec:");
    for (k, (r, n)) in by_noise.iter().chain(by_codec.iter()) {
        println!("  {k}: {r}/{n} = {:.1} %", pct(*r, *n));
    }
    for (truth, mut v) in times {
        v.sort_unstable();
        println!(
            "decision time after answer, {truth:?}: median {} ms, max {} ms",
            v[v.len() / 2],
            v[v.len() - 1]
        );
    }
    println!("\nwrong or unsure:");
    for w in &wrong {
        println!("{w}");
    }

    assert_eq!(samples.len(), 96 + 120, "the whole corpus was generated");
    // Bounds (see BENCHMARKS.md §8; measured: 98.1 %, 4.2 %, 0 %). A person hung up on is
    // worse than a machine passed to an agent, so that rate is held tightest.
    assert!(
        pct(right, samples.len()) >= 95.0,
        "accuracy {:.1} % is under 95 %",
        pct(right, samples.len())
    );
    assert!(
        pct(human_as_machine, humans) <= 6.0,
        "{human_as_machine} of {humans} people were called machines (bound 6 %)"
    );
    assert!(
        pct(machine_as_human, machines) <= 8.0,
        "{machine_as_human} of {machines} machines were called people (bound 8 %)"
    );
}

/// Sends `pcm` as PCMU RTP in real time from `sock` to `to`.
async fn stream(sock: &UdpSocket, to: SocketAddr, pcm: &[i16], ssrc: u32) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut buf = [0u8; 12 + 160];
    let mut payload = [0u8; 160];
    for (i, f) in pcm.chunks_exact(160).enumerate() {
        tick.tick().await;
        Codec::Pcmu.encode_slice(f, &mut payload);
        let h = RtpHeader {
            marker: i == 0,
            payload_type: 0,
            sequence: i as u16,
            timestamp: (i * 160) as u32,
            ssrc,
        };
        let n = write_packet(&h, &payload, &mut buf).expect("packet fits");
        sock.send_to(&buf[..n], to).await.expect("send to loopback");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_reports_human_and_machine_on_rtp_legs() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("hotline-amd-engine-")
        .tempdir()
        .expect("temp dir");
    let d = dir.path();
    let hello = speak(d, "hello", "en-us", 165, "Hello, who is this?");
    let hello = compose(d, "hello", &hello, None, 0.5, 5.0, Some(0.0174));
    let vm = speak(d, "vm", "en+f3", 150, MACHINE[0]);
    let vm = compose(d, "vm", &vm, None, 0.6, 1.0, Some(0.0174));
    let (hello, vm) = (read_wav(&hello), read_wav(&vm));

    let eng = MediaEngine::new(EngineConfig {
        port_min: 36400,
        port_max: 36498,
        ..EngineConfig::default()
    });
    let (call, mut events) = eng.spawn_call();
    let mut legs = Vec::new();
    let mut phones = Vec::new();
    for _ in 0..2 {
        let phone = UdpSocket::bind("127.0.0.1:0").await.expect("bind phone");
        let port = eng.bind_leg().await.expect("bind leg");
        let local = SocketAddr::from(([127, 0, 0, 1], port.local_addr().port()));
        let params = LegParams::new(Some(phone.local_addr().expect("addr")), Codec::Pcmu);
        let leg = call.add_leg(port, params).await.expect("add leg");
        // Answered: detection starts on what the called party says.
        call.start_amd(leg, AmdConfig::default())
            .expect("start amd");
        legs.push(leg);
        phones.push((phone, local));
    }
    let started = Instant::now();
    let (a, b) = (&phones[0], &phones[1]);
    let senders = async {
        tokio::join!(stream(&a.0, a.1, &hello, 1), stream(&b.0, b.1, &vm, 2));
    };
    let mut got = BTreeMap::new();
    let wait = async {
        while got.len() < 2 {
            match events.recv().await {
                Some(MediaEvent::Amd { leg, decision }) => {
                    assert!(
                        got.insert(leg, (decision, started.elapsed())).is_none(),
                        "one decision per leg"
                    );
                }
                Some(_) => {}
                None => panic!("media call ended"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(senders, wait);
    })
    .await
    .expect("both legs decided within 30 s");
    let (human, t_h) = got[&legs[0]];
    let (machine, t_m) = got[&legs[1]];
    println!("person: {human:?} after {t_h:?}; machine: {machine:?} after {t_m:?}");
    assert_eq!(
        (human.verdict, human.cause),
        (AmdVerdict::Human, AmdCause::ShortGreetingThenSilence)
    );
    assert_eq!(machine.verdict, AmdVerdict::Machine);
    assert!(
        matches!(machine.cause, AmdCause::LongGreeting | AmdCause::MaxWords),
        "{machine:?}"
    );
    // Decisions come in media time from the start of detection, within the analysis time.
    assert!(human.at_ms <= 5000 && machine.at_ms <= 5000);
    call.close().expect("close");
}

/// Collects nothing: the sans-IO core's outgoing packets are not looked at here.
struct Discard;

impl hotline_media::call::Transmit for Discard {
    fn send(&mut self, _: hotline_media::LegId, _: SocketAddr, _: &[u8]) {}
}

/// Ticks the core every 20 ms from `from_ms` to `to_ms` (as the shell does) and returns
/// the AMD decisions it reported.
fn tick_for(
    call: &mut hotline_media::call::CallMedia,
    t0: Instant,
    from_ms: u64,
    to_ms: u64,
) -> Vec<(hotline_media::LegId, AmdDecision)> {
    let mut got = Vec::new();
    for ms in (from_ms + 20..=to_ms).step_by(20) {
        call.tick(t0 + Duration::from_millis(ms), &mut Discard);
        while let Some(e) = call.poll_event() {
            if let MediaEvent::Amd { leg, decision } = e {
                got.push((leg, decision));
            }
        }
    }
    got
}

#[test]
fn call_core_detects_on_request_and_stops_on_request() {
    use hotline_media::call::{CallConfig, CallMedia};
    let t0 = Instant::now();
    let mut call = CallMedia::new(CallConfig::default(), t0, 7);
    let remote = SocketAddr::from(([127, 0, 0, 1], 40_000));
    let leg = call.add_leg(LegParams::new(Some(remote), Codec::Pcmu), t0);
    // Started, then stopped after 1 s: no decision, however long the silence goes on.
    call.start_amd(leg, AmdConfig::default());
    assert!(tick_for(&mut call, t0, 0, 1000).is_empty());
    call.stop_amd(leg);
    assert!(tick_for(&mut call, t0, 1000, 6000).is_empty());
    // Started again: nobody speaks for 2.5 s of media time, counted from this start, and
    // the decision comes once.
    call.start_amd(leg, AmdConfig::default());
    let got = tick_for(&mut call, t0, 6000, 14000);
    assert_eq!(got.len(), 1, "one decision: {got:?}");
    let (l, d) = got[0];
    assert_eq!(l, leg);
    assert_eq!(
        (d.verdict, d.cause),
        (AmdVerdict::Machine, AmdCause::InitialSilence)
    );
    assert_eq!(d.at_ms, 2500);
}
