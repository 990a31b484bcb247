//! Verify: is a candidate pair a duplicate, by the estimate or by exact Jaccard?

use std::io;

use bitvec::prelude::*;
use rayon::prelude::*;

use crate::config::{DedupConfig, Verify};
use crate::corpus::{self, Corpus};
use crate::error::{RunError, spill_err};
use crate::lsh::DocId;
use crate::minhash::{self};
use crate::shingle::{self};
use crate::sketch::{Buffers, Sketch, chunk_bases};
use crate::spill::SpillVec;

/// Rounds of re-reading the corpus for borderline pairs under `--verify auto`.
pub const MAX_VERIFY_ROUNDS: u32 = 4;

/// What exact verification did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct VerifyStats {
    /// Assignment rounds (more than one when `auto` had to fetch shingle sets).
    pub rounds: u32,
    /// Shingle sets rebuilt from the input.
    pub shingle_sets: u64,
    /// Pairs whose similarity was computed exactly (in the final round).
    pub exact_checks: u64,
    /// Documents of borderline pairs left to the estimate after the last round.
    pub decided_by_estimate: u64,
}

/// How far below the threshold a signature estimate may fall and still be checked
/// exactly: three standard errors at the threshold.
pub fn exact_slack(threshold: f64, k: usize) -> f64 {
    3.0 * minhash::standard_error(threshold, k)
}

/// How a pair of this run's documents is judged under `--verify`: the thresholds, and
/// the decision from the signature estimate and, where needed, the shingle sets.
/// `clean` and the stage commands share it, so they decide every pair alike.
#[derive(Clone, Copy, Debug)]
pub struct Verifier {
    pub verify: Verify,
    pub threshold: f64,
    /// Candidates estimated below this are not edges.
    pub floor: f64,
    slack: f64,
}

/// A [`Verifier`]'s decision on a pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Judged {
    /// Decided: the similarity, or `None` below the threshold.
    Decided(Option<f64>),
    /// Decided by exact Jaccard of the shingle sets.
    Exact(Option<f64>),
    /// Exact Jaccard was needed but the sets were not given: decided by the estimate
    /// for now (fetch the sets and judge again).
    Missing(Option<f64>),
}

impl Judged {
    pub fn similarity(self) -> Option<f64> {
        match self {
            Judged::Decided(s) | Judged::Exact(s) | Judged::Missing(s) => s,
        }
    }
}

impl Verifier {
    pub fn new(cfg: &DedupConfig) -> Verifier {
        let slack = exact_slack(cfg.threshold, cfg.num_perm);
        let floor = match cfg.verify {
            Verify::Estimate => cfg.threshold,
            Verify::Auto | Verify::Exact => (cfg.threshold - slack).max(0.0),
        };
        Verifier {
            verify: cfg.verify,
            threshold: cfg.threshold,
            floor,
            slack,
        }
    }

    /// Judge a pair with signature estimate `est`; `sets` gives the pair's shingle sets
    /// when known, and is only asked when the estimate does not decide.
    pub fn judge<'s>(
        &self,
        est: f64,
        sets: impl FnOnce() -> Option<(&'s [u64], &'s [u64])>,
    ) -> Judged {
        self.judge_measured(est, sets).0
    }

    /// [`Verifier::judge`], and the similarity it judged by: the exact Jaccard where
    /// it was computed, else the estimate.
    pub fn judge_measured<'s>(
        &self,
        est: f64,
        sets: impl FnOnce() -> Option<(&'s [u64], &'s [u64])>,
    ) -> (Judged, f64) {
        let at_least = |s: f64| (s >= self.threshold).then_some(s);
        match self.verify {
            Verify::Estimate => return (Judged::Decided(at_least(est)), est),
            Verify::Auto if est < self.floor => return (Judged::Decided(None), est),
            Verify::Auto if est >= self.threshold + self.slack => {
                return (Judged::Decided(Some(est)), est);
            }
            _ => {}
        }
        match sets() {
            Some((x, y)) => {
                let j = shingle::jaccard(x, y);
                (Judged::Exact(at_least(j)), j)
            }
            None => (Judged::Missing(at_least(est)), est),
        }
    }
}

/// The shingle sets exact verification read back from the corpus, one part per read
/// (a document is in one part at most). Each part keeps its sets in document order in
/// [`SpillVec`]s, so under `--mem-limit` they go to temporary files past their budget
/// and are looked up in place.
#[derive(Default)]
pub struct ShingleSets {
    parts: Vec<SetPart>,
}

/// The sets of one read: `docs` ascending, set `i` is
/// `shingles[ends[i - 1]..ends[i]]`.
pub struct SetPart {
    docs: SpillVec<DocId>,
    ends: SpillVec<u64>,
    shingles: SpillVec<u64>,
}

