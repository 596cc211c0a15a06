//! The campaign rules, one by one, through the core's inputs and decisions.

use hotline_dialer::{
    CallId, CampaignConfig, CampaignState, Contact, ContactResult, Control, Decision, Dialer,
    Error, Input, Mode, Outcome, Time,
};

/// 2026-12-01 00:00 UTC, a Tuesday.
const TUE: i64 = 1_764_547_200_000;
const H: i64 = 3_600_000;
const S: i64 = 1_000;

fn uk(id: u64) -> Contact {
    Contact {
        id,
        phone: format!("+4477009{id:05}"),
        time_zone: None,
    }
}

fn dialer(mode: Mode) -> Dialer {
    let mut cfg = CampaignConfig::new("test", mode, "+442079460000");
    cfg.centre_time_zone = "Europe/London".into();
    Dialer::new(cfg).unwrap()
}

fn drain(d: &mut Dialer) -> Vec<Decision> {
    std::iter::from_fn(|| d.poll_decision()).collect()
}

fn dials(ds: &[Decision]) -> Vec<(CallId, u64)> {
    ds.iter()
        .filter_map(|d| match d {
            Decision::Dial { call, contact, .. } => Some((*call, *contact)),
            _ => None,
        })
        .collect()
}

fn started(mode: Mode, contacts: u64, at: i64) -> Dialer {
    let mut d = dialer(mode);
    d.handle(
        Time(at),
        Input::AddContacts((1..=contacts).map(uk).collect()),
    )
    .unwrap();
    d.handle(Time(at), Input::Control(Control::Start)).unwrap();
    d
}

#[test]
fn settings_are_checked() {
    let ok = CampaignConfig::new("c", Mode::Predictive, "+442079460000");
    assert!(Dialer::new(ok.clone()).is_ok());
    let mut no_cli = ok.clone();
    no_cli.caller_id = String::new();
    assert!(matches!(Dialer::new(no_cli), Err(Error::Config(m)) if m.contains("caller_id")));
    let mut short = ok.clone();
    short.rules.ring_seconds = 10.0;
    assert!(matches!(Dialer::new(short), Err(Error::Config(m)) if m.contains("ring_seconds")));
    let mut lax = ok.clone();
    lax.rules.max_abandon_rate = 0.05;
    assert!(Dialer::new(lax).is_err());
    let mut block = ok;
    block.rules.abandoned_redial_block_hours = 24.0;
    assert!(Dialer::new(block).is_err());
}

#[test]
fn supervisor_transitions() {
    let mut d = dialer(Mode::Progressive);
    let t = Time(TUE + 10 * H);
    assert!(matches!(
        d.handle(t, Input::Control(Control::Pause)),
        Err(Error::Transition { .. })
    ));
    d.handle(t, Input::AddContacts(vec![uk(1)])).unwrap();
    d.handle(t, Input::Control(Control::Start)).unwrap();
    d.handle(t, Input::Control(Control::Pause)).unwrap();
    // Paused: a free agent gets no call.
    d.handle(
        t,
        Input::Agents {
            free: 1,
            staffed: 1,
        },
    )
    .unwrap();
    assert!(dials(&drain(&mut d)).is_empty());
    d.handle(t, Input::Control(Control::Resume)).unwrap();
    assert_eq!(dials(&drain(&mut d)).len(), 1);
    d.handle(t, Input::Control(Control::Finish)).unwrap();
    assert_eq!(d.state(), CampaignState::Finished);
    assert!(d.handle(t, Input::Control(Control::Start)).is_err());
    assert!(d.handle(t, Input::AddContacts(vec![uk(2)])).is_err());
}

#[test]
fn bad_contacts_are_refused_whole() {
    let mut d = dialer(Mode::Progressive);
    let t = Time(TUE + 10 * H);
    let bad = Contact {
        id: 2,
        phone: "07700900002".into(),
        time_zone: None,
    };
    let e = d
        .handle(t, Input::AddContacts(vec![uk(1), bad]))
        .unwrap_err();
    assert!(matches!(e, Error::BadContact { id: 2, .. }), "{e}");
    let zone = Contact {
        id: 3,
        phone: "+447700900003".into(),
        time_zone: Some("Mars/Olympus".into()),
    };
    assert!(d.handle(t, Input::AddContacts(vec![zone])).is_err());
    // Nothing was added: contact 1 can still be added.
    d.handle(t, Input::AddContacts(vec![uk(1)])).unwrap();
    assert!(d.handle(t, Input::AddContacts(vec![uk(1)])).is_err());
}

