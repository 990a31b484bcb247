//! State: what does a nightly run remember of the runs before it?
//!
//! With `--state DIR` each run deduplicates its input against every document kept by
//! earlier runs without reading their text again, then adds its own keepers. The
//! layout follows segment-based indexes (Lucene, LSM trees):
//!
//! * `seg-GGGGGGGG.dss`: immutable **segments**, one written per run (and merged ones).
//!   For each kept document a segment holds its signature (16-bit slots), id, exact
//!   text hash and the run that added it, and three sorted indexes searched by binary
//!   search in the memory-mapped file: band key → document (the LSH index; a dropped
//!   copy adds its band keys too, pointing at the document it copies), id hash →
//!   document, text hash → document.
//! * `bp-GGGGGGGG.dsb`: **boilerplate statistics**: for every line key, the number of
//!   stories it was seen in over all runs, and the examples of the current rules.
//! * `MANIFEST`: JSON naming the live files, the parameters and the runs so far,
//!   ending in a checksum line. It is replaced atomically (write `MANIFEST.tmp`,
//!   fsync, rename, fsync the directory): a run killed at any point leaves either
//!   the old manifest or the new one, and files no manifest names are leftovers that
//!   the next run removes.
//! * `LOCK`: held (an advisory `flock`, released by the kernel however the process
//!   ends) by the one run writing the state.
//!
//! Every data file starts with an 8-byte magic, the format version and the parameters
//! that shaped it (JSON), and ends with a footer (JSON: its counts and section table),
//! the footer's length, an xxh3-64 checksum of everything before it, and an end magic.
//! Files are checked whole when opened. The indexes are sorted arrays of hashes with
//! a directory by the hashes' top bits, so a lookup costs two cache misses.
//!
//! Documents are numbered by a global sequence (`seq`) in the order they were kept.
//! A run appends a contiguous range and only neighbouring segments are merged, so
//! every segment covers a contiguous range of `seq`, in order.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use xxhash_rust::xxh3::{Xxh3Default, xxh3_64, xxh3_128};

use crate::lsh::{self, LshParams};
use crate::minhash::Scheme;
use crate::minhash::Slot;
use crate::normalize::NormalizeOptions;
use crate::shingle::ShingleParams;

/// `format` field of the manifest.
pub const STATE_FORMAT: &str = "dupstrip-state";
/// Version of the state layout (manifest and data files) this build reads and writes.
pub const STATE_VERSION: u32 = 1;

const SEGMENT_MAGIC: &[u8; 8] = b"DUPSTSEG";
const STATS_MAGIC: &[u8; 8] = b"DUPSTBPS";
const END_MAGIC: &[u8; 8] = b"DUPSTEND";
/// Magic, version and the parameters' length; the parameters (JSON) follow, padded to
/// 8 bytes.
const HEAD_BYTES: u64 = 16;
/// Footer length, checksum, end magic.
const TAIL_BYTES: u64 = 24;

const MANIFEST: &str = "MANIFEST";
const MANIFEST_TMP: &str = "MANIFEST.tmp";
const MANIFEST_PREV: &str = "MANIFEST.prev";
const MANIFEST_PREV_TMP: &str = "MANIFEST.prev.tmp";
const LOCK: &str = "LOCK";

/// Segments merge in groups of this many of one tier (tier: the base-4 logarithm of
/// the number of runs a segment covers), so a state of N runs has at most about
/// 3·log₄N segments and each document is rewritten log₄N times over its life.
pub const MERGE_FANIN: usize = 4;

/// Band-index entries read per band, segment and document: a bucket of thousands of
/// kept documents (one template) costs at most this many comparisons.
pub const MAX_HISTORY_BUCKET: usize = 64;

/// A boilerplate line key seen in a single story is forgotten after this many runs
/// without being seen again.
pub const SINGLETON_RUNS: u32 = 7;
/// A key seen in two or more stories, but not in enough to be a rule, is forgotten
/// after this many runs without being seen. Rules are kept.
pub const FORGET_RUNS: u32 = 30;

/// Everything that shapes signatures and band keys: a state only holds documents
/// signed with one set of these.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StateParams {
    pub seed: u64,
    pub shingle: ShingleParams,
    pub num_perm: usize,
    pub scheme: Scheme,
    pub bands: usize,
    pub rows: usize,
    pub normalize: NormalizeOptions,
    /// Bits kept per signature slot.
    pub slot_bits: u32,
    /// Texts were stripped of boilerplate before signing (`clean`), or not (`dedup`).
    pub stripped: bool,
}

impl StateParams {
    pub fn new(cfg: &crate::config::DedupConfig, stripped: bool) -> StateParams {
        StateParams {
            seed: cfg.seed,
            shingle: cfg.shingle,
            num_perm: cfg.num_perm,
            scheme: cfg.scheme,
            bands: cfg.lsh.bands,
            rows: cfg.lsh.rows,
            normalize: cfg.normalize,
            slot_bits: 8 * std::mem::size_of::<Slot>() as u32,
            stripped,
        }
    }

    pub fn lsh(&self) -> LshParams {
        LshParams {
            bands: self.bands,
            rows: self.rows,
        }
    }

    /// What differs between the state's parameters (`self`) and a run's, one line
    /// each with the option that sets it.
    fn diff(&self, run: &StateParams) -> String {
        let (a, b) = (
            serde_json::to_value(self).unwrap_or_default(),
            serde_json::to_value(run).unwrap_or_default(),
        );
        let mut lines = Vec::new();
        if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
            for (key, va) in a {
                let vb = b.get(key).cloned().unwrap_or_default();
                if *va == vb {
                    continue;
                }
                let option = match key.as_str() {
                    "seed" => "--seed",
                    "shingle" => "--shingle, --ngram, --char-ngram",
                    "num_perm" => "--num-perm",
                    "scheme" => "--scheme",
                    "bands" | "rows" => "--bands/--rows, or --threshold that chose them",
                    "normalize" => "--no-normalize",
                    "stripped" => "the command: clean signs stripped text, dedup raw text",
                    _ => "the dupstrip build",
                };
                lines.push(format!("  {key} ({option}): state {va}, this run {vb}"));
            }
        }
        lines.join("\n")
    }
}

/// Why a state could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "state {dir} is in use by another dupstrip run ({holder})\nhint: runs that write one state cannot overlap; wait for that run to finish (its lock goes with the process: a killed run leaves none)"
    )]
    Locked { dir: String, holder: String },
    #[error(
        "state {dir} was built with other parameters:\n{diff}\nhint: run with the state's parameters (`dupstrip state stats {dir}` lists them), or give a new --state directory"
    )]
    Params { dir: String, diff: String },
    #[error(
        "{path}: state format version {found}, written by {writer}; this dupstrip ({ours}) reads version {STATE_VERSION}\nhint: use the dupstrip that wrote it, or a newer one"
    )]
    Version {
        path: String,
        found: u32,
        writer: String,
        ours: &'static str,
    },
    #[error(
        "{path}: corrupt state file: {what}\nhint: the state cannot be used as it is; restore its directory from a backup, or move it aside and start a new state"
    )]
    Corrupt { path: String, what: String },
    #[error("{dir}: not a dupstrip state directory: {why}")]
    NotState { dir: String, why: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn corrupt(path: &Path, what: impl Into<String>) -> StateError {
    StateError::Corrupt {
        path: path.display().to_string(),
        what: what.into(),
    }
}

/// Test hook: with `DUPSTRIP_TEST_KILL_AT=<point>` in the environment the process
/// sends itself SIGKILL at that point of a state update, so tests can check that no
/// point leaves a broken state.
fn kill_point(point: &str) {
    if std::env::var("DUPSTRIP_TEST_KILL_AT").is_ok_and(|p| p == point) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::process::id().to_string()])
            .status();
        std::thread::sleep(std::time::Duration::from_secs(60));
        std::process::abort();
    }
}

fn sync_dir(dir: &Path) -> Result<(), StateError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

// ---------------------------------------------------------------------------------
// Data files: magic, version, sections, footer, checksum.

/// Where a file's bytes went, for the manifest.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FileEntry {
    pub file: String,
    pub bytes: u64,
    /// xxh3-64 of the file up to its checksum field, hex.
    pub checksum: String,
}

/// Writes a data file: every byte passes through the checksum.
struct FileWriter {
    path: PathBuf,
    w: BufWriter<File>,
    hash: Xxh3Default,
    pos: u64,
    sections: BTreeMap<String, (u64, u64)>,
}

impl FileWriter {
    fn create(
        path: &Path,
        magic: &[u8; 8],
        params: &StateParams,
    ) -> Result<FileWriter, StateError> {
        let file = File::create(path).map_err(io_err(path))?;
        let mut w = FileWriter {
            path: path.to_path_buf(),
            w: BufWriter::with_capacity(1 << 20, file),
            hash: Xxh3Default::new(),
            pos: 0,
            sections: BTreeMap::new(),
        };
        let params = serde_json::to_vec(params).unwrap_or_default();
        w.put(magic)?;
        w.put(&STATE_VERSION.to_le_bytes())?;
        w.put(&(params.len() as u32).to_le_bytes())?;
        w.put(&params)?;
        w.put(&[0u8; 8][..(8 - params.len() % 8) % 8])?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        self.hash.update(bytes);
        self.pos += bytes.len() as u64;
        self.w.write_all(bytes).map_err(io_err(&self.path))
    }

