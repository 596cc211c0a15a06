//! SIP over TLS and SRTP with real peers: certificates made at test time with the openssl
//! command, a rustls client for the refusals, and stock baresip as an agent's phone that
//! registers over TLS with SRTP required and talks to a caller from the trunk.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Hotline, free_port, http, login, rtp_pcap, sine, write_wav};

/// Runs openssl; panics with its output when it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl must be installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA: `<name>-ca.pem` and `<name>-ca.key` in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}-ca.key"),
            "-out",
            &format!("{name}-ca.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A certificate `<name>.pem`/`<name>.key` signed by CA `ca`: for a server at 127.0.0.1, or
/// a client.
fn make_cert(dir: &Path, ca: &str, name: &str, server: bool) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={}", if server { "127.0.0.1" } else { name }),
        ],
    );
    let ext = if server {
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n"
    } else {
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=clientAuth\n"
    };
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}-ca.pem"),
            "-CAkey",
            &format!("{ca}-ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &format!("{name}.pem"),
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

fn pem_certs(path: &Path) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(|c| c.unwrap())
        .collect()
}

/// A TLS client trusting `ca`, optionally presenting `client` (`<name>.pem`/`.key`).
fn tls_client(dir: &Path, ca: &str, client: Option<&str>) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in pem_certs(&dir.join(format!("{ca}-ca.pem"))) {
        roots.add(c).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let cfg = match client {
        Some(name) => b
            .with_client_auth_cert(
                pem_certs(&dir.join(format!("{name}.pem"))),
                PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key"))).unwrap(),
            )
            .unwrap(),
        None => b.with_no_client_auth(),
    };
    Arc::new(cfg)
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Connects and completes the handshake; the server's end-entity certificate on success.
fn tls_connect(addr: SocketAddr, cfg: Arc<rustls::ClientConfig>) -> Result<(Tls, Vec<u8>), String> {
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let conn = rustls::ClientConnection::new(cfg, name).map_err(|e| e.to_string())?;
    let sock = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| e.to_string())?;
    }
    let cert = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    Ok((tls, cert))
}

/// Sends one SIP request and reads responses until a final one (or the connection ends).
fn request(tls: &mut Tls, msg: &str) -> Result<String, String> {
    tls.write_all(msg.as_bytes()).map_err(|e| e.to_string())?;
    tls.flush().map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tls.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!(
                "connection closed after {:?}",
                String::from_utf8_lossy(&got)
            ));
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        // A final response: a status line not 1xx, with its headers complete.
        for resp in text.split("SIP/2.0 ").skip(1) {
            if !resp.starts_with('1') && resp.contains("\r\n\r\n") {
                return Ok(format!("SIP/2.0 {resp}"));
            }
        }
    }
}

fn options(local: SocketAddr) -> String {
    format!(
        "OPTIONS sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bK-o{}\r\n\
         From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:hotline@127.0.0.1>\r\n\
         Call-ID: opt-{}@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        local.port(),
        local.port()
    )
}

/// An INVITE to 95588 offering plain RTP (RTP/AVP, no key).
fn plain_invite(local: SocketAddr) -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 40000 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\n";
    format!(
        "INVITE sip:95588@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bK-i{}\r\n\
         From: <sip:13800138000@127.0.0.1>;tag=c1\r\nTo: <sip:95588@127.0.0.1>\r\n\
         Call-ID: inv-{}@test\r\nCSeq: 1 INVITE\r\nContact: <sip:13800138000@{local};transport=tls>\r\n\
         Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        local.port(),
        local.port(),
        sdp.len()
    )
}

/// hotline with TLS on a free port, its certificate from `dir`, and `extra` config edits.
fn tls_hotline(dir: &Path, tls_port: u16, extra: impl Fn(String) -> String) -> Hotline {
    tls_hotline_at(dir, &format!("127.0.0.1:{tls_port}"), extra)
}

