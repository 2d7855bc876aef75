//! Start-up: a server that died (even by kill -9) took no app down with it. Adopt the
//! containers of each app's current release by their labels, remove leftovers of old
//! releases and interrupted rollouts and of one-off processes, start what is missing, and
//! publish the routes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

use crate::domain::ReleaseState;
use crate::runtime::{Instance, InstanceState};
use crate::store::StoreError;

use super::instances::{ProcState, Tracked};
use super::plan::ReleasePlan;
use super::{Inner, follow, rollout, routes};

/// How long an adopted web process gets to answer before it counts as unhealthy.
const ADOPT_CHECK: Duration = Duration::from_secs(5);

pub async fn adopt(s: &Arc<Inner>) {
    let memory = s.settings.default_memory_mb;
    let plans = s
        .store
        .write(move |tx| {
            for release in tx.pending_releases()? {
                tx.set_release_state(
                    release.id,
                    ReleaseState::Failed,
                    Some("interrupted by a server restart"),
                )?;
            }
            let mut plans = HashMap::new();
            for app in tx.all_apps()? {
                let plan = match tx.current_release(app.id)? {
                    Some(release) => ReleasePlan::load(tx, app.name.as_str(), &release, memory)?,
                    None => None,
                };
                plans.insert(app.name.to_string(), plan);
            }
            Ok::<_, StoreError>(plans)
        })
        .await;
    let plans = match plans {
        Ok(plans) => plans,
        Err(e) => {
            tracing::error!(error = %e, "cannot read apps; nothing adopted");
            return;
        }
    };
    let instances = match s.runtime.list(None).await {
        Ok(instances) => instances,
        Err(e) => {
            tracing::error!(error = %e, "cannot list containers; nothing adopted");
            return;
        }
    };

    let mut leftovers = Vec::new();
    let mut adopted = Vec::new();
    for instance in instances {
        let plan = plans.get(&instance.app).and_then(Option::as_ref);
        match plan {
            Some(plan) if belongs(plan, &instance) => adopted.push((plan, instance)),
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
    routes::publish(s).await;
    collect_one_offs(s).await;

    for plan in plans.values().flatten() {
        if let Err(e) = rollout::converge_locked(s, plan).await {
            s.logs.platform(
                &plan.app,
                "scheduler",
                format!("could not start every process: {}", e.0),
            );
        }
    }
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
}

/// One-off processes outlived the server that ran them. Ended ones, and attached ones
/// (their caller's session ended with that server), are removed now; detached ones run
/// on and are removed when they end, as their old keeper would have done.
async fn collect_one_offs(s: &Arc<Inner>) {
    let one_offs = match s.runtime.one_offs().await {
        Ok(one_offs) => one_offs,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list one-off processes; none collected");
            return;
        }
    };
    for instance in one_offs {
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
/// index is within the formation.
fn belongs(plan: &ReleasePlan, instance: &Instance) -> bool {
    !instance.one_off
        && instance.release == plan.version
        && plan.commands.contains_key(&instance.process_type)
        && instance.index >= 1
        && instance.index <= plan.quantity(&instance.process_type)
}

async fn adopt_one(s: &Arc<Inner>, plan: &ReleasePlan, instance: Instance) {
    let running = instance.state == InstanceState::Running;
    let tracked = Tracked {
        id: instance.id.clone(),
        process_type: instance.process_type.clone(),
        index: instance.index,
        release: instance.release,
        ip: instance.ip,
        state: ProcState::Starting,
        restarts: 0,
        started_at: instance.started_at,
        routed: false,
    };
    let dyno = tracked.dyno();
    s.registry.insert(&plan.app, tracked.clone());
    if running {
        let since = s.logs.last_at(&plan.app).await.map_or(0, |t| t + 1);
        follow::spawn(s, &plan.app, &instance.id, &dyno, since);
        let healthy = s
            .check(
                &plan.app,
                &instance,
                &tracked,
                plan.health_path.as_deref(),
                ADOPT_CHECK,
            )
            .await;
        if healthy.is_ok() {
            s.registry.mark_up(&plan.app, &instance.id);
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
