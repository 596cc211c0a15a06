//! hotline's durable event log and its projections, on SQLite (embedded, the default) or
//! PostgreSQL (shared by the nodes of a pair) through sqlx.
//!
//! # Model
//!
//! The `events` table is the only source of truth. Every other table (the `interactions`
//! CDRs, `customers`, contact history, `notes`, `audit`, `recordings`, `agent_states`) is
//! a projection, updated in the same transaction as the events it derives from and
//! recomputable at any time with [`Store::rebuild_projections`].
//!
//! # Writing
//!
//! One writer task owns the only write connection. [`Store::append`] validates and encodes
//! the events on the caller's task, queues them, and returns a future that resolves only
//! after the transaction containing them has committed. While one commit runs, new appends
//! queue up; the next transaction takes all of them (group commit), so one fsync serves
//! many appends. Appends are committed in the order [`Store::append`] was called (not the
//! order the futures are awaited), and each append's events get consecutive seqs.
//!
//! [`Store::submit`] queues the same way without waiting for the commit: call sessions use
//! it so that no caller ever waits on the disk. Committed events are the only ones anybody
//! sees (subscribers, queries). [`Store::backlog`] says how many events wait and since
//! when; [`Store::commit_latency`] how long commits take.
//!
//! # Durability
//!
//! The database runs in WAL mode with `synchronous=FULL` (the default here,
//! [`Durability::Full`]): COMMIT returns only after the WAL has been fsynced, so an
//! acknowledged append survives a crash of the process (`kill -9`) *and* a power loss or
//! kernel panic, provided the disk honours flushes.
//!
//! Note what each failure actually threatens. `kill -9` ends the process but not the
//! kernel: whatever the process had handed to `write()` is in the OS page cache and reaches
//! the disk anyway. So surviving `kill -9` only requires that the WAL frames were written
//! before the append was acknowledged, which SQLite does at COMMIT in every synchronous
//! mode. Only power loss (or a kernel crash) loses OS-buffered writes, and only fsync
//! protects against that. [`Durability::Normal`] (`synchronous=NORMAL` with WAL) skips the
//! per-commit fsync: still nothing lost on `kill -9`, but the last commits before a power
//! loss may vanish (the database stays consistent). It exists for benchmarks and
//! disposable demos; a bank runs `Full`, and group commit makes its cost per event small.
//!
//! On PostgreSQL ([`Store::open_database`] with [`Database::Postgres`]) durability is the
//! server's: COMMIT returns when the server's `synchronous_commit` setting says so (with
//! the default `on`, after the server's WAL flush; with a synchronous standby configured,
//! after the standby has it too). [`Durability`] does not apply there.
//!
//! # Reading
//!
//! Queries go through a separate pool of read-only connections; in WAL mode they never
//! block the writer and see the last committed state.
//!
//! # PostgreSQL
//!
//! The same API, the same writer task and group commit, the same projections in the same
//! transaction (the private `db` module says how one query text serves both engines). The connection
//! string may name several hosts; the writer keeps the primary and finds it again after a
//! failover, while appends wait in the backlog (see [`PgTarget`]). Several stores (nodes)
//! may open one database: their write transactions are serialised by an advisory lock, and
//! [leases with fencing](Store::fence) decide which of them may write.
//!
//! # Recovery
//!
//! [`Store::open`] closes every call (an interaction of any channel but `chat`, `email` and
//! `sms`, which the centre reads back and goes on with) that has no `ended` event with a real
//! `ended {reason: interrupted}` event, dated at that interaction's last event. Agents keep
//! their last state: a restarted centre restores it (available, not ready, on a break) from
//! [`Store::agent_states`]. Both are reported in [`Store::recovery`].
//!
//! # Use
//!
//! ```no_run
//! use hotline_model::{Channel, Event, EventKind, InteractionEvent, InteractionId, Timestamp};
//! use hotline_store::Store;
//!
//! # async fn demo() -> hotline_store::Result<()> {
//! let store = Store::open("hotline-data/hotline.db").await?;
//! if !store.recovery().interrupted.is_empty() {
//!     eprintln!("closed {} interrupted interactions", store.recovery().interrupted.len());
//! }
//! let mut feed = store.subscribe(); // for the WebSocket event stream
//!
//! // A call session: append, and act on the change only once it is durable.
//! let call = InteractionId::new();
//! let arrived = InteractionEvent::new(
//!     call,
//!     Timestamp::now(),
//!     EventKind::Arrived {
//!         channel: Channel::Voice,
//!         from: "+442079460018".into(),
//!         to: "95588".into(),
//!         trunk: None,
//!     },
//! );
//! let seq = store.append(vec![Event::from(arrived)]).await?;
//!
//! // The HTTP API: CDRs since a time, a customer by the caller's number.
//! let since = Timestamp::parse_rfc3339("2026-11-23T00:00:00Z").unwrap_or(Timestamp::UNIX_EPOCH);
//! let cdrs = store.interactions_since(since).await?;
//! let customer = store.customer_by_phone("sip:+442079460018@10.0.0.1").await?;
//! let next = feed.recv().await; // the `arrived` event, with its seq
//! # let _ = (seq, cdrs, customer, next);
//! store.close().await;
//! # Ok(())
//! # }
//! ```

