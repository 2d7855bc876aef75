//! The UI's CSS, JavaScript and icon, compiled into the binary: no CDN, no build step.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("../../static/paas.css");
const JS: &str = include_str!("../../static/paas.js");
const ICON: &str = include_str!("../../static/icon.svg");

static VERSION: LazyLock<String> = LazyLock::new(|| {
    let digest = crate::auth::hash_token(&format!("{CSS}{JS}{ICON}"));
    hex::encode(&digest[..6])
});

/// Changes whenever an asset does, so `?v=` URLs can be cached for long.
pub fn version() -> &'static str {
    &VERSION
}

pub async fn serve(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "paas.css" => (CSS, "text/css; charset=utf-8"),
        "paas.js" => (JS, "text/javascript; charset=utf-8"),
        "icon.svg" => (ICON, "image/svg+xml"),
        _ => return super::error::not_found().await,
    };
    asset(body, content_type)
}

pub async fn favicon() -> Response {
    asset(ICON, "image/svg+xml")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}
