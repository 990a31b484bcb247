//! Pipeline: how do the stages run together for `dupstrip dedup`?
//!
//! 1. sketch — one parallel pass over the corpus: parse, normalize, shingle, sign.
//!    Only small per-document values stay in memory (id, text length, signature).
//! 2. candidates — LSH banding and bucket confirmation ([`crate::lsh`]).
//! 3. cluster — components and keep/duplicate decisions ([`crate::cluster`]); with
//!    `--verify exact`, the shingle sets of the documents involved are rebuilt by a
//!    second read of the corpus.
//! 4. write — a last read of the corpus writes the records, unchanged, in input order.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bitvec::prelude::*;
use rayon::prelude::*;

use crate::boilerplate::{self, LearnOptions, Learned, Rules, Stripped, Stripper};
use crate::cluster::{self, Cluster, KeepPolicy};
use crate::config::{DedupConfig, EmptyPolicy, Mode, OutputPaths, Verify};
use crate::corpus::{self, Chunk, Corpus, Format, InputError, Record, RecordError};
use crate::lsh::{self, DocId, Signatures, Slot};
use crate::minhash::{self, Sketcher};
use crate::normalize::Normalizer;
use crate::output::{self, Sink};
use crate::report::{self, Bytes, Counts, InputReport, LshReport, Report, Timings};
use crate::shingle::{self, Shingler};
use crate::spill::SigStore;
use crate::state::{self, State};

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{path}: cannot write: {source}")]
    Write {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}: the output would overwrite an input")]
    OutputIsInput(String),
    #[error("{0}")]
    Outputs(String),
    #[error("too many records: at most {} documents per run", u32::MAX)]
    TooManyDocuments,
    #[error("cannot spill to a temporary file (--mem-limit; choose where with --tmp-dir): {0}")]
    Spill(io::Error),
    #[error(transparent)]
    State(#[from] state::StateError),
}

fn spill_err(e: io::Error) -> RunError {
    RunError::Spill(e)
}

impl RunError {
    /// True when the error is a closed standard output (`| head`): not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, RunError::Write { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

fn write_err(path: &Path) -> impl FnOnce(io::Error) -> RunError + '_ {
    move |source| RunError::Write {
        path: if path.as_os_str() == "-" {
            "<stdout>".into()
        } else {
            path.display().to_string()
        },
        source,
    }
}

/// A record that could not be read, kept for the rejects file.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Reject {
    pub input: String,
    pub line: u64,
    pub reason: String,
    /// The record as read (invalid UTF-8 replaced by U+FFFD).
    pub record: String,
}

/// Per-document values kept between passes.
pub struct DocTable {
    ids: Vec<u8>,
    id_ends: Vec<u64>,
    pub text_bytes: Vec<u64>,
    /// Documents with a signature (not empty, not rejected).
    pub active: BitVec,
    pub rejected: BitVec,
    /// Documents that stripping left empty (or under --min-chars).
    pub emptied: BitVec,
    pub sigs: SigStore,
    pub k: usize,
    pub records_per_input: Vec<u64>,
    pub rejects: Vec<Reject>,
    pub strip: StripStats,
    /// Bytes of text read, before stripping.
    pub text_in: u64,
    /// Boilerplate line keys per document, when asked for ([`Sketch::line_keys`]).
    pub line_keys: Vec<(u8, u64, DocId)>,
    /// Hash of every text as read, when asked for ([`Sketch::text_hashes`]).
    pub text_hash: Vec<u128>,
    /// Documents whose id came from the record (not made up from file and line).
    pub has_id: BitVec,
    /// Ids of the state's documents that documents of this run were compared with:
    /// document `len() + i` is `history_ids[i]`.
    pub history_ids: Vec<String>,
}

impl DocTable {
    pub fn len(&self) -> usize {
        self.text_bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.text_bytes.is_empty()
    }

    pub fn id(&self, d: DocId) -> &str {
        let d = d as usize;
        if d >= self.len() {
            return self
                .history_ids
                .get(d - self.len())
                .map_or("", |s| s.as_str());
        }
        let start = if d == 0 {
            0
        } else {
            self.id_ends[d - 1] as usize
        };
        // Ids are copied from valid UTF-8 strings only.
        std::str::from_utf8(&self.ids[start..self.id_ends[d] as usize]).unwrap_or("")
    }

    pub fn signatures(&self) -> Signatures<'_> {
        Signatures {
            k: self.k,
            slots: self.sigs.slots(),
            active: &self.active,
        }
    }
}

/// The per-thread machinery that turns text into a signature.
#[derive(Clone)]
pub struct Sketch {
    pub normalizer: Normalizer,
    pub shingler: Shingler,
    pub sketcher: Sketcher,
    /// Boilerplate rules applied before anything else (`clean`).
    pub stripper: Option<Arc<Stripper>>,
    /// Texts shorter than this after stripping (in characters) count as emptied.
    pub min_chars: usize,
    /// Compute signatures (off for `boilerplate strip`, which only strips).
    pub signatures: bool,
    /// Also gather the boilerplate line keys of every raw text (while learning).
    pub line_keys: bool,
    /// Also hash every text as read (for finding exact copies in a state).
    pub text_hashes: bool,
    /// Sketch only a page's own text, before an appended article
    /// (as [`boilerplate::line_keys`] finds it): stories are grouped on it, so pages of one
    /// site that carry the same appended article are not taken for copies.
    pub own_text: bool,
}

/// Reusable buffers for [`Sketch`].
#[derive(Default)]
pub struct Buffers {
    pub normalized: String,
    pub tokens: Vec<u64>,
    pub shingles: Vec<u64>,
    /// A full signature, before it is stored as [`lsh::Slot`]s.
    pub signature: Vec<u32>,
    /// The line keys of the last text [`Sketch::prepare`] cut to its own text (they
    /// are found on the same read of its lines).
    pub line_keys: Vec<(u8, u64)>,
}

impl Sketch {
    pub fn new(cfg: &DedupConfig) -> Self {
        Sketch {
            normalizer: Normalizer::new(cfg.normalize),
            shingler: Shingler::new(cfg.shingle),
            sketcher: Sketcher::new(cfg.scheme, cfg.num_perm, cfg.seed),
            stripper: None,
            min_chars: cfg.min_chars,
            signatures: true,
            line_keys: false,
            text_hashes: false,
            own_text: false,
        }
    }

    pub fn with_stripper(mut self, stripper: Option<Arc<Stripper>>) -> Self {
        self.stripper = stripper;
        self
    }

    /// The text the rest of the pipeline sees: `text` without its boilerplate, and
    /// what was removed.
    pub fn prepare<'t>(&self, text: &'t str, buf: &mut Buffers) -> (Cow<'t, str>, Stripped) {
        match &self.stripper {
            None if self.own_text => {
                buf.line_keys.clear();
                let end = boilerplate::line_keys(
                    &self.normalizer,
                    text,
                    &mut buf.normalized,
                    &mut buf.line_keys,
                );
                (Cow::Borrowed(&text[..end]), Stripped::default())
            }
            None => (Cow::Borrowed(text), Stripped::default()),
            Some(s) => {
                let st = s.strip(text, &mut buf.normalized);
                (st.apply(text), st)
            }
        }
    }

    /// True when stripping left too little of a text to keep.
    pub fn is_emptied(&self, prepared: &str, stripped: &Stripped) -> bool {
        !stripped.ranges.is_empty()
            && (prepared.trim().is_empty() || prepared.chars().count() < self.min_chars)
    }

    /// Shingle `text` into `buf.shingles`.
    pub fn shingle(&self, text: &str, buf: &mut Buffers) {
        if self.normalizer.is_identity() {
            self.shingler
                .shingles_into(text, &mut buf.tokens, &mut buf.shingles);
            return;
        }
        self.normalizer.normalize_into(text, &mut buf.normalized);
        self.shingler
            .shingles_into(&buf.normalized, &mut buf.tokens, &mut buf.shingles);
    }

    /// Signature of `text` into `out`; `false` when the text has no shingles.
    pub fn sign(&self, text: &str, buf: &mut Buffers, out: &mut [u32]) -> bool {
        self.shingle(text, buf);
        self.sketcher.sketch_into(&buf.shingles, out)
    }

    /// Sorted, distinct shingle set of `text`.
    pub fn shingle_set(&self, text: &str, buf: &mut Buffers) -> Vec<u64> {
        self.shingle(text, buf);
        let mut set = buf.shingles.clone();
        set.sort_unstable();
        set.dedup();
        set
    }
}

