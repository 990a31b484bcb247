//! LSH index: which pairs of documents are worth comparing?
//!
//! The signature is cut into `b` bands of `r` slots; documents that agree on every slot
//! of some band share a bucket and become candidates. A pair at similarity `s` becomes
//! a candidate with probability `1 - (1 - s^r)^b` (the S-curve). Buckets are grouped by
//! sorting `(band key, doc)` pairs, never by building pair lists: a bucket of n members
//! costs O(n · reps) comparisons, with at most [`MAX_BUCKET_REPS`] representatives.

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64_with_seed;

pub mod runs;

use crate::minhash::{self, Slot};
use crate::spill::{Sorted, Sorter, SpillDir};
use runs::BandRuns;

/// A document's position in the corpus (input order, 0-based).
pub type DocId = u32;

/// A band's hash: the key of a bucket.
pub type BandKey = u64;

/// How many representatives a bucket keeps. A member is compared with each of them
/// until one confirms it; a bucket of 100,000 copies of one template costs 100,000
/// comparisons, not 5·10^9.
pub const MAX_BUCKET_REPS: usize = 8;

/// Bands × rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LshParams {
    pub bands: usize,
    pub rows: usize,
}

/// Weights of the two error areas when choosing (b, r). Every candidate is verified,
/// so a false positive costs one signature comparison (tens of nanoseconds) while a
/// false negative loses a duplicate for good: misses weigh 19 times more. At
/// threshold 0.8 with 128 slots this picks 16 × 8 (a pair at 0.8 is found with
/// probability 0.95) instead of the 9 × 13 of equal weights (0.40); on the generated
/// corpus recall rose from 0.94 (11 × 11) to 0.99 at equal precision (ARCHITECTURE.md).
pub const FALSE_POSITIVE_WEIGHT: f64 = 0.05;
pub const FALSE_NEGATIVE_WEIGHT: f64 = 0.95;

/// Probability that a pair at similarity `s` shares at least one bucket.
pub fn detection_probability(s: f64, p: LshParams) -> f64 {
    1.0 - (1.0 - s.powi(p.rows as i32)).powi(p.bands as i32)
}

fn integrate(f: impl Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
    // Composite Simpson's rule; the integrands are smooth polynomials.
    let n = 200;
    let h = (hi - lo) / n as f64;
    let mut sum = f(lo) + f(hi);
    for i in 1..n {
        let x = lo + i as f64 * h;
        sum += if i % 2 == 1 { 4.0 } else { 2.0 } * f(x);
    }
    sum * h / 3.0
}

/// The (b, r) with b·r ≤ `num_perm` that minimises the weighted false-positive area
/// (∫₀ᵗ P(s) ds) plus false-negative area (∫ₜ¹ 1 − P(s) ds).
pub fn optimal_params(threshold: f64, num_perm: usize) -> LshParams {
    let mut best = (f64::INFINITY, LshParams { bands: 1, rows: 1 });
    for bands in 1..=num_perm {
        for rows in 1..=num_perm / bands {
            let p = LshParams { bands, rows };
            let fp = integrate(|s| detection_probability(s, p), 0.0, threshold);
            let fneg = integrate(|s| 1.0 - detection_probability(s, p), threshold, 1.0);
            let err = FALSE_POSITIVE_WEIGHT * fp + FALSE_NEGATIVE_WEIGHT * fneg;
            if err < best.0 {
                best = (err, p);
            }
        }
    }
    best.1
}

/// Detection probability at similarity 0.5, 0.6, …, 1.0.
pub fn s_curve(p: LshParams) -> Vec<(f64, f64)> {
    (5..=10)
        .map(|i| {
            let s = i as f64 / 10.0;
            (s, detection_probability(s, p))
        })
        .collect()
}

/// Key of band `band` of a signature: xxh3 of its slots serialised little-endian, so
/// keys are the same on every platform. On a little-endian processor the slots in
/// memory are that serialisation, and are hashed where they lie.
#[inline]
pub fn band_key(sig: &[Slot], band: usize, rows: usize, seed: u64) -> BandKey {
    let slots = &sig[band * rows..(band + 1) * rows];
    let seed = seed ^ band as u64;
    if cfg!(target_endian = "little") {
        return xxh3_64_with_seed(bytemuck::cast_slice(slots), seed);
    }
    let bytes: Vec<u8> = slots.iter().flat_map(|v| v.to_le_bytes()).collect();
    xxh3_64_with_seed(&bytes, seed)
}

