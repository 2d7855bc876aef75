//! What goes into the registry and what leaves it, one operation at a time (the storage
//! lock): a release image pushed as `ADDR:PORT/paas/APP:bN`, and an app's tags that are no
//! longer kept deleted through the registry's API (HEAD for the digest, then DELETE), then
//! `docker-registry garbage-collect --delete-untagged` to free their blobs. A collection
//! never runs while a push is uploading blobs that no manifest names yet.

use std::time::Instant;

use super::{Registry, RegistryError, State, first_line};

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

