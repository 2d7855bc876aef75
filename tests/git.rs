//! `git push paas main` with the real git client against the real server: credentials,
//! access, branch policy, push options, and one deploy per app at a time.

mod common;

use common::{ADMIN_TOKEN, Server};

#[test]
fn a_wrong_token_makes_git_report_an_authentication_failure() {
    let server = Server::start();
    let repo = server.fixture_repo("procfile-shell");
    server
        .cli_in(repo.path(), ADMIN_TOKEN, &["apps:create", "authy"])
        .ok();
    let url = format!(
        "http://paas:wrong-token@127.0.0.1:{}/authy.git",
        server.port
    );
    let pushed = server.git(repo.path(), &["push", &url, "main"]);
    assert_ne!(pushed.code, 0);
    assert!(
        pushed.stderr.contains("Authentication failed"),
        "{}",
        pushed.stderr
    );
}

#[test]
fn pushing_to_an_unknown_app_names_apps_create() {
    let server = Server::start();
    server.login();
    let repo = server.fixture_repo("procfile-shell");
    let url = format!("{}/ghost.git", server.url);
    let pushed = server.git(repo.path(), &["push", &url, "main"]);
    assert_ne!(pushed.code, 0);
    assert!(
        pushed.stderr.contains("paas apps:create ghost"),
        "{}",
        pushed.stderr
    );
}

#[test]
fn a_member_cannot_push_to_an_app_they_have_no_access_to() {
    let server = Server::start();
    let alice = server.create_member("alice");
    let repo = server.fixture_repo("procfile-shell");
    server
        .cli_in(repo.path(), ADMIN_TOKEN, &["apps:create", "private"])
        .ok();
    let url = format!("http://alice:{alice}@127.0.0.1:{}/private.git", server.port);
    let pushed = server.git(repo.path(), &["push", &url, "main"]);
    assert_ne!(pushed.code, 0);
    assert!(pushed.stderr.contains("not found"), "{}", pushed.stderr);
}

#[test]
fn other_branches_and_deleting_main_are_refused_with_a_hint() {
    let server = Server::start();
    let repo = server.deploy("procfile-shell", "branchy");
    server
        .git(repo.path(), &["checkout", "-q", "-b", "feature"])
        .ok();
    let other = server.git(repo.path(), &["push", "paas", "feature"]);
    assert_ne!(other.code, 0);
    assert!(
        other
            .stderr
            .contains("only main deploys: git push paas HEAD:main"),
        "{}",
        other.stderr
    );
    let delete = server.git(repo.path(), &["push", "paas", ":main"]);
    assert_ne!(delete.code, 0);
    assert!(
        delete
            .stderr
            .contains("deleting the deploy branch is refused"),
        "{}",
        delete.stderr
    );
    assert_eq!(server.get("branchy", "/").0, 200, "the app still serves");
}

#[test]
fn master_deploys_while_the_app_never_chose_a_branch() {
    let server = Server::start();
    let repo = server.fixture_repo("procfile-shell");
    server.git(repo.path(), &["branch", "-m", "master"]).ok();
    server
        .cli_in(repo.path(), ADMIN_TOKEN, &["apps:create", "legacy"])
        .ok();
    server.login();
    let pushed = server.git(repo.path(), &["push", "paas", "master"]);
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    assert!(pushed.stderr.contains("Deployed to"), "{}", pushed.stderr);
}

