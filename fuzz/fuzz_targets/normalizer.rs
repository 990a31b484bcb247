//! Any UTF-8 text through the normalizer (with the first byte choosing which steps are
//! on) and the shinglers: no panic, and the output never holds two spaces in a row or
//! an edge space when whitespace collapsing is on.
#![no_main]

use dupstrip::normalize::{NormalizeOptions, Normalizer};
use dupstrip::shingle::{ShingleKind, ShingleParams, Shingler};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&bits, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut opts = NormalizeOptions::default();
    for (i, step) in NormalizeOptions::STEPS.iter().enumerate() {
        opts.set(step, bits & (1 << i) != 0);
    }
    let out = Normalizer::new(opts).normalize(text);
    if opts.whitespace {
        assert!(!out.contains("  "), "{out:?}");
        assert!(!out.starts_with(' ') && !out.ends_with(' '), "{out:?}");
    }
    for kind in [ShingleKind::Word, ShingleKind::Char] {
        let s = Shingler::new(ShingleParams { kind, n: 3, seed: 1 });
        let _ = s.shingle_set(&out);
    }
});
