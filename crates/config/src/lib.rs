//! hotline's configuration.
//!
//! A centre is described by one TOML file: where to listen, which carrier trunks may send
//! calls, the agents with their SIP credentials and skills, the queues, and the users of the
//! web API. Every table rejects unknown keys, and every error names the file, the line and
//! column, the key, and why, so an operator can fix a file without guessing.
//!
//! Credentials are never stored in plain text: SIP agents carry HA1 digests
//! (`H(user:realm:password)` for MD5 and SHA-256) and API users carry argon2 PHC strings.
//!
//! ```
//! let text = hotline_config::DEMO_TOML;
//! let cfg = hotline_config::Config::from_toml("demo.toml", text).unwrap();
//! assert_eq!(cfg.agents.len(), 10);
//! assert!(cfg.agent("1009").unwrap().skills.contains_key("senior"));
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

mod routing;
pub use routing::{Blend, Capacity, MaxWaitAction, OverflowStep, Routing, Wellbeing};

/// The demo centre's configuration, the same text as `examples/demo.toml`.
pub const DEMO_TOML: &str = include_str!("../../../examples/demo.toml");

/// A configuration error: file, position, key and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based line; 0 when the error is not tied to a place in the file.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Dotted key path such as `agents[2].extension`; empty when not known.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        } else {
            write!(f, "{}: ", self.file)?;
        }
        if !self.key.is_empty() {
            write!(f, "key `{}`: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The whole configuration of a centre.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub centre: Centre,
    #[serde(default)]
    pub sip: Sip,
    #[serde(default)]
    pub http: Http,
    #[serde(default)]
    pub log: Log,
    #[serde(default)]
    pub storage: Storage,
    #[serde(default)]
    pub media: Media,
    #[serde(default, rename = "trunks")]
    pub trunks: Vec<Trunk>,
    #[serde(default)]
    pub agents: Vec<Agent>,
    #[serde(default)]
    pub queues: Vec<Queue>,
    #[serde(default)]
    pub users: Vec<User>,
    /// Service numbers with a contact flow of their own.
    #[serde(default)]
    pub numbers: Vec<Number>,
    /// Engine-wide routing settings.
    #[serde(default)]
    pub routing: Routing,
    /// Agent wellbeing rules.
    #[serde(default)]
    pub wellbeing: Wellbeing,
    /// Two nodes on one PostgreSQL log, one active and one hot standby (absent: one node).
    #[serde(default)]
    pub cluster: Option<Spanned<Cluster>>,
    /// Customers' e-mail: mailboxes fetched by IMAP, each into a queue of channel `email`.
    #[serde(default)]
    pub mailboxes: Vec<Mailbox>,
    /// Customers' text messages, from the carrier's SMSC.
    #[serde(default)]
    pub sms: Option<Sms>,
}

/// Text messages: what customers send to the centre's number waits in a queue of channel
/// `chat` (a text conversation counts as a chat in an agent's capacity), and agents'
/// replies go back from that number.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sms {
    /// The centre's number customers write to; replies come from it.
    pub number: Spanned<String>,
    /// The queue (of channel `chat`) the conversations wait in.
    pub queue: Spanned<String>,
    /// Hours a conversation the agent has answered waits for the customer before it is
    /// closed; a message after that starts a new one.
    #[serde(default = "default_sms_close_hours")]
    pub close_after_hours: Spanned<u32>,
    /// The carrier's SMSC, by SMPP 3.4 (this or `http`, not both).
    #[serde(default)]
    pub smpp: Option<Smpp>,
    /// A provider's HTTP API: texts in by webhook, replies out by a POST (this or `smpp`,
    /// not both).
    #[serde(default)]
    pub http: Option<SmsHttp>,
}

/// An SMS provider reached over HTTP: it posts customers' texts and delivery statuses to
/// the centre's webhooks (signed with `secret`), and takes replies at `send_url` (with
/// `token` as a bearer token).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsHttp {
    /// Where replies are posted: `https://…`, or `http://…` to this machine only.
    pub send_url: Spanned<String>,
    /// The bearer token sent with each reply, written here, or in the environment variable
    /// `token_env` names.
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub token_env: Option<Spanned<String>>,
    /// The secret the provider signs its webhooks with (HMAC-SHA256), written here, or in
    /// the environment variable `secret_env` names.
    #[serde(default)]
    pub secret: Option<Spanned<String>>,
    #[serde(default)]
    pub secret_env: Option<Spanned<String>>,
    /// Most replies posted per second, as the provider allows.
    #[serde(default = "default_sms_per_second")]
    pub per_second: Spanned<u32>,
}

/// Shortest webhook secret accepted: 16 bytes.
pub const MIN_SMS_SECRET: usize = 16;

impl SmsHttp {
    /// The bearer token: written in the file, else read from `token_env`.
    pub fn token(&self) -> Option<String> {
        self.token.clone().or_else(|| {
            self.token_env
                .as_ref()
                .and_then(|v| std::env::var(v.get_ref()).ok())
        })
    }

    /// The webhook secret: written in the file, else read from `secret_env`.
    pub fn secret(&self) -> Option<String> {
        self.secret
            .as_ref()
            .map(|s| s.get_ref().clone())
            .or_else(|| {
                self.secret_env
                    .as_ref()
                    .and_then(|v| std::env::var(v.get_ref()).ok())
            })
    }

    /// `send_url`, taken apart.
    pub fn url(&self) -> Result<HttpUrl, String> {
        HttpUrl::parse(self.send_url.get_ref())
    }
}

/// An `http://` or `https://` address taken apart (no user name or password in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `https`.
    pub tls: bool,
    /// The host name or address (an IPv6 address without its brackets).
    pub host: String,
    pub port: u16,
    /// The path and query, `/` at least.
    pub path: String,
}

impl HttpUrl {
    /// Reads `https://host[:port]/path?query` (or `http://`); `http` only to this machine
    /// (loopback), since the token would go in clear.
    pub fn parse(url: &str) -> Result<HttpUrl, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("`{url}` is not an https:// address"));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        if authority.contains('@') {
            return Err("put no user or password in the address: use `token`".into());
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) || url.contains('#') {
            return Err(format!("`{url}` is not a plain address"));
        }
        let (host, port) = if let Some(r) = authority.strip_prefix('[') {
            let (h, after) = r
                .split_once(']')
                .ok_or_else(|| format!("`{authority}` is not host[:port]"))?;
            (h, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = match port {
            None => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("`{p}` is not a port"))?,
        };
        if host.is_empty() {
            return Err(format!("`{url}` names no host"));
        }
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if !tls && !loopback {
            return Err(
                "`http://` sends the token and the texts in clear: only to this machine \
                 (loopback); use https://"
                    .into(),
            );
        }
        Ok(HttpUrl {
            tls,
            host: host.to_string(),
            port,
            path,
        })
    }
}

/// An SMPP 3.4 connection (a transceiver bind) to the carrier's SMSC.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smpp {
    /// `host:port` of the SMSC.
    pub address: Spanned<String>,
    pub system_id: String,
    /// The password, written here, or in the environment variable `password_env` names.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_env: Option<Spanned<String>>,
    #[serde(default)]
    pub system_type: String,
    /// Most messages (segments) sent per second, as the carrier allows.
    #[serde(default = "default_sms_per_second")]
    pub per_second: Spanned<u32>,
}

impl Smpp {
    /// The password: written in the file, else read from `password_env`.
    pub fn password(&self) -> Option<String> {
        self.password.clone().or_else(|| {
            self.password_env
                .as_ref()
                .and_then(|v| std::env::var(v.get_ref()).ok())
        })
    }
}

fn default_sms_close_hours() -> Spanned<u32> {
    Spanned::new(0..0, 24)
}

fn default_sms_per_second() -> Spanned<u32> {
    Spanned::new(0..0, 50)
}

/// A mailbox customers write to: its new mail is fetched by IMAP into a queue of channel
/// `email`, and agents' replies go out by SMTP from its address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mailbox {
    /// The address customers write to; replies come from it.
    pub address: Spanned<String>,
    /// The name replies are signed with (`From: "name" <address>`).
    #[serde(default)]
    pub name: String,
    /// The queue (of channel `email`) its mail waits in.
    pub queue: Spanned<String>,
    /// The IMAP server, `host:port` (993 with `security = "tls"`, 143 with `starttls`).
    pub imap: Spanned<String>,
    /// The SMTP submission server, `host:port` (465 with `tls`, 587 with `starttls`).
    pub smtp: Spanned<String>,
    /// The login for both servers.
    pub user: String,
    /// The password, written here, or in the environment variable `password_env` names.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_env: Option<Spanned<String>>,
    /// `tls` (default), `starttls`, or `plain` (loopback and tests only).
    #[serde(default)]
    pub security: MailSecurity,
    /// A PEM file of certificate authorities trusted besides the system's (a centre's own
    /// CA).
    #[serde(default)]
    pub ca_file: Option<Spanned<String>>,
    /// The IMAP folder read.
    #[serde(default = "default_folder")]
    pub folder: String,
    /// Longest wait between two looks at the folder (the server's IDLE wakes it sooner).
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: Spanned<u32>,
    /// Answer each new conversation at once with its reference number.
    #[serde(default = "yes")]
    pub acknowledge: bool,
    /// Days a conversation the agent has answered waits for the customer before it is
    /// closed.
    #[serde(default = "default_close_after_days")]
    pub close_after_days: Spanned<u32>,
}

impl Mailbox {
    /// The password: written in the file, else read from `password_env`.
    pub fn password(&self) -> Option<String> {
        self.password.clone().or_else(|| {
            self.password_env
                .as_ref()
                .and_then(|v| std::env::var(v.get_ref()).ok())
        })
    }
}

/// How a mailbox's connections are protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailSecurity {
    /// TLS from the first byte (IMAPS, SMTPS).
    #[default]
    Tls,
    /// STARTTLS on a plain connection.
    Starttls,
    /// No encryption: loopback and tests only.
    Plain,
}

fn default_folder() -> String {
    "INBOX".into()
}

fn default_poll_seconds() -> Spanned<u32> {
    Spanned::new(0..0, 30)
}

fn default_close_after_days() -> Spanned<u32> {
    Spanned::new(0..0, 7)
}

fn yes() -> bool {
    true
}

/// A node of an active/standby pair: the nodes share one PostgreSQL event log, and the one
/// holding the routing lease (renewed every `renew_seconds`, lasting `lease_seconds`)
/// answers calls; the other waits to take over.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// This node's name, unique among the nodes (the lease's holder, shown in the logs and
    /// the audit trail).
    pub node: String,
    /// How long the lease lasts once taken or renewed: a dead leader is replaced after it.
    #[serde(default = "default_lease_seconds")]
    pub lease_seconds: u32,
    /// How often the leader renews the lease and a standby asks for it.
    #[serde(default = "default_renew_seconds")]
    pub renew_seconds: u32,
    /// How long before its lease runs out a leader that could not renew it stops.
    #[serde(default = "default_margin_seconds")]
    pub margin_seconds: u32,
}

fn default_lease_seconds() -> u32 {
    3
}
fn default_renew_seconds() -> u32 {
    1
}
fn default_margin_seconds() -> u32 {
    1
}

/// The rules a lease's timing must follow (also [`Cluster`]'s): all three longer than zero,
/// renewed at least twice within the lease, and a margin that leaves time for a renewal.
pub fn check_lease_timing(
    ttl: std::time::Duration,
    renew_every: std::time::Duration,
    margin: std::time::Duration,
) -> Result<(), &'static str> {
    if ttl.is_zero() || renew_every.is_zero() || margin.is_zero() {
        return Err("the lease, its renewal and the margin must be longer than zero");
    }
    if renew_every.saturating_mul(2) > ttl {
        return Err("the lease must be renewed at least twice within its length");
    }
    if margin >= ttl.saturating_sub(renew_every) {
        return Err("the margin must leave time for a renewal within the lease");
    }
    Ok(())
}

impl Cluster {
    /// The lease's length, renewal period and margin.
    pub fn timing(
        &self,
    ) -> (
        std::time::Duration,
        std::time::Duration,
        std::time::Duration,
    ) {
        let s = |n: u32| std::time::Duration::from_secs(u64::from(n));
        (
            s(self.lease_seconds),
            s(self.renew_seconds),
            s(self.margin_seconds),
        )
    }
}

