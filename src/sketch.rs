//! Sketch: what does every document of the corpus look like to the later stages?
//!
//! One parallel pass over the corpus parses every record, strips boilerplate when
//! rules are given, normalizes, shingles and signs the text. Only small per-document
//! values stay in memory ([`DocTable`]: id, text length, signature, flags).

use std::borrow::Cow;
use std::sync::Arc;

use bitvec::prelude::*;
use rayon::prelude::*;

use crate::boilerplate::{
    self, Found, Learned, PageCache, PageRead, StripStats, Stripped, Stripper,
};
use crate::config::DedupConfig;
use crate::corpus::{self, Chunk, ChunkCount, Corpus, Format, InputError, Record, RecordError};
use crate::error::{RunError, spill_err};
use crate::lsh::{DocId, Signatures};
use crate::minhash::{self, Sketcher, Slot};
use crate::normalize::Normalizer;
use crate::shingle::Shingler;
use crate::spill::{SigStore, SpillVec, Strings};
use crate::state::{self};

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
    ids: SpillVec<u8>,
    id_ends: SpillVec<u64>,
    pub text_bytes: SpillVec<u64>,
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
    /// Each is a [`boilerplate::pack_key`] of the document's own number.
    pub line_keys: SpillVec<u128>,
    /// Hash of every text as read, when asked for ([`Sketch::text_hashes`]).
    pub text_hash: SpillVec<u128>,
    /// Documents whose id came from the record (not made up from file and line).
    pub has_id: BitVec,
    /// What stripping removed from each document (`clean`, `boilerplate strip`):
    /// the ranges of document `d` are `strip_ranges[strip_ends[d - 1]..strip_ends[d]]`.
    /// The write pass cuts them out without stripping again. Offsets are kept in 32
    /// bits; the ranges of a text of 4 GiB or more are not kept: such documents are
    /// listed in `strip_not_kept` (in order) and stripped again.
    strip_ranges: SpillVec<[u32; 2]>,
    strip_ends: SpillVec<u64>,
    strip_not_kept: Vec<DocId>,
    /// Ids of the state's documents that documents of this run were compared with:
    /// document `len() + i` is `history_ids[i]`.
    pub history_ids: Strings,
    /// Where each document's record starts in its chunk ([`Chunk::record_at`]), so
    /// exact verification reads the records it needs and no others; `u32::MAX`
    /// past 4 GiB.
    pub record_starts: SpillVec<u32>,
}

