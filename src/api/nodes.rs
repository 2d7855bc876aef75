//! `/api/v1/swarm` and `/api/v1/nodes`: the swarm and its nodes (admins only).

use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::ops::{Actor, Platform, nodes};
use crate::wire::{NodeInfo, NodeJoin, SwarmInit, SwarmInitialized};

use super::error::ApiError;
use super::extract::Json;

pub async fn init(
    State(p): State<Platform>,
    actor: Actor,
    Json(req): Json<SwarmInit>,
) -> Result<(StatusCode, axum::Json<SwarmInitialized>), ApiError> {
    Ok((
        StatusCode::CREATED,
        axum::Json(nodes::init(&p, &actor, req).await?),
    ))
}

pub async fn list(
    State(p): State<Platform>,
    actor: Actor,
) -> Result<axum::Json<Vec<NodeInfo>>, ApiError> {
    Ok(axum::Json(nodes::list(&p, &actor).await?))
}

pub async fn join(
    State(p): State<Platform>,
    actor: Actor,
) -> Result<axum::Json<NodeJoin>, ApiError> {
    Ok(axum::Json(nodes::join(&p, &actor).await?))
}

pub async fn drain(
    State(p): State<Platform>,
    actor: Actor,
    Path(node): Path<String>,
) -> Result<axum::Json<NodeInfo>, ApiError> {
    Ok(axum::Json(nodes::drain(&p, &actor, &node).await?))
}

pub async fn activate(
    State(p): State<Platform>,
    actor: Actor,
    Path(node): Path<String>,
) -> Result<axum::Json<NodeInfo>, ApiError> {
    Ok(axum::Json(nodes::activate(&p, &actor, &node).await?))
}

pub async fn remove(
    State(p): State<Platform>,
    actor: Actor,
    Path(node): Path<String>,
) -> Result<StatusCode, ApiError> {
    nodes::remove(&p, &actor, &node).await?;
    Ok(StatusCode::NO_CONTENT)
}
