//! Reads from the SQLite read pool, run in one go on the connection's own handle.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands each result row to the
//! caller over a channel: for a page of 500 interaction records that is hundreds of
//! cross-thread wake-ups, most of the page's cost. Here the caller locks the connection
//! (sqlx's worker then makes no call on it), runs the statement through `rusqlite` on the
//! same `sqlite3` handle, copies every row out, and unlocks: two or three wake-ups a query,
//! whatever its size. The rows come back as [`Row::Raw`](crate::db::Row) and are read through
//! the same `get`/`at` as sqlx's rows, so the queries and their decoding are unchanged.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::types::{FromSql, ToSql, ToSqlOutput, Value, ValueRef};
use sqlx::sqlite::SqlitePool;

use crate::db::{Arg, Row};

/// One result row, copied out of SQLite.
pub(crate) struct RawRow {
    /// Column name to position, shared by the rows of one query.
    names: Arc<HashMap<String, usize>>,
    values: Vec<Value>,
}

impl RawRow {
    pub(crate) fn get<T: FromSql>(&self, col: &str) -> Result<T, sqlx::Error> {
        let i = *self
            .names
            .get(col)
            .ok_or_else(|| sqlx::Error::ColumnNotFound(col.to_owned()))?;
        self.decode(i, col)
    }

    pub(crate) fn at<T: FromSql>(&self, i: usize) -> Result<T, sqlx::Error> {
        self.decode(i, &i.to_string())
    }

    fn decode<T: FromSql>(&self, i: usize, col: &str) -> Result<T, sqlx::Error> {
        let v = self
            .values
            .get(i)
            .ok_or(sqlx::Error::ColumnIndexOutOfBounds {
                index: i,
                len: self.values.len(),
            })?;
        T::column_result(ValueRef::from(v)).map_err(|e| sqlx::Error::ColumnDecode {
            index: col.to_owned(),
            source: Box::new(e),
        })
    }
}

impl ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Arg::I64(v) => v.to_sql(),
            Arg::F64(v) => v.to_sql(),
            Arg::Text(v) => v.to_sql(),
        }
    }
}

fn driver(e: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::AnyDriverError(Box::new(e))
}

/// An owned copy of a column's value. Text that is not UTF-8 is kept as bytes, so that
/// reading it as text fails as a decoding error (as with sqlx) rather than here.
fn owned(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Text(b) => match std::str::from_utf8(b) {
            Ok(s) => Value::Text(s.to_owned()),
            Err(_) => Value::Blob(b.to_vec()),
        },
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// The rows `sql` gives for `args` on a connection of `pool` (at most `limit`).
pub(crate) async fn fetch(
    pool: &SqlitePool,
    sql: &str,
    args: &[Arg],
    limit: Option<usize>,
) -> Result<Vec<Row>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut locked = conn.lock_handle().await?;
    let handle = locked.as_raw_handle();
    let rows = off_the_runtime(|| {
        // SAFETY: while `locked` lives, sqlx's worker thread makes no call on this handle or
        // its statements (the guarantee of `LockedSqliteHandle`), and `locked` outlives this
        // closure. A connection made `from_handle` does not own the handle (dropping it
        // does not close it), and it and its statement are dropped at the end of this
        // closure, so nothing of it is left to touch the handle afterwards.
        let c = unsafe { rusqlite::Connection::from_handle(handle.as_ptr()) }.map_err(driver)?;
        let mut st = c.prepare(sql).map_err(driver)?;
        let n = st.column_count();
        let names: Arc<HashMap<String, usize>> = Arc::new(
            st.column_names()
                .into_iter()
                .enumerate()
                .map(|(i, name)| (name.to_owned(), i))
                .collect(),
        );
        let mut rows = st
            .query(rusqlite::params_from_iter(args.iter()))
            .map_err(driver)?;
        let mut out = Vec::new();
        while limit.is_none_or(|l| out.len() < l) {
            let Some(r) = rows.next().map_err(driver)? else {
                break;
            };
            let mut values = Vec::with_capacity(n);
            for i in 0..n {
                values.push(owned(r.get_ref(i).map_err(driver)?));
            }
            out.push(Row::Raw(RawRow {
                names: Arc::clone(&names),
                values,
            }));
        }
        Ok(out)
    });
    drop(locked);
    rows
}

/// Runs `f`, which blocks for as long as a query takes, without holding up the runtime's
/// other tasks: on a multi-threaded runtime they move to another worker meanwhile.
fn off_the_runtime<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}
