//! dupstrip: near-duplicate detection and boilerplate stripping for large text
//! corpora.
//!
//! The modules follow the data: [`corpus`] reads records, [`normalize`] folds text,
//! [`shingle`] cuts it into hashed n-grams, [`minhash`] summarises a shingle set,
//! [`lsh`] finds candidate pairs (spilling to disk through [`spill`]), [`boilerplate`]
//! knows the shape of a page's lines and strips rules, [`sketch`] runs the per-document
//! pass over the corpus, [`verify`] and [`cluster`] decide which copies are kept,
//! [`learn`] learns boilerplate rules from a corpus, and [`output`] and [`report`]
//! write the results. [`config`] checks options before anything runs; [`state`] keeps
//! what nightly runs kept, so each run is deduplicated against all earlier ones;
//! [`pipeline`] runs the stages in order, and [`stage`] runs them one at a time for
//! Spark. [`synth`] writes test corpora with planted duplicates. See ARCHITECTURE.md.
//!
//! Two spellings of one headline normalize to the same shingles:
//!
//! ```
//! use dupstrip::normalize::Normalizer;
//! use dupstrip::shingle::{ShingleKind, ShingleParams, Shingler, jaccard};
//!
//! let norm = Normalizer::default();
//! let shingler = Shingler::new(ShingleParams { kind: ShingleKind::Word, n: 2, seed: 1 });
//! let a = shingler.shingle_set(&norm.normalize("Breaking: «الأخبار» today, 2023"));
//! let b = shingler.shingle_set(&norm.normalize("BREAKING الاخبـار today 1999!"));
//! assert_eq!(jaccard(&a, &b), 1.0);
//! ```

// The modules in the order data flows through them in `clean` (`dedup` skips the
// boilerplate steps). A module uses only modules listed before it and the
// shared ones at the end; `scripts/layout_check.py` checks it.

// Read: records from files (JSON Lines, text, Parquet through `columnar`).
pub mod columnar;

pub mod corpus;

// Per text: normalized, cut into hashed shingles, summarised by MinHash.
pub mod normalize;

pub mod shingle;

pub mod minhash;

// Candidate pairs: LSH banding (band keys and signatures spill to disk under
// --mem-limit).
pub mod spill;

pub mod lsh;

// Options, checked once before anything runs.
pub mod config;

// Boilerplate: the shape of each line of a page, rules, stripping.
pub mod boilerplate;

// What earlier runs kept (`--state`): read by the stages below, written last.
pub mod state;

// Per document: one parallel pass over the corpus (strip, normalize, shingle, sign).
pub mod sketch;

// Pairs: verification, then clusters and keep decisions.
pub mod verify;

pub mod cluster;

// Boilerplate learned from a corpus: pages grouped into stories by their
// signatures, lines counted per story.
pub mod learn;

// Write: records, clusters, rejects, rules; the report.
pub mod output;

pub mod report;

// Review: samples and histograms of what a run removed, as an HTML page.
pub mod review;

// Run: the stages in order, for the binary and for the stage commands.
pub mod pipeline;

// Explain: one pair as a run decides it (`dupstrip explain`).
pub mod explain;

pub mod stage;

// Test corpora with planted duplicates and boilerplate (`dupstrip synth`).
pub mod synth;

// Shared by every stage.
pub mod error;

pub mod temporaries;

pub mod timings;

pub mod memory;

pub mod vector;
