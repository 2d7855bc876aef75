//! `/api/v1/apps/{app}/logs`: history as text lines, then (with `tail=true`) new lines as
//! they arrive, in one streamed response that ends when the token's access to the app does.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::logs::{LogFilter, Source};
use crate::ops::grants::Grant;
use crate::ops::{Actor, Platform, logs};

use super::error::ApiError;
use super::extract::{app_name, bearer_token};

#[derive(Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    tail: bool,
    #[serde(default = "default_lines")]
    lines: usize,
    ps: Option<String>,
    source: Option<String>,
}

fn default_lines() -> usize {
    100
}

pub async fn stream(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    Query(q): Query<LogQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let filter = parse_filter(q.ps, q.source.as_deref())?;
    let name = app_name(&app)?;
    let grant = match q.tail {
        true => Some(Grant::of_token(&p, bearer_token(&headers)?, &actor, &name).await?),
        false => None,
    };
    let view = logs::view(&p, &actor, &name, q.lines, filter.clone(), q.tail).await?;
    let history = futures_util::stream::iter(
        view.history
            .into_iter()
            .map(|e| Ok::<_, std::io::Error>(format!("{e}\n"))),
    );
    let body = match (view.live, grant) {
        (Some(live), Some(grant)) => {
            let live = futures_util::stream::unfold(live, |mut rx| async move {
                loop {
                    match rx.recv().await {
                        Ok(entry) => return Some((entry, rx)),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    }
                }
            })
            .filter(move |e| std::future::ready(filter.matches(e)))
            .map(|e| Ok(format!("{e}\n")))
            .take_until(grant.lost(p));
            Body::from_stream(history.chain(live))
        }
        _ => Body::from_stream(history),
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}

pub fn parse_filter(ps: Option<String>, source: Option<&str>) -> Result<LogFilter, ApiError> {
    let source = match source {
        None | Some("") => None,
        Some("app") => Some(Source::App),
        Some("paas") => Some(Source::Paas),
        Some("addon") => Some(Source::Addon),
        Some("cron") => Some(Source::Cron),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown log source \"{other}\": use app, paas, addon or cron"
            )));
        }
    };
    Ok(LogFilter {
        dyno: ps.filter(|p| !p.is_empty()),
        source,
    })
}
