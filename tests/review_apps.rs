//! Review apps end to end: a branch pushed to the parent's repository becomes its own app
//! with its own copy of the parent's database (real git, engine, Postgres add-on), seen
//! only by whoever sees the parent, and deleting the branch destroys it.

mod common;
mod web_support;

use std::path::Path;

use common::{Server, docker};
use web_support::{Browser, admin_name, admin_password};

fn config_of(server: &Server, app: &str, key: &str) -> String {
    server
        .cli(&["config:get", key, "-a", app])
        .ok()
        .trim()
        .to_owned()
}

/// The branches of the app's bare repository on the server.
fn branches(server: &Server, app: &str) -> Vec<String> {
    let repo = server.data_dir.path().join(format!("repos/{app}.git"));
    let out = server.git(
        Path::new("/"),
        &[
            "--git-dir",
            repo.to_str().unwrap(),
            "for-each-ref",
            "--format=%(refname)",
            "refs/heads",
        ],
    );
    out.ok().lines().map(str::to_owned).collect()
}

#[test]
fn a_pushed_branch_gets_its_own_app_and_database_copy_and_deleting_it_destroys_it() {
    let server = Server::start();
    let repo = server.deploy("addon-app", "shop");
    server
        .cli(&["addons:create", "postgres", "-a", "shop"])
        .ok();
    server
        .cli(&["config:set", "MODE=production", "GREETING=hi", "-a", "shop"])
        .ok();
    assert_eq!(server.answer("shop", "/write?v=parent"), "written");
    let parent_url = config_of(&server, "shop", "DATABASE_URL");

    let enabled = server.cli(&[
        "reviewapps:enable",
        "--pattern",
        "feature/*",
        "--copy-addons",
        "-a",
        "shop",
    ]);
    assert!(
        enabled.ok().contains("branches matching feature/*"),
        "{}",
        enabled.stdout
    );

    // The branch's app.json overrides MODE for review apps and cleans up before destroy.
    server
        .git(repo.path(), &["checkout", "-q", "-b", "feature/x"])
        .ok();
    std::fs::write(
        repo.path().join("app.json"),
        r#"{"addons": ["heroku-redis"],
            "environments": {"review": {"env": {"MODE": "review"}}},
            "scripts": {"pr-predestroy": "echo predestroy-ran-in-$MODE"}}"#,
    )
    .unwrap();
    server.commit_all(repo.path(), "review settings");
    let pushed = server.git(repo.path(), &["push", "paas", "HEAD:feature/x"]);
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    assert!(
        pushed.stderr.contains("Created review app shop-feature-x"),
        "{}",
        pushed.stderr
    );
    let review = "shop-feature-x";
    assert_eq!(
        server.answer(review, "/read"),
        "items: parent",
        "the copy holds the parent's row"
    );
    let review_url = config_of(&server, review, "DATABASE_URL");
    let review_pg = server.addon_of(review, "postgres");
    assert_ne!(review_url, parent_url);
    assert!(
        review_url.contains(&format!("@{review_pg}:5432/")),
        "{review_url}"
    );
    assert_ne!(review_pg, server.addon_of("shop", "postgres"));
    assert_eq!(config_of(&server, review, "MODE"), "review");
    assert_eq!(config_of(&server, review, "GREETING"), "hi");

    assert_eq!(server.answer(review, "/write?v=review"), "written");
    assert_eq!(server.answer(review, "/read"), "items: parent,review");
    assert_eq!(
        server.answer("shop", "/read"),
        "items: parent",
        "the review app's writes stay in its own database"
    );

    let listed = server.cli(&["reviewapps", "-a", "shop"]);
    let row = listed
        .ok()
        .lines()
        .find(|l| l.starts_with(review))
        .unwrap_or_default()
        .to_owned();
    assert!(row.contains("feature/x"), "{}", listed.stdout);
    assert!(
        row.contains("shop-feature-x.localhost"),
        "{}",
        listed.stdout
    );

    // A member who cannot see the parent cannot see its review apps either: the same
    // answer as for an app that does not exist. Access to the parent is access to them.
    let member = server.create_member("bob");
    let missing = server.cli_with_token(&member, &["reviewapps", "-a", "nope"]);
    let missing = missing.fails().replace("nope", "APP");
    for (args, app) in [
        (vec!["reviewapps", "-a", "shop"], "shop"),
        (vec!["ps", "-a", review], review),
        (vec!["config", "-a", review], review),
    ] {
        let refused = server.cli_with_token(&member, &args);
        assert_eq!(refused.fails().replace(app, "APP"), missing, "{args:?}");
    }
    server.cli(&["access:add", "bob", "-a", "shop"]).ok();
    server.cli_with_token(&member, &["ps", "-a", review]).ok();

    // A branch the pattern does not match is refused and leaves the repository alone.
    let before = branches(&server, "shop");
    assert_eq!(before, ["refs/heads/feature/x", "refs/heads/main"]);
    let other = server.git(repo.path(), &["push", "paas", "HEAD:other"]);
    assert_ne!(other.code, 0);
    assert!(
        other.stderr.contains("only main deploys")
            && other
                .stderr
                .contains("review apps deploy branches matching feature/*"),
        "{}",
        other.stderr
    );
    assert_eq!(branches(&server, "shop"), before);
    assert!(!server.cli(&["apps"]).ok().contains("shop-other"));

    // The web UI lists the review app under its parent, and names its parent.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let browser = Browser::new(&server);
        browser
            .login(&admin_name(&server).await, &admin_password(&server))
            .await;
        let parent_page = browser.get("/apps/shop").await;
        assert!(
            parent_page
                .body
                .contains(r#"<a href="/apps/shop-feature-x">shop-feature-x</a>"#),
            "{}",
            parent_page.body
        );
        let review_page = browser.get("/apps/shop-feature-x").await;
        assert!(
            review_page
                .body
                .contains(r#"Review app of <a href="/apps/shop">shop</a>"#),
            "{}",
            review_page.body
        );
    });

    // Deleting the branch runs pr-predestroy and destroys the app and its add-ons.
    let containers = server.app_containers(review);
    assert!(!containers.is_empty());
    let addon_containers: Vec<String> = ["postgres", "redis"]
        .iter()
        .map(|kind| {
            format!(
                "paas-{}-addon-{}",
                server.instance(),
                server.addon_of(review, kind)
            )
        })
        .collect();
    let deleted = server.git(repo.path(), &["push", "paas", ":feature/x"]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    assert!(
        deleted.stderr.contains("predestroy-ran-in-review"),
        "{}",
        deleted.stderr
    );
    assert!(
        server
            .cli(&["apps:info", review])
            .fails()
            .contains("not found")
    );
    assert!(server.app_containers(review).is_empty());
    for container in &addon_containers {
        assert_ne!(
            docker(&["inspect", container]).code,
            0,
            "{container} is gone"
        );
    }
    assert_eq!(branches(&server, "shop"), ["refs/heads/main"]);
    assert_eq!(server.answer("shop", "/read"), "items: parent");
    let events = server.cli(&["events", "-a", "shop"]);
    for action in ["reviewapps.enable", "reviewapp.create", "reviewapp.destroy"] {
        assert!(events.ok().contains(action), "{action}: {}", events.stdout);
    }
}
