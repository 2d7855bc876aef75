//! What the pusher sees: the streamed response of `git-receive-pack`. Side-band framing
//! (band 1 report, band 2 `remote:` progress, band 3 fatal error, gitprotocol-pack) when the
//! client asked for `side-band-64k`, and the report-status (v1 or v2) with `unpack ok` or
//! `unpack <error>`, then `ok <ref>` or `ng <ref> <reason>` per command.
//!
//! Owns the response channel and its encoding; frames leave as soon as they are written.
//! Must not decide statuses: it reports what the `Push` holds.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::sync::mpsc;
use tokio::time::Sleep;

use super::capabilities::{ClientCapabilities, ReportStatusVersion};
use super::pkt_line::{self, FLUSH, MAX_PAYLOAD_LEN};
use super::push::{CommandStatus, Push};

/// Frames buffered for a slow reader before writers wait.
const RESPONSE_DEPTH: usize = 64;
/// git's receive.keepAlive default: a silent pipeline still shows the client a live server.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(5);
/// An empty band-1 packet, which clients skip (what git's receive-pack sends).
const KEEPALIVE_FRAME: &[u8] = b"0005\x01";

const BAND_DATA: u8 = 1;
const BAND_PROGRESS: u8 = 2;
const BAND_FATAL: u8 = 3;

#[derive(Debug)]
enum Frame {
    Bytes(Bytes),
    End,
}

/// The response body has been dropped: the client hung up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pushing client disconnected")]
pub struct ClientGone;

/// Writes the response of one push; [`Reporter::finish`] sends the report and ends it.
#[derive(Debug)]
pub struct Reporter {
    tx: mpsc::Sender<Frame>,
    side_band: bool,
    report_status: Option<ReportStatusVersion>,
    finished: bool,
}

/// A cloneable writer of `remote:` progress lines (band 2). Without side-band the client
/// cannot show them and they are dropped.
#[derive(Debug, Clone)]
pub struct Progress {
    tx: mpsc::Sender<Frame>,
    side_band: bool,
}

/// The HTTP response body: a stream of frames, ending after the report.
#[derive(Debug)]
pub struct ResponseBody {
    rx: mpsc::Receiver<Frame>,
    keepalive: Option<(Duration, Pin<Box<Sleep>>)>,
    done: bool,
}

impl Reporter {
    /// A reporter for a client with `caps`, and the body to stream back to it.
    pub fn new(caps: &ClientCapabilities) -> (Reporter, ResponseBody) {
        Self::with_keepalive(caps, Some(DEFAULT_KEEPALIVE))
    }

    /// Like [`Reporter::new`]; `keepalive` (side-band only) sends an empty frame after that
    /// much silence, `None` never.
    pub fn with_keepalive(
        caps: &ClientCapabilities,
        keepalive: Option<Duration>,
    ) -> (Reporter, ResponseBody) {
        let (tx, rx) = mpsc::channel(RESPONSE_DEPTH);
        let side_band = caps.side_band_64k;
        let keepalive = keepalive
            .filter(|_| side_band)
            .map(|every| (every, Box::pin(tokio::time::sleep(every))));
        let reporter = Reporter {
            tx,
            side_band,
            report_status: caps.report_status,
            finished: false,
        };
        let body = ResponseBody {
            rx,
            keepalive,
            done: false,
        };
        (reporter, body)
    }

    pub fn progress(&self) -> Progress {
        Progress {
            tx: self.tx.clone(),
            side_band: self.side_band,
        }
    }

    /// Sends the report-status for `push` (as the client asked: v1, v2, or none) and ends
    /// the response.
    pub async fn finish(mut self, push: &Push) -> Result<(), ClientGone> {
        self.finished = true;
        let mut out = BytesMut::new();
        if let Some(version) = self.report_status {
            let report = encode_report(version, push);
            if self.side_band {
                encode_band(BAND_DATA, &report, &mut out);
            } else {
                out.extend_from_slice(&report);
            }
        }
        if self.side_band {
            out.extend_from_slice(FLUSH);
        }
        send(&self.tx, Frame::Bytes(out.freeze())).await?;
        send(&self.tx, Frame::End).await
    }

