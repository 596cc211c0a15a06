//! The single writer task: owns the only write connection and commits appends in groups.
//!
//! Appends queue up in a channel while a commit runs; the next transaction takes all of
//! them (up to [`MAX_BATCH_EVENTS`]), so under load one fsync covers many appends. Each
//! append request runs inside its own SAVEPOINT, so a bad request (a duplicate event id)
//! fails alone without failing the others in its group. Replies are sent only after
//! COMMIT returned, and committed events are then published to subscribers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use hotline_model::{EVENT_FORMAT_VERSION, Event, Seq};
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::project::{self, PROJECTION_TABLES, PROJECTION_VERSION};
use crate::{Error, Shared};

/// Most events one transaction takes before it commits.
pub(crate) const MAX_BATCH_EVENTS: usize = 8192;

/// An event ready to append: validated and encoded by the caller's task.
pub(crate) struct Encoded {
    pub event: Event,
    pub body: String,
}

/// Where an append's outcome goes: a waiting [`crate::Store::append`], or nobody for a
/// [`crate::Store::submit`] (whose failures the writer logs).
pub(crate) type Reply = Option<oneshot::Sender<Result<Seq, Error>>>;

fn answer(reply: Reply, outcome: Result<Seq, Error>) {
    match reply {
        Some(tx) => {
            let _ = tx.send(outcome);
        }
        None => {
            if let Err(e) = outcome {
                tracing::error!(error = %e, "a submitted append could not be stored");
            }
        }
    }
}

