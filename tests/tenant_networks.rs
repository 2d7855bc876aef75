//! Tenants against each other through the network and the formation: a member's one-off
//! process tries another app's containers, the control plane and the host; app.json and
//! ps:scale try to start more processes than an app may have; a hundred apps each get a
//! network of their own.

mod common;

use std::time::{Duration, Instant};

use common::{ADMIN_TOKEN, Server, docker};

/// The IPv4 address and gateway of the first container of `app`.
fn address_of(server: &Server, app: &str) -> (String, String) {
    let name = server
        .app_containers(app)
        .into_iter()
        .next()
        .expect("the app runs a container");
    let out = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.Gateway}}{{end}}",
        &name,
    ]);
    let text = out.ok().trim().to_owned();
    let (ip, gateway) = text.split_once(' ').expect("address and gateway");
    (ip.to_owned(), gateway.to_owned())
}

/// From a one-off process of `app` run by `token`: can it open a TCP connection to
/// `addr:port`? The probe itself prints OPEN or CLOSED, so a broken probe fails the test.
fn can_connect(server: &Server, token: &str, app: &str, addr: &str, port: u16) -> bool {
    let probe = format!(
        "timeout 5 bash -c '</dev/tcp/{addr}/{port}' 2>/dev/null && echo OPEN || echo CLOSED"
    );
    let out = server.cli_with_token(token, &["run", "-a", app, &probe]);
    let text = out.ok();
    assert!(
        text.contains("OPEN") || text.contains("CLOSED"),
        "the probe printed neither: {text}"
    );
    text.contains("OPEN")
}

#[test]
fn a_member_cannot_reach_another_apps_containers_or_the_host_from_a_one_off() {
    // Listening on every address, as a real server does: the bridge gateway is one.
    let server = Server::start_with(&[("PAAS_HTTP_ADDR", "0.0.0.0:0")]);
    let alice = server.create_member("alice");
    let _theirs = server.deploy("python-stdlib", "theirs");
    let _mine = server.deploy("python-stdlib", "mine");
    server.cli(&["access:add", "alice", "-a", "mine"]).ok();
    let (own_ip, gateway) = address_of(&server, "mine");
    let (their_ip, _) = address_of(&server, "theirs");
    assert_ne!(
        own_ip.rsplit_once('.').map(|p| p.0),
        their_ip.rsplit_once('.').map(|p| p.0),
        "the two apps share a subnet"
    );

    // Her own app's processes are on her network: the probe works.
    assert!(can_connect(&server, &alice, "mine", &own_ip, 5000));
    // Another tenant's container, the control plane on the gateway, the host's SSH.
    assert!(
        !can_connect(&server, &alice, "mine", &their_ip, 5000),
        "reached the other app's container at {their_ip}"
    );
    assert!(
        !can_connect(&server, &alice, "mine", &gateway, server.port),
        "reached the control plane at {gateway}:{}",
        server.port
    );
    let started = Instant::now();
    assert!(!can_connect(&server, &alice, "mine", &gateway, 22));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a blocked connection is refused at once, not left to time out"
    );
    // Both apps still answer through the router.
    assert_eq!(server.get("mine", "/").0, 200);
    assert_eq!(server.get("theirs", "/").0, 200);
}

#[test]
fn the_host_firewall_refuses_link_local_addresses_to_app_bridges() {
    // The rule is checked in place rather than by sending a packet to a metadata address
    // that is not ours to reach.
    let _server = Server::start();
    let rules = std::process::Command::new("iptables")
        .args(["-w", "-S", "PAAS-FORWARD"])
        .output()
        .expect("iptables runs");
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(
        rules.contains("-A PAAS-FORWARD -d 169.254.0.0/16 -j REJECT"),
        "{rules}"
    );
    let jumps = std::process::Command::new("iptables")
        .args(["-w", "-S", "DOCKER-USER"])
        .output()
        .expect("iptables runs");
    assert!(String::from_utf8_lossy(&jumps.stdout).contains("-i paas+ -j PAAS-FORWARD"));
}

