//! App membership: which users besides the owner may see and change an app, and who
//! owns it (`apps:transfer`).

use crate::domain::{AppName, Invalid};
use crate::store::{AppRow, Db, NewEvent, UserRow};

use super::{Actor, OpsError, Platform, visible_app};

pub async fn list(p: &Platform, actor: &Actor, name: &AppName) -> Result<Vec<String>, OpsError> {
    let (actor, name) = (actor.clone(), name.clone());
    p.store
        .read(move |db| {
            let app = visible_app(db, &actor, &name)?;
            let mut names = vec![app.owner.clone()];
            names.extend(db.members(app.id)?);
            Ok(names)
        })
        .await
}

/// The user named `user`, who must exist and not own `app` already.
fn not_the_owner(db: &Db<'_>, app: &AppRow, user: &str) -> Result<UserRow, OpsError> {
    let found = db.user_by_name(user)?.ok_or_else(|| {
        OpsError::NotFound(format!(
            "user \"{user}\" not found; an admin can create it with paas users:create {user}"
        ))
    })?;
    if found.id == app.owner_id {
        return Err(OpsError::Invalid(Invalid::new(format!(
            "{user} owns {} already",
            app.name
        ))));
    }
    Ok(found)
}

/// Owners and admins manage membership; members use the app.
fn require_owner(actor: &Actor, app: &AppRow) -> Result<(), OpsError> {
    if actor.is_admin() || actor.0.id == app.owner_id {
        Ok(())
    } else {
        Err(OpsError::Forbidden(format!(
            "only {}'s owner ({}) or an admin can change who has access or owns it",
            app.name, app.owner
        )))
    }
}

pub async fn add(p: &Platform, actor: &Actor, name: &AppName, user: &str) -> Result<(), OpsError> {
    let (actor, name, user) = (actor.clone(), name.clone(), user.to_owned());
    p.store
        .write(move |tx| {
            let app = visible_app(tx, &actor, &name)?;
            require_owner(&actor, &app)?;
            let member = not_the_owner(tx, &app, &user)?;
            tx.add_member(app.id, member.id)?;
            tx.insert_event(NewEvent {
                actor: actor.name(),
                app_name: Some(app.name.as_str()),
                action: "access.add",
                detail: &format!("gave {user} access"),
            })?;
            Ok(())
        })
        .await
}

pub async fn remove(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    user: &str,
) -> Result<(), OpsError> {
    let (actor, name, user) = (actor.clone(), name.clone(), user.to_owned());
    p.store
        .write(move |tx| {
            let app = visible_app(tx, &actor, &name)?;
            require_owner(&actor, &app)?;
            let removed = match tx.user_by_name(&user)? {
                Some(member) => tx.remove_member(app.id, member.id)?,
                None => false,
            };
            if !removed {
                return Err(OpsError::NotFound(format!(
                    "{user} is not a member of {name}; see paas access -a {name}"
                )));
            }
            tx.insert_event(NewEvent {
                actor: actor.name(),
                app_name: Some(app.name.as_str()),
                action: "access.remove",
                detail: &format!("removed {user}'s access"),
            })?;
            Ok(())
        })
        .await
}

/// Makes `user` the owner; the previous owner stays on as a member, as on Heroku.
pub async fn transfer(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    user: &str,
) -> Result<(), OpsError> {
    let (actor, name, user) = (actor.clone(), name.clone(), user.to_owned());
    p.store
        .write(move |tx| {
            let app = visible_app(tx, &actor, &name)?;
            require_owner(&actor, &app)?;
            let owner = not_the_owner(tx, &app, &user)?;
            tx.set_owner(app.id, owner.id)?;
            tx.remove_member(app.id, owner.id)?;
            tx.add_member(app.id, app.owner_id)?;
            tx.insert_event(NewEvent {
                actor: actor.name(),
                app_name: Some(app.name.as_str()),
                action: "access.transfer",
                detail: &format!("transferred {name} from {} to {user}", app.owner),
            })?;
            Ok(())
        })
        .await
}
