//! Per-connection facts the proxy needs (peer, port, TLS, trust, the connection's watch,
//! the listener's task tracker), and `ActivityIo`, which reports reads and writes to the
//! watch so idle connections, tunnels and trickling request heads can be closed. No HTTP.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::header::HeaderValue;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::task::TaskTracker;

use super::settings::RouterSettings;
use super::watch::ConnectionWatch;

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

/// Who sent a control-plane request, as far as the connection and `PAAS_TRUSTED_PROXIES`
/// tell: behind a trusted proxy, the forwarded client address and scheme count.
#[derive(Clone, Copy, Debug)]
pub struct ClientInfo {
    /// The client address (the failed-login limits are keyed by it).
    pub addr: std::net::IpAddr,
    /// TLS carried the request to paas, or to the trusted proxy in front of it
    /// (`X-Forwarded-Proto: https`): cookies are `Secure` then.
    pub secure: bool,
}

/// `ConnectionInfo` plus what is worth computing once per connection instead of per request.
pub(crate) struct ConnectionContext {
    pub(crate) info: ConnectionInfo,
    pub(crate) peer_trusted: bool,
    pub(crate) forwarded_for: HeaderValue,
    pub(crate) forwarded_port: HeaderValue,
    /// Timeouts and shutdown signals of this connection, shared with the sweeper.
    pub(crate) watch: Arc<ConnectionWatch>,
    /// Tunnels spawned for upgraded requests are tracked by the listener.
    pub(crate) tasks: TaskTracker,
}

impl ConnectionContext {
    pub(crate) fn new(
        info: ConnectionInfo,
        settings: &RouterSettings,
        watch: Arc<ConnectionWatch>,
        tasks: TaskTracker,
    ) -> Self {
        let ip = info.peer.ip().to_canonical();
        Self {
            info,
            peer_trusted: settings.is_trusted_proxy(ip),
            forwarded_for: header_value(&ip.to_string()),
            forwarded_port: header_value(&info.local_port.to_string()),
            watch,
            tasks,
        }
    }

    #[cfg(test)]
    pub(crate) fn for_tests(info: ConnectionInfo, settings: &RouterSettings) -> Self {
        Self::new(info, settings, Arc::default(), TaskTracker::new())
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

/// A stream that reports its successful reads and writes to a `ConnectionWatch`. Its first
/// reads may return bytes already read from it (the fast path's, when it hands the
/// connection to hyper).
pub(crate) struct ActivityIo<IO> {
    inner: IO,
    watch: Arc<ConnectionWatch>,
    unread: bytes::Bytes,
}

impl<IO> ActivityIo<IO> {
    pub(crate) fn new(inner: IO, watch: Arc<ConnectionWatch>) -> Self {
        Self {
            inner,
            watch,
            unread: bytes::Bytes::new(),
        }
    }

    /// The same stream, reading `unread` first.
    pub(crate) fn rewound(mut self, unread: bytes::Bytes) -> Self {
        self.unread = unread;
        self
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for ActivityIo<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.unread.is_empty() {
            // Counted as activity when they were first read.
            let n = this.unread.len().min(buf.remaining());
            buf.put_slice(&this.unread.split_to(n));
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.watch.on_read();
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
            this.watch.on_write();
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
            this.watch.on_write();
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
    async fn reads_and_writes_are_counted() {
        let watch = Arc::new(ConnectionWatch::default());
        let (client, server) = tokio::io::duplex(64);
        let mut client = ActivityIo::new(client, Arc::clone(&watch));
        let mut server = server;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        server.write_all(b"pong").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(watch.activity(), 2);
    }
}
