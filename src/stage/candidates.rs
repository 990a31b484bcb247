//! `candidates`: the near-duplicate candidates of every signature, confirmed, in one
//! process. The engine can find them itself (band keys grouped into buckets, the
//! buckets' member sets listed, each set confirmed by `stage confirm`), at the cost of
//! three shuffles of every band key; when the signatures fit one task's memory, one
//! pass of `clean`'s own banding here replaces them.

use std::io::{BufRead, Write};

use bitvec::vec::BitVec;

use crate::lsh::{CandidateStats, DocId, Signatures};

use super::*;

/// What `stage candidates` read and found.
#[derive(Clone, Debug, Default)]
pub struct CandidateRun {
    /// Signatures read (records without one are skipped).
    pub signatures: u64,
    /// Confirmed edges written.
    pub edges: u64,
    pub stats: CandidateStats,
}

/// `stage candidates`: signatures in (sketch lines `{"row", "len", "sig"}`, as `stage
/// sketch` writes them, lines without a signature skipped; with `delimited`, rows
/// `ROW, LEN, SIG`), any order; out, sorted by pair and each pair once, the edges
/// `clean` confirms between them (`{"a", "b", "similarity"}` with `a < b`, as `stage
/// confirm` writes them; or rows `A, B`). Every signature is held in memory, with its
/// band keys one band at a time and the edges found so far.
pub fn candidates(
    sc: &StageConfig,
    purpose: Purpose,
    delimited: bool,
    input: impl BufRead,
    name: &str,
    out: &mut impl Write,
) -> Result<CandidateRun, StageError> {
    let confirmer = Confirmer::new(sc, purpose)?;
    let cfg = &confirmer.cfg;
    let k = cfg.num_perm;
    // Signatures one after another in the order read, and (row, length) of each.
    let mut slots: Vec<Slot> = Vec::new();
    let mut docs: Vec<(u64, u64)> = Vec::new();
    let mut add = |row: u64, len: u64, sig: &str| -> Result<(), String> {
        slots.extend_from_slice(&slots_of_hex(sig, k)?);
        docs.push((row, len));
        Ok(())
    };
    if delimited {
        rows::for_each_row(input, name, 3, |f| {
            let sig = std::str::from_utf8(f[2])
                .map_err(|_| "a signature that is not UTF-8".to_string())?;
            add(rows::int(f[0], "row")?, rows::int(f[1], "length")?, sig)?;
            Ok(())
        })?;
    } else {
        for_each_line(input, name, |line| {
            let s: SketchIn<'_> = parse_line(line, "sketch line ({\"row\", \"len\", \"sig\"})")?;
            if let Some(sig) = s.sig.as_deref() {
                add(s.row, s.len, sig)?;
            }
            Ok(())
        })?;
    }
    let (edges, stats) = confirmed_edges(&confirmer, purpose, &mut docs, &mut slots, name)?;
    let n = docs.len();
    let mut line = Vec::with_capacity(80);
    let (mut ra, mut rb) = (itoa::Buffer::new(), itoa::Buffer::new());
    for e in &edges {
        let (a, b) = (docs[e.a as usize].0, docs[e.b as usize].0);
        line.clear();
        if delimited {
            line.extend_from_slice(ra.format(a).as_bytes());
            line.push(rows::FIELD);
            line.extend_from_slice(rb.format(b).as_bytes());
            line.push(b'\n');
            out.write_all(&line).map_err(StageError::Write)?;
        } else {
            write_json(
                out,
                &EdgeLine {
                    a,
                    b,
                    similarity: e.similarity as f64,
                },
            )?;
        }
    }
    Ok(CandidateRun {
        signatures: n as u64,
        edges: edges.len() as u64,
        stats,
    })
}

