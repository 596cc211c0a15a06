//! Where agents' phones are registered: kept so that a restarted centre rings them at once.
//!
//! Not part of the event log (a phone refreshes its registration every few minutes; logging
//! each refresh would swamp the log) and not a projection: [`Store::save_registrations`]
//! replaces an extension's rows, through the writer (the only write connection), in a
//! transaction of its own. Expired rows are left to [`Store::registrations`], which returns
//! only the bindings still live, and are deleted on the next save.

use hotline_model::Timestamp;
use tokio::sync::oneshot;

use crate::db::{Conn, q};
use crate::writer::Command;
use crate::{Error, Result, Store, get};

/// One registered contact of an extension, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub extension: String,
    /// The Contact URI, as registered.
    pub uri: String,
    /// When the binding expires (wall clock).
    pub expires: Timestamp,
    pub call_id: String,
    pub cseq: u32,
    /// Where the REGISTER came from, `ip:port`.
    pub source: String,
    /// `udp`, `tcp` or `tls`.
    pub transport: String,
    /// The phone's RFC 5626 instance id.
    pub instance: Option<String>,
    /// The RFC 5626 `reg-id`.
    pub reg_id: Option<u32>,
    /// The Path (RFC 3327) the REGISTER carried: the URIs, comma-separated, in order.
    pub path: Option<String>,
}

/// Replaces the rows of each extension given (an empty list removes them), and drops rows
/// expired by `now`, inside the writer's transaction.
pub(crate) async fn save(
    conn: &mut Conn,
    changes: &[(String, Vec<Registration>)],
    now: Timestamp,
) -> Result<()> {
    for (extension, rows) in changes {
        q("DELETE FROM registrations WHERE extension = ?")
            .bind(extension)
            .execute(&mut *conn)
            .await?;
        for (pos, r) in rows.iter().enumerate() {
            q("INSERT INTO registrations
                 (extension, pos, uri, expires_ns, call_id, cseq, source, transport, instance, reg_id, path)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(extension)
            .bind(i64::try_from(pos).unwrap_or(i64::MAX))
            .bind(&r.uri)
            .bind(r.expires.unix_nanos())
            .bind(&r.call_id)
            .bind(i64::from(r.cseq))
            .bind(&r.source)
            .bind(&r.transport)
            .bind(&r.instance)
            .bind(r.reg_id.map(i64::from))
            .bind(&r.path)
            .execute(&mut *conn)
            .await?;
        }
    }
    q("DELETE FROM registrations WHERE expires_ns <= ?")
        .bind(now.unix_nanos())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Store {
    /// Replaces the stored registrations of each extension given (an empty list: the
    /// extension has none) and forgets expired ones. Resolves once committed.
    pub async fn save_registrations(
        &self,
        changes: Vec<(String, Vec<Registration>)>,
    ) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let (reply, rx) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Registrations { changes, reply })
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// The stored registrations that have not expired by `now`, by extension and in the
    /// order they were made.
    pub async fn registrations(&self, now: Timestamp) -> Result<Vec<Registration>> {
        let rows = q("SELECT * FROM registrations WHERE expires_ns > ? ORDER BY extension, pos")
            .bind(now.unix_nanos())
            .fetch_all(self.read_pool())
            .await?;
        rows.iter()
            .map(|row| {
                let cseq: i64 = get(row, "cseq")?;
                let reg_id: Option<i64> = get(row, "reg_id")?;
                Ok(Registration {
                    extension: get(row, "extension")?,
                    uri: get(row, "uri")?,
                    expires: Timestamp::from_unix_nanos(get(row, "expires_ns")?),
                    call_id: get(row, "call_id")?,
                    cseq: u32::try_from(cseq).unwrap_or(0),
                    source: get(row, "source")?,
                    transport: get(row, "transport")?,
                    instance: get(row, "instance")?,
                    reg_id: reg_id.and_then(|r| u32::try_from(r).ok()),
                    path: get(row, "path")?,
                })
            })
            .collect()
    }

    /// The shared secret `name` (made once with the schema: `api_tokens`), or `None` if
    /// the database has none by that name.
    pub async fn secret(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let row = q("SELECT value FROM secrets WHERE name = ?")
            .bind(name)
            .fetch_optional(self.read_pool())
            .await?;
        row.map(|r| get::<Vec<u8>>(&r, "value")).transpose()
    }
}
