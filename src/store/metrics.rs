//! Metrics samples of each app: one row per sample (requests by status class, the latency
//! histogram's counts, restarts, memory and CPU per process) for the last hour, folded
//! into five-minute rows kept for a day. The sampler writes and prunes; pages read.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Db, StoreError};

/// Samples of the last hour (and up to one fold more) are kept as they were taken.
pub const FULL_RESOLUTION_SECS: i64 = 3600;
/// Older samples are folded into rows of this many seconds...
pub const FOLDED_SPAN_SECS: i64 = 300;
/// ...kept this long.
pub const KEPT_SECS: i64 = 86_400;

/// What an app did during `span` seconds up to `at`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricSample {
    /// When the period ended (unix seconds).
    pub at: i64,
    /// How long it was, in seconds.
    pub span: i64,
    /// Responses by status class, 1xx to 5xx.
    pub requests: [u64; 5],
    /// Responses per latency bucket (the router's histogram buckets).
    pub latency: Vec<u64>,
    /// Crash restarts.
    pub restarts: u64,
    /// Resource use of each process seen in the period.
    pub processes: Vec<ProcessSample>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessSample {
    pub dyno: String,
    pub memory_bytes: u64,
    /// Share of one CPU, in percent; unknown for the first sample of a process.
    pub cpu_percent: Option<f64>,
}

impl MetricSample {
    /// One sample of many, ending at `at` and lasting `span`: counts summed, each
    /// process's memory and CPU averaged over the samples that saw it, weighted by their
    /// spans.
    pub fn fold(at: i64, span: i64, samples: &[MetricSample]) -> MetricSample {
        let mut out = MetricSample {
            at,
            span,
            ..MetricSample::default()
        };
        // dyno -> (memory x span, span, cpu x span, cpu span)
        let mut by_dyno: std::collections::BTreeMap<&str, (f64, f64, f64, f64)> =
            Default::default();
        for sample in samples {
            for (total, n) in out.requests.iter_mut().zip(sample.requests) {
                *total += n;
            }
            if out.latency.len() < sample.latency.len() {
                out.latency.resize(sample.latency.len(), 0);
            }
            for (total, n) in out.latency.iter_mut().zip(&sample.latency) {
                *total += n;
            }
            out.restarts += sample.restarts;
            let weight = sample.span.max(1) as f64;
            for p in &sample.processes {
                let entry = by_dyno.entry(&p.dyno).or_default();
                entry.0 += p.memory_bytes as f64 * weight;
                entry.1 += weight;
                if let Some(cpu) = p.cpu_percent {
                    entry.2 += cpu * weight;
                    entry.3 += weight;
                }
            }
        }
        out.processes = by_dyno
            .into_iter()
            .map(|(dyno, (memory, weight, cpu, cpu_weight))| ProcessSample {
                dyno: dyno.to_owned(),
                memory_bytes: (memory / weight).round() as u64,
                cpu_percent: (cpu_weight > 0.0).then(|| cpu / cpu_weight),
            })
            .collect();
        out
    }
}

/// The end of the five-minute row a sample taken at `at` folds into.
pub fn folded_end(at: i64) -> i64 {
    (at + FOLDED_SPAN_SECS - 1).div_euclid(FOLDED_SPAN_SECS) * FOLDED_SPAN_SECS
}

const SELECT: &str = "SELECT at, span, r1xx, r2xx, r3xx, r4xx, r5xx, latency, restarts, processes
                      FROM metric_samples";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(MetricSample, String, String)> {
    Ok((
        MetricSample {
            at: r.get(0)?,
            span: r.get(1)?,
            requests: [
                count(r, 2)?,
                count(r, 3)?,
                count(r, 4)?,
                count(r, 5)?,
                count(r, 6)?,
            ],
            latency: Vec::new(),
            restarts: count(r, 8)?,
            processes: Vec::new(),
        },
        r.get(7)?,
        r.get(9)?,
    ))
}