#[test]
fn a_chosen_deploy_branch_deploys_and_main_and_master_no_longer_do() {
    let server = Server::start();
    let repo = server.fixture_repo("procfile-shell");
    server
        .git(repo.path(), &["branch", "-m", "production"])
        .ok();
    server
        .cli_in(repo.path(), ADMIN_TOKEN, &["apps:create", "prod"])
        .ok();
    server.login();
    let bad = server.cli_in(repo.path(), ADMIN_TOKEN, &["git:deploy-branch", "a..b"]);
    assert!(bad.fails().contains("invalid branch name"));
    let set = server.cli_in(
        repo.path(),
        ADMIN_TOKEN,
        &["git:deploy-branch", "production"],
    );
    assert!(set.ok().contains("git push paas HEAD:production"));
    let shown = server.cli_in(repo.path(), ADMIN_TOKEN, &["git:deploy-branch"]);
    assert_eq!(shown.ok().trim(), "production");

    server
        .git(repo.path(), &["branch", "master", "production"])
        .ok();
    let master = server.git(repo.path(), &["push", "paas", "master"]);
    assert_ne!(master.code, 0, "master is no alias once a branch is chosen");
    assert!(
        master
            .stderr
            .contains("only production deploys: git push paas HEAD:production"),
        "{}",
        master.stderr
    );
    let pushed = server.git(repo.path(), &["push", "paas", "production"]);
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    assert!(pushed.stderr.contains("Deployed to"), "{}", pushed.stderr);
    let events = server.cli(&["events", "-a", "prod"]);
    assert!(events.ok().contains("deploy branch set to production"));
}

#[test]
fn push_options_reach_the_pipeline_and_progress_is_streamed() {
    let server = Server::start();
    let repo = server.fixture_repo("procfile-shell");
    server
        .cli_in(repo.path(), ADMIN_TOKEN, &["apps:create", "opts"])
        .ok();
    server.login();
    let pushed = server.git(repo.path(), &["push", "-o", "ci.skip=no", "paas", "main"]);
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    assert!(
        pushed
            .stderr
            .contains("remote: -----> Push options: ci.skip=no"),
        "{}",
        pushed.stderr
    );
    assert!(
        pushed.stderr.contains("remote: -----> Releasing v2"),
        "{}",
        pushed.stderr
    );
    assert!(
        pushed.stderr.contains(&format!(
            "Deployed to http://opts.localhost:{}",
            server.port
        )),
        "{}",
        pushed.stderr
    );
}

#[test]
fn a_force_push_deploys_the_new_commit() {
    let server = Server::start();
    let repo = server.deploy("procfile-shell", "forced");
    server
        .git(
            repo.path(),
            &[
                "commit",
                "-q",
                "--amend",
                "-m",
                "rewritten",
                "--allow-empty",
            ],
        )
        .ok();
    let pushed = server.git(repo.path(), &["push", "--force", "paas", "main"]);
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    assert!(pushed.stderr.contains("forced update"), "{}", pushed.stderr);
    let releases = server.cli(&["releases", "-a", "forced"]);
    assert!(releases.ok().contains("Current: v3"), "{}", releases.stdout);
}

#[test]
fn a_second_push_to_the_same_app_waits_for_the_first() {
    let server = Server::start();
    let first = server.deploy("procfile-shell", "queue");
    // A second clone of the same app, one commit ahead of the first.
    let second = tempfile::tempdir().unwrap();
    let clone_source = first.path().to_str().unwrap().to_owned();
    server
        .git(second.path(), &["clone", "-q", &clone_source, "."])
        .ok();
    server
        .git(
            second.path(),
            &[
                "remote",
                "add",
                "paas",
                &format!("{}/queue.git", server.url),
            ],
        )
        .ok();
    server.commit_all(first.path(), "from the first clone");
    server.commit_all(second.path(), "from the second clone");
    std::thread::scope(|scope| {
        let a = scope.spawn(|| server.git(first.path(), &["push", "paas", "main"]));
        std::thread::sleep(std::time::Duration::from_millis(300));
        let b = scope.spawn(|| server.git(second.path(), &["push", "paas", "main"]));
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert_eq!(a.code, 0, "{}", a.stderr);
        // The second waited, then found main moved by the first and was refused cleanly.
        assert_ne!(b.code, 0);
        assert!(
            b.stderr.contains("waiting for the deploy in progress"),
            "{}",
            b.stderr
        );
        assert!(
            b.stderr.contains("changed while this push waited") || b.stderr.contains("fetch first"),
            "{}",
            b.stderr
        );
    });
    assert_eq!(server.get("queue", "/").0, 200);
}
