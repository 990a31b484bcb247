//! Records: how are the kept records, clusters, rejects and rules written?

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{Sink, Synced, inject_field, write_atomic, write_synced, written_in_place};
use crate::boilerplate::Rules;
use crate::cluster::{Clustering, Clusters, Role, Roles};
use crate::config::{DedupConfig, EmptyPolicy, Mode, OutputPaths};
use crate::corpus::{self, Chunk, Corpus, Format, InputError, Record};
use crate::error::{RunError, write_err};
use crate::lsh::DocId;
use crate::sketch::{Buffers, DocTable, Reject, Sketch, chunk_bases};

/// Text of a record of a text input as a JSON object with `id` and `text`.
fn text_record_json(id: &str, text: &str) -> String {
    let mut m = serde_json::Map::new();
    m.insert("id".into(), id.into());
    m.insert("text".into(), text.into());
    serde_json::Value::Object(m).to_string()
}

fn annotation(role: Role, table: &DocTable, boilerplate: Option<&[(usize, usize)]>) -> String {
    let mut v = match role {
        Role::Unique | Role::Rejected => serde_json::json!({
            "cluster": null, "duplicate_of": null, "similarity": null
        }),
        Role::Emptied => serde_json::json!({
            "cluster": null, "duplicate_of": null, "similarity": null, "emptied": true
        }),
        Role::Keep { cluster } => serde_json::json!({
            "cluster": cluster, "duplicate_of": null, "similarity": null
        }),
        Role::Duplicate {
            cluster,
            of,
            similarity,
        } => serde_json::json!({
            "cluster": cluster, "duplicate_of": table.id(of), "similarity": similarity
        }),
    };
    if let (Some(ranges), Some(o)) = (boilerplate, v.as_object_mut()) {
        let ranges: Vec<[usize; 2]> = ranges.iter().map(|&(a, b)| [a, b]).collect();
        o.insert("boilerplate".into(), serde_json::json!(ranges));
    }
    v.to_string()
}

/// What the write stage produced.
#[derive(Default)]
pub struct Written {
    pub records: u64,
    pub text_bytes: u64,
    pub bytes: u64,
    pub records_per_input: Vec<u64>,
}

/// What a chunk contributes to the output when records are written unchanged.
#[derive(Default)]
struct ChunkPlan {
    pieces: Vec<Piece>,
    written: u64,
    text_bytes: u64,
    seen: u64,
}

enum Piece {
    /// Bytes of the chunk: kept records and the newlines between them.
    Input(std::ops::Range<usize>),
    /// A newline the input lacks (a last line without one, or `\r\n`).
    Newline,
}

/// Plan a chunk of JSON Lines in drop mode: the same bytes [`render_chunk`] gives,
/// as ranges of the input.
fn plan_chunk(table: &DocTable, roles: &Roles, chunk: &Chunk<'_>, base: u64) -> ChunkPlan {
    let mut plan = ChunkPlan::default();
    let data = chunk.data;
    // The open range of consecutive kept records, newline included once known.
    let mut open: Option<std::ops::Range<usize>> = None;
    for (i, rec) in chunk.records().enumerate() {
        plan.seen += 1;
        let d = base as usize + i;
        let Some(role) = roles.get(d) else { break };
        if !matches!(role, Role::Unique | Role::Keep { .. }) {
            continue;
        }
        plan.written += 1;
        plan.text_bytes += table.text_bytes[d];
        let start = rec.bytes.as_ptr() as usize - data.as_ptr() as usize;
        let end = start + rec.bytes.len();
        match &mut open {
            Some(r) if r.end == start => r.end = end,
            _ => {
                if let Some(r) = open.take() {
                    plan.pieces.push(Piece::Input(r));
                }
                open = Some(start..end);
            }
        }
        // The record's own newline extends the run; any other terminator is
        // replaced by a newline of ours.
        if data.get(end) == Some(&b'\n') {
            if let Some(r) = &mut open {
                r.end = end + 1;
            }
        } else {
            if let Some(r) = open.take() {
                plan.pieces.push(Piece::Input(r));
            }
            plan.pieces.push(Piece::Newline);
        }
    }
    if let Some(r) = open {
        plan.pieces.push(Piece::Input(r));
    }
    plan
}

