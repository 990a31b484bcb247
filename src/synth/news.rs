//! News: pages of made-up outlets with fixed layouts around syndicated stories (`synth
//! --boilerplate`).

use std::io::{self, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::words::Vocab;
use super::*;

/// One outlet's page layout: the boilerplate it wraps every article in.
pub(super) struct Outlet {
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

pub(super) const AR_MONTHS: [&str; 12] = [
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
pub(super) const EN_MONTHS: [&str; 12] = [
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

pub(super) fn outlets(rng: &mut ChaCha8Rng, v: &Vocab, n: usize) -> Vec<Outlet> {
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

pub(super) fn date(rng: &mut ChaCha8Rng, arabic: bool) -> String {
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

/// How many outlets carry a story: 3–5 (4 on average) for a syndicated one, drawn
/// so that about `dup_share` of the pages are copies; else 1.
pub(super) fn syndicated_copies(rng: &mut ChaCha8Rng, dup_share: f64) -> usize {
    let d = dup_share.clamp(0.0, 0.8);
    if rng.random_bool((d / (4.0 * (1.0 - d))).min(1.0)) {
        rng.random_range(3..=5)
    } else {
        1
    }
}

/// The outlet of a story's next copy: one of `outlets` (those of the story's script),
/// not one in `chosen` when eight draws find such; added to `chosen`.
pub(super) fn next_outlet(
    rng: &mut ChaCha8Rng,
    outlets: &[usize],
    chosen: &mut Vec<usize>,
) -> usize {
    let mut o = outlets[rng.random_range(0..outlets.len())];
    for _ in 0..8 {
        if !chosen.contains(&o) {
            break;
        }
        o = outlets[rng.random_range(0..outlets.len())];
    }
    chosen.push(o);
    o
}

/// Copy `c` of `story` and its edits: the story as it is first, then edited copies.
pub(super) fn story_copy(
    story: &Story,
    c: usize,
    vocab: &Vocab,
    rng: &mut ChaCha8Rng,
) -> (Story, Vec<String>) {
    let mut body = Story {
        arabic: story.arabic,
        sentences: story.sentences.clone(),
    };
    let edits = if c > 0 {
        edit_copy(&mut body, vocab, rng)
    } else {
        Vec::new()
    };
    (body, edits)
}

/// Edit a syndicated copy of a story as an outlet would: a word changed in about
/// half the sentences, truncated to 60%, a sentence dropped, or left as it is.
/// Returns the edit's name for the truth file.
pub(super) fn edit_copy(body: &mut Story, vocab: &Vocab, rng: &mut ChaCha8Rng) -> Vec<String> {
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

/// Paragraphs of a story body: sentences grouped three by three.
pub(super) fn paragraphs(story: &Story) -> Vec<String> {
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

/// The lines of one outlet's page for a story copy `body`, and which of them are
/// boilerplate: title, the outlet's header (with a date), paragraphs with the
/// outlet's ad and the story's quote, the footer (with some of the tags), and for
/// some outlets a marker and an appended article from `pool`.
pub(super) fn news_page(
    outlet: &Outlet,
    title: &str,
    body: &Story,
    quote: Option<&str>,
    tags: &[String],
    pool: &[(bool, Vec<String>)],
    rng: &mut ChaCha8Rng,
) -> (Vec<String>, Vec<usize>) {
    let arabic = body.arabic;
    let mut lines: Vec<String> = Vec::new();
    let mut bp: Vec<usize> = Vec::new();
    lines.push(title.to_string());
    let dt = date(rng, arabic);
    for h in &outlet.header {
        bp.push(lines.len());
        lines.push(h.replace("{date}", &dt));
    }
    let paras = paragraphs(body);
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
            && let Some(q) = quote
        {
            lines.push(q.to_string());
        }
        lines.push(p.clone());
    }
    let mut t = tags.to_vec();
    let r = rng.random_range(0..t.len());
    t.rotate_left(r);
    t.truncate(rng.random_range(3..=6));
    for f in &outlet.footer {
        bp.push(lines.len());
        let sep = if arabic { " " } else { ", " };
        lines.push(f.replace("{tags}", &t.join(sep)));
    }
    if let Some(marker) = &outlet.read_also {
        let candidates: Vec<&(bool, Vec<String>)> = pool.iter().filter(|a| a.0 == arabic).collect();
        let (_, article) = candidates[rng.random_range(0..candidates.len())];
        bp.push(lines.len());
        lines.push(marker.clone());
        for l in article {
            bp.push(lines.len());
            lines.push(l.clone());
        }
    }
    (lines, bp)
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
        let copies = syndicated_copies(&mut rng, opts.dup_share);
        let mut chosen: Vec<usize> = Vec::new();
        for c in 0..copies {
            if written >= opts.docs {
                break;
            }
            let o = next_outlet(&mut rng, &same_script, &mut chosen);
            let outlet = &outlets[o];
            let (body, edits) = story_copy(&story, c, &vocab, &mut rng);
            let (lines, bp) = news_page(
                outlet,
                &title,
                &body,
                quote.as_deref(),
                &tags,
                &pool,
                &mut rng,
            );
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
