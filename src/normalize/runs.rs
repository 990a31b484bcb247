//! Runs of characters the table path writes a vector of bytes at a time: words of
//! letters and digits of the two commonest scripts in the corpora, with single spaces
//! between them, together with the folds that keep a character's length (ASCII case,
//! digits to `0`, and the Arabic alef, ta marbuta and alef maqsura forms).

/// Bytes [`Runs::run`] looks at from a character boundary.
pub(super) const RUN_BLOCK: usize = 32;

/// The bytes [`Runs::run`] reads: the one before the block, the block, and the one
/// after it.
pub(super) const WINDOW: usize = RUN_BLOCK + 2;

/// The window [`Runs::run`] reads for the block at byte `i` of `bytes`: from the
/// byte before the block to the one after it. Near either end of `bytes` it is
/// copied into `padded`, with 0 past the end.
#[inline]
pub(super) fn window<'a>(
    bytes: &'a [u8],
    i: usize,
    padded: &'a mut [u8; WINDOW],
) -> &'a [u8; WINDOW] {
    let from = i.checked_sub(1).and_then(|from| bytes.get(from..));
    match from.and_then(<[u8]>::first_chunk::<WINDOW>) {
        Some(w) => w,
        None => {
            pad(bytes, i, padded);
            padded
        }
    }
}

/// [`window`] near either end of `bytes`.
#[cold]
fn pad(bytes: &[u8], i: usize, padded: &mut [u8; WINDOW]) {
    *padded = [0; WINDOW];
    let (from, at) = if i == 0 { (0, 1) } else { (i - 1, 0) };
    let rest = &bytes[from..bytes.len().min(from + WINDOW - at)];
    padded[at..at + rest.len()].copy_from_slice(rest);
}

/// What one group of characters that fold to characters of the same length does
/// under a set of options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Group {
    /// Each character stays as it is: the run goes on over it.
    Keep,
    /// Each becomes its fold: the run goes on and writes the fold.
    Fold,
    /// Anything else (a mark that needs the general path, a word boundary): the run
    /// ends before it, and the table decides.
    Off,
}

/// What the block path takes into a run, read off one options set's table.
///
/// Always taken as they are, whatever the options: the lowercase ASCII letters and
/// the basic Arabic letters that no step folds (U+0621..U+063A and U+0641..U+064A,
/// less the groups below), and one space between two taken characters. The groups
/// are the characters a step may fold to one of the same length: `A`–`Z` (to
/// lowercase), `0`–`9` (to `0`), آ أ إ (to ا), ة (to ه) and ى (to ي).
#[derive(Clone, Copy, Debug)]
pub(super) struct Runs {
    upper: Group,
    digits: Group,
    alef: Group,
    ta: Group,
    ya: Group,
}

impl Runs {
    /// The groups as `entry` (the table's entry of a character) treats them: `keep`
    /// is the entry of a character kept as it is.
    pub(super) fn new(entry: impl Fn(char) -> Option<u32>, keep: u32) -> Runs {
        let group = |pairs: &mut dyn Iterator<Item = (char, char)>| {
            let mut kept = true;
            let mut folded = true;
            for (c, to) in pairs {
                let e = entry(c);
                kept &= e == Some(keep);
                // A character that is its own fold (`0`) is kept as it is.
                folded &= e == Some(to as u32) || (c == to && e == Some(keep));
            }
            match (kept, folded) {
                (true, _) => Group::Keep,
                (false, true) => Group::Fold,
                _ => Group::Off,
            }
        };
        Runs {
            upper: group(&mut ('A'..='Z').map(|c| (c, c.to_ascii_lowercase()))),
            digits: group(&mut ('0'..='9').map(|c| (c, '0'))),
            alef: group(&mut ['آ', 'أ', 'إ'].into_iter().map(|c| (c, 'ا'))),
            ta: group(&mut std::iter::once(('ة', 'ه'))),
            ya: group(&mut std::iter::once(('ى', 'ي'))),
        }
    }

    /// Whether a run may start with byte `b`: the cheap test before [`Runs::run`].
    #[inline(always)]
    pub(super) fn may_start(b: u8) -> bool {
        matches!(b, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | 0xD8 | 0xD9)
    }

