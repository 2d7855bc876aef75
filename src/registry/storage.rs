//! What goes into the registry and what leaves it, one operation at a time (the storage
//! lock): a release image pushed as `ADDR:PORT/paas/APP:bN`, and an app's tags that are no
//! longer kept deleted through the registry's API (HEAD for the digest, then DELETE), then
//! `docker-registry garbage-collect --delete-untagged` to free their blobs. A collection
//! never runs while a push is uploading blobs that no manifest names yet.

use std::time::Instant;

use super::{Registry, RegistryError, State, first_line, supervisor::error_chain};
use crate::certs::ca;

/// The manifest types the engine pushes (and an index, should one appear).
const MANIFEST_TYPES: &str = "application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.index.v1+json";

/// A release image in the registry.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// `10.99.0.1:5443/paas/APP:b3`
    pub image: String,
    pub seconds: f64,
}

impl Registry {
    /// Pushes the local image `paas/APP:TAG` as `ADDR/paas/APP:TAG` when the registry
    /// runs; None when there is no swarm (nothing to push to). A registry that should run
    /// but does not is an error: nodes could not pull the release.
    pub async fn push(&self, app: &str, tag: &str) -> Result<Option<Pushed>, RegistryError> {
        let addr = match self.state() {
            State::Off => return Ok(None),
            State::Running(addr) => addr,
            State::Down(reason) => return Err(RegistryError::Down(reason)),
        };
        let _one_at_a_time = self.inner.storage.lock().await;
        let started = Instant::now();
        let repo = format!("{addr}/paas/{app}");
        let image = format!("{repo}:{tag}");
        let docker = &self.inner.docker;
        let failed = |e: crate::runtime::RuntimeError| RegistryError::Push {
            image: image.clone(),
            reason: first_line(&e.to_string()),
        };
        docker
            .tag_image(&format!("paas/{app}:{tag}"), &repo, tag)
            .await
            .map_err(failed)?;
        docker.push_image(&repo, tag).await.map_err(failed)?;
        Ok(Some(Pushed {
            seconds: started.elapsed().as_secs_f64(),
            image,
        }))
    }

    /// Deletes every tag of `paas/APP` in the registry but `keep`, then collects the blobs
    /// no manifest uses any more; returns the tags deleted. Nothing when the registry is
    /// not running (the next prune with it running catches up).
    pub async fn prune(&self, app: &str, keep: &[String]) -> Result<Vec<String>, RegistryError> {
        let State::Running(addr) = self.state() else {
            return Ok(Vec::new());
        };
        let _one_at_a_time = self.inner.storage.lock().await;
        let ca_pem = self.ca_pem().await?;
        let client = ca::https_client(&ca_pem)?;
        let base = format!("https://{addr}/v2/paas/{app}");
        let unreachable = |e: reqwest::Error| RegistryError::Unreachable {
            addr: addr.clone(),
            reason: error_chain(&e),
        };
        let listed = client
            .get(format!("{base}/tags/list"))
            .send()
            .await
            .map_err(unreachable)?;
        if listed.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        let listed: TagList = listed
            .error_for_status()
            .map_err(unreachable)?
            .json()
            .await
            .map_err(unreachable)?;
        let mut deleted = Vec::new();
        for tag in listed.tags.unwrap_or_default() {
            if keep.contains(&tag) {
                continue;
            }
            let head = client
                .head(format!("{base}/manifests/{tag}"))
                .header(reqwest::header::ACCEPT, MANIFEST_TYPES)
                .send()
                .await
                .map_err(unreachable)?
                .error_for_status()
                .map_err(unreachable)?;
            let Some(digest) = head
                .headers()
                .get("docker-content-digest")
                .and_then(|d| d.to_str().ok())
                .map(str::to_owned)
            else {
                continue;
            };
            client
                .delete(format!("{base}/manifests/{digest}"))
                .send()
                .await
                .map_err(unreachable)?
                .error_for_status()
                .map_err(unreachable)?;
            deleted.push(tag);
        }
        if !deleted.is_empty() {
            self.collect().await?;
        }
        Ok(deleted)
    }

    /// `docker-registry garbage-collect --delete-untagged CONFIG` (storage lock held).
    async fn collect(&self) -> Result<(), RegistryError> {
        let settings = &self.inner.settings;
        let output = tokio::process::Command::new(&settings.program)
            .arg("garbage-collect")
            .arg("--delete-untagged")
            .arg(settings.dir.join("config.yml"))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| RegistryError::Collect(e.to_string()))?;
        if output.status.success() {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        Err(RegistryError::Collect(format!(
            "{}: {}",
            output.status,
            first_line(said)
        )))
    }
}

#[derive(serde::Deserialize)]
struct TagList {
    tags: Option<Vec<String>>,
}
