//! Boilerplate: which lines recur across unrelated documents, and how are they
//! removed?
//!
//! Learning counts, for every line, the number of distinct *stories* it appears in:
//! copies of one syndicated story (found as near-duplicate components on the raw text)
//! count once, so a paragraph republished by six outlets stays content while a line
//! printed under six unrelated articles is boilerplate. Three kinds of rules come out:
//!
//! * **lines** that recur exactly after normalization ("تابع أحدث الأخبار عبر تطبيق");
//! * **templates**: a recurring label before a colon whose value changes
//!   ("المصدر: <outlet>", "تاريخ النشر: <date>", "Tags: …"), and short lines that are
//!   the same once digits are masked ("Updated 12 March 2024 10:31 GMT");
//! * **markers**: a short line ending in a colon that is followed by more text in
//!   most pages ("إقرأ أيضاً:", "Read also:"); it and everything after it are removed.
//!
//! Rules live in a versioned, human-editable JSON file.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

use crate::lsh::DocId;
use crate::normalize::{NormalizeOptions, Normalizer};

/// `format` field of a rules file.
pub const RULES_FORMAT: &str = "dupstrip-rules";
/// Version of the rules file layout this build reads and writes.
pub const RULES_VERSION: u32 = 1;

/// Longest label (in characters) before a colon for a template.
const MAX_LABEL_CHARS: usize = 40;
/// Labels of at most this many words.
const MAX_LABEL_WORDS: usize = 3;
/// Template values of at most this many words (a long value is prose, not a field).
const MAX_VALUE_WORDS: usize = 40;
/// Digit-masked templates apply to lines of at most this many words.
const MAX_MASKED_WORDS: usize = 12;
/// Markers are lines of at most this many words.
const MAX_MARKER_WORDS: usize = 4;
/// Share of a marker's occurrences that must be followed by more lines.
const MARKER_FOLLOWED_SHARE: f64 = 0.8;
/// Examples kept per rule.
const EXAMPLES: usize = 3;

/// When a recurring line counts as boilerplate.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LearnOptions {
    /// A line must occur in at least this many distinct stories.
    pub min_docs: u64,
    /// …and in at least this share of all stories (0 switches the share off).
    pub min_fraction: f64,
}

impl Default for LearnOptions {
    fn default() -> Self {
        LearnOptions {
            min_docs: 5,
            min_fraction: 0.0,
        }
    }
}

impl LearnOptions {
    /// The story count a line needs, for a corpus of `stories` stories.
    pub fn required(&self, stories: u64) -> u64 {
        self.min_docs
            .max((self.min_fraction * stories as f64).ceil() as u64)
            .max(2)
    }
}

/// A line removed wherever it occurs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LineRule {
    /// The line as it appeared (matching is on its normalized form).
    pub line: String,
    /// Distinct stories it was seen in when learned.
    #[serde(default)]
    pub stories: u64,
    #[serde(default)]
    pub examples: Vec<String>,
}

/// What a template matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateKind {
    /// `LABEL: value`, any value.
    Label,
    /// The line with every word that holds a digit replaced by `#`.
    Masked,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TemplateRule {
    pub kind: TemplateKind,
    /// For `label`: the text before the colon. For `masked`: the normalized line with
    /// `#` for every word holding a digit.
    pub pattern: String,
    #[serde(default)]
    pub stories: u64,
    #[serde(default)]
    pub examples: Vec<String>,
}

/// A line that introduces appended content: it and everything after it go.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MarkerRule {
    pub line: String,
    #[serde(default)]
    pub stories: u64,
}

/// Figures of the corpus a rules file was learned from.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LearnedFrom {
    pub documents: u64,
    pub stories: u64,
    pub required_stories: u64,
}

/// A rules file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rules {
    pub format: String,
    pub version: u32,
    /// How lines are normalized before they are compared.
    #[serde(default)]
    pub normalize: NormalizeOptions,
    #[serde(default)]
    pub learned_from: Option<LearnedFrom>,
    #[serde(default)]
    pub lines: Vec<LineRule>,
    #[serde(default)]
    pub templates: Vec<TemplateRule>,
    #[serde(default)]
    pub markers: Vec<MarkerRule>,
}

