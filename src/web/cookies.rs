//! The UI's cookies: reading them from a request, and writing `Set-Cookie` values with
//! the flags every one of them needs (HttpOnly, SameSite=Lax, Path=/, Secure over TLS).
//!
//! Over TLS the names carry the `__Host-` prefix, which browsers only accept from a
//! secure origin for the exact host: an app on a sibling subdomain cannot plant one.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};

/// Which cookie, named the same way in both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cookie {
    /// The session secret (the store keeps only its hash).
    Session,
    /// The one-line message shown once on the page a form redirects to.
    Flash,
    /// Double-submit token of the sign-in form, before there is a session.
    LoginCsrf,
}

impl Cookie {
    fn base_name(self) -> &'static str {
        match self {
            Cookie::Session => "paas_session",
            Cookie::Flash => "paas_flash",
            Cookie::LoginCsrf => "paas_login_csrf",
        }
    }

    pub fn name(self, secure: bool) -> String {
        if secure {
            format!("__Host-{}", self.base_name())
        } else {
            self.base_name().to_owned()
        }
    }

    /// The value the browser sent, if any.
    pub fn read(self, headers: &HeaderMap, secure: bool) -> Option<String> {
        let wanted = self.name(secure);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == wanted)
            .map(|(_, value)| value.trim_matches('"').to_owned())
            .filter(|v| !v.is_empty())
    }

    /// `Set-Cookie` that stores `value` for `max_age`.
    pub fn set(self, value: &str, max_age: Duration, secure: bool) -> HeaderValue {
        self.header(value, max_age.as_secs(), secure)
    }

    /// `Set-Cookie` that makes the browser forget the cookie.
    pub fn clear(self, secure: bool) -> HeaderValue {
        self.header("", 0, secure)
    }

    fn header(self, value: &str, max_age: u64, secure: bool) -> HeaderValue {
        let secure_flag = if secure { "; Secure" } else { "" };
        let text = format!(
            "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure_flag}",
            self.name(secure)
        );
        // Values are hex or base64url made here, so this cannot fail; stay safe anyway.
        HeaderValue::from_str(&text)
            .unwrap_or_else(|_| HeaderValue::from_static("paas_invalid=; Max-Age=0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_lax_and_secure_only_over_tls() {
        let plain = Cookie::Session.set("abc", Duration::from_secs(60), false);
        assert_eq!(
            plain,
            "paas_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"
        );
        let tls = Cookie::Session.set("abc", Duration::from_secs(60), true);
        assert_eq!(
            tls,
            "__Host-paas_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        assert!(
            Cookie::Flash
                .clear(false)
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
    }

    #[test]
    fn reading_finds_the_named_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; paas_session=s3cret; b=2"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("paas_flash=xyz"));
        assert_eq!(
            Cookie::Session.read(&headers, false).as_deref(),
            Some("s3cret")
        );
        assert_eq!(Cookie::Flash.read(&headers, false).as_deref(), Some("xyz"));
        assert_eq!(
            Cookie::Session.read(&headers, true),
            None,
            "over TLS only __Host- counts"
        );
        assert_eq!(Cookie::LoginCsrf.read(&headers, false), None);
    }
}