/// hotline with TLS listening on `listen`, its certificate from `dir`, and `extra` edits.
fn tls_hotline_at(dir: &Path, listen: &str, extra: impl Fn(String) -> String) -> Hotline {
    let cert = dir.join("server.pem");
    let key = dir.join("server.key");
    Hotline::serve_with(move |toml| {
        let toml = toml.replace(
            "realm = \"hotline\"\n",
            &format!(
                "realm = \"hotline\"\ntls_listen = \"{listen}\"\n\
                 tls_cert = \"{}\"\ntls_key = \"{}\"\n",
                cert.display(),
                key.display()
            ),
        );
        extra(toml)
    })
}

fn deadline_loop<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn tls_refuses_wrong_certificates_reloads_its_own_and_srtp_required_refuses_plain_rtp() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_ca(d, "centre");
    make_ca(d, "trunk");
    make_ca(d, "rogue");
    make_ca(d, "carrier");
    make_cert(d, "centre", "server", true);
    make_cert(d, "trunk", "bank-gw", false);
    make_cert(d, "rogue", "impostor", false);
    let tls_port = free_port("127.0.0.1");
    let trunk_ca = d.join("trunk-ca.pem");
    let carrier_ca = d.join("carrier-ca.pem");
    // The demo's carrier (trusted by its source, 127.0.0.1) must now also present a
    // certificate of its own CA.
    let h = tls_hotline(d, tls_port, |toml| {
        let toml = toml.replace(
            "sources = [\"127.0.0.1/32\"]\n",
            &format!(
                "sources = [\"127.0.0.1/32\"]\ntls_client_ca = \"{}\"\n",
                carrier_ca.display()
            ),
        );
        format!(
            "{toml}\n[[trunks]]\nname = \"secure-carrier\"\ntls_client_ca = \"{}\"\nsrtp = \"required\"\n",
            trunk_ca.display()
        )
    });
    let addr: SocketAddr = format!("127.0.0.1:{tls_port}").parse().unwrap();

    // A client that does not trust the centre's certificate gives up.
    let e = tls_connect(addr, tls_client(d, "rogue", None)).unwrap_err();
    assert!(
        e.contains("UnknownIssuer") || e.contains("certificate"),
        "{e}"
    );

    // A client certificate from a CA no trunk trusts is refused by the centre.
    let refused =
        tls_connect(addr, tls_client(d, "centre", Some("impostor"))).and_then(|(mut tls, _)| {
            let local = tls.sock.local_addr().unwrap();
            request(&mut tls, &options(local))
        });
    assert!(
        refused.is_err(),
        "an unknown client certificate was accepted: {refused:?}"
    );

    // A phone with no client certificate may talk (agents register over TLS like this).
    let (mut tls, first_cert) = tls_connect(addr, tls_client(d, "centre", None)).unwrap();
    let local = tls.sock.local_addr().unwrap();
    let resp = request(&mut tls, &options(local)).unwrap();
    assert!(resp.starts_with("SIP/2.0 200"), "{resp}");
    // But a call from the carrier's address without the carrier's certificate is refused.
    let resp = request(&mut tls, &plain_invite(local)).unwrap();
    assert!(resp.starts_with("SIP/2.0 403"), "{resp}");
    assert!(resp.contains("client certificate required"), "{resp}");

    // The trunk's certificate identifies it; its policy is SRTP required, and plain RTP
    // offered is refused with 488 and a Warning that says why.
    let (mut tls, _) = tls_connect(addr, tls_client(d, "centre", Some("bank-gw"))).unwrap();
    let local = tls.sock.local_addr().unwrap();
    let resp = request(&mut tls, &plain_invite(local)).unwrap();
    assert!(resp.starts_with("SIP/2.0 488"), "{resp}");
    let warning = resp
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("warning:"))
        .unwrap_or_else(|| panic!("no Warning in {resp}"));
    assert!(warning.contains("SRTP required"), "{warning}");

    // A new certificate in the files is served without a restart.
    make_ca(d, "next");
    make_cert(d, "next", "server", true);
    let new_cert = deadline_loop("the new certificate", 30, || {
        let (_, cert) = tls_connect(addr, tls_client(d, "next", None)).ok()?;
        Some(cert)
    });
    assert_ne!(new_cert, first_cert);
    // A broken file is not taken: the certificate in use stays.
    std::fs::write(d.join("server.key"), "not a key").unwrap();
    let sip_metrics = || h.get("/metrics").1;
    deadline_loop("the failed reload", 30, || {
        sip_metrics()
            .lines()
            .any(|l| {
                l.starts_with("hotline_sip_tls_reloads_total{outcome=\"failed\"}")
                    && !l.ends_with(" 0")
            })
            .then_some(())
    });
    let (_, still) = tls_connect(addr, tls_client(d, "next", None)).unwrap();
    assert_eq!(still, new_cert);
}

