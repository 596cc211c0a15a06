//! The ingress guard: every datagram and every framed TCP message passes through here before
//! the SIP stack sees it.
//!
//! The guard answers what the stack would otherwise drop in silence (unparsable messages,
//! wrong versions, missing mandatory headers, oversize messages, unknown methods, unsupported
//! URI schemes or extensions), limits each source's request rate, and keeps sources that fail
//! authentication too often locked out. It is sans-IO: bytes, the source and `now` go in, a
//! verdict comes out, so it is unit-tested, property-tested and fuzzed without sockets.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use parking_lot::Mutex;

use crate::message::{self, RawMessage, StartLine, split_list};

/// Methods hotline knows and serves.
pub const ALLOWED: &[&str] = &[
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "REFER", "NOTIFY", "PRACK",
    "UPDATE",
];
/// Methods hotline knows but does not serve (answered 405 with `Allow`).
pub const KNOWN_NOT_ALLOWED: &[&str] = &["SUBSCRIBE", "PUBLISH", "MESSAGE"];
/// Option tags hotline supports in `Require`: `path` (RFC 3327, registrations through a
/// proxy).
pub const SUPPORTED_EXTENSIONS: &[&str] = &["path"];

/// Why a message was not passed on; also the `reason` label of the rejection metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    Unparsable,
    MissingHeader,
    BadHeader,
    ContentLength,
    TooLarge,
    Version,
    UnknownMethod,
    MethodNotAllowed,
    UriScheme,
    Extension,
    RateLimited,
    LockedOut,
    BadResponse,
    BadAck,
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Reason::Unparsable => "unparsable",
            Reason::MissingHeader => "missing_header",
            Reason::BadHeader => "bad_header",
            Reason::ContentLength => "content_length",
            Reason::TooLarge => "too_large",
            Reason::Version => "version",
            Reason::UnknownMethod => "unknown_method",
            Reason::MethodNotAllowed => "method_not_allowed",
            Reason::UriScheme => "uri_scheme",
            Reason::Extension => "extension",
            Reason::RateLimited => "rate_limited",
            Reason::LockedOut => "locked_out",
            Reason::BadResponse => "bad_response",
            Reason::BadAck => "bad_ack",
        }
    }
}

/// What to do with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Pass the first `len` bytes on to the stack (the datagram may carry bytes past the
    /// message's Content-Length, which RFC 3261 §18.3 says to discard).
    Pass { len: usize },
    /// Pass these bytes on instead: an RFC 2543 request whose top Via has no RFC 3261 branch,
    /// given a branch derived from what identifies its transaction, so the stack can match it.
    PassRewritten { bytes: Vec<u8> },
    /// Answer with these bytes and pass nothing on.
    Reply {
        status: u16,
        reason: Reason,
        bytes: Vec<u8>,
    },
    /// Nothing can be answered (a broken response or ACK); count it and go on.
    Drop { reason: Reason },
    /// Only white space: a keep-alive.
    KeepAlive,
}

/// Limits and rules of the guard.
#[derive(Debug, Clone)]
pub struct GuardConfig {
    pub max_message_bytes: usize,
    pub rate_per_second: u32,
    pub burst: u32,
    pub auth_failures: u32,
    pub failure_window: Duration,
    pub lockout: Duration,
    /// Failures on one account (extension or trunk user), from any sources, within
    /// `failure_window` that lock the account out; 0 disables.
    pub account_failures: u32,
    /// The first lockout of an account; each further one doubles, up to 16 times.
    pub account_lockout: Duration,
    /// Sources exempt from rate limits: the carriers' trunks.
    pub trusted: Vec<IpNet>,
    /// Proxies whose `X-Hotline-Source` names where they received a request (`sip.proxies`).
    pub proxies: Vec<IpNet>,
    pub server_name: String,
}

/// The header in which a proxy in front (`sip.proxies`) names the address it received a
/// request from.
pub const SOURCE_HEADER: &str = "x-hotline-source";

impl GuardConfig {
    pub fn from_config(cfg: &hotline_config::Config) -> Self {
        let g = &cfg.sip.guard;
        GuardConfig {
            max_message_bytes: cfg.sip.max_message_bytes,
            rate_per_second: g.rate_per_second,
            burst: g.burst.max(1),
            auth_failures: g.auth_failures,
            failure_window: Duration::from_secs(g.failure_window_seconds),
            lockout: Duration::from_secs(g.lockout_seconds),
            account_failures: g.account_failures,
            account_lockout: Duration::from_secs(g.account_lockout_seconds),
            trusted: cfg.trunks.iter().flat_map(|t| t.sources.clone()).collect(),
            proxies: cfg.sip.proxies.clone(),
            server_name: cfg.sip.server_header.clone(),
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Default)]
struct Failures {
    recent: Vec<Instant>,
    locked_until: Option<Instant>,
}

/// Failures on one account, and the sources that recently proved they know its password.
#[derive(Default)]
struct AccountFailures {
    recent: Vec<Instant>,
    locked_until: Option<Instant>,
    /// Lockouts so far without a success in between: each doubles the next one.
    strikes: u32,
    /// When the last failure or lockout was; the entry is forgotten a while after.
    last: Option<Instant>,
    /// Sources that authenticated as this account (most recent last, at most
    /// [`GOOD_SOURCES`]): a lockout of the account does not apply to them, so guessing from
    /// elsewhere cannot lock the phone on the agent's desk out.
    good: Vec<(IpAddr, Instant)>,
}

/// How many proven sources one account remembers.
const GOOD_SOURCES: usize = 8;
/// How long a proven source stays exempt from an account's lockout.
const GOOD_FOR: Duration = Duration::from_secs(24 * 3600);

/// The guard's state: per-source token buckets and authentication failures.
pub struct Guard {
    cfg: GuardConfig,
    /// The trunks' trusted networks now (the configuration's at start; replaced when the
    /// trunks change live).
    trusted: parking_lot::RwLock<Vec<IpNet>>,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
    accounts: Mutex<HashMap<String, AccountFailures>>,
    /// When the maps were last swept of idle sources (a sweep is O(sources), so it runs at
    /// most once a second, not per request).
    last_sweep: Mutex<Option<Instant>>,
}

impl Guard {
    pub fn new(cfg: GuardConfig) -> Self {
        Guard {
            trusted: parking_lot::RwLock::new(cfg.trusted.clone()),
            cfg,
            buckets: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            accounts: Mutex::new(HashMap::new()),
            last_sweep: Mutex::new(None),
        }
    }

