//! The Metrics tab: requests per minute stacked by status class, p50/p95/p99 response
//! times, memory and CPU per process, over the last hour or day. Charts are inline SVG
//! drawn here (no JavaScript): a `viewBox` so they scale to any width, and classes whose
//! colours come from the stylesheet's variables (light and dark). Path building is pure.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ops::metrics::Range;
use crate::ops::{self, Platform};
use crate::wire::{AppMetrics, MetricsPoint, ProcessMetrics};

mod svg;

use super::apps::{AppHead, load};
use super::error::WebError;
use super::extract::Ctx;
use super::view::{Layout, Nav};
use svg::{Bar, Plot, nice_max};

/// The drawing area of every chart, in viewBox units.
const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 170.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 20.0;

/// A series drawn as a filled shape (bars) or a line, with its legend.
pub struct Series {
    pub label: String,
    /// `bar c-2xx`, `line s-0`...: what the stylesheet colours.
    pub class: String,
    pub d: String,
}

pub struct Tick {
    pub x: String,
    pub y: String,
    pub label: String,
    /// For the x axis: start, middle or end.
    pub anchor: &'static str,
}

pub struct Chart {
    pub id: &'static str,
    pub title: &'static str,
    /// What the chart shows, in words, for screen readers.
    pub summary: String,
    pub y_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
    pub series: Vec<Series>,
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right_edge: f64,
}

#[derive(Template)]
#[template(path = "app_metrics.html")]
struct Page {
    layout: Layout,
    app: AppHead,
    range: &'static str,
    interval_secs: u64,
    summary: Vec<(&'static str, String)>,
    charts: Vec<Chart>,
}

#[derive(Deserialize)]
pub struct MetricsQuery {
    range: Option<String>,
}

pub async fn page(
    State(p): State<Platform>,
    Path(app): Path<String>,
    Query(q): Query<MetricsQuery>,
    mut ctx: Ctx,
) -> Result<Response, WebError> {
    let actor = ctx.actor().clone();
    let (name, _, head) = load(&p, &actor, &app, "metrics").await?;
    let range = Range::parse(q.range.as_deref()).unwrap_or(Range::Hour);
    let metrics = ops::metrics::of_app(&p, &actor, &name, range).await?;
    let window = window(
        range,
        &metrics.points,
        metrics.interval_secs,
        OffsetDateTime::now_utc().unix_timestamp(),
    );
    let page = Page {
        layout: ctx.layout(Nav::Apps, format!("{name} · metrics")),
        app: head,
        range: range.as_str(),
        interval_secs: metrics.interval_secs,
        summary: summary(&metrics),
        charts: if metrics.points.is_empty() {
            Vec::new()
        } else {
            charts(&metrics.points, window)
        },
    };
    Ok(ctx.page(page))
}

/// The time the charts span, ending now: the whole range, or less while the app's
/// samples cover less of it (at least 20 samples wide), so a new app's first minutes are
/// not a sliver at the right edge.
fn window(range: Range, points: &[MetricsPoint], interval: u64, now: i64) -> (i64, i64) {
    let full = match range {
        Range::Hour => 3600,
        Range::Day => 86_400,
    };
    let narrowest = (20 * interval as i64).min(full);
    let oldest = points
        .iter()
        .map(|p| {
            let s = at_of(p);
            s.at - s.span
        })
        .min()
        .unwrap_or(now - full);
    (oldest.min(now - narrowest).max(now - full), now)
}

fn summary(m: &AppMetrics) -> Vec<(&'static str, String)> {
    let r = &m.totals.requests;
    let ms = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), format_ms);
    vec![
        ("Requests", r.total().to_string()),
        ("2xx", r.success.to_string()),
        ("3xx", r.redirect.to_string()),
        ("4xx", r.client_error.to_string()),
        ("5xx", r.server_error.to_string()),
        ("p50", ms(m.totals.response.p50_ms)),
        ("p95", ms(m.totals.response.p95_ms)),
        ("p99", ms(m.totals.response.p99_ms)),
        ("Restarts", m.totals.restarts.to_string()),
    ]
}

