//! Processes: the formation (how many of each type), scaling, restarting.

use crate::domain::{AppName, ProcessType, ResizeRequest, ScaleRequest};
use crate::scheduler::Change;
use crate::store::{AppRow, Db, NewEvent};
use crate::wire::{FormationEntry, ProcessInfo};

use super::{Actor, OpsError, Platform, visible_app};

/// The formation with defaults filled in: every type the current build declares, `web` at
/// 1 and others at 0 until scaled.
pub async fn formation(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
) -> Result<Vec<FormationEntry>, OpsError> {
    let (actor, name) = (actor.clone(), name.clone());
    let default_memory = p.settings.default_memory_mb;
    p.store
        .read(move |db| {
            let app = visible_app(db, &actor, &name)?;
            resolved_formation(db, app.id, default_memory)
        })
        .await
}

pub(crate) fn resolved_formation(
    db: &Db<'_>,
    app_id: i64,
    default_memory: u32,
) -> Result<Vec<FormationEntry>, OpsError> {
    let stored = db.formation(app_id)?;
    let declared = match db.current_release(app_id)?.and_then(|r| r.build_id) {
        Some(build_id) => db
            .build(build_id)?
            .map(|b| b.process_types)
            .unwrap_or_default(),
        None => Default::default(),
    };
    let mut names: Vec<String> = declared.keys().cloned().collect();
    names.extend(stored.iter().map(|f| f.process_type.clone()));
    names.sort();
    names.dedup();
    Ok(names
        .into_iter()
        .map(|name| {
            let row = stored.iter().find(|f| f.process_type == name);
            FormationEntry {
                quantity: row.map_or(default_quantity(&name), |f| f.quantity),
                memory_mb: row.and_then(|f| f.memory_mb).unwrap_or(default_memory),
                command: declared.get(&name).cloned(),
                process_type: name,
            }
        })
        .collect())
}

fn default_quantity(process_type: &str) -> u32 {
    u32::from(process_type == "web")
}

/// Stores the new quantities, then hands them to the app's reconciler.
pub async fn scale(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    request: ScaleRequest,
    wait: bool,
) -> Result<Vec<FormationEntry>, OpsError> {
    let (actor_in, name_in) = (actor.clone(), name.clone());
    let default_memory = p.settings.default_memory_mb;
    let max_total = p.settings.max_app_processes;
    let (app, formation) = p
        .store
        .write(move |tx| {
            let app = visible_app(tx, &actor_in, &name_in)?;
            let known = resolved_formation(tx, app.id, default_memory)?;
            check_declared(&app.name, &known, &request)?;
            set_quantities(tx, &app, &known, &request, max_total)?;
            let summary: Vec<String> = request.0.iter().map(|(t, q)| format!("{t}={q}")).collect();
            tx.insert_event(NewEvent {
                actor: actor_in.name(),
                app_name: Some(app.name.as_str()),
                action: "ps.scale",
                detail: &format!("scaled to {}", summary.join(" ")),
            })?;
            let formation = resolved_formation(tx, app.id, default_memory)?;
            Ok::<_, OpsError>((app, formation))
        })
        .await?;
    hand_over(p, &app, Change::Scale, wait).await?;
    Ok(formation)
}

/// Every path that sets a quantity comes here: at most 100 of a type (`ScaleRequest`)
/// and `max_total` processes for the app.
pub(crate) fn set_quantities(
    tx: &Db<'_>,
    app: &AppRow,
    known: &[FormationEntry],
    request: &ScaleRequest,
    max_total: u32,
) -> Result<(), OpsError> {
    let current = known
        .iter()
        .map(|f| (f.process_type.clone(), f.quantity))
        .collect();
    request.check_total(app.name.as_str(), &current, max_total)?;
    for (process_type, quantity) in &request.0 {
        tx.set_quantity(app.id, process_type.as_str(), *quantity)?;
    }
    Ok(())
}

