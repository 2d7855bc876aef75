//! `logs`: recent lines, and with `--tail` new ones as they come.

use std::io::Write;

use anyhow::Result;
use futures_util::StreamExt;
use reqwest::Method;

use super::{Ctx, app_path};

pub async fn show(
    ctx: &Ctx,
    tail: bool,
    lines: usize,
    ps: Option<String>,
    source: Option<String>,
) -> Result<()> {
    let app = ctx.app()?;
    let mut filters = String::new();
    if let Some(ps) = ps {
        filters.push_str(&format!("&ps={ps}"));
    }
    if let Some(source) = source {
        filters.push_str(&format!("&source={source}"));
    }
    let mut history = lines;
    loop {
        let path = format!(
            "{}/logs?lines={history}&tail={tail}{filters}",
            app_path(&app)
        );
        let response = ctx.client.request::<()>(Method::GET, &path, None).await?;
        let mut body = response.bytes_stream();
        let mut stdout = std::io::stdout();
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else { break };
            stdout.write_all(&chunk)?;
            stdout.flush()?;
        }
        if !tail {
            return Ok(());
        }
        // A quiet stream is closed by idle timeouts on the way; follow on where it ended.
        history = 0;
    }
}