#[test]
fn progressive_dials_one_per_free_agent_and_connects() {
    let t = TUE + 10 * H;
    let mut d = started(Mode::Progressive, 10, t);
    d.handle(
        Time(t),
        Input::Agents {
            free: 3,
            staffed: 5,
        },
    )
    .unwrap();
    let ds = dials(&drain(&mut d));
    assert_eq!(ds.len(), 3);
    // Nothing more while the three ring.
    d.handle_timeout(Time(t + 5 * S));
    assert!(dials(&drain(&mut d)).is_empty());
    d.handle(
        Time(t + 6 * S),
        Input::Outcome {
            call: ds[0].0,
            outcome: Outcome::Live,
        },
    )
    .unwrap();
    let out = drain(&mut d);
    assert!(
        out.iter()
            .any(|x| matches!(x, Decision::Connect { call, .. } if *call == ds[0].0))
    );
    // A busy line frees a slot: one new dial.
    d.handle(
        Time(t + 7 * S),
        Input::Outcome {
            call: ds[1].0,
            outcome: Outcome::Busy,
        },
    )
    .unwrap();
    assert_eq!(dials(&drain(&mut d)).len(), 1);
    assert_eq!(d.in_flight(), 2);
    assert_eq!(d.free_agents(), 2);
}

#[test]
fn ring_at_least_the_limit_then_cancel() {
    let t = TUE + 10 * H;
    let mut d = started(Mode::Progressive, 1, t);
    d.handle(
        Time(t),
        Input::Agents {
            free: 1,
            staffed: 1,
        },
    )
    .unwrap();
    let (call, _) = dials(&drain(&mut d))[0];
    assert_eq!(d.poll_timeout(), Some(Time(t + 20 * S)));
    d.handle_timeout(Time(t + 15 * S));
    assert!(drain(&mut d).is_empty());
    d.handle_timeout(Time(t + 20 * S));
    let out = drain(&mut d);
    assert!(out.contains(&Decision::CancelDial { call }));
    assert_eq!(d.stats(Time(t + 20 * S)).no_answer, 1);
    // The outcome cannot be given twice.
    assert!(
        d.handle(
            Time(t + 21 * S),
            Input::Outcome {
                call,
                outcome: Outcome::Live
            }
        )
        .is_err()
    );
}

#[test]
fn answered_with_no_agent_free_hears_the_message_at_once() {
    let t = TUE + 10 * H;
    let mut d = started(Mode::Progressive, 2, t);
    d.handle(
        Time(t),
        Input::Agents {
            free: 1,
            staffed: 1,
        },
    )
    .unwrap();
    let (call, contact) = dials(&drain(&mut d))[0];
    // The agent was taken by other work meanwhile.
    d.handle(
        Time(t + S),
        Input::Agents {
            free: 0,
            staffed: 1,
        },
    )
    .unwrap();
    d.handle(
        Time(t + 8 * S),
        Input::Outcome {
            call,
            outcome: Outcome::Live,
        },
    )
    .unwrap();
    // The decision comes with the answer itself (no timer in between).
    assert_eq!(
        d.poll_decision(),
        Some(Decision::PlayAbandonMessage { call, contact })
    );
    let s = d.stats(Time(t + 8 * S));
    assert_eq!((s.live, s.abandoned, s.connected), (1, 1, 0));
    assert_eq!(s.ofcom_rate_24h, 1.0);
    assert_eq!(s.tsr_rate_30d, 1.0);
    // 25 hours later the Ofcom window has moved on; the TSR period has not.
    let s = d.stats(Time(t + 25 * H));
    assert_eq!(s.ofcom_rate_24h, 0.0);
    assert_eq!(s.tsr_rate_30d, 1.0);
}

#[test]
fn do_not_call_is_checked_at_dial_time() {
    let t = TUE + 10 * H;
    let mut d = started(Mode::Progressive, 2, t);
    d.handle(Time(t), Input::DncAdd(uk(1).phone)).unwrap();
    assert!(d.handle(Time(t), Input::DncAdd("12345".into())).is_err());
    d.handle(
        Time(t),
        Input::Agents {
            free: 2,
            staffed: 2,
        },
    )
    .unwrap();
    let out = drain(&mut d);
    assert_eq!(dials(&out).iter().map(|x| x.1).collect::<Vec<_>>(), vec![2]);
    assert!(out.contains(&Decision::ContactDone {
        contact: 1,
        result: ContactResult::DoNotCall
    }));
    assert_eq!(d.stats(Time(t)).dnc_blocked, 1);
}

