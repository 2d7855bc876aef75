//! The HTTPS listener: accepts TCP connections, runs each TLS handshake in its own task
//! (bounded by a timeout), closes ACME validation handshakes once done, and hands every
//! other stream to `serve` (the router's `Listener::serve_stream`) marked `is_tls`, so
//! HTTPS gets exactly the routing, control-plane split, limits and shutdown of plain HTTP.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::resolver::ACME_TLS_ALPN;
use crate::router::ConnectionInfo;

/// Serves HTTP on a stream after its handshake (the router's `Listener::serve_stream`).
pub type Serve = Arc<dyn Fn(TlsStream<TcpStream>, ConnectionInfo) + Send + Sync>;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts TLS connections on `listener` until `shutdown`, then waits for handshakes in
/// progress (at most the handshake timeout). Served connections belong to whoever
/// `serve` hands them to, and draining them is theirs.
pub async fn accept_loop(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    serve: Serve,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let local_port = listener.local_addr()?.port();
    let acceptor = TlsAcceptor::from(config);
    let handshakes = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accepting a TLS connection failed; retrying shortly");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                }
            }
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY on a TLS connection");
        }
        let acceptor = acceptor.clone();
        let serve = Arc::clone(&serve);
        let shutdown = shutdown.clone();
        handshakes.spawn(async move {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
            let tls = tokio::select! {
                () = shutdown.cancelled() => return,
                done = handshake => match done {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
            };
            if tls.get_ref().1.alpn_protocol() == Some(ACME_TLS_ALPN) {
                // A CA checked the TLS-ALPN-01 certificate; there is nothing to serve.
                let mut tls = tls;
                let _ = tls.shutdown().await;
                return;
            }
            let info = ConnectionInfo {
                peer,
                local_port,
                is_tls: true,
            };
            serve(tls, info);
        });
    }
    handshakes.close();
    handshakes.wait().await;
    Ok(())
}
