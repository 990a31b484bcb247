//! Per-stage throughput (bytes of text per second) on a generated news-like corpus:
//! normalize, shingle, sketch (both MinHash schemes), LSH grouping, JSONL reading.
//!
//!     cargo bench --bench stages
//!
//! Peak memory and end-to-end figures come from `benches/throughput.sh`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use bitvec::prelude::*;
use dupstrip::config::DedupOptions;
use dupstrip::corpus::{self, Chunk, Format, ReadOptions};
use dupstrip::lsh::{self, Signatures};
use dupstrip::minhash::{Scheme, Sketcher};
use dupstrip::normalize::Normalizer;
use dupstrip::shingle::{ShingleKind, ShingleParams, Shingler};
use dupstrip::synth::{self, SynthOptions};

fn corpus(docs: usize) -> (Vec<u8>, Vec<String>) {
    let (mut data, mut truth) = (Vec::new(), Vec::new());
    synth::generate(
        &SynthOptions {
            docs,
            seed: 3,
            ..Default::default()
        },
        &mut data,
        &mut truth,
    )
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
    let (jsonl, texts) = corpus(2000);
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
        slots.extend(sk.sketch(s));
    }
    let active = bitvec![1; shingles.len()];
    let cfg = DedupOptions::default().validate().expect("config");
    g.bench_function("lsh_candidates", |b| {
        let sigs = Signatures {
            k: 128,
            slots: &slots,
            active: &active,
        };
        b.iter(|| black_box(lsh::candidates(&sigs, cfg.lsh, 42, 0.8)))
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
