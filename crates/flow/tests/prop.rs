//! Random inputs and time advances: no panic, nothing after the end, timers in the future.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use hotline_flow::*;
use proptest::prelude::*;

const EXTRA: &str = r#"
# Uses the demo's `office` schedule (Asia/Shanghai, 08:00-20:00, holidays from 1 October).
[flows.bank]
start = "account"

[flows.bank.steps.account]
type = "collect"
prompts = ["enter_account"]
into = "account"
min_len = 2
max_len = 6
next = "find"
on_failure = "bye"

[flows.bank.steps.find]
type = "lookup"
account_var = "account"
next = "pin"
not_found = "route"

[flows.bank.steps.pin]
type = "authenticate"
prompts = ["enter_pin"]
account_var = "account"
pin_min_len = 2
pin_max_len = 4
max_attempts = 2
next = "route"
on_failure = "bye"

[flows.bank.steps.route]
type = "branch"
rules = [
    { open = "office", vip = true, goto = "survey" },
    { holiday = "office", goto = "offer" },
    { queue = "general", wait_over_secs = 100, goto = "offer" },
    { var = "account", equals = "12", goto = "transfer" },
]
else = "queue"

[flows.bank.steps.offer]
type = "callback"
queue = "general"
on_declined = "queue"

[flows.bank.steps.transfer]
type = "transfer"
to = "2000"

[flows.bank.steps.survey]
type = "survey"
next = "queue"

[flows.bank.steps.queue]
type = "enqueue"
queue = "general"
announce_every_secs = 7
callback_digit = "*"

[flows.bank.steps.bye]
type = "hangup"
prompts = ["goodbye"]
"#;

fn flows() -> Arc<FlowSet> {
    let text = format!("{DEMO_FLOWS}\n{EXTRA}");
    Arc::new(FlowSet::from_toml(&text).expect("valid"))
}

#[derive(Debug, Clone)]
enum Op {
    Digit(char),
    /// The latest play ends (or, with `stale`, an older one is reported).
    Played {
        stale: bool,
    },
    Lookup(Option<(bool, bool, bool)>),
    Auth(bool),
    Update(u32, u64),
    Stats(u32, u64),
    CallbackAccepted,
    CallbackDeclined,
    Answered,
    CallerHangup,
    /// Jump to the armed timer (or past it) and fire it.
    Timeout {
        late_ms: u64,
    },
    /// An early or spurious timeout call.
    EarlyTimeout,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::sample::select(vec!['0', '1', '2', '5', '9', '*', '#', 'A', 'x', ' '])
            .prop_map(Op::Digit),
        6 => any::<bool>().prop_map(|stale| Op::Played { stale }),
        2 => prop::option::of((any::<bool>(), any::<bool>(), any::<bool>())).prop_map(Op::Lookup),
        2 => any::<bool>().prop_map(Op::Auth),
        2 => (0u32..50, 0u64..100_000).prop_map(|(p, w)| Op::Update(p, w)),
        1 => (0u32..50, 0u64..1000).prop_map(|(n, w)| Op::Stats(n, w)),
        1 => Just(Op::CallbackAccepted),
        1 => Just(Op::CallbackDeclined),
        1 => Just(Op::Answered),
        1 => Just(Op::CallerHangup),
        5 => (0u64..3000).prop_map(|late_ms| Op::Timeout { late_ms }),
        1 => Just(Op::EarlyTimeout),
    ]
}

fn customer(vip: bool, repeat: bool, on_file: bool) -> Customer {
    Customer {
        id: "C1".into(),
        name: "n".into(),
        vip,
        language: if repeat { Some("en".into()) } else { None },
        repeat_complaint: repeat,
        accounts: vec!["12".into(), "123".into()],
        phones: if on_file { vec!["555".into()] } else { vec![] },
    }
}

struct Checker {
    finished: bool,
    hung_up: bool,
    finishes: usize,
    last_play: Option<PlayId>,
    plays: Vec<PlayId>,
    pin_checks: usize,
}

