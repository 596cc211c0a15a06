//! Text messages end to end, with the real binary and a real SMSC (PyPI `smpp34` behind
//! `crates/smpp/tests/smsc/fake_smsc.py`): a customer's text and a long Chinese text (sent
//! in UCS-2 segments) arrive over SMPP and join one conversation, recognised by the
//! number; an agent answers from the desk's API with a long Chinese reply, which leaves in
//! UCS-2 segments that join back to the text, and the delivery receipts are logged against
//! it.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use serde_json::json;

const CUSTOMER: &str = "8613800138000";

/// Where `smpp34` can be imported from (`scripts/test.sh` installs it there); `None`
/// (skip) when it is not installed and pip cannot fetch it.
fn smpp34_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("HOTLINE_SMPP34_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("smpp34-1.5.0"));
    let importable = |d: &Path| {
        Command::new("python3")
            .args(["-c", "import smpp34"])
            .env("PYTHONPATH", d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if importable(&dir) {
        return Some(dir);
    }
    let _ = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--target"])
        .arg(&dir)
        .arg("smpp34==1.5.0")
        .status();
    if importable(&dir) {
        return Some(dir);
    }
    assert!(
        std::env::var_os("HOTLINE_SMPP34_DIR").is_none(),
        "HOTLINE_SMPP34_DIR holds no smpp34"
    );
    eprintln!("skipped: smpp34 cannot be installed; scripts/test.sh installs it");
    None
}

struct Smsc {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Smsc {
    fn start(deps: &Path, port: u16, args: &[&str]) -> Smsc {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../smpp/tests/smsc/fake_smsc.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", &port.to_string(), "--seconds", "120"])
            .args(args)
            .env("PYTHONPATH", deps)
            .env("PYTHONUTF8", "1")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start fake_smsc.py");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut smsc = Smsc {
            child,
            lines,
            log: Vec::new(),
        };
        smsc.line("LISTENING");
        smsc
    }

    /// The next line of its log containing `needle`.
    fn line(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no {needle:?} from the SMSC; its log: {:#?}", self.log),
            }
        }
    }
}

impl Drop for Smsc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UCS-2 segment as the SMSC logged it (`sm=` hex, a 6-byte UDH first): its place in
/// the message and its text.
fn ucs2_segment(line: &str) -> (u8, String) {
    let hex = line.rsplit("sm=").next().unwrap().trim();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(&bytes[..3], &[5, 0, 3], "a concatenation UDH: {line}");
    let units: Vec<u16> = bytes[6..]
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    (bytes[5], String::from_utf16(&units).unwrap())
}

#[test]
fn texts_arrive_over_smpp_join_one_conversation_and_the_reply_is_delivered() {
    let Some(deps) = smpp34_dir() else { return };
    let port = hotline_testports::tcp_port();
    let long_question: String = "我的信用卡在取款机里被吞了，请问怎么办？".repeat(4);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    import_customers_into(&data, &format!("id,name,phone\nC9,Wang Fang,+{CUSTOMER}\n"));
    // The centre starts before the SMSC: the link keeps trying until it is there.
    let h = Hotline::serve_with_in(&data, |t| {
        format!(
            "{t}\n[sms]\nnumber = \"95588\"\nqueue = \"chat\"\n\n[sms.smpp]\n\
             address = \"127.0.0.1:{port}\"\nsystem_id = \"hotline\"\npassword = \"secret\"\n"
        )
    });
    let sup = login(&h, "supervisor", "supervisor");
    let mut events = open_events(&h, &sup).unwrap();
    let mut smsc = Smsc::start(
        &deps,
        port,
        &[
            "--customer",
            CUSTOMER,
            "--our-number",
            "95588",
            "--mo",
            "Hello, my card is gone",
            "--mo-ucs2",
            &long_question,
        ],
    );
    smsc.line("BOUND system_id=hotline");
    // Both texts are in the log before the agent comes.
    let mut logged = Vec::new();
    while logged.len() < 2 {
        let e = next_event(&mut events);
        if e["kind"]["type"] == "message" {
            logged.push(e["interaction"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(logged[0], logged[1], "one conversation: {logged:?}");
    let agent = login(&h, "agent1007", "pass1007");
    let mut feed = WsClient::open(
        h.http,
        &format!("/api/v1/conversations/live?access_token={agent}"),
    )
    .unwrap();
    available(&h, "1007");
    let (offer, _) = feed.until("the offer", |v| v["type"] == "offer");
    let c = offer["conversation"].clone();
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["channel"], "sms", "{c}");
    assert_eq!(c["sms"]["number"], format!("+{CUSTOMER}"), "{c}");
    assert_eq!(c["name"], "Wang Fang", "known by the number: {c}");
    let texts: Vec<&str> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["Hello, my card is gone", long_question.as_str()],
        "the long text joined from its segments, in the same conversation"
    );
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/accept"),
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{body}");

    // A long Chinese reply leaves in UCS-2 segments that join back to it.
    let reply: String = "您好，我们已为您冻结此卡，新卡将在五个工作日内寄出。".repeat(5);
    let (status, body) = api(
        &h,
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(&json!({ "text": reply })),
    );
    assert_eq!(status, 200, "{body}");
    let seq = body["seq"].as_u64().expect("the reply's seq");
    // The segments go out in a window: the SMSC may log them in any order.
    let mut parts = Vec::new();
    let segments = reply.encode_utf16().count().div_ceil(67);
    for _ in 0..segments {
        let line = smsc.line("SUBMIT id=");
        assert!(line.contains(&format!("to={CUSTOMER}")), "{line}");
        assert!(line.contains("from=95588"), "{line}");
        assert!(line.contains("dcs=8"), "UCS-2: {line}");
        parts.push(ucs2_segment(&line));
    }
    parts.sort();
    let joined: String = parts.into_iter().map(|(_, t)| t).collect();
    assert_eq!(joined, reply);

    // The receipts come back: the reply is delivered, on the desk and in the log.
    let (delivered, _) = feed.until("the delivery", |v| {
        v["type"] == "status" && v["status"] == "delivered"
    });
    assert_eq!(delivered["seq"].as_u64(), Some(seq));
    let (_, transcript) = api(
        &h,
        &agent,
        "GET",
        &format!("/api/v1/interactions/{id}/transcript"),
        None,
    );
    let m = transcript["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["seq"].as_u64() == Some(seq))
        .unwrap();
    assert_eq!(m["status"], "delivered", "{transcript}");
    let (_, pop) = api(
        &h,
        &agent,
        "GET",
        &format!("/api/v1/interactions/{id}/screen-pop"),
        None,
    );
    let rec = &pop["interaction"];
    assert_eq!(rec["channel"], "sms", "{rec}");
    assert_eq!(rec["customer"], "C9", "{rec}");
    stop(h);
}
