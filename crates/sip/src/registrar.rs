//! The registrar and location service (RFC 3261 §10): where each agent's phones can be reached.
//!
//! Sans-IO: the SIP shell hands in a parsed REGISTER, the source, and `now`; the registrar
//! decides the answer and updates bindings. Authentication is checked here too, so that an
//! unknown extension is answered exactly like a known one with a wrong password.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::RwLock;
use tracing::{debug, info};

use crate::addr::{self, Contacts, NameAddr};
use crate::digest::{Algorithm, Authenticator, Check, Credentials};
use crate::message::RawMessage;

/// One registered contact of an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI, as registered (without brackets or header parameters).
    pub uri: String,
    pub expires_at: Instant,
    pub call_id: String,
    pub cseq: u32,
    /// Where the REGISTER really came from (for NAT'd phones).
    pub source: SocketAddr,
    /// `udp` or `tcp`.
    pub transport: &'static str,
    /// The phone's RFC 5626 instance id (`+sip.instance`), when it sent one: a later
    /// registration with the same id replaces this binding.
    pub instance: Option<String>,
    /// The RFC 5626 `reg-id`, with the instance id.
    pub reg_id: Option<u32>,
    /// The Path (RFC 3327) the REGISTER carried: the proxies' URIs, in order (the nearest
    /// to hotline first). Requests to the phone carry them as their `Route` set and go to
    /// the first; empty when the phone registered directly.
    pub path: Vec<String>,
}

impl Binding {
    /// The `&'static str` transport names bindings use, from their text (`udp`, `tcp`,
    /// `tls`); `None` for anything else.
    pub fn transport_named(name: &str) -> Option<&'static str> {
        match name {
            "udp" => Some("udp"),
            "tcp" => Some("tcp"),
            "tls" => Some("tls"),
            _ => None,
        }
    }

    /// Where requests to this contact are sent, and over which transport: the first Path
    /// hop when the phone registered through a proxy (see [`path_hop`]), else see
    /// [`route_to`].
    pub fn destination(&self) -> (SocketAddr, &'static str) {
        match self.path.first() {
            Some(hop) => path_hop(hop, self.source, self.transport),
            None => route_to(&self.uri, self.source, self.transport),
        }
    }

    /// The address the phone itself is at, for media: without a Path, where its REGISTER
    /// came from; through a proxy, the address the proxy saw it at (the first Path hop's
    /// `received` parameter, as Kamailio's `add_path_received` writes it), else the
    /// Contact's address, else the proxy's.
    pub fn phone_ip(&self) -> IpAddr {
        let Some(hop) = self.path.first() else {
            return self.source.ip();
        };
        let received = addr::parse_uri(hop).and_then(|u| {
            let r = u
                .params
                .iter()
                .find(|p| p.name.eq_ignore_ascii_case("received"))?
                .value
                .clone()?;
            addr::parse_uri(&unescape(&r))?.ip()
        });
        received
            .or_else(|| addr::parse_uri(&self.uri).and_then(|u| u.ip()))
            .unwrap_or(self.source.ip())
    }

    /// The Path as the store keeps it: the URIs, comma-separated, in order (a comma inside
    /// a URI is written `%2C`, which a SIP URI reads the same). `None` without a Path.
    pub fn path_text(&self) -> Option<String> {
        (!self.path.is_empty()).then(|| {
            self.path
                .iter()
                .map(|u| u.replace(',', "%2C"))
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    /// The Path back from [`Binding::path_text`]'s text.
    pub fn path_from_text(text: Option<&str>) -> Vec<String> {
        text.map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
    }
}

/// Undoes `%XX` escapes (URI parameter values); invalid escapes stay as they are.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where a request following a Path goes (RFC 3327 §5.3, RFC 3261 §8.1.2): to the first
/// hop's address, over the transport it names (else the one the REGISTER came over; TLS
/// for `sips`), on its port (else 5060, 5061 over TLS). A hop named by a host name is not
/// resolved here: the proxy the REGISTER came from is asked (it added the Path).
pub fn path_hop(
    hop: &str,
    source: SocketAddr,
    transport: &'static str,
) -> (SocketAddr, &'static str) {
    let Some(uri) = addr::parse_uri(hop) else {
        return (source, transport);
    };
    let Some(ip) = uri.ip() else {
        return (source, transport);
    };
    let t = match uri.transport().as_deref() {
        Some("tcp") => "tcp",
        Some("tls") => "tls",
        Some("udp") => "udp",
        _ if uri.scheme == "sips" => "tls",
        _ => transport,
    };
    let port = uri.port.unwrap_or(if t == "tls" { 5061 } else { 5060 });
    (SocketAddr::new(ip, port), t)
}

/// Where to send a request for a registered contact (RFC 3261 §8.1.2 with NAT traversal):
///
/// - the Contact names the address the REGISTER came from, or a host name: the source;
/// - the Contact is a private, loopback or link-local address and the REGISTER came from
///   elsewhere: the phone is behind a NAT, and only its source address is reachable;
/// - the Contact is a public address other than the source (a third-party registration,
///   or a phone registering through another interface): the Contact, as RFC 3261 says,
///   over the transport it names (else UDP), on its port (else 5060, 5061 for `sips`).
pub fn route_to(
    contact: &str,
    source: SocketAddr,
    transport: &'static str,
) -> (SocketAddr, &'static str) {
    let Some(uri) = addr::parse_uri(contact) else {
        return (source, transport);
    };
    let Some(ip) = uri.ip() else {
        return (source, transport);
    };
    if ip == source.ip() || !is_public(ip) {
        return (source, transport);
    }
    let contact_transport = match uri.transport().as_deref() {
        Some("tcp") => "tcp",
        Some("tls") => "tls",
        _ if uri.scheme == "sips" => "tls",
        _ => "udp",
    };
    let default_port = if contact_transport == "tls" {
        5061
    } else {
        5060
    };
    (
        SocketAddr::new(ip, uri.port.unwrap_or(default_port)),
        contact_transport,
    )
}

/// An address reachable from anywhere: not private, loopback, link-local, shared (CGNAT),
/// unique-local or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (o[0] == 100 && (o[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80)
                && v6
                    .to_ipv4_mapped()
                    .is_none_or(|v4| is_public(IpAddr::V4(v4)))
        }
    }
}

/// The answer the shell must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    /// What happened, for metrics: `ok`, `challenge`, `stale`, `failed`, `bad_request`, ...
    pub outcome: &'static str,
}

