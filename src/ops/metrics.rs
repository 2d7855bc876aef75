//! Metrics you can see: the sampler that records each app's requests, response times,
//! restarts, memory and CPU once per `PAAS_METRICS_INTERVAL_SECS`, and reading them back
//! over the last hour or day (`paas metrics`, the API, the web UI's Metrics tab).
//!
//! The counts are exact: each sample is the difference of the router's counters since the
//! one before (they start at zero with the server), the percentiles come from that
//! difference of its latency histogram, CPU from the difference of each container's CPU
//! time, memory from the engine's stats of that moment.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::domain::{AppName, Invalid, Timestamp};
use crate::router::Router;
use crate::runtime::{Docker, ProcessStats};
use crate::store::{FOLDED_SPAN_SECS, MetricSample, ProcessSample};
use crate::wire::{
    AppMetrics, MetricsPoint, MetricsTotals, Percentiles, ProcessMetrics, StatusCounts,
};

use super::{Actor, OpsError, Platform, visible_app};

/// How far back a page looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// A point per sample.
    Hour,
    /// A point per five minutes.
    Day,
}

impl Range {
    pub fn parse(raw: Option<&str>) -> Result<Range, Invalid> {
        match raw.unwrap_or("1h") {
            "1h" => Ok(Range::Hour),
            "24h" | "1d" => Ok(Range::Day),
            other => Err(Invalid::new(format!(
                "unknown range \"{other}\"; use 1h or 24h"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Range::Hour => "1h",
            Range::Day => "24h",
        }
    }

    fn secs(self) -> i64 {
        match self {
            Range::Hour => 3600,
            Range::Day => 86_400,
        }
    }
}

/// The app's samples over `range`, as `actor` may see them (another's app is not found).
pub async fn of_app(
    p: &Platform,
    actor: &Actor,
    name: &AppName,
    range: Range,
) -> Result<AppMetrics, OpsError> {
    let (actor, name) = (actor.clone(), name.clone());
    let since = Timestamp::now().0 - range.secs();
    let (app, samples) = p
        .store
        .read(move |db| {
            let app = visible_app(db, &actor, &name)?;
            let samples = db.metric_samples(app.id, since)?;
            Ok::<_, OpsError>((app, samples))
        })
        .await?;
    Ok(report(
        app.name.as_str(),
        range,
        p.settings.metrics_interval_secs,
        &samples,
    ))
}

/// Points, totals and the newest sample's end, from stored samples (oldest first).
fn report(app: &str, range: Range, interval_secs: u64, samples: &[MetricSample]) -> AppMetrics {
    let sampled_through = samples.iter().map(|s| s.at).max();
    let total = MetricSample::fold(0, 0, samples);
    let points = match range {
        Range::Hour => samples.iter().map(point).collect(),
        Range::Day => {
            let mut periods: std::collections::BTreeMap<i64, Vec<MetricSample>> =
                Default::default();
            for s in samples {
                let end = crate::store::folded_end(s.at);
                periods.entry(end).or_default().push(s.clone());
            }
            periods
                .into_iter()
                .map(|(end, rows)| point(&MetricSample::fold(end, FOLDED_SPAN_SECS, &rows)))
                .collect()
        }
    };
    AppMetrics {
        app: app.to_owned(),
        range: range.as_str().to_owned(),
        interval_secs,
        sampled_through: sampled_through.map(|t| Timestamp(t).rfc3339()),
        totals: MetricsTotals {
            requests: StatusCounts::from_classes(total.requests),
            response: percentiles(&total.latency),
            restarts: total.restarts,
        },
        points,
    }
}

fn point(s: &MetricSample) -> MetricsPoint {
    MetricsPoint {
        at: Timestamp(s.at).rfc3339(),
        span_secs: s.span,
        requests: StatusCounts::from_classes(s.requests),
        response: percentiles(&s.latency),
        restarts: s.restarts,
        processes: s
            .processes
            .iter()
            .map(|p| ProcessMetrics {
                dyno: p.dyno.clone(),
                memory_mb: p.memory_bytes as f64 / (1024.0 * 1024.0),
                cpu_percent: p.cpu_percent,
            })
            .collect(),
    }
}

fn percentiles(buckets: &[u64]) -> Percentiles {
    Percentiles {
        p50_ms: quantile_ms(buckets, 0.50),
        p95_ms: quantile_ms(buckets, 0.95),
        p99_ms: quantile_ms(buckets, 0.99),
    }
}

/// The `q` quantile of a histogram of the router's buckets, in milliseconds, interpolated
/// within its bucket as Prometheus's `histogram_quantile` does (the unbounded last bucket
/// answers its lower bound, 30 s).
fn quantile_ms(buckets: &[u64], q: f64) -> Option<f64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let bounds = Router::LATENCY_BOUNDS;
    let mut below = 0u64;
    for (i, &count) in buckets.iter().enumerate() {
        if count > 0 && (below + count) as f64 >= rank {
            let lower = if i == 0 { 0.0 } else { bounds[i - 1] };
            let Some(&upper) = bounds.get(i) else {
                return Some(lower * 1000.0);
            };
            let within = ((rank - below as f64) / count as f64).clamp(0.0, 1.0);
            return Some((lower + (upper - lower) * within) * 1000.0);
        }
        below += count;
    }
    bounds.last().map(|b| b * 1000.0)
}

/// An app's counters in the router: requests by status class, responses per latency
/// bucket.
#[derive(Clone, Default)]
struct Counts {
    requests: [u64; 5],
    latency: Vec<u64>,
}

/// What the sampler remembers from one sample to the next.
#[derive(Default)]
struct Sampler {
    /// The router's counters of each app at the last sample. Kept for destroyed apps as
    /// the router keeps theirs: a new app of the same name starts from them.
    counters: HashMap<String, Counts>,
    /// Each container's CPU time at its last sample.
    cpu: HashMap<String, (u64, Instant)>,
    /// Each process's restart count (`paas ps`) at the last sample, by app, dyno, release.
    restarts: HashMap<(String, String, i64), u32>,
    last: Option<Instant>,
}

/// Takes a sample of every app each `PAAS_METRICS_INTERVAL_SECS`, writes them and prunes
/// old ones in one transaction; returns when `shutdown` fires.
pub async fn run_sampler(p: Platform, router: Router, docker: Docker, shutdown: CancellationToken) {
    let every = Duration::from_secs(p.settings.metrics_interval_secs.max(1));
    let mut sampler = Sampler {
        last: Some(Instant::now()),
        ..Sampler::default()
    };
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
        if let Err(e) = sampler.round(&p, &router, &docker).await {
            tracing::warn!(error = %e, "metrics sample not recorded; the next one will count these requests");
        }
    }
}

impl Sampler {
    async fn round(
        &mut self,
        p: &Platform,
        router: &Router,
        docker: &Docker,
    ) -> Result<(), OpsError> {
        let apps = p.store.read(|db| db.all_apps()).await?;
        let now = Instant::now();
        let at = Timestamp::now().0;
        let span = self
            .last
            .replace(now)
            .map_or(p.settings.metrics_interval_secs as i64, |t| {
                (now - t).as_secs_f64().round() as i64
            })
            .max(1);
        let counters: HashMap<String, Counts> = router
            .counters()
            .into_iter()
            .map(|(app, c)| {
                let counts = Counts {
                    requests: c.requests,
                    latency: c.latency_buckets.to_vec(),
                };
                (app, counts)
            })
            .collect();
        let stats = docker.process_stats().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "no memory or CPU figures in this metrics sample");
            Vec::new()
        });
        let mut by_app: HashMap<&str, Vec<&ProcessStats>> = HashMap::new();
        for s in &stats {
            by_app.entry(s.app.as_str()).or_default().push(s);
        }
        let mut samples = Vec::new();
        for app in &apps {
            let name = app.name.as_str();
            let now_counts = counters.get(name).cloned().unwrap_or_default();
            let before = self.counters.insert(name.to_owned(), now_counts.clone());
            let before = before.unwrap_or_default();
            let processes = self.processes(by_app.get(name).map_or(&[][..], Vec::as_slice), now);
            let sample = MetricSample {
                at,
                span,
                requests: difference(&now_counts.requests, &before.requests)
                    .try_into()
                    .unwrap_or_default(),
                latency: difference(&now_counts.latency, &before.latency),
                restarts: self.restarts_of(p, name),
                processes,
            };
            let idle = sample.requests.iter().all(|&n| n == 0)
                && sample.restarts == 0
                && sample.processes.is_empty();
            if !idle {
                samples.push((app.id, sample));
            }
        }
        self.forget_gone(&stats);
        p.store
            .write(move |tx| {
                for (app_id, sample) in &samples {
                    tx.insert_metric_sample(*app_id, sample)?;
                }
                tx.prune_metric_samples(at)
            })
            .await?;
        Ok(())
    }

    /// Memory now and CPU since the last sample of each process.
    fn processes(&mut self, stats: &[&ProcessStats], now: Instant) -> Vec<ProcessSample> {
        stats
            .iter()
            .map(|s| {
                let before = self
                    .cpu
                    .insert(s.container_id.clone(), (s.cpu_total_ns, now));
                let cpu_percent = before.and_then(|(ns, then)| {
                    let elapsed = (now - then).as_nanos() as f64;
                    (elapsed > 0.0 && s.cpu_total_ns >= ns)
                        .then(|| (s.cpu_total_ns - ns) as f64 / elapsed * 100.0)
                });
                ProcessSample {
                    dyno: s.dyno.clone(),
                    memory_bytes: s.memory_bytes,
                    cpu_percent,
                }
            })
            .collect()
    }

    /// Crash restarts since the last sample. A process's count only grows, but the
    /// scheduler starts it over after the process stayed up a while: a count lower than
    /// the last one is all new restarts.
    fn restarts_of(&mut self, p: &Platform, app: &str) -> u64 {
        let processes = p.scheduler.processes(app);
        self.restarts.retain(|(of, dyno, release), _| {
            of != app
                || processes
                    .iter()
                    .any(|p| &p.dyno == dyno && p.release == *release)
        });
        let mut new = 0u64;
        for process in processes {
            let key = (app.to_owned(), process.dyno, process.release);
            let before = self.restarts.insert(key, process.restarts);
            new += u64::from(match before {
                Some(before) if before <= process.restarts => process.restarts - before,
                _ => process.restarts,
            });
        }
        new
    }

    /// Containers that stopped no longer need their CPU time remembered.
    fn forget_gone(&mut self, stats: &[ProcessStats]) {
        let running: std::collections::HashSet<&str> =
            stats.iter().map(|s| s.container_id.as_str()).collect();
        self.cpu.retain(|id, _| running.contains(id.as_str()));
    }
}

