//! SIP over TLS (RFC 3261 §26, RFC 5630): a listener beside UDP and TCP.
//!
//! TLS is only the outer layer: once the handshake is done, each connection is served by the
//! same framing and ingress guard as plain TCP (size limits, per-source connection limits,
//! slow-sender and idle timeouts, the guard's rate limits and validation), and handed to the
//! stack as a channel connection of transport `TLS`. rsipstack's own rustls listener would
//! parse its frames itself, behind none of those limits.
//!
//! The certificate chain and key come from PEM files. They are read again when either file
//! changes (checked every two seconds) and on SIGHUP; a reload that fails (unreadable file, a
//! key that does not match the certificate) keeps the certificate in use and says why in the
//! log. Trunks may require a client certificate signed by a CA of their own (mutual TLS): a
//! connection presenting one is identified as that trunk; a certificate that no configured
//! CA signed fails the handshake.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// How often the certificate files are checked for changes.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a certificate chain and its private key, and checks that they belong together.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate in the file", cert.display()));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let signing = provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| format!("{}: {e}", key.display()))?;
    let ck = CertifiedKey::new(chain, signing);
    ck.keys_match()
        .map_err(|e| format!("{} does not match {}: {e}", key.display(), cert.display()))?;
    Ok(ck)
}

/// Reads the CA certificates of a PEM file into a root store.
fn load_roots(path: &Path) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    let certs =
        CertificateDer::pem_file_iter(path).map_err(|e| format!("{}: {e}", path.display()))?;
    for c in certs {
        let c = c.map_err(|e| format!("{}: {e}", path.display()))?;
        roots
            .add(c)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no CA certificate in the file", path.display()));
    }
    Ok(roots)
}

/// The server certificate in use, replaced on reload.
#[derive(Debug)]
pub struct CertStore {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// Modification times and sizes of the files last loaded (or last failed).
    seen: Mutex<Option<FileStamp>>,
}

type FileStamp = [(Option<SystemTime>, u64); 2];

fn stamp(cert: &Path, key: &Path) -> FileStamp {
    let one = |p: &Path| match std::fs::metadata(p) {
        Ok(m) => (m.modified().ok(), m.len()),
        Err(_) => (None, 0),
    };
    [one(cert), one(key)]
}

impl CertStore {
    pub fn open(cert: &Path, key: &Path) -> Result<CertStore, String> {
        let seen = stamp(cert, key);
        let ck = load_certified_key(cert, key)?;
        Ok(CertStore {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(Arc::new(ck)),
            seen: Mutex::new(Some(seen)),
        })
    }

    /// Loads the files again. On failure the certificate in use stays.
    pub fn reload(&self) -> Result<(), String> {
        *self.seen.lock() = Some(stamp(&self.cert, &self.key));
        let ck = load_certified_key(&self.cert, &self.key)?;
        *self.current.write() = Arc::new(ck);
        Ok(())
    }

    /// Reloads when either file changed since the last attempt; `None` when nothing changed.
    pub fn reload_if_changed(&self) -> Option<Result<(), String>> {
        let now = stamp(&self.cert, &self.key);
        if self.seen.lock().as_ref() == Some(&now) {
            return None;
        }
        Some(self.reload())
    }

    /// The end-entity certificate in use (DER).
    pub fn current_certificate(&self) -> Vec<u8> {
        self.current
            .read()
            .end_entity_cert()
            .map(|c| c.to_vec())
            .unwrap_or_default()
    }

    fn log_reload(&self, result: Result<(), String>, why: &str, metrics: &crate::SipMetrics) {
        let outcome = match result {
            Ok(()) => {
                info!(cert = %self.cert.display(), why, "TLS certificate reloaded");
                "ok"
            }
            Err(e) => {
                warn!(
                    error = %e, why,
                    "TLS certificate reload failed; the previous certificate stays in use"
                );
                "failed"
            }
        };
        metrics
            .tls_reloads
            .get_or_create(&crate::metrics::OutcomeLabel { outcome })
            .inc();
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().clone())
    }
}

/// Trunks that authenticate with a client certificate: each with a verifier over its own CA.
struct TrunkCas {
    trunks: Vec<(String, Arc<dyn ClientCertVerifier>)>,
}

impl TrunkCas {
    /// The trunk whose CA signed this chain, if any.
    fn identify(&self, chain: &[CertificateDer<'static>]) -> Option<String> {
        let (end, rest) = chain.split_first()?;
        let now = UnixTime::now();
        self.trunks
            .iter()
            .find(|(_, v)| v.verify_client_cert(end, rest, now).is_ok())
            .map(|(n, _)| n.clone())
    }
}

/// What is known about the TLS connections in progress: the trunk each one's client
/// certificate identifies (remote address → trunk).
#[derive(Default)]
pub struct TlsPeers {
    peers: Mutex<HashMap<SocketAddr, Option<String>>>,
    /// Trunks that must present a client certificate.
    pub(crate) mtls_trunks: Vec<String>,
}

impl TlsPeers {
    /// `Some(trunk or None)` for a TLS connection from `remote`; `None` when there is none.
    pub fn trunk_of(&self, remote: SocketAddr) -> Option<Option<String>> {
        self.peers.lock().get(&remote).cloned()
    }

