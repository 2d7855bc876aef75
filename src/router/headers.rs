//! Header rewriting between client and app: hop-by-hop headers out (except what an Upgrade
//! needs), `X-Forwarded-*` and `X-Request-Id` in. The original Host is never touched.
//! Pure functions over `HeaderMap`; no routing, no I/O.

use std::net::IpAddr;

use hyper::HeaderMap;
use hyper::header::{
    CONNECTION, EXPECT, FORWARDED, HeaderName, HeaderValue, PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};

use super::connection::ConnectionContext;
use super::settings::RouterSettings;

pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub(crate) static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(crate) static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub(crate) static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub(crate) static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1, plus the
/// de-facto `Proxy-Connection` and `Keep-Alive`).
fn hop_by_hop() -> [&'static HeaderName; 8] {
    [
        &KEEP_ALIVE,
        &PROXY_CONNECTION,
        &TE,
        &TRAILER,
        &TRANSFER_ENCODING,
        &PROXY_AUTHENTICATE,
        &PROXY_AUTHORIZATION,
        &UPGRADE,
    ]
}

/// Whether the client asks to switch protocols (WebSocket and friends).
pub(crate) fn is_upgrade_request(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"))
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Removes hop-by-hop headers and those the `Connection` header names. With `upgrade`,
/// `Upgrade` survives and `Connection: upgrade` is set, which is all a 101 handshake needs.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    if headers.contains_key(CONNECTION) {
        let named: Vec<HeaderName> = connection_tokens(headers)
            .filter(|t| {
                !["keep-alive", "close", "upgrade"]
                    .iter()
                    .any(|k| t.eq_ignore_ascii_case(k))
            })
            .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
        headers.remove(CONNECTION);
    }
    let upgrade_value = if upgrade {
        headers.remove(UPGRADE)
    } else {
        None
    };
    for name in hop_by_hop() {
        headers.remove(name);
    }
    if let Some(protocol) = upgrade_value {
        headers.insert(UPGRADE, protocol);
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Prepares a client request's headers for the app.
pub(crate) fn prepare_request(
    headers: &mut HeaderMap,
    conn: &ConnectionContext,
    request_id: &HeaderValue,
    upgrade: bool,
) {
    remove_hop_by_hop(headers, upgrade);
    // The router already answered `100 Continue` when it read the body.
    headers.remove(EXPECT);
    set_forwarded(headers, conn);
    headers.insert(&X_REQUEST_ID, request_id.clone());
}

/// `X-Forwarded-*` from the connection. A trusted proxy's values are kept (its
/// `X-Forwarded-For` gets the peer appended); anyone else's are replaced, and their
/// `Forwarded` and `X-Real-IP` (which apps also read for the client) removed.
fn set_forwarded(headers: &mut HeaderMap, conn: &ConnectionContext) {
    if conn.peer_trusted {
        append_forwarded_for(headers, conn);
        if !headers.contains_key(&X_FORWARDED_PROTO) {
            headers.insert(&X_FORWARDED_PROTO, conn.forwarded_proto());
        }
        if !headers.contains_key(&X_FORWARDED_PORT) {
            headers.insert(&X_FORWARDED_PORT, conn.forwarded_port.clone());
        }
        if !headers.contains_key(&X_FORWARDED_HOST)
            && let Some(host) = headers.get(hyper::header::HOST).cloned()
        {
            headers.insert(&X_FORWARDED_HOST, host);
        }
        return;
    }
    headers.remove(FORWARDED);
    headers.remove(&X_REAL_IP);
    headers.insert(&X_FORWARDED_FOR, conn.forwarded_for.clone());
    headers.insert(&X_FORWARDED_PROTO, conn.forwarded_proto());
    headers.insert(&X_FORWARDED_PORT, conn.forwarded_port.clone());
    match headers.get(hyper::header::HOST).cloned() {
        Some(host) => headers.insert(&X_FORWARDED_HOST, host),
        None => headers.remove(&X_FORWARDED_HOST),
    };
}

fn append_forwarded_for(headers: &mut HeaderMap, conn: &ConnectionContext) {
    let existing: Vec<&[u8]> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    if existing.is_empty() {
        headers.insert(&X_FORWARDED_FOR, conn.forwarded_for.clone());
        return;
    }
    let mut joined = existing.join(&b", "[..]);
    joined.extend_from_slice(b", ");
    joined.extend_from_slice(conn.forwarded_for.as_bytes());
    if let Ok(value) = HeaderValue::from_bytes(&joined) {
        headers.insert(&X_FORWARDED_FOR, value);
    }
}

/// The client address for the access log: the peer, or behind trusted proxies the
/// right-most `X-Forwarded-For` address that is not itself a trusted proxy.
pub(crate) fn client_ip(
    headers: &HeaderMap,
    peer: IpAddr,
    peer_trusted: bool,
    settings: &RouterSettings,
) -> IpAddr {
    if !peer_trusted {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    hops.into_iter()
        .rev()
        .find(|ip| !settings.is_trusted_proxy(*ip))
        .unwrap_or(peer)
}

/// The client of a control-plane request: the peer, or behind a trusted proxy the
/// forwarded address and scheme (`X-Forwarded-Proto` of anyone else counts for nothing).
pub(crate) fn control_client(
    headers: &HeaderMap,
    conn: &ConnectionContext,
    settings: &RouterSettings,
) -> super::ClientInfo {
    let peer = conn.info.peer.ip().to_canonical();
    let forwarded_https = conn.peer_trusted
        && headers
            .get(&X_FORWARDED_PROTO)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    super::ClientInfo {
        addr: client_ip(headers, peer, conn.peer_trusted, settings).to_canonical(),
        secure: conn.info.is_tls || forwarded_https,
    }
}

/// Prepares an app's response headers for the client.
pub(crate) fn prepare_response(headers: &mut HeaderMap, request_id: &HeaderValue, upgrade: bool) {
    remove_hop_by_hop(headers, upgrade);
    headers.insert(&X_REQUEST_ID, request_id.clone());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::connection::ConnectionInfo;

    fn context(peer: &str, trusted: bool) -> ConnectionContext {
        let info = ConnectionInfo {
            peer: peer.parse().unwrap(),
            local_port: 8080,
            is_tls: false,
        };
        let settings = RouterSettings {
            trusted_proxies: if trusted {
                vec![info.peer.ip().into_cidr()]
            } else {
                vec![]
            },
            ..RouterSettings::default()
        };
        ConnectionContext::for_tests(info, &settings)
    }

    trait IntoCidr {
        fn into_cidr(self) -> crate::router::IpCidr;
    }
    impl IntoCidr for IpAddr {
        fn into_cidr(self) -> crate::router::IpCidr {
            self.to_string().parse().unwrap()
        }
    }

    fn request(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn hop_by_hop_headers_and_connection_named_headers_are_removed() {
        let mut headers = request(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("transfer-encoding", "chunked"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("host", "app.localhost"),
            ("accept", "*/*"),
        ]);
        remove_hop_by_hop(&mut headers, false);
        let left: Vec<_> = headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["host", "accept"]);
    }

    #[test]
    fn an_upgrade_keeps_upgrade_and_connection() {
        let mut headers = request(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(is_upgrade_request(&headers));
        remove_hop_by_hop(&mut headers, true);
        assert_eq!(headers["upgrade"], "websocket");
        assert_eq!(headers["connection"], "upgrade");
        assert!(!is_upgrade_request(&request(&[("upgrade", "websocket")])));
    }

    #[test]
    fn an_untrusted_peer_cannot_forge_forwarded_headers() {
        let conn = context("203.0.113.7:5555", false);
        let mut headers = request(&[
            ("host", "app.localhost:8080"),
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.com"),
            ("forwarded", "for=1.1.1.1;proto=https"),
            ("x-real-ip", "1.1.1.1"),
        ]);
        let id = HeaderValue::from_static("rid");
        prepare_request(&mut headers, &conn, &id, false);
        assert!(!headers.contains_key("forwarded"));
        assert!(!headers.contains_key("x-real-ip"));
        assert_eq!(headers["x-forwarded-for"], "203.0.113.7");
        assert_eq!(headers["x-forwarded-proto"], "http");
        assert_eq!(headers["x-forwarded-host"], "app.localhost:8080");
        assert_eq!(headers["x-forwarded-port"], "8080");
        assert_eq!(headers["x-request-id"], "rid");
        assert_eq!(headers["host"], "app.localhost:8080");
    }

    #[test]
    fn a_trusted_proxy_gets_the_peer_appended_and_its_values_kept() {
        let conn = context("10.0.0.2:5555", true);
        let mut headers = request(&[
            ("host", "app.example.com"),
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-for", "10.0.0.9"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-port", "443"),
            ("x-real-ip", "198.51.100.1"),
        ]);
        prepare_request(&mut headers, &conn, &HeaderValue::from_static("r"), false);
        assert_eq!(headers["x-real-ip"], "198.51.100.1");
        assert_eq!(
            headers["x-forwarded-for"],
            "198.51.100.1, 10.0.0.9, 10.0.0.2"
        );
        assert_eq!(headers["x-forwarded-proto"], "https");
        assert_eq!(headers["x-forwarded-port"], "443");
        assert_eq!(headers["x-forwarded-host"], "app.example.com");
    }

    #[test]
    fn the_logged_client_is_the_rightmost_untrusted_hop() {
        let settings = RouterSettings {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            ..RouterSettings::default()
        };
        let headers = request(&[("x-forwarded-for", "6.6.6.6, 198.51.100.1, 10.0.0.9")]);
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(
            client_ip(&headers, peer, true, &settings).to_string(),
            "198.51.100.1"
        );
        assert_eq!(client_ip(&headers, peer, false, &settings), peer);
    }

    #[test]
    fn only_a_trusted_proxy_makes_the_control_plane_see_https_and_another_client() {
        let forged = request(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-for", "198.51.100.1"),
        ]);
        let untrusted = context("203.0.113.7:5555", false);
        let client = control_client(&forged, &untrusted, &RouterSettings::default());
        assert!(!client.secure);
        assert_eq!(client.addr.to_string(), "203.0.113.7");
        let proxy = context("10.0.0.2:5555", true);
        let settings = RouterSettings {
            trusted_proxies: vec!["10.0.0.2".parse::<IpAddr>().unwrap().into_cidr()],
            ..RouterSettings::default()
        };
        let client = control_client(&forged, &proxy, &settings);
        assert!(client.secure);
        assert_eq!(client.addr.to_string(), "198.51.100.1");
    }
}
