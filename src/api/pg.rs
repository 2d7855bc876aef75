//! `/api/v1/apps/{app}/addons/{addon}/pg[...]`: `pg:info`, `pg:ps`, `pg:kill`. `{addon}` is
//! an add-on or attachment name, or `-` for the app's DATABASE.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::ops::{Actor, Platform, pg};
use crate::wire::{PgInfo, PgProcess};

use super::error::ApiError;
use super::extract::app_name;

fn named(addon: &str) -> Option<&str> {
    (addon != "-").then_some(addon)
}

pub async fn info(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, addon)): Path<(String, String)>,
) -> Result<axum::Json<PgInfo>, ApiError> {
    let name = app_name(&app)?;
    Ok(axum::Json(
        pg::info(&p, &actor, &name, named(&addon)).await?,
    ))
}

pub async fn processes(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, addon)): Path<(String, String)>,
) -> Result<axum::Json<Vec<PgProcess>>, ApiError> {
    let name = app_name(&app)?;
    Ok(axum::Json(
        pg::processes(&p, &actor, &name, named(&addon)).await?,
    ))
}

pub async fn kill(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, addon, pid)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let name = app_name(&app)?;
    let pid = pg::parse_pid(&pid)?;
    pg::kill(&p, &actor, &name, named(&addon), pid).await?;
    Ok(StatusCode::NO_CONTENT)
}
