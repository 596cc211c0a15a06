//! hotline's SIP edge.
//!
//! - [`guard`]: the ingress guard every message passes first (RFC answers to bad input, rate
//!   limits, authentication lockout).
//! - [`addr`]: SIP addresses, Contact lists, URIs and Via values by the RFC 3261 grammar.
//! - [`digest`]: digest authentication with MD5 and SHA-256, expiring nonces, replay protection.
//! - [`registrar`]: the registrar and location service, and caller identification.
//! - [`sdp`]: SDP offer/answer for G.711 audio with telephone-events and hold.
//! - [`sdes`]: SRTP keys in SDP (RFC 4568) and the per-leg SRTP policy.
//! - [`tls`]: the SIP-over-TLS listener, its reloadable certificate and mutual TLS for trunks.
//! - [`advertise`]: the addresses advertised to each peer (Via, Contact, SDP) and NAT detection.
//! - [`nat`]: phones behind NATs: their flows kept open, requests in their calls sent to them.
//! - [`server`]: sockets, framing and the rsipstack endpoint wired to the above.
//!
//! Transactions and dialogs come from `rsipstack`, pinned to one exact version.

pub mod addr;
pub mod advertise;
pub mod calls;
pub mod digest;
pub mod guard;
pub mod message;
pub mod metrics;
pub mod nat;
pub mod registrar;
pub mod sdes;
pub mod sdp;
pub mod server;
pub mod tls;

pub use metrics::SipMetrics;
pub use server::SipServer;
