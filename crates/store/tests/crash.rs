//! `kill -9` durability: a child process appends as fast as it can and prints every
//! acknowledged seq; the parent SIGKILLs it mid-stream, reopens the store and checks that
//! every acknowledged event is there and every cut-off interaction was closed as
//! `interrupted`.
//!
//! The child is this same test binary, re-run with `CHILD_ENV` set and filtered to
//! `crash_child`, which is a no-op test in a normal run.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};

use common::*;
use hotline_model::*;
use hotline_store::{Database, PgTarget, Store, StoreOptions};

/// The database a child or parent opens: a PostgreSQL URL or an SQLite file.
fn database(arg: &str) -> Database {
    if arg.starts_with("postgres://") {
        Database::Postgres(Box::new(PgTarget::parse(arg).unwrap()))
    } else {
        Database::Sqlite(arg.into())
    }
}

const CHILD_ENV: &str = "HOTLINE_STORE_CRASH_CHILD_DB";
/// Acknowledgements the parent waits for before it kills the child.
const KILL_AFTER_ACKS: usize = 600;

/// The child: 8 tasks, each running interactions (arrived, queued, answered, ended) one
/// append at a time, forever, printing `ACK <seq> <event id> <interaction> <kind>` after each
/// append resolved.
#[test]
fn crash_child() {
    let Ok(db) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let store = Store::open_database(&database(&db), StoreOptions::default())
            .await
            .unwrap();
        for task in 0..8i64 {
            let store = store.clone();
            tokio::spawn(async move {
                let mut n = 0i64;
                loop {
                    let i = InteractionId::new();
                    let kinds = [
                        EventKind::Arrived {
                            channel: Channel::Voice,
                            from: format!("+44{task}{n}"),
                            to: "95588".into(),
                            trunk: None,
                        },
                        EventKind::Queued {
                            queue: "general".into(),
                            priority: 0,
                        },
                        EventKind::Answered {
                            agent: format!("10{task:02}").into(),
                        },
                        EventKind::Ended {
                            reason: EndReason::CallerHangup,
                        },
                    ];
                    for kind in kinds {
                        let name = kind.name();
                        let e = ev(i, t(n), kind);
                        let id = e.id();
                        let seq = store.append(vec![e]).await.unwrap();
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ACK {seq} {id} {i} {name}").unwrap();
                        out.flush().unwrap();
                    }
                    n += 1;
                }
            });
        }
        // Runs until the parent kills the process.
        std::future::pending::<()>().await;
    });
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Ack {
    seq: Seq,
    id: EventId,
    interaction: InteractionId,
    kind: String,
}

#[test]
fn acknowledged_events_survive_kill_9_and_cut_off_interactions_are_closed() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    crash_and_check("sqlite", dir.path().join("crash.db").display().to_string());
    match cluster() {
        Some(pg) => crash_and_check("postgres", create_database(pg)),
        None => eprintln!(
            "acknowledged_events_survive_kill_9: SKIPPED on PostgreSQL: no server binaries \
             (/usr/lib/postgresql/*/bin/initdb)"
        ),
    }
}

/// Runs the child on `db` (a file or a URL), kills it, and checks the log.
fn crash_and_check(engine: &str, db: String) {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();

    let mut acks = Vec::new();
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let Some(rest) = line.strip_prefix("ACK ") else {
            continue;
        };
        let f: Vec<&str> = rest.split(' ').collect();
        acks.push(Ack {
            seq: Seq(f[0].parse().unwrap()),
            id: f[1].parse().unwrap(),
            interaction: f[2].parse().unwrap(),
            kind: f[3].to_owned(),
        });
        if acks.len() == KILL_AFTER_ACKS && !killed {
            // std's Child::kill is SIGKILL on Unix. Lines already in the pipe are still read
            // below: they were acknowledged before the kill.
            child.0.kill().unwrap();
            killed = true;
        }
    }
    let status = child.0.wait().unwrap();
    assert!(
        killed,
        "the child stopped after {} acks by itself: {status:?}",
        acks.len()
    );
    assert_eq!(status.signal(), Some(9), "{status:?}");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let store = Store::open_database(&database(&db), StoreOptions::default())
            .await
            .unwrap();
        let max_acked = acks.iter().map(|a| a.seq).max().unwrap();
        let log = store.events_after(Seq(0), u32::MAX).await.unwrap();
        assert!(log.len() as u64 >= max_acked.0);
        for a in &acks {
            let e = &log[(a.seq.0 - 1) as usize];
            assert_eq!(e.seq(), a.seq);
            assert_eq!(
                e.id(),
                a.id,
                "acknowledged event at seq {} lost or replaced",
                a.seq
            );
            assert_eq!(e.interaction(), Some(a.interaction));
            match e {
                Event::Interaction(ie) => assert_eq!(ie.kind.name(), a.kind),
                other => panic!("unexpected {other:?}"),
            }
        }

        // Interactions whose `ended` was acknowledged ended normally; all others that reached
        // the log were closed on open as interrupted, exactly once.
        let acked_ended: HashSet<InteractionId> = acks
            .iter()
            .filter(|a| a.kind == "ended")
            .map(|a| a.interaction)
            .collect();
        let interrupted: HashSet<InteractionId> =
            store.recovery().interrupted.iter().copied().collect();
        assert!(
            !interrupted.is_empty(),
            "8 writers were mid-interaction when killed"
        );
        assert!(interrupted.is_disjoint(&acked_ended));
        let mut ends: HashMap<InteractionId, Vec<EndReason>> = HashMap::new();
        for e in &log {
            if let Event::Interaction(InteractionEvent {
                interaction,
                kind: EventKind::Ended { reason },
                ..
            }) = e
            {
                ends.entry(*interaction).or_default().push(*reason);
            }
        }
        let all: HashSet<InteractionId> = log.iter().filter_map(Event::interaction).collect();
        for i in &all {
            let reasons = &ends[i];
            assert_eq!(reasons.len(), 1, "{i} ended {reasons:?}");
            let cdr = store.interaction(*i).await.unwrap().unwrap();
            if interrupted.contains(i) {
                assert_eq!(reasons[0], EndReason::Interrupted);
                assert_eq!(cdr.end_reason, Some(EndReason::Interrupted));
            } else {
                assert_eq!(reasons[0], EndReason::CallerHangup);
            }
            assert!(cdr.ended.is_some());
        }
        assert!(store.open_interactions().await.unwrap().is_empty());
        eprintln!(
            "{engine}: {} acks before SIGKILL, {} events in the log, {} interactions closed as interrupted",
            acks.len(),
            log.len() - interrupted.len(),
            interrupted.len()
        );
    });
}
