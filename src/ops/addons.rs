//! Add-ons: create (run it, wait until it answers, attach it to its app), attach to more
//! apps, detach, destroy, list and show. Attaching sets `NAME_URL` as a config change
//! (a new release, rolled out like any other); detaching unsets it. An add-on is visible
//! to whoever sees one of the apps it is attached to; to anyone else it does not exist.

use std::time::Duration;

use crate::addons::{AddonStatus, Addons};
use crate::domain::{
    AddonKind, AddonName, AppName, AttachmentName, ConfigChange, ConfigKey, Invalid,
};
use crate::store::{AddonRow, AppRow, AttachmentRow, Db, NewAddon, NewEvent, ReleaseRow};
use crate::wire::{AddonChanged, AddonInfo, AttachAddon, AttachmentInfo, CreateAddon};

use super::releases::{self, NewReleaseOf};
use super::{Actor, OpsError, Platform, Progress, visible_app};

/// How long a new add-on may take to answer its protocol.
const UP_WITHIN: Duration = Duration::from_secs(90);

/// `paas addons:create KIND [--as NAME]`: runs a new add-on for `app` and attaches it.
pub async fn create(
    p: &Platform,
    actor: &Actor,
    app_name: &AppName,
    request: CreateAddon,
    progress: &Progress,
) -> Result<AddonChanged, OpsError> {
    let (p, actor, app_name, progress) =
        (p.clone(), actor.clone(), app_name.clone(), progress.clone());
    super::carried_out(async move { create_here(&p, &actor, &app_name, request, &progress).await })
        .await
}

async fn create_here(
    p: &Platform,
    actor: &Actor,
    app_name: &AppName,
    request: CreateAddon,
    progress: &Progress,
) -> Result<AddonChanged, OpsError> {
    let kind = AddonKind::parse(&request.kind)?;
    let attach_as = match &request.attach_as {
        Some(raw) => AttachmentName::parse(raw)?,
        None => kind.default_attachment(),
    };
    let (actor_in, name_in, as_in) = (actor.clone(), app_name.clone(), attach_as.clone());
    let app = p
        .store
        .read(move |db| {
            let app = visible_app(db, &actor_in, &name_in)?;
            check_attachable(db, &app, &as_in)?;
            Ok::<_, OpsError>(app)
        })
        .await?;
    let image = p
        .builder
        .addon_image(kind, progress)
        .await
        .map_err(|e| OpsError::Build(e.to_string()))?;

    let password = hex::encode(rand::random::<[u8; 24]>());
    let (memory_mb, app_id, actor_name) =
        (p.settings.addon_memory_mb, app.id, actor.name().to_owned());
    let addon = p
        .store
        .write(move |tx| {
            let name = loop {
                let name = AddonName::generate(kind, |words| {
                    (
                        rand::random::<u32>() as usize % words,
                        rand::random::<u16>(),
                    )
                });
                if tx.addon(&name)?.is_none() {
                    break name;
                }
            };
            let addon = tx.insert_addon(NewAddon {
                name: &name,
                kind,
                owner_app_id: app_id,
                password: &password,
                memory_mb,
            })?;
            let owner = addon.owner_app.clone();
            tx.insert_event(NewEvent {
                actor: &actor_name,
                app_name: Some(&owner),
                action: "addon.create",
                detail: &format!("created {kind} add-on {name}"),
            })?;
            Ok::<_, OpsError>(addon)
        })
        .await?;
    progress.step(format!("Creating {}...", addon.name));
    let started = async {
        p.addons
            .start(&addon, &image, std::slice::from_ref(&app.name.to_string()))
            .await?;
        p.addons.wait_up(&addon, UP_WITHIN).await
    }
    .await;
    let took = match started {
        Ok(took) => took,
        Err(e) => {
            // Nothing is left of an add-on that never answered.
            let _ = p.addons.remove(&addon.name).await;
            let id = addon.id;
            p.store.write(move |tx| tx.delete_addon(id)).await?;
            return Err(e.into());
        }
    };
    progress.detail(format!(
        "{} answers after {:.1}s",
        addon.name,
        took.as_secs_f64()
    ));
    let release = attach_and_release(p, actor, &app, &addon, &attach_as, progress).await?;
    progress.step(format!(
        "Created {}, attached as {attach_as} ({} set)",
        addon.name,
        attach_as.config_key()
    ));
    Ok(AddonChanged {
        addon: info(p, &addon).await?,
        release: Some(release),
    })
}