fn render_chunk(
    corpus: &Corpus,
    cfg: &DedupConfig,
    sk: &Sketch,
    table: &DocTable,
    roles: &Roles,
    chunk: &Chunk<'_>,
    base: u64,
) -> Rendered {
    let mut out = Vec::with_capacity(chunk.data.len());
    let (mut written, mut text_bytes, mut seen) = (0u64, 0u64, 0u64);
    let format = corpus.inputs()[chunk.source].format;
    let mut buf = Buffers::default();
    for (i, rec) in chunk.records().enumerate() {
        seen += 1;
        let d = base as usize + i;
        let Some(role) = roles.get(d) else { break };
        let keep = match role {
            Role::Rejected => false,
            Role::Duplicate { .. } => cfg.mode == Mode::Annotate,
            Role::Emptied => cfg.mode == Mode::Annotate || cfg.on_empty == EmptyPolicy::Keep,
            Role::Unique | Role::Keep { .. } => true,
        };
        if !keep {
            continue;
        }
        written += 1;
        text_bytes += table.text_bytes[d];
        write_record(
            &mut out, corpus, cfg, sk, table, role, &rec, d as DocId, format, &mut buf,
        );
        out.push(b'\n');
    }
    (out, written, text_bytes, seen)
}

/// Write one record: unchanged, with its text stripped (`clean`, `strip`), or
/// annotated.
#[allow(clippy::too_many_arguments)]
fn write_record(
    out: &mut Vec<u8>,
    corpus: &Corpus,
    cfg: &DedupConfig,
    sk: &Sketch,
    table: &DocTable,
    role: Role,
    rec: &Record<'_>,
    d: DocId,
    format: Format,
    buf: &mut Buffers,
) {
    let needs_text = format == Format::Text || sk.stripper.is_some();
    let doc = if needs_text {
        corpus::parse(rec, format, corpus.options()).ok()
    } else {
        None
    };
    // What the sketch pass stripped is cut out again, not found again.
    let (stripped_text, ranges) = match (&doc, &sk.stripper) {
        (Some(doc), Some(_)) => {
            let st = match table.stripped(d) {
                Some(st) => st,
                None => sk.prepare(&doc.text, buf).1,
            };
            (Some(st.apply(&doc.text).into_owned()), st.ranges)
        }
        _ => (None, Vec::new()),
    };
    let id = table.id(d);
    if cfg.mode == Mode::Annotate {
        let note = annotation(role, table, sk.stripper.is_some().then_some(&ranges[..]));
        let base: Cow<'_, [u8]> = match (format, &doc) {
            (Format::Text, Some(doc)) => Cow::Owned(text_record_json(id, &doc.text).into_bytes()),
            _ => Cow::Borrowed(rec.bytes),
        };
        if inject_field(&base, "dupstrip", &note, out).is_none() {
            out.extend_from_slice(&base);
        }
        return;
    }
    match (format, &doc, stripped_text) {
        (Format::Text, Some(doc), stripped) => {
            let text = stripped.unwrap_or_else(|| doc.text.to_string());
            out.extend_from_slice(text_record_json(id, &text).as_bytes());
        }
        (Format::Jsonl, Some(doc), Some(text)) if !ranges.is_empty() => {
            splice_text(out, rec.bytes, doc, &text, corpus.options());
        }
        _ => out.extend_from_slice(rec.bytes),
    }
}

