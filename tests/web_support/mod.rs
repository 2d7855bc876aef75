//! A tiny browser for the web UI tests: keeps cookies, never follows redirects on its
//! own, and fills forms with the page's CSRF token.
#![allow(dead_code)]

pub mod chromium;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::common::{ADMIN_TOKEN, Server, eventually};

pub struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: Mutex<BTreeMap<String, String>>,
}

#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub content_type: String,
    pub body: String,
}

impl Page {
    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a form with a csrf field") + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }

    /// The flash message's text, without markup.
    pub fn flash(&self) -> String {
        let div = self.body.find("class=\"flash").expect("a flash message");
        let start = self.body[div..].find('>').unwrap() + div + 1;
        let end = self.body[start..].find("</p>").unwrap() + start;
        strip_tags(&self.body[start..end])
    }
}

pub fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let text = out.split_whitespace().collect::<Vec<_>>().join(" ");
    text.replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
}

pub fn form_encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Browser {
    pub fn new(server: &Server) -> Browser {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
            base: server.url.clone(),
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .lock()
            .unwrap()
            .insert(name.into(), value.into());
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        let cookies = self.cookie_header();
        let request = if cookies.is_empty() {
            request
        } else {
            request.header("cookie", cookies)
        };
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header("location");
        let content_type = header("content-type").unwrap_or_default();
        let set_cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        {
            let mut jar = self.cookies.lock().unwrap();
            for c in &set_cookies {
                let pair = c.split(';').next().unwrap();
                let (name, value) = pair.split_once('=').unwrap();
                if c.contains("Max-Age=0") || value.is_empty() {
                    jar.remove(name);
                } else {
                    jar.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            location,
            set_cookies,
            content_type,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// GET of a file (a download): its status, headers and bytes as sent.
    pub async fn get_bytes(&self, path: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("request sent");
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let bytes = response.bytes().await.expect("the whole body").to_vec();
        (status, headers, bytes)
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_encode(fields)),
        )
        .await
    }

    pub async fn post_with_origin(
        &self,
        path: &str,
        origin: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", origin)
                .body(form_encode(fields)),
        )
        .await
    }

    /// Opens a server-sent events stream.
    pub async fn stream(&self, path: &str) -> EventStream {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("stream opens");
        assert_eq!(response.status().as_u16(), 200);
        EventStream {
            content_type: response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            response,
            received: String::new(),
        }
    }

    /// Posts a form with the CSRF token of `page_path`, then follows the redirect.
    pub async fn submit(&self, page_path: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(page_path).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        let posted = self.post(action, &all).await;
        assert_eq!(
            posted.status, 303,
            "{action} answered {}: {}",
            posted.status, posted.body
        );
        let to = posted.location.clone().expect("a redirect");
        self.get(&to).await
    }

    /// Signs in through the form; returns the page the redirect leads to.
    pub async fn login(&self, user: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let posted = self
            .post(
                "/login",
                &[
                    ("csrf", &form.csrf()),
                    ("user", user),
                    ("password", password),
                    ("next", "/"),
                ],
            )
            .await;
        assert_eq!(posted.status, 303, "{}", posted.body);
        self.get(posted.location.as_deref().unwrap()).await
    }
}

pub struct EventStream {
    pub content_type: String,
    response: reqwest::Response,
    received: String,
}

impl EventStream {
    /// Everything received until `needle` shows up; panics after `timeout`.
    pub async fn read_until(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.received.contains(needle) {
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .unwrap_or_else(|_| {
                    panic!("no {needle:?} within {timeout:?}; got: {}", self.received)
                })
                .expect("stream readable")
                .expect("stream still open");
            self.received.push_str(&String::from_utf8_lossy(&chunk));
        }
        self.received.clone()
    }

    /// Whether the server ends the stream within `timeout` (keep-alive comments and
    /// lines meanwhile are read and kept).
    pub async fn ends_within(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return false,
                Ok(Ok(Some(chunk))) => self.received.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(_) => return true,
            }
        }
    }
}

/// The admin password of the first start: with no terminal to show it on, the server
/// writes it to a 0600 file in its data dir.
pub fn admin_password(server: &Server) -> String {
    let mut password = None;
    let file = server.data_dir.path().join("first-start-credentials");
    eventually("the first-start password", Duration::from_secs(10), || {
        password = std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.trim().strip_prefix("password: "))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned);
        password.is_some()
    });
    password.unwrap()
}

/// The admin's name, as the API tells it.
pub async fn admin_name(server: &Server) -> String {
    let who: serde_json::Value = server
        .http()
        .get(server.api("/whoami"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    who["name"].as_str().unwrap().to_owned()
}

/// Calls the JSON API as the admin.
pub async fn api(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = server
        .http()
        .request(method, server.api(path))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}
