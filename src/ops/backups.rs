//! Postgres backups (`paas pg:backups:*`): capture, list, download, restore, and the daily
//! schedule. A backup belongs to the app it was taken for and is kept as
//! `DATA/backups/APP/ID.dump` with its size and SHA-256; a failed one keeps its reason and
//! never replaces a good one. Restore writes a backup into the app's live database (the
//! app keeps its URL).

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::addons::backups::Tool;
use crate::domain::{AddonKind, AppName, BackupState, Invalid, Timestamp};
use crate::progress::Progress;
use crate::store::{AddonRow, AppRow, BackupRow, NewEvent};
use crate::wire::BackupInfo;

use super::addons::of_app;
use super::{Actor, OpsError, Platform, visible_app};

/// `paas pg:backups:capture [ADDON]`.
pub async fn capture(
    p: &Platform,
    actor: &Actor,
    app_name: &AppName,
    addon: Option<&str>,
    progress: &Progress,
) -> Result<BackupInfo, OpsError> {
    let (app, addon) = of_app(p, actor, app_name, AddonKind::Postgres, addon).await?;
    progress.step(format!("Capturing a backup of {}", addon.name));
    let started = std::time::Instant::now();
    let (owned, actor_name) = (p.clone(), actor.name().to_owned());
    let backup = super::carried_out(async move {
        capture_for(&owned, &actor_name, &app, &addon, "manual").await
    })
    .await?;
    progress.detail(format!(
        "b{:03}: {} bytes in {:.1}s",
        backup.id,
        backup.size.unwrap_or(0),
        started.elapsed().as_secs_f64()
    ));
    Ok(to_info(backup))
}

/// Takes a backup of `addon` for `app`, recording it (and its failure) either way.
pub(crate) async fn capture_for(
    p: &Platform,
    actor: &str,
    app: &AppRow,
    addon: &AddonRow,
    trigger: &'static str,
) -> Result<BackupRow, OpsError> {
    let image = p
        .builder
        .addon_image(addon.kind, &Progress::silent())
        .await
        .map_err(|e| OpsError::Build(e.to_string()))?;
    let (app_id, addon_name) = (app.id, addon.name.clone());
    let row = p
        .store
        .write(move |tx| tx.insert_backup(app_id, &addon_name, trigger))
        .await?;
    let tool = Tool {
        addon,
        app: app.name.as_str(),
        image: &image,
    };
    let outcome = p.addons.capture(tool, row.id).await;
    let (id, actor, app_name, addon_name) = (
        row.id,
        actor.to_owned(),
        app.name.to_string(),
        addon.name.to_string(),
    );
    let reason = outcome.as_ref().err().map(ToString::to_string);
    let done = outcome.as_ref().ok().cloned();
    p.store
        .write(move |tx| {
            match (&done, &reason) {
                (Some((size, sha)), _) => {
                    tx.finish_backup(id, Ok((i64::try_from(*size).unwrap_or(i64::MAX), sha)))?
                }
                (None, reason) => {
                    tx.finish_backup(id, Err(reason.as_deref().unwrap_or("unknown")))?
                }
            }
            tx.insert_event(NewEvent {
                actor: &actor,
                app_name: Some(&app_name),
                action: "backup.capture",
                detail: &match &reason {
                    None => format!("captured b{id:03} of {addon_name} ({trigger})"),
                    Some(_) => format!("backup b{id:03} of {addon_name} failed ({trigger})"),
                },
            })?;
            Ok::<_, OpsError>(())
        })
        .await?;
    outcome?;
    let app_id = app.id;
    p.store
        .read(move |db| db.backup(app_id, id))
        .await?
        .ok_or_else(|| OpsError::Internal(format!("backup {id} vanished")))
}

/// `paas pg:backups`: newest first.
pub async fn list(
    p: &Platform,
    actor: &Actor,
    app_name: &AppName,
) -> Result<Vec<BackupInfo>, OpsError> {
    let (actor, name) = (actor.clone(), app_name.clone());
    let rows = p
        .store
        .read(move |db| {
            let app = visible_app(db, &actor, &name)?;
            Ok::<_, OpsError>(db.backups(app.id)?)
        })
        .await?;
    Ok(rows.into_iter().map(to_info).collect())
}

/// `paas pg:backups:download [ID]`: the backup (the newest good one if none is named)
/// and where its file is.
pub async fn file(
    p: &Platform,
    actor: &Actor,
    app_name: &AppName,
    id: Option<i64>,
) -> Result<(BackupInfo, PathBuf), OpsError> {
    let (app, backup) = good_backup(p, actor, app_name, id).await?;
    let path = p.addons.backup_path(app.name.as_str(), backup.id);
    if !path.exists() {
        return Err(OpsError::NotFound(format!(
            "the file of backup b{:03} is gone from the server; capture a new one",
            backup.id
        )));
    }
    Ok((to_info(backup), path))
}

