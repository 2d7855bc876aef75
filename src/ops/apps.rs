//! Apps: create, list, show, destroy, and their settings (maintenance, deploy branch).

use crate::domain::{AppName, BranchName, ConfigVars, ReleaseState};
use crate::release::Description;
use crate::scheduler::Change;
use crate::store::{AppRow, Db, NewEvent, NewRelease, StoreError, UserRow};
use crate::wire::AppInfo;

use super::{Actor, OpsError, Platform, visible_app};

/// Creates the app with its v1 "Initial release" (empty config, nothing to run yet).
pub async fn create(p: &Platform, actor: &Actor, name: &str) -> Result<AppInfo, OpsError> {
    let name = AppName::parse(name)?;
    let new = NewApp {
        name,
        owner: actor.0.clone(),
        config: ConfigVars::new(),
    };
    let app = create_with(p, actor.name(), new, |_, _| Ok(())).await?;
    info_of(p, app).await
}

/// What an app starts with.
pub(crate) struct NewApp {
    pub name: AppName,
    pub owner: UserRow,
    /// The config of its v1.
    pub config: ConfigVars,
}

/// Creates an app: its network, its rows, v1 with `new.config` and the `app.create`
/// event, plus whatever `also` records in the same transaction; then its repository
/// and routes.
pub(crate) async fn create_with(
    p: &Platform,
    actor: &str,
    new: NewApp,
    also: impl FnOnce(&Db<'_>, &AppRow) -> Result<(), OpsError> + Send + 'static,
) -> Result<AppRow, OpsError> {
    let NewApp {
        name,
        owner,
        config,
    } = new;
    // Its network now; when the engine is down or the address pool full, the first
    // deploy makes it or says why (the control plane works without the engine).
    let known = name.clone();
    if p.store.read(move |db| db.app(&known)).await?.is_none()
        && let Err(e) = p.scheduler.prepare(name.as_str()).await
    {
        tracing::warn!(app = %name, error = %e, "the app network is left to the first deploy");
    }
    let actor = actor.to_owned();
    let app = p
        .store
        .write(move |tx| {
            if tx.app(&name)?.is_some() {
                return Err(OpsError::Conflict(format!(
                    "app \"{name}\" already exists; pick another name"
                )));
            }
            let app = tx.insert_app(&name, &owner)?;
            let config = tx.insert_config_version(app.id, &config)?;
            tx.insert_release(NewRelease {
                app_id: app.id,
                build_id: None,
                config_version_id: config.id,
                description: &Description::initial(),
                author: &actor,
                state: ReleaseState::Succeeded,
            })?;
            tx.insert_event(NewEvent {
                actor: &actor,
                app_name: Some(name.as_str()),
                action: "app.create",
                detail: &format!("created app {name}"),
            })?;
            also(tx, &app)?;
            Ok(app)
        })
        .await?;
    p.repos.init(&app.name).await.map_err(|e| {
        OpsError::Internal(format!(
            "app created but its git repository could not be: {e}"
        ))
    })?;
    // The new app answers at once (with its never-deployed page), over HTTP and HTTPS.
    p.scheduler.routes_changed(app.name.as_str()).await;
    super::certs::hosts_changed(p).await;
    Ok(app)
}

pub async fn list(p: &Platform, actor: &Actor) -> Result<Vec<AppInfo>, OpsError> {
    let user = actor.0.clone();
    let apps = p
        .store
        .read(move |db| db.apps_for(&user).map_err(OpsError::from))
        .await?;
    let mut out = Vec::with_capacity(apps.len());
    for app in apps {
        out.push(info_of(p, app).await?);
    }
    Ok(out)
}

pub async fn info(p: &Platform, actor: &Actor, name: &AppName) -> Result<AppInfo, OpsError> {
    let app = find(p, actor, name).await?;
    info_of(p, app).await
}

/// Names of the apps `actor` can see; `None` for an admin, who sees every app and the
/// platform-wide figures.
pub async fn visible_names(
    p: &Platform,
    actor: &Actor,
) -> Result<Option<std::collections::HashSet<String>>, OpsError> {
    if actor.is_admin() {
        return Ok(None);
    }
    let user = actor.0.clone();
    let apps = p
        .store
        .read(move |db| db.apps_for(&user).map_err(OpsError::from))
        .await?;
    Ok(Some(apps.into_iter().map(|a| a.name.to_string()).collect()))
}

/// Looks the app up for `actor`: "not found" also when it exists but is not theirs.
pub async fn find(p: &Platform, actor: &Actor, name: &AppName) -> Result<AppRow, OpsError> {
    let actor = actor.clone();
    let name = name.clone();
    p.store.read(move |db| visible_app(db, &actor, &name)).await
}

async fn info_of(p: &Platform, app: AppRow) -> Result<AppInfo, OpsError> {
    let app_id = app.id;
    let (current, domains, members, review) = p
        .store
        .read(move |db| {
            Ok::<_, StoreError>((
                db.current_release(app_id)?,
                db.domains(app_id)?,
                db.members(app_id)?,
                db.review_app(app_id)?,
            ))
        })
        .await?;
    Ok(AppInfo {
        web_url: p.web_url(&app.name),
        name: app.name.to_string(),
        owner: app.owner,
        created_at: app.created_at.rfc3339(),
        deploy_branch: app.deploy_branch.unwrap_or_else(|| "main".into()),
        current_release: current.map(|r| r.version),
        domains: domains
            .into_iter()
            .map(|d| d.hostname.to_string())
            .collect(),
        members,
        maintenance: app.maintenance,
        review_app_of: review.map(|r| r.parent.to_string()),
    })
}

/// Maintenance mode: the router answers 503 "in maintenance"; the processes keep running.
pub async fn set_maintenance(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    on: bool,
) -> Result<AppInfo, OpsError> {
    let detail = if on {
        "maintenance mode on"
    } else {
        "maintenance mode off"
    };
    let app = change_setting(
        p,
        actor,
        name,
        "app.maintenance",
        detail.into(),
        move |tx, app| {
            tx.set_maintenance(app.id, on)?;
            app.maintenance = on;
            Ok(())
        },
    )
    .await?;
    p.scheduler.routes_changed(app.name.as_str()).await;
    info_of(p, app).await
}

/// The branch whose pushes deploy; once set, `master` is no longer an alias of `main`.
pub async fn set_deploy_branch(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    branch: BranchName,
) -> Result<AppInfo, OpsError> {
    let detail = format!("deploy branch set to {branch}");
    let app = change_setting(
        p,
        actor,
        name,
        "app.deploy_branch",
        detail,
        move |tx, app| {
            tx.set_deploy_branch(app.id, branch.as_str())?;
            app.deploy_branch = Some(branch.to_string());
            Ok(())
        },
    )
    .await?;
    info_of(p, app).await
}

/// One setting of a visible app changed by `apply`, with its audit event, in one
/// transaction; returns the app as it is now.
async fn change_setting(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    action: &'static str,
    detail: String,
    apply: impl FnOnce(&Db<'_>, &mut AppRow) -> Result<(), StoreError> + Send + 'static,
) -> Result<AppRow, OpsError> {
    let (actor, name) = (actor.clone(), name.clone());
    p.store
        .write(move |tx| {
            let mut app = visible_app(tx, &actor, &name)?;
            apply(tx, &mut app)?;
            tx.insert_event(NewEvent {
                actor: actor.name(),
                app_name: Some(app.name.as_str()),
                action,
                detail: &detail,
            })?;
            Ok::<_, OpsError>(app)
        })
        .await
}

/// Destroys the app, and first its review apps (`reviewapps.rs`).
pub async fn destroy(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    confirm: &str,
) -> Result<(), OpsError> {
    if confirm != name.as_str() {
        return Err(OpsError::Invalid(crate::domain::Invalid::new(format!(
            "to destroy {name}, confirm with --confirm {name}"
        ))));
    }
    let app = find(p, actor, name).await?;
    super::reviewapps::destroy_all_of(p, actor.name(), &app).await?;
    remove(p, actor.name(), &app).await
}

/// Stops everything the app runs, then forgets it: store rows, git repo, build cache,
/// its add-ons with their data (no final backup) and its backups.
pub(crate) async fn remove(p: &Platform, actor: &str, app: &AppRow) -> Result<(), OpsError> {
    let name = &app.name;
    super::addons::release_for_destroy(p, app).await?;
    p.scheduler.submit(app, Change::Destroy).wait().await?;
    p.builder
        .forget_app(app.name.as_str())
        .await
        .map_err(|e| OpsError::Internal(format!("could not remove the images of {name}: {e}")))?;
    let actor_name = actor.to_owned();
    let app_id = app.id;
    let app_name = app.name.clone();
    p.store
        .write(move |tx| {
            tx.delete_app(app_id)?;
            tx.insert_event(NewEvent {
                actor: &actor_name,
                app_name: Some(app_name.as_str()),
                action: "app.destroy",
                detail: &format!("destroyed app {app_name}"),
            })?;
            Ok::<_, OpsError>(())
        })
        .await?;
    let backups = p.addons.backups_dir().join(app.name.as_str());
    if let Err(e) = tokio::fs::remove_dir_all(&backups).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(app = %app.name, error = %e, "the backups of a destroyed app could not be removed");
    }
    p.repos.remove(&app.name).await.map_err(|e| {
        OpsError::Internal(format!(
            "app destroyed but its files could not be removed: {e}"
        ))
    })?;
    p.scheduler.routes_changed(name.as_str()).await;
    super::certs::hosts_changed(p).await;
    Ok(())
}
