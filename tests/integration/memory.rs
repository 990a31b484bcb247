//! `--mem-limit`: what does not fit its share goes to temporary files, and nothing
//! else changes. A limit of 256K (the smallest accepted) on a few thousand pages
//! sends every structure that can spill to disk, so each spill path runs.

use crate::util::*;
use serde_json::Value;

/// Everything that can go to disk in `clean` (without exact verification sets,
/// which only borderline pairs need).
const CLEAN_SPILLS: [&str; 10] = [
    "band keys",
    "clusters",
    "components",
    "document table",
    "edges",
    "line counts",
    "line keys",
    "roles",
    "signatures",
    "stories",
];

/// A report without what varies from run to run or says how the run was bounded:
/// timings, memory, threads, the limit itself, how many sorted runs the band keys
/// took, and how many comparisons were pairs known from an earlier band (remembered
/// only while the edges are in memory).
fn comparable(mut r: Value) -> Value {
    for key in ["timings", "memory", "threads"] {
        r[key] = Value::Null;
    }
    r["parameters"]["mem_limit"] = Value::Null;
    r["candidates"]["band_runs"] = Value::Null;
    r["candidates"]["repeated"] = Value::Null;
    if r["state"].is_object() {
        for key in ["dir", "lookup_seconds", "commit_seconds"] {
            r["state"][key] = Value::Null;
        }
    }
    r
}

/// Assert that each of `expected` is in the report's `memory.spilled`.
fn assert_spilled(r: &Value, expected: &[&str]) {
    let went = spilled(r);
    for what in expected {
        assert!(
            went.iter().any(|w| w == what),
            "{what} not spilled: {went:?}"
        );
    }
}

fn spilled(r: &Value) -> Vec<String> {
    r["memory"]["spilled"]
        .as_array()
        .expect("memory.spilled")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect()
}

/// Run `args` as run `name` (free, or under `limit`), writing output, clusters, report
/// and, for `clean`, rules; temporary files go to `spill/`.
fn run_as(env: &Env, name: &str, args: &[&str], limit: Option<&str>, threads: &str) {
    let (o, c, r, rules) = (
        format!("{name}.jsonl"),
        format!("{name}.clusters.jsonl"),
        format!("{name}.report.json"),
        format!("{name}.rules.json"),
    );
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "-o",
        &o,
        "--clusters",
        &c,
        "--report",
        &r,
        "--tmp-dir",
        "spill",
        "-j",
        threads,
    ]);
    if args[0] == "clean" {
        all.extend(["--save-rules", &rules]);
    }
    if let Some(l) = limit {
        all.extend(["--mem-limit", l]);
    }
    ok(&env.run(&all));
}

fn assert_same(env: &Env, a: &str, b: &str, files: &[&str]) {
    for f in files {
        let (x, y) = (format!("{a}.{f}"), format!("{b}.{f}"));
        assert!(env.read(&x) == env.read(&y), "{x} and {y} differ");
    }
    let (ra, rb) = (
        env.json(&format!("{a}.report.json")),
        env.json(&format!("{b}.report.json")),
    );
    assert_eq!(comparable(ra), comparable(rb), "reports of {a} and {b}");
}

#[test]
fn clean_under_a_tiny_limit_is_identical_at_any_thread_count() {
    let env = Env::new();
    env.synth_news(5000, 21);
    std::fs::create_dir_all(env.path("spill")).expect("mkdir");
    let args = ["clean", "news.jsonl"];
    run_as(&env, "free", &args, None, "2");
    run_as(&env, "capped1", &args, Some("256K"), "1");
    run_as(&env, "capped2", &args, Some("256K"), "2");
    let files = ["jsonl", "clusters.jsonl", "rules.json"];
    assert_same(&env, "free", "capped1", &files);
    assert_same(&env, "free", "capped2", &files);

    let free = env.json("free.report.json");
    assert!(spilled(&free).is_empty(), "{:?}", spilled(&free));
    assert!(free["memory"]["limit_bytes"].is_null());
    let capped = env.json("capped2.report.json");
    assert_spilled(&capped, &CLEAN_SPILLS);
    assert_eq!(capped["memory"]["limit_bytes"], 256 << 10);
    // The pages did lose boilerplate and copies: the comparison compared something.
    assert!(capped["documents"]["duplicates"].as_u64().unwrap_or(0) > 100);
    assert!(
        capped["boilerplate"]["removed"]["lines_removed"]
            .as_u64()
            .unwrap_or(0)
            > 1000
    );
    // Temporary files have no names: nothing is left behind.
    assert_eq!(
        std::fs::read_dir(env.path("spill")).expect("dir").count(),
        0
    );
}

#[test]
fn exact_verification_under_a_tiny_limit_is_identical() {
    let env = Env::new();
    env.synth(5000, 4);
    std::fs::create_dir_all(env.path("spill")).expect("mkdir");
    for (verify, keep) in [("exact", "longest"), ("auto", "first")] {
        let args = [
            "dedup",
            "corpus.jsonl",
            "--verify",
            verify,
            "--keep",
            keep,
            "--mode",
            "annotate",
        ];
        let (free, capped) = (format!("free-{verify}"), format!("capped-{verify}"));
        run_as(&env, &free, &args, None, "2");
        run_as(&env, &capped, &args, Some("256K"), "2");
        assert_same(&env, &free, &capped, &["jsonl", "clusters.jsonl"]);
        let r = env.json(&format!("{capped}.report.json"));
        assert!(r["verification"]["shingle_sets"].as_u64().unwrap_or(0) > 0);
        assert_spilled(&r, &["shingle sets", "signatures", "band keys", "roles"]);
    }
}

