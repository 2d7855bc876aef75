//! Add-on services (twelve-factor IV, backing services as attached resources): runs each
//! add-on's container, tells whether it is up by its own protocol, follows its log lines
//! into the logs of the apps it is attached to, and takes and restores its backups. The
//! store's rows say what should exist; `ops/addons.rs` decides, this module does.
//!
//! health.rs   protocol probes (Postgres startup message, Redis PING)
//! backups.rs  pg_dump / pg_restore in one-off containers of the add-on's image, streamed
//!             to and from `DATA/backups/APP/ID.dump` with a SHA-256

pub mod backups;
mod health;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::domain::AddonName;
use crate::logs::{AppLogs, LogEntry, Source};
use crate::runtime::{AddonContainer, AddonContainerSpec, Docker, RuntimeError};
use crate::store::AddonRow;

pub use health::Probe;

#[derive(Debug, thiserror::Error)]
pub enum AddonError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Tool(String),
    #[error("{name} did not answer within {}s: {reason}; see paas logs --source addon", .waited.as_secs())]
    NotUp {
        name: String,
        waited: Duration,
        reason: String,
    },
}

/// What `paas addons` shows of an add-on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddonState {
    Starting,
    Up,
    Crashed,
    /// Its container is gone (removed outside paas).
    Missing,
}

impl AddonState {
    pub fn as_str(self) -> &'static str {
        match self {
            AddonState::Starting => "starting",
            AddonState::Up => "up",
            AddonState::Crashed => "crashed",
            AddonState::Missing => "missing",
        }
    }
}

#[derive(Debug, Clone)]
pub struct AddonStatus {
    pub state: AddonState,
    /// Why it is not up: the engine's state and its last log line.
    pub reason: Option<String>,
    pub started_at: Option<i64>,
    pub restarts: i64,
    /// Bytes of its data on disk.
    pub bytes: Option<u64>,
}

/// The add-on services of this server.
#[derive(Clone)]
pub struct Addons {
    docker: Docker,
    logs: AppLogs,
    backups_dir: PathBuf,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    /// The apps each followed add-on's log lines go to.
    followed: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

/// How long a probe waits for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl Addons {
    pub fn new(
        docker: Docker,
        logs: AppLogs,
        backups_dir: PathBuf,
        shutdown: CancellationToken,
    ) -> Self {
        Addons {
            docker,
            logs,
            backups_dir,
            tasks: TaskTracker::new(),
            shutdown,
            followed: Arc::default(),
        }
    }

