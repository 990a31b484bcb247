//! Per-stage throughput (bytes of text per second) on a generated news-like corpus:
//! JSONL reading, normalize (of that corpus and of news pages), shingle, sketch (both
//! MinHash schemes), whole signatures (text to signature, default and matched
//! settings), LSH grouping, and boilerplate line counting.
//!
//!     cargo bench --bench stages
//!
//! Peak memory and end-to-end figures come from `benches/throughput.sh`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use bitvec::prelude::*;
use dupstrip::boilerplate::{self, Counts};
use dupstrip::config::DedupOptions;
use dupstrip::corpus::{self, Chunk, Format, ReadOptions};
use dupstrip::lsh::{self, Signatures};
use dupstrip::minhash::{self, Scheme, Sketcher};
use dupstrip::normalize::{NormalizeOptions, Normalizer};
use dupstrip::shingle::{ShingleKind, ShingleParams, Shingler};
use dupstrip::sketch::{Buffers, Sketch};
use dupstrip::synth::{self, SynthOptions};

fn corpus(docs: usize, news: bool) -> (Vec<u8>, Vec<String>) {
    let (mut data, mut truth) = (Vec::new(), Vec::new());
    let opts = SynthOptions {
        docs,
        seed: 3,
        ..Default::default()
    };
    if news {
        synth::generate_news(&opts, &mut data, &mut truth)
    } else {
        synth::generate(&opts, &mut data, &mut truth)
    }
    .expect("generate");
    let texts = data
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).expect("json");
            v["text"].as_str().expect("text").to_string()
        })
        .collect();
    (data, texts)
}

fn stages(c: &mut Criterion) {
    let (jsonl, texts) = corpus(2000, false);
    let text_bytes: u64 = texts.iter().map(|t| t.len() as u64).sum();
    let normalizer = Normalizer::default();
    let normalized: Vec<String> = texts.iter().map(|t| normalizer.normalize(t)).collect();
    let shingler = Shingler::new(ShingleParams {
        kind: ShingleKind::Word,
        n: 5,
        seed: 42,
    });
    let shingles: Vec<Vec<u64>> = normalized
        .iter()
        .map(|t| {
            let (mut tok, mut out) = (Vec::new(), Vec::new());
            shingler.shingles_into(t, &mut tok, &mut out);
            out
        })
        .collect();

    let mut g = c.benchmark_group("stages");
    g.throughput(Throughput::Bytes(text_bytes));
    g.sample_size(10);

    g.bench_function("read_jsonl", |b| {
        let opts = ReadOptions::default();
        b.iter(|| {
            let chunk = Chunk {
                source: 0,
                format: Format::Jsonl,
                first_line: 1,
                data: &jsonl,
                texts: &[],
                records: texts.len() as u64,
                counted: true,
            };
            let mut n = 0usize;
            for r in chunk.records() {
                n += corpus::parse(&r, Format::Jsonl, &opts)
                    .expect("parse")
                    .text
                    .len();
            }
            black_box(n)
        })
    });
    g.bench_function("normalize", |b| {
        let mut out = String::new();
        b.iter(|| {
            for t in &texts {
                normalizer.normalize_into(t, &mut out);
                black_box(&out);
            }
        })
    });
    g.bench_function("shingle_word5", |b| {
        let (mut tok, mut out) = (Vec::new(), Vec::new());
        b.iter(|| {
            for t in &normalized {
                shingler.shingles_into(t, &mut tok, &mut out);
                black_box(&out);
            }
        })
    });
    for scheme in [Scheme::Oph, Scheme::Classic] {
        let sk = Sketcher::new(scheme, 128, 42);
        g.bench_function(format!("sketch_{}", scheme.as_str()), |b| {
            let mut sig = vec![0u32; 128];
            b.iter(|| {
                for s in &shingles {
                    sk.sketch_into(s, &mut sig);
                    black_box(&sig);
                }
            })
        });
    }
    let sk = Sketcher::new(Scheme::Oph, 128, 42);
    let mut slots = Vec::with_capacity(shingles.len() * 128);
    for s in &shingles {
        slots.extend(sk.sketch(s).into_iter().map(minhash::stored));
    }
    let active = bitvec![1; shingles.len()];
    let cfg = DedupOptions::default().validate().expect("config");
    for (name, opts) in [
        ("signature_default", DedupOptions::default()),
        (
            "signature_matched",
            DedupOptions {
                shingle: ShingleKind::Whitespace,
                normalize: NormalizeOptions::none(),
                ..Default::default()
            },
        ),
    ] {
        let sketch = Sketch::new(&opts.validate().expect("config"));
        g.bench_function(name, |b| {
            let mut buf = Buffers::default();
            let mut sig = vec![0u32; 128];
            b.iter(|| {
                for t in &texts {
                    black_box(sketch.sign(t, &mut buf, &mut sig));
                }
            })
        });
    }
    g.bench_function("lsh_candidates", |b| {
        let sigs = Signatures {
            k: 128,
            slots: &slots,
            active: &active,
        };
        b.iter(|| black_box(lsh::candidates(&sigs, cfg.lsh, 42, 0.8)))
    });
    g.finish();

    // Boilerplate counting: every line of every page normalized and hashed (with
    // its template and label keys), then the keys sorted into per-story counts.
    let (_, pages) = corpus(2000, true);
    let page_bytes: u64 = pages.iter().map(|t| t.len() as u64).sum();
    let mut g = c.benchmark_group("boilerplate");
    g.throughput(Throughput::Bytes(page_bytes));
    g.sample_size(10);
    // Whole pages normalized: Arabic text with folded letters, digits, Latin lines.
    g.bench_function("normalize_pages", |b| {
        let mut out = String::new();
        b.iter(|| {
            for t in &pages {
                black_box(normalizer.normalize_into_plain(t, &mut out));
                black_box(&out);
            }
        })
    });
    g.bench_function("line_keys_and_counts", |b| {
        let mut keys = Vec::new();
        let story: Vec<u32> = (0..pages.len() as u32).collect();
        b.iter(|| {
            let mut all = Vec::new();
            for (d, t) in pages.iter().enumerate() {
                keys.clear();
                boilerplate::line_keys(&normalizer, t, &mut keys);
                all.extend((keys.iter()).map(|&(k, h)| boilerplate::pack_key(k, h, d as u32)));
            }
            let dir = dupstrip::spill::SpillDir::default();
            black_box(Counts::from_doc_keys(all.into(), &story, usize::MAX, &dir))
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
