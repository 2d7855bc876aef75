//! One fast-path request to an app, mirroring proxy.rs's `forward` and `respond`: at most
//! two endpoints, a pooled stream retried once on a fresh one when it turns out closed, the
//! response-header timeout, the response head rewritten and relayed with its body as it
//! arrives, then the stream back to the pool, the lease ended, metrics and the access line.

use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use bytes::BytesMut;
use hyper::header::HeaderValue;
use hyper::{Method, Uri};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;

use super::super::Shared;
use super::super::access_log::{AccessLine, ErrorCode};
use super::super::balancer;
use super::super::body::Ending;
use super::super::connection::{ActivityIo, ConnectionContext};
use super::super::endpoint::{Endpoint, Lease};
use super::super::metrics::UpstreamErrorKind;
use super::super::pages::Page;
use super::super::proxy::{self, Exchange};
use super::super::request_id;
use super::super::table::{AppEntry, AppRoute};
use super::super::upstream;
use super::super::watch::{CLOSE, ConnectionWatch, IDLE_CLOSE};
use super::chunked::ChunkedScanner;
use super::head::{self, Forwarded, Framing, RequestHead};
use super::{Next, READ_SIZE, WriteError, watched, write_all};

/// The longest response head read from an app.
const MAX_RESPONSE_HEAD: usize = 256 * 1024;

/// A request whose upstream head and body are in the connection's `out` buffer.
pub(super) struct Request<'a> {
    exchange: Exchange<'a>,
    is_head: bool,
    client_close: bool,
}

impl<'a> Request<'a> {
    /// Starts the request: its access line, and its head for the app written into `out`.
    /// `None` if hyper should serve it (a method or target `http` does not take).
    pub(super) fn new(
        shared: &'a Arc<Shared>,
        conn: &'a ConnectionContext,
        head: &RequestHead<'_>,
        entry: &AppEntry,
        out: &mut Vec<u8>,
    ) -> Option<Self> {
        let method = Method::from_bytes(head.method).ok()?;
        let uri = Uri::from_maybe_shared(bytes::Bytes::copy_from_slice(head.path)).ok()?;
        conn.watch.request_started();
        let started = Instant::now();
        let request_id = request_id::from_value_or_new(head.request_id);
        head.write_upstream(
            &Forwarded {
                client_ip: conn.forwarded_for.as_bytes(),
                proto: conn.protocol().as_bytes(),
                port: conn.forwarded_port.as_bytes(),
                request_id: request_id.as_bytes(),
            },
            out,
        );
        let line = AccessLine {
            app: Some(Arc::clone(&entry.name)),
            error: None,
            method,
            uri,
            host: HeaderValue::from_bytes(head.host).ok(),
            request_id,
            fwd: conn.info.peer.ip().to_canonical(),
            dyno: None,
            connect: Default::default(),
            service: Default::default(),
            status: 0,
            bytes: 0,
            protocol: conn.protocol(),
        };
        Some(Self {
            exchange: Exchange {
                shared,
                conn,
                line,
                metrics: entry.metrics.get().cloned(),
                started,
                html: head.html,
            },
            is_head: head.method == b"HEAD",
            client_close: head.close,
        })
    }

