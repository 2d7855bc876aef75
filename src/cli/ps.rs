//! `ps`, `ps:scale`, `ps:restart`, `ps:resize` (`ps:autosleep` is autosleep.rs).

use anyhow::Result;
use reqwest::Method;

use crate::domain::Timestamp;
use crate::domain::{ResizeRequest, ScaleRequest};
use crate::wire::{AutosleepInfo, FormationEntry, FormationPatch, ProcessInfo};

use super::releases::wait_query;
use super::{Ctx, app_path, output};

/// The formation, then every process with its state, release, uptime and restarts.
pub async fn show(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let formation: Vec<FormationEntry> = ctx
        .client
        .get(&format!("{}/formation", app_path(&app)))
        .await?;
    let processes: Vec<ProcessInfo> = ctx.client.get(&format!("{}/ps", app_path(&app))).await?;
    let sleep: AutosleepInfo = ctx
        .client
        .get(&format!("{}/autosleep", app_path(&app)))
        .await?;
    if ctx.json {
        return output::json(&serde_json::json!({
            "formation": formation,
            "processes": processes,
            "autosleep": sleep,
        }));
    }
    print_formation(&app, &formation);
    println!();
    if sleep.state != "awake" {
        println!("{}", super::autosleep::state_line(&app, &sleep));
        println!();
    }
    output::heading(&format!("{app} Processes"));
    let now = Timestamp::now().0;
    let on_nodes = processes.iter().any(|p| p.node.is_some());
    let rows: Vec<Vec<String>> = processes
        .into_iter()
        .map(|p| {
            let state = match p.exit_code {
                Some(code) => format!("{} (exit {code})", p.state),
                None => p.state,
            };
            let uptime = p
                .started_at
                .as_deref()
                .and_then(|s| {
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .map(|t| human_duration(now - t.unix_timestamp()))
                .unwrap_or_default();
            let mut row = vec![
                p.dyno,
                state,
                format!("v{}", p.release),
                uptime,
                p.restarts.to_string(),
            ];
            if on_nodes {
                row.push(p.node.unwrap_or_default());
            }
            row
        })
        .collect();
    let mut headings = vec!["PROCESS", "STATE", "RELEASE", "UPTIME", "RESTARTS"];
    if on_nodes {
        headings.push("NODE");
    }
    output::table(&headings, &rows);
    Ok(())
}

fn human_duration(secs: i64) -> String {
    match secs.max(0) {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

fn print_formation(app: &str, formation: &[FormationEntry]) {
    output::heading(&format!("{app} Formation"));
    let rows: Vec<Vec<String>> = formation
        .iter()
        .map(|f| {
            vec![
                f.process_type.clone(),
                f.quantity.to_string(),
                format!("{} MiB", f.memory_mb),
                f.command
                    .clone()
                    .unwrap_or_else(|| "(not in a build yet)".into()),
            ]
        })
        .collect();
    output::table(&["TYPE", "QUANTITY", "MEMORY", "COMMAND"], &rows);
}

pub async fn scale(ctx: &Ctx, pairs: &[String], no_wait: bool) -> Result<()> {
    let app = ctx.app()?;
    if pairs.is_empty() {
        return show(ctx).await;
    }
    let request = ScaleRequest::parse_args(pairs)?;
    let patch = FormationPatch {
        quantities: request.0.iter().map(|(t, q)| (t.to_string(), *q)).collect(),
        memory_mb: Default::default(),
    };
    if !ctx.json {
        output::begin("Scaling processes");
    }
    let formation: Vec<FormationEntry> = ctx
        .client
        .patch(
            &format!("{}/formation{}", app_path(&app), wait_query(no_wait)),
            &patch,
        )
        .await
        .inspect_err(|_| {
            if !ctx.json {
                println!("failed");
            }
        })?;
    if ctx.json {
        return output::json(&formation);
    }
    let now: Vec<String> = formation
        .iter()
        .map(|f| format!("{} at {}", f.process_type, f.quantity))
        .collect();
    if no_wait {
        println!("queued, scaling to {}", now.join(", "));
    } else {
        println!("done, now running {}", now.join(", "));
    }
    Ok(())
}

pub async fn resize(ctx: &Ctx, pairs: &[String]) -> Result<()> {
    let app = ctx.app()?;
    let request = ResizeRequest::parse_args(pairs)?;
    let patch = FormationPatch {
        quantities: Default::default(),
        memory_mb: request.0.iter().map(|(t, m)| (t.to_string(), *m)).collect(),
    };
    output::begin("Resizing and restarting processes");
    let formation: Vec<FormationEntry> = ctx
        .client
        .patch(&format!("{}/formation", app_path(&app)), &patch)
        .await
        .inspect_err(|_| println!("failed"))?;
    let now: Vec<String> = formation
        .iter()
        .map(|f| format!("{} at {} MiB", f.process_type, f.memory_mb))
        .collect();
    println!("done, now {}", now.join(", "));
    Ok(())
}

pub async fn restart(ctx: &Ctx, process_type: Option<String>, no_wait: bool) -> Result<()> {
    let app = ctx.app()?;
    let what = process_type
        .as_deref()
        .map_or("all processes".to_owned(), |t| format!("{t} processes"));
    output::begin(&format!("Restarting {what} of {app}"));
    let body = serde_json::json!({ "process_type": process_type });
    ctx.client
        .call(
            Method::POST,
            &format!("{}/ps/restart{}", app_path(&app), wait_query(no_wait)),
            Some(&body),
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("{}", if no_wait { "queued" } else { "done" });
    Ok(())
}
