//! Old images go, except those a kept release still uses; and BuildKit's cache of slugs.

use crate::runtime::Docker;
use crate::store::Store;

/// Keeps the images of the app's newest `keep` releases (and `just_built`); removes the
/// rest of its images. Failures only log: pruning never fails a build.
pub async fn old_images(docker: &Docker, store: &Store, app: &str, keep: usize, just_built: &str) {
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
    let Ok(images) = docker.app_images(app).await else {
        return;
    };
    for image in images {
        if image.tags.iter().any(|t| kept.contains(t)) {
            continue;
        }
        if let Err(e) = docker.remove_image(&image.id).await {
            tracing::debug!(app, image = %image.id, error = %e, "old image not removed");
        }
    }
}

/// Drops the build cache that slug builds leave (a slug's worth per deploy) once unused
/// for `keep`; what recent builds used stays warm. Run after the build, off its path; a
/// failure only logs.
pub async fn build_cache(docker: Docker, keep: std::time::Duration) {
    if let Err(e) = docker.prune_build_cache(keep).await {
        tracing::debug!(error = %e, "build cache not pruned");
    }
}