impl DocTable {
    /// Put what one chunk gave into the table, after the chunks before it.
    fn add(&mut self, source: usize, o: ChunkOut) -> Result<(), RunError> {
        let t = self;
        t.records_per_input[source] += o.text_bytes.len() as u64;
        let mut end = t.ids.len() as u64;
        let ends: Vec<u64> = (o.id_lens.iter())
            .map(|&l| {
                end += l as u64;
                end
            })
            .collect();
        t.id_ends.extend_from_slice(&ends).map_err(spill_err)?;
        t.ids.extend_from_slice(&o.ids).map_err(spill_err)?;
        let base = t.text_bytes.len() as DocId;
        (t.text_bytes.extend_from_slice(&o.text_bytes)).map_err(spill_err)?;
        t.active.extend(o.active);
        t.rejected.extend(o.rejected);
        t.emptied.extend(o.emptied);
        t.has_id.extend(o.has_id);
        (t.text_hash.extend_from_slice(&o.text_hash)).map_err(spill_err)?;
        let mut end = t.strip_ranges.len() as u64;
        let ranges: Vec<[u32; 2]> = o.strip_ranges.iter().map(|&(a, b)| [a, b]).collect();
        (t.strip_ranges.extend_from_slice(&ranges)).map_err(spill_err)?;
        let ends: Vec<u64> = (o.strip_counts.iter())
            .map(|&n| {
                end += n as u64;
                end
            })
            .collect();
        (t.strip_ends.extend_from_slice(&ends)).map_err(spill_err)?;
        t.strip.add(&o.strip);
        t.text_in += o.text_in;
        t.strip_not_kept
            .extend(o.strip_not_kept.iter().map(|&d| base + d));
        let keys: Vec<u128> = (o.line_keys.iter())
            .map(|&(k, h, d)| boilerplate::pack_key(k, h, base + d))
            .collect();
        t.line_keys.extend_from_slice(&keys).map_err(spill_err)?;
        t.sigs.extend_from_slice(&o.sigs).map_err(spill_err)?;
        (t.record_starts.extend_from_slice(&o.starts)).map_err(spill_err)?;
        t.rejects.extend(o.rejects);
        if t.text_bytes.len() > u32::MAX as usize {
            return Err(RunError::TooManyDocuments);
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.text_bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.text_bytes.is_empty()
    }

    pub fn id(&self, d: DocId) -> &str {
        let d = d as usize;
        if d >= self.len() {
            return self.history_ids.get(d - self.len()).unwrap_or("");
        }
        let start = if d == 0 {
            0
        } else {
            self.id_ends[d - 1] as usize
        };
        // Ids are copied from valid UTF-8 strings only.
        std::str::from_utf8(&self.ids[start..self.id_ends[d] as usize]).unwrap_or("")
    }

    /// The byte ranges stripping removed from document `d`, when the run stripped.
    pub fn stripped(&self, d: DocId) -> Option<Stripped> {
        Some(Stripped {
            ranges: self
                .kept_ranges(d)?
                .iter()
                .map(|&[a, b]| (a as usize, b as usize))
                .collect(),
            ..Stripped::default()
        })
    }

    /// Bytes stripping removed from document `d` (0 when its ranges are not kept).
    pub fn removed_bytes(&self, d: DocId) -> u64 {
        self.kept_ranges(d)
            .map_or(0, |r| r.iter().map(|&[a, b]| (b - a) as u64).sum())
    }

    fn kept_ranges(&self, d: DocId) -> Option<&[[u32; 2]]> {
        if self.strip_not_kept.binary_search(&d).is_ok() {
            return None;
        }
        let d = d as usize;
        let end = *self.strip_ends.get(d)?;
        let start = d.checked_sub(1).map_or(0, |p| self.strip_ends[p]);
        Some(&self.strip_ranges[start as usize..end as usize])
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
    /// Pages read by learning (`clean`): the learning read, with `keep_pages`, keeps
    /// the pages it reads there; the stripping read takes them back instead of reading
    /// them again ([`PageCache`]).
    pub pages: Option<Arc<PageCache>>,
    pub keep_pages: bool,
}

/// Reusable buffers for [`Sketch`].
#[derive(Default)]
pub struct Buffers {
    pub normalized: String,
    pub tokens: Vec<u64>,
    pub shingles: Vec<u64>,
    /// A full signature, before it is stored as [`minhash::Slot`]s.
    pub signature: Vec<u32>,
    /// The line keys of the last text [`Sketch::prepare`] cut to its own text (they
    /// are found on the same read of its lines).
    pub line_keys: Vec<(u8, u64)>,
    /// The last prepared text, normalized, when [`Sketch::prepare`] could read it off
    /// the page it read line by line; `prepared_for` is the address and length of the
    /// prepared text it belongs to. A signature of that very text uses it instead of
    /// normalizing the text again.
    pub prepared: String,
    pub prepared_for: Option<(usize, usize)>,
    /// `prepared` is spaces and plain word characters only
    /// ([`crate::normalize::Normalizer::normalize_into_plain`]).
    pub prepared_plain: bool,
    /// The page the last [`Sketch::prepare`] read for its own text, when pages are kept.
    pub page_read: Option<PageRead>,
    /// A kept page of the text the next [`Sketch::prepare`] strips.
    pub kept_page: Option<PageRead>,
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
            pages: None,
            keep_pages: false,
        }
    }

    pub fn with_stripper(mut self, stripper: Option<Arc<Stripper>>) -> Self {
        self.stripper = stripper;
        self
    }

