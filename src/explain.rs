//! Explain: why are two documents duplicates, or not, as a run sees them?
//!
//! The run is made as `dedup` or `clean` would make it (the same stripping, sketch
//! pass, candidates and keep/duplicate decisions, nothing written), so the decision
//! is the run's own: two documents are duplicates when they end in one cluster. Then
//! the pair is measured on its own: the lines stripped from each and by which kind of
//! rule, their normalized texts and shingle counts, exact Jaccard and both
//! containments, the MinHash estimate, and the LSH bands their signatures share.

use std::sync::Arc;

use bitvec::prelude::*;

use crate::boilerplate::{LineRuleKind, Stripper};
use crate::cluster::{Clustering, Role, cluster_docs_with_components};
use crate::config::{DedupConfig, KeepPolicy, Verify};
use crate::corpus::Corpus;
use crate::error::RunError;
use crate::lsh::{self, DocId};
use crate::minhash;
use crate::review::read_docs;
use crate::shingle;
use crate::sketch::{Buffers, DocTable, Sketch, sketch_corpus};
use crate::state::State;
use crate::verify::{Judged, Verifier};

/// One removed line of a document and the kind of rule that removed it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StrippedLine {
    pub line: String,
    pub rule: LineRuleKind,
    pub by_hand: bool,
}

/// One document of the pair.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExplainedDoc {
    pub id: String,
    /// Input file, line there, and position among the run's documents (0-based).
    pub input: String,
    pub line: u64,
    pub position: u64,
    /// `unique`, `keep`, `duplicate`, `rejected`, `emptied` (by stripping) or
    /// `empty` (no text to compare).
    pub role: &'static str,
    /// The cluster (as numbered in the clusters file) it belongs to.
    pub cluster: Option<u32>,
    /// For a duplicate: the id of the kept document it copies, and their similarity.
    pub duplicate_of: Option<String>,
    pub similarity_to_kept: Option<f64>,
    pub bytes: usize,
    pub stripped_bytes: u64,
    pub stripped_lines: Vec<StrippedLine>,
    /// The text compared, normalized.
    pub normalized: String,
    /// Distinct shingles of the normalized text.
    pub shingles: usize,
}

/// How the pair fares on its own under the run's `--verify`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PairJudgement {
    /// `exact` (Jaccard of the shingle sets) or `estimate` (the signatures).
    pub by: &'static str,
    pub similarity: f64,
    pub at_or_above_threshold: bool,
}

/// The explanation of one pair.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Explanation {
    /// `duplicate` (one cluster in the run) or `distinct`.
    pub decision: &'static str,
    pub reason: String,
    pub command: &'static str,
    pub threshold: f64,
    pub verify: &'static str,
    pub keep: &'static str,
    pub exact_jaccard: f64,
    /// |A ∩ B| / |A| and |A ∩ B| / |B| of the shingle sets.
    pub containment_a_in_b: f64,
    pub containment_b_in_a: f64,
    /// MinHash estimate from the two signatures (none when one has no shingles).
    pub estimated_jaccard: Option<f64>,
    pub bands_shared: usize,
    pub bands: usize,
    pub rows: usize,
    /// Probability that a pair at the exact Jaccard shares at least one band.
    pub candidate_probability: f64,
    /// The pair judged alone (candidates below the confirmation floor are not).
    pub judged: Option<PairJudgement>,
    pub documents: [ExplainedDoc; 2],
}

/// What the run was: `dedup` (texts as read) or `clean` (stripped with `stripper`).
pub struct ExplainRun<'a> {
    pub command: &'static str,
    pub stripper: Option<Arc<Stripper>>,
    pub state: Option<&'a State>,
}

