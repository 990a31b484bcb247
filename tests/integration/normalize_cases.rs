//! Normalization cases from tests/data/normalize_cases.jsonl.

use dupstrip::normalize::{NormalizeOptions, Normalizer};

use crate::util::repo;

#[test]
fn every_case_in_the_data_file() {
    let data = std::fs::read_to_string(repo("tests/data/normalize_cases.jsonl")).expect("cases");
    let mut n = 0;
    let mut failures = Vec::new();
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let case: serde_json::Value = serde_json::from_str(line).expect("case json");
        let mut opts = NormalizeOptions::default();
        if let Some(o) = case["options"].as_object() {
            for (k, v) in o {
                assert!(opts.set(k, v.as_bool().expect("bool")), "unknown step {k}");
            }
        }
        let got = Normalizer::new(opts).normalize(case["input"].as_str().expect("input"));
        let want = case["expected"].as_str().expect("expected");
        if got != want {
            failures.push(format!("{}: got {got:?}, want {want:?}", case["name"]));
        }
        n += 1;
    }
    assert!(n >= 30, "only {n} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
