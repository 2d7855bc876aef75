//! `releases`, `releases:info`, `rollback`.

use anyhow::Result;

use crate::wire::{ReleaseInfo, RollbackRequest};

use super::{Ctx, app_path, output};

pub async fn list(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let releases: Vec<ReleaseInfo> = ctx
        .client
        .get(&format!("{}/releases", app_path(&app)))
        .await?;
    if ctx.json {
        return output::json(&releases);
    }
    let current = releases
        .iter()
        .find(|r| r.current)
        .map_or("none".to_owned(), |r| format!("v{}", r.version));
    output::heading(&format!("{app} Releases - Current: {current}"));
    let rows: Vec<Vec<String>> = releases
        .into_iter()
        .map(|r| {
            let state = if r.state == "succeeded" {
                String::new()
            } else {
                r.state
            };
            vec![
                format!("v{}", r.version),
                r.description,
                r.author,
                r.created_at,
                state,
            ]
        })
        .collect();
    output::table(&["VERSION", "DESCRIPTION", "BY", "WHEN", "STATE"], &rows);
    Ok(())
}

pub async fn info(ctx: &Ctx, version: &str) -> Result<()> {
    let app = ctx.app()?;
    let version = version.trim_start_matches('v');
    let release: ReleaseInfo = ctx
        .client
        .get(&format!("{}/releases/{version}", app_path(&app)))
        .await?;
    if ctx.json {
        return output::json(&release);
    }
    output::heading(&format!("Release v{}", release.version));
    let commit = release.commit.clone().unwrap_or_else(|| "-".into());
    let detail = release.state_detail.clone().unwrap_or_default();
    let state = if detail.is_empty() {
        release.state.clone()
    } else {
        format!("{}: {detail}", release.state)
    };
    output::key_values([
        ("By", release.author.as_str()),
        ("Change", release.description.as_str()),
        ("When", release.created_at.as_str()),
        ("State", state.as_str()),
        ("Commit", commit.as_str()),
    ]);
    if !release.rollout.is_empty() {
        println!();
        output::heading(&format!("v{} Rolling out", release.version));
        for line in &release.rollout {
            println!("{line}");
        }
    }
    if let Some(config) = &release.config {
        println!();
        output::heading(&format!("v{} Config vars", release.version));
        output::key_values(config.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    Ok(())
}

pub async fn rollback(ctx: &Ctx, version: Option<String>, no_wait: bool) -> Result<()> {
    let app = ctx.app()?;
    let version = version
        .map(|v| {
            v.trim_start_matches('v')
                .parse::<i64>()
                .map_err(|_| anyhow::anyhow!("invalid release \"{v}\": write it as v3"))
        })
        .transpose()?;
    let target = version.map_or("the previous release".to_owned(), |v| format!("v{v}"));
    if !ctx.json {
        output::begin(&format!("Rolling back {app} to {target}"));
    }
    let release: ReleaseInfo = ctx
        .client
        .post(
            &format!("{}/rollback{}", app_path(&app), wait_query(no_wait)),
            &RollbackRequest { version },
        )
        .await
        .inspect_err(|_| {
            if !ctx.json {
                println!("failed");
            }
        })?;
    if ctx.json {
        return output::json(&release);
    }
    println!("{}", output::release_outcome(&release));
    if let Some((_, note)) = release.description.split_once("; ") {
        println!("Note: {note}; a rollback does not bring back add-ons");
    }
    Ok(())
}

/// The query that makes the server answer before the change is done.
pub(crate) fn wait_query(no_wait: bool) -> &'static str {
    if no_wait { "?wait=false" } else { "" }
}
