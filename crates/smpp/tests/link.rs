//! The link (the tokio shell around the session) end to end.
//!
//! Most tests run against a real SMSC: `tests/smsc/fake_smsc.py` on PyPI `smpp34` 1.5.0 (a
//! Rust SMPP engine shipped as a Python wheel; see `TESTPEER.md`). The package is taken from
//! `HOTLINE_SMPP34_DIR` (which `scripts/test.sh` fills), or installed with pip into this
//! test's scratch directory. Only when that variable is unset and pip cannot install it are
//! those tests skipped, with the reason printed. One test plays a broken SMSC itself over a
//! plain socket and always runs.
//!
//! Every wait is for an event, a log line of the SMSC, or a socket: no test sleeps.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hotline_smpp::link::{Link, LinkConfig, LinkEvent};
use hotline_smpp::{
    Address, BindResp, Body, Config, FrameSplitter, MessageState, Pdu, SubmitError, SubmitHandle,
    SubmitRequest,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const SMPP34: &str = "smpp34==1.5.0";
/// The longest any single wait may take before the test fails.
const WAIT: Duration = Duration::from_secs(15);
const CUSTOMER: &str = "447700900123";
const OUR_NUMBER: &str = "8800";

/// Where `smpp34` can be imported from, installed if needed; `None` (skip) only when the
/// environment did not promise it and pip cannot fetch it.
fn smpp34_dir() -> Option<PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let promised = std::env::var_os("HOTLINE_SMPP34_DIR").map(PathBuf::from);
        let dir = promised
            .clone()
            .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("smpp34-1.5.0"));
        if importable(&dir) {
            return Some(dir);
        }
        let install = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--upgrade", "--target"])
            .arg(&dir)
            .arg(SMPP34)
            .output();
        let why = match install {
            Ok(out) if out.status.success() && importable(&dir) => return Some(dir),
            Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            Err(e) => format!("python3: {e}"),
        };
        assert!(
            promised.is_none(),
            "HOTLINE_SMPP34_DIR={} holds no smpp34 and pip could not install {SMPP34} there: {why}",
            dir.display()
        );
        eprintln!("skipped: pip could not install {SMPP34} ({why}); scripts/test.sh installs it");
        None
    })
    .clone()
}

