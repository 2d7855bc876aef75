//! `RouteSnapshotBuilder`: turns plain data (apps, their domains, their endpoints or why they
//! have none) into a `RouteSnapshot`, validating domains and reusing the `Arc<Endpoint>` of
//! a previous snapshot for the same app and address so in-flight counts survive a swap.
//! Pure code: no I/O, no publishing.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use super::endpoint::Endpoint;
use super::error::RouterError;
use super::table::{AppEntry, AppRoute, RouteSnapshot, UnavailableReason};

/// One app as the scheduler sees it.
#[derive(Clone, Debug)]
pub struct AppSpec {
    pub name: String,
    /// Custom domains: exact (`www.example.com`) or wildcard (`*.example.com`).
    pub domains: Vec<String>,
    pub state: AppState,
}

#[derive(Clone, Debug)]
pub enum AppState {
    /// Healthy web endpoints.
    Serving(Vec<EndpointSpec>),
    Unavailable(UnavailableReason),
}

/// A healthy web process.
#[derive(Clone, Debug)]
pub struct EndpointSpec {
    pub addr: SocketAddr,
    /// e.g. `web.2`.
    pub dyno: String,
}

/// Collects `AppSpec`s and builds a snapshot.
#[derive(Default)]
pub struct RouteSnapshotBuilder {
    previous: HashMap<(Arc<str>, SocketAddr), Arc<Endpoint>>,
    apps: Vec<AppSpec>,
}

impl RouteSnapshot {
    /// A builder starting from nothing.
    pub fn builder() -> RouteSnapshotBuilder {
        RouteSnapshotBuilder::default()
    }
}

impl RouteSnapshotBuilder {
    /// A builder that reuses `previous`'s endpoints (same app, address and dyno name).
    pub fn reusing(previous: &RouteSnapshot) -> Self {
        let previous = previous
            .apps()
            .filter_map(|entry| match entry.route() {
                AppRoute::Serving(endpoints) => Some((entry, endpoints)),
                AppRoute::Unavailable(_) => None,
            })
            .flat_map(|(entry, endpoints)| {
                endpoints
                    .iter()
                    .map(|e| ((Arc::clone(&entry.name), e.addr()), Arc::clone(e)))
            })
            .collect();
        Self {
            previous,
            apps: Vec::new(),
        }
    }

    pub fn app(mut self, spec: AppSpec) -> Self {
        self.apps.push(spec);
        self
    }

    pub fn build(self) -> Result<RouteSnapshot, RouterError> {
        let mut snapshot = RouteSnapshot::default();
        for spec in self.apps {
            let name: Arc<str> = Arc::from(spec.name.as_str());
            let route = match spec.state {
                AppState::Unavailable(reason) => AppRoute::Unavailable(reason),
                AppState::Serving(endpoints) => AppRoute::Serving(
                    endpoints
                        .into_iter()
                        .map(|e| reuse_or_create(&self.previous, &name, e))
                        .collect(),
                ),
            };
            let domains = spec
                .domains
                .iter()
                .map(|d| normalise_domain(&spec.name, d))
                .collect::<Result<Vec<_>, _>>()?;
            let entry = Arc::new(AppEntry {
                name: Arc::clone(&name),
                domains: domains.clone(),
                route,
                cursor: AtomicUsize::new(0),
                metrics: Default::default(),
            });
            for domain in domains {
                let (map, key) = match domain.strip_prefix("*.") {
                    Some(parent) => (&mut snapshot.wildcards, parent.to_owned()),
                    None => (&mut snapshot.domains, domain.clone()),
                };
                match map.entry(key) {
                    Entry::Occupied(taken) => {
                        return Err(RouterError::DomainConflict {
                            domain,
                            first: taken.get().name().to_owned(),
                            second: spec.name,
                        });
                    }
                    Entry::Vacant(slot) => {
                        slot.insert(Arc::clone(&entry));
                    }
                }
            }
            if snapshot.apps.insert(name, entry).is_some() {
                return Err(RouterError::DuplicateApp(spec.name));
            }
        }
        Ok(snapshot)
    }
}

fn reuse_or_create(
    previous: &HashMap<(Arc<str>, SocketAddr), Arc<Endpoint>>,
    app: &Arc<str>,
    spec: EndpointSpec,
) -> Arc<Endpoint> {
    match previous.get(&(Arc::clone(app), spec.addr)) {
        Some(endpoint) if endpoint.dyno() == spec.dyno => Arc::clone(endpoint),
        _ => Endpoint::new(spec.addr, spec.dyno),
    }
}

