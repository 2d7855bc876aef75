//! `/api/v1/apps/{app}/releases` and `/rollback`.

use axum::extract::{Path, State};

use crate::ops::{Actor, Platform, Progress, releases};
use crate::wire::{ReleaseInfo, RollbackRequest};

use super::error::ApiError;
use super::extract::{Json, Waiting, app_name};

pub async fn list(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
) -> Result<axum::Json<Vec<ReleaseInfo>>, ApiError> {
    Ok(axum::Json(
        releases::list(&p, &actor, &app_name(&app)?).await?,
    ))
}

pub async fn info(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, version)): Path<(String, String)>,
) -> Result<axum::Json<ReleaseInfo>, ApiError> {
    let version = parse_version(&version)?;
    Ok(axum::Json(
        releases::info(&p, &actor, &app_name(&app)?, version).await?,
    ))
}

pub async fn rollback(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    Waiting(wait): Waiting,
    Json(req): Json<RollbackRequest>,
) -> Result<axum::Json<ReleaseInfo>, ApiError> {
    let release = releases::rollback(
        &p,
        &actor,
        &app_name(&app)?,
        req.version,
        wait,
        &Progress::silent(),
    )
    .await?;
    Ok(axum::Json(release))
}

/// `v3` or `3`.
fn parse_version(raw: &str) -> Result<i64, ApiError> {
    raw.trim_start_matches('v')
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid release \"{raw}\": write it as v3")))
}
