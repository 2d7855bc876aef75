//! Scale to zero, wake on request (issue 16), against the real engine and router: an app
//! with `ps:autosleep on` sleeps after its idle time (its web process stops, a kept worker
//! runs on), fifty clients arriving at once on the sleeping app all get 200, a wake that
//! fails answers 503 with the reason and the app shows `crashed`, a member cannot switch
//! another tenant's app, and the Scale page's form switches it.

mod common;
mod web_support;

use std::time::Duration;

use common::{Server, docker, eventually};
use reqwest::Method;
use serde_json::json;
use web_support::{Browser, admin_name, admin_password, api};

fn autosleep(server: &Server, app: &str) -> serde_json::Value {
    serde_json::from_str(server.cli(&["ps:autosleep", "-a", app, "--json"]).ok()).unwrap()
}

fn state(server: &Server, app: &str) -> String {
    autosleep(server, app)["state"].as_str().unwrap().to_owned()
}

/// Running containers of `app` by process type, e.g. `["web", "worker"]`, in one
/// `docker ps` (a container stopping meanwhile is simply not listed).
fn running_types(server: &Server, app: &str) -> Vec<String> {
    let mut types: Vec<String> = docker(&[
        "ps",
        "--filter",
        &format!("label=paas.managed={}", server.instance()),
        "--filter",
        &format!("label=paas.app={app}"),
        "--filter",
        "label=paas.kind=process",
        "--format",
        "{{.Label \"paas.process\"}}",
    ])
    .ok()
    .lines()
    .map(str::to_owned)
    .collect();
    types.sort();
    types
}

fn wait_asleep(server: &Server, app: &str) {
    eventually("the idle app sleeps", Duration::from_secs(60), || {
        state(server, app) != "awake" && running_types(server, app) == ["worker"]
    });
}

/// Fifty clients at once, each with its own connection: (status, body) of each.
fn fifty_at_once(server: &Server, app: &str) -> Vec<(u16, String)> {
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..50)
            .map(|_| scope.spawn(|| server.get_within(app, "/", Duration::from_secs(90))))
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    })
}

#[test]
fn an_idle_app_sleeps_fifty_clients_wake_it_and_a_failed_wake_says_why() {
    // Connections quiet for 2 s are closed: a held request must not count as quiet.
    let server = Server::start_with(&[
        ("PAAS_AUTOSLEEP_CHECK_SECS", "1"),
        ("PAAS_ROUTER_IDLE_TIMEOUT", "2"),
    ]);
    server.deploy("sleepy", "sleepy");
    server.cli(&["ps:scale", "worker=1", "-a", "sleepy"]).ok();
    assert_eq!(server.get("sleepy", "/"), (200, "awake web.1\n".to_owned()));

    let on = server.cli(&[
        "ps:autosleep",
        "on",
        "--after",
        "3s",
        "--keep",
        "worker",
        "-a",
        "sleepy",
    ]);
    assert!(
        on.ok()
            .contains("sleepy sleeps after 3s without a request; worker keep running"),
        "{}",
        on.stdout
    );
    wait_asleep(&server, "sleepy");
    let ps = server.cli(&["ps", "-a", "sleepy"]);
    assert!(ps.ok().contains("sleeping"), "{}", ps.stdout);

    // Every client arriving at once on the sleeping app is held, then answered, even
    // though the wake (a web process that boots in 4 s) outlasts the idle timeout.
    server.cli(&["config:set", "--global", "BOOT_DELAY=4"]).ok();
    let answers = fifty_at_once(&server, "sleepy");
    server.cli(&["config:unset", "--global", "BOOT_DELAY"]).ok();
    let failed: Vec<_> = answers.iter().filter(|(s, _)| *s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of 50 failed: {failed:?}",
        failed.len()
    );
    assert!(answers.iter().all(|(_, body)| body == "awake web.1\n"));
    assert_eq!(state(&server, "sleepy"), "awake");
    assert_eq!(running_types(&server, "sleepy"), ["web", "worker"]);
    let logs = server.cli(&["logs", "-a", "sleepy", "-n", "500"]).stdout;
    assert!(logs.contains("sleeping: no request for 3s"), "{logs}");
    assert!(logs.contains("awake: a request woke it"), "{logs}");

    // A wake that fails: the web process refuses to start once this platform-wide var is
    // set (it reaches processes when they start, so no release wakes the app first).
    server.cli(&["config:set", "--global", "WAKE_FAILS=1"]).ok();
    wait_asleep(&server, "sleepy");
    let (status, body) = server.get("sleepy", "/");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("crashed while waking up"), "{body}");
    assert!(body.contains("exited with code 3"), "{body}");
    let info = autosleep(&server, "sleepy");
    assert_eq!(info["state"], "crashed", "{info}");
    assert!(
        info["note"]
            .as_str()
            .unwrap()
            .contains("exited with code 3"),
        "{info}"
    );
    let shown = server.cli(&["ps:autosleep", "-a", "sleepy"]);
    assert!(
        shown.ok().contains("crashed on its last wake"),
        "{}",
        shown.stdout
    );
    // Right after a failure the reason comes back at once, without another try.
    let (status, body) = server.get("sleepy", "/");
    assert_eq!(status, 503);
    assert!(body.contains("exited with code 3"), "{body}");
    assert_eq!(running_types(&server, "sleepy"), ["worker"]);

    // Fixed: once the retry time is over, the next request wakes it.
    server.cli(&["config:unset", "--global", "WAKE_FAILS"]).ok();
    eventually(
        "a request wakes the fixed app",
        Duration::from_secs(60),
        || server.get("sleepy", "/") == (200, "awake web.1\n".to_owned()),
    );
    assert_eq!(state(&server, "sleepy"), "awake");

    // Off: it stays awake past its idle time.
    let off = server.cli(&["ps:autosleep", "off", "-a", "sleepy"]);
    assert!(
        off.ok().contains("autosleep is off for sleepy"),
        "{}",
        off.stdout
    );
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(running_types(&server, "sleepy"), ["web", "worker"]);
    assert_eq!(state(&server, "sleepy"), "awake");
}

