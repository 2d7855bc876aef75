//! Unit tests of `swarm_service_spec.rs`: names, the engine spec, the published
//! port of a task's status, tasks and services read back from the engine's JSON.

use super::*;

fn port(target: i64, published: i64, mode: &str) -> EndpointPortConfig {
    serde_json::from_value(serde_json::json!({
        "Protocol": "tcp", "TargetPort": target, "PublishedPort": published, "PublishMode": mode
    }))
    .unwrap()
}

fn spec() -> ReleaseServiceSpec {
    ReleaseServiceSpec {
        app: "shop".into(),
        release: 7,
        process_type: "web".into(),
        image: "10.99.0.1:5443/paas/shop:b3".into(),
        argv: Some(vec!["/cnb/lifecycle/launcher".into(), "web".into()]),
        user: Some("app".into()),
        env: BTreeMap::from([("DATABASE_URL".into(), "postgres://x".into())]),
        replicas: 6,
        memory_mb: 512,
        port: 5000,
        stop_grace: Duration::from_secs(10),
    }
}

#[test]
fn names_follow_the_release() {
    assert_eq!(service_name("shop", "web", 7), "paas-shop-web-v7");
    assert_eq!(overlay_name("shop"), "paas-shop");
    assert_eq!(
        pinned("r:5443/paas/shop:b3", "sha256:ab"),
        "r:5443/paas/shop:b3@sha256:ab"
    );
    assert_eq!(pinned("r/x:1@sha256:cd", "sha256:ab"), "r/x:1@sha256:cd");
}

#[test]
fn the_port_is_known_when_both_listeners_agree() {
    let ports = [port(5000, 30001, "host"), port(5000, 30001, "host")];
    assert_eq!(published_port(&ports, 5000), Ok(30001));
    assert_eq!(
        published_port(&[port(5000, 30002, "host")], 5000),
        Ok(30002)
    );
}

#[test]
fn listeners_that_disagree_are_not_guessed() {
    // The first entry is not necessarily IPv4: the engine gives no family.
    let ports = [port(5000, 30002, "host"), port(5000, 30001, "host")];
    assert_eq!(published_port(&ports, 5000), Err(vec![30001, 30002]));
}

#[test]
fn other_targets_ingress_ports_and_unassigned_ports_do_not_count() {
    let ports = [
        port(8080, 30005, "host"),
        port(5000, 30006, "ingress"),
        port(5000, 0, "host"),
    ];
    assert_eq!(published_port(&ports, 5000), Err(vec![]));
    let udp: EndpointPortConfig = serde_json::from_value(serde_json::json!({
        "Protocol": "udp", "TargetPort": 5000, "PublishedPort": 30007, "PublishMode": "host"
    }))
    .unwrap();
    assert_eq!(
        published_port(&[udp, port(5000, 30008, "host")], 5000),
        Ok(30008)
    );
}

#[test]
fn the_ipv4_binding_of_a_container_is_the_one_on_0_0_0_0() {
    let ports: HashMap<String, Option<Vec<bollard::models::PortBinding>>> =
        serde_json::from_value(serde_json::json!({
            "5000/tcp": [
                {"HostIp": "::", "HostPort": "30010"},
                {"HostIp": "0.0.0.0", "HostPort": "30011"}
            ]
        }))
        .unwrap();
    assert_eq!(ipv4_binding(&ports, 5000), Some(30011));
    assert_eq!(ipv4_binding(&ports, 8080), None);
}

