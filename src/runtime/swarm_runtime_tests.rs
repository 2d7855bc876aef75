//! Unit tests of `swarm_runtime.rs`: tasks as processes, and where their ports are reached.

use super::*;

fn service() -> ReleaseService {
    ReleaseService {
        id: "svc".into(),
        name: "paas-shop-web-v3".into(),
        app: "shop".into(),
        release: 3,
        process_type: "web".into(),
        replicas: 2,
        image: "10.99.0.1:5443/paas/shop:b2@sha256:ab".into(),
    }
}

fn task(state: &str, desired: &str, exit_code: Option<i64>) -> ServiceTask {
    ServiceTask {
        id: "t".repeat(TASK_ID_LEN),
        service_id: "svc".into(),
        slot: 2,
        node_id: "n".into(),
        node_hostname: "paassw1".into(),
        node_addr: Some("10.99.0.11".parse().unwrap()),
        desired_state: desired.into(),
        state: state.into(),
        container_id: None,
        endpoint: (state == "running").then(|| "10.99.0.11:30001".parse().unwrap()),
        unresolved_ports: Vec::new(),
        exit_code,
        error: None,
        since: Some(1_700_000_000),
    }
}

#[test]
fn a_running_task_is_a_process_named_by_its_slot_on_its_node() {
    let instance = task_instance(&service(), &task("running", "running", None));
    assert_eq!(instance.state, InstanceState::Running);
    assert_eq!(instance.dyno(), "web.2");
    assert_eq!(instance.release, 3);
    assert_eq!(instance.node.as_deref(), Some("paassw1"));
    assert_eq!(instance.endpoint, Some("10.99.0.11:30001".parse().unwrap()));
    assert!(is_task(&instance.id));
    assert!(!is_task(&"c".repeat(64)));
}

#[test]
fn a_task_swarm_no_longer_wants_has_exited_even_while_its_node_says_running() {
    // A lost node's task: last seen running, now to be shut down.
    let lost = task_instance(&service(), &task("running", "shutdown", None));
    assert_eq!(
        lost.state,
        InstanceState::Exited {
            code: -1,
            oom_killed: false
        }
    );
    let crashed = task_instance(&service(), &task("failed", "shutdown", Some(3)));
    assert!(matches!(
        crashed.state,
        InstanceState::Exited { code: 3, .. }
    ));
    let pending = task_instance(&service(), &task("preparing", "running", None));
    assert_eq!(pending.state, InstanceState::Created);
}

#[test]
fn port_is_reached_at_the_published_endpoint_and_other_ports_of_a_task_not_at_all() {
    let instance = task_instance(&service(), &task("running", "running", None));
    assert_eq!(endpoint_of(&instance, 5000, 5000), instance.endpoint);
    assert_eq!(endpoint_of(&instance, 9000, 5000), None);
    let mut one_off = instance.clone();
    one_off.endpoint = None;
    one_off.ip = Some("172.18.0.5".parse().unwrap());
    assert_eq!(
        endpoint_of(&one_off, 9000, 5000),
        Some("172.18.0.5:9000".parse().unwrap())
    );
}
