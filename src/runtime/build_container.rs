//! Build containers: short-lived, fed a source tar, watched line by line, and read back.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use bytes::Bytes;
use futures_util::stream::{Stream, StreamExt};

use super::{Docker, LogStream, RuntimeError, env_list, labels};

/// The `network_mode` of a build on its app's network, with the app's processes.
pub const APP_NETWORK: &str = "app";

pub struct BuildContainerSpec {
    pub app: String,
    pub build_id: i64,
    pub image: String,
    pub argv: Vec<String>,
    pub env: std::collections::BTreeMap<String, String>,
    pub user: String,
    pub memory_mb: u32,
    /// [`APP_NETWORK`]: the app's own network; or an admin's choice (`host` when builds
    /// must share the host's network to reach package indexes).
    pub network_mode: String,
    /// Named volumes mounted read-write: (volume, path in the container).
    pub volumes: Vec<(String, String)>,
}

/// A created build container; always `remove` it, whatever happened.
pub struct BuildContainer {
    pub id: String,
    docker: Docker,
}

impl Docker {
    pub async fn create_build_container(
        &self,
        spec: BuildContainerSpec,
    ) -> Result<BuildContainer, RuntimeError> {
        let mut label_map: HashMap<String, String> = HashMap::new();
        label_map.insert(labels::MANAGED.into(), self.instance.clone());
        label_map.insert(labels::APP.into(), spec.app.clone());
        label_map.insert(labels::KIND.into(), "build".into());
        label_map.insert(labels::BUILD.into(), spec.build_id.to_string());
        let memory = i64::from(spec.memory_mb) * 1024 * 1024;
        let network_mode = if spec.network_mode == APP_NETWORK {
            self.ensure_app_network(&spec.app).await?
        } else {
            spec.network_mode
        };
        let mounts = spec
            .volumes
            .iter()
            .map(|(volume, path)| Mount {
                typ: Some(MountType::VOLUME),
                source: Some(volume.clone()),
                target: Some(path.clone()),
                ..Default::default()
            })
            .collect();
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: Some(spec.argv),
            entrypoint: Some(vec![]),
            env: Some(env_list(&spec.env)),
            user: Some(spec.user),
            labels: Some(label_map),
            host_config: Some(HostConfig {
                memory: Some(memory),
                memory_swap: Some(memory),
                pids_limit: Some(4096),
                security_opt: Some(vec!["no-new-privileges:true".into()]),
                network_mode: Some(network_mode),
                mounts: Some(mounts),
                ..Default::default()
            }),
            ..Default::default()
        };
        let name = format!("paas-build-{}-{}", spec.app, spec.build_id);
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        let created = self
            .api
            .create_container(Some(options), body)
            .await
            .map_err(|e| match e {
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                } => RuntimeError::ImageMissing(spec.image.clone()),
                other => self.fail()(other),
            })?;
        Ok(BuildContainer {
            id: created.id,
            docker: self.clone(),
        })
    }

    /// Build containers a stopped server left behind.
    pub async fn leftover_build_containers(&self) -> Result<Vec<String>, RuntimeError> {
        let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&super::label_filter(&[
                (labels::MANAGED, &self.instance),
                (labels::KIND, "build"),
            ]))
            .build();
        let list = self
            .docker_api()
            .list_containers(Some(options))
            .await
            .map_err(self.fail())?;
        Ok(list.into_iter().filter_map(|c| c.id).collect())
    }

    fn docker_api(&self) -> &bollard::Docker {
        &self.api
    }
}

impl BuildContainer {
    /// Extracts a tar stream at `path` inside the (not yet started) container.
    pub async fn upload<S>(&self, path: &str, tar: S) -> Result<(), RuntimeError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let options = UploadToContainerOptionsBuilder::default()
            .path(path)
            .build();
        self.docker
            .api
            .upload_to_container(&self.id, Some(options), bollard::body_try_stream(tar))
            .await
            .map_err(self.docker.fail())
    }

    pub async fn start(&self) -> Result<(), RuntimeError> {
        self.docker.start_container(&self.id).await
    }

    /// Everything the build prints, from its start, until it exits.
    pub fn output(&self) -> LogStream {
        self.docker.follow_logs(&self.id, 0, true)
    }

    pub async fn wait(&self) -> Result<i64, RuntimeError> {
        self.docker.wait_exit(&self.id).await
    }

    /// A tar stream of `path` (its last component is the archive's top directory).
    pub fn download(
        &self,
        path: &str,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static + use<> {
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        self.docker
            .api
            .download_from_container(&self.id, Some(options))
            .map(|chunk| chunk.map_err(std::io::Error::other))
    }

    pub async fn remove(&self) -> Result<(), RuntimeError> {
        self.docker.remove_container(&self.id).await
    }
}