/// `paas addons:attach ADDON -a APP [--as NAME]`: shares an add-on with another app.
pub async fn attach(
    p: &Platform,
    actor: &Actor,
    app_name: &AppName,
    addon_name: &str,
    request: AttachAddon,
    progress: &Progress,
) -> Result<AddonChanged, OpsError> {
    let addon = find(p, actor, addon_name).await?;
    let attach_as = match &request.attach_as {
        Some(raw) => AttachmentName::parse(raw)?,
        None => addon.kind.default_attachment(),
    };
    let (actor_in, name_in, as_in, addon_id, addon_text) = (
        actor.clone(),
        app_name.clone(),
        attach_as.clone(),
        addon.id,
        addon.name.to_string(),
    );
    let app = p
        .store
        .read(move |db| {
            let app = visible_app(db, &actor_in, &name_in)?;
            if db
                .attachments_of_addon(addon_id)?
                .iter()
                .any(|a| a.app_id == app.id)
            {
                return Err(OpsError::Conflict(format!(
                    "{addon_text} is already attached to {}; see paas addons -a {}",
                    app.name, app.name
                )));
            }
            check_attachable(db, &app, &as_in)?;
            Ok::<_, OpsError>(app)
        })
        .await?;
    p.addons.attach_app(&addon.name, app.name.as_str()).await?;
    let release = attach_and_release(p, actor, &app, &addon, &attach_as, progress).await?;
    Ok(AddonChanged {
        addon: info(p, &addon).await?,
        release: Some(release),
    })
}

/// `paas addons:detach ADDON -a APP`: unsets the app's `NAME_URL`, then takes the add-on
/// off its network once the new release serves.
pub async fn detach(
    p: &Platform,
    actor: &Actor,
    app_name: &AppName,
    addon_name: &str,
    progress: &Progress,
) -> Result<AddonChanged, OpsError> {
    let addon = find(p, actor, addon_name).await?;
    let (actor_in, name_in, addon_in) = (actor.clone(), app_name.clone(), addon.clone());
    let (app, release) = p
        .store
        .write(move |tx| {
            let app = visible_app(tx, &actor_in, &name_in)?;
            if app.id == addon_in.owner_app_id {
                return Err(OpsError::Conflict(format!(
                    "{} belongs to {}: it cannot be detached from it; destroy it with paas addons:destroy {} --confirm {}",
                    addon_in.name, app.name, addon_in.name, app.name
                )));
            }
            let release = detach_in(tx, &actor_in, &app, &addon_in)?;
            Ok::<_, OpsError>((app, release))
        })
        .await?;
    let release = releases::hand_over(p, &app, release, true, progress).await?;
    p.addons.detach_app(&addon.name, app.name.as_str()).await?;
    Ok(AddonChanged {
        addon: info(p, &addon).await?,
        release: Some(release),
    })
}

/// `paas addons:destroy ADDON --confirm APP`: refuses while other apps are attached;
/// takes a final backup of a Postgres add-on unless `no_backup`; then unsets the owner's
/// `NAME_URL` and removes the container and its data.
pub async fn destroy(
    p: &Platform,
    actor: &Actor,
    addon_name: &str,
    confirm: &str,
    no_backup: bool,
    progress: &Progress,
) -> Result<(), OpsError> {
    let addon = find(p, actor, addon_name).await?;
    if confirm != addon.owner_app {
        return Err(OpsError::Invalid(Invalid::new(format!(
            "to destroy {} and its data, confirm with --confirm {}",
            addon.name, addon.owner_app
        ))));
    }
    let addon_id = addon.id;
    let others: Vec<String> = p
        .store
        .read(move |db| db.attachments_of_addon(addon_id))
        .await?
        .into_iter()
        .filter(|a| a.app_id != addon.owner_app_id)
        .map(|a| a.app_name)
        .collect();
    if let Some(other) = others.first() {
        return Err(OpsError::Conflict(format!(
            "{} is still attached to {}; detach it first: paas addons:detach {} -a {other}",
            addon.name,
            others.join(", "),
            addon.name
        )));
    }
    if addon.kind == AddonKind::Postgres && !no_backup {
        progress.step(format!("Taking a final backup of {}", addon.name));
        let owner_id = addon.owner_app_id;
        let owner = p
            .store
            .read(move |db| db.app_by_id(owner_id))
            .await?
            .ok_or_else(|| OpsError::Internal(format!("the app of {} is gone", addon.name)))?;
        let backup =
            super::backups::capture_for(p, actor.name(), &owner, &addon, "destroy").await?;
        progress.detail(format!(
            "backup b{:03} kept ({} bytes); --no-backup skips it",
            backup.id,
            backup.size.unwrap_or(0)
        ));
    }
    let (actor_in, addon_in) = (actor.clone(), addon.clone());
    let (owner, release) = p
        .store
        .write(move |tx| {
            let owner = tx.app_by_id(addon_in.owner_app_id)?.ok_or_else(|| {
                OpsError::Internal(format!("the app of {} is gone", addon_in.name))
            })?;
            let release = detach_in(tx, &actor_in, &owner, &addon_in)?;
            tx.delete_addon(addon_in.id)?;
            tx.insert_event(NewEvent {
                actor: actor_in.name(),
                app_name: Some(owner.name.as_str()),
                action: "addon.destroy",
                detail: &format!("destroyed {} add-on {}", addon_in.kind, addon_in.name),
            })?;
            Ok::<_, OpsError>((owner, release))
        })
        .await?;
    releases::hand_over(p, &owner, release, true, progress).await?;
    p.addons.remove(&addon.name).await?;
    progress.step(format!("Destroyed {}", addon.name));
    Ok(())
}