#[test]
fn calling_hours_of_the_called_person() {
    // 07:00 UTC = 07:00 London: closed; a New York record: 02:00, closed too.
    let t = TUE + 7 * H;
    let mut d = dialer(Mode::Progressive);
    let ny = Contact {
        id: 2,
        phone: "+447700900002".into(),
        time_zone: Some("America/New_York".into()),
    };
    d.handle(Time(t), Input::AddContacts(vec![uk(1), ny]))
        .unwrap();
    d.handle(Time(t), Input::Control(Control::Start)).unwrap();
    d.handle(
        Time(t),
        Input::Agents {
            free: 2,
            staffed: 2,
        },
    )
    .unwrap();
    assert!(dials(&drain(&mut d)).is_empty());
    // London opens at 08:00 UTC.
    assert_eq!(d.poll_timeout(), Some(Time(TUE + 8 * H)));
    d.handle_timeout(Time(TUE + 8 * H));
    let first = dials(&drain(&mut d));
    assert_eq!(first.iter().map(|x| x.1).collect::<Vec<_>>(), vec![1]);
    d.handle(
        Time(TUE + 8 * H + 5 * S),
        Input::Outcome {
            call: first[0].0,
            outcome: Outcome::Live,
        },
    )
    .unwrap();
    d.handle(
        Time(TUE + 8 * H + 5 * S),
        Input::Agents {
            free: 2,
            staffed: 2,
        },
    )
    .unwrap();
    // New York opens at 13:00 UTC.
    assert_eq!(d.poll_timeout(), Some(Time(TUE + 13 * H)));
    d.handle_timeout(Time(TUE + 13 * H - S));
    assert!(dials(&drain(&mut d)).is_empty());
    d.handle_timeout(Time(TUE + 13 * H));
    assert_eq!(
        dials(&drain(&mut d))
            .iter()
            .map(|x| x.1)
            .collect::<Vec<_>>(),
        vec![2]
    );
}

#[test]
fn attempts_per_day_are_capped() {
    let mut cfg = CampaignConfig::new("cap", Mode::Progressive, "+442079460000");
    cfg.retries.no_answer.max_attempts = 10;
    cfg.retries.no_answer.spacing_seconds = 60;
    cfg.rules.max_attempts_per_day = 2;
    let mut d = Dialer::new(cfg).unwrap();
    let mut t = TUE + 10 * H;
    d.handle(Time(t), Input::AddContacts(vec![uk(1)])).unwrap();
    d.handle(Time(t), Input::Control(Control::Start)).unwrap();
    d.handle(
        Time(t),
        Input::Agents {
            free: 1,
            staffed: 1,
        },
    )
    .unwrap();
    let mut times = Vec::new();
    for _ in 0..6 {
        let out = drain(&mut d);
        for (call, _) in dials(&out) {
            times.push(t);
            d.handle(
                Time(t + 5 * S),
                Input::Outcome {
                    call,
                    outcome: Outcome::NoAnswer,
                },
            )
            .unwrap();
        }
        let Some(next) = d.poll_timeout() else { break };
        t = next.0;
        d.handle_timeout(next);
    }
    // Two dials on Tuesday, then none until 08:00 London on Wednesday.
    assert!(times.len() >= 3, "{times:?}");
    assert!(times[1] < TUE + 24 * H);
    assert!(times[2] >= TUE + 24 * H + 8 * H, "{times:?}");
}

#[test]
fn predictive_never_redials_an_abandoned_number_within_72_hours() {
    let mut cfg = CampaignConfig::new("p", Mode::Predictive, "+442079460000");
    cfg.calling_hours = hotline_dialer::CallingHours::always();
    cfg.retries.abandoned.spacing_seconds = 60;
    let mut d = Dialer::new(cfg).unwrap();
    let t = TUE + 10 * H;
    d.handle(Time(t), Input::AddContacts(vec![uk(1)])).unwrap();
    d.handle(Time(t), Input::Control(Control::Start)).unwrap();
    d.handle(
        Time(t),
        Input::Agents {
            free: 1,
            staffed: 1,
        },
    )
    .unwrap();
    let (call, _) = dials(&drain(&mut d))[0];
    d.handle(
        Time(t),
        Input::Agents {
            free: 0,
            staffed: 1,
        },
    )
    .unwrap();
    d.handle(
        Time(t + 5 * S),
        Input::Outcome {
            call,
            outcome: Outcome::Live,
        },
    )
    .unwrap();
    d.handle(Time(t + 6 * S), Input::Ended { call }).unwrap();
    d.handle(
        Time(t + 6 * S),
        Input::Agents {
            free: 1,
            staffed: 1,
        },
    )
    .unwrap();
    // The retry spacing (60 s) is shorter than the 72 h block: the block wins.
    d.handle_timeout(Time(t + 70 * S));
    assert!(dials(&drain(&mut d)).is_empty());
    assert_eq!(d.poll_timeout(), Some(Time(t + 5 * S + 72 * H)));
    d.handle_timeout(Time(t + 5 * S + 72 * H));
    assert_eq!(dials(&drain(&mut d)).len(), 1);
}

