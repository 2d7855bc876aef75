//! The web UI's add-ons tab against a real server with real Postgres and Redis add-ons:
//! every form as POST, redirect, GET with a flash; the add-on's password never in a page
//! until revealed; backups captured, downloaded, restored and scheduled; refusals leave
//! everything as it was; members who cannot see the app get 404.

mod common;
mod web_support;

use common::Server;
use reqwest::Method;
use serde_json::Value;
use web_support::{Browser, admin_name, admin_password, api};

async fn signed_in_admin(server: &Server) -> Browser {
    let browser = Browser::new(server);
    let page = browser
        .login(&admin_name(server).await, &admin_password(server))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    browser
}

async fn addons_of(server: &Server, app: &str) -> Vec<Value> {
    let (status, listed) = api(server, Method::GET, &format!("/apps/{app}/addons"), None).await;
    assert_eq!(status, 200, "{listed}");
    listed.as_array().expect("a list").clone()
}

async fn config_of(server: &Server, app: &str) -> Value {
    api(server, Method::GET, &format!("/apps/{app}/config"), None)
        .await
        .1
}

/// `scheme://user:PASSWORD@host...` -> PASSWORD.
fn password_in(url: &str) -> String {
    let credentials = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(credentials, _)| credentials)
        .unwrap_or_else(|| panic!("no credentials in {url}"));
    let password = credentials
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(password.len() >= 32, "{url}");
    password
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_addon_is_created_shown_masked_restarted_and_destroyed_through_the_tab() {
    let server = Server::start();
    let browser = signed_in_admin(&server).await;
    browser.submit("/", "/apps", &[("name", "cache")]).await;

    let empty = browser.get("/apps/cache/addons").await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert!(empty.body.contains("No add-ons yet"), "{}", empty.body);
    assert!(
        empty
            .body
            .contains("href=\"/apps/cache/addons\" aria-current=\"page\""),
        "the tab bar has the tab, current"
    );

    // Without the CSRF token nothing is made.
    let forged = browser
        .post("/apps/cache/addons", &[("kind", "redis"), ("as", "")])
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let wrong = browser
        .post(
            "/apps/cache/addons",
            &[("csrf", "not-the-token"), ("kind", "redis")],
        )
        .await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    assert!(addons_of(&server, "cache").await.is_empty());

    let unknown = browser
        .submit(
            "/apps/cache/addons",
            "/apps/cache/addons",
            &[("kind", "mysql"), ("as", "")],
        )
        .await;
    assert!(
        unknown.flash().contains("paas runs postgres and redis"),
        "{}",
        unknown.flash()
    );

    let created = browser
        .submit(
            "/apps/cache/addons",
            "/apps/cache/addons",
            &[("kind", "redis"), ("as", "")],
        )
        .await;
    let flash = created.flash();
    assert!(
        flash.starts_with("Done: created redis-") && flash.contains("(redis 7)"),
        "{flash}"
    );
    assert!(
        flash.contains("attached as REDIS (REDIS_URL set); released v2"),
        "{flash}"
    );
    let listed = addons_of(&server, "cache").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let addon = listed[0]["name"].as_str().unwrap().to_owned();
    let body = &created.body;
    assert!(body.contains(&addon), "{body}");
    assert!(body.contains("REDIS_URL"), "{body}");
    assert!(
        body.contains("<span class=\"badge tone-ok\">up</span>"),
        "{body}"
    );
    assert!(body.contains("redis 7"), "{body}");
    assert!(body.contains("MiB"), "{body}");
    let url = config_of(&server, "cache").await["REDIS_URL"]
        .as_str()
        .expect("REDIS_URL set")
        .to_owned();
    let password = password_in(&url);
    assert!(
        !body.contains(&password),
        "the password is not in the page's HTML"
    );
    assert!(body.contains("••••••••"), "the URL is masked");
    let revealed = browser.get("/apps/cache/addons?reveal=1").await;
    assert!(
        revealed.body.contains(&url),
        "revealed on request: {}",
        revealed.body
    );

    let restarted = browser
        .submit(
            "/apps/cache/addons",
            "/apps/cache/addons/restart",
            &[("addon", &addon)],
        )
        .await;
    assert_eq!(
        restarted.flash(),
        format!("Done: restarted {addon}; it is up")
    );
    let not_here = browser
        .submit(
            "/apps/cache/addons",
            "/apps/cache/addons/restart",
            &[("addon", "redis-nope-1234")],
        )
        .await;
    assert!(
        not_here.flash().contains("not attached to cache"),
        "{}",
        not_here.flash()
    );

    // A member who cannot see the app gets what every other tab gives.
    api(
        &server,
        Method::POST,
        "/users",
        Some(serde_json::json!({"name": "mallory", "password": "mallory-pass-1"})),
    )
    .await;
    let mallory = Browser::new(&server);
    let home = mallory.login("mallory", "mallory-pass-1").await;
    for path in [
        "/apps/cache/addons",
        "/apps/cache/addons?reveal=1",
        "/apps/cache/addons/backups/b001",
    ] {
        let page = mallory.get(path).await;
        assert_eq!(page.status, 404, "{path}: {}", page.body);
        assert!(!page.body.contains(&password), "{path}");
    }
    let csrf = home.csrf();
    for (action, fields) in [
        ("/apps/cache/addons", vec![("kind", "redis")]),
        (
            "/apps/cache/addons/restart",
            vec![("addon", addon.as_str())],
        ),
        (
            "/apps/cache/addons/destroy",
            vec![("addon", addon.as_str()), ("confirm", "cache")],
        ),
        ("/apps/cache/addons/detach", vec![("addon", addon.as_str())]),
        ("/apps/cache/addons/attach", vec![("addon", addon.as_str())]),
        (
            "/apps/cache/addons/backups",
            vec![("addon", addon.as_str())],
        ),
        (
            "/apps/cache/addons/schedule",
            vec![("addon", addon.as_str()), ("at", "01:00")],
        ),
        (
            "/apps/cache/addons/backups/restore",
            vec![("id", "1"), ("confirm", "cache")],
        ),
    ] {
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend(fields);
        let page = mallory.post(action, &all).await;
        assert_eq!(page.status, 404, "{action}: {}", page.body);
    }

    let refused = browser
        .submit(
            "/apps/cache/addons",
            "/apps/cache/addons/destroy",
            &[("addon", &addon), ("confirm", "cach")],
        )
        .await;
    assert!(
        refused
            .flash()
            .starts_with(&format!("Could not do that: to destroy {addon}")),
        "{}",
        refused.flash()
    );
    assert!(refused.flash().contains("confirm with --confirm cache"));
    assert_eq!(addons_of(&server, "cache").await.len(), 1, "still there");
    assert!(refused.body.contains(&addon));
    assert_eq!(config_of(&server, "cache").await["REDIS_URL"], url);

    let destroyed = browser
        .submit(
            "/apps/cache/addons",
            "/apps/cache/addons/destroy",
            &[("addon", &addon), ("confirm", "cache")],
        )
        .await;
    assert_eq!(
        destroyed.flash(),
        format!("Done: destroyed {addon} and its data")
    );
    assert!(addons_of(&server, "cache").await.is_empty());
    assert!(config_of(&server, "cache").await.get("REDIS_URL").is_none());
    assert!(destroyed.body.contains("No add-ons yet"));
    assert!(!server.log_text().contains(&password), "not in the log");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_backup_is_captured_downloaded_restored_and_scheduled_through_the_tab() {
    let server = Server::start();
    let browser = signed_in_admin(&server).await;
    browser.submit("/", "/apps", &[("name", "books")]).await;
    let created = browser
        .submit(
            "/apps/books/addons",
            "/apps/books/addons",
            &[("kind", "postgres"), ("as", "")],
        )
        .await;
    assert!(
        created
            .flash()
            .contains("attached as DATABASE (DATABASE_URL set)"),
        "{}",
        created.flash()
    );
    let addon = addons_of(&server, "books").await[0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let password = password_in(
        config_of(&server, "books").await["DATABASE_URL"]
            .as_str()
            .unwrap(),
    );
    assert!(created.body.contains("No backups yet"), "{}", created.body);
    assert!(!created.body.contains(&password));

    let captured = browser
        .submit(
            "/apps/books/addons",
            "/apps/books/addons/backups",
            &[("addon", &addon)],
        )
        .await;
    assert!(
        captured
            .flash()
            .starts_with(&format!("Done: captured b001 of {addon} (")),
        "{}",
        captured.flash()
    );
    let body = &captured.body;
    assert!(body.contains(">b001</th>"), "{body}");
    assert!(body.contains(">manual</td>"), "{body}");
    assert!(
        body.contains("<span class=\"badge tone-ok\">succeeded</span>"),
        "{body}"
    );
    assert!(
        body.contains("href=\"/apps/books/addons/backups/b001\""),
        "{body}"
    );

    let (status, headers, bytes) = browser.get_bytes("/apps/books/addons/backups/b001").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "application/octet-stream");
    assert_eq!(
        header("content-disposition"),
        "attachment; filename=\"books-b001.dump\""
    );
    assert!(
        bytes.starts_with(b"PGDMP"),
        "a pg_dump custom-format file: {:?}",
        &bytes[..bytes.len().min(16)]
    );
    let (_, backups) = api(
        &server,
        Method::GET,
        &format!("/apps/books/addons/{addon}/backups"),
        None,
    )
    .await;
    assert_eq!(
        backups[0]["size"].as_u64(),
        Some(bytes.len() as u64),
        "the whole file"
    );
    let missing = browser.get("/apps/books/addons/backups/b042").await;
    assert_eq!(missing.status, 303, "back to the tab with what went wrong");
    let missing = browser.get(missing.location.as_deref().unwrap()).await;
    assert!(
        missing.flash().contains("books has no backup b042"),
        "{}",
        missing.flash()
    );

    let scheduled = browser
        .submit(
            "/apps/books/addons",
            "/apps/books/addons/schedule",
            &[("addon", &addon), ("at", "2:30")],
        )
        .await;
    assert_eq!(
        scheduled.flash(),
        format!("Done: {addon} is backed up daily at 02:30 UTC")
    );
    assert!(scheduled.body.contains("value=\"02:30\""));
    let bad_time = browser
        .submit(
            "/apps/books/addons",
            "/apps/books/addons/schedule",
            &[("addon", &addon), ("at", "25:00")],
        )
        .await;
    assert!(
        bad_time.flash().contains("invalid time \"25:00\""),
        "{}",
        bad_time.flash()
    );
    assert_eq!(
        addons_of(&server, "books").await[0]["backup_at"],
        "02:30",
        "a refused time changes nothing"
    );
    let off = browser
        .submit(
            "/apps/books/addons",
            "/apps/books/addons/schedule",
            &[("addon", &addon), ("at", "off")],
        )
        .await;
    assert_eq!(
        off.flash(),
        format!("Done: no more scheduled backups of {addon}")
    );
    assert!(
        addons_of(&server, "books").await[0]
            .get("backup_at")
            .is_none()
    );

    let unconfirmed = browser
        .submit(
            "/apps/books/addons",
            "/apps/books/addons/backups/restore",
            &[("id", "1"), ("addon", &addon), ("confirm", "nope")],
        )
        .await;
    assert!(
        unconfirmed.flash().contains("confirm with --confirm books"),
        "{}",
        unconfirmed.flash()
    );
    let restored = browser
        .submit(
            "/apps/books/addons",
            "/apps/books/addons/backups/restore",
            &[("id", "1"), ("addon", &addon), ("confirm", "books")],
        )
        .await;
    assert_eq!(
        restored.flash(),
        format!("Done: restored b001 into {addon}")
    );

    // Destroying keeps a final backup, still downloadable from the tab.
    let destroyed = browser
        .submit(
            "/apps/books/addons",
            "/apps/books/addons/destroy",
            &[("addon", &addon), ("confirm", "books")],
        )
        .await;
    assert_eq!(
        destroyed.flash(),
        format!("Done: destroyed {addon} and its data")
    );
    let body = &destroyed.body;
    assert!(
        body.contains("Backups of add-ons no longer attached"),
        "{body}"
    );
    assert!(body.contains(">b002</th>") && body.contains(">destroy</td>"));
    let (status, _, last) = browser.get_bytes("/apps/books/addons/backups/b002").await;
    assert_eq!(status, 200);
    assert!(last.starts_with(b"PGDMP"));
    assert!(!server.log_text().contains(&password), "not in the log");
}
