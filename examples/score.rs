//! Score a `dupstrip dedup --clusters` file against a `dupstrip synth` corpus.
//!
//!     cargo run --release --example score -- CORPUS TRUTH CLUSTERS [THRESHOLD] [--whitespace]
//!
//! Prints pair precision and recall against exact-Jaccard ground truth as JSON:
//! planted pairs whose word 5-gram sets (default normalization) are at least
//! THRESHOLD similar. With `--whitespace` the sets are those of `--shingle
//! whitespace --no-normalize all` (the tokens of Python's `str.split()`), to score
//! tools run with those settings.

use dupstrip::normalize::NormalizeOptions;
use dupstrip::shingle::ShingleKind;

use dupstrip::config::DedupOptions;
use dupstrip::sketch::Sketch;
use dupstrip::synth::{TruthRow, read_json_lines, score_pairs};
use std::collections::HashMap;

fn lines(path: &str) -> Vec<serde_json::Value> {
    read_json_lines(std::path::Path::new(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    let whitespace = args.iter().any(|a| a == "--whitespace");
    args.retain(|a| a != "--whitespace");
    if args.len() < 4 {
        eprintln!("usage: score CORPUS TRUTH CLUSTERS [THRESHOLD] [--whitespace]");
        std::process::exit(2);
    }
    let threshold: f64 = args.get(4).map_or(0.8, |t| t.parse().expect("threshold"));
    let texts: HashMap<String, String> = lines(&args[1])
        .into_iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_string(),
                v["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let truth: Vec<TruthRow> = lines(&args[2])
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("truth row"))
        .collect();
    let clusters: Vec<(String, Vec<String>)> = lines(&args[3])
        .into_iter()
        .map(|v| {
            let members = v["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_string())
                .collect();
            (v["keep"].as_str().unwrap().to_string(), members)
        })
        .collect();
    let base = DedupOptions::default();
    let (shingle, normalize) = if whitespace {
        (ShingleKind::Whitespace, NormalizeOptions::none())
    } else {
        (base.shingle, base.normalize)
    };
    let cfg = DedupOptions {
        threshold,
        shingle,
        normalize,
        ..base
    }
    .validate()
    .expect("config");
    let s = score_pairs(&texts, &truth, &clusters, &Sketch::new(&cfg), threshold);
    println!("{}", serde_json::to_string_pretty(&s).expect("json"));
}