pub(crate) enum Command {
    Append {
        events: Vec<Encoded>,
        reply: Reply,
    },
    Rebuild {
        reply: oneshot::Sender<Result<u64, Error>>,
    },
    /// Replace the stored registrations of these extensions (see [`crate::registrations`]).
    Registrations {
        changes: Vec<(String, Vec<crate::registrations::Registration>)>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
}

pub(crate) struct Writer {
    pub conn: SqliteConnection,
    /// Seq the next appended event gets.
    pub next_seq: u64,
    pub shared: Arc<Shared>,
    pub publish: broadcast::Sender<Event>,
    /// Held (and so the lock on it) for as long as this writer runs.
    pub _lock: std::fs::File,
    /// Test hook (`HOTLINE_TEST_SLOW_COMMIT_FILE`): while this file exists, every COMMIT is
    /// delayed by the milliseconds written in it, as a slow fsync would.
    pub slow_commit_file: Option<std::path::PathBuf>,
}

async fn exec(conn: &mut SqliteConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::query(sql).execute(&mut *conn).await.map(|_| ())
}

impl Writer {
    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut held: Option<Command> = None;
        loop {
            let first = match held.take() {
                Some(c) => c,
                None => match rx.recv().await {
                    Some(c) => c,
                    None => break,
                },
            };
            match first {
                Command::Append { events, reply } => {
                    let mut n = events.len();
                    let mut batch = vec![(events, reply)];
                    // Group commit: take whatever queued up while the last commit ran.
                    while n < MAX_BATCH_EVENTS {
                        match rx.try_recv() {
                            Ok(Command::Append { events, reply }) => {
                                n += events.len();
                                batch.push((events, reply));
                            }
                            Ok(other) => {
                                held = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit_batch(batch).await;
                }
                Command::Rebuild { reply } => {
                    let r = self.rebuild().await;
                    let _ = reply.send(r);
                }
                Command::Registrations { changes, reply } => {
                    let r = crate::registrations::save(
                        &mut self.conn,
                        &changes,
                        hotline_model::Timestamp::now(),
                    )
                    .await;
                    let _ = reply.send(r);
                }
                Command::Close { reply } => {
                    // Everything queued before Close has been committed (the channel is FIFO).
                    rx.close();
                    while let Ok(cmd) = rx.try_recv() {
                        if matches!(cmd, Command::Append { .. }) {
                            self.shared.backlog_done(1);
                        }
                        reject(cmd);
                    }
                    let _ = self.conn.close().await;
                    let _ = reply.send(());
                    return;
                }
            }
        }
        let _ = self.conn.close().await;
    }

    async fn commit_batch(&mut self, batch: Vec<(Vec<Encoded>, Reply)>) {
        let (requests, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let started = std::time::Instant::now();
        let first_seq = self.next_seq;
        // Optimistic: one transaction for the whole group. Only if a request fails is the
        // group redone with a savepoint around each request, so the bad one fails alone.
        let mut attempt = self.attempt(&requests, false).await;
        if matches!(attempt, Attempt::Retry) {
            attempt = self.attempt(&requests, true).await;
        }
        // The backlog and the commit latency are settled before anyone hears of the outcome:
        // whoever sees an event (stream, reply) sees the backlog without it.
        self.shared.commit_latency.observe(started.elapsed());
        self.shared.backlog_done(requests.len());
        let outcomes = match attempt {
            Attempt::Committed(outcomes) => outcomes,
            failed => {
                let why = match failed {
                    Attempt::Failed(why) => why,
                    // With savepoints an attempt never asks for a retry; should it, fail the
                    // group rather than loop.
                    _ => "the append group could not be isolated".to_owned(),
                };
                for reply in replies {
                    answer(reply, Err(Error::Commit(why.clone())));
                }
                return;
            }
        };
        let n_events = self.next_seq - first_seq;
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
        self.shared.events.fetch_add(n_events, Ordering::Relaxed);
        self.shared.head.store(self.next_seq - 1, Ordering::Release);
        for (outcome, reply) in outcomes.into_iter().zip(replies) {
            match outcome {
                Ok(events) => {
                    self.shared.appends.fetch_add(1, Ordering::Relaxed);
                    let last = events
                        .last()
                        .map(Event::seq)
                        .unwrap_or(Seq(self.next_seq - 1));
                    for e in events {
                        // No subscribers is fine.
                        let _ = self.publish.send(e);
                    }
                    answer(reply, Ok(last));
                }
                Err(e) => answer(reply, Err(e)),
            }
        }
    }

    /// One try at committing a group. Without `savepoints`, the first failing request rolls
    /// the whole transaction back and asks for a retry with them.
    async fn attempt(&mut self, requests: &[Vec<Encoded>], savepoints: bool) -> Attempt {
        let first_seq = self.next_seq;
        if let Err(e) = exec(&mut self.conn, "BEGIN IMMEDIATE").await {
            return Attempt::Failed(e.to_string());
        }
        let mut outcomes: Vec<Result<Vec<Event>, Error>> = Vec::with_capacity(requests.len());
        let mut fatal: Option<String> = None;
        for events in requests {
            if savepoints && let Err(e) = exec(&mut self.conn, "SAVEPOINT append").await {
                fatal = Some(e.to_string());
                break;
            }
            let seq_before = self.next_seq;
            match self.insert(events).await {
                Ok(events) => {
                    if savepoints && let Err(e) = exec(&mut self.conn, "RELEASE append").await {
                        fatal = Some(e.to_string());
                        break;
                    }
                    outcomes.push(Ok(events));
                }
                Err(err) if savepoints => {
                    self.next_seq = seq_before;
                    let undo = async {
                        exec(&mut self.conn, "ROLLBACK TO append").await?;
                        exec(&mut self.conn, "RELEASE append").await
                    };
                    if let Err(e) = undo.await {
                        fatal = Some(e.to_string());
                        break;
                    }
                    outcomes.push(Err(err));
                }
                Err(_) => {
                    let _ = exec(&mut self.conn, "ROLLBACK").await;
                    self.next_seq = first_seq;
                    return Attempt::Retry;
                }
            }
        }
        if fatal.is_none() {
            self.test_slow_commit().await;
        }
        let committed = match fatal {
            Some(why) => Err(why),
            None => exec(&mut self.conn, "COMMIT")
                .await
                .map_err(|e| e.to_string()),
        };
        match committed {
            Ok(()) => Attempt::Committed(outcomes),
            Err(why) => {
                let _ = exec(&mut self.conn, "ROLLBACK").await;
                self.next_seq = first_seq;
                Attempt::Failed(why)
            }
        }
    }

    /// The test hook's delay, at the real commit point (the write transaction is open, as
    /// during a slow fsync: readers go on seeing the last committed state).
    async fn test_slow_commit(&self) {
        let Some(path) = &self.slow_commit_file else {
            return;
        };
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        if let Ok(ms) = text.trim().parse::<u64>() {
            tracing::warn!(ms, "test hook: delaying this commit");
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
    }

    /// Inserts one request's events and applies them to the projections.
    async fn insert(&mut self, events: &[Encoded]) -> Result<Vec<Event>, Error> {
        let mut out = Vec::with_capacity(events.len());
        for Encoded { event, body } in events {
            let mut event = event.clone();
            let seq = Seq(self.next_seq);
            event.set_seq(seq);
            let kind = match &event {
                Event::Interaction(e) => e.kind.name(),
                Event::Agent(e) => e.state.name(),
                Event::Customer(_) => "upserted",
                Event::Audit(_) => "audit",
            };
            let r = sqlx::query(
                "INSERT INTO events (seq, id, stream, interaction, kind, at_ns, v, body)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(project::seq_i64(&event))
            .bind(event.id().to_string())
            .bind(event.stream())
            .bind(event.interaction().map(|i| i.to_string()))
            .bind(kind)
            .bind(event.at().unix_nanos())
            .bind(i64::from(EVENT_FORMAT_VERSION))
            .bind(body.clone())
            .execute(&mut self.conn)
            .await;
            if let Err(e) = r {
                let unique = e
                    .as_database_error()
                    .is_some_and(|d| d.is_unique_violation());
                return Err(if unique {
                    Error::Duplicate(event.id())
                } else {
                    Error::Db(e)
                });
            }
            project::apply(&mut self.conn, &event).await?;
            self.next_seq += 1;
            out.push(event);
        }
        Ok(out)
    }

    /// Clears the projections and replays the whole log through them, in one transaction.
    pub(crate) async fn rebuild(&mut self) -> Result<u64, Error> {
        let mut tx = self.conn.begin().await?;
        for table in PROJECTION_TABLES {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
                .execute(&mut *tx)
                .await?;
        }
        let mut after = 0i64;
        let mut replayed = 0u64;
        loop {
            let rows: Vec<(i64, String)> = sqlx::query_as(
                "SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT 2000",
            )
            .bind(after)
            .fetch_all(&mut *tx)
            .await?;
            let Some(&(last, _)) = rows.last() else { break };
            for (seq, body) in rows {
                let event = crate::decode(seq, &body)?;
                project::apply(&mut tx, &event).await?;
                replayed += 1;
            }
            after = last;
        }
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('projection_version', ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(PROJECTION_VERSION.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
        Ok(replayed)
    }
}

enum Attempt {
    Committed(Vec<Result<Vec<Event>, Error>>),
    Retry,
    Failed(String),
}

fn reject(cmd: Command) {
    match cmd {
        Command::Append { reply, .. } => answer(reply, Err(Error::Closed)),
        Command::Rebuild { reply } => {
            let _ = reply.send(Err(Error::Closed));
        }
        Command::Registrations { reply, .. } => {
            let _ = reply.send(Err(Error::Closed));
        }
        Command::Close { reply } => {
            let _ = reply.send(());
        }
    }
}
