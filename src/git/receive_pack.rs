//! `POST /{app}.git/git-receive-pack`, first half: read the command list and push options,
//! stream the pack into a quarantine, and hand back a [`Push`] whose refs have not moved.
//!
//! The async side only forwards body chunks over a bounded channel; parsing, gunzip and
//! indexing run in one `spawn_blocking` task, so the pack is never whole in memory. Must
//! not move refs nor answer the client: the caller decides, then `Push::apply` and
//! `report::Reporter` finish the job.

use std::fmt::Display;
use std::io::{self, Read};
use std::path::PathBuf;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use git2::Repository;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::body::{self, BodyFailure, ChannelReader, ContentEncoding, Forwarded, ReceiveLimits};
use super::connectivity;
use super::pkt_line::PktLineError;
use super::push::Push;
use super::quarantine::Quarantine;
use super::request::{self, ProtocolError, PushRequest, RequestHead};
use super::unpack::{self, UnpackError};

/// `Content-Type` of the POST response.
pub const RESULT_CONTENT_TYPE: &str = "application/x-git-receive-pack-result";
/// `Content-Type` git sends with the POST.
pub const REQUEST_CONTENT_TYPE: &str = "application/x-git-receive-pack-request";

/// What a receive-pack POST turned out to be.
#[derive(Debug)]
pub enum Received {
    /// git's probe before a large chunked push (a body of just `0000`): answer 200 with an
    /// empty body of [`RESULT_CONTENT_TYPE`].
    Probe,
    /// A push: decide, `Push::apply`, then report with `report::Reporter`.
    Push(Push),
}

/// A request that leaves nothing to report: answer with [`ReceiveError::http_status`] and
/// the message, or nothing if the client is gone.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("repository {0} does not exist; create the app first")]
    RepositoryNotFound(PathBuf),
    #[error("bad receive-pack request: {0}")]
    Protocol(ProtocolError),
    #[error("bad receive-pack request: the body is not valid gzip ({0})")]
    Decode(io::Error),
    #[error(transparent)]
    Body(BodyFailure),
    #[error("cannot store the push: {0}")]
    Internal(String),
}

impl ReceiveError {
    /// The HTTP status that fits; 499 (client closed) when nobody is listening.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::RepositoryNotFound(_) => 404,
            Self::Protocol(_) | Self::Decode(_) => 400,
            Self::Body(BodyFailure::TooLarge(_)) => 413,
            Self::Body(BodyFailure::TimedOut(_)) => 408,
            Self::Body(BodyFailure::Disconnected(_) | BodyFailure::Abandoned) => 499,
            Self::Internal(_) => 500,
        }
    }

    fn from_protocol(error: ProtocolError) -> Self {
        match error {
            ProtocolError::PktLine(PktLineError::Io(io)) => Self::from_io(io),
            other => Self::Protocol(other),
        }
    }

    fn from_io(error: io::Error) -> Self {
        match BodyFailure::from_io(&error) {
            Some(failure) => Self::Body(failure),
            None => Self::Decode(error),
        }
    }
}

/// Reads one receive-pack request body into the repository at `repo_path`.
///
/// Dropping the returned future (client gone, server shutdown) abandons the push: the
/// blocking reader sees the channel close, and the quarantine is deleted.
pub async fn receive<S, E>(
    repo_path: impl Into<PathBuf>,
    body: S,
    encoding: ContentEncoding,
    limits: ReceiveLimits,
) -> Result<Received, ReceiveError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: Display,
{
    let repo_path = repo_path.into();
    if !tokio::fs::try_exists(repo_path.join("objects"))
        .await
        .unwrap_or(false)
    {
        return Err(ReceiveError::RepositoryNotFound(repo_path));
    }
    let deadline = Instant::now() + limits.receive_timeout;
    let (tx, rx) = mpsc::channel(body::CHANNEL_DEPTH);
    let worker_path = repo_path.clone();
    let worker = tokio::task::spawn_blocking(move || {
        let reader = body::decoded_reader(ChannelReader::new(rx), encoding, limits.max_push_bytes);
        receive_blocking(worker_path, reader)
    });
    let mut body = std::pin::pin!(body);
    let forwarded = body::forward(body.as_mut(), &tx, deadline, limits.receive_timeout).await;
    drop(tx);
    let result = worker
        .await
        .map_err(|join| ReceiveError::Internal(format!("the receive task failed: {join}")))?;
    if forwarded == Forwarded::ReaderStopped && pack_too_large(&result) {
        // The client is still sending; curl reads the answer only once its body is sent,
        // so the rest is read and thrown away (until the deadline: it costs bandwidth, no
        // disk or memory) and git shows the limit instead of "broken pipe".
        drain(body, deadline).await;
    }
    result
}

fn pack_too_large(result: &Result<Received, ReceiveError>) -> bool {
    match result {
        Ok(Received::Push(push)) => push
            .unpack_error()
            .is_some_and(|e| e.contains("push limit")),
        _ => false,
    }
}

async fn drain<S, E>(mut body: std::pin::Pin<&mut S>, deadline: Instant)
where
    S: Stream<Item = Result<Bytes, E>> + ?Sized,
{
    while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, body.next()).await {}
}

fn receive_blocking(
    repo_path: PathBuf,
    mut reader: impl io::BufRead,
) -> Result<Received, ReceiveError> {
    let request = match request::read_request_head(&mut reader) {
        Ok(RequestHead::Probe) => {
            expect_end(&mut reader)?;
            return Ok(Received::Probe);
        }
        Ok(RequestHead::Push(request)) => request,
        Err(error) => return Err(ReceiveError::from_protocol(error)),
    };
    let commands = request.commands.len();
    if !request.expects_pack() {
        expect_end(&mut reader)?;
        let push = Push::new(repo_path, request, Ok(None), vec![None; commands]);
        return Ok(Received::Push(push));
    }
    let quarantine = match unpack::index_pack(&repo_path, &mut reader) {
        Ok(quarantine) => quarantine,
        Err(UnpackError::Body(failure)) if failure.client_gone() => {
            return Err(ReceiveError::Body(failure));
        }
        Err(error) => {
            tracing::info!(repo = %repo_path.display(), %error, "push refused while unpacking");
            let push = Push::new(repo_path, request, Err(error.to_string()), vec![]);
            return Ok(Received::Push(push));
        }
    };
    let tips = check_tips(&quarantine, &request)?;
    Ok(Received::Push(Push::new(
        repo_path,
        request,
        Ok(Some(quarantine)),
        tips,
    )))
}

fn check_tips(
    quarantine: &Quarantine,
    request: &PushRequest,
) -> Result<Vec<Option<String>>, ReceiveError> {
    let internal = |e: String| ReceiveError::Internal(e);
    let repo = Repository::open_bare(quarantine.repo_path())
        .map_err(|e| internal(e.message().to_owned()))?;
    let view = quarantine
        .open_repository()
        .map_err(|e| internal(e.to_string()))?;
    connectivity::check_pushed_tips(&repo, &view, &request.commands)
        .map_err(|e| internal(e.message().to_owned()))
}

/// The body must end here; extra bytes mean a confused or hostile client.
fn expect_end(reader: &mut impl Read) -> Result<(), ReceiveError> {
    let mut byte = [0u8; 1];
    loop {
        return match reader.read(&mut byte) {
            Ok(0) => Ok(()),
            Ok(_) => Err(ReceiveError::Protocol(ProtocolError::UnexpectedPack)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Err(ReceiveError::from_io(e)),
        };
    }
}
