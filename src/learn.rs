//! Learn: which lines of this corpus are boilerplate?
//!
//! Pages are grouped into stories (copies of one article, found by LSH on their own
//! text), lines are counted once per story, the counts become rules
//! ([`crate::boilerplate::Learned`]), and a last read finds each rule's examples.

use std::sync::Arc;

use rayon::prelude::*;

use crate::boilerplate::{self, LearnOptions, Learned, PageCache, Rules};
use crate::cluster::{self};
use crate::config::DedupConfig;
use crate::corpus::{self, Corpus};
use crate::error::{RunError, spill_err};
use crate::lsh::{self, DocId};
use crate::minhash::{self, Slot};
use crate::sketch::{Sketch, sketch_corpus};
use crate::spill::SpillArray;
use crate::state::{self, State};

/// While learning boilerplate, two raw pages are copies of one story when at least
/// this share of the smaller page's shingles is in the other (estimated containment).
/// Outlet wrappers and appended articles pull the Jaccard similarity of true copies
/// far down, but not their containment; unrelated pages of one outlet share only their
/// boilerplate, a small part of each.
pub const STORY_CONTAINMENT: f64 = 0.5;
/// Jaccard similarity the banding for story grouping is tuned to: a pair at
/// containment 0.5 with a page twice the other's size has Jaccard 0.25.
pub const STORY_JACCARD: f64 = 0.25;

/// Learn boilerplate rules from the corpus: group raw pages into stories, count lines
/// per story, then collect examples.
pub fn learn_rules(
    corpus: &Corpus,
    cfg: &DedupConfig,
    learn: &LearnOptions,
    progress: &indicatif::ProgressBar,
) -> Result<Rules, RunError> {
    let (counts, _, documents, stories, _) = story_counts(corpus, cfg, progress, false)?;
    let learned =
        Learned::new(cfg.normalize, &counts, learn, documents, stories).map_err(spill_err)?;
    drop(counts);
    crate::memory::stage(crate::memory::Stage::LearnRules);
    rules_with_examples(corpus, learned)
}

/// Chunks per thread read between two checks whether every rule has its first
/// example.
const FIRST_EXAMPLES_CHUNKS_PER_THREAD: usize = 2;

/// Rules learned for a run that strips right away (`clean`), with what is left to
/// finish during its sketch pass.
pub struct RunRules {
    /// The rules to strip with. Every rule has its first example, so the rules
    /// themselves are final; a template may still lack its further examples.
    pub rules: Rules,
    /// The learned keys before this run searched any example (with a state, seeded
    /// with the state's examples, as the search was): the sketch pass, which reads
    /// every page anyway, searches the examples again in the same order
    /// ([`crate::sketch::sketch_corpus`]), and the rules file is written from it.
    pub examples: Learned,
    /// The run's line counts for the state (with `--state`).
    pub lines: Option<PendingLines>,
    /// The pages learning read, for the sketch pass to strip without reading them
    /// again (none where no temporary file could be made).
    pub pages: Option<Arc<PageCache>>,
}

/// Learn rules for `clean`, with a state's statistics when given (a line then counts
/// the stories it was seen in over all runs): as [`learn_rules`], but the example
/// pass stops as soon
/// as every rule has one example. The further examples of templates (up to three
/// distinct ones, which may take a whole read of the corpus to find) are collected by
/// the sketch pass ([`RunRules::examples`]); the rules file comes out the same.
pub fn learn_rules_for_run(
    corpus: &Corpus,
    cfg: &DedupConfig,
    learn: &LearnOptions,
    st: Option<&State>,
    progress: &indicatif::ProgressBar,
) -> Result<RunRules, RunError> {
    let (counts, story, documents, stories, pages) = story_counts(corpus, cfg, progress, true)?;
    let (learned, lines, rare) = match st {
        Some(st) => {
            let none = state::LineStats::default();
            let previous = st.lines.as_ref().unwrap_or(&none);
            let day = state::Day::Counts(&counts);
            let learned = (previous.learned(day, documents, stories, learn, cfg.normalize))
                .map_err(spill_err)?;
            let lines = PendingLines {
                counts,
                story,
                learn: *learn,
                examples: Vec::new(),
            };
            (learned, Some(lines), None)
        }
        None => {
            let learned = Learned::new(cfg.normalize, &counts, learn, documents, stories)
                .map_err(spill_err)?;
            let rare = learned.rare_line_hashes(RARE_LINE_STORIES);
            let rare = RareLines {
                stories: counts.line_stories(&rare).map_err(spill_err)?,
                story,
            };
            drop(counts);
            (learned, None, Some(rare))
        }
    };
    crate::memory::stage(crate::memory::Stage::LearnRules);
    let examples = learned.clone();
    // The first example of a rule does not depend on where the search stops, so it
    // stops after any few chunks, not only after a group (what the further examples
    // depend on: the sketch pass searches them group by group).
    let batch = FIRST_EXAMPLES_CHUNKS_PER_THREAD * rayon::current_num_threads();
    let (rules, _) = search_examples(
        corpus,
        learned,
        Learned::has_first_examples,
        Some((batch, rare.as_ref())),
    )?;
    Ok(RunRules {
        rules,
        examples,
        lines,
        pages,
    })
}

