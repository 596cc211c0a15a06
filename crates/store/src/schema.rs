//! Versioned schema migrations, embedded in the binary and applied at open. Each version has
//! a SQLite text (`migrations/`) and a PostgreSQL text (`migrations/postgres/`).

use crate::Error;
use crate::db::{Backend, Conn, q};

/// A schema change: applied once, in order, each in its own transaction.
struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

macro_rules! migration {
    ($version:literal, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../migrations/", $file)),
            postgres: include_str!(concat!("../migrations/postgres/", $file)),
        }
    };
}

/// All migrations, oldest first. Never edit a shipped one; add a new one.
const MIGRATIONS: &[Migration] = &[
    migration!(
        1,
        "event_log_and_projections",
        "0001_event_log_and_projections.sql"
    ),
    migration!(2, "customer_pin", "0002_customer_pin.sql"),
    migration!(3, "registrations", "0003_registrations.sql"),
    migration!(4, "registration_path", "0004_registration_path.sql"),
    migration!(5, "leases", "0005_leases.sql"),
    migration!(6, "secrets", "0006_secrets.sql"),
    migration!(7, "campaign_events", "0007_campaign_events.sql"),
    migration!(8, "customer_emails", "0008_customer_emails.sql"),
    migration!(9, "monitoring", "0009_monitoring.sql"),
    migration!(10, "call_quality", "0010_call_quality.sql"),
    migration!(11, "queue_days", "0011_queue_days.sql"),
    migration!(12, "workforce", "0012_workforce.sql"),
    migration!(13, "report_intervals", "0013_report_intervals.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 13;

/// The PostgreSQL advisory lock that serialises migrations of several nodes starting at once.
const MIGRATION_LOCK: i64 = 0x686f_746c_0001;

/// Applies the migrations the database has not seen; returns how many. Refuses a database
/// from a newer build.
pub(crate) async fn migrate(conn: &mut Conn) -> Result<usize, Error> {
    let backend = conn.backend();
    if backend == Backend::Postgres {
        q("SELECT pg_advisory_lock(?)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let outcome = apply(conn, backend).await;
    if backend == Backend::Postgres {
        q("SELECT pg_advisory_unlock(?)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    outcome
}

async fn apply(conn: &mut Conn, backend: Backend) -> Result<usize, Error> {
    conn.exec(match backend {
        Backend::Sqlite => {
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY,
                name    TEXT    NOT NULL
            )"
        }
        Backend::Postgres => {
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY,
                name    TEXT   NOT NULL
            )"
        }
    })
    .await?;
    let current: i64 = q("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        .fetch_one(&mut *conn)
        .await?
        .at(0)?;
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
        conn.begin_write().await?;
        let sql = match backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        let step = async {
            conn.exec_script(sql).await.map_err(|e| Error::Migration {
                version: m.version,
                why: format!("{}: {e}", m.name),
            })?;
            q("INSERT INTO schema_migrations (version, name) VALUES (?, ?)")
                .bind(m.version)
                .bind(m.name)
                .execute(&mut *conn)
                .await?;
            Ok::<_, Error>(())
        }
        .await;
        conn.finish(step).await?;
        applied += 1;
    }
    Ok(applied)
}