    /// Aborts the push on the client with `remote error: <message>` (band 3), for an error
    /// that leaves no report to send. Without side-band the client only sees the stream end.
    pub async fn fatal(mut self, message: &str) -> Result<(), ClientGone> {
        self.finished = true;
        if let Some(frame) = fatal_frame(self.side_band, message) {
            send(&self.tx, Frame::Bytes(frame)).await?;
        }
        send(&self.tx, Frame::End).await
    }
}

impl Drop for Reporter {
    /// A reporter dropped without a report (a panicked or cancelled pipeline) still tells
    /// the client why its push ends here.
    fn drop(&mut self) {
        if !self.finished {
            let message =
                "the server stopped handling this push before reporting; check the server log";
            if let Some(frame) = fatal_frame(self.side_band, message) {
                let _ = self.tx.try_send(Frame::Bytes(frame));
            }
            let _ = self.tx.try_send(Frame::End);
        }
    }
}

fn fatal_frame(side_band: bool, message: &str) -> Option<Bytes> {
    side_band.then(|| {
        let mut out = BytesMut::new();
        encode_band(
            BAND_FATAL,
            format!("{}\n", one_line(message)).as_bytes(),
            &mut out,
        );
        out.freeze()
    })
}

async fn send(tx: &mpsc::Sender<Frame>, frame: Frame) -> Result<(), ClientGone> {
    tx.send(frame).await.map_err(|_| ClientGone)
}

impl Progress {
    /// Sends `line` (a newline is added unless it ends in `\n` or `\r`, which git uses to
    /// redraw a progress meter) as soon as the client can take it.
    pub async fn line(&self, line: &str) -> Result<(), ClientGone> {
        match self.frame(line) {
            Some(frame) => send(&self.tx, Frame::Bytes(frame)).await,
            None => Ok(()),
        }
    }

    /// [`Progress::line`] for blocking code (inside `spawn_blocking`).
    pub fn blocking_line(&self, line: &str) -> Result<(), ClientGone> {
        match self.frame(line) {
            Some(frame) => self
                .tx
                .blocking_send(Frame::Bytes(frame))
                .map_err(|_| ClientGone),
            None => Ok(()),
        }
    }

    /// True once the client has hung up.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    fn frame(&self, line: &str) -> Option<Bytes> {
        if !self.side_band {
            return None;
        }
        let mut text = line.to_owned();
        if !text.ends_with(['\n', '\r']) {
            text.push('\n');
        }
        let mut out = BytesMut::new();
        encode_band(BAND_PROGRESS, text.as_bytes(), &mut out);
        Some(out.freeze())
    }
}

impl Stream for ResponseBody {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Frame::Bytes(bytes))) => {
                if let Some((every, sleep)) = &mut self.keepalive {
                    sleep.as_mut().reset(tokio::time::Instant::now() + *every);
                }
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(Some(Frame::End)) | Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let Some((every, sleep)) = &mut self.keepalive else {
                    return Poll::Pending;
                };
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let next = tokio::time::Instant::now() + *every;
                sleep.as_mut().reset(next);
                Poll::Ready(Some(Ok(Bytes::from_static(KEEPALIVE_FRAME))))
            }
        }
    }
}

/// Cuts `data` into side-band packets of `band`.
fn encode_band(band: u8, data: &[u8], out: &mut BytesMut) {
    let mut frame = Vec::with_capacity(MAX_PAYLOAD_LEN.min(data.len() + 1));
    for chunk in data.chunks(MAX_PAYLOAD_LEN - 1) {
        frame.clear();
        frame.push(band);
        frame.extend_from_slice(chunk);
        // A chunk plus its band byte is at most MAX_PAYLOAD_LEN: encoding cannot fail.
        let _ = pkt_line::encode_data(&frame, out);
    }
}

