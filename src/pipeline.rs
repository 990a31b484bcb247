//! Pipeline: in which order do the stages run for `dedup`, `clean` and `boilerplate
//! strip`? Only the order lives here; each step is its stage's module.
//!
//! 0. learn — `clean` without `--rules` learns them first ([`crate::learn`], called by
//!    the binary, with a state's statistics under `--state`).
//! 1. sketch — one parallel pass over the corpus: parse, strip, normalize, shingle,
//!    sign ([`crate::sketch`]). Only small per-document values stay in memory (id,
//!    text length, signature).
//! 2. candidates and clusters — LSH banding and bucket confirmation ([`crate::lsh`]),
//!    the state's documents ([`crate::cluster::History`]), components and keep/duplicate
//!    decisions verified as `--verify` says ([`crate::verify`], [`crate::cluster`]).
//! 3. write — a last read of the corpus writes the records in input order, then the
//!    clusters and rejects files ([`crate::output`]).
//! 4. state — the kept documents and boilerplate counts are committed to the state.
//! 5. report — what the run did ([`crate::report`]).

use std::sync::Arc;
use std::time::Instant;

use crate::boilerplate::{Learned, Rules, Stripper};
use crate::cluster::{Clustering, Role, cluster_docs};
use crate::config::{DedupConfig, EmptyPolicy, Mode, OutputPaths};
use crate::corpus::Corpus;
use crate::error::{RunError, spill_err};
use crate::learn::PendingLines;
use crate::lsh::DocId;
use crate::memory;
use crate::output::{Written, check_outputs, write_outputs, write_rules};
use crate::report::{self, Bytes, Counts, InputReport, LshReport, Report};
use crate::review;
use crate::sketch::{DocTable, Sketch, sketch_corpus};
use crate::spill::SpillArray;
use crate::state::{self, State};
use crate::timings::{self, Timings};

/// What a run does beyond reading: which command it is, the boilerplate rules
/// applied before anything else, and whether near-duplicates are searched.
pub struct Job {
    pub command: &'static str,
    pub stripper: Option<Arc<Stripper>>,
    pub dedup: bool,
    /// Rules summary for the report (where the rules came from).
    pub rules_source: Option<String>,
    /// Seconds spent learning the rules before the run (`clean` without --rules).
    pub learn_seconds: f64,
    /// The state to deduplicate against and add the kept documents to (`--state`).
    pub state: Option<State>,
    /// Boilerplate counts to add to the state (runs that learned with a state).
    pub lines: Option<PendingLines>,
    /// Rules learned for this run, whose examples the sketch pass completes
    /// ([`crate::learn::RunRules`]); the rules file and the report are written from
    /// them.
    pub examples: Option<Learned>,
    /// [`Corpus::fingerprint`] of the input (runs with a state).
    pub fingerprint: String,
    /// The state's last run, which this run repeats and replaces.
    pub replaces: Option<u32>,
    /// Pages learning read for this run ([`crate::learn::RunRules::pages`]).
    pub pages: Option<Arc<crate::boilerplate::PageCache>>,
}

impl Job {
    pub fn dedup() -> Job {
        Job {
            command: "dedup",
            stripper: None,
            dedup: true,
            rules_source: None,
            learn_seconds: 0.0,
            state: None,
            lines: None,
            examples: None,
            fingerprint: String::new(),
            replaces: None,
            pages: None,
        }
    }
}

