//! Lines: the boilerplate statistics of a state (stories per line key over all runs),
//! and the rules they give.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use crate::normalize::NormalizeOptions;
use crate::spill::{SpillDir, SpillVec};

use super::format::{DataFile, FileWriter};
use super::*;

/// Line-key statistics accumulated over runs.
#[derive(Debug, Default)]
pub struct LineStats {
    /// `(kind, hash) → (stories, last run seen)`, sorted by key, each packed as in
    /// the state file ([`pack_entry`]): read from the file where it is (memory-mapped),
    /// and after a merge in memory or, past the merge's budget, a temporary file.
    pub entries: SpillVec<[u64; 3]>,
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

/// A key's statistics as three words: hash, stories, kind (high half) and last run.
pub fn pack_entry((kind, hash): (u8, u64), stories: u64, last: u32) -> [u64; 3] {
    [hash, stories, (u64::from(kind) << 32) | u64::from(last)]
}

/// The key, stories and last run of a [`pack_entry`]ed entry.
pub fn unpack_entry([hash, stories, kr]: [u64; 3]) -> ((u8, u64), u64, u32) {
    (((kr >> 32) as u8, hash), stories, kr as u32)
}

/// A run's story counts in key order: a list, or a run's own sorted counts (which may
/// be runs on disk under `--mem-limit`).
#[derive(Clone, Copy)]
pub enum Day<'a> {
    List(&'a [((u8, u64), u64)]),
    Counts(&'a crate::boilerplate::Counts),
}

impl Day<'_> {
    fn for_each(&self, mut f: impl FnMut((u8, u64), u64)) -> io::Result<()> {
        match self {
            Day::List(l) => {
                debug_assert!(l.windows(2).all(|w| w[0].0 < w[1].0));
                l.iter().for_each(|&(k, n)| f(k, n));
                Ok(())
            }
            Day::Counts(c) => c.for_each_key(f),
        }
    }
}

impl LineStats {
    /// Add one run's story counts `day` (keys distinct, in key order) seen in run
    /// `run`, and forget keys under their floor (`boilerplate::floor` of the story
    /// count `self.learn` requires) that were not seen for [`SINGLETON_RUNS`] runs
    /// (one story) or [`FORGET_RUNS`] runs (more). The merged entries are written as
    /// they come: at most `ram_limit` bytes of them in memory, the rest in a
    /// temporary file in `dir`.
    pub fn merge(
        &mut self,
        day: Day<'_>,
        run: u32,
        (documents, stories): (u64, u64),
        ram_limit: usize,
        dir: &SpillDir,
    ) -> io::Result<()> {
        self.documents += documents;
        self.stories += stories;
        let required = self.learn.required(self.stories);
        let old = std::mem::take(&mut self.entries);
        let old = old.as_slice();
        let mut out = SpillVec::new(ram_limit, dir.named("state line statistics"));
        let keep = |out: &mut SpillVec<[u64; 3]>, e: [u64; 3]| {
            let (k, n, last) = unpack_entry(e);
            let window = if n >= 2 { FORGET_RUNS } else { SINGLETON_RUNS };
            if n >= crate::boilerplate::floor(k.0, required) || last.saturating_add(window) > run {
                out.push(e)
            } else {
                Ok(())
            }
        };
        let mut i = 0;
        let mut failed = Ok(());
        day.for_each(|k, n| {
            while failed.is_ok() && i < old.len() && unpack_entry(old[i]).0 < k {
                failed = keep(&mut out, old[i]);
                i += 1;
            }
            let mut total = n;
            if i < old.len() && unpack_entry(old[i]).0 == k {
                total += unpack_entry(old[i]).1;
                i += 1;
            }
            if failed.is_ok() {
                failed = keep(&mut out, pack_entry(k, total, run));
            }
        })?;
        failed?;
        for &e in &old[i..] {
            keep(&mut out, e)?;
        }
        out.finish()?;
        self.entries = out;
        Ok(())
    }

    pub(super) fn write(&self, path: &Path, params: &StateParams) -> Result<FileEntry, StateError> {
        let mut w = FileWriter::create(path, STATS_MAGIC, params)?;
        w.section("entries", |w| w.put_pod(self.entries.as_slice()))?;
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
        let keys = data.section::<[u64; 3]>("entries")?.len();
        if keys as u64 != meta.keys {
            return Err(corrupt(&path, "entry count is not the footer's"));
        }
        let examples: Vec<(u8, u64, Vec<String>)> =
            serde_json::from_slice(data.section::<u8>("examples")?)
                .map_err(|e| corrupt(&path, format!("examples: {e}")))?;
        // The entries stay in the file, memory-mapped: a state's statistics are
        // not read into the process's own memory.
        let start = data.sections.get("entries").map_or(0, |s| s.0 as usize);
        let entries = SpillVec::mapped(data.map, start, keys)
            .ok_or_else(|| corrupt(&path, "section entries out of range"))?;
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
    pub fn rules(&self, normalize: NormalizeOptions) -> io::Result<crate::boilerplate::Rules> {
        Ok(self
            .learned(Day::List(&[]), 0, 0, &self.learn, normalize)?
            .into_rules())
    }

    /// The rules of these statistics with a run's story counts `day` (in key order),
    /// documents and stories added, seeded with the stored examples.
    pub fn learned(
        &self,
        day: Day<'_>,
        documents: u64,
        stories: u64,
        learn: &crate::boilerplate::LearnOptions,
        normalize: NormalizeOptions,
    ) -> io::Result<crate::boilerplate::Learned> {
        let (documents, stories) = (self.documents + documents, self.stories + stories);
        let mut learned = crate::boilerplate::Learned::from_story_counts(
            normalize,
            self.frequent_with(day, learn.required(stories))?,
            learn,
            documents,
            stories,
        );
        learned.seed_examples(&self.examples);
        Ok(learned)
    }

    /// Story counts of every key, for choosing rules.
    #[cfg(test)]
    pub fn counts(&self) -> HashMap<(u8, u64), u64> {
        (self.entries.iter())
            .map(|&e| {
                let (k, n, _) = unpack_entry(e);
                (k, n)
            })
            .collect()
    }

    /// Keys whose story count, with a run's counts `day` (in key order) added,
    /// reaches its floor (`boilerplate::floor` of `required`); nothing else is held in
    /// memory.
    pub fn frequent_with(
        &self,
        day: Day<'_>,
        required: u64,
    ) -> io::Result<HashMap<(u8, u64), u64>> {
        let mut out = HashMap::new();
        let frequent = |k: (u8, u64), n: u64| n >= crate::boilerplate::floor(k.0, required);
        let old = self.entries.as_slice();
        let mut i = 0;
        day.for_each(|k, n| {
            while i < old.len() && unpack_entry(old[i]).0 < k {
                let (ok, on, _) = unpack_entry(old[i]);
                if frequent(ok, on) {
                    out.insert(ok, on);
                }
                i += 1;
            }
            let mut total = n;
            if i < old.len() && unpack_entry(old[i]).0 == k {
                total += unpack_entry(old[i]).1;
                i += 1;
            }
            if frequent(k, total) {
                out.insert(k, total);
            }
        })?;
        for &e in &old[i..] {
            let (k, n, _) = unpack_entry(e);
            if frequent(k, n) {
                out.insert(k, n);
            }
        }
        Ok(out)
    }
}
