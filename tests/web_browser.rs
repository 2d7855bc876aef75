//! The web UI end to end in headless Chromium, driven through WebDriver: sign in, create
//! an app, deploy it with the git commands the page shows, set two config vars, see the
//! two releases, roll back, scale, add a domain, create a Redis add-on, follow live logs,
//! create and revoke a token. Every page visited is saved to `docs/screenshots/` (and one
//! at 375 px wide).
//!
//! Needs /usr/bin/chromedriver and /usr/bin/chromium (Debian packages, which scripts/test
//! installs); fails, saying so, when they are missing.

mod common;
mod web_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{ADMIN_TOKEN, Server};
use fantoccini::{Client, Locator};
use serde_json::json;
use web_support::chromium::{Driver, chromium, devtools, full_page_png};
use web_support::{admin_name, admin_password};

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The UI under test, and how the test walks it.
struct Session {
    client: Client,
    base: String,
    /// chromedriver's URL, for the DevTools commands WebDriver lacks.
    driver: String,
}

impl Session {
    async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
        self.mark_page().await;
    }

    /// Marks the current document, so a navigation can be told apart from it.
    async fn mark_page(&self) {
        self.client
            .execute("document.documentElement.dataset.testSeen = '1';", vec![])
            .await
            .unwrap();
    }

    /// Clicks a submit button and waits for the page the form redirects to.
    async fn submit(&self, button: &str) {
        self.client
            .find(Locator::Css(button))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        self.wait_for_navigation().await;
    }

    async fn wait_for_navigation(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let seen = self
                .client
                .execute("return document.readyState === 'complete' && !document.documentElement.dataset.testSeen;", vec![])
                .await;
            if matches!(seen, Ok(serde_json::Value::Bool(true))) {
                break;
            }
            assert!(Instant::now() < deadline, "no new page after the click");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.mark_page().await;
    }

    async fn fill(&self, selector: &str, text: &str) {
        let field = self.client.find(Locator::Css(selector)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn text(&self, selector: &str) -> String {
        self.client
            .find(Locator::Css(selector))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn flash(&self) -> String {
        self.text(".flash p").await
    }

    async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    /// Reloads `path` until its page contains `needle`.
    async fn wait_for_text(&self, path: &str, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            self.goto(path).await;
            let body = self.text("main").await;
            if body.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{path} never showed {needle:?}; last:\n{body}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// A Chrome DevTools command through chromedriver; its result.
    async fn devtools(&self, cmd: &str, params: serde_json::Value) -> serde_json::Value {
        devtools(&self.client, &self.driver, cmd, params).await
    }

    /// Saves the whole page, also what lies below the window (through chromedriver's
    /// DevTools bridge: WebDriver screenshots stop at the window).
    async fn screenshot(&self, name: &str) {
        let png = full_page_png(&self.client, &self.driver).await;
        std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
    }
}

/// A git repository holding the python fixture, committed.
fn fixture_repo(server: &Server) -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/python-stdlib");
    for entry in std::fs::read_dir(source).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), repo.path().join(entry.file_name())).unwrap();
    }
    for args in [
        vec!["init", "-q", "-b", "main"],
        vec!["add", "-A"],
        vec![
            "-c",
            "user.email=dev@example.com",
            "-c",
            "user.name=dev",
            "commit",
            "-qm",
            "first",
        ],
    ] {
        let status = server
            .command("git")
            .current_dir(repo.path())
            .args(&args)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }
    repo
}

