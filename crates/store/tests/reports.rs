//! The reports' query: one day's contacts, by start time, from a SQLite file on disk.

mod common;

use common::*;
use hotline_model::*;

const DAY: i64 = 86_400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactions_between_keeps_only_those_started_in_the_window() {
    for db in backends("interactions_between_keeps_only_those_started_in_the_window").await {
        let store = db.open().await;
        // Yesterday's last second, today's first second, today at noon, tomorrow's first second.
        let starts = [-1, 0, DAY / 2, DAY];
        let ids: Vec<InteractionId> = starts.iter().map(|_| InteractionId::new()).collect();
        for (id, start) in ids.iter().zip(starts) {
            store
                .append(answered_call(*id, start, "C1", "cards", "1001", "resolved"))
                .await
                .unwrap();
        }
        let today = store.interactions_between(t(0), t(DAY)).await.unwrap();
        let got: Vec<InteractionId> = today.iter().map(|r| r.id).collect();
        assert_eq!(got, vec![ids[1], ids[2]], "oldest first, half-open window");
        assert_eq!(today[0].queue.as_ref().map(|q| q.as_str()), Some("cards"));
        assert_eq!(today[1].answered, Some(t(DAY / 2 + 12)));
        assert!(
            store
                .interactions_between(t(DAY), t(DAY))
                .await
                .unwrap()
                .is_empty(),
            "an empty window holds nothing"
        );
        store.close().await;

        // The same rows after reopening the file: they come from the projection on disk.
        let store = db.open().await;
        let again = store
            .interactions_between(t(-DAY), t(2 * DAY))
            .await
            .unwrap();
        assert_eq!(again.len(), 4);
        store.close().await;
    }
}
