//! HTTP Digest authentication for SIP (RFC 3261 §22, RFC 7616, RFC 8760): MD5 and SHA-256,
//! `qop=auth`, nonces that expire, and replay protection by nonce count.
//!
//! Nonces are stateless to issue (a timestamp and an HMAC over it and the client's address),
//! so a flood of unauthenticated requests costs no memory; only nonces actually used keep a
//! small record of the highest nonce count seen.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::message::split_list;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl From<hotline_config::DigestAlgorithm> for Algorithm {
    fn from(a: hotline_config::DigestAlgorithm) -> Self {
        match a {
            hotline_config::DigestAlgorithm::Md5 => Algorithm::Md5,
            hotline_config::DigestAlgorithm::Sha256 => Algorithm::Sha256,
        }
    }
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    pub fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(data.as_bytes())),
            Algorithm::Sha256 => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }
}

/// HA1 = H(user:realm:password), what hotline stores instead of a password.
pub fn ha1(alg: Algorithm, user: &str, realm: &str, password: &str) -> String {
    alg.hash(&format!("{user}:{realm}:{password}"))
}

/// The parameters of a `Digest` Authorization header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
}

impl Credentials {
    /// Parses `Digest username="..", realm="..", ...`.
    pub fn parse(value: &str) -> Option<Credentials> {
        let rest = value.trim();
        let (scheme, params) = rest.split_once([' ', '\t'])?;
        if !scheme.eq_ignore_ascii_case("digest") {
            return None;
        }
        let mut c = Credentials::default();
        for p in split_list(params) {
            let (k, v) = p.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(v)
                .to_string();
            match k.trim().to_ascii_lowercase().as_str() {
                "username" => c.username = v,
                "realm" => c.realm = v,
                "nonce" => c.nonce = v,
                "uri" => c.uri = v,
                "response" => c.response = v.to_ascii_lowercase(),
                "algorithm" => c.algorithm = Some(v),
                "qop" => c.qop = Some(v),
                "nc" => c.nc = Some(v),
                "cnonce" => c.cnonce = Some(v),
                _ => {}
            }
        }
        (!c.username.is_empty() && !c.nonce.is_empty() && !c.response.is_empty()).then_some(c)
    }

    pub fn algorithm(&self) -> Option<Algorithm> {
        match self.algorithm.as_deref() {
            None => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("MD5") => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => Some(Algorithm::Sha256),
            _ => None,
        }
    }
}

/// The outcome of checking credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Ok,
    /// The nonce is genuine but too old, or its count was already used: challenge again with
    /// `stale=true` (the client knows the password).
    Stale,
    /// Wrong password, unknown user, forged nonce, wrong realm: a failure.
    Failed,
}

/// nonce → (issue time, highest nonce count used); and the time of the last sweep.
type UsedNonces = (HashMap<String, (u64, u32)>, u64);

/// Issues and checks nonces.
pub struct Authenticator {
    realm: String,
    secret: [u8; 32],
    ttl: Duration,
    /// nonce → (issue time, highest nonce count used), and when it was last swept.
    used: Mutex<UsedNonces>,
    /// Stands in for an unknown user's HA1, so unknown and known users cost the same work.
    decoy: [u8; 32],
}

