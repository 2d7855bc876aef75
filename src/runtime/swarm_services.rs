//! A release's process types as Swarm services (the `PAAS_SCHEDULER=swarm` backend's
//! runtime layer): one service `paas-APP-TYPE-vN` per process type of release vN, its
//! replicas the formation's quantity, its image pinned by digest from paas's registry, on
//! the app's attachable overlay network `paas-APP`, with dnsrr endpoints (no VIP: this
//! kernel has no IPVS) and the port `PORT` published in host mode on an engine-chosen port.
//! Also the tasks of a service with the endpoint the router reaches each one at
//! (`NODE_ADDR:published port`), scaling, removal and listing for adoption.
//!
//! Moving routes between releases, health checks and draining are the reconciler's; only
//! a swarm manager's engine answers these calls.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, EndpointSpecModeEnum, Limit, NetworkAttachmentConfig, NetworkCreateRequest, Node,
    Service, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecUpdateConfig,
    ServiceSpecUpdateConfigOrderEnum, Task, TaskSpec, TaskSpecContainerSpec, TaskSpecResources,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum, TaskState,
};
use bollard::query_parameters::{
    InspectContainerOptions, InspectNetworkOptions, ListServicesOptionsBuilder,
    ListTasksOptionsBuilder, UpdateServiceOptionsBuilder,
};

use super::{Docker, RuntimeError, SwarmError, env_list, label_filter, labels};

/// The most processes one task's container may hold, as for single-host containers.
const PIDS_LIMIT: i64 = 512;
/// How long Swarm waits before restarting a task that failed (its default is 5 s).
const RESTART_DELAY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum SwarmServiceError {
    #[error("no service {0} in the swarm; see docker service ls")]
    NoService(String),
    #[error(
        "cannot resolve {image} in the swarm registry ({reason}); push the app again (git push)"
    )]
    NotInRegistry { image: String, reason: String },
    #[error(
        "service {0} exists but is not this paas server's (its paas.managed label differs); remove it or use another app name"
    )]
    NotOurs(String),
    #[error(transparent)]
    Swarm(#[from] SwarmError),
    #[error(transparent)]
    Engine(#[from] RuntimeError),
}

/// A service error as the `Runtime` says it: the engine's own error as it came.
pub(super) fn engine(e: SwarmServiceError) -> RuntimeError {
    match e {
        SwarmServiceError::Engine(e) => e,
        other => RuntimeError::Engine(other.to_string()),
    }
}

/// One process type of a release, to run as a Swarm service.
#[derive(Debug, Clone)]
pub struct ReleaseServiceSpec {
    pub app: String,
    pub release: i64,
    pub process_type: String,
    /// In paas's registry by tag, `10.99.0.1:5443/paas/APP:b3`; the service pins its
    /// digest.
    pub image: String,
    /// Full argv; None runs the image's own entrypoint and command.
    pub argv: Option<Vec<String>>,
    /// None keeps the image's user.
    pub user: Option<String>,
    pub env: BTreeMap<String, String>,
    /// The formation's quantity.
    pub replicas: u64,
    pub memory_mb: u32,
    /// `PORT`, set in the environment and published in host mode.
    pub port: u16,
    /// SIGTERM, then SIGKILL after this long, when a task stops.
    pub stop_grace: Duration,
}

/// A paas service as the manager reports it (for adoption after a restart).
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseService {
    pub id: String,
    pub name: String,
    pub app: String,
    pub release: i64,
    pub process_type: String,
    pub replicas: u64,
    /// As pinned: `REPO:TAG@sha256:...`
    pub image: String,
}

/// One task of a service, where it runs and where the router reaches it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceTask {
    pub id: String,
    pub service_id: String,
    pub slot: u64,
    pub node_id: String,
    pub node_hostname: String,
    /// The node's swarm address (`10.99.0.12`).
    pub node_addr: Option<IpAddr>,
    /// `running`, `shutdown`...
    pub desired_state: String,
    pub state: String,
    pub container_id: Option<String>,
    /// `NODE_ADDR:port`, for running tasks whose IPv4 port is known.
    pub endpoint: Option<SocketAddr>,
    /// The host ports the task's status lists for `PORT`, when they disagree and the
    /// IPv4 one could not be told (the engine gives no address family); else empty.
    pub unresolved_ports: Vec<u16>,
    /// The container's exit code, once it exited.
    pub exit_code: Option<i64>,
    /// Why the task failed or was rejected, as the engine says.
    pub error: Option<String>,
    /// Unix seconds of the task's last state change (its start, for a running task).
    pub since: Option<i64>,
}