    /// How many bytes of the block `window[1..=RUN_BLOCK]` the run at its start
    /// holds (from a character boundary; `window[0]` is the byte before the block,
    /// `window[RUN_BLOCK + 1]` the one after it, 0 where there is none). The run holds
    /// whole characters only, starts with a taken character (else it is empty) and
    /// ends with one.
    #[inline]
    pub(super) fn run(&self, window: &[u8; WINDOW]) -> usize {
        self.masks(window).run()
    }

    /// Appends the `n` bytes of the run [`Runs::run`] found in `window` to `out`,
    /// folded: the whole block is stored past the end of `out`, folded, and its
    /// length moved on by `n`.
    ///
    /// # Safety
    /// `n` must be what [`Runs::run`] returned for this `window` (any other length
    /// may cut a character, or pass the block).
    #[inline]
    pub(super) unsafe fn write(&self, window: &[u8; WINDOW], n: usize, out: &mut String) {
        debug_assert!(n <= RUN_BLOCK && n == self.run(window));
        out.reserve(RUN_BLOCK);
        // SAFETY: after the reserve the vector has at least RUN_BLOCK bytes of spare
        // capacity, which `fold` fills; `n`, a run's length, is at most RUN_BLOCK, so
        // its first `len + n` bytes are then initialized. They stay valid UTF-8: the
        // run holds whole characters only (the caller passes the run's own length),
        // and each fold writes a whole character of the same length in place of one.
        unsafe {
            let v = out.as_mut_vec();
            let len = v.len();
            self.fold(
                window,
                v.spare_capacity_mut()[..RUN_BLOCK].as_mut_ptr().cast(),
            );
            v.set_len(len + n);
        }
        debug_assert!(std::str::from_utf8(&out.as_bytes()[out.len() - n..]).is_ok());
    }

