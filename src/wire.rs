//! The JSON shapes of the HTTP API, shared by `api/`, `web/` and `cli/`.
//!
//! Plain data only: times are RFC 3339 strings, versions are numbers (`v` is added for
//! display), and nothing here knows about the store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod metrics;
mod nodes;

pub use metrics::{
    AppMetrics, MetricsPoint, MetricsTotals, Percentiles, ProcessMetrics, StatusCounts,
};
pub use nodes::{NodeInfo, NodeJoin, SwarmInit, SwarmInitialized};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    pub user: String,
    pub password: String,
    #[serde(default)]
    pub token_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WhoAmI {
    pub name: String,
    pub admin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateApp {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppInfo {
    pub name: String,
    pub owner: String,
    pub created_at: String,
    pub web_url: String,
    pub deploy_branch: String,
    pub current_release: Option<i64>,
    pub domains: Vec<String>,
    pub members: Vec<String>,
    #[serde(default)]
    pub maintenance: bool,
    /// The parent, for a review app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_app_of: Option<String>,
}

/// `PATCH /apps/{app}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateApp {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_branch: Option<String>,
}

/// `PATCH /config`: a string sets a key, `null` removes it.
pub type ConfigPatch = BTreeMap<String, Option<String>>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigUpdated {
    pub vars: BTreeMap<String, String>,
    /// The release the change made; none for platform-wide vars.
    pub release: Option<ReleaseInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseInfo {
    pub version: i64,
    pub description: String,
    pub author: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_detail: Option<String>,
    pub created_at: String,
    pub commit: Option<String>,
    pub build_id: Option<i64>,
    pub current: bool,
    /// The release's app config; only in single-release answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, String>>,
    /// The lines of its rollout so far, while it is rolling out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollout: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RollbackRequest {
    /// Target version; none means the release before the current one.
    #[serde(default)]
    pub version: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FormationEntry {
    pub process_type: String,
    pub quantity: u32,
    pub memory_mb: u32,
    /// The command, once a build has declared this process type.
    pub command: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FormationPatch {
    #[serde(default)]
    pub quantities: BTreeMap<String, u32>,
    /// Memory limits in MiB; the types named are restarted to apply them.
    #[serde(default)]
    pub memory_mb: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DomainInfo {
    pub hostname: String,
    pub app: String,
    pub created_at: String,
    /// What to point at the platform: the DNS record to create.
    pub dns_hint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddDomain {
    pub hostname: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberRequest {
    pub user: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub admin: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateUser {
    pub name: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub admin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedUser {
    pub user: UserInfo,
    /// Set when the server chose the password; shown once.
    pub generated_password: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetPassword {
    pub password: String,
    /// Needed to change one's own password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_password: Option<String>,
    /// Also revoke every API token of the user.
    #[serde(default)]
    pub revoke_tokens: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub user: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateToken {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedToken {
    pub id: i64,
    pub name: String,
    /// The secret; the server keeps only its hash.
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventInfo {
    pub at: String,
    pub actor: String,
    pub app: Option<String>,
    pub action: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// `web.2`
    pub dyno: String,
    pub process_type: String,
    /// starting, up, crashed, stopping
    pub state: String,
    pub exit_code: Option<i64>,
    pub release: i64,
    pub started_at: Option<String>,
    pub restarts: u32,
    /// The swarm node it runs on (`PAAS_SCHEDULER=swarm`); absent on one host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// An app's autosleep setting and whether it sleeps now (`ps:autosleep`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AutosleepInfo {
    pub enabled: bool,
    /// Idle time before it sleeps, as `30m` (when enabled).
    pub after: Option<String>,
    /// Process types that keep running while it sleeps.
    pub keep: Vec<String>,
    /// awake, sleeping, or crashed (its last wake failed: see `note`).
    pub state: String,
    pub note: Option<String>,
    /// When the state last changed.
    pub since: Option<String>,
}

/// `reviewapps`: the parent's setting (none until enabled once) and its review apps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewApps {
    pub settings: Option<ReviewAppSettings>,
    pub apps: Vec<ReviewAppInfo>,
}

/// `PUT /api/v1/apps/{app}/reviewapps` (enable) answers with this too, as set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReviewAppSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A glob on branch names; `*` (any branch but the deploy branch) when left out.
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub copy_addons: bool,
    /// Days without a push before a review app is destroyed (5 when left out).
    #[serde(default)]
    pub expire_days: Option<u32>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewAppInfo {
    pub name: String,
    pub branch: String,
    pub web_url: String,
    pub last_push_at: String,
}

/// `PUT /api/v1/apps/{app}/autosleep`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AutosleepPatch {
    pub enabled: bool,
    /// `30m`, `2h`, `90s`; the default (30m) when left out.
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub keep: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRequest {
    pub command: String,
    #[serde(default)]
    pub detach: bool,
}

/// One line of a `paas run` answer stream (newline-delimited JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunEvent {
    Started { dyno: String },
    Output { line: String },
    Exited { code: i64 },
    Failed { error: String },
}

/// `GET /apps/{app}/run/attach`, a WebSocket: the client's first text message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunAttach {
    pub command: String,
    /// The caller's terminal: the process gets one of this size. None: plain pipes.
    #[serde(default)]
    pub terminal: Option<TermSize>,
    /// Run an add-on's client (`pg:psql`, `redis:cli`) instead of `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addon: Option<AddonClient>,
}

/// `paas pg:psql [ADDON]` / `paas redis:cli [ADDON]`: which client, against which add-on
/// (an add-on or attachment name; the app's default one when not given).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddonClient {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A terminal's size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermSize {
    pub cols: u16,
    pub rows: u16,
}

/// A text message from the client of an attached run, after the first. Binary messages
/// are the process's stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunControl {
    /// The caller's terminal was resized.
    Resize(TermSize),
    /// The caller's stdin ended: the process's stdin closes.
    Eof,
}

/// The first byte of a binary message from the server of an attached run: which stream
/// the rest came from. Text messages from the server are [`RunEvent`]s.
pub const RUN_STDOUT: u8 = 1;
pub const RUN_STDERR: u8 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildInfo {
    pub id: i64,
    pub commit: String,
    pub state: String,
    pub state_detail: Option<String>,
    pub buildpack: Option<String>,
    pub image: Option<String>,
    pub image_size: Option<i64>,
    pub process_types: BTreeMap<String, String>,
    pub author: String,
    pub created_at: String,
    pub duration_secs: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

/// A hostname of an app and the certificate serving it (`paas certs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertInfo {
    pub hostname: String,
    /// `acme`, `user`, `self-signed` or `none`.
    pub source: String,
    /// `pending`, `valid` or `failed`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub issuer: Option<String>,
    pub expires_at: Option<String>,
    /// The id of a certificate the user added, for `paas certs:remove`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
}

/// `paas certs:add`: a PEM chain (leaf first) and its PEM private key.
#[derive(Clone, Serialize, Deserialize)]
pub struct AddCert {
    pub certificate: String,
    pub key: String,
}

impl std::fmt::Debug for AddCert {
    /// The key never reaches a log, not even through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddCert").finish_non_exhaustive()
    }
}

/// An app's HTTPS choices (`paas domains:https-only`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpsInfo {
    /// Plain HTTP is redirected to HTTPS with a 308.
    pub https_only: bool,
    /// `Strict-Transport-Security: max-age=N` on HTTPS responses.
    #[serde(default)]
    pub hsts_max_age: Option<u32>,
}

/// `GET /apps/{app}/addons`, `GET /addons/{name}`: an add-on as its apps see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddonInfo {
    pub name: String,
    pub kind: String,
    pub version: String,
    /// `starting`, `up`, `crashed`, `missing`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The app it was made for (its owner).
    pub app: String,
    pub attachments: Vec<AttachmentInfo>,
    pub created_at: String,
    pub memory_mb: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default)]
    pub restarts: i64,
    /// `HH:MM` UTC of the daily backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttachmentInfo {
    pub app: String,
    /// `DATABASE`: the app reads `DATABASE_URL`.
    pub name: String,
    pub config_var: String,
}

/// `POST /apps/{app}/addons`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateAddon {
    pub kind: String,
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub attach_as: Option<String>,
}

/// `POST /apps/{app}/addons/{name}/attachments`: attach an add-on to this app.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AttachAddon {
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub attach_as: Option<String>,
}

/// What creating, attaching or detaching did: the add-on and the release it made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddonChanged {
    pub addon: AddonInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupInfo {
    pub id: i64,
    pub addon: String,
    /// `running`, `succeeded`, `failed`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `manual`, `scheduled`, `destroy`.
    pub trigger: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// `PUT /apps/{app}/addons/{name}/backups/schedule`: `HH:MM` UTC daily, or null for none.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupSchedule {
    pub at: Option<String>,
}

/// `paas pg:info`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PgInfo {
    pub addon: String,
    pub server_version: String,
    pub database_bytes: i64,
    pub connections: i64,
    pub max_connections: i64,
    pub tables: i64,
}

/// `paas pg:ps`: one query running now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PgProcess {
    pub pid: i64,
    pub user: String,
    pub state: String,
    /// Seconds since the query started.
    pub seconds: f64,
    pub query: String,
}

/// `GET /apps/{app}/cron`: one of the current release's app.json cron jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CronJobInfo {
    /// `cron:run ID`, and the `cron[ID]` of its log lines.
    pub id: String,
    pub schedule: String,
    pub command: String,
    /// The next time of the schedule (UTC); none if it never comes or is suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<String>,
    /// In maintenance (app.json's `"maintenance": true`): never run.
    #[serde(default)]
    pub suspended: bool,
    pub running: bool,
    /// The newest run, going or ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<CronRunInfo>,
    /// The job's kept runs, newest first.
    #[serde(default)]
    pub runs: Vec<CronRunInfo>,
}

/// One run of a cron job; `POST /apps/{app}/cron/{id}/run` answers with the one it started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CronRunInfo {
    pub id: i64,
    pub job: String,
    /// `schedule` or `manual`.
    pub trigger: String,
    pub release: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<String>,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// Why it ended without an exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
