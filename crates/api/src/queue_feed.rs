//! Today's queue figures pushed to supervisors on the event stream
//! (`{"stream": "queues", "queues": [...]}`, the same list as `GET /api/v1/queues`), so
//! that a wallboard does not fetch them again after every event.
//!
//! One task computes them for every watcher (not one request per wallboard per event): after
//! a committed event, at once if the last computation is older than [`MIN_GAP`], else at
//! the end of that gap, with everything that arrived meanwhile. The figures come from the
//! `queue_days` projection (a few rows), so a computation costs well under a millisecond
//! however busy the day; the task computes nothing while nobody watches.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hotline_switch::Centre;
use serde_json::json;
use tokio::sync::{broadcast, watch};

/// At most one computation per this long: an event reaches the wallboards within it plus
/// the computation.
pub const MIN_GAP: Duration = Duration::from_millis(50);

/// The latest figures as the stream's JSON text (`None` before the first event).
pub type Figures = Option<Arc<str>>;

/// The shared feed; started by the first stream that asks for it.
#[derive(Default)]
pub struct QueueFeed {
    rx: OnceLock<watch::Receiver<Figures>>,
}

impl QueueFeed {
    pub fn new() -> Arc<QueueFeed> {
        Arc::new(QueueFeed::default())
    }

    /// The figures as they change (starts the task on first use; needs a tokio runtime).
    pub(crate) fn subscribe(&self, centre: &Arc<Centre>) -> watch::Receiver<Figures> {
        self.rx
            .get_or_init(|| {
                let (tx, rx) = watch::channel(None);
                tokio::spawn(run(centre.clone(), tx));
                rx
            })
            .clone()
    }
}

async fn run(centre: Arc<Centre>, tx: watch::Sender<Figures>) {
    use broadcast::error::{RecvError, TryRecvError};
    let mut events = centre.store().subscribe();
    let mut last: Option<tokio::time::Instant> = None;
    loop {
        match events.recv().await {
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
        if let Some(at) = last {
            tokio::time::sleep_until(at + MIN_GAP).await;
        }
        // What came meanwhile is in this computation.
        loop {
            match events.try_recv() {
                Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => return,
            }
        }
        last = Some(tokio::time::Instant::now());
        // The feed itself keeps one receiver: more means a stream is watching.
        if tx.receiver_count() <= 1 {
            continue;
        }
        match crate::v1::queue_figures(&centre).await {
            Ok(queues) => {
                let text = json!({ "stream": "queues", "queues": queues }).to_string();
                tx.send_replace(Some(text.into()));
            }
            Err(e) => tracing::warn!(error = %e.message, "queue figures for the event stream"),
        }
    }
}