/// Run `dedup`, `clean` or `boilerplate strip` end to end.
pub fn run(
    corpus: &Corpus,
    cfg: &DedupConfig,
    paths: &OutputPaths,
    skipped_files: Vec<String>,
    progress: &indicatif::ProgressBar,
    mut job: Job,
) -> Result<Report, RunError> {
    let start = Instant::now();
    start_memory(&job, cfg);
    check_outputs(corpus, paths)?;
    let mut timings = Timings::default();
    let mut sk = Sketch::new(cfg).with_stripper(job.stripper.clone());
    sk.pages = job.pages.take();
    sk.signatures = job.dedup;
    sk.text_hashes = job.state.is_some();

    let t = Instant::now();
    memory::stage(memory::Stage::Sketch);
    progress.reset();
    progress.set_message(if job.dedup { "sketching" } else { "stripping" });
    let mut examples = job.examples.take();
    let mut table = sketch_corpus(corpus, cfg, &sk, progress, examples.as_mut())?;
    // The pages learning kept were for this pass: their room on disk is given back
    // before the output is written.
    if sk.pages.take().is_some() {
        crate::boilerplate::cache::free_buffers();
    }
    timings.sketch = timings::secs(t.elapsed());
    progress.finish_and_clear();
    let rules = finish_rules(&mut job, examples);
    if let (Some(p), Some(r)) = (&paths.rules, &rules) {
        write_rules(p, r)?;
    }

    memory::stage(memory::Stage::Candidates);
    let mut clustering = if job.dedup {
        cluster_docs(corpus, cfg, &sk, &table, job.state.as_ref())?
    } else {
        Clustering::without_dedup(cfg, &table)?
    };
    timings.candidates = clustering.candidate_seconds;
    timings.cluster = clustering.cluster_seconds;
    table.history_ids = std::mem::take(&mut clustering.history.ids);

    let t = Instant::now();
    memory::stage(memory::Stage::Write);
    let written = write_outputs(
        corpus,
        cfg,
        &sk,
        &table,
        &clustering,
        paths,
        job.state.is_some(),
    )?;
    timings.write = timings::secs(t.elapsed());
    let t = Instant::now();
    memory::stage(memory::Stage::Html);
    let review = (paths.html.as_ref())
        .map(|_| {
            review::collect(
                corpus,
                &table,
                &clustering,
                job.stripper.as_deref(),
                rules.as_ref(),
            )
        })
        .transpose()?;
    corpus.release_input();
    let review_time = t.elapsed();
    // The state changes only once the output is in place: a run stopped before
    // this point can be repeated with the same result.
    memory::stage(memory::Stage::State);
    let state_report = commit_state(&mut job, corpus, cfg, &table, &clustering)?;

    let documents = document_counts(cfg, job.dedup, &table, &clustering, &written);
    let boilerplate = rules
        .as_ref()
        .map(|r| report::BoilerplateReport::new(r, job.rules_source.clone(), table.strip.clone()));
    timings.learn = job.learn_seconds;
    timings.total = timings::round_ms(start.elapsed().as_secs_f64() + job.learn_seconds);
    let mut report = Report {
        schema_version: report::REPORT_SCHEMA_VERSION,
        tool: "dupstrip",
        version: env!("CARGO_PKG_VERSION"),
        command: job.command,
        inputs: input_reports(corpus, &table),
        skipped_files,
        documents,
        bytes: Bytes {
            input: corpus.inputs().iter().map(|i| i.bytes).sum(),
            text_in: table.text_in,
            text_out: written.text_bytes,
            output: written.bytes,
        },
        parameters: cfg.clone(),
        lsh: LshReport::new(cfg.lsh),
        candidates: clustering.candidates,
        clustering: clustering.assign,
        verification: clustering.verification,
        boilerplate,
        state: state_report,
        threads: rayon::current_num_threads(),
        timings,
        memory: memory::MemoryReport {
            spilled: crate::spill::spilled(),
            ..memory::report(cfg.mem_limit)
        },
    };
    if let (Some(path), Some(review)) = (&paths.html, &review) {
        let t = Instant::now();
        review::html::write_html(path, &report, review)?;
        report.timings.html = timings::secs(t.elapsed() + review_time);
        report.timings.total = timings::round_ms(start.elapsed().as_secs_f64() + job.learn_seconds);
    }
    Ok(report)
}

/// Each input, with the records read from it.
fn input_reports(corpus: &Corpus, table: &DocTable) -> Vec<InputReport> {
    (corpus.inputs().iter())
        .zip(&table.records_per_input)
        .map(|(spec, &records)| InputReport {
            spec: spec.clone(),
            records,
        })
        .collect()
}