    fn put_pod<T: bytemuck::Pod>(&mut self, v: &[T]) -> Result<(), StateError> {
        self.put(bytemuck::cast_slice(v))
    }

    /// Write a section with `f`; sections start 8-byte aligned.
    fn section(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut FileWriter) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let start = self.pos;
        f(self)?;
        let len = self.pos - start;
        let pad = (8 - self.pos % 8) % 8;
        self.put(&[0u8; 8][..pad as usize])?;
        self.sections.insert(name.to_string(), (start, len));
        Ok(())
    }

    /// Footer, checksum, end magic; then flush and fsync.
    fn finish(mut self, meta: serde_json::Value) -> Result<FileEntry, StateError> {
        let footer = serde_json::json!({ "meta": meta, "sections": self.sections });
        let footer = footer.to_string();
        self.put(footer.as_bytes())?;
        self.put(&(footer.len() as u64).to_le_bytes())?;
        let checksum = self.hash.digest();
        let path = self.path.clone();
        self.w
            .write_all(&checksum.to_le_bytes())
            .and_then(|_| self.w.write_all(END_MAGIC))
            .map_err(io_err(&path))?;
        let file = self
            .w
            .into_inner()
            .map_err(|e| io_err(&path)(e.into_error()))?;
        file.sync_all().map_err(io_err(&path))?;
        Ok(FileEntry {
            file: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            bytes: self.pos + 16,
            checksum: format!("{checksum:016x}"),
        })
    }
}

/// A data file, memory-mapped and checked.
struct DataFile {
    path: PathBuf,
    map: memmap2::Mmap,
    /// The parameters in its head.
    params: StateParams,
    sections: BTreeMap<String, (u64, u64)>,
    meta: serde_json::Value,
    checksum: String,
}

impl DataFile {
    fn open(path: &Path, magic: &[u8; 8]) -> Result<DataFile, StateError> {
        if !cfg!(target_endian = "little") {
            return Err(corrupt(
                path,
                "state files are read on little-endian machines only",
            ));
        }
        let file = File::open(path).map_err(io_err(path))?;
        let len = file.metadata().map_err(io_err(path))?.len();
        if len < HEAD_BYTES + TAIL_BYTES {
            return Err(corrupt(path, format!("truncated ({len} bytes)")));
        }
        // SAFETY: state files are immutable once named by a manifest and only this
        // program writes them; the map is read-only.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err(path))?;
        if &map[..8] != magic {
            return Err(corrupt(
                path,
                "wrong magic: not this kind of dupstrip state file",
            ));
        }
        let n = map.len();
        if &map[n - 8..] != END_MAGIC {
            return Err(corrupt(path, "truncated: no end marker"));
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&map[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let stored = u64_at(n - 16);
        let actual = xxh3_64(&map[..n - 16]);
        if stored != actual {
            return Err(corrupt(
                path,
                format!("checksum mismatch (stored {stored:016x}, computed {actual:016x})"),
            ));
        }
        // The version is read once the checksum holds: a flipped bit is corruption,
        // not a future format.
        let version = u32::from_le_bytes([map[8], map[9], map[10], map[11]]);
        if version != STATE_VERSION {
            return Err(StateError::Version {
                path: path.display().to_string(),
                found: version,
                writer: "another dupstrip".into(),
                ours: env!("CARGO_PKG_VERSION"),
            });
        }
        let params_len = u32::from_le_bytes([map[12], map[13], map[14], map[15]]) as usize;
        let head_end = (HEAD_BYTES as usize + params_len).next_multiple_of(8);
        let footer_len = u64_at(n - 24) as usize;
        let footer_end = n - 24;
        if head_end > footer_end || footer_len > footer_end - head_end {
            return Err(corrupt(path, "head or footer length out of range"));
        }
        let params: StateParams =
            serde_json::from_slice(&map[HEAD_BYTES as usize..HEAD_BYTES as usize + params_len])
                .map_err(|e| corrupt(path, format!("parameters: {e}")))?;
        #[derive(serde::Deserialize)]
        struct Footer {
            meta: serde_json::Value,
            sections: BTreeMap<String, (u64, u64)>,
        }
        let footer: Footer = serde_json::from_slice(&map[footer_end - footer_len..footer_end])
            .map_err(|e| corrupt(path, format!("footer: {e}")))?;
        for (name, &(start, len)) in &footer.sections {
            if start < head_end as u64
                || start % 8 != 0
                || start.saturating_add(len) > (footer_end - footer_len) as u64
            {
                return Err(corrupt(path, format!("section {name} out of range")));
            }
        }
        Ok(DataFile {
            path: path.to_path_buf(),
            map,
            params,
            sections: footer.sections,
            meta: footer.meta,
            checksum: format!("{stored:016x}"),
        })
    }

    fn section<T: bytemuck::Pod>(&self, name: &str) -> Result<&[T], StateError> {
        let &(start, len) = self
            .sections
            .get(name)
            .ok_or_else(|| corrupt(&self.path, format!("no section {name}")))?;
        bytemuck::try_cast_slice(&self.map[start as usize..(start + len) as usize])
            .map_err(|e| corrupt(&self.path, format!("section {name}: {e}")))
    }

    fn meta<T: serde::de::DeserializeOwned>(&self) -> Result<T, StateError> {
        serde_json::from_value(self.meta.clone())
            .map_err(|e| corrupt(&self.path, format!("footer: {e}")))
    }
}

// ---------------------------------------------------------------------------------
// Segments.

/// A segment's entry in the manifest.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SegmentEntry {
    #[serde(flatten)]
    pub file: FileEntry,
    /// First document (global sequence number) and count.
    pub first_seq: u64,
    pub docs: u64,
    /// Entries per band: documents plus the dropped copies that point at them.
    pub band_entries: u64,
    /// First and last run it holds documents of.
    pub runs: [u32; 2],
}

/// What a segment's footer says of it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct SegmentMeta {
    first_seq: u64,
    docs: u64,
    band_entries: u64,
    runs: [u32; 2],
}

/// `[key, value]` pairs sorted by key then value: band key → seq, id hash → local
/// document.
type Pair = [u64; 2];
/// `[hash high, hash low, local document]`.
type TextEntry = [u64; 3];

/// An open segment.
struct Segment {
    entry: SegmentEntry,
    data: DataFile,
    k: usize,
    sections: Sections,
}

/// Byte ranges of a segment's sections, checked when it is opened.
struct Sections {
    slots: Range<usize>,
    id_ends: Range<usize>,
    id_bytes: Range<usize>,
    id_index: Range<usize>,
    id_dir: Range<usize>,
    text_index: Range<usize>,
    text_dir: Range<usize>,
    bands: Vec<Range<usize>>,
    dirs: Vec<Range<usize>>,
}

type Range<T> = std::ops::Range<T>;

/// A directory over a sorted index of hashes: `dir[p]` is the first entry whose
/// key's top `bits` bits are at least `p` (2^bits + 1 entries, about one per four
/// index entries). A lookup reads one directory entry and one short stretch of the
/// index instead of binary-searching the whole of it: two cache misses, not twenty.
struct DirBuilder {
    bits: u32,
    dir: Vec<u64>,
    n: u64,
}

impl DirBuilder {
    fn new(entries: u64) -> DirBuilder {
        let bits = if entries < 16 { 0 } else { entries.ilog2() - 2 };
        DirBuilder {
            bits,
            dir: Vec::with_capacity((1usize << bits) + 1),
            n: 0,
        }
    }

    /// The next key, in sorted order.
    fn push(&mut self, key: u64) {
        let p = prefix(key, self.bits);
        while self.dir.len() <= p {
            self.dir.push(self.n);
        }
        self.n += 1;
    }

    fn finish(mut self) -> Vec<u64> {
        while self.dir.len() < (1usize << self.bits) + 1 {
            self.dir.push(self.n);
        }
        self.dir
    }
}

fn prefix(key: u64, bits: u32) -> usize {
    if bits == 0 {
        0
    } else {
        (key >> (64 - bits)) as usize
    }
}

/// The stretch of the index a key can be in.
fn dir_range(dir: &[u64], key: u64) -> Range<usize> {
    let buckets = dir.len().saturating_sub(1);
    if buckets == 0 {
        return 0..0;
    }
    let p = prefix(key, buckets.trailing_zeros());
    match (dir.get(p), dir.get(p + 1)) {
        (Some(&a), Some(&b)) => a as usize..b as usize,
        _ => 0..0,
    }
}

/// Entries of the index `sorted` (with its directory) whose first field is `key`, at
/// most `cap`.
fn lookup<'a, T: Copy>(
    sorted: &'a [T],
    dir: &[u64],
    key: u64,
    cap: usize,
    first: impl Fn(&T) -> u64,
) -> &'a [T] {
    let r = dir_range(dir, key);
    let Some(stretch) = sorted.get(r) else {
        return &[];
    };
    let start = stretch.partition_point(|e| first(e) < key);
    let n = stretch[start..]
        .iter()
        .take(cap)
        .take_while(|e| first(e) == key)
        .count();
    &stretch[start..start + n]
}

