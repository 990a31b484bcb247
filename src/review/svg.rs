//! Charts of the HTML report as inline SVG: a curve with a marked threshold, and bar
//! histograms (one or two series). Text is escaped with [`super::esc`].

use std::fmt::Write;

use super::esc;

const W: f64 = 520.0;
const H: f64 = 220.0;
/// Plot margins: left, right, top, bottom.
const ML: f64 = 46.0;
const MR: f64 = 12.0;
const MT: f64 = 12.0;
const MB: f64 = 38.0;

fn open(out: &mut String, title: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{t}"><title>{t}</title>"#,
        t = esc(title)
    );
    // Axes.
    let _ = write!(
        out,
        r#"<line class="axis" x1="{ML}" y1="{y}" x2="{x}" y2="{y}"/><line class="axis" x1="{ML}" y1="{MT}" x2="{ML}" y2="{y}"/>"#,
        y = H - MB,
        x = W - MR
    );
}

fn px(x: f64) -> f64 {
    ML + x * (W - ML - MR)
}

fn py(y: f64) -> f64 {
    H - MB - y * (H - MT - MB)
}

/// Labels of the y axis from 0 to `max` (a count or a probability).
fn y_ticks(out: &mut String, max: f64, label: &str) {
    for i in 0..=4 {
        let v = max * i as f64 / 4.0;
        let text = if max <= 1.0 {
            format!("{v:.2}")
        } else {
            format!("{}", v.round() as u64)
        };
        let _ = write!(
            out,
            r#"<text class="tick" x="{}" y="{}" text-anchor="end">{text}</text>"#,
            ML - 4.0,
            py(i as f64 / 4.0) + 4.0
        );
    }
    y_title(out, label);
}

/// The y axis's title, written upwards.
fn y_title(out: &mut String, label: &str) {
    let _ = write!(
        out,
        r#"<text class="axis-label" x="10" y="{}" transform="rotate(-90 10 {})" text-anchor="middle">{}</text>"#,
        H / 2.0,
        H / 2.0,
        esc(label)
    );
}

/// x axis labels 0, 0.2, …, 1 and the axis title.
fn x_ticks_unit(out: &mut String, label: &str) {
    for i in 0..=5 {
        let v = i as f64 / 5.0;
        let _ = write!(
            out,
            r#"<text class="tick" x="{}" y="{}" text-anchor="middle">{v:.1}</text>"#,
            px(v),
            H - MB + 14.0
        );
    }
    x_title(out, label);
}

fn x_title(out: &mut String, label: &str) {
    let _ = write!(
        out,
        r#"<text class="axis-label" x="{}" y="{}" text-anchor="middle">{}</text>"#,
        px(0.5),
        H - 6.0,
        esc(label)
    );
}

fn threshold_line(out: &mut String, threshold: f64) {
    let _ = write!(
        out,
        r#"<line class="threshold" x1="{x}" y1="{MT}" x2="{x}" y2="{}"/><text class="threshold-label" x="{}" y="{}">threshold {threshold}</text>"#,
        H - MB,
        px(threshold) + 4.0,
        MT + 10.0,
        x = px(threshold)
    );
}

/// The LSH S-curve: probability of becoming a candidate by similarity.
pub fn s_curve(points: &[(f64, f64)], threshold: f64) -> String {
    let mut out = String::new();
    open(
        &mut out,
        "Probability that a pair becomes a candidate, by similarity",
    );
    y_ticks(&mut out, 1.0, "P(candidate)");
    x_ticks_unit(&mut out, "Jaccard similarity");
    let path: Vec<String> = points
        .iter()
        .map(|&(s, p)| format!("{:.1},{:.1}", px(s), py(p)))
        .collect();
    let _ = write!(
        out,
        r#"<polyline class="curve" points="{}"/>"#,
        path.join(" ")
    );
    threshold_line(&mut out, threshold);
    out.push_str("</svg>");
    out
}

/// Histograms of similarity over [0, 1]: confirmed copies and rejected checks, side
/// by side in each bin, on a square-root scale so that both show.
pub fn similarities(confirmed: &[u64], rejected: &[u64], threshold: f64) -> String {
    let mut out = String::new();
    open(
        &mut out,
        "Similarity of confirmed copies and of rejected checks",
    );
    let max = confirmed
        .iter()
        .chain(rejected)
        .copied()
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    y_ticks_sqrt(&mut out, max, "pairs");
    x_ticks_unit(
        &mut out,
        "similarity (exact Jaccard where computed, else estimate)",
    );
    let bins = confirmed.len().max(1) as f64;
    let bw = (W - ML - MR) / bins;
    for (series, (values, class)) in [(rejected, "bar-rejected"), (confirmed, "bar-confirmed")]
        .iter()
        .enumerate()
    {
        for (i, &v) in values.iter().enumerate() {
            if v == 0 {
                continue;
            }
            let h = (v as f64 / max).sqrt() * (H - MT - MB);
            let _ = write!(
                out,
                r#"<rect class="{class}" x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}"><title>{:.2}–{:.2}: {v}</title></rect>"#,
                ML + i as f64 * bw + series as f64 * bw / 2.0,
                H - MB - h,
                bw / 2.0,
                i as f64 / bins,
                (i + 1) as f64 / bins
            );
        }
    }
    threshold_line(&mut out, threshold);
    out.push_str("</svg>");
    out
}

/// Labels of a square-root y axis: whole counts near a quarter, a half and three
/// quarters of the height, each drawn where its value sits (no repeats at small
/// counts).
fn y_ticks_sqrt(out: &mut String, max: f64, label: &str) {
    let mut values: Vec<u64> = [0.0, 0.0625, 0.25, 0.5625, 1.0]
        .iter()
        .map(|f| (f * max).round() as u64)
        .collect();
    values.dedup();
    for v in values {
        let _ = write!(
            out,
            r#"<text class="tick" x="{}" y="{}" text-anchor="end">{v}</text>"#,
            ML - 4.0,
            py((v as f64 / max).sqrt()) + 4.0
        );
    }
    y_title(out, &format!("{label} (√ scale)"));
}

/// A bar chart of labelled counts, on a square-root scale.
pub fn bars(title: &str, x_label: &str, y_label: &str, bins: &[(String, u64)]) -> String {
    let mut out = String::new();
    open(&mut out, title);
    let max = bins.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    y_ticks_sqrt(&mut out, max, y_label);
    x_title(&mut out, x_label);
    let bw = (W - ML - MR) / bins.len().max(1) as f64;
    let every = bins.len().div_ceil(10).max(1);
    for (i, (label, v)) in bins.iter().enumerate() {
        let x = ML + i as f64 * bw;
        if *v > 0 {
            let h = (*v as f64 / max).sqrt() * (H - MT - MB);
            let _ = write!(
                out,
                r#"<rect class="bar" x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}"><title>{}: {v}</title></rect>"#,
                x + 1.0,
                H - MB - h,
                (bw - 2.0).max(1.0),
                esc(label)
            );
        }
        if i % every == 0 {
            let _ = write!(
                out,
                r#"<text class="tick" x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                x + bw / 2.0,
                H - MB + 14.0,
                esc(label)
            );
        }
    }
    out.push_str("</svg>");
    out
}
