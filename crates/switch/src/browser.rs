//! Agents' browser phones. The agent desk's phone socket (`GET /api/v1/phone`) registers the
//! agent's browser as its phone for as long as it is open, as a SIP phone's REGISTER does;
//! while it is, the agent's calls ring in the browser instead of on a desk phone.
//!
//! Signalling is the desk's own: JSON messages over that WebSocket. hotline sends the SDP
//! offer with the ring (ICE-lite, one host candidate, DTLS-SRTP, the caller's G.711 law), the
//! page answers with its SDP answer when the agent takes the call, and hold, keypad digits,
//! decline and hang-up come back the same way. The media itself goes browser ↔ media engine
//! directly (see `hotline_media::webrtc`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use hotline_model::InteractionId;
use tokio::sync::mpsc;

/// What hotline tells a browser phone.
#[derive(Debug)]
pub enum PhoneMsg {
    /// A call for the agent: ring, with the SDP offer. What the page does about it goes to
    /// `events`.
    Ring {
        token: u64,
        interaction: InteractionId,
        from: String,
        sdp: String,
        /// A supervisor's monitoring call (started from the page's own wallboard), which
        /// the page may answer by itself.
        monitor: bool,
        events: mpsc::UnboundedSender<BrowserEvent>,
    },
    /// The call is over (the caller hung up, the offer was withdrawn, the agent was
    /// released): stop ringing or end the call.
    Hangup { token: u64 },
}

/// What a browser phone did about one call.
#[derive(Debug, Clone, PartialEq)]
pub enum BrowserEvent {
    /// The agent took the call: the page's SDP answer.
    Answer(String),
    /// The agent declined it.
    Decline,
    /// The agent hung up.
    Hangup,
    /// The agent put the call on hold (`true`) or took it back.
    Hold(bool),
    /// A keypad digit, sent to the other party.
    Dtmf(char),
    /// The browser's own figures of the audio it receives (`getStats()`), every few
    /// seconds while the call is up.
    Stats(crate::quality::LegSample),
    /// The page is gone (closed, reloaded, lost its network).
    Gone,
}

/// The key a user without an extension (a supervisor, an administrator) registers a
/// browser phone under; it cannot be an extension, which never holds a `:`.
pub fn user_phone(user: &str) -> String {
    format!("user:{user}")
}

struct Registered {
    id: u64,
    tx: mpsc::UnboundedSender<PhoneMsg>,
    ip: IpAddr,
}

/// The browsers registered as agents' phones.
#[derive(Default)]
pub struct BrowserPhones {
    phones: parking_lot::Mutex<HashMap<String, Registered>>,
    next: AtomicU64,
}

/// A registered browser phone, as a call rings it.
#[derive(Debug, Clone)]
pub struct BrowserPhone {
    pub tx: mpsc::UnboundedSender<PhoneMsg>,
    /// Where the browser connects from (to choose the media address it can reach).
    pub ip: IpAddr,
}

impl BrowserPhones {
    /// Registers `agent`'s browser (connecting from `ip`) as its phone. A newer registration
    /// replaces an older one: the older page's receiver ends.
    pub fn register(&self, agent: &str, ip: IpAddr) -> (u64, mpsc::UnboundedReceiver<PhoneMsg>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = self.token();
        self.phones
            .lock()
            .insert(agent.to_string(), Registered { id, tx, ip });
        (id, rx)
    }

    /// Ends registration `id` of `agent` (not a newer one that replaced it).
    pub fn unregister(&self, agent: &str, id: u64) {
        let mut phones = self.phones.lock();
        if phones.get(agent).is_some_and(|r| r.id == id) {
            phones.remove(agent);
        }
    }

    /// `agent`'s browser phone, if one is registered and still open.
    pub fn lookup(&self, agent: &str) -> Option<BrowserPhone> {
        let phones = self.phones.lock();
        let r = phones.get(agent).filter(|r| !r.tx.is_closed())?;
        Some(BrowserPhone {
            tx: r.tx.clone(),
            ip: r.ip,
        })
    }

    /// Whether `agent` works with a browser phone now.
    pub fn registered(&self, agent: &str) -> bool {
        self.lookup(agent).is_some()
    }

    /// A number never given out before (registrations and calls).
    pub fn token(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_registration_replaces_the_older_and_only_its_own_end_removes_it() {
        let phones = BrowserPhones::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let (old, mut old_rx) = phones.register("1001", ip);
        let (new, _new_rx) = phones.register("1001", ip);
        assert_ne!(old, new);
        // The older page's channel is closed: it learns it was replaced.
        assert!(old_rx.try_recv().is_err());
        assert!(old_rx.is_closed());
        phones.unregister("1001", old);
        assert!(phones.registered("1001"), "the newer registration stays");
        phones.unregister("1001", new);
        assert!(!phones.registered("1001"));
        assert!(phones.lookup("1002").is_none());
    }
}
