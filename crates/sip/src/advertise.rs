//! Which address hotline advertises to a peer: in Via, in Contact and in SDP.
//!
//! A listen address such as `0.0.0.0` is where hotline receives, not an address a peer can
//! send to. For each peer the address is, in order: the configured address of the interface
//! the peer is reached through (`[[sip.interfaces]]`), the centre-wide `sip.advertise` (or
//! `media.advertise` for SDP), or the interface's own address as the kernel's routing table
//! chooses it for that peer. A wildcard address is never advertised.
//!
//! The routing lookup is a UDP socket "connected" to the peer (no packet is sent): the
//! kernel fills in the source address it would use.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// One interface's advertised addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceRule {
    pub address: IpAddr,
    pub sip: Option<IpAddr>,
    pub media: Option<IpAddr>,
}

/// The advertising rules of a centre.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertiser {
    /// The SIP listen address (may be a wildcard).
    pub listen: IpAddr,
    pub sip: Option<IpAddr>,
    pub media: Option<IpAddr>,
    pub interfaces: Vec<InterfaceRule>,
}

impl Advertiser {
    pub fn from_config(cfg: &hotline_config::Config, listen: IpAddr) -> Self {
        Advertiser {
            listen,
            sip: cfg.sip.advertise,
            media: cfg.media.advertise,
            interfaces: cfg
                .sip
                .interfaces
                .iter()
                .map(|i| InterfaceRule {
                    address: i.address,
                    sip: i.advertise,
                    media: i.media_advertise,
                })
                .collect(),
        }
    }

    /// Advertises the listen address as it is (a specific address, no rules).
    pub fn plain(listen: IpAddr) -> Self {
        Advertiser {
            listen,
            sip: None,
            media: None,
            interfaces: Vec::new(),
        }
    }

    /// The local address messages to `peer` leave from.
    pub fn local_for(&self, peer: IpAddr) -> IpAddr {
        if !self.listen.is_unspecified() {
            return self.listen;
        }
        route_source(peer).unwrap_or_else(|| fallback(peer))
    }

    fn interface(&self, local: IpAddr) -> Option<&InterfaceRule> {
        self.interfaces.iter().find(|i| i.address == local)
    }

    /// The address for Via and Contact on messages to `peer`.
    pub fn sip_for(&self, peer: IpAddr) -> IpAddr {
        if let Some(sip) = self.sip
            && self.interfaces.is_empty()
        {
            // One address for everyone: no need to ask where the peer is reached through.
            return sip;
        }
        let local = self.local_for(peer);
        self.interface(local)
            .and_then(|i| i.sip)
            .or(self.sip)
            .unwrap_or(local)
    }

    /// The address for SDP offered or answered to `peer`.
    pub fn media_for(&self, peer: IpAddr) -> IpAddr {
        let local = self.local_for(peer);
        let iface = self.interface(local);
        iface
            .and_then(|i| i.media)
            .or(self.media)
            .or(iface.and_then(|i| i.sip))
            .or(self.sip)
            .unwrap_or(local)
    }
}

/// The source address the kernel would use towards `peer`, if it has a route; asked of the
/// kernel at most once per peer every [`ROUTE_TTL`] (a lookup costs four system calls, and
/// it is needed for every message that leaves a wildcard listener).
pub fn route_source(peer: IpAddr) -> Option<IpAddr> {
    static ROUTES: std::sync::LazyLock<
        parking_lot::Mutex<std::collections::HashMap<IpAddr, (IpAddr, std::time::Instant)>>,
    > = std::sync::LazyLock::new(Default::default);
    let now = std::time::Instant::now();
    if let Some((ip, at)) = ROUTES.lock().get(&peer)
        && now.duration_since(*at) < ROUTE_TTL
    {
        return Some(*ip);
    }
    let ip = ask_route_source(peer)?;
    let mut routes = ROUTES.lock();
    if routes.len() >= ROUTE_CACHE {
        routes.retain(|_, (_, at)| now.duration_since(*at) < ROUTE_TTL);
        if routes.len() >= ROUTE_CACHE {
            routes.clear();
        }
    }
    routes.insert(peer, (ip, now));
    Some(ip)
}

/// How long a peer's route is trusted before the kernel is asked again.
const ROUTE_TTL: std::time::Duration = std::time::Duration::from_secs(10);
/// Peers whose routes are remembered at once.
const ROUTE_CACHE: usize = 8192;

