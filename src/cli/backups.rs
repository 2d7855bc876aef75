//! `pg:backups`, `pg:backups:capture`, `pg:backups:download`, `pg:backups:restore`,
//! `pg:backups:schedule`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use futures_util::StreamExt;
use reqwest::Method;

use crate::wire::{BackupInfo, BackupSchedule};

use super::{Ctx, app_path, output};

#[derive(Subcommand)]
pub enum BackupsCommand {
    /// List the app's Postgres backups: id, created, size, state
    #[command(name = "pg:backups")]
    Backups,
    /// Take a backup now (pg_dump -Fc of the live database)
    #[command(name = "pg:backups:capture")]
    Capture {
        /// The add-on (or attachment name) [default: DATABASE]
        addon: Option<String>,
    },
    /// Save a backup's dump to a file [default: the newest good backup]
    #[command(name = "pg:backups:download")]
    Download {
        /// b003 (see pg:backups)
        id: Option<String>,
        /// Where to write it [default: APP-b003.dump here; - for stdout]
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Restore a backup (or a pg_dump -Fc file of yours) into the live database; the app
    /// keeps its DATABASE_URL
    #[command(name = "pg:backups:restore")]
    Restore {
        /// b003, or a dump file's path [default: the newest good backup]
        id: Option<String>,
        /// The add-on (or attachment name) to restore into [default: DATABASE]
        #[arg(long)]
        addon: Option<String>,
        /// The app's name
        #[arg(long)]
        confirm: Option<String>,
    },
    /// Take a backup every day at HH:MM (UTC); --off stops it
    #[command(name = "pg:backups:schedule")]
    Schedule {
        addon: Option<String>,
        #[arg(long, required_unless_present = "off")]
        at: Option<String>,
        #[arg(long)]
        off: bool,
    },
}

pub async fn run(ctx: &Ctx, command: BackupsCommand) -> Result<()> {
    match command {
        BackupsCommand::Backups => list(ctx).await,
        BackupsCommand::Capture { addon } => capture(ctx, addon).await,
        BackupsCommand::Download { id, output } => download(ctx, id, output).await,
        BackupsCommand::Restore { id, addon, confirm } => restore(ctx, id, addon, confirm).await,
        BackupsCommand::Schedule { addon, at, off } => {
            schedule(ctx, addon, if off { None } else { at }).await
        }
    }
}

fn base(app: &str, addon: Option<&str>) -> String {
    format!("{}/addons/{}/backups", app_path(app), addon.unwrap_or("-"))
}

async fn list(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let backups: Vec<BackupInfo> = ctx.client.get(&base(&app, None)).await?;
    if ctx.json {
        return output::json(&backups);
    }
    output::heading(&format!("{app} Backups"));
    let rows: Vec<Vec<String>> = backups
        .into_iter()
        .map(|b| {
            let state = match (&b.state[..], &b.reason) {
                ("failed", Some(reason)) => format!("failed: {reason}"),
                _ => b.state.clone(),
            };
            vec![
                format!("b{:03}", b.id),
                b.created_at,
                b.size
                    .map(|s| format!("{s} B"))
                    .unwrap_or_else(|| "-".to_owned()),
                b.trigger,
                b.addon,
                state,
            ]
        })
        .collect();
    output::table(
        &["ID", "CREATED", "SIZE", "TRIGGER", "ADD-ON", "STATE"],
        &rows,
    );
    Ok(())
}

async fn capture(ctx: &Ctx, addon: Option<String>) -> Result<()> {
    let app = ctx.app()?;
    output::begin(&format!(
        "Capturing a backup of {} on {app}",
        addon.as_deref().unwrap_or("DATABASE")
    ));
    let started = std::time::Instant::now();
    let backup: BackupInfo = ctx
        .client
        .post(&base(&app, addon.as_deref()), &())
        .await
        .inspect_err(|_| println!("failed"))?;
    println!(
        "done, b{:03}: {} bytes in {:.1}s",
        backup.id,
        backup.size.unwrap_or(0),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn download(ctx: &Ctx, id: Option<String>, target: Option<PathBuf>) -> Result<()> {
    let app = ctx.app()?;
    let id = id.unwrap_or_else(|| "latest".to_owned());
    let response = ctx
        .client
        .request::<()>(Method::GET, &format!("{}/{id}", base(&app, None)), None)
        .await?;
    let name = response
        .headers()
        .get(reqwest::header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("filename=\"").nth(1))
        .map(|v| v.trim_end_matches('"').to_owned())
        .unwrap_or_else(|| format!("{app}-{id}.dump"));
    let to_stdout = target.as_deref() == Some(std::path::Path::new("-"));
    let path = target.unwrap_or_else(|| PathBuf::from(&name));
    let mut sink: Box<dyn Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(&path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        )
    };
    let mut body = response.bytes_stream();
    let mut written = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.context("the download broke off; run it again")?;
        sink.write_all(&chunk)?;
        written += chunk.len() as u64;
    }
    sink.flush()?;
    if !to_stdout {
        eprintln!("Saved {} ({written} bytes)", path.display());
    }
    Ok(())
}

async fn restore(
    ctx: &Ctx,
    id: Option<String>,
    addon: Option<String>,
    confirm: Option<String>,
) -> Result<()> {
    let app = ctx.app()?;
    let Some(confirm) = confirm else {
        bail!("a restore replaces the data of {app}'s database; confirm with --confirm {app}");
    };
    if let Some(file) = id
        .as_deref()
        .map(std::path::Path::new)
        .filter(|p| p.is_file())
    {
        output::begin(&format!("Restoring {} into {app}", file.display()));
        let started = std::time::Instant::now();
        let opened = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("cannot read {}", file.display()))?;
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(opened));
        ctx.client
            .upload(
                &format!("{}/upload?confirm={confirm}", base(&app, addon.as_deref())),
                body,
            )
            .await
            .inspect_err(|_| println!("failed"))?;
        println!("done in {:.1}s", started.elapsed().as_secs_f64());
        return Ok(());
    }
    let id = id.unwrap_or_else(|| "latest".to_owned());
    output::begin(&format!("Restoring {id} into {app}"));
    let started = std::time::Instant::now();
    let backup: BackupInfo = ctx
        .client
        .post(
            &format!("{}/{id}/restore", base(&app, addon.as_deref())),
            &serde_json::json!({ "confirm": confirm }),
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    println!(
        "done, b{:03} restored in {:.1}s",
        backup.id,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn schedule(ctx: &Ctx, addon: Option<String>, at: Option<String>) -> Result<()> {
    let app = ctx.app()?;
    let set: BackupSchedule = ctx
        .client
        .request(
            Method::PUT,
            &format!("{}/schedule", base(&app, addon.as_deref())),
            Some(&BackupSchedule { at }),
        )
        .await?
        .json()
        .await?;
    match set.at {
        Some(at) => println!("Daily backups of {app} at {at} UTC"),
        None => println!("No more scheduled backups of {app}"),
    }
    Ok(())
}
