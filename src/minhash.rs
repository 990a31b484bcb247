//! MinHash: how is a shingle set summarised so that similarity can be estimated
//! without the set?
//!
//! A signature is `K` 32-bit slots. The fraction of slots two signatures share
//! estimates the Jaccard similarity of their shingle sets, with standard error
//! `sqrt(J(1-J)/K)`. Two schemes are implemented; their speed and accuracy are
//! measured in `benches/stages.rs` and the `minhash` tests, and recorded in
//! ARCHITECTURE.md:
//!
//! * [`Scheme::Oph`] (default): one-permutation hashing in rounds. One hash per
//!   shingle and round picks a bin and a value; later rounds (up to 16) fill the bins
//!   that earlier ones left empty, with larger values, which keeps the collision
//!   probability of every bin exactly J. Bins still empty after that borrow from a
//!   non-empty bin chosen by a fixed, data-independent probe sequence (optimal
//!   densification, Shrivastava, ICML 2017). O(|S|·rounds + K) per document; one
//!   round for documents much longer than K.
//! * [`Scheme::Classic`]: K independent multiply-shift hashes (Dietzfelbinger),
//!   minimum of each. O(|S|·K) per document.

use crate::shingle::mix64;

/// Which MinHash construction fills the signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Oph,
    Classic,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Oph => "oph",
            Scheme::Classic => "classic",
        }
    }
}

/// Value of a slot that no shingle reached (only in signatures of empty documents,
/// which never enter the LSH index).
pub const EMPTY_SLOT: u32 = u32::MAX;

/// Rounds of one-permutation hashing before densification fills what is left.
const OPH_ROUNDS: u64 = 16;
/// Random bits of a slot value; the bits above them number the round.
const OPH_VALUE_BITS: u32 = 26;

/// Computes signatures. Deterministic for a given scheme, K and seed.
#[derive(Clone, Debug)]
pub struct Sketcher {
    scheme: Scheme,
    k: usize,
    seed: u64,
    /// Multiply-shift parameters for the classic scheme: (odd multiplier, addend).
    coeffs: Vec<(u64, u64)>,
}

impl Sketcher {
    pub fn new(scheme: Scheme, k: usize, seed: u64) -> Self {
        assert!(k >= 1, "a signature needs at least one slot");
        let mut state = seed ^ 0x5851_f42d_4c95_7f2d;
        let mut next = || {
            // splitmix64: a fixed, documented generator, so signatures are stable
            // across versions and platforms.
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            mix64(state)
        };
        let coeffs = match scheme {
            Scheme::Classic => (0..k).map(|_| (next() | 1, next())).collect(),
            Scheme::Oph => Vec::new(),
        };
        Sketcher {
            scheme,
            k,
            seed,
            coeffs,
        }
    }

