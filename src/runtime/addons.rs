//! Add-on service containers: one per add-on, its data on a named volume, hardened like app
//! containers, restarted by the engine with its own backoff when it dies (so neither a
//! server restart nor a kill -9 of the server touches it), and reachable only on the
//! networks of the apps it is attached to, by its name: each app's bridge and, on a swarm,
//! its overlay, so the app's tasks on every node reach it. No host port is published.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, Mount, MountType,
    NetworkConnectRequest, NetworkDisconnectRequest, NetworkingConfig, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, InspectNetworkOptions,
};

use super::containers::{hardened, parse_engine_time};
use super::{Docker, RuntimeError, labels};
use crate::domain::{ADDON_DATA_DIR, ADDON_PASSWORD_ENV};

const ADDON_LABEL: &str = "paas.addon";

/// Everything needed to start an add-on's container.
pub struct AddonContainerSpec<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub image: &'a str,
    pub password: &'a str,
    pub memory_mb: u32,
    /// The apps whose networks it joins (its owner first).
    pub apps: &'a [String],
}

/// An add-on container as the engine reports it.
#[derive(Debug, Clone)]
pub struct AddonContainer {
    pub id: String,
    pub addon: String,
    /// `running`, `restarting`, `exited`...
    pub status: String,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    pub restart_count: i64,
    pub started_at: Option<i64>,
    /// Its address on each attached app's network, by app.
    pub addresses: HashMap<String, IpAddr>,
}

impl AddonContainer {
    pub fn is_running(&self) -> bool {
        self.status == "running"
    }
}

impl Docker {
    fn addon_container_name(&self, addon: &str) -> String {
        format!("paas-{}-addon-{addon}", self.instance)
    }

    fn addon_volume_name(&self, addon: &str) -> String {
        format!("paas-{}-addon-{addon}", self.instance)
    }

