//! `builds`, `builds:info`, `builds:cancel`.

use anyhow::Result;
use reqwest::Method;

use crate::release::short_sha;
use crate::wire::BuildInfo;

use super::{Ctx, app_path, output};

pub async fn list(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let builds: Vec<BuildInfo> = ctx
        .client
        .get(&format!("{}/builds", app_path(&app)))
        .await?;
    if ctx.json {
        return output::json(&builds);
    }
    output::heading(&format!("{app} Builds"));
    let rows: Vec<Vec<String>> = builds
        .into_iter()
        .map(|b| {
            vec![
                b.id.to_string(),
                short_sha(&b.commit).to_owned(),
                b.state,
                b.buildpack.unwrap_or_default(),
                b.duration_secs
                    .map_or_else(String::new, |s| format!("{s}s")),
                b.author,
                b.created_at,
            ]
        })
        .collect();
    output::table(
        &[
            "ID",
            "COMMIT",
            "STATE",
            "BUILDPACK",
            "DURATION",
            "BY",
            "STARTED",
        ],
        &rows,
    );
    Ok(())
}

pub async fn info(ctx: &Ctx, id: Option<i64>) -> Result<()> {
    let app = ctx.app()?;
    let which = id.map_or("latest".to_owned(), |i| i.to_string());
    let build: BuildInfo = ctx
        .client
        .get(&format!("{}/builds/{which}", app_path(&app)))
        .await?;
    if ctx.json {
        return output::json(&build);
    }
    output::heading(&format!("Build {}", build.id));
    let size = build
        .image_size
        .map(|s| format!("{} MB", s / 1_000_000))
        .unwrap_or_default();
    let state = match &build.state_detail {
        Some(detail) => format!("{}: {detail}", build.state),
        None => build.state.clone(),
    };
    let duration = build
        .duration_secs
        .map(|s| format!("{s}s"))
        .unwrap_or_default();
    output::key_values([
        ("Commit", build.commit.as_str()),
        ("State", state.as_str()),
        ("Buildpack", build.buildpack.as_deref().unwrap_or("")),
        ("Image", build.image.as_deref().unwrap_or("")),
        ("Size", size.as_str()),
        ("Duration", duration.as_str()),
        ("By", build.author.as_str()),
        ("Started", build.created_at.as_str()),
    ]);
    if let Some(log) = &build.log {
        println!();
        output::heading("Log");
        print!("{log}");
    }
    Ok(())
}

pub async fn cancel(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    output::begin(&format!("Cancelling the running build of {app}"));
    ctx.client
        .call::<()>(
            Method::POST,
            &format!("{}/builds/cancel", app_path(&app)),
            None,
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    Ok(())
}
