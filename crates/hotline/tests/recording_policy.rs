//! Recording policy with the real binary and sipp: the agent pauses the recording while the
//! caller reads out card data; the file keeps the call's timeline with silence in that span.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Hotline, Ws, free_port, http, login, open_events, rtp_pcap, sine, try_next_event};

const CALLER_HZ: f64 = 1000.0;

/// Rate, channels and interleaved samples of a 16-bit PCM WAV file.
fn read_wav(path: &Path) -> (u32, u16, Vec<i16>) {
    let data = std::fs::read(path).unwrap();
    assert_eq!(&data[0..4], b"RIFF");
    assert_eq!(&data[8..12], b"WAVE");
    let (mut off, mut rate, mut channels) = (12, 0, 0);
    while off + 8 <= data.len() {
        let id = &data[off..off + 4];
        let len = u32::from_le_bytes(data[off + 4..off + 8].try_into().unwrap()) as usize;
        let body = &data[off + 8..];
        if id == b"fmt " {
            channels = u16::from_le_bytes([body[2], body[3]]);
            rate = u32::from_le_bytes(body[4..8].try_into().unwrap());
            assert_eq!(u16::from_le_bytes([body[14], body[15]]), 16);
        }
        if id == b"data" {
            let samples = body[..len.min(body.len())]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
            return (rate, channels, samples);
        }
        off += 8 + len;
    }
    panic!("no data chunk in {}", path.display());
}

/// Per 20 ms window of `channel`: (root mean square, whether it is a tone at `hz`).
fn windows(rate: u32, channels: u16, samples: &[i16], channel: usize, hz: f64) -> Vec<(f64, bool)> {
    let ch: Vec<f64> = samples
        .iter()
        .skip(channel)
        .step_by(usize::from(channels))
        .map(|s| f64::from(*s))
        .collect();
    let n = (rate / 50) as usize;
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / f64::from(rate)).cos();
    ch.chunks_exact(n)
        .map(|w| {
            let energy: f64 = w.iter().map(|x| x * x).sum();
            let rms = (energy / n as f64).sqrt();
            let (mut s1, mut s2) = (0.0, 0.0);
            for x in w {
                let s = x + coeff * s1 - s2;
                s2 = s1;
                s1 = s;
            }
            let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
            // A pure tone on the bin gives 1.0 (Goertzel).
            let tone = rms > 100.0 && power / (n as f64 * energy / 2.0) > 0.6;
            (rms, tone)
        })
        .collect()
}

/// The next event of one of `types`, skipping the others.
fn next_of(ws: &mut Ws, types: &[&str]) -> serde_json::Value {
    loop {
        let e = try_next_event(ws).unwrap_or_else(|| panic!("no {types:?} event came"));
        if types.iter().any(|t| e["kind"]["type"] == *t) {
            return e;
        }
    }
}

/// When an event happened, in seconds since the epoch.
fn at(e: &serde_json::Value) -> f64 {
    let t = hotline_model::Timestamp::parse_rfc3339(e["at"].as_str().unwrap()).unwrap();
    t.unix_nanos() as f64 / 1e9
}

fn register_phone(h: &Hotline, ext: &str) -> String {
    let port = free_port("127.0.0.1").to_string();
    let pw = format!("pass{ext}");
    let (ok, log) = h.sipp(
        "register.xml",
        &["-p", &port, "-s", ext, "-au", ext, "-ap", &pw, "-m", "1"],
    );
    assert!(ok, "{log}");
    port
}

