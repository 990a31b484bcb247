//! History: which documents of a state does this run copy?

use std::collections::HashMap;
use std::time::Instant;

use rayon::prelude::*;

use crate::config::DedupConfig;
use crate::lsh::{self, DocId};
use crate::minhash::{self, Slot};
use crate::sketch::DocTable;
use crate::state::State;
use crate::timings::{self};

/// Documents of a state that documents of this run were found to copy.
#[derive(Default)]
pub struct History {
    /// Sequence numbers in the state, ascending.
    pub seqs: Vec<u64>,
    pub ids: Vec<String>,
    /// Their signatures, `k` slots each.
    pub(super) slots: Vec<Slot>,
    /// Pairs (document of this run, index in `seqs`) that are exact copies (same id
    /// or same text), with their similarity.
    pub(super) forced: HashMap<(DocId, u32), f64>,
    pub(super) edges: Vec<lsh::Edge>,
    /// Band-index lookups that found a document and were compared.
    pub comparisons: u64,
    /// Documents with an id in the state whose similarity to it is under the
    /// threshold (dropped as copies all the same).
    pub id_below_threshold: u64,
    pub seconds: f64,
}

/// Look every document of this run up in the state: documents sharing a band with it
/// whose estimated similarity reaches the threshold, and exact copies (same id from
/// the record, or same text). Pairs with a state document are decided by the
/// estimate: the state keeps no text to verify against.
pub(super) fn history_matches(table: &DocTable, cfg: &DedupConfig, st: &State) -> History {
    let t0 = Instant::now();
    let sigs = table.signatures();
    let n = table.len();
    let active: Vec<DocId> = sigs.active.iter_ones().map(|d| d as DocId).collect();
    // (document, seq, similarity, exact copy)
    type Found = (DocId, u64, f64, bool);
    let exact: Vec<Found> = active
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
                .map(move |seq| (d, seq, sim(seq), true))
        })
        .collect();
    let pairs = st.band_matches_batch(|d| sigs.get(d), &active);
    let by_band: Vec<Found> = pairs
        .par_iter()
        .filter_map(|&(d, seq)| {
            let est = minhash::estimate(sigs.get(d), st.slots(seq)?);
            (est >= cfg.threshold).then_some((d, seq, est, false))
        })
        .collect();
    let mut h = History {
        comparisons: pairs.len() as u64,
        id_below_threshold: exact
            .iter()
            .filter(|f| f.2 < cfg.threshold)
            .map(|f| f.0)
            .collect::<std::collections::BTreeSet<_>>()
            .len() as u64,
        ..Default::default()
    };
    let mut found = exact;
    found.extend(by_band);
    h.seqs = found.iter().map(|f| f.1).collect();
    h.seqs.sort_unstable();
    h.seqs.dedup();
    for &seq in &h.seqs {
        h.ids.push(st.id(seq).to_string());
        match st.slots(seq) {
            Some(s) => h.slots.extend_from_slice(s),
            None => h.slots.resize(h.slots.len() + table.k, 0),
        }
    }
    // One edge per pair; an exact copy comes first for its pair and wins.
    found.sort_by_key(|f| (f.0, f.1, !f.3));
    found.dedup_by_key(|f| (f.0, f.1));
    for (d, seq, sim, exact) in found {
        let i = h.seqs.partition_point(|&s| s < seq) as u32;
        if exact {
            h.forced.insert((d, i), sim);
        }
        h.edges.push(lsh::Edge {
            a: d,
            b: (n + i as usize) as DocId,
            similarity: sim as f32,
        });
    }
    h.seconds = timings::secs(t0.elapsed());
    h
}
