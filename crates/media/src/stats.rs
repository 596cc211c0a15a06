//! Receive-side stream tracking and quality figures: sequence tracking with
//! duplicate detection (RFC 3550 A.1 style extended sequence numbers), loss,
//! interarrival jitter (RFC 3550 §6.4.1 / A.8), and an estimated MOS from a
//! simplified ITU-T G.107 E-model.

use crate::rtp::{RtpHeader, seq_diff};

/// What the tracker made of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// A new packet in order (possibly after a gap).
    InOrder,
    /// A packet older than the newest seen, not seen before.
    Reordered,
    /// Already received.
    Duplicate,
    /// The far end switched SSRC (or restarted its numbering): a new stream starts here.
    NewStream,
    /// Too old or too far off to use (dropped).
    Late,
}

/// Per-leg quality figures for the interaction record.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QualityReport {
    pub packets_received: u64,
    pub packets_expected: u64,
    pub packets_lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub ssrc_changes: u32,
    /// Packets dropped as too old or out of the sequence window.
    pub late: u64,
    /// Interarrival jitter in milliseconds.
    pub jitter_ms: f64,
    /// Loss as a fraction of expected packets (0–1).
    pub loss_fraction: f64,
    /// Estimated mean opinion score, 1.0–4.5.
    pub mos: f64,
    pub packets_sent: u64,
    /// Datagrams the call could not send (socket errors), call-wide.
    pub send_errors: u64,
    /// Loss over the last quality interval only (0–1): what a live view shows, so that a
    /// call recovers on screen when the loss stops. Equal to `loss_fraction` until the
    /// first interval ends.
    pub recent_loss: f64,
    /// The MOS estimated from `recent_loss`, the jitter and the round trip.
    pub recent_mos: f64,
    /// Round-trip time from the far end's RTCP reports (RFC 3550 §6.4.1), when it sends them.
    pub rtt_ms: Option<f64>,
    /// What the far end reports (RTCP) of the stream hotline sends it: fraction lost in its
    /// last report interval, and its interarrival jitter.
    pub remote_loss: Option<f64>,
    pub remote_jitter_ms: Option<f64>,
}

/// Loss over successive intervals (RFC 3550 A.3: expected and received since the last
/// step).
#[derive(Debug, Clone, Copy, Default)]
pub struct IntervalLoss {
    expected_prior: u64,
    received_prior: u64,
}

impl IntervalLoss {
    /// Loss since the previous step as a fraction (0 when nothing was expected or
    /// duplicates made up for it).
    pub fn step(&mut self, expected: u64, received: u64) -> f64 {
        let e = expected.saturating_sub(self.expected_prior);
        let r = received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = received;
        if e == 0 || r >= e {
            0.0
        } else {
            (e - r) as f64 / e as f64
        }
    }
}

/// What an RTCP report block says of a received stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxFigures {
    pub ssrc: u32,
    pub expected: u64,
    pub received: u64,
    /// Extended highest sequence number received (cycles in the high 16 bits).
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
}

/// Tracks one far-end stream.
#[derive(Debug, Clone, Default)]
pub struct RxTracker {
    ssrc: Option<u32>,
    max_seq: u16,
    cycles: u64,
    base_ext: u64,
    /// Bit i set = packet (max_seq - i) received.
    window: u64,
    received_this: u64,
    // Totals over previous SSRCs.
    expected_prev: u64,
    received_prev: u64,
    duplicates: u64,
    reordered: u64,
    ssrc_changes: u32,
    late: u64,
    bad_seq: Option<u16>,
    // Jitter (RFC 3550 A.8), in timestamp units scaled by 16.
    jitter_q4: u32,
    last_transit: Option<i64>,
    /// Packets sent on the leg (filled in by the sender side).
    pub packets_sent: u64,
}

