//! Latency plots: the percentile curve of each binary's end-to-end
//! latencies in one scenario, drawn as a self-contained SVG file, so a
//! regression in the tail is visible at a glance beside the table.
//!
//! The x axis is the percentile on a "nines" scale (x = -log10(1 - q): 0 is
//! p0, 1 is p90, 2 is p99, 3 is p99.9, ...), the y axis the latency in ms
//! on a log scale; the goals of the scenario are drawn as red marks. SVG is
//! written by hand: it is a few dozen elements, and a plotting crate would
//! be the largest dependency of the benches.

use std::fmt::Write as _;

/// One line of the plot: all latency samples of one binary.
pub struct Series<'a> {
    pub label: &'a str,
    /// Latencies in ms, sorted ascending, not empty.
    pub sorted_ms: &'a [f64],
}

/// A goal mark: at most `ms` at quantile `q` (1.0 = the maximum).
pub struct GoalMark {
    pub label: String,
    pub q: f64,
    pub ms: f64,
}

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
/// Current binary last: the palette is indexed from the end so that the
/// current binary is always blue and a baseline grey.
const COLORS: [&str; 4] = ["#d62728", "#2ca02c", "#7f7f7f", "#1f77b4"];
/// Points per curve.
const POINTS: usize = 400;

/// The x ("nines") of quantile `q`, for `n` samples: the maximum sits at
/// the last sample's rank, 1 - 1/n.
fn nines(q: f64, n: usize) -> f64 {
    let last = 1.0 - 1.0 / n as f64;
    -(1.0 - q.min(last)).log10()
}

/// The value at quantile `q` of sorted `v` (nearest rank).
fn at(v: &[f64], q: f64) -> f64 {
    let rank = (q * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The SVG document for `series` (one or more binaries) and `goals`.
pub fn percentile_svg(title: &str, series: &[Series<'_>], goals: &[GoalMark]) -> String {
    let n_max = series.iter().map(|s| s.sorted_ms.len()).max().unwrap_or(1).max(2);
    let x_max = (n_max as f64).log10().ceil().max(2.0);
    let values = series.iter().flat_map(|s| s.sorted_ms.iter().copied()).chain(goals.iter().map(|g| g.ms));
    let (lo, hi) = values.filter(|v| *v > 0.0).fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo > hi { (1.0, 10.0) } else { (lo, hi) };
    let y_lo = lo.log10().floor();
    let y_hi = hi.log10().ceil().max(y_lo + 1.0);

    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let px = |x: f64| LEFT + x / x_max * plot_w;
    let py = |ms: f64| TOP + (y_hi - ms.max(10f64.powf(y_lo)).log10()) / (y_hi - y_lo) * plot_h;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(svg, r#"<text x="{LEFT}" y="22" font-size="14">{}</text>"#, escape(title));
    // Grid and axes.
    for d in 0..=(y_hi - y_lo) as i32 {
        let ms = 10f64.powi(y_lo as i32 + d);
        let y = py(ms);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            trim(ms)
        );
    }
    for x in 0..=x_max as i32 {
        // p0, p90, p99, p99.9, ... (x - 2 decimals).
        let label = match x {
            0 => "p0".to_string(),
            _ => format!("p{:.*}", (x - 2).max(0) as usize, 100.0 * (1.0 - 10f64.powi(-x))),
        };
        let gx = px(x as f64);
        let _ = writeln!(
            svg,
            r##"<line x1="{gx:.1}" y1="{TOP}" x2="{gx:.1}" y2="{:.1}" stroke="#ddd"/><text x="{gx:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 16.0
        );
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/><text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text><text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">latency (ms, log scale)</text>"##,
        LEFT + plot_w / 2.0,
        HEIGHT - 10.0,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    // One curve per binary.
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[(COLORS.len() + i - series.len()) % COLORS.len()];
        let n = s.sorted_ms.len();
        let last = nines(1.0, n);
        let mut points = String::new();
        for k in 0..=POINTS {
            let x = last * k as f64 / POINTS as f64;
            let q = 1.0 - 10f64.powf(-x);
            let _ = write!(points, "{:.1},{:.1} ", px(x), py(at(s.sorted_ms, q)));
        }
        let _ = writeln!(svg, r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>"#);
        let ly = TOP + 14.0 + 18.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="2"/><text x="{:.1}" y="{:.1}">{}, n={}</text>"#,
            LEFT + plot_w + 10.0,
            LEFT + plot_w + 30.0,
            LEFT + plot_w + 36.0,
            ly + 4.0,
            escape(s.label),
            n
        );
    }
    // Goals: a red tick at (quantile, ms), the maximum at the right edge.
    for (i, g) in goals.iter().enumerate() {
        let x = if g.q >= 1.0 { x_max } else { nines(g.q, n_max) };
        let (gx, gy) = (px(x), py(g.ms));
        let _ = writeln!(
            svg,
            r##"<path d="M{:.1},{gy:.1} h12 M{gx:.1},{:.1} v12" stroke="#d00" stroke-width="2"/>"##,
            gx - 6.0,
            gy - 6.0
        );
        let ly = TOP + 14.0 + 18.0 * (series.len() + 1 + i) as f64;
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{ly:.1}" fill="#d00">goal {}</text>"##,
            LEFT + plot_w + 10.0,
            escape(&g.label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A number without trailing zeros: 0.1, 1, 99.9.
fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