/// Write a JSON Lines record with its text field replaced by `text`, every other byte
/// as it was.
pub fn splice_text(
    out: &mut Vec<u8>,
    record: &[u8],
    doc: &corpus::Doc<'_>,
    text: &str,
    opts: &corpus::ReadOptions,
) {
    match &doc.text_span {
        Some(span) => {
            out.extend_from_slice(&record[..span.start]);
            // Encoded straight into the output; writing a string to a vector cannot
            // fail.
            let _ = serde_json::to_writer(&mut *out, text);
            out.extend_from_slice(&record[span.end..]);
        }
        None => {
            // Serializing a string cannot fail.
            let encoded = serde_json::to_string(text).unwrap_or_default();
            // Only records with lone surrogates lack a span: splice into the
            // repaired record (its lone surrogates become \ufffd).
            let repaired = corpus::repair_surrogates(record);
            let spliced = repaired.as_deref().and_then(|fixed| {
                let span = corpus::text_span(fixed, opts)?;
                let mut v = fixed[..span.start].to_vec();
                v.extend_from_slice(encoded.as_bytes());
                v.extend_from_slice(&fixed[span.end..]);
                Some(v)
            });
            out.extend_from_slice(spliced.as_deref().unwrap_or(record));
        }
    }
}

/// Chunks rendered per thread before they are written.
const RENDER_CHUNKS_PER_THREAD: usize = 4;

fn write_records(
    corpus: &Corpus,
    cfg: &DedupConfig,
    sk: &Sketch,
    table: &DocTable,
    roles: &Roles,
    sink: &mut Sink,
    dest: &Path,
) -> Result<Written, RunError> {
    let mut w = Written {
        records_per_input: vec![0; corpus.inputs().len()],
        ..Default::default()
    };
    let mut next = 0u64;
    // Records written unchanged (drop mode, no stripping, JSON Lines) are not
    // copied: each chunk is planned as byte ranges of the input, and runs of kept
    // records go to the output as they lie in the input.
    // Without a stripper no document is `Emptied`, so kept means Unique or Keep.
    let as_is = cfg.mode == Mode::Drop && sk.stripper.is_none();
    debug_assert!(!as_is || table.emptied.not_any());
    corpus.for_each_group(|chunks| -> Result<(), RunError> {
        let bases = chunk_bases(chunks, next);
        next = bases[bases.len() - 1];
        if as_is && chunks.iter().all(|c| c.format == Format::Jsonl) {
            return overlapped(
                chunks,
                &bases,
                |c, base| plan_chunk(table, roles, c, base),
                |c, plan| write_planned(c, plan, sink, &mut w, dest),
            );
        }
        overlapped(
            chunks,
            &bases,
            |c, base| render_chunk(corpus, cfg, sk, table, roles, c, base),
            |c, (bytes, n, tb, seen)| {
                sink.write_all(&bytes).map_err(write_err(dest))?;
                w.records += n;
                w.text_bytes += tb;
                w.bytes += bytes.len() as u64;
                w.records_per_input[c.source] += seen;
                Ok(())
            },
        )
    })?;
    for (i, (&before, &after)) in table
        .records_per_input
        .iter()
        .zip(&w.records_per_input)
        .enumerate()
    {
        if before != after {
            return Err(InputError::Changed {
                path: corpus.inputs()[i].name.clone(),
                before,
                after,
            }
            .into());
        }
    }
    Ok(w)
}

/// A rendered chunk: its bytes, the records written, their text bytes, and the
/// records read.
type Rendered = (Vec<u8>, u64, u64, u64);

/// Each chunk's output made by `make` (from the chunk and the number of its first
/// document) and handed to `write` in order. Outputs are made a few chunks per thread
/// at a time, so what waits to be written stays small whatever the size of a group,
/// and each batch is written while the next one is made.
fn overlapped<'c, T: Send>(
    chunks: &'c [Chunk<'c>],
    bases: &[u64],
    make: impl Fn(&Chunk<'c>, u64) -> T + Sync,
    mut write: impl FnMut(&Chunk<'c>, T) -> Result<(), RunError> + Send,
) -> Result<(), RunError> {
    let mut write_batch = |batch: Option<(&'c [Chunk<'c>], Vec<T>)>| -> Result<(), RunError> {
        for (c, out) in batch.into_iter().flat_map(|(cs, outs)| cs.iter().zip(outs)) {
            write(c, out)?;
        }
        Ok(())
    };
    let size = RENDER_CHUNKS_PER_THREAD * rayon::current_num_threads();
    let mut pending = None;
    for (cs, bs) in chunks.chunks(size).zip(bases.chunks(size)) {
        let (written, outs) = rayon::join(
            || write_batch(pending.take()),
            || -> Vec<T> {
                (cs.par_iter().zip(bs))
                    .map(|(c, &base)| make(c, base))
                    .collect()
            },
        );
        written?;
        pending = Some((cs, outs));
    }
    write_batch(pending)
}

