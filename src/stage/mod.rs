//! Stages: the per-record work of `clean`, cut into streaming maps over JSON Lines
//! (standard input to standard output), so that an engine such as Spark can run them
//! in every partition and do the grouping between them itself.
//!
//! Every decision is made here, by the same code `clean` runs, and the engine only
//! groups, joins and counts: run over the same records in the same order, the stages
//! drop the same documents and strip the same lines as `dupstrip clean`. The order of
//! records is given by a row number the engine assigns (files in order, lines in
//! order). `integrations/spark/` drives them; docs/spark-and-stages.md documents
//! every line format. The formats carry [`SCHEMA_VERSION`].
//!
//! The stages of one `clean`:
//! 1. `sketch --for stories`: raw signature, band keys and line keys of each record.
//! 2. `confirm --for stories` over each band bucket: edges between copies of a story.
//! 3. (engine) components of those edges: each record's story is its component's
//!    smallest row; (line key, story) pairs counted per key.
//! 4. `learn`: which keys are rules, from the counts. 5. `examples` and `rules`: the
//!    rules file, with the examples from the first records in row order.
//! 6. `sketch --for dedup`: signature of each stripped text. 7. `confirm --for dedup`
//!    over each bucket. 8. (engine) components. 9. `assign` per component: which copy
//!    is kept. 10. `apply`: the stripped records, without the dropped rows.
//!
//! Steps 2 and 7 (with the engine's grouping of band keys before them) may also run
//! here, in one process (`candidates`), when the signatures fit one task's memory;
//! steps 3 and 8 likewise (`components`), when the edges do.