/// What one chunk contributed to the document table.
#[derive(Default)]
struct ChunkOut {
    ids: Vec<u8>,
    id_lens: Vec<u32>,
    text_bytes: Vec<u64>,
    active: Vec<bool>,
    rejected: Vec<bool>,
    emptied: Vec<bool>,
    sigs: Vec<Slot>,
    rejects: Vec<Reject>,
    strip: StripStats,
    text_in: u64,
    /// (kind, hash, index of the document in this chunk).
    line_keys: Vec<(u8, u64, DocId)>,
    text_hash: Vec<u128>,
    has_id: Vec<bool>,
    error: Option<InputError>,
}

/// What boilerplate stripping removed over a run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct StripStats {
    /// Documents with at least one line removed.
    pub documents_stripped: u64,
    pub lines_removed: u64,
    pub bytes_removed: u64,
    /// Documents left empty (or under --min-chars) by stripping.
    pub emptied: u64,
    /// Documents that lost more than half of their text (markers' appended articles
    /// included).
    pub over_half: u64,
    /// Documents whose learned line and template rules would have taken more than
    /// half of their own text: only their marker (if any) was applied.
    pub capped: u64,
}

impl StripStats {
    fn add(&mut self, o: &StripStats) {
        self.documents_stripped += o.documents_stripped;
        self.lines_removed += o.lines_removed;
        self.bytes_removed += o.bytes_removed;
        self.emptied += o.emptied;
        self.over_half += o.over_half;
        self.capped += o.capped;
    }
}

fn record_error(corpus: &Corpus, rec: &Record<'_>, reason: RecordError) -> InputError {
    let input = &corpus.inputs()[rec.source];
    let line = match (&reason, input.format) {
        (RecordError::InvalidUtf8(off), Format::Text) => corpus::line_of_offset(rec.bytes, *off),
        _ => rec.line,
    };
    InputError::Record {
        path: input.name.clone(),
        line,
        reason,
    }
}

fn default_id(corpus: &Corpus, rec: &Record<'_>) -> String {
    let input = &corpus.inputs()[rec.source];
    match input.format {
        Format::Text => input.name.clone(),
        Format::Jsonl => format!("{}:{}", input.name, rec.line),
    }
}

fn sketch_chunk(corpus: &Corpus, cfg: &DedupConfig, sk: &Sketch, chunk: &Chunk<'_>) -> ChunkOut {
    let mut out = ChunkOut::default();
    let mut buf = Buffers::default();
    let k = cfg.num_perm;
    let format = corpus.inputs()[chunk.source].format;
    for rec in chunk.records() {
        match corpus::parse(&rec, format, corpus.options()) {
            Ok(doc) => {
                out.has_id.push(doc.id.is_some());
                if sk.text_hashes {
                    out.text_hash.push(state::text_hash(&doc.text));
                }
                let id = doc
                    .id
                    .map_or_else(|| default_id(corpus, &rec), |c| c.into_owned());
                out.ids.extend_from_slice(id.as_bytes());
                out.id_lens.push(id.len() as u32);
                let (text, stripped) = sk.prepare(&doc.text, &mut buf);
                let emptied = sk.is_emptied(&text, &stripped);
                if !stripped.ranges.is_empty() {
                    out.strip.documents_stripped += 1;
                    out.strip.lines_removed += stripped.lines_removed;
                    out.strip.bytes_removed += stripped.bytes_removed();
                    out.strip.emptied += emptied as u64;
                    out.strip.over_half +=
                        (stripped.bytes_removed() * 2 > doc.text.len() as u64) as u64;
                }
                out.strip.capped += stripped.capped as u64;
                if sk.line_keys {
                    let local = out.text_bytes.len() as DocId;
                    let mut keys = Vec::new();
                    if sk.own_text {
                        // Found by `prepare`, on the same read of the lines.
                        keys.extend_from_slice(&buf.line_keys);
                    } else {
                        boilerplate::line_keys(
                            &sk.normalizer,
                            &doc.text,
                            &mut buf.normalized,
                            &mut keys,
                        );
                    }
                    keys.sort_unstable();
                    keys.dedup();
                    out.line_keys
                        .extend(keys.into_iter().map(|(k, h)| (k, h, local)));
                }
                out.text_bytes.push(text.len() as u64);
                out.text_in += doc.text.len() as u64;
                let mut full = std::mem::take(&mut buf.signature);
                full.resize(k, minhash::EMPTY_SLOT);
                let ok = !emptied && sk.signatures && sk.sign(&text, &mut buf, &mut full);
                out.sigs.extend(full.iter().map(|&v| lsh::stored(v)));
                buf.signature = full;
                out.active.push(ok);
                out.rejected.push(false);
                out.emptied.push(emptied);
            }
            Err(reason) => {
                let err = record_error(corpus, &rec, reason);
                if !cfg.skip_bad_records {
                    out.error = Some(err);
                    return out;
                }
                let (input, line, reason) = match err {
                    InputError::Record { path, line, reason } => (path, line, reason.to_string()),
                    other => (String::new(), rec.line, other.to_string()),
                };
                out.rejects.push(Reject {
                    input,
                    line,
                    reason,
                    record: String::from_utf8_lossy(rec.bytes).into_owned(),
                });
                let id = default_id(corpus, &rec);
                out.has_id.push(false);
                if sk.text_hashes {
                    out.text_hash.push(0);
                }
                out.ids.extend_from_slice(id.as_bytes());
                out.id_lens.push(id.len() as u32);
                out.text_bytes.push(0);
                out.sigs
                    .resize(out.sigs.len() + k, lsh::stored(minhash::EMPTY_SLOT));
                out.active.push(false);
                out.rejected.push(true);
                out.emptied.push(false);
            }
        }
    }
    out
}

