//! `/api/v1/apps/{app}/formation` and `/ps/restart`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::domain::{ProcessType, ScaleRequest};
use crate::ops::{Actor, Platform, ps};
use crate::wire::{FormationEntry, FormationPatch, ProcessInfo};

use super::error::ApiError;
use super::extract::{Json, app_name};

pub async fn formation(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
) -> Result<axum::Json<Vec<FormationEntry>>, ApiError> {
    Ok(axum::Json(
        ps::formation(&p, &actor, &app_name(&app)?).await?,
    ))
}

pub async fn scale(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    Json(patch): Json<FormationPatch>,
) -> Result<axum::Json<Vec<FormationEntry>>, ApiError> {
    let quantities = patch
        .quantities
        .into_iter()
        .map(|(t, q)| Ok((ProcessType::parse(&t)?, q)))
        .collect::<Result<_, crate::domain::Invalid>>()?;
    let request = ScaleRequest::new(quantities)?;
    Ok(axum::Json(
        ps::scale(&p, &actor, &app_name(&app)?, request).await?,
    ))
}

#[derive(Deserialize, Default)]
pub struct RestartRequest {
    #[serde(default)]
    process_type: Option<String>,
}

pub async fn restart(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    Json(req): Json<RestartRequest>,
) -> Result<StatusCode, ApiError> {
    ps::restart(&p, &actor, &app_name(&app)?, req.process_type.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn processes(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
) -> Result<axum::Json<Vec<ProcessInfo>>, ApiError> {
    Ok(axum::Json(ps::processes(&p, &actor, &app_name(&app)?).await?))
}
