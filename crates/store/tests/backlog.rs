//! Submitting without waiting for the disk: with every commit made slow by the test hook,
//! `submit` returns at once, the backlog shows what waits and since when, nothing is visible
//! (stream, queries) before its commit, and everything is committed in submission order.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hotline_model::*;
use hotline_store::StoreOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitted_events_wait_for_a_slow_disk_in_order_and_are_seen_only_once_committed() {
    for db in backends("submitted_events_wait_for_a_slow_disk").await {
        let dir = tempfile::tempdir().unwrap();
        let slow = dir.path().join("slow");
        let store = db
            .open_with(StoreOptions {
                slow_commit_file: Some(slow.clone()),
                ..StoreOptions::default()
            })
            .await;
        let mut feed = store.subscribe();
        std::fs::write(&slow, "1500").unwrap();

        let calls: Vec<InteractionId> = (0..20).map(|_| InteractionId::new()).collect();
        let started = Instant::now();
        let mut ids = Vec::new();
        for (n, i) in calls.iter().enumerate() {
            let e = arrived(*i, t(n as i64), "+442079460018");
            ids.push(e.id());
            store.submit(vec![e]).await.unwrap();
        }
        let queued_in = started.elapsed();
        assert!(
            queued_in < Duration::from_millis(500),
            "submitting took {queued_in:?}: it waited for the disk"
        );
        let b = store.backlog();
        assert_eq!(b.events, 20, "{b:?}");
        // Nothing is committed yet: not on the stream, not in the projections.
        assert!(feed.try_recv().is_err());
        assert!(store.interaction(calls[0]).await.unwrap().is_none());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(store.backlog().oldest >= Duration::from_millis(300));

        // The disk recovers; everything arrives, in submission order.
        std::fs::remove_file(&slow).unwrap();
        let mut got = Vec::new();
        while got.len() < 20 {
            let e = tokio::time::timeout(Duration::from_secs(10), feed.recv())
                .await
                .expect("committed in time")
                .unwrap();
            got.push(e);
        }
        assert!(started.elapsed() >= Duration::from_millis(1500));
        assert_eq!(got.iter().map(Event::id).collect::<Vec<_>>(), ids);
        for w in got.windows(2) {
            assert!(w[0].seq() < w[1].seq());
        }
        let b = store.backlog();
        assert_eq!((b.events, b.appends, b.oldest), (0, 0, Duration::ZERO));
        assert!(store.interaction(calls[19]).await.unwrap().is_some());
        let latency = store.commit_latency();
        let slow_commits: u64 = latency
            .buckets
            .iter()
            .filter(|(bound, _)| *bound > 1.0)
            .map(|(_, n)| n)
            .sum();
        assert!(slow_commits >= 1, "{latency:?}");
        assert!(latency.sum_seconds >= 1.5, "{latency:?}");
        store.close().await;
    }
}