/// Count memory and spills from here, unless learning came first (`clean` without
/// `--rules`, where the run started with it).
fn start_memory(job: &Job, cfg: &DedupConfig) {
    memory::release_freed_memory(cfg.mem_limit.is_some());
    memory::watch();
    if job.learn_seconds == 0.0 {
        memory::reset();
        crate::spill::forget_spilled();
    }
}

/// Add the run to its state (`--state`), if it has one.
fn commit_state(
    job: &mut Job,
    corpus: &Corpus,
    cfg: &DedupConfig,
    table: &DocTable,
    clustering: &Clustering,
) -> Result<Option<report::StateReport>, RunError> {
    let Some(st) = job.state.as_mut() else {
        return Ok(None);
    };
    let done = JobDone {
        lines: job.lines.take(),
        command: job.command,
        fingerprint: std::mem::take(&mut job.fingerprint),
    };
    let mut rep = update_state(st, corpus, cfg, table, clustering, done)?;
    rep.replaced_run = job.replaces;
    Ok(Some(rep))
}

/// The run's rules as the rules file and the report give them: those it stripped
/// with, or, when it learned them, the learned rules with the examples its sketch
/// pass completed (which the state keeps too).
fn finish_rules(job: &mut Job, examples: Option<Learned>) -> Option<Rules> {
    let Some(learned) = examples else {
        return job.stripper.as_ref().map(|s| s.rules.clone());
    };
    if let Some(lines) = job.lines.as_mut() {
        lines.set_examples(learned.rule_examples());
    }
    let rules = learned.into_rules();
    // Only examples past the first can differ from the rules stripped with.
    debug_assert!(job.stripper.as_ref().is_none_or(|s| {
        let strips = |r: &Rules| {
            let mut r = r.clone();
            r.templates.iter_mut().for_each(|t| t.examples.clear());
            r
        };
        strips(&s.rules) == strips(&rules)
    }));
    Some(rules)
}

/// How many documents were read, written, dropped, rejected and emptied.
fn document_counts(
    cfg: &DedupConfig,
    dedup: bool,
    table: &DocTable,
    clustering: &Clustering,
    written: &Written,
) -> Counts {
    let duplicates = clustering
        .roles
        .iter()
        .filter(|r| matches!(r, Role::Duplicate { .. }))
        .count() as u64;
    let rejected = table.rejected.count_ones() as u64;
    let emptied = table.emptied.count_ones() as u64;
    let read = table.len() as u64;
    let annotate = cfg.mode == Mode::Annotate;
    let documents = Counts {
        read,
        written: written.records,
        dropped: if annotate { 0 } else { duplicates },
        duplicates,
        rejected,
        empty: if dedup {
            read - rejected - emptied - table.active.count_ones() as u64
        } else {
            0
        },
        clusters: clustering.clusters.len() as u64,
        emptied,
        emptied_dropped: if annotate || cfg.on_empty == EmptyPolicy::Keep {
            0
        } else {
            emptied
        },
    };
    debug_assert_eq!(
        documents.read,
        documents.written + documents.dropped + documents.rejected + documents.emptied_dropped
    );
    documents
}

/// What a finished run gives its state besides its documents.
struct JobDone {
    lines: Option<PendingLines>,
    command: &'static str,
    fingerprint: String,
}