use std::borrow::Cow;
use std::io::{self, BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::boilerplate::{LearnOptions, Rules, Stripper};
use crate::config::KeepPolicy;
use crate::config::{ConfigError, DedupConfig, DedupOptions, EmptyPolicy, Mode, Verify};
use crate::corpus::{self, Format, ReadOptions, Record};
use crate::learn::{self};
use crate::lsh::{self, DocId};
use crate::minhash::{self, Scheme, Slot};
use crate::normalize::NormalizeOptions;
use crate::shingle::ShingleKind;
use crate::sketch::{Buffers, Sketch};
use crate::verify::Verifier;

mod apply;
mod assign;
mod candidates;
mod components;
pub mod rows;
mod rules;
mod stories;

pub use apply::{ApplyStats, apply, decompress, read_drop_list};
pub use assign::assign;
pub use candidates::{CandidateRun, candidates};
pub use components::{ComponentStats, components};
pub use rules::{LearnedFile, RulesStatus, examples, learn, rules};
pub use stories::{StoryRun, stories};

/// Version of the stage line formats and of the config file. A stage refuses a config
/// of another version.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a stage failed.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("{name}:{line}: {message}")]
    Line {
        name: String,
        line: u64,
        message: String,
    },
    /// A record's own error, which names its `FILE:LINE`.
    #[error("{0}")]
    Record(String),
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("cannot read {name}: {source}")]
    Read {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot write standard output: {0}")]
    Write(#[source] io::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl StageError {
    /// True when the error is a closed standard output.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, StageError::Write(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// The settings every stage of one job shares, written once by `dupstrip stage config`
/// from the same options `clean` takes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    pub schema_version: u32,
    pub threshold: f64,
    pub shingle: ShingleKind,
    /// Tokens (or characters, with `char`) per shingle.
    pub ngram: usize,
    pub num_perm: usize,
    pub scheme: Scheme,
    pub bands: usize,
    pub rows: usize,
    pub seed: u64,
    pub verify: Verify,
    pub keep: KeepPolicy,
    pub normalize: NormalizeOptions,
    pub text_field: String,
    pub id_field: String,
    pub max_record_bytes: usize,
    pub min_chars: usize,
    pub on_empty: EmptyPolicy,
    pub learn: LearnOptions,
}

impl StageConfig {
    /// The stage settings of a checked `clean` configuration.
    pub fn new(cfg: &DedupConfig, learn: LearnOptions) -> StageConfig {
        StageConfig {
            schema_version: SCHEMA_VERSION,
            threshold: cfg.threshold,
            shingle: cfg.shingle.kind,
            ngram: cfg.shingle.n,
            num_perm: cfg.num_perm,
            scheme: cfg.scheme,
            bands: cfg.lsh.bands,
            rows: cfg.lsh.rows,
            seed: cfg.seed,
            verify: cfg.verify,
            keep: cfg.keep,
            normalize: cfg.normalize,
            text_field: cfg.text_field.clone(),
            id_field: cfg.id_field.clone(),
            max_record_bytes: cfg.read.max_record_bytes,
            min_chars: cfg.min_chars,
            on_empty: cfg.on_empty,
            learn,
        }
    }

    /// Read and check a config file.
    pub fn load(path: &Path) -> Result<StageConfig, StageError> {
        let file_err = |message: String| StageError::File {
            path: path.display().to_string(),
            message,
        };
        let data = std::fs::read(path).map_err(|e| file_err(format!("cannot read: {e}")))?;
        let v: serde_json::Value = serde_json::from_slice(&data)
            .map_err(|e| file_err(format!("not a stage config: {e}")))?;
        match v.get("schema_version").and_then(|s| s.as_u64()) {
            Some(n) if n == SCHEMA_VERSION as u64 => {}
            Some(n) => {
                return Err(file_err(format!(
                    "stage config schema version {n}; this dupstrip reads version {SCHEMA_VERSION} (write it again with `dupstrip stage config`)"
                )));
            }
            None => return Err(file_err("not a stage config: no schema_version".into())),
        }
        let c: StageConfig =
            serde_json::from_value(v).map_err(|e| file_err(format!("not a stage config: {e}")))?;
        c.dedup_config()?;
        if c.learn.min_docs < 2 || !(0.0..=1.0).contains(&c.learn.min_fraction) {
            return Err(file_err(format!(
                "learn.min_docs must be at least 2 and learn.min_fraction between 0 and 1, got {} and {}",
                c.learn.min_docs, c.learn.min_fraction
            )));
        }
        Ok(c)
    }

    /// The `clean` configuration these settings stand for (checked again, as the file
    /// may have been edited).
    pub fn dedup_config(&self) -> Result<DedupConfig, ConfigError> {
        DedupOptions {
            threshold: self.threshold,
            shingle: self.shingle,
            ngram: self.ngram,
            char_ngram: self.ngram,
            num_perm: self.num_perm,
            scheme: self.scheme,
            bands: Some(self.bands),
            rows: Some(self.rows),
            seed: self.seed,
            verify: self.verify,
            keep: self.keep,
            mode: Mode::Drop,
            normalize: self.normalize,
            read: ReadOptions {
                text_field: self.text_field.clone(),
                id_field: self.id_field.clone(),
                format: Some(Format::Jsonl),
                mmap: false,
                max_record_bytes: self.max_record_bytes,
                tmp_dir: None,
            },
            skip_bad_records: false,
            threads: None,
            min_chars: self.min_chars,
            on_empty: self.on_empty,
            mem_limit: None,
        }
        .validate()
    }
}

/// Which of the two groupings of `clean` a sketch or confirm stage serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Grouping raw pages into stories, to learn boilerplate.
    Stories,
    /// Near-duplicates of the stripped texts.
    Dedup,
}

/// The configuration of a purpose: stories are grouped with their own threshold and
/// banding ([`learn::STORY_JACCARD`]), as `clean` does.
fn purpose_config(cfg: &DedupConfig, purpose: Purpose) -> DedupConfig {
    match purpose {
        Purpose::Dedup => cfg.clone(),
        Purpose::Stories => DedupConfig {
            threshold: learn::STORY_JACCARD,
            lsh: lsh::optimal_params(learn::STORY_JACCARD, cfg.num_perm),
            ..cfg.clone()
        },
    }
}

/// Why a line could not be processed.
enum LineError {
    /// Named by the line of the stage's input.
    Here(String),
    /// Named by the record's own `at` (`FILE:LINE` of the corpus).
    Record(String),
    /// Not the line's fault (standard output closed, say): passed on as it is.
    Fatal(StageError),
}

