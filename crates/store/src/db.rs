//! The two database engines behind one small query layer.
//!
//! The store speaks to SQLite (embedded, the default) or PostgreSQL (shared by the nodes of
//! a pair). Rather than `sqlx::Any`, which maps every value through a lowest common
//! denominator, each connection, pool and row is an enum over the two engines' own sqlx
//! types: values keep their native types (`i64` is `INTEGER`/`BIGINT`, `f64` is
//! `REAL`/`DOUBLE PRECISION`), and each query is written once with `?` placeholders, which
//! are rewritten to `$1, $2, …` for PostgreSQL. Where the dialects differ (locking clauses,
//! JSON functions, `quote`), the caller picks the text by [`Backend`].

use std::borrow::Cow;

use sqlx::postgres::{PgConnection, PgPool, PgRow};
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{AssertSqlSafe, Connection, Decode, Postgres, Row as _, Sqlite, Type};

/// Which engine a connection talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// One connection (the writer's).
pub(crate) enum Conn {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

/// The read pool.
#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// A bound value. `None` is SQL NULL.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    I64(Option<i64>),
    F64(Option<f64>),
    Text(Option<String>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::I64(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Arg {
        Arg::I64(v)
    }
}
impl From<f64> for Arg {
    fn from(v: f64) -> Arg {
        Arg::F64(Some(v))
    }
}
impl From<Option<f64>> for Arg {
    fn from(v: Option<f64>) -> Arg {
        Arg::F64(v)
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(Some(v))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Arg {
        Arg::Text(Some(v.clone()))
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(Some(v.to_owned()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Arg {
        Arg::Text(v)
    }
}
impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Arg {
        Arg::Text(v.clone())
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Arg {
        Arg::Text(v.map(str::to_owned))
    }
}

/// PostgreSQL's text type cannot hold NUL; SQLite's can. The event itself is kept intact in
/// the log (JSON escapes NUL); a projection column gets U+FFFD in its place rather than
/// failing the append.
fn pg_text(s: String) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s
    }
}

/// `?` and `?N` placeholders (outside quoted text) as PostgreSQL's `$N`.
pub(crate) fn pg_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0u32;
    let mut quoted: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quoted {
            Some(q) => {
                if c == q {
                    quoted = None;
                }
                out.push(c);
            }
            None if c == '\'' || c == '"' => {
                quoted = Some(c);
                out.push(c);
            }
            None if c == '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                out.push('$');
                if digits.is_empty() {
                    n += 1;
                    out.push_str(&n.to_string());
                } else {
                    out.push_str(&digits);
                }
            }
            None => out.push(c),
        }
    }
    out
}

/// A query: text with `?` placeholders and its values.
pub(crate) struct Q {
    sql: Cow<'static, str>,
    args: Vec<Arg>,
}

/// A query with a fixed text.
pub(crate) fn q(sql: &'static str) -> Q {
    Q {
        sql: Cow::Borrowed(sql),
        args: Vec::new(),
    }
}

/// A query whose text was built at run time (from constants only: never from input).
pub(crate) fn q_owned(sql: String) -> Q {
    Q {
        sql: Cow::Owned(sql),
        args: Vec::new(),
    }
}

/// Where a query runs: the writer's connection or the read pool.
pub(crate) enum On<'a> {
    Conn(&'a mut Conn),
    Pool(&'a Pool),
}

impl<'a> From<&'a mut Conn> for On<'a> {
    fn from(c: &'a mut Conn) -> On<'a> {
        On::Conn(c)
    }
}
impl<'a> From<&'a Pool> for On<'a> {
    fn from(p: &'a Pool) -> On<'a> {
        On::Pool(p)
    }
}

macro_rules! bound {
    ($q:expr, $args:expr, $text:expr) => {{
        let mut query = $q;
        for a in $args {
            query = match a {
                Arg::I64(v) => query.bind(v),
                Arg::F64(v) => query.bind(v),
                Arg::Text(v) => query.bind(v.map($text)),
            };
        }
        query
    }};
}

impl Q {
    pub(crate) fn bind(mut self, v: impl Into<Arg>) -> Q {
        self.args.push(v.into());
        self
    }

    /// Runs it; the number of rows changed.
    pub(crate) async fn execute<'a>(self, on: impl Into<On<'a>>) -> Result<u64, sqlx::Error> {
        let Q { sql, args } = self;
        match on.into() {
            On::Conn(Conn::Sqlite(c)) => {
                let query = bound!(sqlx::query::<Sqlite>(AssertSqlSafe(sql)), args, |s| s);
                query.execute(&mut *c).await.map(|r| r.rows_affected())
            }
            On::Pool(Pool::Sqlite(p)) => {
                let query = bound!(sqlx::query::<Sqlite>(AssertSqlSafe(sql)), args, |s| s);
                query.execute(p).await.map(|r| r.rows_affected())
            }
            On::Conn(Conn::Pg(c)) => {
                let query = bound!(
                    sqlx::query::<Postgres>(AssertSqlSafe(pg_sql(&sql))),
                    args,
                    pg_text
                );
                query.execute(&mut *c).await.map(|r| r.rows_affected())
            }
            On::Pool(Pool::Pg(p)) => {
                let query = bound!(
                    sqlx::query::<Postgres>(AssertSqlSafe(pg_sql(&sql))),
                    args,
                    pg_text
                );
                query.execute(p).await.map(|r| r.rows_affected())
            }
        }
    }

    pub(crate) async fn fetch_all<'a>(
        self,
        on: impl Into<On<'a>>,
    ) -> Result<Vec<Row>, sqlx::Error> {
        let Q { sql, args } = self;
        match on.into() {
            On::Conn(Conn::Sqlite(c)) => {
                let query = bound!(sqlx::query::<Sqlite>(AssertSqlSafe(sql)), args, |s| s);
                let rows = query.fetch_all(&mut *c).await?;
                Ok(rows.into_iter().map(Row::Sqlite).collect())
            }
            On::Pool(Pool::Sqlite(p)) => crate::raw::fetch(p, &sql, &args, None).await,
            On::Conn(Conn::Pg(c)) => {
                let query = bound!(
                    sqlx::query::<Postgres>(AssertSqlSafe(pg_sql(&sql))),
                    args,
                    pg_text
                );
                let rows = query.fetch_all(&mut *c).await?;
                Ok(rows.into_iter().map(Row::Pg).collect())
            }
            On::Pool(Pool::Pg(p)) => {
                let query = bound!(
                    sqlx::query::<Postgres>(AssertSqlSafe(pg_sql(&sql))),
                    args,
                    pg_text
                );
                let rows = query.fetch_all(p).await?;
                Ok(rows.into_iter().map(Row::Pg).collect())
            }
        }
    }

