//! `stories`: the story count of every line key, from the story sketch, in one
//! process. An engine can count them itself (the story candidates and components
//! found, then every page's line keys shuffled to count pages per key and those of
//! pages in stories of several shuffled again with their story); when the sketch
//! fits one task's memory, one pass here replaces all of it: the stories found as
//! `stage candidates` and `stage components` find them, and each key's stories
//! counted as `clean` counts them.

use std::collections::HashMap;
use std::io::{BufRead, Write};

use crate::boilerplate::{self, pack_key};
use crate::cluster::UnionFind;

use super::candidates::confirmed_edges;
use super::*;

/// What `stage stories` read and found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoryRun {
    /// Records of the corpus: the sketch's own count (its `n` rows, or its lines).
    pub documents: u64,
    /// Stories: records less the copies grouped with another.
    pub stories: u64,
    /// Records in stories of two or more.
    pub grouped: u64,
    /// Confirmed story edges.
    pub edges: u64,
    /// Line keys read (one per key of a record).
    pub line_keys: u64,
    /// Keys written: those at or over their floor.
    pub keys: u64,
}

/// A story sketch line as this stage reads it.
#[derive(Deserialize)]
struct StorySketchIn<'a> {
    row: u64,
    len: u64,
    #[serde(borrow)]
    sig: Option<Cow<'a, str>>,
    /// `[kind, hash in hex]`.
    #[serde(borrow, default)]
    keys: Vec<(u8, &'a str)>,
}

/// A key's story count, as `stage learn` reads it.
#[derive(Serialize)]
struct CountOut {
    kind: u8,
    hash: String,
    stories: u64,
}

/// What is held of the sketch: every record's signature, and its line keys packed
/// with the record's place in `rows` ([`pack_key`]).
struct Held {
    k: usize,
    slots: Vec<Slot>,
    docs: Vec<(u64, u64)>,
    /// Records by row, numbered as first met; whether each has its signature.
    place: HashMap<u64, DocId>,
    rows: Vec<u64>,
    signed: Vec<bool>,
    keys: Vec<u128>,
    /// Records counted by the sketch itself (`n` rows).
    counted: Option<u64>,
}

impl Held {
    /// The story sketch, as lines or delimited rows.
    fn read(
        k: usize,
        delimited: bool,
        input: impl BufRead,
        name: &str,
    ) -> Result<Held, StageError> {
        let mut held = Held {
            k,
            slots: Vec::new(),
            docs: Vec::new(),
            place: HashMap::new(),
            rows: Vec::new(),
            signed: Vec::new(),
            keys: Vec::new(),
            counted: None,
        };
        if delimited {
            // `n` rows have three or four fields (five through Spark), the others five.
            rows::for_each_row(input, name, 3, |f| {
                let rest = f[2].splitn(3, |&b| b == rows::FIELD);
                let all: Vec<&[u8]> = f[..2].iter().copied().chain(rest).collect();
                held.row(&all).map_err(LineError::Here)
            })?;
        } else {
            for_each_line(input, name, |line| {
                let what = "story sketch line ({\"row\", \"len\", \"sig\", \"keys\"})";
                let s: StorySketchIn<'_> = parse_line(line, what)?;
                if held.place.contains_key(&s.row) {
                    return Err(format!("row {} read twice (one line a record)", s.row).into());
                }
                held.place(s.row)?;
                *held.counted.get_or_insert(0) += 1;
                if let Some(sig) = s.sig.as_deref() {
                    held.signature(s.row, s.len, sig)?;
                }
                for (kind, hash) in s.keys {
                    held.key(s.row, kind, of_hex64(hash)?)?;
                }
                Ok(())
            })?;
        }
        // Records with neither signature nor line key (empty pages) are counted by
        // the sketch only.
        match held.counted {
            // An empty input: no records.
            None if held.rows.is_empty() => Ok(held),
            None => Err(StageError::Record(format!(
                "{name}: no `n` row: the records the story sketch read are not counted"
            ))),
            Some(n) if n < held.rows.len() as u64 => Err(StageError::Record(format!(
                "{name}: the `n` rows count {n} records, fewer than the {} rows read",
                held.rows.len()
            ))),
            Some(_) => Ok(held),
        }
    }