/// Why a rules file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{path}: not a rules file: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: \"format\" is {found:?}, not \"{RULES_FORMAT}\"")]
    Format { path: String, found: String },
    #[error(
        "{path}: rules file version {found}, this dupstrip reads version {RULES_VERSION}\nhint: relearn it with `dupstrip boilerplate learn`, or use the dupstrip that wrote it"
    )]
    Version { path: String, found: u32 },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Rules {
    pub fn empty() -> Rules {
        Rules {
            format: RULES_FORMAT.into(),
            version: RULES_VERSION,
            normalize: NormalizeOptions::default(),
            learned_from: None,
            lines: Vec::new(),
            templates: Vec::new(),
            markers: Vec::new(),
        }
    }

    /// Read and check a rules file.
    pub fn load(path: &std::path::Path) -> Result<Rules, RulesError> {
        let name = path.display().to_string();
        let data = std::fs::read(path).map_err(|source| RulesError::Io {
            path: name.clone(),
            source,
        })?;
        Rules::parse(&data, &name)
    }

    pub fn parse(data: &[u8], name: &str) -> Result<Rules, RulesError> {
        // The format and version are checked before the rest, so a future layout is
        // refused with the right message rather than a field error.
        #[derive(serde::Deserialize)]
        struct Head {
            format: Option<String>,
            version: Option<u32>,
        }
        let head: Head = serde_json::from_slice(data).map_err(|source| RulesError::Json {
            path: name.into(),
            source,
        })?;
        let format = head.format.unwrap_or_default();
        if format != RULES_FORMAT {
            return Err(RulesError::Format {
                path: name.into(),
                found: format,
            });
        }
        let version = head.version.unwrap_or(0);
        if version != RULES_VERSION {
            return Err(RulesError::Version {
                path: name.into(),
                found: version,
            });
        }
        serde_json::from_slice(data).map_err(|source| RulesError::Json {
            path: name.into(),
            source,
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// A line of a text with its byte range (terminator excluded) and the range to remove
/// with it (terminator included).
#[derive(Clone, Copy, Debug)]
struct LineSpan {
    start: usize,
    end: usize,
    next: usize,
}

fn lines(text: &str) -> impl Iterator<Item = LineSpan> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos > text.len() || (pos == text.len() && pos > 0) {
            return None;
        }
        let rest = &text[pos..];
        let (end, next) = match rest.find('\n') {
            Some(i) => (pos + i, pos + i + 1),
            None => (text.len(), text.len() + 1),
        };
        let mut e = end;
        if e > pos && text.as_bytes()[e - 1] == b'\r' {
            e -= 1;
        }
        let span = LineSpan {
            start: pos,
            end: e,
            next: next.min(text.len()),
        };
        pos = next;
        Some(span)
    })
}

/// The label of a `LABEL: value` line, if it has one: text before the first colon,
/// short, with a non-empty value after it.
fn label_of(line: &str) -> Option<(&str, &str)> {
    let (i, c) = line
        .char_indices()
        .take(MAX_LABEL_CHARS + 1)
        .find(|&(_, c)| c == ':' || c == '：')?;
    let label = line[..i].trim();
    let value = line[i + c.len_utf8()..].trim();
    if label.is_empty() || value.is_empty() || label.split_whitespace().count() > MAX_LABEL_WORDS {
        return None;
    }
    Some((label, value))
}

/// Templates apply only near the edges of a page, where outlets put their date,
/// source and tag lines: among the first [`EDGE_HEAD`] or last [`EDGE_TAIL`] non-empty
/// lines (before any marker). A quote such as "He added: …" inside the article body
/// is never taken for a template.
const EDGE_HEAD: usize = 4;
const EDGE_TAIL: usize = 6;

fn is_edge(i: usize, n: usize) -> bool {
    i < EDGE_HEAD || i + EDGE_TAIL >= n
}

/// Hash of the normalized label of a `LABEL: value` line whose value is short enough
/// to be a field. Labels made of digits (clock times), URLs (`https:`) or no letters
/// are not labels.
fn label_key(normalizer: &Normalizer, line: &str) -> Option<u64> {
    let (label, value) = label_of(line)?;
    if value.split_whitespace().count() > MAX_VALUE_WORDS {
        return None;
    }
    let nl = normalizer.normalize(label);
    let ok = !nl.is_empty()
        && !nl.bytes().any(|b| b.is_ascii_digit())
        && nl.chars().any(char::is_alphabetic)
        && !matches!(nl.as_str(), "http" | "https" | "ftp" | "mailto");
    ok.then(|| xxh3_64(nl.as_bytes()))
}

fn mask_digits(normalized: &str) -> Option<String> {
    let words: Vec<&str> = normalized.split(' ').collect();
    if words.len() > MAX_MASKED_WORDS {
        return None;
    }
    let mut any = false;
    let masked: Vec<&str> = words
        .iter()
        .map(|w| {
            if w.bytes().any(|b| b.is_ascii_digit()) {
                any = true;
                "#"
            } else {
                w
            }
        })
        .collect();
    // A pattern of only masks would match any number-only line.
    (any && masked.iter().any(|w| *w != "#")).then(|| masked.join(" "))
}

fn ends_with_colon(line: &str) -> bool {
    let t = line.trim_end();
    t.ends_with(':') || t.ends_with('：')
}

/// Compiled rules: hashes of normalized lines, labels and patterns.
pub struct Stripper {
    normalizer: Normalizer,
    lines: HashSet<u64>,
    labels: HashSet<u64>,
    masked: HashSet<u64>,
    markers: HashSet<u64>,
    /// The rules it was compiled from (for reports).
    pub rules: Rules,
}

/// What stripping one text removed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stripped {
    /// Removed byte ranges of the text, in order, not overlapping.
    pub ranges: Vec<(usize, usize)>,
    pub lines_removed: u64,
}