mod backlog;
mod db;
mod import;
mod lease;
mod pg;
mod project;
mod query;
mod queue_days;
mod raw;
mod registrations;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hotline_model::{
    AgentId, AgentState, EndReason, Event, EventId, EventKind, InteractionEvent, InteractionId,
    InvalidEvent, Seq, Timestamp,
};
use sqlx::ConnectOptions;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::{Mutex, broadcast, mpsc, oneshot};

pub use backlog::{Backlog, COMMIT_BUCKETS, CommitLatency};
pub use import::{ImportReport, Rejection};
pub use lease::{Lease, LeaseClient};
pub use pg::Target as PgTarget;
pub use project::PROJECTION_VERSION;
pub use query::{AgedRecording, PageCursor, QueueSlot};
pub use queue_days::{DAY_NS, INTERVAL_MINUTES, QueueDay, QueueInterval, day_of};
pub use registrations::Registration;
pub use schema::SCHEMA_VERSION;

use db::{Conn, Pool, Row, q};
use writer::{Command, Encoded, Writer};

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The transaction holding this append failed; nothing of it was stored.
    #[error("commit failed: {0}")]
    Commit(String),
    #[error(transparent)]
    Invalid(#[from] InvalidEvent),
    #[error("event {0} is already in the log")]
    Duplicate(EventId),
    /// Too many appends are waiting for the writer; try again later.
    #[error("the store is overloaded: {0} appends are waiting")]
    Overloaded(usize),
    #[error("the store is closed")]
    Closed,
    /// This store is fenced with a lease that has since been taken over (another holder or
    /// a newer epoch): nothing of the write was stored.
    #[error("the lease {lease:?} (epoch {epoch}) was taken over: write refused")]
    Fenced { lease: String, epoch: u64 },
    /// None of the PostgreSQL hosts is a reachable primary.
    #[error("no PostgreSQL primary: {0}")]
    NoPrimary(String),
    /// Another writer (process or open store) holds the database's lock file.
    #[error("the database is in use by another writer (lock file {0})")]
    Locked(String),
    #[error("migration to schema {version} failed: {why}")]
    Migration { version: i64, why: String },
    #[error("corrupt row (seq or key {key}): {why}")]
    Corrupt { key: String, why: String },
    #[error("csv: {0}")]
    Csv(String),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// When a commit counts as durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: fsync the WAL on every commit. Survives process crashes and power
    /// loss.
    #[default]
    Full,
    /// `synchronous=NORMAL`: no fsync per commit. Survives process crashes (`kill -9`), may
    /// lose the last commits on power loss.
    Normal,
}

/// How long a read on PostgreSQL waits for a connection before it fails. While the
/// primary is lost (a failover) the read pool keeps trying the old host until the writer
/// has found the new one; a read the call path makes (the caller's customer record, looked
/// up while the IVR runs) then fails soon and the call goes on without it, instead of
/// holding the call for the whole failover (sqlx's default is 30 s).
const PG_READ_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

