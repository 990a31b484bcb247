//! Corpus input: where do documents come from, and how are they read without copying
//! the corpus into memory?
//!
//! Inputs are JSON Lines files (one object per line), plain text files (one document
//! each; directories are walked recursively in sorted order), gzip or zstd compressed
//! JSON Lines (detected by their magic bytes, streamed), and standard input (spooled to
//! a temporary file once, so it can be read twice). Uncompressed files are
//! memory-mapped and cut into line-aligned chunks that are parsed in parallel.
//!
//! Reading is organised as a sequence of *groups* of chunks in input order: a caller
//! processes the chunks of one group in parallel and appends the results in order, so
//! results are identical for any thread count and at most one group of decompressed
//! data is held at a time.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Target size of one parallel work unit.
const CHUNK_BYTES: usize = 1 << 20;
/// Target size of one group of chunks (and of one read batch of a stream).
const GROUP_BYTES: usize = 64 << 20;
/// At most this many files are open (mapped) in one group.
const GROUP_FILES: usize = 512;

/// How the records of a file are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// The whole file is one document.
    Text,
}

/// Compression detected from a file's first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// One input, resolved.
#[derive(Clone, Debug, serde::Serialize)]
pub struct InputSpec {
    /// How the input is named in messages and ids (`<stdin>` for standard input).
    pub name: String,
    #[serde(skip)]
    pub path: Option<PathBuf>,
    pub format: Format,
    pub compression: Compression,
    /// Size on disk (compressed size for compressed inputs).
    pub bytes: u64,
    /// Read once into a temporary file before use (standard input, pipes, devices):
    /// such inputs cannot be opened twice.
    #[serde(skip)]
    pub spool: bool,
    /// A Parquet file: its rows are read as JSON objects, one per row, with every
    /// column (see [`crate::columnar`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub parquet: bool,
}

/// Why a single record could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("the line is a JSON {0}, not an object")]
    NotAnObject(&'static str),
    #[error("no field \"{0}\" in the object")]
    MissingText(String),
    #[error("field \"{field}\" is {found}, not a string")]
    TextNotString { field: String, found: &'static str },
    #[error("field \"{field}\" is {found}, not a string or number")]
    BadId { field: String, found: &'static str },
    #[error("invalid UTF-8 at byte {0} of the record")]
    InvalidUtf8(usize),
    #[error("record is {size} bytes, over the limit of {limit} bytes (--max-record-bytes)")]
    TooLarge { size: usize, limit: usize },
}

/// Why reading the corpus failed.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: no such file or directory")]
    NotFound { path: String },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path}: corrupt or truncated {kind} stream after line {line}: {source}")]
    Decompress {
        path: String,
        kind: &'static str,
        line: u64,
        #[source]
        source: io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Record {
        path: String,
        line: u64,
        reason: RecordError,
    },
    #[error("{path}: symbolic link loop (this directory is already being walked)")]
    SymlinkLoop { path: String },
    #[error(
        "{path}: the input changed while it was being read (first pass saw {before} records, second pass {after})"
    )]
    Changed {
        path: String,
        before: u64,
        after: u64,
    },
}

/// How records are read.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    pub text_field: String,
    pub id_field: String,
    /// Force a format instead of guessing it from the file name.
    pub format: Option<Format>,
    /// Memory-map uncompressed files (otherwise they are streamed like compressed ones).
    pub mmap: bool,
    /// Records larger than this are rejected instead of processed.
    pub max_record_bytes: usize,
    /// Where standard input is spooled.
    pub tmp_dir: Option<PathBuf>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            text_field: "text".into(),
            id_field: "id".into(),
            format: None,
            mmap: true,
            max_record_bytes: 256 << 20,
            tmp_dir: None,
        }
    }
}

/// The file name without a compression suffix, lower-cased.
fn base_name(name: &str) -> String {
    let name = name.to_lowercase();
    let base = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .unwrap_or(&name);
    base.to_string()
}

const TEXT_EXTENSIONS: [&str; 3] = [".txt", ".text", ".md"];

fn is_known_extension(name: &str) -> bool {
    let base = base_name(name);
    [".jsonl", ".ndjson", ".json"]
        .iter()
        .chain(&TEXT_EXTENSIONS)
        .any(|e| base.ends_with(e))
        || name.to_ascii_lowercase().ends_with(".parquet")
}

