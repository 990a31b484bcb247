//! Spill: what happens when `--mem-limit` is smaller than the corpus needs.
//!
//! Everything that grows with the corpus gets a share of the limit (the shares are in
//! [`crate::config::DedupConfig`]) and one of three shapes that can leave memory:
//! - [`SpillVec`]: appended in order (signatures, the document table's columns, line
//!   keys, shingle sets), moved to a temporary file past its share and memory-mapped
//!   for reading, so the kernel keeps only the pages that are read, as page cache;
//! - [`SpillArray`]: a fixed-length array written in place (roles, the union-find,
//!   stories), a shared map of a temporary file past its share;
//! - [`Sorter`]: values sorted in runs written to a temporary file and merged in order
//!   (confirmed edges, per-story line counts); the band keys of LSH grouping have
//!   their own runs ([`crate::lsh::runs`]).
//!
//! [`SpillDir`] says where the files go and names what they hold, which the report
//! lists ([`spilled`]).
//!
//! Temporary files are created unnamed (`O_TMPFILE` where the system has it, else
//! unlinked at once), so nothing is left behind however the process ends. Put them
//! on disk with `--tmp-dir`: a `/tmp` on tmpfs is memory.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::minhash::Slot;

mod sorted;

pub use sorted::{Sorted, Sorter};

/// Where temporary files go: the given directory, or the system's; and what they
/// hold, named in the report's list of what went to disk ([`spilled`]).
#[derive(Clone, Debug, Default)]
pub struct SpillDir {
    pub dir: Option<PathBuf>,
    pub what: &'static str,
}

impl SpillDir {
    pub fn new(dir: Option<PathBuf>) -> SpillDir {
        SpillDir { dir, what: "" }
    }

    /// The same place, for files that hold `what`.
    pub fn named(&self, what: &'static str) -> SpillDir {
        SpillDir {
            dir: self.dir.clone(),
            what,
        }
    }

    pub fn file(&self) -> io::Result<File> {
        if let Ok(mut s) = SPILLED.lock()
            && !self.what.is_empty()
            && !s.contains(&self.what)
        {
            s.push(self.what);
        }
        match &self.dir {
            Some(dir) => tempfile::tempfile_in(dir).map_err(|e| with_path(e, dir)),
            None => tempfile::tempfile(),
        }
    }
}

/// Names of what went to temporary files since [`forget_spilled`].
static SPILLED: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());

/// What went to temporary files in this run, sorted.
pub fn spilled() -> Vec<&'static str> {
    let mut v = SPILLED.lock().map(|s| s.clone()).unwrap_or_default();
    v.sort_unstable();
    v
}

