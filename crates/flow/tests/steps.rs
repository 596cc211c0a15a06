//! Steps the demo flow does not use, or uses only in part: authenticate, collect, callback,
//! transfer, branch rules on queues and variables, schedules, and the run-time guards.

mod common;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use common::*;
use hotline_flow::*;

const BANKING: &str = r#"
[flows.main]
start = "account"

[flows.main.steps.account]
type = "collect"
prompts = ["enter_account"]
into = "account"
min_len = 6
max_len = 10
next = "find"
on_failure = "bye"

[flows.main.steps.find]
type = "lookup"
account_var = "account"
next = "pin"
not_found = "bye"

[flows.main.steps.pin]
type = "authenticate"
prompts = ["enter_pin"]
account_var = "account"
max_attempts = 3
next = "balance"
on_failure = "locked"

[flows.main.steps.balance]
type = "play"
prompts = ["your_balance", { number_var = "balance" }, { digits_var = "account" }]
next = "bye"

[flows.main.steps.locked]
type = "hangup"
prompts = ["locked"]
reason = "locked_out"

[flows.main.steps.bye]
type = "hangup"
prompts = ["goodbye"]
"#;

fn banking(caller: &str) -> Call {
    let flows = Arc::new(FlowSet::from_toml(BANKING).unwrap());
    let mut ctx = ctx();
    ctx.caller = caller.into();
    ctx.vars.insert("balance".into(), "1200".into());
    let (c, a) = Call::start(flows, "main", ctx);
    assert_eq!(plays(&a), vec![p(&["enter_account"])]);
    c
}

fn keys(c: &mut Call, s: &str) -> Vec<FlowAction> {
    let mut out = Vec::new();
    for d in s.chars() {
        out.extend(c.key(d));
    }
    out
}

/// Keys the account and answers the lookup with the demo customer.
fn at_pin(caller: &str) -> Call {
    let mut c = banking(caller);
    c.played();
    let a = keys(&mut c, "6222020001");
    assert_eq!(var_set(&a, "account").as_deref(), Some("6222020001"));
    assert!(a.contains(&FlowAction::Lookup {
        by: LookupBy::Account("6222020001".into())
    }));
    c.lookup(Some(customer()));
    c
}

fn verify(a: &[FlowAction]) -> Option<(String, Option<String>, Pin)> {
    a.iter().find_map(|x| match x {
        FlowAction::VerifyPin {
            customer,
            account,
            pin,
        } => Some((customer.clone(), account.clone(), pin.clone())),
        _ => None,
    })
}

#[test]
fn wrong_pin_three_times_locks_out() {
    let mut c = at_pin("13900000000");
    assert_eq!(plays(&c.all).last(), Some(&p(&["enter_pin"])));
    c.played();
    for round in 1..=3 {
        let a = keys(&mut c, "1234#");
        assert_eq!(
            verify(&a),
            Some(("C42".into(), Some("6222020001".into()), Pin("1234".into()))),
            "round {round}"
        );
        let a = c.send(FlowInput::AuthResult(false));
        if round < 3 {
            assert_eq!(plays(&a), vec![p(&["invalid", "enter_pin"])]);
            c.played();
        } else {
            assert!(a.iter().any(
                |x| matches!(x, FlowAction::Log { message } if message.contains("locked out"))
            ));
            assert_eq!(var_set(&a, "authenticated").as_deref(), Some("false"));
            assert_eq!(plays(&a), vec![p(&["locked"])]);
        }
    }
    let a = c.played();
    assert_eq!(
        finished(&a),
        Some(Outcome::HungUp {
            reason: HangupReason::LockedOut
        })
    );
    assert!(a.contains(&FlowAction::Hangup {
        reason: HangupReason::LockedOut
    }));
}

#[test]
fn right_pin_after_a_wrong_one_gets_in() {
    let mut c = at_pin("13900000000");
    c.played();
    keys(&mut c, "1111#");
    c.send(FlowInput::AuthResult(false));
    c.played();
    keys(&mut c, "2580#");
    let a = c.send(FlowInput::AuthResult(true));
    assert_eq!(var_set(&a, "authenticated").as_deref(), Some("true"));
    assert_eq!(
        plays(&a),
        vec![vec![
            PromptItem::prompt("your_balance"),
            PromptItem::Number(1200),
            PromptItem::Digits("6222020001".into()),
        ]]
    );
}

#[test]
fn pin_is_skipped_for_a_caller_number_on_file() {
    let c = at_pin("13800138000");
    assert!(verify(&c.all).is_none());
    assert_eq!(
        plays(&c.all).last().map(|p| p[0].clone()),
        Some(PromptItem::prompt("your_balance"))
    );
}

