//! `dupstrip clean` and `dupstrip boilerplate learn|strip` end to end.

use dupstrip::synth::{TruthRow, score_clean};

use crate::util::*;

/// On a generated news corpus (12 outlets with their own layouts, templated date,
/// source and tag lines, appended "Read also" articles, stories syndicated to 3–5
/// outlets with edits, Arabic and English): boilerplate line precision ≥ 0.98 and
/// recall ≥ 0.95, no line of a syndicated story stripped, pair F1 ≥ 0.95.
#[test]
fn clean_strips_boilerplate_and_finds_syndicated_copies() {
    let env = Env::new();
    env.synth_news(1500, 21);
    ok(&env.run(&[
        "clean",
        "news.jsonl",
        "-o",
        "annotated.jsonl",
        "--mode",
        "annotate",
        "--report",
        "r.json",
    ]));
    let truth: Vec<TruthRow> = env
        .json_lines("truth.jsonl")
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
    let s = score_clean(&truth, &env.json_lines("annotated.jsonl"));
    assert!(s.boilerplate_lines_true > 5000, "{s:?}");
    assert!(s.boilerplate_line_precision >= 0.98, "{s:?}");
    assert!(s.boilerplate_line_recall >= 0.95, "{s:?}");
    assert_eq!(s.syndicated_body_lines_stripped, 0, "{s:?}");
    assert!(s.pair_f1 >= 0.95, "{s:?}");
    let r = env.json("r.json");
    check_accounting(&r);
    assert_eq!(r["command"], "clean");
    assert!(r["boilerplate"]["top_lines"].as_array().unwrap().len() > 2);
    assert!(
        r["boilerplate"]["removed"]["lines_removed"]
            .as_u64()
            .unwrap()
            > 5000
    );

    // Drop mode writes the stripped text of the kept documents, other fields intact.
    ok(&env.run(&["clean", "news.jsonl", "-o", "clean.jsonl"]));
    let cleaned = env.json_lines("clean.jsonl");
    let input = env.json_lines("news.jsonl");
    assert!(cleaned.len() < input.len());
    for doc in &cleaned {
        let text = doc["text"].as_str().unwrap();
        assert!(!text.contains("Read also:") && !text.contains("إقرأ أيضاً:"));
        assert!(!text.contains("Source:") && !text.contains("المصدر:"));
        assert!(doc["outlet"].is_string() && doc["lang"].is_string());
    }
}

#[test]
fn learn_then_strip_with_an_edited_rules_file() {
    let env = Env::new();
    env.synth_news(400, 3);
    let out = env.run(&["boilerplate", "learn", "news.jsonl", "-o", "rules.json"]);
    ok(&out);
    assert!(stderr(&out).contains("learned"));
    let mut rules = env.json("rules.json");
    assert_eq!(rules["format"], "dupstrip-rules");
    assert_eq!(rules["version"], 1);
    assert!(!rules["markers"].as_array().unwrap().is_empty());
    // A person adds a line of their own.
    rules["lines"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"line": "A line we never want"}));
    env.write("rules.json", serde_json::to_string_pretty(&rules).unwrap());
    env.write(
        "extra.jsonl",
        format!(
            "{}\n",
            serde_json::json!({"id": "x", "keep": [1, 2], "text": "first line\nA LINE we never want\nlast line"})
        ),
    );
    ok(&env.run(&[
        "boilerplate",
        "strip",
        "news.jsonl",
        "extra.jsonl",
        "--rules",
        "rules.json",
        "-o",
        "stripped.jsonl",
        "--report",
        "r.json",
    ]));
    let out = env.json_lines("stripped.jsonl");
    assert_eq!(out.len(), 401, "strip writes every document");
    let last = out.last().unwrap();
    assert_eq!(last["text"], "first line\nlast line");
    assert_eq!(last["keep"], serde_json::json!([1, 2]));
    let r = env.json("r.json");
    check_accounting(&r);
    assert_eq!(r["command"], "strip");
}