/// Start a new list of what went to disk (at the start of a run).
pub fn forget_spilled() {
    if let Ok(mut s) = SPILLED.lock() {
        s.clear();
    }
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Signatures of every document, `k` slots each, in document order.
pub type SigStore = SpillVec<Slot>;

/// An append-only vector that holds at most `ram_limit` bytes in memory: past that,
/// everything appended so far moves to a temporary file, later values are appended to
/// it, and once [`SpillVec::finish`]ed the file is memory-mapped for reading. The
/// kernel then keeps in memory only the pages that are read, as page cache it can
/// drop, not as the process's own memory.
pub struct SpillVec<T> {
    ram: Vec<T>,
    ram_limit: usize,
    dir: SpillDir,
    disk: Option<Disk>,
}

struct Disk {
    writer: Option<BufWriter<File>>,
    map: Option<memmap2::Mmap>,
    /// Byte offset of the first value in `map`.
    offset: usize,
    len: usize,
}

impl<T: bytemuck::Pod> SpillVec<T> {
    /// A vector that keeps at most `ram_limit` bytes in memory (`usize::MAX`: all).
    pub fn new(ram_limit: usize, dir: SpillDir) -> Self {
        SpillVec {
            ram: Vec::new(),
            ram_limit,
            dir,
            disk: None,
        }
    }

    /// A vector that never leaves memory.
    pub fn in_memory() -> Self {
        Self::new(usize::MAX, SpillDir::default())
    }

    /// Values appended so far (in memory or not).
    pub fn len(&self) -> usize {
        self.disk.as_ref().map_or(self.ram.len(), |d| d.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, value: T) -> io::Result<()> {
        self.extend_from_slice(std::slice::from_ref(&value))
    }

    /// Append values in order.
    pub fn extend_from_slice(&mut self, values: &[T]) -> io::Result<()> {
        let size = std::mem::size_of::<T>();
        // The vector doubles when it grows: what it would hold after growing is
        // what counts against the limit.
        let needed = self.ram.len() + values.len();
        let after = if needed > self.ram.capacity() {
            needed.max(self.ram.capacity().saturating_mul(2))
        } else {
            self.ram.capacity()
        };
        if self.disk.is_none() && after.saturating_mul(size) > self.ram_limit {
            let mut writer = BufWriter::with_capacity(WRITE_BUF, self.dir.file()?);
            writer.write_all(bytemuck::cast_slice(&self.ram))?;
            self.disk = Some(Disk {
                writer: Some(writer),
                map: None,
                offset: 0,
                len: self.ram.len(),
            });
            self.ram = Vec::new();
        }
        match &mut self.disk {
            None => self.ram.extend_from_slice(values),
            Some(d) => {
                let w = d.writer.as_mut().ok_or_else(finished)?;
                w.write_all(bytemuck::cast_slice(values))?;
                d.len += values.len();
            }
        }
        Ok(())
    }

    /// Done appending: a spilled vector is flushed and mapped for reading; one in
    /// memory gives back its spare capacity.
    pub fn finish(&mut self) -> io::Result<()> {
        match &mut self.disk {
            None => self.ram.shrink_to_fit(),
            Some(d) => {
                if let Some(w) = d.writer.take() {
                    let file = w.into_inner().map_err(|e| e.into_error())?;
                    d.map = map_file(&file, d.len * std::mem::size_of::<T>())?;
                }
            }
        }
        Ok(())
    }

    /// True when the values live in a temporary file.
    pub fn spilled(&self) -> bool {
        self.disk.is_some()
    }

    /// The values as a vector, when they are in memory (empty when spilled).
    pub fn into_ram(self) -> Vec<T> {
        self.ram
    }

    /// Every value, in order (empty for a spilled vector not yet finished).
    pub fn as_slice(&self) -> &[T] {
        match &self.disk {
            None => &self.ram,
            Some(Disk {
                map: Some(m),
                offset,
                len,
                ..
            }) => bytemuck::cast_slice(&m[*offset..*offset + len * std::mem::size_of::<T>()]),
            Some(_) => &[],
        }
    }

    /// `len` values that a read-only map holds from byte `offset` on (a section of a
    /// file this program wrote; `offset` aligned for `T`). `None` when they do not fit.
    pub fn mapped(map: memmap2::Mmap, offset: usize, len: usize) -> Option<Self> {
        let end = len
            .checked_mul(std::mem::size_of::<T>())?
            .checked_add(offset)?;
        let fits = end <= map.len() && bytemuck::try_cast_slice::<u8, T>(&map[offset..end]).is_ok();
        fits.then(|| SpillVec {
            ram: Vec::new(),
            ram_limit: usize::MAX,
            dir: SpillDir::default(),
            disk: Some(Disk {
                writer: None,
                map: Some(map),
                offset,
                len,
            }),
        })
    }

    /// Alias of [`SpillVec::as_slice`] for signature stores.
    pub fn slots(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T> std::fmt::Debug for SpillVec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.disk.as_ref().map_or(self.ram.len(), |d| d.len);
        write!(
            f,
            "SpillVec({len} values, spilled: {})",
            self.disk.is_some()
        )
    }
}

impl<T: bytemuck::Pod> Default for SpillVec<T> {
    fn default() -> Self {
        Self::in_memory()
    }
}

impl<T: bytemuck::Pod> std::ops::Deref for SpillVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: bytemuck::Pod> From<Vec<T>> for SpillVec<T> {
    fn from(ram: Vec<T>) -> Self {
        SpillVec {
            ram,
            ram_limit: usize::MAX,
            dir: SpillDir::default(),
            disk: None,
        }
    }
}

/// Strings one after another: their bytes, and where each ends, each array in memory
/// up to its share and then in a temporary file ([`SpillVec`]).
#[derive(Debug, Default)]
pub struct Strings {
    bytes: SpillVec<u8>,
    ends: SpillVec<u64>,
}

impl Strings {
    pub fn new(ram_limit: usize, dir: &SpillDir) -> Strings {
        Strings {
            bytes: SpillVec::new(ram_limit, dir.clone()),
            ends: SpillVec::new(ram_limit, dir.clone()),
        }
    }

    pub fn push(&mut self, s: &str) -> io::Result<()> {
        self.bytes.extend_from_slice(s.as_bytes())?;
        self.ends.push(self.bytes.len() as u64)
    }

    /// Done appending (see [`SpillVec::finish`]).
    pub fn finish(&mut self) -> io::Result<()> {
        self.bytes.finish()?;
        self.ends.finish()
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// String `i` (`None` past the end).
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        // Only whole strings are pushed.
        std::str::from_utf8(self.bytes.get(start..end)?).ok()
    }
}

/// A fixed-length array of `len` values, all `fill` at first, writable in place: in
/// memory when it takes at most `ram_limit` bytes, else a memory-mapped temporary
/// file (written back by the kernel, not held as the process's own memory).
pub enum SpillArray<T> {
    Ram(Vec<T>),
    Disk(memmap2::MmapMut, usize),
}

impl<T: bytemuck::Pod> SpillArray<T> {
    pub fn new(len: usize, fill: T, ram_limit: usize, dir: &SpillDir) -> io::Result<Self> {
        let bytes = len.saturating_mul(std::mem::size_of::<T>());
        if bytes <= ram_limit || bytes == 0 {
            return Ok(SpillArray::Ram(vec![fill; len]));
        }
        let file = dir.file()?;
        file.set_len(bytes as u64)?;
        // SAFETY: the file is this process's own unnamed temporary file (see
        // `SpillDir::file`); nothing else maps or writes it, and the map is dropped
        // with the array.
        let mut map = unsafe { memmap2::MmapMut::map_mut(&file)? };
        let values: &mut [T] = bytemuck::cast_slice_mut(&mut map[..]);
        if bytemuck::bytes_of(&fill).iter().any(|&b| b != 0) {
            values.fill(fill);
        }
        Ok(SpillArray::Disk(map, len))
    }

    pub fn spilled(&self) -> bool {
        matches!(self, SpillArray::Disk(..))
    }
}

impl<T: bytemuck::Pod> std::ops::Deref for SpillArray<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            SpillArray::Ram(v) => v,
            SpillArray::Disk(m, _) => bytemuck::cast_slice(&m[..]),
        }
    }
}

