//! The I/O side (feature `io`): IMAP fetch/append and SMTP submission,
//! over TLS (implicit or STARTTLS, with rustls) or, for loopback and
//! tests, plain TCP.
//!
//! Certificates are checked against the system's trusted CAs plus those
//! of [`Account::ca_file`], and the server's name against
//! [`Account::host`]; there is no way to turn the check off. A
//! connection asked to be secure never falls back to plain text.
//!
//! A mailbox is worked as: [`Imap::unseen`], store what came, then
//! [`Imap::mark_seen`], then [`Imap::wait`] (IMAP IDLE) until something
//! new arrives, and again. The loop that runs this for the centre and
//! feeds [`crate::Threads`] is still to be written on top of it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::TryStreamExt;
use lettre::AsyncTransport;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// What went wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// Connecting failed or timed out.
    #[error("connect to {0}: {1}")]
    Connect(String, String),
    /// TLS could not be set up with the server (first field) or the CA
    /// file (an unreadable [`Account::ca_file`]): most often a
    /// certificate that no trusted CA signed, or that is not valid for
    /// the host name.
    #[error("tls: {0}: {1}")]
    Tls(String, String),
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
    /// Host name or address; the server's certificate must be valid for
    /// it.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Login name.
    pub user: String,
    /// Password.
    pub password: String,
    /// How the connection is secured.
    pub security: Security,
    /// A PEM file of CA certificates to trust besides the system's (a
    /// centre's own CA, a test's self-signed certificate). Read at each
    /// connection, so a replaced file takes effect without a restart.
    pub ca_file: Option<std::path::PathBuf>,
}

/// How a connection to a mail server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Security {
    /// Implicit TLS (IMAPS 993, SMTPS 465)
    #[default]
    Tls,
    /// STARTTLS on a plain connection (IMAP 143, submission 587)
    StartTls,
    /// No encryption: loopback and tests only
    Plain,
}

/// One fetched message: its UID and raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The message's UID in the selected mailbox.
    pub uid: u32,
    /// The raw message (`BODY[]`); empty when it is `oversize`.
    pub raw: Vec<u8>,
    /// Set (to the size the server gave) when the message is larger than
    /// [`Imap::set_max_bytes`] allows: its body was not fetched.
    pub oversize: Option<u32>,
}

/// What an IMAP session runs over: TCP, or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}

type Session = async_imap::Session<Box<dyn Io>>;

/// A logged-in IMAP session.
pub struct Imap {
    /// None once IDLE failed half-way: the connection is then gone.
    session: Option<Session>,
    /// The server advertises IDLE (RFC 2177).
    idle: bool,
    /// The last [`Imap::unseen`] left messages for the next call.
    more: bool,
    /// Larger messages are not fetched by [`Imap::unseen`].
    max_bytes: usize,
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// The most messages one [`Imap::unseen`] returns: a mailbox that has
/// piled up thousands is worked off in bounded steps (memory, and time
/// between two marks), oldest first.
pub const UNSEEN_BATCH: usize = 100;

/// The most bytes of bodies one [`Imap::unseen`] holds at once (at least
/// one message is always fetched).
pub const UNSEEN_BYTES: usize = 64 * 1024 * 1024;

/// The longest one [`Imap::wait`] lasts: RFC 2177 has a client end IDLE
/// and issue it again at least every 29 minutes, or a server may log it
/// out as inactive.
pub const WAIT_MAX: Duration = Duration::from_secs(29 * 60);

fn imap_err(e: impl std::fmt::Display) -> ShellError {
    ShellError::Imap(e.to_string())
}

/// What every call on an [`Imap`] says once [`Imap::wait`] lost it.
fn broken() -> ShellError {
    ShellError::Imap("the connection broke during IDLE: log in again".into())
}

/// The system's trusted CAs, read once: Debian's
/// `/etc/ssl/certs/ca-certificates.crt` (or what `SSL_CERT_FILE` names).
///
/// rustls-native-certs rather than webpki-roots: the system's store is
/// the one the operator keeps (security updates of `ca-certificates`
/// withdraw a distrusted CA without a rebuild of hotline, and
/// `update-ca-certificates` adds a company CA for every program at
/// once), where webpki-roots freezes Mozilla's list into the binary at
/// build time. Certificates that rustls cannot use as a trust anchor are
/// left out.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut store = rustls::RootCertStore::empty();
        rustls_native_certs::load_native_certs()
            .certs
            .into_iter()
            .filter(|c| store.add(c.clone()).is_ok())
            .collect()
    })
}

