//! Headless Chromium through chromedriver (Debian's packages) for the browser tests:
//! the driver on a free port, a session at a window size, Chrome DevTools commands and
//! full-page screenshots (WebDriver's own stop at the window).
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver on a free port, stopped when dropped.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Driver {
    /// Fails, saying what to install, when Chromium or its driver is missing.
    pub fn start() -> Driver {
        for binary in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                std::path::Path::new(binary).exists(),
                "{binary} is missing; install Debian's chromium and chromium-driver (scripts/test does)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless session with a `width` x `height` window.
pub async fn chromium(driver: &Driver, width: u32, height: u32) -> Client {
    let Value::Object(capabilities) = json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                format!("--window-size={width},{height}"), "--hide-scrollbars",
                "--force-color-profile=srgb", "--force-prefers-reduced-motion", "--lang=en-US"
            ]
        }
    }) else {
        unreachable!()
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a chromium session")
}

/// A Chrome DevTools command through chromedriver (at `driver_url`); its result.
pub async fn devtools(client: &Client, driver_url: &str, cmd: &str, params: Value) -> Value {
    let session = client.session_id().await.unwrap().expect("a session");
    let answer: Value = reqwest::Client::new()
        .post(format!("{driver_url}/session/{session}/goog/cdp/execute"))
        .json(&json!({"cmd": cmd, "params": params}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["value"].clone()
}

/// The whole page, also what lies below the window, as PNG bytes.
pub async fn full_page_png(client: &Client, driver_url: &str) -> Vec<u8> {
    let size = client
        .execute(
            "const e = document.documentElement; return [e.clientWidth, Math.ceil(e.scrollHeight)];",
            vec![],
        )
        .await
        .unwrap();
    let answer = devtools(
        client,
        driver_url,
        "Page.captureScreenshot",
        json!({
            "format": "png",
            "captureBeyondViewport": true,
            "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
        }),
    )
    .await;
    let data = answer["data"]
        .as_str()
        .unwrap_or_else(|| panic!("no screenshot: {answer}"));
    let png = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    png
}
