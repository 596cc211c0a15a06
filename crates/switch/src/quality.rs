//! Live call quality: each connected call's legs' latest figures (MOS, jitter, loss, round
//! trip), kept in memory and pushed to supervisors' event streams as they come, without a
//! write to the event log per sample. Only an alert (a leg's MOS below [`ALERT_MOS`] for two
//! samples in a row) and its recovery are events of the log (`quality_alert`,
//! `quality_recovered`); the call's record gets each leg's figures from the samples the
//! session logs anyway (one per leg at most every [`LOGGED_SAMPLE_EVERY_MS`], as proof of
//! life, and the last ones at the end).
//!
//! Figures come from the media engine for SIP legs (RTP and RTCP, every few seconds) and
//! from outside for legs the engine does not measure: a browser's WebRTC leg reports its
//! own `getStats()` through [`crate::Centre::report_leg_quality`] with a [`LegSample`].

use std::collections::{HashMap, VecDeque};

use hotline_model::{InteractionId, Leg, Timestamp};
use serde::Serialize;

/// Below this estimated MOS a leg is in trouble (ITU-T G.107: "many users dissatisfied").
pub const ALERT_MOS: f64 = 3.5;

/// Samples in a row below (or back above) [`ALERT_MOS`] before an alert (or recovery).
pub const ALERT_SAMPLES: u32 = 2;

/// How often a connected leg's sample is written to the log (proof of life; see
/// [`crate::session`]): the samples between are live only.
pub const LOGGED_SAMPLE_EVERY_MS: u64 = 15_000;

/// Most alerts kept for a page that opens (the log has them all).
const RECENT_ALERTS: usize = 50;

/// One leg's live quality sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LegSample {
    /// Estimated MOS (1–4.5) over the last interval.
    pub mos: f64,
    /// Packet loss over the last interval, as a fraction (0–1).
    pub loss: f64,
    /// Interarrival jitter (RFC 3550), milliseconds.
    pub jitter_ms: f64,
    /// Round-trip time, milliseconds, when known.
    pub rtt_ms: Option<f64>,
    /// The figures over the whole call so far, for the record (`None`: the interval's).
    #[serde(skip)]
    pub call_mos: Option<f64>,
    #[serde(skip)]
    pub call_loss: Option<f64>,
}

impl LegSample {
    /// A sample from raw figures: loss over the interval (0–1), jitter and round trip in
    /// milliseconds; the MOS is estimated as for SIP legs (see `docs/call-quality.md`).
    /// Figures that are not finite or out of range are clamped, so any input is safe.
    pub fn from_figures(loss: f64, jitter_ms: f64, rtt_ms: Option<f64>) -> LegSample {
        let loss = if loss.is_finite() {
            loss.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let jitter_ms = if jitter_ms.is_finite() {
            jitter_ms.clamp(0.0, 1e6)
        } else {
            0.0
        };
        let rtt_ms = rtt_ms
            .filter(|r| r.is_finite() && *r >= 0.0)
            .map(|r| r.min(1e6));
        LegSample {
            mos: hotline_media::stats::estimate_mos_rtt(loss, jitter_ms, rtt_ms),
            loss,
            jitter_ms,
            rtt_ms,
            call_mos: None,
            call_loss: None,
        }
    }

    /// A sample from the media engine's figures of a leg.
    pub fn from_report(r: &hotline_media::stats::QualityReport) -> LegSample {
        let clean = |x: f64, hi: f64| if x.is_finite() { x.clamp(0.0, hi) } else { 0.0 };
        LegSample {
            mos: clean(r.recent_mos, 5.0),
            loss: clean(r.recent_loss, 1.0),
            jitter_ms: clean(r.jitter_ms, 1e6),
            rtt_ms: r.rtt_ms.filter(|x| x.is_finite() && *x >= 0.0),
            call_mos: Some(clean(r.mos, 5.0)),
            call_loss: Some(clean(r.loss_fraction, 1.0)),
        }
    }

    /// Both directions of a leg as one: the lower MOS, the higher loss and jitter, and the
    /// round trip either end knows (`far`'s first: a browser measures it, an encrypted leg
    /// has no RTCP). The whole-call figures (for the record) stay this sample's.
    pub fn worse_of(&self, far: &LegSample) -> LegSample {
        LegSample {
            mos: self.mos.min(far.mos),
            loss: self.loss.max(far.loss),
            jitter_ms: self.jitter_ms.max(far.jitter_ms),
            rtt_ms: far.rtt_ms.or(self.rtt_ms),
            call_mos: self.call_mos,
            call_loss: self.call_loss,
        }
    }

    /// The figures the record keeps: over the whole call when known.
    pub fn for_record(&self) -> (f64, f64) {
        (
            self.call_mos.unwrap_or(self.mos),
            self.call_loss.unwrap_or(self.loss),
        )
    }
}

/// A leg's latest sample as supervisors see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveLeg {
    pub interaction: InteractionId,
    pub leg: Leg,
    #[serde(flatten)]
    pub sample: LegSample,
    /// The leg is in alert (a `quality_alert` not yet followed by `quality_recovered`).
    pub alert: bool,
    pub at: Timestamp,
}