/// Signatures of every document, flat: document `d` owns slots `d·K .. (d+1)·K`.
pub struct Signatures<'a> {
    pub k: usize,
    pub slots: &'a [Slot],
    /// Documents that take part (non-empty, not rejected).
    pub active: &'a bitvec::vec::BitVec,
}

impl Signatures<'_> {
    #[inline]
    pub fn get(&self, d: DocId) -> &[Slot] {
        let d = d as usize;
        &self.slots[d * self.k..(d + 1) * self.k]
    }

    pub fn len(&self) -> usize {
        self.slots.len() / self.k
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// A confirmed candidate pair `(a, b)` with `a < b` and its estimated similarity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Edge {
    pub a: DocId,
    pub b: DocId,
    pub similarity: f32,
}

/// What the candidate stage did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CandidateStats {
    /// Buckets with two or more members, summed over bands.
    pub buckets: u64,
    /// The largest bucket seen.
    pub largest_bucket: u64,
    /// Members checked against a representative, summed over bands (a pair that
    /// shares several bands counts once per band where it was checked).
    pub comparisons: u64,
    /// Of the `comparisons`, pairs an earlier band had confirmed: with the edges in
    /// memory these link the member without comparing the signatures again (a
    /// near-copy shares most bands); under a memory budget, none (each is compared).
    pub repeated: u64,
    /// Comparisons whose estimate fell below the confirmation floor.
    pub rejected: u64,
    /// Distinct confirmed pairs.
    pub confirmed_pairs: u64,
    /// Sorted runs band keys were spilled to under `--mem-limit` (0: grouped in
    /// memory).
    pub band_runs: u64,
}

/// Find candidate pairs through the bands and confirm each by its signature estimate
/// (≥ `floor`). Output edges are sorted and distinct.
pub fn candidates(
    sigs: &Signatures<'_>,
    params: LshParams,
    seed: u64,
    floor: f64,
) -> (Vec<Edge>, CandidateStats) {
    candidates_with(sigs, params, seed, true, estimate_at_least(sigs, floor))
}

/// Confirmation by the signature estimate: the estimate when it is at least `floor`.
pub fn estimate_at_least<'a>(
    sigs: &'a Signatures<'a>,
    floor: f64,
) -> impl Fn(DocId, DocId) -> Option<f64> + Sync + 'a {
    move |a, b| {
        let s = minhash::estimate(sigs.get(a), sigs.get(b));
        (s >= floor).then_some(s)
    }
}

/// Edges and statistics gathered as buckets are confirmed, band after band.
struct Confirmed {
    /// The edges, without a memory budget (a pair confirmed in several bands is held
    /// once per band unless [`Confirmed::known`] is kept).
    edges: Vec<Edge>,
    /// Length of `edges` when it was last made distinct: without `known`, a pair
    /// confirmed in many bands is held once more each time, so the edges are made
    /// distinct again whenever they have doubled since.
    distinct: usize,
    /// Under a memory budget, edges go to a sorter instead of `edges`: a pair found
    /// in many bands is then held once, and what does not fit goes to sorted runs.
    sorter: Option<Sorter<u128>>,
    /// The pairs confirmed so far, when asked for and the edges are held in memory
    /// (as many as the edges): a confirmed pair is not compared again in the later
    /// bands it shares, and a near-copy shares nearly all of them. Not kept under a
    /// memory budget, whose edges are bounded.
    known: Option<ahash::AHashSet<u64>>,
    stats: CandidateStats,
}

/// A pair `a < b` as the key of [`Confirmed::known`].
fn pair_key(a: DocId, b: DocId) -> u64 {
    ((a as u64) << 32) | b as u64
}

/// Sort `edges` by pair and keep each pair once.
fn sort_distinct(edges: &mut Vec<Edge>) {
    edges.par_sort_unstable_by(|x, y| (x.a, x.b).cmp(&(y.a, y.b)));
    // A pair is confirmed with the same similarity in every band it shares.
    edges.dedup_by(|x, y| x.a == y.a && x.b == y.b);
}

/// Confirmed edges, sorted by pair and distinct: in memory, or (under a memory
/// budget) as sorted runs read back as they are merged.
pub enum Edges {
    Ram(Vec<Edge>),
    Sorted(Sorted<u128>),
}

