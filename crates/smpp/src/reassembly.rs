//! Joining the segments of incoming long messages.
//!
//! Segments are keyed by (source address, reference, total). They may arrive in any order
//! and more than once (the first copy wins). A message still incomplete `timeout` after its
//! first segment arrived is dropped; so is the oldest one when too many are pending. The
//! joined user data is returned as octets, so a character (or an escape pair, or a surrogate
//! pair) that another sender split across segments still decodes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::text::Concat;

/// What identifies one long message in the buffer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReassemblyKey {
    /// The sender's address.
    pub source: String,
    /// The concatenation reference.
    pub reference: u16,
    /// The number of segments.
    pub total: u8,
}

#[derive(Debug)]
struct Partial {
    parts: Vec<Option<Vec<u8>>>,
    received: usize,
    first_seen: Instant,
}

/// Buffer of incomplete long messages, driven by the caller's clock.
#[derive(Debug)]
pub struct Reassembler {
    pending: HashMap<ReassemblyKey, Partial>,
    timeout: Duration,
    max_pending: usize,
}

impl Reassembler {
    /// A buffer dropping incomplete messages after `timeout`, holding at most `max_pending`.
    pub fn new(timeout: Duration, max_pending: usize) -> Reassembler {
        Reassembler {
            pending: HashMap::new(),
            timeout,
            max_pending: max_pending.max(1),
        }
    }

    /// Number of incomplete messages held.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Adds one segment's user data. Returns the whole message's user data, in segment
    /// order, when this segment completes it. A segment without a usable concatenation
    /// element (total 1, seq out of range) is returned as is. When the buffer is full, the
    /// oldest incomplete message is dropped to make room.
    pub fn push(
        &mut self,
        now: Instant,
        source: &str,
        concat: Concat,
        payload: &[u8],
    ) -> Option<Vec<u8>> {
        if concat.total <= 1 || concat.seq == 0 || concat.seq > concat.total {
            return Some(payload.to_vec());
        }
        let key = ReassemblyKey {
            source: source.to_owned(),
            reference: concat.reference,
            total: concat.total,
        };
        if !self.pending.contains_key(&key) && self.pending.len() >= self.max_pending {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.first_seen)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.pending.remove(&k);
            }
        }
        let partial = self.pending.entry(key.clone()).or_insert_with(|| Partial {
            parts: vec![None; usize::from(concat.total)],
            received: 0,
            first_seen: now,
        });
        let slot = partial.parts.get_mut(usize::from(concat.seq) - 1)?;
        if slot.is_none() {
            *slot = Some(payload.to_vec());
            partial.received += 1;
        }
        if partial.received < partial.parts.len() {
            return None;
        }
        let done = self.pending.remove(&key)?;
        Some(done.parts.into_iter().flatten().flatten().collect())
    }

    /// When the oldest incomplete message times out.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending
            .values()
            .map(|p| p.first_seen + self.timeout)
            .min()
    }

    /// Drops messages whose time is up and returns their keys.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<ReassemblyKey> {
        let timeout = self.timeout;
        let expired: Vec<ReassemblyKey> = self
            .pending
            .iter()
            .filter(|(_, p)| now >= p.first_seen + timeout)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &expired {
            self.pending.remove(k);
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(reference: u16, total: u8, seq: u8) -> Concat {
        Concat {
            reference,
            total,
            seq,
        }
    }

    #[test]
    fn out_of_order_and_duplicate_segments_join_in_order() {
        let now = Instant::now();
        let mut r = Reassembler::new(Duration::from_secs(60), 16);
        assert_eq!(r.push(now, "123", c(5, 3, 3), b"C"), None);
        assert_eq!(r.push(now, "123", c(5, 3, 1), b"A"), None);
        assert_eq!(r.push(now, "123", c(5, 3, 1), b"X"), None);
        // Same reference from another sender is another message.
        assert_eq!(r.push(now, "999", c(5, 3, 2), b"Z"), None);
        assert_eq!(r.push(now, "123", c(5, 3, 2), b"B"), Some(b"ABC".to_vec()));
        assert_eq!(r.pending(), 1);
    }

    #[test]
    fn single_and_invalid_elements_pass_through() {
        let now = Instant::now();
        let mut r = Reassembler::new(Duration::from_secs(60), 16);
        assert_eq!(r.push(now, "1", c(1, 1, 1), b"x"), Some(b"x".to_vec()));
        assert_eq!(r.push(now, "1", c(1, 2, 3), b"y"), Some(b"y".to_vec()));
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn incomplete_messages_time_out() {
        let t0 = Instant::now();
        let mut r = Reassembler::new(Duration::from_secs(60), 16);
        r.push(t0, "1", c(1, 2, 1), b"a");
        r.push(t0 + Duration::from_secs(10), "2", c(1, 2, 1), b"b");
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(60)));
        assert!(r.handle_timeout(t0 + Duration::from_secs(59)).is_empty());
        let gone = r.handle_timeout(t0 + Duration::from_secs(60));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].source, "1");
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(70)));
        // The late second half of the dropped message starts a new, incomplete one.
        assert_eq!(
            r.push(t0 + Duration::from_secs(61), "1", c(1, 2, 2), b"z"),
            None
        );
    }

    #[test]
    fn the_oldest_is_evicted_when_full() {
        let t0 = Instant::now();
        let mut r = Reassembler::new(Duration::from_secs(60), 2);
        r.push(t0, "1", c(1, 2, 1), b"a");
        r.push(t0 + Duration::from_secs(1), "2", c(1, 2, 1), b"b");
        r.push(t0 + Duration::from_secs(2), "3", c(1, 2, 1), b"c");
        assert_eq!(r.pending(), 2);
        assert_eq!(
            r.push(t0 + Duration::from_secs(3), "1", c(1, 2, 2), b"x"),
            None
        );
        assert_eq!(
            r.push(t0 + Duration::from_secs(3), "3", c(1, 2, 2), b"d"),
            Some(b"cd".to_vec())
        );
    }
}
