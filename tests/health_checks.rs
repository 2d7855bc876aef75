//! Dokku's zero-downtime checks, carried out (issue 14): startup checks with content and
//! attempts gate a rollout, liveness checks restart a process, readiness checks take it
//! out of the route table and back, and the older CHECKS file gates a rollout too.

mod common;

use std::time::Duration;

use common::{Server, eventually};

fn logs(server: &Server, app: &str) -> String {
    server.cli(&["logs", "-a", app, "-n", "2000"]).stdout
}

fn restarts(server: &Server, app: &str) -> u64 {
    let ps: serde_json::Value =
        serde_json::from_str(server.cli(&["ps", "-a", app, "--json"]).ok()).unwrap();
    ps["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["process_type"] == "web")
        .map(|p| p["restarts"].as_u64().unwrap())
        .sum()
}

#[test]
fn readiness_routes_liveness_restarts_and_a_startup_checks_content_gates_the_rollout() {
    let server = Server::start();
    let repo = server.deploy("dokku-checks", "dokku");
    assert_eq!(server.get("dokku", "/"), (200, "hello\n".to_owned()));

    // Readiness: while /ready fails, the only process is out of the route table (the
    // router answers 503), and it is back once it passes; nothing is restarted.
    server
        .cli(&[
            "config:set",
            "UNREADY_FROM=4",
            "UNREADY_UNTIL=12",
            "-a",
            "dokku",
        ])
        .ok();
    eventually(
        "the unready process is out of routing",
        Duration::from_secs(30),
        || server.get("dokku", "/").0 == 503,
    );
    let ps = server.cli(&["ps", "-a", "dokku"]);
    assert!(ps.ok().contains("unready"), "{}", ps.stdout);
    eventually(
        "the ready process is routed again",
        Duration::from_secs(30),
        || server.get("dokku", "/") == (200, "hello\n".to_owned()),
    );
    let text = logs(&server, "dokku");
    assert!(
        text.contains(
            "web.1 failed its readiness check \"ready\" (GET /ready answered 503) once; \
             out of the route table until it passes"
        ),
        "{text}"
    );
    assert!(
        text.contains("web.1 passed its readiness check \"ready\"; back in the route table"),
        "{text}"
    );
    assert_eq!(restarts(&server, "dokku"), 0, "readiness never restarts");

    // Liveness: /alive fails after three answers; two failures in a row restart it.
    server
        .cli(&[
            "config:unset",
            "UNREADY_FROM",
            "UNREADY_UNTIL",
            "-a",
            "dokku",
        ])
        .ok();
    server
        .cli(&["config:set", "ALIVE_FOR=3", "-a", "dokku"])
        .ok();
    eventually("a liveness restart", Duration::from_secs(40), || {
        restarts(&server, "dokku") >= 1
    });
    let text = logs(&server, "dokku");
    assert!(
        text.contains(
            "web.1 failed its liveness check \"alive\" (GET /alive answered 500) 2 times; restarting"
        ),
        "{text}"
    );
    eventually(
        "the restarted process serves",
        Duration::from_secs(30),
        || server.get("dokku", "/").0 == 200,
    );
    server
        .cli(&["config:unset", "ALIVE_FOR", "-a", "dokku"])
        .ok();
    assert_eq!(server.get("dokku", "/"), (200, "hello\n".to_owned()));

    // Startup: content the body does not contain fails the push after its 3 attempts,
    // and the running release keeps serving.
    let manifest = repo.path().join("app.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace(
            "\"content\": \"healthy\"",
            "\"content\": \"ready to serve\"",
        ),
    )
    .unwrap();
    server.commit_all(repo.path(), "expect content the app does not answer");
    let checked = |text: &str| {
        text.lines()
            .filter(|l| l.contains(" app[web.1]: ") && l.contains("\"GET /healthz HTTP/1.1\" 200"))
            .count()
    };
    let before = checked(&logs(&server, "dokku"));
    let pushed = server.push(repo.path());
    assert_ne!(pushed.code, 0, "the push must fail: {}", pushed.stderr);
    assert!(
        pushed.stderr.contains(
            "web.1 failed its startup check \"boot\" (GET /healthz answered 200, but the body \
             did not contain \"ready to serve\"; 3 attempts)"
        ),
        "{}",
        pushed.stderr
    );
    // The app's log shows the three attempts (all answered, after `initialDelay`).
    std::thread::sleep(Duration::from_secs(3));
    let text = logs(&server, "dokku");
    assert_eq!(checked(&text), before + 3, "{text}");
    assert_eq!(server.get("dokku", "/"), (200, "hello\n".to_owned()));
}

#[test]
fn a_dokku_checks_file_gates_the_rollout() {
    let server = Server::start();
    let repo = server.deploy("checks-file", "legacy");
    assert_eq!(server.get("legacy", "/"), (200, "hello\n".to_owned()));

    // The build stored the file as app.json checks of the web process.
    let checks = repo.path().join("CHECKS");
    let text = std::fs::read_to_string(&checks).unwrap();
    std::fs::write(&checks, text.replace("all systems go", "all systems down")).unwrap();
    server.commit_all(repo.path(), "expect what /status does not say");
    let pushed = server.push(repo.path());
    assert_ne!(pushed.code, 0, "the push must fail: {}", pushed.stderr);
    assert!(
        pushed.stderr.contains(
            "failed its startup check \"GET /status\" (GET /status answered 200, but the body \
             did not contain \"all systems down\"; 2 attempts)"
        ),
        "{}",
        pushed.stderr
    );
    assert_eq!(server.get("legacy", "/"), (200, "hello\n".to_owned()));

    // A CHECKS line paas cannot read is refused by its line number.
    std::fs::write(&checks, "WAIT=1\nRETRIES=3\n/status\n").unwrap();
    server.commit_all(repo.path(), "a setting Dokku does not have");
    let refused = server.push(repo.path());
    assert_ne!(refused.code, 0);
    assert!(
        refused
            .stderr
            .contains("CHECKS line 2: RETRIES is not a setting"),
        "{}",
        refused.stderr
    );
    assert_eq!(server.get("legacy", "/"), (200, "hello\n".to_owned()));
}
