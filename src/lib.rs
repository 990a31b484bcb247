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

pub mod boilerplate;
pub mod cluster;
pub mod columnar;
pub mod config;
pub mod corpus;
pub mod lsh;
pub mod minhash;
pub mod normalize;
pub mod output;
pub mod pipeline;
pub mod report;
pub mod shingle;
pub mod spill;
pub mod stage;
pub mod state;
pub mod synth;
