//! `Runtime` for a swarm (`PAAS_SCHEDULER=swarm`): a formation process is one task (one
//! slot) of its release's process-type service (`swarm_services.rs`), so the scheduler's
//! rollouts, health gating, draining and routes work as on one host.
//!
//! - `start` makes the service (or raises its replicas by one) under one lock, and returns
//!   the new task once it runs, with its node and endpoint; its slot is the dyno's index.
//! - `stop` lowers the replicas by one (the service goes with its last task), and so does
//!   a start that fails. Swarm picks which task goes; the scheduler adopts the one it kept
//!   (`replaces_processes`).
//! - Swarm restarts crashed tasks and moves a lost node's tasks itself: `restart` returns
//!   the task now in the slot, or `Gone` when the slot is no longer wanted.
//! - `events` polls the manager every second: a task seen running that stops running, or
//!   that Swarm no longer wants (its node is down), has died.
//! - Logs come from the manager's task log API, so tasks on every node are followed.
//! - One-off processes (`run`, release phase, cron) run on the manager's own engine, as on
//!   one host; a task id (25 characters) and a container id (64) tell them apart.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, StreamExt};

use super::swarm_service_spec::release_service;
use super::swarm_services::engine;
use super::swarm_task_list::{list_tasks, task_events};
use super::{
    Attached, Docker, Instance, InstanceEvent, InstanceState, LogStream, ProcessKind, ProcessSpec,
    ReleaseService, ReleaseServiceSpec, Runtime, RuntimeError, ServiceTask, SwarmServiceError,
    SwarmServices, service_name,
};

/// How often task states are read while waiting on a task.
const POLL: Duration = Duration::from_millis(500);
/// The dyno's name in its environment (`web.2`).
const PROCESS_VAR: &str = "PAAS_PROCESS";
/// Swarm task ids are 25 characters; container ids are 64.
const TASK_ID_LEN: usize = 25;

#[derive(Debug, Clone)]
pub struct SwarmRuntimeSettings {
    /// `PORT`, published in host mode by every task.
    pub port: u16,
    /// `PAAS_REGISTRY_PORT`: release images are pulled from the manager's registry.
    pub registry_port: u16,
    pub stop_grace: Duration,
    /// How long a task may take to be pulled and started on its node.
    pub start_timeout: Duration,
}

/// The swarm this server's engine manages.
pub struct SwarmRuntime {
    docker: Docker,
    services: SwarmServices,
    settings: SwarmRuntimeSettings,
    /// Held while a service's replicas are read and changed, so concurrent starts and
    /// stops each count once.
    scaling: tokio::sync::Mutex<()>,
    /// Per service, the tasks spoken for while starts are in flight.
    claims: std::sync::Mutex<HashMap<String, Claims>>,
    /// The service of every task handed to the scheduler and not stopped or replaced yet
    /// (one whose slot went keeps its entry: a stop of it still counts).
    handed_out: std::sync::Mutex<HashMap<String, String>>,
}

/// The tasks of a service that starts in flight may not take: those it had when the first
/// of them began, and those a start took since. Each start adds one task and takes one
/// that is not spoken for, so concurrent starts never take the same task or one that was
/// there before.
#[derive(Default)]
struct Claims {
    spoken_for: HashSet<String>,
    in_flight: usize,
}

fn is_task(id: &str) -> bool {
    id.len() == TASK_ID_LEN
}

/// A task of a paas service as the scheduler sees a process: its slot is its index.
fn task_instance(service: &ReleaseService, task: &ServiceTask) -> Instance {
    let state = if task.is_running() && task.desired_state == "running" {
        InstanceState::Running
    } else if task.is_wanted() && task.exit_code.is_none() {
        InstanceState::Created
    } else {
        InstanceState::Exited {
            code: task.exit_code.unwrap_or(-1),
            oom_killed: false,
        }
    };
    Instance {
        id: task.id.clone(),
        name: format!("{}.{}", service.name, task.slot),
        app: service.app.clone(),
        release: service.release,
        process_type: service.process_type.clone(),
        index: u32::try_from(task.slot).unwrap_or(u32::MAX),
        one_off: false,
        attached: false,
        state,
        ip: task.node_addr,
        endpoint: task.endpoint,
        node: Some(task.node_hostname.clone()).filter(|n| !n.is_empty()),
        started_at: task.since,
    }
}

