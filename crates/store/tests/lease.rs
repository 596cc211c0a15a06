//! Leases and fencing: a lease is taken when free or expired (epoch + 1), renewed by its
//! holder, and a store fenced with a lease that was taken over never commits again.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hotline_model::*;
use hotline_store::{Database, Error, Lease, LeaseClient, Store, StoreOptions};
use sqlx::Connection;

const LEASE: &str = "routing";

fn mark(holder: &str, epoch: u64, n: u32) -> Event {
    let mut e = AuditEvent::new(Timestamp::now(), holder, "test.write", format!("{n}"));
    e.detail = Some(epoch.to_string());
    Event::from(e)
}

/// Tries to take the lease for `holder` until it gets it (the current holder's lapses).
async fn take_when_expired(store: &Store, holder: &str, ttl: Duration) -> Lease {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(l) = store.acquire_lease(LEASE, holder, ttl).await.unwrap() {
            return l;
        }
        assert!(Instant::now() < deadline, "{holder} never got the lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `(seq, epoch, body)` of every event, straight from the database.
async fn rows(db: &TestDb) -> Vec<(i64, i64, String)> {
    let sql = "SELECT seq, epoch, body FROM events ORDER BY seq";
    match &db.database {
        Database::Sqlite(path) => {
            let url = format!("sqlite://{}", path.display());
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query_as(sql).fetch_all(&mut c).await.unwrap()
        }
        Database::Postgres(_) => {
            let mut c = sqlx::PgConnection::connect(&db.url().unwrap())
                .await
                .unwrap();
            sqlx::query_as(sql).fetch_all(&mut c).await.unwrap()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_taken_renewed_and_taken_over_only_after_it_expires() {
    for db in backends("a_lease_is_taken_renewed_and_taken_over_only_after_it_expires").await {
        let store = db.open().await;
        let ttl = Duration::from_millis(800);
        assert_eq!(store.lease(LEASE).await.unwrap(), None, "{}", db.name);
        let a = store
            .acquire_lease(LEASE, "node-a", ttl)
            .await
            .unwrap()
            .expect("a free lease is taken");
        assert_eq!((a.holder.as_str(), a.epoch), ("node-a", 1), "{}", db.name);
        assert!(
            store
                .acquire_lease(LEASE, "node-b", ttl)
                .await
                .unwrap()
                .is_none(),
            "{}: a held lease is not taken",
            db.name
        );
        let renewed = store.renew_lease(&a, ttl).await.unwrap().expect("renewed");
        assert_eq!(renewed.epoch, 1);
        assert!(renewed.expires >= a.expires);
        let again = store
            .acquire_lease(LEASE, "node-a", ttl)
            .await
            .unwrap()
            .expect("its holder takes it again");
        assert_eq!(again.epoch, 1, "{}: the holder keeps its epoch", db.name);

        let b = take_when_expired(&store, "node-b", ttl).await;
        assert_eq!((b.holder.as_str(), b.epoch), ("node-b", 2), "{}", db.name);
        assert!(
            Timestamp::now().unix_nanos() + 5_000_000_000 > b.expires.unix_nanos(),
            "{}",
            db.name
        );
        assert_eq!(
            store.renew_lease(&a, ttl).await.unwrap(),
            None,
            "{}: the old holder cannot renew",
            db.name
        );
        assert_eq!(store.lease(LEASE).await.unwrap().unwrap().epoch, 2);
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_store_never_commits_after_a_takeover() {
    for db in backends("a_fenced_store_never_commits_after_a_takeover").await {
        let a = db.open().await;
        // On PostgreSQL a second node's store on the same database; SQLite has one writer.
        let b = if db.is_postgres() {
            db.open().await
        } else {
            a.clone()
        };
        let ttl = Duration::from_millis(600);
        let la = a
            .acquire_lease(LEASE, "node-a", ttl)
            .await
            .unwrap()
            .unwrap();
        a.fence(&la).await.unwrap();
        a.append(vec![mark("node-a", la.epoch, 1)]).await.unwrap();

        let lb = take_when_expired(&b, "node-b", ttl).await;
        assert_eq!(lb.epoch, la.epoch + 1);
        let head_before = rows(&db).await.len();
        let refused = a.append(vec![mark("node-a", la.epoch, 2)]).await;
        assert!(
            matches!(&refused, Err(Error::Fenced { lease, epoch }) if lease == LEASE && *epoch == la.epoch),
            "{}: {refused:?}",
            db.name
        );
        // Registrations are writes too.
        let saved = a.save_registrations(vec![("1001".into(), vec![])]).await;
        assert!(matches!(saved, Err(Error::Fenced { .. })), "{saved:?}");
        assert_eq!(rows(&db).await.len(), head_before, "{}", db.name);

        if db.is_postgres() {
            b.fence(&lb).await.unwrap();
            b.append(vec![mark("node-b", lb.epoch, 3)]).await.unwrap();
        }
        let stored = rows(&db).await;
        let marks: Vec<(i64, String)> = stored
            .iter()
            .filter(|(_, _, body)| body.contains("test.write"))
            .map(|(_, epoch, body)| {
                let e: Event = serde_json::from_str(body).unwrap();
                let Event::Audit(a) = e else { panic!() };
                assert_eq!(a.detail.as_deref(), Some(epoch.to_string().as_str()));
                (*epoch, a.target)
            })
            .collect();
        let mut want = vec![(1, "1".to_string())];
        if db.is_postgres() {
            want.push((2, "3".to_string()));
        }
        assert_eq!(
            marks, want,
            "{}: A's refused write is not in the log",
            db.name
        );
        if db.is_postgres() {
            b.close().await;
        }
        a.close().await;
    }
}

/// Two nodes race for the lease with a short TTL, each writing as fast as it can while it
/// believes it holds it. Whatever the interleaving, the log's epochs never go back, and every
/// event was written by the holder of the epoch it carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_racing_for_the_lease_never_interleave_epochs() {
    let Some(db) = postgres().await else {
        eprintln!(
            "two_nodes_racing_for_the_lease_never_interleave_epochs: SKIPPED: no PostgreSQL \
             server binaries (/usr/lib/postgresql/*/bin/initdb)"
        );
        return;
    };
    let run_for = Duration::from_secs(4);
    let ttl = Duration::from_millis(150);
    let mut nodes = Vec::new();
    for name in ["node-a", "node-b"] {
        let store = db.open().await;
        nodes.push(tokio::spawn(async move {
            let started = Instant::now();
            let (mut ok, mut fenced, mut n) = (0u32, 0u32, 0u32);
            while started.elapsed() < run_for {
                let Some(lease) = store.acquire_lease(LEASE, name, ttl).await.unwrap() else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                store.fence(&lease).await.unwrap();
                // Write without renewing: the lease lapses under us and the other takes it.
                loop {
                    n += 1;
                    let burst: Vec<Event> = (0..3)
                        .map(|k| mark(name, lease.epoch, n * 10 + k))
                        .collect();
                    match store.append(burst).await {
                        Ok(_) => ok += 1,
                        Err(Error::Fenced { .. }) => {
                            fenced += 1;
                            break;
                        }
                        Err(e) => panic!("{name}: {e}"),
                    }
                    if started.elapsed() >= run_for {
                        break;
                    }
                }
            }
            store.close().await;
            (name, ok, fenced)
        }));
    }
    let mut fenced_total = 0;
    for n in nodes {
        let (name, ok, fenced) = n.await.unwrap();
        eprintln!("{name}: {ok} appends committed, {fenced} refused as fenced");
        assert!(ok > 0, "{name} never wrote");
        fenced_total += fenced;
    }
    assert!(
        fenced_total > 0,
        "no takeover happened: the test proved nothing"
    );

    let stored = rows(&db).await;
    let mut last_epoch = 0;
    let mut holder_of = std::collections::HashMap::new();
    for (seq, epoch, body) in &stored {
        let Event::Audit(a) = serde_json::from_str::<Event>(body).unwrap() else {
            panic!("seq {seq}: not a test write")
        };
        assert!(
            *epoch >= last_epoch,
            "seq {seq}: epoch {epoch} after epoch {last_epoch}: a fenced write was committed"
        );
        last_epoch = *epoch;
        assert_eq!(a.detail.as_deref(), Some(epoch.to_string().as_str()));
        let holder = holder_of.entry(*epoch).or_insert_with(|| a.user.clone());
        assert_eq!(
            holder, &a.user,
            "seq {seq}: two writers under epoch {epoch}"
        );
    }
    assert!(holder_of.len() >= 2, "epochs seen: {holder_of:?}");
}

/// A standby asks for the lease on a connection of its own while the leader holds it; once
/// the leader stops renewing, the standby takes it (epoch + 1) and opens the store fenced
/// with it, which closes the calls the old leader left open as interrupted. The old leader,
/// waking up, can no longer write and learns that it was fenced; a store opened with the old
/// lease writes nothing; one opened without recovery closes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_on_its_own_lease_connection_and_closes_the_old_leaders_calls() {
    let Some(db) = postgres().await else {
        eprintln!("skipped: no PostgreSQL server binaries on this machine");
        return;
    };
    let ttl = Duration::from_millis(800);
    let fenced_with = |lease: &Lease| StoreOptions {
        fence: Some(lease.clone()),
        ..StoreOptions::default()
    };
    let leases_a = LeaseClient::new(&db.database);
    let la = leases_a
        .acquire(LEASE, "node-a", ttl)
        .await
        .unwrap()
        .expect("a free lease is taken");
    let a = Store::open_database(&db.database, fenced_with(&la))
        .await
        .unwrap();
    let call = InteractionId::new();
    a.append(vec![arrived(call, Timestamp::now(), "+8613800138000")])
        .await
        .unwrap();

    let leases_b = LeaseClient::new(&db.database);
    assert_eq!(
        leases_b.acquire(LEASE, "node-b", ttl).await.unwrap(),
        None,
        "a held lease is not taken"
    );
    assert_eq!(
        leases_b.read(LEASE).await.unwrap().unwrap().holder,
        "node-a"
    );
    // A stops renewing (a pause, a partition): B takes the lease once it lapses.
    let deadline = Instant::now() + Duration::from_secs(30);
    let lb = loop {
        if let Some(l) = leases_b.acquire(LEASE, "node-b", ttl).await.unwrap() {
            break l;
        }
        assert!(Instant::now() < deadline, "B never got the lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(lb.epoch, la.epoch + 1);
    assert_eq!(leases_a.renew(&la, ttl).await.unwrap(), None, "A lost it");
    let b = Store::open_database(&db.database, fenced_with(&lb))
        .await
        .unwrap();
    assert_eq!(b.recovery().interrupted, vec![call], "A's call closed by B");

    assert!(!a.is_fenced());
    let refused = a
        .append(vec![mark("node-a", la.epoch, 1)])
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::Fenced { .. }), "{refused:?}");
    tokio::time::timeout(Duration::from_secs(5), a.until_fenced())
        .await
        .expect("A learns it was fenced");
    assert!(a.is_fenced());

    // B's call in progress: a store opened with A's stale lease cannot close it...
    let second = InteractionId::new();
    b.append(vec![arrived(second, Timestamp::now(), "+8613900139000")])
        .await
        .unwrap();
    let stale = Store::open_database(&db.database, fenced_with(&la)).await;
    assert!(
        matches!(&stale, Err(Error::Fenced { .. })),
        "{:?}",
        stale.as_ref().err()
    );
    // ... and one opened without recovery leaves it open.
    let reader = Store::open_database(
        &db.database,
        StoreOptions {
            recover: false,
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(reader.recovery().interrupted.is_empty());
    let open: Vec<_> = reader
        .interactions_since(Timestamp::UNIX_EPOCH)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.ended.is_none())
        .map(|r| r.id)
        .collect();
    assert_eq!(open, vec![second]);
    for s in [reader, b, a] {
        s.close().await;
    }
}
