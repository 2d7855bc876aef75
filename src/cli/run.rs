//! `run`: a one-off process attached to this terminal (or these pipes): what is typed
//! reaches it, its output is printed as it comes, and its exit code becomes ours.
//! `--detach` only starts it.

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use tokio::io::AsyncReadExt;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::wire::{
    AddonClient, RUN_STDERR, RUN_STDOUT, RunAttach, RunControl, RunEvent, RunRequest, TermSize,
};

use super::terminal::RawMode;
use super::{Ctx, app_path};

/// A terminal that does not know its size (a fresh pseudo-terminal) gets VT100's.
const DEFAULT_SIZE: TermSize = TermSize { cols: 80, rows: 24 };

pub async fn run(ctx: &Ctx, command: &[String], detach: bool) -> Result<i32> {
    let app = ctx.app()?;
    if command.is_empty() {
        bail!("give a command to run, e.g. paas run python manage.py migrate");
    }
    let command = command.join(" ");
    if detach {
        return start_detached(ctx, &app, command).await;
    }
    attach(ctx, &app, command, None).await
}

/// `pg:psql` / `redis:cli`: the add-on's client attached to this terminal (or pipes).
pub async fn addon_client(ctx: &Ctx, kind: &str, name: Option<String>) -> Result<i32> {
    let app = ctx.app()?;
    let client = AddonClient {
        kind: kind.to_owned(),
        name,
    };
    let shown = match kind {
        "redis" => "redis-cli",
        _ => "psql",
    };
    attach(ctx, &app, shown.to_owned(), Some(client)).await
}

async fn start_detached(ctx: &Ctx, app: &str, command: String) -> Result<i32> {
    let request = RunRequest {
        command,
        detach: true,
    };
    let response = ctx
        .client
        .request(
            Method::POST,
            &format!("{}/run", app_path(app)),
            Some(&request),
        )
        .await?;
    let text = response.text().await?;
    match serde_json::from_str::<RunEvent>(text.trim())? {
        RunEvent::Started { dyno } => {
            println!(
                "Running {} on {app}... up, {dyno} (detached; see paas logs -a {app} --ps {dyno})",
                request.command
            );
            Ok(0)
        }
        RunEvent::Failed { error } => bail!(error),
        other => bail!("unexpected answer to a detached run: {other:?}"),
    }
}

async fn attach(ctx: &Ctx, app: &str, command: String, addon: Option<AddonClient>) -> Result<i32> {
    // A terminal on both ends gets a terminal in the process (for `paas run bash`);
    // otherwise stdin and stdout are plain pipes, and stderr stays apart.
    let terminal = (std::io::stdin().is_terminal() && std::io::stdout().is_terminal())
        .then(|| terminal_size().unwrap_or(DEFAULT_SIZE));
    let upgraded = ctx
        .client
        .websocket(&format!("{}/run/attach", app_path(app)))
        .await?;
    let mut socket = WebSocketStream::from_raw_socket(upgraded, Role::Client, None).await;
    let hello = serde_json::to_string(&RunAttach {
        command: command.clone(),
        terminal,
        addon,
    })?;
    socket.send(Message::text(hello)).await?;
    match next_event(&mut socket).await? {
        RunEvent::Started { dyno } => eprintln!("Running {command} on {app}... up, {dyno}"),
        RunEvent::Failed { error } => bail!(error),
        other => bail!("unexpected answer to paas run: {other:?}"),
    }
    let _raw = match terminal {
        Some(_) => Some(RawMode::enter().context("cannot put the terminal in raw mode")?),
        None => None,
    };
    let (mut to_server, mut from_server) = socket.split();
    let (frames, mut outgoing) = tokio::sync::mpsc::unbounded_channel::<Message>();
    tokio::spawn(forward_stdin(frames.clone()));
    if terminal.is_some() {
        tokio::spawn(forward_resizes(frames));
    }
    let sender = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            if to_server.send(message).await.is_err() {
                break;
            }
        }
    });
    let outcome = loop {
        let Some(message) = from_server.next().await else {
            break Err(anyhow!(
                "the connection to the server ended before the process did; see paas logs -a {app}"
            ));
        };
        match message? {
            Message::Binary(data) => {
                let Some((&stream, bytes)) = data.split_first() else {
                    continue;
                };
                if stream == RUN_STDERR {
                    let mut err = std::io::stderr().lock();
                    err.write_all(bytes)?;
                    err.flush()?;
                } else if stream == RUN_STDOUT {
                    let mut out = std::io::stdout().lock();
                    out.write_all(bytes)?;
                    out.flush()?;
                }
            }
            Message::Text(text) => match serde_json::from_str::<RunEvent>(text.as_str())? {
                RunEvent::Exited { code } => break Ok(i32::try_from(code).unwrap_or(1)),
                RunEvent::Failed { error } => break Err(anyhow!(error)),
                RunEvent::Started { .. } | RunEvent::Output { .. } => {}
            },
            Message::Close(_) => {
                break Err(anyhow!(
                    "the server closed the session before the process ended; see paas logs -a {app}"
                ));
            }
            _ => {}
        }
    };
    sender.abort();
    outcome
}

async fn next_event<S>(socket: &mut WebSocketStream<S>) -> Result<RunEvent>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(text.as_str())?),
            Some(Ok(Message::Close(_))) | None => {
                bail!("the server ended the session before the process started")
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

/// Our stdin, as it is read, then its end.
async fn forward_stdin(frames: tokio::sync::mpsc::UnboundedSender<Message>) {
    let mut stdin = tokio::io::stdin();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match stdin.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if frames.send(Message::binary(buffer[..n].to_vec())).is_err() {
                    return;
                }
            }
        }
    }
    if let Ok(eof) = serde_json::to_string(&RunControl::Eof) {
        let _ = frames.send(Message::text(eof));
    }
}

/// Each new size of our terminal (SIGWINCH).
async fn forward_resizes(frames: tokio::sync::mpsc::UnboundedSender<Message>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut resized) = signal(SignalKind::window_change()) else {
        return;
    };
    while resized.recv().await.is_some() {
        let Some(size) = terminal_size() else {
            continue;
        };
        let Ok(text) = serde_json::to_string(&RunControl::Resize(size)) else {
            continue;
        };
        if frames.send(Message::text(text)).is_err() {
            return;
        }
    }
}

fn terminal_size() -> Option<TermSize> {
    let size = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    (size.ws_col > 0 && size.ws_row > 0).then_some(TermSize {
        cols: size.ws_col,
        rows: size.ws_row,
    })
}
