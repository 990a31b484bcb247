//! `dupstrip stage …`: the stages of `clean` as streaming maps, for Spark.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};

use dupstrip::boilerplate::{LearnOptions, Rules};
use dupstrip::config::EmptyPolicy;
use dupstrip::stage;

use super::clean::{CleanArgs, EmptyArg};
use super::dedup::{CLEAN_DEFAULTS, FormatArg, ModeArg, dedup_options};

#[derive(Args, Debug)]
pub(super) struct StageCommon {
    /// The job's config file, written by `dupstrip stage config`.
    #[arg(long, value_name = "FILE")]
    pub(super) config: PathBuf,
    /// Worker threads (an engine runs one stage per core).
    #[arg(short = 'j', long, value_name = "N", default_value_t = 1)]
    pub(super) threads: usize,
}

/// Spark SQL's row format (`TRANSFORM … USING`), instead of JSON lines.
#[derive(Args, Debug, Default)]
pub(super) struct RowArgs {
    /// Read and write rows of fields separated by U+0001, as Spark SQL's `TRANSFORM
    /// … ROW FORMAT DELIMITED FIELDS TERMINATED BY '\u0001'` pipes them (formats in
    /// docs/spark-and-stages.md).
    #[arg(long)]
    pub(super) delimited: bool,
    /// With --delimited: a JSON array of the inputs' names, so that a row names its
    /// record FILE:LINE (its id when it has none, and in errors).
    #[arg(long, value_name = "FILE", requires = "delimited")]
    pub(super) names: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub(super) enum PurposeArg {
    /// Raw pages grouped into stories, for learning boilerplate.
    Stories,
    /// Stripped texts, for near-duplicates.
    Dedup,
}

#[derive(Subcommand, Debug)]
pub(super) enum StageCmd {
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
        #[command(flatten)]
        rows: RowArgs,
        /// Which grouping the sketch serves.
        #[arg(long = "for", value_enum, value_name = "PURPOSE")]
        purpose: PurposeArg,
        /// Rules to strip with (needed with --for dedup).
        #[arg(long, value_name = "FILE")]
        rules: Option<PathBuf>,
        /// Output of `stage learn`: also find the lines that match a learned key, as
        /// `stage examples` does, in the same read (--for dedup; the further examples
        /// of rules that already have their first).
        #[arg(long, value_name = "FILE")]
        learned: Option<PathBuf>,
        /// Leave out the band keys (no `b` rows; an empty "bands" list in JSON): `stage
        /// candidates`, which bands the signatures itself, does not read them.
        #[arg(long)]
        no_band_keys: bool,
    },
    /// Buckets in ({"members": [sketch lines]}), confirmed edges out ({"a", "b",
    /// "similarity"}, rows).
    Confirm {
        #[command(flatten)]
        common: StageCommon,
        #[command(flatten)]
        rows: RowArgs,
        /// Which grouping the buckets belong to.
        #[arg(long = "for", value_enum, value_name = "PURPOSE")]
        purpose: PurposeArg,
    },
    /// Signatures in (sketch lines {"row", "len", "sig"}), every confirmed edge out
    /// ({"a", "b", "similarity"}, sorted): the band buckets and their confirmation in
    /// one process, as `clean` finds them, for an engine whose signatures fit one
    /// task's memory.
    #[command(
        after_help = "Holds every signature in memory, with the edges found: about 2 bytes a permutation (num_perm of the config) and 100 more each (94-96 MiB peak for the 270,270 story signatures of 1 GB of news, in row order or not; 301 MiB for a million random ones, benches/stage.sh).\n\n\
                      Example:\n  dupstrip stage sketch --config job.json --for stories < envelopes.jsonl \\\n      | dupstrip stage candidates --config job.json --for stories \\\n      | dupstrip stage components > stories.jsonl"
    )]
    Candidates {
        #[command(flatten)]
        common: StageCommon,
        #[command(flatten)]
        rows: RowArgs,
        /// Which grouping the signatures serve.
        #[arg(long = "for", value_enum, value_name = "PURPOSE")]
        purpose: PurposeArg,
    },
    /// The story sketch in (`stage sketch --for stories` lines), the story count of
    /// every line key at its floor out ({"kind", "hash", "stories"}, as `stage learn`
    /// reads them): the story candidates, their components and the counts in one
    /// process, as `clean` finds them, for an engine whose story sketch fits one
    /// task's memory.
    #[command(
        after_help = "Holds every signature and every line key in memory: about 2 bytes a permutation and 200 more a record, and 16 bytes a line key (300 MiB peak for the 270,270 pages and 12.6 million line keys of 1 GB of news). With --delimited, reads the rows of `stage sketch --for stories --delimited` (s, k, n; b rows are skipped) and writes rows `c, KIND, HASH, STORIES`, then `g, DOCUMENTS, STORIES, EDGES`; without, the summary goes to standard error.\n\n\
                      Example:\n  dupstrip stage sketch --config job.json --for stories < envelopes.jsonl \\\n      | dupstrip stage stories --config job.json > counts.jsonl"
    )]
    Stories {
        #[command(flatten)]
        common: StageCommon,
        #[command(flatten)]
        rows: RowArgs,
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
        #[command(flatten)]
        rows: RowArgs,
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
        /// Write {"first_examples": BOOL, "all_examples": BOOL, "without_first_example":
        /// N} to FILE: whether every rule has its first example, and every example it
        /// keeps (one for line and marker rules, three distinct ones for templates),
        /// and how many learned keys have none. With examples from the first records
        /// in row order, the first makes the rules strip as they will with every
        /// record's examples, and the second leaves the rest of the corpus nothing to
        /// change in the rules file.
        #[arg(long, value_name = "FILE")]
        status: Option<PathBuf>,
    },
    /// Components in ({"members": [{"sketch", "input"}]}), clusters out ({"keep",
    /// "members": [{"row", "id", "similarity"}]}).
    Assign {
        #[command(flatten)]
        common: StageCommon,
        #[command(flatten)]
        rows: RowArgs,
        /// The rules the texts were stripped with.
        #[arg(long, value_name = "FILE")]
        rules: PathBuf,
    },
    /// Record envelopes in, the records `clean` writes out: boilerplate stripped,
    /// emptied records and the rows of --drop left out.
    Apply {
        #[command(flatten)]
        common: StageCommon,
        #[command(flatten)]
        rows: RowArgs,
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
    /// Edges in ({"a", "b"}, as `stage confirm` writes them), every row of a
    /// component out with its root, the component's smallest row ({"row", "root"}),
    /// sorted by row: the connected components in one process, for an engine whose
    /// edges fit one task's memory.
    #[command(
        after_help = "Needs no config. Holds every edge in memory: about 42 bytes per edge (201 MiB peak for 5 million, benches/stage.sh).\n\n\
                      Example:\n  dupstrip stage confirm --config job.json --for dedup < buckets.jsonl \\\n      | dupstrip stage components > roots.jsonl"
    )]
    Components {
        /// Rows `A, B` in and `ROW, ROOT` out, fields separated by U+0001, as Spark
        /// SQL's `TRANSFORM` pipes them.
        #[arg(long)]
        delimited: bool,
    },
    /// Gzip or zstd in, plain bytes out (for engines that cannot read zstd); with
    /// --delimited, rows of whole files in hex in, their records out.
    Decompress {
        #[command(flatten)]
        rows: RowArgs,
    },
}

