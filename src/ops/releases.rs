//! Releases: list, show, roll back, and hand a new release to its app's reconciler.

use crate::domain::{AppName, Invalid, ReleaseState};
use crate::release::Description;
use crate::scheduler::Change;
use crate::store::{AppRow, Db, NewEvent, NewRelease, ReleaseRow, StoreError};
use crate::wire::ReleaseInfo;

use super::{Actor, OpsError, Platform, Progress, visible_app};

/// How many releases a listing shows, newest first.
const LIST_LIMIT: i64 = 50;

pub async fn list(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
) -> Result<Vec<ReleaseInfo>, OpsError> {
    let (actor_in, name_in) = (actor.clone(), name.clone());
    let infos: Vec<ReleaseInfo> = p
        .store
        .read(move |db| {
            let app = visible_app(db, &actor_in, &name_in)?;
            let current = db.current_release(app.id)?.map(|r| r.version);
            let rows = db.releases(app.id, LIST_LIMIT)?;
            Ok::<_, OpsError>(
                rows.into_iter()
                    .map(|r| to_info(r, current, None))
                    .collect(),
            )
        })
        .await?;
    Ok(infos
        .into_iter()
        .map(|r| with_rollout(p, name, r))
        .collect())
}

/// A pending release carries the lines of its rollout so far.
fn with_rollout(p: &Platform, app: &AppName, mut info: ReleaseInfo) -> ReleaseInfo {
    if info.state == ReleaseState::Pending.as_str() {
        info.rollout = p
            .scheduler
            .rollout_lines(app.as_str(), info.version)
            .unwrap_or_default();
    }
    info
}

pub async fn info(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    version: i64,
) -> Result<ReleaseInfo, OpsError> {
    let (actor_in, name_in) = (actor.clone(), name.clone());
    let info = p
        .store
        .read(move |db| {
            let app = visible_app(db, &actor_in, &name_in)?;
            let release = find_version(db, &app, version)?;
            let config = db.config_version(release.config_version_id)?.vars;
            let current = db.current_release(app.id)?.map(|r| r.version);
            Ok::<_, OpsError>(to_info(release, current, Some(config)))
        })
        .await?;
    Ok(with_rollout(p, name, info))
}

/// A new release with the build and config of `version` (default: the one before the
/// current release), rolled out like any other.
pub async fn rollback(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    version: Option<i64>,
    wait: bool,
    progress: &Progress,
) -> Result<ReleaseInfo, OpsError> {
    let (actor_in, name_in) = (actor.clone(), name.clone());
    let (app, release, gone) = p
        .store
        .write(move |tx| {
            let app = visible_app(tx, &actor_in, &name_in)?;
            let target = match version {
                Some(v) => find_version(tx, &app, v)?,
                None => previous_release(tx, &app)?,
            };
            let mut vars = tx.config_version(target.config_version_id)?.vars;
            let gone = keep_addon_urls(tx, &app, target.id, &mut vars)?;
            let config = tx.insert_config_version(app.id, &vars)?;
            let mut description = Description::rollback(target.version);
            for (attachment, addon) in &gone {
                description.push_str(&format!(
                    "; {attachment}_URL not brought back ({addon} is gone)"
                ));
            }
            // A release from before the first build brings back its config only.
            let build_id = match target.build_id {
                Some(id) => Some(id),
                None => tx.latest_live_release(app.id)?.and_then(|r| r.build_id),
            };
            let release = tx.insert_release(NewRelease {
                app_id: app.id,
                build_id,
                config_version_id: config.id,
                description: &description,
                author: actor_in.name(),
                state: initial_state(build_id),
            })?;
            tx.insert_event(NewEvent {
                actor: actor_in.name(),
                app_name: Some(app.name.as_str()),
                action: "release.rollback",
                detail: &format!("{description} (v{})", release.version),
            })?;
            Ok::<_, OpsError>((app, release, gone))
        })
        .await?;
    if !gone.is_empty() {
        progress.detail("a rollback does not bring back add-ons that were destroyed or detached");
    }
    hand_over(p, &app, release, wait, progress).await
}