/// Write a planned chunk, counting it into `w`.
fn write_planned(
    c: &Chunk<'_>,
    plan: ChunkPlan,
    sink: &mut Sink,
    w: &mut Written,
    dest: &Path,
) -> Result<(), RunError> {
    let mut slices: Vec<io::IoSlice<'_>> = (plan.pieces.iter())
        .map(|piece| {
            io::IoSlice::new(match piece {
                Piece::Input(r) => &c.data[r.clone()],
                Piece::Newline => b"\n",
            })
        })
        .collect();
    w.bytes += slices.iter().map(|s| s.len() as u64).sum::<u64>();
    sink.write_slices(&mut slices).map_err(write_err(dest))?;
    w.records += plan.written;
    w.text_bytes += plan.text_bytes;
    w.records_per_input[c.source] += plan.seen;
    Ok(())
}

fn write_clusters(path: &Path, table: &DocTable, clusters: &Clusters) -> Result<Synced, RunError> {
    write_synced(path, |w| {
        for (n, c) in clusters.iter().enumerate() {
            let mut members: Vec<(DocId, f64)> = vec![(c.keep, 1.0)];
            members.extend(c.duplicates.iter().map(|d| (d.doc, d.similarity)));
            members.sort_unstable_by_key(|m| m.0);
            let members: Vec<serde_json::Value> = members
                .iter()
                .map(|&(d, s)| serde_json::json!({"id": table.id(d), "similarity": s}))
                .collect();
            let line = serde_json::json!({
                "cluster": n, "keep": table.id(c.keep), "members": members
            });
            writeln!(w, "{line}")?;
        }
        Ok(())
    })
    .map_err(write_err(path))
}

fn write_rejects(path: &Path, rejects: &[Reject]) -> Result<Synced, RunError> {
    write_synced(path, |w| {
        for r in rejects {
            let line = serde_json::to_string(r).map_err(io::Error::other)?;
            writeln!(w, "{line}")?;
        }
        Ok(())
    })
    .map_err(write_err(path))
}

