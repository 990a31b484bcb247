//! Chunks: an input cut into line-aligned pieces of about [`CHUNK_BYTES`], each with
//! its first line number and record count, counted once per input and run: by the
//! first read as it reads them, or by a sweep before it.

use rayon::prelude::*;

use super::{CHUNK_BYTES, Chunk, Corpus, Format, Record, is_blank};

/// Cut `data` into line-aligned chunks of about [`CHUNK_BYTES`].
fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < data.len() {
        let target = start + CHUNK_BYTES;
        let end = if target >= data.len() {
            data.len()
        } else {
            memchr::memchr(b'\n', &data[target..]).map_or(data.len(), |i| target + i + 1)
        };
        out.push(&data[start..end]);
        start = end;
    }
    out
}

/// Newline and record counts of one chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChunkCount {
    bytes: usize,
    newlines: u64,
    records: u64,
}

/// Newlines and records (non-blank lines, as [`Chunk::records`] skips blank ones) of
/// `data`, in one sweep.
fn count_lines(data: &[u8]) -> ChunkCount {
    let (mut newlines, mut records, mut start) = (0u64, 0u64, 0usize);
    for end in memchr::memchr_iter(b'\n', data) {
        newlines += 1;
        records += !is_blank(&data[start..end]) as u64;
        start = end + 1;
    }
    records += !is_blank(&data[start..]) as u64;
    ChunkCount {
        bytes: data.len(),
        newlines,
        records,
    }
}

impl ChunkCount {
    /// Newlines in the chunk.
    pub(crate) fn newlines(&self) -> u64 {
        self.newlines
    }
}

