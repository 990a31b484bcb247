//! `dupstrip dedup`: its options (shared by `clean`, `boilerplate` and `stage config`),
//! their conversion to a [`DedupConfig`], and the run.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use dupstrip::config::KeepPolicy;

use dupstrip::config::{DedupConfig, DedupOptions, Mode, OutputPaths, Verify};
use dupstrip::corpus::{self, Corpus, Format, ReadOptions};
use dupstrip::minhash::Scheme;
use dupstrip::normalize::NormalizeOptions;
use dupstrip::report::Report;
use dupstrip::shingle::ShingleKind;
use dupstrip::state::{Access, State, StateParams};
use dupstrip::{output, pipeline, report};

pub(super) const DEDUP_EXAMPLES: &str = "\
Examples:
  # Drop near-duplicates from a JSON Lines dump, keep the first copy of each story
  dupstrip dedup crawl.jsonl -o deduped.jsonl --report report.json

  # Annotate instead of dropping, from compressed shards in a directory, with clusters
  dupstrip dedup shards/ -o annotated.jsonl.zst --mode annotate --clusters clusters.jsonl

  # Stricter: confirm every pair by exact Jaccard, keep the longest copy, 4 threads
  dupstrip dedup in.jsonl -o out.jsonl --verify exact --keep longest -j 4

  # A page to review before deleting: largest and borderline clusters, differences
  dupstrip dedup in.jsonl -o out.jsonl --html review.html

  # From a pipe to a pipe, text in the field \"content\"
  zcat dump.jsonl.gz | dupstrip dedup --text-field content -o - | head";

