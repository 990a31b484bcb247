//! Runs of characters the table path copies as they are, found a vector of bytes at a
//! time.

/// Bytes [`words_run`] looks at.
pub(super) const RUN_BLOCK: usize = 16;

/// How many of the first bytes of `block` (16 of them, from a character boundary)
/// are characters every option set keeps as they are, and single spaces each followed
/// by one of them inside the block: the table path copies all of those as one run.
/// The characters are the lowercase ASCII letters and the basic Arabic letters that
/// no step folds (U+0621..U+063A and U+0641..U+064A, less آ أ إ ة ى); 0 when the
/// block does not start with one.
///
/// The classes are found 16 bytes at once: with SSE2 (every x86-64 processor has it)
/// a few vector comparisons give masks of letters, spaces and Arabic lead bytes whose
/// following byte makes a kept letter, and the run is the count of trailing ones of
/// their combination.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(super) fn words_run(block: &[u8; RUN_BLOCK]) -> usize {
    use std::arch::x86_64::*;
    #[target_feature(enable = "sse2")]
    fn masks(block: &[u8; RUN_BLOCK]) -> (u32, u32, u32) {
        /// Unsigned `v - lo <= span` (`min(d, span) == d`).
        #[target_feature(enable = "sse2")]
        fn within(v: __m128i, lo: u8, span: u8) -> __m128i {
            let d = _mm_sub_epi8(v, _mm_set1_epi8(lo as i8));
            _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(span as i8)), d)
        }
        #[target_feature(enable = "sse2")]
        fn eq(v: __m128i, b: u8) -> __m128i {
            _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8))
        }
        // SAFETY: the load reads the 16 bytes of `block`, unaligned.
        let v = unsafe { _mm_loadu_si128(block.as_ptr().cast()) };
        // Each byte's next byte (0 after the last).
        let next = _mm_srli_si128::<1>(v);
        let letters = within(v, b'a', 25);
        let spaces = eq(v, b' ');
        // U+0621..U+063A is D8 A1..D8 BA; U+0641..U+064A is D9 81..D9 8A.
        let folded8 = _mm_or_si128(
            _mm_or_si128(eq(next, 0xA2), eq(next, 0xA3)),
            _mm_or_si128(eq(next, 0xA5), eq(next, 0xA9)),
        );
        let lead8 = _mm_andnot_si128(
            folded8,
            _mm_and_si128(eq(v, 0xD8), within(next, 0xA1, 0x19)),
        );
        let lead9 = _mm_andnot_si128(
            eq(next, 0x89),
            _mm_and_si128(eq(v, 0xD9), within(next, 0x81, 9)),
        );
        (
            _mm_movemask_epi8(letters) as u32,
            _mm_movemask_epi8(spaces) as u32,
            _mm_movemask_epi8(_mm_or_si128(lead8, lead9)) as u32,
        )
    }
    // SAFETY: SSE2 is part of the x86-64 baseline: every x86-64 processor has it.
    let (letters, spaces, leads) = unsafe { masks(block) };
    run_of(letters, spaces, leads)
}

/// [`words_run`] (portable form).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub(super) fn words_run(block: &[u8; RUN_BLOCK]) -> usize {
    let (mut letters, mut spaces, mut leads) = (0u32, 0u32, 0u32);
    for (k, &b) in block.iter().enumerate() {
        let next = block.get(k + 1).copied().unwrap_or(0);
        letters |= (b.is_ascii_lowercase() as u32) << k;
        spaces |= ((b == b' ') as u32) << k;
        let lead = match b {
            0xD8 => (0xA1..=0xBA).contains(&next) && !matches!(next, 0xA2 | 0xA3 | 0xA5 | 0xA9),
            0xD9 => (0x81..=0x8A).contains(&next) && next != 0x89,
            _ => false,
        };
        leads |= (lead as u32) << k;
    }
    run_of(letters, spaces, leads)
}

/// The run [`words_run`] counts, from the masks of the block's lowercase letters,
/// spaces and kept Arabic lead bytes. A lead counts with its second byte, so not in
/// the block's last byte; a space counts when a kept character follows it.
#[inline]
fn run_of(letters: u32, spaces: u32, leads: u32) -> usize {
    let leads = leads & ((1 << (RUN_BLOCK - 1)) - 1);
    let starts = letters | leads;
    let good = starts | (leads << 1) | (spaces & (starts >> 1));
    (!good).trailing_zeros() as usize
}

#[cfg(test)]
mod tests {
    use super::super::{KEEP, NormalizeOptions, Normalizer};
    use super::*;

    #[test]
    fn word_runs_stop_where_the_table_must_look() {
        // The first 16 bytes of `s`.
        let run = |s: &str| words_run(s.as_bytes()[..RUN_BLOCK].try_into().unwrap());
        assert_eq!(run("abcdefghijklmnop"), 16);
        assert_eq!(run("ab cd ef gh ij k"), 16);
        // A space at the block's end, or before anything but a kept letter.
        assert_eq!(run("abcdefghijklmno "), 15);
        assert_eq!(run("abc  defghijklmn"), 3);
        assert_eq!(run("abc Defghijklmno"), 3);
        assert_eq!(run("abc.defghijklmno"), 3);
        assert_eq!(run("a\u{e9}bcdefghijklmn"), 1);
        assert_eq!(run("Abcdefghijklmnop"), 0);
        // Arabic letters, two bytes each; a lead byte needs its second in the block.
        assert_eq!(run("كتب علم ب"), 16);
        assert_eq!(run("abcdefghijklmnك"), 16);
        assert_eq!(run("abcdefghijklmnoك"), 15);
        assert_eq!(run("كتب a.abcdefghi"), 8);
        // Letters a step folds (alef with hamza, ta marbuta, alef maqsura), marks
        // and tatweel are left to the table.
        assert_eq!(run("كأب abcdefghijkl"), 2);
        assert_eq!(run("كة abcdefghijklm"), 2);
        assert_eq!(run("كى abcdefghijklm"), 2);
        assert_eq!(run("كَ abcdefghijklm"), 2);
        assert_eq!(run("كـ abcdefghijklm"), 2);
        assert_eq!(run("ك٣ abcdefghijklm"), 2);
    }

    #[test]
    fn word_run_characters_are_kept_under_every_option_set() {
        // What the table path copies without a lookup.
        let kept = ('a'..='z')
            .chain('\u{0621}'..='\u{063A}')
            .chain('\u{0641}'..='\u{064A}')
            .filter(|c| !matches!(c, 'آ' | 'أ' | 'إ' | 'ة' | 'ى'));
        let kept: Vec<char> = kept.collect();
        for mask in 0u8..128 {
            let opts = NormalizeOptions::from_mask(mask);
            let n = Normalizer::new(opts);
            for &c in &kept {
                assert_eq!(n.table.get(c as u32), Some(KEEP), "{c} under {opts:?}");
            }
        }
        // The block test agrees on every two-byte character.
        for cp in 0x80..0x800u32 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            let mut block = [b'x'; RUN_BLOCK];
            c.encode_utf8(&mut block);
            let want = if kept.contains(&c) { RUN_BLOCK } else { 0 };
            assert_eq!(words_run(&block), want, "U+{cp:04X}");
        }
    }
}
