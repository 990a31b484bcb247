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
mod news;
mod score;
mod words;

pub use news::generate_news;
pub use score::{CleanScore, PairScore, read_json_lines, score_clean, score_pairs, stripped_lines};
use words::Vocab;

use std::io::{self, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

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
