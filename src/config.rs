//! Config: what exactly will a run do? Options are checked here, once, before any
//! input is read; library code below this point never sees command-line types.

use std::path::PathBuf;

use crate::corpus::ReadOptions;
use crate::lsh::{self, LshParams};
use crate::minhash::Scheme;
use crate::normalize::NormalizeOptions;
use crate::shingle::{ShingleKind, ShingleParams};

/// Which copy of a cluster is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeepPolicy {
    /// The first in input order.
    First,
    /// The longest text (ties: the first in input order).
    Longest,
}

impl KeepPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            KeepPolicy::First => "first",
            KeepPolicy::Longest => "longest",
        }
    }
}

/// What happens to duplicates in the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Write only the records that are not duplicates.
    Drop,
    /// Write every record with a `dupstrip` field added.
    Annotate,
}

/// What happens to a document that stripping leaves empty (or under --min-chars).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmptyPolicy {
    /// Write it (with its stripped, empty text).
    Keep,
    /// Leave it out; counted as `emptied_dropped`.
    Drop,
}

/// How candidate pairs are confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verify {
    /// By the signature estimate of Jaccard similarity.
    Estimate,
    /// By the estimate where it is clear, by exact Jaccard where the estimate lies
    /// within three standard errors of the threshold.
    Auto,
    /// By exact Jaccard similarity of the shingle sets (re-read from the input).
    Exact,
}

/// Options as the user gave them, before validation.
#[derive(Clone, Debug)]
pub struct DedupOptions {
    pub threshold: f64,
    pub shingle: ShingleKind,
    pub ngram: usize,
    pub char_ngram: usize,
    pub num_perm: usize,
    pub scheme: Scheme,
    pub bands: Option<usize>,
    pub rows: Option<usize>,
    pub seed: u64,
    pub verify: Verify,
    pub keep: KeepPolicy,
    pub mode: Mode,
    pub normalize: NormalizeOptions,
    pub read: ReadOptions,
    pub skip_bad_records: bool,
    pub threads: Option<usize>,
    /// Stripped texts shorter than this many characters count as emptied.
    pub min_chars: usize,
    pub on_empty: EmptyPolicy,
    /// Memory for signatures and band keys; past it they spill to temporary files
    /// (in `read.tmp_dir`).
    pub mem_limit: Option<u64>,
}

impl Default for DedupOptions {
    fn default() -> Self {
        DedupOptions {
            threshold: 0.8,
            shingle: ShingleKind::Word,
            ngram: 5,
            char_ngram: 5,
            num_perm: 128,
            scheme: Scheme::Oph,
            bands: None,
            rows: None,
            seed: 42,
            verify: Verify::Auto,
            keep: KeepPolicy::First,
            mode: Mode::Drop,
            normalize: NormalizeOptions::default(),
            read: ReadOptions::default(),
            skip_bad_records: false,
            threads: None,
            min_chars: 0,
            on_empty: EmptyPolicy::Drop,
            mem_limit: None,
        }
    }
}

/// A checked configuration: every combination in it is valid.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DedupConfig {
    pub threshold: f64,
    pub shingle: ShingleParams,
    pub num_perm: usize,
    pub scheme: Scheme,
    pub lsh: LshParams,
    pub seed: u64,
    pub verify: Verify,
    pub keep: KeepPolicy,
    pub mode: Mode,
    pub normalize: NormalizeOptions,
    #[serde(skip)]
    pub read: ReadOptions,
    pub text_field: String,
    pub id_field: String,
    pub skip_bad_records: bool,
    #[serde(skip)]
    pub threads: Option<usize>,
    pub min_chars: usize,
    pub on_empty: EmptyPolicy,
    /// `--mem-limit` in bytes.
    pub mem_limit: Option<u64>,
}

/// Smallest `--mem-limit`: below it the fixed per-run buffers alone exceed it.
pub const MIN_MEM_LIMIT: u64 = 256 << 10;

impl DedupConfig {
    /// Bytes of signatures held in memory before they move to a temporary file:
    /// half of `--mem-limit`.
    pub fn signature_budget(&self) -> usize {
        self.mem_limit
            .map_or(usize::MAX, |m| usize::try_from(m / 2).unwrap_or(usize::MAX))
    }

    /// Band key entries (16 bytes each in memory) grouped at once before grouping
    /// goes to sorted runs on disk: 1/16 of `--mem-limit`. Small, so that the corpus
    /// size at which grouping leaves memory does not step the peak up.
    pub fn band_key_budget(&self) -> usize {
        self.mem_limit.map_or(usize::MAX, |m| {
            usize::try_from(m / 16 / 16).unwrap_or(usize::MAX)
        })
    }

    /// Bytes of each per-document column (ids, lengths, what stripping removed,
    /// stories, roles) held in memory before it moves to a temporary file: 1/64 of
    /// `--mem-limit`.
    pub fn column_budget(&self) -> usize {
        self.share(64)
    }

    /// Bytes of boilerplate line keys gathered in memory while pages are read before
    /// they move to a temporary file: 1/8 of `--mem-limit`.
    pub fn line_key_budget(&self) -> usize {
        self.share(8)
    }

    /// Bytes of values sorted in memory at once before sorting goes to sorted runs
    /// on disk (boilerplate line counts): a quarter of `--mem-limit`.
    pub fn sort_budget(&self) -> usize {
        self.share(4)
    }

    /// Bytes of shingle sets held in memory for exact verification before they move
    /// to a temporary file: a quarter of `--mem-limit`.
    pub fn shingle_set_budget(&self) -> usize {
        self.share(4)
    }

