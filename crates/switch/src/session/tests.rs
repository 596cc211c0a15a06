//! The call session's core in virtual time: no sockets, no clock. Each test plays the
//! phones, the media engine and the router towards one [`Call`] and checks what it asks for.

use std::sync::Arc;

use hotline_flow::{FlowSet, Instant};
use hotline_model::{EndReason, EventKind};

use super::TransferTarget;
use super::call::{Call, Command, Destination, Input, LegRef, Recording, Request, Setup};
use crate::numbers::Route;
use crate::router::{Notice, Refusal};

const FLOWS: &str = r#"
[flows.main]
start = "q"

[flows.main.steps.q]
type = "enqueue"
queue = "accounts"
prompts = []
hold_music = true
announce_every_secs = 30
callback_digit = "1"
after_call = "survey"

[flows.ivr]
start = "menu"

[flows.ivr.steps.menu]
type = "menu"
prompts = ["menu"]
options = { "1" = "q" }
timeout_secs = 5
retries = 1
on_timeout = "q"
default = "q"

[flows.ivr.steps.q]
type = "enqueue"
queue = "accounts"
prompts = []

[flows.skilled]
start = "set"

[flows.skilled.steps.set]
type = "set"
priority_add = 7
skills = { mortgage = 5 }
preferred_skills = ["expert"]
next = "q"

[flows.skilled.steps.q]
type = "enqueue"
queue = "accounts"
prompts = []

[flows.out]
start = "t"

[flows.out.steps.t]
type = "transfer"
to = "+8613800000000"

[flows.to_queue]
start = "t"

[flows.to_queue.steps.t]
type = "transfer"
to = "cards"

[flows.to_agent]
start = "t"

[flows.to_agent.steps.t]
type = "transfer"
to = "1002"

[flows.to_nowhere]
start = "t"

[flows.to_nowhere.steps.t]
type = "transfer"
to = "no-such-place"

[flows.by_account]
start = "ask"

[flows.by_account.steps.ask]
type = "collect"
prompts = ["enter_account"]
into = "account"
min_len = 6
max_len = 6
next = "look"
on_failure = "q"

[flows.by_account.steps.look]
type = "lookup"
account_var = "account"
next = "q"

[flows.by_account.steps.q]
type = "enqueue"
queue = "accounts"
prompts = []

[flows.survey]
start = "ask"

[flows.survey.steps.ask]
type = "survey"
prompts = ["survey"]
max_score = 5
into = "score"
next = "bye"

[flows.survey.steps.bye]
type = "hangup"
prompts = ["goodbye"]

[flows.abusive_end]
start = "end"

[flows.abusive_end.steps.end]
type = "hangup"
prompts = ["abusive_end"]
reason = "abusive"

[flows.voicemail]
start = "record"

[flows.voicemail.steps.record]
type = "voicemail"
queue = "general"
"#;

/// One call driven in virtual time, with everything it asked for so far.
struct Harness {
    call: Call,
    now: Instant,
    /// Every command since the last [`Harness::take`].
    out: Vec<Command>,
}

fn resolver(to: &str) -> Option<Destination> {
    match to {
        "cards" | "accounts" => Some(Destination::Queue(to.to_string())),
        "1002" => Some(Destination::Agent {
            extension: "1002".into(),
            queue: "general".into(),
        }),
        "95588" => Some(Destination::Flow("main".into())),
        t if t
            .trim_start_matches('+')
            .bytes()
            .all(|b| b.is_ascii_digit()) =>
        {
            Some(Destination::External(t.to_string()))
        }
        _ => None,
    }
}

impl Harness {
    fn with(route: Route, senior: &str, can_call_out: bool) -> Harness {
        let flows = Arc::new(FlowSet::from_toml(FLOWS).expect("test flows are valid"));
        let setup = Setup {
            from: "13900000001".into(),
            to: "95588".into(),
            route,
            flows,
            resolve: Arc::new(resolver),
            senior_skill: senior.into(),
            can_call_out,
            fault_notice: false,
            wall_clock: chrono::DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z")
                .unwrap()
                .into(),
        };
        let now = Instant::from_secs(1000);
        let call = Call::new(setup, now).expect("the call starts");
        let mut h = Harness {
            call,
            now,
            out: Vec::new(),
        };
        h.drain();
        h
    }

    fn flow(name: &str) -> Harness {
        Harness::with(Route::Flow(name.into()), "senior", true)
    }

    /// Takes every command; the router (played here; `routed_tests` has the real one)
    /// takes every answer.
    fn drain(&mut self) {
        while let Some(c) = self.call.poll_command() {
            if let Command::Answer { ring, .. } = &c {
                let ring = *ring;
                self.out.push(c);
                self.call.handle(
                    self.now,
                    Input::AnswerTaken {
                        ring,
                        result: Ok(()),
                    },
                );
                continue;
            }
            self.out.push(c);
        }
    }

    fn input(&mut self, i: Input) -> &mut Self {
        self.call.handle(self.now, i);
        self.drain();
        self
    }

    /// Moves virtual time on by `ms`, firing every timer due on the way.
    fn advance(&mut self, ms: u64) -> &mut Self {
        let until = self.now.plus_millis(ms);
        while let Some(t) = self.call.poll_timeout().filter(|t| *t <= until) {
            self.now = t.max(self.now);
            self.call.handle_timeout(self.now);
            self.drain();
        }
        self.now = until;
        self
    }

    fn take(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.out)
    }

    fn offer(&mut self, agent: &str) -> u32 {
        self.input(Input::Notice(Notice::Offer {
            agent: agent.into(),
            callback: false,
        }));
        self.out
            .iter()
            .rev()
            .find_map(|c| match c {
                Command::RingAgent { ring, agent: a, .. } if a == agent => Some(*ring),
                _ => None,
            })
            .expect("the agent is rung")
    }

    /// Queued in `accounts`, agent `1001` answered on leg `ring`.
    fn talking() -> (Harness, u32) {
        let mut h = Harness::flow("main");
        let ring = h.offer("1001");
        h.input(Input::AgentAnswered { ring });
        (h, ring)
    }
}

fn logged(cmds: &[Command]) -> Vec<EventKind> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Log(k) | Command::Note(k) => Some(k.clone()),
            _ => None,
        })
        .collect()
}

fn kinds(cmds: &[Command]) -> Vec<&'static str> {
    logged(cmds).iter().map(|k| k.name()).collect()
}

