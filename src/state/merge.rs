//! Merging: segments merged by tiers after a run, or all into one (`state compact`).

use std::path::Path;

use super::format::FileWriter;
use super::segment::{DirBuilder, Pair, SegmentMeta, TextEntry};
use super::*;

/// Merge sorted inputs into `out` as they are read; `shift(i, v)` is input `i`'s value
/// `v` as it is written (it must keep each input's order). Memory holds one head per
/// input and a write buffer.
pub(super) fn merge_sorted<T: Copy + Ord>(
    inputs: &[&[T]],
    shift: impl Fn(usize, T) -> T,
    mut out: impl FnMut(&[T]) -> Result<(), StateError>,
) -> Result<(), StateError> {
    let mut pos = vec![0usize; inputs.len()];
    let mut buf: Vec<T> = Vec::with_capacity(8192);
    loop {
        let mut best: Option<(usize, T)> = None;
        for (i, input) in inputs.iter().enumerate() {
            if let Some(&v) = input.get(pos[i]) {
                let v = shift(i, v);
                if best.is_none_or(|(_, b)| v < b) {
                    best = Some((i, v));
                }
            }
        }
        let Some((i, v)) = best else { break };
        buf.push(v);
        pos[i] += 1;
        if buf.len() == buf.capacity() {
            out(&buf)?;
            buf.clear();
        }
    }
    if !buf.is_empty() {
        out(&buf)?;
    }
    Ok(())
}

/// Merge neighbouring segments into one file, streaming from their maps.
pub(super) fn merge_segments(
    segs: &[&Segment],
    params: &StateParams,
    path: &Path,
) -> Result<SegmentEntry, StateError> {
    let mut w = FileWriter::create(path, SEGMENT_MAGIC, params)?;
    for name in ["slots", "runs", "flags", "text_hash"] {
        w.section(name, |w| {
            for s in segs {
                w.put(s.raw(name))?;
            }
            Ok(())
        })?;
    }
    // Local document numbers and id offsets shift by what comes before.
    let mut doc_base = Vec::new();
    let mut id_base = Vec::new();
    let (mut docs, mut ids) = (0u64, 0u64);
    for s in segs {
        doc_base.push(docs);
        id_base.push(ids);
        docs += s.entry.docs;
        ids += s.sections.id_bytes.len() as u64;
    }
    w.section("id_ends", |w| {
        for (s, &base) in segs.iter().zip(&id_base) {
            for chunk in s.get::<u64>(&s.sections.id_ends).chunks(8192) {
                let shifted: Vec<u64> = chunk.iter().map(|&e| e + base).collect();
                w.put_pod(&shifted)?;
            }
        }
        Ok(())
    })?;
    w.section("id_bytes", |w| {
        for s in segs {
            w.put(s.get::<u8>(&s.sections.id_bytes))?;
        }
        Ok(())
    })?;
    // Each index streams through the merge into the file and its directory.
    let inputs: Vec<&[Pair]> = segs.iter().map(|s| s.get(&s.sections.id_index)).collect();
    let mut dir = DirBuilder::new(inputs.iter().map(|i| i.len() as u64).sum());
    w.section("id_index", |w| {
        merge_sorted(
            &inputs,
            |i, p| [p[0], p[1] + doc_base[i]],
            |c| {
                c.iter().for_each(|p| dir.push(p[0]));
                w.put_pod(c)
            },
        )
    })?;
    w.section("id_dir", |w| w.put_pod(&dir.finish()))?;
    let inputs: Vec<&[TextEntry]> = segs.iter().map(|s| s.get(&s.sections.text_index)).collect();
    let mut dir = DirBuilder::new(docs);
    w.section("text_index", |w| {
        merge_sorted(
            &inputs,
            |i, t| [t[0], t[1], t[2] + doc_base[i]],
            |c| {
                c.iter().for_each(|t| dir.push(t[0]));
                w.put_pod(c)
            },
        )
    })?;
    w.section("text_dir", |w| w.put_pod(&dir.finish()))?;
    let mut entries = 0u64;
    for b in 0..params.bands {
        let inputs: Vec<&[Pair]> = segs.iter().map(|s| s.band(b)).collect();
        let mut dir = DirBuilder::new(inputs.iter().map(|i| i.len() as u64).sum());
        // Equal entries from two segments (a copy's keys pointing at an older
        // keeper) are written once.
        let mut last: Option<Pair> = None;
        w.section(&format!("bands.{b}"), |w| {
            merge_sorted(
                &inputs,
                |_, p| p,
                |c| {
                    let fresh: Vec<Pair> = c
                        .iter()
                        .filter(|&&p| {
                            let new = last != Some(p);
                            last = Some(p);
                            new
                        })
                        .copied()
                        .collect();
                    fresh.iter().for_each(|p| dir.push(p[0]));
                    entries += fresh.len() as u64;
                    w.put_pod(&fresh)
                },
            )
        })?;
        w.section(&format!("dir.{b}"), |w| w.put_pod(&dir.finish()))?;
    }
    let meta = SegmentMeta {
        first_seq: segs[0].entry.first_seq,
        docs,
        band_entries: entries,
        runs: [segs[0].entry.runs[0], segs[segs.len() - 1].entry.runs[1]],
    };
    meta.finish(w)
}

/// Merge the newest [`MERGE_FANIN`] segments of `segs` while they share a tier;
/// merged files are named `seg-GENERATION-I.dss`. Returns the number of segments merged.
pub(super) fn merge_tiers(
    dir: &Path,
    params: &StateParams,
    segs: &mut Vec<Segment>,
    generation: u64,
) -> Result<u64, StateError> {
    let tier = |e: &SegmentEntry| {
        let runs = u64::from(e.runs[1].saturating_sub(e.runs[0])) + 1;
        runs.ilog(MERGE_FANIN as u64)
    };
    let mut merged = 0;
    let mut i = 0;
    loop {
        let n = segs.len();
        if n < MERGE_FANIN {
            break;
        }
        let t = tier(&segs[n - MERGE_FANIN].entry);
        if !segs[n - MERGE_FANIN..].iter().all(|s| tier(&s.entry) == t) {
            break;
        }
        i += 1;
        let path = dir.join(format!("seg-{generation:08}-{i}.dss"));
        let refs: Vec<&Segment> = segs[n - MERGE_FANIN..].iter().collect();
        let entry = merge_segments(&refs, params, &path)?;
        kill_point("merge-written");
        let seg = Segment::open(dir, &entry, params)?;
        segs.truncate(n - MERGE_FANIN);
        segs.push(seg);
        merged += MERGE_FANIN as u64;
    }
    Ok(merged)
}

impl State {
    /// Merge every segment into one (`dupstrip state compact`). Returns the number
    /// of segments merged.
    pub fn compact(&mut self) -> Result<u64, StateError> {
        let n = self.segments.len();
        if n < 2 {
            return Ok(n as u64);
        }
        let mut next = self.manifest.clone();
        next.generation = self.disk_generation + 1;
        let path = self.dir.join(format!("seg-{:08}.dss", next.generation));
        let segs: Vec<&Segment> = self.segments.iter().collect();
        let entry = merge_segments(&segs, &next.params, &path)?;
        kill_point("merge-written");
        let merged = Segment::open(&self.dir, &entry, &next.params)?;
        next.segments = vec![entry];
        self.replace_manifest(next, None, vec![merged])?;
        Ok(n as u64)
    }
}