    /// The story of every record by place (the place of its component's smallest
    /// row, its own place when it is alone), records in stories of two or more, and
    /// those stories: `edges` index `docs`, which are in row order.
    fn stories(&self, edges: &[lsh::Edge]) -> (Vec<DocId>, u64, u64) {
        let mut story: Vec<DocId> = (0..self.rows.len() as DocId).collect();
        let n = self.docs.len();
        let mut uf = UnionFind::new(n);
        for e in edges {
            uf.union(e.a, e.b);
        }
        let mut smallest: Vec<DocId> = vec![DocId::MAX; n];
        let mut size: Vec<u32> = vec![0; n];
        for i in 0..n as DocId {
            let root = uf.find(i) as usize;
            // The first met is the smallest.
            if smallest[root] == DocId::MAX {
                smallest[root] = i;
            }
            size[root] += 1;
            let first = self.docs[smallest[root] as usize].0;
            story[self.place[&self.docs[i as usize].0] as usize] = self.place[&first];
        }
        let grouped: u64 = size.iter().filter(|&&s| s > 1).map(|&s| s as u64).sum();
        let groups = size.iter().filter(|&&s| s > 1).count() as u64;
        (story, grouped, groups)
    }

    fn place(&mut self, row: u64) -> Result<DocId, String> {
        if let Some(&p) = self.place.get(&row) {
            return Ok(p);
        }
        let p = DocId::try_from(self.rows.len())
            .ok()
            .filter(|&p| p < DocId::MAX)
            .ok_or_else(|| format!("more than {} records; one process takes", DocId::MAX))?;
        self.place.insert(row, p);
        self.rows.push(row);
        self.signed.push(false);
        Ok(p)
    }

    fn signature(&mut self, row: u64, len: u64, sig: &str) -> Result<(), String> {
        let p = self.place(row)? as usize;
        if std::mem::replace(&mut self.signed[p], true) {
            return Err(format!("row {row} has two signatures"));
        }
        self.slots.extend_from_slice(&slots_of_hex(sig, self.k)?);
        self.docs.push((row, len));
        Ok(())
    }

    fn key(&mut self, row: u64, kind: u8, hash: u64) -> Result<(), String> {
        let p = self.place(row)?;
        self.keys.push(pack_key(kind, hash, p));
        Ok(())
    }

    /// One delimited row of `stage sketch --for stories`: `s` and `k` rows are
    /// held, `n` rows counted, band keys (`b`) skipped (banding is done here).
    fn row(&mut self, f: &[&[u8]]) -> Result<(), String> {
        let field = |i: usize| f.get(i).copied().unwrap_or(b"");
        if matches!(field(0), b"s" | b"k") && f.len() < 5 {
            return Err(format!(
                "{} fields separated by U+0001; `s` and `k` rows have five",
                f.len()
            ));
        }
        match field(0) {
            b"s" => {
                let sig = std::str::from_utf8(field(4))
                    .map_err(|_| "a signature that is not UTF-8".to_string())?;
                self.signature(
                    rows::int(field(1), "row")?,
                    rows::int(field(2), "length")?,
                    sig,
                )
            }
            b"k" => {
                let row = rows::int(field(1), "row")?;
                let mut values = field(4).split(|&b| b == b' ').filter(|v| !v.is_empty());
                while let Some(kind) = values.next() {
                    let hash = values
                        .next()
                        .ok_or_else(|| "line keys that are not pairs".to_string())?;
                    let kind: u8 = rows::int(kind, "key kind")?;
                    let hash: i64 = rows::int(hash, "key hash")?;
                    self.key(row, kind, hash as u64)?;
                }
                Ok(())
            }
            b"n" => {
                let n: u64 = rows::int(field(2), "records read")?;
                let counted = self.counted.get_or_insert(0);
                *counted = counted
                    .checked_add(n)
                    .ok_or_else(|| format!("{n} more records read than a count holds"))?;
                Ok(())
            }
            b"b" => Ok(()),
            other => Err(format!(
                "a row of kind {:?}; this stage reads the `s`, `k`, `n` and `b` rows of \
                 `stage sketch --for stories`",
                String::from_utf8_lossy(other)
            )),
        }
    }
}

