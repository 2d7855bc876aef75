//! Which add-ons an actor may see: an add-on is visible through the apps it is attached
//! to, and to anyone else it does not exist; and what is shown of one.

use crate::addons::AddonStatus;
use crate::domain::{AddonKind, AddonName, AppName, AttachmentName};
use crate::store::{AddonRow, AppRow, AttachmentRow};
use crate::wire::{AddonInfo, AttachmentInfo};

use super::super::{Actor, OpsError, Platform, visible_app};

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
        let app = super::super::apps::find(p, actor, app_name).await?;
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