/// Registration rules.
#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
    pub max_contacts: usize,
    /// Digest algorithms offered, in order, unless the user has its own.
    pub algorithms: Vec<Algorithm>,
}

/// Stored credentials of one extension.
#[derive(Debug, Clone)]
pub struct Secret {
    pub ha1_md5: String,
    pub ha1_sha256: String,
}

/// Who may register and call in: agents' and trunks' credentials, trunks' trusted networks
/// and per-user digest algorithms. Replaced as a whole when the configuration changes live
/// (see [`Registrar::set_accounts`]); each request reads one consistent version.
#[derive(Debug, Default)]
struct Accounts {
    secrets: HashMap<String, Secret>,
    /// Trunks that authenticate with digest credentials: user name → (trunk name, secret).
    trunk_secrets: HashMap<String, (String, Secret)>,
    /// Trunks trusted by source network.
    trunk_sources: Vec<(ipnet::IpNet, String)>,
    /// Digest algorithms of agents (by extension) and trunks (by user name) that have their own.
    user_algorithms: HashMap<String, Vec<Algorithm>>,
}

impl Accounts {
    fn from_config(cfg: &hotline_config::Config) -> Accounts {
        let mut acc = Accounts::default();
        for a in &cfg.agents {
            acc.secrets.insert(
                a.extension.get_ref().clone(),
                Secret {
                    ha1_md5: a.ha1_md5.get_ref().clone(),
                    ha1_sha256: a.ha1_sha256.get_ref().clone(),
                },
            );
            if let Some(algs) = &a.digest_algorithms {
                acc.user_algorithms.insert(
                    a.extension.get_ref().clone(),
                    algs.iter().map(|x| (*x).into()).collect(),
                );
            }
        }
        acc.add_trunks(&cfg.trunks);
        acc
    }

    fn add_trunks(&mut self, trunks: &[hotline_config::Trunk]) {
        for t in trunks {
            for net in &t.sources {
                self.trunk_sources.push((*net, t.name.clone()));
            }
            if let (Some(user), Some(algs)) = (&t.username, &t.digest_algorithms) {
                self.user_algorithms
                    .insert(user.clone(), algs.iter().map(|a| (*a).into()).collect());
            }
            if let (Some(user), Some(md5), Some(sha)) = (&t.username, &t.ha1_md5, &t.ha1_sha256) {
                self.trunk_secrets.insert(
                    user.clone(),
                    (
                        t.name.clone(),
                        Secret {
                            ha1_md5: md5.get_ref().clone(),
                            ha1_sha256: sha.get_ref().clone(),
                        },
                    ),
                );
            }
        }
    }

    /// The digest algorithms offered to `user` (an extension or a trunk's user name).
    fn algorithms_for<'a>(&'a self, user: &str, default: &'a [Algorithm]) -> &'a [Algorithm] {
        self.user_algorithms.get(user).map_or(default, |a| a)
    }
}

pub struct Registrar {
    cfg: RegistrarConfig,
    auth: Authenticator,
    accounts: RwLock<Arc<Accounts>>,
    bindings: RwLock<HashMap<String, Vec<Binding>>>,
    /// Extensions whose bindings changed (registered, refreshed, removed) since the last
    /// [`Registrar::take_changed`]: what must be written down to survive a restart.
    changed: parking_lot::Mutex<HashSet<String>>,
    /// Woken when `changed` gains an extension.
    changed_notify: tokio::sync::Notify,
}

/// Who sent a request that needs an identity (an INVITE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A carrier trunk, by its trusted source address or its own digest credentials.
    Trunk(String),
    /// A registered agent's phone, by its digest credentials.
    Agent(String),
}

/// The outcome of identifying a request's sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identified {
    Known(Caller),
    /// Answer with this (a 401 challenge or a 403 refusal) and go no further.
    Refused(Answer),
}

impl Registrar {
    pub fn new(
        cfg: RegistrarConfig,
        auth: Authenticator,
        secrets: HashMap<String, Secret>,
    ) -> Self {
        Registrar {
            cfg,
            auth,
            accounts: RwLock::new(Arc::new(Accounts {
                secrets,
                ..Accounts::default()
            })),
            bindings: RwLock::new(HashMap::new()),
            changed: parking_lot::Mutex::new(HashSet::new()),
            changed_notify: tokio::sync::Notify::new(),
        }
    }

    fn accounts(&self) -> Arc<Accounts> {
        self.accounts.read().clone()
    }

    /// Takes the agents' and trunks' credentials, trusted networks and digest algorithms of
    /// `cfg` (a live change of the configuration). A phone registered for an extension that
    /// no longer exists is forgotten; every other binding stays, and a changed password
    /// applies from the phone's next request.
    pub fn set_accounts(&self, cfg: &hotline_config::Config) {
        let acc = Arc::new(Accounts::from_config(cfg));
        // One step under the bindings' lock: a REGISTER checked against the old accounts
        // either stored its binding before (and it is removed here) or stores it after the
        // swap (and `register` refuses an extension the accounts no longer have).
        let mut all = self.bindings.write();
        *self.accounts.write() = acc.clone();
        let gone: Vec<String> = all
            .keys()
            .filter(|e| !acc.secrets.contains_key(*e))
            .cloned()
            .collect();
        for e in &gone {
            all.remove(e);
        }
        drop(all);
        for e in &gone {
            self.mark_changed(e);
        }
    }

    /// The extensions with bindings now.
    pub fn registered(&self) -> Vec<String> {
        self.bindings.read().keys().cloned().collect()
    }

    /// Notes that `extension`'s bindings must be written down again (see
    /// [`Registrar::take_changed`]).
    pub fn mark_changed(&self, extension: &str) {
        self.changed.lock().insert(extension.to_string());
        // A permit is kept if nobody waits yet, so no change goes unnoticed.
        self.changed_notify.notify_one();
    }

    /// Resolves when a binding has changed since the last [`Registrar::take_changed`].
    pub async fn changed(&self) {
        if !self.changed.lock().is_empty() {
            return;
        }
        self.changed_notify.notified().await;
    }