impl ServiceTask {
    pub fn is_running(&self) -> bool {
        self.state == TaskState::RUNNING.to_string()
    }

    /// Swarm means to run it (now, or after its restart delay): its slot is wanted.
    pub fn is_wanted(&self) -> bool {
        self.desired_state == TaskState::RUNNING.to_string()
            || self.desired_state == TaskState::READY.to_string()
    }
}

/// `paas-APP-TYPE-vN`
pub fn service_name(app: &str, process_type: &str, release: i64) -> String {
    format!("paas-{app}-{process_type}-v{release}")
}

/// The overlay network of `app`'s services (and, later, its add-ons).
pub fn overlay_name(app: &str) -> String {
    format!("paas-{app}")
}

/// `REPO:TAG@DIGEST`, as `docker service create` pins it; an image already pinned stays.
pub fn pinned(image: &str, digest: &str) -> String {
    if image.contains('@') {
        image.to_owned()
    } else {
        format!("{image}@{digest}")
    }
}

/// What the host port of `target/tcp` is, from a task's `PortStatus`. The engine lists one
/// entry per listener (IPv4 and IPv6) with no address family, so the port is only known
/// when every entry agrees: `Ok(port)`. `Err(ports)` lists them when they differ (empty
/// when the task publishes nothing for `target`).
fn published_port(ports: &[EndpointPortConfig], target: u16) -> Result<u16, Vec<u16>> {
    let mut found: Vec<u16> = ports
        .iter()
        .filter(|p| p.target_port == Some(i64::from(target)))
        .filter(|p| matches!(p.protocol, None | Some(EndpointPortConfigProtocolEnum::TCP)))
        .filter(|p| p.publish_mode == Some(EndpointPortConfigPublishModeEnum::HOST))
        .filter_map(|p| p.published_port.and_then(|n| u16::try_from(n).ok()))
        .filter(|&n| n != 0)
        .collect();
    found.sort_unstable();
    found.dedup();
    match found.as_slice() {
        [one] => Ok(*one),
        _ => Err(found),
    }
}

/// The IPv4 host port of `target/tcp` from a container's `NetworkSettings.Ports` (the
/// binding on `0.0.0.0`), which does say the family.
fn ipv4_binding(
    ports: &HashMap<String, Option<Vec<bollard::models::PortBinding>>>,
    target: u16,
) -> Option<u16> {
    ports
        .get(&format!("{target}/tcp"))?
        .as_ref()?
        .iter()
        .filter(|b| b.host_ip.as_deref() == Some("0.0.0.0"))
        .find_map(|b| b.host_port.as_deref()?.parse().ok())
}

