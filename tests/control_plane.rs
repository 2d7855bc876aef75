//! The control plane end to end: a real server, the real CLI, and raw HTTP.

mod common;

use common::{ADMIN_TOKEN, Server};
use serde_json::{Value, json};

#[test]
fn app_lifecycle_through_the_cli() {
    let server = Server::start();
    let created = server.cli(&["apps:create", "myapp"]);
    assert!(
        created.ok().contains("Creating myapp... done"),
        "{}",
        created.stdout
    );
    assert!(
        created
            .stdout
            .contains(&format!("http://myapp.localhost:{}", server.port))
    );

    let apps = server.cli(&["apps"]);
    assert!(apps.ok().contains("myapp"));
    let info = server.cli(&["apps:info", "-a", "myapp", "--json"]);
    let info: Value = serde_json::from_str(info.ok()).unwrap();
    assert_eq!(info["name"], "myapp");
    assert_eq!(info["current_release"], 1);

    let refused = server.cli(&["apps:destroy", "myapp"]);
    assert!(refused.fails().contains("--confirm myapp"));
    let refused = server.cli(&["apps:destroy", "myapp", "--confirm", "other"]);
    assert!(refused.fails().contains("--confirm myapp"));
    server
        .cli(&["apps:destroy", "myapp", "--confirm", "myapp"])
        .ok();
    let gone = server.cli(&["apps:info", "-a", "myapp"]);
    assert!(gone.fails().contains("paas apps:create myapp"));
    assert!(!server.data_dir.path().join("repos/myapp.git").exists());
}

#[test]
fn apps_create_inside_a_git_repo_adds_the_paas_remote() {
    let server = Server::start();
    let repo = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        server
            .command("git")
            .current_dir(repo.path())
            .args(args)
            .status()
            .unwrap()
    };
    assert!(git(&["init", "-q"]).success());
    server
        .cli_in(repo.path(), ADMIN_TOKEN, &["apps:create", "remoteapp"])
        .ok();
    let url = server
        .command("git")
        .current_dir(repo.path())
        .args(["remote", "get-url", "paas"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&url.stdout).trim(),
        format!("{}/remoteapp.git", server.url)
    );
    // Without -a, the app comes from the remote.
    let config = server.cli_in(repo.path(), ADMIN_TOKEN, &["config:set", "FROM_REMOTE=1"]);
    assert!(config.ok().contains("restarting remoteapp"));
}

#[test]
fn config_set_get_unset_make_numbered_releases_with_heroku_descriptions() {
    let server = Server::start();
    server.cli(&["apps:create", "cfg"]).ok();
    let set = server.cli(&["config:set", "DEBUG=0", "SECRET_KEY=abc", "-a", "cfg"]);
    assert!(
        set.ok()
            .contains("Setting DEBUG, SECRET_KEY and restarting cfg... done, v2"),
        "{}",
        set.stdout
    );
    assert_eq!(
        server.cli(&["config:get", "DEBUG", "-a", "cfg"]).ok(),
        "0\n"
    );
    let multiline = server.cli(&["config:set", "CERT=line1\nline2 é", "-a", "cfg"]);
    multiline.ok();
    let shown = server.cli(&["config", "-a", "cfg"]);
    assert!(shown.ok().contains("=== cfg Config Vars"));
    assert!(shown.stdout.contains("SECRET_KEY: abc"));
    assert_eq!(
        server.cli(&["config:get", "CERT", "-a", "cfg"]).ok(),
        "line1\nline2 é\n"
    );
    let unset = server.cli(&["config:unset", "DEBUG", "-a", "cfg"]);
    assert!(
        unset
            .ok()
            .contains("Unsetting DEBUG and restarting cfg... done, v4")
    );

    let releases: Value =
        serde_json::from_str(server.cli(&["releases", "-a", "cfg", "--json"]).ok()).unwrap();
    let descriptions: Vec<&str> = releases
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["description"].as_str().unwrap())
        .collect();
    assert_eq!(
        descriptions,
        [
            "Remove DEBUG config var",
            "Set CERT config var",
            "Set DEBUG, SECRET_KEY config vars",
            "Initial release"
        ]
    );
    let table = server.cli(&["releases", "-a", "cfg"]);
    assert!(table.ok().contains("=== cfg Releases - Current: v4"));
    let info = server.cli(&["releases:info", "v2", "-a", "cfg"]);
    assert!(info.ok().contains("Set DEBUG, SECRET_KEY config vars"));
    assert!(info.stdout.contains("DEBUG:      0"), "{}", info.stdout);
}

