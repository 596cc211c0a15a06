//! Projections: contact history, notes, audit, agent states, repeat complaints, and the
//! proof that they are projections (a rebuild from the log gives identical rows).

mod common;

use common::*;
use hotline_model::*;
use hotline_store::Store;

const DAY: i64 = 86_400;

struct Call {
    id: InteractionId,
    start: i64,
    customer: &'static str,
    queue: &'static str,
    disposition: Option<&'static str>,
}

fn call_events(c: &Call) -> Vec<Event> {
    let i = c.id;
    let mut v = vec![
        arrived(i, t(c.start), "+442079460018"),
        ev(
            i,
            t(c.start + 1),
            EventKind::CustomerIdentified {
                customer: c.customer.into(),
            },
        ),
        ev(
            i,
            t(c.start + 2),
            EventKind::Queued {
                queue: c.queue.into(),
                priority: 0,
            },
        ),
        ev(
            i,
            t(c.start + 5),
            EventKind::Answered {
                agent: "1003".into(),
            },
        ),
        ev(
            i,
            t(c.start + 100),
            EventKind::Ended {
                reason: EndReason::AgentHangup,
            },
        ),
    ];
    if let Some(d) = c.disposition {
        v.push(ev(
            i,
            t(c.start + 110),
            EventKind::WrappedUp {
                disposition: d.into(),
                notes: Some(format!("{d} notes")),
                by: Some("1003".into()),
            },
        ));
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeat_complaints_count_unresolved_complaints_in_the_window() {
    for db in backends("repeat_complaints_count_unresolved_complaints_in_the_window").await {
        let store = db.open().await;
        let calls = [
            (
                "complaints",
                Some("complaint_unresolved"),
                "C9",
                -2 * DAY,
                true,
            ),
            ("cards", Some("complaint: fees"), "C9", -3 * DAY, true),
            ("complaints", None, "C9", -4 * DAY, true), // not wrapped up yet
            ("complaints", Some("resolved"), "C9", -5 * DAY, false),
            (
                "complaints",
                Some("Complaint_Resolved"),
                "C9",
                -6 * DAY,
                false,
            ),
            ("general", Some("info"), "C9", -7 * DAY, false), // not a complaint
            ("complaints", Some("complaint"), "C9", -40 * DAY, false), // outside 30 days
            ("complaints", Some("complaint"), "C8", -DAY, false), // someone else
        ];
        for (queue, disposition, customer, start, _) in calls {
            let c = Call {
                id: InteractionId::new(),
                start,
                customer,
                queue,
                disposition,
            };
            store.append(call_events(&c)).await.unwrap();
        }
        let since = t(-30 * DAY);
        let expected = calls.iter().filter(|c| c.4).count() as u32;
        assert_eq!(expected, 3);
        assert_eq!(
            store.repeat_complaints(&"C9".into(), since).await.unwrap(),
            expected
        );
        assert_eq!(
            store.repeat_complaints(&"C8".into(), since).await.unwrap(),
            1
        );
        assert_eq!(
            store
                .repeat_complaints(&"C9".into(), t(-DAY * 5 / 2))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .repeat_complaints(&"nobody".into(), since)
                .await
                .unwrap(),
            0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_history_has_newest_first_with_notes_and_outcomes() {
    for db in backends("contact_history_has_newest_first_with_notes_and_outcomes").await {
        let store = db.open().await;
        let ids: Vec<InteractionId> = (0..4).map(|_| InteractionId::new()).collect();
        for (n, id) in ids.iter().enumerate() {
            let c = Call {
                id: *id,
                start: n as i64 * 1000,
                customer: "C1",
                queue: "cards",
                disposition: Some(if n == 3 { "resolved" } else { "info" }),
            };
            store.append(call_events(&c)).await.unwrap();
        }
        store
            .append_one(InteractionEvent::new(
                ids[3],
                t(5000),
                EventKind::NoteAdded {
                    by: "supervisor".into(),
                    text: "called back".into(),
                },
            ))
            .await
            .unwrap();
        let other = Call {
            id: InteractionId::new(),
            start: 9000,
            customer: "C2",
            queue: "cards",
            disposition: None,
        };
        store.append(call_events(&other)).await.unwrap();

        let h = store.customer_history(&"C1".into(), 3).await.unwrap();
        let got: Vec<InteractionId> = h.iter().map(|e| e.interaction.id).collect();
        assert_eq!(got, [ids[3], ids[2], ids[1]]);
        assert_eq!(h[0].interaction.disposition.as_deref(), Some("resolved"));
        assert_eq!(h[0].interaction.end_reason, Some(EndReason::AgentHangup));
        let notes: Vec<(&str, &str)> = h[0]
            .notes
            .iter()
            .map(|n| (n.by.as_str(), n.text.as_str()))
            .collect();
        assert_eq!(
            notes,
            [("1003", "resolved notes"), ("supervisor", "called back")]
        );
        assert_eq!(h[1].notes.len(), 1);
        assert_eq!(
            store
                .customer_history(&"C2".into(), 10)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            store
                .customer_history(&"C3".into(), 10)
                .await
                .unwrap()
                .is_empty()
        );

        let since = store.interactions_since(t(2000)).await.unwrap();
        let got: Vec<InteractionId> = since.iter().map(|r| r.id).collect();
        assert_eq!(
            got,
            [ids[2], ids[3], other.id],
            "started at or after, oldest first"
        );
    }
}

/// A log touching every projection.
async fn busy_day(store: &Store) {
    store
        .import_customers_csv(&b"id,name,phone,accounts,vip,language\nC1,Ada,+442079460018,A1,yes,en\nC2,Bob,+15550100199,,no,\n"[..], "admin", |_, _| {})
        .await
        .unwrap();
    for agent in ["1001", "1002"] {
        store
            .append_one(AgentEvent::new(agent.into(), t(0), AgentState::LoggedIn))
            .await
            .unwrap();
        store
            .append_one(AgentEvent::new(agent.into(), t(1), AgentState::Available))
            .await
            .unwrap();
    }
    let mut brk = AgentEvent::new(
        "1002".into(),
        t(500),
        AgentState::Break {
            reason: Some("recovery".into()),
        },
    );
    brk.by = Some("supervisor".into());
    store.append_one(brk).await.unwrap();
    for n in 0..20 {
        let i = InteractionId::new();
        let mut events = answered_call(
            i,
            n * 100,
            if n % 2 == 0 { "C1" } else { "C2" },
            if n % 3 == 0 { "complaints" } else { "cards" },
            if n % 2 == 0 { "1001" } else { "1002" },
            if n % 4 == 0 { "complaint" } else { "resolved" },
        );
        if n % 5 == 0 {
            events.push(ev(
                i,
                t(n * 100 + 90),
                EventKind::Flagged {
                    by: "1001".into(),
                    flag: Flag::Abusive,
                },
            ));
            events.push(ev(
                i,
                t(n * 100 + 91),
                EventKind::Escalated {
                    to: Target::Queue("senior".into()),
                    reason: "agitated".into(),
                },
            ));
            events.push(ev(
                i,
                t(n * 100 + 92),
                EventKind::Transferred {
                    to: Target::Agent("1009".into()),
                },
            ));
        }
        store.append(events).await.unwrap();
    }
    let vm = InteractionId::new();
    store
        .append(vec![
            arrived(vm, t(3000), "+15550100199"),
            ev(
                vm,
                t(3001),
                EventKind::Queued {
                    queue: "general".into(),
                    priority: 1,
                },
            ),
            ev(
                vm,
                t(3050),
                EventKind::CallbackRequested {
                    number: "+15550100199".into(),
                    keeps_place: true,
                },
            ),
            ev(
                vm,
                t(3060),
                EventKind::VoicemailLeft {
                    path: "vm/1.wav".into(),
                },
            ),
            ev(vm, t(3061), EventKind::Abandoned { wait_secs: 59.5 }),
            ev(
                vm,
                t(3061),
                EventKind::Ended {
                    reason: EndReason::Abandoned,
                },
            ),
        ])
        .await
        .unwrap();
    // Cut off: closed as interrupted on the next open.
    store
        .append(vec![arrived(
            InteractionId::new(),
            t(4000),
            "+442079460018",
        )])
        .await
        .unwrap();
    let mut a = AuditEvent::new(t(4001), "supervisor", "export", "interactions");
    a.detail = Some("csv".into());
    store.append_one(a).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_from_the_log_gives_identical_rows() {
    for db in backends("rebuild_from_the_log_gives_identical_rows").await {
        let store = db.open().await;
        busy_day(&store).await;
        store.close().await;
        let store = db.open().await;
        assert_eq!(store.recovery().interrupted.len(), 1);

        let before = store.dump_projections().await.unwrap();
        for table in [
            "interactions (22 rows)",
            "customers (2 rows)",
            "notes (20 rows)",
            "recordings (21 rows)",
            "agent_states (2 rows)",
        ] {
            assert!(before.contains(table), "{table} in\n{before}");
        }

        // Spoil the projections behind the store's back (the log stays intact) ...
        db.spoil(&[
        "UPDATE interactions SET agent = 'nobody', mos = NULL",
        "DELETE FROM notes WHERE seq % 2 = 0",
        "DELETE FROM customers",
        "DELETE FROM audit WHERE action = 'agent.state'",
        "INSERT INTO recordings (path, interaction, kind, at_ns, seq) VALUES ('x', 'y', 'z', 0, 0)",
    ])
    .await;
        let spoiled = store.dump_projections().await.unwrap();
        assert_ne!(spoiled, before);

        // ... and recompute them from the log.
        let replayed = store.rebuild_projections().await.unwrap();
        assert_eq!(replayed, store.stats().head.0);
        let after = store.dump_projections().await.unwrap();
        assert_eq!(after, before);

        // The store goes on appending normally after a rebuild.
        let i = InteractionId::new();
        store.append(vec![arrived(i, t(5000), "1")]).await.unwrap();
        assert!(store.interaction(i).await.unwrap().is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_agent_states_and_cdr_details() {
    for db in backends("audit_agent_states_and_cdr_details").await {
        let store = db.open().await;
        busy_day(&store).await;

        let states = store.agent_states().await.unwrap();
        assert_eq!(states.len(), 2);
        assert_eq!(states[0].state, AgentState::Available);
        assert_eq!(
            states[1].state,
            AgentState::Break {
                reason: Some("recovery".into())
            }
        );
        assert_eq!(states[1].since, t(500));

        let audit = store.audit(t(0)).await.unwrap();
        let by = |action: &str| audit.iter().filter(|a| a.action == action).count();
        assert_eq!(by("agent.state"), 5);
        assert_eq!(by("interaction.wrap_up"), 20);
        assert_eq!(by("interaction.flag"), 4);
        assert_eq!(by("export"), 1);
        let brk = audit
            .iter()
            .find(|a| a.action == "agent.state" && a.user == "supervisor")
            .unwrap();
        assert_eq!(
            (brk.target.as_str(), brk.detail.as_deref()),
            ("1002", Some("break: recovery"))
        );
        assert!(
            store
                .audit(t(4001))
                .await
                .unwrap()
                .iter()
                .all(|a| a.at >= t(4001))
        );

        let all = store.interactions_since(t(0)).await.unwrap();
        let flagged: Vec<_> = all.iter().filter(|r| r.flagged).collect();
        assert_eq!(flagged.len(), 4);
        assert!(
            flagged
                .iter()
                .all(|r| r.escalated && r.transfers == 1 && r.queue == Some("senior".into()))
        );
        let vm = all.iter().find(|r| r.voicemail.is_some()).unwrap();
        assert_eq!(vm.end_reason, Some(EndReason::Abandoned));
        assert_eq!(vm.abandoned_after_secs, Some(59.5));
        assert_eq!(vm.callback_number.as_deref(), Some("+15550100199"));
        assert_eq!(vm.recording, None);
        assert_eq!(vm.answered, None);
        let recs = store.recordings(vm.id).await.unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(
            (recs[0].path.as_str(), recs[0].kind.as_str()),
            ("vm/1.wav", "voicemail")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_built_by_another_version_are_rebuilt_on_open() {
    for db in backends("projections_built_by_another_version_are_rebuilt_on_open").await {
        let store = db.open().await;
        busy_day(&store).await;
        store.close().await;
        let store = db.open().await;
        let before = store.dump_projections().await.unwrap();
        let head = store.stats().head;
        store.close().await;

        db.spoil(&[
            "UPDATE meta SET value = '0' WHERE key = 'projection_version'",
            "DELETE FROM interactions",
        ])
        .await;

        let store = db.open().await;
        assert_eq!(store.recovery().projections_rebuilt_from, head.0);
        assert!(store.recovery().interrupted.is_empty());
        assert_eq!(store.dump_projections().await.unwrap(), before);
    }
}

#[tokio::test]
async fn the_latest_audit_entry_of_an_action_per_target() {
    for db in backends("the_latest_audit_entry_of_an_action_per_target").await {
        let store = db.open().await;
        let audit = |at: i64, user: &str, action: &str, target: &str, detail: &str| {
            let mut e = AuditEvent::new(t(at), user, action, target);
            e.detail = Some(detail.to_string());
            Event::Audit(e)
        };
        store
            .append(vec![
                audit(10, "supervisor", "agent_skills", "1003", "first"),
                audit(20, "admin", "agent_skills", "1001", "only"),
                audit(30, "supervisor", "recording_download", "1003", "other"),
                audit(40, "admin", "agent_skills", "1003", "second"),
            ])
            .await
            .unwrap();
        let latest = store.latest_audit("agent_skills").await.unwrap();
        let got: Vec<_> = latest
            .iter()
            .map(|a| (a.target.as_str(), a.user.as_str(), a.detail.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("1001", "admin", Some("only")),
                ("1003", "admin", Some("second"))
            ]
        );
        assert!(store.latest_audit("nothing").await.unwrap().is_empty());
        store.close().await;
    }
}
