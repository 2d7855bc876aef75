//! Manifests written for Heroku and Dokku deploy unchanged (issue 14): what is read so far.

mod common;

use common::Server;

#[test]
fn a_dokku_app_json_with_comments_deploys_and_its_startup_check_gates_the_rollout() {
    // A failing startup check fails the release after the boot timeout: keep it short.
    let server = Server::start_with(&[("PAAS_BOOT_TIMEOUT", "15")]);
    let repo = server.deploy("healthcheck-path", "checked");
    assert_eq!(
        server.get("checked", "/healthz"),
        (200, "healthy\n".to_owned())
    );

    // The same app with its startup check on a path it does not answer: the new release
    // never gets routed, and the old one keeps serving.
    let manifest = repo.path().join("app.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("\"/healthz\"", "\"/missing\"")).unwrap();
    server.commit_all(repo.path(), "check a path the app does not answer");
    let pushed = server.push(repo.path());
    assert_ne!(pushed.code, 0, "the push must fail: {}", pushed.stderr);
    assert!(pushed.stderr.contains("/missing"), "{}", pushed.stderr);
    assert_eq!(server.get("checked", "/healthz").0, 200);

    // A real syntax error is refused with its line and column, and the app keeps serving.
    std::fs::write(
        &manifest,
        "{\n  // fine\n  \"formation\": {\n    \"web\": }\n}\n",
    )
    .unwrap();
    server.commit_all(repo.path(), "broken app.json");
    let broken = server.push(repo.path());
    assert_ne!(broken.code, 0);
    assert!(broken.stderr.contains("line 4 column"), "{}", broken.stderr);
    assert_eq!(server.get("checked", "/healthz").0, 200);
}

/// The memory limit the engine gives `container`, in MiB.
fn memory_limit_mb(container: &str) -> u64 {
    let out = common::docker(&["inspect", "--format", "{{.HostConfig.Memory}}", container]);
    out.stdout.trim().parse::<u64>().unwrap_or(0) / (1024 * 1024)
}

