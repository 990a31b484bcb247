//! `dupstrip dedup` end to end: quality, determinism, modes, outputs.

use std::collections::HashMap;

use dupstrip::config::DedupOptions;
use dupstrip::sketch::Sketch;
use dupstrip::synth::{TruthRow, score_pairs};

use crate::util::*;

fn clusters_of(env: &Env, name: &str) -> Vec<(String, Vec<String>)> {
    env.json_lines(name)
        .into_iter()
        .map(|c| {
            let members = c["members"]
                .as_array()
                .expect("members")
                .iter()
                .map(|m| m["id"].as_str().expect("id").to_string())
                .collect();
            (c["keep"].as_str().expect("keep").to_string(), members)
        })
        .collect()
}

/// On a generated corpus with planted near-duplicates (word edits, dropped and added
/// sentences, punctuation noise, Arabic and Persian letter variants, diacritics),
/// precision ≥ 0.98 and recall ≥ 0.95 against exact-Jaccard ground truth at the
/// default threshold.
#[test]
fn planted_duplicates_are_found() {
    let env = Env::new();
    env.synth(3000, 11);
    let out = env.run(&[
        "dedup",
        "corpus.jsonl",
        "-o",
        "out.jsonl",
        "--clusters",
        "clusters.jsonl",
        "--report",
        "report.json",
    ]);
    ok(&out);
    let texts: HashMap<String, String> = env
        .json_lines("corpus.jsonl")
        .into_iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().into(),
                v["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    let truth: Vec<TruthRow> = env
        .json_lines("truth.jsonl")
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
    let cfg = DedupOptions::default().validate().unwrap();
    let s = score_pairs(
        &texts,
        &truth,
        &clusters_of(&env, "clusters.jsonl"),
        &Sketch::new(&cfg),
        0.8,
    );
    assert!(s.true_pairs > 300, "{s:?}");
    assert!(s.precision >= 0.98, "{s:?}");
    assert!(s.recall >= 0.95, "{s:?}");
    let report = env.json("report.json");
    check_accounting(&report);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["lsh"]["s_curve"].as_array().unwrap().len(), 6);
}

/// The same input and options give byte-identical output, clusters and report
/// (timings and thread count aside) for 1, 2 and 8 threads.
#[test]
fn identical_output_at_any_thread_count() {
    let env = Env::new();
    env.synth(4000, 5);
    let mut seen: Option<(String, String, serde_json::Value)> = None;
    // -j 2 twice: two runs with the same options agree too.
    for j in ["1", "2", "8", "2"] {
        let o = format!("out{j}.jsonl");
        let c = format!("clusters{j}.jsonl");
        let r = format!("report{j}.json");
        ok(&env.run(&[
            "dedup",
            "corpus.jsonl",
            "-o",
            &o,
            "--clusters",
            &c,
            "--report",
            &r,
            "--mode",
            "annotate",
            "-j",
            j,
        ]));
        let mut report = env.json(&r);
        report["timings"] = serde_json::Value::Null;
        report["memory"] = serde_json::Value::Null;
        report["threads"] = serde_json::Value::Null;
        let now = (env.read(&o), env.read(&c), report);
        if let Some(prev) = &seen {
            assert!(prev.0 == now.0, "output differs at -j {j}");
            assert!(prev.1 == now.1, "clusters differ at -j {j}");
            assert_eq!(prev.2, now.2, "report differs at -j {j}");
        }
        seen = Some(now);
    }
}

fn corpus_with_copies(env: &Env) {
    let story = words(0..120);
    let copy = format!("{} zzedit {}", words(0..60), words(61..120));
    let other = words(500..620);
    let lines = [
        serde_json::json!({"id": "a", "src": "x", "text": story}),
        serde_json::json!({"id": "b", "text": other}),
        serde_json::json!({"text": copy, "id": "c", "n": [1, 2]}),
        serde_json::json!({"id": "d", "text": format!("{story}!")}),
        serde_json::json!({"id": "e", "text": format!("{story} {}", words(120..126))}),
    ];
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    env.write("in.jsonl", body);
}