#[test]
fn short_pin_and_pin_check_timeout_count_as_failures() {
    let mut c = at_pin("13900000000");
    c.played();
    // Too short: no check, asked again.
    let a = keys(&mut c, "12#");
    assert!(verify(&a).is_none());
    assert_eq!(plays(&a), vec![p(&["invalid", "enter_pin"])]);
    c.played();
    // Six digits complete the PIN without `#`.
    let a = keys(&mut c, "123456");
    assert_eq!(verify(&a).map(|v| v.2), Some(Pin("123456".into())));
    // The shell never answers: the second failure.
    let a = c.fire();
    assert_eq!(plays(&a), vec![p(&["invalid", "enter_pin"])]);
    c.played();
    // The third locks out.
    keys(&mut c, "9999#");
    let a = c.send(FlowInput::AuthResult(false));
    assert_eq!(plays(&a), vec![p(&["locked"])]);
}

#[test]
fn pin_is_not_shown_by_debug_or_in_logs() {
    let shown = format!("{:?}", Pin("9876".into()));
    assert!(!shown.contains("9876"), "{shown}");
    let action = FlowAction::VerifyPin {
        customer: "C42".into(),
        account: None,
        pin: Pin("9876".into()),
    };
    let logged = toml::to_string(&action).expect("serializes");
    assert!(!logged.contains("9876"), "{logged}");
    assert!(logged.contains("***"), "{logged}");
}

#[test]
fn account_of_someone_else_fails_authentication() {
    let mut c = banking("13900000000");
    c.played();
    keys(&mut c, "6222020001#");
    let a = c.lookup(Some(Customer {
        accounts: vec!["999999".into()],
        ..customer()
    }));
    assert!(verify(&a).is_none());
    assert_eq!(plays(&a), vec![p(&["locked"])]);
}

#[test]
fn unknown_account_goes_to_not_found() {
    let mut c = banking("13900000000");
    c.played();
    keys(&mut c, "123456#");
    let a = c.lookup(None);
    assert_eq!(plays(&a), vec![p(&["goodbye"])]);
}

#[test]
fn collect_stops_at_the_terminator_or_max_len_and_times_out_between_digits() {
    // Enough digits then silence: accepted when the inter-digit timer fires.
    let mut c = banking("1");
    c.played();
    keys(&mut c, "1234567");
    assert_eq!(c.run.poll_timeout(), Some(Instant(c.now + 3000)));
    let a = c.fire();
    assert_eq!(var_set(&a, "account").as_deref(), Some("1234567"));

    // Too few digits then silence: asked again.
    let mut c = banking("1");
    c.played();
    keys(&mut c, "123");
    let a = c.fire();
    assert_eq!(plays(&a), vec![p(&["invalid", "enter_account"])]);

    // Too few with the terminator: asked again.
    let mut c = banking("1");
    c.played();
    let a = keys(&mut c, "12#");
    assert_eq!(plays(&a), vec![p(&["invalid", "enter_account"])]);

    // No digit at all, three times: on_failure.
    let mut c = banking("1");
    for _ in 0..2 {
        c.played();
        assert_eq!(c.run.poll_timeout(), Some(Instant(c.now + 5000)));
        let a = c.fire();
        assert_eq!(plays(&a), vec![p(&["invalid", "enter_account"])]);
    }
    c.played();
    let a = c.fire();
    assert_eq!(plays(&a), vec![p(&["goodbye"])]);
}

#[test]
fn digits_during_a_prompt_without_barge_in_are_dropped() {
    let flows = Arc::new(
        FlowSet::from_toml(
            r#"
            [flows.main]
            start = "notice"
            [flows.main.steps.notice]
            type = "play"
            prompts = ["terms"]
            next = "menu"
            [flows.main.steps.menu]
            type = "menu"
            prompts = ["menu"]
            options = { "1" = "bye" }
            default = "bye"
            [flows.main.steps.bye]
            type = "hangup"
            "#,
        )
        .unwrap(),
    );
    let (mut c, _) = Call::start(flows, "main", ctx());
    assert!(c.key('1').is_empty());
    let a = c.played();
    assert_eq!(plays(&a), vec![p(&["menu"])], "the key was not kept");
}

