//! Connections from the router to apps: a small per-endpoint pool of idle HTTP/1.1
//! keep-alive connections, hyper's and the fast path's bare streams (LIFO, capped, aged out
//! after the idle timeout), connecting with a timeout and TCP_NODELAY, and sending a request
//! until response headers arrive or the sweeper flags the response-header timeout. A
//! connection has no task of its own: whoever uses it (the request, then its response body,
//! then a tunnel) drives its I/O, which saves two cross-task wake-ups per request (see
//! BENCHMARKS.md). Knows nothing of hosts or logs.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use thiserror::Error;
use tokio::net::TcpStream;

use super::body::UploadBody;
use super::endpoint::{Endpoint, clock_ms};
use super::settings::RouterSettings;
use super::watch::ConnectionWatch;

type Sender = http1::SendRequest<UploadBody>;
type Driver = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

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

/// An HTTP/1.1 connection to an app: the handle requests are sent with, and the state
/// machine doing its reads and writes, polled by the current user.
pub(crate) struct UpstreamConnection {
    sender: Sender,
    /// `None` once the connection has ended (closed, failed, or handed to an upgrade).
    driver: Option<Driver>,
}

impl UpstreamConnection {
    /// Advances the connection's I/O on behalf of the calling task; false once it ended.
    pub(crate) fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(driver) = &mut self.driver else {
            return false;
        };
        match driver.as_mut().poll(cx) {
            Poll::Pending => true,
            Poll::Ready(ended) => {
                if let Err(error) = ended {
                    tracing::debug!(%error, "upstream connection ended with an error");
                }
                self.driver = None;
                false
            }
        }
    }

    /// Whether the connection can take a request right now, without waiting.
    fn is_ready_now(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        self.drive(&mut cx) && self.sender.is_ready()
    }

    /// Drives the connection until it ends, e.g. to complete a protocol upgrade.
    pub(crate) async fn finish(mut self) {
        poll_fn(|cx| {
            if self.drive(cx) {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
    }
}

/// Idle connections to one endpoint: hyper's, and the fast path's bare streams.
#[derive(Default)]
pub(crate) struct ConnectionPool {
    idle: Mutex<Vec<IdleConnection>>,
    raw: Mutex<Vec<IdleStream>>,
}

struct IdleStream {
    stream: TcpStream,
    since_ms: u64,
}

struct IdleConnection {
    connection: UpstreamConnection,
    since_ms: u64,
}

impl ConnectionPool {
    /// The most recently used idle connection younger than `max_age`.
    fn take(&self, max_age: Duration) -> Option<UpstreamConnection> {
        let oldest_ok = clock_ms().saturating_sub(max_age.as_millis() as u64);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(idle_connection) = idle.pop() {
            if idle_connection.since_ms >= oldest_ok {
                return Some(idle_connection.connection);
            }
        }
        None
    }

    pub(crate) fn put(&self, connection: UpstreamConnection, max_idle: usize) {
        if connection.driver.is_none() || connection.sender.is_closed() {
            return;
        }
        let idle_connection = IdleConnection {
            connection,
            since_ms: clock_ms(),
        };
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < max_idle {
            idle.push(idle_connection);
        }
    }

    /// The most recently used idle bare stream younger than `max_age` (fast path).
    pub(crate) fn take_stream(&self, max_age: Duration) -> Option<TcpStream> {
        let oldest_ok = clock_ms().saturating_sub(max_age.as_millis() as u64);
        let mut raw = self.raw.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(idle) = raw.pop() {
            if idle.since_ms >= oldest_ok {
                return Some(idle.stream);
            }
        }
        None
    }

    /// Keeps a bare stream whose last response ended cleanly, up to `max_idle` of them.
    pub(crate) fn put_stream(&self, stream: TcpStream, max_idle: usize) {
        let idle = IdleStream {
            stream,
            since_ms: clock_ms(),
        };
        let mut raw = self.raw.lock().unwrap_or_else(PoisonError::into_inner);
        if raw.len() < max_idle {
            raw.push(idle);
        }
    }

    /// Closes every idle connection (the endpoint was ejected or has drained).
    pub(crate) fn clear(&self) {
        let closed = std::mem::take(&mut *self.idle.lock().unwrap_or_else(PoisonError::into_inner));
        drop(closed);
        let closed = std::mem::take(&mut *self.raw.lock().unwrap_or_else(PoisonError::into_inner));
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
    pub(crate) connection: UpstreamConnection,
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
        while let Some(mut connection) = endpoint.pool.take(settings.idle_timeout) {
            // Polling once reads any close the app sent while the connection sat idle.
            let ready = connection.is_ready_now() || {
                let becomes_ready = poll_fn(|cx| {
                    if !connection.drive(cx) {
                        return Poll::Ready(false);
                    }
                    connection.sender.poll_ready(cx).map(|ready| ready.is_ok())
                });
                matches!(
                    tokio::time::timeout(settings.connect_timeout, becomes_ready).await,
                    Ok(true)
                )
            };
            if ready {
                return Ok(Checkout {
                    connection,
                    reused: true,
                });
            }
        }
    }
    let connection = connect(endpoint, settings.connect_timeout).await?;
    Ok(Checkout {
        connection,
        reused: false,
    })
}

/// A new TCP connection to the endpoint, within `timeout`, with TCP_NODELAY.
pub(crate) async fn connect_stream(
    endpoint: &Endpoint,
    timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(endpoint.addr())).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return Err(ConnectError::Refused(error)),
        Err(_) => return Err(ConnectError::TimedOut(timeout)),
    };
    // Small responses must not wait for Nagle's delayed ACK dance.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY on an upstream connection");
    }
    Ok(stream)
}

