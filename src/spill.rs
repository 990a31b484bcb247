//! Spill: what happens when `--mem-limit` is smaller than the corpus needs.
//!
//! Two structures grow with the number of documents and can leave memory:
//! - the signatures ([`SigStore`]): past their share of the budget they move to a
//!   temporary file, appended in document order and memory-mapped for reading, so
//!   the kernel keeps in memory only the pages that candidate confirmation touches;
//! - the band keys of LSH grouping ([`BandRuns`]): one pass over the signatures
//!   fills a buffer of `(band, key, document)` entries; each full buffer is sorted
//!   and written as a run, and each band is then read back as a k-way merge of the
//!   runs, in the same order an in-memory sort gives.
//!
//! Temporary files are created unnamed (`O_TMPFILE` where the system has it, else
//! unlinked at once), so nothing is left behind however the process ends. Put them
//! on disk with `--tmp-dir`: a `/tmp` on tmpfs is memory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::lsh::{BandKey, DocId, Slot};

const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

/// Where temporary files go: the given directory, or the system's.
#[derive(Clone, Debug, Default)]
pub struct SpillDir(pub Option<PathBuf>);

impl SpillDir {
    pub fn file(&self) -> io::Result<File> {
        match &self.0 {
            Some(dir) => tempfile::tempfile_in(dir).map_err(|e| with_path(e, dir)),
            None => tempfile::tempfile(),
        }
    }
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Signatures of every document, `k` slots each, in document order: in memory
/// until `ram_limit` bytes, then in a temporary file.
pub struct SigStore {
    ram: Vec<Slot>,
    ram_limit: usize,
    dir: SpillDir,
    disk: Option<DiskSigs>,
}

struct DiskSigs {
    writer: Option<BufWriter<File>>,
    map: Option<memmap2::Mmap>,
    slots: usize,
}

impl SigStore {
    /// A store that keeps at most `ram_limit` bytes in memory (`usize::MAX`: all).
    pub fn new(ram_limit: usize, dir: SpillDir) -> Self {
        SigStore {
            ram: Vec::new(),
            ram_limit,
            dir,
            disk: None,
        }
    }

    /// Append slots (whole signatures) in document order.
    pub fn extend(&mut self, slots: &[Slot]) -> io::Result<()> {
        // The vector doubles when it grows: what it would hold after growing is
        // what counts against the limit.
        let needed = self.ram.len() + slots.len();
        let after = if needed > self.ram.capacity() {
            needed.max(self.ram.capacity().saturating_mul(2))
        } else {
            self.ram.capacity()
        };
        if self.disk.is_none() && after.saturating_mul(SLOT_BYTES) > self.ram_limit {
            let mut writer = BufWriter::with_capacity(1 << 20, self.dir.file()?);
            writer.write_all(bytemuck::cast_slice(&self.ram))?;
            self.disk = Some(DiskSigs {
                writer: Some(writer),
                map: None,
                slots: self.ram.len(),
            });
            self.ram = Vec::new();
        }
        match &mut self.disk {
            None => self.ram.extend_from_slice(slots),
            Some(d) => {
                let w = d.writer.as_mut().ok_or_else(finished)?;
                w.write_all(bytemuck::cast_slice(slots))?;
                d.slots += slots.len();
            }
        }
        Ok(())
    }

    /// Done appending: a spilled store is flushed and mapped for reading.
    pub fn finish(&mut self) -> io::Result<()> {
        if let Some(d) = &mut self.disk
            && let Some(w) = d.writer.take()
        {
            let file = w.into_inner().map_err(|e| e.into_error())?;
            d.map = if d.slots == 0 {
                None
            } else {
                // SAFETY: the file was created unnamed (or unlinked at once where
                // the system cannot) with owner-only permissions, and this process
                // never writes it again; the map is dropped with the store.
                Some(unsafe { memmap2::Mmap::map(&file)? })
            };
        }
        Ok(())
    }

    /// True when the signatures live in a temporary file.
    pub fn spilled(&self) -> bool {
        self.disk.is_some()
    }