/// The engine's service spec for `spec`, its image already pinned.
pub fn service_spec(spec: &ReleaseServiceSpec, instance: &str, image: &str) -> ServiceSpec {
    let labels = HashMap::from([
        (labels::MANAGED.to_owned(), instance.to_owned()),
        (labels::INSTANCE.to_owned(), instance.to_owned()),
        (labels::APP.to_owned(), spec.app.clone()),
        (labels::RELEASE.to_owned(), spec.release.to_string()),
        (labels::TYPE.to_owned(), spec.process_type.clone()),
    ]);
    let mut env = spec.env.clone();
    env.insert("PORT".to_owned(), spec.port.to_string());
    let container_spec = TaskSpecContainerSpec {
        image: Some(image.to_owned()),
        command: spec.argv.clone(),
        env: Some(env_list(&env)),
        user: spec.user.clone(),
        // docker-init as PID 1 forwards SIGTERM (a shell as PID 1 ignores it).
        init: Some(true),
        capability_drop: Some(vec!["ALL".to_owned()]),
        stop_grace_period: Some(nanos(spec.stop_grace)),
        ..Default::default()
    };
    let memory = i64::from(spec.memory_mb) * 1024 * 1024;
    let task_template = TaskSpec {
        container_spec: Some(container_spec),
        resources: Some(TaskSpecResources {
            limits: Some(Limit {
                memory_bytes: Some(memory),
                pids: Some(PIDS_LIMIT),
                ..Default::default()
            }),
            ..Default::default()
        }),
        restart_policy: Some(TaskSpecRestartPolicy {
            condition: Some(TaskSpecRestartPolicyConditionEnum::ON_FAILURE),
            delay: Some(nanos(RESTART_DELAY)),
            ..Default::default()
        }),
        networks: Some(vec![NetworkAttachmentConfig {
            target: Some(overlay_name(&spec.app)),
            ..Default::default()
        }]),
        ..Default::default()
    };
    ServiceSpec {
        name: Some(service_name(&spec.app, &spec.process_type, spec.release)),
        labels: Some(labels),
        task_template: Some(task_template),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(i64::try_from(spec.replicas).unwrap_or(i64::MAX)),
            }),
            ..Default::default()
        }),
        update_config: Some(ServiceSpecUpdateConfig {
            order: Some(ServiceSpecUpdateConfigOrderEnum::START_FIRST),
            ..Default::default()
        }),
        endpoint_spec: Some(EndpointSpec {
            mode: Some(EndpointSpecModeEnum::DNSRR),
            ports: Some(vec![EndpointPortConfig {
                protocol: Some(EndpointPortConfigProtocolEnum::TCP),
                target_port: Some(i64::from(spec.port)),
                published_port: None,
                publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
                name: None,
            }]),
        }),
        ..Default::default()
    }
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// A service paas made, read back from its labels; None for anyone else's.
pub(super) fn release_service(service: Service, instance: &str) -> Option<ReleaseService> {
    let spec = service.spec?;
    let labels = spec.labels.unwrap_or_default();
    if labels.get(labels::MANAGED).map(String::as_str) != Some(instance) {
        return None;
    }
    let replicas = spec
        .mode
        .and_then(|m| m.replicated)
        .and_then(|r| r.replicas)
        .unwrap_or(0);
    Some(ReleaseService {
        id: service.id.unwrap_or_default(),
        name: spec.name.unwrap_or_default(),
        app: labels.get(labels::APP)?.clone(),
        release: labels.get(labels::RELEASE)?.parse().ok()?,
        process_type: labels.get(labels::TYPE)?.clone(),
        replicas: u64::try_from(replicas).unwrap_or(0),
        image: spec
            .task_template
            .and_then(|t| t.container_spec)
            .and_then(|c| c.image)
            .unwrap_or_default(),
    })
}

/// (hostname, address) of a node. A manager may report `0.0.0.0` as its own address;
/// its raft address says which one it advertises.
fn node_place(node: &Node) -> (String, Option<IpAddr>) {
    let hostname = node
        .description
        .as_ref()
        .and_then(|d| d.hostname.clone())
        .unwrap_or_default();
    let status = node
        .status
        .as_ref()
        .and_then(|s| s.addr.as_deref())
        .and_then(|a| a.parse::<IpAddr>().ok())
        .filter(|a| !a.is_unspecified());
    let raft = || {
        let addr = node.manager_status.as_ref()?.addr.as_deref()?;
        Some(addr.parse::<SocketAddr>().ok()?.ip())
    };
    (hostname, status.or_else(raft))
}

