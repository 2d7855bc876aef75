//! Builds: list, show with the log (its file, or the row of a build from before logs were
//! files), cancel the running one.

use crate::domain::{AppName, Timestamp};
use crate::store::BuildRow;
use crate::wire::BuildInfo;

use super::{Actor, OpsError, Platform, visible_app};

const LIST_LIMIT: i64 = 50;

pub async fn list(p: &Platform, actor: &Actor, name: &AppName) -> Result<Vec<BuildInfo>, OpsError> {
    let (actor, name) = (actor.clone(), name.clone());
    let rows = p
        .store
        .read(move |db| {
            let app = visible_app(db, &actor, &name)?;
            Ok::<_, OpsError>(db.builds(app.id, LIST_LIMIT)?)
        })
        .await?;
    Ok(rows.into_iter().map(|b| to_info(b, None)).collect())
}

/// One build with its log; the newest when `id` is None.
pub async fn info(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    id: Option<i64>,
) -> Result<BuildInfo, OpsError> {
    let (actor, name) = (actor.clone(), name.clone());
    let row = p
        .store
        .read(move |db| {
            let app = visible_app(db, &actor, &name)?;
            let row = match id {
                Some(id) => db.build(id)?.filter(|b| b.app_id == app.id),
                None => db.builds(app.id, 1)?.into_iter().next(),
            };
            let row = row.ok_or_else(|| match id {
                Some(id) => OpsError::NotFound(format!(
                    "build {id} not found for {name}; see paas builds -a {name}"
                )),
                None => OpsError::NotFound(format!(
                    "{name} has no builds yet; deploy with git push paas main"
                )),
            })?;
            Ok::<_, OpsError>(row)
        })
        .await?;
    // The log is a file (DATA/builds/ID.log); builds from before it was kept the database.
    let log = match p.builder.read_log(row.id).await {
        Ok(Some(log)) => log,
        Ok(None) => {
            let id = row.id;
            p.store.read(move |db| db.build_log(id)).await?
        }
        Err(e) => return Err(OpsError::Internal(e.to_string())),
    };
    Ok(to_info(row, Some(log)))
}

pub async fn cancel(p: &Platform, actor: &Actor, name: &AppName) -> Result<(), OpsError> {
    let app = super::apps::find(p, actor, name).await?;
    if p.deploys.cancel_build(app.name.as_str()) {
        Ok(())
    } else {
        Err(OpsError::NotFound(format!("{name} has no build running")))
    }
}

fn to_info(b: BuildRow, log: Option<String>) -> BuildInfo {
    let duration = b
        .finished_at
        .map(|f| f.0 - b.created_at.0)
        .or_else(|| (!b.state.is_finished()).then(|| Timestamp::now().0 - b.created_at.0));
    BuildInfo {
        id: b.id,
        commit: b.commit_sha,
        state: b.state.to_string(),
        state_detail: b.state_detail,
        buildpack: b.buildpack,
        image: b.image,
        image_size: b.image_size,
        process_types: b.process_types,
        author: b.author,
        created_at: b.created_at.rfc3339(),
        duration_secs: duration,
        log,
    }
}
