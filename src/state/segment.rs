//! Segments: one run's kept documents, with sorted indexes by band key, id and text
//! hash, searched in the memory-mapped file.

use std::io;
use std::path::Path;

use xxhash_rust::xxh3::xxh3_64;

use crate::lsh::{self};
use crate::minhash::Slot;
use crate::spill::{Sorted, Sorter, SpillDir, SpillVec};

use super::format::{DataFile, FileWriter};
use super::*;

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
pub(super) struct SegmentMeta {
    pub(super) first_seq: u64,
    pub(super) docs: u64,
    pub(super) band_entries: u64,
    pub(super) runs: [u32; 2],
}

impl SegmentMeta {
    /// Finish a segment file written by `w` with this in its footer; the manifest's
    /// entry for it.
    pub(super) fn finish(self, w: FileWriter) -> Result<SegmentEntry, StateError> {
        let file = w.finish(serde_json::to_value(&self).unwrap_or_default())?;
        Ok(SegmentEntry {
            file,
            first_seq: self.first_seq,
            docs: self.docs,
            band_entries: self.band_entries,
            runs: self.runs,
        })
    }
}

/// `[key, value]` pairs sorted by key then value: band key → seq, id hash → local
/// document.
pub(super) type Pair = [u64; 2];
/// `[hash high, hash low, local document]`.
pub(super) type TextEntry = [u64; 3];

/// An open segment.
pub(super) struct Segment {
    pub(super) entry: SegmentEntry,
    pub(super) data: DataFile,
    pub(super) k: usize,
    pub(super) sections: Sections,
}

/// Byte ranges of a segment's sections, checked when it is opened.
pub(super) struct Sections {
    pub(super) slots: Range<usize>,
    pub(super) id_ends: Range<usize>,
    pub(super) id_bytes: Range<usize>,
    pub(super) id_index: Range<usize>,
    pub(super) id_dir: Range<usize>,
    pub(super) text_index: Range<usize>,
    pub(super) text_dir: Range<usize>,
    pub(super) bands: Vec<Range<usize>>,
    pub(super) dirs: Vec<Range<usize>>,
}

pub(super) type Range<T> = std::ops::Range<T>;

/// A directory over a sorted index of hashes: `dir[p]` is the first entry whose
/// key's top `bits` bits are at least `p` (2^bits + 1 entries, about one per four
/// index entries). A lookup reads one directory entry and one short stretch of the
/// index instead of binary-searching the whole of it: two cache misses, not twenty.
pub(super) struct DirBuilder {
    pub(super) bits: u32,
    pub(super) dir: Vec<u64>,
    pub(super) n: u64,
}

impl DirBuilder {
    pub(super) fn new(entries: u64) -> DirBuilder {
        let bits = if entries < 16 { 0 } else { entries.ilog2() - 2 };
        DirBuilder {
            bits,
            dir: Vec::with_capacity((1usize << bits) + 1),
            n: 0,
        }
    }

    /// The next key, in sorted order.
    pub(super) fn push(&mut self, key: u64) {
        let p = prefix(key, self.bits);
        while self.dir.len() <= p {
            self.dir.push(self.n);
        }
        self.n += 1;
    }

    pub(super) fn finish(mut self) -> Vec<u64> {
        while self.dir.len() < (1usize << self.bits) + 1 {
            self.dir.push(self.n);
        }
        self.dir
    }
}

pub(super) fn prefix(key: u64, bits: u32) -> usize {
    if bits == 0 {
        0
    } else {
        (key >> (64 - bits)) as usize
    }
}

