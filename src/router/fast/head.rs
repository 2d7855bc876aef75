//! Message heads on the fast path, as borrowed slices of the connection's buffer: a client's
//! request head parsed with httparse and sorted into what the fast path forwards or what it
//! hands to hyper, the head written to the app (hop-by-hop headers out, `X-Forwarded-*` and
//! `X-Request-Id` in), an app's response head with its framing, and the head written back to
//! the client. Pure: no I/O, no routing.

use std::fmt::Write as _;

use super::super::host::HostKey;

/// Headers parsed on the stack; a head with more goes to hyper (which applies the limit).
pub(crate) const MAX_HEADERS: usize = 100;

/// Connection-named headers the fast path strips itself; a request naming more goes to hyper.
const MAX_NAMED: usize = 4;

/// A request body the fast path reads whole before forwarding (so a failed pooled connection
/// can be retried); a longer one streams through hyper.
pub(crate) const MAX_BUFFERED_BODY: u64 = 64 * 1024;

/// Why a request is not for the fast path: hyper serves the rest of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Handover {
    /// Not a complete, valid HTTP/1.1 head within the limits: hyper answers 400 or 431.
    Unparsed,
    /// An HTTP/1.0 client (keep-alive rules differ).
    Http10,
    /// Upgrade, Expect, Transfer-Encoding, absolute-form or `*` targets, odd framing.
    Unusual,
    /// A body too long to buffer.
    LongBody,
}

/// What the fast path needs of a parsed request head. Slices borrow the client buffer.
pub(crate) struct RequestHead<'b> {
    pub(crate) method: &'b [u8],
    pub(crate) path: &'b [u8],
    pub(crate) host: &'b [u8],
    pub(crate) request_id: Option<&'b [u8]>,
    pub(crate) html: bool,
    pub(crate) close: bool,
    pub(crate) content_length: u64,
    /// Bytes of the head, up to and including the blank line.
    pub(crate) len: usize,
    headers: &'b [httparse::Header<'b>],
    named: [&'b [u8]; MAX_NAMED],
    named_len: usize,
}

/// The outcome of parsing what a client sent so far.
pub(crate) enum Parsed<'b> {
    Complete(RequestHead<'b>),
    Partial,
    Handover(Handover),
}

/// Parses a request head from `buf`, or says why hyper should have the connection.
pub(crate) fn parse_request<'b>(
    buf: &'b [u8],
    storage: &'b mut [httparse::Header<'b>; MAX_HEADERS],
    max_headers: usize,
) -> Parsed<'b> {
    let mut request = httparse::Request::new(storage);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Handover(Handover::Unparsed),
    };
    let (Some(method), Some(path), Some(version)) = (request.method, request.path, request.version)
    else {
        return Parsed::Handover(Handover::Unparsed);
    };
    if version != 1 {
        return Parsed::Handover(Handover::Http10);
    }
    if !path.starts_with('/') || method == "CONNECT" {
        return Parsed::Handover(Handover::Unusual);
    }
    let headers: &'b [httparse::Header<'b>] = request.headers;
    if headers.len() > max_headers {
        return Parsed::Handover(Handover::Unparsed);
    }
    match classify(headers) {
        Ok(mut head) => {
            head.method = method.as_bytes();
            head.path = path.as_bytes();
            head.len = len;
            Parsed::Complete(head)
        }
        Err(handover) => Parsed::Handover(handover),
    }
}

