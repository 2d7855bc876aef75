//! Prometheus counters of the router: requests by app and status class, time to response
//! headers by app, upstream errors by kind, and (read from the live table at scrape time)
//! in-flight requests per endpoint. Atomics only on the request path; the text format is
//! rendered on demand, either whole (for admins: every app and the platform-wide series)
//! or limited to some apps' series (a member's). Does not serve /metrics.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::table::{AppRoute, RouteSnapshot};

/// Upper bounds (seconds) of the latency histogram; H12 fires at 30 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// What went wrong between the router and an app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UpstreamErrorKind {
    ConnectRefused,
    ConnectTimeout,
    ClosedWithoutResponse,
    ResponseTimeout,
    BodyInterrupted,
    BodyIdle,
}

impl UpstreamErrorKind {
    const ALL: [Self; 6] = [
        Self::ConnectRefused,
        Self::ConnectTimeout,
        Self::ClosedWithoutResponse,
        Self::ResponseTimeout,
        Self::BodyInterrupted,
        Self::BodyIdle,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::ConnectRefused => "connect_refused",
            Self::ConnectTimeout => "connect_timeout",
            Self::ClosedWithoutResponse => "closed_without_response",
            Self::ResponseTimeout => "response_timeout",
            Self::BodyInterrupted => "body_interrupted",
            Self::BodyIdle => "body_idle",
        }
    }
}

/// Counters of one app; shared by every snapshot that routes to it.
#[derive(Default)]
pub(crate) struct AppMetrics {
    requests: [AtomicU64; 5],
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_micros: AtomicU64,
    upstream_errors: [AtomicU64; UpstreamErrorKind::ALL.len()],
}

impl AppMetrics {
    /// Counts a response by status class and its time to response headers.
    pub(crate) fn observe(&self, status: u16, latency: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[class].fetch_add(1, Ordering::Relaxed);
        let seconds = latency.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
    }

    /// Responses so far, of every status.
    pub(crate) fn responses(&self) -> u64 {
        self.requests
            .iter()
            .map(|r| r.load(Ordering::Relaxed))
            .sum()
    }

    /// Counts a response produced by the router itself (error pages), without latency.
    pub(crate) fn count_status(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[class].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn upstream_error(&self, kind: UpstreamErrorKind) {
        let index = UpstreamErrorKind::ALL
            .iter()
            .position(|&k| k == kind)
            .unwrap_or(0);
        self.upstream_errors[index].fetch_add(1, Ordering::Relaxed);
    }
}

/// Every app's counters, keyed by name, kept after an app leaves the table so counters stay
/// monotonic for Prometheus.
#[derive(Default)]
pub(crate) struct Metrics {
    apps: Mutex<BTreeMap<Arc<str>, Arc<AppMetrics>>>,
    unknown_host: AtomicU64,
}

impl Metrics {
    #[cfg(test)]
    pub(crate) fn for_app(&self, app: &Arc<str>) -> Arc<AppMetrics> {
        let mut apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(apps.entry(Arc::clone(app)).or_default())
    }

    /// Gives every app of `snapshot` its counters (kept from earlier snapshots), taking
    /// the lock once for the whole table.
    pub(crate) fn attach(&self, snapshot: &RouteSnapshot) {
        let mut apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        for entry in snapshot.apps() {
            if entry.metrics.get().is_none() {
                let metrics = apps.entry(Arc::clone(&entry.name)).or_default();
                // Only `publish` sets it, and it owns the snapshot: this cannot be taken.
                let _ = entry.metrics.set(Arc::clone(metrics));
            }
        }
    }

