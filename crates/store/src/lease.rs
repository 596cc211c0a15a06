//! Leases and fencing: which node may write.
//!
//! A lease is a row of `leases` (`name`, `holder`, `epoch`, `expires_at`). A node takes it
//! when it is free or expired, which raises its epoch by one, and renews it before it
//! expires. On PostgreSQL the clock is the database server's (one clock for every node); on
//! SQLite it is this process's.
//!
//! Expiry alone cannot stop a node that paused (a long GC, a frozen VM, a partition) from
//! writing after its lease was taken over: fencing does. A store fenced with a lease
//! ([`Store::fence`]) checks, inside every write transaction, that the lease row still has
//! its holder and epoch, and refuses to commit ([`Error::Fenced`]) otherwise. On PostgreSQL
//! the check locks the row `FOR SHARE` until COMMIT, and a takeover locks it `FOR UPDATE`:
//! the takeover waits for the commits already checking, and every commit after it sees the
//! new epoch. So no event is stored under an epoch that was already superseded when it
//! committed. Every event row records the epoch it was written under (`events.epoch`, 0
//! without a lease).

use std::time::Duration;

use hotline_model::Timestamp;
use tokio::sync::oneshot;

use crate::db::{Backend, Conn, q};
use crate::writer::Command;
use crate::{Error, Result, Store};

/// A lease as held: who holds it, under which epoch, and until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    /// Raised by one at every change of holder; 1 for the first holder.
    pub epoch: u64,
    /// When it expires unless renewed (the database's clock on PostgreSQL).
    pub expires: Timestamp,
}

/// What a fenced writer checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fence {
    pub name: String,
    pub holder: String,
    pub epoch: u64,
}

impl Fence {
    pub(crate) fn of(lease: &Lease) -> Fence {
        Fence {
            name: lease.name.clone(),
            holder: lease.holder.clone(),
            epoch: lease.epoch,
        }
    }
}

