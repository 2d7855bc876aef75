//! Rollouts belong to the server: a client killed 0.2 s into a change leaves no release
//! pending and no container of a half-started release; `--no-wait` returns at once and
//! `releases:info` shows the rollout in progress; a change queued behind a newer one is
//! superseded; none of it fails a request under load.

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::load::Load;
use common::{ADMIN_TOKEN, Server, docker, eventually, paas_bin};

/// The CLI as the admin, started and left running.
fn spawn_cli(server: &Server, args: &[&str]) -> Child {
    server
        .command(paas_bin())
        .env("PAAS_TOKEN", ADMIN_TOKEN)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("paas runs")
}

/// Kills the CLI running `args` as soon as the server has taken the change (`taken`),
/// mid-rollout, as a Ctrl-C or a closed lid would.
fn kill_once(server: &Server, args: &[&str], taken: impl Fn() -> bool) {
    let mut child = spawn_cli(server, args);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !taken() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        matches!(child.try_wait(), Ok(None)),
        "the CLI ended before it could be killed: the test shows nothing"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills the CLI once the server made a new release of `app`.
fn kill_after_new_release(server: &Server, app: &str, args: &[&str]) {
    let before = releases(server, app).len();
    kill_once(server, args, || releases(server, app).len() > before);
}

fn releases(server: &Server, app: &str) -> Vec<serde_json::Value> {
    let out = server.cli(&["releases", "-a", app, "--json"]);
    serde_json::from_str(out.ok()).expect("releases as JSON")
}

fn ps(server: &Server, app: &str) -> serde_json::Value {
    let out = server.cli(&["ps", "-a", app, "--json"]);
    serde_json::from_str(out.ok()).expect("ps as JSON")
}

/// Every release has ended, the app's containers all belong to the current release, and
/// as many of them run as the formation says.
fn assert_settled(server: &Server, app: &str, web: usize) {
    eventually("no release pending", Duration::from_secs(90), || {
        releases(server, app)
            .iter()
            .all(|r| r["state"] != "pending")
    });
    let current = releases(server, app)
        .into_iter()
        .find(|r| r["current"] == true)
        .expect("a current release");
    let version = current["version"].as_i64().unwrap().to_string();
    eventually(
        "only the current release's containers",
        Duration::from_secs(60),
        || {
            let labels = docker(&[
                "ps",
                "--filter",
                &format!("label=paas.managed={}", server.instance()),
                "--filter",
                &format!("label=paas.app={app}"),
                "--format",
                "{{.Label \"paas.release\"}} {{.Label \"paas.kind\"}}",
            ]);
            let lines: Vec<&str> = labels
                .stdout
                .lines()
                .filter(|l| l.ends_with(" process"))
                .collect();
            lines.len() == web && lines.iter().all(|l| l.starts_with(&format!("{version} ")))
        },
    );
    eventually("every process up", Duration::from_secs(60), || {
        let processes = ps(server, app)["processes"].as_array().unwrap().clone();
        processes.len() == web && processes.iter().all(|p| p["state"] == "up")
    });
}

#[test]
fn a_client_killed_during_a_change_never_leaves_a_rollout_half_done() {
    let server = Server::start();
    let _repo = server.deploy("env-echo", "steady");
    server.cli(&["config:set", "-a", "steady", "A=1"]).ok();

    kill_after_new_release(&server, "steady", &["config:set", "-a", "steady", "SLOW=1"]);
    assert_settled(&server, "steady", 1);
    let body = server.get("steady", "/").1;
    assert!(
        body.contains("PAAS_RELEASE=v4"),
        "{body}\n{:?}",
        releases(&server, "steady")
    );
    let config = server.cli(&["config", "-a", "steady", "--json"]);
    assert!(config.ok().contains("SLOW"));

    kill_after_new_release(&server, "steady", &["rollback", "-a", "steady"]);
    assert_settled(&server, "steady", 1);
    let current = releases(&server, "steady")
        .into_iter()
        .find(|r| r["current"] == true)
        .unwrap();
    assert_eq!(current["description"], "Rollback to v3");

    kill_once(&server, &["ps:scale", "-a", "steady", "web=2"], || {
        ps(&server, "steady")["formation"][0]["quantity"] == 2
    });
    assert_settled(&server, "steady", 2);

    let before = server.app_containers("steady");
    kill_once(&server, &["ps:restart", "-a", "steady"], || {
        server.app_containers("steady") != before
    });
    assert_settled(&server, "steady", 2);
    assert_eq!(server.get("steady", "/").0, 200);
}

#[test]
fn no_wait_returns_at_once_and_releases_info_shows_the_rollout() {
    let server = Server::start();
    let _repo = server.deploy("env-echo", "later");
    let started = Instant::now();
    let queued = server.cli(&["config:set", "-a", "later", "GREETING=hi", "--no-wait"]);
    let text = queued.ok().to_owned();
    assert!(text.contains("queued, v3 is rolling out"), "{text}");
    let info = server.cli(&["releases:info", "v3", "-a", "later"]);
    let info = info.ok().to_owned();
    assert!(
        info.contains("Rolling out") || info.contains("succeeded"),
        "{info}"
    );
    if info.contains("State:") && info.contains("pending") {
        assert!(info.contains("Starting processes of v3"), "{info}");
    }
    eprintln!("--no-wait answered in {:?}", started.elapsed());
    eventually("v3 serves", Duration::from_secs(90), || {
        server.get("later", "/").1.contains("GREETING=hi")
    });
    assert_settled(&server, "later", 1);
}

#[test]
fn a_release_queued_behind_a_newer_one_is_superseded_and_the_newest_wins() {
    let server = Server::start();
    let _repo = server.deploy("env-echo", "busy");
    for value in ["one", "two", "three"] {
        server
            .cli(&[
                "config:set",
                "-a",
                "busy",
                &format!("GREETING={value}"),
                "--no-wait",
            ])
            .ok();
    }
    assert_settled(&server, "busy", 1);
    let states: Vec<String> = releases(&server, "busy")
        .iter()
        .map(|r| format!("v{} {}", r["version"], r["state"].as_str().unwrap()))
        .collect();
    assert!(states.contains(&"v5 succeeded".to_owned()), "{states:?}");
    assert!(states.contains(&"v4 superseded".to_owned()), "{states:?}");
    assert!(server.get("busy", "/").1.contains("GREETING=three"));
}

#[test]
fn changes_with_their_clients_killed_fail_no_request_under_load() {
    let server = Server::start();
    let _repo = server.deploy("env-echo", "loaded");
    let load = Load::start(&server, "loaded", 4, None);
    for i in 0..3 {
        let args = ["config:set", "-a", "loaded", &format!("N={i}")];
        kill_after_new_release(&server, "loaded", &args);
        assert_settled(&server, "loaded", 1);
    }
    let seen = load.finish();
    eprintln!(
        "{} requests answered, {} failed",
        seen.ok,
        seen.failures.len()
    );
    assert!(
        seen.ok > 100,
        "too few requests to mean anything: {}",
        seen.ok
    );
    assert!(seen.failures.is_empty(), "{:?}", seen.failures);
}
