//! Rollouts, Heroku preboot style: start the new processes, wait for them to be healthy,
//! switch the route table in one swap, then drain and stop the old ones. Also scaling
//! (converge to the formation without touching unchanged processes), rolling restarts,
//! and tearing an app down.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::join_all;

use crate::domain::Timestamp;
use crate::progress::Progress;
use crate::runtime::ProcessKind;
use crate::store::{AppRow, ReleaseRow};

use super::instances::{ProcState, Tracked};
use super::oneoff::{self, OneOffOutput};
use super::plan::{PORT, RELEASE_PHASE, ReleasePlan};
use super::{Inner, SchedulerError, follow, monitor, routes, sleep};

/// Rolls `release` out: release phase, new processes, one route swap, old ones stopped.
pub async fn roll_out(
    s: &Inner,
    app: &AppRow,
    release: &ReleaseRow,
    progress: &Progress,
) -> Result<(), SchedulerError> {
    let name = app.name.to_string();
    let (app_id, release_id, memory) = (app.id, release.id, s.settings.default_memory_mb);
    let plan = s
        .store
        .read(move |db| {
            let release = db.release_by_id(release_id)?;
            match release {
                Some(release) if release.app_id == app_id => {
                    let app = db.app_by_id(app_id)?;
                    let name = app.map(|a| a.name.to_string()).unwrap_or_default();
                    ReleasePlan::load(db, &name, &release, memory)
                }
                _ => Ok(None),
            }
        })
        .await
        .map_err(|e: crate::store::StoreError| SchedulerError::from(e))?
        .ok_or(SchedulerError::NoImage(release.version))?
        .awake();

    if let Some(script) = &plan.dokku_predeploy {
        progress.step(format!("Running predeploy script: {script}"));
        before_release(s, &plan, "predeploy", script, progress).await?;
    }
    if let Some(command) = &plan.release_command {
        progress.step(format!("Running release command: {command}"));
        before_release(s, &plan, RELEASE_PHASE, command, progress).await?;
    }

    progress.step(format!("Starting processes of v{}", plan.version));
    replace(s, &plan, None, progress).await.inspect_err(|e| {
        s.logs
            .platform(&name, "deploy", format!("v{} failed: {e}", plan.version));
    })?;
    s.logs
        .platform(&name, "deploy", format!("v{} released", plan.version));
    sleep::woken_by_rollout(s, plan.app_id).await?;

    if let Some(script) = &plan.dokku_postdeploy {
        progress.step(format!("Running postdeploy script: {script}"));
        after_release(s, &plan, script, progress).await?;
    }
    if let Some(script) = &plan.postdeploy {
        let app_id = plan.app_id;
        let first = s
            .store
            .write(move |tx| tx.mark_postdeployed(app_id))
            .await
            .map_err(|e: crate::store::StoreError| SchedulerError::from(e))?;
        if first {
            progress.step(format!("Running postdeploy script: {script}"));
            after_release(s, &plan, script, progress).await?;
        }
    }
    Ok(())
}

/// A one-off of the new release that must succeed before any of its processes start
/// (Dokku's predeploy, the release phase); a failure fails the release.
async fn before_release(
    s: &Inner,
    plan: &ReleasePlan,
    what: &str,
    command: &str,
    progress: &Progress,
) -> Result<(), SchedulerError> {
    let lines = progress.clone();
    let output: OneOffOutput = Box::new(move |line: &str| lines.detail(line));
    let (_, code) = oneoff::run(s, plan, what, command, Some(output)).await?;
    if code == Some(0) {
        return Ok(());
    }
    let code = code.map_or("no exit code".to_owned(), |c| format!("exit code {c}"));
    let label = if what == RELEASE_PHASE {
        "release command"
    } else {
        what
    };
    s.logs.platform(
        &plan.app,
        "deploy",
        format!("{label} of v{} failed ({code})", plan.version),
    );
    Err(SchedulerError::BeforeRelease {
        what: label.to_owned(),
        code,
        version: plan.version,
    })
}

/// A postdeploy script, once the release serves: its failure is reported, and the
/// release stays deployed.
async fn after_release(
    s: &Inner,
    plan: &ReleasePlan,
    script: &str,
    progress: &Progress,
) -> Result<(), SchedulerError> {
    let lines = progress.clone();
    let output: OneOffOutput = Box::new(move |line: &str| lines.detail(line));
    let (_, code) = oneoff::run(s, plan, "postdeploy", script, Some(output)).await?;
    if code != Some(0) {
        progress.detail(format!(
            "postdeploy exited with {code:?}; the release stays deployed"
        ));
    }
    Ok(())
}

/// Converges the current release to the stored formation: starts what is missing,
/// stops what is extra, leaves the rest alone.
pub async fn converge(s: &Inner, app: &AppRow) -> Result<(), SchedulerError> {
    let Some(plan) = s.current_plan(app).await? else {
        return Ok(());
    };
    converge_plan(s, &plan).await
}