/// How to open a store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub durability: Durability,
    /// Connections in the read pool.
    pub read_connections: u32,
    /// Appends that may wait for the writer before [`Store::append`] answers
    /// [`Error::Overloaded`].
    pub max_pending_appends: usize,
    /// Events buffered for slow subscribers (see [`Store::subscribe`]).
    pub subscriber_buffer: usize,
    /// For tests only: while this file exists, every commit is delayed, at the commit point
    /// inside the write transaction, by the number of milliseconds written in it (a slow
    /// disk). Defaults to the path in the environment variable [`SLOW_COMMIT_ENV`]
    /// (`HOTLINE_TEST_SLOW_COMMIT_FILE`); unset in production.
    pub slow_commit_file: Option<PathBuf>,
    /// Fence the store with this lease from the start (see [`Store::fence`]): the writes
    /// of the opening itself (closing interrupted interactions) are already checked, so a
    /// node that lost the lease while it opened writes nothing.
    pub fence: Option<Lease>,
    /// Close the interactions left open in the log as `interrupted` (see
    /// [`Store::recovery`]). On by default; off for a store that only reads.
    pub recover: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            durability: Durability::Full,
            read_connections: 4,
            max_pending_appends: 65_536,
            subscriber_buffer: 16_384,
            slow_commit_file: std::env::var_os(SLOW_COMMIT_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            fence: None,
            recover: true,
        }
    }
}

/// Which database a store lives in.
#[derive(Clone, Debug)]
pub enum Database {
    /// An SQLite file (created if missing), with a lock file beside it.
    Sqlite(PathBuf),
    /// A PostgreSQL database, on the first primary among its hosts.
    Postgres(Box<PgTarget>),
}

/// What [`Store::open`] found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Interactions that had no `ended` event and were closed as `interrupted`.
    pub interrupted: Vec<InteractionId>,
    /// Agents whose last state was not `logged_out`. They are left so: the centre restores
    /// each one's last state (see [`Store::agent_states`]).
    pub logged_in: Vec<AgentId>,
    /// Migrations applied.
    pub migrations_applied: usize,
    /// Events replayed because the projections were built by another version (0 if not).
    pub projections_rebuilt_from: u64,
}

/// Counters of the writer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Transactions committed (each append group is one; so is a rebuild).
    pub commits: u64,
    /// Successful [`Store::append`] calls.
    pub appends: u64,
    /// Events appended.
    pub events: u64,
    /// Seq of the last committed event.
    pub head: Seq,
}

#[derive(Default)]
pub(crate) struct Shared {
    pub commits: AtomicU64,
    pub appends: AtomicU64,
    pub events: AtomicU64,
    pub head: AtomicU64,
    pub commit_latency: backlog::Histogram,
    pub backlog: backlog::Queue,
    /// [`Store::close`] was called: a writer looking for a PostgreSQL primary gives up.
    pub closing: std::sync::atomic::AtomicBool,
    /// Set once a write was refused because the fencing lease was taken over.
    pub fenced: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    /// The writer is done (committed or failed) with the `n` oldest queued appends.
    pub(crate) fn backlog_done(&self, n: usize) {
        self.backlog.done(n);
    }
}

/// The environment variable naming the test hook's file (see [`StoreOptions::slow_commit_file`]).
pub const SLOW_COMMIT_ENV: &str = "HOTLINE_TEST_SLOW_COMMIT_FILE";

struct Inner {
    path: PathBuf,
    commands: mpsc::Sender<Command>,
    read: Pool,
    shared: Arc<Shared>,
    publish: broadcast::Sender<Event>,
    recovery: RecoveryReport,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// The event log and its projections. Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

pub(crate) fn decode(seq: i64, body: &str) -> Result<Event> {
    let mut event: Event = serde_json::from_str(body).map_err(|e| Error::Corrupt {
        key: seq.to_string(),
        why: e.to_string(),
    })?;
    event.set_seq(Seq(u64::try_from(seq).unwrap_or(0)));
    Ok(event)
}

impl Store {
    /// Opens (creating if needed) the store at `path` with default options: migrates the
    /// schema, rebuilds projections built by another version, starts the writer, and closes
    /// interrupted interactions (see [`Store::recovery`]). Must run inside a tokio runtime.
    pub async fn open(path: impl AsRef<Path>) -> Result<Store> {
        Self::open_with(path, StoreOptions::default()).await
    }

