//! The container engine: the only module that uses bollard.
//!
//! `Docker` speaks to one Docker engine. The scheduler sees it through the [`Runtime`]
//! trait (instances of process types, their endpoints, logs and deaths), so a multi-host
//! backend (Swarm services) can come later without the scheduler knowing hosts. Builds use
//! the image and build-container calls directly: they need one engine's image store.

mod build_container;
mod containers;
mod docker_runtime;
mod events;
mod images;
mod logs;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::stream::BoxStream;

pub use build_container::{BuildContainer, BuildContainerSpec};
pub use containers::{Instance, InstanceState, ProcessKind, ProcessSpec};
pub use events::InstanceEvent;
pub use images::ImageInfo;
pub use logs::{LogLine, LogStream};

use crate::ops::deploy::BoxFuture;

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
    #[error("Docker engine: {0}")]
    Engine(String),
    #[error("{0}")]
    Stream(String),
}

impl RuntimeError {
    fn from_bollard(e: bollard::errors::Error) -> Self {
        match e {
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                message,
            } => RuntimeError::Engine(format!("not found: {message}")),
            bollard::errors::Error::DockerResponseServerError { message, .. } => {
                RuntimeError::Engine(message)
            }
            bollard::errors::Error::DockerStreamError { error } => RuntimeError::Stream(error),
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

/// One Docker engine, and the bridge network app containers share.
#[derive(Clone)]
pub struct Docker {
    api: bollard::Docker,
    network: String,
    host: String,
    instance: String,
}

/// Engine calls rarely take long, but image imports and builds stream for minutes.
const ENGINE_TIMEOUT_SECS: u64 = 3600;

impl Docker {
    /// Connects to `host` (`unix:///var/run/docker.sock` when none), agrees on an API
    /// version the engine speaks, and makes sure the `network` bridge exists.
    pub async fn connect(
        host: Option<&str>,
        network: &str,
        instance: &str,
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
        let api = api
            .negotiate_version()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let docker = Docker {
            api,
            network: network.to_owned(),
            host: shown,
            instance: instance.to_owned(),
        };
        docker.ensure_network().await?;
        Ok(docker)
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The id of the paas server this engine client works for (the `paas.managed` label).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    async fn ensure_network(&self) -> Result<(), RuntimeError> {
        use bollard::models::NetworkCreateRequest;
        match self
            .api
            .inspect_network(
                &self.network,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if RuntimeError::is_not_found(&e) => {}
            Err(e) => return Err(RuntimeError::from_bollard(e)),
        }
        let request = NetworkCreateRequest {
            name: self.network.clone(),
            driver: Some("bridge".into()),
            labels: Some([(labels::MANAGED.to_owned(), "1".to_owned())].into()),
            ..Default::default()
        };
        match self.api.create_network(request).await {
            Ok(_) => Ok(()),
            // Another server start raced us to it: fine.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(RuntimeError::from_bollard(e)),
        }
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

    /// Every paas process, running or not, optionally of one app.
    fn list(&self, app: Option<&str>) -> BoxFuture<'_, Result<Vec<Instance>, RuntimeError>>;

    fn inspect(&self, id: &str) -> BoxFuture<'_, Result<Option<Instance>, RuntimeError>>;

    /// Waits for the process to exit and returns its exit code.
    fn wait(&self, id: &str) -> BoxFuture<'_, Result<i64, RuntimeError>>;

    /// The process's output from `since` (unix seconds) on, following it if `follow`.
    fn logs(&self, id: &str, since: i64, follow: bool) -> LogStream;

    /// Starts and deaths of paas processes, as they happen.
    fn events(&self) -> BoxStream<'static, Result<InstanceEvent, RuntimeError>>;

    /// Where the router reaches a running instance.
    fn endpoint(&self, instance: &Instance, port: u16) -> Option<SocketAddr>;
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