impl Edges {
    /// The edges as a vector, read back from disk if they went there.
    pub fn into_vec(self) -> std::io::Result<Vec<Edge>> {
        match self {
            Edges::Ram(v) => Ok(v),
            Edges::Sorted(s) => {
                let mut v = Vec::new();
                for_each_distinct(&s, |e| v.push(e))?;
                Ok(v)
            }
        }
    }

    /// Every edge in (a, b) order, each pair once.
    pub fn for_each(&self, f: impl FnMut(Edge)) -> std::io::Result<()> {
        match self {
            Edges::Ram(v) => {
                v.iter().copied().for_each(f);
                Ok(())
            }
            Edges::Sorted(s) => for_each_distinct(s, f),
        }
    }
}

/// The edges of sorted runs, each pair once.
fn for_each_distinct(sorted: &Sorted<u128>, mut f: impl FnMut(Edge)) -> std::io::Result<()> {
    let mut last: Option<(DocId, DocId)> = None;
    sorted.for_each(|&v| {
        let e = unpack_edge(v);
        if last != Some((e.a, e.b)) {
            last = Some((e.a, e.b));
            f(e);
        }
    })
}

/// An edge as one value whose order is (a, b).
pub(crate) fn pack_edge(e: &Edge) -> u128 {
    ((e.a as u128) << 64) | ((e.b as u128) << 32) | e.similarity.to_bits() as u128
}

pub(crate) fn unpack_edge(v: u128) -> Edge {
    Edge {
        a: (v >> 64) as DocId,
        b: (v >> 32) as DocId,
        similarity: f32::from_bits(v as u32),
    }
}

impl Confirmed {
    /// Confirmed edges held in memory (`edge_budget` `usize::MAX`) or through a
    /// sorter buffering at most `edge_budget` bytes; in memory, the pairs confirmed
    /// so far are remembered when `remember` (see [`candidates_bounded`]).
    fn new(edge_budget: usize, dir: &SpillDir, remember: bool) -> Confirmed {
        Confirmed {
            edges: Vec::new(),
            distinct: 0,
            sorter: (edge_budget != usize::MAX)
                .then(|| Sorter::new(edge_budget, dir.named("edges"))),
            known: (remember && edge_budget == usize::MAX).then(ahash::AHashSet::default),
            stats: CandidateStats::default(),
        }
    }

    /// Confirm `buckets` (each of two or more members) in parallel; results are
    /// added in bucket order.
    fn add<'b, F>(
        &mut self,
        buckets: impl IndexedParallelIterator<Item = &'b [(BandKey, DocId)]>,
        confirm: &F,
    ) -> std::io::Result<()>
    where
        F: Fn(DocId, DocId) -> Option<f64> + Sync,
    {
        let known = self.known.as_ref();
        let per_bucket: Vec<(usize, BucketResult)> = buckets
            .map(|b| {
                let is_known = |a, b| known.is_some_and(|k| k.contains(&pair_key(a, b)));
                (b.len(), confirm_bucket_knowing(b, confirm, &is_known))
            })
            .collect();
        for (len, r) in per_bucket {
            self.stats.buckets += 1;
            self.stats.largest_bucket = self.stats.largest_bucket.max(len as u64);
            if let Some(k) = &mut self.known {
                k.extend(r.edges.iter().map(|e| pair_key(e.a, e.b)));
            }
            match &mut self.sorter {
                Some(s) => r.edges.iter().try_for_each(|e| s.push(pack_edge(e)))?,
                None => self.edges.extend(r.edges),
            }
            self.stats.comparisons += r.comparisons;
            self.stats.repeated += r.repeated;
            self.stats.rejected += r.rejected;
        }
        if self.known.is_none() && self.edges.len() > 2 * self.distinct.max(1 << 16) {
            sort_distinct(&mut self.edges);
            self.distinct = self.edges.len();
        }
        Ok(())
    }

    /// Sorted, distinct edges (left in their sorted runs when they went to disk) and
    /// the final statistics.
    fn finish_edges(mut self) -> std::io::Result<(Edges, CandidateStats)> {
        let edges = match self.sorter.take() {
            Some(s) => {
                let sorted = s.finish()?;
                let mut pairs = 0u64;
                for_each_distinct(&sorted, |_| pairs += 1)?;
                self.stats.confirmed_pairs = pairs;
                Edges::Sorted(sorted)
            }
            None => {
                sort_distinct(&mut self.edges);
                self.stats.confirmed_pairs = self.edges.len() as u64;
                Edges::Ram(self.edges)
            }
        };
        Ok((edges, self.stats))
    }
}