/// Explain the pair with ids `ids` as `run` sees it in `corpus`. An id that no record
/// has is an error; when several records share an id, the first is taken.
pub fn explain(
    corpus: &Corpus,
    cfg: &DedupConfig,
    run: ExplainRun<'_>,
    ids: [&str; 2],
) -> Result<Explanation, RunError> {
    let mut sk = Sketch::new(cfg).with_stripper(run.stripper.clone());
    sk.signatures = true;
    sk.text_hashes = run.state.is_some();
    let progress = indicatif::ProgressBar::hidden();
    let mut table = sketch_corpus(corpus, cfg, &sk, &progress, None)?;
    let find = |id: &str| {
        (0..table.len() as DocId)
            .find(|&d| table.id(d) == id)
            .ok_or_else(|| RunError::Outputs(format!("no document has the id {id:?}")))
    };
    let (a, b) = (find(ids[0])?, find(ids[1])?);
    if a == b {
        return Err(RunError::Outputs(format!(
            "--ids names the same document twice ({:?})",
            ids[0]
        )));
    }
    for d in [a, b] {
        if table.rejected[d as usize] {
            return Err(RunError::Outputs(format!(
                "the record of {:?} could not be read (rejected under --skip-bad-records): there is nothing to compare",
                table.id(d)
            )));
        }
    }
    let mut clustering = cluster_docs_with_components(corpus, cfg, &sk, &table, run.state)?;
    table.history_ids = std::mem::take(&mut clustering.history.ids);

    let mut needed = bitvec![0; table.len()];
    needed.set(a as usize, true);
    needed.set(b as usize, true);
    let read = read_docs(corpus, &needed, |_, input, line, text| {
        measure(&sk, run.stripper.as_deref(), input, line, text)
    })?;
    let get = |d: DocId| {
        read.get(&d).cloned().ok_or_else(|| {
            RunError::Outputs(format!(
                "the record of {:?} could not be read again",
                table.id(d)
            ))
        })
    };
    let (ma, mb) = (get(a)?, get(b)?);
    // Two empty sets are not alike: nothing was compared.
    let exact = if ma.set.is_empty() || mb.set.is_empty() {
        0.0
    } else {
        shingle::jaccard(&ma.set, &mb.set)
    };
    let sigs = table.signatures();
    let signed = |d: DocId| sigs.active[d as usize];
    let estimate = (signed(a) && signed(b)).then(|| minhash::estimate(sigs.get(a), sigs.get(b)));
    let p = cfg.lsh;
    let bands_shared = if signed(a) && signed(b) {
        (0..p.bands)
            .filter(|&band| {
                lsh::band_key(sigs.get(a), band, p.rows, cfg.seed)
                    == lsh::band_key(sigs.get(b), band, p.rows, cfg.seed)
            })
            .count()
    } else {
        0
    };
    let verifier = Verifier::new(cfg);
    let judged = estimate.map(|est| {
        let (j, s) = verifier.judge_measured(est, || Some((&ma.set[..], &mb.set[..])));
        PairJudgement {
            by: if matches!(j, Judged::Exact(_)) {
                "exact"
            } else {
                "estimate"
            },
            similarity: s,
            at_or_above_threshold: j.similarity().is_some(),
        }
    });
    let same = cluster_of(&clustering, a).is_some()
        && cluster_of(&clustering, a) == cluster_of(&clustering, b);
    let facts = Facts {
        table: &table,
        clustering: &clustering,
        cfg,
        verifier: &verifier,
        estimate,
        bands_shared,
        judged: judged.as_ref(),
    };
    let reason = facts.reason(a, b, same);
    Ok(Explanation {
        decision: if same { "duplicate" } else { "distinct" },
        reason,
        command: run.command,
        threshold: cfg.threshold,
        verify: match cfg.verify {
            Verify::Estimate => "estimate",
            Verify::Auto => "auto",
            Verify::Exact => "exact",
        },
        keep: cfg.keep.as_str(),
        exact_jaccard: exact,
        containment_a_in_b: shingle::containment(&ma.set, &mb.set),
        containment_b_in_a: shingle::containment(&mb.set, &ma.set),
        estimated_jaccard: estimate,
        bands_shared,
        bands: p.bands,
        rows: p.rows,
        candidate_probability: lsh::detection_probability(exact, p),
        judged,
        documents: [
            explained_doc(&table, &clustering, a, ma),
            explained_doc(&table, &clustering, b, mb),
        ],
    })
}

