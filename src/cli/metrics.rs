//! `metrics`: the app's requests, response times, restarts, memory and CPU over the last
//! hour or day, as the server's sampler recorded them.

use anyhow::Result;

use crate::wire::{AppMetrics, MetricsPoint, Percentiles};

use super::{Ctx, app_path, output};

/// Rows of the table at most: the newest points.
const ROWS: usize = 20;

pub async fn show(ctx: &Ctx, range: &str) -> Result<()> {
    let app = ctx.app()?;
    let path = format!("{}/metrics?range={range}", app_path(&app));
    let metrics: AppMetrics = ctx.client.get(&path).await?;
    if ctx.json {
        return output::json(&metrics);
    }
    print!("{}", render(&metrics));
    Ok(())
}

fn render(m: &AppMetrics) -> String {
    let span = if m.range == "24h" { "day" } else { "hour" };
    let mut out = format!("=== {} Metrics (last {span})\n", m.app);
    let t = &m.totals;
    let r = &t.requests;
    let pairs = [
        (
            "Requests",
            format!(
                "{} (2xx {}, 3xx {}, 4xx {}, 5xx {}, 1xx {})",
                r.total(),
                r.success,
                r.redirect,
                r.client_error,
                r.server_error,
                r.informational
            ),
        ),
        ("Response", response(&t.response)),
        ("Restarts", t.restarts.to_string()),
        (
            "Sampled",
            match &m.sampled_through {
                Some(at) => format!("every {}s, through {at}", m.interval_secs),
                None => format!("every {}s, nothing recorded yet", m.interval_secs),
            },
        ),
    ];
    out.push_str(&output::render_key_values(
        pairs.iter().map(|(k, v)| (*k, v.as_str())),
    ));
    if m.points.is_empty() {
        return out;
    }
    let shown = &m.points[m.points.len().saturating_sub(ROWS)..];
    out.push('\n');
    if shown.len() < m.points.len() {
        out.push_str(&format!(
            "The newest {} of {} samples (--json for all):\n",
            shown.len(),
            m.points.len()
        ));
    }
    let rows: Vec<Vec<String>> = shown.iter().map(row).collect();
    out.push_str(&output::render_table(
        &[
            "TIME", "2XX", "3XX", "4XX", "5XX", "P50", "P95", "P99", "RESTARTS", "MEMORY", "CPU",
        ],
        &rows,
    ));
    out
}

fn row(p: &MetricsPoint) -> Vec<String> {
    let time = p.at.get(11..19).unwrap_or(&p.at).to_owned();
    let memory: f64 = p.processes.iter().map(|p| p.memory_mb).sum();
    let cpu: Option<f64> = p
        .processes
        .iter()
        .map(|p| p.cpu_percent)
        .try_fold(0.0, |sum, c| c.map(|c| sum + c));
    vec![
        time,
        p.requests.success.to_string(),
        p.requests.redirect.to_string(),
        p.requests.client_error.to_string(),
        p.requests.server_error.to_string(),
        ms(p.response.p50_ms),
        ms(p.response.p95_ms),
        ms(p.response.p99_ms),
        p.restarts.to_string(),
        if p.processes.is_empty() {
            "-".to_owned()
        } else {
            format!("{memory:.1} MiB")
        },
        cpu.filter(|_| !p.processes.is_empty())
            .map_or_else(|| "-".to_owned(), |c| format!("{c:.1}%")),
    ]
}

fn response(p: &Percentiles) -> String {
    match p.p50_ms {
        None => "no responses".to_owned(),
        Some(_) => format!(
            "p50 {}, p95 {}, p99 {}",
            ms(p.p50_ms),
            ms(p.p95_ms),
            ms(p.p99_ms)
        ),
    }
}

fn ms(value: Option<f64>) -> String {
    match value {
        None => "-".to_owned(),
        Some(v) if v < 10.0 => format!("{v:.1}ms"),
        Some(v) => format!("{v:.0}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{MetricsTotals, ProcessMetrics, StatusCounts};

    #[test]
    fn the_summary_and_the_table_show_exact_counts() {
        let point = MetricsPoint {
            at: "2026-01-02T03:04:05Z".into(),
            span_secs: 60,
            requests: StatusCounts::from_classes([0, 37, 0, 5, 0]),
            response: Percentiles {
                p50_ms: Some(1.25),
                p95_ms: Some(4.0),
                p99_ms: Some(24.0),
            },
            restarts: 0,
            processes: vec![ProcessMetrics {
                dyno: "web.1".into(),
                memory_mb: 20.0,
                cpu_percent: Some(1.5),
            }],
        };
        let metrics = AppMetrics {
            app: "shop".into(),
            range: "1h".into(),
            interval_secs: 60,
            sampled_through: Some(point.at.clone()),
            totals: MetricsTotals {
                requests: point.requests.clone(),
                response: point.response.clone(),
                restarts: 0,
            },
            points: vec![point],
        };
        let text = render(&metrics);
        assert!(
            text.contains("42 (2xx 37, 3xx 0, 4xx 5, 5xx 0, 1xx 0)"),
            "{text}"
        );
        assert!(text.contains("p50 1.2ms, p95 4.0ms, p99 24ms"), "{text}");
        assert!(text.contains("03:04:05"), "{text}");
        assert!(text.contains("20.0 MiB") && text.contains("1.5%"), "{text}");
    }
}
