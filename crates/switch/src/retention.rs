//! Recording retention: call recordings older than their queue's
//! `recording_retention_days` (or the centre's) are removed by a background task, each
//! removal in the audit log (user `retention`) and the service log.
//!
//! [`Retention::expired`] is the decision, sans IO (recordings and `now` in, what to remove
//! out); [`sweep`] and [`run`] carry it out against the store and the disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hotline_model::{AuditEvent, Event, Timestamp};
use hotline_store::{AgedRecording, Store};

const DAY: Duration = Duration::from_secs(86_400);

/// How long recordings are kept, per queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// `centre.recording_retention_days`.
    pub default_days: Option<u32>,
    /// Queues with their own `recording_retention_days`.
    pub queues: HashMap<String, u32>,
}

impl Retention {
    pub fn from_config(cfg: &hotline_config::Config) -> Retention {
        Retention {
            default_days: cfg
                .centre
                .recording_retention_days
                .as_ref()
                .map(|d| *d.get_ref()),
            queues: cfg
                .queues
                .iter()
                .filter_map(|q| {
                    let d = q.recording_retention_days.as_ref()?;
                    Some((q.name.get_ref().clone(), *d.get_ref()))
                })
                .collect(),
        }
    }

    /// Whether anything is ever removed.
    pub fn is_active(&self) -> bool {
        self.default_days.is_some() || !self.queues.is_empty()
    }

    /// Days a recording of a call of `queue` is kept (`None`: for ever).
    pub fn days_for(&self, queue: Option<&str>) -> Option<u32> {
        queue
            .and_then(|q| self.queues.get(q).copied())
            .or(self.default_days)
    }

    /// Recordings started before this may be due (the shortest limit).
    pub fn horizon(&self, now: Timestamp) -> Option<Timestamp> {
        let shortest = self
            .queues
            .values()
            .copied()
            .chain(self.default_days)
            .min()?;
        now.checked_sub(DAY * shortest)
    }

    /// The recordings due for removal at `now`: of a call that has ended, started at least
    /// its queue's limit ago. Never one of a call in progress or a younger one.
    pub fn expired<'a>(
        &self,
        now: Timestamp,
        candidates: &'a [AgedRecording],
    ) -> Vec<&'a AgedRecording> {
        candidates
            .iter()
            .filter(|c| c.ended.is_some())
            .filter(|c| {
                self.days_for(c.queue.as_deref()).is_some_and(|days| {
                    now.duration_since(c.recording.at)
                        .is_some_and(|age| age >= DAY * days)
                })
            })
            .collect()
    }
}

/// Removes the recordings due at `now` that are files under `dir`: each removal is audited
/// (user `retention`, action `recording_removed`, the interaction, the path) and logged.
/// Files already gone are skipped. Returns the paths removed.
pub async fn sweep(
    store: &Store,
    policy: &Retention,
    dir: &Path,
    now: Timestamp,
) -> Result<Vec<String>, String> {
    let Some(horizon) = policy.horizon(now) else {
        return Ok(Vec::new());
    };
    let candidates = store
        .recordings_before(horizon)
        .await
        .map_err(|e| e.to_string())?;
    let mut removed = Vec::new();
    for c in policy.expired(now, &candidates) {
        let path = PathBuf::from(&c.recording.path);
        if !path.starts_with(dir) {
            tracing::warn!(path = %path.display(), "a recording outside the recordings directory is not removed");
            continue;
        }
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove an expired recording");
                continue;
            }
        }
        let days = policy.days_for(c.queue.as_deref()).unwrap_or_default();
        tracing::info!(
            interaction = %c.recording.interaction,
            queue = c.queue.as_deref().unwrap_or("-"),
            path = %path.display(),
            days,
            "recording removed by the retention policy"
        );
        let mut audit = AuditEvent::new(
            Timestamp::now(),
            "retention",
            "recording_removed",
            c.recording.interaction.to_string(),
        );
        audit.detail = Some(format!(
            "{} (queue {}, kept {days} days)",
            c.recording.path,
            c.queue.as_deref().unwrap_or("-")
        ));
        store
            .append_one(Event::Audit(audit))
            .await
            .map_err(|e| e.to_string())?;
        removed.push(c.recording.path.clone());
    }
    Ok(removed)
}

