//! The event log: round trip, group commit, ordering, errors, recovery on open.

mod common;

use std::collections::HashSet;

use common::*;
use hotline_model::*;
use hotline_store::{Error, Registration, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_and_read_back() {
    for db in backends("append_and_read_back").await {
        let store = db.open().await;
        assert_eq!(store.recovery().interrupted, vec![]);
        assert_eq!(
            store.recovery().migrations_applied,
            hotline_store::SCHEMA_VERSION as usize,
            "every migration on a new file"
        );
        let mut feed = store.subscribe();

        let i = InteractionId::new();
        let events = answered_call(i, 0, "C1", "cards", "1001", "resolved");
        let last = store.append(events.clone()).await.unwrap();
        assert_eq!(last, Seq(events.len() as u64));

        let read = store.interaction_events(i).await.unwrap();
        assert_eq!(read.len(), events.len());
        for (n, (got, sent)) in read.iter().zip(&events).enumerate() {
            let mut want = sent.clone();
            want.set_seq(Seq(n as u64 + 1));
            assert_eq!(got, &want);
            assert_eq!(
                &feed.recv().await.unwrap(),
                &want,
                "subscribers see committed events in order"
            );
        }

        let cdr = store.interaction(i).await.unwrap().unwrap();
        assert_eq!(cdr.channel, Some(Channel::Voice));
        assert_eq!(cdr.from.as_deref(), Some("+442079460018"));
        assert_eq!(cdr.to.as_deref(), Some("95588"));
        assert_eq!(cdr.queue, Some("cards".into()));
        assert_eq!(cdr.agent, Some("1001".into()));
        assert_eq!(cdr.customer, Some("C1".into()));
        assert_eq!(cdr.started, t(0));
        assert_eq!(cdr.answered, Some(t(12)));
        assert_eq!(cdr.ended, Some(t(60)));
        assert_eq!(cdr.end_reason, Some(EndReason::CallerHangup));
        assert_eq!(cdr.recording, Some(format!("rec/{i}.wav")));
        assert_eq!(cdr.mos, Some(3.7), "the worst sample");
        assert_eq!(cdr.agitation, Some(0.7), "the highest score");
        assert_eq!(cdr.survey, Some(4));
        assert_eq!(cdr.disposition.as_deref(), Some("resolved"));
        assert_eq!(cdr.last_seq, last);

        // The CDR as the HTTP API serves it.
        let json = serde_json::to_value(&cdr).unwrap();
        for key in [
            "id",
            "channel",
            "from",
            "to",
            "queue",
            "agent",
            "started",
            "answered",
            "ended",
            "end_reason",
            "recording",
        ] {
            assert!(json.get(key).is_some(), "{key} missing from {json}");
        }
        assert_eq!(json["started"], "2026-11-23T00:00:00Z");
        assert_eq!(json["end_reason"], "caller_hangup");

        // Reopen: the same log, nothing to recover.
        store.close().await;
        let store = db.open().await;
        assert_eq!(store.recovery().interrupted, vec![]);
        assert_eq!(store.recovery().migrations_applied, 0);
        assert_eq!(store.interaction_events(i).await.unwrap(), read);
        assert_eq!(store.stats().head, last);
        let next = store
            .append_one(InteractionEvent::new(
                i,
                t(99),
                EventKind::NoteAdded {
                    by: "supervisor".into(),
                    text: "ok".into(),
                },
            ))
            .await
            .unwrap();
        assert_eq!(
            next,
            Seq(last.0 + 1),
            "seqs continue without gaps after a reopen"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_appends_are_durable_in_order_and_grouped() {
    const TASKS: usize = 50;
    const PER_TASK: usize = 20;
    for db in backends("a_thousand_concurrent_appends_are_durable_in_order_and_grouped").await {
        let store = db.open().await;

        let mut handles = Vec::new();
        for task in 0..TASKS {
            let store = store.clone();
            handles.push(tokio::spawn(async move {
                let i = InteractionId::new();
                let mut acked = Vec::new();
                for n in 0..PER_TASK {
                    let e = ev(
                        i,
                        t(n as i64),
                        EventKind::FlowStep {
                            step: format!("task{task}"),
                            detail: Some(n.to_string()),
                        },
                    );
                    let id = e.id();
                    let seq = store.append(vec![e]).await.unwrap();
                    acked.push((seq, id));
                }
                (i, acked)
            }));
        }
        let mut all_seqs = HashSet::new();
        let mut acked_all = Vec::new();
        for h in handles {
            let (i, acked) = h.await.unwrap();
            assert!(
                acked.windows(2).all(|w| w[0].0 < w[1].0),
                "one task's appends are committed in order"
            );
            for &(seq, _) in &acked {
                assert!(all_seqs.insert(seq), "seq {seq} given twice");
            }
            acked_all.push((i, acked));
        }
        assert_eq!(all_seqs.len(), TASKS * PER_TASK);
        assert_eq!(
            all_seqs.iter().max(),
            Some(&Seq((TASKS * PER_TASK) as u64)),
            "no gaps"
        );

        let stats = store.stats();
        assert_eq!(stats.appends, (TASKS * PER_TASK) as u64);
        assert_eq!(stats.events, (TASKS * PER_TASK) as u64);
        assert!(
            stats.commits < stats.appends,
            "group commit: {} commits for {} appends",
            stats.commits,
            stats.appends
        );
        eprintln!("{} appends in {} commits", stats.appends, stats.commits);

        // Durable: reopen and find every acknowledged event at its seq, in each task's order.
        store.close().await;
        let store = db.open().await;
        // Each task left its interaction open, so the reopen closed them all as interrupted.
        assert_eq!(store.recovery().interrupted.len(), TASKS);
        let log = store.events_after(Seq(0), 10_000).await.unwrap();
        assert_eq!(log.len(), TASKS * PER_TASK + TASKS);
        for (n, e) in log.iter().enumerate() {
            assert_eq!(e.seq(), Seq(n as u64 + 1));
        }
        for (i, acked) in acked_all {
            for (n, (seq, id)) in acked.into_iter().enumerate() {
                let e = &log[(seq.0 - 1) as usize];
                assert_eq!(e.id(), id);
                assert_eq!(e.interaction(), Some(i));
                match e {
                    Event::Interaction(InteractionEvent {
                        kind: EventKind::FlowStep { detail, .. },
                        ..
                    }) => {
                        assert_eq!(detail.as_deref(), Some(n.to_string().as_str()))
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_commit_in_call_order_even_when_awaited_later() {
    for db in backends("appends_commit_in_call_order_even_when_awaited_later").await {
        let store = db.open().await;
        let i = InteractionId::new();
        let futures: Vec<_> = (0..100)
            .map(|n| store.append_one(InteractionEvent::new(i, t(n), EventKind::Held)))
            .collect();
        let mut seqs = Vec::new();
        for f in futures.into_iter().rev() {
            seqs.push(f.await.unwrap());
        }
        seqs.reverse();
        assert_eq!(seqs, (1..=100).map(Seq).collect::<Vec<_>>());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_append_fails_alone_within_its_group() {
    for db in backends("a_bad_append_fails_alone_within_its_group").await {
        let store = db.open().await;
        let i = InteractionId::new();
        let first = arrived(i, t(0), "123");
        store.append(vec![first.clone()]).await.unwrap();

        // Queued together so that they share a transaction.
        let a = store.append(vec![ev(i, t(1), EventKind::Held)]);
        let dup = store.append(vec![ev(i, t(2), EventKind::Resumed), first.clone()]);
        let b = store.append(vec![ev(
            i,
            t(3),
            EventKind::Ended {
                reason: EndReason::AgentHangup,
            },
        )]);
        let (a, dup, b) = (a.await, dup.await, b.await);
        assert_eq!(a.unwrap(), Seq(2));
        assert!(
            matches!(dup, Err(Error::Duplicate(id)) if id == first.id()),
            "{dup:?}"
        );
        assert_eq!(b.unwrap(), Seq(3), "the failed append left no gap");

        let kinds: Vec<String> = store
            .interaction_events(i)
            .await
            .unwrap()
            .iter()
            .map(|e| match e {
                Event::Interaction(e) => e.kind.name().to_owned(),
                _ => String::new(),
            })
            .collect();
        assert_eq!(
            kinds,
            ["arrived", "held", "ended"],
            "nothing of the failed append was stored"
        );
        let cdr = store.interaction(i).await.unwrap().unwrap();
        assert_eq!(cdr.end_reason, Some(EndReason::AgentHangup));

        // Invalid events are refused before they are queued.
        let bad = store
            .append(vec![ev(
                i,
                t(4),
                EventKind::Agitation {
                    score: f64::NAN,
                    leg: Leg::Caller,
                },
            )])
            .await;
        assert!(matches!(bad, Err(Error::Invalid(_))), "{bad:?}");
        assert_eq!(store.stats().head, Seq(3));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_closes_interrupted_interactions_with_real_events() {
    for db in backends("open_closes_interrupted_interactions_with_real_events").await {
        let store = db.open().await;
        let (done, talking, waiting) = (
            InteractionId::new(),
            InteractionId::new(),
            InteractionId::new(),
        );
        store
            .append(answered_call(done, 0, "C1", "cards", "1001", "resolved"))
            .await
            .unwrap();
        store
            .append(vec![
                arrived(talking, t(100), "111"),
                ev(
                    talking,
                    t(101),
                    EventKind::Answered {
                        agent: "1002".into(),
                    },
                ),
                arrived(waiting, t(200), "222"),
                ev(
                    waiting,
                    t(205),
                    EventKind::Queued {
                        queue: "general".into(),
                        priority: 0,
                    },
                ),
            ])
            .await
            .unwrap();
        assert_eq!(store.open_interactions().await.unwrap().len(), 2);
        store.close().await;

        let store = db.open().await;
        let mut expected = vec![talking, waiting];
        expected.sort();
        assert_eq!(store.recovery().interrupted, expected);
        for (i, last) in [(talking, t(101)), (waiting, t(205))] {
            let cdr = store.interaction(i).await.unwrap().unwrap();
            assert_eq!(cdr.end_reason, Some(EndReason::Interrupted));
            assert_eq!(
                cdr.ended,
                Some(last),
                "dated at the last thing known about it"
            );
            let events = store.interaction_events(i).await.unwrap();
            assert!(
                matches!(
                    events.last(),
                    Some(Event::Interaction(InteractionEvent {
                        kind: EventKind::Ended {
                            reason: EndReason::Interrupted
                        },
                        ..
                    }))
                ),
                "a real event in the log"
            );
        }
        assert_eq!(
            store.interaction(done).await.unwrap().unwrap().end_reason,
            Some(EndReason::CallerHangup)
        );
        assert!(store.open_interactions().await.unwrap().is_empty());
        let audit = store.audit(t(0)).await.unwrap();
        assert_eq!(
            audit
                .iter()
                .filter(|a| a.action == "interaction.interrupted")
                .count(),
            2
        );
        store.close().await;

        let store = db.open().await;
        assert!(
            store.recovery().interrupted.is_empty(),
            "recovery is idempotent"
        );
    }
}

/// An e-mail or a text conversation waits hours or days for the customer: a stop does not
/// cut it off (the centre reads it back); a chat's widget is gone with the stop, so it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_keeps_written_conversations_open_across_a_stop() {
    for db in backends("open_keeps_written_conversations_open_across_a_stop").await {
        let store = db.open().await;
        let ids: Vec<(InteractionId, Channel)> =
            [Channel::Email, Channel::Sms, Channel::Chat, Channel::Voice]
                .into_iter()
                .map(|c| (InteractionId::new(), c))
                .collect();
        let events: Vec<Event> = ids
            .iter()
            .enumerate()
            .map(|(i, (id, channel))| {
                ev(
                    *id,
                    t(100 + i as i64),
                    EventKind::Arrived {
                        channel: *channel,
                        from: "someone".into(),
                        to: "centre".into(),
                        trunk: None,
                    },
                )
            })
            .collect();
        store.append(events).await.unwrap();
        store.close().await;

        let store = db.open().await;
        assert_eq!(
            store.recovery().interrupted,
            vec![ids[3].0],
            "only the call"
        );
        let open: Vec<InteractionId> = store
            .open_interactions()
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(open, vec![ids[0].0, ids[1].0, ids[2].0]);
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_store_refuses_appends() {
    for db in backends("closed_store_refuses_appends").await {
        let store = db.open().await;
        let other = store.clone();
        store.close().await;
        let r = other
            .append_one(InteractionEvent::new(
                InteractionId::new(),
                t(0),
                EventKind::Held,
            ))
            .await;
        assert!(matches!(r, Err(Error::Closed)), "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_writer_per_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let store = Store::open(&path).await.unwrap();
    let second = Store::open(&path).await;
    assert!(
        matches!(second, Err(Error::Locked(_))),
        "{:?}",
        second.err()
    );
    store.close().await;
    Store::open(&path).await.unwrap();
    // Missing directories are created.
    Store::open(dir.path().join("a/b/log.db")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_keeps_the_last_state_of_agents_left_logged_in() {
    for db in backends("open_keeps_the_last_state_of_agents_left_logged_in").await {
        let store = db.open().await;
        for (agent, state, at) in [
            ("1001", AgentState::Available, 10),
            (
                "1002",
                AgentState::NotReady {
                    reason: Some("training".into()),
                },
                20,
            ),
            ("1003", AgentState::LoggedIn, 30),
            ("1003", AgentState::LoggedOut, 40),
        ] {
            store
                .append_one(AgentEvent::new(agent.into(), t(at), state))
                .await
                .unwrap();
        }
        store
            .append(vec![arrived(InteractionId::new(), t(50), "1")])
            .await
            .unwrap();
        store.close().await;

        let store = db.open().await;
        assert_eq!(
            store.recovery().logged_in,
            vec![AgentId::from("1001"), AgentId::from("1002")]
        );
        // Only the open interaction was closed (5 events, then `interrupted`): no agent was
        // logged out, each one's last state is still the one it had, for the centre to restore.
        assert_eq!(store.stats().head, Seq(6));
        let states = store.agent_states().await.unwrap();
        let of = |a: &str| {
            states
                .iter()
                .find(|s| s.agent.as_str() == a)
                .unwrap()
                .clone()
        };
        assert_eq!(of("1001").state, AgentState::Available);
        assert_eq!(of("1001").since, t(10));
        assert_eq!(
            of("1002").state,
            AgentState::NotReady {
                reason: Some("training".into())
            }
        );
        assert_eq!(of("1003").state, AgentState::LoggedOut);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_kept_replaced_per_extension_and_expire() {
    for db in backends("registrations_are_kept_replaced_per_extension_and_expire").await {
        let now = Timestamp::now();
        let later = |s: i64| Timestamp::from_unix_nanos(now.unix_nanos() + s * 1_000_000_000);
        let reg = |ext: &str, uri: &str, expires: Timestamp| Registration {
            extension: ext.into(),
            uri: uri.into(),
            expires,
            call_id: format!("reg-{ext}"),
            cseq: 7,
            source: "127.0.0.1:5070".into(),
            transport: "udp".into(),
            instance: (ext == "1002").then(|| "<urn:uuid:1>".to_string()),
            reg_id: (ext == "1002").then_some(1),
            path: (ext == "1002").then(|| "sip:127.0.0.1:5090;lr,sip:10.0.0.1;lr".to_string()),
        };
        let store = db.open().await;
        let head = store.stats().head;
        store
            .save_registrations(vec![
                (
                    "1001".into(),
                    vec![
                        reg("1001", "sip:1001@127.0.0.1:5070", later(3600)),
                        reg("1001", "sip:1001@127.0.0.1:5071", later(-1)),
                    ],
                ),
                (
                    "1002".into(),
                    vec![reg("1002", "sip:1002@127.0.0.1:5072", later(600))],
                ),
                (
                    "1003".into(),
                    vec![reg("1003", "sip:1003@127.0.0.1:5073", later(600))],
                ),
            ])
            .await
            .unwrap();
        // 1003 un-registers; 1002 refreshes.
        store
            .save_registrations(vec![
                ("1003".into(), vec![]),
                (
                    "1002".into(),
                    vec![reg("1002", "sip:1002@127.0.0.1:5072", later(900))],
                ),
            ])
            .await
            .unwrap();
        assert_eq!(store.stats().head, head, "registrations are not events");
        store.close().await;

        let store = db.open().await;
        let live = store.registrations(Timestamp::now()).await.unwrap();
        assert_eq!(
            live,
            vec![
                reg("1001", "sip:1001@127.0.0.1:5070", later(3600)),
                reg("1002", "sip:1002@127.0.0.1:5072", later(900)),
            ]
        );
        assert!(store.registrations(later(1000)).await.unwrap().len() == 1);
    }
}
