//! The swarm and its nodes (admins only): `swarm:init` makes the server's engine a
//! manager, `nodes:add` gives the command a new host runs to join, `nodes` lists them,
//! `nodes:drain`, `nodes:activate` and `nodes:remove` change one. The change is made in
//! the engine first, then recorded as an event, so the audit trail says only what
//! happened. Apps still run on the manager's engine: nothing here schedules.

use crate::runtime::{Availability, SwarmNode};
use crate::store::NewEvent;
use crate::wire::{NodeInfo, NodeJoin, SwarmInit, SwarmInitialized};

use super::{Actor, OpsError, Platform, carried_out};

const WHAT: &str = "manage the swarm and its nodes";

pub async fn init(
    p: &Platform,
    actor: &Actor,
    req: SwarmInit,
) -> Result<SwarmInitialized, OpsError> {
    actor.require_admin(WHAT)?;
    let (p, actor_name) = (p.clone(), actor.name().to_owned());
    carried_out(async move {
        let docker = p.builder.docker();
        let node_id = docker
            .init_swarm(req.advertise_addr.as_deref(), req.listen_addr.as_deref())
            .await?;
        // The registry starts now, not at the supervisor's next look.
        p.builder.registry().check_now();
        let advertised = req
            .advertise_addr
            .as_deref()
            .unwrap_or("the engine's own address");
        let detail =
            format!("made this engine the swarm manager ({node_id}), advertising {advertised}");
        record(&p, actor_name, "swarm.init", detail).await?;
        Ok(SwarmInitialized { node_id })
    })
    .await
}

/// The one command that makes a new host a node: it trusts paas's registry CA (the
/// engine's `certs.d` entry for the registry's address), closes the ports its tasks will
/// publish to all but the router (`runtime::firewall`), then joins. The join token is
/// its only secret, and it goes into no event and no log line.
pub async fn join(p: &Platform, actor: &Actor) -> Result<NodeJoin, OpsError> {
    actor.require_admin(WHAT)?;
    let join = p.builder.docker().swarm_join().await?;
    let host = join
        .manager_addr
        .rsplit_once(':')
        .map_or(join.manager_addr.as_str(), |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let (registry, ca_pem) = p
        .builder
        .registry()
        .trust(host)
        .await
        .map_err(|e| OpsError::Internal(e.to_string()))?;
    let trust = crate::registry::trust::command(&registry, &ca_pem);
    let fence = match host.parse() {
        Ok(router) => format!(
            "{} && ",
            crate::runtime::firewall::task_port_fence_command(router)
        ),
        Err(_) => String::new(),
    };
    Ok(NodeJoin {
        commands: vec![format!("{trust} && {fence}{}", join.command())],
    })
}

pub async fn list(p: &Platform, actor: &Actor) -> Result<Vec<NodeInfo>, OpsError> {
    actor.require_admin(WHAT)?;
    let docker = p.builder.docker();
    let nodes = docker.swarm_nodes().await?;
    let tasks = docker.running_tasks().await?;
    Ok(nodes
        .into_iter()
        .map(|n| {
            let count = tasks.get(&n.id).copied().unwrap_or(0);
            to_info(n, count)
        })
        .collect())
}

/// No new tasks on the node, and the swarm moves its tasks elsewhere.
pub async fn drain(p: &Platform, actor: &Actor, name: &str) -> Result<NodeInfo, OpsError> {
    set_availability(p, actor, name, Availability::Drain).await
}

/// The node takes tasks again.
pub async fn activate(p: &Platform, actor: &Actor, name: &str) -> Result<NodeInfo, OpsError> {
    set_availability(p, actor, name, Availability::Active).await
}

async fn set_availability(
    p: &Platform,
    actor: &Actor,
    name: &str,
    availability: Availability,
) -> Result<NodeInfo, OpsError> {
    actor.require_admin(WHAT)?;
    let (p, actor_name, name) = (p.clone(), actor.name().to_owned(), name.to_owned());
    carried_out(async move {
        let docker = p.builder.docker();
        let node = find(&docker.swarm_nodes().await?, &name)?.clone();
        let node = docker.set_availability(&node.id, availability).await?;
        let tasks = docker.running_tasks().await?;
        let (action, verb) = match availability {
            Availability::Drain => ("node.drain", "drained"),
            Availability::Active => ("node.activate", "activated"),
            Availability::Pause => ("node.pause", "paused"),
        };
        let detail = format!("{verb} node {} ({})", node.hostname, node.id);
        record(&p, actor_name, action, detail).await?;
        let count = tasks.get(&node.id).copied().unwrap_or(0);
        Ok(to_info(node, count))
    })
    .await
}

/// Removes a node that has left the swarm (or is down); one still up is refused.
pub async fn remove(p: &Platform, actor: &Actor, name: &str) -> Result<(), OpsError> {
    actor.require_admin(WHAT)?;
    let (p, actor_name, name) = (p.clone(), actor.name().to_owned(), name.to_owned());
    carried_out(async move {
        let docker = p.builder.docker();
        let node = find(&docker.swarm_nodes().await?, &name)?.clone();
        docker.remove_node(&node.id).await?;
        let detail = format!("removed node {} ({})", node.hostname, node.id);
        record(&p, actor_name, "node.remove", detail).await
    })
    .await
}

/// The node `name` names, as docker does: its full ID, its hostname, or a prefix of its ID
/// that no other node's ID shares.
fn find<'a>(nodes: &'a [SwarmNode], name: &str) -> Result<&'a SwarmNode, OpsError> {
    let unknown = || OpsError::NotFound(format!("no node {name}; see paas nodes"));
    if name.is_empty() {
        return Err(unknown());
    }
    if let Some(node) = nodes.iter().find(|n| n.id == name) {
        return Ok(node);
    }
    let by_hostname: Vec<&SwarmNode> = nodes.iter().filter(|n| n.hostname == name).collect();
    let by_prefix: Vec<&SwarmNode> = nodes.iter().filter(|n| n.id.starts_with(name)).collect();
    match (by_hostname.as_slice(), by_prefix.as_slice()) {
        ([one], _) | ([], [one]) => Ok(one),
        ([], []) => Err(unknown()),
        _ => Err(OpsError::Conflict(format!(
            "{name} names more than one node; name it by its ID (see paas nodes)"
        ))),
    }
}

