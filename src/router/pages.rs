//! Error pages the router writes itself: what happened and what to do about it, as HTML
//! for browsers (`Accept: text/html`) and plain text otherwise. Every page carries the
//! request id. Knows nothing of how the failure was detected.

use std::time::Duration;

use bytes::Bytes;
use hyper::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{HeaderMap, Response, StatusCode};

use super::access_log::ErrorCode;
use super::body::ProxyBody;
use super::headers::X_REQUEST_ID;
use super::table::UnavailableReason;

/// A page: a status, a short title and a sentence or two of detail.
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) code: ErrorCode,
    title: &'static str,
    detail: String,
    /// Seconds after which a browser should ask again (`Refresh`, `Retry-After`).
    refresh: Option<u32>,
}

impl Page {
    pub(crate) fn unknown_host(host: &str) -> Self {
        let detail = if host.is_empty() {
            "the request named no host, so no app can answer it. request an app's host, \
             like APP.PAAS_DOMAIN."
                .to_owned()
        } else {
            format!(
                "no app is served at {host}. if this is your app's domain, add it with: \
                 paas domains:add {host} -a APP"
            )
        };
        Self {
            status: StatusCode::NOT_FOUND,
            code: ErrorCode::UnknownHost,
            title: "no such app",
            detail,
            refresh: None,
        }
    }

