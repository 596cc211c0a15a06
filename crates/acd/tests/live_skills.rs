//! Skills changed while the centre runs (`Input::SetSkills`), in virtual time: the next
//! routing decision uses them; offers ringing and contacts connected are left alone.

use std::collections::BTreeMap;

use hotline_acd::{
    AgentConfig, AgentId, AgentState, Arrival, ContactId, Engine, EngineConfig, Error, Input,
    Instant, MAX_SKILLS, Output, OverflowStep, QueueConfig, QueueId, WellbeingRules,
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

fn skills(list: &[(&str, u8)]) -> BTreeMap<String, u8> {
    list.iter().map(|(s, l)| ((*s).to_string(), *l)).collect()
}

fn set(e: &mut Engine, at: f64, agent: AgentId, list: &[(&str, u8)]) -> Result<(), Error> {
    e.handle(
        t(at),
        Input::SetSkills {
            agent,
            skills: skills(list),
        },
    )
}

fn arrive(e: &mut Engine, at: f64, id: u64, q: QueueId) {
    e.handle(t(at), Input::Arrive(Arrival::new(ContactId(id), q)))
        .unwrap();
}

/// The demo's shape: `accounts` and `cards` queues, one agent with cards only.
fn centre() -> (Engine, QueueId, QueueId, AgentId) {
    let mut e = Engine::new(EngineConfig {
        wellbeing: WellbeingRules::off(),
        ..EngineConfig::default()
    });
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
    (e, accounts, cards, a)
}

#[test]
fn a_free_agent_given_a_queues_skill_is_offered_its_waiting_contact_at_once() {
    let (mut e, accounts, _, a) = centre();
    arrive(&mut e, 10.0, 1, accounts);
    assert_eq!(offers(&mut e), vec![], "nobody has accounts yet");
    assert_eq!(e.waiting(accounts), 1);
    set(
        &mut e,
        20.0,
        a,
        &[("accounts", 5), ("cards", 8), ("general", 5)],
    )
    .unwrap();
    // At the instant of the change, without any timer.
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    assert_eq!(e.agent_state(a), Some(AgentState::Offered));
    assert_eq!(e.waiting(accounts), 0);
    e.handle(
        t(22.0),
        Input::Answer {
            contact: ContactId(1),
            agent: a,
        },
    )
    .unwrap();
    assert_eq!(e.contact_agent(ContactId(1)), Some(a));
}

#[test]
fn an_agent_whose_skill_is_removed_is_no_longer_offered_that_queues_contacts() {
    let (mut e, accounts, cards, a) = centre();
    set(&mut e, 5.0, a, &[("general", 5)]).unwrap();
    assert_eq!(offers(&mut e), vec![]);
    arrive(&mut e, 10.0, 1, cards);
    assert_eq!(offers(&mut e), vec![], "cards was taken away");
    assert_eq!(e.agent_state(a), Some(AgentState::Available));
    // Given back (at another level): offered at once again.
    set(&mut e, 30.0, a, &[("cards", 2)]).unwrap();
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    let _ = accounts;
}

#[test]
fn an_offer_ringing_and_a_call_connected_stay_when_the_skill_goes() {
    let (mut e, _, cards, a) = centre();
    arrive(&mut e, 10.0, 1, cards);
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    // The phone rings: the change does not withdraw the offer.
    set(&mut e, 11.0, a, &[("general", 5)]).unwrap();
    let out = outputs(&mut e);
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::OfferRescinded { .. })),
        "{out:?}"
    );
    e.handle(
        t(12.0),
        Input::Answer {
            contact: ContactId(1),
            agent: a,
        },
    )
    .unwrap();
    assert_eq!(e.contact_agent(ContactId(1)), Some(a));
    // Connected: the call goes on, and ends normally.
    set(&mut e, 13.0, a, &[("accounts", 3)]).unwrap();
    assert_eq!(e.contact_agent(ContactId(1)), Some(a));
    // The next cards caller waits: after the call the agent no longer has cards.
    arrive(&mut e, 14.0, 2, cards);
    e.handle(
        t(60.0),
        Input::End {
            contact: ContactId(1),
            agitation: None,
            abusive: false,
        },
    )
    .unwrap();
    assert_eq!(offers(&mut e), vec![]);
    assert_eq!(e.agent_state(a), Some(AgentState::Available));
    assert_eq!(e.waiting(cards), 1);
}

