//! `/api/v1/apps/{app}/addons[...]`: add-ons and their attachments, and
//! `/addons/{name}/backups[...]`: a Postgres add-on's backups. `{name}` is an add-on's
//! name or the name it is attached as (`DATABASE`).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::ops::{Actor, Platform, Progress, addons, backups};
use crate::wire::{AddonChanged, AddonInfo, AttachAddon, BackupInfo, BackupSchedule, CreateAddon};

use super::error::ApiError;
use super::extract::{Json, app_name};

pub async fn list(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
) -> Result<axum::Json<Vec<AddonInfo>>, ApiError> {
    Ok(axum::Json(
        addons::list(&p, &actor, &app_name(&app)?).await?,
    ))
}

pub async fn create(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    Json(request): Json<CreateAddon>,
) -> Result<(StatusCode, axum::Json<AddonChanged>), ApiError> {
    let name = app_name(&app)?;
    let created = addons::create(&p, &actor, &name, request, &Progress::silent()).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

pub async fn info(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, addon)): Path<(String, String)>,
) -> Result<axum::Json<AddonInfo>, ApiError> {
    app_name(&app)?;
    Ok(axum::Json(addons::show(&p, &actor, &addon).await?))
}

#[derive(Deserialize)]
pub struct Destroy {
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    no_backup: bool,
}

pub async fn destroy(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, addon)): Path<(String, String)>,
    Query(q): Query<Destroy>,
) -> Result<StatusCode, ApiError> {
    app_name(&app)?;
    addons::destroy(
        &p,
        &actor,
        &addon,
        &q.confirm,
        q.no_backup,
        &Progress::silent(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn attach(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, addon)): Path<(String, String)>,
    Json(request): Json<AttachAddon>,
) -> Result<axum::Json<AddonChanged>, ApiError> {
    let name = app_name(&app)?;
    let changed = addons::attach(&p, &actor, &name, &addon, request, &Progress::silent()).await?;
    Ok(axum::Json(changed))
}

pub async fn detach(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, addon)): Path<(String, String)>,
) -> Result<axum::Json<AddonChanged>, ApiError> {
    let name = app_name(&app)?;
    let changed = addons::detach(&p, &actor, &name, &addon, &Progress::silent()).await?;
    Ok(axum::Json(changed))
}

pub async fn restart(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, addon)): Path<(String, String)>,
) -> Result<axum::Json<AddonInfo>, ApiError> {
    app_name(&app)?;
    Ok(axum::Json(addons::restart(&p, &actor, &addon).await?))
}

pub async fn backups(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, _addon)): Path<(String, String)>,
) -> Result<axum::Json<Vec<BackupInfo>>, ApiError> {
    Ok(axum::Json(
        backups::list(&p, &actor, &app_name(&app)?).await?,
    ))
}

pub async fn capture(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, addon)): Path<(String, String)>,
) -> Result<(StatusCode, axum::Json<BackupInfo>), ApiError> {
    let name = app_name(&app)?;
    let backup = backups::capture(&p, &actor, &name, named(&addon), &Progress::silent()).await?;
    Ok((StatusCode::CREATED, axum::Json(backup)))
}

/// The dump file, streamed (`latest` names the newest good backup).
pub async fn download(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, _addon, id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let name = app_name(&app)?;
    let (backup, path) = backups::file(&p, &actor, &name, backup_id(&id)?).await?;
    let file = tokio::fs::File::open(&path).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read the backup: {e}"),
        )
    })?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mut response = (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{app}-b{:03}.dump\"", backup.id),
            ),
        ],
        body,
    )
        .into_response();
    if let (Some(size), Ok(value)) = (
        backup.size,
        axum::http::HeaderValue::from_str(&backup.size.unwrap_or(0).to_string()),
    ) && size > 0
    {
        response.headers_mut().insert(header::CONTENT_LENGTH, value);
    }
    if let Some(sha) = backup.sha256.as_deref()
        && let Ok(value) = axum::http::HeaderValue::from_str(sha)
    {
        response.headers_mut().insert("x-paas-sha256", value);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct Restore {
    #[serde(default)]
    confirm: String,
}

pub async fn restore(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, addon, id)): Path<(String, String, String)>,
    Json(request): Json<Restore>,
) -> Result<axum::Json<BackupInfo>, ApiError> {
    let name = app_name(&app)?;
    let restored = backups::restore(
        &p,
        &actor,
        &name,
        backup_id(&id)?,
        named(&addon),
        &request.confirm,
        &Progress::silent(),
    )
    .await?;
    Ok(axum::Json(restored))
}

/// The body is a dump (`pg_dump -Fc`), streamed to disk, restored, then removed.
pub async fn restore_upload(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, addon)): Path<(String, String)>,
    Query(q): Query<Restore>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let name = app_name(&app)?;
    let stream = body.into_data_stream();
    backups::restore_upload(
        &p,
        &actor,
        &name,
        named(&addon),
        &q.confirm,
        stream,
        &Progress::silent(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn schedule(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, addon)): Path<(String, String)>,
    Json(request): Json<BackupSchedule>,
) -> Result<axum::Json<BackupSchedule>, ApiError> {
    let name = app_name(&app)?;
    let at = backups::schedule(&p, &actor, &name, named(&addon), request.at.as_deref()).await?;
    Ok(axum::Json(BackupSchedule { at }))
}

/// `-` (or `default`) in the path: the app's default add-on of the kind.
fn named(addon: &str) -> Option<&str> {
    (!matches!(addon, "-" | "default")).then_some(addon)
}

/// `b003`, `3`, or `latest`.
fn backup_id(raw: &str) -> Result<Option<i64>, ApiError> {
    if raw == "latest" {
        return Ok(None);
    }
    raw.trim_start_matches('b').parse().map(Some).map_err(|_| {
        ApiError::bad_request(format!(
            "invalid backup \"{raw}\": write it as b003 (see paas pg:backups)"
        ))
    })
}