    pub fn config(&self) -> &GuardConfig {
        &self.cfg
    }

    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.read().iter().any(|n| n.contains(&ip))
    }

    /// Takes the trunks' trusted networks of `cfg` (a live change of the trunks).
    pub fn set_trusted(&self, cfg: &hotline_config::Config) {
        *self.trusted.write() = cfg.trunks.iter().flat_map(|t| t.sources.clone()).collect();
    }

    /// Where a request really comes from: for one relayed by a proxy of `sip.proxies`, the
    /// address its one `X-Hotline-Source` header names; otherwise (no proxy, no header, a
    /// header that is not an address, or several) the sender's.
    pub fn client_of(&self, msg: &RawMessage<'_>, src: SocketAddr) -> IpAddr {
        let sender = src.ip();
        if !self.cfg.proxies.iter().any(|n| n.contains(&sender)) || msg.count(SOURCE_HEADER) != 1 {
            return sender;
        }
        msg.first(SOURCE_HEADER)
            .and_then(|v| {
                let v = v.trim();
                v.parse::<IpAddr>()
                    .ok()
                    .or_else(|| v.parse::<SocketAddr>().ok().map(|a| a.ip()))
            })
            .unwrap_or(sender)
    }

    /// Judges one message from `src`. `stream` is true for TCP, where framing already matched
    /// the Content-Length to the bytes read.
    pub fn inspect(&self, data: &[u8], src: SocketAddr, stream: bool, now: Instant) -> Verdict {
        if data.iter().all(|b| b.is_ascii_whitespace()) {
            return Verdict::KeepAlive;
        }
        let msg = message::split(data);
        let is_request = matches!(msg.start, Some(StartLine::Request { .. }));
        let is_response = matches!(msg.start, Some(StartLine::Response { .. }));
        let method = match &msg.start {
            Some(StartLine::Request { method, .. }) => Some(*method),
            _ => None,
        };
        // Nothing may answer a response or an ACK (RFC 3261 §17.1.1.3, §8.2.6.1).
        let answerable = !is_response && method != Some("ACK");
        let reject = |status: u16, reason: Reason, extra: &[(&str, String)]| {
            if answerable {
                Verdict::Reply {
                    status,
                    reason,
                    bytes: build_response(&msg, status, extra, &self.cfg.server_name),
                }
            } else if is_response {
                Verdict::Drop {
                    reason: Reason::BadResponse,
                }
            } else {
                Verdict::Drop {
                    reason: Reason::BadAck,
                }
            }
        };

        // Per-source limits apply to where a request really comes from (see `client_of`).
        let client = if is_request {
            self.client_of(&msg, src)
        } else {
            src.ip()
        };
        if is_request && !self.is_trusted(client) && !self.take_token(client, now) {
            let wait = if self.cfg.rate_per_second == 0 {
                1
            } else {
                (1.0 / self.cfg.rate_per_second as f64).ceil().max(1.0) as u64
            };
            return reject(
                503,
                Reason::RateLimited,
                &[("Retry-After", wait.to_string())],
            );
        }
        if data.len() > self.cfg.max_message_bytes {
            return reject(513, Reason::TooLarge, &[]);
        }
        let Some(start) = &msg.start else {
            if data.len() >= 4 && data[..4].eq_ignore_ascii_case(b"SIP/") {
                return Verdict::Drop {
                    reason: Reason::BadResponse,
                };
            }
            // Without a start line we cannot tell what it is; answer only if it looks like a
            // request with the headers a response needs.
            return if msg.count("via") > 0 && msg.count("call-id") > 0 && msg.count("cseq") > 0 {
                Verdict::Reply {
                    status: 400,
                    reason: Reason::Unparsable,
                    bytes: build_response(
                        &msg,
                        400,
                        &[(
                            "Warning",
                            warning(msg.start_error.unwrap_or("bad start line")),
                        )],
                        &self.cfg.server_name,
                    ),
                }
            } else {
                Verdict::Drop {
                    reason: Reason::Unparsable,
                }
            };
        };
        let version = match start {
            StartLine::Request { version, .. } | StartLine::Response { version, .. } => *version,
        };
        if version != "SIP/2.0" {
            if version.eq_ignore_ascii_case("SIP/2.0") {
                // Case-insensitive per RFC 3261 §7.1 (and RFC 4475's "lowercase version").
            } else {
                return reject(505, Reason::Version, &[]);
            }
        }
        if let Some(e) = msg.header_error {
            return reject(400, Reason::BadHeader, &[("Warning", warning(e))]);
        }
        for h in ["via", "from", "to", "call-id", "cseq"] {
            if msg.count(h) == 0 {
                return reject(
                    400,
                    Reason::MissingHeader,
                    &[("Warning", warning(&format!("missing {h} header")))],
                );
            }
        }
        for h in [
            "from",
            "to",
            "call-id",
            "cseq",
            "max-forwards",
            "content-length",
        ] {
            if msg.count(h) > 1 {
                return reject(
                    400,
                    Reason::BadHeader,
                    &[("Warning", warning(&format!("more than one {h} header")))],
                );
            }
        }
        if let Err(e) = check_vias(&msg) {
            return reject(400, Reason::BadHeader, &[("Warning", warning(e))]);
        }
        let cseq = msg.first("cseq").unwrap_or("");
        let cseq_method = match parse_cseq(cseq) {
            Ok((_, m)) => m,
            Err(e) => return reject(400, Reason::BadHeader, &[("Warning", warning(e))]),
        };
        if let Some(mf) = msg.first("max-forwards")
            && mf.parse::<u8>().is_err()
        {
            return reject(
                400,
                Reason::BadHeader,
                &[("Warning", warning("Max-Forwards is not a number 0-255"))],
            );
        }
        for h in ["from", "to"] {
            if let Err(e) = check_name_addr(msg.first(h).unwrap_or("")) {
                return reject(
                    400,
                    Reason::BadHeader,
                    &[("Warning", warning(&format!("{h}: {e}")))],
                );
            }
        }
        // Content-Length against the bytes actually received.
        let body_offset = msg.body_offset.unwrap_or(data.len());
        let available = data.len().saturating_sub(body_offset);
        let mut len = data.len();
        match msg.first("content-length") {
            Some(v) => match v.parse::<usize>() {
                Ok(cl) if cl > available => {
                    return reject(
                        400,
                        Reason::ContentLength,
                        &[(
                            "Warning",
                            warning("Content-Length is larger than the message body"),
                        )],
                    );
                }
                Ok(cl) => len = body_offset + cl,
                Err(_) => {
                    return reject(
                        400,
                        Reason::ContentLength,
                        &[("Warning", warning("Content-Length is not a number"))],
                    );
                }
            },
            None if stream => {
                return reject(
                    400,
                    Reason::ContentLength,
                    &[("Warning", warning("Content-Length is required over TCP"))],
                );
            }
            None => {}
        }
        if msg.body_offset.is_none() && !stream {
            return reject(
                400,
                Reason::Unparsable,
                &[("Warning", warning("header section is not terminated"))],
            );
        }

        if let StartLine::Request { method, uri, .. } = start {
            if !cseq_method.eq(*method) {
                return reject(
                    400,
                    Reason::BadHeader,
                    &[(
                        "Warning",
                        warning("CSeq method does not match the request method"),
                    )],
                );
            }
            let allow = ("Allow", ALLOWED.join(", "));
            if KNOWN_NOT_ALLOWED.contains(method) {
                return reject(405, Reason::MethodNotAllowed, &[allow]);
            }
            if !ALLOWED.contains(method) {
                return reject(501, Reason::UnknownMethod, &[allow]);
            }
            let scheme = uri.split(':').next().unwrap_or("").to_ascii_lowercase();
            if !uri.contains(':') {
                return reject(
                    400,
                    Reason::Unparsable,
                    &[("Warning", warning("Request-URI has no scheme"))],
                );
            }
            if !matches!(scheme.as_str(), "sip" | "sips" | "tel") {
                return reject(416, Reason::UriScheme, &[]);
            }
            if rsipstack::sip::Uri::try_from(*uri).is_err() {
                return reject(
                    400,
                    Reason::Unparsable,
                    &[("Warning", warning("hotline cannot read the Request-URI"))],
                );
            }
            if *method != "ACK" && *method != "CANCEL" {
                let unsupported: Vec<&str> = msg
                    .all("require")
                    .flat_map(split_list)
                    .filter(|t| {
                        !SUPPORTED_EXTENSIONS
                            .iter()
                            .any(|s| s.eq_ignore_ascii_case(t))
                    })
                    .collect();
                if !unsupported.is_empty() {
                    return reject(
                        420,
                        Reason::Extension,
                        &[("Unsupported", unsupported.join(", "))],
                    );
                }
            }
            if matches!(*method, "INVITE" | "UPDATE" | "PRACK") {
                // Offers and answers are SDP; a body of another type cannot be understood
                // (RFC 3261 §21.4.13), and a caller that accepts no SDP cannot be answered.
                let has_body = len > body_offset;
                let ctype = msg.first("content-type").map(|c| {
                    c.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase()
                });
                if has_body
                    && !matches!(
                        ctype.as_deref(),
                        Some("application/sdp") | Some("multipart/mixed")
                    )
                {
                    return reject(
                        415,
                        Reason::BadHeader,
                        &[("Accept", "application/sdp".to_string())],
                    );
                }
                if *method == "INVITE" && msg.count("accept") > 0 {
                    let accepts_sdp = msg.all("accept").flat_map(split_list).any(|a| {
                        let a = a.split(';').next().unwrap_or("").trim();
                        a.eq_ignore_ascii_case("application/sdp")
                            || a == "*/*"
                            || a.eq_ignore_ascii_case("application/*")
                    });
                    if !accepts_sdp {
                        return reject(
                            406,
                            Reason::BadHeader,
                            &[("Warning", warning("the caller accepts no application/sdp"))],
                        );
                    }
                }
            }
            if (*method == "REGISTER" || *method == "INVITE") && self.is_locked_out(client, now) {
                let left = self.lockout_left(client, now).as_secs().max(1);
                return reject(403, Reason::LockedOut, &[("Retry-After", left.to_string())]);
            }
        }
        let rewritten = if is_request {
            normalize(data, len, &msg)
        } else {
            None
        };
        let bytes = rewritten.as_deref().unwrap_or(&data[..len]);
        // The stack's own parser has the last word: anything it cannot read is answered here
        // rather than dropped by it in silence.
        if rsipstack::sip::SipMessage::try_from(bytes).is_err() {
            return reject(
                400,
                Reason::Unparsable,
                &[("Warning", warning("message could not be parsed"))],
            );
        }
        match rewritten {
            Some(bytes) => Verdict::PassRewritten { bytes },
            None => Verdict::Pass { len },
        }
    }

