//! The floor pass: one single-threaded pass over a memory-mapped file that splits
//! it on ASCII whitespace and hashes every token with xxh3. Every shingler must
//! touch every token at least once, so this is the reference speed a dedup run on
//! one core is measured against (a run also parses JSON, shingles, sketches and
//! writes; the floor does none of that).
//!
//!     cargo run --release --example floor -- FILE
//!
//! The pass runs five times and the fastest counts (a floor is the best case).
//! Prints {"bytes", "tokens", "seconds", "mb_per_s"} as JSON (MB = 10^6 bytes).

use std::time::Instant;

use xxhash_rust::xxh3::xxh3_64;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: floor FILE")?;
    let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    // SAFETY: the benchmark corpus is not modified while it is mapped.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("{path}: {e}"))?;
    // Fault the pages in first, so the timed pass measures hashing, not the disk.
    let warm = map.iter().step_by(4096).fold(0u8, |a, &b| a ^ b);
    let (mut seconds, mut tokens) = (f64::INFINITY, 0);
    for _ in 0..5 {
        let clock = Instant::now();
        let (n, acc) = hash_tokens(&map);
        seconds = seconds.min(clock.elapsed().as_secs_f64());
        tokens = n;
        std::hint::black_box((acc, warm));
    }
    println!(
        "{}",
        serde_json::json!({
            "bytes": map.len(),
            "tokens": tokens,
            "seconds": seconds,
            "mb_per_s": map.len() as f64 / 1e6 / seconds,
        })
    );
    Ok(())
}

/// Split on ASCII whitespace and hash every token: the token count and an
/// accumulator that keeps the hashing from being optimized away.
fn hash_tokens(data: &[u8]) -> (u64, u64) {
    let (mut tokens, mut acc) = (0u64, 0u64);
    let mut start = 0;
    for (i, &b) in data.iter().enumerate() {
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0C) {
            if i > start {
                acc ^= xxh3_64(&data[start..i]);
                tokens += 1;
            }
            start = i + 1;
        }
    }
    if data.len() > start {
        acc ^= xxh3_64(&data[start..]);
        tokens += 1;
    }
    (tokens, acc)
}
