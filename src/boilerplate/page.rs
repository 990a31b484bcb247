//! How does each line of a page sit among its neighbours?
//!
//! Recurrence alone does not make a line boilerplate: a wrapped paragraph repeats
//! "The" and "-v" in every man page, and a quote repeats "He added:". Before a line is
//! counted, the page is read once and every non-empty line gets its shape: how many
//! words and letters it has, whether it ends a sentence, whether it sits in the flow
//! of a wrapped paragraph, and whether it could introduce an appended article (a
//! marker candidate). Learning counts these shapes as evidence; stripping asks the
//! same questions, so a rule applies only where it was learned to.

use crate::normalize::Normalizer;
use xxhash_rust::xxh3::xxh3_64;

/// Markers are lines of at most this many words.
pub const MAX_MARKER_WORDS: usize = 5;
/// A marker cuts a tail only after at least this many words of the page.
pub const MIN_WORDS_BEFORE_MARKER: usize = 30;
/// A paragraph (what an appended article holds) has at least this many words and
/// ends a sentence.
pub const PARAGRAPH_WORDS: usize = 12;
/// Words of a headline (shorter lines after a marker candidate are other page
/// furniture: "Follow us on WhatsApp").
const HEADLINE_WORDS: (usize, usize) = (5, 20);
/// A tail is article-shaped when a paragraph comes within this many lines after its
/// headline (a short line or two, such as an app prompt, may sit between).
const ARTICLE_WITHIN: usize = 2;
/// Pages whose lines are at most this long (in characters) and mostly near the same
/// width are hard-wrapped text (man pages, licenses, plain-text docs).
const MAX_WRAP_WIDTH: usize = 100;

/// A line of a text with its byte range (terminator excluded) and the range to remove
/// with it (terminator included).
#[derive(Clone, Copy, Debug)]
pub struct LineSpan {
    pub start: usize,
    pub end: usize,
    pub next: usize,
}

/// Every line of `text`, with `\n` or `\r\n` terminators.
pub fn lines(text: &str) -> impl Iterator<Item = LineSpan> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos > text.len() || (pos == text.len() && pos > 0) {
            return None;
        }
        let rest = &text[pos..];
        let (end, next) = match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(i) => (pos + i, pos + i + 1),
            None => (text.len(), text.len() + 1),
        };
        let mut e = end;
        if e > pos && text.as_bytes()[e - 1] == b'\r' {
            e -= 1;
        }
        let span = LineSpan {
            start: pos,
            end: e,
            next: next.min(text.len()),
        };
        pos = next;
        Some(span)
    })
}

/// Characters that end a sentence, in the scripts we know of, with the closing quotes
/// and brackets that may follow them.
pub fn ends_sentence(line: &str) -> bool {
    let t = line
        .trim_end()
        .trim_end_matches(['"', '\'', '»', '”', '’', ')', ']', '«', '“']);
    t.ends_with(['.', '!', '?', '؟', '。', '！', '？', '…', '۔', '।'])
}

/// Longest label (in characters) before a colon for a template.
const MAX_LABEL_CHARS: usize = 40;
/// Labels of at most this many words.
const MAX_LABEL_WORDS: usize = 3;

/// The label and value of a `LABEL: value` line, if it is one: text before the first
/// colon, short, with a non-empty value after it.
pub fn label_of(line: &str) -> Option<(&str, &str)> {
    // The first `:` or `：` among the first MAX_LABEL_CHARS + 1 characters (every
    // line of every page is asked): a byte search for `:` and the lead byte of `：`
    // (U+FF1A FULLWIDTH COLON is EF BC 9A) within the bytes those characters can
    // take, then the characters before a hit are counted.
    let bytes = line.as_bytes();
    let window = &bytes[..bytes.len().min((MAX_LABEL_CHARS + 1) * 4)];
    let mut found = None;
    for i in memchr::memchr2_iter(b':', 0xEF, window) {
        let chars_before = bytes[..i].iter().filter(|&&b| b & 0xC0 != 0x80).count();
        if chars_before > MAX_LABEL_CHARS {
            break;
        }
        if bytes[i] == b':' {
            found = Some((i, 1));
            break;
        }
        if bytes.get(i + 1..i + 3) == Some(&[0xBC, 0x9A]) {
            found = Some((i, 3));
            break;
        }
    }
    let (i, len) = found?;
    let label = line[..i].trim();
    let value = line[i + len..].trim();
    if label.is_empty() || value.is_empty() || label.split_whitespace().count() > MAX_LABEL_WORDS {
        return None;
    }
    Some((label, value))
}

