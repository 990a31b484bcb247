//! Rules: what a rules file holds (lines, templates, markers, each with its evidence),
//! and how it is read, checked and written.

use super::*;
use crate::normalize::NormalizeOptions;

/// A line removed wherever it occurs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LineRule {
    /// The line as it appeared (matching is on its normalized form).
    pub line: String,
    /// Distinct stories it was seen in when learned.
    #[serde(default)]
    pub stories: u64,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

/// What a template matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateKind {
    /// `LABEL: value`, any value.
    Label,
    /// The line with every date, time or number word replaced by `#` ([`words`]).
    Masked,
    /// A line listing headlines with two or more relative times ("… 1 hour ago …
    /// 2 hours ago", «… منذ ساعة … منذ ساعتين»); `pattern` is not used.
    Related,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TemplateRule {
    pub kind: TemplateKind,
    /// For `label`: the text before the colon. For `masked`: the normalized line with
    /// `#` for every run of date, time and number words.
    #[serde(default)]
    pub pattern: String,
    #[serde(default)]
    pub stories: u64,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

/// A line that introduces appended content: it and everything after it go.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MarkerRule {
    pub line: String,
    #[serde(default)]
    pub stories: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

/// What the corpus showed about a learned rule, so a person can judge it. Shares are
/// of the stories the rule's key was seen in.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Evidence {
    /// Distinct stories the key was seen in.
    pub stories: u64,
    /// Lines: share of stories in which it stood alone in the page's own text (a
    /// paragraph of its own, not the first line, not in an appended article).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standalone: Option<f64>,
    /// Share of stories in which it was among the first 4 or last 6 lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_page_edge: Option<f64>,
    /// Labels: share of uses whose value is a field (not a sentence or quote, the
    /// label once on its page, not in a wrapped paragraph).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_values: Option<f64>,
    /// Markers: share of the stories holding the line in which it sat where a marker
    /// can cut (after 30 words, short, no sentence or field, two lines or more after).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub followed: Option<f64>,
    /// Markers: share of stories in which a headline and paragraphs followed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article_tails: Option<f64>,
    /// Markers: distinct whole tails (from the line after it to the page's end) that
    /// followed it in two or more unrelated stories, and the stories they were seen in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurring_tails: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurring_tail_stories: Option<u64>,
    /// Markers: share of its stories in which the most frequent next line followed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_tail: Option<f64>,
    /// Markers: why the tail is taken as foreign (`recurring tails`, `article tails`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
}

/// Figures of the corpus a rules file was learned from.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LearnedFrom {
    pub documents: u64,
    pub stories: u64,
    pub required_stories: u64,
}

/// A rules file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rules {
    pub format: String,
    pub version: u32,
    /// How lines are normalized before they are compared.
    #[serde(default)]
    pub normalize: NormalizeOptions,
    #[serde(default)]
    pub learned_from: Option<LearnedFrom>,
    #[serde(default)]
    pub lines: Vec<LineRule>,
    #[serde(default)]
    pub templates: Vec<TemplateRule>,
    #[serde(default)]
    pub markers: Vec<MarkerRule>,
}

/// Why a rules file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{path}: not a rules file: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: \"format\" is {found:?}, not \"{RULES_FORMAT}\"")]
    Format { path: String, found: String },
    #[error(
        "{path}: rules file version {found}, this dupstrip reads version {RULES_VERSION}\nhint: relearn it with `dupstrip boilerplate learn`, or use the dupstrip that wrote it"
    )]
    Version { path: String, found: u32 },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Rules {
    pub fn empty() -> Rules {
        Rules {
            format: RULES_FORMAT.into(),
            version: RULES_VERSION,
            normalize: NormalizeOptions::default(),
            learned_from: None,
            lines: Vec::new(),
            templates: Vec::new(),
            markers: Vec::new(),
        }
    }

    /// Read and check a rules file.
    pub fn load(path: &std::path::Path) -> Result<Rules, RulesError> {
        let name = path.display().to_string();
        let data = std::fs::read(path).map_err(|source| RulesError::Io {
            path: name.clone(),
            source,
        })?;
        Rules::parse(&data, &name)
    }

    pub fn parse(data: &[u8], name: &str) -> Result<Rules, RulesError> {
        // The format and version are checked before the rest, so a future layout is
        // refused with the right message rather than a field error.
        #[derive(serde::Deserialize)]
        struct Head {
            format: Option<String>,
            version: Option<u32>,
        }
        let head: Head = serde_json::from_slice(data).map_err(|source| RulesError::Json {
            path: name.into(),
            source,
        })?;
        let format = head.format.unwrap_or_default();
        if format != RULES_FORMAT {
            return Err(RulesError::Format {
                path: name.into(),
                found: format,
            });
        }
        let version = head.version.unwrap_or(0);
        if version != RULES_VERSION {
            return Err(RulesError::Version {
                path: name.into(),
                found: version,
            });
        }
        serde_json::from_slice(data).map_err(|source| RulesError::Json {
            path: name.into(),
            source,
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
