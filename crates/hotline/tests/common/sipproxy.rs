//! Kamailio in front of hotline nodes, for the end-to-end tests: the repository's
//! configuration (deploy/kamailio) on a loopback port, and sipp phones and callers that know
//! only the proxy's address.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

pub const KAMAILIO: &str = "/usr/sbin/kamailio";

/// Whether Kamailio is installed; says so when it is not.
pub fn kamailio_installed() -> bool {
    let there = Path::new(KAMAILIO).exists();
    if !there {
        eprintln!("SKIP: {KAMAILIO} is absent (Debian package `kamailio`): proxy tests not run");
    }
    there
}

/// Kamailio in the foreground with the repository's configuration, its own runtime
/// directory and log, in front of `nodes` (the first preferred); stopped when dropped.
pub struct Kamailio {
    child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    /// The loopback ports the proxy takes as carriers (CARRIER_LIST): sipp callers call
    /// from these.
    pub carriers: [u16; 2],
}

impl Kamailio {
    pub fn start(nodes: [SocketAddr; 2]) -> Kamailio {
        // The carriers: two loopback ports (the callers'); nothing else on loopback.
        let carriers = [free_port("127.0.0.1"), free_port("127.0.0.1")];
        let port = free_port("127.0.0.1");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let lines = carriers.map(|p| format!("1 127.0.0.1 32 {p}")).to_vec();
        Kamailio::launch(None, addr, nodes, &lines, carriers)
    }

    /// Kamailio in network namespace `netns`, listening on `addr`, in front of `nodes`, taking
    /// any port of `carrier` (an address) as a carrier.
    pub fn start_in(
        netns: &str,
        addr: SocketAddr,
        nodes: [SocketAddr; 2],
        carrier: &str,
    ) -> Kamailio {
        let lines = vec![format!("1 {carrier} 32 0")];
        Kamailio::launch(Some(netns), addr, nodes, &lines, [0, 0])
    }

