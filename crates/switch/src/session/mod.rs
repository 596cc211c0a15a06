//! One call session: the caller's leg, its media, the contact flow, its place in a queue, the
//! agents' legs while they are rung and when one answers, and every state change handed to
//! the event log, in order, before it is acted on.
//!
//! The session is a core and a shell, like the routing engine and the flow interpreter:
//! - [`call`]: the state machine, sans IO: inputs and `now` in, commands out; tested in
//!   virtual time (`tests`).
//! - [`shell`]: the async driver: SIP legs, media, the router, the log; it turns what
//!   happens into inputs and carries out the commands.
//! - [`phones`]: where and how an agent's phone is rung, SDP and SRTP for a leg.
//!
//! The session does not wait for the disk: the log commits in the background and only
//! committed events are shown to anyone (event stream, API, reports).

pub mod call;
pub mod outbound;
mod phones;
#[cfg(test)]
mod routed_tests;
mod shell;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use hotline_flow::FlowSet;
use hotline_media::MediaEngine;
use hotline_media::player::PromptLibrary;
use hotline_model::InteractionId;
use hotline_sip::calls::Calls;
use hotline_sip::registrar::Registrar;
use hotline_store::Store;
use tokio::sync::{mpsc, oneshot};

use crate::router::RouterCmd;

pub use shell::run_call;

/// What every session shares.
pub struct Shared {
    pub store: Store,
    pub media: MediaEngine,
    pub prompts: Arc<PromptLibrary>,
    pub router: mpsc::UnboundedSender<RouterCmd>,
    pub calls: Calls,
    pub registrar: Arc<Registrar>,
    /// The SIP guard (its trusted trunk networks change live).
    pub guard: Arc<hotline_sip::guard::Guard>,
    /// The address put in SDP for hotline's media.
    pub media_ip: IpAddr,
    pub recordings: PathBuf,
    /// The skill escalated contacts need (the routing engine's senior skill).
    pub senior_skill: String,
    pub next_contact: std::sync::atomic::AtomicU64,
    /// Played to every caller at entry while an outage is announced.
    pub fault_notice: std::sync::atomic::AtomicBool,
    /// What calls read of the configuration that may change while the centre runs.
    pub routes: parking_lot::RwLock<Arc<Routes>>,
    /// The call each supervisor monitors (or took over), while its phone is on it: a
    /// supervisor monitors one call at a time.
    pub monitors: parking_lot::Mutex<std::collections::HashMap<String, InteractionId>>,
    /// The command channel of each call in progress.
    pub sessions: parking_lot::Mutex<
        std::collections::HashMap<InteractionId, mpsc::UnboundedSender<SessionCmd>>,
    >,
    /// Agents' browsers registered as their phones.
    pub browser_phones: Arc<crate::browser::BrowserPhones>,
    /// Connected calls' live quality figures.
    pub quality: Arc<crate::quality::LiveQuality>,
}

impl Shared {
    /// The routes now: a new call takes them when it arrives and keeps them to its end.
    pub fn routes(&self) -> Arc<Routes> {
        self.routes.read().clone()
    }
}

/// The parts of the configuration calls read that may change while the centre runs (a live
/// change or a reload replaces them as a whole): each call takes the version current when
/// it arrives and keeps it; transfers and flow hand-offs look at the current one.
pub struct Routes {
    /// The contact flows and their schedules (business hours, holidays).
    pub flows: Arc<FlowSet>,
    /// Where each dialled number leads.
    pub numbers: crate::numbers::Numbers,
    /// Agent extensions and queue names, to resolve transfer targets.
    pub agent_extensions: std::collections::HashSet<String>,
    pub queue_names: std::collections::HashSet<String>,
    /// Where calls out (callbacks) are sent: the carrier's address.
    pub outbound: Option<std::net::SocketAddr>,
    /// The trunk calls out go through (numbering, caller id, credentials).
    pub trunk: Option<crate::trunk::OutboundTrunk>,
}

impl Routes {
    pub fn new(
        cfg: &hotline_config::Config,
        flows: Arc<FlowSet>,
        trunk: Option<crate::trunk::OutboundTrunk>,
    ) -> Routes {
        Routes {
            flows,
            numbers: crate::numbers::Numbers::from_config(cfg),
            agent_extensions: cfg
                .agents
                .iter()
                .map(|a| a.extension.get_ref().clone())
                .collect(),
            queue_names: cfg
                .queues
                .iter()
                .map(|q| q.name.get_ref().clone())
                .collect(),
            outbound: cfg.outbound(),
            trunk,
        }
    }
}