    /// The text the rest of the pipeline sees: `text` without its boilerplate, and
    /// what was removed.
    ///
    /// Where the page is read line by line (for line keys or stripping), the
    /// normalized prepared text is put together from its normalized lines
    /// ([`boilerplate::page::Page::join_normalized`]), so the text is normalized once.
    pub fn prepare<'t>(&self, text: &'t str, buf: &mut Buffers) -> (Cow<'t, str>, Stripped) {
        self.prepare_finding(text, buf, None)
    }

    /// [`Sketch::prepare`], and the examples of `examples`' rules found on the page
    /// read for stripping, appended to `found` ([`Learned::examples_on`]).
    fn prepare_finding<'t>(
        &self,
        text: &'t str,
        buf: &mut Buffers,
        examples: Option<(&Learned, &mut Found)>,
    ) -> (Cow<'t, str>, Stripped) {
        buf.prepared_for = None;
        let (prepared, stripped, joined) = match &self.stripper {
            None if self.own_text => {
                buf.line_keys.clear();
                let join = self.joins_lines(&self.normalizer);
                let (end, read) = boilerplate::line_keys_joined(
                    &self.normalizer,
                    text,
                    &mut buf.line_keys,
                    join.then_some(&mut buf.prepared),
                );
                buf.prepared_plain = read.page.plain;
                buf.page_read = self.keep_pages.then_some(read);
                (Cow::Borrowed(&text[..end]), Stripped::default(), join)
            }
            None => {
                if let Some((learned, found)) = examples {
                    found.extend(learned.find_examples(text));
                }
                (Cow::Borrowed(text), Stripped::default(), false)
            }
            Some(s) => {
                let kept = buf.kept_page.take();
                let (st, read) = s.strip_read_from(text, kept);
                let mut joined = false;
                if let Some(read) = &read
                    && self.joins_lines(s.normalizer())
                {
                    read.join_kept(&st.ranges, &mut buf.prepared);
                    buf.prepared_plain = read.page.plain;
                    joined = true;
                }
                if let Some((learned, found)) = examples {
                    match &read {
                        Some(read)
                            if learned.normalizer().options() == s.normalizer().options() =>
                        {
                            learned.examples_on(text, read, found)
                        }
                        _ => found.extend(learned.find_examples(text)),
                    }
                }
                (st.apply(text), st, joined)
            }
        };
        if joined {
            buf.prepared_for = Some((prepared.as_ptr() as usize, prepared.len()));
        }
        (prepared, stripped)
    }

    /// Whether a page read line by line with `lines` gives the normalized text a
    /// signature needs: signatures are made, with the same normalization, and
    /// whitespace folding makes a line break a word boundary like any other.
    fn joins_lines(&self, lines: &Normalizer) -> bool {
        self.signatures
            && lines.options() == self.normalizer.options()
            && self.normalizer.options().whitespace
    }

    /// True when stripping left too little of a text to keep.
    pub fn is_emptied(&self, prepared: &str, stripped: &Stripped) -> bool {
        // A character is at most four bytes: a text of at least 4 × min_chars bytes
        // has min_chars characters without counting them.
        !stripped.ranges.is_empty()
            && (prepared.trim().is_empty()
                || (prepared.len() < self.min_chars.saturating_mul(4)
                    && prepared.chars().count() < self.min_chars))
    }

    /// Shingle `text` into `buf.shingles`.
    pub fn shingle(&self, text: &str, buf: &mut Buffers) {
        if buf.prepared_for.take() == Some((text.as_ptr() as usize, text.len())) {
            // Read off the page: the same text the normalizer gives (checked in
            // debug builds, so every test run checks it).
            debug_assert_eq!(buf.prepared, self.normalizer.normalize(text));
            self.shingler.shingles_into_plain(
                &buf.prepared,
                buf.prepared_plain,
                &mut buf.tokens,
                &mut buf.shingles,
            );
            return;
        }
        if self.normalizer.is_identity() {
            self.shingler
                .shingles_into(text, &mut buf.tokens, &mut buf.shingles);
            return;
        }
        let plain = self
            .normalizer
            .normalize_into_plain(text, &mut buf.normalized);
        self.shingler.shingles_into_plain(
            &buf.normalized,
            plain,
            &mut buf.tokens,
            &mut buf.shingles,
        );
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
    /// Ranges stripped, their number per document (when stripping), and the
    /// documents (index in this chunk) whose ranges were not kept.
    strip_ranges: Vec<(u32, u32)>,
    strip_counts: Vec<u32>,
    strip_not_kept: Vec<DocId>,
    /// Examples of rules found in the chunk, in input order.
    examples: Found,
    /// Where each record starts in the chunk.
    starts: Vec<u32>,
    /// Of a chunk read uncounted ([`Chunk::counted`]): its counts, and the
    /// documents (index in this chunk, line in the chunk) whose ids are made up from
    /// their line, left empty in `ids` until the chunk's first line is known.
    count: Option<ChunkCount>,
    made_up: Vec<(DocId, u64)>,
    error: Option<InputError>,
}

