//! Score `dupstrip clean --mode annotate` output against a `dupstrip synth
//! --boilerplate` corpus.
//!
//!     cargo run --release --example score_clean -- TRUTH ANNOTATED
//!
//! Prints boilerplate line precision and recall, the number of story-body lines of
//! syndicated stories that were stripped, and near-duplicate pair precision, recall
//! and F1 against the planted story families, as JSON.

use dupstrip::synth::{TruthRow, read_json_lines, score_clean};

fn lines(path: &str) -> Vec<serde_json::Value> {
    read_json_lines(std::path::Path::new(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: score_clean TRUTH ANNOTATED");
        std::process::exit(2);
    }
    let truth: Vec<TruthRow> = lines(&args[1])
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("truth row"))
        .collect();
    let s = score_clean(&truth, &lines(&args[2]));
    println!("{}", serde_json::to_string_pretty(&s).expect("json"));
}