/// Where `port` of `instance` is reached: a task publishes only `PORT` (`published`), at
/// its endpoint; a one-off on the manager is reached at its own address.
fn endpoint_of(instance: &Instance, port: u16, published: u16) -> Option<SocketAddr> {
    match instance.endpoint {
        Some(endpoint) if port == published => Some(endpoint),
        Some(_) => None,
        None => instance.ip.map(|ip| SocketAddr::new(ip, port)),
    }
}

impl SwarmRuntime {
    pub fn new(docker: Docker, settings: SwarmRuntimeSettings) -> SwarmRuntime {
        SwarmRuntime {
            services: SwarmServices::new(docker.clone()),
            docker,
            settings,
            scaling: tokio::sync::Mutex::new(()),
            claims: Default::default(),
            handed_out: Default::default(),
        }
    }

    /// `paas/APP:bN` as the nodes pull it: from the registry on the manager's address.
    async fn registry_image(&self, image: &str) -> Result<String, RuntimeError> {
        let addr = self
            .docker
            .manager_address()
            .await
            .map_err(|e| RuntimeError::Engine(e.to_string()))?
            .ok_or_else(|| {
                RuntimeError::Engine(
                    "this engine is not a swarm manager: run paas swarm:init".to_owned(),
                )
            })?;
        Ok(format!("{addr}:{}/{image}", self.settings.registry_port))
    }

    async fn tasks_of(&self, service: &str) -> Result<Vec<ServiceTask>, RuntimeError> {
        self.services
            .tasks(service, self.settings.port)
            .await
            .map_err(engine)
    }

