//! History: which documents of a state does this run copy?

use std::io;
use std::time::Instant;

use rayon::prelude::*;

use crate::config::DedupConfig;
use crate::lsh::{self, DocId, Edge};
use crate::minhash::{self, Slot};
use crate::sketch::DocTable;
use crate::spill::{Sorter, SpillVec, Strings};
use crate::state::State;
use crate::timings::{self};

/// Documents of a state that documents of this run were found to copy. Under
/// `--mem-limit` each array goes to a temporary file past its share.
#[derive(Default)]
pub struct History {
    /// Sequence numbers in the state, ascending.
    pub seqs: SpillVec<u64>,
    pub ids: Strings,
    /// Their signatures, `k` slots each.
    pub(super) slots: SpillVec<Slot>,
    /// Pairs that are exact copies (same id or same text), ascending: `document << 32 |
    /// index in seqs`, and the bits of their similarity.
    forced: SpillVec<[u64; 2]>,
    /// Edges between documents of this run and `n + index in seqs`, ascending
    /// ([`lsh::pack_edge`]).
    edges: SpillVec<u128>,
    /// Band-index lookups that found a document and were compared.
    pub comparisons: u64,
    /// Documents with an id in the state whose similarity to it is under the
    /// threshold (dropped as copies all the same).
    pub id_below_threshold: u64,
    pub seconds: f64,
}

impl History {
    /// The similarity of document `d` to the state's document `i` (an index in
    /// `seqs`) when it is an exact copy.
    pub(super) fn forced(&self, d: DocId, i: u32) -> Option<f64> {
        let key = ((d as u64) << 32) | i as u64;
        let at = self.forced.binary_search_by_key(&key, |e| e[0]).ok()?;
        Some(f64::from_bits(self.forced[at][1]))
    }

    /// One edge per pair found, in (document, state document) order.
    pub(super) fn edges(&self) -> impl Iterator<Item = Edge> + '_ {
        self.edges.iter().map(|&e| lsh::unpack_edge(e))
    }
}

/// A pair found: document, sequence number, and `flag << 63 | similarity bits`, where
/// the flag is 0 for an exact copy, so that it sorts first for its pair.
type Found = [u64; 3];

fn found(d: DocId, seq: u64, sim: f64, exact: bool) -> Found {
    [d as u64, seq, ((!exact as u64) << 63) | sim.to_bits()]
}

/// Look every document of this run up in the state: documents sharing a band with it
/// whose estimated similarity reaches the threshold, and exact copies (same id from
/// the record, or same text). Pairs with a state document are decided by the
/// estimate: the state keeps no text to verify against. Documents are looked up a
/// block at a time, and the pairs found sorted through runs on disk under
/// `--mem-limit`.
pub(super) fn history_matches(
    table: &DocTable,
    cfg: &DedupConfig,
    st: &State,
) -> io::Result<History> {
    let t0 = Instant::now();
    let sigs = table.signatures();
    let n = table.len();
    let ram = cfg.column_budget();
    let dir = cfg.spill_dir().named("state matches");
    let mut pairs_found = Sorter::<Found>::new(cfg.sort_budget() / 4, dir.clone());
    let mut seqs_found = Sorter::<u64>::new(ram, dir.clone());
    // About 64 bytes of lookups per document of a block.
    let block = if ram == usize::MAX {
        usize::MAX
    } else {
        (ram / 64).max(1 << 12)
    };
    let mut active = sigs.active.iter_ones().map(|d| d as DocId);
    let mut docs: Vec<DocId> = Vec::new();
    let mut comparisons = 0u64;
    loop {
        docs.clear();
        docs.extend(active.by_ref().take(block));
        if docs.is_empty() {
            break;
        }
        let exact: Vec<Found> = docs
            .par_iter()
            .flat_map_iter(|&d| {
                let i = d as usize;
                let by_text = table.text_hash.get(i).and_then(|&h| st.find_text(h));
                let by_id = if table.has_id[i] && st.match_ids {
                    st.find_id(table.id(d))
                } else {
                    None
                };
                let sigs = &sigs;
                let sim = move |seq: u64| {
                    if Some(seq) == by_text {
                        1.0
                    } else {
                        st.slots(seq)
                            .map_or(0.0, |h| minhash::estimate(sigs.get(d), h))
                    }
                };
                [by_text, by_id]
                    .into_iter()
                    .flatten()
                    .map(move |seq| found(d, seq, sim(seq), true))
            })
            .collect();
        let pairs = st.band_matches_batch(|d| sigs.get(d), &docs);
        comparisons += pairs.len() as u64;
        let by_band: Vec<Found> = pairs
            .par_iter()
            .filter_map(|&(d, seq)| {
                let est = minhash::estimate(sigs.get(d), st.slots(seq)?);
                (est >= cfg.threshold).then(|| found(d, seq, est, false))
            })
            .collect();
        for f in exact.into_iter().chain(by_band) {
            pairs_found.push(f)?;
            seqs_found.push(f[1])?;
        }
    }
    let mut h = History {
        seqs: SpillVec::new(ram, dir.clone()),
        ids: Strings::new(ram, &dir),
        slots: SpillVec::new(ram, dir.clone()),
        forced: SpillVec::new(ram, dir.clone()),
        edges: SpillVec::new(ram, dir.clone()),
        comparisons,
        ..Default::default()
    };
    let mut failed: io::Result<()> = Ok(());
    let zeros = vec![0 as Slot; table.k];
    seqs_found.finish()?.for_each(|&seq| {
        if failed.is_ok() {
            failed = add_seq(&mut h, st, seq, &zeros);
        }
    })?;
    std::mem::replace(&mut failed, Ok(()))?;
    h.seqs.finish()?;
    h.ids.finish()?;
    h.slots.finish()?;
    // One edge per pair; an exact copy comes first for its pair and wins.
    let mut last_pair = None;
    let mut last_below = None;
    pairs_found.finish()?.for_each(|&[d, seq, word]| {
        let exact = word >> 63 == 0;
        let sim = f64::from_bits(word & !(1 << 63));
        if exact && sim < cfg.threshold && last_below != Some(d) {
            h.id_below_threshold += 1;
            last_below = Some(d);
        }
        if failed.is_err() || last_pair == Some((d, seq)) {
            return;
        }
        last_pair = Some((d, seq));
        let i = h.seqs.partition_point(|&s| s < seq) as u64;
        failed = add_pair(&mut h, n, d, i, sim, exact);
    })?;
    failed?;
    h.forced.finish()?;
    h.edges.finish()?;
    h.seconds = timings::secs(t0.elapsed());
    Ok(h)
}

fn add_seq(h: &mut History, st: &State, seq: u64, zeros: &[Slot]) -> io::Result<()> {
    h.seqs.push(seq)?;
    h.ids.push(st.id(seq))?;
    h.slots.extend_from_slice(st.slots(seq).unwrap_or(zeros))
}

fn add_pair(h: &mut History, n: usize, d: u64, i: u64, sim: f64, exact: bool) -> io::Result<()> {
    if exact {
        h.forced.push([(d << 32) | i, sim.to_bits()])?;
    }
    h.edges.push(lsh::pack_edge(&Edge {
        a: d as DocId,
        b: (n + i as usize) as DocId,
        similarity: sim as f32,
    }))
}
