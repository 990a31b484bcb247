//! `dupstrip clean` (and `boilerplate learn|strip`, which take the same options): learn
//! or load rules, then run.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use std::sync::Arc;

use dupstrip::boilerplate::{LearnOptions, Rules, Stripper};
use dupstrip::config::{DedupConfig, EmptyPolicy};
use dupstrip::report::Report;
use dupstrip::{learn, output, pipeline};

use super::dedup::{CLEAN_DEFAULTS, DedupArgs, finish, open_state, prepare, ready_state};

pub(super) const CLEAN_EXAMPLES: &str = "\
Defaults differ from dedup: word 3-grams (--ngram 3) and --threshold 0.5 with exact
verification of borderline pairs, measured to find syndicated copies whose words were
edited in many sentences once boilerplate is gone (ARCHITECTURE.md).

Examples:
  # Learn boilerplate from the dump itself, strip it, drop near-duplicates
  dupstrip clean crawl.jsonl -o clean.jsonl --report report.json --save-rules rules.json

  # Nightly: reuse reviewed rules instead of relearning
  dupstrip clean day.jsonl.zst --rules rules.json -o day.clean.jsonl.zst

  # Keep text, mark boilerplate byte ranges and duplicates
  dupstrip clean crawl.jsonl -o annotated.jsonl --mode annotate

  # Review what it removes (clusters, rules, stripped lines) in a browser, then one pair
  dupstrip clean crawl.jsonl -o clean.jsonl --html review.html
  dupstrip explain crawl.jsonl --ids ID_A ID_B";

#[derive(ValueEnum, Clone, Copy, Debug)]
pub(super) enum EmptyArg {
    /// Write it with its (empty) stripped text.
    Keep,
    /// Leave it out; counted as emptied_dropped in the report.
    Drop,
}

#[derive(Args, Debug)]
pub(super) struct CleanArgs {
    #[command(flatten)]
    pub(super) common: DedupArgs,

    /// Boilerplate rules file to apply instead of learning (clean, strip).
    #[arg(long, value_name = "FILE", help_heading = "Boilerplate")]
    pub(super) rules: Option<PathBuf>,

    /// Also write the rules learned by this run (clean).
    #[arg(long, value_name = "FILE", help_heading = "Boilerplate")]
    pub(super) save_rules: Option<PathBuf>,

    /// A rule needs its line in at least this many distinct stories (copies of one
    /// syndicated story count once), and evidence that it is not the page's own text:
    /// a line standing alone, a label with field values, a marker followed by a
    /// foreign article. The rules file records the evidence (docs/boilerplate.md,
    /// "What is learned").
    #[arg(long, default_value_t = 5, help_heading = "Boilerplate")]
    pub(super) min_docs: u64,

    /// …and in at least this share of all stories (0: off).
    #[arg(long, default_value_t = 0.0, help_heading = "Boilerplate")]
    pub(super) min_fraction: f64,

    /// Stripped texts shorter than this many characters count as emptied.
    #[arg(long, default_value_t = 1, help_heading = "Boilerplate")]
    pub(super) min_chars: usize,

