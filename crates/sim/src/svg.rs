//! Hand-written SVG charts for the report: a line chart with several series and a bar chart
//! with min–max whiskers, both with axes, ticks, labels and a legend. Output is a string of
//! inline `<svg>` that needs no script, font or stylesheet; all text is escaped.

use std::fmt::Write as _;

/// Colours of series, in order (colour-blind friendly, from the Okabe–Ito palette).
pub const PALETTE: [&str; 8] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 50.0;
/// Points drawn per series at most; longer series are thinned evenly.
const MAX_POINTS: usize = 600;

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// About `target` round tick values (steps of 1, 2 or 5 × 10^k) covering `[lo, hi]`.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo, lo + 1.0) };
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let first = (lo / step).floor();
    let last = (hi / step).ceil();
    (0..=((last - first) as usize).min(50)).map(|i| (first + i as f64) * step).collect()
}

/// A tick or value label: no more digits than it needs.
pub fn fmt_num(x: f64) -> String {
    let a = x.abs();
    let s = if a >= 1e6 {
        format!("{:.3e}", x)
    } else if a >= 100.0 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 0.01 || a == 0.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.1e}")
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// One named line of (x, y) points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// A line chart.
#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Lines, coloured from [`PALETTE`] in order.
    pub series: Vec<Series>,
    /// Fixed lower end of the y axis (else from the data, and 0 for non-negative data).
    pub y_min: Option<f64>,
    /// Fixed upper end of the y axis (else from the data).
    pub y_max: Option<f64>,
}

/// The plot area's scales: data range to pixels.
struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)
    }
    fn py(&self, y: f64) -> f64 {
        HEIGHT - BOTTOM - (y - self.y0) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)
    }
}

fn open_svg(out: &mut String, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" font-family="sans-serif" font-size="12"><title>{t}</title><text x="{LEFT}" y="20" font-size="14" font-weight="bold">{t}</text>"#,
        t = escape(title)
    );
}

/// Axes, grid lines, tick labels and axis labels.
fn axes(out: &mut String, f: &Frame, xt: &[f64], yt: &[f64], x_label: &str, y_label: &str) {
    let (bottom, right) = (HEIGHT - BOTTOM, WIDTH - RIGHT);
    for &y in yt {
        let py = f.py(y);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{right}" y2="{py:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT - 6.0,
            py + 4.0,
            fmt_num(y)
        );
    }
    for &x in xt {
        let px = f.px(x);
        let _ = write!(
            out,
            r##"<line x1="{px:.1}" y1="{bottom}" x2="{px:.1}" y2="{:.1}" stroke="#333"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            bottom + 5.0,
            bottom + 18.0,
            fmt_num(x)
        );
    }
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#333"/><line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333"/>"##
    );
    let _ = write!(out, r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, (LEFT + right) / 2.0, HEIGHT - 10.0, escape(x_label));
    let mid = (TOP + bottom) / 2.0;
    let _ = write!(out, r#"<text x="16" y="{mid:.1}" text-anchor="middle" transform="rotate(-90 16 {mid:.1})">{}</text>"#, escape(y_label));
}

/// The legend: a coloured swatch and the name of each entry, right of the plot.
fn legend(out: &mut String, names: &[&str]) {
    for (i, name) in names.iter().enumerate() {
        let y = TOP + 8.0 + 18.0 * i as f64;
        let x = WIDTH - RIGHT + 14.0;
        let colour = PALETTE[i % PALETTE.len()];
        let _ = write!(
            out,
            r#"<rect x="{x}" y="{:.1}" width="14" height="4" fill="{colour}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            y - 4.0,
            x + 20.0,
            y + 2.0,
            escape(name)
        );
    }
}

/// Every `k`-th point and the last, so at most about [`MAX_POINTS`] remain.
fn thin(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let k = points.len().div_ceil(MAX_POINTS).max(1);
    let mut out: Vec<(f64, f64)> = points.iter().step_by(k).copied().collect();
    if let Some(last) = points.last() {
        if out.last() != Some(last) {
            out.push(*last);
        }
    }
    out
}

impl LineChart {
    /// The chart as an inline `<svg>` element.
    pub fn render(&self) -> String {
        let pts: Vec<(f64, f64)> = self.series.iter().flat_map(|s| s.points.iter().copied()).filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        let mut out = String::new();
        open_svg(&mut out, &self.title);
        if pts.is_empty() {
            let _ = write!(out, r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no data</text></svg>"#, WIDTH / 2.0, HEIGHT / 2.0);
            return out;
        }
        let (xmin, xmax) = min_max(pts.iter().map(|p| p.0));
        let (ymin, ymax) = min_max(pts.iter().map(|p| p.1));
        let ylo = self.y_min.unwrap_or(if ymin >= 0.0 { 0.0 } else { ymin });
        let yt = nice_ticks(ylo, self.y_max.unwrap_or(ymax).max(ylo), 5);
        let xt = nice_ticks(xmin, xmax, 8);
        let f = Frame { x0: xt[0], x1: xt[xt.len() - 1], y0: yt[0], y1: yt[yt.len() - 1] };
        axes(&mut out, &f, &xt, &yt, &self.x_label, &self.y_label);
        for (i, s) in self.series.iter().enumerate() {
            let coords: Vec<String> =
                thin(&s.points).iter().filter(|(x, y)| x.is_finite() && y.is_finite()).map(|(x, y)| format!("{:.1},{:.1}", f.px(*x), f.py(*y))).collect();
            let _ = write!(out, r#"<polyline fill="none" stroke="{}" stroke-width="1.8" points="{}"/>"#, PALETTE[i % PALETTE.len()], coords.join(" "));
        }
        legend(&mut out, &self.series.iter().map(|s| s.name.as_str()).collect::<Vec<_>>());
        out.push_str("</svg>");
        out
    }
}

fn min_max(xs: impl Iterator<Item = f64>) -> (f64, f64) {
    xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)))
}

