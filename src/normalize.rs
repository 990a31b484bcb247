//! Normalize: which characters of a document matter for near-duplicate detection?
//!
//! Two copies of one story differ in ways no reader would notice: letter forms
//! (Persian ی and ک in Arabic text, أ/ا), diacritics, tatweel, digits, quotes and
//! punctuation, case, spacing. [`Normalizer`] folds all of those away, one switchable
//! step at a time, so the shingles of two such copies agree.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use unicode_general_category::{GeneralCategory, get_general_category};

use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

mod runs;
use runs::{RUN_BLOCK, Runs, WINDOW};

/// Which normalization steps run. Every step is on by default; each can be switched
/// off to reproduce another pipeline's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct NormalizeOptions {
    /// Unicode NFKC (compatibility composition): ligatures, full-width forms,
    /// Arabic presentation forms.
    pub nfkc: bool,
    /// Unicode lowercase mapping of every character.
    pub lowercase: bool,
    /// Arabic-script folding: harakat and tatweel removed, alef variants, alef
    /// maqsura, ta marbuta and the Persian yeh and keheh folded.
    pub arabic: bool,
    /// Remove invisible format characters (ZWNJ, ZWJ, direction marks, BOM,
    /// soft hyphen) without splitting the word they sit in.
    pub zero_width: bool,
    /// Every decimal digit of any script becomes `0`.
    pub digits: bool,
    /// Punctuation and symbols become spaces.
    pub punctuation: bool,
    /// Runs of whitespace and control characters collapse to one space; the ends
    /// are trimmed.
    pub whitespace: bool,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        NormalizeOptions {
            nfkc: true,
            lowercase: true,
            arabic: true,
            zero_width: true,
            digits: true,
            punctuation: true,
            whitespace: true,
        }
    }
}

impl NormalizeOptions {
    /// Every step off: text passes through unchanged.
    pub fn none() -> Self {
        NormalizeOptions {
            nfkc: false,
            lowercase: false,
            arabic: false,
            zero_width: false,
            digits: false,
            punctuation: false,
            whitespace: false,
        }
    }

    /// The names of the steps, in the order they run, with their state. Used by
    /// `--normalize` parsing and by the report.
    pub const STEPS: [&'static str; 7] = [
        "nfkc",
        "lowercase",
        "arabic",
        "zero_width",
        "digits",
        "punctuation",
        "whitespace",
    ];

    /// The options whose steps are on where `mask` has bit `i` set (the steps in
    /// [`NormalizeOptions::STEPS`] order): the 128 option sets the tests go through.
    #[cfg(test)]
    pub(crate) fn from_mask(mask: u8) -> Self {
        let mut opts = NormalizeOptions::none();
        for (bit, step) in Self::STEPS.iter().enumerate() {
            opts.set(step, mask & (1 << bit) != 0);
        }
        opts
    }

    /// Switch one named step on or off. Returns `false` for an unknown name.
    pub fn set(&mut self, step: &str, on: bool) -> bool {
        let slot = match step {
            "nfkc" => &mut self.nfkc,
            "lowercase" => &mut self.lowercase,
            "arabic" => &mut self.arabic,
            "zero_width" => &mut self.zero_width,
            "digits" => &mut self.digits,
            "punctuation" => &mut self.punctuation,
            "whitespace" => &mut self.whitespace,
            _ => return false,
        };
        *slot = on;
        true
    }
}

/// What one character becomes after the per-character steps.
enum Folded {
    /// Dropped without a trace (diacritics, tatweel, ZWNJ).
    Drop,
    /// A word boundary (punctuation, symbols, whitespace).
    Space,
    /// One character.
    Char(char),
}

/// Normalizes text with a fixed set of options. Cheap to clone: the per-character
/// table is shared.
#[derive(Clone, Debug)]
pub struct Normalizer {
    opts: NormalizeOptions,
    table: Arc<FoldTable>,
    /// What the table path writes a block of bytes at a time.
    runs: Runs,
}

impl Default for Normalizer {
    fn default() -> Self {
        Normalizer::new(NormalizeOptions::default())
    }
}

impl Normalizer {
    pub fn new(opts: NormalizeOptions) -> Self {
        let table = FoldTable::shared(opts);
        let runs = Runs::new(|c| table.get(c as u32), KEEP);
        Normalizer { opts, table, runs }
    }