/// Add the run's kept documents to the state, with the band keys of their dropped
/// copies pointing at them, and commit.
fn update_state(
    st: &mut State,
    corpus: &Corpus,
    cfg: &DedupConfig,
    table: &DocTable,
    clustering: &Clustering,
    done: JobDone,
) -> Result<report::StateReport, RunError> {
    let JobDone {
        lines,
        command,
        fingerprint,
    } = done;
    let mut rep = report::StateReport {
        dir: st.dir().display().to_string(),
        created: st.is_new(),
        run: st.next_run(),
        documents_before: st.documents(),
        segments_before: st.segment_count() as u64,
        comparisons: clustering.history.comparisons,
        id_matches_below_threshold: clustering.history.id_below_threshold,
        lookup_seconds: clustering.history.seconds,
        ..Default::default()
    };
    let n = table.len();
    let sigs = table.signatures();
    let dir = cfg.spill_dir().named("state segment");
    let mut b = st.builder_within((cfg.column_budget(), cfg.state_lines_budget()), &dir);
    let mut seq_of = SpillArray::new(n, u64::MAX, cfg.column_budget(), &dir).map_err(spill_err)?;
    for (d, role) in clustering.roles.iter().enumerate() {
        if sigs.active[d] && matches!(role, Role::Unique | Role::Keep { .. }) {
            let doc = state::NewDoc {
                id: table.id(d as DocId),
                has_id: table.has_id[d],
                text_hash: table.text_hash.get(d).copied().unwrap_or(0),
                slots: sigs.get(d as DocId),
            };
            seq_of[d] = b.add(&doc).map_err(spill_err)?;
        }
    }
    for (d, role) in clustering.roles.iter().enumerate() {
        if let Role::Duplicate { of, .. } = role {
            let of = of as usize;
            let target = if of < n {
                seq_of[of]
            } else {
                rep.duplicates_of_state += 1;
                clustering.history.seqs[of - n]
            };
            if sigs.active[d] && target != u64::MAX {
                b.alias(sigs.get(d as DocId), target).map_err(spill_err)?;
            }
        }
    }
    let copies: Vec<DocId> = clustering
        .roles
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r, Role::Duplicate { of, .. } if *of as usize >= n))
        .map(|(d, _)| d as DocId)
        .collect();
    let lines = lines
        .map(|l| l.merged(st.lines.take(), &copies, rep.run, cfg))
        .transpose()
        .map_err(crate::error::spill_err)?;
    let boilerplate_keys = lines.as_ref().map(|l| l.entries.len() as u64);
    let run = state::RunEntry {
        run: rep.run,
        command: command.to_string(),
        finished_unix: state::unix_now(),
        inputs: corpus.inputs().iter().map(|i| i.name.clone()).collect(),
        read: n as u64,
        added: b.docs(),
        duplicates_of_state: rep.duplicates_of_state,
        fingerprint,
    };
    let done = st.commit(state::Update {
        segment: Some(b),
        lines,
        run,
    })?;
    rep.added = done.added;
    rep.documents_after = st.documents();
    rep.segments_after = done.segments;
    rep.segments_merged = done.merged;
    rep.bytes_after = st.bytes();
    rep.boilerplate_keys = boilerplate_keys.or(st.lines.as_ref().map(|l| l.entries.len() as u64));
    rep.commit_seconds = done.seconds;
    Ok(rep)
}

/// Run `dedup` end to end.
pub fn run_dedup(
    corpus: &Corpus,
    cfg: &DedupConfig,
    paths: &OutputPaths,
    skipped_files: Vec<String>,
    progress: &indicatif::ProgressBar,
) -> Result<Report, RunError> {
    run(corpus, cfg, paths, skipped_files, progress, Job::dedup())
}

/// `dedup`'s decisions without its output: for every document, the document it is a
/// duplicate of (`None` for a kept, unique, empty or rejected one). The Python
/// package's `find_duplicates`; the same documents are dropped as by [`run_dedup`].
pub fn duplicates(corpus: &Corpus, cfg: &DedupConfig) -> Result<Vec<Option<DocId>>, RunError> {
    let sk = Sketch::new(cfg);
    let progress = indicatif::ProgressBar::hidden();
    let table = sketch_corpus(corpus, cfg, &sk, &progress, None)?;
    let clustering = cluster_docs(corpus, cfg, &sk, &table, None)?;
    Ok(clustering
        .roles
        .iter()
        .map(|r| match r {
            Role::Duplicate { of, .. } => Some(of),
            _ => None,
        })
        .collect())
}