/// The CAs to trust for `account`: the system's and those of its
/// `ca_file`, as DER for both rustls (IMAP) and lettre (SMTP).
fn trusted(account: &Account) -> Result<Vec<CertificateDer<'static>>, ShellError> {
    let mut roots = system_roots().to_vec();
    if let Some(path) = &account.ca_file {
        roots.extend(read_ca_file(path)?);
    }
    if roots.is_empty() {
        return Err(ShellError::Tls(
            account.host.clone(),
            "no trusted CA certificates: the system has none (install ca-certificates) \
             and no ca_file is given"
                .into(),
        ));
    }
    Ok(roots)
}

fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, ShellError> {
    let bad = |why: String| ShellError::Tls(path.display().to_string(), why);
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let mut store = rustls::RootCertStore::empty();
    for cert in &certs {
        store.add(cert.clone()).map_err(|e| bad(e.to_string()))?;
    }
    if certs.is_empty() {
        return Err(bad("no certificate in the file".into()));
    }
    Ok(certs)
}

/// The rustls error behind `e`, if a TLS failure caused it.
fn tls_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // An io::Error's source() skips the error it wraps.
        let wrapped = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        if let Some(tls) = wrapped.and_then(|w| w.downcast_ref::<rustls::Error>()) {
            return Some(tls);
        }
        next = e.source();
    }
    None
}

/// A TLS failure with `target`, said so that whoever set up the account
/// knows what to change.
fn tls_error(target: &str, e: &rustls::Error) -> ShellError {
    use rustls::{CertificateError, Error};
    let hint = match e {
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            " (no trusted CA signed the server's certificate; a private CA goes in ca_file)"
        }
        // (NotValidForNameContext says so itself, with the names.)
        Error::InvalidCertificate(CertificateError::NotValidForName) => {
            " (the certificate is not valid for this host name)"
        }
        _ => "",
    };
    ShellError::Tls(target.to_owned(), format!("{e}{hint}"))
}

async fn connect(target: &str) -> Result<TcpStream, ShellError> {
    tokio::time::timeout(TIMEOUT, TcpStream::connect(target))
        .await
        .map_err(|_| ShellError::Connect(target.to_owned(), "timed out".into()))?
        .map_err(|e| ShellError::Connect(target.to_owned(), e.to_string()))
}

/// The TLS handshake on `tcp`, checking the certificate against the
/// account's CAs and host name.
async fn handshake(
    account: &Account,
    target: &str,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ShellError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(trusted(account)?);
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| tls_error(target, &e))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from(account.host.clone())
        .map_err(|e| ShellError::Tls(target.to_owned(), e.to_string()))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    tokio::time::timeout(TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| ShellError::Tls(target.to_owned(), "handshake timed out".into()))?
        .map_err(|e| match tls_cause(&e) {
            Some(tls) => tls_error(target, tls),
            None => ShellError::Tls(target.to_owned(), e.to_string()),
        })
}

/// Reads the server's greeting (it speaks first).
async fn greeting<T: Io>(client: &mut async_imap::Client<T>) -> Result<(), ShellError> {
    client
        .read_response()
        .await
        .map_err(imap_err)?
        .ok_or_else(|| ShellError::Imap("no greeting".into()))?;
    Ok(())
}

