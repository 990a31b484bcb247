//! Shingle: which overlapping pieces of a normalized document are compared?
//!
//! Word n-grams (default) or character n-grams (for scripts written without spaces).
//! Every token is hashed once with seeded xxh3; an n-gram's hash is combined from its
//! tokens' hashes, never re-hashed from the text.

use crate::normalize::{decode_utf8, is_plain_word_char};
use unicode_segmentation::UnicodeSegmentation;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShingleKind {
    /// Unicode words (UAX #29 word boundaries).
    Word,
    /// Unicode scalar values, spaces included.
    Char,
    /// Runs of non-whitespace, punctuation attached: the tokens of Python's
    /// `str.split()`, for comparisons with pipelines that tokenize that way.
    Whitespace,
}

impl ShingleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ShingleKind::Word => "word",
            ShingleKind::Char => "char",
            ShingleKind::Whitespace => "whitespace",
        }
    }
}

/// The parameters that shape a shingle set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShingleParams {
    pub kind: ShingleKind,
    /// Tokens per shingle.
    pub n: usize,
    pub seed: u64,
}

/// Final avalanche of a 64-bit value (the finalizer of MurmurHash3, public domain
/// constants). Used to mix combined n-gram hashes and character codes.
#[inline]
pub fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// Turns normalized text into shingle hashes. Holds no buffers; callers pass their own
/// so one allocation serves many documents.
#[derive(Clone, Copy, Debug)]
pub struct Shingler {
    params: ShingleParams,
}

impl Shingler {
    pub fn new(params: ShingleParams) -> Self {
        assert!(params.n >= 1, "shingle size must be at least 1");
        Shingler { params }
    }

    pub fn params(&self) -> &ShingleParams {
        &self.params
    }

    /// Hash the tokens of `normalized` into `tokens` (cleared first).
    pub fn tokens_into(&self, normalized: &str, tokens: &mut Vec<u64>) {
        self.tokens_into_plain(normalized, false, tokens);
    }

    /// [`Shingler::tokens_into`], told whether every character of `normalized` is a
    /// space (U+0020) or a [plain word character](is_plain_word_char), as
    /// [`crate::normalize::Normalizer::normalize_into_plain`] tells. Then each piece
    /// between spaces is one word, and the pieces are found a vector of bytes at a
    /// time without decoding a character. Same tokens either way.
    pub fn tokens_into_plain(&self, normalized: &str, plain: bool, tokens: &mut Vec<u64>) {
        tokens.clear();
        let seed = self.params.seed;
        match self.params.kind {
            ShingleKind::Word if plain => {
                debug_assert!(
                    normalized
                        .chars()
                        .all(|c| c == ' ' || is_plain_word_char(c))
                );
                for_each_split(normalized, |piece| {
                    tokens.push(xxh3_64_with_seed(piece.as_bytes(), seed));
                });
            }
            ShingleKind::Word => {
                // UAX #29 never joins across whitespace, so the text is split on
                // whitespace first; a piece made only of letters and digits of common
                // alphabets is one word as it stands, anything else goes through the
                // full word-boundary rules. Same tokens, without the segmenter's cost
                // on ordinary text.
                let hash = |w: &str| xxh3_64_with_seed(w.as_bytes(), seed);
                for_each_piece(normalized, |piece, plain| {
                    if plain {
                        tokens.push(hash(piece));
                    } else {
                        tokens.extend(piece.unicode_words().map(hash));
                    }
                });
            }
            ShingleKind::Whitespace => {
                for_each_split(normalized, |piece| {
                    tokens.push(xxh3_64_with_seed(piece.as_bytes(), seed));
                });
            }
            ShingleKind::Char => {
                tokens.extend(normalized.chars().map(|c| mix64(c as u64 ^ seed)));
            }
        }
    }

    /// The shingle hashes of `normalized` into `out` (cleared first; repeats kept,
    /// order of occurrence). A document with fewer than n tokens (but at least one)
    /// gives one shingle of all its tokens; an empty document gives none.
    pub fn shingles_into(&self, normalized: &str, tokens: &mut Vec<u64>, out: &mut Vec<u64>) {
        self.shingles_into_plain(normalized, false, tokens, out);
    }

