//! `apply`: the stripped records without the dropped rows; `decompress`.

use std::collections::HashSet;
use std::io::{self, BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::boilerplate::Rules;
use crate::config::{DedupConfig, EmptyPolicy};
use crate::output;
use crate::sketch::{Buffers, Sketch};

use super::*;

#[derive(Deserialize)]
pub(super) struct RowIn {
    row: u64,
}

/// Rows listed in a file of JSON lines with a `row` field (`stage assign` output
/// gives them as members; any line with `row` works).
pub fn read_drop_list(path: &Path) -> Result<HashSet<u64>, StageError> {
    let file = std::fs::File::open(path).map_err(|e| StageError::File {
        path: path.display().to_string(),
        message: format!("cannot open: {e}"),
    })?;
    let mut rows = HashSet::new();
    for_each_line(
        io::BufReader::new(file),
        &path.display().to_string(),
        |line| {
            let r: RowIn = parse_line(line, "drop list ({\"row\": N})")?;
            rows.insert(r.row);
            Ok(())
        },
    )?;
    Ok(rows)
}

/// What `stage apply` did, for the caller's summary.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ApplyStats {
    pub read: u64,
    pub written: u64,
    pub dropped: u64,
    pub emptied: u64,
    pub emptied_dropped: u64,
    pub lines_removed: u64,
    pub bytes_removed: u64,
}

/// Strips records as `clean` writes them.
pub(super) struct Applier {
    pub cfg: DedupConfig,
    sk: Sketch,
    buf: Buffers,
}

/// What [`Applier::render`] did with a record.
pub(super) struct Rendered {
    /// Stripping emptied it (it is left out unless `--on-empty keep`).
    pub emptied: bool,
    /// It was written to the buffer.
    pub written: bool,
    pub lines_removed: u64,
    pub bytes_removed: u64,
}

impl Applier {
    pub fn new(sc: &StageConfig, rules: Option<Rules>) -> Result<Self, StageError> {
        let cfg = sc.dedup_config()?;
        Ok(Applier {
            sk: Sketch::new(&cfg).with_stripper(Some(stripper(rules))),
            buf: Buffers::default(),
            cfg,
        })
    }

    /// Append `record` (parsed as `doc`), stripped, to `out`, without a line end;
    /// nothing if stripping emptied it and emptied records are dropped.
    pub fn render(&mut self, record: &[u8], doc: &corpus::Doc<'_>, out: &mut Vec<u8>) -> Rendered {
        let (text, stripped) = self.sk.prepare(&doc.text, &mut self.buf);
        let emptied = self.sk.is_emptied(&text, &stripped);
        let r = Rendered {
            emptied,
            written: !(emptied && self.cfg.on_empty == EmptyPolicy::Drop),
            lines_removed: stripped.lines_removed,
            bytes_removed: stripped.bytes_removed(),
        };
        if r.written {
            if stripped.ranges.is_empty() {
                out.extend_from_slice(record);
            } else {
                output::splice_text(out, record, doc, &text, &self.cfg.read);
            }
        }
        r
    }
}

/// `stage apply`: each record with its boilerplate stripped, as `clean` writes it,
/// except the rows in `drop` and records stripping emptied (unless `--on-empty keep`).
pub fn apply(
    sc: &StageConfig,
    rules: Option<Rules>,
    drop: &HashSet<u64>,
    input: impl BufRead,
    name: &str,
    out: &mut impl Write,
) -> Result<ApplyStats, StageError> {
    let mut applier = Applier::new(sc, rules)?;
    let read = applier.cfg.read.clone();
    let mut stats = ApplyStats::default();
    let mut rendered = Vec::new();
    for_each_line(input, name, |line| {
        let env = Envelope::parse(line)?;
        stats.read += 1;
        if drop.contains(&env.row) {
            stats.dropped += 1;
            return Ok(());
        }
        let bytes = env.bytes()?;
        let doc = env.doc(&bytes, &read)?;
        rendered.clear();
        let r = applier.render(&bytes, &doc, &mut rendered);
        stats.lines_removed += r.lines_removed;
        stats.bytes_removed += r.bytes_removed;
        stats.emptied += r.emptied as u64;
        if !r.written {
            stats.emptied_dropped += 1;
            return Ok(());
        }
        rendered.push(b'\n');
        stats.written += 1;
        out.write_all(&rendered).map_err(StageError::Write)?;
        Ok(())
    })?;
    Ok(stats)
}

/// `stage decompress`: gzip or zstd (told by their magic bytes; anything else passes
/// through) to plain bytes, for engines that cannot read a compression themselves
/// (Hadoop reads zstd only with its native library).
pub fn decompress(input: impl BufRead, out: &mut impl Write) -> Result<u64, StageError> {
    let mut input = input;
    let read_err = |source| StageError::Read {
        name: "<stdin>".into(),
        source,
    };
    let head = input.fill_buf().map_err(read_err)?.to_vec();
    let mut reader: Box<dyn io::Read + '_> = match head.get(..4) {
        Some([0x1f, 0x8b, ..]) => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Some([0x28, 0xb5, 0x2f, 0xfd]) => {
            Box::new(zstd::stream::read::Decoder::with_buffer(input).map_err(read_err)?)
        }
        _ => Box::new(input),
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        };
        out.write_all(&buf[..n]).map_err(StageError::Write)?;
        total += n as u64;
    }
}