fn format_of(name: &str, forced: Option<Format>) -> Format {
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

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> InputError + '_ {
    move |source| InputError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The first (up to) four bytes of a file.
fn head(path: &Path) -> Result<([u8; 4], usize), InputError> {
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
fn is_parquet(path: &Path) -> Result<bool, InputError> {
    let (head, n) = head(path)?;
    Ok(&head[..n] == crate::columnar::MAGIC)
}

fn sniff(path: &Path) -> Result<Compression, InputError> {
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

fn stdin_spec(forced: Option<Format>) -> InputSpec {
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

fn file_spec(
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

fn walk(
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

/// The bytes of one uncompressed input: a read-only memory map, or an owned buffer
/// for small and empty files.
enum Data {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Data {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Data::Map(m) => m,
            Data::Owned(v) => v,
        }
    }
}

/// The one place that memory-maps a file.
fn map_file(path: &Path) -> Result<Data, InputError> {
    let file = File::open(path).map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    if len < 64 * 1024 {
        let mut buf = Vec::with_capacity(len as usize);
        (&file).read_to_end(&mut buf).map_err(io_err(path))?;
        return Ok(Data::Owned(buf));
    }
    // SAFETY: the map is read-only and private to this process. If another process
    // truncates or rewrites the file while it is mapped, reads may see the new bytes
    // or fault (SIGBUS); dupstrip never writes its inputs, refuses an output path equal
    // to an input, and checks that both passes see the same number of records.
    // `--no-mmap` avoids the map altogether.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err(path))?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(Data::Map(map))
}

/// One record: a line of a JSON Lines file, or a whole text file.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// Index of the input it came from.
    pub source: usize,
    /// 1-based line number (1 for text files).
    pub line: u64,
    /// The record's bytes, without its line terminator.
    pub bytes: &'a [u8],
}

/// A line-aligned piece of one input, processed as a unit.
#[derive(Clone, Copy, Debug)]
pub struct Chunk<'a> {
    pub source: usize,
    pub format: Format,
    /// Line number of the chunk's first line.
    pub first_line: u64,
    pub data: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// The records of the chunk in order. Blank lines (only whitespace) are not
    /// records.
    pub fn records(&self) -> impl Iterator<Item = Record<'a>> + 'a {
        let source = self.source;
        let data = self.data;
        let first = self.first_line;
        let text = self.format == Format::Text;
        let mut pos = 0usize;
        let mut line = first;
        let mut done = false;
        std::iter::from_fn(move || {
            if text {
                if done {
                    return None;
                }
                done = true;
                return Some(Record {
                    source,
                    line: 1,
                    bytes: data,
                });
            }
            while pos < data.len() {
                let end = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i);
                let mut rec = &data[pos..end];
                let this_line = line;
                pos = end + 1;
                line += 1;
                if let [rest @ .., b'\r'] = rec {
                    rec = rest;
                }
                if rec.iter().all(|b| b.is_ascii_whitespace()) {
                    continue;
                }
                return Some(Record {
                    source,
                    line: this_line,
                    bytes: rec,
                });
            }
            None
        })
    }
}

/// Cut `data` into line-aligned chunks of about [`CHUNK_BYTES`].
fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < data.len() {
        let target = start + CHUNK_BYTES;
        let end = if target >= data.len() {
            data.len()
        } else {
            memchr::memchr(b'\n', &data[target..]).map_or(data.len(), |i| target + i + 1)
        };
        out.push(&data[start..end]);
        start = end;
    }
    out
}

fn strip_bom(data: &[u8]) -> &[u8] {
    data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data)
}

/// An opened corpus: the inputs, with standard input spooled to a temporary file.
pub struct Corpus {
    inputs: Vec<InputSpec>,
    /// For each input: the file to read (the spool for standard input, the JSON Lines
    /// of a Parquet file).
    files: Vec<PathBuf>,
    _spools: Vec<tempfile::NamedTempFile>,
    opts: ReadOptions,
    /// The schema of the first Parquet input: the column types of a Parquet output.
    parquet_schema: Option<arrow_schema::SchemaRef>,
}

