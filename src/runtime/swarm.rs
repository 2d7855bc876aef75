//! The engine's Docker Swarm: making it a manager, the join command for new hosts, the
//! nodes (their state, availability and running tasks), draining, activating and removing
//! them. Only a manager's engine answers these calls; each function checks that first so a
//! caller gets one line saying what to do.

use std::collections::HashMap;

use bollard::models::{
    LocalNodeState, Node, NodeSpec, NodeSpecAvailabilityEnum, NodeSpecRoleEnum, NodeState,
    SwarmInitRequest,
};
use bollard::query_parameters::{
    DeleteNodeOptionsBuilder, ListTasksOptionsBuilder, UpdateNodeOptionsBuilder,
};

use super::{Docker, RuntimeError};

/// The port managers listen on for joins and raft (Docker's default).
pub const SWARM_PORT: u16 = 2377;

#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    #[error("this engine is not a swarm manager: run paas swarm:init")]
    NotManager,
    #[error("this engine is a swarm worker, not a manager: run paas server on a manager's engine")]
    Worker,
    #[error("this engine's swarm is {0}, not active; see docker info")]
    Unsettled(String),
    #[error(
        "this engine is already in a swarm; see paas nodes (to start over: docker swarm leave --force)"
    )]
    AlreadyInSwarm,
    #[error("{0} is still up: drain it, run docker swarm leave on it, then nodes:remove")]
    StillUp(String),
    #[error(transparent)]
    Engine(#[from] RuntimeError),
}

impl SwarmError {
    /// The swarm is not in the state the request needs (as opposed to an engine failure).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, SwarmError::Engine(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    Manager,
    Worker,
}

impl NodeRole {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Manager => "manager",
            NodeRole::Worker => "worker",
        }
    }
}

/// Whether the swarm places tasks on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Active,
    Pause,
    /// No new tasks, and its tasks move to other nodes.
    Drain,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Active => "active",
            Availability::Pause => "pause",
            Availability::Drain => "drain",
        }
    }

    fn to_engine(self) -> NodeSpecAvailabilityEnum {
        match self {
            Availability::Active => NodeSpecAvailabilityEnum::ACTIVE,
            Availability::Pause => NodeSpecAvailabilityEnum::PAUSE,
            Availability::Drain => NodeSpecAvailabilityEnum::DRAIN,
        }
    }
}

/// One engine of the swarm, as the manager sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SwarmNode {
    pub id: String,
    pub hostname: String,
    /// The address it advertises (`10.99.0.12`).
    pub address: String,
    pub role: NodeRole,
    /// `ready`, `down`, `disconnected` or `unknown`, as the manager last heard.
    pub state: String,
    pub availability: Availability,
    /// The manager that leads the raft (false for workers).
    pub leader: bool,
    pub memory_bytes: u64,
    pub cpus: f64,
}

impl SwarmNode {
    pub fn is_ready(&self) -> bool {
        self.state == NodeState::READY.to_string()
    }

    fn from_engine(node: Node) -> SwarmNode {
        let spec = node.spec.unwrap_or_default();
        let description = node.description.unwrap_or_default();
        let resources = description.resources.unwrap_or_default();
        let status = node.status.unwrap_or_default();
        SwarmNode {
            id: node.id.unwrap_or_default(),
            hostname: description.hostname.unwrap_or_default(),
            address: status.addr.unwrap_or_default(),
            role: match spec.role {
                Some(NodeSpecRoleEnum::MANAGER) => NodeRole::Manager,
                _ => NodeRole::Worker,
            },
            state: status.state.unwrap_or_default().to_string(),
            availability: match spec.availability {
                Some(NodeSpecAvailabilityEnum::DRAIN) => Availability::Drain,
                Some(NodeSpecAvailabilityEnum::PAUSE) => Availability::Pause,
                _ => Availability::Active,
            },
            leader: node.manager_status.and_then(|m| m.leader).unwrap_or(false),
            memory_bytes: resources.memory_bytes.unwrap_or(0).max(0) as u64,
            cpus: resources.nano_cpus.unwrap_or(0).max(0) as f64 / 1e9,
        }
    }
}

/// What a new host needs to join the swarm as a worker.
#[derive(Debug, Clone)]
pub struct SwarmJoin {
    /// A secret: whoever has it can join a node.
    pub worker_token: String,
    /// `10.99.0.1:2377`
    pub manager_addr: String,
}