    /// Bytes of a state's merged boilerplate statistics held in memory before they
    /// move to a temporary file (they are then copied into the state): 1/8 of
    /// `--mem-limit`.
    pub fn state_lines_budget(&self) -> usize {
        self.share(8)
    }

    /// `--mem-limit` divided by `parts` (no limit: `usize::MAX`).
    fn share(&self, parts: u64) -> usize {
        self.mem_limit.map_or(usize::MAX, |m| {
            usize::try_from(m / parts).unwrap_or(usize::MAX)
        })
    }

    pub fn spill_dir(&self) -> crate::spill::SpillDir {
        crate::spill::SpillDir::new(self.read.tmp_dir.clone())
    }
}

/// An option value that cannot work, named as on the command line.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("--threshold must be in (0, 1], got {0}")]
    Threshold(f64),
    #[error("--num-perm must be between 1 and 4096, got {0}")]
    NumPerm(usize),
    #[error("--mem-limit must be at least 256K, got {0} bytes")]
    MemLimit(u64),
    #[error("--ngram must be at least 1, got {0}")]
    Ngram(usize),
    #[error("--bands and --rows go together: give both or neither")]
    BandsWithoutRows,
    #[error("--bands {bands} × --rows {rows} = {product} exceeds --num-perm {num_perm}")]
    BandsTimesRows {
        bands: usize,
        rows: usize,
        product: usize,
        num_perm: usize,
    },
    #[error("--bands and --rows must be at least 1")]
    ZeroBands,
    #[error("-j/--threads must be at least 1, got 0")]
    Threads,
    #[error("--text-field must not be empty")]
    EmptyTextField,
    #[error("--text-field and --id-field must differ (both are \"{0}\")")]
    SameFields(String),
}

impl DedupOptions {
    /// Check every option and every combination; derive bands × rows from the
    /// threshold when not given.
    pub fn validate(self) -> Result<DedupConfig, ConfigError> {
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(ConfigError::Threshold(self.threshold));
        }
        if !(1..=4096).contains(&self.num_perm) {
            return Err(ConfigError::NumPerm(self.num_perm));
        }
        let n = match self.shingle {
            ShingleKind::Word | ShingleKind::Whitespace => self.ngram,
            ShingleKind::Char => self.char_ngram,
        };
        if n == 0 {
            return Err(ConfigError::Ngram(n));
        }
        if self.threads == Some(0) {
            return Err(ConfigError::Threads);
        }
        if let Some(m) = self.mem_limit
            && m < MIN_MEM_LIMIT
        {
            return Err(ConfigError::MemLimit(m));
        }
        if self.read.text_field.is_empty() {
            return Err(ConfigError::EmptyTextField);
        }
        if self.read.text_field == self.read.id_field {
            return Err(ConfigError::SameFields(self.read.text_field.clone()));
        }
        let lsh = match (self.bands, self.rows) {
            (None, None) => lsh::optimal_params(self.threshold, self.num_perm),
            (Some(bands), Some(rows)) => {
                if bands == 0 || rows == 0 {
                    return Err(ConfigError::ZeroBands);
                }
                let product = bands.saturating_mul(rows);
                if product > self.num_perm {
                    return Err(ConfigError::BandsTimesRows {
                        bands,
                        rows,
                        product,
                        num_perm: self.num_perm,
                    });
                }
                LshParams { bands, rows }
            }
            _ => return Err(ConfigError::BandsWithoutRows),
        };
        Ok(DedupConfig {
            threshold: self.threshold,
            shingle: ShingleParams {
                kind: self.shingle,
                n,
                seed: self.seed,
            },
            num_perm: self.num_perm,
            scheme: self.scheme,
            lsh,
            seed: self.seed,
            verify: self.verify,
            keep: self.keep,
            mode: self.mode,
            normalize: self.normalize,
            text_field: self.read.text_field.clone(),
            id_field: self.read.id_field.clone(),
            read: self.read,
            skip_bad_records: self.skip_bad_records,
            threads: self.threads,
            min_chars: self.min_chars,
            on_empty: self.on_empty,
            mem_limit: self.mem_limit,
        })
    }
}

/// Where the results of a run go.
#[derive(Clone, Debug)]
pub struct OutputPaths {
    /// `-` is standard output.
    pub output: PathBuf,
    pub clusters: Option<PathBuf>,
    pub report: Option<PathBuf>,
    pub rejects: Option<PathBuf>,
    /// Learned rules (`clean --save-rules`).
    pub rules: Option<PathBuf>,
    /// The HTML report (`--html`).
    pub html: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = DedupOptions::default().validate().unwrap();
        assert!(c.lsh.bands * c.lsh.rows <= 128);
    }

    #[test]
    fn bad_combinations_are_refused() {
        let bad = |f: fn(&mut DedupOptions)| {
            let mut o = DedupOptions::default();
            f(&mut o);
            o.validate().unwrap_err()
        };
        assert_eq!(bad(|o| o.threshold = 0.0), ConfigError::Threshold(0.0));
        assert_eq!(bad(|o| o.threshold = 1.5), ConfigError::Threshold(1.5));
        assert!(matches!(
            bad(|o| o.threshold = f64::NAN),
            ConfigError::Threshold(_)
        ));
        assert_eq!(bad(|o| o.threads = Some(0)), ConfigError::Threads);
        assert_eq!(bad(|o| o.bands = Some(4)), ConfigError::BandsWithoutRows);
        assert!(matches!(
            bad(|o| {
                o.bands = Some(20);
                o.rows = Some(10);
            }),
            ConfigError::BandsTimesRows { product: 200, .. }
        ));
        assert_eq!(bad(|o| o.ngram = 0), ConfigError::Ngram(0));
        assert_eq!(bad(|o| o.num_perm = 0), ConfigError::NumPerm(0));
    }
}
