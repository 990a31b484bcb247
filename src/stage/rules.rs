//! Boilerplate stages: `learn` (which counted keys are rules), `examples` and `rules`
//! (the rules file, with its examples).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::boilerplate::{self, Learned, LearnedFrom};

use super::*;

#[derive(Deserialize)]
pub(super) struct CountIn<'a> {
    kind: u8,
    #[serde(borrow)]
    hash: Cow<'a, str>,
    stories: u64,
}

#[derive(Serialize, Deserialize)]
pub(super) struct KeyLine {
    kind: u8,
    hash: String,
    stories: u64,
    /// What the corpus showed about the rule (the rules file carries it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    evidence: Option<boilerplate::Evidence>,
}

/// What `stage learn` writes: the keys that are rules, and the corpus they came from.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnedFile {
    schema_version: u32,
    documents: u64,
    stories: u64,
    required_stories: u64,
    keys: Vec<KeyLine>,
}

impl LearnedFile {
    pub(super) fn load(path: &Path, sc: &StageConfig) -> Result<Learned, StageError> {
        let file_err = |message: String| StageError::File {
            path: path.display().to_string(),
            message,
        };
        let data = std::fs::read(path).map_err(|e| file_err(format!("cannot read: {e}")))?;
        let f: LearnedFile = serde_json::from_slice(&data)
            .map_err(|e| file_err(format!("not a `stage learn` output: {e}")))?;
        if f.schema_version != SCHEMA_VERSION {
            return Err(file_err(format!(
                "schema version {}; this dupstrip reads version {SCHEMA_VERSION}",
                f.schema_version
            )));
        }
        let keys = f
            .keys
            .iter()
            .map(|k| Ok(((k.kind, of_hex64(&k.hash)?), k.stories, k.evidence.clone())))
            .collect::<Result<Vec<_>, String>>()
            .map_err(file_err)?;
        Ok(Learned::restore(
            sc.normalize,
            keys,
            LearnedFrom {
                documents: f.documents,
                stories: f.stories,
                required_stories: f.required_stories,
            },
        ))
    }
}

/// `stage learn`: from the story count of every line key (`{"kind", "hash",
/// "stories"}`; keys under their floor, `boilerplate::floor`, may be left out: the
/// required count, or two stories for `boilerplate::TAIL_KINDS`) and the corpus
/// totals, the keys that are rules.
pub fn learn(
    sc: &StageConfig,
    documents: u64,
    stories: u64,
    input: impl BufRead,
    name: &str,
    out: &mut impl Write,
) -> Result<(), StageError> {
    let required = sc.learn.required(stories);
    let mut counts: HashMap<(u8, u64), u64> = HashMap::new();
    for_each_line(input, name, |line| {
        let c: CountIn<'_> = parse_line(line, "count ({\"kind\", \"hash\", \"stories\"})")?;
        if c.stories >= boilerplate::floor(c.kind, required) {
            let key = (c.kind, of_hex64(&c.hash)?);
            if counts.insert(key, c.stories).is_some() {
                return Err(format!("key {} {} counted twice", c.kind, c.hash).into());
            }
        }
        Ok(())
    })?;
    let learned = Learned::from_story_counts(sc.normalize, counts, &sc.learn, documents, stories);
    let from = learned.learned_from();
    let file = LearnedFile {
        schema_version: SCHEMA_VERSION,
        documents: from.documents,
        stories: from.stories,
        required_stories: from.required_stories,
        keys: learned
            .keys()
            .into_iter()
            .map(|((kind, h), stories, evidence)| KeyLine {
                kind,
                hash: hex64(h),
                stories,
                evidence,
            })
            .collect(),
    };
    write_json(out, &file)
}

#[derive(Serialize, Deserialize)]
pub(super) struct ExampleLine<'a> {
    kind: u8,
    #[serde(borrow)]
    hash: Cow<'a, str>,
    row: u64,
    /// Place among the examples found in the record.
    pos: u32,
    #[serde(borrow)]
    line: Cow<'a, str>,
}

/// `stage examples`: every line of every record that matches a learned key.
pub fn examples(
    sc: &StageConfig,
    learned: &Path,
    input: impl BufRead,
    name: &str,
    out: &mut impl Write,
) -> Result<(), StageError> {
    let cfg = sc.dedup_config()?;
    let learned = LearnedFile::load(learned, sc)?;
    for_each_line(input, name, |line| {
        let env = Envelope::parse(line)?;
        let bytes = env.bytes()?;
        let doc = env.doc(&bytes, &cfg.read)?;
        for (pos, ((kind, h), text)) in learned.find_examples(&doc.text).into_iter().enumerate() {
            let ex = ExampleLine {
                kind,
                hash: Cow::Owned(hex64(h)),
                row: env.row,
                pos: pos as u32,
                line: Cow::Owned(text),
            };
            write_json(out, &ex)?;
        }
        Ok(())
    })
}