    pub fn num_perm(&self) -> usize {
        self.k
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Fill `out` (length K) with the signature of the shingle hashes in `shingles`
    /// (repeats allowed). Returns `false`, leaving every slot [`EMPTY_SLOT`], when there
    /// are no shingles.
    pub fn sketch_into(&self, shingles: &[u64], out: &mut [u32]) -> bool {
        assert_eq!(out.len(), self.k);
        out.fill(EMPTY_SLOT);
        if shingles.is_empty() {
            return false;
        }
        match self.scheme {
            Scheme::Classic => self.classic(shingles, out),
            Scheme::Oph => self.oph(shingles, out),
        }
        true
    }

    pub fn sketch(&self, shingles: &[u64]) -> Vec<u32> {
        let mut out = vec![EMPTY_SLOT; self.k];
        self.sketch_into(shingles, &mut out);
        out
    }

    fn classic(&self, shingles: &[u64], out: &mut [u32]) {
        for &s in shingles {
            let x = mix64(s ^ self.seed);
            for (slot, &(a, b)) in out.iter_mut().zip(&self.coeffs) {
                let v = (a.wrapping_mul(x).wrapping_add(b) >> 32) as u32;
                if v < *slot {
                    *slot = v;
                }
            }
        }
    }

    fn oph(&self, shingles: &[u64], out: &mut [u32]) {
        let k = self.k as u64;
        // Rounds: in round r each shingle's hash picks a bin (high bits, by
        // multiply-range) and competes for that bin's minimum with the value
        // r·2^26 + 26 random bits. Values of a later round are larger than any of an
        // earlier one, so a bin keeps the value of the first round that reaches it,
        // whatever rounds follow: a bin holds the minimum over an endless sequence of
        // rounds, and two documents agree in it with probability exactly J. Rounds
        // stop once every bin is filled; a document with few shingles needs several
        // (about 4 for 230 shingles in 128 bins), where densification would copy
        // values between bins and add error.
        //
        // The hashes of a round are computed a block at a time, apart from the bin
        // updates, so that the block loop runs in vector registers (see
        // [`mix_block`]); the values are the same whichever way they are computed.
        let mut hashes = [0u64; MIX_BLOCK];
        for round in 0..OPH_ROUNDS {
            let seed = self.seed ^ round.wrapping_mul(0xd6e8_feb8_6659_fd93);
            let base = (round as u32) << OPH_VALUE_BITS;
            for block in shingles.chunks(MIX_BLOCK) {
                let hashes = &mut hashes[..block.len()];
                mix_block(block, seed, hashes);
                let bin_value = |h: u64| {
                    let bin = ((h as u128 * k as u128) >> 64) as usize;
                    (bin, base | (h as u32 & ((1 << OPH_VALUE_BITS) - 1)))
                };
                if round == 0 {
                    // Branch-free: whether a value beats its bin is a coin toss in
                    // the first round, which a branch would mispredict half the time.
                    for &h in hashes.iter() {
                        let (bin, v) = bin_value(h);
                        let slot = &mut out[bin];
                        *slot = v.min(*slot);
                    }
                } else {
                    // In a later round a bin filled before holds a smaller value than
                    // any of this round, so only the few bins still empty can change:
                    // the branch is rarely taken, and the bins that keep their
                    // value are only read, not written back one after the other.
                    for &h in hashes.iter() {
                        let (bin, v) = bin_value(h);
                        if v < out[bin] {
                            out[bin] = v;
                        }
                    }
                }
            }
            if !out.contains(&EMPTY_SLOT) {
                return;
            }
        }
        // Very short documents can leave bins empty after every round.
        // Optimal densification: an empty bin i probes bins j = hash(i, attempt) until
        // it finds one filled in the first pass. The probe sequence depends only on
        // (seed, i, attempt), never on the data, so two documents borrow alike and the
        // collision probability stays J.
        let filled: Vec<bool> = out.iter().map(|&v| v != EMPTY_SLOT).collect();
        for i in 0..self.k {
            if filled[i] {
                continue;
            }
            let mut attempt: u64 = 1;
            loop {
                let p = mix64(self.seed ^ ((i as u64) << 32) ^ attempt.wrapping_mul(0x9e37_79b9));
                let j = ((p as u128 * k as u128) >> 64) as usize;
                if filled[j] {
                    out[i] = out[j];
                    break;
                }
                attempt += 1;
            }
        }
    }
}

/// Shingles hashed per block of a one-permutation round.
const MIX_BLOCK: usize = 256;

/// `mix64(s ^ seed)` of every shingle of `block` into `out`, with the widest
/// vectors the processor has ([`crate::vector::widest`]).
#[inline]
fn mix_block(block: &[u64], seed: u64, out: &mut [u64]) {
    crate::vector::widest(
        #[inline(always)]
        || {
            for (o, &s) in out.iter_mut().zip(block) {
                *o = mix64(s ^ seed);
            }
        },
    )
}

/// A signature slot as stored for the whole run: the low 16 bits of a MinHash slot
/// (b-bit minwise hashing, Li and König 2010). Two different slot values agree in
/// their low 16 bits with probability 2⁻¹⁶, which raises an estimate by
/// (1 − J)/65,536 at most, and halves the memory signatures take. On the 24,650
/// planted pairs of the 200 MB benchmark corpus, every decision at 0.8 was the same
/// as with full slots.
pub type Slot = u16;

/// The stored form of a full signature slot.
#[inline]
pub fn stored(v: u32) -> Slot {
    v as Slot
}

/// Estimated Jaccard similarity of two signatures: the fraction of equal slots.
/// Works on full slots and on stored ones ([`Slot`]).
pub fn estimate<T: PartialEq>(a: &[T], b: &[T]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    if a.is_empty() {
        return 0.0;
    }
    // Counted 64 slots at a time in 16-bit lanes, which the compiler turns into
    // vector compares; one count over the whole signature widens every lane to 64
    // bits. Every candidate in every bucket is confirmed this way.
    let same: usize = (a.chunks(64).zip(b.chunks(64)))
        .map(|(x, y)| x.iter().zip(y).map(|(p, q)| u16::from(p == q)).sum::<u16>() as usize)
        .sum();
    same as f64 / a.len() as f64
}

/// Standard error of the MinHash estimate at similarity `j` with `k` slots.
pub fn standard_error(j: f64, k: usize) -> f64 {
    (j * (1.0 - j) / k as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shingle::jaccard;

    /// A small seeded generator for test sets (splitmix64).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            mix64(self.0)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Two sets sharing `shared` elements, with `only_a` and `only_b` private ones.
    fn pair(rng: &mut Rng, shared: usize, only_a: usize, only_b: usize) -> (Vec<u64>, Vec<u64>) {
        let common: Vec<u64> = (0..shared).map(|_| rng.next()).collect();
        let mut a = common.clone();
        a.extend((0..only_a).map(|_| rng.next()));
        let mut b = common;
        b.extend((0..only_b).map(|_| rng.next()));
        a.sort_unstable();
        a.dedup();
        b.sort_unstable();
        b.dedup();
        (a, b)
    }

    /// Property: for random set pairs the estimate lies within 3 standard errors of
    /// the exact Jaccard in at least 99% of trials, for both schemes, including sets
    /// much smaller than K (where rounds and densification fill the bins).
    #[test]
    fn estimate_within_three_standard_errors() {
        for scheme in [Scheme::Oph, Scheme::Classic] {
            let mut rng = Rng(42);
            let trials = 2000;
            let mut within = 0;
            for t in 0..trials {
                let k = 128;
                let sketcher = Sketcher::new(scheme, k, t as u64);
                let size = 5 + rng.below(1500) as usize;
                let shared = rng.below(size as u64 + 1) as usize;
                let only_a = size - shared;
                let only_b = rng.below(size as u64 / 2 + 1) as usize;
                let (a, b) = pair(&mut rng, shared, only_a, only_b);
                let exact = jaccard(&a, &b);
                let est = estimate(&sketcher.sketch(&a), &sketcher.sketch(&b));
                let bound = 3.0 * standard_error(exact, k);
                if (est - exact).abs() <= bound {
                    within += 1;
                }
            }
            let frac = within as f64 / trials as f64;
            assert!(
                frac >= 0.99,
                "{scheme:?}: only {frac} of trials within 3 SE"
            );
        }
    }

    /// One-permutation hashing as first written: one shingle at a time, a branch per
    /// bin update. The blocked, vectorized form (branch-free in the first round) must
    /// give the same slots.
    fn oph_reference(sk: &Sketcher, shingles: &[u64]) -> Vec<u32> {
        let k = sk.k as u64;
        let mut out = vec![EMPTY_SLOT; sk.k];
        let mut empty = sk.k;
        for round in 0..OPH_ROUNDS {
            let seed = sk.seed ^ round.wrapping_mul(0xd6e8_feb8_6659_fd93);
            let base = (round as u32) << OPH_VALUE_BITS;
            for &s in shingles {
                let h = mix64(s ^ seed);
                let bin = ((h as u128 * k as u128) >> 64) as usize;
                let v = base | (h as u32 & ((1 << OPH_VALUE_BITS) - 1));
                if v < out[bin] {
                    empty -= (out[bin] == EMPTY_SLOT) as usize;
                    out[bin] = v;
                }
            }
            if empty == 0 {
                return out;
            }
        }
        out
    }

    /// On every vector path this processor runs ([`crate::vector::available`]).
    #[test]
    fn blocked_rounds_match_the_reference() {
        for level in crate::vector::available() {
            crate::vector::at_level(level, blocked_rounds_match_the_reference_here);
        }
    }

    fn blocked_rounds_match_the_reference_here() {
        let mut rng = Rng(11);
        for (k, len) in [
            (128, 1),
            (128, 5),
            (128, 255),
            (128, 256),
            (128, 700),
            (100, 3000),
        ] {
            let sk = Sketcher::new(Scheme::Oph, k, 42);
            let shingles: Vec<u64> = (0..len).map(|_| rng.next()).collect();
            let want = oph_reference(&sk, &shingles);
            if want.contains(&EMPTY_SLOT) {
                // Densified after the rounds, as `oph` does; compare the rounds only.
                let got = sk.sketch(&shingles);
                let filled: Vec<bool> = want.iter().map(|&v| v != EMPTY_SLOT).collect();
                for i in 0..k {
                    if filled[i] {
                        assert_eq!(got[i], want[i], "k {k}, {len} shingles, bin {i}");
                    }
                }
                continue;
            }
            assert_eq!(sk.sketch(&shingles), want, "k {k}, {len} shingles");
        }
    }

    #[test]
    fn identical_sets_identical_signatures() {
        for scheme in [Scheme::Oph, Scheme::Classic] {
            let s = Sketcher::new(scheme, 64, 3);
            let set: Vec<u64> = (0..10).collect();
            let mut rev = set.clone();
            rev.reverse();
            assert_eq!(s.sketch(&set), s.sketch(&rev));
            assert_eq!(estimate(&s.sketch(&set), &s.sketch(&rev)), 1.0);
        }
    }

    #[test]
    fn empty_set_is_reported() {
        let s = Sketcher::new(Scheme::Oph, 16, 0);
        let mut out = vec![0; 16];
        assert!(!s.sketch_into(&[], &mut out));
        assert!(out.iter().all(|&v| v == EMPTY_SLOT));
        assert!(s.sketch_into(&[1], &mut out));
        assert!(out.iter().all(|&v| v != EMPTY_SLOT));
    }
}
