//! `git push paas main` over smart HTTP, below the handlers: which repository a URL names
//! for the pusher, the ref advertisement, the receive-pack body read into a quarantine, and
//! the deploy of a received push spawned with its side-band report.
//!
//! `api/git.rs` only authenticates, extracts and maps a [`GitError`] to a status; which ref
//! updates are allowed and the deploy pipeline are `ops/push.rs`. Must not know HTTP types.

use std::fmt::Display;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;

use crate::domain::{AppName, Invalid};
use crate::git::advertisement::{self, AdvertisementError};
use crate::git::body::{ContentEncoding, ReceiveLimits, UnsupportedEncoding};
use crate::git::push::Push;
use crate::git::receive_pack::{self, ReceiveError, Received};
use crate::git::report::{Reporter, ResponseBody};
use crate::store::AppRow;

use super::{Actor, OpsError, Platform, Progress, apps, push};

pub use crate::git::advertisement::{ADVERTISEMENT_CONTENT_TYPE, NO_CACHE_HEADERS};
pub use crate::git::receive_pack::RESULT_CONTENT_TYPE;

/// Why a git request gets no advertisement or no report; the handler picks the status.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// `info/refs` for a service other than `git-receive-pack` (a fetch or a clone).
    #[error(
        "paas accepts git push only (git-receive-pack); the app's code lives in your own repository"
    )]
    OnlyReceivePack,
    /// The path does not end in `.git`.
    #[error("no repository {0}; the git URL ends in /APP.git")]
    NotARepository(String),
    /// `NAME.git` whose NAME is no app name.
    #[error(transparent)]
    AppName(Invalid),
    /// Finding the app failed: `OpsError::AppNotFound` when the pusher cannot see it.
    #[error(transparent)]
    App(OpsError),
    /// The app exists but its bare repository does not.
    #[error(transparent)]
    MissingRepository(AdvertisementError),
    #[error(transparent)]
    Advertisement(AdvertisementError),
    #[error(transparent)]
    Encoding(UnsupportedEncoding),
    /// The body could not become a push; `ReceiveError::http_status` fits it.
    #[error(transparent)]
    Receive(ReceiveError),
}

/// What a receive-pack POST gets back when it is read.
pub enum Receipt {
    /// git's probe before a large chunked push: an empty body of [`RESULT_CONTENT_TYPE`].
    Probe,
    /// A push: the response body of [`RESULT_CONTENT_TYPE`], streaming the deploy's
    /// `remote:` lines, then the report-status.
    Report(ResponseBody),
}

/// `myapp.git` -> the app, as `actor` may see it.
async fn find_app(p: &Platform, actor: &Actor, repo: &str) -> Result<AppRow, GitError> {
    let name = repo
        .strip_suffix(".git")
        .ok_or_else(|| GitError::NotARepository(repo.to_owned()))?;
    let name = AppName::parse(name).map_err(GitError::AppName)?;
    apps::find(p, actor, &name).await.map_err(GitError::App)
}

/// The ref advertisement of `GET /{repo}/info/refs?{query}`: receive-pack only, of an app
/// the pusher may see.
pub async fn advertise(
    p: &Platform,
    actor: &Actor,
    repo: &str,
    query: Option<&str>,
) -> Result<Bytes, GitError> {
    let wanted = format!("service={}", advertisement::RECEIVE_PACK_SERVICE);
    if !query
        .unwrap_or_default()
        .split('&')
        .any(|pair| pair == wanted)
    {
        return Err(GitError::OnlyReceivePack);
    }
    let app = find_app(p, actor, repo).await?;
    advertisement::advertise_receive_pack(p.repos.path(&app.name))
        .await
        .map_err(|e| match e {
            AdvertisementError::NotFound(_) => GitError::MissingRepository(e),
            other => GitError::Advertisement(other),
        })
}

/// Reads the body of `POST /{repo}/git-receive-pack` (sent with `content_encoding`) into a
/// quarantine within the push limits; a push's deploy then runs on its own task, so a
/// pusher that goes away stops seeing lines but the deploy goes on.
///
/// Dropping the returned future before it is ready abandons the push (nothing is kept).
pub async fn receive<S, E>(
    p: Platform,
    actor: Actor,
    repo: &str,
    content_encoding: Option<&str>,
    body: S,
) -> Result<Receipt, GitError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: Display,
{
    let app = find_app(&p, &actor, repo).await?;
    let encoding = ContentEncoding::from_header(content_encoding).map_err(GitError::Encoding)?;
    let limits = ReceiveLimits {
        max_push_bytes: p.settings.max_push_bytes,
        receive_timeout: Duration::from_secs(p.settings.push_timeout),
    };
    let received = receive_pack::receive(p.repos.path(&app.name), body, encoding, limits)
        .await
        .map_err(GitError::Receive)?;
    match received {
        Received::Probe => Ok(Receipt::Probe),
        Received::Push(pushed) => {
            let (reporter, body) = Reporter::new(&pushed.request.capabilities);
            p.deploys
                .spawn(deploy(p.clone(), actor, app, pushed, reporter));
            Ok(Receipt::Report(body))
        }
    }
}

/// Decides every command of a received push and runs the deploy pipeline for the deploy
/// branch (ops/push.rs), streaming its lines as side-band `remote:` lines; then moves the
/// refs that survived and reports to the pusher.
async fn deploy(p: Platform, actor: Actor, app: AppRow, mut pushed: Push, reporter: Reporter) {
    let sideband = reporter.progress();
    // Bounded: a pusher slower than the build loses lines (and is told how many), the
    // server's memory does not grow with a build's output.
    let (progress, mut rx) = Progress::channel();
    let forward = tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            // A pusher that went away stops seeing lines; the deploy goes on.
            let _ = sideband.line(&line).await;
        }
    });
    // The deploy lock is held until the ref has moved: the next push must see it moved.
    let deploy_lock = push::decide(&p, &actor, &app, &mut pushed, &progress).await;
    drop(progress);
    let _ = forward.await;
    pushed.apply().await;
    drop(deploy_lock);
    let _ = reporter.finish(&pushed).await;
}