impl From<String> for LineError {
    fn from(s: String) -> Self {
        LineError::Here(s)
    }
}

impl From<StageError> for LineError {
    fn from(e: StageError) -> Self {
        LineError::Fatal(e)
    }
}

/// Every line of an input without its `\n`, numbered from 1: `f`'s errors that are
/// the line's own name it (`NAME:LINE`).
fn for_each_raw_line(
    input: impl BufRead,
    name: &str,
    mut f: impl FnMut(&[u8]) -> Result<(), LineError>,
) -> Result<(), StageError> {
    let mut input = input;
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = input
            .read_until(b'\n', &mut buf)
            .map_err(|source| StageError::Read {
                name: name.to_string(),
                source,
            })?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        f(buf.strip_suffix(b"\n").unwrap_or(&buf)).map_err(|e| match e {
            LineError::Here(message) => StageError::Line {
                name: name.to_string(),
                line,
                message,
            },
            LineError::Record(m) => StageError::Record(m),
            LineError::Fatal(e) => e,
        })?;
    }
}

/// Lines of an input, numbered from 1; blank lines are skipped.
fn for_each_line(
    input: impl BufRead,
    name: &str,
    mut f: impl FnMut(&str) -> Result<(), LineError>,
) -> Result<(), StageError> {
    for_each_raw_line(input, name, |raw| {
        let mut bytes = raw;
        while let [rest @ .., b'\r'] = bytes {
            bytes = rest;
        }
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(());
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to()))?;
        f(text)
    })
}

fn parse_line<'a, T: Deserialize<'a>>(line: &'a str, what: &str) -> Result<T, String> {
    serde_json::from_str(line).map_err(|e| format!("not a {what} line: {e}"))
}

/// A record as the engine sends it: its row, where it came from, and the record, either
/// as a JSON string holding the line as read (byte for byte what `clean` reads) or as
/// the record object itself.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    row: u64,
    /// `FILE:LINE`: the record's id when it has none, and where errors point.
    #[serde(borrow, default)]
    at: Option<Cow<'a, str>>,
    #[serde(borrow)]
    record: &'a RawValue,
}

impl<'a> Envelope<'a> {
    fn parse(line: &'a str) -> Result<Self, String> {
        parse_line(line, "record envelope ({\"row\", \"at\", \"record\"})")
    }

    /// The record's bytes as `clean` would read them.
    fn bytes(&self) -> Result<Cow<'a, [u8]>, LineError> {
        let raw = self.record.get();
        match raw.as_bytes().first() {
            Some(b'"') => {
                if let Ok(s) = serde_json::from_str::<&'a str>(raw) {
                    return Ok(Cow::Borrowed(s.as_bytes()));
                }
                let s: String = serde_json::from_str(raw)
                    .map_err(|e| format!("\"record\" is not a JSON string: {e}"))?;
                Ok(Cow::Owned(s.into_bytes()))
            }
            Some(b'{') => Ok(Cow::Borrowed(raw.as_bytes())),
            _ => Err(LineError::Here(
                "\"record\" must be the record's line as a JSON string, or the record object"
                    .into(),
            )),
        }
    }

    fn doc<'b>(&self, bytes: &'b [u8], opts: &ReadOptions) -> Result<corpus::Doc<'b>, LineError> {
        let rec = Record {
            source: 0,
            line: self.row,
            bytes,
        };
        corpus::parse(&rec, Format::Jsonl, opts).map_err(|e| match &self.at {
            Some(at) => LineError::Record(format!("{at}: {e}")),
            None => LineError::Here(format!("row {}: {e}", self.row)),
        })
    }

    fn default_id(&self) -> String {
        match &self.at {
            Some(at) => at.to_string(),
            None => format!("row:{}", self.row),
        }
    }
}

fn hex_slots(slots: &[Slot]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(slots.len() * 4);
    for v in slots {
        for b in v.to_le_bytes() {
            s.push(DIGITS[(b >> 4) as usize] as char);
            s.push(DIGITS[(b & 15) as usize] as char);
        }
    }
    s
}

