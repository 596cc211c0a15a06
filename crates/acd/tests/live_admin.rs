//! Agents, queues and rules changed while the centre runs (`Input::AddAgent`, `RemoveAgent`,
//! `AddQueue`, `SetQueue`, `SetRules`), in virtual time: the next routing decision uses the
//! new settings; offers ringing and contacts connected keep theirs.

use hotline_acd::{
    AgentConfig, AgentId, AgentState, Arrival, ContactId, Engine, EngineConfig, Error, Input,
    Instant, MaxWait, MaxWaitAction, Output, OverflowStep, QueueConfig, QueueId, WellbeingRules,
};

fn t(s: f64) -> Instant {
    Instant::from_secs_f64(s)
}

fn outputs(e: &mut Engine) -> Vec<Output> {
    std::iter::from_fn(|| e.poll_output()).collect()
}

fn offers_in(out: &[Output]) -> Vec<(u64, u32)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Offer { contact, agent, .. } => Some((contact.0, agent.0)),
            _ => None,
        })
        .collect()
}

fn offers(e: &mut Engine) -> Vec<(u64, u32)> {
    offers_in(&outputs(e))
}

fn arrive(e: &mut Engine, at: f64, id: u64, q: QueueId) {
    e.handle(t(at), Input::Arrive(Arrival::new(ContactId(id), q)))
        .unwrap();
}

fn answer(e: &mut Engine, at: f64, id: u64, a: AgentId) {
    e.handle(
        t(at),
        Input::Answer {
            contact: ContactId(id),
            agent: a,
        },
    )
    .unwrap();
}

fn end(e: &mut Engine, at: f64, id: u64) {
    e.handle(
        t(at),
        Input::End {
            contact: ContactId(id),
            agitation: None,
            abusive: false,
        },
    )
    .unwrap();
}

fn engine() -> Engine {
    Engine::new(EngineConfig {
        wellbeing: WellbeingRules::off(),
        ..EngineConfig::default()
    })
}

/// `accounts` and `cards` queues; agent 1003 with cards only, logged in.
fn centre() -> (Engine, QueueId, QueueId, AgentId) {
    let mut e = engine();
    let accounts = e
        .add_queue(QueueConfig::new("accounts", &[("accounts", 1)]))
        .unwrap();
    let cards = e
        .add_queue(QueueConfig::new("cards", &[("cards", 1)]))
        .unwrap();
    let a = e
        .add_agent(AgentConfig::new("1003", &[("cards", 8), ("general", 5)]))
        .unwrap();
    e.handle(t(0.0), Input::Login(a)).unwrap();
    outputs(&mut e);
    e.check_consistency().unwrap();
    (e, accounts, cards, a)
}

fn set_queue(e: &mut Engine, at: f64, q: QueueConfig) -> Result<(), Error> {
    let r = e.handle(t(at), Input::SetQueue(q));
    e.check_consistency().unwrap();
    r
}

#[test]
fn a_queues_wrap_up_changed_applies_to_the_next_answered_contact_not_the_connected_one() {
    let (mut e, _, cards, a) = centre();
    let mut q = QueueConfig::new("cards", &[("cards", 1)]);
    q.wrap_up_seconds = 10.0;
    set_queue(&mut e, 1.0, q.clone()).unwrap();
    arrive(&mut e, 2.0, 1, cards);
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    answer(&mut e, 3.0, 1, a);
    // While contact 1 is connected, the wrap-up goes to 60 s.
    q.wrap_up_seconds = 60.0;
    set_queue(&mut e, 4.0, q).unwrap();
    end(&mut e, 20.0, 1);
    assert_eq!(e.agent_state(a), Some(AgentState::WrapUp));
    // Contact 1 was answered under 10 s of wrap-up: over at 30 s.
    assert_eq!(e.poll_timeout(), Some(t(30.0)));
    e.handle_timeout(t(30.0));
    assert_eq!(e.agent_state(a), Some(AgentState::Available));
    // The next one gets 60 s.
    arrive(&mut e, 40.0, 2, cards);
    assert_eq!(offers(&mut e), vec![(2, a.0)]);
    answer(&mut e, 41.0, 2, a);
    end(&mut e, 50.0, 2);
    assert_eq!(e.poll_timeout(), Some(t(110.0)));
    e.handle_timeout(t(109.0));
    assert_eq!(e.agent_state(a), Some(AgentState::WrapUp));
    e.handle_timeout(t(110.0));
    assert_eq!(e.agent_state(a), Some(AgentState::Available));
    e.check_consistency().unwrap();
}