fn difference(now: &[u64], before: &[u64]) -> Vec<u64> {
    now.iter()
        .zip(before.iter().chain(std::iter::repeat(&0)))
        .map(|(n, b)| n.saturating_sub(*b))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_within_the_bucket_they_fall_in() {
        // 10 responses within 1 ms, 10 between 10 and 25 ms.
        let mut buckets = vec![0u64; Router::LATENCY_BOUNDS.len() + 1];
        buckets[0] = 10;
        buckets[4] = 10;
        assert_eq!(quantile_ms(&buckets, 0.5), Some(1.0));
        let p95 = quantile_ms(&buckets, 0.95).unwrap();
        assert!((p95 - 23.5).abs() < 1e-9, "{p95}");
        assert_eq!(quantile_ms(&[0; 15], 0.5), None);
        let mut slow = vec![0u64; 15];
        slow[14] = 1;
        assert_eq!(quantile_ms(&slow, 0.99), Some(30_000.0));
    }

    #[test]
    fn counters_are_differenced_and_a_missing_one_counts_from_zero() {
        assert_eq!(difference(&[5, 7], &[2, 7]), vec![3, 0]);
        assert_eq!(difference(&[5, 7], &[]), vec![5, 7]);
    }

    #[test]
    fn a_day_shows_five_minute_points_with_the_same_totals() {
        let sample = |at: i64, ok: u64| MetricSample {
            at,
            span: 60,
            requests: [0, ok, 0, 0, 0],
            latency: vec![ok],
            restarts: 0,
            processes: vec![],
        };
        let samples: Vec<_> = (1..=10).map(|m| sample(6000 + m * 60, m as u64)).collect();
        let day = report("a", Range::Day, 60, &samples);
        let hour = report("a", Range::Hour, 60, &samples);
        assert_eq!(hour.points.len(), 10);
        assert_eq!(day.points.len(), 2);
        assert_eq!(day.totals.requests.success, 55);
        assert_eq!(hour.totals.requests, day.totals.requests);
        let per_point: u64 = day.points.iter().map(|p| p.requests.success).sum();
        assert_eq!(per_point, 55);
        assert_eq!(day.sampled_through, Some(Timestamp(6600).rfc3339()));
    }

    #[test]
    fn ranges_are_an_hour_or_a_day() {
        assert_eq!(Range::parse(None).unwrap(), Range::Hour);
        assert_eq!(Range::parse(Some("24h")).unwrap(), Range::Day);
        assert!(
            Range::parse(Some("7d"))
                .unwrap_err()
                .0
                .contains("1h or 24h")
        );
    }
}
