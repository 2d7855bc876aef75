//! Start-up: a server that died (even by kill -9) took no app down with it. Adopt the
//! containers of each app's current release by their labels, remove leftovers of old
//! releases and interrupted rollouts and of one-off processes, and publish the routes.
//! What is missing is then each app's reconciler's to start, from what the engine
//! reported: the formation of the current release, then any release left pending.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

use crate::runtime::{Instance, InstanceState};
use crate::store::{AppRow, ReleaseRow, StoreError};

use super::instances::{ProcState, Tracked};
use super::plan::{PORT, ReleasePlan};
use super::{Inner, follow, routes};

/// How long an adopted web process gets to answer before it counts as unhealthy.
const ADOPT_CHECK: Duration = Duration::from_secs(5);

/// What each app's reconciler must reach after adoption: the formation of its current
/// release, then any release a dead server left pending (the rollout starts over).
pub struct Resume {
    pub app: AppRow,
    pub pending: Vec<ReleaseRow>,
}

/// Adopts what the engine runs and returns, per app, the changes to hand its reconciler.
pub async fn adopt(s: &Arc<Inner>) -> Vec<Resume> {
    let memory = s.settings.default_memory_mb;
    let state = s
        .store
        .read(move |db| {
            let pending = db.pending_releases()?;
            let mut plans = HashMap::new();
            let mut resume = Vec::new();
            for app in db.all_apps()? {
                let plan = match db.current_release(app.id)? {
                    Some(release) => ReleasePlan::load(db, app.name.as_str(), &release, memory)?,
                    None => None,
                };
                plans.insert(app.name.to_string(), plan);
                let mut of_app: Vec<ReleaseRow> = pending
                    .iter()
                    .filter(|r| r.app_id == app.id)
                    .cloned()
                    .collect();
                of_app.sort_by_key(|r| r.version);
                resume.push(Resume {
                    app,
                    pending: of_app,
                });
            }
            Ok::<_, StoreError>((plans, resume))
        })
        .await;
    let (plans, resume) = match state {
        Ok(state) => state,
        Err(e) => {
            tracing::error!(error = %e, "cannot read apps; nothing adopted");
            return Vec::new();
        }
    };
    let instances = match s.runtime.list(None).await {
        Ok(instances) => instances,
        Err(e) => {
            tracing::error!(error = %e, "cannot list containers; nothing adopted");
            return Vec::new();
        }
    };

    let slots = s.runtime.replaces_processes();
    let mut leftovers = Vec::new();
    let mut adopted = Vec::new();
    for instance in instances {
        let plan = plans.get(&instance.app).and_then(Option::as_ref);
        match plan {
            Some(plan) if belongs(plan, &instance, slots) => adopted.push((plan, instance)),
            _ => leftovers.push(instance),
        }
    }
    let grace = s.settings.stop_grace;
    join_all(leftovers.iter().map(|i| s.runtime.stop(&i.id, grace))).await;
    join_all(
        adopted
            .into_iter()
            .map(|(plan, instance)| adopt_one(s, plan, instance)),
    )
    .await;
    routes::publish_all(s).await;
    collect_one_offs(s).await;
    let count: usize = s
        .registry
        .app_names()
        .iter()
        .map(|a| s.registry.of_app(a).len())
        .sum();
    tracing::info!(
        processes = count,
        removed = leftovers.len(),
        "adopted running processes"
    );
    resume
}