/// A number callers dial and the contact flow that answers it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Number {
    pub number: Spanned<String>,
    /// The flow that answers calls to this number; `main` when absent.
    #[serde(default)]
    pub flow: Option<Spanned<String>>,
}

impl Number {
    pub fn flow_name(&self) -> &str {
        self.flow.as_ref().map_or("main", |f| f.get_ref().as_str())
    }
}

/// A digest algorithm offered in challenges (RFC 8760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DigestAlgorithm {
    #[serde(rename = "MD5")]
    Md5,
    #[serde(rename = "SHA-256")]
    Sha256,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Centre {
    #[serde(default = "default_centre_name")]
    pub name: String,
    /// The service number callers dial, e.g. `95588`.
    #[serde(default)]
    pub service_numbers: Vec<String>,
    /// How long an agent's phone rings before the call goes to the next agent.
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_seconds: u32,
    /// A call leg that sends no RTP for this long is dead: a waiting caller leaves the queue
    /// as an abandon, a call in progress ends with the reason `media_timeout` (0: never).
    #[serde(default = "default_media_inactivity")]
    pub media_inactivity_seconds: u32,
    /// Calls in progress beyond which new calls are refused with 503, so that accepted
    /// calls keep their quality.
    #[serde(default = "default_max_calls")]
    pub max_calls: u32,
    /// A TOML file of contact flows (IVR), relative to this file; the built-in demo flows
    /// when absent.
    #[serde(default)]
    pub flows: Option<String>,
    /// A directory of recorded prompts (`prompts/{en,zh}/*.wav`, `music/*.wav`), relative to
    /// this file; the built-in recordings when absent.
    #[serde(default)]
    pub prompts: Option<String>,
    /// A directory of knowledge-base articles (`*.md`) for the agent desktop, relative to
    /// this file; `kb` beside it when absent. They join the built-in articles.
    #[serde(default)]
    pub knowledge: Option<String>,
    /// The queue a call to an agent's direct number waits in when that agent does not take
    /// it (not logged in, busy, no answer); the first queue when absent.
    #[serde(default)]
    pub direct_queue: Option<Spanned<String>>,
    /// On SIGTERM (or SIGINT): how long calls in progress may go on while new calls are
    /// refused; the ones left then are ended with BYE.
    #[serde(default = "default_drain")]
    pub drain_seconds: u32,
    /// Call recordings older than this many days are removed (a queue's own
    /// `recording_retention_days` wins); kept for ever when absent.
    #[serde(default)]
    pub recording_retention_days: Option<Spanned<u32>>,
    /// The centre's IANA time zone (e.g. `Asia/Shanghai`): the local time of its shifts, of
    /// the weeks it plans, and of the intervals its forecast learns from. `UTC` when absent.
    #[serde(default)]
    pub time_zone: Option<Spanned<String>>,
}

/// Long enough for most calls in the menu or in wrap-up to finish; short enough that the
/// whole stop stays under systemd's default 90 s stop timeout.
fn default_drain() -> u32 {
    60
}

impl Default for Centre {
    fn default() -> Self {
        Centre {
            name: default_centre_name(),
            service_numbers: Vec::new(),
            ring_timeout_seconds: default_ring_timeout(),
            media_inactivity_seconds: default_media_inactivity(),
            max_calls: default_max_calls(),
            flows: None,
            prompts: None,
            knowledge: None,
            direct_queue: None,
            drain_seconds: default_drain(),
            recording_retention_days: None,
            time_zone: None,
        }
    }
}

fn default_ring_timeout() -> u32 {
    20
}
fn default_media_inactivity() -> u32 {
    30
}
fn default_max_calls() -> u32 {
    2000
}

fn default_centre_name() -> String {
    "hotline".to_string()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sip {
    /// UDP and TCP listen on this same address.
    #[serde(default = "default_sip_listen")]
    pub listen: SocketAddr,
    /// Digest realm; agents' HA1 digests are computed over it.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Largest SIP message accepted, in bytes; larger ones are answered 513.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Registration expiry bounds, in seconds.
    #[serde(default = "default_min_expires")]
    pub min_expires: u32,
    #[serde(default = "default_max_expires")]
    pub max_expires: u32,
    #[serde(default = "default_expires")]
    pub default_expires: u32,
    /// How many contacts one extension may register at once.
    #[serde(default = "default_max_contacts")]
    pub max_contacts: usize,
    /// How long a digest nonce stays valid, in seconds.
    #[serde(default = "default_nonce_ttl")]
    pub nonce_ttl_seconds: u64,
    /// The shortest session-timer interval (RFC 4028 `Min-SE`) agreed to, in seconds; a
    /// caller asking for less gets `422`.
    #[serde(default = "default_min_session_expires")]
    pub min_session_expires: u64,
    #[serde(default)]
    pub guard: Guard,
    /// The `Server` and `User-Agent` header value hotline sends (no version by default).
    #[serde(default = "default_server_header")]
    pub server_header: String,
    /// Digest algorithms offered in challenges, in order (`"MD5"`, `"SHA-256"`).
    #[serde(default = "default_digest_algorithms")]
    pub digest_algorithms: Vec<DigestAlgorithm>,
    /// SIP over TLS listens here (none by default); needs `tls_cert` and `tls_key`.
    #[serde(default)]
    pub tls_listen: Option<SocketAddr>,
    /// PEM file with the server certificate chain (end entity first).
    #[serde(default)]
    pub tls_cert: Option<String>,
    /// PEM file with the certificate's private key.
    #[serde(default)]
    pub tls_key: Option<String>,
    /// SRTP policy of trunks and agents that set none: `off`, `offered`, `required`.
    #[serde(default = "default_srtp")]
    pub srtp: String,
    /// The address written into Via and Contact (and SDP, unless `media.advertise` says
    /// otherwise) instead of the listen address: the public address of a centre behind a
    /// NAT or load balancer. Without it a wildcard listen address is replaced by the address
    /// of the interface each peer is reached through.
    #[serde(default)]
    pub advertise: Option<IpAddr>,
    /// Per-interface advertised addresses, for a centre listening on a wildcard address with
    /// several interfaces (an internal and an external network, say).
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    /// How often a phone registered from behind a NAT (its Contact is not where its
    /// REGISTER came from) is sent a keep-alive on its flow, in seconds; 0 never.
    #[serde(default = "default_nat_keepalive")]
    pub nat_keepalive_seconds: u32,
    /// SIP proxies in front of hotline (Kamailio): a request they relay may name, in
    /// `X-Hotline-Source`, the address they received it from, and the per-source limits
    /// (rate, authentication lockout) apply to that address instead of the proxy's. From
    /// any other source the header is ignored.
    #[serde(default)]
    pub proxies: Vec<IpNet>,
}

fn default_min_session_expires() -> u64 {
    90
}

fn default_srtp() -> String {
    "offered".to_string()
}

/// One local interface of a multi-homed centre and what to advertise on messages that
/// leave through it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    /// The interface's own address (the source address of what goes out through it).
    pub address: IpAddr,
    /// Written into Via and Contact on messages leaving through this interface.
    #[serde(default)]
    pub advertise: Option<IpAddr>,
    /// Written into SDP for peers reached through this interface.
    #[serde(default)]
    pub media_advertise: Option<IpAddr>,
}

fn default_nat_keepalive() -> u32 {
    25
}

/// RTP media.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Media {
    /// The address written into SDP (`c=`); `sip.advertise` (or the interface's address)
    /// when absent.
    #[serde(default)]
    pub advertise: Option<IpAddr>,
    /// The UDP ports RTP may use, `"LOW-HIGH"` inclusive; only even ports carry RTP.
    #[serde(default)]
    pub rtp_ports: Option<Spanned<String>>,
}

/// The RTP port range when `media.rtp_ports` is not set.
pub const DEFAULT_RTP_PORTS: (u16, u16) = (20000, 39998);

/// Parses `"LOW-HIGH"`: at least one even port, not below 1024.
pub fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let (lo, hi) = text
        .split_once('-')
        .ok_or_else(|| "must be \"LOW-HIGH\", such as \"20000-30000\"".to_string())?;
    let parse = |v: &str| {
        v.trim()
            .parse::<u16>()
            .map_err(|_| format!("`{}` is not a port number", v.trim()))
    };
    let (lo, hi) = (parse(lo)?, parse(hi)?);
    if lo < 1024 {
        return Err("RTP ports start at 1024 or above".into());
    }
    if lo > hi {
        return Err("the first port must not exceed the last".into());
    }
    if lo == hi && lo % 2 == 1 {
        return Err("the range needs at least one even port (RTP uses even ports)".into());
    }
    Ok((lo, hi))
}

impl Media {
    /// The RTP port range (validated when the file was loaded).
    pub fn rtp_port_range(&self) -> (u16, u16) {
        self.rtp_ports
            .as_ref()
            .and_then(|r| parse_port_range(r.get_ref()).ok())
            .unwrap_or(DEFAULT_RTP_PORTS)
    }
}

impl Default for Sip {
    fn default() -> Self {
        Sip {
            listen: default_sip_listen(),
            realm: default_realm(),
            max_message_bytes: default_max_message_bytes(),
            min_expires: default_min_expires(),
            max_expires: default_max_expires(),
            default_expires: default_expires(),
            max_contacts: default_max_contacts(),
            nonce_ttl_seconds: default_nonce_ttl(),
            min_session_expires: default_min_session_expires(),
            guard: Guard::default(),
            advertise: None,
            interfaces: Vec::new(),
            nat_keepalive_seconds: default_nat_keepalive(),
            proxies: Vec::new(),
            server_header: default_server_header(),
            digest_algorithms: default_digest_algorithms(),
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
            srtp: default_srtp(),
        }
    }
}

fn default_server_header() -> String {
    "hotline".to_string()
}
fn default_sip_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5060))
}
fn default_realm() -> String {
    "hotline".to_string()
}
fn default_max_message_bytes() -> usize {
    8192
}
fn default_min_expires() -> u32 {
    60
}
fn default_max_expires() -> u32 {
    7200
}
fn default_expires() -> u32 {
    3600
}
fn default_max_contacts() -> usize {
    5
}
fn default_nonce_ttl() -> u64 {
    300
}
/// MD5 only: stock phones such as baresip 1.0 give up on a challenge list with SHA-256.
fn default_digest_algorithms() -> Vec<DigestAlgorithm> {
    vec![DigestAlgorithm::Md5]
}

/// The ingress guard: per-source rate limits, authentication lockout, TCP limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guard {
    /// Requests per second one source address may send (token bucket rate). 0 disables.
    #[serde(default = "default_rate")]
    pub rate_per_second: u32,
    /// Token bucket depth.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Authentication failures within `failure_window_seconds` that lock a source out.
    #[serde(default = "default_failures")]
    pub auth_failures: u32,
    #[serde(default = "default_failure_window")]
    pub failure_window_seconds: u64,
    #[serde(default = "default_lockout")]
    pub lockout_seconds: u64,
    /// Open TCP connections one source address may hold.
    #[serde(default = "default_tcp_per_source")]
    pub tcp_connections_per_source: usize,
    /// A TCP peer must finish a message's headers within this many seconds of starting it.
    #[serde(default = "default_tcp_header_timeout")]
    pub tcp_message_timeout_seconds: u64,
    /// An idle TCP connection is closed after this many seconds.
    #[serde(default = "default_tcp_idle")]
    pub tcp_idle_seconds: u64,
    /// Open SIP TCP connections in all, from every source together.
    #[serde(default = "default_tcp_total")]
    pub tcp_connections_total: usize,
    /// Authentication failures on one extension (from any sources) within
    /// `failure_window_seconds` that lock the extension out. 0 disables.
    #[serde(default = "default_account_failures")]
    pub account_failures: u32,
    /// The first lockout of an extension, in seconds; each further one doubles, up to 16 times.
    #[serde(default = "default_account_lockout")]
    pub account_lockout_seconds: u64,
}

impl Default for Guard {
    fn default() -> Self {
        Guard {
            rate_per_second: default_rate(),
            burst: default_burst(),
            auth_failures: default_failures(),
            failure_window_seconds: default_failure_window(),
            lockout_seconds: default_lockout(),
            tcp_connections_per_source: default_tcp_per_source(),
            tcp_message_timeout_seconds: default_tcp_header_timeout(),
            tcp_idle_seconds: default_tcp_idle(),
            tcp_connections_total: default_tcp_total(),
            account_failures: default_account_failures(),
            account_lockout_seconds: default_account_lockout(),
        }
    }
}

