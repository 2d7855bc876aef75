//! The container engine: the only module that uses bollard.
//!
//! `Docker` speaks to one Docker engine. The scheduler sees it through the [`Runtime`]
//! trait (instances of process types, their endpoints, logs and deaths), so a multi-host
//! backend can come without the scheduler knowing hosts; its engine layer, a release's
//! process types as Swarm services, is `swarm_services.rs` (the specs it sends and what it
//! reads back: `swarm_service_spec.rs`). Builds use the image and build-container calls
//! directly: they need one engine's image store.

mod addons;
mod attach;
mod build_container;
mod buildkit;
mod containers;
mod docker_runtime;
mod events;
pub mod firewall;
mod images;
mod logs;
pub mod networks;
mod stats;
mod swarm;
mod swarm_runtime;
mod swarm_service_spec;
mod swarm_services;
mod swarm_task_list;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::stream::BoxStream;

pub use addons::{AddonContainer, AddonContainerSpec};
pub use attach::{Attached, OutputStream};
pub use build_container::{BuildContainer, BuildContainerSpec};
pub use containers::{Instance, InstanceState, ProcessKind, ProcessSpec};
pub use events::InstanceEvent;
pub use images::{ImageBuild, ImageInfo};
pub use logs::{LogLine, LogStream};
pub use networks::{Ipv4Net, SubnetPool};
pub use stats::ProcessStats;
pub use swarm::{Availability, NodeRole, SwarmError, SwarmJoin, SwarmNode};
pub use swarm_runtime::{SwarmRuntime, SwarmRuntimeSettings};
pub use swarm_service_spec::{
    ReleaseService, ReleaseServiceSpec, ServiceTask, overlay_name, service_name,
};
pub use swarm_services::{SwarmServiceError, SwarmServices};

use futures_util::future::BoxFuture;

/// Labels every paas container carries; adoption after a restart reads them back.
pub mod labels {
    /// Its value is the server instance's id: a server adopts and cleans up only its own.
    pub const MANAGED: &str = "paas.managed";
    pub const APP: &str = "paas.app";
    pub const RELEASE: &str = "paas.release";
    pub const PROCESS: &str = "paas.process";
    pub const INDEX: &str = "paas.index";
    pub const KIND: &str = "paas.kind";
    pub const BUILD: &str = "paas.build";
    pub const COMMIT: &str = "paas.commit";
    pub const PROCESS_TYPES: &str = "paas.process-types";
    /// A Swarm service's process type (`web`).
    pub const TYPE: &str = "paas.type";
    /// A Swarm service's server instance id (as `paas.managed`).
    pub const INSTANCE: &str = "paas.instance";
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "cannot reach the Docker engine at {host}: {detail}; is the Docker engine running? (PAAS_DOCKER_HOST={host})"
    )]
    Unreachable { host: String, detail: String },
    #[error("image {0} is not in the Docker engine")]
    ImageMissing(String),
    #[error("container {0} not found")]
    ContainerMissing(String),
    #[error("{0} is no longer wanted: its service has fewer tasks now")]
    Gone(String),
    #[error("Docker engine: {0}")]
    Engine(String),
    #[error("{0}")]
    Stream(String),
    #[error(
        "no free /{prefix} subnet is left in PAAS_APP_SUBNETS={pool} ({capacity} app networks); give a larger pool or a longer PAAS_APP_SUBNET_PREFIX"
    )]
    NetworkPoolFull {
        pool: String,
        prefix: u8,
        capacity: u64,
    },
}

impl RuntimeError {
    /// Sorts an engine error: the engine's own refusals keep its message; failing to reach
    /// it at all names the host and the likely fix.
    fn from_bollard(host: &str, e: bollard::errors::Error) -> Self {
        use bollard::errors::Error as B;
        match e {
            B::DockerResponseServerError {
                status_code: 404,
                message,
            } => RuntimeError::Engine(format!("not found: {message}")),
            B::DockerResponseServerError { message, .. } => RuntimeError::Engine(message),
            B::DockerStreamError { error } => RuntimeError::Stream(error),
            B::IOError { .. }
            | B::HyperLegacyError { .. }
            | B::HyperResponseError { .. }
            | B::SocketNotFoundError(_)
            | B::RequestTimeoutError => RuntimeError::Unreachable {
                host: host.to_owned(),
                detail: e.to_string(),
            },
            other => RuntimeError::Engine(other.to_string()),
        }
    }

    fn is_not_found(e: &bollard::errors::Error) -> bool {
        matches!(
            e,
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            }
        )
    }
}

