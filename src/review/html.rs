//! The HTML report: one self-contained file (inline CSS, script and SVG; nothing
//! fetched), readable offline without a server. The page is complete without its
//! script, which only adds filtering and folding.

use std::fmt::Write;
use std::io::Write as _;
use std::path::Path;

use similar::{Algorithm, DiffTag, capture_diff_slices};
use unicode_segmentation::UnicodeSegmentation;

use super::{DocView, Review, esc, svg};
use crate::boilerplate::{Evidence, LineRuleKind, TemplateKind};
use crate::error::{RunError, write_err};
use crate::lsh::{self, DocId};
use crate::normalize::Normalizer;
use crate::output;
use crate::report::Report;

const STYLE: &str = r#"
:root { --fg:#1d232a; --muted:#5b6570; --line:#d9dee3; --bg:#ffffff; --panel:#f6f8fa;
  --keep:#1f6feb; --bad:#c93c37; --ok:#2e8540; --ins:#d7f5dd; --del:#fbe0de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans Arabic", sans-serif;
  color: var(--fg); background: var(--bg); margin: 0; }
header { background: #0f2537; color: #fff; padding: 14px 24px; }
header h1 { margin: 0; font-size: 20px; }
header p { margin: 4px 0 0; color: #b9c7d3; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line); padding: 6px 24px; z-index: 2; }
nav a { margin-right: 16px; color: var(--keep); text-decoration: none; }
main { padding: 0 24px 40px; max-width: 1400px; }
section { margin-top: 26px; }
h2 { border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { margin: 18px 0 6px; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; }
.tile { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 130px; }
.tile b { display: block; font-size: 20px; }
.tile span { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: var(--panel); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 16px; }
figure { margin: 0; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
figcaption { color: var(--muted); font-size: 12px; margin-top: 4px; }
svg.chart { width: 100%; height: auto; }
svg .axis { stroke: #8a949e; }
svg .tick { font-size: 10px; fill: var(--muted); }
svg .axis-label { font-size: 11px; fill: var(--muted); }
svg .curve { fill: none; stroke: var(--keep); stroke-width: 2; }
svg .threshold { stroke: var(--bad); stroke-dasharray: 4 3; }
svg .threshold-label { font-size: 11px; fill: var(--bad); }
svg .bar { fill: var(--keep); }
svg .bar-confirmed { fill: var(--ok); }
svg .bar-rejected { fill: var(--bad); opacity: .75; }
.legend i { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; }
.doc { border: 1px solid var(--line); border-radius: 6px; margin: 8px 0; background: #fff; }
.doc .meta { background: var(--panel); padding: 4px 8px; font-size: 12px; color: var(--muted); border-bottom: 1px solid var(--line); }
.doc .meta b { color: var(--fg); }
.text { white-space: pre-wrap; overflow-wrap: anywhere; padding: 6px 8px; max-height: 420px; overflow: auto; unicode-bidi: plaintext; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; }
ins { background: var(--ins); text-decoration: none; }
del { background: var(--del); }
.removed { background: var(--del); text-decoration: line-through; color: #7a2a26; }
.tag { display: inline-block; font-size: 11px; border-radius: 3px; padding: 0 5px; margin-left: 6px; background: #eee; color: #333; text-decoration: none; }
.tag.keep { background: var(--keep); color: #fff; }
.tag.warn { background: var(--bad); color: #fff; }
.cluster { border-left: 4px solid var(--keep); padding-left: 12px; margin: 18px 0; }
details > summary { cursor: pointer; }
.muted { color: var(--muted); }
input[type=search] { padding: 4px 8px; width: 320px; }
.cut { color: var(--muted); font-style: italic; }
.later { border-top: 1px dashed var(--line); margin-top: 6px; padding-top: 4px; }
.norm { text-decoration: underline dotted #8a949e; }
del + ins { margin-left: 3px; }
.charts figure { max-width: 760px; }
"#;

/// The page's script: reports its own errors into the page (`data-errors`), filters
/// the rules tables and folds every document at once.
const SCRIPT: &str = r#"
(function () {
  var body = document.body;
  function filterRules(input) {
    var q = input.value.toLowerCase();
    var rows = document.querySelectorAll('#rules tbody tr');
    var shown = 0;
    rows.forEach(function (r) {
      var hit = !q || r.textContent.toLowerCase().indexOf(q) >= 0;
      r.hidden = !hit;
      if (hit) { shown += 1; }
    });
    var count = document.getElementById('rules-shown');
    if (count) { count.textContent = shown + ' of ' + rows.length + ' listed rules shown'; }
  }
  var box = document.getElementById('rule-filter');
  if (box) {
    box.addEventListener('input', function () { filterRules(box); });
    filterRules(box);
  }
  document.querySelectorAll('button[data-fold]').forEach(function (b) {
    b.addEventListener('click', function () {
      var open = b.getAttribute('data-fold') === 'open';
      document.querySelectorAll(b.getAttribute('data-target') + ' details').forEach(function (d) {
        d.open = open;
      });
    });
  });
  body.setAttribute('data-ready', '1');
})();
"#;

/// Write the HTML report of a run.
pub fn write_html(path: &Path, report: &Report, review: &Review) -> Result<(), RunError> {
    let page = render(report, review);
    output::write_atomic(path, |w| w.write_all(page.as_bytes())).map_err(write_err(path))
}

/// The whole page.
pub fn render(report: &Report, review: &Review) -> String {
    let mut h = String::with_capacity(256 * 1024);
    let title = format!("dupstrip {} report", report.command);
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{}</title><style>{STYLE}</style></head>"#,
        esc(&title)
    );
    // The first script counts errors of any later one, and of itself.
    h.push_str(
        r#"<body data-errors="0"><script>window.addEventListener('error', function () { var b = document.body; b.setAttribute('data-errors', String(Number(b.getAttribute('data-errors')) + 1)); });</script>"#,
    );
    let _ = write!(
        h,
        "<header><h1>{}</h1><p>dupstrip {} · {} · {} threads · {}</p></header>",
        esc(&title),
        esc(report.version),
        esc(&some_of(
            report.inputs.iter().map(|i| i.spec.name.as_str()),
            3
        )),
        report.threads,
        match (report.command, report.boilerplate.is_some()) {
            ("strip", _) => "boilerplate stripped, no duplicate search",
            (_, true) => "boilerplate stripped before comparing",
            _ => "texts compared as read",
        }
    );
    let dedup = report.command != "strip";
    h.push_str(r##"<nav><a href="#summary">Summary</a><a href="#charts">Charts</a>"##);
    if dedup {
        h.push_str(r##"<a href="#clusters">Clusters</a>"##);
    }
    if review.rules.is_some() {
        h.push_str(r##"<a href="#rules">Rules</a><a href="#samples">Stripped documents</a>"##);
    }
    h.push_str("</nav><main>");
    summary(&mut h, report);
    charts(&mut h, report, review);
    if dedup {
        clusters(&mut h, report, review);
    }
    if review.rules.is_some() {
        rules(&mut h, review);
        samples(&mut h, review);
    }
    let _ = writeln!(h, "</main><script>{SCRIPT}</script></body></html>");
    h
}

/// Inputs listed in the summary (the page stays small with many shards).
const INPUTS_SHOWN: usize = 50;

/// The first `k` names joined, and how many more there are.
fn some_of<'a>(names: impl ExactSizeIterator<Item = &'a str>, k: usize) -> String {
    let n = names.len();
    let shown: Vec<&str> = names.take(k).collect();
    if n > k {
        format!("{} and {} more", shown.join(", "), n - k)
    } else {
        shown.join(", ")
    }
}

fn tile(h: &mut String, value: impl std::fmt::Display, label: &str) {
    let _ = write!(
        h,
        r#"<div class="tile"><b>{value}</b><span>{}</span></div>"#,
        esc(label)
    );
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn summary(h: &mut String, report: &Report) {
    let d = &report.documents;
    // `boilerplate strip` searches no duplicates; `dedup` strips nothing.
    let (dedup, stripped) = (report.command != "strip", report.boilerplate.as_ref());
    h.push_str(r#"<section id="summary"><h2>The run at a glance</h2><div class="tiles">"#);
    tile(h, d.read, "documents read");
    tile(h, d.written, "written");
    if dedup {
        tile(h, d.dropped, "dropped as duplicates");
        tile(h, d.duplicates, "near-duplicates found");
        tile(h, d.clusters, "clusters");
    }
    tile(h, d.rejected, "rejected (unreadable)");
    if stripped.is_some() {
        tile(h, d.emptied, "emptied by stripping");
    }
    if dedup {
        tile(h, d.empty, "empty text");
    }
    tile(h, mb(report.bytes.text_in), "text read");
    tile(h, mb(report.bytes.text_out), "text written");
    if let Some(b) = stripped {
        tile(h, mb(b.removed.bytes_removed), "stripped as boilerplate");
    }
    tile(h, format!("{:.2} s", report.timings.total), "total time");
    h.push_str("</div>");
    h.push_str("<h3>Inputs</h3><table><thead><tr><th>input</th><th>format</th><th>records</th><th>bytes</th></tr></thead><tbody>");
    for i in report.inputs.iter().take(INPUTS_SHOWN) {
        let _ = write!(
            h,
            r#"<tr><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            esc(&i.spec.name),
            format!("{:?}", i.spec.format).to_lowercase(),
            i.records,
            i.spec.bytes
        );
    }
    h.push_str("</tbody></table>");
    if report.inputs.len() > INPUTS_SHOWN {
        let _ = write!(
            h,
            "<p class=\"muted\">… and {} more inputs ({} records in all).</p>",
            report.inputs.len() - INPUTS_SHOWN,
            report.inputs.iter().map(|i| i.records).sum::<u64>()
        );
    }
    if !report.skipped_files.is_empty() {
        let _ = write!(
            h,
            "<p>Skipped files: {}</p>",
            esc(&some_of(
                report.skipped_files.iter().map(|s| s.as_str()),
                20
            ))
        );
    }
    h.push_str("<h3>Time per stage</h3><table><tbody>");
    let t = &report.timings;
    for (name, s, shown) in [
        ("learn boilerplate", t.learn, stripped.is_some()),
        ("sketch (read, strip, normalize, sign)", t.sketch, true),
        ("candidates (LSH)", t.candidates, dedup),
        ("cluster and verify", t.cluster, dedup),
        ("write", t.write, true),
        ("total", t.total, true),
    ] {
        if !shown {
            continue;
        }
        let _ = write!(
            h,
            r#"<tr><td>{name}</td><td class="num">{s:.3} s</td></tr>"#
        );
    }
    h.push_str("</tbody></table><h3>Parameters</h3><table><tbody>");
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(&report.parameters) {
        for (k, v) in map {
            let v = match v {
                serde_json::Value::String(s) => s,
                v => v.to_string(),
            };
            let _ = write!(h, "<tr><td>{}</td><td>{}</td></tr>", esc(&k), esc(&v));
        }
    }
    h.push_str("</tbody></table>");
    if !dedup {
        h.push_str("</section>");
        return;
    }
    let c = &report.candidates;
    let a = &report.clustering;
    let _ = write!(
        h,
        "<p class=\"muted\">{} candidate comparisons in {} buckets (a pair that shares several bands counts in each; {} of them were pairs an earlier band had confirmed, not compared again), {} rejected by the estimate, {} distinct pairs confirmed; {} components (largest {}), {} similarity checks while assigning ({} below the threshold), {} components split because not every member was similar enough to a kept document; {} pairs verified exactly.</p></section>",
        c.comparisons,
        c.buckets,
        c.repeated,
        c.rejected,
        c.confirmed_pairs,
        a.components,
        a.largest_component,
        a.checks,
        a.rejected,
        a.split_components,
        report.verification.exact_checks
    );
}

fn charts(h: &mut String, report: &Report, review: &Review) {
    h.push_str(r#"<section id="charts"><h2>Pictures</h2><div class="charts">"#);
    if report.command != "strip" {
        dedup_charts(h, report, review);
    }
    if !review.removed_share.is_empty() {
        let bins: Vec<(String, u64)> = review
            .removed_share
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let label = if i == 0 {
                    "0".to_string()
                } else {
                    format!("{}%", i * 5)
                };
                (label, c)
            })
            .collect();
        let _ = write!(
            h,
            "<figure>{}<figcaption>Documents by share of their text removed as boilerplate (bin “5%” holds (0, 5%]).</figcaption></figure>",
            svg::bars(
                "Share of text removed per document",
                "share removed",
                "documents",
                &bins
            )
        );
    }
    h.push_str("</div></section>");
}

/// The S-curve, similarities and cluster sizes (not for `boilerplate strip`).
fn dedup_charts(h: &mut String, report: &Report, review: &Review) {
    let threshold = report.parameters.threshold;
    let curve: Vec<(f64, f64)> = (0..=100)
        .map(|i| {
            let s = i as f64 / 100.0;
            (s, lsh::detection_probability(s, report.parameters.lsh))
        })
        .collect();
    let _ = write!(
        h,
        "<figure>{}<figcaption>LSH S-curve for {} bands × {} rows: pairs right of the threshold should almost always become candidates.</figcaption></figure>",
        svg::s_curve(&curve, threshold),
        report.lsh.bands,
        report.lsh.rows
    );
    let _ = write!(
        h,
        r#"<figure>{}<figcaption><span class="legend"><i style="background:var(--ok)"></i>copies kept out, by similarity to their kept document ({})<i style="background:var(--bad)"></i>candidates rejected: comparisons below the confirmation floor ({:.2}) and checks of this run's pairs below the threshold while assigning ({})</span></figcaption></figure>"#,
        svg::similarities(&review.confirmed, &review.rejected, threshold),
        review.confirmed.iter().sum::<u64>(),
        crate::verify::Verifier::new(&report.parameters).floor,
        review.rejected.iter().sum::<u64>()
    );
    let _ = write!(
        h,
        "<figure>{}<figcaption>Clusters by number of documents (the kept one included).</figcaption></figure>",
        svg::bars(
            "Cluster sizes",
            "documents per cluster",
            "clusters",
            &review.cluster_sizes
        )
    );
}

/// Where a document is: its id, input and line, and its position in the input.
fn doc_ref(review: &Review, d: DocId) -> String {
    match review.docs.get(&d) {
        Some(v) => format!(
            "<b>{}</b> · {}:{} · document #{}",
            esc(&v.id),
            esc(&v.input),
            v.line,
            d
        ),
        None if (d as usize) >= review.documents => format!(
            "<b>{}</b> · from the state (an earlier run)",
            esc(review.history_ids.get(&d).map_or("", |s| s.as_str()))
        ),
        None => format!("document #{d}"),
    }
}

fn cut_note(shown: usize, total: usize) -> String {
    if shown < total {
        format!(
            r#"<span class="cut"> … ({} more bytes not shown)</span>"#,
            total - shown
        )
    } else {
        String::new()
    }
}

fn clusters(h: &mut String, report: &Report, review: &Review) {
    h.push_str(r##"<section id="clusters"><h2>Clusters</h2>"##);
    if review.clusters.is_empty() {
        h.push_str("<p>No near-duplicates were found.</p></section>");
        return;
    }
    let _ = write!(
        h,
        r##"<p class="muted">The {} largest clusters and the {} most borderline others (lowest similarity of a copy to its kept document), at most {} copies each, the least similar first. Texts are those compared{}; in each copy, <ins>inserted</ins> and <del>deleted</del> words are marked against the kept document (texts are cut at {} bytes, so a difference at the very end may only be the cut). <button data-fold="open" data-target="#clusters">open all</button> <button data-fold="close" data-target="#clusters">close all</button></p>"##,
        super::SHOWN_CLUSTERS,
        super::SHOWN_BORDERLINE,
        super::COPIES_SHOWN,
        if report.boilerplate.is_some() {
            " (after stripping boilerplate)"
        } else {
            ""
        },
        super::TEXT_SHOWN
    );
    let norm = Normalizer::new(report.parameters.normalize);
    for c in &review.clusters {
        let _ = write!(
            h,
            r#"<div class="cluster" data-cluster="{}"><h3>Cluster {} <span class="tag">{}</span> <span class="muted">{} documents</span></h3><p>Kept <span class="tag keep">keep</span> {}</p>"#,
            c.cluster,
            c.cluster,
            c.reason,
            c.size,
            doc_ref(review, c.keep)
        );
        let keep = review.docs.get(&c.keep);
        // The least similar copy of each cluster is open.
        for (i, &(d, sim)) in c.copies.iter().enumerate() {
            let copy = review.docs.get(&d);
            let _ = write!(
                h,
                r#"<details{}><summary>Copy {} · similarity {:.3}</summary><div class="pair">"#,
                if i == 0 { " open" } else { "" },
                doc_ref(review, d),
                sim
            );
            match (keep, copy) {
                (Some(k), Some(x)) => {
                    let _ = write!(
                        h,
                        r#"<div class="doc"><div class="meta">kept: {}</div><div class="text" dir="auto">{}{}</div></div><div class="doc"><div class="meta">copy: {}</div><div class="text" dir="auto">{}{}</div></div>"#,
                        doc_ref(review, c.keep),
                        esc(&k.compared),
                        cut_note(k.compared.len(), k.compared_bytes),
                        doc_ref(review, d),
                        diff(&k.compared, &x.compared, &norm),
                        cut_note(x.compared.len(), x.compared_bytes)
                    );
                }
                (_, Some(x)) => {
                    let _ = write!(
                        h,
                        r#"<div class="doc"><div class="meta">kept document: text not in this run's input</div></div><div class="doc"><div class="meta">copy</div><div class="text" dir="auto">{}{}</div></div>"#,
                        esc(&x.compared),
                        cut_note(x.compared.len(), x.compared_bytes)
                    );
                }
                _ => h.push_str("<p class=\"muted\">Text not available.</p>"),
            }
            h.push_str("</div></details>");
        }
        h.push_str("</div>");
    }
    h.push_str("</section>");
}

/// `new` with the words inserted since `old` in `<ins>` and those deleted in `<del>`.
/// Words are compared as the run compares them, normalized (`norm`): a word that
/// differs only in case, marks, digits, punctuation or letter forms is not a change,
/// and is shown dotted (`class="norm"`).
fn diff(old: &str, new: &str, norm: &Normalizer) -> String {
    let ow: Vec<&str> = old.split_word_bounds().collect();
    let nw: Vec<&str> = new.split_word_bounds().collect();
    let key = |w: &&str| norm.normalize(w).trim().to_string();
    let (ok, nk): (Vec<String>, Vec<String>) =
        (ow.iter().map(key).collect(), nw.iter().map(key).collect());
    let mut out = String::with_capacity(new.len() * 2);
    // Spaces and punctuation (empty once normalized) are not words the run compares:
    // deleted ones are left out, inserted ones shown plainly.
    let del = |out: &mut String, o: std::ops::Range<usize>| {
        if ok[o.clone()].iter().any(|k| !k.is_empty()) {
            let _ = write!(out, "<del>{}</del>", esc(&ow[o].concat()));
        }
    };
    let ins = |out: &mut String, n: std::ops::Range<usize>| {
        let text = esc(&nw[n.clone()].concat());
        if nk[n].iter().any(|k| !k.is_empty()) {
            let _ = write!(out, "<ins>{text}</ins>");
        } else {
            out.push_str(&text);
        }
    };
    for op in capture_diff_slices(Algorithm::Myers, &ok, &nk) {
        let (o, n) = (op.old_range(), op.new_range());
        match op.tag() {
            DiffTag::Equal => {
                for (a, b) in ow[o].iter().zip(&nw[n]) {
                    if a == b || b.trim().is_empty() {
                        out.push_str(&esc(b));
                    } else {
                        let _ = write!(
                            out,
                            r#"<span class="norm" title="{}">{}</span>"#,
                            esc(a),
                            esc(b)
                        );
                    }
                }
            }
            DiffTag::Delete => del(&mut out, o),
            DiffTag::Insert => ins(&mut out, n),
            DiffTag::Replace => {
                del(&mut out, o);
                ins(&mut out, n);
            }
        }
    }
    out
}

fn evidence(e: Option<&Evidence>) -> String {
    let Some(e) = e else {
        return "written by hand".to_string();
    };
    let Ok(serde_json::Value::Object(map)) = serde_json::to_value(e) else {
        return String::new();
    };
    if map.keys().all(|k| k == "stories") {
        return format!("seen in {} stories (no further evidence kept)", e.stories);
    }
    map.iter()
        .filter(|(k, _)| k.as_str() != "stories")
        .map(|(k, v)| match v {
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(f) if n.is_f64() => format!("{} {:.2}", k.replace('_', " "), f),
                _ => format!("{} {n}", k.replace('_', " ")),
            },
            serde_json::Value::String(s) => format!("{} {s}", k.replace('_', " ")),
            v => format!("{} {v}", k.replace('_', " ")),
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// Bytes of a rule's line or example shown.
const RULE_TEXT_SHOWN: usize = 300;

fn rules(h: &mut String, review: &Review) {
    let Some(r) = &review.rules else { return };
    let total = r.lines.len() + r.templates.len() + r.markers.len();
    let listed = [r.lines.len(), r.templates.len(), r.markers.len()]
        .iter()
        .map(|&k| k.min(super::RULES_SHOWN))
        .sum::<usize>();
    let _ = write!(
        h,
        r#"<section id="rules"><h2>Boilerplate rules</h2><p>{} line, {} template and {} marker rules{}. “Stories” counts distinct stories the rule was seen in when learned (copies of one story count once); the evidence is what made it boilerplate rather than the page's own text (docs/boilerplate.md). {}</p><p><input type="search" id="rule-filter" placeholder="filter rules" aria-label="filter rules"> <span id="rules-shown" class="muted">{listed} rules listed</span></p>"#,
        r.lines.len(),
        r.templates.len(),
        r.markers.len(),
        r.learned_from.as_ref().map_or(String::new(), |f| format!(
            ", learned from {} documents ({} stories; a rule needs {} stories)",
            f.documents, f.stories, f.required_stories
        )),
        if listed < total {
            format!(
                "Listed: the first {} of each kind (the rules file holds all {total}).",
                super::RULES_SHOWN
            )
        } else {
            "Every rule is listed.".to_string()
        }
    );
    h.push_str("<table><thead><tr><th>kind</th><th>line or pattern</th><th>stories</th><th>evidence</th><th>examples</th></tr></thead><tbody>");
    // Rule lines and examples are cut, so the page stays small whatever was learned.
    let row = |h: &mut String, kind: &str, text: &str, stories: u64, ev: String, ex: &[String]| {
        let _ = write!(
            h,
            r#"<tr><td>{kind}</td><td dir="auto">{}</td><td class="num">{stories}</td><td>{}</td><td dir="auto">{}</td></tr>"#,
            esc(super::cut(text, RULE_TEXT_SHOWN)),
            esc(&ev),
            ex.iter()
                .take(3)
                .map(|e| esc(super::cut(e, RULE_TEXT_SHOWN)))
                .collect::<Vec<_>>()
                .join("<br>")
        );
    };
    for l in r.lines.iter().take(super::RULES_SHOWN) {
        row(
            h,
            "line",
            &l.line,
            l.stories,
            evidence(l.evidence.as_ref()),
            &l.examples,
        );
    }
    for t in r.templates.iter().take(super::RULES_SHOWN) {
        let kind = format!("template: {:?}", t.kind).to_lowercase();
        let pattern = match t.kind {
            TemplateKind::Related => "(a line of other headlines with two or more relative times)",
            _ => t.pattern.as_str(),
        };
        row(
            h,
            &kind,
            pattern,
            t.stories,
            evidence(t.evidence.as_ref()),
            &t.examples,
        );
    }
    for m in r.markers.iter().take(super::RULES_SHOWN) {
        row(
            h,
            "marker",
            &m.line,
            m.stories,
            evidence(m.evidence.as_ref()),
            &[],
        );
    }
    h.push_str("</tbody></table></section>");
}

fn rule_name(k: LineRuleKind) -> &'static str {
    match k {
        LineRuleKind::Line => "line rule",
        LineRuleKind::Label => "label template",
        LineRuleKind::Masked => "masked template",
        LineRuleKind::Related => "related headlines",
        LineRuleKind::Marker => "marker line",
        LineRuleKind::MarkerCut => "marker: cuts the rest",
        LineRuleKind::AfterMarker => "after the marker",
    }
}

/// The text as read with the removed lines struck through and named by rule.
fn struck(v: &DocView) -> String {
    let mut out = String::with_capacity(v.text.len() * 2);
    let mut pos = 0;
    for l in &v.removed {
        let (a, b) = (l.start.max(pos), l.end.min(v.text.len()));
        if a >= b {
            continue;
        }
        out.push_str(&esc(&v.text[pos..a]));
        let _ = write!(
            out,
            r#"<span class="removed" title="{}">{}</span><span class="tag">{}</span>"#,
            rule_name(l.rule),
            esc(v.text[a..b].trim_end_matches(['\n', '\r'])),
            rule_name(l.rule)
        );
        if v.text[a..b].ends_with('\n') {
            out.push('\n');
        }
        pos = b;
    }
    out.push_str(&esc(&v.text[pos..]));
    out
}

/// The cut note of a sample, and the removed lines past the cut.
fn later(v: &DocView) -> String {
    let mut out = cut_note(v.text.len(), v.bytes);
    if v.removed_later_count > 0 {
        let _ = write!(
            out,
            r#"<div class="later">Removed further on ({} lines):"#,
            v.removed_later_count
        );
        for (line, rule) in &v.removed_later {
            let _ = write!(
                out,
                r#"<br><span class="removed">{}</span><span class="tag">{}</span>"#,
                esc(line),
                rule_name(*rule)
            );
        }
        if v.removed_later_count > v.removed_later.len() {
            let _ = write!(
                out,
                "<br>… and {} more",
                v.removed_later_count - v.removed_later.len()
            );
        }
        out.push_str("</div>");
    }
    out
}

fn samples(h: &mut String, review: &Review) {
    let _ = write!(
        h,
        r##"<section id="samples"><h2>Stripped documents, before and after</h2><p class="muted">Up to {} documents: those that lost more than half of their text first (most lost first), then others spread over the input. Struck-through lines are removed; the tag names the rule. <button data-fold="open" data-target="#samples">open all</button> <button data-fold="close" data-target="#samples">close all</button></p>"##,
        super::STRIP_SAMPLES
    );
    if review.samples.is_empty() {
        h.push_str("<p>No document lost any text.</p>");
    }
    for &d in &review.samples {
        let Some(v) = review.docs.get(&d) else {
            continue;
        };
        // As the samples were picked: removed against removed plus kept.
        let total = v.removed_bytes + v.compared_bytes;
        let share = v.removed_bytes as f64 / total.max(1) as f64;
        let _ = write!(
            h,
            r#"<details class="sample" open><summary>{} · removed {} bytes, kept {} ({:.0}% removed){}</summary><div class="doc"><div class="text" dir="auto">{}{}</div></div></details>"#,
            doc_ref(review, d),
            v.removed_bytes,
            v.compared_bytes,
            share * 100.0,
            if v.removed_bytes * 2 > total {
                r#" <span class="tag warn">lost over half</span>"#
            } else {
                ""
            },
            struck(v),
            later(v)
        );
    }
    h.push_str("</section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_marks_inserted_and_deleted_words() {
        let norm = Normalizer::new(Default::default());
        let d = diff("the cat sat", "the dog sat", &norm);
        assert!(d.contains("<del>cat</del>"), "{d}");
        assert!(d.contains("<ins>dog</ins>"), "{d}");
        assert!(d.starts_with("the "));
        // Differences the run does not see are not changes.
        let d = diff("The Cat, sat", "the cat sat", &norm);
        assert!(!d.contains("<ins>") && !d.contains("<del>"), "{d}");
        assert!(
            d.contains(r#"<span class="norm" title="The">the</span>"#),
            "{d}"
        );
    }
}
