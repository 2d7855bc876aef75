//! What a member may build from, tried as a member would (the real CLI, git push with their
//! token, the real engine): no server paths as buildpacks, no other app's image in a
//! Dockerfile; and what admins and members still may.

mod common;

use std::path::Path;

use common::{ADMIN_TOKEN, Run, Server};

fn fixtures() -> String {
    format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"))
}

/// `git push` of `repo` to `app` with `token` (a member's credentials in the URL).
fn push_as(server: &Server, repo: &Path, token: &str, app: &str) -> Run {
    let url = format!("http://member:{token}@127.0.0.1:{}/{app}.git", server.port);
    server.git(repo, &["push", &url, "main"])
}

fn branch_exists(server: &Server, app: &str) -> bool {
    let bare = server.data_dir.path().join(format!("repos/{app}.git"));
    let main = server.git(&bare, &["rev-parse", "--verify", "-q", "refs/heads/main"]);
    main.code == 0
}

fn write_file(repo: &Path, name: &str, text: &str) {
    std::fs::write(repo.join(name), text).unwrap();
}

#[test]
fn a_member_cannot_use_a_server_directory_as_a_buildpack() {
    let server = Server::start_with(&[("PAAS_BUILDPACKS_DIR", &fixtures())]);
    let alice = server.create_member("alice");
    let repo = server.fixture_repo("procfile-shell");
    server
        .cli_in(repo.path(), &alice, &["apps:create", "mine"])
        .ok();
    let refusal = |path: &str| {
        format!(
            "buildpack {path}: server paths are for admins; use a built-in name (python, nodejs, go, static, procfile) or a git URL"
        )
    };
    // A directory that exists (even inside PAAS_BUILDPACKS_DIR) and one that does not get
    // the same answer: nothing tells the member what is on the host.
    let existing = format!("{}/custom-buildpack/buildpack", fixtures());
    for path in [existing.as_str(), "/does/not/exist"] {
        server
            .cli_with_token(
                &alice,
                &["config:set", &format!("BUILDPACK_URL={path}"), "-a", "mine"],
            )
            .ok();
        let pushed = push_as(&server, repo.path(), &alice, "mine");
        assert_ne!(pushed.code, 0);
        assert!(pushed.stderr.contains(&refusal(path)), "{}", pushed.stderr);
    }
    server
        .cli_with_token(&alice, &["config:unset", "BUILDPACK_URL", "-a", "mine"])
        .ok();
    // .buildpacks naming the data dir, where the database lives.
    let data = server.data_dir.path().display().to_string();
    write_file(repo.path(), ".buildpacks", &format!("python\n{data}\n"));
    server.commit_all(repo.path(), "server path in .buildpacks");
    let pushed = push_as(&server, repo.path(), &alice, "mine");
    assert_ne!(pushed.code, 0);
    assert!(pushed.stderr.contains(&refusal(&data)), "{}", pushed.stderr);
    assert!(
        !branch_exists(&server, "mine"),
        "the refused push left no branch"
    );
    let builds = server.cli_with_token(&alice, &["builds", "-a", "mine"]);
    assert!(builds.ok().contains("failed"), "{}", builds.stdout);
}