    /// [`Store::open`] with options.
    pub async fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        Self::open_database(&Database::Sqlite(path.as_ref().to_path_buf()), options).await
    }

    /// Opens the store in `database` (SQLite or PostgreSQL): the same as [`Store::open`].
    /// On PostgreSQL the hosts are tried in order and the first primary is kept
    /// ([`Error::NoPrimary`] if none is).
    pub async fn open_database(database: &Database, options: StoreOptions) -> Result<Store> {
        let (conn, read, lock, reconnect, path) = match database {
            Database::Sqlite(path) => {
                let (conn, read, lock) = Self::connect_sqlite(path, &options).await?;
                (conn, read, Some(lock), None, path.clone())
            }
            Database::Postgres(target) => {
                let (conn, connect) = target.connect_primary().await?;
                let read = Pool::Pg(
                    PgPoolOptions::new()
                        .max_connections(options.read_connections.max(1))
                        .acquire_timeout(PG_READ_ACQUIRE_TIMEOUT)
                        .connect_lazy_with(connect),
                );
                (
                    Conn::Pg(conn),
                    read.clone(),
                    None,
                    Some(((**target).clone(), read)),
                    PathBuf::new(),
                )
            }
        };
        Self::start(conn, read, lock, reconnect, path, options).await
    }

    async fn connect_sqlite(
        path: &Path,
        options: &StoreOptions,
    ) -> Result<(Conn, Pool, std::fs::File)> {
        let synchronous = match options.durability {
            Durability::Full => SqliteSynchronous::Full,
            Durability::Normal => SqliteSynchronous::Normal,
        };
        // One writer per database: a second process (or a second open in this one) would
        // otherwise contend for the write lock and break the group-commit design.
        let lock_path = {
            let mut p = path.to_path_buf().into_os_string();
            p.push(".lock");
            PathBuf::from(p)
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked(lock_path.display().to_string()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::Io(e)),
        }
        let base = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(false);
        let conn = base
            .clone()
            .create_if_missing(true)
            .synchronous(synchronous)
            .connect()
            .await?;
        // Read connections are opened when first needed: the schema exists by then.
        let read = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .connect_lazy_with(base.pragma("query_only", "ON"));
        Ok((Conn::Sqlite(conn), Pool::Sqlite(read), lock))
    }