    pub fn options(&self) -> &NormalizeOptions {
        &self.opts
    }

    /// True when every step is off: text passes through unchanged.
    pub fn is_identity(&self) -> bool {
        self.opts == NormalizeOptions::none()
    }

    /// Normalize `text` into `out` (cleared first). Reusing `out` across documents
    /// avoids an allocation per document.
    ///
    /// Most text is written 32 bytes at a time: words of lowercase and capital ASCII
    /// letters, digits and the basic Arabic letters, with single spaces, folded in a
    /// vector where a step folds them to characters of the same length. The rest
    /// takes one table lookup per character. A document
    /// holding a character whose result depends on its neighbours (one NFKC may
    /// compose or reorder) or that lowercases to several characters is normalized
    /// again by the general path; both give the same result.
    pub fn normalize_into(&self, text: &str, out: &mut String) {
        out.clear();
        self.normalize_append(text, out);
    }

    /// [`Normalizer::normalize_into`] without clearing `out`: the normalized text is
    /// appended to what `out` holds, as if it were normalized on its own.
    pub fn normalize_append(&self, text: &str, out: &mut String) {
        self.normalize_append_plain(text, out);
    }

    /// [`Normalizer::normalize_into`], and whether every character it wrote is a
    /// space (U+0020) or a [plain word character](is_plain_word_char): the word
    /// tokens of such a text are its pieces between spaces. `false` may also mean the
    /// text was not looked at that closely (the general path).
    pub fn normalize_into_plain(&self, text: &str, out: &mut String) -> bool {
        out.clear();
        self.normalize_append_plain(text, out)
    }

    /// [`Normalizer::normalize_append`], with the answer of
    /// [`Normalizer::normalize_into_plain`] about what it appended.
    pub fn normalize_append_plain(&self, text: &str, out: &mut String) -> bool {
        let start = out.len();
        // A run's block is stored whole past the end: room for it too, so that a
        // short text takes one allocation.
        out.reserve(text.len() + RUN_BLOCK);
        let plain = match self.fold_table(text, out, start) {
            Some(plain) => plain,
            None => {
                out.truncate(start);
                self.normalize_general(text, out, start);
                false
            }
        };
        if self.opts.whitespace && out.len() > start && out.ends_with(' ') {
            out.pop();
        }
        plain
    }

    /// Convenience wrapper around [`Normalizer::normalize_into`].
    pub fn normalize(&self, text: &str) -> String {
        let mut out = String::new();
        self.normalize_into(text, &mut out);
        out
    }

    /// The table path: `None` when a character needs the general path, else whether
    /// every character written is a space or a plain word character.
    fn fold_table(&self, text: &str, out: &mut String, start: usize) -> Option<bool> {
        let table = &*self.table;
        let collapse = self.opts.whitespace;
        let mut pending_space = false;
        let bytes = text.as_bytes();
        // Characters that stay as they are are copied a run at a time: `run` is
        // where the current run of them began.
        let mut run: Option<usize> = None;
        // A character written that is neither a space nor a plain word character.
        let mut other = false;
        // The window of a block near either end of the text.
        let mut padded = [0; WINDOW];
        let mut i = 0;
        while i < bytes.len() {
            // Words of the commonest letters with single spaces between them are
            // written a block at a time, folded where a step folds them, without a
            // lookup a character.
            if Runs::may_start(bytes[i]) {
                let window = runs::window(bytes, i, &mut padded);
                let n = self.runs.run(window);
                if n > 0 {
                    if let Some(from) = run.take() {
                        out.push_str(&text[from..i]);
                    }
                    if pending_space {
                        out.push(' ');
                        pending_space = false;
                    }
                    // SAFETY: `n` is what `run` found in this window.
                    unsafe { self.runs.write(window, n, out) };
                    i += n;
                    continue;
                }
            }
            // `text` is valid UTF-8, so the lead byte gives the length and the
            // continuation bytes are present.
            let (cp, len) = decode_utf8(bytes, i);
            let e = match table.get(cp) {
                Some(e) => e,
                None => match char::from_u32(cp) {
                    Some(c) => classify(&self.opts, c),
                    None => SLOW,
                },
            };
            if e == KEEP {
                if run.is_none() {
                    if pending_space {
                        out.push(' ');
                        pending_space = false;
                    }
                    run = Some(i);
                }
                i += len;
                continue;
            }
            // One ASCII space between two kept characters is written as it is,
            // collapsing or not, so the run goes on: most text is copied a line, not
            // a word, at a time.
            if e == SPACE && bytes[i] == b' ' && run.is_some() && self.keeps_at(bytes, i + 1) {
                i += 1;
                continue;
            }
            // Kept as it is too, but not a plain word character: the run goes on.
            if e == KEEP_OTHER {
                other = true;
                if run.is_none() {
                    if pending_space {
                        out.push(' ');
                        pending_space = false;
                    }
                    run = Some(i);
                }
                i += len;
                continue;
            }
            if let Some(from) = run.take() {
                out.push_str(&text[from..i]);
            }
            match e {
                DROP => {}
                SPACE => {
                    if collapse {
                        pending_space = out.len() > start;
                    } else {
                        out.push(' ');
                    }
                }
                SLOW => return None,
                _ => {
                    if pending_space {
                        out.push(' ');
                        pending_space = false;
                    }
                    // Mapped entries are valid scalar values by construction.
                    let c = char::from_u32(e).unwrap_or('\u{FFFD}');
                    other |= c != ' ' && !is_plain_word_char(c);
                    out.push(c);
                }
            }
            i += len;
        }
        if let Some(from) = run {
            out.push_str(&text[from..]);
        }
        Some(!other)
    }

