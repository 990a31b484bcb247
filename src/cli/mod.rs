//! Command-line options. Only parsing and turning flags into library settings lives
//! here; every check of what the options mean is in `dupstrip::config`.

use anyhow::Result;
use clap::{Parser, Subcommand};
use dupstrip::report::Report;

mod boilerplate;
mod clean;
mod dedup;
// The Python package includes this folder (python/src/lib.rs) and calls `embed`; the
// binary does not.
#[allow(dead_code)]
pub mod embed;
mod explain;
mod stage;
mod state;
mod synth;

use boilerplate::BoilerplateCmd;
use clean::{Action, CLEAN_EXAMPLES, CleanArgs, clean};
use dedup::{DEDUP_EXAMPLES, DedupArgs, dedup};
use explain::{EXPLAIN_EXAMPLES, ExplainArgs, explain_cmd};
use stage::{StageCmd, stage_cmd};
use state::{StateCmd, state_cmd};
use synth::{SynthArgs, synth_cmd};

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
    /// Explain one pair as a `clean` or `dedup` run decides it: the lines stripped
    /// from each and by which rule, exact Jaccard and containments, the MinHash
    /// estimate, the LSH bands they share, and the decision with its reason.
    #[command(after_help = EXPLAIN_EXAMPLES)]
    Explain(Box<ExplainArgs>),
    /// Learn boilerplate rules, or apply them.
    #[command(subcommand)]
    Boilerplate(BoilerplateCmd),
    /// Inspect or maintain a state directory (`--state`): statistics, merging segments,
    /// exporting the boilerplate rules it has learned.
    #[command(subcommand)]
    State(StateCmd),
    /// The stages of `clean` as streaming maps over JSON Lines (standard input to
    /// standard output), for an engine such as Spark that does the grouping between
    /// them (integrations/spark/). Line formats: docs/spark-and-stages.md.
    #[command(subcommand)]
    Stage(StageCmd),
    /// Write a synthetic corpus with planted near-duplicates (for tests and benchmarks).
    #[command(
        after_help = "Example:\n  dupstrip synth --docs 100000 --seed 7 -o corpus.jsonl --truth truth.jsonl"
    )]
    Synth(SynthArgs),
}

pub fn run() -> Result<()> {
    execute(Cli::parse().command).map(drop)
}

/// Run one command; the report of the runs that make one.
fn execute(command: Command) -> Result<Option<Report>> {
    match command {
        Command::Dedup(args) => dedup(*args),
        Command::Clean(args) => clean(*args, Action::Clean),
        Command::Explain(args) => explain_cmd(*args).map(|()| None),
        Command::Boilerplate(BoilerplateCmd::Learn(args)) => clean(*args, Action::Learn),
        Command::Boilerplate(BoilerplateCmd::Strip(args)) => clean(*args, Action::Strip),
        Command::State(cmd) => state_cmd(cmd).map(|()| None),
        Command::Stage(cmd) => stage_cmd(cmd).map(|()| None),
        Command::Synth(args) => synth_cmd(args).map(|()| None),
    }
}
