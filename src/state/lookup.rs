//! Lookups: what does the state know of a signature, an id or a text?

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

use crate::lsh::{self};
use crate::minhash::Slot;

use super::*;
impl State {
    pub(super) fn segment_of(&self, seq: u64) -> Option<(&Segment, usize)> {
        let i = self
            .segments
            .partition_point(|s| s.entry.first_seq + s.entry.docs <= seq);
        let s = self.segments.get(i)?;
        s.contains(seq)
            .then(|| (s, (seq - s.entry.first_seq) as usize))
    }

    /// Signature of document `seq`.
    pub fn slots(&self, seq: u64) -> Option<&[Slot]> {
        self.segment_of(seq).map(|(s, l)| s.slots(l))
    }

    /// Id of document `seq`.
    pub fn id(&self, seq: u64) -> &str {
        self.segment_of(seq).map_or("", |(s, l)| s.id(l))
    }

    /// Band matches of many signatures at once: `(query, seq)` pairs, sorted and
    /// distinct, for the queries `queries` whose signatures `sig` gives. Queries are
    /// looked up band by band in key order, so each segment's index and directory are
    /// read front to back instead of at random (a block of queries at a time, to bound
    /// memory).
    pub fn band_matches_batch<'s>(
        &self,
        sig: impl Fn(u32) -> &'s [Slot] + Sync,
        queries: &[u32],
    ) -> Vec<(u32, u64)> {
        const BLOCK: usize = 1 << 18;
        let p = self.manifest.params.lsh();
        let seed = self.manifest.params.seed;
        let mut all = Vec::new();
        for block in queries.chunks(BLOCK) {
            let per_band: Vec<Vec<(u32, u64)>> = (0..p.bands)
                .into_par_iter()
                .map(|b| {
                    let mut keys: Vec<(u64, u32)> = block
                        .iter()
                        .map(|&q| (lsh::band_key(sig(q), b, p.rows, seed), q))
                        .collect();
                    keys.sort_unstable();
                    let mut hits = Vec::new();
                    for &(key, q) in &keys {
                        self.bucket(b, key, |seq| hits.push((q, seq)));
                    }
                    hits
                })
                .collect();
            all.extend(per_band.into_iter().flatten());
        }
        all.par_sort_unstable();
        all.dedup();
        all
    }

    /// The documents in band `b`'s bucket `key`: the oldest [`MAX_HISTORY_BUCKET`]
    /// over all segments (segments are in sequence order), however the state is cut
    /// into segments.
    pub(super) fn bucket(&self, b: usize, key: u64, mut found: impl FnMut(u64)) {
        let mut left = MAX_HISTORY_BUCKET;
        for s in &self.segments {
            let hits = s.band_lookup(b, key, left);
            hits.iter().for_each(|e| found(e[1]));
            left -= hits.len();
            if left == 0 {
                break;
            }
        }
    }

    /// The first document with this id (only ids that came from records count).
    pub fn find_id(&self, id: &str) -> Option<u64> {
        let h = xxh3_64(id.as_bytes());
        self.segments.iter().find_map(|s| {
            s.id_lookup(h)
                .iter()
                .map(|e| e[1] as usize)
                .find(|&l| (l as u64) < s.entry.docs && s.id(l) == id)
                .map(|l| s.entry.first_seq + l as u64)
        })
    }

    /// The first document whose text has this xxh3-128 hash.
    pub fn find_text(&self, hash: u128) -> Option<u64> {
        let (hi, lo) = ((hash >> 64) as u64, hash as u64);
        self.segments
            .iter()
            .find_map(|s| s.text_lookup(hi, lo).map(|l| s.entry.first_seq + l))
    }
}
