//! Versioned schema migrations, embedded in the binary and applied at open.

use sqlx::{Connection, SqliteConnection};

use crate::Error;

/// A schema change: applied once, in order, each in its own transaction.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// All migrations, oldest first. Never edit a shipped one; add a new one.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "event_log_and_projections",
        sql: include_str!("../migrations/0001_event_log_and_projections.sql"),
    },
    Migration {
        version: 2,
        name: "customer_pin",
        sql: include_str!("../migrations/0002_customer_pin.sql"),
    },
    Migration {
        version: 3,
        name: "registrations",
        sql: include_str!("../migrations/0003_registrations.sql"),
    },
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 3;

/// Applies the migrations the database has not seen; returns how many. Refuses a database
/// from a newer build.
pub(crate) async fn migrate(conn: &mut SqliteConnection) -> Result<usize, Error> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            name    TEXT    NOT NULL
        )",
    )
    .execute(&mut *conn)
    .await?;
    let current: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            .fetch_one(&mut *conn)
            .await?;
    if current > SCHEMA_VERSION {
        return Err(Error::Migration {
            version: current,
            why: format!(
                "the database is at schema {current}, this build knows up to {SCHEMA_VERSION}"
            ),
        });
    }
    let mut applied = 0;
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(m.sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::Migration {
                version: m.version,
                why: format!("{}: {e}", m.name),
            })?;
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES (?, ?)")
            .bind(m.version)
            .bind(m.name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        applied += 1;
    }
    Ok(applied)
}
