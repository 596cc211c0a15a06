//! Free ports for tests that hand a port number to another process (sipp `-p`, a proxy's
//! trusted carrier port, a database server's `--port`).
//!
//! Asking the kernel for port 0, noting the number and closing the socket leaves the port
//! inside the kernel's ephemeral range. Until the other process binds it, any socket on the
//! machine that binds port 0 or connects may be given the same number, and the other process
//! then fails with "address already in use". On a machine running many tests that happens
//! now and then. The ports here come from outside the ephemeral range
//! (`/proc/sys/net/ipv4/ip_local_port_range`), which the kernel never hands out on its own,
//! and one process never hands out the same port twice in a row of the range.

use std::net::{TcpListener, UdpSocket};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The ports this process draws from: `(first, count)`.
fn span() -> (u32, u32) {
    static SPAN: OnceLock<(u32, u32)> = OnceLock::new();
    *SPAN.get_or_init(|| {
        let (lo, hi) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| {
                let mut it = s.split_whitespace().map(|n| n.parse::<u32>().ok());
                Some((it.next()??, it.next()??))
            })
            .unwrap_or((32768, 60999));
        if 65535u32.saturating_sub(hi) >= 1000 {
            (hi + 1, 65535 - hi)
        } else {
            // Below the range, clear of the well-known ports and of the fixed RTP ranges
            // that some tests configure (10000–30999).
            let first = 31000.min(lo.saturating_sub(1000));
            (first, lo.saturating_sub(first).max(1))
        }
    })
}

/// Where this process starts in [`span`]: different per process, so two test binaries run
/// side by side rarely try the same ports.
fn cursor() -> &'static AtomicU32 {
    static CURSOR: OnceLock<AtomicU32> = OnceLock::new();
    CURSOR.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        AtomicU32::new(std::process::id().wrapping_mul(7919).wrapping_add(nanos))
    })
}

/// Ports handed out are this far apart: a peer may bind the next few too (sipp's `-mp`
/// binds the port and the port + 2; RTP peers send RTCP to the port + 1).
const STRIDE: u32 = 4;

fn next_free(ok: impl Fn(u16) -> bool) -> u16 {
    let (first, count) = span();
    let slots = (count / STRIDE).max(1);
    for _ in 0..slots {
        let n = cursor().fetch_add(1, Ordering::Relaxed) % slots;
        let Ok(port) = u16::try_from(first + n * STRIDE) else {
            continue;
        };
        // The port and the ones after it in its stride, all free.
        let rest_free = (1..STRIDE as u16).all(|k| {
            port.checked_add(k)
                .is_some_and(|q| UdpSocket::bind(("127.0.0.1", q)).is_ok())
        });
        if rest_free && ok(port) {
            return port;
        }
    }
    panic!("no free port in {first}..{}", first + count);
}

/// A port on `ip` free right now for both UDP and TCP (sipp binds both).
pub fn port(ip: &str) -> u16 {
    next_free(|p| UdpSocket::bind((ip, p)).is_ok() && TcpListener::bind((ip, p)).is_ok())
}

/// A TCP port on 127.0.0.1 free right now.
pub fn tcp_port() -> u16 {
    next_free(|p| TcpListener::bind(("127.0.0.1", p)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_outside_the_ephemeral_range_and_not_repeated() {
        let (first, count) = span();
        let a = port("127.0.0.1");
        let b = port("127.0.0.1");
        assert!(a.abs_diff(b) >= STRIDE as u16, "{a} {b}");
        for p in [a, b, tcp_port()] {
            assert!((first..first + count).contains(&u32::from(p)), "{p}");
        }
        if let Ok(s) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range") {
            let v: Vec<u16> = s
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            assert!(!(v[0]..=v[1]).contains(&a), "{a} in {v:?}");
        }
    }

    #[test]
    fn a_port_in_use_is_skipped() {
        let (first, count) = span();
        // The port the cursor points at next, taken by someone else.
        let slots = count / STRIDE;
        let next = first + cursor().load(Ordering::Relaxed) % slots * STRIDE;
        let Ok(_held) = UdpSocket::bind(("127.0.0.1", next as u16)) else {
            return; // taken already: nothing to show
        };
        let got = port("127.0.0.1");
        assert_ne!(u32::from(got), next);
        assert!((first..first + count).contains(&u32::from(got)), "{got}");
    }
}
