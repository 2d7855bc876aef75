//! An app on a swarm (`PAAS_SCHEDULER=swarm`), through the real CLI and git: the host
//! engine is the manager (`paas swarm:init`, with paas's registry) and three
//! `scripts/swarm-nodes` engines join with the command `paas nodes:add` prints. A real push
//! deploys; `ps` shows the node of each process; scaling to 6 spreads the tasks over the
//! nodes and every task answers through the router; a config change and a rollback under
//! load fail no request; a release that never answers fails and leaves the old tasks
//! serving; every task's output is in the app's log; an add-on stays on the
//! manager and serves its app's tasks on every node and no other app's; a server killed
//! with SIGKILL is followed by one that adopts the same tasks; a node cut off the network
//! loses its tasks to the others, shown `down`, and no request fails once they moved;
//! `run` works. Needs root. The host engine is left as it
//! was found, whatever fails (`Cluster`'s Drop).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::{Cluster, swarm_state};
use common::load::Load;
use common::{Server, eventually};

const APP: &str = "swapp";

/// `ps --json`'s processes of `app`.
fn processes_of(server: &Server, app: &str) -> Vec<serde_json::Value> {
    let out = server.cli(&["ps", "-a", app, "--json"]);
    let ps: serde_json::Value = serde_json::from_str(out.ok()).expect("ps as JSON");
    ps["processes"].as_array().cloned().unwrap_or_default()
}

fn processes(server: &Server) -> Vec<serde_json::Value> {
    processes_of(server, APP)
}

/// The node of each up web process of `APP`, once `web` of them are up and no other is
/// left.
fn settled_on(server: &Server, web: usize, timeout: Duration) -> Vec<String> {
    settled(server, APP, web, timeout)
}

