//! The web UI's form actions against a real server: every action as POST, redirect, GET
//! with a flash message, and live logs as server-sent events.

mod common;
#[path = "https/pebble.rs"]
mod pebble;
mod web_support;

use std::time::Duration;

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
async fn every_action_works_as_a_plain_form_post_then_redirect() {
    let server = Server::start();
    let browser = signed_in_admin(&server).await;

    let created = browser.submit("/", "/apps", &[("name", "shop")]).await;
    assert!(
        created.flash().contains("created shop"),
        "{}",
        created.flash()
    );
    let git_url = format!("git remote add paas {}/shop.git", server.url);
    assert!(
        created.body.contains(&git_url),
        "the commands to copy: {}",
        created.body
    );
    assert!(created.body.contains("git push paas main"));

    let set = browser
        .submit(
            "/apps/shop/config",
            "/apps/shop/config",
            &[("key", "GREETING"), ("value", "hi\r\nthere")],
        )
        .await;
    assert_eq!(set.flash(), "Done: released v2: Set GREETING config var");
    let (_, config) = api(&server, Method::GET, "/apps/shop/config", None).await;
    assert_eq!(
        config,
        json!({"GREETING": "hi\nthere"}),
        "line breaks arrive as LF"
    );
    assert!(
        set.body.contains("••••"),
        "values are masked until revealed"
    );
    assert!(set.body.contains("hidden>hi\nthere</pre>"), "{}", set.body);
    let bad = browser
        .submit(
            "/apps/shop/config",
            "/apps/shop/config",
            &[("key", "PORT"), ("value", "1")],
        )
        .await;
    assert!(
        bad.flash()
            .starts_with("Could not do that: config key \"PORT\" is reserved"),
        "{}",
        bad.flash()
    );
    let unset = browser
        .submit(
            "/apps/shop/config",
            "/apps/shop/config/unset",
            &[("key", "GREETING")],
        )
        .await;
    assert_eq!(
        unset.flash(),
        "Done: released v3: Remove GREETING config var"
    );

    let releases = browser.get("/apps/shop/releases").await;
    assert!(
        releases.body.contains("Roll back to v2"),
        "{}",
        releases.body
    );
    let rolled = browser
        .submit(
            "/apps/shop/releases",
            "/apps/shop/rollback",
            &[("version", "2")],
        )
        .await;
    assert!(
        rolled.flash().contains("v4 is live now (Rollback to v2)"),
        "{}",
        rolled.flash()
    );
    let (_, config) = api(&server, Method::GET, "/apps/shop/config", None).await;
    assert_eq!(config, json!({"GREETING": "hi\nthere"}));

    let scaled = browser
        .submit("/apps/shop/scale", "/apps/shop/scale", &[("q.web", "3")])
        .await;
    assert!(
        scaled.flash().contains("scaled shop to web=3"),
        "{}",
        scaled.flash()
    );
    assert!(scaled.body.contains("value=\"3\""), "{}", scaled.body);
    let not_a_number = browser
        .submit("/apps/shop/scale", "/apps/shop/scale", &[("q.web", "lots")])
        .await;
    assert!(
        not_a_number.flash().contains("whole number"),
        "{}",
        not_a_number.flash()
    );

    let added = browser
        .submit(
            "/apps/shop/domains",
            "/apps/shop/domains",
            &[("hostname", "www.shop.test")],
        )
        .await;
    assert!(
        added
            .flash()
            .contains("point a CNAME record for www.shop.test at shop.localhost"),
        "{}",
        added.flash()
    );
    let again = browser
        .submit(
            "/apps/shop/domains",
            "/apps/shop/domains",
            &[("hostname", "www.shop.test")],
        )
        .await;
    assert!(
        again.flash().contains("already added to this app"),
        "{}",
        again.flash()
    );
    let removed = browser
        .submit(
            "/apps/shop/domains",
            "/apps/shop/domains/remove",
            &[("hostname", "www.shop.test")],
        )
        .await;
    assert!(
        removed.flash().contains("removed www.shop.test"),
        "{}",
        removed.flash()
    );

    let user = browser
        .submit("/users", "/users", &[("name", "carol")])
        .await;
    assert!(
        user.flash().contains("created member carol"),
        "{}",
        user.flash()
    );
    assert!(
        user.body.contains("Password for carol"),
        "a generated password is shown once"
    );
    assert!(
        !browser
            .get("/users")
            .await
            .body
            .contains("Password for carol"),
        "and only once"
    );
    let granted = browser
        .submit(
            "/users",
            "/users/access",
            &[("app", "shop"), ("user", "carol")],
        )
        .await;
    assert!(
        granted
            .flash()
            .contains("carol can now see and change shop"),
        "{}",
        granted.flash()
    );
    let reset = browser
        .submit(
            "/users",
            "/users/carol/password",
            &[("password", "carol-new-pass")],
        )
        .await;
    assert!(
        reset.flash().contains("reset carol's password"),
        "{}",
        reset.flash()
    );
    let carol = Browser::new(&server);
    assert!(
        carol
            .login("carol", "carol-new-pass")
            .await
            .body
            .contains("href=\"/apps/shop\"")
    );
    let transferred = browser
        .submit(
            "/apps/shop/settings",
            "/apps/shop/transfer",
            &[("user", "carol")],
        )
        .await;
    assert_eq!(
        transferred.flash(),
        "Done: carol owns shop now; the previous owner stays a member"
    );
    let owner_kept = browser
        .submit("/users", "/users/carol/destroy", &[("confirm", "carol")])
        .await;
    assert!(
        owner_kept
            .flash()
            .contains("carol owns shop; transfer them first"),
        "{}",
        owner_kept.flash()
    );
    browser
        .submit(
            "/apps/shop/settings",
            "/apps/shop/transfer",
            &[("user", &admin_name(&server).await)],
        )
        .await;
    let kept = browser
        .submit("/users", "/users/carol/destroy", &[("confirm", "karol")])
        .await;
    assert!(
        kept.flash().contains("confirm with --confirm carol"),
        "{}",
        kept.flash()
    );
    let removed = browser
        .submit("/users", "/users/carol/destroy", &[("confirm", "carol")])
        .await;
    assert_eq!(
        removed.flash(),
        "Done: removed carol; their tokens and sessions ended"
    );
    let signed_out = carol.get("/").await;
    assert_eq!(signed_out.status, 303, "carol's session ended");
    assert!(
        signed_out
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with("/login")),
        "{:?}",
        signed_out.location
    );

    let token = browser
        .submit("/tokens", "/tokens", &[("name", "ci")])
        .await;
    let marker = "id=\"secret-value\" class=\"mono\" type=\"text\" readonly value=\"";
    let start = token.body.find(marker).expect("the token, shown once") + marker.len();
    let secret = token.body[start..start + 69].to_owned();
    assert!(secret.starts_with("paas_"), "{secret}");
    let who = server
        .http()
        .get(server.api("/whoami"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(who.status().as_u16(), 200);
    let id_marker = "action=\"/tokens/";
    let ids: Vec<&str> = token
        .body
        .match_indices(id_marker)
        .map(|(i, _)| {
            let rest = &token.body[i + id_marker.len()..];
            &rest[..rest.find('/').unwrap()]
        })
        .collect();
    let newest = ids
        .iter()
        .map(|i| i.parse::<i64>().unwrap())
        .max()
        .unwrap()
        .to_string();
    let revoked = browser
        .submit("/tokens", &format!("/tokens/{newest}/revoke"), &[])
        .await;
    assert!(
        revoked.flash().contains(&format!("revoked token {newest}")),
        "{}",
        revoked.flash()
    );
    let who = server
        .http()
        .get(server.api("/whoami"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(who.status().as_u16(), 401, "a revoked token stops working");

    let resting = browser
        .submit(
            "/apps/shop/settings",
            "/apps/shop/maintenance",
            &[("mode", "on")],
        )
        .await;
    assert!(
        resting.flash().contains("shop is in maintenance"),
        "{}",
        resting.flash()
    );
    let (_, info) = api(&server, Method::GET, "/apps/shop", None).await;
    assert_eq!(info["maintenance"], true);
    browser
        .submit(
            "/apps/shop/settings",
            "/apps/shop/maintenance",
            &[("mode", "off")],
        )
        .await;
    let (_, info) = api(&server, Method::GET, "/apps/shop", None).await;
    assert_eq!(info["maintenance"], false);

    let bad_branch = browser
        .submit(
            "/apps/shop/settings",
            "/apps/shop/deploy-branch",
            &[("branch", "no spaces")],
        )
        .await;
    assert!(
        bad_branch.flash().contains("invalid branch name"),
        "{}",
        bad_branch.flash()
    );
    let branch = browser
        .submit(
            "/apps/shop/settings",
            "/apps/shop/deploy-branch",
            &[("branch", "production")],
        )
        .await;
    assert_eq!(
        branch.flash(),
        "Done: shop now deploys from production: git push paas HEAD:production"
    );
    let (_, info) = api(&server, Method::GET, "/apps/shop", None).await;
    assert_eq!(info["deploy_branch"], "production");

    let refused = browser
        .submit(
            "/apps/shop/settings",
            "/apps/shop/destroy",
            &[("confirm", "shopp")],
        )
        .await;
    assert!(
        refused
            .flash()
            .contains("type the app name \"shop\" exactly"),
        "{}",
        refused.flash()
    );
    assert_eq!(api(&server, Method::GET, "/apps/shop", None).await.0, 200);
    let destroyed = browser
        .submit(
            "/apps/shop/settings",
            "/apps/shop/destroy",
            &[("confirm", "shop")],
        )
        .await;
    assert!(
        destroyed.flash().contains("destroyed shop"),
        "{}",
        destroyed.flash()
    );
    assert_eq!(api(&server, Method::GET, "/apps/shop", None).await.0, 404);

    let activity = browser.get("/activity").await;
    for action in [
        "app.create",
        "config.update",
        "release.rollback",
        "ps.scale",
        "domain.add",
        "token.revoke",
        "user.destroy",
        "access.transfer",
        "app.maintenance",
        "app.deploy_branch",
        "app.destroy",
    ] {
        assert!(
            activity.body.contains(action),
            "{action} in the activity page"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn live_logs_arrive_as_server_sent_events() {
    let server = Server::start();
    let browser = signed_in_admin(&server).await;
    browser.submit("/", "/apps", &[("name", "tail")]).await;
    // A domain publishes the app's route, so the router logs requests for it.
    browser
        .submit(
            "/apps/tail/domains",
            "/apps/tail/domains",
            &[("hostname", "tail.example.com")],
        )
        .await;

    let mut stream = browser.stream("/apps/tail/logs/stream").await;
    assert_eq!(stream.content_type, "text/event-stream");
    let app_request = server
        .http()
        .get(format!("{}/hello-from-the-test", server.url))
        .header("host", "tail.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(app_request.status().as_u16(), 503, "nothing runs yet");
    let received = stream
        .read_until("hello-from-the-test", Duration::from_secs(10))
        .await;
    assert!(received.contains("event: line"), "{received}");
    assert!(
        received.contains("\"origin\":\"paas[router]\""),
        "{received}"
    );

    // Without JavaScript the page shows the same line from history.
    let page = browser.get("/apps/tail/logs").await;
    assert!(page.body.contains("hello-from-the-test"), "{}", page.body);
    let filtered = browser.get("/apps/tail/logs?source=app").await;
    assert!(
        !filtered.body.contains("hello-from-the-test"),
        "the source filter hides platform lines"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_https_tab_shows_certificates_and_installs_one_the_user_brings() {
    let server = Server::start();
    let browser = signed_in_admin(&server).await;
    browser.submit("/", "/apps", &[("name", "corp")]).await;
    browser
        .submit(
            "/apps/corp/domains",
            "/apps/corp/domains",
            &[("hostname", "intranet.corp.example")],
        )
        .await;
    let page = browser.get("/apps/corp/https").await;
    assert!(page.body.contains("corp.localhost"), "{}", page.body);
    assert!(page.body.contains("intranet.corp.example"));
    assert!(page.body.contains("self-signed (development)"));

    let (_, chain, key) = pebble::user_certificate(&["*.corp.example"], "Corp Internal CA");
    let (_, _, other_key) = pebble::user_certificate(&["x.example"], "Another CA");
    let mismatched = browser
        .submit(
            "/apps/corp/https",
            "/apps/corp/https/certs",
            &[("certificate", &chain), ("key", &other_key)],
        )
        .await;
    assert!(
        mismatched.flash().contains("private key"),
        "{}",
        mismatched.flash()
    );
    let installed = browser
        .submit(
            "/apps/corp/https",
            "/apps/corp/https/certs",
            &[("certificate", &chain), ("key", &key)],
        )
        .await;
    assert_eq!(
        installed.flash(),
        "Done: certificate installed; it now serves intranet.corp.example"
    );
    assert!(installed.body.contains("Corp Internal CA"));
    assert!(installed.body.contains("added by you"));
    let key_body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(
        !installed.body.contains(&key_body),
        "the key is never shown"
    );
    let port = server.https_port;
    let served = tokio::task::spawn_blocking(move || {
        pebble::served_certificate(port, "intranet.corp.example")
    })
    .await
    .unwrap()
    .expect("a TLS handshake");
    assert_eq!(served.issuer, "Corp Internal CA");

    let bad_hsts = browser
        .submit(
            "/apps/corp/https",
            "/apps/corp/https",
            &[("https_only", "1"), ("hsts_max_age", "a year")],
        )
        .await;
    assert!(
        bad_hsts.flash().contains("not a number of seconds"),
        "{}",
        bad_hsts.flash()
    );
    let (_, unchanged) = api(&server, Method::GET, "/apps/corp/https", None).await;
    assert_eq!(
        unchanged["https_only"], false,
        "a refused form changes nothing"
    );
    let saved = browser
        .submit(
            "/apps/corp/https",
            "/apps/corp/https",
            &[("https_only", "1"), ("hsts_max_age", "31536000")],
        )
        .await;
    assert_eq!(
        saved.flash(),
        "Done: corp: plain HTTP now redirects to HTTPS; HSTS max-age=31536000"
    );
    let (_, https) = api(&server, Method::GET, "/apps/corp/https", None).await;
    assert_eq!(https, json!({"https_only": true, "hsts_max_age": 31536000}));

    let id = installed
        .body
        .split("name=\"id\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a remove form for the certificate")
        .to_owned();
    let removed = browser
        .submit(
            "/apps/corp/https",
            "/apps/corp/https/remove",
            &[("id", &id)],
        )
        .await;
    assert!(
        removed
            .flash()
            .contains(&format!("certificate {id} removed")),
        "{}",
        removed.flash()
    );
    let after = tokio::task::spawn_blocking(move || {
        pebble::served_certificate(port, "intranet.corp.example")
    })
    .await
    .unwrap()
    .expect("a TLS handshake");
    assert_eq!(after.issuer, "paas self-signed");
}
