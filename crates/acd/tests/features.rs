//! Behaviour of each routing feature, one scenario each.

use hotline_acd::{
    AgentConfig, AgentId, AgentState, Arrival, Blend, Capacity, Channel, ContactId, Engine,
    EngineConfig, Input, Instant, MaxWait, MaxWaitAction, Output, OverflowStep, QueueConfig,
    QueueId, Strategy, WellbeingAlert, WellbeingRules,
};

fn t(s: f64) -> Instant {
    Instant::from_secs_f64(s)
}

fn outputs(e: &mut Engine) -> Vec<Output> {
    std::iter::from_fn(|| e.poll_output()).collect()
}

fn offers(e: &mut Engine) -> Vec<(u64, u32)> {
    outputs(e)
        .into_iter()
        .filter_map(|o| match o {
            Output::Offer { contact, agent, .. } => Some((contact.0, agent.0)),
            _ => None,
        })
        .collect()
}

fn engine(wellbeing: WellbeingRules) -> Engine {
    Engine::new(EngineConfig {
        wellbeing,
        ..EngineConfig::default()
    })
}

fn arrive(e: &mut Engine, at: f64, id: u64, q: QueueId) {
    e.handle(t(at), Input::Arrive(Arrival::new(ContactId(id), q)))
        .unwrap();
}

fn answer_end(e: &mut Engine, at: f64, len: f64, id: u64, a: AgentId) {
    e.handle(
        t(at),
        Input::Answer {
            contact: ContactId(id),
            agent: a,
        },
    )
    .unwrap();
    e.handle(
        t(at + len),
        Input::End {
            contact: ContactId(id),
            agitation: None,
            abusive: false,
        },
    )
    .unwrap();
}

fn team(e: &mut Engine, n: usize, skills: &[(&str, u8)]) -> Vec<AgentId> {
    let ids: Vec<AgentId> = (0..n)
        .map(|i| {
            e.add_agent(AgentConfig::new(format!("a{i}"), skills))
                .unwrap()
        })
        .collect();
    for (i, &a) in ids.iter().enumerate() {
        e.handle(t(i as f64), Input::Login(a)).unwrap();
    }
    ids
}

#[test]
fn longest_idle_picks_the_agent_free_longest() {
    let mut e = engine(WellbeingRules::off());
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let ids = team(&mut e, 3, &[("x", 5)]);
    outputs(&mut e);
    arrive(&mut e, 10.0, 1, q);
    assert_eq!(offers(&mut e), vec![(1, ids[0].0)]);
    answer_end(&mut e, 10.0, 5.0, 1, ids[0]);
    arrive(&mut e, 20.0, 2, q);
    assert_eq!(offers(&mut e), vec![(2, ids[1].0)]);
}

#[test]
fn fewest_contacts_and_round_robin() {
    for strategy in [Strategy::FewestContacts, Strategy::RoundRobin] {
        let mut e = engine(WellbeingRules::off());
        let mut qc = QueueConfig::new("q", &[("x", 1)]);
        qc.strategy = strategy;
        let q = e.add_queue(qc).unwrap();
        let ids = team(&mut e, 3, &[("x", 5)]);
        outputs(&mut e);
        let mut got = Vec::new();
        for i in 0..6u64 {
            let at = 10.0 + 10.0 * i as f64;
            arrive(&mut e, at, i, q);
            let o = offers(&mut e);
            assert_eq!(o.len(), 1);
            got.push(o[0].1);
            answer_end(&mut e, at, 1.0, i, AgentId(o[0].1));
        }
        // Every agent gets two of six.
        for a in &ids {
            assert_eq!(
                got.iter().filter(|&&g| g == a.0).count(),
                2,
                "{strategy:?}: {got:?}"
            );
        }
    }
}

#[test]
fn least_occupied_prefers_the_less_busy() {
    let mut e = engine(WellbeingRules::off());
    let mut qc = QueueConfig::new("q", &[("x", 1)]);
    qc.strategy = Strategy::LeastOccupied;
    let q = e.add_queue(qc).unwrap();
    let ids = team(&mut e, 2, &[("x", 5)]);
    outputs(&mut e);
    // a0 takes a long call, a1 a short one; both free afterwards, a1 freed last.
    arrive(&mut e, 10.0, 1, q);
    arrive(&mut e, 10.0, 2, q);
    let o = offers(&mut e);
    let long_agent = AgentId(o[0].1);
    let short_agent = AgentId(o[1].1);
    answer_end(&mut e, 10.0, 500.0, 1, long_agent);
    answer_end(&mut e, 10.0, 600.0, 2, short_agent);
    let _ = ids;
    // a short_agent had 600 s on 610 logged; long_agent 500 of 510... compare explicitly.
    arrive(&mut e, 700.0, 3, q);
    let got = offers(&mut e)[0].1;
    let w0 = e.agent_wellbeing(long_agent).unwrap();
    let w1 = e.agent_wellbeing(short_agent).unwrap();
    let occ0 = w0.occupied_seconds / w0.logged_in_seconds;
    let occ1 = w1.occupied_seconds / w1.logged_in_seconds;
    let expected = if occ0 < occ1 { long_agent } else { short_agent };
    assert_eq!(got, expected.0);
}

