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
use crate::wire::{AppMetrics, MetricsPoint};

use super::apps::{AppHead, load};
use super::error::WebError;
use super::extract::Ctx;
use super::view::{Layout, Nav};

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
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let window = match range {
        Range::Hour => (now - 3600, now),
        Range::Day => (now - 86_400, now),
    };
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

/// The four charts of the tab, over `window` (unix seconds, start and end).
fn charts(points: &[MetricsPoint], window: (i64, i64)) -> Vec<Chart> {
    let times: Vec<Sample> = points.iter().map(at_of).collect();
    let plot = Plot::new(window);
    let mut out = Vec::new();

    // Requests per minute, stacked: 2xx at the bottom.
    let classes = [(1, "2xx"), (2, "3xx"), (3, "4xx"), (4, "5xx"), (0, "1xx")];
    let rates: Vec<[f64; 5]> = points
        .iter()
        .zip(&times)
        .map(|(p, t)| {
            p.requests
                .classes()
                .map(|n| n as f64 * 60.0 / t.span as f64)
        })
        .collect();
    let top = rates.iter().map(|r| r.iter().sum::<f64>()).fold(0.0, f64::max);
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
    out.push(plot.chart(
        "requests",
        "Requests per minute, by status",
        format!("{total} requests; at most {top:.0} a minute"),
        scale,
        |v| format!("{v:.0}"),
        series,
    ));

    // Response times.
    let quantiles: [(&str, fn(&MetricsPoint) -> Option<f64>); 3] = [
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
                .zip(&times)
                .map(|(p, t)| (t.at, t.span, get(p)))
                .collect();
            Series {
                label: (*label).to_owned(),
                class: format!("line l-{label}"),
                d: plot.line(&values, scale),
            }
        })
        .collect();
    out.push(plot.chart(
        "response",
        "Response time (ms)",
        format!("the slowest p99 was {}", format_ms(top)),
        scale,
        |v| format!("{v:.0}"),
        series,
    ));

    // Memory and CPU per process.
    let dynos: Vec<String> = {
        let mut d: Vec<String> = points
            .iter()
            .flat_map(|p| p.processes.iter().map(|p| p.dyno.clone()))
            .collect();
        d.sort();
        d.dedup();
        d
    };
    let per_process = |get: &dyn Fn(&crate::wire::ProcessMetrics) -> Option<f64>| {
        let top = points
            .iter()
            .flat_map(|p| p.processes.iter().filter_map(get))
            .fold(0.0, f64::max);
        let scale = nice_max(top);
        let series: Vec<Series> = dynos
            .iter()
            .enumerate()
            .map(|(i, dyno)| {
                let values: Vec<(i64, i64, Option<f64>)> = points
                    .iter()
                    .zip(&times)
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
    };
    let (top, scale, series) = per_process(&|p| Some(p.memory_mb));
    out.push(plot.chart(
        "memory",
        "Memory per process (MiB)",
        format!("at most {top:.1} MiB"),
        scale,
        |v| format!("{v:.0}"),
        series,
    ));
    let (top, scale, series) = per_process(&|p| p.cpu_percent);
    out.push(plot.chart(
        "cpu",
        "CPU per process (% of one core)",
        format!("at most {top:.1} %"),
        scale,
        |v| format!("{v:.0}"),
        series,
    ));
    out
}

/// One stacked bar: from `start` to `end` (unix seconds), `low` to `high` (values).
struct Bar {
    start: i64,
    end: i64,
    low: f64,
    high: f64,
}

/// Maps times and values into the drawing area.
struct Plot {
    from: i64,
    to: i64,
}

impl Plot {
    fn new((from, to): (i64, i64)) -> Plot {
        Plot {
            from,
            to: to.max(from + 1),
        }
    }

    fn x(&self, t: i64) -> f64 {
        let t = t.clamp(self.from, self.to);
        LEFT + (t - self.from) as f64 / (self.to - self.from) as f64 * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, value: f64, scale: f64) -> f64 {
        let bottom = HEIGHT - BOTTOM;
        bottom - (value / scale).clamp(0.0, 1.0) * (bottom - TOP)
    }

    /// One path of rectangles; bars at least a third of a unit wide so a second's bar on
    /// a day's chart still shows.
    fn bars(&self, bars: &[Bar], scale: f64) -> String {
        let mut d = String::new();
        for bar in bars.iter().filter(|b| b.high > b.low) {
            let (x0, x1) = (self.x(bar.start), self.x(bar.end));
            let width = (x1 - x0).max(0.35);
            let (y0, y1) = (self.y(bar.low, scale), self.y(bar.high, scale));
            d.push_str(&format!(
                "M{}{}h{}V{}h-{}Z",
                num(x0),
                sep_num(y0),
                num(width),
                num(y1),
                num(width)
            ));
        }
        d
    }

    /// A line through each point's end; it breaks where a value is missing or samples
    /// are further apart than two of their spans (nothing was recorded between them).
    fn line(&self, values: &[(i64, i64, Option<f64>)], scale: f64) -> String {
        let mut d = String::new();
        let mut last: Option<i64> = None;
        for &(at, span, value) in values {
            let Some(value) = value else {
                last = None;
                continue;
            };
            let joined = last.is_some_and(|l| at - l <= 2 * span);
            d.push(if joined { 'L' } else { 'M' });
            d.push_str(&num(self.x(at)));
            d.push_str(&sep_num(self.y(value, scale)));
            if !joined {
                // A lone point still shows: a dot as long as the line is wide.
                d.push_str("h0");
            }
            last = Some(at);
        }
        d
    }

    fn chart(
        &self,
        id: &'static str,
        title: &'static str,
        summary: String,
        scale: f64,
        label: fn(f64) -> String,
        series: Vec<Series>,
    ) -> Chart {
        let y_ticks = [0.0, 0.5, 1.0]
            .iter()
            .map(|f| Tick {
                x: num(LEFT - 4.0),
                y: num(self.y(scale * f, scale)),
                label: label(scale * f),
                anchor: "end",
            })
            .collect();
        let middle = self.from + (self.to - self.from) / 2;
        let x_ticks = [(self.from, "start"), (middle, "middle"), (self.to, "end")]
            .iter()
            .map(|&(t, anchor)| Tick {
                x: num(self.x(t)),
                y: num(HEIGHT - 4.0),
                label: clock(t),
                anchor,
            })
            .collect();
        Chart {
            id,
            title,
            summary,
            y_ticks,
            x_ticks,
            series,
            width: WIDTH,
            height: HEIGHT,
            left: LEFT,
            right_edge: WIDTH - RIGHT,
        }
    }
}

/// `HH:MM` UTC.
fn clock(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t).map_or_else(
        |_| String::new(),
        |t| format!("{:02}:{:02}", t.hour(), t.minute()),
    )
}