    /// [`Shingler::shingles_into`], told what [`Shingler::tokens_into_plain`] is told.
    pub fn shingles_into_plain(
        &self,
        normalized: &str,
        plain: bool,
        tokens: &mut Vec<u64>,
        out: &mut Vec<u64>,
    ) {
        self.tokens_into_plain(normalized, plain, tokens);
        out.clear();
        let n = self.params.n;
        if tokens.is_empty() {
            return;
        }
        if tokens.len() < n {
            out.push(combine(tokens));
            return;
        }
        combine_windows(tokens, n, out);
    }

    /// The sorted, de-duplicated shingle set of `normalized`: what exact Jaccard is
    /// computed on.
    pub fn shingle_set(&self, normalized: &str) -> Vec<u64> {
        let mut tokens = Vec::new();
        let mut out = Vec::new();
        self.shingles_into(normalized, &mut tokens, &mut out);
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Calls `f(piece, plain)` for every maximal run of non-whitespace in `text`, in
/// one pass over the bytes; `plain` tells whether every character of the piece
/// [`is_plain_word_char`].
#[inline]
fn for_each_piece(text: &str, mut f: impl FnMut(&str, bool)) {
    let bytes = text.as_bytes();
    let (mut start, mut i) = (0, 0);
    let mut plain = true;
    while i < bytes.len() {
        let (cp, len) = decode_utf8(bytes, i);
        // One table lookup for the one- and two-byte characters (every script the
        // plain-word test covers); the rest are classified on the spot.
        let class = match PIECE_CLASS.get(cp as usize) {
            Some(&class) => class,
            None => match char::from_u32(cp) {
                Some(c) if c.is_whitespace() => PIECE_SPACE,
                Some(c) if is_plain_word_char(c) => PIECE_PLAIN,
                _ => PIECE_OTHER,
            },
        };
        let (space, word) = (class == PIECE_SPACE, class == PIECE_PLAIN);
        if space {
            if i > start {
                f(&text[start..i], plain);
            }
            start = i + len;
            plain = true;
        } else {
            plain &= word;
        }
        i += len;
    }
    if bytes.len() > start {
        f(&text[start..], plain);
    }
}

const PIECE_PLAIN: u8 = 0;
const PIECE_SPACE: u8 = 1;
const PIECE_OTHER: u8 = 2;

/// Whitespace, plain word character, or other, for every code point below U+0800.
const PIECE_CLASS: [u8; 0x800] = {
    let mut t = [PIECE_OTHER; 0x800];
    let mut cp = 0;
    while cp < 0x800 {
        if let Some(c) = char::from_u32(cp as u32) {
            t[cp] = if matches!(
                c,
                ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | '\u{85}' | '\u{A0}'
            ) {
                PIECE_SPACE
            } else if is_plain_word_char(c) {
                PIECE_PLAIN
            } else {
                PIECE_OTHER
            };
        }
        cp += 1;
    }
    t
};

const WORD_BYTE: u8 = 0;
const SPACE_BYTE: u8 = 1;
const MAYBE_SPACE_LEAD: u8 = 2;

/// What a byte of UTF-8 says about whitespace: ASCII whitespace, the lead byte of
/// a character that may be whitespace (U+0085, U+00A0; U+1680; U+2000..U+205F;
/// U+3000), or neither.
const SPLIT_CLASS: [u8; 256] = {
    let mut t = [WORD_BYTE; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = match b as u8 {
            // Python's `str.split()` also splits at the separators U+001C..U+001F.
            b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | 0x1C..=0x1F => SPACE_BYTE,
            0xC2 | 0xE1 | 0xE2 | 0xE3 => MAYBE_SPACE_LEAD,
            _ => WORD_BYTE,
        };
        b += 1;
    }
    t
};

/// Calls `f` for every maximal run of non-whitespace in `text` (the pieces of
/// Python's `str.split()`: Unicode whitespace and U+001C..U+001F), looking at bytes: only four lead bytes can start a
/// non-ASCII whitespace character, so other characters are never decoded.
///
/// The bytes are looked at 32 at a time: a mask of those that may end a piece
/// (ASCII controls and space, and the four lead bytes) is built with a few vector
/// comparisons, and only its set bits are examined one by one.
#[inline]
fn for_each_split(text: &str, mut f: impl FnMut(&str)) {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut base = 0;
    while base < bytes.len() {
        let block = &bytes[base..bytes.len().min(base + SPLIT_BLOCK)];
        let mut mask = match <&[u8; SPLIT_BLOCK]>::try_from(block) {
            Ok(full) => split_candidates(full),
            Err(_) => split_candidates_portable(block),
        };
        while mask != 0 {
            let i = base + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            // A candidate is never a continuation byte, so never inside a character
            // already taken as whitespace.
            let len = match SPLIT_CLASS[bytes[i] as usize] {
                SPACE_BYTE => 1,
                MAYBE_SPACE_LEAD => {
                    let (cp, len) = decode_utf8(bytes, i);
                    if !char::from_u32(cp).is_some_and(char::is_whitespace) {
                        continue;
                    }
                    len
                }
                _ => continue,
            };
            if i > start {
                f(&text[start..i]);
            }
            start = i + len;
        }
        base += block.len();
    }
    if bytes.len() > start {
        f(&text[start..]);
    }
}

/// Bytes [`for_each_split`] classifies at once.
const SPLIT_BLOCK: usize = 32;

/// Whether byte `b` may end a piece: an ASCII control or space, or a lead byte in
/// [`SPLIT_CLASS`] that may start a whitespace character.
#[inline(always)]
fn may_split(b: u8) -> bool {
    b <= b' ' || b == 0xC2 || b.wrapping_sub(0xE1) < 3
}

/// Bit k set when `block[k]` [`may_split`]: with SSE2 (part of every x86-64
/// processor), three vector comparisons and one mask extraction per 16 bytes.
#[cfg(target_arch = "x86_64")]
#[inline]
fn split_candidates(block: &[u8; SPLIT_BLOCK]) -> u32 {
    use std::arch::x86_64::*;
    #[target_feature(enable = "sse2")]
    fn at_most(v: __m128i, x: u8) -> __m128i {
        // Unsigned b <= x is min(b, x) == b.
        _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(x as i8)), v)
    }
    /// The mask of the 16 bytes from `at` (0 or 16).
    #[target_feature(enable = "sse2")]
    fn half(block: &[u8; SPLIT_BLOCK], at: usize) -> u32 {
        assert!(at + 16 <= SPLIT_BLOCK);
        // SAFETY: 16 bytes from `at` lie inside `block`; the load is unaligned.
        let v = unsafe { _mm_loadu_si128(block.as_ptr().add(at).cast()) };
        let space = at_most(v, b' ');
        let c2 = _mm_cmpeq_epi8(v, _mm_set1_epi8(0xC2u8 as i8));
        let e1_e3 = at_most(_mm_sub_epi8(v, _mm_set1_epi8(0xE1u8 as i8)), 2);
        _mm_movemask_epi8(_mm_or_si128(space, _mm_or_si128(c2, e1_e3))) as u32
    }
    // SAFETY: SSE2 is part of the x86-64 baseline: every x86-64 processor has it.
    unsafe { half(block, 0) | (half(block, 16) << 16) }
}