fn ask_route_source(peer: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = match peer {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let s = UdpSocket::bind(bind).ok()?;
    // Connecting a UDP socket sends nothing; the port only has to be non-zero.
    s.connect(SocketAddr::new(peer, 9)).ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// Without a route the peer cannot be reached anyway; loopback at least is never a wildcard.
fn fallback(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// Whether an address belongs to a private, shared (carrier-grade NAT), link-local or
/// unique-local range: one that a phone behind a NAT would put in its Contact or SDP.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private() || v4.is_link_local() || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments()[0];
            (s & 0xfe00) == 0xfc00 || (s & 0xffc0) == 0xfe80
        }
    }
}

/// The host of a SIP URI such as `sip:1001@10.0.0.5:5062;transport=udp`, when it is an IP
/// address.
pub fn uri_ip(uri: &str) -> Option<IpAddr> {
    let s = uri.trim().trim_start_matches('<');
    let s = s
        .strip_prefix("sips:")
        .or_else(|| s.strip_prefix("sip:"))
        .unwrap_or(s);
    let host = match s.rfind('@') {
        Some(at) => &s[at + 1..],
        None => s,
    };
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let end = host.find([':', ';', '>', '?']).unwrap_or(host.len());
    host[..end].parse().ok()
}

/// Whether a peer whose signalling comes from `source` but who names `declared` (its Contact
/// host, its SDP address) is behind a NAT: it names a private address while it really sends
/// from a public one. (Between private networks, a carrier's media gateway may well be
/// another host than its signalling: such peers are taken at their word.)
pub fn behind_nat(declared: IpAddr, source: IpAddr) -> bool {
    declared != source && is_private(declared) && !is_private(source) && !source.is_loopback()
}

/// The address to send a NATed peer's media to until its first packet is seen: the host its
/// signalling comes from, with the port it declared. Other peers are taken at their word.
pub fn media_target(declared: SocketAddr, signalling: IpAddr) -> SocketAddr {
    if behind_nat(declared.ip(), signalling) {
        SocketAddr::new(signalling, declared.port())
    } else {
        declared
    }
}

/// Replaces a wildcard host in the top Via of an outgoing request with `ip`. Responses (and
/// requests whose Via names a real address) are left alone. Returns the new message, or
/// `None` when nothing needs to change.
pub fn fix_via(data: &[u8], ip: IpAddr) -> Option<Vec<u8>> {
    fix_via_with(data, || ip)
}

/// [`fix_via`] with the address asked for only when a wildcard Via is found.
pub fn fix_via_with(data: &[u8], ip: impl FnOnce() -> IpAddr) -> Option<Vec<u8>> {
    let (line_start, text) = top_via(data)?;
    for (wildcard, spaced) in [("0.0.0.0", " 0.0.0.0"), ("[::]", " [::]")] {
        if let Some(at) = text.find(spaced) {
            return Some(splice(
                data,
                line_start + at + 1,
                wildcard.len(),
                &host(ip()),
            ));
        }
    }
    None
}

/// The top Via header line of an outgoing request (full or compact name, any case): where
/// the line starts in `data`, and its text. `None` for a response or a request without one.
fn top_via(data: &[u8]) -> Option<(usize, &str)> {
    if data.starts_with(b"SIP/") {
        return None;
    }
    let head_end = memchr::memmem::find(data, b"\r\n\r\n").unwrap_or(data.len());
    let head = &data[..head_end];
    let mut pos = 0;
    while let Some(nl) = memchr::memmem::find(&head[pos..], b"\r\n") {
        let line_start = pos + nl + 2;
        let line = &head[line_start..];
        let is_via = line.len() > 4
            && (line[..4].eq_ignore_ascii_case(b"via:") || line[..2].eq_ignore_ascii_case(b"v:"));
        if is_via {
            let line_end = memchr::memmem::find(line, b"\r\n").unwrap_or(line.len());
            return Some((line_start, std::str::from_utf8(&line[..line_end]).ok()?));
        }
        pos = line_start;
    }
    None
}

/// `data` with `len` bytes at `from` replaced by `with`.
fn splice(data: &[u8], from: usize, len: usize, with: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + with.len());
    out.extend_from_slice(&data[..from]);
    out.extend_from_slice(with.as_bytes());
    out.extend_from_slice(&data[from + len..]);
    out
}

/// An address as a URI or Via host: IPv6 in brackets.
fn host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// hotline's Contact URI towards `peer`: the address advertised for it (never a wildcard),
/// the listener's `port`, and `;transport=` when `transport` names one.
pub fn contact_uri(adv: &Advertiser, peer: IpAddr, port: u16, transport: Option<&str>) -> String {
    let host = host(adv.sip_for(peer));
    match transport {
        Some(t) => format!("sip:hotline@{host}:{port};transport={t}"),
        None => format!("sip:hotline@{host}:{port}"),
    }
}

