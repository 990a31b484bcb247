//! Command-line options. Only parsing and turning flags into library settings lives
//! here; every check of what the options mean is in `dupstrip::config`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use dupstrip::config::KeepPolicy;
use std::sync::Arc;

use dupstrip::boilerplate::{LearnOptions, Rules, Stripper};
use dupstrip::config::{DedupConfig, DedupOptions, EmptyPolicy, Mode, OutputPaths, Verify};
use dupstrip::corpus::{self, Corpus, Format, ReadOptions};
use dupstrip::minhash::Scheme;
use dupstrip::normalize::NormalizeOptions;
use dupstrip::report::Report;
use dupstrip::shingle::ShingleKind;
use dupstrip::state::{Access, State, StateParams};
use dupstrip::{learn, output, pipeline, report, stage, synth};

const DEDUP_EXAMPLES: &str = "\
Examples:
  # Drop near-duplicates from a JSON Lines dump, keep the first copy of each story
  dupstrip dedup crawl.jsonl -o deduped.jsonl --report report.json

  # Annotate instead of dropping, from compressed shards in a directory, with clusters
  dupstrip dedup shards/ -o annotated.jsonl.zst --mode annotate --clusters clusters.jsonl

  # Stricter: confirm every pair by exact Jaccard, keep the longest copy, 4 threads
  dupstrip dedup in.jsonl -o out.jsonl --verify exact --keep longest -j 4

  # From a pipe to a pipe, text in the field \"content\"
  zcat dump.jsonl.gz | dupstrip dedup --text-field content -o - | head";

/// Find near-duplicate documents in large text corpora and remove them.
#[derive(Parser, Debug)]
#[command(name = "dupstrip", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Find near-duplicate documents (shingles, MinHash, LSH) and drop or annotate them.
    #[command(after_help = DEDUP_EXAMPLES)]
    Dedup(Box<DedupArgs>),
    /// The main job: strip boilerplate (learned from the input, or --rules), then drop
    /// near-duplicates found on the stripped text; write the stripped text of the kept
    /// documents.
    #[command(after_help = CLEAN_EXAMPLES)]
    Clean(Box<CleanArgs>),
    /// Learn boilerplate rules, or apply them.
    #[command(subcommand)]
    Boilerplate(BoilerplateCmd),
    /// Inspect or maintain a state directory (`--state`): statistics, merging segments,
    /// exporting the boilerplate rules it has learned.
    #[command(subcommand)]
    State(StateCmd),
    /// The stages of `clean` as streaming maps over JSON Lines (standard input to
    /// standard output), for an engine such as Spark that does the grouping between
    /// them (integrations/spark/). Line formats: README, "Stage commands".
    #[command(subcommand)]
    Stage(StageCmd),
    /// Write a synthetic corpus with planted near-duplicates (for tests and benchmarks).
    #[command(
        after_help = "Example:\n  dupstrip synth --docs 100000 --seed 7 -o corpus.jsonl --truth truth.jsonl"
    )]
    Synth(SynthArgs),
}