impl SwarmJoin {
    /// The command to run on the new host.
    pub fn command(&self) -> String {
        format!(
            "docker swarm join --token {} {}",
            self.worker_token, self.manager_addr
        )
    }
}

/// Where a manager listens when only its advertise address is given: that address on the
/// swarm port when it is an IP (so the manager does not listen on every interface), else
/// the engine's default (all interfaces).
pub fn default_listen_addr(advertise: Option<&str>) -> Option<String> {
    let ip: std::net::IpAddr = advertise?.parse().ok()?;
    Some(std::net::SocketAddr::new(ip, SWARM_PORT).to_string())
}

impl Docker {
    /// Makes this engine the manager of a new swarm; returns its node ID.
    pub async fn init_swarm(
        &self,
        advertise_addr: Option<&str>,
        listen_addr: Option<&str>,
    ) -> Result<String, SwarmError> {
        let state = self.local_swarm().await?.0;
        if state != LocalNodeState::INACTIVE && state != LocalNodeState::EMPTY {
            return Err(SwarmError::AlreadyInSwarm);
        }
        let listen_addr = listen_addr
            .map(str::to_owned)
            .or_else(|| default_listen_addr(advertise_addr));
        let request = SwarmInitRequest {
            advertise_addr: advertise_addr.map(str::to_owned),
            listen_addr,
            ..Default::default()
        };
        Ok(self.api.init_swarm(request).await.map_err(self.fail())?)
    }

    /// The worker join token and this manager's address.
    pub async fn swarm_join(&self) -> Result<SwarmJoin, SwarmError> {
        let me = self.manager().await?;
        let swarm = self.api.inspect_swarm().await.map_err(self.fail())?;
        let worker_token = swarm
            .join_tokens
            .and_then(|t| t.worker)
            .ok_or_else(|| RuntimeError::Engine("the swarm has no worker join token".into()))?;
        let node = self.api.inspect_node(&me).await.map_err(self.fail())?;
        let manager_addr = node
            .manager_status
            .and_then(|m| m.addr)
            .ok_or_else(|| RuntimeError::Engine("this manager has no swarm address".into()))?;
        Ok(SwarmJoin {
            worker_token,
            manager_addr,
        })
    }

    /// Every node of the swarm, managers first, then by hostname.
    pub async fn swarm_nodes(&self) -> Result<Vec<SwarmNode>, SwarmError> {
        self.manager().await?;
        let nodes = self.api.list_nodes(None).await.map_err(self.fail())?;
        let mut nodes: Vec<SwarmNode> = nodes.into_iter().map(SwarmNode::from_engine).collect();
        nodes.sort_by(|a, b| {
            (a.role != NodeRole::Manager, &a.hostname, &a.id).cmp(&(
                b.role != NodeRole::Manager,
                &b.hostname,
                &b.id,
            ))
        });
        Ok(nodes)
    }

    /// How many tasks each node runs (or is starting), by node ID.
    pub async fn running_tasks(&self) -> Result<HashMap<String, u64>, SwarmError> {
        let filters = HashMap::from([("desired-state".to_owned(), vec!["running".to_owned()])]);
        let options = ListTasksOptionsBuilder::default().filters(&filters).build();
        let tasks = self
            .api
            .list_tasks(Some(options))
            .await
            .map_err(self.fail())?;
        let mut counts = HashMap::new();
        for node in tasks.into_iter().filter_map(|t| t.node_id) {
            *counts.entry(node).or_insert(0) += 1;
        }
        Ok(counts)
    }

    /// Sets whether the swarm places tasks on node `id`; returns the node as it is now.
    pub async fn set_availability(
        &self,
        id: &str,
        availability: Availability,
    ) -> Result<SwarmNode, SwarmError> {
        self.manager().await?;
        let node = self.api.inspect_node(id).await.map_err(self.fail())?;
        let version = node.version.and_then(|v| v.index).unwrap_or(0);
        // The engine replaces the whole spec: send it back with the one field changed.
        let spec = NodeSpec {
            availability: Some(availability.to_engine()),
            ..node.spec.unwrap_or_default()
        };
        let options = UpdateNodeOptionsBuilder::default()
            .version(version as i64)
            .build();
        self.api
            .update_node(id, spec, options)
            .await
            .map_err(self.fail())?;
        let node = self.api.inspect_node(id).await.map_err(self.fail())?;
        Ok(SwarmNode::from_engine(node))
    }

