//! Accuracy of the two MinHash schemes against exact Jaccard.
//!
//!     cargo run --release --example scheme_accuracy
//!
//! For random set pairs of several sizes and similarities, prints the root mean
//! square error of the estimate, its mean (bias), the expected standard error of
//! classic MinHash, and the share of trials within 3 standard errors.

use dupstrip::minhash::{Scheme, Sketcher, estimate, standard_error};
use dupstrip::shingle::{jaccard, mix64};

fn main() {
    let k = 128;
    let trials = 4000;
    println!("scheme   set size     rmse     bias     expected_se  within_3se");
    for (lo, hi) in [(10usize, 60usize), (60, 500), (500, 5000)] {
        for scheme in [Scheme::Oph, Scheme::Classic] {
            let mut state = 99u64;
            let mut next = || {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                mix64(state)
            };
            let (mut sq, mut bias, mut se_sum, mut within) = (0.0, 0.0, 0.0, 0);
            for t in 0..trials {
                let size = lo + (next() % (hi - lo) as u64) as usize;
                let shared = (next() % (size as u64 + 1)) as usize;
                let extra = (next() % (size as u64 / 2 + 1)) as usize;
                let common: Vec<u64> = (0..shared).map(|_| next()).collect();
                let mut a = common.clone();
                a.extend((0..size - shared).map(|_| next()));
                let mut b = common;
                b.extend((0..extra).map(|_| next()));
                a.sort_unstable();
                b.sort_unstable();
                let exact = jaccard(&a, &b);
                let s = Sketcher::new(scheme, k, t as u64);
                let est = estimate(&s.sketch(&a), &s.sketch(&b));
                let err = est - exact;
                sq += err * err;
                bias += err;
                let se = standard_error(exact, k);
                se_sum += se;
                within += (err.abs() <= 3.0 * se) as u32;
            }
            let n = trials as f64;
            println!(
                "{:<8} {:>4}-{:<6} {:.5}  {:+.5}  {:.5}      {:.4}",
                scheme.as_str(),
                lo,
                hi,
                (sq / n).sqrt(),
                bias / n,
                se_sum / n,
                within as f64 / n
            );
        }
    }
}
