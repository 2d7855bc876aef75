//! `/api/v1/apps/{app}/certs` (each domain's certificate; add and remove the user's own)
//! and `/api/v1/apps/{app}/https` (https-only redirects and HSTS).

use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::ops::{Actor, Platform, certs};
use crate::wire::{AddCert, CertInfo, HttpsInfo};

use super::error::ApiError;
use super::extract::{Json, app_name};

pub async fn list(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
) -> Result<axum::Json<Vec<CertInfo>>, ApiError> {
    Ok(axum::Json(certs::list(&p, &actor, &app_name(&app)?).await?))
}

pub async fn add(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    Json(req): Json<AddCert>,
) -> Result<(StatusCode, axum::Json<Vec<CertInfo>>), ApiError> {
    let listed = certs::add(&p, &actor, &app_name(&app)?, &req.certificate, &req.key).await?;
    Ok((StatusCode::CREATED, axum::Json(listed)))
}

/// `{target}` is a certificate id or a hostname the certificate serves.
pub async fn remove(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, target)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    certs::remove(&p, &actor, &app_name(&app)?, &target).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn https(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
) -> Result<axum::Json<HttpsInfo>, ApiError> {
    Ok(axum::Json(
        certs::https(&p, &actor, &app_name(&app)?).await?,
    ))
}

pub async fn set_https(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    Json(req): Json<HttpsInfo>,
) -> Result<axum::Json<HttpsInfo>, ApiError> {
    Ok(axum::Json(
        certs::set_https(&p, &actor, &app_name(&app)?, req).await?,
    ))
}