impl Checker {
    fn take(&mut self, run: &mut FlowRun, now: u64) -> Result<(), TestCaseError> {
        while let Some(a) = run.poll_action() {
            prop_assert!(!self.finished, "action after Finished: {a:?}");
            if self.hung_up {
                prop_assert!(
                    matches!(a, FlowAction::Finished { .. }),
                    "action after Hangup: {a:?}"
                );
            }
            match &a {
                FlowAction::Finished { .. } => {
                    self.finished = true;
                    self.finishes += 1;
                }
                FlowAction::Hangup { .. } => self.hung_up = true,
                FlowAction::VerifyPin { .. } => self.pin_checks += 1,
                FlowAction::Play { id, .. } => {
                    if let Some(prev) = self.last_play {
                        prop_assert!(*id > prev, "play ids increase");
                    }
                    self.last_play = Some(*id);
                    self.plays.push(*id);
                }
                _ => {}
            }
        }
        if let Some(t) = run.poll_timeout() {
            prop_assert!(t.0 > now, "timer {t:?} not after now {now}");
            prop_assert!(!self.finished, "timer armed after Finished");
        }
        prop_assert_eq!(run.is_finished(), self.finished);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn random_inputs_keep_the_invariants(
        flow in prop::sample::select(vec!["main", "survey", "bank", "abusive_end", "voicemail"]),
        fault in any::<bool>(),
        hour in 0u32..24,
        holiday in any::<bool>(),
        caller in prop::sample::select(vec!["555", "666"]),
        start in 0u64..1_000_000,
        ops in prop::collection::vec(((0u64..8000), op()), 0..80),
    ) {
        let day = if holiday { 1 } else { 2 };
        let wall = Utc.with_ymd_and_hms(2026, 10, day, hour, 0, 0).unwrap();
        let mut ctx = CallContext::new(caller, "95588", wall);
        ctx.fault_notice = fault;
        let flows = flows();
        let mut run = FlowRun::new(flows, flow, ctx, Instant(start)).unwrap();
        let mut now = start;
        let mut ck = Checker { finished: false, hung_up: false, finishes: 0, last_play: None, plays: vec![], pin_checks: 0 };
        ck.take(&mut run, now)?;
        for (dt, op) in ops {
            now += dt;
            let at = Instant(now);
            match op {
                Op::Digit(d) => run.handle(at, FlowInput::Digit(d)),
                Op::Played { stale } => {
                    let id = if stale {
                        ck.plays.first().copied().unwrap_or(PlayId(0))
                    } else {
                        ck.last_play.unwrap_or(PlayId(0))
                    };
                    run.handle(at, FlowInput::PlaybackFinished(id));
                }
                Op::Lookup(c) => run.handle(
                    at,
                    FlowInput::LookupResult(c.map(|(v, r, f)| customer(v, r, f))),
                ),
                Op::Auth(ok) => run.handle(at, FlowInput::AuthResult(ok)),
                Op::Update(position, estimated_wait_secs) => run.handle(
                    at,
                    FlowInput::QueueUpdate { position, estimated_wait_secs },
                ),
                Op::Stats(waiting, estimated_wait_secs) => run.handle(
                    at,
                    FlowInput::QueueStats {
                        queue: "general".into(),
                        stats: QueueStats { waiting, estimated_wait_secs },
                    },
                ),
                Op::CallbackAccepted => run.handle(at, FlowInput::CallbackAccepted),
                Op::CallbackDeclined => run.handle(at, FlowInput::CallbackDeclined),
                Op::Answered => run.handle(at, FlowInput::Answered { agent: "1001".into() }),
                Op::CallerHangup => run.handle(at, FlowInput::CallerHangup),
                Op::Timeout { late_ms } => {
                    if let Some(t) = run.poll_timeout() {
                        now = now.max(t.0 + late_ms);
                        run.handle_timeout(Instant(now));
                    }
                }
                Op::EarlyTimeout => run.handle_timeout(at),
            }
            ck.take(&mut run, now)?;
        }
        prop_assert!(ck.finishes <= 1);
        // Whatever state it is in, a caller hang-up ends it at once.
        if !ck.finished {
            run.handle(Instant(now), FlowInput::CallerHangup);
            ck.take(&mut run, now)?;
            prop_assert!(ck.finished);
            prop_assert_eq!(ck.finishes, 1);
        }
        // And nothing more happens.
        run.handle(Instant(now + 1), FlowInput::Digit('1'));
        run.handle_timeout(Instant(now + 1_000_000));
        prop_assert!(run.poll_action().is_none());
        prop_assert!(run.poll_timeout().is_none());
    }

    /// With a shell that reports every play and fires every timer, whatever the caller keys,
    /// the main flow puts the call in a queue (it never gets stuck in the IVR).
    #[test]
    fn demo_main_always_reaches_a_queue(
        customer_kind in prop::option::of((any::<bool>(), any::<bool>(), any::<bool>())),
        keys in prop::collection::vec(prop::option::of(prop::sample::select(vec!['0', '1', '2', '3', '9', '*', '#'])), 0..30),
    ) {
        let wall = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let mut run = FlowRun::new(flows(), "main", CallContext::new("555", "95588", wall), Instant::ZERO).unwrap();
        let mut now = 0u64;
        run.handle(Instant(now), FlowInput::LookupResult(customer_kind.map(|(v, r, f)| customer(v, r, f))));
        let mut last_play = None;
        let mut reported = None;
        let mut queued = None;
        let step = |run: &mut FlowRun, last_play: &mut Option<PlayId>, queued: &mut Option<String>| {
            while let Some(a) = run.poll_action() {
                match a {
                    FlowAction::Play { id, .. } => *last_play = Some(id),
                    FlowAction::Enqueue { queue, .. } => *queued = Some(queue),
                    _ => {}
                }
            }
        };
        step(&mut run, &mut last_play, &mut queued);
        let cooperative = std::iter::repeat_n(None, 40);
        for key in keys.into_iter().chain(cooperative) {
            if queued.is_some() {
                break;
            }
            now += 500;
            match key {
                Some(d) => run.handle(Instant(now), FlowInput::Digit(d)),
                None if last_play != reported => {
                    reported = last_play;
                    if let Some(id) = last_play {
                        run.handle(Instant(now), FlowInput::PlaybackFinished(id));
                    }
                }
                None => {
                    if let Some(t) = run.poll_timeout() {
                        now = now.max(t.0);
                        run.handle_timeout(Instant(now));
                    }
                }
            }
            step(&mut run, &mut last_play, &mut queued);
        }
        let queue = queued.expect("the caller reached a queue");
        prop_assert!(["accounts", "cards", "complaints", "general"].contains(&queue.as_str()));
        prop_assert!(!run.is_finished());
    }

    /// Whatever the caller keys and whatever the PIN checks answer, there are at most
    /// `max_attempts` (2) checks, and a caller who never gets a yes never gets past the step.
    #[test]
    fn pin_lockout_holds(
        ops in prop::collection::vec(
            prop_oneof![
                6 => prop::sample::select(vec!['1', '2', '3', '#']).prop_map(Some),
                2 => Just(None),
            ],
            0..60,
        ),
        answers in prop::collection::vec(any::<bool>(), 2),
        timeouts in prop::collection::vec(any::<bool>(), 60),
    ) {
        let wall = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let mut run = FlowRun::new(flows(), "bank", CallContext::new("666", "95588", wall), Instant::ZERO).unwrap();
        let mut now = 0u64;
        let mut last_play = None;
        let mut checks = 0usize;
        let mut yes = false;
        let mut authenticated = None;
        let mut drain = |run: &mut FlowRun, last_play: &mut Option<PlayId>| {
            let mut verify = false;
            while let Some(a) = run.poll_action() {
                match a {
                    FlowAction::Play { id, .. } => *last_play = Some(id),
                    FlowAction::VerifyPin { .. } => verify = true,
                    FlowAction::SetVariable { name, value } if name == "authenticated" => {
                        authenticated = Some(value)
                    }
                    _ => {}
                }
            }
            verify
        };
        drain(&mut run, &mut last_play);
        // Account "12", found, not calling from a number on file.
        for d in ['1', '2', '#'] {
            now += 100;
            run.handle(Instant(now), FlowInput::Digit(d));
        }
        drain(&mut run, &mut last_play);
        run.handle(Instant(now), FlowInput::LookupResult(Some(customer(false, false, false))));
        drain(&mut run, &mut last_play);
        for (i, op) in ops.into_iter().enumerate() {
            now += 200;
            match op {
                Some(d) => run.handle(Instant(now), FlowInput::Digit(d)),
                None if timeouts[i] => {
                    if let Some(t) = run.poll_timeout() {
                        now = t.0;
                        run.handle_timeout(t);
                    }
                }
                None => {
                    if let Some(id) = last_play {
                        run.handle(Instant(now), FlowInput::PlaybackFinished(id));
                    }
                }
            }
            if drain(&mut run, &mut last_play) {
                checks += 1;
                prop_assert!(checks <= 2, "more than max_attempts PIN checks");
                let ok = answers[checks - 1];
                yes |= ok;
                now += 50;
                run.handle(Instant(now), FlowInput::AuthResult(ok));
                drain(&mut run, &mut last_play);
            }
        }
        match authenticated.as_deref() {
            Some("true") => prop_assert!(yes, "authenticated without a yes"),
            Some("false") => prop_assert!(!yes, "locked out after a yes"),
            _ => {}
        }
        prop_assert!(checks <= 2);
    }

    #[test]
    fn time_going_backwards_is_harmless(
        ops in prop::collection::vec((0u64..20_000, any::<bool>()), 1..40),
    ) {
        let flows = flows();
        let wall = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let mut run = FlowRun::new(flows, "main", CallContext::new("1", "95588", wall), Instant(50_000)).unwrap();
        run.handle(Instant(50_001), FlowInput::LookupResult(None));
        let mut latest = 50_001u64;
        let mut last_play = None;
        for (t, fire) in ops {
            while let Some(a) = run.poll_action() {
                if let FlowAction::Play { id, .. } = a { last_play = Some(id); }
            }
            latest = latest.max(t);
            if fire {
                run.handle_timeout(Instant(t));
            } else if let Some(id) = last_play {
                run.handle(Instant(t), FlowInput::PlaybackFinished(id));
            }
            if let Some(dl) = run.poll_timeout() {
                prop_assert!(dl.0 > latest.max(50_001));
            }
        }
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in ".{0,400}") {
        if let Ok(set) = FlowSet::from_toml_unchecked(&text) {
            let _ = set.validate();
        }
        if let Err(e) = FlowSet::from_toml(&text) {
            let _ = e.to_string();
        }
    }

    #[test]
    fn parsing_mutated_demo_never_panics(cut in 0usize..4000, insert in "[a-z =\\[\\]\"\n0-9.]{0,12}") {
        let mut text = DEMO_FLOWS.to_string();
        let at = text.char_indices().map(|(i, _)| i).nth(cut % DEMO_FLOWS.chars().count()).unwrap_or(0);
        text.insert_str(at, &insert);
        if let Err(e) = FlowSet::from_toml(&text) {
            let _ = e.to_string();
        }
        if let Ok(set) = FlowSet::from_toml_unchecked(&text) {
            let _ = set.validate();
            for name in set.flows.keys() {
                let ctx = CallContext::new("1", "2", Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
                let mut run = FlowRun::new(Arc::new(set.clone()), name, ctx, Instant::ZERO).unwrap();
                run.handle(Instant(1), FlowInput::LookupResult(None));
                run.handle(Instant(2), FlowInput::Digit('1'));
                while run.poll_action().is_some() {}
            }
        }
    }
}