/// `stage rules`: the rules file, from the learned keys and their examples (any
/// order; the first ones in row order are kept, as `clean` keeps them), and whether
/// the examples given are all the rules need ([`RulesStatus`]).
pub fn rules(
    sc: &StageConfig,
    learned: &Path,
    input: impl BufRead,
    name: &str,
    out: &mut impl Write,
) -> Result<RulesStatus, StageError> {
    let mut learned = LearnedFile::load(learned, sc)?;
    let mut found: Vec<(u64, u32, (u8, u64), String)> = Vec::new();
    for_each_line(input, name, |line| {
        let e: ExampleLine<'_> = parse_line(line, "example")?;
        found.push((
            e.row,
            e.pos,
            (e.kind, of_hex64(&e.hash)?),
            e.line.into_owned(),
        ));
        Ok(())
    })?;
    found.sort_unstable();
    found.dedup();
    learned.add_examples(found.into_iter().map(|(_, _, k, l)| (k, l)));
    let (first_examples, all_examples, without_first_example) = (
        learned.has_first_examples(),
        learned.has_all_examples(),
        learned.without_first_example() as u64,
    );
    let rules = learned.into_rules();
    let status = RulesStatus {
        first_examples,
        all_examples,
        without_first_example,
        stripping: stripping_hash(&rules),
    };
    out.write_all(rules.to_json().as_bytes())
        .and_then(|_| out.write_all(b"\n"))
        .map_err(StageError::Write)?;
    Ok(status)
}

/// What `stage rules` knows of its examples. They come from the first records in row
/// order: with every first example, the rules strip as they will with all of them;
/// with all examples, no later record changes the rules file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RulesStatus {
    /// Every rule has its first example.
    pub first_examples: bool,
    /// Every rule has every example it keeps: one for line and marker rules, three
    /// distinct ones for templates.
    pub all_examples: bool,
    /// Learned keys without any example (none is a rule yet).
    pub without_first_example: u64,
    /// A hash of what the rules strip by ([`stripping_hash`]): two rules files with
    /// the same one strip alike, whatever their further examples.
    pub stripping: String,
}

/// A hash (16 hex digits) of what decides what a rules file strips: its
/// normalization, its line and marker rules' lines, its templates' kinds and
/// patterns, in order, and whether each rule has evidence (a rule without, written
/// by hand, is not held to the cap on a page's share). Counts, the evidence itself
/// and examples are left out: a template's first example only decides whether it is
/// kept, which its presence already tells.
pub fn stripping_hash(rules: &boilerplate::Rules) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let normalize = serde_json::to_string(&rules.normalize).unwrap_or_default();
    let mut item = |tag: &[u8], text: &str, learned: bool| {
        h.update(tag);
        h.update(&[learned as u8]);
        h.update(text.as_bytes());
        h.update(&[0]);
    };
    item(b"n", &normalize, true);
    for l in &rules.lines {
        item(b"l", &l.line, l.evidence.is_some());
    }
    for m in &rules.markers {
        item(b"m", &m.line, m.evidence.is_some());
    }
    for t in &rules.templates {
        item(
            format!("t{:?}", t.kind).as_bytes(),
            &t.pattern,
            t.evidence.is_some(),
        );
    }
    hex64(h.digest())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boilerplate::{LineRule, Rules, TemplateKind, TemplateRule};

    fn template(pattern: &str, examples: &[&str]) -> TemplateRule {
        TemplateRule {
            kind: TemplateKind::Label,
            pattern: pattern.into(),
            stories: 9,
            examples: examples.iter().map(|e| e.to_string()).collect(),
            evidence: None,
        }
    }

    /// Further examples and counts change the file, not what it strips; a rule more
    /// or another pattern does.
    #[test]
    fn stripping_hash_follows_what_is_stripped() {
        let mut a = Rules::empty();
        a.templates.push(template("Source", &["Source: A"]));
        let mut b = a.clone();
        b.templates[0].examples.push("Source: B".into());
        b.templates[0].stories = 12;
        assert_eq!(stripping_hash(&a), stripping_hash(&b));
        let mut c = a.clone();
        c.lines.push(LineRule {
            line: "Advertisement".into(),
            stories: 5,
            examples: Vec::new(),
            evidence: None,
        });
        assert_ne!(stripping_hash(&a), stripping_hash(&c));
        let mut d = a.clone();
        d.templates[0].pattern = "Tags".into();
        assert_ne!(stripping_hash(&a), stripping_hash(&d));
        let mut e = a.clone();
        e.templates[0].evidence = Some(Default::default());
        assert_ne!(stripping_hash(&a), stripping_hash(&e), "by hand or learned");
        assert_eq!(stripping_hash(&a).len(), 16);
    }
}
