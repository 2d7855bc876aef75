//! Old images go, except those a kept release still uses, from the engine and from the
//! swarm registry alike; and the BuildKit cache our slug builds made, once unused for
//! `PAAS_BUILD_CACHE_KEEP`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use crate::registry::Registry;
use crate::runtime::Docker;
use crate::store::Store;

/// Keeps the images of the app's newest `keep` releases (and `just_built`); removes the
/// rest of its images, and their tags in the registry. Failures only log: pruning never
/// fails a build.
pub async fn old_images(
    docker: &Docker,
    registry: &Registry,
    store: &Store,
    app: &str,
    keep: usize,
    just_built: &str,
) {
    let name = app.to_owned();
    let kept: Result<Vec<String>, crate::store::StoreError> = store
        .read(move |db| {
            let Some(app) = db.app(
                &crate::domain::AppName::parse(&name)
                    .map_err(|e| crate::store::StoreError::Corrupt(e.0))?,
            )?
            else {
                return Ok(Vec::new());
            };
            let mut releases = db.releases(app.id, keep as i64)?;
            releases.extend(db.current_release(app.id)?);
            let mut images = Vec::new();
            for build_id in releases.iter().filter_map(|r| r.build_id) {
                images.extend(db.build(build_id)?.and_then(|b| b.image));
            }
            Ok(images)
        })
        .await;
    let Ok(mut kept) = kept else { return };
    kept.push(just_built.to_owned());
    if let Ok(images) = docker.app_images(app).await {
        for image in images {
            if image.tags.iter().any(|t| kept.contains(t)) {
                continue;
            }
            if let Err(e) = docker.remove_image(&image.id).await {
                tracing::debug!(app, image = %image.id, error = %e, "old image not removed");
            }
        }
    }
    // The registry keeps the same releases: `paas/APP:bN` is tag `bN` of `paas/APP` there.
    let prefix = format!("paas/{app}:");
    let tags: Vec<String> = kept
        .iter()
        .filter_map(|image| image.strip_prefix(&prefix).map(str::to_owned))
        .collect();
    match registry.prune(app, &tags).await {
        Ok(deleted) if !deleted.is_empty() => {
            tracing::info!(app, tags = %deleted.join(","), "old release images removed from the swarm registry");
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(app, error = %e, "old release images not removed from the swarm registry")
        }
    }
}

/// BuildKit cache records our slug builds made, kept in `DATA/builds/cache-records` (one
/// id a line) so they can be pruned after their keep time, across restarts. A record is
/// ours when it appeared since the listing taken after our previous slug build (or at
/// start); the engine's other cache (other servers' builds, an operator's `docker build`)
/// is never pruned by us. The engine's listing (`/system/df`) takes seconds, since it
/// sizes every image and volume, so it is only ever taken after a build, in the
/// background, never on a build's path.
#[derive(Clone)]
pub struct CacheRecords {
    file: PathBuf,
    lock: Arc<tokio::sync::Mutex<()>>,
    /// The engine's records at the last listing.
    last: Arc<std::sync::Mutex<Option<HashSet<String>>>>,
}

/// Records pruned in one engine call (the ids go into one filter expression).
const PRUNE_BATCH: usize = 100;

impl CacheRecords {
    pub fn new(builds_dir: PathBuf) -> Self {
        CacheRecords {
            file: builds_dir.join("cache-records"),
            lock: Arc::new(tokio::sync::Mutex::new(())),
            last: Arc::default(),
        }
    }

    /// The engine's cache records as last listed, for a build about to make its slug
    /// image; listed now only if no listing finished yet since the start (None if they
    /// cannot be listed: then nothing is attributed to the build).
    pub async fn snapshot(&self, docker: &Docker) -> Option<HashSet<String>> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match last {
            Some(ids) => Some(ids),
            None => self.refresh(docker).await,
        }
    }

    /// Lists the engine's records now (at start, and after each slug build).
    pub async fn refresh(&self, docker: &Docker) -> Option<HashSet<String>> {
        match docker.build_cache_ids().await {
            Ok(ids) => {
                let ids: HashSet<String> = ids.into_iter().collect();
                *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(ids.clone());
                Some(ids)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the build cache; recent builds' is not pruned");
                None
            }
        }
    }

    /// Records the cache records that appeared since `before` as ours.
    pub async fn remember_new(&self, docker: &Docker, before: Option<HashSet<String>>) {
        let Some(now) = self.refresh(docker).await else {
            return;
        };
        let Some(before) = before else { return };
        let new: Vec<String> = now.into_iter().filter(|id| !before.contains(id)).collect();
        if new.is_empty() {
            return;
        }
        let _guard = self.lock.lock().await;
        let mut ids = self.read().await;
        tracing::info!(ids = %new.join(","), "build cache recorded");
        ids.extend(new);
        self.write(&ids).await;
    }

    /// Prunes our records unused for `keep`; forgets those the engine no longer has.
    /// Failures only log: pruning never fails a build.
    pub async fn prune(&self, docker: &Docker, keep: std::time::Duration) {
        let _guard = self.lock.lock().await;
        let ids = self.read().await;
        if ids.is_empty() {
            return;
        }
        let mut pruned = Vec::new();
        for batch in ids.chunks(PRUNE_BATCH) {
            match docker.prune_build_cache(batch, keep).await {
                Ok(deleted) => pruned.extend(deleted),
                Err(e) => tracing::debug!(error = %e, "build cache not pruned"),
            }
        }
        if !pruned.is_empty() {
            tracing::info!(records = pruned.len(), ids = %pruned.join(","), "build cache pruned");
        }
        let Ok(present) = docker.build_cache_ids().await else {
            return;
        };
        let present: HashSet<String> = present.into_iter().collect();
        let kept: Vec<String> = ids.into_iter().filter(|id| present.contains(id)).collect();
        self.write(&kept).await;
    }

    async fn read(&self) -> Vec<String> {
        tokio::fs::read_to_string(&self.file)
            .await
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    async fn write(&self, ids: &[String]) {
        if let Some(dir) = self.file.parent() {
            let _ = tokio::fs::create_dir_all(dir).await;
        }
        let mut text = ids.join("\n");
        text.push('\n');
        if let Err(e) = tokio::fs::write(&self.file, text).await {
            tracing::warn!(error = %e, file = %self.file.display(), "cannot keep the build cache records");
        }
    }
}
