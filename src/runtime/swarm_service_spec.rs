//! What paas asks Swarm for and reads back, with no engine call: the release-service types,
//! their names (`paas-APP-TYPE-vN`, the overlay `paas-APP`, images pinned by digest), the
//! engine's service spec (replicas as the formation's quantity, limits, restart policy, the
//! app's attachable overlay, dnsrr endpoints: no VIP, this kernel has no IPVS; `PORT`
//! published in host mode on an engine-chosen port), and services, tasks and nodes read
//! back in paas's terms (a task's endpoint `NODE_ADDR:published port`). The calls that use
//! them are `swarm_services.rs`.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, EndpointSpecModeEnum, Limit, NetworkAttachmentConfig, Node, Service, ServiceSpec,
    ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecUpdateConfig,
    ServiceSpecUpdateConfigOrderEnum, Task, TaskSpec, TaskSpecContainerSpec, TaskSpecResources,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum, TaskState,
};

use super::{env_list, labels};

/// The most processes one task's container may hold, as for single-host containers.
const PIDS_LIMIT: i64 = 512;
/// How long Swarm waits before restarting a task that failed (its default is 5 s).
const RESTART_DELAY: Duration = Duration::from_secs(1);

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
pub(super) fn ipv4_binding(
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
pub(super) fn node_place(node: &Node) -> (String, Option<IpAddr>) {
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

/// A task as paas needs it, from the engine's task and the swarm's nodes.
pub(super) fn service_task(
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
#[path = "swarm_service_spec_tests.rs"]
mod tests;
