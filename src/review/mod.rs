//! Review: what did a run remove, and why? Histograms over every document, and
//! bounded samples (the largest and the most borderline clusters, documents before
//! and after stripping) with their texts, for the self-contained HTML report
//! (`--html`, [`html::write_html`]).
//!
//! Everything kept here is bounded whatever the corpus size: a fixed number of
//! histogram bins, [`SHOWN_CLUSTERS`] + [`SHOWN_BORDERLINE`] clusters of at most
//! [`COPIES_SHOWN`] copies, [`STRIP_SAMPLES`] stripped documents, texts cut at
//! [`TEXT_SHOWN`] bytes and [`RULES_SHOWN`] rules of each kind. Texts are read by one
//! more pass over the corpus that parses only the chosen records.

use std::collections::BTreeMap;

use bitvec::prelude::*;
use rayon::prelude::*;

use crate::boilerplate::{LineRuleKind, RemovedLine, Rules, Stripper};
use crate::cluster::{Clustering, SIMILARITY_BINS, similarity_bin};
use crate::corpus::{self, Corpus};
use crate::error::RunError;
use crate::lsh::DocId;
use crate::sketch::{DocTable, chunk_bases};

pub mod html;
mod svg;

/// The largest clusters shown.
pub const SHOWN_CLUSTERS: usize = 6;
/// The most borderline clusters shown (lowest similarity of a copy to its kept
/// document), besides the largest.
pub const SHOWN_BORDERLINE: usize = 6;
/// Copies shown per cluster (the least similar first).
pub const COPIES_SHOWN: usize = 3;
/// Documents shown before and after stripping; those that lost more than half of
/// their text first, up to half of them.
pub const STRIP_SAMPLES: usize = 12;
/// Rules listed of each kind (lines, templates, markers).
pub const RULES_SHOWN: usize = 400;
/// Bytes of a text shown (cut at a character boundary).
pub const TEXT_SHOWN: usize = 3000;
/// Removed lines past the shown text that are still listed, per document.
pub const LATER_LINES_SHOWN: usize = 8;
/// Bins of the share of text stripping removed: bin 0 is "nothing", bins 1..=20
/// are (0, 5%], (5, 10%], …, (95, 100%].
pub const REMOVED_BINS: usize = 21;

/// Escape text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// One document as the report shows it.
#[derive(Clone, Debug)]
pub struct DocView {
    pub doc: DocId,
    pub id: String,
    /// The input it came from and its line there (for JSON Lines: the record's line).
    pub input: String,
    pub line: u64,
    /// Bytes of its text as read.
    pub bytes: usize,
    /// Its text as read, cut at [`TEXT_SHOWN`] bytes.
    pub text: String,
    /// The lines stripping removed (those that start in the shown text).
    pub removed: Vec<RemovedLine>,
    /// Bytes stripping removed (all of them).
    pub removed_bytes: usize,
    /// Removed lines that start past the shown text: the first
    /// [`LATER_LINES_SHOWN`] (cut at 200 bytes) with their rule, and how many in all.
    pub removed_later: Vec<(String, LineRuleKind)>,
    pub removed_later_count: usize,
    /// The text the run compared (stripped), cut at [`TEXT_SHOWN`] bytes.
    pub compared: String,
    pub compared_bytes: usize,
}

/// A cluster shown, and why it was picked.
#[derive(Clone, Debug)]
pub struct ClusterView {
    /// `"largest"` or `"borderline"`.
    pub reason: &'static str,
    /// Its position in the clusters file (0-based).
    pub cluster: usize,
    pub size: usize,
    pub keep: DocId,
    /// Copies shown, the least similar first, with their similarity to `keep`.
    pub copies: Vec<(DocId, f64)>,
}

