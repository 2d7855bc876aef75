//! `/api/v1/apps/{app}/domains`.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::ops::{Actor, Platform, domains};
use crate::wire::{AddDomain, DomainInfo};

use super::error::ApiError;
use super::extract::{Json, app_name};

pub async fn list(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
) -> Result<axum::Json<Vec<DomainInfo>>, ApiError> {
    Ok(axum::Json(
        domains::list(&p, &actor, &app_name(&app)?).await?,
    ))
}

pub async fn add(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    Json(req): Json<AddDomain>,
) -> Result<(StatusCode, axum::Json<DomainInfo>), ApiError> {
    let info = domains::add(&p, &actor, &app_name(&app)?, &req.hostname).await?;
    Ok((StatusCode::CREATED, axum::Json(info)))
}

pub async fn remove(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, hostname)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    domains::remove(&p, &actor, &app_name(&app)?, &hostname).await?;
    Ok(StatusCode::NO_CONTENT)
}
