//! The fast path: plain proxied HTTP/1.1 requests forwarded without building hyper's
//! `Request`/`Response` values. A request head is parsed with httparse into slices of the
//! connection's buffer, the rewritten head and the body go to a bare pooled TCP stream in
//! one write, and the app's response head is rewritten and passed back with its body bytes
//! as the app framed them. Buffers live as long as the connection; headers are never copied
//! into maps.
//!
//! Anything else is handed to hyper (listener.rs) for the rest of the connection, with the
//! bytes read so far: control hosts, unknown hosts, apps not serving (pages, waking),
//! https-only apps on plain HTTP, ACME challenges, trusted proxies in front of paas,
//! HTTP/1.0, upgrades, `Expect`, chunked or long uploads, and anything malformed or over the
//! header limits (hyper answers those 400 or 431). What both paths do to a request (routing,
//! balancing, forwarded headers, request ids, timeouts, pages, metrics, access lines) is the
//! same code or mirrors it line for line; `tests/router.rs` runs against both.
//!
//! ```text
//! mod.rs      the connection loop: read a head, serve it here or hand over
//! head.rs     parsing and rewriting request and response heads (pure)
//! chunked.rs  where a chunked body ends (pure)
//! forward.rs  one request to an app: endpoint tries, response relay, its end
//! ```

mod chunked;
mod forward;
mod head;

use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::task::Poll;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::Shared;
use super::connection::{ActivityIo, ConnectionContext};
use super::table::AppRoute;
use super::watch::{CLOSE, ConnectionWatch, IDLE, SHUTDOWN};
use head::{Parsed, RequestHead};

/// How the fast path left a connection.
pub(crate) enum Outcome {
    /// Closed (by either side, a timeout or shutdown).
    Closed,
    /// Hyper serves the rest; these bytes were read and not yet served.
    Handover(BytesMut),
}

/// What to do after one request.
enum Next {
    KeepAlive,
    Close,
    Handover,
    /// The body is not all here yet: read until the buffer holds this many bytes.
    ReadMore(usize),
}

/// Per-connection buffers, reused by every request on it.
struct Buffers {
    client: BytesMut,
    /// The head and body going to the app (kept for a retry on another connection).
    request: Vec<u8>,
    upstream: BytesMut,
    out: Vec<u8>,
}

const READ_SIZE: usize = 8 * 1024;

/// Serves requests on a client connection until it closes or needs hyper.
pub(crate) async fn serve<IO>(
    shared: &Arc<Shared>,
    conn: &ConnectionContext,
    client: &mut ActivityIo<IO>,
) -> Outcome
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut buffers = Buffers {
        client: BytesMut::with_capacity(READ_SIZE),
        upstream: BytesMut::with_capacity(READ_SIZE),
        request: Vec::with_capacity(1024),
        out: Vec::with_capacity(1024),
    };
    let max_head = shared.settings.max_header_bytes;
    let mut want = 0;
    // How far the buffer was searched for the end of a head (a head trickling in byte by
    // byte must not be searched from its start on every read).
    let mut searched = 0;
    loop {
        let buffered = &buffers.client;
        let ready = if want > 0 {
            buffered.len() >= want
        } else {
            let found = head_end(buffered, searched);
            searched = buffered.len();
            found
        };
        if !ready {
            if want == 0 && buffered.len() >= max_head {
                return Outcome::Handover(buffers.client);
            }
            // Between requests, idleness and shutdown end the connection; inside a head
            // only a close does (the sweeper raises it for a trickling head).
            let stop = if buffered.is_empty() {
                CLOSE | IDLE | SHUTDOWN
            } else {
                CLOSE
            };
            if buffers.client.capacity() - buffers.client.len() < 1024 {
                buffers.client.reserve(READ_SIZE);
            }
            match watched(&conn.watch, stop, client.read_buf(&mut buffers.client)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Outcome::Closed,
                Ok(Ok(_)) => continue,
            }
        }
        searched = 0;
        match one_request(shared, conn, client, &mut buffers).await {
            Next::KeepAlive => want = 0,
            Next::ReadMore(total) => want = total,
            Next::Handover => return Outcome::Handover(buffers.client),
            Next::Close => {
                let _ = client.shutdown().await;
                return Outcome::Closed;
            }
        }
    }
}

