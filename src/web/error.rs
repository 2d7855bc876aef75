//! `WebError`: what a page or form action could not do, as the page a browser shows:
//! the sign-in page, a refused form, or a short error page that says what to do next.
//! (Most failed actions never get here: they redirect back with a flash message.)

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::ops::OpsError;

use super::extract::redirect_with;
use super::view::{Layout, Nav};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("sign in to continue")]
    SignIn { next: String },
    #[error(
        "this form has expired or was sent from another site, so nothing was changed; reload the page and try again"
    )]
    Csrf,
    #[error("the form could not be read ({0}); reload the page and try again")]
    BadForm(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Ops(#[from] OpsError),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    heading: &'static str,
    message: String,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = match &self {
            WebError::SignIn { next } => {
                let to = match encode_next(next) {
                    home if home == "/" => "/login".to_owned(),
                    next => format!("/login?next={next}"),
                };
                return redirect_with(&to, None, false);
            }
            WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::BadForm(_) => StatusCode::BAD_REQUEST,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Ops(e) => match e {
                OpsError::AppNotFound(_) | OpsError::NotFound(_) => StatusCode::NOT_FOUND,
                OpsError::Forbidden(_) => StatusCode::FORBIDDEN,
                OpsError::Unauthorized(_) => {
                    return redirect_with("/login", None, false);
                }
                OpsError::Invalid(_) | OpsError::Build(_) => StatusCode::UNPROCESSABLE_ENTITY,
                OpsError::Conflict(_) => StatusCode::CONFLICT,
                OpsError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
                OpsError::Deploy(_) | OpsError::DeployFailed(_) | OpsError::Swarm(_) => {
                    StatusCode::BAD_GATEWAY
                }
                OpsError::Store(_) | OpsError::Internal(_) | OpsError::Addon(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
        };
        let message = public_message(&self.to_string(), status);
        error_page(status, message)
    }
}

/// Internal details go to the log once; the page shows an id to find them by.
pub fn public_message(detail: &str, status: StatusCode) -> String {
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        let request_id = format!("{:016x}", rand::random::<u64>());
        tracing::error!(request_id, error = %detail, "web request failed");
        format!(
            "something went wrong on the server; the server log has the details under request id {request_id}"
        )
    } else {
        detail.to_owned()
    }
}

fn error_page(status: StatusCode, message: String) -> Response {
    let heading = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "That did not work",
        StatusCode::CONFLICT => "Already there",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        _ => "Something went wrong",
    };
    let page = ErrorPage {
        layout: Layout::anonymous(Nav::None, heading),
        status: status.as_u16(),
        heading,
        message,
    };
    let mut response = (status, askama_web::WebTemplate(page)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Any path of the control host the UI does not know.
pub async fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "there is no page here; go back to the apps list".to_owned(),
    )
}

/// `next` goes back into a query string; only a local path is kept.
fn encode_next(next: &str) -> String {
    super::session::query_escape(super::session::local_path(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_in_redirect_keeps_only_a_local_next_path() {
        assert_eq!(
            encode_next("/apps/x/config?reveal=1"),
            "/apps/x/config%3Freveal%3D1"
        );
        assert_eq!(encode_next("//evil.example"), "/");
        assert_eq!(encode_next("https://evil.example"), "/");
    }

    #[test]
    fn internal_errors_show_a_request_id_and_no_detail() {
        let shown = public_message(
            "database is locked at /var/lib",
            StatusCode::INTERNAL_SERVER_ERROR,
        );
        assert!(shown.contains("request id"), "{shown}");
        assert!(!shown.contains("/var/lib"), "{shown}");
        assert_eq!(
            public_message("app not found", StatusCode::NOT_FOUND),
            "app not found"
        );
    }
}
