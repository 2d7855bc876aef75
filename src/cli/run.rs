//! `run`: a one-off process; its output is printed as it comes and its exit code becomes
//! ours.

use anyhow::{Result, bail};
use futures_util::StreamExt;
use reqwest::Method;

use crate::wire::{RunEvent, RunRequest};

use super::{Ctx, app_path};

pub async fn run(ctx: &Ctx, command: &[String], detach: bool) -> Result<i32> {
    let app = ctx.app()?;
    if command.is_empty() {
        bail!("give a command to run, e.g. paas run python manage.py migrate");
    }
    let request = RunRequest {
        command: command.join(" "),
        detach,
    };
    let response = ctx
        .client
        .request(
            Method::POST,
            &format!("{}/run", app_path(&app)),
            Some(&request),
        )
        .await?;
    let mut body = response.bytes_stream();
    let mut pending = Vec::new();
    while let Some(chunk) = body.next().await {
        pending.extend_from_slice(&chunk?);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            match serde_json::from_slice::<RunEvent>(&line)? {
                RunEvent::Started { dyno } => {
                    println!("Running {} on {app}... up, {dyno}", request.command)
                }
                RunEvent::Output { line } => println!("{line}"),
                RunEvent::Exited { code } => return Ok(i32::try_from(code).unwrap_or(1)),
                RunEvent::Failed { error } => bail!(error),
            }
        }
    }
    if detach {
        return Ok(0);
    }
    bail!("the connection to the server ended before the process did; see paas logs -a {app}")
}
