//! Synth: a reproducible corpus with planted near-duplicates, for tests and
//! benchmarks (`dupstrip synth`).
//!
//! Documents are news-like paragraphs in Arabic or English, drawn from a Zipf-like
//! vocabulary of real and made-up words. A share of stories is republished in 1–4
//! copies, each copy with one or two edits: a few words changed (light or medium), a
//! sentence dropped or added, punctuation noise, or Arabic spelling variants
//! (hamza forms, Persian ی/ک, harakat, tatweel). A few "partial" copies share only half
//! of a story: they are hard negatives. The truth file names each document's story
//! (`family`) and the edits applied; ground truth for a threshold is the exact Jaccard
//! similarity of pairs within a family.

pub mod layouts;

use std::io::{self, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ARABIC_WORDS: &[&str] = &[
    "الحكومة",
    "الوزير",
    "المدينة",
    "الاقتصاد",
    "الرئيس",
    "البرلمان",
    "الشركة",
    "السوق",
    "المواطنين",
    "الجامعة",
    "المستشفى",
    "الطاقة",
    "المياه",
    "الزراعة",
    "الأسعار",
    "النفط",
    "التجارة",
    "الاستثمار",
    "المشروع",
    "القرار",
    "الاجتماع",
    "المؤتمر",
    "الدولة",
    "العاصمة",
    "المنطقة",
    "الشرطة",
    "المحكمة",
    "الانتخابات",
    "الحزب",
    "المعارضة",
    "الاتفاق",
    "الحوار",
    "السلام",
    "الأمن",
    "الجيش",
    "الحدود",
    "التعليم",
    "الطلاب",
    "المدارس",
    "الصحة",
    "الدواء",
    "الطقس",
    "الأمطار",
    "الحرارة",
    "الرياح",
    "الفريق",
    "المباراة",
    "الملعب",
    "البطولة",
    "اللاعب",
    "المدرب",
    "الهدف",
    "الجمهور",
    "الموسم",
    "الفيلم",
    "المهرجان",
    "الكتاب",
    "المعرض",
    "الثقافة",
    "الفنان",
    "التكنولوجيا",
    "الهاتف",
    "الإنترنت",
    "البيانات",
    "الذكاء",
    "الشبكة",
    "قال",
    "أعلن",
    "أكد",
    "أشار",
    "أضاف",
    "أوضح",
    "ذكر",
    "كشف",
    "بحث",
    "ناقش",
    "افتتح",
    "وقع",
    "زار",
    "استقبل",
    "شارك",
    "نظم",
    "في",
    "من",
    "إلى",
    "على",
    "عن",
    "مع",
    "بعد",
    "قبل",
    "خلال",
    "بين",
    "حول",
    "ضد",
    "عند",
    "منذ",
    "حتى",
    "أن",
    "التي",
    "الذي",
    "هذا",
    "هذه",
    "كل",
    "بعض",
    "عدد",
    "أكثر",
    "أقل",
    "جديد",
    "جديدة",
    "كبير",
    "كبيرة",
    "أول",
    "آخر",
    "اليوم",
    "أمس",
    "غدا",
    "الأسبوع",
    "الشهر",
    "العام",
    "صباح",
    "مساء",
    "مليون",
    "مليار",
    "دولار",
    "نسبة",
    "زيادة",
    "انخفاض",
    "ارتفاع",
    "تراجع",
    "نمو",
    "خطة",
    "برنامج",
    "تقرير",
    "دراسة",
    "بيان",
    "مصدر",
    "مسؤول",
    "رسمي",
    "محلي",
    "دولي",
    "عربي",
    "إقليمي",
    "وطني",
    "اقتصادي",
    "سياسي",
    "اجتماعي",
    "مستشفى",
    "طريق",
    "جسر",
    "مطار",
    "ميناء",
    "قطار",
    "سيارة",
    "مصنع",
    "مزرعة",
    "سفينة",
    "مكتبة",
    "مسجد",
    "سوق",
];

const ENGLISH_WORDS: &[&str] = &[
    "the",
    "government",
    "minister",
    "city",
    "economy",
    "president",
    "parliament",
    "company",
    "market",
    "citizens",
    "university",
    "hospital",
    "energy",
    "water",
    "farming",
    "prices",
    "oil",
    "trade",
    "investment",
    "project",
    "decision",
    "meeting",
    "conference",
    "state",
    "capital",
    "region",
    "police",
    "court",
    "election",
    "party",
    "opposition",
    "agreement",
    "talks",
    "peace",
    "security",
    "army",
    "border",
    "schools",
    "students",
    "health",
    "medicine",
    "weather",
    "rain",
    "heat",
    "wind",
    "team",
    "match",
    "stadium",
    "league",
    "player",
    "coach",
    "goal",
    "fans",
    "season",
    "film",
    "festival",
    "book",
    "exhibition",
    "culture",
    "artist",
    "technology",
    "phone",
    "internet",
    "data",
    "network",
    "said",
    "announced",
    "confirmed",
    "noted",
    "added",
    "explained",
    "reported",
    "revealed",
    "discussed",
    "opened",
    "signed",
    "visited",
    "received",
    "joined",
    "organised",
    "in",
    "of",
    "to",
    "on",
    "about",
    "with",
    "after",
    "before",
    "during",
    "between",
    "around",
    "against",
    "at",
    "since",
    "until",
    "that",
    "which",
    "this",
    "these",
    "every",
    "some",
    "number",
    "more",
    "less",
    "new",
    "large",
    "first",
    "last",
    "today",
    "yesterday",
    "tomorrow",
    "week",
    "month",
    "year",
    "morning",
    "evening",
    "million",
    "billion",
    "dollars",
    "percent",
    "increase",
    "decline",
    "rise",
    "fall",
    "growth",
    "plan",
    "programme",
    "report",
    "study",
    "statement",
    "source",
    "official",
    "local",
    "international",
    "regional",
    "national",
    "economic",
    "political",
    "social",
    "road",
    "bridge",
    "airport",
    "port",
    "train",
    "car",
    "factory",
    "farm",
    "ship",
    "library",
    "a",
    "and",
    "for",
    "was",
];

const ARABIC_LETTERS: &[char] = &[
    'ب', 'ت', 'ث', 'ج', 'ح', 'خ', 'د', 'ر', 'ز', 'س', 'ش', 'ص', 'ط', 'ع', 'غ', 'ف', 'ق', 'ل', 'م',
    'ن', 'و', 'ي', 'ا', 'ك', 'ه',
];

/// What to generate.
#[derive(Clone, Debug)]
pub struct SynthOptions {
    /// Documents in all (originals, copies and unrelated stories).
    pub docs: usize,
    pub seed: u64,
    /// Share of documents that are copies of another.
    pub dup_share: f64,
    /// Share of stories in Arabic (the rest in English).
    pub arabic_share: f64,
    /// Sentences per story, inclusive range.
    pub sentences: (usize, usize),
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            docs: 1000,
            seed: 1,
            dup_share: 0.3,
            arabic_share: 0.6,
            sentences: (8, 24),
        }
    }
}