/// One-off processes outlived the server that ran them. Ended ones, and attached ones
/// (their caller's session ended with that server), are removed now; detached ones run
/// on and are removed when they end, as their old keeper would have done. Cron runs are
/// left to `Scheduler::cron_processes`.
async fn collect_one_offs(s: &Arc<Inner>) {
    let one_offs = match s.runtime.one_offs().await {
        Ok(one_offs) => one_offs,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list one-off processes; none collected");
            return;
        }
    };
    for instance in one_offs {
        // Cron runs are the cron runner's to collect: it records how they ended.
        if instance.process_type == super::CRON_PROCESS {
            continue;
        }
        if instance.is_running() && !instance.attached {
            let (runtime, shutdown) = (Arc::clone(&s.runtime), s.shutdown.clone());
            s.tasks.spawn(async move {
                tokio::select! {
                    _ = runtime.wait(&instance.id) => {
                        let _ = runtime.stop(&instance.id, Duration::ZERO).await;
                    }
                    () = shutdown.cancelled() => {}
                }
            });
        } else if let Err(e) = s.runtime.stop(&instance.id, Duration::ZERO).await {
            tracing::warn!(container = %instance.name, error = %e, "a one-off process left by an earlier server could not be removed");
        }
    }
}

/// A container is the current release's if its release and process type match and its
/// index is within the formation. On a swarm the index is the task's slot, which Swarm
/// chooses: any slot of the release's services belongs.
fn belongs(plan: &ReleasePlan, instance: &Instance, slots: bool) -> bool {
    !instance.one_off
        && instance.release == plan.version
        && plan.commands.contains_key(&instance.process_type)
        && instance.index >= 1
        && (slots || instance.index <= plan.quantity(&instance.process_type))
}

/// On a swarm, Swarm keeps and replaces tasks of its own accord: a scale-down keeps the
/// task it chooses, not always the one paas stopped, and a lost node's tasks come back
/// elsewhere. Running tasks of an app's current release that paas does not track are
/// adopted (checked, then routed), up to the formation's quantity of their type.
pub(super) async fn adopt_strays(s: &Arc<Inner>) {
    let Ok(instances) = s.runtime.list(None).await else {
        return;
    };
    let strays: Vec<Instance> = instances
        .into_iter()
        .filter(|i| i.is_running() && !i.one_off && s.registry.find(&i.id).is_none())
        .collect();
    let apps: std::collections::BTreeSet<String> = strays.iter().map(|i| i.app.clone()).collect();
    for app in apps {
        let Some(plan) = current_plan_of(s, &app).await else {
            continue;
        };
        for instance in strays.iter().filter(|i| i.app == app) {
            let tracked = s
                .registry
                .of_app(&app)
                .into_iter()
                .filter(|t| {
                    t.release == plan.version
                        && t.process_type == instance.process_type
                        && t.state != ProcState::Stopping
                })
                .count();
            let wanted = plan.quantity(&instance.process_type) as usize;
            if belongs(&plan, instance, true) && tracked < wanted {
                adopt_one(s, &plan, instance.clone()).await;
                routes::publish(s, &app).await;
            }
        }
    }
}

async fn current_plan_of(s: &Inner, app: &str) -> Option<ReleasePlan> {
    let name = crate::domain::AppName::parse(app).ok()?;
    let row = s.store.read(move |db| db.app(&name)).await.ok()??;
    s.current_plan(&row).await.ok()?
}

async fn adopt_one(s: &Arc<Inner>, plan: &ReleasePlan, instance: Instance) {
    let running = instance.state == InstanceState::Running;
    let tracked = Tracked::starting(&instance, s.runtime.endpoint(&instance, PORT));
    let dyno = tracked.dyno();
    if !s.registry.insert_new(&plan.app, tracked.clone()) {
        return;
    }
    if running {
        let since = s.logs.last_at(&plan.app).await.map_or(0, |t| t + 1);
        follow::spawn(s, &plan.app, &instance.id, &dyno, since);
        let checks = plan.checks.of(&instance.process_type);
        let healthy = s
            .check(&plan.app, &instance, &tracked, &checks, ADOPT_CHECK)
            .await;
        if healthy.is_ok() {
            s.registry.mark_up(&plan.app, &instance.id);
            super::monitor::spawn(s, &plan.app, &tracked, &checks);
            return;
        }
    }
    // Exited while the server was away, or not answering: a crash like any other.
    let code = match instance.state {
        InstanceState::Exited { code, .. } => code,
        _ => -1,
    };
    s.registry.set_state(&plan.app, &instance.id, ProcState::Up);
    super::supervise::crashed(s, &instance.id, code).await;
}
