//! Decide: which documents are kept, which are copies, and of what?

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bitvec::prelude::*;

use super::history::{History, history_matches};
use crate::cluster::{self, Clusters, Components, Roles, SIMILARITY_BINS, similarity_bin};
use crate::config::{DedupConfig, KeepPolicy, Verify};
use crate::corpus::Corpus;
use crate::error::{RunError, spill_err};
use crate::lsh::{self, DocId};
use crate::minhash::{self};
use crate::sketch::{DocTable, Sketch};
use crate::state::State;
use crate::timings::{self};
use crate::verify::{Judged, MAX_VERIFY_ROUNDS, ShingleSets, Verifier, VerifyStats, collect_sets};

/// The role of every document after clustering.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Role {
    Unique,
    Keep {
        cluster: u32,
    },
    Duplicate {
        cluster: u32,
        of: DocId,
        similarity: f64,
    },
    Rejected,
    /// Stripping left it empty (or under --min-chars).
    Emptied,
}

/// Stages 2 and 3: candidates, components, keep/duplicate decisions.
pub struct Clustering {
    pub clusters: Clusters,
    pub roles: Roles,
    pub candidates: lsh::CandidateStats,
    pub assign: cluster::AssignStats,
    pub verification: VerifyStats,
    /// Checks of this run's pairs made while assigning members that fell below the
    /// threshold, counted by the similarity they were judged by (exact Jaccard where
    /// computed, else the estimate) in [`SIMILARITY_BINS`] equal bins over [0, 1].
    pub rejected_checks: Vec<u64>,
    /// Candidate comparisons of the LSH stage whose estimate fell below the
    /// confirmation floor, in the same bins (a pair compared in several bands counts
    /// once per comparison).
    pub rejected_candidates: Vec<u64>,
    /// The connected components of confirmed candidates, each sorted, when asked
    /// for ([`cluster_docs_with_components`]; `explain`), else empty.
    pub components: Components,
    /// The state's documents compared with (`--state`); document `n + i` is the
    /// state's document `history.seqs[i]`.
    pub history: History,
    /// Seconds spent finding candidates, and clustering them.
    pub candidate_seconds: f64,
    pub cluster_seconds: f64,
}

impl Clustering {
    /// No near-duplicate search (`boilerplate strip`): every document keeps its text,
    /// rejected and emptied ones aside.
    pub fn without_dedup(cfg: &DedupConfig, table: &DocTable) -> Result<Clustering, RunError> {
        Ok(Clustering {
            clusters: Clusters::default(),
            roles: roles_of(cfg, table, &Clusters::default())?,
            candidates: Default::default(),
            assign: Default::default(),
            verification: Default::default(),
            rejected_checks: vec![0; SIMILARITY_BINS],
            rejected_candidates: vec![0; SIMILARITY_BINS],
            components: Components::default(),
            history: Default::default(),
            candidate_seconds: 0.0,
            cluster_seconds: 0.0,
        })
    }
}

/// Stages 2 and 3: candidate pairs (LSH, and the state's documents), then components
/// and keep/duplicate decisions, verified as `--verify` says.
pub fn cluster_docs(
    corpus: &Corpus,
    cfg: &DedupConfig,
    sk: &Sketch,
    table: &DocTable,
    state: Option<&State>,
) -> Result<Clustering, RunError> {
    cluster_with(corpus, cfg, sk, table, state, false)
}

/// [`cluster_docs`], keeping the components ([`Clustering::components`]).
pub fn cluster_docs_with_components(
    corpus: &Corpus,
    cfg: &DedupConfig,
    sk: &Sketch,
    table: &DocTable,
    state: Option<&State>,
) -> Result<Clustering, RunError> {
    cluster_with(corpus, cfg, sk, table, state, true)
}

fn cluster_with(
    corpus: &Corpus,
    cfg: &DedupConfig,
    sk: &Sketch,
    table: &DocTable,
    state: Option<&State>,
    keep_components: bool,
) -> Result<Clustering, RunError> {
    let t0 = Instant::now();
    let sigs = table.signatures();
    let verifier = Verifier::new(cfg);
    // As `lsh::estimate_at_least`, counting the estimates that fall below the floor.
    let below_floor: Vec<AtomicU64> = (0..SIMILARITY_BINS).map(|_| AtomicU64::new(0)).collect();
    let (edges, cand_stats) = lsh::candidates_bounded(
        &sigs,
        cfg.lsh,
        cfg.seed,
        cfg.band_key_budget(),
        &cfg.spill_dir(),
        true,
        |a, b| {
            let s = minhash::estimate(sigs.get(a), sigs.get(b));
            if s >= verifier.floor {
                Some(s)
            } else {
                below_floor[similarity_bin(s)].fetch_add(1, Ordering::Relaxed);
                None
            }
        },
    )
    .map_err(spill_err)?;
    let rejected_candidates = below_floor
        .iter()
        .map(|b| b.load(Ordering::Relaxed))
        .collect();
    let n = table.len();
    let history = match state {
        Some(st) => history_matches(table, cfg, st).map_err(spill_err)?,
        None => History::default(),
    };
    let candidate_seconds = timings::secs(t0.elapsed());

    let t1 = Instant::now();
    crate::memory::stage(crate::memory::Stage::Cluster);
    let comps = cluster::components_within(
        n + history.seqs.len(),
        &edges,
        history.edges(),
        cfg.column_budget(),
        &cfg.spill_dir().named("components"),
    )
    .map_err(spill_err)?;
    drop(edges);
    let (clusters, assign, verification, rejected_checks) =
        assign_verified(corpus, cfg, sk, table, &history, &verifier, &comps)?;
    let roles = roles_of(cfg, table, &clusters)?;
    Ok(Clustering {
        clusters,
        roles,
        candidates: cand_stats,
        assign,
        verification,
        rejected_checks,
        rejected_candidates,
        components: if keep_components {
            comps
        } else {
            Components::default()
        },
        history,
        candidate_seconds,
        cluster_seconds: timings::secs(t1.elapsed()),
    })
}

