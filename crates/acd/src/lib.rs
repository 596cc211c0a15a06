//! The hotline routing engine (ACD): agents with skills and levels, queues with priorities,
//! service-level targets, maximum waits and timed overflow steps, agent selection strategies,
//! callbacks that keep their place, estimated waits, and agent wellbeing rules.
//!
//! The engine is sans-IO and deterministic. It keeps no clock: each call passes the current
//! [`Instant`] (virtual milliseconds). The shell (the switch, or the simulator) feeds
//! [`Input`]s, drains [`Output`]s and calls [`Engine::handle_timeout`] at
//! [`Engine::poll_timeout`].
//!
//! Cost of a decision: free agents are indexed per (skill, channel, level) in ordered sets
//! keyed by each strategy's key, so a contact finds its agent by looking at the heads of at
//! most ten sets (one per qualifying level) of its rarest required skill, verifying the other
//! skills of at most `scan_limit` candidates. A freed agent looks at the heads of the waiting
//! lines it may serve (one per queue step it qualifies for), never at all queues or all
//! contacts.
//!
//! Live changes: everything the engine is built with may also change while it runs, as
//! inputs validated before anything changes (a refused input leaves the engine as it was),
//! taking effect at the next routing decision: [`Input::SetSkills`], [`Input::AddAgent`],
//! [`Input::RemoveAgent`] (refused while the agent holds or is offered a contact; a removed
//! agent keeps its id, never reused, and takes no part in routing, staffing or views again),
//! [`Input::AddQueue`], [`Input::SetQueue`] (contacts waiting keep their place and their wait;
//! an offer ringing stays; a connected contact keeps the wrap-up it was answered under) and
//! [`Input::SetRules`] (not the senior skill). Each is followed at once by the decisions it
//! allows, e.g. a waiting contact offered to a free agent the change made eligible.
//!
//! ```
//! use hotline_acd::{AgentConfig, ContactId, Engine, EngineConfig, Input, Instant, Output,
//!     QueueConfig, Arrival};
//!
//! # fn main() -> Result<(), hotline_acd::Error> {
//! let mut acd = Engine::new(EngineConfig::default());
//! let cards = acd.add_queue(QueueConfig::new("cards", &[("cards", 3)]))?;
//! let alice = acd.add_agent(AgentConfig::new("alice", &[("cards", 5)]))?;
//! let bob = acd.add_agent(AgentConfig::new("bob", &[("cards", 2)]))?;
//! acd.handle(Instant::ZERO, Input::Login(alice))?;
//! acd.handle(Instant::ZERO, Input::Login(bob))?;
//!
//! // A call arrives: only alice has the level the queue needs.
//! acd.handle(Instant::from_millis(1_000), Input::Arrive(Arrival::new(ContactId(1), cards)))?;
//! let offer = std::iter::from_fn(|| acd.poll_output())
//!     .find(|o| matches!(o, Output::Offer { .. }));
//! assert_eq!(offer, Some(Output::Offer { contact: ContactId(1), agent: alice, callback: false }));
//!
//! acd.handle(Instant::from_millis(3_000), Input::Answer { contact: ContactId(1), agent: alice })?;
//! acd.handle(Instant::from_millis(90_000),
//!     Input::End { contact: ContactId(1), agitation: Some(0.1), abusive: false })?;
//! assert_eq!(acd.agent_wellbeing(alice).map(|w| w.handled), Some(1));
//! assert_eq!(acd.poll_timeout(), None);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod config;
mod engine;
mod types;

pub use config::{
    AgentConfig, Blend, Capacity, Channel, EngineConfig, MAX_LEVEL, MAX_SKILLS, MaxWait,
    MaxWaitAction, OverflowStep, QueueConfig, Strategy, WellbeingRules,
};
pub use engine::Engine;
pub use types::{
    AgentId, AgentState, AgentWellbeing, Arrival, ContactId, Error, Input, Instant, Output,
    QueueId, WaitEstimate, WellbeingAlert,
};
