//! Metrics you can see, end to end: a real server samples every second, a deployed app
//! answers an exact number of requests through the router, and `paas metrics`, the API
//! and the web UI's Metrics tab (in headless Chromium) show exactly those; a member
//! cannot read another's app's metrics. The tab at 375 px is saved as docs/metrics.png.

mod common;
mod web_support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{ADMIN_TOKEN, Server};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use web_support::chromium::{Driver, chromium, devtools, full_page_png};
use web_support::{admin_name, admin_password};

const APP: &str = "counted";

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn unix_of(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}

async fn metrics(server: &Server, token: &str, app: &str, range: &str) -> (u16, Value) {
    let answer = server
        .http()
        .get(server.api(&format!("/apps/{app}/metrics?range={range}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// The API's metrics once a sample taken after `after` (unix seconds) is in.
async fn metrics_sampled_after(server: &Server, after: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = metrics(server, ADMIN_TOKEN, APP, "1h").await;
        assert_eq!(status, 200, "{body}");
        if body["sampled_through"]
            .as_str()
            .is_some_and(|t| unix_of(t) > after)
        {
            return body;
        }
        assert!(Instant::now() < deadline, "no sample after {after}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_exactly_the_requests_sent_and_the_tab_draws_them() {
    let server = Server::start_with(&[
        ("PAAS_STACK_BUILD_IMAGE", "paas/stack-build:bookworm"),
        ("PAAS_STACK_RUN_IMAGE", "paas/stack-run:bookworm"),
        ("PAAS_METRICS_INTERVAL_SECS", "1"),
    ]);
    server.login();
    let _repo = server.deploy("healthcheck-path", APP);
    // Nothing has gone through the router yet: the deploy's checks reach the process
    // directly.
    let before = metrics_sampled_after(&server, unix_now()).await;
    assert_eq!(before["totals"]["requests"]["2xx"], 0, "{before}");

    // 37 answered 200 and 5 answered 404, spread over a few seconds.
    for i in 0..42 {
        let (path, expected) = if i % 8 == 7 {
            ("/missing", 404)
        } else {
            ("/healthz", 200)
        };
        assert_eq!(server.get(APP, path).0, expected, "{path}");
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    let sent = unix_now();

    let after = metrics_sampled_after(&server, sent).await;
    let requests = &after["totals"]["requests"];
    assert_eq!(
        (
            &requests["1xx"],
            &requests["2xx"],
            &requests["3xx"],
            &requests["4xx"],
            &requests["5xx"]
        ),
        (&json!(0), &json!(37), &json!(0), &json!(5), &json!(0)),
        "{after}"
    );
    let points = after["points"].as_array().unwrap();
    let per_point: u64 = points
        .iter()
        .map(|p| p["requests"]["2xx"].as_u64().unwrap())
        .sum();
    assert_eq!(per_point, 37);
    let p50 = after["totals"]["response"]["p50_ms"].as_f64().unwrap();
    let p99 = after["totals"]["response"]["p99_ms"].as_f64().unwrap();
    assert!(p50 > 0.0 && p50 <= p99, "{after}");
    let web = points
        .iter()
        .flat_map(|p| p["processes"].as_array().unwrap())
        .find(|p| p["dyno"] == "web.1" && p["cpu_percent"].is_number())
        .unwrap_or_else(|| panic!("web.1's memory and CPU in a sample: {after}"));
    assert!(web["memory_mb"].as_f64().unwrap() > 1.0, "{web}");
    assert_eq!(after["totals"]["restarts"], 0);

    // A day's view folds the samples into five-minute points with the same totals.
    let (_, day) = metrics(&server, ADMIN_TOKEN, APP, "24h").await;
    assert_eq!(
        day["totals"]["requests"], after["totals"]["requests"],
        "{day}"
    );
    assert!(day["points"].as_array().unwrap().len() <= 2, "{day}");
    let (status, bad) = metrics(&server, ADMIN_TOKEN, APP, "7d").await;
    assert_eq!(status, 422, "{bad}");

    // The CLI says the same.
    let printed = server.cli(&["metrics", "-a", APP]).ok().to_owned();
    assert!(
        printed.contains("Requests: 42 (2xx 37, 3xx 0, 4xx 5, 5xx 0, 1xx 0)"),
        "{printed}"
    );
    assert!(
        printed.contains("TIME") && printed.contains("MEMORY"),
        "{printed}"
    );
    let daily = server
        .cli(&["metrics", "-a", APP, "--range", "24h"])
        .ok()
        .to_owned();
    assert!(
        daily.contains("(last day)") && daily.contains("42 (2xx 37"),
        "{daily}"
    );

    // A member sees nothing of an app they were not given: not found, as if it did not
    // exist, through the API and the CLI.
    let member = server.create_member("mallory");
    let (status, body) = metrics(&server, &member, APP, "1h").await;
    assert_eq!(status, 404, "{body}");
    assert!(!body.to_string().contains("37"), "{body}");
    let refused = server
        .cli_with_token(&member, &["metrics", "-a", APP])
        .fails()
        .to_owned();
    assert!(refused.contains("not found"), "{refused}");

    browser_draws_the_charts(&server).await;
}

/// Signs in, opens the Metrics tab at 375 px, checks that each chart is an SVG drawn
/// from the samples (the requests chart with 2xx and 4xx bars) that fits the screen, in
/// light and dark, and saves the light one as docs/metrics.png.
async fn browser_draws_the_charts(server: &Server) {
    let driver = Driver::start();
    let client = chromium(&driver, 375, 812).await;
    client.set_window_size(375, 812).await.unwrap();
    client.goto(&format!("{}/login", server.url)).await.unwrap();
    client
        .find(Locator::Css("#user"))
        .await
        .unwrap()
        .send_keys(&admin_name(server).await)
        .await
        .unwrap();
    client
        .find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(&admin_password(server))
        .await
        .unwrap();
    client
        .find(Locator::Css("form[action='/login'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("main"))
        .await
        .unwrap();
    client
        .goto(&format!("{}/apps/{APP}/metrics", server.url))
        .await
        .unwrap();

    let tab = client
        .find(Locator::Css(".tabs a[aria-current='page']"))
        .await
        .unwrap();
    assert_eq!(tab.text().await.unwrap(), "Metrics");
    let drawn = client
        .execute(
            r#"const charts = [...document.querySelectorAll('.chart')];
               return charts.map(c => {
                 const svg = c.querySelector(':scope > svg');
                 const box = svg.getBoundingClientRect();
                 return {
                   id: c.id, width: box.width, height: box.height,
                   series: [...svg.querySelectorAll('path')].map(p => p.getAttribute('class')),
                   drawn: [...svg.querySelectorAll('path')].filter(p => p.getBBox().height + p.getBBox().width > 0).length,
                   fill: svg.querySelector('path') && getComputedStyle(svg.querySelector('path')).fill,
                 };
               });"#,
            vec![],
        )
        .await
        .unwrap();
    let charts = drawn.as_array().unwrap();
    let ids: Vec<&str> = charts.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "chart-requests",
            "chart-response",
            "chart-memory",
            "chart-cpu"
        ],
        "{drawn}"
    );
    for chart in charts {
        let width = chart["width"].as_f64().unwrap();
        assert!(width > 200.0 && width <= 375.0, "{chart}");
        assert!(chart["height"].as_f64().unwrap() > 80.0, "{chart}");
        assert!(chart["drawn"].as_u64().unwrap() > 0, "{chart}");
    }
    assert_eq!(
        charts[0]["series"],
        json!(["bar c-2xx", "bar c-4xx"]),
        "{drawn}"
    );
    let light_fill = charts[0]["fill"].as_str().unwrap().to_owned();
    let overflow = client
        .execute("return document.documentElement.scrollWidth;", vec![])
        .await
        .unwrap();
    assert!(
        overflow.as_u64().unwrap() <= 375,
        "nothing scrolls sideways at 375 px: {overflow}"
    );
    let totals = client
        .find(Locator::Css(".metric-totals"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(totals.contains("42") && totals.contains("37"), "{totals}");
    save_screenshot(&client, &driver, "docs/metrics.png").await;

    // Dark: the same bars, in the dark palette's colour.
    devtools(
        &client,
        &driver.url,
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}),
    )
    .await;
    let dark_fill = client
        .execute(
            "return getComputedStyle(document.querySelector('#chart-requests path')).fill;",
            vec![],
        )
        .await
        .unwrap();
    assert_ne!(
        dark_fill.as_str().unwrap(),
        light_fill,
        "bars follow the colour scheme"
    );
    save_screenshot(&client, &driver, "docs/metrics-dark.png").await;
    client.close().await.unwrap();
}

/// The whole page, also below the window, as a PNG at `path` in the repository.
async fn save_screenshot(client: &Client, driver: &Driver, path: &str) {
    let png = full_page_png(client, &driver.url).await;
    std::fs::write(Path::new(env!("CARGO_MANIFEST_DIR")).join(path), png).unwrap();
}