/// Letters are counted up to this many.
pub const LETTERS_COUNTED: usize = 3;

/// A non-empty line of a page.
#[derive(Clone, Debug)]
pub struct Line {
    pub span: LineSpan,
    /// Hash of the normalized line.
    pub hash: u64,
    /// Words of the normalized line.
    pub words: usize,
    /// Letters of the normalized line, counted up to [`LETTERS_COUNTED`] (what the
    /// rules ask; a full count of a long line would cost a Unicode lookup a letter).
    pub letters: usize,
    /// Characters of the raw line (trimmed).
    pub chars: usize,
    /// Leading whitespace of the raw line, in columns (a tab counts 8).
    pub indent: usize,
    /// Ends with sentence punctuation.
    pub sentence: bool,
    /// Ends with a colon.
    pub colon: bool,
    /// A `LABEL: value` field ([`label_of`]).
    pub field: bool,
    /// A blank line (or the page start) comes before it.
    pub blank_before: bool,
    /// A blank line (or the page end) comes after it.
    pub blank_after: bool,
    /// Part of a wrapped paragraph: it continues the line before or runs on into the
    /// next one.
    pub in_flow: bool,
    /// Words of the page before this line.
    pub words_before: usize,
    /// Byte range of the normalized line in [`Page::normalized`].
    pub(super) norm: (usize, usize),
}

/// The non-empty lines of one page, with their shapes.
pub struct Page {
    pub lines: Vec<Line>,
    /// The normalized lines, one after another.
    pub(super) normalized: String,
    /// Paragraphs are separated by blank lines (as in man pages, plain-text
    /// documents and some extractions), rather than one to a line.
    pub blank_separated: bool,
    /// Every character of the normalized lines is a space or a plain word character
    /// ([`Normalizer::normalize_into_plain`]): so is any join of them.
    pub plain: bool,
}

impl Page {
    /// Read `text`, normalizing every line once.
    pub fn new(normalizer: &Normalizer, text: &str) -> Page {
        let mut out: Vec<Line> = Vec::new();
        let mut normalized = String::with_capacity(text.len());
        let mut blank = true;
        let mut words_before = 0;
        let mut plain = true;
        for l in lines(text) {
            let raw = &text[l.start..l.end];
            // Normalized where it is kept: at the end of the page's normalized text.
            let at = normalized.len();
            plain &= normalizer.normalize_append_plain(raw, &mut normalized);
            let buf = &normalized[at..];
            if buf.is_empty() {
                blank = blank || raw.trim().is_empty();
                continue;
            }
            // Spaces plus one: what splitting on single spaces counts (with whitespace
            // folding on, the number of words).
            let words = memchr::memchr_iter(b' ', buf.as_bytes()).count() + 1;
            let line = Line {
                span: l,
                hash: xxh3_64(buf.as_bytes()),
                words,
                letters: buf
                    .chars()
                    .filter(|&c| crate::normalize::is_alphabetic(c))
                    .take(LETTERS_COUNTED)
                    .count(),
                chars: raw.trim().chars().count(),
                indent: raw
                    .chars()
                    .take_while(|c| c.is_whitespace())
                    .map(|c| if c == '\t' { 8 } else { 1 })
                    .sum(),
                sentence: ends_sentence(raw),
                colon: raw.trim_end().ends_with([':', '：']),
                field: label_of(raw).is_some(),
                blank_before: blank,
                blank_after: true,
                in_flow: false,
                words_before,
                norm: (at, normalized.len()),
            };
            words_before += words;
            blank = false;
            out.push(line);
        }
        for i in 1..out.len() {
            out[i - 1].blank_after = out[i].blank_before;
        }
        let gaps = out.iter().skip(1).filter(|l| l.blank_before).count();
        let blank_separated = out.len() >= 4 && gaps * 5 >= out.len() - 1;
        let mut page = Page {
            lines: out,
            normalized,
            blank_separated,
            plain,
        };
        page.mark_flow();
        page
    }

    /// Line `i`, normalized.
    pub fn normalized(&self, i: usize) -> &str {
        let (a, b) = self.lines[i].norm;
        &self.normalized[a..b]
    }

    /// The normalized lines that `keep` selects, joined by single spaces, into `out`
    /// (cleared first). With whitespace folding on, this is what the normalizer makes
    /// of the text made of those lines, blank lines and all: every normalization step
    /// works within a line (a line break composes with nothing under NFKC), a line
    /// break becomes a word boundary, and blank lines and the ends of the text leave
    /// no trace. So a page read once gives the text its signature is computed on,
    /// without normalizing it again.
    pub fn join_normalized(&self, mut keep: impl FnMut(usize, &Line) -> bool, out: &mut String) {
        out.clear();
        for (i, l) in self.lines.iter().enumerate() {
            if !keep(i, l) {
                continue;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&self.normalized[l.norm.0..l.norm.1]);
        }
    }