fn slots_of_hex(hex: &str, k: usize) -> Result<Vec<Slot>, String> {
    let b = hex.as_bytes();
    if b.len() != k * 4 {
        return Err(format!(
            "a signature of {} hex digits; this config's has {} ({} slots)",
            b.len(),
            k * 4,
            k
        ));
    }
    let byte = |i: usize| {
        std::str::from_utf8(&b[i..i + 2])
            .ok()
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or_else(|| "a signature that is not hex".to_string())
    };
    (0..k)
        .map(|i| Ok(Slot::from_le_bytes([byte(i * 4)?, byte(i * 4 + 2)?])))
        .collect()
}

fn hex64(v: u64) -> String {
    format!("{v:016x}")
}

fn of_hex64(s: &str) -> Result<u64, String> {
    u64::from_str_radix(s, 16).map_err(|_| format!("{s:?} is not a 64-bit hex key"))
}

/// One record's sketch line.
#[derive(Serialize)]
struct SketchLine<'a> {
    row: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    /// Bytes of the text the signature is of (raw for stories, stripped for dedup).
    len: u64,
    /// `null` when the text has no shingle (or was emptied).
    sig: Option<String>,
    /// Band keys, band 0 first (empty without a signature).
    bands: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keys: Option<Vec<(u8, String)>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    emptied: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lines_removed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_removed: Option<u64>,
    /// With `--learned`: the lines that match a learned key, `[kind, hash, line]`, in
    /// their order in the record (`pos` is the place in this list).
    #[serde(skip_serializing_if = "Option::is_none")]
    examples: Option<Vec<(u8, String, String)>>,
}

/// A sketch line as confirm and assign read it.
#[derive(Deserialize)]
struct SketchIn<'a> {
    row: u64,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    len: u64,
    #[serde(borrow)]
    sig: Option<Cow<'a, str>>,
}

fn write_json(out: &mut impl Write, v: &impl Serialize) -> Result<(), StageError> {
    serde_json::to_writer(&mut *out, v).map_err(|e| StageError::Write(io::Error::other(e)))?;
    out.write_all(b"\n").map_err(StageError::Write)
}

/// The stripper of a stage given `--rules` (none: strips nothing).
fn stripper(rules: Option<Rules>) -> std::sync::Arc<Stripper> {
    std::sync::Arc::new(Stripper::new(rules.unwrap_or_else(Rules::empty)))
}

/// One record's sketch, as the sketch stages compute it.
pub(super) struct Signed {
    /// Bytes of the text the signature is of (raw for stories, stripped for dedup).
    pub len: u64,
    /// Stripping left the record empty (dedup; never for stories).
    pub emptied: bool,
    pub lines_removed: u64,
    pub bytes_removed: u64,
    /// The record has a signature ([`Signer::slots`]).
    pub ok: bool,
}

/// Sketches records one at a time, as `clean` does for one purpose.
pub(super) struct Signer {
    pub cfg: DedupConfig,
    purpose: Purpose,
    sk: Sketch,
    buf: Buffers,
    full: Vec<u32>,
    /// The last signature (when [`Signed::ok`]).
    pub slots: Vec<Slot>,
    keys: Vec<(u8, u64)>,
}

impl Signer {
    pub fn new(
        sc: &StageConfig,
        purpose: Purpose,
        rules: Option<Rules>,
    ) -> Result<Self, StageError> {
        let base = sc.dedup_config()?;
        let cfg = purpose_config(&base, purpose);
        let stripper = match purpose {
            Purpose::Dedup => Some(stripper(rules)),
            Purpose::Stories => None,
        };
        let mut sk = Sketch::new(&cfg).with_stripper(stripper);
        // Stories are grouped on each page's own text, as `clean` does.
        sk.own_text = purpose == Purpose::Stories;
        Ok(Signer {
            full: vec![minhash::EMPTY_SLOT; cfg.num_perm],
            slots: Vec::with_capacity(cfg.num_perm),
            cfg,
            purpose,
            sk,
            buf: Buffers::default(),
            keys: Vec::new(),
        })
    }

