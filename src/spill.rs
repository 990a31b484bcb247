//! Spill: what happens when `--mem-limit` is smaller than the corpus needs.
//!
//! Two structures grow with the number of documents and can leave memory:
//! - the signatures ([`SigStore`]): past their share of the budget they move to a
//!   temporary file, appended in document order and memory-mapped for reading, so
//!   the kernel keeps in memory only the pages that candidate confirmation touches;
//! - the band keys of LSH grouping: sorted runs in a temporary file
//!   ([`crate::lsh::runs`]), which this module gives a place to ([`SpillDir`]).
//!
//! Temporary files are created unnamed (`O_TMPFILE` where the system has it, else
//! unlinked at once), so nothing is left behind however the process ends. Put them
//! on disk with `--tmp-dir`: a `/tmp` on tmpfs is memory.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::minhash::Slot;

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
}
