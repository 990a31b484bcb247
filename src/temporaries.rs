//! Temporaries: which files must go when a run is interrupted?
//!
//! Outputs are written to a temporary file beside their final name, and some inputs
//! (Parquet, standard input) are spooled to one; `main` removes every one still
//! present on Ctrl-C.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Temporary files created by this process (outputs being written, spooled input),
/// and whether the run was interrupted. A path that was already renamed into place or
/// deleted is simply gone when they are removed.
struct Registry {
    paths: Vec<PathBuf>,
    interrupted: bool,
}

impl Registry {
    const fn new() -> Self {
        Registry {
            paths: Vec::new(),
            interrupted: false,
        }
    }
}

static TEMPORARIES: Mutex<Registry> = Mutex::new(Registry::new());

fn lock(registry: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
    registry.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Create a temporary file and remember it, in one step under the registry's lock:
/// an interrupt comes either before (nothing is created: an `Interrupted` error) or
/// after (the file is removed), never between creating and remembering.
pub fn create_temporary<T: AsRef<Path>>(create: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    create_in(&TEMPORARIES, create)
}

/// Put a finished temporary in place (`settle`: a rename) and forget it, in one step
/// under the registry's lock: after an interrupt, it waits for the exit rather than
/// fail on a file the interrupt removed.
pub fn settle_temporary<T>(path: &Path, settle: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    settle_in(&TEMPORARIES, path, settle)
}

/// Remove every temporary file still present (called on Ctrl-C). None is created
/// after; a thread about to create one waits as long as the returned guard is held,
/// so that the process can exit before it sees an error.
pub fn remove_temporaries() -> Interrupted {
    Interrupted(remove_in(&TEMPORARIES))
}

/// Held after [`remove_temporaries`], until the process exits.
pub struct Interrupted(#[allow(dead_code)] MutexGuard<'static, Registry>);

fn create_in<T: AsRef<Path>>(
    registry: &Mutex<Registry>,
    create: impl FnOnce() -> io::Result<T>,
) -> io::Result<T> {
    let mut registry = lock(registry);
    if registry.interrupted {
        return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
    }
    let made = create()?;
    registry.paths.push(made.as_ref().to_path_buf());
    Ok(made)
}

fn settle_in<T>(
    registry: &Mutex<Registry>,
    path: &Path,
    settle: impl FnOnce() -> io::Result<T>,
) -> io::Result<T> {
    let mut registry = lock(registry);
    let done = settle()?;
    registry.paths.retain(|p| p != path);
    Ok(done)
}

fn remove_in(registry: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
    let mut registry = lock(registry);
    registry.interrupted = true;
    for p in &registry.paths {
        let _ = std::fs::remove_file(p);
    }
    registry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_files_are_removed_and_none_is_created_after() {
        // A registry of its own: the process's one would stop the other tests.
        let registry = Mutex::new(Registry::new());
        let dir = tempfile::tempdir().unwrap();
        let create = || tempfile::NamedTempFile::new_in(dir.path());
        let (_file, path) = create_in(&registry, create).unwrap().into_parts();
        assert!(path.exists());
        // One settled (renamed into place) is forgotten, and stays.
        let (_, settled) = create_in(&registry, create).unwrap().into_parts();
        let kept = dir.path().join("kept");
        let settled_path = settled.to_path_buf();
        settle_in(&registry, &settled_path, || {
            settled.persist(&kept).map_err(|e| e.error)
        })
        .unwrap();
        assert_eq!(lock(&registry).paths, [path.to_path_buf()]);
        drop(remove_in(&registry));
        assert!(!path.exists());
        let err = create_in(&registry, create).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(kept.exists());
    }
}