fn format_ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

/// A point's end time (unix seconds) and its values.
struct Sample {
    at: i64,
    span: i64,
}

fn at_of(p: &MetricsPoint) -> Sample {
    let at = OffsetDateTime::parse(&p.at, &Rfc3339).map_or(0, |t| t.unix_timestamp());
    Sample {
        at,
        span: p.span_secs.max(1),
    }
}

/// A quantile of a point's response times.
type Quantile = fn(&MetricsPoint) -> Option<f64>;

/// The four charts of the tab, over `window` (unix seconds, start and end).
fn charts(points: &[MetricsPoint], window: (i64, i64)) -> Vec<Chart> {
    let times: Vec<Sample> = points.iter().map(at_of).collect();
    let plot = Plot::new(window);
    let dynos: Vec<String> = {
        let mut d: Vec<String> = points
            .iter()
            .flat_map(|p| p.processes.iter().map(|p| p.dyno.clone()))
            .collect();
        d.sort();
        d.dedup();
        d
    };
    let (memory_top, memory_scale, memory) =
        per_process(&plot, points, &times, &dynos, &|p| Some(p.memory_mb));
    let (cpu_top, cpu_scale, cpu) = per_process(&plot, points, &times, &dynos, &|p| p.cpu_percent);
    vec![
        requests_chart(&plot, points, &times),
        response_chart(&plot, points, &times),
        plot.chart(
            "memory",
            "Memory per process (MiB)",
            format!("at most {memory_top:.1} MiB"),
            memory_scale,
            memory,
        ),
        plot.chart(
            "cpu",
            "CPU per process (% of one core)",
            format!("at most {cpu_top:.1} %"),
            cpu_scale,
            cpu,
        ),
    ]
}