/// `paas addons -a APP`: what is attached to the app.
pub async fn list(
    p: &Platform,
    actor: &Actor,
    app_name: &AppName,
) -> Result<Vec<AddonInfo>, OpsError> {
    let (actor_in, name_in) = (actor.clone(), app_name.clone());
    let addons: Vec<AddonRow> = p
        .store
        .read(move |db| {
            let app = visible_app(db, &actor_in, &name_in)?;
            let mut rows = Vec::new();
            for attachment in db.attachments_of_app(app.id)? {
                if let Some(row) = db.addon(&attachment.addon_name)? {
                    rows.push(row);
                }
            }
            Ok::<_, OpsError>(rows)
        })
        .await?;
    let mut out = Vec::new();
    for addon in &addons {
        out.push(info(p, addon).await?);
    }
    Ok(out)
}

/// `paas addons:info ADDON`.
pub async fn show(p: &Platform, actor: &Actor, addon_name: &str) -> Result<AddonInfo, OpsError> {
    let addon = find(p, actor, addon_name).await?;
    info(p, &addon).await
}

/// `paas addons:restart ADDON`: restarts its container; the data stays.
pub async fn restart(p: &Platform, actor: &Actor, addon_name: &str) -> Result<AddonInfo, OpsError> {
    let addon = find(p, actor, addon_name).await?;
    p.addons.restart(&addon.name).await?;
    p.addons.wait_up(&addon, UP_WITHIN).await?;
    info(p, &addon).await
}

/// For the pages of one app (the web UI's add-ons tab): fails unless `actor` sees
/// `app_name` (else it is not found, as everywhere) and `addon_name` is attached to it.
pub async fn check_attached(
    p: &Platform,
    actor: &Actor,
    app_name: &AppName,
    addon_name: &str,
) -> Result<(), OpsError> {
    let (actor_in, name_in, addon_in) = (actor.clone(), app_name.clone(), addon_name.to_owned());
    p.store
        .read(move |db| {
            let app = visible_app(db, &actor_in, &name_in)?;
            if db
                .attachments_of_app(app.id)?
                .iter()
                .any(|a| a.addon_name.as_str() == addon_in)
            {
                Ok(())
            } else {
                Err(OpsError::NotFound(format!(
                    "add-on \"{addon_in}\" is not attached to {}; see paas addons -a {}",
                    app.name, app.name
                )))
            }
        })
        .await
}

/// The add-on `name` as `actor` may see it: through one of the apps it is attached to.
pub(crate) async fn find(p: &Platform, actor: &Actor, name: &str) -> Result<AddonRow, OpsError> {
    let not_found = || {
        OpsError::NotFound(format!(
            "add-on \"{name}\" not found; see paas addons -a APP"
        ))
    };
    let Ok(parsed) = AddonName::parse(name) else {
        return Err(not_found());
    };
    let actor = actor.clone();
    let found = p
        .store
        .read(move |db| {
            let Some(addon) = db.addon(&parsed)? else {
                return Ok(None);
            };
            for attachment in db.attachments_of_addon(addon.id)? {
                if let Ok(app) = AppName::parse(&attachment.app_name)
                    && db.app_for(&app, &actor.0)?.is_some()
                {
                    return Ok(Some(addon));
                }
            }
            Ok::<_, OpsError>(None)
        })
        .await?;
    found.ok_or_else(not_found)
}