/// An alert or a recovery, as the page's list shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertEntry {
    pub interaction: InteractionId,
    pub leg: Leg,
    /// `quality_alert` or `quality_recovered`.
    pub kind: &'static str,
    #[serde(flatten)]
    pub sample: LegSample,
    pub at: Timestamp,
}

/// The live figures of every connected call, and a stream of them.
pub struct LiveQuality {
    calls: parking_lot::Mutex<HashMap<InteractionId, Vec<LiveLeg>>>,
    alerts: parking_lot::Mutex<VecDeque<AlertEntry>>,
    tx: tokio::sync::broadcast::Sender<LiveLeg>,
}

impl Default for LiveQuality {
    fn default() -> Self {
        LiveQuality {
            calls: Default::default(),
            alerts: Default::default(),
            tx: tokio::sync::broadcast::channel(1024).0,
        }
    }
}

impl LiveQuality {
    /// A leg's new sample: kept as the call's latest for the leg and sent to whoever
    /// listens (a slow listener misses samples, never blocks a call).
    pub fn publish(&self, live: LiveLeg) {
        {
            let mut calls = self.calls.lock();
            let legs = calls.entry(live.interaction).or_default();
            legs.retain(|l| l.leg != live.leg);
            legs.push(live.clone());
        }
        let _ = self.tx.send(live);
    }

    /// An alert or recovery, for the list a page shows when it opens.
    pub fn alerted(&self, entry: AlertEntry) {
        let mut a = self.alerts.lock();
        if a.len() == RECENT_ALERTS {
            a.pop_front();
        }
        a.push_back(entry);
    }

    /// The call ended (or a leg left): its live figures go.
    pub fn end(&self, interaction: InteractionId, leg: Option<Leg>) {
        let mut calls = self.calls.lock();
        match leg {
            None => {
                calls.remove(&interaction);
            }
            Some(leg) => {
                if let Some(legs) = calls.get_mut(&interaction) {
                    legs.retain(|l| l.leg != leg);
                }
            }
        }
    }

    /// Every connected call's legs' latest figures.
    pub fn snapshot(&self) -> Vec<LiveLeg> {
        let calls = self.calls.lock();
        let mut v: Vec<LiveLeg> = calls.values().flatten().cloned().collect();
        v.sort_by_key(|l| (l.interaction.to_string(), l.leg != Leg::Caller));
        v
    }

    /// The latest alerts and recoveries, oldest first.
    pub fn recent_alerts(&self) -> Vec<AlertEntry> {
        self.alerts.lock().iter().cloned().collect()
    }

    /// The samples as they come.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<LiveLeg> {
        self.tx.subscribe()
    }
}

/// Whether a leg's quality is in alert, sample by sample: [`ALERT_SAMPLES`] below
/// [`ALERT_MOS`] raise it, as many at or above it clear it (so one bad interval does not
/// alarm, and a call at the line does not flap).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertState {
    below: u32,
    above: u32,
    pub raised: bool,
}

/// What a sample changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertChange {
    Raised,
    Cleared,
}

impl AlertState {
    pub fn sample(&mut self, mos: f64) -> Option<AlertChange> {
        if mos < ALERT_MOS {
            self.below += 1;
            self.above = 0;
            if !self.raised && self.below >= ALERT_SAMPLES {
                self.raised = true;
                return Some(AlertChange::Raised);
            }
        } else {
            self.above += 1;
            self.below = 0;
            if self.raised && self.above >= ALERT_SAMPLES {
                self.raised = false;
                return Some(AlertChange::Cleared);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_in_a_row_raise_and_clear() {
        let mut a = AlertState::default();
        assert_eq!(a.sample(3.0), None);
        assert_eq!(a.sample(4.0), None, "one bad sample is not an alert");
        assert_eq!(a.sample(3.0), None);
        assert_eq!(a.sample(3.4), Some(AlertChange::Raised));
        assert_eq!(a.sample(2.0), None, "raised once");
        assert_eq!(a.sample(4.2), None);
        assert_eq!(a.sample(3.0), None);
        assert_eq!(a.sample(4.2), None);
        assert_eq!(a.sample(3.5), Some(AlertChange::Cleared));
        assert!(!a.raised);
    }

    #[test]
    fn samples_from_any_figures_are_sane() {
        let s = LegSample::from_figures(f64::NAN, f64::INFINITY, Some(-3.0));
        assert!((1.0..=4.5).contains(&s.mos));
        assert_eq!((s.loss, s.jitter_ms, s.rtt_ms), (0.0, 0.0, None));
        let bad = LegSample::from_figures(0.2, 30.0, Some(300.0));
        assert!(bad.mos < ALERT_MOS, "{bad:?}");
        let good = LegSample::from_figures(0.0, 2.0, Some(20.0));
        assert!(good.mos > 4.0, "{good:?}");
        assert_eq!(good.for_record(), (good.mos, 0.0));
    }
}
