//! Types of the platform's vocabulary and their validation rules: no I/O here.
//!
//! Every value that arrives from a user (an app name, a config key, a hostname, a
//! formation line) becomes one of these types at the edge, so the rest of the code can
//! trust it.

mod addon;
mod app_env;
mod app_json;
mod app_name;
mod autosleep;
mod branch_name;
mod checks;
mod checks_file;
mod config_vars;
mod cron;
mod formation;
mod heroku_yml;
mod hostname;
mod lifecycle;
mod procfile;
mod relaxed_json;
mod review_app;
mod timestamp;
mod user_name;

pub use addon::{ADDON_DATA_DIR, ADDON_PASSWORD_ENV, AddonKind, AddonName, AttachmentName};
pub use app_env::{EnvEntry, EnvPlan, review_overrides};
pub use app_json::{AppJson, AppJsonError, FormationDefault};
pub use app_name::AppName;
pub use autosleep::{Autosleep, DEFAULT_IDLE, SleepState, format_idle, parse_idle};
pub use branch_name::BranchName;
pub use checks::{Check, CheckKind, Checks, ChecksError, HttpProbe, Probe, ProcessChecks, Startup};
pub use checks_file::apply_checks_file;
pub use config_vars::{
    ConfigChange, ConfigKey, ConfigVars, MAX_CONFIG_BYTES, decode_encoded_value,
};
pub use cron::{CronJob, Schedule};
pub use formation::{ProcessType, Quantity, ResizeRequest, ScaleRequest, size_memory_mb};
pub use heroku_yml::HerokuYml;
pub use hostname::Hostname;
pub use lifecycle::{BackupState, BuildState, CertState, ReleaseState};
pub use procfile::{Procfile, ProcfileError};
pub use review_app::{BranchPattern, DEFAULT_EXPIRE_DAYS, is_expired, review_app_name};
pub use timestamp::Timestamp;
pub use user_name::UserName;

/// Why a user-supplied value was refused; the message says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Invalid(message.into())
    }
}
