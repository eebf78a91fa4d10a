//! `--plot FILE.svg`: one picture of a run, drawn with plotters' SVG
//! backend. Top: latency by percentile, the way HdrHistogram's plotter
//! draws it (the x axis is 1/(1-percentile) on a log scale, so 90%, 99%,
//! 99.9%... are evenly spaced and the tail gets as much room as the
//! median). Bottom: requests and errors per second over the run.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use crate::stats::Stats;
use plotters::prelude::*;

const WIDTH: u32 = 800;
const HEIGHT: u32 = 640;

/// The SVG text of the plot.
pub fn svg(stats: &Stats, title: &str) -> Result<String, String> {
    let mut out = String::new();
    draw(&mut out, stats, title).map_err(|e| format!("--plot: {e}"))?;
    Ok(out)
}

/// Points (1/(1-q), latency in ms) of the latency distribution, as the
/// .hgrm rows have them, ending before q = 1 (whose x is infinite).
fn percentile_curve(stats: &Stats) -> Vec<(f64, f64)> {
    let h = &stats.latency;
    if h.is_empty() {
        return Vec::new();
    }
    let mut points: Vec<(f64, f64)> = h
        .iter_quantiles(5)
        .map(|v| {
            (
                v.quantile_iterated_to(),
                v.value_iterated_to() as f64 / 1000.0,
            )
        })
        .filter(|&(q, _)| q < 1.0)
        .map(|(q, ms)| (1.0 / (1.0 - q), ms))
        .collect();
    // The maximum, at the x of the last finite row times ten.
    let last_x = points.last().map_or(1.0, |p| p.0);
    points.push((last_x * 10.0, h.max() as f64 / 1000.0));
    points
}

/// "99.9%" for x = 1000.
fn percentile_label(x: &f64) -> String {
    let q = 100.0 * (1.0 - 1.0 / x);
    let text = format!("{q:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

fn draw(out: &mut String, stats: &Stats, title: &str) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(out, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    // The naive font metrics (no font files) cannot wrap: a long title is
    // cut rather than run off the picture.
    let title: String = match title.char_indices().nth(110) {
        Some((at, _)) => format!("{}…", title.get(..at).unwrap_or(title)),
        None => title.to_string(),
    };
    let root = root.titled(&title, ("sans-serif", 13))?;
    let (top, bottom) = root.split_vertically(HEIGHT * 11 / 20);

    let curve = percentile_curve(stats);
    let max_x = curve.last().map_or(10.0, |p| p.0).max(10.0);
    let max_ms = curve.iter().map(|p| p.1).fold(0.0, f64::max).max(0.001) * 1.1;
    let mut chart = ChartBuilder::on(&top)
        .caption("latency by percentile", ("sans-serif", 14))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d((1.0..max_x).log_scale(), 0.0..max_ms)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_label_formatter(&percentile_label)
        .draw()?;
    chart.draw_series(LineSeries::new(curve, BLUE.stroke_width(2)))?;

    let rows = stats.timeline.as_deref().unwrap_or_default();
    let seconds = rows.len().max(1) as f64;
    let max_rps = rows.iter().map(|r| r.requests).max().unwrap_or(0).max(1) as f64 * 1.1;
    let mut chart = ChartBuilder::on(&bottom)
        .caption("throughput", ("sans-serif", 14))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..seconds, 0.0..max_rps)?;
    chart
        .configure_mesh()
        .x_desc("second of the run")
        .y_desc("requests/s")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    // Each second's count drawn across that second, as a step line.
    let steps = |value: fn(&crate::stats::Second) -> u64| {
        rows.iter()
            .enumerate()
            .flat_map(move |(i, r)| {
                [
                    (i as f64, value(r) as f64),
                    (i as f64 + 1.0, value(r) as f64),
                ]
            })
            .collect::<Vec<_>>()
    };
    chart
        .draw_series(LineSeries::new(
            steps(|r| r.requests),
            GREEN.stroke_width(2),
        ))?
        .label("requests")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], GREEN));
    chart
        .draw_series(LineSeries::new(steps(|r| r.errors), RED.stroke_width(2)))?
        .label("errors")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn labels_read_as_percentiles() {
        assert_eq!(percentile_label(&1.0), "0%");
        assert_eq!(percentile_label(&10.0), "90%");
        assert_eq!(percentile_label(&1000.0), "99.9%");
    }

    #[test]
    fn a_plot_is_an_svg_with_both_charts() {
        let start = Instant::now();
        let mut stats = Stats::new(start, true);
        for i in 0..5000u64 {
            stats.record(
                start + Duration::from_millis(i),
                Duration::from_micros(50 + i % 700),
                200,
            );
        }
        let svg = svg(&stats, "test").unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for text in ["latency by percentile", "throughput", "99.9%", "requests/s"] {
            assert!(svg.contains(text), "{text}");
        }
    }
}
