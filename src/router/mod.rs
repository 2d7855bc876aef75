//! The built-in router: the public HTTP listener and a hostname reverse proxy in front of
//! the apps' web processes. The only place hyper is used.
//!
//! # Layout
//!
//! ```text
//! mod.rs         Router: settings, the live route table (arc-swap), metrics, access log
//! settings.rs    RouterSettings and the control-host predicate
//! cidr.rs        IpCidr for the trusted-proxies list
//! host.rs        Host header -> routing key (port, case, trailing dot)
//! table.rs       RouteSnapshot, AppRoute, UnavailableReason: host -> app -> endpoints
//! builder.rs     RouteSnapshotBuilder: plain data -> snapshot, reusing endpoints
//! endpoint.rs    Endpoint: in-flight count, drain wait, ejection, its connection pool
//! balancer.rs    least outstanding requests, round-robin among ties
//! upstream.rs    pooled HTTP/1.1 connections to apps, connect and header timeouts
//! proxy.rs       one request: route, pick, send, retry, respond (hyper's path)
//! fast/          plain HTTP/1.1 requests without hyper's types: httparse heads, bare
//!                pooled streams; everything else is handed to hyper (see fast/mod.rs)
//! body.rs        streaming bodies, idle timeout, end-of-response bookkeeping
//! tunnel.rs      101 Switching Protocols: bytes both ways
//! headers.rs     hop-by-hop removal, X-Forwarded-*, X-Request-Id
//! https.rs       ACME HTTP-01 answers, https-only redirects, HSTS
//! request_id.rs  keep a sane X-Request-Id or make one
//! pages.rs       404/502/503/504 pages in HTML or plain text
//! access_log.rs  AccessLine and its Heroku-style text (`write_to`, `Display`)
//! metrics.rs     Prometheus text
//! connection.rs  per-connection context and activity reporting
//! wake.rs        requests for sleeping apps: held while the app wakes, in order
//! watch.rs       the sweeper: idle, header and shutdown timeouts without per-request timers
//! listener.rs    accept loop, HTTP/1.1 serving, control-plane split, graceful shutdown
//! error.rs       RouterError
//! ```
//!
//! The scheduler is the only caller of `Router::publish`; the router knows nothing of
//! builds, releases or containers.

mod access_log;
mod balancer;
mod body;
mod builder;
mod cidr;
mod connection;
mod endpoint;
mod error;
mod fast;
mod headers;
mod host;
mod https;
pub mod listener;
mod metrics;
mod pages;
mod proxy;
mod request_id;
mod settings;
mod table;
mod tunnel;
mod upstream;
mod wake;
mod watch;

use std::sync::Arc;

use arc_swap::ArcSwap;
use hyper::server::conn::http1;

pub use access_log::{AccessLine, ErrorCode};
pub use body::{BodyError, ProxyBody};
pub use builder::{AppSpec, AppState, EndpointSpec, RouteSnapshotBuilder};
pub use cidr::IpCidr;
pub use connection::{ClientInfo, ConnectionInfo};
pub use endpoint::Endpoint;
pub use error::RouterError;
pub use https::{AppHttps, HttpsHooks, HttpsPolicies};
pub use listener::{Listener, ListenerBody, serve};
pub use settings::RouterSettings;
pub use table::{AppEntry, AppRoute, RouteSnapshot, UnavailableReason};

use metrics::Metrics;

/// The router: the live route table plus everything requests share. Cheap to clone.
#[derive(Clone)]
pub struct Router {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) settings: RouterSettings,
    /// `settings.paas_domain`, lowercase without a trailing dot.
    pub(crate) paas_domain: String,
    pub(crate) table: ArcSwap<RouteSnapshot>,
    pub(crate) metrics: Metrics,
    pub(crate) access_log: Box<dyn Fn(AccessLine) + Send + Sync>,
    pub(crate) http1: http1::Builder,
    pub(crate) https: HttpsHooks,
    pub(crate) wakes: wake::Wakes,
}

/// What the router saw of one app, for deciding that it is idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Activity {
    /// Responses so far (a counter: compare two readings).
    pub responses: u64,
    /// Requests in progress on its endpoints (a WebSocket counts while open).
    pub in_flight: usize,
    /// Requests held while it wakes.
    pub held: usize,
    /// It has healthy web endpoints in the table.
    pub serving: bool,
}