    pub(crate) fn unavailable(app: &str, reason: UnavailableReason) -> Self {
        let (code, detail) = match reason {
            UnavailableReason::NeverDeployed => (
                ErrorCode::NoWebProcesses,
                format!("{app} has not been deployed yet. deploy it with: git push paas main"),
            ),
            UnavailableReason::ScaledToZero => (
                ErrorCode::NoWebProcesses,
                format!(
                    "{app} has no web process running. start one with: paas ps:scale web=1 -a {app}"
                ),
            ),
            UnavailableReason::Crashed => (
                ErrorCode::AppCrashed,
                format!("{app} crashed and is being restarted. see why with: paas logs -a {app}"),
            ),
            UnavailableReason::Maintenance => (
                ErrorCode::MaintenanceMode,
                format!("{app} is in maintenance mode. please try again later."),
            ),
            UnavailableReason::Sleeping => (
                ErrorCode::NoWebProcesses,
                format!("{app} is asleep; it wakes on the next request. please try again."),
            ),
            UnavailableReason::Unhealthy => (
                ErrorCode::NoWebProcesses,
                format!(
                    "{app} has no healthy web process yet. check it with: paas ps -a {app} \
                     and paas logs -a {app}"
                ),
            ),
        };
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code,
            title: "application unavailable",
            detail,
            refresh: None,
        }
    }

    pub(crate) fn upstream_failure(app: &str, code: ErrorCode, timeout: Duration) -> Self {
        let seconds = timeout.as_secs_f64();
        let (status, title, detail) = match code {
            ErrorCode::BackendConnectionRefused => (
                StatusCode::BAD_GATEWAY,
                "application error",
                format!(
                    "{app} refused the connection: its web process is not listening on $PORT \
                     or has stopped. see why with: paas logs -a {app}"
                ),
            ),
            ErrorCode::BackendConnectionTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "application timeout",
                format!(
                    "{app} did not accept a connection within {seconds}s. check its processes \
                     with: paas ps -a {app}"
                ),
            ),
            ErrorCode::RequestTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "application timeout",
                format!(
                    "{app} did not start its response within {seconds}s. move slow work to a \
                     worker process, and see paas logs -a {app}"
                ),
            ),
            _ => (
                StatusCode::BAD_GATEWAY,
                "application error",
                format!(
                    "{app} closed the connection without sending a response. see why with: \
                     paas logs -a {app}"
                ),
            ),
        };
        Self {
            status,
            code,
            title,
            detail,
            refresh: None,
        }
    }

    pub(crate) fn control_plane_failure() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: ErrorCode::PlatformError,
            title: "internal error",
            detail: "the paas control plane failed to answer. the server log has the details; \
                     quote the request id."
                .to_owned(),
            refresh: None,
        }
    }

    /// A browser waited long enough for a sleeping app: a page that reloads itself.
    pub(crate) fn waking(app: &str) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: ErrorCode::NoWebProcesses,
            title: "starting up",
            detail: format!("{app} was asleep and is starting. this page reloads by itself."),
            refresh: Some(2),
        }
    }

    /// A sleeping app could not be woken.
    pub(crate) fn wake_failed(app: &str, reason: &str) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: ErrorCode::AppCrashed,
            title: "application error",
            detail: format!(
                "{app} crashed while waking up: {reason}. see why with: paas logs -a {app}"
            ),
            refresh: None,
        }
    }

    /// A sleeping app did not wake within the router's wait.
    pub(crate) fn wake_timed_out(app: &str, waited: Duration) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: ErrorCode::NoWebProcesses,
            title: "application unavailable",
            detail: format!(
                "{app} was asleep and did not start within {}s. check it with: paas ps -a {app} \
                 and paas logs -a {app}",
                waited.as_secs()
            ),
            refresh: Some(5),
        }
    }

    pub(crate) fn render(&self, html: bool, request_id: &HeaderValue) -> Response<ProxyBody> {
        let id = request_id.to_str().unwrap_or("");
        let (content_type, text) = if html {
            let refresh = self.refresh.map_or_else(String::new, |seconds| {
                format!("<meta http-equiv=\"refresh\" content=\"{seconds}\">")
            });
            let text = format!(
                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">{refresh}<title>{title}</title>\
                 <style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;\
                 padding:0 1rem;color:#222}}code{{background:#eee;padding:0 .2rem}}</style></head>\
                 <body><h1>{status} {title}</h1><p>{detail}</p><p><small>request id \
                 <code>{id}</code></small></p></body></html>\n",
                title = self.title,
                status = self.status.as_u16(),
                detail = escape_html(&self.detail),
                id = escape_html(id),
            );
            ("text/html; charset=utf-8", text)
        } else {
            let text = format!(
                "{status} {title}: {detail}\nrequest id: {id}\n",
                status = self.status.as_u16(),
                title = self.title,
                detail = self.detail,
            );
            ("text/plain; charset=utf-8", text)
        };
        let mut response = Response::new(ProxyBody::full(Bytes::from(text)));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(&X_REQUEST_ID, request_id.clone());
        if let Some(seconds) = self.refresh {
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Browsers ask for HTML; curl, scripts and API clients get plain text.
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn text(response: Response<ProxyBody>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_unknown_host_page_names_the_host_and_the_fix() {
        let id = HeaderValue::from_static("rid-1");
        let response = Page::unknown_host("shop.example.com").render(false, &id);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()["x-request-id"], "rid-1");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let body = text(response).await;
        assert!(
            body.contains("paas domains:add shop.example.com -a APP"),
            "{body}"
        );
        assert!(body.contains("rid-1"), "{body}");
    }

    #[tokio::test]
    async fn html_pages_escape_what_the_client_sent() {
        let id = HeaderValue::from_static("rid");
        let page = Page::unknown_host("<script>x</script>");
        let body = text(page.render(true, &id)).await;
        assert!(body.contains("&lt;script&gt;"), "{body}");
        assert!(!body.contains("<script>"), "{body}");
    }

    #[test]
    fn each_unavailable_reason_is_a_503_with_its_own_advice() {
        let cases = [
            (UnavailableReason::NeverDeployed, "git push paas main"),
            (
                UnavailableReason::ScaledToZero,
                "paas ps:scale web=1 -a blog",
            ),
            (UnavailableReason::Crashed, "crashed"),
            (UnavailableReason::Maintenance, "maintenance"),
            (UnavailableReason::Unhealthy, "healthy"),
            (UnavailableReason::Sleeping, "asleep"),
        ];
        for (reason, advice) in cases {
            let page = Page::unavailable("blog", reason);
            assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(page.detail.contains(advice), "{reason}: {}", page.detail);
        }
    }

    #[tokio::test]
    async fn the_waking_page_reloads_itself_and_a_failed_wake_says_why() {
        let id = HeaderValue::from_static("rid");
        let response = Page::waking("blog").render(true, &id);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "2");
        let body = text(response).await;
        assert!(
            body.contains("http-equiv=\"refresh\" content=\"2\""),
            "{body}"
        );
        let page = Page::wake_failed("blog", "web.1 exited with code 3");
        assert!(
            page.detail.contains("web.1 exited with code 3"),
            "{}",
            page.detail
        );
        assert!(page.refresh.is_none());
    }

    #[test]
    fn browsers_get_html_and_others_plain_text() {
        let mut headers = HeaderMap::new();
        assert!(!wants_html(&headers));
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("text/html,application/xhtml+xml"),
        );
        assert!(wants_html(&headers));
    }
}