impl Stripped {
    pub fn bytes_removed(&self) -> u64 {
        self.ranges.iter().map(|r| (r.1 - r.0) as u64).sum()
    }

    /// The text without the removed ranges, trailing whitespace trimmed.
    pub fn apply<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        if self.ranges.is_empty() {
            return std::borrow::Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut pos = 0;
        for &(a, b) in &self.ranges {
            out.push_str(&text[pos..a]);
            pos = b;
        }
        out.push_str(&text[pos..]);
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        std::borrow::Cow::Owned(out)
    }
}

impl Stripper {
    pub fn new(rules: Rules) -> Stripper {
        let normalizer = Normalizer::new(rules.normalize);
        let h = |s: &str| xxh3_64(normalizer.normalize(s).as_bytes());
        let mut masked = HashSet::new();
        let mut labels = HashSet::new();
        for t in &rules.templates {
            match t.kind {
                TemplateKind::Label => labels.insert(h(&t.pattern)),
                // Each word but `#` is normalized, so a hand-written pattern matches
                // like a learned one.
                TemplateKind::Masked => {
                    let words: Vec<String> = t
                        .pattern
                        .split_whitespace()
                        .map(|w| {
                            if w == "#" {
                                w.to_string()
                            } else {
                                normalizer.normalize(w)
                            }
                        })
                        .collect();
                    masked.insert(xxh3_64(words.join(" ").as_bytes()))
                }
            };
        }
        Stripper {
            lines: rules.lines.iter().map(|r| h(&r.line)).collect(),
            markers: rules.markers.iter().map(|r| h(&r.line)).collect(),
            labels,
            masked,
            normalizer,
            rules,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
            && self.labels.is_empty()
            && self.masked.is_empty()
            && self.markers.is_empty()
    }

    /// Find the boilerplate in `text`. `buf` is scratch space.
    pub fn strip(&self, text: &str, buf: &mut String) -> Stripped {
        let mut out = Stripped::default();
        if self.is_empty() {
            return out;
        }
        // Normalize every line once; find the first marker (a line ending in a colon
        // whose normalized form is a marker rule).
        let mut info: Vec<(LineSpan, u64)> = Vec::new();
        let mut marker = None;
        for l in lines(text) {
            let line = &text[l.start..l.end];
            self.normalizer.normalize_into(line, buf);
            if buf.is_empty() {
                continue;
            }
            let hash = xxh3_64(buf.as_bytes());
            if self.markers.contains(&hash) && ends_with_colon(line) {
                marker = Some(l);
                break;
            }
            info.push((l, hash));
        }
        let n = info.len();
        for (i, &(l, hash)) in info.iter().enumerate() {
            let line = &text[l.start..l.end];
            let edge = is_edge(i, n);
            let hit = self.lines.contains(&hash)
                || (edge
                    && !self.labels.is_empty()
                    && label_key(&self.normalizer, line).is_some_and(|k| self.labels.contains(&k)))
                || (edge && !self.masked.is_empty() && {
                    self.normalizer.normalize_into(line, buf);
                    mask_digits(buf).is_some_and(|m| self.masked.contains(&xxh3_64(m.as_bytes())))
                });
            if hit {
                out.ranges.push((l.start, l.next));
                out.lines_removed += 1;
            }
        }
        if let Some(m) = marker {
            out.ranges.push((m.start, text.len()));
            out.lines_removed += 1 + text[m.next..]
                .lines()
                .filter(|l| !l.trim().is_empty())
                .count() as u64;
        }
        // Merge adjacent ranges.
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(out.ranges.len());
        for r in out.ranges.drain(..) {
            match merged.last_mut() {
                Some(last) if last.1 >= r.0 => last.1 = last.1.max(r.1),
                _ => merged.push(r),
            }
        }
        out.ranges = merged;
        out
    }
}

/// Kinds of counted keys.
const KIND_LINE: u8 = 0;
const KIND_LABEL: u8 = 1;
const KIND_MASKED: u8 = 2;
const KIND_MARKER: u8 = 3;
/// A label anywhere on the page (edge or not): the denominator of the edge share.
const KIND_LABEL_ANYWHERE: u8 = 4;
/// A label must sit at a page edge in at least this share of the stories it occurs
/// in. Outlet fields ("Source:", "Tags:") always do; a quote ("He added: …") sits
/// wherever the article puts it.
const LABEL_EDGE_SHARE: f64 = 0.9;

/// The counted keys of one document's lines, as `(kind, hash)` pairs appended to `out`.
pub fn line_keys(normalizer: &Normalizer, text: &str, buf: &mut String, out: &mut Vec<(u8, u64)>) {
    // Non-empty lines with their normalized hashes.
    let mut info: Vec<(LineSpan, u64, usize)> = Vec::new();
    for l in lines(text) {
        normalizer.normalize_into(&text[l.start..l.end], buf);
        if !buf.is_empty() {
            info.push((l, xxh3_64(buf.as_bytes()), buf.split(' ').count()));
        }
    }
    // The first marker candidate: a short line ending in a colon with at least two
    // lines after it. What follows it is probably another document and is not
    // counted, so an appended article never turns into line rules.
    let marker = info.iter().enumerate().position(|(i, &(l, _, words))| {
        words <= MAX_MARKER_WORDS && ends_with_colon(&text[l.start..l.end]) && info.len() - i > 2
    });
    if let Some(m) = marker {
        out.push((KIND_LINE, info[m].1));
        out.push((KIND_MARKER, info[m].1));
    }
    let body = &info[..marker.unwrap_or(info.len())];
    let n = body.len();
    for (i, &(l, hash, _)) in body.iter().enumerate() {
        let line = &text[l.start..l.end];
        out.push((KIND_LINE, hash));
        let label = label_key(normalizer, line);
        if let Some(k) = label {
            out.push((KIND_LABEL_ANYWHERE, k));
        }
        if !is_edge(i, n) {
            continue;
        }
        if let Some(k) = label {
            out.push((KIND_LABEL, k));
        }
        normalizer.normalize_into(line, buf);
        if let Some(m) = mask_digits(buf) {
            out.push((KIND_MASKED, xxh3_64(m.as_bytes())));
        }
    }
}

/// Distinct (kind, hash, story) keys of a corpus.
pub struct Counts {
    keys: Vec<(u8, u64, DocId)>,
}

impl Counts {
    /// Counts from keys gathered per document (`(kind, hash, doc)`), once documents are
    /// grouped into stories: `story[doc]` names each document's story.
    pub fn from_doc_keys(mut keys: Vec<(u8, u64, DocId)>, story: &[DocId]) -> Counts {
        keys.par_iter_mut().for_each(|k| {
            k.2 = story.get(k.2 as usize).copied().unwrap_or(k.2);
        });
        keys.par_sort_unstable();
        keys.dedup();
        Counts { keys }
    }