fn ended(cmds: &[Command]) -> Vec<EndReason> {
    logged(cmds)
        .into_iter()
        .filter_map(|k| match k {
            EventKind::Ended { reason } => Some(reason),
            _ => None,
        })
        .collect()
}

fn has(cmds: &[Command], want: &Command) -> bool {
    cmds.contains(want)
}

fn count(cmds: &[Command], pred: impl Fn(&Command) -> bool) -> usize {
    cmds.iter().filter(|c| pred(c)).count()
}

#[test]
fn a_caller_is_queued_with_the_queues_name_and_waits_on_hold() {
    let mut h = Harness::flow("main");
    let out = h.take();
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::Arrive { queue, .. } if queue == "accounts")),
        "{out:?}"
    );
    assert!(kinds(&out).contains(&"queued"));
    assert!(has(&out, &Command::HoldMusic), "{out:?}");
}

#[test]
fn the_session_has_no_ring_timer_of_its_own_the_engines_ring_out_ends_the_ring() {
    let mut h = Harness::flow("main");
    let ring = h.offer("1001");
    h.take();
    // Ten minutes of ringing: only the routing engine's (per-queue) ring timeout may stop
    // it, so a ring timeout above any built-in value takes effect.
    h.advance(600_000);
    let out = h.take();
    assert!(
        !out.iter()
            .any(|c| matches!(c, Command::HangupAgent { .. } | Command::Reject { .. })),
        "the session stopped the ring by itself: {out:?}"
    );
    // The engine's ring timeout: the phone stops, the log says why, the engine is not
    // told again (it counted the missed offer itself).
    h.input(Input::Notice(Notice::Rescinded {
        agent: "1001".into(),
        rang_out: true,
    }));
    let out = h.take();
    assert!(has(&out, &Command::HangupAgent { ring }), "{out:?}");
    assert!(
        logged(&out).contains(&EventKind::OfferRejected {
            agent: hotline_model::AgentId::new("1001"),
            reason: "no answer".into()
        }),
        "{out:?}"
    );
    assert_eq!(count(&out, |c| matches!(c, Command::Reject { .. })), 0);
    // The caller still waits; the next offer rings again.
    let ring2 = h.offer("1001");
    assert_ne!(ring, ring2);
}

#[test]
fn an_offer_withdrawn_by_the_engine_is_hung_up_without_an_offer_rejected() {
    let mut h = Harness::flow("main");
    let ring = h.offer("1001");
    h.take();
    h.input(Input::Notice(Notice::Rescinded {
        agent: "1001".into(),
        rang_out: false,
    }));
    let out = h.take();
    assert!(has(&out, &Command::HangupAgent { ring }));
    assert!(!kinds(&out).contains(&"offer_rejected"), "{out:?}");
}

#[test]
fn a_phone_that_declines_or_misses_is_reported_to_the_engine_with_which_it_was() {
    let mut h = Harness::flow("main");
    let ring = h.offer("1001");
    h.take();
    h.input(Input::AgentFailed {
        ring,
        reason: "rejected 486".into(),
        refusal: Refusal::Declined,
    });
    let out = h.take();
    assert!(has(
        &out,
        &Command::Reject {
            agent: "1001".into(),
            refusal: Refusal::Declined
        }
    ));
    assert!(kinds(&out).contains(&"offer_rejected"));
    let ring = h.offer("1002");
    h.take();
    h.input(Input::AgentFailed {
        ring,
        reason: "not registered".into(),
        refusal: Refusal::Missed,
    });
    assert!(has(
        &h.take(),
        &Command::Reject {
            agent: "1002".into(),
            refusal: Refusal::Missed
        }
    ));
}

#[test]
fn ring_all_rings_every_phone_and_the_first_answer_hangs_up_the_others() {
    let mut h = Harness::flow("main");
    let a = h.offer("1001");
    let b = h.offer("1002");
    let c = h.offer("1003");
    assert_eq!(
        [a, b, c]
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        3,
        "each phone is a leg of its own"
    );
    h.take();
    h.input(Input::AgentAnswered { ring: b });
    let out = h.take();
    assert!(has(&out, &Command::HangupAgent { ring: a }), "{out:?}");
    assert!(has(&out, &Command::HangupAgent { ring: c }), "{out:?}");
    assert!(!has(&out, &Command::HangupAgent { ring: b }));
    assert!(has(
        &out,
        &Command::Answer {
            ring: b,
            agent: "1002".into()
        }
    ));
    assert!(has(&out, &Command::Bridge(LegRef::Agent(b))));
    assert!(has(
        &out,
        &Command::Record {
            what: Recording::Call,
            with: Some(LegRef::Agent(b))
        }
    ));
    // The engine's rescinds then find nothing; a phone that answers too late is hung up
    // and never bridged.
    h.input(Input::Notice(Notice::Rescinded {
        agent: "1001".into(),
        rang_out: false,
    }));
    h.input(Input::AgentAnswered { ring: c });
    let out = h.take();
    assert!(has(&out, &Command::HangupAgent { ring: c }));
    assert!(
        !out.iter().any(|x| matches!(x, Command::Bridge(_))),
        "{out:?}"
    );
    assert!(!out.iter().any(|x| matches!(x, Command::Answer { .. })));
}

#[test]
fn a_caller_hanging_up_while_phones_ring_is_an_abandon_and_every_phone_stops() {
    let mut h = Harness::flow("main");
    let a = h.offer("1001");
    let b = h.offer("1002");
    h.take();
    h.advance(12_000);
    h.input(Input::CallerGone);
    let out = h.take();
    assert!(has(&out, &Command::Abandon));
    assert!(logged(&out).contains(&EventKind::Abandoned { wait_secs: 12.0 }));
    assert_eq!(ended(&out), vec![EndReason::Abandoned]);
    for ring in [a, b] {
        assert!(has(&out, &Command::HangupAgent { ring }));
    }
    assert_eq!(
        count(&out, |c| matches!(
            c,
            Command::Reject {
                refusal: Refusal::Failed,
                ..
            }
        )),
        2
    );
    assert!(
        !has(&out, &Command::HangupCaller),
        "the caller is gone already"
    );
    assert!(h.call.is_over());
    // An agent answering now gets a BYE; nothing else happens.
    h.input(Input::AgentAnswered { ring: a });
    assert_eq!(h.take(), vec![Command::HangupAgent { ring: a }]);
}

