//! Boilerplate: which lines of a page are not the page's own text, and how are they
//! removed?
//!
//! Learning counts, for every line, the number of distinct *stories* it appears in:
//! copies of one syndicated story (found as near-duplicate components on the raw text)
//! count once, so a paragraph republished by six outlets stays content while a line
//! printed under six unrelated articles may be boilerplate. Recurrence alone is not
//! enough: a rule also needs evidence, counted the same way, that the line is not
//! the page's own text ([`page`] gives every line its shape). Three kinds of rules come
//! out:
//!
//! * **lines** that recur exactly after normalization ("تابع أحدث الأخبار عبر تطبيق"),
//!   standing alone (not a fragment of a wrapped paragraph such as "The" or "-v", not
//!   a heading over its block), never counted as a page's first line (a title or an
//!   opening formula of content), with at least three letters;
//! * **templates**: a recurring label before a colon whose values are fields, not
//!   sentences or quotes ("المصدر: <outlet>", "Tags: …", anywhere on the page), lines
//!   that are the same once dates, times and relative times are masked ("Posted on
//!   Feb 9, 2024 at 5:07 AM", [`words`]), and lines listing related headlines with
//!   their relative times («… منذ ساعة … منذ ساعتين»);
//! * **markers**: a short line, with or without a colon, after which a *foreign*
//!   tail follows: in most of its pages a headline and a paragraph follow it, and
//!   either the same whole tails recur after it in unrelated stories or the headline
//!   changes from page to page. It and everything after it are removed.
//!
//! Every learned rule carries its evidence in the rules file. Rules live in a
//! versioned, human-editable JSON file.

pub mod page;
pub mod words;

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

use crate::lsh::DocId;
use crate::normalize::{NormalizeOptions, Normalizer};
use page::{Page, label_of};

/// `format` field of a rules file.
pub const RULES_FORMAT: &str = "dupstrip-rules";
/// Version of the rules file layout this build reads and writes.
pub const RULES_VERSION: u32 = 1;

/// Template values of at most this many words (a long value is prose, not a field).
const MAX_VALUE_WORDS: usize = 40;
/// Masked templates apply to lines of at most this many words.
const MAX_MASKED_WORDS: usize = 14;
/// Related-headline lines have at most this many words.
const MAX_RELATED_WORDS: usize = 120;
/// Share of a key's stories that must show a rule's evidence.
const EVIDENCE_SHARE: f64 = 0.8;
/// A marker must be a marker candidate in at least this share of its stories.
const MARKER_FOLLOWED_SHARE: f64 = 0.8;
/// Article-shaped tails in at least this share of a marker's stories.
const ARTICLE_SHARE: f64 = 0.7;
/// For the `article tails` proof, no single next line may follow a marker in more
/// than this share of its stories (a heading followed by the same block every time
/// is not a marker); the `recurring tails` proof allows twice this share of one
/// next line or one whole tail (a site appending a few articles of its own).
const MAX_TOP_TAIL_SHARE: f64 = 0.34;
/// When the rules would remove more than this share of a page's text before any
/// marker, the line and template rules are not applied to it.
const MAX_STRIP_SHARE: f64 = 0.5;
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

