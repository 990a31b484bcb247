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

use crate::lsh::{self, LshParams, Slot};
use crate::minhash::Scheme;
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
const LOCK: &str = "LOCK";

/// Segments merge in groups of this many of one tier (tier: the base-4 logarithm of
/// the number of runs a segment covers), so a state of N runs has at most about
/// 3·log₄N segments and each document is rewritten log₄N times over its life.
pub const MERGE_FANIN: usize = 4;

/// Band-index entries read per band, segment and document: a bucket of thousands of
/// kept documents (one template) costs at most this many comparisons.
pub const MAX_HISTORY_BUCKET: usize = 64;

/// A boilerplate line key seen in a single story is forgotten after this many runs
/// without being seen again; keys seen in two or more stories are kept.
pub const SINGLETON_RUNS: u32 = 7;

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
        let version = u32::from_le_bytes([map[8], map[9], map[10], map[11]]);
        if version != STATE_VERSION {
            return Err(StateError::Version {
                path: path.display().to_string(),
                found: version,
                writer: "another dupstrip".into(),
                ours: env!("CARGO_PKG_VERSION"),
            });
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
            slots: check("slots", 2, Some(n * k))?,
            id_ends: check("id_ends", 8, Some(n))?,
            id_bytes: check("id_bytes", 1, None)?,
            id_index: check("id_index", 16, None)?,
            id_dir: dir_check("id_dir", ids_with_id)?,
            text_index: check("text_index", 24, Some(n))?,
            text_dir: dir_check("text_dir", n)?,
            bands: (0..params.bands)
                .map(|b| check(&format!("bands.{b}"), 16, Some(e)))
                .collect::<Result<_, _>>()?,
            dirs: (0..params.bands)
                .map(|b| dir_check(&format!("dir.{b}"), e))
                .collect::<Result<_, _>>()?,
        };
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
        let start = if local == 0 {
            0
        } else {
            ends[local - 1] as usize
        };
        let end = ends[local] as usize;
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
        .find(|t| t[1] == lo)
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
        let e = self.bands.first().map_or(0, |b| b.len());
        self.bands.par_iter_mut().for_each(|b| b.sort_unstable());
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
                w.put_pod(&dir_of(band.iter().map(|p| p[0]), e))
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
            let shifted: Vec<u64> = s
                .get::<u64>(&s.sections.id_ends)
                .iter()
                .map(|&e| e + base)
                .collect();
            w.put_pod(&shifted)?;
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
    let entries: u64 = segs.iter().map(|s| s.entry.band_entries).sum();
    for b in 0..params.bands {
        let inputs: Vec<&[Pair]> = segs.iter().map(|s| s.band(b)).collect();
        let mut dir = DirBuilder::new(entries);
        w.section(&format!("bands.{b}"), |w| {
            merge_sorted(
                &inputs,
                |_, p| p,
                |c| {
                    c.iter().for_each(|p| dir.push(p[0]));
                    w.put_pod(c)
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
    /// forget keys seen in one story only and not for [`SINGLETON_RUNS`] runs.
    pub fn merge(&mut self, day: Vec<((u8, u64), u64)>, run: u32, documents: u64, stories: u64) {
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
            let (stories, last) = e.1;
            if stories >= 2 || last + SINGLETON_RUNS > run {
                out.push(e);
            }
        }
        self.entries = out;
        self.documents += documents;
        self.stories += stories;
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
        let required = self.learn.required(self.stories);
        let mut learned = crate::boilerplate::Learned::from_story_counts(
            normalize,
            self.frequent_with(&[], required),
            &self.learn,
            self.documents,
            self.stories,
        );
        learned.seed_examples(&self.examples);
        learned.into_rules()
    }

    /// Story counts of every key, for choosing rules.
    pub fn counts(&self) -> HashMap<(u8, u64), u64> {
        self.entries.iter().map(|&(k, (n, _))| (k, n)).collect()
    }

    /// Keys whose story count, with a run's counts `day` (sorted by key) added,
    /// reaches `required`; nothing else is held in memory.
    pub fn frequent_with(
        &self,
        day: &[((u8, u64), u64)],
        required: u64,
    ) -> HashMap<(u8, u64), u64> {
        let mut out = HashMap::new();
        let (old, mut j) = (&self.entries, 0);
        for &(k, (n, _)) in old {
            while j < day.len() && day[j].0 < k {
                if day[j].1 >= required {
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
            if n + add >= required {
                out.insert(k, n + add);
            }
        }
        for &(k, n) in &day[j..] {
            if n >= required {
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
    /// Reading only (`state stats`, `state rules`: shared lock).
    Read,
}

/// An open state directory.
pub struct State {
    dir: PathBuf,
    _lock: File,
    pub manifest: Manifest,
    segments: Vec<Segment>,
    pub lines: Option<LineStats>,
    /// The manifest existed (false: a new state).
    existed: bool,
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
    /// Segments merged automatically after the run.
    pub merged: u64,
    pub seconds: f64,
}

fn is_state_file(name: &str) -> bool {
    (name.starts_with("seg-") && name.ends_with(".dss"))
        || (name.starts_with("bp-") && name.ends_with(".dsb"))
        || name == MANIFEST_TMP
}

fn lock(dir: &Path, access: Access) -> Result<File, StateError> {
    let path = dir.join(LOCK);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path))?;
    let got = match access {
        Access::Write => file.try_lock(),
        Access::Read => file.try_lock_shared(),
    };
    match got {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim().replace('\n', ", ");
            return Err(StateError::Locked {
                dir: dir.display().to_string(),
                holder: if holder.is_empty() {
                    "a reader or a run just starting".into()
                } else {
                    holder
                },
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io_err(&path)(e)),
    }
    if access == Access::Write {
        let now = unix_now();
        let note = format!("pid {}, started at unix time {now}\n", std::process::id());
        file.set_len(0)
            .and_then(|_| (&file).write_all(note.as_bytes()))
            .map_err(io_err(&path))?;
    }
    Ok(file)
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
        let lock = lock(dir, access)?;
        let mpath = dir.join(MANIFEST);
        let (manifest, existed) = match fs::read(&mpath) {
            Ok(text) => (Manifest::parse(&text, &mpath)?, true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
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
                    if name != LOCK && !is_state_file(&name) {
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
            Err(e) => return Err(io_err(&mpath)(e)),
        };
        if let Some(p) = params
            && manifest.params != *p
        {
            return Err(StateError::Params {
                dir: dir.display().to_string(),
                diff: manifest.params.diff(p),
            });
        }
        if access == Access::Write {
            remove_unreferenced(dir, &manifest)?;
        }
        let segments = manifest
            .segments
            .par_iter()
            .map(|e| Segment::open(dir, e, &manifest.params))
            .collect::<Result<Vec<_>, _>>()?;
        let lines = match &manifest.boilerplate {
            Some(e) => Some(LineStats::read(dir, e, &manifest.params)?),
            None => None,
        };
        Ok(State {
            dir: dir.to_path_buf(),
            _lock: lock,
            manifest,
            segments,
            lines,
            existed,
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
                    for s in &self.segments {
                        for &(key, q) in &keys {
                            hits.extend(
                                s.band_lookup(b, key, MAX_HISTORY_BUCKET)
                                    .iter()
                                    .map(|e| (q, e[1])),
                            );
                        }
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

    /// Documents sharing a band with `sig` (sorted, distinct), appended to `out`.
    pub fn band_matches(&self, sig: &[Slot], out: &mut Vec<u64>) {
        let p = self.manifest.params.lsh();
        let start = out.len();
        for b in 0..p.bands {
            let key = lsh::band_key(sig, b, p.rows, self.manifest.params.seed);
            for s in &self.segments {
                out.extend(
                    s.band_lookup(b, key, MAX_HISTORY_BUCKET)
                        .iter()
                        .map(|e| e[1]),
                );
            }
        }
        out[start..].sort_unstable();
        let mut v = out.split_off(start);
        v.dedup();
        out.extend(v);
    }

    /// The first document with this id (only ids that came from records count).
    pub fn find_id(&self, id: &str) -> Option<u64> {
        let h = xxh3_64(id.as_bytes());
        self.segments.iter().find_map(|s| {
            s.id_lookup(h)
                .iter()
                .map(|e| e[1] as usize)
                .find(|&l| s.id(l) == id)
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

    /// Write the run's files and a new manifest; then merge segments if a tier is
    /// full.
    pub fn commit(&mut self, update: Update) -> Result<CommitStats, StateError> {
        let start = std::time::Instant::now();
        let mut next = self.manifest.clone();
        next.generation += 1;
        next.written_by = format!("dupstrip {}", env!("CARGO_PKG_VERSION"));
        let mut added = 0;
        if let Some(seg) = update.segment
            && seg.docs() > 0
        {
            added = seg.docs();
            let path = self.dir.join(format!("seg-{:08}.dss", next.generation));
            let entry = seg.write(&path)?;
            next.next_seq = entry.first_seq + entry.docs;
            next.segments.push(entry);
        }
        kill_point("segment-written");
        if let Some(lines) = &update.lines {
            let path = self.dir.join(format!("bp-{:08}.dsb", next.generation));
            next.boilerplate = Some(lines.write(&path, &next.params)?);
        }
        next.next_run = update.run.run + 1;
        next.runs.push(update.run);
        self.replace_manifest(next)?;
        if let Some(lines) = update.lines {
            self.lines = Some(lines);
        }
        let merged = self.merge_tiers()?;
        Ok(CommitStats {
            run: self.manifest.next_run - 1,
            added,
            segments: self.segments.len() as u64,
            merged,
            seconds: crate::report::secs(start.elapsed()),
        })
    }

    /// Put `next` in place of the manifest, then open the segments it adds and drop
    /// the files it no longer names.
    fn replace_manifest(&mut self, next: Manifest) -> Result<(), StateError> {
        sync_dir(&self.dir)?;
        let tmp = self.dir.join(MANIFEST_TMP);
        {
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(next.to_text().as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(io_err(&tmp))?;
        }
        kill_point("manifest-written");
        fs::rename(&tmp, self.dir.join(MANIFEST)).map_err(io_err(&tmp))?;
        sync_dir(&self.dir)?;
        kill_point("manifest-renamed");
        let mut segments = Vec::with_capacity(next.segments.len());
        let mut old: HashMap<String, Segment> = std::mem::take(&mut self.segments)
            .into_iter()
            .map(|s| (s.entry.file.file.clone(), s))
            .collect();
        for e in &next.segments {
            segments.push(match old.remove(&e.file.file) {
                Some(s) => s,
                None => Segment::open(&self.dir, e, &next.params)?,
            });
        }
        self.segments = segments;
        self.manifest = next;
        self.existed = true;
        drop(old);
        remove_unreferenced(&self.dir, &self.manifest)
    }

    /// Merge the newest [`MERGE_FANIN`] segments while they are of one tier.
    fn merge_tiers(&mut self) -> Result<u64, StateError> {
        let tier = |e: &SegmentEntry| {
            let runs = u64::from(e.runs[1].saturating_sub(e.runs[0])) + 1;
            runs.ilog(MERGE_FANIN as u64)
        };
        let mut merged = 0;
        loop {
            let n = self.segments.len();
            if n < MERGE_FANIN {
                break;
            }
            let t = tier(&self.segments[n - MERGE_FANIN].entry);
            if !self.segments[n - MERGE_FANIN..]
                .iter()
                .all(|s| tier(&s.entry) == t)
            {
                break;
            }
            self.merge_range(n - MERGE_FANIN..n)?;
            merged += MERGE_FANIN as u64;
        }
        Ok(merged)
    }

    /// Merge the segments `range` into one.
    fn merge_range(&mut self, range: std::ops::Range<usize>) -> Result<(), StateError> {
        if range.len() < 2 {
            return Ok(());
        }
        let mut next = self.manifest.clone();
        next.generation += 1;
        let path = self.dir.join(format!("seg-{:08}.dss", next.generation));
        let segs: Vec<&Segment> = self.segments[range.clone()].iter().collect();
        let entry = merge_segments(&segs, &next.params, &path)?;
        kill_point("merge-written");
        next.segments.splice(range, [entry]);
        self.replace_manifest(next)
    }

    /// Merge every segment into one (`dupstrip state compact`).
    pub fn compact(&mut self) -> Result<u64, StateError> {
        let n = self.segments.len();
        self.merge_range(0..n)?;
        Ok(n as u64)
    }
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

/// Remove the files of `dir` that look like state files but `m` does not name.
fn remove_unreferenced(dir: &Path, m: &Manifest) -> Result<(), StateError> {
    let live: Vec<&str> = m
        .segments
        .iter()
        .map(|s| s.file.file.as_str())
        .chain(m.boilerplate.as_ref().map(|b| b.file.as_str()))
        .collect();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if is_state_file(&name) && !live.contains(&name.as_ref()) {
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
            let mut m = Vec::new();
            st.band_matches(&sig(x), &mut m);
            assert_eq!(m, vec![seq]);
        }
        assert_eq!(st.find_id("nope"), None);
        st.compact().unwrap();
        assert_eq!(st.segment_count(), 1);
        assert_eq!(st.find_id("doc41"), Some(13));
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
        let err = State::open(dir.path(), Access::Write, Some(&q))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("seed (--seed): state 42, this run 7"), "{err}");
    }

    #[test]
    fn a_second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = params();
        let _st = State::open(dir.path(), Access::Write, Some(&p)).unwrap();
        let err = State::open(dir.path(), Access::Write, Some(&p))
            .err()
            .unwrap()
            .to_string();
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
        let err = State::open(dir.path(), Access::Write, Some(&p))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("checksum mismatch"), "{err}");
    }

    #[test]
    fn line_stats_accumulate_and_forget_singletons() {
        let mut s = LineStats::default();
        s.merge(vec![((0, 1), 1), ((0, 2), 3)], 1, 10, 5);
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
    }
}