impl Segment {
    fn open(dir: &Path, entry: &SegmentEntry, params: &StateParams) -> Result<Segment, StateError> {
        let path = dir.join(&entry.file.file);
        let data = DataFile::open(&path, SEGMENT_MAGIC)?;
        if data.checksum != entry.file.checksum {
            return Err(corrupt(
                &path,
                format!(
                    "checksum {} is not the {} the manifest names",
                    data.checksum, entry.file.checksum
                ),
            ));
        }
        let meta: SegmentMeta = data.meta()?;
        if data.params != *params {
            return Err(corrupt(&path, "its parameters are not the manifest's"));
        }
        if meta.first_seq != entry.first_seq
            || meta.docs != entry.docs
            || meta.band_entries != entry.band_entries
        {
            return Err(corrupt(&path, "its document range is not the manifest's"));
        }
        let n = meta.docs as usize;
        let e = meta.band_entries as usize;
        let k = params.num_perm;
        // Every section must be there, aligned, and of the size the counts say.
        let check =
            |name: &str, size: usize, want: Option<usize>| -> Result<Range<usize>, StateError> {
                let &(start, len) = data
                    .sections
                    .get(name)
                    .ok_or_else(|| corrupt(&path, format!("no section {name}")))?;
                let (start, len) = (start as usize, len as usize);
                if len % size != 0 || want.is_some_and(|w| w != len / size) {
                    return Err(corrupt(
                        &path,
                        format!("section {name} has {} entries, not {want:?}", len / size),
                    ));
                }
                Ok(start..start + len)
            };
        let dir_check = |name: &str, entries: usize| -> Result<Range<usize>, StateError> {
            let r = check(name, 8, None)?;
            let len = r.len() / 8;
            let dir: &[u64] = bytemuck::try_cast_slice(&data.map[r.clone()])
                .map_err(|e| corrupt(&path, format!("section {name}: {e}")))?;
            if len < 2 || !(len - 1).is_power_of_two() || dir[len - 1] != entries as u64 {
                return Err(corrupt(
                    &path,
                    format!("directory {name} does not fit its index"),
                ));
            }
            Ok(r)
        };
        let ids_with_id = check("id_index", 16, None)?.len() / 16;
        let sections = Sections {
            slots: check(
                "slots",
                2,
                Some(
                    n.checked_mul(k)
                        .ok_or_else(|| corrupt(&path, "document count out of range"))?,
                ),
            )?,
            id_ends: check("id_ends", 8, Some(n))?,
            id_bytes: check("id_bytes", 1, None)?,
            id_index: check("id_index", 16, None)?,
            id_dir: dir_check("id_dir", ids_with_id)?,
            text_index: check("text_index", 24, Some(n))?,
            text_dir: dir_check("text_dir", n)?,
            bands: (0..params.bands)
                .map(|b| check(&format!("bands.{b}"), 16, None))
                .collect::<Result<_, _>>()?,
            dirs: Vec::new(),
        };
        let mut sections = sections;
        let mut total = 0usize;
        for (b, r) in sections.bands.iter().enumerate() {
            total += r.len() / 16;
            sections
                .dirs
                .push(dir_check(&format!("dir.{b}"), r.len() / 16)?);
        }
        if total != e {
            return Err(corrupt(&path, "band entries are not the footer's count"));
        }
        for (name, size) in [("runs", 4), ("flags", 1), ("text_hash", 16)] {
            check(name, size, Some(n))?;
        }
        let seg = Segment {
            entry: entry.clone(),
            data,
            k,
            sections,
        };
        let ids = seg.sections.id_bytes.len() as u64;
        if seg
            .get::<u64>(&seg.sections.id_ends)
            .last()
            .is_some_and(|&l| l != ids)
        {
            return Err(corrupt(&path, "id table out of range"));
        }
        Ok(seg)
    }

    fn get<T: bytemuck::Pod>(&self, r: &Range<usize>) -> &[T] {
        // Alignment and sizes were checked when the segment was opened.
        bytemuck::try_cast_slice(&self.data.map[r.clone()]).unwrap_or(&[])
    }

    /// A section by name (for copying whole sections while merging).
    fn raw(&self, name: &str) -> &[u8] {
        self.data.section::<u8>(name).unwrap_or(&[])
    }

    fn contains(&self, seq: u64) -> bool {
        (self.entry.first_seq..self.entry.first_seq + self.entry.docs).contains(&seq)
    }

    fn slots(&self, local: usize) -> &[Slot] {
        self.get::<Slot>(&self.sections.slots)
            .get(local * self.k..(local + 1) * self.k)
            .unwrap_or(&[])
    }

    fn id(&self, local: usize) -> &str {
        let ends = self.get::<u64>(&self.sections.id_ends);
        let bytes = self.get::<u8>(&self.sections.id_bytes);
        let start = match local.checked_sub(1) {
            None => 0,
            Some(i) => ends.get(i).map_or(0, |&e| e as usize),
        };
        let end = ends.get(local).map_or(0, |&e| e as usize);
        bytes
            .get(start..end)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    fn band(&self, b: usize) -> &[Pair] {
        self.get(&self.sections.bands[b])
    }

    /// Documents (seq) sharing band `b`'s key `key`, at most `cap`.
    fn band_lookup(&self, b: usize, key: u64, cap: usize) -> &[Pair] {
        lookup(
            self.band(b),
            self.get(&self.sections.dirs[b]),
            key,
            cap,
            |p| p[0],
        )
    }

    /// Local documents whose id hashes to `hash`.
    fn id_lookup(&self, hash: u64) -> &[Pair] {
        let index = self.get(&self.sections.id_index);
        lookup(
            index,
            self.get(&self.sections.id_dir),
            hash,
            usize::MAX,
            |p| p[0],
        )
    }

    /// Local documents whose text hashes to `(hi, lo)`.
    fn text_lookup(&self, hi: u64, lo: u64) -> Option<u64> {
        let index = self.get::<TextEntry>(&self.sections.text_index);
        lookup(
            index,
            self.get(&self.sections.text_dir),
            hi,
            usize::MAX,
            |t| t[0],
        )
        .iter()
        .find(|t| t[1] == lo && t[2] < self.entry.docs)
        .map(|t| t[2])
    }
}

/// A document to add to the state.
pub struct NewDoc<'a> {
    pub id: &'a str,
    /// The id came from the record (not made up from the file name and line).
    pub has_id: bool,
    pub text_hash: u128,
    pub slots: &'a [Slot],
}

/// Builds the segment of one run in memory (it is the size of the run's keepers).
pub struct SegmentBuilder {
    params: StateParams,
    run: u32,
    first_seq: u64,
    slots: Vec<Slot>,
    flags: Vec<u8>,
    text_hash: Vec<Pair>,
    ids: Vec<u8>,
    id_ends: Vec<u64>,
    /// One list per band.
    bands: Vec<Vec<Pair>>,
}

const FLAG_HAS_ID: u8 = 1;

impl SegmentBuilder {
    fn new(params: StateParams, run: u32, first_seq: u64) -> SegmentBuilder {
        let bands = vec![Vec::new(); params.bands];
        SegmentBuilder {
            params,
            run,
            first_seq,
            slots: Vec::new(),
            flags: Vec::new(),
            text_hash: Vec::new(),
            ids: Vec::new(),
            id_ends: Vec::new(),
            bands,
        }
    }

    pub fn docs(&self) -> u64 {
        self.flags.len() as u64
    }

    /// Add a kept document; returns its sequence number.
    pub fn add(&mut self, d: &NewDoc<'_>) -> u64 {
        let seq = self.first_seq + self.docs();
        self.slots.extend_from_slice(d.slots);
        self.flags.push(if d.has_id { FLAG_HAS_ID } else { 0 });
        self.text_hash
            .push([(d.text_hash >> 64) as u64, d.text_hash as u64]);
        self.ids.extend_from_slice(d.id.as_bytes());
        self.id_ends.push(self.ids.len() as u64);
        self.alias(d.slots, seq);
        seq
    }

    /// Index the band keys of `slots` as pointing at document `seq`: a kept
    /// document's own, or a dropped copy's, so later copies of the copy find it.
    pub fn alias(&mut self, slots: &[Slot], seq: u64) {
        let p = self.params.lsh();
        for (b, list) in self.bands.iter_mut().enumerate() {
            list.push([lsh::band_key(slots, b, p.rows, self.params.seed), seq]);
        }
    }

