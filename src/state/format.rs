//! Format: how is a state's data file laid out (magic, version, parameters, sections,
//! footer, checksum), and what errors can reading one give?

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::{Xxh3Default, xxh3_64};

use crate::lsh::LshParams;
use crate::minhash::Scheme;
use crate::minhash::Slot;
use crate::normalize::NormalizeOptions;
use crate::shingle::ShingleParams;

use super::*;

/// Everything that shapes signatures and band keys: a state only holds documents
/// signed with one set of these.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StateParams {
    pub seed: u64,
    pub shingle: ShingleParams,
    pub num_perm: usize,
    pub scheme: Scheme,
    pub bands: usize,
    pub rows: usize,
    pub normalize: NormalizeOptions,
    /// Bits kept per signature slot.
    pub slot_bits: u32,
    /// Texts were stripped of boilerplate before signing (`clean`), or not (`dedup`).
    pub stripped: bool,
}

impl StateParams {
    pub fn new(cfg: &crate::config::DedupConfig, stripped: bool) -> StateParams {
        StateParams {
            seed: cfg.seed,
            shingle: cfg.shingle,
            num_perm: cfg.num_perm,
            scheme: cfg.scheme,
            bands: cfg.lsh.bands,
            rows: cfg.lsh.rows,
            normalize: cfg.normalize,
            slot_bits: 8 * std::mem::size_of::<Slot>() as u32,
            stripped,
        }
    }

    pub fn lsh(&self) -> LshParams {
        LshParams {
            bands: self.bands,
            rows: self.rows,
        }
    }

    /// What differs between the state's parameters (`self`) and a run's, one line
    /// each with the option that sets it.
    pub(super) fn diff(&self, run: &StateParams) -> String {
        let (a, b) = (
            serde_json::to_value(self).unwrap_or_default(),
            serde_json::to_value(run).unwrap_or_default(),
        );
        let mut lines = Vec::new();
        if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
            for (key, va) in a {
                let vb = b.get(key).cloned().unwrap_or_default();
                if *va == vb {
                    continue;
                }
                let option = match key.as_str() {
                    "seed" => "--seed",
                    "shingle" => "--shingle, --ngram, --char-ngram",
                    "num_perm" => "--num-perm",
                    "scheme" => "--scheme",
                    "bands" | "rows" => "--bands/--rows, or --threshold that chose them",
                    "normalize" => "--no-normalize",
                    "stripped" => "the command: clean signs stripped text, dedup raw text",
                    _ => "the dupstrip build",
                };
                lines.push(format!("  {key} ({option}): state {va}, this run {vb}"));
            }
        }
        lines.join("\n")
    }
}

/// Why a state could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "state {dir} is in use by another dupstrip run ({holder})\nhint: runs that write one state cannot overlap; wait for that run to finish (its lock goes with the process: a killed run leaves none)"
    )]
    Locked { dir: String, holder: String },
    #[error(
        "state {dir} was built with other parameters:\n{diff}\nhint: run with the state's parameters (`dupstrip state stats {dir}` lists them), or give a new --state directory"
    )]
    Params { dir: String, diff: String },
    #[error(
        "{path}: state format version {found}, written by {writer}; this dupstrip ({ours}) reads version {STATE_VERSION}\nhint: use the dupstrip that wrote it, or a newer one"
    )]
    Version {
        path: String,
        found: u32,
        writer: String,
        ours: &'static str,
    },
    #[error(
        "{path}: corrupt state file: {what}\nhint: the state cannot be used as it is; restore its directory from a backup, or move it aside and start a new state"
    )]
    Corrupt { path: String, what: String },
    #[error("{dir}: not a dupstrip state directory: {why}")]
    NotState { dir: String, why: String },
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub(super) fn corrupt(path: &Path, what: impl Into<String>) -> StateError {
    StateError::Corrupt {
        path: path.display().to_string(),
        what: what.into(),
    }
}

