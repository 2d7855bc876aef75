//! `/api/v1/apps/{app}/members` and `/api/v1/apps/{app}/owner`.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::ops::{Actor, Platform, access};
use crate::wire::MemberRequest;

use super::error::ApiError;
use super::extract::{Json, app_name};

pub async fn list(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
) -> Result<axum::Json<Vec<String>>, ApiError> {
    Ok(axum::Json(
        access::list(&p, &actor, &app_name(&app)?).await?,
    ))
}

pub async fn add(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    Json(req): Json<MemberRequest>,
) -> Result<StatusCode, ApiError> {
    access::add(&p, &actor, &app_name(&app)?, &req.user).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    access::remove(&p, &actor, &app_name(&app)?, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn transfer(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    Json(req): Json<MemberRequest>,
) -> Result<StatusCode, ApiError> {
    access::transfer(&p, &actor, &app_name(&app)?, &req.user).await?;
    Ok(StatusCode::NO_CONTENT)
}