    pub(crate) async fn fetch_optional<'a>(
        self,
        on: impl Into<On<'a>>,
    ) -> Result<Option<Row>, sqlx::Error> {
        let Q { sql, args } = self;
        match on.into() {
            On::Conn(Conn::Sqlite(c)) => {
                let query = bound!(sqlx::query::<Sqlite>(AssertSqlSafe(sql)), args, |s| s);
                Ok(query.fetch_optional(&mut *c).await?.map(Row::Sqlite))
            }
            On::Pool(Pool::Sqlite(p)) => {
                Ok(crate::raw::fetch(p, &sql, &args, Some(1)).await?.pop())
            }
            On::Conn(Conn::Pg(c)) => {
                let query = bound!(
                    sqlx::query::<Postgres>(AssertSqlSafe(pg_sql(&sql))),
                    args,
                    pg_text
                );
                Ok(query.fetch_optional(&mut *c).await?.map(Row::Pg))
            }
            On::Pool(Pool::Pg(p)) => {
                let query = bound!(
                    sqlx::query::<Postgres>(AssertSqlSafe(pg_sql(&sql))),
                    args,
                    pg_text
                );
                Ok(query.fetch_optional(p).await?.map(Row::Pg))
            }
        }
    }

    pub(crate) async fn fetch_one<'a>(self, on: impl Into<On<'a>>) -> Result<Row, sqlx::Error> {
        self.fetch_optional(on)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }
}

