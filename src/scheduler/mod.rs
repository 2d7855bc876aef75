//! The scheduler: runs each app's current release as containers, converges them to the
//! formation, rolls new releases out with no downtime, restarts crashed processes, and
//! publishes the healthy web endpoints to the router. It is the only writer of the route
//! table.
//!
//! It sees containers only through [`Runtime`], and keeps what it learns in a `Registry`
//! that it can rebuild from container labels after a restart (`adopt`).

mod adopt;
mod backoff;
mod cron;
mod error;
mod follow;
mod health;
mod instances;
#[cfg(test)]
mod memory_runtime;
mod monitor;
mod oneoff;
mod plan;
mod reconciler;
#[cfg(test)]
mod reconciler_tests;
mod rollout;
mod routes;
mod sleep;
mod supervise;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::domain::Timestamp;
use crate::logs::AppLogs;
use crate::router::Router;
use crate::runtime::Runtime;
use crate::store::{AppRow, Store};
use crate::wire::{ProcessInfo, TermSize};

pub use cron::{CRON_PROCESS, CronInstance, CronProcess};
pub use error::SchedulerError;
pub use instances::ProcState;
pub use oneoff::{OneOffOutput, RunOutput, RunSession};
pub use plan::{PORT, ReleasePlan};
pub use reconciler::{Change, Done, Outcome, Ticket};

#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// How long a new web process has to pass its health check.
    pub boot_timeout: Duration,
    /// How long a stopping process may take after SIGTERM before SIGKILL.
    pub stop_grace: Duration,
    pub default_memory_mb: u32,
    /// `PAAS_DOMAIN`, for the Host header of HTTP health checks.
    pub domain: String,
}

