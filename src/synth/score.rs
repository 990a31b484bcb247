//! Scores: how well `dedup` and `clean` did on a generated corpus, against its truth.

use std::io::{self};

use super::*;

/// Read a JSON Lines file into values (for the scoring examples and tests).
pub fn read_json_lines(path: &std::path::Path) -> io::Result<Vec<serde_json::Value>> {
    let data = std::fs::read_to_string(path)?;
    data.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(io::Error::other))
        .collect()
}

/// Pair precision and recall of a clustering against exact-Jaccard ground truth.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PairScore {
    /// Pairs whose exact Jaccard is at or above the threshold (searched within each
    /// planted family; unrelated stories share no text).
    pub true_pairs: u64,
    /// Duplicate decisions: (member, kept document) pairs.
    pub decisions: u64,
    /// Decisions whose exact Jaccard reaches the threshold.
    pub correct_decisions: u64,
    /// correct_decisions / decisions: how often a dropped document really is a
    /// near-duplicate of the document kept in its place.
    pub precision: f64,
    /// Share of true pairs whose two documents end in one cluster.
    pub recall: f64,
    /// Share of all pairs inside clusters (member with member too) that are true
    /// pairs: stricter than `precision`, since two copies edited differently can both
    /// be similar to the original yet not to each other.
    pub all_pairs_precision: f64,
}

/// Score clusters (kept id, member ids) against a generated corpus: ground truth is
/// every pair within one family whose exact Jaccard similarity, computed with `sketch`
/// (the run's normalizer and shingler), is at least `threshold`.
pub fn score_pairs(
    texts: &std::collections::HashMap<String, String>,
    truth: &[TruthRow],
    clusters: &[(String, Vec<String>)],
    sketch: &crate::sketch::Sketch,
    threshold: f64,
) -> PairScore {
    use std::collections::{HashMap, HashSet};
    let mut buf = crate::sketch::Buffers::default();
    let mut sets: HashMap<&str, Vec<u64>> = HashMap::new();
    for (id, text) in texts {
        sets.insert(id, sketch.shingle_set(text, &mut buf));
    }
    let similar = |a: &str, b: &str| match (sets.get(a), sets.get(b)) {
        (Some(x), Some(y)) => crate::shingle::jaccard(x, y) >= threshold,
        _ => false,
    };
    let key = |a: &str, b: &str| {
        if a < b {
            (a.to_string(), b.to_string())
        } else {
            (b.to_string(), a.to_string())
        }
    };
    let mut families: HashMap<u64, Vec<&str>> = HashMap::new();
    for r in truth {
        families.entry(r.family).or_default().push(&r.id);
    }
    let mut true_pairs: HashSet<(String, String)> = HashSet::new();
    for members in families.values() {
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                if similar(a, b) {
                    true_pairs.insert(key(a, b));
                }
            }
        }
    }
    let (mut decisions, mut correct) = (0u64, 0u64);
    let (mut all_pairs, mut all_correct, mut found) = (0u64, 0u64, 0u64);
    for (keep, members) in clusters {
        for m in members.iter().filter(|m| *m != keep) {
            decisions += 1;
            correct += similar(m, keep) as u64;
        }
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                all_pairs += 1;
                let t = true_pairs.contains(&key(a, b));
                found += t as u64;
                all_correct += (t || similar(a, b)) as u64;
            }
        }
    }
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    PairScore {
        true_pairs: true_pairs.len() as u64,
        decisions,
        correct_decisions: correct,
        precision: ratio(correct, decisions),
        recall: ratio(found, true_pairs.len() as u64),
        all_pairs_precision: ratio(all_correct, all_pairs),
    }
}

/// For every non-blank line of an annotated record's text (split on `\n`), its index
/// and whether `dupstrip.boilerplate` removed it (the range holds its first byte).
pub fn stripped_lines(rec: &serde_json::Value) -> Vec<(usize, bool)> {
    let text = rec["text"].as_str().unwrap_or("");
    let ranges: Vec<(usize, usize)> = rec["dupstrip"]["boilerplate"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| Some((r[0].as_u64()? as usize, r[1].as_u64()? as usize)))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut pos = 0;
    for (i, line) in text.split('\n').enumerate() {
        let start = pos;
        pos += line.len() + 1;
        if !line.trim().is_empty() {
            out.push((i, ranges.iter().any(|&(a, b)| start >= a && start < b)));
        }
    }
    out
}