fn importable(dir: &Path) -> bool {
    Command::new("python3")
        .args(["-c", "import smpp34"])
        .env("PYTHONPATH", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    hotline_testports::tcp_port()
}

/// `fake_smsc.py` running on a loopback port, its stdout read line by line.
struct Smsc {
    child: Child,
    port: u16,
    lines: mpsc::UnboundedReceiver<String>,
    log: Vec<String>,
}

impl Smsc {
    /// Starts it and returns once it listens.
    async fn start(deps: &Path, port: u16, args: &[&str]) -> Smsc {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smsc/fake_smsc.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", &port.to_string()])
            // A stray process does not outlive a crashed test run by long.
            .args(["--seconds", "120"])
            .args(args)
            .env("PYTHONPATH", deps)
            .env("PYTHONUTF8", "1")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start fake_smsc.py");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut smsc = Smsc {
            child,
            port,
            lines,
            log: Vec::new(),
        };
        smsc.line("LISTENING").await;
        smsc
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The next line of its log containing `needle`.
    async fn line(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Ok(None) => panic!("the SMSC ended before {needle:?}; its log: {:#?}", self.log),
                Err(_) => panic!(
                    "no {needle:?} from the SMSC in {WAIT:?}; its log: {:#?}",
                    self.log
                ),
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Smsc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The link's events, each waited for with a time limit and kept for failure messages.
struct Events {
    rx: mpsc::Receiver<LinkEvent>,
    start: Instant,
    seen: Vec<String>,
}

impl Events {
    fn new(rx: mpsc::Receiver<LinkEvent>) -> Events {
        Events {
            rx,
            start: Instant::now(),
            seen: Vec::new(),
        }
    }

    fn ms(&self) -> u128 {
        self.start.elapsed().as_millis()
    }

    async fn next(&mut self) -> LinkEvent {
        match tokio::time::timeout(WAIT, self.rx.recv()).await {
            Ok(Some(event)) => {
                self.seen.push(format!("{:>5} ms  {event:?}", self.ms()));
                event
            }
            Ok(None) => panic!("the link stopped; its events: {:#?}", self.seen),
            Err(_) => panic!("no event in {WAIT:?}; so far: {:#?}", self.seen),
        }
    }

    /// Waits for the event `pick` accepts, passing over the ones `pass` allows.
    async fn until<T>(
        &mut self,
        mut pick: impl FnMut(&LinkEvent) -> Option<T>,
        pass: impl Fn(&LinkEvent) -> bool,
    ) -> T {
        loop {
            let event = self.next().await;
            if let Some(t) = pick(&event) {
                return t;
            }
            assert!(pass(&event), "unexpected; events: {:#?}", self.seen);
        }
    }

    /// Waits for the channel to close (the link task has ended); returns what came before.
    async fn end(&mut self) -> Vec<LinkEvent> {
        let mut rest = Vec::new();
        loop {
            match tokio::time::timeout(WAIT, self.rx.recv()).await {
                Ok(Some(event)) => {
                    self.seen.push(format!("{:>5} ms  {event:?}", self.ms()));
                    rest.push(event);
                }
                Ok(None) => return rest,
                Err(_) => panic!(
                    "the link did not stop in {WAIT:?}; events: {:#?}",
                    self.seen
                ),
            }
        }
    }

    fn print(&self, test: &str) {
        println!("{test}:");
        for line in &self.seen {
            println!("  {line}");
        }
    }
}

fn config() -> Config {
    let mut c = Config::new("hotline", "secret");
    c.response_timeout = Duration::from_secs(5);
    c.throttle_backoff = Duration::from_millis(300);
    c.reconnect_backoff.initial = Duration::from_millis(100);
    c.reconnect_backoff.max = Duration::from_millis(400);
    c
}

fn request(text: &str) -> SubmitRequest {
    SubmitRequest::new(
        Address::new(0, 1, OUR_NUMBER),
        Address::international(CUSTOMER),
        text,
    )
}

/// The link has stopped after unbinding: its last event says the connection ended, either
/// with the SMSC's `unbind_resp` or, as smpp34 does once it has sent a `deliver_sm` on the
/// session, with the SMSC closing the socket without answering.
async fn assert_ends_after_unbind(events: &mut Events) {
    let rest = events.end().await;
    assert!(
        matches!(&rest[..], [LinkEvent::Disconnected { reason }]
            if reason == "unbound" || reason == "the SMSC closed the connection"),
        "{rest:?}"
    );
}

/// Waits until a one-segment message is accepted as `id` and receipted as delivered, in
/// either order (the SMSC sends the receipt and the `submit_sm_resp` at once). Returns when
/// it was accepted.
async fn accepted_and_delivered(events: &mut Events, handle: SubmitHandle, id: &str) -> Instant {
    let (mut accepted, mut receipted) = (None, false);
    loop {
        match events.next().await {
            LinkEvent::Submitted {
                handle: h,
                message_ids,
            } if h == handle => {
                assert_eq!(message_ids, [id]);
                accepted = Some(Instant::now());
            }
            LinkEvent::Receipt { receipt, .. } => {
                assert_eq!(
                    (receipt.message_id.as_str(), receipt.state),
                    (id, MessageState::Delivered)
                );
                receipted = true;
            }
            _ => panic!("unexpected; events: {:#?}", events.seen),
        }
        if let (Some(at), true) = (accepted, receipted) {
            return at;
        }
    }
}

fn is_bound(e: &LinkEvent) -> Option<()> {
    matches!(e, LinkEvent::Bound { .. }).then_some(())
}

fn connect_failed(e: &LinkEvent) -> bool {
    matches!(e, LinkEvent::Disconnected { reason } if reason.starts_with("connect to"))
}

/// The `sm=` bytes of a `SUBMIT id=...` log line, with its `dcs=`.
fn submitted_bytes(line: &str) -> (u8, Vec<u8>) {
    let field = |key: &str| {
        line.split(' ')
            .find_map(|w| w.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {line:?}"))
    };
    let dcs = field("dcs=").parse().expect("dcs is a number");
    let hex = field("sm=");
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    (dcs, bytes)
}

/// A UCS-2 segment as (its position, its text), the UDH stripped.
fn ucs2_segment(sm: &[u8]) -> (u8, String) {
    let udh_len = usize::from(sm[0]);
    // 05 00 03 ref total seq: a concatenation UDH with an 8-bit reference.
    assert_eq!(&sm[1..3], &[0, 3], "UDH {sm:02x?}");
    let units: Vec<u16> = sm[1 + udh_len..]
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    (sm[5], String::from_utf16(&units).expect("UTF-16"))
}

#[tokio::test]
async fn submits_gsm7_and_long_ucs2_and_gets_a_receipt_per_segment() {
    let Some(deps) = smpp34_dir() else { return };
    let mut smsc = Smsc::start(&deps, free_port(), &[]).await;
    let (link, rx) = Link::spawn(LinkConfig::new(smsc.address(), config()));
    let mut events = Events::new(rx);
    assert!(
        matches!(events.next().await, LinkEvent::Bound { system_id } if system_id == "FAKESMSC")
    );
    assert!(link.is_bound());
    let bound_ms = events.ms();

    let gsm = "Hello from hotline: €5 [ok]";
    let long: String = (0..200)
        .map(|i| char::from_u32(0x4E00 + i).expect("a CJK ideograph"))
        .collect();
    let short = link.submit(request(gsm)).await.expect("submit GSM-7");
    let chinese = link.submit(request(&long)).await.expect("submit UCS-2");

    let mut ids: Vec<(SubmitHandle, Vec<String>)> = Vec::new();
    let mut receipts = Vec::new();
    while ids.len() < 2 || receipts.len() < 4 {
        match events.next().await {
            LinkEvent::Submitted {
                handle,
                message_ids,
            } => ids.push((handle, message_ids)),
            LinkEvent::Receipt { receipt, from, .. } => {
                assert_eq!(from.addr, CUSTOMER);
                receipts.push(*receipt);
            }
            _ => panic!("unexpected; events: {:#?}", events.seen),
        }
    }
    let done_ms = events.ms();
    ids.sort();
    assert_eq!(ids[0].0, short);
    assert_eq!(ids[0].1.len(), 1, "GSM-7 fits one segment");
    assert_eq!(ids[1].0, chinese);
    assert_eq!(ids[1].1.len(), 3, "200 UCS-2 chars take 3 segments of 67");
    let mut all: Vec<&String> = ids.iter().flat_map(|(_, ids)| ids).collect();
    all.sort();
    let mut receipted: Vec<&String> = receipts.iter().map(|r| &r.message_id).collect();
    receipted.sort();
    assert_eq!(all, receipted, "one receipt per segment, naming its id");
    assert_eq!(all, ["msg-1", "msg-2", "msg-3", "msg-4"]);
    assert!(receipts.iter().all(|r| r.state == MessageState::Delivered));

    // What reached the SMSC: GSM-7 unpacked with escape pairs, and three UCS-2 segments
    // that join back to the text.
    let mut ucs2 = Vec::new();
    for _ in 0..4 {
        let line = smsc.line("SUBMIT id=").await;
        match submitted_bytes(&line) {
            (0, sm) => assert_eq!(sm, b"Hello from hotline: \x1b\x655 \x1b\x3cok\x1b\x3e"),
            (8, sm) => ucs2.push(ucs2_segment(&sm)),
            other => panic!("unexpected submit {other:?}"),
        }
    }
    ucs2.sort();
    assert_eq!(
        ucs2.iter().map(|(_, t)| t.as_str()).collect::<String>(),
        long
    );

    link.shutdown().await;
    assert_ends_after_unbind(&mut events).await;
    smsc.line("UNBOUND").await;
    events.print("submit");
    println!(
        "  bound after {bound_ms} ms; 2 messages (4 segments) accepted and receipted {} ms later",
        done_ms - bound_ms
    );
}

#[tokio::test]
async fn mobile_originated_messages_arrive_whole() {
    let Some(deps) = smpp34_dir() else { return };
    let long = "你好，我的订单还没有到，请帮我查一下。".repeat(8);
    let mut smsc = Smsc::start(
        &deps,
        free_port(),
        &["--mo", "Hi from the SMSC", "--mo-ucs2", &long],
    )
    .await;
    let (link, rx) = Link::spawn(LinkConfig::new(smsc.address(), config()));
    let mut events = Events::new(rx);
    events.until(is_bound, |_| false).await;

    let mut messages = Vec::new();
    while messages.len() < 2 {
        match events.next().await {
            LinkEvent::Message(m) => messages.push(m),
            _ => panic!("unexpected; events: {:#?}", events.seen),
        }
    }
    let [gsm, ucs2] = &messages[..] else {
        unreachable!()
    };
    assert_eq!(gsm.text, "Hi from the SMSC");
    assert_eq!((gsm.data_coding, gsm.segments), (0, 1));
    assert_eq!(ucs2.text, long);
    assert_eq!(ucs2.text.chars().count(), 152);
    assert_eq!((ucs2.data_coding, ucs2.segments), (8, 3));
    for m in &messages {
        assert_eq!(
            (m.from.addr.as_str(), m.to.addr.as_str()),
            (CUSTOMER, OUR_NUMBER)
        );
    }
    // Every deliver_sm was acknowledged with status 0.
    assert!(smsc.line("MO sent").await.ends_with("status=0"));
    for _ in 0..3 {
        assert!(smsc.line("MO-UCS2 part sent").await.ends_with("status=0"));
    }
    drop(link);
    assert_ends_after_unbind(&mut events).await;
    events.print("mobile originated");
}

#[tokio::test]
async fn a_message_submitted_while_the_smsc_is_down_goes_out_after_it_returns() {
    let Some(deps) = smpp34_dir() else { return };
    let port = free_port();
    let mut smsc = Smsc::start(&deps, port, &[]).await;
    let (link, rx) = Link::spawn(LinkConfig::new(smsc.address(), config()));
    let mut events = Events::new(rx);
    events.until(is_bound, |_| false).await;

    smsc.kill();
    let reason = events
        .until(
            |e| match e {
                LinkEvent::Disconnected { reason } => Some(reason.clone()),
                _ => None,
            },
            |_| false,
        )
        .await;
    assert!(!connect_failed(&LinkEvent::Disconnected { reason }));
    assert!(!link.is_bound());
    let down_ms = events.ms();

    let handle = link
        .submit(request("Sent while the SMSC was away"))
        .await
        .expect("queued while down");
    // It keeps trying, and fails, while nothing listens.
    events
        .until(|e| connect_failed(e).then_some(()), |_| false)
        .await;

    let mut smsc = Smsc::start(&deps, port, &[]).await;
    let back_ms = events.ms();
    events.until(is_bound, connect_failed).await;
    let bound_ms = events.ms();
    accepted_and_delivered(&mut events, handle, "msg-1").await;
    let line = smsc.line("SUBMIT id=msg-1").await;
    assert_eq!(submitted_bytes(&line).1, b"Sent while the SMSC was away");

    link.shutdown().await;
    assert_ends_after_unbind(&mut events).await;
    events.print("reconnect");
    println!(
        "  SMSC killed: disconnected at {down_ms} ms; restarted at {back_ms} ms; bound again {} ms later",
        bound_ms - back_ms
    );
}

#[tokio::test]
async fn a_throttled_submit_is_sent_again_and_delivered() {
    let Some(deps) = smpp34_dir() else { return };
    let mut smsc = Smsc::start(&deps, free_port(), &["--throttle-first"]).await;
    let (link, rx) = Link::spawn(LinkConfig::new(smsc.address(), config()));
    let mut events = Events::new(rx);
    events.until(is_bound, |_| false).await;

    let handle = link.submit(request("Try again")).await.expect("submit");
    let until = match events.next().await {
        LinkEvent::Throttled { until } => until,
        _ => panic!("unexpected; events: {:#?}", events.seen),
    };
    let throttled_ms = events.ms();
    smsc.line("SUBMIT throttled").await;
    let accepted = accepted_and_delivered(&mut events, handle, "msg-1").await;
    // Not before the pause the SMSC asked for.
    assert!(accepted >= until);
    let accepted_ms = accepted.saturating_duration_since(events.start).as_millis();
    let line = smsc.line("SUBMIT id=msg-1").await;
    assert_eq!(submitted_bytes(&line).1, b"Try again");

    link.shutdown().await;
    assert_ends_after_unbind(&mut events).await;
    events.print("throttle");
    println!(
        "  throttled at {throttled_ms} ms, accepted {} ms later (throttle_backoff 300 ms)",
        accepted_ms - throttled_ms
    );
}

/// Reads the next whole PDU the link wrote.
async fn read_pdu(stream: &mut TcpStream, frames: &mut FrameSplitter) -> Pdu {
    let mut buf = [0u8; 1024];
    loop {
        if let Some(frame) = frames.next_frame().expect("the link frames its PDUs") {
            return Pdu::decode(&frame).expect("the link sends valid PDUs");
        }
        let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .expect("a PDU in time")
            .expect("read");
        assert!(n > 0, "the link closed the connection");
        frames.push(&buf[..n]);
    }
}

async fn accept(listener: &TcpListener) -> (TcpStream, FrameSplitter) {
    let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("the link connects again")
        .expect("accept");
    (stream, FrameSplitter::default())
}

/// A broken SMSC, played over a plain socket: garbage, then silence, cost only the
/// connection; the link reconnects each time and binds with the first SMSC that answers.
/// Dropping the handle then unbinds and ends the task.
#[tokio::test]
async fn a_broken_smsc_costs_the_connection_not_the_link() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let address = listener.local_addr().expect("address").to_string();
    let mut cfg = config();
    cfg.response_timeout = Duration::from_millis(300);
    let (link, rx) = Link::spawn(LinkConfig::new(address, cfg));
    let mut events = Events::new(rx);
    let disconnected = |e: &LinkEvent| match e {
        LinkEvent::Disconnected { reason } => Some(reason.clone()),
        _ => None,
    };

    // 1. A header claiming a 4 GB PDU.
    let (mut peer, mut frames) = accept(&listener).await;
    let bind = read_pdu(&mut peer, &mut frames).await;
    assert!(matches!(bind.body, Body::BindTransceiver(_)));
    let mut garbage = vec![0xFF, 0xFF, 0xFF, 0xFF];
    garbage.extend_from_slice(&[0x80, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1]);
    peer.write_all(&garbage).await.expect("write");
    let reason = events.until(disconnected, |_| false).await;
    assert!(reason.starts_with("protocol error"), "{reason}");

    // 2. No answer to the bind.
    let (mut silent, mut frames) = accept(&listener).await;
    read_pdu(&mut silent, &mut frames).await;
    let reason = events.until(disconnected, |_| false).await;
    assert_eq!(reason, "a request got no response in time");

    // 3. A proper answer.
    let (mut peer, mut frames) = accept(&listener).await;
    let bind = read_pdu(&mut peer, &mut frames).await;
    let resp = Pdu::new(
        bind.sequence_number,
        Body::BindTransceiverResp(BindResp {
            system_id: "BROKEN".into(),
            ..BindResp::default()
        }),
    );
    peer.write_all(&resp.encode().expect("encode"))
        .await
        .expect("write");
    assert_eq!(
        events.next().await,
        LinkEvent::Bound {
            system_id: "BROKEN".into()
        }
    );

    // The last handle goes: the link unbinds and stops.
    let clone = link.clone();
    drop(link);
    assert!(clone.is_bound(), "one handle is still there");
    drop(clone);
    let unbind = read_pdu(&mut peer, &mut frames).await;
    assert!(matches!(unbind.body, Body::Unbind));
    let resp = Pdu::new(unbind.sequence_number, Body::UnbindResp);
    peer.write_all(&resp.encode().expect("encode"))
        .await
        .expect("write");
    assert_eq!(
        events.end().await,
        [LinkEvent::Disconnected {
            reason: "unbound".into()
        }]
    );
    events.print("broken SMSC");
}

/// With nothing listening, submits queue, connect attempts fail and are reported, and a
/// shutdown still ends the task at once; other handles then refuse to submit.
#[tokio::test]
async fn shutdown_while_the_smsc_is_unreachable() {
    let (link, rx) = Link::spawn(LinkConfig::new(
        format!("127.0.0.1:{}", free_port()),
        config(),
    ));
    let mut events = Events::new(rx);
    events
        .until(|e| connect_failed(e).then_some(()), |_| false)
        .await;
    link.submit(request("queued"))
        .await
        .expect("queued while down");
    let other = link.clone();
    let started = Instant::now();
    tokio::time::timeout(WAIT, link.shutdown())
        .await
        .expect("shutdown returns");
    let took = started.elapsed();
    assert_eq!(
        other.submit(request("too late")).await,
        Err(SubmitError::ShutDown)
    );
    assert!(!other.is_bound());
    events.end().await;
    events.print("unreachable");
    println!("  shutdown took {took:?}");
}