impl ChunkOut {
    /// Set aside a bad record (`--skip-bad-records`): it is rejected, with its error,
    /// and takes its place in the table as an inactive document.
    fn reject(
        &mut self,
        corpus: &Corpus,
        sk: &Sketch,
        rec: &Record<'_>,
        counted: bool,
        err: InputError,
        k: usize,
    ) {
        let (input, line, reason) = match err {
            InputError::Record { path, line, reason } => (path, line, reason.to_string()),
            other => (String::new(), rec.line, other.to_string()),
        };
        self.rejects.push(Reject {
            input,
            line,
            reason,
            record: String::from_utf8_lossy(rec.bytes).into_owned(),
        });
        self.has_id.push(false);
        if sk.text_hashes {
            self.text_hash.push(0);
        }
        self.push_id(None, corpus, rec, counted);
        self.text_bytes.push(0);
        self.sigs
            .resize(self.sigs.len() + k, minhash::stored(minhash::EMPTY_SLOT));
        self.active.push(false);
        self.rejected.push(true);
        self.emptied.push(false);
        if sk.stripper.is_some() {
            self.strip_counts.push(0);
        }
    }
}

impl ChunkOut {
    /// Of a chunk read uncounted, once its first line is known (`first_line` of the
    /// input `name`): line numbers made absolute, in the error, the rejects and the
    /// ids made up from them.
    fn number_lines(&mut self, name: &str, first_line: u64) {
        let shift = first_line - 1;
        if let Some(InputError::Record { line, .. }) = &mut self.error {
            *line += shift;
        }
        for r in &mut self.rejects {
            r.line += shift;
        }
        if self.made_up.is_empty() {
            return;
        }
        let mut ids = Vec::with_capacity(self.ids.len() + 16 * self.made_up.len());
        let mut made_up = self.made_up.iter().peekable();
        let mut at = 0;
        for (d, len) in self.id_lens.iter_mut().enumerate() {
            match made_up.next_if(|(m, _)| *m as usize == d) {
                Some(&(_, line)) => {
                    let id = line_id(name, line + shift);
                    ids.extend_from_slice(id.as_bytes());
                    *len = id.len() as u32;
                }
                None => {
                    ids.extend_from_slice(&self.ids[at..at + *len as usize]);
                    at += *len as usize;
                }
            }
        }
        self.ids = ids;
    }

    /// The id of the next document: its own, or one made up from its input and line
    /// ([`default_id`]); in a chunk read uncounted, whose lines are numbered within
    /// the chunk, that is left to [`ChunkOut::number_lines`] (noted in `made_up`).
    fn push_id(&mut self, id: Option<&str>, corpus: &Corpus, rec: &Record<'_>, counted: bool) {
        let made;
        let id = match id {
            Some(id) => id,
            None if counted || corpus.inputs()[rec.source].format != Format::Jsonl => {
                made = default_id(corpus, rec);
                &made
            }
            None => {
                self.made_up.push((self.id_lens.len() as DocId, rec.line));
                ""
            }
        };
        self.ids.extend_from_slice(id.as_bytes());
        self.id_lens.push(id.len() as u32);
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
        Format::Jsonl => line_id(&input.name, rec.line),
    }
}

/// The id made up for the record on line `line` of the JSON Lines input `name`.
fn line_id(name: &str, line: u64) -> String {
    format!("{name}:{line}")
}