/// One Docker engine, and the networks of the apps on it.
#[derive(Clone)]
pub struct Docker {
    api: bollard::Docker,
    host: String,
    instance: String,
    /// Where app networks get their subnets.
    pool: SubnetPool,
    /// App networks known to exist (checked with the engine once per server run).
    networks: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// Held while an app network is made, so two never pick the same subnet.
    network_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Set once the engine refused a BuildKit build: later builds go straight to the
    /// classic builder.
    buildkit_refused: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Engine calls rarely take long, but image imports and builds stream for minutes.
const ENGINE_TIMEOUT_SECS: u64 = 3600;

impl Docker {
    /// Connects to `host` (`unix:///var/run/docker.sock` when none) and agrees on an API
    /// version the engine speaks; app networks take their subnets from `pool`.
    pub async fn connect(
        host: Option<&str>,
        instance: &str,
        pool: SubnetPool,
    ) -> Result<Docker, RuntimeError> {
        let shown = host.unwrap_or("unix:///var/run/docker.sock").to_owned();
        let unreachable = |detail: String| RuntimeError::Unreachable {
            host: shown.clone(),
            detail,
        };
        let api = match host {
            Some(h) if h.starts_with("tcp://") || h.starts_with("http://") => {
                bollard::Docker::connect_with_http(
                    h,
                    ENGINE_TIMEOUT_SECS,
                    bollard::API_DEFAULT_VERSION,
                )
            }
            Some(h) => bollard::Docker::connect_with_unix(
                h,
                ENGINE_TIMEOUT_SECS,
                bollard::API_DEFAULT_VERSION,
            ),
            None => bollard::Docker::connect_with_unix(
                "unix:///var/run/docker.sock",
                ENGINE_TIMEOUT_SECS,
                bollard::API_DEFAULT_VERSION,
            ),
        }
        .map_err(|e| unreachable(e.to_string()))?;
        // An engine that is down now may be up later: keep a client at the oldest API
        // version we need (1.41, Docker 20.10) and let each call say what failed.
        let api = match api.clone().negotiate_version().await {
            Ok(api) => api,
            Err(e) => {
                tracing::warn!(host = %shown, error = %e, "the Docker engine is not reachable yet");
                api
            }
        };
        Ok(Docker {
            api,
            host: shown,
            instance: instance.to_owned(),
            pool,
            networks: Default::default(),
            network_lock: Default::default(),
            buildkit_refused: Default::default(),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The id of the paas server this engine client works for (the `paas.managed` label).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Maps an engine error, naming this engine when it cannot be reached.
    fn fail(&self) -> impl Fn(bollard::errors::Error) -> RuntimeError + '_ {
        move |e| RuntimeError::from_bollard(&self.host, e)
    }
}

/// What the scheduler needs from wherever processes run.
pub trait Runtime: Send + Sync + 'static {
    /// Creates and starts one process; returns once the engine reports it started.
    fn start(&self, spec: ProcessSpec) -> BoxFuture<'_, Result<Instance, RuntimeError>>;

    /// SIGTERM, then SIGKILL after `grace`, then removal.
    fn stop(&self, id: &str, grace: Duration) -> BoxFuture<'_, Result<(), RuntimeError>>;

    /// Starts a stopped (crashed) process again, keeping its identity.
    fn restart(&self, id: &str) -> BoxFuture<'_, Result<Instance, RuntimeError>>;

    /// Every paas process of a formation, running or not, optionally of one app.
    fn list(&self, app: Option<&str>) -> BoxFuture<'_, Result<Vec<Instance>, RuntimeError>>;

    /// Every one-off process (`paas run`, release phase, postdeploy), running or not.
    fn one_offs(&self) -> BoxFuture<'_, Result<Vec<Instance>, RuntimeError>>;

    fn inspect(&self, id: &str) -> BoxFuture<'_, Result<Option<Instance>, RuntimeError>>;

    /// Waits for the process to exit and returns its exit code.
    fn wait(&self, id: &str) -> BoxFuture<'_, Result<i64, RuntimeError>>;

    /// The process's output from `since` (unix seconds) on, following it if `follow`.
    fn logs(&self, id: &str, since: i64, follow: bool) -> LogStream;

    /// Starts an `interactive` process with its stdin and output attached.
    fn attach(&self, id: &str) -> BoxFuture<'_, Result<Attached, RuntimeError>>;

    /// Sets the terminal size of a process started with a terminal.
    fn resize(&self, id: &str, cols: u16, rows: u16) -> BoxFuture<'_, Result<(), RuntimeError>>;

    /// Starts and deaths of paas processes, as they happen.
    fn events(&self) -> BoxStream<'static, Result<InstanceEvent, RuntimeError>>;

    /// Makes what the app's processes need before the first of them starts: its own
    /// network. Safe to call again.
    fn prepare_app(&self, app: &str) -> BoxFuture<'_, Result<(), RuntimeError>>;

    /// Removes what `prepare_app` made, once the app's processes are gone.
    fn forget_app(&self, app: &str) -> BoxFuture<'_, Result<(), RuntimeError>>;

    /// Where the router reaches a running instance.
    fn endpoint(&self, instance: &Instance, port: u16) -> Option<SocketAddr>;

    /// The engine restarts crashed processes and replaces lost ones itself, and chooses
    /// which go when there are fewer (a swarm): a process's index is then its slot.
    fn replaces_processes(&self) -> bool {
        false
    }
}

fn label_filter(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, Vec<String>> {
    let mut filters = std::collections::HashMap::new();
    filters.insert(
        "label".to_owned(),
        pairs.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    );
    filters
}

fn env_list(env: &BTreeMap<String, String>) -> Vec<String> {
    env.iter().map(|(k, v)| format!("{k}={v}")).collect()
}