/// [`candidates`] with a caller's confirmation: `confirm(rep, member)` returns the
/// pair's similarity when it is confirmed. `remember` as in [`candidates_bounded`].
pub fn candidates_with<F>(
    sigs: &Signatures<'_>,
    params: LshParams,
    seed: u64,
    remember: bool,
    confirm: F,
) -> (Vec<Edge>, CandidateStats)
where
    F: Fn(DocId, DocId) -> Option<f64> + Sync,
{
    let done = Confirmed::new(usize::MAX, &SpillDir::default(), remember);
    banded(sigs, params, seed, confirm, done)
        .and_then(|(edges, stats)| Ok((edges.into_vec()?, stats)))
        .unwrap_or_else(|e| unreachable!("candidates in memory do no I/O: {e}"))
}

/// Band keys of every band sorted in memory, buckets confirmed into `done`.
fn banded<F>(
    sigs: &Signatures<'_>,
    params: LshParams,
    seed: u64,
    confirm: F,
    mut done: Confirmed,
) -> std::io::Result<(Edges, CandidateStats)>
where
    F: Fn(DocId, DocId) -> Option<f64> + Sync,
{
    let active: Vec<DocId> = sigs.active.iter_ones().map(|d| d as DocId).collect();
    let mut keys: Vec<(BandKey, DocId)> = Vec::with_capacity(active.len());
    let mut scratch = Vec::new();
    for band in 0..params.bands {
        keys.clear();
        keys.par_extend(
            active
                .par_iter()
                .map(|&d| (band_key(sigs.get(d), band, params.rows, seed), d)),
        );
        sort_keys(&mut keys, &mut scratch, SORT_IN_ONE);
        // Bucket boundaries: runs of equal keys of length ≥ 2.
        let runs = bucket_runs(&keys);
        done.add(runs.par_iter().map(|&(lo, hi)| &keys[lo..hi]), &confirm)?;
    }
    done.finish_edges()
}

/// Up to this many entries, band keys are sorted in one piece.
const SORT_IN_ONE: usize = 1 << 15;

/// Entries per piece when band keys are sorted in pieces.
const SORT_PIECE: usize = 16;

/// Sort `(band key, doc)` entries into the order `sort_unstable` gives. Above
/// `in_one` entries they are first scattered by the top bits of their key into
/// pieces of about [`SORT_PIECE`] entries (band keys are hashes, so the pieces are
/// even), which are then sorted each on its own, in parallel, in cache. `scratch` is
/// reused between calls.
fn sort_keys(keys: &mut Vec<(BandKey, DocId)>, scratch: &mut Vec<(BandKey, DocId)>, in_one: usize) {
    if keys.len() <= in_one {
        keys.par_sort_unstable();
        return;
    }
    let bits = (keys.len() / SORT_PIECE)
        .next_power_of_two()
        .trailing_zeros()
        .clamp(1, 16);
    let shift = 64 - bits;
    let pieces = 1usize << bits;
    let mut starts = vec![0usize; pieces + 1];
    for &(k, _) in keys.iter() {
        starts[(k >> shift) as usize + 1] += 1;
    }
    for p in 0..pieces {
        starts[p + 1] += starts[p];
    }
    scratch.clear();
    scratch.resize(keys.len(), (0, 0));
    let mut next = starts[..pieces].to_vec();
    for &e in keys.iter() {
        let p = (e.0 >> shift) as usize;
        scratch[next[p]] = e;
        next[p] += 1;
    }
    let mut parts = Vec::with_capacity(pieces);
    let mut rest: &mut [(BandKey, DocId)] = scratch;
    for p in 0..pieces {
        let (part, tail) = rest.split_at_mut(starts[p + 1] - starts[p]);
        parts.push(part);
        rest = tail;
    }
    parts.into_par_iter().for_each(|p| p.sort_unstable());
    std::mem::swap(keys, scratch);
}

