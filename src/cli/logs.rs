//! `logs`: recent lines, and with `--tail` new ones as they come.

use std::io::Write;

use anyhow::Result;
use futures_util::StreamExt;
use reqwest::Method;

use super::{Ctx, app_path};

pub async fn show(ctx: &Ctx, tail: bool, lines: usize, ps: Option<String>, source: Option<String>) -> Result<()> {
    let app = ctx.app()?;
    let mut path = format!("{}/logs?lines={lines}&tail={tail}", app_path(&app));
    if let Some(ps) = ps {
        path.push_str(&format!("&ps={ps}"));
    }
    if let Some(source) = source {
        path.push_str(&format!("&source={source}"));
    }
    let response = ctx.client.request::<()>(Method::GET, &path, None).await?;
    let mut body = response.bytes_stream();
    let mut stdout = std::io::stdout();
    while let Some(chunk) = body.next().await {
        stdout.write_all(&chunk?)?;
        stdout.flush()?;
    }
    Ok(())
}