impl PendingLines {
    /// Keep the examples of the rules the run used (known once the sketch pass
    /// collected them).
    pub fn set_examples(&mut self, examples: Vec<((u8, u64), Vec<String>)>) {
        self.examples = examples;
    }
}

/// A run's boilerplate line counts, waiting for the run's duplicates to be known
/// before they join a state's statistics.
pub struct PendingLines {
    counts: boilerplate::Counts,
    /// Story of every document (its first member).
    story: SpillArray<DocId>,
    learn: LearnOptions,
    /// Examples of the rules the run used.
    examples: Vec<((u8, u64), Vec<String>)>,
}

impl PendingLines {
    /// The statistics after this run: the state's, plus the counts of the stories
    /// none of whose pages copies a document of the state. A story republished over
    /// several days is thus counted once, on the day it first appeared, and its
    /// lines do not turn into boilerplate by being seen again.
    pub(crate) fn merged(
        self,
        previous: Option<state::LineStats>,
        copies_of_state: &[DocId],
        run: u32,
        cfg: &DedupConfig,
    ) -> std::io::Result<state::LineStats> {
        let mut excluded: Vec<DocId> = copies_of_state
            .iter()
            .filter_map(|&d| self.story.get(d as usize).copied())
            .collect();
        excluded.sort_unstable();
        excluded.dedup();
        let documents = self
            .story
            .iter()
            .filter(|s| excluded.binary_search(s).is_err())
            .count() as u64;
        let stories = self
            .story
            .iter()
            .enumerate()
            .filter(|&(d, &s)| s as usize == d && excluded.binary_search(&s).is_err())
            .count() as u64;
        let counts = self.counts.without_stories(&excluded);
        let mut lines = previous.unwrap_or_default();
        lines.learn = self.learn;
        lines.merge(
            state::Day::Counts(&counts),
            run,
            (documents, stories),
            cfg.state_lines_budget(),
            &cfg.spill_dir(),
        )?;
        lines.examples = self.examples;
        Ok(lines)
    }
}

/// Group raw pages into stories and count, for every line key, the stories it is in.
/// Returns the counts, the story of each document, the documents read, the number of
/// stories and, with `keep_pages`, the pages read ([`PageCache`]).
#[allow(clippy::type_complexity)]
fn story_counts(
    corpus: &Corpus,
    cfg: &DedupConfig,
    progress: &indicatif::ProgressBar,
    keep_pages: bool,
) -> Result<
    (
        boilerplate::Counts,
        SpillArray<DocId>,
        u64,
        u64,
        Option<Arc<PageCache>>,
    ),
    RunError,
