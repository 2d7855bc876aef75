//! The image registry paas runs on a swarm manager, so nodes pull release images from it:
//! CNCF distribution from Debian's `docker-registry` package, a child process of
//! `paas server`, with TLS from paas's own CA (`certs/ca.rs`).
//!
//! ```text
//! mod.rs         Registry: the handle builds and ops share; its state; RegistryError
//! supervisor.rs  the task: runs the registry while the engine is a swarm manager, on its
//!                advertise address; restarts it with backoff; stops it with the server
//! config.rs      the registry's config file
//! trust.rs       the command that makes an engine trust the CA (nodes:add)
//! storage.rs     pushes of release images and removal of old tags with garbage
//!                collection, one at a time
//! ```
//!
//! Files: `DATA/registry/config.yml` (0600), `DATA/registry/data` (the blobs). The
//! manager's own engine pushes, so it is made to trust the CA too
//! (`PAAS_DOCKER_CERTS_DIR/ADDR:PORT/ca.crt`). With no swarm there is no registry and no
//! push: single-host deploys are unchanged.

mod config;
mod storage;
mod supervisor;
pub mod trust;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::certs::ca::{Ca, CaError};
use crate::runtime::{Docker, RuntimeError};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("docker-registry is not installed: apt-get install docker-registry")]
    NotInstalled,
    #[error("the swarm registry is not running: {0}")]
    Down(String),
    #[error("pushing {image} to the swarm registry failed: {reason}")]
    Push { image: String, reason: String },
    #[error("the swarm registry at {addr} did not answer: {reason}")]
    Unreachable { addr: String, reason: String },
    #[error(
        "the swarm advertise address {0} is not an IP address; run swarm:init with --advertise-addr IP"
    )]
    NotAnIp(String),
    #[error("cannot write {path}: {source}; check PAAS_DATA_DIR and PAAS_DOCKER_CERTS_DIR")]
    Files {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("garbage collection of the swarm registry failed: {0}")]
    Collect(String),
    #[error(transparent)]
    Ca(#[from] CaError),
    #[error(transparent)]
    Engine(#[from] RuntimeError),
    #[error("registry task stopped: {0}")]
    Task(String),
}

#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// `PAAS_REGISTRY_PORT`: the registry listens on the swarm advertise address, this port.
    pub port: u16,
    /// `DATA/registry`: its config file and its storage.
    pub dir: PathBuf,
    /// `DATA/certs/ca`: paas's CA and the registry's certificate.
    pub ca_dir: PathBuf,
    /// `PAAS_DOCKER_CERTS_DIR`: where the manager's engine reads registry CAs.
    pub engine_certs_dir: PathBuf,
    /// The distribution binary (`docker-registry`, from PATH).
    pub program: PathBuf,
}

/// What the registry is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// The engine is not a swarm manager: no registry, nothing pushed.
    Off,
    /// Serving at this address (`10.99.0.1:5443`).
    Running(String),
    /// Wanted (the engine is a manager) but not serving, and why.
    Down(String),
}

/// The running server's registry. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    settings: RegistrySettings,
    docker: Docker,
    state: watch::Sender<State>,
    wake: Notify,
    /// Pushes and garbage collections, one at a time: a collection must not see a push's
    /// blobs before its manifest names them.
    storage: tokio::sync::Mutex<()>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Registry {
    /// Starts the supervisor task; it runs the registry whenever the engine is a manager,
    /// until `shutdown`.
    pub fn start(docker: Docker, settings: RegistrySettings, shutdown: CancellationToken) -> Self {
        let registry = Registry {
            inner: Arc::new(Inner {
                settings,
                docker,
                state: watch::Sender::new(State::Off),
                wake: Notify::new(),
                storage: tokio::sync::Mutex::new(()),
                task: std::sync::Mutex::new(None),
            }),
        };
        let task = tokio::spawn(supervisor::run(Arc::clone(&registry.inner), shutdown));
        if let Ok(mut slot) = registry.inner.task.lock() {
            *slot = Some(task);
        }
        registry
    }

    pub fn state(&self) -> State {
        self.inner.state.borrow().clone()
    }

    /// The swarm may have changed (`swarm:init`): look now rather than at the next poll.
    pub fn check_now(&self) {
        self.inner.wake.notify_one();
    }

    /// The registry address on manager `host` and paas's CA certificate (made if it does
    /// not exist yet): what a node must trust.
    pub async fn trust(&self, host: &str) -> Result<(String, String), RegistryError> {
        let addr = registry_addr(host, self.inner.settings.port)?;
        Ok((addr, self.ca_pem().await?))
    }

    /// paas's CA certificate, PEM (the CA is made on first use).
    async fn ca_pem(&self) -> Result<String, RegistryError> {
        let ca_dir = self.inner.settings.ca_dir.clone();
        tokio::task::spawn_blocking(move || Ca::open(&ca_dir).map(|ca| ca.cert_pem().to_owned()))
            .await
            .map_err(|e| RegistryError::Task(e.to_string()))?
            .map_err(RegistryError::from)
    }

    /// Waits for the supervisor, which stops the registry once `shutdown` fires.
    pub async fn join(&self) {
        let task = self.inner.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// `HOST:PORT` of the registry on a manager advertising `host` (an IP; `[v6]:PORT`).
fn registry_addr(host: &str, port: u16) -> Result<String, RegistryError> {
    let ip: std::net::IpAddr = host
        .parse()
        .map_err(|_| RegistryError::NotAnIp(host.to_owned()))?;
    Ok(std::net::SocketAddr::new(ip, port).to_string())
}

/// The first line of `text`, trimmed: errors are one line.
fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no message")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_on_the_advertise_ip() {
        assert_eq!(registry_addr("10.99.0.1", 5443).unwrap(), "10.99.0.1:5443");
        assert_eq!(registry_addr("fd00::1", 5443).unwrap(), "[fd00::1]:5443");
        assert!(matches!(
            registry_addr("eth0", 5443),
            Err(RegistryError::NotAnIp(_))
        ));
        assert_eq!(first_line("\n  denied: x\nmore"), "denied: x");
    }
}