    fn take_token(&self, ip: IpAddr, now: Instant) -> bool {
        if self.cfg.rate_per_second == 0 {
            return true;
        }
        let mut buckets = self.buckets.lock();
        if buckets.len() > 100_000 && self.sweep_due(now) {
            // Forget sources idle long enough to have refilled: bounded memory under spoofing.
            let full =
                Duration::from_secs_f64(self.cfg.burst as f64 / self.cfg.rate_per_second as f64);
            buckets.retain(|_, b| now.saturating_duration_since(b.at) < full);
        }
        let rate = self.cfg.rate_per_second as f64;
        let burst = self.cfg.burst as f64;
        let b = buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn sweep_due(&self, now: Instant) -> bool {
        let mut last = self.last_sweep.lock();
        match *last {
            Some(t) if now.saturating_duration_since(t) < Duration::from_secs(1) => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }

    /// Records a failed authentication from `ip`; returns true if the source is now locked out.
    /// The caller counts only failures against a nonce hotline issued to `ip`. A trunk's
    /// trusted source is never locked out: the carrier is identified by its address, and
    /// traffic from that address that authenticates as something else must not cut it off.
    pub fn auth_failed(&self, ip: IpAddr, now: Instant) -> bool {
        if self.cfg.auth_failures == 0 || self.is_trusted(ip) {
            return false;
        }
        let mut all = self.failures.lock();
        if all.len() > 100_000 && self.sweep_due(now) {
            let window = self.cfg.failure_window;
            all.retain(|_, f| {
                f.locked_until.is_some_and(|u| u > now)
                    || f.recent
                        .last()
                        .is_some_and(|t| now.saturating_duration_since(*t) < window)
            });
        }
        let f = all.entry(ip).or_default();
        let window = self.cfg.failure_window;
        f.recent
            .retain(|t| now.saturating_duration_since(*t) < window);
        f.recent.push(now);
        if f.recent.len() >= self.cfg.auth_failures as usize {
            f.locked_until = Some(now + self.cfg.lockout);
            f.recent.clear();
            true
        } else {
            false
        }
    }

    /// Records a failed authentication as `account` (counted like [`Guard::auth_failed`]:
    /// only against an issued nonce); returns true if the account is now locked out. Each
    /// lockout without a success in between is twice as long as the one before.
    pub fn account_failed(&self, account: &str, now: Instant) -> bool {
        if self.cfg.account_failures == 0 {
            return false;
        }
        let mut all = self.accounts.lock();
        if all.len() > 100_000 {
            self.sweep_accounts(&mut all, now);
        }
        let window = self.cfg.failure_window;
        let f = all.entry(account.to_string()).or_default();
        f.last = Some(now);
        if f.locked_until.is_some_and(|u| u > now) {
            return true;
        }
        f.recent
            .retain(|t| now.saturating_duration_since(*t) < window);
        f.recent.push(now);
        if f.recent.len() >= self.cfg.account_failures as usize {
            let factor = 1u32 << f.strikes.min(4);
            f.locked_until = Some(now + self.cfg.account_lockout * factor);
            f.strikes = f.strikes.saturating_add(1);
            f.recent.clear();
            true
        } else {
            false
        }
    }

    /// Records a successful authentication as `account` from `ip`: the account's back-off
    /// starts over and `ip` is exempt from its lockouts from now on.
    pub fn auth_succeeded(&self, account: &str, ip: IpAddr, now: Instant) {
        let mut all = self.accounts.lock();
        let Some(f) = all.get_mut(account) else {
            if self.cfg.account_failures == 0 {
                return;
            }
            let mut f = AccountFailures::default();
            f.good.push((ip, now));
            f.last = Some(now);
            all.insert(account.to_string(), f);
            return;
        };
        f.strikes = 0;
        f.recent.clear();
        f.last = Some(now);
        f.good.retain(|(g, _)| *g != ip);
        f.good.push((ip, now));
        if f.good.len() > GOOD_SOURCES {
            f.good.remove(0);
        }
    }

    /// How long `account` is still locked out for a request from `ip` (zero: not locked, or
    /// `ip` recently proved it knows the password).
    pub fn account_lockout_left(&self, account: &str, ip: IpAddr, now: Instant) -> Duration {
        let all = self.accounts.lock();
        let Some(f) = all.get(account) else {
            return Duration::ZERO;
        };
        if f.good
            .iter()
            .any(|(g, at)| *g == ip && now.saturating_duration_since(*at) < GOOD_FOR)
        {
            return Duration::ZERO;
        }
        f.locked_until
            .map_or(Duration::ZERO, |u| u.saturating_duration_since(now))
    }

    fn sweep_accounts(&self, all: &mut HashMap<String, AccountFailures>, now: Instant) {
        // An account's strikes are forgotten after a quiet day; a proven source after GOOD_FOR.
        let keep = GOOD_FOR;
        all.retain(|_, f| {
            f.good
                .retain(|(_, at)| now.saturating_duration_since(*at) < GOOD_FOR);
            f.locked_until.is_some_and(|u| u > now)
                || !f.good.is_empty()
                || f.last
                    .is_some_and(|t| now.saturating_duration_since(t) < keep)
        });
    }

    /// Forgets what no longer matters (idle sources' buckets, expired failures and lockouts)
    /// and gives the memory back: run every few seconds, so a flood from many sources leaves
    /// nothing behind once it stops.
    pub fn purge(&self, now: Instant) {
        if self.cfg.rate_per_second > 0 {
            let full =
                Duration::from_secs_f64(self.cfg.burst as f64 / self.cfg.rate_per_second as f64);
            let mut buckets = self.buckets.lock();
            buckets.retain(|_, b| now.saturating_duration_since(b.at) < full);
            buckets.shrink_to_fit();
        }
        let window = self.cfg.failure_window;
        {
            let mut all = self.failures.lock();
            all.retain(|_, f| {
                f.locked_until.is_some_and(|u| u > now)
                    || f.recent
                        .last()
                        .is_some_and(|t| now.saturating_duration_since(*t) < window)
            });
            all.shrink_to_fit();
        }
        let mut all = self.accounts.lock();
        self.sweep_accounts(&mut all, now);
        all.shrink_to_fit();
    }

    /// Entries kept now: (rate buckets, source failure records, account records).
    pub fn table_sizes(&self) -> (usize, usize, usize) {
        (
            self.buckets.lock().len(),
            self.failures.lock().len(),
            self.accounts.lock().len(),
        )
    }

    pub fn is_locked_out(&self, ip: IpAddr, now: Instant) -> bool {
        !self.lockout_left(ip, now).is_zero()
    }

    fn lockout_left(&self, ip: IpAddr, now: Instant) -> Duration {
        self.failures
            .lock()
            .get(&ip)
            .and_then(|f| f.locked_until)
            .map_or(Duration::ZERO, |u| u.saturating_duration_since(now))
    }
}

fn top_via_has_cookie(msg: &RawMessage<'_>) -> bool {
    msg.first("via")
        .and_then(|v| split_list(v).into_iter().next())
        .is_some_and(|v| tighten(v).contains(";branch=z9hG4bK"))
}

/// The request in the plain form the stack parses, if it is not already: one line a header
/// (folding undone), no white space around `;`, `=`, `/` in the headers that identify a
/// transaction, and, for RFC 2543 clients, a top-Via branch and a From tag. The branch and
/// tag derive from Call-ID, CSeq number, From and Via (not the method), so a retransmission,
/// and the ACK or CANCEL of an INVITE, get the same ones, as RFC 3261 §17.2.3 matches them.
fn normalize(data: &[u8], len: usize, msg: &RawMessage<'_>) -> Option<Vec<u8>> {
    const TIGHT: &[&str] = &[
        "via",
        "from",
        "to",
        "contact",
        "cseq",
        "call-id",
        "route",
        "record-route",
    ];
    let needs_cookie = !top_via_has_cookie(msg);
    let needs_tag = !msg
        .first("from")
        .is_some_and(|f| tighten(f).to_ascii_lowercase().contains(";tag="));
    let loose = msg
        .headers
        .iter()
        .any(|h| TIGHT.contains(&h.canonical.as_str()) && tighten(&h.value) != h.value);
    if !(msg.folded || loose || needs_cookie || needs_tag) {
        return None;
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    msg.first("call-id").hash(&mut h);
    msg.first("cseq")
        .and_then(|c| c.split_whitespace().next())
        .hash(&mut h);
    msg.first("from").hash(&mut h);
    msg.first("via")
        .and_then(|v| split_list(v).into_iter().next())
        .hash(&mut h);
    let id = h.finish();

    let body = msg.body_offset.unwrap_or(len).min(len);
    let first_line_end = memchr::memchr(b'\n', data).map_or(0, |p| p + 1);
    let mut out = Vec::with_capacity(len + 96);
    out.extend_from_slice(&data[..first_line_end]);
    let mut first_via = true;
    for hdr in &msg.headers {
        let mut value = if TIGHT.contains(&hdr.canonical.as_str()) {
            tighten(&hdr.value)
        } else {
            hdr.value.clone()
        };
        if hdr.canonical == "via" && first_via {
            first_via = false;
            if needs_cookie {
                let (top, rest) = match value.find(',') {
                    Some(i) => (value[..i].to_string(), value[i..].to_string()),
                    None => (value.clone(), String::new()),
                };
                // An old-style branch is kept under another name; the stack reads ours.
                let top = top.replacen(";branch=", ";x-rfc2543-branch=", 1);
                value = format!("{top};branch=z9hG4bK2543{id:016x}{rest}");
            }
        }
        if hdr.canonical == "from" && needs_tag {
            value = format!("{value};tag=2543{id:016x}");
        }
        out.extend_from_slice(hdr.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&data[body..len]);
    Some(out)
}

/// Removes white space around `;`, `=`, `/`, `,` and `:` outside quotes and collapses runs of
/// white space elsewhere: `SIP / 2.0 / UDP h ; branch = x` → `SIP/2.0/UDP h;branch=x`.
fn tighten(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut quoted = false;
    let mut escaped = false;
    let mut space = false;
    for c in v.trim().chars() {
        if quoted {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
            continue;
        }
        if c.is_whitespace() {
            space = true;
            continue;
        }
        let sep = matches!(c, ';' | '=' | '/' | ',');
        if space && !sep && !out.ends_with([';', '=', '/', ',']) && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        if c == '"' {
            quoted = true;
        }
        out.push(c);
    }
    out
}

fn warning(text: &str) -> String {
    let clean: String = text.chars().filter(|c| *c != '"' && *c != '\\').collect();
    format!("399 hotline \"{clean}\"")
}

/// `1 INVITE` → (1, "INVITE"); the number must fit 31 bits (RFC 3261 §8.1.1.5).
pub fn parse_cseq(v: &str) -> Result<(u32, &str), &'static str> {
    let mut it = v.split_whitespace();
    let (Some(n), Some(m), None) = (it.next(), it.next(), it.next()) else {
        return Err("CSeq is not `number method`");
    };
    let n: u32 = n.parse().map_err(|_| "CSeq number is not a number")?;
    if n >= 1 << 31 {
        return Err("CSeq number is out of range");
    }
    if !m.bytes().all(message::is_token_char) {
        return Err("CSeq method is not a token");
    }
    Ok((n, m))
}

fn check_vias(msg: &RawMessage<'_>) -> Result<(), &'static str> {
    for v in msg.all("via") {
        for via in split_list(v) {
            // LWS may surround the slashes: `SIP / 2.0 / UDP host` (RFC 4475 §3.1.1.1).
            let mut compact = String::with_capacity(via.len());
            let mut chars = via.trim().chars().peekable();
            while let Some(c) = chars.next() {
                if c.is_whitespace() {
                    while chars.peek().is_some_and(|n| n.is_whitespace()) {
                        chars.next();
                    }
                    if compact.ends_with('/') || chars.peek() == Some(&'/') {
                        continue;
                    }
                    compact.push(' ');
                } else {
                    compact.push(c);
                }
            }
            let (proto, rest) = compact.split_once(' ').ok_or("Via has no sent-by")?;
            let parts: Vec<&str> = proto.split('/').map(str::trim).collect();
            if parts.len() != 3
                || !parts[0].eq_ignore_ascii_case("SIP")
                || parts[2].is_empty()
                || !parts[2].bytes().all(message::is_token_char)
            {
                return Err("Via protocol is not SIP/2.0/<transport>");
            }
            let sent_by = rest.trim_start().split(';').next().unwrap_or("").trim();
            if sent_by.is_empty() || sent_by.contains(' ') {
                return Err("Via sent-by is empty or malformed");
            }
        }
    }
    Ok(())
}

/// A From/To value must be a name-addr with balanced brackets and quotes, or an addr-spec.
fn check_name_addr(v: &str) -> Result<(), &'static str> {
    let mut quoted = false;
    let mut escaped = false;
    let mut depth = 0i32;
    for c in v.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err("unbalanced angle brackets");
        }
    }
    if quoted {
        return Err("unterminated quoted string");
    }
    if depth != 0 {
        return Err("unbalanced angle brackets");
    }
    let uri = match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v.split(';').next().unwrap_or(""),
    };
    if !uri.contains(':') {
        return Err("address has no URI scheme");
    }
    // The SIP stack reads the address with its own URI parser and drops a message it cannot
    // read without answering; so a URI it cannot read (e.g. a user part holding `?`, which
    // RFC 3261 allows but the stack does not) is refused here, with a 400 that says so.
    if rsipstack::sip::Uri::try_from(uri).is_err() {
        return Err(
            "hotline cannot read this address (write unusual characters in the user part %-escaped)",
        );
    }
    Ok(())
}