/// One generated document and what was done to it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TruthRow {
    pub id: String,
    /// The story it tells; copies share the family of their original.
    pub family: u64,
    /// Edits applied to the original (empty for originals).
    pub edits: Vec<String>,
    /// Corpora with outlet boilerplate (`--boilerplate`): indexes of the lines of
    /// `text` (split on `\n`) that are boilerplate or belong to an appended article.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boilerplate_lines: Vec<usize>,
}

struct Vocab {
    arabic: Vec<String>,
    english: Vec<String>,
}

impl Vocab {
    fn new(rng: &mut ChaCha8Rng) -> Self {
        let mut arabic: Vec<String> = ARABIC_WORDS.iter().map(|s| s.to_string()).collect();
        while arabic.len() < 6000 {
            let len = rng.random_range(3..=7);
            let w: String = (0..len)
                .map(|_| ARABIC_LETTERS[rng.random_range(0..ARABIC_LETTERS.len())])
                .collect();
            arabic.push(w);
        }
        let mut english: Vec<String> = ENGLISH_WORDS.iter().map(|s| s.to_string()).collect();
        const SYL: &[&str] = &[
            "ka", "lo", "mi", "ter", "an", "sel", "vo", "ri", "den", "tra", "po", "ush", "el",
            "gar", "ni", "mon", "ble", "cor", "fi", "zen",
        ];
        while english.len() < 6000 {
            let n = rng.random_range(2..=4);
            let w: String = (0..n)
                .map(|_| SYL[rng.random_range(0..SYL.len())])
                .collect();
            english.push(w);
        }
        Vocab { arabic, english }
    }

