//! `--html` and `dupstrip explain` through the binary: the report opens in a real
//! headless browser without script errors, and `explain` decides every pair as the
//! run did.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command as Process;

use crate::util::{Env, stderr};

/// Chromium from Debian's packages (`.ci/run` installs it). Without it the browser
/// check is skipped, unless `DUPSTRIP_REQUIRE_BROWSER=1` (as in CI) makes that a
/// failure.
fn chromium() -> Option<&'static str> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    if found.is_none() && std::env::var("DUPSTRIP_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!("DUPSTRIP_REQUIRE_BROWSER=1 but no Chromium at /usr/bin/chromium");
    }
    found
}

/// The page's DOM after its scripts ran, as headless Chromium dumps it.
fn rendered_dom(browser: &str, env: &Env, page: &str) -> String {
    let out = Process::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            env.path("chromium-profile").display()
        ))
        .arg("--dump-dom")
        .arg(format!("file://{}", env.path(page).display()))
        .output()
        .expect("start chromium");
    assert!(out.status.success(), "chromium: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The part of a page from one section on (timings and thread counts come before).
fn from_section<'a>(page: &'a str, id: &str) -> &'a str {
    let at = page
        .find(&format!("<section id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    &page[at..]
}

#[test]
fn html_report_opens_in_a_browser_with_every_section() {
    let env = Env::new();
    env.synth_random_layouts(1500, 23, "news.jsonl", "truth.jsonl");
    for (cmd, page) in [("clean", "clean.html"), ("dedup", "dedup.html")] {
        let out = env.run(&[cmd, "news.jsonl", "-o", "out.jsonl", "--html", page, "-q"]);
        assert!(out.status.success(), "{cmd}: {}", stderr(&out));
    }
    let clean = env.read("clean.html");
    assert!(clean.len() < 2_000_000, "bounded: {} bytes", clean.len());
    for fetch in ["src=\"http", "href=\"http", "<link ", "@import", "url(http"] {
        assert!(!clean.contains(fetch), "nothing fetched: {fetch}");
    }
    for id in ["summary", "charts", "clusters", "rules", "samples"] {
        assert!(clean.contains(&format!("<section id=\"{id}\"")), "{id}");
    }
    assert!(clean.contains("<svg"), "inline charts");
    assert!(clean.contains("class=\"removed\""), "struck-through lines");
    assert!(
        clean.contains("<ins>") || clean.contains("<del>"),
        "differences"
    );
    let dedup = env.read("dedup.html");
    assert!(
        !dedup.contains("<section id=\"rules\""),
        "dedup strips nothing"
    );
    let Some(browser) = chromium() else {
        eprintln!("skipped the browser check: no Chromium");
        return;
    };
    for page in ["clean.html", "dedup.html"] {
        let dom = rendered_dom(browser, &env, page);
        assert!(
            dom.contains("data-ready=\"1\""),
            "{page}: the script ran to its end"
        );
        assert!(
            dom.contains("data-errors=\"0\""),
            "{page}: no script errors"
        );
        assert!(dom.contains("id=\"clusters\""), "{page}");
    }
    let dom = rendered_dom(browser, &env, "clean.html");
    assert!(
        dom.contains("rules shown"),
        "the rules filter ran: {}",
        dom.len()
    );
}

#[test]
fn html_report_shows_the_same_samples_at_any_thread_count() {
    let env = Env::new();
    env.synth_random_layouts(1200, 5, "news.jsonl", "truth.jsonl");
    for (j, page) in [("1", "j1.html"), ("2", "j2.html")] {
        let out = env.run(&[
            "clean",
            "news.jsonl",
            "-o",
            "out.jsonl",
            "--html",
            page,
            "-q",
            "-j",
            j,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let (a, b) = (env.read("j1.html"), env.read("j2.html"));
    assert_eq!(from_section(&a, "charts"), from_section(&b, "charts"));
    // boilerplate strip writes one too.
    let out = env.run(&[
        "boilerplate",
        "learn",
        "news.jsonl",
        "-o",
        "rules.json",
        "-q",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env.run(&[
        "boilerplate",
        "strip",
        "news.jsonl",
        "--rules",
        "rules.json",
        "-o",
        "s.jsonl",
        "--html",
        "strip.html",
        "-q",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(env.read("strip.html").contains("<section id=\"samples\""));
}

/// Cluster of every document id in a clusters file.
fn clusters_by_id(env: &Env, name: &str) -> (HashMap<String, u64>, Vec<Vec<String>>) {
    let mut of = HashMap::new();
    let mut all = Vec::new();
    for c in env.json_lines(name) {
        let n = c["cluster"].as_u64().expect("cluster");
        let ids: Vec<String> = c["members"]
            .as_array()
            .expect("members")
            .iter()
            .map(|m| m["id"].as_str().expect("id").to_string())
            .collect();
        for id in &ids {
            of.insert(id.clone(), n);
        }
        all.push(ids);
    }
    (of, all)
}

#[test]
fn explain_decides_every_pair_as_the_run_did() {
    let env = Env::new();
    // News pages for clean; plain copies for dedup (at 0.8, outlets' boilerplate
    // keeps most syndicated pages apart).
    env.synth_random_layouts(700, 31, "news.jsonl", "truth.jsonl");
    env.synth(700, 31);
    for (run, input, prefix) in [
        ("clean", "news.jsonl", "page"),
        ("dedup", "corpus.jsonl", "doc"),
    ] {
        let cl = format!("{run}-clusters.jsonl");
        let out = env.run(&[run, input, "-o", "out.jsonl", "--clusters", &cl, "-q"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let (of, clusters) = clusters_by_id(&env, &cl);
        assert!(clusters.len() >= 3, "{run}: {} clusters", clusters.len());
        let mut pairs: Vec<(String, String)> = Vec::new();
        for c in clusters.iter().take(3) {
            pairs.push((c[0].clone(), c[1].clone()));
            if c.len() > 2 {
                pairs.push((c[1].clone(), c[2].clone()));
            }
        }
        // Documents of different clusters, and a document in no cluster.
        pairs.push((clusters[0][0].clone(), clusters[1][0].clone()));
        let lone = (0..700)
            .map(|i| format!("{prefix}-{i:07}"))
            .find(|id| !of.contains_key(id))
            .expect("a document in no cluster");
        pairs.push((clusters[2][0].clone(), lone));
        for (a, b) in pairs {
            let out = env.run(&["explain", input, "--ids", &a, &b, "--as", run, "--json"]);
            assert!(out.status.success(), "{}", stderr(&out));
            let e: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
            let same = of.contains_key(&a) && of.get(&a) == of.get(&b);
            let want = if same { "duplicate" } else { "distinct" };
            assert_eq!(e["decision"], want, "{run} {a} {b}: {}", e["reason"]);
            for key in [
                "exact_jaccard",
                "estimated_jaccard",
                "bands_shared",
                "bands",
            ] {
                assert!(e[key].is_number(), "{key}");
            }
            let docs = e["documents"].as_array().expect("documents");
            assert_eq!(docs[0]["id"], a.as_str());
            assert!(docs.iter().all(|d| d["stripped_lines"].is_array()));
            if run == "dedup" {
                assert!(
                    docs.iter()
                        .all(|d| d["stripped_lines"] == serde_json::json!([]))
                );
            }
        }
    }
}

#[test]
fn explain_names_a_missing_id() {
    let env = Env::new();
    env.synth(50, 3);
    let out = env.run(&[
        "explain",
        "corpus.jsonl",
        "--ids",
        "nope",
        "doc-0000001",
        "--as",
        "dedup",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no document has the id \"nope\""),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["explain", "corpus.jsonl", "--ids", "only-one"]);
    assert!(!out.status.success(), "two ids are needed");
}
