//! PostgreSQL connection strings with several hosts, and finding the primary among them.
//!
//! sqlx connects to one host. A pair of PostgreSQL servers (a primary and a streaming
//! standby that may be promoted) is written as libpq does:
//! `postgres://user:pass@host1:5432,host2:5433/hotline`. hotline splits the host list
//! itself, tries the hosts in order, and keeps the first that accepts writes
//! (`pg_is_in_recovery()` is false). The writer does the same again whenever its connection
//! is lost or the server turns read-only.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// How long one host may take to accept a connection before the next is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the server lets a transaction of ours sit idle before it ends it (see
/// [`Target::options`]); every transaction of the store is a few statements sent at once.
const IDLE_IN_TRANSACTION: &str = "5s";

/// A PostgreSQL database reachable at one or more hosts.
#[derive(Clone)]
pub struct Target {
    /// `(host, port)` in the order given.
    hosts: Vec<(String, u16)>,
    /// Everything but the host (user, password, database, parameters).
    base: PgConnectOptions,
    /// The URL without its password, for messages.
    shown: String,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Target {
    /// Parses `postgres://[user[:password]@]host[:port][,host[:port]…]/database[?params]`
    /// (also `postgresql://`). The port defaults to 5432; IPv6 hosts are bracketed.
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or("a PostgreSQL URL starts with postgres://")?;
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (userinfo, hostlist) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        if hostlist.is_empty() {
            return Err("the URL names no host".into());
        }
        let mut hosts = Vec::new();
        for h in hostlist.split(',') {
            hosts.push(parse_host(h)?);
        }
        if !tail.starts_with('/') || tail.len() < 2 || tail.starts_with("/?") {
            return Err("the URL names no database (…/hotline)".into());
        }
        // One host in the URL for sqlx to parse the rest; the host is replaced per attempt.
        let (first_host, first_port) = &hosts[0];
        let single = match userinfo {
            Some(u) => format!("postgres://{u}@{}:{first_port}{tail}", bracket(first_host)),
            None => format!("postgres://{}:{first_port}{tail}", bracket(first_host)),
        };
        let base = PgConnectOptions::from_str(&single).map_err(|e| {
            // sqlx's message may quote the URL: never show the password.
            let _ = e;
            "not a valid PostgreSQL URL (user, database or parameters)".to_string()
        })?;
        let user = userinfo.map(|u| u.split(':').next().unwrap_or_default());
        let shown = format!(
            "postgres://{}{}{tail}",
            user.map(|u| format!("{u}@")).unwrap_or_default(),
            hosts
                .iter()
                .map(|(h, p)| format!("{}:{p}", bracket(h)))
                .collect::<Vec<_>>()
                .join(","),
        );
        let shown = match shown.find('?') {
            Some(q) => shown[..q].to_string(),
            None => shown,
        };
        Ok(Target { hosts, base, shown })
    }

    /// The same target with this password (e.g. from an environment variable), which
    /// replaces one given in the URL.
    pub fn with_password(mut self, password: &str) -> Target {
        self.base = self.base.password(password);
        self
    }

    /// The hosts, in the order they are tried.
    pub fn hosts(&self) -> &[(String, u16)] {
        &self.hosts
    }

    /// The options to connect to one host.
    pub(crate) fn options(&self, host: &str, port: u16) -> PgConnectOptions {
        // A transaction left open by a client that froze or was cut off (its row and
        // advisory locks would hold back the lease's takeover and every other writer until
        // the server noticed the dead connection, which TCP can take hours to say) is ended
        // by the server after this long.
        self.base
            .clone()
            .host(host)
            .port(port)
            .options([("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION)])
    }

    /// Connects to each host in order and returns the first that is a primary (accepts
    /// writes), with the options that reach it.
    pub(crate) async fn connect_primary(
        &self,
    ) -> Result<(PgConnection, PgConnectOptions), crate::Error> {
        self.connect_primary_within(CONNECT_TIMEOUT).await
    }

    /// [`Target::connect_primary`], giving each host `limit` to answer.
    pub(crate) async fn connect_primary_within(
        &self,
        limit: Duration,
    ) -> Result<(PgConnection, PgConnectOptions), crate::Error> {
        let mut why = Vec::new();
        for (host, port) in &self.hosts {
            let options = self.options(host, port.to_owned());
            let attempt = async {
                let mut conn = options.connect().await?;
                let standby: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
                    .fetch_one(&mut conn)
                    .await?;
                Ok::<_, sqlx::Error>((conn, standby))
            };
            match tokio::time::timeout(limit, attempt).await {
                Ok(Ok((conn, false))) => return Ok((conn, options)),
                Ok(Ok((conn, true))) => {
                    let _ = sqlx::Connection::close(conn).await;
                    why.push(format!("{}:{port}: a standby", bracket(host)));
                }
                Ok(Err(e)) => why.push(format!("{}:{port}: {e}", bracket(host))),
                Err(_) => why.push(format!(
                    "{}:{port}: no answer in {} ms",
                    bracket(host),
                    limit.as_millis()
                )),
            }
        }
        Err(crate::Error::NoPrimary(format!(
            "{}: {}",
            self.shown,
            why.join("; ")
        )))
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

fn parse_host(h: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = h.strip_prefix('[') {
        let end = v6.find(']').ok_or_else(|| format!("{h:?}: unclosed ["))?;
        let host = &v6[..end];
        let after = &v6[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("{h:?}: unexpected text after the address")),
        };
        (host, port)
    } else {
        match h.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (h, None),
        }
    };
    if host.is_empty() {
        return Err(format!("an empty host in the host list ({h:?})"));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{h:?}: the port must be a number from 1 to 65535"))?,
        None => 5432,
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn several_hosts_with_ports_and_defaults() {
        let t = Target::parse(
            "postgres://hl:s3cret@db1:5432,db2:5433,[::1],db4/hotline?sslmode=disable",
        )
        .unwrap();
        assert_eq!(
            t.hosts(),
            &[
                ("db1".to_string(), 5432),
                ("db2".to_string(), 5433),
                ("::1".to_string(), 5432),
                ("db4".to_string(), 5432)
            ]
        );
        let shown = t.to_string();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(
            shown,
            "postgres://hl@db1:5432,db2:5433,[::1]:5432,db4:5432/hotline"
        );
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (url, wanted) in [
            ("mysql://x/y", "postgres://"),
            ("postgres://u@/db", "no host"),
            ("postgres://db1:5432", "no database"),
            ("postgres://db1:99999/hotline", "port"),
            ("postgres://db1,,db2/hotline", "empty host"),
        ] {
            let e = Target::parse(url).unwrap_err();
            assert!(e.contains(wanted), "{url}: {e}");
        }
    }
}
