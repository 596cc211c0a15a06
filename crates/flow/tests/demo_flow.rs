//! The demo flows driven through every path.

mod common;

use chrono::{TimeZone, Utc};
use common::*;
use hotline_flow::*;

#[test]
fn lookup_by_caller_number_comes_first() {
    let (_, a) = Call::start(demo(), "main", ctx());
    assert!(plays(&a).is_empty(), "nothing is played before the lookup");
    assert!(a.contains(&FlowAction::Lookup {
        by: LookupBy::CallerNumber("13800138000".into())
    }));
}

#[test]
fn every_menu_digit_reaches_its_queue() {
    for (digit, queue) in [
        ('1', "accounts"),
        ('2', "cards"),
        ('9', "complaints"),
        ('0', "general"),
    ] {
        let mut c = at_menu();
        c.played(); // the menu prompt ends; waiting for a key
        let a = c.key(digit);
        assert_eq!(
            enqueued(&a),
            Some((queue.to_string(), 0, vec![])),
            "digit {digit}"
        );
        assert!(
            !a.contains(&FlowAction::StopPlayback),
            "nothing was playing"
        );
    }
}

#[test]
fn menu_timeout_goes_to_general() {
    let mut c = at_menu();
    c.played();
    assert_eq!(c.run.poll_timeout(), Some(Instant(c.now + 5000)));
    let a = c.fire();
    assert_eq!(enqueued(&a).map(|e| e.0), Some("general".to_string()));
    assert!(
        plays(&a)
            .iter()
            .all(|p| !p.contains(&PromptItem::prompt("invalid")))
    );
}

#[test]
fn invalid_digit_plays_invalid_then_the_menu_again() {
    let mut c = at_menu();
    c.played();
    let a = c.key('5');
    assert_eq!(plays(&a), vec![p(&["invalid", "menu"])]);
    assert!(enqueued(&a).is_none());
    c.played();
    let a = c.key('1');
    assert_eq!(enqueued(&a).map(|e| e.0), Some("accounts".to_string()));
}

#[test]
fn invalid_digits_after_the_retries_go_to_the_default() {
    let mut c = at_menu();
    c.played();
    for _ in 0..2 {
        let a = c.key('7');
        assert_eq!(plays(&a), vec![p(&["invalid", "menu"])]);
        c.played();
    }
    let a = c.key('7');
    assert_eq!(plays(&a), vec![p(&["please_hold"])], "no third repeat");
    assert_eq!(enqueued(&a).map(|e| e.0), Some("general".to_string()));
}

#[test]
fn key_during_the_welcome_stops_it_and_picks_the_option() {
    let (mut c, _) = Call::start(demo(), "main", ctx());
    let a = c.lookup(None);
    assert_eq!(plays(&a), vec![p(&["welcome"])]);
    let a = c.key('2');
    assert_eq!(
        a.iter().filter(|x| **x == FlowAction::StopPlayback).count(),
        1
    );
    assert!(
        plays(&a).iter().all(|p| p[0] != PromptItem::prompt("menu")),
        "{a:?}"
    );
    assert_eq!(enqueued(&a).map(|e| e.0), Some("cards".to_string()));
}

#[test]
fn key_during_the_menu_prompt_stops_it_and_is_used() {
    let mut c = at_menu();
    let a = c.key('9');
    assert_eq!(a.first(), Some(&FlowAction::StopPlayback));
    assert_eq!(enqueued(&a).map(|e| e.0), Some("complaints".to_string()));
}

#[test]
fn late_report_of_a_cut_prompt_is_ignored() {
    let (mut c, _) = Call::start(demo(), "main", ctx());
    c.lookup(None);
    let welcome = c.last_play.unwrap();
    // '5' cuts the welcome and is an invalid menu key: the menu is asked again.
    let a = c.key('5');
    assert_eq!(plays(&a), vec![p(&["invalid", "menu"])]);
    let reprompt = c.last_play.unwrap();
    assert_ne!(reprompt, welcome);
    // The media layer reports the cut welcome late: no effect, no timer starts.
    let a = c.send(FlowInput::PlaybackFinished(welcome));
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(c.run.poll_timeout(), None);
    c.played();
    assert!(c.run.poll_timeout().is_some());
}

