//! A release's process type as a Swarm service, through `runtime::SwarmServices` against
//! the real engines: the host engine is the manager (`paas swarm:init` on a real server,
//! which also runs paas's registry), three `scripts/swarm-nodes` engines join with the
//! command `paas nodes:add` prints (join and registry trust). A busybox httpd image pushed
//! to paas's registry becomes a 6-task dnsrr service on the app's overlay network; every
//! task answers an HTTP GET from the host at the endpoint `tasks` gives it (NODE_ADDR:port)
//! with its own hostname; an image never pushed and a service of the same name that is not
//! this server's are refused; then it is scaled to 2 and removed. Needs root. The host engine
//! is left as it was found, whatever fails (`Cluster`'s Drop).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, swarm_state};
use common::{Run, Server, docker, eventually};
use paas::runtime::{
    Docker, ReleaseServiceSpec, ServiceTask, SubnetPool, SwarmServiceError, SwarmServices,
    service_name,
};

const APP: &str = "swsvc";

/// `GET /` at `addr` over HTTP/1.0: the body.
fn get(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default())
}

fn running(tasks: &[ServiceTask]) -> Vec<&ServiceTask> {
    tasks
        .iter()
        .filter(|t| t.desired_state == "running" && t.is_running())
        .collect()
}

/// The host engine made a manager by a real server (which then runs paas's registry), the
/// three nodes joined, and the cluster's busybox image pushed to the registry as a release
/// image would be (labelled, so `down` removes it and this tag): (server, image).
fn manager_with_registry(cluster: &Cluster) -> (Server, String) {
    let server = Server::start();
    let registry = cluster.manage(&server);
    let image = format!("{registry}/paas/{APP}:b1");
    docker(&["tag", &cluster.env["SWARM_IMAGE"], &image]).ok();
    docker(&["push", "-q", &image]).ok();
    (server, image)
}

/// `SwarmServices` on the host engine, as `server`'s instance.
struct Services {
    rt: tokio::runtime::Runtime,
    api: SwarmServices,
}

impl Services {
    fn new(server: &Server) -> Services {
        let rt = tokio::runtime::Runtime::new().expect("tokio");
        let pool = SubnetPool {
            pool: "10.200.0.0/15".parse().expect("pool"),
            prefix: 24,
        };
        let engine = rt
            .block_on(Docker::connect(None, &server.instance(), pool))
            .expect("the host engine");
        Services {
            rt,
            api: SwarmServices::new(engine),
        }
    }

    fn tasks(&self, name: &str) -> Vec<ServiceTask> {
        self.rt.block_on(self.api.tasks(name, 5000)).expect("tasks")
    }

    fn count(&self) -> usize {
        self.rt
            .block_on(self.api.services_of(APP))
            .expect("services")
            .len()
    }
}

/// A web process type of release 1: busybox httpd on `PORT`, answering its hostname.
fn web_spec(image: &str) -> ReleaseServiceSpec {
    ReleaseServiceSpec {
        app: APP.into(),
        release: 1,
        process_type: "web".into(),
        image: image.to_owned(),
        argv: Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            "hostname > /www/index.html && exec busybox httpd -f -p \"$PORT\" -h /www".into(),
        ]),
        user: None,
        env: BTreeMap::from([("GREETING".into(), "hi".into())]),
        replicas: 6,
        memory_mb: 64,
        port: 5000,
        stop_grace: Duration::from_secs(1),
    }
}

/// Six running tasks in slots 1..=6 on two nodes or more; each answers at its own
/// endpoint with its own hostname (the first 12 characters of its container's ID), so no
/// other listener is mistaken for it.
fn every_task_answers(tasks: &[ServiceTask]) {
    let live = running(tasks);
    let nodes: HashSet<&str> = live.iter().map(|t| t.node_hostname.as_str()).collect();
    assert!(nodes.len() >= 2, "all tasks on {nodes:?}");
    let mut slots: Vec<u64> = live.iter().map(|t| t.slot).collect();
    slots.sort_unstable();
    assert_eq!(slots, [1, 2, 3, 4, 5, 6]);
    for task in &live {
        let endpoint = task
            .endpoint
            .unwrap_or_else(|| panic!("no endpoint for {task:?}"));
        assert_eq!(Some(endpoint.ip()), task.node_addr, "{task:?}");
        let container = task.container_id.as_deref().expect("container id");
        let body = get(endpoint).unwrap_or_else(|e| panic!("GET {endpoint} ({task:?}): {e}"));
        assert_eq!(body.trim(), &container[..12], "{endpoint} {task:?}");
    }
}

