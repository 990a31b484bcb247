//! Keys: which counted keys does each line of a page give (the line, its label, its
//! masked form, a marker and what follows it), and how are they counted per story?

use std::collections::HashMap;
use std::io;

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

use super::*;
use crate::lsh::DocId;
use crate::normalize::Normalizer;
use crate::spill::{Sorted, Sorter, SpillDir, SpillVec};
use page::{Page, label_of};

/// Hash of the normalized label of a `LABEL: value` line. Labels made of digits
/// (clock times), URLs (`https:`) or no letters are not labels.
pub(super) fn label_key(normalizer: &Normalizer, line: &str) -> Option<u64> {
    let (label, _) = label_of(line)?;
    let nl = normalizer.normalize(label);
    let ok = !nl.is_empty()
        && !nl.bytes().any(|b| b.is_ascii_digit())
        && nl.chars().any(char::is_alphabetic)
        && !matches!(nl.as_str(), "http" | "https" | "ftp" | "mailto");
    ok.then(|| xxh3_64(nl.as_bytes()))
}

/// Whether the value of a `LABEL: value` line is a field (an outlet, a date, a list
/// of tags) rather than prose: not too long, not a sentence, not a quote.
pub(super) fn field_value(line: &str) -> bool {
    let Some((_, value)) = label_of(line) else {
        return false;
    };
    value.split_whitespace().count() <= MAX_VALUE_WORDS
        && !page::ends_sentence(value)
        && !value.starts_with(['"', '«', '“', '\'', '‘', '„', '「'])
}

/// Whether each key occurs once among `keys`.
pub(super) fn once_each(keys: &[Option<u64>]) -> Vec<bool> {
    let mut sorted: Vec<u64> = keys.iter().flatten().copied().collect();
    sorted.sort_unstable();
    keys.iter()
        .map(|k| {
            k.is_some_and(|k| {
                let a = sorted.partition_point(|&x| x < k);
                sorted.get(a + 1) != Some(&k)
            })
        })
        .collect()
}

/// Labels of the lines of a page, and whether each label occurs once on it.
pub(super) fn page_labels(
    normalizer: &Normalizer,
    text: &str,
    page: &Page,
) -> Vec<Option<(u64, bool)>> {
    // A page's first line is its title or opening, never a field.
    let keys: Vec<Option<u64>> = page
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            // `field` says whether the line has a label at all (label_of, read once).
            (i > 0 && l.field)
                .then(|| label_key(normalizer, &text[l.span.start..l.span.end]))
                .flatten()
        })
        .collect();
    let once = once_each(&keys);
    keys.iter()
        .zip(once)
        .map(|(k, once)| k.map(|k| (k, once)))
        .collect()
}

/// Whether line `i` of a page stands alone as a line rule needs it to: a paragraph
/// of its own ([`Page::standalone`]), and not one of several fields of one label
/// (the `License:` lines of a copyright file's stanzas).
pub(super) fn line_alone(page: &Page, labels: &[Option<(u64, bool)>], i: usize) -> bool {
    page.standalone(i) && labels[i].is_none_or(|(_, once)| once)
}

/// Whether line `i` of a page is a field-like use of its label.
pub(super) fn field_label(text: &str, page: &Page, i: usize, once: bool) -> bool {
    let l = &page.lines[i];
    once && page.standalone(i) && field_value(&text[l.span.start..l.span.end])
}

/// The masked form of a normalized line, when the line is short and no sentence.
pub(super) fn masked_key(normalizer: &Normalizer, normalized: &str, l: &page::Line) -> Option<u64> {
    if l.words > MAX_MASKED_WORDS || l.sentence || l.in_flow {
        return None;
    }
    words::mask(normalizer.options(), normalized).map(|m| xxh3_64(m.as_bytes()))
}

