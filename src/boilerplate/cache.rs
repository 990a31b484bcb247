//! Pages read while learning, kept for stripping: `clean` reads every page twice
//! (once to learn, once to strip and sketch), and reading a page (normalizing each
//! line and finding its shape, labels and masked form) is the largest part of both.
//! The learning read writes what it found to a temporary file, chunk by chunk; the
//! stripping read takes it back instead of reading the page again, so each text is
//! normalized once per run.
//!
//! The cache lives on disk, not in memory: it is about the size of the corpus, written
//! and read back once, so the run's memory does not grow with it. Each kept page
//! carries its text's length and hash, and each chunk its length: anything that does
//! not match (an input that changed between the reads, rules read with another
//! normalization) is read again as before. A failed write only turns the cache off.

use std::fs::File;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use xxhash_rust::xxh3::xxh3_64;

use super::page::{Line, LineSpan, Page, PageRead};
use crate::normalize::NormalizeOptions;
use crate::spill::SpillDir;

/// Where each chunk's pages lie in the file.
#[derive(Clone, Copy, Debug)]
struct Stored {
    offset: u64,
    len: usize,
    /// Bytes of the chunk they were read from.
    chunk_bytes: usize,
}

/// The pages of a run's learning read, by chunk (numbered in reading order).
pub struct PageCache {
    file: File,
    /// The normalization the pages were read with: they serve stripping with the same.
    options: NormalizeOptions,
    end: AtomicU64,
    chunks: Mutex<Vec<Option<Stored>>>,
    broken: AtomicBool,
}

impl PageCache {
    /// A cache in a new temporary file of `dir`, for about `text_bytes` of text; `None`
    /// when none can be made, when the file would live in memory (a tmpfs), or when
    /// its file system has less room than three times the text (the pages take 1.1
    /// times it on pages of long lines, more on short lines): the run then reads its
    /// pages twice rather than hold them in memory or leave the output or the spills
    /// short of room.
    pub fn new(dir: &SpillDir, options: NormalizeOptions, text_bytes: u64) -> Option<PageCache> {
        let file = dir.file().ok()?;
        if !has_room(&file, text_bytes) {
            return None;
        }
        Some(PageCache {
            file,
            options,
            end: AtomicU64::new(0),
            chunks: Mutex::new(Vec::new()),
            broken: AtomicBool::new(false),
        })
    }

    /// Whether pages read with `options` can be taken from here.
    pub fn serves(&self, options: &NormalizeOptions) -> bool {
        self.options == *options && !self.broken.load(Ordering::Relaxed)
    }

    /// Keep the encoded pages of chunk `chunk` (of `chunk_bytes` bytes).
    pub fn put(&self, chunk: usize, chunk_bytes: usize, pages: &[u8]) {
        if self.broken.load(Ordering::Relaxed) {
            return;
        }
        let offset = self.end.fetch_add(pages.len() as u64, Ordering::Relaxed);
        if crate::spill::write_all_at(&self.file, pages, offset).is_err() {
            self.broken.store(true, Ordering::Relaxed);
            return;
        }
        let mut chunks = self.chunks.lock().unwrap_or_else(|e| e.into_inner());
        if chunks.len() <= chunk {
            chunks.resize(chunk + 1, None);
        }
        chunks[chunk] = Some(Stored {
            offset,
            len: pages.len(),
            chunk_bytes,
        });
    }

    /// The pages kept for chunk `chunk`, if it is the same size as then.
    pub fn get(&self, chunk: usize, chunk_bytes: usize) -> Option<Pages> {
        let stored = {
            let chunks = self.chunks.lock().unwrap_or_else(|e| e.into_inner());
            (*chunks.get(chunk)?)?
        };
        if stored.chunk_bytes != chunk_bytes || self.broken.load(Ordering::Relaxed) {
            return None;
        }
        let mut bytes = take_buffer();
        bytes.resize(stored.len, 0);
        crate::spill::read_exact_at(&self.file, &mut bytes, stored.offset).ok()?;
        Some(Pages { bytes, pos: 0 })
    }
}

thread_local! {
    /// A buffer for one chunk's pages (kept, or read back), reused from chunk to
    /// chunk by each thread: the allocator then does not keep one per chunk.
    static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// This thread's buffer for a chunk's pages, empty.
pub fn take_buffer() -> Vec<u8> {
    BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()))
}