/// A WAV file's samples of one channel, and its sample rate.
fn wav_channel(path: &Path, channel: usize) -> (Vec<f64>, u32) {
    let data = std::fs::read(path).unwrap();
    assert_eq!(&data[0..4], b"RIFF", "{}", path.display());
    let channels = usize::from(u16::from_le_bytes([data[22], data[23]]));
    let rate = u32::from_le_bytes([data[24], data[25], data[26], data[27]]);
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
    let samples = pcm
        .chunks_exact(2)
        .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])))
        .skip(channel)
        .step_by(channels)
        .collect();
    (samples, rate)
}

/// How many 128 ms windows of `x` are dominated by a tone at `freq` (Goertzel power against
/// the window's energy: near 1 for a pure tone, near 0 for anything else).
fn tone_windows(x: &[f64], rate: u32, freq: f64) -> usize {
    let n = (rate as usize) / 8;
    x.chunks_exact(n)
        .filter(|w| {
            let c = 2.0 * (2.0 * std::f64::consts::PI * freq / f64::from(rate)).cos();
            let (mut s1, mut s2) = (0.0, 0.0);
            for v in *w {
                let s = v + c * s1 - s2;
                s2 = s1;
                s1 = s;
            }
            let power = s1 * s1 + s2 * s2 - c * s1 * s2;
            let energy: f64 = w.iter().map(|v| v * v).sum();
            energy > 1e3 && power / (energy * n as f64 / 2.0) > 0.5
        })
        .count()
}

