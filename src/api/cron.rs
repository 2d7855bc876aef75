//! `/api/v1/apps/{app}/cron` (the current release's app.json cron jobs, with their next
//! time and last runs) and `POST .../cron/{id}/run` (run one now).

use axum::extract::{Path, State};

use crate::ops::{Actor, Platform, cron};
use crate::wire::{CronJobInfo, CronRunInfo};

use super::error::ApiError;
use super::extract::app_name;

pub async fn list(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
) -> Result<axum::Json<Vec<CronJobInfo>>, ApiError> {
    Ok(axum::Json(cron::list(&p, &actor, &app_name(&app)?).await?))
}

pub async fn run(
    State(p): State<Platform>,
    actor: Actor,
    Path((app, id)): Path<(String, String)>,
) -> Result<axum::Json<CronRunInfo>, ApiError> {
    Ok(axum::Json(
        cron::run_now(&p, &actor, &app_name(&app)?, &id).await?,
    ))
}
