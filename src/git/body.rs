//! The request body on its way from the async HTTP stream to the blocking indexer: the async
//! side forwards chunks over a bounded channel (so at most a few chunks are in memory), the
//! blocking side reads them back as `std::io::Read`, gunzipped when needed and counted
//! against the push limit.
//!
//! Owns the limits and the failure kinds of the transfer (disconnect, timeout, too large).
//! Must not parse anything: pkt-lines and packs are read by `request` and `unpack`.

use std::fmt::Display;
use std::io::{self, BufReader, Read};
use std::pin::Pin;
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Chunks in flight between the HTTP task and the indexer; with hyper's chunk sizes this
/// keeps the buffered body to a few hundred KiB.
pub(crate) const CHANNEL_DEPTH: usize = 8;
const READ_BUFFER: usize = 64 * 1024;

/// Bounds on one push, as parameters of `receive_pack::receive`.
#[derive(Debug, Clone, Copy)]
pub struct ReceiveLimits {
    /// Largest request body (after gunzip), command list and pack together.
    pub max_push_bytes: u64,
    /// Time allowed from the first byte of the request to the last byte of the pack.
    pub receive_timeout: Duration,
}

impl Default for ReceiveLimits {
    fn default() -> Self {
        Self {
            max_push_bytes: 1 << 30,
            receive_timeout: Duration::from_secs(15 * 60),
        }
    }
}

/// How the request body is encoded (`Content-Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    Identity,
    /// git gzips request bodies that fit its post buffer.
    Gzip,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("content encoding {0:?} is not supported; send the push uncompressed or gzip-encoded")]
pub struct UnsupportedEncoding(pub String);

impl ContentEncoding {
    /// Reads a `Content-Encoding` header value (`None` when absent).
    pub fn from_header(value: Option<&str>) -> Result<Self, UnsupportedEncoding> {
        match value.map(str::trim) {
            None | Some("") | Some("identity") => Ok(Self::Identity),
            Some(v) if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") => {
                Ok(Self::Gzip)
            }
            Some(other) => Err(UnsupportedEncoding(other.to_owned())),
        }
    }
}

/// Why the body stopped before its end.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BodyFailure {
    #[error("the client disconnected while sending the push: {0}")]
    Disconnected(String),
    #[error("the request was abandoned before its end")]
    Abandoned,
    #[error("receiving the pack took longer than {}; push less at once or raise PAAS_PUSH_TIMEOUT", human_duration(*.0))]
    TimedOut(Duration),
    #[error("pack exceeds the {} push limit; raise PAAS_MAX_PUSH_BYTES", human_bytes(*.0))]
    TooLarge(u64),
}

impl BodyFailure {
    /// Finds a failure of ours inside an I/O error raised while reading the body.
    pub(crate) fn from_io(error: &io::Error) -> Option<BodyFailure> {
        error.get_ref()?.downcast_ref::<BodyFailure>().cloned()
    }

    /// The client is gone: nobody will read a report.
    pub(crate) fn client_gone(&self) -> bool {
        matches!(self, Self::Disconnected(_) | Self::Abandoned)
    }
}

/// `1 GiB`, `512 MiB`, `1536 KiB`, `100 bytes`: exact, for limit messages.
pub fn human_bytes(bytes: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{}s", duration.as_secs_f64())
    }
}

/// One message from the HTTP task to the indexer.
#[derive(Debug)]
pub(crate) enum BodyChunk {
    Data(Bytes),
    End,
    Failed(BodyFailure),
}

/// How forwarding ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Forwarded {
    /// The whole body went through.
    Complete,
    /// The reader stopped early (it found an error or needed no more).
    ReaderStopped,
    /// The body failed or the deadline passed; the reader was told.
    Failed(BodyFailure),
}

/// Sends the body's chunks to the blocking reader until the body ends, the reader hangs
/// up, or the deadline passes. The stream is left where it stopped.
pub(crate) async fn forward<S, E>(
    mut body: Pin<&mut S>,
    tx: &mpsc::Sender<BodyChunk>,
    deadline: Instant,
    timeout: Duration,
) -> Forwarded
where
    S: Stream<Item = Result<Bytes, E>> + ?Sized,
    E: Display,
{
    loop {
        let next = tokio::select! {
            () = tx.closed() => return Forwarded::ReaderStopped,
            next = tokio::time::timeout_at(deadline, body.next()) => next,
        };
        let chunk = match next {
            Err(_elapsed) => BodyChunk::Failed(BodyFailure::TimedOut(timeout)),
            Ok(None) => BodyChunk::End,
            Ok(Some(Err(error))) => BodyChunk::Failed(BodyFailure::Disconnected(error.to_string())),
            Ok(Some(Ok(bytes))) if bytes.is_empty() => continue,
            Ok(Some(Ok(bytes))) => BodyChunk::Data(bytes),
        };
        let outcome = match &chunk {
            BodyChunk::Data(_) => None,
            BodyChunk::End => Some(Forwarded::Complete),
            BodyChunk::Failed(failure) => Some(Forwarded::Failed(failure.clone())),
        };
        match tokio::time::timeout_at(deadline, tx.send(chunk)).await {
            Ok(Ok(())) => {}
            Ok(Err(_closed)) => return Forwarded::ReaderStopped,
            Err(_elapsed) => {
                // The reader is stuck behind a full channel: it sees the deadline when it
                // next reads, because the receiver is dropped only by the reader itself.
                let failure = BodyFailure::TimedOut(timeout);
                let _ = tx.try_send(BodyChunk::Failed(failure.clone()));
                return Forwarded::Failed(failure);
            }
        }
        if let Some(outcome) = outcome {
            return outcome;
        }
    }
}