#[test]
fn best_fit_prefers_highest_level_and_ring_all_rings_everyone() {
    let mut e = engine(WellbeingRules::off());
    let mut qc = QueueConfig::new("fit", &[("x", 2)]);
    qc.strategy = Strategy::BestFit;
    let q = e.add_queue(qc).unwrap();
    let mut rc = QueueConfig::new("ring", &[("y", 1)]);
    rc.strategy = Strategy::RingAll;
    let r = e.add_queue(rc).unwrap();
    let lo = e
        .add_agent(AgentConfig::new("lo", &[("x", 3), ("y", 1)]))
        .unwrap();
    let hi = e
        .add_agent(AgentConfig::new("hi", &[("x", 9), ("y", 1)]))
        .unwrap();
    let mid = e
        .add_agent(AgentConfig::new("mid", &[("x", 6), ("y", 1)]))
        .unwrap();
    for a in [lo, hi, mid] {
        e.handle(t(0.0), Input::Login(a)).unwrap();
    }
    outputs(&mut e);
    arrive(&mut e, 1.0, 1, q);
    assert_eq!(offers(&mut e), vec![(1, hi.0)]);
    arrive(&mut e, 2.0, 2, r);
    let mut rung: Vec<u32> = offers(&mut e).into_iter().map(|o| o.1).collect();
    rung.sort_unstable();
    assert_eq!(rung, vec![lo.0, mid.0]);
    e.handle(
        t(3.0),
        Input::Answer {
            contact: ContactId(2),
            agent: mid,
        },
    )
    .unwrap();
    let out = outputs(&mut e);
    assert!(out.contains(&Output::OfferRescinded {
        contact: ContactId(2),
        agent: lo,
        rang_out: false
    }));
    assert_eq!(e.agent_state(lo), Some(AgentState::Available));
    assert_eq!(e.agent_state(mid), Some(AgentState::Busy));
}

#[test]
fn multi_skill_contact_needs_every_skill() {
    let mut e = engine(WellbeingRules::off());
    let q = e
        .add_queue(QueueConfig::new("q", &[("cards", 3), ("english", 5)]))
        .unwrap();
    // Many agents with cards only, one with both.
    let mut many = Vec::new();
    for i in 0..50 {
        many.push(
            e.add_agent(AgentConfig::new(format!("c{i}"), &[("cards", 9)]))
                .unwrap(),
        );
    }
    let both = e
        .add_agent(AgentConfig::new("both", &[("cards", 3), ("english", 6)]))
        .unwrap();
    for &a in many.iter().chain([&both]) {
        e.handle(t(0.0), Input::Login(a)).unwrap();
    }
    outputs(&mut e);
    arrive(&mut e, 1.0, 1, q);
    assert_eq!(offers(&mut e), vec![(1, both.0)]);
}

#[test]
fn overflow_steps_widen_over_time() {
    let mut e = engine(WellbeingRules::off());
    let other = e
        .add_queue(QueueConfig::new("general", &[("general", 1)]))
        .unwrap();
    let mut qc = QueueConfig::new("vip", &[("vip", 8)]);
    qc.overflow = vec![
        OverflowStep {
            after_seconds: 10.0,
            lower_levels_by: 3,
            ..Default::default()
        },
        OverflowStep {
            after_seconds: 30.0,
            add_queues: vec!["general".into()],
            ..Default::default()
        },
    ];
    let q = e.add_queue(qc).unwrap();
    let five = e
        .add_agent(AgentConfig::new("five", &[("vip", 5)]))
        .unwrap();
    let gen_agent = e
        .add_agent(AgentConfig::new("gen", &[("general", 2)]))
        .unwrap();
    e.handle(t(0.0), Input::Login(gen_agent)).unwrap();
    arrive(&mut e, 0.0, 1, q);
    assert!(offers(&mut e).is_empty());
    e.handle(t(1.0), Input::Login(five)).unwrap();
    assert!(offers(&mut e).is_empty(), "level 5 is below 8");
    e.handle_timeout(t(10.0));
    assert_eq!(
        offers(&mut e),
        vec![(1, five.0)],
        "after 10 s level 5 is enough"
    );
    e.handle(
        t(11.0),
        Input::Reject {
            contact: ContactId(1),
            agent: five,
            no_answer: false,
        },
    )
    .unwrap();
    e.handle(
        t(11.0),
        Input::NotReady {
            agent: five,
            reason: "lunch".into(),
        },
    )
    .unwrap();
    assert!(offers(&mut e).is_empty());
    // The decline's exclusion ends at 16 s, but the agent is away.
    assert_eq!(e.poll_timeout(), Some(t(16.0)));
    e.handle_timeout(t(16.0));
    assert!(offers(&mut e).is_empty());
    assert_eq!(e.poll_timeout(), Some(t(30.0)));
    e.handle_timeout(t(30.0));
    assert_eq!(
        offers(&mut e),
        vec![(1, gen_agent.0)],
        "after 30 s general agents too"
    );
    let _ = other;
}