#[test]
fn repeat_complaint_goes_to_complaints_with_priority_and_a_senior() {
    let (mut c, _) = Call::start(demo(), "main", ctx());
    let cust = Customer {
        repeat_complaint: true,
        ..customer()
    };
    c.lookup(Some(cust));
    let a = c.played(); // welcome ends
    assert_eq!(
        enqueued(&a),
        Some(("complaints".into(), 10, vec!["senior".to_string()]))
    );
    assert!(a.contains(&FlowAction::SetPriority(10)));
    assert!(a.contains(&FlowAction::SetSkill {
        skill: "senior".into(),
        level: 0,
        preferred: true
    }));
    assert!(
        !plays(&a).contains(&p(&["menu"])),
        "no menu for repeat complainers"
    );
}

#[test]
fn vip_gets_higher_priority_through_the_menu() {
    let (mut c, _) = Call::start(demo(), "main", ctx());
    c.lookup(Some(Customer {
        vip: true,
        ..customer()
    }));
    let a = c.played();
    assert_eq!(plays(&a), vec![p(&["menu"])]);
    assert!(a.contains(&FlowAction::SetPriority(5)));
    let a = c.key('1');
    assert_eq!(enqueued(&a), Some(("accounts".into(), 5, vec![])));
}

#[test]
fn ordinary_customer_has_no_extra_priority() {
    let (mut c, _) = Call::start(demo(), "main", ctx());
    c.lookup(Some(customer()));
    c.played();
    let a = c.key('2');
    assert_eq!(enqueued(&a), Some(("cards".into(), 0, vec![])));
}

#[test]
fn customer_language_is_used_for_prompts() {
    let (mut c, _) = Call::start(demo(), "main", ctx());
    let a = c.lookup(Some(Customer {
        language: Some("en".into()),
        ..customer()
    }));
    assert!(a.contains(&FlowAction::SetLanguage("en".into())));
    let lang = a.iter().find_map(|x| match x {
        FlowAction::Play { language, .. } => Some(language.clone()),
        _ => None,
    });
    assert_eq!(lang.as_deref(), Some("en"));
}

#[test]
fn lookup_without_answer_counts_as_not_found() {
    let (mut c, _) = Call::start(demo(), "main", ctx());
    assert_eq!(c.run.poll_timeout(), Some(Instant(5000)));
    let a = c.fire();
    assert_eq!(plays(&a), vec![p(&["welcome"])]);
    assert!(c.run.customer().is_none());
}

fn service_period(wall: chrono::DateTime<Utc>) -> Option<String> {
    let mut ctx = ctx();
    ctx.wall_clock = wall;
    let (mut c, _) = Call::start(demo(), "main", ctx);
    let a = c.lookup(None);
    var_set(&a, "service_period")
}