    /// A word with a Zipf-like rank distribution: frequent words dominate, the tail is
    /// long enough that unrelated stories share almost no 5-gram.
    fn word<'a>(&'a self, rng: &mut ChaCha8Rng, arabic: bool) -> &'a str {
        let list = if arabic { &self.arabic } else { &self.english };
        let u: f64 = rng.random();
        let idx = ((list.len() as f64).powf(u) - 1.0) as usize;
        &list[idx.min(list.len() - 1)]
    }
}

struct Story {
    arabic: bool,
    /// Paragraphs of sentences of words.
    sentences: Vec<Vec<String>>,
}

impl Story {
    fn new(v: &Vocab, rng: &mut ChaCha8Rng, arabic: bool, range: (usize, usize)) -> Self {
        let n = rng.random_range(range.0..=range.1);
        let sentences = (0..n)
            .map(|_| {
                let len = rng.random_range(8..=22);
                (0..len).map(|_| v.word(rng, arabic).to_string()).collect()
            })
            .collect();
        Story { arabic, sentences }
    }

    fn render(&self, punct: &Punct) -> String {
        let mut out = String::new();
        for (i, s) in self.sentences.iter().enumerate() {
            if i > 0 {
                out.push_str(if i % 3 == 0 { "\n" } else { " " });
            }
            for (j, w) in s.iter().enumerate() {
                if j > 0 {
                    out.push(' ');
                }
                out.push_str(w);
                if j == s.len() / 2 && punct.mid_comma {
                    out.push_str(if self.arabic { "،" } else { "," });
                }
            }
            out.push_str(punct.stop);
        }
        out
    }
}

struct Punct {
    stop: &'static str,
    mid_comma: bool,
}

const PLAIN: Punct = Punct {
    stop: ".",
    mid_comma: false,
};

fn words_mut(s: &mut Story) -> Vec<(usize, usize)> {
    s.sentences
        .iter()
        .enumerate()
        .flat_map(|(i, sent)| (0..sent.len()).map(move |j| (i, j)))
        .collect()
}

fn replace_words(s: &mut Story, v: &Vocab, rng: &mut ChaCha8Rng, share: f64) {
    let slots = words_mut(s);
    let n = ((slots.len() as f64 * share).round() as usize).max(1);
    for _ in 0..n {
        let (i, j) = slots[rng.random_range(0..slots.len())];
        s.sentences[i][j] = v.word(rng, s.arabic).to_string();
    }
}

/// Spelling variants that normalization must fold away.
fn arabic_variants(text: &str, rng: &mut ChaCha8Rng) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        let r: f64 = rng.random();
        match c {
            'ي' if r < 0.3 => out.push('ی'),
            'ك' if r < 0.5 => out.push('ک'),
            'ا' if r < 0.1 => out.push('أ'),
            'ه' if r < 0.1 => out.push('ة'),
            _ => out.push(c),
        }
        if c.is_alphabetic() && !c.is_ascii() {
            let r: f64 = rng.random();
            if r < 0.03 {
                out.push('\u{064E}'); // fatha
            } else if r < 0.04 {
                out.push('\u{0640}'); // tatweel
            }
        }
    }
    out
}