pub(crate) enum LeaseOp {
    Acquire {
        name: String,
        holder: String,
        ttl: Duration,
    },
    Renew {
        lease: Lease,
        ttl: Duration,
    },
    Read {
        name: String,
    },
    /// Gives a held lease up (it expires now), if it is still this holder's and epoch.
    Release {
        lease: Lease,
    },
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn epoch_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Whether the lease row still has the fence's holder and epoch (on PostgreSQL, share-locked
/// until the end of the transaction). Runs inside the writer's transaction.
pub(crate) async fn holds(conn: &mut Conn, fence: &Fence) -> Result<bool, sqlx::Error> {
    let sql = match conn.backend() {
        Backend::Sqlite => "SELECT holder, epoch FROM leases WHERE name = ?",
        Backend::Postgres => "SELECT holder, epoch FROM leases WHERE name = ? FOR SHARE",
    };
    let row = q(sql).bind(&fence.name).fetch_optional(&mut *conn).await?;
    Ok(match row {
        Some(r) => {
            let holder: String = r.at(0)?;
            let epoch: i64 = r.at(1)?;
            holder == fence.holder && epoch_of(epoch) == fence.epoch
        }
        None => false,
    })
}

/// Runs a lease operation in a transaction of its own.
pub(crate) async fn run(conn: &mut Conn, op: &LeaseOp) -> Result<Option<Lease>> {
    conn.begin_write().await?;
    let outcome = step(conn, op).await;
    conn.finish(outcome).await
}

async fn step(conn: &mut Conn, op: &LeaseOp) -> Result<Option<Lease>> {
    let backend = conn.backend();
    let name = match op {
        LeaseOp::Acquire { name, .. } | LeaseOp::Read { name } => name,
        LeaseOp::Renew { lease, .. } | LeaseOp::Release { lease } => &lease.name,
    };
    if backend == Backend::Postgres {
        // A row lock held by a writer that froze fails this operation (it is asked again)
        // rather than hanging it past the time its answer could be used.
        conn.exec("SET LOCAL lock_timeout = '1s'").await?;
    }
    let now = match backend {
        Backend::Sqlite => Timestamp::now().unix_nanos(),
        Backend::Postgres => {
            q("SELECT (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint")
                .fetch_one(&mut *conn)
                .await?
                .at::<i64>(0)?
        }
    };
    if let LeaseOp::Read { .. } = op {
        let row = q("SELECT holder, epoch, expires_at FROM leases WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
        return row
            .map(|r| {
                Ok(Lease {
                    name: name.clone(),
                    holder: r.at(0)?,
                    epoch: epoch_of(r.at(1)?),
                    expires: Timestamp::from_unix_nanos(r.at(2)?),
                })
            })
            .transpose();
    }
    // The row exists from the first attempt on (free: epoch 0, expired long ago), so that the
    // lock below always has a row to take.
    q(
        "INSERT INTO leases (name, holder, epoch, expires_at) VALUES (?, '', 0, 0)
       ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .execute(&mut *conn)
    .await?;
    let sql = match backend {
        Backend::Sqlite => "SELECT holder, epoch, expires_at FROM leases WHERE name = ?",
        Backend::Postgres => {
            "SELECT holder, epoch, expires_at FROM leases WHERE name = ? FOR UPDATE"
        }
    };
    let row = q(sql).bind(name).fetch_one(&mut *conn).await?;
    let holder: String = row.at(0)?;
    let epoch = epoch_of(row.at(1)?);
    let expires_at: i64 = row.at(2)?;
    let (new_holder, new_epoch, ttl) = match op {
        LeaseOp::Acquire {
            holder: me, ttl, ..
        } => {
            if &holder == me && epoch > 0 {
                // Still ours (even if it lapsed, nobody took it): renewed, same epoch.
                (me.clone(), epoch, *ttl)
            } else if expires_at <= now {
                (me.clone(), epoch + 1, *ttl)
            } else {
                return Ok(None);
            }
        }
        LeaseOp::Renew { lease, ttl } => {
            if holder == lease.holder && epoch == lease.epoch {
                (holder, epoch, *ttl)
            } else {
                return Ok(None);
            }
        }
        LeaseOp::Release { lease } => {
            if holder == lease.holder && epoch == lease.epoch {
                (holder, epoch, Duration::ZERO)
            } else {
                return Ok(None);
            }
        }
        LeaseOp::Read { .. } => return Ok(None),
    };
    let expires = now.saturating_add(nanos(ttl));
    q("UPDATE leases SET holder = ?, epoch = ?, expires_at = ? WHERE name = ?")
        .bind(&new_holder)
        .bind(i64::try_from(new_epoch).unwrap_or(i64::MAX))
        .bind(expires)
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(Some(Lease {
        name: name.clone(),
        holder: new_holder,
        epoch: new_epoch,
        expires: Timestamp::from_unix_nanos(expires),
    }))
}

impl Store {
    async fn lease_op(&self, op: LeaseOp) -> Result<Option<Lease>> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Lease { op, reply })
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Takes the lease `name` for `holder` for `ttl` if it is free or expired (its epoch is
    /// then raised by one), or renews it if `holder` already holds it (same epoch). `None`:
    /// another holder has it and it has not expired.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        self.lease_op(LeaseOp::Acquire {
            name: name.to_owned(),
            holder: holder.to_owned(),
            ttl,
        })
        .await
    }

    /// Extends a held lease by `ttl` from now. `None`: it was lost (taken over: another
    /// holder or a newer epoch).
    pub async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>> {
        self.lease_op(LeaseOp::Renew {
            lease: lease.clone(),
            ttl,
        })
        .await
    }

    /// The lease `name` as stored (holder, epoch, expiry), if it was ever taken.
    pub async fn lease(&self, name: &str) -> Result<Option<Lease>> {
        self.lease_op(LeaseOp::Read {
            name: name.to_owned(),
        })
        .await
    }