#[test]
fn app_json_cannot_start_more_processes_than_an_app_may_have() {
    let server = Server::start_with(&[("PAAS_MAX_APP_PROCESSES", "3")]);
    let repo = server.fixture_repo("python-stdlib");
    std::fs::write(
        repo.path().join("app.json"),
        r#"{"formation": {"web": {"quantity": 1}, "worker": {"quantity": 100000}}}"#,
    )
    .unwrap();
    std::fs::write(
        repo.path().join("Procfile"),
        "web: python app.py\nworker: sleep 1000\n",
    )
    .unwrap();
    server.commit_all(repo.path(), "a hundred thousand workers");
    server
        .cli_in(repo.path(), ADMIN_TOKEN, &["apps:create", "greedy"])
        .ok();
    let pushed = server.push(repo.path());
    assert_ne!(pushed.code, 0, "the push was accepted:\n{}", pushed.stderr);
    assert!(
        pushed
            .stderr
            .contains("app.json formation: worker=100000 is too many"),
        "{}",
        pushed.stderr
    );
    assert!(server.app_containers("greedy").is_empty());

    // Within each type's cap but past the app's total.
    std::fs::write(
        repo.path().join("app.json"),
        r#"{"formation": {"web": {"quantity": 1}, "worker": {"quantity": 3}}}"#,
    )
    .unwrap();
    server.commit_all(repo.path(), "three workers");
    let pushed = server.push(repo.path());
    assert_ne!(pushed.code, 0);
    assert!(
        pushed
            .stderr
            .contains("greedy would run 4 processes: at most 3 per app"),
        "{}",
        pushed.stderr
    );
    assert!(server.app_containers("greedy").is_empty());

    let _repo = server.deploy("python-stdlib", "capped");
    server.cli(&["ps:scale", "-a", "capped", "web=3"]).ok();
    let refused = server.cli(&["ps:scale", "-a", "capped", "web=4"]);
    assert!(
        refused
            .fails()
            .contains("at most 3 per app (PAAS_MAX_APP_PROCESSES)"),
        "{}",
        refused.stderr
    );
}

#[tokio::test]
async fn a_hundred_apps_get_a_network_and_a_subnet_each() {
    let server = Server::start();
    let http = server.http();
    let started = Instant::now();
    for i in 0..99 {
        let created = http
            .post(server.api("/apps"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({ "name": format!("app{i}") }))
            .send()
            .await
            .unwrap();
        assert!(
            created.status().is_success(),
            "app{i}: {}",
            created.status()
        );
    }
    eprintln!("99 apps with their networks in {:?}", started.elapsed());
    // The hundredth deploys and answers.
    let _repo = server.deploy("python-stdlib", "app99");
    assert_eq!(server.get("app99", "/").0, 200);
    let label = format!("label=paas.managed={}", server.instance());
    let ids = docker(&["network", "ls", "-q", "--filter", &label]);
    let ids: Vec<&str> = ids.stdout.split_whitespace().collect();
    assert_eq!(ids.len(), 100);
    let subnets = docker(
        &[
            &[
                "network",
                "inspect",
                "-f",
                "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
            ][..],
            &ids[..],
        ]
        .concat(),
    );
    let mut subnets: Vec<&str> = subnets.stdout.lines().collect();
    subnets.sort();
    subnets.dedup();
    assert_eq!(subnets.len(), 100, "subnets are not all distinct");
    assert!(
        subnets
            .iter()
            .all(|s| s.starts_with("10.20") && s.ends_with("/24"))
    );

    // Destroying an app removes its network.
    server
        .cli(&["apps:destroy", "app99", "--confirm", "app99"])
        .ok();
    let left = docker(&["network", "ls", "-q", "--filter", &label]);
    assert_eq!(left.stdout.split_whitespace().count(), 99);
}

#[test]
fn a_build_cannot_reach_the_control_plane_either() {
    let server = Server::start_with(&[("PAAS_HTTP_ADDR", "0.0.0.0:0")]);
    let repo = server.fixture_repo("dockerfile");
    server
        .cli_in(repo.path(), ADMIN_TOKEN, &["apps:create", "prober"])
        .ok();
    let network = format!("paas-{}-prober", server.instance());
    let gateway = docker(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
        &network,
    ]);
    let gateway = gateway.ok().trim().to_owned();
    let dockerfile = std::fs::read_to_string(repo.path().join("Dockerfile")).unwrap();
    let probe = format!(
        "RUN (timeout 5 bash -c '</dev/tcp/{gateway}/{}' && echo PROBE-OPEN || echo PROBE-CLOSED) 2>/dev/null\n",
        server.port
    );
    let probed: String = dockerfile
        .lines()
        .map(|l| match l.starts_with("FROM") {
            true => format!("{l}\n{probe}"),
            false => format!("{l}\n"),
        })
        .collect();
    std::fs::write(repo.path().join("Dockerfile"), probed).unwrap();
    server.commit_all(repo.path(), "probe the control plane");
    let pushed = server.push(repo.path());
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    assert!(pushed.stderr.contains("PROBE-CLOSED"), "{}", pushed.stderr);
}
