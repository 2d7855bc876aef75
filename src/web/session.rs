//! Signing in and out of the web UI. The checks themselves (argon2id, failed-login limits
//! per address and per user, session expiry and revocation) are `ops::sessions`; here are
//! the form, the cookies and the redirects.

use askama::Template;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::random_hex;
use crate::ops::sessions::{self, SESSION_TTL};
use crate::ops::{OpsError, Platform};

use super::cookies::Cookie;
use super::error::{WebError, public_message};
use super::extract::{Button, Client, Posted, parse_form, redirect_with, same_origin};
use super::flash::Flash;
use super::view::{Layout, Nav};

/// The sign-in form's token lives this long; a form left open longer is sent again.
const LOGIN_FORM_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    csrf: String,
    next: String,
}

#[derive(Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

pub async fn page(
    State(p): State<Platform>,
    Query(q): Query<NextQuery>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let client = Client::of(&parts);
    let next = local_path(&q.next).to_owned();
    if let Some(secret) = Cookie::Session.read(&parts.headers, client.secure)
        && let Ok(Some(_)) = sessions::find(&p, &secret).await
    {
        return redirect_with(&next, None, client.secure);
    }
    let mut layout = Layout::anonymous(Nav::None, "Sign in");
    layout.flash = Cookie::Flash
        .read(&parts.headers, client.secure)
        .and_then(|v| Flash::decode(&v));
    // Keep the token of a form already open in another tab valid.
    let csrf = Cookie::LoginCsrf
        .read(&parts.headers, client.secure)
        .filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| random_hex(16));
    let mut response = askama_web::WebTemplate(LoginPage {
        layout,
        csrf: csrf.clone(),
        next,
    })
    .into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        Cookie::LoginCsrf.set(&csrf, LOGIN_FORM_TTL, client.secure),
    );
    headers.append(header::SET_COOKIE, Cookie::Flash.clear(client.secure));
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

pub async fn login(State(p): State<Platform>, request: Request) -> Result<Response, WebError> {
    let (parts, body) = request.into_parts();
    let client = Client::of(&parts);
    if !same_origin(&parts.headers) {
        return Err(WebError::Csrf);
    }
    let bytes = axum::body::Bytes::from_request(Request::from_parts(parts.clone(), body), &())
        .await
        .map_err(|_| WebError::BadForm("the form was cut off".into()))?;
    let form: LoginForm = parse_form(bytes).await?;
    let expected = Cookie::LoginCsrf
        .read(&parts.headers, client.secure)
        .unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), form.csrf.as_bytes()) {
        return Err(WebError::Csrf);
    }
    let next = local_path(&form.next).to_owned();
    match sessions::login(&p, form.user.trim(), &form.password, client.addr).await {
        Ok((secret, _session)) => {
            let mut response = redirect_with(&next, None, client.secure);
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                Cookie::Session.set(&secret, SESSION_TTL, client.secure),
            );
            headers.append(header::SET_COOKIE, Cookie::LoginCsrf.clear(client.secure));
            Ok(response)
        }
        Err(e) => {
            let message = match &e {
                OpsError::Store(_) | OpsError::Internal(_) => public_message(
                    &e.to_string(),
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                ),
                _ => e.to_string(),
            };
            let back = if next == "/" {
                "/login".to_owned()
            } else {
                format!("/login?next={}", query_escape(&next))
            };
            Ok(redirect_with(
                &back,
                Some(&Flash::error(message)),
                client.secure,
            ))
        }
    }
}

pub async fn logout(
    State(p): State<Platform>,
    headers: HeaderMap,
    Posted(ctx, Button {}): Posted<Button>,
) -> Result<Response, WebError> {
    let secure = ctx.client.secure;
    if let Some(secret) = Cookie::Session.read(&headers, secure) {
        sessions::logout(&p, &secret).await?;
    }
    let mut response = redirect_with(
        "/login",
        Some(&Flash::notice("signed out; see you soon")),
        secure,
    );
    response
        .headers_mut()
        .append(header::SET_COOKIE, Cookie::Session.clear(secure));
    Ok(response)
}

/// Where to go after signing in: a path on this host, never another site.
pub fn local_path(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if ok { next } else { "/" }
}

pub fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local_path("/apps/x"), "/apps/x");
        assert_eq!(local_path("//evil.example/"), "/");
        assert_eq!(local_path("/\\evil.example"), "/");
        assert_eq!(local_path("https://evil.example"), "/");
        assert_eq!(local_path(""), "/");
    }
}
