//! PostgreSQL failover: a primary with a synchronous streaming standby, the store's URL
//! naming the standby first. The store keeps the primary; the primary is crashed
//! (`pg_ctl stop -m immediate`) while appends keep coming, the standby is promoted, and the
//! writer finds it: every append resolves Ok, and every acknowledged event is in the log
//! exactly once, in order.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hotline_model::*;
use hotline_store::{Database, PgTarget, Store, StoreOptions};

fn mark(n: u32) -> Event {
    Event::from(AuditEvent::new(
        Timestamp::now(),
        "failover",
        "test.write",
        n.to_string(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_follows_the_primary_through_a_failover_and_loses_nothing_acknowledged() {
    let Some(primary) = Cluster::start("") else {
        eprintln!(
            "the_writer_follows_the_primary_through_a_failover: SKIPPED: no PostgreSQL server \
             binaries (/usr/lib/postgresql/*/bin/initdb)"
        );
        return;
    };
    let url = create_database(&primary);
    let db = url.rsplit('/').next().unwrap().to_string();
    let standby = primary.standby("");
    // Synchronous replication from now on: a COMMIT returns once the standby has it too.
    // (Set after the standby exists: until then every COMMIT would wait for it.)
    psql(
        &primary,
        &url,
        "ALTER SYSTEM SET synchronous_standby_names = '*'",
    );
    psql(&primary, &url, "SELECT pg_reload_conf()");
    let deadline = Instant::now() + Duration::from_secs(60);
    while psql(
        &primary,
        &url,
        "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'",
    ) != "1"
    {
        assert!(
            Instant::now() < deadline,
            "the standby never became synchronous"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let target = PgTarget::parse(&format!(
        "postgres://hotline@127.0.0.1:{},127.0.0.1:{}/{db}",
        standby.port, primary.port
    ))
    .unwrap();
    let store = Store::open_database(
        &Database::Postgres(Box::new(target)),
        StoreOptions::default(),
    )
    .await
    .expect("the store finds the primary behind the standby");

    // A steady stream of appends, each awaited on its own task.
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut pending = Vec::new();
            for n in 0..400u32 {
                let e = mark(n);
                let id = e.id();
                let append = store.append(vec![e]);
                pending.push(tokio::spawn(async move {
                    let r = append.await;
                    (n, id, r, Instant::now())
                }));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let mut done = Vec::new();
            for p in pending {
                done.push(p.await.unwrap());
            }
            done
        })
    };
    // Wait for some commits, then crash the primary and promote the standby.
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.stats().appends < 100 {
        assert!(Instant::now() < deadline, "no appends committed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let crashed = tokio::task::block_in_place(|| {
        primary.crash();
        let at = Instant::now();
        standby.promote();
        at
    });
    let done = writer.await.unwrap();
    let mut acked = Vec::new();
    for (n, id, r, at) in &done {
        r.as_ref()
            .unwrap_or_else(|e| panic!("append {n} ({id}) failed: {e}"));
        acked.push(*at);
    }
    acked.sort();
    // The longest time without an acknowledgement: the crash, the promotion and the
    // reconnection (appends queue meanwhile).
    let stall = acked
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    let after = acked.iter().filter(|a| **a > crashed).count();
    eprintln!(
        "{} appends acknowledged, {after} after the crash; longest stall {stall:?} \
         (crash, promotion, reconnection)",
        done.len()
    );
    assert!(after > 0, "the failover came after every append");

    // Every acknowledged event is in the promoted database once, in the order appended.
    let events = store.events_after(Seq(0), 10_000).await.unwrap();
    let marks: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::Audit(a) if a.action == "test.write" => a.target.parse().ok(),
            _ => None,
        })
        .collect();
    assert_eq!(marks, (0..400).collect::<Vec<_>>());
    for w in events.windows(2) {
        assert_eq!(w[1].seq().0, w[0].seq().0 + 1, "seqs without gaps");
    }
    for (_, id, r, _) in &done {
        let seq = *r.as_ref().unwrap();
        let stored = events.iter().find(|e| e.id() == *id).unwrap();
        assert_eq!(stored.seq(), seq, "{id}: acknowledged with the seq it has");
    }
    store.close().await;
}

/// A server that refuses writes (read-only, as a demoted primary would) makes the writer
/// look for the primary again and keep the appends waiting, not fail them; once writes are
/// accepted again they commit, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_wait_while_the_server_refuses_writes_and_commit_after() {
    let Some(pg) = cluster() else {
        eprintln!(
            "appends_wait_while_the_server_refuses_writes_and_commit_after: SKIPPED: no \
             PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb)"
        );
        return;
    };
    let url = create_database(pg);
    let store = Store::open_database(
        &Database::Postgres(Box::new(PgTarget::parse(&url).unwrap())),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    store.append(vec![mark(0)]).await.unwrap();

    // For the whole cluster (this test binary's own: the other test here has its own), and
    // for the sessions already open too (the store's): a reload applies it to them.
    let read_only = |on: bool| {
        let off = format!("{url}?options=-c%20default_transaction_read_only%3Doff");
        psql(
            pg,
            &off,
            &format!("ALTER SYSTEM SET default_transaction_read_only = {on}"),
        );
        psql(pg, &off, "SELECT pg_reload_conf()");
        let want = if on { "on" } else { "off" };
        let deadline = Instant::now() + Duration::from_secs(30);
        while psql(pg, &url, "SHOW default_transaction_read_only") != want {
            assert!(Instant::now() < deadline, "the server never reloaded");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    read_only(true);
    let pending: Vec<_> = (1..=5).map(|n| store.append(vec![mark(n)])).collect();
    let waiting = tokio::spawn(futures_join(pending));
    // The appends wait in the backlog while every try is refused.
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.backlog().oldest < Duration::from_secs(2) {
        assert!(Instant::now() < deadline, "the appends did not wait");
        assert!(
            !waiting.is_finished(),
            "an append resolved while writes were refused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(store.backlog().appends, 5);
    read_only(false);
    for r in waiting.await.unwrap() {
        r.expect("committed once writes were accepted again");
    }
    let marks: Vec<u32> = store
        .events_after(Seq(0), 100)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::Audit(a) => a.target.parse().ok(),
            _ => None,
        })
        .collect();
    assert_eq!(marks, vec![0, 1, 2, 3, 4, 5]);
    store.close().await;
}

async fn futures_join<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::with_capacity(fs.len());
    for f in fs {
        out.push(f.await);
    }
    out
}

/// Closing the store (a node stopping) while no primary is reachable does not hang: what
/// waits is failed, and `close` returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_without_a_reachable_primary_fails_what_waits_instead_of_hanging() {
    let Some(server) = Cluster::start("") else {
        eprintln!(
            "closing_without_a_reachable_primary_fails_what_waits_instead_of_hanging: SKIPPED: \
             no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb)"
        );
        return;
    };
    let url = create_database(&server);
    let store = Store::open_database(
        &Database::Postgres(Box::new(PgTarget::parse(&url).unwrap())),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    store.append(vec![mark(0)]).await.unwrap();
    tokio::task::block_in_place(|| server.crash());
    let waiting = tokio::spawn(store.append(vec![mark(1)]));
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.backlog().oldest < Duration::from_secs(1) {
        assert!(Instant::now() < deadline, "the append did not wait");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!waiting.is_finished(), "it waits for a primary");
    tokio::time::timeout(Duration::from_secs(30), store.close())
        .await
        .expect("close returns without a primary");
    let r = waiting.await.unwrap();
    assert!(
        matches!(&r, Err(hotline_store::Error::Commit(why)) if why.contains("closed")),
        "{r:?}"
    );
}

/// A read while no primary is reachable (the primary crashed, no standby promoted yet)
/// fails within seconds instead of waiting for the failover: the call path reads (a
/// caller's customer record) and must not be held for the whole of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_without_a_reachable_primary_fails_soon() {
    let Some(server) = Cluster::start("") else {
        eprintln!(
            "a_read_without_a_reachable_primary_fails_soon: SKIPPED: no PostgreSQL server \
             binaries (/usr/lib/postgresql/*/bin/initdb)"
        );
        return;
    };
    let url = create_database(&server);
    let store = Store::open_database(
        &Database::Postgres(Box::new(PgTarget::parse(&url).unwrap())),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    assert!(
        store
            .customer_by_phone("13800138000")
            .await
            .unwrap()
            .is_none()
    );
    tokio::task::block_in_place(|| server.crash());
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(20),
        store.customer_by_phone("13800138000"),
    )
    .await
    .expect("the read gives up by itself");
    let took = started.elapsed();
    assert!(r.is_err(), "{r:?}");
    assert!(took < Duration::from_secs(5), "the read waited {took:?}");
}
