//! The scheduler against the real Docker engine: rollouts, scaling, crash restarts,
//! adoption after the server dies, one-off processes and logs.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::{ADMIN_TOKEN, Server, docker, eventually};

#[test]
fn config_changes_and_rollbacks_roll_out_with_the_new_env_visible_in_the_app() {
    let server = Server::start();
    server.deploy("env-echo", "envs");
    let (_, body) = server.get("envs", "/");
    assert!(body.contains("PAAS_PROCESS=web.1"), "{body}");
    assert!(body.contains("PORT=5000"), "{body}");
    let set = server.cli(&["config:set", "GREETING=hello", "-a", "envs"]);
    assert!(set.ok().contains("done, v3"), "{}", set.stdout);
    let (_, body) = server.get("envs", "/");
    assert!(body.contains("GREETING=hello"), "{body}");
    assert!(body.contains("PAAS_RELEASE=v3"), "{body}");
    server.cli(&["rollback", "v2", "-a", "envs"]).ok();
    let (_, body) = server.get("envs", "/");
    assert!(
        body.contains("GREETING=\n"),
        "rolled back to v2's config: {body}"
    );
    assert!(body.contains("PAAS_RELEASE=v4"), "{body}");
    assert_eq!(
        server.app_containers("envs").len(),
        1,
        "old containers are gone"
    );
    // v1 predates the first build: rolling back to it brings back its config only.
    server
        .cli(&["config:set", "GREETING=again", "-a", "envs"])
        .ok();
    server.cli(&["rollback", "v1", "-a", "envs"]).ok();
    let (status, body) = server.get("envs", "/");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("GREETING=\n"), "{body}");
    assert!(body.contains("PAAS_RELEASE=v6"), "{body}");
}

#[test]
fn scaling_converges_without_restarting_unchanged_processes() {
    let server = Server::start();
    server.deploy("env-echo", "scaly");
    let first = server.app_containers("scaly");
    assert_eq!(first.len(), 1);
    server.cli(&["ps:scale", "web=3", "-a", "scaly"]).ok();
    let three = server.app_containers("scaly");
    assert_eq!(three.len(), 3);
    assert!(three.contains(&first[0]), "web.1 was not restarted");
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..30 {
        let (_, body) = server.get("scaly", "/");
        seen.extend(
            body.lines()
                .filter(|l| l.starts_with("PAAS_PROCESS="))
                .map(str::to_owned),
        );
    }
    assert_eq!(seen.len(), 3, "requests reach all three: {seen:?}");
    server.cli(&["ps:scale", "web=0", "-a", "scaly"]).ok();
    assert!(server.app_containers("scaly").is_empty());
    let (status, body) = server.get("scaly", "/");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("ps:scale web=1"),
        "the page says how to start one: {body}"
    );
    server
        .cli(&["ps:scale", "web=2", "worker=1", "-a", "scaly"])
        .ok();
    assert_eq!(server.app_containers("scaly").len(), 3);
    let ps = server.cli(&["ps", "-a", "scaly"]);
    assert!(ps.ok().contains("worker.1"), "{}", ps.stdout);
    assert_eq!(server.get("scaly", "/").0, 200);
}

#[test]
fn a_killed_web_process_comes_back_and_is_out_of_rotation_meanwhile() {
    let server = Server::start();
    server.deploy("env-echo", "phoenix");
    server.cli(&["ps:scale", "web=2", "-a", "phoenix"]).ok();
    let victim = server.app_containers("phoenix").into_iter().next().unwrap();
    docker(&["kill", &victim]).ok();
    // While it is down, every request still succeeds on the other one.
    for _ in 0..20 {
        assert_eq!(server.get("phoenix", "/").0, 200);
    }
    eventually(
        "the killed process to be restarted",
        Duration::from_secs(30),
        || {
            docker(&["inspect", "-f", "{{.State.Running}}", &victim])
                .stdout
                .trim()
                == "true"
                && server
                    .cli(&["ps", "-a", "phoenix"])
                    .stdout
                    .matches(" up ")
                    .count()
                    == 2
        },
    );
    let ps = server.cli(&["ps", "-a", "phoenix"]);
    assert!(
        ps.ok().lines().any(|l| l.trim_end().ends_with('1')),
        "one restart counted: {}",
        ps.stdout
    );
    let logs = server.cli(&["logs", "-a", "phoenix", "-n", "200"]);
    assert!(logs.ok().contains("crashed, exit 137"), "{}", logs.stdout);
}