#[derive(ValueEnum, Clone, Copy, Debug)]
pub(super) enum ModeArg {
    /// Write only records that are not duplicates.
    Drop,
    /// Write every record with a "dupstrip" field: cluster, duplicate_of, similarity.
    Annotate,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub(super) enum KeepArg {
    /// The first copy in input order.
    First,
    /// The copy with the longest text.
    Longest,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub(super) enum VerifyArg {
    /// Confirm candidates by the MinHash estimate.
    Estimate,
    /// The estimate where it is clear; exact Jaccard where it is within 3 standard
    /// errors of the threshold (re-reads only those documents).
    Auto,
    /// Confirm by exact Jaccard of the shingle sets (reads the input once more).
    Exact,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub(super) enum ShingleArg {
    /// Word n-grams (Unicode word boundaries).
    Word,
    /// Character n-grams, for scripts written without spaces.
    Char,
    /// Word n-grams of whitespace-separated tokens, punctuation attached (as
    /// Python's `str.split()`); for matching other tools' settings.
    Whitespace,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub(super) enum SchemeArg {
    /// One-permutation hashing, empty bins filled by further rounds (fast).
    Oph,
    /// K independent multiply-shift hash functions.
    Classic,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub(super) enum FormatArg {
    /// From the file name: .txt is one document per file, anything else JSON Lines.
    Auto,
    Jsonl,
    Text,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub(super) enum StepArg {
    Nfkc,
    Lowercase,
    Arabic,
    ZeroWidth,
    Digits,
    Punctuation,
    Whitespace,
    /// Every step.
    All,
}

#[derive(Args, Debug)]
pub(super) struct DedupArgs {
    /// Input files or directories; none or `-` reads standard input. JSON Lines,
    /// .txt (one document per file), gzip or zstd compressed JSON Lines, Parquet
    /// (--text-field and --id-field name the columns).
    #[arg(value_name = "INPUT")]
    pub(super) inputs: Vec<PathBuf>,

    /// Output file (`-` for standard output); .gz or .zst compresses it, .parquet
    /// writes Parquet (every column kept).
    #[arg(short, long, value_name = "OUTPUT")]
    pub(super) output: PathBuf,

    /// Similarity at or above which two documents are duplicates [default: dedup 0.8, clean 0.5].
    #[arg(long, help_heading = "Similarity")]
    pub(super) threshold: Option<f64>,

    /// What a token is.
    #[arg(long, value_enum, default_value_t = ShingleArg::Word, help_heading = "Similarity")]
    pub(super) shingle: ShingleArg,

    /// Words per shingle, with --shingle word or whitespace [default: dedup 5, clean 3].
    #[arg(long, help_heading = "Similarity")]
    pub(super) ngram: Option<usize>,

    /// Characters per shingle (with --shingle char).
    #[arg(long, default_value_t = 5, help_heading = "Similarity")]
    pub(super) char_ngram: usize,

    /// MinHash slots per signature.
    #[arg(long, default_value_t = 128, help_heading = "Similarity")]
    pub(super) num_perm: usize,

    /// MinHash construction.
    #[arg(long, value_enum, default_value_t = SchemeArg::Oph, help_heading = "Similarity")]
    pub(super) scheme: SchemeArg,

    /// LSH bands (default: chosen from --threshold; give with --rows).
    #[arg(long, help_heading = "Similarity")]
    pub(super) bands: Option<usize>,

    /// LSH rows per band (default: chosen from --threshold; give with --bands).
    #[arg(long, help_heading = "Similarity")]
    pub(super) rows: Option<usize>,

    /// How candidate pairs are confirmed.
    #[arg(long, value_enum, default_value_t = VerifyArg::Auto, help_heading = "Similarity")]
    pub(super) verify: VerifyArg,

    /// Seed of every hash function (results are reproducible for a given seed).
    #[arg(long, default_value_t = 42, help_heading = "Similarity")]
    pub(super) seed: u64,

    /// Normalization steps to switch off (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "STEP",
        help_heading = "Similarity"
    )]
    pub(super) no_normalize: Vec<StepArg>,

    /// Drop duplicates or annotate every record.
    #[arg(long, value_enum, default_value_t = ModeArg::Drop, help_heading = "Output")]
    pub(super) mode: ModeArg,

    /// Which copy of a cluster is kept.
    #[arg(long, value_enum, default_value_t = KeepArg::First, help_heading = "Output")]
    pub(super) keep: KeepArg,

    /// Write one JSON line per cluster: {"cluster", "keep", "members": [{"id", "similarity"}]}.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub(super) clusters: Option<PathBuf>,

    /// Write a JSON report: counts, bytes, parameters, S-curve, timings.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub(super) report: Option<PathBuf>,

    /// Write rejected records (with --skip-bad-records) as JSON lines with the reason.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub(super) rejects: Option<PathBuf>,

    /// Also write a self-contained HTML report to review before deleting: the run at
    /// a glance, the LSH S-curve and similarity histograms, the largest and most
    /// borderline clusters with their differences, every boilerplate rule with its
    /// evidence, and stripped documents before and after (docs/review.md).
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub(super) html: Option<PathBuf>,

    /// Print nothing on stderr but errors.
    #[arg(short, long, help_heading = "Output")]
    pub(super) quiet: bool,

    /// JSON field holding the text.
    #[arg(long, default_value = "text", help_heading = "Input")]
    pub(super) text_field: String,

    /// JSON field holding the id (records without one are named FILE:LINE).
    #[arg(long, default_value = "id", help_heading = "Input")]
    pub(super) id_field: String,

    /// Input format.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto, help_heading = "Input")]
    pub(super) input_format: FormatArg,

    /// Skip records that cannot be read (count them, list them with --rejects)
    /// instead of stopping with an error.
    #[arg(long, help_heading = "Input")]
    pub(super) skip_bad_records: bool,

    /// Records larger than this many bytes are bad records.
    #[arg(long, default_value_t = 256 << 20, value_name = "BYTES", help_heading = "Input")]
    pub(super) max_record_bytes: usize,

    /// Read files with ordinary reads instead of memory-mapping them.
    #[arg(long, help_heading = "Input")]
    pub(super) no_mmap: bool,

    /// Directory for temporary files (standard input is spooled there, the pages
    /// `clean` keeps between its two reads, and what --mem-limit spills).
    #[arg(long, value_name = "DIR", help_heading = "Input")]
    pub(super) tmp_dir: Option<PathBuf>,

    /// Memory for signatures (half) and LSH band keys (a quarter); past it they go
    /// to temporary files: signatures to a memory-mapped file, band keys to sorted
    /// runs that are merged. Same results. Keep --tmp-dir on disk (a tmpfs /tmp is
    /// memory). SIZE: bytes or 512M, 2G, ...
    #[arg(long, value_name = "SIZE", value_parser = dupstrip::spill::parse_size)]
    pub(super) mem_limit: Option<u64>,

    /// Worker threads (default: all cores).
    #[arg(short = 'j', long, value_name = "N")]
    pub(super) threads: Option<usize>,

    /// Deduplicate against every document kept by earlier runs with this state
    /// directory, then add this run's kept documents (and, for `clean`, its
    /// boilerplate statistics) to it. Created when missing. For nightly runs.
    #[arg(long, value_name = "DIR", help_heading = "State")]
    pub(super) state: Option<PathBuf>,

    /// With --state: a record whose id is already in the state is a copy only if its
    /// text is similar too (by default the same id is the same document).
    #[arg(long, help_heading = "State")]
    pub(super) no_id_match: bool,
}

pub(super) fn normalize_options(off: &[StepArg]) -> NormalizeOptions {
    if off.contains(&StepArg::All) {
        return NormalizeOptions::none();
    }
    let mut o = NormalizeOptions::default();
    for step in off {
        let name = step
            .to_possible_value()
            .map(|v| v.get_name().replace('-', "_"))
            .unwrap_or_default();
        o.set(&name, false);
    }
    o
}

/// Per-command defaults of the similarity options.
pub(super) struct Defaults {
    pub(super) threshold: f64,
    pub(super) ngram: usize,
}

pub(super) const DEDUP_DEFAULTS: Defaults = Defaults {
    threshold: 0.8,
    ngram: 5,
};

/// `clean` defaults, chosen by measurement on the generated news corpus
/// (ARCHITECTURE.md, "clean defaults").
pub(super) const CLEAN_DEFAULTS: Defaults = Defaults {
    threshold: 0.5,
    ngram: 3,
};

pub(super) fn dedup(a: DedupArgs) -> Result<Option<Report>> {
    let state_dir = a.state.clone();
    let match_ids = !a.no_id_match;
    let (cfg, paths, corpus, skipped, progress, quiet) = prepare(a, &DEDUP_DEFAULTS)?;
    output::check_outputs(&corpus, &paths)?;
    let mut job = pipeline::Job::dedup();
    job.state = open_state(state_dir.as_deref(), &cfg, false)?;
    if let Some(st) = job.state.as_mut() {
        (job.fingerprint, job.replaces) = ready_state(st, &corpus, match_ids)?;
    }
    let report = pipeline::run(&corpus, &cfg, &paths, skipped, &progress, job)?;
    finish(&report, &paths, quiet)?;
    Ok(Some(report))
}

/// Before a run with a state: the input's fingerprint, and when it is the same as the
/// last run's, go back to the state before that run (a night repeated replaces it).
pub(super) fn ready_state(
    st: &mut State,
    corpus: &Corpus,
    match_ids: bool,
) -> Result<(String, Option<u32>)> {
    st.match_ids = match_ids;
    let fingerprint = corpus.fingerprint()?;
    let replaces = st.repeat_of_last_run(&fingerprint)?;
    Ok((fingerprint, replaces))
}

/// Open `--state DIR` for a run (locked until the run ends).
pub(super) fn open_state(
    dir: Option<&std::path::Path>,
    cfg: &DedupConfig,
    stripped: bool,
) -> Result<Option<State>> {
    let Some(dir) = dir else { return Ok(None) };
    let params = StateParams::new(cfg, stripped);
    Ok(Some(State::open(dir, Access::Write, Some(&params))?))
}

pub(super) type Prepared = (
    DedupConfig,
    OutputPaths,
    Corpus,
    Vec<String>,
    indicatif::ProgressBar,
    bool,
);

pub(super) fn prepare(a: DedupArgs, defaults: &Defaults) -> Result<Prepared> {
    let cfg = dedup_options(&a, defaults).validate()?;
    // Inside a pool already (the Python package runs each call in its own pool,
    // sized by `threads=`), the global one is left alone: it can be built only once.
    if let Some(n) = cfg.threads
        && rayon::current_thread_index().is_none()
    {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("cannot start the worker threads")?;
    }
    let paths = OutputPaths {
        output: a.output,
        clusters: a.clusters,
        report: a.report,
        rejects: a.rejects,
        rules: None,
        html: a.html,
    };
    let found = corpus::discover(&a.inputs, cfg.read.format)?;
    for s in &found.skipped {
        if !a.quiet {
            eprintln!(
                "dupstrip: note: skipping {s} (not .jsonl, .ndjson, .json, .parquet or .txt)"
            );
        }
    }
    let corpus = Corpus::open(found.inputs, cfg.read.clone())?;
    let progress = if !a.quiet && std::io::stderr().is_terminal() {
        progress_bar(&corpus)
    } else {
        indicatif::ProgressBar::hidden()
    };
    Ok((cfg, paths, corpus, found.skipped, progress, a.quiet))
}

/// The progress bar of a run's passes over the corpus. Each pass names itself and
/// starts the bar again (`learn` and `pipeline` set the message and reset it); the
/// rate is the pass's average so far, and the time left is what that rate gives for
/// the bytes left. The bytes are those read: with a compressed or Parquet input, whose
/// size on disk is not what is read, the bar has no total and no time left.
fn progress_bar(corpus: &Corpus) -> indicatif::ProgressBar {
    use indicatif::{HumanBytes, ProgressState, ProgressStyle};
    let exact = corpus
        .inputs()
        .iter()
        .all(|i| i.compression == corpus::Compression::None && !i.parquet);
    let rate = |s: &ProgressState| s.pos() as f64 / s.elapsed().as_secs_f64().max(1e-3);
    let style = if exact {
        "{spinner} {msg} {bytes}/{total_bytes} {wide_bar} {rate} {left}"
    } else {
        "{spinner} {msg} {bytes} {rate}"
    };
    let style = ProgressStyle::with_template(style)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "rate",
            move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}/s", HumanBytes(rate(s) as u64));
            },
        )
        .with_key(
            "left",
            move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let left = s.len().unwrap_or(0).saturating_sub(s.pos()) as f64;
                let _ = match s.pos() {
                    0 => write!(w, "eta ?"),
                    _ => write!(w, "eta {:.0}s", (left / rate(s)).ceil()),
                };
            },
        );
    let total: u64 = corpus.inputs().iter().map(|i| i.bytes).sum();
    let pb = if exact {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::new_spinner()
    };
    pb.set_style(style);
    pb
}