/// How well `clean` did on a `--boilerplate` corpus.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CleanScore {
    pub boilerplate_line_precision: f64,
    pub boilerplate_line_recall: f64,
    pub boilerplate_lines_true: u64,
    /// Lines of syndicated stories (families of two or more) stripped although they
    /// are not boilerplate.
    pub syndicated_body_lines_stripped: u64,
    pub pair_precision: f64,
    pub pair_recall: f64,
    pub pair_f1: f64,
    pub true_pairs: u64,
    pub predicted_pairs: u64,
}

/// Score `clean --mode annotate` records against the truth of [`generate_news`]:
/// boilerplate lines against `dupstrip.boilerplate` ranges, and pairs of one family
/// against pairs of one `dupstrip.cluster`.
pub fn score_clean(truth: &[TruthRow], annotated: &[serde_json::Value]) -> CleanScore {
    use std::collections::{HashMap, HashSet};
    let truth: HashMap<String, &TruthRow> = truth.iter().map(|r| (r.id.clone(), r)).collect();
    let family_size: HashMap<u64, usize> = truth.values().fold(HashMap::new(), |mut m, r| {
        *m.entry(r.family).or_default() += 1;
        m
    });
    let (mut tp, mut fp, mut fn_, mut body_stripped) = (0u64, 0u64, 0u64, 0u64);
    let mut cluster_of: HashMap<String, i64> = HashMap::new();
    for rec in annotated {
        let id = rec["id"].as_str().expect("id").to_string();
        let Some(t) = truth.get(&id) else { continue };
        let truth_lines: HashSet<usize> = t.boilerplate_lines.iter().copied().collect();
        for (i, stripped) in stripped_lines(rec) {
            match (stripped, truth_lines.contains(&i)) {
                (true, true) => tp += 1,
                (true, false) => {
                    fp += 1;
                    if family_size[&t.family] > 1 {
                        body_stripped += 1;
                    }
                }
                (false, true) => fn_ += 1,
                _ => {}
            }
        }
        let c = rec["dupstrip"]["cluster"].as_i64().unwrap_or(-1);
        cluster_of.insert(id, c);
    }
    // Pairs: same family (truth) vs same cluster (prediction).
    let ids: Vec<&String> = cluster_of.keys().collect();
    let mut by_family: HashMap<u64, Vec<&String>> = HashMap::new();
    for id in &ids {
        by_family
            .entry(truth[id.as_str()].family)
            .or_default()
            .push(id);
    }
    let mut by_cluster: HashMap<u64, Vec<&String>> = HashMap::new();
    for (id, &c) in &cluster_of {
        if c >= 0 {
            by_cluster.entry(c as u64).or_default().push(id);
        }
    }
    let pairs = |groups: &HashMap<_, Vec<&String>>| -> HashSet<(String, String)> {
        let mut out = HashSet::new();
        for g in groups.values() {
            for (i, a) in g.iter().enumerate() {
                for b in &g[i + 1..] {
                    let (x, y) = if a < b { (a, b) } else { (b, a) };
                    out.insert((x.to_string(), y.to_string()));
                }
            }
        }
        out
    };
    let true_pairs = pairs(&by_family);
    let pred_pairs = pairs(&by_cluster);
    let correct = pred_pairs.intersection(&true_pairs).count() as f64;
    let p = if pred_pairs.is_empty() {
        1.0
    } else {
        correct / pred_pairs.len() as f64
    };
    let r = if true_pairs.is_empty() {
        1.0
    } else {
        correct / true_pairs.len() as f64
    };
    let f1 = if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    };
    CleanScore {
        boilerplate_line_precision: tp as f64 / (tp + fp).max(1) as f64,
        boilerplate_line_recall: tp as f64 / (tp + fn_).max(1) as f64,
        boilerplate_lines_true: tp + fn_,
        syndicated_body_lines_stripped: body_stripped,
        pair_precision: p,
        pair_recall: r,
        pair_f1: f1,
        true_pairs: true_pairs.len() as u64,
        predicted_pairs: pred_pairs.len() as u64,
    }
}