    /// Whether the character at byte `i` of `bytes` (a character boundary, or the
    /// end) is kept as it is.
    #[inline]
    fn keeps_at(&self, bytes: &[u8], i: usize) -> bool {
        if i >= bytes.len() {
            return false;
        }
        let (cp, _) = decode_utf8(bytes, i);
        self.table.get(cp) == Some(KEEP)
    }

    /// The general path: NFKC over the whole text, then the per-character steps.
    fn normalize_general(&self, text: &str, out: &mut String, start: usize) {
        // NFKC is skipped when a quick check proves the text is already in NFKC.
        if self.opts.nfkc && is_nfkc_quick(text.chars()) != IsNormalized::Yes {
            self.fold_chars(text.nfkc(), out, start);
        } else {
            self.fold_chars(text.chars(), out, start);
        }
    }

    fn fold_chars(&self, chars: impl Iterator<Item = char>, out: &mut String, start: usize) {
        // With whitespace collapsing on, `pending_space` records a boundary seen
        // since the last written character; it is written only before the next one.
        let mut pending_space = false;
        for c in chars {
            if c.is_ascii() {
                let c = if self.opts.lowercase {
                    c.to_ascii_lowercase()
                } else {
                    c
                };
                self.push(self.fold(c), out, start, &mut pending_space);
            } else if self.opts.lowercase && !is_arabic_block(c) {
                // The Arabic block has no case; elsewhere `to_lowercase` yields the
                // character itself when it has no mapping.
                for l in c.to_lowercase() {
                    self.push(self.fold(l), out, start, &mut pending_space);
                }
            } else {
                self.push(self.fold(c), out, start, &mut pending_space);
            }
        }
    }

    #[inline]
    fn push(&self, f: Folded, out: &mut String, start: usize, pending_space: &mut bool) {
        match f {
            Folded::Drop => {}
            Folded::Space => {
                if self.opts.whitespace {
                    *pending_space = out.len() > start;
                } else {
                    out.push(' ');
                }
            }
            Folded::Char(c) => {
                if *pending_space {
                    out.push(' ');
                    *pending_space = false;
                }
                out.push(c);
            }
        }
    }

    #[inline]
    fn fold(&self, c: char) -> Folded {
        fold(&self.opts, c)
    }
}

/// Letters and digits that UAX #29 always keeps inside one word with their neighbours
/// of the same kind: ASCII, Latin-1 and Latin Extended letters, basic Cyrillic, and the
/// Arabic-script letters.
#[inline]
pub const fn is_plain_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c,
            '\u{00C0}'..='\u{00D6}' | '\u{00D8}'..='\u{00F6}' | '\u{00F8}'..='\u{024F}'
            | '\u{0400}'..='\u{0481}' | '\u{048A}'..='\u{04FF}'
            | '\u{0621}'..='\u{063A}' | '\u{0641}'..='\u{064A}'
            | '\u{0671}'..='\u{0673}' | '\u{0675}'..='\u{06D3}')
}