    /// Removes node `id` from the swarm; a node that is still up is refused (it would
    /// rejoin, or its tasks would be lost without being moved).
    pub async fn remove_node(&self, id: &str) -> Result<(), SwarmError> {
        self.manager().await?;
        let node = SwarmNode::from_engine(self.api.inspect_node(id).await.map_err(self.fail())?);
        if node.is_ready() {
            return Err(SwarmError::StillUp(node.hostname));
        }
        let options = DeleteNodeOptionsBuilder::default().force(false).build();
        self.api
            .delete_node(id, Some(options))
            .await
            .map_err(self.fail())?;
        Ok(())
    }

    /// The address this engine advertises to the swarm when it is an active manager
    /// (`10.99.0.1`); None when it is not one (no swarm, a worker, or not settled yet).
    pub async fn manager_address(&self) -> Result<Option<String>, SwarmError> {
        let info = self.api.info().await.map_err(self.fail())?;
        let swarm = info.swarm.unwrap_or_default();
        let manager = swarm.local_node_state == Some(LocalNodeState::ACTIVE)
            && swarm.control_available == Some(true);
        Ok(swarm.node_addr.filter(|a| manager && !a.is_empty()))
    }

    /// This engine's node ID, if it is a manager of an active swarm.
    pub(super) async fn manager(&self) -> Result<String, SwarmError> {
        let (state, control, node_id) = self.local_swarm().await?;
        match state {
            LocalNodeState::ACTIVE if control => Ok(node_id),
            LocalNodeState::ACTIVE => Err(SwarmError::Worker),
            LocalNodeState::INACTIVE | LocalNodeState::EMPTY => Err(SwarmError::NotManager),
            other => Err(SwarmError::Unsettled(other.to_string())),
        }
    }

    /// (local node state, whether it is a manager, node ID) from the engine's info.
    async fn local_swarm(&self) -> Result<(LocalNodeState, bool, String), SwarmError> {
        let info = self.api.info().await.map_err(self.fail())?;
        let swarm = info.swarm.unwrap_or_default();
        Ok((
            swarm.local_node_state.unwrap_or(LocalNodeState::INACTIVE),
            swarm.control_available.unwrap_or(false),
            swarm.node_id.unwrap_or_default(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manager_given_an_ip_listens_on_it_only() {
        assert_eq!(
            default_listen_addr(Some("10.99.0.1")).as_deref(),
            Some("10.99.0.1:2377")
        );
        assert_eq!(
            default_listen_addr(Some("fd00::1")).as_deref(),
            Some("[fd00::1]:2377")
        );
        assert_eq!(default_listen_addr(Some("eth0")), None);
        assert_eq!(default_listen_addr(None), None);
    }

    #[test]
    fn the_join_command_is_dockers_own() {
        let join = SwarmJoin {
            worker_token: "SWMTKN-1-abc".into(),
            manager_addr: "10.99.0.1:2377".into(),
        };
        assert_eq!(
            join.command(),
            "docker swarm join --token SWMTKN-1-abc 10.99.0.1:2377"
        );
    }

    #[test]
    fn an_engine_node_becomes_a_swarm_node() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "ID": "abc123",
            "Version": {"Index": 9},
            "Spec": {"Role": "manager", "Availability": "drain"},
            "Description": {
                "Hostname": "paassw0",
                "Resources": {"NanoCPUs": 2000000000, "MemoryBytes": 4096}
            },
            "Status": {"State": "ready", "Addr": "10.99.0.1"},
            "ManagerStatus": {"Leader": true, "Addr": "10.99.0.1:2377"}
        }))
        .unwrap();
        let node = SwarmNode::from_engine(node);
        assert_eq!(node.hostname, "paassw0");
        assert_eq!(node.address, "10.99.0.1");
        assert_eq!(node.role, NodeRole::Manager);
        assert_eq!(node.availability, Availability::Drain);
        assert!(node.leader && node.is_ready());
        assert_eq!((node.memory_bytes, node.cpus), (4096, 2.0));
    }
}