/// Stage 1: read, normalize, shingle and sign every document.
pub fn sketch_corpus(
    corpus: &Corpus,
    cfg: &DedupConfig,
    sk: &Sketch,
    progress: &indicatif::ProgressBar,
) -> Result<DocTable, RunError> {
    let mut t = DocTable {
        ids: Vec::new(),
        id_ends: Vec::new(),
        text_bytes: Vec::new(),
        active: BitVec::new(),
        rejected: BitVec::new(),
        emptied: BitVec::new(),
        sigs: SigStore::new(cfg.signature_budget(), cfg.spill_dir()),
        k: cfg.num_perm,
        records_per_input: vec![0; corpus.inputs().len()],
        rejects: Vec::new(),
        strip: StripStats::default(),
        text_in: 0,
        line_keys: Vec::new(),
        text_hash: Vec::new(),
        has_id: BitVec::new(),
        history_ids: Vec::new(),
    };
    corpus.for_each_group(|chunks| -> Result<(), RunError> {
        let outs: Vec<ChunkOut> = chunks
            .par_iter()
            .map(|c| sketch_chunk(corpus, cfg, sk, c))
            .collect();
        for (c, o) in chunks.iter().zip(outs) {
            if let Some(e) = o.error {
                return Err(e.into());
            }
            t.records_per_input[c.source] += o.text_bytes.len() as u64;
            let mut end = t.ids.len() as u64;
            for l in o.id_lens {
                end += l as u64;
                t.id_ends.push(end);
            }
            t.ids.extend_from_slice(&o.ids);
            t.text_bytes.extend_from_slice(&o.text_bytes);
            t.active.extend(o.active);
            t.rejected.extend(o.rejected);
            t.emptied.extend(o.emptied);
            t.has_id.extend(o.has_id);
            t.text_hash.extend_from_slice(&o.text_hash);
            t.strip.add(&o.strip);
            t.text_in += o.text_in;
            let base = (t.text_bytes.len() - o.text_bytes.len()) as DocId;
            t.line_keys
                .extend(o.line_keys.iter().map(|&(k, h, d)| (k, h, base + d)));
            t.sigs.extend(&o.sigs).map_err(spill_err)?;
            t.rejects.extend(o.rejects);
            progress.inc(c.data.len() as u64);
        }
        if t.text_bytes.len() > u32::MAX as usize {
            return Err(RunError::TooManyDocuments);
        }
        Ok(())
    })?;
    t.sigs.finish().map_err(spill_err)?;
    Ok(t)
}

/// Number of records in each chunk, and the id of each chunk's first document.
fn chunk_bases(chunks: &[Chunk<'_>], first: u64) -> Vec<u64> {
    let counts: Vec<u64> = chunks
        .par_iter()
        .map(|c| c.records().count() as u64)
        .collect();
    let mut bases = Vec::with_capacity(counts.len() + 1);
    let mut next = first;
    for n in counts {
        bases.push(next);
        next += n;
    }
    bases.push(next);
    bases
}

/// Rebuild the shingle sets of the documents marked in `needed` (for exact
/// verification) by reading the corpus again.
pub fn collect_sets(
    corpus: &Corpus,
    sk: &Sketch,
    needed: &BitVec,
) -> Result<HashMap<DocId, Vec<u64>>, RunError> {
    let mut sets = HashMap::new();
    let mut next = 0u64;
    corpus.for_each_group(|chunks| -> Result<(), RunError> {
        let bases = chunk_bases(chunks, next);
        next = bases[bases.len() - 1];
        let found: Vec<Vec<(DocId, Vec<u64>)>> = chunks
            .par_iter()
            .zip(&bases[..chunks.len()])
            .map(|(c, &base)| {
                let mut buf = Buffers::default();
                let format = corpus.inputs()[c.source].format;
                c.records()
                    .enumerate()
                    .filter(|(i, _)| needed.get(base as usize + i).is_some_and(|b| *b))
                    .filter_map(|(i, rec)| {
                        let doc = corpus::parse(&rec, format, corpus.options()).ok()?;
                        let (text, _) = sk.prepare(&doc.text, &mut buf);
                        Some((
                            (base as usize + i) as DocId,
                            sk.shingle_set(&text, &mut buf),
                        ))
                    })
                    .collect()
            })
            .collect();
        sets.extend(found.into_iter().flatten());
        Ok(())
    })?;
    Ok(sets)
}

/// The role of every document after clustering.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Role {
    Unique,
    Keep {
        cluster: u32,
    },
    Duplicate {
        cluster: u32,
        of: DocId,
        similarity: f64,
    },
    Rejected,
    /// Stripping left it empty (or under --min-chars).
    Emptied,
}

/// Stages 2 and 3: candidates, components, keep/duplicate decisions.
pub struct Clustering {
    pub clusters: Vec<Cluster>,
    pub roles: Vec<Role>,
    pub candidates: lsh::CandidateStats,
    pub assign: cluster::AssignStats,
    pub verification: VerifyStats,
    /// The state's documents compared with (`--state`); document `n + i` is the
    /// state's document `history.seqs[i]`.
    pub history: History,
}

/// Documents of a state that documents of this run were found to copy.
#[derive(Default)]
pub struct History {
    /// Sequence numbers in the state, ascending.
    pub seqs: Vec<u64>,
    pub ids: Vec<String>,
    /// Their signatures, `k` slots each.
    slots: Vec<Slot>,
    /// Pairs (document of this run, index in `seqs`) that are exact copies (same id
    /// or same text), with their similarity.
    forced: HashMap<(DocId, u32), f64>,
    edges: Vec<lsh::Edge>,
    /// Band-index lookups that found a document and were compared.
    pub comparisons: u64,
    /// Documents with an id in the state whose similarity to it is under the
    /// threshold (dropped as copies all the same).
    pub id_below_threshold: u64,
    pub seconds: f64,
}

/// Look every document of this run up in the state: documents sharing a band with it
/// whose estimated similarity reaches the threshold, and exact copies (same id from
/// the record, or same text). Pairs with a state document are decided by the
/// estimate: the state keeps no text to verify against.
fn history_matches(table: &DocTable, cfg: &DedupConfig, st: &State) -> History {
    let t0 = Instant::now();
    let sigs = table.signatures();
    let n = table.len();
    let active: Vec<DocId> = sigs.active.iter_ones().map(|d| d as DocId).collect();
    // (document, seq, similarity, exact copy)
    type Found = (DocId, u64, f64, bool);
    let exact: Vec<Found> = active
        .par_iter()
        .flat_map_iter(|&d| {
            let i = d as usize;
            let by_text = table.text_hash.get(i).and_then(|&h| st.find_text(h));
            let by_id = if table.has_id[i] && st.match_ids {
                st.find_id(table.id(d))
            } else {
                None
            };
            let sigs = &sigs;
            let sim = move |seq: u64| {
                if Some(seq) == by_text {
                    1.0
                } else {
                    st.slots(seq)
                        .map_or(0.0, |h| minhash::estimate(sigs.get(d), h))
                }
            };
            [by_text, by_id]
                .into_iter()
                .flatten()
                .map(move |seq| (d, seq, sim(seq), true))
        })
        .collect();
    let pairs = st.band_matches_batch(|d| sigs.get(d), &active);
    let by_band: Vec<Found> = pairs
        .par_iter()
        .filter_map(|&(d, seq)| {
            let est = minhash::estimate(sigs.get(d), st.slots(seq)?);
            (est >= cfg.threshold).then_some((d, seq, est, false))
        })
        .collect();
    let mut h = History {
        comparisons: pairs.len() as u64,
        id_below_threshold: exact
            .iter()
            .filter(|f| f.2 < cfg.threshold)
            .map(|f| f.0)
            .collect::<std::collections::BTreeSet<_>>()
            .len() as u64,
        ..Default::default()
    };
    let mut found = exact;
    found.extend(by_band);
    h.seqs = found.iter().map(|f| f.1).collect();
    h.seqs.sort_unstable();
    h.seqs.dedup();
    for &seq in &h.seqs {
        h.ids.push(st.id(seq).to_string());
        match st.slots(seq) {
            Some(s) => h.slots.extend_from_slice(s),
            None => h.slots.resize(h.slots.len() + table.k, 0),
        }
    }
    // One edge per pair; an exact copy comes first for its pair and wins.
    found.sort_by_key(|f| (f.0, f.1, !f.3));
    found.dedup_by_key(|f| (f.0, f.1));
    for (d, seq, sim, exact) in found {
        let i = h.seqs.partition_point(|&s| s < seq) as u32;
        if exact {
            h.forced.insert((d, i), sim);
        }
        h.edges.push(lsh::Edge {
            a: d,
            b: (n + i as usize) as DocId,
            similarity: sim as f32,
        });
    }
    h.seconds = report::secs(t0.elapsed());
    h
}

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
        let at_least = |s: f64| (s >= self.threshold).then_some(s);
        match self.verify {
            Verify::Estimate => return Judged::Decided(at_least(est)),
            Verify::Auto if est < self.floor => return Judged::Decided(None),
            Verify::Auto if est >= self.threshold + self.slack => {
                return Judged::Decided(Some(est));
            }
            _ => {}
        }
        match sets() {
            Some((x, y)) => Judged::Exact(at_least(shingle::jaccard(x, y))),
            None => Judged::Missing(at_least(est)),
        }
    }
}

