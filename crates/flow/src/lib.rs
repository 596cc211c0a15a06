//! Sans-IO contact-flow (IVR) interpreter for hotline.
//!
//! Flows are data: TOML parsed into a [`FlowSet`] (named flows of named steps, schedules and
//! an optional fault notice), checked by [`FlowSet::validate`], which names the dotted key
//! path of every problem. A [`FlowRun`] interprets one flow for one call as a deterministic
//! state machine in the style of `quinn-proto`: no sockets, no clock, no tasks, no
//! randomness. The call-session layer drives it:
//!
//! 1. [`FlowRun::new`] with the [`CallContext`] (caller, called number, wall-clock time,
//!    language, fault-notice switch, variables) and the current [`Instant`];
//! 2. take every [`FlowAction`] with [`FlowRun::poll_action`] and carry it out (play
//!    prompts, look the customer up, enqueue in the routing engine, hang up…);
//! 3. feed what happens as [`FlowInput`] with [`FlowRun::handle`] (keys, playback finished,
//!    lookup and PIN results, queue updates, answered, caller hang-up);
//! 4. keep one timer at [`FlowRun::poll_timeout`] and call [`FlowRun::handle_timeout`]
//!    when it fires;
//! 5. stop after [`FlowAction::Finished`]; its [`Outcome`] says what happened (e.g.
//!    connected to an agent, with the flow to run after the call, such as `survey`).
//!
//! ```
//! use std::sync::Arc;
//! use chrono::{TimeZone, Utc};
//! use hotline_flow::*;
//!
//! let flows = Arc::new(FlowSet::from_toml(DEMO_FLOWS).expect("the demo flows are valid"));
//! let wall = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap(); // 10:00 in Shanghai
//! let ctx = CallContext::new("13800138000", "95588", wall);
//! let mut run = FlowRun::new(flows, "main", ctx, Instant::ZERO).unwrap();
//!
//! // The demo flow looks the caller up first.
//! let mut actions: Vec<FlowAction> = std::iter::from_fn(|| run.poll_action()).collect();
//! assert!(actions.iter().any(|a| matches!(a, FlowAction::Lookup { .. })));
//!
//! // Unknown caller: the welcome plays, in Mandarin by default.
//! run.handle(Instant::from_millis(40), FlowInput::LookupResult(None));
//! actions = std::iter::from_fn(|| run.poll_action()).collect();
//! let Some(FlowAction::Play { id, prompts, language, .. }) =
//!     actions.iter().find(|a| matches!(a, FlowAction::Play { .. })).cloned()
//! else { panic!("no welcome") };
//! assert_eq!(prompts, vec![PromptItem::prompt("welcome")]);
//! assert_eq!(language, "zh");
//!
//! // The caller presses 2 during the welcome: it stops and the key picks cards.
//! run.handle(Instant::from_millis(900), FlowInput::Digit('2'));
//! actions = std::iter::from_fn(|| run.poll_action()).collect();
//! assert!(actions.contains(&FlowAction::StopPlayback));
//! assert!(actions.iter().any(|a| matches!(a, FlowAction::Enqueue { queue, .. } if queue == "cards")));
//! let _ = id;
//!
//! // The next announcement is due 30 s later.
//! assert_eq!(run.poll_timeout(), Some(Instant::from_millis(30_900)));
//!
//! // An agent answers: the run ends, naming the survey to run after the call.
//! run.handle(Instant::from_millis(12_000), FlowInput::Answered { agent: "1003".into() });
//! actions = std::iter::from_fn(|| run.poll_action()).collect();
//! assert_eq!(
//!     actions.last(),
//!     Some(&FlowAction::Finished {
//!         outcome: Outcome::Connected {
//!             agent: "1003".into(),
//!             queue: "cards".into(),
//!             after_call: Some("survey".into()),
//!         }
//!     })
//! );
//! assert!(run.poll_timeout().is_none());
//! ```
//!
//! # Flow format
//! A step's id is its key under `steps`; `type` selects the kind and the other keys are
//! the kind's own (unknown keys are errors). Targets (`next`, `options`, `default`,
//! `on_timeout`, `not_found`, `on_failure`, `on_declined`, a rule's `goto`, `else`) name
//! steps of the same flow. Prompt lists hold prompt names and spoken values
//! (`{ number = 3 }`, `{ digits = "95588" }`, `{ duration_secs = 90 }`,
//! `{ number_var = "x" }`, `{ digits_var = "account" }`).
//!
//! ```toml
//! [fault_notice]                 # optional; played at entry while switched on
//! prompts = ["fault_notice"]
//!
//! [schedules.office]             # for `open` / `holiday` branch rules
//! timezone = "Asia/Shanghai"
//! holidays = ["2026-10-01"]
//! open = [{ days = ["mon", "tue", "wed", "thu", "fri"], from = "08:00", to = "12:00" },
//!         { days = ["mon", "tue", "wed", "thu", "fri"], from = "13:00", to = "20:00" }]
//!
//! [flows.main]
//! start = "hours"
//!
//! [flows.main.steps.hours]
//! type = "branch"
//! rules = [{ open = "office", goto = "menu" }, { vip = true, goto = "menu" }]
//! else = "closed"
//!
//! [flows.main.steps.menu]
//! type = "menu"
//! prompts = ["menu"]
//! options = { "1" = "accounts", "0" = "accounts" }
//! on_timeout = "accounts"        # else a timeout repeats the menu like an invalid key
//! default = "accounts"           # after `retries` (2) repeats
//!
//! [flows.main.steps.accounts]
//! type = "enqueue"
//! queue = "accounts"
//! announce_every_secs = 30
//! callback_digit = "1"
//! after_call = "survey"
//!
//! [flows.main.steps.closed]
//! type = "voicemail"
//! queue = "accounts"
//!
//! [flows.survey]
//! start = "ask"
//! steps.ask = { type = "survey", next = "bye" }
//! steps.bye = { type = "hangup", prompts = ["goodbye"] }
//! ```
//!
//! # Steps
//! | `type` | does | goes on by |
//! |---|---|---|
//! | `play` | plays `prompts` (`barge_in` keeps the key for the next menu/collect) | `next` |
//! | `menu` | prompt, one key, `timeout_secs`, `retries` with `invalid_prompts` / `timeout_prompts` | `options`, `on_timeout`, `default` |
//! | `collect` | digits `into` a variable: `min_len`, `max_len`, `terminator`, first- and inter-digit timeouts | `next`, `on_failure` |
//! | `lookup` | [`FlowAction::Lookup`] by caller number or `account_var` | `next`, `not_found` |
//! | `authenticate` | PIN checked by the shell, lockout after `max_attempts`; skipped for a caller number on file | `next`, `on_failure` |
//! | `branch` | first rule whose conditions all hold: `open`, `holiday`, `vip`, `repeat_complaint`, `known_customer`, `fault_notice`, `language`, `queue` + `wait_over_secs` / `waiting_over`, `var` (+ `equals`) | `goto`, `else` |
//! | `set` | `priority`, `priority_add`, `skills`, `preferred_skills`, `vars`, `language` | `next` |
//! | `enqueue` | queue, hold music, announcements every `announce_every_secs`, callback on `callback_digit` | ends the run |
//! | `callback` | offers a callback outside a queue | ends the run, or `on_declined` |
//! | `voicemail` | plays the prompt, then [`FlowAction::Voicemail`] | ends the run |
//! | `survey` | a score 1..=`max_score` by one key, [`FlowAction::Survey`]; other keys by `options` | `next`, `options` |
//! | `do_not_call` | [`FlowAction::DoNotCall`] with the caller's number, then prompts (default `dnc_confirmed`) and hang up | ends the run |
//! | `hangup` | optional prompts, then [`FlowAction::Hangup`] with `reason` | ends the run |
//! | `transfer` | optional prompts, then [`FlowAction::Transfer`] | ends the run |
//!
//! See [`Step`] and the step structs for every key and default, and `flows/demo.toml`
//! ([`DEMO_FLOWS`]) for the demo centre.
//!
//! # Contract with the shell
//! - Every [`FlowAction::Play`] carries a [`PlayId`]; report
//!   [`FlowInput::PlaybackFinished`] with that id when those prompts end. Reports with the
//!   id of a play that was stopped or replaced are ignored, so the shell should remember
//!   which id is on the leg and report that one: a media layer's late "interrupted" report
//!   of a cut prompt then does no harm even if a new prompt already plays.
//! - Keys during a prompt with `barge_in` stop it: the run queues
//!   [`FlowAction::StopPlayback`] and uses the key (a cut `play` step keeps it for the next
//!   `menu` or `collect`). Keys during other prompts are dropped. Keys are fed as they come,
//!   whatever their source (RFC 4733, in-band, SIP INFO); the shell removes duplicates.
//! - Hold music ([`FlowAction::StartHoldMusic`]) loops until the next `Play` or
//!   `StopPlayback`; no report is expected for it.
//! - A lookup, PIN check or callback request the shell never answers times out inside the
//!   run; a `PlaybackFinished` that never comes does not (the shell knows prompt lengths).
//! - `now` must not go backwards (an earlier `now` is taken as the latest one seen).
//! - The PIN check is the shell's: [`FlowAction::VerifyPin`] carries the keyed digits and
//!   the shell compares them with the hash on file, answering [`FlowInput::AuthResult`].
//!   The lockout after `max_attempts` failures within the call is the flow's.
#![warn(missing_docs)]

