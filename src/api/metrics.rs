//! `GET /api/v1/apps/{app}/metrics?range=1h|24h`: the app's recorded metrics.

use axum::extract::{Path, Query, State};
use serde::Deserialize;

use crate::ops::metrics::{self, Range};
use crate::ops::{Actor, Platform};
use crate::wire::AppMetrics;

use super::error::ApiError;
use super::extract::app_name;

#[derive(Deserialize)]
pub struct MetricsQuery {
    range: Option<String>,
}

pub async fn of_app(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    Query(query): Query<MetricsQuery>,
) -> Result<axum::Json<AppMetrics>, ApiError> {
    let name = app_name(&app)?;
    let range = Range::parse(query.range.as_deref())?;
    Ok(axum::Json(metrics::of_app(&p, &actor, &name, range).await?))
}