/// A document of the pair: its place in the run, and as measured.
fn explained_doc(table: &DocTable, clustering: &Clustering, d: DocId, m: Measured) -> ExplainedDoc {
    let (role, duplicate_of, similarity) =
        match clustering.roles.get(d as usize).unwrap_or(Role::Unique) {
            Role::Unique if !table.active[d as usize] => ("empty", None, None),
            Role::Unique => ("unique", None, None),
            Role::Keep { .. } => ("keep", None, None),
            Role::Duplicate { of, similarity, .. } => (
                "duplicate",
                Some(table.id(of).to_string()),
                Some(similarity),
            ),
            Role::Rejected => ("rejected", None, None),
            Role::Emptied => ("emptied", None, None),
        };
    ExplainedDoc {
        id: table.id(d).to_string(),
        input: m.input,
        line: m.line,
        position: d as u64,
        role,
        cluster: cluster_of(clustering, d),
        duplicate_of,
        similarity_to_kept: similarity,
        bytes: m.bytes,
        stripped_bytes: m.stripped_bytes,
        stripped_lines: m.lines,
        normalized: m.normalized,
        shingles: m.set.len(),
    }
}

/// The cluster of a kept or duplicate document.
fn cluster_of(c: &Clustering, d: DocId) -> Option<u32> {
    match c.roles.get(d as usize).unwrap_or(Role::Unique) {
        Role::Keep { cluster } | Role::Duplicate { cluster, .. } => Some(cluster),
        _ => None,
    }
}

/// One document measured as the run prepares it.
#[derive(Clone)]
struct Measured {
    input: String,
    line: u64,
    bytes: usize,
    stripped_bytes: u64,
    lines: Vec<StrippedLine>,
    normalized: String,
    set: Vec<u64>,
}

fn measure(
    sk: &Sketch,
    stripper: Option<&Stripper>,
    input: String,
    line: u64,
    text: &str,
) -> Measured {
    let mut buf = Buffers::default();
    let lines = stripper.map_or_else(Vec::new, |s| {
        s.explain(text)
            .1
            .into_iter()
            .map(|l| StrippedLine {
                line: text[l.start..l.end]
                    .trim_end_matches(['\n', '\r'])
                    .to_string(),
                rule: l.rule,
                by_hand: l.by_hand,
            })
            .collect()
    });
    let (prepared, stripped) = sk.prepare(text, &mut buf);
    let normalized = sk.normalizer.normalize(&prepared);
    let set = sk.shingle_set(&prepared, &mut buf);
    Measured {
        input,
        line,
        bytes: text.len(),
        stripped_bytes: stripped.bytes_removed(),
        lines,
        normalized,
        set,
    }
}

/// What the reason is written from.
struct Facts<'a> {
    table: &'a DocTable,
    clustering: &'a Clustering,
    cfg: &'a DedupConfig,
    verifier: &'a Verifier,
    estimate: Option<f64>,
    bands_shared: usize,
    judged: Option<&'a PairJudgement>,
}