#[test]
fn a_caller_hanging_up_in_the_ivr_is_no_abandon() {
    let mut h = Harness::flow("ivr");
    let out = h.take();
    assert!(!out.iter().any(|c| matches!(c, Command::Arrive { .. })));
    h.input(Input::CallerGone);
    let out = h.take();
    assert_eq!(ended(&out), vec![EndReason::CallerHangup]);
    assert!(!has(&out, &Command::Abandon));
    assert!(!kinds(&out).contains(&"abandoned"));
}

#[test]
fn hang_ups_crossing_end_the_call_once_and_free_the_agent_once() {
    let (mut h, ring) = Harness::talking();
    h.take();
    // Glare: both phones hang up at once.
    h.input(Input::AgentGone { ring });
    h.input(Input::CallerGone);
    let out = h.take();
    assert_eq!(ended(&out).len(), 1, "{out:?}");
    assert_eq!(count(&out, |c| matches!(c, Command::End { .. })), 1);
    // The other order.
    let (mut h, ring) = Harness::talking();
    h.take();
    h.input(Input::CallerGone);
    h.input(Input::AgentGone { ring });
    let out = h.take();
    assert_eq!(ended(&out), vec![EndReason::CallerHangup]);
    assert_eq!(count(&out, |c| matches!(c, Command::End { .. })), 1);
    assert!(has(&out, &Command::HangupAgent { ring }));
}

#[test]
fn the_agent_hanging_up_leads_the_caller_to_the_survey() {
    let (mut h, ring) = Harness::talking();
    h.take();
    h.input(Input::AgentGone { ring });
    let out = h.take();
    assert!(has(&out, &Command::StopRecording));
    assert_eq!(count(&out, |c| matches!(c, Command::End { .. })), 1);
    assert!(
        out.iter().any(|c| matches!(c, Command::Play { prompts, .. }
            if prompts.contains(&hotline_flow::PromptItem::prompt("survey")))),
        "{out:?}"
    );
    assert!(ended(&out).is_empty());
    h.input(Input::CallerDigit('5'));
    let out = h.take();
    assert!(logged(&out).contains(&EventKind::Surveyed { score: 5 }));
}

#[test]
fn a_transfer_asked_while_the_agent_still_rings_is_refused_and_the_ring_goes_on() {
    let mut h = Harness::flow("main");
    let ring = h.offer("1001");
    h.take();
    h.input(Input::Api {
        id: 7,
        request: Request::Transfer(TransferTarget::Queue("cards".into())),
    });
    let out = h.take();
    assert_eq!(
        out,
        vec![Command::Reply {
            id: 7,
            result: Err("nobody is talking to the caller".into())
        }]
    );
    h.input(Input::AgentAnswered { ring });
    assert!(has(&h.take(), &Command::Bridge(LegRef::Agent(ring))));
}

#[test]
fn a_blind_transfer_frees_the_agent_and_queues_the_caller_for_the_colleague_first() {
    let (mut h, ring) = Harness::talking();
    h.take();
    h.input(Input::AgentRefer {
        ring,
        target: Some(TransferTarget::Agent("1002".into())),
    });
    let out = h.take();
    assert_eq!(
        out.first(),
        Some(&Command::NotifyRefer { ring, status: 200 })
    );
    assert!(has(&out, &Command::HangupAgent { ring }));
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::End { abusive: false, .. }))
    );
    assert!(kinds(&out).contains(&"transferred"));
    assert!(out.iter().any(|c| matches!(c,
        Command::Arrive { queue, preferred_agent: Some(p), .. } if queue == "accounts" && p == "1002")));
    // An unknown target: 404 and nothing else.
    let (mut h, ring) = Harness::talking();
    h.take();
    h.input(Input::AgentRefer { ring, target: None });
    assert_eq!(h.take(), vec![Command::NotifyRefer { ring, status: 404 }]);
}

#[test]
fn the_flows_transfer_step_dials_an_outside_number_and_bridges_it() {
    let mut h = Harness::flow("out");
    let out = h.take();
    assert!(
        logged(&out).contains(&EventKind::Transferred {
            to: hotline_model::Target::External("+8613800000000".into())
        }),
        "{out:?}"
    );
    assert!(
        has(&out, &Command::HoldMusic),
        "the caller is not left in silence"
    );
    assert!(out.iter().any(|c| matches!(c,
        Command::Dial { number, callback: false, caller_id } if number == "+8613800000000" && caller_id == "95588")));
    h.input(Input::DialPlaced {
        number: "+8613800000000".into(),
    });
    assert!(
        logged(&h.take())
            .iter()
            .any(|k| matches!(k, EventKind::FlowStep { step, .. } if step == "transfer.dial")),
        "the dial is logged once placed"
    );
    h.input(Input::DialAnswered);
    let out = h.take();
    assert!(has(&out, &Command::Bridge(LegRef::Dial)));
    assert!(has(
        &out,
        &Command::Record {
            what: Recording::Call,
            with: Some(LegRef::Dial)
        }
    ));
    // The outside party hangs up: the record closes as transferred.
    h.input(Input::DialGone);
    let out = h.take();
    assert_eq!(ended(&out), vec![EndReason::Transferred]);
    assert!(has(&out, &Command::HangupCaller));
}

#[test]
fn a_transfer_out_that_fails_or_has_no_trunk_does_not_leave_the_caller_in_silence() {
    let mut h = Harness::flow("out");
    h.take();
    h.input(Input::DialFailed {
        reason: "not answered".into(),
    });
    let out = h.take();
    assert!(
        logged(&out)
            .iter()
            .any(|k| matches!(k, EventKind::FlowStep { step, .. } if step == "transfer.failed")),
        "{out:?}"
    );
    assert_eq!(ended(&out), vec![EndReason::Error]);
    assert!(has(&out, &Command::HangupCaller));
    let mut h = Harness::with(Route::Flow("out".into()), "senior", false);
    let out = h.take();
    assert!(!out.iter().any(|c| matches!(c, Command::Dial { .. })));
    assert_eq!(ended(&out), vec![EndReason::Error]);
}