/// Write a corpus of `opts.docs` JSON lines to `corpus` and one truth row per
/// document to `truth`.
pub fn generate(
    opts: &SynthOptions,
    corpus: &mut dyn Write,
    truth: &mut dyn Write,
) -> io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let vocab = Vocab::new(&mut rng);
    let mut written = 0usize;
    let mut family = 0u64;
    while written < opts.docs {
        let arabic = rng.random_bool(opts.arabic_share);
        let story = Story::new(&vocab, &mut rng, arabic, opts.sentences);
        let lang = if arabic { "ar" } else { "en" };
        let mut emit = |text: String, edits: Vec<String>, written: &mut usize| -> io::Result<()> {
            let id = format!("doc-{:07}", *written);
            let line = serde_json::json!({"id": id, "lang": lang, "text": text});
            writeln!(corpus, "{line}")?;
            let row = TruthRow {
                id,
                family,
                edits,
                boilerplate_lines: Vec::new(),
            };
            writeln!(
                truth,
                "{}",
                serde_json::to_string(&row).map_err(io::Error::other)?
            )?;
            *written += 1;
            Ok(())
        };
        emit(story.render(&PLAIN), Vec::new(), &mut written)?;
        // Copies: the expected number per story gives the requested duplicate share.
        // A story gets 2.5 copies on average when it gets any, so a story has copies
        // with probability d / (2.5 (1 - d)) for a duplicate share d.
        let d = opts.dup_share.clamp(0.0, 0.7);
        let copies = if rng.random_bool((d / (2.5 * (1.0 - d))).min(1.0)) {
            rng.random_range(1..=4)
        } else {
            0
        };
        for _ in 0..copies {
            if written >= opts.docs {
                break;
            }
            let mut copy = Story {
                arabic,
                sentences: story.sentences.clone(),
            };
            let mut edits = Vec::new();
            let mut punct = PLAIN;
            let n_edits = rng.random_range(1..=2);
            for _ in 0..n_edits {
                match rng.random_range(0..7) {
                    0 => edits.push("exact".to_string()),
                    1 => {
                        replace_words(&mut copy, &vocab, &mut rng, 0.01);
                        edits.push("light_words".into());
                    }
                    2 => {
                        replace_words(&mut copy, &vocab, &mut rng, 0.02);
                        edits.push("medium_words".into());
                    }
                    3 if copy.sentences.len() > 4 => {
                        let i = rng.random_range(0..copy.sentences.len());
                        copy.sentences.remove(i);
                        edits.push("drop_sentence".into());
                    }
                    4 => {
                        let i = rng.random_range(0..=copy.sentences.len());
                        let len = rng.random_range(8..=18);
                        let s = (0..len)
                            .map(|_| vocab.word(&mut rng, arabic).to_string())
                            .collect();
                        copy.sentences.insert(i, s);
                        edits.push("add_sentence".into());
                    }
                    5 => {
                        punct = Punct {
                            stop: if rng.random_bool(0.5) { "!" } else { "..." },
                            mid_comma: true,
                        };
                        edits.push("punctuation".into());
                    }
                    _ => edits.push("spelling".into()),
                }
            }
            let mut text = copy.render(&punct);
            if arabic && edits.iter().any(|e| e == "spelling") {
                text = arabic_variants(&text, &mut rng);
            }
            emit(text, edits, &mut written)?;
        }
        // Now and then a hard negative: the first half of the story with a new second
        // half. It shares a third of its shingles at most and must not be merged.
        if written < opts.docs && rng.random_bool(0.03) {
            let half = story.sentences.len() / 2;
            let mut partial = Story {
                arabic,
                sentences: story.sentences[..half].to_vec(),
            };
            let fresh = Story::new(&vocab, &mut rng, arabic, (half.max(1), half.max(1)));
            partial.sentences.extend(fresh.sentences);
            emit(partial.render(&PLAIN), vec!["partial".into()], &mut written)?;
        }
        family += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_sized() {
        let run = || {
            let (mut c, mut t) = (Vec::new(), Vec::new());
            generate(
                &SynthOptions {
                    docs: 200,
                    ..Default::default()
                },
                &mut c,
                &mut t,
            )
            .unwrap();
            (c, t)
        };
        let (c1, t1) = run();
        let (c2, t2) = run();
        assert_eq!(c1, c2);
        assert_eq!(t1, t2);
        assert_eq!(c1.iter().filter(|&&b| b == b'\n').count(), 200);
        let rows: Vec<TruthRow> = t1
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        let copies = rows.iter().filter(|r| !r.edits.is_empty()).count();
        assert!(copies > 20, "only {copies} copies");
    }
}

/// Read a JSON Lines file into values (for the scoring examples and tests).
pub fn read_json_lines(path: &std::path::Path) -> io::Result<Vec<serde_json::Value>> {
    let data = std::fs::read_to_string(path)?;
    data.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(io::Error::other))
        .collect()
}

/// Pair precision and recall of a clustering against exact-Jaccard ground truth.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PairScore {
    /// Pairs whose exact Jaccard is at or above the threshold (searched within each
    /// planted family; unrelated stories share no text).
    pub true_pairs: u64,
    /// Duplicate decisions: (member, kept document) pairs.
    pub decisions: u64,
    /// Decisions whose exact Jaccard reaches the threshold.
    pub correct_decisions: u64,
    /// correct_decisions / decisions: how often a dropped document really is a
    /// near-duplicate of the document kept in its place.
    pub precision: f64,
    /// Share of true pairs whose two documents end in one cluster.
    pub recall: f64,
    /// Share of all pairs inside clusters (member with member too) that are true
    /// pairs: stricter than `precision`, since two copies edited differently can both
    /// be similar to the original yet not to each other.
    pub all_pairs_precision: f64,
}