#[test]
fn a_queue_given_a_skill_an_agent_has_routes_its_waiting_contact_to_that_agent_at_once() {
    let (mut e, accounts, _, a) = centre();
    arrive(&mut e, 10.0, 1, accounts);
    arrive(&mut e, 11.0, 2, accounts);
    assert_eq!(offers(&mut e), vec![], "nobody has accounts");
    let before = e.longest_waiting(accounts);
    // accounts is now served by agents with `general`.
    set_queue(
        &mut e,
        20.0,
        QueueConfig::new("accounts", &[("general", 3)]),
    )
    .unwrap();
    // At the instant of the change, without any timer, the first in line.
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    assert_eq!(e.agent_state(a), Some(AgentState::Offered));
    // Contact 2 keeps its wait (counted from its arrival) and is now first in line.
    assert_eq!(e.longest_waiting(accounts), before);
    assert_eq!(e.wait_estimate(ContactId(2)).map(|w| w.position), Some(0));
    assert_eq!(e.waiting(accounts), 1);
}

#[test]
fn a_queue_needing_more_than_its_agents_have_stops_offering_them_and_an_offer_ringing_stays() {
    let (mut e, _, cards, a) = centre();
    arrive(&mut e, 1.0, 1, cards);
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    // cards now needs level 9: 1003 (level 8) no longer qualifies, but the phone rings on.
    set_queue(&mut e, 2.0, QueueConfig::new("cards", &[("cards", 9)])).unwrap();
    let out = outputs(&mut e);
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::OfferRescinded { .. })),
        "{out:?}"
    );
    answer(&mut e, 3.0, 1, a);
    end(&mut e, 4.0, 1);
    arrive(&mut e, 5.0, 2, cards);
    assert_eq!(offers(&mut e), vec![], "level 8 is not enough any more");
    assert_eq!(e.agent_state(a), Some(AgentState::Available));
    assert_eq!(e.waiting(cards), 1);
}

#[test]
fn new_overflow_steps_and_maximum_wait_count_from_when_the_contact_entered() {
    let (mut e, accounts, _, a) = centre();
    arrive(&mut e, 0.0, 1, accounts);
    arrive(&mut e, 50.0, 2, accounts);
    assert_eq!(offers(&mut e), vec![]);
    // After 30 s in line, cards agents may take accounts calls; maximum wait 100 s.
    let mut q = QueueConfig::new("accounts", &[("accounts", 1)]);
    q.overflow.push(OverflowStep {
        after_seconds: 30.0,
        add_skills: [("cards".to_string(), 1)].into(),
        ..OverflowStep::default()
    });
    q.max_wait = Some(MaxWait {
        seconds: 100.0,
        action: MaxWaitAction::Voicemail,
    });
    set_queue(&mut e, 60.0, q).unwrap();
    // Contact 1 has waited 60 s: past the step, offered at once. Contact 2 (10 s) waits.
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    answer(&mut e, 61.0, 1, a);
    // Contact 2 reaches the step at 80 s, but the agent is busy; its maximum wait is at 150.
    e.handle_timeout(t(80.0));
    assert_eq!(offers(&mut e), vec![]);
    assert_eq!(e.poll_timeout(), Some(t(150.0)));
    e.handle_timeout(t(150.0));
    let out = outputs(&mut e);
    assert!(out.contains(&Output::MaxWaitReached {
        contact: ContactId(2),
        queue: accounts,
        action: MaxWaitAction::Voicemail,
    }));
    // A maximum wait shortened below a contact's wait is reached at the change.
    arrive(&mut e, 200.0, 3, accounts);
    let mut q = QueueConfig::new("accounts", &[("accounts", 1)]);
    q.max_wait = Some(MaxWait {
        seconds: 10.0,
        action: MaxWaitAction::Disconnect,
    });
    set_queue(&mut e, 230.0, q).unwrap();
    let out = outputs(&mut e);
    assert!(
        out.contains(&Output::MaxWaitReached {
            contact: ContactId(3),
            queue: accounts,
            action: MaxWaitAction::Disconnect,
        }),
        "{out:?}"
    );
    assert_eq!(e.live_contacts(), 1, "only contact 1, connected");
    e.check_consistency().unwrap();
}

