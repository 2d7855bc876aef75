//! `/api/v1/tokens`.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::ops::{Actor, Platform, tokens};
use crate::wire::{CreateToken, CreatedToken, TokenInfo};

use super::error::ApiError;
use super::extract::Json;

pub async fn list(
    State(p): State<Platform>,
    actor: Actor,
) -> Result<axum::Json<Vec<TokenInfo>>, ApiError> {
    Ok(axum::Json(tokens::list(&p, &actor).await?))
}

pub async fn create(
    State(p): State<Platform>,
    actor: Actor,
    Json(req): Json<CreateToken>,
) -> Result<(StatusCode, axum::Json<CreatedToken>), ApiError> {
    Ok((
        StatusCode::CREATED,
        axum::Json(tokens::create(&p, &actor, &req.name).await?),
    ))
}

pub async fn revoke(
    State(p): State<Platform>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    tokens::revoke(&p, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
