//! The JSON shapes of `paas metrics` and the Metrics tab: an app's samples over the last
//! hour or day, their totals and percentiles, each process's memory and CPU.

use serde::{Deserialize, Serialize};

/// `GET /api/v1/apps/{app}/metrics?range=1h|24h`: what the sampler recorded of the app.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppMetrics {
    pub app: String,
    /// `1h` or `24h`.
    pub range: String,
    /// Seconds between two samples (`PAAS_METRICS_INTERVAL_SECS`).
    pub interval_secs: u64,
    /// The end of the newest sample: requests answered before it are counted.
    pub sampled_through: Option<String>,
    /// The whole range at once.
    pub totals: MetricsTotals,
    /// Oldest first: one per sample over the last hour, one per five minutes over a day.
    pub points: Vec<MetricsPoint>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    #[serde(rename = "1xx")]
    pub informational: u64,
    #[serde(rename = "2xx")]
    pub success: u64,
    #[serde(rename = "3xx")]
    pub redirect: u64,
    #[serde(rename = "4xx")]
    pub client_error: u64,
    #[serde(rename = "5xx")]
    pub server_error: u64,
}

impl StatusCounts {
    pub fn from_classes(c: [u64; 5]) -> StatusCounts {
        StatusCounts {
            informational: c[0],
            success: c[1],
            redirect: c[2],
            client_error: c[3],
            server_error: c[4],
        }
    }

    pub fn classes(&self) -> [u64; 5] {
        [
            self.informational,
            self.success,
            self.redirect,
            self.client_error,
            self.server_error,
        ]
    }

    pub fn total(&self) -> u64 {
        self.classes().iter().sum()
    }
}

/// Response times (to the app's response headers), in milliseconds, from the router's
/// histogram; none without responses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MetricsTotals {
    pub requests: StatusCounts,
    pub response: Percentiles,
    pub restarts: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricsPoint {
    /// The end of the period, and its length.
    pub at: String,
    pub span_secs: i64,
    pub requests: StatusCounts,
    pub response: Percentiles,
    pub restarts: u64,
    pub processes: Vec<ProcessMetrics>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessMetrics {
    /// `web.1`
    pub dyno: String,
    pub memory_mb: f64,
    /// Share of one CPU, in percent; unknown for a process's first sample.
    pub cpu_percent: Option<f64>,
}
