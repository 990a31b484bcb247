//! dupstrip: near-duplicate detection and boilerplate stripping for large text
//! corpora.
//!
//! The modules follow the data: [`corpus`] reads records, [`normalize`] folds text,
//! [`shingle`] cuts it into hashed n-grams, [`minhash`] sketches each document,
//! [`lsh`] finds candidate pairs, [`cluster`] decides which copies are kept, and
//! [`output`] and [`report`] write the results. [`pipeline`] runs the stages in order;
//! [`config`] checks options before anything runs. [`state`] keeps what nightly runs
//! kept, so each run is deduplicated against all earlier ones. [`synth`] writes test
//! corpora with planted duplicates. See ARCHITECTURE.md.
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

// The modules in the order data flows through them (`clean`; `dedup` skips the
// boilerplate steps). A module uses only modules listed before it, except `config`,
// which gathers the parameter types of the stages before it, and `timings`, `error`
// and `temporaries`, which serve every stage.

// Read: records from files (JSON Lines, text, Parquet via `columnar`).
pub mod columnar;
pub mod corpus;

// Per text: normalized, cut into hashed shingles, sketched.
pub mod normalize;

pub mod shingle;

pub mod minhash;

// Options, checked once before anything runs.
pub mod config;

// Boilerplate: line shapes and rules; learning them from a corpus (`learn`) comes
// after `sketch` because it groups pages into stories by their signatures.
pub mod boilerplate;

// Per document: one parallel pass over the corpus (strip, normalize, shingle, sign).
pub mod sketch;

pub mod learn;

// Pairs: LSH candidates (band keys spill to disk under --mem-limit), verification,
// clusters and keep decisions.
pub mod spill;

pub mod lsh;

pub mod verify;

pub mod cluster;

// Across runs: the state directory of nightly runs.
pub mod state;

// Write: records, clusters, rejects, rules; the report.
pub mod output;

pub mod report;

// Run: the stages in order, for the binary and for the stage commands.
pub mod pipeline;

pub mod stage;

// Test corpora with planted duplicates and boilerplate (`dupstrip synth`).
pub mod synth;

// Shared by every stage.
pub mod error;

pub mod temporaries;

pub mod timings;
