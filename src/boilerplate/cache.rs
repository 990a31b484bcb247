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
    /// its file system has less room than three times the text (the pages take 1.3
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
pub fn encode(out: &mut Vec<u8>, record: u32, text: &str, read: &PageRead) {
    // Normalizing may lengthen a text (NFKC expands some ligatures many times).
    if u32::try_from(text.len().max(read.page.normalized.len())).is_err() {
        return;
    }
    let page = &read.page;
    let put32 = |out: &mut Vec<u8>, v: usize| out.extend_from_slice(&(v as u32).to_le_bytes());
    out.extend_from_slice(&record.to_le_bytes());
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&xxh3_64(text.as_bytes()).to_le_bytes());
    put32(out, page.lines.len());
    put32(out, page.normalized.len());
    out.push(page.blank_separated as u8 | (read.masked.is_some() as u8) << 1);
    for (i, l) in page.lines.iter().enumerate() {
        for v in [
            l.span.start,
            l.span.end,
            l.span.next,
            l.words,
            l.letters,
            l.chars,
            l.indent,
            l.words_before,
            l.norm.0,
            l.norm.1,
        ] {
            put32(out, v);
        }
        out.extend_from_slice(&l.hash.to_le_bytes());
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
        ]
        .iter()
        .enumerate()
        .fold(0u8, |f, (b, &on)| f | (on as u8) << b);
        out.push(flags);
        for v in [label.map(|(k, _)| k), masked] {
            out.push(v.is_some() as u8);
            out.extend_from_slice(&v.unwrap_or(0).to_le_bytes());
        }
    }
    out.extend_from_slice(page.normalized.as_bytes());
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

/// Bytes of one line in the encoding of [`encode`].
const LINE_BYTES: usize = 10 * 4 + 8 + 1 + 2 * 9;
/// Bytes before the lines.
const HEAD_BYTES: usize = 4 + 8 + 8 + 4 + 4 + 1;

impl Pages {
    /// The page of record `record` (text `text`), if one was kept for it and the text
    /// is the one it was read from.
    pub fn take(&mut self, record: u32, text: &str) -> Option<PageRead> {
        loop {
            let head = self.bytes.get(self.pos..self.pos + HEAD_BYTES)?;
            let at = u32::from_le_bytes(head[0..4].try_into().ok()?);
            let len = u64::from_le_bytes(head[4..12].try_into().ok()?);
            let hash = u64::from_le_bytes(head[12..20].try_into().ok()?);
            let n = u32::from_le_bytes(head[20..24].try_into().ok()?) as usize;
            let norm = u32::from_le_bytes(head[24..28].try_into().ok()?) as usize;
            let flags = head[28];
            let size = HEAD_BYTES + n * LINE_BYTES + norm;
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
            return decode(
                self.bytes.get(start + HEAD_BYTES..start + size)?,
                n,
                norm,
                flags,
            );
        }
    }
}

fn decode(bytes: &[u8], n: usize, norm: usize, flags: u8) -> Option<PageRead> {
    let (lines_bytes, normalized) = bytes.split_at(n * LINE_BYTES);
    let normalized = simdutf8::basic::from_utf8(normalized).ok()?;
    debug_assert_eq!(normalized.len(), norm);
    let mut lines = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    let mut masked = Vec::with_capacity(n);
    for rec in lines_bytes.chunks_exact(LINE_BYTES) {
        let u =
            |i: usize| u32::from_le_bytes([rec[i], rec[i + 1], rec[i + 2], rec[i + 3]]) as usize;
        let u64_at = |i: usize| u64::from_le_bytes(rec[i..i + 8].try_into().unwrap_or([0; 8]));
        let f = rec[48];
        let bit = |b: u8| f & (1 << b) != 0;
        lines.push(Line {
            span: LineSpan {
                start: u(0),
                end: u(4),
                next: u(8),
            },
            words: u(12),
            letters: u(16),
            chars: u(20),
            indent: u(24),
            words_before: u(28),
            norm: (u(32), u(36)),
            hash: u64_at(40),
            sentence: bit(0),
            colon: bit(1),
            field: bit(2),
            blank_before: bit(3),
            blank_after: bit(4),
            in_flow: bit(5),
        });
        labels.push((rec[49] != 0).then(|| (u64_at(50), bit(6))));
        masked.push((rec[58] != 0).then(|| u64_at(59)));
    }
    Some(PageRead {
        page: Page {
            lines,
            normalized: normalized.to_string(),
            blank_separated: flags & 1 != 0,
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
        let page = Page::new(&n, text, &mut String::new());
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
        // Nothing was kept for record 3.
        assert!(pages.take(3, texts[3]).is_none());
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