    fn claims(&self) -> std::sync::MutexGuard<'_, HashMap<String, Claims>> {
        self.claims.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn handed_out(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.handed_out.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `task` as the scheduler sees it, remembered so its stop still counts once Swarm
    /// has deleted it.
    fn hand_out(&self, service: &ReleaseService, task: &ServiceTask) -> Instance {
        self.handed_out()
            .insert(task.id.clone(), service.name.clone());
        task_instance(service, task)
    }

    /// Adds one task to `spec`'s service, making the service if it is not there, and
    /// counts a start in flight on it; returns the service's name.
    async fn add_task(&self, spec: &ProcessSpec) -> Result<String, RuntimeError> {
        let name = service_name(&spec.app, &spec.process_type, spec.release);
        let _one = self.scaling.lock().await;
        let Some(service) = self.services.service(&name).await.map_err(engine)? else {
            let image = self.registry_image(&spec.image).await?;
            // One spec for every task: each learns its own dyno from its slot.
            let mut env = spec.env.clone();
            if env.contains_key(PROCESS_VAR) {
                let dyno = format!("{}.{{{{.Task.Slot}}}}", spec.process_type);
                env.insert(PROCESS_VAR.to_owned(), dyno);
            }
            let service = ReleaseServiceSpec {
                app: spec.app.clone(),
                release: spec.release,
                process_type: spec.process_type.clone(),
                image,
                argv: spec.argv.clone(),
                user: spec.user.clone(),
                env,
                replicas: 1,
                memory_mb: spec.memory_mb,
                port: self.settings.port,
                stop_grace: self.settings.stop_grace,
            };
            self.services
                .create_release_service(&service)
                .await
                .map_err(engine)?;
            self.claims().entry(name.clone()).or_default().in_flight += 1;
            return Ok(name);
        };
        let wanted: Vec<String> = self
            .tasks_of(&name)
            .await?
            .into_iter()
            .filter(ServiceTask::is_wanted)
            .map(|t| t.id)
            .collect();
        self.services
            .scale(&name, service.replicas + 1)
            .await
            .map_err(engine)?;
        let mut claims = self.claims();
        let claims = claims.entry(name.clone()).or_default();
        if claims.in_flight == 0 {
            claims.spoken_for = wanted.into_iter().collect();
        }
        claims.in_flight += 1;
        Ok(name)
    }

    /// One start on `service` is over; with none left, its claims are forgotten.
    fn start_done(&self, service: &str) {
        let mut claims = self.claims();
        if let Some(c) = claims.get_mut(service) {
            c.in_flight = c.in_flight.saturating_sub(1);
            if c.in_flight == 0 {
                claims.remove(service);
            }
        }
    }

    /// A task of `service` not spoken for, once it runs and has an endpoint; it is then
    /// this start's.
    async fn await_new(&self, service: &str) -> Result<Instance, RuntimeError> {
        let deadline = Instant::now() + self.settings.start_timeout;
        let mut last = String::from("no task yet");
        loop {
            let Some(release) = self.services.service(service).await.map_err(engine)? else {
                return Err(RuntimeError::Engine(format!(
                    "service {service} was removed while its task started"
                )));
            };
            let tasks = self.tasks_of(service).await?;
            let fresh: Vec<&ServiceTask> = {
                let claims = self.claims();
                let spoken_for = claims.get(service).map(|c| &c.spoken_for);
                tasks
                    .iter()
                    .filter(|t| t.is_wanted() && !spoken_for.is_some_and(|s| s.contains(&t.id)))
                    .collect()
            };
            for task in fresh
                .iter()
                .filter(|t| t.is_running() && t.endpoint.is_some())
            {
                let mut claims = self.claims();
                let claims = claims.entry(service.to_owned()).or_default();
                if claims.spoken_for.insert(task.id.clone()) {
                    return Ok(self.hand_out(&release, task));
                }
            }
            if let Some(task) = fresh.last() {
                last = match &task.error {
                    Some(error) => format!("{} ({error})", task.state),
                    None => task.state.clone(),
                };
            }
            if Instant::now() >= deadline {
                return Err(RuntimeError::Engine(format!(
                    "a new task of service {service} did not run within {}s: {last}",
                    self.settings.start_timeout.as_secs()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The task Swarm put in `slot` of `service` in place of `old`, once it runs and has
    /// an endpoint; `Gone` when no task wants the slot any more.
    async fn await_replacement(
        &self,
        service: &str,
        slot: u64,
        old: &str,
    ) -> Result<Instance, RuntimeError> {
        let deadline = Instant::now() + self.settings.start_timeout;
        let mut last = String::from("no task yet");
        loop {
            let Some(release) = self.services.service(service).await.map_err(engine)? else {
                return Err(RuntimeError::Gone(format!("{service}.{slot}")));
            };
            let tasks = self.tasks_of(service).await?;
            let in_slot: Vec<&ServiceTask> = tasks
                .iter()
                .filter(|t| t.slot == slot && t.id != old)
                .collect();
            if let Some(task) = in_slot
                .iter()
                .find(|t| t.is_wanted() && t.is_running() && t.endpoint.is_some())
            {
                self.handed_out().remove(old);
                return Ok(self.hand_out(&release, task));
            }
            if !in_slot.iter().any(|t| t.is_wanted()) {
                return Err(RuntimeError::Gone(format!("{service}.{slot}")));
            }
            if let Some(task) = in_slot.last() {
                last = match &task.error {
                    Some(error) => format!("{} ({error})", task.state),
                    None => task.state.clone(),
                };
            }
            if Instant::now() >= deadline {
                return Err(RuntimeError::Engine(format!(
                    "no task replaced {old} in service {service} within {}s: {last}",
                    self.settings.start_timeout.as_secs()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The task `id` and its service, if the service is this server's.
    async fn task(&self, id: &str) -> Result<Option<(ReleaseService, ServiceTask)>, RuntimeError> {
        let api = &self.docker.api;
        let task = match api.inspect_task(id).await {
            Ok(task) => task,
            Err(e) if RuntimeError::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(self.docker.fail()(e)),
        };
        let service_id = task.service_id.clone().unwrap_or_default();
        let service = match api.inspect_service(&service_id, None).await {
            Ok(service) => release_service(service, &self.docker.instance),
            Err(e) if RuntimeError::is_not_found(&e) => None,
            Err(e) => return Err(self.docker.fail()(e)),
        };
        let Some(service) = service else {
            return Ok(None);
        };
        let mut tasks = self
            .services
            .with_places(vec![task], self.settings.port)
            .await
            .map_err(engine)?;
        Ok(tasks.pop().map(|t| (service, t)))
    }

    /// Every task of this server's services (of `app`, or all), with its service.
    async fn all_tasks(
        &self,
        app: Option<&str>,
    ) -> Result<Vec<(ReleaseService, ServiceTask)>, RuntimeError> {
        list_tasks(&self.services, app, self.settings.port).await
    }

    /// One task fewer in `service` (the service goes with its last task); the replicas
    /// it now wants, or `None` when it is gone.
    async fn one_fewer(&self, service: &str) -> Result<Option<u64>, RuntimeError> {
        let _one = self.scaling.lock().await;
        let Some(current) = self.services.service(service).await.map_err(engine)? else {
            return Ok(None);
        };
        if current.replicas <= 1 {
            self.services.remove(service).await.map_err(engine)?;
            return Ok(None);
        }
        let target = current.replicas - 1;
        self.services.scale(service, target).await.map_err(engine)?;
        Ok(Some(target))
    }

    /// One task fewer in the task's service: each stop counts once, whichever task Swarm
    /// then chooses to stop. Swarm stops a task still starting before a running one, so
    /// the task stopped may be one a start in flight waits for: `id` is then no longer
    /// spoken for, and that start takes it in its place.
    async fn stop_task(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        let service = match self.task(id).await? {
            Some((service, _)) => service.name,
            // Swarm deletes a task it stopped for an earlier scale-down; its stop still
            // counts.
            None => match self.handed_out().get(id).cloned() {
                Some(service) => service,
                None => return Ok(()),
            },
        };
        let target = self.one_fewer(&service).await?;
        self.handed_out().remove(id);
        if let Some(target) = target {
            // Returns once Swarm has chosen and the task it chose has stopped.
            let deadline = Instant::now() + grace + Duration::from_secs(10);
            while Instant::now() < deadline {
                let tasks = self.tasks_of(&service).await?;
                let wanted = tasks.iter().filter(|t| t.is_wanted()).count() as u64;
                let running = tasks.iter().filter(|t| t.is_running()).count() as u64;
                if wanted <= target && running <= target {
                    break;
                }
                tokio::time::sleep(POLL).await;
            }
        }
        if let Some(claims) = self.claims().get_mut(&service) {
            claims.spoken_for.remove(id);
        }
        Ok(())
    }

    async fn restart_task(&self, id: &str) -> Result<Instance, RuntimeError> {
        let Some((service, task)) = self.task(id).await? else {
            return Err(RuntimeError::Gone(id.to_owned()));
        };
        if task.is_wanted() && task.is_running() {
            // Still running (a liveness check failed): Swarm replaces a task only when
            // it exits, so it is checked again as it is.
            return Ok(task_instance(&service, &task));
        }
        self.await_replacement(&service.name, task.slot, id).await
    }

    /// Waits until the task stops running; its exit code.
    async fn wait_task(&self, id: &str) -> Result<i64, RuntimeError> {
        loop {
            match self.task(id).await? {
                Some((_, task)) if task.is_running() && task.is_wanted() => {}
                Some((_, task)) => return Ok(task.exit_code.unwrap_or(-1)),
                None => return Ok(-1),
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn task_logs(&self, id: &str, since: i64, follow: bool) -> LogStream {
        let options = super::logs::log_options(since, follow);
        let frames = self.docker.api.task_logs(id, Some(options));
        super::logs::log_lines(frames, self.docker.host.clone())
    }
}

impl Runtime for SwarmRuntime {
    fn start(&self, spec: ProcessSpec) -> BoxFuture<'_, Result<Instance, RuntimeError>> {
        Box::pin(async move {
            if spec.kind == ProcessKind::OneOff {
                return self.docker.start_process(spec).await;
            }
            let service = self.add_task(&spec).await?;
            let started = self.await_new(&service).await;
            if started.is_err() {
                // The task this start added is not wanted by anyone.
                if let Err(e) = self.one_fewer(&service).await {
                    tracing::warn!(%service, error = %e, "could not scale back a failed start");
                }
            }
            self.start_done(&service);
            started
        })
    }

    fn stop(&self, id: &str, grace: Duration) -> BoxFuture<'_, Result<(), RuntimeError>> {
        let id = id.to_owned();
        Box::pin(async move {
            if is_task(&id) {
                self.stop_task(&id, grace).await
            } else {
                self.docker.stop_and_remove(&id, grace).await
            }
        })
    }

    fn restart(&self, id: &str) -> BoxFuture<'_, Result<Instance, RuntimeError>> {
        let id = id.to_owned();
        Box::pin(async move {
            if is_task(&id) {
                self.restart_task(&id).await
            } else {
                self.docker.restart(&id).await
            }
        })
    }

    fn list(&self, app: Option<&str>) -> BoxFuture<'_, Result<Vec<Instance>, RuntimeError>> {
        let app = app.map(str::to_owned);
        Box::pin(async move {
            let tasks = match self.all_tasks(app.as_deref()).await {
                Ok(tasks) => tasks,
                // Not a manager: no service runs anywhere this server can see.
                Err(RuntimeError::Engine(_)) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            Ok(tasks
                .iter()
                .filter(|(_, t)| t.is_wanted())
                .map(|(service, task)| self.hand_out(service, task))
                .collect())
        })
    }

    fn one_offs(&self) -> BoxFuture<'_, Result<Vec<Instance>, RuntimeError>> {
        self.docker.one_offs()
    }

    fn inspect(&self, id: &str) -> BoxFuture<'_, Result<Option<Instance>, RuntimeError>> {
        let id = id.to_owned();
        Box::pin(async move {
            if !is_task(&id) {
                return self.docker.inspect_instance(&id).await;
            }
            Ok(self
                .task(&id)
                .await?
                .map(|(service, task)| task_instance(&service, &task)))
        })
    }

    fn wait(&self, id: &str) -> BoxFuture<'_, Result<i64, RuntimeError>> {
        let id = id.to_owned();
        Box::pin(async move {
            if is_task(&id) {
                self.wait_task(&id).await
            } else {
                self.docker.wait_exit(&id).await
            }
        })
    }

    fn logs(&self, id: &str, since: i64, follow: bool) -> LogStream {
        if is_task(id) {
            self.task_logs(id, since, follow)
        } else {
            self.docker.follow_logs(id, since, follow)
        }
    }

    fn attach(&self, id: &str) -> BoxFuture<'_, Result<Attached, RuntimeError>> {
        self.docker.attach(id)
    }

    fn resize(&self, id: &str, cols: u16, rows: u16) -> BoxFuture<'_, Result<(), RuntimeError>> {
        self.docker.resize(id, cols, rows)
    }

    fn events(&self) -> BoxStream<'static, Result<InstanceEvent, RuntimeError>> {
        let local = self.docker.instance_events();
        let tasks = task_events(self.services.clone(), self.settings.port);
        futures_util::stream::select(local, tasks).boxed()
    }

    fn prepare_app(&self, app: &str) -> BoxFuture<'_, Result<(), RuntimeError>> {
        let app = app.to_owned();
        Box::pin(async move {
            self.docker.ensure_app_network(&app).await?;
            match self.services.ensure_app_network(&app).await {
                Ok(_) | Err(SwarmServiceError::Swarm(_)) => Ok(()),
                Err(e) => Err(engine(e)),
            }
        })
    }

    fn forget_app(&self, app: &str) -> BoxFuture<'_, Result<(), RuntimeError>> {
        let app = app.to_owned();
        Box::pin(async move {
            self.docker.remove_app_network(&app).await?;
            match self.services.remove_app_network(&app).await {
                Ok(()) | Err(SwarmServiceError::Swarm(_)) => Ok(()),
                Err(e) => Err(engine(e)),
            }
        })
    }

    fn endpoint(&self, instance: &Instance, port: u16) -> Option<SocketAddr> {
        endpoint_of(instance, port, self.settings.port)
    }

    fn replaces_processes(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[path = "swarm_runtime_tests.rs"]
mod tests;