#[test]
fn the_flows_transfer_step_to_a_queue_or_an_agent_queues_the_caller() {
    let mut h = Harness::flow("to_queue");
    let out = h.take();
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::Arrive { queue, .. } if queue == "cards"))
    );
    assert!(has(&out, &Command::HoldMusic));
    let mut h = Harness::flow("to_agent");
    let out = h.take();
    assert!(out.iter().any(|c| matches!(c,
        Command::Arrive { queue, preferred_agent: Some(a), .. } if queue == "general" && a == "1002")));
    let mut h = Harness::flow("to_nowhere");
    let out = h.take();
    assert_eq!(ended(&out), vec![EndReason::Error]);
}

#[test]
fn the_flows_skills_and_priority_reach_the_engine_and_the_configured_senior_skill_escalates() {
    let mut h = Harness::with(Route::Flow("skilled".into()), "senior", true);
    let out = h.take();
    let arrive = out
        .iter()
        .find(|c| matches!(c, Command::Arrive { .. }))
        .expect("queued");
    assert_eq!(
        arrive,
        &Command::Arrive {
            queue: "accounts".into(),
            priority: 7,
            vip: false,
            escalate: false,
            preferred_agent: None,
            skills: vec![("mortgage".into(), 5)],
        }
    );
    // With `expert` as the centre's senior skill, preferring it escalates.
    let mut h = Harness::with(Route::Flow("skilled".into()), "expert", true);
    let out = h.take();
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::Arrive { escalate: true, .. }))
    );
}

#[test]
fn a_lookup_by_account_asks_for_the_account_not_the_phone() {
    let mut h = Harness::flow("by_account");
    h.take();
    h.input(Input::PlaybackFinished);
    for d in "123456".chars() {
        h.input(Input::CallerDigit(d));
    }
    let out = h.take();
    assert!(
        has(
            &out,
            &Command::Lookup(hotline_flow::LookupBy::Account("123456".into()))
        ),
        "{out:?}"
    );
}

#[test]
fn a_recording_that_fails_is_logged_and_the_call_goes_on() {
    let (mut h, ring) = Harness::talking();
    h.take();
    h.input(Input::RecordingFailed {
        path: "r/x.wav".into(),
        error: "No space left on device".into(),
    });
    let out = h.take();
    assert!(logged(&out).contains(&EventKind::RecordingFailed {
        path: "r/x.wav".into(),
        error: "No space left on device".into()
    }));
    assert!(ended(&out).is_empty());
    h.input(Input::AgentGone { ring });
    assert!(ended(&h.take()).is_empty(), "on to the survey");
}

#[test]
fn a_queued_caller_whose_media_stops_leaves_as_an_abandon_unless_holding() {
    let mut h = Harness::flow("main");
    h.take();
    h.input(Input::CallerHold(true));
    h.input(Input::Silent {
        leg: LegRef::Caller,
    });
    assert!(ended(&h.take()).is_empty(), "a phone on hold may be silent");
    h.input(Input::CallerHold(false));
    h.advance(5_000);
    h.input(Input::Silent {
        leg: LegRef::Caller,
    });
    let out = h.take();
    assert!(has(&out, &Command::Abandon));
    assert!(kinds(&out).contains(&"abandoned"));
    assert_eq!(ended(&out), vec![EndReason::Abandoned]);
    assert!(has(&out, &Command::HangupCaller));
}

#[test]
fn a_talking_agent_whose_media_stops_ends_the_call_with_media_timeout() {
    let (mut h, ring) = Harness::talking();
    h.take();
    h.input(Input::Silent {
        leg: LegRef::Agent(ring),
    });
    let out = h.take();
    assert_eq!(ended(&out), vec![EndReason::MediaTimeout]);
    assert!(has(&out, &Command::HangupAgent { ring }));
    assert!(has(&out, &Command::HangupCaller));
    assert_eq!(count(&out, |c| matches!(c, Command::End { .. })), 1);
}

#[test]
fn shutdown_ends_a_talking_call_with_bye_everywhere_and_frees_the_agent() {
    let (mut h, ring) = Harness::talking();
    h.take();
    h.input(Input::Api {
        id: 1,
        request: Request::Shutdown,
    });
    let out = h.take();
    assert_eq!(ended(&out), vec![EndReason::Shutdown]);
    assert!(has(&out, &Command::HangupAgent { ring }));
    assert!(has(&out, &Command::HangupCaller));
    assert!(has(&out, &Command::StopRecording));
    assert_eq!(count(&out, |c| matches!(c, Command::End { .. })), 1);
    assert_eq!(
        out.last(),
        Some(&Command::Reply {
            id: 1,
            result: Ok(())
        })
    );
    // A queued caller: the place is given up (not an abandon: hotline ended it).
    let mut h = Harness::flow("main");
    h.take();
    h.input(Input::Api {
        id: 2,
        request: Request::Shutdown,
    });
    let out = h.take();
    assert!(has(&out, &Command::Abandon));
    assert!(!kinds(&out).contains(&"abandoned"));
    assert_eq!(ended(&out), vec![EndReason::Shutdown]);
    assert!(h.call.is_over());
    h.input(Input::Api {
        id: 3,
        request: Request::Hangup,
    });
    assert!(matches!(
        h.take().as_slice(),
        [Command::Reply {
            id: 3,
            result: Err(_)
        }]
    ));
}

#[test]
fn the_maximum_wait_leads_to_voicemail_which_ends_after_two_minutes() {
    let mut h = Harness::flow("main");
    let ring = h.offer("1001");
    h.take();
    h.input(Input::Notice(Notice::MaxWait(
        hotline_acd::MaxWaitAction::Voicemail,
    )));
    let mut out = h.take();
    assert!(has(&out, &Command::HangupAgent { ring }), "{out:?}");
    // The mailbox's greeting, then the recording.
    if out.iter().any(|c| matches!(c, Command::Play { .. })) {
        h.input(Input::PlaybackFinished);
        out = h.take();
    }
    assert!(has(
        &out,
        &Command::Record {
            what: Recording::Voicemail {
                queue: "general".into()
            },
            with: None
        }
    ));
    h.input(Input::RecordingStarted {
        path: "r/vm.wav".into(),
    });
    assert!(kinds(&h.take()).contains(&"voicemail_left"));
    h.advance(119_000);
    assert!(ended(&h.take()).is_empty());
    h.advance(2_000);
    let out = h.take();
    assert!(has(&out, &Command::StopRecording));
    assert_eq!(ended(&out), vec![EndReason::Voicemail]);
}