pub fn cluster_docs(
    corpus: &Corpus,
    cfg: &DedupConfig,
    sk: &Sketch,
    table: &DocTable,
    state: Option<&State>,
    timings: &mut Timings,
) -> Result<Clustering, RunError> {
    let t0 = Instant::now();
    let sigs = table.signatures();
    let verifier = Verifier::new(cfg);
    let (edges, cand_stats) = lsh::candidates_bounded(
        &sigs,
        cfg.lsh,
        cfg.seed,
        cfg.band_key_budget(),
        &cfg.spill_dir(),
        lsh::estimate_at_least(&sigs, verifier.floor),
    )
    .map_err(spill_err)?;
    let mut edges = edges;
    let n = table.len();
    let history = match state {
        Some(st) => history_matches(table, cfg, st),
        None => History::default(),
    };
    edges.extend_from_slice(&history.edges);
    timings.candidates = report::secs(t0.elapsed());

    let t1 = Instant::now();
    let comps = cluster::components(n + history.seqs.len(), &edges);
    drop(edges);
    // The state's documents were kept by earlier runs: they come first, in the
    // order they were kept, and stay kept.
    let rank = |d: DocId| {
        if d as usize >= n {
            return (0, d);
        }
        match cfg.keep {
            KeepPolicy::First => (1, d),
            KeepPolicy::Longest => ((u64::MAX - table.text_bytes[d as usize]).max(1), d),
        }
    };
    let k = table.k;
    let history_sig = |h: DocId| {
        let i = h as usize - n;
        &history.slots[i * k..(i + 1) * k]
    };
    let mut sets: HashMap<DocId, Vec<u64>> = HashMap::new();
    if cfg.verify == Verify::Exact {
        let mut needed = bitvec![0; table.len()];
        for &d in comps.iter().flatten().filter(|&&d| (d as usize) < n) {
            needed.set(d as usize, true);
        }
        sets = collect_sets(corpus, sk, &needed)?;
    }
    let exact_checks = AtomicU64::new(0);
    let mut verification = VerifyStats::default();
    // With `auto`, the shingle sets of borderline pairs are not known in advance: each
    // round records the documents it lacked, a read of the corpus fetches them, and
    // the assignment runs again. Sets only grow, so this settles in a round or two.
    let (clusters, assign_stats) = loop {
        verification.rounds += 1;
        let missing: Mutex<Vec<DocId>> = Mutex::new(Vec::new());
        exact_checks.store(0, Ordering::Relaxed);
        let result = cluster::assign(&comps, rank, |a, b| {
            if a as usize >= n || b as usize >= n {
                let (h, d) = if a as usize >= n { (a, b) } else { (b, a) };
                if d as usize >= n {
                    return None;
                }
                if let Some(&s) = history.forced.get(&(d, (h as usize - n) as u32)) {
                    return Some(s);
                }
                let est = minhash::estimate(history_sig(h), sigs.get(d));
                return (est >= cfg.threshold).then_some(est);
            }
            let est = minhash::estimate(sigs.get(a), sigs.get(b));
            let judged = verifier.judge(est, || {
                let (x, y) = sets.get(&a).zip(sets.get(&b))?;
                Some((&x[..], &y[..]))
            });
            match judged {
                Judged::Exact(_) => {
                    exact_checks.fetch_add(1, Ordering::Relaxed);
                }
                Judged::Missing(_) => {
                    if let Ok(mut m) = missing.lock() {
                        m.extend([a, b]);
                    }
                }
                Judged::Decided(_) => {}
            }
            judged.similarity()
        });
        let mut missing = missing.into_inner().unwrap_or_default();
        missing.retain(|d| !sets.contains_key(d));
        if missing.is_empty() || verification.rounds >= MAX_VERIFY_ROUNDS {
            verification.decided_by_estimate = missing.len() as u64;
            break result;
        }
        let mut needed = bitvec![0; table.len()];
        for d in missing {
            needed.set(d as usize, true);
        }
        sets.extend(collect_sets(corpus, sk, &needed)?);
    };
    verification.exact_checks = exact_checks.load(Ordering::Relaxed);
    verification.shingle_sets = sets.len() as u64;
    let mut roles = vec![Role::Unique; table.len()];
    for d in table.rejected.iter_ones() {
        roles[d] = Role::Rejected;
    }
    for d in table.emptied.iter_ones() {
        roles[d] = Role::Emptied;
    }
    for (i, c) in clusters.iter().enumerate() {
        let cluster = i as u32;
        if (c.keep as usize) < n {
            roles[c.keep as usize] = Role::Keep { cluster };
        }
        for dup in &c.duplicates {
            roles[dup.doc as usize] = Role::Duplicate {
                cluster,
                of: dup.of,
                similarity: dup.similarity,
            };
        }
    }
    timings.cluster = report::secs(t1.elapsed());
    Ok(Clustering {
        clusters,
        roles,
        candidates: cand_stats,
        assign: assign_stats,
        verification,
        history,
    })
}

/// Text of a record of a text input as a JSON object with `id` and `text`.
fn text_record_json(id: &str, text: &str) -> String {
    let mut m = serde_json::Map::new();
    m.insert("id".into(), id.into());
    m.insert("text".into(), text.into());
    serde_json::Value::Object(m).to_string()
}

fn annotation(role: Role, table: &DocTable, boilerplate: Option<&[(usize, usize)]>) -> String {
    let mut v = match role {
        Role::Unique | Role::Rejected => serde_json::json!({
            "cluster": null, "duplicate_of": null, "similarity": null
        }),
        Role::Emptied => serde_json::json!({
            "cluster": null, "duplicate_of": null, "similarity": null, "emptied": true
        }),
        Role::Keep { cluster } => serde_json::json!({
            "cluster": cluster, "duplicate_of": null, "similarity": null
        }),
        Role::Duplicate {
            cluster,
            of,
            similarity,
        } => serde_json::json!({
            "cluster": cluster, "duplicate_of": table.id(of), "similarity": similarity
        }),
    };
    if let (Some(ranges), Some(o)) = (boilerplate, v.as_object_mut()) {
        let ranges: Vec<[usize; 2]> = ranges.iter().map(|&(a, b)| [a, b]).collect();
        o.insert("boilerplate".into(), serde_json::json!(ranges));
    }
    v.to_string()
}

/// What the write stage produced.
#[derive(Default)]
struct Written {
    records: u64,
    text_bytes: u64,
    bytes: u64,
    records_per_input: Vec<u64>,
}