/// `c.is_alphabetic()`, without the Unicode table for ASCII and the Arabic letters.
#[inline]
pub fn is_alphabetic(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else if matches!(c, '\u{0621}'..='\u{064A}') {
        true
    } else {
        c.is_alphabetic()
    }
}

/// `c.is_numeric()`, without the Unicode table for the Latin and Arabic letters.
#[inline]
pub fn is_numeric(c: char) -> bool {
    match c {
        '\0'..='\u{7F}' => c.is_ascii_digit(),
        '\u{00C0}'..='\u{024F}' | '\u{0621}'..='\u{065F}' => false,
        _ => c.is_numeric(),
    }
}

/// What the per-character steps make of `c` (after NFKC and lowercasing).
fn fold(o: &NormalizeOptions, c: char) -> Folded {
    // ASCII fast path: the common Latin text never needs the category tables.
    if c.is_ascii() {
        return match c {
            'a'..='z' | 'A'..='Z' => Folded::Char(c),
            '0'..='9' => Folded::Char(if o.digits { '0' } else { c }),
            ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c' => {
                if o.whitespace {
                    Folded::Space
                } else {
                    Folded::Char(c)
                }
            }
            c if c.is_ascii_control() => {
                if o.whitespace {
                    Folded::Space
                } else {
                    Folded::Char(c)
                }
            }
            // Remaining ASCII is punctuation or symbols.
            _ => {
                if o.punctuation {
                    Folded::Space
                } else {
                    Folded::Char(c)
                }
            }
        };
    }
    if is_arabic_block(c) {
        if o.arabic {
            match c {
                '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{0640}' => return Folded::Drop,
                '\u{0623}' | '\u{0625}' | '\u{0622}' | '\u{0671}' => {
                    return Folded::Char('\u{0627}');
                }
                '\u{0649}' | '\u{06CC}' => return Folded::Char('\u{064A}'),
                '\u{0629}' => return Folded::Char('\u{0647}'),
                '\u{06A9}' => return Folded::Char('\u{0643}'),
                _ => {}
            }
        }
        // The basic Arabic letters (category Lo) skip the category lookup.
        if matches!(c, '\u{0621}'..='\u{063A}' | '\u{0641}'..='\u{064A}') {
            return Folded::Char(c);
        }
    }
    use GeneralCategory as G;
    match get_general_category(c) {
        G::Format => {
            if o.zero_width {
                Folded::Drop
            } else {
                Folded::Char(c)
            }
        }
        G::DecimalNumber if o.digits => Folded::Char('0'),
        G::ConnectorPunctuation
        | G::DashPunctuation
        | G::OpenPunctuation
        | G::ClosePunctuation
        | G::InitialPunctuation
        | G::FinalPunctuation
        | G::OtherPunctuation
        | G::MathSymbol
        | G::CurrencySymbol
        | G::ModifierSymbol
        | G::OtherSymbol
            if o.punctuation =>
        {
            Folded::Space
        }
        G::SpaceSeparator | G::LineSeparator | G::ParagraphSeparator | G::Control
            if o.whitespace =>
        {
            Folded::Space
        }
        _ => Folded::Char(c),
    }
}

/// Table entries: a character maps to itself, to nothing, to a word boundary, to
/// "needs the general path", or (any value below these) to another character.
const KEEP: u32 = 0xFFFF_FF00;
const DROP: u32 = 0xFFFF_FF01;
const SPACE: u32 = 0xFFFF_FF02;
const SLOW: u32 = 0xFFFF_FF03;
/// Kept as it is, and neither a space nor a plain word character (what [`KEEP`]
/// means for every other character).
const KEEP_OTHER: u32 = 0xFFFF_FF04;

/// Characters per table block.
const BLOCK: usize = 128;

/// What every Basic Multilingual Plane character becomes under one set of options,
/// as a two-level table: identical blocks (most of the plane) are stored once.
/// Characters above the plane are classified on the fly.
#[derive(Debug)]
struct FoldTable {
    /// The entries of the one- and two-byte characters (Latin, Greek, Cyrillic,
    /// Hebrew, Arabic and more), flat: one load per character for most text.
    small: Box<[u32; SMALL]>,
    index: Box<[u16; 0x10000 / BLOCK]>,
    blocks: Vec<u32>,
}