    /// Every slot, in document order (empty for a spilled store not yet finished).
    pub fn slots(&self) -> &[Slot] {
        match &self.disk {
            None => &self.ram,
            Some(DiskSigs { map: Some(m), .. }) => bytemuck::cast_slice(&m[..]),
            Some(_) => &[],
        }
    }
}

fn finished() -> io::Error {
    io::Error::other("signature store already finished")
}

/// One band key entry on disk: key, then document, little-endian.
const ENTRY: usize = 12;

/// Band keys of every band as sorted runs, one after another in one temporary file.
pub struct BandRuns {
    file: File,
    runs: Vec<Run>,
    bands: usize,
    /// Bytes of read buffer for one run during a merge: the key budget shared out.
    read_buf: usize,
}

struct Run {
    /// Byte offset of the run in the file.
    offset: u64,
    /// Entry index where each band starts, and the total at the end.
    band_starts: Vec<u64>,
}

impl BandRuns {
    /// Build runs of at most `per_run` entries from `keys(d)`, which gives the key
    /// of every band of document `d`, for the documents in `docs` (ascending).
    pub fn build(
        docs: &[DocId],
        bands: usize,
        per_run: usize,
        dir: &SpillDir,
        keys: impl Fn(DocId, &mut Vec<BandKey>) + Sync,
    ) -> io::Result<BandRuns> {
        let per_run = per_run.max(bands);
        let docs_per_run = (per_run / bands).max(1);
        let mut runs = Vec::new();
        let mut w = BufWriter::with_capacity(1 << 20, dir.file()?);
        let mut offset = 0u64;
        let mut buf: Vec<(u32, BandKey, DocId)> = Vec::with_capacity(docs_per_run * bands);
        for batch in docs.chunks(docs_per_run) {
            buf.clear();
            buf.par_extend(batch.par_iter().flat_map_iter(|&d| {
                let mut k = Vec::with_capacity(bands);
                keys(d, &mut k);
                k.into_iter()
                    .enumerate()
                    .map(move |(b, key)| (b as u32, key, d))
            }));
            buf.par_sort_unstable();
            let mut band_starts = vec![0u64; bands + 1];
            for (i, &(b, key, d)) in buf.iter().enumerate() {
                band_starts[b as usize + 1] = i as u64 + 1;
                w.write_all(&key.to_le_bytes())?;
                w.write_all(&d.to_le_bytes())?;
            }
            // Bands with no entry start where the previous one ended.
            for b in 1..=bands {
                band_starts[b] = band_starts[b].max(band_starts[b - 1]);
            }
            runs.push(Run {
                offset,
                band_starts,
            });
            offset += (buf.len() * ENTRY) as u64;
        }
        let file = w.into_inner().map_err(|e| e.into_error())?;
        // The merge holds one read buffer per run; together they use the memory the
        // key buffer used, within 4 KiB and 64 KiB each.
        let read_buf = (per_run * 16 / runs.len().max(1)).clamp(4 << 10, 64 << 10);
        Ok(BandRuns {
            file,
            runs,
            bands,
            read_buf: read_buf / ENTRY * ENTRY,
        })
    }

    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// The entries of `band`, merged across runs in (key, document) order. Reads are
    /// positioned, so merges of different bands do not disturb each other.
    pub fn band(&self, band: usize) -> io::Result<BandMerge<'_>> {
        assert!(band < self.bands, "band {band} of {}", self.bands);
        let mut readers = Vec::with_capacity(self.runs.len());
        let mut heap = BinaryHeap::with_capacity(self.runs.len());
        for run in &self.runs {
            let (lo, hi) = (run.band_starts[band], run.band_starts[band + 1]);
            let mut r = RunReader {
                file: &self.file,
                next: run.offset + lo * ENTRY as u64,
                end: run.offset + hi * ENTRY as u64,
                buf: Vec::new(),
                pos: 0,
                cap: self.read_buf,
            };
            if let Some(e) = r.next_entry()? {
                heap.push(Reverse((e, readers.len())));
            }
            readers.push(r);
        }
        Ok(BandMerge { readers, heap })
    }
}

