//! Scale to zero (`ps:autosleep`): the setting, and the two loops that carry it out on a
//! running server. The idle watcher puts an app to sleep once the router has seen no
//! request for it (and none in progress) for its idle time; the waker wakes an app the
//! router holds a request for. Sleeping and waking are changes of the app's reconciler
//! (`scheduler/sleep.rs`), which records the state; a failed wake is handed to the
//! router, which answers the held requests with its reason.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::domain::{AppName, Autosleep, DEFAULT_IDLE, SleepState, format_idle, parse_idle};
use crate::router::{Activity, Router};
use crate::scheduler::Change;
use crate::store::{NewEvent, SleepRow};
use crate::wire::{AutosleepInfo, AutosleepPatch};

use super::{Actor, OpsError, Platform, visible_app};

/// The app's autosleep setting and sleep state.
pub async fn show(p: &Platform, actor: &Actor, name: &AppName) -> Result<AutosleepInfo, OpsError> {
    let (actor, name) = (actor.clone(), name.clone());
    let row = p
        .store
        .read(move |db| {
            let app = visible_app(db, &actor, &name)?;
            Ok::<_, OpsError>(db.sleep(app.id)?)
        })
        .await?;
    Ok(info(&row))
}

/// Turns autosleep on (with its idle time and the types kept awake) or off. Turning it
/// off wakes a sleeping app.
pub async fn set(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    patch: AutosleepPatch,
) -> Result<AutosleepInfo, OpsError> {
    let autosleep = if patch.enabled {
        let idle = patch.after.as_deref().map(parse_idle).transpose()?;
        Some(Autosleep {
            idle: idle.unwrap_or(DEFAULT_IDLE),
            keep: Autosleep::parse_keep(&patch.keep)?,
        })
    } else {
        None
    };
    let detail = match &autosleep {
        Some(a) if a.keep.is_empty() => format!("autosleep on after {}", format_idle(a.idle)),
        Some(a) => format!(
            "autosleep on after {}, keeping {} awake",
            format_idle(a.idle),
            a.keep.iter().cloned().collect::<Vec<_>>().join(", ")
        ),
        None => "autosleep off".to_owned(),
    };
    let (actor, name) = (actor.clone(), name.clone());
    let (app, mut row) = p
        .store
        .write(move |tx| {
            let app = visible_app(tx, &actor, &name)?;
            tx.set_autosleep(app.id, autosleep.as_ref())?;
            tx.insert_event(NewEvent {
                actor: actor.name(),
                app_name: Some(app.name.as_str()),
                action: "app.autosleep",
                detail: &detail,
            })?;
            let row = tx.sleep(app.id)?;
            Ok::<_, OpsError>((app, row))
        })
        .await?;
    if row.autosleep.is_none() && row.state.is_asleep() {
        p.scheduler.submit(&app, Change::Wake).wait().await?;
        let app_id = app.id;
        row = p.store.read(move |db| db.sleep(app_id)).await?;
    }
    Ok(info(&row))
}

fn info(row: &SleepRow) -> AutosleepInfo {
    AutosleepInfo {
        enabled: row.autosleep.is_some(),
        after: row.autosleep.as_ref().map(|a| format_idle(a.idle)),
        keep: row
            .autosleep
            .as_ref()
            .map(|a| a.keep.iter().cloned().collect())
            .unwrap_or_default(),
        state: row.state.to_string(),
        note: row.note.clone(),
        since: row.since.map(|t| t.rfc3339()),
    }
}

/// Installs the router's waker and runs the waker and the idle watcher until shutdown.
pub async fn run(p: Platform, router: Router, shutdown: CancellationToken) {
    let (tx, rx) = mpsc::unbounded_channel();
    if !router.set_waker(move |app| {
        let _ = tx.send(app.to_owned());
    }) {
        tracing::error!("a waker was already installed; sleeping apps are woken by it");
        return;
    }
    tokio::join!(
        wake_on_request(p.clone(), router.clone(), rx, shutdown.clone()),
        watch_idle(p, router, shutdown),
    );
}