    pub fn requires_certificate(&self, trunk: &str) -> bool {
        self.mtls_trunks.iter().any(|t| t == trunk)
    }
}

/// A TLS listener, ready to serve.
pub struct TlsListener {
    pub listener: TcpListener,
    pub acceptor: TlsAcceptor,
    pub certs: Arc<CertStore>,
    trunk_cas: Arc<TrunkCas>,
    pub peers: Arc<TlsPeers>,
}

impl TlsListener {
    /// Binds `sip.tls_listen` with `sip.tls_cert`/`sip.tls_key`; `Ok(None)` without
    /// `tls_listen`.
    pub async fn bind(cfg: &hotline_config::Config) -> io::Result<Option<TlsListener>> {
        let Some(listen) = cfg.sip.tls_listen else {
            return Ok(None);
        };
        let (Some(cert), Some(key)) = (&cfg.sip.tls_cert, &cfg.sip.tls_key) else {
            return Err(io::Error::other(
                "sip.tls_listen needs sip.tls_cert and sip.tls_key",
            ));
        };
        let certs =
            Arc::new(CertStore::open(Path::new(cert), Path::new(key)).map_err(io::Error::other)?);
        let provider = provider();
        let mut all_roots = rustls::RootCertStore::empty();
        let mut trunks = Vec::new();
        for t in &cfg.trunks {
            let Some(ca) = &t.tls_client_ca else { continue };
            let roots = load_roots(Path::new(ca.get_ref())).map_err(io::Error::other)?;
            for r in roots.roots.iter() {
                all_roots.roots.push(r.clone());
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(io::Error::other)?;
            trunks.push((t.name.clone(), v));
        }
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?;
        let server = if trunks.is_empty() {
            builder.with_no_client_auth()
        } else {
            // Agents' phones present no certificate; one that is presented must verify.
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(all_roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(io::Error::other)?;
            builder.with_client_cert_verifier(v)
        }
        .with_cert_resolver(certs.clone());
        let listener = TcpListener::bind(listen).await?;
        let peers = Arc::new(TlsPeers {
            peers: Mutex::default(),
            mtls_trunks: trunks.iter().map(|(n, _)| n.clone()).collect(),
        });
        Ok(Some(TlsListener {
            listener,
            acceptor: TlsAcceptor::from(Arc::new(server)),
            certs,
            trunk_cas: Arc::new(TrunkCas { trunks }),
            peers,
        }))
    }
}

/// Reloads the certificate when its files change or on SIGHUP, until cancelled.
pub(crate) async fn watch_certificates(
    certs: Arc<CertStore>,
    metrics: crate::SipMetrics,
    cancel: CancellationToken,
) {
    #[cfg(unix)]
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(error = %e, "no SIGHUP handler; TLS certificates reload on file changes only");
            None
        }
    };
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        #[cfg(unix)]
        let hup_recv = async {
            match hup.as_mut() {
                Some(h) => h.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hup_recv = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {
                let c = certs.clone();
                if let Ok(Some(r)) = tokio::task::spawn_blocking(move || c.reload_if_changed()).await {
                    certs.log_reload(r, "files changed", &metrics);
                }
            }
            _ = hup_recv => {
                let c = certs.clone();
                if let Ok(r) = tokio::task::spawn_blocking(move || c.reload()).await {
                    certs.log_reload(r, "SIGHUP", &metrics);
                }
            }
        }
    }
}

/// Accepts TLS connections: the connection limits shared with TCP (per source and in all),
/// the handshake within the message timeout, then the same framing and guard as TCP.
pub(crate) async fn accept_tls(
    tls: TlsListener,
    serve: crate::server::StreamServer,
    cancel: CancellationToken,
) {
    let TlsListener {
        listener,
        acceptor,
        certs,
        trunk_cas,
        peers,
    } = tls;
    tokio::spawn(watch_certificates(
        certs,
        serve.metrics.clone(),
        cancel.child_token(),
    ));
    loop {
        let (stream, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    warn!(error = %e, "TLS accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => return,
        };
        // One account with TCP: per source and in all, taken before the handshake so that
        // handshakes in progress are bounded too.
        let Some(slot) = serve.slots.acquire(remote.ip()) else {
            serve.metrics.rejection("tcp_connection_limit");
            continue; // dropping the stream closes it
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let trunk_cas = trunk_cas.clone();
        let peers = peers.clone();
        let serve = serve.clone();
        let cancel = cancel.child_token();
        tokio::spawn(async move {
            let shake = tokio::time::timeout(serve.limits.message_timeout, acceptor.accept(stream));
            match shake.await {
                Ok(Ok(tls)) => {
                    let trunk = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| trunk_cas.identify(chain));
                    debug!(%remote, trunk = ?trunk, "TLS connection");
                    peers.peers.lock().insert(remote, trunk);
                    serve.metrics.tcp_connections.inc();
                    serve
                        .serve(
                            tls,
                            remote,
                            rsipstack::sip::transport::Transport::Tls,
                            cancel,
                        )
                        .await;
                    serve.metrics.tcp_connections.dec();
                    peers.peers.lock().remove(&remote);
                }
                Ok(Err(e)) => {
                    info!(%remote, error = %e, "TLS handshake refused");
                    serve.metrics.rejection("tls_handshake");
                }
                Err(_) => {
                    debug!(%remote, "TLS handshake timed out");
                    serve.metrics.rejection("tls_handshake");
                }
            }
            drop(slot);
        });
    }
}
