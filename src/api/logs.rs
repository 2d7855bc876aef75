//! `/api/v1/apps/{app}/logs`: history as text lines, then (with `tail=true`) new lines as
//! they arrive, in one streamed response.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::logs::{LogFilter, Source};
use crate::ops::{Actor, Platform, logs};

use super::error::ApiError;
use super::extract::app_name;

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
) -> Result<Response, ApiError> {
    let filter = parse_filter(q.ps, q.source.as_deref())?;
    let view = logs::view(
        &p,
        &actor,
        &app_name(&app)?,
        q.lines,
        filter.clone(),
        q.tail,
    )
    .await?;
    let history = futures_util::stream::iter(
        view.history
            .into_iter()
            .map(|e| Ok::<_, std::io::Error>(format!("{e}\n"))),
    );
    let body = match view.live {
        None => Body::from_stream(history),
        Some(live) => {
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
            .map(|e| Ok(format!("{e}\n")));
            Body::from_stream(history.chain(live))
        }
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
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown log source \"{other}\": use app or paas"
            )));
        }
    };
    Ok(LogFilter {
        dyno: ps.filter(|p| !p.is_empty()),
        source,
    })
}