/// A value both engines can decode (SQLite's rows through sqlx or read straight off the
/// handle, [`crate::raw`]).
pub(crate) trait Col:
    for<'r> Decode<'r, Sqlite>
    + Type<Sqlite>
    + for<'r> Decode<'r, Postgres>
    + Type<Postgres>
    + rusqlite::types::FromSql
{
}
impl<T> Col for T where
    T: for<'r> Decode<'r, Sqlite>
        + Type<Sqlite>
        + for<'r> Decode<'r, Postgres>
        + Type<Postgres>
        + rusqlite::types::FromSql
{
}

/// A result row.
pub(crate) enum Row {
    Sqlite(SqliteRow),
    Pg(PgRow),
    /// From the SQLite read pool, copied out in one go ([`crate::raw`]).
    Raw(crate::raw::RawRow),
}

impl Row {
    /// The column named `col`.
    pub(crate) fn get<T: Col>(&self, col: &str) -> Result<T, sqlx::Error> {
        match self {
            Row::Sqlite(r) => r.try_get(col),
            Row::Pg(r) => r.try_get(col),
            Row::Raw(r) => r.get(col),
        }
    }

    /// The column at `i` (from 0).
    pub(crate) fn at<T: Col>(&self, i: usize) -> Result<T, sqlx::Error> {
        match self {
            Row::Sqlite(r) => r.try_get(i),
            Row::Pg(r) => r.try_get(i),
            Row::Raw(r) => r.at(i),
        }
    }
}

impl Conn {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Pg(_) => Backend::Postgres,
        }
    }

    /// A statement without values (transaction control).
    pub(crate) async fn exec(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        q(sql).execute(&mut *self).await.map(|_| ())
    }

    /// Several statements in one text (a migration), without values.
    pub(crate) async fn exec_script(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        match self {
            Conn::Sqlite(c) => sqlx::raw_sql(sql).execute(&mut *c).await.map(|_| ()),
            Conn::Pg(c) => sqlx::raw_sql(sql).execute(&mut *c).await.map(|_| ()),
        }
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so that it can never fail later for a lock another connection holds.
    pub(crate) async fn begin_write(&mut self) -> Result<(), sqlx::Error> {
        match self.backend() {
            Backend::Sqlite => self.exec("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.exec("BEGIN").await,
        }
    }

    pub(crate) async fn commit(&mut self) -> Result<(), sqlx::Error> {
        self.exec("COMMIT").await
    }

    /// Rolls back the open transaction; an error here leaves nothing more to undo (the
    /// connection is gone or the transaction already ended).
    pub(crate) async fn rollback(&mut self) {
        let _ = self.exec("ROLLBACK").await;
    }

    /// Commits if `outcome` is Ok, rolls back otherwise.
    pub(crate) async fn finish<T, E: From<sqlx::Error>>(
        &mut self,
        outcome: Result<T, E>,
    ) -> Result<T, E> {
        match outcome {
            Ok(v) => {
                if let Err(e) = self.commit().await {
                    self.rollback().await;
                    return Err(e.into());
                }
                Ok(v)
            }
            Err(e) => {
                self.rollback().await;
                Err(e)
            }
        }
    }

    pub(crate) async fn close(self) {
        let _ = match self {
            Conn::Sqlite(c) => c.close().await,
            Conn::Pg(c) => c.close().await,
        };
    }
}

impl Pool {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Pg(_) => Backend::Postgres,
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Pg(p) => p.close().await,
        }
    }
}

/// Whether `e` means the connection to PostgreSQL is gone or no longer writable (the server
/// went down, restarted, or was demoted to a standby): the writer then looks for the primary
/// again instead of failing the appends.
pub(crate) fn lost_connection(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| {
            // 08: connection exception; 57P0x: the server is shutting down or starting;
            // 25006: read-only transaction (a standby); 40001 is not here: that is a
            // conflict, not a lost server.
            c.starts_with("08") || c.starts_with("57P") || c == "25006"
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::pg_sql;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            pg_sql("SELECT '?', \"a?\" FROM t WHERE a = ? AND b = ?"),
            "SELECT '?', \"a?\" FROM t WHERE a = $1 AND b = $2"
        );
        assert_eq!(pg_sql("VALUES (?1, ?2, ?2, ?3)"), "VALUES ($1, $2, $2, $3)");
    }
}