impl Corpus {
    pub fn open(mut inputs: Vec<InputSpec>, opts: ReadOptions) -> Result<Corpus, InputError> {
        let mut spools = Vec::new();
        let mut files = Vec::with_capacity(inputs.len());
        let mut parquet_schema = None;
        for spec in &mut inputs {
            match &spec.path {
                Some(p) if spec.parquet => {
                    let (spool, schema) = parquet_spool(spec, p, opts.tmp_dir.as_deref())?;
                    parquet_schema.get_or_insert(schema);
                    files.push(spool.path().to_path_buf());
                    spools.push(spool);
                }
                Some(p) if !spec.spool => files.push(p.clone()),
                _ => {
                    let spool = spool_input(spec, opts.tmp_dir.as_deref())?;
                    spec.compression = sniff(spool.path())?;
                    spec.bytes = spool
                        .as_file()
                        .metadata()
                        .map_err(io_err(spool.path()))?
                        .len();
                    files.push(spool.path().to_path_buf());
                    spools.push(spool);
                }
            }
        }
        Ok(Corpus {
            inputs,
            files,
            _spools: spools,
            opts,
            parquet_schema,
        })
    }

    /// The schema of the first Parquet input, if any.
    pub fn parquet_schema(&self) -> Option<&arrow_schema::SchemaRef> {
        self.parquet_schema.as_ref()
    }

    pub fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }

    /// A hash of every input's bytes as stored (compressed bytes for compressed
    /// inputs), in order: two runs over the same input have the same fingerprint.
    pub fn fingerprint(&self) -> Result<String, InputError> {
        use std::io::Read;
        let mut h = xxhash_rust::xxh3::Xxh3Default::new();
        let mut buf = vec![0u8; 1 << 20];
        for path in &self.files {
            let mut f = File::open(path).map_err(io_err(path))?;
            let mut len = 0u64;
            loop {
                let n = f.read(&mut buf).map_err(io_err(path))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                len += n as u64;
            }
            h.update(&len.to_le_bytes());
        }
        Ok(format!("{:016x}", h.digest()))
    }

    pub fn options(&self) -> &ReadOptions {
        &self.opts
    }

    /// Visit the whole corpus as groups of chunks, in input order.
    pub fn for_each_group<E>(
        &self,
        mut on_group: impl FnMut(&[Chunk<'_>]) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<InputError>,
    {
        let mut pending: Vec<(usize, Data)> = Vec::new();
        let mut pending_bytes = 0usize;
        for (i, spec) in self.inputs.iter().enumerate() {
            let streamed = spec.compression != Compression::None || !self.opts.mmap;
            if streamed {
                flush_mapped(self, &mut pending, &mut on_group)?;
                pending_bytes = 0;
                self.stream_groups(i, &mut on_group)?;
                continue;
            }
            let data = map_file(&self.files[i])?;
            pending_bytes += data.len();
            pending.push((i, data));
            if pending_bytes >= GROUP_BYTES || pending.len() >= GROUP_FILES {
                flush_mapped(self, &mut pending, &mut on_group)?;
                pending_bytes = 0;
            }
        }
        flush_mapped(self, &mut pending, &mut on_group)
    }

    /// Read a compressed or unmapped input in batches of whole lines and hand each
    /// batch over as a group. A reader thread decompresses the next batch while the
    /// current one is processed.
    fn stream_groups<E>(
        &self,
        i: usize,
        on_group: &mut impl FnMut(&[Chunk<'_>]) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<InputError>,
    {
        let spec = &self.inputs[i];
        let path = &self.files[i];
        let file = File::open(path).map_err(|e| InputError::Io {
            path: spec.name.clone(),
            source: e,
        })?;
        let reader: Box<dyn Read + Send> = match spec.compression {
            Compression::None => Box::new(file),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file))),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(file).map_err(|e| {
                InputError::Decompress {
                    path: spec.name.clone(),
                    kind: "zstd",
                    line: 0,
                    source: e,
                }
            })?),
        };
        let kind = match spec.compression {
            Compression::None => "",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        };
        let format = spec.format;
        let max_line = self.opts.max_record_bytes;
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(1);
            scope.spawn(move || {
                let mut r = BufReader::with_capacity(1 << 20, reader);
                loop {
                    let batch = read_batch(&mut r, format, max_line);
                    let stop = !matches!(&batch, Ok(b) if !b.is_empty());
                    if tx.send(batch).is_err() || stop {
                        break;
                    }
                }
            });
            let mut line = 1u64;
            let mut first = true;
            for batch in rx {
                let batch = batch.map_err(|e| {
                    if kind.is_empty() {
                        InputError::Io {
                            path: spec.name.clone(),
                            source: e,
                        }
                    } else {
                        InputError::Decompress {
                            path: spec.name.clone(),
                            kind,
                            line: line - 1,
                            source: e,
                        }
                    }
                })?;
                // An empty text file is still one (empty) document, as when mapped.
                if batch.is_empty() && !(format == Format::Text && first) {
                    break;
                }
                let data = if first { strip_bom(&batch) } else { &batch[..] };
                first = false;
                let chunks = line_chunks(i, format, data, line);
                line += memchr::memchr_iter(b'\n', data).count() as u64;
                on_group(&chunks)?;
                if format == Format::Text {
                    break;
                }
            }
            Ok(())
        })
    }
}