/// What a template matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateKind {
    /// `LABEL: value`, any value.
    Label,
    /// The line with every date, time or number word replaced by `#` ([`words`]).
    Masked,
    /// A line listing headlines with two or more relative times ("… 1 hour ago …
    /// 2 hours ago", «… منذ ساعة … منذ ساعتين»); `pattern` is not used.
    Related,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TemplateRule {
    pub kind: TemplateKind,
    /// For `label`: the text before the colon. For `masked`: the normalized line with
    /// `#` for every run of date, time and number words.
    #[serde(default)]
    pub pattern: String,
    #[serde(default)]
    pub stories: u64,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

/// A line that introduces appended content: it and everything after it go.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MarkerRule {
    pub line: String,
    #[serde(default)]
    pub stories: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

/// What the corpus showed about a learned rule, so a person can judge it. Shares are
/// of the stories the rule's key was seen in.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Evidence {
    /// Distinct stories the key was seen in.
    pub stories: u64,
    /// Lines: share of stories in which it stood alone in the page's own text (a
    /// paragraph of its own, not the first line, not in an appended article).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standalone: Option<f64>,
    /// Share of stories in which it was among the first 4 or last 6 lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_page_edge: Option<f64>,
    /// Labels: share of uses whose value is a field (not a sentence or quote, the
    /// label once on its page, not in a wrapped paragraph).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_values: Option<f64>,
    /// Markers: share of the stories holding the line in which it sat where a marker
    /// can cut (after 30 words, short, no sentence or field, two lines or more after).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub followed: Option<f64>,
    /// Markers: share of stories in which a headline and paragraphs followed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article_tails: Option<f64>,
    /// Markers: distinct whole tails (from the line after it to the page's end) that
    /// followed it in two or more unrelated stories, and the stories they were seen in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurring_tails: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurring_tail_stories: Option<u64>,
    /// Markers: share of its stories in which the most frequent next line followed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_tail: Option<f64>,
    /// Markers: why the tail is taken as foreign (`recurring tails`, `article tails`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
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

/// Hash of the normalized label of a `LABEL: value` line. Labels made of digits
/// (clock times), URLs (`https:`) or no letters are not labels.
fn label_key(normalizer: &Normalizer, line: &str) -> Option<u64> {
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
fn field_value(line: &str) -> bool {
    let Some((_, value)) = label_of(line) else {
        return false;
    };
    value.split_whitespace().count() <= MAX_VALUE_WORDS
        && !page::ends_sentence(value)
        && !value.starts_with(['"', '«', '“', '\'', '‘', '„', '「'])
}

/// Whether each key occurs once among `keys`.
fn once_each(keys: &[Option<u64>]) -> Vec<bool> {
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
fn page_labels(normalizer: &Normalizer, text: &str, page: &Page) -> Vec<Option<(u64, bool)>> {
    // A page's first line is its title or opening, never a field.
    let keys: Vec<Option<u64>> = page
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            (i > 0)
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
fn line_alone(page: &Page, labels: &[Option<(u64, bool)>], i: usize) -> bool {
    page.standalone(i) && labels[i].is_none_or(|(_, once)| once)
}

/// Whether line `i` of a page is a field-like use of its label.
fn field_label(text: &str, page: &Page, i: usize, once: bool) -> bool {
    let l = &page.lines[i];
    once && page.standalone(i) && field_value(&text[l.span.start..l.span.end])
}

/// The masked form of a normalized line, when the line is short and no sentence.
fn masked_key(normalizer: &Normalizer, normalized: &str, l: &page::Line) -> Option<u64> {
    if l.words > MAX_MASKED_WORDS || l.sentence || l.in_flow {
        return None;
    }
    words::mask(normalizer.options(), normalized).map(|m| xxh3_64(m.as_bytes()))
}

/// The masked key of every line of a page that stands alone and is the only line of
/// its pattern on the page (a date line is printed once; the signature lines of a
/// changelog or the entries of a log repeat).
fn page_masked(normalizer: &Normalizer, page: &Page) -> Vec<Option<u64>> {
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
fn related_line(normalizer: &Normalizer, normalized: &str, l: &page::Line) -> bool {
    if l.sentence || l.words > MAX_RELATED_WORDS || l.words < 6 {
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

/// Compiled rules: hashes of normalized lines, labels and patterns.
pub struct Stripper {
    normalizer: Normalizer,
    lines: HashSet<u64>,
    /// Line, label and masked rules that were written by hand (no evidence): the cap
    /// on what rules may take from a page does not hold them back.
    by_hand: HashSet<u64>,
    labels: HashSet<u64>,
    masked: HashSet<u64>,
    related: bool,
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
    /// The line and template rules would have removed most of the page, so only its
    /// marker (if any) was applied.
    pub capped: bool,
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
        let mut related = false;
        let mut by_hand = HashSet::new();
        for r in &rules.lines {
            if r.evidence.is_none() {
                by_hand.insert(h(&r.line));
            }
        }
        for t in &rules.templates {
            match t.kind {
                TemplateKind::Label => {
                    labels.insert(h(&t.pattern));
                    if t.evidence.is_none() {
                        by_hand.insert(h(&t.pattern));
                    }
                }
                // Each word but `#` is normalized, and the pattern masked again, so a
                // hand-written pattern (or one from an older dupstrip, with a `#` per
                // word) matches like a learned one.
                TemplateKind::Masked => {
                    let words: Vec<String> = t
                        .pattern
                        .split_whitespace()
                        .map(|w| {
                            if w == "#" || w == words::DATE_ONLY {
                                w.to_string()
                            } else {
                                normalizer.normalize(w)
                            }
                        })
                        .collect();
                    let joined = words.join(" ");
                    let m = words::mask(normalizer.options(), &joined).unwrap_or(joined);
                    masked.insert(xxh3_64(m.as_bytes()));
                    if t.evidence.is_none() {
                        by_hand.insert(xxh3_64(m.as_bytes()));
                    }
                }
                TemplateKind::Related => related = true,
            }
        }
        Stripper {
            lines: rules.lines.iter().map(|r| h(&r.line)).collect(),
            markers: rules.markers.iter().map(|r| h(&r.line)).collect(),
            labels,
            masked,
            related,
            by_hand,
            normalizer,
            rules,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
            && self.labels.is_empty()
            && self.masked.is_empty()
            && !self.related
            && self.markers.is_empty()
    }

    /// Find the boilerplate in `text`. `buf` is scratch space.
    pub fn strip(&self, text: &str, buf: &mut String) -> Stripped {
        self.strip_with(text, buf, true)
    }

    /// [`Stripper::strip`], with the cap on what line and template rules may take
    /// from a page on (`cap`) or off.
    fn strip_with(&self, text: &str, buf: &mut String, cap: bool) -> Stripped {
        let mut out = Stripped::default();
        if self.is_empty() {
            return out;
        }
        let page = Page::new(&self.normalizer, text, buf);
        // The first marker line that sits where a marker can cut (after enough of the
        // page, with text after it) cuts the rest; elsewhere it is removed alone.
        let n = page.lines.len();
        // It cuts only where it could have been counted as one.
        let cut = (0..n)
            .find(|&i| self.markers.contains(&page.lines[i].hash) && page.marker_candidate(i));
        let body = cut.unwrap_or(n);
        let labels = page_labels(&self.normalizer, text, &page);
        let masked = if self.masked.is_empty() {
            Vec::new()
        } else {
            page_masked(&self.normalizer, &page)
        };
        // Removed lines, and whether a learned rule (not one written by hand) took them.
        let mut hits: Vec<(usize, usize, bool)> = Vec::new();
        let (mut learned, mut total) = (0usize, 0usize);
        for (i, l) in page.lines[..body].iter().enumerate() {
            let line = &text[l.span.start..l.span.end];
            total += line.len();
            // A learned line rule removes the line where it was counted: standing
            // alone, not the page's first line. One written by hand removes the line
            // wherever it is.
            let by_line = (self.by_hand.contains(&l.hash) && self.lines.contains(&l.hash))
                || ((self.lines.contains(&l.hash) || self.markers.contains(&l.hash))
                    && i > 0
                    && line_alone(&page, &labels, i));
            let label = labels
                .get(i)
                .copied()
                .flatten()
                .filter(|&(k, once)| self.labels.contains(&k) && field_label(text, &page, i, once))
                .map(|(k, _)| k);
            let mask = masked
                .get(i)
                .copied()
                .flatten()
                .filter(|m| self.masked.contains(m));
            let related = self.related
                && i > 0
                && !l.in_flow
                && related_line(&self.normalizer, page.normalized(i), l);
            if by_line || label.is_some() || mask.is_some() || related {
                let hand = (by_line && self.by_hand.contains(&l.hash))
                    || label.is_some_and(|k| self.by_hand.contains(&k))
                    || mask.is_some_and(|m| self.by_hand.contains(&m));
                if !hand {
                    learned += line.len();
                }
                hits.push((l.span.start, l.span.next, hand));
            }
        }
        // A page is not emptied by learned line and template rules: when they would
        // take most of its own text, only the marker's cut (and rules written by
        // hand) apply.
        if cap && total > 0 && learned as f64 > MAX_STRIP_SHARE * total as f64 {
            hits.retain(|h| h.2);
            out.capped = true;
        }
        let mut ranges: Vec<(usize, usize)> = hits.iter().map(|h| (h.0, h.1)).collect();
        out.lines_removed = ranges.len() as u64;
        if let Some(m) = cut {
            let start = page.lines[m].span.start;
            ranges.push((start, text.len()));
            out.lines_removed += (n - m) as u64;
        }
        // Merge adjacent ranges.
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match merged.last_mut() {
                Some(last) if last.1 >= r.0 => last.1 = last.1.max(r.1),
                _ => merged.push(r),
            }
        }
        out.ranges = merged;
        out
    }
}

/// Kinds of counted keys. Rules are made of the first four (and [`KIND_RELATED`]);
/// the others are evidence.
const KIND_LINE: u8 = 0;
/// A label used as a field ([`field_label`]).
const KIND_LABEL: u8 = 1;
const KIND_MASKED: u8 = 2;
/// A line where a marker could cut ([`Page::marker_candidate`]).
const KIND_MARKER: u8 = 3;
/// A label, however used: the denominator of the field share.
const KIND_LABEL_ANYWHERE: u8 = 4;
/// A line that could be boilerplate: it stands alone ([`line_alone`]), has three
/// letters or more, is not the page's first line (a title or opening), and is not
/// the headline or a paragraph of what may be an appended article (after
/// [`own_end`]), so the title and paragraphs of a story appended under other pages
/// never count for it.
const KIND_LINE_ALONE: u8 = 5;
/// A marker candidate followed by a headline and paragraphs.
const KIND_MARKER_ARTICLE: u8 = 7;
/// A marker candidate and the line after it: high 32 bits of the marker's hash, low
/// 32 bits of the next line's. Counted from two stories on ([`floor`]).
const KIND_FOLLOW: u8 = 8;
/// A line listing related headlines (hash 0).
const KIND_RELATED: u8 = 9;
/// A line among the first 4 or last 6 of its page.
const KIND_LINE_EDGE: u8 = 10;
/// A marker candidate and its whole tail (every line after it): high 32 bits of the
/// marker's hash, low 32 bits of the tail's. The same appended article under
/// unrelated pages recurs as a unit; a heading followed by the same license text,
/// then by the page's own lines, does not. Counted from two stories on ([`floor`]).
const KIND_TAIL_UNIT: u8 = 12;

const EDGE_HEAD: usize = 4;
const EDGE_TAIL: usize = 6;

fn follow_key(marker: u64, next: u64) -> u64 {
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
fn own_end(page: &Page) -> usize {
    (0..page.lines.len())
        .find(|&i| page.marker_candidate(i) && page.article_after(i))
        .unwrap_or(page.lines.len())
}

/// The counted keys of one document's lines, as `(kind, hash)` pairs appended to `out`.
/// Returns the byte offset where the page's own text ends ([`own_end`]), found on the
/// way.
pub fn line_keys(
    normalizer: &Normalizer,
    text: &str,
    buf: &mut String,
    out: &mut Vec<(u8, u64)>,
) -> usize {
    let page = Page::new(normalizer, text, buf);
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
    page.lines.get(own).map_or(text.len(), |l| l.span.start)
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

    /// Keys (sorted and distinct since [`Counts::from_doc_keys`]) at or over their
    /// [`floor`].
    fn story_counts(&self, required: u64) -> HashMap<(u8, u64), u64> {
        self.runs()
            .filter(|&((k, _), n)| n >= floor(k, required))
            .collect()
    }

    /// Each key with its number of stories, in key order.
    fn runs(&self) -> impl Iterator<Item = ((u8, u64), u64)> + '_ {
        self.keys
            .chunk_by(|a, b| a.0 == b.0 && a.1 == b.1)
            .map(|run| ((run[0].0, run[0].1), run.len() as u64))
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        // Rounded, so the rules file reads well; decisions use the same figure.
        (part as f64 / whole as f64 * 1000.0).round() / 1000.0
    }
}

/// Something per counted key.
type Keyed<T> = HashMap<(u8, u64), T>;

/// Decide which keys are rules, from the story counts of every key at or over its
/// [`floor`]. Returns the rule keys with their story counts, and their evidence.
fn decide(counts: &HashMap<(u8, u64), u64>, required: u64) -> (Keyed<u64>, Keyed<Evidence>) {
    let get = |k: u8, h: u64| counts.get(&(k, h)).copied().unwrap_or(0);
    // Next lines and whole tails of each marker (by the high half of its hash) seen
    // in two stories or more.
    let mut next_lines: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut units: HashMap<u64, Vec<u64>> = HashMap::new();
    for (&(k, h), &n) in counts {
        if n >= 2 {
            match k {
                KIND_FOLLOW => next_lines.entry(h >> 32).or_default().push(n),
                KIND_TAIL_UNIT => units.entry(h >> 32).or_default().push(n),
                _ => {}
            }
        }
    }
    let mut rules = HashMap::new();
    let mut evidence = HashMap::new();
    let mut keys: Vec<(&(u8, u64), &u64)> = counts.iter().collect();
    keys.sort_unstable();
    for (&(kind, h), &n) in keys {
        if n < required {
            continue;
        }
        match kind {
            KIND_MARKER => {
                let seen = get(KIND_LINE, h).max(n);
                let articles = get(KIND_MARKER_ARTICLE, h);
                let t = units.get(&(h >> 32)).map(Vec::as_slice).unwrap_or(&[]);
                let recurring: u64 = t.iter().sum();
                let top_unit = share(t.iter().copied().max().unwrap_or(1), n);
                let next = next_lines.get(&(h >> 32)).map(Vec::as_slice).unwrap_or(&[]);
                let top = next.iter().copied().max().unwrap_or(1);
                let followed = share(n, seen);
                let article_share = share(articles, n);
                let top_share = share(top, n);
                // What follows must look like another article (a headline and
                // paragraphs) in most of its pages, and be another article: the
                // same ones recur after it in unrelated stories, or it changes from
                // page to page. A heading followed by its own section (man pages,
                // changelogs) has no headline-and-paragraphs shape.
                let proof = if article_share < ARTICLE_SHARE {
                    None
                } else if t.len() >= 2
                    && recurring >= 3.max(n / 2)
                    && top_unit <= 2.0 * MAX_TOP_TAIL_SHARE
                    && top_share <= 2.0 * MAX_TOP_TAIL_SHARE
                {
                    Some("recurring tails")
                } else if top_share <= MAX_TOP_TAIL_SHARE {
                    Some("article tails")
                } else {
                    None
                };
                if let Some(proof) = proof
                    && followed >= MARKER_FOLLOWED_SHARE
                {
                    rules.insert((KIND_MARKER, h), n);
                    evidence.insert(
                        (KIND_MARKER, h),
                        Evidence {
                            stories: n,
                            followed: Some(followed),
                            article_tails: Some(article_share),
                            recurring_tails: Some(t.len() as u64),
                            recurring_tail_stories: Some(recurring),
                            top_tail: Some(top_share),
                            proof: Some(proof.into()),
                            ..Evidence::default()
                        },
                    );
                }
            }
            KIND_LINE => {
                let alone = share(get(KIND_LINE_ALONE, h), n);
                if alone >= EVIDENCE_SHARE {
                    rules.insert((KIND_LINE, h), n);
                    evidence.insert(
                        (KIND_LINE, h),
                        Evidence {
                            stories: n,
                            standalone: Some(alone),
                            at_page_edge: Some(share(get(KIND_LINE_EDGE, h), n)),
                            ..Evidence::default()
                        },
                    );
                }
            }
            KIND_LABEL => {
                let anywhere = get(KIND_LABEL_ANYWHERE, h).max(n);
                let field = share(n, anywhere);
                if field >= EVIDENCE_SHARE {
                    rules.insert((KIND_LABEL, h), n);
                    evidence.insert(
                        (KIND_LABEL, h),
                        Evidence {
                            stories: n,
                            field_values: Some(field),
                            ..Evidence::default()
                        },
                    );
                }
            }
            KIND_MASKED | KIND_RELATED => {
                rules.insert((kind, h), n);
                evidence.insert(
                    (kind, h),
                    Evidence {
                        stories: n,
                        ..Evidence::default()
                    },
                );
            }
            _ => {}
        }
    }
    // A marker's line is not also a line rule.
    let markers: Vec<u64> = rules
        .keys()
        .filter(|k| k.0 == KIND_MARKER)
        .map(|k| k.1)
        .collect();
    for h in markers {
        rules.remove(&(KIND_LINE, h));
        evidence.remove(&(KIND_LINE, h));
    }
    (rules, evidence)
}

/// Learned keys, waiting for their examples.
pub struct Learned {
    normalizer: Normalizer,
    frequent: HashMap<(u8, u64), u64>,
    evidence: HashMap<(u8, u64), Evidence>,
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
    /// several runs: `documents` and `stories` are then their totals). Keys under
    /// their [`floor`] may be left out.
    pub fn from_story_counts(
        opts: NormalizeOptions,
        counts: HashMap<(u8, u64), u64>,
        learn: &LearnOptions,
        documents: u64,
        stories: u64,
    ) -> Learned {
        let required = learn.required(stories);
        let (frequent, evidence) = decide(&counts, required);
        Learned {
            normalizer: Normalizer::new(opts),
            frequent,
            evidence,
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
        keys: impl IntoIterator<Item = ((u8, u64), u64, Option<Evidence>)>,
        from: LearnedFrom,
    ) -> Learned {
        let mut frequent = HashMap::new();
        let mut evidence = HashMap::new();
        for (k, n, e) in keys {
            frequent.insert(k, n);
            if let Some(e) = e {
                evidence.insert(k, e);
            }
        }
        Learned {
            normalizer: Normalizer::new(opts),
            frequent,
            evidence,
            examples: HashMap::new(),
            from,
        }
    }

    /// The keys that are rules with their story counts and evidence, sorted by key.
    pub fn keys(&self) -> Vec<((u8, u64), u64, Option<Evidence>)> {
        let mut v: Vec<((u8, u64), u64, Option<Evidence>)> = self
            .frequent
            .iter()
            .map(|(&k, &n)| (k, n, self.evidence.get(&k).cloned()))
            .collect();
        v.sort_unstable_by_key(|e| e.0);
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
        let page = Page::new(&self.normalizer, text, buf);
        let labels = page_labels(&self.normalizer, text, &page);
        let masked = page_masked(&self.normalizer, &page);
        for (i, l) in page.lines.iter().enumerate() {
            let line = &text[l.span.start..l.span.end];
            let mut keys = vec![(KIND_LINE, l.hash), (KIND_MARKER, l.hash)];
            if let Some(m) = masked[i] {
                keys.push((KIND_MASKED, m));
            }
            if let Some((k, once)) = labels[i]
                && field_label(text, &page, i, once)
            {
                keys.push((KIND_LABEL, k));
            }
            if i > 0 && !l.in_flow && related_line(&self.normalizer, page.normalized(i), l) {
                keys.push((KIND_RELATED, 0));
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
            let evidence = self.evidence.get(&(kind, hash)).cloned();
            let Some(first) = examples.first().cloned() else {
                continue;
            };
            match kind {
                KIND_LINE => rules.lines.push(LineRule {
                    line: first,
                    stories,
                    examples: Vec::new(),
                    evidence,
                }),
                KIND_MARKER => rules.markers.push(MarkerRule {
                    line: first,
                    stories,
                    evidence,
                }),
                KIND_RELATED => rules.templates.push(TemplateRule {
                    kind: TemplateKind::Related,
                    pattern: String::new(),
                    stories,
                    examples,
                    evidence,
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
                        evidence,
                    })
                }
                _ => {
                    let pattern = words::mask(
                        self.normalizer.options(),
                        &self.normalizer.normalize(&first),
                    )
                    .unwrap_or_default();
                    rules.templates.push(TemplateRule {
                        kind: TemplateKind::Masked,
                        pattern,
                        stories,
                        examples,
                        evidence,
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
        // Each line is tried as the second line of a page (rules never take a
        // page's first line).
        let covered = |s: &Stripper, line: &str, buf: &mut String| {
            !s.strip_with(&format!("x\n{line}"), buf, false)
                .ranges
                .is_empty()
        };
        rules
            .lines
            .retain(|r| !covered(&templates_only, &r.line, &mut buf));
        rules.templates.retain(|t| {
            t.kind == TemplateKind::Label
                || t.examples
                    .first()
                    .is_none_or(|e| !covered(&labels_only, e, &mut buf))
        });
        rules
    }
}

/// What boilerplate stripping removed over a run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct StripStats {
    /// Documents with at least one line removed.
    pub documents_stripped: u64,
    pub lines_removed: u64,
    pub bytes_removed: u64,
    /// Documents left empty (or under --min-chars) by stripping.
    pub emptied: u64,
    /// Documents that lost more than half of their text (markers' appended articles
    /// included).
    pub over_half: u64,
    /// Documents whose learned line and template rules would have taken more than
    /// half of their own text: only their marker (if any) was applied.
    pub capped: u64,
}

impl StripStats {
    pub fn add(&mut self, o: &StripStats) {
        self.documents_stripped += o.documents_stripped;
        self.lines_removed += o.lines_removed;
        self.bytes_removed += o.bytes_removed;
        self.emptied += o.emptied;
        self.over_half += o.over_half;
        self.capped += o.capped;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learn(docs: &[(DocId, &str)], min_docs: u64) -> Rules {
        let opts = NormalizeOptions::default();
        let n = Normalizer::new(opts);
        // As `learn::learn_rules` does: keys per document, then documents mapped to
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

    /// A page of a made-up outlet: title, date and follow lines, a body of three
    /// paragraphs, source line, then a marker and an appended article.
    fn page(body: &str, outlet: &str, date: &str, appended: &str, marker: &str) -> String {
        let para = |k: u32| {
            format!(
                "{body} paragraph {k} tells what happened in words that belong to this story alone, as a reporter wrote it."
            )
        };
        format!(
            "Title {body}\nPublished: {date}\nFollow us on WhatsApp\n{}\n{}\n{}\nSource: {outlet}\n{marker}\nHeadline of the {appended} story today\nThe {appended} article has its own paragraph, with a sentence that goes on for a while here.\nmore of the {appended} article",
            para(1),
            para(2),
            para(3)
        )
    }

    fn pages(marker: &str) -> Vec<String> {
        let ids = ["a", "b", "c", "d", "e", "f"];
        (0..6)
            .map(|i| {
                page(
                    &format!("story{}", ids[i]),
                    ["Alpha", "Beta", "Gamma"][i % 3],
                    &format!("{} March 2024", i + 1),
                    &format!("appended{}", ids[(i + 1) % 6]),
                    marker,
                )
            })
            .collect()
    }

    #[test]
    fn learns_lines_templates_and_markers_across_stories() {
        for marker in ["Read also:", "READ ALSO", "إقرأ أيضاً"] {
            let pages = pages(marker);
            let docs: Vec<(DocId, &str)> = pages
                .iter()
                .enumerate()
                .map(|(i, p)| (i as DocId, p.as_str()))
                .collect();
            let rules = learn(&docs, 5);
            let lines: Vec<&str> = rules.lines.iter().map(|r| r.line.as_str()).collect();
            // The dated line is covered by its label template, not kept as a line too.
            assert_eq!(lines, ["Follow us on WhatsApp"], "{rules:#?}");
            assert_eq!(rules.markers.len(), 1, "{rules:#?}");
            assert_eq!(rules.markers[0].line, marker);
            let ev = rules.markers[0].evidence.as_ref().expect("evidence");
            assert_eq!(ev.proof.as_deref(), Some("article tails"));
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
            let kept = st.apply(text);
            assert!(
                kept.starts_with("Title storya\nstorya paragraph 1"),
                "{kept}"
            );
            assert!(kept.ends_with("as a reporter wrote it."), "{kept}");
            assert_eq!(st.lines_removed, 7);
        }
    }

    #[test]
    fn a_colon_does_not_make_a_marker() {
        // Body lines ending in a colon, followed by the page's own text, in six
        // unrelated pages: no marker, nothing cut.
        let pages: Vec<String> = (0..6)
            .map(|i| {
                let own = format!("own text of page {i} that goes on well past thirty words, so that a marker could cut here if it were one, which it is not at all");
                format!("{own}\nThe commands are:\nadd{i} adds a file\nrm{i} removes it\n{own}")
                    .replace(char::is_numeric, "x")
            })
            .collect();
        let docs: Vec<(DocId, &str)> = pages
            .iter()
            .enumerate()
            .map(|(i, p)| (i as DocId, p.as_str()))
            .collect();
        let rules = learn(&docs, 5);
        assert!(rules.markers.is_empty(), "{rules:#?}");
    }

    #[test]
    fn one_line_documents_are_not_emptied() {
        let mut r = Rules::empty();
        r.lines.push(LineRule {
            line: "Abu Huraira reported".into(),
            stories: 9,
            examples: vec![],
            evidence: Some(Evidence::default()),
        });
        let s = Stripper::new(r);
        let mut buf = String::new();
        let st = s.strip("T\nAbu Huraira reported", &mut buf);
        assert!(st.ranges.is_empty() && st.capped);
        // Nor is a page's first line (its title or opening) taken by a line rule.
        assert!(
            s.strip("Abu Huraira reported\nT", &mut buf)
                .ranges
                .is_empty()
        );
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
                    "{}\nHe added: \"words of quote number {i}.\"\n{}",
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
            evidence: None,
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
        let text = "Title\nA paragraph of a syndicated story that six outlets carried.\nEnd.";
        let docs: Vec<(DocId, &str)> = (0..6).map(|_| (0, text)).collect();
        let rules = learn(&docs, 5);
        assert!(rules.lines.is_empty());
        // The same line in six unrelated stories is.
        let docs: Vec<(DocId, &str)> = (0..6).map(|i| (i, text)).collect();
        let lines: Vec<String> = learn(&docs, 5).lines.into_iter().map(|r| r.line).collect();
        // The title (first line of all its pages) is an opening, not boilerplate.
        assert!(
            lines.contains(&"A paragraph of a syndicated story that six outlets carried.".into())
                && !lines.contains(&"Title".into()),
            "{lines:?}"
        );
    }

    #[test]
    fn rules_file_round_trip_and_version_checks() {
        let mut r = Rules::empty();
        r.lines.push(LineRule {
            line: "إعلان".into(),
            stories: 9,
            examples: vec![],
            evidence: None,
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
        let text = "A paragraph of the page's own text.\nADVERTISEMENT\nAnother paragraph of it.";
        assert_eq!(
            s.strip(text, &mut buf).apply(text),
            "A paragraph of the page's own text.\nAnother paragraph of it."
        );
    }
}
