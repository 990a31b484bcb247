//! Sorted runs: sorting more values than `--mem-limit` lets memory hold. Values fill
//! a buffer; each full buffer is sorted, deduplicated and written to one temporary
//! file as a run, and reading merges the runs (k-way, through small positioned
//! reads) in the order one in-memory sort gives.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufWriter, Write};

use rayon::prelude::*;

use super::{SpillDir, WRITE_BUF};

/// Collects values and gives them back sorted and distinct.
pub struct Sorter<T> {
    buf: Vec<T>,
    /// Values buffered before a run is written.
    per_run: usize,
    dir: SpillDir,
    file: Option<BufWriter<File>>,
    runs: Vec<(u64, u64)>,
    written: u64,
}

impl<T: bytemuck::Pod + Ord + Send> Sorter<T> {
    /// A sorter that buffers at most `ram_limit` bytes of values (`usize::MAX`: all).
    pub fn new(ram_limit: usize, dir: SpillDir) -> Self {
        let size = std::mem::size_of::<T>().max(1);
        Sorter {
            buf: Vec::new(),
            per_run: (ram_limit / size).max(1),
            dir,
            file: None,
            runs: Vec::new(),
            written: 0,
        }
    }

    pub fn push(&mut self, value: T) -> io::Result<()> {
        if self.buf.len() >= self.per_run {
            self.write_run()?;
        }
        if self.buf.len() == self.buf.capacity() {
            // Grow by doubling, but never past the budget.
            let want = (self.buf.capacity() * 2).clamp(1024, self.per_run.max(1024));
            self.buf.reserve_exact(want - self.buf.len());
        }
        self.buf.push(value);
        Ok(())
    }

    fn write_run(&mut self) -> io::Result<()> {
        self.buf.par_sort_unstable();
        self.buf.dedup();
        let w = match &mut self.file {
            Some(w) => w,
            None => self
                .file
                .insert(BufWriter::with_capacity(WRITE_BUF, self.dir.file()?)),
        };
        w.write_all(bytemuck::cast_slice(&self.buf))?;
        self.runs.push((self.written, self.buf.len() as u64));
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Runs written to disk so far.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Every value pushed, sorted and distinct.
    pub fn finish(mut self) -> io::Result<Sorted<T>> {
        if self.file.is_none() {
            self.buf.par_sort_unstable();
            self.buf.dedup();
            self.buf.shrink_to_fit();
            return Ok(Sorted::Ram(self.buf));
        }
        if !self.buf.is_empty() {
            self.write_run()?;
        }
        let budget = self.per_run * std::mem::size_of::<T>();
        self.buf = Vec::new();
        let file = match self.file.take() {
            Some(w) => w.into_inner().map_err(|e| e.into_error())?,
            None => return Err(io::Error::other("sorter lost its file")),
        };
        // The merge holds one read buffer per run: together the memory the buffer
        // used, within 4 KiB and 64 KiB each.
        let read_buf = (budget / self.runs.len().max(1)).clamp(4 << 10, 64 << 10);
        Ok(Sorted::Runs {
            file,
            runs: self.runs,
            read_values: (read_buf / std::mem::size_of::<T>().max(1)).max(1),
        })
    }
}

/// Sorted, distinct values: in memory, or runs in a temporary file.
pub enum Sorted<T> {
    Ram(Vec<T>),
    Runs {
        file: File,
        runs: Vec<(u64, u64)>,
        read_values: usize,
    },
}

impl<T: bytemuck::Pod + Ord> Sorted<T> {
    /// Runs on disk (0 when the values stayed in memory).
    pub fn runs(&self) -> usize {
        match self {
            Sorted::Ram(_) => 0,
            Sorted::Runs { runs, .. } => runs.len(),
        }
    }

    /// Call `f` on every value in order, each once. Values that several runs hold
    /// come once.
    pub fn for_each(&self, mut f: impl FnMut(&T)) -> io::Result<()> {
        match self {
            Sorted::Ram(v) => {
                v.iter().for_each(f);
                Ok(())
            }
            Sorted::Runs {
                file,
                runs,
                read_values,
            } => {
                let size = std::mem::size_of::<T>() as u64;
                let mut readers: Vec<RunReader<'_, T>> = runs
                    .iter()
                    .map(|&(start, len)| RunReader {
                        file,
                        next: start * size,
                        end: (start + len) * size,
                        buf: Vec::new(),
                        pos: 0,
                        cap: *read_values,
                    })
                    .collect();
                let mut heap = BinaryHeap::with_capacity(readers.len());
                for (i, r) in readers.iter_mut().enumerate() {
                    if let Some(v) = r.next_value()? {
                        heap.push(Reverse((v, i)));
                    }
                }
                let mut last: Option<T> = None;
                while let Some(Reverse((v, i))) = heap.pop() {
                    if let Some(next) = readers[i].next_value()? {
                        heap.push(Reverse((next, i)));
                    }
                    if last != Some(v) {
                        f(&v);
                        last = Some(v);
                    }
                }
                Ok(())
            }
        }
    }
}

/// Reads one run through a small buffer.
struct RunReader<'a, T> {
    file: &'a File,
    /// File offset of the first byte not yet read into `buf`, and the run's end.
    next: u64,
    end: u64,
    buf: Vec<T>,
    pos: usize,
    cap: usize,
}

impl<T: bytemuck::Pod> RunReader<'_, T> {
    fn next_value(&mut self) -> io::Result<Option<T>> {
        if self.pos == self.buf.len() {
            let size = std::mem::size_of::<T>() as u64;
            let want = ((self.end - self.next) / size).min(self.cap as u64) as usize;
            if want == 0 {
                return Ok(None);
            }
            self.buf.resize(want, T::zeroed());
            super::read_exact_at(
                self.file,
                bytemuck::cast_slice_mut(&mut self.buf),
                self.next,
            )?;
            self.next += want as u64 * size;
            self.pos = 0;
        }
        let v = self.buf[self.pos];
        self.pos += 1;
        Ok(Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(values: &[u64], ram_limit: usize) -> (Vec<u64>, usize) {
        let mut s = Sorter::new(ram_limit, SpillDir::default());
        for &v in values {
            s.push(v).expect("push");
        }
        let done = s.finish().expect("finish");
        let mut got = Vec::new();
        done.for_each(|&v| got.push(v)).expect("read");
        (got, done.runs())
    }

    #[test]
    fn runs_merge_into_one_sort() {
        let values: Vec<u64> = (0..5000u64).map(|i| (i * 7919) % 613).collect();
        let mut want = values.clone();
        want.sort_unstable();
        want.dedup();
        let (in_ram, runs) = sorted(&values, usize::MAX);
        assert_eq!((in_ram.as_slice(), runs), (want.as_slice(), 0));
        let (spilled, runs) = sorted(&values, 8 * 100);
        assert_eq!(runs, 50);
        assert_eq!(spilled, want);
        let (none, _) = sorted(&[], 8);
        assert!(none.is_empty());
    }
}