#[test]
fn drop_mode_writes_kept_records_unchanged() {
    let env = Env::new();
    corpus_with_copies(&env);
    ok(&env.run(&["dedup", "in.jsonl", "-o", "out.jsonl", "--report", "r.json"]));
    let input: Vec<String> = env.read("in.jsonl").lines().map(String::from).collect();
    let output: Vec<String> = env.read("out.jsonl").lines().map(String::from).collect();
    assert_eq!(output, vec![input[0].clone(), input[1].clone()]);
    let r = env.json("r.json");
    check_accounting(&r);
    assert_eq!(r["documents"]["duplicates"], 3);
    assert_eq!(r["documents"]["clusters"], 1);
}

/// Records end in `\n`, `\r\n` or nothing (the last line); blank lines sit
/// between them. Kept records are written unchanged, each ending in one `\n`.
#[test]
fn line_terminators_in_drop_mode() {
    let env = Env::new();
    let story = words(0..80);
    let rec = |id: &str, text: &str| serde_json::json!({"id": id, "text": text}).to_string();
    let (a, b, c, d, e) = (
        rec("a", &story),
        rec("b", &words(100..180)),
        rec("c", &story),
        rec("d", &words(200..280)),
        rec("e", &words(300..380)),
    );
    env.write("in.jsonl", format!("{a}\r\n\n{b}\n{c}\n\n{d}\r\n{e}"));
    ok(&env.run(&["dedup", "in.jsonl", "-o", "out.jsonl"]));
    assert_eq!(env.read("out.jsonl"), format!("{a}\n{b}\n{d}\n{e}\n"));
}

/// Under a memory limit small enough that signatures and band keys both spill to
/// temporary files, the output, the clusters and the counts are the same.
#[test]
fn mem_limit_spills_with_the_same_results() {
    let env = Env::new();
    env.synth(6000, 3);
    let tmp = env.path("spill");
    std::fs::create_dir_all(&tmp).expect("mkdir");
    for (name, limit) in [("free", None), ("capped", Some("256K"))] {
        let (o, c, r) = (
            format!("{name}.jsonl"),
            format!("{name}.clusters.jsonl"),
            format!("{name}.json"),
        );
        let mut args = vec![
            "dedup",
            "corpus.jsonl",
            "-o",
            &o,
            "--clusters",
            &c,
            "--report",
            &r,
            "--tmp-dir",
            "spill",
        ];
        if let Some(l) = limit {
            args.extend(["--mem-limit", l]);
        }
        ok(&env.run(&args));
    }
    assert!(env.read("free.jsonl") == env.read("capped.jsonl"));
    assert!(env.read("free.clusters.jsonl") == env.read("capped.clusters.jsonl"));
    let (free, capped) = (env.json("free.json"), env.json("capped.json"));
    assert_eq!(free["documents"], capped["documents"]);
    assert_eq!(free["candidates"]["band_runs"], 0);
    assert!(capped["candidates"]["band_runs"].as_u64().unwrap_or(0) > 1);
    // Spill files are unnamed: nothing is left in the directory.
    assert_eq!(std::fs::read_dir(&tmp).expect("dir").count(), 0);
    fails_with(
        &env.run(&[
            "dedup",
            "corpus.jsonl",
            "-o",
            "x.jsonl",
            "--mem-limit",
            "10K",
        ]),
        "--mem-limit must be at least 256K",
    );
    fails_with(
        &env.run(&[
            "dedup",
            "corpus.jsonl",
            "-o",
            "x.jsonl",
            "--mem-limit",
            "lots",
        ]),
        "not a size",
    );
}