/// What a chunk contributes to the output when records are written unchanged.
#[derive(Default)]
struct ChunkPlan {
    pieces: Vec<Piece>,
    written: u64,
    text_bytes: u64,
    seen: u64,
}

enum Piece {
    /// Bytes of the chunk: kept records and the newlines between them.
    Input(std::ops::Range<usize>),
    /// A newline the input lacks (a last line without one, or `\r\n`).
    Newline,
}

/// Plan a chunk of JSON Lines in drop mode: the same bytes [`render_chunk`] gives,
/// as ranges of the input.
fn plan_chunk(table: &DocTable, roles: &[Role], chunk: &Chunk<'_>, base: u64) -> ChunkPlan {
    let mut plan = ChunkPlan::default();
    let data = chunk.data;
    // The open range of consecutive kept records, newline included once known.
    let mut open: Option<std::ops::Range<usize>> = None;
    for (i, rec) in chunk.records().enumerate() {
        plan.seen += 1;
        let d = base as usize + i;
        let Some(&role) = roles.get(d) else { break };
        if !matches!(role, Role::Unique | Role::Keep { .. }) {
            continue;
        }
        plan.written += 1;
        plan.text_bytes += table.text_bytes[d];
        let start = rec.bytes.as_ptr() as usize - data.as_ptr() as usize;
        let end = start + rec.bytes.len();
        match &mut open {
            Some(r) if r.end == start => r.end = end,
            _ => {
                if let Some(r) = open.take() {
                    plan.pieces.push(Piece::Input(r));
                }
                open = Some(start..end);
            }
        }
        // The record's own newline extends the run; any other terminator is
        // replaced by a newline of ours.
        if data.get(end) == Some(&b'\n') {
            if let Some(r) = &mut open {
                r.end = end + 1;
            }
        } else {
            if let Some(r) = open.take() {
                plan.pieces.push(Piece::Input(r));
            }
            plan.pieces.push(Piece::Newline);
        }
    }
    if let Some(r) = open {
        plan.pieces.push(Piece::Input(r));
    }
    plan
}

fn render_chunk(
    corpus: &Corpus,
    cfg: &DedupConfig,
    sk: &Sketch,
    table: &DocTable,
    roles: &[Role],
    chunk: &Chunk<'_>,
    base: u64,
) -> (Vec<u8>, u64, u64, u64) {
    let mut out = Vec::with_capacity(chunk.data.len());
    let (mut written, mut text_bytes, mut seen) = (0u64, 0u64, 0u64);
    let format = corpus.inputs()[chunk.source].format;
    let mut buf = Buffers::default();
    for (i, rec) in chunk.records().enumerate() {
        seen += 1;
        let d = base as usize + i;
        let Some(&role) = roles.get(d) else { break };
        let keep = match role {
            Role::Rejected => false,
            Role::Duplicate { .. } => cfg.mode == Mode::Annotate,
            Role::Emptied => cfg.mode == Mode::Annotate || cfg.on_empty == EmptyPolicy::Keep,
            Role::Unique | Role::Keep { .. } => true,
        };
        if !keep {
            continue;
        }
        written += 1;
        text_bytes += table.text_bytes[d];
        write_record(
            &mut out, corpus, cfg, sk, table, role, &rec, d as DocId, format, &mut buf,
        );
        out.push(b'\n');
    }
    (out, written, text_bytes, seen)
}

/// Write one record: unchanged, with its text stripped (`clean`, `strip`), or
/// annotated.
#[allow(clippy::too_many_arguments)]
fn write_record(
    out: &mut Vec<u8>,
    corpus: &Corpus,
    cfg: &DedupConfig,
    sk: &Sketch,
    table: &DocTable,
    role: Role,
    rec: &Record<'_>,
    d: DocId,
    format: Format,
    buf: &mut Buffers,
) {
    let needs_text = format == Format::Text || sk.stripper.is_some();
    let doc = if needs_text {
        corpus::parse(rec, format, corpus.options()).ok()
    } else {
        None
    };
    let (stripped_text, ranges) = match (&doc, &sk.stripper) {
        (Some(doc), Some(_)) => {
            let (t, st) = sk.prepare(&doc.text, buf);
            (Some(t.into_owned()), st.ranges)
        }
        _ => (None, Vec::new()),
    };
    let id = table.id(d);
    if cfg.mode == Mode::Annotate {
        let note = annotation(role, table, sk.stripper.is_some().then_some(&ranges[..]));
        let base: Cow<'_, [u8]> = match (format, &doc) {
            (Format::Text, Some(doc)) => Cow::Owned(text_record_json(id, &doc.text).into_bytes()),
            _ => Cow::Borrowed(rec.bytes),
        };
        if output::inject_field(&base, "dupstrip", &note, out).is_none() {
            out.extend_from_slice(&base);
        }
        return;
    }
    match (format, &doc, stripped_text) {
        (Format::Text, Some(doc), stripped) => {
            let text = stripped.unwrap_or_else(|| doc.text.to_string());
            out.extend_from_slice(text_record_json(id, &text).as_bytes());
        }
        (Format::Jsonl, Some(doc), Some(text)) if !ranges.is_empty() => {
            splice_text(out, rec.bytes, doc, &text, corpus.options());
        }
        _ => out.extend_from_slice(rec.bytes),
    }
}

/// Write a JSON Lines record with its text field replaced by `text`, every other byte
/// as it was.
pub fn splice_text(
    out: &mut Vec<u8>,
    record: &[u8],
    doc: &corpus::Doc<'_>,
    text: &str,
    opts: &corpus::ReadOptions,
) {
    // Serializing a string cannot fail.
    let encoded = serde_json::to_string(text).unwrap_or_default();
    match &doc.text_span {
        Some(span) => {
            out.extend_from_slice(&record[..span.start]);
            out.extend_from_slice(encoded.as_bytes());
            out.extend_from_slice(&record[span.end..]);
        }
        None => {
            // Only records with lone surrogates lack a span: splice into the
            // repaired record (its lone surrogates become \ufffd).
            let repaired = corpus::repair_surrogates(record);
            let spliced = repaired.as_deref().and_then(|fixed| {
                let span = corpus::text_span(fixed, opts)?;
                let mut v = fixed[..span.start].to_vec();
                v.extend_from_slice(encoded.as_bytes());
                v.extend_from_slice(&fixed[span.end..]);
                Some(v)
            });
            out.extend_from_slice(spliced.as_deref().unwrap_or(record));
        }
    }
}