/// The masked key of every line of a page that stands alone and is the only line of
/// its pattern on the page (a date line is printed once; the signature lines of a
/// changelog or the entries of a log repeat).
pub(super) fn page_masked(normalizer: &Normalizer, page: &Page) -> Vec<Option<u64>> {
    let keys: Vec<Option<u64>> = page
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 || !page.standalone(i) || l.words > MAX_MASKED_WORDS || l.sentence {
                return None;
            }
            masked_key(normalizer, page.normalized(i), l)
        })
        .collect();
    let once = once_each(&keys);
    keys.iter()
        .zip(once)
        .map(|(k, once)| k.filter(|_| once))
        .collect()
}

/// Whether a normalized line lists related headlines: two or more relative times,
/// each after a headline-sized run of words, and no sentence.
pub(super) fn related_line(normalizer: &Normalizer, normalized: &str, l: &page::Line) -> bool {
    if l.sentence
        || l.words > MAX_RELATED_WORDS
        || l.words < 6
        || !words::may_hold_relative(normalizer.options(), normalized)
    {
        return false;
    }
    let ws: Vec<&str> = normalized.split(' ').collect();
    let slots = words::slots(normalizer.options(), &ws);
    if words::relative_count(&slots) < 2 {
        return false;
    }
    // Words between relative times: each run a headline (at most 25 words).
    let mut run = 0;
    let mut runs = Vec::new();
    for s in &slots {
        match s {
            words::Slot::Relative { .. } => {
                if run > 0 {
                    runs.push(run);
                }
                run = 0;
            }
            _ => run += 1,
        }
    }
    if run > 0 {
        runs.push(run);
    }
    runs.iter().filter(|&&r| r >= 2).count() >= 2 && runs.iter().all(|&r| r <= 25)
}

/// Kinds of counted keys. Rules are made of the first four (and [`KIND_RELATED`]);
/// the others are evidence.
pub(super) const KIND_LINE: u8 = 0;
/// A label used as a field ([`field_label`]).
pub(super) const KIND_LABEL: u8 = 1;
pub(super) const KIND_MASKED: u8 = 2;
/// A line where a marker could cut ([`Page::marker_candidate`]).
pub(super) const KIND_MARKER: u8 = 3;
/// A label, however used: the denominator of the field share.
pub(super) const KIND_LABEL_ANYWHERE: u8 = 4;
/// A line that could be boilerplate: it stands alone ([`line_alone`]), has three
/// letters or more, is not the page's first line (a title or opening), and is not
/// the headline or a paragraph of what may be an appended article (after
/// [`own_end`]), so the title and paragraphs of a story appended under other pages
/// never count for it.
pub(super) const KIND_LINE_ALONE: u8 = 5;
/// A marker candidate followed by a headline and paragraphs.
pub(super) const KIND_MARKER_ARTICLE: u8 = 7;
/// A marker candidate and the line after it: high 32 bits of the marker's hash, low
/// 32 bits of the next line's. Counted from two stories on ([`floor`]).
pub(super) const KIND_FOLLOW: u8 = 8;
/// A line listing related headlines (hash 0).
pub(super) const KIND_RELATED: u8 = 9;
/// A line among the first 4 or last 6 of its page.
pub(super) const KIND_LINE_EDGE: u8 = 10;
/// A marker candidate and its whole tail (every line after it): high 32 bits of the
/// marker's hash, low 32 bits of the tail's. The same appended article under
/// unrelated pages recurs as a unit; a heading followed by the same license text,
/// then by the page's own lines, does not. Counted from two stories on ([`floor`]).
pub(super) const KIND_TAIL_UNIT: u8 = 12;

pub(super) const EDGE_HEAD: usize = 4;
pub(super) const EDGE_TAIL: usize = 6;

pub(super) fn follow_key(marker: u64, next: u64) -> u64 {
    (marker & 0xffff_ffff_0000_0000) | (next & 0xffff_ffff)
}

/// The story count from which a key of `kind` is kept, when rules need `required`
/// stories. Tails that follow a marker count from two stories on: an article
/// appended under a few unrelated pages is the proof that the marker's tail is
/// foreign. Every path that counts keys (a run, a state, the stage commands and the
/// Spark driver) filters with this.
pub fn floor(kind: u8, required: u64) -> u64 {
    if TAIL_KINDS.contains(&kind) {
        2.min(required)
    } else {
        required
    }
}

