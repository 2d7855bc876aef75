//! Making a branch's review app on its first push: named `PARENT-BRANCHSLUG`, owned by the
//! parent's owner, with the parent's config minus the URLs of the parent's add-ons (a
//! review app never writes to the parent's database), app.json's
//! `environments.review.env` on top and, with `copy_addons`, add-ons of its own under the
//! same attachment names, Postgres ones restored from the parent's latest backup.

use crate::domain::{AddonKind, BackupState, ConfigVars, review_app_name, review_overrides};
use crate::git::quarantine::PushedObjects;
use crate::store::{AppRow, AttachmentRow, NewEvent, ReviewSettingsRow};
use crate::wire::CreateAddon;

use super::super::apps::{NewApp, create_with, remove};
use super::super::backups::{capture_for, restore_from};
use super::super::{Actor, OpsError, Platform, Progress};

/// The review app of `branch`: the one it has, or a new one.
pub(crate) async fn for_branch(
    p: &Platform,
    actor: &Actor,
    parent: &AppRow,
    branch: &str,
    settings: Option<&ReviewSettingsRow>,
    (commit, objects): (&str, &PushedObjects),
    progress: &Progress,
) -> Result<AppRow, OpsError> {
    let name = review_app_name(&parent.name, branch)?;
    let (parent_id, owner_id, branch_in, name_in) =
        (parent.id, parent.owner_id, branch.to_owned(), name.clone());
    let (existing, taken, owner, config, attachments) = p
        .store
        .read(move |db| {
            let existing = match db.review_app_of_branch(parent_id, &branch_in)? {
                Some(review) => db.app_by_id(review.app_id)?,
                None => None,
            };
            Ok::<_, OpsError>((
                existing,
                db.app(&name_in)?.is_some(),
                db.user_by_id(owner_id)?,
                db.latest_config(parent_id)?
                    .map(|c| c.vars)
                    .unwrap_or_default(),
                db.attachments_of_app(parent_id)?,
            ))
        })
        .await?;
    if let Some(app) = existing {
        return Ok(app);
    }
    if taken {
        return Err(OpsError::Conflict(format!(
            "the review app of {branch} would be {name}, an app that is not {}'s review app; rename the branch",
            parent.name
        )));
    }
    let owner =
        owner.ok_or_else(|| OpsError::Internal(format!("the owner of {} is gone", parent.name)))?;
    let mut config = without_addon_urls(config, &attachments);
    if let Ok(manifest) = p.builder.app_json(objects, commit, &config).await
        && let Some(env) = manifest.review_env()
    {
        let set = review_overrides(env, || hex::encode(rand::random::<[u8; 32]>())).set;
        if !set.is_empty() {
            let names: Vec<&str> = set.keys().map(String::as_str).collect();
            progress.step(format!(
                "Setting {} from app.json environments.review",
                names.join(", ")
            ));
        }
        config.extend(set);
    }
    // A manifest that cannot be read fails the build, with its error, right after.

    let new = NewApp {
        name: name.clone(),
        owner,
        config,
    };
    let (actor_name, branch_in, parent_name) = (
        actor.name().to_owned(),
        branch.to_owned(),
        parent.name.to_string(),
    );
    let app = create_with(p, actor.name(), new, move |tx, app| {
        tx.insert_review_app(app.id, parent_id, &branch_in)?;
        tx.insert_event(NewEvent {
            actor: &actor_name,
            app_name: Some(&parent_name),
            action: "reviewapp.create",
            detail: &format!("created review app {} for {branch_in}", app.name),
        })?;
        Ok(())
    })
    .await?;
    progress.step(format!("Created review app {name} for {branch}"));
    if settings.is_some_and(|s| s.copy_addons)
        && let Err(e) = copy_addons(p, actor, parent, &app, &attachments, progress).await
    {
        // Half a copy is no review app: the next push starts over.
        if let Err(cleanup) = remove(p, actor.name(), &app).await {
            tracing::warn!(app = %app.name, error = %cleanup, "a failed review app stays");
        }
        return Err(e);
    }
    Ok(app)
}

/// The parent's config without the `NAME_URL` of each add-on attached to it.
fn without_addon_urls(mut config: ConfigVars, attachments: &[AttachmentRow]) -> ConfigVars {
    for a in attachments {
        config.remove(&a.name.config_key());
    }
    config
}

/// An add-on of the same kind for each of the parent's attachments, attached under the
/// same name; a Postgres one gets the data of the parent's latest good backup of its
/// add-on (taken now if there is none).
async fn copy_addons(
    p: &Platform,
    actor: &Actor,
    parent: &AppRow,
    review: &AppRow,
    attachments: &[AttachmentRow],
    progress: &Progress,
) -> Result<(), OpsError> {
    for a in attachments {
        let request = CreateAddon {
            kind: a.kind.to_string(),
            attach_as: Some(a.name.to_string()),
        };
        super::super::addons::create(p, actor, &review.name, request, progress).await?;
        if a.kind != AddonKind::Postgres {
            continue;
        }
        let (parent_id, review_id, source, attached_as) =
            (parent.id, review.id, a.addon_name.clone(), a.name.clone());
        let (source_addon, backup, copy) =
            p.store
                .read(move |db| {
                    let backup = db.backups(parent_id)?.into_iter().find(|b| {
                        b.addon_name == source.as_str() && b.state == BackupState::Succeeded
                    });
                    let copy = match db
                        .attachments_of_app(review_id)?
                        .into_iter()
                        .find(|r| r.name == attached_as)
                    {
                        Some(r) => db.addon(&r.addon_name)?,
                        None => None,
                    };
                    Ok::<_, OpsError>((db.addon(&source)?, backup, copy))
                })
                .await?;
        let (Some(source_addon), Some(copy)) = (source_addon, copy) else {
            return Err(OpsError::Internal(format!(
                "the add-ons of {} changed while {} was made; push again",
                parent.name, review.name
            )));
        };
        let backup = match backup {
            Some(backup) => backup,
            None => {
                progress.step(format!("Capturing a backup of {}", source_addon.name));
                capture_for(p, actor.name(), parent, &source_addon, "review app").await?
            }
        };
        progress.step(format!(
            "Restoring {}'s backup b{:03} into {}",
            parent.name, backup.id, copy.name
        ));
        let path = p.addons.backup_path(parent.name.as_str(), backup.id);
        let what = format!("{}'s b{:03}", parent.name, backup.id);
        restore_from(p, actor, review, &copy, path, what, false).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AddonName, AttachmentName, Timestamp};

    #[test]
    fn the_parents_addon_urls_are_not_copied() {
        let config: ConfigVars = [
            ("DATABASE_URL", "postgres://parent"),
            ("CACHE_URL", "redis://parent"),
            ("MODE", "production"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let attachment = |name: &str| AttachmentRow {
            addon_id: 1,
            addon_name: AddonName::parse("postgres-fluffy-1234").unwrap(),
            kind: AddonKind::Postgres,
            app_id: 1,
            app_name: "shop".into(),
            name: AttachmentName::parse(name).unwrap(),
            created_at: Timestamp(0),
        };
        let left = without_addon_urls(config, &[attachment("DATABASE"), attachment("CACHE")]);
        assert_eq!(left.keys().collect::<Vec<_>>(), ["MODE"]);
    }
}