/// Counts are stored as SQLite's signed integers.
fn count(r: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<u64> {
    Ok(r.get::<_, i64>(index)?.max(0) as u64)
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn decode(
    rows: impl Iterator<Item = rusqlite::Result<(MetricSample, String, String)>>,
) -> Result<Vec<MetricSample>, StoreError> {
    rows.map(|row| {
        let (mut sample, latency, processes) = row?;
        sample.latency = serde_json::from_str(&latency)?;
        sample.processes = serde_json::from_str(&processes)?;
        Ok(sample)
    })
    .collect()
}

impl Db<'_> {
    pub fn insert_metric_sample(
        &self,
        app_id: i64,
        sample: &MetricSample,
    ) -> Result<(), StoreError> {
        let [r1, r2, r3, r4, r5] = sample.requests.map(signed);
        self.conn.execute(
            "INSERT INTO metric_samples (app_id, at, span, r1xx, r2xx, r3xx, r4xx, r5xx, latency, restarts, processes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                app_id,
                sample.at,
                sample.span,
                r1,
                r2,
                r3,
                r4,
                r5,
                serde_json::to_string(&sample.latency)?,
                signed(sample.restarts),
                serde_json::to_string(&sample.processes)?,
            ],
        )?;
        Ok(())
    }

    /// The app's samples that ended after `since`, oldest first.
    pub fn metric_samples(&self, app_id: i64, since: i64) -> Result<Vec<MetricSample>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "{SELECT} WHERE app_id = ?1 AND at > ?2 ORDER BY at, span"
        ))?;
        let rows = stmt.query_map(params![app_id, since], from_row)?;
        decode(rows)
    }

    /// Folds every app's samples older than the last hour (whole five-minute periods
    /// only) into five-minute rows, and deletes rows older than a day. Returns how many
    /// rows were folded.
    pub fn prune_metric_samples(&self, now: i64) -> Result<usize, StoreError> {
        let cutoff = (now - FULL_RESOLUTION_SECS).div_euclid(FOLDED_SPAN_SECS) * FOLDED_SPAN_SECS;
        self.conn.execute(
            "DELETE FROM metric_samples WHERE at <= ?1",
            params![now - KEPT_SECS - FOLDED_SPAN_SECS],
        )?;
        let mut stmt = self.conn.prepare(
            "SELECT app_id, MIN(at) FROM metric_samples WHERE span < ?1 AND at <= ?2 GROUP BY app_id",
        )?;
        let apps = stmt
            .query_map(params![FOLDED_SPAN_SECS, cutoff], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut folded = 0;
        for (app_id, oldest) in apps {
            // The periods holding short rows, with any folded row of the same periods
            // (none, unless the interval changed between two runs).
            let mut stmt = self.conn.prepare(&format!(
                "{SELECT} WHERE app_id = ?1 AND at > ?2 AND at <= ?3 ORDER BY at"
            ))?;
            let start = folded_end(oldest) - FOLDED_SPAN_SECS;
            let rows = decode(stmt.query_map(params![app_id, start, cutoff], from_row)?)?;
            let mut periods: std::collections::BTreeMap<i64, Vec<MetricSample>> =
                Default::default();
            for row in rows {
                periods.entry(folded_end(row.at)).or_default().push(row);
            }
            for (end, rows) in periods {
                if rows.iter().all(|r| r.span >= FOLDED_SPAN_SECS) {
                    continue;
                }
                folded += rows.len();
                self.conn.execute(
                    "DELETE FROM metric_samples WHERE app_id = ?1 AND at > ?2 AND at <= ?3",
                    params![app_id, end - FOLDED_SPAN_SECS, end],
                )?;
                self.insert_metric_sample(
                    app_id,
                    &MetricSample::fold(end, FOLDED_SPAN_SECS, &rows),
                )?;
            }
        }
        Ok(folded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AppName;

    fn sample(at: i64, ok: u64, memory: u64, cpu: Option<f64>) -> MetricSample {
        MetricSample {
            at,
            span: 60,
            requests: [0, ok, 0, 1, 0],
            latency: vec![ok, 1],
            restarts: 1,
            processes: vec![ProcessSample {
                dyno: "web.1".into(),
                memory_bytes: memory,
                cpu_percent: cpu,
            }],
        }
    }

    #[test]
    fn folding_sums_counts_and_averages_each_process() {
        let folded = MetricSample::fold(
            300,
            300,
            &[sample(60, 3, 100, None), sample(120, 5, 300, Some(10.0))],
        );
        assert_eq!(folded.requests, [0, 8, 0, 2, 0]);
        assert_eq!(folded.latency, vec![8, 2]);
        assert_eq!(folded.restarts, 2);
        assert_eq!(folded.processes[0].memory_bytes, 200);
        assert_eq!(folded.processes[0].cpu_percent, Some(10.0));
    }

    #[test]
    fn a_sample_folds_into_the_five_minutes_it_ended_in() {
        assert_eq!(folded_end(1), 300);
        assert_eq!(folded_end(300), 300);
        assert_eq!(folded_end(301), 600);
    }

    #[tokio::test]
    async fn old_samples_are_folded_then_dropped_and_the_last_hour_stays_whole() {
        let store = super::super::open_in_memory();
        let now = 100 * 86_400;
        let kept = store
            .write(move |db| {
                let owner = db.insert_user("owner", None, true)?;
                let app = db.insert_app(&AppName::parse("charts").unwrap(), &owner)?;
                // Every minute of the last 26 hours, 2 requests each.
                for minute in 0..26 * 60 {
                    db.insert_metric_sample(app.id, &sample(now - minute * 60, 2, 100, None))?;
                }
                db.prune_metric_samples(now)?;
                db.metric_samples(app.id, 0)
            })
            .await
            .unwrap();
        let recent: Vec<_> = kept.iter().filter(|s| s.at > now - 3600).collect();
        assert!(
            recent.iter().all(|s| s.span == 60) && recent.len() == 60,
            "{}",
            recent.len()
        );
        assert!(
            kept.iter()
                .all(|s| s.at > now - KEPT_SECS - FOLDED_SPAN_SECS)
        );
        let folded: Vec<_> = kept.iter().filter(|s| s.span == FOLDED_SPAN_SECS).collect();
        assert!(
            folded
                .iter()
                .all(|s| s.requests[1] == 10 && s.at % 300 == 0)
        );
        // Bounded: an hour of samples and a day of five-minute rows.
        assert!(kept.len() <= 65 + 289, "{}", kept.len());
        // Nothing was lost in the periods kept: 2 requests a minute throughout.
        let since = kept[0].at - kept[0].span;
        let total: u64 = kept.iter().map(|s| s.requests[1]).sum();
        assert_eq!(total, 2 * ((now - since) / 60) as u64);
    }
}