/// UDP datagrams of a pcap written by `tcpdump -i lo` (Linux cooked or Ethernet framing):
/// (source port, destination port, payload).
fn pcap_udp(path: &Path) -> Vec<(u16, u16, Vec<u8>)> {
    let data = std::fs::read(path).unwrap_or_default();
    if data.len() < 24 {
        return Vec::new();
    }
    let link = u32::from_le_bytes([data[20], data[21], data[22], data[23]]);
    let l2 = match link {
        1 => 14,   // Ethernet
        113 => 16, // Linux cooked v1
        276 => 20, // Linux cooked v2
        0 => 4,    // BSD loopback
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let caplen =
            u32::from_le_bytes([data[off + 8], data[off + 9], data[off + 10], data[off + 11]])
                as usize;
        let pkt = &data[off + 16..(off + 16 + caplen).min(data.len())];
        off += 16 + caplen;
        let Some(ip) = pkt.get(l2..) else { continue };
        if ip.len() < 28 || ip[0] >> 4 != 4 || ip[9] != 17 {
            continue;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let Some(udp) = ip.get(ihl..) else { continue };
        if udp.len() < 8 {
            continue;
        }
        let sport = u16::from_be_bytes([udp[0], udp[1]]);
        let dport = u16::from_be_bytes([udp[2], udp[3]]);
        out.push((sport, dport, udp[8..].to_vec()));
    }
    out
}

/// A tcpdump capture of UDP on the loopback interface, running until dropped.
struct Capture {
    child: Child,
    path: PathBuf,
}

impl Capture {
    /// Captures UDP to and from `port`. `None` (with a message) where packets cannot be
    /// captured here (no tcpdump, not root).
    fn start(path: PathBuf, port: u16) -> Option<Capture> {
        let mut child = match Command::new("tcpdump")
            .args(["-i", "lo", "-U", "-n", "-s", "0", "-w"])
            .arg(&path)
            .args(["udp", "port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                println!("SKIPPED the capture of what goes to the phone: no tcpdump ({e})");
                return None;
            }
        };
        // tcpdump says "listening on lo" once it captures.
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if line.contains("listening on") {
                std::thread::spawn(move || for _ in lines {});
                return Some(Capture { child, path });
            }
            if line.contains("ermission") || line.contains("Operation not permitted") {
                println!("SKIPPED the capture of what goes to the phone: {line}");
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
        println!("SKIPPED the capture of what goes to the phone: tcpdump did not start");
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    fn stop(mut self) -> Vec<(u16, u16, Vec<u8>)> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        pcap_udp(&self.path)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stock baresip running with its own configuration directory; killed when dropped.
struct Baresip {
    child: Child,
    log: Arc<std::sync::Mutex<String>>,
}

impl Baresip {
    fn start(conf: &Path) -> Baresip {
        let mut child = Command::new("baresip")
            .arg("-f")
            .arg(conf)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("baresip must be installed (Debian package baresip)");
        let log = Arc::new(std::sync::Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        Baresip { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CALLER_HZ: f64 = 1000.0;
const AGENT_HZ: f64 = 440.0;

#[test]
fn baresip_over_tls_with_srtp_required_talks_both_ways_and_nothing_goes_to_it_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_ca(d, "centre");
    make_cert(d, "centre", "server", true);
    let tls_port = free_port("127.0.0.1");
    // Agent 1001's phone must use SRTP; MD5 only, which this baresip understands.
    let h = tls_hotline(d, tls_port, |toml| {
        toml.replace(
            "realm = \"hotline\"\n",
            "realm = \"hotline\"\ndigest_algorithms = [\"MD5\"]\n",
        )
        .replace(
            "extension = \"1001\"\n",
            "extension = \"1001\"\nsrtp = \"required\"\n",
        )
    });

    // The phone: its tone to send, where it records what it hears, TLS trusting the test CA.
    let conf = d.join("baresip");
    let heard = d.join("heard");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::create_dir_all(&heard).unwrap();
    let agent_wav = d.join("agent-tone.wav");
    write_wav(&agent_wav, &sine(AGENT_HZ, 60.0));
    let sip_port = free_port("127.0.0.1");
    // The phone's RTP port: an even free port whose neighbour (RTCP) is free too.
    let rtp_port = loop {
        let p = free_port("127.0.0.1");
        if p.is_multiple_of(2) && std::net::UdpSocket::bind(("127.0.0.1", p + 1)).is_ok() {
            break p;
        }
    };
    std::fs::write(
        conf.join("config"),
        format!(
            "poll_method\tepoll\n\
             net_interface\t127.0.0.1\n\
             sip_listen\t127.0.0.1:{sip_port}\n\
             rtp_ports\t{rtp_port}-{rtp_end}\n\
             sip_cafile\t{ca}\n\
             audio_source\taufile,{wav}\n\
             audio_alert\tnone\n\
             snd_path\t{heard}\n\
             module_path\t/usr/lib/baresip/modules\n\
             module\tg711.so\n\
             module\taufile.so\n\
             module\tsndfile.so\n\
             module\tsrtp.so\n\
             module_app\taccount.so\n\
             module_app\tmenu.so\n",
            ca = d.join("centre-ca.pem").display(),
            wav = agent_wav.display(),
            heard = heard.display(),
            rtp_end = rtp_port + 1,
        ),
    )
    .unwrap();
    std::fs::write(
        conf.join("accounts"),
        format!(
            "<sip:1001@127.0.0.1:{tls_port};transport=tls>;auth_pass=pass1001;\
             answermode=auto;mediaenc=srtp-mand;regint=600\n"
        ),
    )
    .unwrap();
    let phone = Baresip::start(&conf);
    let registered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        deadline_loop("baresip's registration over TLS", 30, || {
            let (_, m) = h.get("/metrics");
            m.lines()
                .any(|l| {
                    l.starts_with("hotline_sip_registrations_total{outcome=\"ok\"}")
                        && !l.ends_with(" 0")
                })
                .then_some(())
        })
    }));
    assert!(registered.is_ok(), "baresip: {}", phone.log());
    let token = login(&h, "agent1001", "pass1001");
    let (status, body) = http(
        h.http,
        "POST",
        "/api/v1/agents/1001/state",
        Some(&token),
        Some(r#"{"state":"available"}"#),
    );
    assert_eq!(status, 200, "{body}");

    // The caller from the trunk (plain RTP over UDP): presses 1, then sends its tone.
    let caller_pcap = d.join("caller-tone.pcap");
    rtp_pcap(
        &caller_pcap,
        hotline_media::Codec::Pcma,
        &sine(CALLER_HZ, 6.0),
    );
    let mut scenario =
        std::fs::read_to_string(common::repo().join("tests/sipp/caller-key-talk.xml")).unwrap();
    scenario = scenario
        .replace(
            "/usr/share/sip-tester/g711a.pcap",
            caller_pcap.to_str().unwrap(),
        )
        .replace(
            "<pause milliseconds=\"4000\"/>",
            "<pause milliseconds=\"8000\"/>",
        );
    let scenario_path = d.join("caller-tone.xml");
    std::fs::write(&scenario_path, scenario).unwrap();

    let capture = Capture::start(d.join("lo.pcap"), rtp_port);
    let (ok, log) = h.sipp(scenario_path.to_str().unwrap(), &["-m", "1"]);
    let packets = capture.map(Capture::stop);
    assert!(ok, "caller: {log}\nbaresip: {}", phone.log());

    // The interaction: answered by 1001, recorded in stereo.
    let sup = login(&h, "supervisor", "supervisor");
    let r = deadline_loop("the call's record", 30, || {
        let (_, body) = http(h.http, "GET", "/api/v1/interactions", Some(&sup), None);
        let all: Vec<serde_json::Value> = serde_json::from_str(&body).ok()?;
        all.into_iter()
            .find(|r| r["ended"].is_string() && r["recording"].is_string())
    });
    assert_eq!(r["agent"], "1001", "{r}\nbaresip: {}", phone.log());
    let recording = PathBuf::from(r["recording"].as_str().unwrap());
    let (left, rate) = wav_channel(&recording, 0);
    let (right, _) = wav_channel(&recording, 1);
    let caller_heard = tone_windows(&left, rate, CALLER_HZ);
    let agent_heard = tone_windows(&right, rate, AGENT_HZ);
    println!("recording: caller tone in {caller_heard} windows, agent tone in {agent_heard}");
    assert!(
        caller_heard >= 5,
        "the caller's tone is on the left: {caller_heard}"
    );
    assert!(
        agent_heard >= 5,
        "the phone's tone (sent by SRTP) is on the right: {agent_heard}\nbaresip: {}",
        phone.log()
    );
    assert!(
        tone_windows(&right, rate, CALLER_HZ) == 0,
        "the channels are apart"
    );

    // The phone heard the caller: hotline's SRTP decrypted by baresip.
    let dec = std::fs::read_dir(&heard)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("dec.wav"))
        .unwrap_or_else(|| panic!("baresip recorded nothing it heard\n{}", phone.log()));
    let (phone_in, phone_rate) = wav_channel(&dec, 0);
    let phone_heard = tone_windows(&phone_in, phone_rate, CALLER_HZ);
    println!("the phone heard the caller's tone in {phone_heard} windows");
    assert!(
        phone_heard >= 5,
        "the phone heard the caller: {phone_heard}"
    );

    // On the wire, to and from the phone's RTP port: every packet is SRTP (a 10-byte tag
    // after the 160 bytes of G.711, a payload no tone can be found in); a plain packet
    // carrying the caller's tone would be found (the same check finds it in the caller's
    // own capture).
    let tone_in_clear = |p: &[u8]| -> bool {
        if p.len() < 172 || p[0] >> 6 != 2 || !matches!(p[1] & 0x7f, 0 | 8) {
            return false;
        }
        let codec = if p[1] & 0x7f == 0 {
            hotline_media::Codec::Pcmu
        } else {
            hotline_media::Codec::Pcma
        };
        let mut pcm = [0i16; 160];
        codec.decode_slice(&p[12..172], &mut pcm);
        let x: Vec<f64> = pcm.iter().map(|s| f64::from(*s)).collect();
        tone_windows(&x.repeat(7), 8000, CALLER_HZ) > 0
    };
    let caller_packets = pcap_udp(&caller_pcap);
    assert!(
        caller_packets
            .iter()
            .filter(|(_, _, p)| tone_in_clear(p))
            .count()
            > 200,
        "the check finds the tone in plain RTP"
    );
    if let Some(packets) = packets {
        let to_phone: Vec<&Vec<u8>> = packets
            .iter()
            .filter(|(_, d, _)| *d == rtp_port)
            .map(|(_, _, p)| p)
            .collect();
        let from_phone = packets.iter().filter(|(s, _, _)| *s == rtp_port).count();
        println!(
            "captured {} packets to the phone, {from_phone} from it",
            to_phone.len()
        );
        assert!(
            to_phone.len() > 200,
            "audio went to the phone: {}",
            to_phone.len()
        );
        assert!(from_phone > 200, "audio came from the phone: {from_phone}");
        assert!(
            to_phone.iter().all(|p| p.len() == 182 && !tone_in_clear(p)),
            "every packet to the phone is SRTP"
        );
    }
    drop(phone);
}

/// Reads one whole SIP message (head and Content-Length body) from the connection.
fn read_sip(tls: &mut Tls, pending: &mut Vec<u8>) -> String {
    let mut buf = [0u8; 8192];
    loop {
        while pending.starts_with(b"\r\n") {
            pending.drain(..2);
        }
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            let body = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    let name = name.trim().to_ascii_lowercase();
                    (name == "content-length" || name == "l").then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0usize);
            if pending.len() >= end + 4 + body {
                let msg: Vec<u8> = pending.drain(..end + 4 + body).collect();
                return String::from_utf8_lossy(&msg).into_owned();
            }
        }
        let n = tls.read(&mut buf).expect("reading what hotline sends");
        assert!(
            n > 0,
            "hotline closed the connection after {:?}",
            String::from_utf8_lossy(pending)
        );
        pending.extend_from_slice(&buf[..n]);
    }
}

/// The values of a header (full or compact name) in a message's head.
fn header_values<'a>(msg: &'a str, name: &str, compact: &str) -> Vec<&'a str> {
    let head = msg.split("\r\n\r\n").next().unwrap_or("");
    head.lines()
        .skip(1)
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            let n = n.trim();
            (n.eq_ignore_ascii_case(name) || n.eq_ignore_ascii_case(compact)).then_some(v.trim())
        })
        .collect()
}