/// [`candidates_with`] for corpora whose band keys do not fit the memory budget:
/// when there are more active documents than `max_keys`, the keys of every band are
/// computed in one pass, written as sorted runs of at most `max_keys` entries, and
/// merged band by band ([`runs::BandRuns`]). Buckets, their order, and so
/// the edges and statistics are the same as in memory.
///
/// With `remember`, and without a memory budget (`max_keys` `usize::MAX`), the pairs
/// confirmed so far are kept in a set, so that a pair is not compared again in the
/// later bands it shares: the same edges, for a set of the distinct confirmed pairs
/// (2 MiB more peak memory for 67,611 pairs at 1 GB) while the candidates are found.
/// A near-copy shares most bands; the comparisons it spares are counted as `repeated`.
pub fn candidates_bounded<F>(
    sigs: &Signatures<'_>,
    params: LshParams,
    seed: u64,
    max_keys: usize,
    dir: &SpillDir,
    remember: bool,
    confirm: F,
) -> std::io::Result<(Edges, CandidateStats)>
where
    F: Fn(DocId, DocId) -> Option<f64> + Sync,
{
    // Edges are sorted through as many bytes as the key entries take (16 each).
    let edge_budget = max_keys.saturating_mul(16);
    let mut done = Confirmed::new(edge_budget, dir, remember);
    if sigs.active.count_ones() <= max_keys {
        return banded(sigs, params, seed, confirm, done);
    }
    let active = sigs.active.iter_ones().map(|d| d as DocId);
    let runs = BandRuns::build(active, params.bands, max_keys, dir, |d, out| {
        out.extend((0..params.bands).map(|b| band_key(sigs.get(d), b, params.rows, seed)));
    })?;
    done.stats.band_runs = runs.runs() as u64;
    // Buckets are confirmed in parallel batches of about half the key budget: the
    // entries of the batch's buckets one after another, and where each bucket lies.
    let batch_limit = (max_keys / 2).max(1);
    for band in 0..params.bands {
        let mut merge = runs.band(band)?;
        let mut entries: Vec<(BandKey, DocId)> = Vec::new();
        let mut spans: Vec<(usize, usize)> = Vec::new();
        // Where the open bucket starts in `entries`.
        let mut open = 0;
        loop {
            let entry = merge.next_entry()?;
            let closes = match (entry, entries.get(open)) {
                (Some((k, _)), Some(first)) => k != first.0,
                (None, _) => true,
                (Some(_), None) => false,
            };
            if closes {
                if entries.len() - open >= 2 {
                    spans.push((open, entries.len()));
                } else {
                    entries.truncate(open);
                }
                open = entries.len();
                if entries.len() >= batch_limit || entry.is_none() {
                    done.add(spans.par_iter().map(|&(lo, hi)| &entries[lo..hi]), &confirm)?;
                    entries.clear();
                    spans.clear();
                    open = 0;
                }
            }
            match entry {
                Some(e) => entries.push(e),
                None => break,
            }
        }
    }
    done.finish_edges()
}

fn bucket_runs(keys: &[(BandKey, DocId)]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut lo = 0;
    for i in 1..=keys.len() {
        if i == keys.len() || keys[i].0 != keys[lo].0 {
            if i - lo >= 2 {
                runs.push((lo, i));
            }
            lo = i;
        }
    }
    runs
}

/// Members arrive in document order. Each is compared with the bucket's
/// representatives in order until one confirms it; an unconfirmed member becomes a
/// representative while there is room.
pub fn confirm_bucket<F>(bucket: &[(BandKey, DocId)], confirm: &F) -> (Vec<Edge>, u64, u64)
where
    F: Fn(DocId, DocId) -> Option<f64>,
{
    let r = confirm_bucket_knowing(bucket, confirm, &|_, _| false);
    (r.edges, r.comparisons, r.rejected)
}

/// What [`confirm_bucket_knowing`] found in one bucket: the new edges, the
/// comparisons, how many of them were known pairs, and the rejected ones.
struct BucketResult {
    edges: Vec<Edge>,
    comparisons: u64,
    repeated: u64,
    rejected: u64,
}