/// Lowercase, no trailing dot, DNS characters only; `*` only as a whole first label.
fn normalise_domain(app: &str, domain: &str) -> Result<String, RouterError> {
    let invalid = |reason| RouterError::InvalidDomain {
        app: app.to_owned(),
        domain: domain.to_owned(),
        reason,
    };
    let lower = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let name = lower.strip_prefix("*.").unwrap_or(&lower);
    if name.is_empty() || lower.len() > 253 {
        return Err(invalid("a domain needs 1 to 253 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(invalid(
            "use letters, digits, '-' and '.', with '*.' only at the start",
        ));
    }
    if name.split('.').any(str::is_empty) {
        return Err(invalid("a domain cannot have an empty label"));
    }
    if lower.starts_with("*.") && !name.contains('.') {
        return Err(invalid("a wildcard needs at least two labels after '*.'"));
    }
    Ok(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serving(name: &str, domains: &[&str], ports: &[u16]) -> AppSpec {
        AppSpec {
            name: name.to_owned(),
            domains: domains.iter().map(|d| (*d).to_owned()).collect(),
            state: AppState::Serving(
                ports
                    .iter()
                    .enumerate()
                    .map(|(i, port)| EndpointSpec {
                        addr: SocketAddr::from(([127, 0, 0, 1], *port)),
                        dyno: format!("web.{}", i + 1),
                    })
                    .collect(),
            ),
        }
    }

    fn routed(snapshot: &RouteSnapshot, host: &str) -> Option<String> {
        snapshot
            .route_host(host, "localhost")
            .map(|e| e.name().to_owned())
    }

    fn table() -> RouteSnapshot {
        RouteSnapshot::builder()
            .app(serving(
                "blog",
                &["www.example.com", "*.example.com"],
                &[5000],
            ))
            .app(serving("shop", &["shop.example.com"], &[5001]))
            .app(serving("api", &[], &[5002]))
            .build()
            .unwrap()
    }

    #[test]
    fn default_hosts_route_by_app_name_ignoring_port_case_and_trailing_dot() {
        let table = table();
        assert_eq!(routed(&table, "api.localhost").as_deref(), Some("api"));
        assert_eq!(routed(&table, "API.LocalHost:8080").as_deref(), Some("api"));
        assert_eq!(routed(&table, "api.localhost.").as_deref(), Some("api"));
        assert_eq!(routed(&table, "nope.localhost"), None);
        assert_eq!(routed(&table, "localhost"), None);
        assert_eq!(routed(&table, "x.api.localhost"), None);
    }

    #[test]
    fn exact_domains_win_over_wildcards_which_win_over_default_hosts() {
        let table = RouteSnapshot::builder()
            .app(serving("blog", &["*.example.com"], &[5000]))
            .app(serving("shop", &["shop.example.com"], &[5001]))
            .app(serving("api", &["*.apps.test"], &[5002]))
            .app(serving("web", &[], &[5003]))
            .build()
            .unwrap();
        assert_eq!(routed(&table, "shop.example.com").as_deref(), Some("shop"));
        assert_eq!(
            routed(&table, "Other.Example.com:443").as_deref(),
            Some("blog")
        );
        let web = table
            .route_host("web.apps.test", "apps.test")
            .map(|e| e.name().to_owned());
        assert_eq!(web.as_deref(), Some("api"));
    }

    #[test]
    fn a_wildcard_covers_exactly_one_label() {
        let table = table();
        assert_eq!(routed(&table, "a.example.com").as_deref(), Some("blog"));
        assert_eq!(routed(&table, "a.b.example.com"), None);
        assert_eq!(routed(&table, "example.com"), None);
        assert_eq!(routed(&table, "www.example.com.").as_deref(), Some("blog"));
    }

    #[test]
    fn a_domain_claimed_twice_is_rejected_with_both_apps_named() {
        let error = RouteSnapshot::builder()
            .app(serving("a", &["x.example.com"], &[1]))
            .app(serving("b", &["X.example.com."], &[2]))
            .build()
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("x.example.com") && message.contains("a and b"),
            "{message}"
        );
    }

    #[test]
    fn malformed_domains_and_duplicate_apps_are_rejected() {
        for domain in [
            "",
            "a b.com",
            "*.com",
            "a..b",
            "a.*.com",
            "ex*.com",
            "http://x.com",
        ] {
            let result = RouteSnapshot::builder()
                .app(serving("a", &[domain], &[1]))
                .build();
            assert!(result.is_err(), "{domain:?} should be rejected");
        }
        let duplicate = RouteSnapshot::builder()
            .app(serving("a", &[], &[1]))
            .app(serving("a", &[], &[2]))
            .build();
        assert!(matches!(duplicate, Err(RouterError::DuplicateApp(_))));
    }

    #[test]
    fn unavailable_apps_keep_their_reason() {
        let table = RouteSnapshot::builder()
            .app(AppSpec {
                name: "idle".to_owned(),
                domains: vec![],
                state: AppState::Unavailable(UnavailableReason::ScaledToZero),
            })
            .build()
            .unwrap();
        let entry = table.route_host("idle.localhost", "localhost").unwrap();
        assert!(matches!(
            entry.route(),
            AppRoute::Unavailable(UnavailableReason::ScaledToZero)
        ));
    }

    #[test]
    fn rebuilding_reuses_endpoints_so_in_flight_counts_survive() {
        let first = RouteSnapshot::builder()
            .app(serving("api", &[], &[5000, 5001]))
            .build()
            .unwrap();
        let old = Arc::clone(
            first
                .endpoint("api", "127.0.0.1:5000".parse().unwrap())
                .unwrap(),
        );
        let _lease = old.lease();
        let second = RouteSnapshotBuilder::reusing(&first)
            .app(serving("api", &[], &[5000, 5002]))
            .build()
            .unwrap();
        let kept = second
            .endpoint("api", "127.0.0.1:5000".parse().unwrap())
            .unwrap();
        assert!(Arc::ptr_eq(&old, kept));
        assert_eq!(kept.in_flight(), 1);
        assert!(
            second
                .endpoint("api", "127.0.0.1:5001".parse().unwrap())
                .is_none()
        );
    }
}