/// Add-on URLs are not the release's to roll back: the app keeps the URLs of what is
/// attached now, and an add-on destroyed or detached since the target release stays
/// gone. Returns those gone (`DATABASE`, `postgres-fluffy-1234`).
fn keep_addon_urls(
    tx: &Db<'_>,
    app: &AppRow,
    target_release: i64,
    vars: &mut crate::domain::ConfigVars,
) -> Result<Vec<(String, String)>, OpsError> {
    let attached = tx.attachments_of_app(app.id)?;
    let mut gone = Vec::new();
    for had in tx.release_addons(target_release)? {
        let Some((attachment, addon)) = had.split_once('=') else {
            continue;
        };
        if !attached.iter().any(|a| a.name.as_str() == attachment) {
            vars.remove(&format!("{attachment}_URL"));
            gone.push((attachment.to_owned(), addon.to_owned()));
        }
    }
    for a in &attached {
        if let Some(addon) = tx.addon(&a.addon_name)? {
            vars.insert(a.name.config_key(), crate::addons::Addons::url(&addon));
        }
    }
    Ok(gone)
}

fn find_version(db: &Db<'_>, app: &AppRow, version: i64) -> Result<ReleaseRow, OpsError> {
    db.release(app.id, version)?.ok_or_else(|| {
        OpsError::NotFound(format!(
            "release v{version} not found for {}; see paas releases -a {}",
            app.name, app.name
        ))
    })
}

fn previous_release(db: &Db<'_>, app: &AppRow) -> Result<ReleaseRow, OpsError> {
    let current = db.current_release(app.id)?;
    let before = current.as_ref().map_or(i64::MAX, |c| c.version);
    db.releases(app.id, i64::MAX)?
        .into_iter()
        .find(|r| r.version < before && r.state == ReleaseState::Succeeded)
        .ok_or_else(|| {
            OpsError::Invalid(Invalid::new(format!(
                "{} has no earlier release to roll back to; name one with paas rollback vN",
                app.name
            )))
        })
}

/// Releases that run something start pending until the reconciler rolls them out; a
/// config-only release (no build yet) is in effect at once.
fn initial_state(build_id: Option<i64>) -> ReleaseState {
    if build_id.is_some() {
        ReleaseState::Pending
    } else {
        ReleaseState::Succeeded
    }
}

pub(crate) struct NewReleaseOf<'a> {
    pub config_version_id: i64,
    pub description: &'a str,
    pub author: &'a str,
}

/// A release of new config on the build the app runs (or is rolling out) now.
pub(crate) fn insert_on_current_build(
    tx: &Db<'_>,
    app: &AppRow,
    new: NewReleaseOf<'_>,
) -> Result<ReleaseRow, StoreError> {
    let build_id = tx.latest_live_release(app.id)?.and_then(|r| r.build_id);
    tx.insert_release(NewRelease {
        app_id: app.id,
        build_id,
        config_version_id: new.config_version_id,
        description: new.description,
        author: new.author,
        state: initial_state(build_id),
    })
}

/// Hands a pending release to the app's reconciler, which rolls it out and records how
/// it ended. With `wait`, follows it to its end on `progress`; the rollout goes on if the
/// caller goes away. Without, returns at once with the release still pending.
pub(crate) async fn hand_over(
    p: &Platform,
    app: &AppRow,
    release: ReleaseRow,
    wait: bool,
    progress: &Progress,
) -> Result<ReleaseInfo, OpsError> {
    if release.state != ReleaseState::Pending {
        return Ok(to_info(release.clone(), Some(release.version), None));
    }
    let ticket = p.scheduler.submit(app, Change::Release(release.clone()));
    if !wait {
        progress.detail(format!(
            "v{} is rolling out; see paas releases:info v{} -a {}",
            release.version, release.version, app.name
        ));
        return Ok(to_info(release, None, None));
    }
    let outcome = ticket.follow(progress).await;
    let (release_id, app_id) = (release.id, app.id);
    let (release, current) = p
        .store
        .read(move |db| {
            let release = db
                .release_by_id(release_id)?
                .ok_or_else(|| OpsError::Internal(format!("release {release_id} vanished")))?;
            Ok::<_, OpsError>((release, db.current_release(app_id)?.map(|r| r.version)))
        })
        .await?;
    outcome?;
    Ok(to_info(release, current, None))
}

pub(crate) fn to_info(
    r: ReleaseRow,
    current: Option<i64>,
    config: Option<crate::domain::ConfigVars>,
) -> ReleaseInfo {
    ReleaseInfo {
        current: current == Some(r.version),
        version: r.version,
        description: r.description,
        author: r.author,
        state: r.state.to_string(),
        state_detail: r.state_detail,
        created_at: r.created_at.rfc3339(),
        commit: r.commit,
        build_id: r.build_id,
        config,
        rollout: Vec::new(),
    }
}