fn write_records(
    corpus: &Corpus,
    cfg: &DedupConfig,
    sk: &Sketch,
    table: &DocTable,
    roles: &[Role],
    sink: &mut Sink,
    dest: &Path,
) -> Result<Written, RunError> {
    let mut w = Written {
        records_per_input: vec![0; corpus.inputs().len()],
        ..Default::default()
    };
    let mut next = 0u64;
    // Records written unchanged (drop mode, no stripping, JSON Lines) are not
    // copied: each chunk is planned as byte ranges of the input, and runs of kept
    // records go to the output as they lie in the input.
    // Without a stripper no document is `Emptied`, so kept means Unique or Keep.
    let as_is = cfg.mode == Mode::Drop && sk.stripper.is_none();
    debug_assert!(!as_is || table.emptied.not_any());
    corpus.for_each_group(|chunks| -> Result<(), RunError> {
        let bases = chunk_bases(chunks, next);
        next = bases[bases.len() - 1];
        if as_is && chunks.iter().all(|c| c.format == Format::Jsonl) {
            let plans: Vec<ChunkPlan> = chunks
                .par_iter()
                .zip(&bases[..chunks.len()])
                .map(|(c, &base)| plan_chunk(table, roles, c, base))
                .collect();
            for (c, plan) in chunks.iter().zip(plans) {
                for piece in &plan.pieces {
                    let bytes: &[u8] = match piece {
                        Piece::Input(r) => &c.data[r.clone()],
                        Piece::Newline => b"\n",
                    };
                    sink.write_all(bytes).map_err(write_err(dest))?;
                    w.bytes += bytes.len() as u64;
                }
                w.records += plan.written;
                w.text_bytes += plan.text_bytes;
                w.records_per_input[c.source] += plan.seen;
            }
            return Ok(());
        }
        let rendered: Vec<(Vec<u8>, u64, u64, u64)> = chunks
            .par_iter()
            .zip(&bases[..chunks.len()])
            .map(|(c, &base)| render_chunk(corpus, cfg, sk, table, roles, c, base))
            .collect();
        for (c, (bytes, n, tb, seen)) in chunks.iter().zip(rendered) {
            sink.write_all(&bytes).map_err(write_err(dest))?;
            w.records += n;
            w.text_bytes += tb;
            w.bytes += bytes.len() as u64;
            w.records_per_input[c.source] += seen;
        }
        Ok(())
    })?;
    for (i, (&before, &after)) in table
        .records_per_input
        .iter()
        .zip(&w.records_per_input)
        .enumerate()
    {
        if before != after {
            return Err(InputError::Changed {
                path: corpus.inputs()[i].name.clone(),
                before,
                after,
            }
            .into());
        }
    }
    Ok(w)
}

fn write_clusters(path: &Path, table: &DocTable, clusters: &[Cluster]) -> Result<(), RunError> {
    output::write_atomic(path, |w| {
        for (n, c) in clusters.iter().enumerate() {
            let mut members: Vec<(DocId, f64)> = vec![(c.keep, 1.0)];
            members.extend(c.duplicates.iter().map(|d| (d.doc, d.similarity)));
            members.sort_unstable_by_key(|m| m.0);
            let members: Vec<serde_json::Value> = members
                .iter()
                .map(|&(d, s)| serde_json::json!({"id": table.id(d), "similarity": s}))
                .collect();
            let line = serde_json::json!({
                "cluster": n, "keep": table.id(c.keep), "members": members
            });
            writeln!(w, "{line}")?;
        }
        Ok(())
    })
    .map_err(write_err(path))
}

fn write_rejects(path: &Path, rejects: &[Reject]) -> Result<(), RunError> {
    output::write_atomic(path, |w| {
        for r in rejects {
            let line = serde_json::to_string(r).map_err(io::Error::other)?;
            writeln!(w, "{line}")?;
        }
        Ok(())
    })
    .map_err(write_err(path))
}

