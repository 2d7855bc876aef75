//! The seam between the release store and whatever runs releases: the `Deployer` port.
//! `Progress`, the line stream a deploy reports to, lives in `crate::progress` (re-exported
//! here for the callers that name it through ops).

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use tokio::io::AsyncWrite;
use tokio::sync::{mpsc, oneshot};

pub use crate::progress::Progress;
use crate::scheduler::{Change, Ticket};
use crate::store::AppRow;
use crate::wire::{ProcessInfo, TermSize};

/// Where a one-off process's output lines go as they are printed.
pub type OutputSink = Box<dyn Fn(&str) + Send + Sync>;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Output of an attached one-off process; with a terminal, everything is `Stdout`.
pub enum RunOutput {
    Stdout(Bytes),
    Stderr(Bytes),
}

/// A one-off process attached to its caller (`paas run` from a terminal or a pipe).
/// Dropping it before the process ended stops the process: nobody is left to talk to it.
pub struct RunSession {
    pub dyno: String,
    pub input: Pin<Box<dyn AsyncWrite + Send>>,
    /// Ends when the process closed its output.
    pub output: BoxStream<'static, RunOutput>,
    /// Bounded: resizes that do not fit are dropped.
    pub resize: mpsc::Sender<TermSize>,
    /// The exit code once the process ended and was removed (None: no code known).
    /// Dropping it before then stops the process.
    pub exit: oneshot::Receiver<Option<i64>>,
}

/// Why a rollout or a convergence failed, in words for the user.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DeployError(pub String);

/// Runs releases. The scheduler implements it; `ops` hands it each new release and each
/// formation change and never looks at containers itself.
pub trait Deployer: Send + Sync + 'static {
    /// Hands a change already committed to the store to the app's reconciler, which
    /// carries it out whether or not the caller follows the ticket.
    fn submit(&self, app: &AppRow, change: Change) -> Ticket;

    /// The lines so far of release `version`'s rollout, while it is in progress.
    fn rollout_lines(&self, app: &str, version: i64) -> Option<Vec<String>>;

    /// Makes what a new app's processes need (its own network), before it is created.
    fn prepare<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<(), DeployError>>;

    /// Domains changed: publish the routes again.
    fn routes_changed(&self) -> BoxFuture<'_, ()>;

    /// Every process of the app and its state, for `paas ps`.
    fn processes(&self, app: &str) -> Vec<ProcessInfo>;

    /// Runs `command` once with the current release's image and environment. With
    /// `output`, waits and returns the exit code; without, returns once it started.
    fn run<'a>(
        &'a self,
        app: &'a AppRow,
        command: &'a str,
        output: Option<OutputSink>,
    ) -> BoxFuture<'a, Result<(String, Option<i64>), DeployError>>;

    /// Starts `command` once, like `run`, with its stdin and output handed to the caller
    /// and, given a size, a terminal.
    fn attach<'a>(
        &'a self,
        app: &'a AppRow,
        command: &'a str,
        terminal: Option<TermSize>,
    ) -> BoxFuture<'a, Result<RunSession, DeployError>>;
}