#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Itself, for the tasks a check starts (liveness and readiness monitors).
    me: std::sync::Weak<Inner>,
    runtime: Arc<dyn Runtime>,
    store: Store,
    logs: AppLogs,
    router: Router,
    settings: SchedulerSettings,
    registry: instances::Registry,
    reconcilers: reconciler::Reconcilers,
    publish_lock: tokio::sync::Mutex<()>,
    route_facts: routes::RouteFacts,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Scheduler {
    /// Adopts whatever already runs, starts what is missing, and begins supervising.
    pub async fn start(
        runtime: Arc<dyn Runtime>,
        store: Store,
        logs: AppLogs,
        router: Router,
        settings: SchedulerSettings,
        shutdown: CancellationToken,
    ) -> Scheduler {
        let scheduler = Scheduler {
            inner: Arc::new_cyclic(|me| Inner {
                me: me.clone(),
                runtime,
                store,
                logs,
                router,
                settings,
                registry: instances::Registry::default(),
                reconcilers: reconciler::Reconcilers::default(),
                publish_lock: tokio::sync::Mutex::new(()),
                route_facts: routes::RouteFacts::default(),
                shutdown,
                tasks: TaskTracker::new(),
            }),
        };
        // Each app's reconciler converges from what the engine reported.
        for resume in adopt::adopt(&scheduler.inner).await {
            drop(scheduler.submit(&resume.app, Change::Scale));
            for release in resume.pending {
                drop(scheduler.submit(&resume.app, Change::Release(release)));
            }
        }
        let inner = Arc::clone(&scheduler.inner);
        scheduler
            .inner
            .tasks
            .spawn(async move { supervise::watch(inner).await });
        scheduler
    }

    /// Every process of `app`, for `paas ps`.
    pub fn processes(&self, app: &str) -> Vec<ProcessInfo> {
        self.inner
            .registry
            .of_app(app)
            .into_iter()
            .map(|t| ProcessInfo {
                dyno: t.dyno(),
                process_type: t.process_type.clone(),
                state: match t.state {
                    ProcState::Up if !t.unready.is_empty() => "unready".to_owned(),
                    state => state.to_string(),
                },
                exit_code: match t.state {
                    ProcState::Crashed { exit_code } => Some(exit_code),
                    _ => None,
                },
                release: t.release,
                started_at: t.started_at.map(|s| Timestamp(s).rfc3339()),
                restarts: t.restarts,
                node: t.node.clone(),
            })
            .collect()
    }

    pub fn settings(&self) -> &SchedulerSettings {
        &self.inner.settings
    }

    /// Waits for supervision and log tasks to stop (after the shutdown token fired).
    /// Containers keep running: the next start adopts them.
    pub async fn join(&self) {
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}

impl Inner {
    /// The plan of the release serving `app` now, if it runs anything.
    async fn current_plan(&self, app: &AppRow) -> Result<Option<ReleasePlan>, SchedulerError> {
        let (app_id, name, memory) = (
            app.id,
            app.name.to_string(),
            self.settings.default_memory_mb,
        );
        self.store
            .read(move |db| {
                let Some(release) = db.current_release(app_id)? else {
                    return Ok(None);
                };
                ReleasePlan::load(db, &name, &release, memory)
            })
            .await
            .map_err(|e: crate::store::StoreError| SchedulerError::from(e))
    }

    /// The current plan, for a one-off process: an app that runs nothing yet has none.
    async fn plan_to_run(&self, app: &AppRow) -> Result<ReleasePlan, SchedulerError> {
        self.current_plan(app)
            .await?
            .ok_or_else(|| SchedulerError::NothingToRun(app.name.to_string()))
    }
}

/// What `ops` asks of the scheduler besides changes (`submit`): networks, routes, and
/// one-off processes.
impl Scheduler {
    /// Makes what a new app's processes need (its own network), before it is created.
    pub async fn prepare(&self, app: &str) -> Result<(), SchedulerError> {
        Ok(self.inner.runtime.prepare_app(app).await?)
    }

    /// The app's domains or settings changed (or it was made or destroyed): publish
    /// its routes again.
    pub async fn routes_changed(&self, app: &str) {
        routes::publish(&self.inner, app).await;
    }

    /// Runs `command` once with the current release's image and environment. With
    /// `output`, waits and returns the exit code; without, returns once it started.
    pub async fn run(
        &self,
        app: &AppRow,
        command: &str,
        output: Option<OneOffOutput>,
    ) -> Result<(String, Option<i64>), SchedulerError> {
        let plan = self.inner.plan_to_run(app).await?;
        oneoff::run(&self.inner, &plan, "run", command, output).await
    }

    /// Starts `command` once, like `run`, with its stdin and output handed to the caller
    /// and, given a size, a terminal.
    pub async fn attach(
        &self,
        app: &AppRow,
        command: &str,
        terminal: Option<TermSize>,
    ) -> Result<RunSession, SchedulerError> {
        let plan = self.inner.plan_to_run(app).await?;
        oneoff::attach(&self.inner, &plan, command, terminal).await
    }

    /// Starts a program of another image (an add-on's client: psql, redis-cli) as one of
    /// the app's attached one-offs, on the app's network.
    pub async fn attach_tool(
        &self,
        app: &AppRow,
        tool: ToolRun,
        terminal: Option<TermSize>,
    ) -> Result<RunSession, SchedulerError> {
        let spec = crate::runtime::ProcessSpec {
            app: app.name.to_string(),
            release: 0,
            process_type: tool.label,
            index: 1000 + rand::random::<u32>() % 9000,
            kind: crate::runtime::ProcessKind::OneOff,
            image: tool.image,
            argv: Some(tool.argv),
            user: None,
            env: tool.env,
            memory_mb: self.inner.settings.default_memory_mb,
            interactive: true,
            tty: false,
        };
        oneoff::attach_spec(&self.inner, spec, &tool.shown, terminal).await
    }
}

/// A program run by `Scheduler::attach_tool`.
pub struct ToolRun {
    pub image: String,
    /// Its one-off's name: `psql.1234`.
    pub label: String,
    pub argv: Vec<String>,
    /// Secrets go here, never in `argv`.
    pub env: std::collections::BTreeMap<String, String>,
    /// What the platform log line says it runs.
    pub shown: String,
}
