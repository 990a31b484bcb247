//! Score a `dupstrip dedup --clusters` file against a `dupstrip synth` corpus.
//!
//!     cargo run --release --example score -- CORPUS TRUTH CLUSTERS [THRESHOLD]
//!
//! Prints pair precision and recall against exact-Jaccard ground truth (default
//! normalization, word 5-grams) as JSON.

use dupstrip::config::DedupOptions;
use dupstrip::pipeline::Sketch;
use dupstrip::synth::{TruthRow, read_json_lines, score_pairs};
use std::collections::HashMap;

fn lines(path: &str) -> Vec<serde_json::Value> {
    read_json_lines(std::path::Path::new(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: score CORPUS TRUTH CLUSTERS [THRESHOLD]");
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
    let cfg = DedupOptions {
        threshold,
        ..Default::default()
    }
    .validate()
    .expect("config");
    let s = score_pairs(&texts, &truth, &clusters, &Sketch::new(&cfg), threshold);
    println!("{}", serde_json::to_string_pretty(&s).expect("json"));
}
