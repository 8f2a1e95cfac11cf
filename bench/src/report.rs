//! Reports: the JSON result, SVG plots (throughput over time, latency by percentile, comparison
//! bars) drawn with plotters, and an HTML page that shows them with the summary tables.

use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use crate::stats::RunResult;

const SIZE: (u32, u32) = (900, 420);
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

type Plot = Result<String, String>;

fn failed<E: std::fmt::Display>(error: E) -> String {
    format!("drawing a plot: {error}")
}

/// Throughput per second of each run (ops/s; MiB/s when bytes dominate).
pub fn throughput_svg(runs: &[&RunResult]) -> Plot {
    let by_bytes = runs.iter().any(|r| r.total.mib_per_s >= 1.0);
    let value = |ops: u64, bytes: u64| if by_bytes { bytes as f64 / f64::from(1 << 20) } else { ops as f64 };
    let series: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .map(|run| (run.label.clone(), run.timeline.iter().map(|s| (s.second as f64, value(s.ops, s.bytes))).collect()))
        .collect();
    let axes = ("second of the measured period", if by_bytes { "MiB/s" } else { "ops/s" });
    lines_svg("Throughput over time", axes, 1.0, &series)
}

/// Lines of (x, y) points, one per series, from zero to a tenth above the largest y (at least
/// `y_min`); `axes` are the x and y descriptions.
pub fn lines_svg(caption: &str, axes: (&str, &str), y_min: f64, series: &[(String, Vec<(f64, f64)>)]) -> Plot {
    let x_max = series.iter().flat_map(|(_, points)| points.iter().map(|p| p.0)).fold(1.0f64, f64::max);
    let y_max = series.iter().flat_map(|(_, points)| points.iter().map(|p| p.1)).fold(y_min, f64::max) * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(failed)?;
        chart.configure_mesh().x_desc(axes.0).y_desc(axes.1).draw().map_err(failed)?;
        for (i, (label, points)) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
                .map_err(failed)?
                .label(label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// Latency by percentile, one line per run and operation, on a "nines" axis.
pub fn latency_svg(runs: &[&RunResult]) -> Plot {
    let series: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .flat_map(|run| {
            run.ops.iter().map(move |(op, result)| {
                let points =
                    result.latency_us.curve.iter().map(|&(p, us)| (nines(p), us as f64 / 1000.0)).collect::<Vec<_>>();
                let label = if runs.len() > 1 { format!("{} {op}", run.label) } else { op.clone() };
                (label, points)
            })
        })
        .collect();
    let top = series.iter().flat_map(|(_, p)| p.iter().map(|(_, ms)| *ms)).fold(0.0f64, f64::max).max(0.001) * 1.1;
    let right = nines(100.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Latency by percentile", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..right, 0.0..top)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("ms")
            .x_label_formatter(&|x| percentile_label(*x))
            .draw()
            .map_err(failed)?;
        for (i, (label, points)) in series.into_iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(failed)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// Percentile p as "nines": 0 → 0, 90 → 1, 99 → 2, 99.9 → 3; 100 is drawn at 5.
fn nines(percentile: f64) -> f64 {
    if percentile >= 100.0 { 5.0 } else { -(1.0 - percentile / 100.0).log10() }
}

fn percentile_label(x: f64) -> String {
    if x >= 4.99 {
        return "max".into();
    }
    let percentile = 100.0 * (1.0 - 10f64.powf(-x));
    format!("{percentile:.2}").trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Bars: one group per entry, one bar per series.
pub fn bars_svg(title: &str, unit: &str, groups: &[String], series: &[(String, Vec<f64>)]) -> Plot {
    let top = series.iter().flat_map(|(_, v)| v.iter().copied()).fold(0.0f64, f64::max).max(1e-9) * 1.15;
    let per_group = series.len().max(1) as f64;
    let width = groups.len().max(1) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..width, 0.0..top)
            .map_err(failed)?;
        let names = groups.to_vec();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(unit)
            .x_labels(groups.len().max(1))
            .x_label_formatter(&|x| names.get(x.floor() as usize).cloned().unwrap_or_default())
            .draw()
            .map_err(failed)?;
        for (i, (label, values)) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let bars = values.iter().enumerate().map(|(g, v)| {
                let left = g as f64 + 0.1 + 0.8 * i as f64 / per_group;
                let right = left + 0.8 / per_group;
                Rectangle::new([(left, 0.0), (right, *v)], color.filled())
            });
            chart
                .draw_series(bars)
                .map_err(failed)?
                .label(label.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// Writes `result.json`, the plots and `report.html` for runs into `dir`.
pub fn write_run_report(
    dir: &Path,
    runs: &[&RunResult],
    extra: Option<(&str, &impl Serialize, String)>,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("writing {}: {e}", dir.join(name).display()))
    };
    let json = match &extra {
        Some((_, value, _)) => serde_json::to_string_pretty(value),
        None => serde_json::to_string_pretty(runs[0]),
    }
    .map_err(|e| format!("encoding the result: {e}"))?;
    write("result.json", &json)?;
    write("throughput.svg", &throughput_svg(runs)?)?;
    write("latency.svg", &latency_svg(runs)?)?;
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>cairn-bench report</title>\
         <style>body{font-family:sans-serif;margin:2em}pre{background:#f4f4f4;padding:1em}</style></head><body>\
         <h1>cairn-bench report</h1>",
    );
    if let Some((svg_name, _, summary)) = &extra {
        html.push_str(&format!("<h2>Comparison</h2><pre>{}</pre><img src=\"{svg_name}\">", escape(summary)));
    }
    for run in runs {
        html.push_str(&format!("<h2>{}</h2><pre>{}</pre>", escape(&run.label), escape(&run.summary())));
    }
    html.push_str("<h2>Throughput</h2><img src=\"throughput.svg\"><h2>Latency</h2><img src=\"latency.svg\">");
    html.push_str(&format!(
        "<h2>Workload</h2><pre>{}</pre></body></html>",
        escape(&serde_json::to_string_pretty(&runs[0].workload).unwrap_or_default())
    ));
    write("report.html", &html)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_axis() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(99.0) - 2.0).abs() < 1e-9);
        assert_eq!(percentile_label(2.0), "99");
        assert_eq!(percentile_label(3.0), "99.9");
        assert_eq!(percentile_label(5.0), "max");
    }

    #[test]
    fn bars_draw() {
        let svg = bars_svg("t", "ops/s", &["round 1".into()], &[("a".into(), vec![1.0]), ("b".into(), vec![2.0])]);
        let svg = svg.unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<rect"), "{}", &svg[..200.min(svg.len())]);
    }
}
