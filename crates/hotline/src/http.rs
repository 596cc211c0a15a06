//! The HTTP server loop: axum's router behind hyper with the limits a public listener needs.
//!
//! - a cap on open connections (more are closed at once, before any work);
//! - a header-read timeout (a request's header section must arrive in time);
//! - a body-read timeout (a request's body must arrive in time: 408 otherwise);
//! - an idle timeout (a connection on which nothing moves is closed, keep-alive included).
//!
//! The client's address reaches the handlers as axum's `ConnectInfo<SocketAddr>`.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;
use tracing::{debug, warn};

/// The limits, from the `[http]` table.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    pub fn from_config(h: &hotline_config::Http) -> Self {
        Limits {
            header_timeout: Duration::from_secs(h.header_timeout_seconds.max(1)),
            body_timeout: Duration::from_secs(h.body_timeout_seconds.max(1)),
            idle_timeout: Duration::from_secs(h.idle_timeout_seconds.max(1)),
            max_connections: h.max_connections.max(1),
        }
    }
}

/// Largest request body read (axum's own default limit for the extractors).
const MAX_BODY: usize = 2 << 20;

/// Adds the body-read timeout to `app`.
pub fn with_body_timeout(app: Router, limit: Duration) -> Router {
    app.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| read_body_in_time(req, next, limit),
    ))
}

/// Reads the whole body within `limit` before the handler runs: a client that sends its
/// headers and then trickles (or never sends) the body is answered 408 and disconnected.
async fn read_body_in_time(req: Request, next: Next, limit: Duration) -> Response {
    let (parts, body) = req.into_parts();
    let has_body = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || parts.headers.contains_key(header::TRANSFER_ENCODING);
    if !has_body {
        return next.run(Request::from_parts(parts, body)).await;
    }
    match tokio::time::timeout(limit, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(_)) => hotline_api::ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {MAX_BODY} bytes or broken off"),
        )
        .into_response(),
        Err(_) => {
            let mut resp = hotline_api::ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    limit.as_secs()
                ),
            )
            .into_response();
            resp.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            resp
        }
    }
}

/// Serves the application `app` holds (each request is served by the one it holds when the
/// request comes: a standby swaps in the centre's when it takes over) on `listener` until
/// the task is dropped.
pub async fn serve(listener: TcpListener, app: watch::Receiver<Router>, limits: Limits) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "HTTP accept failed");
                // Out of descriptors and the like: give the system a moment.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            debug!(%remote, "HTTP connection limit reached; closing");
            drop(stream);
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            serve_connection(stream, remote, app, limits).await;
            drop(slot);
        });
    }
}

async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: watch::Receiver<Router>,
    limits: Limits,
) {
    let _ = stream.set_nodelay(true);
    let started = Instant::now();
    let activity = Arc::new(AtomicU64::new(0));
    let io = TokioIo::new(Watched {
        inner: stream,
        started,
        activity: activity.clone(),
    });
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(remote));
            let app = app.borrow().clone();
            app.oneshot(req.map(Body::new))
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    let mut tick = tokio::time::interval(Duration::from_secs(1).min(limits.idle_timeout));
    let mut closing: Option<Instant> = None;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    debug!(%remote, error = %e, "HTTP connection ended");
                }
                return;
            }
            _ = tick.tick() => {
                let last = Duration::from_millis(activity.load(Ordering::Relaxed));
                let idle = started.elapsed().saturating_sub(last);
                match closing {
                    None if idle >= limits.idle_timeout => {
                        debug!(%remote, "HTTP connection idle; closing");
                        conn.as_mut().graceful_shutdown();
                        closing = Some(Instant::now());
                    }
                    // A request still in flight gets a little longer, then the connection goes.
                    Some(t) if t.elapsed() >= limits.header_timeout => return,
                    _ => {}
                }
            }
        }
    }
}

/// A TCP stream that notes when bytes last moved either way.
struct Watched {
    inner: TcpStream,
    started: Instant,
    activity: Arc<AtomicU64>,
}

impl Watched {
    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.activity.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
