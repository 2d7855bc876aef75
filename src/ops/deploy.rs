//! The seam between the release store and whatever runs releases: the `Deployer` port,
//! and `Progress`, the line stream a deploy reports to (a `git push`, an API call).

use std::future::Future;
use std::pin::Pin;

use tokio::sync::mpsc;

use crate::store::{AppRow, ReleaseRow};
use crate::wire::ProcessInfo;

/// Where a one-off process's output lines go as they are printed.
pub type OutputSink = Box<dyn Fn(&str) + Send + Sync>;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a rollout or a convergence failed, in words for the user.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DeployError(pub String);

/// Runs releases. The scheduler implements it; `ops` hands it each new release and each
/// formation change and never looks at containers itself.
pub trait Deployer: Send + Sync + 'static {
    /// Rolls `release` out and returns once it serves, or why it could not.
    fn roll_out<'a>(
        &'a self,
        app: &'a AppRow,
        release: &'a ReleaseRow,
        progress: &'a Progress,
    ) -> BoxFuture<'a, Result<(), DeployError>>;

    /// Converges the app to its stored formation with its current release.
    fn scale<'a>(&'a self, app: &'a AppRow) -> BoxFuture<'a, Result<(), DeployError>>;

    /// Restarts the app's processes (of one type, or all) with no downtime.
    fn restart<'a>(
        &'a self,
        app: &'a AppRow,
        process_type: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), DeployError>>;

    /// Stops and removes everything the app runs and routes.
    fn destroy<'a>(&'a self, app: &'a AppRow) -> BoxFuture<'a, Result<(), DeployError>>;

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
}

/// Where a long operation reports its progress, line by line, Heroku style
/// (`-----> Releasing v7`). Dropped lines are fine: a client that went away stops nothing.
#[derive(Clone, Default)]
pub struct Progress {
    sink: Option<mpsc::UnboundedSender<String>>,
}

impl Progress {
    pub fn to(sink: mpsc::UnboundedSender<String>) -> Self {
        Progress { sink: Some(sink) }
    }

    pub fn silent() -> Self {
        Progress { sink: None }
    }

    /// A `-----> ` heading.
    pub fn step(&self, text: impl AsRef<str>) {
        self.line(format!("-----> {}", text.as_ref()));
    }

    /// An indented detail line under the last heading.
    pub fn detail(&self, text: impl AsRef<str>) {
        self.line(format!("       {}", text.as_ref()));
    }

    pub fn line(&self, text: String) {
        if let Some(sink) = &self.sink {
            let _ = sink.send(text);
        }
    }
}