    /// Sends the request to one of the app's endpoints and relays the answer.
    pub(super) async fn forward<IO>(
        mut self,
        client: &mut ActivityIo<IO>,
        entry: &AppEntry,
        request: &[u8],
        out: &mut Vec<u8>,
        upstream_buf: &mut BytesMut,
    ) -> Next
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let AppRoute::Serving(endpoints) = &entry.route else {
            return self
                .page(client, Page::unknown_host(&entry.name), out)
                .await;
        };
        let shared = self.exchange.shared;
        let settings = &shared.settings;
        let mut failed: Option<&Arc<Endpoint>> = None;
        let mut failure = ErrorCode::BackendConnectionRefused;
        for _ in 0..2 {
            let Some(endpoint) = balancer::pick(endpoints, &entry.cursor, failed) else {
                break;
            };
            let lease = endpoint.lease();
            self.exchange.line.dyno = Some(endpoint.dyno_arc());
            let mut allow_pooled = true;
            loop {
                let connect_started = Instant::now();
                let (mut stream, reused) = match self.stream_to(endpoint, allow_pooled).await {
                    Ok(stream) => stream,
                    Err(code) => {
                        failure = code;
                        failed = Some(endpoint);
                        break;
                    }
                };
                self.exchange.line.connect = connect_started.elapsed();
                let timeout = settings.response_header_timeout;
                match self.send(&mut stream, request, upstream_buf, out).await {
                    Sent::Response(response) => {
                        return self
                            .relay(client, stream, lease, response, out, upstream_buf)
                            .await;
                    }
                    Sent::Unanswered if reused => allow_pooled = false,
                    Sent::Unanswered => {
                        self.exchange
                            .upstream_error(UpstreamErrorKind::ClosedWithoutResponse);
                        failure = ErrorCode::ConnectionClosedWithoutResponse;
                        failed = Some(endpoint);
                        break;
                    }
                    Sent::Failed => {
                        self.exchange
                            .upstream_error(UpstreamErrorKind::ClosedWithoutResponse);
                        let code = ErrorCode::ConnectionClosedWithoutResponse;
                        let page = Page::upstream_failure(&entry.name, code, timeout);
                        return self.page(client, page, out).await;
                    }
                    Sent::TimedOut => {
                        self.exchange
                            .upstream_error(UpstreamErrorKind::ResponseTimeout);
                        let page =
                            Page::upstream_failure(&entry.name, ErrorCode::RequestTimeout, timeout);
                        return self.page(client, page, out).await;
                    }
                    Sent::Interrupted => {
                        self.exchange.line.error = Some(ErrorCode::ClientRequestInterrupted);
                        self.exchange.log();
                        return Next::Close;
                    }
                }
            }
            drop(lease);
        }
        let timeout = settings.connect_timeout;
        let page = Page::upstream_failure(&entry.name, failure, timeout);
        self.page(client, page, out).await
    }

    /// A pooled stream to `endpoint` (if allowed and there is one) or a new one, and
    /// whether it was pooled. A failed connect ejects the endpoint and says why.
    async fn stream_to(
        &self,
        endpoint: &Endpoint,
        allow_pooled: bool,
    ) -> Result<(TcpStream, bool), ErrorCode> {
        let settings = &self.exchange.shared.settings;
        if allow_pooled && let Some(stream) = endpoint.pool.take_stream(settings.idle_timeout) {
            return Ok((stream, true));
        }
        match upstream::connect_stream(endpoint, settings.connect_timeout).await {
            Ok(stream) => Ok((stream, false)),
            Err(error) => {
                tracing::debug!(dyno = endpoint.dyno(), %error, "endpoint unreachable");
                let (code, kind) = proxy::connect_failure(&error);
                self.exchange.upstream_error(kind);
                endpoint.eject(settings.ejection);
                Err(code)
            }
        }
    }

    /// Writes the request and reads the response head; on success the client's head is in
    /// `out` and the bytes after the app's head are in `buf`.
    async fn send(
        &self,
        stream: &mut TcpStream,
        request: &[u8],
        buf: &mut BytesMut,
        out: &mut Vec<u8>,
    ) -> Sent {
        let watch = &self.exchange.conn.watch;
        watch.awaiting_response();
        if write_all(watch, stream, request).await.is_err() {
            // Nothing of a response came: the app closed the connection before reading.
            return Sent::Unanswered;
        }
        watch.upload_progressed();
        buf.clear();
        let sent = loop {
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(READ_SIZE);
            }
            match read_until_timeout(watch, stream, buf).await {
                ReadResult::Read(0) | ReadResult::Error if buf.is_empty() => {
                    break Sent::Unanswered;
                }
                ReadResult::Read(0) | ReadResult::Error => break Sent::Failed,
                ReadResult::TimedOut => break Sent::TimedOut,
                ReadResult::Closed => break Sent::Interrupted,
                ReadResult::Read(_) => {}
            }
            match self.client_head(buf, out) {
                Ok(Some(response)) => break Sent::Response(response),
                Ok(None) if buf.len() < MAX_RESPONSE_HEAD => {}
                Ok(None) | Err(()) => break Sent::Failed,
            }
        };
        watch.response_arrived();
        sent
    }

    /// The app's head from `buf` (informational heads skipped), rewritten into `out`.
    fn client_head(&self, buf: &mut BytesMut, out: &mut Vec<u8>) -> Result<Option<Response>, ()> {
        loop {
            let mut storage = [httparse::EMPTY_HEADER; head::MAX_HEADERS];
            let Some(parsed) =
                head::parse_response(buf, &mut storage, self.is_head).map_err(|_| ())?
            else {
                return Ok(None);
            };
            if parsed.status == 101 {
                return Err(());
            }
            if (100..200).contains(&parsed.status) {
                let len = parsed.len;
                bytes::Buf::advance(buf, len);
                continue;
            }
            let close = self.client_close || parsed.framing == Framing::UntilClose;
            let shared = self.exchange.shared;
            let app = self.exchange.line.app.as_deref().unwrap_or("");
            let hsts = shared.https.hsts_value(self.exchange.conn, app);
            parsed.write_client(
                self.exchange.line.request_id.as_bytes(),
                hsts.as_ref().map(HeaderValue::as_bytes),
                close,
                out,
            );
            return Ok(Some(Response {
                status: parsed.status,
                framing: parsed.framing,
                reusable: parsed.reusable,
                head_len: parsed.len,
                close,
            }));
        }
    }

    /// Relays the response head and body to the client, then ends the request.
    async fn relay<IO>(
        mut self,
        client: &mut ActivityIo<IO>,
        mut stream: TcpStream,
        lease: Lease,
        response: Response,
        out: &mut Vec<u8>,
        buf: &mut BytesMut,
    ) -> Next
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        if let Some(metrics) = &self.exchange.metrics {
            metrics.observe(response.status, self.exchange.started.elapsed());
        }
        self.exchange.line.status = response.status;
        let conn = self.exchange.conn;
        let watch = &conn.watch;
        let mut body = Body::new(response.framing);
        let first = &buf[response.head_len..];
        let (take, mut done) = body.take(first);
        let mut clean = take == first.len();
        let mut bytes = take as u64;
        out.extend_from_slice(&first[..take]);
        let mut ending = match write_all(watch, client, out).await {
            Ok(()) => Ending::Complete,
            Err(error) => client_ending(error),
        };
        while ending == Ending::Complete && !done {
            buf.clear();
            buf.reserve(READ_SIZE);
            match watched(watch, CLOSE, stream.read_buf(buf)).await {
                Ok(Ok(0)) if body.framing == Framing::UntilClose => done = true,
                Ok(Ok(0)) | Ok(Err(_)) => ending = Ending::Upstream,
                Err(signals) => ending = client_ending(WriteError::Closed(signals)),
                Ok(Ok(_)) => {
                    let (take, finished) = body.take(buf);
                    clean &= take == buf.len();
                    done = finished;
                    bytes += take as u64;
                    if let Err(error) = write_all(watch, client, &buf[..take]).await {
                        ending = client_ending(error);
                    }
                }
            }
            if let Err(()) = body.error {
                ending = Ending::Upstream;
            }
        }
        let reusable = response.reusable && clean && ending == Ending::Complete;
        self.finish(ending, bytes, reusable.then_some(stream), lease);
        if ending != Ending::Complete || response.close {
            Next::Close
        } else {
            Next::KeepAlive
        }
    }

    /// The request is over: the stream back to the pool, metrics, the access line.
    fn finish(self, ending: Ending, bytes: u64, stream: Option<TcpStream>, lease: Lease) {
        let mut exchange = self.exchange;
        let failure = ending.failure();
        if let Some((code, kind)) = failure {
            exchange.line.error = Some(code);
            if let Some(kind) = kind {
                exchange.upstream_error(kind);
            }
        }
        if let Some(stream) = stream {
            let max_idle = exchange.shared.settings.max_idle_per_endpoint;
            lease.endpoint().pool.put_stream(stream, max_idle);
        }
        drop(lease);
        exchange.line.bytes = bytes;
        exchange.log();
    }

    /// Answers with a page the router wrote (logged by `Exchange::page`).
    async fn page<IO>(self, client: &mut ActivityIo<IO>, page: Page, out: &mut Vec<u8>) -> Next
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let watch = Arc::clone(&self.exchange.conn.watch);
        let close = self.client_close;
        let response = self.exchange.page(page);
        out.clear();
        let _ = std::io::Write::write_fmt(
            out,
            format_args!(
                "HTTP/1.1 {} {}\r\n",
                response.status().as_u16(),
                response.status().canonical_reason().unwrap_or("")
            ),
        );
        for (name, value) in response.headers() {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let body = response.body().full_bytes();
        let _ = std::io::Write::write_fmt(out, format_args!("content-length: {}\r\n", body.len()));
        if close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        match write_all(&watch, client, out).await {
            Ok(()) if !close => Next::KeepAlive,
            _ => Next::Close,
        }
    }
}

