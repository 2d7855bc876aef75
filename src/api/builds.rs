//! `/api/v1/apps/{app}/builds`.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::ops::{Actor, Platform, builds};
use crate::wire::BuildInfo;

use super::error::ApiError;
use super::extract::app_name;

pub async fn list(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
) -> Result<axum::Json<Vec<BuildInfo>>, ApiError> {
    Ok(axum::Json(
        builds::list(&p, &actor, &app_name(&app)?).await?,
    ))
}

/// `latest` or a build id.
pub async fn info(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, id)): Path<(String, String)>,
) -> Result<axum::Json<BuildInfo>, ApiError> {
    let id = match id.as_str() {
        "latest" => None,
        other => Some(other.parse().map_err(|_| {
            ApiError::bad_request(format!("invalid build id \"{other}\"; see paas builds"))
        })?),
    };
    Ok(axum::Json(
        builds::info(&p, &actor, &app_name(&app)?, id).await?,
    ))
}

pub async fn cancel(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
) -> Result<StatusCode, ApiError> {
    builds::cancel(&p, &actor, &app_name(&app)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