/// Read about [`GROUP_BYTES`] of whole lines (the whole stream for text format).
/// A line longer than `max_line` bytes keeps only its first `max_line + 1` bytes (so
/// it is still rejected as too large, with its line number) and the rest is skipped
/// without being held in memory.
fn read_batch(r: &mut impl BufRead, format: Format, max_line: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if format == Format::Text {
        r.take(max_line as u64 + 1).read_to_end(&mut buf)?;
        io::copy(r, &mut io::sink())?;
        return Ok(buf);
    }
    while buf.len() < GROUP_BYTES {
        let line_start = buf.len();
        let mut skipping = false;
        loop {
            let avail = r.fill_buf()?;
            if avail.is_empty() {
                return Ok(buf);
            }
            let (take, found) = match memchr::memchr(b'\n', avail) {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            if !skipping {
                let room = (max_line + 1).saturating_sub(buf.len() - line_start);
                if take <= room {
                    buf.extend_from_slice(&avail[..take]);
                } else {
                    buf.extend_from_slice(&avail[..room]);
                    skipping = true;
                }
            }
            r.consume(take);
            if found {
                if skipping {
                    buf.push(b'\n');
                }
                break;
            }
        }
    }
    Ok(buf)
}

fn line_chunks(source: usize, format: Format, data: &[u8], first_line: u64) -> Vec<Chunk<'_>> {
    if format == Format::Text {
        return vec![Chunk {
            source,
            format,
            first_line: 1,
            data,
        }];
    }
    let pieces = split_lines(data);
    let counts: Vec<u64> = pieces
        .par_iter()
        .map(|p| memchr::memchr_iter(b'\n', p).count() as u64)
        .collect();
    let mut line = first_line;
    pieces
        .into_iter()
        .zip(counts)
        .map(|(p, n)| {
            let c = Chunk {
                source,
                format,
                first_line: line,
                data: p,
            };
            line += n;
            c
        })
        .collect()
}