#[derive(Subcommand, Debug)]
enum StateCmd {
    /// What a state holds: documents, segments, runs, parameters, boilerplate
    /// statistics. Checks every file's checksum.
    #[command(after_help = "Example:\n  dupstrip state stats /var/lib/dupstrip/news")]
    Stats {
        /// The state directory.
        dir: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Merge every segment into one (runs also merge them by tiers on their own).
    #[command(after_help = "Example:\n  dupstrip state compact /var/lib/dupstrip/news")]
    Compact {
        /// The state directory.
        dir: PathBuf,
    },
    /// Export the boilerplate rules the state's statistics give now, as a rules file.
    #[command(after_help = "Example:\n  dupstrip state rules /var/lib/dupstrip/news -o rules.json")]
    Rules {
        /// The state directory.
        dir: PathBuf,
        /// Rules file to write (`-` for standard output).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
}

#[derive(Args, Debug)]
struct StageCommon {
    /// The job's config file, written by `dupstrip stage config`.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Worker threads (an engine runs one stage per core).
    #[arg(short = 'j', long, value_name = "N", default_value_t = 1)]
    threads: usize,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum PurposeArg {
    /// Raw pages grouped into stories, for learning boilerplate.
    Stories,
    /// Stripped texts, for near-duplicates.
    Dedup,
}

#[derive(Subcommand, Debug)]
enum StageCmd {
    /// Write the config file every stage of a job reads, from the options `clean`
    /// takes (-o FILE).
    #[command(
        after_help = "The options are clean's; these are refused, since stages read standard input and the engine \
                      writes every other file: INPUT, --clusters, --report, --rejects, --state, \
                      --skip-bad-records, --mem-limit, --mode annotate, --input-format text, --rules, \
                      --save-rules, and an -o that is `-` or ends in .gz, .zst or .parquet.\n\n\
                      Example:\n  dupstrip stage config -o job.json --threshold 0.5 --text-field content"
    )]
    Config(Box<CleanArgs>),
    /// Record envelopes in, one sketch line out per record: row, length, signature,
    /// band keys (and line keys with --for stories, id and stripping with --for dedup).
    #[command(
        after_help = "Example:\n  dupstrip stage sketch --config job.json --for dedup --rules rules.json < envelopes.jsonl"
    )]
    Sketch {
        #[command(flatten)]
        common: StageCommon,
        /// Which grouping the sketch serves.
        #[arg(long = "for", value_enum, value_name = "PURPOSE")]
        purpose: PurposeArg,
        /// Rules to strip with (needed with --for dedup).
        #[arg(long, value_name = "FILE")]
        rules: Option<PathBuf>,
    },
    /// Buckets in ({"members": [sketch lines]}), confirmed edges out ({"a", "b",
    /// "similarity"}, rows).
    Confirm {
        #[command(flatten)]
        common: StageCommon,
        /// Which grouping the buckets belong to.
        #[arg(long = "for", value_enum, value_name = "PURPOSE")]
        purpose: PurposeArg,
    },
    /// Story counts of line keys in ({"kind", "hash", "stories"}), the learned keys
    /// out (one JSON document).
    Learn {
        #[command(flatten)]
        common: StageCommon,
        /// Records in the corpus.
        #[arg(long)]
        documents: u64,
        /// Stories in the corpus (records less the copies grouped into stories).
        #[arg(long)]
        stories: u64,
    },
    /// Record envelopes in, the lines that match a learned key out.
    Examples {
        #[command(flatten)]
        common: StageCommon,
        /// Output of `stage learn`.
        #[arg(long, value_name = "FILE")]
        learned: PathBuf,
    },
    /// Example lines in, the rules file out (the same file as `clean --save-rules`).
    Rules {
        #[command(flatten)]
        common: StageCommon,
        /// Output of `stage learn`.
        #[arg(long, value_name = "FILE")]
        learned: PathBuf,
    },
    /// Components in ({"members": [{"sketch", "input"}]}), clusters out ({"keep",
    /// "members": [{"row", "id", "similarity"}]}).
    Assign {
        #[command(flatten)]
        common: StageCommon,
        /// The rules the texts were stripped with.
        #[arg(long, value_name = "FILE")]
        rules: PathBuf,
    },
    /// Record envelopes in, the records `clean` writes out: boilerplate stripped,
    /// emptied records and the rows of --drop left out.
    Apply {
        #[command(flatten)]
        common: StageCommon,
        /// The rules to strip with.
        #[arg(long, value_name = "FILE")]
        rules: PathBuf,
        /// JSON lines with a "row" field: rows to leave out (duplicates).
        #[arg(long, value_name = "FILE")]
        drop: Option<PathBuf>,
        /// Write what was done (records read, written, dropped, emptied) as JSON.
        #[arg(long, value_name = "FILE")]
        stats: Option<PathBuf>,
    },
    /// Gzip or zstd in, plain bytes out (for engines that cannot read zstd).
    Decompress,
}

