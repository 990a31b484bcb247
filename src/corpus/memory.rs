//! Memory: how are texts held in memory (the Python package's lists and Arrow arrays)
//! read like any input?

use super::{CHUNK_BYTES, Chunk, Format, GROUP_BYTES};

/// Texts held in memory, one document each (the Python package's lists and Arrow
/// arrays): copied once into one buffer, read like text files.
#[derive(Clone, Debug, Default)]
pub struct MemoryTexts {
    buf: Vec<u8>,
    ends: Vec<usize>,
    lens: Vec<usize>,
}

impl MemoryTexts {
    pub fn with_capacity(texts: usize, bytes: usize) -> MemoryTexts {
        MemoryTexts {
            buf: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(texts),
            lens: Vec::with_capacity(texts),
        }
    }

    pub fn push(&mut self, text: &str) {
        self.buf.extend_from_slice(text.as_bytes());
        self.ends.push(self.buf.len());
        self.lens.push(text.len());
    }

    /// Add texts given as one string and the byte length of each, in order. Refused
    /// (nothing added) unless the lengths add up and every text starts on a
    /// character boundary.
    pub fn push_concatenated(&mut self, text: &str, lens: &[usize]) -> Result<(), String> {
        let mut at = 0usize;
        for &n in lens {
            at = at.checked_add(n).ok_or("text lengths overflow")?;
            if !text.is_char_boundary(at) {
                return Err(format!(
                    "a text boundary at byte {at} is inside a character"
                ));
            }
        }
        if at != text.len() {
            return Err(format!("text lengths add up to {at}, not {}", text.len()));
        }
        let base = self.buf.len();
        self.buf.extend_from_slice(text.as_bytes());
        let mut end = base;
        for &n in lens {
            end += n;
            self.ends.push(end);
            self.lens.push(n);
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Bytes of text held.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Text `i`.
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        // Only `&str` goes in, cut at the same boundaries.
        std::str::from_utf8(&self.buf[start..self.ends[i]]).unwrap_or("")
    }
}

/// The texts of a memory corpus as groups of chunks of about [`CHUNK_BYTES`] (at least
/// one text each), about [`GROUP_BYTES`] per group.
pub(super) fn memory_groups<E>(
    m: &MemoryTexts,
    on_group: &mut impl FnMut(&[Chunk<'_>]) -> Result<(), E>,
) -> Result<(), E> {
    let mut chunks = Vec::new();
    let mut group_bytes = 0usize;
    let (mut first, mut start) = (0usize, 0usize);
    for (i, &end) in m.ends.iter().enumerate() {
        let last = i + 1 == m.ends.len();
        if end - start < CHUNK_BYTES && !last {
            continue;
        }
        chunks.push(Chunk {
            source: 0,
            format: Format::Text,
            first_line: first as u64 + 1,
            data: &m.buf[start..end],
            texts: &m.lens[first..=i],
            records: (i + 1 - first) as u64,
            counted: true,
        });
        group_bytes += end - start;
        (first, start) = (i + 1, end);
        if group_bytes >= GROUP_BYTES || last {
            on_group(&chunks)?;
            chunks.clear();
            group_bytes = 0;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{Corpus, InputError, ReadOptions, parse};

    #[test]
    fn memory_texts_are_read_in_order_one_document_each() {
        let big = "x".repeat(CHUNK_BYTES + 5);
        let texts = ["a\nb", "", big.as_str(), "last one"];
        let mut m = MemoryTexts::with_capacity(texts.len(), 0);
        for t in texts {
            m.push(t);
        }
        assert_eq!(m.len(), 4);
        assert_eq!(m.get(2), big);
        let corpus = Corpus::from_memory(m, ReadOptions::default());
        let mut seen: Vec<(u64, String)> = Vec::new();
        let mut chunks = 0;
        corpus
            .for_each_group(|group| -> Result<(), InputError> {
                chunks += group.len();
                for c in group {
                    for r in c.records() {
                        let doc = parse(&r, c.format, corpus.options()).expect("text");
                        seen.push((r.line, doc.text.into_owned()));
                    }
                }
                Ok(())
            })
            .expect("read");
        let want: Vec<(u64, String)> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| (i as u64 + 1, t.to_string()))
            .collect();
        assert_eq!(seen, want);
        // The big text closes a chunk of its own with the two before it.
        assert_eq!(chunks, 2);
        let empty = Corpus::from_memory(MemoryTexts::default(), ReadOptions::default());
        let mut n = 0;
        empty
            .for_each_group(|g| -> Result<(), InputError> {
                n += g.len();
                Ok(())
            })
            .expect("read");
        assert_eq!(n, 0);
    }
}