impl SetPart {
    /// An empty part whose shingles keep at most `shingle_budget` bytes in memory and
    /// whose index at most `column_budget` bytes per column.
    pub fn new(cfg: &DedupConfig) -> SetPart {
        SetPart {
            docs: SpillVec::new(cfg.column_budget(), cfg.spill_dir().named("shingle sets")),
            ends: SpillVec::new(cfg.column_budget(), cfg.spill_dir().named("shingle sets")),
            shingles: SpillVec::new(
                cfg.shingle_set_budget(),
                cfg.spill_dir().named("shingle sets"),
            ),
        }
    }

    /// Append the set of `doc`, which must follow every document added before.
    pub fn push(&mut self, doc: DocId, set: &[u64]) -> io::Result<()> {
        debug_assert!(self.docs.last().is_none_or(|&d| d < doc));
        self.shingles.extend_from_slice(set)?;
        self.docs.push(doc)?;
        self.ends.push(self.shingles.len() as u64)
    }

    /// Done adding: spilled columns are mapped for reading.
    pub fn finish(&mut self) -> io::Result<()> {
        self.docs.finish()?;
        self.ends.finish()?;
        self.shingles.finish()
    }

    fn get(&self, doc: DocId) -> Option<&[u64]> {
        let i = self.docs.binary_search(&doc).ok()?;
        let start = i.checked_sub(1).map_or(0, |p| self.ends[p]) as usize;
        Some(&self.shingles[start..self.ends[i] as usize])
    }
}

impl ShingleSets {
    pub fn add(&mut self, part: SetPart) {
        self.parts.push(part);
    }

    /// The set of `doc`, when read.
    pub fn get(&self, doc: DocId) -> Option<&[u64]> {
        self.parts.iter().find_map(|p| p.get(doc))
    }

    pub fn contains(&self, doc: DocId) -> bool {
        self.get(doc).is_some()
    }

    /// Documents whose sets were read.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.docs.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Chunks read per thread before their sets are put together.
const SET_CHUNKS_PER_THREAD: usize = 4;

/// Rebuild the shingle sets of the documents marked in `needed` (for exact
/// verification) by reading the corpus again. `starts` holds where each document's
/// record starts in its chunk ([`crate::sketch::DocTable::record_starts`]): in a
/// mapped input only the needed records are read, else the chunk is read through.
pub fn collect_sets(
    corpus: &Corpus,
    cfg: &DedupConfig,
    sk: &Sketch,
    needed: &BitVec,
    starts: &[u32],
) -> Result<SetPart, RunError> {
    let mut sets = SetPart::new(cfg);
    let mut next = 0u64;
    corpus.for_each_group(|chunks| -> Result<(), RunError> {
        let bases = chunk_bases(chunks, next);
        next = bases[bases.len() - 1];
        // A few chunks per thread at a time: sets wait to be copied into `sets` for
        // one batch, not for the whole group, and the next batch reuses their room.
        let batch = SET_CHUNKS_PER_THREAD * rayon::current_num_threads();
        for (chunks, bases) in chunks.chunks(batch).zip(bases.chunks(batch)) {
            let found: Vec<Vec<(DocId, Vec<u64>)>> = (chunks.par_iter().zip(bases))
                .map(|(c, &base)| chunk_sets(corpus, sk, needed, starts, c, base as usize))
                .collect();
            for (d, set) in found.into_iter().flatten() {
                sets.push(d, &set).map_err(spill_err)?;
            }
        }
        Ok(())
    })?;
    sets.finish().map_err(spill_err)?;
    Ok(sets)
}

/// The sets of the needed documents of chunk `c`, whose first document is `base`.
fn chunk_sets(
    corpus: &Corpus,
    sk: &Sketch,
    needed: &BitVec,
    starts: &[u32],
    c: &corpus::Chunk<'_>,
    base: usize,
) -> Vec<(DocId, Vec<u64>)> {
    let mut buf = Buffers::default();
    let format = corpus.inputs()[c.source].format;
    let mut set_of = |i: usize, rec: &corpus::Record<'_>| {
        let doc = corpus::parse(rec, format, corpus.options()).ok()?;
        let (text, _) = sk.prepare(&doc.text, &mut buf);
        Some(((base + i) as DocId, sk.shingle_set(&text, &mut buf)))
    };
    let wanted = needed.get(base..base + c.records as usize);
    // Every needed record where it was seen, or the chunk is read through.
    let at = |i: usize| match starts.get(base + i) {
        Some(&start) if start != u32::MAX => c.record_at(start as usize),
        _ => None,
    };
    let direct = wanted.filter(|_| corpus.is_mapped(c.source)).and_then(|w| {
        (w.iter_ones())
            .map(|i| Some((i, at(i)?)))
            .collect::<Option<Vec<_>>>()
    });
    match direct {
        Some(records) => (records.iter())
            .filter_map(|(i, rec)| set_of(*i, rec))
            .collect(),
        None => (c.records().enumerate())
            .filter(|(i, _)| needed.get(base + i).is_some_and(|b| *b))
            .filter_map(|(i, rec)| set_of(i, &rec))
            .collect(),
    }
}
