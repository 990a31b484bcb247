//! Stats: what a state holds (`dupstrip state stats`).

use super::*;

/// What `dupstrip state stats` shows.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Stats {
    pub dir: String,
    pub format_version: u32,
    pub written_by: String,
    pub params: StateParams,
    pub documents: u64,
    pub bytes: u64,
    pub segments: Vec<SegmentEntry>,
    pub runs: Vec<RunEntry>,
    pub boilerplate: Option<BoilerplateStats>,
}

/// The boilerplate statistics of a state.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BoilerplateStats {
    pub keys: u64,
    pub documents: u64,
    pub stories: u64,
    pub learn: crate::boilerplate::LearnOptions,
    pub line_rules: usize,
    pub template_rules: usize,
    pub marker_rules: usize,
}

impl Stats {
    pub fn of(st: &State) -> Stats {
        let m = &st.manifest;
        Stats {
            dir: st.dir.display().to_string(),
            format_version: m.version,
            written_by: m.written_by.clone(),
            params: m.params.clone(),
            documents: st.documents(),
            bytes: st.bytes(),
            segments: m.segments.clone(),
            runs: m.runs.clone(),
            boilerplate: st.lines.as_ref().map(|l| {
                // Rules from the statistics alone read nothing but the mapped file.
                let rules = (l.rules(m.params.normalize))
                    .unwrap_or_else(|_| crate::boilerplate::Rules::empty());
                BoilerplateStats {
                    keys: l.entries.len() as u64,
                    documents: l.documents,
                    stories: l.stories,
                    learn: l.learn,
                    line_rules: rules.lines.len(),
                    template_rules: rules.templates.len(),
                    marker_rules: rules.markers.len(),
                }
            }),
        }
    }

    /// The statistics for people.
    pub fn text(&self) -> String {
        let p = &self.params;
        let mb = |b: u64| b as f64 / 1e6;
        let mut s = format!(
            "state {} (format {}, written by {})\n",
            self.dir, self.format_version, self.written_by
        );
        s += &format!(
            "documents: {} in {} segments, {:.1} MB; every checksum verified\n",
            self.documents,
            self.segments.len(),
            mb(self.bytes)
        );
        s += &format!(
            "parameters: --seed {} --shingle {} (n = {}) --num-perm {} --scheme {} --bands {} --rows {}; {} text; normalize {}\n",
            p.seed,
            serde_json::to_value(p.shingle.kind)
                .unwrap_or_default()
                .as_str()
                .unwrap_or("?"),
            p.shingle.n,
            p.num_perm,
            serde_json::to_value(p.scheme)
                .unwrap_or_default()
                .as_str()
                .unwrap_or("?"),
            p.bands,
            p.rows,
            if p.stripped {
                "stripped (clean)"
            } else {
                "raw (dedup)"
            },
            serde_json::to_string(&p.normalize).unwrap_or_default()
        );
        let added: u64 = self.runs.iter().map(|r| r.added).sum();
        let copies: u64 = self.runs.iter().map(|r| r.duplicates_of_state).sum();
        s += &format!(
            "runs: {} (read {} documents, added {}, {} found to copy earlier runs)\n",
            self.runs.len(),
            self.runs.iter().map(|r| r.read).sum::<u64>(),
            added,
            copies
        );
        for r in self.runs.iter().rev().take(5) {
            let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(r.finished_unix);
            s += &format!(
                "  run {:>4} {} {}  read {:>9}  added {:>9}  copies of earlier runs {:>8}  {}\n",
                r.run,
                humantime::format_rfc3339_seconds(when),
                r.command,
                r.read,
                r.added,
                r.duplicates_of_state,
                r.inputs.join(" ")
            );
        }
        s += "segments:\n";
        for seg in &self.segments {
            s += &format!(
                "  {}  runs {:>4}-{:<4}  {:>10} documents  {:>9.1} MB\n",
                seg.file.file,
                seg.runs[0],
                seg.runs[1],
                seg.docs,
                mb(seg.file.bytes)
            );
        }
        match &self.boilerplate {
            Some(b) => {
                s += &format!(
                    "boilerplate: {} line keys from {} documents ({} stories); rules now: {} line, {} template, {} marker (--min-docs {}, --min-fraction {})\n",
                    b.keys,
                    b.documents,
                    b.stories,
                    b.line_rules,
                    b.template_rules,
                    b.marker_rules,
                    b.learn.min_docs,
                    b.learn.min_fraction
                );
            }
            None => {
                s += "boilerplate: no statistics (gathered by `clean --state` runs that learn)\n"
            }
        }
        s
    }
}