fn sketch_chunk(
    corpus: &Corpus,
    cfg: &DedupConfig,
    sk: &Sketch,
    chunk: &Chunk<'_>,
    chunk_no: usize,
    examples: Option<&Learned>,
) -> ChunkOut {
    let mut out = ChunkOut::default();
    let mut buf = Buffers::default();
    let k = cfg.num_perm;
    let format = corpus.inputs()[chunk.source].format;
    // Pages learning kept, to strip with; or the pages this read keeps.
    let mut kept = match (&sk.pages, &sk.stripper) {
        (Some(p), Some(s))
            if !sk.keep_pages && !s.is_empty() && p.serves(s.normalizer().options()) =>
        {
            p.get(chunk_no, chunk.data.len())
        }
        _ => None,
    };
    let mut keeping = match sk.keep_pages {
        true => boilerplate::cache::take_buffer(),
        false => Vec::new(),
    };
    let mut last = None;
    for (r, rec) in chunk.records().enumerate() {
        last = Some(rec);
        let start = rec.bytes.as_ptr() as usize - chunk.data.as_ptr() as usize;
        out.starts.push(u32::try_from(start).unwrap_or(u32::MAX));
        match corpus::parse(&rec, format, corpus.options()) {
            Ok(doc) => {
                if let Some(pages) = kept.as_mut() {
                    buf.kept_page = pages.take(r as u32, &doc.text);
                    out.strip.pages_from_learning += buf.kept_page.is_some() as u64;
                }
                out.has_id.push(doc.id.is_some());
                if sk.text_hashes {
                    out.text_hash.push(state::text_hash(&doc.text));
                }
                out.push_id(doc.id.as_deref(), corpus, &rec, chunk.counted);
                let (text, stripped) = sk.prepare_finding(
                    &doc.text,
                    &mut buf,
                    examples.map(|l| (l, &mut out.examples)),
                );
                if let Some(read) = buf.page_read.take() {
                    boilerplate::cache::encode(&mut keeping, r as u32, &doc.text, &read);
                }
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
                if sk.stripper.is_some() {
                    if doc.text.len() <= u32::MAX as usize {
                        out.strip_ranges
                            .extend(stripped.ranges.iter().map(|&(a, b)| (a as u32, b as u32)));
                        out.strip_counts.push(stripped.ranges.len() as u32);
                    } else {
                        out.strip_not_kept.push(out.text_bytes.len() as DocId);
                        out.strip_counts.push(0);
                    }
                }
                if sk.line_keys {
                    let local = out.text_bytes.len() as DocId;
                    let mut keys = Vec::new();
                    if sk.own_text {
                        // Found by `prepare`, on the same read of the lines.
                        keys.extend_from_slice(&buf.line_keys);
                    } else {
                        boilerplate::line_keys(&sk.normalizer, &doc.text, &mut keys);
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
                out.sigs.extend(full.iter().map(|&v| minhash::stored(v)));
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
                out.reject(corpus, sk, &rec, chunk.counted, err, k);
            }
        }
    }
    if !chunk.counted {
        out.count = Some(chunk.count_read(out.id_lens.len() as u64, last.as_ref()));
    }
    Learned::first_examples(&mut out.examples);
    if let Some(pages) = sk.pages.as_ref().filter(|_| sk.keep_pages) {
        pages.put(chunk_no, chunk.data.len(), &keeping);
        boilerplate::cache::give_back(keeping);
    }
    out
}

/// Stage 1: read, normalize, shingle and sign every document.
///
/// With `examples` (rules learned for this run, [`crate::learn::RunRules`]), the
/// pass also searches their examples on the pages it strips, group by group in input
/// order as the learning's own example pass does, until every rule has all its
/// examples.
pub fn sketch_corpus(
    corpus: &Corpus,
    cfg: &DedupConfig,
    sk: &Sketch,
    progress: &indicatif::ProgressBar,
    mut examples: Option<&mut Learned>,
) -> Result<DocTable, RunError> {
    fn column<T: bytemuck::Pod>(cfg: &DedupConfig) -> SpillVec<T> {
        SpillVec::new(cfg.column_budget(), cfg.spill_dir().named("document table"))
    }
    let mut t = DocTable {
        ids: column(cfg),
        id_ends: column(cfg),
        text_bytes: column(cfg),
        active: BitVec::new(),
        rejected: BitVec::new(),
        emptied: BitVec::new(),
        sigs: SigStore::new(cfg.signature_budget(), cfg.spill_dir().named("signatures")),
        k: cfg.num_perm,
        records_per_input: vec![0; corpus.inputs().len()],
        rejects: Vec::new(),
        strip: StripStats::default(),
        text_in: 0,
        line_keys: SpillVec::new(cfg.line_key_budget(), cfg.spill_dir().named("line keys")),
        text_hash: column(cfg),
        has_id: BitVec::new(),
        history_ids: Strings::default(),
        strip_ranges: column(cfg),
        strip_ends: column(cfg),
        strip_not_kept: Vec::new(),
        record_starts: column(cfg),
    };
    let mut searching = examples.as_deref().is_some_and(|l| !l.has_all_examples());
    // Chunks are numbered in reading order (the pages kept for them, [`PageCache`]).
    let mut chunk_no = 0;
    // Inputs read uncounted: the first line of each one's next chunk, and its
    // chunks' counts so far.
    let mut lines = vec![1u64; corpus.inputs().len()];
    let mut counts: Vec<Vec<ChunkCount>> = vec![Vec::new(); corpus.inputs().len()];
    corpus.for_each_group_counting(|chunks| -> Result<(), RunError> {
        let wanted = examples.as_deref().filter(|_| searching);
        let first = chunk_no;
        chunk_no += chunks.len();
        let mut outs: Vec<ChunkOut> = chunks
            .par_iter()
            .enumerate()
            .map(|(i, c)| {
                let out = sketch_chunk(corpus, cfg, sk, c, first + i, wanted);
                // As each chunk is done, so that the bar moves while the group is
                // worked on, not in one jump when it is put together.
                progress.inc(c.data.len() as u64);
                out
            })
            .collect();
        // The first line of each chunk read uncounted follows from the counts of
        // those before it; its lines are then numbered in the whole file, in
        // parallel (ids made up from them are formatted there).
        let firsts: Vec<u64> = (chunks.iter().zip(&outs))
            .map(|(c, o)| {
                let first_line = lines[c.source];
                if let Some(count) = o.count.filter(|_| !c.counted) {
                    lines[c.source] += count.newlines();
                    counts[c.source].push(count);
                }
                first_line
            })
            .collect();
        (outs.par_iter_mut().zip(chunks).zip(&firsts))
            .filter(|((_, c), _)| !c.counted)
            .for_each(|((o, c), &first_line)| {
                o.number_lines(&corpus.inputs()[c.source].name, first_line);
            });
        for (c, mut o) in chunks.iter().zip(outs) {
            if let Some(e) = o.error {
                return Err(e.into());
            }
            if let Some(l) = examples.as_deref_mut().filter(|_| searching) {
                l.add_examples(std::mem::take(&mut o.examples));
            }
            t.add(c.source, o)?;
        }
        searching = searching && examples.as_deref().is_some_and(|l| !l.has_all_examples());
        Ok(())
    })?;
    for (source, counts) in counts.into_iter().enumerate() {
        if !counts.is_empty() {
            corpus.keep_counts(source, counts);
        }
    }
    for done in [
        t.sigs.finish(),
        t.ids.finish(),
        t.id_ends.finish(),
        t.text_bytes.finish(),
        t.line_keys.finish(),
        t.text_hash.finish(),
        t.strip_ranges.finish(),
        t.strip_ends.finish(),
        t.record_starts.finish(),
    ] {
        done.map_err(spill_err)?;
    }
    Ok(t)
}

/// Number of records in each chunk, and the id of each chunk's first document.
pub(crate) fn chunk_bases(chunks: &[Chunk<'_>], first: u64) -> Vec<u64> {
    let mut bases = Vec::with_capacity(chunks.len() + 1);
    let mut next = first;
    for c in chunks {
        bases.push(next);
        next += c.records;
    }
    bases.push(next);
    bases
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boilerplate::{LineRule, Rules};

    /// A stripped page's signature is made from the normalized lines stripping read
    /// (not normalized again), and equals the signature of the stripped text.
    #[test]
    fn stripped_pages_are_signed_from_the_lines_read() {
        let mut rules = Rules::empty();
        rules.lines.push(LineRule {
            line: "Follow us on WhatsApp".into(),
            stories: 0,
            examples: Vec::new(),
            evidence: None,
        });
        let cfg = crate::config::DedupOptions::default().validate().unwrap();
        let sk = Sketch::new(&cfg).with_stripper(Some(Arc::new(Stripper::new(rules))));
        let text = "Title: «Ünïcode» ﬁrst line\n\nFOLLOW us on   WhatsApp!\r\nA second paragraph, 12 words of it ـ here and there.\n\n";
        let mut buf = Buffers::default();
        let (prepared, stripped) = sk.prepare(text, &mut buf);
        assert_eq!(stripped.lines_removed, 1);
        assert!(buf.prepared_for.is_some());
        assert_eq!(buf.prepared, sk.normalizer.normalize(&prepared));
        let mut joined = vec![0; cfg.num_perm];
        assert!(sk.sign(&prepared, &mut buf, &mut joined));
        assert!(buf.prepared_for.is_none(), "used once");
        // The same text signed from scratch, and a different text after a prepare
        // (never given the prepared one).
        let mut fresh = vec![0; cfg.num_perm];
        assert!(sk.sign(&prepared, &mut Buffers::default(), &mut fresh));
        assert_eq!(joined, fresh);
        sk.prepare(text, &mut buf);
        let other = "Something else entirely, with enough words to shingle it.";
        let mut a = vec![0; cfg.num_perm];
        let mut b = vec![0; cfg.num_perm];
        sk.sign(other, &mut buf, &mut a);
        sk.sign(other, &mut Buffers::default(), &mut b);
        assert_eq!(a, b);
    }
}