    fn write(mut self, path: &Path) -> Result<SegmentEntry, StateError> {
        let n = self.docs() as usize;
        // An exact copy's band keys are its keeper's: one entry is enough.
        self.bands.par_iter_mut().for_each(|b| {
            b.sort_unstable();
            b.dedup();
        });
        let e: usize = self.bands.iter().map(|b| b.len()).sum();
        let mut id_index: Vec<Pair> = (0..n)
            .filter(|&i| self.flags[i] & FLAG_HAS_ID != 0)
            .map(|i| {
                let start = if i == 0 {
                    0
                } else {
                    self.id_ends[i - 1] as usize
                };
                [
                    xxh3_64(&self.ids[start..self.id_ends[i] as usize]),
                    i as u64,
                ]
            })
            .collect();
        id_index.sort_unstable();
        let mut text_index: Vec<TextEntry> = self
            .text_hash
            .iter()
            .enumerate()
            .map(|(i, h)| [h[0], h[1], i as u64])
            .collect();
        text_index.sort_unstable();
        let runs = vec![self.run; n];
        let mut w = FileWriter::create(path, SEGMENT_MAGIC, &self.params)?;
        w.section("slots", |w| w.put_pod(&self.slots))?;
        w.section("runs", |w| w.put_pod(&runs))?;
        w.section("flags", |w| w.put(&self.flags))?;
        w.section("text_hash", |w| w.put_pod(&self.text_hash))?;
        w.section("id_ends", |w| w.put_pod(&self.id_ends))?;
        w.section("id_bytes", |w| w.put(&self.ids))?;
        w.section("id_index", |w| w.put_pod(&id_index))?;
        w.section("id_dir", |w| {
            w.put_pod(&dir_of(id_index.iter().map(|p| p[0]), id_index.len()))
        })?;
        w.section("text_index", |w| w.put_pod(&text_index))?;
        w.section("text_dir", |w| {
            w.put_pod(&dir_of(text_index.iter().map(|t| t[0]), n))
        })?;
        for (b, band) in self.bands.iter().enumerate() {
            w.section(&format!("bands.{b}"), |w| w.put_pod(band))?;
            w.section(&format!("dir.{b}"), |w| {
                w.put_pod(&dir_of(band.iter().map(|p| p[0]), band.len()))
            })?;
        }
        let meta = SegmentMeta {
            first_seq: self.first_seq,
            docs: n as u64,
            band_entries: e as u64,
            runs: [self.run, self.run],
        };
        let file = w.finish(serde_json::to_value(&meta).unwrap_or_default())?;
        Ok(SegmentEntry {
            file,
            first_seq: meta.first_seq,
            docs: meta.docs,
            band_entries: meta.band_entries,
            runs: meta.runs,
        })
    }
}

/// The directory of `entries` sorted keys.
fn dir_of(keys: impl Iterator<Item = u64>, entries: usize) -> Vec<u64> {
    let mut d = DirBuilder::new(entries as u64);
    keys.for_each(|k| d.push(k));
    d.finish()
}

/// Merge sorted inputs into `out` as they are read; `shift(i, v)` is input `i`'s value
/// `v` as it is written (it must keep each input's order). Memory holds one head per
/// input and a write buffer.
fn merge_sorted<T: Copy + Ord>(
    inputs: &[&[T]],
    shift: impl Fn(usize, T) -> T,
    mut out: impl FnMut(&[T]) -> Result<(), StateError>,
) -> Result<(), StateError> {
    let mut pos = vec![0usize; inputs.len()];
    let mut buf: Vec<T> = Vec::with_capacity(8192);
    loop {
        let mut best: Option<(usize, T)> = None;
        for (i, input) in inputs.iter().enumerate() {
            if let Some(&v) = input.get(pos[i]) {
                let v = shift(i, v);
                if best.is_none_or(|(_, b)| v < b) {
                    best = Some((i, v));
                }
            }
        }
        let Some((i, v)) = best else { break };
        buf.push(v);
        pos[i] += 1;
        if buf.len() == buf.capacity() {
            out(&buf)?;
            buf.clear();
        }
    }
    if !buf.is_empty() {
        out(&buf)?;
    }
    Ok(())
}

/// Merge neighbouring segments into one file, streaming from their maps.
fn merge_segments(
    segs: &[&Segment],
    params: &StateParams,
    path: &Path,
) -> Result<SegmentEntry, StateError> {
    let mut w = FileWriter::create(path, SEGMENT_MAGIC, params)?;
    for name in ["slots", "runs", "flags", "text_hash"] {
        w.section(name, |w| {
            for s in segs {
                w.put(s.raw(name))?;
            }
            Ok(())
        })?;
    }
    // Local document numbers and id offsets shift by what comes before.
    let mut doc_base = Vec::new();
    let mut id_base = Vec::new();
    let (mut docs, mut ids) = (0u64, 0u64);
    for s in segs {
        doc_base.push(docs);
        id_base.push(ids);
        docs += s.entry.docs;
        ids += s.sections.id_bytes.len() as u64;
    }
    w.section("id_ends", |w| {
        for (s, &base) in segs.iter().zip(&id_base) {
            for chunk in s.get::<u64>(&s.sections.id_ends).chunks(8192) {
                let shifted: Vec<u64> = chunk.iter().map(|&e| e + base).collect();
                w.put_pod(&shifted)?;
            }
        }
        Ok(())
    })?;
    w.section("id_bytes", |w| {
        for s in segs {
            w.put(s.get::<u8>(&s.sections.id_bytes))?;
        }
        Ok(())
    })?;
    // Each index streams through the merge into the file and its directory.
    let inputs: Vec<&[Pair]> = segs.iter().map(|s| s.get(&s.sections.id_index)).collect();
    let mut dir = DirBuilder::new(inputs.iter().map(|i| i.len() as u64).sum());
    w.section("id_index", |w| {
        merge_sorted(
            &inputs,
            |i, p| [p[0], p[1] + doc_base[i]],
            |c| {
                c.iter().for_each(|p| dir.push(p[0]));
                w.put_pod(c)
            },
        )
    })?;
    w.section("id_dir", |w| w.put_pod(&dir.finish()))?;
    let inputs: Vec<&[TextEntry]> = segs.iter().map(|s| s.get(&s.sections.text_index)).collect();
    let mut dir = DirBuilder::new(docs);
    w.section("text_index", |w| {
        merge_sorted(
            &inputs,
            |i, t| [t[0], t[1], t[2] + doc_base[i]],
            |c| {
                c.iter().for_each(|t| dir.push(t[0]));
                w.put_pod(c)
            },
        )
    })?;
    w.section("text_dir", |w| w.put_pod(&dir.finish()))?;
    let mut entries = 0u64;
    for b in 0..params.bands {
        let inputs: Vec<&[Pair]> = segs.iter().map(|s| s.band(b)).collect();
        let mut dir = DirBuilder::new(inputs.iter().map(|i| i.len() as u64).sum());
        // Equal entries from two segments (a copy's keys pointing at an older
        // keeper) are written once.
        let mut last: Option<Pair> = None;
        w.section(&format!("bands.{b}"), |w| {
            merge_sorted(
                &inputs,
                |_, p| p,
                |c| {
                    let fresh: Vec<Pair> = c
                        .iter()
                        .filter(|&&p| {
                            let new = last != Some(p);
                            last = Some(p);
                            new
                        })
                        .copied()
                        .collect();
                    fresh.iter().for_each(|p| dir.push(p[0]));
                    entries += fresh.len() as u64;
                    w.put_pod(&fresh)
                },
            )
        })?;
        w.section(&format!("dir.{b}"), |w| w.put_pod(&dir.finish()))?;
    }
    let meta = SegmentMeta {
        first_seq: segs[0].entry.first_seq,
        docs,
        band_entries: entries,
        runs: [segs[0].entry.runs[0], segs[segs.len() - 1].entry.runs[1]],
    };
    let file = w.finish(serde_json::to_value(&meta).unwrap_or_default())?;
    Ok(SegmentEntry {
        file,
        first_seq: meta.first_seq,
        docs: meta.docs,
        band_entries: meta.band_entries,
        runs: meta.runs,
    })
}

// ---------------------------------------------------------------------------------
// Boilerplate statistics.

/// Line-key statistics accumulated over runs.
#[derive(Clone, Debug, Default)]
pub struct LineStats {
    /// `(kind, hash) → (stories, last run seen)`, sorted by key.
    pub entries: Vec<((u8, u64), (u64, u32))>,
    /// Documents and stories of every run that learned.
    pub documents: u64,
    pub stories: u64,
    /// Examples of the current rules.
    pub examples: Vec<((u8, u64), Vec<String>)>,
    /// Options the rules were last chosen with.
    pub learn: crate::boilerplate::LearnOptions,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StatsMeta {
    keys: u64,
    documents: u64,
    stories: u64,
    learn: crate::boilerplate::LearnOptions,
}

impl LineStats {
    /// Add one run's story counts (any order, keys distinct) seen in run `run`, and
    /// forget keys under their floor (`boilerplate::floor` of the story count
    /// `self.learn` requires) that were not seen for [`SINGLETON_RUNS`] runs (one
    /// story) or [`FORGET_RUNS`] runs (more).
    pub fn merge(&mut self, day: Vec<((u8, u64), u64)>, run: u32, documents: u64, stories: u64) {
        self.documents += documents;
        self.stories += stories;
        let required = self.learn.required(self.stories);
        let mut day = day;
        day.sort_unstable();
        let old = std::mem::take(&mut self.entries);
        let mut out = Vec::with_capacity(old.len() + day.len());
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < day.len() {
            let take_old = j >= day.len() || (i < old.len() && old[i].0 < day[j].0);
            let take_day = i >= old.len() || (j < day.len() && day[j].0 < old[i].0);
            let e = if take_old {
                i += 1;
                old[i - 1]
            } else if take_day {
                j += 1;
                (day[j - 1].0, (day[j - 1].1, run))
            } else {
                i += 1;
                j += 1;
                (old[i - 1].0, (old[i - 1].1.0 + day[j - 1].1, run))
            };
            let (n, last) = e.1;
            let window = if n >= 2 { FORGET_RUNS } else { SINGLETON_RUNS };
            if n >= crate::boilerplate::floor(e.0.0, required) || last.saturating_add(window) > run
            {
                out.push(e);
            }
        }
        self.entries = out;
    }

