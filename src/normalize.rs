//! Normalize: which characters of a document matter for near-duplicate detection?
//!
//! Two copies of one story differ in ways no reader would notice: letter forms
//! (Persian ی and ک in Arabic text, أ/ا), diacritics, tatweel, digits, quotes and
//! punctuation, case, spacing. [`Normalizer`] folds all of those away, one switchable
//! step at a time, so the shingles of two such copies agree.

use unicode_general_category::{GeneralCategory, get_general_category};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

/// Which normalization steps run. Every step is on by default; each can be switched
/// off to reproduce another pipeline's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// Normalizes text with a fixed set of options. Cheap to copy; holds no buffers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Normalizer {
    opts: NormalizeOptions,
}

impl Normalizer {
    pub fn new(opts: NormalizeOptions) -> Self {
        Normalizer { opts }
    }

    pub fn options(&self) -> &NormalizeOptions {
        &self.opts
    }

    /// Normalize `text` into `out` (cleared first). Reusing `out` across documents
    /// avoids an allocation per document.
    pub fn normalize_into(&self, text: &str, out: &mut String) {
        out.clear();
        out.reserve(text.len());
        // NFKC is skipped when a quick check proves the text is already in NFKC,
        // which is the common case for scraped text.
        if self.opts.nfkc && is_nfkc_quick(text.chars()) != IsNormalized::Yes {
            self.fold_chars(text.nfkc(), out);
        } else {
            self.fold_chars(text.chars(), out);
        }
        if self.opts.whitespace && out.ends_with(' ') {
            out.pop();
        }
    }

    /// Convenience wrapper around [`Normalizer::normalize_into`].
    pub fn normalize(&self, text: &str) -> String {
        let mut out = String::new();
        self.normalize_into(text, &mut out);
        out
    }

    fn fold_chars(&self, chars: impl Iterator<Item = char>, out: &mut String) {
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
                self.push(self.fold(c), out, &mut pending_space);
            } else if self.opts.lowercase && !is_arabic_block(c) {
                // The Arabic block has no case; elsewhere `to_lowercase` yields the
                // character itself when it has no mapping.
                for l in c.to_lowercase() {
                    self.push(self.fold(l), out, &mut pending_space);
                }
            } else {
                self.push(self.fold(c), out, &mut pending_space);
            }
        }
    }

    #[inline]
    fn push(&self, f: Folded, out: &mut String, pending_space: &mut bool) {
        match f {
            Folded::Drop => {}
            Folded::Space => {
                if self.opts.whitespace {
                    *pending_space = !out.is_empty();
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
        let o = &self.opts;
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
}

#[inline]
fn is_arabic_block(c: char) -> bool {
    ('\u{0600}'..='\u{06FF}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