/// The edges `clean` confirms between the signatures `slots` (`k` each) of `docs`
/// (row, length), which are put in row order first: edge ends index `docs`.
pub(super) fn confirmed_edges(
    confirmer: &Confirmer,
    purpose: Purpose,
    docs: &mut Vec<(u64, u64)>,
    slots: &mut [Slot],
    name: &str,
) -> Result<(Vec<lsh::Edge>, CandidateStats), StageError> {
    let cfg = &confirmer.cfg;
    let k = cfg.num_perm;
    let n = docs.len();
    if n > DocId::MAX as usize {
        return Err(StageError::Record(format!(
            "{name}: {n} signatures; one process takes at most {}",
            DocId::MAX
        )));
    }
    // Documents in row order, as `clean` numbers them: members of a bucket are then
    // met in the same order, and the same representatives confirm the same edges. An
    // engine's rows mostly come in order already, and are then not moved.
    if !docs.is_sorted_by_key(|d| d.0) {
        sort_by_row(docs, slots, k);
    }
    if let Some(w) = docs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(StageError::Record(format!(
            "{name}: row {} has two signatures",
            w[0].0
        )));
    }
    let (docs, slots): (&[(u64, u64)], &[Slot]) = (docs, slots);
    let active = BitVec::repeat(true, n);
    let sigs = Signatures {
        k,
        slots,
        active: &active,
    };
    let floor = confirmer.floor;
    // Not remembered: the engine sizes this task's memory by the signatures alone.
    let (edges, stats) = lsh::candidates_with(&sigs, cfg.lsh, cfg.seed, false, |a, b| {
        let (x, y) = (sigs.get(a), sigs.get(b));
        match purpose {
            Purpose::Stories => learn::story_link(x, y, docs[a as usize].1, docs[b as usize].1),
            Purpose::Dedup => {
                let s = minhash::estimate(x, y);
                (s >= floor).then_some(s)
            }
        }
    });
    Ok((edges, stats))
}