/// A buildpack whose compile says whether the `leak` link beside it reached the container
/// as a link, and what it can read through it.
fn probe_buildpack(dir: &Path, leak_to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    let scripts = [
        ("detect", "#!/usr/bin/env bash\necho Probe\n"),
        (
            "compile",
            "#!/usr/bin/env bash\nBP=$(cd \"$(dirname \"${BASH_SOURCE[0]}\")/..\" && pwd)\n\
             [ -L \"$BP/leak\" ] && echo \"probe: leak is a link\"\n\
             [ -r \"$BP/leak\" ] && echo \"probe: read $(head -c 15 \"$BP/leak\")\"\n\
             exit 0\n",
        ),
        (
            "release",
            "#!/usr/bin/env bash\necho '---'\necho 'default_process_types:'\necho '  web: sleep infinity'\n",
        ),
    ];
    for (name, text) in scripts {
        let path = dir.join("bin").join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::os::unix::fs::symlink(leak_to, dir.join("leak")).unwrap();
}

#[test]
fn an_admins_server_buildpack_comes_only_from_the_buildpacks_dir_and_its_links_stay_links() {
    let buildpacks = tempfile::tempdir().unwrap();
    let root = buildpacks.path().display().to_string();
    let server = Server::start_with(&[("PAAS_BUILDPACKS_DIR", &root)]);
    let database = server.data_dir.path().join("paas.db");
    probe_buildpack(&buildpacks.path().join("probe"), &database);
    std::os::unix::fs::symlink(server.data_dir.path(), buildpacks.path().join("escape")).unwrap();
    let repo = server.fixture_repo("procfile-shell");
    server
        .cli_in(repo.path(), ADMIN_TOKEN, &["apps:create", "probed"])
        .ok();
    let outside = format!("{}/custom-buildpack/buildpack", fixtures());
    let escape = format!("{root}/escape");
    for path in [outside.as_str(), escape.as_str()] {
        server
            .cli(&[
                "config:set",
                &format!("BUILDPACK_URL={path}"),
                "-a",
                "probed",
            ])
            .ok();
        let pushed = server.push(repo.path());
        assert_ne!(pushed.code, 0);
        let refusal = format!(
            "buildpack {path}: server paths must be directories under PAAS_BUILDPACKS_DIR ({root})"
        );
        assert!(pushed.stderr.contains(&refusal), "{}", pushed.stderr);
    }
    server
        .cli(&[
            "config:set",
            &format!("BUILDPACK_URL={root}/probe"),
            "-a",
            "probed",
        ])
        .ok();
    let pushed = server.push(repo.path());
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    assert!(
        pushed.stderr.contains("probe: leak is a link"),
        "{}",
        pushed.stderr
    );
    assert!(
        !pushed.stderr.contains("probe: read"),
        "the database is not readable: {}",
        pushed.stderr
    );
}

/// A member's app "mine" whose Dockerfile is `dockerfile`; the push's outcome.
fn push_dockerfile(server: &Server, token: &str, repo: &Path, dockerfile: &str) -> Run {
    write_file(repo, "Dockerfile", dockerfile);
    server.commit_all(repo, "dockerfile");
    push_as(server, repo, token, "mine")
}

fn member_with_app(server: &Server) -> (String, tempfile::TempDir) {
    let alice = server.create_member("alice");
    let repo = server.fixture_repo("dockerfile");
    server
        .cli_in(repo.path(), &alice, &["apps:create", "mine"])
        .ok();
    (alice, repo)
}

const ONLY: &str = "a build may start only from the stack images";

#[test]
fn a_member_cannot_build_from_another_apps_image() {
    let server = Server::start();
    server.deploy("procfile-shell", "victim");
    let (alice, repo) = member_with_app(&server);
    let attempts = [
        ("FROM paas/victim:b1\n", "FROM paas/victim:b1"),
        ("FROM paas/ghost:b1\n", "FROM paas/ghost:b1"),
        (
            "FROM docker.io/paas/victim:b1\n",
            "FROM docker.io/paas/victim:b1",
        ),
        (
            "FROM paas/stack-run:bookworm\nCOPY --from=paas/victim:b1 /app /stolen\n",
            "COPY --from paas/victim:b1",
        ),
        (
            "FROM paas/stack-run:bookworm\nRUN --mount=type=bind,from=paas/victim:b1,target=/v true\n",
            "RUN --mount from paas/victim:b1",
        ),
        (
            "FROM paas/stack-run:bookworm AS base\nONBUILD COPY --from=paas/victim:b1 /app /x\n",
            "COPY --from paas/victim:b1",
        ),
        (
            "# escape=`\nFROM paas/stack-run:bookworm\nRUN echo \\\nFROM paas/victim:b1\n",
            "FROM paas/victim:b1",
        ),
    ];
    for (dockerfile, named) in attempts {
        let pushed = push_dockerfile(&server, &alice, repo.path(), dockerfile);
        assert_ne!(pushed.code, 0, "{dockerfile}");
        let refusal = format!("{named}: {ONLY}");
        assert!(
            pushed.stderr.contains(&refusal),
            "{dockerfile}: {}",
            pushed.stderr
        );
        assert!(
            !pushed.stderr.contains("not in the Docker engine"),
            "existence is not told: {}",
            pushed.stderr
        );
    }
    // heroku.yml's build arguments are checked as the engine would apply them.
    write_file(
        repo.path(),
        "heroku.yml",
        "build:\n  docker:\n    web: Dockerfile\n  config:\n    BASE: paas/victim:b1\n",
    );
    let by_argument = push_dockerfile(
        &server,
        &alice,
        repo.path(),
        "ARG BASE=paas/stack-run:bookworm\nFROM $BASE\n",
    );
    assert!(
        by_argument
            .stderr
            .contains(&format!("FROM paas/victim:b1: {ONLY}")),
        "{}",
        by_argument.stderr
    );
    std::fs::remove_file(repo.path().join("heroku.yml")).unwrap();
    let unresolved = push_dockerfile(&server, &alice, repo.path(), "ARG BASE\nFROM $BASE\n");
    assert!(
        unresolved
            .stderr
            .contains("FROM $BASE: the image cannot be checked before the build"),
        "{}",
        unresolved.stderr
    );
    assert!(!branch_exists(&server, "mine"));
}

#[test]
fn a_member_builds_from_the_stacks_their_own_images_and_allowed_ones() {
    let server = Server::start_with(&[("PAAS_ALLOWED_BASE_IMAGES", "paas/shared:*")]);
    server.deploy("procfile-shell", "shared");
    let (alice, repo) = member_with_app(&server);
    let from_stack = push_dockerfile(
        &server,
        &alice,
        repo.path(),
        "ARG BASE=paas/stack-run:bookworm\nFROM ${BASE}\nCOPY --chown=app:app server.py /app/server.py\n\
         ENV GREETING=\"from the stack\"\nCMD [\"python3\", \"/app/server.py\"]\n",
    );
    assert_eq!(from_stack.code, 0, "{}", from_stack.stderr);
    let (_, body) = server.get("mine", "/");
    assert!(body.contains("from the stack"), "{body}");
    let from_own = push_dockerfile(
        &server,
        &alice,
        repo.path(),
        "FROM paas/mine:b2\nENV GREETING=\"from my own image\"\n",
    );
    assert_eq!(from_own.code, 0, "{}", from_own.stderr);
    let (_, body) = server.get("mine", "/");
    assert!(body.contains("from my own image"), "{body}");
    let from_allowed = push_dockerfile(
        &server,
        &alice,
        repo.path(),
        "FROM paas/shared:b1\nCOPY --from=paas/mine:b2 /app/server.py /app/server.py\n\
         ENV GREETING=\"from an allowed image\"\nCMD [\"python3\", \"/app/server.py\"]\n",
    );
    assert_eq!(from_allowed.code, 0, "{}", from_allowed.stderr);
    let (_, body) = server.get("mine", "/");
    assert!(body.contains("from an allowed image"), "{body}");
}
