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

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

mod chunks;
mod discover;
mod json;
mod mapped;
mod memory;

pub(crate) use chunks::ChunkCount;
use chunks::line_chunks;
use discover::sniff;
pub use discover::{Discovered, discover};
pub use json::{Doc, line_of_offset, parse, repair_surrogates, text_span};
use mapped::Data;
pub use memory::MemoryTexts;
use memory::memory_groups;

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

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> InputError + '_ {
    move |source| InputError::Io {
        path: path.display().to_string(),
        source,
    }
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
    /// Line number of the chunk's first line (of a chunk of texts in memory: the
    /// 1-based position of its first text); 1 in a chunk not yet counted, whose
    /// lines are numbered within it.
    pub first_line: u64,
    pub data: &'a [u8],
    /// A chunk of texts held in memory ([`MemoryTexts`]): the length of each, `data`
    /// being their concatenation; each is one text document. Empty otherwise.
    pub texts: &'a [usize],
    /// Number of records ([`Chunk::records`] counts the same), known before they are
    /// read (after the first read of the input), so documents can be numbered chunk
    /// by chunk without a sweep of their own; 0 in a chunk not yet counted.
    pub records: u64,
    /// Whether `first_line` and `records` are known. The first read of an input by
    /// [`Corpus::for_each_group_counting`] gets its chunks uncounted: `records` is 0
    /// and lines are numbered from 1 within each chunk; the reader counts them as
    /// it reads them (`Chunk::count_read`) and gives the counts back
    /// (`Corpus::keep_counts`), so that no sweep of the input counts them first.
    pub counted: bool,
}

impl<'a> Chunk<'a> {
    /// The records of the chunk in order. Blank lines (only whitespace) are not
    /// records.
    pub fn records(&self) -> impl Iterator<Item = Record<'a>> + 'a {
        let source = self.source;
        let data = self.data;
        let first = self.first_line;
        let text = self.format == Format::Text;
        let lens = self.texts;
        let mut pos = 0usize;
        let mut line = first;
        let mut done = false;
        let mut k = 0usize;
        std::iter::from_fn(move || {
            if text && !lens.is_empty() {
                let len = *lens.get(k)?;
                let bytes = data.get(pos..pos + len)?;
                pos += len;
                k += 1;
                return Some(Record {
                    source,
                    line: first + k as u64 - 1,
                    bytes,
                });
            }
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
                let (rec, end) = line_from(data, pos);
                let this_line = line;
                pos = end + 1;
                line += 1;
                if is_blank(rec) {
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

    /// The JSON Lines record starting at byte `start` of the chunk (where
    /// [`Chunk::records`] found it on an earlier read of the same bytes), without
    /// reading the records before it. `None` when `start` is not the start of a line
    /// holding a record, or the chunk is not JSON Lines. Its `line` is the chunk's
    /// first line: the record's own is not known here.
    pub fn record_at(&self, start: usize) -> Option<Record<'a>> {
        if self.format != Format::Jsonl || start >= self.data.len() {
            return None;
        }
        if start > 0 && self.data[start - 1] != b'\n' {
            return None;
        }
        let (rec, _) = line_from(self.data, start);
        (!is_blank(rec)).then_some(Record {
            source: self.source,
            line: self.first_line,
            bytes: rec,
        })
    }
}

/// The line of `data` starting at byte `pos`, without its `\r\n` or `\n`, and where
/// its newline is (or the end of `data`).
fn line_from(data: &[u8], pos: usize) -> (&[u8], usize) {
    let end = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i);
    let line = &data[pos..end];
    (line.strip_suffix(b"\r").unwrap_or(line), end)
}

/// A line of only whitespace: not a record.
fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| b.is_ascii_whitespace())
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
    /// Texts held in memory instead of files ([`Corpus::from_memory`]).
    memory: Option<MemoryTexts>,
    /// For each input read mapped: its chunks' newline and record counts, found on
    /// the first read, so later passes over the same bytes do not count them again.
    chunk_counts: Vec<std::sync::OnceLock<Vec<ChunkCount>>>,
    /// The thread unmapping the inputs of the last group read
    /// ([`Corpus::unmap_later`]).
    unmapping: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The map of a corpus of one input, kept from one pass to the next: mapping it
    /// again would fault every page in again (a fault maps 16 pages). It stays
    /// resident between passes too (the candidate and cluster stages), where it was
    /// unmapped before. Released by [`Corpus::release_input`], or with the corpus.
    kept: std::sync::Mutex<Option<std::sync::Arc<memmap2::Mmap>>>,
}