#[test]
fn a_queues_priority_raised_puts_its_waiting_contacts_first() {
    let (mut e, accounts, cards, a) = centre();
    // accounts served by general agents too, so 1003 serves both.
    set_queue(&mut e, 0.0, QueueConfig::new("accounts", &[("general", 1)])).unwrap();
    arrive(&mut e, 1.0, 1, cards);
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    answer(&mut e, 2.0, 1, a);
    arrive(&mut e, 3.0, 2, cards);
    arrive(&mut e, 4.0, 3, accounts);
    let mut q = QueueConfig::new("accounts", &[("general", 1)]);
    q.priority = 5;
    set_queue(&mut e, 5.0, q).unwrap();
    end(&mut e, 10.0, 1);
    // Contact 3 came later but its queue now comes first.
    assert_eq!(offers(&mut e), vec![(3, a.0)]);
}

#[test]
fn refused_queue_changes_leave_the_engine_as_it_was() {
    let (mut e, accounts, _, _) = centre();
    arrive(&mut e, 1.0, 1, accounts);
    outputs(&mut e);
    assert_eq!(
        set_queue(&mut e, 2.0, QueueConfig::new("nope", &[])),
        Err(Error::UnknownQueueName("nope".into()))
    );
    assert!(matches!(
        set_queue(&mut e, 2.0, QueueConfig::new("accounts", &[("cards", 11)])),
        Err(Error::BadLevel { .. })
    ));
    assert!(matches!(
        set_queue(&mut e, 2.0, QueueConfig::new("accounts", &[("*", 1)])),
        Err(Error::BadSkill(_))
    ));
    let mut q = QueueConfig::new("accounts", &[("cards", 1)]);
    q.overflow.push(OverflowStep {
        after_seconds: 5.0,
        add_queues: vec!["nowhere".into()],
        ..OverflowStep::default()
    });
    assert_eq!(
        set_queue(&mut e, 2.0, q),
        Err(Error::UnknownQueueName("nowhere".into()))
    );
    let mut q = QueueConfig::new("accounts", &[("cards", 1)]);
    q.channel = hotline_acd::Channel::Chat;
    assert!(matches!(
        set_queue(&mut e, 2.0, q),
        Err(Error::InvalidState(_))
    ));
    // Nothing changed: the caller still waits, nobody was offered it.
    assert_eq!(offers(&mut e), vec![]);
    assert_eq!(
        e.queue_config(accounts).map(|q| q.skills.clone()),
        Some([("accounts".to_string(), 1)].into())
    );
    assert_eq!(e.waiting(accounts), 1);
}

#[test]
fn a_queue_added_live_routes_its_contacts_and_its_name_is_taken() {
    let (mut e, _, _, a) = centre();
    e.handle(
        t(1.0),
        Input::AddQueue(QueueConfig::new("loans", &[("general", 2)])),
    )
    .unwrap();
    let loans = e.queue_id("loans").unwrap();
    arrive(&mut e, 2.0, 1, loans);
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    assert_eq!(
        e.handle(t(3.0), Input::AddQueue(QueueConfig::new("loans", &[]))),
        Err(Error::DuplicateName("loans".into()))
    );
    e.check_consistency().unwrap();
}

