//! Config vars: every change to an app's config is a new config version and a new release.

use crate::domain::{AppName, ConfigChange, ConfigVars};
use crate::store::NewEvent;
use crate::wire::{ConfigPatch, ConfigUpdated};

use super::releases::{self, NewReleaseOf};
use super::{Actor, OpsError, Platform, Progress, visible_app};

pub async fn get(p: &Platform, actor: &Actor, name: &AppName) -> Result<ConfigVars, OpsError> {
    let (actor, name) = (actor.clone(), name.clone());
    p.store
        .read(move |db| {
            let app = visible_app(db, &actor, &name)?;
            Ok(db
                .latest_config(app.id)?
                .map(|c| c.vars)
                .unwrap_or_default())
        })
        .await
}

/// Applies the patch as one new config version, released on top of the current build.
pub async fn update(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    patch: ConfigPatch,
    wait: bool,
    progress: &Progress,
) -> Result<ConfigUpdated, OpsError> {
    let change = ConfigChange::from_patch(patch)?;
    let description = change.description();
    let (actor_in, name_in) = (actor.clone(), name.clone());
    let (app, release, vars) = p
        .store
        .write(move |tx| {
            let app = visible_app(tx, &actor_in, &name_in)?;
            let current = tx
                .latest_config(app.id)?
                .map(|c| c.vars)
                .unwrap_or_default();
            let vars = change.apply(&current)?;
            let config = tx.insert_config_version(app.id, &vars)?;
            let release = releases::insert_on_current_build(
                tx,
                &app,
                NewReleaseOf {
                    config_version_id: config.id,
                    description: &description,
                    author: actor_in.name(),
                },
            )?;
            tx.insert_event(NewEvent {
                actor: actor_in.name(),
                app_name: Some(app.name.as_str()),
                action: "config.update",
                detail: &format!("{description} (v{})", release.version),
            })?;
            Ok::<_, OpsError>((app, release, vars))
        })
        .await?;
    let release = releases::hand_over(p, &app, release, wait, progress).await?;
    Ok(ConfigUpdated {
        vars,
        release: Some(release),
    })
}

pub async fn get_global(p: &Platform, actor: &Actor) -> Result<ConfigVars, OpsError> {
    actor.require_admin("read platform-wide config")?;
    p.store
        .read(|db| db.global_config().map_err(OpsError::from))
        .await
}

/// Platform-wide vars take effect as each app next releases or restarts.
pub async fn update_global(
    p: &Platform,
    actor: &Actor,
    patch: ConfigPatch,
) -> Result<ConfigUpdated, OpsError> {
    actor.require_admin("change platform-wide config")?;
    let change = ConfigChange::from_patch(patch)?;
    let description = change.description();
    let actor_name = actor.name().to_owned();
    let vars = p
        .store
        .write(move |tx| {
            let vars = change.apply(&tx.global_config()?)?;
            tx.replace_global_config(&vars)?;
            tx.insert_event(NewEvent {
                actor: &actor_name,
                app_name: None,
                action: "config.global",
                detail: &format!("{description} (platform-wide)"),
            })?;
            Ok::<_, OpsError>(vars)
        })
        .await?;
    Ok(ConfigUpdated {
        vars,
        release: None,
    })
}