    /// Sketch one record's text.
    pub fn sign(&mut self, text: &str) -> Signed {
        let (text, stripped) = self.sk.prepare(text, &mut self.buf);
        let emptied = self.sk.is_emptied(&text, &stripped);
        self.full.fill(minhash::EMPTY_SLOT);
        let ok = !emptied && self.sk.sign(&text, &mut self.buf, &mut self.full);
        self.slots.clear();
        self.slots
            .extend(self.full.iter().map(|&v| minhash::stored(v)));
        if self.purpose == Purpose::Stories {
            // Found by `prepare` (which cut the text to its own part) on the same
            // read of the lines.
            self.keys.clear();
            self.keys.extend_from_slice(&self.buf.line_keys);
            self.keys.sort_unstable();
            self.keys.dedup();
        }
        Signed {
            len: text.len() as u64,
            emptied,
            lines_removed: stripped.lines_removed,
            bytes_removed: stripped.bytes_removed(),
            ok,
        }
    }

    /// Band keys of the last signature, band 0 first.
    pub fn band_keys(&self) -> impl Iterator<Item = u64> + '_ {
        let (bands, rows, seed) = (self.cfg.lsh.bands, self.cfg.lsh.rows, self.cfg.seed);
        (0..bands).map(move |b| lsh::band_key(&self.slots, b, rows, seed))
    }

    /// Line keys of the last record (stories), sorted, each once.
    pub fn line_keys(&self) -> &[(u8, u64)] {
        &self.keys
    }
}

/// `stage sketch`: one sketch line per record, in input order; with `learned` (keys
/// of `stage learn`), each with the record's lines that match a learned key.
#[allow(clippy::too_many_arguments)]
pub fn sketch(
    sc: &StageConfig,
    purpose: Purpose,
    rules: Option<Rules>,
    learned: Option<&Path>,
    band_keys: bool,
    input: impl BufRead,
    name: &str,
    out: &mut impl Write,
) -> Result<(), StageError> {
    let mut signer = Signer::new(sc, purpose, rules)?;
    let learned = learned.map(|l| LearnedFile::load(l, sc)).transpose()?;
    for_each_line(input, name, |line| {
        let env = Envelope::parse(line)?;
        let bytes = env.bytes()?;
        let doc = env.doc(&bytes, &signer.cfg.read)?;
        let s = signer.sign(&doc.text);
        let default_id;
        let mut sl = SketchLine {
            row: env.row,
            id: None,
            len: s.len,
            sig: s.ok.then(|| hex_slots(&signer.slots)),
            bands: if s.ok && band_keys {
                signer.band_keys().map(hex64).collect()
            } else {
                Vec::new()
            },
            keys: None,
            emptied: None,
            lines_removed: None,
            bytes_removed: None,
            examples: learned.as_ref().map(|l| {
                (l.find_examples(&doc.text).into_iter())
                    .map(|((kind, hash), line)| (kind, hex64(hash), line))
                    .collect()
            }),
        };
        match purpose {
            Purpose::Stories => {
                sl.keys = Some(
                    signer
                        .line_keys()
                        .iter()
                        .map(|&(k, h)| (k, hex64(h)))
                        .collect(),
                );
            }
            Purpose::Dedup => {
                default_id = env.default_id();
                sl.id = Some(doc.id.as_deref().unwrap_or(&default_id));
                sl.emptied = Some(s.emptied);
                sl.lines_removed = Some(s.lines_removed);
                sl.bytes_removed = Some(s.bytes_removed);
            }
        }
        write_json(out, &sl)?;
        Ok(())
    })
}

/// A bucket, or a component: its members.
#[derive(Deserialize)]
struct Group<T> {
    members: Vec<T>,
}

#[derive(Serialize)]
struct EdgeLine {
    a: u64,
    b: u64,
    similarity: f64,
}

/// Confirms the edges of buckets as `clean` does: members in row order, each compared
/// with the bucket's representatives until one confirms it.
pub(super) struct Confirmer {
    pub cfg: DedupConfig,
    purpose: Purpose,
    floor: f64,
}