/// Bit k set when `block[k]` [`may_split`] (portable form).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn split_candidates(block: &[u8; SPLIT_BLOCK]) -> u32 {
    split_candidates_portable(block)
}

/// Bit k set when `block[k]` [`may_split`], for a block of at most 32 bytes, a byte
/// at a time (the last, short block of a text, and processors other than x86-64).
#[inline]
fn split_candidates_portable(block: &[u8]) -> u32 {
    block
        .iter()
        .enumerate()
        .fold(0, |m, (k, &b)| m | ((may_split(b) as u32) << k))
}

/// Start value of [`combine`].
const COMBINE_START: u64 = 0x9e37_79b9_7f4a_7c15;
/// Multiplier of [`combine`].
const COMBINE_MUL: u64 = 0x0000_0100_0000_01b3 | 1;

/// Order-sensitive combination of token hashes into one n-gram hash.
#[inline]
fn combine(window: &[u64]) -> u64 {
    let mut h = COMBINE_START;
    for &t in window {
        h = (h.rotate_left(27) ^ t).wrapping_mul(COMBINE_MUL);
    }
    mix64(h)
}

/// [`combine`] of every window of `n` tokens (at least one) into `out` (emptied
/// first), computed token position by token position over all windows at once so
/// that each step is one loop over a slice, which runs in the widest vectors the
/// processor has ([`crate::vector::widest`]).
fn combine_windows(tokens: &[u64], n: usize, out: &mut Vec<u64>) {
    let windows = tokens.len() + 1 - n;
    out.clear();
    out.resize(windows, COMBINE_START);
    crate::vector::widest(
        #[inline(always)]
        || {
            for j in 0..n {
                for (h, &t) in out.iter_mut().zip(&tokens[j..j + windows]) {
                    *h = (h.rotate_left(27) ^ t).wrapping_mul(COMBINE_MUL);
                }
            }
            for h in out.iter_mut() {
                *h = mix64(*h);
            }
        },
    )
}