/// What the API may ask of a call in progress.
pub enum SessionCmd {
    /// The agent ends the call (as if from the phone).
    Hangup {
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The agent hands the caller on to a senior: the caller waits on hold, first in line,
    /// for an agent with the senior skill.
    Escalate {
        reason: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Blind transfer: the agent leaves; the caller waits on hold for the target.
    Transfer {
        to: TransferTarget,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The agent flags the caller as abusive: the caller hears a polite recorded message and
    /// the call ends; the agent gets a recovery break after wrap-up.
    Abusive {
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Pause (`true`) or resume the conversation's recording while the caller reads out
    /// card data. Refusals start with a stable code and `: `.
    PauseRecording {
        pause: bool,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// A supervisor starts monitoring the call (see [`call::Request::Monitor`]). Refusals
    /// start with a stable code and `: `.
    Monitor {
        supervisor: String,
        phone: call::SupervisorPhone,
        mode: hotline_model::MonitorMode,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The monitoring supervisor switches mode.
    MonitorMode {
        supervisor: String,
        mode: hotline_model::MonitorMode,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The monitoring supervisor stops.
    MonitorStop {
        supervisor: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The monitoring supervisor takes the call over from the agent.
    TakeOver {
        supervisor: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The centre shuts down and the drain time is over: the call ends with BYE to every
    /// phone, its recording finalised, its record closed as `shutdown`.
    Shutdown {
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// A leg's quality measured outside the media engine (a browser's WebRTC leg: its own
    /// `getStats()`); see [`crate::Centre::report_leg_quality`].
    Quality {
        leg: hotline_model::Leg,
        sample: crate::quality::LegSample,
    },
    /// A browser phone's own figures of what its leg (`media`) receives.
    LegQuality {
        media: hotline_media::LegId,
        sample: crate::quality::LegSample,
    },
}

/// Where a transfer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    /// A colleague: the caller waits for that agent first, then for anyone in the queue.
    Agent(String),
    /// A queue: the caller goes to the front of its line.
    Queue(String),
}

impl TransferTarget {
    /// Resolves an extension or queue name (a REFER's user part, an API body).
    pub fn resolve(shared: &Shared, name: &str) -> Option<TransferTarget> {
        let routes = shared.routes();
        if routes.agent_extensions.contains(name) {
            Some(TransferTarget::Agent(name.to_string()))
        } else if routes.queue_names.contains(name) {
            Some(TransferTarget::Queue(name.to_string()))
        } else {
            None
        }
    }
}

/// The user part of a Refer-To value such as `<sip:1002@host;transport=udp>`.
pub fn refer_user(refer_to: &str) -> Option<&str> {
    let s = refer_to.trim().trim_start_matches('<');
    let s = s
        .strip_prefix("sip:")
        .or_else(|| s.strip_prefix("sips:"))
        .or_else(|| s.strip_prefix("tel:"))?;
    let end = s.find(['@', ';', '>', '?']).unwrap_or(s.len());
    let user = &s[..end];
    (!user.is_empty()).then_some(user)
}

/// Where a flow's `transfer` step to `to` leads: a service number's flow or an agent
/// (extension or direct number), a queue, or else, if it is a phone number, outside.
pub fn destination(shared: &Shared, to: &str) -> Option<call::Destination> {
    let to = to.trim();
    let routes = shared.routes();
    match routes.numbers.lookup(to) {
        Some(crate::numbers::Route::Flow(f)) => return Some(call::Destination::Flow(f)),
        Some(crate::numbers::Route::Agent { extension, queue }) => {
            return Some(call::Destination::Agent { extension, queue });
        }
        Some(crate::numbers::Route::Queue { queue, .. }) => {
            return Some(call::Destination::Queue(queue));
        }
        None => {}
    }
    if routes.queue_names.contains(to) {
        return Some(call::Destination::Queue(to.to_string()));
    }
    let digits = to.strip_prefix('+').unwrap_or(to);
    (!digits.is_empty() && digits.len() <= 32 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| call::Destination::External(to.to_string()))
}

#[cfg(test)]
mod refer_tests {
    use super::*;

    #[test]
    fn refer_to_values_give_their_user_part() {
        assert_eq!(refer_user("<sip:1002@10.0.0.1:5060>"), Some("1002"));
        assert_eq!(refer_user("sip:cards@hotline;transport=udp"), Some("cards"));
        assert_eq!(refer_user("<sips:1009@h?Replaces=x>"), Some("1009"));
        assert_eq!(refer_user("<tel:1003>"), Some("1003"));
        assert_eq!(refer_user("<sip:@host>"), None);
        assert_eq!(refer_user("mailto:x@y"), None);
    }
}
