//! Discovery: which files does a list of paths name (directories walked in sorted
//! order), in which format and compression?

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::*;

/// The file name without a compression suffix, lower-cased.
pub(super) fn base_name(name: &str) -> String {
    let name = name.to_lowercase();
    let base = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .unwrap_or(&name);
    base.to_string()
}

pub(super) const TEXT_EXTENSIONS: [&str; 3] = [".txt", ".text", ".md"];

pub(super) fn is_known_extension(name: &str) -> bool {
    let base = base_name(name);
    [".jsonl", ".ndjson", ".json"]
        .iter()
        .chain(&TEXT_EXTENSIONS)
        .any(|e| base.ends_with(e))
        || name.to_ascii_lowercase().ends_with(".parquet")
}

pub(super) fn format_of(name: &str, forced: Option<Format>) -> Format {
    if let Some(f) = forced {
        return f;
    }
    let base = base_name(name);
    if TEXT_EXTENSIONS.iter().any(|e| base.ends_with(e)) {
        Format::Text
    } else {
        Format::Jsonl
    }
}

/// The first (up to) four bytes of a file.
pub(super) fn head(path: &Path) -> Result<([u8; 4], usize), InputError> {
    let mut head = [0u8; 4];
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut n = 0;
    while n < 4 {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(path)(e)),
        }
    }
    Ok((head, n))
}

/// True when the file starts with the Parquet magic.
pub(super) fn is_parquet(path: &Path) -> Result<bool, InputError> {
    let (head, n) = head(path)?;
    Ok(&head[..n] == crate::columnar::MAGIC)
}

pub(super) fn sniff(path: &Path) -> Result<Compression, InputError> {
    let (head, n) = head(path)?;
    Ok(match &head[..n] {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd] => Compression::Zstd,
        _ => Compression::None,
    })
}

/// The resolved inputs, and the files skipped inside directories for an unknown
/// extension.
pub struct Discovered {
    pub inputs: Vec<InputSpec>,
    pub skipped: Vec<String>,
}

/// Resolve input arguments: `-` (or none) is standard input; a directory is walked
/// recursively in sorted order, taking `.jsonl`, `.ndjson`, `.json` and `.txt` files
/// (optionally `.gz`/`.zst`); a file named explicitly is always taken.
pub fn discover(args: &[PathBuf], forced: Option<Format>) -> Result<Discovered, InputError> {
    let mut out = Discovered {
        inputs: Vec::new(),
        skipped: Vec::new(),
    };
    if args.is_empty() {
        out.inputs.push(stdin_spec(forced));
        return Ok(out);
    }
    for a in args {
        if a.as_os_str() == "-" {
            out.inputs.push(stdin_spec(forced));
            continue;
        }
        let meta = std::fs::metadata(a).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                InputError::NotFound {
                    path: a.display().to_string(),
                }
            } else {
                io_err(a)(e)
            }
        })?;
        if meta.is_dir() {
            let mut ancestors = Vec::new();
            walk(a, forced, &mut ancestors, &mut out)?;
        } else {
            out.inputs.push(file_spec(a, forced, &meta)?);
        }
    }
    Ok(out)
}

pub(super) fn stdin_spec(forced: Option<Format>) -> InputSpec {
    InputSpec {
        name: "<stdin>".into(),
        path: None,
        format: forced.unwrap_or(Format::Jsonl),
        compression: Compression::None,
        bytes: 0,
        spool: true,
        parquet: false,
    }
}

pub(super) fn file_spec(
    path: &Path,
    forced: Option<Format>,
    meta: &std::fs::Metadata,
) -> Result<InputSpec, InputError> {
    let name = path.display().to_string();
    let regular = meta.is_file();
    let parquet = regular && (crate::columnar::has_parquet_extension(path) || is_parquet(path)?);
    Ok(InputSpec {
        format: if parquet {
            Format::Jsonl
        } else {
            format_of(&name, forced)
        },
        parquet,
        // A pipe would lose the bytes read to sniff it; it is sniffed once spooled.
        compression: if regular {
            sniff(path)?
        } else {
            Compression::None
        },
        name,
        path: Some(path.to_path_buf()),
        bytes: meta.len(),
        spool: !regular,
    })
}

pub(super) fn walk(
    dir: &Path,
    forced: Option<Format>,
    ancestors: &mut Vec<PathBuf>,
    out: &mut Discovered,
) -> Result<(), InputError> {
    let canonical = dir.canonicalize().map_err(io_err(dir))?;
    if ancestors.contains(&canonical) {
        return Err(InputError::SymlinkLoop {
            path: dir.display().to_string(),
        });
    }
    ancestors.push(canonical);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io_err(dir))?;
    entries.sort();
    for p in entries {
        let meta = std::fs::metadata(&p).map_err(io_err(&p))?;
        if meta.is_dir() {
            walk(&p, forced, ancestors, out)?;
        } else if is_known_extension(&p.file_name().unwrap_or_default().to_string_lossy()) {
            out.inputs.push(file_spec(&p, forced, &meta)?);
        } else {
            out.skipped.push(p.display().to_string());
        }
    }
    ancestors.pop();
    Ok(())
}
