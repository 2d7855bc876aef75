//! `/api/v1/events` and `/api/v1/apps/{app}/events`.

use axum::extract::{Path, State};

use crate::ops::{Actor, Platform, events};
use crate::wire::EventInfo;

use super::error::ApiError;
use super::extract::app_name;

pub async fn list(
    State(p): State<Platform>,
    actor: Actor,
) -> Result<axum::Json<Vec<EventInfo>>, ApiError> {
    Ok(axum::Json(events::list(&p, &actor, None).await?))
}

pub async fn of_app(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
) -> Result<axum::Json<Vec<EventInfo>>, ApiError> {
    Ok(axum::Json(
        events::list(&p, &actor, Some(&app_name(&app)?)).await?,
    ))
}