    async fn start(
        mut conn: Conn,
        read: Pool,
        lock: Option<std::fs::File>,
        reconnect: Option<(PgTarget, Pool)>,
        path: PathBuf,
        options: StoreOptions,
    ) -> Result<Store> {
        let migrations_applied = schema::migrate(&mut conn).await?;

        let head: i64 = q("SELECT COALESCE(MAX(seq), 0) FROM events")
            .fetch_one(&mut conn)
            .await?
            .at(0)?;
        let head = u64::try_from(head).unwrap_or(0);
        let shared = Arc::new(Shared::default());
        shared.head.store(head, Ordering::Release);
        let (publish, _) = broadcast::channel(options.subscriber_buffer.max(1));
        let mut writer = Writer {
            conn,
            next_seq: head + 1,
            shared: shared.clone(),
            publish: publish.clone(),
            _lock: lock,
            reconnect,
            fence: options.fence.as_ref().map(lease::Fence::of),
            slow_commit_file: options.slow_commit_file.clone(),
        };

        let built_by: Option<String> = q("SELECT value FROM meta WHERE key = 'projection_version'")
            .fetch_optional(&mut writer.conn)
            .await?
            .map(|r| r.at(0))
            .transpose()?;
        let projections_rebuilt_from =
            if built_by.as_deref() != Some(&PROJECTION_VERSION.to_string()) {
                writer.rebuild().await?
            } else {
                0
            };

        // Interactions cut off by the last stop, with the time of their last event. A
        // written conversation (web chat, e-mail, text) is not cut off by a stop: the
        // centre reads it back and the customer takes it up again.
        let open = q("SELECT id, last_at_ns FROM interactions \
                      WHERE ended_ns IS NULL AND (channel IS NULL OR channel NOT IN ('chat', 'email', 'sms')) \
                      ORDER BY id")
        .fetch_all(&mut writer.conn)
        .await?
        .iter()
        .map(|r| Ok((r.at::<String>(0)?, r.at::<i64>(1)?)))
        .collect::<Result<Vec<_>>>()?;
        let agents = q("SELECT agent, state FROM agent_states ORDER BY agent")
            .fetch_all(&mut writer.conn)
            .await?
            .iter()
            .map(|r| Ok((r.at::<String>(0)?, r.at::<String>(1)?)))
            .collect::<Result<Vec<_>>>()?;

        let (commands, rx) = mpsc::channel(options.max_pending_appends.max(1));
        let handle = tokio::spawn(writer.run(rx));

        let mut interrupted = Vec::with_capacity(open.len());
        let mut closing = Vec::with_capacity(open.len());
        let open = if options.recover { open } else { Vec::new() };
        for (id, last_at) in open {
            let id: InteractionId =
                id.parse()
                    .map_err(|e: hotline_model::ParseIdError| Error::Corrupt {
                        key: id.clone(),
                        why: e.to_string(),
                    })?;
            interrupted.push(id);
            closing.push(Event::from(InteractionEvent::new(
                id,
                Timestamp::from_unix_nanos(last_at),
                EventKind::Ended {
                    reason: EndReason::Interrupted,
                },
            )));
        }
        // Agents the projection still shows as logged in: they stay so (the centre restores
        // their states into the routing engine, and logs out those it no longer knows).
        let mut logged_in = Vec::new();
        for (agent, state) in agents {
            let state: AgentState = serde_json::from_str(&state).map_err(|e| Error::Corrupt {
                key: agent.clone(),
                why: e.to_string(),
            })?;
            if state != AgentState::LoggedOut {
                logged_in.push(AgentId::new(agent));
            }
        }
        let mut store = Store {
            inner: Arc::new(Inner {
                path,
                commands,
                read,
                shared,
                publish,
                recovery: RecoveryReport::default(),
                writer: Mutex::new(Some(handle)),
            }),
        };
        if let Some(f) = &options.slow_commit_file {
            tracing::warn!(file = %f.display(), "test hook on: commits are delayed while this file exists");
        }
        if !closing.is_empty() {
            store.append(closing).await?;
            tracing::warn!(
                interactions = interrupted.len(),
                "closed interactions cut off by the last stop as interrupted"
            );
        }
        // The only clone so far: `store` was created above and not shared yet.
        if let Some(inner) = Arc::get_mut(&mut store.inner) {
            inner.recovery = RecoveryReport {
                interrupted,
                logged_in,
                migrations_applied,
                projections_rebuilt_from,
            };
        }
        Ok(store)
    }