impl Imap {
    /// Connects, secures the connection as the account says, and logs
    /// in.
    pub async fn login(account: &Account) -> Result<Imap, ShellError> {
        let target = format!("{}:{}", account.host, account.port);
        let tcp = connect(&target).await?;
        let client = match account.security {
            Security::Plain => {
                let mut client = async_imap::Client::new(Box::new(tcp) as Box<dyn Io>);
                greeting(&mut client).await?;
                client
            }
            Security::Tls => {
                let tls = handshake(account, &target, tcp).await?;
                let mut client = async_imap::Client::new(Box::new(tls) as Box<dyn Io>);
                greeting(&mut client).await?;
                client
            }
            Security::StartTls => {
                let mut plain = async_imap::Client::new(tcp);
                greeting(&mut plain).await?;
                plain
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(|e| ShellError::Imap(format!("STARTTLS refused: {e}")))?;
                // No greeting again after STARTTLS: straight to LOGIN.
                let tls = handshake(account, &target, plain.into_inner()).await?;
                async_imap::Client::new(Box::new(tls) as Box<dyn Io>)
            }
        };
        let (mut session, capabilities) = client
            .login_with_capabilities(&account.user, &account.password)
            .await
            .map_err(|(e, _)| imap_err(e))?;
        // Servers usually list their capabilities in LOGIN's reply.
        let capabilities = match capabilities {
            Some(c) => c,
            None => session.capabilities().await.map_err(imap_err)?,
        };
        Ok(Imap {
            idle: capabilities.has_str("IDLE"),
            session: Some(session),
            more: false,
            max_bytes: crate::parse::Limits::default().max_bytes,
        })
    }

    /// The largest message [`Imap::unseen`] fetches; larger ones come
    /// back `oversize`, without their body (the server said their size).
    pub fn set_max_bytes(&mut self, max: usize) {
        self.max_bytes = max;
    }

    fn session(&mut self) -> Result<&mut Session, ShellError> {
        self.session.as_mut().ok_or_else(broken)
    }

    /// Selects a mailbox, forgetting what the server reported before:
    /// what the caller reads next covers it.
    async fn select(&mut self, mailbox: &str) -> Result<u32, ShellError> {
        let session = self.session()?;
        while session.unsolicited_responses.try_recv().is_ok() {}
        let selected = session.select(mailbox).await.map_err(imap_err)?;
        Ok(selected.exists)
    }

    /// Appends a raw message to a mailbox.
    pub async fn append(&mut self, mailbox: &str, raw: &[u8]) -> Result<(), ShellError> {
        self.session()?
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
        if self.select(mailbox).await? == 0 {
            return Ok(Vec::new());
        }
        let mut out = self.fetch(&format!("{}:*", from_uid.max(1))).await?;
        // "N:*" always matches the last message, even below N.
        out.retain(|f| f.uid >= from_uid);
        Ok(out)
    }