/// One bar: a value and an optional min–max whisker.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// Label under the bar.
    pub label: String,
    /// Its height.
    pub value: f64,
    /// Whisker from `range.0` to `range.1` (for example min and max over seeds).
    pub range: Option<(f64, f64)>,
}

/// A bar chart with one bar per label.
#[derive(Clone, Debug, PartialEq)]
pub struct BarChart {
    /// Title above the plot.
    pub title: String,
    /// Y axis label.
    pub y_label: String,
    /// The bars, coloured from [`PALETTE`] in order.
    pub bars: Vec<Bar>,
}

impl BarChart {
    /// The chart as an inline `<svg>` element.
    pub fn render(&self) -> String {
        let mut out = String::new();
        open_svg(&mut out, &self.title);
        let finite = |x: f64| if x.is_finite() { x } else { 0.0 };
        let top = self.bars.iter().map(|b| finite(b.range.map_or(b.value, |r| r.1.max(b.value)))).fold(0.0, f64::max);
        let low = self.bars.iter().map(|b| finite(b.value.min(b.range.map_or(0.0, |r| r.0)))).fold(0.0, f64::min);
        let yt = nice_ticks(low, top.max(low + 1e-9), 5);
        let f = Frame { x0: 0.0, x1: self.bars.len().max(1) as f64, y0: yt[0], y1: yt[yt.len() - 1] };
        axes(&mut out, &f, &[], &yt, "", &self.y_label);
        let slot = (WIDTH - LEFT - RIGHT) / self.bars.len().max(1) as f64;
        for (i, b) in self.bars.iter().enumerate() {
            self.bar(&mut out, &f, i, slot, b);
        }
        legend(&mut out, &self.bars.iter().map(|b| b.label.as_str()).collect::<Vec<_>>());
        out.push_str("</svg>");
        out
    }

    fn bar(&self, out: &mut String, f: &Frame, i: usize, slot: f64, b: &Bar) {
        let v = if b.value.is_finite() { b.value } else { 0.0 };
        let (x, w) = (LEFT + slot * i as f64 + slot * 0.2, slot * 0.6);
        let (y_top, y_base) = (f.py(v.max(0.0)), f.py(v.min(0.0)));
        let colour = PALETTE[i % PALETTE.len()];
        let _ = write!(out, r#"<rect x="{x:.1}" y="{y_top:.1}" width="{w:.1}" height="{:.1}" fill="{colour}"/>"#, (y_base - y_top).max(0.5));
        if let Some((lo, hi)) = b.range.filter(|(lo, hi)| lo.is_finite() && hi.is_finite()) {
            let cx = x + w / 2.0;
            let _ = write!(out, r##"<line x1="{cx:.1}" y1="{:.1}" x2="{cx:.1}" y2="{:.1}" stroke="#222" stroke-width="1.5"/>"##, f.py(lo), f.py(hi));
        }
        let label_y = f.py(b.range.map_or(v, |r| r.1.max(v))) - 6.0;
        let _ = write!(out, r#"<text x="{:.1}" y="{label_y:.1}" text-anchor="middle">{}</text>"#, x + w / 2.0, fmt_num(v));
        let _ = write!(out, r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, x + w / 2.0, HEIGHT - BOTTOM + 18.0, escape(&b.label));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_ticks(0.0, 100.0, 5), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(nice_ticks(0.0, 7.0, 8), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        let t = nice_ticks(3.2, 3.2, 5);
        assert!(t[0] <= 3.2 && *t.last().unwrap() >= 4.2);
        assert_eq!(fmt_num(-0.0), "0");
        assert_eq!(fmt_num(12.345), "12.3");
        assert_eq!(fmt_num(0.5), "0.50");
    }

    #[test]
    fn line_chart_has_axes_legend_and_escaped_text() {
        let c = LineChart {
            title: "Util <vCPU> & co".into(),
            x_label: "time (h)".into(),
            y_label: "%".into(),
            series: vec![
                Series { name: "a&b".into(), points: (0..2000).map(|i| (f64::from(i), f64::from(i % 100))).collect() },
                Series { name: "pack".into(), points: vec![(0.0, 1.0), (5.0, f64::NAN), (10.0, 3.0)] },
            ],
            y_min: None,
            y_max: Some(100.0),
        };
        let svg = c.render();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Util &lt;vCPU&gt; &amp; co") && svg.contains("a&amp;b"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        let first = svg.split("points=\"").nth(1).unwrap().split('"').next().unwrap();
        assert!(first.split(' ').count() <= MAX_POINTS + 1, "long series are thinned");
    }

    #[test]
    fn empty_charts_say_so_and_bars_get_whiskers() {
        let empty = LineChart { title: "t".into(), x_label: String::new(), y_label: String::new(), series: vec![], y_min: None, y_max: None };
        assert!(empty.render().contains("no data"));
        let bars = BarChart {
            title: "Energy".into(),
            y_label: "kWh".into(),
            bars: vec![Bar { label: "spread".into(), value: 10.0, range: Some((9.0, 11.0)) }, Bar { label: "pack".into(), value: f64::NAN, range: None }],
        };
        let svg = bars.render();
        assert_eq!(svg.matches("<rect x").count(), 2 + 2, "two bars and two legend swatches");
        assert!(svg.contains("stroke-width=\"1.5\""), "the whisker");
        assert!(!svg.contains("NaN"));
    }
}