/// Once a build declares its process types, only those can be scaled.
fn check_declared(
    app: &AppName,
    known: &[FormationEntry],
    request: &ScaleRequest,
) -> Result<(), OpsError> {
    let declared: Vec<&str> = known
        .iter()
        .filter(|f| f.command.is_some())
        .map(|f| f.process_type.as_str())
        .collect();
    if declared.is_empty() {
        return Ok(());
    }
    match request.0.keys().find(|t| !declared.contains(&t.as_str())) {
        Some(missing) => Err(OpsError::NotFound(format!(
            "{app} has no process type \"{missing}\"; its Procfile declares: {}",
            declared.join(", ")
        ))),
        None => Ok(()),
    }
}

/// Sets memory limits per process type, then restarts those types to apply them.
pub async fn resize(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    request: ResizeRequest,
) -> Result<Vec<FormationEntry>, OpsError> {
    let (actor_in, name_in) = (actor.clone(), name.clone());
    let default_memory = p.settings.default_memory_mb;
    let sizes = request.0.clone();
    let (app, formation) = p
        .store
        .write(move |tx| {
            let app = visible_app(tx, &actor_in, &name_in)?;
            for (process_type, memory) in &sizes {
                tx.set_memory(app.id, process_type.as_str(), Some(*memory))?;
            }
            let summary: Vec<String> = sizes.iter().map(|(t, m)| format!("{t}={m}M")).collect();
            tx.insert_event(NewEvent {
                actor: actor_in.name(),
                app_name: Some(app.name.as_str()),
                action: "ps.resize",
                detail: &format!("memory set to {}", summary.join(" ")),
            })?;
            let formation = resolved_formation(tx, app.id, default_memory)?;
            Ok::<_, OpsError>((app, formation))
        })
        .await?;
    for process_type in request.0.keys() {
        let declared = formation
            .iter()
            .any(|f| f.process_type == process_type.as_str() && f.command.is_some());
        if declared {
            let change = Change::Restart(Some(process_type.to_string()));
            hand_over(p, &app, change, true).await?;
        }
    }
    Ok(formation)
}

/// The app's running processes and their states.
pub async fn processes(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
) -> Result<Vec<ProcessInfo>, OpsError> {
    let app = super::apps::find(p, actor, name).await?;
    Ok(p.scheduler.processes(app.name.as_str()))
}

pub async fn restart(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    process_type: Option<&str>,
    wait: bool,
) -> Result<(), OpsError> {
    let process_type = process_type.map(ProcessType::parse).transpose()?;
    let app = super::apps::find(p, actor, name).await?;
    let actor_name = actor.name().to_owned();
    let (app_name, what) = (
        app.name.to_string(),
        process_type
            .as_ref()
            .map_or_else(|| "all processes".to_owned(), |t| format!("{t} processes")),
    );
    p.store
        .write(move |tx| {
            tx.insert_event(NewEvent {
                actor: &actor_name,
                app_name: Some(&app_name),
                action: "ps.restart",
                detail: &format!("restarted {what}"),
            })
            .map_err(OpsError::from)
        })
        .await?;
    let change = Change::Restart(process_type.as_ref().map(ProcessType::to_string));
    hand_over(p, &app, change, wait).await
}

/// Hands the change to the app's reconciler and, with `wait`, waits for its end (the
/// change goes on if the caller goes away).
async fn hand_over(p: &Platform, app: &AppRow, change: Change, wait: bool) -> Result<(), OpsError> {
    let ticket = p.scheduler.submit(app, change);
    if wait {
        ticket.wait().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_defaults_to_one_instance_and_others_to_none() {
        assert_eq!(default_quantity("web"), 1);
        assert_eq!(default_quantity("worker"), 0);
    }

    #[test]
    fn scaling_an_undeclared_type_is_refused_once_a_build_declares_types() {
        let app = AppName::parse("myapp").unwrap();
        let known = vec![FormationEntry {
            process_type: "web".into(),
            quantity: 1,
            memory_mb: 512,
            command: Some("run".into()),
        }];
        let bad = ScaleRequest::parse_args(&["worker=1"]).unwrap();
        let err = check_declared(&app, &known, &bad).unwrap_err();
        assert!(err.to_string().contains("declares: web"), "{err}");
        assert!(check_declared(&app, &[], &bad).is_ok());
    }
}