fn classify<'b>(headers: &'b [httparse::Header<'b>]) -> Result<RequestHead<'b>, Handover> {
    let mut head = RequestHead {
        method: b"",
        path: b"",
        host: b"",
        request_id: None,
        html: false,
        close: false,
        content_length: 0,
        len: 0,
        headers,
        named: [b""; MAX_NAMED],
        named_len: 0,
    };
    let mut host = None;
    let mut length = None;
    for header in headers {
        let name = header.name.as_bytes();
        let value = header.value;
        if name.eq_ignore_ascii_case(b"host") {
            if host.replace(value).is_some() {
                return Err(Handover::Unusual);
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let parsed = parse_length(value).ok_or(Handover::Unusual)?;
            if length
                .replace(parsed)
                .is_some_and(|earlier| earlier != parsed)
            {
                return Err(Handover::Unusual);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"upgrade")
            || name.eq_ignore_ascii_case(b"expect")
        {
            return Err(Handover::Unusual);
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in tokens(value) {
                if token.eq_ignore_ascii_case(b"close") {
                    head.close = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    return Err(Handover::Unusual);
                } else if !token.eq_ignore_ascii_case(b"keep-alive") {
                    if head.named_len == MAX_NAMED {
                        return Err(Handover::Unusual);
                    }
                    head.named[head.named_len] = token;
                    head.named_len += 1;
                }
            }
        } else if name.eq_ignore_ascii_case(b"x-request-id") {
            head.request_id = Some(value);
        } else if name.eq_ignore_ascii_case(b"accept") {
            head.html |= value.windows(9).any(|w| w == b"text/html");
        }
    }
    head.host = host.ok_or(Handover::Unusual)?;
    head.content_length = length.unwrap_or(0);
    if head.content_length > MAX_BUFFERED_BODY {
        return Err(Handover::LongBody);
    }
    Ok(head)
}

/// Digits only, as RFC 9110 §8.6 has it (no sign, no spaces inside).
fn parse_length(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// Request headers the router replaces or that describe only the client's connection.
const REQUEST_DROPPED: [&[u8]; 15] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"te",
    b"trailer",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"forwarded",
    b"x-real-ip",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-port",
    b"x-forwarded-host",
    b"x-request-id",
    b"content-length",
];

/// What the router adds to a request on its way to the app.
pub(crate) struct Forwarded<'a> {
    pub(crate) client_ip: &'a [u8],
    pub(crate) proto: &'a [u8],
    pub(crate) port: &'a [u8],
    pub(crate) request_id: &'a [u8],
}

impl RequestHead<'_> {
    /// Whether the host is routable at all.
    pub(crate) fn host_key(&self) -> Option<HostKey> {
        HostKey::parse(self.host)
    }

    fn is_named(&self, name: &[u8]) -> bool {
        self.named[..self.named_len]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name))
    }

    /// Writes the head the app gets into `out` (cleared first), as the hyper path would:
    /// origin-form target, hop-by-hop and client-sent forwarding headers replaced.
    pub(crate) fn write_upstream(&self, fwd: &Forwarded<'_>, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(self.method);
        out.push(b' ');
        out.extend_from_slice(self.path);
        out.extend_from_slice(b" HTTP/1.1\r\n");
        for header in self.headers {
            let name = header.name.as_bytes();
            if REQUEST_DROPPED.iter().any(|d| name.eq_ignore_ascii_case(d)) || self.is_named(name) {
                continue;
            }
            push_header(out, name, header.value);
        }
        if self.content_length > 0 || needs_length(self.method) {
            let mut digits = itoa::Buffer::new();
            push_header(
                out,
                b"content-length",
                digits.format(self.content_length).as_bytes(),
            );
        }
        push_header(out, b"x-forwarded-for", fwd.client_ip);
        push_header(out, b"x-forwarded-proto", fwd.proto);
        push_header(out, b"x-forwarded-port", fwd.port);
        push_header(out, b"x-forwarded-host", self.host);
        push_header(out, b"x-request-id", fwd.request_id);
        out.extend_from_slice(b"\r\n");
    }
}

/// hyper sends `content-length: 0` for an empty body of these methods; so does the fast path.
fn needs_length(method: &[u8]) -> bool {
    matches!(method, b"POST" | b"PUT" | b"PATCH")
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// How an app's response body ends (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// Read until the app closes; the client connection closes after it too.
    UntilClose,
}

/// An app's response head.
pub(crate) struct ResponseHead<'b> {
    pub(crate) status: u16,
    pub(crate) framing: Framing,
    /// The app keeps the connection open for another request.
    pub(crate) reusable: bool,
    pub(crate) len: usize,
    reason: &'b [u8],
    headers: &'b [httparse::Header<'b>],
}