/// An image the registry does not have is refused before any service is made; a service
/// of a paas name that this server did not make is neither taken over nor removed.
fn refusals(services: &Services, spec: &ReleaseServiceSpec, busybox_id: &str) {
    let missing = ReleaseServiceSpec {
        image: spec.image.replace(":b1", ":b99"),
        release: 2,
        ..spec.clone()
    };
    let refused = services
        .rt
        .block_on(services.api.create_release_service(&missing))
        .expect_err("a service of an image never pushed");
    assert!(
        matches!(refused, SwarmServiceError::NotInRegistry { .. }),
        "{refused}"
    );
    let foreign = service_name(APP, "worker", 1);
    docker(&[
        "service",
        "create",
        "-q",
        "--detach",
        "--replicas",
        "0",
        "--name",
        &foreign,
        busybox_id,
        "/bin/busybox",
        "sleep",
        "1d",
    ])
    .ok();
    let worker = ReleaseServiceSpec {
        process_type: "worker".into(),
        ..spec.clone()
    };
    let rt = &services.rt;
    for refused in [
        rt.block_on(services.api.create_release_service(&worker)),
        rt.block_on(services.api.remove(&foreign))
            .map(|()| String::new()),
    ] {
        let refused = refused.expect_err("someone else's service");
        assert!(
            matches!(refused, SwarmServiceError::NotOurs(_)),
            "{refused}"
        );
    }
    docker(&["service", "inspect", &foreign]).ok();
    docker(&["service", "rm", &foreign]).ok();
    assert_eq!(services.count(), 1);
}

/// No container of service `name` on any engine of the cluster.
fn no_container_of(cluster: &Cluster, name: &str) -> bool {
    let filter = format!("label=com.docker.swarm.service.name={name}");
    let none = |run: Run| run.ok().trim().is_empty();
    (1..=3).all(|i| none(cluster.node_docker(i, &["ps", "-aq", "--filter", &filter])))
        && none(docker(&["ps", "-aq", "--filter", &filter]))
}

#[test]
fn a_release_service_runs_its_tasks_across_nodes_each_reachable_at_its_node_port() {
    assert_eq!(
        swarm_state(),
        "inactive",
        "the host engine is already in a swarm; leave it first (docker swarm leave --force)"
    );
    let mut cluster = Cluster::up(3);
    let (server, image) = manager_with_registry(&cluster);
    let services = Services::new(&server);
    let spec = web_spec(&image);
    let name = service_name(APP, "web", 1);
    let rt = &services.rt;

    let started = Instant::now();
    let id = rt
        .block_on(services.api.create_release_service(&spec))
        .expect("service created");
    eventually("6 tasks running", Duration::from_secs(120), || {
        running(&services.tasks(&name)).len() == 6
    });
    eprintln!(
        "create to 6 tasks running: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let again = rt
        .block_on(services.api.create_release_service(&spec))
        .expect("created again");
    assert_eq!(again, id, "a second create made another service");
    every_task_answers(&services.tasks(&name));
    let listed = rt
        .block_on(services.api.services_of(APP))
        .expect("services");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0].id.as_str(), listed[0].replicas),
        (id.as_str(), 6)
    );
    assert!(
        listed[0].image.starts_with(&format!("{image}@sha256:")),
        "{listed:?}"
    );
    let net = docker(&[
        "network",
        "inspect",
        "-f",
        "{{.Driver}} {{.Attachable}}",
        &format!("paas-{APP}"),
    ]);
    assert_eq!(net.ok().trim(), "overlay true");
    refusals(&services, &spec, &cluster.env["SWARM_IMAGE_ID"]);

    rt.block_on(services.api.scale(&name, 2)).expect("scaled");
    eventually("2 tasks left", Duration::from_secs(60), || {
        let tasks = services.tasks(&name);
        let desired = tasks.iter().filter(|t| t.desired_state == "running");
        running(&tasks).len() == 2 && desired.count() == 2
    });

    rt.block_on(services.api.remove(&name)).expect("removed");
    eventually("no task left", Duration::from_secs(60), || {
        services.tasks(&name).is_empty()
    });
    assert_eq!(services.count(), 0);
    eventually("no container left", Duration::from_secs(60), || {
        no_container_of(&cluster, &name)
    });
    rt.block_on(services.api.remove_app_network(APP))
        .expect("network removed");
    let gone = docker(&["network", "inspect", &format!("paas-{APP}")]);
    assert_ne!(gone.code, 0, "the overlay network is still there");

    drop(server);
    let down = cluster.down();
    assert_eq!(down.code, 0, "swarm-nodes down failed: {}", down.stderr);
    assert_eq!(swarm_state(), "inactive");
}