pub mod def;
pub mod graph;
mod run;
pub mod types;
mod validate;

pub use def::*;
pub use run::{FlowRun, RunError, is_holiday, is_open};
pub use types::*;
pub use validate::{LoadError, ValidationError};

/// The demo centre's flows: `main` (the 95588 service number), `survey` (after the agent
/// hangs up), `abusive_end` and `voicemail`.
pub const DEMO_FLOWS: &str = include_str!("../flows/demo.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_flows_parse_and_validate() {
        let set = FlowSet::from_toml(DEMO_FLOWS);
        assert!(set.is_ok(), "{set:?}");
    }

    #[test]
    fn runs_can_move_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<FlowRun>();
        send_sync::<FlowSet>();
    }

    /// The flow-format example in the crate documentation is valid.
    #[test]
    fn documented_example_is_valid() {
        let doc = include_str!("lib.rs");
        let start = doc.find("//! ```toml").map(|i| i + "//! ```toml".len());
        let text: String = start
            .map(|s| &doc[s..])
            .and_then(|rest| rest.find("//! ```").map(|end| &rest[..end]))
            .unwrap_or("")
            .lines()
            .map(|l| l.trim_start().strip_prefix("//!").unwrap_or(l))
            .map(|l| l.strip_prefix(' ').unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains("[flows.main]"), "example not found");
        let set = FlowSet::from_toml(&text);
        assert!(set.is_ok(), "{set:?}");
    }
}