/// Hand a buffer from [`take_buffer`] back for the next chunk.
pub fn give_back(mut buffer: Vec<u8>) {
    buffer.clear();
    BUFFER.with(|b| *b.borrow_mut() = buffer);
}

/// Free every thread's buffer (once a pass is done).
pub fn free_buffers() {
    rayon::broadcast(|_| BUFFER.with(|b| *b.borrow_mut() = Vec::new()));
}

/// Whether the file system of `file` is on disk (not a tmpfs or ramfs, which are
/// memory) with room for three times `text_bytes`.
#[cfg(target_os = "linux")]
fn has_room(file: &File, text_bytes: u64) -> bool {
    use std::os::fd::AsRawFd;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `fstatfs` writes a `statfs` into the memory it is given, which is read
    // only after it reports success.
    let st = unsafe {
        if libc::fstatfs(file.as_raw_fd(), st.as_mut_ptr()) != 0 {
            return false;
        }
        st.assume_init()
    };
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    let kind = st.f_type as i64;
    let free = (st.f_bavail as u64).saturating_mul(st.f_bsize as u64);
    kind != TMPFS_MAGIC && kind != RAMFS_MAGIC && free >= text_bytes.saturating_mul(3)
}

/// Elsewhere than on Linux the file system is not known: no cache is made.
#[cfg(not(target_os = "linux"))]
fn has_room(_: &File, _: u64) -> bool {
    false
}

/// Append the page of record `record` of a chunk (its text `text`) to `out`. A text
/// or normalized text over 4 GiB is not kept (offsets are stored in 32 bits).
///
/// A page is a head ([`HEAD_BYTES`]: record, text length and hash, line count,
/// normalized length, page flags, bytes of the lines), its lines, then its
/// normalized text. A line is its numbers as variable-length integers (positions as
/// differences from the line before, zigzag-coded: a line of a few hundred bytes
/// takes about a dozen bytes for them, not forty), its flags, its hash and the label
/// and masked keys it has.
pub fn encode(out: &mut Vec<u8>, record: u32, text: &str, read: &PageRead) {
    // Normalizing may lengthen a text (NFKC expands some ligatures many times).
    if u32::try_from(text.len().max(read.page.normalized.len())).is_err() {
        return;
    }
    let page = &read.page;
    let page_at = out.len();
    let put32 = |out: &mut Vec<u8>, v: usize| out.extend_from_slice(&(v as u32).to_le_bytes());
    out.extend_from_slice(&record.to_le_bytes());
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&xxh3_64(text.as_bytes()).to_le_bytes());
    put32(out, page.lines.len());
    put32(out, page.normalized.len());
    out.push(
        page.blank_separated as u8 | (read.masked.is_some() as u8) << 1 | (page.plain as u8) << 2,
    );
    let meta_at = out.len();
    put32(out, 0);
    // Positions are written as differences from the previous one.
    let (mut at, mut norm_at) = (0usize, 0usize);
    let delta = |out: &mut Vec<u8>, from: &mut usize, to: usize| {
        put_var(out, zigzag(to as i64 - *from as i64));
        *from = to;
    };
    for (i, l) in page.lines.iter().enumerate() {
        delta(out, &mut at, l.span.start);
        delta(out, &mut at, l.span.end);
        delta(out, &mut at, l.span.next);
        delta(out, &mut norm_at, l.norm.0);
        delta(out, &mut norm_at, l.norm.1);
        for v in [l.words, l.letters, l.chars, l.indent, l.words_before] {
            put_var(out, v as u64);
        }
        let label = read.labels.get(i).copied().flatten();
        let masked = read.masked.as_ref().and_then(|m| m[i]);
        let flags = [
            l.sentence,
            l.colon,
            l.field,
            l.blank_before,
            l.blank_after,
            l.in_flow,
            label.is_some_and(|(_, once)| once),
            label.is_some(),
            masked.is_some(),
        ]
        .iter()
        .enumerate()
        .fold(0u64, |f, (b, &on)| f | (on as u64) << b);
        put_var(out, flags);
        out.extend_from_slice(&l.hash.to_le_bytes());
        for k in [label.map(|(k, _)| k), masked].into_iter().flatten() {
            out.extend_from_slice(&k.to_le_bytes());
        }
    }
    let meta = out.len() - meta_at - 4;
    let Ok(meta) = u32::try_from(meta) else {
        // Lines past 4 GiB of records (billions of them): the page is not kept.
        out.truncate(page_at);
        return;
    };
    out[meta_at..meta_at + 4].copy_from_slice(&meta.to_le_bytes());
    out.extend_from_slice(page.normalized.as_bytes());
}