/// What the app's response head said.
struct Response {
    status: u16,
    framing: Framing,
    reusable: bool,
    head_len: usize,
    close: bool,
}

enum Sent {
    Response(Response),
    /// No byte of a response came back: the request may go to another connection.
    Unanswered,
    Failed,
    TimedOut,
    /// The client connection was told to close.
    Interrupted,
}

/// How a write to the client ended a response early.
fn client_ending(error: WriteError) -> Ending {
    match error {
        WriteError::Closed(signals) if signals & IDLE_CLOSE != 0 => Ending::Idle,
        WriteError::Closed(_) | WriteError::Gone => Ending::ClientGone,
    }
}

enum ReadResult {
    Read(usize),
    Error,
    TimedOut,
    Closed,
}

/// Reads from the app until the sweeper flags the response-header timeout.
async fn read_until_timeout(
    watch: &ConnectionWatch,
    stream: &mut TcpStream,
    buf: &mut BytesMut,
) -> ReadResult {
    let mut read = std::pin::pin!(stream.read_buf(buf));
    poll_fn(|cx| {
        let signals = watch.poll_signals(cx.waker());
        if signals & CLOSE != 0 {
            return Poll::Ready(ReadResult::Closed);
        }
        if watch.response_timed_out() {
            return Poll::Ready(ReadResult::TimedOut);
        }
        read.as_mut().poll(cx).map(|read| match read {
            Ok(n) => ReadResult::Read(n),
            Err(_) => ReadResult::Error,
        })
    })
    .await
}

/// How much of what the app sends belongs to the response body.
struct Body {
    framing: Framing,
    remaining: u64,
    chunked: ChunkedScanner,
    error: Result<(), ()>,
}

impl Body {
    fn new(framing: Framing) -> Self {
        Self {
            framing,
            remaining: match framing {
                Framing::Length(n) => n,
                _ => 0,
            },
            chunked: ChunkedScanner::default(),
            error: Ok(()),
        }
    }

    /// How many of `bytes` are body, and whether the body ends with them.
    fn take(&mut self, bytes: &[u8]) -> (usize, bool) {
        match self.framing {
            Framing::Empty => (0, true),
            Framing::UntilClose => (bytes.len(), false),
            Framing::Length(_) => {
                let take = usize::try_from(self.remaining)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                self.remaining -= take as u64;
                (take, self.remaining == 0)
            }
            Framing::Chunked => match self.chunked.feed(bytes) {
                Ok(Some(end)) => (end, true),
                Ok(None) => (bytes.len(), false),
                Err(_) => {
                    self.error = Err(());
                    (bytes.len(), false)
                }
            },
        }
    }
}