/// Test hook: with `DUPSTRIP_TEST_KILL_AT=<point>` in the environment the process
/// sends itself SIGKILL at that point of a state update, so tests can check that no
/// point leaves a broken state.
pub(super) fn kill_point(point: &str) {
    if std::env::var("DUPSTRIP_TEST_KILL_AT").is_ok_and(|p| p == point) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::process::id().to_string()])
            .status();
        std::thread::sleep(std::time::Duration::from_secs(60));
        std::process::abort();
    }
}

pub(super) fn sync_dir(dir: &Path) -> Result<(), StateError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

// ---------------------------------------------------------------------------------
// Data files: magic, version, sections, footer, checksum.

/// Where a file's bytes went, for the manifest.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FileEntry {
    pub file: String,
    pub bytes: u64,
    /// xxh3-64 of the file up to its checksum field, hex.
    pub checksum: String,
}

/// Writes a data file: every byte passes through the checksum.
pub(super) struct FileWriter {
    pub(super) path: PathBuf,
    pub(super) w: BufWriter<File>,
    pub(super) hash: Xxh3Default,
    pub(super) pos: u64,
    pub(super) sections: BTreeMap<String, (u64, u64)>,
}

impl FileWriter {
    pub(super) fn create(
        path: &Path,
        magic: &[u8; 8],
        params: &StateParams,
    ) -> Result<FileWriter, StateError> {
        let file = File::create(path).map_err(io_err(path))?;
        let mut w = FileWriter {
            path: path.to_path_buf(),
            w: BufWriter::with_capacity(1 << 20, file),
            hash: Xxh3Default::new(),
            pos: 0,
            sections: BTreeMap::new(),
        };
        let params = serde_json::to_vec(params).unwrap_or_default();
        w.put(magic)?;
        w.put(&STATE_VERSION.to_le_bytes())?;
        w.put(&(params.len() as u32).to_le_bytes())?;
        w.put(&params)?;
        w.put(&[0u8; 8][..(8 - params.len() % 8) % 8])?;
        Ok(w)
    }

    pub(super) fn put(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        self.hash.update(bytes);
        self.pos += bytes.len() as u64;
        self.w.write_all(bytes).map_err(io_err(&self.path))
    }

    pub(super) fn put_pod<T: bytemuck::Pod>(&mut self, v: &[T]) -> Result<(), StateError> {
        self.put(bytemuck::cast_slice(v))
    }

    /// Write a section with `f`; sections start 8-byte aligned.
    pub(super) fn section(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut FileWriter) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let start = self.pos;
        f(self)?;
        let len = self.pos - start;
        let pad = (8 - self.pos % 8) % 8;
        self.put(&[0u8; 8][..pad as usize])?;
        self.sections.insert(name.to_string(), (start, len));
        Ok(())
    }

    /// Footer, checksum, end magic; then flush and fsync.
    pub(super) fn finish(mut self, meta: serde_json::Value) -> Result<FileEntry, StateError> {
        let footer = serde_json::json!({ "meta": meta, "sections": self.sections });
        let footer = footer.to_string();
        self.put(footer.as_bytes())?;
        self.put(&(footer.len() as u64).to_le_bytes())?;
        let checksum = self.hash.digest();
        let path = self.path.clone();
        self.w
            .write_all(&checksum.to_le_bytes())
            .and_then(|_| self.w.write_all(END_MAGIC))
            .map_err(io_err(&path))?;
        let file = self
            .w
            .into_inner()
            .map_err(|e| io_err(&path)(e.into_error()))?;
        file.sync_all().map_err(io_err(&path))?;
        Ok(FileEntry {
            file: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            bytes: self.pos + 16,
            checksum: format!("{checksum:016x}"),
        })
    }
}