#[test]
fn annotate_mode_and_clusters_file() {
    let env = Env::new();
    corpus_with_copies(&env);
    ok(&env.run(&[
        "dedup",
        "in.jsonl",
        "-o",
        "out.jsonl",
        "--mode",
        "annotate",
        "--clusters",
        "cl.jsonl",
    ]));
    let out = env.json_lines("out.jsonl");
    assert_eq!(out.len(), 5);
    assert_eq!(out[0]["dupstrip"]["cluster"], 0);
    assert_eq!(out[0]["dupstrip"]["duplicate_of"], serde_json::Value::Null);
    assert_eq!(out[0]["src"], "x");
    assert_eq!(out[1]["dupstrip"]["cluster"], serde_json::Value::Null);
    for i in [2, 3, 4] {
        assert_eq!(out[i]["dupstrip"]["duplicate_of"], "a", "{}", out[i]);
        let s = out[i]["dupstrip"]["similarity"].as_f64().unwrap();
        assert!((0.8..=1.0).contains(&s));
    }
    assert_eq!(out[2]["n"], serde_json::json!([1, 2]));
    let cl = env.json_lines("cl.jsonl");
    assert_eq!(cl.len(), 1);
    assert_eq!(cl[0]["keep"], "a");
    let ids: Vec<&str> = cl[0]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "c", "d", "e"]);
}

#[test]
fn keep_longest() {
    let env = Env::new();
    corpus_with_copies(&env);
    ok(&env.run(&["dedup", "in.jsonl", "-o", "out.jsonl", "--keep", "longest"]));
    let ids: Vec<String> = env
        .json_lines("out.jsonl")
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["b", "e"]);
}

/// A ≈ B and B ≈ C but A ≉ C: C must not be dropped as a copy of A through B.
#[test]
fn chained_documents_are_not_merged() {
    let env = Env::new();
    let docs = [
        ("A", words(0..100)),
        ("B", words(10..110)),
        ("C", words(20..120)),
    ];
    let body: String = docs
        .iter()
        .map(|(id, t)| format!("{}\n", serde_json::json!({"id": id, "text": t})))
        .collect();
    env.write("in.jsonl", body);
    ok(&env.run(&[
        "dedup",
        "in.jsonl",
        "-o",
        "out.jsonl",
        "--verify",
        "exact",
        "--clusters",
        "cl.jsonl",
    ]));
    let ids: Vec<String> = env
        .json_lines("out.jsonl")
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["A", "C"]);
}

#[test]
fn verify_modes_agree_on_generated_corpus() {
    let env = Env::new();
    env.synth(1500, 9);
    for v in ["auto", "exact"] {
        ok(&env.run(&[
            "dedup",
            "corpus.jsonl",
            "-o",
            &format!("{v}.jsonl"),
            "--verify",
            v,
            "--report",
            &format!("{v}.json"),
        ]));
    }
    assert!(env.read("auto.jsonl") == env.read("exact.jsonl"));
    let exact = env.json("exact.json");
    assert!(exact["verification"]["exact_checks"].as_u64().unwrap() > 0);
}

#[test]
fn samples_quick_start_finds_copies() {
    let env = Env::new();
    let samples = repo("samples");
    let out = env.run(&[
        "dedup",
        samples.join("news.jsonl").to_str().unwrap(),
        "-o",
        "out.jsonl",
        "--report",
        "r.json",
    ]);
    ok(&out);
    assert!(stderr(&out).contains("near-duplicates"));
    let r = env.json("r.json");
    check_accounting(&r);
    // The three exact copies at least.
    assert!(
        r["documents"]["duplicates"].as_u64().unwrap() >= 3,
        "{}",
        r["documents"]
    );
}

#[test]
fn help_lists_examples_and_options() {
    let env = Env::new();
    let out = env.run(&["dedup", "--help"]);
    ok(&out);
    let help = stdout(&out);
    for flag in [
        "--threshold",
        "--ngram",
        "--num-perm",
        "--mode",
        "--keep",
        "--clusters",
        "--report",
        "--text-field",
        "--id-field",
        "--threads",
        "--seed",
        "--verify",
        "Examples:",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}
