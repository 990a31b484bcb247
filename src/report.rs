//! Report: what did a run do? A JSON document (schema below, versioned) for machines,
//! and a short summary on stderr for people.

use std::io::{self, Write};
use std::path::Path;

use crate::cluster::AssignStats;
use crate::config::DedupConfig;
use crate::corpus::InputSpec;
use crate::error::{RunError, write_err};
use crate::lsh::{self, CandidateStats};
use crate::output;
use crate::timings::Timings;

/// Version of the report's JSON layout. Bumped when a field changes meaning or is
/// removed; new fields may appear without a bump.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, serde::Serialize)]
pub struct InputReport {
    #[serde(flatten)]
    pub spec: InputSpec,
    /// Records read from it (blank lines are not records).
    pub records: u64,
}

/// Document counts. Always: `read = written + dropped + rejected + emptied_dropped`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Counts {
    pub read: u64,
    pub written: u64,
    /// Records left out of the output as duplicates (`--mode drop`), else 0.
    pub dropped: u64,
    /// Documents found to be near-duplicates of a kept document.
    pub duplicates: u64,
    /// Records that could not be read (`--skip-bad-records`).
    pub rejected: u64,
    /// Documents whose normalized text is empty; they are never duplicates.
    pub empty: u64,
    /// Clusters of two or more documents.
    pub clusters: u64,
    /// Documents that boilerplate stripping left empty (or under --min-chars).
    pub emptied: u64,
    /// Of those, the ones left out of the output (`--on-empty drop`).
    pub emptied_dropped: u64,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Bytes {
    /// Size of the inputs as stored (compressed size for compressed inputs).
    pub input: u64,
    /// Bytes of text read (the text field of every record).
    pub text_in: u64,
    /// Bytes of text in the records written.
    pub text_out: u64,
    /// Bytes written to the output (before compression).
    pub output: u64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct CurvePoint {
    pub similarity: f64,
    pub probability: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct LshReport {
    pub bands: usize,
    pub rows: usize,
    /// Probability that a pair at each similarity becomes a candidate.
    pub s_curve: Vec<CurvePoint>,
}

impl LshReport {
    pub fn new(p: lsh::LshParams) -> Self {
        LshReport {
            bands: p.bands,
            rows: p.rows,
            s_curve: lsh::s_curve(p)
                .into_iter()
                .map(|(similarity, probability)| CurvePoint {
                    similarity,
                    probability,
                })
                .collect(),
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: &'static str,
    pub version: &'static str,
    pub command: &'static str,
    pub inputs: Vec<InputReport>,
    /// Files inside input directories that were not read (unknown extension).
    pub skipped_files: Vec<String>,
    pub documents: Counts,
    pub bytes: Bytes,
    pub parameters: DedupConfig,
    pub lsh: LshReport,
    pub candidates: CandidateStats,
    pub clustering: AssignStats,
    pub verification: crate::verify::VerifyStats,
    /// Boilerplate rules and what stripping removed (`clean`, `boilerplate strip`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boilerplate: Option<BoilerplateReport>,
    /// What the run did with its `--state` directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<StateReport>,
    pub threads: usize,
    pub timings: Timings,
    /// Peak memory of the run (varies from run to run, as timings do).
    pub memory: crate::memory::MemoryReport,
}

/// A run against a state directory (`--state`).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct StateReport {
    pub dir: String,
    /// The state was made by this run.
    pub created: bool,
    /// This run's number in the state.
    pub run: u32,
    /// Set when the input was the same as the state's last run: that run was
    /// replaced by this one (a night repeated), as if it had never happened.
    pub replaced_run: Option<u32>,
    /// Documents that share a record id with a document of the state but whose
    /// estimated similarity to it is under the threshold; dropped as copies all the
    /// same (same id means the same document).
    pub id_matches_below_threshold: u64,
    pub documents_before: u64,
    pub segments_before: u64,
    /// State documents found through the band index and compared.
    pub comparisons: u64,
    /// Documents of this run found to copy a document of the state.
    pub duplicates_of_state: u64,
    /// Documents this run added (its kept documents).
    pub added: u64,
    pub documents_after: u64,
    pub segments_after: u64,
    /// Segments merged into one after the run (tiers fill up every few runs).
    pub segments_merged: u64,
    pub bytes_after: u64,
    /// Boilerplate line keys the state tracks (runs that learn rules).
    pub boilerplate_keys: Option<u64>,
    pub lookup_seconds: f64,
    pub commit_seconds: f64,
}

impl Report {
    /// A few lines for people, written to stderr.
    pub fn summary(&self) -> String {
        let d = &self.documents;
        let mb = self.bytes.text_in as f64 / 1e6;
        let t = self.timings.total.max(1e-9);
        let mut s = format!(
            "dupstrip: read {} documents ({:.1} MB of text) from {} input(s) in {:.2} s ({:.1} MB/s, {:.0} docs/s)\n",
            d.read,
            mb,
            self.inputs.len(),
            self.timings.total,
            mb / t,
            d.read as f64 / t
        );
        s += &format!(
            "dupstrip: {} near-duplicates in {} clusters; {} written, {} dropped, {} rejected, {} empty\n",
            d.duplicates, d.clusters, d.written, d.dropped, d.rejected, d.empty
        );
        if let Some(b) = &self.boilerplate {
            s += &format!(
                "dupstrip: boilerplate: {} line, {} template, {} marker rules; {} lines ({:.1} MB) removed from {} documents, {} lost over half their text, {} emptied\n",
                b.lines,
                b.templates,
                b.markers,
                b.removed.lines_removed,
                b.removed.bytes_removed as f64 / 1e6,
                b.removed.documents_stripped,
                b.removed.over_half,
                b.removed.emptied
            );
        }
        if let Some(st) = &self.state {
            if let Some(r) = st.replaced_run {
                s += &format!(
                    "dupstrip: note: the input is the same as the state's run {r}: this run replaced it\n"
                );
            }
            if st.id_matches_below_threshold > 0 {
                s += &format!(
                    "dupstrip: warning: {} documents share an id with a document of the state but not its text (similarity under the threshold); they were dropped as copies. If ids are not stable across runs, pass --no-id-match\n",
                    st.id_matches_below_threshold
                );
            }
            s += &format!(
                "dupstrip: state {}: {} documents before run {}; {} copies of them found; {} added ({} documents, {} segments{})\n",
                st.dir,
                st.documents_before,
                st.run,
                st.duplicates_of_state,
                st.added,
                st.documents_after,
                st.segments_after,
                if st.segments_merged > 0 {
                    format!(", {} merged", st.segments_merged)
                } else {
                    String::new()
                }
            );
        }
        s += &format!(
            "dupstrip: LSH {} bands × {} rows; {} candidate comparisons, {} confirmed pairs\n",
            self.lsh.bands,
            self.lsh.rows,
            self.candidates.comparisons,
            self.candidates.confirmed_pairs
        );
        s
    }
}

/// Rules in force and what they removed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BoilerplateReport {
    /// `learned` or the rules file's path.
    pub rules_source: Option<String>,
    pub learned_from: Option<crate::boilerplate::LearnedFrom>,
    pub lines: usize,
    pub templates: usize,
    pub markers: usize,
    /// The most frequent rules of each kind (at most 20), with their story counts.
    pub top_lines: Vec<crate::boilerplate::LineRule>,
    pub top_templates: Vec<crate::boilerplate::TemplateRule>,
    pub top_markers: Vec<crate::boilerplate::MarkerRule>,
    pub removed: crate::boilerplate::StripStats,
}

impl BoilerplateReport {
    pub fn new(
        rules: &crate::boilerplate::Rules,
        rules_source: Option<String>,
        removed: crate::boilerplate::StripStats,
    ) -> Self {
        BoilerplateReport {
            rules_source,
            learned_from: rules.learned_from.clone(),
            lines: rules.lines.len(),
            templates: rules.templates.len(),
            markers: rules.markers.len(),
            top_lines: rules.lines.iter().take(20).cloned().collect(),
            top_templates: rules.templates.iter().take(20).cloned().collect(),
            top_markers: rules.markers.iter().take(20).cloned().collect(),
            removed,
        }
    }
}
/// Write the report as pretty JSON.
pub fn write_report(path: &Path, report: &Report) -> Result<(), RunError> {
    output::write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, report).map_err(io::Error::other)?;
        w.write_all(b"\n")
    })
    .map_err(write_err(path))
}