/// `stage config`: clean's options, checked, as a config file.
pub(super) fn stage_config(a: CleanArgs) -> Result<()> {
    let c = &a.common;
    let unsupported = [
        (!c.inputs.is_empty(), "INPUT (stages read standard input)"),
        (c.clusters.is_some(), "--clusters"),
        (c.report.is_some(), "--report"),
        (c.rejects.is_some(), "--rejects"),
        (c.html.is_some(), "--html"),
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

/// `stage stories`, with its summary on standard error when it writes JSON lines.
fn stage_stories(
    sc: &stage::StageConfig,
    delimited: bool,
    input: impl std::io::BufRead,
    name: &str,
    out: &mut impl std::io::Write,
) -> Result<(), stage::StageError> {
    let r = stage::stories(sc, delimited, input, name, out)?;
    if !delimited {
        eprintln!(
            "dupstrip stage stories: {} records, {} stories ({} records in stories of \
             several), {} edges; {} of {} line keys at their floor",
            r.documents, r.stories, r.grouped, r.edges, r.keys, r.line_keys
        );
    }
    Ok(())
}

fn stage_decompress(rows: &RowArgs) -> Result<()> {
    let input = std::io::BufReader::with_capacity(1 << 20, std::io::stdin().lock());
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let result = if rows.delimited {
        let names = stage::rows::Names::load(rows.names.as_deref())?;
        stage::rows::decompress_rows(&names, input, "<stdin>", &mut out)
    } else {
        stage::decompress(input, &mut out).map(|_| ())
    };
    flush_output(result, out)
}

pub(super) fn stage_cmd(cmd: StageCmd) -> Result<()> {
    let cmd = match cmd {
        StageCmd::Config(a) => return stage_config(*a),
        StageCmd::Components { delimited } => return stage_components(delimited),
        StageCmd::Decompress { rows } => return stage_decompress(&rows),
        other => other,
    };
    let (common, rows) = match &cmd {
        StageCmd::Config(_) | StageCmd::Decompress { .. } | StageCmd::Components { .. } => {
            return Ok(());
        }
        StageCmd::Learn { common, .. } | StageCmd::Rules { common, .. } => {
            (common, &RowArgs::default())
        }
        StageCmd::Sketch { common, rows, .. }
        | StageCmd::Confirm { common, rows, .. }
        | StageCmd::Candidates { common, rows, .. }
        | StageCmd::Stories { common, rows }
        | StageCmd::Examples { common, rows, .. }
        | StageCmd::Assign { common, rows, .. }
        | StageCmd::Apply { common, rows, .. } => (common, rows),
    };
    // Inside a pool already (the Python package), the global one is left alone.
    if rayon::current_thread_index().is_none() {
        rayon::ThreadPoolBuilder::new()
            .num_threads(common.threads.max(1))
            .build_global()
            .context("cannot start the worker threads")?;
    }
    let sc = stage::StageConfig::load(&common.config)?;
    let names = stage::rows::Names::load(rows.names.as_deref())?;
    let stdin = std::io::stdin().lock();
    let input = std::io::BufReader::with_capacity(1 << 20, stdin);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let name = "<stdin>";
    let purpose = |p: PurposeArg| match p {
        PurposeArg::Stories => stage::Purpose::Stories,
        PurposeArg::Dedup => stage::Purpose::Dedup,
    };
    let delimited = rows.delimited;
    let result = match &cmd {
        StageCmd::Config(_) | StageCmd::Decompress { .. } | StageCmd::Components { .. } => Ok(()),
        StageCmd::Sketch {
            purpose: p,
            rules,
            learned,
            no_band_keys,
            ..
        } => {
            let rules = sketch_rules(purpose(*p), rules.as_deref(), learned.is_some())?;
            let (p, learned, bands) = (purpose(*p), learned.as_deref(), !no_band_keys);
            if delimited {
                stage::rows::sketch(&sc, p, rules, learned, bands, &names, input, name, &mut out)
            } else {
                stage::sketch(&sc, p, rules, learned, bands, input, name, &mut out)
            }
        }
        StageCmd::Confirm { purpose: p, .. } if delimited => {
            stage::rows::confirm(&sc, purpose(*p), input, name, &mut out)
        }
        StageCmd::Confirm { purpose: p, .. } => {
            stage::confirm(&sc, purpose(*p), input, name, &mut out)
        }
        StageCmd::Candidates { purpose: p, .. } => {
            stage::candidates(&sc, purpose(*p), delimited, input, name, &mut out).map(|_| ())
        }
        StageCmd::Stories { .. } => stage_stories(&sc, delimited, input, name, &mut out),
        StageCmd::Learn {
            documents, stories, ..
        } => stage::learn(&sc, *documents, *stories, input, name, &mut out),
        StageCmd::Examples { learned, .. } if delimited => {
            stage::rows::examples(&sc, learned, &names, input, name, &mut out)
        }
        StageCmd::Examples { learned, .. } => stage::examples(&sc, learned, input, name, &mut out),
        StageCmd::Rules {
            learned, status, ..
        } => stage::rules(&sc, learned, input, name, &mut out)
            .and_then(|s| write_rules_status(status.as_deref(), s)),
        StageCmd::Assign { rules, .. } if delimited => {
            let rules = Some(Rules::load(rules)?);
            stage::rows::assign(&sc, rules, &names, input, name, &mut out)
        }
        StageCmd::Assign { rules, .. } => {
            stage::assign(&sc, Some(Rules::load(rules)?), input, name, &mut out)
        }
        StageCmd::Apply {
            rules, drop, stats, ..
        } if delimited => {
            if drop.is_some() || stats.is_some() {
                anyhow::bail!(
                    "stage apply --delimited takes no --drop or --stats: the engine leaves out the dropped rows and counts what it writes"
                );
            }
            let rules = Some(Rules::load(rules)?);
            stage::rows::apply(&sc, rules, &names, input, name, &mut out)
        }
        StageCmd::Apply {
            rules, drop, stats, ..
        } => {
            let rules = Rules::load(rules)?;
            apply_json(
                &sc,
                rules,
                drop.as_deref(),
                stats.as_deref(),
                input,
                &mut out,
            )
        }
    };
    flush_output(result, out)
}

/// The rules `stage sketch` strips with: needed for dedup, refused for stories, as is
/// `--learned`.
fn sketch_rules(
    p: stage::Purpose,
    rules: Option<&std::path::Path>,
    learned: bool,
) -> Result<Option<Rules>> {
    match (p, rules) {
        (stage::Purpose::Dedup, None) => anyhow::bail!(
            "stage sketch --for dedup needs --rules FILE (the output of `stage rules`)"
        ),
        (stage::Purpose::Stories, Some(_)) => anyhow::bail!(
            "stage sketch --for stories reads raw pages: --rules goes with --for dedup"
        ),
        (stage::Purpose::Stories, None) if learned => {
            anyhow::bail!("stage sketch --learned goes with --for dedup")
        }
        (_, Some(r)) => Ok(Some(Rules::load(r)?)),
        (_, None) => Ok(None),
    }
}

/// `stage rules --status FILE`: whether the rules have their examples.
fn write_rules_status(
    path: Option<&std::path::Path>,
    status: stage::RulesStatus,
) -> Result<(), stage::StageError> {
    let Some(p) = path else { return Ok(()) };
    let json = serde_json::to_string(&status).unwrap_or_default() + "\n";
    std::fs::write(p, json).map_err(|e| stage::StageError::File {
        path: p.display().to_string(),
        message: format!("cannot write: {e}"),
    })
}

/// `stage components`: standard input to standard output.
fn stage_components(delimited: bool) -> Result<()> {
    let input = std::io::BufReader::with_capacity(1 << 20, std::io::stdin().lock());
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let result = stage::components(delimited, input, "<stdin>", &mut out);
    flush_output(result.map(|_| ()), out)
}

/// Flush the output; a closed standard output is not an error (the reader stopped).
fn flush_output(result: Result<(), stage::StageError>, mut out: impl std::io::Write) -> Result<()> {
    let result = result.and_then(|_| out.flush().map_err(stage::StageError::Write));
    match result {
        Err(e) if e.is_broken_pipe() => Ok(()),
        other => Ok(other?),
    }
}

/// `stage apply` over JSON lines, with its drop list and stats file.
fn apply_json(
    sc: &stage::StageConfig,
    rules: Rules,
    drop: Option<&std::path::Path>,
    stats: Option<&std::path::Path>,
    input: impl std::io::BufRead,
    out: &mut impl std::io::Write,
) -> Result<(), stage::StageError> {
    let drop = match drop {
        Some(p) => stage::read_drop_list(p)?,
        None => Default::default(),
    };
    let s = stage::apply(sc, Some(rules), &drop, input, "<stdin>", out)?;
    if let Some(p) = stats {
        let json = serde_json::to_string(&s).unwrap_or_default();
        std::fs::write(p, json + "\n").map_err(|e| stage::StageError::File {
            path: p.display().to_string(),
            message: format!("cannot write: {e}"),
        })?;
    }
    Ok(())
}
