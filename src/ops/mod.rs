//! Use cases, one file per topic. Each function reads top to bottom: check input, change
//! the store in one transaction (with its audit event), then hand work to the scheduler.
//! `api/` and `web/` call these and nothing below them.

pub mod access;
pub mod addons;
pub mod apps;
pub mod autosleep;
pub mod backups;
pub mod bootstrap;
pub mod builds;
pub mod certs;
pub mod config;
pub mod cron;
pub mod deploys;
pub mod domains;
pub mod events;
pub mod git;
pub mod grants;
pub mod logs;
pub mod metrics;
pub mod nodes;
pub mod pg;
pub mod ps;
pub mod push;
pub mod releases;
pub mod reviewapps;
pub mod run;
pub mod sessions;
pub mod tokens;
pub mod users;

use std::sync::Arc;

use crate::build::Builder;
use crate::domain::{AppName, Invalid};
use crate::git::Repos;
use crate::logs::AppLogs;
use crate::settings::Settings;
use crate::store::{AppRow, Db, Store, StoreError, UserRow};

pub use crate::progress::Progress;

/// Everything a use case may touch.
#[derive(Clone)]
pub struct Platform {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub repos: Repos,
    pub scheduler: crate::scheduler::Scheduler,
    pub builder: Builder,
    pub logs: AppLogs,
    pub deploys: deploys::Deploys,
    pub login_limiter: Arc<crate::auth::LoginLimiter>,
    pub certs: crate::certs::Certs,
    pub addons: crate::addons::Addons,
}

/// The authenticated user a use case acts for.
#[derive(Debug, Clone)]
pub struct Actor(pub UserRow);

impl Actor {
    pub fn name(&self) -> &str {
        &self.0.name
    }

    pub fn is_admin(&self) -> bool {
        self.0.is_admin
    }

    pub fn require_admin(&self, what: &str) -> Result<(), OpsError> {
        if self.0.is_admin {
            Ok(())
        } else {
            Err(OpsError::Forbidden(format!(
                "only admins can {what}; ask an admin of this paas"
            )))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("app \"{0}\" not found; create it with paas apps:create {0}")]
    AppNotFound(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{message}")]
    TooManyAttempts {
        message: String,
        retry_after_secs: u64,
    },
    #[error(transparent)]
    Deploy(#[from] crate::scheduler::SchedulerError),
    /// A pushed deploy's rollout failed; the release before it keeps serving.
    #[error("deploy failed: {0}")]
    DeployFailed(crate::scheduler::SchedulerError),
    #[error("build failed: {0}")]
    Build(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Addon(#[from] crate::addons::AddonError),
    #[error(transparent)]
    Swarm(#[from] crate::runtime::SwarmError),
    #[error("{0}")]
    Internal(String),
}

/// Runs `work` on its own task and waits for it: a caller that goes away (a closed
/// connection drops the handler) does not stop it half way.
pub(crate) async fn carried_out<T, F>(work: F) -> Result<T, OpsError>
where
    F: std::future::Future<Output = Result<T, OpsError>> + Send + 'static,
    T: Send + 'static,
{
    tokio::spawn(work)
        .await
        .map_err(|e| OpsError::Internal(format!("the task stopped: {e}")))?
}

/// The app `name` as `actor` may see it; an app they cannot see does not exist for them.
pub(crate) fn visible_app(db: &Db<'_>, actor: &Actor, name: &AppName) -> Result<AppRow, OpsError> {
    db.app_for(name, &actor.0)?
        .ok_or_else(|| OpsError::AppNotFound(name.to_string()))
}

impl Platform {
    /// The app's public URL on the platform domain.
    pub fn web_url(&self, app: &AppName) -> String {
        self.settings.app_url(app)
    }
}
