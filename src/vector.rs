//! Vector: running a hot loop with the widest integer vectors the processor has.
//!
//! The release build targets the x86-64 baseline (SSE2), whose vectors hold two
//! 64-bit lanes and cannot multiply them. The loops that hash every shingle multiply
//! 64-bit values, so [`widest`] runs them compiled a second and a third time, for
//! AVX2 and for AVX-512, and picks one when called. The results are the same on
//! every path: only how many lanes run at once changes.

/// The instruction sets a loop can be compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// The build's baseline.
    Plain,
    /// AVX2: four 64-bit lanes, products from 32-bit multiplies.
    Avx2,
    /// AVX-512 F, DQ and VL: eight 64-bit lanes, `vpmullq`.
    Avx512,
}

/// The widest level this processor runs.
pub fn best() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512dq") && has!("avx512vl") && has!("avx2") {
            return Level::Avx512;
        }
        if has!("avx2") {
            return Level::Avx2;
        }
    }
    Level::Plain
}

/// The levels this processor runs, narrowest first.
pub fn available() -> Vec<Level> {
    match best() {
        Level::Plain => vec![Level::Plain],
        Level::Avx2 => vec![Level::Plain, Level::Avx2],
        Level::Avx512 => vec![Level::Plain, Level::Avx2, Level::Avx512],
    }
}

#[cfg(test)]
thread_local! {
    /// Tests run the hot loops at each level this way.
    static FORCED: std::cell::Cell<Option<Level>> = const { std::cell::Cell::new(None) };
}

/// Run `body` with every [`widest`] call on this thread at `level` (tests only).
#[cfg(test)]
pub fn at_level<R>(level: Level, body: impl FnOnce() -> R) -> R {
    assert!(
        available().contains(&level),
        "{level:?} is not available here"
    );
    FORCED.with(|f| f.set(Some(level)));
    let r = body();
    FORCED.with(|f| f.set(None));
    r
}

/// Run `f` compiled with the widest vector instructions this processor has. `f` must
/// be a closure whose body the compiler can inline (a plain loop over slices); the
/// loop is then vectorized for the chosen instruction set.
#[inline(always)]
pub fn widest<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(test)]
    let level = FORCED.with(|l| l.get()).unwrap_or_else(best);
    #[cfg(not(test))]
    let level = best();
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `best` found every feature the function is compiled for.
        Level::Avx512 => unsafe { avx512(f) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Level::Avx2 => unsafe { avx2(f) },
        _ => f(),
    }
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

    #[test]
    fn levels_are_ordered_and_plain_is_always_there() {
        let levels = available();
        assert_eq!(levels[0], Level::Plain);
        assert_eq!(*levels.last().unwrap(), best());
    }
}