    /// The groups (upper, digits, alef, ta, ya) as flags for the vector code, bytes
    /// of all ones or all zeros: (taken, folded).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn flags(&self) -> ([i8; 5], [i8; 5]) {
        let groups = [self.upper, self.digits, self.alef, self.ta, self.ya];
        let taken = groups.map(|g| if g == Group::Off { 0 } else { -1 });
        let folded = groups.map(|g| if g == Group::Fold { -1 } else { 0 });
        (taken, folded)
    }

    /// The masks of the block, 16 bytes at a time with SSE2 (part of every x86-64
    /// processor): a few vector comparisons give the classes.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    fn masks(&self, window: &[u8; WINDOW]) -> Masks {
        let p = window.as_ptr();
        // SAFETY: SSE2 is part of the x86-64 baseline; each half reads the 18 bytes
        // from its start, inside the window (16 + 18 = WINDOW).
        let ((s0, l0, p0), (s1, l1, p1)) = unsafe { (self.classes(p), self.classes(p.add(16))) };
        Masks {
            starts: s0 | (s1 << 16),
            leads: l0 | (l1 << 16),
            spaces: p0 | (p1 << 16),
        }
    }

    /// The block of `window`, folded, stored to `out`, 16 bytes at a time: each fold
    /// is a bit pattern the byte is XORed with.
    ///
    /// # Safety
    /// `out..out + RUN_BLOCK` must be writable.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    unsafe fn fold(&self, window: &[u8; WINDOW], out: *mut u8) {
        let p = window.as_ptr();
        // SAFETY: SSE2 is part of the x86-64 baseline; each half reads the 18 bytes
        // from its start, inside the window, and the caller makes the 32 bytes
        // written writable.
        unsafe {
            self.fold_half(p, out);
            self.fold_half(p.add(16), out.add(16));
        }
    }

    /// The masks (starts, leads, spaces) of the 16 bytes from `p + 1` (`p + 17`
    /// follows them).
    ///
    /// # Safety
    /// `p..p + 18` must be readable.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "sse2")]
    unsafe fn classes(&self, p: *const u8) -> (u32, u32, u32) {
        use sse2::*;
        use std::arch::x86_64::*;
        // SAFETY: the caller makes the 18 bytes from `p` readable; loads unaligned.
        let (v, next) = unsafe {
            (
                _mm_loadu_si128(p.add(1).cast()),
                _mm_loadu_si128(p.add(2).cast()),
            )
        };
        let ([upper_take, digit_take, alef_take, ta_take, ya_take], _) = self.flags();
        // Arabic letters, by their lead byte and the one after it: U+0621..U+063A is
        // D8 A1..D8 BA, U+0641..U+064A is D9 81..D9 8A. آ أ إ are D8 A2, A3, A5, ة is
        // D8 A9, ى is D9 89: those are left out unless their group is taken.
        let alef_next = or(or(eq(next, 0xA2), eq(next, 0xA3)), eq(next, 0xA5));
        let left8 = or(
            _mm_andnot_si128(flag(alef_take), alef_next),
            _mm_andnot_si128(flag(ta_take), eq(next, 0xA9)),
        );
        let lead8 = _mm_andnot_si128(left8, and(eq(v, 0xD8), within(next, 0xA1, 0x19)));
        let left9 = _mm_andnot_si128(flag(ya_take), eq(next, 0x89));
        let lead9 = _mm_andnot_si128(left9, and(eq(v, 0xD9), within(next, 0x81, 9)));
        let leads = or(lead8, lead9);
        let starts = or(
            or(within(v, b'a', 25), leads),
            or(
                and(within(v, b'A', 25), flag(upper_take)),
                and(within(v, b'0', 9), flag(digit_take)),
            ),
        );
        (
            _mm_movemask_epi8(starts) as u32,
            _mm_movemask_epi8(leads) as u32,
            _mm_movemask_epi8(eq(v, b' ')) as u32,
        )
    }

    /// The 16 bytes from `p + 1`, folded, stored to `out` (`p` is the byte before
    /// them, `p + 17` the one after).
    ///
    /// # Safety
    /// `p..p + 18` must be readable and `out..out + 16` writable.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "sse2")]
    unsafe fn fold_half(&self, p: *const u8, out: *mut u8) {
        use sse2::*;
        use std::arch::x86_64::*;
        // SAFETY: the caller makes the 18 bytes from `p` readable; loads unaligned.
        let (prev, v, next) = unsafe {
            (
                _mm_loadu_si128(p.cast()),
                _mm_loadu_si128(p.add(1).cast()),
                _mm_loadu_si128(p.add(2).cast()),
            )
        };
        let (_, [upper_fold, digit_fold, alef_fold, ta_fold, ya_fold]) = self.flags();
        // A-Z gain 0x20; a digit becomes 0x30; the second byte of آ أ إ becomes A7
        // (ا); ة (D8 A9) becomes D9 87 (ه); the second byte of ى becomes 8A (ي).
        let after8 = eq(prev, 0xD8);
        let alef_second = and(after8, or(or(eq(v, 0xA2), eq(v, 0xA3)), eq(v, 0xA5)));
        let flips = [
            (and(within(v, b'A', 25), flag(upper_fold)), flag(0x20)),
            (
                and(within(v, b'0', 9), flag(digit_fold)),
                _mm_xor_si128(v, flag(0x30)),
            ),
            (
                and(alef_second, flag(alef_fold)),
                _mm_xor_si128(v, flag(0xA7_u8 as i8)),
            ),
            (
                and(and(eq(v, 0xD8), eq(next, 0xA9)), flag(ta_fold)),
                flag(0x01),
            ),
            (and(and(after8, eq(v, 0xA9)), flag(ta_fold)), flag(0x2E)),
            (
                and(and(eq(prev, 0xD9), eq(v, 0x89)), flag(ya_fold)),
                flag(0x03),
            ),
        ];
        let mut flip = _mm_setzero_si128();
        for (mask, bits) in flips {
            flip = or(flip, and(mask, bits));
        }
        // SAFETY: the caller makes the 16 bytes from `out` writable; stored unaligned.
        unsafe { _mm_storeu_si128(out.cast(), _mm_xor_si128(v, flip)) };
    }

    /// [`Runs::masks`] (portable form).
    #[cfg(not(target_arch = "x86_64"))]
    #[inline]
    fn masks(&self, window: &[u8; WINDOW]) -> Masks {
        self.masks_portable(window)
    }

    /// [`Runs::fold`] (portable form).
    ///
    /// # Safety
    /// `out..out + RUN_BLOCK` must be writable.
    #[cfg(not(target_arch = "x86_64"))]
    #[inline]
    unsafe fn fold(&self, window: &[u8; WINDOW], out: *mut u8) {
        let folded = self.folded_portable(window);
        // SAFETY: the caller makes the RUN_BLOCK bytes from `out` writable.
        unsafe { std::ptr::copy_nonoverlapping(folded.as_ptr(), out, RUN_BLOCK) };
    }

    /// [`Runs::masks`] a byte at a time: the portable form, and what the vector form
    /// is tested against.
    #[cfg(any(test, not(target_arch = "x86_64")))]
    fn masks_portable(&self, window: &[u8; WINDOW]) -> Masks {
        let take = |g: Group| g != Group::Off;
        let mut masks = Masks::default();
        for k in 0..RUN_BLOCK {
            let (b, next) = (window[k + 1], window[k + 2]);
            let lead = match (b, next) {
                (0xD8, 0xA2 | 0xA3 | 0xA5) => take(self.alef),
                (0xD8, 0xA9) => take(self.ta),
                (0xD8, 0xA1..=0xBA) => true,
                (0xD9, 0x89) => take(self.ya),
                (0xD9, 0x81..=0x8A) => true,
                _ => false,
            };
            let start = lead
                || b.is_ascii_lowercase()
                || (b.is_ascii_uppercase() && take(self.upper))
                || (b.is_ascii_digit() && take(self.digits));
            masks.starts |= (start as u32) << k;
            masks.leads |= (lead as u32) << k;
            masks.spaces |= ((b == b' ') as u32) << k;
        }
        masks
    }

    /// [`Runs::fold`] a byte at a time (the portable form, and what the vector form
    /// is tested against).
    #[cfg(any(test, not(target_arch = "x86_64")))]
    fn folded_portable(&self, window: &[u8; WINDOW]) -> [u8; RUN_BLOCK] {
        let fold = |g: Group| g == Group::Fold;
        let mut folded = [0u8; RUN_BLOCK];
        for (k, f) in folded.iter_mut().enumerate() {
            let (prev, b, next) = (window[k], window[k + 1], window[k + 2]);
            *f = match (prev, b, next) {
                (_, b'A'..=b'Z', _) if fold(self.upper) => b.to_ascii_lowercase(),
                (_, b'0'..=b'9', _) if fold(self.digits) => b'0',
                (0xD8, 0xA2 | 0xA3 | 0xA5, _) if fold(self.alef) => 0xA7,
                (_, 0xD8, 0xA9) if fold(self.ta) => 0xD9,
                (0xD8, 0xA9, _) if fold(self.ta) => 0x87,
                (0xD9, 0x89, _) if fold(self.ya) => 0x8A,
                _ => b,
            };
        }
        folded
    }
}

