//! SVG geometry of the Metrics tab's charts: times and values into viewBox units, stacked
//! bars and broken lines as path data, round axis maxima and short numbers. Pure.

use time::OffsetDateTime;

use super::{BOTTOM, Chart, HEIGHT, LEFT, RIGHT, Series, TOP, Tick, WIDTH};

/// One stacked bar: from `start` to `end` (unix seconds), `low` to `high` (values).
pub(super) struct Bar {
    pub start: i64,
    pub end: i64,
    pub low: f64,
    pub high: f64,
}

/// Maps times and values into the drawing area.
pub(super) struct Plot {
    from: i64,
    to: i64,
}

impl Plot {
    pub(super) fn new((from, to): (i64, i64)) -> Plot {
        Plot {
            from,
            to: to.max(from + 1),
        }
    }

    pub(super) fn x(&self, t: i64) -> f64 {
        let t = t.clamp(self.from, self.to);
        LEFT + (t - self.from) as f64 / (self.to - self.from) as f64 * (WIDTH - LEFT - RIGHT)
    }

    pub(super) fn y(&self, value: f64, scale: f64) -> f64 {
        let bottom = HEIGHT - BOTTOM;
        bottom - (value / scale).clamp(0.0, 1.0) * (bottom - TOP)
    }

    /// One path of rectangles; bars at least a third of a unit wide so a second's bar on
    /// a day's chart still shows.
    pub(super) fn bars(&self, bars: &[Bar], scale: f64) -> String {
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
    pub(super) fn line(&self, values: &[(i64, i64, Option<f64>)], scale: f64) -> String {
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

    pub(super) fn chart(
        &self,
        id: &'static str,
        title: &'static str,
        summary: String,
        scale: f64,
        series: Vec<Series>,
    ) -> Chart {
        let y_ticks = [0.0, 0.5, 1.0]
            .iter()
            .map(|f| Tick {
                x: num(LEFT - 4.0),
                y: num(self.y(scale * f, scale)),
                label: num(scale * f),
                anchor: "end",
            })
            .collect();
        let middle = self.from + (self.to - self.from) / 2;
        let x_ticks = [(self.from, "start"), (middle, "middle"), (self.to, "end")]
            .iter()
            .map(|&(t, anchor)| Tick {
                x: num(self.x(t)),
                y: num(HEIGHT - 4.0),
                label: clock(t, self.to - self.from < 600),
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

/// `HH:MM` UTC, with seconds when asked.
pub(super) fn clock(t: i64, seconds: bool) -> String {
    OffsetDateTime::from_unix_timestamp(t).map_or_else(
        |_| String::new(),
        |t| match seconds {
            true => format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second()),
            false => format!("{:02}:{:02}", t.hour(), t.minute()),
        },
    )
}

/// A round axis maximum at or above `value`: 1, 2 or 5 times a power of ten.
pub(super) fn nice_max(value: f64) -> f64 {
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
pub(super) fn num(v: f64) -> String {
    let text = format!("{v:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// `num` after a separator: a space, or nothing before a minus sign.
fn sep_num(v: f64) -> String {
    let n = num(v);
    if n.starts_with('-') {
        n
    } else {
        format!(" {n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