    /// The extensions whose bindings changed since the last call, each with its live
    /// bindings now (none: un-registered). Bindings that merely expire are not reported.
    pub fn take_changed(&self, now: Instant) -> Vec<(String, Vec<Binding>)> {
        let changed = std::mem::take(&mut *self.changed.lock());
        let mut out: Vec<(String, Vec<Binding>)> = changed
            .into_iter()
            .map(|ext| {
                let live = self.lookup(&ext, now);
                (ext, live)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Puts back bindings kept from before a restart. Unknown extensions and expired
    /// bindings are skipped; a binding the phone has registered anew meanwhile (same
    /// instance or URI) is kept as it is. Returns how many were restored.
    pub fn restore(&self, extension: &str, bindings: Vec<Binding>, now: Instant) -> usize {
        if !self.accounts().secrets.contains_key(extension) {
            return 0;
        }
        let mut all = self.bindings.write();
        let list = all.entry(extension.to_string()).or_default();
        let mut n = 0;
        for b in bindings {
            if b.expires_at <= now || list.len() >= self.cfg.max_contacts {
                continue;
            }
            let again = list.iter().any(|x| match (&x.instance, &b.instance) {
                (Some(a), Some(c)) => a == c,
                _ => addr::same_uri(&x.uri, &b.uri),
            });
            if !again {
                list.push(b);
                n += 1;
            }
        }
        if list.is_empty() {
            all.remove(extension);
        }
        n
    }

    /// Gives `user` (an extension or a trunk's user name) algorithms of its own.
    #[cfg(test)]
    fn with_user_algorithms(self, user: &str, algorithms: Vec<Algorithm>) -> Self {
        {
            let mut acc = self.accounts.write();
            if let Some(a) = Arc::get_mut(&mut acc) {
                a.user_algorithms.insert(user.to_string(), algorithms);
            }
        }
        self
    }

    /// Identifies the sender of a request such as INVITE: a trunk by source address, else a
    /// trunk or an agent by digest credentials. Unknown users and wrong passwords are refused
    /// alike; the caller records the failure for the lockout.
    pub fn identify(
        &self,
        msg: &RawMessage<'_>,
        method: &str,
        source: SocketAddr,
        wall: SystemTime,
    ) -> Identified {
        let acc = self.accounts();
        if let Some((_, name)) = acc
            .trunk_sources
            .iter()
            .find(|(n, _)| n.contains(&source.ip()))
        {
            return Identified::Known(Caller::Trunk(name.clone()));
        }
        // Before credentials, the From user says whose algorithms to offer.
        let from_user = msg.first("from").and_then(uri_user).unwrap_or_default();
        let Some(creds) = msg.all("authorization").find_map(Credentials::parse) else {
            let algs = acc.algorithms_for(&from_user, &self.cfg.algorithms);
            return Identified::Refused(self.challenge(source, wall, false, "challenge", algs));
        };
        let pick = |s: &Secret| match creds.algorithm() {
            Some(Algorithm::Sha256) => s.ha1_sha256.clone(),
            _ => s.ha1_md5.clone(),
        };
        let (who, ha1) = match (
            acc.trunk_secrets.get(&creds.username),
            acc.secrets.get(&creds.username),
        ) {
            (Some((trunk, s)), _) => (Some(Caller::Trunk(trunk.clone())), Some(pick(s))),
            (None, Some(s)) => (Some(Caller::Agent(creds.username.clone())), Some(pick(s))),
            (None, None) => (None, None),
        };
        let algs = acc.algorithms_for(&creds.username, &self.cfg.algorithms);
        let allowed = creds.algorithm().is_some_and(|a| algs.contains(&a));
        match self
            .auth
            .check(&creds, method, ha1.as_deref(), source.ip(), wall)
        {
            Check::Ok if !allowed => {
                info!(user = %creds.username, %source, %method, algorithm = ?creds.algorithm, "request refused: digest algorithm not offered to this user");
                Identified::Refused(forbidden())
            }
            Check::Ok => match who {
                Some(c) => Identified::Known(c),
                None => Identified::Refused(forbidden()),
            },
            Check::Stale => Identified::Refused(self.challenge(source, wall, true, "stale", algs)),
            Check::Failed => {
                let why = if who.is_none() {
                    "unknown user"
                } else {
                    "wrong password or forged nonce"
                };
                info!(user = %creds.username, %source, %method, reason = why, "request refused: authentication failed");
                Identified::Refused(forbidden())
            }
        }
    }

    fn challenge(
        &self,
        source: SocketAddr,
        wall: SystemTime,
        stale: bool,
        outcome: &'static str,
        algorithms: &[Algorithm],
    ) -> Answer {
        Answer {
            status: 401,
            headers: self
                .auth
                .challenges(source.ip(), wall, stale, algorithms)
                .into_iter()
                .map(|c| ("WWW-Authenticate", c))
                .collect(),
            outcome,
        }
    }

    pub fn from_config(cfg: &hotline_config::Config) -> Self {
        let r = Registrar::new(
            RegistrarConfig {
                min_expires: cfg.sip.min_expires,
                max_expires: cfg.sip.max_expires,
                default_expires: cfg.sip.default_expires,
                max_contacts: cfg.sip.max_contacts.max(1),
                algorithms: cfg
                    .sip
                    .digest_algorithms
                    .iter()
                    .map(|a| (*a).into())
                    .collect(),
            },
            Authenticator::new(
                &cfg.sip.realm,
                Duration::from_secs(cfg.sip.nonce_ttl_seconds),
            ),
            HashMap::new(),
        );
        *r.accounts.write() = Arc::new(Accounts::from_config(cfg));
        r
    }

    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// Current (unexpired) contacts of an extension.
    pub fn lookup(&self, extension: &str, now: Instant) -> Vec<Binding> {
        self.bindings
            .read()
            .get(extension)
            .map(|b| b.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default()
    }

    /// Number of live bindings in all.
    pub fn binding_count(&self, now: Instant) -> usize {
        self.bindings
            .read()
            .values()
            .flatten()
            .filter(|b| b.expires_at > now)
            .count()
    }

    /// Drops expired bindings; returns how many.
    pub fn purge(&self, now: Instant) -> usize {
        let mut all = self.bindings.write();
        let mut n = 0;
        all.retain(|_, v| {
            let before = v.len();
            v.retain(|b| b.expires_at > now);
            n += before - v.len();
            !v.is_empty()
        });
        n
    }

    /// Handles one REGISTER. `wall` is the wall clock (nonces carry it), `now` the monotonic one.
    pub fn register(
        &self,
        msg: &RawMessage<'_>,
        source: SocketAddr,
        transport: &'static str,
        now: Instant,
        wall: SystemTime,
    ) -> Answer {
        let Some(aor) = msg.first("to").and_then(uri_user) else {
            let why = "To header has no user part";
            return refuse(source, "?", bad(why), why);
        };
        let acc = self.accounts();
        let algs = acc.algorithms_for(&aor, &self.cfg.algorithms);
        let challenge =
            |stale: bool, outcome: &'static str| self.challenge(source, wall, stale, outcome, algs);
        // Syntax first: a malformed registration is refused the same way for everyone.
        let header_expires = msg
            .first("expires")
            .and_then(|e| e.trim().parse::<u64>().ok());
        let contacts = match addr::parse_contacts(msg.all("contact")) {
            Ok(c) => c,
            Err(e) => {
                let why = format!("Contact: {e}");
                return refuse(source, &aor, bad(&why), &why);
            }
        };
        if contacts == Contacts::Wildcard && header_expires != Some(0) {
            let why = "`Contact: *` needs `Expires: 0` and no other contact";
            return refuse(source, &aor, bad(why), why);
        }
        // The proxies the REGISTER came through (RFC 3327): kept with its bindings.
        let path = match parse_path(msg.all("path")) {
            Ok(p) => p,
            Err(why) => return refuse(source, &aor, bad(&why), &why),
        };
        let mut parsed = Vec::new();
        if let Contacts::List(list) = &contacts {
            for c in list {
                match Requested::from_contact(c) {
                    Ok(r) => parsed.push(r),
                    Err(why) => return refuse(source, &aor, bad(&why), &why),
                }
            }
        }
        let Some(creds) = msg.all("authorization").find_map(Credentials::parse) else {
            return challenge(false, "challenge");
        };
        // The credentials must be for the address being registered; an unknown extension
        // goes through the same computation against a decoy secret.
        let secret = if creds.username == aor {
            acc.secrets.get(&aor)
        } else {
            None
        };
        let ha1 = secret.map(|s| match creds.algorithm() {
            Some(Algorithm::Sha256) => s.ha1_sha256.as_str(),
            _ => s.ha1_md5.as_str(),
        });
        match self.auth.check(&creds, "REGISTER", ha1, source.ip(), wall) {
            Check::Ok => {}
            Check::Stale => return challenge(true, "stale"),
            Check::Failed => {
                let why = if creds.username != aor {
                    "credentials name another user than the To header"
                } else if secret.is_none() {
                    "unknown extension"
                } else {
                    "wrong password or forged nonce"
                };
                return refuse(source, &aor, forbidden(), why);
            }
        }
        if !creds.algorithm().is_some_and(|a| algs.contains(&a)) {
            let why = "digest algorithm not offered to this extension";
            return refuse(source, &aor, forbidden(), why);
        }

        let call_id = msg.first("call-id").unwrap_or("").to_string();
        let cseq = msg
            .first("cseq")
            .and_then(|c| crate::guard::parse_cseq(c).ok())
            .map_or(0, |(n, _)| n);
        if contacts == Contacts::Wildcard {
            self.bindings.write().remove(&aor);
            self.mark_changed(&aor);
            info!(extension = %aor, %source, "all registrations removed");
            return self.ok(&aor, now, &path);
        }

        let mut accepted = Vec::with_capacity(parsed.len());
        for mut r in parsed {
            let expires = r
                .expires
                .or(header_expires)
                .unwrap_or(u64::from(self.cfg.default_expires));
            if expires != 0 && expires < u64::from(self.cfg.min_expires) {
                info!(extension = %aor, %source, requested = expires, min = self.cfg.min_expires, "registration refused: expiry too brief (423)");
                return Answer {
                    status: 423,
                    headers: vec![("Min-Expires", self.cfg.min_expires.to_string())],
                    outcome: "too_brief",
                };
            }
            r.expires = Some(expires.min(u64::from(self.cfg.max_expires)));
            accepted.push(r);
        }

        {
            let mut all = self.bindings.write();
            // The extension may have been removed live since its password was checked.
            if !self.accounts.read().secrets.contains_key(&aor) {
                drop(all);
                let why = "the extension was removed";
                return refuse(source, &aor, forbidden(), why);
            }
            let list = all.entry(aor.clone()).or_default();
            list.retain(|b| b.expires_at > now);
            for r in accepted {
                let expires = r.expires.unwrap_or(0);
                if let Some(existing) = list.iter().position(|b| r.names(b)) {
                    let b = &list[existing];
                    // An older request for this contact must not undo a newer one (§10.3.7).
                    if b.call_id == call_id && cseq <= b.cseq {
                        continue;
                    }
                    list.remove(existing);
                }
                if expires == 0 {
                    info!(extension = %aor, contact = %r.uri, "registration removed");
                    continue;
                }
                debug!(extension = %aor, contact = %r.uri, %source, expires, "registered");
                list.push(Binding {
                    uri: r.uri,
                    expires_at: now + Duration::from_secs(expires),
                    call_id: call_id.clone(),
                    cseq,
                    source,
                    transport,
                    instance: r.instance,
                    reg_id: r.reg_id,
                    path: path.clone(),
                });
            }
            // Too many phones for one extension: the oldest registration gives way.
            while list.len() > self.cfg.max_contacts {
                list.remove(0);
            }
            if list.is_empty() {
                all.remove(&aor);
            }
        }
        self.mark_changed(&aor);
        self.ok(&aor, now, &path)
    }

    /// The 200 of a REGISTER: every live binding of `aor` as a Contact, the request's Path
    /// echoed in order (RFC 3327 §5.3), and `Supported: path`.
    fn ok(&self, aor: &str, now: Instant, path: &[String]) -> Answer {
        let mut headers: Vec<(&'static str, String)> = self
            .lookup(aor, now)
            .iter()
            .map(|b| {
                let left = b.expires_at.saturating_duration_since(now).as_secs();
                let mut v = format!("<{}>;expires={left}", b.uri);
                if let Some(i) = &b.instance {
                    v.push_str(&format!(";+sip.instance={}", addr::quote(i)));
                }
                if let Some(r) = b.reg_id {
                    v.push_str(&format!(";reg-id={r}"));
                }
                ("Contact", v)
            })
            .collect();
        if !path.is_empty() {
            let hops: Vec<String> = path.iter().map(|u| format!("<{u}>")).collect();
            headers.push(("Path", hops.join(", ")));
        }
        headers.push(("Supported", "path".to_string()));
        Answer {
            status: 200,
            headers,
            outcome: "ok",
        }
    }
}

fn forbidden() -> Answer {
    Answer {
        status: 403,
        headers: vec![],
        outcome: "failed",
    }
}

/// Logs why a registration is refused (what an operator needs to fix a phone; a 403 tells
/// the phone nothing more) and passes the answer on.
fn refuse(source: SocketAddr, extension: &str, answer: Answer, reason: &str) -> Answer {
    info!(%extension, %source, status = answer.status, %reason, "registration refused");
    answer
}

/// One contact a REGISTER asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Requested {
    uri: String,
    expires: Option<u64>,
    instance: Option<String>,
    reg_id: Option<u32>,
}

impl Requested {
    fn from_contact(c: &NameAddr) -> Result<Requested, String> {
        let expires = match c.param("expires") {
            None => None,
            Some(Some(v)) => Some(
                v.parse::<u64>()
                    .map_err(|_| format!("Contact expires `{v}` is not a number"))?,
            ),
            Some(None) => return Err("Contact expires without a value".into()),
        };
        let reg_id = match c.param("reg-id") {
            None => None,
            Some(v) => Some(
                v.and_then(|v| v.parse::<u32>().ok())
                    .ok_or("Contact reg-id is not a number")?,
            ),
        };
        let instance = c
            .param("+sip.instance")
            .flatten()
            .filter(|i| !i.is_empty())
            .map(str::to_string);
        Ok(Requested {
            uri: c.uri.clone(),
            expires,
            instance,
            reg_id,
        })
    }

    /// This request is about binding `b`: the same RFC 5626 instance (and reg-id, when both
    /// have one), or, without instance ids on both sides, the same URI (RFC 3261 §19.1.4).
    fn names(&self, b: &Binding) -> bool {
        match (&self.instance, &b.instance) {
            (Some(a), Some(x)) => {
                a == x && (self.reg_id == b.reg_id || self.reg_id.is_none() || b.reg_id.is_none())
            }
            _ => addr::same_uri(&self.uri, &b.uri),
        }
    }
}

/// The URIs of a request's Path headers (RFC 3327), in order: several headers, several
/// values per header, each a name-addr naming a SIP URI.
fn parse_path<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for v in values {
        for item in addr::split_values(v).map_err(|e| format!("Path: {e}"))? {
            let na = addr::parse_name_addr(item).map_err(|e| format!("Path: {e} in `{item}`"))?;
            if addr::parse_uri(&na.uri).is_none() {
                return Err(format!("Path: `{}` is not a SIP URI", na.uri));
            }
            out.push(na.uri);
        }
    }
    Ok(out)
}

fn bad(why: &str) -> Answer {
    Answer {
        status: 400,
        headers: vec![("Warning", format!("399 hotline \"{why}\""))],
        outcome: "bad_request",
    }
}

/// The user part of a From/To value: `"x" <sip:1001@host>;tag=1` → `1001`.
pub fn uri_user(v: &str) -> Option<String> {
    let na = addr::parse_name_addr(v).ok()?;
    addr::parse_uri(&na.uri)?.user
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::ha1;
    use crate::message::split;

    fn registrar() -> Registrar {
        let mut secrets = HashMap::new();
        secrets.insert(
            "1001".to_string(),
            Secret {
                ha1_md5: ha1(Algorithm::Md5, "1001", "hotline", "pass1001"),
                ha1_sha256: ha1(Algorithm::Sha256, "1001", "hotline", "pass1001"),
            },
        );
        Registrar::new(
            RegistrarConfig {
                min_expires: 60,
                max_expires: 3600,
                default_expires: 600,
                max_contacts: 2,
                algorithms: vec![Algorithm::Md5],
            },
            Authenticator::new("hotline", Duration::from_secs(300)),
            secrets,
        )
    }

    fn register(
        r: &Registrar,
        user: &str,
        pw: &str,
        contact: &str,
        extra: &str,
        cseq: u32,
        now: Instant,
    ) -> Answer {
        let src: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        let wall = SystemTime::now();
        let nonce = r.auth.nonce(src.ip(), wall);
        let alg = Algorithm::Md5;
        let h1 = ha1(alg, user, "hotline", pw);
        let ha2 = alg.hash("REGISTER:sip:hotline");
        let nc = format!("{cseq:08x}");
        let resp = alg.hash(&format!("{h1}:{nonce}:{nc}:c1:auth:{ha2}"));
        let text = format!(
            "REGISTER sip:hotline SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{cseq}\r\nFrom: <sip:{user}@hotline>;tag=a\r\nTo: <sip:{user}@hotline>\r\nCall-ID: reg-1\r\nCSeq: {cseq} REGISTER\r\nContact: {contact}\r\n{extra}Authorization: Digest username=\"{user}\", realm=\"hotline\", nonce=\"{nonce}\", uri=\"sip:hotline\", response=\"{resp}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"c1\"\r\nContent-Length: 0\r\n\r\n"
        );
        r.register(&split(text.as_bytes()), src, "udp", now, wall)
    }

    fn challenge_for(r: &Registrar, user: &str) -> Answer {
        let text = format!(
            "REGISTER sip:hotline SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:{user}@hotline>;tag=a\r\nTo: <sip:{user}@hotline>\r\nCall-ID: 1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
        );
        r.register(
            &split(text.as_bytes()),
            "127.0.0.1:1".parse().unwrap(),
            "udp",
            Instant::now(),
            SystemTime::now(),
        )
    }

    #[test]
    fn challenges_offer_the_configured_algorithms_in_order() {
        let r = registrar();
        let a = challenge_for(&r, "9999");
        assert_eq!(a.status, 401);
        assert_eq!(a.headers.len(), 1, "{a:?}");
        assert!(a.headers[0].1.contains("algorithm=MD5"));
        // One extension with SHA-256 first, MD5 second; the others keep the default.
        let r = registrar().with_user_algorithms("1001", vec![Algorithm::Sha256, Algorithm::Md5]);
        let a = challenge_for(&r, "1001");
        assert_eq!(a.headers.len(), 2);
        assert!(a.headers[0].1.contains("algorithm=SHA-256"));
        assert!(a.headers[1].1.contains("algorithm=MD5"));
        assert_eq!(challenge_for(&r, "1002").headers.len(), 1);
    }

    #[test]
    fn changes_are_reported_once_and_kept_bindings_are_restored() {
        let r = registrar();
        let now = Instant::now();
        assert!(r.take_changed(now).is_empty());
        // A refused registration changes nothing.
        assert_eq!(
            register(&r, "1001", "wrong", "<sip:1001@h>", "", 1, now).status,
            403
        );
        assert!(r.take_changed(now).is_empty());
        let a = register(&r, "1001", "pass1001", "<sip:1001@h:5070>", "", 2, now);
        assert_eq!(a.status, 200);
        let changed = r.take_changed(now);
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].0, "1001");
        assert_eq!(changed[0].1, r.lookup("1001", now));
        assert!(r.take_changed(now).is_empty(), "reported once");
        // Un-registering reports the extension with no bindings.
        let a = register(
            &r,
            "1001",
            "pass1001",
            "<sip:1001@h:5070>;expires=0",
            "",
            3,
            now,
        );
        assert_eq!(a.status, 200);
        assert_eq!(r.take_changed(now), vec![("1001".to_string(), vec![])]);

        // Restoring: unknown extensions and expired bindings are skipped; a binding the
        // phone registered anew meanwhile stays as it is.
        let kept = |uri: &str, secs: u64| Binding {
            uri: uri.into(),
            expires_at: now + Duration::from_secs(secs),
            call_id: "old".into(),
            cseq: 1,
            source: "127.0.0.1:5070".parse().unwrap(),
            transport: "udp",
            instance: None,
            reg_id: None,
            path: Vec::new(),
        };
        assert_eq!(r.restore("9999", vec![kept("sip:9999@h", 60)], now), 0);
        let a = register(&r, "1001", "pass1001", "<sip:1001@h:5071>", "", 4, now);
        assert_eq!(a.status, 200);
        let later = now + Duration::from_secs(1);
        let n = r.restore(
            "1001",
            vec![
                kept("sip:1001@h:5071", 60),
                kept("sip:1001@h:5072", 60),
                kept("sip:1001@h:5073", 0),
            ],
            later,
        );
        assert_eq!(n, 1);
        let b = r.lookup("1001", later);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].call_id, "reg-1", "the new registration is kept");
        assert_eq!(b[1].uri, "sip:1001@h:5072");
        assert_eq!(r.lookup("9999", later), vec![]);
    }

    #[test]
    fn a_path_is_kept_in_order_echoed_and_followed() {
        let r = registrar();
        let now = Instant::now();
        // Two proxies: two Path headers, the second with two values, in order.
        let a = register(
            &r,
            "1001",
            "pass1001",
            "<sip:1001@192.168.1.20:5062>",
            "Path: <sip:203.0.113.5:5080;lr;received=sip:198.51.100.7:40001>\r\n\
             Path: <sip:10.9.0.1;lr;transport=tcp>, \"edge\" <sip:edge.example.com;lr>\r\n\
             Supported: path\r\n",
            1,
            now,
        );
        assert_eq!(a.status, 200, "{a:?}");
        let path = vec![
            "sip:203.0.113.5:5080;lr;received=sip:198.51.100.7:40001".to_string(),
            "sip:10.9.0.1;lr;transport=tcp".to_string(),
            "sip:edge.example.com;lr".to_string(),
        ];
        let b = &r.lookup("1001", now)[0];
        assert_eq!(b.path, path);
        // The 200 echoes it, in order, and says hotline supports it.
        let header = |name: &str| {
            a.headers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            header("Path").as_deref(),
            Some(
                "<sip:203.0.113.5:5080;lr;received=sip:198.51.100.7:40001>, \
                 <sip:10.9.0.1;lr;transport=tcp>, <sip:edge.example.com;lr>"
            )
        );
        assert_eq!(header("Supported").as_deref(), Some("path"));
        // Requests to the phone go to the first hop (not the phone, not the source), its
        // media to where the proxy saw the phone.
        assert_eq!(
            b.destination(),
            ("203.0.113.5:5080".parse().unwrap(), "udp")
        );
        assert_eq!(b.phone_ip(), "198.51.100.7".parse::<IpAddr>().unwrap());
        // Kept as text and read back the same.
        let text = b.path_text().unwrap();
        assert_eq!(
            text,
            "sip:203.0.113.5:5080;lr;received=sip:198.51.100.7:40001,\
             sip:10.9.0.1;lr;transport=tcp,sip:edge.example.com;lr"
        );
        assert_eq!(Binding::path_from_text(Some(&text)), path);
        assert_eq!(Binding::path_from_text(None), Vec::<String>::new());

        // A refresh directly (no proxy any more) drops the Path.
        let a = register(
            &r,
            "1001",
            "pass1001",
            "<sip:1001@192.168.1.20:5062>",
            "",
            2,
            now,
        );
        assert_eq!(a.status, 200);
        assert!(!a.headers.iter().any(|(k, _)| *k == "Path"), "{a:?}");
        let b = &r.lookup("1001", now)[0];
        assert!(b.path.is_empty());
        assert_eq!(b.path_text(), None);
        assert_eq!(b.destination(), ("127.0.0.1:5070".parse().unwrap(), "udp"));

        // A malformed Path is refused with the reason, and nothing changes.
        for bad in ["Path: <sip:203.0.113.5;lr\r\n", "Path: <http://x>\r\n"] {
            let a = register(&r, "1001", "pass1001", "<sip:1001@10.0.0.2>", bad, 3, now);
            assert_eq!(a.status, 400, "{a:?}");
            assert!(a.headers[0].1.contains("Path"), "{a:?}");
        }
        assert_eq!(r.lookup("1001", now).len(), 1);
    }

    #[test]
    fn path_hops_name_their_address_port_and_transport() {
        let src: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        assert_eq!(
            path_hop("sip:192.0.2.9;lr", src, "udp"),
            ("192.0.2.9:5060".parse().unwrap(), "udp")
        );
        assert_eq!(
            path_hop("sip:192.0.2.9:5090;lr;transport=TCP", src, "udp"),
            ("192.0.2.9:5090".parse().unwrap(), "tcp")
        );
        assert_eq!(
            path_hop("sips:[2001:db8::1];lr", src, "tcp"),
            ("[2001:db8::1]:5061".parse().unwrap(), "tls")
        );
        // No transport named: the one the REGISTER came over.
        assert_eq!(
            path_hop("sip:192.0.2.9;lr", src, "tcp"),
            ("192.0.2.9:5060".parse().unwrap(), "tcp")
        );
        // A host name is not resolved: the proxy the REGISTER came from.
        assert_eq!(
            path_hop("sip:proxy.example.com;lr", src, "udp"),
            (src, "udp")
        );
        assert_eq!(path_hop("garbage", src, "udp"), (src, "udp"));
        // Kamailio escapes the transport in `received`.
        let b = Binding {
            uri: "sip:1001@10.0.0.5".into(),
            expires_at: Instant::now(),
            call_id: "c".into(),
            cseq: 1,
            source: src,
            transport: "udp",
            instance: None,
            reg_id: None,
            path: vec!["sip:192.0.2.9;lr;received=sip:203.0.113.4:4000%3Btransport%3Dtcp".into()],
        };
        assert_eq!(b.phone_ip(), "203.0.113.4".parse::<IpAddr>().unwrap());
        // No `received`: the Contact's address; nor that: the proxy's.
        let b = Binding {
            path: vec!["sip:192.0.2.9;lr".into()],
            ..b
        };
        assert_eq!(b.phone_ip(), "10.0.0.5".parse::<IpAddr>().unwrap());
        let b = Binding {
            uri: "sip:1001@phone.example.com".into(),
            ..b
        };
        assert_eq!(b.phone_ip(), src.ip());
    }

    #[test]
    fn an_algorithm_not_offered_is_refused() {
        let r = registrar().with_user_algorithms("1001", vec![Algorithm::Sha256]);
        // The test's `register` answers with MD5.
        let a = register(
            &r,
            "1001",
            "pass1001",
            "<sip:1001@h>",
            "",
            1,
            Instant::now(),
        );
        assert_eq!(a.status, 403);
        assert_eq!(r.binding_count(Instant::now()), 0);
    }

    #[test]
    fn linphone_and_baresip_contacts_are_stored_as_sent() {
        let r = registrar();
        let now = Instant::now();
        let a = register(
            &r,
            "1001",
            "pass1001",
            "<sip:1001@127.0.0.1:35301;transport=udp>;+sip.instance=\"<urn:uuid:a1>\";reg-id=1;expires=60",
            "Expires: 3600\r\n",
            1,
            now,
        );
        assert_eq!(a.status, 200, "{a:?}");
        let b = r.lookup("1001", now);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].uri, "sip:1001@127.0.0.1:35301;transport=udp");
        assert_eq!(b[0].instance.as_deref(), Some("<urn:uuid:a1>"));
        assert_eq!(b[0].reg_id, Some(1));
        // The contact's own expiry wins over the Expires header.
        assert_eq!(b[0].expires_at, now + Duration::from_secs(60));
        assert_eq!(
            a.headers[0].1,
            "<sip:1001@127.0.0.1:35301;transport=udp>;expires=60;+sip.instance=\"<urn:uuid:a1>\";reg-id=1"
        );
        // Above the maximum: the maximum.
        let a = register(
            &r,
            "1001",
            "pass1001",
            "<sip:1001@10.0.0.9>;expires=99999",
            "",
            2,
            now,
        );
        assert_eq!(a.status, 200);
        let b = r.lookup("1001", now);
        let far = b.iter().find(|b| b.uri == "sip:1001@10.0.0.9").unwrap();
        assert_eq!(far.expires_at, now + Duration::from_secs(3600));
    }

    #[test]
    fn the_same_instance_replaces_its_binding_and_unregisters_exactly_it() {
        let r = registrar();
        let now = Instant::now();
        let inst = ";+sip.instance=\"<urn:uuid:a1>\"";
        register(
            &r,
            "1001",
            "pass1001",
            "<sip:1001@10.0.0.5:5060>",
            "",
            1,
            now,
        );
        register(
            &r,
            "1001",
            "pass1001",
            &format!("<sip:1001@10.0.0.1:5062>{inst}"),
            "",
            2,
            now,
        );
        // The phone restarts on another port: its old binding goes.
        let a = register(
            &r,
            "1001",
            "pass1001",
            &format!("<sip:1001@10.0.0.1:5099>{inst}"),
            "",
            3,
            now,
        );
        assert_eq!(a.status, 200);
        let mut uris: Vec<String> = r.lookup("1001", now).into_iter().map(|b| b.uri).collect();
        uris.sort();
        assert_eq!(
            uris,
            vec!["sip:1001@10.0.0.1:5099", "sip:1001@10.0.0.5:5060"]
        );
        // Its un-REGISTER removes it and nothing else.
        let a = register(
            &r,
            "1001",
            "pass1001",
            &format!("<sip:1001@10.0.0.1:5099>{inst};expires=0"),
            "",
            4,
            now,
        );
        assert_eq!(a.status, 200);
        let uris: Vec<String> = r.lookup("1001", now).into_iter().map(|b| b.uri).collect();
        assert_eq!(uris, vec!["sip:1001@10.0.0.5:5060"]);
        // An un-REGISTER naming a contact by URI (other case, same URI) removes it too.
        register(
            &r,
            "1001",
            "pass1001",
            "<sip:1001@10.0.0.5:5060>;expires=0",
            "",
            5,
            now,
        );
        assert!(r.lookup("1001", now).is_empty());
    }

    #[test]
    fn malformed_contacts_are_refused_with_the_reason() {
        let r = registrar();
        let now = Instant::now();
        for bad in [
            "<sip:1001@h",
            "<sip:1001@h>;expires=soon",
            "<sip:1001@h>;reg-id=x",
            "\"open <sip:1001@h>",
            "<http://h>",
        ] {
            let a = register(&r, "1001", "pass1001", bad, "", 1, now);
            assert_eq!(a.status, 400, "{bad}: {a:?}");
            assert!(a.headers[0].1.starts_with("399 hotline"), "{a:?}");
        }
        assert_eq!(r.binding_count(now), 0);
    }

    #[test]
    fn requests_go_to_the_source_behind_a_nat_and_to_a_public_contact_otherwise() {
        let src: SocketAddr = "198.51.100.7:40001".parse().unwrap();
        // Private Contact, public source: NAT.
        assert_eq!(
            route_to("sip:1001@192.168.1.20:5060", src, "udp"),
            (src, "udp")
        );
        // Private behind private (a NAT between two private networks).
        let inner: SocketAddr = "10.1.0.1:6000".parse().unwrap();
        assert_eq!(
            route_to("sip:1001@192.168.1.20", inner, "udp"),
            (inner, "udp")
        );
        // The Contact names the source host: the source (symmetric signalling, TCP reuse).
        assert_eq!(
            route_to("sip:1001@198.51.100.7:5060", src, "tcp"),
            (src, "tcp")
        );
        // Loopback and host names: the source.
        let lo: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        assert_eq!(route_to("sip:1001@127.0.0.1:5080", lo, "udp"), (lo, "udp"));
        assert_eq!(
            route_to("sip:1001@phone.example.com", src, "udp"),
            (src, "udp")
        );
        assert_eq!(route_to("garbage", src, "udp"), (src, "udp"));
        // A public Contact elsewhere: third-party registration, the Contact as RFC 3261 says.
        assert_eq!(
            route_to("sip:1001@203.0.113.9:5070", src, "udp"),
            ("203.0.113.9:5070".parse().unwrap(), "udp")
        );
        assert_eq!(
            route_to("sip:1001@203.0.113.9;transport=TCP", src, "udp"),
            ("203.0.113.9:5060".parse().unwrap(), "tcp")
        );
        assert_eq!(
            route_to("sip:1001@[2001:db8::5]:5062", src, "udp"),
            ("[2001:db8::5]:5062".parse().unwrap(), "udp")
        );
        // CGNAT, link-local and unique-local addresses are not public.
        for ip in ["100.64.1.1", "169.254.0.1", "[fd00::1]", "[fe80::1]"] {
            assert_eq!(
                route_to(&format!("sip:1001@{ip}"), src, "udp"),
                (src, "udp")
            );
        }
    }

    #[test]
    fn accounts_changed_live_take_effect_at_the_next_request() {
        let r = registrar();
        let now = Instant::now();
        assert_eq!(
            register(&r, "1001", "pass1001", "<sip:1001@h:5070>", "", 1, now).status,
            200
        );
        // The configuration now has 1002 (new), 1001 with another password… and then not.
        let agent = |ext: &str, pw: &str| {
            format!(
                "[[agents]]\nextension = \"{ext}\"\nha1_md5 = \"{}\"\nha1_sha256 = \"{}\"\n",
                ha1(Algorithm::Md5, ext, "hotline", pw),
                ha1(Algorithm::Sha256, ext, "hotline", pw)
            )
        };
        let cfg = |agents: String| {
            hotline_config::Config::from_toml(
                "t.toml",
                &format!("[sip]\nrealm = \"hotline\"\n{agents}"),
            )
            .unwrap()
        };
        r.set_accounts(&cfg(agent("1001", "new1001") + &agent("1002", "pass1002")));
        assert_eq!(r.lookup("1001", now).len(), 1, "a phone stays registered");
        assert_eq!(
            register(&r, "1002", "pass1002", "<sip:1002@h:5071>", "", 1, now).status,
            200
        );
        assert_eq!(
            register(&r, "1001", "pass1001", "<sip:1001@h:5070>", "", 2, now).status,
            403,
            "the old password is refused"
        );
        assert_eq!(
            register(&r, "1001", "new1001", "<sip:1001@h:5070>", "", 3, now).status,
            200
        );
        let _ = r.take_changed(now);
        // 1001 removed: its phone is forgotten (and that is kept), it may not register.
        r.set_accounts(&cfg(agent("1002", "pass1002")));
        assert!(r.lookup("1001", now).is_empty());
        assert_eq!(r.take_changed(now), vec![("1001".to_string(), vec![])]);
        assert_eq!(
            register(&r, "1001", "new1001", "<sip:1001@h:5070>", "", 4, now).status,
            403
        );
        assert_eq!(r.lookup("1002", now).len(), 1);
    }

    #[test]
    fn register_expire_and_unregister() {
        let r = registrar();
        let now = Instant::now();
        let a = register(
            &r,
            "1001",
            "pass1001",
            "<sip:1001@127.0.0.1:5070>",
            "Expires: 120\r\n",
            1,
            now,
        );
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(
            a.headers,
            vec![
                (
                    "Contact",
                    "<sip:1001@127.0.0.1:5070>;expires=120".to_string()
                ),
                ("Supported", "path".to_string())
            ]
        );
        assert_eq!(r.lookup("1001", now).len(), 1);
        assert!(r.lookup("1001", now + Duration::from_secs(121)).is_empty());
        let a = register(
            &r,
            "1001",
            "pass1001",
            "<sip:1001@127.0.0.1:5070>;expires=0",
            "",
            2,
            now,
        );
        assert_eq!(a.status, 200);
        assert!(r.lookup("1001", now).is_empty());
    }

    #[test]
    fn several_contacts_wildcard_and_limits() {
        let r = registrar();
        let now = Instant::now();
        register(&r, "1001", "pass1001", "<sip:1001@10.0.0.1>", "", 1, now);
        register(
            &r,
            "1001",
            "pass1001",
            "<sip:1001@10.0.0.2>, <sip:1001@10.0.0.3>",
            "",
            2,
            now,
        );
        let uris: Vec<String> = r.lookup("1001", now).into_iter().map(|b| b.uri).collect();
        assert_eq!(uris, vec!["sip:1001@10.0.0.2", "sip:1001@10.0.0.3"]);
        let a = register(
            &r,
            "1001",
            "pass1001",
            "<sip:1001@10.0.0.4>",
            "Expires: 10\r\n",
            3,
            now,
        );
        assert_eq!(a.status, 423);
        let a = register(&r, "1001", "pass1001", "*", "Expires: 0\r\n", 4, now);
        assert_eq!(a.status, 200);
        assert_eq!(r.binding_count(now), 0);
    }

    #[test]
    fn wrong_password_and_unknown_user_look_the_same() {
        let r = registrar();
        let now = Instant::now();
        let a = register(&r, "1001", "wrong", "<sip:1001@h>", "", 1, now);
        let b = register(&r, "4242", "pass4242", "<sip:4242@h>", "", 1, now);
        assert_eq!(a, b);
        assert_eq!(a.status, 403);
    }

    #[test]
    fn uri_user_handles_display_names_and_params() {
        assert_eq!(
            uri_user("\"A, B\" <sip:1001@h:5060;transport=tcp>;tag=x").as_deref(),
            Some("1001")
        );
        assert_eq!(uri_user("sip:1002@h;tag=1").as_deref(), Some("1002"));
        assert_eq!(uri_user("<sip:h>"), None);
    }
}
