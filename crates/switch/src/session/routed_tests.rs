//! Call sessions and the router together, in virtual time: the real routing engine (built
//! from a centre's configuration, as `hotline serve` builds it) behind the real router core,
//! and [`Call`] cores in front; the test plays the phones. This is the protocol between the
//! session and the router, checked without sockets or clocks.

use std::collections::HashMap;
use std::sync::Arc;

use hotline_acd::{AgentState, ContactId, Instant};
use hotline_flow::FlowSet;
use hotline_model::{EndReason, EventKind};
use tokio::sync::{mpsc, oneshot};

use super::call::{Call, Command, Input, Request, Ring, Setup};
use crate::numbers::Route;
use crate::router::{AgentCommand, Notice, Refusal, RouterCmd, RouterCore};

/// Every caller queues for `accounts` at once; no survey after.
const FLOWS: &str = r#"
[flows.main]
start = "q"

[flows.main.steps.q]
type = "enqueue"
queue = "accounts"
prompts = []
"#;

/// One caller's session and what the test's phones saw of it.
struct Party {
    call: Call,
    contact: ContactId,
    notify: mpsc::UnboundedSender<Notice>,
    notices: mpsc::UnboundedReceiver<Notice>,
    /// Agent legs ringing or talking: ring → extension.
    phones: HashMap<Ring, String>,
    log: Vec<EventKind>,
}

struct Centre {
    router: RouterCore,
    parties: Vec<Party>,
    now: u64,
    next_contact: u64,
    flows: Arc<FlowSet>,
}

impl Centre {
    fn new(edit: impl Fn(String) -> String) -> Centre {
        let text = edit(hotline_config::DEMO_TOML.to_string());
        let cfg = hotline_config::Config::from_toml("demo.toml", &text).expect("valid config");
        let (engine, skills) = crate::router::engine_from_config(&cfg).expect("engine");
        Centre {
            router: RouterCore::new(engine, skills, &HashMap::new(), None),
            parties: Vec::new(),
            now: 1_000,
            next_contact: 1,
            flows: Arc::new(FlowSet::from_toml(FLOWS).expect("flows")),
        }
    }

    fn agent(&mut self, ext: &str, command: AgentCommand) {
        let (done, mut rx) = oneshot::channel();
        self.router.handle(
            Instant::from_millis(self.now),
            RouterCmd::Agent {
                extension: ext.to_string(),
                command,
                done,
            },
        );
        rx.try_recv()
            .expect("the router answers at once")
            .expect("state accepted");
        self.settle();
    }

    /// An administrator's live change, answered at once.
    fn admin(
        &mut self,
        cmd: impl FnOnce(oneshot::Sender<Result<(), String>>) -> RouterCmd,
    ) -> Result<(), String> {
        let (done, mut rx) = oneshot::channel();
        self.router
            .handle(Instant::from_millis(self.now), cmd(done));
        let r = rx.try_recv().expect("the router answers at once");
        self.settle();
        r
    }

    fn state(&self, ext: &str) -> AgentState {
        let e = self.router.engine();
        e.agent_state(e.agent_id(ext).expect("agent"))
            .expect("state")
    }

    /// A caller dials in; returns its index.
    fn call(&mut self) -> usize {
        let setup = Setup {
            from: format!("1380000{:04}", self.parties.len()),
            to: "95588".into(),
            route: Route::Flow("main".into()),
            flows: self.flows.clone(),
            resolve: Arc::new(|_| None),
            senior_skill: "senior".into(),
            can_call_out: false,
            fault_notice: false,
            wall_clock: chrono::DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z")
                .unwrap()
                .into(),
        };
        let call = Call::new(setup, hotline_flow::Instant::from_millis(self.now)).unwrap();
        let (notify, notices) = mpsc::unbounded_channel();
        self.parties.push(Party {
            call,
            contact: ContactId(0),
            notify,
            notices,
            phones: HashMap::new(),
            log: Vec::new(),
        });
        self.settle();
        self.parties.len() - 1
    }

    fn input(&mut self, party: usize, input: Input) {
        let now = hotline_flow::Instant::from_millis(self.now);
        self.parties[party].call.handle(now, input);
        self.settle();
    }