fn default_rate() -> u32 {
    100
}
fn default_burst() -> u32 {
    200
}
fn default_failures() -> u32 {
    5
}
fn default_failure_window() -> u64 {
    60
}
fn default_lockout() -> u64 {
    300
}
fn default_tcp_per_source() -> usize {
    256
}
fn default_tcp_header_timeout() -> u64 {
    10
}
fn default_tcp_idle() -> u64 {
    900
}
fn default_tcp_total() -> usize {
    1024
}
fn default_account_failures() -> u32 {
    10
}
fn default_account_lockout() -> u64 {
    60
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    #[serde(default = "default_http_listen")]
    pub listen: SocketAddr,
    /// A client must send a request's whole header section within this many seconds.
    #[serde(default = "default_http_header_timeout")]
    pub header_timeout_seconds: u64,
    /// A client must send a request's whole body within this many seconds.
    #[serde(default = "default_http_body_timeout")]
    pub body_timeout_seconds: u64,
    /// A connection on which nothing is sent or received for this many seconds is closed
    /// (the event stream's WebSocket is exempt once upgraded: it has its own pings).
    #[serde(default = "default_http_idle_timeout")]
    pub idle_timeout_seconds: u64,
    /// Open HTTP connections in all; more are closed at once.
    #[serde(default = "default_http_max_connections")]
    pub max_connections: usize,
    /// If set, `GET /metrics` needs `Authorization: Bearer <token>`.
    #[serde(default)]
    pub metrics_token: Option<String>,
    /// Password checks (argon2) run at once; 0 means one per CPU core, at most 4.
    #[serde(default)]
    pub hash_workers: usize,
    /// Password checks that may wait for a worker; more are refused with 429 at once.
    #[serde(default = "default_hash_queue")]
    pub hash_queue: usize,
    /// Failed logins on one user name before it is throttled.
    #[serde(default = "default_login_failures")]
    pub login_failures: u32,
    /// Failed logins from one source address before it is throttled.
    #[serde(default = "default_login_source_failures")]
    pub login_source_failures: u32,
    /// The first back-off once throttled, in seconds; each further failure doubles it.
    #[serde(default = "default_login_backoff")]
    pub login_backoff_seconds: u64,
    /// The longest back-off, in seconds; failures are forgotten after twice this quiet time.
    #[serde(default = "default_login_backoff_max")]
    pub login_backoff_max_seconds: u64,
    /// HTTP load balancers in front of hotline (HAProxy): from these addresses the client's
    /// address is taken from the last `X-Forwarded-For` entry, for the per-source login
    /// limits. From any other source the header is ignored.
    #[serde(default)]
    pub proxies: Vec<IpNet>,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            listen: default_http_listen(),
            header_timeout_seconds: default_http_header_timeout(),
            body_timeout_seconds: default_http_body_timeout(),
            idle_timeout_seconds: default_http_idle_timeout(),
            max_connections: default_http_max_connections(),
            metrics_token: None,
            hash_workers: 0,
            hash_queue: default_hash_queue(),
            login_failures: default_login_failures(),
            login_source_failures: default_login_source_failures(),
            login_backoff_seconds: default_login_backoff(),
            login_backoff_max_seconds: default_login_backoff_max(),
            proxies: Vec::new(),
        }
    }
}

fn default_http_header_timeout() -> u64 {
    10
}
fn default_http_body_timeout() -> u64 {
    30
}
fn default_http_idle_timeout() -> u64 {
    120
}
fn default_http_max_connections() -> usize {
    1024
}
fn default_hash_queue() -> usize {
    16
}
fn default_login_failures() -> u32 {
    5
}
fn default_login_source_failures() -> u32 {
    20
}
fn default_login_backoff() -> u64 {
    1
}
fn default_login_backoff_max() -> u64 {
    300
}

fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// `text` (default) or `json`.
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `hotline_sip=debug,info`.
    #[serde(default)]
    pub filter: Option<String>,
    /// The SIP stack's warnings about one source (malformed messages and the like) are
    /// logged at most once per this many seconds; the rest are counted in one line.
    #[serde(default = "default_repeat_interval")]
    pub repeat_interval_seconds: u64,
}

fn default_repeat_interval() -> u64 {
    60
}

impl Default for Log {
    fn default() -> Self {
        Log {
            format: LogFormat::default(),
            filter: None,
            repeat_interval_seconds: default_repeat_interval(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// Where the database, recordings and logs live.
    #[serde(default = "default_data_dir")]
    pub data_dir: String,
    /// Events waiting to be committed (a slow disk) at which new calls are refused with 503
    /// and Retry-After, while calls in progress go on; they are taken again below half.
    #[serde(default = "default_max_backlog_events")]
    pub max_backlog_events: u32,
    /// Supervisors are alerted when the oldest event not yet committed is this old.
    #[serde(default = "default_behind_alert_seconds")]
    pub behind_alert_seconds: u32,
    /// Where the event log and its projections live: `"sqlite"` (the default: `hotline.db`
    /// in `data_dir`) or a PostgreSQL URL, `postgres://user@host1:5432,host2:5433/hotline`,
    /// whose hosts are tried in order for the primary.
    #[serde(default)]
    pub database: Option<Spanned<String>>,
    /// The name of the environment variable holding the PostgreSQL password (never the
    /// password itself); it replaces one written in the URL.
    #[serde(default)]
    pub password_env: Option<Spanned<String>>,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            data_dir: default_data_dir(),
            max_backlog_events: default_max_backlog_events(),
            behind_alert_seconds: default_behind_alert_seconds(),
            database: None,
            password_env: None,
        }
    }
}

impl Storage {
    /// The PostgreSQL URL, if the log lives in PostgreSQL (`None`: SQLite).
    pub fn postgres_url(&self) -> Option<&str> {
        self.database
            .as_ref()
            .map(|d| d.get_ref().as_str())
            .filter(|d| *d != "sqlite")
    }
}

/// Checks the shape of a PostgreSQL URL with one or more hosts: the scheme, each host and
/// port, and a database name. (The store parses it for real; this is for `check-config`.)
pub fn check_postgres_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or("must be \"sqlite\" or a PostgreSQL URL (postgres://user@host:5432/hotline)")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let hosts = authority
        .rfind('@')
        .map_or(authority, |at| &authority[at + 1..]);
    if hosts.is_empty() {
        return Err("the URL names no host".into());
    }
    for h in hosts.split(',') {
        let port = if let Some(v6) = h.strip_prefix('[') {
            let close = v6.find(']').ok_or_else(|| format!("{h:?}: unclosed ["))?;
            match &v6[close + 1..] {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("{h:?}: text after the address"))?,
                ),
            }
        } else {
            h.rsplit_once(':').map(|(_, p)| p)
        };
        let host = h.rsplit_once(':').map_or(h, |(host, _)| host);
        if host.is_empty() || h.is_empty() {
            return Err("an empty host in the host list".into());
        }
        if let Some(p) = port
            && !p.parse::<u16>().is_ok_and(|p| p > 0)
        {
            return Err(format!("{h:?}: the port must be a number from 1 to 65535"));
        }
    }
    let db = tail.strip_prefix('/').unwrap_or_default();
    if db.is_empty() || db.starts_with('?') {
        return Err("the URL names no database (postgres://…/hotline)".into());
    }
    Ok(())
}

fn default_max_backlog_events() -> u32 {
    100_000
}

fn default_behind_alert_seconds() -> u32 {
    5
}

fn default_data_dir() -> String {
    "./hotline-data".to_string()
}

/// A carrier trunk: identified by its source addresses, or by digest credentials of its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trunk {
    pub name: String,
    /// Source networks trusted as this trunk (no authentication).
    #[serde(default)]
    pub sources: Vec<IpNet>,
    /// Digest user name the trunk authenticates with, when not identified by source.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub ha1_md5: Option<Spanned<String>>,
    #[serde(default)]
    pub ha1_sha256: Option<Spanned<String>>,
    /// Where calls out through this trunk are sent (`host:port`, an IP address): callbacks.
    #[serde(default)]
    pub outbound: Option<Spanned<String>>,
    /// Digest algorithms offered to this trunk (its `username` as the From user); the
    /// `[sip]` setting when absent.
    #[serde(default)]
    pub digest_algorithms: Option<Vec<DigestAlgorithm>>,
    /// PEM file of the CA that signs this trunk's TLS client certificate: the trunk must then
    /// connect over TLS with such a certificate, which identifies it (mutual TLS).
    #[serde(default)]
    pub tls_client_ca: Option<Spanned<String>>,
    /// SRTP policy of this trunk's legs (`off`, `offered`, `required`); default `sip.srtp`.
    #[serde(default)]
    pub srtp: Option<String>,
    /// The user name hotline authenticates with when the carrier challenges a call out
    /// (401/407) or a registration.
    #[serde(default)]
    pub outbound_username: Option<String>,
    /// The name of the environment variable holding the carrier password (never the
    /// password itself: a file of configuration is read by many).
    #[serde(default)]
    pub outbound_password_env: Option<String>,
    /// Register with the carrier at `outbound` (with the outbound credentials), refreshed
    /// before it expires.
    #[serde(default)]
    pub register: bool,
    #[serde(default = "default_trunk_register_expires")]
    pub register_expires: u32,
    /// The calling number presented on calls out (the From user), e.g. `+861095588`.
    #[serde(default)]
    pub caller_id: Option<String>,
    /// A `P-Asserted-Identity` sent on calls out: a number (`+861095588`) or a full URI.
    #[serde(default)]
    pub asserted_identity: Option<String>,
    /// The country calling code dialled numbers are normalised with (E.164), e.g. `86`.
    #[serde(default)]
    pub country_code: Option<String>,
    /// The national (trunk) prefix that starts a national number, e.g. `0`.
    #[serde(default = "default_national_prefix")]
    pub national_prefix: String,
    /// The prefix that starts an international number, e.g. `00`.
    #[serde(default = "default_international_prefix")]
    pub international_prefix: String,
}

fn default_trunk_register_expires() -> u32 {
    600
}
fn default_national_prefix() -> String {
    "0".to_string()
}
fn default_international_prefix() -> String {
    "00".to_string()
}

/// An agent: a SIP extension with credentials and skills.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    pub extension: Spanned<String>,
    #[serde(default)]
    pub name: String,
    /// `MD5(extension:realm:password)`, lower-case hex.
    pub ha1_md5: Spanned<String>,
    /// `SHA-256(extension:realm:password)`, lower-case hex.
    pub ha1_sha256: Spanned<String>,
    /// Skill name → level 1..=10.
    #[serde(default)]
    pub skills: BTreeMap<String, Spanned<u8>>,
    /// Digest algorithms offered to this agent's phone; the `[sip]` setting when absent.
    #[serde(default)]
    pub digest_algorithms: Option<Vec<DigestAlgorithm>>,
    /// A number of the agent's own (a DID) that rings this agent when dialled from a trunk,
    /// as the extension does.
    #[serde(default)]
    pub direct_number: Option<Spanned<String>>,
    /// SRTP policy of this agent's phone (`off`, `offered`, `required`); default `sip.srtp`.
    #[serde(default)]
    pub srtp: Option<String>,
    /// Contacts of each channel this agent holds at once; `[routing.capacity]` for what it
    /// leaves unsaid.
    #[serde(default)]
    pub capacity: Option<Capacity>,
    /// The agent's own working week for the workforce plan: contract, shift patterns and
    /// start-time wishes. The plan request's contract for what it leaves unsaid.
    #[serde(default)]
    pub week: Option<WorkWeek>,
}

/// An agent's working week, as the workforce plan keeps it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkWeek {
    /// Contracted hours a week, 0 to 80 (shift time, breaks included).
    #[serde(default)]
    pub weekly_hours: Option<Spanned<f64>>,
    /// The least hours a week the plan may give, at most `weekly_hours`; `weekly_hours`
    /// when absent (a fixed contract).
    #[serde(default)]
    pub min_weekly_hours: Option<Spanned<f64>>,
    /// Days a week without a shift, 0 to 7.
    #[serde(default)]
    pub days_off: Option<Spanned<u32>>,
    /// Names of the plan's shift patterns this agent works (`8h`, `10h`, or the request's
    /// own); every pattern when absent.
    #[serde(default)]
    pub patterns: Vec<Spanned<String>>,
    /// Start times the agent would like, every day, as `HH:MM-HH:MM` local (may run past
    /// midnight: `22:00-02:00`).
    #[serde(default)]
    pub prefer_starts: Vec<Spanned<String>>,
    /// Start times the agent would rather avoid, in the same form.
    #[serde(default)]
    pub avoid_starts: Vec<Spanned<String>>,
}