    /// Fences this store with `lease`: from now on every write transaction (appends,
    /// registrations, rebuilds) commits only if the lease still has this holder and epoch,
    /// and fails with [`Error::Fenced`] otherwise, storing nothing. Events are stamped with
    /// the epoch. Appends queued before this call are committed unfenced.
    pub async fn fence(&self, lease: &Lease) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Fence {
                fence: Fence::of(lease),
                reply,
            })
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }
}

/// Lease operations on a database connection of their own: a renewal never waits behind the
/// event log's backlog (a slow disk, a big group commit), and a standby node asks for the
/// lease without opening the store. Connects (and brings the schema up to date) on first
/// use, and again after an error: on PostgreSQL to the first primary among the hosts, so it
/// follows a database failover.
pub struct LeaseClient {
    database: crate::Database,
    conn: tokio::sync::Mutex<Option<Conn>>,
}

impl LeaseClient {
    /// A client for the leases in `database`; nothing is connected yet.
    pub fn new(database: &crate::Database) -> LeaseClient {
        LeaseClient {
            database: database.clone(),
            conn: tokio::sync::Mutex::new(None),
        }
    }

    async fn connect(&self) -> Result<Conn> {
        let mut conn = match &self.database {
            crate::Database::Sqlite(path) => {
                use sqlx::ConnectOptions;
                let c = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(10))
                    .connect()
                    .await?;
                Conn::Sqlite(c)
            }
            crate::Database::Postgres(target) => Conn::Pg(
                target
                    .connect_primary_within(Duration::from_millis(1_500))
                    .await?
                    .0,
            ),
        };
        // A new database has no schema until a node leads and opens the store: the first
        // lease request creates it (under the migrations' lock). An existing one is left as
        // it is: a standby never changes the schema under a running leader (an upgrade).
        let sql = match conn.backend() {
            Backend::Sqlite => {
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'leases'"
            }
            Backend::Postgres => "SELECT count(*) FROM pg_tables WHERE tablename = 'leases'",
        };
        let have: i64 = q(sql).fetch_one(&mut conn).await?.at(0)?;
        if have == 0 {
            crate::schema::migrate(&mut conn).await?;
        }
        Ok(conn)
    }

    async fn op(&self, op: LeaseOp) -> Result<Option<Lease>> {
        let mut slot = self.conn.lock().await;
        // Taken out while in use: if this future is dropped half-way (the caller's time
        // limit), the connection goes with it rather than being reused mid-transaction.
        let mut conn = match slot.take() {
            Some(c) => c,
            None => self.connect().await?,
        };
        let outcome = run(&mut conn, &op).await;
        if outcome.is_ok() {
            *slot = Some(conn);
        } else {
            // The connection may be gone (a database failover): the next call connects anew.
            conn.close().await;
        }
        outcome
    }

    /// Gives `lease` up if it is still held as it says (it expires now), so that another
    /// node need not wait for it to lapse: `true` if it was.
    pub async fn release(&self, lease: &Lease) -> Result<bool> {
        Ok(self
            .op(LeaseOp::Release {
                lease: lease.clone(),
            })
            .await?
            .is_some())
    }

    /// [`Store::acquire_lease`] on this client's connection.
    pub async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        self.op(LeaseOp::Acquire {
            name: name.to_owned(),
            holder: holder.to_owned(),
            ttl,
        })
        .await
    }

    /// [`Store::renew_lease`] on this client's connection.
    pub async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>> {
        self.op(LeaseOp::Renew {
            lease: lease.clone(),
            ttl,
        })
        .await
    }

    /// [`Store::lease`] on this client's connection.
    pub async fn read(&self, name: &str) -> Result<Option<Lease>> {
        self.op(LeaseOp::Read {
            name: name.to_owned(),
        })
        .await
    }
}