#[test]
fn business_hours_and_holidays_in_shanghai_time() {
    // 10:00 in Shanghai on a Monday.
    assert_eq!(
        service_period(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()).as_deref(),
        Some("office_hours")
    );
    // 21:00 in Shanghai: after hours, still served (the welcome plays).
    assert_eq!(
        service_period(Utc.with_ymd_and_hms(2026, 11, 23, 13, 0, 0).unwrap()).as_deref(),
        Some("after_hours")
    );
    // 23:30 UTC on the 22nd is 07:30 on the 23rd in Shanghai: not open yet.
    assert_eq!(
        service_period(Utc.with_ymd_and_hms(2026, 11, 22, 23, 30, 0).unwrap()).as_deref(),
        Some("after_hours")
    );
    // 00:30 UTC on the 23rd is 08:30 in Shanghai: open.
    assert_eq!(
        service_period(Utc.with_ymd_and_hms(2026, 11, 23, 0, 30, 0).unwrap()).as_deref(),
        Some("office_hours")
    );
    // National Day, 10:00 in Shanghai.
    assert_eq!(
        service_period(Utc.with_ymd_and_hms(2026, 10, 1, 2, 0, 0).unwrap()).as_deref(),
        Some("holiday")
    );
    // 16:30 UTC on 30 September is already 1 October 00:30 in Shanghai.
    assert_eq!(
        service_period(Utc.with_ymd_and_hms(2026, 9, 30, 16, 30, 0).unwrap()).as_deref(),
        Some("holiday")
    );
    // 15:30 UTC on 30 September is still 23:30 on the 30th in Shanghai.
    assert_eq!(
        service_period(Utc.with_ymd_and_hms(2026, 9, 30, 15, 30, 0).unwrap()).as_deref(),
        Some("after_hours")
    );
}

#[test]
fn business_hours_follow_the_call_clock() {
    // The call starts at 19:59:50 Shanghai; the branch is evaluated 20 s later.
    let flows = std::sync::Arc::new(
        FlowSet::from_toml(
            r#"
            [schedules.office]
            timezone = "Asia/Shanghai"
            [[schedules.office.open]]
            from = "08:00"
            to = "20:00"
            [flows.main]
            start = "hello"
            [flows.main.steps.hello]
            type = "play"
            prompts = ["welcome"]
            next = "hours"
            [flows.main.steps.hours]
            type = "branch"
            rules = [{ open = "office", goto = "open" }]
            else = "closed"
            [flows.main.steps.open]
            type = "hangup"
            reason = "normal"
            [flows.main.steps.closed]
            type = "hangup"
            reason = "closed"
            "#,
        )
        .unwrap(),
    );
    let mut ctx = ctx();
    ctx.wall_clock = Utc.with_ymd_and_hms(2026, 11, 23, 11, 59, 50).unwrap();
    let (mut c, _) = Call::start(flows, "main", ctx);
    c.now = 20_000 - 1500;
    let a = c.played();
    assert_eq!(
        finished(&a),
        Some(Outcome::HungUp {
            reason: HangupReason::Closed
        })
    );
}

#[test]
fn queue_announces_position_and_wait_every_30_s() {
    let mut c = at_menu();
    let a = c.key('1');
    assert_eq!(plays(&a), vec![p(&["please_hold"])]);
    let entered = c.now;
    assert_eq!(c.run.poll_timeout(), Some(Instant(entered + 30_000)));
    let a = c.played();
    assert_eq!(a, vec![FlowAction::StartHoldMusic]);
    c.send(FlowInput::QueueUpdate {
        position: 3,
        estimated_wait_secs: 130,
    });
    let a = c.fire();
    assert_eq!(c.now, entered + 30_000);
    assert_eq!(
        plays(&a),
        vec![vec![
            PromptItem::prompt("you_are_number"),
            PromptItem::Number(3),
            PromptItem::prompt("estimated_wait"),
            PromptItem::Number(2),
            PromptItem::prompt("minutes"),
            PromptItem::prompt("callback_offer"),
        ]]
    );
    assert_eq!(c.run.poll_timeout(), Some(Instant(entered + 60_000)));
    let a = c.played();
    assert_eq!(a, vec![FlowAction::StartHoldMusic]);
    c.send(FlowInput::QueueUpdate {
        position: 1,
        estimated_wait_secs: 20,
    });
    let a = c.fire();
    assert_eq!(
        plays(&a)[0][..5],
        [
            PromptItem::prompt("you_are_number"),
            PromptItem::Number(1),
            PromptItem::prompt("estimated_wait"),
            PromptItem::Number(20),
            PromptItem::prompt("seconds"),
        ]
    );
}

