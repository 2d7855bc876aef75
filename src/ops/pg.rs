//! `paas pg:info`, `pg:ps`, `pg:kill`: what Heroku's pg commands show that fits one
//! server, asked of the live database with psql in a one-off container of its image.

use crate::addons::backups::Tool;
use crate::domain::{AddonKind, AppName, Invalid};
use crate::progress::Progress;
use crate::store::{AddonRow, AppRow, NewEvent};
use crate::wire::{PgInfo, PgProcess};

use super::addons::of_app;
use super::{Actor, OpsError, Platform};

pub async fn info(
    p: &Platform,
    actor: &Actor,
    app: &AppName,
    addon: Option<&str>,
) -> Result<PgInfo, OpsError> {
    let (app, addon) = of_app(p, actor, app, AddonKind::Postgres, addon).await?;
    let out = sql(
        p,
        &app,
        &addon,
        "SELECT current_setting('server_version'), pg_database_size(current_database()), \
         (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()), \
         current_setting('max_connections'), \
         (SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema'))",
    )
    .await?;
    let fields: Vec<&str> = out.trim().split('\t').collect();
    let number = |i: usize| fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0);
    Ok(PgInfo {
        addon: addon.name.to_string(),
        server_version: fields.first().unwrap_or(&"").to_string(),
        database_bytes: number(1),
        connections: number(2),
        max_connections: number(3),
        tables: number(4),
    })
}

pub async fn processes(
    p: &Platform,
    actor: &Actor,
    app: &AppName,
    addon: Option<&str>,
) -> Result<Vec<PgProcess>, OpsError> {
    let (app, addon) = of_app(p, actor, app, AddonKind::Postgres, addon).await?;
    let out = sql(
        p,
        &app,
        &addon,
        "SELECT pid, usename, state, \
         COALESCE(EXTRACT(EPOCH FROM now() - query_start), 0), \
         regexp_replace(query, '\\s+', ' ', 'g') \
         FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle' \
         ORDER BY query_start",
    )
    .await?;
    Ok(out
        .lines()
        .filter_map(|line| {
            let mut f = line.splitn(5, '\t');
            Some(PgProcess {
                pid: f.next()?.parse().ok()?,
                user: f.next()?.to_owned(),
                state: f.next()?.to_owned(),
                seconds: f.next()?.parse().unwrap_or(0.0),
                query: f.next().unwrap_or("").to_owned(),
            })
        })
        .collect())
}

/// Ends the backend `pid` (its query and its connection).
pub async fn kill(
    p: &Platform,
    actor: &Actor,
    app_name: &AppName,
    addon: Option<&str>,
    pid: i64,
) -> Result<(), OpsError> {
    let (app, addon) = of_app(p, actor, app_name, AddonKind::Postgres, addon).await?;
    let out = sql(
        p,
        &app,
        &addon,
        &format!("SELECT pg_terminate_backend({pid})"),
    )
    .await?;
    if out.trim() != "t" {
        return Err(OpsError::NotFound(format!(
            "no connection with pid {pid} on {}; see paas pg:ps -a {app_name}",
            addon.name
        )));
    }
    let (actor_name, app_text, addon_name) = (
        actor.name().to_owned(),
        app.name.to_string(),
        addon.name.to_string(),
    );
    p.store
        .write(move |tx| {
            tx.insert_event(NewEvent {
                actor: &actor_name,
                app_name: Some(&app_text),
                action: "pg.kill",
                detail: &format!("ended connection {pid} on {addon_name}"),
            })
        })
        .await?;
    Ok(())
}

/// A pid as the user typed it.
pub fn parse_pid(raw: &str) -> Result<i64, OpsError> {
    raw.parse::<i64>()
        .ok()
        .filter(|pid| *pid > 0)
        .ok_or_else(|| {
            OpsError::Invalid(Invalid::new(format!(
                "invalid pid \"{raw}\": give a number from paas pg:ps"
            )))
        })
}

async fn sql(
    p: &Platform,
    app: &AppRow,
    addon: &AddonRow,
    statement: &str,
) -> Result<String, OpsError> {
    let image = p
        .builder
        .addon_image(addon.kind, &Progress::silent())
        .await
        .map_err(|e| OpsError::Build(e.to_string()))?;
    let tool = Tool {
        addon,
        app: app.name.as_str(),
        image: &image,
    };
    Ok(p.addons.sql(tool, statement).await?)
}
