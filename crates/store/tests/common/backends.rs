//! The databases the store's tests run against: SQLite always, and PostgreSQL when its
//! server binaries are installed (`/usr/lib/postgresql/*/bin/initdb`): a throwaway cluster
//! that the test binary starts itself (see `cluster.rs`). Each test gets a database of its
//! own.

pub use super::cluster::*;
use hotline_store::{Database, PgTarget, Store, StoreOptions};
use sqlx::{ConnectOptions, Connection};

/// One database to run a test against.
pub struct TestDb {
    /// `sqlite` or `postgres`: printed with failures.
    pub name: &'static str,
    pub database: Database,
    /// The SQLite file's directory (removed at drop).
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn open(&self) -> Store {
        self.open_with(StoreOptions::default()).await
    }

    pub async fn open_with(&self, options: StoreOptions) -> Store {
        Store::open_database(&self.database, options)
            .await
            .unwrap_or_else(|e| panic!("{}: open: {e}", self.name))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.database, Database::Postgres(_))
    }

    /// Runs statements in one transaction straight on the database, behind the store's back.
    pub async fn spoil(&self, statements: &[&'static str]) {
        match &self.database {
            Database::Sqlite(path) => {
                let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .busy_timeout(std::time::Duration::from_secs(10))
                    .connect()
                    .await
                    .unwrap();
                let mut tx = conn.begin().await.unwrap();
                for sql in statements {
                    sqlx::query(*sql).execute(&mut *tx).await.unwrap();
                }
                tx.commit().await.unwrap();
                conn.close().await.unwrap();
            }
            Database::Postgres(_) => {
                let url = self.url().expect("postgres");
                let mut conn = sqlx::postgres::PgConnection::connect(&url).await.unwrap();
                let mut tx = conn.begin().await.unwrap();
                for sql in statements {
                    sqlx::query(*sql).execute(&mut *tx).await.unwrap();
                }
                tx.commit().await.unwrap();
                conn.close().await.unwrap();
            }
        }
    }

    /// The PostgreSQL URL of this database.
    pub fn url(&self) -> Option<String> {
        match &self.database {
            Database::Postgres(t) => Some(t.to_string()),
            Database::Sqlite(_) => None,
        }
    }
}

/// SQLite, then PostgreSQL if it can be run here. `test` names the caller in the skip line.
pub async fn backends(test: &str) -> Vec<TestDb> {
    let mut out = vec![sqlite()];
    match postgres().await {
        Some(db) => out.push(db),
        None => eprintln!(
            "{test}: SKIPPED on PostgreSQL: no server binaries (/usr/lib/postgresql/*/bin/initdb); \
             install the Debian package `postgresql` to run it there too"
        ),
    }
    out
}

pub fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    TestDb {
        name: "sqlite",
        database: Database::Sqlite(dir.path().join("log.db")),
        _dir: Some(dir),
    }
}

/// A new, empty PostgreSQL database on this test binary's cluster (`None`: no binaries).
pub async fn postgres() -> Option<TestDb> {
    let cluster = cluster()?;
    let url = create_database(cluster);
    let target = PgTarget::parse(&url).expect("the test cluster's URL");
    Some(TestDb {
        name: "postgres",
        database: Database::Postgres(Box::new(target)),
        _dir: None,
    })
}
