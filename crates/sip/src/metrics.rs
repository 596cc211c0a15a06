//! SIP counters for Prometheus: requests and responses by method and status, registrations,
//! rejections by reason.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabel {
    pub method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResponseLabels {
    pub method: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

/// The SIP edge's metrics; register them once into the process registry.
#[derive(Default, Clone)]
pub struct SipMetrics {
    pub requests: Family<MethodLabel, Counter>,
    pub responses: Family<ResponseLabels, Counter>,
    pub rejections: Family<ReasonLabel, Counter>,
    pub registrations: Family<OutcomeLabel, Counter>,
    pub bindings: Gauge,
    pub tcp_connections: Gauge,
    /// TLS certificate reloads, by outcome (`ok`, `failed`).
    pub tls_reloads: Family<OutcomeLabel, Counter>,
}

impl SipMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "hotline_sip_requests",
            "SIP requests received, by method",
            self.requests.clone(),
        );
        registry.register(
            "hotline_sip_responses",
            "SIP responses sent, by request method and status",
            self.responses.clone(),
        );
        registry.register(
            "hotline_sip_rejections",
            "Messages refused by the ingress guard, by reason",
            self.rejections.clone(),
        );
        registry.register(
            "hotline_sip_registrations",
            "REGISTER outcomes",
            self.registrations.clone(),
        );
        registry.register(
            "hotline_sip_bindings",
            "Registered contacts currently live",
            self.bindings.clone(),
        );
        registry.register(
            "hotline_sip_tcp_connections",
            "Open SIP TCP connections",
            self.tcp_connections.clone(),
        );
        registry.register(
            "hotline_sip_tls_reloads",
            "TLS certificate reloads, by outcome",
            self.tls_reloads.clone(),
        );
    }

    pub fn request(&self, method: &str) {
        self.requests
            .get_or_create(&MethodLabel {
                method: method_label(method),
            })
            .inc();
    }

    pub fn response(&self, method: &str, status: u16) {
        self.responses
            .get_or_create(&ResponseLabels {
                method: method_label(method),
                status,
            })
            .inc();
    }

    pub fn rejection(&self, reason: &'static str) {
        self.rejections.get_or_create(&ReasonLabel { reason }).inc();
    }
}

/// Methods are labels only when hotline knows them: a sender inventing method names must not
/// be able to grow the metrics without bound. Static labels cost no allocation per message.
fn method_label(method: &str) -> &'static str {
    crate::guard::ALLOWED
        .iter()
        .chain(crate::guard::KNOWN_NOT_ALLOWED)
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

/// The SIP transactions the stack holds, read at each scrape: those running, and those
/// finished but kept for their RFC 3261 timers (to answer retransmissions).
pub struct TransactionGauges(pub(crate) rsipstack::transaction::endpoint::EndpointInnerRef);

impl std::fmt::Debug for TransactionGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TransactionGauges")
    }
}

impl prometheus_client::collector::Collector for TransactionGauges {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::gauge::ConstGauge;
        let s = self.0.get_stats();
        let gauges: [(&str, &str, usize); 3] = [
            (
                "hotline_sip_transactions_running",
                "SIP transactions in progress",
                s.running_transactions,
            ),
            (
                "hotline_sip_transactions_finished",
                "Finished SIP transactions kept, with their last message, until their timers end",
                s.finished_transactions,
            ),
            (
                "hotline_sip_transactions_waiting_ack",
                "Dialogs whose INVITE's final response waits for its ACK",
                s.waiting_ack,
            ),
        ];
        for (name, help, value) in gauges {
            let g = ConstGauge::new(value as i64);
            let e = encoder.encode_descriptor(name, help, None, g.metric_type())?;
            g.encode(e)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(super::method_label("REGISTER"), "REGISTER");
        assert_eq!(super::method_label("FROBNICATE"), "other");
        assert_eq!(super::method_label("xx\u{0}"), "other");
    }
}