    /// Selects a mailbox and fetches its unseen messages, oldest first,
    /// at most [`UNSEEN_BATCH`] of them (the rest come at the next call),
    /// without marking them seen: [`Imap::mark_seen`] does that once
    /// they are safely stored, so a crash in between fetches them again
    /// rather than losing them.
    pub async fn unseen(&mut self, mailbox: &str) -> Result<Vec<Fetched>, ShellError> {
        self.select(mailbox).await?;
        let mut uids: Vec<u32> = self
            .session()?
            .uid_search("UNSEEN")
            .await
            .map_err(imap_err)?
            .into_iter()
            .collect();
        uids.sort_unstable();
        self.more = uids.len() > UNSEEN_BATCH;
        uids.truncate(UNSEEN_BATCH);
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        // Sizes first: a message over the limit is never downloaded, and one batch holds
        // at most UNSEEN_BYTES of bodies.
        let sizes: HashMap<u32, u32> = self
            .session()?
            .uid_fetch(uid_set(&uids), "(UID RFC822.SIZE)")
            .await
            .map_err(imap_err)?
            .try_collect::<Vec<_>>()
            .await
            .map_err(imap_err)?
            .iter()
            .filter_map(|f| Some((f.uid?, f.size?)))
            .collect();
        let mut out = Vec::new();
        let mut wanted = Vec::new();
        let mut bytes = 0usize;
        for &uid in &uids {
            // A message expunged meanwhile has no size: asked for, and not found.
            let size = sizes.get(&uid).copied().unwrap_or(0);
            if size as usize > self.max_bytes {
                out.push(Fetched {
                    uid,
                    raw: Vec::new(),
                    oversize: Some(size),
                });
                continue;
            }
            if !wanted.is_empty() && bytes + size as usize > UNSEEN_BYTES {
                self.more = true;
                break;
            }
            bytes += size as usize;
            wanted.push(uid);
        }
        if !wanted.is_empty() {
            let mut bodies = self.fetch(&uid_set(&wanted)).await?;
            // Only what was asked: a server may add FETCH responses of its own.
            bodies.retain(|f| wanted.binary_search(&f.uid).is_ok());
            out.append(&mut bodies);
        }
        // The oversize ones past the cut wait for the next call, with the rest.
        if self.more
            && let Some(&last) = wanted.last()
        {
            out.retain(|f| f.uid <= last);
        }
        out.sort_by_key(|f| f.uid);
        Ok(out)
    }

    /// Marks messages seen (`UID STORE ... +FLAGS.SILENT (\Seen)`) in
    /// the mailbox that [`Imap::unseen`] or [`Imap::fetch_from`]
    /// selected last. UIDs no longer there (expunged meanwhile) are
    /// passed over by the server.
    pub async fn mark_seen(&mut self, uids: &[u32]) -> Result<(), ShellError> {
        let mut uids = uids.to_vec();
        uids.sort_unstable();
        uids.dedup();
        if uids.is_empty() {
            return Ok(());
        }
        let _: Vec<_> = self
            .session()?
            .uid_store(uid_set(&uids), "+FLAGS.SILENT (\\Seen)")
            .await
            .map_err(imap_err)?
            .try_collect()
            .await
            .map_err(imap_err)?;
        Ok(())
    }

    /// `UID FETCH set (UID BODY.PEEK[])` in the selected mailbox, oldest
    /// first; PEEK leaves the messages unseen.
    async fn fetch(&mut self, set: &str) -> Result<Vec<Fetched>, ShellError> {
        let fetches: Vec<_> = self
            .session()?
            .uid_fetch(set, "(UID BODY.PEEK[])")
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
                    oversize: None,
                })
            })
            .collect();
        out.sort_by_key(|f| f.uid);
        Ok(out)
    }

    /// Waits, at most `max` (capped at [`WAIT_MAX`]), until a message
    /// arrives in the selected mailbox: true when one did (or may have:
    /// call [`Imap::unseen`]), false when the time ran out with nothing
    /// new.
    ///
    /// Uses IMAP IDLE (RFC 2177) when the server has it, and ends it
    /// (`DONE`) before returning, so the session goes on as before. True
    /// at once when the last [`Imap::unseen`] left messages for the next
    /// call, or when a new message was already reported in the reply to
    /// an earlier command (IDLE would not report it again). A server
    /// without IDLE cannot tell: this sleeps `max` and says true, so the
    /// caller polls every `max`.
    ///
    /// An error here (most likely the connection broke) leaves this
    /// `Imap` closed: every later call fails, and the caller logs in
    /// again.
    pub async fn wait(&mut self, max: Duration) -> Result<bool, ShellError> {
        let max = max.min(WAIT_MAX);
        if self.more {
            return Ok(true);
        }
        let session = self.session()?;
        let mut reported = false;
        while let Ok(response) = session.unsolicited_responses.try_recv() {
            reported |= matches!(response, async_imap::types::UnsolicitedResponse::Exists(_));
        }
        if reported {
            return Ok(true);
        }
        if !self.idle {
            tokio::time::sleep(max).await;
            return Ok(true);
        }
        let session = self.session.take().ok_or_else(broken)?;
        let mut handle = session.idle();
        handle.init().await.map_err(imap_err)?;
        let arrived = idle_until(&mut handle, max).await?;
        self.session = Some(handle.done().await.map_err(imap_err)?);
        Ok(arrived)
    }

    /// Logs out.
    pub async fn logout(mut self) -> Result<(), ShellError> {
        self.session()?.logout().await.map_err(imap_err)
    }
}