    /// Story counts of every key, sorted by key (for accumulating over runs).
    pub fn all_story_counts(&self) -> Vec<((u8, u64), u64)> {
        self.runs().collect()
    }

    /// The counts without the stories `excluded` (sorted).
    pub fn without_stories(mut self, excluded: &[DocId]) -> Counts {
        if !excluded.is_empty() {
            self.keys.retain(|k| excluded.binary_search(&k.2).is_err());
        }
        self
    }
}

/// Keys seen in at least `required` stories, with their story counts, from the story
/// counts of every key.
fn frequent(mut all: HashMap<(u8, u64), u64>, required: u64) -> HashMap<(u8, u64), u64> {
    all.retain(|_, n| *n >= required);
    let anywhere: HashMap<u64, u64> = all
        .iter()
        .filter(|((k, _), _)| *k == KIND_LABEL_ANYWHERE)
        .map(|(&(_, h), &n)| (h, n))
        .collect();
    all.retain(|&(k, h), &mut n| match k {
        KIND_LABEL_ANYWHERE => false,
        KIND_LABEL => n as f64 >= LABEL_EDGE_SHARE * anywhere.get(&h).copied().unwrap_or(n) as f64,
        _ => true,
    });
    all
}

impl Counts {
    /// Keys (sorted and distinct since [`Counts::from_doc_keys`]) in at least
    /// `required` stories.
    fn story_counts(&self, required: u64) -> HashMap<(u8, u64), u64> {
        self.runs().filter(|&(_, n)| n >= required).collect()
    }