#[test]
fn apps_keep_answering_when_the_server_is_killed_and_are_adopted_on_restart() {
    let mut server = Server::start();
    server.deploy("env-echo", "one");
    server.deploy("python-stdlib", "two");
    let before: Vec<String> = [server.app_containers("one"), server.app_containers("two")].concat();
    let port = server.port;
    server.kill9();
    // No server: the containers still run (the router is gone with the server, so ask them
    // directly).
    for name in &before {
        let running = docker(&["inspect", "-f", "{{.State.Running}}", name]);
        assert_eq!(running.stdout.trim(), "true", "{name} kept running");
    }
    let server = server.restart();
    assert_ne!(server.port, 0);
    let _ = port;
    assert_eq!(server.get("one", "/").0, 200);
    assert_eq!(server.get("two", "/").0, 200);
    let after: Vec<String> = [server.app_containers("one"), server.app_containers("two")].concat();
    assert_eq!(before, after, "adopted, not restarted");
}

#[test]
fn a_release_whose_web_never_gets_healthy_fails_and_the_old_one_keeps_serving() {
    let server = Server::start_with(&[("PAAS_BOOT_TIMEOUT", "15")]);
    let repo = server.deploy("python-stdlib", "fragile");
    let broken = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/unhealthy");
    for entry in std::fs::read_dir(broken).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), repo.path().join(entry.file_name())).unwrap();
    }
    std::fs::remove_file(repo.path().join("app.py")).ok();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/unhealthy/app.py"),
        repo.path().join("app.py"),
    )
    .unwrap();
    server.commit_all(repo.path(), "break it");
    let pushed = server.push(repo.path());
    assert_ne!(pushed.code, 0);
    assert!(pushed.stderr.contains("deploy failed"), "{}", pushed.stderr);
    assert!(
        pushed.stderr.contains("exited with code 1"),
        "{}",
        pushed.stderr
    );
    assert!(
        pushed.stderr.contains("ModuleNotFoundError"),
        "{}",
        pushed.stderr
    );
    let (status, body) = server.get("fragile", "/");
    assert_eq!(status, 200);
    assert!(body.contains("python-stdlib ok"), "{body}");
    let releases = server.cli(&["releases", "-a", "fragile"]);
    assert!(releases.ok().contains("failed"), "{}", releases.stdout);
    assert!(
        releases.stdout.contains("Current: v2"),
        "{}",
        releases.stdout
    );
}

#[test]
fn a_failing_release_phase_aborts_the_deploy() {
    let server = Server::start();
    let (_repo, pushed) = server.push_new_app("release-phase-fails", "phase");
    assert_ne!(pushed.code, 0);
    assert!(
        pushed
            .stderr
            .contains("release command failed with exit code 3"),
        "{}",
        pushed.stderr
    );
    assert!(
        pushed.stderr.contains("migration failed"),
        "its output reached the push: {}",
        pushed.stderr
    );
    assert!(server.app_containers("phase").is_empty());
}

#[test]
fn a_worker_only_app_runs_its_worker_and_has_no_web() {
    let server = Server::start();
    server.deploy("worker-only", "worky");
    server.cli(&["ps:scale", "worker=1", "-a", "worky"]).ok();
    assert_eq!(server.app_containers("worky").len(), 1);
    eventually(
        "the worker's output in the logs",
        Duration::from_secs(20),
        || {
            server
                .cli(&["logs", "-a", "worky"])
                .stdout
                .contains("app[worker.1]: worker-only tick")
        },
    );
    let (status, body) = server.get("worky", "/");
    assert_eq!(status, 503, "{body}");
}

#[test]
fn paas_run_streams_output_and_exits_with_the_command_s_code() {
    let server = Server::start();
    let repo = server.deploy("env-echo", "runner");
    let ok = server.cli_in(
        repo.path(),
        ADMIN_TOKEN,
        &["run", "echo", "hello", "$PAAS_APP"],
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.contains("hello runner"), "{}", ok.stdout);
    let failed = server.cli_in(repo.path(), ADMIN_TOKEN, &["run", "exit 7"]);
    assert_eq!(failed.code, 7);
    let detached = server.cli_in(repo.path(), ADMIN_TOKEN, &["run", "--detach", "sleep", "1"]);
    assert!(detached.ok().contains("up, run."), "{}", detached.stdout);
}

