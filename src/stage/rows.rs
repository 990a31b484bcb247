//! The stages over delimited rows (`--delimited`): the form in which Spark SQL's
//! `TRANSFORM … USING` pipes rows to a process and reads its output back, so that
//! records go from the engine's JVM to the binary and back without passing through
//! a Python worker.
//!
//! A row is one line: fields separated by U+0001 ([`FIELD`]), `\N` for a missing
//! value, integers in decimal (64-bit keys as signed integers, so they fit `BIGINT`),
//! signatures as hex (`unhex` turns them into `BINARY`). A record travels as its line,
//! the last field of its row, byte for byte as `clean` reads it: JSON Lines cannot
//! hold a raw U+0001 or line end, so it needs no escaping. The engine numbers records
//! itself: `row` is the input's index shifted left by [`LINE_BITS`], plus the line (or
//! Parquet row, from 1) in that input, so rows sort in `clean`'s order, and
//! `--names` (a JSON array of the inputs' names) turns a row back into `FILE:LINE`.
//!
//! Every line format is listed in docs/spark-and-stages.md.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;

use super::apply::Applier;
use super::assign::{Assigner, Member};
use super::*;

/// The field separator.
pub const FIELD: u8 = 0x01;
/// Bits of a row that hold the line within its input.
pub const LINE_BITS: u32 = 40;
const LINE_MASK: u64 = (1 << LINE_BITS) - 1;
/// A missing value.
const NULL: &[u8] = b"\\N";
/// Band keys in one packed field.
pub const PACKED: usize = 32;
/// Line keys (pairs) in one packed field: a record's keys in one row, but a row of
/// bounded length for the engine, whatever the record.
pub const LINE_KEYS_PACKED: usize = 4096;
/// The most fields a row read here has.
const MAX_FIELDS: usize = 5;

/// The inputs' names, by index, to name a row's record `FILE:LINE`.
#[derive(Default)]
pub struct Names(Vec<String>);

impl Names {
    /// Read a JSON array of names (none: records are named `row:N`).
    pub fn load(path: Option<&Path>) -> Result<Names, StageError> {
        let Some(path) = path else {
            return Ok(Names::default());
        };
        let file_err = |message: String| StageError::File {
            path: path.display().to_string(),
            message,
        };
        let data = std::fs::read(path).map_err(|e| file_err(format!("cannot read: {e}")))?;
        serde_json::from_slice(&data)
            .map(Names)
            .map_err(|e| file_err(format!("not a JSON array of input names: {e}")))
    }

    /// The name of input `index`.
    fn input(&self, index: u64) -> String {
        match self.0.get(index as usize) {
            Some(name) => name.clone(),
            None => format!("input {index}"),
        }
    }

    /// `FILE:LINE` of a row.
    pub fn at(&self, row: u64) -> String {
        match self.0.get((row >> LINE_BITS) as usize) {
            Some(name) => format!("{name}:{}", row & LINE_MASK),
            None => format!("row:{row}"),
        }
    }
}

/// Every row of the input, split into `n` fields (the last one takes the rest of the
/// line), numbered from 1 for errors.
pub(super) fn for_each_row(
    input: impl BufRead,
    name: &str,
    n: usize,
    mut f: impl FnMut(&[&[u8]]) -> Result<(), LineError>,
) -> Result<(), StageError> {
    assert!(n <= MAX_FIELDS);
    for_each_raw_line(input, name, |bytes| {
        let mut fields: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
        let mut found = 0;
        let mut rest = bytes;
        while found + 1 < n {
            let Some(i) = memchr::memchr(FIELD, rest) else {
                break;
            };
            fields[found] = &rest[..i];
            found += 1;
            rest = &rest[i + 1..];
        }
        fields[found] = rest;
        found += 1;
        if found < n {
            return Err(LineError::Here(format!(
                "{found} fields separated by U+0001; this stage reads {n}"
            )));
        }
        f(&fields[..n])
    })
}

