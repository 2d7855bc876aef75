//! `addons`, `addons:create`, `addons:info`, `addons:attach`, `addons:detach`,
//! `addons:restart`, `addons:destroy`; `pg:psql` and `redis:cli` (the add-on's client
//! attached like `paas run`).

use anyhow::Result;
use clap::Subcommand;
use reqwest::Method;

use crate::wire::{AddonChanged, AddonInfo, AttachAddon, CreateAddon};

use super::{Ctx, app_path, output};

#[derive(Subcommand)]
pub enum AddonsCommand {
    /// List the app's add-ons: name, kind, version, state, attached as, size on disk
    Addons,
    /// Create an add-on (postgres or redis) and attach it: sets NAME_URL in a new release
    #[command(name = "addons:create")]
    AddonsCreate {
        /// postgres or redis
        kind: String,
        /// Attach it as NAME (the app reads NAME_URL) [default: DATABASE or REDIS]
        #[arg(long = "as")]
        attach_as: Option<String>,
    },
    /// Show an add-on: state, memory, volume size, attachments, backup schedule
    #[command(name = "addons:info")]
    AddonsInfo { addon: String },
    /// Attach an existing add-on to this app (-a), sharing it
    #[command(name = "addons:attach")]
    AddonsAttach {
        addon: String,
        #[arg(long = "as")]
        attach_as: Option<String>,
    },
    /// Detach an add-on from this app (-a): unsets its NAME_URL
    #[command(name = "addons:detach")]
    AddonsDetach { addon: String },
    /// Restart an add-on's container; its data stays
    #[command(name = "addons:restart")]
    AddonsRestart { addon: String },
    /// Destroy an add-on and its data (a Postgres add-on gets a final backup first)
    #[command(name = "addons:destroy")]
    AddonsDestroy {
        addon: String,
        /// The name of the app it belongs to
        #[arg(long)]
        confirm: Option<String>,
        /// Skip the final backup
        #[arg(long)]
        no_backup: bool,
    },
}

pub async fn run(ctx: &Ctx, command: AddonsCommand) -> Result<()> {
    match command {
        AddonsCommand::Addons => list(ctx).await,
        AddonsCommand::AddonsCreate { kind, attach_as } => create(ctx, kind, attach_as).await,
        AddonsCommand::AddonsInfo { addon } => info(ctx, &addon).await,
        AddonsCommand::AddonsAttach { addon, attach_as } => attach(ctx, &addon, attach_as).await,
        AddonsCommand::AddonsDetach { addon } => detach(ctx, &addon).await,
        AddonsCommand::AddonsRestart { addon } => restart(ctx, &addon).await,
        AddonsCommand::AddonsDestroy {
            addon,
            confirm,
            no_backup,
        } => destroy(ctx, &addon, confirm, no_backup).await,
    }
}

