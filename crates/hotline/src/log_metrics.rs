//! The event log's figures on `/metrics`: commit latency (a histogram) and the backlog of
//! events not yet committed (how many, and the age of the oldest).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

/// Reads the store's counters at each scrape.
pub struct LogMetrics(pub hotline_store::Store);

impl std::fmt::Debug for LogMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogMetrics")
    }
}

impl Collector for LogMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let latency = self.0.commit_latency();
        let mut m = encoder.encode_descriptor(
            "hotline_log_commit_seconds",
            "Time an event-log transaction took, BEGIN to COMMIT returned (fsync included)",
            None,
            MetricType::Histogram,
        )?;
        m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            latency.sum_seconds,
            latency.count,
            &latency.buckets,
            None,
        )?;
        let b = self.0.backlog();
        let gauges: [(&str, &str, f64); 3] = [
            (
                "hotline_log_backlog_events",
                "Events handed to the event log and not yet committed",
                b.events as f64,
            ),
            (
                "hotline_log_backlog_appends",
                "Appends handed to the event log and not yet committed",
                b.appends as f64,
            ),
            (
                "hotline_log_backlog_age_seconds",
                "Age of the oldest event not yet committed (0 when none)",
                b.oldest.as_secs_f64(),
            ),
        ];
        for (name, help, value) in gauges {
            let g = ConstGauge::new(value);
            let e = encoder.encode_descriptor(name, help, None, g.metric_type())?;
            g.encode(e)?;
        }
        Ok(())
    }
}
