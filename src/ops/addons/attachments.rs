//! Attaching and detaching: an attachment's name must be free on the app, and each
//! change to an app's attachments is a config change released like any other.

use crate::addons::Addons;
use crate::domain::{AttachmentName, ConfigChange, ConfigKey};
use crate::store::{AddonRow, AppRow, Db, NewEvent, ReleaseRow};

use super::super::releases::{self, NewReleaseOf};
use super::super::{Actor, OpsError, Platform, Progress};

/// The name is free on the app, and the user did not set its config var themselves.
pub(super) fn check_attachable(
    db: &Db<'_>,
    app: &AppRow,
    name: &AttachmentName,
) -> Result<(), OpsError> {
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
pub(super) async fn attach_and_release(
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
pub(super) fn detach_in(
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