/// Check output paths before any work: none names an input or another output, at
/// most one is standard output, and each one's directory exists.
pub fn check_outputs(corpus: &Corpus, paths: &OutputPaths) -> Result<(), RunError> {
    let all: Vec<&PathBuf> = std::iter::once(&paths.output)
        .chain(&paths.clusters)
        .chain(&paths.report)
        .chain(&paths.rejects)
        .chain(&paths.rules)
        .collect();
    if all.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return Err(RunError::Outputs(
            "only one of -o, --clusters, --report, --rejects, --save-rules can be - (standard output)".into(),
        ));
    }
    let outs: Vec<&PathBuf> = all.into_iter().filter(|p| p.as_os_str() != "-").collect();
    for (i, a) in outs.iter().enumerate() {
        // Two outputs may both go to a device such as /dev/null (written in place).
        if outs[i + 1..].contains(a) && !is_char_device(a) {
            return Err(RunError::Outputs(format!(
                "{} is named as two different outputs",
                a.display()
            )));
        }
        let dir = match a.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(RunError::Write {
                path: a.display().to_string(),
                source: io::Error::new(io::ErrorKind::NotFound, "its directory does not exist"),
            });
        }
    }
    for spec in corpus.inputs() {
        let Some(input) = spec.path.as_ref().and_then(|p| p.canonicalize().ok()) else {
            continue;
        };
        for out in &outs {
            if out.canonicalize().ok().as_ref() == Some(&input) {
                return Err(RunError::OutputIsInput(out.display().to_string()));
            }
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_char_device(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_char_device())
}

#[cfg(not(unix))]
fn is_char_device(_: &Path) -> bool {
    false
}

/// What a run does beyond reading: which command it is, the boilerplate rules
/// applied before anything else, and whether near-duplicates are searched.
pub struct Job {
    pub command: &'static str,
    pub stripper: Option<Arc<Stripper>>,
    pub dedup: bool,
    /// Rules summary for the report (where the rules came from).
    pub rules_source: Option<String>,
    /// Seconds spent learning the rules before the run (`clean` without --rules).
    pub learn_seconds: f64,
    /// The state to deduplicate against and add the kept documents to (`--state`).
    pub state: Option<State>,
    /// Boilerplate counts to add to the state (runs that learned with a state).
    pub lines: Option<PendingLines>,
    /// [`Corpus::fingerprint`] of the input (runs with a state).
    pub fingerprint: String,
    /// The state's last run, which this run repeats and replaces.
    pub replaces: Option<u32>,
}

impl Job {
    pub fn dedup() -> Job {
        Job {
            command: "dedup",
            stripper: None,
            dedup: true,
            rules_source: None,
            learn_seconds: 0.0,
            state: None,
            lines: None,
            fingerprint: String::new(),
            replaces: None,
        }
    }
}

/// Run `dedup`, `clean` or `boilerplate strip` end to end.
pub fn run(
    corpus: &Corpus,
    cfg: &DedupConfig,
    paths: &OutputPaths,
    skipped_files: Vec<String>,
    progress: &indicatif::ProgressBar,
    mut job: Job,
) -> Result<Report, RunError> {
    let start = Instant::now();
    check_outputs(corpus, paths)?;
    let mut timings = Timings::default();
    let mut sk = Sketch::new(cfg).with_stripper(job.stripper.clone());
    sk.signatures = job.dedup;
    sk.text_hashes = job.state.is_some();

    let t = Instant::now();
    let mut table = sketch_corpus(corpus, cfg, &sk, progress)?;
    timings.sketch = report::secs(t.elapsed());
    progress.finish_and_clear();

    let mut clustering = if job.dedup {
        cluster_docs(corpus, cfg, &sk, &table, job.state.as_ref(), &mut timings)?
    } else {
        let mut roles = vec![Role::Unique; table.len()];
        for d in table.rejected.iter_ones() {
            roles[d] = Role::Rejected;
        }
        for d in table.emptied.iter_ones() {
            roles[d] = Role::Emptied;
        }
        Clustering {
            clusters: Vec::new(),
            roles,
            candidates: Default::default(),
            assign: Default::default(),
            verification: Default::default(),
            history: Default::default(),
        }
    };
    table.history_ids = std::mem::take(&mut clustering.history.ids);

    let t = Instant::now();
    let mut sink = Sink::create_with_schema(&paths.output, corpus.parquet_schema().cloned())
        .map_err(write_err(&paths.output))?;
    let written = write_records(
        corpus,
        cfg,
        &sk,
        &table,
        &clustering.roles,
        &mut sink,
        &paths.output,
    )
    .map_err(|e| closed_with_state(e, job.state.is_some()))?;
    // The side files go into place first and the output last, so a run that fails
    // writing them leaves the previous output untouched.
    if let Some(p) = &paths.clusters {
        write_clusters(p, &table, &clustering.clusters)?;
    }
    if let Some(p) = &paths.rejects {
        write_rejects(p, &table.rejects)?;
    }
    sink.commit()
        .map_err(write_err(&paths.output))
        .map_err(|e| closed_with_state(e, job.state.is_some()))?;
    timings.write = report::secs(t.elapsed());
    // The state changes only once the output is in place: a run stopped before
    // this point can be repeated with the same result.
    let state_report = match job.state.as_mut() {
        Some(st) => {
            let mut rep = update_state(
                st,
                corpus,
                &table,
                &clustering,
                job.lines.take(),
                job.command,
                std::mem::take(&mut job.fingerprint),
            )?;
            rep.replaced_run = job.replaces;
            Some(rep)
        }
        None => None,
    };

    let duplicates = clustering
        .roles
        .iter()
        .filter(|r| matches!(r, Role::Duplicate { .. }))
        .count() as u64;
    let rejected = table.rejected.count_ones() as u64;
    let emptied = table.emptied.count_ones() as u64;
    let read = table.len() as u64;
    let annotate = cfg.mode == Mode::Annotate;
    let documents = Counts {
        read,
        written: written.records,
        dropped: if annotate { 0 } else { duplicates },
        duplicates,
        rejected,
        empty: if job.dedup {
            read - rejected - emptied - table.active.count_ones() as u64
        } else {
            0
        },
        clusters: clustering.clusters.len() as u64,
        emptied,
        emptied_dropped: if annotate || cfg.on_empty == EmptyPolicy::Keep {
            0
        } else {
            emptied
        },
    };
    debug_assert_eq!(
        documents.read,
        documents.written + documents.dropped + documents.rejected + documents.emptied_dropped
    );
    let boilerplate = job.stripper.as_ref().map(|s| {
        report::BoilerplateReport::new(&s.rules, job.rules_source.clone(), table.strip.clone())
    });
    timings.learn = job.learn_seconds;
    timings.total = report::round_ms(start.elapsed().as_secs_f64() + job.learn_seconds);
    Ok(Report {
        schema_version: report::REPORT_SCHEMA_VERSION,
        tool: "dupstrip",
        version: env!("CARGO_PKG_VERSION"),
        command: job.command,
        inputs: corpus
            .inputs()
            .iter()
            .zip(&table.records_per_input)
            .map(|(spec, &records)| InputReport {
                spec: spec.clone(),
                records,
            })
            .collect(),
        skipped_files,
        documents,
        bytes: Bytes {
            input: corpus.inputs().iter().map(|i| i.bytes).sum(),
            text_in: table.text_in,
            text_out: written.text_bytes,
            output: written.bytes,
        },
        parameters: cfg.clone(),
        lsh: LshReport::new(cfg.lsh),
        candidates: clustering.candidates,
        clustering: clustering.assign,
        verification: clustering.verification,
        boilerplate,
        state: state_report,
        threads: rayon::current_num_threads(),
        timings,
    })
}

/// A reader that closes standard output early (`| head`) is not an error, except for a
/// run with a state: its documents were not all delivered, so the state is left as it
/// was and the run fails.
fn closed_with_state(e: RunError, with_state: bool) -> RunError {
    if with_state && e.is_broken_pipe() {
        return RunError::Outputs(
            "standard output was closed before the run finished: the state was not updated".into(),
        );
    }
    e
}

/// Add the run's kept documents to the state, with the band keys of their dropped
/// copies pointing at them, and commit.
fn update_state(
    st: &mut State,
    corpus: &Corpus,
    table: &DocTable,
    clustering: &Clustering,
    lines: Option<PendingLines>,
    command: &str,
    fingerprint: String,
) -> Result<report::StateReport, RunError> {
    let mut rep = report::StateReport {
        dir: st.dir().display().to_string(),
        created: st.is_new(),
        run: st.next_run(),
        documents_before: st.documents(),
        segments_before: st.segment_count() as u64,
        comparisons: clustering.history.comparisons,
        id_matches_below_threshold: clustering.history.id_below_threshold,
        lookup_seconds: clustering.history.seconds,
        ..Default::default()
    };
    let n = table.len();
    let sigs = table.signatures();
    let mut b = st.builder();
    let mut seq_of = vec![u64::MAX; n];
    for (d, role) in clustering.roles.iter().enumerate() {
        if sigs.active[d] && matches!(role, Role::Unique | Role::Keep { .. }) {
            seq_of[d] = b.add(&state::NewDoc {
                id: table.id(d as DocId),
                has_id: table.has_id[d],
                text_hash: table.text_hash.get(d).copied().unwrap_or(0),
                slots: sigs.get(d as DocId),
            });
        }
    }
    for (d, role) in clustering.roles.iter().enumerate() {
        if let Role::Duplicate { of, .. } = *role {
            let of = of as usize;
            let target = if of < n {
                seq_of[of]
            } else {
                rep.duplicates_of_state += 1;
                clustering.history.seqs[of - n]
            };
            if sigs.active[d] && target != u64::MAX {
                b.alias(sigs.get(d as DocId), target);
            }
        }
    }
    let copies: Vec<DocId> = clustering
        .roles
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r, Role::Duplicate { of, .. } if *of as usize >= n))
        .map(|(d, _)| d as DocId)
        .collect();
    let lines = lines.map(|l| l.merged(st.lines.take(), &copies, rep.run));
    let boilerplate_keys = lines.as_ref().map(|l| l.entries.len() as u64);
    let run = state::RunEntry {
        run: rep.run,
        command: command.to_string(),
        finished_unix: state::unix_now(),
        inputs: corpus.inputs().iter().map(|i| i.name.clone()).collect(),
        read: n as u64,
        added: b.docs(),
        duplicates_of_state: rep.duplicates_of_state,
        fingerprint,
    };
    let done = st.commit(state::Update {
        segment: Some(b),
        lines,
        run,
    })?;
    rep.added = done.added;
    rep.documents_after = st.documents();
    rep.segments_after = done.segments;
    rep.segments_merged = done.merged;
    rep.bytes_after = st.bytes();
    rep.boilerplate_keys = boilerplate_keys.or(st.lines.as_ref().map(|l| l.entries.len() as u64));
    rep.commit_seconds = done.seconds;
    Ok(rep)
}

/// Run `dedup` end to end.
pub fn run_dedup(
    corpus: &Corpus,
    cfg: &DedupConfig,
    paths: &OutputPaths,
    skipped_files: Vec<String>,
    progress: &indicatif::ProgressBar,
) -> Result<Report, RunError> {
    run(corpus, cfg, paths, skipped_files, progress, Job::dedup())
}

/// While learning boilerplate, two raw pages are copies of one story when at least
/// this share of the smaller page's shingles is in the other (estimated containment).
/// Outlet wrappers and appended articles pull the Jaccard similarity of true copies
/// far down, but not their containment; unrelated pages of one outlet share only their
/// boilerplate, a small part of each.
pub const STORY_CONTAINMENT: f64 = 0.5;
/// Jaccard similarity the banding for story grouping is tuned to: a pair at
/// containment 0.5 with a page twice the other's size has Jaccard 0.25.
pub const STORY_JACCARD: f64 = 0.25;