fn flush_mapped<E>(
    corpus: &Corpus,
    pending: &mut Vec<(usize, Data)>,
    on_group: &mut impl FnMut(&[Chunk<'_>]) -> Result<(), E>,
) -> Result<(), E> {
    if pending.is_empty() {
        return Ok(());
    }
    let mut chunks = Vec::new();
    for (i, data) in pending.iter() {
        let format = corpus.inputs[*i].format;
        // A text input is always one chunk, so an empty text file is one empty document.
        chunks.extend(line_chunks(*i, format, strip_bom(data), 1));
    }
    // One big file is handed over in groups of about GROUP_BYTES too, so what a
    // caller holds per group (rendered output, say) stays bounded.
    let mut r = Ok(());
    let mut start = 0;
    let mut bytes = 0usize;
    for i in 0..chunks.len() {
        bytes += chunks[i].data.len();
        if bytes >= GROUP_BYTES || i + 1 == chunks.len() {
            r = on_group(&chunks[start..=i]);
            if r.is_err() {
                break;
            }
            start = i + 1;
            bytes = 0;
        }
    }
    pending.clear();
    r
}

/// Copy standard input or a pipe into a temporary file.
/// The rows of a Parquet input as JSON Lines in a temporary file, and its schema.
fn parquet_spool(
    spec: &InputSpec,
    path: &Path,
    dir: Option<&Path>,
) -> Result<(tempfile::NamedTempFile, arrow_schema::SchemaRef), InputError> {
    let mut spool = match dir {
        Some(d) => tempfile::NamedTempFile::new_in(d),
        None => tempfile::NamedTempFile::new(),
    }
    .map_err(|source| InputError::Io {
        path: format!("temporary file for the rows of {}", spec.name),
        source,
    })?;
    crate::temporaries::register_temporary(spool.path());
    let schema = crate::columnar::parquet_to_jsonl(path, spool.as_file_mut()).map_err(|e| {
        InputError::Io {
            path: format!("{} (reading it as Parquet)", spec.name),
            source: e,
        }
    })?;
    Ok((spool, schema))
}

fn spool_input(
    spec: &InputSpec,
    dir: Option<&Path>,
) -> Result<tempfile::NamedTempFile, InputError> {
    let mut spool = match dir {
        Some(d) => tempfile::NamedTempFile::new_in(d),
        None => tempfile::NamedTempFile::new(),
    }
    .map_err(|source| InputError::Io {
        path: format!(
            "{} (temporary directory for spooling {})",
            dir.map_or_else(
                || std::env::temp_dir().display().to_string(),
                |d| d.display().to_string()
            ),
            spec.name
        ),
        source,
    })?;
    crate::temporaries::register_temporary(spool.path());
    let read_err = |source| InputError::Io {
        path: spec.name.clone(),
        source,
    };
    match &spec.path {
        None => io::copy(&mut io::stdin().lock(), spool.as_file_mut()).map_err(read_err)?,
        Some(p) => {
            let mut f = File::open(p).map_err(read_err)?;
            io::copy(&mut f, spool.as_file_mut()).map_err(read_err)?
        }
    };
    Ok(spool)
}

/// A parsed document: its id and its text, borrowed from the input where possible.
#[derive(Debug)]
pub struct Doc<'a> {
    /// `None` when the record has no id field; callers use `<input>:<line>`.
    pub id: Option<Cow<'a, str>>,
    pub text: Cow<'a, str>,
    /// Byte range of the text's JSON string (quotes included) inside the record, so a
    /// rewritten text can replace it and leave every other byte as it was. `None` for
    /// text files and for records read after repairing lone surrogates.
    pub text_span: Option<std::ops::Range<usize>>,
}

/// Parse one record of `format` with the configured field names.
pub fn parse<'a>(
    rec: &Record<'a>,
    format: Format,
    opts: &ReadOptions,
) -> Result<Doc<'a>, RecordError> {
    if rec.bytes.len() > opts.max_record_bytes {
        return Err(RecordError::TooLarge {
            size: rec.bytes.len(),
            limit: opts.max_record_bytes,
        });
    }
    match format {
        Format::Text => {
            let text = std::str::from_utf8(rec.bytes)
                .map_err(|e| RecordError::InvalidUtf8(e.valid_up_to()))?;
            Ok(Doc {
                id: None,
                text: Cow::Borrowed(text),
                text_span: None,
            })
        }
        Format::Jsonl => parse_json(rec.bytes, opts),
    }
}

/// Line number (1-based) inside a text record of the byte at `offset`.
pub fn line_of_offset(bytes: &[u8], offset: usize) -> u64 {
    1 + memchr::memchr_iter(b'\n', &bytes[..offset.min(bytes.len())]).count() as u64
}

fn parse_json<'a>(bytes: &'a [u8], opts: &ReadOptions) -> Result<Doc<'a>, RecordError> {
    match parse_json_strict(bytes, opts) {
        Err(RecordError::InvalidJson(msg)) => {
            // Crawls written by Python often hold lone UTF-16 surrogate escapes, which
            // serde_json refuses; they become U+FFFD, as Python's tools would read them.
            if let Some(fixed) = replace_lone_surrogates(bytes)
                && let Ok(doc) = parse_json_strict(&fixed, opts)
            {
                return Ok(Doc {
                    id: doc.id.map(|c| Cow::Owned(c.into_owned())),
                    text: Cow::Owned(doc.text.into_owned()),
                    text_span: None,
                });
            }
            Err(RecordError::InvalidJson(msg))
        }
        other => other,
    }
}

/// `bytes` with every `\uXXXX` escape of an unpaired surrogate replaced by `\ufffd`, or
/// `None` when there is none.
pub fn repair_surrogates(bytes: &[u8]) -> Option<Vec<u8>> {
    replace_lone_surrogates(bytes)
}

/// Byte range of the text field's JSON string in a well-formed record.
pub fn text_span(bytes: &[u8], opts: &ReadOptions) -> Option<std::ops::Range<usize>> {
    parse_json_strict(bytes, opts).ok()?.text_span
}

