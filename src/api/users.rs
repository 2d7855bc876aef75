//! `/api/v1/users`, `/api/v1/login` and `/api/v1/whoami`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::ops::users::PasswordChange;
use crate::ops::{Actor, Platform, tokens, users};
use crate::router::ClientInfo;
use crate::wire::{
    CreateUser, CreatedToken, CreatedUser, LoginRequest, SetPassword, UserInfo, WhoAmI,
};

use super::error::ApiError;
use super::extract::Json;

/// The client address the failed-login limits count: the peer, or behind a trusted proxy
/// the forwarded client.
fn client_addr(client: Option<axum::Extension<ClientInfo>>) -> std::net::IpAddr {
    client.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.addr)
}

pub async fn login(
    State(p): State<Platform>,
    client: Option<axum::Extension<ClientInfo>>,
    Json(req): Json<LoginRequest>,
) -> Result<(StatusCode, axum::Json<CreatedToken>), ApiError> {
    let addr = client_addr(client);
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
    client: Option<axum::Extension<ClientInfo>>,
    Json(req): Json<SetPassword>,
) -> Result<StatusCode, ApiError> {
    let change = PasswordChange {
        password: req.password,
        current: req.current_password,
        end_tokens: req.revoke_tokens,
        addr: client_addr(client),
    };
    users::set_password(&p, &actor, &name, change).await?;
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
