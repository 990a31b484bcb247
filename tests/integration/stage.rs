//! Stage commands: run one after another, with this file doing the grouping an engine
//! (Spark) does between them, they must give what `dupstrip clean` gives on the same
//! records. Plus the interface's refusals and error messages.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::util::*;

/// `stage sketch` of stripped texts, as the dedup steps run it.
pub(crate) const DEDUP_SKETCH: [&str; 7] = [
    "sketch",
    "--config",
    "job.json",
    "--for",
    "dedup",
    "--rules",
    "rules.json",
];
/// What `stage sketch --learned` adds to [`DEDUP_SKETCH`].
pub(crate) const LEARNED: [&str; 2] = ["--learned", "learned.json"];

/// Run `dupstrip stage ARGS` with `input` on standard input; its standard output.
pub(crate) fn stage(env: &Env, args: &[&str], input: &str) -> String {
    let out = env
        .cmd()
        .arg("stage")
        .args(args)
        .write_stdin(input.to_string())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "stage {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn parse(lines: &str) -> Vec<Value> {
    lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn joined(lines: impl IntoIterator<Item = String>) -> String {
    lines.into_iter().map(|l| l + "\n").collect()
}

/// Smallest member of each connected component of `edges`, for every member.
pub(crate) fn components(edges: &[(u64, u64)]) -> BTreeMap<u64, u64> {
    let mut parent: BTreeMap<u64, u64> = BTreeMap::new();
    fn find(p: &mut BTreeMap<u64, u64>, x: u64) -> u64 {
        let up = *p.entry(x).or_insert(x);
        if up == x {
            return x;
        }
        let root = find(p, up);
        p.insert(x, root);
        root
    }
    for &(a, b) in edges {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        // The smaller root wins, so every root is its component's smallest member.
        let (lo, hi) = (ra.min(rb), ra.max(rb));
        parent.insert(hi, lo);
    }
    let nodes: Vec<u64> = parent.keys().copied().collect();
    nodes
        .into_iter()
        .map(|n| (n, find(&mut parent, n)))
        .collect()
}

/// `stage components` over `edges`, as JSON lines and as delimited rows (both must
/// agree): each row's root.
fn stage_components(env: &Env, edges: &[(u64, u64)]) -> BTreeMap<u64, u64> {
    let lines = edges
        .iter()
        .map(|(a, b)| json!({"a": a, "b": b}).to_string());
    let found: BTreeMap<u64, u64> = parse(&stage(env, &["components"], &joined(lines)))
        .iter()
        .map(|r| (r["row"].as_u64().unwrap(), r["root"].as_u64().unwrap()))
        .collect();
    let rows = edges.iter().map(|(a, b)| format!("{a}\u{1}{b}"));
    let delimited = stage(env, &["components", "--delimited"], &joined(rows));
    let from_rows: BTreeMap<u64, u64> = delimited
        .lines()
        .map(|l| {
            let (row, root) = l.split_once('\u{1}').expect("two fields");
            (row.parse().unwrap(), root.parse().unwrap())
        })
        .collect();
    assert_eq!(found, from_rows, "JSON lines and delimited rows differ");
    found
}

/// Group sketches into buckets per (band, key) and confirm them: the edges.
fn edges(env: &Env, sketches: &[Value], purpose: &str) -> Vec<(u64, u64)> {
    let mut buckets: BTreeMap<(usize, String), Vec<&Value>> = BTreeMap::new();
    for s in sketches {
        for (b, k) in s["bands"].as_array().unwrap().iter().enumerate() {
            buckets
                .entry((b, k.as_str().unwrap().to_string()))
                .or_default()
                .push(s);
        }
    }
    // Members in reverse row order: the stage must put them in order itself.
    let lines = buckets.values().filter(|m| m.len() >= 2).map(|m| {
        let members: Vec<Value> = m
            .iter()
            .rev()
            .map(|s| json!({"row": s["row"], "sig": s["sig"], "len": s["len"]}))
            .collect();
        json!({ "members": members }).to_string()
    });
    let out = stage(
        env,
        &["confirm", "--config", "job.json", "--for", purpose],
        &joined(lines),
    );
    json_edges(&out)
}

/// The edges `{"a", "b", …}` of a stage's output, in its order.
fn json_edges(out: &str) -> Vec<(u64, u64)> {
    parse(out)
        .iter()
        .map(|e| (e["a"].as_u64().unwrap(), e["b"].as_u64().unwrap()))
        .collect()
}

#[test]
fn stages_grouped_by_hand_give_what_clean_gives() {
    stages_give_what_clean_gives(&["--min-docs", "4"], true);
}

#[test]
fn stages_give_what_clean_gives_with_other_options() {
    // Longest copy kept, every pair verified exactly, a share of stories required, and
    // pages under 1,500 characters once stripped dropped as emptied.
    stages_give_what_clean_gives(
        &[
            "--min-docs",
            "3",
            "--min-fraction",
            "0.002",
            "--keep",
            "longest",
            "--verify",
            "exact",
            "--min-chars",
            "1500",
        ],
        false,
    );
}

/// Run `clean` with `options`, then the stages with this file as the engine, on 1,500
/// generated pages (every tenth with trailing spaces, which `clean` keeps). Records go
/// in envelopes as their line in a JSON string (`as_lines`) or as the object.
fn stages_give_what_clean_gives(options: &[&str], as_lines: bool) {
    let env = Env::new();
    env.synth_news(1500, 21);
    let padded: String = env
        .read("news.jsonl")
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i % 10 == 3 {
                format!("{l}  \n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    env.write("news.jsonl", padded);
    let mut args = vec![
        "clean",
        "news.jsonl",
        "-o",
        "clean.jsonl",
        "--save-rules",
        "clean-rules.json",
        "--clusters",
        "clean-clusters.jsonl",
        "--report",
        "clean-report.json",
        "-q",
    ];
    args.extend_from_slice(options);
    let ok = env.run(&args);
    assert!(ok.status.success(), "{}", stderr(&ok));

    let mut args = vec!["stage", "config", "-o", "job.json"];
    args.extend_from_slice(options);
    let ok = env.run(&args);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let records: Vec<String> = env.read("news.jsonl").lines().map(String::from).collect();
    let envelopes = joined(records.iter().enumerate().map(|(i, r)| {
        let record = if as_lines {
            serde_json::to_string(r).unwrap()
        } else {
            r.trim_end().to_string()
        };
        format!(
            r#"{{"row":{i},"at":"news.jsonl:{}","record":{record}}}"#,
            i + 1
        )
    }));
    let n = records.len() as u64;

    // Learning: stories, counts per (key, story), learned keys, examples, rules.
    let stories_out = stage(
        &env,
        &["sketch", "--config", "job.json", "--for", "stories"],
        &envelopes,
    );
    let stories_sk = parse(&stories_out);
    assert_eq!(stories_sk.len(), records.len());
    let story_edges = edges(&env, &stories_sk, "stories");
    // The same edges from the sketch lines in one `stage candidates`, each once.
    let mut each_once = story_edges.clone();
    each_once.sort_unstable();
    each_once.dedup();
    let found = json_edges(&stage(
        &env,
        &["candidates", "--config", "job.json", "--for", "stories"],
        &stories_out,
    ));
    assert_eq!(found, each_once, "stage candidates: other story edges");
    let story_of = components(&story_edges);
    assert!(
        !story_of.is_empty(),
        "the corpus must have stories of several pages"
    );
    assert_eq!(stage_components(&env, &story_edges), story_of);
    let grouped = story_of.len() as u64;
    let groups = story_of.iter().filter(|(m, r)| m == r).count() as u64;
    let stories = n - grouped + groups;
    let mut pairs: BTreeSet<(u64, String, u64)> = BTreeSet::new();
    for s in &stories_sk {
        let row = s["row"].as_u64().unwrap();
        let story = story_of.get(&row).copied().unwrap_or(row);
        for k in s["keys"].as_array().unwrap() {
            pairs.insert((k[0].as_u64().unwrap(), k[1].as_str().unwrap().into(), story));
        }
    }
    let mut counts: BTreeMap<(u64, String), u64> = BTreeMap::new();
    for (k, h, _) in pairs {
        *counts.entry((k, h)).or_default() += 1;
    }
    let count_lines = counts
        .iter()
        .map(|((k, h), c)| json!({"kind": k, "hash": h, "stories": c}).to_string());
    let learn_args = [
        "learn",
        "--config",
        "job.json",
        "--documents",
        &n.to_string(),
        "--stories",
        &stories.to_string(),
    ];
    let learned = stage(&env, &learn_args, &joined(count_lines));
    env.write("learned.json", &learned);
    // `stage stories` counts the same from the sketch lines in one process, and says
    // how many stories it found.
    let out = env
        .cmd()
        .args(["stage", "stories", "--config", "job.json"])
        .write_stdin(stories_out.clone())
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let said = format!("{n} records, {stories} stories ({grouped} records in stories of several)");
    assert!(stderr(&out).contains(&said), "{}", stderr(&out));
    let one_task = stage(&env, &learn_args, &String::from_utf8(out.stdout).unwrap());
    assert!(one_task == learned, "stage stories: other learned keys");
    let examples = stage(
        &env,
        &[
            "examples",
            "--config",
            "job.json",
            "--learned",
            "learned.json",
        ],
        &envelopes,
    );
    // The engine may deliver examples in any order.
    let mut shuffled: Vec<&str> = examples.lines().collect();
    shuffled.reverse();
    let rules = stage(
        &env,
        &["rules", "--config", "job.json", "--learned", "learned.json"],
        &joined(shuffled.into_iter().map(String::from)),
    );
    assert_eq!(
        rules,
        env.read("clean-rules.json"),
        "rules differ from clean's"
    );
    env.write("rules.json", &rules);
    // `stage rules --status`: with every example, every rule has its first; with none,
    // none has.
    let status_of = |examples: &str| -> Value {
        let args = [
            "rules",
            "--config",
            "job.json",
            "--learned",
            "learned.json",
            "--status",
            "status.json",
        ];
        stage(&env, &args, examples);
        serde_json::from_str(&env.read("status.json")).expect("status JSON")
    };
    assert_eq!(status_of(&examples)["first_examples"], true);
    let none = status_of("");
    assert_eq!(
        (&none["first_examples"], &none["all_examples"]),
        (&json!(false), &json!(false))
    );

    // Duplicates of the stripped texts.
    let sk_out = stage(&env, &DEDUP_SKETCH, &envelopes);
    let sk_lines: Vec<&str> = sk_out.lines().collect();
    let sketches = parse(&sk_out);
    // With the learned keys, each sketch also lists its record's example lines: the
    // lines `stage examples` gives, and the sketch is otherwise the same.
    let args = [&DEDUP_SKETCH[..], &LEARNED].concat();
    let with_examples = parse(&stage(&env, &args, &envelopes));
    assert_eq!(with_examples.len(), sketches.len());
    let mut from_sketch: BTreeSet<String> = BTreeSet::new();
    for (s, plain) in with_examples.iter().zip(&sketches) {
        for (pos, e) in s["examples"]
            .as_array()
            .expect("examples")
            .iter()
            .enumerate()
        {
            let line =
                json!({"kind": e[0], "hash": e[1], "row": s["row"], "pos": pos, "line": e[2]});
            from_sketch.insert(line.to_string());
        }
        let mut s = s.clone();
        s.as_object_mut().unwrap().remove("examples");
        assert_eq!(&s, plain);
    }
    let from_stage: BTreeSet<String> = parse(&examples).iter().map(|v| v.to_string()).collect();
    assert_eq!(from_sketch, from_stage);
    let comp = components(&edges(&env, &sketches, "dedup"));
    let mut by_root: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (&m, &r) in &comp {
        by_root.entry(r).or_default().push(m);
    }
    let env_lines: Vec<&str> = envelopes.lines().collect();
    let comp_lines = by_root.values().map(|members| {
        let m: Vec<String> = members
            .iter()
            .map(|&r| {
                format!(
                    r#"{{"sketch":{},"input":{}}}"#,
                    sk_lines[r as usize], env_lines[r as usize]
                )
            })
            .collect();
        format!(r#"{{"members":[{}]}}"#, m.join(","))
    });
    let clusters = parse(&stage(
        &env,
        &["assign", "--config", "job.json", "--rules", "rules.json"],
        &joined(comp_lines),
    ));
    let mut clusters: Vec<&Value> = clusters.iter().collect();
    clusters.sort_by_key(|c| c["keep"].as_u64());
    let reference = env.json_lines("clean-clusters.jsonl");
    assert_eq!(clusters.len(), reference.len());
    let mut drop = String::new();
    for (c, r) in clusters.iter().zip(&reference) {
        let ids: Vec<&Value> = c["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["id"])
            .collect();
        let ref_ids: Vec<&Value> = r["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["id"])
            .collect();
        assert_eq!(ids, ref_ids);
        for m in c["members"].as_array().unwrap() {
            if m["row"] != c["keep"] {
                drop.push_str(&format!("{{\"row\":{}}}\n", m["row"]));
            }
        }
    }
    assert!(
        reference.len() >= 50,
        "too few clusters to test: {}",
        reference.len()
    );
    env.write("drop.jsonl", &drop);
    let out = stage(
        &env,
        &[
            "apply",
            "--config",
            "job.json",
            "--rules",
            "rules.json",
            "--drop",
            "drop.jsonl",
            "--stats",
            "apply.json",
        ],
        &envelopes,
    );
    let stats: Value = serde_json::from_str(&env.read("apply.json")).unwrap();
    assert_eq!(stats["read"], n);
    assert!(stats["lines_removed"].as_u64().unwrap() > 1000, "{stats}");
    let report: Value = serde_json::from_str(&env.read("clean-report.json")).unwrap();
    assert_eq!(
        stats["emptied_dropped"],
        report["documents"]["emptied_dropped"]
    );
    if as_lines {
        assert!(
            out == env.read("clean.jsonl"),
            "output differs from clean's"
        );
    } else {
        // Records given as objects lose the trailing spaces clean keeps.
        let trimmed: String = env
            .read("clean.jsonl")
            .lines()
            .map(|l| format!("{}\n", l.trim_end()))
            .collect();
        assert!(out == trimmed, "output differs from clean's");
        assert!(stats["emptied_dropped"].as_u64().unwrap() > 0, "{stats}");
    }
}

#[test]
fn bad_lines_and_configs_are_refused_with_where() {
    let env = Env::new();
    let ok = env.run(&["stage", "config", "-o", "job.json"]);
    assert!(ok.status.success(), "{}", stderr(&ok));

    let out = env
        .cmd()
        .args([
            "stage", "sketch", "--config", "job.json", "--for", "stories",
        ])
        .write_stdin("{\"row\":0,\"record\":{\"text\":\"a b c d\"}}\n\nnot json\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("<stdin>:3: not a record envelope"),
        "{}",
        stderr(&out)
    );

    let out = env
        .cmd()
        .args([
            "stage", "sketch", "--config", "job.json", "--for", "stories",
        ])
        .write_stdin("{\"row\":4,\"at\":\"a.jsonl:9\",\"record\":{\"body\":\"x\"}}\n")
        .output()
        .unwrap();
    assert!(!out.status.success());
    // A record's error names its place in the corpus, not in the stage's input.
    assert!(
        stderr(&out).contains("error: a.jsonl:9: no field \"text\""),
        "{}",
        stderr(&out)
    );

    let out = env.run(&["stage", "sketch", "--config", "job.json", "--for", "dedup"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("needs --rules"), "{}", stderr(&out));

    let out = env.run(&["stage", "config", "-o", "x.json", "--state", "st"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--state"), "{}", stderr(&out));

    let mut v: Value = serde_json::from_str(&env.read("job.json")).unwrap();
    v["schema_version"] = json!(99);
    env.write("future.json", v.to_string());
    let out = env.run(&[
        "stage",
        "learn",
        "--config",
        "future.json",
        "--documents",
        "1",
        "--stories",
        "1",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("schema version 99"),
        "{}",
        stderr(&out)
    );

    let out = env
        .cmd()
        .args(["stage", "confirm", "--config", "job.json", "--for", "dedup"])
        .write_stdin("{\"members\":[{\"row\":1,\"sig\":\"00ff\",\"len\":3}]}\n")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("<stdin>:1: a signature of 4 hex digits"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn decompress_reads_gzip_and_zstd() {
    let env = Env::new();
    let data = "{\"text\":\"hello\"}\n".repeat(1000);
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    let zst = zstd::encode_all(data.as_bytes(), 3).unwrap();
    for input in [gz, zst, data.clone().into_bytes()] {
        let out = env
            .cmd()
            .args(["stage", "decompress"])
            .write_stdin(input)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, data.as_bytes());
    }
}