pub(super) async fn converge_plan(s: &Inner, plan: &ReleasePlan) -> Result<(), SchedulerError> {
    let live: Vec<Tracked> = s
        .registry
        .of_app(&plan.app)
        .into_iter()
        .filter(|t| t.state != ProcState::Stopping)
        .collect();
    // Processes of other releases or of types the release no longer has go first.
    let strays: Vec<Tracked> = live
        .iter()
        .filter(|t| t.release != plan.version || !plan.commands.contains_key(&t.process_type))
        .cloned()
        .collect();
    stop_all(s, &plan.app, strays).await;

    let mut failures = Vec::new();
    for process_type in plan.commands.keys() {
        let mut current: Vec<Tracked> = live
            .iter()
            .filter(|t| t.release == plan.version && &t.process_type == process_type)
            .cloned()
            .collect();
        current.sort_by_key(|t| t.index);
        let want = plan.quantity(process_type) as usize;
        if current.len() > want {
            let extra = current.split_off(want);
            stop_all(s, &plan.app, extra).await;
        } else if current.len() < want {
            let used: BTreeSet<u32> = current.iter().map(|t| t.index).collect();
            let free: Vec<u32> = (1..)
                .filter(|i| !used.contains(i))
                .take(want - current.len())
                .collect();
            // Each new web process joins the route table as soon as it is healthy.
            let started = join_all(free.iter().map(|index| async move {
                let tracked = start_checked(s, plan, process_type, *index).await?;
                if s.registry.mark_up(&plan.app, &tracked.id).is_some() {
                    routes::publish(s, &plan.app).await;
                }
                Ok::<_, SchedulerError>(())
            }))
            .await;
            failures.extend(started.into_iter().filter_map(Result::err));
        }
    }
    routes::publish(s, &plan.app).await;
    match failures.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Rolling restart: a fresh set of processes of the same release, switched like a deploy.
pub async fn restart(
    s: &Inner,
    app: &AppRow,
    process_type: Option<&str>,
) -> Result<(), SchedulerError> {
    let name = app.name.to_string();
    let Some(plan) = s.current_plan(app).await? else {
        return Ok(());
    };
    if let Some(t) = process_type.filter(|t| !plan.commands.contains_key(*t)) {
        return Err(SchedulerError::NoProcessType {
            app: name,
            process_type: t.to_owned(),
        });
    }
    replace(s, &plan, process_type, &Progress::silent()).await?;
    s.logs.platform(
        &name,
        "scheduler",
        format!("restarted {}", process_type.unwrap_or("all processes")),
    );
    Ok(())
}

/// Stops every process of the app and drops it from the route table.
pub async fn destroy(s: &Inner, app: &AppRow) -> Result<(), SchedulerError> {
    let name = app.name.to_string();
    let tracked = s.registry.of_app(&name);
    for t in &tracked {
        s.registry.set_state(&name, &t.id, ProcState::Stopping);
    }
    routes::publish(s, &name).await;
    let leftovers = s.runtime.list(Some(&name)).await?;
    let grace = s.settings.stop_grace;
    join_all(leftovers.iter().map(|i| s.runtime.stop(&i.id, grace))).await;
    if let Err(e) = s.runtime.forget_app(&name).await {
        // A one-off still attached keeps the network; it goes with the next destroy.
        tracing::warn!(app = %name, error = %e, "cannot remove the app network yet");
    }
    s.registry.forget_app(&name);
    s.logs.remove(&name).await;
    routes::publish(s, &name).await;
    Ok(())
}

/// Starts a new set of the plan's processes (all types, or one), health-checks them, then
/// swaps them in for everything else of those types.
async fn replace(
    s: &Inner,
    plan: &ReleasePlan,
    only: Option<&str>,
    progress: &Progress,
) -> Result<(), SchedulerError> {
    let types: Vec<&String> = plan
        .commands
        .keys()
        .filter(|t| only.is_none_or(|o| o == t.as_str()))
        .collect();
    let before = s.registry.of_app(&plan.app);
    let replaced = |t: &Tracked| only.is_none_or(|o| o == t.process_type);
    let (web_types, other_types): (Vec<&String>, Vec<&String>) =
        types.into_iter().partition(|t| *t == "web");

    // Web first: nothing changes for users until every new web process is healthy.
    let new_web = start_set(s, plan, &web_types, progress).await?;
    for t in &new_web {
        s.registry.mark_up(&plan.app, &t.id);
    }
    let old_web: Vec<Tracked> = before
        .iter()
        .filter(|t| t.is_web() && replaced(t))
        .cloned()
        .collect();
    let old_web_endpoints = routes::endpoints_of(s, &plan.app, &old_web);
    for t in &old_web {
        s.registry.set_state(&plan.app, &t.id, ProcState::Stopping);
    }
    routes::publish(s, &plan.app).await;
    if !new_web.is_empty() {
        progress.detail(format!(
            "{} web process(es) healthy, now serving v{}",
            new_web.len(),
            plan.version
        ));
    }
    drain_and_stop(s, &plan.app, old_web, old_web_endpoints).await;

    // Then the other types, which take no traffic.
    let new_other = match start_set(s, plan, &other_types, progress).await {
        Ok(set) => set,
        Err(e) => {
            progress.detail(format!("warning: {e}"));
            Vec::new()
        }
    };
    for t in &new_other {
        s.registry.mark_up(&plan.app, &t.id);
    }
    let old_other: Vec<Tracked> = before
        .into_iter()
        .filter(|t| !t.is_web() && (replaced(t) || !plan.commands.contains_key(&t.process_type)))
        .filter(|t| !new_other.iter().any(|n| n.id == t.id))
        .collect();
    stop_all(s, &plan.app, old_other).await;
    routes::publish(s, &plan.app).await;
    Ok(())
}

/// Starts `quantity` processes of each type and waits until all are healthy; if one is
/// not, stops them all and says why.
async fn start_set(
    s: &Inner,
    plan: &ReleasePlan,
    types: &[&String],
    progress: &Progress,
) -> Result<Vec<Tracked>, SchedulerError> {
    let wanted: Vec<(&str, u32)> = types
        .iter()
        .flat_map(|t| (1..=plan.quantity(t)).map(move |i| (t.as_str(), i)))
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let summary: Vec<String> = types
        .iter()
        .map(|t| format!("{t}={}", plan.quantity(t)))
        .collect();
    progress.detail(format!("starting {}", summary.join(" ")));
    let results = join_all(wanted.iter().map(|(t, i)| start_checked(s, plan, t, *i))).await;
    let (ok, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    let started: Vec<Tracked> = ok.into_iter().filter_map(Result::ok).collect();
    if let Some(Err(first)) = failed.into_iter().next() {
        stop_all(s, &plan.app, started).await;
        return Err(first);
    }
    Ok(started)
}

/// Starts one process and waits for its health check; removes it again if it fails.
pub(super) async fn start_checked(
    s: &Inner,
    plan: &ReleasePlan,
    process_type: &str,
    index: u32,
) -> Result<Tracked, SchedulerError> {
    let command = plan.commands.get(process_type).cloned().unwrap_or_default();
    let spec = plan.spec(process_type, index, ProcessKind::Formation, &command);
    let instance = s
        .runtime
        .start(spec)
        .await
        .map_err(|e| SchedulerError::start(format!("{process_type}.{index}"), e))?;
    let mut tracked = Tracked::starting(&instance, s.runtime.endpoint(&instance, PORT));
    tracked.started_at = Some(instance.started_at.unwrap_or_else(|| Timestamp::now().0));
    s.registry.insert(&plan.app, tracked.clone());
    follow::spawn(
        s,
        &plan.app,
        &instance.id,
        &tracked.dyno(),
        instance.started_at.unwrap_or(0),
    );
    let checks = plan.checks.of(process_type);
    let checked = s
        .check(
            &plan.app,
            &instance,
            &tracked,
            &checks,
            s.settings.boot_timeout,
        )
        .await;
    if let Err(unhealthy) = checked {
        s.registry.remove(&plan.app, &instance.id);
        let _ = s.runtime.stop(&instance.id, Duration::ZERO).await;
        return Err(SchedulerError::Unhealthy(unhealthy.0));
    }
    // Liveness and readiness checks run from now on; until the caller marks it up
    // (with the route swap), they wait.
    monitor::spawn(s, &plan.app, &tracked, &checks);
    Ok(tracked)
}

/// Takes processes out of rotation, waits for their requests to finish, then stops them.
async fn drain_and_stop(
    s: &Inner,
    app: &str,
    procs: Vec<Tracked>,
    endpoints: Vec<std::sync::Arc<crate::router::Endpoint>>,
) {
    let grace = s.settings.stop_grace;
    join_all(endpoints.iter().map(|e| e.wait_drained(grace))).await;
    stop_all(s, app, procs).await;
}

pub(super) async fn stop_all(s: &Inner, app: &str, procs: Vec<Tracked>) {
    if procs.is_empty() {
        return;
    }
    for t in &procs {
        s.registry.set_state(app, &t.id, ProcState::Stopping);
    }
    routes::publish(s, app).await;
    let grace = s.settings.stop_grace;
    join_all(procs.iter().map(|t| async move {
        if let Err(e) = s.runtime.stop(&t.id, grace).await {
            tracing::warn!(app, dyno = %t.dyno(), error = %e, "could not stop process");
        }
        s.registry.remove(app, &t.id);
    }))
    .await;
}