> {
    // A run that learns starts here: what it holds and spills is counted from now.
    crate::memory::release_freed_memory(cfg.mem_limit.is_some());
    crate::memory::watch();
    crate::memory::reset();
    crate::spill::forget_spilled();
    crate::memory::stage(crate::memory::Stage::Learn);
    // 1. Stories: components of raw pages whose estimated containment reaches
    // STORY_CONTAINMENT.
    let story_cfg = DedupConfig {
        threshold: STORY_JACCARD,
        lsh: lsh::optimal_params(STORY_JACCARD, cfg.num_perm),
        ..cfg.clone()
    };
    // The same read gathers every page's line keys, so lines are counted without a
    // second pass.
    let mut sk = Sketch::new(&story_cfg);
    sk.line_keys = true;
    sk.own_text = true;
    if keep_pages {
        // Not named: it goes to disk whatever the memory, so it is not a spill.
        // The text of a compressed input is taken to be five times its size.
        let text: u64 = (corpus.inputs().iter())
            .map(|i| match i.compression {
                corpus::Compression::None => i.bytes,
                _ => i.bytes.saturating_mul(5),
            })
            .sum();
        sk.pages = PageCache::new(&cfg.spill_dir(), cfg.normalize, text).map(Arc::new);
        sk.keep_pages = true;
    }
    progress.reset();
    progress.set_message("learning boilerplate: reading pages");
    let mut table = sketch_corpus(corpus, &story_cfg, &sk, progress, None)?;
    if keep_pages {
        boilerplate::cache::free_buffers();
    }
    progress.finish_and_clear();
    crate::memory::stage(crate::memory::Stage::LearnStories);
    let sigs = table.signatures();
    // Text length stands in for the shingle-set size (they grow together).
    let (edges, _) = lsh::candidates_bounded(
        &sigs,
        story_cfg.lsh,
        cfg.seed,
        cfg.band_key_budget(),
        &cfg.spill_dir(),
        // Not remembered: this is the peak of `clean`'s memory, and the stories'
        // comparisons are cheap beside reading the pages.
        false,
        |a, b| {
            story_link(
                sigs.get(a),
                sigs.get(b),
                table.text_bytes[a as usize],
                table.text_bytes[b as usize],
            )
        },
    )
    .map_err(spill_err)?;
    let mut story = SpillArray::new(
        table.len(),
        0,
        cfg.column_budget(),
        &cfg.spill_dir().named("stories"),
    )
    .map_err(spill_err)?;
    story
        .iter_mut()
        .enumerate()
        .for_each(|(d, s)| *s = d as DocId);
    let comps = cluster::components_within(
        table.len(),
        &edges,
        std::iter::empty(),
        cfg.column_budget(),
        &cfg.spill_dir().named("components"),
    )
    .map_err(spill_err)?;
    drop(edges);
    for c in comps.iter() {
        for &m in c {
            story[m as usize] = c[0];
        }
    }
    let stories = (table.len() - (comps.members().len() - comps.len())) as u64;
    let documents = table.len() as u64;

    // 2. Counts of (line key, story). Signatures are not needed any more; free them
    // first.
    let keys = std::mem::take(&mut table.line_keys);
    drop(table);
    crate::memory::stage(crate::memory::Stage::LearnCounts);
    let counts =
        boilerplate::Counts::from_doc_keys(keys, &story, cfg.sort_budget(), &cfg.spill_dir())
            .map_err(spill_err)?;
    Ok((counts, story, documents, stories, sk.pages))
}

/// Line rules found in at most this many stories are rare: the first example of one
/// is searched in the pages of its stories only ([`search_rare_lines`]).
const RARE_LINE_STORIES: u64 = 64;

/// Where the pages of the rare line rules are.
struct RareLines {
    /// The stories each rare line (by hash) was counted in.
    stories: ahash::AHashMap<u64, Vec<DocId>>,
    /// The story of every document.
    story: SpillArray<DocId>,
}

/// The first examples of the line and marker rules with hashes in `missing`, all
/// rare: a line's example is its first occurrence in input order, and every page
/// that holds the line belongs to one of the stories it was counted in (every line
/// of every page is counted as a line key), so only those pages are read. Documents
/// are numbered as the learning's read numbered them, by record.
fn search_rare_lines(
    corpus: &Corpus,
    learned: &mut Learned,
    missing: &ahash::AHashSet<u64>,
    rare: &RareLines,
) -> Result<(), RunError> {
    let stories: ahash::AHashSet<DocId> = missing
        .iter()
        .flat_map(|h| rare.stories.get(h).into_iter().flatten().copied())
        .collect();
    let docs: Vec<u64> = (rare.story.iter().enumerate())
        .filter(|(_, s)| stories.contains(s))
        .map(|(d, _)| d as u64)
        .collect();
    let mut first = 0;
    corpus.for_each_group(|group| -> Result<(), RunError> {
        if learned.has_first_examples() {
            return Ok(());
        }
        let bases = crate::sketch::chunk_bases(group, first);
        first = bases[group.len()];
        let found: Vec<Vec<((u8, u64), String)>> = (group.par_iter())
            .zip(bases.par_windows(2))
            .map(|(c, range)| {
                let (lo, hi) = (range[0], range[1]);
                let at = docs.partition_point(|&d| d < lo);
                let mut wanted = docs[at..].iter().take_while(|&&d| d < hi).peekable();
                let mut found = Vec::new();
                if wanted.peek().is_none() {
                    return found;
                }
                let mut buf = String::new();
                let format = corpus.inputs()[c.source].format;
                for (d, rec) in (lo..).zip(c.records()) {
                    if wanted.next_if_eq(&&d).is_none() {
                        continue;
                    }
                    if let Ok(doc) = corpus::parse(&rec, format, corpus.options()) {
                        found.extend(learned.find_line_examples(&doc.text, missing, &mut buf));
                    }
                }
                Learned::first_examples(&mut found);
                found
            })
            .collect();
        learned.add_examples(found.into_iter().flatten());
        Ok(())
    })
}