    /// Hard-wrapped pages: most lines end near one width. A line continues the one
    /// before when that one reached the width without ending a sentence, and runs on
    /// when it reaches the width itself without ending one.
    fn mark_flow(&mut self) {
        let n = self.lines.len();
        if n < 4 {
            return;
        }
        // The wrap width: the longest line among those a terminal could show, when
        // most lines are such (a page may also hold a few long lines of other text).
        let short = self
            .lines
            .iter()
            .filter(|l| l.chars <= MAX_WRAP_WIDTH)
            .count();
        let width = self
            .lines
            .iter()
            .map(|l| l.chars)
            .filter(|&c| c <= MAX_WRAP_WIDTH)
            .max()
            .unwrap_or(0);
        if short * 10 < n * 8 || width < 30 {
            return;
        }
        let full = width * 6 / 10;
        let long = self
            .lines
            .iter()
            .filter(|l| l.chars >= full && l.chars <= width)
            .count();
        if long * 3 < n {
            return;
        }
        let runs_on: Vec<bool> = self
            .lines
            .iter()
            .map(|l| l.chars >= full && l.chars <= width && !l.sentence)
            .collect();
        for i in 0..n {
            let continues = i > 0 && !self.lines[i].blank_before && runs_on[i - 1];
            let next_joined = i + 1 < n && !self.lines[i + 1].blank_before;
            self.lines[i].in_flow = continues || (runs_on[i] && next_joined);
        }
    }

    /// Whether line `i` may introduce an appended article: short, with letters, not a
    /// sentence, not a `LABEL: value` field, not in a wrapped paragraph, after enough
    /// of the page and with at least two lines after it. Whether it ends in a colon
    /// does not matter.
    pub fn marker_candidate(&self, i: usize) -> bool {
        let l = &self.lines[i];
        l.words <= MAX_MARKER_WORDS
            && l.letters >= LETTERS_COUNTED
            && !l.sentence
            && !l.field
            && !l.in_flow
            && l.words_before >= MIN_WORDS_BEFORE_MARKER
            && self.lines.len() - i > 2
    }

    /// Whether the text after line `i` looks like another article: a headline, a
    /// paragraph within the next few lines and at least two paragraphs' worth of words
    /// after it.
    pub fn article_after(&self, i: usize) -> bool {
        let after = &self.lines[i + 1..];
        let Some(head) = after.first() else {
            return false;
        };
        // A headline, not a sentence and not a `LABEL: value` field (a tag line).
        if head.sentence
            || head.field
            || head.words < HEADLINE_WORDS.0
            || head.words > HEADLINE_WORDS.1
        {
            return false;
        }
        let para = after[1..]
            .iter()
            .take(ARTICLE_WITHIN)
            .any(|l| l.words >= PARAGRAPH_WORDS && l.sentence);
        let words: usize = after.iter().map(|l| l.words).sum();
        para && words >= 2 * PARAGRAPH_WORDS
    }

    /// A line that stands alone: not part of a wrapped paragraph, and on pages whose
    /// paragraphs are separated by blank lines, a paragraph of its own (a heading
    /// attached to the block under it, the last line of a block, or an item of a list
    /// is not).
    pub fn standalone(&self, i: usize) -> bool {
        let l = &self.lines[i];
        // Indentation shows blocks too: a line whose next line is indented deeper
        // heads a block ("Comment:" over its text), and one indented deeper than the
        // line before it belongs to that line's block.
        let heads = self
            .lines
            .get(i + 1)
            .is_some_and(|n| !n.blank_before && n.indent > l.indent);
        let child = i > 0 && !l.blank_before && l.indent > self.lines[i - 1].indent;
        // A line ending in a colon introduces what follows it ("The commands are:").
        let introduces = l.colon && i + 1 < self.lines.len();
        !l.in_flow
            && !heads
            && !child
            && !introduces
            && (!self.blank_separated || (l.blank_before && l.blank_after))
    }
}

/// A page as learning or stripping read it: its lines, their labels and (when masked rules were
/// asked about) their masked keys.
pub struct PageRead {
    pub page: Page,
    pub(super) labels: Vec<Option<(u64, bool)>>,
    pub(super) masked: Option<Vec<Option<u64>>>,
}