    pub(crate) fn unknown_host(&self) {
        self.unknown_host.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, plus in-flight from `snapshot`: of every app and
    /// the platform-wide series with `only` = `None`, else of the apps it names alone.
    pub(crate) fn render(
        &self,
        snapshot: &RouteSnapshot,
        only: Option<&HashSet<String>>,
    ) -> String {
        let shown = |name: &str| only.is_none_or(|apps| apps.contains(name));
        let apps: Vec<(Arc<str>, Arc<AppMetrics>)> = {
            let apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
            apps.iter()
                .filter(|(name, _)| shown(name))
                .map(|(name, m)| (Arc::clone(name), Arc::clone(m)))
                .collect()
        };
        let mut out = String::with_capacity(1024 + apps.len() * 2048);
        // Writing to a String cannot fail; the results are ignored on purpose.
        let _ = self.render_into(&mut out, &apps, snapshot, only.is_none(), &shown);
        out
    }

    fn render_into(
        &self,
        out: &mut String,
        apps: &[(Arc<str>, Arc<AppMetrics>)],
        snapshot: &RouteSnapshot,
        platform_wide: bool,
        shown: &dyn Fn(&str) -> bool,
    ) -> std::fmt::Result {
        out.push_str(
            "# HELP paas_router_requests_total Requests answered, by app and status class.\n",
        );
        out.push_str("# TYPE paas_router_requests_total counter\n");
        for (app, m) in apps {
            for (class, count) in STATUS_CLASSES.iter().zip(&m.requests) {
                let app = escape(app);
                let count = count.load(Ordering::Relaxed);
                writeln!(
                    out,
                    "paas_router_requests_total{{app=\"{app}\",class=\"{class}\"}} {count}"
                )?;
            }
        }
        if platform_wide {
            out.push_str(
                "# HELP paas_router_unknown_host_requests_total Requests for a host no app serves.\n",
            );
            out.push_str("# TYPE paas_router_unknown_host_requests_total counter\n");
            let unknown = self.unknown_host.load(Ordering::Relaxed);
            writeln!(out, "paas_router_unknown_host_requests_total {unknown}")?;
        }

        out.push_str("# HELP paas_router_response_seconds Time from routing to the app's response headers.\n");
        out.push_str("# TYPE paas_router_response_seconds histogram\n");
        for (app, m) in apps {
            let app = escape(app);
            let mut cumulative = 0;
            for (bound, count) in LATENCY_BUCKETS.iter().zip(&m.latency_buckets) {
                cumulative += count.load(Ordering::Relaxed);
                writeln!(
                    out,
                    "paas_router_response_seconds_bucket{{app=\"{app}\",le=\"{bound}\"}} {cumulative}"
                )?;
            }
            cumulative += m.latency_buckets[LATENCY_BUCKETS.len()].load(Ordering::Relaxed);
            writeln!(
                out,
                "paas_router_response_seconds_bucket{{app=\"{app}\",le=\"+Inf\"}} {cumulative}"
            )?;
            let sum = m.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            writeln!(
                out,
                "paas_router_response_seconds_sum{{app=\"{app}\"}} {sum}"
            )?;
            writeln!(
                out,
                "paas_router_response_seconds_count{{app=\"{app}\"}} {cumulative}"
            )?;
        }

        out.push_str(
            "# HELP paas_router_upstream_errors_total Failures talking to apps, by kind.\n",
        );
        out.push_str("# TYPE paas_router_upstream_errors_total counter\n");
        for (app, m) in apps {
            let app = escape(app);
            for (kind, count) in UpstreamErrorKind::ALL.iter().zip(&m.upstream_errors) {
                let (kind, count) = (kind.label(), count.load(Ordering::Relaxed));
                writeln!(
                    out,
                    "paas_router_upstream_errors_total{{app=\"{app}\",kind=\"{kind}\"}} {count}"
                )?;
            }
        }

        out.push_str("# HELP paas_router_in_flight Requests in flight, by app and process.\n");
        out.push_str("# TYPE paas_router_in_flight gauge\n");
        for entry in snapshot.apps().filter(|e| shown(e.name())) {
            if let AppRoute::Serving(endpoints) = entry.route() {
                let app = escape(entry.name());
                for endpoint in endpoints {
                    let (dyno, count) = (escape(endpoint.dyno()), endpoint.in_flight());
                    writeln!(
                        out,
                        "paas_router_in_flight{{app=\"{app}\",dyno=\"{dyno}\"}} {count}"
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// What one app's counters read at one moment: requests by status class (1xx to 5xx)
/// and how many responses fell in each latency bucket (the last one: over 30 s).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    pub requests: [u64; 5],
    pub latency_buckets: [u64; LATENCY_BUCKETS.len() + 1],
}

impl super::Router {
    /// Upper bounds (seconds) of the latency buckets, but the last (unbounded).
    pub const LATENCY_BOUNDS: [f64; LATENCY_BUCKETS.len()] = LATENCY_BUCKETS;

    /// Every app's counters now (read only; they keep counting), for the metrics sampler.
    pub fn counters(&self) -> Vec<(String, CounterSnapshot)> {
        let apps = self
            .shared
            .metrics
            .apps
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        apps.iter()
            .map(|(name, m)| {
                let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
                let snapshot = CounterSnapshot {
                    requests: m.requests.each_ref().map(load),
                    latency_buckets: m.latency_buckets.each_ref().map(load),
                };
                (name.to_string(), snapshot)
            })
            .collect()
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_class_and_latency_bucket() {
        let metrics = Metrics::default();
        let app = metrics.for_app(&Arc::from("web-app"));
        app.observe(200, Duration::from_micros(800));
        app.observe(204, Duration::from_millis(20));
        app.observe(503, Duration::from_secs(60));
        app.upstream_error(UpstreamErrorKind::ResponseTimeout);
        let text = metrics.render(&RouteSnapshot::default(), None);
        for expected in [
            "paas_router_requests_total{app=\"web-app\",class=\"2xx\"} 2",
            "paas_router_requests_total{app=\"web-app\",class=\"5xx\"} 1",
            "paas_router_response_seconds_bucket{app=\"web-app\",le=\"0.001\"} 1",
            "paas_router_response_seconds_bucket{app=\"web-app\",le=\"0.025\"} 2",
            "paas_router_response_seconds_bucket{app=\"web-app\",le=\"30\"} 2",
            "paas_router_response_seconds_bucket{app=\"web-app\",le=\"+Inf\"} 3",
            "paas_router_response_seconds_count{app=\"web-app\"} 3",
            "paas_router_upstream_errors_total{app=\"web-app\",kind=\"response_timeout\"} 1",
        ] {
            assert!(text.contains(expected), "missing {expected} in\n{text}");
        }
    }

    #[test]
    fn a_limited_rendering_shows_only_the_named_apps_and_no_platform_series() {
        let metrics = Metrics::default();
        metrics
            .for_app(&Arc::from("mine"))
            .observe(200, Duration::from_millis(1));
        metrics
            .for_app(&Arc::from("theirs"))
            .observe(200, Duration::from_millis(1));
        metrics.unknown_host();
        let only = HashSet::from(["mine".to_owned()]);
        let text = metrics.render(&RouteSnapshot::default(), Some(&only));
        assert!(text.contains("app=\"mine\""), "{text}");
        assert!(!text.contains("theirs"), "{text}");
        assert!(!text.contains("unknown_host"), "{text}");
        let all = metrics.render(&RouteSnapshot::default(), None);
        assert!(all.contains("theirs") && all.contains("unknown_host_requests_total 1"));
    }

    #[test]
    fn the_same_app_name_shares_one_set_of_counters() {
        let metrics = Metrics::default();
        let first = metrics.for_app(&Arc::from("a"));
        let second = metrics.for_app(&Arc::from("a"));
        assert!(Arc::ptr_eq(&first, &second));
    }
}
