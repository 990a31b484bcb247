//! Stage commands over delimited rows (`--delimited`, the form Spark SQL's `TRANSFORM`
//! pipes): run one after another with this file doing the engine's grouping, they must
//! give what `dupstrip clean` gives, byte for byte: output, rules and clusters.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::stage::{DEDUP_SKETCH, LEARNED, components, stage};
use crate::util::*;

const SEP: char = '\u{1}';
const LINE_BITS: u32 = 40;

/// Rows of a stage's output, split into fields.
fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|l| l.split(SEP).map(String::from).collect())
        .collect()
}

fn int(s: &str) -> i64 {
    s.parse()
        .unwrap_or_else(|_| panic!("{s:?} is not an integer"))
}

/// The sketch rows of every record: band keys `(band, key) -> rows`, signatures
/// `row -> (len, hex)`, line keys `(row, kind, hash)`, emptied rows, records read.
#[derive(Default)]
struct Sketches {
    bands: BTreeMap<(i64, i64), Vec<i64>>,
    sigs: BTreeMap<i64, (String, String)>,
    keys: Vec<(i64, i64, i64)>,
    k_rows: BTreeSet<i64>,
    emptied: BTreeSet<i64>,
    read: i64,
    /// Line keys, as the `n` rows count them.
    keys_counted: i64,
}

fn sketches(out: &str) -> Sketches {
    let mut s = Sketches::default();
    for f in rows(out) {
        match f[0].as_str() {
            "b" => {
                for (i, key) in f[4].split(' ').enumerate() {
                    let band = int(&f[2]) + i as i64;
                    s.bands
                        .entry((band, int(key)))
                        .or_default()
                        .push(int(&f[1]));
                }
            }
            "s" => {
                s.sigs.insert(int(&f[1]), (f[2].clone(), f[4].clone()));
            }
            "k" => {
                // A record's line keys come in one row, up to 4,096 (more than any
                // page here has).
                assert!(s.k_rows.insert(int(&f[1])), "two k rows for row {}", f[1]);
                let v: Vec<i64> = f[4].split(' ').map(int).collect();
                for p in v.chunks(2) {
                    s.keys.push((int(&f[1]), p[0], p[1]));
                }
            }
            "e" => {
                s.emptied.insert(int(&f[1]));
            }
            "n" => {
                s.read += int(&f[2]);
                s.keys_counted += int(&f[3]);
            }
            other => panic!("unknown sketch row {other:?}"),
        }
    }
    s
}

/// Buckets of two or more, identical member sets once, members in reverse row order
/// (the stage sorts them), confirmed: the edges.
fn edges(env: &Env, s: &Sketches, purpose: &str) -> Vec<(u64, u64)> {
    let sets: BTreeSet<&Vec<i64>> = s.bands.values().filter(|m| m.len() >= 2).collect();
    let mut input = String::new();
    for (i, members) in sets.iter().enumerate() {
        for row in members.iter().rev() {
            let (len, sig) = &s.sigs[row];
            input.push_str(&format!("set{i}{SEP}{row}{SEP}{len}{SEP}{sig}\n"));
        }
    }
    edge_rows(env, "confirm", purpose, &input)
}

/// `stage COMMAND --for PURPOSE --delimited` over `input`: the edges `A, B` it writes.
fn edge_rows(env: &Env, command: &str, purpose: &str, input: &str) -> Vec<(u64, u64)> {
    let args = [
        command,
        "--config",
        "job.json",
        "--for",
        purpose,
        "--delimited",
    ];
    rows(&stage(env, &args, input))
        .iter()
        .map(|f| (int(&f[0]) as u64, int(&f[1]) as u64))
        .collect()
}