/// What the HTML report shows beyond the JSON report.
#[derive(Clone, Debug, Default)]
pub struct Review {
    /// Documents of this run (document `n + i` is the state's).
    pub documents: usize,
    /// Similarity of every copy to its kept document, in [`SIMILARITY_BINS`] bins.
    pub confirmed: Vec<u64>,
    /// Candidate comparisons below the confirmation floor and similarity checks below
    /// the threshold ([`Clustering::rejected_candidates`], [`Clustering::rejected_checks`]).
    pub rejected: Vec<u64>,
    /// Clusters by size: (label, count).
    pub cluster_sizes: Vec<(String, u64)>,
    /// Documents by share of text removed ([`REMOVED_BINS`]); empty without stripping.
    pub removed_share: Vec<u64>,
    pub clusters: Vec<ClusterView>,
    /// Documents shown before and after stripping, in the order shown.
    pub samples: Vec<DocId>,
    /// Every document shown.
    pub docs: BTreeMap<DocId, DocView>,
    /// The rules the run stripped with.
    pub rules: Option<Rules>,
    /// Ids of the state's documents in the clusters shown (document `n + i`).
    pub history_ids: BTreeMap<DocId, String>,
}

/// Sizes of the cluster-size histogram's bins: (label, smallest, largest).
const SIZE_BINS: [(&str, usize, usize); 8] = [
    ("2", 2, 2),
    ("3", 3, 3),
    ("4", 4, 4),
    ("5–8", 5, 8),
    ("9–16", 9, 16),
    ("17–64", 17, 64),
    ("65–256", 65, 256),
    ("257+", 257, usize::MAX),
];

/// The share-of-text-removed bin of a document that lost `removed` of `total` bytes.
fn removed_bin(removed: u64, total: u64) -> usize {
    if removed == 0 || total == 0 {
        return 0;
    }
    let share = removed as f64 / total as f64;
    ((share * 20.0).ceil() as usize).clamp(1, REMOVED_BINS - 1)
}

/// Gather the review of a run: histograms, the clusters and documents to show, and
/// their texts (one more read of the corpus).
pub fn collect(
    corpus: &Corpus,
    table: &DocTable,
    clustering: &Clustering,
    stripper: Option<&Stripper>,
    rules: Option<&Rules>,
) -> Result<Review, RunError> {
    let n = table.len();
    let mut r = Review {
        documents: n,
        confirmed: vec![0; SIMILARITY_BINS],
        rejected: clustering
            .rejected_checks
            .iter()
            .zip(&clustering.rejected_candidates)
            .map(|(a, b)| a + b)
            .collect(),
        rules: rules.cloned(),
        ..Default::default()
    };
    if r.rejected.len() != SIMILARITY_BINS {
        r.rejected = vec![0; SIMILARITY_BINS];
    }
    let mut sizes = vec![0u64; SIZE_BINS.len()];
    for c in clustering.clusters.iter() {
        for d in &c.duplicates {
            r.confirmed[similarity_bin(d.similarity)] += 1;
        }
        let size = c.duplicates.len() + 1;
        if let Some(i) = SIZE_BINS.iter().position(|b| size >= b.1 && size <= b.2) {
            sizes[i] += 1;
        }
    }
    r.cluster_sizes = SIZE_BINS
        .iter()
        .zip(sizes)
        .map(|(b, c)| (b.0.to_string(), c))
        .collect();
    r.clusters = pick_clusters(clustering);
    for c in &r.clusters {
        for d in std::iter::once(c.keep).chain(c.copies.iter().map(|x| x.0)) {
            if d as usize >= n {
                r.history_ids.insert(d, table.id(d).to_string());
            }
        }
    }
    if stripper.is_some() {
        let (share, samples) = pick_samples(table);
        r.removed_share = share;
        r.samples = samples;
    }
    let mut needed = bitvec![0; n];
    let mut mark = |d: DocId| {
        if (d as usize) < n {
            needed.set(d as usize, true);
        }
    };
    for c in &r.clusters {
        mark(c.keep);
        c.copies.iter().for_each(|&(d, _)| mark(d));
    }
    r.samples.iter().for_each(|&d| mark(d));
    if needed.any() {
        // The id the output and the clusters file give (made up where the record has
        // none).
        r.docs = read_docs(corpus, &needed, |doc, input, line, text| {
            view(doc, table.id(doc).to_string(), input, line, text, stripper)
        })?;
    }
    Ok(r)
}