/// `paas pg:backups:restore [ID] --confirm APP`: into the app's Postgres add-on.
pub async fn restore(
    p: &Platform,
    actor: &Actor,
    app_name: &AppName,
    id: Option<i64>,
    addon: Option<&str>,
    confirm: &str,
    progress: &Progress,
) -> Result<BackupInfo, OpsError> {
    if confirm != app_name.as_str() {
        return Err(OpsError::Invalid(Invalid::new(format!(
            "a restore replaces the data of {app_name}'s database; confirm with --confirm {app_name}"
        ))));
    }
    let (app, backup) = good_backup(p, actor, app_name, id).await?;
    let (_, addon) = of_app(p, actor, app_name, AddonKind::Postgres, addon).await?;
    let path = p.addons.backup_path(app.name.as_str(), backup.id);
    progress.step(format!("Restoring b{:03} into {}", backup.id, addon.name));
    let started = std::time::Instant::now();
    let what = format!("b{:03}", backup.id);
    restore_from(p, actor, &app, &addon, path, what, false).await?;
    progress.detail(format!(
        "restored in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    Ok(to_info(backup))
}

/// `paas pg:backups:restore FILE --confirm APP`: a dump the caller uploads, restored into
/// the app's Postgres add-on; the file is not kept.
#[allow(clippy::too_many_arguments)]
pub async fn restore_upload<S, E>(
    p: &Platform,
    actor: &Actor,
    app_name: &AppName,
    addon: Option<&str>,
    confirm: &str,
    body: S,
    progress: &Progress,
) -> Result<(), OpsError>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    if confirm != app_name.as_str() {
        return Err(OpsError::Invalid(Invalid::new(format!(
            "a restore replaces the data of {app_name}'s database; confirm with --confirm {app_name}"
        ))));
    }
    let (app, addon) = of_app(p, actor, app_name, AddonKind::Postgres, addon).await?;
    progress.step(format!("Restoring an uploaded dump into {}", addon.name));
    let path = p.addons.receive(app.name.as_str(), body).await?;
    let what = "an uploaded dump".to_owned();
    restore_from(p, actor, &app, &addon, path, what, true).await
}

/// Restores the dump at `path` into `addon` on its own task (a caller going away does not
/// cut it), recording it as an event; the file is removed after when `remove`.
pub(crate) async fn restore_from(
    p: &Platform,
    actor: &Actor,
    app: &AppRow,
    addon: &AddonRow,
    path: PathBuf,
    what: String,
    remove: bool,
) -> Result<(), OpsError> {
    let (owned, app_in, addon_in) = (p.clone(), app.clone(), addon.clone());
    let restored = super::carried_out(async move {
        let image = owned
            .builder
            .addon_image(addon_in.kind, &Progress::silent())
            .await
            .map_err(|e| OpsError::Build(e.to_string()))?;
        let tool = Tool {
            addon: &addon_in,
            app: app_in.name.as_str(),
            image: &image,
        };
        let restored = owned.addons.restore(tool, &path).await;
        if remove {
            let _ = tokio::fs::remove_file(&path).await;
        }
        Ok(restored)
    })
    .await?;
    let (actor_name, app_text, addon_name, ok) = (
        actor.name().to_owned(),
        app.name.to_string(),
        addon.name.to_string(),
        restored.is_ok(),
    );
    p.store
        .write(move |tx| {
            tx.insert_event(NewEvent {
                actor: &actor_name,
                app_name: Some(&app_text),
                action: "backup.restore",
                detail: &if ok {
                    format!("restored {what} into {addon_name}")
                } else {
                    format!("restoring {what} into {addon_name} failed")
                },
            })
        })
        .await?;
    Ok(restored?)
}

/// `paas pg:backups:schedule --at HH:MM` (UTC), or `None` to stop scheduled backups.
pub async fn schedule(
    p: &Platform,
    actor: &Actor,
    app_name: &AppName,
    addon: Option<&str>,
    at: Option<&str>,
) -> Result<Option<String>, OpsError> {
    let at = at.map(parse_time).transpose()?;
    let (app, addon) = of_app(p, actor, app_name, AddonKind::Postgres, addon).await?;
    let (actor_name, id, text) = (actor.name().to_owned(), addon.id, at.clone());
    p.store
        .write(move |tx| {
            tx.set_backup_schedule(id, text.as_deref())?;
            tx.insert_event(NewEvent {
                actor: &actor_name,
                app_name: Some(app.name.as_str()),
                action: "backup.schedule",
                detail: &match &text {
                    Some(at) => format!("daily backups of {} at {at} UTC", addon.name),
                    None => format!("no more scheduled backups of {}", addon.name),
                },
            })
        })
        .await?;
    Ok(at)
}

/// Runs scheduled backups until `shutdown`: each add-on with a schedule gets one backup a
/// day once its time has passed, and keeps the newest `PAAS_BACKUP_KEEP` scheduled ones.
pub async fn run_schedule(p: Platform, shutdown: CancellationToken) {
    let every = Duration::from_secs(p.settings.backup_check_secs.max(1));
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
        if let Err(e) = scheduled_round(&p).await {
            tracing::warn!(error = %e, "scheduled backups");
        }
    }
}

