//! Login throttling, fail2ban style: per user name and per source address, failed logins
//! beyond a free allowance start a back-off that doubles with each further failure, up to a
//! maximum; a success ends it. Sans-IO: `now` comes in, decisions go out.
//!
//! A source that logged in successfully as a user is exempt from that user's back-off (not
//! from its own): someone guessing a user's password from elsewhere cannot keep the user out
//! of the desk they already use. Everyone else waits at most `backoff_max` after the last
//! failure.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Failures on one user name before the back-off starts (0: no per-user limit).
    pub account_failures: u32,
    /// Failures from one source before the back-off starts (0: no per-source limit).
    pub source_failures: u32,
    /// The first back-off; each further failure doubles it.
    pub backoff: Duration,
    /// The longest back-off. Failures are forgotten after twice this quiet time.
    pub backoff_max: Duration,
}

impl ThrottleConfig {
    pub fn from_config(cfg: &hotline_config::Config) -> Self {
        let h = &cfg.http;
        ThrottleConfig {
            account_failures: h.login_failures,
            source_failures: h.login_source_failures,
            backoff: Duration::from_secs(h.login_backoff_seconds.max(1)),
            backoff_max: Duration::from_secs(
                h.login_backoff_max_seconds
                    .max(h.login_backoff_seconds.max(1)),
            ),
        }
    }
}

#[derive(Debug, Default)]
struct Entry {
    failures: u32,
    blocked_until: Option<Instant>,
    last: Option<Instant>,
    /// Sources that logged in as this user (at most [`GOOD_SOURCES`]).
    good: Vec<(IpAddr, Instant)>,
}

const GOOD_SOURCES: usize = 8;
const GOOD_FOR: Duration = Duration::from_secs(24 * 3600);
/// Above this many entries in a table, forgotten ones are swept (at most once a second).
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug)]
pub struct Throttle {
    cfg: ThrottleConfig,
    accounts: HashMap<String, Entry>,
    sources: HashMap<IpAddr, Entry>,
    last_sweep: Option<Instant>,
}

impl Throttle {
    pub fn new(cfg: ThrottleConfig) -> Self {
        Throttle {
            cfg,
            accounts: HashMap::new(),
            sources: HashMap::new(),
            last_sweep: None,
        }
    }

    /// `Err(wait)` if a login for `user` from `source` must be refused now (without checking
    /// the password), and for how long.
    pub fn check(&self, user: &str, source: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let left = |e: Option<&Entry>| {
            e.and_then(|e| e.blocked_until)
                .map_or(Duration::ZERO, |u| u.saturating_duration_since(now))
        };
        let mut wait = Duration::ZERO;
        if let Some(ip) = source {
            wait = wait.max(left(self.sources.get(&ip)));
        }
        let account = self.accounts.get(user);
        let proven = account.is_some_and(|e| {
            source.is_some_and(|ip| {
                e.good
                    .iter()
                    .any(|(g, at)| *g == ip && now.saturating_duration_since(*at) < GOOD_FOR)
            })
        });
        if !proven {
            wait = wait.max(left(account));
        }
        if wait.is_zero() {
            Ok(())
        } else {
            // Whole seconds for Retry-After, never zero.
            Err(Duration::from_secs(
                wait.as_secs_f64().ceil().max(1.0) as u64
            ))
        }
    }

    /// Records a failed login; returns true if it started or lengthened a back-off.
    pub fn failed(&mut self, user: &str, source: Option<IpAddr>, now: Instant) -> bool {
        self.sweep(now);
        let mut blocked = false;
        if self.cfg.account_failures > 0 {
            let e = self.accounts.entry(user.to_string()).or_default();
            blocked |= bump(e, self.cfg.account_failures, &self.cfg, now);
        }
        if let Some(ip) = source
            && self.cfg.source_failures > 0
        {
            let e = self.sources.entry(ip).or_default();
            blocked |= bump(e, self.cfg.source_failures, &self.cfg, now);
        }
        blocked
    }

    /// Records a successful login: the user's and the source's back-off end, and the source
    /// is exempt from the user's back-off from now on.
    pub fn succeeded(&mut self, user: &str, source: Option<IpAddr>, now: Instant) {
        self.sweep(now);
        if let Some(ip) = source {
            self.sources.remove(&ip);
        }
        let e = self.accounts.entry(user.to_string()).or_default();
        e.failures = 0;
        e.blocked_until = None;
        e.last = Some(now);
        if let Some(ip) = source {
            e.good.retain(|(g, _)| *g != ip);
            e.good.push((ip, now));
            if e.good.len() > GOOD_SOURCES {
                e.good.remove(0);
            }
        }
    }