/// Check output paths before any work: none names an input or another output, at
/// most one is standard output, and each one's directory exists.
pub fn check_outputs(corpus: &Corpus, paths: &OutputPaths) -> Result<(), RunError> {
    let all: Vec<&PathBuf> = std::iter::once(&paths.output)
        .chain(&paths.clusters)
        .chain(&paths.report)
        .chain(&paths.rejects)
        .chain(&paths.rules)
        .chain(&paths.html)
        .collect();
    if all.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return Err(RunError::Outputs(
            "only one of -o, --clusters, --report, --rejects, --save-rules, --html can be - (standard output)".into(),
        ));
    }
    let outs: Vec<&PathBuf> = all.into_iter().filter(|p| p.as_os_str() != "-").collect();
    for (i, a) in outs.iter().enumerate() {
        // Two outputs may both go to a device such as /dev/null (written in place).
        if outs[i + 1..].contains(a) && !is_char_device(a) {
            return Err(RunError::Outputs(format!(
                "{} is named as two different outputs",
                a.display()
            )));
        }
        let dir = match a.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(RunError::Write {
                path: a.display().to_string(),
                source: io::Error::new(io::ErrorKind::NotFound, "its directory does not exist"),
            });
        }
    }
    for spec in corpus.inputs() {
        let Some(input) = spec.path.as_ref().and_then(|p| p.canonicalize().ok()) else {
            continue;
        };
        for out in &outs {
            if out.canonicalize().ok().as_ref() == Some(&input) {
                return Err(RunError::OutputIsInput(out.display().to_string()));
            }
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_char_device(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_char_device())
}

#[cfg(not(unix))]
fn is_char_device(_: &Path) -> bool {
    false
}

/// Write a rules file atomically.
pub fn write_rules(path: &Path, rules: &Rules) -> Result<(), RunError> {
    write_atomic(path, |w| {
        w.write_all(rules.to_json().as_bytes())?;
        w.write_all(b"\n")
    })
    .map_err(write_err(path))
}
/// A reader that closes standard output early (`| head`) is not an error, except for a
/// run with a state: its documents were not all delivered, so the state is left as it
/// was and the run fails.
fn closed_with_state(e: RunError, with_state: bool) -> RunError {
    if with_state && e.is_broken_pipe() {
        return RunError::Outputs(
            "standard output was closed before the run finished: the state was not updated".into(),
        );
    }
    e
}

/// Write the records, and beside them the clusters and rejects files, then put them
/// in place: the side files once the output is complete and synced, the output last.
/// A run that fails writing or syncing any of them leaves the earlier files as they
/// were.
pub fn write_outputs(
    corpus: &Corpus,
    cfg: &DedupConfig,
    sk: &Sketch,
    table: &DocTable,
    clustering: &Clustering,
    paths: &OutputPaths,
    with_state: bool,
) -> Result<Written, RunError> {
    let mut sink = Sink::create_with_schema(&paths.output, corpus.parquet_schema().cloned())
        .map_err(write_err(&paths.output))?;
    // The side files are made and synced by a thread of their own while the records
    // are written (a thread the writing leaves mostly idle), when each goes to a
    // temporary. One written in place (standard output, a pipe, a device) is written
    // after the records, as before: nothing may reach a reader before the records
    // were all written, nor mix with them on one stream.
    let sides = [&paths.clusters, &paths.rejects];
    let beside = sides.iter().any(|p| p.is_some())
        && (sides.iter().flat_map(|p| p.as_ref())).all(|p| !written_in_place(p));
    let (written, side) = std::thread::scope(|s| {
        // A thread that cannot be started leaves the side files to be written after.
        let side = beside.then(|| {
            std::thread::Builder::new()
                .name("dupstrip-side".into())
                .spawn_scoped(s, || write_side_files(table, clustering, paths))
                .ok()
        });
        let side = side.flatten();
        let written = write_records(
            corpus,
            cfg,
            sk,
            table,
            &clustering.roles,
            &mut sink,
            &paths.output,
        );
        let side = side.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (written, side)
    });
    let written = written.map_err(|e| closed_with_state(e, with_state))?;
    // The input is unmapped while the output is synced and put in place, unless the
    // HTML report reads it again after this (it lets it go then).
    if paths.html.is_none() {
        corpus.release_input();
    }
    let side = match side {
        Some(side) => side?,
        None => write_side_files(table, clustering, paths)?,
    };
    // The output is complete and synced (flushed, compressed, converted to Parquet)
    // before anything is renamed: a run that fails before the renames leaves the
    // earlier output, clusters and rejects files as they were.
    let output = (sink.sync())
        .map_err(write_err(&paths.output))
        .map_err(|e| closed_with_state(e, with_state))?;
    for (synced, path) in side {
        synced.put_in_place().map_err(write_err(path))?;
    }
    output.put_in_place().map_err(write_err(&paths.output))?;
    Ok(written)
}

/// The clusters and rejects files asked for, written and synced, each with its path,
/// to be put in place once the records are written.
fn write_side_files<'p>(
    table: &DocTable,
    clustering: &Clustering,
    paths: &'p OutputPaths,
) -> Result<Vec<(Synced, &'p Path)>, RunError> {
    let mut side = Vec::new();
    if let Some(p) = &paths.clusters {
        side.push((write_clusters(p, table, &clustering.clusters)?, p.as_path()));
    }
    if let Some(p) = &paths.rejects {
        side.push((write_rejects(p, &table.rejects)?, p.as_path()));
    }
    Ok(side)
}