#[test]
fn a_callback_keeps_the_place_then_rings_the_agent_then_the_customer() {
    let mut h = Harness::flow("main");
    h.take();
    h.input(Input::CallerDigit('1'));
    let out = h.take();
    assert!(has(&out, &Command::KeepPlace), "{out:?}");
    assert!(kinds(&out).contains(&"callback_requested"));
    // The confirmation plays, then the caller is released.
    h.input(Input::PlaybackFinished);
    let out = h.take();
    assert_eq!(ended(&out), vec![EndReason::Callback]);
    assert!(has(&out, &Command::HangupCaller));
    assert!(has(&out, &Command::NewInteraction));
    let after_new = out
        .iter()
        .skip_while(|c| **c != Command::NewInteraction)
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(kinds(&after_new)[0], "arrived");
    assert!(!h.call.is_over());
    // The agent's turn: rung, answers, then the customer is called back.
    let ring = h.offer("1001");
    h.input(Input::AgentAnswered { ring });
    let out = h.take();
    assert!(out.iter().any(|c| matches!(c,
        Command::Dial { number, callback: true, .. } if number == "13900000001")));
    assert!(!out.iter().any(|c| matches!(c, Command::Bridge(_))));
    h.input(Input::DialAnswered);
    let out = h.take();
    assert!(has(&out, &Command::Bridge(LegRef::Agent(ring))));
    // The customer hangs up: a normal end.
    h.input(Input::CallerGone);
    assert_eq!(ended(&h.take()), vec![EndReason::CallerHangup]);
}

#[test]
fn the_abusive_button_frees_the_agent_as_abusive_and_plays_the_closing_message() {
    let (mut h, ring) = Harness::talking();
    h.take();
    h.input(Input::Api {
        id: 4,
        request: Request::Abusive,
    });
    let out = h.take();
    assert!(kinds(&out).contains(&"flagged"));
    assert!(has(&out, &Command::HangupAgent { ring }));
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::End { abusive: true, .. }))
    );
    assert!(out.iter().any(|c| matches!(c, Command::Play { prompts, .. }
        if prompts.contains(&hotline_flow::PromptItem::prompt("abusive_end")))));
    h.input(Input::PlaybackFinished);
    assert_eq!(ended(&h.take()), vec![EndReason::AgentHangup]);
}

#[test]
fn a_direct_number_offers_the_agent_first() {
    let mut h = Harness::with(
        Route::Agent {
            extension: "1003".into(),
            queue: "general".into(),
        },
        "senior",
        true,
    );
    let out = h.take();
    assert!(out.iter().any(|c| matches!(c,
        Command::Arrive { queue, preferred_agent: Some(a), .. } if queue == "general" && a == "1003")));
}

#[test]
fn the_router_refusing_the_queue_ends_the_call_with_an_error() {
    let mut h = Harness::flow("main");
    h.take();
    h.input(Input::Queued(Err("no queue accounts".into())));
    let out = h.take();
    assert_eq!(ended(&out), vec![EndReason::Error]);
    assert!(has(&out, &Command::HangupCaller));
}

/// The caller pressed the callback digit; while the confirmation plays, the contact (which
/// kept its place) reaches an agent who answers, and the caller is bridged with the agent.
/// The flow ignores `Answered` while confirming, so it still thinks the caller is about to
/// be released: the end of the confirmation prompt (already on its way from the media
/// engine) books the callback and hangs the caller up in the middle of the conversation.
#[test]

fn an_agent_answering_while_the_callback_is_confirmed_keeps_the_caller_talking() {
    let mut h = Harness::flow("main");
    h.input(Input::CallerDigit('1'));
    assert!(has(&h.take(), &Command::KeepPlace));
    // The confirmation plays; the agent is offered the contact and answers.
    let ring = h.offer("1001");
    h.input(Input::AgentAnswered { ring });
    let out = h.take();
    assert!(has(&out, &Command::Bridge(LegRef::Agent(ring))), "{out:?}");
    // The confirmation's end crosses the answer.
    h.input(Input::PlaybackFinished);
    let out = h.take();
    assert!(
        ended(&out).is_empty() && !has(&out, &Command::HangupCaller),
        "the caller talking to 1001 is hung up: {out:?}"
    );
    // The agent hangs up: the caller is led to the survey like any answered caller.
    h.input(Input::AgentGone { ring });
    let out = h.take();
    assert!(
        out.iter().any(|c| matches!(c, Command::Play { prompts, .. }
            if prompts.contains(&hotline_flow::PromptItem::prompt("survey"))))
            && ended(&out).is_empty(),
        "no survey after the call: {out:?}"
    );
}

/// The caller asked for a callback and hangs up while the confirmation plays ("we will call
/// you back"), as most callers do: the flow keeps the callback (it does not dequeue while
/// confirming), but the session abandons the contact and closes the record as abandoned,
/// so the customer is never called back.
#[test]

fn a_caller_hanging_up_during_the_callback_confirmation_keeps_the_callback() {
    let mut h = Harness::flow("main");
    h.input(Input::CallerDigit('1'));
    assert!(has(&h.take(), &Command::KeepPlace));
    h.input(Input::CallerGone);
    let out = h.take();
    assert!(
        !has(&out, &Command::Abandon),
        "the place in line is given up: {out:?}"
    );
    assert_eq!(ended(&out), vec![EndReason::Callback], "{out:?}");
    assert!(!h.call.is_over(), "the callback is still to be made");
}

#[test]
fn a_flow_transferring_to_its_own_number_ends_instead_of_looping() {
    let flows = Arc::new(
        FlowSet::from_toml(
            "[flows.front]\nstart = \"t\"\n\n[flows.front.steps.t]\ntype = \"transfer\"\nto = \"95588\"\n",
        )
        .expect("valid"),
    );
    let setup = Setup {
        from: "13900000001".into(),
        to: "95588".into(),
        route: Route::Flow("front".into()),
        flows,
        resolve: Arc::new(|to: &str| (to == "95588").then(|| Destination::Flow("front".into()))),
        senior_skill: "senior".into(),
        can_call_out: true,
        fault_notice: false,
        wall_clock: chrono::DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z")
            .unwrap()
            .into(),
    };
    let mut call = Call::new(setup, Instant::from_secs(1000)).expect("starts");
    let mut out = Vec::new();
    while let Some(c) = call.poll_command() {
        out.push(c);
    }
    assert_eq!(ended(&out), vec![EndReason::Error]);
    assert!(
        logged(&out)
            .iter()
            .any(|k| matches!(k, EventKind::FlowStep { step, .. } if step == "transfer.loop")),
        "{out:?}"
    );
}