#[test]
fn menu_without_on_timeout_repeats_then_takes_the_default() {
    let flows = Arc::new(
        FlowSet::from_toml(
            r#"
            [flows.main]
            start = "menu"
            [flows.main.steps.menu]
            type = "menu"
            prompts = ["menu"]
            options = { "1" = "one" }
            retries = 1
            timeout_secs = 4
            timeout_prompts = ["no_input"]
            default = "fallback"
            [flows.main.steps.one]
            type = "hangup"
            [flows.main.steps.fallback]
            type = "transfer"
            to = "sip:operator@bank.example"
            prompts = ["please_hold"]
            "#,
        )
        .unwrap(),
    );
    let (mut c, _) = Call::start(flows, "main", ctx());
    c.played();
    assert_eq!(c.run.poll_timeout(), Some(Instant(c.now + 4000)));
    let a = c.fire();
    assert_eq!(plays(&a), vec![p(&["no_input", "menu"])]);
    c.played();
    let a = c.fire();
    assert_eq!(plays(&a), vec![p(&["please_hold"])]);
    let a = c.played();
    assert_eq!(
        a,
        vec![
            FlowAction::Transfer {
                to: "sip:operator@bank.example".into()
            },
            FlowAction::Finished {
                outcome: Outcome::Transferred {
                    to: "sip:operator@bank.example".into()
                }
            }
        ]
    );
}

const ROUTING: &str = r#"
[flows.main]
start = "route"

[flows.main.steps.route]
type = "branch"
rules = [
    { var = "segment", equals = "gold", goto = "english" },
    { queue = "general", wait_over_secs = 300, goto = "offer" },
    { queue = "general", waiting_over = 20, goto = "offer" },
]
else = "queue"

[flows.main.steps.english]
type = "set"
language = "en"
priority = 7
skills = { english = 3 }
next = "queue"

[flows.main.steps.offer]
type = "callback"
queue = "general"
on_declined = "queue"

[flows.main.steps.queue]
type = "enqueue"
queue = "general"
prompts = []
hold_music = true
"#;

fn routing(vars: &[(&str, &str)], stats: Option<QueueStats>) -> (Call, Vec<FlowAction>) {
    let flows = Arc::new(FlowSet::from_toml(ROUTING).unwrap());
    let mut ctx = ctx();
    for (k, v) in vars {
        ctx.vars.insert(k.to_string(), v.to_string());
    }
    if let Some(s) = stats {
        ctx.queue_stats.insert("general".into(), s);
    }
    Call::start(flows, "main", ctx)
}

#[test]
fn branch_on_a_variable_sets_language_priority_and_skills() {
    let (_, a) = routing(&[("segment", "gold")], None);
    assert!(a.contains(&FlowAction::SetLanguage("en".into())));
    assert!(a.contains(&FlowAction::SetPriority(7)));
    assert!(a.iter().any(|x| matches!(x, FlowAction::Enqueue { priority: 7, skills, .. } if skills.get("english") == Some(&3))));
    assert!(a.contains(&FlowAction::StartHoldMusic));
    let (_, a) = routing(&[("segment", "silver")], None);
    assert!(!a.contains(&FlowAction::SetLanguage("en".into())));
}

#[test]
fn branch_on_estimated_wait_and_queue_size() {
    let quiet = QueueStats {
        waiting: 3,
        estimated_wait_secs: 40,
    };
    let (_, a) = routing(&[], Some(quiet));
    assert_eq!(enqueued(&a).map(|e| e.0), Some("general".into()));

    let slow = QueueStats {
        waiting: 3,
        estimated_wait_secs: 301,
    };
    let (_, a) = routing(&[], Some(slow));
    assert!(enqueued(&a).is_none());
    assert!(a.contains(&FlowAction::OfferCallback {
        queue: "general".into(),
        number: "13800138000".into()
    }));

    let busy = QueueStats {
        waiting: 21,
        estimated_wait_secs: 10,
    };
    let (_, a) = routing(&[], Some(busy));
    assert!(
        a.iter()
            .any(|x| matches!(x, FlowAction::OfferCallback { .. }))
    );

    // No figures: the rules do not hold.
    let (_, a) = routing(&[], None);
    assert!(enqueued(&a).is_some());
}

#[test]
fn standalone_callback_accepted_or_declined() {
    let slow = QueueStats {
        waiting: 50,
        estimated_wait_secs: 900,
    };
    let (mut c, _) = routing(&[], Some(slow));
    let a = c.send(FlowInput::CallbackAccepted);
    assert_eq!(plays(&a), vec![p(&["callback_confirmed"])]);
    let a = c.played();
    assert_eq!(
        finished(&a),
        Some(Outcome::Callback {
            queue: "general".into()
        })
    );

    let (mut c, _) = routing(&[], Some(slow));
    let a = c.send(FlowInput::CallbackDeclined);
    assert!(enqueued(&a).is_some());

    let (mut c, _) = routing(&[], Some(slow));
    let a = c.fire();
    assert!(enqueued(&a).is_some(), "no answer counts as declined");
}