/// Nightly runs against a state under the limit keep the same documents, learn the
/// same rules and leave a state with the same contents.
#[test]
fn state_runs_under_a_tiny_limit_are_identical() {
    let env = Env::new();
    env.synth_news(3000, 8);
    let lines: Vec<String> = env.read("news.jsonl").lines().map(String::from).collect();
    let half = lines.len() / 2;
    env.write("night1.jsonl", lines[..half].join("\n") + "\n");
    // Night 2 crawls a fifth of night 1's pages again.
    let again = &lines[..half / 5];
    env.write(
        "night2.jsonl",
        [&lines[half..], again].concat().join("\n") + "\n",
    );
    std::fs::create_dir_all(env.path("spill")).expect("mkdir");
    for (name, limit) in [("free", None), ("capped", Some("256K"))] {
        for night in ["night1", "night2"] {
            let state = format!("{name}-state");
            let input = format!("{night}.jsonl");
            let args = ["clean", &input, "--state", &state];
            run_as(&env, &format!("{name}-{night}"), &args, limit, "2");
        }
        let stats = env.run(&["state", "rules", &format!("{name}-state"), "-o", "-"]);
        ok(&stats);
        env.write(&format!("{name}.state-rules.json"), stdout(&stats));
    }
    for night in ["night1", "night2"] {
        let (a, b) = (format!("free-{night}"), format!("capped-{night}"));
        assert_same(&env, &a, &b, &["jsonl", "clusters.jsonl"]);
    }
    assert!(env.read("free.state-rules.json") == env.read("capped.state-rules.json"));
    let r = env.json("capped-night2.report.json");
    assert!(r["state"]["documents_before"].as_u64().unwrap_or(0) > 0);
    // The state's documents night 2 copies went to disk too.
    assert!(
        r["state"]["duplicates_of_state"].as_u64().unwrap_or(0) > 50,
        "{}",
        r["state"]
    );
    assert_spilled(
        &r,
        &[
            "state line statistics",
            "state matches",
            "state segment",
            "line counts",
            "roles",
        ],
    );
}

/// Without the flag the report still gives the run's peak memory.
#[test]
fn report_gives_peak_memory_without_a_limit() {
    let env = Env::new();
    env.synth(500, 2);
    ok(&env.run(&[
        "dedup",
        "corpus.jsonl",
        "-o",
        "out.jsonl",
        "--report",
        "r.json",
    ]));
    let m = &env.json("r.json")["memory"];
    assert!(m["peak_anon_bytes"].as_u64().unwrap_or(0) > 0, "{m}");
    assert!(
        m["peak_rss_bytes"].as_u64().unwrap_or(0) >= m["peak_anon_bytes"].as_u64().unwrap_or(0)
    );
    assert!(m["limit_bytes"].is_null());
    let stages: Vec<&str> = (m["peak_anon_by_stage"].as_array())
        .expect("stages")
        .iter()
        .filter_map(|s| s["stage"].as_str())
        .collect();
    for s in ["sketch", "candidates", "cluster", "write"] {
        assert!(stages.contains(&s), "{s} missing from {stages:?}");
    }
}

/// Ctrl-C in the middle of a limited run, while it has temporary files open: the run
/// stops with 130 and leaves nothing behind, in `--tmp-dir` or beside the output.
#[cfg(target_os = "linux")]
#[test]
fn interrupted_run_leaves_no_temporary_files() {
    use std::time::{Duration, Instant};
    let env = Env::new();
    env.synth_news(5000, 23);
    let spill = env.path("spill");
    std::fs::create_dir_all(&spill).expect("mkdir");
    let spill = spill.canonicalize().expect("spill dir");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dupstrip"))
        .current_dir(env.dir.path())
        .args([
            "clean",
            "news.jsonl",
            "-o",
            "out.jsonl",
            "--clusters",
            "out.clusters.jsonl",
        ])
        .args(["--mem-limit", "256K", "--tmp-dir", "spill", "-j", "1", "-q"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until it writes its output (a temporary file beside it) while files of
    // spill/ are open or mapped (unnamed files read back as "spill/#123 (deleted)").
    let proc = std::path::PathBuf::from(format!("/proc/{}", child.id()));
    let uses_spill = || {
        let open = std::fs::read_dir(proc.join("fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.starts_with(&spill)));
        let maps = std::fs::read_to_string(proc.join("maps")).unwrap_or_default();
        open || maps.contains(&*spill.to_string_lossy())
    };
    let writing = || !env.temporaries().is_empty();
    let deadline = Instant::now() + Duration::from_secs(120);
    let caught = loop {
        if child.try_wait().expect("wait").is_some() || Instant::now() > deadline {
            break false;
        }
        if writing() && uses_spill() {
            break true;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(
        caught,
        "the run was never seen writing its output with spill/ in use"
    );
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Spill files have no names, so this holds however the run ends; it guards
    // against named ones.
    let left: Vec<_> = std::fs::read_dir(&spill).expect("spill").collect();
    assert!(left.is_empty(), "left in spill/: {left:?}");
    let names: Vec<String> = std::fs::read_dir(env.dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("out")), "left: {names:?}");
}
