//! `/api/v1/apps/{app}/formation` and `/ps/restart`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::domain::{ProcessType, ResizeRequest, ScaleRequest};
use crate::ops::{Actor, Platform, ps};
use crate::wire::{FormationEntry, FormationPatch, ProcessInfo};

use super::error::ApiError;
use super::extract::{Json, Waiting, app_name};

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
    Waiting(wait): Waiting,
    Json(patch): Json<FormationPatch>,
) -> Result<axum::Json<Vec<FormationEntry>>, ApiError> {
    let name = app_name(&app)?;
    let by_type = |map: std::collections::BTreeMap<String, u32>| {
        map.into_iter()
            .map(|(t, v)| Ok((ProcessType::parse(&t)?, v)))
            .collect::<Result<std::collections::BTreeMap<_, _>, crate::domain::Invalid>>()
    };
    let mut formation = None;
    if !patch.memory_mb.is_empty() {
        let request = ResizeRequest::new(by_type(patch.memory_mb)?)?;
        formation = Some(ps::resize(&p, &actor, &name, request).await?);
    }
    if !patch.quantities.is_empty() || formation.is_none() {
        let request = ScaleRequest::new(by_type(patch.quantities)?)?;
        formation = Some(ps::scale(&p, &actor, &name, request, wait).await?);
    }
    Ok(axum::Json(formation.unwrap_or_default()))
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
    Waiting(wait): Waiting,
    Json(req): Json<RestartRequest>,
) -> Result<StatusCode, ApiError> {
    ps::restart(
        &p,
        &actor,
        &app_name(&app)?,
        req.process_type.as_deref(),
        wait,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn processes(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
) -> Result<axum::Json<Vec<ProcessInfo>>, ApiError> {
    Ok(axum::Json(
        ps::processes(&p, &actor, &app_name(&app)?).await?,
    ))
}