    fn write(&self, path: &Path, params: &StateParams) -> Result<FileEntry, StateError> {
        let mut w = FileWriter::create(path, STATS_MAGIC, params)?;
        w.section("entries", |w| {
            for chunk in self.entries.chunks(8192) {
                let packed: Vec<[u64; 3]> = chunk
                    .iter()
                    .map(|&((kind, hash), (stories, last))| {
                        [hash, stories, (u64::from(kind) << 32) | u64::from(last)]
                    })
                    .collect();
                w.put_pod(&packed)?;
            }
            Ok(())
        })?;
        let examples: Vec<(u8, u64, &Vec<String>)> = self
            .examples
            .iter()
            .map(|((k, h), e)| (*k, *h, e))
            .collect();
        let examples = serde_json::to_vec(&examples).unwrap_or_default();
        w.section("examples", |w| w.put(&examples))?;
        let meta = StatsMeta {
            keys: self.entries.len() as u64,
            documents: self.documents,
            stories: self.stories,
            learn: self.learn,
        };
        w.finish(serde_json::to_value(&meta).unwrap_or_default())
    }

    fn read(dir: &Path, entry: &FileEntry, params: &StateParams) -> Result<LineStats, StateError> {
        let path = dir.join(&entry.file);
        let data = DataFile::open(&path, STATS_MAGIC)?;
        if data.checksum != entry.checksum {
            return Err(corrupt(&path, "checksum is not the one the manifest names"));
        }
        let meta: StatsMeta = data.meta()?;
        if data.params != *params {
            return Err(corrupt(&path, "its parameters are not the manifest's"));
        }
        let packed = data.section::<[u64; 3]>("entries")?;
        if packed.len() as u64 != meta.keys {
            return Err(corrupt(&path, "entry count is not the footer's"));
        }
        let entries = packed
            .iter()
            .map(|&[hash, stories, kr]| (((kr >> 32) as u8, hash), (stories, kr as u32)))
            .collect();
        let examples: Vec<(u8, u64, Vec<String>)> =
            serde_json::from_slice(data.section::<u8>("examples")?)
                .map_err(|e| corrupt(&path, format!("examples: {e}")))?;
        Ok(LineStats {
            entries,
            documents: meta.documents,
            stories: meta.stories,
            examples: examples.into_iter().map(|(k, h, e)| ((k, h), e)).collect(),
            learn: meta.learn,
        })
    }

    /// The rules these statistics give now, with the options of the last run that
    /// learned (what `dupstrip state rules` exports).
    pub fn rules(&self, normalize: NormalizeOptions) -> crate::boilerplate::Rules {
        self.learned(&[], 0, 0, &self.learn, normalize).into_rules()
    }

    /// The rules of these statistics with a run's story counts `day` (sorted by key),
    /// documents and stories added, seeded with the stored examples.
    pub fn learned(
        &self,
        day: &[((u8, u64), u64)],
        documents: u64,
        stories: u64,
        learn: &crate::boilerplate::LearnOptions,
        normalize: NormalizeOptions,
    ) -> crate::boilerplate::Learned {
        let (documents, stories) = (self.documents + documents, self.stories + stories);
        let mut learned = crate::boilerplate::Learned::from_story_counts(
            normalize,
            self.frequent_with(day, learn.required(stories)),
            learn,
            documents,
            stories,
        );
        learned.seed_examples(&self.examples);
        learned
    }

    /// Story counts of every key, for choosing rules.
    #[cfg(test)]
    pub fn counts(&self) -> HashMap<(u8, u64), u64> {
        self.entries.iter().map(|&(k, (n, _))| (k, n)).collect()
    }

