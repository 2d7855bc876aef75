//! Builds against the real Docker engine: every fixture app is pushed with the real git
//! client, built (buildpacks or Dockerfile), run, and asked for its page.

mod common;

use common::{ADMIN_TOKEN, Server};

fn deploys_and_answers(fixture: &str, app: &str, expected: &str) {
    let server = Server::start();
    server.deploy(fixture, app);
    let (status, body) = server.get(app, "/");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(expected), "{app} answered: {body}");
}

#[test]
fn a_python_app_on_the_standard_library_builds_and_answers() {
    deploys_and_answers("python-stdlib", "py", "python-stdlib ok");
}

/// The engine's BuildKit cache records, by id (asked again while another disk-usage
/// operation runs: the engine runs one at a time).
fn build_cache_ids() -> Vec<String> {
    let args = [
        "system",
        "df",
        "-v",
        "--format",
        "{{range .BuildCache}}{{.ID}} {{end}}",
    ];
    for _ in 0..100 {
        let df = common::docker(&args);
        if df.code == 0 {
            return df.stdout.split_whitespace().map(str::to_owned).collect();
        }
        assert!(df.stderr.contains("already running"), "{}", df.stderr);
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("docker system df kept refusing");
}

/// The ids of a `build cache recorded` line of the server's log.
fn recorded_cache_ids(server: &Server) -> Vec<String> {
    server
        .log_text()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|v| v["fields"]["message"] == "build cache recorded")
        .flat_map(|v| {
            let ids = v["fields"]["ids"].as_str().unwrap_or_default().to_owned();
            ids.split(',').map(str::to_owned).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn slug_builds_leave_no_build_cache_behind_once_it_is_unused() {
    // Only this server's builds are measured: other builds on the engine (other tests,
    // other servers) keep their cache, and ours is gone.
    let before = build_cache_ids();
    let server = Server::start_with(&[("PAAS_BUILD_CACHE_KEEP", "0")]);
    server.deploy("procfile-shell", "tidy");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let ours = loop {
        let ours = recorded_cache_ids(&server);
        if !ours.is_empty() {
            break ours;
        }
        let warnings: Vec<String> = server
            .log_text()
            .lines()
            .filter(|l| l.contains("\"WARN\""))
            .map(str::to_owned)
            .collect();
        assert!(
            std::time::Instant::now() < deadline,
            "the server recorded no build cache within 60s; its warnings:\n{}",
            warnings.join("\n")
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(
        ours.iter().all(|id| !before.contains(id)),
        "recorded: {ours:?}"
    );
    common::eventually(
        "the build's cache records to be pruned",
        std::time::Duration::from_secs(60),
        || {
            let now = build_cache_ids();
            ours.iter().all(|id| !now.contains(id))
        },
    );
}

#[test]
fn a_static_site_builds_and_answers() {
    deploys_and_answers("static", "site", "static ok");
}

#[test]
fn a_node_app_without_dependencies_builds_and_answers() {
    deploys_and_answers("node-nodeps", "node", "node-nodeps ok");
}

#[test]
fn a_go_app_without_dependencies_builds_and_answers() {
    deploys_and_answers("go-stdlib", "goapp", "go-stdlib ok");
}

#[test]
fn a_dockerfile_app_builds_and_answers() {
    deploys_and_answers("dockerfile", "docker", "dockerfile ok");
}

#[test]
fn a_procfile_only_shell_app_builds_and_answers() {
    deploys_and_answers("procfile-shell", "shell", "procfile-shell ok");
}

#[test]
fn a_flask_app_installs_its_requirements_from_pypi() {
    // Ask from a container of the build image, where pip will run.
    let probe = common::docker(&[
        "run",
        "--rm",
        "paas/stack-build:bookworm",
        "python3",
        "-c",
        "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/flask/', timeout=15)",
    ]);
    if probe.code != 0 {
        let why = probe
            .stderr
            .lines()
            .last()
            .unwrap_or("no answer")
            .to_owned();
        panic!(
            "a build container cannot reach PyPI ({why}); behind a TLS-inspecting proxy put its CA in /usr/local/share/ca-certificates or set PAAS_EXTRA_CA_CERTS, then run paas stack:build"
        );
    }
    deploys_and_answers("flask", "flask", "flask ok");
}

#[test]
fn a_custom_buildpack_given_by_path_uses_env_dir_cache_dir_export_and_profile_d() {
    let server = server_with_fixture_buildpacks(&[]);
    let repo = server.fixture_repo("custom-buildpack");
    server
        .cli_in(repo.path(), ADMIN_TOKEN, &["apps:create", "custom"])
        .ok();
    let buildpack = format!(
        "{}/tests/fixtures/custom-buildpack/buildpack",
        env!("CARGO_MANIFEST_DIR")
    );
    server
        .cli(&[
            "config:set",
            &format!("BUILDPACK_URL={buildpack}"),
            "GREETING=hello from env dir",
            "-a",
            "custom",
        ])
        .ok();
    let pushed = server.push(repo.path());
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    let (status, body) = server.get("custom", "/");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("greeting=hello from env dir"),
        "ENV_DIR and .profile.d: {body}"
    );
    assert!(body.contains("build=1"), "{body}");
    // A second build finds what the first one left in CACHE_DIR.
    server.commit_all(repo.path(), "rebuild");
    let again = server.push(repo.path());
    assert_eq!(again.code, 0, "{}", again.stderr);
    let (_, body) = server.get("custom", "/");
    assert!(body.contains("build=2"), "CACHE_DIR persisted: {body}");
}

#[test]
fn an_app_no_buildpack_detects_is_rejected_with_what_each_looks_for() {
    let server = Server::start();
    let (_repo, pushed) = server.push_new_app("nomatch", "nomatch");
    assert_ne!(pushed.code, 0);
    assert!(
        pushed
            .stderr
            .contains("[remote rejected] main -> main (build failed"),
        "{}",
        pushed.stderr
    );
    assert!(
        pushed.stderr.contains("requirements.txt"),
        "lists what python looks for: {}",
        pushed.stderr
    );
    let builds = server.cli(&["builds", "-a", "nomatch"]);
    assert!(
        builds.ok().contains("failed"),
        "the failed build is kept: {}",
        builds.stdout
    );
    let bare = server.data_dir.path().join("repos/nomatch.git");
    let main = server.git(&bare, &["rev-parse", "--verify", "-q", "refs/heads/main"]);
    assert_ne!(main.code, 0, "the branch was not created: {}", main.stdout);
}

#[test]
fn a_failing_compile_keeps_the_running_release_and_the_log() {
    let server = Server::start();
    let repo = server.deploy("python-stdlib", "keeps");
    // Replace the app with one whose compile fails.
    for entry in std::fs::read_dir(repo.path()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != ".git" {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let broken =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compile-fails");
    for entry in std::fs::read_dir(broken).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), repo.path().join(entry.file_name())).unwrap();
    }
    server.commit_all(repo.path(), "broken");
    let pushed = server.push(repo.path());
    assert_ne!(pushed.code, 0);
    assert!(pushed.stderr.contains("build failed"), "{}", pushed.stderr);
    let (status, body) = server.get("keeps", "/");
    assert_eq!(status, 200);
    assert!(
        body.contains("python-stdlib ok"),
        "the old release still serves: {body}"
    );
    let info = server.cli(&["builds:info", "-a", "keeps"]);
    assert!(info.ok().contains("failed"), "{}", info.stdout);
    assert!(info.stdout.contains("=== Log"), "{}", info.stdout);
}

/// A server whose admins may name the fixtures' buildpacks by path.
fn server_with_fixture_buildpacks(env: &[(&str, &str)]) -> Server {
    let fixtures = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut env = env.to_vec();
    env.push(("PAAS_BUILDPACKS_DIR", &fixtures));
    Server::start_with(&env)
}

fn slow_build(server: &Server, app: &str) -> tempfile::TempDir {
    let repo = server.fixture_repo("slow-buildpack");
    server
        .cli_in(repo.path(), ADMIN_TOKEN, &["apps:create", app])
        .ok();
    let buildpack = format!(
        "{}/tests/fixtures/slow-buildpack/buildpack",
        env!("CARGO_MANIFEST_DIR")
    );
    server
        .cli(&[
            "config:set",
            &format!("BUILDPACK_URL={buildpack}"),
            "-a",
            app,
        ])
        .ok();
    repo
}

#[test]
fn a_running_build_can_be_cancelled() {
    let server = server_with_fixture_buildpacks(&[]);
    let repo = slow_build(&server, "cancelled");
    std::thread::scope(|scope| {
        let push = scope.spawn(|| server.push(repo.path()));
        common::eventually(
            "the build to start",
            std::time::Duration::from_secs(600),
            || {
                server
                    .cli(&["builds", "-a", "cancelled"])
                    .stdout
                    .contains("building")
            },
        );
        server.cli(&["builds:cancel", "-a", "cancelled"]).ok();
        let pushed = push.join().unwrap();
        assert_ne!(pushed.code, 0);
        assert!(
            pushed
                .stderr
                .contains("build failed: the build was cancelled"),
            "{}",
            pushed.stderr
        );
    });
    assert!(
        server
            .cli(&["builds", "-a", "cancelled"])
            .ok()
            .contains("cancelled")
    );
    assert!(
        server
            .cli(&["builds:cancel", "-a", "cancelled"])
            .fails()
            .contains("no build running")
    );
}

#[test]
fn a_build_over_the_timeout_is_stopped() {
    let server = server_with_fixture_buildpacks(&[("PAAS_BUILD_TIMEOUT", "5")]);
    let repo = slow_build(&server, "sluggish");
    let pushed = server.push(repo.path());
    assert_ne!(pushed.code, 0);
    assert!(
        pushed.stderr.contains("took longer than 5s"),
        "{}",
        pushed.stderr
    );
    let leftovers = common::docker(&[
        "ps",
        "-aq",
        "--filter",
        "label=paas.kind=build",
        "--filter",
        "name=paas-build-sluggish",
    ]);
    assert!(
        leftovers.ok().trim().is_empty(),
        "build containers are always removed"
    );
}

#[test]
fn an_unreachable_engine_is_named_with_the_setting_to_check() {
    // A socket file nobody listens on: the engine "went away".
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let host = format!("unix://{}", socket.display());
    let server = Server::start_with(&[("PAAS_DOCKER_HOST", &host)]);
    let (_repo, pushed) = server.push_new_app("procfile-shell", "nodocker");
    assert_ne!(pushed.code, 0);
    let hint = format!("is the Docker engine running? (PAAS_DOCKER_HOST={host})");
    assert!(pushed.stderr.contains(&hint), "{}", pushed.stderr);
}