/// Score clusters (kept id, member ids) against a generated corpus: ground truth is
/// every pair within one family whose exact Jaccard similarity, computed with `sketch`
/// (the run's normalizer and shingler), is at least `threshold`.
pub fn score_pairs(
    texts: &std::collections::HashMap<String, String>,
    truth: &[TruthRow],
    clusters: &[(String, Vec<String>)],
    sketch: &crate::sketch::Sketch,
    threshold: f64,
) -> PairScore {
    use std::collections::{HashMap, HashSet};
    let mut buf = crate::sketch::Buffers::default();
    let mut sets: HashMap<&str, Vec<u64>> = HashMap::new();
    for (id, text) in texts {
        sets.insert(id, sketch.shingle_set(text, &mut buf));
    }
    let similar = |a: &str, b: &str| match (sets.get(a), sets.get(b)) {
        (Some(x), Some(y)) => crate::shingle::jaccard(x, y) >= threshold,
        _ => false,
    };
    let key = |a: &str, b: &str| {
        if a < b {
            (a.to_string(), b.to_string())
        } else {
            (b.to_string(), a.to_string())
        }
    };
    let mut families: HashMap<u64, Vec<&str>> = HashMap::new();
    for r in truth {
        families.entry(r.family).or_default().push(&r.id);
    }
    let mut true_pairs: HashSet<(String, String)> = HashSet::new();
    for members in families.values() {
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                if similar(a, b) {
                    true_pairs.insert(key(a, b));
                }
            }
        }
    }
    let (mut decisions, mut correct) = (0u64, 0u64);
    let (mut all_pairs, mut all_correct, mut found) = (0u64, 0u64, 0u64);
    for (keep, members) in clusters {
        for m in members.iter().filter(|m| *m != keep) {
            decisions += 1;
            correct += similar(m, keep) as u64;
        }
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                all_pairs += 1;
                let t = true_pairs.contains(&key(a, b));
                found += t as u64;
                all_correct += (t || similar(a, b)) as u64;
            }
        }
    }
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    PairScore {
        true_pairs: true_pairs.len() as u64,
        decisions,
        correct_decisions: correct,
        precision: ratio(correct, decisions),
        recall: ratio(found, true_pairs.len() as u64),
        all_pairs_precision: ratio(all_correct, all_pairs),
    }
}

/// One outlet's page layout: the boilerplate it wraps every article in.
struct Outlet {
    arabic: bool,
    name: String,
    /// Lines before the body; `{date}` is replaced per article.
    header: Vec<String>,
    /// Lines after the body; `{tags}` and `{date}` are replaced per article.
    footer: Vec<String>,
    /// A line inserted after the second paragraph.
    ad: Option<String>,
    /// Marker line introducing an appended unrelated article.
    read_also: Option<String>,
}

