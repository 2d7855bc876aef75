//! `/api/v1/apps/{app}/reviewapps`: the review apps of an app and its setting (GET),
//! turning them on with a pattern and options (PUT), and off (DELETE).

use axum::extract::{Path, State};

use crate::ops::{Actor, Platform, reviewapps};
use crate::wire::{ReviewAppSettings, ReviewApps};

use super::error::ApiError;
use super::extract::{Json, app_name};

pub async fn list(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
) -> Result<axum::Json<ReviewApps>, ApiError> {
    Ok(axum::Json(
        reviewapps::list(&p, &actor, &app_name(&app)?).await?,
    ))
}

pub async fn enable(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    Json(settings): Json<ReviewAppSettings>,
) -> Result<axum::Json<ReviewApps>, ApiError> {
    Ok(axum::Json(
        reviewapps::enable(&p, &actor, &app_name(&app)?, settings).await?,
    ))
}

pub async fn disable(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
) -> Result<axum::Json<ReviewApps>, ApiError> {
    Ok(axum::Json(
        reviewapps::disable(&p, &actor, &app_name(&app)?).await?,
    ))
}