impl Drop for Corpus {
    /// The maps go before the spooled inputs they map are removed (where a mapped
    /// file cannot be removed, on Windows, it would stay behind otherwise).
    fn drop(&mut self) {
        drop(self.kept.lock().ok().and_then(|mut k| k.take()));
        self.wait_unmapped();
    }
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
            chunk_counts: inputs.iter().map(|_| Default::default()).collect(),
            inputs,
            files,
            _spools: spools,
            opts,
            parquet_schema,
            memory: None,
            unmapping: Default::default(),
            kept: Default::default(),
        })
    }

    /// A corpus of texts in memory: one input named `<memory>`, read as text
    /// documents in order (record `i` is text `i`), exactly as a JSON Lines file of
    /// the same texts would be.
    pub fn from_memory(texts: MemoryTexts, opts: ReadOptions) -> Corpus {
        Corpus {
            inputs: vec![InputSpec {
                name: "<memory>".into(),
                path: None,
                format: Format::Text,
                compression: Compression::None,
                bytes: texts.bytes() as u64,
                spool: false,
                parquet: false,
            }],
            files: Vec::new(),
            _spools: Vec::new(),
            opts,
            parquet_schema: None,
            memory: Some(texts),
            chunk_counts: Vec::new(),
            unmapping: Default::default(),
            kept: Default::default(),
        }
    }

    /// Whether input `i` is read mapped: every pass cuts the same bytes into the
    /// same chunks, so a record's place in its chunk found on one pass holds on the
    /// next ([`Chunk::record_at`]).
    pub fn is_mapped(&self, i: usize) -> bool {
        self.memory.is_none()
            && self.opts.mmap
            && self
                .inputs
                .get(i)
                .is_some_and(|s| s.compression == Compression::None)
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
        self.groups(false, &mut on_group)
    }

    /// [`Corpus::for_each_group`] for a reader that counts lines and records as it
    /// reads them: the chunks of an input read mapped for the first time come
    /// uncounted ([`Chunk::counted`]). The first read of a 100 MB input is then one
    /// sweep of its bytes instead of two (9 ms at `-j 2` here).
    pub fn for_each_group_counting<E>(
        &self,
        mut on_group: impl FnMut(&[Chunk<'_>]) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<InputError>,
    {
        self.groups(true, &mut on_group)
    }

    fn groups<E>(
        &self,
        defer: bool,
        on_group: &mut impl FnMut(&[Chunk<'_>]) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<InputError>,
    {
        if let Some(m) = &self.memory {
            return memory_groups(m, on_group);
        }
        // A pass maps its inputs once the last one's are gone, so that no page is
        // mapped twice (resident memory counts it twice).
        self.wait_unmapped();
        let mut pending: Vec<(usize, Data)> = Vec::new();
        let mut pending_bytes = 0usize;
        for (i, spec) in self.inputs.iter().enumerate() {
            let streamed = spec.compression != Compression::None || !self.opts.mmap;
            if streamed {
                flush_mapped(self, &mut pending, defer, on_group)?;
                pending_bytes = 0;
                self.stream_groups(i, on_group)?;
                continue;
            }
            let data = self.map_input(i)?;
            pending_bytes += data.len();
            pending.push((i, data));
            if pending_bytes >= GROUP_BYTES || pending.len() >= GROUP_FILES {
                flush_mapped(self, &mut pending, defer, on_group)?;
                pending_bytes = 0;
            }
        }
        flush_mapped(self, &mut pending, defer, on_group)
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
                let chunks = line_chunks(i, format, data, line, None, false);
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

fn flush_mapped<E>(
    corpus: &Corpus,
    pending: &mut Vec<(usize, Data)>,
    defer: bool,
    on_group: &mut impl FnMut(&[Chunk<'_>]) -> Result<(), E>,
) -> Result<(), E> {
    if pending.is_empty() {
        return Ok(());
    }
    let mut chunks = Vec::new();
    for (i, data) in pending.iter() {
        let format = corpus.inputs[*i].format;
        // A text input is always one chunk, so an empty text file is one empty document.
        chunks.extend(line_chunks(
            *i,
            format,
            strip_bom(data),
            1,
            corpus.chunk_counts.get(*i),
            defer,
        ));
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
    drop(chunks);
    corpus.unmap_later(std::mem::take(pending));
    r
}

/// The rows of a Parquet input as JSON Lines in a temporary file, and its schema.
fn parquet_spool(
    spec: &InputSpec,
    path: &Path,
    dir: Option<&Path>,
) -> Result<(tempfile::NamedTempFile, arrow_schema::SchemaRef), InputError> {
    let mut spool = crate::temporaries::create_temporary(|| match dir {
        Some(d) => tempfile::NamedTempFile::new_in(d),
        None => tempfile::NamedTempFile::new(),
    })
    .map_err(|source| InputError::Io {
        path: format!("temporary file for the rows of {}", spec.name),
        source,
    })?;
    let schema = crate::columnar::parquet_to_jsonl(path, spool.as_file_mut()).map_err(|e| {
        InputError::Io {
            path: format!("{} (reading it as Parquet)", spec.name),
            source: e,
        }
    })?;
    Ok((spool, schema))
}

/// Copy standard input or a pipe into a temporary file.
fn spool_input(
    spec: &InputSpec,
    dir: Option<&Path>,
) -> Result<tempfile::NamedTempFile, InputError> {
    let mut spool = crate::temporaries::create_temporary(|| match dir {
        Some(d) => tempfile::NamedTempFile::new_in(d),
        None => tempfile::NamedTempFile::new(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

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
            texts: &[],
            records: 2,
            counted: true,
        };
        let recs: Vec<_> = c.records().map(|r| (r.line, r.bytes.to_vec())).collect();
        assert_eq!(
            recs,
            vec![
                (10, b"{\"text\":\"a\"}".to_vec()),
                (13, b"{\"text\":\"b\"}".to_vec())
            ]
        );
        // Each record read again from where it starts, and nothing from elsewhere.
        for r in c.records() {
            let start = r.bytes.as_ptr() as usize - data.as_ptr() as usize;
            assert_eq!(c.record_at(start).map(|a| a.bytes), Some(r.bytes));
        }
        for start in [1, 14, 15, 16, data.len()] {
            assert!(c.record_at(start).is_none(), "{start}");
        }
        let text = Chunk {
            format: Format::Text,
            ..c
        };
        assert!(text.record_at(0).is_none());
    }
}
