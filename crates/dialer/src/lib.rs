//! The outbound campaign core of hotline: which contact to call and when, how many calls to
//! place ahead of free agents, and the rules that keep the centre legal and polite.
//!
//! It is sans-IO and deterministic: no sockets, no clock, no runtime. Its shell (the switch,
//! or the simulator in `hotline-sim`) drives it in a loop:
//!
//! 1. feed an [`Input`] with [`Dialer::handle`] and the current [`Time`] (milliseconds since
//!    the Unix epoch, UTC: calling hours are local times of the called person);
//! 2. drain [`Decision`]s with [`Dialer::poll_decision`] and carry them out
//!    ([`Decision::Dial`] a number, [`Decision::Connect`] an answered call to the agents'
//!    queue, [`Decision::PlayAbandonMessage`] at once when no agent can take it, ...);
//! 3. call [`Dialer::handle_timeout`] at [`Dialer::poll_timeout`] (ring timeouts, contacts
//!    becoming due, the predictive pacer's next look).
//!
//! The shell reports what the routing engine and the network say: [`Input::Agents`] after
//! every change of free or logged-in agents, [`Input::Outcome`] when a dialled call is
//! answered (by a person or a machine, after answering-machine detection), busy, unanswered
//! or failed, and [`Input::Ended`] when the agent who took a connected call is free again.
//! The do-not-call list is given to the core ([`Input::DncAdd`], [`Input::DncRemove`]) and
//! checked at each dial.
//!
//! ```
//! use hotline_dialer::{CampaignConfig, Contact, Control, Decision, Dialer, Input, Mode,
//!     Outcome, Time};
//!
//! # fn main() -> Result<(), hotline_dialer::Error> {
//! // 2026-12-01 10:00 UTC, a Tuesday: inside the default calling hours in London.
//! let t0 = Time(1_764_583_200_000);
//! let mut cfg = CampaignConfig::new("follow-up", Mode::Progressive, "+442079460000");
//! cfg.centre_time_zone = "Europe/London".into();
//! let mut dialer = Dialer::new(cfg)?;
//! dialer.handle(t0, Input::AddContacts(vec![
//!     Contact { id: 1, phone: "+447700900001".into(), time_zone: None },
//!     Contact { id: 2, phone: "+447700900002".into(), time_zone: None },
//! ]))?;
//! dialer.handle(t0, Input::DncAdd("+447700900002".into()))?;
//! dialer.handle(t0, Input::Control(Control::Start))?;
//! // One agent free: one dial; the number on the do-not-call list is never dialled.
//! dialer.handle(t0, Input::Agents { free: 1, staffed: 1 })?;
//! let decisions: Vec<Decision> = std::iter::from_fn(|| dialer.poll_decision()).collect();
//! let call = decisions.iter().find_map(|d| match d {
//!     Decision::Dial { call, phone, .. } => { assert_eq!(phone, "+447700900001"); Some(*call) }
//!     _ => None,
//! }).expect("a dial");
//! assert_eq!(dialer.in_flight(), 1);
//!
//! // A person answers 8 s later: the agent is free, so the call goes to the agents' queue.
//! dialer.handle(Time(t0.0 + 8_000), Input::Outcome { call, outcome: Outcome::Live })?;
//! assert!(std::iter::from_fn(|| dialer.poll_decision())
//!     .any(|d| matches!(d, Decision::Connect { .. })));
//! dialer.handle(Time(t0.0 + 8_000), Input::Agents { free: 0, staffed: 1 })?;
//! dialer.handle(Time(t0.0 + 200_000), Input::Ended { call })?;
//! // The agent is free again: the next contact is checked at dial time, found on the
//! // do-not-call list and never dialled; every contact is done, so the campaign finishes.
//! dialer.handle(Time(t0.0 + 200_000), Input::Agents { free: 1, staffed: 1 })?;
//! assert!(std::iter::from_fn(|| dialer.poll_decision()).all(|d| !matches!(d, Decision::Dial { .. })));
//! assert_eq!(dialer.state(), hotline_dialer::CampaignState::Finished);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod config;
mod engine;
mod estimate;
mod zones;

use serde::{Deserialize, Serialize};

pub use config::{
    CampaignConfig, Contact, MachineAction, Mode, Retries, Retry, Rules, check_phone,
    check_time_zone,
};
pub use engine::{
    CallId, CampaignState, ContactResult, Control, Decision, Dialer, Input, Outcome, PastOutcome,
    Stats,
};
pub use zones::{CallingHours, Window, local_day, zones_of_number};

/// Wall-clock time: milliseconds since the Unix epoch, UTC. The core takes times before 1970
/// or after 9999 as those bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Time(pub i64);

/// Errors of the core. A refused input changes nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The campaign's settings are not valid (the message names the field).
    #[error("campaign settings: {0}")]
    Config(String),
    /// A contact cannot be added.
    #[error("contact {id}: {reason}")]
    BadContact {
        /// Contact id.
        id: u64,
        /// Why.
        reason: String,
    },
    /// A number that is not E.164.
    #[error("{0}")]
    BadNumber(String),
    /// No such call.
    #[error("unknown call {0:?}")]
    UnknownCall(CallId),
    /// No such contact.
    #[error("unknown contact {0}")]
    UnknownContact(u64),
    /// A supervisor's change the state does not allow.
    #[error("cannot {control:?} a campaign that is {from:?}")]
    Transition {
        /// State now.
        from: CampaignState,
        /// Change asked.
        control: Control,
    },
    /// The input does not fit the current state.
    #[error("{0}")]
    InvalidState(&'static str),
}