fn settled(server: &Server, app: &str, web: usize, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let procs = processes_of(server, app);
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
    let server = Server::start_with(&[("PAAS_SCHEDULER", "swarm"), ("PAAS_BOOT_TIMEOUT", "15")]);
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

    task_ports_answer_the_router_only(&cluster);

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

    // A release whose web never answers fails its checks: the old tasks keep serving.
    std::fs::write(repo.path().join("Procfile"), "web: sleep 600\n").unwrap();
    server.commit_all(repo.path(), "never listens");
    let pushed = server.push(repo.path());
    assert_ne!(pushed.code, 0, "a release that never listens deployed");
    assert!(server.answer(APP, "/").contains("GREETING=\n"));
    settled_on(&server, 6, Duration::from_secs(30));
    let label = format!("label=paas.app={APP}");
    let services = common::docker(&["service", "ls", "--filter", &label, "--format", "{{.Name}}"]);
    assert_eq!(
        services.stdout.lines().count(),
        1,
        "the failed release's service is gone: {}",
        services.stdout
    );

    // Every task's output reaches the app's log, wherever it runs.
    eventually(
        "a request line of every dyno",
        Duration::from_secs(20),
        || {
            let logs = server.cli(&["logs", "-a", APP, "-n", "1500"]).stdout;
            (1..=6).all(|i| logs.contains(&format!("app[web.{i}]: request /")))
        },
    );

    addons_stay_on_the_manager_and_serve_their_app_on_every_node(&server);

    // The server killed by SIGKILL: the next one adopts the tasks on every node, which
    // kept running meanwhile.
    let mut server = server;
    let before: BTreeSet<String> = hostnames(&server, 60);
    server.kill9();
    let server = server.restart();
    let started = Instant::now();
    assert_eq!(settled_on(&server, 6, Duration::from_secs(60)).len(), 6);
    eprintln!("adopted 6 tasks in {:.1}s", started.elapsed().as_secs_f64());
    assert_eq!(hostnames(&server, 60), before, "the same tasks serve");

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

/// `curl http://ADDR/` from the network namespace `netns` (the host's when None): the
/// status, 0 when nothing answered within 3 s.
fn status_from(netns: Option<&str>, addr: &str) -> u16 {
    let mut command = Command::new("nsenter");
    if let Some(netns) = netns {
        command.arg(format!("--net={netns}"));
    }
    let out = command
        .args([
            "curl",
            "-s",
            "-m",
            "3",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg(format!("http://{addr}/"))
        .output()
        .expect("nsenter runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// A task's host-mode port on node 1 answers the manager (where the router runs) and
/// not node 2; the manager's own task ports answer no node. (Spread over four nodes, six
/// tasks leave none without one.)
fn task_ports_answer_the_router_only(cluster: &Cluster) {
    let port_on = |ps: &str| -> Option<String> {
        ps.lines()
            .filter(|l| l.contains("->5000/tcp"))
            .find_map(|l| {
                l.split("0.0.0.0:")
                    .nth(1)?
                    .split("->")
                    .next()
                    .map(str::to_owned)
            })
    };
    let format = ["ps", "--format", "{{.Ports}}"];
    let on_node1 = port_on(cluster.node_docker(1, &format).ok()).expect("a task on node 1");
    let node1 = format!("{}:{on_node1}", cluster.node(1, "ADDR"));
    let node2 = format!("/run/netns/{}", cluster.node(2, "NETNS"));
    assert_eq!(
        status_from(None, &node1),
        200,
        "the manager reaches {node1}"
    );
    assert_eq!(
        status_from(Some(&node2), &node1),
        0,
        "node 2 reaches {node1}"
    );
    let on_manager = port_on(common::docker(&format).ok()).expect("a task on the manager");
    let manager = format!("{}:{on_manager}", cluster.env["SWARM_HOST_ADDR"]);
    assert_eq!(
        status_from(None, &manager),
        200,
        "the router reaches {manager}"
    );
    assert_eq!(
        status_from(Some(&node2), &manager),
        0,
        "node 2 reaches {manager}"
    );
}

/// app.json gives `swshop` a Redis on its first deploy. The add-on stays on the manager
/// with its volume; its four tasks, on several nodes, all reach it over the app's overlay
/// network; another app's tasks cannot reach it.
fn addons_stay_on_the_manager_and_serve_their_app_on_every_node(server: &Server) {
    // An app whose add-on was attached before it had an overlay (made on one host, say):
    // the add-on joins the overlay when the first service makes it.
    let repo = server.fixture_repo("addon-app");
    server
        .cli_in(repo.path(), common::ADMIN_TOKEN, &["apps:create", "swshop"])
        .ok();
    common::docker(&["network", "rm", "paas-swshop"]).ok();
    let pushed = server.push(repo.path());
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    server.cli(&["ps:scale", "web=4", "-a", "swshop"]).ok();
    let nodes = settled(server, "swshop", 4, Duration::from_secs(120));
    assert!(
        nodes.iter().any(|n| n.starts_with("paassw")),
        "a task on a worker: {nodes:?}"
    );
    for i in 1..=12 {
        let (status, body) = server.get("swshop", "/count");
        assert_eq!((status, body.trim()), (200, format!("count: {i}").as_str()));
    }
    let redis = server.addon_of("swshop", "redis");
    let container = format!("paas-{}-addon-{redis}", server.instance());
    assert!(
        common::docker(&["inspect", &container]).code == 0,
        "the add-on runs on the manager's engine"
    );
    let reach = format!("/reach?host={redis}&port=6379");
    assert_eq!(
        server.answer("swshop", &reach),
        format!("reached {redis}:6379")
    );
    // Another app's tasks have their own overlay: the add-on's address on swshop's is out
    // of their reach.
    let on_overlay = common::docker(&[
        "inspect",
        "-f",
        "{{(index .NetworkSettings.Networks \"paas-swshop\").IPAddress}}",
        &container,
    ])
    .ok()
    .trim()
    .to_owned();
    let reach = format!("/reach?host={on_overlay}&port=6379");
    assert_eq!(
        server.answer("swshop", &reach),
        format!("reached {on_overlay}:6379")
    );
    server.deploy("addon-app", "swother");
    let other = server.answer("swother", &reach);
    assert!(other.starts_with("unreachable"), "{other}");
    // swother's own add-on, attached once its overlay was there, serves it.
    let own = server.addon_of("swother", "redis");
    let reach = format!("/reach?host={own}&port=6379");
    assert_eq!(
        server.answer("swother", &reach),
        format!("reached {own}:6379")
    );
}

fn nodes_count(nodes: &[String]) -> BTreeMap<&String, usize> {
    let mut count = BTreeMap::new();
    for node in nodes {
        *count.entry(node).or_default() += 1;
    }
    count
}