/// Reads what the server sends during IDLE until it reports a new
/// message (EXISTS: true) or `max` has passed (false). Flag changes and
/// expunges are not new mail and do not end the wait.
async fn idle_until(
    handle: &mut async_imap::extensions::idle::Handle<Box<dyn Io>>,
    max: Duration,
) -> Result<bool, ShellError> {
    use async_imap::extensions::idle::IdleResponse;
    use async_imap::imap_proto::{MailboxDatum, Response};
    // The handle's own timeout starts again at every line the server
    // sends ("* OK Still here" too): the deadline bounds the whole wait.
    let deadline = tokio::time::Instant::now() + max;
    loop {
        let (response, _stop) = handle.wait_with_timeout(max);
        match tokio::time::timeout_at(deadline, response).await {
            Err(_) | Ok(Ok(IdleResponse::Timeout)) => return Ok(false),
            Ok(Ok(IdleResponse::NewData(data))) => {
                if matches!(
                    data.parsed(),
                    Response::MailboxData(MailboxDatum::Exists(_))
                ) {
                    return Ok(true);
                }
            }
            // Nobody interrupts it here: the connection ended.
            Ok(Ok(IdleResponse::ManualInterrupt)) => {
                return Err(ShellError::Imap("the connection closed during IDLE".into()));
            }
            Ok(Err(e)) => return Err(imap_err(e)),
        }
    }
}

/// An IMAP sequence set of sorted, distinct UIDs, runs as ranges:
/// `1:3,7,9:10`.
fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        while i + 1 < uids.len() && uids[i + 1] == uids[i] + 1 {
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if uids[i] == start {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{}", uids[i]));
        }
        i += 1;
    }
    out
}

/// lettre's TLS settings for `account`: the same CAs as IMAP's, and the
/// certificate checked against the host name.
fn smtp_tls(account: &Account) -> Result<lettre::transport::smtp::client::Tls, ShellError> {
    use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
    if account.security == Security::Plain {
        return Ok(Tls::None);
    }
    let bad = |e: &dyn std::fmt::Display| ShellError::Tls(account.host.clone(), e.to_string());
    let mut params = TlsParameters::builder(account.host.clone())
        // Only the CAs given here: the system's come from `trusted`.
        .certificate_store(CertificateStore::None);
    for der in trusted(account)? {
        params =
            params.add_root_certificate(Certificate::from_der(der.to_vec()).map_err(|e| bad(&e))?);
    }
    let params = params.build_rustls().map_err(|e| bad(&e))?;
    Ok(match account.security {
        Security::StartTls => Tls::Required(params),
        _ => Tls::Wrapper(params),
    })
}

/// Submits a composed message by SMTP with AUTH, secured as the account
/// says (STARTTLS is required, never opportunistic). An empty
/// `envelope_from` is the null sender `<>`.
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
            .tls(smtp_tls(account)?)
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
        .map_err(|e| match tls_cause(&e) {
            Some(tls) => tls_error(&format!("{}:{}", account.host, account.port), tls),
            None => smtp_err(&e),
        })
}

#[cfg(test)]
mod tests {
    use super::uid_set;

    #[test]
    fn uid_sets_run_as_ranges() {
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[4, 6, 8]), "4,6,8");
        assert_eq!(uid_set(&[u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
    }
}