#[test]
fn bad_idle_times_are_refused_and_a_member_cannot_touch_another_tenants_app() {
    let server = Server::start();
    server.cli(&["apps:create", "payroll"]).ok();
    let refused = server.cli(&["ps:autosleep", "on", "--after", "soon", "-a", "payroll"]);
    assert!(
        refused.fails().contains("like --after 30m"),
        "{}",
        refused.stderr
    );
    let refused = server.cli(&["ps:autosleep", "on", "--keep", "web", "-a", "payroll"]);
    assert!(refused.fails().contains("--keep web"), "{}", refused.stderr);

    let mallory = server.create_member("mallory");
    for app in ["payroll", "nosuchapp"] {
        for args in [
            vec!["ps:autosleep", "-a", app],
            vec!["ps:autosleep", "on", "-a", app],
        ] {
            let refused = server.cli_with_token(&mallory, &args);
            assert_eq!(
                refused.fails(),
                format!("error: app \"{app}\" not found; create it with paas apps:create {app}"),
                "{args:?}"
            );
        }
    }
    assert_eq!(autosleep(&server, "payroll")["enabled"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scale_pages_form_switches_autosleep_and_says_what_to_type() {
    let server = Server::start();
    server.cli(&["apps:create", "shop"]).ok();
    let browser = Browser::new(&server);
    browser
        .login(&admin_name(&server).await, &admin_password(&server))
        .await;

    let bad_idle = browser
        .submit(
            "/apps/shop/scale",
            "/apps/shop/autosleep",
            &[("enabled", "1"), ("after", "soon"), ("keep", "")],
        )
        .await;
    assert!(
        bad_idle.flash().contains("like --after 30m"),
        "{}",
        bad_idle.flash()
    );
    let sleepy = browser
        .submit(
            "/apps/shop/scale",
            "/apps/shop/autosleep",
            &[("enabled", "1"), ("after", "45m"), ("keep", "worker")],
        )
        .await;
    assert_eq!(
        sleepy.flash(),
        "Done: shop sleeps after 45m without a request"
    );
    assert!(sleepy.body.contains("value=\"45m\""), "{}", sleepy.body);
    let (_, sleep) = api(&server, Method::GET, "/apps/shop/autosleep", None).await;
    assert_eq!(sleep["after"], "45m");
    assert_eq!(sleep["keep"], json!(["worker"]));
    browser
        .submit(
            "/apps/shop/scale",
            "/apps/shop/autosleep",
            &[("after", "45m")],
        )
        .await;
    let (_, sleep) = api(&server, Method::GET, "/apps/shop/autosleep", None).await;
    assert_eq!(sleep["enabled"], false);
    let activity = browser.get("/apps/shop/activity").await;
    assert!(activity.body.contains("app.autosleep"), "{}", activity.body);
}
