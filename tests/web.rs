//! The web UI against a real server: sessions, CSRF, who may see what, the failed-login
//! limit and escaping. (Form actions and live logs: web_actions.rs.)

mod common;
mod web_support;

use common::Server;
use reqwest::Method;
use serde_json::json;
use web_support::{Browser, admin_name, admin_password, api};

async fn signed_in_admin(server: &Server) -> Browser {
    let browser = Browser::new(server);
    let page = browser
        .login(&admin_name(server).await, &admin_password(server))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Create an app"), "{}", page.body);
    browser
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_without_a_session_redirect_to_the_login_page() {
    let server = Server::start();
    api(
        &server,
        Method::POST,
        "/apps",
        Some(json!({"name": "quiet"})),
    )
    .await;
    let browser = Browser::new(&server);
    for (path, next) in [
        ("/", None),
        ("/apps/quiet", Some("/apps/quiet")),
        (
            "/apps/quiet/config?reveal=1",
            Some("/apps/quiet/config%3Freveal%3D1"),
        ),
        ("/apps/quiet/logs/stream", Some("/apps/quiet/logs/stream")),
        ("/users", Some("/users")),
        ("/tokens", Some("/tokens")),
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 303, "{path}");
        let expected = match next {
            Some(next) => format!("/login?next={next}"),
            None => "/login".to_owned(),
        };
        assert_eq!(page.location.as_deref(), Some(expected.as_str()), "{path}");
    }
    // A form posted without a session changes nothing either.
    let posted = browser.post("/apps", &[("name", "sneaky")]).await;
    assert_eq!(posted.status, 303);
    assert!(posted.location.unwrap().starts_with("/login"));
    let (status, _) = api(&server, Method::GET, "/apps/sneaky", None).await;
    assert_eq!(status, 404);
    // A stale or forged session cookie is no session.
    browser.set_cookie("paas_session", "00112233445566778899");
    assert_eq!(browser.get("/").await.status, 303);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_without_a_valid_csrf_token_is_refused_and_changes_nothing() {
    let server = Server::start();
    let browser = signed_in_admin(&server).await;
    let good = browser.get("/").await.csrf();

    let missing = browser.post("/apps", &[("name", "nocsrf")]).await;
    let wrong = browser
        .post(
            "/apps",
            &[
                ("csrf", "0123456789abcdef0123456789abcdef"),
                ("name", "wrongcsrf"),
            ],
        )
        .await;
    for refused in [&missing, &wrong] {
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(
            refused.body.contains("nothing was changed"),
            "{}",
            refused.body
        );
    }
    for name in ["nocsrf", "wrongcsrf"] {
        let (status, _) = api(&server, Method::GET, &format!("/apps/{name}"), None).await;
        assert_eq!(status, 404, "{name} must not exist");
    }

    // The same token from another site's page is refused too.
    let cross_site = browser
        .post_with_origin(
            "/apps",
            "http://evil.example",
            &[("csrf", &good), ("name", "crosssite")],
        )
        .await;
    assert_eq!(cross_site.status, 403);
    assert_eq!(
        api(&server, Method::GET, "/apps/crosssite", None).await.0,
        404
    );

    // Config, the token that worked a moment ago, after signing out: refused, unchanged.
    api(
        &server,
        Method::POST,
        "/apps",
        Some(json!({"name": "keep"})),
    )
    .await;
    let refused = browser
        .post(
            "/apps/keep/config",
            &[("csrf", "bad"), ("key", "A"), ("value", "1")],
        )
        .await;
    assert_eq!(refused.status, 403);
    let (_, config) = api(&server, Method::GET, "/apps/keep/config", None).await;
    assert_eq!(config, json!({}));

    // With the right token the very same form works.
    let created = browser
        .post("/apps", &[("csrf", &good), ("name", "withcsrf")])
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    assert_eq!(
        api(&server, Method::GET, "/apps/withcsrf", None).await.0,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_cannot_open_or_change_another_users_app() {
    let server = Server::start();
    api(
        &server,
        Method::POST,
        "/apps",
        Some(json!({"name": "private"})),
    )
    .await;
    api(
        &server,
        Method::PATCH,
        "/apps/private/config",
        Some(json!({"SECRET": "s3cret"})),
    )
    .await;
    let (status, _) = api(
        &server,
        Method::POST,
        "/users",
        Some(json!({"name": "mallory", "password": "mallory-pass-1"})),
    )
    .await;
    assert_eq!(status, 201);

    let mallory = Browser::new(&server);
    let home = mallory.login("mallory", "mallory-pass-1").await;
    assert!(
        !home.body.contains("private"),
        "the app is not listed for a member"
    );
    assert!(
        !home.body.contains("href=\"/users\""),
        "members get no users page link"
    );
    for path in [
        "/apps/private",
        "/apps/private/config",
        "/apps/private/config?reveal=1",
        "/apps/private/releases",
        "/apps/private/logs",
        "/apps/private/logs/stream",
        "/apps/private/builds",
        "/apps/private/settings",
    ] {
        let page = mallory.get(path).await;
        assert_eq!(page.status, 404, "{path}: {}", page.body);
        assert!(!page.body.contains("s3cret"), "{path}");
    }
    let csrf = home.csrf();
    for (action, fields) in [
        (
            "/apps/private/config",
            vec![("key", "SECRET"), ("value", "pwned")],
        ),
        ("/apps/private/config/unset", vec![("key", "SECRET")]),
        ("/apps/private/scale", vec![("q.web", "5")]),
        (
            "/apps/private/domains",
            vec![("hostname", "evil.example.com")],
        ),
        ("/apps/private/rollback", vec![("version", "1")]),
        ("/apps/private/members", vec![("user", "mallory")]),
        ("/apps/private/destroy", vec![("confirm", "private")]),
    ] {
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend(fields);
        let page = mallory.post(action, &all).await;
        assert_eq!(page.status, 404, "{action}: {}", page.body);
    }
    let (_, config) = api(&server, Method::GET, "/apps/private/config", None).await;
    assert_eq!(config, json!({"SECRET": "s3cret"}));
    let (_, app) = api(&server, Method::GET, "/apps/private", None).await;
    assert_eq!(app["current_release"], 2, "no new release");
    assert_eq!(app["members"], json!([]));
    assert_eq!(app["domains"], json!([]));
    // Admin-only pages say so.
    assert_eq!(mallory.get("/users").await.status, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sixth_failed_sign_in_says_to_wait() {
    let server = Server::start();
    let admin = admin_name(&server).await;
    let browser = Browser::new(&server);
    for attempt in 1..=5 {
        let page = browser.login(&admin, "not-the-password").await;
        assert!(
            page.body.contains("wrong user name or password"),
            "attempt {attempt}: {}",
            page.flash()
        );
    }
    let sixth = browser.login(&admin, "not-the-password").await;
    let flash = sixth.flash();
    assert!(flash.contains("too many failed sign-ins"), "{flash}");
    assert!(flash.contains("try again in 15 minutes"), "{flash}");
    // While blocked, even the right password does not get in.
    let blocked = browser.login(&admin, &admin_password(&server)).await;
    assert!(
        blocked.flash().contains("try again in"),
        "{}",
        blocked.flash()
    );
    assert!(browser.cookie("paas_session").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_in_sets_a_private_session_cookie_and_signing_out_revokes_it() {
    let server = Server::start();
    let browser = Browser::new(&server);
    let form = browser.get("/login").await;
    let posted = browser
        .post(
            "/login",
            &[
                ("csrf", &form.csrf()),
                ("user", &admin_name(&server).await),
                ("password", &admin_password(&server)),
                ("next", "/tokens"),
            ],
        )
        .await;
    assert_eq!(posted.status, 303);
    assert_eq!(
        posted.location.as_deref(),
        Some("/tokens"),
        "back where the user was going"
    );
    let cookie = posted
        .set_cookies
        .iter()
        .find(|c| c.starts_with("paas_session="))
        .expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(flag), "{cookie} lacks {flag}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP cannot send a Secure cookie back: {cookie}"
    );
    let secret = browser.cookie("paas_session").unwrap();
    assert_eq!(browser.get("/tokens").await.status, 200);

    // The sign-in form refuses a foreign `next`.
    let other = Browser::new(&server);
    let form = other.get("/login?next=//evil.example/").await;
    assert!(!form.body.contains("evil.example"), "{}", form.body);

    let csrf = browser.get("/").await.csrf();
    let out = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_deref(), Some("/login"));
    assert!(
        browser.cookie("paas_session").is_none(),
        "the cookie is cleared"
    );
    // The old cookie is revoked on the server, not just forgotten by the browser.
    browser.set_cookie("paas_session", &secret);
    let page = browser.get("/").await;
    assert_eq!(page.status, 303);
    assert!(page.location.unwrap().starts_with("/login"));
}

#[tokio::test(flavor = "multi_thread")]
async fn user_provided_strings_are_escaped_everywhere_they_are_shown() {
    let server = Server::start();
    let evil = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>";
    api(&server, Method::POST, "/apps", Some(json!({"name": "esc"}))).await;
    api(
        &server,
        Method::PATCH,
        "/apps/esc/config",
        Some(json!({"EVIL": evil})),
    )
    .await;
    api(
        &server,
        Method::POST,
        "/tokens",
        Some(json!({"name": evil})),
    )
    .await;
    let browser = signed_in_admin(&server).await;
    for path in [
        "/apps/esc/config?reveal=1",
        "/apps/esc/config?edit=EVIL",
        "/apps/esc/config",
        "/tokens",
        "/apps/esc/activity",
        "/activity",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            !page.body.contains("<script>alert"),
            "{path} shows raw markup"
        );
        assert!(!page.body.contains("<img src=x"), "{path} shows raw markup");
    }
    let revealed = browser.get("/apps/esc/config?reveal=1").await;
    assert!(
        revealed.body.contains("&#60;script&#62;alert("),
        "{}",
        revealed.body
    );
    // A flash message built from input is escaped as well.
    let page = browser
        .submit(
            "/apps/esc/domains",
            "/apps/esc/domains",
            &[("hostname", "<b>bad</b>")],
        )
        .await;
    assert!(page.body.contains("&#60;b&#62;bad"), "{}", page.flash());
    assert!(!page.body.contains("<b>bad</b>"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_members_live_log_stream_ends_when_their_access_is_removed() {
    let server = Server::start();
    let password = server.create_user("carol");
    server.cli(&["apps:create", "team"]).ok();
    server.cli(&["access:add", "carol", "-a", "team"]).ok();
    let carol = Browser::new(&server);
    assert_eq!(carol.login("carol", &password).await.status, 200);
    let mut stream = carol.stream("/apps/team/logs/stream").await;
    assert!(
        !stream
            .ends_within(std::time::Duration::from_millis(500))
            .await,
        "the stream is open while carol has access"
    );
    server.cli(&["access:remove", "carol", "-a", "team"]).ok();
    assert!(
        stream.ends_within(std::time::Duration::from_secs(2)).await,
        "the stream outlived carol's access"
    );
}