fn replace_lone_surrogates(b: &[u8]) -> Option<Vec<u8>> {
    let hex = |s: &[u8]| {
        std::str::from_utf8(s)
            .ok()
            .and_then(|h| u16::from_str_radix(h, 16).ok())
    };
    let escape_at = |j: usize| {
        (j + 6 <= b.len() && b[j] == b'\\' && b[j + 1] == b'u')
            .then(|| hex(&b[j + 2..j + 6]))
            .flatten()
    };
    let mut out = Vec::with_capacity(b.len());
    let mut changed = false;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match escape_at(i) {
            Some(0xD800..=0xDBFF) if matches!(escape_at(i + 6), Some(0xDC00..=0xDFFF)) => {
                out.extend_from_slice(&b[i..i + 12]);
                i += 12;
            }
            Some(0xD800..=0xDFFF) => {
                out.extend_from_slice(b"\\ufffd");
                changed = true;
                i += 6;
            }
            _ => {
                let end = (i + 2).min(b.len());
                out.extend_from_slice(&b[i..end]);
                i = end;
            }
        }
    }
    changed.then_some(out)
}

fn parse_json_strict<'a>(bytes: &'a [u8], opts: &ReadOptions) -> Result<Doc<'a>, RecordError> {
    // A record that is valid UTF-8 (nearly all) is checked once, by SIMD, and parsed
    // as a `str`, which serde_json does not check again; anything else is parsed as
    // bytes so the error names the place.
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => pick_fields(bytes, serde_json::Deserializer::from_str(text), opts),
        Err(_) => pick_fields(bytes, serde_json::Deserializer::from_slice(bytes), opts),
    }
}

fn pick_fields<'a, R: serde_json::de::Read<'a>>(
    bytes: &'a [u8],
    mut de: serde_json::Deserializer<R>,
    opts: &ReadOptions,
) -> Result<Doc<'a>, RecordError> {
    let picked = FieldPicker {
        text_field: &opts.text_field,
        id_field: &opts.id_field,
    }
    .deserialize(&mut de)
    .map_err(json_error)?;
    de.end().map_err(json_error)?;
    let picked = picked?;
    let Some(raw) = picked.text else {
        return Err(RecordError::MissingText(opts.text_field.clone()));
    };
    let raw = raw.get();
    let start = raw.as_ptr() as usize - bytes.as_ptr() as usize;
    let text = match ValueVisitor
        .deserialize(&mut serde_json::Deserializer::from_str(raw))
        .map_err(json_error)?
    {
        Value::Str(s) => s,
        other => {
            return Err(RecordError::TextNotString {
                field: opts.text_field.clone(),
                found: other.kind(),
            });
        }
    };
    let id = match picked.id {
        None => None,
        Some(Value::Str(s)) => Some(s),
        Some(Value::Number(n)) => Some(Cow::Owned(n)),
        Some(other) => {
            return Err(RecordError::BadId {
                field: opts.id_field.clone(),
                found: other.kind(),
            });
        }
    };
    Ok(Doc {
        id,
        text,
        text_span: Some(start..start + raw.len()),
    })
}

/// serde_json's message without its "line 1": the record's line is named by the caller.
fn json_error(e: serde_json::Error) -> RecordError {
    let msg = e.to_string();
    let msg = match msg.find(" at line ") {
        Some(i) => format!("{} at column {}", &msg[..i], e.column()),
        None => msg,
    };
    RecordError::InvalidJson(msg)
}

/// A field value, kept only as far as the reader needs it.
enum Value<'a> {
    Str(Cow<'a, str>),
    Number(String),
    Null,
    Bool,
    Array,
    Object,
}

impl Value<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Number(_) => "a number",
            Value::Null => "null",
            Value::Bool => "a boolean",
            Value::Array => "an array",
            Value::Object => "an object",
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Owned(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Value::Number(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Value::Number(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Value::Number(v.to_string()))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Value::Bool)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Value::Object)
    }
}

impl<'de> DeserializeSeed<'de> for ValueVisitor {
    type Value = Value<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// Picks the text and id fields out of an object and skips every other field
/// without building it.
struct FieldPicker<'f> {
    text_field: &'f str,
    id_field: &'f str,
}

struct Picked<'a> {
    text: Option<&'a serde_json::value::RawValue>,
    id: Option<Value<'a>>,
}