/// A data file, memory-mapped and checked.
pub(super) struct DataFile {
    pub(super) path: PathBuf,
    pub(super) map: memmap2::Mmap,
    /// The parameters in its head.
    pub(super) params: StateParams,
    pub(super) sections: BTreeMap<String, (u64, u64)>,
    pub(super) meta: serde_json::Value,
    pub(super) checksum: String,
}

impl DataFile {
    pub(super) fn open(path: &Path, magic: &[u8; 8]) -> Result<DataFile, StateError> {
        if !cfg!(target_endian = "little") {
            return Err(corrupt(
                path,
                "state files are read on little-endian machines only",
            ));
        }
        let file = File::open(path).map_err(io_err(path))?;
        let len = file.metadata().map_err(io_err(path))?.len();
        if len < HEAD_BYTES + TAIL_BYTES {
            return Err(corrupt(path, format!("truncated ({len} bytes)")));
        }
        // SAFETY: state files are immutable once named by a manifest and only this
        // program writes them; the map is read-only.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err(path))?;
        if &map[..8] != magic {
            return Err(corrupt(
                path,
                "wrong magic: not this kind of dupstrip state file",
            ));
        }
        let n = map.len();
        if &map[n - 8..] != END_MAGIC {
            return Err(corrupt(path, "truncated: no end marker"));
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&map[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let stored = u64_at(n - 16);
        let actual = xxh3_64(&map[..n - 16]);
        if stored != actual {
            return Err(corrupt(
                path,
                format!("checksum mismatch (stored {stored:016x}, computed {actual:016x})"),
            ));
        }
        // The version is read once the checksum holds: a flipped bit is corruption,
        // not a future format.
        let version = u32::from_le_bytes([map[8], map[9], map[10], map[11]]);
        if version != STATE_VERSION {
            return Err(StateError::Version {
                path: path.display().to_string(),
                found: version,
                writer: "another dupstrip".into(),
                ours: env!("CARGO_PKG_VERSION"),
            });
        }
        let params_len = u32::from_le_bytes([map[12], map[13], map[14], map[15]]) as usize;
        let head_end = (HEAD_BYTES as usize + params_len).next_multiple_of(8);
        let footer_len = u64_at(n - 24) as usize;
        let footer_end = n - 24;
        if head_end > footer_end || footer_len > footer_end - head_end {
            return Err(corrupt(path, "head or footer length out of range"));
        }
        let params: StateParams =
            serde_json::from_slice(&map[HEAD_BYTES as usize..HEAD_BYTES as usize + params_len])
                .map_err(|e| corrupt(path, format!("parameters: {e}")))?;
        #[derive(serde::Deserialize)]
        struct Footer {
            meta: serde_json::Value,
            sections: BTreeMap<String, (u64, u64)>,
        }
        let footer: Footer = serde_json::from_slice(&map[footer_end - footer_len..footer_end])
            .map_err(|e| corrupt(path, format!("footer: {e}")))?;
        for (name, &(start, len)) in &footer.sections {
            if start < head_end as u64
                || start % 8 != 0
                || start.saturating_add(len) > (footer_end - footer_len) as u64
            {
                return Err(corrupt(path, format!("section {name} out of range")));
            }
        }
        Ok(DataFile {
            path: path.to_path_buf(),
            map,
            params,
            sections: footer.sections,
            meta: footer.meta,
            checksum: format!("{stored:016x}"),
        })
    }

    pub(super) fn section<T: bytemuck::Pod>(&self, name: &str) -> Result<&[T], StateError> {
        let &(start, len) = self
            .sections
            .get(name)
            .ok_or_else(|| corrupt(&self.path, format!("no section {name}")))?;
        bytemuck::try_cast_slice(&self.map[start as usize..(start + len) as usize])
            .map_err(|e| corrupt(&self.path, format!("section {name}: {e}")))
    }

    pub(super) fn meta<T: serde::de::DeserializeOwned>(&self) -> Result<T, StateError> {
        serde_json::from_value(self.meta.clone())
            .map_err(|e| corrupt(&self.path, format!("footer: {e}")))
    }
}
