//! The swarm and its nodes through the real CLI: three more Docker engines on this machine
//! (`scripts/swarm-nodes`, each in its own network namespace) join the host engine's
//! swarm with the command `paas nodes:add` prints, then are listed, drained, activated and
//! removed. Needs root (namespaces, a bridge, iptables). The host engine is left as it was
//! found (not in a swarm), whatever fails.

mod common;

use std::time::Duration;

use common::cluster::{Cluster, swarm_state};
use common::{Server, docker, eventually};

fn nodes(server: &Server) -> Vec<serde_json::Value> {
    serde_json::from_str(server.cli(&["nodes", "--json"]).ok()).expect("nodes as JSON")
}

fn node<'a>(nodes: &'a [serde_json::Value], hostname: &str) -> Option<&'a serde_json::Value> {
    nodes.iter().find(|n| n["hostname"] == hostname)
}

#[test]
fn nodes_join_with_the_printed_command_and_are_drained_activated_and_removed() {
    assert_eq!(
        swarm_state(),
        "inactive",
        "the host engine is already in a swarm; leave it first (docker swarm leave --force)"
    );
    let mut cluster = Cluster::up(3);
    cluster.removes_host_trust_of(&format!("{}:5443", cluster.env["SWARM_HOST_ADDR"]));
    let server = Server::start();

    let refusal = server.cli(&["nodes"]).fails().to_owned();
    assert_eq!(
        refusal,
        "error: this engine is not a swarm manager: run paas swarm:init"
    );

    let host_addr = cluster.env["SWARM_HOST_ADDR"].clone();
    server
        .cli(&["swarm:init", "--advertise-addr", &host_addr])
        .ok();
    assert_eq!(swarm_state(), "active");
    let again = server.cli(&["swarm:init"]).fails().to_owned();
    assert!(again.contains("already in a swarm"), "{again}");

    // The join of the one command nodes:add prints, run on each node's engine (its trust
    // step is tests/registry.rs's).
    let add = server.cli(&["nodes:add"]).ok().to_owned();
    let join: Vec<&str> = add
        .lines()
        .flat_map(|l| l.split("&& "))
        .map(str::trim)
        .find(|part| part.starts_with("docker swarm join --token "))
        .unwrap_or_else(|| panic!("no join command in:\n{add}"))
        .split_whitespace()
        .collect();
    assert_eq!(join.len(), 6, "{join:?}");
    assert_eq!(join[5], format!("{host_addr}:2377"));
    for i in 1..=3 {
        let addr = cluster.node(i, "ADDR").to_owned();
        let args = [&join[1..5], &["--advertise-addr", &addr], &join[5..]].concat();
        cluster.node_docker(i, &args).ok();
    }

    eventually("4 nodes ready", Duration::from_secs(60), || {
        let nodes = nodes(&server);
        nodes.len() == 4 && nodes.iter().all(|n| n["state"] == "ready")
    });
    let listed = nodes(&server);
    assert_eq!(listed[0]["role"], "manager");
    assert_eq!(listed[0]["leader"], true);
    assert_eq!(listed[0]["address"], host_addr.as_str());
    for i in 1..=3 {
        let n = node(&listed, &format!("paassw{i}")).expect("node listed");
        assert_eq!(n["role"], "worker");
        assert_eq!(n["address"], cluster.node(i, "ADDR"));
        assert_eq!(n["availability"], "active");
        assert_eq!(n["tasks"], 0);
        assert!(n["memory_bytes"].as_u64().unwrap() > 0, "{n}");
    }
    let table = server.cli(&["nodes"]).ok().to_owned();
    assert!(
        table.contains("AVAILABILITY") && table.contains("paassw2"),
        "{table}"
    );

    // Drain by hostname, activate by a prefix of the ID; the engine agrees.
    server.cli(&["nodes:drain", "paassw2"]).ok();
    assert_eq!(
        node(&nodes(&server), "paassw2").unwrap()["availability"],
        "drain"
    );
    let spec = docker(&[
        "node",
        "inspect",
        "paassw2",
        "--format",
        "{{.Spec.Availability}}",
    ]);
    assert_eq!(spec.ok().trim(), "drain");
    let id = node(&listed, "paassw2").unwrap()["id"].as_str().unwrap()[..8].to_owned();
    server.cli(&["nodes:activate", &id]).ok();
    assert_eq!(
        node(&nodes(&server), "paassw2").unwrap()["availability"],
        "active"
    );
    let unknown = server
        .cli(&["nodes:drain", "nosuchnode"])
        .fails()
        .to_owned();
    assert_eq!(unknown, "error: no node nosuchnode; see paas nodes");

    // A node still up is not removed; once it left, it is.
    let live = server.cli(&["nodes:remove", "paassw3"]).fails().to_owned();
    assert_eq!(
        live,
        "error: paassw3 is still up: drain it, run docker swarm leave on it, then nodes:remove"
    );
    cluster.node_docker(3, &["swarm", "leave"]).ok();
    eventually("paassw3 down", Duration::from_secs(60), || {
        node(&nodes(&server), "paassw3").is_some_and(|n| n["state"] == "down")
    });
    server.cli(&["nodes:remove", "paassw3"]).ok();
    let left = nodes(&server);
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(node(&left, "paassw3").is_none());

    // Members are refused, as for every admin-only command.
    let alice = server.create_member("alice");
    for args in [&["nodes"][..], &["nodes:drain", "paassw1"]] {
        let refused = server.cli_with_token(&alice, args).fails().to_owned();
        assert_eq!(
            refused,
            "error: only admins can manage the swarm and its nodes; ask an admin of this paas"
        );
    }
    assert_eq!(
        node(&nodes(&server), "paassw1").unwrap()["availability"],
        "active"
    );

    let events = server.cli(&["events"]).ok().to_owned();
    for action in ["swarm.init", "node.drain", "node.activate", "node.remove"] {
        assert!(events.contains(action), "no {action} event:\n{events}");
    }
    assert!(
        !events.contains("SWMTKN"),
        "a join token in the events:\n{events}"
    );

    drop(server);
    let down = cluster.down();
    assert_eq!(down.code, 0, "swarm-nodes down failed: {}", down.stderr);
    assert_eq!(swarm_state(), "inactive");
}
