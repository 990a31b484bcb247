//! Embed: how does the Python package run the command line's jobs in its own
//! process? `python/src/lib.rs` includes this folder, so a Python call takes the very
//! flags, checks, defaults and messages of the command line.

use anyhow::{Result, bail};
use clap::Parser;

use dupstrip::boilerplate::LearnOptions;
use dupstrip::config::DedupConfig;

use super::clean::{Action, clean_flags, learn_options};
use super::dedup::{DEDUP_DEFAULTS, dedup_options};
use super::{Cli, Command, execute};

/// Run a command line (`["dupstrip", "clean", "in.jsonl", "-o", "out.jsonl"]`) in this
/// process and in the caller's thread pool. Returns the run's report as JSON, for the
/// commands that make one.
pub fn run(args: Vec<String>) -> Result<Option<String>> {
    let cli = Cli::try_parse_from(args)?;
    match execute(cli.command)? {
        Some(report) => Ok(Some(serde_json::to_string(&report)?)),
        None => Ok(None),
    }
}

/// The worker threads a command line asks for (`-j N`), if it names a valid command.
pub fn threads(args: &[String]) -> Option<usize> {
    match Cli::try_parse_from(args).ok()?.command {
        Command::Dedup(a) => a.threads,
        Command::Clean(a) => a.common.threads,
        Command::Boilerplate(super::boilerplate::BoilerplateCmd::Learn(a))
        | Command::Boilerplate(super::boilerplate::BoilerplateCmd::Strip(a)) => a.common.threads,
        _ => None,
    }
}

/// The config `dupstrip dedup FLAGS` runs with (no input is named or read).
pub fn dedup_config(flags: &[String]) -> Result<DedupConfig> {
    let args = ["dupstrip", "dedup", "-o", "-"]
        .into_iter()
        .map(String::from)
        .chain(flags.iter().cloned());
    match Cli::try_parse_from(args)?.command {
        Command::Dedup(a) => Ok(dedup_options(&a, &DEDUP_DEFAULTS).validate()?),
        _ => bail!("not a dedup command line"),
    }
}

/// The config and learning options `dupstrip boilerplate learn FLAGS` learns with.
pub fn learn_config(flags: &[String]) -> Result<(DedupConfig, LearnOptions)> {
    let args = ["dupstrip", "clean", "-o", "-"]
        .into_iter()
        .map(String::from)
        .chain(flags.iter().cloned());
    match Cli::try_parse_from(args)?.command {
        Command::Clean(a) => {
            let learn = learn_options(&a)?;
            let mut cfg = dedup_options(&a.common, &super::dedup::CLEAN_DEFAULTS).validate()?;
            clean_flags(&mut cfg, a.min_chars, a.on_empty, Action::Learn);
            Ok((cfg, learn))
        }
        _ => bail!("not a clean command line"),
    }
}