/// Requests per minute, stacked by status class: 2xx at the bottom.
fn requests_chart(plot: &Plot, points: &[MetricsPoint], times: &[Sample]) -> Chart {
    let classes = [(1, "2xx"), (2, "3xx"), (3, "4xx"), (4, "5xx"), (0, "1xx")];
    let rates: Vec<[f64; 5]> = points
        .iter()
        .zip(times)
        .map(|(p, t)| {
            p.requests
                .classes()
                .map(|n| n as f64 * 60.0 / t.span as f64)
        })
        .collect();
    let top = rates
        .iter()
        .map(|r| r.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let scale = nice_max(top);
    let mut base = vec![0.0; points.len()];
    let mut series = Vec::new();
    for (index, label) in classes {
        let bars: Vec<Bar> = times
            .iter()
            .zip(&rates)
            .zip(&mut base)
            .map(|((t, r), below)| {
                let bar = Bar {
                    start: t.at - t.span,
                    end: t.at,
                    low: *below,
                    high: *below + r[index],
                };
                *below += r[index];
                bar
            })
            .collect();
        if bars.iter().any(|b| b.high > b.low) {
            series.push(Series {
                label: label.to_owned(),
                class: format!("bar c-{label}"),
                d: plot.bars(&bars, scale),
            });
        }
    }
    let total: u64 = points.iter().map(|p| p.requests.total()).sum();
    plot.chart(
        "requests",
        "Requests per minute, by status",
        format!("{total} requests; at most {top:.0} a minute"),
        scale,
        series,
    )
}

/// p50, p95 and p99 as lines.
fn response_chart(plot: &Plot, points: &[MetricsPoint], times: &[Sample]) -> Chart {
    let quantiles: [(&str, Quantile); 3] = [
        ("p50", |p| p.response.p50_ms),
        ("p95", |p| p.response.p95_ms),
        ("p99", |p| p.response.p99_ms),
    ];
    let top = points
        .iter()
        .filter_map(|p| p.response.p99_ms)
        .fold(0.0, f64::max);
    let scale = nice_max(top);
    let series = quantiles
        .iter()
        .map(|(label, get)| {
            let values: Vec<(i64, i64, Option<f64>)> = points
                .iter()
                .zip(times)
                .map(|(p, t)| (t.at, t.span, get(p)))
                .collect();
            Series {
                label: (*label).to_owned(),
                class: format!("line l-{label}"),
                d: plot.line(&values, scale),
            }
        })
        .collect();
    plot.chart(
        "response",
        "Response time (ms)",
        format!("the slowest p99 was {}", format_ms(top)),
        scale,
        series,
    )
}

/// A line per process of what `get` reads: the highest value, the axis maximum, the lines.
fn per_process(
    plot: &Plot,
    points: &[MetricsPoint],
    times: &[Sample],
    dynos: &[String],
    get: &dyn Fn(&ProcessMetrics) -> Option<f64>,
) -> (f64, f64, Vec<Series>) {
    let top = points
        .iter()
        .flat_map(|p| p.processes.iter().filter_map(get))
        .fold(0.0, f64::max);
    let scale = nice_max(top);
    let series = dynos
        .iter()
        .enumerate()
        .map(|(i, dyno)| {
            let values: Vec<(i64, i64, Option<f64>)> = points
                .iter()
                .zip(times)
                .map(|(p, t)| {
                    let v = p.processes.iter().find(|p| &p.dyno == dyno).and_then(get);
                    (t.at, t.span, v)
                })
                .collect();
            Series {
                label: dyno.clone(),
                class: format!("line s-{}", i % 6),
                d: plot.line(&values, scale),
            }
        })
        .collect();
    (top, scale, series)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Percentiles, StatusCounts};

    #[test]
    fn the_charts_span_the_range_or_the_samples_with_at_least_twenty_intervals() {
        let point = |at: &str| MetricsPoint {
            at: at.into(),
            span_secs: 60,
            requests: StatusCounts::default(),
            response: Percentiles::default(),
            restarts: 0,
            processes: vec![],
        };
        let now = 10_000;
        assert_eq!(window(Range::Hour, &[], 60, now), (now - 3600, now));
        let old = [point("1970-01-01T00:10:00Z")];
        assert_eq!(window(Range::Hour, &old, 60, now), (now - 3600, now));
        let recent = [point("1970-01-01T02:00:00Z")];
        assert_eq!(window(Range::Hour, &recent, 1, now), (7200 - 60, now));
        assert_eq!(window(Range::Day, &recent, 60, now), (7140, now));
    }

    #[test]
    fn the_tab_has_four_charts_with_a_bar_series_per_status_class_seen() {
        let point = |at: &str, ok: u64, missing: u64| MetricsPoint {
            at: at.into(),
            span_secs: 60,
            requests: StatusCounts::from_classes([0, ok, 0, missing, 0]),
            response: Percentiles {
                p50_ms: Some(1.0),
                p95_ms: Some(3.0),
                p99_ms: Some(9.0),
            },
            restarts: 0,
            processes: vec![ProcessMetrics {
                dyno: "web.1".into(),
                memory_mb: 21.0,
                cpu_percent: Some(0.5),
            }],
        };
        let points = [
            point("1970-01-01T00:01:00Z", 37, 5),
            point("1970-01-01T00:02:00Z", 3, 0),
        ];
        let charts = charts(&points, (0, 3600));
        let ids: Vec<&str> = charts.iter().map(|c| c.id).collect();
        assert_eq!(ids, ["requests", "response", "memory", "cpu"]);
        let classes: Vec<&str> = charts[0].series.iter().map(|s| s.class.as_str()).collect();
        assert_eq!(classes, ["bar c-2xx", "bar c-4xx"]);
        assert!(
            charts[0].summary.starts_with("45 requests"),
            "{}",
            charts[0].summary
        );
        assert_eq!(charts[0].y_ticks[2].label, "50");
        assert_eq!(charts[2].series[0].label, "web.1");
        assert_eq!(charts[0].x_ticks[1].label, "00:30");
    }
}