pub(super) fn int<T: std::str::FromStr>(field: &[u8], what: &str) -> Result<T, String> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "{what} {:?} is not an integer",
                String::from_utf8_lossy(field)
            )
        })
}

/// A record of a row, parsed as `clean` parses it; errors name `FILE:LINE`.
fn parse_record<'a>(
    names: &Names,
    row: u64,
    record: &'a [u8],
    read: &ReadOptions,
) -> Result<corpus::Doc<'a>, LineError> {
    let rec = Record {
        source: 0,
        line: row,
        bytes: record,
    };
    corpus::parse(&rec, Format::Jsonl, read)
        .map_err(|e| LineError::Record(format!("{}: {e}", names.at(row))))
}

/// Output rows, written field by field.
struct Rows<'w, W: Write> {
    out: &'w mut W,
    line: Vec<u8>,
}

impl<'w, W: Write> Rows<'w, W> {
    fn new(out: &'w mut W) -> Self {
        Rows {
            out,
            line: Vec::with_capacity(1 << 10),
        }
    }

    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        if !self.line.is_empty() {
            self.line.push(FIELD);
        }
        self.line.extend_from_slice(bytes);
        self
    }

    fn int(&mut self, v: impl itoa::Integer) -> &mut Self {
        let mut b = itoa::Buffer::new();
        let s = b.format(v);
        self.field(s.as_bytes())
    }

    /// Integers as one field, separated by spaces.
    fn list(&mut self, values: impl Iterator<Item = i64>) -> &mut Self {
        let mut b = itoa::Buffer::new();
        self.field(b"");
        for (i, v) in values.enumerate() {
            if i > 0 {
                self.line.push(b' ');
            }
            self.line.extend_from_slice(b.format(v).as_bytes());
        }
        self
    }

    fn hex(&mut self, bytes: &[u8]) -> &mut Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        self.field(b"");
        for &b in bytes {
            self.line.push(DIGITS[(b >> 4) as usize]);
            self.line.push(DIGITS[(b & 15) as usize]);
        }
        self
    }

    /// A record, or `\N` and its hex when it holds a carriage return (Spark would
    /// end the row there).
    fn record(&mut self, bytes: &[u8]) -> &mut Self {
        if memchr::memchr(b'\r', bytes).is_some() {
            self.field(NULL).hex(bytes)
        } else {
            self.field(bytes)
        }
    }

    fn end(&mut self) -> Result<(), StageError> {
        self.line.push(b'\n');
        let r = self.out.write_all(&self.line).map_err(StageError::Write);
        self.line.clear();
        r
    }
}

