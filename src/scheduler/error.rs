//! `SchedulerError`: why a rollout, a scale, a restart or a one-off process failed, in
//! words for the user. Clone, because one outcome reaches every caller following it.

use std::sync::Arc;

use crate::runtime::RuntimeError;
use crate::store::StoreError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum SchedulerError {
    /// A new process did not pass its health check (with its last output lines).
    #[error("{0}")]
    Unhealthy(String),
    /// The release phase or Dokku's predeploy script failed.
    #[error("{what} failed with {code}; v{version} was not deployed")]
    BeforeRelease {
        what: String,
        code: String,
        version: i64,
    },
    #[error("v{0} has no image to run")]
    NoImage(i64),
    #[error("{app} has no {process_type} processes to restart")]
    NoProcessType { app: String, process_type: String },
    #[error("{0} has no release to run yet; deploy it first with git push")]
    NothingToRun(String),
    #[error("could not start {dyno}: {source}")]
    Start {
        dyno: String,
        source: Arc<RuntimeError>,
    },
    #[error(transparent)]
    Runtime(Arc<RuntimeError>),
    #[error("the store: {0}")]
    Store(Arc<StoreError>),
    #[error("the server stopped before the change ended; see paas releases")]
    Stopped,
}

impl SchedulerError {
    pub(crate) fn start(dyno: impl Into<String>, e: RuntimeError) -> Self {
        SchedulerError::Start {
            dyno: dyno.into(),
            source: Arc::new(e),
        }
    }
}

impl From<RuntimeError> for SchedulerError {
    fn from(e: RuntimeError) -> Self {
        SchedulerError::Runtime(Arc::new(e))
    }
}

impl From<StoreError> for SchedulerError {
    fn from(e: StoreError) -> Self {
        SchedulerError::Store(Arc::new(e))
    }
}
