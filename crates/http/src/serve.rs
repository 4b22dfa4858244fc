//! Accepting connections and serving a router on them, plain or TLS: the API and the Raft
//! port both go through here, so both get the same limits.
//!
//! Request heads: up to [`MAX_HEADER_BYTES`] (1 MiB, Go's `net/http` default, which
//! orchestrator had) are served; larger ones get 431. hyper reads a head of up to
//! [`READ_LIMIT`] whole before answering, so a client sending a 2 MB head receives its 431
//! after it finished sending, instead of a connection closed under it mid-send (which it
//! sees as a reset, not an answer). Beyond that hyper answers 431 itself, and a client still
//! sending may miss it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::ApiError;

/// The largest request head (request line and headers) arbor serves.
pub const MAX_HEADER_BYTES: usize = 1 << 20;
/// How much of a request head hyper buffers before giving up on it.
const READ_LIMIT: usize = 8 << 20;
/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` completes: over TLS with `tls`, else plain
/// HTTP/1.1. A client that fails its handshake (wrong CA, no client certificate, plain HTTP to
/// a TLS port) only loses its own connection.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) {
    let router = router.layer(axum::middleware::from_fn(limit_head));
    let acceptor = tls.map(TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            match acceptor {
                None => serve_connection(stream, peer, router).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => serve_connection(tls, peer, router).await,
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// Serves one connection; each request carries the peer's address (`ConnectInfo`).
async fn serve_connection<S>(stream: S, peer: SocketAddr, router: Router)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = router.map_request(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        crate::compat::rewrite(&mut request);
        request
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_buf_size(READ_LIMIT)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
        .await;
}

/// 431 for a request head over [`MAX_HEADER_BYTES`].
async fn limit_head(request: Request, next: Next) -> Response {
    let size = request.uri().to_string().len()
        + request
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum::<usize>();
    if size > MAX_HEADER_BYTES {
        return ApiError::HeadersTooLarge(format!(
            "the request's headers are {size} bytes; arbor reads at most {MAX_HEADER_BYTES}"
        ))
        .into_response();
    }
    next.run(request).await
}