    /// Each key with its number of stories, in key order.
    fn runs(&self) -> impl Iterator<Item = ((u8, u64), u64)> + '_ {
        self.keys
            .chunk_by(|a, b| a.0 == b.0 && a.1 == b.1)
            .map(|run| ((run[0].0, run[0].1), run.len() as u64))
    }
}

/// Learned keys, waiting for their examples.
pub struct Learned {
    normalizer: Normalizer,
    frequent: HashMap<(u8, u64), u64>,
    examples: HashMap<(u8, u64), Vec<String>>,
    from: LearnedFrom,
}

impl Learned {
    /// Decide which keys are rules. `documents` and `stories` describe the corpus.
    pub fn new(
        opts: NormalizeOptions,
        counts: Counts,
        learn: &LearnOptions,
        documents: u64,
        stories: u64,
    ) -> Learned {
        let required = learn.required(stories);
        Learned::from_story_counts(
            opts,
            counts.story_counts(required),
            learn,
            documents,
            stories,
        )
    }

    /// Decide which keys are rules from story counts (possibly accumulated over
    /// several runs: `documents` and `stories` are then their totals).
    pub fn from_story_counts(
        opts: NormalizeOptions,
        counts: HashMap<(u8, u64), u64>,
        learn: &LearnOptions,
        documents: u64,
        stories: u64,
    ) -> Learned {
        let required = learn.required(stories);
        let mut frequent = frequent(counts, required);
        // A marker must be followed by more text in most of its occurrences; a line
        // that qualifies as a marker is a marker, not a plain line.
        let markers: Vec<((u8, u64), u64)> = frequent
            .iter()
            .filter(|((k, _), _)| *k == KIND_MARKER)
            .map(|(&k, &v)| (k, v))
            .collect();
        for ((_, h), n) in markers {
            let as_line = frequent.get(&(KIND_LINE, h)).copied().unwrap_or(n);
            if (n as f64) < MARKER_FOLLOWED_SHARE * as_line as f64 {
                frequent.remove(&(KIND_MARKER, h));
            } else {
                frequent.remove(&(KIND_LINE, h));
            }
        }
        Learned {
            normalizer: Normalizer::new(opts),
            frequent,
            examples: HashMap::new(),
            from: LearnedFrom {
                documents,
                stories,
                required_stories: required,
            },
        }
    }

    /// Learned keys as [`Learned::keys`] and [`Learned::learned_from`] gave them (a
    /// learning split over several processes).
    pub fn restore(
        opts: NormalizeOptions,
        keys: impl IntoIterator<Item = ((u8, u64), u64)>,
        from: LearnedFrom,
    ) -> Learned {
        Learned {
            normalizer: Normalizer::new(opts),
            frequent: keys.into_iter().collect(),
            examples: HashMap::new(),
            from,
        }
    }