fn available(h: &Hotline, token: &str, ext: &str) {
    let (status, body) = http(
        h.http,
        "POST",
        &format!("/api/v1/agents/{ext}/state"),
        Some(token),
        Some(r#"{"state":"available"}"#),
    );
    assert_eq!(status, 200, "{body}");
}

/// A caller from the trunk dialling `number` and sending a steady tone for `talk_ms`.
fn tone_caller(h: &Hotline, number: &str, talk_ms: u32) -> std::thread::JoinHandle<(bool, String)> {
    let work = h.dir.path();
    let pcap = work.join("caller-tone.pcap");
    rtp_pcap(
        &pcap,
        hotline_media::Codec::Pcmu,
        &sine(CALLER_HZ, f64::from(talk_ms) / 1000.0),
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

/// The agent's phone (sipp) on the port it registered from, with a media port of its own
/// (parallel tests must not share sipp's default), answering one call.
fn answering_phone(h: &Hotline, port: String) -> std::thread::JoinHandle<(bool, String)> {
    let sip = h.sip;
    let media_port = free_port("127.0.0.1").to_string();
    std::thread::spawn(move || {
        common::sipp_at(
            sip,
            "agent-answers.xml",
            &[
                "-p",
                &port,
                "-i",
                "127.0.0.1",
                "-mp",
                &media_port,
                "-m",
                "1",
            ],
        )
    })
}

fn post(h: &Hotline, token: &str, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = http(h.http, "POST", path, Some(token), None);
    let v = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
    (status, v)
}

#[test]
fn a_paused_recording_holds_silence_for_the_pause_and_the_tone_around_it() {
    let h = Hotline::demo();
    let port = register_phone(&h, "1001");
    let agent = login(&h, "agent1001", "pass1001");
    available(&h, &agent, "1001");
    let sup = login(&h, "supervisor", "supervisor");
    let mut stream = open_events(&h, &sup).unwrap();

    // Unknown interactions are refused before anything else.
    let (status, body) = post(&h, &agent, "/api/v1/interactions/nope/recording/pause");
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "unknown_interaction");

    let phone = answering_phone(&h, port);
    // The caller dials the agent's extension and sends a steady tone for 12 s.
    let caller = tone_caller(&h, "1001", 12_000);
    let started = next_of(&mut stream, &["recording_started"]);
    let id = started["interaction"].as_str().unwrap().to_string();
    let pause = format!("/api/v1/interactions/{id}/recording/pause");
    let resume = format!("/api/v1/interactions/{id}/recording/resume");

    // Some conversation is recorded, then the caller reads out the card number.
    std::thread::sleep(Duration::from_secs(2));
    let (status, body) = post(&h, &agent, &pause);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["paused"], true);
    let paused = next_of(&mut stream, &["recording_paused"]);
    assert_eq!(paused["interaction"], id.as_str());
    let (status, body) = post(&h, &agent, &pause);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "already_paused", "{body}");
    // Another agent may not touch this call.
    let other = login(&h, "agent1002", "pass1002");
    let (status, body) = post(&h, &other, &resume);
    assert_eq!(status, 403, "{body}");
    std::thread::sleep(Duration::from_secs(3));
    let (status, body) = post(&h, &agent, &resume);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["paused"], false);
    let resumed = next_of(&mut stream, &["recording_resumed"]);
    let (status, body) = post(&h, &agent, &resume);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "not_paused", "{body}");

    let ended = next_of(&mut stream, &["ended"]);
    assert_eq!(ended["interaction"], id.as_str());
    let (ok, log) = caller.join().unwrap();
    assert!(ok, "caller: {log}");
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "phone: {log}");
    // The call is over: nothing to pause any more.
    let (status, body) = post(&h, &agent, &pause);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "not_in_progress", "{body}");

    // Who paused and resumed is audited.
    let (status, body) = http(h.http, "GET", "/api/v1/audit", Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    let audit: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    for action in ["recording_pause", "recording_resume"] {
        assert!(
            audit
                .iter()
                .any(|a| a["user"] == "agent1001" && a["action"] == action && a["target"] == id),
            "{action}: {body}"
        );
    }

    // The file: the caller's tone, silence from the pause to the resumption, the tone again;
    // as long as the call was (the pause kept the timeline).
    let (status, body) = http(h.http, "GET", "/api/v1/interactions", Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    let all: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let record = all.into_iter().find(|r| r["id"] == id.as_str()).unwrap();
    let path = record["recording"]
        .as_str()
        .expect("a recording")
        .to_string();
    let (rate, channels, samples) = read_wav(Path::new(&path));
    assert_eq!((rate, channels), (8000, 2));
    let w = windows(rate, channels, &samples, 0, CALLER_HZ);
    let secs = |a: &serde_json::Value| at(a) - at(&started);
    let (p, r, e) = (secs(&paused), secs(&resumed), secs(&ended));
    let file_secs = w.len() as f64 / 50.0;
    assert!(
        (file_secs - e).abs() < 0.6,
        "the file lasts as long as the recorded call: {file_secs} s against {e} s"
    );
    let span = |from: f64, to: f64| &w[(from * 50.0) as usize..((to * 50.0) as usize).min(w.len())];
    let margin = 0.4;
    let before = span(0.5, p - margin);
    let during = span(p + margin, r - margin);
    let after = span(r + margin, e - 1.0);
    assert!(during.len() >= 100, "a pause of over 2 s: {p}..{r}");
    assert!(
        during.iter().all(|(rms, _)| *rms < 50.0),
        "silence while paused ({p:.2}..{r:.2} s): {:?}",
        during.iter().map(|(r, _)| *r as i64).collect::<Vec<_>>()
    );
    let toned = |ws: &[(f64, bool)]| ws.iter().filter(|(_, t)| *t).count() as f64 / ws.len() as f64;
    assert!(
        toned(before) > 0.9,
        "the tone before the pause: {:.2} of {} windows",
        toned(before),
        before.len()
    );
    assert!(
        toned(after) > 0.9,
        "the tone after the pause: {:.2} of {} windows",
        toned(after),
        after.len()
    );
}

/// The files of a ustar archive: (name, bytes).
fn untar(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 512 <= data.len() {
        let h = &data[off..off + 512];
        if h.iter().all(|b| *b == 0) {
            break;
        }
        let field = |a: usize, b: usize| {
            String::from_utf8_lossy(&h[a..b])
                .trim_end_matches('\0')
                .trim()
                .to_string()
        };
        let (name, prefix) = (field(0, 100), field(345, 500));
        let name = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let size = usize::from_str_radix(&field(124, 136), 8).unwrap();
        let body = data[off + 512..off + 512 + size].to_vec();
        out.push((name, body));
        off += 512 + size.div_ceil(512) * 512;
    }
    out
}

#[test]
fn a_supervisor_exports_one_interaction_with_its_recording_and_an_agent_may_not() {
    let h = Hotline::demo();
    let port = register_phone(&h, "1001");
    let agent = login(&h, "agent1001", "pass1001");
    available(&h, &agent, "1001");
    let sup = login(&h, "supervisor", "supervisor");
    let mut stream = open_events(&h, &sup).unwrap();
    let phone = answering_phone(&h, port);
    let caller = tone_caller(&h, "1001", 4_000);
    let id = next_of(&mut stream, &["answered"])["interaction"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = http(
        h.http,
        "POST",
        &format!("/api/v1/interactions/{id}/notes"),
        Some(&agent),
        Some(r#"{"text":"caller disputes a card fee"}"#),
    );
    assert_eq!(status, 200, "{body}");
    next_of(&mut stream, &["ended"]);
    let (ok, log) = caller.join().unwrap();
    assert!(ok, "caller: {log}");
    let (ok, log) = phone.join().unwrap();
    assert!(ok, "phone: {log}");
    let (status, body) = http(
        h.http,
        "POST",
        &format!("/api/v1/interactions/{id}/wrapup"),
        Some(&agent),
        Some(r#"{"disposition":"complaint","notes":"fee refund asked"}"#),
    );
    assert_eq!(status, 200, "{body}");
    next_of(&mut stream, &["wrapped_up"]);

    let export = format!("/api/v1/interactions/{id}/export");
    let (status, body) = http(h.http, "GET", &export, Some(&agent), None);
    assert_eq!(status, 403, "an agent may not export: {body}");
    let (status, _) = http(
        h.http,
        "GET",
        "/api/v1/interactions/0/export",
        Some(&sup),
        None,
    );
    assert_eq!(status, 404);

    let (status, archive) = http_bytes(&h, &export, &sup);
    assert_eq!(status, 200);
    let files = untar(&archive);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let file = |name: &str| -> &[u8] {
        &files
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} in {names:?}"))
            .1
    };
    let record: serde_json::Value = serde_json::from_slice(file("record.json")).unwrap();
    assert_eq!(record["id"], id.as_str());
    assert_eq!(record["disposition"], "complaint", "{record}");
    let events: Vec<serde_json::Value> = serde_json::from_slice(file("events.json")).unwrap();
    let types: Vec<&str> = events
        .iter()
        .filter_map(|e| e["kind"]["type"].as_str())
        .collect();
    for t in ["answered", "recording_started", "ended", "wrapped_up"] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    let notes: Vec<serde_json::Value> = serde_json::from_slice(file("notes.json")).unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n["text"] == "caller disputes a card fee"),
        "{notes:?}"
    );
    let on_disk = std::fs::read(record["recording"].as_str().unwrap()).unwrap();
    let wav = file(&format!("recordings/{id}.wav"));
    assert_eq!(wav, on_disk.as_slice(), "the recording, byte for byte");
    let manifest: serde_json::Value = serde_json::from_slice(file("manifest.json")).unwrap();
    assert_eq!(manifest["exported_by"], "supervisor");

    // Who exported what is audited.
    let (status, body) = http(h.http, "GET", "/api/v1/audit", Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    let audit: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert!(
        audit.iter().any(|a| a["user"] == "supervisor"
            && a["action"] == "interaction_export"
            && a["target"] == id.as_str()),
        "{body}"
    );
    assert!(
        !audit
            .iter()
            .any(|a| a["user"] == "agent1001" && a["action"] == "interaction_export"),
        "a refused export is not an export: {body}"
    );
}

/// `GET path` with a bearer token; status and the body's bytes (binary bodies).
fn http_bytes(h: &Hotline, path: &str, token: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(h.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\r\n",
        h.http
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header");
    let head = String::from_utf8_lossy(&resp[..split]).to_lowercase();
    assert!(
        !head.contains("transfer-encoding: chunked"),
        "a sized body: {head}"
    );
    let status = head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, resp[split + 4..].to_vec())
}

/// One ended call of `queue`, `age_days` old, recorded into `path` (a file written here),
/// written through the store with those dates.
async fn old_call(
    store: &hotline_store::Store,
    queue: &str,
    age_days: u64,
    path: &Path,
) -> hotline_model::InteractionId {
    use hotline_model::{Channel, EndReason, Event, EventKind, InteractionEvent, Timestamp};
    let id = hotline_model::InteractionId::new();
    let at = Timestamp::now()
        .checked_sub(Duration::from_secs(age_days * 86_400))
        .unwrap();
    let t = |s: u64| at.checked_add(Duration::from_secs(s)).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    common::write_wav(path, &sine(CALLER_HZ, 1.0));
    let kinds = [
        EventKind::Arrived {
            channel: Channel::Voice,
            from: "13800138000".into(),
            to: "95588".into(),
            trunk: None,
        },
        EventKind::Queued {
            queue: queue.into(),
            priority: 0,
        },
        EventKind::RecordingStarted {
            path: path.display().to_string(),
        },
        EventKind::Ended {
            reason: EndReason::CallerHangup,
        },
    ];
    let events: Vec<Event> = kinds
        .into_iter()
        .enumerate()
        .map(|(n, k)| Event::from(InteractionEvent::new(id, t(n as u64 * 10), k)))
        .collect();
    store.append(events).await.unwrap();
    id
}

#[test]
fn recordings_older_than_their_queues_retention_are_removed_and_audited_newer_ones_kept() {
    let top = tempfile::tempdir().unwrap();
    let data = top.path().join("data");
    let recs = data.join("recordings");
    let file = |day: &str, name: &str| recs.join(day).join(name);
    let (old_cards, old_accounts, new_cards, new_accounts) = (
        file("2026-10-01", "old-cards.wav"),
        file("2026-08-01", "old-accounts.wav"),
        file("2026-11-28", "new-cards.wav"),
        file("2026-11-01", "new-accounts.wav"),
    );
    // The log as a centre running for months would have left it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (gone_cards, gone_accounts) = rt.block_on(async {
        std::fs::create_dir_all(&data).unwrap();
        let store = hotline_store::Store::open(data.join("hotline.db"))
            .await
            .unwrap();
        let a = old_call(&store, "cards", 10, &old_cards).await;
        let b = old_call(&store, "accounts", 100, &old_accounts).await;
        old_call(&store, "cards", 2, &new_cards).await;
        old_call(&store, "accounts", 30, &new_accounts).await;
        store.close().await;
        (a, b)
    });
    // cards keeps 7 days, every other queue the centre's 90.
    let h = Hotline::serve_with_in(&data, |toml| {
        toml.replacen("[centre]\n", "[centre]\nrecording_retention_days = 90\n", 1)
            .replacen(
                "name = \"cards\"\n",
                "name = \"cards\"\nrecording_retention_days = 7\n",
                1,
            )
    });
    let sup = login(&h, "supervisor", "supervisor");
    // The task sweeps at start: poll its audit entries with a generous deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let removals = loop {
        let (status, body) = http(h.http, "GET", "/api/v1/audit", Some(&sup), None);
        assert_eq!(status, 200, "{body}");
        let audit: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        let removals: Vec<serde_json::Value> = audit
            .into_iter()
            .filter(|a| a["action"] == "recording_removed")
            .collect();
        if removals.len() >= 2 || std::time::Instant::now() > deadline {
            break removals;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(removals.len(), 2, "{removals:?}");
    assert!(
        removals.iter().all(|a| a["user"] == "retention"),
        "{removals:?}"
    );
    let targets: Vec<&str> = removals
        .iter()
        .filter_map(|a| a["target"].as_str())
        .collect();
    assert!(
        targets.contains(&gone_cards.to_string().as_str()),
        "{targets:?}"
    );
    assert!(
        targets.contains(&gone_accounts.to_string().as_str()),
        "{targets:?}"
    );
    assert!(
        !old_cards.exists(),
        "a cards recording of 10 days is removed"
    );
    assert!(
        !old_accounts.exists(),
        "an accounts recording of 100 days is removed"
    );
    assert!(new_cards.exists(), "a cards recording of 2 days is kept");
    assert!(
        new_accounts.exists(),
        "an accounts recording of 30 days is kept"
    );
    // The export says what is no longer there.
    let (status, archive) = http_bytes(
        &h,
        &format!("/api/v1/interactions/{gone_cards}/export"),
        &sup,
    );
    assert_eq!(status, 200);
    let files = untar(&archive);
    let manifest = &files.iter().find(|(n, _)| n == "manifest.json").unwrap().1;
    let manifest: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    assert_eq!(
        manifest["missing_recordings"][0]["path"],
        old_cards.display().to_string(),
        "{manifest}"
    );
    assert!(!files.iter().any(|(n, _)| n.starts_with("recordings/")));
}