impl RxTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a packet's arrival. `arrival_ts` is the arrival time in
    /// timestamp units (8 kHz) on a monotonic clock.
    pub fn on_packet(&mut self, h: &RtpHeader, arrival_ts: i64) -> Arrival {
        let Some(ssrc) = self.ssrc else {
            self.start(h);
            self.update_jitter(h, arrival_ts);
            return Arrival::InOrder;
        };
        if ssrc != h.ssrc {
            self.ssrc_changes += 1;
            self.retire();
            self.start(h);
            self.last_transit = None;
            self.update_jitter(h, arrival_ts);
            return Arrival::NewStream;
        }
        let d = seq_diff(self.max_seq, h.sequence);
        if !(-3000..3000).contains(&d) {
            // A jump this large is either a stray packet or a sender that
            // restarted under the same SSRC: accept it as a new stream once
            // two packets in sequence confirm it (RFC 3550 A.1).
            if self.bad_seq == Some(h.sequence) {
                self.bad_seq = None;
                self.retire();
                self.start(h);
                self.last_transit = None;
                return Arrival::NewStream;
            }
            self.bad_seq = Some(h.sequence.wrapping_add(1));
            self.late += 1;
            return Arrival::Late;
        }
        if d > 0 {
            if h.sequence < self.max_seq {
                self.cycles += 1 << 16;
            }
            self.max_seq = h.sequence;
            self.window = if d >= 64 { 1 } else { (self.window << d) | 1 };
            self.received_this += 1;
            self.update_jitter(h, arrival_ts);
            Arrival::InOrder
        } else {
            let back = (-i32::from(d)) as u32;
            if back == 0 || (back < 64 && self.window & (1 << back) != 0) {
                self.duplicates += 1;
                return Arrival::Duplicate;
            }
            if back >= 64 {
                // Too old to tell whether it is a duplicate: drop it as late.
                self.late += 1;
                return Arrival::Late;
            }
            self.window |= 1 << back;
            self.received_this += 1;
            self.reordered += 1;
            Arrival::Reordered
        }
    }

    fn start(&mut self, h: &RtpHeader) {
        self.ssrc = Some(h.ssrc);
        self.max_seq = h.sequence;
        self.cycles = 0;
        self.base_ext = u64::from(h.sequence);
        self.window = 1;
        self.received_this = 1;
    }

    fn retire(&mut self) {
        self.expected_prev += self.expected_this();
        self.received_prev += self.received_this;
        self.received_this = 0;
    }

    fn expected_this(&self) -> u64 {
        if self.received_this == 0 {
            return 0;
        }
        let ext = self.cycles + u64::from(self.max_seq);
        ext.saturating_sub(self.base_ext) + 1
    }

    fn update_jitter(&mut self, h: &RtpHeader, arrival_ts: i64) {
        let transit = arrival_ts - i64::from(h.timestamp);
        if let Some(prev) = self.last_transit {
            // Wrap-safe difference of transit times via 32-bit arithmetic.
            let d = (transit.wrapping_sub(prev) as i32).unsigned_abs();
            let d = d.min(1 << 20);
            // J += (|D| - J) / 16, kept scaled by 16.
            self.jitter_q4 = self
                .jitter_q4
                .wrapping_add(d)
                .wrapping_sub((self.jitter_q4 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    /// The current SSRC of the far end.
    pub fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    /// Quality figures so far.
    pub fn report(&self) -> QualityReport {
        let expected = self.expected_prev + self.expected_this();
        let received = self.received_prev + self.received_this;
        let lost = expected.saturating_sub(received);
        let loss_fraction = if expected > 0 {
            lost as f64 / expected as f64
        } else {
            0.0
        };
        let jitter_ms = f64::from(self.jitter_q4) / 16.0 / 8.0;
        QualityReport {
            packets_received: received,
            packets_expected: expected,
            packets_lost: lost,
            duplicates: self.duplicates,
            reordered: self.reordered,
            ssrc_changes: self.ssrc_changes,
            late: self.late,
            jitter_ms,
            loss_fraction,
            mos: estimate_mos(loss_fraction, jitter_ms),
            packets_sent: self.packets_sent,
            send_errors: 0,
            recent_loss: loss_fraction,
            recent_mos: estimate_mos(loss_fraction, jitter_ms),
            rtt_ms: None,
            remote_loss: None,
            remote_jitter_ms: None,
        }
    }

    /// The figures an RTCP report block about the current stream needs; `None` before the
    /// first packet.
    pub fn rx_figures(&self) -> Option<RxFigures> {
        let ssrc = self.ssrc?;
        Some(RxFigures {
            ssrc,
            expected: self.expected_prev + self.expected_this(),
            received: self.received_prev + self.received_this,
            highest_seq: (self.cycles + u64::from(self.max_seq)) as u32,
            jitter: self.jitter_q4 >> 4,
        })
    }
}

/// The MOS of [`estimate_mos`] with a measured round trip: half of it replaces the 40 ms
/// of network delay assumed without one (20 ms of it kept for the phones themselves).
pub fn estimate_mos_rtt(loss_fraction: f64, jitter_ms: f64, rtt_ms: Option<f64>) -> f64 {
    match rtt_ms {
        Some(rtt) if rtt.is_finite() && rtt >= 0.0 => mos_for_delay(
            loss_fraction,
            20.0 + 2.0 * jitter_ms.max(0.0) + 20.0 + rtt / 2.0,
        ),
        _ => estimate_mos(loss_fraction, jitter_ms),
    }
}

/// Simplified E-model (ITU-T G.107) for G.711 with packet-loss concealment.
///
/// R = 93.2 − Id − Ie,eff where the one-way delay is taken as 20 ms of
/// packetisation + a jitter buffer of twice the jitter + 40 ms of network
/// and device delay; Id = 0.024·d + 0.11·(d − 177.3)·[d > 177.3]; and
/// Ie,eff = 95·Ppl / (Ppl + 25.1) (G.711 with PLC, random loss, Ie = 0).
/// MOS = 1 + 0.035R + 7·10⁻⁶·R(R − 60)(100 − R), clamped to 1–4.5.
pub fn estimate_mos(loss_fraction: f64, jitter_ms: f64) -> f64 {
    mos_for_delay(loss_fraction, 20.0 + 2.0 * jitter_ms.max(0.0) + 40.0)
}

fn mos_for_delay(loss_fraction: f64, d: f64) -> f64 {
    let d = if d.is_finite() { d } else { 1e6 };
    let mut id = 0.024 * d;
    if d > 177.3 {
        id += 0.11 * (d - 177.3);
    }
    let loss = if loss_fraction.is_finite() {
        loss_fraction.clamp(0.0, 1.0)
    } else {
        1.0
    };
    let ppl = loss * 100.0;
    let ie = 95.0 * ppl / (ppl + 25.1);
    let r = (93.2 - id - ie).clamp(0.0, 100.0);
    let mos = 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r);
    mos.clamp(1.0, 4.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(seq: u16, ts: u32, ssrc: u32) -> RtpHeader {
        RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: ts,
            ssrc,
        }
    }

    #[test]
    fn loss_dups_reorder_wrap() {
        let mut t = RxTracker::new();
        let mut seqs: Vec<u16> = (65530..=65535).chain(0..10).collect();
        seqs.retain(|s| *s != 3); // one lost
        seqs.swap(2, 3); // one reordered
        for (i, s) in seqs.iter().enumerate() {
            t.on_packet(&h(*s, i as u32 * 160, 7), i as i64 * 160);
        }
        assert_eq!(t.on_packet(&h(5, 0, 7), 0), Arrival::Duplicate);
        let r = t.report();
        assert_eq!(r.packets_expected, 16);
        assert_eq!(r.packets_received, 15);
        assert_eq!(r.packets_lost, 1);
        assert_eq!(r.duplicates, 1);
        assert_eq!(r.reordered, 1);
    }

    #[test]
    fn ssrc_change_keeps_totals() {
        let mut t = RxTracker::new();
        for s in 0..10u16 {
            t.on_packet(&h(s, u32::from(s) * 160, 1), i64::from(s) * 160);
        }
        assert_eq!(t.on_packet(&h(5000, 99, 2), 2000), Arrival::NewStream);
        for s in 5001..5010u16 {
            t.on_packet(&h(s, 0, 2), 0);
        }
        let r = t.report();
        assert_eq!(r.packets_expected, 20);
        assert_eq!(r.packets_lost, 0);
        assert_eq!(r.ssrc_changes, 1);
    }

    #[test]
    fn restart_under_same_ssrc_needs_two_packets() {
        let mut t = RxTracker::new();
        for s in 100..110u16 {
            t.on_packet(&h(s, 0, 1), 0);
        }
        assert_eq!(t.on_packet(&h(40000, 0, 1), 0), Arrival::Late);
        assert_eq!(t.on_packet(&h(110, 0, 1), 0), Arrival::InOrder);
        assert_eq!(t.on_packet(&h(20000, 0, 1), 0), Arrival::Late);
        assert_eq!(t.on_packet(&h(20001, 0, 1), 0), Arrival::NewStream);
        assert_eq!(t.on_packet(&h(20002, 0, 1), 0), Arrival::InOrder);
    }

    #[test]
    fn jitter_follows_rfc3550() {
        let mut t = RxTracker::new();
        // Perfectly paced: zero jitter.
        for s in 0..100u16 {
            t.on_packet(&h(s, u32::from(s) * 160, 1), i64::from(s) * 160);
        }
        assert!(t.report().jitter_ms < 0.01);
        // Alternating ±80 samples (10 ms) of arrival offset: jitter tends to ~20 ms.
        for s in 100..600u16 {
            let off = if s % 2 == 0 { 80 } else { -80 };
            t.on_packet(&h(s, u32::from(s) * 160, 1), i64::from(s) * 160 + off);
        }
        let j = t.report().jitter_ms;
        assert!((15.0..25.0).contains(&j), "jitter {j}");
    }

    #[test]
    fn mos_range() {
        let good = estimate_mos(0.0, 0.0);
        assert!(good > 4.3 && good <= 4.5, "{good}");
        let bad = estimate_mos(0.10, 40.0);
        assert!(bad < 3.5, "{bad}");
        assert!(estimate_mos(1.0, 500.0) >= 1.0);
        // 20 % loss is well below the alert line; a long round trip costs too.
        assert!(estimate_mos(0.2, 5.0) < 3.0);
        let near = estimate_mos_rtt(0.0, 0.0, Some(10.0));
        let far = estimate_mos_rtt(0.0, 0.0, Some(600.0));
        assert!(near > 4.3 && far < 3.6, "{near} {far}");
        assert_eq!(
            estimate_mos_rtt(0.0, 0.0, Some(f64::NAN)),
            estimate_mos(0.0, 0.0)
        );
    }

    #[test]
    fn interval_loss_and_rx_figures() {
        let mut t = RxTracker::new();
        assert_eq!(t.rx_figures(), None);
        let mut iv = IntervalLoss::default();
        // 0..50 with every 5th lost, then 50..100 all received.
        for s in (0..50u16).filter(|s| s % 5 != 4) {
            t.on_packet(&h(s, 0, 9), 0);
        }
        let f = t.rx_figures().unwrap();
        assert_eq!(
            (f.ssrc, f.expected, f.received, f.highest_seq),
            (9, 49, 40, 48)
        );
        let first = iv.step(f.expected, f.received);
        assert!((first - 9.0 / 49.0).abs() < 1e-9, "{first}");
        for s in 50..100u16 {
            t.on_packet(&h(s, 0, 9), 0);
        }
        let f = t.rx_figures().unwrap();
        // Only the 49th of these 51 expected was lost.
        let second = iv.step(f.expected, f.received);
        assert!((second - 1.0 / 51.0).abs() < 1e-9, "{second}");
        assert_eq!(iv.step(f.expected, f.received), 0.0);
    }
}
