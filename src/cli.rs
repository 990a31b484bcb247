//! Command-line options. Only parsing and turning flags into library settings lives
//! here; every check of what the options mean is in `dupstrip::config`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use dupstrip::cluster::KeepPolicy;
use dupstrip::config::{DedupOptions, Mode, OutputPaths, Verify};
use dupstrip::corpus::{self, Corpus, Format, ReadOptions};
use dupstrip::minhash::Scheme;
use dupstrip::normalize::NormalizeOptions;
use dupstrip::shingle::ShingleKind;
use dupstrip::{pipeline, synth};

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
    /// Write a synthetic corpus with planted near-duplicates (for tests and benchmarks).
    #[command(
        after_help = "Example:\n  dupstrip synth --docs 100000 --seed 7 -o corpus.jsonl --truth truth.jsonl"
    )]
    Synth(SynthArgs),
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
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum SchemeArg {
    /// One-permutation hashing with optimal densification (fast).
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
    /// .txt (one document per file), gzip or zstd compressed JSON Lines.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,

    /// Output file (`-` for standard output); .gz or .zst compresses it.
    #[arg(short, long, value_name = "OUTPUT")]
    output: PathBuf,

    /// Similarity at or above which two documents are duplicates.
    #[arg(long, default_value_t = 0.8, help_heading = "Similarity")]
    threshold: f64,

    /// What a token is.
    #[arg(long, value_enum, default_value_t = ShingleArg::Word, help_heading = "Similarity")]
    shingle: ShingleArg,

    /// Words per shingle (with --shingle word).
    #[arg(long, default_value_t = 5, help_heading = "Similarity")]
    ngram: usize,

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

    /// Directory for temporary files (standard input is spooled there).
    #[arg(long, value_name = "DIR", help_heading = "Input")]
    tmp_dir: Option<PathBuf>,

    /// Worker threads (default: all cores).
    #[arg(short = 'j', long, value_name = "N")]
    threads: Option<usize>,
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
}

pub fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Dedup(args) => dedup(*args),
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

fn dedup(a: DedupArgs) -> Result<()> {
    let opts = DedupOptions {
        threshold: a.threshold,
        shingle: match a.shingle {
            ShingleArg::Word => ShingleKind::Word,
            ShingleArg::Char => ShingleKind::Char,
        },
        ngram: a.ngram,
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
            text_field: a.text_field,
            id_field: a.id_field,
            format: match a.input_format {
                FormatArg::Auto => None,
                FormatArg::Jsonl => Some(Format::Jsonl),
                FormatArg::Text => Some(Format::Text),
            },
            mmap: !a.no_mmap,
            max_record_bytes: a.max_record_bytes,
            tmp_dir: a.tmp_dir,
        },
        skip_bad_records: a.skip_bad_records,
        threads: a.threads,
    };
    let cfg = opts.validate()?;
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
    };
    let found = corpus::discover(&a.inputs, cfg.read.format)?;
    for s in &found.skipped {
        if !a.quiet {
            eprintln!("dupstrip: note: skipping {s} (not .jsonl, .ndjson, .json or .txt)");
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
    let report = pipeline::run_dedup(&corpus, &cfg, &paths, found.skipped, &progress)?;
    if let Some(p) = &paths.report {
        pipeline::write_report(p, &report)?;
    }
    if !a.quiet {
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
    write(&a.output, &mut |w| synth::generate(&opts, w, &mut truth))?;
    write(&a.truth, &mut |w| w.write_all(&truth))?;
    Ok(())
}
