//! `/api/v1/apps/{app}/autosleep`: the app's autosleep setting and sleep state (GET), and
//! turning it on or off (PATCH).

use axum::extract::{Path, State};

use crate::ops::{Actor, Platform, autosleep};
use crate::wire::{AutosleepInfo, AutosleepPatch};

use super::error::ApiError;
use super::extract::{Json, app_name};

pub async fn show(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
) -> Result<axum::Json<AutosleepInfo>, ApiError> {
    Ok(axum::Json(
        autosleep::show(&p, &actor, &app_name(&app)?).await?,
    ))
}

pub async fn set(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    Json(patch): Json<AutosleepPatch>,
) -> Result<axum::Json<AutosleepInfo>, ApiError> {
    Ok(axum::Json(
        autosleep::set(&p, &actor, &app_name(&app)?, patch).await?,
    ))
}