    fn launch(
        netns: Option<&str>,
        addr: SocketAddr,
        nodes: [SocketAddr; 2],
        carrier_lines: &[String],
        carriers: [u16; 2],
    ) -> Kamailio {
        let dir = tempfile::Builder::new()
            .prefix("sipproxy-kamailio-")
            .tempdir()
            .unwrap();
        let deploy = repo().join("deploy/kamailio");
        let list = std::fs::read_to_string(deploy.join("dispatcher.list"))
            .unwrap()
            .replace("NODE_A", &nodes[0].to_string())
            .replace("NODE_B", &nodes[1].to_string());
        let list_path = dir.path().join("dispatcher.list");
        std::fs::write(&list_path, list).unwrap();
        // The repository's list is a template of this form.
        let template = std::fs::read_to_string(deploy.join("carriers.list")).unwrap();
        assert!(
            template.lines().any(|l| l == "1 CARRIER 32 0"),
            "{template}"
        );
        let carrier_path = dir.path().join("carriers.list");
        std::fs::write(&carrier_path, carrier_lines.join("\n") + "\n").unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        let log = std::fs::File::create(dir.path().join("kamailio.log")).unwrap();
        let mut command = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, KAMAILIO]);
                c
            }
            None => Command::new(KAMAILIO),
        };
        let child = command
            .arg("-f")
            .arg(deploy.join("kamailio.cfg"))
            // Foreground, logging to stderr; small memory, two workers.
            .args(["-DD", "-E", "-n", "2", "-m", "32", "-M", "4"])
            .arg("-Y")
            .arg(&run)
            .arg("-P")
            .arg(run.join("kamailio.pid"))
            .arg("-A")
            .arg(format!("LISTEN=udp:{addr}"))
            .arg("-A")
            .arg("DOMAIN=\"hotline.test\"")
            .arg("-A")
            .arg(format!("DISPATCHER_LIST=\"{}\"", list_path.display()))
            .arg("-A")
            .arg(format!("CARRIER_LIST=\"{}\"", carrier_path.display()))
            // Keep-alives to NAT'd phones every 2 s, for the test to see one soon.
            .args(["-A", "NAT_KEEPALIVE=2"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kamailio starts");
        let mut k = Kamailio {
            child,
            addr,
            dir,
            carriers,
        };
        // Ready once it answers an OPTIONS to itself.
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = k.child.try_wait().unwrap() {
                panic!("kamailio exited ({status}):\n{}", k.log());
            }
            if options(addr).is_some_and(|(s, _)| s == 200) {
                break;
            }
            assert!(Instant::now() < end, "kamailio not ready:\n{}", k.log());
        }
        k
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kamailio.log")).unwrap_or_default()
    }

    /// Waits until the proxy has logged that `node` went `down` or came back `up` (its
    /// dispatcher's state changes, from deploy/kamailio/kamailio.cfg's event routes).
    pub fn wait_node(&self, node: SocketAddr, state: &str) {
        let line = format!("hotline node sip:{node} is {state}");
        wait_for(Duration::from_secs(30), &line, || {
            self.log().contains(&line).then_some(())
        });
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // SIGTERM: the main process stops its workers, then exits.
        // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let end = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() >= end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One OPTIONS to `to` over UDP: the final status and the whole answer, or `None` if nothing
/// answered within two seconds.
pub fn options(to: SocketAddr) -> Option<(u16, String)> {
    options_for(to, &format!("sip:{to}"), "")
}

/// [`options`] with another Request-URI and extra header lines (each ending in CRLF; a
/// `Max-Forwards` among them replaces the usual 70).
pub fn options_for(to: SocketAddr, ruri: &str, extra: &str) -> Option<(u16, String)> {
    request_for(to, "OPTIONS", ruri, extra)
}

/// One `method` request to `to` over UDP (see [`options_for`]; a `To` among the extra
/// lines replaces the usual one): the final status and the whole answer, or `None`.
pub fn request_for(to: SocketAddr, method: &str, ruri: &str, extra: &str) -> Option<(u16, String)> {
    let max_forwards = if extra.contains("Max-Forwards:") {
        ""
    } else {
        "Max-Forwards: 70\r\n"
    };
    let to_line = if extra.contains("To:") {
        String::new()
    } else {
        format!("To: <{ruri}>\r\n")
    };
    // From the address the machine would send to `to` from (loopback for loopback).
    let sock = UdpSocket::bind(if to.ip().is_loopback() {
        "127.0.0.1:0"
    } else {
        "0.0.0.0:0"
    })
    .ok()?;
    sock.connect(to).ok()?;
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    let local = sock.local_addr().ok()?;
    let id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        ^ u128::from(local.port());
    let msg = format!(
        "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{id:x}\r\n\
         From: <sip:probe@{local}>;tag=p{id:x}\r\n{to_line}Call-ID: {id:x}@probe\r\n\
         CSeq: 1 {method}\r\nContact: <sip:probe@{local}>\r\n{max_forwards}{extra}\
         Content-Length: 0\r\n\r\n"
    );
    let end = Instant::now() + Duration::from_secs(2);
    let mut buf = vec![0u8; 65_536];
    sock.send(msg.as_bytes()).ok()?;
    while Instant::now() < end {
        let Ok(n) = sock.recv(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let status: u16 = text.get(8..11)?.parse().ok()?;
        if status >= 200 {
            return Some((status, text));
        }
    }
    None
}

/// A scenario of tests/sipp with the proxy's port written in (`PROXY_PORT`) and `edits`
/// made; the file lives in `dir`.
pub fn scenario(dir: &Path, name: &str, proxy: SocketAddr, edits: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(repo().join("tests/sipp").join(name))
        .unwrap()
        .replace("PROXY_PORT", &proxy.port().to_string());
    for (from, to) in edits {
        assert!(text.contains(from), "{name} has no `{from}`");
        text = text.replace(from, to);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

pub fn data_dir(h: &Hotline) -> PathBuf {
    h.dir.path().join("data")
}

pub fn records(h: &Hotline) -> Vec<serde_json::Value> {
    let sup = login(h, "supervisor", "supervisor");
    let (status, body) = http(h.http, "GET", "/api/v1/interactions", Some(&sup), None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Waits until `h` has `n` records, all closed.
pub fn closed_records(h: &Hotline, n: usize) -> Vec<serde_json::Value> {
    wait_for(Duration::from_secs(60), "the records closed", || {
        let all = records(h);
        (all.len() >= n && all.iter().all(|r| r["ended"].is_string())).then_some(all)
    })
}

/// The agent phone `ext` registers through the proxy from `port` (a sipp UAS answers there
/// later).
pub fn register_through(k: &Kamailio, ext: &str, port: &str) {
    let pw = format!("pass{ext}");
    let (ok, log) = sipp_at(
        k.addr,
        "register.xml",
        &["-p", port, "-s", ext, "-au", ext, "-ap", &pw, "-m", "1"],
    );
    assert!(ok, "registration through the proxy: {log}\n{}", k.log());
}

/// The agent's phone answering one call through the proxy, echoing its audio.
pub fn phone_through(
    k: &Kamailio,
    scenarios: &Path,
    port: &str,
) -> std::thread::JoinHandle<(bool, String)> {
    phone_through_with(k, scenarios, port, &[])
}

/// [`phone_through`] with `edits` made to the phone's scenario.
pub fn phone_through_with(
    k: &Kamailio,
    scenarios: &Path,
    port: &str,
    edits: &[(&str, &str)],
) -> std::thread::JoinHandle<(bool, String)> {
    let agent = scenario(scenarios, "proxy-agent-answers.xml", k.addr, edits);
    phone_answers_once(k.addr, &agent, port, "90s")
}

/// A caller through the proxy (from the first carrier port): dials 95588, presses 1, waits
/// or talks for `talk_ms`, hangs up.
pub fn caller_through(
    k: &Kamailio,
    scenarios: &Path,
    talk_ms: u32,
) -> std::thread::JoinHandle<(bool, String)> {
    caller_through_from(k, scenarios, talk_ms, 0)
}

/// [`caller_through`] from carrier port `carrier` (0 or 1: two callers at once).
pub fn caller_through_from(
    k: &Kamailio,
    scenarios: &Path,
    talk_ms: u32,
    carrier: usize,
) -> std::thread::JoinHandle<(bool, String)> {
    let pause = format!("<pause milliseconds=\"{talk_ms}\"/>");
    let caller = scenario(
        scenarios,
        "proxy-caller-talks.xml",
        k.addr,
        &[("<pause milliseconds=\"4000\"/>", &pause)],
    );
    let (addr, port) = (k.addr, k.carriers[carrier].to_string());
    std::thread::spawn(move || sipp_at(addr, &caller, &["-p", &port, "-m", "1", "-timeout", "90s"]))
}