const AR_MONTHS: [&str; 12] = [
    "يناير",
    "فبراير",
    "مارس",
    "أبريل",
    "مايو",
    "يونيو",
    "يوليو",
    "أغسطس",
    "سبتمبر",
    "أكتوبر",
    "نوفمبر",
    "ديسمبر",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn outlets(rng: &mut ChaCha8Rng, v: &Vocab, n: usize) -> Vec<Outlet> {
    (0..n)
        .map(|i| {
            let arabic = i % 3 != 2;
            let name: String = (0..2)
                .map(|_| v.word(rng, arabic))
                .collect::<Vec<_>>()
                .join(" ");
            let (mut header, mut footer) = (Vec::new(), Vec::new());
            if arabic {
                header.push(match i % 4 {
                    0 => "تاريخ النشر: {date}".to_string(),
                    1 => "نشر بتاريخ {date}".to_string(),
                    _ => "آخر تحديث: {date}".to_string(),
                });
                if i % 2 == 0 {
                    header.push("تابع أحدث الأخبار عبر تطبيق".to_string());
                }
                footer.push(format!("المصدر: {name}"));
                footer.push("كلمات دلالية: {tags}".to_string());
                if i % 3 == 0 {
                    footer.push(format!("جميع الحقوق محفوظة لموقع {name} © 2024"));
                }
            } else {
                header.push(if i % 2 == 0 {
                    "Published: {date}".to_string()
                } else {
                    "Updated {date} GMT".to_string()
                });
                footer.push("Follow us on WhatsApp for the latest news".to_string());
                footer.push(format!("Source: {name}"));
                footer.push("Tags: {tags}".to_string());
            }
            let ad = (i % 2 == 1).then(|| {
                if arabic {
                    "إعلان"
                } else {
                    "Advertisement"
                }
                .to_string()
            });
            let read_also = (i % 3 != 1).then(|| {
                if arabic {
                    "إقرأ أيضاً:"
                } else {
                    "Read also:"
                }
                .to_string()
            });
            Outlet {
                arabic,
                name,
                header,
                footer,
                ad,
                read_also,
            }
        })
        .collect()
}

fn date(rng: &mut ChaCha8Rng, arabic: bool) -> String {
    let d = rng.random_range(1..=28);
    let m = rng.random_range(0..12);
    let y = rng.random_range(2019..=2025);
    if arabic {
        if rng.random_bool(0.5) {
            format!("{d}th, {} {y} GMT", EN_MONTHS[m])
        } else {
            format!("{d} {} {y}", AR_MONTHS[m])
        }
    } else {
        format!(
            "{} {d}, {y} {:02}:{:02}",
            EN_MONTHS[m],
            rng.random_range(0..24),
            rng.random_range(0..60)
        )
    }
}

/// Edit a syndicated copy of a story as an outlet would: a word changed in about
/// half the sentences, truncated to 60%, a sentence dropped, or left as it is.
/// Returns the edit's name for the truth file.
fn edit_copy(body: &mut Story, vocab: &Vocab, rng: &mut ChaCha8Rng) -> Vec<String> {
    let edit = match rng.random_range(0..4) {
        0 => {
            for s in body.sentences.iter_mut() {
                if rng.random_bool(0.5) {
                    let j = rng.random_range(0..s.len());
                    s[j] = vocab.word(rng, body.arabic).to_string();
                }
            }
            "words_per_sentence"
        }
        1 => {
            let keep = (body.sentences.len() * 3).div_ceil(5);
            body.sentences.truncate(keep.max(3));
            "truncated"
        }
        2 => {
            let i = rng.random_range(0..body.sentences.len());
            body.sentences.remove(i);
            "drop_sentence"
        }
        _ => "outlet_only",
    };
    vec![edit.to_string()]
}

/// For every non-blank line of an annotated record's text (split on `\n`), its index
/// and whether `dupstrip.boilerplate` removed it (the range holds its first byte).
pub fn stripped_lines(rec: &serde_json::Value) -> Vec<(usize, bool)> {
    let text = rec["text"].as_str().unwrap_or("");
    let ranges: Vec<(usize, usize)> = rec["dupstrip"]["boilerplate"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| Some((r[0].as_u64()? as usize, r[1].as_u64()? as usize)))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut pos = 0;
    for (i, line) in text.split('\n').enumerate() {
        let start = pos;
        pos += line.len() + 1;
        if !line.trim().is_empty() {
            out.push((i, ranges.iter().any(|&(a, b)| start >= a && start < b)));
        }
    }
    out
}

/// Paragraphs of a story body: sentences grouped three by three.
fn paragraphs(story: &Story) -> Vec<String> {
    let stop = ".";
    story
        .sentences
        .chunks(3)
        .map(|ch| {
            ch.iter()
                .map(|s| format!("{}{stop}", s.join(" ")))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// Write a news corpus in which every article is wrapped in its outlet's boilerplate:
/// date and app-follow lines, ads, source, tag and copyright lines, and for some
/// outlets a "Read also:" marker followed by a whole unrelated article. A share of
/// stories is republished by 3–5 outlets; each copy may change a word in some
/// sentences, be truncated, or carry its outlet's appended article. The truth marks
/// every boilerplate line and the family of every story.
pub fn generate_news(
    opts: &SynthOptions,
    corpus: &mut dyn Write,
    truth: &mut dyn Write,
) -> io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0xb0b0);
    let vocab = Vocab::new(&mut rng);
    let outlets = outlets(&mut rng, &vocab, 12);
    // Articles appended after "Read also:" come from a pool, as sites append their own
    // recent articles: the same appended article recurs in several pages.
    let pool: Vec<(bool, Vec<String>)> = (0..40)
        .map(|i| {
            let arabic = i % 3 != 2;
            let s = Story::new(&vocab, &mut rng, arabic, (4, 9));
            let mut lines = vec![
                (0..6)
                    .map(|_| vocab.word(&mut rng, arabic))
                    .collect::<Vec<_>>()
                    .join(" "),
            ];
            lines.extend(paragraphs(&s));
            (arabic, lines)
        })
        .collect();
    let mut written = 0usize;
    let mut family = 0u64;
    while written < opts.docs {
        let arabic = rng.random_bool(opts.arabic_share);
        let story = Story::new(&vocab, &mut rng, arabic, (9, 24));
        let title: String = (0..8)
            .map(|_| vocab.word(&mut rng, arabic))
            .collect::<Vec<_>>()
            .join(" ");
        let tags: Vec<String> = (0..6)
            .map(|_| vocab.word(&mut rng, arabic).to_string())
            .collect();
        let quote = rng.random_bool(0.4).then(|| {
            let n = rng.random_range(6..=14);
            let said: String = (0..n)
                .map(|_| vocab.word(&mut rng, arabic))
                .collect::<Vec<_>>()
                .join(" ");
            if arabic {
                format!("وأضاف: «{said}»")
            } else {
                format!("He added: \"{said}\"")
            }
        });
        let same_script: Vec<usize> = (0..outlets.len())
            .filter(|&i| outlets[i].arabic == arabic)
            .collect();
        let d = opts.dup_share.clamp(0.0, 0.8);
        // Syndicated stories get 3–5 copies (4 on average).
        let copies = if rng.random_bool((d / (4.0 * (1.0 - d))).min(1.0)) {
            rng.random_range(3..=5)
        } else {
            1
        };
        let mut chosen: Vec<usize> = Vec::new();
        for c in 0..copies {
            if written >= opts.docs {
                break;
            }
            // Each copy from a different outlet of the story's script.
            let mut o = same_script[rng.random_range(0..same_script.len())];
            for _ in 0..8 {
                if !chosen.contains(&o) {
                    break;
                }
                o = same_script[rng.random_range(0..same_script.len())];
            }
            chosen.push(o);
            let outlet = &outlets[o];
            let mut body = Story {
                arabic,
                sentences: story.sentences.clone(),
            };
            let edits = if c > 0 {
                edit_copy(&mut body, &vocab, &mut rng)
            } else {
                Vec::new()
            };
            let mut lines: Vec<String> = Vec::new();
            let mut bp: Vec<usize> = Vec::new();
            lines.push(title.clone());
            let dt = date(&mut rng, arabic);
            for h in &outlet.header {
                bp.push(lines.len());
                lines.push(h.replace("{date}", &dt));
            }
            let paras = paragraphs(&body);
            for (i, p) in paras.iter().enumerate() {
                if i == 2
                    && let Some(ad) = &outlet.ad
                {
                    bp.push(lines.len());
                    lines.push(ad.clone());
                }
                // A quoted statement in the article body: it starts with a label and a
                // colon like an outlet field, but it is content.
                if i == paras.len() / 2
                    && let Some(q) = &quote
                {
                    lines.push(q.clone());
                }
                lines.push(p.clone());
            }
            let mut t = tags.clone();
            let r = rng.random_range(0..t.len());
            t.rotate_left(r);
            t.truncate(rng.random_range(3..=6));
            for f in &outlet.footer {
                bp.push(lines.len());
                let sep = if arabic { " " } else { ", " };
                lines.push(f.replace("{tags}", &t.join(sep)));
            }
            if let Some(marker) = &outlet.read_also {
                let candidates: Vec<&(bool, Vec<String>)> =
                    pool.iter().filter(|a| a.0 == arabic).collect();
                let (_, article) = candidates[rng.random_range(0..candidates.len())];
                bp.push(lines.len());
                lines.push(marker.clone());
                for l in article {
                    bp.push(lines.len());
                    lines.push(l.clone());
                }
            }
            let id = format!("news-{written:07}");
            let rec = serde_json::json!({
                "id": id, "lang": if arabic { "ar" } else { "en" }, "outlet": outlet.name,
                "text": lines.join("\n"),
            });
            writeln!(corpus, "{rec}")?;
            let row = TruthRow {
                id,
                family,
                edits,
                boilerplate_lines: bp,
            };
            writeln!(
                truth,
                "{}",
                serde_json::to_string(&row).map_err(io::Error::other)?
            )?;
            written += 1;
        }
        family += 1;
    }
    Ok(())
}

/// How well `clean` did on a `--boilerplate` corpus.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CleanScore {
    pub boilerplate_line_precision: f64,
    pub boilerplate_line_recall: f64,
    pub boilerplate_lines_true: u64,
    /// Lines of syndicated stories (families of two or more) stripped although they
    /// are not boilerplate.
    pub syndicated_body_lines_stripped: u64,
    pub pair_precision: f64,
    pub pair_recall: f64,
    pub pair_f1: f64,
    pub true_pairs: u64,
    pub predicted_pairs: u64,
}

/// Score `clean --mode annotate` records against the truth of [`generate_news`]:
/// boilerplate lines against `dupstrip.boilerplate` ranges, and pairs of one family
/// against pairs of one `dupstrip.cluster`.
pub fn score_clean(truth: &[TruthRow], annotated: &[serde_json::Value]) -> CleanScore {
    use std::collections::{HashMap, HashSet};
    let truth: HashMap<String, &TruthRow> = truth.iter().map(|r| (r.id.clone(), r)).collect();
    let family_size: HashMap<u64, usize> = truth.values().fold(HashMap::new(), |mut m, r| {
        *m.entry(r.family).or_default() += 1;
        m
    });
    let (mut tp, mut fp, mut fn_, mut body_stripped) = (0u64, 0u64, 0u64, 0u64);
    let mut cluster_of: HashMap<String, i64> = HashMap::new();
    for rec in annotated {
        let id = rec["id"].as_str().expect("id").to_string();
        let Some(t) = truth.get(&id) else { continue };
        let truth_lines: HashSet<usize> = t.boilerplate_lines.iter().copied().collect();
        for (i, stripped) in stripped_lines(rec) {
            match (stripped, truth_lines.contains(&i)) {
                (true, true) => tp += 1,
                (true, false) => {
                    fp += 1;
                    if family_size[&t.family] > 1 {
                        body_stripped += 1;
                    }
                }
                (false, true) => fn_ += 1,
                _ => {}
            }
        }
        let c = rec["dupstrip"]["cluster"].as_i64().unwrap_or(-1);
        cluster_of.insert(id, c);
    }
    // Pairs: same family (truth) vs same cluster (prediction).
    let ids: Vec<&String> = cluster_of.keys().collect();
    let mut by_family: HashMap<u64, Vec<&String>> = HashMap::new();
    for id in &ids {
        by_family
            .entry(truth[id.as_str()].family)
            .or_default()
            .push(id);
    }
    let mut by_cluster: HashMap<u64, Vec<&String>> = HashMap::new();
    for (id, &c) in &cluster_of {
        if c >= 0 {
            by_cluster.entry(c as u64).or_default().push(id);
        }
    }
    let pairs = |groups: &HashMap<_, Vec<&String>>| -> HashSet<(String, String)> {
        let mut out = HashSet::new();
        for g in groups.values() {
            for (i, a) in g.iter().enumerate() {
                for b in &g[i + 1..] {
                    let (x, y) = if a < b { (a, b) } else { (b, a) };
                    out.insert((x.to_string(), y.to_string()));
                }
            }
        }
        out
    };
    let true_pairs = pairs(&by_family);
    let pred_pairs = pairs(&by_cluster);
    let correct = pred_pairs.intersection(&true_pairs).count() as f64;
    let p = if pred_pairs.is_empty() {
        1.0
    } else {
        correct / pred_pairs.len() as f64
    };
    let r = if true_pairs.is_empty() {
        1.0
    } else {
        correct / true_pairs.len() as f64
    };
    let f1 = if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    };
    CleanScore {
        boilerplate_line_precision: tp as f64 / (tp + fp).max(1) as f64,
        boilerplate_line_recall: tp as f64 / (tp + fn_).max(1) as f64,
        boilerplate_lines_true: tp + fn_,
        syndicated_body_lines_stripped: body_stripped,
        pair_precision: p,
        pair_recall: r,
        pair_f1: f1,
        true_pairs: true_pairs.len() as u64,
        predicted_pairs: pred_pairs.len() as u64,
    }
}