async fn connect(
    endpoint: &Endpoint,
    timeout: Duration,
) -> Result<UpstreamConnection, ConnectError> {
    let stream = connect_stream(endpoint, timeout).await?;
    let (sender, driver) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(ConnectError::Handshake)?;
    Ok(UpstreamConnection {
        sender,
        driver: Some(Box::pin(driver.with_upgrades())),
    })
}

/// How sending a request went.
pub(crate) enum SendOutcome {
    Response(Response<Incoming>),
    /// The connection was closed before the request was written; the request comes back
    /// untouched and may go anywhere else.
    NotSent(Request<UploadBody>),
    /// The connection failed after the request (or part of it) was written.
    Failed(hyper::Error),
    /// No response headers in time.
    TimedOut,
}

/// Sends `request` and waits for response headers until the sweeper flags the
/// response-header timeout (counted from the last request-body byte).
pub(crate) async fn send(
    connection: &mut UpstreamConnection,
    request: Request<UploadBody>,
    watch: &ConnectionWatch,
) -> SendOutcome {
    watch.awaiting_response();
    let response = connection.sender.try_send_request(request);
    tokio::pin!(response);
    let result = poll_fn(|cx| {
        if watch.response_timed_out() {
            return Poll::Ready(None);
        }
        connection.drive(cx);
        response.as_mut().poll(cx).map(Some)
    })
    .await;
    watch.response_arrived();
    match result {
        None => SendOutcome::TimedOut,
        Some(Ok(response)) => SendOutcome::Response(response),
        Some(Err(mut error)) => match error.take_message() {
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
            endpoint.pool.put(checkout.connection, 2);
        }
        assert_eq!(endpoint.pool.idle_count(), 2);
        let connections = accept.await.unwrap();
        drop(connections);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut stale = endpoint.pool.take(Duration::from_secs(60)).unwrap();
        assert!(
            !stale.is_ready_now(),
            "a connection the app closed is noticed"
        );
        let fresh = endpoint.pool.take(Duration::from_secs(60)).unwrap();
        assert!(fresh.driver.is_some());
        assert!(endpoint.pool.take(Duration::from_secs(60)).is_none());
    }
}