#[test]
fn preview_offers_then_dials_or_skips() {
    let t = TUE + 10 * H;
    let mut d = started(Mode::Preview, 3, t);
    d.handle(
        Time(t),
        Input::Agents {
            free: 2,
            staffed: 2,
        },
    )
    .unwrap();
    let out = drain(&mut d);
    let offers: Vec<u64> = out
        .iter()
        .filter_map(|x| match x {
            Decision::OfferPreview { contact, .. } => Some(*contact),
            _ => None,
        })
        .collect();
    assert_eq!(offers, vec![1, 2]);
    assert!(dials(&out).is_empty(), "preview waits for the agent");
    d.handle(Time(t + 10 * S), Input::PreviewSkip { contact: 2 })
        .unwrap();
    // The skipping agent gets the next card.
    let out = drain(&mut d);
    assert!(
        out.iter()
            .any(|x| matches!(x, Decision::OfferPreview { contact: 3, .. }))
    );
    d.handle(Time(t + 12 * S), Input::PreviewDial { contact: 1 })
        .unwrap();
    let out = drain(&mut d);
    let (call, contact) = dials(&out)[0];
    assert_eq!(contact, 1);
    // The agent waits for the call: even with no agent free it is connected, not abandoned.
    d.handle(
        Time(t + 13 * S),
        Input::Agents {
            free: 0,
            staffed: 2,
        },
    )
    .unwrap();
    d.handle(
        Time(t + 20 * S),
        Input::Outcome {
            call,
            outcome: Outcome::Live,
        },
    )
    .unwrap();
    assert!(
        drain(&mut d)
            .iter()
            .any(|x| matches!(x, Decision::Connect { .. }))
    );
    assert!(
        d.handle(Time(t), Input::PreviewDial { contact: 1 })
            .is_err()
    );
}

#[test]
fn agentless_runs_the_flow_at_its_concurrency() {
    let mut cfg = CampaignConfig::new("survey", Mode::Agentless, "+442079460000");
    cfg.agentless_concurrency = 2;
    let mut d = Dialer::new(cfg).unwrap();
    let t = TUE + 10 * H;
    d.handle(Time(t), Input::AddContacts((1..=5).map(uk).collect()))
        .unwrap();
    d.handle(Time(t), Input::Control(Control::Start)).unwrap();
    let ds = dials(&drain(&mut d));
    assert_eq!(ds.len(), 2);
    d.handle(
        Time(t + 5 * S),
        Input::Outcome {
            call: ds[0].0,
            outcome: Outcome::Live,
        },
    )
    .unwrap();
    let out = drain(&mut d);
    assert!(out.iter().any(|x| matches!(x, Decision::RunFlow { .. })));
    // The flow counts against the concurrency until it ends.
    assert!(dials(&out).is_empty());
    d.handle(Time(t + 60 * S), Input::Ended { call: ds[0].0 })
        .unwrap();
    assert_eq!(dials(&drain(&mut d)).len(), 1);
}

#[test]
fn absurd_times_do_not_break_the_core() {
    for t in [i64::MIN, -1, 0, i64::MAX] {
        let mut d = started(Mode::Predictive, 3, t);
        d.handle(
            Time(t),
            Input::Agents {
                free: 3,
                staffed: 12,
            },
        )
        .unwrap();
        let out = drain(&mut d);
        for (call, _) in dials(&out) {
            d.handle(
                Time(t),
                Input::Outcome {
                    call,
                    outcome: Outcome::Live,
                },
            )
            .unwrap();
        }
        if let Some(next) = d.poll_timeout() {
            d.handle_timeout(next);
        }
        d.handle_timeout(Time(t));
        let _ = d.stats(Time(t));
        drain(&mut d);
    }
}