/// The edges of `stage candidates --delimited` over the signatures of the same sketch
/// made with `--no-band-keys` (which must be `full`'s rows less the band keys), given
/// in reverse row order (the stage sorts them); they must be the buckets' edges.
fn candidates(
    env: &Env,
    sketch: &[&str],
    input: &str,
    full: &str,
    purpose: &str,
) -> Vec<(u64, u64)> {
    let args: Vec<&str> = sketch.iter().copied().chain(["--no-band-keys"]).collect();
    let plain = rows(&stage(env, &args, input));
    let keyed: Vec<Vec<String>> = rows(full).into_iter().filter(|f| f[0] != "b").collect();
    assert_eq!(
        plain, keyed,
        "--no-band-keys changed more than the band keys"
    );
    let signatures: String = plain
        .iter()
        .rev()
        .filter(|f| f[0] == "s")
        .map(|f| format!("{}{SEP}{}{SEP}{}\n", f[1], f[2], f[4]))
        .collect();
    edge_rows(env, "candidates", purpose, &signatures)
}

/// `edges` sorted, each once: what `stage candidates` writes.
fn sorted(mut edges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    edges.sort_unstable();
    edges.dedup();
    edges
}

#[test]
fn delimited_stages_give_what_clean_gives() {
    run_and_compare(&["--min-docs", "4"]);
}

#[test]
fn delimited_stages_give_what_clean_gives_with_other_options() {
    run_and_compare(&[
        "--min-docs",
        "3",
        "--keep",
        "longest",
        "--verify",
        "exact",
        "--min-chars",
        "1500",
    ]);
}