/// Swarm services of releases, through a manager's engine.
#[derive(Clone)]
pub struct SwarmServices {
    pub(super) docker: Docker,
}

impl SwarmServices {
    pub fn new(docker: Docker) -> SwarmServices {
        SwarmServices { docker }
    }

    fn fail(&self) -> impl Fn(bollard::errors::Error) -> SwarmServiceError + '_ {
        move |e| SwarmServiceError::Engine(RuntimeError::from_bollard(&self.docker.host, e))
    }

    /// Makes `app`'s overlay network if it is not there yet; returns its name.
    pub async fn ensure_app_network(&self, app: &str) -> Result<String, SwarmServiceError> {
        self.docker.manager().await?;
        let name = overlay_name(app);
        let api = &self.docker.api;
        match api
            .inspect_network(&name, None::<InspectNetworkOptions>)
            .await
        {
            Ok(_) => return Ok(name),
            Err(e) if RuntimeError::is_not_found(&e) => {}
            Err(e) => return Err(self.fail()(e)),
        }
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("overlay".to_owned()),
            attachable: Some(true),
            labels: Some(HashMap::from([
                (labels::MANAGED.to_owned(), self.docker.instance.clone()),
                (labels::APP.to_owned(), app.to_owned()),
            ])),
            ..Default::default()
        };
        match api.create_network(request).await {
            Ok(_) => {}
            // Made meanwhile by another call.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => {}
            Err(e) => return Err(self.fail()(e)),
        }
        // Add-ons attached before the app had an overlay join it now.
        for addon in self.docker.addons_of_app(app).await? {
            self.docker.join_overlay(&addon, app).await?;
        }
        Ok(name)
    }

    /// Removes `app`'s overlay network, once its services are gone; gone already is fine.
    pub async fn remove_app_network(&self, app: &str) -> Result<(), SwarmServiceError> {
        match self.docker.api.remove_network(&overlay_name(app)).await {
            Ok(()) => Ok(()),
            Err(e) if RuntimeError::is_not_found(&e) => Ok(()),
            Err(e) => Err(self.fail()(e)),
        }
    }

    /// Creates the service of `spec` (and the app's network, if need be); returns its
    /// id. A service of that name made by this server already is returned as it is.
    pub async fn create_release_service(
        &self,
        spec: &ReleaseServiceSpec,
    ) -> Result<String, SwarmServiceError> {
        let name = service_name(&spec.app, &spec.process_type, spec.release);
        if let Some(id) = self.existing(&name).await? {
            return Ok(id);
        }
        self.ensure_app_network(&spec.app).await?;
        let image = pinned(&spec.image, &self.digest(&spec.image).await?);
        let body = service_spec(spec, &self.docker.instance, &image);
        match self.docker.api.create_service(body, None).await {
            Ok(created) => created.id.ok_or_else(|| {
                RuntimeError::Engine(format!("the engine gave service {name} no id")).into()
            }),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => self
                .existing(&name)
                .await?
                .ok_or(SwarmServiceError::NoService(name)),
            Err(e) => Err(self.fail()(e)),
        }
    }

    /// Service `name` if this server made it, None if there is none; an error if someone
    /// else made it (paas never changes what is not its own).
    async fn ours(&self, name: &str) -> Result<Option<Service>, SwarmServiceError> {
        match self.docker.api.inspect_service(name, None).await {
            Ok(service) if release_service(service.clone(), &self.docker.instance).is_some() => {
                Ok(Some(service))
            }
            Ok(_) => Err(SwarmServiceError::NotOurs(name.to_owned())),
            Err(e) if RuntimeError::is_not_found(&e) => Ok(None),
            Err(e) => Err(self.fail()(e)),
        }
    }

    async fn existing(&self, name: &str) -> Result<Option<String>, SwarmServiceError> {
        Ok(self.ours(name).await?.map(|s| s.id.unwrap_or_default()))
    }

    /// The digest of `image` in its registry, as the manager's engine resolves it.
    async fn digest(&self, image: &str) -> Result<String, SwarmServiceError> {
        let refused = |reason: String| SwarmServiceError::NotInRegistry {
            image: image.to_owned(),
            reason,
        };
        let inspect = self
            .docker
            .api
            .inspect_registry_image(image, None)
            .await
            .map_err(|e| match RuntimeError::from_bollard(&self.docker.host, e) {
                RuntimeError::Engine(reason) => refused(reason),
                other => SwarmServiceError::Engine(other),
            })?;
        inspect
            .descriptor
            .digest
            .ok_or_else(|| refused("the registry gave no digest".to_owned()))
    }

    /// Every task the manager keeps of `service` (running or not), by slot, each with
    /// its node and, when running, the endpoint the router reaches it at.
    pub async fn tasks(
        &self,
        service: &str,
        port: u16,
    ) -> Result<Vec<ServiceTask>, SwarmServiceError> {
        let filters = HashMap::from([("service".to_owned(), vec![service.to_owned()])]);
        let options = ListTasksOptionsBuilder::default().filters(&filters).build();
        let api = &self.docker.api;
        let tasks = match api.list_tasks(Some(options)).await {
            Ok(tasks) => tasks,
            Err(e) if RuntimeError::is_not_found(&e) => Vec::new(),
            Err(e) => return Err(self.fail()(e)),
        };
        self.with_places(tasks, port).await
    }

    /// The engine's tasks as paas needs them, each with its node's name and address.
    pub(super) async fn with_places(
        &self,
        tasks: Vec<Task>,
        port: u16,
    ) -> Result<Vec<ServiceTask>, SwarmServiceError> {
        let nodes: HashMap<String, (String, Option<IpAddr>)> = self
            .docker
            .api
            .list_nodes(None)
            .await
            .map_err(self.fail())?
            .iter()
            .map(|n| (n.id.clone().unwrap_or_default(), node_place(n)))
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            let mut task = service_task(task, &nodes, port);
            if !task.unresolved_ports.is_empty() {
                self.resolve_locally(&mut task, port).await?;
            }
            out.push(task);
        }
        out.sort_by(|a, b| (a.slot, &a.id).cmp(&(b.slot, &b.id)));
        Ok(out)
    }

    /// This server's service `name`, if there is one.
    pub async fn service(&self, name: &str) -> Result<Option<ReleaseService>, SwarmServiceError> {
        let instance = &self.docker.instance;
        Ok(self
            .ours(name)
            .await?
            .and_then(|s| release_service(s, instance)))
    }

    /// A task whose listed ports disagree, running on the manager itself: its container
    /// here says which binding is IPv4. Tasks on other nodes keep `unresolved_ports`.
    async fn resolve_locally(
        &self,
        task: &mut ServiceTask,
        port: u16,
    ) -> Result<(), SwarmServiceError> {
        let (Some(container), Some(addr)) = (&task.container_id, task.node_addr) else {
            return Ok(());
        };
        let inspect = match self
            .docker
            .api
            .inspect_container(container, None::<InspectContainerOptions>)
            .await
        {
            Ok(inspect) => inspect,
            // On another node's engine.
            Err(e) if RuntimeError::is_not_found(&e) => return Ok(()),
            Err(e) => return Err(self.fail()(e)),
        };
        let ports = inspect
            .network_settings
            .and_then(|n| n.ports)
            .unwrap_or_default();
        if let Some(host_port) = ipv4_binding(&ports, port) {
            task.endpoint = Some(SocketAddr::new(addr, host_port));
            task.unresolved_ports.clear();
        }
        Ok(())
    }

    /// Sets the number of tasks of `service`.
    pub async fn scale(&self, service: &str, replicas: u64) -> Result<(), SwarmServiceError> {
        let current = self
            .ours(service)
            .await?
            .ok_or_else(|| SwarmServiceError::NoService(service.to_owned()))?;
        let version = current.version.and_then(|v| v.index).unwrap_or(0);
        // The engine replaces the whole spec: send it back with the one field changed.
        let mut spec = current.spec.unwrap_or_default();
        spec.mode = Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(i64::try_from(replicas).unwrap_or(i64::MAX)),
            }),
            ..Default::default()
        });
        let options = UpdateServiceOptionsBuilder::default()
            .version(i32::try_from(version).unwrap_or(i32::MAX))
            .build();
        self.docker
            .api
            .update_service(service, spec, options, None)
            .await
            .map_err(self.fail())?;
        Ok(())
    }

    /// Removes `service` and so its tasks; gone already is fine.
    pub async fn remove(&self, service: &str) -> Result<(), SwarmServiceError> {
        if self.ours(service).await?.is_none() {
            return Ok(());
        }
        match self.docker.api.delete_service(service).await {
            Ok(()) => Ok(()),
            Err(e) if RuntimeError::is_not_found(&e) => Ok(()),
            Err(e) => Err(self.fail()(e)),
        }
    }

    /// This server's services of `app`, by release then process type.
    pub async fn services_of(&self, app: &str) -> Result<Vec<ReleaseService>, SwarmServiceError> {
        self.services(Some(app)).await
    }

    /// This server's services, of `app` or of every app.
    pub async fn services(
        &self,
        app: Option<&str>,
    ) -> Result<Vec<ReleaseService>, SwarmServiceError> {
        self.docker.manager().await?;
        let instance = &self.docker.instance;
        let mut pairs = vec![(labels::MANAGED, instance.as_str())];
        pairs.extend(app.map(|app| (labels::APP, app)));
        let filters = label_filter(&pairs);
        let options = ListServicesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let services = self
            .docker
            .api
            .list_services(Some(options))
            .await
            .map_err(self.fail())?;
        let mut out: Vec<ReleaseService> = services
            .into_iter()
            .filter_map(|s| release_service(s, instance))
            .collect();
        out.sort_by(|a, b| (a.release, &a.process_type).cmp(&(b.release, &b.process_type)));
        Ok(out)
    }
}

