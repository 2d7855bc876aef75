//! An app on a swarm (`PAAS_SCHEDULER=swarm`), through the real CLI and git: the host
//! engine is the manager (`paas swarm:init`, with paas's registry) and three
//! `scripts/swarm-nodes` engines join with the command `paas nodes:add` prints. A real push
//! deploys; `ps` shows the node of each process; scaling to 6 spreads the tasks over the
//! nodes and every task answers through the router; a config change and a rollback under
//! load fail no request; a node cut off the network loses its tasks to the others, and no
//! request fails once they moved; `run` works. Needs root. The host engine is left as it
//! was found, whatever fails (`Cluster`'s Drop).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::{Cluster, swarm_state};
use common::load::Load;
use common::{Server, eventually};

const APP: &str = "swapp";

/// `ps --json`'s processes of `APP`.
fn processes(server: &Server) -> Vec<serde_json::Value> {
    let out = server.cli(&["ps", "-a", APP, "--json"]);
    let ps: serde_json::Value = serde_json::from_str(out.ok()).expect("ps as JSON");
    ps["processes"].as_array().cloned().unwrap_or_default()
}

/// The node of each up web process, once `web` of them are up and no other is left.
fn settled_on(server: &Server, web: usize, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let procs = processes(server);
        let nodes: Vec<String> = procs
            .iter()
            .filter(|p| p["state"] == "up")
            .filter_map(|p| p["node"].as_str().map(str::to_owned))
            .collect();
        if procs.len() == web && nodes.len() == web {
            return nodes;
        }
        assert!(
            Instant::now() < deadline,
            "not {web} web processes up: {procs:#?}\nserver log:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every distinct `HOSTNAME=` line (a task's container) answered by `count` GETs.
fn hostnames(server: &Server, count: usize) -> BTreeSet<String> {
    (0..count)
        .map(|_| server.get(APP, "/").1)
        .filter_map(|body| {
            body.lines()
                .find(|l| l.starts_with("HOSTNAME="))
                .map(str::to_owned)
        })
        .collect()
}

fn link(name: &str, state: &str) {
    let status = Command::new("ip")
        .args(["link", "set", name, state])
        .status()
        .expect("ip runs");
    assert!(status.success(), "ip link set {name} {state}");
}

#[test]
fn an_app_deploys_scales_rolls_back_and_outlives_a_lost_node() {
    assert_eq!(
        swarm_state(),
        "inactive",
        "the host engine is already in a swarm; leave it first (docker swarm leave --force)"
    );
    let cluster = Cluster::up(3);
    let server = Server::start_with(&[("PAAS_SCHEDULER", "swarm")]);
    cluster.manage(&server);

    let started = Instant::now();
    let repo = server.deploy("env-echo", APP);
    eprintln!("push to serving: {:.1}s", started.elapsed().as_secs_f64());
    let body = server.answer(APP, "/");
    assert!(body.contains("PAAS_PROCESS=web.1"), "{body}");
    let first = settled_on(&server, 1, Duration::from_secs(30));
    eprintln!("web.1 runs on {first:?}");

    let started = Instant::now();
    server.cli(&["ps:scale", "web=6", "-a", APP]).ok();
    let nodes = settled_on(&server, 6, Duration::from_secs(120));
    eprintln!(
        "scale 1 -> 6: {:.1}s, on {nodes:?}",
        started.elapsed().as_secs_f64()
    );
    let spread: BTreeSet<&String> = nodes.iter().collect();
    assert!(spread.len() >= 3, "6 tasks on {spread:?}");
    let answered = hostnames(&server, 60);
    assert_eq!(answered.len(), 6, "every task answers: {answered:?}");

    // A config change and a rollback, each a new release, under load.
    let load = Load::start(&server, APP, 4, None);
    let set = server.cli(&["config:set", "GREETING=swarm", "-a", APP]);
    assert!(set.ok().contains("done"), "{}", set.stdout);
    assert!(server.answer(APP, "/").contains("GREETING=swarm"));
    server.cli(&["rollback", "v2", "-a", APP]).ok();
    let body = server.answer(APP, "/");
    assert!(body.contains("GREETING=\n"), "rolled back: {body}");
    settled_on(&server, 6, Duration::from_secs(60));
    let seen = load.finish();
    eprintln!(
        "config:set and rollback: {} answered, {} failed",
        seen.ok,
        seen.failures.len()
    );
    assert!(
        seen.ok > 50,
        "too few requests to mean anything: {}",
        seen.ok
    );
    assert!(seen.failures.is_empty(), "{:?}", seen.failures);

    // A node cut off: Swarm moves its tasks, paas routes to the new ones.
    let current = settled_on(&server, 6, Duration::from_secs(10));
    let by_node = nodes_count(&current);
    let (lost, _) = by_node
        .iter()
        .filter(|(n, _)| n.starts_with("paassw"))
        .max_by_key(|(_, count)| **count)
        .map(|(n, c)| ((*n).clone(), *c))
        .expect("a worker runs tasks");
    let veth = format!("pswv{}", lost.trim_start_matches("paassw"));
    let load = Load::start(&server, APP, 4, None);
    let cut = Instant::now();
    link(&veth, "down");
    let mut moved = Instant::now();
    eventually(
        "the lost node's tasks moved",
        Duration::from_secs(120),
        || {
            let procs = processes(&server);
            moved = Instant::now();
            procs.len() == 6
                && procs
                    .iter()
                    .all(|p| p["state"] == "up" && p["node"].as_str() != Some(lost.as_str()))
        },
    );
    std::thread::sleep(Duration::from_secs(10));
    let seen = load.finish();
    let after: Vec<&(Instant, String)> =
        seen.failures.iter().filter(|(at, _)| *at > moved).collect();
    let window = seen
        .failures
        .iter()
        .map(|(at, _)| at.duration_since(cut).as_secs_f64())
        .fold(0.0, f64::max);
    eprintln!(
        "node {lost} lost: tasks moved in {:.1}s; {} answered, {} failed (the last {window:.1}s after the cut), {} after the move",
        moved.duration_since(cut).as_secs_f64(),
        seen.ok,
        seen.failures.len(),
        after.len()
    );
    assert!(after.is_empty(), "failed after the move: {after:?}");
    let nodes = server.cli(&["nodes", "--json"]);
    let nodes: Vec<serde_json::Value> = serde_json::from_str(nodes.ok()).expect("nodes");
    let shown = nodes
        .iter()
        .find(|n| n["hostname"] == lost.as_str())
        .expect("the lost node is listed");
    assert_eq!(shown["state"], "down", "{shown}");

    let run = server.cli_in(
        repo.path(),
        common::ADMIN_TOKEN,
        &["run", "echo", "ran", "$PAAS_APP"],
    );
    assert_eq!(run.ok().trim(), format!("ran {APP}"));
    link(&veth, "up");
}

fn nodes_count(nodes: &[String]) -> BTreeMap<&String, usize> {
    let mut count = BTreeMap::new();
    for node in nodes {
        *count.entry(node).or_default() += 1;
    }
    count
}