/// `HH:MM` (00:00 to 23:59) → minutes after midnight.
pub fn parse_hhmm(t: &str) -> Option<i64> {
    let (h, m) = t.trim().split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * 60 + m)
}

/// `HH:MM-HH:MM` → minutes after midnight of its start and end (the end may be earlier: the
/// range then runs past midnight).
pub fn parse_time_range(s: &str) -> Option<(i64, i64)> {
    let (a, b) = s.split_once('-')?;
    let (a, b) = (parse_hhmm(a)?, parse_hhmm(b)?);
    (a != b).then_some((a, b))
}

/// A queue: who may answer it and how fast it should be answered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    pub name: Spanned<String>,
    /// What the queue's contacts are: `voice` (default), `chat` (web chat and text
    /// messages) or `email`.
    #[serde(default)]
    pub channel: QueueChannel,
    /// Required skill → minimum level.
    pub skills: BTreeMap<String, Spanned<u8>>,
    /// Service-level target: answer within this many seconds.
    #[serde(default = "default_target")]
    pub target_seconds: u32,
    /// The share of contacts to answer within `target_seconds`, in percent (e.g. 80% of
    /// calls within 20 s, or of e-mails within 4 hours).
    #[serde(default = "default_service_level_percent")]
    pub service_level_percent: Spanned<u8>,
    /// Higher is served first when agents are shared.
    #[serde(default)]
    pub priority: i32,
    /// How long a caller may wait before the queue's overflow action.
    #[serde(default)]
    pub max_wait_seconds: Option<u32>,
    /// After-call work: seconds an agent stays in wrap-up after a contact of this queue
    /// (the agent may end it early or extend it).
    #[serde(default)]
    pub wrap_up_seconds: u32,
    #[serde(default)]
    pub strategy: Strategy,
    /// How long an agent's phone rings for this queue's callers; `centre.ring_timeout_seconds`
    /// when absent.
    #[serde(default)]
    pub ring_timeout_seconds: Option<Spanned<u32>>,
    /// What happens at `max_wait_seconds`: `voicemail` (default), `disconnect`, `overflow`.
    #[serde(default)]
    pub max_wait_action: Option<Spanned<MaxWaitAction>>,
    /// The queue callers move to at `max_wait_seconds` with `max_wait_action = "overflow"`.
    #[serde(default)]
    pub overflow_queue: Option<Spanned<String>>,
    /// Timed steps that widen who may answer a waiting caller.
    #[serde(default)]
    pub overflow: Vec<OverflowStep>,
    /// Recordings of this queue's calls older than this many days are removed;
    /// `centre.recording_retention_days` when absent (and kept for ever if that is absent).
    #[serde(default)]
    pub recording_retention_days: Option<Spanned<u32>>,
}

fn default_target() -> u32 {
    20
}

fn default_service_level_percent() -> Spanned<u8> {
    Spanned::new(0..0, 80)
}

/// The channel of a queue's contacts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueChannel {
    #[default]
    Voice,
    /// Web chat and text messages (SMS).
    Chat,
    Email,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    #[default]
    LongestIdle,
    FewestContacts,
    LeastOccupied,
    RoundRobin,
    RingAll,
    BestSkill,
}