/// The kinds whose keys count from two stories on (for drivers that filter counts
/// themselves, as [`floor`] does).
pub const TAIL_KINDS: [u8; 2] = [KIND_FOLLOW, KIND_TAIL_UNIT];

/// Where a page's own text ends: the index of the first line that could introduce an
/// appended article (a marker candidate followed by a headline and a paragraph), or
/// the number of lines. Copies of one story are found on the text before it, so that
/// pages of one site which carry the same appended article are not one story.
pub(super) fn own_end(page: &Page) -> usize {
    (0..page.lines.len())
        .find(|&i| page.marker_candidate(i) && page.article_after(i))
        .unwrap_or(page.lines.len())
}

/// The counted keys of one document's lines, as `(kind, hash)` pairs appended to `out`.
/// Returns the byte offset where the page's own text ends ([`own_end`]), found on the
/// way.
pub fn line_keys(normalizer: &Normalizer, text: &str, out: &mut Vec<(u8, u64)>) -> usize {
    line_keys_joined(normalizer, text, out, None).0
}

/// [`line_keys`], and the normalized own text of the page (the lines before
/// [`own_end`], [`Page::join_normalized`]) into `joined` when given. Also returns the
/// page as read, with its labels and masked keys (what stripping reads of it).
pub fn line_keys_joined(
    normalizer: &Normalizer,
    text: &str,
    out: &mut Vec<(u8, u64)>,
    joined: Option<&mut String>,
) -> (usize, PageRead) {
    let page = Page::new(normalizer, text);
    let n = page.lines.len();
    let labels = page_labels(normalizer, text, &page);
    let masked = page_masked(normalizer, &page);
    let own = own_end(&page);
    // Hash of every tail: the lines from `i` to the page's end.
    let mut tails = vec![0u64; n + 1];
    for i in (0..n).rev() {
        let pair = [page.lines[i].hash.to_le_bytes(), tails[i + 1].to_le_bytes()];
        tails[i] = xxh3_64(pair.as_flattened());
    }
    for (i, l) in page.lines.iter().enumerate() {
        out.push((KIND_LINE, l.hash));
        // A page's first line is its title or opening; after a line that could
        // introduce an appended article, the headline right after it and paragraphs
        // may be another story's. Neither counts as evidence for a rule.
        let appended =
            i > own && (i == own + 1 || (l.words >= page::PARAGRAPH_WORDS && l.sentence));
        let countable = i > 0 && !appended;
        if countable && line_alone(&page, &labels, i) && l.letters >= page::LETTERS_COUNTED {
            out.push((KIND_LINE_ALONE, l.hash));
        }
        if i < EDGE_HEAD || i + EDGE_TAIL >= n {
            out.push((KIND_LINE_EDGE, l.hash));
        }
        if page.marker_candidate(i) {
            out.push((KIND_MARKER, l.hash));
            if page.article_after(i) {
                out.push((KIND_MARKER_ARTICLE, l.hash));
            }
            out.push((KIND_FOLLOW, follow_key(l.hash, page.lines[i + 1].hash)));
            out.push((KIND_TAIL_UNIT, follow_key(l.hash, tails[i + 1])));
        }
        if let Some((k, once)) = labels[i] {
            out.push((KIND_LABEL_ANYWHERE, k));
            if countable && field_label(text, &page, i, once) {
                out.push((KIND_LABEL, k));
            }
        }
        if let Some(m) = masked[i].filter(|_| countable) {
            out.push((KIND_MASKED, m));
        }
        if countable && !l.in_flow && related_line(normalizer, page.normalized(i), l) {
            out.push((KIND_RELATED, 0));
        }
    }
    if let Some(joined) = joined {
        page.join_normalized(|i, _| i < own, joined);
    }
    let end = page.lines.get(own).map_or(text.len(), |l| l.span.start);
    let read = PageRead {
        page,
        labels,
        masked: Some(masked),
    };
    (end, read)
}