/// The `k` smallest items of `items` by `key`, in order, holding at most `k` at once.
fn smallest<T, K: Ord>(items: impl Iterator<Item = T>, k: usize, key: impl Fn(&T) -> K) -> Vec<T> {
    let mut best: Vec<(K, T)> = Vec::with_capacity(k + 1);
    for item in items {
        let kk = key(&item);
        if best.len() == k && best.last().is_some_and(|(worst, _)| kk >= *worst) {
            continue;
        }
        let at = best.partition_point(|(x, _)| *x <= kk);
        best.insert(at, (kk, item));
        best.truncate(k);
    }
    best.into_iter().map(|(_, t)| t).collect()
}

/// A similarity as a key that sorts like it (similarities are in [0, 1]).
fn sim_key(s: f64) -> u64 {
    s.clamp(0.0, 1.0).to_bits()
}

/// The largest clusters, then the most borderline of the rest; the clusters are
/// scanned, never sorted, so the working memory does not grow with their number.
fn pick_clusters(clustering: &Clustering) -> Vec<ClusterView> {
    let cs = &clustering.clusters;
    let view = |i: usize, reason: &'static str| {
        let c = cs.get(i);
        let copies = smallest(
            c.duplicates.iter().map(|d| (d.doc, d.similarity)),
            COPIES_SHOWN,
            |&(d, s)| (sim_key(s), d),
        );
        ClusterView {
            reason,
            cluster: i,
            size: c.duplicates.len() + 1,
            keep: c.keep,
            copies,
        }
    };
    let largest = smallest(0..cs.len(), SHOWN_CLUSTERS, |&i| {
        let c = cs.get(i);
        (std::cmp::Reverse(c.duplicates.len()), c.keep)
    });
    let lowest = |i: usize| {
        cs.get(i)
            .duplicates
            .iter()
            .map(|d| d.similarity)
            .fold(f64::INFINITY, f64::min)
    };
    let rest = (0..cs.len()).filter(|i| !largest.contains(i));
    let borderline = smallest(rest, SHOWN_BORDERLINE, |&i| (sim_key(lowest(i)), i));
    let mut out: Vec<ClusterView> = largest.iter().map(|&i| view(i, "largest")).collect();
    out.extend(borderline.into_iter().map(|i| view(i, "borderline")));
    out
}

/// Bytes stripping removed from document `d`, and its length as read (the kept
/// text, trailing whitespace trimmed, plus what was removed).
fn removed_of(table: &DocTable, d: DocId) -> (u64, u64) {
    let removed = table.removed_bytes(d);
    (removed, removed + table.text_bytes[d as usize])
}

/// Documents by share of text removed, and the stripped documents to show: those
/// that lost more than half first (most lost first, up to half of the samples), then
/// others spread evenly over the input. Two scans; the working memory is bounded.
fn pick_samples(table: &DocTable) -> (Vec<u64>, Vec<DocId>) {
    let n = table.len() as DocId;
    let readable = || (0..n).filter(|&d| !table.rejected[d as usize]);
    let mut share = vec![0u64; REMOVED_BINS];
    let mut others = 0usize;
    for d in readable() {
        let (removed, total) = removed_of(table, d);
        share[removed_bin(removed, total)] += 1;
        others += (removed > 0 && removed * 2 <= total) as usize;
    }
    // Most lost first: removed/total descending, compared exactly.
    let over_half = readable().filter_map(|d| {
        let (removed, total) = removed_of(table, d);
        (removed * 2 > total).then_some((removed, total, d))
    });
    let mut samples: Vec<DocId> = smallest(over_half, STRIP_SAMPLES / 2, |&(r, t, d)| {
        (
            std::cmp::Reverse(r as u128 * u64::MAX as u128 / t.max(1) as u128),
            d,
        )
    })
    .into_iter()
    .map(|x| x.2)
    .collect();
    let more = (STRIP_SAMPLES - samples.len()).min(others);
    if more > 0 {
        // The i-th of `more` picks is the (i * others / more)-th such document.
        let mut picks = (0..more).map(|i| i * others / more).peekable();
        let mut k = 0usize;
        for d in readable() {
            let (removed, total) = removed_of(table, d);
            if removed == 0 || removed * 2 > total {
                continue;
            }
            if picks.peek() == Some(&k) {
                samples.push(d);
                picks.next();
            }
            k += 1;
        }
    }
    (share, samples)
}