/// Whether two raw pages of `la` and `lb` bytes are copies of one story: their
/// estimated containment when it reaches [`STORY_CONTAINMENT`]. Text length stands in
/// for the shingle-set size (they grow together).
pub fn story_link(a: &[Slot], b: &[Slot], la: u64, lb: u64) -> Option<f64> {
    let j = minhash::estimate(a, b);
    let (la, lb) = (la as f64, lb as f64);
    let smaller = la.min(lb).max(1.0);
    let containment = (j * (la + lb) / ((1.0 + j) * smaller)).min(1.0);
    (containment >= STORY_CONTAINMENT).then_some(containment)
}

/// The rules of `learned`, with the examples their text comes from.
fn rules_with_examples(corpus: &Corpus, learned: Learned) -> Result<Rules, RunError> {
    search_examples(corpus, learned, Learned::has_all_examples, None).map(|r| r.0)
}

/// Search the examples of the rules, in input order, until `stop` holds. With
/// `first_only` (a batch of chunks, and where the rare lines are), only first
/// examples are searched (`stop` is [`Learned::has_first_examples`]): once the rules
/// without one are all line rules, pages are read for their line hashes only
/// ([`Learned::find_line_examples`]), and once they are all rare lines, only the
/// pages of their stories are ([`search_rare_lines`]). Examples past the first may
/// then be missing, which the rules stripped with do not depend on.
#[allow(clippy::type_complexity)]
fn search_examples(
    corpus: &Corpus,
    mut learned: Learned,
    stop: fn(&Learned) -> bool,
    first_only: Option<(usize, Option<&RareLines>)>,
) -> Result<(Rules, Vec<((u8, u64), Vec<String>)>), RunError> {
    let batch = first_only.map(|f| f.0);
    let rare = first_only.and_then(|f| f.1);
    // The rare lines still without an example once every other rule has one: they
    // are searched in their own stories' pages only (`search_rare_lines`).
    let mut rare_left = None;
    // 3. Examples: searched in parallel, kept in input order; the read stops early
    // once `stop` holds, checked after every group of the corpus or, with `batch`,
    // after every `batch` chunks.
    let mut done = stop(&learned);
    corpus.for_each_group(|group| -> Result<(), RunError> {
        for chunks in group.chunks(batch.unwrap_or(group.len()).max(1)) {
            if done {
                return Ok(());
            }
            // Searching first examples only, once the rules still without one are
            // all line rules, each page's line hashes are all the search needs.
            let lines_only = batch
                .is_some()
                .then(|| learned.missing_line_hashes())
                .flatten();
            let found: Vec<Vec<((u8, u64), String)>> = chunks
                .par_iter()
                .map(|c| {
                    let mut buf = String::new();
                    let format = corpus.inputs()[c.source].format;
                    let mut found: Vec<_> = c
                        .records()
                        .filter_map(|rec| corpus::parse(&rec, format, corpus.options()).ok())
                        .flat_map(|doc| match &lines_only {
                            Some(hashes) => learned.find_line_examples(&doc.text, hashes, &mut buf),
                            None => learned.find_examples(&doc.text),
                        })
                        .collect();
                    Learned::first_examples(&mut found);
                    found
                })
                .collect();
            learned.add_examples(found.into_iter().flatten());
            done = stop(&learned);
            if !done
                && let Some(rare) = rare
                && let Some(missing) = learned.missing_line_hashes()
                && missing.iter().all(|h| rare.stories.contains_key(h))
            {
                rare_left = Some(missing);
                done = true;
            }
        }
        Ok(())
    })?;
    if let (Some(missing), Some(rare)) = (rare_left, rare) {
        search_rare_lines(corpus, &mut learned, &missing, rare)?;
    }
    let examples = learned.rule_examples();
    Ok((learned.into_rules(), examples))
}