/// Keep/duplicate decisions in every component. Pairs with a state document are
/// decided by the estimate (or forced when exact copies); pairs of this run as
/// `verifier` says, with the shingle sets it needs read from the corpus.
fn assign_verified(
    corpus: &Corpus,
    cfg: &DedupConfig,
    sk: &Sketch,
    table: &DocTable,
    history: &History,
    verifier: &Verifier,
    comps: &Components,
) -> Result<(Clusters, cluster::AssignStats, VerifyStats, Vec<u64>), RunError> {
    let sigs = table.signatures();
    let n = table.len();
    // The state's documents were kept by earlier runs: they come first, in the
    // order they were kept, and stay kept.
    let rank = |d: DocId| {
        if d as usize >= n {
            return (0, d);
        }
        match cfg.keep {
            KeepPolicy::First => (1, d),
            KeepPolicy::Longest => ((u64::MAX - table.text_bytes[d as usize]).max(1), d),
        }
    };
    let k = table.k;
    let history_sig = |h: DocId| {
        let i = h as usize - n;
        &history.slots[i * k..(i + 1) * k]
    };
    // The shingle sets of the documents marked, read back from the corpus.
    let fetch = |needed: &BitVec| collect_sets(corpus, cfg, sk, needed, &table.record_starts);
    let mut sets = ShingleSets::default();
    if cfg.verify == Verify::Exact {
        let mut needed = bitvec![0; table.len()];
        for &d in comps.members().iter().filter(|&&d| (d as usize) < n) {
            needed.set(d as usize, true);
        }
        sets.add(fetch(&needed)?);
    }
    let exact_checks = AtomicU64::new(0);
    let rejected_bins: Vec<AtomicU64> = (0..SIMILARITY_BINS).map(|_| AtomicU64::new(0)).collect();
    let mut verification = VerifyStats::default();
    // With `auto`, the shingle sets of borderline pairs are not known in advance: each
    // round records the documents it lacked, a read of the corpus fetches them, and
    // the assignment runs again. Sets only grow, so this settles in a round or two.
    let (clusters, assign_stats) = loop {
        verification.rounds += 1;
        let missing: Mutex<Vec<DocId>> = Mutex::new(Vec::new());
        exact_checks.store(0, Ordering::Relaxed);
        rejected_bins
            .iter()
            .for_each(|b| b.store(0, Ordering::Relaxed));
        let dir = cfg.spill_dir().named("clusters");
        let result = cluster::assign_within(
            comps,
            rank,
            |a, b| {
                if a as usize >= n || b as usize >= n {
                    let (h, d) = if a as usize >= n { (a, b) } else { (b, a) };
                    if d as usize >= n {
                        return None;
                    }
                    if let Some(s) = history.forced(d, (h as usize - n) as u32) {
                        return Some(s);
                    }
                    let est = minhash::estimate(history_sig(h), sigs.get(d));
                    return (est >= cfg.threshold).then_some(est);
                }
                let est = minhash::estimate(sigs.get(a), sigs.get(b));
                let (judged, measured) =
                    verifier.judge_measured(est, || sets.get(a).zip(sets.get(b)));
                match judged {
                    Judged::Exact(_) => {
                        exact_checks.fetch_add(1, Ordering::Relaxed);
                    }
                    Judged::Missing(_) => {
                        if let Ok(mut m) = missing.lock() {
                            m.extend([a, b]);
                        }
                    }
                    Judged::Decided(_) => {}
                }
                let similarity = judged.similarity();
                if similarity.is_none() {
                    rejected_bins[similarity_bin(measured)].fetch_add(1, Ordering::Relaxed);
                }
                similarity
            },
            cfg.column_budget(),
            &dir,
        )
        .map_err(spill_err)?;
        let mut missing = missing.into_inner().unwrap_or_default();
        missing.retain(|&d| !sets.contains(d));
        if missing.is_empty() || verification.rounds >= MAX_VERIFY_ROUNDS {
            verification.decided_by_estimate = missing.len() as u64;
            break result;
        }
        let mut needed = bitvec![0; table.len()];
        for d in missing {
            needed.set(d as usize, true);
        }
        sets.add(fetch(&needed)?);
    };
    verification.exact_checks = exact_checks.load(Ordering::Relaxed);
    verification.shingle_sets = sets.len() as u64;
    let rejected_checks = rejected_bins
        .iter()
        .map(|b| b.load(Ordering::Relaxed))
        .collect();
    Ok((clusters, assign_stats, verification, rejected_checks))
}

/// The role of every document of this run.
fn roles_of(cfg: &DedupConfig, table: &DocTable, clusters: &Clusters) -> Result<Roles, RunError> {
    let n = table.len();
    let mut roles =
        Roles::new(n, cfg.column_budget(), &cfg.spill_dir().named("roles")).map_err(spill_err)?;
    for d in table.rejected.iter_ones() {
        roles.set(d, Role::Rejected);
    }
    for d in table.emptied.iter_ones() {
        roles.set(d, Role::Emptied);
    }
    for (i, c) in clusters.iter().enumerate() {
        let cluster = i as u32;
        if (c.keep as usize) < n {
            roles.set(c.keep as usize, Role::Keep { cluster });
        }
        for dup in &c.duplicates {
            roles.set(
                dup.doc as usize,
                Role::Duplicate {
                    cluster,
                    of: dup.of,
                    similarity: dup.similarity,
                },
            );
        }
    }
    Ok(roles)
}