    /// Waits for the log followers to stop (after the shutdown token fired).
    pub async fn join(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Starts `addon`'s container from `image` on the networks of `apps` (its owner
    /// first), and follows its log into theirs.
    pub async fn start(
        &self,
        addon: &AddonRow,
        image: &str,
        apps: &[String],
    ) -> Result<(), AddonError> {
        self.docker
            .start_addon(AddonContainerSpec {
                name: addon.name.as_str(),
                kind: addon.kind.as_str(),
                image,
                password: &addon.password,
                memory_mb: addon.memory_mb,
                apps,
            })
            .await?;
        self.follow(addon.name.as_str(), apps.to_vec());
        Ok(())
    }

    /// Waits until the add-on answers its protocol; how long that took.
    pub async fn wait_up(
        &self,
        addon: &AddonRow,
        within: Duration,
    ) -> Result<Duration, AddonError> {
        let started = Instant::now();
        let mut last = "it has not started".to_owned();
        while started.elapsed() < within {
            match self.probe(addon).await? {
                Probe::Up => return Ok(started.elapsed()),
                Probe::Starting => last = "it is still starting".to_owned(),
                Probe::Down(reason) => last = reason,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(AddonError::NotUp {
            name: addon.name.to_string(),
            waited: within,
            reason: last,
        })
    }

    async fn probe(&self, addon: &AddonRow) -> Result<Probe, AddonError> {
        match self.docker.addon_container(addon.name.as_str()).await? {
            Some(container) => Ok(probe_container(addon, &container).await),
            None => Ok(Probe::Down("its container is gone".to_owned())),
        }
    }

    /// Its state as `paas addons` shows it, with the size of its data.
    pub async fn status(&self, addon: &AddonRow) -> Result<AddonStatus, AddonError> {
        let name = addon.name.as_str();
        let Some(container) = self.docker.addon_container(name).await? else {
            return Ok(AddonStatus {
                state: AddonState::Missing,
                reason: Some("its container was removed outside paas; destroy the add-on and create it again, then restore a backup".to_owned()),
                started_at: None,
                restarts: 0,
                bytes: self.docker.addon_volume_bytes(name).await?,
            });
        };
        let (state, reason) = if container.is_running() {
            match probe_container(addon, &container).await {
                Probe::Up => (AddonState::Up, None),
                Probe::Starting => (AddonState::Starting, None),
                Probe::Down(reason) => (AddonState::Starting, Some(reason)),
            }
        } else {
            (
                AddonState::Crashed,
                Some(self.crash_reason(&container).await),
            )
        };
        Ok(AddonStatus {
            state,
            reason,
            started_at: container.started_at,
            restarts: container.restart_count,
            bytes: self.docker.addon_volume_bytes(name).await?,
        })
    }

    /// The engine's word for it, the exit code, and its last log line.
    async fn crash_reason(&self, container: &AddonContainer) -> String {
        let mut lines = self.docker.follow_logs(&container.id, 0, false);
        let mut last = None;
        while let Some(Ok(line)) = lines.next().await {
            if !line.text.trim().is_empty() {
                last = Some(line.text);
            }
        }
        let mut reason = format!(
            "{} (exit {})",
            container.status,
            container.exit_code.unwrap_or(-1)
        );
        if container.oom_killed {
            reason.push_str(", out of memory");
        }
        if let Some(last) = last {
            reason.push_str(": ");
            reason.push_str(last.trim());
        }
        reason
    }

    /// The URL attached apps get: the add-on's name is its host name on their networks.
    pub fn url(addon: &AddonRow) -> String {
        addon.kind.url(addon.name.as_str(), &addon.password)
    }

    pub async fn attach_app(&self, addon: &AddonName, app: &str) -> Result<(), AddonError> {
        self.docker.connect_addon(addon.as_str(), app).await?;
        let mut followed = self.followed.lock().unwrap_or_else(|p| p.into_inner());
        let apps = followed.entry(addon.to_string()).or_default();
        if !apps.iter().any(|a| a == app) {
            apps.push(app.to_owned());
        }
        Ok(())
    }

    pub async fn detach_app(&self, addon: &AddonName, app: &str) -> Result<(), AddonError> {
        self.docker.disconnect_addon(addon.as_str(), app).await?;
        if let Some(apps) = self
            .followed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(addon.as_str())
        {
            apps.retain(|a| a != app);
        }
        Ok(())
    }

    /// Removes its container and its data.
    pub async fn remove(&self, addon: &AddonName) -> Result<(), AddonError> {
        self.followed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(addon.as_str());
        Ok(self.docker.remove_addon(addon.as_str(), true).await?)
    }

    /// Restarts its container (`paas addons:restart`); the data stays.
    pub async fn restart(&self, addon: &AddonName) -> Result<(), AddonError> {
        Ok(self.docker.restart_addon(addon.as_str()).await?)
    }

    /// After a server start: follows the log of every add-on that still runs. Their
    /// containers were never stopped (the engine restarts them, not paas).
    pub async fn adopt(&self, addons: &[(AddonRow, Vec<String>)]) {
        for (addon, apps) in addons {
            match self.docker.addon_container(addon.name.as_str()).await {
                Ok(Some(_)) => self.follow(addon.name.as_str(), apps.clone()),
                Ok(None) => {
                    tracing::warn!(addon = %addon.name, "an add-on's container is gone; paas addons shows it as missing")
                }
                Err(e) => tracing::warn!(addon = %addon.name, error = %e, "cannot adopt an add-on"),
            }
        }
    }

    /// Copies its container's output into the logs of `apps`, from now on, across
    /// restarts of the container, until it is removed or the server stops.
    fn follow(&self, addon: &str, apps: Vec<String>) {
        {
            let mut followed = self.followed.lock().unwrap_or_else(|p| p.into_inner());
            if followed.contains_key(addon) {
                followed.insert(addon.to_owned(), apps);
                return;
            }
            followed.insert(addon.to_owned(), apps);
        }
        let (me, addon) = (self.clone(), addon.to_owned());
        self.tasks.spawn(async move {
            let mut since = crate::domain::Timestamp::now().0;
            loop {
                let container = match me.docker.addon_container(&addon).await {
                    Ok(Some(c)) => c,
                    _ => break,
                };
                let mut lines = me.docker.follow_logs(&container.id, since, true);
                loop {
                    let next = tokio::select! {
                        next = lines.next() => next,
                        () = me.shutdown.cancelled() => return,
                    };
                    let Some(Ok(line)) = next else { break };
                    // The engine's `since` is inclusive: the second already seen comes twice.
                    since = line.at + 1;
                    let apps = me
                        .followed
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(&addon)
                        .cloned();
                    let Some(apps) = apps else { return };
                    for app in apps {
                        me.logs.push(
                            &app,
                            LogEntry {
                                at: line.at,
                                source: Source::Addon,
                                dyno: addon.clone(),
                                text: line.text.clone(),
                            },
                        );
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = me.shutdown.cancelled() => return,
                }
            }
        });
    }

    pub fn backups_dir(&self) -> &std::path::Path {
        &self.backups_dir
    }
}

async fn probe_container(addon: &AddonRow, container: &AddonContainer) -> Probe {
    let Some(ip) = container.addresses.values().next() else {
        return Probe::Down(format!("it is {}", container.status));
    };
    let addr = SocketAddr::new(*ip, addon.kind.port());
    health::probe(addon.kind, addr, PROBE_TIMEOUT).await
}