async fn scheduled_round(p: &Platform) -> Result<(), OpsError> {
    let now = Timestamp::now().0;
    let due = p
        .store
        .read(move |db| {
            let mut due = Vec::new();
            for addon in db.all_addons()? {
                let Some(at) = addon.backup_at.as_deref().and_then(seconds_of_day) else {
                    continue;
                };
                let today = now - now.rem_euclid(86_400) + at;
                let slot = if now >= today { today } else { today - 86_400 };
                let taken = db.backups(addon.owner_app_id)?.iter().any(|b| {
                    b.addon_name == addon.name.as_str()
                        && b.trigger == "scheduled"
                        && b.created_at.0 >= slot
                });
                if !taken && now >= today {
                    let Some(app) = db.app_by_id(addon.owner_app_id)? else {
                        continue;
                    };
                    due.push((app, addon));
                }
            }
            Ok::<_, OpsError>(due)
        })
        .await?;
    for (app, addon) in due {
        match capture_for(p, "paas", &app, &addon, "scheduled").await {
            Ok(_) => prune(p, &app, &addon).await?,
            Err(e) => {
                p.logs.platform(
                    app.name.as_str(),
                    "backup",
                    format!("scheduled backup of {} failed: {e}", addon.name),
                );
            }
        }
    }
    Ok(())
}

/// Deletes scheduled backups of `addon` beyond the newest `PAAS_BACKUP_KEEP` good ones.
async fn prune(p: &Platform, app: &AppRow, addon: &AddonRow) -> Result<(), OpsError> {
    let (app_id, name, keep) = (
        app.id,
        addon.name.to_string(),
        p.settings.backup_keep as usize,
    );
    let old: Vec<i64> = p
        .store
        .read(move |db| {
            Ok::<_, OpsError>(
                db.backups(app_id)?
                    .into_iter()
                    .filter(|b| {
                        b.addon_name == name
                            && b.trigger == "scheduled"
                            && b.state == BackupState::Succeeded
                    })
                    .skip(keep)
                    .map(|b| b.id)
                    .collect(),
            )
        })
        .await?;
    for id in old {
        let _ = tokio::fs::remove_file(p.addons.backup_path(app.name.as_str(), id)).await;
        p.store.write(move |tx| tx.delete_backup(id)).await?;
    }
    Ok(())
}

async fn good_backup(
    p: &Platform,
    actor: &Actor,
    app_name: &AppName,
    id: Option<i64>,
) -> Result<(AppRow, BackupRow), OpsError> {
    let (actor, name) = (actor.clone(), app_name.clone());
    p.store
        .read(move |db| {
            let app = visible_app(db, &actor, &name)?;
            let backup = match id {
                Some(id) => db.backup(app.id, id)?.ok_or_else(|| {
                    OpsError::NotFound(format!(
                        "{name} has no backup b{id:03}; see paas pg:backups -a {name}"
                    ))
                })?,
                None => db
                    .backups(app.id)?
                    .into_iter()
                    .find(|b| b.state == BackupState::Succeeded)
                    .ok_or_else(|| {
                        OpsError::NotFound(format!(
                            "{name} has no backup yet; take one with paas pg:backups:capture -a {name}"
                        ))
                    })?,
            };
            if backup.state != BackupState::Succeeded {
                return Err(OpsError::Conflict(format!(
                    "backup b{:03} {}: {}; pick a good one from paas pg:backups -a {name}",
                    backup.id,
                    backup.state,
                    backup.reason.as_deref().unwrap_or("not finished")
                )));
            }
            Ok((app, backup))
        })
        .await
}

/// `HH:MM`, 24-hour, UTC.
fn parse_time(raw: &str) -> Result<String, OpsError> {
    seconds_of_day(raw.trim())
        .map(|s| format!("{:02}:{:02}", s / 3600, s % 3600 / 60))
        .ok_or_else(|| {
            OpsError::Invalid(Invalid::new(format!(
                "invalid time \"{raw}\": give HH:MM in UTC, e.g. --at 02:00"
            )))
        })
}

fn seconds_of_day(text: &str) -> Option<i64> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m) && text.len() <= 5).then_some(h * 3600 + m * 60)
}

fn to_info(b: BackupRow) -> BackupInfo {
    BackupInfo {
        id: b.id,
        addon: b.addon_name,
        state: b.state.to_string(),
        reason: b.reason,
        trigger: b.trigger,
        size: b.size,
        sha256: b.sha256,
        created_at: b.created_at.rfc3339(),
        finished_at: b.finished_at.map(|t| t.rfc3339()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_times_are_hh_mm_utc() {
        assert_eq!(parse_time("2:05").unwrap(), "02:05");
        assert_eq!(parse_time("23:59").unwrap(), "23:59");
        for bad in ["24:00", "12:60", "noon", "1:2:3", "-1:00", "", "12:000"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