#[test]
fn schedules_with_several_periods_and_daylight_saving() {
    let set = FlowSet::from_toml(
        r#"
        [schedules.ny]
        timezone = "America/New_York"
        holidays = ["2026-07-03"]
        open = [
            { days = ["mon", "tue", "wed", "thu", "fri"], from = "09:00", to = "12:00" },
            { days = ["mon", "tue", "wed", "thu", "fri"], from = "13:00", to = "17:30" },
        ]
        [flows.x]
        start = "h"
        [flows.x.steps.h]
        type = "hangup"
        "#,
    )
    .unwrap();
    let ny = &set.schedules["ny"];
    let at = |y, m, d, h, min| Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap();
    // Monday 6 July 2026, summer time (UTC-4).
    assert!(is_open(ny, at(2026, 7, 6, 13, 30))); // 09:30
    assert!(!is_open(ny, at(2026, 7, 6, 16, 30))); // 12:30, lunch
    assert!(is_open(ny, at(2026, 7, 6, 21, 29))); // 17:29
    assert!(!is_open(ny, at(2026, 7, 6, 21, 30))); // 17:30
    // Monday 7 December 2026, standard time (UTC-5): 13:30 UTC is 08:30.
    assert!(!is_open(ny, at(2026, 12, 7, 13, 30)));
    assert!(is_open(ny, at(2026, 12, 7, 14, 30)));
    // Saturday.
    assert!(!is_open(ny, at(2026, 7, 11, 14, 0)));
    // Friday 3 July 2026 is a holiday, in New York's date.
    assert!(is_holiday(ny, at(2026, 7, 3, 14, 0)));
    assert!(!is_open(ny, at(2026, 7, 3, 14, 0)));
    assert!(is_holiday(ny, at(2026, 7, 4, 3, 0))); // 23:00 on the 3rd in New York
    assert!(!is_holiday(ny, at(2026, 7, 3, 3, 0))); // 23:00 on the 2nd in New York
}

#[test]
fn unvalidated_spinning_flow_hangs_up_with_an_error() {
    let set = FlowSet::from_toml_unchecked(
        r#"
        [flows.main]
        start = "a"
        [flows.main.steps.a]
        type = "set"
        vars = { x = "1" }
        next = "b"
        [flows.main.steps.b]
        type = "branch"
        else = "a"
        "#,
    )
    .unwrap();
    assert!(set.validate().is_err());
    let (c, a) = Call::start(Arc::new(set), "main", ctx());
    assert_eq!(
        finished(&a),
        Some(Outcome::HungUp {
            reason: HangupReason::Error
        })
    );
    assert!(c.run.is_finished());
}

#[test]
fn unvalidated_missing_step_hangs_up_with_an_error() {
    let set = FlowSet::from_toml_unchecked(
        r#"
        [flows.main]
        start = "a"
        [flows.main.steps.a]
        type = "play"
        prompts = ["welcome"]
        next = "nowhere"
        "#,
    )
    .unwrap();
    let (mut c, _) = Call::start(Arc::new(set), "main", ctx());
    let a = c.played();
    assert!(
        a.iter()
            .any(|x| matches!(x, FlowAction::Log { message } if message.contains("nowhere")))
    );
    assert_eq!(
        finished(&a),
        Some(Outcome::HungUp {
            reason: HangupReason::Error
        })
    );
}

#[test]
fn announcement_words_can_be_renamed_and_waits_are_rounded() {
    let flows = Arc::new(
        FlowSet::from_toml(
            r#"
            [flows.main]
            start = "q"
            [flows.main.steps.q]
            type = "enqueue"
            queue = "general"
            prompts = []
            hold_music = false
            announce_every_secs = 20
            announce_prompts = { position_after = ["in_queue"], wait = ["wait_about"], minute = "minute" }
            "#,
        )
        .unwrap(),
    );
    let (mut c, a) = Call::start(flows, "main", ctx());
    assert!(!a.contains(&FlowAction::StartHoldMusic));
    // No figures yet and no callback offer: nothing to say.
    let a = c.fire();
    assert!(plays(&a).is_empty());
    for (wait, number, unit) in [
        (65, 1, "minute"),
        (7, 10, "seconds"),
        (0, 10, "seconds"),
        (150, 3, "minutes"),
    ] {
        c.send(FlowInput::QueueUpdate {
            position: 2,
            estimated_wait_secs: wait,
        });
        let a = c.fire();
        assert_eq!(
            plays(&a),
            vec![vec![
                PromptItem::prompt("you_are_number"),
                PromptItem::Number(2),
                PromptItem::prompt("in_queue"),
                PromptItem::prompt("wait_about"),
                PromptItem::Number(number),
                PromptItem::prompt(unit),
            ]],
            "wait {wait}"
        );
        c.played();
    }
}
