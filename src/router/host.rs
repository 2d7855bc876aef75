//! `HostKey`: a Host header reduced to the name routes are keyed by (port stripped, ASCII
//! lowercase, one trailing dot removed), built on the stack so routing does not allocate.
//! Pure; knows nothing of the route table.

use std::net::{IpAddr, Ipv6Addr};

/// DNS names are at most 253 characters; a bracketed IPv6 literal is at most 47.
const MAX_HOST_LEN: usize = 255;

/// A normalised host name, or a bracketed IPv6 literal such as `[::1]`.
pub(crate) struct HostKey {
    bytes: [u8; MAX_HOST_LEN],
    len: usize,
}

impl HostKey {
    /// Normalises a raw Host value; `None` when it cannot name anything we route
    /// (empty, too long, not ASCII, or a malformed port or IPv6 literal).
    pub(crate) fn parse(raw: &[u8]) -> Option<Self> {
        let name = strip_port(raw)?;
        let name = name.strip_suffix(b".").unwrap_or(name);
        if name.is_empty() || name.len() > MAX_HOST_LEN || !name.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; MAX_HOST_LEN];
        for (slot, byte) in bytes.iter_mut().zip(name) {
            *slot = byte.to_ascii_lowercase();
        }
        Some(Self {
            bytes,
            len: name.len(),
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII is ever copied in, so this cannot fail; "" keeps the router total anyway.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }

    pub(crate) fn is_ip_literal(&self) -> bool {
        let host = self.as_str();
        match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
            None => host.parse::<IpAddr>().is_ok(),
        }
    }
}

/// `example.com:8080` -> `example.com`; `[::1]:80` -> `[::1]`. A port must be digits.
pub(crate) fn strip_port(raw: &[u8]) -> Option<&[u8]> {
    if raw.first() == Some(&b'[') {
        let close = raw.iter().position(|&b| b == b']')?;
        let (literal, rest) = raw.split_at(close + 1);
        return match rest {
            [] => Some(literal),
            [b':', port @ ..] if is_port(port) => Some(literal),
            _ => None,
        };
    }
    match raw.iter().rposition(|&b| b == b':') {
        None => Some(raw),
        Some(colon) if is_port(&raw[colon + 1..]) && !raw[..colon].contains(&b':') => {
            Some(&raw[..colon])
        }
        Some(_) => None,
    }
}

fn is_port(port: &[u8]) -> bool {
    !port.is_empty() && port.len() <= 5 && port.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(raw: &str) -> Option<String> {
        HostKey::parse(raw.as_bytes()).map(|k| k.as_str().to_owned())
    }

    #[test]
    fn port_case_and_trailing_dot_are_normalised_away() {
        assert_eq!(
            key("MyApp.Example.COM:8080").as_deref(),
            Some("myapp.example.com")
        );
        assert_eq!(key("myapp.localhost.").as_deref(), Some("myapp.localhost"));
        assert_eq!(
            key("myapp.localhost.:80").as_deref(),
            Some("myapp.localhost")
        );
        assert_eq!(key("[::1]:8080").as_deref(), Some("[::1]"));
        assert_eq!(key("[::1]").as_deref(), Some("[::1]"));
    }

    #[test]
    fn malformed_hosts_route_nowhere() {
        for raw in [
            "",
            ":80",
            "a:b",
            "host:",
            "host:123456",
            "[::1",
            "[::1]x",
            "h\u{e9}.com",
            ".",
        ] {
            assert!(key(raw).is_none(), "{raw:?} should not parse");
        }
        assert!(key(&"a".repeat(256)).is_none());
    }

    #[test]
    fn ip_literals_are_recognised() {
        for raw in ["127.0.0.1", "10.0.0.1:80", "[::1]", "[2001:db8::2]:443"] {
            assert!(
                HostKey::parse(raw.as_bytes()).unwrap().is_ip_literal(),
                "{raw}"
            );
        }
        assert!(!HostKey::parse(b"localhost").unwrap().is_ip_literal());
        assert!(!HostKey::parse(b"[notip]").unwrap().is_ip_literal());
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_yields_lowercase_ascii(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Some(key) = HostKey::parse(&raw) {
                let host = key.as_str();
                prop_assert!(!host.is_empty());
                prop_assert!(host.is_ascii());
                prop_assert_eq!(host.to_ascii_lowercase(), host);
            }
        }

        #[test]
        fn any_port_suffix_is_stripped(name in "[a-z][a-z0-9-]{0,20}(\\.[a-z0-9-]{1,10}){0,3}", port in 0u16..) {
            let raw = format!("{}:{port}", name.to_uppercase());
            prop_assert_eq!(key(&raw), Some(name));
        }
    }
}
