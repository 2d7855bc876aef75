//! Scale to zero: putting an idle app to sleep (its web processes, and the types it does
//! not keep awake, stop; the stored formation stays) and waking it (the whole formation
//! starts, the route table gets each web process as soon as it is healthy). Both run as
//! changes of the app's reconciler, so they take their turn with rollouts and scaling,
//! and the sleep state is written here, in that order.

use crate::domain::{SleepState, format_idle};
use crate::store::{AppRow, StoreError};

use super::{Inner, SchedulerError, rollout, routes};

/// Records the state, stops what a sleeping app does not run, and publishes its routes
/// (the router then holds its requests and asks for a wake).
pub async fn sleep(s: &Inner, app: &AppRow) -> Result<(), SchedulerError> {
    let app_id = app.id;
    let row = s.store.read(move |db| db.sleep(app_id)).await?;
    // Asleep already, or autosleep was turned off since the watcher looked.
    if row.state.is_asleep() || row.autosleep.is_none() {
        return Ok(());
    }
    record(s, app_id, SleepState::Asleep, None).await?;
    let idle = row
        .autosleep
        .map_or_else(String::new, |a| format_idle(a.idle));
    s.logs.platform(
        app.name.as_str(),
        "sleep",
        format!("sleeping: no request for {idle}; the next request wakes it"),
    );
    rollout::converge(s, app).await
}

/// Starts the whole formation of the current release; the app is awake once every process
/// is up. A failure leaves it asleep as `crashed`, with the reason, and stops what started.
pub async fn wake(s: &Inner, app: &AppRow) -> Result<(), SchedulerError> {
    let Some(plan) = s.current_plan(app).await? else {
        return Err(SchedulerError::NothingToRun(app.name.to_string()));
    };
    if !plan.sleep.state.is_asleep() {
        // Woken meanwhile (by a request already served, or by a rollout).
        return Ok(());
    }
    let name = app.name.as_str();
    match rollout::converge_plan(s, &plan.clone().awake()).await {
        Ok(()) => {
            record(s, app.id, SleepState::Awake, None).await?;
            s.logs.platform(name, "sleep", "awake: a request woke it");
            routes::publish(s, name).await;
            Ok(())
        }
        Err(e) => {
            let reason = e.to_string();
            s.logs
                .platform(name, "sleep", format!("could not wake: {reason}"));
            record(s, app.id, SleepState::Crashed, Some(reason)).await?;
            // Whatever did start goes again: a crashed app runs what a sleeping one runs.
            rollout::converge_plan(s, &plan).await?;
            Err(e)
        }
    }
}

/// A rollout starts the whole formation whatever the app's sleep: once it serves, the
/// app is awake.
pub async fn woken_by_rollout(s: &Inner, app_id: i64) -> Result<(), SchedulerError> {
    let row = s.store.read(move |db| db.sleep(app_id)).await?;
    if row.state.is_asleep() {
        record(s, app_id, SleepState::Awake, None).await?;
    }
    Ok(())
}

async fn record(
    s: &Inner,
    app_id: i64,
    state: SleepState,
    note: Option<String>,
) -> Result<(), SchedulerError> {
    s.store
        .write(move |db| db.set_sleep_state(app_id, state, note.as_deref()))
        .await
        .map_err(|e: StoreError| SchedulerError::from(e))
}