    /// The database file (empty on PostgreSQL).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// What [`Store::open`] repaired.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    /// Appends events durably. The events are validated and queued at once, in call order;
    /// the returned future resolves after the transaction holding them committed, to the seq
    /// of the last one (an append of `n` events got seqs `last - n + 1 ..= last`). Dropping
    /// the future does not withdraw the append. Seqs set on the events are ignored.
    ///
    /// Errors: [`Error::Invalid`] (nothing queued), [`Error::Overloaded`],
    /// [`Error::Duplicate`] (this append stored nothing, the others in its group are not
    /// affected), [`Error::Commit`], [`Error::Closed`].
    pub fn append(
        &self,
        events: impl Into<Vec<Event>>,
    ) -> impl Future<Output = Result<Seq>> + Send + 'static {
        let queued = self.enqueue(events.into());
        async move {
            match queued {
                Ok(rx) => rx.await.map_err(|_| Error::Closed)?,
                Err(e) => Err(e),
            }
        }
    }

    /// [`Store::append`] of one event.
    pub fn append_one(
        &self,
        event: impl Into<Event>,
    ) -> impl Future<Output = Result<Seq>> + Send + 'static {
        self.append(vec![event.into()])
    }

    fn encode(events: Vec<Event>) -> Result<Vec<Encoded>> {
        let mut encoded = Vec::with_capacity(events.len());
        for mut event in events {
            event.validate()?;
            event.set_seq(Seq::UNASSIGNED);
            let body = serde_json::to_string(&event)?;
            encoded.push(Encoded { event, body });
        }
        Ok(encoded)
    }

    fn enqueue(&self, events: Vec<Event>) -> Result<oneshot::Receiver<Result<Seq>>> {
        let encoded = Self::encode(events)?;
        let (reply, rx) = oneshot::channel();
        let permit = self.inner.commands.try_reserve().map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                Error::Overloaded(self.inner.commands.max_capacity())
            }
            mpsc::error::TrySendError::Closed(_) => Error::Closed,
        })?;
        self.queue(permit, encoded, Some(reply));
        Ok(rx)
    }

    fn queue(&self, permit: mpsc::Permit<'_, Command>, events: Vec<Encoded>, reply: writer::Reply) {
        let n = events.len();
        self.inner.shared.backlog.push(n, || {
            permit.send(Command::Append { events, reply });
        });
    }

    /// Queues events for the log without waiting for them to be durable: what a call session
    /// uses, so that no caller waits on the disk. Appends are committed in the order they
    /// were queued, like [`Store::append`]'s; nothing of them is visible (event stream,
    /// queries) before it is committed. Resolves as soon as the events are queued, which is
    /// at once unless [`StoreOptions::max_pending_appends`] appends are already waiting:
    /// then it waits for room (backpressure) rather than lose events. A failure to store them
    /// later is logged by the writer.
    ///
    /// Errors: [`Error::Invalid`] (nothing queued), [`Error::Closed`].
    pub async fn submit(&self, events: impl Into<Vec<Event>>) -> Result<()> {
        let encoded = Self::encode(events.into())?;
        let permit = match self.inner.commands.try_reserve() {
            Ok(p) => p,
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(Error::Closed),
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("the event log is full; a call session waits for room");
                self.inner
                    .commands
                    .reserve()
                    .await
                    .map_err(|_| Error::Closed)?
            }
        };
        self.queue(permit, encoded, None);
        Ok(())
    }

    /// Resolves once a write was refused because this store's fencing lease was taken over
    /// ([`Error::Fenced`]): another node writes now, and this one must stop.
    pub async fn until_fenced(&self) {
        let mut rx = self.inner.shared.fenced.subscribe();
        let _ = rx.wait_for(|f| *f).await;
    }

    /// Whether a write was refused because the fencing lease was taken over.
    pub fn is_fenced(&self) -> bool {
        *self.inner.shared.fenced.borrow()
    }

    /// Appends queued and not yet committed: how far the log is behind.
    pub fn backlog(&self) -> Backlog {
        self.inner.shared.backlog.snapshot()
    }

    /// How long the writer's commits took, as a histogram.
    pub fn commit_latency(&self) -> CommitLatency {
        self.inner.shared.commit_latency.snapshot()
    }

    /// Committed events as they are committed, in seq order. A subscriber that falls more
    /// than [`StoreOptions::subscriber_buffer`] events behind gets
    /// `RecvError::Lagged` and should catch up with [`Store::events_after`].
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.publish.subscribe()
    }

    /// Writer counters.
    pub fn stats(&self) -> StoreStats {
        let s = &self.inner.shared;
        StoreStats {
            commits: s.commits.load(Ordering::Relaxed),
            appends: s.appends.load(Ordering::Relaxed),
            events: s.events.load(Ordering::Relaxed),
            head: Seq(s.head.load(Ordering::Acquire)),
        }
    }

    /// Recomputes every projection from the event log, in one transaction that appends wait
    /// for. Returns how many events were replayed.
    pub async fn rebuild_projections(&self) -> Result<u64> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Rebuild { reply })
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Commits everything queued so far, then stops the writer and closes the database. Other
    /// clones of this store get [`Error::Closed`] afterwards. On PostgreSQL, if no primary is
    /// reachable, what waits is failed ([`Error::Commit`]) rather than waited for forever.
    pub async fn close(&self) {
        self.inner.shared.closing.store(true, Ordering::Release);
        let (reply, rx) = oneshot::channel();
        if self
            .inner
            .commands
            .send(Command::Close { reply })
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
        if let Some(handle) = self.inner.writer.lock().await.take() {
            let _ = handle.await;
        }
        self.inner.read.close().await;
    }

    pub(crate) fn read_pool(&self) -> &Pool {
        &self.inner.read
    }
}

pub(crate) fn get<T: db::Col>(row: &Row, col: &str) -> Result<T> {
    row.get(col).map_err(Error::Db)
}