/// Reads what [`forward`] sends; a channel closed without `End` reads as abandoned.
pub(crate) struct ChannelReader {
    rx: mpsc::Receiver<BodyChunk>,
    current: Bytes,
    finished: Option<Result<(), BodyFailure>>,
}

impl ChannelReader {
    pub(crate) fn new(rx: mpsc::Receiver<BodyChunk>) -> Self {
        Self {
            rx,
            current: Bytes::new(),
            finished: None,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.current.is_empty() {
                let n = buf.len().min(self.current.len());
                self.current.copy_to_slice(&mut buf[..n]);
                return Ok(n);
            }
            match &self.finished {
                Some(Ok(())) => return Ok(0),
                Some(Err(failure)) => return Err(io::Error::other(failure.clone())),
                None => {}
            }
            match self.rx.blocking_recv() {
                Some(BodyChunk::Data(bytes)) => self.current = bytes,
                Some(BodyChunk::End) => self.finished = Some(Ok(())),
                Some(BodyChunk::Failed(failure)) => self.finished = Some(Err(failure)),
                None => self.finished = Some(Err(BodyFailure::Abandoned)),
            }
        }
    }
}

/// Fails once more than `limit` bytes went through.
struct LimitedReader<R> {
    inner: R,
    consumed: u64,
    limit: u64,
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed += n as u64;
        if self.consumed > self.limit {
            return Err(io::Error::other(BodyFailure::TooLarge(self.limit)));
        }
        Ok(n)
    }
}

/// The decoded, size-limited body, buffered for the pkt-line and pack readers.
pub(crate) fn decoded_reader(
    raw: ChannelReader,
    encoding: ContentEncoding,
    limit: u64,
) -> BufReader<Box<dyn Read + Send>> {
    let limited = LimitedReader {
        inner: raw,
        consumed: 0,
        limit,
    };
    let decoded: Box<dyn Read + Send> = match encoding {
        ContentEncoding::Identity => Box::new(limited),
        ContentEncoding::Gzip => Box::new(LimitedReader {
            inner: flate2::read::GzDecoder::new(limited),
            consumed: 0,
            limit,
        }),
    };
    BufReader::with_capacity(READ_BUFFER, decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn limits_read_as_exact_human_sizes() {
        assert_eq!(human_bytes(1 << 30), "1 GiB");
        assert_eq!(human_bytes(5 << 20), "5 MiB");
        assert_eq!(human_bytes(1536), "1536 bytes");
        assert_eq!(human_bytes(3 << 10), "3 KiB");
        assert_eq!(
            BodyFailure::TooLarge(1 << 30).to_string(),
            "pack exceeds the 1 GiB push limit; raise PAAS_MAX_PUSH_BYTES"
        );
    }

    #[test]
    fn content_encoding_accepts_gzip_and_refuses_others() {
        assert_eq!(
            ContentEncoding::from_header(None),
            Ok(ContentEncoding::Identity)
        );
        assert_eq!(
            ContentEncoding::from_header(Some("gzip")),
            Ok(ContentEncoding::Gzip)
        );
        assert!(ContentEncoding::from_header(Some("br")).is_err());
    }

    fn reader_over(chunks: Vec<BodyChunk>) -> ChannelReader {
        let (tx, rx) = mpsc::channel(chunks.len().max(1));
        for chunk in chunks {
            tx.try_send(chunk).unwrap();
        }
        ChannelReader::new(rx)
    }

    #[test]
    fn channel_closed_without_end_reads_as_abandoned() {
        let mut reader = reader_over(vec![BodyChunk::Data(Bytes::from_static(b"ab"))]);
        let mut out = Vec::new();
        let error = reader.read_to_end(&mut out).unwrap_err();
        assert_eq!(out, b"ab");
        assert_eq!(BodyFailure::from_io(&error), Some(BodyFailure::Abandoned));
    }

    #[test]
    fn gzip_bodies_are_decoded_and_limited_after_decoding() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&[b'a'; 10_000]).unwrap();
        let compressed = gz.finish().unwrap();
        let chunks = || {
            vec![
                BodyChunk::Data(Bytes::from(compressed.clone())),
                BodyChunk::End,
            ]
        };

        let mut out = Vec::new();
        decoded_reader(reader_over(chunks()), ContentEncoding::Gzip, 10_000)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out.len(), 10_000);

        let error = decoded_reader(reader_over(chunks()), ContentEncoding::Gzip, 9_999)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(
            BodyFailure::from_io(&error),
            Some(BodyFailure::TooLarge(9_999))
        );
    }

    #[tokio::test]
    async fn forward_stops_when_the_deadline_passes() {
        let body = futures_util::stream::pending::<Result<Bytes, std::io::Error>>();
        let (tx, mut rx) = mpsc::channel(CHANNEL_DEPTH);
        let timeout = Duration::from_millis(50);
        let outcome = forward(std::pin::pin!(body), &tx, Instant::now() + timeout, timeout).await;
        assert_eq!(outcome, Forwarded::Failed(BodyFailure::TimedOut(timeout)));
        assert!(matches!(
            rx.recv().await,
            Some(BodyChunk::Failed(BodyFailure::TimedOut(_)))
        ));
    }
}