impl<'de> DeserializeSeed<'de> for FieldPicker<'_> {
    /// The outer result is a JSON syntax error; the inner one a well-formed line that
    /// is not an object.
    type Value = Result<Picked<'de>, RecordError>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldPicker<'_> {
    type Value = Result<Picked<'de>, RecordError>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut picked = Picked {
            text: None,
            id: None,
        };
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == self.text_field {
                picked.text = Some(map.next_value()?);
            } else if key == self.id_field {
                picked.id = Some(map.next_value_seed(ValueVisitor)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Ok(picked))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err(RecordError::NotAnObject("array")))
    }
    fn visit_borrowed_str<E>(self, _: &'de str) -> Result<Self::Value, E> {
        Ok(Err(RecordError::NotAnObject("string")))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err(RecordError::NotAnObject("string")))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err(RecordError::NotAnObject("number")))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err(RecordError::NotAnObject("number")))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err(RecordError::NotAnObject("number")))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err(RecordError::NotAnObject("boolean")))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Err(RecordError::NotAnObject("null")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(b: &[u8]) -> Record<'_> {
        Record {
            source: 0,
            line: 1,
            bytes: b,
        }
    }

    fn p(b: &[u8]) -> Result<Doc<'_>, RecordError> {
        parse(&rec(b), Format::Jsonl, &ReadOptions::default())
    }

    #[test]
    fn parses_and_borrows() {
        let d = p(br#"{"id": "a", "meta": {"x": [1, 2]}, "text": "hello"}"#).unwrap();
        assert_eq!(d.id.as_deref(), Some("a"));
        assert!(matches!(d.text, Cow::Borrowed("hello")));
        let line = br#"{"id": 17, "text": "a\nb", "x": 1}"#;
        let d = p(line).unwrap();
        assert_eq!(d.id.as_deref(), Some("17"));
        assert_eq!(d.text, "a\nb");
        assert_eq!(&line[d.text_span.unwrap()], br#""a\nb""#);
    }

    #[test]
    fn bad_records_say_why() {
        assert!(matches!(
            p(b"{\"text\": "),
            Err(RecordError::InvalidJson(_))
        ));
        assert_eq!(p(b"[1]").unwrap_err(), RecordError::NotAnObject("array"));
        assert_eq!(
            p(br#"{"id": "x"}"#).unwrap_err(),
            RecordError::MissingText("text".into())
        );
        assert!(matches!(
            p(br#"{"text": null}"#),
            Err(RecordError::TextNotString { found: "null", .. })
        ));
        assert!(matches!(
            p(br#"{"text": [1]}"#),
            Err(RecordError::TextNotString {
                found: "an array",
                ..
            })
        ));
        assert!(matches!(
            p(b"{\"text\": \"\xff\"}"),
            Err(RecordError::InvalidJson(_))
        ));
        assert!(matches!(
            p(br#"{"text": "a"} x"#),
            Err(RecordError::InvalidJson(_))
        ));
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let d = p(br#"{"text": "a \ud800 b \udc00 c \ud83d\ude00"}"#).unwrap();
        assert_eq!(d.text, "a \u{fffd} b \u{fffd} c \u{1F600}");
        // An escaped backslash before "u" is not an escape.
        let d = p(br#"{"text": "x \\ud800"}"#).unwrap();
        assert_eq!(d.text, "x \\ud800");
        assert!(matches!(
            p(br#"{"text": "\ud800"#),
            Err(RecordError::InvalidJson(_))
        ));
    }

    #[test]
    fn chunk_records_skip_blank_lines_and_keep_line_numbers() {
        let data = b"{\"text\":\"a\"}\r\n\n  \n{\"text\":\"b\"}";
        let c = Chunk {
            source: 0,
            format: Format::Jsonl,
            first_line: 10,
            data,
        };
        let recs: Vec<_> = c.records().map(|r| (r.line, r.bytes.to_vec())).collect();
        assert_eq!(
            recs,
            vec![
                (10, b"{\"text\":\"a\"}".to_vec()),
                (13, b"{\"text\":\"b\"}".to_vec())
            ]
        );
    }

    #[test]
    fn split_is_line_aligned() {
        let line = b"0123456789abcdef\n".repeat(200_000);
        let pieces = split_lines(&line);
        assert!(pieces.len() > 1);
        assert!(pieces.iter().all(|p| p.ends_with(b"\n")));
        assert_eq!(pieces.iter().map(|p| p.len()).sum::<usize>(), line.len());
    }
}