#[test]
fn callback_offer_keeps_the_place_and_hangs_up() {
    let mut c = at_menu();
    c.key('0');
    c.played(); // please hold
    c.send(FlowInput::QueueUpdate {
        position: 4,
        estimated_wait_secs: 300,
    });
    c.fire(); // announcement with the offer
    let a = c.key('1');
    assert_eq!(
        a,
        vec![
            FlowAction::StopPlayback,
            FlowAction::OfferCallback {
                queue: "general".into(),
                number: "13800138000".into()
            }
        ]
    );
    let a = c.send(FlowInput::CallbackAccepted);
    assert_eq!(plays(&a), vec![p(&["callback_confirmed"])]);
    let a = c.played();
    assert_eq!(
        a,
        vec![
            FlowAction::Hangup {
                reason: HangupReason::Callback
            },
            FlowAction::Finished {
                outcome: Outcome::Callback {
                    queue: "general".into()
                }
            }
        ]
    );
    assert!(
        !c.all
            .iter()
            .any(|x| matches!(x, FlowAction::Dequeue { .. })),
        "the call keeps its place as a callback"
    );
    assert!(c.run.is_finished());
}

#[test]
fn declined_callback_goes_back_to_hold() {
    let mut c = at_menu();
    c.key('2');
    c.played();
    c.key('1');
    let a = c.send(FlowInput::CallbackDeclined);
    assert!(a.contains(&FlowAction::StartHoldMusic));
    let a = c.send(FlowInput::Answered {
        agent: "1002".into(),
    });
    assert!(matches!(finished(&a), Some(Outcome::Connected { queue, .. }) if queue == "cards"));
}

#[test]
fn unanswered_callback_request_goes_back_to_hold() {
    let mut c = at_menu();
    c.key('2');
    c.played();
    c.key('1');
    assert_eq!(c.run.poll_timeout(), Some(Instant(c.now + 10_000)));
    let a = c.fire();
    assert!(a.contains(&FlowAction::StartHoldMusic));
    assert!(!c.run.is_finished());
}

#[test]
fn other_keys_while_queued_do_nothing() {
    let mut c = at_menu();
    c.key('2');
    c.played();
    for d in ['2', '#', '9'] {
        assert!(c.key(d).is_empty());
    }
}

#[test]
fn answered_call_ends_the_flow_with_the_survey_next() {
    let mut c = at_menu();
    c.key('1');
    let a = c.send(FlowInput::Answered {
        agent: "1001".into(),
    });
    assert_eq!(
        finished(&a),
        Some(Outcome::Connected {
            agent: "1001".into(),
            queue: "accounts".into(),
            after_call: Some("survey".into())
        })
    );
    assert_eq!(c.run.poll_timeout(), None);
    // Nothing more, whatever happens.
    assert!(c.key('1').is_empty());
    assert!(c.send(FlowInput::CallerHangup).is_empty());
}

#[test]
fn survey_captures_the_score() {
    let (mut c, a) = Call::start(demo(), "survey", ctx());
    assert_eq!(plays(&a), vec![p(&["survey"])]);
    let a = c.key('4');
    assert!(a.contains(&FlowAction::Survey { score: 4 }));
    assert_eq!(var_set(&a, "survey_score").as_deref(), Some("4"));
    assert_eq!(plays(&a), vec![p(&["goodbye"])]);
    let a = c.played();
    assert_eq!(
        a,
        vec![
            FlowAction::Hangup {
                reason: HangupReason::Normal
            },
            FlowAction::Finished {
                outcome: Outcome::HungUp {
                    reason: HangupReason::Normal
                }
            }
        ]
    );
}

#[test]
fn survey_rejects_out_of_range_keys_and_gives_up_quietly() {
    let (mut c, _) = Call::start(demo(), "survey", ctx());
    c.played();
    let a = c.key('7');
    assert_eq!(plays(&a), vec![p(&["invalid", "survey"])]);
    c.played();
    let a = c.fire(); // no key: retries used up
    assert!(!a.iter().any(|x| matches!(x, FlowAction::Survey { .. })));
    assert_eq!(plays(&a), vec![p(&["goodbye"])]);
}

