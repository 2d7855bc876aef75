//! Add-ons: create (run it, wait until it answers, attach it to its app), attach to more
//! apps, detach, destroy, list and show. Attaching sets `NAME_URL` as a config change
//! (a new release, rolled out like any other); detaching unsets it. An add-on is visible
//! to whoever sees one of the apps it is attached to; to anyone else it does not exist.

use std::time::Duration;

use crate::domain::{AddonKind, AddonName, AppName, AttachmentName, Invalid};
use crate::store::{AddonRow, AppRow, NewAddon, NewEvent};
use crate::wire::{AddonChanged, AddonInfo, AttachAddon, CreateAddon};

mod attachments;
mod lookup;
use attachments::{attach_and_release, check_attachable, detach_in};
pub use lookup::check_attached;
pub(crate) use lookup::{find, info, of_app};

use super::releases;
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
