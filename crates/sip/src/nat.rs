//! Phones behind NATs.
//!
//! A call's in-dialog requests (the ACK of its 200, a BYE, a re-INVITE) go to the phone's
//! Contact, which for a phone behind a NAT is a private address nobody else can reach.
//! [`NatFlows`] remembers, per call (Call-ID), the public flow the phone is really reached
//! at, and the UDP socket sends that call's requests there.
//!
//! A phone behind a NAT registers from a public address and port the NAT made up for it;
//! the NAT forgets that mapping after a quiet while (often 30 s for UDP), and hotline's
//! INVITE to the phone would then be dropped. For every binding whose Contact names a
//! private address while its REGISTER came from a public one, hotline sends a double-CRLF
//! keep-alive (RFC 5626 §4.4.1) on the phone's flow every interval: from the SIP socket to
//! the REGISTER's source, so the NAT sees the same flow. A phone answers with a CRLF pong or
//! ignores it; either way the mapping stays.
//!
//! Over TCP the phone's own connection is the flow: requests to the phone reuse it (the
//! transport layer keys connections by the phone's address), and the connection itself
//! keeps the NAT mapping while it is open; a phone's CRLF pings on it are answered with a
//! CRLF pong.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::advertise::{behind_nat, is_private, uri_ip};
use crate::registrar::{Binding, Registrar};

/// The public flow of each call with a phone behind a NAT, by Call-ID.
#[derive(Debug, Default)]
pub struct NatFlows {
    flows: parking_lot::Mutex<std::collections::HashMap<String, SocketAddr>>,
    any: std::sync::atomic::AtomicBool,
}

impl NatFlows {
    /// The call `call_id` reaches its phone at `flow`.
    pub fn insert(&self, call_id: &str, flow: SocketAddr) {
        let mut m = self.flows.lock();
        m.insert(call_id.to_string(), flow);
        self.any.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn remove(&self, call_id: &str) {
        let mut m = self.flows.lock();
        m.remove(call_id);
        self.any
            .store(!m.is_empty(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Where a datagram for `dest` really goes: the call's flow when `dest` is a private
    /// address (a NATed phone's Contact) and the message belongs to a call with one.
    pub fn redirect(&self, data: &[u8], dest: SocketAddr) -> Option<SocketAddr> {
        if !self.any.load(std::sync::atomic::Ordering::Relaxed) || !is_private(dest.ip()) {
            return None;
        }
        let call_id = call_id_of(data)?;
        let flow = *self.flows.lock().get(call_id)?;
        (flow != dest).then_some(flow)
    }
}

/// The Call-ID of a SIP message (full or compact header name).
pub fn call_id_of(data: &[u8]) -> Option<&str> {
    let end = memchr::memmem::find(data, b"\r\n\r\n").unwrap_or(data.len());
    let head = std::str::from_utf8(&data[..end]).ok()?;
    head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("call-id") || name.eq_ignore_ascii_case("i"))
            .then(|| value.trim())
    })
}

/// The keep-alive sent on a NATed phone's UDP flow.
pub const PING: &[u8] = b"\r\n\r\n";

/// The UDP flows among `bindings` that need keep-alives: phones whose Contact is a private
/// address behind a public source.
pub fn nated_udp_flows<'a>(bindings: impl IntoIterator<Item = &'a Binding>) -> Vec<SocketAddr> {
    let mut flows: Vec<SocketAddr> = bindings
        .into_iter()
        .filter(|b| b.transport == "udp")
        // A phone registered through a proxy (a Path) is reached through it: the proxy
        // keeps its flow open.
        .filter(|b| b.path.is_empty())
        .filter(|b| uri_ip(&b.uri).is_some_and(|ip| behind_nat(ip, b.source.ip())))
        .map(|b| b.source)
        .collect();
    flows.sort();
    flows.dedup();
    flows
}

/// Sends keep-alives to the NATed phones among `extensions` every `every` until cancelled.
pub async fn run_keepalives(
    registrar: Arc<Registrar>,
    sock: Arc<UdpSocket>,
    every: Duration,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = cancel.cancelled() => return,
        }
        let now = Instant::now();
        // Every extension registered now (agents added live included).
        let bindings: Vec<Binding> = registrar
            .registered()
            .iter()
            .flat_map(|e| registrar.lookup(e, now))
            .collect();
        for flow in nated_udp_flows(&bindings) {
            if let Err(e) = sock.send_to(PING, flow).await {
                debug!(%flow, error = %e, "keep-alive not sent");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(uri: &str, source: &str, transport: &'static str) -> Binding {
        Binding {
            uri: uri.to_string(),
            expires_at: Instant::now() + Duration::from_secs(60),
            call_id: "c".into(),
            cseq: 1,
            source: source.parse().unwrap(),
            transport,
            instance: None,
            reg_id: None,
            path: Vec::new(),
        }
    }

    #[test]
    fn requests_of_a_nated_call_go_to_its_flow() {
        let flows = NatFlows::default();
        let private: SocketAddr = "10.77.0.2:5062".parse().unwrap();
        let public: SocketAddr = "203.0.113.2:5062".parse().unwrap();
        let bye = b"BYE sip:agent@10.77.0.2:5062 SIP/2.0\r\nVia: SIP/2.0/UDP x\r\ni: abc@h\r\n\r\n";
        assert_eq!(flows.redirect(bye, private), None);
        flows.insert("abc@h", public);
        assert_eq!(flows.redirect(bye, private), Some(public));
        // Public destinations and other calls are left alone.
        assert_eq!(
            flows.redirect(bye, "198.51.100.2:5060".parse().unwrap()),
            None
        );
        let other = b"ACK sip:x@10.77.0.2 SIP/2.0\r\nCall-ID: zzz\r\n\r\n";
        assert_eq!(flows.redirect(other, private), None);
        flows.remove("abc@h");
        assert_eq!(flows.redirect(bye, private), None);
    }

    #[test]
    fn only_private_contacts_behind_another_source_get_keep_alives() {
        let all = [
            binding("sip:1001@10.0.0.5:5062", "203.0.113.9:40000", "udp"),
            binding("sip:1002@198.51.100.4:5060", "198.51.100.4:5060", "udp"),
            binding("sip:1003@192.168.1.3:5060", "192.168.1.3:5060", "udp"),
            binding("sip:1004@10.0.0.6:5062", "203.0.113.9:40002", "tcp"),
            binding(
                "sip:1005@10.0.0.7:5062;transport=udp",
                "203.0.113.9:40004",
                "udp",
            ),
            binding("sip:1006@10.0.0.5:5062", "203.0.113.9:40000", "udp"),
            // Registered through a proxy: the proxy keeps the flow.
            Binding {
                path: vec!["sip:203.0.113.50;lr".into()],
                ..binding("sip:1007@10.0.0.8:5062", "203.0.113.50:5060", "udp")
            },
        ];
        assert_eq!(
            nated_udp_flows(&all),
            vec![
                "203.0.113.9:40000".parse::<SocketAddr>().unwrap(),
                "203.0.113.9:40004".parse().unwrap()
            ]
        );
    }
}
