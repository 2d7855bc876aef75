//! `AccessLine`: one proxied request as the app's log stream shows it, Heroku router style,
//! and `ErrorCode`, the Heroku-like code of a failed request. Data and formatting only: the
//! router hands each line to the callback given to `Router::new`; where it goes is the
//! caller's business.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::HeaderValue;
use hyper::{Method, Uri};

/// Why a request failed, with Heroku's router codes where Heroku has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// No app is routed at the Host (Heroku has no code: it shows "no such app").
    UnknownHost,
    /// H10: the app's web processes crashed.
    AppCrashed,
    /// H12: no response headers within the response-header timeout.
    RequestTimeout,
    /// H13: the app closed the connection without a response.
    ConnectionClosedWithoutResponse,
    /// H14: no web process is running (scaled to zero, never deployed, none healthy).
    NoWebProcesses,
    /// H15: the response stalled longer than the idle timeout.
    IdleConnection,
    /// H18: the app broke off a response it had started.
    ServerRequestInterrupted,
    /// H19: no TCP connection to the app within the connect timeout.
    BackendConnectionTimeout,
    /// H21: the app refused the connection.
    BackendConnectionRefused,
    /// H27: the client went away before the response was complete.
    ClientRequestInterrupted,
    /// H80: the app is in maintenance mode.
    MaintenanceMode,
    /// H99: the control plane failed to answer (a router-side fault).
    PlatformError,
}

impl ErrorCode {
    pub fn code(self) -> &'static str {
        match self {
            Self::UnknownHost => "NOAPP",
            Self::AppCrashed => "H10",
            Self::RequestTimeout => "H12",
            Self::ConnectionClosedWithoutResponse => "H13",
            Self::NoWebProcesses => "H14",
            Self::IdleConnection => "H15",
            Self::ServerRequestInterrupted => "H18",
            Self::BackendConnectionTimeout => "H19",
            Self::BackendConnectionRefused => "H21",
            Self::ClientRequestInterrupted => "H27",
            Self::MaintenanceMode => "H80",
            Self::PlatformError => "H99",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::UnknownHost => "No such app",
            Self::AppCrashed => "App crashed",
            Self::RequestTimeout => "Request timeout",
            Self::ConnectionClosedWithoutResponse => "Connection closed without response",
            Self::NoWebProcesses => "No web processes running",
            Self::IdleConnection => "Idle connection",
            Self::ServerRequestInterrupted => "Server Request Interrupted",
            Self::BackendConnectionTimeout => "Backend connection timeout",
            Self::BackendConnectionRefused => "Backend connection refused",
            Self::ClientRequestInterrupted => "Client Request Interrupted",
            Self::MaintenanceMode => "Maintenance mode",
            Self::PlatformError => "Platform error",
        }
    }
}

/// One request as seen by the router. `Display` gives the Heroku-style line:
/// `at=info method=GET path="/" host=myapp.localhost request_id=... fwd=1.2.3.4 dyno=web.2
/// connect=1ms service=4ms status=200 bytes=1234 protocol=http`.
#[derive(Clone, Debug)]
pub struct AccessLine {
    /// The app the Host routed to; `None` for an unknown host.
    pub app: Option<Arc<str>>,
    /// Set when the request failed (`at=error code=... desc=...`).
    pub error: Option<ErrorCode>,
    pub method: Method,
    pub uri: Uri,
    pub host: Option<HeaderValue>,
    pub request_id: HeaderValue,
    /// The client address (the peer, or the first untrusted hop behind trusted proxies).
    pub fwd: IpAddr,
    /// The process that served the request, e.g. `web.2`.
    pub dyno: Option<Arc<str>>,
    /// Time to obtain a connection to the app (0 when a pooled one was reused).
    pub connect: Duration,
    /// Time from routing to the last byte of the response.
    pub service: Duration,
    pub status: u16,
    /// Response body bytes sent to the client.
    pub bytes: u64,
    /// `http` or `https`, as seen by the client.
    pub protocol: &'static str,
}

impl AccessLine {
    /// The path and query as requested.
    pub fn path(&self) -> &str {
        self.uri.path_and_query().map_or("/", |p| p.as_str())
    }

    /// The Host header, or "" when absent or not text.
    pub fn host(&self) -> &str {
        self.host
            .as_ref()
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
    }

    /// Room for a typical line (about 250 bytes) without growing a `String`.
    pub const CAPACITY: usize = 320;