/// Put `docs` and their signatures (`k` slots each, in `slots`) in row order, in
/// place: each cycle of the permutation is followed with one signature held aside,
/// so the signatures are never held twice.
fn sort_by_row(docs: &mut Vec<(u64, u64)>, slots: &mut [Slot], k: usize) {
    // order[i]: where the document that goes to place i is now.
    let mut order: Vec<u32> = (0..docs.len() as u32).collect();
    order.sort_unstable_by_key(|&i| docs[i as usize].0);
    *docs = order.iter().map(|&i| docs[i as usize]).collect();
    let mut placed = BitVec::<usize>::repeat(false, order.len());
    let mut held: Vec<Slot> = vec![0; k];
    for start in 0..order.len() {
        if placed[start] {
            continue;
        }
        held.copy_from_slice(&slots[start * k..(start + 1) * k]);
        let mut at = start;
        loop {
            placed.set(at, true);
            let from = order[at] as usize;
            if from == start {
                slots[at * k..(at + 1) * k].copy_from_slice(&held);
                break;
            }
            slots.copy_within(from * k..(from + 1) * k, at * k);
            at = from;
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The stage tests' config: 64 permutations, the rest as `clean`'s defaults.
    pub(in crate::stage) fn config() -> StageConfig {
        let cfg = DedupOptions {
            num_perm: 64,
            ..DedupOptions::default()
        }
        .validate()
        .unwrap();
        StageConfig::new(&cfg, LearnOptions::default())
    }

    /// Signatures of made-up texts: copies of three stories, lightly edited, and
    /// unrelated pages, as sketch lines.
    fn sketch_lines(sc: &StageConfig, purpose: Purpose) -> Vec<(u64, u64, String)> {
        let story = |s: usize| -> String {
            (0..120)
                .map(|w| format!("w{}x{}", s, (w * 7 + s) % 97))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut texts = Vec::new();
        for s in 0..3 {
            for copy in 0..4 {
                texts.push(format!("{} edit{copy}", story(s)));
            }
        }
        for u in 0..20 {
            texts.push(story(100 + u));
        }
        let mut signer = Signer::new(sc, purpose, None).unwrap();
        texts
            .iter()
            .enumerate()
            // Rows out of order and with gaps, as an engine numbers them.
            .map(|(i, t)| {
                let s = signer.sign(t);
                assert!(s.ok);
                (
                    (i as u64 * 7919) % 1000 + 5,
                    s.len,
                    hex_slots(&signer.slots),
                )
            })
            .collect()
    }

    /// The edges the buckets give through `stage confirm`'s code, every bucket of
    /// every band confirmed on its own.
    fn by_buckets(
        sc: &StageConfig,
        purpose: Purpose,
        docs: &[(u64, u64, String)],
    ) -> Vec<(u64, u64)> {
        let confirmer = Confirmer::new(sc, purpose).unwrap();
        let cfg = &confirmer.cfg;
        let k = cfg.num_perm;
        type Member = (u64, u64, Vec<Slot>);
        let mut buckets: HashMap<(usize, u64), Vec<Member>> = HashMap::new();
        for (row, len, hex) in docs {
            let sig = slots_of_hex(hex, k).unwrap();
            for band in 0..cfg.lsh.bands {
                let key = lsh::band_key(&sig, band, cfg.lsh.rows, cfg.seed);
                buckets
                    .entry((band, key))
                    .or_default()
                    .push((*row, *len, sig.clone()));
            }
        }
        let mut edges = Vec::new();
        for (_, mut members) in buckets {
            if members.len() > 1 {
                confirmer
                    .edges(&mut members, |a, b, _| {
                        edges.push((a, b));
                        Ok(())
                    })
                    .unwrap();
            }
        }
        edges.sort_unstable();
        edges.dedup();
        edges
    }

    #[test]
    fn edges_are_those_of_the_buckets_in_both_formats() {
        let sc = config();
        for purpose in [Purpose::Stories, Purpose::Dedup] {
            let docs = sketch_lines(&sc, purpose);
            let want = by_buckets(&sc, purpose, &docs);
            assert!(want.len() >= 3 * 6, "{purpose:?}: {} edges", want.len());
            let delimited: String = docs
                .iter()
                .map(|(r, l, s)| format!("{r}\u{1}{l}\u{1}{s}\n"))
                .collect();
            let mut out = Vec::new();
            let run =
                candidates(&sc, purpose, true, delimited.as_bytes(), "<t>", &mut out).unwrap();
            let got: Vec<(u64, u64)> = String::from_utf8(out)
                .unwrap()
                .lines()
                .map(|l| {
                    let (a, b) = l.split_once('\u{1}').unwrap();
                    (a.parse().unwrap(), b.parse().unwrap())
                })
                .collect();
            assert_eq!(got, want, "{purpose:?}");
            assert_eq!(run.signatures, docs.len() as u64);
            assert_eq!(run.edges, want.len() as u64);
            // JSON sketch lines, a line without a signature among them.
            let mut json: String = docs
                .iter()
                .map(|(r, l, s)| format!("{{\"row\":{r},\"len\":{l},\"sig\":\"{s}\"}}\n"))
                .collect();
            json.push_str("{\"row\":3,\"len\":0}\n");
            let mut out = Vec::new();
            candidates(&sc, purpose, false, json.as_bytes(), "<t>", &mut out).unwrap();
            let got: Vec<(u64, u64)> = String::from_utf8(out)
                .unwrap()
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    (v["a"].as_u64().unwrap(), v["b"].as_u64().unwrap())
                })
                .collect();
            assert_eq!(got, want, "{purpose:?}, JSON");
        }
    }

    #[test]
    fn signatures_are_put_in_row_order_in_place() {
        let k = 3;
        let rows: Vec<u64> = vec![50, 10, 40, 20, 30, 60, 5];
        let mut docs: Vec<(u64, u64)> = rows.iter().map(|&r| (r, r * 2)).collect();
        let mut slots: Vec<Slot> = rows
            .iter()
            .flat_map(|&r| [r as Slot, r as Slot + 1, r as Slot + 2])
            .collect();
        sort_by_row(&mut docs, &mut slots, k);
        let mut sorted = rows.clone();
        sorted.sort_unstable();
        assert_eq!(docs, sorted.iter().map(|&r| (r, r * 2)).collect::<Vec<_>>());
        let want: Vec<Slot> = sorted
            .iter()
            .flat_map(|&r| [r as Slot, r as Slot + 1, r as Slot + 2])
            .collect();
        assert_eq!(slots, want);
    }

    #[test]
    fn bad_rows_are_named() {
        let sc = config();
        let sig = "00".repeat(2 * 64);
        let twice = format!("4\u{1}10\u{1}{sig}\n4\u{1}10\u{1}{sig}\n");
        let e = candidates(
            &sc,
            Purpose::Dedup,
            true,
            twice.as_bytes(),
            "<t>",
            &mut Vec::new(),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("row 4 has two signatures"), "{e}");
        let short = "4\u{1}10\u{1}abcd\n";
        let e = candidates(
            &sc,
            Purpose::Dedup,
            true,
            short.as_bytes(),
            "<t>",
            &mut Vec::new(),
        )
        .err()
        .unwrap();
        assert!(
            e.to_string()
                .starts_with("<t>:1: a signature of 4 hex digits"),
            "{e}"
        );
    }
}
