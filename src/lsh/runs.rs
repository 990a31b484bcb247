//! Band runs: LSH grouping past `--mem-limit`. One pass over the signatures fills a
//! buffer of `(band, key, document)` entries; each full buffer is sorted and written
//! as a run, and each band is then read back as a k-way merge of the runs, in the
//! same order an in-memory sort gives.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufWriter, Write};

use rayon::prelude::*;

use super::{BandKey, DocId};
use crate::spill::{SpillDir, read_exact_at};

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
    /// of every band of document `d`, for the documents `docs` (ascending; taken a
    /// run's worth at a time, never held whole).
    pub fn build(
        docs: impl Iterator<Item = DocId>,
        bands: usize,
        per_run: usize,
        dir: &SpillDir,
        keys: impl Fn(DocId, &mut Vec<BandKey>) + Sync,
    ) -> io::Result<BandRuns> {
        let per_run = per_run.max(bands);
        let docs_per_run = (per_run / bands).max(1);
        let mut runs = Vec::new();
        let mut w = BufWriter::with_capacity(1 << 20, dir.named("band keys").file()?);
        let mut offset = 0u64;
        let mut buf: Vec<(u32, BandKey, DocId)> = Vec::with_capacity(docs_per_run * bands);
        let mut docs = docs;
        let mut batch: Vec<DocId> = Vec::with_capacity(docs_per_run);
        loop {
            batch.clear();
            batch.extend(docs.by_ref().take(docs_per_run));
            if batch.is_empty() {
                break;
            }
            // Filled in place, a document's bands at a time: no second copy.
            buf.clear();
            buf.resize(batch.len() * bands, (0, 0, 0));
            buf.par_chunks_mut(bands)
                .zip(batch.par_iter())
                .for_each_init(
                    || Vec::with_capacity(bands),
                    |k, (out, &d)| {
                        k.clear();
                        keys(d, k);
                        assert_eq!(k.len(), bands, "band keys of document {d}");
                        for (b, (o, &key)) in out.iter_mut().zip(k.iter()).enumerate() {
                            *o = (b as u32, key, d);
                        }
                    },
                );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_runs_equal_one_sort() {
        let docs: Vec<DocId> = (0..1000).collect();
        let bands = 3;
        // Few distinct keys, so buckets span runs.
        let keys = |d: DocId, out: &mut Vec<BandKey>| {
            out.extend((0..bands as u64).map(|b| (d as u64 * 7 + b * 13) % 37));
        };
        let runs = BandRuns::build(docs.iter().copied(), bands, 90, &SpillDir::default(), keys)
            .expect("runs");
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