/// Status text must stay on one pkt-line.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// The report-status pkt-lines (ending with a flush). v2 adds `option` lines only for refs
/// a server rewrote, which this one never does, so both versions read the same here.
pub fn encode_report(_version: ReportStatusVersion, push: &Push) -> BytesMut {
    let mut out = BytesMut::new();
    let unpack = match push.unpack_error() {
        None => "unpack ok\n".to_owned(),
        Some(error) => format!("unpack {}\n", one_line(error)),
    };
    pkt_line::encode_text(&unpack, &mut out);
    for (command, status) in push.commands() {
        let line = match status {
            CommandStatus::Applied => format!("ok {}\n", command.refname),
            CommandStatus::Rejected(reason) => {
                format!("ng {} {}\n", command.refname, one_line(reason))
            }
            CommandStatus::Pending => format!(
                "ng {} not applied: the server ended the push before deciding\n",
                command.refname
            ),
        };
        pkt_line::encode_text(&line, &mut out);
    }
    out.extend_from_slice(FLUSH);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::request::{PushRequest, RefUpdate};
    use futures_util::StreamExt;
    use git2::Oid;

    fn push(unpack: Result<(), &str>, side_band: bool) -> Push {
        let caps = ClientCapabilities {
            report_status: Some(ReportStatusVersion::V2),
            side_band_64k: side_band,
            ..Default::default()
        };
        let command = |name: &str| RefUpdate {
            old: Oid::ZERO_SHA1,
            new: Oid::from_str("1111111111111111111111111111111111111111").unwrap(),
            refname: name.to_owned(),
        };
        let request = PushRequest {
            commands: vec![command("refs/heads/main"), command("refs/heads/dev")],
            options: vec![],
            capabilities: caps,
        };
        let count = request.commands.len();
        Push::new(
            "/nonexistent".into(),
            request,
            unpack.map(|()| None).map_err(str::to_owned),
            vec![None; count],
        )
    }

    async fn collect(body: ResponseBody) -> Vec<u8> {
        body.map(|frame| frame.unwrap().to_vec())
            .collect::<Vec<_>>()
            .await
            .concat()
    }

    #[tokio::test]
    async fn report_without_side_band_is_raw_pkt_lines() {
        let mut push = push(Ok(()), false);
        push.reject("refs/heads/main", "build failed: exit 1\nsecond line");
        push.reject("refs/heads/dev", "denied");
        let (reporter, body) = Reporter::new(&push.request.capabilities);
        reporter.progress().line("dropped").await.unwrap();
        reporter.finish(&push).await.unwrap();
        assert_eq!(
            collect(body).await,
            b"000eunpack ok\n\
              0038ng refs/heads/main build failed: exit 1 second line\n\
              001dng refs/heads/dev denied\n\
              0000"
                .to_vec()
        );
    }

    #[tokio::test]
    async fn side_band_carries_progress_then_the_report_then_a_flush() {
        let push = push(Err("pack exceeds the 1 GiB push limit"), true);
        let (reporter, body) = Reporter::new(&push.request.capabilities);
        reporter.progress().line("building").await.unwrap();
        reporter.finish(&push).await.unwrap();
        let bytes = collect(body).await;
        assert!(bytes.starts_with(b"000e\x02building\n"));
        let mut rest = &bytes[14..];
        let mut inner = Vec::new();
        while let Some((packet, used)) = pkt_line::decode(rest).unwrap() {
            match packet {
                pkt_line::Packet::Data(payload) => {
                    assert_eq!(payload[0], BAND_DATA);
                    inner.extend_from_slice(&payload[1..]);
                }
                other => assert_eq!(other, pkt_line::Packet::Flush),
            }
            rest = &rest[used..];
        }
        assert!(rest.is_empty());
        let inner = String::from_utf8(inner).unwrap();
        assert!(inner.starts_with("002dunpack pack exceeds the 1 GiB push limit\n"));
        assert!(inner.contains("ng refs/heads/main unpacker error\n"));
        assert!(inner.ends_with("0000"));
    }

    #[tokio::test]
    async fn silence_is_filled_with_keepalive_frames_and_dropping_the_reporter_ends_with_an_error()
    {
        let push = push(Ok(()), true);
        let (reporter, mut body) =
            Reporter::with_keepalive(&push.request.capabilities, Some(Duration::from_millis(20)));
        assert_eq!(body.next().await.unwrap().unwrap(), KEEPALIVE_FRAME);
        drop(reporter);
        let rest = collect(body).await;
        assert_eq!(rest[4], BAND_FATAL);
        assert!(String::from_utf8_lossy(&rest).contains("check the server log"));
    }

    #[test]
    fn long_messages_are_split_across_side_band_packets() {
        let mut out = BytesMut::new();
        encode_band(BAND_PROGRESS, &vec![b'x'; 70_000], &mut out);
        let (first, used) = pkt_line::decode(&out).unwrap().unwrap();
        assert_eq!(used, pkt_line::MAX_PKT_LEN);
        assert!(matches!(first, pkt_line::Packet::Data(p) if p[0] == BAND_PROGRESS));
        assert!(pkt_line::decode(&out[used..]).unwrap().is_some());
    }
}
