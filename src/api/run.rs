//! One-off processes. `POST /api/v1/apps/{app}/run` starts one and streams its output as
//! newline-delimited JSON events, ending with its exit code; `GET .../run/attach` is a
//! WebSocket with the process's stdin, output and terminal (`paas run`). Both end when the
//! token's access to the app does; an attached process is stopped then.

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::domain::AppName;
use crate::ops::grants::Grant;
use crate::ops::{Actor, Platform, run};
use crate::scheduler::{RunOutput, RunSession};
use crate::wire::{RUN_STDERR, RUN_STDOUT, RunAttach, RunControl, RunEvent, RunRequest};

use super::error::ApiError;
use super::extract::{Json, app_name, bearer_token};

pub async fn start(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    headers: HeaderMap,
    Json(req): Json<RunRequest>,
) -> Result<Response, ApiError> {
    let name = app_name(&app)?;
    let grant = Grant::of_token(&p, bearer_token(&headers)?, &actor, &name).await?;
    if req.detach {
        let (dyno, _) = run::run(&p, &actor, &name, &req.command, None).await?;
        return Ok(ndjson(Body::from(line(&RunEvent::Started { dyno }))));
    }
    let lost = grant.lost(p.clone());
    // Bounded: a caller reading slower than the process prints loses lines (and is told how
    // many once it catches up); the server does not hold them.
    let (tx, rx) = mpsc::channel::<String>(OUTPUT_LINES);
    let output_tx = tx.clone();
    let dropped = std::sync::atomic::AtomicU64::new(0);
    let output: crate::scheduler::OneOffOutput = Box::new(move |text: &str| {
        use std::sync::atomic::Ordering::Relaxed;
        let missed = dropped.swap(0, Relaxed);
        let notice = RunEvent::Output {
            line: format!("... {missed} lines dropped"),
        };
        if missed > 0 && output_tx.try_send(line(&notice)).is_err() {
            dropped.fetch_add(missed + 1, Relaxed);
            return;
        }
        let event = RunEvent::Output {
            line: text.to_owned(),
        };
        if output_tx.try_send(line(&event)).is_err() {
            dropped.fetch_add(1, Relaxed);
        }
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
        let _ = tx.send(line(&event)).await;
    });
    // Without access the output stops; the process runs to its end as a detached one.
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|l| (Ok::<_, std::io::Error>(l), rx))
    })
    .take_until(lost);
    Ok(ndjson(Body::from_stream(stream)))
}

/// Output lines of a one-off process a caller may fall behind by.
const OUTPUT_LINES: usize = 1024;

fn line(event: &RunEvent) -> String {
    let mut text = serde_json::to_string(event).unwrap_or_default();
    text.push('\n');
    text
}

fn ndjson(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
}

/// `GET /api/v1/apps/{app}/run/attach`, a WebSocket: the first text message names the
/// command (and the terminal); then binary messages carry stdin one way and output the
/// other (first byte: which stream), and text messages carry resizes, stdin's end, and
/// finally the exit code. Closing the socket stops the process.
pub async fn attach(
    State(p): State<Platform>,
    actor: Actor,
    Path(app): Path<String>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let name = app_name(&app)?;
    // Refused here, before the upgrade, an unknown app is a plain 404 with its hint.
    let grant = Grant::of_token(&p, bearer_token(&headers)?, &actor, &name).await?;
    Ok(upgrade.on_upgrade(move |socket| relay(p, actor, name, grant, socket)))
}

/// Reads the command from the first message and starts it; a failure is told to the
/// caller on the socket.
async fn open_session(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    socket: &mut WebSocket,
) -> Option<RunSession> {
    let request = match socket.recv().await {
        Some(Ok(Message::Text(text))) => serde_json::from_str::<RunAttach>(text.as_str())
            .map_err(|e| format!("the first message must name the command: {e}")),
        _ => Err("the first message must name the command".to_owned()),
    };
    let session = match request {
        Ok(RunAttach {
            addon: Some(client),
            terminal,
            ..
        }) => run::attach_addon(p, actor, name, &client, terminal)
            .await
            .map_err(|e| e.to_string()),
        Ok(request) => run::attach(p, actor, name, &request.command, request.terminal)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    match session {
        Ok(session) => Some(session),
        Err(error) => {
            let _ = socket.send(event(&RunEvent::Failed { error })).await;
            None
        }
    }
}

async fn relay(p: Platform, actor: Actor, name: AppName, grant: Grant, mut socket: WebSocket) {
    let lost = grant.lost(p.clone());
    tokio::pin!(lost);
    let Some(session) = open_session(&p, &actor, &name, &mut socket).await else {
        return;
    };
    let RunSession {
        dyno,
        mut input,
        mut output,
        resize,
        exit,
    } = session;
    if socket
        .send(event(&RunEvent::Started { dyno }))
        .await
        .is_err()
    {
        return;
    }
    let mut stdin_open = true;
    loop {
        tokio::select! {
            // Returning drops the session, which stops the process.
            () = &mut lost => {
                let error = format!("your access to {name} was revoked; the process was stopped");
                let _ = socket.send(event(&RunEvent::Failed { error })).await;
                let _ = socket.close().await;
                return;
            }
            chunk = output.next() => {
                let Some(chunk) = chunk else { break };
                if socket.send(frame(chunk)).await.is_err() {
                    return;
                }
            }
            message = socket.recv() => match message {
                Some(Ok(Message::Binary(data))) if stdin_open => {
                    if input.write_all(&data).await.is_err() {
                        stdin_open = false;
                    }
                }
                Some(Ok(Message::Text(text))) => {
                    match serde_json::from_str::<RunControl>(text.as_str()) {
                        Ok(RunControl::Resize(size)) => {
                            // A flood of resizes loses some; the last one that fits wins.
                            let _ = resize.try_send(size);
                        }
                        Ok(RunControl::Eof) => {
                            stdin_open = false;
                            let _ = input.shutdown().await;
                        }
                        Err(_) => {}
                    }
                }
                Some(Ok(_)) => {}
                // The caller went away: dropping the session stops the process.
                Some(Err(_)) | None => return,
            },
        }
    }
    let code = exit.await.ok().flatten();
    let last = match code {
        Some(code) => RunEvent::Exited { code },
        None => RunEvent::Failed {
            error: "the process ended without an exit code".into(),
        },
    };
    let _ = socket.send(event(&last)).await;
    let _ = socket.close().await;
}

/// Output as a binary message: first byte stdout or stderr, then the bytes.
fn frame(chunk: RunOutput) -> Message {
    let (stream, bytes) = match chunk {
        RunOutput::Stdout(bytes) => (RUN_STDOUT, bytes),
        RunOutput::Stderr(bytes) => (RUN_STDERR, bytes),
    };
    let mut frame = Vec::with_capacity(bytes.len() + 1);
    frame.push(stream);
    frame.extend_from_slice(&bytes);
    Message::Binary(frame.into())
}

fn event(event: &RunEvent) -> Message {
    Message::Text(serde_json::to_string(event).unwrap_or_default().into())
}
