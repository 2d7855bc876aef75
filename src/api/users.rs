//! `/api/v1/users`, `/api/v1/login` and `/api/v1/whoami`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::ops::{Actor, Platform, tokens, users};
use crate::wire::{
    CreateUser, CreatedToken, CreatedUser, LoginRequest, SetPassword, UserInfo, WhoAmI,
};

use super::error::ApiError;
use super::extract::Json;

pub async fn login(
    State(p): State<Platform>,
    connection: Option<axum::Extension<crate::router::ConnectionInfo>>,
    Json(req): Json<LoginRequest>,
) -> Result<(StatusCode, axum::Json<CreatedToken>), ApiError> {
    let addr = connection.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.peer.ip());
    let token = tokens::login(&p, &req.user, &req.password, req.token_name, addr).await?;
    Ok((StatusCode::CREATED, axum::Json(token)))
}

pub async fn whoami(actor: Actor) -> axum::Json<WhoAmI> {
    axum::Json(WhoAmI {
        name: actor.0.name,
        admin: actor.0.is_admin,
    })
}

pub async fn list(
    State(p): State<Platform>,
    actor: Actor,
) -> Result<axum::Json<Vec<UserInfo>>, ApiError> {
    Ok(axum::Json(users::list(&p, &actor).await?))
}

pub async fn create(
    State(p): State<Platform>,
    actor: Actor,
    Json(req): Json<CreateUser>,
) -> Result<(StatusCode, axum::Json<CreatedUser>), ApiError> {
    Ok((
        StatusCode::CREATED,
        axum::Json(users::create(&p, &actor, req).await?),
    ))
}

pub async fn set_password(
    State(p): State<Platform>,
    actor: Actor,
    Path(name): Path<String>,
    Json(req): Json<SetPassword>,
) -> Result<StatusCode, ApiError> {
    users::set_password(&p, &actor, &name, req.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct Confirm {
    #[serde(default)]
    confirm: String,
}

pub async fn destroy(
    State(p): State<Platform>,
    actor: Actor,
    Path(name): Path<String>,
    Query(q): Query<Confirm>,
) -> Result<StatusCode, ApiError> {
    users::destroy(&p, &actor, &name, &q.confirm).await?;
    Ok(StatusCode::NO_CONTENT)
}