    /// What to do with a document that stripping leaves empty (or under --min-chars)
    /// (clean; `boilerplate strip` always keeps every document).
    #[arg(long, value_enum, default_value_t = EmptyArg::Drop, help_heading = "Boilerplate")]
    pub(super) on_empty: EmptyArg,
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Action {
    Clean,
    Learn,
    Strip,
}

/// The learning options of `clean`'s flags, checked.
pub(super) fn learn_options(a: &CleanArgs) -> Result<LearnOptions> {
    if !(0.0..=1.0).contains(&a.min_fraction) {
        anyhow::bail!(
            "--min-fraction must be between 0 and 1, got {}",
            a.min_fraction
        );
    }
    if a.min_docs < 2 {
        anyhow::bail!("--min-docs must be at least 2, got {}", a.min_docs);
    }
    Ok(LearnOptions {
        min_docs: a.min_docs,
        min_fraction: a.min_fraction,
    })
}

/// The flags `clean` adds to `dedup`'s config.
pub(super) fn clean_flags(
    cfg: &mut DedupConfig,
    min_chars: usize,
    on_empty: EmptyArg,
    action: Action,
) {
    cfg.min_chars = min_chars;
    cfg.on_empty = match on_empty {
        EmptyArg::Keep => EmptyPolicy::Keep,
        EmptyArg::Drop => EmptyPolicy::Drop,
    };
    if action == Action::Strip {
        cfg.on_empty = EmptyPolicy::Keep;
    }
}

pub(super) fn clean(a: CleanArgs, action: Action) -> Result<Option<Report>> {
    let learn = learn_options(&a)?;
    if action != Action::Clean && a.common.state.is_some() {
        anyhow::bail!("--state works with `dedup` and `clean`, not with `boilerplate learn|strip`");
    }
    if action == Action::Learn && a.common.html.is_some() {
        anyhow::bail!(
            "--html works with `dedup`, `clean` and `boilerplate strip`, not with `boilerplate learn`"
        );
    }
    if action == Action::Strip && a.rules.is_none() {
        anyhow::bail!(
            "boilerplate strip needs --rules FILE (learn one with `dupstrip boilerplate learn`)"
        );
    }
    let state_dir = a.common.state.clone();
    let match_ids = !a.common.no_id_match;
    let (mut cfg, mut paths, corpus, skipped, progress, quiet) =
        prepare(a.common, &CLEAN_DEFAULTS)?;
    paths.rules = a.save_rules.clone();
    clean_flags(&mut cfg, a.min_chars, a.on_empty, action);
    output::check_outputs(&corpus, &paths)?;
    let mut state = open_state(state_dir.as_deref(), &cfg, true)?;
    let (mut fingerprint, mut replaces) = (String::new(), None);
    if let Some(st) = state.as_mut() {
        (fingerprint, replaces) = ready_state(st, &corpus, match_ids)?;
    }
    let learn_start = std::time::Instant::now();
    let (mut lines, mut examples, mut pages) = (None, None, None);
    let (rules, source) = match (&a.rules, &state) {
        (Some(p), _) => (Rules::load(p)?, p.display().to_string()),
        (None, _) if action == Action::Learn => (
            learn::learn_rules(&corpus, &cfg, &learn, &progress)?,
            "learned".to_string(),
        ),
        (None, st) => {
            // The sketch pass completes the examples (and writes --save-rules).
            let run = learn::learn_rules_for_run(&corpus, &cfg, &learn, st.as_ref(), &progress)?;
            (lines, examples, pages) = (run.lines, Some(run.examples), run.pages);
            let source = if st.is_some() {
                "learned (with the state's statistics)"
            } else {
                "learned"
            };
            (run.rules, source.to_string())
        }
    };
    if action == Action::Learn {
        output::write_rules(&paths.output, &rules)?;
        if !quiet {
            let from = rules.learned_from.clone().unwrap_or_default();
            eprintln!(
                "dupstrip: learned {} line, {} template and {} marker rules from {} documents ({} stories; a rule needs {} stories)",
                rules.lines.len(),
                rules.templates.len(),
                rules.markers.len(),
                from.documents,
                from.stories,
                from.required_stories
            );
        }
        return Ok(None);
    }
    let job = pipeline::Job {
        command: if action == Action::Strip {
            "strip"
        } else {
            "clean"
        },
        stripper: Some(Arc::new(Stripper::new(rules))),
        dedup: action == Action::Clean,
        rules_source: Some(source),
        learn_seconds: dupstrip::timings::secs(learn_start.elapsed()),
        state,
        lines,
        examples,
        fingerprint,
        replaces,
        pages,
    };
    let report = pipeline::run(&corpus, &cfg, &paths, skipped, &progress, job)?;
    finish(&report, &paths, quiet)?;
    Ok(Some(report))
}
