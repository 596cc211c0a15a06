//! Rate-limited warnings from the SIP stack: a flood of malformed messages must not become a
//! flood of log lines. The stack warns once per bad message; here at most one such warning
//! per source address passes per interval, and the ones held back are counted and reported
//! in one line per source when the interval ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The sans-IO core: which warnings pass, and how many were held back per source.
#[derive(Debug)]
pub struct Limiter {
    interval: Duration,
    /// source → (when a warning last passed, warnings held back since).
    seen: HashMap<String, (Instant, u64)>,
}

impl Limiter {
    pub fn new(interval: Duration) -> Self {
        Limiter {
            interval,
            seen: HashMap::new(),
        }
    }

    /// Whether a warning about `source` may be logged now.
    pub fn admit(&mut self, source: &str, now: Instant) -> bool {
        // Bounded even when every message comes from another (spoofed) address: beyond
        // 10,000 sources the rest share one entry.
        let source = if self.seen.len() >= 10_000 && !self.seen.contains_key(source) {
            "(many sources)"
        } else {
            source
        };
        match self.seen.get_mut(source) {
            Some((at, held)) if now.saturating_duration_since(*at) < self.interval => {
                *held += 1;
                false
            }
            Some((at, _)) => {
                *at = now;
                true
            }
            None => {
                self.seen.insert(source.to_string(), (now, 0));
                true
            }
        }
    }

    /// The sources whose interval has ended with warnings held back, and how many; forgets
    /// sources that have been quiet for an interval.
    pub fn drain(&mut self, now: Instant) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let interval = self.interval;
        self.seen.retain(|source, (at, held)| {
            if now.saturating_duration_since(*at) < interval {
                return true;
            }
            if *held > 0 {
                out.push((source.clone(), *held));
                // Start a new interval in which this source's next warning is held back too.
                *held = 0;
                *at = now;
                return true;
            }
            false
        });
        self.seen.shrink_to_fit();
        out.sort();
        out
    }
}

/// The layer: holds back the SIP stack's repeated warnings.
#[derive(Clone)]
pub struct WarnLimiter {
    pub limiter: Arc<Mutex<Limiter>>,
}

impl WarnLimiter {
    pub fn new(interval: Duration) -> Self {
        WarnLimiter {
            limiter: Arc::new(Mutex::new(Limiter::new(interval))),
        }
    }
}

#[derive(Default)]
struct SourceField(Option<String>);

impl Visit for SourceField {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "addr" | "src" | "source" | "remote_addr") {
            self.0 = Some(format!("{value:?}"));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if matches!(field.name(), "addr" | "src" | "source" | "remote_addr") {
            self.0 = Some(value.to_string());
        }
    }
}

impl<S: Subscriber> Layer<S> for WarnLimiter {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if *meta.level() != Level::WARN || !meta.target().starts_with("rsipstack") {
            return true;
        }
        let mut source = SourceField::default();
        event.record(&mut source);
        // Per source and per kind of warning (its call site).
        let key = format!(
            "{} {}:{}",
            source.0.as_deref().unwrap_or("-"),
            meta.file().unwrap_or(""),
            meta.line().unwrap_or(0)
        );
        self.limiter.lock().admit(&key, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_source_per_interval_and_the_rest_counted() {
        let mut l = Limiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(l.admit("192.0.2.1", t0));
        for _ in 0..533 {
            assert!(!l.admit("192.0.2.1", t0 + Duration::from_secs(1)));
        }
        assert!(l.admit("192.0.2.2", t0), "another source is not held back");
        assert!(l.drain(t0 + Duration::from_secs(5)).is_empty());
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(l.drain(t1), vec![("192.0.2.1".to_string(), 533)]);
        // The quiet source is forgotten; the noisy one starts a new interval.
        assert!(!l.admit("192.0.2.1", t1 + Duration::from_secs(1)));
        assert!(l.admit("192.0.2.2", t1 + Duration::from_secs(1)));
        assert!(l.admit("192.0.2.1", t1 + Duration::from_secs(11)));
    }

    #[test]
    fn bounded_under_many_sources() {
        let mut l = Limiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let passed = (0..50_000)
            .filter(|i| l.admit(&format!("10.0.{}.{}", i / 256, i % 256), t0))
            .count();
        assert!(l.seen.len() <= 10_001);
        assert!(passed <= 10_001, "{passed}");
    }
}