/// Whether `buf` holds the blank line that ends a head (CRLF or bare LF, as httparse takes),
/// looking only at what follows the first `searched` bytes (and the two before them).
fn head_end(buf: &[u8], searched: usize) -> bool {
    let from = searched.saturating_sub(2).min(buf.len());
    buf.iter().enumerate().skip(from).any(|(i, &b)| {
        b == b'\n'
            && match buf.get(i + 1) {
                Some(b'\n') => true,
                Some(b'\r') => buf.get(i + 2) == Some(&b'\n'),
                _ => false,
            }
    })
}

/// One buffered request: served here, or the connection is handed to hyper before
/// anything of it was acted on.
async fn one_request<IO>(
    shared: &Arc<Shared>,
    conn: &ConnectionContext,
    client: &mut ActivityIo<IO>,
    buffers: &mut Buffers,
) -> Next
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut storage = [httparse::EMPTY_HEADER; head::MAX_HEADERS];
    let head = match head::parse_request(&buffers.client, &mut storage, shared.settings.max_headers)
    {
        Parsed::Complete(head) => head,
        // A blank line before the request line is skipped: read on, within the head limit.
        Parsed::Partial if buffers.client.len() < shared.settings.max_header_bytes => {
            return Next::ReadMore(buffers.client.len() + 1);
        }
        Parsed::Partial => return Next::Handover,
        Parsed::Handover(reason) => {
            tracing::trace!(?reason, "hyper serves the rest of this connection");
            return Next::Handover;
        }
    };
    let total = head.len + head.content_length as usize;
    if buffers.client.len() < total {
        return Next::ReadMore(total);
    }
    let Some(route) = route(shared, conn, &head) else {
        return Next::Handover;
    };
    let Some(request) = forward::Request::new(shared, conn, &head, &route, &mut buffers.request)
    else {
        return Next::Handover;
    };
    buffers
        .request
        .extend_from_slice(&buffers.client[head.len..total]);
    bytes::Buf::advance(&mut buffers.client, total);
    let Buffers {
        request: to_app,
        out,
        upstream,
        ..
    } = buffers;
    request.forward(client, &route, to_app, out, upstream).await
}

/// The app entry a request goes to, if the fast path may serve it.
fn route(
    shared: &Shared,
    conn: &ConnectionContext,
    head: &RequestHead<'_>,
) -> Option<Arc<super::table::AppEntry>> {
    if conn.peer_trusted || (!conn.info.is_tls && shared.https.is_challenge_path(head.path)) {
        return None;
    }
    let key = head.host_key()?;
    if shared.settings.is_control_key(&key) {
        return None;
    }
    let entry = shared
        .table
        .load()
        .resolve(key.as_str(), &shared.paas_domain)
        .cloned()?;
    let serving = matches!(&entry.route, AppRoute::Serving(endpoints) if !endpoints.is_empty());
    let redirected = !conn.info.is_tls && shared.https.is_https_only(&entry.name);
    (serving && !redirected).then_some(entry)
}

/// Polls `future` until it is ready, or until one of the `stop` signals is raised on the
/// connection (then `Err` with the signals).
async fn watched<F: Future>(watch: &ConnectionWatch, stop: u8, future: F) -> Result<F::Output, u8> {
    let mut future = std::pin::pin!(future);
    poll_fn(|cx| {
        let signals = watch.poll_signals(cx.waker());
        if signals & stop != 0 {
            return Poll::Ready(Err(signals));
        }
        future.as_mut().poll(cx).map(Ok)
    })
    .await
}

/// Writes all of `bytes` to `io` unless the connection is told to close first.
async fn write_all<IO: AsyncWrite + Unpin>(
    watch: &ConnectionWatch,
    io: &mut IO,
    bytes: &[u8],
) -> Result<(), WriteError> {
    match watched(watch, CLOSE, io.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(WriteError::Gone),
        Err(signals) => Err(WriteError::Closed(signals)),
    }
}

enum WriteError {
    Gone,
    Closed(u8),
}

#[cfg(test)]
mod tests {
    use super::head_end;

    #[test]
    fn the_end_of_a_head_is_found_with_either_line_ending() {
        assert!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0));
        assert!(head_end(b"GET / HTTP/1.1\nHost: a\n\n", 0));
        assert!(!head_end(b"GET / HTTP/1.1\r\nHost: a\r\n", 0));
        assert!(!head_end(b"", 0));
        // The blank line completed by the newest bytes, after a search that stopped short.
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for searched in 0..head.len() {
            assert!(head_end(head, searched), "searched {searched}");
        }
    }
}