/// Characters in [`FoldTable::small`]: those UTF-8 writes in one or two bytes.
const SMALL: usize = 0x800;

impl FoldTable {
    /// The table for `opts`, built once per process and shared.
    fn shared(opts: NormalizeOptions) -> Arc<FoldTable> {
        static TABLES: OnceLock<Mutex<HashMap<NormalizeOptions, Arc<FoldTable>>>> = OnceLock::new();
        let tables = TABLES.get_or_init(|| Mutex::new(HashMap::new()));
        // A poisoned lock only means another thread panicked mid-insert; the map
        // holds complete tables only.
        let mut map = tables.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(opts)
            .or_insert_with(|| Arc::new(FoldTable::build(&opts)))
            .clone()
    }

    fn build(opts: &NormalizeOptions) -> FoldTable {
        let mut index = Vec::with_capacity(0x10000 / BLOCK);
        let mut blocks: Vec<u32> = Vec::new();
        let mut seen: HashMap<Vec<u32>, u16> = HashMap::new();
        for b in 0..0x10000 / BLOCK {
            let block: Vec<u32> = (0..BLOCK)
                .map(|i| match char::from_u32((b * BLOCK + i) as u32) {
                    Some(c) => classify(opts, c),
                    None => SLOW,
                })
                .collect();
            let id = *seen.entry(block).or_insert_with_key(|block| {
                blocks.extend_from_slice(block);
                (blocks.len() / BLOCK - 1) as u16
            });
            index.push(id);
        }
        let index: Box<[u16; 0x10000 / BLOCK]> = index
            .into_boxed_slice()
            .try_into()
            .unwrap_or_else(|_| unreachable!("one index entry per block of the plane"));
        let small: Vec<u32> = (0..SMALL)
            .map(|cp| blocks[index[cp / BLOCK] as usize * BLOCK + cp % BLOCK])
            .collect();
        let small = small
            .into_boxed_slice()
            .try_into()
            .unwrap_or_else(|_| unreachable!("one entry per small character"));
        FoldTable {
            small,
            index,
            blocks,
        }
    }

    /// The entry of code point `cp`, for the Basic Multilingual Plane.
    #[inline]
    fn get(&self, cp: u32) -> Option<u32> {
        let cp = cp as usize;
        if let Some(&e) = self.small.get(cp) {
            return Some(e);
        }
        let id = *self.index.get(cp / BLOCK)?;
        Some(self.blocks[id as usize * BLOCK + cp % BLOCK])
    }
}

/// The table entry of `c`: what the general path makes of it when its neighbours
/// cannot change the result, else [`SLOW`].
fn classify(opts: &NormalizeOptions, c: char) -> u32 {
    let mut ccc = 0;
    if opts.nfkc {
        // Only characters NFKC leaves alone whatever surrounds them. Quick-check
        // "yes" means NFKC keeps the character as it is and it never composes with
        // what precedes it (characters that can are "maybe"). A precomposed letter
        // such as é decomposes and recomposes to itself; a mark between it and a
        // following "maybe" character sends the document to the general path.
        if is_nfkc_quick(std::iter::once(c)) != IsNormalized::Yes {
            return SLOW;
        }
        ccc = canonical_combining_class(c);
    }
    let lowered = if !opts.lowercase || is_arabic_block(c) {
        c
    } else if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        let mut l = c.to_lowercase();
        match (l.next(), l.next()) {
            (Some(l), None) => l,
            _ => return SLOW,
        }
    };
    let e = match fold(opts, lowered) {
        Folded::Drop => DROP,
        Folded::Space => SPACE,
        Folded::Char(x) if x == c && (c == ' ' || is_plain_word_char(c)) => KEEP,
        Folded::Char(x) if x == c => KEEP_OTHER,
        Folded::Char(x) => x as u32,
    };
    // NFKC reorders runs of combining marks; only marks that are dropped anyway
    // can skip it.
    if ccc != 0 && e != DROP { SLOW } else { e }
}

