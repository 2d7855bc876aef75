//! The audit trail, filtered to what the actor may see.

use crate::domain::AppName;
use crate::wire::EventInfo;

use super::{Actor, OpsError, Platform, visible_app};

const LIST_LIMIT: i64 = 200;

/// Events of one app, or of every app the actor can see (admins: everything).
pub async fn list(
    p: &Platform,
    actor: &Actor,
    app: Option<&AppName>,
) -> Result<Vec<EventInfo>, OpsError> {
    let (actor, app) = (actor.clone(), app.cloned());
    let rows = p
        .store
        .read(move |db| {
            let filter = match &app {
                Some(name) => Some(vec![visible_app(db, &actor, name)?.name.to_string()]),
                None if actor.is_admin() => None,
                None => Some(
                    db.apps_for(&actor.0)?
                        .into_iter()
                        .map(|a| a.name.to_string())
                        .collect(),
                ),
            };
            Ok::<_, OpsError>(db.events(filter.as_deref(), LIST_LIMIT)?)
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|e| EventInfo {
            at: e.at.rfc3339(),
            actor: e.actor,
            app: e.app_name,
            action: e.action,
            detail: e.detail,
        })
        .collect())
}
