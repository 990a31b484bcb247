//! How close MinHash estimates come to exact Jaccard on the planted pairs of a
//! `dupstrip synth` corpus, for both schemes and three seeds, with full 32-bit slots
//! and with the 16-bit slots dupstrip stores.
//!
//!     cargo run --release --example pair_accuracy -- CORPUS TRUTH [--whitespace]
//!
//! Pairs are every two documents of one planted family whose exact Jaccard (word
//! 5-grams; with `--whitespace`, `str.split()` tokens without normalization) is at
//! least 0.7. Prints, per scheme and seed: root mean square error, mean error, and
//! the share of pairs at 0.8 or above whose estimate is also at least 0.8 (the
//! pairs `--verify estimate` keeps). `benches/peer_accuracy.py` prints the same for
//! rensa.

use std::collections::HashMap;

use dupstrip::config::DedupOptions;
use dupstrip::minhash::stored;
use dupstrip::minhash::{Scheme, Sketcher, estimate};
use dupstrip::normalize::NormalizeOptions;
use dupstrip::shingle::{ShingleKind, jaccard};
use dupstrip::sketch::{Buffers, Sketch};
use dupstrip::synth::{TruthRow, read_json_lines};

#[derive(Default)]
struct Acc {
    sq: f64,
    sum: f64,
    n: u64,
    at: u64,
    kept: u64,
}

impl Acc {
    fn add(&mut self, exact: f64, est: f64) {
        self.sq += (est - exact) * (est - exact);
        self.sum += est - exact;
        self.n += 1;
        if exact >= 0.8 {
            self.at += 1;
            self.kept += (est >= 0.8) as u64;
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: pair_accuracy CORPUS TRUTH [--whitespace]".into());
    }
    let whitespace = args.iter().any(|a| a == "--whitespace");
    let texts: HashMap<String, String> = read_json_lines(std::path::Path::new(&args[1]))?
        .into_iter()
        .filter_map(|v| {
            Some((
                v["id"].as_str()?.to_string(),
                v["text"].as_str()?.to_string(),
            ))
        })
        .collect();
    let truth: Vec<TruthRow> = read_json_lines(std::path::Path::new(&args[2]))?
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()?;
    let mut opts = DedupOptions::default();
    if whitespace {
        opts.shingle = ShingleKind::Whitespace;
        opts.normalize = NormalizeOptions::none();
    }
    let sketch = Sketch::new(&opts.validate()?);
    let mut buf = Buffers::default();
    let mut families: HashMap<u64, Vec<&str>> = HashMap::new();
    for r in &truth {
        families.entry(r.family).or_default().push(&r.id);
    }
    let mut sets: HashMap<&str, Vec<u64>> = HashMap::new();
    for members in families.values().filter(|m| m.len() > 1) {
        for &id in members {
            let text = texts
                .get(id)
                .ok_or_else(|| format!("{id}: not in the corpus"))?;
            sets.insert(id, sketch.shingle_set(text, &mut buf));
        }
    }
    let sketchers: Vec<(String, Sketcher)> = [Scheme::Oph, Scheme::Classic]
        .into_iter()
        .flat_map(|s| {
            (1..=3).map(move |seed| {
                (
                    format!("{} seed {seed}", s.as_str()),
                    Sketcher::new(s, 128, seed),
                )
            })
        })
        .collect();
    let mut acc: Vec<(Acc, Acc)> = sketchers.iter().map(|_| Default::default()).collect();
    let mut ids: Vec<&Vec<&str>> = families.values().filter(|m| m.len() > 1).collect();
    ids.sort();
    for members in ids {
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                let (x, y) = (&sets[a], &sets[b]);
                if x.is_empty() || y.is_empty() {
                    continue;
                }
                let exact = jaccard(x, y);
                if exact < 0.7 {
                    continue;
                }
                for ((_, s), (full, short)) in sketchers.iter().zip(acc.iter_mut()) {
                    let (sa, sb) = (s.sketch(x), s.sketch(y));
                    full.add(exact, estimate(&sa, &sb));
                    let (ta, tb): (Vec<u16>, Vec<u16>) = (
                        sa.iter().map(|&v| stored(v)).collect(),
                        sb.iter().map(|&v| stored(v)).collect(),
                    );
                    short.add(exact, estimate(&ta, &tb));
                }
            }
        }
    }
    println!("scheme            slots  pairs   rmse    bias     kept_at_0.8");
    for ((name, _), (full, short)) in sketchers.iter().zip(&acc) {
        for (bits, a) in [("32", full), ("16", short)] {
            println!(
                "{name:<17} {bits:<6} {:<7} {:.4}  {:+.4}  {:.4}",
                a.n,
                (a.sq / a.n as f64).sqrt(),
                a.sum / a.n as f64,
                a.kept as f64 / a.at as f64
            );
        }
    }
    Ok(())
}
