//! Long-lived streams end with the access that opened them: a member following
//! `paas logs --tail` (the real CLI process) is cut off within moments of being removed
//! from the app, of their token being revoked, or of their user being removed.

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Server, paas_bin};

/// `paas logs --tail -a APP` as `token`, running.
fn follow_logs(server: &Server, token: &str, app: &str) -> Child {
    let child = server
        .command(paas_bin())
        .env("PAAS_TOKEN", token)
        .args(["logs", "--tail", "-a", app])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("paas logs runs");
    // Long enough for the CLI to start and the server to open the stream.
    std::thread::sleep(Duration::from_millis(1500));
    child
}

/// Asserts the stream is still open, then that it ends within `limit` after `revoke`.
fn ends_soon_after(mut child: Child, limit: Duration, revoke: impl FnOnce()) {
    assert!(
        child.try_wait().unwrap().is_none(),
        "the stream is open before access is taken away"
    );
    revoke();
    let since = Instant::now();
    while since.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the stream still open {limit:?} after access was taken away");
}

/// How many `paas run` containers of `app` exist (running or not).
fn one_offs(server: &Server, app: &str) -> usize {
    common::docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=paas.managed={}", server.instance()),
        "--filter",
        &format!("label=paas.app={app}"),
        "--filter",
        "label=paas.kind=oneoff",
        "--format",
        "{{.Names}}",
    ])
    .stdout
    .lines()
    .count()
}

fn token_id(server: &Server, user: &str) -> String {
    let tokens = server.cli(&["tokens"]);
    tokens
        .ok()
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == user))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("a token of {user} in:\n{}", tokens.stdout))
        .to_owned()
}

#[test]
fn a_member_following_logs_is_cut_off_when_removed_from_the_app() {
    let server = Server::start();
    let alice = server.create_member("alice");
    server.cli(&["apps:create", "shared"]).ok();
    server.cli(&["access:add", "alice", "-a", "shared"]).ok();
    let tail = follow_logs(&server, &alice, "shared");
    ends_soon_after(tail, Duration::from_secs(2), || {
        server.cli(&["access:remove", "alice", "-a", "shared"]).ok();
    });
    // The admin's own stream of the same app is not touched by alice's removal.
    let admin_tail = follow_logs(&server, common::ADMIN_TOKEN, "shared");
    server.cli(&["access:add", "alice", "-a", "shared"]).ok();
    server.cli(&["access:remove", "alice", "-a", "shared"]).ok();
    std::thread::sleep(Duration::from_millis(500));
    let mut admin_tail = admin_tail;
    assert!(
        admin_tail.try_wait().unwrap().is_none(),
        "a stream whose access holds stays open"
    );
    let _ = admin_tail.kill();
    let _ = admin_tail.wait();
}

#[test]
fn a_revoked_token_ends_its_log_stream_at_once() {
    let server = Server::start();
    let alice = server.create_member("alice");
    server.cli_with_token(&alice, &["apps:create", "mine"]).ok();
    let tail = follow_logs(&server, &alice, "mine");
    let id = token_id(&server, "alice");
    ends_soon_after(tail, Duration::from_secs(2), || {
        server.cli(&["tokens:revoke", &id]).ok();
    });
}

#[test]
fn a_removed_users_log_stream_ends_at_once() {
    let server = Server::start();
    let bob = server.create_member("bob");
    server.cli(&["apps:create", "team"]).ok();
    server.cli(&["access:add", "bob", "-a", "team"]).ok();
    let tail = follow_logs(&server, &bob, "team");
    ends_soon_after(tail, Duration::from_secs(2), || {
        server
            .cli(&["users:destroy", "bob", "--confirm", "bob"])
            .ok();
    });
}

#[test]
fn a_members_run_session_is_stopped_when_their_access_is_removed() {
    let server = Server::start();
    let _repo = server.deploy("env-echo", "runner");
    let alice = server.create_member("alice");
    server.cli(&["access:add", "alice", "-a", "runner"]).ok();
    let session = server
        .command(paas_bin())
        .env("PAAS_TOKEN", &alice)
        .args(["run", "-a", "runner", "sleep", "300"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("paas run starts");
    common::eventually("the one-off process", Duration::from_secs(60), || {
        one_offs(&server, "runner") == 1
    });
    ends_soon_after(session, Duration::from_secs(3), || {
        server.cli(&["access:remove", "alice", "-a", "runner"]).ok();
    });
    common::eventually(
        "the one-off process to be removed",
        Duration::from_secs(30),
        || one_offs(&server, "runner") == 0,
    );
}