/// Learn boilerplate rules from the corpus: group raw pages into stories, count lines
/// per story, then collect examples.
pub fn learn_rules(
    corpus: &Corpus,
    cfg: &DedupConfig,
    learn: &LearnOptions,
    progress: &indicatif::ProgressBar,
) -> Result<Rules, RunError> {
    let (counts, _, documents, stories) = story_counts(corpus, cfg, progress)?;
    let learned = Learned::new(cfg.normalize, counts, learn, documents, stories);
    rules_with_examples(corpus, learned)
}

/// A run's boilerplate line counts, waiting for the run's duplicates to be known
/// before they join a state's statistics.
pub struct PendingLines {
    counts: boilerplate::Counts,
    /// Story of every document (its first member).
    story: Vec<DocId>,
    learn: LearnOptions,
    /// Examples of the rules the run used.
    examples: Vec<((u8, u64), Vec<String>)>,
}

impl PendingLines {
    /// The statistics after this run: the state's, plus the counts of the stories
    /// none of whose pages copies a document of the state. A story republished over
    /// several days is thus counted once, on the day it first appeared, and its
    /// lines do not turn into boilerplate by being seen again.
    fn merged(
        self,
        previous: Option<state::LineStats>,
        copies_of_state: &[DocId],
        run: u32,
    ) -> state::LineStats {
        let mut excluded: Vec<DocId> = copies_of_state
            .iter()
            .filter_map(|&d| self.story.get(d as usize).copied())
            .collect();
        excluded.sort_unstable();
        excluded.dedup();
        let documents = self
            .story
            .iter()
            .filter(|s| excluded.binary_search(s).is_err())
            .count() as u64;
        let stories = self
            .story
            .iter()
            .enumerate()
            .filter(|&(d, &s)| s as usize == d && excluded.binary_search(&s).is_err())
            .count() as u64;
        let counts = self.counts.without_stories(&excluded);
        let mut lines = previous.unwrap_or_default();
        lines.learn = self.learn;
        lines.merge(counts.all_story_counts(), run, documents, stories);
        lines.examples = self.examples;
        lines
    }
}

/// Learn boilerplate rules from the corpus and the statistics of a state's earlier
/// runs: a line counts the stories it was seen in over all runs. Returns the rules,
/// and the run's counts to add to the state when it commits.
pub fn learn_rules_with_state(
    corpus: &Corpus,
    cfg: &DedupConfig,
    learn: &LearnOptions,
    st: &State,
    progress: &indicatif::ProgressBar,
) -> Result<(Rules, PendingLines), RunError> {
    let (counts, story, documents, stories) = story_counts(corpus, cfg, progress)?;
    let day = counts.all_story_counts();
    let none = state::LineStats::default();
    let previous = st.lines.as_ref().unwrap_or(&none);
    let learned = previous.learned(&day, documents, stories, learn, cfg.normalize);
    let (rules, examples) = rules_and_examples(corpus, learned)?;
    Ok((
        rules,
        PendingLines {
            counts,
            story,
            learn: *learn,
            examples,
        },
    ))
}

/// Group raw pages into stories and count, for every line key, the stories it is in.
/// Returns the counts, the documents read and the number of stories.
#[allow(clippy::type_complexity)]
fn story_counts(
    corpus: &Corpus,
    cfg: &DedupConfig,
    progress: &indicatif::ProgressBar,
) -> Result<(boilerplate::Counts, Vec<DocId>, u64, u64), RunError> {
    // 1. Stories: components of raw pages whose estimated containment reaches
    // STORY_CONTAINMENT.
    let story_cfg = DedupConfig {
        threshold: STORY_JACCARD,
        lsh: lsh::optimal_params(STORY_JACCARD, cfg.num_perm),
        ..cfg.clone()
    };
    // The same read gathers every page's line keys, so lines are counted without a
    // second pass.
    let mut sk = Sketch::new(&story_cfg);
    sk.line_keys = true;
    sk.own_text = true;
    let mut table = sketch_corpus(corpus, &story_cfg, &sk, progress)?;
    progress.finish_and_clear();
    let sigs = table.signatures();
    // Text length stands in for the shingle-set size (they grow together).
    let (edges, _) = lsh::candidates_bounded(
        &sigs,
        story_cfg.lsh,
        cfg.seed,
        cfg.band_key_budget(),
        &cfg.spill_dir(),
        |a, b| {
            story_link(
                sigs.get(a),
                sigs.get(b),
                table.text_bytes[a as usize],
                table.text_bytes[b as usize],
            )
        },
    )
    .map_err(spill_err)?;
    let mut story: Vec<DocId> = (0..table.len() as DocId).collect();
    let comps = cluster::components(table.len(), &edges);
    for c in &comps {
        for &m in c {
            story[m as usize] = c[0];
        }
    }
    let stories = (table.len() - comps.iter().map(|c| c.len() - 1).sum::<usize>()) as u64;
    let documents = table.len() as u64;

    // 2. Counts of (line key, story). Signatures are not needed any more; free them
    // first.
    let keys = std::mem::take(&mut table.line_keys);
    drop(table);
    Ok((
        boilerplate::Counts::from_doc_keys(keys, &story),
        story,
        documents,
        stories,
    ))
}

/// Whether two raw pages of `la` and `lb` bytes are copies of one story: their
/// estimated containment when it reaches [`STORY_CONTAINMENT`]. Text length stands in
/// for the shingle-set size (they grow together).
pub fn story_link(a: &[Slot], b: &[Slot], la: u64, lb: u64) -> Option<f64> {
    let j = minhash::estimate(a, b);
    let (la, lb) = (la as f64, lb as f64);
    let smaller = la.min(lb).max(1.0);
    let containment = (j * (la + lb) / ((1.0 + j) * smaller)).min(1.0);
    (containment >= STORY_CONTAINMENT).then_some(containment)
}

/// The rules of `learned`, with the examples their text comes from.
fn rules_with_examples(corpus: &Corpus, learned: Learned) -> Result<Rules, RunError> {
    rules_and_examples(corpus, learned).map(|r| r.0)
}

/// [`rules_with_examples`], and the examples of every rule (for a state).
#[allow(clippy::type_complexity)]
fn rules_and_examples(
    corpus: &Corpus,
    mut learned: Learned,
) -> Result<(Rules, Vec<((u8, u64), Vec<String>)>), RunError> {
    // 3. Examples: searched in parallel, kept in input order; the read stops early
    // once every rule has its examples.
    let mut done = learned.has_all_examples();
    corpus.for_each_group(|chunks| -> Result<(), RunError> {
        if done {
            return Ok(());
        }
        let found: Vec<Vec<((u8, u64), String)>> = chunks
            .par_iter()
            .map(|c| {
                let mut buf = String::new();
                let format = corpus.inputs()[c.source].format;
                c.records()
                    .filter_map(|rec| corpus::parse(&rec, format, corpus.options()).ok())
                    .flat_map(|doc| learned.find_examples(&doc.text, &mut buf))
                    .collect()
            })
            .collect();
        learned.add_examples(found.into_iter().flatten());
        done = learned.has_all_examples();
        Ok(())
    })?;
    let examples = learned.rule_examples();
    Ok((learned.into_rules(), examples))
}

/// Write a rules file atomically.
pub fn write_rules(path: &Path, rules: &Rules) -> Result<(), RunError> {
    output::write_atomic(path, |w| {
        w.write_all(rules.to_json().as_bytes())?;
        w.write_all(b"\n")
    })
    .map_err(write_err(path))
}

/// Write the report as pretty JSON.
pub fn write_report(path: &Path, report: &Report) -> Result<(), RunError> {
    output::write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, report).map_err(io::Error::other)?;
        w.write_all(b"\n")
    })
    .map_err(write_err(path))
}
