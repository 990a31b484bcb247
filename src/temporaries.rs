//! Temporaries: which files must go when a run is interrupted?
//!
//! Outputs are written to a temporary file beside their final name, and some inputs
//! (Parquet, standard input) are spooled to one; `main` removes every one still
//! present on Ctrl-C.

use std::path::{Path, PathBuf};

/// Temporary files created by this process (outputs being written, spooled input).
/// They are removed by [`remove_temporaries`] when the run is interrupted; a path that
/// was already renamed into place or deleted is simply gone.
static TEMPORARIES: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Remember a temporary file so an interrupt can remove it.
pub fn register_temporary(path: &Path) {
    if let Ok(mut t) = TEMPORARIES.lock() {
        t.push(path.to_path_buf());
    }
}

/// Remove every temporary file still present (called on Ctrl-C).
pub fn remove_temporaries() {
    if let Ok(t) = TEMPORARIES.lock() {
        for p in t.iter() {
            let _ = std::fs::remove_file(p);
        }
    }
}
