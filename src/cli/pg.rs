//! `pg:info`, `pg:ps`, `pg:kill` (pg:psql is cli/run.rs's attached session; pg:backups are
//! cli/backups.rs).

use anyhow::Result;
use clap::Subcommand;
use reqwest::Method;

use crate::wire::{PgInfo, PgProcess};

use super::{Ctx, app_path, output};

#[derive(Subcommand)]
pub enum PgCommand {
    /// The app's Postgres: version, size, connections, tables
    #[command(name = "pg:info")]
    Info { addon: Option<String> },
    /// Queries running now on the app's Postgres
    #[command(name = "pg:ps")]
    Ps { addon: Option<String> },
    /// End a connection (its query) by pid, from pg:ps
    #[command(name = "pg:kill")]
    Kill {
        pid: String,
        #[arg(long)]
        addon: Option<String>,
    },
}

fn base(app: &str, addon: Option<&str>) -> String {
    format!("{}/addons/{}/pg", app_path(app), addon.unwrap_or("-"))
}

pub async fn run(ctx: &Ctx, command: PgCommand) -> Result<()> {
    let app = ctx.app()?;
    match command {
        PgCommand::Info { addon } => {
            let info: PgInfo = ctx.client.get(&base(&app, addon.as_deref())).await?;
            if ctx.json {
                return output::json(&info);
            }
            output::heading(&info.addon);
            let fields = [
                ("Version", info.server_version.clone()),
                ("Data size", format!("{} bytes", info.database_bytes)),
                (
                    "Connections",
                    format!("{}/{}", info.connections, info.max_connections),
                ),
                ("Tables", info.tables.to_string()),
            ];
            output::key_values(fields.iter().map(|(k, v)| (*k, v.as_str())));
            Ok(())
        }
        PgCommand::Ps { addon } => {
            let running: Vec<PgProcess> = ctx
                .client
                .get(&format!("{}/ps", base(&app, addon.as_deref())))
                .await?;
            if ctx.json {
                return output::json(&running);
            }
            let rows: Vec<Vec<String>> = running
                .into_iter()
                .map(|q| {
                    vec![
                        q.pid.to_string(),
                        q.state,
                        format!("{:.1}s", q.seconds),
                        q.query.chars().take(80).collect(),
                    ]
                })
                .collect();
            output::table(&["PID", "STATE", "RUNNING", "QUERY"], &rows);
            Ok(())
        }
        PgCommand::Kill { pid, addon } => {
            output::begin(&format!("Ending connection {pid}"));
            ctx.client
                .call::<()>(
                    Method::DELETE,
                    &format!("{}/ps/{pid}", base(&app, addon.as_deref())),
                    None,
                )
                .await
                .inspect_err(|_| println!("failed"))?;
            println!("done");
            Ok(())
        }
    }
}