/// `stage stories`: the story sketch in (`stage sketch --for stories` lines, or with
/// `delimited` its rows, any order); out, in key order, every line key in at least
/// its floor of stories (`boilerplate::floor` of the count the corpus requires) with
/// its story count, as `stage learn` reads them (`{"kind", "hash", "stories"}`, or
/// rows `c, KIND, HASH, STORIES`), and with `delimited` a last row `g, DOCUMENTS,
/// STORIES, EDGES`. Every signature and line key is held in memory.
pub fn stories(
    sc: &StageConfig,
    delimited: bool,
    input: impl BufRead,
    name: &str,
    out: &mut impl Write,
) -> Result<StoryRun, StageError> {
    let confirmer = Confirmer::new(sc, Purpose::Stories)?;
    let mut held = Held::read(confirmer.cfg.num_perm, delimited, input, name)?;
    let (edges, _) = confirmed_edges(
        &confirmer,
        Purpose::Stories,
        &mut held.docs,
        &mut held.slots,
        name,
    )?;
    held.slots = Vec::new();
    let (story, grouped, groups) = held.stories(&edges);
    let documents = held.counted.unwrap_or_default();
    let stories = documents - grouped + groups;
    let line_keys = held.keys.len() as u64;
    let required = sc.learn.required(stories);
    let mut written = 0u64;
    let mut line = Vec::with_capacity(64);
    let counting = |e: std::io::Error| StageError::Record(format!("counting line keys: {e}"));
    // Counted as `clean` counts them: keys moved to their record's story, sorted, each
    // (key, story) once.
    let counts = boilerplate::Counts::from_doc_keys(
        held.keys.into(),
        &story,
        usize::MAX,
        &crate::spill::SpillDir::new(None),
    )
    .map_err(counting)?;
    let mut failed = None;
    counts
        .for_each_key(|(kind, hash), n| {
            if failed.is_some() || n < boilerplate::floor(kind, required) {
                return;
            }
            written += 1;
            let done = if delimited {
                line.clear();
                line.push(b'c');
                numbers(&mut line, [kind as i64, hash as i64, n as i64]);
                out.write_all(&line).map_err(StageError::Write)
            } else {
                let hash = hex64(hash);
                write_json(
                    out,
                    &CountOut {
                        kind,
                        hash,
                        stories: n,
                    },
                )
            };
            failed = done.err();
        })
        .map_err(counting)?;
    if let Some(e) = failed {
        return Err(e);
    }
    let edges = edges.len() as u64;
    if delimited {
        line.clear();
        line.push(b'g');
        numbers(&mut line, [documents as i64, stories as i64, edges as i64]);
        out.write_all(&line).map_err(StageError::Write)?;
    }
    Ok(StoryRun {
        documents,
        stories,
        grouped,
        edges,
        line_keys,
        keys: written,
    })
}