    /// Creates the add-on's volume (kept if it exists) and container, joins the apps'
    /// networks with its name as host name, and starts it.
    pub async fn start_addon(
        &self,
        spec: AddonContainerSpec<'_>,
    ) -> Result<AddonContainer, RuntimeError> {
        let volume = self.addon_volume_name(spec.name);
        self.ensure_volume(&volume).await?;
        let mut networks = Vec::new();
        for app in spec.apps {
            networks.push((app.clone(), self.ensure_app_network(app).await?));
        }
        let Some((_, first)) = networks.first().cloned() else {
            return Err(RuntimeError::Engine(format!(
                "add-on {} has no app to attach to",
                spec.name
            )));
        };
        // The engine restarts it with its own backoff (100 ms doubling to a minute),
        // whether or not a paas server is running.
        let mut host_config = hardened(
            spec.memory_mb,
            &first,
            RestartPolicyNameEnum::UNLESS_STOPPED,
        );
        host_config.mounts = Some(vec![Mount {
            target: Some(ADDON_DATA_DIR.to_owned()),
            source: Some(volume),
            typ: Some(MountType::VOLUME),
            ..Default::default()
        }]);
        let label_map: HashMap<String, String> = [
            (labels::MANAGED.to_owned(), self.instance.clone()),
            (labels::KIND.to_owned(), "addon".to_owned()),
            (ADDON_LABEL.to_owned(), spec.name.to_owned()),
            ("paas.addon.kind".to_owned(), spec.kind.to_owned()),
        ]
        .into();
        let body = ContainerCreateBody {
            image: Some(spec.image.to_owned()),
            env: Some(vec![format!("{ADDON_PASSWORD_ENV}={}", spec.password)]),
            labels: Some(label_map),
            hostname: Some(spec.name.to_owned()),
            host_config: Some(host_config),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(
                    [(first, endpoint_with_alias(spec.name))]
                        .into_iter()
                        .collect(),
                ),
            }),
            ..Default::default()
        };
        let name = self.addon_container_name(spec.name);
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        let created = self
            .api
            .create_container(Some(options), body)
            .await
            .map_err(|e| match e {
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                } => RuntimeError::ImageMissing(spec.image.to_owned()),
                other => self.fail()(other),
            })?;
        for (app, _) in networks.iter().skip(1) {
            self.connect_addon(spec.name, app).await?;
        }
        self.start_container(&created.id).await?;
        for app in spec.apps {
            self.join_overlay(spec.name, app).await?;
        }
        self.addon_container(spec.name)
            .await?
            .ok_or(RuntimeError::ContainerMissing(created.id))
    }

    /// On a swarm the app's tasks, on any node, reach the add-on over the app's overlay
    /// network: it joins that too, by the same name, and stays on this node with its
    /// volume. An app without an overlay (one host) is left as it is.
    pub(super) async fn join_overlay(&self, addon: &str, app: &str) -> Result<(), RuntimeError> {
        let overlay = super::overlay_name(app);
        // The engine answers a connect to a missing overlay with a 500, so look first.
        match self
            .api
            .inspect_network(&overlay, None::<InspectNetworkOptions>)
            .await
        {
            Ok(_) => {}
            Err(e) if RuntimeError::is_not_found(&e) => return Ok(()),
            Err(e) => return Err(self.fail()(e)),
        }
        let request = NetworkConnectRequest {
            container: self.addon_container_name(addon),
            endpoint_config: Some(endpoint_with_alias(addon)),
        };
        match self.api.connect_network(&overlay, request).await {
            Ok(()) => Ok(()),
            // Already on it.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 403, ..
            }) => Ok(()),
            Err(e) => Err(self.fail()(e)),
        }
    }

    /// Puts the add-on on `app`'s network, reachable there by its name.
    pub async fn connect_addon(&self, addon: &str, app: &str) -> Result<(), RuntimeError> {
        let network = self.ensure_app_network(app).await?;
        let request = NetworkConnectRequest {
            container: self.addon_container_name(addon),
            endpoint_config: Some(endpoint_with_alias(addon)),
        };
        match self.api.connect_network(&network, request).await {
            Ok(()) => {}
            // Already there.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 403, ..
            }) => {}
            Err(e) => return Err(self.fail()(e)),
        }
        self.join_overlay(addon, app).await
    }

    /// Takes the add-on off `app`'s network; already off is not an error.
    pub async fn disconnect_addon(&self, addon: &str, app: &str) -> Result<(), RuntimeError> {
        for network in [self.app_network(app), super::overlay_name(app)] {
            let request = NetworkDisconnectRequest {
                container: self.addon_container_name(addon),
                force: Some(true),
            };
            match self.api.disconnect_network(&network, request).await {
                Ok(()) => {}
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404 | 403 | 500,
                    ..
                }) => {}
                Err(e) => return Err(self.fail()(e)),
            }
        }
        Ok(())
    }

    /// The add-ons (by name) on `app`'s own network: those attached to it.
    pub(super) async fn addons_of_app(&self, app: &str) -> Result<Vec<String>, RuntimeError> {
        let network = self.app_network(app);
        let filters =
            super::label_filter(&[(labels::MANAGED, &self.instance), (labels::KIND, "addon")]);
        let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let containers = self
            .api
            .list_containers(Some(options))
            .await
            .map_err(self.fail())?;
        Ok(containers
            .into_iter()
            .filter(|c| {
                c.network_settings
                    .as_ref()
                    .and_then(|n| n.networks.as_ref())
                    .is_some_and(|n| n.contains_key(&network))
            })
            .filter_map(|c| c.labels?.get(ADDON_LABEL).cloned())
            .collect())
    }

    pub async fn addon_container(
        &self,
        addon: &str,
    ) -> Result<Option<AddonContainer>, RuntimeError> {
        match self
            .api
            .inspect_container(
                &self.addon_container_name(addon),
                None::<InspectContainerOptions>,
            )
            .await
        {
            Ok(response) => Ok(addon_from(&self.instance, response)),
            Err(e) if RuntimeError::is_not_found(&e) => Ok(None),
            Err(e) => Err(self.fail()(e)),
        }
    }

    /// Restarts the add-on's container (its data stays on the volume).
    pub async fn restart_addon(&self, addon: &str) -> Result<(), RuntimeError> {
        self.api
            .restart_container(
                &self.addon_container_name(addon),
                None::<bollard::query_parameters::RestartContainerOptions>,
            )
            .await
            .map_err(self.fail())
    }

    /// Removes the add-on's container, and its volume (its data) when `data`.
    pub async fn remove_addon(&self, addon: &str, data: bool) -> Result<(), RuntimeError> {
        self.stop_and_remove(
            &self.addon_container_name(addon),
            std::time::Duration::from_secs(10),
        )
        .await?;
        if data {
            self.remove_volume(&self.addon_volume_name(addon)).await?;
        }
        Ok(())
    }

    /// Bytes the add-on's data takes on disk (its volume), if the volume is on this host.
    pub async fn addon_volume_bytes(&self, addon: &str) -> Result<Option<u64>, RuntimeError> {
        let volume = match self
            .api
            .inspect_volume(&self.addon_volume_name(addon))
            .await
        {
            Ok(volume) => volume,
            Err(e) if RuntimeError::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(self.fail()(e)),
        };
        let root = PathBuf::from(volume.mountpoint);
        let bytes = tokio::task::spawn_blocking(move || disk_usage(&root))
            .await
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        Ok(bytes)
    }
}

fn endpoint_with_alias(addon: &str) -> EndpointSettings {
    EndpointSettings {
        aliases: Some(vec![addon.to_owned()]),
        ..Default::default()
    }
}

/// Sums file sizes under `root` without following links; None when it cannot be read.
fn disk_usage(root: &std::path::Path) -> Option<u64> {
    let mut total = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    Some(total)
}

fn addon_from(instance: &str, r: ContainerInspectResponse) -> Option<AddonContainer> {
    let config = r.config?;
    let labels = config.labels.unwrap_or_default();
    if labels.get(labels::MANAGED).map(String::as_str) != Some(instance) {
        return None;
    }
    let addon = labels.get(ADDON_LABEL)?.clone();
    let state = r.state.unwrap_or_default();
    let prefix = format!("paas-{instance}-");
    let addresses = r
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(network, endpoint)| {
            let app = network.strip_prefix(&prefix)?.to_owned();
            let ip = endpoint.ip_address?.parse().ok()?;
            Some((app, ip))
        })
        .collect();
    Some(AddonContainer {
        id: r.id?,
        addon,
        status: state
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown".to_owned()),
        exit_code: state.exit_code,
        oom_killed: state.oom_killed.unwrap_or(false),
        restart_count: r.restart_count.unwrap_or(0),
        started_at: state.started_at.as_deref().and_then(parse_engine_time),
        addresses,
    })
}