/// Sets the sent-by (host and port) of the top Via of an outgoing request to `ip:port`,
/// whatever the stack wrote there (TLS requests get its first listener's address and port).
/// Responses are left alone. Returns the new message, or `None` when nothing needs to change.
pub fn set_via_sent_by(data: &[u8], ip: IpAddr, port: u16) -> Option<Vec<u8>> {
    let (line_start, text) = top_via(data)?;
    // `Via: SIP/2.0/TLS host:port;params`: the sent-by follows the protocol token.
    let colon = text.find(':')?;
    let after_name = colon + 1;
    let proto_start =
        after_name + (text.len() - after_name - text[after_name..].trim_start().len());
    let proto_len = text[proto_start..].find(char::is_whitespace)?;
    let rest = &text[proto_start + proto_len..];
    let host_start = proto_start + proto_len + (rest.len() - rest.trim_start().len());
    let host_len = text[host_start..]
        .find([';', ',', ' ', '\t'])
        .unwrap_or(text.len() - host_start);
    let sent_by = format!("{}:{port}", host(ip));
    if text[host_start..host_start + host_len] == sent_by {
        return None;
    }
    Some(splice(data, line_start + host_start, host_len, &sent_by))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_specific_listen_address_is_advertised_as_it_is() {
        let a = Advertiser::plain(ip("192.0.2.7"));
        assert_eq!(a.sip_for(ip("198.51.100.1")), ip("192.0.2.7"));
        assert_eq!(a.media_for(ip("198.51.100.1")), ip("192.0.2.7"));
    }

    #[test]
    fn a_wildcard_becomes_the_routes_source_never_a_wildcard() {
        let a = Advertiser::plain(ip("0.0.0.0"));
        assert_eq!(a.sip_for(ip("127.0.0.1")), ip("127.0.0.1"));
        let any = a.sip_for(ip("192.0.2.1"));
        assert!(!any.is_unspecified(), "{any}");
        let a6 = Advertiser::plain(ip("::"));
        assert!(!a6.media_for(ip("::1")).is_unspecified());
    }

    #[test]
    fn interface_rules_come_first_then_the_centre_wide_addresses() {
        let a = Advertiser {
            listen: ip("0.0.0.0"),
            sip: Some(ip("203.0.113.5")),
            media: None,
            interfaces: vec![InterfaceRule {
                address: ip("127.0.0.1"),
                sip: Some(ip("127.0.0.1")),
                media: None,
            }],
        };
        // Loopback peers are reached through the loopback interface, which has its rule.
        assert_eq!(a.sip_for(ip("127.0.0.1")), ip("127.0.0.1"));
        assert_eq!(a.media_for(ip("127.0.0.1")), ip("127.0.0.1"));
        let b = Advertiser {
            listen: ip("192.0.2.7"),
            sip: Some(ip("203.0.113.5")),
            media: Some(ip("203.0.113.6")),
            interfaces: vec![],
        };
        assert_eq!(b.sip_for(ip("198.51.100.1")), ip("203.0.113.5"));
        assert_eq!(b.media_for(ip("198.51.100.1")), ip("203.0.113.6"));
    }

    #[test]
    fn nat_is_a_private_declared_address_behind_another_source() {
        assert!(behind_nat(ip("10.0.0.5"), ip("203.0.113.9")));
        assert!(behind_nat(ip("192.168.1.20"), ip("198.51.100.3")));
        assert!(behind_nat(ip("100.64.1.1"), ip("198.51.100.3")));
        assert!(!behind_nat(ip("10.0.0.5"), ip("10.0.0.5")));
        assert!(!behind_nat(ip("198.51.100.7"), ip("198.51.100.3")));
        assert!(!behind_nat(ip("10.0.0.5"), ip("127.0.0.1")));
        assert!(!behind_nat(ip("10.1.1.1"), ip("10.2.2.2")));
        let sdp: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        assert_eq!(
            media_target(sdp, ip("203.0.113.9")),
            "203.0.113.9:4000".parse().unwrap()
        );
        let carrier: SocketAddr = "198.51.100.20:30000".parse().unwrap();
        assert_eq!(media_target(carrier, ip("198.51.100.3")), carrier);
    }

    #[test]
    fn uri_hosts() {
        assert_eq!(
            uri_ip("sip:1001@10.0.0.5:5062;transport=udp"),
            Some(ip("10.0.0.5"))
        );
        assert_eq!(uri_ip("<sip:1001@[fd00::1]:5060>"), Some(ip("fd00::1")));
        assert_eq!(uri_ip("sip:pbx.example.com"), None);
        assert_eq!(uri_ip("sip:192.0.2.1"), Some(ip("192.0.2.1")));
    }

    #[test]
    fn a_wildcard_via_is_replaced_in_requests_only() {
        let req = b"INVITE sip:1001@10.0.0.5 SIP/2.0\r\nVia: SIP/2.0/UDP 0.0.0.0:5060;branch=z9hG4bK1;rport\r\nFrom: <sip:a@0.0.0.0>\r\n\r\nv=0\r\n";
        let out = fix_via(req, ip("203.0.113.5")).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK1;rport\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\nv=0\r\n"));
        let resp = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 0.0.0.0:5060\r\n\r\n";
        assert_eq!(fix_via(resp, ip("203.0.113.5")), None);
        let fine = b"BYE sip:x SIP/2.0\r\nv: SIP/2.0/UDP 192.0.2.1:5060\r\n\r\n";
        assert_eq!(fix_via(fine, ip("203.0.113.5")), None);
    }

    #[test]
    fn tls_via_gets_the_advertised_host_and_the_tls_port() {
        let req = b"BYE sip:1001@10.0.0.5 SIP/2.0\r\nVia: SIP/2.0/TLS 0.0.0.0:5060;branch=z9hG4bK1;rport\r\nv: SIP/2.0/TLS 10.9.9.9:5061\r\n\r\nbody Via: SIP/2.0/TLS 0.0.0.0:5060";
        let out = set_via_sent_by(req, ip("203.0.113.5"), 5061).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("\r\nVia: SIP/2.0/TLS 203.0.113.5:5061;branch=z9hG4bK1;rport\r\nv: SIP/2.0/TLS 10.9.9.9:5061\r\n"),
            "{text}"
        );
        assert!(
            text.ends_with("body Via: SIP/2.0/TLS 0.0.0.0:5060"),
            "{text}"
        );
        // A specific address with the UDP port, a compact header, IPv6, no port at all.
        let compact = b"INVITE sip:x SIP/2.0\r\nv:SIP/2.0/TLS 192.0.2.1:5060\r\n\r\n";
        let text =
            String::from_utf8(set_via_sent_by(compact, ip("192.0.2.1"), 5061).unwrap()).unwrap();
        assert!(text.contains("v:SIP/2.0/TLS 192.0.2.1:5061\r\n"), "{text}");
        let v6 = b"ACK sip:x SIP/2.0\r\nVia: SIP/2.0/TLS [::];branch=z9hG4bK2\r\n\r\n";
        let text =
            String::from_utf8(set_via_sent_by(v6, ip("2001:db8::7"), 5061).unwrap()).unwrap();
        assert!(
            text.contains("Via: SIP/2.0/TLS [2001:db8::7]:5061;branch=z9hG4bK2\r\n"),
            "{text}"
        );
        // Already right, or a response: nothing changes.
        let fine = b"BYE sip:x SIP/2.0\r\nVia: SIP/2.0/TLS 203.0.113.5:5061;branch=z\r\n\r\n";
        assert_eq!(set_via_sent_by(fine, ip("203.0.113.5"), 5061), None);
        let resp = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 0.0.0.0:5060\r\n\r\n";
        assert_eq!(set_via_sent_by(resp, ip("203.0.113.5"), 5061), None);
    }

    #[test]
    fn tls_contact_names_the_advertised_host_the_tls_port_and_transport() {
        // `tls_listen = "0.0.0.0:5061"` with no rules: the route's source address.
        let wild = Advertiser::plain(ip("0.0.0.0"));
        assert_eq!(
            contact_uri(&wild, ip("127.0.0.1"), 5061, Some("tls")),
            "sip:hotline@127.0.0.1:5061;transport=tls"
        );
        let c = contact_uri(&wild, ip("192.0.2.1"), 5061, Some("tls"));
        assert!(
            !c.contains("0.0.0.0") && c.ends_with(":5061;transport=tls"),
            "{c}"
        );
        // The centre-wide `sip.advertise`, and an interface's own.
        let adv = Advertiser {
            listen: ip("0.0.0.0"),
            sip: Some(ip("203.0.113.5")),
            media: None,
            interfaces: vec![],
        };
        assert_eq!(
            contact_uri(&adv, ip("198.51.100.1"), 5061, Some("tls")),
            "sip:hotline@203.0.113.5:5061;transport=tls"
        );
        let iface = Advertiser {
            listen: ip("0.0.0.0"),
            sip: Some(ip("203.0.113.5")),
            media: None,
            interfaces: vec![InterfaceRule {
                address: ip("127.0.0.1"),
                sip: Some(ip("198.51.100.77")),
                media: None,
            }],
        };
        assert_eq!(
            contact_uri(&iface, ip("127.0.0.1"), 5061, Some("tls")),
            "sip:hotline@198.51.100.77:5061;transport=tls"
        );
        let v6 = Advertiser::plain(ip("2001:db8::5"));
        assert_eq!(
            contact_uri(&v6, ip("2001:db8::9"), 5060, None),
            "sip:hotline@[2001:db8::5]:5060"
        );
    }
}