/// A counted key of one document (or story): kind, hash and document packed so that
/// the numeric order is (kind, hash, document). 16 bytes, as it is held and spilled.
pub fn pack_key(kind: u8, hash: u64, doc: DocId) -> u128 {
    ((kind as u128) << 96) | ((hash as u128) << 32) | doc as u128
}

/// The kind, hash and document of a [`pack_key`]ed key.
pub fn unpack_key(k: u128) -> (u8, u64, DocId) {
    ((k >> 96) as u8, (k >> 32) as u64, k as DocId)
}

/// Distinct (kind, hash, story) keys of a corpus, sorted: in memory, or as sorted
/// runs in a temporary file under `--mem-limit`.
pub struct Counts {
    keys: Sorted<u128>,
    /// Stories whose keys do not count (sorted).
    excluded: Vec<DocId>,
}

impl Counts {
    /// Counts from keys gathered per document ([`pack_key`]), once documents are
    /// grouped into stories: `story[doc]` names each document's story. At most
    /// `ram_limit` bytes of keys are sorted in memory at once; the rest goes to sorted
    /// runs in `dir`.
    pub fn from_doc_keys(
        keys: SpillVec<u128>,
        story: &[DocId],
        ram_limit: usize,
        dir: &SpillDir,
    ) -> io::Result<Counts> {
        let to_story = |k: u128| {
            let (kind, hash, d) = unpack_key(k);
            pack_key(kind, hash, story.get(d as usize).copied().unwrap_or(d))
        };
        let sorted = if ram_limit == usize::MAX && !keys.spilled() {
            // Without a limit the keys are mapped and sorted where they are.
            let mut v = keys.into_ram();
            v.par_iter_mut().for_each(|k| *k = to_story(*k));
            v.par_sort_unstable();
            v.dedup();
            v.shrink_to_fit();
            Sorted::Ram(v)
        } else {
            let mut sorter = Sorter::new(ram_limit, dir.named("line counts"));
            for &k in keys.iter() {
                sorter.push(to_story(k))?;
            }
            drop(keys);
            sorter.finish()?
        };
        Ok(Counts {
            keys: sorted,
            excluded: Vec::new(),
        })
    }

    /// The counts without the stories `excluded` (sorted).
    pub fn without_stories(mut self, excluded: &[DocId]) -> Counts {
        self.excluded = excluded.to_vec();
        self
    }

    /// The stories of each line whose hash is in `hashes`, in order: every story,
    /// excluded or not (a page of any story may hold a line's first example).
    pub fn line_stories(
        &self,
        hashes: &ahash::AHashSet<u64>,
    ) -> io::Result<ahash::AHashMap<u64, Vec<DocId>>> {
        let mut out: ahash::AHashMap<u64, Vec<DocId>> = ahash::AHashMap::new();
        self.keys.for_each(|&packed| {
            let (kind, hash, story) = unpack_key(packed);
            if kind == KIND_LINE && hashes.contains(&hash) {
                out.entry(hash).or_default().push(story);
            }
        })?;
        Ok(out)
    }

    /// Keys at or over their [`floor`].
    pub(super) fn story_counts(&self, required: u64) -> io::Result<HashMap<(u8, u64), u64>> {
        let mut counts = HashMap::new();
        self.for_each_key(|(k, h), n| {
            if n >= floor(k, required) {
                counts.insert((k, h), n);
            }
        })?;
        Ok(counts)
    }

    /// Each key with its number of stories (not excluded), in key order.
    pub fn for_each_key(&self, mut f: impl FnMut((u8, u64), u64)) -> io::Result<()> {
        let mut current: Option<((u8, u64), u64)> = None;
        self.keys.for_each(|&packed| {
            let (kind, hash, story) = unpack_key(packed);
            if !self.excluded.is_empty() && self.excluded.binary_search(&story).is_ok() {
                return;
            }
            match &mut current {
                Some((key, n)) if *key == (kind, hash) => *n += 1,
                _ => {
                    if let Some((key, n)) = current.take() {
                        f(key, n);
                    }
                    current = Some(((kind, hash), 1));
                }
            }
        })?;
        if let Some((key, n)) = current {
            f(key, n);
        }
        Ok(())
    }
}