    /// Keys whose story count, with a run's counts `day` (sorted by key) added,
    /// reaches its floor (`boilerplate::floor` of `required`); nothing else is held in
    /// memory.
    pub fn frequent_with(
        &self,
        day: &[((u8, u64), u64)],
        required: u64,
    ) -> HashMap<(u8, u64), u64> {
        let mut out = HashMap::new();
        let (old, mut j) = (&self.entries, 0);
        for &(k, (n, _)) in old {
            while j < day.len() && day[j].0 < k {
                if day[j].1 >= crate::boilerplate::floor(day[j].0.0, required) {
                    out.insert(day[j].0, day[j].1);
                }
                j += 1;
            }
            let add = if j < day.len() && day[j].0 == k {
                j += 1;
                day[j - 1].1
            } else {
                0
            };
            if n + add >= crate::boilerplate::floor(k.0, required) {
                out.insert(k, n + add);
            }
        }
        for &(k, n) in &day[j..] {
            if n >= crate::boilerplate::floor(k.0, required) {
                out.insert(k, n);
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------
// Manifest.

/// One run, as the manifest remembers it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunEntry {
    pub run: u32,
    pub command: String,
    /// Seconds since the Unix epoch when the run committed.
    pub finished_unix: u64,
    pub inputs: Vec<String>,
    pub read: u64,
    /// Documents it added to the state.
    pub added: u64,
    /// Documents it found to be copies of documents already in the state.
    pub duplicates_of_state: u64,
    /// Hash of its input bytes: a run with the same input replaces this one.
    #[serde(default)]
    pub fingerprint: String,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    /// The dupstrip that wrote it.
    pub written_by: String,
    pub params: StateParams,
    /// Bumped by every update; new files are named after it.
    pub generation: u64,
    pub next_seq: u64,
    pub next_run: u32,
    pub segments: Vec<SegmentEntry>,
    pub boilerplate: Option<FileEntry>,
    pub runs: Vec<RunEntry>,
}

impl Manifest {
    fn new(params: StateParams) -> Manifest {
        Manifest {
            format: STATE_FORMAT.into(),
            version: STATE_VERSION,
            written_by: format!("dupstrip {}", env!("CARGO_PKG_VERSION")),
            params,
            generation: 0,
            next_seq: 0,
            next_run: 1,
            segments: Vec::new(),
            boilerplate: None,
            runs: Vec::new(),
        }
    }

    /// The manifest's text: pretty JSON, then a line with its checksum.
    fn to_text(&self) -> String {
        let body = serde_json::to_string_pretty(self).unwrap_or_default();
        format!("{body}\nxxh3 {:016x}\n", xxh3_64(body.as_bytes()))
    }

    fn parse(text: &[u8], path: &Path) -> Result<Manifest, StateError> {
        let text = std::str::from_utf8(text).map_err(|_| corrupt(path, "not UTF-8"))?;
        let body = text.trim_end_matches('\n');
        let (body, sum) = body
            .rsplit_once('\n')
            .ok_or_else(|| corrupt(path, "no checksum line"))?;
        // Format and version first, so a future layout gets the right message.
        #[derive(serde::Deserialize)]
        struct Head {
            format: Option<String>,
            version: Option<u32>,
            written_by: Option<String>,
        }
        let head: Head =
            serde_json::from_str(body).map_err(|e| corrupt(path, format!("manifest: {e}")))?;
        if head.format.as_deref() != Some(STATE_FORMAT) {
            return Err(corrupt(
                path,
                format!("\"format\" is not \"{STATE_FORMAT}\""),
            ));
        }
        let version = head.version.unwrap_or(0);
        if version != STATE_VERSION {
            return Err(StateError::Version {
                path: path.display().to_string(),
                found: version,
                writer: head
                    .written_by
                    .unwrap_or_else(|| "an unknown dupstrip".into()),
                ours: env!("CARGO_PKG_VERSION"),
            });
        }
        let want = format!("xxh3 {:016x}", xxh3_64(body.as_bytes()));
        if sum != want {
            return Err(corrupt(path, "manifest checksum mismatch"));
        }
        serde_json::from_str(body).map_err(|e| corrupt(path, format!("manifest: {e}")))
    }
}

// ---------------------------------------------------------------------------------
// The state.

/// How a state is opened.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Access {
    /// A run that will add to it (exclusive lock; created when missing).
    Write,
    /// Reading only (`state stats`, `state rules`): no lock, nothing changed. Files
    /// of the manifest before the last one are kept, so a reader racing a commit
    /// still finds them; a reader racing two retries.
    Read,
}

/// An open state directory.
pub struct State {
    dir: PathBuf,
    _lock: Option<File>,
    pub manifest: Manifest,
    /// The manifest before the last run (`MANIFEST.prev`): what a repeat of that run
    /// starts from.
    prev: Option<Manifest>,
    /// Generation of the manifest on disk; new files are named above it.
    disk_generation: u64,
    segments: Vec<Segment>,
    pub lines: Option<LineStats>,
    /// The manifest existed (false: a new state).
    existed: bool,
    /// A record id already in the state makes a copy (`--no-id-match` clears it).
    pub match_ids: bool,
}

/// What a run does to the state when it commits.
pub struct Update {
    pub segment: Option<SegmentBuilder>,
    /// New boilerplate statistics (runs that learned).
    pub lines: Option<LineStats>,
    pub run: RunEntry,
}

/// What a commit did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CommitStats {
    pub run: u32,
    pub added: u64,
    pub segments: u64,
    /// Segments merged into others by the commit.
    pub merged: u64,
    pub seconds: f64,
}

fn is_state_file(name: &str) -> bool {
    (name.starts_with("seg-") && name.ends_with(".dss"))
        || (name.starts_with("bp-") && name.ends_with(".dsb"))
        || name == MANIFEST_TMP
        || name == MANIFEST_PREV_TMP
}

fn lock(dir: &Path) -> Result<File, StateError> {
    let path = dir.join(LOCK);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim().replace('\n', ", ");
            return Err(StateError::Locked {
                dir: dir.display().to_string(),
                holder: if holder.is_empty() {
                    "a run just starting".into()
                } else {
                    holder
                },
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io_err(&path)(e)),
    }
    let note = format!(
        "pid {}, started at unix time {}\n",
        std::process::id(),
        unix_now()
    );
    file.set_len(0)
        .and_then(|_| (&file).write_all(note.as_bytes()))
        .map_err(io_err(&path))?;
    Ok(file)
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn read_manifest(path: &Path) -> Result<Option<Manifest>, StateError> {
    match fs::read(path) {
        Ok(text) => Manifest::parse(&text, path).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Segments must tile `0..next_seq` in order, so a sequence number finds its segment
/// by binary search.
fn check_ranges(m: &Manifest, path: &Path) -> Result<(), StateError> {
    let mut next = 0u64;
    for s in &m.segments {
        if s.first_seq != next {
            return Err(corrupt(path, "segment ranges are not contiguous"));
        }
        next = next
            .checked_add(s.docs)
            .ok_or_else(|| corrupt(path, "segment range overflows"))?;
    }
    if next != m.next_seq {
        return Err(corrupt(path, "segments do not end at next_seq"));
    }
    Ok(())
}

/// Open the segments of `m`, reusing those of `have` by file name.
fn open_segments(dir: &Path, m: &Manifest, have: Vec<Segment>) -> Result<Vec<Segment>, StateError> {
    let mut have: HashMap<String, Segment> = have
        .into_iter()
        .map(|s| (s.entry.file.file.clone(), s))
        .collect();
    let wanted: Vec<(usize, &SegmentEntry)> = m
        .segments
        .iter()
        .enumerate()
        .filter(|(_, e)| !have.contains_key(&e.file.file))
        .collect();
    let opened = wanted
        .par_iter()
        .map(|(i, e)| Segment::open(dir, e, &m.params).map(|s| (*i, s)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut opened: HashMap<usize, Segment> = opened.into_iter().collect();
    let mut out = Vec::with_capacity(m.segments.len());
    for (i, e) in m.segments.iter().enumerate() {
        match have.remove(&e.file.file).or_else(|| opened.remove(&i)) {
            Some(s) => out.push(s),
            None => return Err(corrupt(&dir.join(&e.file.file), "segment missing")),
        }
    }
    Ok(out)
}

impl State {
    /// Open `dir`. With [`Access::Write`] the directory is created when missing and
    /// `params` must match the state's; leftovers of an interrupted run are removed.
    pub fn open(
        dir: &Path,
        access: Access,
        params: Option<&StateParams>,
    ) -> Result<State, StateError> {
        if params.is_some() {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        } else if !dir.join(MANIFEST).is_file() {
            return Err(StateError::NotState {
                dir: dir.display().to_string(),
                why: "it has no MANIFEST (a state is made by `dupstrip clean --state DIR` or `dupstrip dedup --state DIR`)".into(),
            });
        }
        let lock = match access {
            Access::Write => Some(lock(dir)?),
            Access::Read => None,
        };
        let mut attempt = 0;
        loop {
            match State::load(dir, access, params) {
                // A reader without the lock can race a commit that removes files.
                Err(StateError::Io { source, .. })
                    if access == Access::Read
                        && source.kind() == io::ErrorKind::NotFound
                        && attempt < 4 =>
                {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => return Err(e),
                Ok(mut st) => {
                    st._lock = lock;
                    return Ok(st);
                }
            }
        }
    }

    fn load(dir: &Path, access: Access, params: Option<&StateParams>) -> Result<State, StateError> {
        let mpath = dir.join(MANIFEST);
        let (manifest, existed) = match read_manifest(&mpath)? {
            Some(m) => (m, true),
            None => {
                let Some(p) = params else {
                    return Err(StateError::NotState {
                        dir: dir.display().to_string(),
                        why: "it has no MANIFEST".into(),
                    });
                };
                // A new state: the directory may hold only leftovers of a first run
                // that was interrupted.
                for entry in fs::read_dir(dir).map_err(io_err(dir))? {
                    let name = entry.map_err(io_err(dir))?.file_name();
                    let name = name.to_string_lossy();
                    if name != LOCK && name != MANIFEST_PREV && !is_state_file(&name) {
                        return Err(StateError::NotState {
                            dir: dir.display().to_string(),
                            why: format!(
                                "it has no MANIFEST and is not empty ({name}); give an empty or new directory"
                            ),
                        });
                    }
                }
                (Manifest::new(p.clone()), false)
            }
        };
        if let Some(p) = params
            && manifest.params != *p
        {
            return Err(StateError::Params {
                dir: dir.display().to_string(),
                diff: manifest.params.diff(p),
            });
        }
        check_ranges(&manifest, &mpath)?;
        // The manifest before the last run, if it is sound and of this state.
        let ppath = dir.join(MANIFEST_PREV);
        let prev = match read_manifest(&ppath) {
            Ok(Some(p))
                if existed
                    && p.params == manifest.params
                    && p.generation < manifest.generation
                    && check_ranges(&p, &ppath).is_ok() =>
            {
                Some(p)
            }
            _ => None,
        };
        if access == Access::Write {
            if prev.is_none() {
                let _ = fs::remove_file(&ppath);
            }
            let live: Vec<&Manifest> = std::iter::once(&manifest).chain(&prev).collect();
            remove_unreferenced(dir, &live)?;
        }
        let segments = open_segments(dir, &manifest, Vec::new())?;
        let lines = match &manifest.boilerplate {
            Some(e) => Some(LineStats::read(dir, e, &manifest.params)?),
            None => None,
        };
        Ok(State {
            dir: dir.to_path_buf(),
            _lock: None,
            disk_generation: manifest.generation,
            manifest,
            prev,
            segments,
            lines,
            existed,
            match_ids: true,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn is_new(&self) -> bool {
        !self.existed
    }

    /// Documents held.
    pub fn documents(&self) -> u64 {
        self.manifest.next_seq
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Bytes of every file of the state.
    pub fn bytes(&self) -> u64 {
        self.manifest
            .segments
            .iter()
            .map(|s| s.file.bytes)
            .sum::<u64>()
            + self.manifest.boilerplate.as_ref().map_or(0, |b| b.bytes)
    }

    /// When `fingerprint` is the last run's (the same input again: a night being
    /// repeated after a failure), go back to the state before that run, in memory, so
    /// that this run replaces it and writes what it wrote. Returns the run replaced.
    pub fn repeat_of_last_run(&mut self, fingerprint: &str) -> Result<Option<u32>, StateError> {
        let Some(last) = self.manifest.runs.last() else {
            return Ok(None);
        };
        let Some(prev) = &self.prev else {
            return Ok(None);
        };
        if fingerprint.is_empty() || last.fingerprint != fingerprint || prev.next_run != last.run {
            return Ok(None);
        }
        let run = last.run;
        let prev = prev.clone();
        let segments = open_segments(&self.dir, &prev, std::mem::take(&mut self.segments))?;
        self.lines = match &prev.boilerplate {
            Some(e) => Some(LineStats::read(&self.dir, e, &prev.params)?),
            None => None,
        };
        self.segments = segments;
        self.manifest = prev;
        self.prev = None;
        Ok(Some(run))
    }
    fn segment_of(&self, seq: u64) -> Option<(&Segment, usize)> {
        let i = self
            .segments
            .partition_point(|s| s.entry.first_seq + s.entry.docs <= seq);
        let s = self.segments.get(i)?;
        s.contains(seq)
            .then(|| (s, (seq - s.entry.first_seq) as usize))
    }

    /// Signature of document `seq`.
    pub fn slots(&self, seq: u64) -> Option<&[Slot]> {
        self.segment_of(seq).map(|(s, l)| s.slots(l))
    }

    /// Id of document `seq`.
    pub fn id(&self, seq: u64) -> &str {
        self.segment_of(seq).map_or("", |(s, l)| s.id(l))
    }

    /// Band matches of many signatures at once: `(query, seq)` pairs, sorted and
    /// distinct, for the queries `queries` whose signatures `sig` gives. Queries are
    /// looked up band by band in key order, so each segment's index and directory are
    /// read front to back instead of at random (a block of queries at a time, to bound
    /// memory).
    pub fn band_matches_batch<'s>(
        &self,
        sig: impl Fn(u32) -> &'s [Slot] + Sync,
        queries: &[u32],
    ) -> Vec<(u32, u64)> {
        const BLOCK: usize = 1 << 18;
        let p = self.manifest.params.lsh();
        let seed = self.manifest.params.seed;
        let mut all = Vec::new();
        for block in queries.chunks(BLOCK) {
            let per_band: Vec<Vec<(u32, u64)>> = (0..p.bands)
                .into_par_iter()
                .map(|b| {
                    let mut keys: Vec<(u64, u32)> = block
                        .iter()
                        .map(|&q| (lsh::band_key(sig(q), b, p.rows, seed), q))
                        .collect();
                    keys.sort_unstable();
                    let mut hits = Vec::new();
                    for &(key, q) in &keys {
                        self.bucket(b, key, |seq| hits.push((q, seq)));
                    }
                    hits
                })
                .collect();
            all.extend(per_band.into_iter().flatten());
        }
        all.par_sort_unstable();
        all.dedup();
        all
    }

    /// The documents in band `b`'s bucket `key`: the oldest [`MAX_HISTORY_BUCKET`]
    /// over all segments (segments are in sequence order), however the state is cut
    /// into segments.
    fn bucket(&self, b: usize, key: u64, mut found: impl FnMut(u64)) {
        let mut left = MAX_HISTORY_BUCKET;
        for s in &self.segments {
            let hits = s.band_lookup(b, key, left);
            hits.iter().for_each(|e| found(e[1]));
            left -= hits.len();
            if left == 0 {
                break;
            }
        }
    }

    /// The first document with this id (only ids that came from records count).
    pub fn find_id(&self, id: &str) -> Option<u64> {
        let h = xxh3_64(id.as_bytes());
        self.segments.iter().find_map(|s| {
            s.id_lookup(h)
                .iter()
                .map(|e| e[1] as usize)
                .find(|&l| (l as u64) < s.entry.docs && s.id(l) == id)
                .map(|l| s.entry.first_seq + l as u64)
        })
    }

    /// The first document whose text has this xxh3-128 hash.
    pub fn find_text(&self, hash: u128) -> Option<u64> {
        let (hi, lo) = ((hash >> 64) as u64, hash as u64);
        self.segments
            .iter()
            .find_map(|s| s.text_lookup(hi, lo).map(|l| s.entry.first_seq + l))
    }

    /// A builder for this run's segment.
    pub fn builder(&self) -> SegmentBuilder {
        SegmentBuilder::new(
            self.manifest.params.clone(),
            self.manifest.next_run,
            self.manifest.next_seq,
        )
    }

    /// The number the next run gets.
    pub fn next_run(&self) -> u32 {
        self.manifest.next_run
    }

    /// Write the run's segment and statistics, merge the newest segments while a tier
    /// is full, and put a new manifest in place (keeping the one this run started
    /// from as `MANIFEST.prev`). Nothing is named before the rename, so a run stopped
    /// before it leaves the state as it was; nothing can fail after it.
    pub fn commit(&mut self, update: Update) -> Result<CommitStats, StateError> {
        let start = std::time::Instant::now();
        let base = self.manifest.clone();
        let mut next = base.clone();
        next.generation = self.disk_generation + 1;
        next.written_by = format!("dupstrip {}", env!("CARGO_PKG_VERSION"));
        let generation = next.generation;
        let mut segs = std::mem::take(&mut self.segments);
        let mut added = 0;
        if let Some(seg) = update.segment
            && seg.docs() > 0
        {
            added = seg.docs();
            let path = self.dir.join(format!("seg-{generation:08}.dss"));
            let entry = seg.write(&path)?;
            segs.push(Segment::open(&self.dir, &entry, &next.params)?);
        }
        kill_point("segment-written");
        let merged = merge_tiers(&self.dir, &next.params, &mut segs, generation)?;
        next.segments = segs.iter().map(|s| s.entry.clone()).collect();
        next.next_seq = next.segments.last().map_or(0, |s| s.first_seq + s.docs);
        if let Some(lines) = &update.lines {
            let path = self.dir.join(format!("bp-{generation:08}.dsb"));
            next.boilerplate = Some(lines.write(&path, &next.params)?);
        }
        next.next_run = update.run.run + 1;
        next.runs.push(update.run);
        self.replace_manifest(next, Some(base), segs)?;
        if let Some(lines) = update.lines {
            self.lines = Some(lines);
        }
        Ok(CommitStats {
            run: self.manifest.next_run - 1,
            added,
            segments: self.segments.len() as u64,
            merged,
            seconds: crate::timings::secs(start.elapsed()),
        })
    }

    /// Put `next` (whose segments `segs` are open) in place of the manifest, with
    /// `prev` as `MANIFEST.prev` (`None` keeps the one there), then remove the files
    /// neither names.
    fn replace_manifest(
        &mut self,
        next: Manifest,
        prev: Option<Manifest>,
        segs: Vec<Segment>,
    ) -> Result<(), StateError> {
        let write = |name: &str, m: &Manifest| -> Result<(), StateError> {
            let path = self.dir.join(name);
            let mut f = File::create(&path).map_err(io_err(&path))?;
            f.write_all(m.to_text().as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(io_err(&path))
        };
        write(MANIFEST_TMP, &next)?;
        if let Some(p) = &prev {
            write(MANIFEST_PREV_TMP, p)?;
        }
        sync_dir(&self.dir)?;
        kill_point("manifest-written");
        if prev.is_some() {
            let tmp = self.dir.join(MANIFEST_PREV_TMP);
            fs::rename(&tmp, self.dir.join(MANIFEST_PREV)).map_err(io_err(&tmp))?;
        }
        let tmp = self.dir.join(MANIFEST_TMP);
        fs::rename(&tmp, self.dir.join(MANIFEST)).map_err(io_err(&tmp))?;
        // The run is committed once the rename is durable; a failure to sync the
        // directory after it is reported, but the state is sound either way.
        let synced = sync_dir(&self.dir);
        kill_point("manifest-renamed");
        self.disk_generation = next.generation;
        if let Some(p) = prev {
            self.prev = Some(p);
        }
        self.segments = segs;
        self.manifest = next;
        self.existed = true;
        // Leftovers are removed by the next writer if this fails.
        let live: Vec<&Manifest> = std::iter::once(&self.manifest).chain(&self.prev).collect();
        let _ = remove_unreferenced(&self.dir, &live);
        synced
    }

    /// Merge every segment into one (`dupstrip state compact`). Returns the number
    /// of segments merged.
    pub fn compact(&mut self) -> Result<u64, StateError> {
        let n = self.segments.len();
        if n < 2 {
            return Ok(n as u64);
        }
        let mut next = self.manifest.clone();
        next.generation = self.disk_generation + 1;
        let path = self.dir.join(format!("seg-{:08}.dss", next.generation));
        let segs: Vec<&Segment> = self.segments.iter().collect();
        let entry = merge_segments(&segs, &next.params, &path)?;
        kill_point("merge-written");
        let merged = Segment::open(&self.dir, &entry, &next.params)?;
        next.segments = vec![entry];
        self.replace_manifest(next, None, vec![merged])?;
        Ok(n as u64)
    }
}

/// Merge the newest [`MERGE_FANIN`] segments of `segs` while they share a tier;
/// merged files are named `seg-GENERATION-I.dss`. Returns the number of segments merged.
fn merge_tiers(
    dir: &Path,
    params: &StateParams,
    segs: &mut Vec<Segment>,
    generation: u64,
) -> Result<u64, StateError> {
    let tier = |e: &SegmentEntry| {
        let runs = u64::from(e.runs[1].saturating_sub(e.runs[0])) + 1;
        runs.ilog(MERGE_FANIN as u64)
    };
    let mut merged = 0;
    let mut i = 0;
    loop {
        let n = segs.len();
        if n < MERGE_FANIN {
            break;
        }
        let t = tier(&segs[n - MERGE_FANIN].entry);
        if !segs[n - MERGE_FANIN..].iter().all(|s| tier(&s.entry) == t) {
            break;
        }
        i += 1;
        let path = dir.join(format!("seg-{generation:08}-{i}.dss"));
        let refs: Vec<&Segment> = segs[n - MERGE_FANIN..].iter().collect();
        let entry = merge_segments(&refs, params, &path)?;
        kill_point("merge-written");
        let seg = Segment::open(dir, &entry, params)?;
        segs.truncate(n - MERGE_FANIN);
        segs.push(seg);
        merged += MERGE_FANIN as u64;
    }
    Ok(merged)
}

/// What `dupstrip state stats` shows.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Stats {
    pub dir: String,
    pub format_version: u32,
    pub written_by: String,
    pub params: StateParams,
    pub documents: u64,
    pub bytes: u64,
    pub segments: Vec<SegmentEntry>,
    pub runs: Vec<RunEntry>,
    pub boilerplate: Option<BoilerplateStats>,
}

/// The boilerplate statistics of a state.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BoilerplateStats {
    pub keys: u64,
    pub documents: u64,
    pub stories: u64,
    pub learn: crate::boilerplate::LearnOptions,
    pub line_rules: usize,
    pub template_rules: usize,
    pub marker_rules: usize,
}

impl Stats {
    pub fn of(st: &State) -> Stats {
        let m = &st.manifest;
        Stats {
            dir: st.dir.display().to_string(),
            format_version: m.version,
            written_by: m.written_by.clone(),
            params: m.params.clone(),
            documents: st.documents(),
            bytes: st.bytes(),
            segments: m.segments.clone(),
            runs: m.runs.clone(),
            boilerplate: st.lines.as_ref().map(|l| {
                let rules = l.rules(m.params.normalize);
                BoilerplateStats {
                    keys: l.entries.len() as u64,
                    documents: l.documents,
                    stories: l.stories,
                    learn: l.learn,
                    line_rules: rules.lines.len(),
                    template_rules: rules.templates.len(),
                    marker_rules: rules.markers.len(),
                }
            }),
        }
    }

    /// The statistics for people.
    pub fn text(&self) -> String {
        let p = &self.params;
        let mb = |b: u64| b as f64 / 1e6;
        let mut s = format!(
            "state {} (format {}, written by {})\n",
            self.dir, self.format_version, self.written_by
        );
        s += &format!(
            "documents: {} in {} segments, {:.1} MB; every checksum verified\n",
            self.documents,
            self.segments.len(),
            mb(self.bytes)
        );
        s += &format!(
            "parameters: --seed {} --shingle {} (n = {}) --num-perm {} --scheme {} --bands {} --rows {}; {} text; normalize {}\n",
            p.seed,
            serde_json::to_value(p.shingle.kind)
                .unwrap_or_default()
                .as_str()
                .unwrap_or("?"),
            p.shingle.n,
            p.num_perm,
            serde_json::to_value(p.scheme)
                .unwrap_or_default()
                .as_str()
                .unwrap_or("?"),
            p.bands,
            p.rows,
            if p.stripped {
                "stripped (clean)"
            } else {
                "raw (dedup)"
            },
            serde_json::to_string(&p.normalize).unwrap_or_default()
        );
        let added: u64 = self.runs.iter().map(|r| r.added).sum();
        let copies: u64 = self.runs.iter().map(|r| r.duplicates_of_state).sum();
        s += &format!(
            "runs: {} (read {} documents, added {}, {} found to copy earlier runs)\n",
            self.runs.len(),
            self.runs.iter().map(|r| r.read).sum::<u64>(),
            added,
            copies
        );
        for r in self.runs.iter().rev().take(5) {
            let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(r.finished_unix);
            s += &format!(
                "  run {:>4} {} {}  read {:>9}  added {:>9}  copies of earlier runs {:>8}  {}\n",
                r.run,
                humantime::format_rfc3339_seconds(when),
                r.command,
                r.read,
                r.added,
                r.duplicates_of_state,
                r.inputs.join(" ")
            );
        }
        s += "segments:\n";
        for seg in &self.segments {
            s += &format!(
                "  {}  runs {:>4}-{:<4}  {:>10} documents  {:>9.1} MB\n",
                seg.file.file,
                seg.runs[0],
                seg.runs[1],
                seg.docs,
                mb(seg.file.bytes)
            );
        }
        match &self.boilerplate {
            Some(b) => {
                s += &format!(
                    "boilerplate: {} line keys from {} documents ({} stories); rules now: {} line, {} template, {} marker (--min-docs {}, --min-fraction {})\n",
                    b.keys,
                    b.documents,
                    b.stories,
                    b.line_rules,
                    b.template_rules,
                    b.marker_rules,
                    b.learn.min_docs,
                    b.learn.min_fraction
                );
            }
            None => {
                s += "boilerplate: no statistics (gathered by `clean --state` runs that learn)\n"
            }
        }
        s
    }
}

/// Remove the files of `dir` that look like state files but no manifest of `live`
/// names.
fn remove_unreferenced(dir: &Path, live: &[&Manifest]) -> Result<(), StateError> {
    let names: Vec<&str> = live
        .iter()
        .flat_map(|m| {
            m.segments
                .iter()
                .map(|s| s.file.file.as_str())
                .chain(m.boilerplate.as_ref().map(|b| b.file.as_str()))
        })
        .collect();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if is_state_file(&name) && !names.contains(&name.as_ref()) {
            let path = entry.path();
            fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

/// The hash a document's text is known by in the state.
pub fn text_hash(text: &str) -> u128 {
    xxh3_128(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> StateParams {
        StateParams {
            seed: 42,
            shingle: ShingleParams {
                kind: crate::shingle::ShingleKind::Word,
                n: 5,
                seed: 42,
            },
            num_perm: 8,
            scheme: Scheme::Oph,
            bands: 4,
            rows: 2,
            normalize: NormalizeOptions::default(),
            slot_bits: 16,
            stripped: false,
        }
    }

    fn sig(x: u16) -> Vec<Slot> {
        (0..8).map(|i| x.wrapping_mul(31).wrapping_add(i)).collect()
    }

    fn add_run(st: &mut State, docs: &[u16]) {
        let mut b = st.builder();
        for &x in docs {
            let s = sig(x);
            let id = format!("doc{x}");
            b.add(&NewDoc {
                id: &id,
                has_id: true,
                text_hash: u128::from(x),
                slots: &s,
            });
        }
        let run = st.next_run();
        st.commit(Update {
            segment: Some(b),
            lines: None,
            run: RunEntry {
                run,
                command: "test".into(),
                finished_unix: 0,
                inputs: vec![],
                read: docs.len() as u64,
                added: docs.len() as u64,
                duplicates_of_state: 0,
                fingerprint: String::new(),
            },
        })
        .unwrap();
    }

    #[test]
    fn documents_are_found_after_reopening_and_merging() {
        let dir = tempfile::tempdir().unwrap();
        let p = params();
        {
            let mut st = State::open(dir.path(), Access::Write, Some(&p)).unwrap();
            for day in 0..5u16 {
                add_run(&mut st, &[day * 10, day * 10 + 1, day * 10 + 2]);
            }
            // Four one-run segments merged into one; the fifth stands alone.
            assert_eq!(st.segment_count(), 2);
        }
        let mut st = State::open(dir.path(), Access::Write, Some(&p)).unwrap();
        assert_eq!(st.documents(), 15);
        for (seq, x) in [0u16, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42]
            .into_iter()
            .enumerate()
        {
            let seq = seq as u64;
            assert_eq!(st.slots(seq).unwrap(), &sig(x)[..]);
            assert_eq!(st.id(seq), format!("doc{x}"));
            assert_eq!(st.find_id(&format!("doc{x}")), Some(seq));
            assert_eq!(st.find_text(u128::from(x)), Some(seq));
            let s = sig(x);
            assert_eq!(st.band_matches_batch(|_| &s[..], &[7]), vec![(7, seq)]);
        }
        assert_eq!(st.find_id("nope"), None);
        st.compact().unwrap();
        assert_eq!(st.segment_count(), 1);
        assert_eq!(st.find_id("doc41"), Some(13));
    }

    /// The message of a refused open.
    fn open_err(dir: &Path, p: &StateParams) -> String {
        match State::open(dir, Access::Write, Some(p)) {
            Ok(_) => panic!("opened"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn other_parameters_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = params();
        let mut st = State::open(dir.path(), Access::Write, Some(&p)).unwrap();
        add_run(&mut st, &[1]);
        drop(st);
        let mut q = params();
        q.seed = 7;
        let err = open_err(dir.path(), &q);
        assert!(err.contains("seed (--seed): state 42, this run 7"), "{err}");
    }

    #[test]
    fn a_second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = params();
        let _st = State::open(dir.path(), Access::Write, Some(&p)).unwrap();
        let err = open_err(dir.path(), &p);
        assert!(err.contains("in use by another dupstrip run (pid"), "{err}");
    }

    #[test]
    fn a_flipped_byte_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let p = params();
        let mut st = State::open(dir.path(), Access::Write, Some(&p)).unwrap();
        add_run(&mut st, &[1, 2, 3]);
        let seg = dir.path().join(&st.manifest.segments[0].file.file);
        drop(st);
        let mut bytes = fs::read(&seg).unwrap();
        bytes[40] ^= 1;
        fs::write(&seg, bytes).unwrap();
        let err = open_err(dir.path(), &p);
        assert!(err.contains("checksum mismatch"), "{err}");
    }

    #[test]
    fn line_stats_accumulate_and_forget_singletons() {
        let mut s = LineStats::default();
        s.merge(vec![((0, 1), 1), ((0, 2), 3), ((0, 7), 6)], 1, 10, 5);
        s.merge(vec![((0, 1), 1)], 2, 10, 5);
        assert_eq!(s.counts()[&(0, 1)], 2);
        s.merge(vec![((0, 9), 1)], 3, 1, 1);
        for run in 4..=10 {
            s.merge(vec![], run, 0, 0);
        }
        let c = s.counts();
        assert_eq!(
            c.get(&(0, 9)),
            None,
            "a singleton unseen for 7 runs is forgotten"
        );
        assert_eq!(c[&(0, 2)], 3);
        assert_eq!(s.stories, 11);
        for run in 11..=31 {
            s.merge(vec![], run, 0, 0);
        }
        let c = s.counts();
        assert_eq!(
            c.get(&(0, 2)),
            None,
            "a non-rule unseen for 30 runs is forgotten"
        );
        assert_eq!(c[&(0, 7)], 6, "a rule (6 stories, 5 required) is kept");
    }
}