fn slot_bytes(slots: &[Slot]) -> Vec<u8> {
    slots.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// `stage sketch --delimited`: rows `ROW, RECORD` in; out, per record, `s, ROW,
/// LEN, \N, SIG` when it has a signature, `e, ROW` when stripping emptied it (`--for
/// dedup`), and keys packed in one field of space-separated integers: `b, ROW,
/// FIRST, \N, KEYS` (up to [`PACKED`] band keys from band FIRST on; not with
/// `band_keys` false, for `stage candidates`, which computes them itself) and, with
/// `--for stories`, `k, ROW, \N, \N, KIND HASH KIND HASH…` (up to
/// [`LINE_KEYS_PACKED`] line keys: all of a record's, but for the longest pages); at
/// the end `n, \N, RECORDS, LINE_KEYS`, the records read and their line keys.
/// Packed, a record's keys are a row or a few, not one each: the engine parses rows
/// one by one, and that was most of its cost. With `learned` (keys of `stage learn`), before the last row: `x, ROW, POS,
/// KIND, HASH LINE` (hash in hex, a space, the line as a JSON string) for the first
/// three distinct lines of each key by `(row, pos)`, as `stage examples` finds them.
#[allow(clippy::too_many_arguments)]
pub fn sketch(
    sc: &StageConfig,
    purpose: Purpose,
    rules: Option<Rules>,
    learned: Option<&Path>,
    band_keys: bool,
    names: &Names,
    input: impl BufRead,
    name: &str,
    out: &mut impl Write,
) -> Result<(), StageError> {
    let mut signer = Signer::new(sc, purpose, rules)?;
    let learned = learned.map(|l| LearnedFile::load(l, sc)).transpose()?;
    let mut first = FirstExamples::default();
    let read = signer.cfg.read.clone();
    let mut rows = Rows::new(out);
    let (mut records, mut line_keys) = (0u64, 0u64);
    for_each_row(input, name, 2, |f| {
        let row: u64 = int(f[0], "row")?;
        let doc = parse_record(names, row, f[1], &read)?;
        if let Some(l) = &learned {
            first.add(row, l.find_examples(&doc.text));
        }
        let s = signer.sign(&doc.text);
        records += 1;
        if s.emptied {
            rows.field(b"e").int(row).end()?;
        }
        if s.ok {
            if band_keys {
                let keys: Vec<u64> = signer.band_keys().collect();
                for (i, chunk) in keys.chunks(PACKED).enumerate() {
                    rows.field(b"b").int(row).int(i * PACKED).field(NULL);
                    rows.list(chunk.iter().map(|&key| key as i64)).end()?;
                }
            }
            let sig = slot_bytes(&signer.slots);
            rows.field(b"s")
                .int(row)
                .int(s.len)
                .field(NULL)
                .hex(&sig)
                .end()?;
        }
        line_keys += signer.line_keys().len() as u64;
        for chunk in signer.line_keys().chunks(LINE_KEYS_PACKED) {
            rows.field(b"k").int(row).field(NULL).field(NULL);
            let pairs = chunk
                .iter()
                .flat_map(|&(kind, hash)| [kind as i64, hash as i64]);
            rows.list(pairs).end()?;
        }
        Ok(())
    })?;
    first.each(|kind, hash, row, pos, line| {
        rows.field(b"x").int(row).int(pos).int(kind);
        let mut hash_line = hex64(hash).into_bytes();
        hash_line.push(b' ');
        hash_line.extend_from_slice(line);
        rows.field(&hash_line).end()
    })?;
    rows.field(b"n")
        .field(NULL)
        .int(records)
        .int(line_keys)
        .end()
}

fn slots_of(field: &[u8], k: usize) -> Result<Vec<Slot>, String> {
    slots_of_hex(std::str::from_utf8(field).unwrap_or(""), k)
}

/// `stage confirm --delimited`: rows `SET, ROW, LEN, SIG` in, sorted by set (the
/// rows of a bucket together); out `A, B` per confirmed edge.
pub fn confirm(
    sc: &StageConfig,
    purpose: Purpose,
    input: impl BufRead,
    name: &str,
    out: &mut impl Write,
) -> Result<(), StageError> {
    let confirmer = Confirmer::new(sc, purpose)?;
    let k = confirmer.cfg.num_perm;
    let mut rows = Rows::new(out);
    let mut set: Option<Vec<u8>> = None;
    let mut members: Vec<(u64, u64, Vec<Slot>)> = Vec::new();
    let flush = |members: &mut Vec<(u64, u64, Vec<Slot>)>,
                 rows: &mut Rows<'_, _>|
     -> Result<(), StageError> {
        confirmer.edges(members, |a, b, _| rows.int(a).int(b).end())?;
        members.clear();
        Ok(())
    };
    for_each_row(input, name, 4, |f| {
        if set.as_deref() != Some(f[0]) {
            flush(&mut members, &mut rows)?;
            set = Some(f[0].to_vec());
        }
        members.push((int(f[1], "row")?, int(f[2], "length")?, slots_of(f[3], k)?));
        Ok(())
    })?;
    flush(&mut members, &mut rows)
}

/// Where a line was met: its record's row and its place among the record's examples.
type Place = (u64, u32);

/// The first examples of each key in a partition, enough for the first
/// [`EXAMPLES_PER_KEY`] distinct lines of the whole corpus to be among them.
const EXAMPLES_PER_KEY: usize = 3;

/// Per learned key, up to [`EXAMPLES_PER_KEY`] distinct lines with the first place
/// each was met: what a partition tells about the first examples of the corpus.
#[derive(Default)]
struct FirstExamples(HashMap<(u8, u64), Vec<(Place, String)>>);

impl FirstExamples {
    /// The examples found in the record at `row`, in their order in it.
    fn add(&mut self, row: u64, found: Vec<((u8, u64), String)>) {
        for (pos, (key, text)) in found.into_iter().enumerate() {
            let at = (row, pos as u32);
            let kept = self.0.entry(key).or_default();
            match kept.iter_mut().find(|(_, l)| *l == text) {
                Some(seen) => seen.0 = seen.0.min(at),
                None => kept.push((at, text)),
            }
            kept.sort_unstable();
            kept.truncate(EXAMPLES_PER_KEY);
        }
    }

    /// Every kept line, by key, then place: `(kind, hash, row, pos, line as a JSON
    /// string)`.
    fn each(
        self,
        mut f: impl FnMut(u8, u64, u64, u32, &[u8]) -> Result<(), StageError>,
    ) -> Result<(), StageError> {
        let mut keys: Vec<_> = self.0.into_iter().collect();
        keys.sort_unstable();
        for ((kind, hash), kept) in keys {
            for ((row, pos), line) in kept {
                let json = serde_json::to_string(&line)
                    .map_err(|e| StageError::Write(io::Error::other(e)))?;
                f(kind, hash, row, pos, json.as_bytes())?;
            }
        }
        Ok(())
    }
}

/// `stage examples --delimited`: rows `ROW, RECORD` in; out, once the input ends,
/// `KIND, HASH, ROW, POS, LINE` (hash in hex, the line as a JSON string) for the
/// first three distinct lines of each learned key by `(row, pos)`.
pub fn examples(
    sc: &StageConfig,
    learned: &Path,
    names: &Names,
    input: impl BufRead,
    name: &str,
    out: &mut impl Write,
) -> Result<(), StageError> {
    let cfg = sc.dedup_config()?;
    let learned = LearnedFile::load(learned, sc)?;
    let mut first = FirstExamples::default();
    for_each_row(input, name, 2, |f| {
        let row: u64 = int(f[0], "row")?;
        let doc = parse_record(names, row, f[1], &cfg.read)?;
        first.add(row, learned.find_examples(&doc.text));
        Ok(())
    })?;
    let mut rows = Rows::new(out);
    first.each(|kind, hash, row, pos, line| {
        rows.int(kind)
            .field(hex64(hash).as_bytes())
            .int(row)
            .int(pos)
            .field(line)
            .end()
    })
}

/// `stage assign --delimited`: rows `COMPONENT, ROW, LEN, SIG, RECORD` in, sorted by
/// component (a component's rows together); out, per cluster, `c, KEEP, BODY` (BODY:
/// the cluster's line as `clean --clusters` writes it, without its braces and
/// `"cluster"` number) and `d, ROW` per duplicate.
pub fn assign(
    sc: &StageConfig,
    rules: Option<Rules>,
    names: &Names,
    input: impl BufRead,
    name: &str,
    out: &mut impl Write,
) -> Result<(), StageError> {
    let assigner = Assigner::new(sc, rules)?;
    let k = assigner.cfg.num_perm;
    let read = assigner.cfg.read.clone();
    let mut rows = Rows::new(out);
    let mut comp: Option<Vec<u8>> = None;
    let mut members: Vec<Member> = Vec::new();
    let mut records: Vec<Vec<u8>> = Vec::new();
    let flush = |members: &mut Vec<Member>,
                 records: &mut Vec<Vec<u8>>,
                 rows: &mut Rows<'_, _>|
     -> Result<(), LineError> {
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.sort_by_key(|&i| members[i].row);
        order.dedup_by_key(|i| members[*i].row);
        let sorted: Vec<Member> = order
            .iter()
            .map(|&i| Member {
                row: members[i].row,
                len: members[i].len,
                sig: std::mem::take(&mut members[i].sig),
            })
            .collect();
        let docs = order
            .iter()
            .map(|&i| parse_record(names, members[i].row, &records[i], &read))
            .collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<String> = docs
            .iter()
            .zip(&sorted)
            .map(|(d, m)| {
                d.id.as_deref()
                    .map_or_else(|| names.at(m.row), str::to_string)
            })
            .collect();
        let clusters = assigner.clusters(&sorted, |i| Ok(docs[i].text.to_string()))?;
        for (keep, cm) in clusters {
            let list: Vec<serde_json::Value> = cm
                .iter()
                .map(|&(i, s)| serde_json::json!({"id": ids[i], "similarity": s}))
                .collect();
            let body = serde_json::json!({"keep": ids[keep], "members": list}).to_string();
            let body = &body[1..body.len() - 1];
            rows.field(b"c")
                .int(sorted[keep].row)
                .field(body.as_bytes())
                .end()?;
            for &(i, _) in cm.iter().filter(|&&(i, _)| i != keep) {
                rows.field(b"d").int(sorted[i].row).end()?;
            }
        }
        members.clear();
        records.clear();
        Ok(())
    };
    for_each_row(input, name, 5, |f| {
        if comp.as_deref() != Some(f[0]) {
            flush(&mut members, &mut records, &mut rows)?;
            comp = Some(f[0].to_vec());
        }
        members.push(Member {
            row: int(f[1], "row")?,
            len: int(f[2], "length")?,
            sig: slots_of(f[3], k)?,
        });
        records.push(f[4].to_vec());
        Ok(())
    })?;
    // The last component: its errors can only be its records' or the output's.
    flush(&mut members, &mut records, &mut rows).map_err(|e| match e {
        LineError::Here(m) | LineError::Record(m) => StageError::Record(m),
        LineError::Fatal(e) => e,
    })
}

/// `stage apply --delimited`: rows `ROW, RECORD` in (duplicates already left out, in
/// the order to write); out, per record `clean` writes, the record stripped, or `\N`
/// and the record in hex when it holds a carriage return.
pub fn apply(
    sc: &StageConfig,
    rules: Option<Rules>,
    names: &Names,
    input: impl BufRead,
    name: &str,
    out: &mut impl Write,
) -> Result<(), StageError> {
    let mut applier = Applier::new(sc, rules)?;
    let read = applier.cfg.read.clone();
    let mut rows = Rows::new(out);
    let mut rendered = Vec::new();
    for_each_row(input, name, 2, |f| {
        let row: u64 = int(f[0], "row")?;
        let doc = parse_record(names, row, f[1], &read)?;
        rendered.clear();
        if applier.render(f[1], &doc, &mut rendered).written {
            rows.record(&rendered).end()?;
        }
        Ok(())
    })
}

/// `stage decompress --delimited`: rows `INPUT, HEX` in (an input's index and its
/// whole file in hex); out `ROW, RECORD` per line that is not blank (or `ROW, \N,
/// HEX`, see [`apply`]), as `clean` reads the file: gzip or zstd told by magic bytes,
/// a byte order mark dropped, `\r\n` line ends.
pub fn decompress_rows(
    names: &Names,
    input: impl BufRead,
    name: &str,
    out: &mut impl Write,
) -> Result<(), StageError> {
    let mut rows = Rows::new(out);
    for_each_row(input, name, 2, |f| {
        let file: u64 = int(f[0], "input")?;
        let packed = unhex(f[1]).ok_or_else(|| "the file is not in hex".to_string())?;
        let mut plain = Vec::new();
        decompress(&packed[..], &mut plain)
            .map_err(|e| LineError::Record(format!("{}: {e}", names.input(file))))?;
        let body = plain.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&plain);
        for (i, line) in body.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(|b| b" \t\n\r\x0c".contains(b)) {
                continue;
            }
            let row = (file << LINE_BITS) | (i as u64 + 1);
            if let Err(e) = std::str::from_utf8(line) {
                return Err(LineError::Record(format!(
                    "{}: invalid UTF-8 at byte {}",
                    names.at(row),
                    e.valid_up_to()
                )));
            }
            rows.int(row).record(line).end()?;
        }
        Ok(())
    })
}