/// The background task: a sweep at once, then every `every`.
pub async fn run(store: Store, policy: Retention, dir: PathBuf, every: Duration) {
    loop {
        if let Err(e) = sweep(&store, &policy, &dir, Timestamp::now()).await {
            tracing::warn!(error = %e, "recording retention sweep failed");
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_model::{InteractionId, RecordingEntry};

    fn rec(queue: Option<&str>, age_days: f64, ended: bool, now: Timestamp) -> AgedRecording {
        let at = Timestamp::from_unix_nanos(now.unix_nanos() - (age_days * 86_400e9) as i64);
        AgedRecording {
            recording: RecordingEntry {
                path: format!("r/{}-{age_days}.wav", queue.unwrap_or("none")),
                interaction: InteractionId::new(),
                kind: "recording".into(),
                at,
            },
            queue: queue.map(String::from),
            ended: ended.then_some(at),
        }
    }

    #[test]
    fn each_queue_keeps_its_own_days_others_the_centres_and_calls_in_progress_stay() {
        let now = Timestamp::from_unix_secs(1_800_000_000).unwrap();
        let policy = Retention {
            default_days: Some(90),
            queues: [("cards".to_string(), 7)].into(),
        };
        let all = vec![
            rec(Some("cards"), 8.0, true, now), // removed: cards keeps 7 days
            rec(Some("cards"), 6.9, true, now), // kept: younger
            rec(Some("cards"), 30.0, false, now), // kept: still in progress
            rec(Some("accounts"), 30.0, true, now), // kept: the centre's 90 days
            rec(Some("accounts"), 91.0, true, now), // removed
            rec(None, 91.0, true, now),         // removed: never queued, the centre's
        ];
        let due: Vec<_> = policy
            .expired(now, &all)
            .into_iter()
            .map(|c| c.recording.path.clone())
            .collect();
        assert_eq!(
            due,
            vec!["r/cards-8.wav", "r/accounts-91.wav", "r/none-91.wav"]
        );
        assert_eq!(
            policy.horizon(now),
            now.checked_sub(DAY * 7),
            "the shortest limit"
        );
        let forever = Retention::default();
        assert!(!forever.is_active());
        assert!(forever.expired(now, &all).is_empty());
        assert_eq!(forever.horizon(now), None);
    }

    /// One call of `queue` recorded `age_days` ago into `path` (a file written here), ended
    /// unless `in_progress`, written through the store with those dates.
    async fn call(
        store: &Store,
        queue: &str,
        age_days: u64,
        in_progress: bool,
        path: &Path,
    ) -> InteractionId {
        use hotline_model::{Channel, EndReason, EventKind, InteractionEvent};
        let id = InteractionId::new();
        let at = Timestamp::now().checked_sub(DAY * age_days as u32).unwrap();
        let t = |s: u64| at.checked_add(Duration::from_secs(s)).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"RIFF....WAVE").unwrap();
        let mut events = vec![
            InteractionEvent::new(
                id,
                t(0),
                EventKind::Arrived {
                    channel: Channel::Voice,
                    from: "13800138000".into(),
                    to: "95588".into(),
                    trunk: None,
                },
            ),
            InteractionEvent::new(
                id,
                t(1),
                EventKind::Queued {
                    queue: queue.into(),
                    priority: 0,
                },
            ),
            InteractionEvent::new(
                id,
                t(5),
                EventKind::RecordingStarted {
                    path: path.display().to_string(),
                },
            ),
        ];
        if !in_progress {
            events.push(InteractionEvent::new(
                id,
                t(65),
                EventKind::Ended {
                    reason: EndReason::CallerHangup,
                },
            ));
        }
        let events: Vec<Event> = events.into_iter().map(Event::from).collect();
        store.append(events).await.unwrap();
        id
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_sweep_removes_expired_recordings_of_ended_calls_and_audits_each() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("hotline.db")).await.unwrap();
        let recs = dir.path().join("recordings");
        let file = |name: &str| recs.join("2026-01-01").join(name);
        let policy = Retention {
            default_days: Some(30),
            queues: [("cards".to_string(), 7)].into(),
        };
        let old_cards = call(&store, "cards", 10, false, &file("a.wav")).await;
        call(&store, "cards", 3, false, &file("b.wav")).await;
        call(&store, "cards", 10, true, &file("c.wav")).await;
        call(&store, "accounts", 10, false, &file("d.wav")).await;
        let old_accounts = call(&store, "accounts", 40, false, &file("e.wav")).await;
        let outside = dir.path().join("elsewhere").join("f.wav");
        call(&store, "accounts", 40, false, &outside).await;

        let removed = sweep(&store, &policy, &recs, Timestamp::now())
            .await
            .unwrap();
        let name = |p: &str| {
            Path::new(p)
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        };
        let mut names: Vec<String> = removed.iter().map(|p| name(p)).collect();
        names.sort();
        assert_eq!(names, vec!["a.wav", "e.wav"]);
        assert!(!file("a.wav").exists() && !file("e.wav").exists());
        for kept in ["b.wav", "c.wav", "d.wav"] {
            assert!(file(kept).exists(), "{kept} is kept");
        }
        assert!(outside.exists(), "nothing outside the recordings directory");
        let audit = store.audit(Timestamp::UNIX_EPOCH).await.unwrap();
        let removals: Vec<_> = audit
            .iter()
            .filter(|a| a.action == "recording_removed")
            .collect();
        assert_eq!(removals.len(), 2, "{audit:?}");
        assert!(removals.iter().all(|a| a.user == "retention"));
        let targets: Vec<&str> = removals.iter().map(|a| a.target.as_str()).collect();
        assert!(
            targets.contains(&old_cards.to_string().as_str()),
            "{targets:?}"
        );
        assert!(
            targets.contains(&old_accounts.to_string().as_str()),
            "{targets:?}"
        );
        assert!(
            removals
                .iter()
                .any(|a| a.detail.as_deref().is_some_and(|d| d.contains("a.wav"))),
            "{removals:?}"
        );

        // A second sweep finds nothing more to do and audits nothing again.
        let again = sweep(&store, &policy, &recs, Timestamp::now())
            .await
            .unwrap();
        assert!(again.is_empty(), "{again:?}");
        let audit = store.audit(Timestamp::UNIX_EPOCH).await.unwrap();
        assert_eq!(
            audit
                .iter()
                .filter(|a| a.action == "recording_removed")
                .count(),
            2
        );
    }
}
