//! Drives a [`Session`] over a real TCP connection to an SMSC, with a blocking std socket.
//!
//! Meant for `tests/smsc/run_smoke.sh`, against `tests/smsc/fake_smsc.py`:
//!
//! ```text
//! cargo run -p hotline-smpp --example smsc_smoke -- 127.0.0.1:2775
//! ```
//!
//! It binds, submits one GSM-7 text and one long UCS-2 text (3 segments) asking for
//! receipts, and waits for: both submits accepted, a receipt per segment, and the SMSC's
//! mobile-originated messages (one GSM-7, one long UCS-2 joined from segments). Exits 0 when
//! all arrived, 1 on timeout (15 s) or a lost connection.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hotline_smpp::{Address, Config, Event, Session, SubmitRequest};

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2775".into());
    let expect_mo_gsm = "Hi from the SMSC";
    let expect_mo_ucs2 = "中".repeat(100);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(15);

    let mut stream = match TcpStream::connect(&addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("connect {addr}: {e}");
            std::process::exit(1);
        }
    };
    let mut config = Config::new("hotline", "secret");
    config.enquire_link_interval = Duration::from_secs(2);
    let mut session = Session::new(config);
    session.connected(Instant::now());
    let long: String = (0..200)
        .map(|i| char::from_u32(0x4E00 + i).unwrap_or('?'))
        .collect();
    for text in ["Hello from hotline: €5 [ok]", long.as_str()] {
        let req = SubmitRequest::new(
            Address::new(0, 1, "8800"),
            Address::international("447700900123"),
            text,
        );
        if let Err(e) = session.submit(Instant::now(), req) {
            eprintln!("submit: {e}");
            std::process::exit(1);
        }
    }

    let (mut accepted, mut receipts, mut mo_gsm, mut mo_ucs2) = (0, 0, false, false);
    let mut buf = [0u8; 4096];
    loop {
        while let Some(bytes) = session.poll_transmit() {
            if let Err(e) = stream.write_all(&bytes) {
                eprintln!("write: {e}");
                std::process::exit(1);
            }
        }
        while let Some(ev) = session.poll_event() {
            println!("{:>6} ms  {ev:?}", start.elapsed().as_millis());
            match ev {
                Event::SubmitAccepted { .. } => accepted += 1,
                Event::Receipt { .. } => receipts += 1,
                Event::Delivered(m) if m.text == expect_mo_gsm => mo_gsm = true,
                Event::Delivered(m) if m.text == expect_mo_ucs2 && m.segments == 2 => {
                    mo_ucs2 = true
                }
                Event::ConnectionLost { .. } | Event::BindFailed { .. } => std::process::exit(1),
                _ => {}
            }
        }
        if accepted == 2 && receipts == 4 && mo_gsm && mo_ucs2 {
            println!("OK: 2 submits accepted, 4 receipts, 2 MO messages");
            session.unbind(Instant::now());
            while let Some(bytes) = session.poll_transmit() {
                let _ = stream.write_all(&bytes);
            }
            return;
        }
        let now = Instant::now();
        if now >= deadline {
            eprintln!(
                "timeout: accepted={accepted} receipts={receipts} mo_gsm={mo_gsm} mo_ucs2={mo_ucs2}"
            );
            std::process::exit(1);
        }
        let wake = session.poll_timeout().unwrap_or(deadline).min(deadline);
        let wait = wake
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        let _ = stream.set_read_timeout(Some(wait));
        match stream.read(&mut buf) {
            Ok(0) => {
                eprintln!("SMSC closed the connection");
                std::process::exit(1);
            }
            Ok(n) => session.handle_input(Instant::now(), &buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => {
                eprintln!("read: {e}");
                std::process::exit(1);
            }
        }
        session.handle_timeout(Instant::now());
    }
}