/// Wakes each app the router asks for, on its own task, so one slow wake holds no other.
async fn wake_on_request(
    p: Platform,
    router: Router,
    mut rx: mpsc::UnboundedReceiver<String>,
    shutdown: CancellationToken,
) {
    loop {
        let app = tokio::select! {
            () = shutdown.cancelled() => return,
            app = rx.recv() => match app {
                Some(app) => app,
                None => return,
            },
        };
        tokio::spawn(wake(p.clone(), router.clone(), app));
    }
}

async fn wake(p: Platform, router: Router, name: String) {
    let started = Instant::now();
    let app = match AppName::parse(&name) {
        Ok(parsed) => p.store.read(move |db| db.app(&parsed)).await,
        Err(_) => Ok(None),
    };
    let app = match app {
        Ok(Some(app)) => app,
        Ok(None) => return router.wake_failed(&name, "the app no longer exists"),
        Err(e) => {
            tracing::error!(app = %name, error = %e, "cannot read the app to wake it");
            return router.wake_failed(&name, "the platform could not read the app");
        }
    };
    match p.scheduler.submit(&app, Change::Wake).wait().await {
        Ok(_) => {
            tracing::info!(app = %name, ms = started.elapsed().as_millis() as u64, "woke");
            // Lets held requests through even if the app was awake already.
            p.scheduler.routes_changed(&name).await;
        }
        Err(e) => router.wake_failed(&name, &e.to_string()),
    }
}

/// What the watcher last saw of an app, and since when it has seen no request.
struct Seen {
    activity: Activity,
    idle_since: Instant,
}

/// Every `PAAS_AUTOSLEEP_CHECK_SECS`, puts to sleep each awake app with autosleep on that
/// served no request (and has none in progress or held) for its idle time. A server that
/// starts counts as activity: an app is idle for its whole time after a restart first.
async fn watch_idle(p: Platform, router: Router, shutdown: CancellationToken) {
    let every = Duration::from_secs(p.settings.autosleep_check_secs.max(1));
    let mut seen: HashMap<String, Seen> = HashMap::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let apps = match p.store.read(|db| db.autosleeping_apps()).await {
            Ok(apps) => apps,
            Err(e) => {
                tracing::warn!(error = %e, "autosleep: cannot read the apps");
                continue;
            }
        };
        let now = Instant::now();
        let mut next = HashMap::with_capacity(apps.len());
        for (row, name) in apps {
            let (Some(autosleep), Some(activity)) = (&row.autosleep, router.activity(&name)) else {
                continue;
            };
            let idle_since = match seen.remove(&name) {
                Some(last) if quiet(&last.activity, &activity) => last.idle_since,
                _ => now,
            };
            let mut entry = Seen {
                activity,
                idle_since,
            };
            if row.state == SleepState::Awake
                && activity.serving
                && now.duration_since(idle_since) >= autosleep.idle
            {
                put_to_sleep(&p, &name).await;
                entry.idle_since = now;
            }
            next.insert(name, entry);
        }
        seen = next;
    }
}

/// No response since the last look, and nothing in progress or held.
fn quiet(last: &Activity, now: &Activity) -> bool {
    last.responses == now.responses && now.in_flight == 0 && now.held == 0
}

async fn put_to_sleep(p: &Platform, name: &str) {
    let Ok(parsed) = AppName::parse(name) else {
        return;
    };
    match p.store.read(move |db| db.app(&parsed)).await {
        // The reconciler takes it in turn; nobody waits for it.
        Ok(Some(app)) => drop(p.scheduler.submit(&app, Change::Sleep)),
        Ok(None) => {}
        Err(e) => tracing::warn!(app = name, error = %e, "autosleep: cannot read the app"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(responses: u64, in_flight: usize, held: usize) -> Activity {
        Activity {
            responses,
            in_flight,
            held,
            serving: true,
        }
    }

    #[test]
    fn an_app_is_quiet_only_with_no_new_response_and_nothing_in_progress_or_held() {
        assert!(quiet(&seen(5, 0, 0), &seen(5, 0, 0)));
        assert!(!quiet(&seen(5, 0, 0), &seen(6, 0, 0)));
        assert!(!quiet(&seen(5, 0, 0), &seen(5, 1, 0)), "an open WebSocket");
        assert!(
            !quiet(&seen(5, 0, 0), &seen(5, 0, 2)),
            "requests held for a wake"
        );
    }
}