#[test]
fn fault_notice_plays_before_the_flow() {
    let mut ctx = ctx();
    ctx.fault_notice = true;
    let (mut c, a) = Call::start(demo(), "main", ctx);
    assert_eq!(plays(&a), vec![p(&["fault_notice"])]);
    assert!(!a.iter().any(|x| matches!(x, FlowAction::Lookup { .. })));
    // Keys do not cut it.
    assert!(c.key('1').is_empty());
    let a = c.played();
    assert!(a.iter().any(|x| matches!(x, FlowAction::Lookup { .. })));
}

#[test]
fn fault_notice_is_silent_when_switched_off() {
    let (_, a) = Call::start(demo(), "main", ctx());
    assert!(!plays(&a).contains(&p(&["fault_notice"])));
}

#[test]
fn fault_notice_can_end_the_call() {
    let text = DEMO_FLOWS.replace(
        "prompts = [\"fault_notice\"]",
        "prompts = [\"fault_notice\"]\nhangup = true",
    );
    let flows = std::sync::Arc::new(FlowSet::from_toml(&text).unwrap());
    let mut ctx = ctx();
    ctx.fault_notice = true;
    let (mut c, _) = Call::start(flows, "main", ctx);
    let a = c.played();
    assert_eq!(
        finished(&a),
        Some(Outcome::HungUp {
            reason: HangupReason::Fault
        })
    );
}

#[test]
fn caller_hangup_in_the_menu_ends_cleanly() {
    let mut c = at_menu();
    let a = c.send(FlowInput::CallerHangup);
    assert_eq!(
        a,
        vec![FlowAction::Finished {
            outcome: Outcome::CallerHangup {
                flow: "main".into(),
                step: "menu".into()
            }
        }]
    );
    assert_eq!(c.run.poll_timeout(), None);
    assert!(c.played().is_empty());
}

#[test]
fn caller_hangup_in_the_queue_leaves_it() {
    let mut c = at_menu();
    c.key('9');
    c.played();
    let a = c.send(FlowInput::CallerHangup);
    assert_eq!(
        a,
        vec![
            FlowAction::Dequeue {
                queue: "complaints".into()
            },
            FlowAction::Finished {
                outcome: Outcome::CallerHangup {
                    flow: "main".into(),
                    step: "complaints".into()
                }
            }
        ]
    );
}

#[test]
fn caller_hangup_during_lookup_ends_cleanly() {
    let (mut c, _) = Call::start(demo(), "main", ctx());
    let a = c.send(FlowInput::CallerHangup);
    assert!(matches!(finished(&a), Some(Outcome::CallerHangup { step, .. }) if step == "lookup"));
    assert!(c.lookup(Some(customer())).is_empty());
}

#[test]
fn abusive_end_flow_says_why_and_hangs_up() {
    let (mut c, a) = Call::start(demo(), "abusive_end", ctx());
    assert_eq!(plays(&a), vec![p(&["abusive_end"])]);
    let a = c.played();
    assert_eq!(
        finished(&a),
        Some(Outcome::HungUp {
            reason: HangupReason::Abusive
        })
    );
}

#[test]
fn voicemail_flow_hands_over_to_recording() {
    let (mut c, a) = Call::start(demo(), "voicemail", ctx());
    assert_eq!(plays(&a), vec![p(&["voicemail"])]);
    let a = c.played();
    assert_eq!(
        a,
        vec![
            FlowAction::Voicemail {
                queue: "general".into()
            },
            FlowAction::Finished {
                outcome: Outcome::Voicemail {
                    queue: "general".into()
                }
            }
        ]
    );
}

#[test]
fn unknown_flow_is_an_error() {
    assert_eq!(
        FlowRun::new(demo(), "nope", ctx(), Instant::ZERO).err(),
        Some(RunError::UnknownFlow("nope".into()))
    );
}