impl Facts<'_> {
    fn id(&self, d: DocId) -> String {
        format!("{:?}", self.table.id(d))
    }

    fn keep_policy(&self) -> &'static str {
        match self.cfg.keep {
            KeepPolicy::First => "the first in input order is kept (--keep first)",
            KeepPolicy::Longest => "the longest text is kept (--keep longest)",
        }
    }

    fn judged_text(&self) -> String {
        match self.judged {
            Some(j) => format!(
                "{} similarity {:.4} {} the threshold {}",
                j.by,
                j.similarity,
                if j.at_or_above_threshold {
                    "is at or above"
                } else {
                    "is below"
                },
                self.cfg.threshold
            ),
            None => "no signature to compare".to_string(),
        }
    }

    /// The component (of confirmed candidates) holding document `d`.
    fn component(&self, d: DocId) -> Option<usize> {
        let comps = &self.clustering.components;
        comps.iter().position(|c| c.binary_search(&d).is_ok())
    }

    /// Why the run put the pair in one cluster (`same`) or not.
    fn reason(&self, a: DocId, b: DocId, same: bool) -> String {
        let roles = &self.clustering.roles;
        let role = |d: DocId| roles.get(d as usize).unwrap_or(Role::Unique);
        let (ra, rb) = (role(a), role(b));
        if same {
            return match (ra, rb) {
                (Role::Duplicate { of, .. }, _) if of == b => format!(
                    "{} is kept and {} is dropped as its copy: {}; {}",
                    self.id(b),
                    self.id(a),
                    self.judged_text(),
                    self.keep_policy()
                ),
                (_, Role::Duplicate { of, .. }) if of == a => format!(
                    "{} is kept and {} is dropped as its copy: {}; {}",
                    self.id(a),
                    self.id(b),
                    self.judged_text(),
                    self.keep_policy()
                ),
                (
                    Role::Duplicate {
                        of, similarity: sa, ..
                    },
                    Role::Duplicate { similarity: sb, .. },
                ) => format!(
                    "both are dropped as copies of the kept document {} (similarity {:.4} and {:.4}); between themselves, {}",
                    self.id(of),
                    sa,
                    sb,
                    self.judged_text()
                ),
                _ => format!("they are in one cluster; {}", self.judged_text()),
            };
        }
        for (d, r) in [(a, ra), (b, rb)] {
            match r {
                Role::Rejected => return format!("{} could not be read", self.id(d)),
                Role::Emptied => {
                    return format!(
                        "stripping left {} empty (or under --min-chars): it is never compared",
                        self.id(d)
                    );
                }
                Role::Unique if !self.table.active[d as usize] => {
                    return format!(
                        "{} has no shingles to compare (too short after normalizing)",
                        self.id(d)
                    );
                }
                _ => {}
            }
        }
        let est = self.estimate.unwrap_or(0.0);
        let component = |d: DocId| self.component(d);
        let (bands, floor) = (self.cfg.lsh.bands, self.verifier.floor);
        if component(a).is_none() || component(a) != component(b) {
            if self.bands_shared == 0 {
                return format!(
                    "never candidates: their signatures share none of the {bands} LSH bands (estimate {est:.4}); {}",
                    self.judged_text()
                );
            }
            if est < floor {
                return format!(
                    "candidates (sharing {} of {bands} bands), but the estimate {est:.4} is below the confirmation floor {floor:.4}",
                    self.bands_shared
                );
            }
            return format!(
                "they share {} of {bands} bands and the estimate {est:.4} clears the confirmation floor {floor:.4}, but they were never linked: in a bucket each document is compared with at most {} representatives and links to the first that confirms it, and their links led to different components; between themselves, {}",
                self.bands_shared,
                lsh::MAX_BUCKET_REPS,
                self.judged_text()
            );
        }
        let guard = "a document is dropped only for a kept document it is itself similar to, never for a copy";
        let size = component(a).map_or(0, |c| self.clustering.components.get(c).len());
        match (ra, rb) {
            _ if size == 2 && self.judged.is_some_and(|j| !j.at_or_above_threshold) => format!(
                "candidates whose estimate {est:.4} cleared the confirmation floor {floor:.4}, but verified, {}",
                self.judged_text()
            ),
            _ if self.judged.is_some_and(|j| !j.at_or_above_threshold) => format!(
                "in one component of {size} documents, linked through others, but between themselves {}; {guard}",
                self.judged_text()
            ),
            (Role::Duplicate { of: x, .. }, Role::Duplicate { of: y, .. }) => format!(
                "in one component, but each copy joins the kept document it is most similar to: {} went to {} and {} to {}; between themselves, {}",
                self.id(a),
                self.id(x),
                self.id(b),
                self.id(y),
                self.judged_text()
            ),
            (Role::Duplicate { of, similarity, .. }, _)
            | (_, Role::Duplicate { of, similarity, .. }) => {
                let (copy, kept) = if matches!(ra, Role::Duplicate { .. }) {
                    (a, b)
                } else {
                    (b, a)
                };
                format!(
                    "{} is dropped as a copy of {} (similarity {similarity:.4}), the most similar kept document when it was assigned; {} is not similar enough to {} to be dropped for it, so it is kept ({guard}); between themselves, {}",
                    self.id(copy),
                    self.id(of),
                    self.id(kept),
                    self.id(of),
                    self.judged_text()
                )
            }
            _ => format!(
                "both are kept although, measured here, {}: under --verify auto a borderline pair whose shingle sets were not re-read in time is left to the estimate (the report's verification.decided_by_estimate)",
                self.judged_text()
            ),
        }
    }
}