    /// The phone of `ext` answers the call `party` rings it with.
    fn answer(&mut self, party: usize, ext: &str) {
        let ring = self.ringing(party, ext).expect("the agent's phone rings");
        self.input(party, Input::AgentAnswered { ring });
    }

    fn ringing(&self, party: usize, ext: &str) -> Option<Ring> {
        self.parties[party]
            .phones
            .iter()
            .find(|(_, e)| *e == ext)
            .map(|(r, _)| *r)
    }

    /// Carries out what every session and the router asked for until nothing moves.
    fn settle(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.parties.len() {
                while let Some(cmd) = self.parties[i].call.poll_command() {
                    moved = true;
                    self.command(i, cmd);
                }
                while let Ok(n) = self.parties[i].notices.try_recv() {
                    moved = true;
                    let now = hotline_flow::Instant::from_millis(self.now);
                    self.parties[i].call.handle(now, Input::Notice(n));
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn command(&mut self, i: usize, cmd: Command) {
        let now = Instant::from_millis(self.now);
        let contact = self.parties[i].contact;
        let to_router = match cmd {
            Command::Log(k) | Command::Note(k) => {
                self.parties[i].log.push(k);
                None
            }
            Command::Arrive {
                queue,
                priority,
                vip,
                escalate,
                preferred_agent,
                skills,
            } => {
                let contact = ContactId(self.next_contact);
                self.next_contact += 1;
                self.parties[i].contact = contact;
                let (done, mut rx) = oneshot::channel();
                self.router.handle(
                    now,
                    RouterCmd::Arrive {
                        contact,
                        queue,
                        priority,
                        vip,
                        escalate,
                        preferred_agent,
                        skills,
                        notify: self.parties[i].notify.clone(),
                        done,
                    },
                );
                let result = rx.try_recv().expect("the router answers at once");
                let fnow = hotline_flow::Instant::from_millis(self.now);
                self.parties[i].call.handle(fnow, Input::Queued(result));
                None
            }
            Command::Abandon => Some(RouterCmd::Abandon(contact)),
            Command::Reject { agent, refusal } => Some(RouterCmd::Reject {
                contact,
                agent,
                refusal,
            }),
            Command::Answer { ring, agent } => {
                let (done, mut rx) = oneshot::channel();
                self.router.handle(
                    now,
                    RouterCmd::Answer {
                        contact,
                        agent,
                        done,
                    },
                );
                let result = rx.try_recv().expect("the router answers at once");
                let fnow = hotline_flow::Instant::from_millis(self.now);
                self.parties[i]
                    .call
                    .handle(fnow, Input::AnswerTaken { ring, result });
                None
            }
            Command::End { agitation, abusive } => Some(RouterCmd::End {
                contact,
                agitation: Some(agitation),
                abusive,
            }),
            Command::KeepPlace => Some(RouterCmd::Callback(contact)),
            Command::RingAgent { ring, agent, .. } => {
                self.parties[i].phones.insert(ring, agent);
                None
            }
            Command::HangupAgent { ring } => {
                self.parties[i].phones.remove(&ring);
                None
            }
            _ => None,
        };
        if let Some(cmd) = to_router {
            self.router.handle(now, cmd);
        }
    }

    /// Moves virtual time on by `ms`, firing the router's and the sessions' timers on the way.
    fn advance(&mut self, ms: u64) {
        let until = self.now + ms;
        loop {
            let router = self.router.poll_timeout().map(|t| t.as_millis());
            let calls = self
                .parties
                .iter()
                .filter_map(|p| p.call.poll_timeout().map(|t| t.as_millis()))
                .min();
            let next = match (router, calls) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            self.router.handle_timeout(Instant::from_millis(self.now));
            let fnow = hotline_flow::Instant::from_millis(self.now);
            for p in &mut self.parties {
                p.call.handle_timeout(fnow);
            }
            self.settle();
        }
        self.now = until;
    }

    fn ended(&self, party: usize) -> Vec<EndReason> {
        self.parties[party]
            .log
            .iter()
            .filter_map(|k| match k {
                EventKind::Ended { reason } => Some(*reason),
                _ => None,
            })
            .collect()
    }

    fn rejected(&self, party: usize) -> Vec<(String, String)> {
        self.parties[party]
            .log
            .iter()
            .filter_map(|k| match k {
                EventKind::OfferRejected { agent, reason } => {
                    Some((agent.to_string(), reason.clone()))
                }
                _ => None,
            })
            .collect()
    }
}

#[test]
fn a_caller_answered_by_an_agent_is_connected_and_the_agent_busy() {
    let mut c = Centre::new(|t| t);
    c.agent("1001", AgentCommand::Available);
    let p = c.call();
    assert!(
        c.ringing(p, "1001").is_some(),
        "the only free agent is rung"
    );
    assert_eq!(c.state("1001"), AgentState::Offered);
    c.answer(p, "1001");
    assert_eq!(c.state("1001"), AgentState::Busy);
    c.input(p, Input::CallerGone);
    assert_eq!(c.ended(p), vec![EndReason::CallerHangup]);
    assert_eq!(
        c.state("1001"),
        AgentState::WrapUp,
        "the agent is freed to wrap-up"
    );
}

#[test]
fn a_caller_who_hangs_up_while_the_phone_rings_frees_the_agent_at_once() {
    let mut c = Centre::new(|t| t);
    c.agent("1001", AgentCommand::Available);
    let p = c.call();
    assert!(c.ringing(p, "1001").is_some());
    c.advance(3_000);
    c.input(p, Input::CallerGone);
    assert_eq!(c.ended(p), vec![EndReason::Abandoned]);
    assert!(c.parties[p].phones.is_empty(), "the phone stopped ringing");
    assert_eq!(c.state("1001"), AgentState::Available);
}

#[test]
fn ring_all_rings_every_free_agent_and_frees_the_others_when_one_answers() {
    let mut c = Centre::new(|t| {
        t.replacen(
            "name = \"accounts\"\nskills = { accounts = 1 }\ntarget_seconds = 20\npriority = 0\nmax_wait_seconds = 600\nwrap_up_seconds = 30\nstrategy = \"longest-idle\"",
            "name = \"accounts\"\nskills = { accounts = 1 }\ntarget_seconds = 20\npriority = 0\nmax_wait_seconds = 600\nwrap_up_seconds = 30\nstrategy = \"ring-all\"",
            1,
        )
    });
    for ext in ["1001", "1002", "1004"] {
        c.agent(ext, AgentCommand::Available);
    }
    let p = c.call();
    let rung: Vec<String> = c.parties[p].phones.values().cloned().collect();
    assert!(
        rung.len() >= 2,
        "every free agent with the skill rings at once: {rung:?}"
    );
    let first = rung[0].clone();
    c.answer(p, &first);
    assert_eq!(
        c.parties[p].phones.len(),
        1,
        "only the answering phone is left"
    );
    assert_eq!(c.state(&first), AgentState::Busy);
    for other in rung.iter().filter(|e| **e != first) {
        assert_eq!(
            c.state(other),
            AgentState::Available,
            "{other} is free again at once"
        );
    }
}

#[test]
fn the_engines_ring_timeout_ends_the_ring_and_the_caller_is_offered_on() {
    let mut c = Centre::new(|t| t);
    c.agent("1001", AgentCommand::Available);
    c.agent("1002", AgentCommand::Available);
    let p = c.call();
    let first = c.parties[p].phones.values().next().cloned().expect("rung");
    // Nobody answers: the engine's ring timeout (the only one) ends the ring, the log
    // says why, and the other agent is rung.
    c.advance(60_000);
    let rejected = c.rejected(p);
    assert!(
        rejected.contains(&(first.clone(), "no answer".to_string())),
        "{rejected:?}"
    );
    let other = if first == "1001" { "1002" } else { "1001" };
    assert!(
        rejected.iter().any(|(a, _)| a == other) || c.ringing(p, other).is_some(),
        "the next agent is rung: {rejected:?}"
    );
    assert!(c.ended(p).is_empty(), "the caller still waits");
}

#[test]
fn shutdown_of_a_talking_call_puts_the_agent_in_wrap_up() {
    let mut c = Centre::new(|t| t);
    c.agent("1001", AgentCommand::Available);
    let p = c.call();
    c.answer(p, "1001");
    c.input(
        p,
        Input::Api {
            id: 1,
            request: Request::Shutdown,
        },
    );
    assert_eq!(c.ended(p), vec![EndReason::Shutdown]);
    assert_eq!(c.state("1001"), AgentState::WrapUp);
}

#[test]
fn a_ring_timeout_above_twenty_seconds_takes_effect() {
    let mut c = Centre::new(|t| {
        t.replacen(
            "service_numbers = [\"95588\"]",
            "service_numbers = [\"95588\"]\nring_timeout_seconds = 45",
            1,
        )
    });
    c.agent("1001", AgentCommand::Available);
    let p = c.call();
    c.advance(44_000);
    assert!(c.ringing(p, "1001").is_some(), "still ringing at 44 s");
    assert!(c.rejected(p).is_empty());
    c.advance(2_000);
    assert_eq!(
        c.rejected(p),
        vec![("1001".to_string(), "no answer".to_string())]
    );
}

#[test]
fn a_lone_agent_whose_phone_rang_out_is_rung_again_and_goes_not_ready_after_two_misses() {
    let mut c = Centre::new(|t| {
        t.replacen(
            "service_numbers = [\"95588\"]",
            "service_numbers = [\"95588\"]\nring_timeout_seconds = 10",
            1,
        )
    });
    c.agent("1001", AgentCommand::Available);
    let p = c.call();
    // First miss: the phone stops at 10 s; after the retry time the same agent is rung
    // again (the caller does not wait for the longest wait).
    c.advance(10_500);
    assert_eq!(c.rejected(p).len(), 1);
    assert!(c.ringing(p, "1001").is_none());
    c.advance(6_000);
    assert!(
        c.ringing(p, "1001").is_some(),
        "rung again after the retry time"
    );
    // Second miss in a row: the agent goes not ready (`no-answer`) and is rung no more.
    c.advance(10_500);
    assert_eq!(c.rejected(p).len(), 2);
    assert!(
        matches!(c.state("1001"), AgentState::NotReady { ref reason } if reason == "no-answer"),
        "{:?}",
        c.state("1001")
    );
    c.advance(60_000);
    assert!(c.ringing(p, "1001").is_none());
    assert!(c.ended(p).is_empty(), "the caller still waits");
    // Back to available: rung at once, answers.
    c.agent("1001", AgentCommand::Available);
    c.answer(p, "1001");
    assert_eq!(c.state("1001"), AgentState::Busy);
}

#[test]
fn a_phone_that_declines_is_not_counted_as_missed_but_rung_less_often_then_not_ready() {
    let mut c = Centre::new(|t| t);
    c.agent("1001", AgentCommand::Available);
    let p = c.call();
    // Declines wait 5 s, then 10 s before the same caller is offered again.
    for (i, wait) in [5_000, 10_000, 0].into_iter().enumerate() {
        let ring = c.ringing(p, "1001").expect("rung");
        c.input(
            p,
            Input::AgentFailed {
                ring,
                reason: "rejected 486".into(),
                refusal: Refusal::Declined,
            },
        );
        if i < 2 {
            assert_eq!(
                c.state("1001"),
                AgentState::Available,
                "a decline is a choice, not a missed call"
            );
            c.advance(wait - 100);
            assert!(c.ringing(p, "1001").is_none(), "rung again too soon");
            c.advance(100);
        }
    }
    // The third decline in a row: a phone on do-not-disturb, the agent is not ready.
    assert!(
        matches!(c.state("1001"), AgentState::NotReady { ref reason } if reason == "declined"),
        "{:?}",
        c.state("1001")
    );
    assert_eq!(c.rejected(p).len(), 3);
    c.advance(60_000);
    assert!(c.ringing(p, "1001").is_none());
}

#[test]
fn a_phone_hotline_could_not_ring_counts_against_nobody() {
    let mut c = Centre::new(|t| t);
    c.agent("1001", AgentCommand::Available);
    let p = c.call();
    // No media for the leg, again and again: the agent is not blamed, and the caller is
    // offered again after the plain retry time each time (no lengthening waits).
    for _ in 0..4 {
        let ring = c.ringing(p, "1001").expect("rung");
        c.input(
            p,
            Input::AgentFailed {
                ring,
                reason: "media".into(),
                refusal: Refusal::Failed,
            },
        );
        assert_eq!(c.state("1001"), AgentState::Available);
        c.advance(4_900);
        assert!(c.ringing(p, "1001").is_none(), "not again at once");
        c.advance(100);
    }
    c.answer(p, "1001");
    assert_eq!(c.state("1001"), AgentState::Busy);
}

#[test]
fn a_caller_moved_by_the_maximum_wait_is_recorded_in_the_new_queue() {
    let mut c = Centre::new(|t| {
        t.replacen(
            "max_wait_seconds = 600\nwrap_up_seconds = 30\nstrategy = \"longest-idle\"",
            "max_wait_seconds = 30\nwrap_up_seconds = 30\nstrategy = \"longest-idle\"\n\
             max_wait_action = \"overflow\"\noverflow_queue = \"general\"",
            1,
        )
    });
    // Only 1003 is free: no accounts skill, but general.
    c.agent("1003", AgentCommand::Available);
    let p = c.call();
    assert!(c.parties[p].phones.is_empty());
    c.advance(31_000);
    let queues: Vec<String> = c.parties[p]
        .log
        .iter()
        .filter_map(|k| match k {
            EventKind::Queued { queue, .. } => Some(queue.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(queues, vec!["accounts".to_string(), "general".to_string()]);
    assert!(c.ringing(p, "1003").is_some(), "general's agent takes it");
}

/// The engine's ring timeout fires while the agent's 200 OK is already on its way: the
/// session sees the answer before the `Rescinded` notice (the shell's `select!` takes
/// whichever is ready). The router refuses the `Answer` (the offer is gone) but the session
/// bridges the caller anyway, and the router drops the contact's notice channel.
#[test]

fn an_answer_racing_the_ring_timeout_keeps_engine_and_session_agreed() {
    let mut c = Centre::new(|t| {
        t.replacen(
            "service_numbers = [\"95588\"]",
            "service_numbers = [\"95588\"]\nring_timeout_seconds = 10",
            1,
        )
    });
    c.agent("1001", AgentCommand::Available);
    let p = c.call();
    let ring = c.ringing(p, "1001").expect("rung");
    // The router's timer fires at 10 s; its notice waits in the session's channel.
    c.now += 10_000;
    c.router.handle_timeout(Instant::from_millis(c.now));
    // The phone's answer is handled first.
    c.input(p, Input::AgentAnswered { ring });
    let talking = c.parties[p]
        .log
        .iter()
        .any(|k| matches!(k, EventKind::Answered { .. }));
    // Whatever the session decides, the engine must agree with it.
    if talking {
        assert_eq!(
            c.state("1001"),
            AgentState::Busy,
            "the session bridged the caller with 1001, but the engine has 1001 free"
        );
    }
    // Later: the engine must not offer the (connected) contact to anybody again.
    c.advance(30_000);
    assert_ne!(
        c.state("1001"),
        AgentState::Offered,
        "offered a contact the session is already talking on"
    );
    c.input(p, Input::CallerGone);
    assert_eq!(
        c.router.engine().live_contacts(),
        0,
        "the contact is gone from the engine once the call ended"
    );
}

#[test]
fn an_agent_added_live_is_rung_for_the_waiting_caller_and_removed_once_free() {
    let mut c = Centre::new(|t| t);
    let p = c.call();
    assert!(c.parties[p].phones.is_empty(), "nobody is logged in");
    let added = c.admin(|done| RouterCmd::AddAgent {
        extension: "2001".into(),
        name: "周杰".into(),
        skills: [("accounts".to_string(), 5)].into(),
        capacity: Default::default(),
        done,
    });
    assert_eq!(added, Ok(()));
    assert_eq!(c.state("2001"), AgentState::LoggedOut);
    c.agent("2001", AgentCommand::Available);
    assert!(c.ringing(p, "2001").is_some(), "the new agent is rung");
    c.answer(p, "2001");
    assert_eq!(c.state("2001"), AgentState::Busy);
    let remove = |c: &mut Centre| {
        c.admin(|done| RouterCmd::RemoveAgent {
            extension: "2001".into(),
            done,
        })
    };
    assert!(matches!(remove(&mut c), Err(e) if e.starts_with("busy")));
    assert_eq!(c.state("2001"), AgentState::Busy, "the call goes on");
    c.input(p, Input::CallerGone);
    assert_eq!(c.ended(p), vec![EndReason::CallerHangup]);
    assert_eq!(remove(&mut c), Ok(()));
    assert_eq!(c.router.engine().agent_id("2001"), None);
    // The next caller waits: nobody rings, however long.
    let q = c.call();
    c.advance(60_000);
    assert!(c.parties[q].phones.is_empty());
}