fn unhex(hex: &[u8]) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    hex.chunks_exact(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn rows_split_into_fields_and_records_keep_their_bytes() {
        let input = b"7\x01{\"text\": \"a\\tb\"}\x01x\n8\n";
        let mut seen = Vec::new();
        let r = for_each_row(&input[..], "<stdin>", 2, |f| {
            seen.push((f[0].to_vec(), f[1].to_vec()));
            Ok(())
        });
        assert_eq!(
            seen,
            vec![(b"7".to_vec(), b"{\"text\": \"a\\tb\"}\x01x".to_vec())]
        );
        let e = r.unwrap_err().to_string();
        assert!(e.starts_with("<stdin>:2: 1 fields"), "{e}");
    }

    #[test]
    fn names_turn_rows_into_file_and_line() {
        let names = Names(vec!["a.jsonl".into(), "b.jsonl".into()]);
        assert_eq!(names.at((1 << LINE_BITS) | 12), "b.jsonl:12");
        assert_eq!(names.at(5 << LINE_BITS), "row:5497558138880");
        assert_eq!(unhex(b"00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(unhex(b"0g"), None);
    }

    #[test]
    fn line_keys_come_in_one_row_up_to_the_packing_limit() {
        let cfg = crate::config::DedupOptions::default().validate().unwrap();
        let sc = StageConfig::new(&cfg, crate::boilerplate::LearnOptions::default());
        let names = Names(vec!["a.jsonl".into()]);
        // A short page, and one with more distinct lines than one row packs.
        let page = |lines: usize| -> String {
            let text: Vec<String> = (0..lines)
                .map(|i| format!("line number {i} of it"))
                .collect();
            serde_json::json!({ "text": text.join("\n") }).to_string()
        };
        let input = format!("1\x01{}\n2\x01{}\n", page(40), page(LINE_KEYS_PACKED + 10));
        let mut out = Vec::new();
        sketch(
            &sc,
            Purpose::Stories,
            None,
            None,
            false,
            &names,
            input.as_bytes(),
            "in",
            &mut out,
        )
        .unwrap();
        let (mut rows_of, mut keys_of) = (HashMap::new(), HashMap::new());
        for line in String::from_utf8(out).unwrap().lines() {
            let f: Vec<&str> = line.split('\x01').collect();
            if f[0] == "k" {
                let pairs = f[4].split(' ').count() / 2;
                assert!(
                    (1..=LINE_KEYS_PACKED).contains(&pairs),
                    "{pairs} pairs in a row"
                );
                *rows_of.entry(f[1].to_string()).or_insert(0) += 1;
                *keys_of.entry(f[1].to_string()).or_insert(0) += pairs;
            }
        }
        assert_eq!(rows_of["1"], 1);
        assert!(keys_of["1"] >= 40, "{keys_of:?}");
        assert!(
            rows_of["2"] >= 2 && keys_of["2"] > LINE_KEYS_PACKED,
            "{rows_of:?} {keys_of:?}"
        );
    }

    #[test]
    fn records_with_a_carriage_return_travel_in_hex() {
        let mut out = Vec::new();
        let mut rows = Rows::new(&mut out);
        rows.record(b"{\"a\":1}").end().unwrap();
        rows.record(b"{\"a\":\r1}").end().unwrap();
        assert_eq!(out, b"{\"a\":1}\n\\N\x017b2261223a0d317d\n");
    }
}
