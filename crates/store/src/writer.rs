//! The single writer task: owns the only write connection and commits appends in groups.
//!
//! Appends queue up in a channel while a commit runs; the next transaction takes all of
//! them (up to [`MAX_BATCH_EVENTS`]), so under load one fsync covers many appends. Each
//! append request runs inside its own SAVEPOINT, so a bad request (a duplicate event id)
//! fails alone without failing the others in its group. Replies are sent only after
//! COMMIT returned, and committed events are then published to subscribers.
//!
//! On PostgreSQL the same loop runs against the primary; several stores (nodes) may share
//! the database, so each write transaction first takes a transaction-scoped advisory lock
//! (the equivalent of SQLite's `BEGIN IMMEDIATE`) and continues the seqs from the log's
//! head. When the connection is lost, or the server turned read-only (demoted), the writer
//! looks for the primary again ([`crate::pg::Target::connect_primary`]) while appends keep
//! queueing in the backlog, then commits them. A store fenced with a lease
//! ([`crate::Store::fence`]) checks in every write transaction that the lease still has its
//! holder and epoch, and refuses to commit otherwise.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use hotline_model::{EVENT_FORMAT_VERSION, Event, Seq};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::db::{Backend, Conn, Pool, lost_connection, q, q_owned};
use crate::lease::{Fence, LeaseOp};
use crate::project::{self, PROJECTION_TABLES, PROJECTION_VERSION};
use crate::{Error, Lease, Shared};

/// The PostgreSQL advisory lock every write transaction takes (one writer at a time).
const WRITE_LOCK: i64 = 0x686f_746c_0002;

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
    /// Take or renew a lease (see [`crate::lease`]).
    Lease {
        op: LeaseOp,
        reply: oneshot::Sender<Result<Option<Lease>, Error>>,
    },
    /// From now on, commit only while this lease is held.
    Fence {
        fence: Fence,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
}

pub(crate) struct Writer {
    pub conn: Conn,
    /// Seq the next appended event gets.
    pub next_seq: u64,
    pub shared: Arc<Shared>,
    pub publish: broadcast::Sender<Event>,
    /// SQLite: the database's lock file, held (and so the lock on it) for as long as this
    /// writer runs.
    pub _lock: Option<std::fs::File>,
    /// PostgreSQL: where to look for the primary again, and the read pool to point at it.
    pub reconnect: Option<(crate::pg::Target, Pool)>,
    /// The lease this store writes under, if fenced.
    pub fence: Option<Fence>,
    /// Test hook (`HOTLINE_TEST_SLOW_COMMIT_FILE`): while this file exists, every COMMIT is
    /// delayed by the milliseconds written in it, as a slow fsync would.
    pub slow_commit_file: Option<std::path::PathBuf>,
}

async fn exec(conn: &mut Conn, sql: &'static str) -> Result<(), sqlx::Error> {
    conn.exec(sql).await
}

