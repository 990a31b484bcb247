//! Lines: the boilerplate statistics of a state (stories per line key over all runs),
//! and the rules they give.

use std::collections::HashMap;
use std::path::Path;

use crate::normalize::NormalizeOptions;

use super::format::{DataFile, FileWriter};
use super::*;

/// Line-key statistics accumulated over runs.
#[derive(Clone, Debug, Default)]
pub struct LineStats {
    /// `(kind, hash) → (stories, last run seen)`, sorted by key.
    pub entries: Vec<((u8, u64), (u64, u32))>,
    /// Documents and stories of every run that learned.
    pub documents: u64,
    pub stories: u64,
    /// Examples of the current rules.
    pub examples: Vec<((u8, u64), Vec<String>)>,
    /// Options the rules were last chosen with.
    pub learn: crate::boilerplate::LearnOptions,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct StatsMeta {
    pub(super) keys: u64,
    pub(super) documents: u64,
    pub(super) stories: u64,
    pub(super) learn: crate::boilerplate::LearnOptions,
}

impl LineStats {
    /// Add one run's story counts (any order, keys distinct) seen in run `run`, and
    /// forget keys under their floor (`boilerplate::floor` of the story count
    /// `self.learn` requires) that were not seen for [`SINGLETON_RUNS`] runs (one
    /// story) or [`FORGET_RUNS`] runs (more).
    pub fn merge(&mut self, day: Vec<((u8, u64), u64)>, run: u32, documents: u64, stories: u64) {
        self.documents += documents;
        self.stories += stories;
        let required = self.learn.required(self.stories);
        let mut day = day;
        day.sort_unstable();
        let old = std::mem::take(&mut self.entries);
        let mut out = Vec::with_capacity(old.len() + day.len());
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < day.len() {
            let take_old = j >= day.len() || (i < old.len() && old[i].0 < day[j].0);
            let take_day = i >= old.len() || (j < day.len() && day[j].0 < old[i].0);
            let e = if take_old {
                i += 1;
                old[i - 1]
            } else if take_day {
                j += 1;
                (day[j - 1].0, (day[j - 1].1, run))
            } else {
                i += 1;
                j += 1;
                (old[i - 1].0, (old[i - 1].1.0 + day[j - 1].1, run))
            };
            let (n, last) = e.1;
            let window = if n >= 2 { FORGET_RUNS } else { SINGLETON_RUNS };
            if n >= crate::boilerplate::floor(e.0.0, required) || last.saturating_add(window) > run
            {
                out.push(e);
            }
        }
        self.entries = out;
    }

    pub(super) fn write(&self, path: &Path, params: &StateParams) -> Result<FileEntry, StateError> {
        let mut w = FileWriter::create(path, STATS_MAGIC, params)?;
        w.section("entries", |w| {
            for chunk in self.entries.chunks(8192) {
                let packed: Vec<[u64; 3]> = chunk
                    .iter()
                    .map(|&((kind, hash), (stories, last))| {
                        [hash, stories, (u64::from(kind) << 32) | u64::from(last)]
                    })
                    .collect();
                w.put_pod(&packed)?;
            }
            Ok(())
        })?;
        let examples: Vec<(u8, u64, &Vec<String>)> = self
            .examples
            .iter()
            .map(|((k, h), e)| (*k, *h, e))
            .collect();
        let examples = serde_json::to_vec(&examples).unwrap_or_default();
        w.section("examples", |w| w.put(&examples))?;
        let meta = StatsMeta {
            keys: self.entries.len() as u64,
            documents: self.documents,
            stories: self.stories,
            learn: self.learn,
        };
        w.finish(serde_json::to_value(&meta).unwrap_or_default())
    }

    pub(super) fn read(
        dir: &Path,
        entry: &FileEntry,
        params: &StateParams,
    ) -> Result<LineStats, StateError> {
        let path = dir.join(&entry.file);
        let data = DataFile::open(&path, STATS_MAGIC)?;
        if data.checksum != entry.checksum {
            return Err(corrupt(&path, "checksum is not the one the manifest names"));
        }
        let meta: StatsMeta = data.meta()?;
        if data.params != *params {
            return Err(corrupt(&path, "its parameters are not the manifest's"));
        }
        let packed = data.section::<[u64; 3]>("entries")?;
        if packed.len() as u64 != meta.keys {
            return Err(corrupt(&path, "entry count is not the footer's"));
        }
        let entries = packed
            .iter()
            .map(|&[hash, stories, kr]| (((kr >> 32) as u8, hash), (stories, kr as u32)))
            .collect();
        let examples: Vec<(u8, u64, Vec<String>)> =
            serde_json::from_slice(data.section::<u8>("examples")?)
                .map_err(|e| corrupt(&path, format!("examples: {e}")))?;
        Ok(LineStats {
            entries,
            documents: meta.documents,
            stories: meta.stories,
            examples: examples.into_iter().map(|(k, h, e)| ((k, h), e)).collect(),
            learn: meta.learn,
        })
    }

    /// The rules these statistics give now, with the options of the last run that
    /// learned (what `dupstrip state rules` exports).
    pub fn rules(&self, normalize: NormalizeOptions) -> crate::boilerplate::Rules {
        self.learned(&[], 0, 0, &self.learn, normalize).into_rules()
    }

    /// The rules of these statistics with a run's story counts `day` (sorted by key),
    /// documents and stories added, seeded with the stored examples.
    pub fn learned(
        &self,
        day: &[((u8, u64), u64)],
        documents: u64,
        stories: u64,
        learn: &crate::boilerplate::LearnOptions,
        normalize: NormalizeOptions,
    ) -> crate::boilerplate::Learned {
        let (documents, stories) = (self.documents + documents, self.stories + stories);
        let mut learned = crate::boilerplate::Learned::from_story_counts(
            normalize,
            self.frequent_with(day, learn.required(stories)),
            learn,
            documents,
            stories,
        );
        learned.seed_examples(&self.examples);
        learned
    }

    /// Story counts of every key, for choosing rules.
    #[cfg(test)]
    pub fn counts(&self) -> HashMap<(u8, u64), u64> {
        self.entries.iter().map(|&(k, (n, _))| (k, n)).collect()
    }

    /// Keys whose story count, with a run's counts `day` (sorted by key) added,
    /// reaches its floor (`boilerplate::floor` of `required`); nothing else is held in
    /// memory.
    pub fn frequent_with(
        &self,
        day: &[((u8, u64), u64)],
        required: u64,
    ) -> HashMap<(u8, u64), u64> {
        let mut out = HashMap::new();
        let (old, mut j) = (&self.entries, 0);
        for &(k, (n, _)) in old {
            while j < day.len() && day[j].0 < k {
                if day[j].1 >= crate::boilerplate::floor(day[j].0.0, required) {
                    out.insert(day[j].0, day[j].1);
                }
                j += 1;
            }
            let add = if j < day.len() && day[j].0 == k {
                j += 1;
                day[j - 1].1
            } else {
                0
            };
            if n + add >= crate::boilerplate::floor(k.0, required) {
                out.insert(k, n + add);
            }
        }
        for &(k, n) in &day[j..] {
            if n >= crate::boilerplate::floor(k.0, required) {
                out.insert(k, n);
            }
        }
        out
    }
}