/// The code point starting at `bytes[i]` and its length in bytes. `bytes` must be
/// valid UTF-8 (it comes from a `str`) and `i` a character boundary; the lead byte
/// then gives the length and the continuation bytes are present.
#[inline(always)]
pub(crate) fn decode_utf8(bytes: &[u8], i: usize) -> (u32, usize) {
    let b0 = bytes[i];
    match b0 {
        0x00..=0x7F => (b0 as u32, 1),
        0x80..=0xDF => (((b0 as u32 & 0x1F) << 6) | (bytes[i + 1] as u32 & 0x3F), 2),
        0xE0..=0xEF => (
            ((b0 as u32 & 0x0F) << 12)
                | ((bytes[i + 1] as u32 & 0x3F) << 6)
                | (bytes[i + 2] as u32 & 0x3F),
            3,
        ),
        _ => (
            ((b0 as u32 & 0x07) << 18)
                | ((bytes[i + 1] as u32 & 0x3F) << 12)
                | ((bytes[i + 2] as u32 & 0x3F) << 6)
                | (bytes[i + 3] as u32 & 0x3F),
            4,
        ),
    }
}

#[inline]
fn is_arabic_block(c: char) -> bool {
    ('\u{0600}'..='\u{06FF}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_classes_agree_with_std() {
        for c in (0..0x3000).filter_map(char::from_u32) {
            assert_eq!(is_alphabetic(c), c.is_alphabetic(), "{c:?}");
            assert_eq!(is_numeric(c), c.is_numeric(), "{c:?}");
        }
    }

    fn norm(s: &str) -> String {
        Normalizer::default().normalize(s)
    }

    #[test]
    fn arabic_variants_fold_together() {
        // The same word spelt with hamza-alef, ta marbuta and harakat, and plainly.
        assert_eq!(norm("أَحْمَدُ مدرسةٌ"), norm("احمد مدرسه"));
        // Persian yeh and keheh in Arabic text.
        assert_eq!(norm("کوریا الشمالیة"), norm("كوريا الشماليه"));
        // Tatweel.
        assert_eq!(norm("الأخبـــار"), "الاخبار");
    }

    #[test]
    fn zwnj_joins_persian_words() {
        assert_eq!(norm("می\u{200C}خواهم"), "ميخواهم");
    }

    #[test]
    fn punctuation_digits_and_space() {
        assert_eq!(
            norm("  «مرحبا»، يا   عالم؟ 2023 ١٥ "),
            "مرحبا يا عالم 0000 00"
        );
        assert_eq!(norm("Hello,World!"), "hello world");
        assert_eq!(norm(""), "");
        assert_eq!(norm(" \t\n "), "");
    }

    #[test]
    fn steps_switch_off() {
        let mut o = NormalizeOptions::default();
        assert!(o.set("digits", false));
        assert!(!o.set("nope", false));
        assert_eq!(Normalizer::new(o).normalize("A1"), "a1");
        assert_eq!(
            Normalizer::new(NormalizeOptions::none()).normalize("A, 1"),
            "A, 1"
        );
    }

    /// Characters where the table path could go wrong: composing and reordering
    /// marks, compatibility forms, case with special mappings, Arabic and Persian
    /// forms, format characters, digits, spaces, and text above the BMP.
    const TRICKY: &[char] = &[
        'a',
        'Z',
        'e',
        '\u{0301}',
        '\u{0327}',
        '\u{0308}',
        'İ',
        'ß',
        'Σ',
        'ς',
        'ǅ',
        'ﬁ',
        'Ａ',
        '①',
        '½',
        '²',
        '\u{00A0}',
        '\u{2028}',
        ' ',
        '\t',
        '\n',
        '.',
        '«',
        '—',
        '7',
        '٣',
        '۴',
        'ا',
        'أ',
        '\u{0653}',
        '\u{0654}',
        '\u{0655}',
        'و',
        'ي',
        'ی',
        'ک',
        'ة',
        'ى',
        '\u{064E}',
        '\u{0651}',
        '\u{0650}',
        '\u{0640}',
        '\u{0670}',
        'ﻻ',
        'ﷲ',
        '\u{200C}',
        '\u{200F}',
        '\u{FEFF}',
        '\u{00AD}',
        '가',
        '\u{1100}',
        '\u{1161}',
        '\u{11A8}',
        'क',
        '\u{093C}',
        '\u{0915}',
        '😀',
        '𝐀',
        '\u{1D7CE}',
        '\u{0345}',
        'Ω',
        'K',
        'Å',
        '\u{0F73}',
        '\u{0CCB}',
        '\u{212A}',
        '\u{2126}',
        '\u{212B}',
        'é',
        '\u{0656}',
        '\u{FF0C}',
    ];

    #[test]
    fn marks_out_of_canonical_order_are_reordered_when_kept() {
        // Shadda then fatha: NFKC puts fatha (class 30) before shadda (class 33).
        let n = Normalizer::new(NormalizeOptions {
            arabic: false,
            ..Default::default()
        });
        assert_eq!(
            n.normalize("\u{0628}\u{0651}\u{064E}"),
            "\u{0628}\u{064E}\u{0651}"
        );
        assert_eq!(
            Normalizer::default().normalize("\u{0628}\u{0651}\u{064E}"),
            "\u{0628}"
        );
        // A precomposed letter followed by marks, with Arabic folding on and off:
        // both paths agree.
        for arabic in [true, false] {
            let n = Normalizer::new(NormalizeOptions {
                arabic,
                ..Default::default()
            });
            let text = "é\u{0651}\u{064E}\u{0656}";
            let mut general = String::new();
            n.normalize_general(text, &mut general, 0);
            assert_eq!(n.normalize(text), general);
        }
    }

    /// What the general path alone makes of `text`.
    fn general_path(n: &Normalizer, text: &str) -> String {
        let mut general = String::new();
        n.normalize_general(text, &mut general, 0);
        if n.opts.whitespace && general.ends_with(' ') {
            general.pop();
        }
        general
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn table_path_matches_general_path(
            // Short texts: most of them avoid every character that needs the
            // general path, so the table path is what gets compared.
            picks in proptest::collection::vec(0..TRICKY.len(), 0..8),
            mask in 0u8..128,
        ) {
            let text: String = picks.iter().map(|&i| TRICKY[i]).collect();
            let n = Normalizer::new(NormalizeOptions::from_mask(mask));
            let general = general_path(&n, &text);
            proptest::prop_assert_eq!(n.normalize(&text), general.clone());
            // Appended after other text, it is the same.
            let mut appended = String::from("x ");
            n.normalize_append(&text, &mut appended);
            proptest::prop_assert_eq!(appended, format!("x {general}"));
            // What it says of the characters it wrote holds.
            let mut out = String::new();
            let plain = n.normalize_into_plain(&text, &mut out);
            if plain {
                proptest::prop_assert!(
                    out.chars().all(|c| c == ' ' || is_plain_word_char(c)),
                    "{out:?} is not plain"
                );
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        #[test]
        fn long_runs_match_general_path(
            // Long enough for the 32-byte runs, with what ends and folds them.
            picks in proptest::collection::vec(0..37usize, 0..80),
            mask in 0u8..128,
        ) {
            const PIECES: [&str; 37] = [
                "a", "z", "q", "word", " ", "  ", "A", ".", "7", "\n", "\t", "ب", "é", "{",
                "كتب", "ء", "غ", "ف", "ي", "أ", "ة", "ى", "\u{064E}", "ـ", "Z", "0", "9",
                "آ", "إ", "ا", "ک", "ی", "المدرسة", "Word 2024", "€", "😀", "\0",
            ];
            let text: String = picks.iter().map(|&i| PIECES[i]).collect();
            let n = Normalizer::new(NormalizeOptions::from_mask(mask));
            let general = general_path(&n, &text);
            proptest::prop_assert_eq!(n.normalize(&text), general);
        }
    }

    #[test]
    fn plain_text_is_told_plain() {
        let n = Normalizer::default();
        let mut out = String::new();
        // Latin, Arabic (folded letters and dropped marks too) and digits.
        assert!(n.normalize_into_plain("The Café, 2024 — قالَ إنّ المدرسةَ", &mut out));
        assert_eq!(out, "the café 0000 قال ان المدرسه");
        // Characters kept as they are but not plain word characters: CJK, marks.
        assert!(!n.normalize_into_plain("see 東京 now", &mut out));
        assert!(!n.normalize_into_plain("Ελληνικά", &mut out));
        // Nothing written is plain.
        assert!(n.normalize_into_plain("", &mut out));
    }
}