#[test]
fn the_service_spec_is_the_design() {
    let body = service_spec(&spec(), "inst1", "r:5443/paas/shop:b3@sha256:ab");
    let json = serde_json::to_value(&body).unwrap();
    assert_eq!(json["Name"], "paas-shop-web-v7");
    for (k, v) in [
        ("paas.managed", "inst1"),
        ("paas.instance", "inst1"),
        ("paas.app", "shop"),
        ("paas.release", "7"),
        ("paas.type", "web"),
    ] {
        assert_eq!(json["Labels"][k], v, "{k}");
    }
    assert_eq!(json["Mode"]["Replicated"]["Replicas"], 6);
    assert_eq!(json["UpdateConfig"]["Order"], "start-first");
    assert_eq!(json["EndpointSpec"]["Mode"], "dnsrr");
    let published = &json["EndpointSpec"]["Ports"][0];
    assert_eq!(published["TargetPort"], 5000);
    assert_eq!(published["PublishMode"], "host");
    assert!(published.get("PublishedPort").is_none(), "{published}");
    let task = &json["TaskTemplate"];
    assert_eq!(task["Networks"][0]["Target"], "paas-shop");
    assert_eq!(task["RestartPolicy"]["Condition"], "on-failure");
    assert_eq!(
        task["Resources"]["Limits"]["MemoryBytes"],
        512 * 1024 * 1024
    );
    let container = &task["ContainerSpec"];
    assert_eq!(container["Image"], "r:5443/paas/shop:b3@sha256:ab");
    assert_eq!(container["Command"][1], "web");
    assert_eq!(container["User"], "app");
    assert_eq!(container["Init"], true);
    assert_eq!(container["StopGracePeriod"], 10_000_000_000i64);
    let env: Vec<&str> = container["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(env, ["DATABASE_URL=postgres://x", "PORT=5000"]);
}

#[test]
fn a_task_gets_its_nodes_address_and_port_only_when_running() {
    let nodes = HashMap::from([(
        "n2".to_owned(),
        ("paassw2".to_owned(), Some("10.99.0.12".parse().unwrap())),
    )]);
    let task = |state: &str| -> Task {
        serde_json::from_value(serde_json::json!({
            "ID": "t1", "Slot": 3, "NodeID": "n2", "DesiredState": "running",
            "Status": {
                "State": state,
                "ContainerStatus": {"ContainerID": "c0ffee"},
                "PortStatus": {"Ports": [
                    {"Protocol": "tcp", "TargetPort": 5000, "PublishedPort": 30020, "PublishMode": "host"},
                    {"Protocol": "tcp", "TargetPort": 5000, "PublishedPort": 30020, "PublishMode": "host"}
                ]}
            }
        }))
        .unwrap()
    };
    let running = service_task(task("running"), &nodes, 5000);
    assert_eq!(running.slot, 3);
    assert_eq!(running.node_hostname, "paassw2");
    assert_eq!(running.container_id.as_deref(), Some("c0ffee"));
    assert_eq!(running.endpoint, Some("10.99.0.12:30020".parse().unwrap()));
    assert!(running.is_running());
    let starting = service_task(task("starting"), &nodes, 5000);
    assert_eq!((starting.endpoint, starting.is_running()), (None, false));
}

#[test]
fn a_manager_reporting_0_0_0_0_is_found_at_its_raft_address() {
    let node: Node = serde_json::from_value(serde_json::json!({
        "ID": "m", "Description": {"Hostname": "vm"},
        "Status": {"State": "ready", "Addr": "0.0.0.0"},
        "ManagerStatus": {"Leader": true, "Addr": "10.99.0.1:2377"}
    }))
    .unwrap();
    assert_eq!(
        node_place(&node),
        ("vm".to_owned(), Some("10.99.0.1".parse().unwrap()))
    );
}

#[test]
fn only_this_servers_services_are_read_back() {
    let body = service_spec(&spec(), "inst1", "img@sha256:ab");
    let service = Service {
        id: Some("s1".into()),
        spec: Some(body),
        ..Default::default()
    };
    let read = release_service(service.clone(), "inst1").unwrap();
    assert_eq!(
        (read.name.as_str(), read.release, read.process_type.as_str()),
        ("paas-shop-web-v7", 7, "web")
    );
    assert_eq!((read.replicas, read.image.as_str()), (6, "img@sha256:ab"));
    assert_eq!(release_service(service, "other"), None);
}