#[test]
fn bad_rules_files_are_refused() {
    let env = Env::new();
    env.write(
        "in.jsonl",
        format!("{}\n", serde_json::json!({"text": "a"})),
    );
    env.write("v2.json", r#"{"format": "dupstrip-rules", "version": 2}"#);
    env.write("junk.json", "not json");
    fails_with(
        &env.run(&["clean", "in.jsonl", "--rules", "v2.json", "-o", "o.jsonl"]),
        "v2.json: rules file version 2",
    );
    fails_with(
        &env.run(&["clean", "in.jsonl", "--rules", "junk.json", "-o", "o.jsonl"]),
        "junk.json: not a rules file",
    );
    fails_with(
        &env.run(&["boilerplate", "strip", "in.jsonl", "-o", "o.jsonl"]),
        "needs --rules",
    );
    fails_with(
        &env.run(&[
            "clean",
            "in.jsonl",
            "-o",
            "o.jsonl",
            "--save-rules",
            "in.jsonl",
        ]),
        "in.jsonl: the output would overwrite an input",
    );
    fails_with(
        &env.run(&["clean", "in.jsonl", "-o", "o.jsonl", "--min-fraction", "2"]),
        "--min-fraction must be between 0 and 1",
    );
}

#[test]
fn documents_stripped_to_nothing_are_counted() {
    let env = Env::new();
    env.write(
        "rules.json",
        r#"{"format": "dupstrip-rules", "version": 1, "lines": [{"line": "Advertisement"}]}"#,
    );
    env.write(
        "in.jsonl",
        format!(
            "{}\n{}\n",
            serde_json::json!({"id": "a", "text": "Advertisement"}),
            serde_json::json!({"id": "b", "text": words(0..30)})
        ),
    );
    for (policy, written) in [("drop", 1), ("keep", 2)] {
        ok(&env.run(&[
            "clean",
            "in.jsonl",
            "--rules",
            "rules.json",
            "-o",
            "o.jsonl",
            "--report",
            "r.json",
            "--on-empty",
            policy,
        ]));
        let r = env.json("r.json");
        check_accounting(&r);
        assert_eq!(r["documents"]["emptied"], 1);
        assert_eq!(r["documents"]["written"], written, "{policy}");
    }
}

#[test]
fn samples_quick_start_clean() {
    let env = Env::new();
    let samples = repo("samples/news.jsonl");
    let out = env.run(&[
        "clean",
        samples.to_str().unwrap(),
        "--min-docs",
        "3",
        "-o",
        "clean.jsonl",
        "--report",
        "r.json",
    ]);
    ok(&out);
    assert!(stderr(&out).contains("boilerplate:"));
    let r = env.json("r.json");
    check_accounting(&r);
    // 6 syndicated stories in 23 copies (17 duplicates) and 3 exact copies.
    assert!(
        r["documents"]["duplicates"].as_u64().unwrap() >= 18,
        "{}",
        r["documents"]
    );
    assert!(
        r["boilerplate"]["removed"]["lines_removed"]
            .as_u64()
            .unwrap()
            > 50
    );
}

#[test]
fn clean_is_identical_at_any_thread_count_and_ranges_match_the_text() {
    let env = Env::new();
    env.synth_news(800, 8);
    let mut prev: Option<(String, String, String)> = None;
    for j in ["1", "2", "8"] {
        for mode in ["annotate", "drop"] {
            let out = format!("{mode}{j}.jsonl");
            ok(&env.run(&[
                "clean",
                "news.jsonl",
                "-o",
                &out,
                "--mode",
                mode,
                "--save-rules",
                &format!("rules{j}.json"),
                "-j",
                j,
            ]));
        }
        let now = (
            env.read(&format!("annotate{j}.jsonl")),
            env.read(&format!("drop{j}.jsonl")),
            env.read(&format!("rules{j}.json")),
        );
        if let Some(p) = &prev {
            assert!(p == &now, "output differs at -j {j}");
        }
        prev = Some(now);
    }
    // Removing the annotated ranges from the original text gives the text that drop
    // mode writes (for documents kept in both).
    let dropped: std::collections::HashMap<String, String> = env
        .json_lines("drop1.jsonl")
        .into_iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().into(),
                v["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    let mut checked = 0;
    for v in env.json_lines("annotate1.jsonl") {
        let Some(stripped) = dropped.get(v["id"].as_str().unwrap()) else {
            continue;
        };
        let text = v["text"].as_str().unwrap();
        let mut rebuilt = String::new();
        let mut pos = 0;
        for r in v["dupstrip"]["boilerplate"].as_array().unwrap() {
            let (a, b) = (
                r[0].as_u64().unwrap() as usize,
                r[1].as_u64().unwrap() as usize,
            );
            rebuilt.push_str(&text[pos..a]);
            pos = b;
        }
        rebuilt.push_str(&text[pos..]);
        assert_eq!(rebuilt.trim_end(), stripped, "{}", v["id"]);
        checked += 1;
    }
    assert!(checked > 400);
}

#[test]
fn record_with_lone_surrogate_is_stripped_too() {
    let env = Env::new();
    env.write(
        "rules.json",
        r#"{"format": "dupstrip-rules", "version": 1, "lines": [{"line": "Advertisement"}]}"#,
    );
    env.write(
        "in.jsonl",
        "{\"id\": \"s\", \"text\": \"keep \\ud800 this\\nAdvertisement\\nand this\", \"n\": 1}\n",
    );
    ok(&env.run(&[
        "clean",
        "in.jsonl",
        "--rules",
        "rules.json",
        "-o",
        "o.jsonl",
    ]));
    let out = env.json_lines("o.jsonl");
    assert_eq!(out[0]["text"], "keep \u{fffd} this\nand this");
    assert_eq!(out[0]["n"], 1);
}

/// `clean` learns its rules' first examples before stripping and searches the
/// further examples of templates while it strips (one read less); the rules it saves
/// and reports are still those `boilerplate learn` writes, which searches them all
/// first, and the output is that of stripping with them.
#[test]
fn clean_saves_the_rules_boilerplate_learn_learns() {
    let env = Env::new();
    env.synth_news(1200, 31);
    env.synth_random_layouts(1200, 32, "random.jsonl", "random-truth.jsonl");
    for corpus in ["news.jsonl", "random.jsonl"] {
        ok(&env.run(&["boilerplate", "learn", corpus, "-o", "learned.json"]));
        let learned = env.read("learned.json");
        let rules: serde_json::Value = serde_json::from_str(&learned).unwrap();
        // Some template has fewer than three distinct examples in the whole corpus,
        // so the search for them reads it all (a `© 2024` line of one site, say), and
        // others have all three.
        let templates = rules["templates"].as_array().unwrap();
        let counts: Vec<usize> = templates
            .iter()
            .map(|t| t["examples"].as_array().unwrap().len())
            .collect();
        assert!(counts.contains(&3), "{corpus}: {counts:?}");
        assert!(counts.iter().any(|&n| n < 3), "{corpus}: {counts:?}");
        for j in ["1", "2"] {
            ok(&env.run(&[
                "clean",
                corpus,
                "-o",
                "clean.jsonl",
                "--save-rules",
                "saved.json",
                "--report",
                "r.json",
                "-j",
                j,
            ]));
            assert!(env.read("saved.json") == learned, "{corpus} -j {j}");
            let r = env.json("r.json");
            let top: Vec<&serde_json::Value> = templates.iter().take(20).collect();
            let reported: Vec<&serde_json::Value> = r["boilerplate"]["top_templates"]
                .as_array()
                .unwrap()
                .iter()
                .collect();
            assert_eq!(reported, top, "{corpus} -j {j}");
            // Stripping with the saved rules and deduplicating gives the same output.
            ok(&env.run(&[
                "clean",
                corpus,
                "-o",
                "with-rules.jsonl",
                "--rules",
                "saved.json",
                "-j",
                j,
            ]));
            assert!(env.read("with-rules.jsonl") == env.read("clean.jsonl"));
        }
    }
}

/// A rare line rule whose pages come last (after every other rule has an example,
/// behind a bad record and id-less records) is found by `clean`'s search of its
/// stories' pages (and no other): `clean` strips as it does with the rules
/// `boilerplate learn` finds by reading every page.
#[test]
fn rare_lines_found_last_strip_as_learned_rules_do() {
    let env = Env::new();
    // Over 4 chunks of 1 MB: at -j 1, the first-example search reads 2 at a time.
    env.synth_news(1500, 41);
    let mut corpus = env.read("news.jsonl");
    corpus.push_str("{\"id\": \"broken\", \"text\": \n");
    corpus.push_str(&format!("{}\n", serde_json::json!({"text": words(0..40)})));
    let rare = "Subscribe to the weekly letter of this rare outlet";
    for story in 0..6 {
        let body = |k: usize| words(story * 200 + k * 40..story * 200 + k * 40 + 30) + ".";
        let text = format!("{}\n{}\n{rare}\n{}\n{}", body(0), body(1), body(2), body(3));
        // Every other one without an id, and each followed by a page without the
        // line: a page read in place of its neighbour finds nothing.
        let id = format!("rare-{story}");
        let page = match story % 2 {
            0 => serde_json::json!({"id": id, "text": text}),
            _ => serde_json::json!({"text": text}),
        };
        let other = words(5000 + story * 50..5000 + story * 50 + 40);
        corpus.push_str(&format!("{page}\n{}\n", serde_json::json!({"text": other})));
    }
    env.write("in.jsonl", corpus);
    let common = ["--skip-bad-records", "--min-docs", "5", "-j", "1"];
    let run = |args: &[&str]| ok(&env.run(&[args, &common[..]].concat()));
    run(&["boilerplate", "learn", "in.jsonl", "-o", "learned.json"]);
    let learned = env.read("learned.json");
    assert!(learned.contains(rare), "the rare line is a rule: {learned}");
    run(&["clean", "in.jsonl", "-o", "a.jsonl", "--report", "a.json"]);
    run(&[
        "clean",
        "in.jsonl",
        "--rules",
        "learned.json",
        "-o",
        "b.jsonl",
        "--report",
        "b.json",
    ]);
    let a = env.read("a.jsonl");
    assert!(
        a == env.read("b.jsonl"),
        "clean and clean --rules wrote different output"
    );
    assert!(a.contains("rare-0") && !a.contains(rare));
    // The run that learned stripped every page as learning read it (the bad record
    // has none), unless its temporary files would sit in memory (a tmpfs, where it
    // keeps none); the one given rules read them.
    let (ra, rb) = (env.json("a.json"), env.json("b.json"));
    let docs = ra["documents"]["read"].as_u64().unwrap();
    let rejected = ra["documents"]["rejected"].as_u64().unwrap();
    assert_eq!(rejected, 1);
    let reused = |r: &serde_json::Value| r["boilerplate"]["removed"]["pages_from_learning"].clone();
    let kind = std::process::Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(std::env::temp_dir())
        .output()
        .expect("stat");
    let in_memory = matches!(
        String::from_utf8_lossy(&kind.stdout).trim(),
        "tmpfs" | "ramfs"
    );
    // Pages are kept on Linux only (where the file system's kind is known).
    let expected = if in_memory || !cfg!(target_os = "linux") {
        0
    } else {
        docs - rejected
    };
    assert_eq!(reused(&ra), expected, "{ra:#}");
    assert_eq!(reused(&rb), 0);
}

/// The pages learning keeps are found again on every kind of input: a gzip stream,
/// a mapped file, text files and a file read without mapping, in one run; the output
/// is the one `clean --rules` writes with the same rules, which reads every page.
#[test]
fn kept_pages_serve_every_kind_of_input() {
    use std::io::Write;
    let env = Env::new();
    env.synth_news(900, 43);
    let news = env.read("news.jsonl");
    let lines: Vec<&str> = news.lines().collect();
    let (first, rest) = lines.split_at(400);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all((first.join("\n") + "\n").as_bytes()).unwrap();
    env.write("a.jsonl.gz", e.finish().unwrap());
    env.write("b.jsonl", rest.join("\n") + "\n");
    for (i, line) in rest.iter().take(3).enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        env.write(&format!("t{i}.txt"), v["text"].as_str().unwrap());
    }
    let inputs = ["a.jsonl.gz", "b.jsonl", "t0.txt", "t1.txt", "t2.txt"];
    let run = |args: &[&str]| ok(&env.run(&[&["clean"][..], &inputs[..], args].concat()));
    for mmap in [true, false] {
        let no_mmap: &[&str] = if mmap { &[] } else { &["--no-mmap"] };
        run(&[
            &[
                "-o",
                "out-a.jsonl",
                "--report",
                "a.json",
                "--save-rules",
                "r.json",
            ],
            no_mmap,
        ]
        .concat());
        run(&[&["-o", "out-b.jsonl", "--rules", "r.json"], no_mmap].concat());
        assert!(
            env.read("out-a.jsonl") == env.read("out-b.jsonl"),
            "mmap {mmap}"
        );
        let r = env.json("a.json");
        let read = r["documents"]["read"].as_u64().unwrap();
        assert_eq!(read, 903);
        let kind = std::process::Command::new("stat")
            .args(["-f", "-c", "%T"])
            .arg(std::env::temp_dir())
            .output()
            .expect("stat");
        if cfg!(target_os = "linux")
            && !matches!(
                String::from_utf8_lossy(&kind.stdout).trim(),
                "tmpfs" | "ramfs"
            )
        {
            assert_eq!(
                r["boilerplate"]["removed"]["pages_from_learning"], read,
                "mmap {mmap}"
            );
        }
    }
}
