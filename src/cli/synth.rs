//! `dupstrip synth`: generated corpora with planted duplicates and boilerplate.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use dupstrip::synth;

#[derive(Args, Debug)]
pub(super) struct SynthArgs {
    /// Documents to write.
    #[arg(long, default_value_t = 1000)]
    pub(super) docs: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Share of documents that are near-duplicate copies (at most 0.7).
    #[arg(long, default_value_t = 0.3)]
    pub(super) dup_share: f64,
    /// Corpus output (JSON Lines; `-` for standard output).
    #[arg(short, long)]
    pub(super) output: PathBuf,
    /// Truth output: one line per document with its story ("family") and edits.
    #[arg(long)]
    pub(super) truth: PathBuf,
    /// Wrap every article in its outlet's boilerplate (date, source, tag, app-follow,
    /// ad and copyright lines, "Read also:" with an appended article) and syndicate
    /// stories to 3–5 outlets; the truth marks boilerplate lines.
    #[arg(long)]
    pub(super) boilerplate: bool,
    /// Outlet layouts of --boilerplate: `fixed` (a few hand-made ones) or `random`
    /// (drawn from a grammar with --seed: which elements, where, in which words and
    /// language, markers with or without a colon, related-headline lines; records
    /// carry a `url`). `random` implies --boilerplate.
    #[arg(long, value_enum, default_value = "fixed")]
    pub(super) layouts: Layouts,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub(super) enum Layouts {
    Fixed,
    Random,
}

pub(super) fn synth_cmd(a: SynthArgs) -> Result<()> {
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
