//! The route table: an immutable `RouteSnapshot` mapping hosts to apps and apps to their
//! endpoints or to the reason they cannot be served. Built by builder.rs, swapped whole by
//! `Router::publish`, read lock-free per request. Pure lookups; no I/O, no balancing.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, OnceLock};

use super::endpoint::Endpoint;
use super::host::HostKey;
use super::metrics::AppMetrics;

/// Why an app has no endpoint to serve a request; shown on the 503 page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnavailableReason {
    /// No release has ever been deployed.
    NeverDeployed,
    /// The web formation is scaled to zero.
    ScaledToZero,
    /// The web processes crashed and are backing off before a restart.
    Crashed,
    /// An operator put the app in maintenance mode.
    Maintenance,
    /// Web processes exist but none has passed its health check yet.
    Unhealthy,
    /// The app sleeps after being idle: a request is held while it wakes.
    Sleeping,
}

impl fmt::Display for UnavailableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NeverDeployed => "never deployed",
            Self::ScaledToZero => "scaled to zero",
            Self::Crashed => "crashed",
            Self::Maintenance => "in maintenance",
            Self::Unhealthy => "no healthy web process",
            Self::Sleeping => "sleeping",
        })
    }
}

/// Where an app's requests go.
#[derive(Debug)]
pub enum AppRoute {
    /// Healthy web endpoints; an empty list is served as `Unhealthy`.
    Serving(Vec<Arc<Endpoint>>),
    Unavailable(UnavailableReason),
}

/// One app in a snapshot.
pub struct AppEntry {
    pub(crate) name: Arc<str>,
    pub(crate) domains: Vec<String>,
    pub(crate) route: AppRoute,
    /// Rotating start for the balancer's scan, so ties do not all land on the first endpoint.
    pub(crate) cursor: AtomicUsize,
    /// Attached by `Router::publish`, so counters outlive snapshots.
    pub(crate) metrics: OnceLock<Arc<AppMetrics>>,
}

impl AppEntry {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Custom domains as configured (normalised; wildcards keep their `*.`).
    pub fn domains(&self) -> &[String] {
        &self.domains
    }

    pub fn route(&self) -> &AppRoute {
        &self.route
    }
}

impl fmt::Debug for AppEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppEntry")
            .field("name", &self.name)
            .field("domains", &self.domains)
            .field("route", &self.route)
            .finish()
    }
}

/// An immutable route table. `Default` is the empty table (every host unknown).
#[derive(Debug, Default)]
pub struct RouteSnapshot {
    /// Exact custom domain -> app.
    pub(crate) domains: HashMap<String, Arc<AppEntry>>,
    /// `example.com` for a wildcard `*.example.com` -> app.
    pub(crate) wildcards: HashMap<String, Arc<AppEntry>>,
    pub(crate) apps: HashMap<Arc<str>, Arc<AppEntry>>,
}

impl RouteSnapshot {
    /// The app serving a raw Host value (any case, maybe a port or trailing dot): an exact
    /// custom domain, else a wildcard domain one label up, else `APP.<paas_domain>`.
    pub fn route_host(&self, raw_host: &str, paas_domain: &str) -> Option<&Arc<AppEntry>> {
        let host = HostKey::parse(raw_host.as_bytes())?;
        let domain = HostKey::parse(paas_domain.as_bytes())?;
        self.resolve(host.as_str(), domain.as_str())
    }

    /// Like `route_host` for an already normalised host and domain.
    pub(crate) fn resolve(&self, host: &str, paas_domain: &str) -> Option<&Arc<AppEntry>> {
        if let Some(entry) = self.domains.get(host) {
            return Some(entry);
        }
        if let Some((_, parent)) = host.split_once('.')
            && let Some(entry) = self.wildcards.get(parent)
        {
            return Some(entry);
        }
        let app = host.strip_suffix(paas_domain)?.strip_suffix('.')?;
        if app.is_empty() || app.contains('.') {
            return None;
        }
        self.apps.get(app)
    }

    pub fn app(&self, name: &str) -> Option<&Arc<AppEntry>> {
        self.apps.get(name)
    }

    /// Every app, in no particular order.
    pub fn apps(&self) -> impl Iterator<Item = &Arc<AppEntry>> {
        self.apps.values()
    }

    /// The endpoint of `app` at `addr`, e.g. to wait for it to drain after a rollout.
    pub fn endpoint(&self, app: &str, addr: SocketAddr) -> Option<&Arc<Endpoint>> {
        match &self.apps.get(app)?.route {
            AppRoute::Serving(endpoints) => endpoints.iter().find(|e| e.addr() == addr),
            AppRoute::Unavailable(_) => None,
        }
    }
}