#[test]
fn an_answer_the_router_refuses_hangs_the_phone_up_and_the_caller_waits_on() {
    let mut h = Harness::flow("main");
    h.input(Input::Notice(Notice::Offer {
        agent: "1001".into(),
        callback: false,
    }));
    let ring = h
        .take()
        .iter()
        .find_map(|c| match c {
            Command::RingAgent { ring, .. } => Some(*ring),
            _ => None,
        })
        .expect("rung");
    // Play the router by hand: it refuses.
    h.call.handle(h.now, Input::AgentAnswered { ring });
    let mut out = Vec::new();
    while let Some(c) = h.call.poll_command() {
        out.push(c);
    }
    assert_eq!(
        out,
        vec![Command::Answer {
            ring,
            agent: "1001".into()
        }]
    );
    h.input(Input::AnswerTaken {
        ring,
        result: Err("contact is not offered to this agent".into()),
    });
    let out = h.take();
    assert!(has(&out, &Command::HangupAgent { ring }));
    assert!(logged(&out).contains(&EventKind::OfferRejected {
        agent: hotline_model::AgentId::new("1001"),
        reason: "answered too late".into()
    }));
    assert!(
        !out.iter().any(|c| matches!(c, Command::Bridge(_))),
        "{out:?}"
    );
    assert!(ended(&out).is_empty(), "the caller waits on");
}

#[test]
fn the_outside_party_of_a_transfer_may_hold_without_being_taken_for_dead() {
    let mut h = Harness::flow("out");
    h.input(Input::DialPlaced {
        number: "+8613800000000".into(),
    });
    h.input(Input::DialAnswered);
    h.take();
    h.input(Input::DialHold(true));
    h.input(Input::Silent { leg: LegRef::Dial });
    let out = h.take();
    assert!(kinds(&out).contains(&"held"));
    assert!(ended(&out).is_empty(), "{out:?}");
    h.input(Input::DialHold(false));
    h.input(Input::Silent { leg: LegRef::Dial });
    assert_eq!(ended(&h.take()), vec![EndReason::MediaTimeout]);
}

#[test]
fn a_refer_while_nobody_talks_is_answered_481_not_200() {
    let mut h = Harness::flow("main");
    let ring = h.offer("1001");
    h.take();
    h.input(Input::AgentRefer {
        ring,
        target: Some(TransferTarget::Queue("cards".into())),
    });
    assert_eq!(h.take(), vec![Command::NotifyRefer { ring, status: 481 }]);
}

#[test]
fn the_recording_pauses_and_resumes_during_the_conversation_and_refuses_otherwise() {
    let mut h = Harness::flow("main");
    h.take();
    // In line, nobody talks: there is no recording to pause.
    h.input(Input::Api {
        id: 1,
        request: Request::PauseRecording(true),
    });
    let out = h.take();
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::Reply { id: 1, result: Err(e) }
        if e.starts_with("no_recording: ")))
    );
    assert!(!out.iter().any(|c| matches!(c, Command::PauseRecording(_))));

    let ring = h.offer("1001");
    h.input(Input::AgentAnswered { ring });
    h.input(Input::RecordingStarted {
        path: "r/x.wav".into(),
    });
    h.take();
    h.advance(5_000);
    h.input(Input::Api {
        id: 2,
        request: Request::PauseRecording(true),
    });
    let out = h.take();
    assert!(has(&out, &Command::PauseRecording(true)));
    assert!(has(
        &out,
        &Command::Reply {
            id: 2,
            result: Ok(())
        }
    ));
    assert_eq!(kinds(&out), vec!["recording_paused"]);
    // Twice is refused, and nothing is sent to the media.
    h.advance(10_000);
    h.input(Input::Api {
        id: 3,
        request: Request::PauseRecording(true),
    });
    let out = h.take();
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::Reply { id: 3, result: Err(e) }
        if e.starts_with("already_paused: ")))
    );
    assert_eq!(count(&out, |c| matches!(c, Command::PauseRecording(_))), 0);
    h.input(Input::Api {
        id: 4,
        request: Request::PauseRecording(false),
    });
    let out = h.take();
    assert!(has(&out, &Command::PauseRecording(false)));
    assert_eq!(kinds(&out), vec!["recording_resumed"]);
    h.input(Input::Api {
        id: 5,
        request: Request::PauseRecording(false),
    });
    assert!(
        h.take()
            .iter()
            .any(|c| matches!(c, Command::Reply { id: 5, result: Err(e) }
        if e.starts_with("not_paused: ")))
    );
    // Paused again, the agent leaves: the recording stops, and the survey has none to pause.
    h.input(Input::Api {
        id: 6,
        request: Request::PauseRecording(true),
    });
    h.input(Input::AgentGone { ring });
    let out = h.take();
    assert!(has(&out, &Command::StopRecording));
    h.input(Input::Api {
        id: 7,
        request: Request::PauseRecording(false),
    });
    assert!(
        h.take()
            .iter()
            .any(|c| matches!(c, Command::Reply { id: 7, result: Err(e) }
        if e.starts_with("no_recording: ")))
    );
}

#[test]
fn a_recording_paused_before_a_transfer_runs_unpaused_with_the_next_agent() {
    let (mut h, _ring) = Harness::talking();
    h.input(Input::Api {
        id: 1,
        request: Request::PauseRecording(true),
    });
    h.input(Input::Api {
        id: 2,
        request: Request::Transfer(TransferTarget::Queue("cards".into())),
    });
    let ring = h.offer("1003");
    h.input(Input::AgentAnswered { ring });
    h.take();
    // A fresh recording with the new agent: pausing it is allowed again.
    h.input(Input::Api {
        id: 3,
        request: Request::PauseRecording(true),
    });
    assert!(has(&h.take(), &Command::PauseRecording(true)));
}

#[test]
fn a_leg_ending_means_what_the_core_knows_of_it_answered_or_not() {
    // The shell reports every agent leg's end alike; after an answer it is the agent leaving.
    let (mut h, ring) = Harness::talking();
    h.take();
    h.input(Input::AgentFailed {
        ring,
        reason: "ended".into(),
        refusal: Refusal::Missed,
    });
    let out = h.take();
    assert!(
        !out.iter().any(|c| matches!(c, Command::Reject { .. })),
        "{out:?}"
    );
    assert_eq!(count(&out, |c| matches!(c, Command::End { .. })), 1);
    // The same for the outside party of a transfer: it hung up, the record says transferred.
    let mut h = Harness::flow("out");
    h.input(Input::DialAnswered);
    h.take();
    h.input(Input::DialFailed {
        reason: "ended".into(),
    });
    assert_eq!(ended(&h.take()), vec![EndReason::Transferred]);
}