/// The first `max` bytes of `s`, cut back to a character boundary.
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn view(
    doc: DocId,
    id: String,
    input: String,
    line: u64,
    text: &str,
    stripper: Option<&Stripper>,
) -> DocView {
    let (stripped, removed) = match stripper {
        Some(s) => s.explain(text),
        None => Default::default(),
    };
    let compared = stripped.apply(text);
    let shown = cut(text, TEXT_SHOWN);
    DocView {
        doc,
        id,
        input,
        line,
        bytes: text.len(),
        text: shown.to_string(),
        removed_later: removed
            .iter()
            .filter(|l| l.start >= shown.len())
            .take(LATER_LINES_SHOWN)
            .map(|l| {
                let line = text[l.start..l.end].trim_end_matches(['\n', '\r']);
                (cut(line, 200).to_string(), l.rule)
            })
            .collect(),
        removed_later_count: removed.iter().filter(|l| l.start >= shown.len()).count(),
        removed: removed
            .into_iter()
            .filter(|l| l.start < shown.len())
            .collect(),
        removed_bytes: stripped.bytes_removed() as usize,
        compared: cut(&compared, TEXT_SHOWN).to_string(),
        compared_bytes: compared.len(),
    }
}

/// Read the records marked in `needed` and turn each into a `T` with
/// `f(doc, input name, line, text)`. Records that no longer parse are left out
/// (rejected records are never marked).
pub fn read_docs<T: Send>(
    corpus: &Corpus,
    needed: &BitVec,
    f: impl Fn(DocId, String, u64, &str) -> T + Sync,
) -> Result<BTreeMap<DocId, T>, RunError> {
    let mut out = BTreeMap::new();
    let mut next = 0u64;
    corpus.for_each_group(|chunks| -> Result<(), RunError> {
        let bases = chunk_bases(chunks, next);
        next = bases[bases.len() - 1];
        let found: Vec<Vec<(DocId, T)>> = chunks
            .par_iter()
            .zip(&bases[..chunks.len()])
            .map(|(c, &base)| {
                let spec = &corpus.inputs()[c.source];
                c.records()
                    .enumerate()
                    .filter(|(i, _)| needed.get(base as usize + i).is_some_and(|b| *b))
                    .filter_map(|(i, rec)| {
                        let doc = corpus::parse(&rec, spec.format, corpus.options()).ok()?;
                        let d = (base as usize + i) as DocId;
                        Some((d, f(d, spec.name.clone(), rec.line, &doc.text)))
                    })
                    .collect()
            })
            .collect();
        out.extend(found.into_iter().flatten());
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_bins_cover_nothing_to_all() {
        assert_eq!(removed_bin(0, 100), 0);
        assert_eq!(removed_bin(1, 100), 1);
        assert_eq!(removed_bin(5, 100), 1);
        assert_eq!(removed_bin(6, 100), 2);
        assert_eq!(removed_bin(51, 100), 11);
        assert_eq!(removed_bin(100, 100), 20);
    }

    #[test]
    fn smallest_keeps_the_k_first_in_order() {
        let v = [5, 1, 4, 1, 9, 2, 6];
        assert_eq!(smallest(v.iter().copied(), 3, |&x| x), [1, 1, 2]);
        assert_eq!(smallest(v.iter().copied(), 0, |&x| x), Vec::<i32>::new());
        assert_eq!(
            smallest(v.iter().copied(), 10, |&x| std::cmp::Reverse(x)).len(),
            7
        );
        assert!(sim_key(0.25) < sim_key(0.5) && sim_key(0.5) < sim_key(1.0));
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn cut_keeps_characters_whole() {
        assert_eq!(cut("abc", 10), "abc");
        assert_eq!(cut("ééé", 3), "é");
        assert_eq!(cut("ééé", 4), "éé");
    }
}