impl Confirmer {
    pub fn new(sc: &StageConfig, purpose: Purpose) -> Result<Self, StageError> {
        let cfg = purpose_config(&sc.dedup_config()?, purpose);
        let floor = Verifier::new(&cfg).floor;
        Ok(Confirmer {
            cfg,
            purpose,
            floor,
        })
    }

    /// The confirmed edges `(row a, row b, similarity)` of one bucket of `(row,
    /// length, signature)` members (sorted and deduplicated by row here).
    pub fn edges(
        &self,
        members: &mut Vec<(u64, u64, Vec<Slot>)>,
        mut emit: impl FnMut(u64, u64, f64) -> Result<(), StageError>,
    ) -> Result<(), StageError> {
        members.sort_unstable_by_key(|m| m.0);
        members.dedup_by_key(|m| m.0);
        let keyed: Vec<(lsh::BandKey, DocId)> =
            (0..members.len()).map(|i| (0, i as DocId)).collect();
        let (edges, _, _) = lsh::confirm_bucket(&keyed, &|a: DocId, b: DocId| {
            let (x, y) = (&members[a as usize], &members[b as usize]);
            match self.purpose {
                Purpose::Stories => learn::story_link(&x.2, &y.2, x.1, y.1),
                Purpose::Dedup => {
                    let s = minhash::estimate(&x.2, &y.2);
                    (s >= self.floor).then_some(s)
                }
            }
        });
        for e in edges {
            emit(
                members[e.a as usize].0,
                members[e.b as usize].0,
                e.similarity as f64,
            )?;
        }
        Ok(())
    }
}

/// `stage confirm`: for each bucket (`{"members": [sketch lines]}`), the edges `clean`
/// confirms in it ([`Confirmer`]).
pub fn confirm(
    sc: &StageConfig,
    purpose: Purpose,
    input: impl BufRead,
    name: &str,
    out: &mut impl Write,
) -> Result<(), StageError> {
    let confirmer = Confirmer::new(sc, purpose)?;
    let k = confirmer.cfg.num_perm;
    for_each_line(input, name, |line| {
        let g: Group<SketchIn<'_>> = parse_line(line, "bucket ({\"members\": [...]})")?;
        let mut members: Vec<(u64, u64, Vec<Slot>)> =
            g.members
                .iter()
                .map(|m| {
                    let sig = m.sig.as_deref().ok_or_else(|| {
                        format!("row {}: a bucket member without a signature", m.row)
                    })?;
                    Ok((m.row, m.len, slots_of_hex(sig, k)?))
                })
                .collect::<Result<_, String>>()?;
        confirmer.edges(&mut members, |a, b, similarity| {
            write_json(out, &EdgeLine { a, b, similarity })
        })?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_keys_round_trip_as_hex() {
        let slots: Vec<Slot> = vec![0, 1, 0xabcd, 0xffff];
        let hex = hex_slots(&slots);
        assert_eq!(hex, "00000100cdabffff");
        assert_eq!(slots_of_hex(&hex, 4), Ok(slots));
        assert!(slots_of_hex(&hex, 5).is_err());
        assert!(slots_of_hex("zz000100cdabffff", 4).is_err());
        assert_eq!(of_hex64(&hex64(u64::MAX - 7)), Ok(u64::MAX - 7));
    }

    #[test]
    fn config_round_trips_and_checks_its_version() {
        let cfg = DedupOptions::default().validate().unwrap();
        let sc = StageConfig::new(&cfg, LearnOptions::default());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("job.json");
        std::fs::write(&p, serde_json::to_string(&sc).unwrap()).unwrap();
        assert_eq!(StageConfig::load(&p).unwrap(), sc);
        let mut v = serde_json::to_value(&sc).unwrap();
        v["schema_version"] = 2.into();
        std::fs::write(&p, v.to_string()).unwrap();
        let e = StageConfig::load(&p).unwrap_err().to_string();
        assert!(e.contains("schema version 2"), "{e}");
        let mut v = serde_json::to_value(&sc).unwrap();
        v["bands"] = 1000.into();
        std::fs::write(&p, v.to_string()).unwrap();
        assert!(StageConfig::load(&p).is_err());
    }
}
