//! Vector: running a hot loop with the widest integer vectors the processor has.
//!
//! The release build targets the x86-64 baseline (SSE2), whose vectors hold two
//! 64-bit lanes and cannot multiply them. The loops that hash every shingle multiply
//! 64-bit values, so [`widest`] runs them compiled a second and a third time, for
//! AVX2 and for AVX-512, and picks one when called. The results are the same on
//! every path: only how many lanes run at once changes.

/// Run `f` compiled with the widest vector instructions this processor has. `f` must
/// be a closure whose body the compiler can inline (a plain loop over slices); the
/// loop is then vectorized for the chosen instruction set.
#[inline(always)]
pub fn widest<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the processor has the features the function is compiled for.
            return unsafe { avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2")]
fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the hashing loops do to a lane: rotate, xor, 64-bit multiply, shift.
    #[inline(always)]
    fn lanes(xs: &[u64]) -> Vec<u64> {
        xs.iter()
            .map(|&x| {
                let h = (x.rotate_left(27) ^ 7).wrapping_mul(0xff51_afd7_ed55_8ccd);
                h ^ (h >> 33)
            })
            .collect()
    }

    /// Every path this processor can run gives the plain code's values.
    #[test]
    fn every_path_gives_the_plain_values() {
        let xs: Vec<u64> = (0..1001u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let plain = lanes(&xs);
        assert_eq!(widest(|| lanes(&xs)), plain);
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the processor has AVX2.
                assert_eq!(unsafe { avx2(|| lanes(&xs)) }, plain);
            }
            if std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512vl")
            {
                // SAFETY: the processor has AVX-512 F, DQ and VL.
                assert_eq!(unsafe { avx512(|| lanes(&xs)) }, plain);
            }
        }
    }
}