/// `v` as a LEB128 variable-length integer: seven bits a byte, low bits first.
fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The integer [`put_var`] wrote at `*pos`, moving `*pos` past it; `None` when the
/// bytes end first or it runs past 64 bits.
#[inline]
fn get_var(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        if shift > 63 {
            return None;
        }
        v |= u64::from(b & 0x7F) << shift;
        if b < 0x80 {
            return Some(v);
        }
        shift += 7;
    }
}

/// Signed differences as unsigned integers, small either way.
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// The kept pages of one chunk, taken in record order.
pub struct Pages {
    bytes: Vec<u8>,
    pos: usize,
}

impl Drop for Pages {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.bytes));
    }
}

/// Bytes before the lines.
const HEAD_BYTES: usize = 4 + 8 + 8 + 4 + 4 + 1 + 4;

impl Pages {
    /// The page of record `record` (text `text`), if one was kept for it and the text
    /// is the one it was read from.
    pub fn take(&mut self, record: u32, text: &str) -> Option<PageRead> {
        loop {
            let head = self.bytes.get(self.pos..self.pos + HEAD_BYTES)?;
            let u32_at = |i: usize| {
                u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]) as usize
            };
            let at = u32_at(0) as u32;
            let len = u64::from_le_bytes(head[4..12].try_into().ok()?);
            let hash = u64::from_le_bytes(head[12..20].try_into().ok()?);
            let (n, norm) = (u32_at(20), u32_at(24));
            let flags = head[28];
            let meta = u32_at(29);
            let size = HEAD_BYTES + meta + norm;
            if at > record {
                return None;
            }
            let start = self.pos;
            self.pos += size;
            if at < record {
                continue;
            }
            if len != text.len() as u64 || hash != xxh3_64(text.as_bytes()) {
                return None;
            }
            let body = self.bytes.get(start + HEAD_BYTES..start + size)?;
            return decode(body, n, meta, flags);
        }
    }
}

