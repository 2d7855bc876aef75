//! Bodies that stream through the router without buffering: `UploadBody` (client -> app,
//! recording progress so the response-header timeout starts after the last byte sent) and
//! `ProxyBody` (app -> client, or an error page), which counts bytes and on its end or drop
//! returns the connection to the pool, ends the in-flight lease and hands the access line
//! over. Frames are passed through as they arrive. Idle bodies are cut by watch.rs.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use thiserror::Error;

use super::Shared;
use super::access_log::{AccessLine, ErrorCode};
use super::endpoint::Lease;
use super::metrics::{AppMetrics, UpstreamErrorKind};
use super::upstream::UpstreamConnection;
use super::watch::ConnectionWatch;

/// Why a response body stopped early; the client connection is then closed.
#[derive(Debug, Error)]
pub enum BodyError {
    #[error("the app broke off the response: {0}")]
    Upstream(#[source] hyper::Error),
}

/// The client's request body on its way to the app.
pub(crate) struct UploadBody {
    inner: Incoming,
    /// Told of each piece sent, so a slow upload does not count against the app.
    watch: Option<Arc<ConnectionWatch>>,
}

impl UploadBody {
    pub(crate) fn new(inner: Incoming, watch: Option<Arc<ConnectionWatch>>) -> Self {
        Self { inner, watch }
    }
}

impl Body for UploadBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let (Poll::Ready(_), Some(watch)) = (&polled, &this.watch) {
            watch.upload_progressed();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body: an app's, streamed, or one the router wrote itself.
pub struct ProxyBody(Kind);

// Moved once into hyper's connection state; boxing the large variant would cost an
// allocation per request instead.
#[allow(clippy::large_enum_variant)]
enum Kind {
    Full(Option<Bytes>),
    Upstream(UpstreamStream),
}

impl ProxyBody {
    pub(crate) fn full(bytes: Bytes) -> Self {
        Self(Kind::Full((!bytes.is_empty()).then_some(bytes)))
    }

    pub(crate) fn empty() -> Self {
        Self(Kind::Full(None))
    }

    /// The bytes of a body the router wrote itself (empty for an app's).
    pub(crate) fn full_bytes(&self) -> &[u8] {
        match &self.0 {
            Kind::Full(Some(bytes)) => bytes,
            _ => &[],
        }
    }

    pub(crate) fn upstream(inner: Incoming, completion: Completion) -> Self {
        Self(Kind::Upstream(UpstreamStream {
            inner,
            bytes: 0,
            completion: Some(completion),
        }))
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match &mut self.get_mut().0 {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Upstream(stream) => stream.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Upstream(stream) => stream.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Upstream(stream) => stream.inner.size_hint(),
        }
    }
}

struct UpstreamStream {
    inner: Incoming,
    bytes: u64,
    completion: Option<Completion>,
}

impl UpstreamStream {
    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        // The body arrives through the connection, which this task drives.
        if let Some(connection) = self.completion.as_mut().and_then(|c| c.connection.as_mut()) {
            connection.drive(cx);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes += data.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                self.finish(Ending::Upstream);
                Poll::Ready(Some(Err(BodyError::Upstream(error))))
            }
            Poll::Ready(None) => {
                self.finish(Ending::Complete);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn finish(&mut self, ending: Ending) {
        if let Some(completion) = self.completion.take() {
            completion.finish(ending, self.bytes);
        }
    }
}

impl Drop for UpstreamStream {
    fn drop(&mut self) {
        // hyper stops polling once `is_end_stream` says so (HEAD, 204, a known length).
        let idle = |c: &Completion| c.watch.closed_for_idleness();
        let ending = if self.inner.is_end_stream() {
            Ending::Complete
        } else if self.completion.as_ref().is_some_and(idle) {
            Ending::Idle
        } else {
            Ending::ClientGone
        };
        self.finish(ending);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    Complete,
    Upstream,
    Idle,
    ClientGone,
}

impl Ending {
    /// The access line's code and the metric of a response that ended early.
    pub(crate) fn failure(self) -> Option<(ErrorCode, Option<UpstreamErrorKind>)> {
        match self {
            Ending::Complete => None,
            Ending::Upstream => Some((
                ErrorCode::ServerRequestInterrupted,
                Some(UpstreamErrorKind::BodyInterrupted),
            )),
            Ending::Idle => Some((ErrorCode::IdleConnection, Some(UpstreamErrorKind::BodyIdle))),
            Ending::ClientGone => Some((ErrorCode::ClientRequestInterrupted, None)),
        }
    }
}

/// What happens once a proxied response is over.
pub(crate) struct Completion {
    pub(crate) shared: Arc<Shared>,
    pub(crate) metrics: Option<Arc<AppMetrics>>,
    pub(crate) lease: Lease,
    /// The connection, returned to the pool if the response ended cleanly.
    pub(crate) connection: Option<UpstreamConnection>,
    pub(crate) line: AccessLine,
    pub(crate) started: Instant,
    pub(crate) watch: Arc<ConnectionWatch>,
}

impl Completion {
    pub(crate) fn finish(mut self, ending: Ending, bytes: u64) {
        let failure = ending.failure();
        match failure {
            None => {
                if let Some(connection) = self.connection.take() {
                    let max_idle = self.shared.settings.max_idle_per_endpoint;
                    self.lease.endpoint().pool.put(connection, max_idle);
                }
            }
            Some((code, kind)) => {
                self.line.error = Some(code);
                if let (Some(kind), Some(metrics)) = (kind, &self.metrics) {
                    metrics.upstream_error(kind);
                }
            }
        }
        self.watch.request_finished();
        self.line.bytes = bytes;
        self.line.service = self.started.elapsed();
        (self.shared.access_log)(self.line);
    }
}