impl<T: bytemuck::Pod> std::ops::DerefMut for SpillArray<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            SpillArray::Ram(v) => v,
            SpillArray::Disk(m, _) => bytemuck::cast_slice_mut(&mut m[..]),
        }
    }
}

/// Buffer of a temporary file's writer.
const WRITE_BUF: usize = 256 << 10;

/// Map `bytes` bytes of a finished temporary file for reading (`None` when empty).
fn map_file(file: &File, bytes: usize) -> io::Result<Option<memmap2::Mmap>> {
    if bytes == 0 {
        return Ok(None);
    }
    // SAFETY: the file was created unnamed (or unlinked at once where the system
    // cannot) with owner-only permissions, and this process never writes it again;
    // the map is dropped with its owner.
    Ok(Some(unsafe { memmap2::Mmap::map(file)? }))
}

fn finished() -> io::Error {
    io::Error::other("temporary file already finished")
}

#[cfg(unix)]
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
pub(crate) fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
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

#[cfg(unix)]
pub(crate) fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(windows)]
pub(crate) fn write_all_at(file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_write(buf, offset)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => {
                buf = &buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
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
    fn strings_spill_and_read_back() {
        let words = ["", "سلام", "a", "ید کلمه", "zz"];
        for ram in [usize::MAX, 0] {
            let mut s = Strings::new(ram, &SpillDir::default());
            for w in words {
                s.push(w).expect("push");
            }
            s.finish().expect("finish");
            assert_eq!(s.bytes.spilled(), ram == 0);
            assert_eq!(s.len(), words.len());
            let got: Vec<&str> = (0..s.len()).filter_map(|i| s.get(i)).collect();
            assert_eq!(got, words);
            assert_eq!(s.get(words.len()), None);
        }
    }

    #[test]
    fn sig_store_spills_and_reads_back() {
        let mut s = SigStore::new(40, SpillDir::default());
        let all: Vec<Slot> = (0..100).collect();
        for chunk in all.chunks(8) {
            s.extend_from_slice(chunk).expect("extend");
        }
        s.finish().expect("finish");
        assert!(s.spilled());
        assert_eq!(s.slots(), &all[..]);

        let mut r = SigStore::new(usize::MAX, SpillDir::default());
        r.extend_from_slice(&all).expect("extend");
        r.finish().expect("finish");
        assert!(!r.spilled());
        assert_eq!(r.slots(), &all[..]);
    }
}
