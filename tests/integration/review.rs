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
    // A Chromium that hangs (no D-Bus, a small /dev/shm) fails the test, not the run.
    let out = Process::new("timeout")
        .args(["120", browser])
        .args([
            "--disable-dev-shm-usage",
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
    // Differences inside the texts of copies (the intro paragraph shows both tags).
    let copies = &clean[clean.find("<div class=\"pair\">").expect("a pair")..];
    assert!(
        copies.contains("<ins>") || copies.contains("<del>"),
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

/// Text and ids from the corpus are shown as text, never run as markup: a document
/// carrying a script, in a cluster and stripped, leaves the page without script
/// errors and without running it.
#[test]
fn html_report_escapes_what_documents_hold() {
    let env = Env::new();
    let body = "The council voted on the new tram line after a long debate about costs and routes across the city centre, and the mayor said the works would start in spring.";
    let hostile = "</div></details><script>document.body.setAttribute('data-pwned','1')</script><img src=x onerror=\"document.body.setAttribute('data-pwned','2')\">";
    let mut lines = Vec::new();
    for i in 0..12 {
        let text = format!(
            "Story {i}\n{body} {hostile}\nFollow us on WhatsApp\nMore words of story {i} so that every page has its own text as well, {i} times over."
        );
        let id = format!("doc-{i}\"'<b>");
        lines.push(serde_json::json!({"id": id, "text": text}).to_string());
    }
    env.write("hostile.jsonl", lines.join("\n") + "\n");
    let out = env.run(&[
        "clean",
        "hostile.jsonl",
        "-o",
        "out.jsonl",
        "--html",
        "h.html",
        "--min-docs",
        "3",
        "-q",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = env.read("h.html");
    assert!(page.contains("class=\"cluster\""), "a cluster is shown");
    assert!(!page.contains("<script>document.body"), "escaped script");
    assert!(!page.contains("<img src=x"), "escaped tag");
    assert!(!page.contains("doc-0\"'<b>"), "escaped id");
    assert!(
        page.contains("doc-0&quot;&#39;&lt;b&gt;"),
        "the id, as text"
    );
    let Some(browser) = chromium() else {
        eprintln!("skipped the browser check: no Chromium");
        return;
    };
    let dom = rendered_dom(browser, &env, "h.html");
    assert!(dom.contains("data-ready=\"1\"") && dom.contains("data-errors=\"0\""));
    let body = &dom[dom.find("<body").expect("body")..];
    let body_tag = &body[..body.find('>').expect("body tag")];
    assert!(
        !body_tag.contains("data-pwned"),
        "nothing from a document ran: {body_tag}"
    );
}

fn ids_of(env: &Env, name: &str) -> Vec<String> {
    env.json_lines(name)
        .iter()
        .map(|r| r["id"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn explain_agrees_under_other_options_and_with_a_state() {
    let env = Env::new();
    env.synth(600, 17);
    // Other keep and verify settings.
    let settings: [&[&str]; 3] = [
        &["--keep", "longest"],
        &["--verify", "exact"],
        &["--verify", "estimate", "--threshold", "0.7"],
    ];
    for extra in settings {
        let mut args = vec![
            "dedup",
            "corpus.jsonl",
            "-o",
            "out.jsonl",
            "--clusters",
            "c.jsonl",
            "-q",
        ];
        args.extend_from_slice(extra);
        let out = env.run(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let (of, clusters) = clusters_by_id(&env, "c.jsonl");
        let last = clusters[clusters.len() - 1][0].clone();
        for c in clusters.iter().take(4) {
            for (a, b) in [(&c[0], &c[1]), (&c[1], &last)] {
                let mut args = vec![
                    "explain",
                    "corpus.jsonl",
                    "--ids",
                    a,
                    b,
                    "--as",
                    "dedup",
                    "--json",
                ];
                args.extend_from_slice(extra);
                let out = env.run(&args);
                assert!(out.status.success(), "{}", stderr(&out));
                let e: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
                let same = of.contains_key(a) && of.get(a) == of.get(b);
                let want = if same { "duplicate" } else { "distinct" };
                assert_eq!(e["decision"], want, "{extra:?} {a} {b}: {}", e["reason"]);
            }
        }
    }
    // A state: day 1 is committed, then day 2 runs against it. Explaining day 2 after
    // its run (which the state now holds) decides as that run did.
    let corpus = env.read("corpus.jsonl");
    let lines: Vec<&str> = corpus.lines().collect();
    // Copies sit near their originals: alternate lines put them on different days.
    let day = |r: usize| -> String {
        let kept: Vec<&str> = lines.iter().skip(r).step_by(2).copied().collect();
        kept.join("\n") + "\n"
    };
    env.write("day1.jsonl", day(0));
    env.write("day2.jsonl", day(1));
    for day in ["day1.jsonl", "day2.jsonl"] {
        let out = env.run(&[
            "dedup", day, "--state", "st", "-o", "o.jsonl", "-q", "--html", "st.html",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // The page names the state's documents that day 2 copied.
    assert!(
        env.read("st.html")
            .contains("from the state (an earlier run)")
    );
    let out = env.run(&["dedup", "day2.jsonl", "-o", "o2.jsonl", "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (kept, alone) = (ids_of(&env, "o.jsonl"), ids_of(&env, "o2.jsonl"));
    // A document of day 2 dropped only because of the state: a copy of a day-1 one.
    let of_state = alone
        .iter()
        .find(|id| !kept.contains(id))
        .expect("a copy of the state");
    let other = &kept[0];
    let out = env.run(&[
        "explain",
        "day2.jsonl",
        "--state",
        "st",
        "--ids",
        of_state,
        other,
        "--as",
        "dedup",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let doc = &e["documents"][0];
    assert_eq!(doc["role"], "duplicate", "{e}");
    let of = doc["duplicate_of"].as_str().unwrap_or("");
    assert!(!of.is_empty(), "the state's document is named: {e}");
    assert_ne!(e["documents"][1]["role"], "duplicate", "{e}");
    assert_eq!(e["decision"], "distinct");
    // Options explain would ignore are refused.
    let out = env.run(&[
        "explain",
        "day2.jsonl",
        "--ids",
        "a",
        "b",
        "--html",
        "x.html",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--html"), "{}", stderr(&out));
}