    /// Entries kept: (user names, sources).
    pub fn sizes(&self) -> (usize, usize) {
        (self.accounts.len(), self.sources.len())
    }

    fn sweep(&mut self, now: Instant) {
        if self.accounts.len() <= SWEEP_ABOVE && self.sources.len() <= SWEEP_ABOVE {
            return;
        }
        if self
            .last_sweep
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        self.last_sweep = Some(now);
        let forget = self.cfg.backoff_max * 2;
        let keep = |e: &mut Entry| {
            e.good
                .retain(|(_, at)| now.saturating_duration_since(*at) < GOOD_FOR);
            !e.good.is_empty()
                || e.last
                    .is_some_and(|t| now.saturating_duration_since(t) < forget)
        };
        self.accounts.retain(|_, e| keep(e));
        self.sources.retain(|_, e| keep(e));
        self.accounts.shrink_to_fit();
        self.sources.shrink_to_fit();
    }
}

fn bump(e: &mut Entry, free: u32, cfg: &ThrottleConfig, now: Instant) -> bool {
    // A long quiet time forgets earlier failures.
    if e.last
        .is_some_and(|t| now.saturating_duration_since(t) >= cfg.backoff_max * 2)
    {
        e.failures = 0;
    }
    e.last = Some(now);
    e.failures = e.failures.saturating_add(1);
    if e.failures < free {
        return false;
    }
    let doublings = (e.failures - free).min(20);
    let wait = cfg
        .backoff
        .saturating_mul(1u32 << doublings)
        .min(cfg.backoff_max);
    e.blocked_until = Some(now + wait);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> Throttle {
        Throttle::new(ThrottleConfig {
            account_failures: 5,
            source_failures: 20,
            backoff: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
        })
    }

    #[test]
    fn back_off_starts_after_the_allowance_and_doubles() {
        let mut t = throttle();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..4 {
            assert!(t.check("agent1010", Some(ip), t0).is_ok());
            assert!(!t.failed("agent1010", Some(ip), t0));
        }
        assert!(t.failed("agent1010", Some(ip), t0));
        assert_eq!(
            t.check("agent1010", Some(ip), t0),
            Err(Duration::from_secs(1))
        );
        // Another user from the same source is not held up (the source has 15 to go).
        assert!(t.check("agent1009", Some(ip), t0).is_ok());
        let t1 = t0 + Duration::from_secs(1);
        assert!(t.check("agent1010", Some(ip), t1).is_ok());
        t.failed("agent1010", Some(ip), t1);
        assert_eq!(
            t.check("agent1010", Some(ip), t1),
            Err(Duration::from_secs(2))
        );
        // From another source too: the limit is per user.
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        assert!(t.check("agent1010", Some(other), t1).is_err());
    }

    #[test]
    fn the_back_off_is_capped_and_a_success_ends_it() {
        let mut t = throttle();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut now = Instant::now();
        for _ in 0..40 {
            if let Err(w) = t.check("u", Some(ip), now) {
                now += w;
            }
            t.failed("u", Some(ip), now);
        }
        let w = t.check("u", Some(ip), now).unwrap_err();
        assert!(w <= Duration::from_secs(300), "{w:?}");
        now += w;
        assert!(t.check("u", Some(ip), now).is_ok(), "the user gets back in");
        t.succeeded("u", Some(ip), now);
        t.failed("u", None, now);
        assert!(t.check("u", Some(ip), now).is_ok());
    }

    #[test]
    fn a_proven_source_is_exempt_from_the_users_back_off() {
        let mut t = throttle();
        let desk: IpAddr = "192.0.2.10".parse().unwrap();
        let now = Instant::now();
        t.succeeded("agent1001", Some(desk), now);
        for i in 0..10u8 {
            t.failed("agent1001", Some(IpAddr::from([203, 0, 113, i])), now);
        }
        assert!(
            t.check("agent1001", Some(IpAddr::from([203, 0, 113, 99])), now)
                .is_err()
        );
        assert!(t.check("agent1001", Some(desk), now).is_ok());
    }

    #[test]
    fn per_source_limit_across_user_names() {
        let mut t = throttle();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let now = Instant::now();
        for i in 0..20 {
            t.failed(&format!("user{i}"), Some(ip), now);
        }
        assert!(t.check("someone-else", Some(ip), now).is_err());
        assert!(
            t.check("someone-else", Some("192.0.2.2".parse().unwrap()), now)
                .is_ok()
        );
    }
}