impl Authenticator {
    pub fn new(realm: &str, ttl: Duration) -> Self {
        Authenticator {
            realm: realm.to_string(),
            secret: rand::random(),
            ttl,
            used: Mutex::new((HashMap::new(), 0)),
            decoy: rand::random(),
        }
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn mac(&self, ts: u64, salt: &[u8], ip: IpAddr) -> [u8; 12] {
        // A key of any length is accepted by HMAC, so this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(&ts.to_be_bytes());
        mac.update(salt);
        mac.update(ip.to_string().as_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 12];
        out.copy_from_slice(&full[..12]);
        out
    }

    /// A fresh nonce bound to the client's address and the current time: 8 bytes of
    /// timestamp, 8 random bytes (clients behind one address never share a nonce), 12 of MAC.
    pub fn nonce(&self, ip: IpAddr, now: SystemTime) -> String {
        let ts = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let salt: [u8; 8] = rand::random();
        let mut raw = ts.to_be_bytes().to_vec();
        raw.extend_from_slice(&salt);
        raw.extend_from_slice(&self.mac(ts, &salt, ip));
        hex::encode(raw)
    }

    /// `WWW-Authenticate` values, one per algorithm offered, in the order given (RFC 8760:
    /// the server's preference first). Which to offer is configuration: some phones give up
    /// on a list that holds an algorithm they do not know.
    pub fn challenges(
        &self,
        ip: IpAddr,
        now: SystemTime,
        stale: bool,
        algorithms: &[Algorithm],
    ) -> Vec<String> {
        let nonce = self.nonce(ip, now);
        let stale = if stale { ", stale=true" } else { "" };
        algorithms
            .iter()
            .map(|a| {
                format!(
                    "Digest realm=\"{}\", nonce=\"{}\", algorithm={}, qop=\"auth\"{}",
                    self.realm,
                    nonce,
                    a.name(),
                    stale
                )
            })
            .collect()
    }

    /// Whether `nonce` is one this authenticator issued to `ip` and that has not expired: a
    /// failed answer only counts against a source (and an account) if it is, so forged
    /// sources and made-up nonces cannot lock anyone out. The MAC binds the nonce to the
    /// address the challenge was sent to, so only that address could have received it.
    pub fn issued(&self, nonce: &str, ip: IpAddr, now: SystemTime) -> bool {
        let Some(raw) = hex::decode(nonce).ok().filter(|r| r.len() == 28) else {
            return false;
        };
        let mut ts_bytes = [0u8; 8];
        ts_bytes.copy_from_slice(&raw[..8]);
        let ts = u64::from_be_bytes(ts_bytes);
        if !constant_time_eq(&raw[16..], &self.mac(ts, &raw[8..16], ip)) {
            return false;
        }
        let now_s = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        now_s.saturating_sub(ts) <= self.ttl.as_secs() && ts <= now_s + 5
    }

    /// Checks `creds` for a request with `method`, against `ha1` (None: unknown user).
    pub fn check(
        &self,
        creds: &Credentials,
        method: &str,
        ha1: Option<&str>,
        ip: IpAddr,
        now: SystemTime,
    ) -> Check {
        let Some(alg) = creds.algorithm() else {
            return Check::Failed;
        };
        let decoy;
        let ha1 = match ha1 {
            Some(h) => h,
            None => {
                decoy = alg.hash(&hex::encode(self.decoy));
                decoy.as_str()
            }
        };
        let expected = match (&creds.qop, &creds.nc, &creds.cnonce) {
            (Some(q), Some(nc), Some(cn)) if q.eq_ignore_ascii_case("auth") => {
                let ha2 = alg.hash(&format!("{method}:{}", creds.uri));
                alg.hash(&format!("{ha1}:{}:{nc}:{cn}:auth:{ha2}", creds.nonce))
            }
            // qop=auth is required: it is what makes the nonce count (replay protection) work.
            _ => return Check::Failed,
        };
        let matches = constant_time_eq(expected.as_bytes(), creds.response.as_bytes());
        if !matches || creds.realm != self.realm {
            return Check::Failed;
        }
        // The password is right; now the nonce must be ours, fresh and not replayed.
        let Some(raw) = hex::decode(&creds.nonce).ok().filter(|r| r.len() == 28) else {
            return Check::Failed;
        };
        let mut ts_bytes = [0u8; 8];
        ts_bytes.copy_from_slice(&raw[..8]);
        let ts = u64::from_be_bytes(ts_bytes);
        if !constant_time_eq(&raw[16..], &self.mac(ts, &raw[8..16], ip)) {
            return Check::Failed;
        }
        let now_s = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if now_s.saturating_sub(ts) > self.ttl.as_secs() || ts > now_s + 5 {
            return Check::Stale;
        }
        let Some(nc) = creds
            .nc
            .as_deref()
            .and_then(|n| u32::from_str_radix(n, 16).ok())
        else {
            return Check::Failed;
        };
        let mut guard = self.used.lock();
        let (used, last_sweep) = &mut *guard;
        // Expired nonces are forgotten in one sweep every few seconds, never per request:
        // a sustained 3,000 registrations/s keeps about ttl x 3,000 entries.
        if used.len() > 10_000 && now_s >= *last_sweep + 5 {
            let ttl = self.ttl.as_secs();
            used.retain(|_, (t, _)| now_s.saturating_sub(*t) <= ttl);
            *last_sweep = now_s;
        }
        match used.get_mut(&creds.nonce) {
            Some((_, last)) if nc <= *last => Check::Stale,
            Some((_, last)) => {
                *last = nc;
                Check::Ok
            }
            None => {
                used.insert(creds.nonce.clone(), (ts, nc));
                Check::Ok
            }
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(alg: Algorithm, pw: &str, nonce: &str, nc: &str) -> Credentials {
        let h1 = ha1(alg, "1001", "hotline", pw);
        let ha2 = alg.hash("REGISTER:sip:hotline");
        Credentials {
            username: "1001".into(),
            realm: "hotline".into(),
            nonce: nonce.into(),
            uri: "sip:hotline".into(),
            response: alg.hash(&format!("{h1}:{nonce}:{nc}:abc:auth:{ha2}")),
            algorithm: Some(alg.name().into()),
            qop: Some("auth".into()),
            nc: Some(nc.into()),
            cnonce: Some("abc".into()),
        }
    }

    #[test]
    fn rfc2617_md5_example_response() {
        // RFC 2617 §3.5 (HTTP, but the same computation): response 6629fae49393a05397450978507c4ef1.
        let h1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        let ha2 = Algorithm::Md5.hash("GET:/dir/index.html");
        let r = Algorithm::Md5.hash(&format!(
            "{h1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}"
        ));
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn both_algorithms_verify_and_replay_is_refused() {
        let a = Authenticator::new("hotline", Duration::from_secs(300));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let now = SystemTime::now();
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let nonce = a.nonce(ip, now);
            let stored = ha1(alg, "1001", "hotline", "pass1001");
            let c = answer(alg, "pass1001", &nonce, "00000001");
            assert_eq!(a.check(&c, "REGISTER", Some(&stored), ip, now), Check::Ok);
            assert_eq!(
                a.check(&c, "REGISTER", Some(&stored), ip, now),
                Check::Stale
            );
            let c2 = answer(alg, "pass1001", &nonce, "00000002");
            assert_eq!(a.check(&c2, "REGISTER", Some(&stored), ip, now), Check::Ok);
            let wrong = answer(alg, "nope", &a.nonce(ip, now), "00000001");
            assert_eq!(
                a.check(&wrong, "REGISTER", Some(&stored), ip, now),
                Check::Failed
            );
        }
    }

    #[test]
    fn expired_forged_and_foreign_nonces() {
        let a = Authenticator::new("hotline", Duration::from_secs(300));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let now = SystemTime::now();
        let stored = ha1(Algorithm::Md5, "1001", "hotline", "pass1001");
        let old = a.nonce(ip, now - Duration::from_secs(301));
        let c = answer(Algorithm::Md5, "pass1001", &old, "00000001");
        assert_eq!(
            a.check(&c, "REGISTER", Some(&stored), ip, now),
            Check::Stale
        );
        let other_ip: IpAddr = "127.0.0.2".parse().unwrap();
        let c = answer(
            Algorithm::Md5,
            "pass1001",
            &a.nonce(other_ip, now),
            "00000001",
        );
        assert_eq!(
            a.check(&c, "REGISTER", Some(&stored), ip, now),
            Check::Failed
        );
        let forged = answer(Algorithm::Md5, "pass1001", &"0".repeat(56), "00000001");
        assert_eq!(
            a.check(&forged, "REGISTER", Some(&stored), ip, now),
            Check::Failed
        );
        let c = answer(Algorithm::Md5, "pass1001", &a.nonce(ip, now), "00000001");
        assert_eq!(a.check(&c, "REGISTER", None, ip, now), Check::Failed);
    }

    #[test]
    fn only_our_fresh_nonces_for_that_address_are_issued() {
        let a = Authenticator::new("hotline", Duration::from_secs(300));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        let now = SystemTime::now();
        let n = a.nonce(ip, now);
        assert!(a.issued(&n, ip, now));
        assert!(!a.issued(&n, other, now), "sent to another address");
        assert!(!a.issued(&n, ip, now + Duration::from_secs(301)), "expired");
        assert!(!a.issued(&"0".repeat(56), ip, now), "made up");
        assert!(!a.issued("xyz", ip, now));
        assert!(!a.issued("", ip, now));
        let b = Authenticator::new("hotline", Duration::from_secs(300));
        assert!(!b.issued(&n, ip, now), "another server's secret");
    }

    #[test]
    fn parses_authorization_header() {
        let c = Credentials::parse(
            "Digest username=\"1001\", realm=\"hotline\", nonce=\"ab\", uri=\"sip:h\", response=\"FF\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"x,y\"",
        )
        .unwrap();
        assert_eq!(c.username, "1001");
        assert_eq!(c.response, "ff");
        assert_eq!(c.cnonce.as_deref(), Some("x,y"));
        assert_eq!(c.qop.as_deref(), Some("auth"));
        assert!(Credentials::parse("Basic abc").is_none());
    }
}