impl PageRead {
    /// The normalized text of the lines the removed `ranges` (sorted, whole lines:
    /// [`super::Stripped::ranges`]) leave, joined ([`Page::join_normalized`]): the
    /// normalized text of what stripping leaves of the text.
    pub fn join_kept(&self, ranges: &[(usize, usize)], out: &mut String) {
        // Ranges are sorted and cover whole lines: a line is gone when its start
        // lies in one.
        let mut r = 0;
        self.page.join_normalized(
            |_, l| {
                while r < ranges.len() && ranges[r].1 <= l.span.start {
                    r += 1;
                }
                ranges.get(r).is_none_or(|&(a, _)| l.span.start < a)
            },
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_paragraphs_are_in_flow() {
        let text = "NAME\n       ls - list directory contents\n\nDESCRIPTION\n       List  information  about  the FILEs (the current directory by default).  Sort\n       entries alphabetically if none of -cftuvSUX nor --sort is specified.  The\n       and\n       the rest of the sentence goes on here until it wraps at the width of the\n       terminal again.\n";
        let n = Normalizer::default();
        let p = Page::new(&n, text);
        let flow: Vec<(String, bool)> = p
            .lines
            .iter()
            .map(|l| (text[l.span.start..l.span.end].trim().to_string(), l.in_flow))
            .collect();
        let get = |s: &str| flow.iter().find(|(l, _)| l == s).unwrap().1;
        assert!(!get("NAME"));
        assert!(!get("DESCRIPTION"));
        assert!(get("and"), "{flow:?}");
    }

    #[test]
    fn labels_are_found_within_their_length() {
        assert_eq!(label_of("Source: Reuters"), Some(("Source", "Reuters")));
        assert_eq!(label_of("المصدر： وكالة"), Some(("المصدر", "وكالة")));
        assert_eq!(label_of("a b: c"), Some(("a b", "c")));
        assert_eq!(label_of("a b c d: e"), None);
        assert_eq!(label_of("Source:"), None);
        assert_eq!(label_of(": x"), None);
        // The colon must be among the first 41 characters (counted as characters,
        // not bytes).
        let at_str = |n: usize, s: &str, c: char| format!("{}{c} v", s.repeat(n));
        let at = |n: usize, c: char| at_str(n, "ب", c);
        assert!(label_of(&at(40, ':')).is_some());
        assert!(label_of(&at(41, ':')).is_none());
        assert!(label_of(&at(40, '：')).is_some());
        assert!(label_of(&at(41, '：')).is_none());
        assert_eq!(label_of("x\u{FF1A}"), None);
        // Four-byte characters: the colon's byte search window is 41 of them.
        assert!(label_of(&at_str(40, "😀", ':')).is_some());
        assert!(label_of(&at_str(41, "😀", ':')).is_none());
        assert!(label_of(&at_str(40, "好", '：')).is_some());
    }

    /// The colon search as a loop over every character: what [`label_of`]'s byte
    /// search must agree with.
    fn colon_reference(line: &str) -> Option<(usize, usize)> {
        for (chars, (i, c)) in line.char_indices().enumerate() {
            if chars > MAX_LABEL_CHARS {
                return None;
            }
            match c {
                ':' => return Some((i, 1)),
                '：' => return Some((i, 3)),
                _ => {}
            }
        }
        None
    }

    proptest::proptest! {
        #[test]
        fn label_search_matches_a_character_loop(
            picks in proptest::collection::vec(0usize..40, 0..90),
        ) {
            // Characters of one to four bytes, both colons, and characters that share
            // the fullwidth colon's lead byte (U+FF0C, U+FFFD); colons are rare enough
            // that many lines have none among their first 41 characters.
            const CHARS: [char; 9] = ['a', ' ', 'ب', ':', '：', '，', '\u{FFFD}', '😀', '好'];
            let line: String = picks.iter().map(|&i| CHARS[if i < 9 { i } else { i % 3 }]).collect();
            let expected = colon_reference(&line).and_then(|(i, len)| {
                let (label, value) = (line[..i].trim(), line[i + len..].trim());
                (!label.is_empty()
                    && !value.is_empty()
                    && label.split_whitespace().count() <= MAX_LABEL_WORDS)
                    .then_some((label, value))
            });
            proptest::prop_assert_eq!(label_of(&line), expected);
        }
    }

    #[test]
    fn news_lines_are_not_in_flow() {
        let text = "Title of a story\nRead also\nA long paragraph of a story that goes on and on for many words, well past any wrap width a terminal has.\nAnother one.";
        let n = Normalizer::default();
        let p = Page::new(&n, text);
        assert!(p.lines.iter().all(|l| !l.in_flow));
        assert!(ends_sentence("He said «yes.»"));
        assert!(!ends_sentence("Read also:"));
    }
}
