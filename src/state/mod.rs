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

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_128;

use crate::spill::SpillDir;

mod format;
mod lines;
mod lookup;
mod manifest;
mod merge;
mod segment;
mod stats;

pub use format::{FileEntry, StateError, StateParams};
use format::{corrupt, io_err, kill_point, sync_dir};
pub use lines::{Day, LineStats};
pub use manifest::{Manifest, RunEntry, unix_now};
use manifest::{check_ranges, is_state_file, lock, read_manifest, remove_unreferenced};
use merge::merge_tiers;
use segment::Segment;
pub use segment::{NewDoc, SegmentBuilder, SegmentEntry};
pub use stats::{BoilerplateStats, Stats};

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
    /// A builder for this run's segment, in memory.
    pub fn builder(&self) -> SegmentBuilder {
        self.builder_within((usize::MAX, usize::MAX), &SpillDir::default())
    }

    /// A builder for this run's segment whose arrays hold at most `limits.0` bytes
    /// each in memory and whose sorters at most `limits.1`, the rest in temporary
    /// files in `dir` (`--mem-limit`).
    pub fn builder_within(&self, limits: (usize, usize), dir: &SpillDir) -> SegmentBuilder {
        SegmentBuilder::new(
            self.manifest.params.clone(),
            self.manifest.next_run,
            self.manifest.next_seq,
            limits,
            dir,
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
}

/// The hash a document's text is known by in the state.
pub fn text_hash(text: &str) -> u128 {
    xxh3_128(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minhash::{Scheme, Slot};
    use crate::normalize::NormalizeOptions;
    use crate::shingle::ShingleParams;

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
            })
            .expect("add");
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
        // In memory, and through a temporary file past one entry.
        for ram in [usize::MAX, 30] {
            line_stats_over_runs(ram);
        }
    }

    fn line_stats_over_runs(ram: usize) {
        let dir = crate::spill::SpillDir::default();
        let mut s = LineStats::default();
        s.merge(
            Day::List(&[((0, 1), 1), ((0, 2), 3), ((0, 7), 6)]),
            1,
            (10, 5),
            ram,
            &dir,
        )
        .expect("merge");
        assert_eq!(s.entries.spilled(), ram == 30);
        s.merge(Day::List(&[((0, 1), 1)]), 2, (10, 5), ram, &dir)
            .expect("merge");
        assert_eq!(s.counts()[&(0, 1)], 2);
        s.merge(Day::List(&[((0, 9), 1)]), 3, (1, 1), ram, &dir)
            .expect("merge");
        for run in 4..=10 {
            s.merge(Day::List(&[]), run, (0, 0), ram, &dir)
                .expect("merge");
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
            s.merge(Day::List(&[]), run, (0, 0), ram, &dir)
                .expect("merge");
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
