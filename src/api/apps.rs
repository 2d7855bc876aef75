//! `/api/v1/apps`: create, list, show, change settings, destroy.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::domain::BranchName;
use crate::ops::{Actor, Platform, apps};
use crate::wire::{AppInfo, CreateApp, UpdateApp};

use super::error::ApiError;
use super::extract::{Json, app_name};

pub async fn list(
    State(p): State<Platform>,
    actor: Actor,
) -> Result<axum::Json<Vec<AppInfo>>, ApiError> {
    Ok(axum::Json(apps::list(&p, &actor).await?))
}

pub async fn create(
    State(p): State<Platform>,
    actor: Actor,
    Json(req): Json<CreateApp>,
) -> Result<(StatusCode, axum::Json<AppInfo>), ApiError> {
    Ok((
        StatusCode::CREATED,
        axum::Json(apps::create(&p, &actor, &req.name).await?),
    ))
}

pub async fn info(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
) -> Result<axum::Json<AppInfo>, ApiError> {
    Ok(axum::Json(apps::info(&p, &actor, &app_name(&app)?).await?))
}

#[derive(Deserialize)]
pub struct Confirm {
    #[serde(default)]
    confirm: String,
}

pub async fn destroy(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    Query(q): Query<Confirm>,
) -> Result<StatusCode, ApiError> {
    apps::destroy(&p, &actor, &app_name(&app)?, &q.confirm).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn update(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    Json(req): Json<UpdateApp>,
) -> Result<axum::Json<AppInfo>, ApiError> {
    let name = app_name(&app)?;
    let branch = req
        .deploy_branch
        .as_deref()
        .map(BranchName::parse)
        .transpose()?;
    let mut changed = None;
    if let Some(branch) = branch {
        changed = Some(apps::set_deploy_branch(&p, &actor, &name, branch).await?);
    }
    if let Some(on) = req.maintenance {
        changed = Some(apps::set_maintenance(&p, &actor, &name, on).await?);
    }
    let info = match changed {
        Some(info) => info,
        None => apps::info(&p, &actor, &name).await?,
    };
    Ok(axum::Json(info))
}