#[test]
fn global_config_is_for_admins_and_listed_apart() {
    let server = Server::start();
    server
        .cli(&["config:set", "--global", "SENTRY_DSN=https://x"])
        .ok();
    assert_eq!(
        server.cli(&["config:get", "--global", "SENTRY_DSN"]).ok(),
        "https://x\n"
    );
    let member = server.create_member("alice");
    let refused = server.cli_with_token(&member, &["config:set", "--global", "X=1"]);
    assert!(refused.fails().contains("only admins"));
}

#[test]
fn rollback_makes_a_new_release_with_the_old_config() {
    let server = Server::start();
    server.cli(&["apps:create", "rb"]).ok();
    server.cli(&["config:set", "A=1", "-a", "rb"]).ok();
    server.cli(&["config:set", "A=2", "-a", "rb"]).ok();
    let back = server.cli(&["rollback", "v2", "-a", "rb"]);
    assert!(
        back.ok().contains("Rolling back rb to v2... done, v4"),
        "{}",
        back.stdout
    );
    assert_eq!(server.cli(&["config:get", "A", "-a", "rb"]).ok(), "1\n");
    let previous = server.cli(&["rollback", "-a", "rb"]);
    assert!(previous.ok().contains("done, v5"));
    let info: Value = serde_json::from_str(
        server
            .cli(&["releases:info", "v5", "-a", "rb", "--json"])
            .ok(),
    )
    .unwrap();
    assert_eq!(info["description"], "Rollback to v3");
    assert_eq!(server.cli(&["config:get", "A", "-a", "rb"]).ok(), "2\n");
    let missing = server.cli(&["rollback", "v99", "-a", "rb"]);
    assert!(missing.fails().contains("release v99 not found"));
    let releases: Value =
        serde_json::from_str(server.cli(&["releases", "-a", "rb", "--json"]).ok()).unwrap();
    assert_eq!(
        releases.as_array().unwrap().len(),
        5,
        "a refused rollback makes no release"
    );
}

#[test]
fn formation_is_stored_and_shown() {
    let server = Server::start();
    server.cli(&["apps:create", "ps"]).ok();
    let scaled = server.cli(&["ps:scale", "web=2", "worker=1", "-a", "ps"]);
    assert!(
        scaled.ok().contains("now running web at 2, worker at 1"),
        "{}",
        scaled.stdout
    );
    let formation: Value =
        serde_json::from_str(server.cli(&["ps", "-a", "ps", "--json"]).ok()).unwrap();
    let formation = &formation["formation"];
    assert_eq!(formation[0]["process_type"], "web");
    assert_eq!(formation[0]["quantity"], 2);
    assert_eq!(formation[1]["quantity"], 1);
    assert!(
        server
            .cli(&["ps:scale", "web=lots", "-a", "ps"])
            .fails()
            .contains("invalid quantity")
    );
}

#[test]
fn domains_are_unique_across_apps() {
    let server = Server::start();
    server.cli(&["apps:create", "one"]).ok();
    server.cli(&["apps:create", "two"]).ok();
    let added = server.cli(&["domains:add", "WWW.Example.com", "-a", "one"]);
    assert!(added.ok().contains("CNAME"));
    let listed = server.cli(&["domains", "-a", "one"]);
    assert!(listed.ok().contains("www.example.com"));
    let taken = server.cli(&["domains:add", "www.example.com", "-a", "two"]);
    assert!(taken.fails().contains("already added to another app"));
    assert!(
        server
            .cli(&["domains:add", "not a domain", "-a", "two"])
            .fails()
            .contains("invalid domain")
    );
    server
        .cli(&["domains:remove", "www.example.com", "-a", "one"])
        .ok();
    server
        .cli(&["domains:add", "www.example.com", "-a", "two"])
        .ok();
}

#[test]
fn members_see_only_their_apps_and_get_404_for_others() {
    let server = Server::start();
    let alice = server.create_member("alice");
    let bob = server.create_member("bob");
    server
        .cli_with_token(&alice, &["apps:create", "alices"])
        .ok();
    server.cli_with_token(&bob, &["apps:create", "bobs"]).ok();

    let hidden = server.cli_with_token(&alice, &["config", "-a", "bobs"]);
    assert!(hidden.fails().contains("app \"bobs\" not found"));
    assert!(
        !server
            .cli_with_token(&alice, &["apps"])
            .ok()
            .contains("bobs")
    );
    assert!(
        server.cli(&["apps"]).ok().contains("bobs"),
        "admins see every app"
    );

    server
        .cli_with_token(&bob, &["access:add", "alice", "-a", "bobs"])
        .ok();
    server
        .cli_with_token(&alice, &["config:set", "SHARED=1", "-a", "bobs"])
        .ok();
    let events = server.cli_with_token(&alice, &["events"]);
    assert!(events.ok().contains("gave alice access"));
    server
        .cli_with_token(&bob, &["access:remove", "alice", "-a", "bobs"])
        .ok();
    assert!(
        server
            .cli_with_token(&alice, &["releases", "-a", "bobs"])
            .fails()
            .contains("not found")
    );

    let refused = server.cli_with_token(&alice, &["users:create", "mallory"]);
    assert!(refused.fails().contains("only admins"));
}

