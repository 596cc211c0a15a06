use hotline_model::*;

fn at() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-23T09:00:00.25Z").unwrap()
}

#[test]
fn interaction_event_json_is_tagged_and_round_trips() {
    let e = Event::from(InteractionEvent {
        id: EventId::from_parts(1, 1),
        interaction: InteractionId::from_parts(1, 2),
        at: at(),
        seq: Seq(7),
        kind: EventKind::Queued {
            queue: "cards".into(),
            priority: 2,
        },
    });
    let v: serde_json::Value = serde_json::to_value(&e).unwrap();
    assert_eq!(v["stream"], "interaction");
    assert_eq!(v["at"], "2026-11-23T09:00:00.25Z");
    assert_eq!(v["seq"], 7);
    assert_eq!(v["kind"]["type"], "queued");
    assert_eq!(v["kind"]["queue"], "cards");
    let back: Event = serde_json::from_value(v).unwrap();
    assert_eq!(back, e);
}

#[test]
fn every_kind_round_trips() {
    let kinds = vec![
        EventKind::Arrived {
            channel: Channel::Voice,
            from: "+4420".into(),
            to: "95588".into(),
            trunk: Some("t1".into()),
        },
        EventKind::FlowStep {
            step: "menu".into(),
            detail: Some("1".into()),
        },
        EventKind::CustomerIdentified {
            customer: "C1".into(),
        },
        EventKind::Queued {
            queue: "complaints".into(),
            priority: 0,
        },
        EventKind::Offered {
            agent: "1001".into(),
        },
        EventKind::OfferRejected {
            agent: "1001".into(),
            reason: "timeout".into(),
        },
        EventKind::Answered {
            agent: "1001".into(),
        },
        EventKind::Held,
        EventKind::Resumed,
        EventKind::Transferred {
            to: Target::Queue("senior".into()),
        },
        EventKind::Escalated {
            to: Target::Agent("1009".into()),
            reason: "agitated".into(),
        },
        EventKind::RecordingStarted {
            path: "r/1.wav".into(),
        },
        EventKind::RecordingPaused,
        EventKind::RecordingResumed,
        EventKind::RecordingFailed {
            path: "r/2.wav".into(),
            error: "No space left on device".into(),
        },
        EventKind::QualitySample {
            leg: Leg::Caller,
            mos: 4.1,
            loss: 0.01,
            jitter_ms: 3.5,
            rtt_ms: None,
        },
        EventKind::Agitation {
            score: 0.8,
            leg: Leg::Caller,
        },
        EventKind::Flagged {
            by: "1001".into(),
            flag: Flag::Abusive,
        },
        EventKind::CallbackRequested {
            number: "+4420".into(),
            keeps_place: true,
        },
        EventKind::VoicemailLeft {
            path: "vm/1.wav".into(),
        },
        EventKind::Abandoned { wait_secs: 42.5 },
        EventKind::Ended {
            reason: EndReason::CallerHangup,
        },
        EventKind::WrappedUp {
            disposition: "resolved".into(),
            notes: Some("ok".into()),
            by: Some("1001".into()),
        },
        EventKind::Surveyed { score: 5 },
        EventKind::NoteAdded {
            by: "supervisor".into(),
            text: "call back".into(),
        },
    ];
    for kind in kinds {
        let name = kind.name();
        let e = Event::from(InteractionEvent::new(InteractionId::new(), at(), kind));
        e.validate().unwrap();
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(&format!("\"type\":\"{name}\"")), "{json}");
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e, "{json}");
    }
}

#[test]
fn unknown_kinds_and_reasons_from_newer_versions_are_readable() {
    let json = r#"{"stream":"interaction","id":"01KAQZ5Y0000000000000000AA","interaction":"01KAQZ5Y0000000000000000AB","at":"2026-11-23T09:00:00Z","seq":3,"kind":{"type":"teleported","where":"mars"}}"#;
    let e: Event = serde_json::from_str(json).unwrap();
    match e {
        Event::Interaction(e) => assert_eq!(e.kind, EventKind::Unknown),
        other => panic!("{other:?}"),
    }
    let r: EndReason = serde_json::from_str("\"eaten_by_grue\"").unwrap();
    assert_eq!(r, EndReason::Other);
}

#[test]
fn agent_customer_audit_events_round_trip() {
    let events = vec![
        Event::from(AgentEvent::new(
            "1001".into(),
            at(),
            AgentState::NotReady {
                reason: Some("lunch".into()),
            },
        )),
        Event::from(AgentEvent::new("1001".into(), at(), AgentState::LoggedOut)),
        Event::from(CustomerEvent::new(
            at(),
            Some("admin".into()),
            CustomerChange::Upserted(Customer {
                pin_hash: None,
                id: "C1".into(),
                name: "Ada".into(),
                phones: vec!["+4420".into()],
                accounts: vec!["A1".into()],
                emails: vec!["ada@example.com".into()],
                vip: true,
                language: Some("en".into()),
            }),
        )),
        Event::from(AuditEvent::new(at(), "admin", "login", "admin")),
    ];
    for e in events {
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e, "{json}");
    }
    let v = serde_json::to_value(Event::from(AgentEvent::new(
        "1001".into(),
        at(),
        AgentState::Available,
    )))
    .unwrap();
    assert_eq!(v["stream"], "agent");
    assert_eq!(v["state"]["state"], "available");
}

#[test]
fn non_finite_and_oversized_values_are_rejected() {
    let bad = [
        EventKind::QualitySample {
            leg: Leg::Agent,
            mos: f64::NAN,
            loss: 0.0,
            jitter_ms: 0.0,
            rtt_ms: None,
        },
        EventKind::Agitation {
            score: f64::INFINITY,
            leg: Leg::Caller,
        },
        EventKind::Agitation {
            score: 1.5,
            leg: Leg::Caller,
        },
        EventKind::Abandoned { wait_secs: -1.0 },
        EventKind::NoteAdded {
            by: "x".into(),
            text: "y".repeat(MAX_TEXT_LEN + 1),
        },
    ];
    for kind in bad {
        let e = Event::from(InteractionEvent::new(InteractionId::new(), at(), kind));
        assert!(e.validate().is_err(), "{e:?}");
    }
}