    /// Appends the line (as `Display` shows it) to `out`. Pieces are pushed straight into
    /// the `String` and numbers go through itoa: through `fmt::Formatter` the line took 3.8k
    /// instructions, this way 1.6k (callgrind, docs/BENCHMARKS.md).
    pub fn write_to(&self, out: &mut String) {
        match self.error {
            None => out.push_str("at=info "),
            Some(code) => {
                out.push_str("at=error code=");
                out.push_str(code.code());
                out.push_str(" desc=\"");
                out.push_str(code.description());
                out.push_str("\" ");
            }
        }
        out.push_str("method=");
        out.push_str(self.method.as_str());
        out.push_str(" path=\"");
        push_escaped(out, self.path());
        out.push_str("\" host=");
        push_token(out, self.host());
        out.push_str(" request_id=");
        push_token(out, self.request_id.to_str().unwrap_or(""));
        let mut digits = itoa::Buffer::new();
        out.push_str(" fwd=");
        push_ip(out, self.fwd, &mut digits);
        out.push_str(" dyno=");
        out.push_str(self.dyno.as_deref().unwrap_or(""));
        out.push_str(" connect=");
        out.push_str(digits.format(self.connect.as_millis()));
        out.push_str("ms service=");
        out.push_str(digits.format(self.service.as_millis()));
        out.push_str("ms status=");
        out.push_str(digits.format(self.status));
        out.push_str(" bytes=");
        out.push_str(digits.format(self.bytes));
        out.push_str(" protocol=");
        out.push_str(self.protocol);
    }
}

impl fmt::Display for AccessLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::with_capacity(Self::CAPACITY);
        self.write_to(&mut text);
        f.write_str(&text)
    }
}

/// An IPv4 address octet by octet (its `Display` pads through a buffer); IPv6 as usual.
fn push_ip(out: &mut String, ip: IpAddr, digits: &mut itoa::Buffer) {
    let IpAddr::V4(v4) = ip else {
        let _ = fmt::Write::write_fmt(out, format_args!("{ip}"));
        return;
    };
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(digits.format(octet));
    }
}

/// Quotes and backslashes are escaped so a hostile path cannot forge fields.
fn push_escaped(out: &mut String, text: &str) {
    for part in text.split_inclusive(['"', '\\']) {
        match part.strip_suffix(['"', '\\']) {
            Some(head) => {
                out.push_str(head);
                out.push('\\');
                out.push_str(&part[head.len()..]);
            }
            None => out.push_str(part),
        }
    }
}

/// Unquoted values must not contain spaces or quotes; anything else is replaced by `_`.
fn push_token(out: &mut String, text: &str) {
    if text.bytes().all(|b| b.is_ascii_graphic() && b != b'"') {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        let safe = c.is_ascii_graphic() && c != '"';
        out.push(if safe { c } else { '_' });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> AccessLine {
        AccessLine {
            app: Some(Arc::from("myapp")),
            error: None,
            method: Method::GET,
            uri: Uri::from_static("/search?q=1"),
            host: Some(HeaderValue::from_static("myapp.localhost")),
            request_id: HeaderValue::from_static("abc-123"),
            fwd: "1.2.3.4".parse().unwrap(),
            dyno: Some(Arc::from("web.2")),
            connect: Duration::from_millis(1),
            service: Duration::from_millis(4),
            status: 200,
            bytes: 1234,
            protocol: "http",
        }
    }

    #[test]
    fn a_successful_request_formats_like_the_heroku_router() {
        assert_eq!(
            line().to_string(),
            "at=info method=GET path=\"/search?q=1\" host=myapp.localhost request_id=abc-123 \
             fwd=1.2.3.4 dyno=web.2 connect=1ms service=4ms status=200 bytes=1234 protocol=http"
        );
    }

    #[test]
    fn a_failed_request_leads_with_its_code_and_description() {
        let mut failed = line();
        failed.error = Some(ErrorCode::RequestTimeout);
        failed.status = 504;
        let text = failed.to_string();
        assert!(
            text.starts_with("at=error code=H12 desc=\"Request timeout\" method=GET"),
            "{text}"
        );
        assert!(text.contains("status=504"), "{text}");
    }

    #[test]
    fn quotes_in_the_path_and_spaces_in_the_host_cannot_forge_fields() {
        let mut hostile = line();
        hostile.uri = Uri::from_static("/a%22b");
        hostile.host = Some(HeaderValue::from_static("evil host status=200"));
        let text = hostile.to_string();
        assert!(text.contains("host=evil_host_status=200 "), "{text}");
        let mut escaped = String::new();
        push_escaped(&mut escaped, "say \"hi\" \\ bye");
        assert_eq!(escaped, "say \\\"hi\\\" \\\\ bye");
    }

    proptest::proptest! {
        #[test]
        fn the_client_address_is_written_as_displayed(v4: u32, v6: u128) {
            for ip in [IpAddr::from(v4.to_be_bytes()), IpAddr::from(v6.to_be_bytes())] {
                let mut with = line();
                with.fwd = ip;
                let text = with.to_string();
                proptest::prop_assert!(text.contains(&format!(" fwd={ip} dyno=")), "{}", text);
            }
        }
    }

    #[test]
    fn unknown_hosts_log_without_app_or_dyno() {
        let mut unknown = line();
        unknown.app = None;
        unknown.dyno = None;
        unknown.error = Some(ErrorCode::UnknownHost);
        unknown.status = 404;
        assert!(unknown.to_string().contains(" dyno= connect="));
    }
}