#[derive(Subcommand, Debug)]
enum BoilerplateCmd {
    /// Learn recurring lines, templates and markers; write them as a rules file (-o).
    #[command(
        after_help = "Example:\n  dupstrip boilerplate learn crawl.jsonl -o rules.json --min-docs 10"
    )]
    Learn(Box<CleanArgs>),
    /// Apply a rules file: write every document with its boilerplate removed.
    #[command(
        after_help = "Example:\n  dupstrip boilerplate strip day.jsonl --rules rules.json -o stripped.jsonl"
    )]
    Strip(Box<CleanArgs>),
}

const CLEAN_EXAMPLES: &str = "\
Defaults differ from dedup: word 3-grams (--ngram 3) and --threshold 0.5 with exact
verification of borderline pairs, measured to find syndicated copies whose words were
edited in many sentences once boilerplate is gone (ARCHITECTURE.md).

Examples:
  # Learn boilerplate from the dump itself, strip it, drop near-duplicates
  dupstrip clean crawl.jsonl -o clean.jsonl --report report.json --save-rules rules.json

  # Nightly: reuse reviewed rules instead of relearning
  dupstrip clean day.jsonl.zst --rules rules.json -o day.clean.jsonl.zst

  # Keep text, mark boilerplate byte ranges and duplicates
  dupstrip clean crawl.jsonl -o annotated.jsonl --mode annotate";

#[derive(ValueEnum, Clone, Copy, Debug)]
enum EmptyArg {
    /// Write it with its (empty) stripped text.
    Keep,
    /// Leave it out; counted as emptied_dropped in the report.
    Drop,
}

#[derive(Args, Debug)]
struct CleanArgs {
    #[command(flatten)]
    common: DedupArgs,

    /// Boilerplate rules file to apply instead of learning (clean, strip).
    #[arg(long, value_name = "FILE", help_heading = "Boilerplate")]
    rules: Option<PathBuf>,

    /// Also write the rules learned by this run (clean).
    #[arg(long, value_name = "FILE", help_heading = "Boilerplate")]
    save_rules: Option<PathBuf>,

    /// A rule needs its line in at least this many distinct stories (copies of one
    /// syndicated story count once), and evidence that it is not the page's own text:
    /// a line standing alone, a label with field values, a marker followed by a
    /// foreign article. The rules file records the evidence (README, "What is
    /// learned").
    #[arg(long, default_value_t = 5, help_heading = "Boilerplate")]
    min_docs: u64,

    /// …and in at least this share of all stories (0: off).
    #[arg(long, default_value_t = 0.0, help_heading = "Boilerplate")]
    min_fraction: f64,

    /// Stripped texts shorter than this many characters count as emptied.
    #[arg(long, default_value_t = 1, help_heading = "Boilerplate")]
    min_chars: usize,