    /// The keys that are rules with their story counts, sorted by key.
    pub fn keys(&self) -> Vec<((u8, u64), u64)> {
        let mut v: Vec<((u8, u64), u64)> = self.frequent.iter().map(|(&k, &n)| (k, n)).collect();
        v.sort_unstable();
        v
    }

    /// The figures of the corpus the keys were learned from.
    pub fn learned_from(&self) -> &LearnedFrom {
        &self.from
    }

    /// Examples known from before (a state's current rules), for keys that are rules.
    pub fn seed_examples(&mut self, known: &[((u8, u64), Vec<String>)]) {
        for (k, ex) in known {
            if self.frequent.contains_key(k) && !ex.is_empty() {
                self.examples.insert(*k, ex.clone());
            }
        }
    }

    /// The examples of every rule, sorted by key (what a state keeps of them).
    pub fn rule_examples(&self) -> Vec<((u8, u64), Vec<String>)> {
        let mut v: Vec<((u8, u64), Vec<String>)> = self
            .examples
            .iter()
            .filter(|(k, e)| self.frequent.contains_key(k) && !e.is_empty())
            .map(|(k, e)| (*k, e.clone()))
            .collect();
        v.sort_unstable_by_key(|e| e.0);
        v
    }

    /// True once no further line can change the rules: every line and marker rule has
    /// its example (only the first is used), every template its [`EXAMPLES`] distinct
    /// ones. The example pass can stop there. Stopping any earlier would make the
    /// examples depend on where the pass stopped, not only on input order (and the
    /// stage commands, which see every record, would disagree).
    pub fn has_all_examples(&self) -> bool {
        self.frequent.keys().all(|k| {
            let needed = match k.0 {
                KIND_LINE | KIND_MARKER => 1,
                _ => EXAMPLES,
            };
            self.examples.get(k).is_some_and(|e| e.len() >= needed)
        })
    }

    /// The lines of `text` that match a rule, with the rule's key. Pure, so documents
    /// can be searched in parallel; [`Learned::add_examples`] keeps them in order.
    pub fn find_examples(&self, text: &str, buf: &mut String) -> Vec<((u8, u64), String)> {
        let mut found = Vec::new();
        if self.frequent.is_empty() {
            return found;
        }
        for l in lines(text) {
            let line = &text[l.start..l.end];
            self.normalizer.normalize_into(line, buf);
            if buf.is_empty() {
                continue;
            }
            let hash = xxh3_64(buf.as_bytes());
            let mut keys = vec![(KIND_LINE, hash), (KIND_MARKER, hash)];
            if let Some(k) = label_key(&self.normalizer, line) {
                keys.push((KIND_LABEL, k));
            }
            if let Some(m) = mask_digits(buf) {
                keys.push((KIND_MASKED, xxh3_64(m.as_bytes())));
            }
            for k in keys {
                if self.frequent.contains_key(&k) {
                    found.push((k, line.trim().to_string()));
                }
            }
        }
        found
    }

    /// Keep found examples (in input order), at most [`EXAMPLES`] distinct per rule.
    pub fn add_examples(&mut self, found: impl IntoIterator<Item = ((u8, u64), String)>) {
        for (k, line) in found {
            let ex = self.examples.entry(k).or_default();
            if ex.len() < EXAMPLES && !ex.contains(&line) {
                ex.push(line);
            }
        }
    }