fn decode(bytes: &[u8], n: usize, meta: usize, flags: u8) -> Option<PageRead> {
    let (lines_bytes, normalized) = bytes.split_at(meta);
    let normalized = simdutf8::basic::from_utf8(normalized).ok()?;
    let mut lines = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    let mut masked = Vec::with_capacity(n);
    let mut pos = 0;
    let (mut at, mut norm_at) = (0usize, 0usize);
    let b = lines_bytes;
    let u64_at = |pos: &mut usize| {
        let v = u64::from_le_bytes(b.get(*pos..*pos + 8)?.try_into().ok()?);
        *pos += 8;
        Some(v)
    };
    for _ in 0..n {
        let mut delta = |from: &mut usize| -> Option<usize> {
            let d = unzigzag(get_var(b, &mut pos)?);
            *from = usize::try_from(*from as i64 + d).ok()?;
            Some(*from)
        };
        let span = LineSpan {
            start: delta(&mut at)?,
            end: delta(&mut at)?,
            next: delta(&mut at)?,
        };
        let norm = (delta(&mut norm_at)?, delta(&mut norm_at)?);
        let mut var = || get_var(b, &mut pos).map(|v| v as usize);
        let (words, letters, chars, indent, words_before) =
            (var()?, var()?, var()?, var()?, var()?);
        let f = get_var(b, &mut pos)?;
        let bit = |i: u8| f & (1 << i) != 0;
        let hash = u64_at(&mut pos)?;
        lines.push(Line {
            span,
            words,
            letters,
            chars,
            indent,
            words_before,
            norm,
            hash,
            sentence: bit(0),
            colon: bit(1),
            field: bit(2),
            blank_before: bit(3),
            blank_after: bit(4),
            in_flow: bit(5),
        });
        let label = if bit(7) {
            Some(u64_at(&mut pos)?)
        } else {
            None
        };
        labels.push(label.map(|k| (k, bit(6))));
        masked.push(if bit(8) {
            Some(u64_at(&mut pos)?)
        } else {
            None
        });
    }
    if pos != b.len() {
        return None;
    }
    Some(PageRead {
        page: Page {
            lines,
            normalized: normalized.to_string(),
            blank_separated: flags & 1 != 0,
            plain: flags & 4 != 0,
        },
        labels,
        masked: (flags & 2 != 0).then_some(masked),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boilerplate::keys::{page_labels, page_masked};
    use crate::normalize::Normalizer;

    fn read(text: &str) -> PageRead {
        let n = Normalizer::default();
        let page = Page::new(&n, text);
        let labels = page_labels(&n, text, &page);
        let masked = Some(page_masked(&n, &page));
        PageRead {
            page,
            labels,
            masked,
        }
    }

    fn same(a: &PageRead, b: &PageRead) {
        assert_eq!(format!("{:?}", a.page.lines), format!("{:?}", b.page.lines));
        assert_eq!(a.page.normalized, b.page.normalized);
        assert_eq!(a.page.blank_separated, b.page.blank_separated);
        assert_eq!(a.page.plain, b.page.plain);
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.masked, b.masked);
    }

    #[test]
    fn pages_come_back_as_read_and_only_for_their_text() {
        let texts = [
            "Title here\n\nSource: Reuters\nPosted on Feb 9, 2024 at 5:07 AM\nA body line that ends.\n",
            "",
            "المصدر: الجزيرة\r\nتاريخ النشر: 2024/05/01\r\nنص المقال هنا.",
            "one line",
            // Kept as they are but not plain word characters: the page says so.
            "Ελληνικά\nκείμενο",
        ];
        let mut bytes = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            if i != 3 {
                encode(&mut bytes, i as u32, t, &read(t));
            }
        }
        let mut pages = Pages { bytes, pos: 0 };
        // Record 0 is asked about with another text: not served, and the next
        // records are still found.
        assert!(pages.take(0, "Title here").is_none());
        same(&pages.take(1, texts[1]).unwrap(), &read(texts[1]));
        same(&pages.take(2, texts[2]).unwrap(), &read(texts[2]));
        assert!(read(texts[2]).page.plain && !read(texts[4]).page.plain);
        // Nothing was kept for record 3.
        assert!(pages.take(3, texts[3]).is_none());
        same(&pages.take(4, texts[4]).unwrap(), &read(texts[4]));
    }

    proptest::proptest! {
        #[test]
        fn variable_length_integers_round_trip(v in proptest::prelude::any::<u64>(), d in proptest::prelude::any::<i64>()) {
            let mut out = Vec::new();
            put_var(&mut out, v);
            put_var(&mut out, zigzag(d));
            let mut pos = 0;
            proptest::prop_assert_eq!(get_var(&out, &mut pos), Some(v));
            proptest::prop_assert_eq!(get_var(&out, &mut pos).map(unzigzag), Some(d));
            proptest::prop_assert_eq!(pos, out.len());
            // Cut short, nothing is made up.
            let mut alone = Vec::new();
            put_var(&mut alone, v);
            proptest::prop_assert_eq!(get_var(&alone[..alone.len() - 1], &mut 0), None);
        }
    }

    #[test]
    fn skipped_records_are_passed_over() {
        let t = "Read also:\nAnother headline\nA paragraph of the other article, it ends here.";
        let mut bytes = Vec::new();
        encode(&mut bytes, 0, "x", &read("x"));
        encode(&mut bytes, 5, t, &read(t));
        let mut pages = Pages { bytes, pos: 0 };
        assert!(pages.take(2, "y").is_none());
        same(&pages.take(5, t).unwrap(), &read(t));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn chunks_round_trip_through_the_file_and_check_their_size() {
        let cache = PageCache::new(&SpillDir::new(None), NormalizeOptions::default(), 0).unwrap();
        // No file system has room for three times an exabyte of text.
        assert!(
            PageCache::new(&SpillDir::new(None), NormalizeOptions::default(), 1 << 60).is_none()
        );
        let t = "Tags: a, b\nSome text.";
        let mut bytes = Vec::new();
        encode(&mut bytes, 0, t, &read(t));
        cache.put(3, 100, &bytes);
        cache.put(1, 50, b"");
        assert!(cache.get(3, 99).is_none());
        assert!(cache.get(0, 0).is_none());
        same(&cache.get(3, 100).unwrap().take(0, t).unwrap(), &read(t));
        assert!(cache.serves(&NormalizeOptions::default()));
        assert!(!cache.serves(&NormalizeOptions::none()));
    }
}