#[test]
fn a_busy_agent_given_a_skill_takes_that_queues_caller_when_free() {
    let (mut e, accounts, cards, a) = centre();
    arrive(&mut e, 1.0, 1, cards);
    e.handle(
        t(2.0),
        Input::Answer {
            contact: ContactId(1),
            agent: a,
        },
    )
    .unwrap();
    arrive(&mut e, 3.0, 2, accounts);
    set(&mut e, 4.0, a, &[("accounts", 5), ("cards", 8)]).unwrap();
    assert_eq!(offers(&mut e), vec![(1, a.0)], "only the first offer");
    e.handle(
        t(30.0),
        Input::End {
            contact: ContactId(1),
            agitation: None,
            abusive: false,
        },
    )
    .unwrap();
    assert_eq!(offers(&mut e), vec![(2, a.0)]);
}

#[test]
fn a_logged_out_agent_given_a_skill_counts_once_logged_in_and_wait_estimates_follow() {
    let mut e = Engine::new(EngineConfig::default());
    let q = e
        .add_queue(QueueConfig::new("accounts", &[("accounts", 1)]))
        .unwrap();
    let a = e.add_agent(AgentConfig::new("a", &[("cards", 3)])).unwrap();
    let b = e
        .add_agent(AgentConfig::new("b", &[("accounts", 3)]))
        .unwrap();
    e.handle(t(0.0), Input::Login(b)).unwrap();
    arrive(&mut e, 1.0, 1, q);
    e.handle(
        t(2.0),
        Input::Answer {
            contact: ContactId(1),
            agent: b,
        },
    )
    .unwrap();
    arrive(&mut e, 3.0, 2, q);
    let one_agent = e.wait_estimate(ContactId(2)).unwrap();
    // `a` is logged out: given accounts, it does not yet staff the queue.
    set(&mut e, 4.0, a, &[("accounts", 2)]).unwrap();
    assert_eq!(e.wait_estimate(ContactId(2)), Some(one_agent));
    outputs(&mut e);
    e.handle(t(5.0), Input::Login(a)).unwrap();
    assert_eq!(offers(&mut e), vec![(2, a.0)]);
    arrive(&mut e, 6.0, 3, q);
    // Two agents staff the queue now: the wait estimate halves.
    let two = e.wait_estimate(ContactId(3)).unwrap();
    assert!(
        (two.estimated_wait_seconds - one_agent.estimated_wait_seconds / 2.0).abs() < 1.0,
        "{two:?} vs {one_agent:?}"
    );
    // Taking the skill away again: one agent staffs it.
    set(&mut e, 7.0, a, &[]).unwrap();
    let one_again = e.wait_estimate(ContactId(3)).unwrap();
    assert!(
        (one_again.estimated_wait_seconds - one_agent.estimated_wait_seconds).abs() < 1.0,
        "{one_again:?} vs {one_agent:?}"
    );
}