/// Reads one run's segment of a band through a small buffer.
struct RunReader<'a> {
    file: &'a File,
    /// File offset of the first byte not yet read into `buf`, and the segment's end.
    next: u64,
    end: u64,
    buf: Vec<u8>,
    pos: usize,
    cap: usize,
}

impl RunReader<'_> {
    fn next_entry(&mut self) -> io::Result<Option<(BandKey, DocId)>> {
        if self.pos == self.buf.len() {
            let want = (self.end - self.next).min(self.cap as u64) as usize;
            if want == 0 {
                return Ok(None);
            }
            self.buf.resize(want, 0);
            read_exact_at(self.file, &mut self.buf, self.next)?;
            self.next += want as u64;
            self.pos = 0;
        }
        let b = &self.buf[self.pos..self.pos + ENTRY];
        self.pos += ENTRY;
        let key = u64::from_le_bytes(b[..8].try_into().unwrap_or_default());
        let doc = u32::from_le_bytes(b[8..].try_into().unwrap_or_default());
        Ok(Some((key, doc)))
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// A k-way merge of one band's runs.
pub struct BandMerge<'a> {
    readers: Vec<RunReader<'a>>,
    heap: BinaryHeap<Reverse<((BandKey, DocId), usize)>>,
}

impl BandMerge<'_> {
    /// The next entry in (key, document) order.
    pub fn next_entry(&mut self) -> io::Result<Option<(BandKey, DocId)>> {
        let Some(Reverse((e, r))) = self.heap.pop() else {
            return Ok(None);
        };
        if let Some(next) = self.readers[r].next_entry()? {
            self.heap.push(Reverse((next, r)));
        }
        Ok(Some(e))
    }
}

/// Parse a size such as `512M`, `2G`, `1.5G` or `1000000` (bytes; K, M, G and T
/// are powers of 1024, an optional trailing `B` or `iB` is accepted).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let upper = t.to_ascii_uppercase();
    let body = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (num, mult) = match body.chars().last() {
        Some('K') => (&body[..body.len() - 1], 1u64 << 10),
        Some('M') => (&body[..body.len() - 1], 1 << 20),
        Some('G') => (&body[..body.len() - 1], 1 << 30),
        Some('T') => (&body[..body.len() - 1], 1 << 40),
        _ => (body, 1),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a size (examples: 512M, 2G, 1.5G)"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("`{s}` is not a positive size"));
    }
    Ok((v * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64KB"), Ok(64 << 10));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("-1G").is_err());
    }

    #[test]
    fn sig_store_spills_and_reads_back() {
        let mut s = SigStore::new(40, SpillDir::default());
        let all: Vec<Slot> = (0..100).collect();
        for chunk in all.chunks(8) {
            s.extend(chunk).expect("extend");
        }
        s.finish().expect("finish");
        assert!(s.spilled());
        assert_eq!(s.slots(), &all[..]);

        let mut r = SigStore::new(usize::MAX, SpillDir::default());
        r.extend(&all).expect("extend");
        r.finish().expect("finish");
        assert!(!r.spilled());
        assert_eq!(r.slots(), &all[..]);
    }

    #[test]
    fn merged_runs_equal_one_sort() {
        let docs: Vec<DocId> = (0..1000).collect();
        let bands = 3;
        // Few distinct keys, so buckets span runs.
        let keys = |d: DocId, out: &mut Vec<BandKey>| {
            out.extend((0..bands as u64).map(|b| (d as u64 * 7 + b * 13) % 37));
        };
        let runs = BandRuns::build(&docs, bands, 90, &SpillDir::default(), keys).expect("runs");
        assert!(runs.runs() > 10);
        for b in 0..bands {
            let mut want: Vec<(BandKey, DocId)> = docs
                .iter()
                .map(|&d| {
                    let mut k = Vec::new();
                    keys(d, &mut k);
                    (k[b], d)
                })
                .collect();
            want.sort_unstable();
            let mut m = runs.band(b).expect("band");
            let mut got = Vec::new();
            while let Some(e) = m.next_entry().expect("entry") {
                got.push(e);
            }
            assert_eq!(got, want);
        }
    }
}
