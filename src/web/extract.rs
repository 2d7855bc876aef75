//! What every page and form action starts from: `Ctx` (the signed-in session, the flash
//! message waiting for this page, and how the browser reached us) and `Posted<T>` (a form
//! whose CSRF token was checked before anything else was read from it).

use std::net::{IpAddr, Ipv4Addr};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::ops::sessions::{self, Session};
use crate::ops::{Actor, OpsError, Platform};
use crate::router::{ClientInfo, ConnectionInfo};

use super::cookies::Cookie;
use super::error::{WebError, public_message};
use super::flash::Flash;
use super::view::{Layout, Nav};

/// Largest form body read: above the 64 KiB config cap, far below anything abusive.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// How the browser reached the control plane.
#[derive(Debug, Clone)]
pub struct Client {
    /// The request came over TLS (to paas, or to a trusted proxy in front of it): cookies
    /// get `Secure` and the `__Host-` prefix.
    pub secure: bool,
    /// The client address (behind a trusted proxy, the forwarded one), for the
    /// failed-login limits.
    pub addr: IpAddr,
    /// `http://host:port` as the browser wrote it: the base of git URLs to copy.
    pub base_url: String,
}

impl Client {
    pub fn of(parts: &Parts) -> Client {
        let (secure, addr) = match parts.extensions.get::<ClientInfo>() {
            Some(client) => (client.secure, client.addr),
            None => {
                let info = parts.extensions.get::<ConnectionInfo>();
                let addr = info.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |i| {
                    i.peer.ip().to_canonical()
                });
                (info.is_some_and(|i| i.is_tls), addr)
            }
        };
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| is_plain_host(h))
            .unwrap_or("localhost");
        let scheme = if secure { "https" } else { "http" };
        Client {
            secure,
            addr,
            base_url: format!("{scheme}://{host}"),
        }
    }
}

/// A Host header is shown back to the user in commands to copy: keep it boring.
fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// A signed-in request.
pub struct Ctx {
    pub session: Session,
    pub flash: Option<Flash>,
    pub client: Client,
}

impl FromRequestParts<Platform> for Ctx {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, p: &Platform) -> Result<Self, WebError> {
        let client = Client::of(parts);
        let next = if parts.method == Method::GET {
            // Inside a nested router `uri` lost its prefix; the original has it.
            let uri = parts
                .extensions
                .get::<OriginalUri>()
                .map_or(&parts.uri, |o| &o.0);
            uri.path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned()
        } else {
            "/".to_owned()
        };
        let Some(secret) = Cookie::Session.read(&parts.headers, client.secure) else {
            return Err(WebError::SignIn { next });
        };
        let Some(session) = sessions::find(p, &secret).await? else {
            return Err(WebError::SignIn { next });
        };
        let flash = Cookie::Flash
            .read(&parts.headers, client.secure)
            .and_then(|v| Flash::decode(&v));
        Ok(Ctx {
            session,
            flash,
            client,
        })
    }
}

impl Ctx {
    pub fn actor(&self) -> &Actor {
        &self.session.actor
    }

    /// The frame every page shares; the flash is taken, so it shows once.
    pub fn layout(&mut self, nav: Nav, title: impl Into<String>) -> Layout {
        Layout {
            user: Some(self.session.actor.name().to_owned()),
            admin: self.session.actor.is_admin(),
            csrf: self.session.csrf.clone(),
            flash: self.flash.take(),
            nav,
            title: title.into(),
        }
    }

    /// Renders a page. A flash that was shown is forgotten; pages hold secrets and
    /// per-session tokens, so nothing is cached.
    pub fn page<T: askama::Template>(&self, template: T) -> Response {
        let mut response = askama_web::WebTemplate(template).into_response();
        let headers = response.headers_mut();
        headers.append(header::SET_COOKIE, Cookie::Flash.clear(self.client.secure));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    /// 303 to `to`, leaving `flash` for that page.
    pub fn redirect(&self, to: &str, flash: Flash) -> Response {
        redirect_with(to, Some(&flash), self.client.secure)
    }

    /// Ends a form action: back to `back` with the notice, or with the error as the
    /// flash. An app the user may not see stays a plain 404, as in the API.
    pub fn finish(
        &self,
        back: &str,
        result: Result<Flash, OpsError>,
    ) -> Result<Response, WebError> {
        match result {
            Ok(flash) => Ok(self.redirect(back, flash)),
            Err(e @ OpsError::AppNotFound(_)) => Err(WebError::Ops(e)),
            Err(e) => {
                let status = match e {
                    OpsError::Store(_) | OpsError::Internal(_) | OpsError::Addon(_) => {
                        StatusCode::INTERNAL_SERVER_ERROR
                    }
                    _ => StatusCode::OK,
                };
                Ok(self.redirect(back, Flash::error(public_message(&e.to_string(), status))))
            }
        }
    }
}

/// 303 See Other (the browser then GETs `to`), optionally with a flash message.
pub fn redirect_with(to: &str, flash: Option<&Flash>, secure: bool) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(to) {
        headers.insert(header::LOCATION, location);
    }
    if let Some(flash) = flash {
        let max_age = std::time::Duration::from_secs(120);
        headers.append(
            header::SET_COOKIE,
            Cookie::Flash.set(&flash.encode(), max_age, secure),
        );
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A form that is only a button (and its CSRF token).
#[derive(Deserialize)]
pub struct Button {}

/// A submitted form of a signed-in user, its CSRF token already checked.
pub struct Posted<T>(pub Ctx, pub T);

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned> FromRequest<Platform> for Posted<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, p: &Platform) -> Result<Self, WebError> {
        let (mut parts, body) = req.into_parts();
        if !same_origin(&parts.headers) {
            return Err(WebError::Csrf);
        }
        let ctx = Ctx::from_request_parts(&mut parts, p).await?;
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| WebError::BadForm("the form is too large or was cut off".into()))?;
        let submitted: CsrfField = parse_form(bytes.clone()).await?;
        if !sessions::csrf_matches(&ctx.session, &submitted.csrf) {
            return Err(WebError::Csrf);
        }
        let form = parse_form(bytes).await?;
        Ok(Posted(ctx, form))
    }
}

/// Decodes an `application/x-www-form-urlencoded` body.
pub async fn parse_form<T: DeserializeOwned>(bytes: Bytes) -> Result<T, WebError> {
    let request = Request::builder()
        .method(Method::POST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(bytes))
        .map_err(|e| WebError::BadForm(e.to_string()))?;
    axum::Form::<T>::from_request(request, &())
        .await
        .map(|axum::Form(form)| form)
        .map_err(|e| WebError::BadForm(e.body_text()))
}

/// Browsers name the page a form was sent from; one from another site is refused even
/// before its token is looked at.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn forms_from_another_origin_are_refused() {
        assert!(same_origin(&headers(&[("host", "localhost:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "localhost:8080"),
            ("origin", "http://localhost:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "localhost:8080"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "localhost:8080"),
            ("origin", "null")
        ])));
    }

    #[test]
    fn odd_host_headers_never_reach_a_command_to_copy() {
        assert!(is_plain_host("localhost:8080"));
        assert!(is_plain_host("[::1]:8080"));
        assert!(!is_plain_host("evil.com/\"><script>"));
        assert!(!is_plain_host(""));
    }
}