/// A user of the web API and pages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: Spanned<String>,
    /// argon2 PHC string.
    pub password_hash: Spanned<String>,
    pub role: Role,
    /// The agent extension this user works as (agents only).
    #[serde(default)]
    pub agent: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Agent,
    Supervisor,
    Admin,
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: name.clone(),
            line: 0,
            column: 0,
            key: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Config::from_toml(&name, &text)
    }

    /// Parses and validates configuration text; `file` names it in errors.
    pub fn from_toml(file: &str, text: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            let (line, column) = line_col(text, offset);
            let message = e.message().trim().to_string();
            let key = key_at(text, offset, &message);
            ConfigError {
                file: file.to_string(),
                line,
                column,
                key,
                message,
            }
        })?;
        cfg.validate().map_err(|v| {
            let (line, column) = line_col(text, v.offset);
            ConfigError {
                file: file.to_string(),
                line,
                column,
                key: v.key,
                message: v.message,
            }
        })?;
        Ok(cfg)
    }

    /// The agent with this extension.
    pub fn agent(&self, extension: &str) -> Option<&Agent> {
        self.agents
            .iter()
            .find(|a| a.extension.get_ref() == extension)
    }

    fn validate(&self) -> Result<(), Invalid> {
        let bad = |key: String, span: std::ops::Range<usize>, message: String| Invalid {
            key,
            offset: span.start,
            message,
        };
        if self.sip.min_expires > self.sip.max_expires {
            return Err(Invalid {
                key: "sip.min_expires".into(),
                offset: 0,
                message: "must not exceed sip.max_expires".into(),
            });
        }
        if self.sip.max_message_bytes < 1024 || self.sip.max_message_bytes > 65_535 {
            return Err(Invalid {
                key: "sip.max_message_bytes".into(),
                offset: 0,
                message: "must be between 1024 and 65535".into(),
            });
        }
        if !(1..=86_400).contains(&self.sip.min_session_expires) {
            return Err(Invalid {
                key: "sip.min_session_expires".into(),
                offset: 0,
                message: "must be 1 to 86400 seconds (RFC 4028 asks for at least 90)".into(),
            });
        }
        if self.sip.digest_algorithms.is_empty() {
            return Err(Invalid {
                key: "sip.digest_algorithms".into(),
                offset: 0,
                message: "offer at least one algorithm: \"MD5\" or \"SHA-256\"".into(),
            });
        }
        let srtp_ok = |s: &str| matches!(s, "off" | "offered" | "required");
        let srtp_msg = || "must be \"off\", \"offered\" or \"required\"".to_string();
        if !srtp_ok(&self.sip.srtp) {
            return Err(Invalid {
                key: "sip.srtp".into(),
                offset: 0,
                message: srtp_msg(),
            });
        }
        if self.sip.tls_listen.is_some()
            && (self.sip.tls_cert.is_none() || self.sip.tls_key.is_none())
        {
            return Err(Invalid {
                key: "sip.tls_listen".into(),
                offset: 0,
                message: "needs sip.tls_cert and sip.tls_key".into(),
            });
        }
        for (i, a) in self.agents.iter().enumerate() {
            if let Some(p) = &a.srtp
                && !srtp_ok(p)
            {
                return Err(Invalid {
                    key: format!("agents[{i}].srtp"),
                    offset: 0,
                    message: srtp_msg(),
                });
            }
        }
        if let Some(d) = &self.storage.database
            && d.get_ref() != "sqlite"
        {
            check_postgres_url(d.get_ref())
                .map_err(|m| bad("storage.database".into(), d.span(), m))?;
        }
        if let Some(p) = &self.storage.password_env {
            if self.storage.postgres_url().is_none() {
                return Err(bad(
                    "storage.password_env".into(),
                    p.span(),
                    "is only for a PostgreSQL storage.database".into(),
                ));
            }
            let name = p.get_ref();
            if name.is_empty()
                || name.starts_with(|c: char| c.is_ascii_digit())
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(bad(
                    "storage.password_env".into(),
                    p.span(),
                    "must be the name of an environment variable (letters, digits, _), not a password".into(),
                ));
            }
        }
        if let Some(c) = &self.cluster {
            let node = &c.get_ref().node;
            if node.is_empty()
                || node.len() > 64
                || !node
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
            {
                return Err(bad(
                    "cluster.node".into(),
                    c.span(),
                    "must be a name of 1 to 64 letters, digits, '-', '_' or '.'".into(),
                ));
            }
            let (ttl, renew, margin) = c.get_ref().timing();
            check_lease_timing(ttl, renew, margin).map_err(|m| {
                // The key at fault: a zero, else the renewal against the lease, else the margin.
                let key = if renew.is_zero()
                    || (!ttl.is_zero() && !margin.is_zero() && m.contains("twice"))
                {
                    "cluster.renew_seconds"
                } else if margin.is_zero() || (!ttl.is_zero() && m.contains("margin")) {
                    "cluster.margin_seconds"
                } else {
                    "cluster.lease_seconds"
                };
                bad(
                    key.into(),
                    c.span(),
                    format!(
                        "{m} (lease_seconds {}, renew_seconds {}, margin_seconds {})",
                        ttl.as_secs(),
                        renew.as_secs(),
                        margin.as_secs()
                    ),
                )
            })?;
            if self.storage.postgres_url().is_none() {
                return Err(bad(
                    "cluster".into(),
                    c.span(),
                    "needs a PostgreSQL storage.database that every node shares".into(),
                ));
            }
        }
        if let Some(r) = &self.media.rtp_ports {
            parse_port_range(r.get_ref())
                .map_err(|m| bad("media.rtp_ports".into(), r.span(), m))?;
        }
        for (i, t) in self.trunks.iter().enumerate() {
            if t.digest_algorithms.as_ref().is_some_and(|a| a.is_empty()) {
                return Err(Invalid {
                    key: format!("trunks[{i}].digest_algorithms"),
                    offset: 0,
                    message: "offer at least one algorithm: \"MD5\" or \"SHA-256\"".into(),
                });
            }
            if t.outbound_username.is_some() != t.outbound_password_env.is_some() {
                return Err(Invalid {
                    key: format!("trunks[{i}].outbound_username"),
                    offset: 0,
                    message: "`outbound_username` and `outbound_password_env` go together".into(),
                });
            }
            if t.register && (t.outbound.is_none() || t.outbound_username.is_none()) {
                return Err(Invalid {
                    key: format!("trunks[{i}].register"),
                    offset: 0,
                    message: "registering needs `outbound` and the outbound credentials".into(),
                });
            }
            if let Some(cc) = &t.country_code
                && (cc.is_empty() || cc.len() > 3 || !cc.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(Invalid {
                    key: format!("trunks[{i}].country_code"),
                    offset: 0,
                    message: "must be 1 to 3 digits, such as \"86\"".into(),
                });
            }
            let has_digest = t.username.is_some();
            if t.sources.is_empty() && !has_digest && t.tls_client_ca.is_none() {
                return Err(Invalid {
                    key: format!("trunks[{i}]"),
                    offset: 0,
                    message:
                        "a trunk needs `sources`, `username` with HA1 digests, or `tls_client_ca`"
                            .into(),
                });
            }
            if let Some(p) = &t.srtp
                && !srtp_ok(p)
            {
                return Err(Invalid {
                    key: format!("trunks[{i}].srtp"),
                    offset: 0,
                    message: srtp_msg(),
                });
            }
            if t.tls_client_ca.is_some() && self.sip.tls_listen.is_none() {
                return Err(Invalid {
                    key: format!("trunks[{i}].tls_client_ca"),
                    offset: 0,
                    message: "needs sip.tls_listen".into(),
                });
            }
            if has_digest && (t.ha1_md5.is_none() || t.ha1_sha256.is_none()) {
                return Err(Invalid {
                    key: format!("trunks[{i}].username"),
                    offset: 0,
                    message: "a digest trunk needs both `ha1_md5` and `ha1_sha256`".into(),
                });
            }
            for (k, h, len) in [
                ("ha1_md5", &t.ha1_md5, 32),
                ("ha1_sha256", &t.ha1_sha256, 64),
            ] {
                if let Some(h) = h {
                    check_hex(h, len).map_err(|m| bad(format!("trunks[{i}].{k}"), h.span(), m))?;
                }
            }
            if let Some(o) = &t.outbound
                && o.get_ref().parse::<std::net::SocketAddr>().is_err()
            {
                return Err(bad(
                    format!("trunks[{i}].outbound"),
                    o.span(),
                    "must be an IP address and port, such as \"127.0.0.1:5070\"".into(),
                ));
            }
        }
        let mut extensions = HashSet::new();
        for (i, a) in self.agents.iter().enumerate() {
            let ext = a.extension.get_ref();
            if ext.is_empty() || !ext.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.') {
                return Err(bad(
                    format!("agents[{i}].extension"),
                    a.extension.span(),
                    "must be letters, digits or dots".into(),
                ));
            }
            if !extensions.insert(ext.clone()) {
                return Err(bad(
                    format!("agents[{i}].extension"),
                    a.extension.span(),
                    format!("extension {ext} is defined twice"),
                ));
            }
            check_hex(&a.ha1_md5, 32)
                .map_err(|m| bad(format!("agents[{i}].ha1_md5"), a.ha1_md5.span(), m))?;
            check_hex(&a.ha1_sha256, 64)
                .map_err(|m| bad(format!("agents[{i}].ha1_sha256"), a.ha1_sha256.span(), m))?;
            if a.digest_algorithms.as_ref().is_some_and(|a| a.is_empty()) {
                return Err(bad(
                    format!("agents[{i}].digest_algorithms"),
                    a.extension.span(),
                    "offer at least one algorithm: \"MD5\" or \"SHA-256\"".into(),
                ));
            }
            for (skill, level) in &a.skills {
                if !(1..=10).contains(level.get_ref()) {
                    return Err(bad(
                        format!("agents[{i}].skills.{skill}"),
                        level.span(),
                        "skill levels run from 1 to 10".into(),
                    ));
                }
            }
            if let Some(w) = &a.week {
                let key = |k: &str| format!("agents[{i}].week.{k}");
                if let Some(h) = &w.weekly_hours
                    && !(0.0..=80.0).contains(h.get_ref())
                {
                    return Err(bad(
                        key("weekly_hours"),
                        h.span(),
                        "from 0 to 80 hours".into(),
                    ));
                }
                let weekly = w.weekly_hours.as_ref().map(|h| *h.get_ref());
                if let Some(m) = &w.min_weekly_hours
                    && (!(0.0..=80.0).contains(m.get_ref())
                        || weekly.is_some_and(|wk| *m.get_ref() > wk))
                {
                    return Err(bad(
                        key("min_weekly_hours"),
                        m.span(),
                        "from 0 hours to `weekly_hours`".into(),
                    ));
                }
                if let Some(d) = &w.days_off {
                    if *d.get_ref() > 7 {
                        return Err(bad(key("days_off"), d.span(), "a week has 7 days".into()));
                    }
                    let least = w.min_weekly_hours.as_ref().or(w.weekly_hours.as_ref());
                    if *d.get_ref() == 7 && least.is_some_and(|h| *h.get_ref() > 0.0) {
                        return Err(bad(
                            key("days_off"),
                            d.span(),
                            "7 days off leave no day for the contracted hours".into(),
                        ));
                    }
                }
                for (name, list) in [
                    ("prefer_starts", &w.prefer_starts),
                    ("avoid_starts", &w.avoid_starts),
                ] {
                    for (j, r) in list.iter().enumerate() {
                        if parse_time_range(r.get_ref()).is_none() {
                            return Err(bad(
                                key(&format!("{name}[{j}]")),
                                r.span(),
                                format!(
                                    "`{}` is not a range of start times like \"07:00-09:30\"",
                                    r.get_ref()
                                ),
                            ));
                        }
                    }
                }
            }
        }
        let known_skills: HashSet<&String> =
            self.agents.iter().flat_map(|a| a.skills.keys()).collect();
        let retention_ok = |d: &Spanned<u32>| (1..=36_500).contains(d.get_ref());
        let retention_msg = || {
            "must be 1 to 36500 days (leave the key out to keep recordings for ever)".to_string()
        };
        if let Some(d) = &self.centre.recording_retention_days
            && !retention_ok(d)
        {
            return Err(bad(
                "centre.recording_retention_days".into(),
                d.span(),
                retention_msg(),
            ));
        }
        if let Some(z) = &self.centre.time_zone
            && z.get_ref().parse::<chrono_tz::Tz>().is_err()
        {
            return Err(bad(
                "centre.time_zone".into(),
                z.span(),
                format!(
                    "{:?} is not an IANA time zone (e.g. \"Asia/Shanghai\", \"Europe/London\", \"UTC\")",
                    z.get_ref()
                ),
            ));
        }
        let mut queue_names = HashSet::new();
        for (i, q) in self.queues.iter().enumerate() {
            if let Some(d) = &q.recording_retention_days
                && !retention_ok(d)
            {
                return Err(bad(
                    format!("queues[{i}].recording_retention_days"),
                    d.span(),
                    retention_msg(),
                ));
            }
            if !queue_names.insert(q.name.get_ref().clone()) {
                return Err(bad(
                    format!("queues[{i}].name"),
                    q.name.span(),
                    format!("queue {} is defined twice", q.name.get_ref()),
                ));
            }
            for (skill, level) in &q.skills {
                if !(1..=10).contains(level.get_ref()) {
                    return Err(bad(
                        format!("queues[{i}].skills.{skill}"),
                        level.span(),
                        "minimum levels run from 1 to 10".into(),
                    ));
                }
                if !known_skills.contains(skill) {
                    return Err(bad(
                        format!("queues[{i}].skills.{skill}"),
                        level.span(),
                        format!("no agent has the skill `{skill}`, so nobody could answer"),
                    ));
                }
            }
        }
        self.validate_numbers(&extensions, &queue_names)?;
        self.validate_routing()?;
        let mut user_names = HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            if !user_names.insert(u.name.get_ref().clone()) {
                return Err(bad(
                    format!("users[{i}].name"),
                    u.name.span(),
                    format!("user {} is defined twice", u.name.get_ref()),
                ));
            }
            if !u.password_hash.get_ref().starts_with("$argon2") {
                return Err(bad(
                    format!("users[{i}].password_hash"),
                    u.password_hash.span(),
                    "must be an argon2 PHC string (see `hotline hash-password`)".into(),
                ));
            }
            match (&u.agent, u.role) {
                (Some(ext), _) if !extensions.contains(ext.get_ref()) => {
                    return Err(bad(
                        format!("users[{i}].agent"),
                        ext.span(),
                        format!("no agent has extension {}", ext.get_ref()),
                    ));
                }
                (None, Role::Agent) => {
                    return Err(bad(
                        format!("users[{i}].role"),
                        u.name.span(),
                        "a user with role `agent` needs `agent = \"<extension>\"`".into(),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Service numbers, agents' direct numbers and the direct queue: well formed, each
    /// number reaching one place only, the queue defined.
    fn validate_numbers(
        &self,
        extensions: &HashSet<String>,
        queue_names: &HashSet<String>,
    ) -> Result<(), Invalid> {
        let good = |n: &str| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+*#.-_".contains(&b))
        };
        let mut seen: HashSet<&str> = HashSet::new();
        for (i, n) in self.centre.service_numbers.iter().enumerate() {
            if !good(n) {
                return Err(Invalid {
                    key: format!("centre.service_numbers[{i}]"),
                    offset: 0,
                    message: format!("`{n}` is not a dialable number"),
                });
            }
            if !seen.insert(n) || extensions.contains(n) {
                return Err(Invalid {
                    key: format!("centre.service_numbers[{i}]"),
                    offset: 0,
                    message: format!("number {n} reaches more than one place"),
                });
            }
        }
        let mut entries: Vec<(String, &Spanned<String>)> = self
            .numbers
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("numbers[{i}].number"), &n.number))
            .collect();
        entries.extend(self.agents.iter().enumerate().filter_map(|(i, a)| {
            Some((
                format!("agents[{i}].direct_number"),
                a.direct_number.as_ref()?,
            ))
        }));
        for (key, n) in entries {
            let text = n.get_ref().as_str();
            if !good(text) {
                return Err(Invalid {
                    key,
                    offset: n.span().start,
                    message: format!("`{text}` is not a dialable number"),
                });
            }
            if !seen.insert(text) || extensions.contains(text) {
                return Err(Invalid {
                    key,
                    offset: n.span().start,
                    message: format!("number {text} reaches more than one place"),
                });
            }
        }
        if let Some(q) = &self.centre.direct_queue
            && !queue_names.contains(q.get_ref())
        {
            return Err(Invalid {
                key: "centre.direct_queue".into(),
                offset: q.span().start,
                message: format!("no queue `{}` in the configuration", q.get_ref()),
            });
        }
        let channel_of = |name: &str| {
            self.queues
                .iter()
                .find(|q| q.name.get_ref() == name)
                .map(|q| q.channel)
        };
        if let Some(q) = &self.centre.direct_queue
            && channel_of(q.get_ref()) != Some(QueueChannel::Voice)
        {
            return Err(Invalid {
                key: "centre.direct_queue".into(),
                offset: q.span().start,
                message: format!("`{}` is not a queue of calls", q.get_ref()),
            });
        }
        for q in &self.queues {
            let key = |k: &str| format!("queues.{}.{k}", q.name.get_ref());
            if q.channel != QueueChannel::Voice && q.strategy == Strategy::RingAll {
                return Err(Invalid {
                    key: key("strategy"),
                    offset: q.name.span().start,
                    message: "`ring-all` rings several phones for one call; a chat or an e-mail \
                              is offered to one agent at a time"
                        .into(),
                });
            }
            let sl = q.service_level_percent.get_ref();
            if !(1..=100).contains(sl) {
                return Err(Invalid {
                    key: key("service_level_percent"),
                    offset: q.service_level_percent.span().start,
                    message: format!("{sl}% is not a share: give 1 to 100"),
                });
            }
            // A contact that moves on keeps its channel: a call never waits in a chat queue.
            if let Some(o) = &q.overflow_queue
                && channel_of(o.get_ref()).is_some_and(|c| c != q.channel)
            {
                return Err(Invalid {
                    key: key("overflow_queue"),
                    offset: o.span().start,
                    message: format!("`{}` is of another channel than this queue", o.get_ref()),
                });
            }
        }
        let mut addresses = HashSet::new();
        let mut folders = HashMap::new();
        for (i, m) in self.mailboxes.iter().enumerate() {
            let key = |k: &str| format!("mailboxes[{i}].{k}");
            let address = m.address.get_ref();
            let plausible = address
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !address.contains(' '));
            if !plausible {
                return Err(Invalid {
                    key: key("address"),
                    offset: m.address.span().start,
                    message: format!("`{address}` is not an e-mail address"),
                });
            }
            if !addresses.insert(address.to_ascii_lowercase()) {
                return Err(Invalid {
                    key: key("address"),
                    offset: m.address.span().start,
                    message: format!("`{address}` is fetched twice"),
                });
            }
            if channel_of(m.queue.get_ref()) != Some(QueueChannel::Email) {
                return Err(Invalid {
                    key: key("queue"),
                    offset: m.queue.span().start,
                    message: format!(
                        "`{}` is not a queue of channel \"email\"",
                        m.queue.get_ref()
                    ),
                });
            }
            for (k, v) in [("imap", &m.imap), ("smtp", &m.smtp)] {
                let ok = v
                    .get_ref()
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
                if !ok {
                    return Err(Invalid {
                        key: key(k),
                        offset: v.span().start,
                        message: format!("`{}` is not host:port", v.get_ref()),
                    });
                }
            }
            // Passwords in clear only where they cannot be overheard.
            let loopback = |hp: &str| {
                let host = hp.rsplit_once(':').map_or(hp, |(h, _)| h);
                let host = host.trim_matches(['[', ']']);
                host.eq_ignore_ascii_case("localhost")
                    || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
            };
            if m.security == MailSecurity::Plain
                && !(loopback(m.imap.get_ref()) && loopback(m.smtp.get_ref()))
            {
                return Err(Invalid {
                    key: key("security"),
                    offset: m.imap.span().start,
                    message: "`plain` sends the password in clear: only for servers on this \
                              machine (loopback); use `tls` or `starttls`"
                        .into(),
                });
            }
            if m.user.trim().is_empty() || m.folder.trim().is_empty() {
                return Err(Invalid {
                    key: key(if m.user.trim().is_empty() {
                        "user"
                    } else {
                        "folder"
                    }),
                    offset: m.address.span().start,
                    message: "must not be empty".into(),
                });
            }
            // Two mailboxes reading one folder would race for each message, each to its
            // own queue.
            let folder = (
                m.imap.get_ref().to_ascii_lowercase(),
                m.user.clone(),
                m.folder.clone(),
            );
            if let Some(first) = folders.insert(folder, i) {
                return Err(Invalid {
                    key: key("folder"),
                    offset: m.imap.span().start,
                    message: format!(
                        "`{}` of `{}` on {} is read by mailboxes[{first}] already",
                        m.folder,
                        m.user,
                        m.imap.get_ref()
                    ),
                });
            }
            if m.password.is_none() && m.password_env.is_none() {
                return Err(Invalid {
                    key: key("password"),
                    offset: m.address.span().start,
                    message: "give `password` or `password_env`".into(),
                });
            }
            if !(1..=3600).contains(m.poll_seconds.get_ref()) {
                return Err(Invalid {
                    key: key("poll_seconds"),
                    offset: m.poll_seconds.span().start,
                    message: "must be 1 to 3600 seconds".into(),
                });
            }
            if !(1..=365).contains(m.close_after_days.get_ref()) {
                return Err(Invalid {
                    key: key("close_after_days"),
                    offset: m.close_after_days.span().start,
                    message: "must be 1 to 365 days".into(),
                });
            }
        }
        if let Some(sms) = &self.sms {
            let n = sms.number.get_ref();
            let digits = n.strip_prefix('+').unwrap_or(n);
            if digits.is_empty() || digits.len() > 20 || !digits.chars().all(|c| c.is_ascii_digit())
            {
                return Err(Invalid {
                    key: "sms.number".into(),
                    offset: sms.number.span().start,
                    message: format!("`{n}` is not a number to text"),
                });
            }
            if channel_of(sms.queue.get_ref()) != Some(QueueChannel::Chat) {
                return Err(Invalid {
                    key: "sms.queue".into(),
                    offset: sms.queue.span().start,
                    message: format!(
                        "`{}` is not a queue of channel \"chat\"",
                        sms.queue.get_ref()
                    ),
                });
            }
            if !(1..=24 * 30).contains(sms.close_after_hours.get_ref()) {
                return Err(Invalid {
                    key: "sms.close_after_hours".into(),
                    offset: sms.close_after_hours.span().start,
                    message: "must be 1 to 720 hours".into(),
                });
            }
            match (&sms.smpp, &sms.http) {
                (Some(smpp), None) => check_smpp(smpp)?,
                (None, Some(http)) => check_sms_http(http)?,
                (Some(_), Some(http)) => {
                    return Err(Invalid {
                        key: "sms.http".into(),
                        offset: http.send_url.span().start,
                        message: "give either [sms.smpp] (the carrier's SMSC) or [sms.http] \
                                  (a provider's HTTP API), not both"
                            .into(),
                    });
                }
                (None, None) => {
                    return Err(Invalid {
                        key: "sms".into(),
                        offset: sms.number.span().start,
                        message: "say how texts come and go: add [sms.smpp] (the carrier's \
                                  SMSC) or [sms.http] (a provider's HTTP API)"
                            .into(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Checks that every flow a number names exists (`has_flow`); `text` is this
    /// configuration's text, so that errors name the line.
    pub fn check_flows(
        &self,
        file: &str,
        text: &str,
        has_flow: impl Fn(&str) -> bool,
    ) -> Result<(), ConfigError> {
        if !self.centre.service_numbers.is_empty() && !has_flow("main") {
            return Err(ConfigError {
                file: file.to_string(),
                line: 0,
                column: 0,
                key: "centre.service_numbers".into(),
                message:
                    "the service numbers are answered by the flow `main`, which is not defined"
                        .into(),
            });
        }
        for (i, n) in self.numbers.iter().enumerate() {
            if has_flow(n.flow_name()) {
                continue;
            }
            let offset = n
                .flow
                .as_ref()
                .map_or(n.number.span().start, |f| f.span().start);
            let (line, column) = line_col(text, offset);
            return Err(ConfigError {
                file: file.to_string(),
                line,
                column,
                key: format!("numbers[{i}].flow"),
                message: format!("no flow `{}` is defined", n.flow_name()),
            });
        }
        Ok(())
    }

    /// Where calls out go: the first trunk with an `outbound` address.
    pub fn outbound(&self) -> Option<std::net::SocketAddr> {
        self.trunks
            .iter()
            .find_map(|t| t.outbound.as_ref()?.get_ref().parse().ok())
    }

    /// The trunk calls out go through: the first with an `outbound` address.
    pub fn outbound_trunk(&self) -> Option<&Trunk> {
        self.trunks.iter().find(|t| t.outbound.is_some())
    }

    /// The trunk trusted for calls from this address, if any.
    pub fn trunk_for_source(&self, ip: IpAddr) -> Option<&Trunk> {
        self.trunks
            .iter()
            .find(|t| t.sources.iter().any(|n| n.contains(&ip)))
    }
}

/// `[sms.smpp]`, key by key.
fn check_smpp(smpp: &Smpp) -> Result<(), Invalid> {
    let a = &smpp.address;
    let ok = a
        .get_ref()
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
    if !ok {
        return Err(Invalid {
            key: "sms.smpp.address".into(),
            offset: a.span().start,
            message: format!("`{}` is not host:port", a.get_ref()),
        });
    }
    // SMPP 3.4's field sizes (5.2.1, 5.2.2, 5.2.3), less the terminating NUL.
    for (k, v, max) in [
        ("system_id", &smpp.system_id, 15),
        ("system_type", &smpp.system_type, 12),
        ("password", &smpp.password.clone().unwrap_or_default(), 8),
    ] {
        if v.len() > max || v.chars().any(|c| !c.is_ascii() || c.is_ascii_control()) {
            return Err(Invalid {
                key: format!("sms.smpp.{k}"),
                offset: a.span().start,
                message: format!("SMPP allows at most {max} plain ASCII characters"),
            });
        }
    }
    if smpp.system_id.is_empty() {
        return Err(Invalid {
            key: "sms.smpp.system_id".into(),
            offset: a.span().start,
            message: "must not be empty".into(),
        });
    }
    if smpp.password.is_none() && smpp.password_env.is_none() {
        return Err(Invalid {
            key: "sms.smpp.password".into(),
            offset: a.span().start,
            message: "give `password` or `password_env`".into(),
        });
    }
    if !(1..=10_000).contains(smpp.per_second.get_ref()) {
        return Err(Invalid {
            key: "sms.smpp.per_second".into(),
            offset: smpp.per_second.span().start,
            message: "must be 1 to 10000".into(),
        });
    }
    Ok(())
}

/// `[sms.http]`, key by key.
fn check_sms_http(http: &SmsHttp) -> Result<(), Invalid> {
    if let Err(message) = http.url() {
        return Err(Invalid {
            key: "sms.http.send_url".into(),
            offset: http.send_url.span().start,
            message,
        });
    }
    let start = http.send_url.span().start;
    if http.token.is_none() && http.token_env.is_none() {
        return Err(Invalid {
            key: "sms.http.token".into(),
            offset: start,
            message: "give `token` or `token_env`".into(),
        });
    }
    if let Some(t) = &http.token
        && (t.is_empty() || t.chars().any(|c| c.is_control() || c.is_whitespace()))
    {
        return Err(Invalid {
            key: "sms.http.token".into(),
            offset: start,
            message: "must be a bearer token: no spaces or control characters".into(),
        });
    }
    match (&http.secret, &http.secret_env) {
        (None, None) => {
            return Err(Invalid {
                key: "sms.http.secret".into(),
                offset: start,
                message: "give `secret` or `secret_env`: the provider's webhooks are signed \
                          with it"
                    .into(),
            });
        }
        (Some(s), _) if s.get_ref().len() < MIN_SMS_SECRET => {
            return Err(Invalid {
                key: "sms.http.secret".into(),
                offset: s.span().start,
                message: format!("must be at least {MIN_SMS_SECRET} bytes"),
            });
        }
        _ => {}
    }
    if !(1..=10_000).contains(http.per_second.get_ref()) {
        return Err(Invalid {
            key: "sms.http.per_second".into(),
            offset: http.per_second.span().start,
            message: "must be 1 to 10000".into(),
        });
    }
    Ok(())
}

struct Invalid {
    key: String,
    offset: usize,
    message: String,
}

fn check_hex(value: &Spanned<String>, len: usize) -> Result<(), String> {
    let v = value.get_ref();
    if v.len() == len
        && v.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(format!(
            "must be {len} lower-case hex digits (see `hotline ha1`)"
        ))
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let column = text
        .get(line_start..offset)
        .map_or(1, |s| s.chars().count() + 1);
    (line, column)
}

/// The dotted key path at `offset`: the enclosing table header (with the index of an
/// array-of-tables entry) and the key on that line, or the unknown field a message names.
pub fn key_at(text: &str, offset: usize, message: &str) -> String {
    let offset = offset.min(text.len());
    let mut table = String::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut line_key = String::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let start = pos;
        pos += line.len();
        let t = line.trim();
        if start > offset {
            break;
        }
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_string();
            let n = counts.entry(name.clone()).or_insert(0);
            table = format!("{name}[{n}]");
            *n += 1;
            line_key.clear();
        } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = name.trim().to_string();
            line_key.clear();
        } else if offset < pos {
            line_key = t
                .split('=')
                .next()
                .map(|k| k.trim().trim_matches('"').to_string())
                .unwrap_or_default();
        }
    }
    if let Some(field) = message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        line_key = field.to_string();
    }
    match (table.is_empty(), line_key.is_empty()) {
        (true, _) => line_key,
        (false, true) => table,
        (false, false) => format!("{table}.{line_key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ConfigError {
        match Config::from_toml("t.toml", text) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e,
        }
    }

    #[test]
    fn storage_database_is_sqlite_or_a_postgres_url_with_its_line() {
        let with =
            |lines: &str| DEMO_TOML.replacen("[storage]\n", &format!("[storage]\n{lines}\n"), 1);
        let c = Config::from_toml("t.toml", &with("database = \"sqlite\"")).expect("valid");
        assert_eq!(c.storage.postgres_url(), None);
        let c = Config::from_toml("t.toml", DEMO_TOML).expect("valid");
        assert_eq!(c.storage.postgres_url(), None, "SQLite by default");
        let url = "postgres://hotline@db1:5432,db2:5433,[::1]/hotline?sslmode=disable";
        let c = Config::from_toml(
            "t.toml",
            &with(&format!(
                "database = \"{url}\"\npassword_env = \"HOTLINE_DB_PASSWORD\""
            )),
        )
        .expect("valid");
        assert_eq!(c.storage.postgres_url(), Some(url));
        for (lines, key, wanted) in [
            (
                "database = \"mysql://x/y\"",
                "storage.database",
                "PostgreSQL URL",
            ),
            (
                "database = \"postgres://db1:70000/hotline\"",
                "storage.database",
                "port",
            ),
            (
                "database = \"postgres://db1,,db2/hotline\"",
                "storage.database",
                "empty host",
            ),
            (
                "database = \"postgres://db1:5432\"",
                "storage.database",
                "no database",
            ),
            (
                "password_env = \"PW\"",
                "storage.password_env",
                "only for a PostgreSQL",
            ),
            (
                "database = \"postgres://db1/hotline\"\npassword_env = \"s3cr3t!\"",
                "storage.password_env",
                "environment variable",
            ),
        ] {
            let e = err(&with(lines));
            assert_eq!(e.key, key, "{lines}: {e}");
            assert!(e.message.contains(wanted), "{lines}: {e}");
            assert!(e.line > 0, "{lines}: the line is given: {e}");
        }
    }

    #[test]
    fn a_cluster_node_needs_a_shared_postgres_log_and_a_lease_that_can_be_renewed() {
        let pg = "[storage]\ndatabase = \"postgres://hotline@db1,db2/hotline\"\n";
        // `storage` replaces the demo's `[storage]` header line (empty: kept as it is).
        let with = |storage: &str, cluster: &str| {
            let storage = if storage.is_empty() {
                "[storage]\n"
            } else {
                storage
            };
            format!(
                "{}\n[cluster]\n{cluster}\n",
                DEMO_TOML.replacen("[storage]\n", storage, 1)
            )
        };
        let c = Config::from_toml("t.toml", &with(pg, "node = \"a\"")).expect("valid");
        let cluster = c.cluster.expect("a cluster");
        assert_eq!(cluster.get_ref().node, "a");
        assert_eq!(
            cluster.get_ref().timing(),
            (
                std::time::Duration::from_secs(3),
                std::time::Duration::from_secs(1),
                std::time::Duration::from_secs(1)
            ),
            "the defaults"
        );
        assert!(
            Config::from_toml("t.toml", DEMO_TOML)
                .unwrap()
                .cluster
                .is_none()
        );
        for (storage, cluster, key, wanted) in [
            ("", "node = \"a\"", "cluster", "PostgreSQL"),
            (pg, "node = \"\"", "cluster.node", "name"),
            (pg, "node = \"a b\"", "cluster.node", "name"),
            (
                pg,
                "node = \"a\"\nlease_seconds = 3\nrenew_seconds = 2",
                "cluster.renew_seconds",
                "renewed at least twice",
            ),
            (
                pg,
                "node = \"a\"\nmargin_seconds = 4",
                "cluster.margin_seconds",
                "margin",
            ),
            (
                pg,
                "node = \"a\"\nrenew_seconds = 0",
                "cluster.renew_seconds",
                "zero",
            ),
            (
                pg,
                "node = \"a\"\nlease_seconds = 0",
                "cluster.lease_seconds",
                "zero",
            ),
            (pg, "nodes = \"a\"", "cluster", "unknown field"),
        ] {
            let e = err(&with(storage, cluster));
            assert!(e.key.starts_with(key), "{cluster}: {e}");
            assert!(e.message.contains(wanted), "{cluster}: {e}");
            assert!(e.line > 0, "{cluster}: the line is given: {e}");
        }
    }

    #[test]
    fn the_centre_time_zone_is_an_iana_zone() {
        let text = DEMO_TOML.replacen("[centre]\n", "[centre]\ntime_zone = \"Mars/Olympus\"\n", 1);
        let e = err(&text);
        assert_eq!(e.key, "centre.time_zone", "{e}");
        assert!(e.message.contains("IANA"), "{e}");
        assert!(e.line > 0, "{e}");
        let text = DEMO_TOML.replacen("[centre]\n", "[centre]\ntime_zone = \"Asia/Shanghai\"\n", 1);
        let c = Config::from_toml("t.toml", &text).expect("valid");
        assert_eq!(
            c.centre.time_zone.map(|z| z.get_ref().clone()).as_deref(),
            Some("Asia/Shanghai")
        );
    }

    #[test]
    fn an_agents_own_week_is_checked_with_its_line() {
        let with = |week: &str| {
            DEMO_TOML.replacen(
                "skills = { accounts = 6, cards = 4, general = 5 }\n",
                &format!("skills = {{ accounts = 6, cards = 4, general = 5 }}\nweek = {week}\n"),
                1,
            )
        };
        let c = Config::from_toml(
            "t.toml",
            &with(r#"{ weekly_hours = 24, days_off = 3, patterns = ["8h"], prefer_starts = ["08:00-10:00"], avoid_starts = ["22:00-02:00"] }"#),
        )
        .expect("valid");
        let w = c.agent("1002").unwrap().week.clone().unwrap();
        assert_eq!(w.weekly_hours.map(|h| *h.get_ref()), Some(24.0));
        assert_eq!(parse_time_range("22:00-02:00"), Some((1320, 120)));
        for (week, key) in [
            ("{ weekly_hours = 90 }", "agents[1].week.weekly_hours"),
            (
                "{ weekly_hours = 20, min_weekly_hours = 30 }",
                "agents[1].week.min_weekly_hours",
            ),
            ("{ days_off = 8 }", "agents[1].week.days_off"),
            (
                "{ weekly_hours = 20, days_off = 7 }",
                "agents[1].week.days_off",
            ),
            (
                r#"{ prefer_starts = ["08:00-10:00", "8 to 10"] }"#,
                "agents[1].week.prefer_starts[1]",
            ),
            (
                r#"{ avoid_starts = ["09:00-09:00"] }"#,
                "agents[1].week.avoid_starts[0]",
            ),
        ] {
            let e = err(&with(week));
            assert_eq!(e.key, key, "{e}");
            assert!(e.line > 0, "{e}");
        }
        assert!(err(&with("{ weekly = 20 }")).message.contains("weekly"));
    }

    #[test]
    fn recording_retention_is_one_day_or_more_per_queue_and_for_the_centre() {
        let text = DEMO_TOML.replacen(
            "[[queues]]\n",
            "[[queues]]\nrecording_retention_days = 0\n",
            1,
        );
        let e = err(&text);
        assert_eq!(e.key, "queues[0].recording_retention_days", "{e}");
        assert!(e.message.contains("1 to 36500"), "{e}");
        let text = DEMO_TOML.replacen(
            "[centre]\n",
            "[centre]\nrecording_retention_days = 40000\n",
            1,
        );
        assert_eq!(err(&text).key, "centre.recording_retention_days");
        let text = DEMO_TOML
            .replacen(
                "[centre]\n",
                "[centre]\nrecording_retention_days = 180\n",
                1,
            )
            .replacen(
                "[[queues]]\n",
                "[[queues]]\nrecording_retention_days = 30\n",
                1,
            );
        let c = Config::from_toml("t.toml", &text).expect("valid");
        assert_eq!(
            c.centre.recording_retention_days.map(|d| *d.get_ref()),
            Some(180)
        );
        assert_eq!(
            c.queues[0]
                .recording_retention_days
                .as_ref()
                .map(|d| *d.get_ref()),
            Some(30)
        );
    }

    #[test]
    fn demo_config_is_valid() {
        let cfg = Config::from_toml("demo.toml", DEMO_TOML).unwrap();
        assert_eq!(cfg.agents.len(), 10);
        assert_eq!(cfg.centre.service_numbers, vec!["95588".to_string()]);
        for q in ["accounts", "cards", "complaints", "general"] {
            assert!(cfg.queues.iter().any(|x| x.name.get_ref() == q), "{q}");
        }
        assert!(cfg.trunk_for_source("127.0.0.1".parse().unwrap()).is_some());
        assert!(cfg.trunk_for_source("10.1.2.3".parse().unwrap()).is_none());
        assert_eq!(cfg.users.len(), 12);
    }

    #[test]
    fn tls_and_srtp_keys_are_checked() {
        let e = err(&DEMO_TOML.replace(
            "realm = \"hotline\"\n",
            "realm = \"hotline\"\ntls_listen = \"127.0.0.1:5061\"\n",
        ));
        assert_eq!(e.key, "sip.tls_listen", "{e}");
        let e = err(&DEMO_TOML.replace(
            "realm = \"hotline\"\n",
            "realm = \"hotline\"\nsrtp = \"sometimes\"\n",
        ));
        assert_eq!(e.key, "sip.srtp", "{e}");
        let e = err(&DEMO_TOML.replace(
            "extension = \"1002\"\n",
            "extension = \"1002\"\nsrtp = \"yes\"\n",
        ));
        assert_eq!(e.key, "agents[1].srtp", "{e}");
        let e =
            err(&DEMO_TOML.replace("sources = [\"127.0.0.1/32\"]", "tls_client_ca = \"ca.pem\""));
        assert_eq!(e.key, "trunks[0].tls_client_ca", "{e}");
        let ok = DEMO_TOML.replace(
            "realm = \"hotline\"\n",
            "realm = \"hotline\"\ntls_listen = \"127.0.0.1:5061\"\ntls_cert = \"c.pem\"\n\
             tls_key = \"k.pem\"\nsrtp = \"required\"\ndigest_algorithms = [\"MD5\"]\n",
        );
        let cfg = Config::from_toml("t.toml", &ok).unwrap();
        assert_eq!(cfg.sip.srtp, "required");
        assert_eq!(cfg.sip.digest_algorithms, vec![DigestAlgorithm::Md5]);
    }

    #[test]
    fn unknown_key_names_line_column_and_key() {
        let e = err("[sip]\nrealm = \"x\"\nlisten_port = 5060\n");
        assert_eq!((e.line, e.column), (3, 1), "{e}");
        assert_eq!(e.key, "sip.listen_port");
        assert!(e.message.contains("unknown field"), "{e}");
        assert!(
            e.to_string()
                .starts_with("t.toml:3:1: key `sip.listen_port`"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_in_array_of_tables_names_the_entry() {
        let mut text = String::from(DEMO_TOML);
        text.push_str(
            "\n[[queues]]\nname = \"extra\"\nskills = { general = 1 }\ntarget_seconds = \"soon\"\n",
        );
        let e = err(&text);
        assert_eq!(e.key, "queues[5].target_seconds", "{e}");
        assert_eq!(e.line, text.lines().count(), "{e}");
    }

    #[test]
    fn bad_address_is_reported_at_its_line() {
        let e = err("[http]\n\nlisten = \"nowhere\"\n");
        assert_eq!(e.line, 3, "{e}");
        assert_eq!(e.key, "http.listen");
    }

    #[test]
    fn duplicate_extension_points_at_the_second() {
        let agent = |ext: &str| {
            format!(
                "[[agents]]\nextension = \"{ext}\"\nha1_md5 = \"{}\"\nha1_sha256 = \"{}\"\n",
                "a".repeat(32),
                "b".repeat(64)
            )
        };
        let text = format!("{}{}", agent("1001"), agent("1001"));
        let e = err(&text);
        assert_eq!(e.key, "agents[1].extension");
        assert_eq!(e.line, 6, "{e}");
        assert!(e.message.contains("twice"));
    }

    #[test]
    fn a_trunk_outbound_address_must_be_an_ip_and_port() {
        let text = DEMO_TOML.replace(
            "sources = [\"127.0.0.1/32\"]",
            "sources = [\"127.0.0.1/32\"]\noutbound = \"carrier.example\"",
        );
        let e = err(&text);
        assert_eq!(e.key, "trunks[0].outbound");
        let line = text
            .lines()
            .position(|l| l.starts_with("outbound"))
            .unwrap()
            + 1;
        assert_eq!(e.line, line, "{e}");
        let good = DEMO_TOML.replace(
            "sources = [\"127.0.0.1/32\"]",
            "sources = [\"127.0.0.1/32\"]\noutbound = \"127.0.0.1:5070\"",
        );
        let cfg = Config::from_toml("t.toml", &good).unwrap();
        assert_eq!(cfg.outbound(), Some("127.0.0.1:5070".parse().unwrap()));
        assert_eq!(
            Config::from_toml("t.toml", DEMO_TOML).unwrap().outbound(),
            None
        );
    }

    #[test]
    fn plain_text_password_is_refused() {
        let text = "[[agents]]\nextension = \"1\"\nha1_md5 = \"secret\"\nha1_sha256 = \"x\"\n";
        let e = err(text);
        assert_eq!(e.key, "agents[0].ha1_md5");
        assert_eq!((e.line, e.column), (3, 11), "{e}");
    }

    #[test]
    fn queue_skill_nobody_has_is_an_error() {
        let text = DEMO_TOML.replace("skills = { cards = 1 }", "skills = { crads = 1 }");
        let e = err(&text);
        assert!(e.key.ends_with("skills.crads"), "{e}");
        assert!(e.message.contains("no agent"), "{e}");
    }

    #[test]
    fn numbers_reach_one_place_each_and_name_existing_queues_and_flows() {
        let e = err(&DEMO_TOML.replace(
            "extension = \"1002\"",
            "extension = \"1002\"\ndirect_number = \"95588\"",
        ));
        assert_eq!(e.key, "agents[1].direct_number", "{e}");
        assert!(e.message.contains("more than one place"), "{e}");
        let e = err(&format!("{DEMO_TOML}\n[[numbers]]\nnumber = \"1001\"\n"));
        assert_eq!(e.key, "numbers[0].number", "{e}");
        let e = err(&DEMO_TOML.replace(
            "service_numbers = [\"95588\"]",
            "service_numbers = [\"95588\"]\ndirect_queue = \"nowhere\"",
        ));
        assert_eq!(e.key, "centre.direct_queue", "{e}");
        assert_eq!(e.line, 14, "{e}");
        let e = err(&DEMO_TOML.replace(
            "realm = \"hotline\"",
            "realm = \"hotline\"\ndigest_algorithms = []",
        ));
        assert_eq!(e.key, "sip.digest_algorithms", "{e}");
        let e = err(&DEMO_TOML.replace(
            "realm = \"hotline\"",
            "realm = \"hotline\"\ndigest_algorithms = [\"SHA-512\"]",
        ));
        assert!(e.message.contains("SHA-256"), "{e}");
        // A number's flow must be one of the flows loaded.
        let text = format!("{DEMO_TOML}\n[[numbers]]\nnumber = \"95566\"\nflow = \"cards_line\"\n");
        let cfg = Config::from_toml("t.toml", &text).unwrap();
        assert_eq!(cfg.numbers[0].flow_name(), "cards_line");
        let e = cfg
            .check_flows("t.toml", &text, |f| f == "main")
            .unwrap_err();
        assert_eq!(e.key, "numbers[0].flow");
        assert_eq!(e.line, text.lines().count(), "{e}");
        assert!(cfg.check_flows("t.toml", &text, |_| true).is_ok());
        assert_eq!(
            Config::from_toml("t.toml", DEMO_TOML)
                .unwrap()
                .sip
                .digest_algorithms,
            vec![DigestAlgorithm::Md5]
        );
    }

    #[test]
    fn mailboxes_and_the_smsc_are_checked_key_by_key() {
        let email_queue =
            "\n[[queues]]\nname = \"email\"\nchannel = \"email\"\nskills = { general = 1 }\n";
        let mailbox = |security: &str, imap: &str| {
            format!(
                "{DEMO_TOML}{email_queue}\n[[mailboxes]]\naddress = \"service@bank.test\"\n\
                 queue = \"email\"\nimap = \"{imap}\"\nsmtp = \"127.0.0.1:587\"\n\
                 user = \"service\"\npassword = \"x\"\nsecurity = \"{security}\"\n"
            )
        };
        Config::from_toml("t.toml", &mailbox("plain", "127.0.0.1:143")).unwrap();
        Config::from_toml("t.toml", &mailbox("tls", "mail.bank.test:993")).unwrap();
        let e = err(&mailbox("plain", "mail.bank.test:143"));
        assert_eq!(e.key, "mailboxes[0].security", "{e}");
        let e = err(&mailbox("tls", "mail.bank.test"));
        assert_eq!(e.key, "mailboxes[0].imap", "{e}");
        let e =
            err(&mailbox("tls", "127.0.0.1:993").replace("queue = \"email\"", "queue = \"chat\""));
        assert_eq!(e.key, "mailboxes[0].queue", "{e}");
        let twice = format!(
            "{}\n[[mailboxes]]\naddress = \"cards@bank.test\"\nqueue = \"email\"\n\
             imap = \"127.0.0.1:143\"\nsmtp = \"127.0.0.1:587\"\nuser = \"service\"\n\
             password = \"x\"\nsecurity = \"plain\"\n",
            mailbox("plain", "127.0.0.1:143")
        );
        let e = err(&twice);
        assert_eq!(e.key, "mailboxes[1].folder", "{e}");
        assert!(e.message.contains("mailboxes[0]"), "{e}");
        Config::from_toml(
            "t.toml",
            &twice
                .replacen("user = \"service\"", "user = \"cards\"", 2)
                .replacen("user = \"cards\"", "user = \"service\"", 1),
        )
        .unwrap();
        let sms = |system_id: &str, queue: &str| {
            format!(
                "{DEMO_TOML}\n[sms]\nnumber = \"95588\"\nqueue = \"{queue}\"\n\n[sms.smpp]\n\
                 address = \"127.0.0.1:2775\"\nsystem_id = \"{system_id}\"\npassword = \"secret\"\n"
            )
        };
        Config::from_toml("t.toml", &sms("bank95588", "chat")).unwrap();
        let e = err(&sms("a-system-id-too-long", "chat"));
        assert_eq!(e.key, "sms.smpp.system_id", "{e}");
        let e = err(&sms("bank", "accounts"));
        assert_eq!(e.key, "sms.queue", "{e}");
    }

    #[test]
    fn an_sms_provider_over_http_is_checked_key_by_key() {
        let line_of = |text: &str, needle: &str| {
            text.lines()
                .position(|l| l.starts_with(needle))
                .expect("the line")
                + 1
        };
        let http = |url: &str, extra: &str| {
            format!(
                "{DEMO_TOML}\n[sms]\nnumber = \"95588\"\nqueue = \"chat\"\n\n[sms.http]\n\
                 send_url = \"{url}\"\ntoken = \"tok-123\"\n\
                 secret = \"0123456789abcdef-webhooks\"\n{extra}"
            )
        };
        let cfg =
            Config::from_toml("t.toml", &http("https://sms.example.com/v1/send", "")).unwrap();
        let h = cfg.sms.as_ref().and_then(|s| s.http.as_ref()).unwrap();
        assert_eq!(
            h.url().unwrap(),
            HttpUrl {
                tls: true,
                host: "sms.example.com".into(),
                port: 443,
                path: "/v1/send".into()
            }
        );
        assert_eq!(*h.per_second.get_ref(), 50);
        let local = Config::from_toml("t.toml", &http("http://127.0.0.1:9000", "")).unwrap();
        let url = local.sms.unwrap().http.unwrap().url().unwrap();
        assert_eq!((url.tls, url.port, url.path.as_str()), (false, 9000, "/"));
        // The token would go in clear to another machine.
        let text = http("http://sms.example.com/send", "");
        let e = err(&text);
        assert_eq!(e.key, "sms.http.send_url", "{e}");
        assert_eq!(e.line, line_of(&text, "send_url"), "{e}");
        let e = err(&http("ftp://sms.example.com/", ""));
        assert_eq!(e.key, "sms.http.send_url", "{e}");
        let e = err(&http("https://user:pw@sms.example.com/", ""));
        assert!(e.message.contains("token"), "{e}");
        let text = http("https://sms.example.com/", "").replace(
            "secret = \"0123456789abcdef-webhooks\"",
            "secret = \"short\"",
        );
        let e = err(&text);
        assert_eq!(e.key, "sms.http.secret", "{e}");
        assert_eq!(e.line, line_of(&text, "secret ="), "{e}");
        let e = err(&http("https://sms.example.com/", "").replace("secret = ", "secrets = "));
        assert_eq!(e.key, "sms.http.secrets", "an unknown key: {e}");
        let e = err(&http("https://sms.example.com/", "").replace("secret = ", "# "));
        assert_eq!(e.key, "sms.http.secret", "{e}");
        let e = err(&http("https://sms.example.com/", "").replace("token = ", "# "));
        assert_eq!(e.key, "sms.http.token", "{e}");
        let text = http("https://sms.example.com/", "per_second = 0\n");
        let e = err(&text);
        assert_eq!(e.key, "sms.http.per_second", "{e}");
        assert_eq!(e.line, line_of(&text, "per_second"), "{e}");
        Config::from_toml(
            "t.toml",
            &http("https://sms.example.com/", "").replace(
                "secret = \"0123456789abcdef-webhooks\"",
                "secret_env = \"HOTLINE_SMS_SECRET\"",
            ),
        )
        .unwrap();
        // Either transport, not both, not neither.
        let both = format!(
            "{}\n[sms.smpp]\naddress = \"127.0.0.1:2775\"\nsystem_id = \"bank\"\npassword = \"x\"\n",
            http("https://sms.example.com/", "")
        );
        let e = err(&both);
        assert_eq!(e.key, "sms.http", "{e}");
        assert_eq!(e.line, line_of(&both, "send_url"), "{e}");
        let neither = format!("{DEMO_TOML}\n[sms]\nnumber = \"95588\"\nqueue = \"chat\"\n");
        let e = err(&neither);
        assert_eq!(e.key, "sms", "{e}");
        assert_eq!(e.line, line_of(&neither, "number = \"95588\""), "{e}");
        assert!(e.message.contains("[sms.http]"), "{e}");
    }

    #[test]
    fn chat_queues_ring_one_agent_and_calls_never_wait_in_them() {
        let e = err(&DEMO_TOML
            .replace(
                "channel = \"chat\"",
                "channel = \"chat\"\nstrategy = \"ring-all\"",
            )
            .replace("strategy = \"longest-idle\"\n\n[[users]]", "\n[[users]]"));
        assert_eq!(e.key, "queues.chat.strategy", "{e}");
        let e = err(&DEMO_TOML.replace(
            "service_numbers = [\"95588\"]",
            "service_numbers = [\"95588\"]\ndirect_queue = \"chat\"",
        ));
        assert_eq!(e.key, "centre.direct_queue", "{e}");
        assert!(e.message.contains("not a queue of calls"), "{e}");
        let e = err(&DEMO_TOML.replacen(
            "max_wait_seconds = 600\n",
            "max_wait_seconds = 600\nmax_wait_action = \"overflow\"\noverflow_queue = \"chat\"\n",
            1,
        ));
        assert_eq!(e.key, "queues.accounts.overflow_queue", "{e}");
        let e = err(&DEMO_TOML.replace("[routing.capacity]", "").replacen(
            "[[users]]",
            "[routing.capacity]\nchat = 21\n\n[[users]]",
            1,
        ));
        assert_eq!(e.key, "routing.capacity.chat", "{e}");
    }

    #[test]
    fn agent_user_must_name_a_known_extension() {
        let text = DEMO_TOML.replace("agent = \"1003\"", "agent = \"9999\"");
        let e = err(&text);
        assert!(
            e.key.starts_with("users[") && e.key.ends_with("].agent"),
            "{e}"
        );
    }

    #[test]
    fn addresses_ports_and_outbound_credentials() {
        let cfg = Config::from_toml("t.toml", DEMO_TOML).unwrap();
        assert_eq!(cfg.media.rtp_port_range(), DEFAULT_RTP_PORTS);
        assert_eq!(cfg.sip.advertise, None);
        assert_eq!(cfg.sip.nat_keepalive_seconds, 25);
        let text = DEMO_TOML.replace(
            "realm = \"hotline\"\n",
            "realm = \"hotline\"\nadvertise = \"203.0.113.10\"\n\n[[sip.interfaces]]\naddress = \"10.1.0.5\"\nadvertise = \"10.1.0.5\"\n",
        ) + "\n[media]\nrtp_ports = \"30000-30100\"\nadvertise = \"203.0.113.11\"\n";
        let cfg = Config::from_toml("t.toml", &text).unwrap();
        assert_eq!(cfg.sip.advertise, Some("203.0.113.10".parse().unwrap()));
        assert_eq!(cfg.sip.interfaces.len(), 1);
        assert_eq!(cfg.media.rtp_port_range(), (30000, 30100));
        assert_eq!(cfg.media.advertise, Some("203.0.113.11".parse().unwrap()));
        for (bad, why) in [
            ("\"30000\"", "LOW-HIGH"),
            ("\"30100-30000\"", "must not exceed"),
            ("\"80-200\"", "1024"),
            ("\"30001-30001\"", "even"),
            ("\"30000-70000\"", "not a port"),
        ] {
            let text = format!("{DEMO_TOML}\n[media]\nrtp_ports = {bad}\n");
            let e = err(&text);
            assert_eq!(e.key, "media.rtp_ports", "{e}");
            assert!(e.message.contains(why), "{bad}: {e}");
            assert!(e.line > 0, "{e}");
        }
        let half = DEMO_TOML.replace(
            "sources = [\"127.0.0.1/32\"]",
            "sources = [\"127.0.0.1/32\"]\noutbound = \"127.0.0.1:5070\"\noutbound_username = \"centre\"",
        );
        assert_eq!(err(&half).key, "trunks[0].outbound_username");
        let register_without = DEMO_TOML.replace(
            "sources = [\"127.0.0.1/32\"]",
            "sources = [\"127.0.0.1/32\"]\nregister = true",
        );
        assert_eq!(err(&register_without).key, "trunks[0].register");
        let cc = DEMO_TOML.replace(
            "sources = [\"127.0.0.1/32\"]",
            "sources = [\"127.0.0.1/32\"]\ncountry_code = \"+86\"",
        );
        assert_eq!(err(&cc).key, "trunks[0].country_code");
        let full = DEMO_TOML.replace(
            "sources = [\"127.0.0.1/32\"]",
            "sources = [\"127.0.0.1/32\"]\noutbound = \"127.0.0.1:5070\"\noutbound_username = \"centre\"\noutbound_password_env = \"PW\"\nregister = true\ncaller_id = \"+861095588\"\ncountry_code = \"86\"",
        );
        let cfg = Config::from_toml("t.toml", &full).unwrap();
        let t = cfg.outbound_trunk().unwrap();
        assert_eq!(t.outbound_username.as_deref(), Some("centre"));
        assert_eq!(t.national_prefix, "0");
        assert_eq!(t.international_prefix, "00");
        assert_eq!(t.register_expires, 600);
    }

    #[test]
    fn line_col_counts_characters_not_bytes() {
        assert_eq!(line_col("a\n中文x", 8), (2, 3));
    }
}
