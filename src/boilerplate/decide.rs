//! Decide: which counted keys have the recurrence and the evidence to become rules, and
//! what are their examples?

use std::collections::HashMap;

use super::keys::{
    Counts, KIND_FOLLOW, KIND_LABEL, KIND_LABEL_ANYWHERE, KIND_LINE, KIND_LINE_ALONE,
    KIND_LINE_EDGE, KIND_MARKER, KIND_MARKER_ARTICLE, KIND_MASKED, KIND_RELATED, KIND_TAIL_UNIT,
    field_label, page_labels, page_masked, related_line,
};
use super::page::PageRead;
use super::rules::{
    Evidence, LearnedFrom, LineRule, MarkerRule, Rules, TemplateKind, TemplateRule,
};
use super::strip::Stripper;
use super::*;
use crate::normalize::{NormalizeOptions, Normalizer};
use page::{Page, label_of};

pub(super) fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        // Rounded, so the rules file reads well; decisions use the same figure.
        (part as f64 / whole as f64 * 1000.0).round() / 1000.0
    }
}

/// Something per counted key (asked several times per line while examples are
/// searched: a fast hash).
pub(super) type Keyed<T> = ahash::AHashMap<(u8, u64), T>;

/// Decide which keys are rules, from the story counts of every key at or over its
/// [`floor`]. Returns the rule keys with their story counts, and their evidence.
pub(super) fn decide(
    counts: &HashMap<(u8, u64), u64>,
    required: u64,
) -> (Keyed<u64>, Keyed<Evidence>) {
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
    let mut rules = Keyed::default();
    let mut evidence = Keyed::default();
    let mut keys: Vec<(&(u8, u64), &u64)> = counts.iter().collect();
    keys.sort_unstable();
    for (&(kind, h), &n) in keys {
        if n < required {
            continue;
        }
        match kind {
            KIND_MARKER => {
                if let Some(e) = marker_evidence(counts, h, n, &units, &next_lines) {
                    rules.insert((KIND_MARKER, h), n);
                    evidence.insert((KIND_MARKER, h), e);
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

/// The evidence of marker key `h`, seen in `n` stories, when it proves a marker: what
/// follows it is another article in most of its pages (the same tails recurring
/// under unrelated stories, or varying headlines), and it is followed in most.
fn marker_evidence(
    counts: &HashMap<(u8, u64), u64>,
    h: u64,
    n: u64,
    units: &HashMap<u64, Vec<u64>>,
    next_lines: &HashMap<u64, Vec<u64>>,
) -> Option<Evidence> {
    let get = |k: u8, h: u64| counts.get(&(k, h)).copied().unwrap_or(0);
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
    let proof = proof?;
    (followed >= MARKER_FOLLOWED_SHARE).then(|| Evidence {
        stories: n,
        followed: Some(followed),
        article_tails: Some(article_share),
        recurring_tails: Some(t.len() as u64),
        recurring_tail_stories: Some(recurring),
        top_tail: Some(top_share),
        proof: Some(proof.into()),
        ..Evidence::default()
    })
}

/// Lines found that match a rule, with the rule's key, in input order.
pub type Found = Vec<((u8, u64), String)>;

/// Learned keys, waiting for their examples.
#[derive(Clone)]
pub struct Learned {
    normalizer: Normalizer,
    frequent: Keyed<u64>,
    evidence: Keyed<Evidence>,
    examples: Keyed<Vec<String>>,
    from: LearnedFrom,
}

impl Learned {
    /// Decide which keys are rules. `documents` and `stories` describe the corpus.
    pub fn new(
        opts: NormalizeOptions,
        counts: &Counts,
        learn: &LearnOptions,
        documents: u64,
        stories: u64,
    ) -> std::io::Result<Learned> {
        let required = learn.required(stories);
        Ok(Learned::from_story_counts(
            opts,
            counts.story_counts(required)?,
            learn,
            documents,
            stories,
        ))
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
            examples: Keyed::default(),
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
        let mut frequent = Keyed::default();
        let mut evidence = Keyed::default();
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
            examples: Keyed::default(),
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

    /// The hashes of the rules still without an example, when every one of them is a
    /// line or marker rule: the example of such a rule is any line with its hash, so
    /// a search for them needs only the hash of each line
    /// ([`Learned::find_line_examples`]), not the shapes, labels and patterns
    /// [`Learned::find_examples`] reads. The last rules to find their first example
    /// are rare lines, which may sit anywhere in a corpus.
    pub fn missing_line_hashes(&self) -> Option<ahash::AHashSet<u64>> {
        let mut hashes = ahash::AHashSet::new();
        for k in self.frequent.keys() {
            if self.examples.get(k).is_some_and(|e| !e.is_empty()) {
                continue;
            }
            if k.0 != KIND_LINE && k.0 != KIND_MARKER {
                return None;
            }
            hashes.insert(k.1);
        }
        Some(hashes)
    }

    /// The hashes of the line and marker rules found in at most `max_stories`
    /// stories.
    pub fn rare_line_hashes(&self, max_stories: u64) -> ahash::AHashSet<u64> {
        (self.frequent.iter())
            .filter(|&(&(kind, _), &n)| {
                (kind == KIND_LINE || kind == KIND_MARKER) && n <= max_stories
            })
            .map(|(&(_, h), _)| h)
            .collect()
    }

    /// [`Learned::find_examples`] for the line and marker rules whose hashes are in
    /// `hashes`: every line of `text` is normalized and hashed, as a page reads it
    /// ([`Page::new`]), and nothing else is read.
    pub fn find_line_examples(
        &self,
        text: &str,
        hashes: &ahash::AHashSet<u64>,
        buf: &mut String,
    ) -> Vec<((u8, u64), String)> {
        let mut found = Vec::new();
        for l in page::lines(text) {
            let raw = &text[l.start..l.end];
            self.normalizer.normalize_into(raw, buf);
            if buf.is_empty() {
                continue;
            }
            let h = xxhash_rust::xxh3::xxh3_64(buf.as_bytes());
            if !hashes.contains(&h) {
                continue;
            }
            // In the order `examples_of` gives them.
            for k in [(KIND_LINE, h), (KIND_MARKER, h)] {
                if self.frequent.contains_key(&k) {
                    found.push((k, raw.trim().to_string()));
                }
            }
        }
        found
    }

    /// The lines of `text` that match a rule, with the rule's key. Pure, so documents
    /// can be searched in parallel; [`Learned::add_examples`] keeps them in order.
    pub fn find_examples(&self, text: &str) -> Vec<((u8, u64), String)> {
        let mut found = Vec::new();
        if self.frequent.is_empty() {
            return found;
        }
        let page = Page::new(&self.normalizer, text);
        let labels = page_labels(&self.normalizer, text, &page);
        let masked = page_masked(&self.normalizer, &page);
        self.examples_of(text, &page, &labels, &masked, |_| true, &mut found);
        found
    }

    /// [`Learned::find_examples`] on a page stripping read with the same
    /// normalization, appended to `found`; lines of rules that have all their examples
    /// already are left out (they could not change them).
    pub fn examples_on(&self, text: &str, read: &PageRead, found: &mut Vec<((u8, u64), String)>) {
        if self.frequent.is_empty() {
            return;
        }
        let own;
        let masked = match &read.masked {
            Some(m) => m,
            None => {
                own = page_masked(&self.normalizer, &read.page);
                &own
            }
        };
        let wants = |k: &(u8, u64)| {
            self.frequent.contains_key(k) && self.examples.get(k).is_none_or(|e| e.len() < EXAMPLES)
        };
        self.examples_of(text, &read.page, &read.labels, masked, wants, found);
    }

    /// The normalizer the keys were counted with.
    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }

    fn examples_of(
        &self,
        text: &str,
        page: &Page,
        labels: &[Option<(u64, bool)>],
        masked: &[Option<u64>],
        wants: impl Fn(&(u8, u64)) -> bool,
        found: &mut Vec<((u8, u64), String)>,
    ) {
        let wanted = |k: &(u8, u64)| self.frequent.contains_key(k) && wants(k);
        // Only a wanted key costs more than a look-up: a label's field test and the
        // related-headlines test run for lines whose key is wanted.
        let related = (KIND_RELATED, 0);
        let related_wanted = wanted(&related);
        for (i, l) in page.lines.iter().enumerate() {
            let line = &text[l.span.start..l.span.end];
            let mut push = |k| found.push((k, line.trim().to_string()));
            for k in [(KIND_LINE, l.hash), (KIND_MARKER, l.hash)] {
                if wanted(&k) {
                    push(k);
                }
            }
            if let Some(m) = masked[i].map(|m| (KIND_MASKED, m))
                && wanted(&m)
            {
                push(m);
            }
            if let Some((k, once)) = labels[i]
                && wanted(&(KIND_LABEL, k))
                && field_label(text, page, i, once)
            {
                push((KIND_LABEL, k));
            }
            if related_wanted
                && i > 0
                && !l.in_flow
                && related_line(&self.normalizer, page.normalized(i), l)
            {
                push(related);
            }
        }
    }

    /// True once every rule has an example: the rules (lines, patterns) are then
    /// what they will be; only the further examples of templates may change.
    pub fn has_first_examples(&self) -> bool {
        self.without_first_example() == 0
    }

    /// The learned keys without an example yet.
    pub fn without_first_example(&self) -> usize {
        (self.frequent.keys())
            .filter(|k| self.examples.get(k).is_none_or(|e| e.is_empty()))
            .count()
    }

    /// Of examples found in input order, the first [`EXAMPLES`] distinct ones of
    /// each key, in order: [`Learned::add_examples`] keeps the same from them as from
    /// all (a key with `m` examples needs `EXAMPLES - m` new ones, and at most `m` of
    /// the first [`EXAMPLES`] distinct ones are known). Keeps what a part of the
    /// corpus holds on to small.
    pub fn first_examples(found: &mut Vec<((u8, u64), String)>) {
        let mut kept: HashMap<(u8, u64), Vec<&str>> = HashMap::new();
        let keep: Vec<bool> = found
            .iter()
            .map(|(k, line)| {
                let seen = kept.entry(*k).or_default();
                let new = seen.len() < EXAMPLES && !seen.contains(&line.as_str());
                if new {
                    seen.push(line);
                }
                new
            })
            .collect();
        let mut keep = keep.into_iter();
        found.retain(|_| keep.next().unwrap_or(false));
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
        // Each line is tried as the second line of a page (rules never take a
        // page's first line).
        let covered = |s: &Stripper, line: &str| {
            !s.strip_with(&format!("x\n{line}"), false).ranges.is_empty()
        };
        rules.lines.retain(|r| !covered(&templates_only, &r.line));
        rules.templates.retain(|t| {
            t.kind == TemplateKind::Label
                || t.examples.first().is_none_or(|e| !covered(&labels_only, e))
        });
        rules
    }
}
