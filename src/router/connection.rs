//! Per-connection facts the proxy needs (peer, port, TLS, trust, the listener's task
//! tracker and hard-stop token), and `ActivityIo`, which counts reads and writes so idle
//! connections and tunnels can be closed. No HTTP here.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::header::HeaderValue;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::settings::RouterSettings;

/// What the listener knows about an accepted connection.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionInfo {
    /// The TCP peer (a client, or a trusted proxy in front of paas).
    pub peer: SocketAddr,
    /// The port the connection arrived on, passed on as `X-Forwarded-Port`.
    pub local_port: u16,
    /// Whether TLS was terminated in front of this stream; sets `X-Forwarded-Proto`.
    pub is_tls: bool,
}

/// `ConnectionInfo` plus what is worth computing once per connection instead of per request.
pub(crate) struct ConnectionContext {
    pub(crate) info: ConnectionInfo,
    pub(crate) peer_trusted: bool,
    pub(crate) forwarded_for: HeaderValue,
    pub(crate) forwarded_port: HeaderValue,
    /// Bumped on every read and write of the client connection.
    pub(crate) activity: Arc<AtomicU64>,
    /// Tunnels spawned for upgraded requests are tracked by the listener...
    pub(crate) tasks: TaskTracker,
    /// ...and end when the drain grace period is over.
    pub(crate) hard_stop: CancellationToken,
}

impl ConnectionContext {
    pub(crate) fn new(
        info: ConnectionInfo,
        settings: &RouterSettings,
        tasks: TaskTracker,
        hard_stop: CancellationToken,
    ) -> Self {
        let ip = info.peer.ip().to_canonical();
        Self {
            info,
            peer_trusted: settings.is_trusted_proxy(ip),
            forwarded_for: header_value(&ip.to_string()),
            forwarded_port: header_value(&info.local_port.to_string()),
            activity: Arc::new(AtomicU64::new(0)),
            tasks,
            hard_stop,
        }
    }

    #[cfg(test)]
    pub(crate) fn for_tests(info: ConnectionInfo, settings: &RouterSettings) -> Self {
        Self::new(info, settings, TaskTracker::new(), CancellationToken::new())
    }

    pub(crate) fn protocol(&self) -> &'static str {
        if self.info.is_tls { "https" } else { "http" }
    }

    pub(crate) fn forwarded_proto(&self) -> HeaderValue {
        HeaderValue::from_static(self.protocol())
    }
}

/// Addresses and port numbers are always valid header text.
fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// Resolves once `activity` has not moved for `idle` (checked every quarter of it, so the
/// connection is closed between `idle` and 1.25 × `idle` after its last byte).
pub(crate) async fn until_idle(activity: &AtomicU64, idle: Duration) {
    let tick = (idle / 4).max(Duration::from_millis(1));
    let mut last = activity.load(Ordering::Relaxed);
    let mut quiet = Duration::ZERO;
    loop {
        tokio::time::sleep(tick).await;
        let now = activity.load(Ordering::Relaxed);
        if now == last {
            quiet += tick;
            if quiet >= idle {
                return;
            }
        } else {
            last = now;
            quiet = Duration::ZERO;
        }
    }
}

/// A stream that counts its successful reads and writes.
pub(crate) struct ActivityIo<IO> {
    inner: IO,
    activity: Arc<AtomicU64>,
}

impl<IO> ActivityIo<IO> {
    pub(crate) fn new(inner: IO, activity: Arc<AtomicU64>) -> Self {
        Self { inner, activity }
    }

    fn bump(&self) {
        self.activity.fetch_add(1, Ordering::Relaxed);
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for ActivityIo<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.bump();
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for ActivityIo<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.bump();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.bump();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idleness_is_detected_only_after_silence() {
        let activity = Arc::new(AtomicU64::new(0));
        let idle = Duration::from_millis(200);
        let watcher = tokio::spawn({
            let activity = Arc::clone(&activity);
            async move { until_idle(&activity, idle).await }
        });
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            activity.fetch_add(1, Ordering::Relaxed);
        }
        assert!(!watcher.is_finished());
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(watcher.is_finished());
    }

    #[tokio::test]
    async fn reads_and_writes_are_counted() {
        let activity = Arc::new(AtomicU64::new(0));
        let (client, server) = tokio::io::duplex(64);
        let mut client = ActivityIo::new(client, Arc::clone(&activity));
        let mut server = server;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        server.write_all(b"pong").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(activity.load(Ordering::Relaxed), 2);
    }
}