/// The stretch of the index a key can be in.
pub(super) fn dir_range(dir: &[u64], key: u64) -> Range<usize> {
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
pub(super) fn lookup<'a, T: Copy>(
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
    pub(super) fn open(
        dir: &Path,
        entry: &SegmentEntry,
        params: &StateParams,
    ) -> Result<Segment, StateError> {
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

    pub(super) fn get<T: bytemuck::Pod>(&self, r: &Range<usize>) -> &[T] {
        // Alignment and sizes were checked when the segment was opened.
        bytemuck::try_cast_slice(&self.data.map[r.clone()]).unwrap_or(&[])
    }

    /// A section by name (for copying whole sections while merging).
    pub(super) fn raw(&self, name: &str) -> &[u8] {
        self.data.section::<u8>(name).unwrap_or(&[])
    }

    pub(super) fn contains(&self, seq: u64) -> bool {
        (self.entry.first_seq..self.entry.first_seq + self.entry.docs).contains(&seq)
    }

    pub(super) fn slots(&self, local: usize) -> &[Slot] {
        self.get::<Slot>(&self.sections.slots)
            .get(local * self.k..(local + 1) * self.k)
            .unwrap_or(&[])
    }

    pub(super) fn id(&self, local: usize) -> &str {
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

    pub(super) fn band(&self, b: usize) -> &[Pair] {
        self.get(&self.sections.bands[b])
    }

    /// Documents (seq) sharing band `b`'s key `key`, at most `cap`.
    pub(super) fn band_lookup(&self, b: usize, key: u64, cap: usize) -> &[Pair] {
        lookup(
            self.band(b),
            self.get(&self.sections.dirs[b]),
            key,
            cap,
            |p| p[0],
        )
    }

    /// Local documents whose id hashes to `hash`.
    pub(super) fn id_lookup(&self, hash: u64) -> &[Pair] {
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
    pub(super) fn text_lookup(&self, hi: u64, lo: u64) -> Option<u64> {
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
    pub(super) params: StateParams,
    pub(super) run: u32,
    pub(super) first_seq: u64,
    pub(super) slots: SpillVec<Slot>,
    pub(super) flags: SpillVec<u8>,
    pub(super) text_hash: SpillVec<Pair>,
    pub(super) ids: SpillVec<u8>,
    pub(super) id_ends: SpillVec<u64>,
    /// One sorter per band.
    bands: Vec<Sorter<Pair>>,
    /// Where the indexes are sorted, and how much each sorter may buffer.
    dir: SpillDir,
    sort_limit: usize,
}

pub(super) const FLAG_HAS_ID: u8 = 1;

impl SegmentBuilder {
    /// A builder whose arrays hold at most `ram_limit` bytes each in memory and whose
    /// sorters (the band keys, shared among the bands; each index) buffer at most
    /// `sort_limit` bytes, the rest in temporary files in `dir` (`usize::MAX`: all in
    /// memory).
    pub(super) fn new(
        params: StateParams,
        run: u32,
        first_seq: u64,
        (ram_limit, sort_limit): (usize, usize),
        dir: &SpillDir,
    ) -> SegmentBuilder {
        let per_band = sort_limit / params.bands.max(1);
        let bands = (0..params.bands)
            .map(|_| Sorter::new(per_band, dir.clone()))
            .collect();
        SegmentBuilder {
            params,
            run,
            first_seq,
            slots: SpillVec::new(ram_limit, dir.clone()),
            flags: SpillVec::new(ram_limit, dir.clone()),
            text_hash: SpillVec::new(ram_limit, dir.clone()),
            ids: SpillVec::new(ram_limit, dir.clone()),
            id_ends: SpillVec::new(ram_limit, dir.clone()),
            bands,
            dir: dir.clone(),
            sort_limit,
        }
    }

    pub fn docs(&self) -> u64 {
        self.flags.len() as u64
    }

    /// Add a kept document; returns its sequence number.
    pub fn add(&mut self, d: &NewDoc<'_>) -> io::Result<u64> {
        let seq = self.first_seq + self.docs();
        self.slots.extend_from_slice(d.slots)?;
        self.flags.push(if d.has_id { FLAG_HAS_ID } else { 0 })?;
        self.text_hash
            .push([(d.text_hash >> 64) as u64, d.text_hash as u64])?;
        self.ids.extend_from_slice(d.id.as_bytes())?;
        self.id_ends.push(self.ids.len() as u64)?;
        self.alias(d.slots, seq)?;
        Ok(seq)
    }

    /// Index the band keys of `slots` as pointing at document `seq`: a kept
    /// document's own, or a dropped copy's, so later copies of the copy find it.
    pub fn alias(&mut self, slots: &[Slot], seq: u64) -> io::Result<()> {
        let p = self.params.lsh();
        for (b, sorter) in self.bands.iter_mut().enumerate() {
            sorter.push([lsh::band_key(slots, b, p.rows, self.params.seed), seq])?;
        }
        Ok(())
    }

    pub(super) fn write(mut self, path: &Path) -> Result<SegmentEntry, StateError> {
        let n = self.docs() as usize;
        // Temporary files are unnamed: an error names the directory they are in.
        let tmp = (self.dir.dir.clone()).unwrap_or_else(std::env::temp_dir);
        let spill = |e: io::Error| StateError::Io {
            path: format!("{} (temporary file)", tmp.display()),
            source: e,
        };
        self.slots.finish().map_err(spill)?;
        self.flags.finish().map_err(spill)?;
        self.text_hash.finish().map_err(spill)?;
        self.ids.finish().map_err(spill)?;
        self.id_ends.finish().map_err(spill)?;
        // An exact copy's band keys are its keeper's: one entry is enough (sorters
        // give each value once).
        let bands: Vec<Sorted<Pair>> = std::mem::take(&mut self.bands)
            .into_iter()
            .map(Sorter::finish)
            .collect::<io::Result<_>>()
            .map_err(spill)?;
        let counts: Vec<usize> = bands
            .iter()
            .map(|b| {
                let mut c = 0;
                b.for_each(|_| c += 1).map(|()| c)
            })
            .collect::<io::Result<_>>()
            .map_err(spill)?;
        let e: usize = counts.iter().sum();
        let mut id_index = Sorter::<Pair>::new(self.sort_limit, self.dir.clone());
        let mut text_index = Sorter::<TextEntry>::new(self.sort_limit, self.dir.clone());
        let mut with_id = 0;
        for i in 0..n {
            if self.flags[i] & FLAG_HAS_ID != 0 {
                let start = if i == 0 {
                    0
                } else {
                    self.id_ends[i - 1] as usize
                };
                let id = &self.ids[start..self.id_ends[i] as usize];
                id_index.push([xxh3_64(id), i as u64]).map_err(spill)?;
                with_id += 1;
            }
            let h = self.text_hash[i];
            text_index.push([h[0], h[1], i as u64]).map_err(spill)?;
        }
        let id_index = id_index.finish().map_err(spill)?;
        let text_index = text_index.finish().map_err(spill)?;
        let mut w = FileWriter::create(path, SEGMENT_MAGIC, &self.params)?;
        w.section("slots", |w| w.put_pod(&self.slots))?;
        w.section("runs", |w| {
            let runs = vec![self.run; n.min(8192)];
            (0..n)
                .step_by(8192)
                .try_for_each(|i| w.put_pod(&runs[..(n - i).min(8192)]))
        })?;
        w.section("flags", |w| w.put(&self.flags))?;
        w.section("text_hash", |w| w.put_pod(&self.text_hash))?;
        w.section("id_ends", |w| w.put_pod(&self.id_ends))?;
        w.section("id_bytes", |w| w.put(&self.ids))?;
        let dir = put_sorted(&mut w, "id_index", &id_index, with_id, spill)?;
        w.section("id_dir", |w| w.put_pod(&dir))?;
        let dir = put_sorted(&mut w, "text_index", &text_index, n, spill)?;
        w.section("text_dir", |w| w.put_pod(&dir))?;
        for (b, band) in bands.iter().enumerate() {
            let dir = put_sorted(&mut w, &format!("bands.{b}"), band, counts[b], spill)?;
            w.section(&format!("dir.{b}"), |w| w.put_pod(&dir))?;
        }
        let meta = SegmentMeta {
            first_seq: self.first_seq,
            docs: n as u64,
            band_entries: e as u64,
            runs: [self.run, self.run],
        };
        meta.finish(w)
    }
}

/// Write the `entries` sorted values of `sorted` (keys first) as section `name`, in
/// blocks; returns their directory.
fn put_sorted<T: bytemuck::Pod + Ord + KeyFirst>(
    w: &mut FileWriter,
    name: &str,
    sorted: &Sorted<T>,
    entries: usize,
    spill: impl Fn(io::Error) -> StateError,
) -> Result<Vec<u64>, StateError> {
    let mut dir = DirBuilder::new(entries as u64);
    let mut failed = Ok(());
    w.section(name, |w| {
        let mut buf: Vec<T> = Vec::with_capacity(8192);
        sorted
            .for_each(|v| {
                dir.push(v.key());
                buf.push(*v);
                if buf.len() == buf.capacity() && failed.is_ok() {
                    failed = w.put_pod(&buf);
                    buf.clear();
                }
            })
            .map_err(&spill)?;
        failed?;
        w.put_pod(&buf)
    })?;
    Ok(dir.finish())
}

/// Index entries whose first word is the key they are sorted and looked up by.
trait KeyFirst {
    fn key(&self) -> u64;
}

impl<const N: usize> KeyFirst for [u64; N] {
    fn key(&self) -> u64 {
        self[0]
    }
}