impl Router {
    /// A router with an empty table (every host unknown until the first `publish`).
    /// `access_log` gets one `AccessLine` per proxied request, on the request's task: keep
    /// it quick (e.g. push into a channel).
    pub fn new(
        settings: RouterSettings,
        access_log: impl Fn(AccessLine) + Send + Sync + 'static,
    ) -> Self {
        let paas_domain = settings
            .paas_domain
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let mut http1 = http1::Builder::new();
        // Header, idle and response timeouts are the sweeper's (watch.rs): hyper's own
        // header timer costs a timer-wheel insert and removal per request.
        http1
            .header_read_timeout(None)
            .keep_alive(true)
            .max_header_size(settings.max_header_bytes);
        // hyper parses up to 100 headers on the stack; another limit costs a heap
        // allocation per request, so only pay for it when asked to.
        if settings.max_headers != 100 {
            http1.max_headers(settings.max_headers);
        }
        Self {
            shared: Arc::new(Shared {
                settings,
                paas_domain,
                table: ArcSwap::from_pointee(RouteSnapshot::default()),
                metrics: Metrics::default(),
                access_log: Box::new(access_log),
                http1,
                https: HttpsHooks::default(),
                wakes: wake::Wakes::default(),
            }),
        }
    }

    /// Replaces the route table atomically. Requests already routed finish on the
    /// endpoints they picked; new requests see the new table.
    pub fn publish(&self, snapshot: RouteSnapshot) {
        self.shared.metrics.attach(&snapshot);
        let snapshot = Arc::new(snapshot);
        self.shared.table.store(Arc::clone(&snapshot));
        self.shared.wakes.published(&snapshot);
    }

    /// Installs what the router calls, with the app's name, when a request comes for a
    /// sleeping app and no wake is under way. It runs on the request's task: it must only
    /// hand the name on (e.g. into a channel). Returns false if one was installed already.
    pub fn set_waker(&self, waker: impl Fn(&str) + Send + Sync + 'static) -> bool {
        self.shared.wakes.set_waker(Box::new(waker))
    }

    /// The wake of `app` failed: its held requests are answered 503 with `reason`.
    pub fn wake_failed(&self, app: &str, reason: &str) {
        self.shared.wakes.failed(app, reason);
    }

    /// Responses, requests in progress and held requests of `app` (None: not in the table).
    pub fn activity(&self, app: &str) -> Option<Activity> {
        let table = self.shared.table.load();
        let entry = table.app(app)?;
        let (in_flight, serving) = match entry.route() {
            AppRoute::Serving(endpoints) => (
                endpoints.iter().map(|e| e.in_flight()).sum(),
                !endpoints.is_empty(),
            ),
            AppRoute::Unavailable(_) => (0, false),
        };
        Some(Activity {
            responses: entry.metrics.get().map_or(0, |m| m.responses()),
            in_flight,
            held: self.shared.wakes.waiting(app),
            serving,
        })
    }

    /// The table in force now.
    pub fn snapshot(&self) -> Arc<RouteSnapshot> {
        self.shared.table.load_full()
    }

    /// Prometheus text exposition of every app's and the platform-wide metrics (admins).
    pub fn metrics_text(&self) -> String {
        self.shared.metrics.render(&self.shared.table.load(), None)
    }

    /// The series of the apps named, and nothing platform-wide (a member's view).
    pub fn metrics_text_of(&self, apps: &std::collections::HashSet<String>) -> String {
        self.shared
            .metrics
            .render(&self.shared.table.load(), Some(apps))
    }

    /// HTTPS policies and ACME HTTP-01 tokens, set by the certificate manager.
    pub fn https(&self) -> &HttpsHooks {
        &self.shared.https
    }

    pub fn settings(&self) -> &RouterSettings {
        &self.shared.settings
    }

    /// Closes idle keep-alive connections to every endpoint in the table (at shutdown).
    pub fn close_idle_connections(&self) {
        for entry in self.shared.table.load().apps() {
            if let AppRoute::Serving(endpoints) = entry.route() {
                endpoints.iter().for_each(|e| e.pool.clear());
            }
        }
    }
}