/// The library options the command-line flags stand for (not yet checked).
pub(super) fn dedup_options(a: &DedupArgs, defaults: &Defaults) -> DedupOptions {
    DedupOptions {
        threshold: a.threshold.unwrap_or(defaults.threshold),
        shingle: match a.shingle {
            ShingleArg::Word => ShingleKind::Word,
            ShingleArg::Char => ShingleKind::Char,
            ShingleArg::Whitespace => ShingleKind::Whitespace,
        },
        ngram: a.ngram.unwrap_or(defaults.ngram),
        char_ngram: a.char_ngram,
        num_perm: a.num_perm,
        scheme: match a.scheme {
            SchemeArg::Oph => Scheme::Oph,
            SchemeArg::Classic => Scheme::Classic,
        },
        bands: a.bands,
        rows: a.rows,
        seed: a.seed,
        verify: match a.verify {
            VerifyArg::Estimate => Verify::Estimate,
            VerifyArg::Auto => Verify::Auto,
            VerifyArg::Exact => Verify::Exact,
        },
        keep: match a.keep {
            KeepArg::First => KeepPolicy::First,
            KeepArg::Longest => KeepPolicy::Longest,
        },
        mode: match a.mode {
            ModeArg::Drop => Mode::Drop,
            ModeArg::Annotate => Mode::Annotate,
        },
        normalize: normalize_options(&a.no_normalize),
        read: ReadOptions {
            text_field: a.text_field.clone(),
            id_field: a.id_field.clone(),
            format: match a.input_format {
                FormatArg::Auto => None,
                FormatArg::Jsonl => Some(Format::Jsonl),
                FormatArg::Text => Some(Format::Text),
            },
            mmap: !a.no_mmap,
            max_record_bytes: a.max_record_bytes,
            tmp_dir: a.tmp_dir.clone(),
        },
        skip_bad_records: a.skip_bad_records,
        threads: a.threads,
        mem_limit: a.mem_limit,
        ..Default::default()
    }
}

pub(super) fn finish(report: &Report, paths: &OutputPaths, quiet: bool) -> Result<()> {
    if let Some(p) = &paths.report {
        report::write_report(p, report)?;
    }
    if !quiet {
        eprint!("{}", report.summary());
        if report.documents.rejected > 0 {
            eprintln!(
                "dupstrip: warning: {} bad records skipped{}",
                report.documents.rejected,
                if paths.rejects.is_some() {
                    ""
                } else {
                    " (list them with --rejects FILE)"
                }
            );
        }
    }
    Ok(())
}
