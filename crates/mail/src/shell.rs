//! The I/O side (feature `io`): IMAP fetch/append and SMTP submission
//! over plain TCP.
//!
//! This is the thin first cut that the end-to-end tests drive against a
//! real Dovecot; it speaks without TLS, so it is for loopback and tests
//! only until TLS (IMAPS/STARTTLS, SMTPS) is added. The polling/IDLE loop
//! that feeds [`crate::Threads`] is still to be written on top of it.

use std::time::Duration;

use futures_util::TryStreamExt;
use lettre::AsyncTransport;
use tokio::net::TcpStream;

/// What went wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// Connecting failed or timed out.
    #[error("connect to {0}: {1}")]
    Connect(String, String),
    /// The IMAP server refused a command or the connection broke.
    #[error("imap: {0}")]
    Imap(String),
    /// SMTP submission failed.
    #[error("smtp: {0}")]
    Smtp(String),
}

/// How to reach and log in to a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Login name.
    pub user: String,
    /// Password.
    pub password: String,
}

/// One fetched message: its UID and raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The message's UID in the selected mailbox.
    pub uid: u32,
    /// The raw message (`BODY[]`).
    pub raw: Vec<u8>,
}

/// A logged-in IMAP session over plain TCP.
pub struct Imap {
    session: async_imap::Session<TcpStream>,
}

const TIMEOUT: Duration = Duration::from_secs(30);

fn imap_err(e: impl std::fmt::Display) -> ShellError {
    ShellError::Imap(e.to_string())
}

impl Imap {
    /// Connects and logs in (plain text: loopback and tests only).
    pub async fn login(account: &Account) -> Result<Imap, ShellError> {
        let target = format!("{}:{}", account.host, account.port);
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(&target))
            .await
            .map_err(|_| ShellError::Connect(target.clone(), "timed out".into()))?
            .map_err(|e| ShellError::Connect(target.clone(), e.to_string()))?;
        let mut client = async_imap::Client::new(stream);
        // The server speaks first: read its greeting before logging in.
        client
            .read_response()
            .await
            .map_err(imap_err)?
            .ok_or_else(|| ShellError::Imap("no greeting".into()))?;
        let session = client
            .login(&account.user, &account.password)
            .await
            .map_err(|(e, _)| imap_err(e))?;
        Ok(Imap { session })
    }

    /// Appends a raw message to a mailbox.
    pub async fn append(&mut self, mailbox: &str, raw: &[u8]) -> Result<(), ShellError> {
        self.session
            .append(mailbox, None, None, raw)
            .await
            .map_err(imap_err)
    }

    /// Selects a mailbox and fetches every message with a UID of at least
    /// `from_uid`, oldest first, without marking them seen.
    pub async fn fetch_from(
        &mut self,
        mailbox: &str,
        from_uid: u32,
    ) -> Result<Vec<Fetched>, ShellError> {
        let selected = self.session.select(mailbox).await.map_err(imap_err)?;
        if selected.exists == 0 {
            return Ok(Vec::new());
        }
        let fetches: Vec<_> = self
            .session
            .uid_fetch(format!("{}:*", from_uid.max(1)), "(UID BODY.PEEK[])")
            .await
            .map_err(imap_err)?
            .try_collect()
            .await
            .map_err(imap_err)?;
        let mut out: Vec<Fetched> = fetches
            .iter()
            .filter_map(|f| {
                Some(Fetched {
                    uid: f.uid?,
                    raw: f.body()?.to_vec(),
                })
            })
            // "N:*" always matches the last message, even below N.
            .filter(|f| f.uid >= from_uid)
            .collect();
        out.sort_by_key(|f| f.uid);
        Ok(out)
    }

    /// Logs out.
    pub async fn logout(mut self) -> Result<(), ShellError> {
        self.session.logout().await.map_err(imap_err)
    }
}

/// Submits a composed message by SMTP with AUTH over plain TCP
/// (loopback and tests only). An empty `envelope_from` is the null
/// sender `<>`.
pub async fn submit(
    account: &Account,
    envelope_from: &str,
    recipients: &[String],
    raw: &[u8],
) -> Result<(), ShellError> {
    let smtp_err = |e: &dyn std::fmt::Display| ShellError::Smtp(e.to_string());
    let from = if envelope_from.is_empty() {
        None
    } else {
        Some(envelope_from.parse().map_err(|e| smtp_err(&e))?)
    };
    let to = recipients
        .iter()
        .map(|r| r.parse().map_err(|e| smtp_err(&e)))
        .collect::<Result<Vec<lettre::Address>, _>>()?;
    let envelope = lettre::address::Envelope::new(from, to).map_err(|e| smtp_err(&e))?;
    let transport =
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(&account.host)
            .port(account.port)
            .timeout(Some(TIMEOUT))
            .credentials(lettre::transport::smtp::authentication::Credentials::new(
                account.user.clone(),
                account.password.clone(),
            ))
            .build();
    transport
        .send_raw(&envelope, raw)
        .await
        .map(|_| ())
        .map_err(|e| smtp_err(&e))
}