    /// The rules, sorted by story count (most frequent first), then text.
    pub fn into_rules(self) -> Rules {
        let mut rules = Rules::empty();
        rules.normalize = *self.normalizer.options();
        rules.learned_from = Some(self.from);
        let mut entries: Vec<((u8, u64), u64)> = self.frequent.into_iter().collect();
        entries.sort_unstable_by_key(|&((k, h), n)| (std::cmp::Reverse(n), k, h));
        for ((kind, hash), stories) in entries {
            let examples = self
                .examples
                .get(&(kind, hash))
                .cloned()
                .unwrap_or_default();
            let Some(first) = examples.first().cloned() else {
                continue;
            };
            match kind {
                KIND_LINE => rules.lines.push(LineRule {
                    line: first,
                    stories,
                    examples: Vec::new(),
                }),
                KIND_MARKER => rules.markers.push(MarkerRule {
                    line: first,
                    stories,
                }),
                KIND_LABEL => {
                    let label = label_of(&first)
                        .map(|(l, _)| l.to_string())
                        .unwrap_or(first);
                    rules.templates.push(TemplateRule {
                        kind: TemplateKind::Label,
                        pattern: label,
                        stories,
                        examples,
                    })
                }
                _ => {
                    let pattern =
                        mask_digits(&self.normalizer.normalize(&first)).unwrap_or_default();
                    rules.templates.push(TemplateRule {
                        kind: TemplateKind::Masked,
                        pattern,
                        stories,
                        examples,
                    })
                }
            }
        }
        // A line already covered by a template (a dated line, say) needs no rule of
        // its own; nor does a masked pattern covered by a label.
        let labels_only = Stripper::new(Rules {
            lines: Vec::new(),
            markers: Vec::new(),
            templates: rules
                .templates
                .iter()
                .filter(|t| t.kind == TemplateKind::Label)
                .cloned()
                .collect(),
            ..rules.clone()
        });
        let templates_only = Stripper::new(Rules {
            lines: Vec::new(),
            markers: Vec::new(),
            ..rules.clone()
        });
        let mut buf = String::new();
        rules
            .lines
            .retain(|r| templates_only.strip(&r.line, &mut buf).ranges.is_empty());
        rules.templates.retain(|t| {
            t.kind == TemplateKind::Label
                || t.examples
                    .first()
                    .is_none_or(|e| labels_only.strip(e, &mut buf).ranges.is_empty())
        });
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learn(docs: &[(DocId, &str)], min_docs: u64) -> Rules {
        let opts = NormalizeOptions::default();
        let n = Normalizer::new(opts);
        // As `pipeline::learn_rules` does: keys per document, then documents mapped to
        // their stories.
        let (mut keys, mut out, mut buf) = (Vec::new(), Vec::new(), String::new());
        for (d, &(_, text)) in docs.iter().enumerate() {
            out.clear();
            line_keys(&n, text, &mut buf, &mut out);
            keys.extend(out.iter().map(|&(k, h)| (k, h, d as DocId)));
        }
        let story: Vec<DocId> = docs.iter().map(|d| d.0).collect();
        let counts = Counts::from_doc_keys(keys, &story);
        let stories = docs.iter().map(|d| d.0).collect::<HashSet<_>>().len() as u64;
        let mut learned = Learned::new(
            opts,
            counts,
            &LearnOptions {
                min_docs,
                min_fraction: 0.0,
            },
            docs.len() as u64,
            stories,
        );
        let mut buf = String::new();
        for d in docs {
            let found = learned.find_examples(d.1, &mut buf);
            learned.add_examples(found);
        }
        learned.into_rules()
    }

    fn page(body: &str, outlet: &str, date: &str, appended: &str) -> String {
        format!(
            "Title {body}\nPublished: {date}\nFollow us on WhatsApp\n{body} first paragraph is long enough here.\nSource: {outlet}\nRead also:\n{appended}\nmore of the appended article"
        )
    }

    #[test]
    fn learns_lines_templates_and_markers_across_stories() {
        let pages: Vec<String> = (0..6)
            .map(|i| {
                page(
                    &format!("story{}", ["a", "b", "c", "d", "e", "f"][i]),
                    ["Alpha", "Beta", "Gamma"][i % 3],
                    &format!("{} March 2024", i + 1),
                    &format!("appended {}", ["x", "y", "z", "w", "v", "u"][i]),
                )
            })
            .collect();
        let docs: Vec<(DocId, &str)> = pages
            .iter()
            .enumerate()
            .map(|(i, p)| (i as DocId, p.as_str()))
            .collect();
        let rules = learn(&docs, 5);
        let lines: Vec<&str> = rules.lines.iter().map(|r| r.line.as_str()).collect();
        // The dated line is covered by its label template, not kept as a line too.
        // Lines after the marker belong to the appended article and are not counted.
        assert_eq!(lines, ["Follow us on WhatsApp"], "{rules:#?}");
        assert_eq!(rules.markers.len(), 1);
        assert_eq!(rules.markers[0].line, "Read also:");
        let labels: Vec<&str> = rules
            .templates
            .iter()
            .filter(|t| t.kind == TemplateKind::Label)
            .map(|t| t.pattern.as_str())
            .collect();
        assert!(
            labels.contains(&"Published") && labels.contains(&"Source"),
            "{labels:?}"
        );

        let s = Stripper::new(rules);
        let mut buf = String::new();
        let text = &pages[0];
        let st = s.strip(text, &mut buf);
        assert_eq!(
            st.apply(text),
            "Title storya\nstorya first paragraph is long enough here."
        );
        assert_eq!(st.lines_removed, 6);
    }

    #[test]
    fn quotes_inside_articles_are_not_templates() {
        // Six unrelated stories, each quoting someone mid-article with "He added:".
        let pages: Vec<String> = (0..6)
            .map(|i| {
                let body: Vec<String> = (0..20)
                    .map(|j| format!("story {i} paragraph {j} text"))
                    .collect();
                format!(
                    "{}\nHe added: words of quote number {i}\n{}",
                    body[..9].join("\n"),
                    body[9..].join("\n")
                )
                .replace(char::is_numeric, "x")
            })
            .collect();
        let docs: Vec<(DocId, &str)> = pages
            .iter()
            .enumerate()
            .map(|(i, p)| (i as DocId, p.as_str()))
            .collect();
        let rules = learn(&docs, 5);
        assert!(rules.templates.is_empty(), "{rules:#?}");
        // And a hand-written label rule does not strip the quote in the body either.
        let mut r = Rules::empty();
        r.templates.push(TemplateRule {
            kind: TemplateKind::Label,
            pattern: "He added".into(),
            stories: 0,
            examples: vec![],
        });
        let mut buf = String::new();
        assert!(
            Stripper::new(r)
                .strip(&pages[0], &mut buf)
                .ranges
                .is_empty()
        );
    }

    #[test]
    fn clock_times_and_urls_are_not_labels() {
        let n = Normalizer::default();
        assert!(label_key(&n, "10:30 The minister arrived").is_none());
        assert!(label_key(&n, "https://example.com/a").is_none());
        assert!(label_key(&n, "Source: Reuters").is_some());
    }

    #[test]
    fn copies_of_one_story_are_not_boilerplate() {
        // Six copies of one story (one story id): its paragraph is not boilerplate.
        let text = "A paragraph of a syndicated story that six outlets carried.";
        let docs: Vec<(DocId, &str)> = (0..6).map(|_| (0, text)).collect();
        let rules = learn(&docs, 5);
        assert!(rules.lines.is_empty());
        // The same line in six unrelated stories is.
        let docs: Vec<(DocId, &str)> = (0..6).map(|i| (i, text)).collect();
        assert_eq!(learn(&docs, 5).lines.len(), 1);
    }

    #[test]
    fn rules_file_round_trip_and_version_checks() {
        let mut r = Rules::empty();
        r.lines.push(LineRule {
            line: "إعلان".into(),
            stories: 9,
            examples: vec![],
        });
        let json = r.to_json();
        assert_eq!(Rules::parse(json.as_bytes(), "r.json").unwrap(), r);
        let future = json.replace("\"version\": 1", "\"version\": 2");
        let e = Rules::parse(future.as_bytes(), "r.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("version 2") && e.contains("hint:"), "{e}");
        assert!(Rules::parse(b"{\"format\": \"x\", \"version\": 1}", "r.json").is_err());
        assert!(
            Rules::parse(b"not json", "r.json")
                .unwrap_err()
                .to_string()
                .contains("not a rules file")
        );
        // A hand-written minimal file works.
        let hand =
            br#"{"format": "dupstrip-rules", "version": 1, "lines": [{"line": "Advertisement"}]}"#;
        let s = Stripper::new(Rules::parse(hand, "h.json").unwrap());
        let mut buf = String::new();
        assert_eq!(
            s.strip("a\nADVERTISEMENT\nb", &mut buf)
                .apply("a\nADVERTISEMENT\nb"),
            "a\nb"
        );
    }

    #[test]
    fn masked_templates() {
        assert_eq!(
            mask_digits("updated march 00 0000 gmt").as_deref(),
            Some("updated march # # gmt")
        );
        assert_eq!(mask_digits("0000"), None);
        assert_eq!(mask_digits("no digits"), None);
    }
}