fn monitor_request(id: u64, who: &str, mode: hotline_model::MonitorMode) -> Input {
    Input::Api {
        id,
        request: Request::Monitor {
            supervisor: who.into(),
            phone: super::call::SupervisorPhone::Sip {
                extension: "1010".into(),
            },
            mode,
        },
    }
}

fn reply_err(out: &[Command], id: u64) -> Option<String> {
    out.iter().find_map(|c| match c {
        Command::Reply {
            id: i,
            result: Err(e),
        } if *i == id => Some(e.clone()),
        _ => None,
    })
}

#[test]
fn a_supervisor_monitors_switches_modes_and_takes_over_in_order() {
    use hotline_model::MonitorMode::*;
    // Not connected: refused before any phone is rung.
    let mut h = Harness::flow("main");
    h.take();
    h.input(monitor_request(1, "sup", Listen));
    let out = h.take();
    assert!(reply_err(&out, 1).is_some_and(|e| e.starts_with("not_connected: ")));
    assert!(!out.iter().any(|c| matches!(c, Command::RingMonitor { .. })));

    let (mut h, ring) = Harness::talking();
    h.take();
    h.input(monitor_request(2, "sup", Listen));
    let out = h.take();
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::RingMonitor { supervisor, .. } if supervisor == "sup"))
    );
    // No answer before the phone is rung.
    assert!(!out.iter().any(|c| matches!(c, Command::Reply { .. })));
    h.input(Input::MonitorRung(Ok(())));
    let out = h.take();
    assert_eq!(kinds(&out), vec!["monitor_started"]);
    assert!(has(
        &out,
        &Command::Reply {
            id: 2,
            result: Ok(())
        }
    ));
    // A second supervisor is refused; another mode asked by someone else too.
    h.input(monitor_request(3, "other", Barge));
    assert!(reply_err(&h.take(), 3).is_some_and(|e| e.starts_with("already_monitored: ")));
    h.input(Input::Api {
        id: 4,
        request: Request::MonitorMode {
            supervisor: "other".into(),
            mode: Barge,
        },
    });
    assert!(reply_err(&h.take(), 4).is_some_and(|e| e.starts_with("not_monitored: ")));
    // Takeover before the phone answered: refused.
    h.input(Input::Api {
        id: 5,
        request: Request::TakeOver {
            supervisor: "sup".into(),
        },
    });
    assert!(reply_err(&h.take(), 5).is_some_and(|e| e.starts_with("not_answered: ")));
    // The phone answers: the three legs are mixed as the mode says.
    h.input(Input::MonitorAnswered);
    let agent = LegRef::Agent(ring);
    assert!(has(
        &h.take(),
        &Command::Mix {
            agent,
            mode: Listen
        }
    ));
    h.input(Input::Api {
        id: 6,
        request: Request::MonitorMode {
            supervisor: "sup".into(),
            mode: Whisper,
        },
    });
    let out = h.take();
    assert_eq!(kinds(&out), vec!["monitor_mode_changed"]);
    assert!(has(
        &out,
        &Command::Mix {
            agent,
            mode: Whisper
        }
    ));
    // The agent holds and takes the caller back: the mix comes back, not a bridge.
    h.input(Input::AgentHold { ring, on: true });
    h.input(Input::AgentHold { ring, on: false });
    let out = h.take();
    assert!(has(
        &out,
        &Command::Mix {
            agent,
            mode: Whisper
        }
    ));
    assert!(!has(&out, &Command::Bridge(agent)));
    // Take over: logged first, the agent released to wrap-up, the caller bridged with the
    // supervisor, the recording following.
    h.input(Input::Api {
        id: 7,
        request: Request::TakeOver {
            supervisor: "sup".into(),
        },
    });
    let out = h.take();
    assert_eq!(kinds(&out), vec!["taken_over"]);
    let pos = |want: &Command| out.iter().position(|c| c == want).expect("command");
    assert!(pos(&Command::HangupAgent { ring }) < pos(&Command::Bridge(LegRef::Monitor)));
    assert!(has(&out, &Command::RecordWith(LegRef::Monitor)));
    assert_eq!(count(&out, |c| matches!(c, Command::End { .. })), 1);
    // The caller hangs up: the supervisor's leg ends with the call, logged before the end.
    h.input(Input::CallerGone);
    let out = h.take();
    assert_eq!(kinds(&out), vec!["monitor_stopped", "ended"]);
    assert!(has(&out, &Command::HangupMonitor));
    assert!(h.call.is_over());
}

#[test]
fn a_supervisor_hanging_up_brings_caller_and_agent_back_together() {
    use hotline_model::MonitorMode::*;
    let (mut h, ring) = Harness::talking();
    h.input(monitor_request(1, "sup", Barge));
    h.input(Input::MonitorRung(Ok(())));
    h.input(Input::MonitorAnswered);
    h.take();
    h.input(Input::MonitorGone);
    let out = h.take();
    assert_eq!(
        logged(&out),
        vec![EventKind::MonitorStopped {
            supervisor: "sup".into(),
            reason: "hangup".into()
        }]
    );
    assert!(has(&out, &Command::Bridge(LegRef::Agent(ring))));
    // A phone that cannot be rung: refused, nothing logged, another try may follow.
    h.input(monitor_request(2, "sup", Listen));
    h.input(Input::MonitorRung(Err("not registered".into())));
    let out = h.take();
    assert!(reply_err(&out, 2).is_some_and(|e| e.starts_with("phone_unavailable: ")));
    assert!(kinds(&out).is_empty());
    h.input(monitor_request(3, "sup", Listen));
    h.input(Input::MonitorRung(Ok(())));
    assert!(has(
        &h.take(),
        &Command::Reply {
            id: 3,
            result: Ok(())
        }
    ));
}

