//! Verify: is a candidate pair a duplicate, by the estimate or by exact Jaccard?

use crate::config::{DedupConfig, Verify};
use crate::minhash::{self};
use crate::shingle::{self};

/// Rounds of re-reading the corpus for borderline pairs under `--verify auto`.
pub const MAX_VERIFY_ROUNDS: u32 = 4;

/// What exact verification did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct VerifyStats {
    /// Assignment rounds (more than one when `auto` had to fetch shingle sets).
    pub rounds: u32,
    /// Shingle sets rebuilt from the input.
    pub shingle_sets: u64,
    /// Pairs whose similarity was computed exactly (in the final round).
    pub exact_checks: u64,
    /// Documents of borderline pairs left to the estimate after the last round.
    pub decided_by_estimate: u64,
}

/// How far below the threshold a signature estimate may fall and still be checked
/// exactly: three standard errors at the threshold.
pub fn exact_slack(threshold: f64, k: usize) -> f64 {
    3.0 * minhash::standard_error(threshold, k)
}

/// How a pair of this run's documents is judged under `--verify`: the thresholds, and
/// the decision from the signature estimate and, where needed, the shingle sets.
/// `clean` and the stage commands share it, so they decide every pair alike.
#[derive(Clone, Copy, Debug)]
pub struct Verifier {
    pub verify: Verify,
    pub threshold: f64,
    /// Candidates estimated below this are not edges.
    pub floor: f64,
    slack: f64,
}

/// A [`Verifier`]'s decision on a pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Judged {
    /// Decided: the similarity, or `None` below the threshold.
    Decided(Option<f64>),
    /// Decided by exact Jaccard of the shingle sets.
    Exact(Option<f64>),
    /// Exact Jaccard was needed but the sets were not given: decided by the estimate
    /// for now (fetch the sets and judge again).
    Missing(Option<f64>),
}

impl Judged {
    pub fn similarity(self) -> Option<f64> {
        match self {
            Judged::Decided(s) | Judged::Exact(s) | Judged::Missing(s) => s,
        }
    }
}

impl Verifier {
    pub fn new(cfg: &DedupConfig) -> Verifier {
        let slack = exact_slack(cfg.threshold, cfg.num_perm);
        let floor = match cfg.verify {
            Verify::Estimate => cfg.threshold,
            Verify::Auto | Verify::Exact => (cfg.threshold - slack).max(0.0),
        };
        Verifier {
            verify: cfg.verify,
            threshold: cfg.threshold,
            floor,
            slack,
        }
    }

    /// Judge a pair with signature estimate `est`; `sets` gives the pair's shingle sets
    /// when known, and is only asked when the estimate does not decide.
    pub fn judge<'s>(
        &self,
        est: f64,
        sets: impl FnOnce() -> Option<(&'s [u64], &'s [u64])>,
    ) -> Judged {
        self.judge_measured(est, sets).0
    }

    /// [`Verifier::judge`], and the similarity it judged by: the exact Jaccard where
    /// it was computed, else the estimate.
    pub fn judge_measured<'s>(
        &self,
        est: f64,
        sets: impl FnOnce() -> Option<(&'s [u64], &'s [u64])>,
    ) -> (Judged, f64) {
        let at_least = |s: f64| (s >= self.threshold).then_some(s);
        match self.verify {
            Verify::Estimate => return (Judged::Decided(at_least(est)), est),
            Verify::Auto if est < self.floor => return (Judged::Decided(None), est),
            Verify::Auto if est >= self.threshold + self.slack => {
                return (Judged::Decided(Some(est)), est);
            }
            _ => {}
        }
        match sets() {
            Some((x, y)) => {
                let j = shingle::jaccard(x, y);
                (Judged::Exact(at_least(j)), j)
            }
            None => (Judged::Missing(at_least(est)), est),
        }
    }
}