/// A round axis maximum at or above `value`: 1, 2 or 5 times a power of ten.
fn nice_max(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|&m| m >= value * 0.999_999)
        .unwrap_or(10.0 * power)
}

/// A coordinate with at most two decimals and no trailing zeros.
fn num(v: f64) -> String {
    let text = format!("{v:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".to_owned() } else { text.to_owned() }
}

/// `num` after a separator: a space, or nothing before a minus sign.
fn sep_num(v: f64) -> String {
    let n = num(v);
    if n.starts_with('-') { n } else { format!(" {n}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Percentiles, ProcessMetrics, StatusCounts};

    fn plot() -> Plot {
        // 0..=308 seconds over 308 units: one unit a second from x = 44.
        Plot::new((0, (WIDTH - LEFT - RIGHT) as i64))
    }

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(37.0), 50.0);
        assert_eq!(nice_max(50.0), 50.0);
        assert_eq!(nice_max(0.3), 0.5);
        assert_eq!(nice_max(101.0), 200.0);
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(12.0), "12");
        assert_eq!(num(1.256), "1.26");
        assert_eq!(num(-0.001), "0");
        assert_eq!(sep_num(-3.5), "-3.5");
        assert_eq!(sep_num(3.5), " 3.5");
    }

    #[test]
    fn bars_are_rectangles_from_their_low_to_their_high_value() {
        let bars = [Bar {
            start: 0,
            end: 10,
            low: 0.0,
            high: 5.0,
        }];
        // Scale 10: half height. Bottom is 150, top 8: 5 of 10 is y = 79.
        assert_eq!(plot().bars(&bars, 10.0), "M44 150h10V79h-10Z");
        let empty = [Bar {
            start: 0,
            end: 10,
            low: 2.0,
            high: 2.0,
        }];
        assert_eq!(plot().bars(&empty, 10.0), "");
    }

    #[test]
    fn lines_break_at_missing_values_and_gaps_in_the_samples() {
        let values = [
            (10, 10, Some(0.0)),
            (20, 10, Some(10.0)),
            (30, 10, None),
            (40, 10, Some(10.0)),
            (100, 10, Some(0.0)),
        ];
        assert_eq!(
            plot().line(&values, 10.0),
            "M54 150h0L64 8M84 8h0M144 150h0"
        );
    }

    #[test]
    fn times_outside_the_window_are_clamped_to_its_edges() {
        let p = plot();
        assert_eq!(p.x(-100), LEFT);
        assert_eq!(p.x(10_000), WIDTH - RIGHT);
        assert_eq!(p.y(-5.0, 10.0), HEIGHT - BOTTOM);
        assert_eq!(p.y(50.0, 10.0), TOP);
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
        assert!(charts[0].summary.starts_with("45 requests"), "{}", charts[0].summary);
        assert_eq!(charts[0].y_ticks[2].label, "50");
        assert_eq!(charts[2].series[0].label, "web.1");
        assert_eq!(charts[0].x_ticks[1].label, "00:30");
    }
}
