//! Strip: which lines of one page do the rules remove, and how much of the page may
//! they take?

// Sets of hashes and of short words, asked several times per line: a fast hash.
use ahash::AHashSet as HashSet;

use xxhash_rust::xxh3::xxh3_64;

use super::keys::{field_label, line_alone, page_labels, page_masked, related_line};
use super::rules::{Rules, TemplateKind};
use super::*;
use crate::normalize::Normalizer;
use page::Page;

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

/// Why one line was removed ([`Stripper::explain`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineRuleKind {
    /// A line rule: the line itself recurs.
    Line,
    /// A label template: `Label: value` with a recurring label.
    Label,
    /// A masked template: the line with its numbers and dates masked recurs.
    Masked,
    /// The related-headlines template: a short line outside the text's flow.
    Related,
    /// A marker line standing alone (not where it cuts).
    Marker,
    /// The marker line where it cuts the rest of the page.
    MarkerCut,
    /// A line after the marker that cut.
    AfterMarker,
}

impl LineRuleKind {
    /// Its name in JSON (`line`, `label`, `masked`, `related`, `marker`,
    /// `marker_cut`, `after_marker`).
    pub fn as_str(self) -> &'static str {
        match self {
            LineRuleKind::Line => "line",
            LineRuleKind::Label => "label",
            LineRuleKind::Masked => "masked",
            LineRuleKind::Related => "related",
            LineRuleKind::Marker => "marker",
            LineRuleKind::MarkerCut => "marker_cut",
            LineRuleKind::AfterMarker => "after_marker",
        }
    }
}

/// One removed line of a page and the rule that removed it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RemovedLine {
    /// Byte range of the line in the text (its line break included).
    pub start: usize,
    pub end: usize,
    pub rule: LineRuleKind,
    /// The rule was written by hand (no evidence), so the cap on a page's share
    /// does not hold it back.
    pub by_hand: bool,
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

    /// Find the boilerplate in `text`.
    pub fn strip(&self, text: &str) -> Stripped {
        self.strip_with(text, true)
    }

    /// [`Stripper::strip`], and the page it read (none when there are no rules):
    /// the caller can read the normalized text of what is left off it
    /// ([`super::PageRead::join_kept`]), or the examples of rules ([`super::Learned`]).
    pub fn strip_read(&self, text: &str) -> (Stripped, Option<PageRead>) {
        self.strip_page(text, true, None, None)
    }

    /// [`Stripper::strip_read`] of a page already read (by learning, with this
    /// stripper's normalizer: [`super::PageCache`]), or read now when `read` is `None`.
    pub fn strip_read_from(
        &self,
        text: &str,
        read: Option<PageRead>,
    ) -> (Stripped, Option<PageRead>) {
        self.strip_page(text, true, None, read)
    }

    /// [`Stripper::strip`], and every removed line with the kind of rule that
    /// removed it, in order (for `explain` and the HTML report; not a hot path).
    pub fn explain(&self, text: &str) -> (Stripped, Vec<RemovedLine>) {
        let mut why = Vec::new();
        let (stripped, _) = self.strip_page(text, true, Some(&mut why), None);
        if stripped.capped {
            // The cap held back the learned line and template rules.
            why.retain(|w| {
                w.by_hand || matches!(w.rule, LineRuleKind::MarkerCut | LineRuleKind::AfterMarker)
            });
        }
        (stripped, why)
    }

    /// [`Stripper::strip`], with the cap on what line and template rules may take
    /// from a page on (`cap`) or off.
    pub(super) fn strip_with(&self, text: &str, cap: bool) -> Stripped {
        self.strip_page(text, cap, None, None).0
    }

    /// [`Stripper::strip_with`], and the page it read (none when there are no rules);
    /// `read` is the page read before, if it was.
    fn strip_page(
        &self,
        text: &str,
        cap: bool,
        mut why: Option<&mut Vec<RemovedLine>>,
        read: Option<PageRead>,
    ) -> (Stripped, Option<PageRead>) {
        let mut out = Stripped::default();
        if self.is_empty() {
            return (out, None);
        }
        let PageRead {
            page,
            labels,
            masked,
        } = self.read_page(text, read);
        // The first marker line that sits where a marker can cut (after enough of the
        // page, with text after it) cuts the rest; elsewhere it is removed alone.
        let n = page.lines.len();
        // It cuts only where it could have been counted as one.
        let cut = (0..n)
            .find(|&i| self.markers.contains(&page.lines[i].hash) && page.marker_candidate(i));
        let body = cut.unwrap_or(n);
        let masked = masked.unwrap_or_default();
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
            // Asked only of a line no other rule takes (nothing else needs it).
            let related = !(by_line || label.is_some() || mask.is_some())
                && self.related
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
                if let Some(why) = why.as_deref_mut() {
                    why.push(RemovedLine {
                        start: l.span.start,
                        end: l.span.next,
                        rule: self.kind_of(by_line, l.hash, label.is_some(), mask.is_some()),
                        by_hand: hand,
                    });
                }
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
            if let Some(why) = why {
                why.extend(
                    page.lines[m..]
                        .iter()
                        .enumerate()
                        .map(|(j, l)| RemovedLine {
                            start: l.span.start,
                            end: l.span.next,
                            rule: [LineRuleKind::AfterMarker, LineRuleKind::MarkerCut]
                                [(j == 0) as usize],
                            by_hand: false,
                        }),
                );
            }
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
        let masked = (!self.masked.is_empty()).then_some(masked);
        (
            out,
            Some(PageRead {
                page,
                labels,
                masked,
            }),
        )
    }

    /// `read`, or the page read now: its lines, their labels, and their masked keys
    /// when masked rules will ask about them (`None` otherwise).
    fn read_page(&self, text: &str, read: Option<PageRead>) -> PageRead {
        let mut read = read.unwrap_or_else(|| {
            let page = Page::new(&self.normalizer, text);
            PageRead {
                labels: page_labels(&self.normalizer, text, &page),
                page,
                masked: None,
            }
        });
        if self.masked.is_empty() {
            read.masked = None;
        } else if read.masked.is_none() {
            read.masked = Some(page_masked(&self.normalizer, &read.page));
        }
        read
    }

    /// The kind of rule that removed a line (`by_line`: a line or marker rule,
    /// standing alone; else a label, a masked pattern, or the related-headlines rule).
    fn kind_of(&self, by_line: bool, hash: u64, label: bool, mask: bool) -> LineRuleKind {
        if by_line && self.lines.contains(&hash) {
            LineRuleKind::Line
        } else if by_line {
            LineRuleKind::Marker
        } else if label {
            LineRuleKind::Label
        } else if mask {
            LineRuleKind::Masked
        } else {
            LineRuleKind::Related
        }
    }

    /// The normalizer the rules were learned with.
    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
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
    /// Pages stripped as learning had read them (`clean` without `--rules`,
    /// [`super::PageCache`]), without normalizing them again.
    pub pages_from_learning: u64,
}

impl StripStats {
    pub fn add(&mut self, o: &StripStats) {
        self.documents_stripped += o.documents_stripped;
        self.lines_removed += o.lines_removed;
        self.bytes_removed += o.bytes_removed;
        self.emptied += o.emptied;
        self.over_half += o.over_half;
        self.capped += o.capped;
        self.pages_from_learning += o.pages_from_learning;
    }
}