async fn list(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let addons: Vec<AddonInfo> = ctx
        .client
        .get(&format!("{}/addons", app_path(&app)))
        .await?;
    if ctx.json {
        return output::json(&addons);
    }
    output::heading(&format!("{app} Add-ons"));
    let rows: Vec<Vec<String>> = addons
        .iter()
        .map(|a| {
            let here: Vec<&str> = a
                .attachments
                .iter()
                .filter(|t| t.app == app)
                .map(|t| t.name.as_str())
                .collect();
            vec![
                a.name.clone(),
                a.kind.clone(),
                a.version.clone(),
                state(a),
                here.join(", "),
                a.bytes.map(size).unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    output::table(&["NAME", "KIND", "VERSION", "STATE", "AS", "SIZE"], &rows);
    Ok(())
}

async fn create(ctx: &Ctx, kind: String, attach_as: Option<String>) -> Result<()> {
    let app = ctx.app()?;
    output::begin(&format!("Creating {kind} on {app}"));
    let created: AddonChanged = ctx
        .client
        .post(
            &format!("{}/addons", app_path(&app)),
            &CreateAddon { kind, attach_as },
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    let attached = created
        .addon
        .attachments
        .iter()
        .find(|t| t.app == app)
        .map(|t| t.name.clone())
        .unwrap_or_default();
    println!("done, {} attached as {attached}", created.addon.name);
    if let Some(release) = &created.release {
        println!(
            "{attached}_URL set; {}",
            output::release_outcome(release).trim_start_matches("done, ")
        );
    }
    Ok(())
}

async fn info(ctx: &Ctx, addon: &str) -> Result<()> {
    let app = ctx.app()?;
    let a: AddonInfo = ctx
        .client
        .get(&format!("{}/addons/{addon}", app_path(&app)))
        .await?;
    if ctx.json {
        return output::json(&a);
    }
    output::heading(&a.name);
    let attachments: Vec<String> = a
        .attachments
        .iter()
        .map(|t| format!("{} as {}", t.app, t.name))
        .collect();
    let fields = [
        ("Kind", format!("{} {}", a.kind, a.version)),
        ("State", state(&a)),
        ("App", a.app.clone()),
        ("Attached", attachments.join(", ")),
        ("Memory", format!("{} MB", a.memory_mb)),
        (
            "Data size",
            a.bytes.map(size).unwrap_or_else(|| "-".to_owned()),
        ),
        ("Created", a.created_at.clone()),
        (
            "Started",
            a.started_at.clone().unwrap_or_else(|| "-".to_owned()),
        ),
        ("Restarts", a.restarts.to_string()),
        (
            "Backups",
            a.backup_at
                .as_ref()
                .map(|at| format!("daily at {at} UTC"))
                .unwrap_or_else(|| "manual".to_owned()),
        ),
    ];
    output::key_values(fields.iter().map(|(k, v)| (*k, v.as_str())));
    Ok(())
}

async fn attach(ctx: &Ctx, addon: &str, attach_as: Option<String>) -> Result<()> {
    let app = ctx.app()?;
    output::begin(&format!("Attaching {addon} to {app}"));
    let changed: AddonChanged = ctx
        .client
        .post(
            &format!("{}/addons/{addon}/attachments", app_path(&app)),
            &AttachAddon { attach_as },
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    let name = changed
        .addon
        .attachments
        .iter()
        .find(|t| t.app == app)
        .map(|t| t.config_var.clone())
        .unwrap_or_default();
    match &changed.release {
        Some(release) => println!("{name} set; {}", output::release_outcome(release)),
        None => println!("done"),
    }
    Ok(())
}

async fn detach(ctx: &Ctx, addon: &str) -> Result<()> {
    let app = ctx.app()?;
    output::begin(&format!("Detaching {addon} from {app}"));
    let response = ctx
        .client
        .request::<()>(
            Method::DELETE,
            &format!("{}/addons/{addon}/attachments", app_path(&app)),
            None,
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    let changed: AddonChanged = response.json().await?;
    match &changed.release {
        Some(release) => println!("{}", output::release_outcome(release)),
        None => println!("done"),
    }
    Ok(())
}

async fn restart(ctx: &Ctx, addon: &str) -> Result<()> {
    let app = ctx.app()?;
    output::begin(&format!("Restarting {addon}"));
    let _: AddonInfo = ctx
        .client
        .post(&format!("{}/addons/{addon}/restart", app_path(&app)), &())
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    Ok(())
}

async fn destroy(ctx: &Ctx, addon: &str, confirm: Option<String>, no_backup: bool) -> Result<()> {
    let app = ctx.app()?;
    let confirm = confirm.unwrap_or_default();
    output::begin(&format!("Destroying {addon}"));
    ctx.client
        .call::<()>(
            Method::DELETE,
            &format!(
                "{}/addons/{addon}?confirm={confirm}&no_backup={no_backup}",
                app_path(&app),
            ),
            None,
        )
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    Ok(())
}

fn state(a: &AddonInfo) -> String {
    match &a.reason {
        Some(reason) if a.state != "up" => format!("{} ({reason})", a.state),
        _ => a.state.clone(),
    }
}

/// `12.3 MB`.
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000_000 => format!("{:.1} GB", b as f64 / 1e9),
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b => format!("{:.0} kB", b as f64 / 1e3),
    }
}