/// Why an app's response head is unusable (answered 502 like a dropped connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ResponseError {
    #[error("the app sent a malformed response head")]
    Malformed,
    #[error("the app sent an invalid Content-Length")]
    BadLength,
}

/// Parses an app's response head; `Ok(None)` until it is complete.
pub(crate) fn parse_response<'b>(
    buf: &'b [u8],
    storage: &'b mut [httparse::Header<'b>; MAX_HEADERS],
    head_request: bool,
) -> Result<Option<ResponseHead<'b>>, ResponseError> {
    let mut response = httparse::Response::new(storage);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(ResponseError::Malformed),
    };
    let (Some(status), Some(version)) = (response.code, response.version) else {
        return Err(ResponseError::Malformed);
    };
    let headers: &'b [httparse::Header<'b>] = response.headers;
    let mut length = None;
    let mut chunked = None;
    let mut reusable = version == 1;
    for header in headers {
        let name = header.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let parsed = parse_length(header.value).ok_or(ResponseError::BadLength)?;
            if length
                .replace(parsed)
                .is_some_and(|earlier| earlier != parsed)
            {
                return Err(ResponseError::BadLength);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let last = tokens(header.value).last().unwrap_or(b"");
            chunked = Some(last.eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in tokens(header.value) {
                if token.eq_ignore_ascii_case(b"close") {
                    reusable = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && version == 0 {
                    reusable = true;
                }
            }
        }
    }
    let framing = if head_request || (100..200).contains(&status) || status == 204 || status == 304
    {
        Framing::Empty
    } else {
        match (chunked, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) => Framing::UntilClose,
            (None, Some(length)) => Framing::Length(length),
            (None, None) => Framing::UntilClose,
        }
    };
    if framing == Framing::UntilClose {
        reusable = false;
    }
    Ok(Some(ResponseHead {
        status,
        framing,
        reusable,
        len,
        reason: response.reason.unwrap_or("").as_bytes(),
        headers,
    }))
}

/// Response headers that describe only the app's connection, or that the router sets.
const RESPONSE_DROPPED: [&[u8]; 8] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"te",
    b"trailer",
    b"proxy-authenticate",
    b"upgrade",
    b"x-request-id",
];

impl ResponseHead<'_> {
    /// Writes the head the client gets into `out` (cleared first). The body's framing
    /// headers stay: the body is passed through as the app framed it.
    pub(crate) fn write_client(
        &self,
        request_id: &[u8],
        hsts: Option<&[u8]>,
        close: bool,
        out: &mut Vec<u8>,
    ) {
        out.clear();
        let _ = write!(Status(out), "HTTP/1.1 {} ", self.status);
        match self.reason {
            b"" => out.extend_from_slice(canonical_reason(self.status).as_bytes()),
            reason => out.extend_from_slice(reason),
        }
        out.extend_from_slice(b"\r\n");
        let named: Vec<&[u8]> = self.connection_named();
        for header in self.headers {
            let name = header.name.as_bytes();
            if RESPONSE_DROPPED
                .iter()
                .any(|d| name.eq_ignore_ascii_case(d))
                || named.iter().any(|n| n.eq_ignore_ascii_case(name))
                || (hsts.is_some() && name.eq_ignore_ascii_case(b"strict-transport-security"))
            {
                continue;
            }
            push_header(out, name, header.value);
        }
        push_header(out, b"x-request-id", request_id);
        if let Some(hsts) = hsts {
            push_header(out, b"strict-transport-security", hsts);
        }
        if close {
            push_header(out, b"connection", b"close");
        }
        out.extend_from_slice(b"\r\n");
    }

    fn connection_named(&self) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .flat_map(|h| tokens(h.value))
            .filter(|t| !t.eq_ignore_ascii_case(b"close") && !t.eq_ignore_ascii_case(b"keep-alive"))
            .collect()
    }
}

struct Status<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Status<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn canonical_reason(status: u16) -> &'static str {
    hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown")
}

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;
