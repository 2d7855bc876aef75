//! What the router does for HTTPS besides serving TLS streams: answers ACME HTTP-01
//! challenges on plain HTTP, redirects plain HTTP of https-only apps with a 308, and adds
//! `Strict-Transport-Security` to TLS responses of apps that asked for it. The policies and
//! challenge tokens are set from outside (the certificate manager); no certificates here.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwap;
use bytes::Bytes;
use hyper::header::{
    CACHE_CONTROL, CONTENT_TYPE, HOST, HeaderValue, LOCATION, STRICT_TRANSPORT_SECURITY,
};
use hyper::{HeaderMap, Request, Response, StatusCode};

use super::body::ProxyBody;
use super::connection::ConnectionContext;
use super::headers::X_FORWARDED_PROTO;

const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// One app's HTTPS choices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppHttps {
    /// Plain HTTP requests get `308 Permanent Redirect` to the same URL over HTTPS.
    pub https_only: bool,
    /// `Strict-Transport-Security: max-age=N` on responses served over TLS.
    pub hsts_max_age: Option<u32>,
}

/// HTTPS choices of every app that made one, and the port redirects point at.
#[derive(Clone, Debug, Default)]
pub struct HttpsPolicies {
    /// The public HTTPS port; left out of redirect URLs when it is 443.
    pub https_port: u16,
    /// By app name; apps not listed have the defaults.
    pub apps: HashMap<String, AppHttps>,
}

/// The router's HTTPS state: policies swapped whole, challenge tokens added and removed.
#[derive(Default)]
pub struct HttpsHooks {
    policies: ArcSwap<Prepared>,
    /// HTTP-01 token -> key authorization, while an order is open.
    http01: RwLock<HashMap<String, String>>,
}

/// Policies with their header values made once, not per response.
#[derive(Default)]
struct Prepared {
    https_port: u16,
    apps: HashMap<String, PreparedApp>,
}

struct PreparedApp {
    https_only: bool,
    hsts: Option<HeaderValue>,
}

impl HttpsHooks {
    /// Replaces every app's HTTPS choices at once.
    pub fn set_policies(&self, policies: HttpsPolicies) {
        let apps = policies
            .apps
            .into_iter()
            .filter(|(_, app)| app.https_only || app.hsts_max_age.is_some())
            .map(|(name, app)| {
                let hsts = app
                    .hsts_max_age
                    .and_then(|age| HeaderValue::from_str(&format!("max-age={age}")).ok());
                (
                    name,
                    PreparedApp {
                        https_only: app.https_only,
                        hsts,
                    },
                )
            })
            .collect();
        self.policies.store(Arc::new(Prepared {
            https_port: policies.https_port,
            apps,
        }));
    }

    /// Answers `GET /.well-known/acme-challenge/TOKEN` with `key_authorization` until removed.
    pub fn add_http01(&self, token: &str, key_authorization: &str) {
        let mut tokens = self.http01.write().unwrap_or_else(|p| p.into_inner());
        tokens.insert(token.to_owned(), key_authorization.to_owned());
    }

    pub fn remove_http01(&self, token: &str) {
        let mut tokens = self.http01.write().unwrap_or_else(|p| p.into_inner());
        tokens.remove(token);
    }

    /// The answer to an ACME HTTP-01 validation request, for any host, on plain HTTP.
    pub(crate) fn challenge_response<B>(
        &self,
        conn: &ConnectionContext,
        request: &Request<B>,
    ) -> Option<Response<ProxyBody>> {
        if conn.info.is_tls {
            return None;
        }
        let token = request.uri().path().strip_prefix(CHALLENGE_PREFIX)?;
        let tokens = self.http01.read().unwrap_or_else(|p| p.into_inner());
        let answer = tokens.get(token)?.clone();
        let mut response = Response::new(ProxyBody::full(Bytes::from(answer)));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Some(response)
    }

    /// Where a plain-HTTP request to `app` must go instead, when the app is https-only.
    /// A trusted proxy that terminated TLS in front of paas says so with
    /// `X-Forwarded-Proto: https`, and that request is not redirected.
    pub(crate) fn redirect_location<B>(
        &self,
        conn: &ConnectionContext,
        app: &str,
        request: &Request<B>,
    ) -> Option<HeaderValue> {
        if conn.info.is_tls {
            return None;
        }
        let policies = self.policies.load();
        if !policies.apps.get(app)?.https_only {
            return None;
        }
        if conn.peer_trusted && forwarded_https(request.headers()) {
            return None;
        }
        let host = request
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()))?;
        let host =
            super::host::strip_port(host.as_bytes()).and_then(|h| std::str::from_utf8(h).ok())?;
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let location = match policies.https_port {
            443 => format!("https://{host}{path}"),
            port => format!("https://{host}:{port}{path}"),
        };
        HeaderValue::from_str(&location).ok()
    }

    /// Adds `Strict-Transport-Security` to a TLS response of an app that asked for it.
    pub(crate) fn add_hsts(&self, conn: &ConnectionContext, app: &str, headers: &mut HeaderMap) {
        if let Some(hsts) = self.hsts_value(conn, app) {
            headers.insert(STRICT_TRANSPORT_SECURITY, hsts);
        }
    }

    /// The `Strict-Transport-Security` value for a response of `app` on this connection.
    pub(crate) fn hsts_value(&self, conn: &ConnectionContext, app: &str) -> Option<HeaderValue> {
        if !conn.info.is_tls {
            return None;
        }
        self.policies.load().apps.get(app)?.hsts.clone()
    }

    /// Whether plain-HTTP requests of `app` are redirected to HTTPS.
    pub(crate) fn is_https_only(&self, app: &str) -> bool {
        self.policies
            .load()
            .apps
            .get(app)
            .is_some_and(|a| a.https_only)
    }

    /// Whether `path` is an ACME HTTP-01 validation path.
    pub(crate) fn is_challenge_path(&self, path: &[u8]) -> bool {
        path.starts_with(CHALLENGE_PREFIX.as_bytes())
    }
}

fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get(&X_FORWARDED_PROTO)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// `308 Permanent Redirect`: unlike 301, the method and body are kept.
pub(crate) fn redirect_response(location: HeaderValue) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::empty());
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    response.headers_mut().insert(LOCATION, location);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::RouterSettings;
    use crate::router::connection::ConnectionInfo;

    fn conn(is_tls: bool, trusted: bool) -> ConnectionContext {
        let settings = RouterSettings {
            trusted_proxies: if trusted {
                vec!["127.0.0.1/32".parse().unwrap()]
            } else {
                Vec::new()
            },
            ..RouterSettings::default()
        };
        ConnectionContext::for_tests(
            ConnectionInfo {
                peer: "127.0.0.1:5000".parse().unwrap(),
                local_port: 8080,
                is_tls,
            },
            &settings,
        )
    }

    fn hooks(port: u16, app: AppHttps) -> HttpsHooks {
        let hooks = HttpsHooks::default();
        hooks.set_policies(HttpsPolicies {
            https_port: port,
            apps: HashMap::from([("blog".to_owned(), app)]),
        });
        hooks
    }

    fn request(host: &str, path: &str) -> Request<()> {
        Request::builder()
            .uri(path)
            .header(HOST, host)
            .body(())
            .unwrap()
    }

    #[test]
    fn https_only_apps_redirect_plain_http_to_the_https_port_keeping_the_path() {
        let only = AppHttps {
            https_only: true,
            hsts_max_age: None,
        };
        let location = hooks(8443, only.clone())
            .redirect_location(
                &conn(false, false),
                "blog",
                &request("www.example.com:8080", "/a?b=1"),
            )
            .unwrap();
        assert_eq!(location, "https://www.example.com:8443/a?b=1");
        let location = hooks(443, only.clone())
            .redirect_location(
                &conn(false, false),
                "blog",
                &request("www.example.com", "/"),
            )
            .unwrap();
        assert_eq!(location, "https://www.example.com/");
        let tls = hooks(443, only.clone()).redirect_location(
            &conn(true, false),
            "blog",
            &request("www.example.com", "/"),
        );
        assert_eq!(tls, None);
        let other_app = hooks(443, only).redirect_location(
            &conn(false, false),
            "shop",
            &request("shop.example.com", "/"),
        );
        assert_eq!(other_app, None);
    }

    #[test]
    fn a_trusted_proxy_that_terminated_tls_is_not_redirected() {
        let only = AppHttps {
            https_only: true,
            hsts_max_age: None,
        };
        let mut forwarded = request("www.example.com", "/");
        forwarded
            .headers_mut()
            .insert(&X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        let hooks = hooks(443, only);
        assert_eq!(
            hooks.redirect_location(&conn(false, true), "blog", &forwarded),
            None
        );
        assert!(
            hooks
                .redirect_location(&conn(false, false), "blog", &forwarded)
                .is_some(),
            "an untrusted peer cannot claim https"
        );
    }

    #[test]
    fn hsts_is_sent_only_on_tls_and_only_when_asked() {
        let hooks = hooks(
            443,
            AppHttps {
                https_only: false,
                hsts_max_age: Some(600),
            },
        );
        let mut headers = HeaderMap::new();
        hooks.add_hsts(&conn(false, false), "blog", &mut headers);
        assert!(headers.is_empty());
        hooks.add_hsts(&conn(true, false), "shop", &mut headers);
        assert!(headers.is_empty());
        hooks.add_hsts(&conn(true, false), "blog", &mut headers);
        assert_eq!(headers[&STRICT_TRANSPORT_SECURITY], "max-age=600");
    }

    #[test]
    fn challenge_tokens_are_answered_on_plain_http_until_removed() {
        let hooks = HttpsHooks::default();
        hooks.add_http01("tok", "tok.thumb");
        let path = "/.well-known/acme-challenge/tok";
        let plain = conn(false, false);
        assert!(
            hooks
                .challenge_response(&plain, &request("x.example.com", path))
                .is_some()
        );
        assert!(
            hooks
                .challenge_response(&conn(true, false), &request("x.example.com", path))
                .is_none()
        );
        assert!(
            hooks
                .challenge_response(
                    &plain,
                    &request("x.example.com", "/.well-known/acme-challenge/other")
                )
                .is_none()
        );
        hooks.remove_http01("tok");
        assert!(
            hooks
                .challenge_response(&plain, &request("x.example.com", path))
                .is_none()
        );
    }
}