impl<'a> Chunk<'a> {
    /// `data` of input `source` as the first read of an input has it: lines numbered
    /// from 1 within the chunk, records not yet counted ([`Chunk::counted`] false).
    pub fn uncounted(source: usize, format: Format, data: &'a [u8]) -> Chunk<'a> {
        Chunk {
            source,
            format,
            first_line: 1,
            data,
            texts: &[],
            records: 0,
            counted: false,
        }
    }

    /// The counts of a chunk read without them ([`Chunk::counted`] false), from what
    /// the read found: the number of records and the last one (its line is the
    /// chunk's own). Only the bytes after the last record are looked at again.
    pub(crate) fn count_read(&self, records: u64, last: Option<&Record<'a>>) -> ChunkCount {
        let newlines = |b: &[u8]| memchr::memchr_iter(b'\n', b).count() as u64;
        let newlines = match last {
            None => newlines(self.data),
            Some(r) => {
                debug_assert!(
                    self.data.as_ptr_range().contains(&r.bytes.as_ptr()) || r.bytes.is_empty(),
                    "the record is one of this chunk's"
                );
                let end = r.bytes.as_ptr() as usize - self.data.as_ptr() as usize + r.bytes.len();
                r.line - self.first_line + newlines(&self.data[end..])
            }
        };
        ChunkCount {
            bytes: self.data.len(),
            newlines,
            records,
        }
    }
}

impl Corpus {
    /// Keep the counts of input `source`'s chunks, found by a read of uncounted
    /// chunks ([`Chunk::count_read`]), in order, for the passes after it.
    pub(crate) fn keep_counts(&self, source: usize, counts: Vec<ChunkCount>) {
        if let Some(known) = self.chunk_counts.get(source) {
            let _ = known.set(counts);
        }
    }
}

/// `data` cut into line-aligned chunks, each with its first line number and record
/// count. `known` holds the counts of an earlier read of the same data (a mapped
/// input is read once per pass): they are used when the chunks still have the same
/// lengths, and otherwise counted, and offered to `known` when it is empty. With
/// `defer`, counts not known are not counted here: the chunks come uncounted
/// ([`Chunk::counted`]), for a reader that counts them as it reads them.
pub(super) fn line_chunks<'a>(
    source: usize,
    format: Format,
    data: &'a [u8],
    first_line: u64,
    known: Option<&std::sync::OnceLock<Vec<ChunkCount>>>,
    defer: bool,
) -> Vec<Chunk<'a>> {
    if format == Format::Text {
        return vec![Chunk {
            source,
            format,
            first_line: 1,
            data,
            texts: &[],
            records: 1,
            counted: true,
        }];
    }
    let pieces = split_lines(data);
    let cached = known.and_then(|k| k.get()).filter(|counts| {
        counts.len() == pieces.len() && counts.iter().zip(&pieces).all(|(c, p)| c.bytes == p.len())
    });
    let counts: Vec<ChunkCount> = match cached {
        Some(c) => c.clone(),
        None if defer => {
            return (pieces.into_iter())
                .map(|data| Chunk::uncounted(source, format, data))
                .collect();
        }
        None => {
            let counts: Vec<ChunkCount> = pieces.par_iter().map(|p| count_lines(p)).collect();
            if let Some(k) = known {
                let _ = k.set(counts.clone());
            }
            counts
        }
    };
    let mut line = first_line;
    pieces
        .into_iter()
        .zip(counts)
        .map(|(p, n)| {
            let c = Chunk {
                source,
                format,
                first_line: line,
                data: p,
                texts: &[],
                records: n.records,
                counted: true,
            };
            line += n.newlines;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_line_aligned() {
        let line = b"0123456789abcdef\n".repeat(200_000);
        let pieces = split_lines(&line);
        assert!(pieces.len() > 1);
        assert!(pieces.iter().all(|p| p.ends_with(b"\n")));
        assert_eq!(pieces.iter().map(|p| p.len()).sum::<usize>(), line.len());
    }

    /// Records and first lines of every chunk, as the chunks' own reading finds them.
    fn read_back(chunks: &[Chunk<'_>]) -> Vec<(u64, Vec<u64>)> {
        (chunks.iter())
            .map(|c| (c.records, c.records().map(|r| r.line).collect()))
            .collect()
    }

    #[test]
    fn counts_found_once_serve_later_reads_of_the_same_bytes_only() {
        let mut data = b"{\"text\":\"a\"}\r\n\n \t\n".repeat(80_000);
        data.extend_from_slice(b"{\"text\":\"last\"}");
        let known = std::sync::OnceLock::new();
        let first = line_chunks(0, Format::Jsonl, &data, 1, Some(&known), false);
        assert!(first.len() > 1 && known.get().is_some());
        let expected = read_back(&first);
        for (n, lines) in &expected {
            assert_eq!(*n as usize, lines.len());
        }
        assert_eq!(expected.iter().map(|e| e.0).sum::<u64>(), 80_001);
        // A reader that counts as it reads gets chunks of counts not yet known
        // uncounted, and counted ones once they are.
        let unknown = std::sync::OnceLock::new();
        let deferred = line_chunks(0, Format::Jsonl, &data, 1, Some(&unknown), true);
        assert_eq!(deferred.len(), first.len());
        assert!(deferred.iter().all(|c| !c.counted && c.first_line == 1));
        assert!(unknown.get().is_none());
        let counted = line_chunks(0, Format::Jsonl, &data, 1, Some(&known), true);
        assert!(counted.iter().all(|c| c.counted));
        // A second read takes the counts kept by the first.
        assert_eq!(
            read_back(&line_chunks(
                0,
                Format::Jsonl,
                &data,
                1,
                Some(&known),
                false
            )),
            expected
        );
        // Other bytes (chunks of other lengths) are counted again.
        let shorter = &data[..data.len() - 100];
        assert_eq!(
            read_back(&line_chunks(
                0,
                Format::Jsonl,
                shorter,
                1,
                Some(&known),
                false
            )),
            read_back(&line_chunks(0, Format::Jsonl, shorter, 1, None, false))
        );
    }

    proptest::proptest! {
        #[test]
        fn counted_records_are_the_records_read(
            lines in proptest::collection::vec("[ a\\r\\t]{0,6}", 0..40),
            end in proptest::bool::ANY,
        ) {
            let mut text = lines.join("\n");
            if end {
                text.push('\n');
            }
            let c = count_lines(text.as_bytes());
            let chunk = Chunk {
                source: 0,
                format: Format::Jsonl,
                first_line: 1,
                data: text.as_bytes(),
                texts: &[],
                records: c.records,
                counted: true,
            };
            proptest::prop_assert_eq!(c.records, chunk.records().count() as u64);
            proptest::prop_assert_eq!(c.newlines, text.matches('\n').count() as u64);
            // A chunk read uncounted comes to the same counts, wherever it starts.
            for first_line in [1, 7] {
                let chunk = Chunk { first_line, records: 0, counted: false, ..chunk };
                let records = chunk.records().count() as u64;
                let last = chunk.records().last();
                proptest::prop_assert_eq!(chunk.count_read(records, last.as_ref()), c);
            }
        }
    }
}