/// Why a write transaction could not start.
enum Refused {
    Db(sqlx::Error),
    Fenced(Fence),
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
                    let r = match self.begin().await {
                        Ok(()) => {
                            let now = hotline_model::Timestamp::now();
                            let saved =
                                crate::registrations::save(&mut self.conn, &changes, now).await;
                            self.conn.finish(saved).await
                        }
                        Err(refused) => Err(refused.into()),
                    };
                    let r = self.after(r).await;
                    let _ = reply.send(r);
                }
                Command::Lease { op, reply } => {
                    let r = crate::lease::run(&mut self.conn, &op).await;
                    let r = self.after(r).await;
                    let _ = reply.send(r);
                }
                Command::Fence { fence, reply } => {
                    self.fence = Some(fence);
                    let _ = reply.send(Ok(()));
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
                    self.conn.close().await;
                    let _ = reply.send(());
                    return;
                }
            }
        }
        self.conn.close().await;
    }

    /// Starts a write transaction: on PostgreSQL takes the write lock and continues the seqs
    /// from the log's head (another node may have written since); if fenced, checks (and on
    /// PostgreSQL share-locks until COMMIT) the lease row.
    async fn begin(&mut self) -> Result<(), Refused> {
        self.conn.begin_write().await.map_err(Refused::Db)?;
        match self.check().await {
            Ok(()) => Ok(()),
            Err(refused) => {
                self.conn.rollback().await;
                Err(refused)
            }
        }
    }

    async fn check(&mut self) -> Result<(), Refused> {
        if self.conn.backend() == Backend::Postgres {
            q("SELECT pg_advisory_xact_lock(?)")
                .bind(WRITE_LOCK)
                .execute(&mut self.conn)
                .await
                .map_err(Refused::Db)?;
            let head: i64 = q("SELECT COALESCE(MAX(seq), 0) FROM events")
                .fetch_one(&mut self.conn)
                .await
                .and_then(|r| r.at(0))
                .map_err(Refused::Db)?;
            self.next_seq = u64::try_from(head).unwrap_or(0) + 1;
        }
        if let Some(fence) = &self.fence {
            let held = crate::lease::holds(&mut self.conn, fence)
                .await
                .map_err(Refused::Db)?;
            if !held {
                self.shared.fenced.send_replace(true);
                return Err(Refused::Fenced(fence.clone()));
            }
        }
        Ok(())
    }

    /// After a command other than an append: if its error says the connection to
    /// PostgreSQL is gone, finds the primary again (the command itself is answered with the
    /// error; its caller retries).
    async fn after<T>(&mut self, r: Result<T, Error>) -> Result<T, Error> {
        if let Err(Error::Db(e)) = &r
            && lost_connection(e)
            && self.reconnect.is_some()
        {
            let _ = self.reconnect().await;
        }
        r
    }

    /// Looks for the primary until one answers (appends queue meanwhile); `false` if the
    /// store is being closed first.
    async fn reconnect(&mut self) -> bool {
        let Some((target, read)) = &self.reconnect else {
            return false;
        };
        let mut pause = std::time::Duration::from_millis(100);
        loop {
            if self.shared.closing.load(Ordering::Acquire) {
                tracing::error!(database = %target, "closing without a PostgreSQL primary: what waits is not stored");
                return false;
            }
            match target.connect_primary().await {
                Ok((conn, options)) => {
                    if let Pool::Pg(pool) = read {
                        pool.set_connect_options(options);
                    }
                    let old = std::mem::replace(&mut self.conn, Conn::Pg(conn));
                    // The old connection is broken; closing it only frees its resources.
                    drop(old);
                    tracing::warn!(database = %target, "reconnected to the PostgreSQL primary");
                    return true;
                }
                Err(e) => {
                    tracing::warn!(database = %target, error = %e, "no PostgreSQL primary yet; the log waits");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(2));
                }
            }
        }
    }

    async fn commit_batch(&mut self, batch: Vec<(Vec<Encoded>, Reply)>) {
        let (requests, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let started = std::time::Instant::now();
        let mut losses = 0u32;
        let attempt = loop {
            // Optimistic: one transaction for the whole group. Only if a request fails is the
            // group redone with a savepoint around each request, so the bad one fails alone.
            let mut attempt = self.attempt(&requests, false).await;
            if matches!(attempt, Attempt::Retry) {
                attempt = self.attempt(&requests, true).await;
            }
            let Attempt::Lost { why, outcomes } = attempt else {
                break attempt;
            };
            tracing::warn!(error = %why, "lost the PostgreSQL connection while committing; the log waits");
            if losses > 0 {
                // Found a primary, lost it again at once (e.g. it refuses writes): pause
                // before the next try rather than spin.
                let pause = std::time::Duration::from_millis(100 << losses.min(4));
                tokio::time::sleep(pause).await;
            }
            losses += 1;
            if !self.reconnect().await {
                break Attempt::Failed(format!(
                    "the store was closed while no PostgreSQL primary was reachable: not stored, or not known to be ({why})"
                ));
            }
            // A connection lost at COMMIT leaves it unknown whether the group was stored:
            // its events are looked up by id rather than stored twice.
            if let Some(outcomes) = outcomes {
                match self.landed(&outcomes).await {
                    Ok(true) => break Attempt::Committed(outcomes),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "could not tell whether the last group was stored; it is tried again")
                    }
                }
            }
        };
        // The backlog and the commit latency are settled before anyone hears of the outcome:
        // whoever sees an event (stream, reply) sees the backlog without it.
        self.shared.commit_latency.observe(started.elapsed());
        self.shared.backlog_done(requests.len());
        let outcomes = match attempt {
            Attempt::Committed(outcomes) => outcomes,
            Attempt::Fenced(fence) => {
                tracing::error!(lease = %fence.name, epoch = fence.epoch, appends = replies.len(), "the lease was taken over: refused to commit");
                // Said once for the group: the submitted appends among it are not logged
                // one by one.
                for tx in replies.into_iter().flatten() {
                    let _ = tx.send(Err(Error::Fenced {
                        lease: fence.name.clone(),
                        epoch: fence.epoch,
                    }));
                }
                return;
            }
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
        let stored: Vec<&Event> = outcomes.iter().flatten().flatten().collect();
        let n_events = stored.len() as u64;
        let last_seq = stored.last().map_or(0, |e| e.seq().0);
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
        self.shared.events.fetch_add(n_events, Ordering::Relaxed);
        if last_seq > 0 {
            self.shared.head.fetch_max(last_seq, Ordering::AcqRel);
        }
        for (outcome, reply) in outcomes.into_iter().zip(replies) {
            match outcome {
                Ok(events) => {
                    self.shared.appends.fetch_add(1, Ordering::Relaxed);
                    let last = events
                        .last()
                        .map(Event::seq)
                        .unwrap_or(Seq(self.shared.head.load(Ordering::Acquire)));
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

    /// Whether a group whose COMMIT lost its connection was stored after all: its first
    /// stored event is in the log with the seq it was given.
    async fn landed(&mut self, outcomes: &[Result<Vec<Event>, Error>]) -> Result<bool, Error> {
        let Some(first) = outcomes.iter().flatten().flatten().next() else {
            return Ok(false);
        };
        let row = q("SELECT seq FROM events WHERE id = ?")
            .bind(first.id().to_string())
            .fetch_optional(&mut self.conn)
            .await?;
        Ok(match row {
            Some(r) => {
                let seq: i64 = r.at(0)?;
                let landed = u64::try_from(seq).ok() == Some(first.seq().0);
                if landed {
                    let stored = outcomes.iter().flatten().flatten().count() as u64;
                    self.next_seq = first.seq().0 + stored;
                }
                landed
            }
            None => false,
        })
    }

    /// One try at committing a group. Without `savepoints`, the first failing request rolls
    /// the whole transaction back and asks for a retry with them.
    async fn attempt(&mut self, requests: &[Vec<Encoded>], savepoints: bool) -> Attempt {
        let pg = self.reconnect.is_some();
        let lost = |e: &sqlx::Error| pg && lost_connection(e);
        if let Err(refused) = self.begin().await {
            return match refused {
                Refused::Fenced(f) => Attempt::Fenced(f),
                Refused::Db(e) if lost(&e) => Attempt::Lost {
                    why: e.to_string(),
                    outcomes: None,
                },
                Refused::Db(e) => Attempt::Failed(e.to_string()),
            };
        }
        let first_seq = self.next_seq;
        let mut outcomes: Vec<Result<Vec<Event>, Error>> = Vec::with_capacity(requests.len());
        let mut fatal: Option<sqlx::Error> = None;
        for events in requests {
            if savepoints && let Err(e) = exec(&mut self.conn, "SAVEPOINT append").await {
                fatal = Some(e);
                break;
            }
            let seq_before = self.next_seq;
            match self.insert(events).await {
                Ok(events) => {
                    if savepoints && let Err(e) = exec(&mut self.conn, "RELEASE append").await {
                        fatal = Some(e);
                        break;
                    }
                    outcomes.push(Ok(events));
                }
                Err(Error::Db(e)) if lost(&e) => {
                    fatal = Some(e);
                    break;
                }
                Err(err) if savepoints => {
                    self.next_seq = seq_before;
                    let undo = async {
                        exec(&mut self.conn, "ROLLBACK TO append").await?;
                        exec(&mut self.conn, "RELEASE append").await
                    };
                    if let Err(e) = undo.await {
                        fatal = Some(e);
                        break;
                    }
                    outcomes.push(Err(err));
                }
                Err(_) => {
                    self.conn.rollback().await;
                    self.next_seq = first_seq;
                    return Attempt::Retry;
                }
            }
        }
        if let Some(e) = fatal {
            self.conn.rollback().await;
            self.next_seq = first_seq;
            return if lost(&e) {
                Attempt::Lost {
                    why: e.to_string(),
                    outcomes: None,
                }
            } else {
                Attempt::Failed(e.to_string())
            };
        }
        self.test_slow_commit().await;
        match exec(&mut self.conn, "COMMIT").await {
            Ok(()) => Attempt::Committed(outcomes),
            Err(e) => {
                self.conn.rollback().await;
                self.next_seq = first_seq;
                if lost(&e) {
                    Attempt::Lost {
                        why: e.to_string(),
                        outcomes: Some(outcomes),
                    }
                } else {
                    Attempt::Failed(e.to_string())
                }
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
        let epoch = self
            .fence
            .as_ref()
            .map_or(0, |f| i64::try_from(f.epoch).unwrap_or(i64::MAX));
        for Encoded { event, body } in events {
            let mut event = event.clone();
            let seq = Seq(self.next_seq);
            event.set_seq(seq);
            let kind = match &event {
                Event::Interaction(e) => e.kind.name(),
                Event::Agent(e) => e.state.name(),
                Event::Customer(_) => "upserted",
                Event::Audit(_) => "audit",
                Event::Campaign(e) => e.change.name(),
                Event::Workforce(e) => e.change.name(),
            };
            let r = q(
                "INSERT INTO events (seq, id, stream, interaction, kind, at_ns, v, body, epoch)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(project::seq_i64(&event))
            .bind(event.id().to_string())
            .bind(event.stream())
            .bind(event.interaction().map(|i| i.to_string()))
            .bind(kind)
            .bind(event.at().unix_nanos())
            .bind(i64::from(EVENT_FORMAT_VERSION))
            .bind(body.clone())
            .bind(epoch)
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
        self.begin().await?;
        let replayed = self.replay().await;
        let replayed = self.conn.finish(replayed).await;
        if replayed.is_ok() {
            self.shared.commits.fetch_add(1, Ordering::Relaxed);
        }
        self.after(replayed).await
    }

    async fn replay(&mut self) -> Result<u64, Error> {
        for table in PROJECTION_TABLES {
            q_owned(format!("DELETE FROM {table}"))
                .execute(&mut self.conn)
                .await?;
        }
        let mut after = 0i64;
        let mut replayed = 0u64;
        loop {
            let rows = q("SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT 2000")
                .bind(after)
                .fetch_all(&mut self.conn)
                .await?;
            let Some(last) = rows.last() else { break };
            let last: i64 = last.at(0)?;
            for row in rows {
                let event = crate::decode(row.at(0)?, &row.at::<String>(1)?)?;
                project::apply(&mut self.conn, &event).await?;
                replayed += 1;
            }
            after = last;
        }
        q(
            "INSERT INTO meta (key, value) VALUES ('projection_version', ?)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(PROJECTION_VERSION.to_string())
        .execute(&mut self.conn)
        .await?;
        Ok(replayed)
    }
}

enum Attempt {
    Committed(Vec<Result<Vec<Event>, Error>>),
    Retry,
    Failed(String),
    /// The lease was taken over: nothing was written.
    Fenced(Fence),
    /// The connection to PostgreSQL was lost; with the outcomes if it was lost at COMMIT
    /// (the group may have been stored).
    Lost {
        why: String,
        outcomes: Option<Vec<Result<Vec<Event>, Error>>>,
    },
}

impl From<Refused> for Error {
    fn from(r: Refused) -> Error {
        match r {
            Refused::Db(e) => Error::Db(e),
            Refused::Fenced(f) => Error::Fenced {
                lease: f.name,
                epoch: f.epoch,
            },
        }
    }
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
        Command::Lease { reply, .. } => {
            let _ = reply.send(Err(Error::Closed));
        }
        Command::Fence { reply, .. } => {
            let _ = reply.send(Err(Error::Closed));
        }
        Command::Close { reply } => {
            let _ = reply.send(());
        }
    }
}