/// Runs a command the page told the user to copy, in the app's repository.
fn run_copied_command(server: &Server, repo: &Path, line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], "git", "{line}");
    let credential = format!("!f() {{ echo username=paas; echo password={ADMIN_TOKEN}; }}; f");
    let output = server
        .command("git")
        .current_dir(repo)
        .args(["-c", &format!("credential.helper={credential}")])
        .args(&words[1..])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{line} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_deploys_configures_rolls_back_scales_and_tidies_up_in_a_real_browser() {
    let server = Server::start_with(&[
        ("PAAS_STACK_BUILD_IMAGE", "paas/stack-build:bookworm"),
        ("PAAS_STACK_RUN_IMAGE", "paas/stack-run:bookworm"),
        ("PAAS_BOOT_TIMEOUT", "60"),
    ]);
    let driver = Driver::start();
    let ui = Session {
        client: chromium(&driver, 1280, 900).await,
        base: server.url.clone(),
        driver: driver.url.clone(),
    };

    // Sign in.
    ui.goto("/").await;
    assert!(
        ui.client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/login")
    );
    ui.fill("#user", &admin_name(&server).await).await;
    ui.screenshot("01-login").await;
    ui.fill("#password", &admin_password(&server)).await;
    ui.submit("form[action='/login'] button[type=submit]").await;
    assert!(ui.source().await.contains("No apps yet"));
    ui.screenshot("02-apps-empty").await;

    // Create an app; the page shows the exact git commands, which deploy it.
    ui.fill("#app-name", "demo").await;
    ui.submit("form[action='/apps'] button[type=submit]").await;
    assert!(ui.flash().await.contains("created demo"));
    let commands = ui.text("#git-commands").await;
    let expected = format!(
        "git remote add paas {}/demo.git\ngit push paas main",
        server.url
    );
    assert_eq!(commands.trim(), expected);
    ui.screenshot("03-app-created").await;
    let repo = fixture_repo(&server);
    for line in commands.lines() {
        run_copied_command(&server, repo.path(), line);
    }
    ui.wait_for_text("/apps/demo", "1 of 1 instances up", Duration::from_secs(90))
        .await;
    assert!(ui.text("main").await.contains("running"));

    // Two config vars: two new releases, said so each time.
    ui.goto("/apps/demo/config").await;
    ui.fill("#config-key", "GREETING").await;
    ui.fill("#config-value", "hello from the browser").await;
    ui.submit("form[action='/apps/demo/config'] button[type=submit]")
        .await;
    assert_eq!(
        ui.flash().await,
        "Done: released v3: Set GREETING config var"
    );
    ui.fill("#config-key", "DATABASE_URL").await;
    ui.fill("#config-value", "postgres://db.internal/demo")
        .await;
    ui.submit("form[action='/apps/demo/config'] button[type=submit]")
        .await;
    assert_eq!(
        ui.flash().await,
        "Done: released v4: Set DATABASE_URL config var"
    );
    let body = ui.text("main").await;
    assert!(
        !body.contains("postgres://db.internal/demo"),
        "masked until revealed"
    );
    ui.screenshot("04-config-masked").await;
    ui.client
        .find(Locator::Css("button[data-reveal='var-0-value']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(
        ui.text("main")
            .await
            .contains("postgres://db.internal/demo"),
        "revealed in place"
    );
    ui.screenshot("05-config-revealed").await;

    // The releases, and a rollback.
    ui.goto("/apps/demo/releases").await;
    let releases = ui.text("table.releases").await;
    assert!(
        releases.contains("v4") && releases.contains("Set DATABASE_URL config var"),
        "{releases}"
    );
    assert!(
        releases.contains("v3") && releases.contains("Set GREETING config var"),
        "{releases}"
    );
    assert!(
        releases.contains("v2") && releases.contains("Deploy"),
        "{releases}"
    );
    ui.screenshot("06-releases").await;
    ui.submit("button[aria-label='Roll back to v3']").await;
    assert_eq!(
        ui.flash().await,
        "Done: rolled back: v5 is live now (Rollback to v3)"
    );
    ui.screenshot("07-rolled-back").await;
    let config: serde_json::Value = server
        .http()
        .get(server.api("/apps/demo/config"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config, json!({"GREETING": "hello from the browser"}));

    // Scale web to 2 with one submit.
    ui.goto("/apps/demo/scale").await;
    ui.fill("input[name='q.web']", "2").await;
    ui.submit("form[action='/apps/demo/scale'] button[type=submit]")
        .await;
    assert_eq!(ui.flash().await, "Done: scaled demo to web=2");
    ui.screenshot("08-scale").await;
    ui.wait_for_text("/apps/demo", "2 of 2 instances up", Duration::from_secs(90))
        .await;
    ui.screenshot("09-overview").await;

    // A custom domain, with its DNS hint.
    ui.goto("/apps/demo/domains").await;
    ui.fill("#hostname", "www.demo.example").await;
    ui.submit("form[action='/apps/demo/domains'] button[type=submit]")
        .await;
    assert!(
        ui.flash()
            .await
            .contains("point a CNAME record for www.demo.example at demo.localhost")
    );
    ui.screenshot("10-domains").await;

    // Each hostname's certificate (the development one here).
    ui.goto("/apps/demo/https").await;
    let certs = ui.text("table.certs").await;
    assert!(certs.contains("www.demo.example"), "{certs}");
    assert!(certs.contains("self-signed"), "{certs}");
    ui.screenshot("22-https").await;

    // An add-on made through the tab's form: up, attached as REDIS, its URL masked.
    ui.goto("/apps/demo/addons").await;
    assert!(ui.text("main").await.contains("No add-ons yet"));
    ui.client
        .find(Locator::Css("#addon-kind option[value='redis']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    ui.submit("form[action='/apps/demo/addons'] button[type=submit]")
        .await;
    let flash = ui.flash().await;
    assert!(
        flash.contains("attached as REDIS (REDIS_URL set)"),
        "{flash}"
    );
    let card = ui.text("section.addon").await;
    for shown in ["redis 7", "up", "REDIS_URL", "Size on disk", "MiB"] {
        assert!(card.contains(shown), "{shown} in {card}");
    }
    let config: serde_json::Value = server
        .http()
        .get(server.api("/apps/demo/config"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = config["REDIS_URL"].as_str().expect("REDIS_URL set");
    assert!(!ui.source().await.contains(url), "masked, not in the page");
    ui.screenshot("23-addons").await;

    // Builds and a build's full log.
    ui.goto("/apps/demo/builds").await;
    assert!(ui.text("table.builds").await.contains("succeeded"));
    ui.screenshot("11-builds").await;
    ui.submit("table.builds tbody a").await;
    assert!(
        ui.text("pre.terminal")
            .await
            .contains("Python app detected")
    );
    ui.screenshot("12-build-log").await;

    // Live logs: a request to the app shows up without reloading the page.
    ui.goto("/apps/demo/logs").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ui
        .text("#live-status")
        .await
        .contains("Following new lines live")
    {
        assert!(Instant::now() < deadline, "the log page never went live");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = server
        .http()
        .get(format!("{}/from-the-browser-test", server.url))
        .header("host", "demo.localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ui
        .text("#log-lines")
        .await
        .contains("/from-the-browser-test")
    {
        assert!(
            Instant::now() < deadline,
            "the request never appeared in the live log"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        ui.client
            .execute("return document.documentElement.dataset.testSeen;", vec![])
            .await
            .unwrap(),
        json!("1"),
        "the line arrived without a reload"
    );
    ui.screenshot("13-logs-live").await;

    ui.goto("/apps/demo/activity").await;
    assert!(ui.text("main").await.contains("release.rollback"));
    ui.screenshot("14-activity").await;
    ui.goto("/apps/demo/settings").await;
    ui.screenshot("15-settings").await;

    // A token: shown once, then revoked.
    ui.goto("/tokens").await;
    ui.fill("#token-name", "ci").await;
    ui.submit("form[action='/tokens'] button[type=submit]")
        .await;
    let secret = ui
        .client
        .find(Locator::Css("#secret-value"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(secret.starts_with("paas_"));
    let who = server
        .http()
        .get(server.api("/whoami"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(who.status().as_u16(), 200);
    ui.screenshot("16-token-created").await;
    ui.client
        .find(Locator::XPath(
            "//tr[td[normalize-space()='ci']]//button[@type='submit']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    ui.wait_for_navigation().await;
    assert!(
        ui.flash().await.starts_with("Done: revoked token"),
        "{}",
        ui.flash().await
    );
    let who = server
        .http()
        .get(server.api("/whoami"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(
        who.status().as_u16(),
        401,
        "the revoked token no longer works"
    );
    ui.screenshot("17-tokens").await;

    // Users (admins).
    ui.goto("/users").await;
    ui.fill("#new-name", "bob").await;
    ui.submit("form[action='/users'] button[type=submit]").await;
    assert!(ui.flash().await.contains("created member bob"));
    ui.screenshot("18-users").await;
    ui.goto("/").await;
    ui.screenshot("19-apps").await;

    // The same overview on a 375 px wide phone.
    let phone = Session {
        client: ui.client.clone(),
        base: ui.base.clone(),
        driver: ui.driver.clone(),
    };
    phone.client.set_window_size(375, 812).await.unwrap();
    phone.goto("/apps/demo").await;
    let overflow = phone
        .client
        .execute("return document.documentElement.scrollWidth;", vec![])
        .await
        .unwrap()
        .as_u64()
        .unwrap();
    assert!(
        overflow <= 375,
        "nothing scrolls sideways at 375 px (page is {overflow} px wide)"
    );
    phone.screenshot("20-phone-overview").await;

    // The same page for people whose system is set to dark.
    ui.client.set_window_size(1280, 900).await.unwrap();
    let dark = json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]});
    ui.devtools("Emulation.setEmulatedMedia", dark).await;
    ui.goto("/apps/demo/logs").await;
    ui.screenshot("21-dark-logs").await;
    ui.devtools("Emulation.setEmulatedMedia", json!({"features": []}))
        .await;

    // Tidy up through the danger zone: typing the name enables the button.
    ui.client.set_window_size(1280, 900).await.unwrap();
    ui.goto("/apps/demo/settings").await;
    let destroy = ui
        .client
        .find(Locator::Css("form[action$='/destroy'] button"))
        .await
        .unwrap();
    assert!(
        !destroy.is_enabled().await.unwrap(),
        "disabled until the name is typed"
    );
    ui.fill("#confirm", "demo").await;
    assert!(destroy.is_enabled().await.unwrap());
    ui.submit("form[action$='/destroy'] button").await;
    assert!(ui.flash().await.contains("destroyed demo"));
    assert!(ui.source().await.contains("No apps yet"));

    ui.client.clone().close().await.unwrap();
    drop(driver);
}