/// SSE2 helpers of the vector forms.
#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::*;

    /// Unsigned `v - lo <= span` (`min(d, span) == d`).
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn within(v: __m128i, lo: u8, span: u8) -> __m128i {
        let d = _mm_sub_epi8(v, _mm_set1_epi8(lo as i8));
        _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(span as i8)), d)
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn eq(v: __m128i, b: u8) -> __m128i {
        _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8))
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn and(a: __m128i, b: __m128i) -> __m128i {
        _mm_and_si128(a, b)
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn or(a: __m128i, b: __m128i) -> __m128i {
        _mm_or_si128(a, b)
    }

    /// Every byte `f`.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn flag(f: i8) -> __m128i {
        _mm_set1_epi8(f)
    }
}

/// Bit k of each mask is about byte k of a block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Masks {
    /// A taken character starts at the byte.
    starts: u32,
    /// The byte is the lead byte of a taken two-byte character.
    leads: u32,
    /// The byte is a space.
    spaces: u32,
}

impl Masks {
    /// The run's length in bytes: taken characters, and spaces each followed by
    /// one, from byte 0 (a taken character) on. A lead in the block's last byte has
    /// its second byte outside, so it ends the run.
    #[inline]
    fn run(&self) -> usize {
        if self.starts & 1 == 0 {
            return 0;
        }
        let leads = self.leads & !(1 << (RUN_BLOCK - 1));
        let starts = self.starts & !(self.leads & (1 << (RUN_BLOCK - 1)));
        let good = starts | (leads << 1) | (self.spaces & (starts >> 1));
        (!good).trailing_zeros() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::super::{KEEP, NormalizeOptions, Normalizer};
    use super::*;
    use proptest::prelude::*;

    /// The window of the block at the start of `s` (nothing before it).
    fn window_of(s: &str) -> [u8; WINDOW] {
        let mut w = [0u8; WINDOW];
        let b = &s.as_bytes()[..s.len().min(WINDOW - 1)];
        w[1..=b.len()].copy_from_slice(b);
        w
    }

    #[test]
    fn windows_are_padded_with_zeros_past_either_end() {
        let bytes: Vec<u8> = (1..=40).collect();
        let mut padded = [9; WINDOW];
        let mut at = |i: usize| *window(&bytes, i, &mut padded);
        let mut want = [0; WINDOW];
        want[1..].copy_from_slice(&bytes[..WINDOW - 1]);
        assert_eq!(at(0), want);
        assert_eq!(at(1)[..], bytes[..WINDOW]);
        assert_eq!(at(7)[..], bytes[6..]);
        let mut want = [0; WINDOW];
        want[..4].copy_from_slice(&bytes[36..]);
        assert_eq!(at(37), want);
    }

    fn runs(opts: NormalizeOptions) -> Runs {
        Normalizer::new(opts).runs
    }

    #[test]
    fn runs_stop_where_the_table_must_look() {
        let all = runs(NormalizeOptions::default());
        let run = |s: &str| all.run(&window_of(s));
        assert_eq!(run("abcdefghijklmnopqrstuvwxyzabcdef"), 32);
        assert_eq!(run("The Word 2024 and More"), 22);
        // A space at the end, or before anything but a taken character.
        assert_eq!(run("abc "), 3);
        assert_eq!(run("abc  def"), 3);
        assert_eq!(run("abc .def"), 3);
        assert_eq!(run("abc.def"), 3);
        assert_eq!(run("a\u{e9}bc"), 1);
        assert_eq!(run(" abc"), 0);
        assert_eq!(run(".abc"), 0);
        // Arabic letters, two bytes each, the folded ones with them; a lead byte in
        // the block's last byte ends it.
        assert_eq!(run("قالت إن المدرسة"), "قالت إن المدرسة".len());
        assert_eq!(run("abcdefghijklmnopqrstuvwxyzabcdeك"), 31);
        assert_eq!(run("abcdefghijklmnopqrstuvwxyzabcdك"), 32);
        // Marks, tatweel, Arabic-Indic digits and Persian letters are the table's.
        for s in ["كَ", "كـ", "ك٣", "كی", "کل"] {
            assert_eq!(
                run(&format!("{s} abc")),
                if s.starts_with('ک') { 0 } else { 2 }
            );
        }
        // With every step off, the folded groups are taken as they are.
        let none = runs(NormalizeOptions::none());
        assert_eq!(none.run(&window_of("Abc 12 أة")), "Abc 12 أة".len());
    }

    #[test]
    fn groups_follow_the_table_under_every_option_set() {
        for mask in 0u8..128 {
            let opts = NormalizeOptions::from_mask(mask);
            let n = Normalizer::new(opts);
            // Always taken as they are.
            let kept = ('a'..='z')
                .chain('\u{0621}'..='\u{063A}')
                .chain('\u{0641}'..='\u{064A}')
                .filter(|c| !matches!(c, 'آ' | 'أ' | 'إ' | 'ة' | 'ى'));
            for c in kept {
                assert_eq!(n.table.get(c as u32), Some(KEEP), "{c} under {opts:?}");
            }
            // Each group is kept or folded as a whole under these steps.
            let r = n.runs;
            assert_eq!(
                r.upper,
                if opts.lowercase {
                    Group::Fold
                } else {
                    Group::Keep
                }
            );
            assert_eq!(
                r.digits,
                if opts.digits {
                    Group::Fold
                } else {
                    Group::Keep
                }
            );
            for g in [r.alef, r.ta, r.ya] {
                assert_eq!(
                    g,
                    if opts.arabic {
                        Group::Fold
                    } else {
                        Group::Keep
                    }
                );
            }
        }
    }

    #[test]
    fn every_small_character_is_taken_and_folded_as_the_table_says() {
        for mask in [0u8, 127, 1, 2, 4, 16] {
            let n = Normalizer::new(NormalizeOptions::from_mask(mask));
            for cp in 0x21..0x800u32 {
                let Some(c) = char::from_u32(cp) else {
                    continue;
                };
                let text = format!("{c}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
                let w = window_of(&text);
                let e = n.table.get(cp).unwrap_or(0);
                let run = n.runs.run(&w);
                let mut out = String::new();
                if run > 0 {
                    // SAFETY: `run` is what `run` found in `w`.
                    unsafe { n.runs.write(&w, run, &mut out) };
                }
                // Taken exactly when it is one of the letters always taken, or in a
                // group that is not left to the table.
                let r = n.runs;
                let group = match c {
                    'A'..='Z' => Some(r.upper),
                    '0'..='9' => Some(r.digits),
                    'آ' | 'أ' | 'إ' => Some(r.alef),
                    'ة' => Some(r.ta),
                    'ى' => Some(r.ya),
                    _ => None,
                };
                let taken = match group {
                    Some(g) => g != Group::Off,
                    None => {
                        matches!(c, 'a'..='z' | '\u{0621}'..='\u{063A}' | '\u{0641}'..='\u{064A}')
                    }
                };
                assert_eq!(run == RUN_BLOCK, taken, "U+{cp:04X} mask {mask}");
                // Taken: the whole block, with the character as the table writes it.
                if run == RUN_BLOCK {
                    let want = if e == KEEP {
                        c
                    } else {
                        char::from_u32(e).unwrap()
                    };
                    assert_eq!(out.chars().next(), Some(want), "U+{cp:04X} mask {mask}");
                    assert!(out[want.len_utf8()..].bytes().all(|b| b == b'x'));
                } else {
                    assert_eq!(run, 0, "U+{cp:04X} mask {mask}");
                }
            }
        }
    }

    /// Bytes that make every class and fold the block tells apart, and their
    /// neighbours.
    const BYTES: &[u8] = &[
        b'a', b'z', b'A', b'Z', b'0', b'9', b' ', b'.', 0xD8, 0xD9, 0xDA, 0xA1, 0xA2, 0xA3, 0xA5,
        0xA7, 0xA9, 0xBA, 0xBB, 0x81, 0x89, 0x8A, 0x8B, 0x80, b'@', b'[', b'`', b'{', b'/', b':',
        0, 0xD7, 0xA0, 0xA4, 0xA6, 0xA8, 0xAA, 0x88, 0xFF,
    ];

    /// Every way a group can go.
    fn any_group() -> impl Strategy<Value = Group> {
        prop_oneof![Just(Group::Keep), Just(Group::Fold), Just(Group::Off)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn vector_form_agrees_with_portable_form(
            picks in proptest::collection::vec(0..BYTES.len(), WINDOW),
            // Groups as no options set has them too (`Off`), not only as they are.
            groups in proptest::collection::vec(any_group(), 5),
        ) {
            let r = Runs {
                upper: groups[0],
                digits: groups[1],
                alef: groups[2],
                ta: groups[3],
                ya: groups[4],
            };
            let mut w = [0u8; WINDOW];
            for (b, &p) in w.iter_mut().zip(&picks) {
                *b = BYTES[p];
            }
            prop_assert_eq!(r.masks(&w), r.masks_portable(&w));
            let mut folded = [0u8; RUN_BLOCK];
            // SAFETY: `folded` holds RUN_BLOCK bytes.
            unsafe { r.fold(&w, folded.as_mut_ptr()) };
            prop_assert_eq!(folded, r.folded_portable(&w));
        }
    }
}
