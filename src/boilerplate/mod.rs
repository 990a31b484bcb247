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

pub mod cache;
mod decide;
mod keys;
pub mod page;
mod rules;
mod strip;
pub mod words;

pub use cache::PageCache;
pub use decide::{Found, Learned};
pub use keys::{Counts, TAIL_KINDS, floor, line_keys, line_keys_joined, pack_key, unpack_key};
pub use page::PageRead;
pub use rules::{
    Evidence, LearnedFrom, LineRule, MarkerRule, Rules, RulesError, TemplateKind, TemplateRule,
};
pub use strip::{LineRuleKind, RemovedLine, StripStats, Stripped, Stripper};

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

#[cfg(test)]
mod tests {
    use super::decide::*;
    use super::keys::*;
    use super::*;
    use crate::lsh::DocId;
    use crate::normalize::{NormalizeOptions, Normalizer};
    use std::collections::HashSet;

    fn learn(docs: &[(DocId, &str)], min_docs: u64) -> Rules {
        let mut learned = learned(docs, min_docs);
        for d in docs {
            let found = learned.find_examples(d.1);
            learned.add_examples(found);
        }
        learned.into_rules()
    }

    /// The keys learned from `docs` (story of each, text), before any example.
    fn learned(docs: &[(DocId, &str)], min_docs: u64) -> Learned {
        let opts = NormalizeOptions::default();
        let n = Normalizer::new(opts);
        // As `learn::learn_rules` does: keys per document, then documents mapped to
        // their stories.
        let (mut keys, mut out) = (Vec::new(), Vec::new());
        for (d, &(_, text)) in docs.iter().enumerate() {
            out.clear();
            line_keys(&n, text, &mut out);
            keys.extend(out.iter().map(|&(k, h)| pack_key(k, h, d as DocId)));
        }
        let story: Vec<DocId> = docs.iter().map(|d| d.0).collect();
        let counts = Counts::from_doc_keys(keys.into(), &story, usize::MAX, &Default::default())
            .expect("counts in memory");
        let stories = docs.iter().map(|d| d.0).collect::<HashSet<_>>().len() as u64;
        Learned::new(
            opts,
            &counts,
            &LearnOptions {
                min_docs,
                min_fraction: 0.0,
            },
            docs.len() as u64,
            stories,
        )
        .expect("counts in memory")
    }

    /// The search by line hash finds the line and marker examples the full search
    /// finds, in the same order, also on lines with surrounding spaces and CRLF.
    #[test]
    fn line_hash_search_finds_what_the_full_search_finds() {
        let mut pages = pages("Read also:");
        pages[2] = pages[2].replace("Follow us on WhatsApp\n", "  Follow us  on WhatsApp \r\n\n");
        pages[4] = pages[4].replace("\n", "\r\n");
        let docs: Vec<(DocId, &str)> = (pages.iter().enumerate())
            .map(|(i, p)| (i as DocId, p.as_str()))
            .collect();
        let mut learned = learned(&docs, 5);
        // Label rules have no example yet: the search must read whole pages.
        assert_eq!(learned.missing_line_hashes(), None);
        let mut buf = String::new();
        let full: Vec<_> = docs.iter().map(|d| learned.find_examples(d.1)).collect();
        let hashes: ahash::AHashSet<u64> = full
            .iter()
            .flatten()
            .filter(|((kind, _), _)| [KIND_LINE, KIND_MARKER].contains(kind))
            .map(|((_, h), _)| *h)
            .collect();
        assert!(hashes.len() >= 2, "a line and a marker rule: {full:?}");
        assert!(
            full.iter()
                .flatten()
                .any(|((kind, _), _)| *kind == KIND_MARKER)
        );
        for (d, found) in docs.iter().zip(&full) {
            let lines_only: Vec<_> = (found.iter())
                .filter(|((kind, _), _)| [KIND_LINE, KIND_MARKER].contains(kind))
                .cloned()
                .collect();
            assert_eq!(
                learned.find_line_examples(d.1, &hashes, &mut buf),
                lines_only
            );
        }
        assert!(
            full[2]
                .iter()
                .any(|(_, line)| line == "Follow us  on WhatsApp")
        );
        for found in full {
            learned.add_examples(found);
        }
        assert_eq!(learned.missing_line_hashes(), Some(Default::default()));
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
            let text = &pages[0];
            let st = s.strip(text);
            let kept = st.apply(text);
            assert!(
                kept.starts_with("Title storya\nstorya paragraph 1"),
                "{kept}"
            );
            assert!(kept.ends_with("as a reporter wrote it."), "{kept}");
            assert_eq!(st.lines_removed, 7);
        }
    }

    /// `explain` names a rule for every removed line, and its lines cover exactly
    /// what `strip` removes.
    #[test]
    fn explain_names_the_rule_of_every_removed_line() {
        let pages = pages("Read also:");
        let docs: Vec<(DocId, &str)> = pages
            .iter()
            .enumerate()
            .map(|(i, p)| (i as DocId, p.as_str()))
            .collect();
        let s = Stripper::new(learn(&docs, 5));
        let text = &pages[0];
        let (st, why) = s.explain(text);
        assert_eq!(st, s.strip(text));
        let kinds: Vec<(LineRuleKind, &str)> = why
            .iter()
            .map(|w| (w.rule, text[w.start..w.end].trim_end()))
            .collect();
        assert_eq!(
            kinds[..4],
            [
                (LineRuleKind::Label, "Published: 1 March 2024"),
                (LineRuleKind::Line, "Follow us on WhatsApp"),
                (LineRuleKind::Label, "Source: Alpha"),
                (LineRuleKind::MarkerCut, "Read also:"),
            ]
        );
        assert!(kinds[4..].iter().all(|k| k.0 == LineRuleKind::AfterMarker));
        assert_eq!(why.len() as u64, st.lines_removed);
        // Merged, the lines are the ranges removed.
        let mut merged: Vec<(usize, usize)> = Vec::new();
        for w in &why {
            match merged.last_mut() {
                Some(last) if last.1 >= w.start => last.1 = last.1.max(w.end),
                _ => merged.push((w.start, w.end)),
            }
        }
        assert_eq!(merged, st.ranges);
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
        let st = s.strip("T\nAbu Huraira reported");
        assert!(st.ranges.is_empty() && st.capped);
        // Nor is a page's first line (its title or opening) taken by a line rule.
        assert!(s.strip("Abu Huraira reported\nT").ranges.is_empty());
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
        assert!(Stripper::new(r).strip(&pages[0]).ranges.is_empty());
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
        let text = "A paragraph of the page's own text.\nADVERTISEMENT\nAnother paragraph of it.";
        assert_eq!(
            s.strip(text).apply(text),
            "A paragraph of the page's own text.\nAnother paragraph of it."
        );
    }
}