#[test]
fn an_agent_is_removed_only_when_free_and_is_never_offered_anything_again() {
    let (mut e, _, cards, a) = centre();
    let b = e
        .add_agent(AgentConfig::new("1004", &[("cards", 1)]))
        .unwrap();
    e.handle(t(0.0), Input::Login(b)).unwrap();
    arrive(&mut e, 1.0, 1, cards);
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    // Offered: refused.
    assert_eq!(
        e.handle(t(2.0), Input::RemoveAgent(a)),
        Err(Error::AgentBusy(a))
    );
    answer(&mut e, 3.0, 1, a);
    // On the call: refused, and nothing changed.
    assert_eq!(
        e.handle(t(4.0), Input::RemoveAgent(a)),
        Err(Error::AgentBusy(a))
    );
    assert_eq!(e.agent_state(a), Some(AgentState::Busy));
    end(&mut e, 5.0, 1);
    outputs(&mut e);
    // Free: removed, logged out on the way.
    e.handle(t(6.0), Input::RemoveAgent(a)).unwrap();
    let out = outputs(&mut e);
    assert!(out.contains(&Output::AgentState {
        agent: a,
        state: AgentState::LoggedOut
    }));
    e.check_consistency().unwrap();
    assert_eq!(e.agent_state(a), None);
    assert_eq!(e.agent_id("1003"), None);
    assert_eq!(e.agent_count(), 1);
    assert_eq!(e.agent_ids().collect::<Vec<_>>(), vec![b]);
    // Every input about it is refused as about an unknown agent.
    for input in [
        Input::Login(a),
        Input::Ready(a),
        Input::RemoveAgent(a),
        Input::SetSkills {
            agent: a,
            skills: [("cards".to_string(), 9)].into(),
        },
    ] {
        assert_eq!(e.handle(t(7.0), input), Err(Error::UnknownAgent(a)));
    }
    // Contacts go to the other agent only, however many come.
    for id in 2..6 {
        arrive(&mut e, 10.0 * id as f64, id, cards);
        let o = offers(&mut e);
        assert!(o.iter().all(|&(_, x)| x == b.0), "{o:?}");
        if let Some(&(c, _)) = o.first() {
            answer(&mut e, 10.0 * id as f64 + 1.0, c, b);
            end(&mut e, 10.0 * id as f64 + 2.0, c);
            let o = offers(&mut e);
            assert!(o.iter().all(|&(_, x)| x == b.0), "{o:?}");
        }
    }
    e.check_consistency().unwrap();
}

#[test]
fn a_removed_agents_name_may_be_added_again_as_a_new_agent() {
    let (mut e, _, cards, a) = centre();
    e.handle(t(1.0), Input::RemoveAgent(a)).unwrap();
    // A removed agent on a break or in wrap-up leaves no timer behind.
    assert_eq!(e.poll_timeout(), None);
    e.handle(
        t(2.0),
        Input::AddAgent(AgentConfig::new("1003", &[("cards", 2)])),
    )
    .unwrap();
    let again = e.agent_id("1003").unwrap();
    assert_ne!(again, a);
    assert_eq!(e.agent_state(again), Some(AgentState::LoggedOut));
    assert_eq!(
        e.handle(t(3.0), Input::AddAgent(AgentConfig::new("1003", &[]))),
        Err(Error::DuplicateName("1003".into()))
    );
    assert!(matches!(
        e.handle(
            t(3.0),
            Input::AddAgent(AgentConfig::new("1009", &[("cards", 0)]))
        ),
        Err(Error::BadLevel { .. })
    ));
    assert_eq!(e.agent_id("1009"), None);
    arrive(&mut e, 4.0, 1, cards);
    assert_eq!(offers(&mut e), vec![]);
    e.handle(t(5.0), Input::Login(again)).unwrap();
    assert_eq!(offers(&mut e), vec![(1, again.0)]);
    e.check_consistency().unwrap();
}