async fn record(
    p: &Platform,
    actor: String,
    action: &'static str,
    detail: String,
) -> Result<(), OpsError> {
    p.store
        .write(move |tx| {
            tx.insert_event(NewEvent {
                actor: &actor,
                app_name: None,
                action,
                detail: &detail,
            })?;
            Ok(())
        })
        .await
}

fn to_info(n: SwarmNode, tasks: u64) -> NodeInfo {
    NodeInfo {
        id: n.id,
        hostname: n.hostname,
        address: n.address,
        role: n.role.as_str().to_owned(),
        leader: n.leader,
        state: n.state,
        availability: n.availability.as_str().to_owned(),
        tasks,
        memory_bytes: n.memory_bytes,
        cpus: n.cpus,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::NodeRole;
    use proptest::prelude::*;

    fn node(id: &str, hostname: &str) -> SwarmNode {
        SwarmNode {
            id: id.into(),
            hostname: hostname.into(),
            address: "10.99.0.11".into(),
            role: NodeRole::Worker,
            state: "ready".into(),
            availability: Availability::Active,
            leader: false,
            memory_bytes: 0,
            cpus: 1.0,
        }
    }

    fn nodes() -> Vec<SwarmNode> {
        vec![
            node("abc123", "paassw1"),
            node("abd456", "paassw2"),
            node("xyz789", "abc"),
        ]
    }

    fn found(name: &str) -> Result<String, String> {
        let nodes = nodes();
        find(&nodes, name)
            .map(|n| n.id.clone())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_node_is_named_by_id_hostname_or_unique_id_prefix() {
        assert_eq!(found("abd456"), Ok("abd456".into()));
        assert_eq!(found("paassw1"), Ok("abc123".into()));
        assert_eq!(found("abd"), Ok("abd456".into()));
        assert_eq!(found("x"), Ok("xyz789".into()));
        // A hostname wins over an ID prefix, as docker resolves names.
        assert_eq!(found("abc"), Ok("xyz789".into()));
    }

    #[test]
    fn an_unknown_or_ambiguous_name_says_what_to_do() {
        assert_eq!(found("nope"), Err("no node nope; see paas nodes".into()));
        assert!(matches!(find(&nodes(), ""), Err(OpsError::NotFound(_))));
        assert_eq!(
            found("ab"),
            Err("ab names more than one node; name it by its ID (see paas nodes)".into())
        );
        let twins = vec![node("aaa", "same"), node("bbb", "same")];
        assert!(matches!(find(&twins, "same"), Err(OpsError::Conflict(_))));
        assert_eq!(find(&twins, "bbb").unwrap().id, "bbb");
    }

    proptest! {
        #[test]
        fn a_found_node_is_the_one_the_name_names(name in "\\PC{0,8}") {
            let nodes = nodes();
            if let Ok(n) = find(&nodes, &name) {
                prop_assert!(n.id == name || n.hostname == name || n.id.starts_with(&name));
            }
        }
    }
}