/// [`confirm_bucket`], where `known(a, b)` (`a < b`) tells a pair confirmed in an
/// earlier band: it links the member as its comparison would (the estimate is the
/// same in every band), without comparing the signatures again or adding the edge
/// twice. It still counts as a comparison, so that the statistics do not depend on
/// whether pairs are remembered.
fn confirm_bucket_knowing<F, K>(bucket: &[(BandKey, DocId)], confirm: &F, known: &K) -> BucketResult
where
    F: Fn(DocId, DocId) -> Option<f64>,
    K: Fn(DocId, DocId) -> bool,
{
    let mut reps: Vec<DocId> = Vec::with_capacity(MAX_BUCKET_REPS);
    let mut edges = Vec::new();
    let (mut comparisons, mut repeated, mut rejected) = (0u64, 0u64, 0u64);
    for &(_, d) in bucket {
        let mut linked = false;
        for &r in &reps {
            let (a, b) = (r.min(d), r.max(d));
            comparisons += 1;
            if known(a, b) {
                repeated += 1;
                linked = true;
                break;
            }
            if let Some(s) = confirm(r, d) {
                edges.push(Edge {
                    a,
                    b,
                    similarity: s as f32,
                });
                linked = true;
                break;
            }
            rejected += 1;
        }
        if !linked && reps.len() < MAX_BUCKET_REPS {
            reps.push(d);
        }
    }
    BucketResult {
        edges,
        comparisons,
        repeated,
        rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minhash::stored;
    use crate::shingle::mix64;
    use bitvec::prelude::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn keys_sorted_in_pieces_are_sorted_as_a_whole(
            keys in proptest::collection::vec((proptest::prelude::any::<u64>(), 0u32..1000), 0..5000),
            // Few distinct keys: long runs of one key, one piece holding most entries.
            few in proptest::prelude::any::<bool>(),
            in_one in 0usize..64,
        ) {
            let keys: Vec<(BandKey, DocId)> = keys
                .into_iter()
                .map(|(k, d)| (if few { (k % 3) << 62 } else { k }, d))
                .collect();
            let mut want = keys.clone();
            want.sort_unstable();
            let (mut got, mut scratch) = (keys, vec![(7, 7); 3]);
            sort_keys(&mut got, &mut scratch, in_one);
            proptest::prop_assert_eq!(got, want);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Pairs known from an earlier band (any subset of those a bucket confirms)
        /// are linked without a comparison: the same representatives, rejections and
        /// counts, and the edges less the known ones.
        #[test]
        fn known_pairs_link_as_their_comparison_would(
            members in proptest::collection::btree_set(0u32..40, 1..30),
            salt in proptest::prelude::any::<u64>(),
            pass in 1u64..4,
            keep in proptest::prelude::any::<u64>(),
        ) {
            let bucket: Vec<(BandKey, DocId)> = members.into_iter().map(|d| (9, d)).collect();
            // A deterministic confirmation passing about `pass` pairs in four.
            let confirm = |a: DocId, b: DocId| {
                let h = mix64(salt ^ ((a as u64) << 32) ^ b as u64);
                (h % 4 < pass).then_some((h % 1000) as f64 / 1000.0)
            };
            let all = confirm_bucket_knowing(&bucket, &confirm, &|_, _| false);
            let known: Vec<u64> = all
                .edges
                .iter()
                .enumerate()
                .filter(|(i, _)| (keep >> (i % 64)) & 1 == 1)
                .map(|(_, e)| pair_key(e.a, e.b))
                .collect();
            let got = confirm_bucket_knowing(&bucket, &confirm, &|a, b| {
                known.contains(&pair_key(a, b))
            });
            let rest: Vec<Edge> = all
                .edges
                .iter()
                .copied()
                .filter(|e| !known.contains(&pair_key(e.a, e.b)))
                .collect();
            proptest::prop_assert_eq!(got.edges, rest);
            proptest::prop_assert_eq!(got.comparisons, all.comparisons);
            proptest::prop_assert_eq!(got.rejected, all.rejected);
            proptest::prop_assert_eq!(got.repeated, known.len() as u64);
            proptest::prop_assert_eq!(all.repeated, 0);
        }
    }

    #[test]
    fn a_known_pair_after_a_rejecting_representative() {
        // 0 and 1 are both representatives (0 rejects 1); 2 is rejected by 0 and
        // known with 1.
        let bucket: Vec<(BandKey, DocId)> = (0..3).map(|d| (5, d)).collect();
        let confirm = |a: DocId, b: DocId| ((a, b) == (1, 2)).then_some(0.9);
        let all = confirm_bucket_knowing(&bucket, &confirm, &|_, _| false);
        assert_eq!((all.comparisons, all.rejected, all.edges.len()), (3, 2, 1));
        let got = confirm_bucket_knowing(&bucket, &confirm, &|a, b| (a, b) == (1, 2));
        assert_eq!((got.comparisons, got.rejected, got.repeated), (3, 2, 1));
        assert!(got.edges.is_empty());
    }

    #[test]
    fn band_keys_hash_the_little_endian_slots() {
        // Keys are stored in state files: they must not change with the way they are
        // computed, nor with the platform.
        let sig: Vec<Slot> = (0..128u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 16) as Slot)
            .collect();
        for rows in [1, 4, 8, 16, 64, 128] {
            for band in 0..128 / rows {
                let bytes: Vec<u8> = sig[band * rows..(band + 1) * rows]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect();
                let want = xxh3_64_with_seed(&bytes, 42 ^ band as u64);
                assert_eq!(
                    band_key(&sig, band, rows, 42),
                    want,
                    "band {band} of {rows} rows"
                );
            }
        }
        // One key as the earlier builds computed it.
        assert_eq!(band_key(&sig, 1, 8, 42), 0xf38a_b3ec_2824_463e);
    }

    #[test]
    fn optimal_params_respect_budget_and_steepen() {
        let p = optimal_params(0.8, 128);
        assert!(p.bands * p.rows <= 128);
        let curve = s_curve(p);
        assert_eq!(curve.len(), 6);
        assert!(curve.windows(2).all(|w| w[0].1 <= w[1].1));
        assert!(detection_probability(0.95, p) > 0.99);
        assert!(detection_probability(0.5, p) < 0.1);
        // A higher threshold gives more rows per band.
        assert!(optimal_params(0.9, 128).rows >= optimal_params(0.5, 128).rows);
    }

    #[test]
    fn bounded_grouping_matches_memory() {
        // 3,000 signatures in families of near-copies, grouped in memory and in
        // runs of 500 keys: the same edges and statistics; in memory, the pairs an
        // earlier band confirmed are not compared again (`repeated`).
        let k = 32;
        let n = 3000;
        let mut slots = Vec::with_capacity(k * n);
        for d in 0..n as u32 {
            let family = d / 3;
            for i in 0..k as u32 {
                let noise = if i % 7 == d % 3 { d } else { 0 };
                slots.push(stored(family.wrapping_mul(2654435761) ^ i ^ noise));
            }
        }
        let active = bitvec![1; n];
        let sigs = Signatures {
            k,
            slots: &slots,
            active: &active,
        };
        let p = LshParams { bands: 8, rows: 4 };
        let confirm = |a: DocId, b: DocId| {
            let s = minhash::estimate(sigs.get(a), sigs.get(b));
            (s >= 0.5).then_some(s)
        };
        let (mem, mem_stats) = candidates_with(&sigs, p, 5, true, confirm);
        let (disk, disk_stats) =
            candidates_bounded(&sigs, p, 5, 500, &SpillDir::default(), true, confirm)
                .expect("spill");
        // Not remembering pairs in memory: the same edges, every pair compared.
        let (plain, plain_stats) = candidates_with(&sigs, p, 5, false, confirm);
        let disk = disk.into_vec().expect("edges");
        assert!(!mem.is_empty());
        assert_eq!(mem, disk);
        assert_eq!(mem, plain);
        assert!(disk_stats.band_runs > 1);
        assert!(mem_stats.repeated > 0);
        assert_eq!((disk_stats.repeated, plain_stats.repeated), (0, 0));
        let unbounded = CandidateStats {
            band_runs: 0,
            ..disk_stats
        };
        assert_eq!(format!("{plain_stats:?}"), format!("{unbounded:?}"));
        let remembered = CandidateStats {
            repeated: mem_stats.repeated,
            ..unbounded
        };
        assert_eq!(format!("{mem_stats:?}"), format!("{remembered:?}"));
    }

    #[test]
    fn big_bucket_is_linear() {
        // 10,000 identical signatures in one bucket: one representative, n-1
        // comparisons per band, never n²/2; after the first band every pair is known.
        let k = 16;
        let n = 10_000;
        let slots: Vec<Slot> = vec![7; k * n];
        let active = bitvec![1; n];
        let sigs = Signatures {
            k,
            slots: &slots,
            active: &active,
        };
        let p = LshParams { bands: 4, rows: 4 };
        let (edges, stats) = candidates(&sigs, p, 0, 0.8);
        assert_eq!(stats.comparisons, 4 * (n as u64 - 1));
        assert_eq!(stats.repeated, 3 * (n as u64 - 1));
        assert_eq!(edges.len(), n - 1);
        assert!(edges.iter().all(|e| e.a == 0));
    }
}