/// What hotline says about itself on a TLS connection: the top Via of a request it sends and
/// its Contact name the advertised address (never the wildcard it listens on) and the TLS port.
fn assert_advertised(msg: &str, tls_port: u16, contact_expected: bool) {
    let sent_by = format!("127.0.0.1:{tls_port}");
    if !msg.starts_with("SIP/2.0") {
        let via = header_values(msg, "via", "v");
        let top = via.first().unwrap_or_else(|| panic!("no Via in {msg}"));
        assert!(
            top.starts_with(&format!("SIP/2.0/TLS {sent_by};")),
            "top Via {top:?} in {msg}"
        );
    }
    let contact = header_values(msg, "contact", "m");
    if contact_expected {
        let c = contact
            .first()
            .unwrap_or_else(|| panic!("no Contact in {msg}"));
        // Parameter values are case-insensitive (RFC 3261 §19.1.4): the stack writes `TLS`.
        assert!(
            c.to_ascii_lowercase()
                .contains(&format!("@{sent_by};transport=tls")),
            "Contact {c:?} in {msg}"
        );
    }
    for line in header_values(msg, "via", "v").iter().chain(&contact) {
        assert!(!line.contains("0.0.0.0"), "a wildcard in {line:?}: {msg}");
    }
}

/// Registers `ext` over the connection (MD5 digest), with its Contact at the connection.
fn register_over_tls(tls: &mut Tls, ext: &str) {
    use hotline_sip::digest::{Algorithm, ha1};
    let local = tls.sock.local_addr().unwrap();
    let msg = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:hotline SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bK-r{cseq}\r\n\
             From: <sip:{ext}@hotline>;tag=r1\r\nTo: <sip:{ext}@hotline>\r\n\
             Call-ID: reg-{ext}-{}@test\r\nCSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{ext}@{local};transport=tls>\r\nMax-Forwards: 70\r\nExpires: 600\r\n\
             {auth}Content-Length: 0\r\n\r\n",
            local.port()
        )
    };
    let challenge = request(tls, &msg(1, "")).unwrap();
    assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no nonce in {challenge}"));
    let alg = Algorithm::Md5;
    let h1 = ha1(alg, ext, "hotline", &format!("pass{ext}"));
    let h2 = alg.hash("REGISTER:sip:hotline");
    let response = alg.hash(&format!("{h1}:{nonce}:00000001:cn0:auth:{h2}"));
    let auth = format!(
        "Authorization: Digest username=\"{ext}\", realm=\"hotline\", nonce=\"{nonce}\", \
         uri=\"sip:hotline\", response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, \
         cnonce=\"cn0\"\r\n"
    );
    let ok = request(tls, &msg(2, &auth)).unwrap();
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
}