#[test]
fn removing_an_agent_in_wrap_up_or_on_a_break_ends_it_and_its_preferred_callers_move_on() {
    let (mut e, _, cards, a) = centre();
    let b = e
        .add_agent(AgentConfig::new("1004", &[("cards", 1)]))
        .unwrap();
    let mut q = QueueConfig::new("cards", &[("cards", 1)]);
    q.wrap_up_seconds = 30.0;
    set_queue(&mut e, 0.0, q).unwrap();
    arrive(&mut e, 1.0, 1, cards);
    answer(&mut e, 2.0, 1, a);
    end(&mut e, 3.0, 1);
    outputs(&mut e);
    assert_eq!(e.agent_state(a), Some(AgentState::WrapUp));
    // A caller who asked for 1003 waits for 1003 alone.
    let mut ar = Arrival::new(ContactId(2), cards);
    ar.preferred_agent = Some(a);
    e.handle(t(4.0), Input::Arrive(ar)).unwrap();
    e.handle(t(4.0), Input::Login(b)).unwrap();
    assert_eq!(offers(&mut e), vec![]);
    e.handle(t(5.0), Input::RemoveAgent(a)).unwrap();
    // The caller goes to the queue and to 1004 at once; no wrap-up timer is left.
    assert_eq!(offers(&mut e), vec![(2, b.0)]);
    e.check_consistency().unwrap();
    answer(&mut e, 6.0, 2, b);
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn rules_changed_live_apply_to_the_next_decision() {
    let (mut e, _, cards, a) = centre();
    let rules = EngineConfig {
        offer_timeout_seconds: 5.0,
        retry_seconds: 100.0,
        vip_boost: 0,
        senior_skill: "ignored".into(),
        wellbeing: WellbeingRules::off(),
        ..EngineConfig::default()
    };
    e.handle(t(0.0), Input::SetRules(rules)).unwrap();
    assert_eq!(e.config().offer_timeout_seconds, 5.0);
    assert_eq!(e.config().senior_skill, "senior", "the senior skill stays");
    arrive(&mut e, 1.0, 1, cards);
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    // The new ring timeout: rang out at 6 s.
    assert_eq!(e.poll_timeout(), Some(t(6.0)));
    e.handle_timeout(t(6.0));
    let out = outputs(&mut e);
    assert!(out.contains(&Output::OfferRescinded {
        contact: ContactId(1),
        agent: a,
        rang_out: true
    }));
    // Not offered again for the new retry time (100 s).
    e.handle_timeout(t(50.0));
    assert_eq!(offers(&mut e), vec![]);
    e.handle_timeout(t(106.0));
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    answer(&mut e, 107.0, 1, a);
    // The VIP boost: a VIP who came later goes first once it is raised.
    arrive(&mut e, 108.0, 2, cards);
    let mut vip = Arrival::new(ContactId(3), cards);
    vip.vip = true;
    e.handle(t(109.0), Input::Arrive(vip)).unwrap();
    assert_eq!(e.wait_estimate(ContactId(3)).map(|w| w.position), Some(1));
    let rules = EngineConfig {
        vip_boost: 50,
        ..e.config().clone()
    };
    e.handle(t(110.0), Input::SetRules(rules)).unwrap();
    assert_eq!(e.wait_estimate(ContactId(3)).map(|w| w.position), Some(0));
    end(&mut e, 111.0, 1);
    assert_eq!(offers(&mut e), vec![(3, a.0)]);
    e.check_consistency().unwrap();
}

#[test]
fn a_wellbeing_cap_lifted_live_lets_a_free_agent_take_the_difficult_caller_at_once() {
    let mut e = Engine::new(EngineConfig {
        wellbeing: WellbeingRules {
            recovery_break_seconds: 0.0,
            max_difficult_in_row: 1,
            ..WellbeingRules::default()
        },
        ..EngineConfig::default()
    });
    let q = e.add_queue(QueueConfig::new("q", &[("x", 1)])).unwrap();
    let a = e.add_agent(AgentConfig::new("a", &[("x", 1)])).unwrap();
    e.handle(t(0.0), Input::Login(a)).unwrap();
    let mut hard = Arrival::new(ContactId(1), q);
    hard.difficult = true;
    e.handle(t(1.0), Input::Arrive(hard.clone())).unwrap();
    answer(&mut e, 2.0, 1, a);
    e.handle(
        t(3.0),
        Input::End {
            contact: ContactId(1),
            agitation: None,
            abusive: true,
        },
    )
    .unwrap();
    outputs(&mut e);
    hard.contact = ContactId(2);
    e.handle(t(4.0), Input::Arrive(hard)).unwrap();
    assert_eq!(
        offers(&mut e),
        vec![],
        "one difficult call in a row is the cap"
    );
    let mut rules = e.config().clone();
    rules.wellbeing.max_difficult_in_row = 3;
    e.handle(t(5.0), Input::SetRules(rules)).unwrap();
    assert_eq!(offers(&mut e), vec![(2, a.0)]);
}

#[test]
fn a_queue_whose_overflow_accepts_another_queues_agents_follows_that_queues_change() {
    let mut e = engine();
    e.add_queue(QueueConfig::new("x", &[("xs", 1)])).unwrap();
    let mut y = QueueConfig::new("y", &[("ys", 1)]);
    y.overflow.push(OverflowStep {
        after_seconds: 10.0,
        add_queues: vec!["x".into()],
        ..OverflowStep::default()
    });
    let y = e.add_queue(y).unwrap();
    let a = e.add_agent(AgentConfig::new("a", &[("zs", 3)])).unwrap();
    e.handle(t(0.0), Input::Login(a)).unwrap();
    arrive(&mut e, 0.0, 1, y);
    e.handle_timeout(t(20.0));
    assert_eq!(offers(&mut e), vec![], "a has neither ys nor xs");
    // x is now served by zs agents: y's overflow step accepts them too, at once.
    set_queue(&mut e, 21.0, QueueConfig::new("x", &[("zs", 2)])).unwrap();
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
}

#[test]
fn a_queue_may_change_strategy_and_step_count_and_contacts_move_between_lines() {
    let (mut e, accounts, _, a) = centre();
    let b = e
        .add_agent(AgentConfig::new("1004", &[("general", 1)]))
        .unwrap();
    e.handle(t(0.0), Input::Login(b)).unwrap();
    // Three steps; the contact reaches the second.
    let mut q = QueueConfig::new("accounts", &[("accounts", 1)]);
    for (after, skill) in [(10.0, "zz"), (20.0, "yy"), (1000.0, "general")] {
        q.overflow.push(OverflowStep {
            after_seconds: after,
            add_skills: [(skill.to_string(), 1)].into(),
            ..OverflowStep::default()
        });
    }
    set_queue(&mut e, 0.0, q).unwrap();
    arrive(&mut e, 1.0, 1, accounts);
    e.handle_timeout(t(15.0));
    assert_eq!(offers(&mut e), vec![]);
    // Down to one step at 5 s accepting general, ring-all: both agents hold general
    // (1003 at 5, 1004 at 1), both are rung.
    let mut q = QueueConfig::new("accounts", &[("accounts", 1)]);
    q.strategy = hotline_acd::Strategy::RingAll;
    q.overflow.push(OverflowStep {
        after_seconds: 5.0,
        add_skills: [("general".to_string(), 1)].into(),
        ..OverflowStep::default()
    });
    set_queue(&mut e, 16.0, q).unwrap();
    let mut o = offers(&mut e);
    o.sort_unstable();
    assert_eq!(o, vec![(1, a.0), (1, b.0)]);
    answer(&mut e, 17.0, 1, b);
    assert!(outputs(&mut e).contains(&Output::OfferRescinded {
        contact: ContactId(1),
        agent: a,
        rang_out: false
    }));
    // No timer is left over from the old steps.
    assert_eq!(e.poll_timeout(), None);
    e.check_consistency().unwrap();
}