/// 1,200 generated pages in two files; in the second, every seventh record has no id
/// (named FILE:LINE) and every eleventh a carriage return among its spaces (sent back
/// in hex, since Spark would end the row there).
fn run_and_compare(options: &[&str]) {
    let env = Env::new();
    env.synth_news(1200, 23);
    let all: Vec<String> = env.read("news.jsonl").lines().map(String::from).collect();
    let (first, second) = all.split_at(all.len() / 2);
    let second: Vec<String> = second
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut l = l.clone();
            if i % 7 == 0 {
                let v: serde_json::Value = serde_json::from_str(&l).unwrap();
                let mut o = v.as_object().unwrap().clone();
                o.remove("id");
                l = serde_json::Value::Object(o).to_string();
            }
            if i % 11 == 0 {
                l = l.replacen(',', " \r ,", 1);
            }
            l
        })
        .collect();
    env.write("in/a.jsonl", first.join("\n") + "\n");
    env.write("in/b.jsonl", second.join("\n") + "\n");
    let mut args = vec![
        "clean",
        "in",
        "-o",
        "clean.jsonl",
        "--save-rules",
        "clean-rules.json",
        "--clusters",
        "clean-clusters.jsonl",
        "-q",
    ];
    args.extend_from_slice(options);
    let ok = env.run(&args);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let mut args = vec!["stage", "config", "-o", "job.json"];
    args.extend_from_slice(options);
    assert!(env.run(&args).status.success());
    env.write(
        "names.json",
        json!(["in/a.jsonl", "in/b.jsonl"]).to_string(),
    );

    // Records as the engine numbers them: the input's index, then the line.
    let mut records: BTreeMap<i64, String> = BTreeMap::new();
    for (file, lines) in [first.to_vec(), second].iter().enumerate() {
        for (i, l) in lines.iter().enumerate() {
            records.insert(((file as i64) << LINE_BITS) | (i as i64 + 1), l.clone());
        }
    }
    let input: String = records
        .iter()
        .map(|(r, l)| format!("{r}{SEP}{l}\n"))
        .collect();
    let named = ["--names", "names.json", "--delimited"];
    let with = |args: &[&'static str]| -> Vec<&'static str> {
        args.iter().chain(named.iter()).copied().collect()
    };

    // Learning: stories, counts per (key, story), learned keys, examples, rules.
    let story_sketch = with(&["sketch", "--config", "job.json", "--for", "stories"]);
    let story_out = stage(&env, &story_sketch, &input);
    let story = sketches(&story_out);
    assert_eq!(story.read as usize, records.len());
    assert_eq!(story.keys_counted as usize, story.keys.len());
    let story_edges = sorted(edges(&env, &story, "stories"));
    assert!(story_edges.len() >= 50, "{} story edges", story_edges.len());
    let found = candidates(&env, &story_sketch, &input, &story_out, "stories");
    assert!(found == story_edges, "stage candidates: other story edges");
    let story_of = components(&story_edges);
    let n = records.len() as u64;
    let groups = story_of.iter().filter(|(m, r)| m == r).count() as u64;
    let stories = n - story_of.len() as u64 + groups;
    let mut pairs: BTreeSet<(i64, i64, u64)> = BTreeSet::new();
    for &(row, kind, hash) in &story.keys {
        let s = story_of.get(&(row as u64)).copied().unwrap_or(row as u64);
        pairs.insert((kind, hash, s));
    }
    let mut counts: BTreeMap<(i64, i64), u64> = BTreeMap::new();
    for (k, h, _) in pairs {
        *counts.entry((k, h)).or_default() += 1;
    }
    let count_lines: String = counts
        .iter()
        .map(|((k, h), c)| {
            json!({"kind": k, "hash": format!("{:016x}", *h as u64), "stories": c}).to_string()
                + "\n"
        })
        .collect();
    let (n_arg, s_arg) = (n.to_string(), stories.to_string());
    let learn = [
        "learn",
        "--config",
        "job.json",
        "--documents",
        &n_arg,
        "--stories",
        &s_arg,
    ];
    env.write("learned.json", stage(&env, &learn, &count_lines));
    // `stage stories` finds the same stories and counts in one process, from the
    // sketch rows as they come (band keys among them), in any order.
    let reversed: String = story_out.lines().rev().map(|l| format!("{l}\n")).collect();
    let counted = rows(&stage(
        &env,
        &["stories", "--config", "job.json", "--delimited"],
        &reversed,
    ));
    let summary = vec![
        "g".to_string(),
        n.to_string(),
        stories.to_string(),
        story_edges.len().to_string(),
    ];
    assert_eq!(counted.last(), Some(&summary));
    let one_task_counts: String = counted[..counted.len() - 1]
        .iter()
        .map(|f| {
            assert_eq!(f[0], "c");
            json!({"kind": int(&f[1]), "hash": format!("{:016x}", int(&f[2]) as u64),
                   "stories": int(&f[3])})
            .to_string()
                + "\n"
        })
        .collect();
    assert!(
        stage(&env, &learn, &one_task_counts) == env.read("learned.json"),
        "stage stories: other learned keys"
    );
    // Two halves, as two partitions: each keeps its own first three per key.
    let half = input.lines().count() / 2;
    let parts: Vec<String> = [
        input.lines().take(half).collect::<Vec<_>>(),
        input.lines().skip(half).collect(),
    ]
    .iter()
    .map(|p| p.iter().map(|l| format!("{l}\n")).collect())
    .collect();
    let mut example_lines = String::new();
    for part in &parts {
        let ex = stage(
            &env,
            &with(&[
                "examples",
                "--config",
                "job.json",
                "--learned",
                "learned.json",
            ]),
            part,
        );
        for f in rows(&ex) {
            example_lines.push_str(&format!(
                "{{\"kind\":{},\"hash\":\"{}\",\"row\":{},\"pos\":{},\"line\":{}}}\n",
                f[0], f[1], f[2], f[3], f[4]
            ));
        }
    }
    let rules = stage(
        &env,
        &["rules", "--config", "job.json", "--learned", "learned.json"],
        &example_lines,
    );
    assert!(
        rules == env.read("clean-rules.json"),
        "rules differ from clean's"
    );
    env.write("rules.json", &rules);

    // The same examples from the dedup sketch given the learned keys (`x` rows, as
    // the driver takes the further examples): the same rules.
    let mut from_sketch = String::new();
    for part in &parts {
        let sk = rows(&stage(
            &env,
            &with(&[&DEDUP_SKETCH[..], &LEARNED].concat()),
            part,
        ));
        // The other rows are a plain sketch's, and the count still comes last.
        let plain = rows(&stage(&env, &with(&DEDUP_SKETCH), part));
        let others: Vec<&Vec<String>> = sk.iter().filter(|f| f[0] != "x").collect();
        assert_eq!(others, plain.iter().collect::<Vec<_>>());
        assert_eq!(sk.last().map(|f| f[0].as_str()), Some("n"));
        for f in sk.iter().filter(|f| f[0] == "x") {
            let (hash, line) = f[4].split_once(' ').expect("HASH LINE");
            from_sketch.push_str(&format!(
                "{{\"kind\":{},\"hash\":\"{hash}\",\"row\":{},\"pos\":{},\"line\":{line}}}\n",
                f[3], f[1], f[2]
            ));
        }
    }
    let mut a: Vec<&str> = from_sketch.lines().collect();
    let mut b: Vec<&str> = example_lines.lines().collect();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(
        a, b,
        "the dedup sketch's examples differ from stage examples'"
    );
    let again = stage(
        &env,
        &["rules", "--config", "job.json", "--learned", "learned.json"],
        &from_sketch,
    );
    assert!(again == rules, "rules from the sketch's examples differ");

    // Duplicates of the stripped texts: components, then who is kept.
    let dedup_out = stage(&env, &with(&DEDUP_SKETCH), &input);
    let dedup = sketches(&dedup_out);
    assert_eq!(dedup.keys_counted, 0, "a dedup sketch has no line keys");
    let dedup_edges = sorted(edges(&env, &dedup, "dedup"));
    let found = candidates(&env, &with(&DEDUP_SKETCH), &input, &dedup_out, "dedup");
    assert!(found == dedup_edges, "stage candidates: other dedup edges");
    let comp = components(&dedup_edges);
    let mut members = String::new();
    for (&row, &root) in &comp {
        let (len, sig) = &dedup.sigs[&(row as i64)];
        let record = &records[&(row as i64)];
        members.push_str(&format!(
            "{root}{SEP}{row}{SEP}{len}{SEP}{sig}{SEP}{record}\n"
        ));
    }
    let mut by_root: Vec<&str> = members.lines().collect();
    by_root.sort_by_key(|l| int(l.split(SEP).next().unwrap()));
    let assigned = rows(&stage(
        &env,
        &with(&["assign", "--config", "job.json", "--rules", "rules.json"]),
        &by_root.iter().map(|l| format!("{l}\n")).collect::<String>(),
    ));
    let mut clusters: Vec<(i64, String)> = Vec::new();
    let mut dropped: BTreeSet<i64> = BTreeSet::new();
    for f in &assigned {
        match f[0].as_str() {
            "c" => clusters.push((int(&f[1]), f[2].clone())),
            "d" => {
                dropped.insert(int(&f[1]));
            }
            other => panic!("unknown assign row {other:?}"),
        }
    }
    clusters.sort();
    let numbered: String = clusters
        .iter()
        .enumerate()
        .map(|(i, (_, body))| format!("{{\"cluster\":{i},{body}}}\n"))
        .collect();
    assert!(
        clusters.len() >= 30,
        "too few clusters to test: {}",
        clusters.len()
    );
    assert!(
        numbered == env.read("clean-clusters.jsonl"),
        "clusters differ from clean's"
    );
    assert!(
        numbered.contains("\"in/b.jsonl:"),
        "no record without an id in a cluster"
    );

    // Output: the kept records in row order.
    let kept: String = records
        .iter()
        .filter(|(r, _)| !dropped.contains(r))
        .map(|(r, l)| format!("{r}{SEP}{l}\n"))
        .collect();
    let out = stage(
        &env,
        &with(&["apply", "--config", "job.json", "--rules", "rules.json"]),
        &kept,
    );
    let mut written = Vec::new();
    let mut in_hex = 0;
    for l in out.lines() {
        match l.strip_prefix("\\N\u{1}") {
            Some(hex) => {
                in_hex += 1;
                let bytes: Vec<u8> = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect();
                written.extend_from_slice(&bytes);
            }
            None => written.extend_from_slice(l.as_bytes()),
        }
        written.push(b'\n');
    }
    assert!(in_hex > 0, "no record with a carriage return written");
    assert!(
        written == std::fs::read(env.path("clean.jsonl")).unwrap(),
        "output differs from clean's"
    );
    let emptied = records.len() - dropped.len() - out.lines().count();
    assert_eq!(emptied, dedup.emptied.len(), "emptied records left out");
}
