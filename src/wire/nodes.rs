//! The JSON shapes of `paas swarm:init` and `paas nodes*`: the swarm's nodes and the
//! command that joins a new host.

use serde::{Deserialize, Serialize};

/// `POST /api/v1/swarm`: make the server's engine a swarm manager.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SwarmInit {
    /// The address other nodes reach the manager at (an IP or an interface name)
    /// [default: the engine's choice].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise_addr: Option<String>,
    /// Where the manager listens [default: the advertise IP on port 2377, else every
    /// interface].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_addr: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SwarmInitialized {
    /// The manager's node ID.
    pub node_id: String,
}

/// `GET /api/v1/nodes`: one node of the swarm.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: String,
    pub hostname: String,
    pub address: String,
    /// `manager` or `worker`.
    pub role: String,
    /// The manager that leads the swarm.
    pub leader: bool,
    /// `ready`, `down`, `disconnected` or `unknown`.
    pub state: String,
    /// `active`, `pause` or `drain`.
    pub availability: String,
    /// Tasks the swarm runs (or is starting) on it.
    pub tasks: u64,
    pub memory_bytes: u64,
    pub cpus: f64,
}

/// `GET /api/v1/nodes/join`: what to run on a new host, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeJoin {
    /// Shell commands; they hold the swarm's worker join token, a secret.
    pub commands: Vec<String>,
}
