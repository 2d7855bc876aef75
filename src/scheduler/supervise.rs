//! Keeping processes running: engine events (and a periodic sweep, for any event missed)
//! mark crashed processes, take them out of the route table, and restart them with backoff.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use crate::domain::{ProcessChecks, Timestamp};
use crate::runtime::{InstanceEvent, InstanceState, RuntimeError};

use super::backoff;
use super::instances::ProcState;
use super::{Inner, follow, monitor, routes};

const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// On a swarm the sweep also adopts the tasks Swarm kept or replaced on its own: often.
const SWARM_SWEEP_EVERY: Duration = Duration::from_secs(2);
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

pub async fn watch(s: Arc<Inner>) {
    let replaces = s.runtime.replaces_processes();
    let mut sweep = tokio::time::interval(if replaces {
        SWARM_SWEEP_EVERY
    } else {
        SWEEP_EVERY
    });
    loop {
        let mut events = s.runtime.events();
        loop {
            tokio::select! {
                () = s.shutdown.cancelled() => return,
                _ = sweep.tick() => {
                    sweep_exited(&s).await;
                    if replaces {
                        super::adopt::adopt_strays(&s).await;
                    }
                }
                event = events.next() => match event {
                    Some(Ok(InstanceEvent::Died { id, exit_code })) => crashed(&s, &id, exit_code).await,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "engine event stream failed; reconnecting");
                        break;
                    }
                    None => break,
                },
            }
        }
        tokio::select! {
            () = s.shutdown.cancelled() => return,
            () = tokio::time::sleep(RECONNECT_AFTER) => {}
        }
    }
}

/// Finds processes the registry thinks are up but the engine says have exited.
async fn sweep_exited(s: &Arc<Inner>) {
    for app in s.registry.app_names() {
        for t in s.registry.of_app(&app) {
            if t.state != ProcState::Up {
                continue;
            }
            if let Ok(Some(instance)) = s.runtime.inspect(&t.id).await
                && let InstanceState::Exited { code, .. } = instance.state
            {
                crashed(s, &t.id, code).await;
            }
        }
    }
}

pub(super) async fn crashed(s: &Arc<Inner>, id: &str, exit_code: i64) {
    take_down(s, id, exit_code, |dyno, delay| {
        format!(
            "{dyno} crashed, exit {exit_code}, restarting in {}s",
            delay.as_secs()
        )
    })
    .await;
}

/// A liveness check failed its attempts (`why` says how): the process leaves the routes
/// and is restarted as a crashed one is.
pub(super) async fn failed_liveness(s: &Arc<Inner>, id: &str, why: String) {
    take_down(s, id, -1, |_, delay| match delay.as_secs() {
        0 => format!("{why}; restarting"),
        secs => format!("{why}; restarting in {secs}s"),
    })
    .await;
}

/// Out of the route table, then a restart after the backoff; `line` is what the app's log
/// says, given the dyno and the delay.
async fn take_down(
    s: &Arc<Inner>,
    id: &str,
    exit_code: i64,
    line: impl FnOnce(&str, Duration) -> String,
) {
    let Some((app, tracked)) = s.registry.find(id) else {
        return;
    };
    // Processes being stopped, or still in their first health check, are not crashes.
    if tracked.state != ProcState::Up {
        return;
    }
    let stable = tracked
        .started_at
        .is_some_and(|t| Timestamp::now().0 - t >= backoff::STABLE_AFTER.as_secs() as i64);
    let restarts = if stable { 0 } else { tracked.restarts };
    s.registry
        .set_state(&app, id, ProcState::Crashed { exit_code });
    s.registry.update(&app, id, |t| t.restarts = restarts);
    routes::publish(s, &app).await;
    let delay = backoff::delay(restarts);
    s.logs
        .platform(&app, "scheduler", line(&tracked.dyno(), delay));
    let inner = Arc::clone(s);
    let id = id.to_owned();
    s.tasks
        .spawn(async move { restart_after(inner, app, id, delay).await });
}

/// Waits out the backoff, starts the same container again, and puts it back in rotation
/// once healthy; a failed start counts as another crash and backs off further.
async fn restart_after(s: Arc<Inner>, app: String, mut id: String, mut delay: Duration) {
    loop {
        tokio::select! {
            () = s.shutdown.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        let Some(tracked) = s
            .registry
            .update(&app, &id, |t| t.restarts += 1)
            .filter(|t| matches!(t.state, ProcState::Crashed { .. }))
        else {
            return;
        };
        let dyno = tracked.dyno();
        let instance = match s.runtime.restart(&id).await {
            Ok(instance) => instance,
            Err(RuntimeError::Gone(_)) => {
                // A swarm scaled the service down and chose this task to go.
                s.registry.remove(&app, &id);
                routes::publish(&s, &app).await;
                return;
            }
            Err(e) => {
                s.logs
                    .platform(&app, "scheduler", format!("{dyno} could not restart: {e}"));
                return;
            }
        };
        // A swarm restarts a task as a new one in the same slot: the dyno keeps its name.
        if instance.id != id {
            s.registry.rekey(&app, &id, &instance.id);
            id.clone_from(&instance.id);
        }
        let endpoint = s.runtime.endpoint(&instance, super::plan::PORT);
        s.registry.update(&app, &id, |t| {
            t.ip = instance.ip;
            t.endpoint = endpoint;
            t.node.clone_from(&instance.node);
            t.started_at = instance.started_at;
            t.state = ProcState::Starting;
            t.unready.clear();
            t.generation += 1;
        });
        follow::spawn(&s, &app, &id, &dyno, instance.started_at.unwrap_or(0));
        let checks = checks_of(&s, &app, &tracked.process_type).await;
        let checked = s
            .check(&app, &instance, &tracked, &checks, s.settings.boot_timeout)
            .await;
        match checked {
            Ok(()) => {
                if let Some(up) = s.registry.mark_up(&app, &id) {
                    monitor::spawn(&s, &app, &up, &checks);
                }
                routes::publish(&s, &app).await;
                s.logs
                    .platform(&app, "scheduler", format!("{dyno} is up again"));
                return;
            }
            Err(unhealthy) => {
                let exit_code = match s.runtime.inspect(&id).await {
                    Ok(Some(i)) => match i.state {
                        InstanceState::Exited { code, .. } => code,
                        _ => -1,
                    },
                    _ => -1,
                };
                let Some(tracked) =
                    s.registry
                        .set_state(&app, &id, ProcState::Crashed { exit_code })
                else {
                    return;
                };
                delay = backoff::delay(tracked.restarts);
                s.logs.platform(
                    &app,
                    "scheduler",
                    format!("{}; restarting in {}s", unhealthy.0, delay.as_secs()),
                );
            }
        }
    }
}

/// The checks of `process_type` in the release `app` runs now.
async fn checks_of(s: &Inner, app: &str, process_type: &str) -> ProcessChecks {
    let plan = async {
        let name = crate::domain::AppName::parse(app).ok()?;
        let row = s.store.read(move |db| db.app(&name)).await.ok()??;
        s.current_plan(&row).await.ok()?
    };
    plan.await
        .map(|p| p.checks.of(process_type))
        .unwrap_or_default()
}