#[test]
fn tls_on_a_wildcard_address_advertises_a_real_address_and_its_own_port() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_ca(d, "centre");
    make_cert(d, "centre", "server", true);
    let tls_port = free_port("0.0.0.0");
    // As docs/networking.md recommends: TLS on every interface.
    let h = tls_hotline_at(d, &format!("0.0.0.0:{tls_port}"), |t| t);
    let addr: SocketAddr = format!("127.0.0.1:{tls_port}").parse().unwrap();

    // A call from the carrier over TLS: the Contact of hotline's 200.
    let (mut caller, _) = tls_connect(addr, tls_client(d, "centre", None)).unwrap();
    let local = caller.sock.local_addr().unwrap();
    let ok = request(&mut caller, &plain_invite(local)).unwrap();
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    assert_advertised(&ok, tls_port, true);
    let to = header_values(&ok, "to", "t")[0].to_string();
    let ack = format!(
        "ACK sip:95588@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bK-a1\r\n\
         From: <sip:13800138000@127.0.0.1>;tag=c1\r\nTo: {to}\r\nCall-ID: inv-{}@test\r\n\
         CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        local.port()
    );
    caller.write_all(ack.as_bytes()).unwrap();
    let bye = format!(
        "BYE sip:95588@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bK-b1\r\n\
         From: <sip:13800138000@127.0.0.1>;tag=c1\r\nTo: {to}\r\nCall-ID: inv-{}@test\r\n\
         CSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        local.port()
    );
    let done = request(&mut caller, &bye).unwrap();
    assert!(done.starts_with("SIP/2.0 200"), "{done}");
    drop(caller);

    // An agent's phone over TLS: the requests hotline sends it (INVITE, ACK, BYE).
    let (mut phone, _) = tls_connect(addr, tls_client(d, "centre", None)).unwrap();
    phone
        .sock
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let me = phone.sock.local_addr().unwrap();
    register_over_tls(&mut phone, "1001");
    let token = login(&h, "agent1001", "pass1001");
    let (status, body) = http(
        h.http,
        "POST",
        "/api/v1/agents/1001/state",
        Some(&token),
        Some(r#"{"state":"available"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let sip = h.sip;
    let caller =
        std::thread::spawn(move || common::sipp_at(sip, "caller-key-talk.xml", &["-m", "1"]));
    let mut pending = Vec::new();
    let invite = read_sip(&mut phone, &mut pending);
    assert!(invite.starts_with("INVITE "), "{invite}");
    assert_advertised(&invite, tls_port, true);

    // Answer, as a phone does.
    let rtp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sdp = format!(
        "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n",
        rtp.local_addr().unwrap().port()
    );
    let copy = |msg: &str, name: &str, compact: &str| -> String {
        header_values(msg, name, compact)
            .iter()
            .map(|v| format!("{name}: {v}\r\n"))
            .collect()
    };
    let reply = |req: &str, status: &str, extra: &str, body: &str| -> String {
        let to = header_values(req, "to", "t")[0];
        let to = if to.contains("tag=") {
            to.to_string()
        } else {
            format!("{to};tag=phone1")
        };
        format!(
            "SIP/2.0 {status}\r\n{}{}To: {to}\r\n{}{}{extra}Content-Length: {}\r\n\r\n{body}",
            copy(req, "Via", "v"),
            copy(req, "From", "f"),
            copy(req, "Call-ID", "i"),
            copy(req, "CSeq", "cseq"),
            body.len()
        )
    };
    let answer = reply(
        &invite,
        "200 OK",
        &format!("Contact: <sip:1001@{me};transport=tls>\r\nContent-Type: application/sdp\r\n"),
        &sdp,
    );
    phone.write_all(answer.as_bytes()).unwrap();
    let ack = read_sip(&mut phone, &mut pending);
    assert!(ack.starts_with("ACK "), "{ack}");
    assert_advertised(&ack, tls_port, false);
    // The caller hangs up: hotline's BYE to the phone.
    let bye = read_sip(&mut phone, &mut pending);
    assert!(bye.starts_with("BYE "), "{bye}");
    assert_advertised(&bye, tls_port, false);
    phone
        .write_all(reply(&bye, "200 OK", "", "").as_bytes())
        .unwrap();
    let (ok, log) = caller.join().unwrap();
    assert!(ok, "caller: {log}");
}

#[test]
fn tls_and_tcp_connections_count_against_one_overall_cap() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_ca(d, "centre");
    make_cert(d, "centre", "server", true);
    let tls_port = free_port("127.0.0.1");
    let h = tls_hotline(d, tls_port, |t| {
        t.replace(
            "lockout_seconds = 300",
            "lockout_seconds = 300\ntcp_connections_total = 4",
        )
    });
    let addr: SocketAddr = format!("127.0.0.1:{tls_port}").parse().unwrap();
    let client = tls_client(d, "centre", None);
    // A keep-alive ping answered: the connection is being served (and so counted).
    let pong = |s: &mut dyn ReadWrite| -> bool {
        if s.write_all(b"\r\n\r\n").and_then(|_| s.flush()).is_err() {
            return false;
        }
        let mut b = [0u8; 2];
        s.read_exact(&mut b).is_ok() && &b == b"\r\n"
    };
    // Two plain TCP connections and two TLS ones are held.
    let mut tcp: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(h.sip).unwrap()).collect();
    for s in &mut tcp {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        assert!(pong(s), "a TCP connection is served");
    }
    let mut tls: Vec<Tls> = (0..2)
        .map(|_| tls_connect(addr, client.clone()).unwrap().0)
        .collect();
    for s in &mut tls {
        assert!(pong(s), "a TLS connection is served");
    }
    // The cap (4) counts both transports: a third TLS connection is closed before its
    // handshake, and so is a third TCP one.
    let refused = tls_connect(addr, client.clone()).and_then(|(mut s, _)| {
        pong(&mut s)
            .then_some(())
            .ok_or_else(|| "closed after the handshake".to_string())
    });
    assert!(refused.is_err(), "a fifth connection (TLS) was served");
    let mut fifth = TcpStream::connect(h.sip).unwrap();
    fifth
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert!(!pong(&mut fifth), "a fifth connection (TCP) was served");
    let (_, m) = h.get("/metrics");
    let rejected: f64 = m
        .lines()
        .find(|l| l.starts_with("hotline_sip_rejections_total{reason=\"tcp_connection_limit\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(rejected >= 2.0, "{m}");
    // A closed connection gives its place back: a TLS connection is served again.
    drop(tcp.pop());
    deadline_loop("a place for a new TLS connection", 30, || {
        let (mut s, _) = tls_connect(addr, client.clone()).ok()?;
        pong(&mut s).then_some(())
    });
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}