/// Fields of integers after the first, and the row's end.
fn numbers<const N: usize>(line: &mut Vec<u8>, values: [i64; N]) {
    let mut b = itoa::Buffer::new();
    for v in values {
        line.push(rows::FIELD);
        line.extend_from_slice(b.format(v).as_bytes());
    }
    line.push(b'\n');
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::super::candidates::tests::config;
    use super::*;

    /// Envelopes of made-up news pages: 24 stories, some copied up to three times
    /// with an edit, each page with an outlet's boilerplate lines (one outlet in
    /// three stories says less), rows out of order and with gaps.
    fn envelopes() -> Vec<(u64, String)> {
        // Words of letters (digits are normalized away), drawn from a fixed LCG.
        let para = |s: usize, p: usize| -> String {
            let mut x = (s * 131 + p * 7 + 1) as u64;
            (0..40)
                .map(|_| {
                    (0..6)
                        .map(|_| {
                            x = x
                                .wrapping_mul(6364136223846793005)
                                .wrapping_add(1442695040888963407);
                            (b'a' + (x >> 59) as u8 % 26) as char
                        })
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut pages = Vec::new();
        for s in 0..24 {
            for copy in 0..1 + s % 3 {
                let mut lines = vec![format!("Follow outlet {} on the app", s % 4)];
                lines.extend((0..4).map(|p| para(s, p)));
                if s % 3 != 0 {
                    lines.push("Source: the agency".to_string());
                }
                if copy > 0 {
                    lines.push(format!("Edited {copy} times"));
                }
                pages.push(lines.join("\n"));
            }
        }
        pages.push(String::new());
        pages
            .into_iter()
            .enumerate()
            .map(|(i, text)| {
                let row = (i as u64 * 7919) % 1000 + 5;
                (row, serde_json::json!({ "text": text }).to_string())
            })
            .collect()
    }

    fn story_sketch(sc: &StageConfig, delimited: bool) -> String {
        let mut out = Vec::new();
        if delimited {
            let input: String = envelopes()
                .iter()
                .map(|(row, rec)| format!("{row}\u{1}{rec}\n"))
                .collect();
            let names = rows::Names::default();
            let p = Purpose::Stories;
            rows::sketch(
                sc,
                p,
                None,
                None,
                false,
                &names,
                input.as_bytes(),
                "<t>",
                &mut out,
            )
            .unwrap();
        } else {
            let input: String = envelopes()
                .iter()
                .map(|(row, rec)| format!("{{\"row\":{row},\"record\":{rec}}}\n"))
                .collect();
            sketch(
                sc,
                Purpose::Stories,
                None,
                None,
                true,
                input.as_bytes(),
                "<t>",
                &mut out,
            )
            .unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    fn fields(line: &str) -> Vec<&str> {
        line.split('\u{1}').collect()
    }

    /// What the stages an engine runs without `stage stories` give: story edges by
    /// `stage candidates`, stories by `stage components`, and each key's distinct
    /// stories counted here; (counts at the floor, documents, stories, edges).
    fn by_stages(sc: &StageConfig, sk: &str) -> (Vec<(u8, u64, u64)>, u64, u64, u64) {
        let lines: Vec<Vec<&str>> = sk.lines().map(fields).collect();
        let signed: String = (lines.iter().filter(|f| f[0] == "s"))
            .map(|f| format!("{}\u{1}{}\u{1}{}\n", f[1], f[2], f[4]))
            .collect();
        let mut edges = Vec::new();
        candidates(
            sc,
            Purpose::Stories,
            true,
            signed.as_bytes(),
            "<t>",
            &mut edges,
        )
        .unwrap();
        let n_edges = edges.iter().filter(|&&b| b == b'\n').count() as u64;
        let mut roots = Vec::new();
        components(true, &edges[..], "<t>", &mut roots).unwrap();
        let root: HashMap<u64, u64> = (String::from_utf8(roots).unwrap().lines())
            .map(|l| {
                let f = fields(l);
                (f[0].parse().unwrap(), f[1].parse().unwrap())
            })
            .collect();
        let documents: u64 = (lines.iter().filter(|f| f[0] == "n"))
            .map(|f| f[2].parse::<u64>().unwrap())
            .sum();
        let roots: HashSet<u64> = root.values().copied().collect();
        let stories = documents - root.len() as u64 + roots.len() as u64;
        let mut on: HashMap<(u8, u64), HashSet<u64>> = HashMap::new();
        for f in lines.iter().filter(|f| f[0] == "k") {
            let row: u64 = f[1].parse().unwrap();
            let values: Vec<i64> = f[4].split(' ').map(|v| v.parse().unwrap()).collect();
            for pair in values.chunks(2) {
                let story = root.get(&row).copied().unwrap_or(row);
                (on.entry((pair[0] as u8, pair[1] as u64)).or_default()).insert(story);
            }
        }
        let required = sc.learn.required(stories);
        let mut counts: Vec<(u8, u64, u64)> = (on.into_iter())
            .map(|((kind, hash), s)| (kind, hash, s.len() as u64))
            .filter(|&(kind, _, n)| n >= boilerplate::floor(kind, required))
            .collect();
        counts.sort_unstable();
        (counts, documents, stories, n_edges)
    }

    #[test]
    fn counts_are_those_of_the_engine_stages_in_both_formats() {
        let sc = config();
        let sk = story_sketch(&sc, true);
        let (want, documents, n_stories, edges) = by_stages(&sc, &sk);
        // Copies were grouped, and the outlets' lines are rules-to-be.
        assert!(
            n_stories < documents && edges > 0,
            "{n_stories} of {documents}"
        );
        assert!(want.len() >= 3, "{want:?}");
        // Rows in any order: reversed here.
        let reversed: String = sk.lines().rev().map(|l| format!("{l}\n")).collect();
        let mut out = Vec::new();
        let run = stories(&sc, true, reversed.as_bytes(), "<t>", &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let rows: Vec<Vec<&str>> = out.lines().map(fields).collect();
        let got: Vec<(u8, u64, u64)> = (rows.iter().filter(|f| f[0] == "c"))
            .map(|f| {
                let hash: i64 = f[2].parse().unwrap();
                (f[1].parse().unwrap(), hash as u64, f[3].parse().unwrap())
            })
            .collect();
        assert_eq!(got, want);
        let summary = format!("g\u{1}{documents}\u{1}{n_stories}\u{1}{edges}");
        assert_eq!(rows.last().map(|f| f.join("\u{1}")), Some(summary));
        assert_eq!(
            (run.documents, run.stories, run.edges),
            (documents, n_stories, edges)
        );
        assert_eq!(run.keys, want.len() as u64);

        // The same from JSON sketch lines, as `stage learn` reads them.
        let json = story_sketch(&sc, false);
        let mut out = Vec::new();
        let run = stories(&sc, false, json.as_bytes(), "<t>", &mut out).unwrap();
        let got: Vec<(u8, u64, u64)> = (String::from_utf8(out).unwrap().lines())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let hash = of_hex64(v["hash"].as_str().unwrap()).unwrap();
                (
                    v["kind"].as_u64().unwrap() as u8,
                    hash,
                    v["stories"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, want);
        assert_eq!(
            (run.documents, run.stories, run.edges),
            (documents, n_stories, edges)
        );
    }

    #[test]
    fn records_without_signature_and_keys_over_rows_are_counted() {
        let cfg = DedupOptions {
            num_perm: 64,
            ..DedupOptions::default()
        }
        .validate()
        .unwrap();
        let learn = LearnOptions {
            min_docs: 2,
            ..LearnOptions::default()
        };
        let sc = StageConfig::new(&cfg, learn);
        let sig = "00ff".repeat(64);
        // Two sketch tasks' `n` rows (four fields as the sketch writes them, five as
        // Spark passes them on; the second task read an empty page, row 11, which
        // has no other row); row 7 has no signature and its keys in two rows.
        let input = [
            "n\u{1}\\N\u{1}2\u{1}5".to_string(),
            "k\u{1}7\u{1}\\N\u{1}\\N\u{1}3 100 3 200".to_string(),
            format!("s\u{1}9\u{1}40\u{1}\\N\u{1}{sig}"),
            "k\u{1}7\u{1}\\N\u{1}\\N\u{1}3 300".to_string(),
            "b\u{1}9\u{1}0\u{1}\\N\u{1}1 2 3".to_string(),
            "k\u{1}9\u{1}\\N\u{1}\\N\u{1}3 100 3 300 4 5".to_string(),
            "n\u{1}\\N\u{1}1\u{1}\\N\u{1}\\N".to_string(),
        ]
        .join("\n")
            + "\n";
        let mut out = Vec::new();
        let run = stories(&sc, true, input.as_bytes(), "<t>", &mut out).unwrap();
        let want = "c\u{1}3\u{1}100\u{1}2\nc\u{1}3\u{1}300\u{1}2\ng\u{1}3\u{1}3\u{1}0\n";
        assert_eq!(String::from_utf8(out).unwrap(), want);
        assert_eq!((run.documents, run.stories, run.line_keys), (3, 3, 6));
    }

    #[test]
    fn bad_rows_are_named_by_line() {
        let sc = config();
        let n = "n\u{1}\\N\u{1}1\u{1}0\n";
        let sig = "00ff".repeat(64);
        let signed = format!("s\u{1}1\u{1}10\u{1}\\N\u{1}{sig}\n");
        for (input, says) in [
            (
                "s\u{1}1\u{1}10\u{1}\\N\u{1}zz\n".to_string(),
                "<t>:1: a signature of 2 hex digits",
            ),
            (
                format!("{n}n\u{1}\\N\u{1}{}\u{1}0\n", u64::MAX),
                "<t>:2: 18446744073709551615 more records",
            ),
            (
                format!("{n}k\u{1}1\u{1}\\N\u{1}\\N\u{1}3 5 7\n"),
                "<t>:2: line keys that are not pairs",
            ),
            (
                "x\u{1}1\u{1}0\u{1}3\u{1}abc\n".to_string(),
                "<t>:1: a row of kind \"x\"",
            ),
            (
                format!("{n}k\u{1}one\u{1}\\N\u{1}\\N\u{1}3 5\n"),
                "<t>:2: row \"one\"",
            ),
            ("k\u{1}1\u{1}\\N\u{1}3 5\n".to_string(), "<t>:1: 4 fields"),
            (
                format!("{n}{signed}{signed}"),
                "<t>:3: row 1 has two signatures",
            ),
            (signed.clone(), "no `n` row"),
            (
                format!("{n}{signed}k\u{1}2\u{1}\\N\u{1}\\N\u{1}3 5\n"),
                "count 1 records, fewer than the 2",
            ),
        ] {
            let err = stories(&sc, true, input.as_bytes(), "<t>", &mut Vec::new())
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{input:?}: {err}");
        }
        for delimited in [true, false] {
            let run = stories(&sc, delimited, &b""[..], "<t>", &mut Vec::new()).unwrap();
            assert_eq!((run.documents, run.stories), (0, 0), "empty input");
        }
        let line = "{\"row\":1,\"len\":0,\"sig\":null}\n";
        let err = stories(
            &sc,
            false,
            line.repeat(2).as_bytes(),
            "<t>",
            &mut Vec::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("<t>:2: row 1 read twice"), "{err}");
    }
}
