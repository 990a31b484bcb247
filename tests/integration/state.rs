//! `--state DIR` (nightly runs against everything kept before) and `dupstrip state`.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use crate::util::*;

/// Split `corpus.jsonl` into `days` files `day0.jsonl`, … by line number modulo
/// `days` (copies of one story land on different days), and their concatenation
/// `all.jsonl`.
fn split_days(env: &Env, days: usize) {
    let text = env.read("corpus.jsonl");
    let mut parts = vec![String::new(); days];
    for (i, line) in text.lines().enumerate() {
        parts[i % days].push_str(line);
        parts[i % days].push('\n');
    }
    for (i, p) in parts.iter().enumerate() {
        env.write(&format!("day{i}.jsonl"), p);
    }
    env.write("all.jsonl", parts.concat());
}

fn stats(env: &Env, dir: &str) -> serde_json::Value {
    let out = env.run(&["state", "stats", dir, "--json"]);
    ok(&out);
    serde_json::from_str(&stdout(&out)).expect("stats json")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Files of a state directory, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn runs_with_a_state_drop_what_one_run_over_all_days_drops() {
    let env = Env::new();
    env.synth(6000, 31);
    split_days(&env, 3);
    let common = ["--verify", "estimate", "-q"];
    let mut one = vec!["dedup", "all.jsonl", "-o", "one.jsonl"];
    one.extend(common);
    ok(&env.run(&one));
    let mut copies_of_state = 0;
    let mut written = String::new();
    for d in 0..3 {
        let (input, out, report) = (
            format!("day{d}.jsonl"),
            format!("out{d}.jsonl"),
            format!("r{d}.json"),
        );
        let mut args = vec![
            "dedup", &input, "-o", &out, "--state", "st", "--report", &report,
        ];
        args.extend(common);
        ok(&env.run(&args));
        let r = env.json(&report);
        check_accounting(&r);
        assert_eq!(r["state"]["run"], d + 1);
        copies_of_state += r["state"]["duplicates_of_state"].as_u64().unwrap();
        written += &env.read(&out);
    }
    // Copies across days exist and were found through the state.
    assert!(copies_of_state > 500, "{copies_of_state}");
    assert!(
        written == env.read("one.jsonl"),
        "day by day differs from one run"
    );
    // One thread gives the same output and the same state files, byte for byte.
    for d in 0..3 {
        let input = format!("day{d}.jsonl");
        let mut args = vec![
            "dedup", &input, "-o", "j1.jsonl", "--state", "st1", "-j", "1",
        ];
        args.extend(common);
        ok(&env.run(&args));
        assert!(env.read("j1.jsonl") == env.read(&format!("out{d}.jsonl")));
    }
    for f in files(&env.path("st")) {
        if f.ends_with(".dss") || f.ends_with(".dsb") {
            let (a, b) = (format!("st/{f}"), format!("st1/{f}"));
            assert!(
                std::fs::read(env.path(&a)).unwrap() == std::fs::read(env.path(&b)).unwrap(),
                "{f}"
            );
        }
    }
    let s = stats(&env, "st");
    assert_eq!(s["runs"].as_array().unwrap().len(), 3);
    assert_eq!(
        s["documents"].as_u64().unwrap() as usize,
        env.read("one.jsonl").lines().count()
    );
}

#[test]
fn clean_with_a_state_and_fixed_rules_drops_what_one_run_drops() {
    let env = Env::new();
    env.synth_news(1500, 32);
    std::fs::rename(env.path("news.jsonl"), env.path("corpus.jsonl")).unwrap();
    split_days(&env, 2);
    ok(&env.run(&[
        "boilerplate",
        "learn",
        "all.jsonl",
        "-o",
        "rules.json",
        "-q",
    ]));
    let common = ["--rules", "rules.json", "--verify", "estimate", "-q"];
    let mut one = vec!["clean", "all.jsonl", "-o", "one.jsonl"];
    one.extend(common);
    ok(&env.run(&one));
    let mut written = String::new();
    for d in 0..2 {
        let (input, out) = (format!("day{d}.jsonl"), format!("out{d}.jsonl"));
        let mut args = vec!["clean", &input, "-o", &out, "--state", "st"];
        args.extend(common);
        ok(&env.run(&args));
        written += &env.read(&out);
    }
    assert!(
        written == env.read("one.jsonl"),
        "day by day differs from one run"
    );
}

#[test]
fn exact_copies_are_found_by_id_and_by_text() {
    let env = Env::new();
    let rec = |id: Option<&str>, text: String| {
        let mut m = serde_json::Map::new();
        if let Some(id) = id {
            m.insert("id".into(), id.into());
        }
        m.insert("text".into(), text.into());
        serde_json::Value::Object(m).to_string() + "\n"
    };
    env.write(
        "d1/x.jsonl",
        [
            rec(Some("a"), words(0..60)),
            rec(Some("b"), words(100..160)),
            rec(None, words(2000..2060)),
        ]
        .concat(),
    );
    env.write(
        "d2/x.jsonl",
        [
            // The same id with other text, the same text under another id, a new
            // document, and one without an id at the same file name and line as a
            // document of day 1 (made-up ids are never matched).
            rec(Some("a"), words(500..560)),
            rec(Some("c"), words(100..160)),
            rec(Some("d"), words(1000..1060)),
            rec(None, words(3000..3060)),
        ]
        .concat(),
    );
    ok(&env.run(&[
        "dedup",
        "d1/x.jsonl",
        "-o",
        "o1.jsonl",
        "--state",
        "st",
        "-q",
    ]));
    ok(&env.run(&[
        "dedup",
        "d2/x.jsonl",
        "-o",
        "o2.jsonl",
        "--state",
        "st",
        "--mode",
        "annotate",
        "--report",
        "r2.json",
        "--clusters",
        "c2.jsonl",
        "-q",
    ]));
    let notes: Vec<serde_json::Value> = env
        .json_lines("o2.jsonl")
        .into_iter()
        .map(|r| r["dupstrip"].clone())
        .collect();
    assert_eq!(notes[0]["duplicate_of"], "a");
    assert_eq!(notes[1]["duplicate_of"], "b");
    assert_eq!(notes[1]["similarity"], 1.0);
    assert!(notes[2]["duplicate_of"].is_null());
    assert!(notes[3]["duplicate_of"].is_null());
    let r = env.json("r2.json");
    assert_eq!(r["state"]["duplicates_of_state"], 2);
    assert_eq!(r["state"]["added"], 2);
    assert_eq!(r["state"]["id_matches_below_threshold"], 1);
    // Clusters name the state's document as the one kept.
    let clusters = env.json_lines("c2.jsonl");
    let keeps: Vec<&str> = clusters
        .iter()
        .map(|c| c["keep"].as_str().unwrap())
        .collect();
    assert_eq!(keeps, ["a", "b"]);
    // Day 1's input again (not the last run, so not a repeat): every document is
    // already in the state.
    ok(&env.run(&[
        "dedup",
        "d1/x.jsonl",
        "-o",
        "o3.jsonl",
        "--state",
        "st",
        "--report",
        "r3.json",
        "-q",
    ]));
    assert_eq!(env.read("o3.jsonl"), "");
    assert_eq!(env.json("r3.json")["state"]["duplicates_of_state"], 3);
    // Where ids are not stable, --no-id-match keeps "a" of day 2 (other text).
    ok(&env.run(&[
        "dedup",
        "d1/x.jsonl",
        "-o",
        "o1b.jsonl",
        "--state",
        "st2",
        "-q",
    ]));
    let out = env.run(&[
        "dedup",
        "d2/x.jsonl",
        "-o",
        "o2b.jsonl",
        "--state",
        "st2",
        "--no-id-match",
    ]);
    ok(&out);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let kept: Vec<String> = env
        .json_lines("o2b.jsonl")
        .iter()
        .map(|r| r["id"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(kept, ["a", "d", ""]);
}

/// A line printed under a few unrelated articles a day is not boilerplate on day 1
/// (3 stories, --min-docs 5) but is on day 2: the counts add up across runs.
#[test]
fn boilerplate_statistics_accumulate_across_runs() {
    let env = Env::new();
    let follow = "Follow Zorblat News on the Zorblat app";
    let day = |base: usize| -> String {
        (0..3)
            .map(|i| {
                let b = base + i * 300;
                let text = format!(
                    "{}\n{}\n{follow}\n{}",
                    words(b..b + 40),
                    words(b + 40..b + 80),
                    words(b + 80..b + 120)
                );
                serde_json::json!({"id": format!("n{b}"), "text": text}).to_string() + "\n"
            })
            .collect()
    };
    env.write("day1.jsonl", day(0));
    env.write("day2.jsonl", day(5000));
    ok(&env.run(&[
        "clean",
        "day1.jsonl",
        "-o",
        "o1.jsonl",
        "--state",
        "st",
        "-q",
    ]));
    ok(&env.run(&["state", "rules", "st", "-o", "rules1.json"]));
    let has_rule = |name: &str| {
        env.json(name)["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["line"] == follow)
    };
    assert!(!has_rule("rules1.json"));
    assert!(env.read("o1.jsonl").contains(follow));
    // Day 2 alone is no different from day 1 ...
    ok(&env.run(&["clean", "day2.jsonl", "-o", "alone.jsonl", "-q"]));
    assert!(env.read("alone.jsonl").contains(follow));
    // ... but with the state the line has been seen in 6 stories.
    ok(&env.run(&[
        "clean",
        "day2.jsonl",
        "-o",
        "o2.jsonl",
        "--state",
        "st",
        "-q",
    ]));
    assert!(!env.read("o2.jsonl").contains(follow));
    assert_eq!(env.json_lines("o2.jsonl").len(), 3);
    ok(&env.run(&["state", "rules", "st", "-o", "rules2.json"]));
    assert!(has_rule("rules2.json"));
    let s = stats(&env, "st");
    assert_eq!(s["boilerplate"]["documents"], 6);
}

/// A story republished (lightly edited) on six days is one story, not six: its lines
/// stay content, while a line printed under unrelated articles becomes a rule.
#[test]
fn a_story_republished_on_many_days_is_counted_once() {
    let env = Env::new();
    let follow = "Follow Zorblat News on the Zorblat app";
    let story: Vec<String> = (0..5)
        .map(|i| words(9000 + i * 40..9040 + i * 40))
        .collect();
    for day in 0..6 {
        let mut lines = String::new();
        for i in 0..3 {
            let b = day * 1000 + i * 300;
            let text = format!("{}\n{}\n{follow}", words(b..b + 40), words(b + 40..b + 80));
            lines += &(serde_json::json!({"id": format!("n{b}"), "text": text}).to_string() + "\n");
        }
        let mut copy = story.clone();
        copy[day % 5] = copy[day % 5].replacen(' ', &format!(" edit{day} "), 1);
        lines += &(serde_json::json!({"id": format!("s{day}"), "text": copy.join("\n")})
            .to_string()
            + "\n");
        let input = format!("day{day}.jsonl");
        env.write(&input, lines);
        let report = format!("r{day}.json");
        ok(&env.run(&[
            "clean", &input, "-o", "o.jsonl", "--state", "st", "--report", &report, "-q",
        ]));
        let copies = env.json(&report)["state"]["duplicates_of_state"]
            .as_u64()
            .unwrap();
        assert_eq!(copies, u64::from(day > 0), "day {day}");
    }
    ok(&env.run(&["state", "rules", "st", "-o", "rules.json"]));
    let rules = env.json("rules.json");
    let lines: Vec<&str> = rules["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line"].as_str().unwrap())
        .collect();
    assert_eq!(lines, [follow]);
    assert_eq!(stats(&env, "st")["boilerplate"]["stories"], 19);
}

#[test]
fn sigkill_during_the_state_update_never_corrupts_it() {
    let env = Env::new();
    env.synth(3000, 33);
    split_days(&env, 4);
    let run = |dir: &str, day: usize, out: &str| {
        env.run(&[
            "dedup",
            &format!("day{day}.jsonl"),
            "-o",
            out,
            "--state",
            dir,
            "-q",
        ])
    };
    // The reference: four runs, the fourth merging four one-run segments.
    for d in 0..4 {
        ok(&run("ref", d, &format!("ref{d}.jsonl")));
    }
    let reference = stats(&env, "ref");
    assert_eq!(reference["segments"].as_array().unwrap().len(), 1);
    for d in 0..3 {
        ok(&run("base", d, "base.jsonl"));
    }
    // Killed at any step, the state opens with every checksum sound; repeating the
    // night writes what an uninterrupted run wrote and leaves the state the
    // reference's. (Past the rename the run is committed; its repeat replaces it.)
    let check = |dir: &str, what: &str| {
        let s = stats(&env, dir);
        let runs = s["runs"].as_array().unwrap().len();
        assert!(runs == 3 || runs == 4, "{what}: {runs} runs");
        ok(&run(dir, 3, "again.jsonl"));
        assert!(env.read("again.jsonl") == env.read("ref3.jsonl"), "{what}");
        let after = stats(&env, dir);
        assert_eq!(after["documents"], reference["documents"], "{what}");
        assert_eq!(after["runs"].as_array().unwrap().len(), 4, "{what}");
        for f in files(&env.path(dir)) {
            assert!(
                ["LOCK", "MANIFEST", "MANIFEST.prev"].contains(&f.as_str()) || f.ends_with(".dss"),
                "{what}: leftover {f}"
            );
        }
        runs
    };
    let day3 = |dir: &str| {
        ["dedup", "day3.jsonl", "-o", "k.jsonl", "--state", dir, "-q"].map(String::from)
    };
    let points = [
        "segment-written",
        "merge-written",
        "manifest-written",
        "manifest-renamed",
    ];
    for point in points {
        let dir = format!("s-{point}");
        copy_dir(&env.path("base"), &env.path(&dir));
        let out = env
            .cmd()
            .env("DUPSTRIP_TEST_KILL_AT", point)
            .args(day3(&dir))
            .output()
            .unwrap();
        assert_eq!(out.status.signal(), Some(9), "{point}: {}", stderr(&out));
        let runs = check(&dir, point);
        assert_eq!(
            runs,
            if point == "manifest-renamed" { 4 } else { 3 },
            "{point}"
        );
    }
    // Kills at moments chosen by the clock rather than by the program.
    for delay_ms in [5u64, 40, 120, 250] {
        let dir = format!("t-{delay_ms}");
        copy_dir(&env.path("base"), &env.path(&dir));
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dupstrip"))
            .current_dir(env.dir.path())
            .args(day3(&dir))
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        check(&dir, &format!("{delay_ms} ms"));
    }
}

/// A night repeated after it committed (the cron job mailed a failure writing the
/// report, say) replaces that night: same output, same state.
#[test]
fn repeating_the_last_night_replaces_it() {
    let env = Env::new();
    env.synth(1500, 36);
    split_days(&env, 3);
    for d in 0..3 {
        let input = format!("day{d}.jsonl");
        let out = format!("out{d}.jsonl");
        ok(&env.run(&[
            "dedup", &input, "-o", &out, "--state", "st", "--verify", "estimate", "-q",
        ]));
    }
    let before = stats(&env, "st");
    ok(&env.run(&[
        "dedup",
        "day2.jsonl",
        "-o",
        "again.jsonl",
        "--state",
        "st",
        "--verify",
        "estimate",
        "--report",
        "r.json",
    ]));
    assert!(env.read("again.jsonl") == env.read("out2.jsonl"));
    let r = env.json("r.json");
    assert_eq!(r["state"]["replaced_run"], 3);
    assert_eq!(r["state"]["run"], 3);
    let after = stats(&env, "st");
    assert_eq!(after["documents"], before["documents"]);
    assert_eq!(after["runs"].as_array().unwrap().len(), 3);
    // An earlier night again is not a repeat: its documents are in the state.
    ok(&env.run(&[
        "dedup",
        "day0.jsonl",
        "-o",
        "old.jsonl",
        "--state",
        "st",
        "--verify",
        "estimate",
        "--report",
        "r0.json",
        "-q",
    ]));
    assert_eq!(env.read("old.jsonl"), "");
    assert!(env.json("r0.json")["state"]["replaced_run"].is_null());
}

#[test]
fn a_second_run_on_a_locked_state_is_refused() {
    let env = Env::new();
    env.write("a.jsonl", format!("{{\"text\":\"{}\"}}\n", words(0..40)));
    ok(&env.run(&["dedup", "a.jsonl", "-o", "o.jsonl", "--state", "st", "-q"]));
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(env.path("st/LOCK"))
        .unwrap();
    lock.try_lock().unwrap();
    fails_with(
        &env.run(&["dedup", "a.jsonl", "-o", "o2.jsonl", "--state", "st"]),
        "is in use by another dupstrip run",
    );
    fails_with(
        &env.run(&["state", "compact", "st"]),
        "in use by another dupstrip run",
    );
    // Reading needs no lock.
    ok(&env.run(&["state", "stats", "st"]));
    drop(lock);
    ok(&env.run(&["dedup", "a.jsonl", "-o", "o2.jsonl", "--state", "st", "-q"]));
}

#[test]
fn other_parameters_versions_and_corruption_are_refused() {
    let env = Env::new();
    env.synth(200, 34);
    ok(&env.run(&[
        "dedup",
        "corpus.jsonl",
        "-o",
        "o.jsonl",
        "--state",
        "st",
        "-q",
    ]));
    fails_with(
        &env.run(&[
            "dedup",
            "corpus.jsonl",
            "-o",
            "o.jsonl",
            "--state",
            "st",
            "--ngram",
            "3",
        ]),
        "shingle (--shingle, --ngram, --char-ngram): state {\"kind\":\"word\",\"n\":5",
    );
    fails_with(
        &env.run(&[
            "clean",
            "corpus.jsonl",
            "-o",
            "o.jsonl",
            "--state",
            "st",
            "--ngram",
            "5",
            "--threshold",
            "0.8",
        ]),
        "stripped (the command: clean signs stripped text, dedup raw text): state false, this run true",
    );
    // A state written by a future format.
    copy_dir(&env.path("st"), &env.path("future"));
    let m = env
        .read("future/MANIFEST")
        .replace("\"version\": 1,", "\"version\": 9,");
    env.write("future/MANIFEST", m);
    fails_with(
        &env.run(&[
            "dedup",
            "corpus.jsonl",
            "-o",
            "o.jsonl",
            "--state",
            "future",
        ]),
        "state format version 9, written by dupstrip",
    );
    fails_with(&env.run(&["state", "stats", "future"]), "reads version 1");
    // A flipped byte in a segment.
    copy_dir(&env.path("st"), &env.path("bad"));
    let seg = files(&env.path("bad"))
        .into_iter()
        .find(|f| f.ends_with(".dss"))
        .unwrap();
    let mut bytes = std::fs::read(env.path(&format!("bad/{seg}"))).unwrap();
    bytes[100] ^= 0x40;
    env.write(&format!("bad/{seg}"), bytes);
    fails_with(
        &env.run(&["dedup", "corpus.jsonl", "-o", "o.jsonl", "--state", "bad"]),
        "corrupt state file: checksum mismatch",
    );
    // A directory that holds something else.
    env.write("other/notes.txt", "mine");
    fails_with(
        &env.run(&["dedup", "corpus.jsonl", "-o", "o.jsonl", "--state", "other"]),
        "not a dupstrip state directory",
    );
    fails_with(&env.run(&["state", "stats", "nowhere"]), "has no MANIFEST");
}

#[test]
fn compact_merges_segments_without_changing_results() {
    let env = Env::new();
    env.synth(2000, 35);
    split_days(&env, 4);
    for d in 0..3 {
        let input = format!("day{d}.jsonl");
        ok(&env.run(&["dedup", &input, "-o", "o.jsonl", "--state", "a", "-q"]));
    }
    copy_dir(&env.path("a"), &env.path("b"));
    assert_eq!(stats(&env, "b")["segments"].as_array().unwrap().len(), 3);
    ok(&env.run(&["state", "compact", "b"]));
    let s = stats(&env, "b");
    assert_eq!(s["segments"].as_array().unwrap().len(), 1);
    assert_eq!(s["documents"], stats(&env, "a")["documents"]);
    ok(&env.run(&[
        "dedup",
        "day3.jsonl",
        "-o",
        "oa.jsonl",
        "--state",
        "a",
        "-q",
    ]));
    ok(&env.run(&[
        "dedup",
        "day3.jsonl",
        "-o",
        "ob.jsonl",
        "--state",
        "b",
        "-q",
    ]));
    assert!(env.read("oa.jsonl") == env.read("ob.jsonl"));
}

/// `tests/data/state-v1` was written by dupstrip 0.1.0 (`clean --state --min-docs 3`
/// over `tests/data/state-v1-input.jsonl`). Later versions must open it, or refuse
/// it with a message; never misread it.
#[test]
fn the_state_of_format_1_still_opens() {
    let env = Env::new();
    copy_dir(&repo("tests/data/state-v1"), &env.path("st"));
    let s = stats(&env, "st");
    assert_eq!(s["format_version"], 1);
    assert_eq!(s["documents"], 19);
    assert_eq!(s["boilerplate"]["documents"], 30);
    ok(&env.run(&["state", "rules", "st", "-o", "rules.json"]));
    assert!(
        !env.json("rules.json")["templates"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The input without its first record (the same input would repeat the run): the
    // kept documents are found by id.
    let text = std::fs::read_to_string(repo("tests/data/state-v1-input.jsonl")).unwrap();
    env.write("input.jsonl", text.split_once('\n').unwrap().1);
    ok(&env.run(&[
        "clean",
        "input.jsonl",
        "-o",
        "o.jsonl",
        "--state",
        "st",
        "--min-docs",
        "3",
        "--report",
        "r.json",
        "-q",
    ]));
    let r = env.json("r.json");
    assert!(
        r["state"]["duplicates_of_state"].as_u64().unwrap() >= 18,
        "{}",
        r["state"]
    );
}