/// Builds a response to `msg` from its raw headers, so even a message the stack cannot parse
/// gets a correct answer: Vias in order, From, To with a tag, Call-ID, CSeq.
pub fn build_response(
    msg: &RawMessage<'_>,
    status: u16,
    extra: &[(&str, String)],
    server: &str,
) -> Vec<u8> {
    let mut out = String::with_capacity(512);
    out.push_str("SIP/2.0 ");
    out.push_str(&status.to_string());
    out.push(' ');
    out.push_str(reason_phrase(status));
    out.push_str("\r\n");
    for v in msg.all("via") {
        out.push_str("Via: ");
        out.push_str(v);
        out.push_str("\r\n");
    }
    if let Some(f) = msg.first("from") {
        out.push_str("From: ");
        out.push_str(f);
        out.push_str("\r\n");
    }
    if let Some(t) = msg.first("to") {
        out.push_str("To: ");
        out.push_str(t);
        if !t.to_ascii_lowercase().contains(";tag=") {
            out.push_str(";tag=");
            out.push_str(&tag_for(msg));
        }
        out.push_str("\r\n");
    }
    for h in ["call-id", "cseq"] {
        if let Some(v) = msg.first(h) {
            out.push_str(if h == "cseq" { "CSeq: " } else { "Call-ID: " });
            out.push_str(v);
            out.push_str("\r\n");
        }
    }
    for (k, v) in extra {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push_str("\r\n");
    }
    out.push_str("Server: ");
    out.push_str(server);
    out.push_str("\r\nContent-Length: 0\r\n\r\n");
    out.into_bytes()
}