/// A task as paas needs it, from the engine's task and the swarm's nodes.
fn service_task(
    task: Task,
    nodes: &HashMap<String, (String, Option<IpAddr>)>,
    port: u16,
) -> ServiceTask {
    let status = task.status.unwrap_or_default();
    let node_id = task.node_id.unwrap_or_default();
    let (node_hostname, node_addr) = nodes.get(&node_id).cloned().unwrap_or_default();
    let state = status.state.unwrap_or(TaskState::NEW);
    let published = published_port(
        status
            .port_status
            .and_then(|p| p.ports)
            .as_deref()
            .unwrap_or_default(),
        port,
    );
    let running = state == TaskState::RUNNING;
    let (endpoint, unresolved_ports) = match (running, published, node_addr) {
        (true, Ok(p), Some(addr)) => (Some(SocketAddr::new(addr, p)), Vec::new()),
        (true, Err(ports), Some(_)) if ports.len() > 1 => (None, ports),
        _ => (None, Vec::new()),
    };
    let container = status.container_status.unwrap_or_default();
    ServiceTask {
        id: task.id.unwrap_or_default(),
        service_id: task.service_id.unwrap_or_default(),
        slot: task.slot.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
        node_id,
        node_hostname,
        node_addr,
        desired_state: task.desired_state.unwrap_or(TaskState::NEW).to_string(),
        state: state.to_string(),
        container_id: container.container_id.filter(|c| !c.is_empty()),
        endpoint,
        unresolved_ports,
        exit_code: container.exit_code.filter(|_| !running),
        error: status.err.filter(|e| !e.is_empty()),
        since: status
            .timestamp
            .as_deref()
            .and_then(super::containers::parse_engine_time),
    }
}

#[cfg(test)]
#[path = "swarm_services_tests.rs"]
mod tests;
