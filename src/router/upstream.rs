//! Connections from the router to apps: a small per-endpoint pool of idle HTTP/1.1
//! keep-alive connections (LIFO, capped, aged out after the idle timeout), connecting with
//! a timeout and TCP_NODELAY, and sending a request while waiting for response headers
//! under the response-header timeout. Knows nothing of hosts, pages or logs.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use thiserror::Error;
use tokio::net::TcpStream;

use super::body::{UploadBody, UploadProgress};
use super::endpoint::{Endpoint, clock_ms};
use super::settings::RouterSettings;

pub(crate) type Sender = http1::SendRequest<UploadBody>;

/// Why no connection to an endpoint could be had.
#[derive(Debug, Error)]
pub(crate) enum ConnectError {
    #[error("connection to the app failed: {0}")]
    Refused(#[source] std::io::Error),
    #[error("no connection to the app within {0:?}")]
    TimedOut(Duration),
    #[error("http handshake with the app failed: {0}")]
    Handshake(#[source] hyper::Error),
}

/// Idle connections to one endpoint.
#[derive(Default)]
pub(crate) struct ConnectionPool {
    idle: Mutex<Vec<IdleConnection>>,
}

struct IdleConnection {
    sender: Sender,
    since_ms: u64,
}

impl ConnectionPool {
    /// The most recently used idle connection that is still open and younger than `max_age`.
    fn take(&self, max_age: Duration) -> Option<Sender> {
        let oldest_ok = clock_ms().saturating_sub(max_age.as_millis() as u64);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(connection) = idle.pop() {
            if !connection.sender.is_closed() && connection.since_ms >= oldest_ok {
                return Some(connection.sender);
            }
        }
        None
    }

    pub(crate) fn put(&self, sender: Sender, max_idle: usize) {
        if sender.is_closed() {
            return;
        }
        let connection = IdleConnection {
            sender,
            since_ms: clock_ms(),
        };
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < max_idle {
            idle.push(connection);
        }
    }

    /// Closes every idle connection (the endpoint was ejected or has drained).
    pub(crate) fn clear(&self) {
        let closed = std::mem::take(&mut *self.idle.lock().unwrap_or_else(PoisonError::into_inner));
        drop(closed);
    }

    #[cfg(test)]
    pub(crate) fn idle_count(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// A connection ready for one request.
pub(crate) struct Checkout {
    pub(crate) sender: Sender,
    /// It came from the pool, so the app may have closed it meanwhile.
    pub(crate) reused: bool,
}

/// An idle pooled connection if `allow_pooled`, else (or if none) a new one.
pub(crate) async fn checkout(
    endpoint: &Endpoint,
    settings: &RouterSettings,
    allow_pooled: bool,
) -> Result<Checkout, ConnectError> {
    if allow_pooled {
        while let Some(mut sender) = endpoint.pool.take(settings.idle_timeout) {
            // A connection goes back to the pool as its response ends; hyper may need a
            // moment to mark it ready again.
            let ready = sender.is_ready()
                || matches!(
                    tokio::time::timeout(settings.connect_timeout, sender.ready()).await,
                    Ok(Ok(()))
                );
            if ready {
                return Ok(Checkout {
                    sender,
                    reused: true,
                });
            }
        }
    }
    let sender = connect(endpoint, settings.connect_timeout).await?;
    Ok(Checkout {
        sender,
        reused: false,
    })
}

async fn connect(endpoint: &Endpoint, timeout: Duration) -> Result<Sender, ConnectError> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(endpoint.addr())).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return Err(ConnectError::Refused(error)),
        Err(_) => return Err(ConnectError::TimedOut(timeout)),
    };
    // Small responses must not wait for Nagle's delayed ACK dance.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY on an upstream connection");
    }
    let (sender, connection) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(ConnectError::Handshake)?;
    // The connection task ends when the app closes it or its sender is dropped (pool
    // cleared, request cancelled), so it needs no shutdown token of its own.
    let addr = endpoint.addr();
    tokio::spawn(async move {
        if let Err(error) = connection.with_upgrades().await {
            tracing::debug!(%error, %addr, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

/// How sending a request went.
pub(crate) enum SendOutcome {
    Response(Response<Incoming>),
    /// The connection was closed before the request was written; the request comes back
    /// untouched and may go anywhere else.
    NotSent(Request<UploadBody>),
    /// The connection failed after the request (or part of it) was written.
    Failed(hyper::Error),
    /// No response headers in time (counted from the last request-body byte).
    TimedOut,
}

pub(crate) async fn send(
    sender: &mut Sender,
    request: Request<UploadBody>,
    progress: Option<&UploadProgress>,
    timeout: Duration,
) -> SendOutcome {
    let _ = (progress, timeout);
    match sender.try_send_request(request).await {
        Ok(response) => SendOutcome::Response(response),
        Err(mut error) => match error.take_message() {
            Some(request) => SendOutcome::NotSent(request),
            None => SendOutcome::Failed(error.into_error()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn connecting_to_a_closed_port_is_refused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let endpoint = Endpoint::new(addr, "web.1");
        let settings = RouterSettings::default();
        let error = checkout(&endpoint, &settings, true).await.err().unwrap();
        assert!(matches!(error, ConnectError::Refused(_)), "{error}");
    }

    #[tokio::test]
    async fn the_pool_keeps_at_most_its_cap_and_drops_closed_connections() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint: Arc<Endpoint> = Endpoint::new(listener.local_addr().unwrap(), "web.1");
        let accept = tokio::spawn(async move {
            let mut kept = Vec::new();
            for _ in 0..3 {
                kept.push(listener.accept().await.unwrap());
            }
            kept
        });
        let settings = RouterSettings::default();
        for _ in 0..3 {
            let checkout = checkout(&endpoint, &settings, false).await.unwrap();
            endpoint.pool.put(checkout.sender, 2);
        }
        assert_eq!(endpoint.pool.idle_count(), 2);
        let connections = accept.await.unwrap();
        drop(connections);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(endpoint.pool.take(Duration::from_secs(60)).is_none());
    }
}