/// The add-on of `kind` attached to `app` as `attachment` (or, if not named, the one
/// attached as the kind's default name, or the only one of that kind).
pub(crate) async fn of_app(
    p: &Platform,
    actor: &Actor,
    app_name: &AppName,
    kind: AddonKind,
    named: Option<&str>,
) -> Result<(AppRow, AddonRow), OpsError> {
    if let Some(name) = named
        && AddonName::parse(name).is_ok()
    {
        let addon = find(p, actor, name).await?;
        let app = super::apps::find(p, actor, app_name).await?;
        let (addon_id, app_id) = (addon.id, app.id);
        let attached = p
            .store
            .read(move |db| db.attachments_of_addon(addon_id))
            .await?
            .iter()
            .any(|a| a.app_id == app_id);
        if !attached {
            return Err(OpsError::NotFound(format!(
                "{} is not attached to {}; see paas addons -a {}",
                addon.name, app.name, app.name
            )));
        }
        return Ok((app, addon));
    }
    let wanted = named.map(AttachmentName::parse).transpose()?;
    let (actor_in, name_in) = (actor.clone(), app_name.clone());
    p.store
        .read(move |db| {
            let app = visible_app(db, &actor_in, &name_in)?;
            let attached: Vec<AttachmentRow> = db
                .attachments_of_app(app.id)?
                .into_iter()
                .filter(|a| a.kind == kind)
                .collect();
            let chosen = match &wanted {
                Some(name) => attached.iter().find(|a| &a.name == name),
                None => attached
                    .iter()
                    .find(|a| a.name == kind.default_attachment())
                    .or(if attached.len() == 1 {
                        attached.first()
                    } else {
                        None
                    }),
            };
            let Some(chosen) = chosen else {
                return Err(OpsError::NotFound(match attached.is_empty() {
                    true => format!(
                        "{} has no {kind} add-on; create one with paas addons:create {kind} -a {}",
                        app.name, app.name
                    ),
                    false => format!(
                        "{} has several {kind} add-ons; name one (e.g. {})",
                        app.name, attached[0].addon_name
                    ),
                }));
            };
            let addon = db.addon(&chosen.addon_name)?.ok_or_else(|| {
                OpsError::NotFound(format!("add-on {} is gone", chosen.addon_name))
            })?;
            Ok((app, addon))
        })
        .await
}

/// The name is free on the app, and the user did not set its config var themselves.
fn check_attachable(db: &Db<'_>, app: &AppRow, name: &AttachmentName) -> Result<(), OpsError> {
    if let Some(taken) = db
        .attachments_of_app(app.id)?
        .into_iter()
        .find(|a| &a.name == name)
    {
        return Err(OpsError::Conflict(format!(
            "{} already has an add-on attached as {name} ({}); pick another name with --as",
            app.name, taken.addon_name
        )));
    }
    let key = name.config_key();
    let config = db
        .latest_config(app.id)?
        .map(|c| c.vars)
        .unwrap_or_default();
    if config.contains_key(&key) {
        return Err(OpsError::Conflict(format!(
            "{key} is already set on {}; unset it first (paas config:unset {key} -a {}) or attach as another name with --as",
            app.name, app.name
        )));
    }
    Ok(())
}

/// Records the attachment and its `NAME_URL` as one new release, then rolls it out.
async fn attach_and_release(
    p: &Platform,
    actor: &Actor,
    app: &AppRow,
    addon: &AddonRow,
    attach_as: &AttachmentName,
    progress: &Progress,
) -> Result<crate::wire::ReleaseInfo, OpsError> {
    let (actor_in, app_in, addon_in, as_in) =
        (actor.clone(), app.clone(), addon.clone(), attach_as.clone());
    let release = p
        .store
        .write(move |tx| {
            check_attachable(tx, &app_in, &as_in)?;
            tx.insert_attachment(addon_in.id, app_in.id, &as_in)?;
            let mut change = ConfigChange::default();
            change.set.insert(
                ConfigKey::parse(&as_in.config_key())?,
                Addons::url(&addon_in),
            );
            let release = release_config(
                tx,
                &actor_in,
                &app_in,
                &change,
                &format!("Attach {} as {as_in}", addon_in.name),
            )?;
            tx.insert_event(NewEvent {
                actor: actor_in.name(),
                app_name: Some(app_in.name.as_str()),
                action: "addon.attach",
                detail: &format!(
                    "attached {} as {as_in} (v{})",
                    addon_in.name, release.version
                ),
            })?;
            Ok::<_, OpsError>(release)
        })
        .await?;
    releases::hand_over(p, app, release, true, progress).await
}

