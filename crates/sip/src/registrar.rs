//! The registrar and location service (RFC 3261 §10): where each agent's phones can be reached.
//!
//! Sans-IO: the SIP shell hands in a parsed REGISTER, the source, and `now`; the registrar
//! decides the answer and updates bindings. Authentication is checked here too, so that an
//! unknown extension is answered exactly like a known one with a wrong password.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::RwLock;

use crate::digest::{Algorithm, Authenticator, Check, Credentials};
use crate::message::{RawMessage, split_list};

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
}

/// Stored credentials of one extension.
#[derive(Debug, Clone)]
pub struct Secret {
    pub ha1_md5: String,
    pub ha1_sha256: String,
}

pub struct Registrar {
    cfg: RegistrarConfig,
    auth: Authenticator,
    secrets: HashMap<String, Secret>,
    /// Trunks that authenticate with digest credentials: user name → (trunk name, secret).
    trunk_secrets: HashMap<String, (String, Secret)>,
    /// Trunks trusted by source network.
    trunk_sources: Vec<(ipnet::IpNet, String)>,
    bindings: RwLock<HashMap<String, Vec<Binding>>>,
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
            secrets,
            trunk_secrets: HashMap::new(),
            trunk_sources: Vec::new(),
            bindings: RwLock::new(HashMap::new()),
        }
    }

    /// Adds the trunks: trusted source networks and digest credentials.
    pub fn with_trunks(mut self, trunks: &[hotline_config::Trunk]) -> Self {
        for t in trunks {
            for net in &t.sources {
                self.trunk_sources.push((*net, t.name.clone()));
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
        if let Some((_, name)) = self
            .trunk_sources
            .iter()
            .find(|(n, _)| n.contains(&source.ip()))
        {
            return Identified::Known(Caller::Trunk(name.clone()));
        }
        let Some(creds) = msg.all("authorization").find_map(Credentials::parse) else {
            return Identified::Refused(self.challenge(source, wall, false, "challenge"));
        };
        let pick = |s: &Secret| match creds.algorithm() {
            Some(Algorithm::Sha256) => s.ha1_sha256.clone(),
            _ => s.ha1_md5.clone(),
        };
        let (who, ha1) = match (
            self.trunk_secrets.get(&creds.username),
            self.secrets.get(&creds.username),
        ) {
            (Some((trunk, s)), _) => (Some(Caller::Trunk(trunk.clone())), Some(pick(s))),
            (None, Some(s)) => (Some(Caller::Agent(creds.username.clone())), Some(pick(s))),
            (None, None) => (None, None),
        };
        match self
            .auth
            .check(&creds, method, ha1.as_deref(), source.ip(), wall)
        {
            Check::Ok => match who {
                Some(c) => Identified::Known(c),
                None => Identified::Refused(forbidden()),
            },
            Check::Stale => Identified::Refused(self.challenge(source, wall, true, "stale")),
            Check::Failed => Identified::Refused(forbidden()),
        }
    }

    fn challenge(
        &self,
        source: SocketAddr,
        wall: SystemTime,
        stale: bool,
        outcome: &'static str,
    ) -> Answer {
        Answer {
            status: 401,
            headers: self
                .auth
                .challenges(source.ip(), wall, stale)
                .into_iter()
                .map(|c| ("WWW-Authenticate", c))
                .collect(),
            outcome,
        }
    }

    pub fn from_config(cfg: &hotline_config::Config) -> Self {
        let secrets = cfg
            .agents
            .iter()
            .map(|a| {
                (
                    a.extension.get_ref().clone(),
                    Secret {
                        ha1_md5: a.ha1_md5.get_ref().clone(),
                        ha1_sha256: a.ha1_sha256.get_ref().clone(),
                    },
                )
            })
            .collect();
        Registrar::new(
            RegistrarConfig {
                min_expires: cfg.sip.min_expires,
                max_expires: cfg.sip.max_expires,
                default_expires: cfg.sip.default_expires,
                max_contacts: cfg.sip.max_contacts.max(1),
            },
            Authenticator::new(
                &cfg.sip.realm,
                Duration::from_secs(cfg.sip.nonce_ttl_seconds),
            )
            .with_algorithms(&cfg.sip.digest_algorithms),
            secrets,
        )
        .with_trunks(&cfg.trunks)
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
        let challenge =
            |stale: bool, outcome: &'static str| self.challenge(source, wall, stale, outcome);
        let Some(aor) = msg.first("to").and_then(uri_user) else {
            return bad("To header has no user part");
        };
        // Syntax first: a malformed registration is refused the same way for everyone.
        let header_expires = msg.first("expires").and_then(|e| e.parse::<u32>().ok());
        let contacts: Vec<&str> = msg.all("contact").flat_map(split_list).collect();
        let wildcard = contacts.iter().any(|c| c.trim() == "*");
        if wildcard && (contacts.len() != 1 || header_expires != Some(0)) {
            return bad("`Contact: *` needs `Expires: 0` and no other contact");
        }
        let mut parsed = Vec::with_capacity(contacts.len());
        for c in contacts.iter().filter(|_| !wildcard) {
            let Some((uri, expires_param)) = parse_contact(c) else {
                return bad("Contact is not a SIP URI");
            };
            parsed.push((uri, expires_param));
        }
        let Some(creds) = msg.all("authorization").find_map(Credentials::parse) else {
            return challenge(false, "challenge");
        };
        // The credentials must be for the address being registered; an unknown extension
        // goes through the same computation against a decoy secret.
        let secret = if creds.username == aor {
            self.secrets.get(&aor)
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
            Check::Failed => return forbidden(),
        }

        let call_id = msg.first("call-id").unwrap_or("").to_string();
        let cseq = msg
            .first("cseq")
            .and_then(|c| crate::guard::parse_cseq(c).ok())
            .map_or(0, |(n, _)| n);
        if wildcard {
            self.bindings.write().remove(&aor);
            return self.ok(&aor, now);
        }

        let mut accepted = Vec::with_capacity(parsed.len());
        for (uri, expires_param) in parsed {
            let expires = expires_param
                .or(header_expires)
                .unwrap_or(self.cfg.default_expires);
            if expires != 0 && expires < self.cfg.min_expires {
                return Answer {
                    status: 423,
                    headers: vec![("Min-Expires", self.cfg.min_expires.to_string())],
                    outcome: "too_brief",
                };
            }
            accepted.push((uri, expires.min(self.cfg.max_expires)));
        }

        {
            let mut all = self.bindings.write();
            let list = all.entry(aor.clone()).or_default();
            list.retain(|b| b.expires_at > now);
            for (uri, expires) in accepted {
                if let Some(existing) = list.iter().position(|b| same_uri(&b.uri, &uri)) {
                    let b = &list[existing];
                    // An older request for this contact must not undo a newer one (§10.3.7).
                    if b.call_id == call_id && cseq <= b.cseq {
                        continue;
                    }
                    list.remove(existing);
                }
                if expires == 0 {
                    continue;
                }
                list.push(Binding {
                    uri,
                    expires_at: now + Duration::from_secs(u64::from(expires)),
                    call_id: call_id.clone(),
                    cseq,
                    source,
                    transport,
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
        self.ok(&aor, now)
    }

    fn ok(&self, aor: &str, now: Instant) -> Answer {
        let headers = self
            .lookup(aor, now)
            .iter()
            .map(|b| {
                let left = b.expires_at.saturating_duration_since(now).as_secs();
                ("Contact", format!("<{}>;expires={left}", b.uri))
            })
            .collect();
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

fn bad(why: &str) -> Answer {
    Answer {
        status: 400,
        headers: vec![("Warning", format!("399 hotline \"{why}\""))],
        outcome: "bad_request",
    }
}

/// The URI inside a name-addr or addr-spec, without header parameters.
fn addr_uri(v: &str) -> (&str, &str) {
    match (v.find('<'), v.rfind('>')) {
        (Some(a), Some(b)) if a < b => (&v[a + 1..b], &v[b + 1..]),
        _ => match v.find(';') {
            Some(i) => (&v[..i], &v[i..]),
            None => (v, ""),
        },
    }
}

/// The user part of a From/To value: `"x" <sip:1001@host>;tag=1` → `1001`.
pub fn uri_user(v: &str) -> Option<String> {
    let (uri, _) = addr_uri(v);
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))
        .or_else(|| uri.strip_prefix("SIP:"))?;
    let (user, _) = rest.split_once('@')?;
    let user = user.split(':').next().unwrap_or("");
    (!user.is_empty()).then(|| user.to_string())
}

/// A Contact value → (URI, expires parameter).
fn parse_contact(v: &str) -> Option<(String, Option<u32>)> {
    let (uri, params) = addr_uri(v.trim());
    let lower = uri.to_ascii_lowercase();
    if !lower.starts_with("sip:") && !lower.starts_with("sips:") {
        return None;
    }
    let expires = params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("expires")
            .then(|| v.trim().parse::<u32>().ok())
            .flatten()
    });
    Some((uri.trim().to_string(), expires))
}

fn same_uri(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
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

    #[test]
    fn unauthenticated_register_is_challenged_with_both_algorithms() {
        let r = registrar();
        let text = "REGISTER sip:hotline SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:9999@hotline>;tag=a\r\nTo: <sip:9999@hotline>\r\nCall-ID: 1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
        let a = r.register(
            &split(text.as_bytes()),
            "127.0.0.1:1".parse().unwrap(),
            "udp",
            Instant::now(),
            SystemTime::now(),
        );
        assert_eq!(a.status, 401);
        assert_eq!(a.headers.len(), 2);
        assert!(a.headers[0].1.contains("algorithm=MD5"));
        assert!(a.headers[1].1.contains("algorithm=SHA-256"));
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
            vec![(
                "Contact",
                "<sip:1001@127.0.0.1:5070>;expires=120".to_string()
            )]
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
