//! `swarm:init`, `nodes`, `nodes:add`, `nodes:drain`, `nodes:activate`, `nodes:remove`:
//! the Docker Swarm of the server's engine and the hosts in it (admins).

use anyhow::Result;
use clap::Subcommand;
use reqwest::Method;

use crate::wire::{NodeInfo, NodeJoin, SwarmInit, SwarmInitialized};

use super::{Ctx, output};

#[derive(Subcommand)]
pub enum NodesCommand {
    /// Make the server's Docker engine the manager of a new swarm (admins)
    #[command(name = "swarm:init")]
    SwarmInit {
        /// The address other hosts reach this one at (an IP or an interface) [default: the engine's choice]
        #[arg(long)]
        advertise_addr: Option<String>,
        /// Where the manager listens [default: the advertise IP on port 2377, else every interface]
        #[arg(long)]
        listen_addr: Option<String>,
    },
    /// List the swarm's nodes: name, address, role, state, availability, tasks, memory
    Nodes,
    /// Print the command that makes a new host join the swarm
    #[command(name = "nodes:add")]
    NodesAdd,
    /// Place no new tasks on a node and move its tasks to other nodes
    #[command(name = "nodes:drain")]
    NodesDrain {
        /// Hostname or ID (a unique prefix of it will do)
        node: String,
    },
    /// Let a drained node take tasks again
    #[command(name = "nodes:activate")]
    NodesActivate {
        /// Hostname or ID (a unique prefix of it will do)
        node: String,
    },
    /// Remove a node that has left the swarm (docker swarm leave on it) or is down
    #[command(name = "nodes:remove")]
    NodesRemove {
        /// Hostname or ID (a unique prefix of it will do)
        node: String,
    },
}

pub async fn run(ctx: &Ctx, command: NodesCommand) -> Result<()> {
    match command {
        NodesCommand::SwarmInit {
            advertise_addr,
            listen_addr,
        } => init(ctx, advertise_addr, listen_addr).await,
        NodesCommand::Nodes => list(ctx).await,
        NodesCommand::NodesAdd => add(ctx).await,
        NodesCommand::NodesDrain { node } => availability(ctx, &node, "drain").await,
        NodesCommand::NodesActivate { node } => availability(ctx, &node, "activate").await,
        NodesCommand::NodesRemove { node } => remove(ctx, &node).await,
    }
}

async fn init(
    ctx: &Ctx,
    advertise_addr: Option<String>,
    listen_addr: Option<String>,
) -> Result<()> {
    output::begin("Making the server's engine a swarm manager");
    let body = SwarmInit {
        advertise_addr,
        listen_addr,
    };
    let done: SwarmInitialized = ctx
        .client
        .post("/api/v1/swarm", &body)
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done, node {}", done.node_id);
    println!("Add hosts with paas nodes:add");
    Ok(())
}

async fn list(ctx: &Ctx) -> Result<()> {
    let nodes: Vec<NodeInfo> = ctx.client.get("/api/v1/nodes").await?;
    if ctx.json {
        return output::json(&nodes);
    }
    let rows: Vec<Vec<String>> = nodes.iter().map(row).collect();
    output::table(
        &[
            "NAME",
            "ID",
            "ADDRESS",
            "ROLE",
            "STATE",
            "AVAILABILITY",
            "TASKS",
            "MEMORY",
        ],
        &rows,
    );
    Ok(())
}

fn row(n: &NodeInfo) -> Vec<String> {
    let role = if n.leader {
        format!("{} (leader)", n.role)
    } else {
        n.role.clone()
    };
    vec![
        n.hostname.clone(),
        n.id.chars().take(12).collect(),
        n.address.clone(),
        role,
        n.state.clone(),
        n.availability.clone(),
        n.tasks.to_string(),
        format!("{:.1} GiB", n.memory_bytes as f64 / (1u64 << 30) as f64),
    ]
}

async fn add(ctx: &Ctx) -> Result<()> {
    let join: NodeJoin = ctx.client.get("/api/v1/nodes/join").await?;
    if ctx.json {
        return output::json(&join);
    }
    println!("Run this on the new host, as root, with its Docker engine running:");
    println!();
    for command in &join.commands {
        println!("    {command}");
    }
    println!();
    println!("Add --advertise-addr ADDRESS to the join if the host has several addresses.");
    println!("The token in it lets anyone join a node: keep it to yourself.");
    Ok(())
}

async fn availability(ctx: &Ctx, node: &str, action: &str) -> Result<()> {
    let verb = if action == "drain" {
        "Draining"
    } else {
        "Activating"
    };
    output::begin(&format!("{verb} {node}"));
    let path = format!("/api/v1/nodes/{}/{action}", segment(node));
    let node: NodeInfo = ctx
        .client
        .post(&path, &())
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done, {} is {}", node.hostname, node.availability);
    Ok(())
}

async fn remove(ctx: &Ctx, node: &str) -> Result<()> {
    output::begin(&format!("Removing {node} from the swarm"));
    let path = format!("/api/v1/nodes/{}", segment(node));
    ctx.client
        .call(Method::DELETE, &path, None::<&()>)
        .await
        .inspect_err(|_| println!("failed"))?;
    println!("done");
    Ok(())
}

/// `name` as one URL path segment (percent-encoded but for unreserved characters).
fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_name_stays_one_path_segment() {
        assert_eq!(segment("paassw1"), "paassw1");
        assert_eq!(segment("a/b?c"), "a%2Fb%3Fc");
    }

    #[test]
    fn the_leader_and_memory_are_shown() {
        let node = NodeInfo {
            id: "0123456789abcdefghij".into(),
            hostname: "paassw0".into(),
            address: "10.99.0.1".into(),
            role: "manager".into(),
            leader: true,
            state: "ready".into(),
            availability: "active".into(),
            tasks: 3,
            memory_bytes: 3 << 29,
            cpus: 2.0,
        };
        assert_eq!(
            row(&node),
            [
                "paassw0",
                "0123456789ab",
                "10.99.0.1",
                "manager (leader)",
                "ready",
                "active",
                "3",
                "1.5 GiB"
            ]
        );
    }
}
