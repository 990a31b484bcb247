//! Timings: how long did each stage take?

use std::time::Duration;

/// Seconds spent in each stage.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Timings {
    /// Learning boilerplate rules (`clean` without --rules): story grouping, line
    /// counts, examples.
    pub learn: f64,
    /// Reading, normalizing, shingling and sketching every document.
    pub sketch: f64,
    /// Banding, bucket grouping and candidate confirmation.
    pub candidates: f64,
    /// Components and assignment of duplicates to kept documents (with exact
    /// verification: re-reading the shingle sets).
    pub cluster: f64,
    /// Writing output, clusters and rejects.
    pub write: f64,
    /// The HTML report (`--html`): reading the documents it shows, and writing it.
    pub html: f64,
    pub total: f64,
}

pub fn secs(d: Duration) -> f64 {
    round_ms(d.as_secs_f64())
}

/// Seconds rounded to milliseconds.
pub fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}