    /// What to do with a document that stripping leaves empty (or under --min-chars)
    /// (clean; `boilerplate strip` always keeps every document).
    #[arg(long, value_enum, default_value_t = EmptyArg::Drop, help_heading = "Boilerplate")]
    on_empty: EmptyArg,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ModeArg {
    /// Write only records that are not duplicates.
    Drop,
    /// Write every record with a "dupstrip" field: cluster, duplicate_of, similarity.
    Annotate,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum KeepArg {
    /// The first copy in input order.
    First,
    /// The copy with the longest text.
    Longest,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum VerifyArg {
    /// Confirm candidates by the MinHash estimate.
    Estimate,
    /// The estimate where it is clear; exact Jaccard where it is within 3 standard
    /// errors of the threshold (re-reads only those documents).
    Auto,
    /// Confirm by exact Jaccard of the shingle sets (reads the input once more).
    Exact,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ShingleArg {
    /// Word n-grams (Unicode word boundaries).
    Word,
    /// Character n-grams, for scripts written without spaces.
    Char,
    /// Word n-grams of whitespace-separated tokens, punctuation attached (as
    /// Python's `str.split()`); for matching other tools' settings.
    Whitespace,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum SchemeArg {
    /// One-permutation hashing, empty bins filled by further rounds (fast).
    Oph,
    /// K independent multiply-shift hash functions.
    Classic,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum FormatArg {
    /// From the file name: .txt is one document per file, anything else JSON Lines.
    Auto,
    Jsonl,
    Text,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
enum StepArg {
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
struct DedupArgs {
    /// Input files or directories; none or `-` reads standard input. JSON Lines,
    /// .txt (one document per file), gzip or zstd compressed JSON Lines, Parquet
    /// (--text-field and --id-field name the columns).
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,

    /// Output file (`-` for standard output); .gz or .zst compresses it, .parquet
    /// writes Parquet (every column kept).
    #[arg(short, long, value_name = "OUTPUT")]
    output: PathBuf,

    /// Similarity at or above which two documents are duplicates [default: dedup 0.8, clean 0.5].
    #[arg(long, help_heading = "Similarity")]
    threshold: Option<f64>,

    /// What a token is.
    #[arg(long, value_enum, default_value_t = ShingleArg::Word, help_heading = "Similarity")]
    shingle: ShingleArg,

    /// Words per shingle, with --shingle word or whitespace [default: dedup 5, clean 3].
    #[arg(long, help_heading = "Similarity")]
    ngram: Option<usize>,

    /// Characters per shingle (with --shingle char).
    #[arg(long, default_value_t = 5, help_heading = "Similarity")]
    char_ngram: usize,

    /// MinHash slots per signature.
    #[arg(long, default_value_t = 128, help_heading = "Similarity")]
    num_perm: usize,

    /// MinHash construction.
    #[arg(long, value_enum, default_value_t = SchemeArg::Oph, help_heading = "Similarity")]
    scheme: SchemeArg,

    /// LSH bands (default: chosen from --threshold; give with --rows).
    #[arg(long, help_heading = "Similarity")]
    bands: Option<usize>,

    /// LSH rows per band (default: chosen from --threshold; give with --bands).
    #[arg(long, help_heading = "Similarity")]
    rows: Option<usize>,

    /// How candidate pairs are confirmed.
    #[arg(long, value_enum, default_value_t = VerifyArg::Auto, help_heading = "Similarity")]
    verify: VerifyArg,

    /// Seed of every hash function (results are reproducible for a given seed).
    #[arg(long, default_value_t = 42, help_heading = "Similarity")]
    seed: u64,

    /// Normalization steps to switch off (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "STEP",
        help_heading = "Similarity"
    )]
    no_normalize: Vec<StepArg>,

    /// Drop duplicates or annotate every record.
    #[arg(long, value_enum, default_value_t = ModeArg::Drop, help_heading = "Output")]
    mode: ModeArg,

    /// Which copy of a cluster is kept.
    #[arg(long, value_enum, default_value_t = KeepArg::First, help_heading = "Output")]
    keep: KeepArg,

    /// Write one JSON line per cluster: {"cluster", "keep", "members": [{"id", "similarity"}]}.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    clusters: Option<PathBuf>,

    /// Write a JSON report: counts, bytes, parameters, S-curve, timings.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    report: Option<PathBuf>,

    /// Write rejected records (with --skip-bad-records) as JSON lines with the reason.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    rejects: Option<PathBuf>,

    /// Print nothing on stderr but errors.
    #[arg(short, long, help_heading = "Output")]
    quiet: bool,

    /// JSON field holding the text.
    #[arg(long, default_value = "text", help_heading = "Input")]
    text_field: String,

    /// JSON field holding the id (records without one are named FILE:LINE).
    #[arg(long, default_value = "id", help_heading = "Input")]
    id_field: String,

    /// Input format.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto, help_heading = "Input")]
    input_format: FormatArg,

    /// Skip records that cannot be read (count them, list them with --rejects)
    /// instead of stopping with an error.
    #[arg(long, help_heading = "Input")]
    skip_bad_records: bool,

    /// Records larger than this many bytes are bad records.
    #[arg(long, default_value_t = 256 << 20, value_name = "BYTES", help_heading = "Input")]
    max_record_bytes: usize,

    /// Read files with ordinary reads instead of memory-mapping them.
    #[arg(long, help_heading = "Input")]
    no_mmap: bool,

    /// Directory for temporary files (standard input is spooled there, and what
    /// --mem-limit spills).
    #[arg(long, value_name = "DIR", help_heading = "Input")]
    tmp_dir: Option<PathBuf>,

    /// Memory for signatures (half) and LSH band keys (a quarter); past it they go
    /// to temporary files: signatures to a memory-mapped file, band keys to sorted
    /// runs that are merged. Same results. Keep --tmp-dir on disk (a tmpfs /tmp is
    /// memory). SIZE: bytes or 512M, 2G, ...
    #[arg(long, value_name = "SIZE", value_parser = dupstrip::spill::parse_size)]
    mem_limit: Option<u64>,

    /// Worker threads (default: all cores).
    #[arg(short = 'j', long, value_name = "N")]
    threads: Option<usize>,

    /// Deduplicate against every document kept by earlier runs with this state
    /// directory, then add this run's kept documents (and, for `clean`, its
    /// boilerplate statistics) to it. Created when missing. For nightly runs.
    #[arg(long, value_name = "DIR", help_heading = "State")]
    state: Option<PathBuf>,

    /// With --state: a record whose id is already in the state is a copy only if its
    /// text is similar too (by default the same id is the same document).
    #[arg(long, help_heading = "State")]
    no_id_match: bool,
}

#[derive(Args, Debug)]
struct SynthArgs {
    /// Documents to write.
    #[arg(long, default_value_t = 1000)]
    docs: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of documents that are near-duplicate copies (at most 0.7).
    #[arg(long, default_value_t = 0.3)]
    dup_share: f64,
    /// Corpus output (JSON Lines; `-` for standard output).
    #[arg(short, long)]
    output: PathBuf,
    /// Truth output: one line per document with its story ("family") and edits.
    #[arg(long)]
    truth: PathBuf,
    /// Wrap every article in its outlet's boilerplate (date, source, tag, app-follow,
    /// ad and copyright lines, "Read also:" with an appended article) and syndicate
    /// stories to 3–5 outlets; the truth marks boilerplate lines.
    #[arg(long)]
    boilerplate: bool,
    /// Outlet layouts of --boilerplate: `fixed` (a few hand-made ones) or `random`
    /// (drawn from a grammar with --seed: which elements, where, in which words and
    /// language, markers with or without a colon, related-headline lines; records
    /// carry a `url`). `random` implies --boilerplate.
    #[arg(long, value_enum, default_value = "fixed")]
    layouts: Layouts,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
enum Layouts {
    Fixed,
    Random,
}

pub fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Dedup(args) => dedup(*args),
        Command::Clean(args) => clean(*args, Action::Clean),
        Command::Boilerplate(BoilerplateCmd::Learn(args)) => clean(*args, Action::Learn),
        Command::Boilerplate(BoilerplateCmd::Strip(args)) => clean(*args, Action::Strip),
        Command::State(cmd) => state_cmd(cmd),
        Command::Stage(cmd) => stage_cmd(cmd),
        Command::Synth(args) => synth_cmd(args),
    }
}

fn normalize_options(off: &[StepArg]) -> NormalizeOptions {
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
struct Defaults {
    threshold: f64,
    ngram: usize,
}

const DEDUP_DEFAULTS: Defaults = Defaults {
    threshold: 0.8,
    ngram: 5,
};

/// `clean` defaults, chosen by measurement on the generated news corpus
/// (ARCHITECTURE.md, "clean defaults").
const CLEAN_DEFAULTS: Defaults = Defaults {
    threshold: 0.5,
    ngram: 3,
};

fn dedup(a: DedupArgs) -> Result<()> {
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
    finish(&report, &paths, quiet)
}

/// Before a run with a state: the input's fingerprint, and when it is the same as the
/// last run's, go back to the state before that run (a night repeated replaces it).
fn ready_state(st: &mut State, corpus: &Corpus, match_ids: bool) -> Result<(String, Option<u32>)> {
    st.match_ids = match_ids;
    let fingerprint = corpus.fingerprint()?;
    let replaces = st.repeat_of_last_run(&fingerprint)?;
    Ok((fingerprint, replaces))
}

/// Open `--state DIR` for a run (locked until the run ends).
fn open_state(
    dir: Option<&std::path::Path>,
    cfg: &DedupConfig,
    stripped: bool,
) -> Result<Option<State>> {
    let Some(dir) = dir else { return Ok(None) };
    let params = StateParams::new(cfg, stripped);
    Ok(Some(State::open(dir, Access::Write, Some(&params))?))
}

#[derive(Clone, Copy, PartialEq)]
enum Action {
    Clean,
    Learn,
    Strip,
}

fn clean(a: CleanArgs, action: Action) -> Result<()> {
    let learn = LearnOptions {
        min_docs: a.min_docs,
        min_fraction: a.min_fraction,
    };
    if !(0.0..=1.0).contains(&a.min_fraction) {
        anyhow::bail!(
            "--min-fraction must be between 0 and 1, got {}",
            a.min_fraction
        );
    }
    if a.min_docs < 2 {
        anyhow::bail!("--min-docs must be at least 2, got {}", a.min_docs);
    }
    if action != Action::Clean && a.common.state.is_some() {
        anyhow::bail!("--state works with `dedup` and `clean`, not with `boilerplate learn|strip`");
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
    cfg.min_chars = a.min_chars;
    cfg.on_empty = match a.on_empty {
        EmptyArg::Keep => EmptyPolicy::Keep,
        EmptyArg::Drop => EmptyPolicy::Drop,
    };
    if action == Action::Strip {
        cfg.on_empty = EmptyPolicy::Keep;
    }
    output::check_outputs(&corpus, &paths)?;
    let mut state = open_state(state_dir.as_deref(), &cfg, true)?;
    let (mut fingerprint, mut replaces) = (String::new(), None);
    if let Some(st) = state.as_mut() {
        (fingerprint, replaces) = ready_state(st, &corpus, match_ids)?;
    }
    let learn_start = std::time::Instant::now();
    let mut lines = None;
    let (rules, source) = match (&a.rules, &state) {
        (Some(p), _) => (Rules::load(p)?, p.display().to_string()),
        (None, Some(st)) => {
            let (rules, l) = learn::learn_rules_with_state(&corpus, &cfg, &learn, st, &progress)?;
            lines = Some(l);
            (rules, "learned (with the state's statistics)".to_string())
        }
        (None, None) => (
            learn::learn_rules(&corpus, &cfg, &learn, &progress)?,
            "learned".to_string(),
        ),
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
        return Ok(());
    }
    if let Some(p) = &a.save_rules {
        output::write_rules(p, &rules)?;
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
        fingerprint,
        replaces,
    };
    let report = pipeline::run(&corpus, &cfg, &paths, skipped, &progress, job)?;
    finish(&report, &paths, quiet)
}

type Prepared = (
    DedupConfig,
    OutputPaths,
    Corpus,
    Vec<String>,
    indicatif::ProgressBar,
    bool,
);

fn prepare(a: DedupArgs, defaults: &Defaults) -> Result<Prepared> {
    let cfg = dedup_options(&a, defaults).validate()?;
    if let Some(n) = cfg.threads {
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
    let total: u64 = corpus.inputs().iter().map(|i| i.bytes).sum();
    let progress = if !a.quiet && std::io::stderr().is_terminal() {
        let pb = indicatif::ProgressBar::new(total);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} sketching {bytes}/{total_bytes} {wide_bar} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb
    } else {
        indicatif::ProgressBar::hidden()
    };
    Ok((cfg, paths, corpus, found.skipped, progress, a.quiet))
}

/// The library options the command-line flags stand for (not yet checked).
fn dedup_options(a: &DedupArgs, defaults: &Defaults) -> DedupOptions {
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

fn finish(report: &Report, paths: &OutputPaths, quiet: bool) -> Result<()> {
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

/// `stage config`: clean's options, checked, as a config file.
fn stage_config(a: CleanArgs) -> Result<()> {
    let c = &a.common;
    let unsupported = [
        (!c.inputs.is_empty(), "INPUT (stages read standard input)"),
        (c.clusters.is_some(), "--clusters"),
        (c.report.is_some(), "--report"),
        (c.rejects.is_some(), "--rejects"),
        (c.state.is_some(), "--state"),
        (c.skip_bad_records, "--skip-bad-records"),
        (c.mem_limit.is_some(), "--mem-limit"),
        (matches!(c.mode, ModeArg::Annotate), "--mode annotate"),
        (
            matches!(c.input_format, FormatArg::Text),
            "--input-format text",
        ),
        (a.rules.is_some(), "--rules"),
        (a.save_rules.is_some(), "--save-rules"),
        (
            {
                let o = c.output.to_string_lossy().to_lowercase();
                o == "-" || [".gz", ".zst", ".parquet"].iter().any(|e| o.ends_with(e))
            },
            "-o to standard output or a compressed or Parquet file (the config is a plain JSON file)",
        ),
    ];
    let named: Vec<&str> = unsupported.iter().filter(|u| u.0).map(|u| u.1).collect();
    if !named.is_empty() {
        anyhow::bail!(
            "stage config takes the similarity, boilerplate and input options of clean; not {}",
            named.join(", ")
        );
    }
    if a.min_docs < 2 {
        anyhow::bail!("--min-docs must be at least 2, got {}", a.min_docs);
    }
    if !(0.0..=1.0).contains(&a.min_fraction) {
        anyhow::bail!(
            "--min-fraction must be between 0 and 1, got {}",
            a.min_fraction
        );
    }
    let mut opts = dedup_options(c, &CLEAN_DEFAULTS);
    opts.min_chars = a.min_chars;
    opts.on_empty = match a.on_empty {
        EmptyArg::Keep => EmptyPolicy::Keep,
        EmptyArg::Drop => EmptyPolicy::Drop,
    };
    let cfg = opts.validate()?;
    let learn = LearnOptions {
        min_docs: a.min_docs,
        min_fraction: a.min_fraction,
    };
    let sc = stage::StageConfig::new(&cfg, learn);
    let json = serde_json::to_string_pretty(&sc)?;
    dupstrip::output::write_atomic(&c.output, |w| {
        use std::io::Write;
        w.write_all(json.as_bytes())?;
        w.write_all(b"\n")
    })
    .with_context(|| format!("{}: cannot write", c.output.display()))?;
    Ok(())
}

fn stage_cmd(cmd: StageCmd) -> Result<()> {
    let cmd = match cmd {
        StageCmd::Config(a) => return stage_config(*a),
        StageCmd::Decompress => {
            let input = std::io::BufReader::with_capacity(1 << 20, std::io::stdin().lock());
            let mut out = std::io::stdout().lock();
            return match stage::decompress(input, &mut out) {
                Err(e) if e.is_broken_pipe() => Ok(()),
                other => other.map(|_| ()).map_err(Into::into),
            };
        }
        other => other,
    };
    let common = match &cmd {
        StageCmd::Config(_) | StageCmd::Decompress => return Ok(()),
        StageCmd::Sketch { common, .. }
        | StageCmd::Confirm { common, .. }
        | StageCmd::Learn { common, .. }
        | StageCmd::Examples { common, .. }
        | StageCmd::Rules { common, .. }
        | StageCmd::Assign { common, .. }
        | StageCmd::Apply { common, .. } => common,
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(common.threads.max(1))
        .build_global()
        .context("cannot start the worker threads")?;
    let sc = stage::StageConfig::load(&common.config)?;
    let stdin = std::io::stdin().lock();
    let input = std::io::BufReader::with_capacity(1 << 20, stdin);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let name = "<stdin>";
    let purpose = |p: PurposeArg| match p {
        PurposeArg::Stories => stage::Purpose::Stories,
        PurposeArg::Dedup => stage::Purpose::Dedup,
    };
    let result = match &cmd {
        StageCmd::Config(_) | StageCmd::Decompress => Ok(()),
        StageCmd::Sketch {
            purpose: p, rules, ..
        } => {
            let p = purpose(*p);
            let rules = match (p, rules) {
                (stage::Purpose::Dedup, None) => anyhow::bail!(
                    "stage sketch --for dedup needs --rules FILE (the output of `stage rules`)"
                ),
                (stage::Purpose::Stories, Some(_)) => anyhow::bail!(
                    "stage sketch --for stories reads raw pages: --rules goes with --for dedup"
                ),
                (_, Some(r)) => Some(Rules::load(r)?),
                (_, None) => None,
            };
            stage::sketch(&sc, p, rules, input, name, &mut out)
        }
        StageCmd::Confirm { purpose: p, .. } => {
            stage::confirm(&sc, purpose(*p), input, name, &mut out)
        }
        StageCmd::Learn {
            documents, stories, ..
        } => stage::learn(&sc, *documents, *stories, input, name, &mut out),
        StageCmd::Examples { learned, .. } => stage::examples(&sc, learned, input, name, &mut out),
        StageCmd::Rules { learned, .. } => stage::rules(&sc, learned, input, name, &mut out),
        StageCmd::Assign { rules, .. } => {
            stage::assign(&sc, Some(Rules::load(rules)?), input, name, &mut out)
        }
        StageCmd::Apply {
            rules, drop, stats, ..
        } => {
            let drop = match drop {
                Some(p) => stage::read_drop_list(p)?,
                None => Default::default(),
            };
            stage::apply(&sc, Some(Rules::load(rules)?), &drop, input, name, &mut out).and_then(
                |s| {
                    if let Some(p) = stats {
                        let json = serde_json::to_string(&s).unwrap_or_default();
                        std::fs::write(p, json + "\n").map_err(|e| stage::StageError::File {
                            path: p.display().to_string(),
                            message: format!("cannot write: {e}"),
                        })?;
                    }
                    Ok(())
                },
            )
        }
    };
    let result = result.and_then(|_| {
        use std::io::Write;
        out.flush().map_err(stage::StageError::Write)
    });
    match result {
        Err(e) if e.is_broken_pipe() => Ok(()),
        other => Ok(other?),
    }
}

fn state_cmd(cmd: StateCmd) -> Result<()> {
    match cmd {
        StateCmd::Stats { dir, json } => {
            let st = State::open(&dir, Access::Read, None)?;
            let stats = dupstrip::state::Stats::of(&st);
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                print!("{}", stats.text());
            }
        }
        StateCmd::Compact { dir } => {
            let start = std::time::Instant::now();
            let mut st = State::open(&dir, Access::Write, None)?;
            let before = st.segment_count();
            st.compact()?;
            eprintln!(
                "dupstrip: {}: {} segments merged into {} ({} documents, {:.1} MB) in {:.2} s",
                dir.display(),
                before,
                st.segment_count(),
                st.documents(),
                st.bytes() as f64 / 1e6,
                start.elapsed().as_secs_f64()
            );
        }
        StateCmd::Rules { dir, output } => {
            let st = State::open(&dir, Access::Read, None)?;
            let Some(lines) = &st.lines else {
                anyhow::bail!(
                    "{}: no boilerplate statistics yet: `clean --state` runs that learn (without --rules) gather them",
                    dir.display()
                );
            };
            let rules = lines.rules(st.manifest.params.normalize);
            output::write_rules(&output, &rules)?;
            eprintln!(
                "dupstrip: {} line, {} template and {} marker rules from {} documents of {} runs",
                rules.lines.len(),
                rules.templates.len(),
                rules.markers.len(),
                lines.documents,
                st.manifest.runs.len()
            );
        }
    }
    Ok(())
}

fn synth_cmd(a: SynthArgs) -> Result<()> {
    let opts = synth::SynthOptions {
        docs: a.docs,
        seed: a.seed,
        dup_share: a.dup_share,
        ..Default::default()
    };
    let write =
        |path: &PathBuf, f: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>| {
            dupstrip::output::write_atomic(path, |w| f(w))
                .with_context(|| format!("{}: cannot write", path.display()))
        };
    // Generate once into memory for the truth, stream the corpus to its sink.
    let mut truth = Vec::new();
    write(&a.output, &mut |w| {
        if a.layouts == Layouts::Random {
            synth::layouts::generate_random_layouts(&opts, w, &mut truth)
        } else if a.boilerplate {
            synth::generate_news(&opts, w, &mut truth)
        } else {
            synth::generate(&opts, w, &mut truth)
        }
    })?;
    write(&a.truth, &mut |w| w.write_all(&truth))?;
    Ok(())
}