#[tokio::test]
async fn members_get_404_not_403_over_http() {
    let server = Server::start();
    let alice = server.create_member("alice");
    server.cli(&["apps:create", "secret"]).ok();
    let response = server
        .http()
        .get(server.api("/apps/secret/config"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[test]
fn tokens_are_shown_once_and_revocable() {
    let server = Server::start();
    let created: Value =
        serde_json::from_str(server.cli(&["tokens:create", "ci", "--json"]).ok()).unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_i64().unwrap().to_string();
    assert!(
        server
            .cli_with_token(&token, &["whoami"])
            .ok()
            .starts_with("admin (admin)")
    );
    let listed = server.cli(&["tokens"]);
    assert!(listed.ok().contains("ci"));
    assert!(!listed.stdout.contains(&token), "tokens are never listed");
    server.cli(&["tokens:revoke", &id]).ok();
    let revoked = server.cli_with_token(&token, &["apps"]);
    assert!(
        revoked
            .fails()
            .contains("invalid or revoked token; run paas login")
    );
    assert!(
        server
            .cli_with_token("paas_wrong", &["apps"])
            .fails()
            .contains("paas login")
    );
}

#[test]
fn apps_can_be_transferred_and_a_removed_user_loses_their_tokens_and_memberships() {
    let server = Server::start();
    let alice = server.create_member("alice");
    server.cli(&["apps:create", "shared"]).ok();
    server.cli(&["access:add", "alice", "-a", "shared"]).ok();
    server
        .cli_with_token(&alice, &["apps:create", "alices"])
        .ok();

    let unconfirmed = server.cli(&["users:destroy", "alice"]);
    assert!(unconfirmed.fails().contains("--confirm alice"));
    let by_member =
        server.cli_with_token(&alice, &["users:destroy", "admin", "--confirm", "admin"]);
    assert!(by_member.fails().contains("only admins"));
    let self_removal = server.cli(&["users:destroy", "admin", "--confirm", "admin"]);
    assert!(self_removal.fails().contains("cannot remove yourself"));
    let owner = server.cli(&["users:destroy", "alice", "--confirm", "alice"]);
    assert!(
        owner
            .fails()
            .contains("alice owns alices; transfer them first (paas apps:transfer USER -a APP)"),
        "{}",
        owner.stderr
    );
    assert!(
        server
            .cli_with_token(&alice, &["whoami"])
            .ok()
            .starts_with("alice")
    );

    let not_hers = server.cli_with_token(&alice, &["apps:transfer", "alice", "-a", "shared"]);
    assert!(
        not_hers
            .fails()
            .contains("only shared's owner (admin) or an admin")
    );
    server
        .cli_with_token(&alice, &["apps:transfer", "admin", "-a", "alices"])
        .ok();
    let access = server.cli(&["access", "-a", "alices"]);
    assert_eq!(
        access.ok(),
        "=== alices Access\nadmin  owner\nalice  member\n"
    );
    server
        .cli(&["users:destroy", "alice", "--confirm", "alice"])
        .ok();
    assert!(
        server
            .cli_with_token(&alice, &["whoami"])
            .fails()
            .contains("invalid or revoked token")
    );
    assert!(!server.cli(&["users"]).ok().contains("alice"));
    let members = server.cli(&["access", "-a", "shared"]);
    assert!(!members.ok().contains("alice"), "{}", members.stdout);
    assert!(server.cli(&["events"]).ok().contains("removed alice"));
    let again = server.cli(&["users:destroy", "alice", "--confirm", "alice"]);
    assert!(again.fails().contains("user \"alice\" not found"));
}

#[test]
fn login_stores_a_private_token_and_sets_up_git() {
    let server = Server::start();
    let login = server
        .command(common::paas_bin())
        .args(["login", &server.url, "--token", ADMIN_TOKEN])
        .env_remove("PAAS_URL")
        .output()
        .unwrap();
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    let path = server.home.path().join(".config/paas/credentials.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let whoami = server
        .command(common::paas_bin())
        .arg("whoami")
        .env_remove("PAAS_URL")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&whoami.stdout).contains("admin"));
    let mut helper = server
        .command("git")
        .args(["credential", "fill"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let host = server.url.trim_start_matches("http://");
    write!(
        helper.stdin.take().unwrap(),
        "protocol=http\nhost={host}\n\n"
    )
    .unwrap();
    let out = helper.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("password={ADMIN_TOKEN}")), "{text}");
}

#[test]
fn bad_input_gets_one_clear_line_and_changes_nothing() {
    let server = Server::start();
    assert!(
        server
            .cli(&["apps:create", "Bad_Name"])
            .fails()
            .contains("invalid app name")
    );
    server.cli(&["apps:create", "dup"]).ok();
    assert!(
        server
            .cli(&["apps:create", "dup"])
            .fails()
            .contains("already exists")
    );
    assert!(
        server
            .cli(&["config", "-a", "ghost"])
            .fails()
            .contains("paas apps:create ghost")
    );
    assert!(
        server
            .cli(&["config:set", "1BAD=x", "-a", "dup"])
            .fails()
            .contains("invalid config key")
    );
    assert!(
        server
            .cli(&["config:set", "PAAS_APP=x", "-a", "dup"])
            .fails()
            .contains("reserved")
    );
    assert!(
        server
            .cli(&["config:set", "NOEQUALS", "-a", "dup"])
            .fails()
            .contains("KEY=VALUE")
    );
    let big = format!("BIG={}", "x".repeat(70 * 1024));
    assert!(
        server
            .cli(&["config:set", &big, "-a", "dup"])
            .fails()
            .contains("limit")
    );
    let releases: Value =
        serde_json::from_str(server.cli(&["releases", "-a", "dup", "--json"]).ok()).unwrap();
    assert_eq!(
        releases.as_array().unwrap().len(),
        1,
        "no refused change made a release"
    );
}

#[tokio::test]
async fn malformed_json_and_missing_auth_get_clear_http_errors() {
    let server = Server::start();
    let http = server.http();
    let response = http
        .post(server.api("/apps"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("malformed JSON"));

    let response = http.get(server.api("/apps")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().get("www-authenticate").is_some());
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("paas login"));

    let health = http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let other_host = http
        .get(format!("{}/", server.url))
        .header("host", "nothing.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(other_host.status(), 404);
    assert!(
        other_host
            .text()
            .await
            .unwrap()
            .contains("nothing.example.com")
    );
}

#[test]
fn twenty_concurrent_config_sets_lose_nothing() {
    let server = Server::start();
    server.cli(&["apps:create", "busy"]).ok();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let server = &server;
                scope.spawn(move || {
                    server.cli(&["config:set", &format!("KEY_{i}={i}"), "-a", "busy"])
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap().ok();
        }
    });
    let releases: Value =
        serde_json::from_str(server.cli(&["releases", "-a", "busy", "--json"]).ok()).unwrap();
    let mut versions: Vec<i64> = releases
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_i64().unwrap())
        .collect();
    versions.sort();
    assert_eq!(versions, (1..=21).collect::<Vec<_>>());
    let config: Value =
        serde_json::from_str(server.cli(&["config", "-a", "busy", "--json"]).ok()).unwrap();
    for i in 0..20 {
        assert_eq!(config[format!("KEY_{i}")], json!(i.to_string()));
    }
}

#[test]
fn everything_survives_a_restart() {
    let server = Server::start();
    server.cli(&["apps:create", "durable"]).ok();
    server.cli(&["config:set", "KEEP=me", "-a", "durable"]).ok();
    server
        .cli(&["domains:add", "durable.example.com", "-a", "durable"])
        .ok();
    let token: Value =
        serde_json::from_str(server.cli(&["tokens:create", "kept", "--json"]).ok()).unwrap();
    let server = server.restart();
    assert_eq!(
        server.cli(&["config:get", "KEEP", "-a", "durable"]).ok(),
        "me\n"
    );
    assert!(
        server
            .cli(&["domains", "-a", "durable"])
            .ok()
            .contains("durable.example.com")
    );
    assert!(
        server
            .cli(&["releases", "-a", "durable"])
            .ok()
            .contains("Current: v2")
    );
    server
        .cli_with_token(token["token"].as_str().unwrap(), &["apps"])
        .ok();
    assert!(
        !server.log_text().contains("first start"),
        "the admin is made only once"
    );
}
