//! `POST /api/v1/apps/{app}/run`: starts a one-off process and streams its output as
//! newline-delimited JSON events, ending with its exit code.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use crate::ops::{Actor, Platform, run};
use crate::wire::{RunEvent, RunRequest};

use super::error::ApiError;
use super::extract::{Json, app_name};

pub async fn start(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    Json(req): Json<RunRequest>,
) -> Result<Response, ApiError> {
    let name = app_name(&app)?;
    if req.detach {
        let (dyno, _) = run::run(&p, &actor, &name, &req.command, None).await?;
        return Ok(ndjson(Body::from(line(&RunEvent::Started { dyno }))));
    }
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let output_tx = tx.clone();
    let output: crate::ops::deploy::OutputSink = Box::new(move |text: &str| {
        let _ = output_tx.send(line(&RunEvent::Output {
            line: text.to_owned(),
        }));
    });
    // The process runs on, reporting into the channel, while the response streams.
    tokio::spawn(async move {
        let event = match run::run(&p, &actor, &name, &req.command, Some(output)).await {
            Ok((_, Some(code))) => RunEvent::Exited { code },
            Ok((_, None)) => RunEvent::Failed {
                error: "the process ended without an exit code".into(),
            },
            Err(e) => RunEvent::Failed {
                error: e.to_string(),
            },
        };
        let _ = tx.send(line(&event));
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|l| (Ok::<_, std::io::Error>(l), rx))
    });
    Ok(ndjson(Body::from_stream(stream)))
}

fn line(event: &RunEvent) -> String {
    let mut text = serde_json::to_string(event).unwrap_or_default();
    text.push('\n');
    text
}

fn ndjson(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
}