#[test]
fn an_overflow_step_and_a_contacts_own_skill_see_the_new_skills() {
    let mut e = Engine::new(EngineConfig {
        wellbeing: WellbeingRules::off(),
        ..EngineConfig::default()
    });
    let mut q = QueueConfig::new("accounts", &[("accounts", 5)]);
    q.overflow.push(OverflowStep {
        after_seconds: 30.0,
        add_skills: skills(&[("general", 3)]),
        ..OverflowStep::default()
    });
    let q = e.add_queue(q).unwrap();
    let a = e
        .add_agent(AgentConfig::new("a", &[("accounts", 2), ("english", 1)]))
        .unwrap();
    e.handle(t(0.0), Input::Login(a)).unwrap();
    arrive(&mut e, 1.0, 1, q);
    // A contact that needs English beyond the queue's skill.
    let mut ar = Arrival::new(ContactId(2), q);
    ar.skills = vec![("english".into(), 4)];
    e.handle(t(1.5), Input::Arrive(ar)).unwrap();
    e.handle_timeout(t(31.0));
    assert_eq!(offers(&mut e), vec![], "not yet at any step");
    // Given general: the first contact, past its step, is offered at once.
    set(
        &mut e,
        40.0,
        a,
        &[("accounts", 2), ("english", 1), ("general", 3)],
    )
    .unwrap();
    assert_eq!(offers(&mut e), vec![(1, a.0)]);
    e.handle(
        t(41.0),
        Input::Reject {
            contact: ContactId(1),
            agent: a,
            no_answer: false,
        },
    )
    .unwrap();
    outputs(&mut e);
    // English raised to the contact's need: the second contact is offered.
    set(&mut e, 42.0, a, &[("accounts", 5), ("english", 4)]).unwrap();
    assert_eq!(offers(&mut e), vec![(2, a.0)]);
}

#[test]
fn bad_changes_are_refused_and_change_nothing() {
    let (mut e, accounts, cards, a) = centre();
    assert_eq!(
        set(&mut e, 1.0, a, &[("accounts", 11)]),
        Err(Error::BadLevel {
            skill: "accounts".into(),
            level: 11
        })
    );
    assert_eq!(
        set(&mut e, 1.0, a, &[("accounts", 3), ("cards", 0)]),
        Err(Error::BadLevel {
            skill: "cards".into(),
            level: 0
        })
    );
    assert!(matches!(
        set(&mut e, 1.0, a, &[("*", 3)]),
        Err(Error::BadSkill(_))
    ));
    assert!(matches!(
        set(&mut e, 1.0, a, &[("", 3)]),
        Err(Error::BadSkill(_))
    ));
    assert_eq!(
        set(&mut e, 1.0, AgentId(7), &[("accounts", 3)]),
        Err(Error::UnknownAgent(AgentId(7)))
    );
    // Still cards only.
    arrive(&mut e, 2.0, 1, accounts);
    arrive(&mut e, 3.0, 2, cards);
    assert_eq!(offers(&mut e), vec![(2, a.0)]);
}

#[test]
fn the_number_of_distinct_skills_is_bounded() {
    let (mut e, _, _, a) = centre();
    let many: Vec<String> = (0..MAX_SKILLS).map(|i| format!("s{i}")).collect();
    let list: Vec<(&str, u8)> = many.iter().map(|s| (s.as_str(), 1)).collect();
    assert!(matches!(
        set(&mut e, 1.0, a, &list),
        Err(Error::BadSkill(_))
    ));
    // Within the bound, a new skill is fine.
    set(&mut e, 2.0, a, &[("mandarin", 4)]).unwrap();
}

#[test]
fn the_same_changes_give_the_same_decisions() {
    let run = || {
        let (mut e, accounts, cards, a) = centre();
        let b = e
            .add_agent(AgentConfig::new("b", &[("accounts", 4)]))
            .unwrap();
        e.handle(t(0.5), Input::Login(b)).unwrap();
        let mut log = Vec::new();
        for i in 0..20u64 {
            let q = if i % 3 == 0 { cards } else { accounts };
            arrive(&mut e, i as f64, i + 1, q);
            if i % 4 == 1 {
                let l = (i % 10) as u8 + 1;
                set(
                    &mut e,
                    i as f64 + 0.5,
                    a,
                    &[("accounts", l), ("cards", 11 - l)],
                )
                .unwrap();
            }
            if i % 5 == 2 {
                set(&mut e, i as f64 + 0.7, b, &[("cards", 3)]).unwrap();
            }
            log.extend(outputs(&mut e));
        }
        log
    };
    assert_eq!(run(), run());
}