#[test]
fn an_app_json_written_for_heroku_and_dokku_deploys_with_its_env_sizes_buildpacks_and_scripts() {
    let server = Server::start();
    let (repo, refused) = server.push_new_app("dokku-app", "dokkuapp");

    // A required variable with no value refuses the first deploy, naming it and why.
    assert_ne!(refused.code, 0, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("API_TOKEN (the payment provider's token)"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("paas config:set API_TOKEN=..."),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("SECRET_KEY ("),
        "a generated variable is not required: {}",
        refused.stderr
    );
    assert_ne!(server.get("dokkuapp", "/env/GREETING").0, 200);

    server
        .cli(&["config:set", "API_TOKEN=tok-123", "-a", "dokkuapp"])
        .ok();
    let pushed = server.push(repo.path());
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    let out = &pushed.stderr;
    for expected in [
        "app.json stack \"heroku-22\" is ignored",
        "using the buildpacks app.json lists",
        "Setting GREETING, SECRET_KEY from app.json",
        "generated secret values for SECRET_KEY",
        "predeploy saw GREETING=hello from app.json",
        "postdeploy ran for v3",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }

    // env: values, a 64-hex secret, what was set by hand, nothing for the optional one.
    assert_eq!(
        server.get("dokkuapp", "/env/GREETING"),
        (200, "hello from app.json".to_owned())
    );
    let (_, secret) = server.get("dokkuapp", "/env/SECRET_KEY");
    assert_eq!(secret.len(), 64, "{secret}");
    assert!(secret.chars().all(|c| c.is_ascii_hexdigit()), "{secret}");
    assert_eq!(
        server.get("dokkuapp", "/env/API_TOKEN"),
        (200, "tok-123".to_owned())
    );
    assert_eq!(server.get("dokkuapp", "/env/OPTIONAL_FLAG").0, 404);
    let events = server.cli(&["events", "-a", "dokkuapp"]).ok().to_owned();
    assert!(!events.contains(&secret), "the secret is in no event");

    // Both buildpacks ran, in app.json's order.
    let builds = server.cli(&["builds", "-a", "dokkuapp"]).ok().to_owned();
    assert!(builds.contains("Python, Procfile"), "{builds}");

    // formation: quantities and sizes as memory limits.
    let containers = server.app_containers("dokkuapp");
    let web = containers.iter().find(|c| c.contains("-web-")).unwrap();
    let worker = containers.iter().find(|c| c.contains("-worker-")).unwrap();
    assert_eq!(memory_limit_mb(web), 1024, "standard-2x");
    assert_eq!(memory_limit_mb(worker), 512, "basic");

    // Later deploys leave env alone: the value was the first deploy's default.
    let manifest = repo.path().join("app.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("hello from app.json", "changed")).unwrap();
    server.commit_all(repo.path(), "another default");
    let again = server.push(repo.path());
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("postdeploy ran for"),
        "{}",
        again.stderr
    );
    assert_eq!(
        server.get("dokkuapp", "/env/GREETING"),
        (200, "hello from app.json".to_owned())
    );
    assert_eq!(server.get("dokkuapp", "/env/SECRET_KEY").1, secret);

    // config:set --encoded: base64 values keep their newlines and quotes.
    server
        .cli(&[
            "config:set",
            "--encoded",
            "MULTI=bGluZSAxCmxpbmUgIjIi",
            "-a",
            "dokkuapp",
        ])
        .ok();
    assert_eq!(
        server.get("dokkuapp", "/env/MULTI"),
        (200, "line 1\nline \"2\"".to_owned())
    );
    let bad = server.cli(&["config:set", "--encoded", "X=%%%", "-a", "dokkuapp"]);
    assert!(bad.fails().contains("not base64"), "{}", bad.stderr);
}

#[test]
fn a_failing_predeploy_script_fails_the_deploy_and_the_old_release_keeps_serving() {
    let server = Server::start();
    let repo = server.fixture_repo("dokku-app");
    server
        .cli_in(
            repo.path(),
            common::ADMIN_TOKEN,
            &["apps:create", "predeploy"],
        )
        .ok();
    server
        .cli(&["config:set", "API_TOKEN=t", "-a", "predeploy"])
        .ok();
    let first = server.push(repo.path());
    assert_eq!(first.code, 0, "{}", first.stderr);

    let manifest = repo.path().join("app.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let failing = text.replace(
        "echo predeploy saw GREETING=$GREETING",
        "echo predeploy fails; exit 7",
    );
    std::fs::write(&manifest, failing).unwrap();
    server.commit_all(repo.path(), "a predeploy that fails");
    let pushed = server.push(repo.path());
    assert_ne!(pushed.code, 0, "{}", pushed.stderr);
    assert!(
        pushed.stderr.contains("predeploy failed with exit code 7"),
        "{}",
        pushed.stderr
    );
    assert_eq!(
        server.get("predeploy", "/env/GREETING"),
        (200, "hello from app.json".to_owned())
    );
}

#[test]
fn heroku_yml_builds_its_dockerfile_with_build_arguments_commands_and_release_phase() {
    let server = Server::start();
    let repo = server.deploy("heroku-yml", "herokuyml");
    assert_eq!(
        server.get("herokuyml", "/"),
        (200, "from the build arguments".to_owned())
    );
    let containers = server.app_containers("herokuyml");
    assert!(
        containers.iter().any(|c| c.contains("-worker-")),
        "DOKKU_SCALE starts a worker: {containers:?}"
    );
    let logs = server
        .cli(&["logs", "-a", "herokuyml", "-n", "200"])
        .ok()
        .to_owned();
    assert!(logs.contains("release phase of heroku.yml ran"), "{logs}");
    common::eventually(
        "the worker's output",
        std::time::Duration::from_secs(20),
        || {
            server
                .cli(&["logs", "-a", "herokuyml", "-n", "200"])
                .stdout
                .contains("heroku.yml worker tick")
        },
    );

    // A heroku.yml naming a Dockerfile that is not there is refused; the app keeps serving.
    let manifest = repo.path().join("heroku.yml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("docker/web.Dockerfile", "docker/gone"),
    )
    .unwrap();
    server.commit_all(repo.path(), "a Dockerfile that is not there");
    let pushed = server.push(repo.path());
    assert_ne!(pushed.code, 0);
    assert!(
        pushed
            .stderr
            .contains("docker/gone, which is not in the pushed commit"),
        "{}",
        pushed.stderr
    );
    assert_eq!(server.get("herokuyml", "/").0, 200);
}
