//! `/api/v1/apps/{app}/config` and `/api/v1/config` (platform-wide).

use std::collections::BTreeMap;

use axum::extract::{Path, State};

use crate::ops::{Actor, Platform, Progress, config};
use crate::wire::{ConfigPatch, ConfigUpdated};

use super::error::ApiError;
use super::extract::{Json, Waiting, app_name};

type Vars = axum::Json<BTreeMap<String, String>>;

pub async fn get(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
) -> Result<Vars, ApiError> {
    Ok(axum::Json(config::get(&p, &actor, &app_name(&app)?).await?))
}

pub async fn update(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    Waiting(wait): Waiting,
    Json(patch): Json<ConfigPatch>,
) -> Result<axum::Json<ConfigUpdated>, ApiError> {
    let name = app_name(&app)?;
    let updated = config::update(&p, &actor, &name, patch, wait, &Progress::silent()).await?;
    Ok(axum::Json(updated))
}

pub async fn get_global(State(p): State<Platform>, actor: Actor) -> Result<Vars, ApiError> {
    Ok(axum::Json(config::get_global(&p, &actor).await?))
}

pub async fn update_global(
    State(p): State<Platform>,
    actor: Actor,
    Json(patch): Json<ConfigPatch>,
) -> Result<axum::Json<ConfigUpdated>, ApiError> {
    Ok(axum::Json(config::update_global(&p, &actor, patch).await?))
}
