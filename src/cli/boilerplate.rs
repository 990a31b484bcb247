//! `dupstrip boilerplate learn|strip`.

use clap::Subcommand;

use super::clean::CleanArgs;

#[derive(Subcommand, Debug)]
pub(super) enum BoilerplateCmd {
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
