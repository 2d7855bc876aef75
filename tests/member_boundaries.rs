//! What a member reads and names through the API stays within their apps: `/metrics`,
//! custom domains (never the control plane's names), the audit trail of `paas run` and of
//! an app that once had the same name.

mod common;

use common::{ADMIN_TOKEN, Server};

async fn metrics(server: &Server, token: &str) -> String {
    let response = server
        .http()
        .get(format!("{}/metrics", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_sees_only_their_own_apps_metrics() {
    let server = Server::start();
    let alice = server.create_member("alice");
    server.cli(&["apps:create", "payroll"]).ok();
    server.cli_with_token(&alice, &["apps:create", "blog"]).ok();
    for app in ["payroll", "blog", "nosuchapp"] {
        server.get(app, "/");
    }
    let admin = metrics(&server, ADMIN_TOKEN).await;
    assert!(admin.contains("app=\"payroll\""), "{admin}");
    assert!(admin.contains("paas_router_unknown_host_requests_total 1"));
    let mine = metrics(&server, &alice).await;
    assert!(mine.contains("app=\"blog\""), "{mine}");
    assert!(
        !mine.contains("payroll"),
        "another tenant's app leaked:\n{mine}"
    );
    assert!(
        !mine.contains("unknown_host"),
        "platform-wide series are for admins:\n{mine}"
    );
}

#[test]
fn a_member_cannot_add_the_control_plane_as_a_custom_domain() {
    let server = Server::start_with(&[("PAAS_CONTROL_HOST", "paas.example.com")]);
    let alice = server.create_member("alice");
    server.cli_with_token(&alice, &["apps:create", "site"]).ok();
    for host in [
        "paas.example.com",
        "PAAS.example.com.",
        "*.example.com",
        "localhost",
        "127.0.0.1",
    ] {
        let refused = server.cli_with_token(&alice, &["domains:add", host, "-a", "site"]);
        assert!(
            refused.fails().contains("names this paas's control plane"),
            "{host}: {}",
            refused.stderr
        );
    }
    server
        .cli_with_token(&alice, &["domains:add", "www.example.com", "-a", "site"])
        .ok();
    let (status, _) = {
        let out = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
            .arg("Host: paas.example.com")
            .arg(format!("{}/healthz", server.url))
            .output()
            .unwrap();
        (String::from_utf8_lossy(&out.stdout).into_owned(), ())
    };
    assert_eq!(
        status, "200",
        "the control host still answers as the control plane"
    );
}

#[test]
fn run_events_name_the_program_never_its_arguments() {
    let server = Server::start();
    let alice = server.create_member("alice");
    server.cli_with_token(&alice, &["apps:create", "jobs"]).ok();
    // No release yet, so nothing starts; the attempt is recorded all the same.
    let _ = server.cli_with_token(
        &alice,
        &[
            "run",
            "-a",
            "jobs",
            "--detach",
            "API_KEY=s3cret-value",
            "./sync",
            "--password=hunter22",
        ],
    );
    let events = server.cli(&["events", "-a", "jobs"]);
    let text = events.ok();
    assert!(text.contains("ran ./sync with 1 argument"), "{text}");
    assert!(
        !text.contains("s3cret-value") && !text.contains("hunter22"),
        "{text}"
    );
}

#[test]
fn a_new_app_never_shows_the_events_of_a_destroyed_namesake() {
    let server = Server::start();
    let alice = server.create_member("alice");
    let bob = server.create_member("bob");
    server
        .cli_with_token(&alice, &["apps:create", "reused"])
        .ok();
    server
        .cli_with_token(
            &alice,
            &["config:set", "ALICE_PRIVATE_FLAG=1", "-a", "reused"],
        )
        .ok();
    server
        .cli_with_token(&alice, &["apps:destroy", "reused", "--confirm", "reused"])
        .ok();
    server.cli_with_token(&bob, &["apps:create", "reused"]).ok();
    for args in [&["events", "-a", "reused"][..], &["events"][..]] {
        let seen = server.cli_with_token(&bob, args);
        let text = seen.ok();
        assert!(!text.contains("ALICE_PRIVATE_FLAG"), "{args:?}: {text}");
        assert!(!text.contains("alice"), "{args:?}: {text}");
        assert!(text.contains("bob"), "{args:?}: {text}");
    }
    let admin = server.cli(&["events"]);
    assert!(
        admin.ok().contains("ALICE_PRIVATE_FLAG"),
        "admins keep the whole trail"
    );
}