#[test]
fn paas_run_takes_stdin_keeps_stderr_apart_and_gives_a_terminal_to_a_terminal() {
    let server = Server::start();
    let repo = server.deploy("env-echo", "talker");
    let paas = common::paas_bin();

    let mut piped = server
        .command(&paas)
        .current_dir(repo.path())
        .env("PAAS_TOKEN", ADMIN_TOKEN)
        .args(["run", "read name; echo hello $name; echo oops >&2; exit 3"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    piped
        .stdin
        .take()
        .unwrap()
        .write_all(b"from-a-pipe\n")
        .unwrap();
    let out = piped.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert_eq!(stdout, "hello from-a-pipe\n", "stderr: {stderr}");
    assert!(stderr.contains("oops"), "{stderr}");

    // `script` gives paas a terminal, as a person at a shell would have.
    let line = format!(
        "{} run 'tty; stty size; read word; echo got:$word'",
        paas.display()
    );
    let mut typed = server
        .command("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(repo.path())
        .env("PAAS_TOKEN", ADMIN_TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut keys = typed.stdin.take().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    keys.write_all(b"typed\r").unwrap();
    let out = typed.wait_with_output().unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("/dev/pts/"), "a terminal: {screen}");
    assert!(screen.contains("24 80"), "of a known size: {screen}");
    assert!(screen.contains("got:typed"), "{screen}");
    assert_eq!(out.status.code(), Some(0), "{screen}");
}

#[test]
fn a_run_whose_caller_or_server_goes_away_is_stopped_and_removed() {
    let mut server = Server::start();
    let repo = server.deploy("env-echo", "leaver");
    let mut caller = attached_run(&server, repo.path(), "sleep 600");
    let one_offs = || one_off_containers(&server);
    eventually("the one-off running", Duration::from_secs(30), || {
        !one_offs().trim().is_empty()
    });
    caller.kill().unwrap();
    caller.wait().unwrap();
    eventually("the one-off removed", Duration::from_secs(30), || {
        one_offs().trim().is_empty()
    });
    let logs = server.cli(&["logs", "-a", "leaver", "-n", "200"]);
    assert!(
        logs.ok().contains("stopped: its caller went away"),
        "{}",
        logs.stdout
    );

    // A stopping server does not wait for an attached session: it stops the process.
    let mut attached = attached_run(&server, repo.path(), "sleep 600");
    eventually(
        "the second one-off running",
        Duration::from_secs(30),
        || !one_offs().trim().is_empty(),
    );
    let pid = server.pid();
    send_signal(pid, "TERM");
    eventually(
        "the server stopped by itself",
        Duration::from_secs(15),
        || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_or(true, |stat| stat.split_whitespace().nth(2) == Some("Z"))
        },
    );
    assert!(one_offs().trim().is_empty(), "{}", one_offs());
    server.terminate();
    let _ = attached.kill();
    let _ = attached.wait();
}

/// `paas run COMMAND` attached to pipes, left running.
fn attached_run(server: &Server, repo: &std::path::Path, command: &str) -> std::process::Child {
    server
        .command(common::paas_bin())
        .current_dir(repo)
        .env("PAAS_TOKEN", ADMIN_TOKEN)
        .args(["run", command])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The server's one-off containers, one `STATE COMMAND` line each.
fn one_off_containers(server: &Server) -> String {
    docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=paas.managed={}", server.instance()),
        "--filter",
        "label=paas.kind=oneoff",
        "--no-trunc",
        "--format",
        "{{.State}} {{.Command}}",
    ])
    .stdout
}

/// `kill -SIG PID`.
fn send_signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn one_offs_that_outlive_a_killed_server_are_collected_by_the_next() {
    let mut server = Server::start();
    let repo = server.deploy("env-echo", "orphans");
    let one_offs = one_off_containers;
    for command in ["sleep 5", "sleep 25"] {
        server
            .cli_in(repo.path(), ADMIN_TOKEN, &["run", "--detach", command])
            .ok();
    }
    let mut attached = attached_run(&server, repo.path(), "sleep 700");
    eventually("three one-offs running", Duration::from_secs(30), || {
        one_offs(&server).matches("running").count() == 3
    });
    server.kill9();
    let _ = attached.wait();
    eventually(
        "the short one ended meanwhile",
        Duration::from_secs(30),
        || one_offs(&server).contains("exited"),
    );
    let server = server.restart();
    eventually(
        "only the detached one still running is left",
        Duration::from_secs(30),
        || {
            let list = one_offs(&server);
            list.lines().count() == 1 && list.contains("running") && list.contains("sleep 25")
        },
    );
    eventually(
        "the detached one removed once it ended",
        Duration::from_secs(40),
        || one_offs(&server).trim().is_empty(),
    );
}

#[test]
fn logs_merge_app_lines_platform_lines_and_router_lines() {
    let server = Server::start();
    server.deploy("env-echo", "chatty");
    server.get("chatty", "/hello");
    eventually("the request in the logs", Duration::from_secs(10), || {
        let logs = server.cli(&["logs", "-a", "chatty", "-n", "500"]).stdout;
        logs.contains("app[web.1]: request /hello")
            && logs.contains("paas[router]: at=info method=GET path=\"/hello\"")
    });
    let logs = server.cli(&["logs", "-a", "chatty", "-n", "500"]);
    assert!(
        logs.ok().contains("paas[deploy]: v2 released"),
        "{}",
        logs.stdout
    );
    let only_app = server.cli(&["logs", "-a", "chatty", "--source", "app"]);
    assert!(!only_app.ok().contains("paas["), "{}", only_app.stdout);
    let only_web = server.cli(&["logs", "-a", "chatty", "--ps", "web.1"]);
    assert!(
        only_web.ok().lines().all(|l| l.contains("[web.1]")),
        "{}",
        only_web.stdout
    );
}

#[test]
fn history_survives_a_server_restart() {
    let server = Server::start();
    server.deploy("env-echo", "memory");
    server.get("memory", "/remember-me");
    eventually("the request in the logs", Duration::from_secs(10), || {
        server
            .cli(&["logs", "-a", "memory"])
            .stdout
            .contains("request /remember-me")
    });
    let server = server.restart();
    assert!(
        server
            .cli(&["logs", "-a", "memory", "-n", "500"])
            .ok()
            .contains("request /remember-me")
    );
}

#[test]
fn destroying_an_app_removes_its_containers_images_and_routes() {
    let server = Server::start();
    server.deploy("env-echo", "doomed");
    server
        .cli(&["apps:destroy", "doomed", "--confirm", "doomed"])
        .ok();
    assert!(server.app_containers("doomed").is_empty());
    let instance = format!("label=paas.managed={}", server.instance());
    let images = docker(&[
        "images",
        "--filter",
        &instance,
        "--filter",
        "label=paas.app=doomed",
        "-q",
    ]);
    assert!(images.ok().trim().is_empty(), "{}", images.stdout);
    assert_eq!(server.get("doomed", "/").0, 404);
}

#[test]
fn resizing_a_process_type_restarts_it_with_the_new_memory_limit() {
    let server = Server::start();
    server.deploy("env-echo", "roomy");
    let resized = server.cli(&["ps:resize", "web=256M", "-a", "roomy"]);
    assert!(
        resized.ok().contains("web at 256 MiB"),
        "{}",
        resized.stdout
    );
    let containers = server.app_containers("roomy");
    assert_eq!(containers.len(), 1);
    let memory = docker(&["inspect", "-f", "{{.HostConfig.Memory}}", &containers[0]]);
    assert_eq!(memory.ok().trim(), (256u64 * 1024 * 1024).to_string());
    assert_eq!(server.get("roomy", "/").0, 200);
    assert!(
        server
            .cli(&["ps:resize", "web=1M", "-a", "roomy"])
            .fails()
            .contains("out of range")
    );
}

#[test]
fn app_json_sets_the_first_formation_the_health_path_and_a_postdeploy_script() {
    // The wrong health path below fails only once the boot timeout is out: a short one.
    let server = Server::start_with(&[("PAAS_BOOT_TIMEOUT", "15")]);
    let repo = server.deploy("app-json", "described");
    assert_eq!(
        server.app_containers("described").len(),
        2,
        "app.json asked for two web processes"
    );
    assert_eq!(server.get("described", "/healthz").0, 200);
    eventually(
        "the postdeploy output in the logs",
        Duration::from_secs(20),
        || {
            server
                .cli(&["logs", "-a", "described", "-n", "500"])
                .stdout
                .contains("postdeploy ran for described")
        },
    );
    // A health path the app does not answer fails the next deploy; the old one serves on.
    let app_json = repo.path().join("app.json");
    let text = std::fs::read_to_string(&app_json)
        .unwrap()
        .replace("/healthz", "/missing");
    std::fs::write(&app_json, text).unwrap();
    server.commit_all(repo.path(), "wrong health path");
    let pushed = server.push(repo.path());
    assert_ne!(pushed.code, 0);
    assert!(
        pushed.stderr.contains("/missing answered 404"),
        "{}",
        pushed.stderr
    );
    assert_eq!(server.get("described", "/healthz").0, 200);
    let logs = server.cli(&["logs", "-a", "described", "-n", "10000"]);
    assert_eq!(
        logs.ok().matches("postdeploy ran for described").count(),
        1,
        "postdeploy runs once"
    );
}

#[test]
fn maintenance_mode_answers_503_and_serves_again_when_off() {
    let server = Server::start();
    server.deploy("env-echo", "resting");
    server.cli(&["maintenance:on", "-a", "resting"]).ok();
    let (status, body) = server.get("resting", "/");
    assert_eq!(status, 503);
    assert!(body.contains("maintenance"), "{body}");
    assert_eq!(
        server.cli(&["maintenance", "-a", "resting"]).ok().trim(),
        "on"
    );
    server.cli(&["maintenance:off", "-a", "resting"]).ok();
    assert_eq!(server.get("resting", "/").0, 200);
}