/// Exact Jaccard similarity of two sorted, de-duplicated sets.
pub fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    let (inter, union) = intersection_union(a, b);
    if union == 0 {
        return 1.0;
    }
    inter as f64 / union as f64
}

/// Containment of `a` in `b`: |a ∩ b| / |a|.
pub fn containment(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    let (inter, _) = intersection_union(a, b);
    inter as f64 / a.len() as f64
}

fn intersection_union(a: &[u64], b: &[u64]) -> (usize, usize) {
    let (mut i, mut j, mut inter) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    (inter, a.len() + b.len() - inter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(n: usize) -> Shingler {
        Shingler::new(ShingleParams {
            kind: ShingleKind::Word,
            n,
            seed: 7,
        })
    }

    #[test]
    fn counts_and_short_docs() {
        let s = word(3);
        let (mut t, mut o) = (Vec::new(), Vec::new());
        s.shingles_into("a b c d e", &mut t, &mut o);
        assert_eq!(o.len(), 3);
        s.shingles_into("a b", &mut t, &mut o);
        assert_eq!(o.len(), 1);
        s.shingles_into("", &mut t, &mut o);
        assert!(o.is_empty());
    }

    #[test]
    fn order_matters_and_seed_matters() {
        let s = word(2);
        assert_ne!(s.shingle_set("a b"), s.shingle_set("b a"));
        let other = Shingler::new(ShingleParams {
            seed: 8,
            ..*s.params()
        });
        assert_ne!(s.shingle_set("a b"), other.shingle_set("a b"));
    }

    #[test]
    fn jaccard_of_sets() {
        let s = word(1);
        let a = s.shingle_set("a b c d");
        let b = s.shingle_set("c d e f");
        assert!((jaccard(&a, &b) - 2.0 / 6.0).abs() < 1e-12);
        assert!((containment(&a, &b) - 0.5).abs() < 1e-12);
        assert_eq!(jaccard(&[], &[]), 1.0);
    }

    #[test]
    fn fast_split_matches_word_boundaries() {
        let s = word(1);
        let texts = [
            "hello world ça va",
            "مرحبا بالعالم كيف الحال",
            "mixed العربية and latin 000",
            "can't stop-me now",
            "日本語のテキスト and ไทย",
            "\u{0345}abc de\u{0301}f",
            "привет мир",
        ];
        for t in texts {
            let mut fast = Vec::new();
            s.tokens_into(t, &mut fast);
            let slow: Vec<u64> = t
                .unicode_words()
                .map(|w| xxh3_64_with_seed(w.as_bytes(), 7))
                .collect();
            assert_eq!(fast, slow, "{t}");
        }
    }

    #[test]
    fn whitespace_tokens_keep_punctuation() {
        let s = Shingler::new(ShingleParams {
            kind: ShingleKind::Whitespace,
            n: 1,
            seed: 9,
        });
        let mut tokens = Vec::new();
        s.tokens_into(" Hello,  world!\u{00A0}x\ty ", &mut tokens);
        let want: Vec<u64> = ["Hello,", "world!", "x", "y"]
            .iter()
            .map(|w| xxh3_64_with_seed(w.as_bytes(), 9))
            .collect();
        assert_eq!(tokens, want);
    }

    proptest::proptest! {
        #[test]
        fn whitespace_pieces_are_split_whitespace(
            picks in proptest::collection::vec(0usize..24, 0..80)
        ) {
            // Pieces span the 32-byte blocks the splitter reads; the lead bytes of
            // whitespace (C2, E1, E2, E3) also start characters that are not
            // whitespace (©, ᄀ, —, 、).
            const ALPHABET: [&str; 24] = [
                "a", "ب", " ", "\t", "\n", "\u{00A0}", "\u{0085}", "\u{2003}",
                "\u{3000}", "\u{00C2}", "\u{2014}", "\u{1C}", "\u{01}", "\u{7F}",
                "\u{1680}", "\u{1100}", "\u{3001}", "\u{1F600}", "\u{00A9}", "\r",
                "\u{1F}", "\u{0B}", "\u{2028}", "\u{205F}",
            ];
            let text: String = picks.iter().map(|&i| ALPHABET[i]).collect();
            let mut got = Vec::new();
            for_each_split(&text, |p| got.push(p.to_string()));
            let want: Vec<&str> = text
                .split(|c: char| c.is_whitespace() || ('\u{1C}'..='\u{1F}').contains(&c))
                .filter(|p| !p.is_empty())
                .collect();
            proptest::prop_assert_eq!(got, want);
        }

        #[test]
        fn plain_texts_give_the_same_word_tokens(
            picks in proptest::collection::vec(0usize..16, 0..60),
            mask in 0u8..128,
        ) {
            // What the normalizer tells of its output is what tokenizing relies on.
            const ALPHABET: [&str; 16] = [
                "word", "Ab", " ", "  ", "ك", "تب", "é", "Ж", "7", ".", "\n", "東",
                "\u{0301}", "Σ", "\u{00A0}", "_",
            ];
            let text: String = picks.iter().map(|&i| ALPHABET[i]).collect();
            let opts = crate::normalize::NormalizeOptions::from_mask(mask);
            let mut normalized = String::new();
            let plain = crate::normalize::Normalizer::new(opts)
                .normalize_into_plain(&text, &mut normalized);
            let words = Shingler::new(ShingleParams { kind: ShingleKind::Word, n: 1, seed: 7 });
            let (mut told, mut untold) = (Vec::new(), Vec::new());
            words.tokens_into_plain(&normalized, plain, &mut told);
            words.tokens_into(&normalized, &mut untold);
            proptest::prop_assert_eq!(told, untold);
        }
    }

    #[test]
    fn piece_class_table_matches_char_tests() {
        for cp in 0..0x800u32 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            let want = if c.is_whitespace() {
                PIECE_SPACE
            } else if is_plain_word_char(c) {
                PIECE_PLAIN
            } else {
                PIECE_OTHER
            };
            assert_eq!(PIECE_CLASS[cp as usize], want, "U+{cp:04X}");
        }
    }

    #[test]
    fn vector_split_mask_matches_byte_test() {
        for first in (0..=255u8).step_by(SPLIT_BLOCK) {
            let block: [u8; SPLIT_BLOCK] = std::array::from_fn(|k| first.wrapping_add(k as u8));
            assert_eq!(
                split_candidates(&block),
                split_candidates_portable(&block),
                "bytes from {first:#04x}"
            );
        }
    }

    /// On every vector path this processor runs ([`crate::vector::available`]).
    #[test]
    fn windows_combined_at_once_match_one_by_one() {
        let tokens: Vec<u64> = (0..700u64).map(|i| mix64(i ^ 0x1234)).collect();
        let mut out = vec![1, 2, 3];
        for level in crate::vector::available() {
            crate::vector::at_level(level, || {
                for n in 1..9 {
                    for len in [n, n + 1, 17, 300, 700] {
                        combine_windows(&tokens[..len], n, &mut out);
                        let want: Vec<u64> = tokens[..len].windows(n).map(combine).collect();
                        assert_eq!(out, want, "{level:?}, n = {n}, {len} tokens");
                    }
                }
            });
        }
    }

    #[test]
    fn char_shingles() {
        let s = Shingler::new(ShingleParams {
            kind: ShingleKind::Char,
            n: 2,
            seed: 1,
        });
        assert_eq!(s.shingle_set("abab").len(), 2);
    }
}