/// In `tx`: removes the attachment of `addon` to `app` and unsets its `NAME_URL` in a new
/// release (to hand over once committed).
fn detach_in(
    tx: &Db<'_>,
    actor: &Actor,
    app: &AppRow,
    addon: &AddonRow,
) -> Result<ReleaseRow, OpsError> {
    let Some(attachment) = tx
        .attachments_of_app(app.id)?
        .into_iter()
        .find(|a| a.addon_id == addon.id)
    else {
        return Err(OpsError::NotFound(format!(
            "{} is not attached to {}; see paas addons -a {}",
            addon.name, app.name, app.name
        )));
    };
    tx.delete_attachment(addon.id, app.id)?;
    let mut change = ConfigChange::default();
    change
        .unset
        .insert(ConfigKey::parse(&attachment.name.config_key())?);
    let release = release_config(
        tx,
        actor,
        app,
        &change,
        &format!("Detach {} ({})", addon.name, attachment.name),
    )?;
    tx.insert_event(NewEvent {
        actor: actor.name(),
        app_name: Some(app.name.as_str()),
        action: "addon.detach",
        detail: &format!(
            "detached {} ({}) (v{})",
            addon.name, attachment.name, release.version
        ),
    })?;
    Ok(release)
}

/// A new config version with `change` and a release of it on the current build.
fn release_config(
    tx: &Db<'_>,
    actor: &Actor,
    app: &AppRow,
    change: &ConfigChange,
    description: &str,
) -> Result<ReleaseRow, OpsError> {
    let current = tx
        .latest_config(app.id)?
        .map(|c| c.vars)
        .unwrap_or_default();
    let vars = change.apply(&current)?;
    let config = tx.insert_config_version(app.id, &vars)?;
    Ok(releases::insert_on_current_build(
        tx,
        app,
        NewReleaseOf {
            config_version_id: config.id,
            description,
            author: actor.name(),
        },
    )?)
}

/// Its row and its live state, as the API shows them.
pub(crate) async fn info(p: &Platform, addon: &AddonRow) -> Result<AddonInfo, OpsError> {
    let id = addon.id;
    let attachments = p.store.read(move |db| db.attachments_of_addon(id)).await?;
    let status = p.addons.status(addon).await?;
    Ok(to_info(addon, &attachments, &status))
}

fn to_info(addon: &AddonRow, attachments: &[AttachmentRow], status: &AddonStatus) -> AddonInfo {
    AddonInfo {
        name: addon.name.to_string(),
        kind: addon.kind.to_string(),
        version: addon.version.clone(),
        state: status.state.as_str().to_owned(),
        reason: status.reason.clone(),
        app: addon.owner_app.clone(),
        attachments: attachments
            .iter()
            .map(|a| AttachmentInfo {
                app: a.app_name.clone(),
                name: a.name.to_string(),
                config_var: a.name.config_key(),
            })
            .collect(),
        created_at: addon.created_at.rfc3339(),
        memory_mb: addon.memory_mb,
        bytes: status.bytes,
        started_at: status
            .started_at
            .map(|t| crate::domain::Timestamp(t).rfc3339()),
        restarts: status.restarts,
        backup_at: addon.backup_at.clone(),
    }
}

/// For apps:destroy: the app's own add-ons must not be attached elsewhere; then they
/// are removed with their data, and others' add-ons are taken off its network.
pub(crate) async fn release_for_destroy(p: &Platform, app: &AppRow) -> Result<(), OpsError> {
    let app_id = app.id;
    let (owned, attached) = p
        .store
        .read(move |db| {
            let owned = db.owned_addons(app_id)?;
            let mut shared = Vec::new();
            for addon in &owned {
                for a in db.attachments_of_addon(addon.id)? {
                    if a.app_id != app_id {
                        shared.push((addon.name.clone(), a.app_name));
                    }
                }
            }
            Ok::<_, OpsError>((owned, db.attachments_of_app(app_id)?, shared))
        })
        .await
        .and_then(|(owned, attached, shared)| match shared.first() {
            Some((addon, other)) => Err(OpsError::Conflict(format!(
                "{}'s add-on {addon} is attached to {other}; detach it first: paas addons:detach {addon} -a {other}",
                app.name
            ))),
            None => Ok((owned, attached)),
        })?;
    for a in attached
        .iter()
        .filter(|a| !owned.iter().any(|o| o.id == a.addon_id))
    {
        p.addons
            .detach_app(&a.addon_name, app.name.as_str())
            .await?;
    }
    for addon in &owned {
        p.addons.remove(&addon.name).await?;
        let id = addon.id;
        p.store.write(move |tx| tx.delete_addon(id)).await?;
    }
    Ok(())
}