/// A To tag derived from the request, so a retransmission gets the same answer.
fn tag_for(msg: &RawMessage<'_>) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    msg.first("call-id").hash(&mut h);
    msg.first("cseq").hash(&mut h);
    msg.first("from").hash(&mut h);
    format!("hl{:x}", h.finish())
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        406 => "Not Acceptable",
        415 => "Unsupported Media Type",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        _ => "Unknown",
    }
}

/// One fuzzing step: judges `data` as UDP and as TCP from an untrusted source and checks what
/// must hold for any input. Shared by the cargo-fuzz target and the property test, so the test
/// suite runs exactly what the fuzzer runs.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    let guard = Guard::new(GuardConfig {
        max_message_bytes: 8192,
        rate_per_second: 0,
        burst: 1,
        auth_failures: 5,
        failure_window: Duration::from_secs(60),
        lockout: Duration::from_secs(300),
        account_failures: 10,
        account_lockout: Duration::from_secs(60),
        trusted: Vec::new(),
        // The sender is a proxy: the fuzzer's X-Hotline-Source headers are read too.
        proxies: vec![IpNet::from(IpAddr::from([192, 0, 2, 1]))],
        server_name: "hotline/fuzz".into(),
    });
    let src: SocketAddr = ([192, 0, 2, 1], 5060).into();
    for stream in [false, true] {
        match guard.inspect(data, src, stream, Instant::now()) {
            Verdict::Pass { len } => {
                assert!(len <= data.len());
                assert!(rsipstack::sip::SipMessage::try_from(&data[..len]).is_ok());
            }
            Verdict::PassRewritten { bytes } => {
                assert!(rsipstack::sip::SipMessage::try_from(bytes.as_slice()).is_ok());
            }
            Verdict::Reply { status, bytes, .. } => {
                assert!((400..600).contains(&status));
                let text = String::from_utf8_lossy(&bytes);
                assert!(text.starts_with(&format!("SIP/2.0 {status} ")), "{text}");
                assert!(text.ends_with("\r\n\r\n"));
                // Whatever is echoed back must not smuggle in lines of its own.
                assert!(!text.contains("\r\n\r\n\r\n"));
            }
            Verdict::Drop { .. } | Verdict::KeepAlive => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        guard_with(1000, 1000)
    }

    fn guard_with(rate_per_second: u32, burst: u32) -> Guard {
        Guard::new(GuardConfig {
            max_message_bytes: 4096,
            rate_per_second,
            burst,
            auth_failures: 3,
            failure_window: Duration::from_secs(60),
            lockout: Duration::from_secs(300),
            account_failures: 4,
            account_lockout: Duration::from_secs(60),
            trusted: vec!["10.0.0.0/8".parse().unwrap()],
            proxies: vec!["10.9.9.9/32".parse().unwrap()],
            server_name: "hotline/test".into(),
        })
    }

    const SRC: &str = "192.0.2.7:5060";

    fn req(start: &str, extra: &str) -> Vec<u8> {
        let method = start.split(' ').next().unwrap();
        format!(
            "{start}\r\nVia: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x1\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn status(v: &Verdict) -> u16 {
        match v {
            Verdict::Reply { status, .. } => *status,
            Verdict::Pass { .. } | Verdict::PassRewritten { .. } => 0,
            Verdict::Drop { .. } => 1,
            Verdict::KeepAlive => 2,
        }
    }

    fn check(g: &Guard, data: &[u8]) -> Verdict {
        g.inspect(data, SRC.parse().unwrap(), false, Instant::now())
    }

    #[test]
    fn tighten_keeps_quoted_text() {
        assert_eq!(
            tighten("SIP  / 2.0  / TCP   h.example.com ;\n branch = z9hG4bK1"),
            "SIP/2.0/TCP h.example.com;branch=z9hG4bK1"
        );
        assert_eq!(
            tighten("\"J  Rosenberg \\\"\"  <sip:j@e> ; tag = 9"),
            "\"J  Rosenberg \\\"\" <sip:j@e>;tag=9"
        );
    }

    #[test]
    fn well_formed_options_passes() {
        let g = guard();
        let m = req("OPTIONS sip:hotline@example.com SIP/2.0", "");
        assert_eq!(check(&g, &m), Verdict::Pass { len: m.len() });
    }

    #[test]
    fn rfc_answers() {
        let g = guard();
        assert_eq!(status(&check(&g, &req("OPTIONS sip:x@y SIP/7.0", ""))), 505);
        assert_eq!(status(&check(&g, &req("FOO sip:x@y SIP/2.0", ""))), 501);
        assert_eq!(status(&check(&g, &req("PUBLISH sip:x@y SIP/2.0", ""))), 405);
        assert_eq!(
            status(&check(&g, &req("OPTIONS http:x@y SIP/2.0", ""))),
            416
        );
        assert_eq!(
            status(&check(
                &g,
                &req("OPTIONS sip:x@y SIP/2.0", "Require: foo, bar\r\n")
            )),
            420
        );
        let big = req(
            "OPTIONS sip:x@y SIP/2.0",
            &format!("X-Pad: {}\r\n", "a".repeat(5000)),
        );
        assert_eq!(status(&check(&g, &big)), 513);
        let no_callid = b"OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(status(&check(&g, no_callid)), 400);
    }

    #[test]
    fn reply_copies_transaction_headers_and_tags_to() {
        let g = guard();
        let v = check(&g, &req("FOO sip:x@y SIP/2.0", ""));
        let Verdict::Reply { bytes, .. } = v else {
            panic!("expected a reply")
        };
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with("SIP/2.0 501 Not Implemented\r\n"),
            "{text}"
        );
        assert!(text.contains("Via: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bKx\r\n"));
        assert!(text.contains("To: <sip:c@d>;tag=hl"));
        assert!(text.contains("CSeq: 1 FOO\r\n"));
        assert!(text.contains("Allow: INVITE, ACK"));
    }

    #[test]
    fn an_address_the_stack_cannot_read_is_answered_400_not_dropped() {
        let g = guard();
        let invite = |from: &str| {
            format!(
                "INVITE sip:95588@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: {from};tag=1\r\nTo: <sip:95588@h>\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            )
        };
        let v = check(&g, invite("<sip:?@127.0.0.1>").as_bytes());
        assert_eq!(status(&v), 400);
        let Verdict::Reply { bytes, .. } = v else {
            unreachable!()
        };
        assert!(String::from_utf8_lossy(&bytes).contains("cannot read this address"));
        let odd_target = invite("<sip:c@h>").replace("INVITE sip:95588@h", "INVITE sip:?@h");
        assert_eq!(status(&check(&g, odd_target.as_bytes())), 400);
        // Escaped, the same caller is taken.
        let ok = check(&g, invite("<sip:%3F@127.0.0.1>").as_bytes());
        assert!(matches!(ok, Verdict::Pass { .. }), "{ok:?}");
    }

    #[test]
    fn content_length_larger_than_body_is_400_smaller_is_truncated() {
        let g = guard();
        let longer = b"OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 50\r\n\r\nabc";
        assert_eq!(status(&check(&g, longer)), 400);
        let shorter = b"OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 1\r\n\r\nabc";
        assert_eq!(
            check(&g, shorter),
            Verdict::Pass {
                len: shorter.len() - 2
            }
        );
    }

    #[test]
    fn responses_and_acks_are_never_answered() {
        let g = guard();
        let bad_ack = b"ACK sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            check(&g, bad_ack),
            Verdict::Drop {
                reason: Reason::BadAck
            }
        );
        let bad_resp = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            check(&g, bad_resp),
            Verdict::Drop {
                reason: Reason::BadResponse
            }
        );
    }

    #[test]
    fn rate_limit_answers_503_but_trusts_trunks() {
        let g = guard_with(10, 5);
        let m = req("OPTIONS sip:x@y SIP/2.0", "");
        let now = Instant::now();
        let src: SocketAddr = SRC.parse().unwrap();
        let codes: Vec<u16> = (0..8)
            .map(|_| status(&g.inspect(&m, src, false, now)))
            .collect();
        assert_eq!(codes, vec![0, 0, 0, 0, 0, 503, 503, 503]);
        // Refilled after a second at 10/s.
        assert_eq!(
            status(&g.inspect(&m, src, false, now + Duration::from_secs(1))),
            0
        );
        let trunk: SocketAddr = "10.1.1.1:5060".parse().unwrap();
        assert!((0..50).all(|_| status(&g.inspect(&m, trunk, false, now)) == 0));
    }

    #[test]
    fn behind_a_proxy_the_limits_apply_to_the_source_it_names_and_nobody_else_may_name_one() {
        let g = guard_with(10, 5);
        let proxy: SocketAddr = "10.9.9.9:5060".parse().unwrap();
        let now = Instant::now();
        let via = |client: &str| {
            req(
                "REGISTER sip:hotline.test SIP/2.0",
                &format!("X-Hotline-Source: {client}\r\n"),
            )
        };
        // Three failures of the phone at 192.0.2.50, relayed by the proxy: that phone is
        // locked out, not the proxy, and not the other phones behind it.
        for _ in 0..3 {
            g.auth_failed("192.0.2.50".parse().unwrap(), now);
        }
        assert_eq!(
            status(&g.inspect(&via("192.0.2.50"), proxy, false, now)),
            403
        );
        assert_eq!(status(&g.inspect(&via("192.0.2.51"), proxy, false, now)), 0);
        assert_eq!(
            status(&g.inspect(&via("[2001:db8::1]:5060"), proxy, false, now)),
            0
        );
        // Without the header, or with one that is not an address, it is the proxy's own
        // request: trusted (a carrier's trunk), never limited.
        let plain = req("REGISTER sip:hotline.test SIP/2.0", "");
        assert!((0..20).all(|_| status(&g.inspect(&plain, proxy, false, now)) == 0));
        assert_eq!(status(&g.inspect(&via("nowhere"), proxy, false, now)), 0);
        // Each phone behind the proxy has its own rate.
        let codes: Vec<u16> = (0..7)
            .map(|_| status(&g.inspect(&via("192.0.2.60"), proxy, false, now)))
            .collect();
        assert_eq!(codes, vec![0, 0, 0, 0, 0, 503, 503]);
        assert_eq!(status(&g.inspect(&via("192.0.2.61"), proxy, false, now)), 0);
        // From anyone but a proxy the header is ignored: a locked-out phone cannot pass
        // itself off as another.
        let phone: SocketAddr = "192.0.2.50:5060".parse().unwrap();
        assert_eq!(
            status(&g.inspect(&via("192.0.2.51"), phone, false, now)),
            403
        );
    }

    #[test]
    fn lockout_after_repeated_failures_then_expires() {
        let g = guard();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let now = Instant::now();
        assert!(!g.auth_failed(ip, now));
        assert!(!g.auth_failed(ip, now));
        assert!(g.auth_failed(ip, now));
        let reg = req("REGISTER sip:example.com SIP/2.0", "");
        let v = g.inspect(&reg, SRC.parse().unwrap(), false, now);
        assert_eq!(status(&v), 403);
        assert!(!g.is_locked_out(ip, now + Duration::from_secs(301)));
    }

    #[test]
    fn trunk_sources_are_never_locked_out() {
        let g = guard();
        let trunk: IpAddr = "10.1.1.1".parse().unwrap();
        let now = Instant::now();
        for _ in 0..20 {
            assert!(!g.auth_failed(trunk, now));
        }
        assert!(!g.is_locked_out(trunk, now));
        let invite = req("INVITE sip:95588@example.com SIP/2.0", "");
        let v = g.inspect(&invite, "10.1.1.1:5060".parse().unwrap(), false, now);
        assert_ne!(status(&v), 403);
    }

    #[test]
    fn accounts_lock_out_across_sources_with_back_off_but_not_proven_sources() {
        let g = guard();
        let t0 = Instant::now();
        let desk: IpAddr = "192.0.2.50".parse().unwrap();
        let thief: IpAddr = "198.51.100.9".parse().unwrap();
        g.auth_succeeded("1001", desk, t0);
        // Four failures (from four different sources: the caller does not say which).
        assert!(!g.account_failed("1001", t0));
        assert!(!g.account_failed("1001", t0));
        assert!(!g.account_failed("1001", t0));
        assert!(g.account_failed("1001", t0));
        assert_eq!(
            g.account_lockout_left("1001", thief, t0),
            Duration::from_secs(60)
        );
        assert_eq!(g.account_lockout_left("1001", desk, t0), Duration::ZERO);
        assert_eq!(g.account_lockout_left("1002", thief, t0), Duration::ZERO);
        // The lockout ends; the next one is twice as long.
        let t1 = t0 + Duration::from_secs(61);
        assert_eq!(g.account_lockout_left("1001", thief, t1), Duration::ZERO);
        for _ in 0..3 {
            assert!(!g.account_failed("1001", t1));
        }
        assert!(g.account_failed("1001", t1));
        assert_eq!(
            g.account_lockout_left("1001", thief, t1),
            Duration::from_secs(120)
        );
        // A success starts the back-off over.
        g.auth_succeeded("1001", desk, t1);
        let t2 = t1 + Duration::from_secs(121);
        for _ in 0..4 {
            g.account_failed("1001", t2);
        }
        assert_eq!(
            g.account_lockout_left("1001", thief, t2),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn purge_forgets_idle_sources_and_expired_lockouts() {
        let g = guard_with(10, 10);
        let m = req("OPTIONS sip:x@y SIP/2.0", "");
        let t0 = Instant::now();
        for i in 0..200u8 {
            let src: SocketAddr = ([192, 0, 2, i], 5060).into();
            g.inspect(&m, src, false, t0);
            g.auth_failed(src.ip(), t0);
            g.account_failed(&format!("u{i}"), t0);
        }
        assert_eq!(g.table_sizes(), (200, 200, 200));
        g.purge(t0 + Duration::from_secs(2 * 24 * 3600));
        assert_eq!(g.table_sizes(), (0, 0, 0));
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let g = guard();
        let ip: IpAddr = "192.0.2.8".parse().unwrap();
        let t0 = Instant::now();
        g.auth_failed(ip, t0);
        g.auth_failed(ip, t0);
        assert!(!g.auth_failed(ip, t0 + Duration::from_secs(61)));
    }
}
