//! `RouterSettings`: the knobs of the public listener and the proxy, with their defaults.
//! Pure data plus the control-host predicate; no I/O.

use std::net::IpAddr;
use std::time::Duration;

use super::cidr::IpCidr;
use super::host::HostKey;

/// Settings of the router and its public listener. `Default` gives `localhost` as the
/// domain and Heroku-like timeouts.
#[derive(Clone, Debug)]
pub struct RouterSettings {
    /// Apps are served at `APP.PAAS_DOMAIN`.
    pub paas_domain: String,
    /// Hosts (beyond `localhost` and IP literals) served by the control plane, not by apps.
    pub control_hosts: Vec<String>,
    /// Peers whose `X-Forwarded-*` headers are believed (a load balancer in front of paas).
    pub trusted_proxies: Vec<IpCidr>,
    /// Time allowed to open a TCP connection to an app.
    pub connect_timeout: Duration,
    /// Time an app has to send response headers once the request body is sent (Heroku H12).
    pub response_header_timeout: Duration,
    /// A connection, upload, download or tunnel silent for this long is closed.
    pub idle_timeout: Duration,
    /// Time a client has to send a complete request head.
    pub request_header_timeout: Duration,
    /// Largest request head (request line plus headers) accepted; beyond it, 431.
    pub max_header_bytes: usize,
    /// Most request headers accepted; beyond it, 431.
    pub max_headers: usize,
    /// On shutdown, how long in-flight requests get to finish.
    pub drain_grace: Duration,
    /// How long an endpoint that refused a connection stays out of rotation.
    pub ejection: Duration,
    /// Idle keep-alive connections kept per endpoint.
    pub max_idle_per_endpoint: usize,
    /// How long a request for a sleeping app is held while it wakes.
    pub wake_timeout: Duration,
    /// A browser held this long gets a page that reloads itself instead.
    pub wake_page_after: Duration,
    /// After a failed wake, requests are answered with its reason for this long before
    /// one tries again.
    pub wake_retry_after: Duration,
    /// Plain HTTP/1.1 requests take the fast path (fast/); off, hyper serves them all.
    pub fast_path: bool,
}

impl Default for RouterSettings {
    fn default() -> Self {
        Self {
            paas_domain: "localhost".to_owned(),
            control_hosts: Vec::new(),
            trusted_proxies: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            response_header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            request_header_timeout: Duration::from_secs(30),
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            drain_grace: Duration::from_secs(30),
            ejection: Duration::from_secs(5),
            max_idle_per_endpoint: 64,
            wake_timeout: Duration::from_secs(75),
            wake_page_after: Duration::from_secs(3),
            wake_retry_after: Duration::from_secs(10),
            fast_path: true,
        }
    }
}

impl RouterSettings {
    /// Default settings serving apps at `APP.<paas_domain>`.
    pub fn new(paas_domain: impl Into<String>) -> Self {
        Self {
            paas_domain: paas_domain.into(),
            ..Self::default()
        }
    }

    /// Whether `host` (a raw Host header: any case, maybe a port or a trailing dot) belongs
    /// to the control plane: `localhost`, an IP literal, or one of `control_hosts`.
    pub fn is_control_host(&self, host: &str) -> bool {
        HostKey::parse(host.as_bytes()).is_some_and(|key| self.is_control_key(&key))
    }

    pub(crate) fn is_control_key(&self, key: &HostKey) -> bool {
        let host = key.as_str();
        host == "localhost"
            || key.is_ip_literal()
            || self
                .control_hosts
                .iter()
                .any(|name| HostKey::parse(name.as_bytes()).is_some_and(|c| c.as_str() == host))
    }

    pub(crate) fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|cidr| cidr.contains(peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_ip_literals_and_named_hosts_are_control_hosts() {
        let settings = RouterSettings {
            control_hosts: vec!["Admin.Example.com".to_owned()],
            ..RouterSettings::new("apps.example.com")
        };
        for host in [
            "localhost",
            "LOCALHOST:8080",
            "localhost.",
            "127.0.0.1",
            "10.0.0.5:80",
            "[::1]:8080",
            "[2001:db8::1]",
            "admin.example.com",
            "admin.example.com.:443",
        ] {
            assert!(
                settings.is_control_host(host),
                "{host} should be a control host"
            );
        }
        for host in [
            "myapp.localhost",
            "apps.example.com",
            "example.com",
            "",
            "x.admin.example.com",
        ] {
            assert!(
                !settings.is_control_host(host),
                "{host} should not be a control host"
            );
        }
    }

    #[test]
    fn trusted_proxies_match_by_network() {
        let settings = RouterSettings {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            ..RouterSettings::default()
        };
        assert!(settings.is_trusted_proxy("10.2.3.4".parse().unwrap()));
        assert!(!settings.is_trusted_proxy("192.168.1.1".parse().unwrap()));
    }
}