#[test]
fn max_wait_overflows_then_disconnects() {
    let mut e = engine(WellbeingRules::off());
    let mut b = QueueConfig::new("backup", &[("b", 1)]);
    b.max_wait = Some(MaxWait {
        seconds: 60.0,
        action: MaxWaitAction::Voicemail,
    });
    let backup = e.add_queue(b).unwrap();
    let mut a = QueueConfig::new("main", &[("a", 1)]);
    a.max_wait = Some(MaxWait {
        seconds: 30.0,
        action: MaxWaitAction::Overflow {
            queue: "backup".into(),
        },
    });
    let main = e.add_queue(a).unwrap();
    arrive(&mut e, 0.0, 7, main);
    outputs(&mut e);
    e.handle_timeout(t(30.0));
    let out = outputs(&mut e);
    assert!(out.contains(&Output::Overflowed {
        contact: ContactId(7),
        from: main,
        to: backup
    }));
    assert_eq!(e.waiting(backup), 1);
    e.handle_timeout(t(90.0));
    let out = outputs(&mut e);
    assert!(out.contains(&Output::MaxWaitReached {
        contact: ContactId(7),
        queue: backup,
        action: MaxWaitAction::Voicemail
    }));
    assert_eq!(e.live_contacts(), 0);
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn priority_and_vip_go_first() {
    let mut e = engine(WellbeingRules::off());
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let a = e.add_agent(AgentConfig::new("a", &[("x", 1)])).unwrap();
    arrive(&mut e, 0.0, 1, q);
    let mut high = Arrival::new(ContactId(2), q);
    high.priority = 5;
    e.handle(t(1.0), Input::Arrive(high)).unwrap();
    let mut vip = Arrival::new(ContactId(3), q);
    vip.vip = true;
    e.handle(t(2.0), Input::Arrive(vip)).unwrap();
    assert_eq!(e.wait_estimate(ContactId(3)).unwrap().position, 0);
    assert_eq!(e.wait_estimate(ContactId(1)).unwrap().position, 2);
    e.handle(t(3.0), Input::Login(a)).unwrap();
    assert_eq!(offers(&mut e), vec![(3, a.0)]);
}

#[test]
fn preferred_agent_waits_then_anyone() {
    let mut e = engine(WellbeingRules::off());
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let last = e.add_agent(AgentConfig::new("last", &[("x", 1)])).unwrap();
    let other = e.add_agent(AgentConfig::new("other", &[("x", 1)])).unwrap();
    e.handle(t(0.0), Input::Login(last)).unwrap();
    e.handle(t(0.0), Input::Login(other)).unwrap();
    e.handle(
        t(0.0),
        Input::NotReady {
            agent: last,
            reason: "meeting".into(),
        },
    )
    .unwrap();
    outputs(&mut e);
    let mut ar = Arrival::new(ContactId(1), q);
    ar.preferred_agent = Some(last);
    e.handle(t(1.0), Input::Arrive(ar)).unwrap();
    assert!(
        offers(&mut e).is_empty(),
        "waits for the last agent although another is free"
    );
    e.handle_timeout(t(31.0));
    assert_eq!(offers(&mut e), vec![(1, other.0)]);
}

#[test]
fn escalation_requires_a_senior() {
    let mut e = engine(WellbeingRules::off());
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let junior = e
        .add_agent(AgentConfig::new("junior", &[("x", 5)]))
        .unwrap();
    let senior = e
        .add_agent(AgentConfig::new("senior", &[("x", 5), ("senior", 1)]))
        .unwrap();
    e.handle(t(0.0), Input::Login(junior)).unwrap();
    let mut ar = Arrival::new(ContactId(1), q);
    ar.escalate = true;
    e.handle(t(1.0), Input::Arrive(ar)).unwrap();
    assert!(offers(&mut e).is_empty());
    e.handle(t(2.0), Input::Login(senior)).unwrap();
    assert_eq!(offers(&mut e), vec![(1, senior.0)]);
    // Escalating a waiting contact later works too.
    arrive(&mut e, 3.0, 2, q);
    assert_eq!(offers(&mut e), vec![(2, junior.0)]);
}

#[test]
fn no_answer_twice_goes_not_ready() {
    let mut e = engine(WellbeingRules::off());
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let a = e.add_agent(AgentConfig::new("a", &[("x", 1)])).unwrap();
    e.handle(t(0.0), Input::Login(a)).unwrap();
    arrive(&mut e, 0.0, 1, q);
    arrive(&mut e, 0.0, 2, q);
    e.handle_timeout(t(20.0)); // offer of 1 rings out, 2 is offered
    e.handle_timeout(t(40.0)); // offer of 2 rings out
    assert_eq!(
        e.agent_state(a),
        Some(AgentState::NotReady {
            reason: "no-answer".into()
        })
    );
    let out = outputs(&mut e);
    assert!(out.contains(&Output::OfferRescinded {
        contact: ContactId(1),
        agent: a,
        rang_out: true
    }));
}

#[test]
fn wrap_up_is_timed_and_extendable() {
    let mut e = engine(WellbeingRules::off());
    let mut qc = QueueConfig::new("q", &[("x", 1)]);
    qc.wrap_up_seconds = 30.0;
    let q = e.add_queue(qc).unwrap();
    let a = e.add_agent(AgentConfig::new("a", &[("x", 1)])).unwrap();
    e.handle(t(0.0), Input::Login(a)).unwrap();
    arrive(&mut e, 0.0, 1, q);
    answer_end(&mut e, 0.0, 60.0, 1, a);
    assert_eq!(e.agent_state(a), Some(AgentState::WrapUp));
    e.handle(
        t(70.0),
        Input::ExtendWrapUp {
            agent: a,
            seconds: 15.0,
        },
    )
    .unwrap();
    outputs(&mut e);
    arrive(&mut e, 80.0, 2, q);
    e.handle_timeout(t(90.0));
    assert!(offers(&mut e).is_empty());
    e.handle_timeout(t(105.0));
    assert_eq!(offers(&mut e), vec![(2, a.0)]);
}

#[test]
fn chat_agents_take_several_at_once_but_voice_alone() {
    let mut e = engine(WellbeingRules::off());
    let mut cc = QueueConfig::new("chat", &[("x", 1)]);
    cc.channel = Channel::Chat;
    let chat = e.add_queue(cc).unwrap();
    let voice = e.add_queue(QueueConfig::new("voice", &[("x", 1)])).unwrap();
    let mut ac = AgentConfig::new("a", &[("x", 1)]);
    ac.capacity = Capacity {
        voice: 1,
        chat: 2,
        email: 0,
    };
    let a = e.add_agent(ac).unwrap();
    e.handle(t(0.0), Input::Login(a)).unwrap();
    for i in 1..=3 {
        arrive(&mut e, 1.0, i, chat);
    }
    arrive(&mut e, 1.0, 9, voice);
    let mut taken = 0;
    for _ in 0..5 {
        let o = offers(&mut e);
        for (c, ag) in o {
            assert_ne!(c, 9, "no voice while chatting");
            e.handle(
                t(2.0),
                Input::Answer {
                    contact: ContactId(c),
                    agent: AgentId(ag),
                },
            )
            .unwrap();
            taken += 1;
        }
    }
    assert_eq!(taken, 2);
    e.handle(
        t(5.0),
        Input::End {
            contact: ContactId(1),
            agitation: None,
            abusive: false,
        },
    )
    .unwrap();
    assert_eq!(offers(&mut e), vec![(3, a.0)]);
}

/// An agent on a call with a chat waiting: whether the chat is offered is the centre's
/// blending rule; a call is offered beside chats only when that rule allows it.
#[test]
fn blending_rules_say_what_may_interrupt_what() {
    for (written_during_call, call_during_written) in [(false, false), (true, true)] {
        let mut e = Engine::new(EngineConfig {
            wellbeing: WellbeingRules::off(),
            blend: Blend {
                written_during_call,
                call_during_written,
                chat_with_email: true,
            },
            ..EngineConfig::default()
        });
        let mut cc = QueueConfig::new("chat", &[("x", 1)]);
        cc.channel = Channel::Chat;
        let chat = e.add_queue(cc).unwrap();
        let voice = e.add_queue(QueueConfig::new("voice", &[("x", 1)])).unwrap();
        let a = e.add_agent(AgentConfig::new("a", &[("x", 1)])).unwrap();
        e.handle(t(0.0), Input::Login(a)).unwrap();
        arrive(&mut e, 1.0, 1, voice);
        assert_eq!(offers(&mut e), vec![(1, a.0)]);
        e.handle(
            t(2.0),
            Input::Answer {
                contact: ContactId(1),
                agent: a,
            },
        )
        .unwrap();
        arrive(&mut e, 3.0, 2, chat);
        let chat_offers = offers(&mut e);
        if written_during_call {
            assert_eq!(
                chat_offers,
                vec![(2, a.0)],
                "the rule lets a chat beside a call"
            );
            e.handle(
                t(4.0),
                Input::Answer {
                    contact: ContactId(2),
                    agent: a,
                },
            )
            .unwrap();
        } else {
            assert!(chat_offers.is_empty(), "no chat while on a call");
        }
        e.handle(
            t(10.0),
            Input::End {
                contact: ContactId(1),
                agitation: None,
                abusive: false,
            },
        )
        .unwrap();
        let after_call = offers(&mut e);
        if written_during_call {
            assert!(after_call.is_empty());
            // Holding a chat: a new call is offered only if calls may interrupt chats.
            arrive(&mut e, 11.0, 3, voice);
            let o = offers(&mut e);
            assert_eq!(
                o,
                vec![(3, a.0)],
                "call_during_written lets a call beside a chat"
            );
        } else {
            assert_eq!(
                after_call,
                vec![(2, a.0)],
                "the chat comes once the call is over"
            );
            e.handle(
                t(11.0),
                Input::Answer {
                    contact: ContactId(2),
                    agent: a,
                },
            )
            .unwrap();
            arrive(&mut e, 12.0, 3, voice);
            assert!(offers(&mut e).is_empty(), "no call beside a chat");
        }
        e.check_consistency().unwrap();
    }
}

#[test]
fn recovery_break_after_a_difficult_call() {
    let mut e = engine(WellbeingRules::default());
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let a = e.add_agent(AgentConfig::new("a", &[("x", 1)])).unwrap();
    e.handle(t(0.0), Input::Login(a)).unwrap();
    arrive(&mut e, 0.0, 1, q);
    e.handle(
        t(1.0),
        Input::Answer {
            contact: ContactId(1),
            agent: a,
        },
    )
    .unwrap();
    e.handle(
        t(100.0),
        Input::End {
            contact: ContactId(1),
            agitation: Some(0.9),
            abusive: false,
        },
    )
    .unwrap();
    assert_eq!(
        e.agent_state(a),
        Some(AgentState::Break {
            reason: "recovery".into(),
            recovery: true
        })
    );
    outputs(&mut e);
    arrive(&mut e, 110.0, 2, q);
    assert!(offers(&mut e).is_empty());
    e.handle_timeout(t(220.0));
    assert_eq!(offers(&mut e), vec![(2, a.0)]);
    let w = e.agent_wellbeing(a).unwrap();
    assert_eq!((w.difficult, w.recovery_seconds), (1, 120.0));
}

#[test]
fn cap_and_fair_spread_of_difficult_contacts() {
    let rules = WellbeingRules {
        recovery_break_seconds: 0.0,
        max_difficult_in_row: 1,
        ..WellbeingRules::default()
    };
    let mut e = engine(rules);
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let ids = team(&mut e, 2, &[("x", 1)]);
    outputs(&mut e);
    // First difficult call goes to a0 (fewest difficult, longest idle).
    let mut d = Arrival::new(ContactId(1), q);
    d.difficult = true;
    e.handle(t(10.0), Input::Arrive(d)).unwrap();
    assert_eq!(offers(&mut e), vec![(1, ids[0].0)]);
    e.handle(
        t(10.0),
        Input::Answer {
            contact: ContactId(1),
            agent: ids[0],
        },
    )
    .unwrap();
    e.handle(
        t(20.0),
        Input::End {
            contact: ContactId(1),
            agitation: Some(0.95),
            abusive: true,
        },
    )
    .unwrap();
    // a0 is now idle longest... no: a1 idle since 1 s, a0 since 20 s. Next difficult call:
    // fair spread picks a1 (fewer difficult) anyway; after that a1 is at the cap.
    let mut d = Arrival::new(ContactId(2), q);
    d.difficult = true;
    e.handle(t(30.0), Input::Arrive(d)).unwrap();
    assert_eq!(offers(&mut e), vec![(2, ids[1].0)]);
    e.handle(
        t(30.0),
        Input::Answer {
            contact: ContactId(2),
            agent: ids[1],
        },
    )
    .unwrap();
    e.handle(
        t(40.0),
        Input::End {
            contact: ContactId(2),
            agitation: Some(0.9),
            abusive: false,
        },
    )
    .unwrap();
    // Both at the cap (1 in a row): a third difficult call waits, a calm one does not.
    let mut d = Arrival::new(ContactId(3), q);
    d.difficult = true;
    e.handle(t(50.0), Input::Arrive(d)).unwrap();
    assert!(offers(&mut e).is_empty());
    arrive(&mut e, 51.0, 4, q);
    let o = offers(&mut e);
    assert_eq!(o.len(), 1);
    let calm_agent = AgentId(o[0].1);
    e.handle(
        t(52.0),
        Input::Answer {
            contact: ContactId(4),
            agent: calm_agent,
        },
    )
    .unwrap();
    e.handle(
        t(60.0),
        Input::End {
            contact: ContactId(4),
            agitation: Some(0.1),
            abusive: false,
        },
    )
    .unwrap();
    // After a calm call the streak is reset: the difficult call goes to that agent.
    assert_eq!(offers(&mut e), vec![(3, calm_agent.0)]);
}

#[test]
fn occupancy_ceiling_imposes_a_pause() {
    let rules = WellbeingRules {
        recovery_break_seconds: 0.0,
        occupancy_ceiling: 0.5,
        occupancy_window_minutes: 10.0,
        max_pause_seconds: 120.0,
        ..WellbeingRules::default()
    };
    let mut e = engine(rules);
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let a = e.add_agent(AgentConfig::new("a", &[("x", 1)])).unwrap();
    e.handle(t(0.0), Input::Login(a)).unwrap();
    arrive(&mut e, 0.0, 1, q);
    answer_end(&mut e, 0.0, 500.0, 1, a);
    // 500 s busy in a 600 s window: above 50%: a pause of min(500 - 300, 120) s.
    assert_eq!(
        e.agent_state(a),
        Some(AgentState::Break {
            reason: "occupancy".into(),
            recovery: false
        })
    );
    assert_eq!(e.poll_timeout(), Some(t(620.0)));
    // Switched off: no pause.
    let mut e = engine(WellbeingRules::off());
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let a = e.add_agent(AgentConfig::new("a", &[("x", 1)])).unwrap();
    e.handle(t(0.0), Input::Login(a)).unwrap();
    arrive(&mut e, 0.0, 1, q);
    answer_end(&mut e, 0.0, 500.0, 1, a);
    assert_eq!(e.agent_state(a), Some(AgentState::Available));
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let mut e = engine(WellbeingRules::default());
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    assert!(e.add_queue(QueueConfig::new("q", &[("x", 1)])).is_err());
    assert!(e.add_queue(QueueConfig::new("bad", &[("x", 11)])).is_err());
    assert!(e.add_agent(AgentConfig::new("z", &[("x", 0)])).is_err());
    assert!(e.handle(t(0.0), Input::Login(AgentId(99))).is_err());
    assert!(
        e.handle(
            t(0.0),
            Input::Arrive(Arrival::new(ContactId(1), QueueId(9)))
        )
        .is_err()
    );
    arrive(&mut e, 0.0, 1, q);
    assert!(
        e.handle(t(0.0), Input::Arrive(Arrival::new(ContactId(1), q)))
            .is_err()
    );
    assert!(
        e.handle(
            t(0.0),
            Input::End {
                contact: ContactId(1),
                agitation: None,
                abusive: false
            }
        )
        .is_err()
    );
    assert!(
        e.handle(
            t(0.0),
            Input::Answer {
                contact: ContactId(1),
                agent: AgentId(0)
            }
        )
        .is_err()
    );
    assert!(e.handle(t(0.0), Input::Abandon(ContactId(5))).is_err());
    let mut qc = QueueConfig::new("steps", &[("x", 1)]);
    qc.overflow.push(OverflowStep {
        add_queues: vec!["nope".into()],
        ..Default::default()
    });
    assert!(e.add_queue(qc).is_err());
}

#[test]
fn alerts_for_supervisors() {
    let rules = WellbeingRules {
        recovery_break_seconds: 0.0,
        max_difficult_in_row: 2,
        ..WellbeingRules::default()
    };
    let mut e = engine(rules);
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let a = e.add_agent(AgentConfig::new("a", &[("x", 1)])).unwrap();
    e.handle(t(0.0), Input::Login(a)).unwrap();
    let mut alerts = Vec::new();
    for i in 0..2u64 {
        arrive(&mut e, 10.0 * i as f64, i, q);
        e.handle(
            t(10.0 * i as f64),
            Input::Answer {
                contact: ContactId(i),
                agent: a,
            },
        )
        .unwrap();
        e.handle(
            t(10.0 * i as f64 + 5.0),
            Input::End {
                contact: ContactId(i),
                agitation: Some(0.8),
                abusive: i == 0,
            },
        )
        .unwrap();
        alerts.extend(outputs(&mut e).into_iter().filter_map(|o| match o {
            Output::WellbeingAlert { agent, alert } if agent == a => Some(alert),
            _ => None,
        }));
    }
    assert_eq!(
        alerts,
        vec![
            WellbeingAlert::AbusiveCaller,
            WellbeingAlert::DifficultInRow { count: 2 }
        ]
    );
}

#[test]
fn agitated_callers_are_escalated_to_seniors() {
    let rules = WellbeingRules {
        escalate_agitation: 0.8,
        ..WellbeingRules::default()
    };
    let mut e = engine(rules);
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let junior = e
        .add_agent(AgentConfig::new("junior", &[("x", 5)]))
        .unwrap();
    let senior = e
        .add_agent(AgentConfig::new("senior", &[("x", 5), ("senior", 1)]))
        .unwrap();
    e.handle(t(0.0), Input::Login(junior)).unwrap();
    e.handle(t(1.0), Input::Login(senior)).unwrap();
    outputs(&mut e);
    let mut ar = Arrival::new(ContactId(1), q);
    ar.agitation = Some(0.9);
    e.handle(t(2.0), Input::Arrive(ar)).unwrap();
    // The junior has been free longer, but the agitated caller goes to the senior.
    assert_eq!(offers(&mut e), vec![(1, senior.0)]);
}

#[test]
fn positions_of_a_whole_queue() {
    let mut e = engine(WellbeingRules::off());
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    for i in 0..5u64 {
        arrive(&mut e, i as f64, i, q);
    }
    let mut vip = Arrival::new(ContactId(9), q);
    vip.vip = true;
    e.handle(t(6.0), Input::Arrive(vip)).unwrap();
    let all = e.queue_positions(q);
    let ids: Vec<u64> = all.iter().map(|(c, _)| c.0).collect();
    assert_eq!(ids, vec![9, 0, 1, 2, 3, 4]);
    for (i, (c, est)) in all.iter().enumerate() {
        assert_eq!(est.position, i as u32);
        assert_eq!(e.wait_estimate(*c), Some(*est));
    }
}

fn engine_with(f: impl FnOnce(&mut EngineConfig)) -> Engine {
    let mut cfg = EngineConfig {
        wellbeing: WellbeingRules::off(),
        ..EngineConfig::default()
    };
    f(&mut cfg);
    Engine::new(cfg)
}

fn rescinded(out: &[Output]) -> Vec<(u64, u32, bool)> {
    out.iter()
        .filter_map(|o| match o {
            Output::OfferRescinded {
                contact,
                agent,
                rang_out,
            } => Some((contact.0, agent.0, *rang_out)),
            _ => None,
        })
        .collect()
}

#[test]
fn each_queue_rings_for_its_own_timeout_and_a_ring_out_says_so() {
    let mut e = engine_with(|c| c.offer_timeout_seconds = 20.0);
    let long = e.add_queue(QueueConfig::new("long", &[("x", 1)])).unwrap();
    let mut sc = QueueConfig::new("short", &[("y", 1)]);
    sc.offer_timeout_seconds = Some(5.0);
    let short = e.add_queue(sc).unwrap();
    let mut nc = QueueConfig::new("never", &[("z", 1)]);
    nc.offer_timeout_seconds = Some(0.0);
    let never = e.add_queue(nc).unwrap();
    let ax = e.add_agent(AgentConfig::new("ax", &[("x", 1)])).unwrap();
    let ay = e.add_agent(AgentConfig::new("ay", &[("y", 1)])).unwrap();
    let az = e.add_agent(AgentConfig::new("az", &[("z", 1)])).unwrap();
    for a in [ax, ay, az] {
        e.handle(t(0.0), Input::Login(a)).unwrap();
    }
    arrive(&mut e, 1.0, 1, long);
    arrive(&mut e, 2.0, 2, short);
    arrive(&mut e, 2.0, 3, never);
    assert_eq!(offers(&mut e).len(), 3);
    // The short queue's offer, made later, rings out first.
    assert_eq!(e.poll_timeout(), Some(t(7.0)));
    e.handle_timeout(t(7.0));
    assert_eq!(rescinded(&outputs(&mut e)), vec![(2, ay.0, true)]);
    // The long one only at the engine's 20 s.
    e.handle_timeout(t(20.9));
    assert!(rescinded(&outputs(&mut e)).is_empty());
    e.handle_timeout(t(21.0));
    assert_eq!(rescinded(&outputs(&mut e)), vec![(1, ax.0, true)]);
    // A withdrawn offer does not say it rang out; the third never rings out.
    e.handle(t(500.0), Input::Logout(az)).unwrap();
    assert_eq!(rescinded(&outputs(&mut e)), vec![(3, az.0, false)]);
}

#[test]
fn an_agent_whose_phone_rang_out_is_offered_the_contact_again_after_the_retry() {
    let mut e = engine_with(|c| {
        c.max_no_answer = 0;
        c.retry_seconds = 5.0;
    });
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let a = e.add_agent(AgentConfig::new("a", &[("x", 1)])).unwrap();
    e.handle(t(0.0), Input::Login(a)).unwrap();
    arrive(&mut e, 0.0, 1, q);
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    e.handle_timeout(t(20.0));
    let out = outputs(&mut e);
    assert_eq!(rescinded(&out), vec![(1, a.0, true)]);
    assert!(!out.iter().any(|o| matches!(o, Output::Offer { .. })));
    assert_eq!(e.agent_state(a), Some(AgentState::Available));
    // Not offered again at once, but when the retry time has passed.
    assert_eq!(e.poll_timeout(), Some(t(25.0)));
    e.handle_timeout(t(24.9));
    assert!(offers(&mut e).is_empty());
    e.handle_timeout(t(25.0));
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    // A decline is excluded too, twice as long as this agent's first refusal of it.
    e.handle(
        t(26.0),
        Input::Reject {
            contact: ContactId(1),
            agent: a,
            no_answer: false,
        },
    )
    .unwrap();
    assert!(offers(&mut e).is_empty());
    e.handle_timeout(t(35.9));
    assert!(offers(&mut e).is_empty());
    e.handle_timeout(t(36.0));
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
}

#[test]
fn the_exclusion_ends_when_the_agent_comes_back_from_not_ready_or_a_break() {
    let mut e = engine_with(|c| c.retry_seconds = 600.0);
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let a = e.add_agent(AgentConfig::new("a", &[("x", 1)])).unwrap();
    e.handle(t(0.0), Input::Login(a)).unwrap();
    arrive(&mut e, 0.0, 1, q);
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    e.handle_timeout(t(20.0));
    assert!(offers(&mut e).is_empty());
    // Still available: the exclusion holds (600 s).
    e.handle(t(30.0), Input::Ready(a)).unwrap();
    assert!(offers(&mut e).is_empty());
    e.handle(
        t(40.0),
        Input::NotReady {
            agent: a,
            reason: "lunch".into(),
        },
    )
    .unwrap();
    e.handle(t(50.0), Input::Ready(a)).unwrap();
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    // Declined, then a timed break: back from it, offered again.
    e.handle(
        t(51.0),
        Input::Reject {
            contact: ContactId(1),
            agent: a,
            no_answer: false,
        },
    )
    .unwrap();
    e.handle(
        t(52.0),
        Input::Break {
            agent: a,
            reason: "coffee".into(),
            seconds: Some(60.0),
        },
    )
    .unwrap();
    assert!(offers(&mut e).is_empty());
    e.handle_timeout(t(112.0));
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
}

#[test]
fn missed_offers_count_towards_max_no_answer_and_declines_do_not() {
    let mut e = engine_with(|c| {
        c.max_no_answer = 2;
        c.max_declines = 0;
    });
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let a = e.add_agent(AgentConfig::new("a", &[("x", 1)])).unwrap();
    e.handle(t(0.0), Input::Login(a)).unwrap();
    for id in 1..=3 {
        arrive(&mut e, 0.0, id, q);
    }
    // Three declines in a row: still available.
    for (i, id) in [1u64, 2, 3].into_iter().enumerate() {
        assert_eq!(offers(&mut e), vec![(id, a.0)]);
        e.handle(
            t(1.0 + i as f64),
            Input::Reject {
                contact: ContactId(id),
                agent: a,
                no_answer: false,
            },
        )
        .unwrap();
    }
    assert_eq!(e.agent_state(a), Some(AgentState::Available));
    // Two missed (the phone rang without answer, told by the shell): not ready.
    e.handle_timeout(t(6.0));
    let first = offers(&mut e);
    assert_eq!(first.len(), 1);
    e.handle(
        t(6.0),
        Input::Reject {
            contact: ContactId(first[0].0),
            agent: a,
            no_answer: true,
        },
    )
    .unwrap();
    assert_eq!(e.agent_state(a), Some(AgentState::Available));
    e.handle_timeout(t(7.0));
    let second = offers(&mut e);
    assert_eq!(second.len(), 1);
    e.handle(
        t(7.0),
        Input::Reject {
            contact: ContactId(second[0].0),
            agent: a,
            no_answer: true,
        },
    )
    .unwrap();
    let not_ready = AgentState::NotReady {
        reason: "no-answer".into(),
    };
    assert_eq!(e.agent_state(a), Some(not_ready.clone()));
    // The shell hears of it, to log it as the engine's doing.
    assert!(outputs(&mut e).contains(&Output::AgentState {
        agent: a,
        state: not_ready
    }));
}

#[test]
fn a_contacts_own_skills_are_needed_from_both_sides() {
    let mut e = engine(WellbeingRules::off());
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let plain = e.add_agent(AgentConfig::new("plain", &[("x", 5)])).unwrap();
    let fr = e
        .add_agent(AgentConfig::new("fr", &[("x", 1), ("french", 4)]))
        .unwrap();
    let fr_low = e
        .add_agent(AgentConfig::new("fr_low", &[("x", 1), ("french", 2)]))
        .unwrap();
    e.handle(t(0.0), Input::Login(plain)).unwrap();
    e.handle(t(0.0), Input::Login(fr_low)).unwrap();
    let mut ar = Arrival::new(ContactId(1), q);
    ar.skills = vec![("french".into(), 3)];
    e.handle(t(1.0), Input::Arrive(ar)).unwrap();
    // Neither the longest idle (no French) nor the one below level 3.
    assert!(offers(&mut e).is_empty());
    // A freed agent with the skill finds it.
    e.handle(t(2.0), Input::Login(fr)).unwrap();
    assert_eq!(offers(&mut e), vec![(1, fr.0)]);
    answer_end(&mut e, 3.0, 10.0, 1, fr);
    // With the French agent free, a French contact goes to it even though the plain agent
    // has been idle longer; a plain contact goes to the plain agent.
    let mut ar = Arrival::new(ContactId(2), q);
    ar.skills = vec![("french".into(), 3)];
    e.handle(t(20.0), Input::Arrive(ar)).unwrap();
    assert_eq!(offers(&mut e), vec![(2, fr.0)]);
    arrive(&mut e, 21.0, 3, q);
    assert_eq!(offers(&mut e), vec![(3, plain.0)]);
    // A level outside 1..=10 is refused.
    let mut ar = Arrival::new(ContactId(4), q);
    ar.skills = vec![("french".into(), 11)];
    assert!(e.handle(t(22.0), Input::Arrive(ar)).is_err());
}

#[test]
fn a_contact_needing_a_skill_nobody_holds_waits_until_the_maximum_wait() {
    let mut e = engine(WellbeingRules::off());
    let mut qc = QueueConfig::new("q", &[("x", 1)]);
    qc.max_wait = Some(MaxWait {
        seconds: 60.0,
        action: MaxWaitAction::Voicemail,
    });
    let q = e.add_queue(qc).unwrap();
    let a = e.add_agent(AgentConfig::new("a", &[("x", 9)])).unwrap();
    e.handle(t(0.0), Input::Login(a)).unwrap();
    let mut ar = Arrival::new(ContactId(1), q);
    ar.skills = vec![("klingon".into(), 1)];
    e.handle(t(0.0), Input::Arrive(ar)).unwrap();
    assert!(offers(&mut e).is_empty());
    // It does not block the line for others.
    arrive(&mut e, 1.0, 2, q);
    assert_eq!(offers(&mut e), vec![(2, a.0)]);
    answer_end(&mut e, 2.0, 5.0, 2, a);
    assert!(offers(&mut e).is_empty());
    e.handle_timeout(t(60.0));
    assert!(outputs(&mut e).contains(&Output::MaxWaitReached {
        contact: ContactId(1),
        queue: q,
        action: MaxWaitAction::Voicemail
    }));
}

#[test]
fn the_longest_wait_is_how_long_a_contact_has_really_waited() {
    let mut e = engine(WellbeingRules::off());
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let a = e.add_agent(AgentConfig::new("a", &[("x", 1)])).unwrap();
    assert_eq!(e.longest_waiting(q), None);
    arrive(&mut e, 10.0, 1, q);
    arrive(&mut e, 15.0, 2, q);
    assert_eq!(e.longest_waiting(q), Some((ContactId(1), t(10.0))));
    // The estimate says something else entirely (the expected handle time).
    let est = e.queue_positions(q)[0].1.estimated_wait_seconds;
    assert!(est > 100.0, "{est}");
    // Ringing still counts as waiting; answered does not.
    e.handle(t(40.0), Input::Login(a)).unwrap();
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    assert_eq!(e.longest_waiting(q), Some((ContactId(1), t(10.0))));
    e.handle(
        t(41.0),
        Input::Answer {
            contact: ContactId(1),
            agent: a,
        },
    )
    .unwrap();
    assert_eq!(e.longest_waiting(q), Some((ContactId(2), t(15.0))));
    e.handle(t(42.0), Input::Abandon(ContactId(2))).unwrap();
    assert_eq!(e.longest_waiting(q), None);
}

fn decline(e: &mut Engine, at: f64, id: u64, a: AgentId) {
    e.handle(
        t(at),
        Input::Reject {
            contact: ContactId(id),
            agent: a,
            no_answer: false,
        },
    )
    .unwrap();
}

#[test]
fn each_refusal_of_the_same_contact_doubles_the_wait_up_to_the_most() {
    let mut e = engine_with(|c| {
        c.max_declines = 0;
        c.retry_seconds = 5.0;
        c.retry_max_seconds = 30.0;
    });
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let a = e.add_agent(AgentConfig::new("a", &[("x", 1)])).unwrap();
    e.handle(t(0.0), Input::Login(a)).unwrap();
    arrive(&mut e, 0.0, 1, q);
    let mut at = 0.0;
    for wait in [5.0, 10.0, 20.0, 30.0, 30.0] {
        assert_eq!(offers(&mut e), vec![(1, a.0)], "offered again at {at}");
        decline(&mut e, at, 1, a);
        // Not rung again a moment before the wait ends; rung at its end.
        e.handle_timeout(t(at + wait - 0.5));
        assert!(offers(&mut e).is_empty(), "rung early after {at}");
        at += wait;
        e.handle_timeout(t(at));
    }
    // Back from a pause, the agent starts again from the shortest wait.
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    decline(&mut e, at, 1, a);
    e.handle(
        t(at + 1.0),
        Input::NotReady {
            agent: a,
            reason: "coffee".into(),
        },
    )
    .unwrap();
    e.handle(t(at + 2.0), Input::Ready(a)).unwrap();
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    decline(&mut e, at + 2.0, 1, a);
    e.handle_timeout(t(at + 7.0));
    assert_eq!(
        offers(&mut e),
        vec![(1, a.0)],
        "5 s after the first refusal since"
    );
}

#[test]
fn a_phone_declining_offer_after_offer_puts_its_agent_not_ready() {
    let mut e = engine_with(|c| c.max_declines = 3);
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let a = e.add_agent(AgentConfig::new("a", &[("x", 1)])).unwrap();
    e.handle(t(0.0), Input::Login(a)).unwrap();
    for id in 1..=6 {
        arrive(&mut e, 0.0, id, q);
    }
    // Two declines, then an answer: the count starts again.
    for id in [1, 2] {
        assert_eq!(offers(&mut e), vec![(id, a.0)]);
        decline(&mut e, 1.0, id, a);
    }
    assert_eq!(offers(&mut e), vec![(3, a.0)]);
    answer_end(&mut e, 2.0, 1.0, 3, a);
    for id in [4, 5] {
        assert_eq!(offers(&mut e), vec![(id, a.0)]);
        decline(&mut e, 3.0, id, a);
    }
    // Still offered calls after two: the third in a row is the limit.
    assert_eq!(offers(&mut e), vec![(6, a.0)]);
    decline(&mut e, 3.0, 6, a);
    let not_ready = AgentState::NotReady {
        reason: "declined".into(),
    };
    assert_eq!(e.agent_state(a), Some(not_ready.clone()));
    assert!(outputs(&mut e).contains(&Output::AgentState {
        agent: a,
        state: not_ready
    }));
    // Nobody is rung while the agent is not ready, however long the callers wait.
    e.handle_timeout(t(100.0));
    assert!(offers(&mut e).is_empty());
}

#[test]
fn an_offer_the_shell_could_not_ring_counts_against_nobody() {
    let mut e = engine_with(|c| {
        c.max_declines = 1;
        c.max_no_answer = 1;
        c.retry_seconds = 5.0;
    });
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let a = e.add_agent(AgentConfig::new("a", &[("x", 1)])).unwrap();
    e.handle(t(0.0), Input::Login(a)).unwrap();
    arrive(&mut e, 0.0, 1, q);
    let mut at = 0.0;
    for _ in 0..3 {
        assert_eq!(offers(&mut e), vec![(1, a.0)]);
        e.handle(
            t(at),
            Input::RingFailed {
                contact: ContactId(1),
                agent: a,
            },
        )
        .unwrap();
        // Not the agent's doing: still available with both limits at one.
        assert_eq!(e.agent_state(a), Some(AgentState::Available));
        e.handle_timeout(t(at + 4.9));
        assert!(offers(&mut e).is_empty());
        // Always the plain retry time, never lengthened.
        at += 5.0;
        e.handle_timeout(t(at));
    }
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
}
