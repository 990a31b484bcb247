//! `dupstrip explain`: one pair as a `clean` or `dedup` run decides it.

use anyhow::Result;
use clap::{Args, ValueEnum};

use std::sync::Arc;

use dupstrip::boilerplate::{Rules, Stripper};
use dupstrip::explain::{ExplainRun, Explanation, explain};
use dupstrip::learn;

use super::clean::{Action, CleanArgs, clean_flags, learn_options};
use super::dedup::{CLEAN_DEFAULTS, DEDUP_DEFAULTS, prepare, ready_state};

pub(super) const EXPLAIN_EXAMPLES: &str = "\
The run is made as `clean` (default) or `dedup` would make it with the same inputs and
options, nothing written: the decision is the run's own (the pair is a duplicate when
it ends in one cluster). Then the pair is measured on its own.

Examples:
  # Why did clean drop one copy of this story and not the other?
  dupstrip explain crawl.jsonl --ids story-17 story-17-copy

  # As dedup with its options, as JSON
  dupstrip explain crawl.jsonl --ids a b --as dedup --threshold 0.7 --json";

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub(super) enum AsArg {
    /// Strip boilerplate (learned, or --rules), then compare (the defaults of clean).
    Clean,
    /// Compare the texts as read (the defaults of dedup).
    Dedup,
}

#[derive(Args, Debug)]
#[command(
    mut_arg("output", |a| a.required(false).default_value("-").hide(true)),
    mut_arg("clusters", |a| a.hide(true)),
    mut_arg("report", |a| a.hide(true)),
    mut_arg("rejects", |a| a.hide(true)),
    mut_arg("html", |a| a.hide(true)),
    mut_arg("save_rules", |a| a.hide(true))
)]
pub(super) struct ExplainArgs {
    #[command(flatten)]
    pub(super) clean: CleanArgs,

    /// The ids of the two documents (the id field, or `FILE:LINE` for records
    /// without one, as in the clusters file).
    #[arg(long, num_args = 2, value_names = ["ID_A", "ID_B"], required = true)]
    pub(super) ids: Vec<String>,

    /// Which run to explain the pair as.
    #[arg(long = "as", value_enum, default_value_t = AsArg::Clean)]
    pub(super) as_run: AsArg,

    /// Write one JSON object instead of text.
    #[arg(long)]
    pub(super) json: bool,
}

pub(super) fn explain_cmd(a: ExplainArgs) -> Result<()> {
    let ExplainArgs {
        clean: c,
        ids,
        as_run,
        json,
    } = a;
    let learn = learn_options(&c)?;
    let stripped = as_run == AsArg::Clean;
    let o = &c.common;
    let unused = [
        (o.output.as_os_str() != "-", "-o"),
        (o.clusters.is_some(), "--clusters"),
        (o.report.is_some(), "--report"),
        (o.rejects.is_some(), "--rejects"),
        (o.html.is_some(), "--html"),
        (c.save_rules.is_some(), "--save-rules"),
        (!stripped && c.rules.is_some(), "--rules (with --as dedup)"),
    ];
    let named: Vec<&str> = unused.iter().filter(|u| u.0).map(|u| u.1).collect();
    if !named.is_empty() {
        anyhow::bail!(
            "explain writes no files and does not take {}",
            named.join(", ")
        );
    }
    let match_ids = !o.no_id_match;
    let defaults = if as_run == AsArg::Clean {
        &CLEAN_DEFAULTS
    } else {
        &DEDUP_DEFAULTS
    };
    let state_dir = c.common.state.clone();
    let (mut cfg, _, corpus, _, progress, _) = prepare(c.common, defaults)?;
    if stripped {
        clean_flags(&mut cfg, c.min_chars, c.on_empty, Action::Clean);
    }
    // The state as the run saw it: read only, and without the run itself when the
    // state's last run was over the same input (as `clean` would repeat it).
    let state = match &state_dir {
        Some(dir) => {
            let params = dupstrip::state::StateParams::new(&cfg, stripped);
            let mut st =
                dupstrip::state::State::open(dir, dupstrip::state::Access::Read, Some(&params))?;
            ready_state(&mut st, &corpus, match_ids)?;
            Some(st)
        }
        None => None,
    };
    let stripper = if stripped {
        let rules = match &c.rules {
            Some(p) => Rules::load(p)?,
            None => {
                learn::learn_rules_for_run(&corpus, &cfg, &learn, state.as_ref(), &progress)?.rules
            }
        };
        progress.finish_and_clear();
        Some(Arc::new(Stripper::new(rules)))
    } else {
        None
    };
    let run = ExplainRun {
        command: if stripped { "clean" } else { "dedup" },
        stripper,
        state: state.as_ref(),
    };
    let e = explain(&corpus, &cfg, run, [&ids[0], &ids[1]])?;
    if json {
        println!("{}", serde_json::to_string_pretty(&e)?);
    } else {
        print!("{}", text(&e));
    }
    Ok(())
}

/// The explanation for people.
fn text(e: &Explanation) -> String {
    let mut s = format!(
        "decision: {} (as {})\nreason: {}\n\n",
        e.decision.to_uppercase(),
        e.command,
        e.reason
    );
    s += &format!(
        "exact Jaccard {:.4}; containment A in B {:.4}, B in A {:.4}\n",
        e.exact_jaccard, e.containment_a_in_b, e.containment_b_in_a
    );
    s += &match e.estimated_jaccard {
        Some(est) => format!("MinHash estimate {est:.4}\n"),
        None => "MinHash estimate: none (a document has no shingles)\n".to_string(),
    };
    s += &format!(
        "LSH: {} of {} bands shared ({} rows each); a pair at this Jaccard becomes a candidate with probability {:.4}\n",
        e.bands_shared, e.bands, e.rows, e.candidate_probability
    );
    if let Some(j) = &e.judged {
        s += &format!(
            "judged alone: {} similarity {:.4} {} threshold {} (--verify {}, --keep {})\n",
            j.by,
            j.similarity,
            if j.at_or_above_threshold { "≥" } else { "<" },
            e.threshold,
            e.verify,
            e.keep
        );
    }
    for (name, d) in ["A", "B"].iter().zip(&e.documents) {
        s += &format!(
            "\n{name}: {} ({}:{}, document #{}) — {}{}\n",
            d.id,
            d.input,
            d.line,
            d.position,
            d.role,
            match (&d.duplicate_of, d.similarity_to_kept) {
                (Some(of), Some(sim)) => format!(" of {of} (similarity {sim:.4})"),
                _ => String::new(),
            }
        );
        s += &format!(
            "  {} bytes, {} stripped in {} lines; {} shingles\n",
            d.bytes,
            d.stripped_bytes,
            d.stripped_lines.len(),
            d.shingles
        );
        for l in &d.stripped_lines {
            s += &format!("  - [{}] {}\n", l.rule.as_str(), l.line);
        }
        let shown: String = d.normalized.chars().take(300).collect();
        s += &format!(
            "  normalized: {shown}{}\n",
            if shown.len() < d.normalized.len() {
                " …"
            } else {
                ""
            }
        );
    }
    s
}
