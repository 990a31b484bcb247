//! `dupstrip state stats|compact|rules`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use dupstrip::output;
use dupstrip::state::{Access, State};

#[derive(Subcommand, Debug)]
pub(super) enum StateCmd {
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

pub(super) fn state_cmd(cmd: StateCmd) -> Result<()> {
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
            let rules = lines.rules(st.manifest.params.normalize)?;
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