/// What the call logged of quality, in order: (type, leg, mos).
fn quality_logs(cmds: &[Command]) -> Vec<(&'static str, hotline_model::Leg, f64)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Log(k) | Command::Note(k) => Some(k),
            _ => None,
        })
        .filter_map(|k| match k {
            EventKind::QualitySample { leg, mos, .. } => Some(("quality_sample", *leg, *mos)),
            EventKind::QualityAlert { leg, mos, .. } => Some(("quality_alert", *leg, *mos)),
            EventKind::QualityRecovered { leg, mos, .. } => Some(("quality_recovered", *leg, *mos)),
            _ => None,
        })
        .collect()
}

fn live_count(cmds: &[Command]) -> usize {
    cmds.iter()
        .filter(|c| matches!(c, Command::LiveQuality { .. }))
        .count()
}

#[test]
fn quality_is_live_every_sample_and_only_alerts_and_a_sample_now_and_then_are_logged() {
    use crate::quality::LegSample;
    use hotline_model::Leg;
    let (mut h, ring) = Harness::talking();
    h.take();
    let good = LegSample::from_figures(0.0, 2.0, Some(20.0));
    let bad = LegSample::from_figures(0.2, 20.0, Some(20.0));
    // Every 5 s: good, bad (one: no alert), good, bad, bad (alert), bad, good, good (back).
    for s in [good, bad, good, bad, bad, bad, good, good] {
        h.advance(5_000);
        h.input(Input::Quality {
            leg: LegRef::Caller,
            sample: s,
        });
    }
    let out = h.take();
    assert_eq!(live_count(&out), 8, "every sample goes live");
    let logged = quality_logs(&out);
    let kinds: Vec<&str> = logged.iter().map(|l| l.0).collect();
    // Samples logged at 5 s, 20 s and 35 s (every 15 s); the alert at the 5th sample
    // (25 s), the recovery at the 8th (40 s).
    assert_eq!(
        kinds,
        [
            "quality_sample",
            "quality_sample",
            "quality_alert",
            "quality_sample",
            "quality_recovered"
        ],
        "{logged:?}"
    );
    assert!(logged.iter().all(|l| l.1 == Leg::Caller));
    assert!(logged[2].2 < 3.5 && logged[4].2 > 3.5, "{logged:?}");
    // The live sample of the alert says so.
    let alerting = out.iter().find_map(|c| match c {
        Command::LiveQuality {
            alert: true,
            change: Some(_),
            ..
        } => Some(()),
        _ => None,
    });
    assert!(alerting.is_some());
    // A browser's own figures of the agent leg (reported from outside) are the agent's,
    // folded into the engine's next sample: the worse direction, with the browser's round
    // trip.
    let fine = LegSample::from_figures(0.0, 2.0, None);
    h.input(Input::ReportedQuality {
        leg: Leg::Agent,
        sample: bad,
    });
    assert_eq!(live_count(&h.take()), 0, "a report alone is not a sample");
    h.advance(5_000);
    h.input(Input::Quality {
        leg: LegRef::Agent(ring),
        sample: fine,
    });
    let out = h.take();
    let shown = out.iter().find_map(|c| match c {
        Command::LiveQuality {
            leg: Leg::Agent,
            sample,
            ..
        } => Some(*sample),
        _ => None,
    });
    let shown = shown.expect("the agent leg's sample is live");
    assert_eq!(shown.mos, bad.mos);
    assert_eq!(shown.loss, bad.loss);
    assert_eq!(shown.rtt_ms, Some(20.0));
    // A report counts once: the next sample is the engine's alone, and one bad interval of
    // the browser's raises no alert.
    h.advance(5_000);
    h.input(Input::Quality {
        leg: LegRef::Agent(ring),
        sample: fine,
    });
    let out = h.take();
    assert!(out.iter().any(|c| matches!(
        c,
        Command::LiveQuality { leg: Leg::Agent, sample, alert: false, .. } if sample.mos == fine.mos
    )));
    // A report older than the engine's interval and a half no longer counts.
    h.input(Input::ReportedQuality {
        leg: Leg::Agent,
        sample: bad,
    });
    h.advance(10_000);
    h.input(Input::Quality {
        leg: LegRef::Agent(ring),
        sample: fine,
    });
    let out = h.take();
    assert!(out.iter().any(|c| matches!(
        c,
        Command::LiveQuality { leg: Leg::Agent, sample, .. } if sample.mos == fine.mos && sample.rtt_ms.is_none()
    )));
    // The agent hangs up: its last figures (not logged yet? the first is logged at once)
    // and the caller's are on the record at the end.
    h.input(Input::Quality {
        leg: LegRef::Agent(ring),
        sample: bad,
    });
    h.input(Input::AgentGone { ring });
    h.input(Input::CallerGone);
    let out = h.take();
    let finals = quality_logs(&out);
    assert!(
        finals
            .iter()
            .any(|l| l.0 == "quality_sample" && l.1 == Leg::Agent),
        "{finals:?}"
    );
    assert!(
        finals
            .iter()
            .any(|l| l.0 == "quality_sample" && l.1 == Leg::Caller),
        "{finals:?}"
    );
}

#[test]
fn a_ringing_phones_quality_is_not_shown() {
    let mut h = Harness::flow("main");
    let ring = h.offer("1001");
    h.take();
    h.input(Input::Quality {
        leg: LegRef::Agent(ring),
        sample: crate::quality::LegSample::from_figures(0.5, 50.0, None),
    });
    let out = h.take();
    assert_eq!(live_count(&out), 0);
    assert!(quality_logs(&out).is_empty());
}

#[test]
fn an_agents_keypad_reaches_the_caller_only_while_talking() {
    let (mut h, ring) = Harness::talking();
    h.take();
    h.input(Input::AgentDigit { ring, digit: '5' });
    assert!(has(
        &h.take(),
        &Command::SendDigit {
            leg: LegRef::Caller,
            digit: '5'
        }
    ));
    // On hold the caller hears the music, not the agent's keys.
    h.input(Input::AgentHold { ring, on: true });
    h.take();
    h.input(Input::AgentDigit { ring, digit: '6' });
    assert!(
        !h.take()
            .iter()
            .any(|c| matches!(c, Command::SendDigit { .. }))
    );
    // A leg that never answered sends nothing.
    h.input(Input::AgentHold { ring, on: false });
    h.take();
    h.input(Input::AgentDigit {
        ring: ring + 1,
        digit: '7',
    });
    assert!(
        !h.take()
            .iter()
            .any(|c| matches!(c, Command::SendDigit { .. }))
    );
}
